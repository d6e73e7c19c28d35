"""The headline of a report: the best layer per model and region, with an interval and the ceiling.

The layer is chosen by :func:`neuroxr.sweep.best_layers` (median rep-mean EV over the included
targets of a seeded *selection* half; the layer is reported on the other, *test*, half), from the
entries the report's figures use (:func:`neuroxr.report.table.figure_entries`: current entries,
one parameter set per model and neural set). To that row this module adds

- an **interval**: the 2.5 and 97.5 percentiles of the median test-half EV over ``n_boot``
  bootstrap resamples of the included test-half targets (a percentile bootstrap over targets, Efron &
  Tibshirani 1993). It describes how much the reported number depends on which targets were
  recorded; it is not a test between layers or models (full inference is a later issue);
- the **noise ceiling**: the median over the included test-half targets of the rep-mean ``ceiling``
  variable of the score entry (the product of Spearman-Brown corrected split-half
  reliabilities that ``r^2`` is divided by, as in reverse_pred; in ``r^2`` units, 1 = perfectly
  reliable). EV is already noise corrected, so the ceiling tells how reliable the targets are,
  not a bound on the EV.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import canonical_order
from ..errors import LayoutError
from ..kernels.resample import nanmean_over
from ..sweep.gather import _included
from .table import figure_entries

__all__ = ["HEADLINE_COLUMNS", "LEVEL", "headline", "target_table", "left_out", "lost_entries", "median_coverage_bound", "coarse_note"]

#: columns of :func:`headline`, in order
HEADLINE_COLUMNS = ["direction", "model", "neural", "region", "best_layer", "test_ev", "ci_low", "ci_high", "ceiling",
                    "selection_ev", "n_selection", "n_test", "n_unscored", "n_layers", "selection_seed", "parameters"]


#: the level of the headline interval
LEVEL = 0.95


def _rep_mean(ds: xr.Dataset, var: str, tdim: str) -> np.ndarray:
    da = ds[var]
    da = nanmean_over(da, "rep") if "rep" in da.dims else da  # all-NaN reps: NaN, silently
    return np.asarray(da.transpose(tdim).values, dtype=float)


def target_table(table: pd.DataFrame, scores: dict[tuple[str, str, str], xr.Dataset]) -> pd.DataFrame:
    """One row per (forward/reverse entry, target) of a :func:`neuroxr.report.score_table`.

    Only the entries with ``in_figures`` (:func:`neuroxr.report.table.figure_entries`: current,
    readable, one parameter set per direction, model and neural set) that have a model and a
    neural set are used. A forward entry over a whole neural set whose neuroids carry a
    ``region`` coord with several values also gives one group per region (its neuroids), unless
    that region subset has an entry of its own. Columns ``direction``, ``model``, ``layer``,
    ``neural``, ``region``, ``target_id``, ``ev`` (rep-mean EV, percent), ``ceiling`` (rep-mean
    split-half ceiling; NaN when the entry has none), ``included`` (the entry's ``included``
    flag, set by ``min_reliability``; True when it has none) and ``parameters`` (the entry's
    parameter text), the input of :func:`neuroxr.sweep.best_layers`.

    Parameters
    ----------
    table : pandas.DataFrame
    scores : dict
        ``(direction, source, target) -> Dataset``, as :func:`neuroxr.report.score_table` returns them.
    """
    if not isinstance(table, pd.DataFrame) or not isinstance(scores, Mapping):
        raise LayoutError(f"target_table: expected score_table(store)'s table (a DataFrame) and scores (a mapping); got "
                          f"{type(table).__name__} and {type(scores).__name__}.")
    cols = ["direction", "model", "layer", "neural", "region", "target_id", "ev", "ceiling", "included", "parameters"]
    ok = figure_entries(table)
    ok = ok[(ok["error"] == "") & ok["direction"].isin(["forward", "reverse"]) & ok["model"].notna() & ok["neural"].notna()]
    frames = []
    scored = set(zip(ok["direction"], ok["model"], ok["layer"], ok["neural"], ok["region"]))
    for r in ok.itertuples():
        ds = scores[(r.direction, r.source, r.target)]
        tdim = "neuroid" if "neuroid" in ds.dims else "unit"
        ids = np.asarray(ds[f"{tdim}_id"].values).astype(str) if f"{tdim}_id" in ds.coords else np.arange(ds.sizes[tdim]).astype(str)
        ev = _rep_mean(ds, "ev", tdim)
        ceiling = _rep_mean(ds, "ceiling", tdim) if "ceiling" in ds else np.full(len(ev), np.nan)
        frame = pd.DataFrame({"direction": r.direction, "model": r.model, "layer": r.layer, "neural": r.neural,
                              "region": r.region, "target_id": ids, "ev": ev, "ceiling": ceiling,
                              "included": _included(ds, tdim), "parameters": r.parameters})
        frames.append(frame)
        # a forward entry over a whole set also gives each region's neuroids (the neuroids, and so
        # the halves, of a region-subset entry), unless that subset was scored itself
        if r.direction == "forward" and r.region == "all" and "region" in ds.coords and ds["region"].dims == (tdim,):
            regions = np.asarray(ds["region"].values).astype(str)
            for region in dict.fromkeys(regions):
                if len(set(regions)) > 1 and (r.direction, r.model, r.layer, r.neural, region) not in scored:
                    frames.append(frame[regions == region].assign(region=region))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _bootstrap_median(values: np.ndarray, n_boot: int, seed: int, stream: int) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the median of the finite ``values`` (in the order of
    their targets' ids; draws :func:`neuroxr.kernels.resample.bootstrap_indices` with ``seed`` and
    ``stream``, the crc32 of the row's key). NaN with fewer than 2 values: every resample of one
    target is that target, a zero-width interval that would claim no uncertainty (scipy.stats.bootstrap
    refuses such data)."""
    from ..kernels import resample as rs

    values = values[np.isfinite(values)]
    if values.size < 2:
        return np.nan, np.nan
    idx = rs.bootstrap_indices(values.size, n_boot, seed, stream=stream)
    lo, hi = rs.percentile_interval(np.median(values[idx], axis=1), LEVEL)
    return float(lo), float(hi)


