"""Figures of predictivity scores: forward vs reverse, layer profiles, split-half reliability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import LayoutError, ParameterError, shown
from ..kernels.resample import nanmax, nanmean, nanmin
from ..validation import check_int
from ._common import (
    TARGET_DIMS,
    _as_dataarray,
    _as_mapping,
    _axis_label,
    _check_stat,
    _coord_labels,
    _finite,
    _included_only,
    _interval_bars,
    _layer_ticks,
    _layer_width,
    _new_figure,
    _note_undrawn,
    _one_axes,
    _per_target,
    _quantiles,
    _reduce,
    _target_ids,
    _target_kind,
)

__all__ = ["forward_vs_reverse", "layer_profile", "reliability_histogram"]


# ============================================================================ forward vs reverse
def forward_vs_reverse(
    forward: Any,
    reverse: Any,
    *,
    variable: str = "ev",
    stat: str = "median",
    bins: int = 30,
    hist_range: tuple[float, float] | None = None,
    annotate: bool | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Forward (model -> brain) against reverse (brain -> model) predictivity.

    Forward scores are per *neuroid* and reverse scores per *model unit*: two different target
    sets, so there is no per-target pairing in general. The figure therefore shows

    1. **distributions** (always, left panel): histograms of the forward scores and of the reverse
       scores on a shared axis, each with a dashed line at its ``stat`` (median by default); with
       several pairs, the values of all pairs are pooled;
    2. **a scatter** (right panel), in one of two forms:

       - *several pairs* (``forward`` and ``reverse`` are mappings with the same keys, e.g. one
         entry per model, layer or animal): one point per pair at (``stat`` of forward,
         ``stat`` of reverse), with inter-quartile error bars, a ``y = x`` line and the pair's
         label; labels of the form ``"<model>/<rest>"`` are coloured by model (one scatter per
         model). A pair without a finite value in a direction has no point: the title counts the
         pairs drawn and a note on the axes names the others;
       - *one pair whose targets coincide* (same target dim and the same target ids, or two plain
         arrays of equal length, e.g. a reverse score computed per neuroid): one point per target.

       With one pair whose targets differ, the figure has only the left panel.

    Parameters
    ----------
    forward, reverse : score Dataset / DataArray / 1-D array, or mapping label -> one of these
        ``rep`` is averaged away first. Mappings must have the same keys. A score Dataset's
        targets with ``included`` false (below its ``min_reliability``) are left out of every
        number drawn: histograms, their ``n``, medians and the per-pair points.
    variable : str, default "ev"
        Variable of a score Dataset (``"ev"``: noise-corrected explained variance in percent; the axes
        say ``r² × 100 (%; no noise ceiling)`` for a Dataset whose attrs say ``noise_ceiling`` false, e.g.
        of a trial-averaged target, and ``r² × 100 where no ceiling`` where only some are).
    stat : {"median", "mean"}, default "median"
        Summary drawn as lines and used for the per-pair scatter.
    bins : int, default 30
        Histogram bins (shared by both distributions).
    hist_range : (float, float), optional
        Range of the histograms, two finite numbers ``(low, high)`` with ``low < high`` (anything else
        is refused). Default: all values and 0, except outliers more than five
        inter-quartile ranges beyond the quartiles (the noise-corrected EV of a very unreliable
        target can be far above 100); how many values fall outside is written in the axis label.
        Medians and the scatter use all values.
    annotate : bool, optional
        Write the pair labels next to their points (default: when there are at most 12 pairs).
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One or two Axes (see above).

    Examples
    --------
    >>> fwd = {m: forward(store.read_features(m, "fc"), neural) for m in models}      # doctest: +SKIP
    >>> rev = {m: reverse(neural, store.read_features(m, "fc")) for m in models}      # doctest: +SKIP
    >>> forward_vs_reverse(fwd, rev).savefig("fwd_rev.png")                         # doctest: +SKIP
    """
    _check_stat(stat, "forward_vs_reverse")
    bins = check_int(bins, "bins", 1, "Pass e.g. bins=30.", caller="forward_vs_reverse")  # 0 bins drew no histogram
    fmap, rmap = _as_mapping(forward), _as_mapping(reverse)
    if (fmap is None) != (rmap is None):
        raise LayoutError(
            "forward_vs_reverse: pass either one score per direction or two mappings label -> scores; "
            f"got {type(forward).__name__} and {type(reverse).__name__}."
        )
    if fmap is not None:
        assert rmap is not None
        if set(fmap) != set(rmap):
            only_f, only_r = sorted(set(fmap) - set(rmap)), sorted(set(rmap) - set(fmap))
            raise LayoutError(
                f"forward_vs_reverse: the two mappings need the same labels; only in forward: {only_f[:5]}, "
                f"only in reverse: {only_r[:5]}."
            )
        if not fmap:
            raise LayoutError("forward_vs_reverse: the mappings are empty.")
        labels = list(fmap)
        fwd = [_per_target(_included_only(fmap[k]), variable, f"forward[{k!r}]") for k in labels]
        rev = [_per_target(_included_only(rmap[k]), variable, f"reverse[{k!r}]") for k in labels]
    else:
        labels = []
        fwd = [_per_target(_included_only(forward), variable, "forward")]
        rev = [_per_target(_included_only(reverse), variable, "reverse")]
    given = [*fmap.values(), *rmap.values()] if fmap is not None and rmap is not None else [forward, reverse]
    fvals = np.concatenate([_finite(d.values) for d in fwd])
    rvals = np.concatenate([_finite(d.values) for d in rev])
    if fvals.size == 0 or rvals.size == 0:
        which = "forward" if fvals.size == 0 else "reverse"
        raise LayoutError(f"forward_vs_reverse: the {which} scores hold no finite value.")

    paired = False
    if fmap is None:
        f, r = fwd[0], rev[0]
        if f.dims == r.dims and f.sizes == r.sizes:
            fi, ri = _target_ids(f), _target_ids(r)
            paired = (fi is None and ri is None) or (fi is not None and ri is not None and set(fi) == set(ri))
    ncols = 2 if (fmap is not None or paired) else 1
    fig, axes = _new_figure(ncols=ncols, figsize=figsize)

    # 1. distributions
    ax = axes[0, 0]
    both = np.concatenate([fvals, rvals])
    if hist_range is None:  # noise-corrected EV of unreliable targets can be huge: keep the bulk in view
        lo, hi = _bulk_range(both, 0.0, 0.0)
    else:
        lo, hi = _hist_range(hist_range)
    if hi <= lo:  # every value equal (the default range): a unit-wide axis around them
        hi = lo + 1.0
    edges = np.linspace(lo, hi, int(bins) + 1)
    n_out = int(((both < lo) | (both > hi)).sum())
    fkind, rkind = _target_kind(fwd[0]), _target_kind(rev[0])
    for vals, name, kind, color in ((fvals, "forward", fkind, "C0"), (rvals, "reverse", rkind, "C1")):
        center = float(_reduce(vals, stat))
        ax.hist(vals, bins=edges, alpha=0.5, color=color, label=f"{name} (per {kind}, n={vals.size}); {stat} {center:.1f}")
        ax.axvline(center, color=color, linestyle="--", linewidth=1.5)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(_axis_label(variable, fwd[0], given) + (f"; {n_out} value{'s' if n_out != 1 else ''} outside the axis" if n_out else ""))
    ax.set_ylabel("count")
    ax.set_title("distributions" + (" (all pairs pooled)" if fmap is not None and len(labels) > 1 else ""), wrap=True)
    ax.legend(fontsize="small")

    if ncols == 1:
        return fig
    ax = axes[0, 1]
    if fmap is not None:
        fx = np.array([_reduce(_finite(d.values), stat) if _finite(d.values).size else np.nan for d in fwd], dtype=float)
        ry = np.array([_reduce(_finite(d.values), stat) if _finite(d.values).size else np.nan for d in rev], dtype=float)
        fq = np.array([_quantiles(_finite(d.values)) if _finite(d.values).size else (np.nan, np.nan) for d in fwd], dtype=float)
        rq = np.array([_quantiles(_finite(d.values)) if _finite(d.values).size else (np.nan, np.nan) for d in rev], dtype=float)
        _interval_bars(ax, ry, fq[:, 0], fq[:, 1], vertical=False, colors="0.6", linewidth=1, zorder=1)
        _interval_bars(ax, fx, rq[:, 0], rq[:, 1], vertical=True, colors="0.6", linewidth=1, zorder=1)
        groups = [lab.split("/", 1)[0] for lab in labels] if all("/" in lab for lab in labels) else [f"{stat} per pair"] * len(labels)
        for i, g in enumerate(dict.fromkeys(groups)):
            sel = np.array([x == g for x in groups])
            ax.scatter(fx[sel], ry[sel], color=f"C{(i + 2) % 10}", zorder=2, label=g)
        if annotate or (annotate is None and len(labels) <= 12):
            for x, y, lab in zip(fx, ry, labels):
                if np.isfinite(x) and np.isfinite(y):
                    ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
        ax.set_xlabel(f"forward {stat} " + _axis_label(variable, raw=list(fmap.values())))
        ax.set_ylabel(f"reverse {stat} " + _axis_label(variable, raw=list(rmap.values())))
        # a pair without a value in a direction (no finite target: all NaN or none included) has no point: named
        undrawn = _note_undrawn(ax, fx, ry, labels, "value")
        ax.set_title(f"{stat} per pair ({len(labels) - undrawn} pairs; bars: IQR)", wrap=True)
        xs = np.concatenate([fx, ry])
    else:
        f, r = fwd[0], rev[0]
        ri = _target_ids(r)
        if ri is not None:
            r = r.assign_coords(_key=(r.dims[0], ri)).swap_dims({r.dims[0]: "_key"}).sel(_key=_target_ids(f))
        x, y = np.asarray(f.values, dtype=float), np.asarray(r.values, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=12, alpha=0.7, color="C2", label=f"per {fkind} (n={int(ok.sum())})")
        ax.set_xlabel("forward " + _axis_label(variable, raw=forward))
        ax.set_ylabel("reverse " + _axis_label(variable, raw=reverse))
        ax.set_title(f"per {fkind}", wrap=True)
        xs = np.concatenate([x[ok], y[ok]])
    xs = xs[np.isfinite(xs)]
    if xs.size:
        lo, hi = float(xs.min()), float(xs.max())
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", linestyle=":", linewidth=1, label="y = x")
    ax.legend(fontsize="small")
    return fig


