"""Building blocks of the synthetic study: orthonormal bases and the exact ground truth.

:func:`expected_split_half` gives the expected inverse trial counts of a random split of the repeat
slots (hypergeometric); :func:`oof_ridge_r2` is the noise-free limit of the forward score, written
out fold by fold as its own reference (it does not call the product's ridge kernels, so the
generator's truth is independent of the code it checks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import linalg, stats
from threadpoolctl import threadpool_limits

from ..errors import ParameterError
from ..validation import check_int

__all__ = ["expected_split_half", "oof_ridge_r2", "orthonormalize", "orthonormal_complement", "unit_variance",
           "as_per_animal"]


def orthonormalize(g: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of a well-conditioned ``g`` (``n x k``, ``k <= n``).

    Cholesky QR, twice (orthogonal to machine precision for well-conditioned input, and several
    times faster than Householder QR); the same column space as ``g``, built column by column.
    """
    q = g
    # these matrices are thin: one BLAS thread is fastest, and avoids thread thrashing on busy machines
    with threadpool_limits(1, user_api="blas"):
        for _ in range(2):
            chol = np.linalg.cholesky(q.T @ q)
            q = linalg.solve_triangular(chol, q.T, lower=True).T
    return q


def orthonormal_complement(rng: np.random.Generator, basis: np.ndarray, k: int) -> np.ndarray:
    """``k`` random orthonormal columns orthogonal to the orthonormal columns of ``basis``."""
    n = basis.shape[0]
    g = rng.standard_normal((n, k))
    g -= basis @ (basis.T @ g)
    q = orthonormalize(g)
    q -= basis @ (basis.T @ q)  # re-project: orthogonality to machine precision
    return orthonormalize(q)


def unit_variance(x: np.ndarray) -> np.ndarray:
    """Scale centred columns to variance 1 (``ddof=0``)."""
    return x / np.sqrt(np.mean(x**2, axis=0, keepdims=True))


def expected_split_half(n_slots: int, n_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected inverse trial counts of the two halves of a random split of the repeat slots.

    The split takes a uniformly random permutation of the ``n_slots`` repeat slots; half 1 is the
    first ``ceil(n_slots / 2)`` slots, half 2 the rest. With ``v`` valid (non-NaN) slots the
    valid count of half 1 is hypergeometric.

    Parameters
    ----------
    n_slots : int
        Length ``T`` of the repeat axis.
    n_valid : int array, any shape
        Valid trials per (stimulus, neuroid); each needs ``ceil(n_slots / 2) + 1 <= v <= n_slots``
        (then neither half can be empty).

    Returns
    -------
    inv1, inv2 : float arrays, shape of ``n_valid``
        ``E[1 / m1]`` and ``E[1 / m2]``.
    """
    n_valid = np.asarray(n_valid)
    lo = (n_slots + 1) // 2 + 1
    if n_valid.size and (n_valid.min() < lo or n_valid.max() > n_slots):
        raise ParameterError(
            f"valid trial counts must lie in [{lo}, {n_slots}] so both halves are never empty; "
            f"got range [{n_valid.min()}, {n_valid.max()}]."
        )
    h1 = (n_slots + 1) // 2
    table1 = np.full(n_slots + 1, np.nan)
    table2 = np.full(n_slots + 1, np.nan)
    for v in range(lo, n_slots + 1):
        m1 = np.arange(max(0, v - (n_slots - h1)), min(v, h1) + 1)
        pmf = stats.hypergeom(n_slots, v, h1).pmf(m1)
        table1[v] = np.sum(pmf / m1)
        table2[v] = np.sum(pmf / (v - m1))
    return table1[n_valid], table2[n_valid]


def oof_ridge_r2(x: np.ndarray, y: np.ndarray, alpha: float, n_folds: int, fold_seed: int) -> np.ndarray:
    """Squared Pearson r between ``y`` columns and their out-of-fold ridge predictions from ``x``."""
    n = x.shape[0]
    inds = np.arange(n)
    np.random.RandomState(fold_seed).shuffle(inds)
    pred = np.empty_like(y)
    for test in np.array_split(inds, n_folds):
        train = np.setdiff1d(inds, test)
        xm, ym = x[train].mean(0), y[train].mean(0)
        xt = x[train] - xm
        w = np.linalg.solve(xt.T @ xt + alpha * np.eye(x.shape[1]), xt.T @ (y[train] - ym))
        pred[test] = (x[test] - xm) @ w + ym
    yc, pc = y - y.mean(0), pred - pred.mean(0)
    r = np.sum(yc * pc, 0) / np.sqrt(np.sum(yc**2, 0) * np.sum(pc**2, 0))
    return r**2


def as_per_animal(value: int | Sequence[int] | Mapping[str, int], animals: Sequence[str], what: str) -> dict[str, int]:
    """One integer per animal from an int, a sequence (one per animal) or a mapping; a value that is no
    integer (``6.5``, ``"6"``, which ``int()`` truncated or parsed) is a one-line :class:`ParameterError`."""
    def whole(v: object) -> int:
        return check_int(v, what, 0, caller="make_study")

    if isinstance(value, Mapping):
        missing = [a for a in animals if a not in value]
        if missing:
            raise ParameterError(f"{what}: no entry for animals {missing}; got keys {list(value)}.")
        return {a: whole(value[a]) for a in animals}
    if np.ndim(value) == 0:
        return {a: whole(value) for a in animals}
    value = list(value)  # type: ignore[arg-type]
    if len(value) != len(animals):
        raise ParameterError(f"{what}: needs one value per animal ({len(animals)}); got {len(value)}.")
    return {a: whole(v) for a, v in zip(animals, value)}
