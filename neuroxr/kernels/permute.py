"""Permutation nulls of out-of-fold ridge predictivity without refitting or predicting.

A permutation test moves only the targets: the design ``X``, its folds and their factorisations
stay. The statistic, the Pearson ``r`` of each target's out-of-fold predictions with the permuted
target, needs five sums per target (``sum yhat y``, ``sum yhat``, ``sum yhat^2``, ``sum y``,
``sum y^2``); the last two do not change under a permutation. This module computes the other
three from cross-products, for a batch of permutations stacked along the columns so every
product is one large GEMM.

**Primal form** (``p`` predictors fewer than the training stimuli). With ``Xc`` the centred
design, fold ``f``'s test rows ``Xt`` (``n_f x p``), the training mean ``mu_f`` of ``Xc`` and
``A_f = Xc_tr^T Xc_tr - n_tr mu_f mu_f^T + alpha I`` (fixed; inverted once), the permuted and
centred targets ``y`` give

- ``C_f = Xt^T y_f`` (the only product over stimuli: ``2 n p m`` flops per permutation in all),
  ``C = sum_f C_f``, ``t_f = 1^T y_f``;
- ``coef_f = A_f^{-1} (C - C_f + mu_f t_f)`` (``sum y = 0``, so the training sum is ``-t_f``), the
  training mean ``ybar_f = -t_f / n_tr`` is the intercept;
- ``sum_f yhat y = ybar_f t_f + colsum(C_f * coef_f) - (mu_f^T coef_f) t_f``,
  ``sum_f yhat = n_f ybar_f + d_f^T coef_f`` with ``d_f = Xt^T 1 - n_f mu_f``,
  ``sum_f yhat^2 = n_f ybar_f^2 + 2 ybar_f d_f^T coef_f + colsum(coef_f * G_f coef_f)`` with
  ``G_f = (Xt - mu_f)^T (Xt - mu_f)``.

``coef_f``, ``G_f coef_f``, ``mu_f^T coef_f`` and ``d_f^T coef_f`` come from one product of the
stacked ``(2p + 2) x p`` matrix ``[A^{-1}; G A^{-1}; mu^T A^{-1}; d^T A^{-1}]`` (``4 p^2 m`` flops per
fold). Predictions are never formed. These are exactly scikit-learn's ``Ridge(alpha)`` fitted
fold by fold (``alpha = 0``: ``LinearRegression``, minimum-norm).

**Operator form** (more predictors than training stimuli, e.g. a network layer): the
``n x n`` out-of-fold operator ``S`` (:func:`neuroxr.kernels.ridge.oof_operator`) times the
permuted targets, ``2 n^2 m`` flops per permutation. :func:`permutation_form` picks the form with
fewer flops (:func:`permutation_flops`).

**Targets on some of the stimuli**: a target scored on a subset ``G`` of the stimuli (its own
folds, design rows and factorisations) is permuted within ``G`` by the permutation each full
permutation induces there (:func:`induced_permutations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import pow2_scaled, psd_pinv_solve, spd_solve
from ..errors import ParameterError, shown
from .stats import no_variance, root_product, rounding_tol

__all__ = ["permutation_form", "permutation_flops", "permuted_oof_pearson", "PrimalPermutation", "induced_permutations"]

Folds = Sequence[tuple[np.ndarray, np.ndarray]]
PERMUTATION_FORMS = ("auto", "primal", "operator")
_BATCH_BYTES = 256 * 2**20


def induced_permutations(perms: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The permutations of a subset of the stimuli induced by permutations of all of them.

    Parameters
    ----------
    perms : ndarray of int, shape (B, n)
        Permutations of the ``n`` positions.
    rows : bool ndarray, shape (n,)
        The subset ``G``.

    Returns
    -------
    ndarray of int, shape (B, |G|)
        Row ``b``: the elements of ``G`` in the order they appear in ``perms[b]``, as positions
        within ``G`` (``perms`` itself when ``G`` is every position). A uniformly random
        permutation of all positions induces a uniformly random permutation of ``G``.
    """
    perms = np.asarray(perms)
    rows = np.asarray(rows, dtype=bool)
    if rows.all():
        return perms
    within = np.cumsum(rows) - 1  # position of each member of G within G
    return within[perms[rows[perms]].reshape(perms.shape[0], int(rows.sum()))]


