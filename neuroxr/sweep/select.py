"""Layer selection on held-out targets: :func:`target_halves`, :func:`scored_halves` and :func:`best_layers`.

The best layer is chosen by a criterion that never looks at the reported numbers: per
(direction, model, neural set, region) the targets (neuroids for forward, units of each layer for
reverse) that were scored are split into two halves by a seeded random permutation of their ids
(a target never scored takes no slot); the layer with
the highest median rep-mean EV over the *selection* half is chosen, and its median over the other
(*test*) half is reported (the split-selection protocol of Schrimpf et al., Brain-Score, and of
the "circular analysis" critique of Kriegeskorte et al. 2009).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LayoutError, examples, shown, warn
from ..validation import check_int
from ._util import nanmedian

__all__ = ["best_layers", "scored_halves", "target_halves"]


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


def scored_halves(rows: pd.DataFrame, key: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The selection and test halves of the targets of ``rows`` that were scored.

    A target is *scored* when some row of it has a finite ``ev`` with ``included`` true (every
    row counts as included without that column). The scored targets' ids are split by
    :func:`target_halves`; a target never scored (all-NaN, constant, too few stimuli, or excluded
    by ``min_reliability``) is in neither half, so it never takes a slot and never moves a scored
    target from one half to the other.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows with ``target_id`` and ``ev`` (optional ``included``): for forward every layer of a
        group (the targets are split once for all of them), for reverse one layer.
    key, seed
        As :func:`target_halves`.

    Returns
    -------
    (selection, test) : tuple of numpy.ndarray of bool, aligned with the rows of ``rows``
    """
    ids = rows["target_id"].to_numpy().astype(str)
    ev = rows["ev"].to_numpy(dtype=float)
    inc = rows["included"].to_numpy(dtype=bool) if "included" in rows else np.ones(len(ev), dtype=bool)
    scored = np.unique(ids[np.isfinite(ev) & inc])
    chosen = set(scored[target_halves(scored, key, seed)]) if scored.size else set()
    in_scored = np.isin(ids, scored)
    sel = np.array([i in chosen for i in ids], dtype=bool)
    return sel, in_scored & ~sel


TARGET_COLUMNS = ("direction", "model", "layer", "neural", "region", "target_id", "ev")
"""The columns :func:`best_layers` reads from a target table."""


