"""Writing a user's file (a table, a report's page or figure) whole or not at all.

The store's groups have their own atomic writes (:mod:`neuroxr.store.atomic`); this module is for the
plain files the command line and the report write beside them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable
from typing import IO, Any

__all__ = ["write_whole"]


def write_whole(path: str | os.PathLike, write: Callable[[IO[Any]], Any], *, binary: bool = False) -> None:
    """Write the file ``path`` whole or not at all.

    ``write(f)`` fills a new file beside ``path``, which is then renamed over it: a write killed or
    interrupted midway leaves the earlier file as it was, never a truncated one that reads as complete.
    A device or a pipe, or a folder where no new file can be made, is written in place; a process's own
    descriptor (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``) is appended to, whatever it is open
    on (a pipe, a terminal, or a file the shell redirected it to: the output printed before stays, in its
    order). The permission bits of a file replaced are kept. The hidden files that killed writers of
    ``path`` left beside it (their process gone) are removed.

    Parameters
    ----------
    path : str or path-like
        The file; a link's target is replaced, never the link.
    write : callable
        Called once with the open file.
    binary : bool, default False
        Open the file in binary mode (else text, UTF-8, no newline translation).
    """
    mode, kw = ("wb", {}) if binary else ("w", {"encoding": "utf-8", "newline": ""})
    if _descriptor(path):  # its link leads to a pipe ("pipe:[N]", no folder to write beside) or the redirected file
        for stream in (sys.stdout, sys.stderr):  # what was printed comes first
            with contextlib.suppress(Exception):
                stream.flush()
        with open(path, mode.replace("w", "a"), **kw) as f:
            write(f)
        return
    target = os.path.realpath(path)
    if os.path.exists(target) and not os.path.isfile(target):
        with open(target, mode, **kw) as f:
            write(f)
        return
    folder, base = os.path.split(target)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, mode, **kw) as f:
            write(f)
        _keep_mode(target, tmp)
        os.replace(tmp, target)
    except PermissionError:  # no new file in this folder: in place
        with contextlib.suppress(OSError):
            os.remove(tmp)
        with open(target, mode, **kw) as f:
            write(f)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _remove_left_behind(folder, base)


def _keep_mode(target: str, tmp: str) -> None:
    """Give ``tmp`` the permission bits of the file ``target`` it replaces (an in-place write kept them: a
    report shared with a group, a table made read-only, stays so); a new file keeps the umask's."""
    with contextlib.suppress(OSError):
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))


#: a process's own file descriptors: links to whatever it has open, not files to replace
_DESCRIPTOR = re.compile(r"/dev/(stdin|stdout|stderr|fd/\d+)|/proc/(self|thread-self|\d+)/fd/\d+")


def _descriptor(path: str | os.PathLike) -> bool:
    """Whether ``path`` names one of the process's file descriptors (``/dev/stdout``, ``/dev/fd/1``, ...)."""
    return os.name == "posix" and _DESCRIPTOR.fullmatch(os.path.abspath(os.fspath(path))) is not None


def _remove_left_behind(folder: str, base: str) -> None:
    """Remove ``.<base>.<pid>[.<hex>].tmp`` files in ``folder`` whose writing process is gone (POSIX only:
    elsewhere a process cannot be asked whether it runs without being signalled)."""
    if os.name != "posix":  # pragma: no cover
        return
    pattern = re.compile(rf"\.{re.escape(base)}\.(\d+)(\.[0-9a-f]+)?\.tmp")
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            m = pattern.fullmatch(name)
            if m is None or int(m.group(1)) == os.getpid():
                continue
            try:
                os.kill(int(m.group(1)), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))
            except (OSError, OverflowError):  # another user's process, or no such pid form: left
                continue
