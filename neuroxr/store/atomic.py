"""Write aside, then swap: replacing an entry of a local store never loses the previous copy.

A new entry is written as a standalone Zarr group in ``.neuroxr/staging/<id>`` (``id`` names the
host and pid of its writer), marked complete there, and then, under the entry's lock:

1. a journal ``.neuroxr/swaps/<quoted path>.json`` records ``{"staging": id, "trash": id}``;
2. the old entry folder is renamed to ``.neuroxr/trash/<id>`` (if there is one);
3. the staged folder is renamed to the entry's place;
4. the trash folder and the journal are deleted.

Directory renames on one file system are atomic, so at every instant the entry is the old complete
copy, the new complete copy, or (between steps 2 and 3) absent with both copies on disk and the
journal naming them. :func:`recover` finishes such a swap (it only rolls forward: the staged copy is
complete before step 1) and is run when a store is opened (in either mode) and when a reader finds
an entry missing. Staging folders of writers that died before step 1 are removed when a store is
opened for writing. Where a dead writer's swap cannot be finished (a read-only folder),
:func:`orphaned` names its complete new copy for readers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote, unquote

from ._zarr import HIDDEN
from .lock import EntryLock, _owner_alive, is_stale, lock_file, read_lock

_HOST = socket.gethostname()
#: the metadata document of an empty Zarr v3 group (a parent folder made by a swap)
_GROUP_DOC = {"attributes": {}, "zarr_format": 3, "consolidated_metadata": None, "node_type": "group"}


def _dir(root: str, kind: str) -> str:
    return os.path.join(root, HIDDEN, kind)


def new_staging(root: str) -> str:
    """A fresh staging folder name ``<host>~<pid>~<uuid>`` (not created yet) and its parent made."""
    os.makedirs(_dir(root, "staging"), exist_ok=True)
    return f"{quote(_HOST, safe='')}~{os.getpid()}~{uuid.uuid4().hex}"


def staging_dir(root: str, sid: str) -> str:
    return os.path.join(_dir(root, "staging"), sid)


def journal_file(root: str, path: str) -> str:
    return os.path.join(_dir(root, "swaps"), quote(path, safe="") + ".json")


def has_journal(root: str, path: str) -> bool:
    return os.path.exists(journal_file(root, path))


def journal_refers(root: str, path: str, sid: str) -> bool:
    """Whether a pending swap of ``path`` names the staged group ``sid``."""
    rec = _read_json(journal_file(root, path))
    return bool(rec and rec.get("staging") == sid)


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def swap_in(root: str, path: str, sid: str, before_swap: Callable[[], None] | None = None) -> None:
    """Move the complete staged group ``sid`` to the entry ``path`` (caller holds the entry lock)."""
    os.makedirs(_dir(root, "swaps"), exist_ok=True)
    os.makedirs(_dir(root, "trash"), exist_ok=True)
    trash = uuid.uuid4().hex
    journal = journal_file(root, path)
    tmp = f"{journal}.{trash}.tmp"
    with open(tmp, "w") as f:
        json.dump({"staging": sid, "trash": trash}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, journal)
    if before_swap is not None:  # tests interrupt here
        before_swap()
    _roll_forward(root, path, {"staging": sid, "trash": trash})


def _roll_forward(root: str, path: str, rec: dict) -> None:
    src = staging_dir(root, rec["staging"])
    dst = os.path.join(root, *path.split("/"))
    trash = os.path.join(_dir(root, "trash"), rec["trash"])
    if os.path.isdir(src):
        if os.path.lexists(dst):
            os.rename(dst, trash)
        for attempt in range(3):
            try:
                _make_parents(root, path)
                os.rename(src, dst)
                break
            except FileNotFoundError:  # a parent was deleted meanwhile (under another entry's lock): make it again
                if attempt == 2:
                    raise
        _fsync_dir(os.path.dirname(dst))
    shutil.rmtree(trash, ignore_errors=True)
    try:
        os.unlink(journal_file(root, path))
    except FileNotFoundError:
        pass


def _make_parents(root: str, path: str) -> None:
    """Make the missing folders above the entry ``path``, each a Zarr group (its ``zarr.json``
    written), never a bare folder: a parent deleted after the writer required it (a layer's rewrite
    drops ``cache/gram/<model>/<layer>`` under that group's lock while a Gram below is swapped in)
    would otherwise hold the entry where Zarr cannot see it (a damaged store)."""
    d = root
    for part in path.split("/")[:-1]:
        d = os.path.join(d, part)
        try:
            os.mkdir(d)
        except FileExistsError:
            continue
        tmp = os.path.join(_dir(root, "staging"), f"{uuid.uuid4().hex}.zarr.json.tmp")  # never a stray key of the group
        with open(tmp, "w") as f:
            json.dump(_GROUP_DOC, f)
        os.replace(tmp, os.path.join(d, "zarr.json"))


def _drop_swap(root: str, path: str) -> dict | None:
    """Delete the swap journal of ``path`` with its staged and trash copies; its record, if any."""
    rec = _read_json(journal_file(root, path))
    if os.path.lexists(journal_file(root, path)):
        os.unlink(journal_file(root, path))
        for kind, name in (rec or {}).items():
            if kind in ("staging", "trash") and isinstance(name, str) and name:
                shutil.rmtree(os.path.join(_dir(root, kind), name), ignore_errors=True)
    return rec


def _drop_swaps_below(root: str, path: str) -> bool:
    """Drop the interrupted swaps of the entries below ``path`` whose writers are gone (their lock
    is free): a deleted group (``cache/gram/<model>/<layer>``) must not get them back at the next
    open. A live writer's swap is left to finish. Returns whether one was dropped."""
    dropped = False
    for entry in pending(root):
        if not entry.startswith(f"{path}/"):
            continue
        lock = EntryLock(root, entry, timeout=0)
        try:
            if not lock.acquire():
                continue
        except OSError:
            continue
        try:
            dropped |= _drop_swap(root, entry) is not None
        finally:
            lock.release()
    return dropped


def remove_entry(root: str, path: str) -> bool:
    """Delete the entry folder ``path`` (caller holds the lock): rename it away first, then delete.

    An interrupted swap of ``path`` or of an entry below it (a dead writer's journal) is dropped
    first, with its staged copy: else the next reader or open would finish it and the deleted entry
    would come back. Returns whether there was an entry or an unfinished swap of one."""
    dst = os.path.join(root, *path.split("/"))
    rec = _drop_swap(root, path)
    below = _drop_swaps_below(root, path)
    if not os.path.lexists(dst):
        return rec is not None or below
    os.makedirs(_dir(root, "trash"), exist_ok=True)
    trash = os.path.join(_dir(root, "trash"), uuid.uuid4().hex)
    os.rename(dst, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return True


def discard(root: str, sid: str) -> None:
    """Remove a staged group that will not be committed.

    After a failed write Zarr may still finish chunk writes already in flight (which recreate
    folders), so the removal is repeated until the folder stays gone (about a second at most).
    """
    d = staging_dir(root, sid)
    for _ in range(20):
        shutil.rmtree(d, ignore_errors=True)
        time.sleep(0.02)
        if not os.path.lexists(d):
            return


def recover(root: str, path: str | None = None, cleanup: bool = True) -> list[str]:
    """Finish interrupted swaps (of ``path`` only, or all) whose writer no longer holds the lock.

    Without ``path`` (and with ``cleanup``) also removes staging folders of dead writers on this
    host and trash left behind. Returns the entry paths whose swap was finished. Never raises for OS
    errors (a store on a read-only file system simply is not repaired: :func:`orphaned` then names
    the new copy readers use).
    """
    done: list[str] = []
    swaps = _dir(root, "swaps")
    names = [quote(path, safe="") + ".json"] if path is not None else _listdir(swaps)
    referenced: set[str] = set()
    for name in names:
        if name.endswith(".tmp") and path is None and cleanup:  # a journal a killed writer did not put in place
            _drop_journal_tmp(root, name)
        if not name.endswith(".json"):
            continue
        entry = unquote(name[: -len(".json")])
        lock = EntryLock(root, entry, timeout=0)
        try:
            if not lock.acquire():
                rec = _read_json(os.path.join(swaps, name))
                referenced.update(rec.values() if rec else ())
                continue
        except OSError:
            continue
        try:
            rec = _read_json(os.path.join(swaps, name))
            if rec is not None:
                _roll_forward(root, entry, rec)
                done.append(entry)
        except OSError:
            pass
        finally:
            lock.release()
    if path is None and cleanup:
        for sid in _listdir(_dir(root, "staging")):
            parts = sid.split("~")
            if sid in referenced or len(parts) != 3:
                continue
            host, pid = unquote(parts[0]), parts[1]
            if host == _HOST and pid.isdigit() and not _owner_alive({"host": host, "pid": int(pid)}):
                shutil.rmtree(staging_dir(root, sid), ignore_errors=True)
        for t in _listdir(_dir(root, "trash")):
            if t not in referenced:
                shutil.rmtree(os.path.join(_dir(root, "trash"), t), ignore_errors=True)
    return done


def _drop_journal_tmp(root: str, name: str) -> None:
    """Remove the swap journal ``name`` (``<quoted path>.json.<id>.tmp``) being written when its writer
    was killed: no swap started from it (its staged copy goes with the staging cleanup). Only when
    no writer holds the entry's lock, which :func:`swap_in`'s caller holds while writing it."""
    entry = unquote(name.partition(".json.")[0])
    lock = EntryLock(root, entry, timeout=0)
    try:
        if lock.acquire():
            try:
                os.remove(os.path.join(_dir(root, "swaps"), name))
            finally:
                lock.release()
    except OSError:
        pass


def pending(root: str) -> list[str]:
    """The entry paths with a swap journal (a swap running, or interrupted and not finished yet)."""
    return [unquote(n[: -len(".json")]) for n in _listdir(_dir(root, "swaps")) if n.endswith(".json")]


def orphaned(root: str, path: str) -> str | None:
    """The store-relative folder of the complete new copy of an interrupted swap of ``path`` whose
    writer is gone (its lock is free or stale), for readers when the swap cannot be finished (a
    read-only file system); ``None`` when there is no such swap or its writer still holds the lock."""
    rec = _read_json(journal_file(root, path))
    sid = rec.get("staging") if rec else None
    if not isinstance(sid, str) or not os.path.isdir(staging_dir(root, sid)):
        return None
    lock = lock_file(root, path)
    info = read_lock(lock)
    if info is not None and not is_stale(lock, info):
        return None  # a live writer between its two renames: wait for it
    return f"{HIDDEN}/staging/{sid}"


def _listdir(d: str) -> list[str]:
    try:
        return sorted(os.listdir(d))
    except OSError:
        return []


def _read_json(file: str) -> dict | None:
    try:
        with open(file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
