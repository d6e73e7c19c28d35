"""Figures of time-resolved scores: score vs time (with intervals and ceiling bands) and the
temporal-generalisation heatmap (``time_bin_train x time_bin_test``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import LayoutError, ParameterError, shown
from ..kernels.resample import nanmean_over, nanpercentile
from ..time_bins import check_bin_edges
from ..validation import check_bool
from ._common import TARGET_DIMS, _as_mapping, _axis_label, _check_stat, _included_only, _one_axes, _reduce

__all__ = ["score_vs_time", "temporal_generalization_heatmap", "temporal_generalization_figures"]


def _centres(obj: xr.Dataset | xr.DataArray, dim: str = "time_bin", name: str = "scores") -> np.ndarray:
    """Bin centres in ms, ``(time_bin_start + time_bin_end) / 2``; a one-line :class:`LayoutError`
    naming ``name`` unless ``obj`` has the dim ``dim`` with numeric edges on it alone (a bin
    selected with ``.isel(time_bin=t)`` keeps its edges as scalars but has no time axis to draw)."""
    if dim not in obj.dims:
        got = " (its edges are scalars: one bin was selected, e.g. with .isel(" + dim + "=t))" \
            if f"{dim}_start" in obj.coords else ""
        raise LayoutError(f"{name}: no dim {dim!r}{got}; pass time-resolved results with the dim, e.g. "
                          f"keep one bin as a dim with .isel({dim}=[t]).")
    for c in (f"{dim}_start", f"{dim}_end"):
        if c not in obj.coords:
            raise LayoutError(f"{name}: missing coord {c!r} on dim {dim!r}; pass time-resolved scores (nx.forward on "
                             f"neural data with time_bins).")
        if obj.coords[c].dims != (dim,) or obj.coords[c].dtype.kind not in "fiu":
            raise LayoutError(f"{name}: coord {c!r} must be numeric (ms) on dim {dim!r} alone; found dtype "
                              f"{obj.coords[c].dtype} on {obj.coords[c].dims}.")
    return (np.asarray(obj[f"{dim}_start"].values, float) + np.asarray(obj[f"{dim}_end"].values, float)) / 2


def _check_xarray(obj: Any, name: str) -> None:
    """A one-line :class:`LayoutError` naming ``name`` unless ``obj`` is an xarray Dataset or DataArray."""
    if not isinstance(obj, (xr.Dataset, xr.DataArray)):
        raise LayoutError(f"{name}: expected a time-resolved xarray Dataset or DataArray (with a time bin dim); got "
                          f"{type(obj).__name__}.")


def _has_variable(obj: Any, variable: str, name: str) -> None:
    """A one-line :class:`LayoutError` naming ``name`` where the Dataset ``obj`` lacks ``variable``
    (a DataArray is its own variable)."""
    if isinstance(obj, xr.Dataset) and variable not in obj.data_vars:
        raise LayoutError(f"{name} has no variable {variable!r}; it has {sorted(map(str, obj.data_vars))}. Pass "
                          f"variable=... naming one of them.")


def _time_order(obj: xr.Dataset | xr.DataArray, dim: str = "time_bin", name: str = "scores") -> np.ndarray:
    """Positions of the bins of ``dim`` in time order (by start, then end): the input may list them
    in any order. Two bins with the same (start, end) would be drawn at one time: refused, as the
    validators refuse them, as they refuse edges that are not finite or not ``start < end`` (a bin
    with no place on the time axis; ``name``: the input in the message)."""
    start, end = (np.asarray(obj[f"{dim}_{k}"].values, float) for k in ("start", "end"))
    check_bin_edges(start, end, name, dim)
    return np.lexsort((end, start))


def _bin_edges(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges in ms of distinct bins in time order, and the bin drawn in each cell (-1: a gap, drawn empty).

    Each pair of neighbouring bins is drawn on its own: bins that meet share their edge, a gap
    between them is an empty cell (unequal widths stay unequal), and bins that overlap (sliding
    windows) meet at the middle of their overlap. A bin lying inside another cannot be drawn
    beside it: refused.
    """
    ends = np.maximum.accumulate(end)
    inside = np.flatnonzero((start[1:] == start[:-1]) | (end[1:] <= ends[:-1])) + 1
    if inside.size:
        i = int(inside[0])
        raise LayoutError(f"time bins: bin ({start[i]:g}, {end[i]:g}) ms lies inside another bin, so the two cannot "
                          f"be drawn side by side; draw bins that do not contain each other, e.g. "
                          f"result.isel(time_bin_train=..., time_bin_test=...).")
    edges, cells = [float(start[0])], []
    for i in range(start.size):
        if i and start[i] > end[i - 1]:  # a gap before bin i: an empty cell
            edges.append(float(start[i]))
            cells.append(-1)
        elif i and start[i] < end[i - 1]:  # overlapping neighbours meet at the middle of their overlap
            edges[-1] = (start[i] + end[i - 1]) / 2
        edges.append(float(end[i]))
        cells.append(i)
    return np.asarray(edges), np.asarray(cells)