def headline(targets: pd.DataFrame, *, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """Best layer per (direction, model, neural set, region), its test EV, a bootstrap interval and the ceiling.

    Parameters
    ----------
    targets : pandas.DataFrame
        :func:`target_table` (one row per entry and target); targets with ``included`` false
        count in no median, interval or ceiling, as in :func:`neuroxr.sweep.best_layers`.
    seed : int, default 0
        Seed of the selection/test split (the one of :func:`neuroxr.sweep.best_layers`) and of
        the bootstrap.
    n_boot : int, default 1000
        Bootstrap resamples of the test-half targets.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HEADLINE_COLUMNS`: the columns of :func:`neuroxr.sweep.best_layers`
        (``test_ev`` is the median rep-mean EV, percent, over the included test-half targets of the
        chosen layer, ``n_test`` their number), ``[ci_low, ci_high]`` its 95 % percentile-bootstrap
        interval over those targets (NaN with fewer than 2 of them), ``ceiling`` the median split-half ceiling of the same
        targets, ``parameters`` the parameters of the entries compared (empty when ``targets``
        has no ``parameters`` column).
    """
    from ..sweep.select import best_layers, scored_halves

    best = best_layers(targets, seed=seed)
    if len(targets) and "time_bin_start" in targets.columns:  # as best_layers: time-resolved rows choose no layer
        targets = targets[targets["time_bin_start"].isna()]
    rows: list[dict[str, Any]] = []
    for b in best.itertuples():
        group = targets[(targets["direction"] == b.direction) & (targets["model"] == b.model) & (targets["neural"] == b.neural)
                        & (targets["region"] == b.region)]
        at = (group["layer"] == b.best_layer).to_numpy()
        g = group[at]
        key = f"forward/{b.neural}/{b.region}" if b.direction == "forward" else f"reverse/{b.model}/{b.best_layer}"
        # the test half of best_layers (its scored targets): forward's split over the group's layers, reverse's per layer
        test = scored_halves(group, key, seed)[1][at] if b.direction == "forward" else scored_halves(g, key, seed)[1]
        # of those, the chosen layer's included ones, as in test_ev: a target scored in another layer (or,
        # forward, another layer's row of it) holds its slot but counts in no interval or ceiling here
        if "included" in g:
            test = test & g["included"].to_numpy(dtype=bool)
        # targets drawn in the order of their ids, never the table's (the entry's input order)
        by_id = canonical_order(g["target_id"].to_numpy()[test])
        # seeded by the row's key, never its position among the rows (another model's rows change no interval)
        lo, hi = _bootstrap_median(g["ev"].to_numpy(dtype=float)[test][by_id], n_boot, int(seed), zlib.crc32(key.encode()))
        ceil = g["ceiling"].to_numpy(dtype=float)[test]
        rows.append({"direction": b.direction, "model": b.model, "neural": b.neural, "region": b.region,
                     "best_layer": b.best_layer, "test_ev": b.test_ev, "ci_low": lo, "ci_high": hi,
                     "ceiling": float(np.nanmedian(ceil)) if np.isfinite(ceil).any() else np.nan,
                     "selection_ev": b.selection_ev, "n_selection": b.n_selection, "n_test": b.n_test,
                     "n_unscored": b.n_unscored, "n_layers": b.n_layers, "selection_seed": b.selection_seed,
                     # the entries compared: the best layer's, or every layer's where none was chosen
                     "parameters": "; ".join(dict.fromkeys((g if len(g) else group)["parameters"]))
                     if "parameters" in g else ""})
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def row_label(r: Any) -> str:
    """A headline row as the headline figure labels it (direction, model, neural set, region, layer)."""
    values = (getattr(r, c) for c in ("direction", "model", "neural", "region", "best_layer"))
    return " ".join(str(v) for v in values if not (np.ndim(v) == 0 and pd.isna(v)) and str(v) not in ("all", "None"))


def lost_entries(store: Any, damage: Mapping[str, str], listed: Any) -> pd.DataFrame:
    """Rows, as :func:`neuroxr.report.score_table`'s, of the forward/reverse score entries (or pair
    groups) that ``damage`` (``path -> problem`` of :meth:`~neuroxr.store.StudyStore.damaged`) names and
    that no table lists (``listed``: the paths that are): their document is lost or garbled, so Zarr
    cannot open them. Labels from the path and the store's sets; ``current`` true (a lost document
    cannot tell), ``error`` the problem."""
    from .table import _parse

    rows = []
    for path, problem in damage.items():
        parts = path.split("/")
        if path in listed or len(parts) < 3 or parts[0] != "scores" or parts[1] not in ("forward", "reverse") \
                or "__" not in parts[2]:
            continue
        source, _, target = parts[2].partition("__")
        e = _parse(store, parts[1], source, target, {})
        rows.append({"direction": parts[1], "source": source, "target": target, "model": e.model, "layer": e.layer,
                     "neural": e.neural, "region": e.region, "current": True, "in_figures": False, "path": path,
                     "error": problem})
    return pd.DataFrame(rows, columns=["direction", "source", "target", "model", "layer", "neural", "region", "current",
                                       "in_figures", "path", "error"])


def left_out(best: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``best`` with an ``error`` column naming, per row, the current entries of its comparison that
    are damaged or cannot be read, when some row has one (else ``best`` unchanged).

    Such an entry never takes part in the headline (:func:`target_table` uses readable entries only):
    the row compares the other layers, and its best layer could be the one left out. A comparison's
    entries are the forward/reverse rows of ``table`` of the same direction, model and neural set
    and the row's region, or (forward) of the whole set when no readable entry of that layer scores
    the region itself (its neuroids give the region's targets), whatever their parameters (a damaged
    entry can change which parameter set is drawn).

    Parameters
    ----------
    best : pandas.DataFrame
        :func:`headline`.
    table : pandas.DataFrame
        :func:`neuroxr.report.score_table` the headline was computed from (and :func:`lost_entries`:
        entries no table lists).

    Returns
    -------
    pandas.DataFrame
        ``best``, with ``error`` (empty where nothing was left out) after its columns when some row
        has one; its numbers are kept (those of the entries compared).
    """
    bad = table[(table["error"] != "") & table["current"].astype(bool) & table["direction"].isin(["forward", "reverse"])]
    if not len(bad) or not len(best):
        return best
    ok = figure_entries(table)
    scored = set(zip(ok["direction"], ok["model"], ok["layer"], ok["neural"], ok["region"]))
    errors = []
    for b in best.itertuples():
        paths = [r.path for r in bad.itertuples() if (r.direction, r.model, r.neural) == (b.direction, b.model, b.neural)
                 and (r.region == b.region or (r.direction == "forward" and r.region == "all"
                                               and (r.direction, r.model, r.layer, r.neural, b.region) not in scored))]
        errors.append(f"compared without {len(paths)} damaged or unreadable "
                      f"{'entry' if len(paths) == 1 else 'entries'} ({', '.join(paths)}); compute again" if paths else "")
    if not any(errors):
        return best
    return best.assign(error=errors)


def median_coverage_bound(n: int) -> float:
    """The most often a range between the lowest and the highest of ``n`` values, drawn independently
    from a continuous distribution, holds that distribution's median: ``1 - 2 ** (1 - n)`` (all ``n``
    values fall on one side of it with probability ``2 * 0.5 ** n``). A percentile bootstrap interval
    of the median of ``n`` values lies within that range (every resample's median does), so it holds
    the median of all such targets at most this often: 0.5 for 2 values, 0.75 for 3, 0.875 for 4,
    0.9375 for 5, below :data:`LEVEL` for 5 or fewer."""
    return 1.0 - 2.0 ** (1 - int(n))


def coarse_note(best: pd.DataFrame) -> str:
    """A sentence naming the rows of :func:`headline` whose interval rests on so few test targets that
    it cannot hold :data:`LEVEL` of the time (:func:`median_coverage_bound`); empty when there are none."""
    rows = [r for r in best.itertuples()
            if np.isfinite(r.ci_low) and np.isfinite(r.ci_high) and median_coverage_bound(r.n_test) < LEVEL]
    if not rows:
        return ""
    named = "; ".join(f"{row_label(r)} (n_test {int(r.n_test)}: at most {100 * median_coverage_bound(r.n_test):g} %)"
                      for r in rows)
    return (f"Coarse intervals: {named}: an interval from so few test targets stays within their EVs' range, which "
            f"holds the median over all such targets at most 1 - 2^(1 - n_test) of the time, not {100 * LEVEL:g} %; "
            f"read it as a rough range.")

