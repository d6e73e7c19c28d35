"""The report's inference section: the store's bootstrap and permutation entries as one table
(median EV with its bootstrap interval, permutation p-value of the median) and their figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..entries import list_entries
from ..entries.kinds import DIRECTION_INFERENCE_KINDS, INFERENCE_KINDS
from ..entries.layout import LIST_COLUMNS, read_entry
from ..predictivity.inference import applicable_options
from ..store import StudyStore
from ..sweep._util import per_bin
from ..sweep.inference import inference_summary, metric_bootstrap_summary
from .table import _choose, _parse, listed_parameters, parameter_text

__all__ = ["inference_table", "inference_figures", "metric_inference_table", "INFERENCE_COLUMNS", "INFERENCE_DISPLAY",
           "INFERENCE_NOTE", "METRIC_INFERENCE_DISPLAY", "METRIC_INFERENCE_NOTE"]

#: columns of :func:`inference_table` (and ``inference.csv``), in this order whatever entries the store holds:
#: a row's missing procedure (no permutation test, no bootstrap) or bins (a static entry) leave its cells empty
INFERENCE_COLUMNS = ["direction", "source", "target", "model", "layer", "neural", "region", "time_bin_start",
                     "time_bin_end", "parameters", "median_ev", "median_ev_low", "median_ev_high", "n_boot",
                     "n_boot_undefined", "median_p", "n_perm", "ceiling", "ceiling_low", "ceiling_high", "error",
                     "in_figures"]

INFERENCE_DISPLAY = ["direction", "source", "target", "region", "time_bin_start", "time_bin_end", "parameters",
                     "median_ev", "median_ev_low", "median_ev_high",
                     "n_boot", "n_boot_undefined", "median_p", "n_perm", "ceiling", "ceiling_low", "ceiling_high"]
INFERENCE_NOTE = (
    "median_ev: median over targets of the EV; [median_ev_low, median_ev_high]: bootstrap interval over stimuli "
    "(held-out predictions and split halves resampled together, the fit kept). n_boot_undefined: of the n_boot "
    "resamples, those whose median EV is undefined (every target's EV NaN on it, e.g. fewer than 3 distinct stimuli "
    "drawn); any makes the interval, and the ceiling's, NaN (nan_policy='propagate', as scipy.stats.bootstrap). "
    "median_p: one-sided permutation "
    "p-value of the median r (stimulus labels of the targets permuted, the fit kept). ceiling: median noise ceiling "
    "over targets with its bootstrap interval; in the figures a shaded band where a model at the ceiling would fall "
    "(100 ceiling / [ceiling_high, ceiling_low] %). Figures: * marks p <= 0.05. Current entries only, one row per "
    "parameter set (parameters: those of the score that differ from the defaults; of several resample counts, the "
    "largest); the figures draw one set per direction and model, the one most rows hold. error: an entry that could not be read "
    "or that the store names damaged, even in an array the table does not read (compute it again), its numbers left "
    "empty; such a row is not drawn."
)


#: parameters of an inference entry that describe the resampling, not the score it resamples
_PROCEDURE_PARAMS = ("n_boot", "level", "method", "over", "n_perm")


def _current_entries(store: StudyStore, kinds: list[str]) -> pd.DataFrame:
    """The complete, current entries of ``kinds`` with the text of their score parameters (those
    of the procedure left out, so a bootstrap and a permutation entry of one score share it)."""
    entries = list_entries(store)
    entries = entries[entries["kind"].isin(kinds) & entries["complete"] & entries["current"]]
    names = [c for c in entries.columns if c not in LIST_COLUMNS and c not in _PROCEDURE_PARAMS]
    entries = entries.copy()
    listed = listed_parameters(entries[list(LIST_COLUMNS) + names]) if len(entries) else []
    entries["parameters"] = [parameter_text(p) for p in listed]
    # the parameters as a permutation test of the same score takes them (reps, split, noise_ceiling only
    # with min_reliability): a bootstrap and a permutation entry of one score join on them
    entries["permutation_parameters"] = [
        parameter_text(applicable_options(INFERENCE_KINDS[k][0], "permutation", p)) if k in INFERENCE_KINDS else ""
        for k, p in zip(entries["kind"], listed)]
    # a bootstrap's interval options away from their defaults (level, method, over): rows of their own
    interval = [c for c in ("level", "method", "over") if c in entries.columns]
    entries["interval"] = [", ".join(f"{k}={v}" for k, v in p.items()) for p in
                           listed_parameters(entries[list(LIST_COLUMNS) + interval])] if len(entries) else []
    return entries


def _more_resamples(row: Mapping[str, Any], count: int, procedure: str) -> bool:
    """Whether an entry of ``count`` resamples fills ``row``'s ``procedure`` columns: the first of its
    procedure, or one with more resamples (of several bootstraps or permutation tests of one score,
    differing only in ``n_boot`` / ``n_perm``, a row shows the largest, whatever order the store lists them in)."""
    n = "n_boot" if procedure == "bootstrap" else "n_perm"
    return n not in row or count > int(row[n])


def _unreadable(row: dict[str, Any], path: str, exc: Exception) -> None:
    """Name in ``row``'s ``error`` an entry that could not be read (e.g. damaged): its numbers stay
    empty (or those of a readable entry of the same row), and the row is drawn in no figure."""
    row["error"] = "; ".join(filter(None, [row.get("error", ""), f"{path}: {type(exc).__name__}: {exc}"]))


def _with_errors(out: pd.DataFrame, columns: list[str]) -> list[str]:
    """``columns``, with ``error`` after them when some row of ``out`` has one."""
    return columns + (["error"] if "error" in out and (out["error"].fillna("") != "").any() else [])


def inference_table(store: StudyStore, damage: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (direction, source, target, score parameters) with complete current inference
    entries (stale ones are left out): labels as in the score table, ``median_ev``, its interval,
    ``median_p``, ``parameters`` (non-default score parameters, and a bootstrap's ``level``,
    ``method`` or ``over`` away from their defaults: a row of their own), ``error`` (the entries of the row
    that could not be read or that the store names damaged, even in an array the table does not read
    (:func:`~neuroxr.entries.layout.read_entry`; ``damage``: ``path -> problem`` of a scan of the store
    already made), and why; their numbers are left empty; empty when none) and ``in_figures`` (the
    figures draw one parameter set per direction and model, the one most rows hold, as the score
    figures; never a row with an ``error``). The columns are :data:`INFERENCE_COLUMNS`, in that order
    whatever entries the store holds (``time_bin_start``/``time_bin_end`` empty for a static entry's
    row, ``median_p``/``n_perm`` for a row without a permutation test, the bootstrap's for one without a
    bootstrap)."""
    entries = _current_entries(store, list(DIRECTION_INFERENCE_KINDS))
    entries = entries.sort_values("kind", key=lambda k: k.str.endswith("_permutation"), kind="stable")  # bootstraps first
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    joins: dict[tuple[str, str, str, str], str] = {}  # bootstrap row -> its permutation_parameters
    for e in entries.itertuples():
        direction, procedure = INFERENCE_KINDS[e.kind]
        shown = e.parameters if not e.interval else e.interval if e.parameters == "defaults" else f"{e.parameters}, {e.interval}"
        key = (direction, e.source, e.target, shown)
        keys = [key]
        if procedure == "permutation":  # the rows of the bootstraps of the same score, else its own
            keys = [k for k, t in joins.items() if k[:3] == key[:3] and t == e.permutation_parameters] or keys
        else:
            joins[key] = e.permutation_parameters
        parsed = None
        n = "n_boot" if procedure == "bootstrap" else "n_perm"
        try:  # a time-resolved entry: a row per bin, as the sweep's table
            whole = read_entry(store, e.path, damage)
            summaries = [(cols, inference_summary(ds, procedure)) for cols, ds in per_bin(whole)]
            count, attrs, failed = int(whole.attrs[n]), dict(whole.attrs), None
        except Exception as exc:  # one damaged entry must not stop the report: its row says why
            summaries, count, attrs, failed = [({}, {})], 0, {}, exc
        for cols, summary in summaries:
            if procedure == "permutation":
                summary.pop("median_r", None)
            for key in keys:
                bkey = (*key, cols.get("time_bin_start"), cols.get("time_bin_end"))
                if bkey not in rows:
                    parsed = parsed or _parse(store, direction, e.source, e.target, attrs)
                    rows[bkey] = {"direction": direction, "source": e.source, "target": e.target, "model": parsed.model,
                                  "layer": parsed.layer, "neural": parsed.neural, "region": parsed.region,
                                  "parameters": key[3], **cols}
                row = rows[bkey]
                if failed is not None:
                    _unreadable(row, e.path, failed)
                elif _more_resamples(row, count, procedure):
                    row.update(summary, **{n: count})
    for bkey in [k for k in rows if k[4] is None and rows[k].get("error")]:  # an unreadable entry's bins are unknown:
        binned = [k for k in rows if k[:4] == bkey[:4] and k[4] is not None]  # its error marks the bins' rows
        for k in binned:
            rows[k]["error"] = "; ".join(filter(None, [rows[k].get("error", ""), rows[bkey]["error"]]))
        if binned:
            del rows[bkey]
    # the columns of INFERENCE_COLUMNS in their order, whichever procedures and bins the entries hold
    out = pd.DataFrame(list(rows.values())).reindex(columns=INFERENCE_COLUMNS)
    for c in ("time_bin_start", "time_bin_end"):
        out[c] = out[c].astype(float)
    timed = out["time_bin_start"].notna()
    # the layer figures draw static entries (a time-resolved entry's bins are rows of the table only)
    out["error"] = out["error"].astype(object).fillna("")
    out["in_figures"] = _choose(out, lambda r: (r.direction, r.model) if isinstance(r.model, str) and not timed[r.Index]
                                else None, ["direction", "source", "target"]) if len(out) else pd.Series(dtype=bool)
    return out


