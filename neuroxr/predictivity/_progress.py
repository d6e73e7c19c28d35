"""Progress of the directions' reps: the ``progress`` option's check, the reps' iterable (a tqdm bar,
a user's callable or plain), :class:`RepProgress` for work that runs per distinct split and
:class:`TargetProgress` for work that runs in parts of the targets (groups of missing stimuli, chunks of units)."""

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


class TargetProgress:
    """One bar of ``reps`` over work done in parts of the ``k`` targets (one group of targets sharing
    their stimuli, one chunk of units): a rep of a part of ``m`` targets moves it ``m / k`` of a rep,
    so the bar ends with the last part, not the first.

    :meth:`part` is the ``progress`` argument of one part's work (a callable wrapping that part's
    reps, or False without a bar); :meth:`reach` marks every rep of the first targets done."""

    def __init__(self, reps: int, progress: Any, desc: str, k: int) -> None:
        self._reps, self._k = reps, max(int(k), 1)
        self._it = iter(progress_iter(reps, progress, desc)) if progress else None
        self._work = self._shown = 0  # target-reps done, reps shown
        self._lock = threading.Lock()  # parts' reps may finish on several threads

    def part(self, m: int) -> Callable[[Iterable[int]], Iterable[int]] | bool:
        """The ``progress`` of a part of ``m`` targets."""
        if self._it is None:
            return False

        def ticks(reps: Iterable[int]) -> Iterable[int]:
            for i in reps:
                yield i
                self._add(m)  # rep i done when the next is asked for, as tqdm counts
        return ticks

    def reach(self, targets: int) -> None:
        """Every rep of the first ``targets`` targets done (a part ended, whatever its reps showed)."""
        if self._it is not None:
            with self._lock:
                self._work = max(self._work, int(targets) * self._reps)
                self._show()

    def _add(self, m: int) -> None:
        with self._lock:
            self._work += m
            self._show()

    def _show(self) -> None:
        for _ in range(min(self._reps, self._work // self._k) - self._shown):
            next(self._it, None)
            self._shown += 1
        if self._shown >= self._reps:  # the last rep shown: the bar closes (tqdm counts it then)
            for _ in self._it:
                pass
