"""One lock file per entry of a local store, with an owner and an expiry.

A lock is the file ``.neuroxr/locks/<quoted entry path>.lock`` holding JSON
``{"host", "pid", "created", "expires", "id"}``. It is created atomically (written to a private
file, then hard-linked to the lock name, which fails when the lock exists), so a lock file is never
seen half written. A lock is *stale*, and is broken by the next writer, when its expiry has passed
or when its owner ran on this host and its process is gone (a writer killed with ``kill -9``).

Nothing ever removes a lock file other than the one it judged: a breaker (of the stale lock it read)
and an owner releasing its lock both remove it under a *removal marker* of that very lock, the file
``<lock>.<identity>.<n>.rm`` created exclusively (``O_EXCL``), where the identity is the lock's
``id`` (a uuid4: a lock once removed never comes back) and ``n`` counts markers whose holders died.
Under the marker the remover reads the lock again and removes it only if it is still the one of that
identity; meanwhile no one else can remove it (any other remover of that lock waits for the marker),
and no one can replace it (a lock is only ever created where none is). A marker is held for one read
and one unlink: one whose holder is gone (its pid dead on this host, or older than
:data:`MARK_EXPIRY`) is passed over by taking the next ``n``, never removed while its lock lies
there. (Before, a breaker renamed the lock aside and linked it back when it was a fresh lock taken
meanwhile: a third writer locking in between kept the lock, the fresh one was dropped, and two
writers held one entry's lock.)

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
#: seconds after which a removal marker (held for one read and one unlink) is taken for its holder's, gone
MARK_EXPIRY = 30.0
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


def _identity(file: str, info: dict | None) -> str | None:
    """What names the lock ``file`` whose record reads ``info``: its ``id``; for an unreadable record
    (or one without an id), its inode and modification time (``None``: no lock there)."""
    if info is None:
        return None
    if info.get("id"):
        return f"id-{info['id']}"
    try:
        st = os.stat(file)
    except OSError:
        return None
    return f"ino-{st.st_ino}-{st.st_mtime_ns}"


def _mark_live(mark: str) -> bool | None:
    """Whether the removal marker ``mark`` has a live holder (``None``: it is gone)."""
    try:
        with open(mark) as f:
            info = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # being written, or its holder died writing it: judged by its age
        try:
            return time.time() - os.path.getmtime(mark) <= MARK_EXPIRY
        except FileNotFoundError:
            return None
        except OSError:
            return True
    return time.time() - float(info.get("created", 0)) <= MARK_EXPIRY and _owner_alive(info)


def _take_mark(file: str, ident: str) -> int | None:
    """Create the first free removal marker of the lock ``ident`` of ``file`` past those of holders that
    are gone; its number, or ``None`` when a live remover holds one (it removes the lock if need be)."""
    n = 0
    while True:
        mark = f"{file}.{ident}.{n}.rm"
        try:
            fd = os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            live = _mark_live(mark)
            if live:
                return None
            if live is False:  # a gone holder's marker stays (its lock may still lie there): take the next
                n += 1
            continue
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"host": _HOST, "pid": os.getpid(), "created": time.time()}, f)
        except BaseException:  # a Ctrl-C or a full disk: the marker goes, the lock is left as it was
            with contextlib.suppress(FileNotFoundError):
                os.unlink(mark)
            raise
        return n


def _remove(file: str, ident: str) -> bool:
    """Remove the lock ``file`` if it is still the lock ``ident`` (:func:`_identity`), under a removal
    marker of that lock (the module's docstring): never a lock another writer took since. ``False``
    when another remover of that lock is at work (it removes it), else ``True``: that lock is gone."""
    n = _take_mark(file, ident)
    if n is None:
        return False
    done = False
    try:
        if _identity(file, read_lock(file)) == ident:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file)
        done = True
    finally:  # once that lock is gone, every marker of it may go (it never comes back); else only ours
        for k in range(n + 1) if done else (n,):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{file}.{ident}.{k}.rm")
    return True


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
            if is_stale(self.file, info) and self._break(info):
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

    def _break(self, seen: dict | None) -> bool:
        """Remove the stale lock whose record was ``seen``, unless it is no longer the lock file;
        ``False`` when another writer is removing it (wait, then look again)."""
        ident = _identity(self.file, seen)
        return ident is None or _remove(self.file, ident)

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
            _remove(self.file, f"id-{self.id}")  # under its marker: never a lock taken after ours was broken
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