METRIC_INFERENCE_DISPLAY = ["metric", "source", "target", "parameters", "score", "score_low", "score_high", "interval",
                            "n_boot", "n_boot_undefined", "p", "n_perm"]
METRIC_INFERENCE_NOTE = (
    "score: the metric on all stimuli (shape: a distance, lower = more similar); [score_low, score_high]: "
    "bootstrap interval over stimuli of the kind named by interval (percentile; shape and cka: by default centred on "
    "the score, since resampled fit distances are biased low and resampled biased CKA high); p: one-sided permutation p-value (stimulus labels of "
    "one side permuted). n_boot_undefined: of the n_boot resamples, those whose score is undefined (e.g. too few "
    "distinct stimuli drawn); any makes the interval NaN (nan_policy='propagate', as scipy.stats.bootstrap). "
    "One row per parameter set; a bootstrap's level or interval away from its default is a row of "
    "its own (in parameters), which the permutation test of the same score joins. error: an entry that could not "
    "be read or that the store names damaged, even in an array the table does not read (compute it again), its "
    "numbers left empty."
)


def _interval(kind: str, row: Any) -> str:
    """The interval of a metric bootstrap entry: shape's or cka's ``method``, else the percentile interval
    (:func:`neuroxr.sweep.inference.interval_method`, the sweep's)."""
    from ..sweep.inference import interval_method

    return interval_method(kind, getattr(row, "method", None))


