"""One lock file per entry of a local store, with an owner and an expiry.

A lock is the file ``.neuroxr/locks/<quoted entry path>.lock`` holding JSON
``{"host", "pid", "created", "expires", "id"}``. It is created atomically (written to a private
file, then hard-linked to the lock name, which fails when the lock exists), so a lock file is never
seen half written. A lock is *stale*, and is broken by the next writer, when its expiry has passed
or when its owner ran on this host and its process is gone (a writer killed with ``kill -9``).
Breaking renames the lock file to a private name first, so two writers breaking the same stale lock
cannot both succeed.

The lock guards the short step that swaps a staged entry into place (and the recovery of an
interrupted swap); callers may also hold it around a whole computation (:meth:`StudyStore.lock`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from types import TracebackType
from urllib.parse import quote

from ..errors import StoreError
from ._zarr import HIDDEN

#: seconds after which a lock is stale even if its owner still seems alive (another host, pid reuse)
LOCK_EXPIRY = 600.0
#: seconds a writer waits for another writer's lock before giving up
LOCK_TIMEOUT = 120.0
_HOST = socket.gethostname()
#: the locks this process holds: lock file -> (thread, lock id), so the thread holding one takes it again
#: (a caller holding ``StudyStore.lock(path)`` around a computation, then writing ``path``)
_HELD: dict[str, tuple[int, str]] = {}
_HELD_LOCK = threading.Lock()


def lock_file(root: str, path: str) -> str:
    """Where the lock of entry ``path`` lives in the local store ``root``."""
    return os.path.join(root, HIDDEN, "locks", quote(path, safe="") + ".lock")


def _owner_alive(info: dict) -> bool:
    if info.get("host") != _HOST:
        return True  # cannot tell: rely on the expiry
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, KeyError, TypeError):
        return True
    return True


def read_lock(file: str) -> dict | None:
    """The owner record of a lock file (``None`` when there is no lock)."""
    try:
        with open(file) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: treated as held until it expires by its mtime


def is_stale(file: str, info: dict | None, now: float | None = None) -> bool:
    """Whether the lock ``file`` with owner record ``info`` may be broken."""
    now = time.time() if now is None else now
    if info is None:
        return False
    if not info:  # unreadable record: judge by the file's age
        try:
            return now - os.path.getmtime(file) > LOCK_EXPIRY
        except OSError:
            return False
    return float(info.get("expires", 0)) < now or not _owner_alive(info)


class EntryLock:
    """Exclusive lock of one entry of a local store (a context manager).

    Parameters
    ----------
    root : str
        The folder of the store.
    path : str
        The entry path, e.g. ``"neural/monkeyA"``.
    timeout : float, default :data:`LOCK_TIMEOUT`
        Seconds to wait for a live lock of another writer; then :class:`StoreError`. ``0`` tries once.
    expiry : float, default :data:`LOCK_EXPIRY`
        Seconds after which others may break this lock even if this process still runs.
    reentrant : bool, default False
        Taken at once by the thread that holds the lock already (as a reentrant lock: what
        :meth:`StudyStore.lock` hands out and its writes take). The recovery of an interrupted
        swap is not reentrant: it never finishes the swap its own thread is making.
    """

    def __init__(self, root: str, path: str, timeout: float = LOCK_TIMEOUT, expiry: float = LOCK_EXPIRY,
                 reentrant: bool = False) -> None:
        self.root, self.path = root, path
        self.file = lock_file(root, path)
        self.timeout, self.expiry = float(timeout), float(expiry)
        self.id: str | None = None
        self.reentrant = bool(reentrant)
        self._nested = False

    def acquire(self) -> bool:
        """Take the lock; ``False`` when ``timeout`` is 0 and another writer holds it. A reentrant
        lock held already by this thread is taken again at once (released with the outer hold)."""
        with _HELD_LOCK:
            held = _HELD.get(self.file)
        if self.reentrant and held is not None and held[0] == threading.get_ident():
            info = read_lock(self.file)
            if info and info.get("id") == held[1] and info.get("pid") == os.getpid():  # still ours (not broken)
                self._nested = True
                return True
        os.makedirs(os.path.dirname(self.file), exist_ok=True)
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                if self._try_create():
                    with _HELD_LOCK:
                        _HELD[self.file] = (threading.get_ident(), str(self.id))
                    return True
            except BaseException:  # a Ctrl-C after the link: nobody would release the file for LOCK_EXPIRY
                self.release()
                raise
            info = read_lock(self.file)
            if is_stale(self.file, info):
                self._break(info)
                continue
            if time.monotonic() >= deadline:
                if self.timeout == 0:
                    return False
                owner = f"{info.get('host')}:{info.get('pid')}" if info else "an unknown writer"
                if info and info.get("host") == _HOST and info.get("pid") == os.getpid():
                    owner += " (this process)"
                raise StoreError(
                    f"entry {self.path!r} is locked by {owner} (waited {self.timeout:.0f} s): another writer is "
                    f"replacing it; run again later, or delete {self.file} if that writer is gone."
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _try_create(self) -> bool:
        now = time.time()
        self.id = uuid.uuid4().hex
        record = {"host": _HOST, "pid": os.getpid(), "created": now, "expires": now + self.expiry, "id": self.id}
        tmp = f"{self.file}.{self.id}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.link(tmp, self.file)  # atomic, fails when the lock exists
            return True
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _break(self, seen: dict | None) -> None:
        aside = f"{self.file}.{uuid.uuid4().hex}.broken"
        try:
            os.rename(self.file, aside)
        except FileNotFoundError:
            return  # someone else broke or released it
        got = read_lock(aside)
        if seen and got and got.get("id") != seen.get("id"):
            # a fresh lock was taken between our read and our rename: give it back
            try:
                os.link(aside, self.file)
            except FileExistsError:
                pass
        os.unlink(aside)

    def release(self) -> None:
        """Drop the lock if this object still owns it (a nested hold leaves it to the outer one)."""
        if self._nested:
            self._nested = False
            return
        with _HELD_LOCK:
            if _HELD.get(self.file, (None, None))[1] == self.id:
                del _HELD[self.file]
        info = read_lock(self.file)
        if info and info.get("id") == self.id:
            try:
                os.unlink(self.file)
            except FileNotFoundError:
                pass
        self.id = None

    def __enter__(self) -> EntryLock:
        self.acquire()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class NoLock:
    """The lock of a store without a local folder (fsspec URLs): single-writer rule, no file."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> NoLock:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
