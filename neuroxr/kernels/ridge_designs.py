"""Out-of-fold ridge predictions of the same targets from many small designs.

The reverse and inter-animal directions predict the same targets from many designs (the mean and
both split halves of the predictor neuroids, for every rep). Here all cross-products ``D^T Y``
come from one product, each fold's training cross-products by down-dating (total minus the
fold's own test rows) instead of refitting, and :func:`oof_pearson_designs` reduces each fold's
block of predictions to correlation sums while it is in cache. Every function equals fitting
``sklearn.linear_model.Ridge(alpha, fit_intercept=True)`` per fold and design.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..backend import (
    axpy_into,
    colsum_prod,
    get_namespace,
    matmul_into,
    spd_shift,
    spd_solve_right,
    subtract_into,
    to_numpy,
)
from .ridge import _T, Folds, _check_alpha, _solve, fold_blocks, oof_operator
from .ridge_rank import _dtype_name, check_resolved, diag_max, eps_trace_risk, negligible_axes, principal_axes
from .stats import pearson_from_sums

__all__ = ["PreparedTargets", "prepare_targets", "oof_predict_designs", "oof_pearson_designs"]


class PreparedTargets:
    """Targets permuted into fold order and centred once, reused by many calls of
    :func:`oof_predict_designs` (e.g. one per rep) on the same targets and folds."""

    def __init__(self, Y: Any, folds: Folds) -> None:
        xp = get_namespace(Y)
        self.Y = Y
        self.order, self.bounds = fold_blocks(folds, Y.shape[0])
        Yp = xp.take(Y, xp.asarray(self.order, device=getattr(Y, "device", None)), axis=0)
        self.y_mean = xp.mean(Yp, axis=0)
        Yp -= self.y_mean[None, :]  # Yp is take()'s own copy
        self.Yp = Yp
        self.ys = xp.sum(self.Yp, axis=0)  # ~0: the centred targets' column sums
        self.ys_te = [xp.sum(self.Yp[a:b, :], axis=0) for a, b in self.bounds]  # per test fold
        self._reference: tuple[Any, float, Any, Any] | None = None
        self._yy: Any = None

    def reference(self, R: Any, scale: float = 1.0) -> tuple[Any, Any]:
        """Fold-order centred design ``R`` (shape (n_stimuli, K)) and ``scale`` times its training
        folds' cross-products with the targets (the total minus each test fold's; shape (folds, K,
        n_targets)); cached for the last ``(R, scale)`` seen (e.g. the population mean that every
        rep's split halves refer to)."""
        if self._reference is None or self._reference[0] is not R or self._reference[1] != scale:
            xp = get_namespace(R)
            Rp = xp.take(R, xp.asarray(self.order, device=getattr(R, "device", None)), axis=0)
            Rp = Rp - xp.mean(Rp, axis=0, keepdims=True)
            C = xp.stack([xp.matmul(_T(xp, Rp[a:b, :]), self.Yp[a:b, :]) for a, b in self.bounds])
            total = xp.sum(C, axis=0)
            C *= -scale
            C += scale * total  # in place: each fold's training cross-products
            self._reference = (R, scale, Rp, C)
        return self._reference[2:]

    @property
    def yy(self) -> Any:
        """Column sums of the centred targets' squares, shape (n_targets,) (computed once)."""
        if self._yy is None:
            self._yy = colsum_prod(self.Yp, self.Yp)
        return self._yy


def prepare_targets(Y: Any, folds: Folds) -> PreparedTargets:
    """:class:`PreparedTargets` of ``Y`` (shape (n_stimuli, n_targets)) for ``folds``."""
    return PreparedTargets(Y, folds)


def oof_predict_designs(D: Any, Y: Any, folds: Folds, alpha: float = 0.1, caller: str = "") -> Any:
    """Out-of-fold ridge predictions of the same targets from a stack of designs.

    Primal form with shared cross-products: ``D_d^T Y`` for every design in one product, each
    fold's training cross-products by down-dating (total minus the fold's test rows), and the
    test predictions as ``Z_f B_f`` with ``Z_f = (D_test - mu) A_f^{-1}`` (``k x k`` solves). A
    design whose rank bound fires (:func:`~neuroxr.kernels.ridge_rank.eps_trace_risk` of its
    centred sum of squares) runs on its principal axes, the negligible ones zeroed
    (:mod:`.ridge_rank`; not with the complement of :func:`oof_pearson_designs`, whose design is
    a combination of the designs as given). float32 designs beyond float32's resolution are
    refused (:func:`~neuroxr.kernels.ridge_rank.check_resolved`; with the complement, the bound of
    designs as given).

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
    caller = caller or "oof_predict_designs"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    xp = get_namespace(D)
    d, n, k = D.shape
    if k >= min(n - len(te) for _, te in folds):  # more predictors than training stimuli
        Yraw = Y.Y if isinstance(Y, PreparedTargets) else Y
        return xp.stack([xp.matmul(oof_operator(D[i], folds, alpha, caller=caller), Yraw) for i in range(d)])
    T = Y if isinstance(Y, PreparedTargets) else prepare_targets(Y, folds)
    dev = getattr(D, "device", None)
    P = xp.empty((d, n, T.Yp.shape[1]), dtype=T.Yp.dtype, device=dev)
    for a, b, block, _ in _design_fold_blocks(D, T, alpha, caller=caller):
        block += T.y_mean[None, None, :]
        P[:, xp.asarray(T.order[a:b], device=dev), :] = block  # straight into stimulus order
    return P


def oof_pearson_designs(
    D: Any,
    Y: Any,
    folds: Folds,
    alpha: float = 0.1,
    pairs: Sequence[tuple[int, int]] = (),
    with_target: Sequence[int] | None = None,
    complement: tuple[Any, Any, float, float] | None = None,
    caller: str = "",
    sumsq: np.ndarray | None = None,
) -> tuple[Any, Any]:
    """Pearson correlations of out-of-fold predictions, without materialising the predictions.

    Same fits as :func:`oof_predict_designs`; each fold's block of predictions is reduced to
    column sums (of ``p``, ``p^2``, ``y p`` and ``p_i p_j``) while it is in cache, so memory stays
    at the cross-products' size whatever the number of stimuli.

    Parameters
    ----------
    D : array, shape (n_designs, n_stimuli, n_predictors)
    Y : array, shape (n_stimuli, n_targets), or PreparedTargets
    folds, alpha
        As in :func:`oof_operator`.
    pairs : sequence of (int, int)
        Design pairs ``(i, j)`` whose predictions are correlated with each other (e.g. the two
        split halves).
    with_target : sequence of int, optional
        Designs whose predictions are correlated with the targets (default: all).
    complement : (R, cols, w_ref, w_last), optional
        Append the design ``w_ref * R[:, cols] + w_last * D[-1]`` (``cols=None``: every column
        of ``R``, shape (n_stimuli, K)). Its cross-products with the targets are the same
        combination of ``R``'s (computed once per targets and cached) and ``D[-1]``'s, so it
        costs no product over the stimuli: with complete trials the second split half is
        ``(T mean - c1 h1) / c2``. Indices in ``pairs``/``with_target`` count it as the last design.
    sumsq : ndarray, shape (n_designs,) or (n_designs + 1,), optional
        Each design's centred sum of squares (the complement's last), computed by a caller that
        holds the designs on the host (:func:`design_sumsq`): the float32 resolution checks read
        them instead of the device's (a device-to-host read per call otherwise).

    Returns
    -------
    r_target : array, shape (len(with_target), n_targets)
        ``pearson(Y, P_d)`` per listed design.
    r_pairs : array, shape (len(pairs), n_targets)
        ``pearson(P_i, P_j)`` per pair.
    """
    caller = caller or "oof_pearson_designs"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    xp = get_namespace(D)
    d, n, k = D.shape
    small = k < min(n - len(te) for _, te in folds)
    if complement is not None and not small:  # dual designs: build the complement explicitly
        R, cols, w_ref, w_last = complement
        extra = w_ref * (R if cols is None else R[:, cols]) + w_last * D[-1]
        D, complement = xp.concat([D, extra[None, ...]], axis=0), None
    d = D.shape[0] + (complement is not None)
    if sumsq is not None and len(sumsq) != d:
        sumsq = None  # given for other designs than these (the dual form's explicit complement): read them here
    with_target = list(range(d)) if with_target is None else [int(i) for i in with_target]
    pairs = [(int(i), int(j)) for i, j in pairs]
    T = Y if isinstance(Y, PreparedTargets) else prepare_targets(Y, folds)
    m = T.Yp.shape[1]
    dev = getattr(D, "device", None)

    def zeros(rows: int) -> Any:
        return xp.zeros((rows, m), dtype=T.Yp.dtype, device=dev)

    sp, spp, syp, sij = zeros(d), zeros(d), zeros(len(with_target)), zeros(len(pairs))
    if not small:  # dual: predictions of one design at a time
        P = xp.take(oof_predict_designs(D, T, folds, alpha, caller=caller), xp.asarray(T.order, device=dev), axis=1) - T.y_mean
        blocks = ((0, n, P, xp.sum(P, axis=1)),)
    else:
        blocks = _design_fold_blocks(D, T, alpha, complement, caller, sumsq)
    for a, b, block, colsum in blocks:
        Yte = T.Yp[a:b, :]
        sp += colsum
        spp += colsum_prod(block, block)
        for row, i in enumerate(with_target):
            syp[row, :] += colsum_prod(Yte, block[i])
        for row, (i, j) in enumerate(pairs):
            sij[row, :] += colsum_prod(block[i], block[j])
    sy, syy = T.ys, T.yy
    r_target = pearson_from_sums(n, sy[None, :], sp[with_target, :] if with_target else zeros(0), syy[None, :], spp[with_target, :] if with_target else zeros(0), syp)
    if pairs:
        ii = [i for i, _ in pairs]
        jj = [j for _, j in pairs]
        r_pairs = pearson_from_sums(n, sp[ii, :], sp[jj, :], spp[ii, :], spp[jj, :], sij)
    else:
        r_pairs = zeros(0)
    return r_target, r_pairs


def design_sumsq(designs: Any, complement: tuple[np.ndarray, Any, float, float] | None = None) -> np.ndarray:
    """Centred sums of squares of host designs (shape (n_designs, n_stimuli, n_predictors)) and,
    with ``complement = (R, cols, w_ref, w_last)``, of ``w_ref * R[:, cols] + w_last * designs[-1]``
    (the design :func:`oof_pearson_designs` appends), each over its stimuli and predictors, in float64."""
    D = np.asarray(designs, dtype=np.float64)
    Dc = D - D.mean(axis=1, keepdims=True)
    out = [np.einsum("ij,ij->", X, X) for X in Dc]
    if complement is not None:
        R, cols, w_ref, w_last = complement
        Rc = np.asarray(R if cols is None else R[:, cols], dtype=np.float64)
        E = w_ref * (Rc - Rc.mean(axis=0)) + w_last * Dc[-1]
        out.append(np.einsum("ij,ij->", E, E))
    return np.asarray(out)


_KEEP_BYTES = 96 * 2**20  # folds' cross-products kept between the two passes up to this size ...
# ... and up to the targets' own size (peak memory stays within twice the targets')


def _design_fold_blocks(
    D: Any, T: PreparedTargets, alpha: float, complement: tuple[Any, Any, float, float] | None = None, caller: str = "",
    sumsq: np.ndarray | None = None,
) -> Iterator[tuple[int, int, Any, Any]]:
    """Per fold ``(a, b, block, colsum)``: the held-out predictions of the centred targets
    ``T.Yp[a:b]`` (fold order) from every design, shape (n_designs, b - a, n_targets), and their
    column sums, shape (n_designs, n_targets); add ``T.y_mean`` for predictions of the targets.

    The fold's training cross-products are the total minus the fold's own; the training-mean
    correction is a rank-one term carried as one extra column of ``Z`` and row of ``B``, so
    each block is a single GEMM with no elementwise pass over it. ``complement`` appends a
    design combined from a cached reference and the last design (see :func:`oof_pearson_designs`)."""
    xp = get_namespace(D)
    d, n, k = D.shape
    order, bounds, Yp = T.order, T.bounds, T.Yp
    m = Yp.shape[1]
    dev = getattr(D, "device", None)
    idx = xp.asarray(order, device=dev)
    Dp = xp.take(D, idx, axis=1)
    Dp -= xp.mean(Dp, axis=1, keepdims=True)  # Dp is take()'s own copy
    name = _dtype_name(xp, Dp.dtype)
    if complement is None and alpha > 0:  # rounding could cost the precision: principal axes
        for i, ss in enumerate(to_numpy(xp.sum(Dp * Dp, axis=(1, 2))) if sumsq is None else sumsq):
            check_resolved(float(ss), alpha, name, caller=caller)  # float32 beyond its resolution: refused
            if eps_trace_risk(float(ss), alpha, name):
                F = principal_axes(Dp[i, ...])
                F[:, xp.asarray(np.flatnonzero(negligible_axes(F, alpha)), device=dev)] = 0.0  # dropped, shape kept
                Dp[i, ...] = F
    if complement is not None:
        R, cols, w_ref, w_last = complement
        Rp, RCw = T.reference(R, w_ref)  # (n, K) and w_ref * training cross-products (folds, K, m)
        if cols is not None:
            cidx = xp.asarray(np.asarray(cols), device=dev)
            Rp, RCw = xp.take(Rp, cidx, axis=1), xp.take(RCw, cidx, axis=1)
        Dp = xp.concat([Dp, (w_ref * Rp + w_last * Dp[-1])[None, ...]], axis=0)
        if name == "float32" and alpha > 0:  # designs as given: float32 resolves them below the rank bound only
            for ss in to_numpy(xp.sum(Dp * Dp, axis=(1, 2))) if sumsq is None else sumsq:
                check_resolved(float(ss), alpha, name, gram=True, caller=caller)
    dd = Dp.shape[0]  # designs with the complement
    # designs side by side, (n, d*k): each fold's test cross-products with the targets for every
    # design are one GEMM; their sum over folds is the full cross-product (one pass over stimuli)
    Dflat = xp.reshape(xp.permute_dims(Dp[:d], (1, 0, 2)), (n, d * k))
    d0 = d  # designs given (the complement, if any, is design d0)

    def fold_cross(a: int, b: int) -> tuple[Any, Any, Any]:
        """Fold's test cross-products: with the targets for the given designs (d0, k, m), Gram (dd, k, k), sums (dd, k)."""
        Dte = Dp[:, a:b, :]
        C = xp.empty((d0, k, m), dtype=Yp.dtype, device=dev)
        matmul_into(_T(xp, Dflat[a:b, :]), Yp[a:b, :], xp.reshape(C, (d0 * k, m)))  # a view of C
        return C, xp.matmul(_T(xp, Dte), Dte), xp.sum(Dte, axis=1)

    # the folds' cross-products are kept when small, else recomputed in the second pass (one
    # more product over the stimuli instead of n_folds copies of a (k x m) and a (k x k) array);
    # the complement's never are: they are the same combination of the reference's and the last design's
    keep = len(bounds) * (d0 * k * m + dd * k * k) * 8 <= min(_KEEP_BYTES, max(n * m * 8, 2**21))
    CY = xp.zeros((d0, k, m), dtype=Yp.dtype, device=dev)  # the complement's follow from its parts
    G = xp.zeros((dd, k, k), dtype=Yp.dtype, device=dev)
    s = xp.zeros((dd, k), dtype=Yp.dtype, device=dev)
    kept = []
    for a, b in bounds:
        C, Gf, sf = fold_cross(a, b)  # one array per fold: blocks the allocator reuses
        CY += C
        G += Gf
        s += sf
        if keep:
            kept.append((C, Gf, sf))
        del C, Gf, sf
    d = dd
    ys = T.ys
    Baug = xp.empty((d, k + 1, m), dtype=Yp.dtype, device=dev)
    for f, (a, b) in enumerate(bounds):
        Cf, Gf, sf = kept[f] if keep else fold_cross(a, b)
        if keep:
            kept[f] = None  # free as we go
        Dte = Dp[:, a:b, :]
        n_tr = n - (b - a)
        mu = (s - sf) / n_tr  # (d, k)
        y_mu = (ys - T.ys_te[f]) / n_tr  # (m,)
        Xte = Dte - mu[:, None, :]
        A = subtract_into(G, Gf, Gf)  # in place over the fold's own Gram: no k x k temporaries
        A -= n_tr * (mu[:, :, None] * mu[:, None, :])
        A = spd_shift(A, alpha)
        # (d, n_te, k): small SPD systems with many right-hand sides (NumPy: one explicit inverse)
        Z = spd_solve_right(Xte, A) if alpha > 0 else _T(xp, _solve(A, _T(xp, Xte), alpha, diag_max(G)))
        # P = Z (CY - C_f - n_tr mu y_mu^T) + 1 y_mu^T = [Z, 1 - n_tr Z mu] [CY - C_f; y_mu^T]
        u = 1.0 - n_tr * xp.matmul(Z, mu[:, :, None])  # (d, n_te, 1)
        Zaug = xp.concat([Z, u], axis=2)
        subtract_into(CY, Cf, Baug[:d0, :k, :])
        if dd > d0:  # the complement's fold cross-products from the parts'
            axpy_into(RCw[f], w_last, Baug[d0 - 1, :k, :], Baug[d0, :k, :])  # w_ref R_tr^T Y_tr + w_last B_last
        del Cf, Gf
        Baug[:, k, :] = y_mu[None, :]
        colsum = xp.matmul(xp.sum(Zaug, axis=1, keepdims=True), Baug)[:, 0, :]
        yield a, b, xp.matmul(Zaug, Baug), colsum