def metric_inference_table(store: StudyStore, damage: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (metric, source, target, metric parameters, interval options) with complete
    current metric inference entries (crsa, ersa, cka, shape; stale ones left out): ``score``, its
    bootstrap interval and ``interval`` (its kind), ``p`` and ``parameters`` (a bootstrap's
    ``level`` or ``method`` away from its default is a row of its own, as in :func:`inference_table`;
    a permutation entry fills every bootstrap row of its score). An entry that cannot be read or that
    the store names damaged (as in :func:`inference_table`, ``damage`` too) leaves its numbers empty
    and is named, with why, in an ``error`` column (only when some row has one)."""
    from ..entries.metrics import METRIC_INFERENCE_KINDS

    entries = _current_entries(store, list(METRIC_INFERENCE_KINDS))
    entries = entries.sort_values("kind", key=lambda k: k.str.endswith("_permutation"), kind="stable")  # bootstraps first
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    scores: dict[tuple[str, str, str, str], str] = {}  # row -> the score parameters it shows
    for e in entries.itertuples():
        metric, procedure = METRIC_INFERENCE_KINDS[e.kind]
        shown = e.parameters if not e.interval else e.interval if e.parameters == "defaults" else f"{e.parameters}, {e.interval}"
        keys = [(metric, e.source, e.target, shown)]
        if procedure == "permutation":  # the rows of the bootstraps of the same score, else its own
            keys = [k for k, t in scores.items() if k[:3] == keys[0][:3] and t == e.parameters] or keys
        try:
            ds = read_entry(store, e.path, damage)
            n = "n_boot" if procedure == "bootstrap" else "n_perm"
            values = {"score": float(ds["score"]), n: int(ds.attrs[n]),
                      **(metric_bootstrap_summary(ds) if procedure == "bootstrap" else {"p": float(ds["p"])})}
            failed = None
        except Exception as exc:  # one damaged entry must not stop the report: its row says why
            failed = exc
        for key in keys:
            scores.setdefault(key, e.parameters)
            row = rows.setdefault(key, {"metric": metric, "source": e.source, "target": e.target, "parameters": key[3]})
            if failed is not None:
                _unreadable(row, e.path, failed)
                continue
            row["score"] = values["score"]
            if not _more_resamples(row, values[n], procedure):
                continue
            row.update(values, **({"interval": _interval(e.kind, e)} if procedure == "bootstrap" else {}))
    out = pd.DataFrame(list(rows.values()))
    for c in METRIC_INFERENCE_DISPLAY:
        if c not in out.columns:
            out[c] = pd.Series(dtype=object)
    return out[_with_errors(out, METRIC_INFERENCE_DISPLAY)]


def _depth_layers(t: pd.DataFrame, store: StudyStore | None) -> list[str] | None:
    """The layers of ``t``, per model (in the table's order) in the store's depth order."""
    if store is None:
        return None
    from .figures import depth_order

    return list(dict.fromkeys(l for model, g in t.groupby("model", sort=False)
                              for l in depth_order(store, model, g["layer"])))


def inference_figures(table: pd.DataFrame, store: StudyStore | None = None) -> list[tuple[str, str, Any]]:
    """``(caption, stem, figure)``: a layer profile with intervals per direction (layers in the
    depth order of ``store``'s models; without a store, in the table's order), and forward vs
    reverse with intervals, where the table allows."""
    from ..plot.inference import forward_vs_reverse_ci, layer_profile_ci

    out: list[tuple[str, str, Any]] = []
    # no median EV to draw (permutation entries alone) gives no figure; intervals all NaN (undefined resamples) do:
    # the medians are drawn without bars, as one NaN interval among others is
    if table.empty or "median_ev_low" not in table or table["median_ev"].isna().all():
        return out
    t = table[table["in_figures"].astype(bool)] if "in_figures" in table else table
    # a row without an interval (NaN: undefined resamples) keeps its point and star, drawn without a bar
    t = t.dropna(subset=["median_ev", "model", "layer"])
    drawn = {d: "; ".join(dict.fromkeys(t.loc[t["direction"] == d, "parameters"].astype(str))) for d in ("forward", "reverse")}
    for direction in ("forward", "reverse"):
        if (t["direction"] == direction).any():  # the caption names the parameter set drawn
            out.append((f"{direction}: median EV per layer with bootstrap intervals ({drawn[direction]})", f"inference_{direction}",
                        layer_profile_ci(t, direction=direction,
                                         layers=_depth_layers(t[t["direction"] == direction], store))))
    if {"forward", "reverse"} <= set(t["direction"]):
        try:
            out.append((f"forward vs reverse with bootstrap intervals (forward: {drawn['forward']}; reverse: "
                        f"{drawn['reverse']})", "inference_fwd_rev", forward_vs_reverse_ci(t)))
        except Exception:  # no pair with both directions
            pass
    return out
