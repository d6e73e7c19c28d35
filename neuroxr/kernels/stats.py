"""Column-wise correlation statistics (Pearson, Spearman, Spearman-Brown), vectorised over targets."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

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
    num = xp.sum(a * b, axis=-2)
    den = xp.sqrt(xp.sum(a * a, axis=-2) * xp.sum(b * b, axis=-2))
    # a zero denominator (a constant column) yields NaN, as scipy.stats.pearsonr does
    nan = xp.asarray(float("nan"), dtype=num.dtype, device=getattr(num, "device", None))
    return xp.where(den > 0, num / xp.where(den > 0, den, xp.ones_like(den)), nan)


def rank(a: Any) -> np.ndarray:
    """Average ranks along axis -2 (ties share their mean rank); NaN columns stay NaN."""
    a = to_numpy(a)
    r = rankdata(a, axis=-2, method="average", nan_policy="propagate")
    return np.asarray(r, dtype=np.float64)


def spearman(a: Any, b: Any) -> np.ndarray:
    """Spearman rank correlation per column (Pearson of average ranks), as ``scipy.stats.spearmanr``.

    Computed on the host (ranking is cheap next to the regressions). Shapes as :func:`pearson`.
    """
    return pearson(rank(a), rank(b))


def spearman_brown(r: Any) -> Any:
    """Spearman-Brown prophecy for doubling the data: ``2 r / (1 + r)``."""
    return 2 * r / (1 + r)
