"""The inventory of a study store: which groups of data it holds, readable in one listing.

Walking a Zarr hierarchy costs a request per group on an object store (S3, GCS ...). The
inventory replaces the walk for listing sets and entries: every write of a group of data records
``path -> (time, state, token)`` in a small JSON document, and reading the inventory is one
listing of ``.neuroxr/inventory/`` plus one read per document.

Documents are **per writer**: each process appends to its own shard
``.neuroxr/inventory/<host>~<pid>~<uuid>.json`` (rewritten whole on each record; rotated, i.e.
marked ``final``, after :data:`ROTATE` records), so concurrent writers (the workers of a sweep)
never overwrite each other's records and no lock is needed. Readers merge the shards: per path the
latest record wins, and a ``deleted`` record hides the path and everything below it that was
recorded before. A writer records ``pending`` before it writes a group and ``complete`` (with the
group's version token) after its completion marker, so a writer killed in between leaves a
``pending`` record that readers check against the group itself.

The inventory is a hint that is checked, never trusted blindly: :class:`neuroxr.store.StudyStore`
confirms every listed path against the group's own metadata document (cheap, and cached within a
sweep), and when the inventory is missing, unreadable or disagrees with the groups it walks the
hierarchy instead and (when writable) rebuilds the inventory (:func:`rebuild`, also run by
``neuroxr validate``). Compaction folds final shards into one (a new final shard; the inputs are
deleted afterwards, so two compactors at once lose nothing).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ParameterError
from ._zarr import HIDDEN

__all__ = ["PREFIX", "ROTATE", "Shard", "read", "merge", "record", "rebuild", "compact"]

#: where the inventory documents live (hidden from Zarr's hierarchy and from the integrity scan)
PREFIX = f"{HIDDEN}/inventory/"
#: records per shard before a writer starts a new one (keeps each rewrite small)
ROTATE = 256
#: final shards a writable reader tolerates before folding them into one
COMPACT_AT = 16
FORMAT = 1
STATES = ("pending", "complete", "deleted")

_HOST = socket.gethostname().replace("~", "-").replace("/", "-")
_LOCK = threading.Lock()
_SHARDS: dict[str, Shard] = {}


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
        raise ParameterError(f"state must be one of {STATES}; got {state!r}.")
    with _LOCK:  # the whole shard is rewritten: keep this process's writes in order
        shard = _shard(store_id)
        shard.records[path] = [time.time_ns(), state, token]
        if len(shard.records) >= ROTATE:
            _set(zstore, shard.key, shard.doc(final=True))
            _SHARDS[f"{store_id}|{os.getpid()}"] = Shard()
        else:
            _set(zstore, shard.key, shard.doc())


def read(zstore: Any) -> dict[str, dict[str, Any]] | None:
    """The shards of the store, ``{key: document}``; ``None`` when there are none or one is unreadable."""
    import asyncio

    from zarr.core.sync import sync

    async def keys() -> list[str]:
        return [k async for k in zstore.list_prefix(PREFIX)]

    names = sorted(k for k in sync(keys()) if k.endswith(".json"))
    if not names:
        return None
    from zarr.core.buffer import default_buffer_prototype

    async def fetch() -> list[Any]:
        return await asyncio.gather(*(zstore.get(k, prototype=default_buffer_prototype()) for k in names))

    out: dict[str, dict[str, Any]] = {}
    for k, buf in zip(names, sync(fetch())):
        if buf is None:
            continue  # deleted by a compactor between the listing and the read: its records are in its fold
        try:
            doc = json.loads(buf.to_bytes())
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("records"), dict):
            return None
        out[k] = doc
    return out or None


def merge(docs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge shard documents: ``{path: {"state", "token", "t"}}`` of every path not deleted."""
    latest: dict[str, list[Any]] = {}
    for doc in docs:
        for path, rec in doc["records"].items():
            if path not in latest or rec[0] > latest[path][0]:
                latest[path] = rec
    tombs = sorted((rec[0], path) for path, rec in latest.items() if rec[1] == "deleted")
    out = {}
    for path, (t, state, token) in latest.items():
        if state == "deleted":
            continue
        if any(tt > t and (not tp or path == tp or path.startswith(tp + "/")) for tt, tp in tombs):
            continue
        out[path] = {"state": state, "token": token, "t": t}
    return out


def _write_fold(zstore: Any, records: Mapping[str, list[Any]]) -> str:
    fold = Shard()
    fold.name = f"fold~{time.time_ns()}~{uuid.uuid4().hex[:12]}"
    fold.records = dict(records)
    _set(zstore, fold.key, fold.doc(final=True))
    return fold.key


def compact(zstore: Any, docs: Mapping[str, Mapping[str, Any]]) -> None:
    """Fold the final shards of ``docs`` into one new final shard, then delete them."""
    finals = {k: d for k, d in docs.items() if d.get("final")}
    if len(finals) < 2:
        return
    latest: dict[str, list[Any]] = {}
    for d in finals.values():
        for path, rec in d["records"].items():
            if path not in latest or rec[0] > latest[path][0]:
                latest[path] = rec
    _write_fold(zstore, latest)
    _delete(zstore, finals)


def rebuild(zstore: Any, groups: Mapping[str, tuple[bool, str | None]], started: int | None = None) -> None:
    """Replace the inventory by the groups found by a walk, ``{path: (complete, token)}``, that
    began at ``started`` (``time.time_ns()``; default now).

    Writes one final shard holding the walk and a tombstone of the root (so older records no longer
    count), then deletes the other shards that hold nothing newer than ``started`` (a shard written
    to during the walk is kept: its newer records still count).
    """
    now = time.time_ns() if started is None else started  # records written since the walk began stay newer
    old = read(zstore) or {}
    recs = {p: [now, "complete" if complete else "pending", tok] for p, (complete, tok) in groups.items()}
    recs[""] = [now, "deleted", None]  # the root's tombstone: every record older than the walk is superseded
    new = _write_fold(zstore, recs)
    own = {s.key for s in _SHARDS.values()}
    stale = [k for k, d in old.items() if k != new and k not in own
             and max((r[0] for r in d["records"].values()), default=0) < now]
    _delete(zstore, stale)
