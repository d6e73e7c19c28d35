"""Out-of-fold ridge (and least-squares) predictions with shared factorisations.

Every function here equals fitting ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)``
(``alpha=0``: ``LinearRegression``, minimum-norm least squares) on the training rows of each
fold and predicting its test rows, but shares the work (see docs/design.md, section 3):

- :func:`oof_operator` builds the ``n x n`` linear operator ``S`` with ``P = S Y`` for *any*
  targets ``Y``: then every target column (the mean, every split half of every rep) costs one
  matrix product. Three forms, the cheapest chosen: *hat* (ridge, float64): one factorisation
  of the full-data kernel ``Kc + alpha I`` serves every fold through the hat-matrix identity
  ``S_f = (I - H_ff)^{-1} H_f,train`` (exact for penalised least squares with a fixed penalty;
  the intercept is the unpenalised constant column); *primal* (``p x p`` Gram down-dated per
  fold) when features are few; *dual* (one ``n_train x n_train`` kernel per fold) otherwise;
  :func:`oof_operator_from_gram` builds it from a precomputed (streamed) Gram matrix.
- :func:`oof_predict_designs` / :func:`oof_pearson_designs` (in :mod:`.ridge_designs`, re-exported
  here) predict the same targets from many small designs at once (the reverse and inter-animal
  directions: the mean and both split halves of every rep).

Arrays may come from any array-API namespace (NumPy, torch, CuPy); the work stays there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import (
    centred_gram,
    get_namespace,
    matmul_into,
    outer_update_into,
    psd_pinv_solve,
    spd_inverse,
    spd_shift,
    spd_solve,
    spd_solve_right,
    submatrix,
    subtract_into,
)
from ..errors import ParameterError, shown
from ..validation import check_alpha
from .folds import Folds, fold_blocks
from .gram import GramStats
from .ridge_rank import _T, _dtype_name, diag_max, feature_risk, gram_factor, primal_design

__all__ = ["oof_operator", "oof_operator_from_gram", "oof_linear_operator", "FoldOperator", "operator_form",
           "oof_predict", "fold_blocks"]  # + the designs kernels, lazily

def _eye(xp: Any, k: int, like: Any) -> Any:
    return xp.eye(k, dtype=like.dtype, device=getattr(like, "device", None))


def _solve(A: Any, B: Any, alpha: float, scale: Any = 0.0) -> Any:
    """``A^-1 B`` (ridge), or with ``alpha = 0`` the minimum-norm solution, whose eigenvalues of ``A`` below
    ``m eps`` times its largest or ``scale`` (the largest diagonal of the Gram ``A`` was down-dated from,
    :func:`~neuroxr.kernels.ridge_rank.diag_max`: its rounding), zero."""
    return spd_solve(A, B) if alpha > 0 else psd_pinv_solve(A, B, scale=scale)


def _check_alpha(alpha: Any, caller: str) -> float:
    """``alpha`` as a float, or the one :func:`~neuroxr.validation.check_alpha` refusal starting with
    ``caller``, the public kernel called (a NumPy or 0-d array scalar counts as its value)."""
    try:
        alpha = alpha if isinstance(alpha, bool) else float(alpha)
    except (TypeError, ValueError):
        pass  # refused below, as given
    return check_alpha(alpha, caller=caller)


def oof_operator(X: Any, folds: Folds, alpha: float = 0.1, form: str = "auto", caller: str = "") -> Any:
    """The out-of-fold prediction operator ``S`` (``P = S @ Y``) of ridge regression on ``X``.

    Parameters
    ----------
    X : array, shape (n_stimuli, n_features)
        Design (features), any array-API namespace, float32 or float64.
    folds : sequence of (train, test) index arrays
        Test folds partitioning the stimuli (e.g. :func:`neuroxr.kernels.folds.kfold_indices`).
    alpha : float
        Ridge penalty; ``0`` gives minimum-norm least squares (``LinearRegression``).
    form : {"auto", "hat", "primal", "dual"}
        ``"hat"`` factorises the full ``n x n`` kernel once (ridge only, ``alpha > 0``),
        ``"primal"`` factorises ``p x p`` Grams per fold, ``"dual"`` ``n_train x n_train`` kernels
        per fold; ``"auto"`` picks the cheapest by flop count (``"hat"`` only in float64: its
        fold systems lose a few more digits than the per-fold factorisations). With fewer
        features than training stimuli (ridge) ``"dual"`` runs as ``"primal"`` and ``"hat"`` uses
        ``X`` as a low-rank factor of the kernel: a rank-deficient kernel would amplify the
        rounding errors of its null space by ``1 / alpha``; with more features than training
        stimuli ``"primal"`` runs as ``"dual"`` for the same reason. When the rank bound fires the
        primal forms run on the features' principal axes, and so do the others where that is the
        more accurate (:mod:`.ridge_rank`, :func:`oof_operator_from_gram`'s ``features``).

    Returns
    -------
    S : array, shape (n_stimuli, n_stimuli)
        ``S[test_f, train_f]`` holds fold ``f``'s predictor (intercept included); ``S[test_f, test_f] = 0``.
    """
    caller = caller or "oof_operator"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    xp = get_namespace(X)
    n, p = X.shape
    if form not in ("auto", "hat", "primal", "dual"):
        raise ParameterError(f"{caller}: form must be one of ('auto', 'hat', 'primal', 'dual'); got {shown(form)}.")
    if form == "hat" and not alpha > 0:
        raise ParameterError(f"{caller}: form='hat' needs alpha > 0 (ridge); use 'primal' or 'dual' for least squares.")
    n_tr_min = min(n - len(te) for _, te in folds)
    if p < n_tr_min - 1 and alpha > 0:
        # the kernel of every fold is rank-deficient: its null space would amplify rounding errors
        # by 1/alpha in the dual and hat forms, so both use the features as a low-rank factor
        if form == "hat":
            return _oof_operator_hat(None, folds, alpha, factor=primal_design(X, alpha, caller))
        form = "primal"
    elif p > n_tr_min - 1 and alpha > 0 and form == "primal":
        form = "dual"  # the p x p systems are rank-deficient: the same errors, the other way round
    if form == "auto":
        form = _cheapest_form(n, p, len(folds), alpha, X.dtype == xp.float64)
    if form in ("dual", "hat"):
        return oof_operator_from_gram(centred_gram(X), folds, alpha, form=form, n_features=p, features=X, caller=caller)
    return _primal_operator(primal_design(X, alpha, caller), folds, alpha)


def _primal_operator(X: Any, folds: Folds, alpha: float) -> Any:
    """The out-of-fold operator from one ``p x p`` system per fold (any ``p`` when ``X`` is a graded
    factor, :func:`~neuroxr.kernels.ridge_rank.feature_factor`)."""
    xp = get_namespace(X)
    n = int(X.shape[0])
    Xc = X - xp.mean(X, axis=0, keepdims=True)
    G = xp.matmul(_T(xp, Xc), Xc)
    s = xp.sum(Xc, axis=0)
    S = xp.zeros((n, n), dtype=X.dtype, device=getattr(X, "device", None))
    for _, te in folds:
        te = np.asarray(te)
        S[xp.asarray(te, device=getattr(X, "device", None)), :] = _primal_fold_rows(Xc, te, alpha, G, s)
    return S


def _primal_fold_rows(Xc: Any, te: np.ndarray, alpha: float, G: Any = None, s: Any = None) -> Any:
    """Rows ``S[te, :]`` of the out-of-fold operator from fold ``te``'s ``p x p`` system.

    ``Xc`` (n, p) has centred columns; ``G = Xc^T Xc`` and ``s = Xc^T 1`` are down-dated to the
    training rows (computed here when not given)."""
    xp = get_namespace(Xc)
    n, p = Xc.shape
    dev = getattr(Xc, "device", None)
    if G is None:
        G = xp.matmul(_T(xp, Xc), Xc)
        s = xp.sum(Xc, axis=0)
    te_idx = xp.asarray(te, device=dev)
    Xte = xp.take(Xc, te_idx, axis=0)
    n_tr = n - len(te)
    mu = (s - xp.sum(Xte, axis=0)) / n_tr
    A = G - xp.matmul(_T(xp, Xte), Xte) - n_tr * (mu[:, None] * mu[None, :]) + alpha * _eye(xp, p, Xc)
    Z = _solve(A, _T(xp, Xte - mu[None, :]), alpha, diag_max(G))  # (p, n_te)
    # fold predictor on every column (stimulus order); the test columns are then zeroed
    block = xp.matmul(_T(xp, Z), _T(xp, Xc)) - xp.matmul(_T(xp, Z), mu)[:, None] + 1.0 / n_tr
    block[:, te_idx] = 0.0
    return block


def _cheapest_form(n: int, p: int, n_folds: int, alpha: float, float64: bool) -> str:
    """The operator form with the fewest flops for ``n`` stimuli, ``p`` features, ``n_folds`` folds."""
    costs = _form_costs(n, p, n_folds, alpha, float64)
    return min(costs, key=costs.get)


def _form_costs(n: int, p: int, n_folds: int, alpha: float, float64: bool) -> dict[str, float]:
    """Flops of building each dense form of the operator."""
    n_te = n / n_folds
    n_tr = n - n_te
    costs = {
        # Gram X^T X, then per fold: down-date, Cholesky, solve, predictor on every stimulus
        "primal": 2 * n * p * p + n_folds * (2 * n_te * p * p + p**3 / 3 + 2 * n_te * p * p + 2 * n_te * p * n),
        # kernel X X^T, then per fold: Cholesky of the training kernel and a solve
        "dual": 2 * n * n * p + n_folds * (n_tr**3 / 3 + 2 * n_tr * n_tr * n_te),
    }
    if alpha > 0 and float64 and _dense_fits(n):
        # kernel, one Cholesky + inverse of the full kernel, small per-fold solves
        costs["hat"] = 2 * n * n * p + n**3 + n_folds * (n_te**3 / 3 + 2 * n_te * n_te * n)
    return costs


#: Largest dense ``n x n`` operator (bytes) built when the factored form can replace it; above it
#: the hat form (three ``n x n`` arrays beside the kernel) gives way to the dual form (one, plus a
#: fold's training kernel).
DENSE_OPERATOR_BYTES = 512 * 2**20


def _dense_fits(n: int, itemsize: int = 8) -> bool:
    """Whether an ``n x n`` array (the dense operator, each of the hat form's) stays within
    :data:`DENSE_OPERATOR_BYTES`."""
    return n * n * itemsize <= DENSE_OPERATOR_BYTES


def operator_form(n: int, p: int, n_folds: int, alpha: float, float64: bool = True, n_targets: int | None = None,
                  itemsize: int = 8) -> str:
    """The form of the out-of-fold operator for ``n`` stimuli, ``p`` features, ``n_folds`` folds,
    applied to ``n_targets`` target columns in all (the one cost model of the shape).

    ``"factored"`` (:class:`FoldOperator`: the primal form applied fold by fold, never forming
    the ``n x n`` matrix) when the features are fewer than the training stimuli and either the
    dense operator would exceed :data:`DENSE_OPERATOR_BYTES` or its flops (factorisation plus
    ``4 n p`` per target column) are below the cheapest dense form's (build plus ``2 n^2`` per
    column); else the cheapest dense form of :func:`oof_operator` (``"hat"``, ``"primal"``,
    ``"dual"``). With more features than that and a dense operator above
    :data:`DENSE_OPERATOR_BYTES`, ``"kernel_folds"`` (``KernelFoldOperator``: the dual form
    fold by fold from the kernel, never forming the operator; :mod:`.kernel_operator`).
    """
    n_te = n / n_folds
    dense = _cheapest_form(n, p, n_folds, alpha, float64)
    if p >= n - n_te - 1:
        return dense if _dense_fits(n, itemsize) else "kernel_folds"
    if not _dense_fits(n, itemsize):
        return "factored"
    m = n if n_targets is None else int(n_targets)
    dense_cost = _form_costs(n, p, n_folds, alpha, float64)[dense] + 2 * n * n * m
    factored = 2 * n * p * p + n_folds * (2 * n_te * p * p + p**3 / 3 + 2 * n_te * p * p) + 4 * n * (p + 1) * m
    return "factored" if factored < dense_cost else dense


def oof_linear_operator(X: Any, folds: Folds, alpha: float = 0.1, n_targets: int | None = None, caller: str = "") -> Any:
    """The out-of-fold operator of ridge on ``X`` in the form :func:`operator_form` picks: a dense
    ``(n, n)`` array (:func:`oof_operator`), a :class:`FoldOperator` or a
    :class:`~neuroxr.kernels.kernel_operator.KernelFoldOperator`; each supports ``S @ Y``. When the
    rank bound fires the primal forms run on the features' principal axes, as in :func:`oof_operator`."""
    caller = caller or "oof_linear_operator"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    xp = get_namespace(X)
    n, p = X.shape
    float64 = X.dtype == xp.float64
    form = operator_form(n, p, len(folds), alpha, float64, n_targets, 8 if float64 else 4)
    if form == "factored":
        return FoldOperator(primal_design(X, alpha, caller), folds, alpha)
    if form == "kernel_folds":  # fold by fold from the kernel, or its low-rank factor
        from .kernel_operator import oof_linear_operator_from_gram

        return oof_linear_operator_from_gram(centred_gram(X), folds, alpha, n_features=p, features=X, caller=caller)
    return oof_operator(X, folds, alpha, caller=caller)


_FOLD_GRAM_BYTES = 64 * 2**20  # the folds' p x p Grams kept between the two passes up to this size
_APPLY_BYTES = 64 * 2**20  # the folds' cross-products of a block of target columns


class FoldOperator:
    """The out-of-fold ridge operator of a design with fewer features than training stimuli,
    factored per fold (primal form): ``S @ Y`` without the ``n x n`` matrix.

    With ``Dp`` the column-centred design in fold order and, for fold ``f``, ``mu_f`` its training
    mean, ``A_f = Dp_tr^T Dp_tr - n_tr mu_f mu_f^T + alpha I`` and ``Z_f = (Dp_f - mu_f) A_f^{-1}``,
    the held-out predictions of any targets ``Y`` (centred ``Yp``, training mean ``y_f``) are
    ``P_f = [Z_f, 1 - n_tr Z_f mu_f] [Dp^T Yp - Dp_f^T Yp_f; y_f^T]``: one ``p x p``
    factorisation per fold at construction, then ``4 n p`` flops per target column, and memory of
    one ``n x p`` array (``Z``; the design is kept by reference, its folds centred when taken). Equals :func:`oof_operator`'s ``S @ Y`` up to rounding.

    Parameters
    ----------
    X : array, shape (n_stimuli, n_features)
        ``n_features`` below every fold's training size minus one, or principal axes of any
        number where :func:`~neuroxr.kernels.ridge_rank.primal_first` picks them.
    folds, alpha
        As in :func:`oof_operator`.
    """

    def __init__(self, X: Any, folds: Folds, alpha: float = 0.1) -> None:
        alpha = _check_alpha(alpha, "FoldOperator")
        xp = get_namespace(X)
        n, p = X.shape
        self.xp, self.shape, self.dtype = xp, (n, n), X.dtype
        self.device = getattr(X, "device", None)
        order, self.bounds = fold_blocks(folds, n)
        self.idx = xp.asarray(order, device=self.device)
        # X itself is kept (no centred copy): each fold's rows are centred when taken
        self.X, self.m = X, xp.mean(X, axis=0)
        G = xp.zeros((p, p), dtype=X.dtype, device=self.device)
        s = xp.zeros((p,), dtype=X.dtype, device=self.device)
        # the folds' own Grams are kept between the passes when small, else recomputed
        keep = len(self.bounds) * p * p * X.dtype.itemsize <= _FOLD_GRAM_BYTES if hasattr(X.dtype, "itemsize") else False
        tes = []
        for a, b in self.bounds:
            Dte = self._rows(a, b)
            Gf = xp.matmul(_T(xp, Dte), Dte)
            G += Gf
            s += xp.sum(Dte, axis=0)
            tes.append(Gf if keep else None)
            del Dte, Gf
        scale = diag_max(G)  # least squares: the folds' systems carry G's rounding
        Zaug = xp.empty((n, p + 1), dtype=X.dtype, device=self.device)
        for f, (a, b) in enumerate(self.bounds):
            Dte = self._rows(a, b)
            Gf = tes[f] if keep else xp.matmul(_T(xp, Dte), Dte)
            tes[f] = None
            sf = xp.sum(Dte, axis=0)
            n_tr = n - (b - a)
            mu = (s - sf) / n_tr
            A = outer_update_into(subtract_into(G, Gf, Gf), -float(n_tr), mu, mu)
            A = spd_shift(A, alpha)
            Xte = Dte - mu[None, :]
            Z = spd_solve_right(Xte, A) if alpha > 0 else _T(xp, _solve(A, _T(xp, Xte), alpha, scale))
            Zaug[a:b, :p] = Z
            Zaug[a:b, p] = 1.0 - n_tr * xp.matmul(Z, mu)
        self.Zaug = Zaug

    def _rows(self, a: int, b: int) -> Any:
        """Fold-order rows ``a:b`` of the column-centred design (a fresh copy)."""
        D = self.xp.take(self.X, self.idx[a:b], axis=0)
        return subtract_into(D, self.m[None, :], D)  # in place: no second n_te x p array

    def __matmul__(self, Y: Any) -> Any:
        return self.apply(Y)

    def apply(self, Y: Any) -> Any:
        """``S @ Y`` for targets ``Y`` of shape (n_stimuli, n_targets) (stimulus order).

        Per block of target columns, each fold's cross-products ``Dp_f^T Yp_f`` once: their sum is
        ``Dp^T Yp`` (``4 n p`` flops per column in all, not ``6``), the fold's rows read once; in the
        operator's dtype (float32 targets of a float64 operator are cast)."""
        xp, (n, _), p = self.xp, self.shape, int(self.X.shape[1])
        Y = Y if Y.dtype == self.dtype else xp.astype(Y, self.dtype)
        y_mean = xp.mean(Y, axis=0)
        Yc = Y - y_mean[None, :]
        ys = xp.sum(Yc, axis=0)
        P = xp.empty(Yc.shape, dtype=Yc.dtype, device=self.device)
        nf, m = len(self.bounds), int(Yc.shape[1])
        step = max(1, _APPLY_BYTES // (nf * (p + 1) * 8))
        for c0 in range(0, m, step):
            c1 = min(m, c0 + step)
            Yb = Yc[:, c0:c1]
            B = xp.empty((nf, p + 1, c1 - c0), dtype=Yc.dtype, device=self.device)
            for f, (a, b) in enumerate(self.bounds):
                Yte = xp.take(Yb, self.idx[a:b], axis=0)
                matmul_into(_T(xp, self._rows(a, b)), Yte, B[f, :p, :])
                B[f, p, :] = (ys[c0:c1] - xp.sum(Yte, axis=0)) / (n - (b - a))
            CY = xp.sum(B[:, :p, :], axis=0)  # (p, columns): the centred design's cross-products
            for f, (a, b) in enumerate(self.bounds):
                subtract_into(CY, B[f, :p, :], B[f, :p, :])  # the training folds' cross-products
                P[self.idx[a:b], c0:c1] = xp.matmul(self.Zaug[a:b, :], B[f]) + y_mean[None, c0:c1]
        return P

    def dense(self) -> Any:
        """The ``(n, n)`` matrix ``S`` (for tests and small problems)."""
        return self.apply(_eye(self.xp, self.shape[0], self.X))


def oof_operator_from_gram(K: Any, folds: Folds, alpha: float = 0.1, form: str = "auto", n_features: int | None = None,
                           features: Any = None, caller: str = "") -> Any:
    """:func:`oof_operator` from a Gram matrix ``K = Xc Xc^T``.

    Parameters
    ----------
    K : array, shape (n_stimuli, n_stimuli), or GramStats
        Gram matrix of the (any constant-)centred features, e.g. streamed over unit chunks; a
        :class:`~neuroxr.kernels.gram.GramStats` also gives ``n_features`` (its ``n_units``).
    folds, alpha
        As in :func:`oof_operator`.
    form : {"auto", "hat", "dual"}
        ``"hat"``: one factorisation of the full kernel for all folds (ridge, ``alpha > 0``);
        ``"dual"``: one factorisation of each fold's training kernel. ``"auto"``: ``"hat"`` for
        ridge in float64, else ``"dual"``.
    n_features : int, optional
        Number of features behind ``K`` (e.g. ``GramStats.n_units``). With fewer features than
        training stimuli (ridge) the kernel is rank-deficient and its computed null space holds
        rounding errors that ``1 / alpha`` would amplify: ``K`` is then factorised once
        (eigendecomposition, ``K = L L^T`` with ``L`` of rank ``n_features``) and the primal or
        low-rank hat form runs on ``L``, which matches scikit-learn's primal solution. Without
        (or with more features), a kernel whose *numerical* rank is that low is factorised alike
        when a free bound says its rounding could matter (:mod:`.ridge_rank`).
    features : array, shape (n_stimuli, n_features), optional
        The features behind ``K``, in memory: where the bound fires and the primal form on their
        principal axes is the more accurate (:func:`~neuroxr.kernels.ridge_rank.gram_factor`), it
        runs on them, whatever ``form`` (a Gram cannot resolve eigenvalues below ``eps max``).

    Returns
    -------
    S : array, shape (n_stimuli, n_stimuli)
    """
    if isinstance(K, GramStats):
        n_features = K.n_units if n_features is None else n_features
        K = K.K
    caller = caller or "oof_operator_from_gram"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    xp = get_namespace(K)
    if form not in ("auto", "hat", "dual"):
        raise ParameterError(f"{caller}: form must be one of ('auto', 'hat', 'dual'); got {shown(form)}.")
    if form == "hat" and not alpha > 0:
        raise ParameterError(f"{caller}: form='hat' needs alpha > 0 (ridge); use 'dual' for least squares.")
    n = int(K.shape[0])
    L, principal = gram_factor(K, folds, alpha, n_features, features, caller)
    if L is not None:
        # a factor of the kernel: the low-rank hat form, or one primal system per fold
        return _oof_operator_hat(None, folds, alpha, factor=L) if form == "hat" and not principal else _primal_operator(L, folds, alpha)
    if form == "hat" or (form == "auto" and alpha > 0 and K.dtype == xp.float64 and _dense_fits(n)):
        return _oof_operator_hat(K, folds, alpha)
    return _dual_operator(K, folds, alpha)


def _dual_operator(K: Any, folds: Folds, alpha: float) -> Any:
    """The out-of-fold operator from one factorisation of each fold's training kernel."""
    xp = get_namespace(K)
    n = K.shape[0]
    dev = getattr(K, "device", None)
    S = xp.zeros((n, n), dtype=K.dtype, device=dev)
    for _, te in folds:
        te = np.asarray(te)
        S[xp.asarray(te, device=dev), :] = _dual_fold_rows(K, te, alpha)
    return S


def _oof_operator_hat(K: Any, folds: Folds, alpha: float, factor: Any = None) -> Any:
    """The out-of-fold operator of ridge from one inverse of the full kernel.

    Ridge with an intercept is penalised least squares on ``[1, X]`` with the fixed penalty
    ``diag(0, alpha I)``; its hat matrix is ``H = 11^T/n + Kc (Kc + alpha I)^{-1}
    = I + 11^T/n - alpha C`` with ``C = (Kc + alpha I)^{-1}`` and ``Kc`` the doubly centred
    kernel. Removing fold ``f``'s rows is a rank-``n_f`` down-date, and the Woodbury identity
    gives the held-out predictions ``P_f = (I - H_ff)^{-1} H_f,train Y_train`` exactly, with
    ``I - H_ff = alpha C_ff - 11^T/n`` (positive definite, ``n_f x n_f``).

    ``C`` has the eigenvalue ``1/alpha`` along the constant vector, and the ``11^T/n`` terms cancel
    it exactly in theory; in floating point that cancellation leaves errors of ``eps ||Kc|| / alpha``.
    So the constant direction is removed before the inverse: ``M = Kc + alpha I + (gamma/n) 11^T``
    (``gamma`` the mean eigenvalue of ``Kc``) and ``C - 11^T/(n alpha) = M^{-1} - 11^T/(n (alpha + gamma))``.
    With ``factor`` (``Kc = Fc Fc^T`` of rank below ``n - 1``) the inverse comes from Woodbury,
    ``alpha C = I - Fc (Fc^T Fc + alpha I)^{-1} Fc^T``, without the kernel's null space.

    The systems ``I - H_ff`` are ill-conditioned when the kernel's eigenvalues spread far above
    ``alpha``, so one fold is checked (:func:`fold_backward_error` at most :data:`_HAT_BACKWARD`;
    with ``factor``, agreement with the fold's primal solution) and the per-fold form replaces the
    operator when it fails.
    """
    if factor is not None:
        xp = get_namespace(factor)
        n = int(factor.shape[0])
        Fc = factor - xp.mean(factor, axis=0, keepdims=True)
        G = xp.matmul(_T(xp, Fc), Fc) + alpha * _eye(xp, int(Fc.shape[1]), factor)
        aC = _eye(xp, n, factor) - xp.matmul(Fc, spd_solve(G, _T(xp, Fc)))  # alpha C
        aC = (aC + _T(xp, aC)) / 2
        # Fc^T 1 = 0: the constant direction of alpha C is exactly 11^T/n, so alpha C_perp = aC - 1/n
        Cm, a, b = aC, 1.0, 1.0 / n
        dtype, dev = factor.dtype, getattr(factor, "device", None)
    else:
        xp = get_namespace(K)
        n = int(K.shape[0])
        dev = getattr(K, "device", None)
        dtype = K.dtype
        # double centring makes any constant-centred Gram the Gram of the column-centred features
        # (in place on one copy: n x n temporaries dominate this form's memory)
        Kc = K - xp.mean(K, axis=0, keepdims=True)
        Kc -= xp.mean(Kc, axis=1, keepdims=True)
        gamma = max(float(xp.sum(xp.linalg.diagonal(Kc))) / n, alpha)
        Kc += gamma / n  # the constant direction gets the eigenvalue alpha + gamma (instead of alpha)
        shift = 1.0 / (n * (alpha + gamma))
        Kc = spd_shift(Kc, alpha)  # + alpha I (NumPy: in place; the inverse reads one triangle)
        try:
            C = spd_inverse(Kc, overwrite=True)
        except np.linalg.LinAlgError:  # not numerically positive definite: one system per fold (the caller's
            return _dual_operator(K, folds, alpha)  # gram_factor already chose the kernel: not again, nor its warnings
        del Kc
        Cm, a, b = C, alpha, alpha * shift  # alpha C_perp = alpha (M^{-1} - shift)
    S = xp.zeros((n, n), dtype=dtype, device=dev)
    for _, te in folds:
        te_idx = xp.asarray(np.asarray(te), device=dev)
        H = b - a * xp.take(Cm, te_idx, axis=0)  # H[f, :] = -alpha C_perp[f, :], without the identity part
        IH = -xp.take(H, te_idx, axis=1)  # I - H_ff = alpha C_ff - 11^T/n
        IH = (IH + _T(xp, IH)) / 2
        H[:, te_idx] = 0.0  # the identity part and every test column drop out of H_f,train
        S[te_idx, :] = _T(xp, spd_solve_right(_T(xp, H), IH))  # IH symmetric; NumPy: one small inverse, one product
    del Cm
    # I - H_ff is ill-conditioned when the features nearly interpolate (kernel eigenvalues far above
    # alpha): check one fold and fall back to one factorisation per fold if needed
    te0 = np.asarray(folds[0][1])
    got = xp.take(S, xp.asarray(te0, device=dev), axis=0)
    if factor is None:  # against the fold's own system: as accurate as its factorisation would be
        ok = fold_backward_error(K, got, te0, alpha) <= _HAT_BACKWARD
    else:  # against the fold's primal solution (more accurate than any kernel system here)
        ref = _primal_fold_rows(Fc, te0, alpha)
        ok = float(xp.max(xp.abs(got - ref))) <= _HAT_RTOL * float(xp.max(xp.abs(ref)))
    if not ok:
        del S, got
        if factor is not None:
            return _primal_operator(factor, folds, alpha)
        return _dual_operator(K, folds, alpha)
    return S


_HAT_RTOL = 1e-9  # low-rank hat form: agreement with the fold's primal solution (relative)
_HAT_BACKWARD = 10.0  # hat form from the kernel: largest backward error on the checked fold (units of eps)


def fold_backward_error(K: Any, rows: Any, te: np.ndarray, alpha: float) -> float:
    """Normwise backward error of operator rows ``S[te, :]`` (``rows``, shape (n_te, n)) as the
    solution of fold ``te``'s dual system, in units of the machine epsilon.

    The rows are ``W^T + 1/n_tr`` on the training columns, where ``A W = B`` is the fold's system
    (:func:`_training_kernel`: ``A`` (n_tr, n_tr), ``B`` the test rows' kernel, transposed).
    Returns ``max_j ||A W_j - B_j||_inf / (eps (||A||_inf ||x_j||_inf + ||B_j||_inf))`` over the
    test stimuli ``j`` (``x_j`` the training columns of row ``j``). A Cholesky solve of the same
    system scores about 1 (backward stable); rows that score a few units are as accurate as it.
    """
    xp = get_namespace(K)
    n = int(K.shape[0])
    dev = getattr(K, "device", None)
    tr_idx = xp.asarray(np.setdiff1d(np.arange(n), te), device=dev)
    A, B = _training_kernel(K, tr_idx, xp.asarray(te, device=dev), alpha)
    X = _T(xp, xp.take(rows, tr_idx, axis=1))  # (n_tr, n_te): W + 1/n_tr
    # A W - B^T without forming W (X - 1/n_tr loses the digits of a small W)
    res = xp.matmul(A, X) - xp.mean(A, axis=1)[:, None] - _T(xp, B)
    norm_a = float(xp.max(xp.sum(xp.abs(A), axis=1)))
    den = norm_a * xp.max(xp.abs(X), axis=0) + xp.max(xp.abs(B), axis=1)
    eps = float(np.finfo(_dtype_name(xp, K.dtype)).eps)
    err = xp.max(xp.abs(res), axis=0) / (eps * xp.where(den > 0, den, xp.ones_like(den)))
    return float(xp.max(err))


def _dual_fold_rows(K: Any, te: np.ndarray, alpha: float) -> Any:
    """Rows ``S[te, :]`` of the out-of-fold operator from fold ``te``'s own training kernel.

    One ``n_tr x n_tr`` copy of the training kernel, centred, shifted and factorised in place
    (its lower triangle is read): ``n_tr^2`` memory beside ``K``."""
    xp = get_namespace(K)
    n = K.shape[0]
    dev = getattr(K, "device", None)
    tr = np.setdiff1d(np.arange(n), te)
    tr_idx = xp.asarray(tr, device=dev)
    Kc, Gte = _training_kernel(K, tr_idx, xp.asarray(te, device=dev), alpha)
    if alpha > 0:
        try:
            W = spd_solve(Kc, _T(xp, Gte), overwrite=True)
        except np.linalg.LinAlgError:  # not numerically positive definite: a general solve
            Kc, Gte = _training_kernel(K, tr_idx, xp.asarray(te, device=dev), alpha)
            W = xp.linalg.solve(Kc, _T(xp, Gte))
    else:  # Kc is K's training block centred: rounding of K's size, which its own eigenvalues do not show
        W = psd_pinv_solve(Kc, _T(xp, Gte), scale=float(xp.max(xp.take(xp.linalg.diagonal(K), tr_idx, axis=0))))
    rows = xp.zeros((len(te), n), dtype=K.dtype, device=dev)
    rows[:, tr_idx] = _T(xp, W) + 1.0 / len(tr)
    return rows


def _training_kernel(K: Any, tr_idx: Any, te_idx: Any, alpha: float) -> tuple[Any, Any]:
    """Fold's training kernel, doubly centred on the training rows and shifted (``+ alpha I``; with
    ``alpha > 0`` the constant direction gets the mean eigenvalue), and the test rows' kernel
    against them centred alike: ``(n_tr, n_tr)`` and ``(n_te, n_tr)``, built in place."""
    xp = get_namespace(K)
    Kc = submatrix(K, tr_idx, tr_idx)
    Gte = submatrix(K, te_idx, tr_idx)
    n_tr = int(Kc.shape[0])
    col_mean = xp.mean(Kc, axis=0)
    Kc -= col_mean[None, :]
    Kc -= xp.mean(Kc, axis=1)[:, None]
    Gte -= col_mean[None, :]
    Gte -= xp.mean(Gte, axis=1)[:, None]
    if alpha > 0:
        # Kc 1 = 0: the constant direction would get the eigenvalue alpha, and Gte 1 = 0 only up to
        # rounding, amplified by 1/alpha; give it the mean eigenvalue instead (the solution is the same)
        Kc += max(float(xp.sum(xp.linalg.diagonal(Kc))) / n_tr + alpha, alpha) / n_tr
    return spd_shift(Kc, alpha), Gte


def oof_predict(X: Any, Y: Any, folds: Folds, alpha: float = 0.1, caller: str = "") -> Any:
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
    caller = caller or "oof_predict"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    xp = get_namespace(X, Y)
    if X.shape[1] < 4 * Y.shape[1] or X.shape[1] >= X.shape[0] or feature_risk(X, alpha, caller=caller):
        return xp.matmul(oof_operator(X, folds, alpha, caller=caller), Y)
    from .ridge_designs import oof_predict_designs

    return oof_predict_designs(X[None, ...], Y, folds, alpha, caller=caller)[0]


_DESIGN_NAMES = ("PreparedTargets", "prepare_targets", "oof_predict_designs", "oof_pearson_designs")


def __getattr__(name: str) -> Any:
    """The many-designs kernels, importable from here as before the split (lazily: no import cycle)."""
    if name in _DESIGN_NAMES:
        from . import ridge_designs

        return getattr(ridge_designs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
