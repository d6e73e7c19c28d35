"""Damage scan of a study store: what a reader would silently get wrong.

Works on the raw keys of the store, so it sees what Zarr hides: a group or array whose metadata
document ``zarr.json`` is gone (Zarr then drops it from every listing), chunks missing from an
array's chunk grid (Zarr would read them as the fill value, i.e. NaN), chunks that cannot be decoded
(``values=True``), and groups marked complete whose arrays recorded at write time are not all there.
The arrays of a group whose write did not finish (no completion marker: listed as incomplete, and
refused by readers) are not checked: a killed writer left their chunks unwritten, which is no damage.
It knows nothing of the entry layout: problems are reported on the group that holds the array.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from ._zarr import (
    ABSENT_ATTR,
    ARRAYS_ATTR,
    COMPLETE_ATTR,
    DIGEST_ATTR,
    MARKS_ATTR,
    TOKEN_ATTR,
    VARS_ATTR,
    arrays_digest,
    arrays_edited,
    attrs_digest,
    attrs_edited,
    is_set,
    list_keys,
    marks_digest,
    marks_edited,
    new_token,
    parse_json,
    read_json,
)

#: Zarr's temporary copy of a metadata document (``zarr.<uuid>.partial``), renamed to ``zarr.json`` when written.
_ZARR_TEMP = re.compile(r"zarr\.[0-9a-f]{32}\.partial")

#: the damage of a group whose completion records no longer hash to their digest
MARKS_PROBLEM = ("its records of arrays and absent chunks (neuroxr_vars, neuroxr_absent_chunks) were edited after "
                 "the write: they no longer hash to the digest recorded then (or that digest, which its writer records, "
                 "is gone), so lost data may read as fill values (NaN)")


#: the damage of a group whose arrays' metadata documents were edited after the write
ARRAYS_PROBLEM = ("its arrays' metadata (data type, fill value, codecs, shape, chunks or attrs) was edited after the "
                  "write: it no longer hashes to the digest recorded then, or that digest, which its writer records, is "
                  "gone; values may read as other numbers (another data type or fill value) or transformed (scale_factor, "
                  "add_offset)")
#: the damage of a set whose attrs were edited after the write (:func:`set_edited`)
SET_ATTRS_PROBLEM = ("its attrs were edited after the write: they no longer hash to the digest recorded then, or that "
                     "digest, which its writer records, is gone; what they say of its data may not be so")


def unreadable_problem(path: str, holds_arrays: bool = True, doc: str | None = None) -> str:
    """The damage of the group ``path`` whose metadata document (``doc``, default its own
    ``zarr.json``; or one of its arrays') is not valid JSON (a truncated write, a disk error, a hand
    edit), with what to do: a set or an entry (a group holding arrays) is deleted or written again;
    a group above others gets an empty group document back."""
    doc = doc or (f"{path}/zarr.json" if path else "zarr.json")
    if not holds_arrays:
        return (f"its metadata document {doc} is not valid JSON, so Zarr cannot open the groups below it; "
                f'rewrite it as an empty group: {{"zarr_format": 3, "node_type": "group", "attributes": {{}}}}')
    what = "set" if is_set(path) else "entry"
    return f"{unreadable_doc(doc)}, so it is never read; delete the {what} (StudyStore.invalidate) or write it again"


def unreadable_doc(doc: str) -> str:
    """The damage of a group whose metadata document ``doc`` (its key) is not valid JSON, in short."""
    return f"its metadata document {doc} is not valid JSON (a damaged write)"


def set_edited(path: str, attrs: dict[str, Any] | None) -> bool:
    """Whether the complete group ``path`` (``attrs``: its attributes, ``None`` when absent or
    incomplete) is a set whose attrs were edited after the write (:func:`~neuroxr.store._zarr.attrs_edited`).
    A set's attrs describe its data and feed computations and re-runs of extraction (a layer's
    ``reduction``, ``extraction_identity``), so such a set is damage: reads refuse it until it is
    written again. Entries' edited attrs are the entry engine's to judge (it computes them again)."""
    return attrs is not None and is_set(path) and attrs_edited(attrs)


def chunk_keys(meta: dict[str, Any]) -> list[str]:
    """The chunk keys (relative to the array) of the full chunk grid of array metadata ``meta``."""
    shape = meta.get("shape", [])
    grid = meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape", shape)
    enc = meta.get("chunk_key_encoding", {"name": "default"})
    sep = enc.get("configuration", {}).get("separator", "/" if enc.get("name") == "default" else ".")
    counts = [math.ceil(s / c) if c else 0 for s, c in zip(shape, grid)]
    if any(n == 0 for n in counts):
        return []
    out = []
    for idx in itertools.product(*(range(n) for n in counts)):
        if enc.get("name") == "v2":
            out.append(sep.join(map(str, idx)) if idx else "0")
        else:
            out.append("c" + "".join(f"{sep}{i}" for i in idx))
    return out


def chunk_index(key: str) -> tuple[int, ...]:
    """The block index of a chunk key (``"c/0/1"``, ``"c.0.1"``, v2 ``"0.1"``; ``"c"`` of a 0-d array: ``()``)."""
    parts = key.replace(".", "/").split("/")
    return tuple(int(i) for i in parts[1 if key.startswith("c") else 0 :] if i != "")


def group_damage(zstore: Any, path: str, doc: dict[str, Any], keys: set[str] | None = None,
                 values: bool = False, checked: dict[str, dict[str, Any]] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """What a reader of the complete group ``path`` (metadata document ``doc``) would get wrong unawares.

    Parameters
    ----------
    zstore : zarr store
    path : str
        The group (``""``: the root).
    doc : dict
        Its metadata document (with the arrays' documents when it was written in one batch: read
        from there on an object store, as its readers read them; from the arrays' own on a local one).
    keys : set of str, optional
        The keys stored under ``path`` if already known; else one listing of its prefix.
    values : bool, default False
        Also decode every stored chunk.
    checked : dict, optional
        Filled with the metadata documents of its arrays as checked (by name), for a reader that
        opens them next without reading them again.

    Returns
    -------
    (problems, lost)
        One line per problem (recorded arrays gone, chunks missing from an array's grid minus those
        recorded absent at completion, chunks that cannot be decoded), and the missing chunk keys
        per array. A group written before neuroxr recorded its arrays (no ``neuroxr_vars``) has none.
        Completion records edited after the write (:func:`~neuroxr.store._zarr.marks_edited`) come
        first, and its absent-chunk list is then not trusted (every chunk not stored is missing).
    """
    attrs = doc.get("attributes", {})
    edited = marks_edited(attrs)
    names = attrs.get(VARS_ATTR)
    if not isinstance(names, list):
        if not edited:
            return [], {}
        names = []
    prefix = f"{path}/" if path else ""
    if keys is None:
        keys = set(list_keys(zstore, prefix))
    # readers of a local store open the arrays' own documents, never the copies a group written in one
    # batch (copied from an object store) carries in its document: check what they read
    cons = None if _local(zstore) else doc.get("consolidated_metadata")
    metas = cons.get("metadata", {}) if isinstance(cons, dict) else {}
    absent = {} if edited else (attrs.get(ABSENT_ATTR) or {})
    problems: list[str] = []
    lost: dict[str, list[str]] = {}
    gone = []
    from .batch import get_many  # (batch imports this module)

    # a group written in one batch carries its arrays' documents (readers use them); others: one batch of reads
    docs = get_many(zstore, [f"{prefix}{n}/zarr.json" for n in names if n not in metas and f"{prefix}{n}/zarr.json" in keys])
    read = {}
    for name in names:
        meta = metas.get(name)
        if meta is None and docs.get(f"{prefix}{name}/zarr.json") is not None:
            try:
                meta = json.loads(docs[f"{prefix}{name}/zarr.json"])  # type: ignore[arg-type]
            except ValueError:
                meta = None
        if not isinstance(meta, dict) or meta.get("node_type") != "array":
            gone.append(name)
            continue
        read[name] = meta
        expected = chunk_keys(meta)
        allowed = set(absent.get(name, []))
        missing = [c for c in expected if f"{prefix}{name}/{c}" not in keys and c not in allowed]
        if missing:
            lost[name] = missing
            problems.append(f"array {name!r}: {len(missing)} of {len(expected)} chunks missing (e.g. {missing[0]}); "
                            f"they would read as fill values (NaN)")
        if values:
            present = [c for c in expected if f"{prefix}{name}/{c}" in keys]
            problems.extend(p.rpartition("; rewrite")[0] for _, p in _read_chunks(zstore, f"{prefix}{name}", meta, present))
    if checked is not None:
        checked.update(read)
    if gone:
        problems.insert(0, f"marked complete but its variables {gone} are missing")
    elif not edited and arrays_edited(attrs, read):
        problems.insert(0, ARRAYS_PROBLEM)
    if edited:
        problems.insert(0, MARKS_PROBLEM)
    return problems, lost


def _local(zstore: Any) -> bool:
    """Whether ``zstore`` is a local folder (its readers open arrays through their own documents)."""
    from zarr.storage import LocalStore

    return isinstance(zstore, LocalStore)


def absent_chunks(zstore: Any, group_path: str) -> dict[str, list[str]]:
    """Chunks of the arrays directly in ``group_path`` that are not stored (``{array: [chunk keys]}``)."""
    prefix = f"{group_path}/" if group_path else ""
    keys = set(list_keys(zstore, prefix))
    out: dict[str, list[str]] = {}
    for key in keys:
        rel = key[len(prefix) :]
        if rel.count("/") != 1 or not rel.endswith("/zarr.json"):
            continue
        meta = read_json(zstore, key)
        if not meta or meta.get("node_type") != "array":
            continue
        name = rel.split("/")[0]
        missing = [c for c in chunk_keys(meta) if f"{prefix}{name}/{c}" not in keys]
        if missing:
            out[name] = missing
    return out


def mark_group(group: Any, zstore: Any, path: str) -> str:
    """Write the completion marker of ``group`` (at ``path`` in ``zstore``).

    Records the group's arrays (:data:`VARS_ATTR`) and the chunks absent now, i.e. equal to the
    fill value and skipped by Zarr (:data:`ABSENT_ATTR`), so :func:`scan` can tell lost data from
    data never written, the digests of its attrs as stored (:data:`DIGEST_ATTR`: every writer's
    groups, sets, entries and extracted layers alike) and of its arrays' metadata documents as stored
    (:data:`ARRAYS_ATTR`),
    and a fresh version token saying so
    (:func:`~neuroxr.store._zarr.new_token`); the records' digest (:data:`MARKS_ATTR`) and the
    completion flag come in the same update, so records edited later are told apart. Returns the token.
    """
    names = sorted(str(n) for n, _ in group.arrays())
    token = new_token()
    attrs = dict(group.attrs)
    from .batch import get_many  # (batch imports this module)

    prefix = f"{path}/" if path else ""
    docs = get_many(zstore, [f"{prefix}{n}/zarr.json" for n in names])  # as readers will read them
    metas = {n: json.loads(docs[f"{prefix}{n}/zarr.json"] or b"{}") for n in names}
    marks = {VARS_ATTR: names, ABSENT_ATTR: absent_chunks(zstore, path), TOKEN_ATTR: token,
             DIGEST_ATTR: attrs_digest(attrs), ARRAYS_ATTR: arrays_digest(metas)}
    marks[MARKS_ATTR] = marks_digest({**attrs, **marks})
    group.attrs.update({**marks, COMPLETE_ATTR: True})
    return token


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _fix(path: str) -> str:
    """What to do with the damaged group ``path``: a set is written again, an entry computed again."""
    return "rewrite the set" if is_set(path) else "rewrite the entry"


def scan(zstore: Any, values: bool = False, docs: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """``(path, problem)`` for every damage found; see :meth:`StudyStore.damaged`.

    ``docs``, when given, is filled with the metadata document of every group and array it read, by
    node path (``""``: the root; ``{}``: not a JSON object), for a reader that would read them next.
    """
    keys = list_keys(zstore)
    keyset = set(keys)
    problems: list[tuple[str, str]] = []
    meta = _documents(zstore, [k for k in keys if k == "zarr.json" or k.endswith("/zarr.json")])
    arrays = {n for n, m in meta.items() if m and m.get("node_type") == "array"}
    broken = set()  # arrays whose document is not JSON (they hold chunks): damage of the group holding them
    for node in sorted(n for n, m in meta.items() if m == {}):  # first: the rest of the scan cannot see them
        if any(k.startswith(f"{node}/c/") or k == f"{node}/c" for k in keyset):
            broken.add(node)
            problems.append((_parent(node) or "/", unreadable_problem(_parent(node), doc=f"{node}/zarr.json")))
        else:
            holds = any(_parent(a) == node for a in arrays) or not any(_parent(n) == node for n in meta)
            problems.append((node or "/", unreadable_problem(node, holds)))

    # folders without zarr.json (only the shallowest of each branch, outside chunk areas)
    def owner(key: str) -> str | None:
        d = _parent(key)
        while d:
            if d in arrays or d in broken:
                return d
            d = _parent(d)
        return None

    missing_meta: set[str] = set()
    chunks_of: dict[str, set[str]] = {a: set() for a in arrays}
    for key in keys:
        if key == "zarr.json" or key.endswith("/zarr.json"):
            d = _parent(_parent(key))  # the node's own zarr.json is there: check its ancestors
        elif (a := owner(key)) is not None:
            chunks_of.setdefault(a, set()).add(key[len(a) + 1 :])
            continue
        elif _ZARR_TEMP.fullmatch(key.rpartition("/")[2]):
            continue  # Zarr's temporary copy of a document a killed writer never renamed into place: never read
        else:
            d = _parent(key)
        while d:
            if d not in meta:
                missing_meta.add(d)
            d = _parent(d)
    for d in sorted(missing_meta):
        if any(d.startswith(m + "/") for m in missing_meta if m != d):
            continue
        kind = "an array" if any(k.startswith(d + "/c/") or k == d + "/c" for k in keyset) else "a group"
        where = _parent(d) if kind == "an array" else d
        problems.append((where, f"missing metadata document {d}/zarr.json of {kind}: Zarr no longer lists it; {_fix(where)}"))

    # chunk grid against the chunks on disk
    for a in sorted(arrays):
        group = _parent(a)
        name = a.rpartition("/")[2]
        gdoc = meta.get(group) or {}
        gattrs = gdoc.get("attributes", {})
        if group and gdoc.get("node_type") == "group" and not gattrs.get(COMPLETE_ATTR):
            continue  # a write that did not finish (listed as incomplete; readers refuse it): its chunks are not all written
        allowed = set() if marks_edited(gattrs) else set((gattrs.get(ABSENT_ATTR) or {}).get(name, []))
        expected = chunk_keys(meta[a])
        missing = [c for c in expected if c not in chunks_of[a] and c not in allowed]
        if missing:
            legacy = "" if VARS_ATTR in gattrs else " (or never written: this group predates neuroxr's chunk records)"
            problems.append((
                group or "/",
                f"array {name!r}: {len(missing)} of {len(expected)} chunks missing{legacy} (e.g. {missing[0]}); "
                f"they would read as fill values (NaN): {_fix(group)}",
            ))
        if values:
            problems.extend(_read_chunks(zstore, a, meta[a], [c for c in expected if c in chunks_of[a]]))

    # groups marked complete whose recorded arrays are not all there
    for node, m in sorted(meta.items()):
        if not m or m.get("node_type") != "group":
            continue
        attrs = m.get("attributes", {})
        if marks_edited(attrs):
            problems.append((node or "/", f"{MARKS_PROBLEM}; {_fix(node)}"))
        if attrs.get(COMPLETE_ATTR) and set_edited(node, attrs):
            problems.append((node, f"{SET_ATTRS_PROBLEM}; rewrite the set"))
        if not attrs.get(COMPLETE_ATTR) or VARS_ATTR not in attrs:
            continue
        gone = [v for v in attrs[VARS_ATTR] if (f"{node}/{v}" if node else v) not in arrays]
        if gone:
            problems.append((
                node or "/",
                f"marked complete but its variables {gone} are missing; {_fix(node)}",
            ))
        elif not marks_edited(attrs) and arrays_edited(attrs, {v: meta[f"{node}/{v}" if node else v] or {}
                                                               for v in attrs[VARS_ATTR]}):
            problems.append((node or "/", f"{ARRAYS_PROBLEM}; {_fix(node)}"))
    out: list[tuple[str, str]] = []
    for p in problems:
        if p not in out:
            out.append(p)
    if docs is not None:
        docs.update(meta)
    return out


#: metadata documents read in one concurrent batch by :func:`scan` (bounds the requests in flight at once)
_BATCH = 1000


def _documents(zstore: Any, keys: list[str]) -> dict[str, dict[str, Any] | None]:
    """The metadata documents ``keys`` (``.../zarr.json``) by node path, as :func:`~neuroxr.store._zarr.read_json`
    reads each (``None``: absent, ``{}``: not a JSON object), read in concurrent batches of :data:`_BATCH`:
    one request after another costs a round trip each (and, on any store, a hand-over to Zarr's event loop)."""
    from .batch import get_many  # (batch imports this module)

    out: dict[str, dict[str, Any] | None] = {}
    for i in range(0, len(keys), _BATCH):
        for key, raw in get_many(zstore, keys[i : i + _BATCH]).items():
            out[key[: -len("zarr.json")].rstrip("/")] = parse_json(raw)
    return out


def _read_chunks(zstore: Any, array_path: str, meta: dict[str, Any], present: list[str]) -> list[tuple[str, str]]:
    import zarr

    group, _, name = array_path.rpartition("/")
    try:
        arr = zarr.open_array(zstore, path=array_path, mode="r")
    except Exception as exc:  # zarr raises several kinds for bad metadata
        return [(group or "/", f"array {name!r} cannot be opened ({type(exc).__name__}: {exc}); {_fix(group)}")]
    bad = []
    for c in present:
        idx = chunk_index(c)
        try:
            arr.get_block_selection(idx)
        except Exception as exc:  # a corrupt chunk fails in the codec: report it, keep scanning
            bad.append((c, f"{type(exc).__name__}: {exc}"))
    if not bad:
        return []
    c, why = bad[0]
    return [(group or "/", f"array {name!r}: {len(bad)} chunks cannot be read (e.g. {c}: {why}); {_fix(group)}")]
