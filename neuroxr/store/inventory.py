"""The inventory of a study store: which groups of data it holds, readable in one listing.

Walking a Zarr hierarchy costs a request per group on an object store (S3, GCS ...). The
inventory replaces the walk for listing sets and entries: every write of a group of data records
``path -> (time, state, token)`` in a small JSON document, and reading the inventory is one
listing of ``.neuroxr/inventory/`` plus one read per document.

Documents are **per writer**: each process appends to its own shard
``.neuroxr/inventory/<host>~<pid>~<uuid>.json`` (rewritten whole on each record; rotated, i.e.
marked ``final``, after :data:`ROTATE` records), so concurrent writers (the workers of a sweep)
never overwrite each other's records and no lock is needed. A record is ``[time, state, token,
seq]``: ``seq`` counts the records of its shard, so one writer's records are in the order it made
them. A writer records ``pending`` before it writes a group and ``complete`` (with the group's
version token) after its completion marker, so a writer killed in between leaves a ``pending``
record that readers check against the group itself.

Readers merge the shards (:func:`merge`) without trusting wall clocks across writers (hosts
sharing an object store, or a clock stepped back, disagree on time): a ``deleted`` record hides
the path and everything below it only among its **own** writer's earlier records (later ``seq``);
a rebuild's tombstone of the root names, per shard, the last ``seq`` it read before its walk, and
hides just those records. So no record written after a deletion or a rebuild could see it is ever
hidden by it, whatever the clocks say. Records of other writers below a deletion stay listed as
candidates marked ``deleted``: their group's absence is then expected, not a disagreement. Across
writers the record with the latest time is only the hint of a path's state: every path is
confirmed against its own group.

The inventory is a hint that is checked, never trusted blindly: :class:`neuroxr.store.StudyStore`
confirms every listed path against the group's own metadata document (cheap, and cached within a
sweep), and when the inventory is missing, unreadable or disagrees with the groups it walks the
hierarchy instead and (when writable) rebuilds the inventory (:func:`rebuild`, also run by
``neuroxr validate``). Compaction folds final shards (and those of ended writers of this host) into
one (a new final shard; the inputs are deleted afterwards, so two compactors at once lose nothing),
leaving out candidates below a deletion whose group is gone. Neither compaction nor a rebuild ever
deletes the shard of a live writer: it rewrites that shard whole on each record, and a record made
between the read and the deletion would be lost.

Every read lists the shards afresh. On S3 the listing gives each shard's ETag, the MD5 of its bytes for a
plain upload: a shard this process read or wrote with those very bytes (:data:`_KNOWN`, checked against
the MD5 before it is kept) is taken from memory, any other is fetched, so a rewrite (new bytes, new ETag)
is always read and a call that lists the inventory several times fetches only the shards changed since.
At most :data:`KNOWN_BYTES` (64 MiB) of shards are kept, the least recently used dropped first.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ParameterError, shown
from ._zarr import COMPLETE_ATTR, HIDDEN
from .lock import _owner_alive

__all__ = ["PREFIX", "ROTATE", "Shard", "read", "read_shards", "merge", "record", "rebuild", "compact", "crowded"]

#: where the inventory documents live (hidden from Zarr's hierarchy and from the integrity scan)
PREFIX = f"{HIDDEN}/inventory/"
#: records per shard before a writer starts a new one (keeps each rewrite small)
ROTATE = 256
#: settled shards (final, or of ended writers of this host) a writable reader tolerates before folding them
COMPACT_AT = 16
#: the format of the shards written (2: records carry their ``seq``); 1 is still read
FORMAT = 2
_READ_FORMATS = (1, 2)
STATES = ("pending", "complete", "deleted")

_HOST = socket.gethostname().replace("~", "-").replace("/", "-")
_LOCK = threading.Lock()
_SHARDS: dict[str, Shard] = {}
#: shard documents of S3 stores by ((file system, root), key): (MD5 of their bytes, document, their size);
#: read-only; least recently used dropped first past :data:`KNOWN_BYTES` of shard bytes in all
_KNOWN: OrderedDict[tuple[tuple[Any, str], str], tuple[str, dict[str, Any], int]] = OrderedDict()
_KNOWN_LOCK = threading.Lock()
#: bound on the bytes of the shards kept in :data:`_KNOWN` (a process reading many stores keeps the latest)
KNOWN_BYTES = 64 * 2**20
_known_bytes = 0


def _keep(entry: tuple[tuple[Any, str], str], value: tuple[str, dict[str, Any], int] | None) -> None:
    """Put (``value``) or drop (``None``) one kept shard, then drop the least recently used past the bound
    (call under :data:`_KNOWN_LOCK`)."""
    global _known_bytes
    old = _KNOWN.pop(entry, None)
    _known_bytes -= old[2] if old is not None else 0
    if value is not None:
        _KNOWN[entry] = value
        _known_bytes += value[2]
    while _known_bytes > KNOWN_BYTES and _KNOWN:
        _known_bytes -= _KNOWN.popitem(last=False)[1][2]


def _set(zstore: Any, key: str, data: bytes) -> None:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    sync(zstore.set(key, default_buffer_prototype().buffer.from_bytes(data)))


def _delete(zstore: Any, keys: Iterable[str]) -> None:
    import asyncio

    from zarr.core.sync import sync

    async def run() -> None:
        await asyncio.gather(*(zstore.delete(k) for k in keys))

    sync(run())


class Shard:
    """The inventory document of this process for one store (shared by its StudyStore objects)."""

    def __init__(self) -> None:
        self.name = f"{_HOST}~{os.getpid()}~{uuid.uuid4().hex[:12]}"
        self.records: dict[str, list[Any]] = {}
        self.seq = 0  # records made, in order (a clock-free order of this writer's records)

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.name}.json"

    def doc(self, final: bool = False) -> bytes:
        return json.dumps({"format": FORMAT, "writer": self.name, "final": final, "records": self.records},
                          separators=(",", ":")).encode()


def _shard(store_id: str) -> Shard:
    pid_key = f"{store_id}|{os.getpid()}"  # a forked child writes its own shard
    if pid_key not in _SHARDS:
        _SHARDS[pid_key] = Shard()
    return _SHARDS[pid_key]


def record(zstore: Any, store_id: str, path: str, state: str, token: str | None = None) -> None:
    """Record ``state`` of the group ``path`` in this process's shard (one write of a small document)."""
    if state not in STATES:
        raise ParameterError(f"state must be one of {STATES}; got {shown(state)}.")
    with _LOCK:  # the whole shard is rewritten: keep this process's writes in order
        shard = _shard(store_id)
        shard.seq += 1
        shard.records[path] = [time.time_ns(), state, token, shard.seq]
        data = shard.doc(final=len(shard.records) >= ROTATE)
        _set(zstore, shard.key, data)
        _remember(zstore, shard.key, data)
        if len(shard.records) >= ROTATE:
            _SHARDS[f"{store_id}|{os.getpid()}"] = Shard()


