"""Layer selection on held-out targets: :func:`target_halves` and :func:`best_layers`.

The best layer is chosen by a criterion that never looks at the reported numbers: per
(direction, model, neural set, region) the targets (neuroids for forward, units of each layer for
reverse) are split into two halves by a seeded random permutation of their ids; the layer with
the highest median rep-mean EV over the *selection* half is chosen, and its median over the other
(*test*) half is reported (the split-selection protocol of Schrimpf et al., Brain-Score, and of
the "circular analysis" critique of Kriegeskorte et al. 2009).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._util import nanmedian

__all__ = ["best_layers", "target_halves"]


def target_halves(ids: Sequence[str], key: str, seed: int = 0) -> np.ndarray:
    """Which targets select the layer: True for the selection half, False for the test half.

    The ids are sorted, permuted by ``numpy.random.default_rng([seed, crc32(key)])``, and the
    first ``ceil(len/2)`` of the permutation form the selection half. The split depends only on
    the ids, ``key`` and ``seed`` (not on their order, nor on any score).

    Parameters
    ----------
    ids : sequence of str
        Target ids (neuroid ids or unit ids).
    key : str
        Names the group (e.g. ``"forward/animalA/IT"``) so that groups get independent splits.
    seed : int, default 0
        Selection seed.

    Returns
    -------
    numpy.ndarray of bool, aligned with ``ids``
    """
    ids = np.asarray(ids).astype(str)
    order = np.sort(np.unique(ids))
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    perm = rng.permutation(len(order))
    chosen = set(order[perm[: (len(order) + 1) // 2]])
    return np.array([i in chosen for i in ids], dtype=bool)


def best_layers(target_table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The best layer per (direction, model, neural set, region), chosen on held-out targets.

    For the forward direction the targets (neuroids of the neural set or region subset) are
    split once per (neural set, region) by :func:`target_halves`, so every layer and model is
    compared on the same neuroids. For the reverse direction the targets are the units of each
    layer, split per layer. The criterion is the median over the *selection* half of the
    rep-mean EV; the chosen layer (ties: the one whose rows come first in ``target_table``, the
    shallower one in a sweep's tables, which list each model's layers in depth order) is reported with the median over the
    *test* half (``test_ev``), which played no part in the choice. ``all_ev`` is the median over
    all targets of the chosen layer, for reference. Targets with ``included`` false (below the
    sweep's ``min_reliability``) are split with the others but counted in no median. Rows of
    time-resolved entries (with a ``time_bin_start``) are left out.

    Parameters
    ----------
    target_table : pandas.DataFrame
        :attr:`SweepResult.target_table` (columns ``direction``, ``model``, ``layer``,
        ``neural``, ``region``, ``target_id``, ``ev``; optional ``included``).
    seed : int, default 0
        Seed of the target split.

    Returns
    -------
    pandas.DataFrame
        Columns ``direction``, ``model``, ``neural``, ``region``, ``best_layer``,
        ``selection_ev``, ``test_ev``, ``all_ev``, ``n_selection``, ``n_test``, ``n_layers``.
    """
    columns = ["direction", "model", "neural", "region", "best_layer", "selection_ev", "test_ev", "all_ev",
               "n_selection", "n_test", "n_layers"]
    t = target_table[target_table["direction"].isin(["forward", "reverse"])] if len(target_table) else target_table
    if len(t) and "time_bin_start" in t.columns:  # time-resolved entries (one row per bin) choose no layer
        t = t[t["time_bin_start"].isna()]
    if not len(t):
        return pd.DataFrame(columns=columns)
    out = []
    for (d, m, n, r), g in t.groupby(["direction", "model", "neural", "region"], sort=False):
        best = None
        layers = list(dict.fromkeys(g["layer"]))
        for l in layers:
            gl = g[g["layer"] == l]
            ids = gl["target_id"].to_numpy()
            key = f"forward/{n}/{r}" if d == "forward" else f"reverse/{m}/{l}"
            sel = target_halves(ids, key, seed)
            ev = gl["ev"].to_numpy(dtype=float)
            inc = gl["included"].to_numpy(dtype=bool) if "included" in gl else np.ones(len(ev), dtype=bool)
            ev = np.where(inc, ev, np.nan)
            crit = float(nanmedian(ev[sel])) if sel.any() else np.nan
            if best is None or (np.isfinite(crit) and not crit <= best[1]):
                best = (l, crit, float(nanmedian(ev[~sel])) if (~sel).any() else np.nan, float(nanmedian(ev)),
                        int((sel & inc).sum()), int((~sel & inc).sum()))
        out.append({"direction": d, "model": m, "neural": n, "region": r, "best_layer": best[0], "selection_ev": best[1],
                    "test_ev": best[2], "all_ev": best[3], "n_selection": best[4], "n_test": best[5], "n_layers": len(layers)})
    return pd.DataFrame(out, columns=columns)
