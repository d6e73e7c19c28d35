"""Split halves of the repeat axis, NaN-aware, for every rep at once.

Two modes (``split=``):

``"valid"`` (default)
    Per rep one random permutation of the repeat slots (drawn exactly as ``reverse_pred`` draws
    it). For each (stimulus, neuroid) the *valid* (non-NaN) repeats, taken in permuted order,
    are halved: the first ``ceil(v/2)`` go to half 1, the rest to half 2. Halves are balanced per
    stimulus and never empty when ``v >= 2``. When no trial is missing this is identical to
    ``"slots"``, so parity with ``reverse_pred`` holds on complete data.
``"slots"``
    ``reverse_pred``'s split: the first ``ceil(T/2)`` permuted slots form half 1, NaN slots
    included. With unequal repeat counts a half can be all-NaN for some stimuli (its mean is
    then NaN) and halves are unbalanced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SPLIT_MODES", "draw_permutation", "split_means", "nanmean_repeats", "valid_counts"]

SPLIT_MODES = ("valid", "slots")


def draw_permutation(rng: np.random.Generator, n_repeats: int) -> np.ndarray:
    """One permutation of ``n_repeats`` slots; consumes the same random numbers as
    ``rng.shuffle`` of a ``(n_repeats, ...)`` array along axis 0 (``reverse_pred``'s draw)."""
    return rng.permutation(n_repeats)


def nanmean_repeats(R: np.ndarray) -> np.ndarray:
    """NaN-mean over the last (repeat) axis without warnings; all-NaN gives NaN.

    Parameters
    ----------
    R : ndarray, shape (n_stimuli, n_neuroids, n_repeats)

    Returns
    -------
    ndarray, shape (n_stimuli, n_neuroids)
    """
    valid = ~np.isnan(R)
    count = valid.sum(axis=-1)
    total = np.where(valid, R, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / np.where(count > 0, count, np.nan)


def valid_counts(R: np.ndarray) -> np.ndarray:
    """Valid (non-NaN) repeats per (stimulus, neuroid), shape (n_stimuli, n_neuroids)."""
    return (~np.isnan(R)).sum(axis=-1)


def split_means(R: np.ndarray, perms: Any, mode: str = "valid") -> tuple[np.ndarray, np.ndarray]:
    """Means of both split halves for every permutation.

    Parameters
    ----------
    R : ndarray, shape (n_stimuli, n_neuroids, n_repeats)
        Responses with NaN for missing trials.
    perms : array-like of int, shape (n_reps, n_repeats)
        One permutation of the repeat slots per rep.
    mode : {"valid", "slots"}
        See the module docstring.

    Returns
    -------
    h1, h2 : ndarray, shape (n_reps, n_stimuli, n_neuroids)
        NaN-means of half 1 and half 2 (NaN where a half holds no valid trial).
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"The 'split' parameter must be one of {SPLIT_MODES}. Got {mode!r} instead.")
    perms = np.atleast_2d(np.asarray(perms))
    n, k, T = R.shape
    valid = ~np.isnan(R)
    R0 = np.where(valid, R, 0.0)
    n_reps = perms.shape[0]
    if mode == "slots":
        # one (T x 2 reps) selection matrix: sums and counts of every half in two products
        first = (T + 1) // 2
        M = np.zeros((T, 2 * n_reps))
        for i, p in enumerate(perms):
            M[p[:first], 2 * i] = 1.0
            M[p[first:], 2 * i + 1] = 1.0
        sums = R0.reshape(n * k, T) @ M
        counts = valid.reshape(n * k, T).astype(np.float64) @ M
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / np.where(counts > 0, counts, np.nan)
        means = means.reshape(n, k, n_reps, 2)
        return np.moveaxis(means[..., 0], 2, 0), np.moveaxis(means[..., 1], 2, 0)
    h1 = np.empty((n_reps, n, k))
    h2 = np.empty((n_reps, n, k))
    v_total = valid.sum(axis=-1)
    limit = (v_total + 1) // 2
    for i, p in enumerate(perms):
        vp = valid[..., p]
        rank = np.cumsum(vp, axis=-1)
        in1 = vp & (rank <= limit[..., None])
        in2 = vp & ~in1
        Rp = R0[..., p]
        c1, c2 = in1.sum(-1), in2.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            h1[i] = (Rp * in1).sum(-1) / np.where(c1 > 0, c1, np.nan)
            h2[i] = (Rp * in2).sum(-1) / np.where(c2 > 0, c2, np.nan)
    return h1, h2
