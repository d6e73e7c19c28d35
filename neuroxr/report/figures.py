"""The figures of a report, built from labeled results (the plots compute no analysis).

Each builder returns ``[(caption, name, Figure), ...]``; :func:`encode` turns a figure into a
``data:`` URI (PNG) for the self-contained HTML page, :func:`save` writes it as PNG or PDF.
Figures draw only the entries with ``in_figures`` (:func:`neuroxr.report.table.figure_entries`:
current, readable, one parameter set per comparison); captions name that parameter set.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .._files import write_whole
from ..store import StudyStore
from .table import figure_entries, stack_layers

__all__ = ["Figures", "reliability_figures", "layer_figures", "forward_reverse_figures", "metric_figures",
           "headline_figures", "time_figures", "encode", "save"]

#: ``[(caption, file stem, matplotlib Figure), ...]``
Figures = list[tuple[str, str, Any]]


def safe(name: str) -> str:
    """A file-name-safe version of ``name``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def encode(fig: Any, dpi: int = 100) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def save(fig: Any, folder: Path, stem: str, fmt: str, dpi: int = 100) -> str:
    """Write ``folder/<stem>.<fmt>`` and return its file name."""
    name = f"{stem}.{fmt}"
    write_whole(folder / name, lambda f: fig.savefig(f, format=fmt, dpi=dpi), binary=True)
    return name


def _params(rows: pd.DataFrame) -> str:
    """The parameter text of the entries a figure draws (one set per comparison)."""
    return "; ".join(dict.fromkeys(rows["parameters"].astype(str)))


def headline_figures(headline: pd.DataFrame, note: str = "") -> Figures:
    """The headline's rows (:func:`neuroxr.plot.best_layer_intervals`); the caption adds ``note`` (e.g.
    :func:`neuroxr.report.headline.coarse_note`) and names the rows whose comparison left out damaged
    or unreadable entries (an ``error``, :func:`neuroxr.report.headline.left_out`)."""
    from ..plot import best_layer_intervals
    from .headline import row_label

    if not len(headline):
        return []
    caption = "Best layer per model and region (held-out targets)"
    raw = [row_label(r) for r in headline.itertuples() if pd.isna(r.ceiling) and pd.notna(r.test_ev)]
    if raw:  # no ceiling (a trial-averaged set): its EV is r^2 * 100, not noise-corrected like the others
        caption += f". Without a noise ceiling, EV not noise-corrected (r² × 100): {'; '.join(raw)}"
    if "error" in headline:
        marked = [row_label(r) for r in headline.itertuples() if r.error]
        caption += f". Compared without damaged or unreadable entries (see error in the table): {'; '.join(marked)}"
    return [(" ".join(filter(None, [caption + ".", note])), "headline", best_layer_intervals(headline))]


def reliability_figures(store: StudyStore, reps: int, seed: int,
                        damage: Mapping[str, str] | None = None) -> tuple[Figures, list[str]]:
    """A split-half reliability histogram per neural set, and notes for the sets drawn none; a set
    the store's scan names damaged (``damage``: ``path -> problem`` of
    :meth:`~neuroxr.store.StudyStore.damaged`) is not read, a note says why."""
    from ..plot import reliability_histogram
    from ..predictivity import split_half_reliability

    figures: Figures = []
    notes: list[str] = []
    for name in store.neural_sets():
        if damage and f"neural/{name}" in damage:
            notes.append(f"{name}: no reliability figure (the set is damaged: {damage[f'neural/{name}']}).")
            continue
        try:
            neural = store.read_neural(name)
            if neural.sizes["repeat"] < 2:
                notes.append(f"{name}: trial-averaged (one repeat), no split-half reliability.")
                continue
            if "time_bin" in neural.dims:
                notes.append(f"{name}: time-resolved; its split-half reliabilities per bin are the ceiling bands "
                             f"of the score-vs-time figures.")
                continue
            neural = neural.load()
            # coords that share a name with the reliability outputs would collide with them
            neural = neural.drop_vars([c for c in ("reliability", "r_half") if c in neural.coords])
            rel = split_half_reliability(neural, reps=reps, seed=seed)
            fig = reliability_histogram(rel, title=f"{name}: split-half reliability ({reps} splits)")
            figures.append((f"Reliability of {name}", f"reliability_{safe(name)}", fig))
        except Exception as exc:  # one bad set must not stop the report
            notes.append(f"{name}: no reliability figure ({type(exc).__name__}: {exc}).")
    return figures, notes