def _hist_range(value: Any) -> tuple[float, float]:
    """``hist_range`` as two finite numbers ``low < high``, refused in one line otherwise (a reversed
    range was drawn as ``(low, low + 1)``, an axis without the values)."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        lo = hi = np.nan
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ParameterError(f"forward_vs_reverse: hist_range must be two finite numbers (low, high) with low < high; "
                             f"got {shown(value)}. Pass e.g. hist_range=(0, 100), or leave it out for the default.")
    return lo, hi


# ============================================================================ layer profiles
def _profile_lines(
    da: xr.DataArray, layer_dim: str, by: str | None, stat: str
) -> tuple[list[str], list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]]]:
    """Per line: (label, center per layer, q25, q75) and the layer labels."""
    if layer_dim not in da.dims:
        raise LayoutError(
            f"layer_profile: the scores need a {layer_dim!r} dim; they have dims {da.dims}. "
            f"Stack per-layer scores with xarray.concat(..., dim='layer') or pass layer_dim=..."
        )
    layers = _coord_labels(da, layer_dim)
    target = next((d for d in TARGET_DIMS if d in da.dims), None)
    lines: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
    if target is not None:
        group = by if by is not None else ("region" if "region" in da.coords and da.coords["region"].dims == (target,) else None)
        if group is not None and not (group in da.coords and da.coords[group].dims == (target,)):
            raise LayoutError(f"layer_profile: by={group!r} is not a coord on the {target!r} dim; coords there: "
                           f"{sorted(str(n) for n, c in da.coords.items() if c.dims == (target,))}.")
        others = [d for d in da.dims if d not in (layer_dim, target)]
        da = da.transpose(*others, layer_dim, target)
        keys = np.asarray(da.coords[group].values).astype(str) if group is not None else np.array(["all"] * da.sizes[target])
        for idx in np.ndindex(*[da.sizes[d] for d in others]):
            sub = np.asarray(da.values[idx], dtype=float)  # layer x target
            prefix = " ".join(_coord_labels(da, d)[i] for d, i in zip(others, idx))
            for key in sorted(set(keys.tolist())):  # by label, whatever the order of the targets
                v = sub[:, keys == key]
                q25, q75 = _quantiles(v, axis=1)
                label = " ".join(s for s in (prefix, key if group is not None else "") if s) or "all"
                lines.append((label, np.asarray(_reduce(v, stat, axis=1), dtype=float), q25, q75))
        return layers, lines
    if by is not None and by not in da.dims:
        raise LayoutError(f"layer_profile: by={by!r} is not a dim of the scores {da.dims}.")
    others = [d for d in da.dims if d != layer_dim]
    if by is not None:
        others = [by] + [d for d in others if d != by]
    da = da.transpose(*others, layer_dim)
    for idx in np.ndindex(*[da.sizes[d] for d in others]):
        label = " ".join(_coord_labels(da, d)[i] for d, i in zip(others, idx)) or str(da.name or "score")
        lines.append((label, np.asarray(da.values[idx], dtype=float), None, None))
    return layers, lines


def _ceiling_bands(obj: Any, variable: str, layer_dim: str, by: str | None, stat: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per line label: where a model at the noise ceiling falls in EV (%), from the spread of the
    ceiling over reps: ``100 mean(c) / max_rep(c)`` to ``100 mean(c) / min_rep(c)`` with ``c`` the
    line's ``stat`` over targets of each rep's ceiling. Empty unless ``obj`` is a Dataset with
    ``ev`` plotted and a ``ceiling`` over ``rep`` and the layers."""
    if variable != "ev" or not isinstance(obj, xr.Dataset) or "ceiling" not in obj.data_vars:
        return {}
    c = obj["ceiling"]
    if "rep" not in c.dims or layer_dim not in c.dims or c.sizes["rep"] < 2:
        return {}
    per_rep = []
    for r in range(c.sizes["rep"]):
        _, lines = _profile_lines(c.isel(rep=r), layer_dim, by, stat)
        per_rep.append({label: center for label, center, *_ in lines})
    out = {}
    for label in per_rep[0]:
        v = np.stack([d[label] for d in per_rep])  # (rep, layer)
        with np.errstate(invalid="ignore", divide="ignore"):  # all-NaN layers: NaN (no process-wide filter)
            mean, lo, hi = nanmean(v, axis=0), nanmin(v, axis=0), nanmax(v, axis=0)
            out[label] = (np.where((hi > 0) & (mean > 0), 100 * mean / hi, np.nan),
                          np.where((lo > 0) & (mean > 0), 100 * mean / lo, np.nan))
    return out


