"""Reverse and inter-animal scoring in the dual regime (more predictor neuroids than training stimuli)
from the repeats' pairwise kernels: every design is a mean of repeat slots, so its Gram follows from
the slots' kernels, computed once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..backend import resolve_backend
from ..kernels.kernel_operator import apply_into
from ..kernels.regressors import Regressor
from ..kernels.slot_kernels import SlotKernels, slots_risk_precision
from ..kernels.splits import complete_sums, distinct_splits
from ..kernels.stats import pearson, spearman_brown
from ._progress import RepProgress, TargetProgress
from ._result import finish_reps

SLOT_KERNEL_BYTES = 256 * 2**20  # the repeats' pairwise kernels held at once


def use_slot_kernels(reg: Regressor, Rp: np.ndarray, reps: int, max_n: int | None, keep_predictions: bool,
                     total: np.ndarray | None) -> bool:
    """Whether the designs' kernels come from the repeats' pairwise kernels: ridge/linear with more predictors
    than training stimuli (the dual regime, one ``n x n`` kernel per design), complete trials (finite repeat
    sums ``total``, or else ``Rp`` read), no subsets, and ``T (T + 1) / 2`` kernels cheaper than two per rep."""
    n, k, T = Rp.shape
    n_tr = min(n - len(te) for _, te in reg.folds)
    return (
        reg.shared and max_n is None and not keep_predictions and k >= n_tr and T >= 2
        and resolve_backend(reg.backend) == "numpy" and np.dtype(reg.dtype) == np.float64
        and T * (T + 1) // 2 < 2 * reps + 1 and T * (T + 1) // 2 * n * n * 8 <= SLOT_KERNEL_BYTES
        and ((total is not None and complete_sums(Rp, total, "reverse")) or not np.isnan(Rp).any())
        and not slots_risk_precision(Rp, 0.0 if reg.name == "linear" else float(reg.alpha))  # else fitted themselves
    )


def score_from_slot_kernels(
    reg: Regressor, Rp: np.ndarray, cols: np.ndarray | None, chunks: Iterable[tuple[int, int, np.ndarray]],
    m: int, blocks: int, reps: int, perms: list[np.ndarray], ceiling: bool, has_target_shc: bool,
    out: dict[str, np.ndarray], progress: Any, direction: str,
) -> None:
    """The dual regime (more predictor neuroids than stimuli) from shared kernels.

    A design's out-of-fold operator needs only its Gram ``Dc Dc^T`` (``n x n``). The designs are
    means of repeat slots (the mean of all ``T``, each split half of ``c`` slots), so with the
    pairwise slot kernels ``K_st = Rc_s Rc_t^T`` (columns centred; ``T (T + 1) / 2`` products
    computed once) every design's Gram is ``(1 / c^2) sum_{s, t in half} K_st``: per rep no product
    over the predictors remains, only the operator and its application to the targets. ``cols``:
    the predictor's columns in canonical order (None: as given); ``chunks``: the ``m`` targets as
    ``(start, stop, block)``, ``blocks`` of them.
    """
    n, k, T = Rp.shape
    kernel = SlotKernels(Rp, cols).gram

    first = (T + 1) // 2
    # complete trials: reps that share a split (the set of half 1's slots, or its swap) share its
    # operators and their SB(r(P1, P2)), computed once per distinct split
    draws, inverse = distinct_splits(np.stack(perms), symmetric=True) if ceiling else (np.zeros((0, T), dtype=int), None)
    # several unit blocks: the splits' operators are kept for the next blocks when they fit
    lazy = blocks > 1 and len(draws) * 2 * n * n * 8 <= SLOT_KERNEL_BYTES
    S_mean = reg.operator_from_gram(kernel(np.arange(T)), n_features=k)
    ops = None
    bar = TargetProgress(reps, progress, direction, m)
    for lo, hi, Yc in chunks:
        buf = np.empty((2, n, hi - lo))  # the chunk's predictions, written in place draw after draw
        r_mean = pearson(Yc, apply_into(S_mean, Yc, buf[0]))
        made = []
        shc = np.empty((hi - lo, len(draws)))
        done = RepProgress(reps, inverse if ceiling else np.zeros(reps, dtype=int), bar.part(hi - lo), direction)
        for j in range(len(draws)):
            if ops is not None:
                S1, S2 = ops[j]
            else:
                S1 = reg.operator_from_gram(kernel(draws[j][:first]), n_features=k)
                S2 = reg.operator_from_gram(kernel(draws[j][first:]), n_features=k)
                if lazy:
                    made.append((S1, S2))
            shc[:, j] = spearman_brown(pearson(apply_into(S1, Yc, buf[0]), apply_into(S2, Yc, buf[1]), overwrite=True))
            done.draw(j)
        done.close()
        bar.reach(hi)
        if ceiling:
            out["prediction_shc"][lo:hi, :] = shc[:, inverse]
        finish_reps(out, lo, hi, r_mean, ceiling, has_target_shc)
        if ops is None and lazy:
            ops = made  # later unit chunks reuse the splits' operators
        del made, buf