def depth_order(store: StudyStore, model: str, layers: Any) -> list[str]:
    """``layers`` (distinct) in the depth order of ``model``'s layers in the store; layers the
    store does not list come last, in their given order."""
    order = store.layers(model) if model in store.models() else []
    given = list(dict.fromkeys(str(l) for l in layers))
    return [l for l in order if l in given] + [l for l in given if l not in order]


def _included(ds: xr.Dataset) -> xr.DataArray:
    """1.0 per included target of a score entry (every target when it has no ``included``)."""
    if "included" in ds:
        return ds["included"].astype(float)
    ev = ds["ev"].isel(rep=0, drop=True) if "rep" in ds["ev"].dims else ds["ev"]
    return xr.ones_like(ev, dtype=float)


def _stacked(dss: list, layers: list[str]) -> xr.Dataset:
    """The per-layer score Datasets stacked over ``layer`` (:func:`stack_layers`): ``ev``, with
    ``included`` beside it (so :func:`neuroxr.plot.layer_profile` counts only included targets, as
    the tables) and each rep's ``ceiling`` (over layer, target, rep) for the noise-ceiling band
    when every layer has a ceiling per rep."""
    ev = stack_layers(dss, layers)
    # the entries' noise_ceiling attr (false: ev is r^2 * 100, not noise-corrected), which the figure's axis says
    ceiled = {bool(ds.attrs["noise_ceiling"]) for ds in dss if "noise_ceiling" in ds.attrs}
    out = xr.Dataset({"ev": ev}, attrs={"noise_ceiling": ceiled.pop()} if len(ceiled) == 1 else {})
    if any("included" in ds for ds in dss):
        inc = stack_layers([xr.Dataset({"ev": _included(ds)}) for ds in dss], layers)
        out["included"] = inc.drop_vars([c for c in inc.coords if c not in ev.coords]) == 1  # padding: not included
    if all("ceiling" in ds and "rep" in ds["ceiling"].dims for ds in dss):
        n_reps = min(ds.sizes["rep"] for ds in dss)
        per_rep = [stack_layers([ds[["ceiling"]].rename(ceiling="ev").isel(rep=r) for ds in dss], layers)
                   for r in range(n_reps)]
        ceiling = xr.concat(per_rep, dim="rep").transpose(*ev.dims, "rep")
        out["ceiling"] = ceiling.drop_vars([c for c in ceiling.coords if c not in ev.coords])
    return out


def layer_figures(table: pd.DataFrame, scores: dict, store: StudyStore) -> Figures:
    """One layer profile per direction, model and neural set (a panel per region): per layer the
    median EV over the included targets (as the tables' ``median_ev``), layers in depth order."""
    from ..plot import layer_profile
    from ..plot._common import _raw_ev

    figures: Figures = []
    ok = figure_entries(table)
    ok = ok[(ok["error"] == "") & ok["direction"].isin(["forward", "reverse"]) & ok["model"].notna()]
    for (direction, model, neural), g in ok.groupby(["direction", "model", "neural"], sort=False):
        panels = {}
        for region, gr in g.groupby("region", sort=False):
            gr = gr.drop_duplicates("layer").set_index("layer")
            if len(gr) < 2:
                continue
            layers = depth_order(store, model, gr.index)
            dss = [scores[(r.direction, r.source, r.target)] for r in gr.loc[layers].itertuples()]
            panels[region] = _stacked(dss, layers)
        if not panels:
            continue
        title = f"{direction}: {model} {'->' if direction == 'forward' else '<-'} {neural}"
        data = panels["all"] if list(panels) == ["all"] else {("whole set" if r == "all" else r): da for r, da in panels.items()}
        fig = layer_profile(data, title=title)
        if not isinstance(data, dict):
            fig.axes[0].set_title(title)
        raw = all(_raw_ev(ds) for ds in panels.values())
        figures.append((f"Layer profile, {direction}, {model} and {neural} ({_params(g)})"
                        + ("; EV not noise-corrected: r² × 100, no noise ceiling" if raw else ""),
                        f"layers_{direction}_{safe(model)}__{safe(neural)}", fig))
    return figures


