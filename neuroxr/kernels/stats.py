"""Column-wise correlation statistics (Pearson, Spearman, Spearman-Brown), vectorised over targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_namespace, to_numpy

__all__ = ["pearson", "spearman", "spearman_brown", "rank"]


def pearson(a: Any, b: Any) -> Any:
    """Pearson correlation of each column of ``a`` with the same column of ``b``.

    Parameters
    ----------
    a, b : array, shape (n_samples, n_columns) (or (..., n_samples, n_columns))
        Same shape, any array-API namespace. NaN anywhere in a column gives NaN for it; a constant
        column gives NaN.

    Returns
    -------
    array, shape (n_columns,) (or (..., n_columns))
    """
    xp = get_namespace(a, b)
    a = a - xp.mean(a, axis=-2, keepdims=True)
    b = b - xp.mean(b, axis=-2, keepdims=True)
    num = _colsum_prod(xp, a, b)
    den = xp.sqrt(_colsum_prod(xp, a, a) * _colsum_prod(xp, b, b))
    # a zero denominator (a constant column) yields NaN, as scipy.stats.pearsonr does
    nan = xp.asarray(float("nan"), dtype=num.dtype, device=getattr(num, "device", None))
    return xp.where(den > 0, num / xp.where(den > 0, den, xp.ones_like(den)), nan)


def _colsum_prod(xp: Any, a: Any, b: Any) -> Any:
    """Column sums of ``a * b`` (over axis -2) without materialising the product where possible."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.einsum("...ij,...ij->...j", a, b)
    return xp.sum(a * b, axis=-2)


def rank(a: Any) -> np.ndarray:
    """Average ranks (1-based) along axis -2; ties share their mean rank; a column with NaN is all NaN.

    Same result as ``scipy.stats.rankdata(a, axis=-2)``, computed on contiguous columns (one
    sort per column) with ties averaged in a vectorised pass.
    """
    a = np.asarray(to_numpy(a), dtype=np.float64)
    cols = np.ascontiguousarray(np.swapaxes(a, -1, -2))  # (..., m, n): each column contiguous
    n = cols.shape[-1]
    order = np.argsort(cols, axis=-1)  # ties are averaged below, so the sort need not be stable
    s = np.take_along_axis(cols, order, axis=-1)
    pos = np.broadcast_to(np.arange(n, dtype=np.float64), s.shape)
    start_new = np.ones(s.shape, dtype=bool)
    start_new[..., 1:] = s[..., 1:] != s[..., :-1]
    end_new = np.ones(s.shape, dtype=bool)
    end_new[..., :-1] = start_new[..., 1:]
    start = np.maximum.accumulate(np.where(start_new, pos, 0.0), axis=-1)
    end = np.flip(np.minimum.accumulate(np.flip(np.where(end_new, pos, n - 1.0), axis=-1), axis=-1), axis=-1)
    ranks = np.empty_like(s)
    np.put_along_axis(ranks, order, (start + end) / 2 + 1, axis=-1)
    ranks[np.isnan(cols).any(axis=-1)] = np.nan
    return np.swapaxes(ranks, -1, -2)


def spearman(a: Any, b: Any) -> np.ndarray:
    """Spearman rank correlation per column (Pearson of average ranks), as ``scipy.stats.spearmanr``.

    Computed on the host (ranking is cheap next to the regressions). Shapes as :func:`pearson`.
    """
    return pearson(rank(a), rank(b))


def spearman_brown(r: Any) -> Any:
    """Spearman-Brown prophecy for doubling the data: ``2 r / (1 + r)``."""
    return 2 * r / (1 + r)
