"""Where entries live in a study store, listing them, and reading one refused when damaged.

Layout by stage (every entry is a Zarr group whose last path component is its provenance key)::

    scores/<direction>/<source>__<target>/<key>     the four directions
    metrics/<metric>/<source>__<target>/<key>       crsa, ersa, ereg, shape, cka
    metrics/dimensionality/<source>/<key>           one set
    inference/<kind>/<source>__<target>/<key>       bootstrap / permutation of a direction
    cache/gram/<model>/<layer>/<key>                the Gram of a feature set

Stores written by neuroxr 0.1.0 hold the entry group directly at the pair path
(``scores/<direction>/<source>__<target>``); such entries are listed as ``legacy`` and never
taken as a match for a request. Keyed entries computed later for the same pair live inside that
group and are listed too.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from ..errors import StoreError
from ..store._zarr import NAME_MAX, _check_region, attrs_edited, long_name, marks_edited, path_excess
from ..store.staged import GRAM_GROUP, gram_group
from . import provenance as _p

__all__ = ["GRAM_GROUP", "gram_group", "pair_path", "iter_entries", "list_entries", "read_entry", "LIST_COLUMNS"]

COMPLETE_ATTR = "neuroxr_complete"
TOKEN_ATTR = "neuroxr_token"
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")
#: the fixed columns of :func:`list_entries` (parameter columns follow)
LIST_COLUMNS = ("kind", "source", "target", "path", "key", "complete", "legacy", "current", "revision")
#: the group above every feature set's cached Grams
def _path_name(ref: Any) -> str:
    """The name of a set (a :class:`~neuroxr.sets.SetRef`, or a name) in an entry path. A region
    names the set ``<neural>.<region>``: one that cannot be part of a path ('/', '__'; written before
    regions were checked) is refused with a one-line :class:`~neuroxr.errors.StoreError`."""
    region = getattr(ref, "region", None)
    if region is not None:
        _check_region(region, ref.neural)
    return getattr(ref, "name", ref)


def pair_path(stage: str, kind: str, source: Any, target: Any | None) -> str:
    """The group holding every entry of ``(kind, source, target)`` (one per provenance key)."""
    if stage == "cache":  # the Gram, the one cached kind
        return gram_group(source.model, source.layer) if kind == "gram" else f"cache/{kind}/{source.model}/{source.layer}"
    src = _path_name(source)
    pair = f"{stage}/{kind}/{src}" if target is None else f"{stage}/{kind}/{src}__{_path_name(target)}"
    _check_fits(pair, kind, source, target)
    return pair


def _check_fits(pair: str, kind: str, source: Any, target: Any | None) -> None:
    """Refuse, before anything is computed, an entry whose path gives a file name longer than a file system
    takes (:func:`~neuroxr.store._zarr.path_excess`), naming its sets."""
    excess = path_excess(f"{pair}/{'0' * 16}")  # the key: 16 hex digits
    if excess:
        sets = " and ".join(long_name(_path_name(r)) for r in (source, target) if r is not None)
        raise StoreError(f"the {kind} entry of {sets} cannot be stored: the store names files after its sets, and its "
                         f"names are {excess} characters too long for the {NAME_MAX} bytes a file name may have; write "
                         "the sets under shorter names (a model, layer or neural set name, or a region).")


def _is_entry(store: Any, path: str, attrs: Any) -> bool:
    """A group is an entry (not a pair group) when it holds arrays or a completion marker."""
    return COMPLETE_ATTR in attrs or store._holds_arrays(path)


def _groups(store: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """The child groups of ``path`` as ``(name, attributes)``; one whose metadata document is not
    valid JSON is left out (damage, which the store's scan names), the others still listed."""
    return store._children(path)


def _below(store: Any, path: str) -> dict[str, dict[str, Any] | None]:
    """The child groups of ``path`` as ``{name: attributes}``, with ``None`` for one whose metadata
    document is not valid JSON: never an entry itself, but the groups below it are walked."""
    return {n: None if d is None else dict(d.get("attributes") or {})
            for n, d in store._child_docs(path) if d is None or d.get("node_type") == "group"}


_STAGES = ("scores", "metrics", "inference")


def _pair_rows(store: Any, kind: str, src: str, tgt: str | None, path: str, attrs: Any) -> Iterator[dict[str, Any]]:
    """The entries of one pair group (attributes ``attrs``; ``None``: its document is not valid JSON),
    walked: a 0.1.0 entry at the pair path, then its keyed entries."""
    legacy = attrs is not None and _is_entry(store, path, attrs)
    if legacy:
        yield {"kind": kind, "source": src, "target": tgt, "path": path, "key": None,
               "complete": bool(attrs.get(COMPLETE_ATTR, False)), "legacy": True, "provenance": None, "edited": False}
    for key, a in _groups(store, path):
        if legacy and not _KEY_RE.match(key):  # a group inside a 0.1.0 entry, not a keyed entry
            continue
        yield _row(kind, src, tgt, f"{path}/{key}", key, a)


def _row(kind: str, src: str, tgt: str | None, path: str, key: str, attrs: Any) -> dict[str, Any]:
    prov = attrs.get(_p.PROVENANCE_ATTR)
    return {"kind": kind, "source": src, "target": tgt, "path": path, "key": key,
            "complete": bool(attrs.get(COMPLETE_ATTR, False)), "legacy": False,
            "provenance": dict(prov) if prov else None,
            "edited": entry_edited(attrs) or misplaced(prov, kind, src, tgt)}


def misplaced(prov: Any, kind: str, source: str, target: str | None) -> bool:
    """Whether an entry lies under another pair than its provenance names (its folder was moved or copied
    by hand to another pair's group): the kind, source or target its path shows are not those of its
    numbers, though its provenance still hashes to its key."""
    if not prov:
        return False
    named = {"kind": kind, "source": source, "target": target}
    return any(k in prov and prov[k] != v for k, v in named.items())


def entry_edited(attrs: Any) -> bool:
    """Whether a complete keyed entry's store attrs were edited after the write: its attrs or completion
    records no longer hash to their digests (:func:`~neuroxr.store._zarr.attrs_edited`,
    :func:`~neuroxr.store._zarr.marks_edited`), or its version token is gone (every neuroxr that keyed
    entries gave each a token: without one, the digests' absence would pass for an older writer's)."""
    return bool(attrs.get(COMPLETE_ATTR)) and (attrs_edited(attrs) or marks_edited(attrs) or not attrs.get(TOKEN_ATTR))


def _pair_of(path: str) -> tuple[int, str, str, str | None, str] | None:
    """``(stage index, kind, source, target, pair path)`` of a group under an entry stage, from its
    path; ``None`` when the path is above a pair group."""
    parts = path.split("/")
    if parts[0] == "cache":
        if len(parts) < 4 or "/".join(parts[:2]) != GRAM_GROUP:
            return None
        return len(_STAGES), "gram", f"{parts[2]}.{parts[3]}", None, "/".join(parts[:4])
    if len(parts) < 3:
        return None
    kind, pair = parts[1], parts[2]
    if kind == "dimensionality" or "__" not in pair:
        src, tgt = pair, None
    else:
        src, _, tgt = pair.partition("__")
    return _STAGES.index(parts[0]), kind, src, tgt, "/".join(parts[:3])


def _walk_entries(store: Any) -> Iterator[dict[str, Any]]:
    """Every entry, by walking the hierarchy group by group (a request per group on an object store)."""
    pairs: list[tuple[str, str, str | None, str, Any]] = []
    for stage in _STAGES:
        for kind in _below(store, stage):
            for pair, pa in _below(store, f"{stage}/{kind}").items():
                _, _, src, tgt, _ = _pair_of(f"{stage}/{kind}/{pair}")  # type: ignore[misc]
                pairs.append((kind, src, tgt, f"{stage}/{kind}/{pair}", pa))
    for model in _below(store, GRAM_GROUP):
        for layer, la in _below(store, f"{GRAM_GROUP}/{model}").items():
            pairs.append(("gram", f"{model}.{layer}", None, gram_group(model, layer), la))
    for kind, src, tgt, path, attrs in pairs:
        yield from _pair_rows(store, kind, src, tgt, path, attrs)


def _listed_entries(store: Any, groups: tuple[dict[str, Any], dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The entries from the inventory's groups (``(complete, incomplete)`` of
    :meth:`~neuroxr.store.StudyStore.inventoried`), in the walk's order; ``None`` when a recorded
    group is not where an entry can be (then walk)."""
    complete, incomplete = groups
    rows: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    legacy: dict[str, tuple[int, str, str, str | None]] = {}
    keyed = []
    for path, attrs in [*complete.items(), *incomplete.items()]:
        if path.split("/")[0] not in _STAGES and not path.startswith(f"{GRAM_GROUP}/"):
            continue  # sets (read in the same batch for their tokens), other caches
        pair = _pair_of(path)
        if pair is None:
            return None
        stage, kind, src, tgt, ppath = pair
        depth = ppath.count("/") + 1
        if path == ppath:  # a 0.1.0 entry at the pair path (recorded by a rebuild): walk its pair group
            legacy[ppath] = (stage, kind, src, tgt)
        elif path.count("/") == depth:
            keyed.append((ppath, stage, kind, src, tgt, path, attrs))
        else:
            return None
    for ppath, stage, kind, src, tgt, path, attrs in keyed:
        if ppath not in legacy:  # keyed entries inside a 0.1.0 group come from its walk
            key = path.rpartition("/")[2]
            rows.append(((stage, *ppath.split("/")[1:], key), _row(kind, src, tgt, path, key, attrs)))
    for ppath, (stage, kind, src, tgt) in legacy.items():
        doc = store._doc(ppath)
        pa = (doc or {}).get("attributes") if (doc or {}).get("node_type") == "group" else None
        for r in _pair_rows(store, kind, src, tgt, ppath, pa) if pa is not None else ():
            rows.append(((stage, *ppath.split("/")[1:], r["key"] or ""), r))
    return [r for _, r in sorted(rows, key=lambda t: t[0])]


def _scan(store: Any) -> tuple[list[dict[str, Any]] | Iterator[dict[str, Any]], dict[str, dict[str, Any]] | None,
                               list[str] | None]:
    """The entries; when read from the inventory, the attributes of the complete sets (``{path:
    attrs}``, for their tokens) and the paths of unfinished writes (incomplete entries and pending
    records without a group; ``None`` after a walk): one listing and one batch of document reads."""
    inventoried = getattr(store, "inventoried", None)
    absent: list[str] = []
    got = inventoried([*_STAGES, GRAM_GROUP, "neural", "features"], absent) if inventoried is not None else None
    if got is not None:
        rows = _listed_entries(store, got)
        if rows is not None:
            sets = {p: a for p, a in got[0].items() if p.split("/")[0] in ("neural", "features")}
            unfinished = [r["path"] for r in rows if not r["complete"]]
            unfinished += [p for p in absent if p.split("/")[0] in _STAGES or p.startswith(f"{GRAM_GROUP}/")]
            return rows, sets, unfinished
    return _walk_entries(store), None, None


def iter_entries(store: Any) -> Iterator[dict[str, Any]]:
    """Every score, metric, inference and Gram entry of a store, complete or not, as a dict with
    ``kind``, ``source``, ``target``, ``path``, ``key``, ``complete``, ``legacy``, ``provenance`` and
    ``edited`` (its attrs, completion records or token were edited after the write: :func:`entry_edited`).

    Read from the store's inventory (:meth:`~neuroxr.store.StudyStore.inventoried`: one listing
    and one batch of document reads, whatever the number of entries): complete entries with their
    provenance, and entries whose write the inventory records as unfinished (a running or killed
    writer) as incomplete. 0.1.0 entries (a group at the pair path) are found when the inventory
    records them (a rebuild does: ``neuroxr validate --rebuild-inventory``); their pair groups alone are walked
    for the keyed entries inside. The hierarchy is walked instead when the store has no usable
    inventory (none yet, unreadable, or disagreeing with the groups). One call on the store
    (:meth:`~neuroxr.store.StudyStore.session`): a cached store reads the inventory afresh, and the
    documents of the groups written or deleted since, so writes of other processes since its last
    call are seen; the entries are read before the first is handed out.
    """
    with _session(store):
        rows = list(_scan(store)[0])
    yield from rows


def _session(store: Any) -> Any:
    """The store's :meth:`~neuroxr.store.StudyStore.session` (nothing for an object without one)."""
    session = getattr(store, "session", None)
    return session(listing=True) if session is not None else contextlib.nullcontext(store)


def _revision(kind: str, params: Any) -> int:
    """The revision an entry of ``kind`` with ``params`` gets now (0 for a kind this version does not know)."""
    from .kinds import KINDS
    from .revisions import entry_revision

    return entry_revision(kind, params) if kind in KINDS else 0


def _set_token(attrs: Any) -> str | None:
    """The version token of an input set as entries record it; ``None`` (no entry is current on it)
    when it is absent, incomplete, of 0.1.0, or its attrs were edited after the write
    (:func:`~neuroxr.store._zarr.attrs_edited`: a computation refuses it, so its entries are no
    longer those of the set as it stands)."""
    if attrs is None or not attrs.get(TOKEN_ATTR) or attrs_edited(attrs):
        return None
    return str(attrs[TOKEN_ATTR])


def list_entries(store: Any) -> pd.DataFrame:
    """Every score, metric and Gram entry of a store, one row each.

    Parameters
    ----------
    store : StudyStore or str
        The store, or its path (opened read-only).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LIST_COLUMNS` (``current``: its input sets were not rewritten since (nor their
        attrs edited), it was computed at its kind's current revision, its attrs were not edited since
        the write (its
        provenance hashes to its key, :func:`~neuroxr.entries.provenance.keys_match`, its attrs
        to their digest, :func:`~neuroxr.store._zarr.attrs_edited`, and its completion records to
        theirs, :func:`~neuroxr.store._zarr.marks_edited`: from its document alone, no listing of its
        chunks nor read of its arrays' documents, which :meth:`~neuroxr.store.StudyStore.damaged`,
        ``lookup`` and ``compute`` check), the library versions it records are the installed ones
        (:func:`~neuroxr.entries.provenance.versions_installed`: an entry of another scikit-learn no
        request reaches),
        and it is neither legacy nor incomplete (an entry whose rewrite on an object store was
        interrupted is listed incomplete, with the parameters of its previous copy, until a writable
        open puts that copy back);
        ``revision``: the kind's revision when it was computed) then one column per parameter (``params.<name>``
        values, NaN where a kind lacks it).

    Notes
    -----
    One call on the store (:meth:`~neuroxr.store.StudyStore.session`), as ``compute`` and ``lookup``
    are: a cached store (``cache=True``) reads the inventory afresh, and the documents of the groups
    written or deleted since (by another process too; the others it read already are not read again),
    so a set another process rewrote since its last call makes its entries not current.
    """
    from ..store.study import as_store

    store = as_store(store, "r")
    with _session(store):  # a cached store's listing reads the inventory afresh, and what changed since
        return _list(store)


def _list(store: Any) -> pd.DataFrame:
    """:func:`list_entries` of an open store, within one call on it."""
    rows = []
    tokens: dict[str, str | None] = {}
    entries, sets, unfinished = _scan(store)
    if sets is not None:  # the sets' tokens came with the same batch of reads
        tokens = {p: _set_token(a) for p, a in sets.items()}
    kept = getattr(store, "interrupted_rewrites", lambda p: {})(unfinished)  # incomplete, their old copy kept
    entries = [e for e in entries if e["path"] not in kept]  # a partial new copy says nothing of what it was
    for path, attrs in kept.items():
        pair = _pair_of(path)
        if pair is not None and path.count("/") == pair[4].count("/") + 1:
            entries.append({**_row(pair[1], pair[2], pair[3], path, path.rpartition("/")[2], attrs), "complete": False})
    for e in entries:
        prov, edited = e.pop("provenance") or {}, e.pop("edited")
        e["revision"] = int(prov.get("revision", 0))
        current = bool(e["complete"] and not e["legacy"] and not edited) and _p.keys_match(prov, e["key"]) \
            and e["revision"] == _revision(e["kind"], prov.get("params", {})) and _p.versions_installed(prov)
        for path, tok in prov.get("inputs", {}).items():
            if path not in tokens:
                tokens[path] = _set_token(store.group_attrs(path))  # absent or incomplete sets: None
            current = current and tok is not None and tokens[path] == tok
        e["current"] = current
        for k, v in prov.get("params", {}).items():
            e[k] = v if not isinstance(v, list) else tuple(v)
        rows.append(e)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(LIST_COLUMNS))
    params = [c for c in df.columns if c not in LIST_COLUMNS]
    for c in params:  # keep ints as ints and bools as bools (NaN where a kind lacks the parameter)
        df[c] = pd.Series([r.get(c, float("nan")) for r in rows], dtype=object)
    return df[list(LIST_COLUMNS) + params].reset_index(drop=True)


