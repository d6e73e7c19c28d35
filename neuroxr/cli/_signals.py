"""SIGTERM as an interrupt: a batch system's time limit, ``timeout`` or ``kill`` ends a command as
Ctrl-C does, with its clean-up (a feature extraction's staging files, a sweep's cluster) and one line."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

#: exit status of a command ended by SIGTERM: 128 + 15, as shells report it
TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM received: raised in the main thread, where a Ctrl-C's KeyboardInterrupt is, so the same
    ``finally`` blocks and handlers run."""


def _raise(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (only from the main thread, where a handler
    can be set; elsewhere SIGTERM keeps its handler); the previous handler comes back after it."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
