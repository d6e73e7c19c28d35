"""Out-of-fold ridge (and least-squares) predictions with shared factorisations.

Every function here equals fitting ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)``
(``alpha=0``: ``LinearRegression``, minimum-norm least squares) on the training rows of each
fold and predicting its test rows, but shares the work (see DESIGN.md section 3):

- :func:`oof_operator` builds the ``n x n`` linear operator ``S`` with ``P = S Y`` for *any*
  targets ``Y``: one factorisation per fold, then every target column (the mean, every split
  half of every rep) costs one matrix product. Primal form (``p x p`` Gram down-dated per fold)
  when features are fewer than training stimuli, dual form (``n x n`` kernel) otherwise;
  :func:`oof_operator_from_gram` builds it from a precomputed (streamed) Gram matrix.
- :func:`oof_predict_designs` predicts the same targets from many small designs at once (the
  reverse and inter-animal directions: the mean and both split halves of every rep): all
  cross-products ``D^T Y`` in one product, down-dated per fold instead of refitted.

Arrays may come from any array-API namespace (NumPy, torch, CuPy); the work stays there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import get_namespace, psd_pinv_solve, spd_solve

__all__ = ["oof_operator", "oof_operator_from_gram", "oof_predict", "oof_predict_designs", "prepare_targets", "PreparedTargets", "fold_blocks"]

Folds = Sequence[tuple[np.ndarray, np.ndarray]]


def fold_blocks(folds: Folds, n: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Reorder stimuli so that each test fold is a contiguous block.

    Returns ``order`` (stimulus indices, test folds concatenated) and the ``(start, stop)`` of
    each fold in that order. Training rows of fold ``f`` are all rows outside its block.
    """
    order = np.concatenate([np.asarray(te) for _, te in folds])
    if order.shape[0] != n or np.unique(order).shape[0] != n:
        raise ValueError("the test folds must partition the stimuli (each exactly once).")
    bounds, start = [], 0
    for _, te in folds:
        bounds.append((start, start + len(te)))
        start += len(te)
    return order, bounds


def _eye(xp: Any, k: int, like: Any) -> Any:
    return xp.eye(k, dtype=like.dtype, device=getattr(like, "device", None))


def _solve(A: Any, B: Any, alpha: float) -> Any:
    return spd_solve(A, B) if alpha > 0 else psd_pinv_solve(A, B)


def _T(xp: Any, a: Any) -> Any:
    return xp.swapaxes(a, -1, -2) if hasattr(xp, "swapaxes") else xp.permute_dims(a, (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2))


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha!r}.")
    return alpha


def oof_operator(X: Any, folds: Folds, alpha: float = 0.1, form: str = "auto") -> Any:
    """The out-of-fold prediction operator ``S`` (``P = S @ Y``) of ridge regression on ``X``.

    Parameters
    ----------
    X : array, shape (n_stimuli, n_features)
        Design (features), any array-API namespace, float32 or float64.
    folds : sequence of (train, test) index arrays
        Test folds partitioning the stimuli (e.g. :func:`neuroxr.kernels.folds.kfold_indices`).
    alpha : float
        Ridge penalty; ``0`` gives minimum-norm least squares (``LinearRegression``).
    form : {"auto", "primal", "dual"}
        ``"primal"`` factorises ``p x p`` Grams, ``"dual"`` ``n_train x n_train`` kernels;
        ``"auto"`` picks the smaller.

    Returns
    -------
    S : array, shape (n_stimuli, n_stimuli)
        ``S[test_f, train_f]`` holds fold ``f``'s predictor (intercept included); ``S[test_f, test_f] = 0``.
    """
    alpha = _check_alpha(alpha)
    xp = get_namespace(X)
    n, p = X.shape
    if form not in ("auto", "primal", "dual"):
        raise ValueError(f"The 'form' parameter must be one of ('auto', 'primal', 'dual'). Got {form!r} instead.")
    min_train = min(n - len(te) for _, te in folds)
    if form == "dual" or (form == "auto" and p >= min_train):
        Xc = X - xp.mean(X, axis=0, keepdims=True)
        return oof_operator_from_gram(xp.matmul(Xc, _T(xp, Xc)), folds, alpha)
    dev = getattr(X, "device", None)
    Xc = X - xp.mean(X, axis=0, keepdims=True)
    G = xp.matmul(_T(xp, Xc), Xc)
    s = xp.sum(Xc, axis=0)
    I = _eye(xp, p, X)
    S = xp.zeros((n, n), dtype=X.dtype, device=dev)
    for _, te in folds:
        te_idx = xp.asarray(np.asarray(te), device=dev)
        Xte = xp.take(Xc, te_idx, axis=0)
        n_tr = n - len(te)
        mu = (s - xp.sum(Xte, axis=0)) / n_tr
        A = G - xp.matmul(_T(xp, Xte), Xte) - n_tr * (mu[:, None] * mu[None, :]) + alpha * I
        Z = _solve(A, _T(xp, Xte - mu[None, :]), alpha)  # (p, n_te)
        # fold predictor on every column (stimulus order); the test columns are then zeroed
        block = xp.matmul(_T(xp, Z), _T(xp, Xc)) - xp.matmul(_T(xp, Z), mu)[:, None] + 1.0 / n_tr
        block[:, te_idx] = 0.0
        S[te_idx, :] = block
    return S


