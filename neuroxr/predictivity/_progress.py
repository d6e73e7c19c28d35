"""Progress of the directions' reps: the ``progress`` option's check, the reps' iterable (a tqdm bar,
a user's callable or plain) and :class:`RepProgress` for work that runs per distinct split."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..validation import check_bool


def check_progress(progress: Any, caller: str = "") -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` (starting with ``caller``) unless ``progress``
    is a bool or a callable that wraps the iterable of reps (e.g. ``tqdm.tqdm``)."""
    check_bool(progress, "progress", "Pass progress=True for a tqdm bar, or a callable wrapping the reps' iterable "
               "(e.g. tqdm.tqdm).", allow_callable=True, caller=caller)


def progress_iter(reps: int, progress: bool | Callable[[Iterable[int]], Iterable[int]], desc: str) -> Iterable[int]:
    """The reps' iterable: wrapped by ``progress`` (a callable), a tqdm bar (True) or plain (False)."""
    check_progress(progress)
    if callable(progress):
        return progress(range(reps))
    if progress:
        from tqdm.auto import tqdm

        return tqdm(range(reps), desc=desc, unit="rep")
    return range(reps)


class RepProgress:
    """Progress in reps while the work runs per distinct split: draw ``j`` completes the reps
    ``inverse == j``."""

    def __init__(self, reps: int, inverse: np.ndarray, progress: Any, desc: str) -> None:
        self._it = iter(progress_iter(reps, progress, desc))
        self._counts = np.bincount(np.asarray(inverse, dtype=int), minlength=1)
        self._lock = threading.Lock()  # draws may finish on several threads

    def draw(self, j: int) -> None:
        with self._lock:
            for _ in range(int(self._counts[j]) if j < len(self._counts) else 0):
                next(self._it, None)

    def close(self) -> None:
        """Every rep done (the rest of the reps, e.g. without a ceiling, all the mean's)."""
        with self._lock:
            for _ in self._it:
                pass
