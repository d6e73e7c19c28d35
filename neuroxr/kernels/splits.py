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

__all__ = ["SPLIT_MODES", "SplitHalves", "draw_permutation", "split_means", "nanmean_repeats", "valid_counts"]

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
    if valid.all():
        return R.mean(axis=-1)
    count = valid.sum(axis=-1)
    total = np.where(valid, R, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / np.where(count > 0, count, np.nan)


def valid_counts(R: np.ndarray) -> np.ndarray:
    """Valid (non-NaN) repeats per (stimulus, neuroid), shape (n_stimuli, n_neuroids)."""
    return (~np.isnan(R)).sum(axis=-1)


class SplitHalves:
    """Split-half means of one response array for many permutations, NaN-aware.

    Precomputes the zero-filled responses and the valid mask once; :meth:`means` then gives the
    halves of a batch of reps. Rows (stimulus, neuroid) with every repeat valid go through one
    matrix product with a ``T x 2 reps`` selection matrix; only rows with missing trials need
    the per-row ranking of ``split="valid"``.

    Parameters
    ----------
    R : ndarray, shape (n_stimuli, n_neuroids, n_repeats)
    mode : {"valid", "slots"}
    """

    def __init__(self, R: np.ndarray, mode: str = "valid") -> None:
        if mode not in SPLIT_MODES:
            raise ValueError(f"The 'split' parameter must be one of {SPLIT_MODES}. Got {mode!r} instead.")
        self.shape = R.shape
        self.mode = mode
        n, k, T = R.shape
        self._complete = not np.isnan(R).any()
        if self._complete:
            # no zero-filled copy: R itself (a strided view is read a block of stimuli at a time)
            self._R = R
            self._R0 = R.reshape(n * k, T) if R.flags.c_contiguous else None
            self._total = R.sum(axis=2).reshape(n * k)
            self._valid = self._validf = self._count = None
            self._rows = np.zeros(0, dtype=np.intp)
            return
        valid = ~np.isnan(R)
        self._R0 = np.where(valid, R, 0.0).reshape(n * k, T)
        self._valid = valid.reshape(n * k, T)
        self._validf = self._valid.astype(np.float64)
        self._total = self._R0.sum(axis=1)
        self._count = self._valid.sum(axis=1).astype(np.float64)
        incomplete = ~self._valid.all(axis=1)
        self._rows = np.flatnonzero(incomplete) if mode == "valid" else np.zeros(0, dtype=np.intp)

    def _half_sums(self, M: np.ndarray) -> np.ndarray:
        """``M @ R0^T``, shape (reps, n*k): from the flat view, or a block of stimuli at a time."""
        if self._R0 is not None:
            return M @ self._R0.T
        n, k, T = self.shape
        out = np.empty((M.shape[0], n * k))
        step = max(1, (4 * 2**20) // max(1, k * T * 8))  # ~4 MiB copied per block
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            out[:, lo * k : hi * k] = M @ self._R[lo:hi].reshape(-1, T).T
        return out

    def means(self, perms: Any) -> tuple[np.ndarray, np.ndarray]:
        """Half means for each permutation.

        Parameters
        ----------
        perms : array-like of int, shape (n_reps, n_repeats)

        Returns
        -------
        h1, h2 : ndarray, shape (n_reps, n_stimuli, n_neuroids)
        """
        perms = np.atleast_2d(np.asarray(perms))
        n, k, T = self.shape
        n_reps = perms.shape[0]
        first = (T + 1) // 2
        # one reps x T selection matrix for half 1; half 2 is the total minus half 1. Products
        # with R0^T (a transposed view, no copy) come out as (reps, n*k), contiguous per rep.
        M = np.zeros((n_reps, T))
        for i, p in enumerate(perms):
            M[i, p[:first]] = 1.0
        s1 = self._half_sums(M)
        s2 = self._total[None, :] - s1
        if self._complete:
            c1 = np.full((n_reps, 1), float(first))
            c2 = np.full((n_reps, 1), float(T - first))
        else:
            c1 = M @ self._validf.T
            c2 = self._count[None, :] - c1
        if self._rows.size:
            R0 = self._R0[self._rows]
            valid = self._valid[self._rows]
            limit = (valid.sum(axis=1) + 1) // 2
            for i, p in enumerate(perms):
                vp = valid[:, p]
                in1 = vp & (np.cumsum(vp, axis=1) <= limit[:, None])
                in2 = vp & ~in1
                Rp = R0[:, p]
                s1[i, self._rows] = (Rp * in1).sum(1)
                s2[i, self._rows] = (Rp * in2).sum(1)
                c1[i, self._rows] = in1.sum(1)
                c2[i, self._rows] = in2.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            s1 /= np.where(c1 > 0, c1, np.nan)
            s2 /= np.where(c2 > 0, c2, np.nan)
        return s1.reshape(n_reps, n, k), s2.reshape(n_reps, n, k)


def split_means(R: np.ndarray, perms: Any, mode: str = "valid") -> tuple[np.ndarray, np.ndarray]:
    """Means of both split halves for every permutation (see :class:`SplitHalves`).

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
    return SplitHalves(R, mode).means(perms)
