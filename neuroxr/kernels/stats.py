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

    Same result as ``scipy.stats.rankdata(a, axis=-2)``: one sort per column (on contiguous
    copies of the columns), then the tie groups found in one flat pass, a cache-sized block of
    columns at a time.
    """
    a = np.asarray(to_numpy(a), dtype=np.float64)
    cols = np.ascontiguousarray(np.swapaxes(a, -1, -2))  # (..., m, n): each column contiguous
    n = cols.shape[-1]
    has_nan = np.isnan(cols).any(axis=-1)
    if cols is a or np.shares_memory(cols, a):
        cols = cols.copy()  # the ranks overwrite it below
    flat = cols.reshape(-1, n)
    step = max(1, _RANK_BLOCK // max(n, 1))
    for lo in range(0, flat.shape[0], step):
        flat[lo : lo + step] = _rank_rows(flat[lo : lo + step])  # in place: one copy in all
    cols[has_nan] = np.nan
    return np.swapaxes(cols, -1, -2)


_RANK_BLOCK = 2**17  # values ranked per block (1 MiB of float64: gathers and scatters stay in cache)


def _rank_rows(block: np.ndarray) -> np.ndarray:
    """Average ranks along each row of a 2-D block."""
    rows, n = block.shape
    order = np.argsort(block, axis=-1)  # ties are averaged below, so the sort need not be stable
    gidx = order.ravel()
    gidx += np.repeat(np.arange(0, rows * n, n), n)
    s = block.ravel()[gidx]  # every row sorted, one after the other
    ranks = np.empty(s.shape[0])
    new = np.empty(s.shape[0], dtype=bool)
    if s.shape[0]:
        new[0] = True
        np.not_equal(s[1:], s[:-1], out=new[1:])
        new[::n] = True  # a row's first value starts a group
    if new.all():  # no ties: ranks 1..n in sorted order
        ranks[gidx] = np.tile(np.arange(1.0, n + 1.0), rows)
    else:
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, s.shape[0]))
        ranks[gidx] = np.repeat(starts % n + (sizes + 1) / 2, sizes)
    return ranks.reshape(rows, n)


def spearman(a: Any, b: Any) -> np.ndarray:
    """Spearman rank correlation per column (Pearson of average ranks), as ``scipy.stats.spearmanr``.

    Computed on the host (ranking is cheap next to the regressions). Shapes as :func:`pearson`.
    """
    return pearson(rank(a), rank(b))


def spearman_brown(r: Any) -> Any:
    """Spearman-Brown prophecy for doubling the data: ``2 r / (1 + r)``."""
    return 2 * r / (1 + r)