def _where(zstore: Any) -> tuple[Any, str] | None:
    """``(file system, root)`` of an S3 store, whose listing gives each key's ETag; ``None`` elsewhere."""
    fs = getattr(zstore, "fs", None)
    if type(fs).__name__ != "S3FileSystem" or getattr(fs, "_lsdir", None) is None:
        return None
    return getattr(fs, "_fs_token", id(fs)), str(zstore.path).rstrip("/")


def _tags(zstore: Any, where: tuple[Any, str]) -> dict[str, str] | None:
    """The keys below :data:`PREFIX` -> their ETag (unquoted), in one listing request; ``None`` when this
    s3fs lists otherwise."""
    from zarr.core.sync import sync

    root = where[1]
    try:
        found = sync(zstore.fs._lsdir(f"{root}/{PREFIX.rstrip('/')}", delimiter=""))
    except FileNotFoundError:
        return {}
    except TypeError:  # another signature
        return None
    return {f["name"][len(root) + 1:]: str(f.get("ETag") or "").strip('"') for f in found
            if f.get("type", "file") != "directory"}


def _remember(zstore: Any, key: str, data: bytes, doc: dict[str, Any] | None = None) -> None:
    """Keep the shard ``key`` of an S3 store under the MD5 of its bytes ``data`` (their ETag)."""
    where = _where(zstore)
    if where is not None:
        with _KNOWN_LOCK:
            _keep((where, key), (hashlib.md5(data).hexdigest(), json.loads(data) if doc is None else doc, len(data)))


def read(zstore: Any) -> dict[str, dict[str, Any]] | None:
    """The shards of the store, ``{key: document}``; ``None`` when there are none or one is unreadable.

    One listing, then one read per shard; on S3 a shard listed with the ETag of bytes this process
    read or wrote is taken from memory (the module's docstring). The documents are shared: read only."""
    docs, unreadable = read_shards(zstore)
    return None if unreadable else docs or None