def _primal_ok(n: int, p: int, folds: Folds) -> bool:
    """The primal systems are full rank (fewer predictors than training stimuli, as the ridge kernels)."""
    return p < min(n - len(te) for _, te in folds) - 1


def permutation_flops(n: int, p: int, m: int, n_folds: int, form: str) -> float:
    """Flops of one permutation's null statistics for ``m`` targets.

    ``"primal"``: ``2 n p m`` (cross-products) ``+ n_folds 2 (2p + 2) p m`` (coefficients and
    their quadratic forms); ``"operator"``: ``2 n^2 m`` (the operator times the targets).
    The per-fold factorisations (once for all permutations) are not counted.
    """
    if form == "primal":
        return 2.0 * n * p * m + n_folds * 2.0 * (2 * p + 2) * p * m
    if form == "operator":
        return 2.0 * n * n * m
    raise ParameterError(f"permutation_flops: form must be one of ('primal', 'operator'); got {shown(form)}.")


def permutation_form(n: int, p: int, n_folds: int, folds: Folds | None = None) -> str:
    """``"primal"`` or ``"operator"``: the form with fewer flops per permutation (``"operator"``
    whenever the primal systems would be rank-deficient, ``p >= n_train - 1``)."""
    if folds is not None and not _primal_ok(n, p, folds):
        return "operator"
    if folds is None and p >= n - n / n_folds - 1:
        return "operator"
    primal = permutation_flops(n, p, 1, n_folds, "primal")
    return "primal" if primal <= permutation_flops(n, p, 1, n_folds, "operator") else "operator"


