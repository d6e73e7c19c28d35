"""Few requests per entry on object stores: staged in memory, written and read in concurrent batches.

On an fsspec URL every key is a request. An entry written through xarray straight into the store
costs several requests per array (existence checks, metadata reads and rewrites) plus one per
chunk, one after another. Here an entry of at most :data:`BATCH_BYTES` is instead

1. written by xarray into a Zarr ``MemoryStore`` (no requests), marked complete there, and its
   metadata consolidated into its group document (``zarr.json`` then describes every array);
2. uploaded with concurrent ``set`` calls: every array document and chunk at once, then the group
   document (which carries the completion marker) last;

and read back with one read of the group document (the consolidated metadata names every chunk)
plus one concurrent batch of chunk reads into memory (:func:`fetch`). Larger entries (big feature
sets) are written in place by xarray as before and read lazily.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import xarray as xr

from ._zarr import list_keys, read_key
from .integrity import chunk_keys, mark_group

__all__ = ["BATCH_BYTES", "GroupCache", "stage", "put_many", "get_many", "keys_below", "delete_keys", "delete_prefix",
           "fetch", "memory_group", "is_consolidated"]

#: entries up to this size are staged in memory and written / read in one batch each
BATCH_BYTES = 64 * 2**20


def _buffer(data: bytes) -> Any:
    from zarr.core.buffer import default_buffer_prototype

    return default_buffer_prototype().buffer.from_bytes(data)


def put_many(zstore: Any, items: Mapping[str, bytes]) -> None:
    """Write every ``key -> bytes`` concurrently (one batch of requests)."""
    from zarr.core.sync import sync

    async def run() -> None:
        await asyncio.gather(*(zstore.set(k, _buffer(v)) for k, v in items.items()))

    if items:
        sync(run())


def get_many(zstore: Any, keys: Iterable[str]) -> dict[str, bytes | None]:
    """Read every key concurrently; ``None`` for absent keys."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    keys = list(keys)

    async def run() -> list[Any]:
        return await asyncio.gather(*(zstore.get(k, prototype=default_buffer_prototype()) for k in keys))

    return {k: (None if b is None else b.to_bytes()) for k, b in zip(keys, sync(run()) if keys else [])}


def keys_below(zstore: Any, path: str) -> list[str]:
    """Every key below the group or prefix ``path`` (one listing request on S3)."""
    keys = _s3_keys(zstore, path) if type(getattr(zstore, "fs", None)).__name__ == "S3FileSystem" else None
    return list_keys(zstore, path + "/") if keys is None else keys


def delete_keys(zstore: Any, keys: Iterable[str], first: str | None = None) -> None:
    """Delete ``keys``: ``first`` (a group document, so nobody sees the group complete while its data
    go) before the others, the others concurrently."""
    from zarr.core.sync import sync

    keys = list(keys)

    async def run(ks: list[str]) -> None:
        await asyncio.gather(*(zstore.delete(k) for k in ks))

    if first is not None and first in keys:
        sync(zstore.delete(first))
    rest = [k for k in keys if k != first]
    if rest:
        sync(run(rest))


def delete_prefix(zstore: Any, path: str) -> bool:
    """Delete the group ``path`` and everything below it, its document first. Returns whether anything
    was there."""
    keys = keys_below(zstore, path)
    delete_keys(zstore, keys, first=f"{path}/zarr.json")
    return bool(keys)


def _s3_keys(zstore: Any, path: str) -> list[str] | None:
    """The keys below ``path`` in one listing request (s3fs's general search adds two requests when
    nothing is found); ``None`` when this s3fs has no such call."""
    from zarr.core.sync import sync

    lsdir = getattr(zstore.fs, "_lsdir", None)
    if lsdir is None:
        return None
    root = zstore.path.rstrip("/")
    try:
        found = sync(lsdir(f"{root}/{path}", delimiter=""))
    except FileNotFoundError:
        return []
    except TypeError:  # another signature
        return None
    return sorted(f["name"][len(root) + 1 :] for f in found if f.get("type", "file") != "directory")


def stage(ds: xr.Dataset, encoding: Mapping[str, Any]) -> tuple[dict[str, bytes], str]:
    """Write ``ds`` into memory as a complete, consolidated Zarr group; ``({key: bytes}, token)``."""
    import zarr
    from zarr.storage import MemoryStore

    mem = MemoryStore()
    ds.to_zarr(mem, mode="w", consolidated=False, encoding=dict(encoding), write_empty_chunks=True, zarr_format=3)
    token = mark_group(zarr.open_group(mem, mode="r+", zarr_format=3), mem, "")
    zarr.consolidate_metadata(mem, zarr_format=3)
    return {k: read_key(mem, k) for k in list_keys(mem)}, token


def is_consolidated(doc: Mapping[str, Any] | None) -> bool:
    """Whether a group document carries the metadata of its arrays (written by :func:`stage`)."""
    return bool(doc) and isinstance(doc.get("consolidated_metadata"), Mapping)


def fetch(zstore: Any, path: str, doc: Mapping[str, Any]) -> dict[str, bytes]:
    """The keys of the consolidated group ``path`` (document ``doc``), read in one concurrent batch
    of chunk reads: ``{key: bytes}`` relative to the group, for :func:`memory_group`."""
    meta = doc["consolidated_metadata"].get("metadata", {})
    keys = []
    for name, m in meta.items():
        if isinstance(m, Mapping) and m.get("node_type") == "array":
            keys.extend(f"{name}/{c}" for c in chunk_keys(dict(m)))
    got = get_many(zstore, [f"{path}/{k}" for k in keys])
    items = {"zarr.json": json.dumps(doc).encode()}
    items.update({k: got[f"{path}/{k}"] for k in keys if got[f"{path}/{k}"] is not None})
    return items


def memory_group(items: Mapping[str, bytes]) -> Any:
    """A ``MemoryStore`` holding a group's keys (``zarr.json`` at its root), e.g. what
    :func:`fetch` read or what :func:`stage` wrote; open it with ``xr.open_zarr(mem, consolidated=True)``."""
    from zarr.storage import MemoryStore

    mem = MemoryStore()
    put_many(mem, items)
    return mem


class GroupCache:
    """Small groups in memory (``MemoryStore``), keyed by ``(path, version token)`` (a rewrite gets a
    new token, so it is never answered with the old copy), at most ``max_bytes`` of their keys' bytes,
    the least recently used dropped first; ``max_bytes=0`` keeps nothing. Safe to share between
    threads (a sweep gathers its entries on several)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._groups: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def keep(self, key: tuple[str, str], items: Mapping[str, bytes]) -> Any:
        """``items`` (a group's keys, ``zarr.json`` at its root) as a ``MemoryStore``, kept under ``key``
        when it fits."""
        mem = memory_group(items)
        size = sum(len(v) for v in items.values())
        if size <= self.max_bytes:
            with self._lock:
                self._drop(key)
                self._groups[key] = (mem, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    self._drop(next(iter(self._groups)))
        return mem

    def get(self, key: tuple[str, str]) -> Any:
        """The group kept under ``key`` (now the most recently used), or None."""
        with self._lock:
            if key not in self._groups:
                return None
            self._groups.move_to_end(key)
            return self._groups[key][0]

    def forget(self, path: str) -> None:
        """Drop the groups at ``path`` and below."""
        with self._lock:
            for k in [k for k in self._groups if k[0] == path or k[0].startswith(path + "/")]:
                self._drop(k)

    def _drop(self, key: tuple[str, str]) -> None:
        if key in self._groups:
            self._bytes -= self._groups.pop(key)[1]