def _target_dim(da: xr.DataArray) -> str:
    dims = [d for d in TARGET_DIMS if d in da.dims]
    if len(dims) != 1 or "time_bin" not in da.dims:
        raise LayoutError(f"scores: expected dims (target, [rep,] time_bin) with target in {TARGET_DIMS}; got {da.dims}.")
    return dims[0]


def _summary(ds: xr.Dataset | xr.DataArray, variable: str, stat: str, interval: float) -> tuple[np.ndarray, ...]:
    """Per bin: the ``stat`` over targets of the rep-mean score, and the ``interval`` (central
    fraction) of the per-rep ``stat`` over targets across reps (``ds``: included targets only)."""
    da = ds[variable] if isinstance(ds, xr.Dataset) else ds
    tdim = _target_dim(da)
    mean = nanmean_over(da, "rep") if "rep" in da.dims else da
    centre = _reduce(mean.transpose(tdim, "time_bin").values, stat, axis=0)
    if "rep" in da.dims and da.sizes["rep"] > 1:
        per_rep = _reduce(da.transpose(tdim, "rep", "time_bin").values, stat, axis=0)  # (rep, time_bin)
        q = (1 - interval) / 2 * 100
        lo, hi = nanpercentile(per_rep, q, axis=0), nanpercentile(per_rep, 100 - q, axis=0)
    else:
        lo = hi = None
    return centre, lo, hi


