"""Draws of the split halves fitted together (several small designs in one call): how many, and the
reliabilities of a group of them (reverse and inter-animal)."""

from __future__ import annotations

import numpy as np

from ..backend import HostWrites
from ..kernels.regressors import Regressor
from ..kernels.stats import spearman_brown
from . import _prepare as prep

__all__ = ["draw_group", "score_draw_group"]

_GROUP_WORK = 32 * 2**20  # draws whose designs are smaller (n k (k + m)) are fitted several at a time
_GROUP_BYTES = 2**20  # ... a stack of their halves of at most this size (the fit holds a few copies)


def draw_group(n: int, k: int, m: int) -> int:
    """Draws fitted together: enough that a group's work (``n k (k + m)`` per design) outweighs
    the per-call overhead of the fold loop, within :data:`_GROUP_BYTES` of halves, at most 32."""
    by_work = _GROUP_WORK // max(1, n * k * (k + m))
    by_bytes = _GROUP_BYTES // max(1, 2 * n * k * 8)
    return int(min(32, max(1, min(by_work, by_bytes))))


def score_draw_group(reg: Regressor, hs: list[tuple[np.ndarray, np.ndarray]], Yc: np.ndarray,
                      out: dict[str, np.ndarray], lo: int, hi: int, chunk: list[int], name: str,
                      writes: HostWrites) -> None:
    """SB(r(P1, P2)) of several draws' split halves ``hs`` in one stack of designs (both halves
    explicit: the complement shortcut serves one pair); ``name``: the predictor, in messages."""
    designs = [h for pair in hs for h in pair]
    for D in designs:
        prep.check_design(D, name)
    _, r_p = reg.pearson_designs(designs, Yc, pairs=[(2 * j, 2 * j + 1) for j in range(len(hs))], with_target=[],
                                 host=False)
    for j, i in enumerate(chunk):
        writes.put(out["prediction_shc"], (slice(lo, hi), i), r_p[j], spearman_brown)
