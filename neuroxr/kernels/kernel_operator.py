"""The out-of-fold ridge operator of a full-rank kernel applied fold by fold (dual form), for
problems whose dense ``n x n`` operator would exceed :data:`~neuroxr.kernels.ridge.DENSE_OPERATOR_BYTES`.

:class:`~neuroxr.kernels.ridge.FoldOperator` is the primal counterpart (fewer features than
training stimuli); :data:`FOLD_OPERATORS` names both for ``S @ Y`` dispatch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_namespace
from . import ridge
from .gram import GramStats
from .ridge import FoldOperator, Folds, _check_alpha, _dual_fold_rows, _eye, fold_blocks
from .ridge_rank import gram_factor

__all__ = ["KernelFoldOperator", "FOLD_OPERATORS", "apply_into", "oof_linear_operator_from_gram"]


class KernelFoldOperator:
    """The out-of-fold ridge operator of a full-rank kernel (more features than training stimuli),
    applied fold by fold in the dual form without the ``n x n`` operator.

    Holds the kernel only (by reference). Each application builds every fold's training kernel,
    centred and factorised in place (:func:`_dual_fold_rows`), so memory stays at the kernel plus
    one training kernel and a fold's rows (about ``2.2 n^2`` values in all, instead of ``3.3 n^2``
    with the operator formed), and the flops of an application are those of building the dense
    operator (``n_folds n_tr^3 / 3`` and up): callers apply it once to every target column
    (``one_pass``).

    Parameters
    ----------
    K : array, shape (n_stimuli, n_stimuli)
        Gram matrix of the (any constant-)centred features.
    folds, alpha
        As in :func:`~neuroxr.kernels.ridge.oof_operator`.
    """

    one_pass = True

    def __init__(self, K: Any, folds: Folds, alpha: float = 0.1) -> None:
        self.K, self.folds, self.alpha = K, folds, _check_alpha(alpha, "KernelFoldOperator")
        self.xp = get_namespace(K)
        n = int(K.shape[0])
        self.shape, self.dtype = (n, n), K.dtype
        fold_blocks(folds, n)  # the test folds must partition the stimuli

    def __matmul__(self, Y: Any) -> Any:
        return self.apply(Y)

    def apply(self, Y: Any) -> Any:
        """``S @ Y`` for targets ``Y`` of shape (n_stimuli, n_targets) (stimulus order), in the
        kernel's dtype (float32 targets of a float64 kernel are cast)."""
        xp = self.xp
        Y = Y if Y.dtype == self.dtype else xp.astype(Y, self.dtype)
        dev = getattr(self.K, "device", None)
        P = xp.empty((self.shape[0], int(Y.shape[1])), dtype=Y.dtype, device=dev)
        for _, te in self.folds:
            te = np.asarray(te)
            P[xp.asarray(te, device=dev), :] = xp.matmul(_dual_fold_rows(self.K, te, self.alpha), Y)
        return P

    def dense(self) -> Any:
        """The ``(n, n)`` matrix ``S`` (for tests and small problems)."""
        return self.apply(_eye(self.xp, self.shape[0], self.K))


#: The operators applied fold by fold (``S @ Y``, never an ``n x n`` array).
FOLD_OPERATORS = (FoldOperator, KernelFoldOperator)


def apply_into(S: Any, Y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``S @ Y`` (``S`` an out-of-fold operator: a NumPy array, or one of :data:`FOLD_OPERATORS`),
    written into ``out`` (shape of the product) where ``S`` is an array: no new array per application."""
    return np.matmul(S, Y, out=out) if isinstance(S, np.ndarray) else S @ Y


def oof_linear_operator_from_gram(K: Any, folds: Folds, alpha: float = 0.1, n_features: int | None = None,
                                  features: Any = None, caller: str = "") -> Any:
    """:func:`~neuroxr.kernels.ridge.oof_operator_from_gram`, or, when a dense operator would exceed
    :data:`~neuroxr.kernels.ridge.DENSE_OPERATOR_BYTES`, a fold-by-fold operator: a
    :class:`KernelFoldOperator` for a full-rank kernel, a :class:`FoldOperator` on the kernel's
    low-rank factor when it is (structurally or numerically) of rank below the training size
    (:func:`~neuroxr.kernels.ridge_rank.numerical_factor`), or on the in-memory ``features``'
    principal axes where those are the more accurate (as in ``oof_operator_from_gram``)."""
    if isinstance(K, GramStats):
        n_features = K.n_units if n_features is None else n_features
        K = K.K
    caller = caller or "oof_linear_operator_from_gram"  # the public function called: its messages start with it
    alpha = _check_alpha(alpha, caller)
    n = int(K.shape[0])
    if ridge._dense_fits(n, getattr(K.dtype, "itemsize", 8)):
        return ridge.oof_operator_from_gram(K, folds, alpha, n_features=n_features, features=features, caller=caller)
    L = gram_factor(K, folds, alpha, n_features, features, caller)[0]
    if L is not None:
        return FoldOperator(L, folds, alpha)
    n_tr = min(n - len(te) for _, te in folds)
    if n_features is None or int(n_features) >= n_tr - 1:
        return KernelFoldOperator(K, folds, alpha)
    return ridge.oof_operator_from_gram(K, folds, alpha, n_features=n_features, caller=caller)  # least squares
