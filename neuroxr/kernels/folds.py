"""Cross-validation folds exactly as ``reverse_pred`` draws them."""

from __future__ import annotations

import numpy as np

from ..errors import LayoutError

__all__ = ["kfold_indices"]


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
