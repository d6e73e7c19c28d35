"""Ctrl-C and SIGTERM at any moment of a command: one line and the shell's exit status, never a traceback.

While a command runs (the group's handler, ``_common._handled``), SIGTERM (a batch system's time limit, ``timeout``,
``kill``) is raised as Ctrl-C is, so its clean-up runs (a feature extraction's staging files, a sweep's cluster)
before the line. Before it runs (its modules importing, its arguments parsed) and after (the process ending), there
is nothing to clean up: the process started as the command (:func:`started_as_command`) prints the same line and
exits at once (:func:`install_early`, the first statement of ``neuroxr``). Standard library only: it runs before
any other import of the package.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

#: exit status of a command ended by Ctrl-C (SIGINT): 128 + 2, as shells report it
INTERRUPTED = 130
#: exit status of a command ended by SIGTERM: 128 + 15, as shells report it
TERMINATED = 143
#: the modules that run the command with ``python -m``
_MODULES = ("neuroxr", "neuroxr.cli")
#: options of the interpreter that take the next argument as their value (``-X importtime``)
_VALUED = ("W", "X", "-check-hash-based-pycs")


class Terminated(KeyboardInterrupt):
    """SIGTERM received: raised in the main thread, where a Ctrl-C's KeyboardInterrupt is, so the same
    ``finally`` blocks and handlers run."""


def interrupted_line(term: bool) -> str:
    """The one line of a command interrupted by SIGTERM (``term``) or Ctrl-C."""
    return (f"{'Terminated (SIGTERM)' if term else 'Interrupted (Ctrl-C)'}; complete entries and sets are kept: run the "
            "command again to go on.")


#: whether the line was printed (by the command's handler): a second signal then exits without another
_said = False


def said() -> None:
    """Record that the command's handler printed :func:`interrupted_line`."""
    global _said
    _said = True


def started_as_command(argv: list[str] | None = None) -> bool:
    """Whether this process is the ``neuroxr`` command: its console script, ``python -m neuroxr`` or ``python -m
    neuroxr.cli``.

    Parameters
    ----------
    argv : list of str, optional
        The interpreter's command line (default ``sys.orig_argv``): a program importing ``neuroxr.cli`` (a test, a
        notebook) or a worker process the command spawns (``python -c ...``) is not the command.
    """
    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    rest = iter(argv[1:])
    for arg in rest:
        if arg == "--" or not arg.startswith("-") or arg == "-":  # the script: the console script is named after the command
            script = next(rest, "") if arg == "--" else arg
            return os.path.splitext(os.path.basename(script))[0] in ("neuroxr", "neuroxr-script")
        if arg.startswith("--"):
            if arg[1:] in _VALUED:
                next(rest, None)
            continue
        for i, flag in enumerate(arg[1:], 1):  # bundled flags: -Im neuroxr, -mneuroxr.cli, -X importtime
            if flag == "m":
                return (arg[i + 1:] or next(rest, "")) in _MODULES
            if flag == "c":
                return False
            if flag in _VALUED:
                if i == len(arg) - 1:
                    next(rest, None)
                break
    return False


def _end(signum: int, frame: Any) -> None:
    """An interrupt while no command runs: what is printed goes out, then the command's line and exit status."""
    term = signum == signal.SIGTERM
    with contextlib.suppress(Exception):  # a write it interrupted (reentrant), a closed stdout
        sys.stdout.flush()
    if not _said:
        with contextlib.suppress(OSError):  # no stderr (2>&-)
            os.write(2, (interrupted_line(term) + "\n").encode())
    os._exit(TERMINATED if term else INTERRUPTED)


def install_early() -> None:
    """In the process started as the command (:func:`started_as_command`), Ctrl-C and SIGTERM end it with the
    command's line and status from now on (their handlers as Python sets them: one set otherwise is kept);
    :func:`interrupts` raises them while the command runs."""
    if not started_as_command():
        return
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            if signal.getsignal(signum) is default:
                signal.signal(signum, _end)


def _raise(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Within the block (a command running), SIGTERM raises :class:`Terminated` and Ctrl-C ``KeyboardInterrupt`` (where
    :func:`install_early` set it to end the process), in the main thread only (elsewhere the handlers are kept); the
    previous handlers come back after it."""
    try:
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise)}
        if signal.getsignal(signal.SIGINT) is _end:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