def best_layers(target_table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The best layer per (direction, model, neural set, region), chosen on held-out targets.

    For the forward direction the targets (neuroids of the neural set or region subset) are
    split once per (direction, model, neural set, region) over all its layers by
    :func:`scored_halves`, so every layer is compared on the same neuroids (and every model, where
    the same neuroids were scored). For the reverse direction the targets are the units of each
    layer, split per layer. Only targets that were scored (a finite EV, ``included`` true, in some
    layer of the split) are split: a target never scored takes no slot, so adding or removing one
    (an all-NaN neuroid, a constant unit, one below ``min_reliability``) changes no choice and no
    number. The criterion is the median over the *selection* half of the rep-mean EV (where no layer
    has a finite one, no layer is chosen: ``best_layer`` empty, its numbers NaN); the chosen
    layer (ties: the one whose rows come first in ``target_table``, the shallower one in a sweep's
    tables, which list each model's layers in depth order) is reported with the median over the
    *test* half (``test_ev``), which played no part in the choice. ``all_ev`` is the median over
    all scored targets of the chosen layer, for reference. Rows of time-resolved entries (with a
    ``time_bin_start``) are left out.

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
        ``selection_ev``, ``test_ev``, ``all_ev``, ``n_selection``, ``n_test`` (the chosen layer's
        targets with a finite, included EV in each half: the medians' sizes), ``n_unscored`` (the
        chosen layer's other targets, in no median: NaN EV or ``included`` false), ``n_layers``,
        ``selection_seed`` (``seed``: which halves; another seed gives other numbers).
    """
    columns = ["direction", "model", "neural", "region", "best_layer", "selection_ev", "test_ev", "all_ev",
               "n_selection", "n_test", "n_unscored", "n_layers", "selection_seed"]
    if not isinstance(target_table, pd.DataFrame):
        raise LayoutError(f"best_layers: target_table must be a DataFrame (SweepResult.target_table); got {shown(target_table)}.")
    seed = check_int(seed, "seed", 0, "The target halves' draws; pass e.g. seed=0.", caller="best_layers")
    lacking = [c for c in TARGET_COLUMNS if c not in target_table.columns] if len(target_table) else []
    if lacking:
        raise LayoutError(f"best_layers: target_table lacks the columns {examples(lacking)}; pass SweepResult.target_table "
                          f"(columns {list(TARGET_COLUMNS)}).")
    t = target_table[target_table["direction"].isin(["forward", "reverse"])] if len(target_table) else target_table
    if len(t) and "time_bin_start" in t.columns:  # time-resolved entries (one row per bin) choose no layer
        t = t[t["time_bin_start"].isna()]
    if not len(t):
        return pd.DataFrame(columns=columns)
    numeric = pd.to_numeric(t["ev"], errors="coerce")
    if (bad := t["ev"][numeric.isna() & t["ev"].notna()]).size:
        raise LayoutError(f"best_layers: target_table's column 'ev' must hold numbers (NaN where a target has none); got "
                          f"{shown(bad.iloc[0])} among its values. Pass SweepResult.target_table.")
    t = t.assign(ev=numeric)
    out, untested = [], []
    for (d, m, n, r), g in t.groupby(["direction", "model", "neural", "region"], sort=False):
        best = None
        layers = list(dict.fromkeys(g["layer"]))
        ev_all = g["ev"].to_numpy(dtype=float)
        if "included" in g:
            ev_all = np.where(g["included"].to_numpy(dtype=bool), ev_all, np.nan)
        if d == "forward":  # one split of the neuroids for every layer
            halves = scored_halves(g, f"forward/{n}/{r}", seed)
        for l in layers:
            at = (g["layer"] == l).to_numpy()
            sel, test = (h[at] for h in halves) if d == "forward" else scored_halves(g[at], f"reverse/{m}/{l}", seed)
            ev = ev_all[at]
            crit = float(nanmedian(ev[sel])) if sel.any() else np.nan
            if best is None or (np.isfinite(crit) and not crit <= best[1]):
                n_sel, n_test = int(np.isfinite(ev[sel]).sum()), int(np.isfinite(ev[test]).sum())
                best = (l, crit, float(nanmedian(ev[test])) if test.any() else np.nan, float(nanmedian(ev)),
                        n_sel, n_test, len(ev) - n_sel - n_test)
        if not np.isfinite(best[1]):  # no layer scored a selection target: nothing to choose by
            best = (None, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan)
        elif best[5] == 0:  # a single scored target selects the layer and leaves no test half
            untested.append(f"{d} {m} -> {n}" + ("" if r == "all" else f".{r}"))
        out.append({"direction": d, "model": m, "neural": n, "region": r, "best_layer": best[0], "selection_ev": best[1],
                    "test_ev": best[2], "all_ev": best[3], "n_selection": best[4], "n_test": best[5],
                    "n_unscored": best[6], "n_layers": len(layers), "selection_seed": int(seed)})
    if untested:
        warn(f"best_layers: {len(untested)} groups have a chosen layer but no scored target in the test half (a single "
             f"scored target selects it), so test_ev is NaN and n_test 0: {examples(untested)}. Their choice is untested; "
             "read all_ev, or score more targets.")
    return pd.DataFrame(out, columns=columns)


def without_failed(best: pd.DataFrame, failed_entries: Any) -> pd.DataFrame:
    """``best`` (:func:`best_layers`) with no choice for a (direction, model, neural set, region) one of
    whose layers failed (``failed_entries``: the sweep's failed :class:`~neuroxr.sweep.plan.Entry`):
    the best of the layers left is not the best of those asked for, so ``best_layer`` is empty and its
    numbers NaN there, with one warning naming the groups."""
    groups = {(e.direction, e.model, e.neural, e.region) for e in failed_entries}
    if not groups or not len(best):
        return best
    hit = np.array([(r.direction, r.model, r.neural, r.region) in groups for r in best.itertuples()], dtype=bool)
    if not hit.any():
        return best
    best = best.copy()
    best.loc[hit, "best_layer"] = None
    for column in ("selection_ev", "test_ev", "all_ev", "n_selection", "n_test", "n_unscored"):
        best.loc[hit, column] = pd.NA if str(best[column].dtype) == "Int64" else np.nan
    named = sorted(f"{d} {m} -> {n}" + ("" if r == "all" else f".{r}") for d, m, n, r in groups)
    warn(f"best_layers: a layer of {', '.join(named[:5])}{' ...' if len(named) > 5 else ''} failed, so no best layer is "
         f"chosen there (the best of the layers left is not the best of those asked for); re-run the sweep to compute "
         f"the missing entries.")
    return best

