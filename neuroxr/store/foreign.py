"""What a study store is made in: a new path, an empty folder (hidden files aside) or a study store.

A writer that makes a store (:class:`~neuroxr.store.StudyStore` with ``mode="a"``, ``create=True``; the
example generator; :func:`~neuroxr.extract.extract_features`; ``neuroxr extract``) never turns a folder
holding other files (images, a README) or a Zarr group neuroxr never wrote into a study store: it would
write its root document and groups beside the files there, or join another program's Zarr data.
:func:`foreign` says why a location is refused, for the opener and the command line to word their line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._zarr import STORE_VERSION_ATTR, TOP_GROUPS, read_json, zarr_store

__all__ = ["NEW_STORE_ADVICE", "foreign", "foreign_at", "refusal", "store_there"]

#: what to do instead, for a writer's refusal
NEW_STORE_ADVICE = "make a new study store at a new path or in an empty folder"
#: names shown of a folder's other files
_SHOWN = 3


def foreign(url: str, zstore: Any, root_doc: dict[str, Any] | None) -> str | None:
    """Why ``url`` (opened as the Zarr store ``zstore``, its root document ``root_doc``, ``None`` when absent)
    is no study store and must not be made one, in one clause starting with its URL; ``None`` for a study store,
    a new path or an empty folder.

    A folder without a root document holding anything but hidden files (``.name``), Zarr's temporary copy of a
    document being written (``zarr.<uuid>.partial``) and the top-level groups of a study store (whose root
    document is written back) is refused, as is a Zarr group with neither the store version attribute nor any
    top-level group. A folder that cannot be listed (an object store's credentials that do not list) is taken
    as empty: the write says what it cannot do.
    """
    if root_doc is not None:
        attrs = root_doc.get("attributes") or {}
        if STORE_VERSION_ATTR in attrs or any(read_json(zstore, f"{g}/zarr.json") for g in TOP_GROUPS):
            return None
        return (f"{url!r} is a Zarr group but no neuroxr study store (no {STORE_VERSION_ATTR!r} attribute and none "
                f"of {list(TOP_GROUPS)})")
    from .integrity import _ZARR_TEMP

    try:
        names = sorted(n for n in _list_dir(zstore) if not n.startswith(".") and not _ZARR_TEMP.fullmatch(n))
    except Exception:  # not listable (no folder, no permission): nothing known to be there
        return None
    others = [n for n in names if n not in TOP_GROUPS or read_json(zstore, f"{n}/zarr.json") is None]
    if not others:
        return None
    shown = ", ".join(repr(n) for n in others[:_SHOWN]) + (f", ... ({len(others)} in all)" if len(others) > _SHOWN else "")
    return f"no study store at {url!r} (no Zarr group there) but a folder holding other files: {shown}"


def foreign_at(url: str, storage_options: Mapping[str, Any] | None = None) -> str | None:
    """:func:`foreign` of the store at ``url`` (fsspec ``storage_options``), read only: for a writer that
    makes its store later (a dry run, a command before it loads a model). ``None`` where it cannot be read (the
    opener says why)."""
    try:
        zstore = zarr_store(url, True, storage_options)
        return foreign(url, zstore, read_json(zstore, "zarr.json"))
    except Exception:  # unreachable, a file, no such protocol: StudyStore refuses it in its own words
        return None


def refusal(why: str, mode: str = "a") -> str:
    """The opener's line refusing the location :func:`foreign` found ``why`` no study store, for ``mode``."""
    return f"{why}; check the path" + ("." if mode == "r" else f", or {NEW_STORE_ADVICE}.")


def store_there(url: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Whether ``url`` (fsspec ``storage_options``) holds a store (a root ``zarr.json``; or something
    :class:`~neuroxr.store.StudyStore` refuses in its own words: a file, an unreachable URL), for a writer that
    makes its store only once it writes (:func:`~neuroxr.extract.extract_features`). Where there is none, a
    location the store would not be made in (:func:`foreign_at`) is refused now, before any work, with the
    opener's :class:`~neuroxr.errors.StoreError`."""
    from ..errors import StoreError
    from ._zarr import local_root

    local = local_root(url)
    if local is not None:
        there = os.path.isfile(local) or os.path.isfile(os.path.join(local, "zarr.json"))
    else:
        try:
            there = read_json(zarr_store(url, True, storage_options), "zarr.json") is not None
        except Exception:  # unreachable or malformed: the opener says why, in one line
            there = True
    why = None if there else foreign_at(url, storage_options)
    if why is not None:
        raise StoreError(refusal(why))
    return there


def _list_dir(zstore: Any) -> list[str]:
    """The names in the top folder of ``zstore`` (one listing, not recursive)."""
    from zarr.core.sync import sync

    async def collect() -> list[str]:
        return [k async for k in zstore.list_dir("")]

    return sync(collect())