def layer_profile(
    scores: Any,
    *,
    variable: str = "ev",
    by: str | None = None,
    stat: str = "median",
    band: bool = True,
    ceiling: bool = True,
    best: Mapping[str, str] | str | None = None,
    layer_dim: str = "layer",
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Score as a function of layer depth, one line per group.

    Parameters
    ----------
    scores : DataArray / Dataset with a ``layer`` dim, or mapping model -> such
        Layers are drawn in the order of the ``layer`` dim (put them in depth order); a NaN is a
        gap, a line without a value at any layer is listed as "(no value)" in the legend, and a
        panel without any value says so on its axes. Accepted
        shapes, after ``rep`` is averaged away:

        - ``(layer, <target>)`` with ``<target>`` = ``neuroid`` or ``unit``: per layer, the
          ``stat`` over targets, one line per value of the ``by`` coord on the target dim
          (default ``"region"`` when present) with an inter-quartile band;
        - ``(layer,)`` or ``(layer, d1, ...)`` of summaries (e.g. a sweep's median EV with dims
          ``region`` and ``layer``): one line per combination of the other dims (``by`` first).

        A mapping draws one panel per entry (e.g. per model, whose layers differ), sharing the
        y axis. A Dataset's targets with ``included`` false (over the target dim, or over
        ``(layer, <target>)``) are left out of the lines, the bands and the ceiling band.
    variable : str, default "ev"
        Variable of a Dataset (``"ev"`` of a Dataset whose attrs say ``noise_ceiling`` false is
        ``r² × 100``, not noise-corrected: the y axis says so).
    by : str, optional
        Coord on the target dim, or a dim, that makes the lines. Groups of a coord are drawn (and
        coloured, and listed in the legend) in the sorted order of their labels, so reordering the
        targets never changes the figure.
    stat : {"median", "mean"}, default "median"
        Summary over targets.
    band : bool, default True
        Shade the inter-quartile range over targets (target-level input only).
    ceiling : bool, default True
        For ``ev`` from score Datasets with a ``ceiling`` per ``rep``: a hatched band per line
        where a model at the noise ceiling would fall, ``100 mean(c) / max(c)`` to
        ``100 mean(c) / min(c)`` over reps (``c`` the ``stat`` over targets of a rep's ceiling):
        the EV scale's 100 % with the ceiling's spread over split halves. (Bootstrap intervals of
        the ceiling: :func:`neuroxr.plot.layer_profile_ci`.)
    best : mapping line label -> layer, or a layer name, optional
        Layers to mark with a star (e.g. the layer chosen on a training criterion). With a
        mapping input, ``best`` may also map a panel name to either of these.
    layer_dim : str, default "layer"
        Name of the layer dim.
    ax : matplotlib Axes, optional
        Draw into this Axes (single input only).
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per panel; each line is a ``Line2D`` with the group label.
    """
    _check_stat(stat, "layer_profile")
    mapping = _as_mapping(scores)
    if mapping is not None:
        if not mapping:
            raise LayoutError("layer_profile: the mapping is empty.")
        if ax is not None:
            raise LayoutError("layer_profile: ax= draws one panel; a mapping draws one panel per entry.")
        n = max(getattr(v, "sizes", {}).get(layer_dim, 0) for v in mapping.values())
        fig, axes = _new_figure(ncols=len(mapping), figsize=figsize or (len(mapping) * _layer_width(n, 4.2), 3.6),
                                sharey=True)
        panels = list(zip(mapping.items(), axes[0]))
    else:
        fig, one = _one_axes(ax, figsize or (_layer_width(getattr(scores, "sizes", {}).get(layer_dim, 0), 4.2), 3.6))
        panels = [((title or "", scores), one)]
    for (name, obj), a in panels:
        obj = _included_only(obj)  # targets with included false count nowhere (lines, bands, ceiling)
        da = _as_dataarray(obj, variable, f"scores[{name!r}]" if mapping is not None else "scores")
        layers, lines = _profile_lines(da, layer_dim, by, stat)
        ceilings = _ceiling_bands(obj, variable, layer_dim, by, stat) if ceiling else {}
        panel_best = best[name] if mapping is not None and isinstance(best, Mapping) and name in best else best
        x = np.arange(len(layers))
        for i, (label, center, q25, q75) in enumerate(lines):
            color = f"C{i % 10}"
            # a line without a value at any layer (e.g. every target below min_reliability) draws nothing: said
            a.plot(x, center, marker="o", color=color, label=label if np.isfinite(center).any() else f"{label} (no value)")
            if band and q25 is not None:
                a.fill_between(x, q25, q75, color=color, alpha=0.15, linewidth=0)
            if label in ceilings:
                a.fill_between(x, *ceilings[label], facecolor="none", edgecolor=color, hatch="//", alpha=0.5,
                               linewidth=0, label=f"{label} noise ceiling (spread over reps)")
            chosen = panel_best if isinstance(panel_best, str) else (panel_best or {}).get(label)
            if chosen is not None:
                if chosen not in layers:
                    raise LayoutError(f"layer_profile: best layer {chosen!r} for {label!r} is not among the layers {layers}.")
                j = layers.index(chosen)
                a.plot([x[j]], [center[j]], marker="*", markersize=16, color=color, markeredgecolor="k", linestyle="none")
        _layer_ticks(a, layers)
        if not any(np.isfinite(center).any() for _, center, *_ in lines):  # an empty axis, never read as 0
            a.text(0.5, 0.5, "no value at any layer\n(no included target with a finite score)", transform=a.transAxes,
                   ha="center", va="center", fontsize="small", color="0.4")
        a.set_xlabel(layer_dim)
        a.set_ylabel(_axis_label(variable, da, obj) + (f" ({stat})" if any(q is not None for *_, q in lines) else ""))
        if name:
            a.set_title(str(name), wrap=True)
        if len(lines) > 1 or ceilings:
            a.legend(fontsize="small")
    if mapping is not None and title:
        fig.suptitle(title, wrap=True)
    return fig




# ============================================================================ reliability
def _bulk_range(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The axis range of a histogram of ``values`` (finite, not empty) that keeps their bulk in view: from the
    least to the largest value, each clipped at 5 interquartile ranges beyond the quartiles, and spanning
    ``low`` and ``high`` (0 for EV; 0 to 1 for a reliability). A value outside is counted in the axis label."""
    q25, q75 = np.percentile(values, [25, 75])
    fence = 5.0 * max(q75 - q25, 1e-12)
    return float(min(max(values.min(), q25 - fence), low)), float(max(min(values.max(), q75 + fence), high))


def reliability_histogram(
    reliability: Any,
    *,
    variable: str = "reliability",
    by: str | None = None,
    bins: int = 20,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Histogram of per-neuroid split-half reliability, one histogram per group.

    Parameters
    ----------
    reliability : Dataset / DataArray / array, or mapping label -> one of these
        E.g. :func:`neuroxr.predictivity.split_half_reliability` (variable ``reliability``), or a
        forward score Dataset with ``variable="target_shc"`` (a reverse one's counts model units: the
        y axis names what is counted, ``neuroids`` or ``units``, else ``targets``). ``rep`` is averaged
        away. A mapping (e.g. per animal) draws one histogram per entry.
    variable : str, default "reliability"
        Variable of a Dataset.
    by : str, optional
        Coord on the target dim to group by (default ``"region"`` when present; ignored for a mapping).
        The groups are drawn in the sorted order of their labels (a mapping: in its own order).
    bins : int, default 20
    ax : matplotlib Axes, optional
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        Each group is one step histogram (a ``Polygon`` patch) with a dashed median line.
    """
    bins = check_int(bins, "bins", 1, "Pass e.g. bins=20.", caller="reliability_histogram")  # 0 bins drew nothing
    mapping = _as_mapping(reliability)
    groups: list[tuple[str, np.ndarray]] = []
    kinds: set[str] = set()  # what is counted: neuroids, or model units (a reverse score's target_shc)
    if mapping is not None:
        if not mapping:
            raise LayoutError("reliability_histogram: the mapping is empty.")
        for k, v in mapping.items():
            da = _per_target(v, variable, f"reliability[{k!r}]")
            kinds.add(_target_kind(da))
            groups.append((k, _finite(da.values)))
    else:
        da = _per_target(reliability, variable, "reliability")
        kinds.add(_target_kind(da))
        dim = da.dims[0]
        key = by if by is not None else ("region" if "region" in da.coords and da.coords["region"].dims == (dim,) else None)
        if key is not None:
            if key not in da.coords or da.coords[key].dims != (dim,):
                raise LayoutError(f"reliability_histogram: by={key!r} is not a coord on the {dim!r} dim.")
            labels = np.asarray(da.coords[key].values).astype(str)
            for g in sorted(set(labels.tolist())):  # by label, whatever the order of the targets
                groups.append((g, _finite(da.values[labels == g])))
        else:
            groups.append(("all", _finite(da.values)))
    allv = np.concatenate([v for _, v in groups]) if groups else np.array([])
    if allv.size == 0:
        raise LayoutError("reliability_histogram: no finite reliability value.")
    lo, hi = _bulk_range(allv, 0.0, 1.0)  # one Spearman-Brown value of -50 squashed the others into a bin or two
    edges = np.linspace(lo, hi, int(bins) + 1)
    n_out = int(((allv < lo) | (allv > hi)).sum())
    fig, ax = _one_axes(ax, figsize)
    for i, (g, v) in enumerate(groups):
        color = f"C{i % 10}"
        if v.size == 0:
            continue
        med = float(np.median(v))
        ax.hist(v, bins=edges, histtype="step", linewidth=1.5, color=color, label=f"{g} (n={v.size}); median {med:.2f}")
        ax.axvline(med, color=color, linestyle="--", linewidth=1)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(("split-half reliability (Spearman-Brown)" if variable in ("reliability", "target_shc") else variable)
                  + (f"; {n_out} value{'s' if n_out != 1 else ''} outside the axis" if n_out else ""))
    ax.set_ylabel(f"{kinds.pop()}s" if len(kinds) == 1 and kinds != {"target"} else "targets")
    ax.legend(fontsize="small")
    ax.set_title(title if title is not None else "split-half reliability", wrap=True)
    return fig