def score_vs_time(
    scores: Any,
    *,
    variable: str = "ev",
    stat: str = "median",
    interval: float = 0.95,
    ceiling: bool = True,
    bootstrap: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Score over time: one line per entry, with an interval (a bootstrap's, or the spread over
    reps) and the ceiling band.

    Parameters
    ----------
    scores : Dataset or mapping label -> Dataset
        Time-resolved scores (dims ``(target, rep, time_bin)`` with ``time_bin_start``/``_end``);
        the points are drawn in time order (bin centres), whatever the order of the bins.
    variable : str, default "ev"
        The variable plotted (``"ev"`` of entries whose attrs say ``noise_ceiling`` false is
        ``r² × 100``, not noise-corrected: the y axis says so).
    stat : {"median", "mean"}, default "median"
        Summary over the (included) targets per bin; the ceiling band too counts only the targets
        with ``included`` true.
    interval : float, default 0.95
        The shaded interval: the central ``interval`` of the per-rep summaries across reps (the
        spread over the split-half repetitions, not a confidence interval over targets).
    ceiling : bool, default True
        Draw, on a right axis, the noise ceiling (variable ``ceiling``, the product of split-half
        reliabilities ``ev`` is divided by): its ``stat`` over targets per bin (dashed, in the colour of
        its entry's line: entries of several sources have their own ceilings), with the band between
        the 25th and 75th percentile over targets.
    bootstrap : Dataset or mapping label -> Dataset, optional
        Time-resolved bootstrap results (``median_ev_ci`` over ``(bound, time_bin)``, as a
        bootstrap entry of the same scores): where given for an entry, its band is that interval
        (over resampled stimuli) instead of the spread over reps. Only for ``variable="ev"``
        and ``stat="median"`` (the statistic the bootstrap resamples). A bootstrap is refused
        unless it is of its entry's scores: the same bins (start and end), direction, inputs and
        parameters (:data:`_SAME`); one bootstrap with several entries must name its entry.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_stat(stat, "score_vs_time")
    if isinstance(interval, (bool, np.bool_)) or not isinstance(interval, (int, float, np.integer, np.floating)) \
            or not 0 < interval < 1:
        raise ParameterError(f"score_vs_time: interval must be a number in (0, 1) (the central fraction of the per-rep "
                             f"summaries); got {shown(interval)}. Pass e.g. interval=0.95.")
    ceiling = check_bool(ceiling, "ceiling", caller="score_vs_time")
    fig, ax = _one_axes(ax, figsize=(6.0, 3.8))
    entries = _as_mapping(scores) or {"": scores}
    boots = _bootstraps(bootstrap, entries, variable, stat)
    band_ax = None
    for label, ds in entries.items():
        _check_xarray(ds, f"score_vs_time: scores[{label!r}]" if label else "score_vs_time: scores")
        _centres(ds, name=f"scores[{label!r}]" if label else "scores")  # the dim and its coords are there
        ds = ds.isel(time_bin=_time_order(ds))  # points joined in time order, whatever the bins' order
        ds = _included_only(ds)  # the line, its interval and the ceiling band: included targets only
        x = _centres(ds)
        _has_variable(ds, variable, f"score_vs_time: scores[{label!r}]" if label else "score_vs_time: scores")
        centre, lo, hi = _summary(ds, variable, stat, interval)
        if label in boots:
            lo, hi = _boot_interval(boots[label], ds)
        (line,) = ax.plot(x, centre, marker="o", ms=3, label=label or None)
        if lo is not None:
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, lw=0)
        if ceiling and isinstance(ds, xr.Dataset) and "ceiling" in ds:
            band_ax = band_ax or ax.twinx()
            c = nanmean_over(ds["ceiling"], "rep") if "rep" in ds["ceiling"].dims else ds["ceiling"]
            v = c.transpose(_target_dim(c), "time_bin").values
            # in its line's colour: each entry has its own ceiling (a forward one holds its predictions' reliability)
            band_ax.fill_between(x, nanpercentile(v, 25, axis=0), nanpercentile(v, 75, axis=0),
                                 color=line.get_color(), alpha=0.1, lw=0)
            band_ax.plot(x, _reduce(v, stat, axis=0), color=line.get_color(), ls="--", lw=1)
    if band_ax is not None:
        band_ax.set_ylabel("noise ceiling (dashed; band: IQR over targets)")
    ax.set_xlabel("time (ms, bin centre)")
    ax.set_ylabel(f"{stat} {_axis_label(variable, raw=list(entries.values()))}")
    if any(entries):
        ax.legend(frameon=False, fontsize="small")
    band = "bootstrap interval" if boots else f"{interval:.0%} of reps"
    ax.set_title(title or f"{variable} over time (band: {band})", wrap=True)
    return fig


def _bootstraps(bootstrap: Any, entries: dict, variable: str, stat: str) -> dict:
    """``bootstrap`` as label -> Dataset for the labels of ``entries`` (checked)."""
    if bootstrap is None:
        return {}
    if variable != "ev" or stat != "median":
        raise LayoutError(f"bootstrap: its interval is of the median EV; pass variable='ev', stat='median' "
                          f"(got {shown(variable)}, {stat!r}) or drop bootstrap.")
    boots = _as_mapping(bootstrap)
    if not boots:
        if len(entries) > 1:  # never the first entry's band by default
            raise LayoutError(f"bootstrap: one bootstrap for {len(entries)} score entries {list(entries)}; pass "
                              f"{{label: bootstrap}} naming the entry each belongs to.")
        boots = {next(iter(entries)): bootstrap}
    extra = [k for k in boots if k not in entries]
    if extra:
        raise LayoutError(f"bootstrap: labels {extra} name no entry of scores; its labels are {list(entries)}.")
    return boots


#: The attrs a bootstrap and the scores it bands must share: the direction, its inputs and the
#: parameters of its scores (a bootstrap of another animal, or without the scores' min_reliability,
#: was drawn around them).
_SAME = ("direction", "source", "target", "regressor", "alpha", "n_components", "reps", "split", "noise_ceiling",
         "n_folds", "fold_seed", "seed", "dtype", "min_reliability")


def _boot_interval(boot: xr.Dataset, ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    ci = boot["median_ev_ci"] if isinstance(boot, xr.Dataset) and "median_ev_ci" in boot else None
    if ci is None or set(ci.dims) != {"bound", "time_bin"} or ci.sizes["time_bin"] != ds.sizes["time_bin"]:
        raise LayoutError("bootstrap: expected 'median_ev_ci' over (bound, time_bin) with the scores' time bins; "
                          "pass the bootstrap of the same time-resolved scores.")
    _centres(boot, name="bootstrap")
    boot = boot.isel(time_bin=_time_order(boot, name="bootstrap"))  # time order, as the scores are drawn
    ci = boot["median_ev_ci"]
    edges = [np.asarray(x.coords[c].values, dtype=float) for x in (boot, ds) for c in ("time_bin_start", "time_bin_end")]
    if not (np.allclose(edges[0], edges[2]) and np.allclose(edges[1], edges[3])):
        raise LayoutError("bootstrap: its time bins (time_bin_start/end) differ from the scores'; pass the bootstrap "
                          "of the same scores.")
    differ = [k for k in _SAME if k in boot.attrs or k in ds.attrs
              if str(boot.attrs.get(k)) != str(ds.attrs.get(k))]
    if differ:
        k = differ[0]
        raise LayoutError(f"bootstrap: it is not of these scores: its {k} is {boot.attrs.get(k)!r}, the scores' "
                          f"{ds.attrs.get(k)!r}; pass the bootstrap of the same scores (same inputs and parameters).")
    ci = ci.transpose("bound", "time_bin").values
    return ci[0], ci[1]


def temporal_generalization_heatmap(
    result: xr.Dataset | xr.DataArray,
    *,
    variable: str = "r",
    stat: str = "median",
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The ``time_bin_train x time_bin_test`` matrix of :func:`neuroxr.temporal_generalization`.

    Parameters
    ----------
    result : Dataset or DataArray, dims (target, time_bin_train, time_bin_test)
    variable : str, default "r"
    stat : {"median", "mean"}, default "median"
        Summary over targets per cell.
    ax, title : optional

    Returns
    -------
    matplotlib.figure.Figure
        Training time on the y axis, testing time on the x axis, the diagonal dashed. The cells
        are a ``QuadMesh`` (``ax.collections[0]``) drawn at the bins' edges in time order
        (``time_bin_*_start`` / ``_end``), whatever the order of the bins in ``result``, each pair
        of neighbouring bins on its own: bins of unequal widths are drawn at their widths, a gap
        between bins is an empty cell, overlapping bins (sliding windows) meet at the middle of
        their overlap.

    Raises
    ------
    LayoutError
        Two bins with the same (start, end), edges that are not finite or not start < end, or a bin
        lying inside another (neither can be drawn at its own time).
    """
    _check_stat(stat, "temporal_generalization_heatmap")
    _check_xarray(result, "temporal_generalization_heatmap: result")
    _has_variable(result, variable, "temporal_generalization_heatmap: result")
    da = result[variable] if isinstance(result, xr.Dataset) else result
    for d in ("time_bin_train", "time_bin_test"):
        _centres(da, d, "result")  # the bins' dims and coords are there
    da = da.isel(time_bin_train=_time_order(da, "time_bin_train", "result"),
                 time_bin_test=_time_order(da, "time_bin_test", "result"))
    tdim = [d for d in da.dims if d not in ("time_bin_train", "time_bin_test")]
    da = da.transpose(*tdim, "time_bin_train", "time_bin_test")
    M = _reduce(da.values.reshape(-1, *da.shape[-2:]), stat, axis=0) if tdim else da.values
    xe, xc = _bin_edges(da["time_bin_test_start"].values.astype(float), da["time_bin_test_end"].values.astype(float))
    ye, yc = _bin_edges(da["time_bin_train_start"].values.astype(float), da["time_bin_train_end"].values.astype(float))
    C = np.ma.masked_invalid(np.where((yc[:, None] >= 0) & (xc[None, :] >= 0), M[np.ix_(np.maximum(yc, 0), np.maximum(xc, 0))],
                                      np.nan))
    fig, ax = _one_axes(ax, figsize=(4.8, 4.2))
    mesh = ax.pcolormesh(xe, ye, C, cmap="viridis", shading="flat")
    lo, hi = max(xe[0], ye[0]), min(xe[-1], ye[-1])
    ax.plot([lo, hi], [lo, hi], color="w", ls="--", lw=0.8)
    fig.colorbar(mesh, ax=ax, label=f"{stat} {variable}")
    ax.set_xlabel("test time (ms)")
    ax.set_ylabel("train time (ms)")
    ax.set_title(title or "temporal generalisation", wrap=True)
    return fig


def temporal_generalization_figures(store: Any, stat: str = "median",
                                    damage: Mapping[str, str] | None = None) -> list[tuple[str, str, Figure]]:
    """The heatmaps of a store's temporal-generalisation entries, as the report lists figures.

    Parameters
    ----------
    store : StudyStore or str
        The store (a path is opened read-only).
    stat : {"median", "mean"}, default "median"
        Summary over targets per cell.
    damage : mapping, optional
        ``path -> problem`` of a scan of the store already made (:meth:`~neuroxr.store.StudyStore.damaged`):
        an entry it names is not drawn (:func:`~neuroxr.entries.layout.read_entry`).

    Returns
    -------
    list of (caption, file stem, Figure)
        One per complete, current entry of kind ``temporal_generalization`` (stale ones are left
        out; a pair with entries of several parameter sets gets one figure each, its parameters
        in the caption), in listing order. An entry that cannot be read or that the store names
        damaged, or whose time bins contain each other (cumulative windows such as (0, 50), (0, 100),
        which :func:`temporal_generalization_heatmap` refuses), gets a panel of text instead, its caption
        naming the entry and why: never a stopped report.
    """
    from ..entries import list_entries
    from ..entries.layout import read_entry
    from ..store.study import as_store

    store = as_store(store, "r")
    rows = list_entries(store)
    rows = rows[(rows["kind"] == "temporal_generalization") & rows["complete"] & rows["current"]]
    several = rows.duplicated(["source", "target"], keep=False)
    out = []
    for r, dup in zip(rows.itertuples(), several):
        name = f"{r.source}__{r.target}" + (f"__{r.key}" if dup else "")
        stem = "tg_" + "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
        try:
            ds = read_entry(store, r.path, damage).load()
        except Exception as exc:  # one damaged entry must not stop the report: a panel says why
            why = f"{type(exc).__name__}: {exc}"
            fig = Figure(figsize=(6, 1.2))
            fig.text(0.01, 0.5, f"{r.path}: cannot be read; compute it again", va="center", fontsize="small")
            out.append((f"Temporal generalisation {r.source} -> {r.target}: not drawn, the entry {r.path} cannot "
                        f"be read ({why})", stem, fig))
            continue
        what = "model -> brain" if ds.attrs.get("direction") == "forward" else "inter-animal"
        try:
            fig = temporal_generalization_heatmap(ds, stat=stat, title=f"{r.source} -> {r.target}")
        except LayoutError as exc:  # bins one inside another (cumulative windows) have no place side by side
            fig = Figure(figsize=(6, 1.2))
            fig.text(0.01, 0.5, f"{r.path}: not drawn; its time bins contain each other", va="center", fontsize="small")
            out.append((f"Temporal generalisation ({what}) {r.source} -> {r.target}: not drawn as a heatmap ({exc}); "
                        f"its numbers are in the entry {r.path}", stem, fig))
            continue
        out.append((f"Temporal generalisation ({what}) {r.source} -> {r.target}: {stat} r over "
                    f"{ds.sizes['neuroid']} targets of a ridge fitted at the train time, tested at the test time "
                    f"(alpha {ds.attrs.get('alpha')}, n_folds {ds.attrs.get('n_folds')}, fold_seed "
                    f"{ds.attrs.get('fold_seed')})", stem, fig))
    return out