class PrimalPermutation:
    """The fixed per-fold factorisations of a design, for the null of many target permutations.

    Parameters
    ----------
    X : ndarray, shape (n_stimuli, n_predictors)
        Design; needs fewer predictors than training stimuli per fold minus one.
    folds : sequence of (train, test) index arrays
        Test folds partitioning the stimuli.
    alpha : float
        Ridge penalty (``0``: least squares, minimum-norm).
    """

    def __init__(self, X: np.ndarray, folds: Folds, alpha: float) -> None:
        X = np.asarray(X, dtype=np.float64)
        n, p = X.shape
        if not _primal_ok(n, p, folds):
            raise ParameterError(
                f"X: {p} predictors (dim 1) for at most {min(n - len(te) for _, te in folds)} training stimuli; the "
                f"primal form needs fewer predictors than training stimuli minus one: use form='operator'."
            )
        self.n, self.p, self.alpha = n, p, float(alpha)
        Xc = X - X.mean(axis=0)
        G = Xc.T @ Xc
        s = Xc.sum(axis=0)
        eye = np.eye(p)
        self.folds = []
        for _, te in folds:
            te = np.asarray(te)
            Xt = Xc[te]
            n_te, n_tr = len(te), n - len(te)
            s_te = Xt.sum(axis=0)
            mu = (s - s_te) / n_tr
            Gte = Xt.T @ Xt
            A = G - Gte - n_tr * np.outer(mu, mu) + self.alpha * eye
            A = (A + A.T) / 2
            Ainv = spd_solve(A, eye) if self.alpha > 0 else psd_pinv_solve(A, eye, scale=float(np.max(np.diagonal(G))))
            Ainv = (Ainv + Ainv.T) / 2
            Gt = Gte - np.outer(mu, s_te) - np.outer(s_te, mu) + n_te * np.outer(mu, mu)
            d = s_te - n_te * mu
            W = np.concatenate([Ainv, Gt @ Ainv, (mu @ Ainv)[None], (d @ Ainv)[None]], axis=0)  # (2p + 2, p)
            # one extra column each: the data product also gives the test sums t_f (a row of ones),
            # and W's last column adds the training-mean term W mu t_f to W (C - C_f)
            XtT = np.concatenate([Xt.T, np.ones((1, n_te))], axis=0)  # (p + 1, n_f)
            W = np.concatenate([W, -(W @ mu)[:, None]], axis=1)  # (2p + 2, p + 1)
            self.folds.append((te, n_te, n_tr, XtT, W))

    def flops(self, m: int) -> float:
        """Flops per permutation for ``m`` targets (:func:`permutation_flops`, ``"primal"``)."""
        return permutation_flops(self.n, self.p, m, len(self.folds), "primal")

    def sums(self, Yc: np.ndarray, perms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sum yhat y, sum yhat, sum yhat^2)``, each (B, m), of the permuted centred targets.

        ``Yc`` (n, m) has centred columns; ``perms`` (B, n): target ``Yc[perms[b]]`` is predicted."""
        B, m, p = perms.shape[0], Yc.shape[1], self.p
        # [C_f; t_f] of every fold: the only products over stimuli (one GEMM per fold, all permutations)
        Cf = np.empty((len(self.folds), p + 1, B * m))
        for f, (te, n_te, _, XtT, _) in enumerate(self.folds):
            block = np.take(Yc, perms[:, te].T, axis=0).reshape(n_te, B * m)  # the permuted test rows
            np.matmul(XtT, block, out=Cf[f])
        C = Cf.sum(axis=0)  # [C; sum y = 0]
        D = np.empty((p + 1, B * m))
        Z = np.empty((2 * p + 2, B * m))
        syy = np.zeros(B * m)
        sy = np.zeros(B * m)
        sy2 = np.zeros(B * m)
        for f, (_, n_te, n_tr, _, W) in enumerate(self.folds):
            np.subtract(C, Cf[f], out=D)  # [C - C_f; -t_f]
            np.matmul(W, D, out=Z)  # coef, G coef, mu^T coef, d^T coef
            coef, Gc, mc, dc = Z[:p], Z[p : 2 * p], Z[2 * p], Z[2 * p + 1]
            t = Cf[f, p]
            ybar = -t / n_tr
            syy += ybar * t + np.einsum("ij,ij->j", Cf[f, :p], coef) - mc * t
            sy += n_te * ybar + dc
            sy2 += n_te * ybar * ybar + 2 * ybar * dc + np.einsum("ij,ij->j", coef, Gc)
        return syy.reshape(B, m), sy.reshape(B, m), sy2.reshape(B, m)

    def batch(self, m: int, batch_bytes: int = _BATCH_BYTES) -> int:
        """Permutations per batch so the cross-products of a batch stay under ``batch_bytes``."""
        nf = len(self.folds)
        per = 8 * m * ((nf + 2) * (self.p + 1) + 2 * self.p + 2 + self.n // nf + 4)
        return max(1, int(batch_bytes // per))


def _pearson(syy: np.ndarray, sy: np.ndarray, sy2: np.ndarray, n: int, y2: np.ndarray, const_y: np.ndarray) -> np.ndarray:
    """r from ``sum yhat y``, ``sum yhat``, ``sum yhat^2`` and ``sum y^2`` (targets centred, ``sum y = 0``,
    scaled near 1); NaN for a constant target (``const_y``) or predictions constant up to rounding
    (:func:`~neuroxr.kernels.stats.no_variance`, the relative rule of every correlation here)."""
    var = sy2 - sy * sy / n
    const = const_y | no_variance(var, sy2, rounding_tol(np, np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = syy / root_product(np, np.where(const, 1.0, var), np.where(const, 1.0, y2))
    return np.where(const, np.nan, r)


def permuted_oof_pearson(
    X: np.ndarray | None,
    Y: np.ndarray,
    folds: Folds,
    alpha: float,
    perms: np.ndarray,
    *,
    S: Any = None,
    form: str = "auto",
    batch_bytes: int = _BATCH_BYTES,
) -> np.ndarray:
    """Pearson ``r`` of out-of-fold ridge predictions with each permutation of the targets.

    Parameters
    ----------
    X : ndarray, shape (n_stimuli, n_predictors), or None
        Design (``None`` with ``S`` given: operator form).
    Y : ndarray, shape (n_stimuli, n_targets)
        Targets (in the stimulus order of ``X``).
    folds : sequence of (train, test) index arrays
    alpha : float
        Ridge penalty (``0``: least squares).
    perms : ndarray of int, shape (n_perm, n_stimuli)
        Permutation ``b`` predicts the targets ``Y[perms[b]]`` from the unchanged ``X``.
    S : array, shape (n_stimuli, n_stimuli), or :class:`neuroxr.kernels.ridge.FoldOperator`, optional
        The out-of-fold operator of ``X`` (operator form; computed when needed and not given).
    form : {"auto", "primal", "operator"}, default "auto"
        ``"auto"``: :func:`permutation_form`.
    batch_bytes : int, default 256 MiB
        Bound on the memory of one batch of permutations.

    Returns
    -------
    ndarray, shape (n_perm, n_targets)
        ``pearson(Y[perms[b]], oof_predict(X, Y[perms[b]]))`` for every ``b`` (NaN for a constant column).
    """
    if form not in PERMUTATION_FORMS:
        raise ParameterError(f"permuted_oof_pearson: form must be one of {PERMUTATION_FORMS}; got {shown(form)}.")
    Y = np.asarray(Y, dtype=np.float64)
    perms = np.asarray(perms)
    n, m = Y.shape
    what = f"an int array (n_perm, {n}), each row a permutation of 0..{n - 1} (the stimulus positions)"
    if perms.ndim != 2 or perms.shape[1] != n or (perms.size and perms.dtype.kind not in "iu"):
        raise ParameterError(f"permuted_oof_pearson: perms must be {what}; got {perms.dtype} of shape {perms.shape}.")
    if perms.size and not (np.sort(perms, axis=1) == np.arange(n)).all():  # an index out of range or repeated
        raise ParameterError(f"permuted_oof_pearson: perms must be {what}; a row repeats or lacks a position.")
    if X is None and S is None:
        raise ParameterError("permuted_oof_pearson needs the design X or its operator S; pass X.")
    if form == "auto":
        form = "operator" if X is None else permutation_form(n, X.shape[1], len(folds), folds)
    # r is scale-free per target and the predictions are linear in it: each column is scaled by a
    # power of two to values near 1 (exact), so sums of squares of targets near 1e-150 or 1e150
    # neither underflow nor overflow
    Y = pow2_scaled(Y.T).T
    Yc = Y - Y.mean(axis=0)
    y2 = np.einsum("ij,ij->j", Yc, Yc)
    const_y = no_variance(y2, np.einsum("ij,ij->j", Y, Y), rounding_tol(np, np.float64))
    out = np.empty((perms.shape[0], m))
    if form == "primal":
        pp = PrimalPermutation(X, folds, alpha)
        step = pp.batch(m, batch_bytes)
        for lo in range(0, perms.shape[0], step):
            syy, sy, sy2 = pp.sums(Yc, perms[lo : lo + step])
            out[lo : lo + step] = _pearson(syy, sy, sy2, n, y2[None], const_y[None])
        return out
    if S is None:
        from .ridge import oof_operator

        S = oof_operator(np.asarray(X, dtype=np.float64), folds, alpha)
    from ..backend import to_numpy
    from .kernel_operator import FOLD_OPERATORS

    if isinstance(S, FOLD_OPERATORS):  # the operator factored per fold: applied, never formed
        S = S.dense() if S.shape[0] * S.shape[1] * 8 <= batch_bytes else S
    if not isinstance(S, FOLD_OPERATORS):
        S = to_numpy(S).astype(np.float64, copy=False)
    step = max(1, int(batch_bytes // (8 * n * m * 2)))
    for lo in range(0, perms.shape[0], step):
        sel = perms[lo : lo + step]
        Yp = Yc[sel.T].reshape(n, -1)  # (n, B m)
        P = to_numpy(S @ Yp)
        syy = np.einsum("ij,ij->j", P, Yp)
        sy = P.sum(axis=0)
        sy2 = np.einsum("ij,ij->j", P, P)
        out[lo : lo + len(sel)] = _pearson(syy, sy, sy2, n, np.tile(y2, len(sel)),
                                           np.tile(const_y, len(sel))).reshape(len(sel), m)
    return out
