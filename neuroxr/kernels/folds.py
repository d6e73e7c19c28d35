"""Cross-validation folds exactly as ``reverse_pred`` draws them, and the one check of the fold
parameters and of fewer stimuli than folds for every caller (:func:`check_fold_params`,
:func:`stimulus_folds`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import LayoutError
from ..validation import check_int

__all__ = ["kfold_indices", "check_fold_params", "stimulus_folds", "fold_blocks"]


def kfold_indices(n: int, n_folds: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs of a shuffled K-fold split.

    ``inds = arange(n)`` is shuffled with ``RandomState(seed)`` and cut by ``array_split`` into
    ``n_folds`` folds; fold ``i`` is the test set, the rest (in shuffled order) the training set.
    These are ``reverse_pred``'s folds for ``seed=0``.

    Parameters
    ----------
    n : int
        Number of stimuli.
    n_folds : int
        Number of folds; needs ``2 <= n_folds <= n``.
    seed : int
        Seed of the ``numpy.random.RandomState`` that shuffles the stimuli.

    Returns
    -------
    list of (train, test) int arrays
    """
    if n_folds < 2:
        raise LayoutError(f"n_folds must be at least 2; got {n_folds}.")
    if n < n_folds:
        raise LayoutError(
            f"too few stimuli for the folds: {n} stimuli cannot be split into n_folds={n_folds} folds; "
            f"use fewer folds or more stimuli."
        )
    inds = np.arange(n)
    np.random.RandomState(seed).shuffle(inds)
    out = []
    for test in np.array_split(inds, n_folds):
        is_test = np.zeros(n, dtype=bool)
        is_test[test] = True
        out.append((inds[~is_test[inds]], inds[is_test[inds]]))
    return out


#: The fewest stimuli an out-of-fold Pearson r is computed over (over 2 it is always +-1).
MIN_STIMULI = 3


def check_fold_params(n_folds: Any, fold_seed: Any, caller: str = "") -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` (starting with ``caller``) for a bad ``n_folds``
    or ``fold_seed``: the one check of the fold parameters of the directions and of the geometry's ridge fits."""
    check_int(n_folds, "n_folds", 2, "Pass e.g. n_folds=10.", caller=caller)
    check_int(fold_seed, "fold_seed", 0, "The folds are a RandomState(fold_seed) shuffle; pass e.g. fold_seed=0.", 2**32 - 1,
              caller=caller)


def stimulus_folds(n: int, n_folds: int, fold_seed: int, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`~neuroxr.kernels.folds.kfold_indices` of ``n`` stimuli, or a one-line
    :class:`~neuroxr.errors.LayoutError` naming the inputs ``name`` when they hold fewer stimuli than folds.

    Parameters
    ----------
    n : int
        Number of stimuli.
    n_folds, fold_seed : int
        Checked first (:func:`check_fold_params`).
    name : str
        The inputs in the message, e.g. ``"neural/features"``.

    Returns
    -------
    list of (train, test) int arrays
    """
    check_fold_params(n_folds, fold_seed)
    if n < n_folds:
        raise LayoutError(
            f"{name}: too few stimuli for the folds: {n} stimuli cannot be split into n_folds={n_folds} folds. "
            f"Use fewer folds or more stimuli."
        )
    if n < MIN_STIMULI:
        raise LayoutError(
            f"{name}: too few stimuli: {n}; an out-of-fold correlation needs at least {MIN_STIMULI} "
            f"(over 2 it is always +-1). Use more stimuli."
        )
    return kfold_indices(n, n_folds, fold_seed)


def min_stimuli(n_folds: int) -> int:
    """The fewest stimuli a cross-validated fit scores: ``max(n_folds, MIN_STIMULI)``."""
    return max(int(n_folds), MIN_STIMULI)


Folds = Sequence[tuple[np.ndarray, np.ndarray]]


def fold_blocks(folds: Folds, n: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Reorder stimuli so that each test fold is a contiguous block.

    Returns ``order`` (stimulus indices, test folds concatenated) and the ``(start, stop)`` of
    each fold in that order. Training rows of fold ``f`` are all rows outside its block.
    """
    order = np.concatenate([np.asarray(te) for _, te in folds])
    if order.shape[0] != n or np.unique(order).shape[0] != n:
        raise LayoutError("the test folds must partition the stimuli (each exactly once).")
    bounds, start = [], 0
    for _, te in folds:
        bounds.append((start, start + len(te)))
        start += len(te)
    return order, bounds
