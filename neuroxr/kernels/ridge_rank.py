"""Numerical rank of a ridge kernel: when its null space must be factored out.

A kernel ``Kc = Xc Xc^T`` of rank ``r`` below the training size has a null space whose computed
eigenvalues are rounding errors (about ``eps trace(K)`` in all), and the dual and hat forms divide
them by ``alpha``: the out-of-fold predictions then err by about ``0.01 .. 0.07 eps trace(K) / alpha``
relative (measured over ranks 8 to 30, 120 to 400 stimuli, float64 and float32; the constant falls
slowly with the number of stimuli). The cure is the one of the structural case (fewer features than
training stimuli): factorise the kernel at its rank (``K = L L^T``) and run the primal or low-rank
hat form on ``L`` (docs/kernels.md, "Ridge precision").

That factorisation (an ``n x n`` eigendecomposition, about 10x the hat form's inverse) is paid only
when the cheap bound says the rounding may matter: :func:`rank_risk` compares ``eps trace(K)``
(the diagonal, free) with ``alpha`` times :data:`RISK_TOLERANCE` (10x the precision target of the
dtype), so a well-regularised kernel never pays it; :func:`numerical_factor` then reads the rank
from the eigendecomposition and returns ``L`` only when it is below every fold's training size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import get_namespace

__all__ = ["rank_risk", "eps_trace_risk", "numerical_factor", "low_rank_factor", "PRECISION", "RISK_TOLERANCE"]

#: Relative precision of the out-of-fold predictions kept against scikit-learn's ``Ridge`` (float64
#: data), by computing dtype.
PRECISION = {"float64": 1e-8, "float32": 1e-3}

#: The rank check runs when ``eps trace(K) > RISK_TOLERANCE * PRECISION * alpha``: with the
#: measured error of at most ``0.07 eps trace(K) / alpha``, a kernel below it stays within
#: ``0.7 PRECISION`` whatever its rank.
RISK_TOLERANCE = 10.0


def _dtype_name(xp: Any, dtype: Any) -> str:
    return "float32" if dtype == xp.float32 else "float64"


def _T(xp: Any, a: Any) -> Any:
    """The transpose of the last two axes, in any array-API namespace."""
    return xp.swapaxes(a, -1, -2) if hasattr(xp, "swapaxes") else xp.permute_dims(a, (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2))


def rank_risk(K: Any, alpha: float) -> bool:
    """Whether the null space of the Gram ``K`` (any constant-centred, ``n x n``) could cost ridge
    with penalty ``alpha`` its precision: ``eps trace(K) > RISK_TOLERANCE * PRECISION * alpha``
    (``eps`` and the precision of ``K``'s dtype; ``trace(K)`` bounds the doubly centred kernel's
    and sets the size of its rounding errors). Least squares (``alpha = 0``) never is (its
    pseudo-inverse truncates the null space)."""
    if not alpha > 0:
        return False
    xp = get_namespace(K)
    return eps_trace_risk(float(xp.sum(xp.linalg.diagonal(K))), alpha, _dtype_name(xp, K.dtype))


def eps_trace_risk(trace: float, alpha: float, dtype: str = "float64") -> bool:
    """:func:`rank_risk` from the Gram's trace (e.g. the sum of the centred features' squares)."""
    return alpha > 0 and float(np.finfo(dtype).eps) * trace > RISK_TOLERANCE * PRECISION[dtype] * alpha


def low_rank_factor(K: Any, rank: int) -> Any:
    """``L`` (n, r) with ``L L^T`` the doubly centred ``K`` truncated to its top ``r <= rank``
    eigenvalues (those above the rounding level ``n eps max(eigenvalue)``)."""
    xp = get_namespace(K)
    n = int(K.shape[0])
    Kc = K - xp.mean(K, axis=0, keepdims=True)
    Kc = Kc - xp.mean(Kc, axis=1, keepdims=True)
    lam, U = xp.linalg.eigh((Kc + _T(xp, Kc)) / 2)
    eps = float(np.finfo(_dtype_name(xp, K.dtype)).eps)
    tol = n * eps * float(xp.max(xp.abs(lam)))
    r = min(rank, int(xp.sum(xp.astype(lam > tol, xp.int64))))
    lam, U = lam[n - r :], U[:, n - r :]
    return U * xp.sqrt(lam)[None, :]


def numerical_factor(K: Any, folds: Sequence[tuple[Any, Any]], alpha: float, n_features: int | None = None) -> Any:
    """A low-rank factor ``L`` (``K = L L^T`` up to the constant) when ridge on the Gram ``K``
    should run on it, else ``None``.

    Structurally (``n_features`` below every fold's training size minus one) always, as before;
    else, when :func:`rank_risk` fires, the kernel is factorised and ``L`` returned if its
    numerical rank is below every fold's training size minus one (a full-rank kernel continues
    as it would have: the eigendecomposition is then the only extra cost).
    """
    if not alpha > 0:
        return None
    n = int(K.shape[0])
    n_tr = min(n - len(te) for _, te in folds)
    if n_features is not None and int(n_features) < n_tr - 1:
        return low_rank_factor(K, int(n_features))
    if not rank_risk(K, alpha):
        return None
    L = low_rank_factor(K, n if n_features is None else min(int(n_features), n))
    return L if int(L.shape[1]) < n_tr - 1 else None