def oof_operator_from_gram(K: Any, folds: Folds, alpha: float = 0.1) -> Any:
    """:func:`oof_operator` in dual form from a Gram matrix ``K = Xc Xc^T``.

    Parameters
    ----------
    K : array, shape (n_stimuli, n_stimuli)
        Gram matrix of the (any constant-)centred features, e.g. streamed over unit chunks.
    folds, alpha
        As in :func:`oof_operator`.

    Returns
    -------
    S : array, shape (n_stimuli, n_stimuli)
    """
    alpha = _check_alpha(alpha)
    xp = get_namespace(K)
    n = K.shape[0]
    order, bounds = fold_blocks(folds, n)
    idx = xp.asarray(order, device=getattr(K, "device", None))
    Kp = xp.take(xp.take(K, idx, axis=0), idx, axis=1)
    rows = []
    for a, b in bounds:
        tr_blocks = [(0, a), (b, n)]
        Ktr = xp.concat([xp.concat([Kp[r0:r1, c0:c1] for c0, c1 in tr_blocks], axis=1) for r0, r1 in tr_blocks], axis=0)
        Kte = xp.concat([Kp[a:b, c0:c1] for c0, c1 in tr_blocks], axis=1)
        n_tr = Ktr.shape[0]
        col_mean = xp.mean(Ktr, axis=0)  # 1^T K_tr / n_tr
        Kc = Ktr - col_mean[None, :] - xp.mean(Ktr, axis=1)[:, None] + xp.mean(col_mean)
        Gte = Kte - col_mean[None, :]
        Gte = Gte - xp.mean(Gte, axis=1)[:, None]  # right-centring
        Kc = (Kc + _T(xp, Kc)) / 2 + alpha * _eye(xp, n_tr, K)
        Str = _T(xp, _solve(Kc, _T(xp, Gte), alpha)) + 1.0 / n_tr  # (n_te, n_tr)
        zeros = xp.zeros((b - a, b - a), dtype=K.dtype, device=getattr(K, "device", None))
        rows.append(xp.concat([Str[:, :a], zeros, Str[:, a:]], axis=1))
    return _unpermute(xp, xp.concat(rows, axis=0), order)


def _zero_cols(xp: Any, block: Any, a: int, b: int) -> Any:
    zeros = xp.zeros((block.shape[0], b - a), dtype=block.dtype, device=getattr(block, "device", None))
    return xp.concat([block[:, :a], zeros, block[:, b:]], axis=1)


def _unpermute(xp: Any, Sp: Any, order: np.ndarray) -> Any:
    inv = np.empty_like(order)
    inv[order] = np.arange(order.shape[0])
    idx = xp.asarray(inv, device=getattr(Sp, "device", None))
    return xp.take(xp.take(Sp, idx, axis=0), idx, axis=1)


def oof_predict(X: Any, Y: Any, folds: Folds, alpha: float = 0.1) -> Any:
    """Out-of-fold ridge predictions of ``Y`` from ``X``.

    Parameters
    ----------
    X : array, shape (n_stimuli, n_features)
    Y : array, shape (n_stimuli, n_targets)
    folds, alpha
        As in :func:`oof_operator`.

    Returns
    -------
    P : array, shape (n_stimuli, n_targets)
    """
    xp = get_namespace(X, Y)
    if X.shape[1] < 4 * Y.shape[1] or X.shape[1] >= X.shape[0]:
        return xp.matmul(oof_operator(X, folds, alpha), Y)
    return oof_predict_designs(X[None, ...], Y, folds, alpha)[0]