def read_entry(store: Any, path: str, damage: Mapping[str, str] | None = None) -> Any:
    """The complete entry ``path`` (lazy), refused when the store names it damaged.

    A reader that touches only some arrays of an entry (the report's inference tables read a
    few of a bootstrap's arrays, never its ``boot_index``) would not notice a lost chunk of
    another: its numbers would be shown as if the entry were intact. The entry's own damage check
    (:meth:`~neuroxr.store.StudyStore.check_intact`, from the one reading that the read itself
    uses: nothing is read twice) and ``damage`` (a whole-store scan already made) refuse it first.

    Parameters
    ----------
    store : StudyStore
        The store.
    path : str
        The entry.
    damage : mapping, optional
        ``path -> problem`` of :meth:`~neuroxr.store.StudyStore.damaged` (the report scans the store
        once): an entry it names is refused without being read.

    Returns
    -------
    xarray.Dataset
        :meth:`~neuroxr.store.StudyStore.read_dataset` of the entry.

    Raises
    ------
    StoreError
        One line naming the entry, its damage and the fix (compute it again).
    """
    if damage and path in damage:  # the store's one wording of a damaged group, with its fix
        raise store._damage_error(path, damage[path])
    found = store.examine(path, fetch=True)
    store.check_intact(found)
    return store.read_dataset(found)