def forward_reverse_figures(table: pd.DataFrame, scores: dict) -> Figures:
    from ..plot import forward_vs_reverse
    from ..plot._common import pair_label

    ok = figure_entries(table)
    ok = ok[ok["error"] == ""]
    key = lambda r: (r.model, r.layer, r.neural, r.region)  # noqa: E731
    fwd = {key(r): (r.direction, r.source, r.target) for r in ok[ok["direction"] == "forward"].itertuples()}
    rev = {key(r): (r.direction, r.source, r.target) for r in ok[ok["direction"] == "reverse"].itertuples()}
    # a pair one of whose entries has no included target with a finite EV (every target below its
    # min_reliability) has no point to draw: it is left out and named in the caption, never a stopped report
    counts = {(r.direction, r.source, r.target): r.n_targets for r in ok.itertuples()}
    scored = lambda k: all(pd.notna(counts[d[k]]) and counts[d[k]] > 0 for d in (fwd, rev))  # noqa: E731
    label = lambda k: pair_label(*k)  # noqa: E731
    empty = [label(k) for k in fwd if k in rev and not scored(k)]
    both = [k for k in fwd if k in rev and scored(k)]
    if not both:
        return []
    fig = forward_vs_reverse({label(k): scores[fwd[k]] for k in both}, {label(k): scores[rev[k]] for k in both},
                             figsize=(11, 4.6))
    # each direction's parameter set (chosen per comparison), named as the layer profiles name theirs
    drawn = {d: "; ".join(dict.fromkeys(str(r.parameters) for r in ok.itertuples() if r.direction == d and key(r) in both))
             for d in ("forward", "reverse")}
    caption = f"Forward vs reverse ({len(both)} pairs; forward: {drawn['forward']}; reverse: {drawn['reverse']})"
    if empty:
        caption += f". Left out, no included target with a finite EV in a direction: {', '.join(empty)}"
    return [(caption, "forward_vs_reverse", fig)]


_METRIC_TITLES = {"crsa": "cRSA", "ersa": "eRSA (test)", "ereg": "eReg", "shape": "shape distance (test)",
                  "cka": "CKA", "dimensionality": "effective dimensionality", "brainscore": "Brain-Score (ceiled)"}


def metric_figures(metrics: pd.DataFrame, store: StudyStore) -> Figures:
    """One figure per metric and model: the metric across the model's layers, one line per target."""
    from ..plot import metric_profile

    figures: Figures = []
    ok = figure_entries(metrics)
    ok = ok[(ok["error"] == "") & ok["model"].notna()]
    for (metric, model), g in ok.groupby(["metric", "model"], sort=False):
        lines = {}
        for target, gt in g.groupby(g["target"].fillna(model), sort=False):
            gt = gt.drop_duplicates("layer").set_index("layer")
            layers = depth_order(store, model, gt.index)
            lines[str(target)] = xr.DataArray(gt.loc[layers, "value"].to_numpy(dtype=float), dims="layer",
                                              coords={"layer": layers})
        if max(da.sizes["layer"] for da in lines.values()) < 2:
            continue
        title = f"{_METRIC_TITLES.get(metric, metric)}: {model}"
        fig = metric_profile(lines, ylabel=_METRIC_TITLES.get(metric, metric), title=title,
                             layers=depth_order(store, model, g["layer"]),  # one axis for every line, in depth order
                             lower_is_better=bool(g["lower_is_better"].fillna(False).any()))
        figures.append((f"{_METRIC_TITLES.get(metric, metric)} across the layers of {model} ({_params(g)})",
                        f"metric_{metric}_{safe(model)}", fig))
    return figures


def time_figures(table: pd.DataFrame, scores: dict) -> Figures:
    """Time-resolved score entries (a ``time_bin`` dim): one score-vs-time figure per neural target
    and direction, a line per source, with the spread over reps and the ceiling band."""
    from ..plot import score_vs_time

    ok = figure_entries(table)
    ok = ok[ok["error"] == ""]
    groups: dict[tuple[str, str], dict[str, xr.Dataset]] = {}
    params: dict[tuple[str, str], str] = {}
    for r in ok.itertuples():
        ds = scores.get((r.direction, r.source, r.target))
        if ds is not None and "time_bin" in ds.dims:
            groups.setdefault((r.direction, r.target), {})[str(r.source)] = ds
            params[(r.direction, r.target)] = r.parameters
    figures: Figures = []
    for (direction, target), entries in groups.items():
        fig = score_vs_time(entries, title=f"{direction} -> {target} over time")
        figures.append((f"{direction} scores of {target} over time (band: 95 % of reps; dashed, right axis: each line's noise ceiling; "
                        f"{params[(direction, target)]})", f"time_{direction}_{safe(target)}", fig))
    return figures
