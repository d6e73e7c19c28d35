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

A Gram cannot do better: its eigenvalues are known to about ``eps max(eigenvalue)`` only, so a
kernel of *nearly* low rank (small but genuine eigenvalues below that level, e.g. features of rank
18 plus a part ``1e-7`` their size, at scale ``1e4``) loses them, and its error is about that level
over ``alpha``. Features in memory need no Gram for this: :func:`feature_factor` rotates the
centred features onto their principal axes (``F = Xc V``, the thin SVD's ``U S``, from a
Householder QR and the eigenvectors of the rotated design's own Gram). Ridge on ``F`` equals ridge
on ``X``, and ``F``'s columns are graded by size, so a Cholesky factorisation of the primal fold
systems is accurate relative to each column's own size, as scikit-learn's SVD solver is. Its one
weakness is a fold's null space (more axes than training stimuli), which takes ``alpha`` only and
amplifies the rounding of the axes it lies along (``eps sum(s_k^2) / alpha`` over the axes past
the training size); the dual form's weakness is ``eps max(s^2) / s_(n_tr-1)^2``. With the
features at hand, :func:`numerical_factor` runs whichever has the smaller of the two (measured:
each predicts its form's error within about 15x; in float64 the form picked never exceeded
``0.4 PRECISION`` over the tested families, docs/kernels.md "Ridge precision").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import centred_triangle, get_namespace, to_numpy
from ..errors import ParameterError, warn, where

__all__ = ["diag_max", "rank_risk", "eps_trace_risk", "check_resolved", "check_gram_precision", "gram_error", "HIDDEN_SPREAD", "FLOAT32_RESOLVED", "feature_risk", "numerical_factor", "low_rank_factor", "feature_factor",
           "principal_axes", "primal_first", "gram_factor", "primal_design", "negligible_axes", "PRECISION", "RISK_TOLERANCE", "NEGLIGIBLE"]

#: Relative precision of the out-of-fold predictions kept against scikit-learn's ``Ridge`` (float64
#: data), by computing dtype.
PRECISION = {"float64": 1e-8, "float32": 1e-3}

#: The rank check runs when ``eps trace(K) > RISK_TOLERANCE * PRECISION * alpha``: with the
#: measured error of at most ``0.07 eps trace(K) / alpha``, a kernel below it stays within
#: ``0.7 PRECISION`` whatever its rank.
RISK_TOLERANCE = 10.0

#: A principal axis whose squared size is at most ``NEGLIGIBLE * PRECISION * alpha`` moves the
#: predictions by less than ``NEGLIGIBLE * PRECISION`` of the targets' size: it is dropped.
NEGLIGIBLE = 1e-6


#: float32 resolves a ridge fit (within ``1e-3`` of float64, docs/kernels.md "Ridge precision") on
#: features in memory where ``eps^2 trace(K) / alpha`` is at most this; from a float32 Gram (or designs
#: combined as given) only where :func:`rank_risk` does not fire (``eps trace(K) / alpha <= 1e-2``).
FLOAT32_RESOLVED = 1e-3


def check_resolved(trace: float, alpha: float, dtype: str, gram: bool = False, caller: str = "") -> None:
    """Refuse or flag a float32 ridge fit that float32 may not resolve, from the kernel's trace (free:
    the diagonal or the centred features' sum of squares).

    Features in memory (principal axes) resolve it where ``eps^2 trace(K) / alpha <=``
    :data:`FLOAT32_RESOLVED`; beyond, the out-of-fold predictions err by ``1e-3 ... 1`` relative:
    refused (:class:`~neuroxr.errors.ParameterError`). From a float32 Gram alone (``gram``: one
    given to the kernels in float32, or designs combined as given) above the rank bound
    (``eps trace(K) / alpha > RISK_TOLERANCE * PRECISION``) full-rank and exactly low-rank kernels
    still resolve, nearly low-rank ones do not, and the trace cannot tell them apart: one
    :class:`~neuroxr.errors.NeuroxrWarning`. float64 and least squares (``alpha = 0``) pass; so
    do the directions' streamed features and Grams, whose operator is built in float64 whatever
    the dtype (:meth:`~neuroxr.kernels.regressors.Regressor.operator_from_gram`)."""
    if dtype != "float32" or not alpha > 0:
        return
    eps = float(np.finfo(np.float32).eps)
    power, bound = (1, RISK_TOLERANCE * PRECISION["float32"]) if gram else (2, FLOAT32_RESOLVED)
    ratio = eps**power * trace / alpha
    if not ratio > bound:
        return
    what = f"{'eps' if power == 1 else 'eps^2'} trace(K) / alpha = {ratio:.3g} > {bound:g} (trace(K) = {trace:.3g}, alpha = {alpha:g})"
    if gram:
        warn(f"{where(caller)}dtype='float32' may not resolve this ridge fit from a Gram alone (a float32 Gram, or designs "
             f"as given): {what}; features of nearly low rank then err by up to 1 relative. Use dtype='float64' "
             f"(the default) or a larger alpha.")
        return
    raise ParameterError(f"{where(caller)}dtype='float32' cannot resolve this ridge fit (features in memory): {what}; use "
                         f"dtype='float64' (the default) or a larger alpha.")


def _dtype_name(xp: Any, dtype: Any) -> str:
    return "float32" if dtype == xp.float32 else "float64"


def _eps(xp: Any, dtype: Any) -> float:
    return float(np.finfo(_dtype_name(xp, dtype)).eps)


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


def feature_risk(X: Any, alpha: float, block_bytes: int = 32 * 2**20, caller: str = "") -> bool:
    """:func:`rank_risk` of in-memory features ``X`` (n, p) without their Gram: ``trace(K)`` is the
    column-centred features' sum of squares (one pass, a block of columns at a time). float32
    features beyond float32's resolution are refused (:func:`check_resolved`)."""
    if not alpha > 0:
        return False
    xp = get_namespace(X)
    n, p = (int(d) for d in X.shape)
    block = max(1, block_bytes // (8 * max(1, n)))
    trace = 0.0
    for lo in range(0, p, block):
        Xb = X[:, lo : lo + block]
        Xb = Xb - xp.mean(Xb, axis=0, keepdims=True)
        trace += float(xp.sum(Xb * Xb))
    name = _dtype_name(xp, X.dtype)
    check_resolved(trace, alpha, name, caller=caller)
    return eps_trace_risk(trace, alpha, name)


def diag_max(G: Any) -> Any:
    """The largest diagonal value of ``G`` (..., m, m), shape (..., 1): the size of its entries, and of the
    rounding a system down-dated from it carries (the least-squares cutoff of a fold's system)."""
    xp = get_namespace(G)
    return xp.max(xp.linalg.diagonal(G), axis=-1, keepdims=True)


def _centred(K: Any) -> Any:
    """The doubly centred, symmetrised ``K``."""
    xp = get_namespace(K)
    Kc = K - xp.mean(K, axis=0, keepdims=True)
    Kc = Kc - xp.mean(Kc, axis=1, keepdims=True)
    return (Kc + _T(xp, Kc)) / 2


def _numerical_rank(lam: Any, rank: int, eps: float) -> int:
    """Eigenvalues above the rounding level ``n eps max(eigenvalue)``, at most ``rank``."""
    xp = get_namespace(lam)
    tol = int(lam.shape[0]) * eps * float(xp.max(xp.abs(lam)))
    return min(rank, int(xp.sum(xp.astype(lam > tol, xp.int64))))


def _truncated_factor(lam: Any, U: Any, rank: int, eps: float) -> Any:
    """``U sqrt(lam)`` on the top ``r <= rank`` eigenvalues above ``n eps max(eigenvalue)``."""
    xp = get_namespace(lam)
    n = int(lam.shape[0])
    r = _numerical_rank(lam, rank, eps)
    lam, U = lam[n - r :], U[:, n - r :]
    return U * xp.sqrt(lam)[None, :]


def low_rank_factor(K: Any, rank: int) -> Any:
    """``L`` (n, r) with ``L L^T`` the doubly centred ``K`` truncated to its top ``r <= rank``
    eigenvalues (those above the rounding level ``n eps max(eigenvalue)``)."""
    xp = get_namespace(K)
    lam, U = xp.linalg.eigh(_centred(K))
    return _truncated_factor(lam, U, rank, _eps(xp, K.dtype))


def primal_first(lam: Any, n_tr: int, alpha: float, eps: float) -> bool:
    """Whether ridge on the principal axes (primal form) beats the Gram's dual form for a kernel
    of eigenvalues ``lam`` (any order) and folds of at least ``n_tr`` training stimuli: the
    primal's predicted error ``(eps sum(lam_k, k >= n_tr - 1) + m eps^2 lam_0) / alpha`` (the
    ``m`` axes a fold's null space lies along, largest first, and their rounding) against the
    dual's ``eps lam_0 / (lam_(n_tr-2) + alpha)`` (the smallest eigenvalue that a fold's training
    kernel relies on). A predicted error above 1 (float32 at large feature scales: no form
    resolves the problem) leaves the Gram path, whose truncation keeps the predictions bounded."""
    s2 = np.sort(np.clip(to_numpy(lam).astype(np.float64), 0.0, None))[::-1]
    k = max(0, n_tr - 1)
    if k >= s2.shape[0]:
        return True  # no null space in any fold
    # the axes' own rounding (eps times the largest) counts along the null space too
    null = (eps * float(np.sum(s2[k:])) + (s2.shape[0] - k) * eps * eps * float(s2[0])) / alpha
    dual = eps * float(s2[0]) / (float(s2[max(0, k - 1)]) + alpha)
    return null <= min(dual, 1.0)  # beyond 1 no form is right: the Gram path's truncation stays bounded


def numerical_factor(K: Any, folds: Sequence[tuple[Any, Any]], alpha: float, n_features: int | None = None,
                     features: Any = None, caller: str = "") -> Any:
    """A factor ``L`` (``K = L L^T`` up to the constant) when ridge on the Gram ``K`` should run on
    it (primal or low-rank hat form), else ``None``.

    Structurally (``n_features`` below every fold's training size minus one) always, as before;
    else, when :func:`rank_risk` fires, the kernel is factorised (eigendecomposition). With the
    ``features`` behind ``K`` in memory, their principal axes (:func:`feature_factor`) are
    returned when the primal form on them has the smaller predicted error (:func:`primal_first`;
    any number of axes). Otherwise, and from a Gram alone, the truncated eigendecomposition is
    returned if its numerical rank is below every fold's training size minus one (a full-rank
    kernel continues as it would have: the eigendecomposition is then the only extra cost).
    """
    return gram_factor(K, folds, alpha, n_features, features, caller)[0]


def gram_factor(K: Any, folds: Sequence[tuple[Any, Any]], alpha: float, n_features: int | None = None,
                features: Any = None, caller: str = "") -> tuple[Any, bool]:
    """:func:`numerical_factor` and whether it is the features' principal axes (then of any number of
    columns, for the primal form only: the low-rank hat form's fold systems are ill-conditioned
    where the axes are far above ``alpha``). A float32 ``K`` beyond float32's resolution (in memory
    with ``features``, else from the Gram alone) is refused or flagged (:func:`check_resolved`)."""
    if not alpha > 0:
        return None, False
    xp = get_namespace(K)
    n = int(K.shape[0])
    n_tr = min(n - len(te) for _, te in folds)
    name, trace = _dtype_name(xp, K.dtype), float(xp.sum(xp.linalg.diagonal(K)))
    check_resolved(trace, alpha, name, gram=features is None, caller=caller)  # float32 beyond its resolution
    eps, risk = _eps(xp, K.dtype), eps_trace_risk(trace, alpha, name)
    if n_features is not None and int(n_features) < n_tr - 1:
        lam, U = xp.linalg.eigh(_centred(K))
        L = _truncated_factor(lam, U, int(n_features), eps)
        if risk and features is None:
            check_gram_precision(lam, int(L.shape[1]), n_tr, alpha, name, caller)
        return L, False
    if not risk:
        return None, False
    rank = n if n_features is None else min(int(n_features), n)
    Kc = _centred(K)
    if features is not None:  # the eigenvalues decide; the eigenvectors only for a low-rank factor
        lam = xp.linalg.eigvalsh(Kc)
        if primal_first(lam, n_tr, alpha, eps):
            return feature_factor(features, alpha), True
        if _numerical_rank(lam, rank, eps) >= n_tr - 1:
            return None, False
    lam, U = xp.linalg.eigh(Kc)
    L = _truncated_factor(lam, U, rank, eps)
    factor = int(L.shape[1]) < n_tr - 1
    if features is None:  # from a Gram alone: say where it cannot resolve the fit
        check_gram_precision(lam, int(L.shape[1]) if factor else None, n_tr, alpha, name, caller)
    return (L if factor else None), False


#: A sum of the eigenvalues below the Gram's resolution (``n eps max(eigenvalue)``) above this many
#: times its rounding's spread (``sqrt(m)`` times the root mean square of the negative ones, ``m``
#: of them) is genuine: the features have axes the Gram cannot resolve (measured: at most ``1.1``
#: on exactly low-rank Grams, streamed or not, dead units, offsets; ``5 ... 33`` with a unit ``1e8``
#: times the others).
HIDDEN_SPREAD = 4.0


def gram_error(lam: Any, kept: int | None, n_tr: int, alpha: float, dtype: str = "float64") -> tuple[float, bool]:
    """The estimated relative error of the out-of-fold predictions of ridge (penalty ``alpha``) from
    a Gram alone, from its eigenvalues ``lam`` (any order; those the rank bound's
    eigendecomposition computed anyway), and whether it comes from axes below its resolution.

    A Gram resolves its eigenvalues to about ``eps max(lam)`` only. With ``kept`` (the truncated
    factor's rank) the primal form on the factor relies on its smallest kept eigenvalue, without
    (``None``: the dual or hat form on the kernel) on the ``n_tr - 1``-th largest (a fold's
    training kernel's smallest): the error is about ``eps max(lam) / (that eigenvalue + alpha)``
    (:func:`primal_first`'s dual estimate; measured within 5x under and 20x over the error). An
    exactly low-rank Gram's smallest kept eigenvalue is genuine, far above ``eps max(lam)``, so it
    is not flagged. The eigenvalues the factor drops (below ``n eps max(lam)``) are rounding when
    their sum stays within :data:`HIDDEN_SPREAD` times its spread; beyond, they are genuine axes
    the factor lost, and the error is about their mean ``mu``'s share ``mu / (mu + alpha)``."""
    s = np.sort(to_numpy(lam).astype(np.float64))[::-1]
    n, top = s.shape[0], float(s[0]) if s.shape[0] else 0.0
    if not top > 0 or not alpha > 0:
        return 0.0, False
    eps = float(np.finfo(dtype).eps)
    relied = s[max(0, kept - 1)] if kept is not None else s[min(max(0, n_tr - 2), n - 1)]
    error = eps * top / (max(float(relied), 0.0) + alpha)
    if kept is None:
        return error, False
    below = s[int(np.sum(s > n * eps * top)) :]
    total, neg = float(np.sum(below)), below[below < 0]
    spread = float(np.sqrt(below.shape[0] * np.mean(neg * neg))) if neg.shape[0] else 0.0
    if below.shape[0] and total > 0 and total > HIDDEN_SPREAD * spread:
        mu = total / below.shape[0]
        if mu / (mu + alpha) > error:
            return mu / (mu + alpha), True
    return error, False


def check_gram_precision(lam: Any, kept: int | None, n_tr: int, alpha: float, dtype: str = "float64", caller: str = "") -> None:
    """One :class:`~neuroxr.errors.NeuroxrWarning` where ridge from a Gram alone (float64) cannot
    resolve its fit within :data:`RISK_TOLERANCE` times the precision (:func:`gram_error`; called
    where the rank bound fired, on the eigenvalues it computed). float32 Grams are flagged by
    :func:`check_resolved` already."""
    if dtype != "float64":
        return
    error, hidden = gram_error(lam, kept, n_tr, alpha, dtype)
    bound = RISK_TOLERANCE * PRECISION[dtype]
    if not error > bound:
        return
    why = ("eigenvalues below its resolution n eps max(eigenvalue) are genuine and are lost" if hidden else
           "its eigenvalues are resolved to eps max(eigenvalue) only, and the fit relies on smaller ones")
    warn(f"{where(caller)}ridge from a Gram alone (lazy or streamed features, a given Gram, or designs combined as kernels) "
         f"cannot resolve this fit: {why}; the out-of-fold predictions may err by about {_magnitude(error)} relative "
         f"(precision {PRECISION[dtype]:g}). Load the layer (features.load()) or pass the features in memory, where "
         f"their SVD resolves it, or use a larger alpha.")


def _magnitude(x: float) -> str:
    """``x`` to its order of magnitude (``1e-03``): the same message for a call's many Grams."""
    return f"{10.0 ** np.round(np.log10(min(x, 1.0))):.0e}"


def principal_axes(D: Any) -> Any:
    """``D V`` for a design ``D`` (..., n, k) and ``V`` the eigenvectors of ``D^T D`` (largest first):
    ``D`` rotated within its columns (the same ridge fits), its columns graded by size. Each
    column is a product of ``D`` itself, accurate to ``eps ||D||`` even where ``D^T D``'s
    eigenvalue is not resolved (a rotation among unresolved axes changes nothing)."""
    xp = get_namespace(D)
    G = xp.matmul(_T(xp, D), D)
    _, V = xp.linalg.eigh((G + _T(xp, G)) / 2)
    return xp.matmul(D, xp.flip(V, axis=-1))


def negligible_axes(F: Any, alpha: float) -> np.ndarray:
    """Mask (NumPy, over the last axis of ``F`` (..., n, r)) of the principal axes too small to
    matter: of size at most ``eps`` times the largest (rounding) or squared size at most
    :data:`NEGLIGIBLE` ``* PRECISION * alpha``."""
    xp = get_namespace(F)
    name = _dtype_name(xp, F.dtype)
    size = to_numpy(xp.sqrt(xp.sum(F * F, axis=-2)))
    tol = np.maximum(float(np.finfo(name).eps) * size.max(axis=-1, keepdims=True), (NEGLIGIBLE * PRECISION[name] * alpha) ** 0.5)
    return size <= tol


def primal_design(X: Any, alpha: float, caller: str = "") -> Any:
    """The design of a primal form on features ``X``: ``X`` itself, or its principal axes
    (:func:`feature_factor`) when :func:`feature_risk` fires (``X^T X`` loses axes below
    ``eps ||X||^2``; the graded axes' Gram does not)."""
    return feature_factor(X, alpha) if feature_risk(X, alpha, caller=caller) else X


def feature_factor(X: Any, alpha: float) -> Any:
    """The centred features ``X`` (n, p) on their principal axes, ``F`` (n, r): ``F F^T = Xc Xc^T``
    and ridge on ``F`` equals ridge on ``X`` (``F`` is the thin SVD's ``U S``, up to a rotation
    among axes of equal size), negligible axes (:func:`negligible_axes`) dropped.

    With more units than stimuli the units are first rotated onto ``n`` columns by a Householder QR
    (:func:`~neuroxr.backend.centred_triangle`), then the design's own Gram (``p x p`` or ``n x n``)
    gives the axes (:func:`principal_axes`).
    """
    xp = get_namespace(X)
    n, p = (int(d) for d in X.shape)
    D = centred_triangle(X) if p > n else X - xp.mean(X, axis=0, keepdims=True)
    F = principal_axes(D)
    del D
    keep = np.flatnonzero(~negligible_axes(F, alpha))
    return F if keep.shape[0] == F.shape[1] else xp.take(F, xp.asarray(keep, device=getattr(F, "device", None)), axis=1)
