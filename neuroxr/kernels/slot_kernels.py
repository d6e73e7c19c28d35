"""The repeats' pairwise slot kernels, and the Gram of any mean of repeat slots from them.

A design that is the mean of repeat slots ``idx`` of responses ``R`` (``n x k x T``, columns of
each slot centred) has the Gram ``(1 / c^2) sum_{s, t in idx} K_st`` with ``K_st = Rc_s Rc_t^T``:
the ``T (T + 1) / 2`` products are computed once, and no product over the ``k`` predictors remains
per design (reverse predictivity's dual regime).
"""

from __future__ import annotations

import numpy as np

from ..backend import gram_matrix
from .ridge_rank import eps_trace_risk

__all__ = ["SlotKernels", "slots_risk_precision"]


class SlotKernels:
    """Pairwise kernels ``K_st`` (``s <= t``) of the centred slots of ``R`` (``n x k x T``, complete)."""

    def __init__(self, R: np.ndarray, cols: np.ndarray | None = None) -> None:
        """``cols``: the columns of ``R`` to use, in this order (None: all, as given): gathered slot
        by slot into the centred copies, never a reordered copy of ``R``."""
        n, _, T = R.shape
        self.n = n
        # each slot's column means: one pass over R where its axes lie outermost first (the same
        # sums, stimulus by stimulus, as each slot's own mean), else slot by slot
        rows_outer = R.strides[0] >= R.strides[1] >= R.strides[2]
        means = R.mean(axis=0) if rows_outer else None
        slots = []  # T centred (n, k) copies, freed below
        for s in range(T):
            x = R[:, :, s] if cols is None else np.take(R[:, :, s], cols, axis=1)  # C-ordered, as BLAS read it
            m = (means[:, s] if cols is None else means[cols, s]) if rows_outer else x.mean(axis=0)
            slots.append(x - m if cols is None else np.subtract(x, m, out=x))  # a gathered x is a copy
        self._K: dict[tuple[int, int], np.ndarray] = {}
        for s in range(T):
            self._K[s, s] = gram_matrix(slots[s])
            for t in range(s + 1, T):
                self._K[s, t] = slots[s] @ slots[t].T

    def gram(self, idx: np.ndarray) -> np.ndarray:
        """The Gram ``(n, n)`` of the mean of the slots ``idx`` (columns centred)."""
        idx = sorted(int(i) for i in idx)
        K = np.zeros((self.n, self.n))
        for a, s in enumerate(idx):
            K += self._K[s, s]
            for t in idx[a + 1 :]:
                K += self._K[s, t]
                K += self._K[s, t].T
        K /= len(idx) ** 2
        return K


def slots_risk_precision(R: np.ndarray, alpha: float) -> bool:
    """Whether ridge (penalty ``alpha``; 0: least squares) on kernels of means of ``R``'s slots (``R``
    of shape (n, k, T)) could miss the precision: the rank bound (:func:`~neuroxr.kernels.ridge_rank.eps_trace_risk`)
    on the largest slot's centred sum of squares, which bounds every mean of slots'. A Gram alone cannot
    resolve such a fit (docs/kernels.md, "Ridge precision"): the designs are then fitted themselves."""
    return alpha > 0 and eps_trace_risk(max(float(np.sum((R[:, :, s] - R[:, :, s].mean(axis=0)) ** 2))
                                            for s in range(R.shape[2])), alpha, "float64")