class PreparedTargets:
    """Targets permuted into fold order and centred once, reused by many calls of
    :func:`oof_predict_designs` (e.g. one per rep) on the same targets and folds."""

    def __init__(self, Y: Any, folds: Folds) -> None:
        xp = get_namespace(Y)
        self.Y = Y
        self.order, self.bounds = fold_blocks(folds, Y.shape[0])
        Yp = xp.take(Y, xp.asarray(self.order, device=getattr(Y, "device", None)), axis=0)
        self.y_mean = xp.mean(Yp, axis=0)
        self.Yp = Yp - self.y_mean[None, :]


def prepare_targets(Y: Any, folds: Folds) -> PreparedTargets:
    """:class:`PreparedTargets` of ``Y`` (shape (n_stimuli, n_targets)) for ``folds``."""
    return PreparedTargets(Y, folds)


def oof_predict_designs(D: Any, Y: Any, folds: Folds, alpha: float = 0.1) -> Any:
    """Out-of-fold ridge predictions of the same targets from a stack of designs.

    Primal form with shared cross-products: ``D_d^T Y`` for every design in one product, each
    fold's training cross-products by down-dating (total minus the fold's test rows), and the
    test predictions as ``Z_f B_f`` with ``Z_f = (D_test - mu) A_f^{-1}`` (``k x k`` solves).

    Parameters
    ----------
    D : array, shape (n_designs, n_stimuli, n_predictors)
        Designs (e.g. the mean and the split halves of the predictor neuroids).
    Y : array, shape (n_stimuli, n_targets), or PreparedTargets
        Targets shared by all designs (prepared once with :func:`prepare_targets` when the same
        targets meet many design stacks).
    folds, alpha
        As in :func:`oof_operator`.

    Returns
    -------
    P : array, shape (n_designs, n_stimuli, n_targets)
    """
    alpha = _check_alpha(alpha)
    xp = get_namespace(D)
    d, n, k = D.shape
    min_train = min(n - len(te) for _, te in folds)
    if k >= min_train:  # more predictors than training stimuli: dual operator per design
        Yraw = Y.Y if isinstance(Y, PreparedTargets) else Y
        return xp.stack([xp.matmul(oof_operator(D[i], folds, alpha), Yraw) for i in range(d)])
    T = Y if isinstance(Y, PreparedTargets) else prepare_targets(Y, folds)
    order, bounds, Yp, y_mean = T.order, T.bounds, T.Yp, T.y_mean
    idx = xp.asarray(order, device=getattr(D, "device", None))
    Dp = xp.take(D, idx, axis=1)
    Dp = Dp - xp.mean(Dp, axis=1, keepdims=True)
    # designs side by side, (n, d*k): each fold's test cross-products with the targets for every
    # design are one GEMM; their sum over folds is the full cross-product (one pass over stimuli)
    Dflat = xp.reshape(xp.permute_dims(Dp, (1, 0, 2)), (n, d * k))
    Cte, Gte, ste = [], [], []
    for a, b in bounds:
        Dte = Dp[:, a:b, :]
        Cte.append(xp.reshape(xp.matmul(_T(xp, Dflat[a:b, :]), Yp[a:b, :]), (d, k, -1)))  # (d, k, m)
        Gte.append(xp.matmul(_T(xp, Dte), Dte))  # (d, k, k)
        ste.append(xp.sum(Dte, axis=1))  # (d, k)
    CY, G, s = sum(Cte[1:], Cte[0]), sum(Gte[1:], Gte[0]), sum(ste[1:], ste[0])
    ys = xp.sum(Yp, axis=0)
    I = _eye(xp, k, D)
    m = Yp.shape[1]
    dev = getattr(D, "device", None)
    P = xp.empty((d, n, m), dtype=Yp.dtype, device=dev)
    for f, (a, b) in enumerate(bounds):
        Dte = Dp[:, a:b, :]
        Yte = Yp[a:b, :]
        n_tr = n - (b - a)
        mu = (s - ste[f]) / n_tr  # (d, k)
        y_mu = (ys - xp.sum(Yte, axis=0)) / n_tr  # (m,)
        A = G - Gte[f] - n_tr * (mu[:, :, None] * mu[:, None, :]) + alpha * I
        B = CY - Cte[f] - n_tr * (mu[:, :, None] * y_mu[None, None, :])
        Cte[f] = None  # free as we go
        Z = _T(xp, _solve(A, _T(xp, Dte - mu[:, None, :]), alpha))  # (d, n_te, k)
        block = xp.matmul(Z, B)
        block += (y_mu + y_mean)[None, None, :]
        P[:, xp.asarray(order[a:b], device=dev), :] = block  # straight into stimulus order
    return P