def read_shards(zstore: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The readable shards of the store, ``{key: document}``, and the keys of the unreadable ones (not JSON,
    or no shard document: a shard being written, or damaged), as :func:`read` reads them."""
    import asyncio

    from zarr.core.sync import sync

    async def keys() -> list[str]:
        return [k async for k in zstore.list_prefix(PREFIX)]

    where = _where(zstore)
    tags = _tags(zstore, where) if where is not None else None
    names = sorted(k for k in (sync(keys()) if tags is None else tags) if k.endswith(".json"))
    kept: dict[str, dict[str, Any]] = {}
    if where is not None:
        with _KNOWN_LOCK:
            for gone in [k for k in _KNOWN if k[0] == where and k[1] not in names]:  # folded or rebuilt away
                _keep(gone, None)
            for k in names:
                known = _KNOWN.get((where, k))
                if known is not None and tags is not None and tags.get(k) == known[0]:
                    kept[k] = known[1]
                    _KNOWN.move_to_end((where, k))
    if not names:
        return {}, []
    from zarr.core.buffer import default_buffer_prototype

    todo = [k for k in names if k not in kept]

    async def fetch() -> list[Any]:
        return await asyncio.gather(*(zstore.get(k, prototype=default_buffer_prototype()) for k in todo))

    got = dict(zip(todo, sync(fetch()) if todo else []))
    out: dict[str, dict[str, Any]] = {}
    unreadable: list[str] = []
    for k in names:
        if k in kept:
            out[k] = kept[k]
            continue
        buf = got[k]
        if buf is None:
            continue  # deleted by a compactor between the listing and the read: its records are in its fold
        raw = buf.to_bytes()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("format") not in _READ_FORMATS or not isinstance(doc.get("records"), dict):
            unreadable.append(k)
            continue
        out[k] = doc
        if tags is not None and tags.get(k) == hashlib.md5(raw).hexdigest():  # the very bytes the listing named
            _remember(zstore, k, raw, doc)
    return out, unreadable


def _seq(rec: Sequence[Any]) -> Any:
    """The order of a record among its writer's (records before ``seq`` existed: their time)."""
    return rec[3] if len(rec) > 3 else rec[0]


def _seen(rec: Sequence[Any]) -> dict[str, Any] | None:
    """The shards (writer -> last ``seq``) that a rebuild's tombstone read; ``None`` for a deletion."""
    return rec[4] if rec[1] == "deleted" and len(rec) > 4 and isinstance(rec[4], dict) else None


def _above(path: str) -> list[str]:
    """``path`` and the groups above it, the root ``""`` included."""
    parts = path.split("/") if path else []
    return [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _writer(key: Any, doc: Mapping[str, Any]) -> str:
    return str(doc.get("writer", key))


def merge(docs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge shard documents: ``{path: {"state", "token", "t"[, "deleted"]}}`` of every path that a
    record names and no deletion that saw it hides (see the module's docstring); ``deleted``: a
    deletion of another writer (or an earlier one of its own) covers it, so its absence is expected."""
    docs = list(docs)
    removals: dict[str, list[tuple[str, Any]]] = {}  # path -> (writer, seq) of its deletions
    rebuilds: dict[str, list[dict[str, Any]]] = {}  # path -> what the rebuilds' tombstones read
    for i, doc in enumerate(docs):
        for path, rec in doc["records"].items():
            if rec[1] == "deleted":
                seen = _seen(rec)
                if seen is None:
                    removals.setdefault(path, []).append((_writer(i, doc), _seq(rec)))
                else:
                    rebuilds.setdefault(path, []).append(seen)
    latest: dict[str, list[Any]] = {}
    for i, doc in enumerate(docs):
        w = _writer(i, doc)
        for path, rec in doc["records"].items():
            if rec[1] == "deleted":
                continue
            q, above = _seq(rec), _above(path)
            if any(dw == w and dq > q for p in above for dw, dq in removals.get(p, ())):
                continue  # its own writer deleted it afterwards
            if any(w in seen and seen[w] >= q for p in above for seen in rebuilds.get(p, ())):
                continue  # a rebuild read it before its walk: the walk's record replaces it
            if path not in latest or rec[0] > latest[path][0]:
                latest[path] = rec
    out = {}
    for path, rec in latest.items():
        out[path] = {"state": rec[1], "token": rec[2], "t": rec[0]}
        if any(p in removals for p in _above(path)):
            out[path]["deleted"] = True
    return out


def _write_fold(zstore: Any, records: Mapping[str, list[Any]]) -> str:
    fold = Shard()
    fold.name = f"fold~{time.time_ns()}~{uuid.uuid4().hex[:12]}"
    fold.records = dict(records)
    _set(zstore, fold.key, fold.doc(final=True))
    return fold.key


def _gone(writer: str) -> bool:
    """Whether the writer of a shard (``<host>~<pid>~<id>``) was a process of this host that has
    ended: its shard is rewritten no more. Writers of other hosts cannot be told gone."""
    parts = writer.split("~")
    if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
        return False
    return not _owner_alive({"host": socket.gethostname(), "pid": int(parts[1])})


def _settled(key: str, doc: Mapping[str, Any]) -> bool:
    """Whether no writer rewrites the shard ``doc`` any more (it is final, or its writer has ended),
    so deleting it after reading it loses nothing. A live writer's shard is rewritten whole on each
    record: deleting it could drop a record made between the read and the deletion."""
    return bool(doc.get("final")) or _gone(_writer(key, doc))


def crowded(docs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether more than :data:`COMPACT_AT` shards of ``docs`` are settled (final, or of an ended writer of this
    host): a writable reader then folds them (:func:`compact`). Counting only final shards let the shards of
    ended processes (each command that writes leaves one) pile up unread by any fold, one read each per listing."""
    return sum(1 for k, d in docs.items() if _settled(k, d)) > COMPACT_AT


def _absent(zstore: Any, paths: Sequence[str], states: Mapping[str, str]) -> set[str]:
    """The ``paths`` whose group is gone: no group document, or (recorded ``complete``) no complete one."""
    from .batch import get_many

    got = get_many(zstore, [f"{p}/zarr.json" for p in paths])
    out = set()
    for p in paths:
        raw = got.get(f"{p}/zarr.json")
        try:
            attrs = (json.loads(raw) or {}).get("attributes") or {} if raw is not None else None
        except (ValueError, AttributeError):
            attrs = None
        if attrs is None or (states[p] == "complete" and not attrs.get(COMPLETE_ATTR)):
            out.add(p)
    return out


def compact(zstore: Any, docs: Mapping[str, Mapping[str, Any]]) -> None:
    """Fold the settled shards of ``docs`` (final, or of a writer of this host that has ended) into
    one new final shard, then delete them: the paths their merge lists (:func:`merge`), but for
    candidates below another writer's deletion whose group is gone (read in one batch: the deletion
    stands, so they would only cost a read per listing), then, for paths it does not list, their
    deletions (ordered before them, so they hide none of the fold's records) and the rebuilds'
    tombstones (what they read joined)."""
    finals = {k: d for k, d in docs.items() if _settled(k, d)}
    if len(finals) < 2:
        return
    merged = merge(finals.values())
    flagged = [p for p, r in merged.items() if r.get("deleted")]
    gone = _absent(zstore, flagged, {p: merged[p]["state"] for p in flagged}) if flagged else set()
    records: dict[str, list[Any]] = {p: [r["t"], r["state"], r["token"], 1] for p, r in merged.items() if p not in gone}
    for d in finals.values():
        for path, rec in d["records"].items():
            seen = _seen(rec)
            if rec[1] != "deleted" or (path in records and records[path][1] != "deleted"):
                continue
            if seen is None:
                records.setdefault(path, [rec[0], "deleted", None, 0])
            else:
                old = records.get(path)
                joined = dict(_seen(old) or {}) if old is not None else {}
                for w, q in seen.items():
                    joined[w] = max(joined.get(w, q), q)
                records[path] = [rec[0], "deleted", None, 0, joined]
    _write_fold(zstore, records)
    _delete(zstore, finals)


def rebuild(zstore: Any, groups: Mapping[str, tuple[bool, str | None]],
            seen: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Replace the inventory by the groups found by a walk, ``{path: (complete, token)}``.

    ``seen``: the shards read *before* the walk began (:func:`read`; default: read now). Writes one
    final shard holding the walk and a tombstone of the root that names the last record it read of
    each shard (those, and only those, no longer count: a record made since, whatever its writer's
    clock, still does), then deletes the shards read that hold nothing newer and that no writer
    rewrites any more (final, or of a writer of this host that has ended). A live writer's shard
    stays, its records read hidden by the tombstone: deleting it could drop a record it made between
    this read and the deletion (until its next record rewrote the shard).
    """
    seen = read_shards(zstore)[0] if seen is None else seen
    marks = {_writer(k, d): max((_seq(r) for r in d["records"].values()), default=-1) for k, d in seen.items()}
    now = time.time_ns()
    recs: dict[str, list[Any]] = {p: [now, "complete" if complete else "pending", tok, 1]
                                  for p, (complete, tok) in groups.items()}
    recs[""] = [now, "deleted", None, 0, marks]  # ordered before the walk's records: it hides none of them
    new = _write_fold(zstore, recs)
    after, unreadable = read_shards(zstore)
    stale = [k for k, d in after.items() if k != new and k in seen and _settled(k, d)
             and max((_seq(r) for r in d["records"].values()), default=-1) <= marks[_writer(k, d)]]
    # an unreadable shard of an ended writer is never completed: the walk replaces it (kept, it made every
    # read of the inventory fail, so each writable listing walked the store and wrote one more shard)
    stale += [k for k in unreadable if _gone(k[len(PREFIX):].removesuffix(".json"))]
    _delete(zstore, stale)
