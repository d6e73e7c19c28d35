"""Figures of neuroxr's labeled results.

Every function takes labeled arrays directly (the score Datasets of :mod:`neuroxr.directions`,
the RDMs and distance matrices of :mod:`neuroxr.geometry`, the tables of a sweep turned into
arrays) and returns a :class:`matplotlib.figure.Figure`. Figures are built with
``matplotlib.figure.Figure`` (not ``pyplot``), so nothing is registered with a GUI backend: the
caller saves or displays them (a notebook displays a returned Figure; ``fig.savefig(path)``
writes a file).

Conventions
-----------
- A *score* argument is a score ``Dataset`` (the variable ``variable``, ``"ev"`` by default, is
  used), a ``DataArray``, or a plain 1-D array. A ``rep`` dim is averaged away first (NaN-mean:
  the score ``reverse_pred`` reports is the mean over reps), and NaN targets are dropped.
- Where a function accepts a mapping ``label -> scores``, each entry is one model / layer /
  pair, and the labels name it in the figure.
- Functions that draw one panel accept ``ax=`` to draw into an existing Axes; the returned
  Figure is then that Axes' figure.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "forward_vs_reverse",
    "layer_profile",
    "rdm_heatmap",
    "distance_matrix",
    "embed",
    "embedding",
    "reliability_histogram",
    "best_layer_intervals",
    "metric_profile",
]

#: dims that hold the targets of a score (one value per neuroid or per model unit)
TARGET_DIMS = ("neuroid", "unit")
_STATS = ("median", "mean")


# ============================================================================ helpers
def _new_figure(ncols: int = 1, nrows: int = 1, figsize: tuple[float, float] | None = None, **kw: Any) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=figsize or (4.2 * ncols, 3.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _one_axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes; got {type(ax).__name__}.")
        return ax.figure, ax
    fig, axes = _new_figure(figsize=figsize)
    return fig, axes[0, 0]


def _check_stat(stat: str) -> str:
    if stat not in _STATS:
        raise ValueError(f"The 'stat' parameter must be one of {_STATS}. Got {stat!r} instead.")
    return stat


def _reduce(values: np.ndarray, stat: str, axis: int | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, silently
        return np.nanmedian(values, axis=axis) if stat == "median" else np.nanmean(values, axis=axis)


def _quantiles(values: np.ndarray, axis: int | None = None) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(values, 25, axis=axis), np.nanpercentile(values, 75, axis=axis)


def _as_dataarray(obj: Any, variable: str, what: str) -> xr.DataArray:
    """``obj`` (Dataset / DataArray / array-like) as a DataArray, ``rep`` averaged away."""
    if isinstance(obj, xr.Dataset):
        if variable not in obj.data_vars:
            raise KeyError(
                f"{what}: the Dataset has no variable {variable!r}; it has {sorted(map(str, obj.data_vars))}. "
                f"Pass variable=... to choose one."
            )
        da = obj[variable]
    elif isinstance(obj, xr.DataArray):
        da = obj
    else:
        arr = np.asarray(obj, dtype=float)
        if arr.ndim != 1:
            raise ValueError(f"{what}: a plain array must be 1-D (one value per target); got shape {arr.shape}.")
        da = xr.DataArray(arr, dims=("target",), name=variable)
    if "rep" in da.dims:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            da = da.mean("rep", skipna=True, keep_attrs=True)
    return da


def _per_target(obj: Any, variable: str, what: str) -> xr.DataArray:
    """A 1-D score per target (NaN targets kept; drop them with ``_finite``)."""
    da = _as_dataarray(obj, variable, what)
    if da.ndim != 1:
        raise ValueError(
            f"{what}: expected one value per target (dims (neuroid,) or (unit,), plus 'rep'); got dims {da.dims}. "
            f"Select one entry first, e.g. scores.sel(layer=...)."
        )
    return da


def _finite(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


def _target_ids(da: xr.DataArray) -> np.ndarray | None:
    dim = da.dims[0]
    for name in (f"{dim}_id", dim):
        if name in da.coords and da.coords[name].dims == (dim,):
            return np.asarray(da.coords[name].values).astype(str)
    return None


def _target_kind(da: xr.DataArray) -> str:
    dim = str(da.dims[0])
    return dim if dim in TARGET_DIMS else "target"


def _axis_label(variable: str, da: xr.DataArray | None = None) -> str:
    units = da.attrs.get("units") if da is not None else None
    if variable == "ev":
        return "explained variance (%)"
    return f"{variable} ({units})" if units else variable


def _as_mapping(obj: Any) -> dict[str, Any] | None:
    if isinstance(obj, Mapping) and not isinstance(obj, (xr.Dataset, xr.DataArray)):  # a Dataset is a Mapping too
        return {str(k): v for k, v in obj.items()}
    return None


def _coord_labels(da: xr.DataArray, dim: str) -> list[str]:
    """Labels of the entries of ``dim``: its index coord, else the first 1-D coord on it, else positions."""
    if dim in da.coords:
        return [str(v) for v in np.asarray(da.coords[dim].values)]
    for _name, c in da.coords.items():
        if c.dims == (dim,):
            return [str(v) for v in np.asarray(c.values)]
    return [str(i) for i in range(da.sizes[dim])]


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
         model);
       - *one pair whose targets coincide* (same target dim and the same target ids, or two plain
         arrays of equal length, e.g. a reverse score computed per neuroid): one point per target.

       With one pair whose targets differ, the figure has only the left panel.

    Parameters
    ----------
    forward, reverse : score Dataset / DataArray / 1-D array, or mapping label -> one of these
        ``rep`` is averaged away first. Mappings must have the same keys.
    variable : str
        Variable of a score Dataset (``"ev"``: noise-corrected explained variance in percent).
    stat : {"median", "mean"}
        Summary drawn as lines and used for the per-pair scatter.
    bins : int
        Histogram bins (shared by both distributions).
    hist_range : (float, float), optional
        Range of the histograms. Default: all values and 0, except outliers more than five
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
    _check_stat(stat)
    fmap, rmap = _as_mapping(forward), _as_mapping(reverse)
    if (fmap is None) != (rmap is None):
        raise TypeError(
            "forward_vs_reverse: pass either one score per direction or two mappings label -> scores; "
            f"got {type(forward).__name__} and {type(reverse).__name__}."
        )
    if fmap is not None:
        assert rmap is not None
        if set(fmap) != set(rmap):
            only_f, only_r = sorted(set(fmap) - set(rmap)), sorted(set(rmap) - set(fmap))
            raise KeyError(
                f"forward_vs_reverse: the two mappings need the same labels; only in forward: {only_f[:5]}, "
                f"only in reverse: {only_r[:5]}."
            )
        if not fmap:
            raise ValueError("forward_vs_reverse: the mappings are empty.")
        labels = list(fmap)
        fwd = [_per_target(fmap[k], variable, f"forward[{k!r}]") for k in labels]
        rev = [_per_target(rmap[k], variable, f"reverse[{k!r}]") for k in labels]
    else:
        labels = []
        fwd = [_per_target(forward, variable, "forward")]
        rev = [_per_target(reverse, variable, "reverse")]
    fvals = np.concatenate([_finite(d.values) for d in fwd])
    rvals = np.concatenate([_finite(d.values) for d in rev])
    if fvals.size == 0 or rvals.size == 0:
        which = "forward" if fvals.size == 0 else "reverse"
        raise ValueError(f"forward_vs_reverse: the {which} scores hold no finite value.")

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
        q25, q75 = np.percentile(both, [25, 75])
        fence = 5.0 * max(q75 - q25, 1e-12)
        lo = float(min(max(both.min(), q25 - fence), 0.0))
        hi = float(max(min(both.max(), q75 + fence), 0.0))
    else:
        lo, hi = map(float, hist_range)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, int(bins) + 1)
    n_out = int(((both < lo) | (both > hi)).sum())
    fkind, rkind = _target_kind(fwd[0]), _target_kind(rev[0])
    for vals, name, kind, color in ((fvals, "forward", fkind, "C0"), (rvals, "reverse", rkind, "C1")):
        center = float(_reduce(vals, stat))
        ax.hist(vals, bins=edges, alpha=0.5, color=color, label=f"{name} (per {kind}, n={vals.size}); {stat} {center:.1f}")
        ax.axvline(center, color=color, linestyle="--", linewidth=1.5)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(_axis_label(variable, fwd[0]) + (f"; {n_out} value{'s' if n_out != 1 else ''} outside the axis" if n_out else ""))
    ax.set_ylabel("count")
    ax.set_title("distributions" + (" (all pairs pooled)" if fmap is not None and len(labels) > 1 else ""))
    ax.legend(fontsize="small")

    if ncols == 1:
        return fig
    ax = axes[0, 1]
    if fmap is not None:
        fx = np.array([_reduce(_finite(d.values), stat) if _finite(d.values).size else np.nan for d in fwd], dtype=float)
        ry = np.array([_reduce(_finite(d.values), stat) if _finite(d.values).size else np.nan for d in rev], dtype=float)
        fq = np.array([_quantiles(_finite(d.values)) if _finite(d.values).size else (np.nan, np.nan) for d in fwd], dtype=float)
        rq = np.array([_quantiles(_finite(d.values)) if _finite(d.values).size else (np.nan, np.nan) for d in rev], dtype=float)
        ax.errorbar(
            fx, ry, xerr=np.abs(np.stack([fx - fq[:, 0], fq[:, 1] - fx])), yerr=np.abs(np.stack([ry - rq[:, 0], rq[:, 1] - ry])),
            fmt="none", ecolor="0.6", elinewidth=1, zorder=1,
        )
        groups = [lab.split("/", 1)[0] for lab in labels] if all("/" in lab for lab in labels) else [f"{stat} per pair"] * len(labels)
        for i, g in enumerate(dict.fromkeys(groups)):
            sel = np.array([x == g for x in groups])
            ax.scatter(fx[sel], ry[sel], color=f"C{(i + 2) % 10}", zorder=2, label=g)
        if annotate or (annotate is None and len(labels) <= 12):
            for x, y, lab in zip(fx, ry, labels):
                if np.isfinite(x) and np.isfinite(y):
                    ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
        ax.set_xlabel(f"forward {stat} " + _axis_label(variable))
        ax.set_ylabel(f"reverse {stat} " + _axis_label(variable))
        ax.set_title(f"{stat} per pair ({len(labels)} pairs; bars: IQR)")
        xs = np.concatenate([fx, ry])
    else:
        f, r = fwd[0], rev[0]
        ri = _target_ids(r)
        if ri is not None:
            r = r.assign_coords(_key=(r.dims[0], ri)).swap_dims({r.dims[0]: "_key"}).sel(_key=_target_ids(f))
        x, y = np.asarray(f.values, dtype=float), np.asarray(r.values, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=12, alpha=0.7, color="C2", label=f"per {fkind} (n={int(ok.sum())})")
        ax.set_xlabel("forward " + _axis_label(variable))
        ax.set_ylabel("reverse " + _axis_label(variable))
        ax.set_title(f"per {fkind}")
        xs = np.concatenate([x[ok], y[ok]])
    xs = xs[np.isfinite(xs)]
    if xs.size:
        lo, hi = float(xs.min()), float(xs.max())
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", linestyle=":", linewidth=1, label="y = x")
    ax.legend(fontsize="small")
    return fig


# ============================================================================ layer profiles
def _profile_lines(
    da: xr.DataArray, layer_dim: str, by: str | None, stat: str
) -> tuple[list[str], list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]]]:
    """Per line: (label, center per layer, q25, q75) and the layer labels."""
    if layer_dim not in da.dims:
        raise ValueError(
            f"layer_profile: the scores need a {layer_dim!r} dim; they have dims {da.dims}. "
            f"Stack per-layer scores with xarray.concat(..., dim='layer') or pass layer_dim=..."
        )
    layers = _coord_labels(da, layer_dim)
    target = next((d for d in TARGET_DIMS if d in da.dims), None)
    lines: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
    if target is not None:
        group = by if by is not None else ("region" if "region" in da.coords and da.coords["region"].dims == (target,) else None)
        if group is not None and not (group in da.coords and da.coords[group].dims == (target,)):
            raise KeyError(f"layer_profile: by={group!r} is not a coord on the {target!r} dim; coords there: "
                           f"{sorted(str(n) for n, c in da.coords.items() if c.dims == (target,))}.")
        others = [d for d in da.dims if d not in (layer_dim, target)]
        da = da.transpose(*others, layer_dim, target)
        keys = np.asarray(da.coords[group].values).astype(str) if group is not None else np.array(["all"] * da.sizes[target])
        for idx in np.ndindex(*[da.sizes[d] for d in others]):
            sub = np.asarray(da.values[idx], dtype=float)  # layer x target
            prefix = " ".join(_coord_labels(da, d)[i] for d, i in zip(others, idx))
            for key in dict.fromkeys(keys.tolist()):
                v = sub[:, keys == key]
                q25, q75 = _quantiles(v, axis=1)
                label = " ".join(s for s in (prefix, key if group is not None else "") if s) or "all"
                lines.append((label, np.asarray(_reduce(v, stat, axis=1), dtype=float), q25, q75))
        return layers, lines
    if by is not None and by not in da.dims:
        raise KeyError(f"layer_profile: by={by!r} is not a dim of the scores {da.dims}.")
    others = [d for d in da.dims if d != layer_dim]
    if by is not None:
        others = [by] + [d for d in others if d != by]
    da = da.transpose(*others, layer_dim)
    for idx in np.ndindex(*[da.sizes[d] for d in others]):
        label = " ".join(_coord_labels(da, d)[i] for d, i in zip(others, idx)) or str(da.name or "score")
        lines.append((label, np.asarray(da.values[idx], dtype=float), None, None))
    return layers, lines


def layer_profile(
    scores: Any,
    *,
    variable: str = "ev",
    by: str | None = None,
    stat: str = "median",
    band: bool = True,
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
        Layers are drawn in the order of the ``layer`` dim (put them in depth order). Accepted
        shapes, after ``rep`` is averaged away:

        - ``(layer, <target>)`` with ``<target>`` = ``neuroid`` or ``unit``: per layer, the
          ``stat`` over targets, one line per value of the ``by`` coord on the target dim
          (default ``"region"`` when present) with an inter-quartile band;
        - ``(layer,)`` or ``(layer, d1, ...)`` of summaries (e.g. a sweep's median EV with dims
          ``region`` and ``layer``): one line per combination of the other dims (``by`` first).

        A mapping draws one panel per entry (e.g. per model, whose layers differ), sharing the
        y axis.
    variable : str
        Variable of a Dataset.
    by : str, optional
        Coord on the target dim, or a dim, that makes the lines.
    stat : {"median", "mean"}
        Summary over targets.
    band : bool
        Shade the inter-quartile range over targets (target-level input only).
    best : mapping line label -> layer, or a layer name, optional
        Layers to mark with a star (e.g. the layer chosen on a training criterion). With a
        mapping input, ``best`` may also map a panel name to either of these.
    layer_dim : str
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
    _check_stat(stat)
    mapping = _as_mapping(scores)
    if mapping is not None:
        if not mapping:
            raise ValueError("layer_profile: the mapping is empty.")
        if ax is not None:
            raise ValueError("layer_profile: ax= draws one panel; a mapping draws one panel per entry.")
        fig, axes = _new_figure(ncols=len(mapping), figsize=figsize, sharey=True)
        panels = list(zip(mapping.items(), axes[0]))
    else:
        fig, one = _one_axes(ax, figsize)
        panels = [((title or "", scores), one)]
    for (name, obj), a in panels:
        da = _as_dataarray(obj, variable, f"scores[{name!r}]" if mapping is not None else "scores")
        layers, lines = _profile_lines(da, layer_dim, by, stat)
        panel_best = best[name] if mapping is not None and isinstance(best, Mapping) and name in best else best
        x = np.arange(len(layers))
        for i, (label, center, q25, q75) in enumerate(lines):
            color = f"C{i % 10}"
            a.plot(x, center, marker="o", color=color, label=label)
            if band and q25 is not None:
                a.fill_between(x, q25, q75, color=color, alpha=0.15, linewidth=0)
            chosen = panel_best if isinstance(panel_best, str) else (panel_best or {}).get(label)
            if chosen is not None:
                if chosen not in layers:
                    raise KeyError(f"layer_profile: best layer {chosen!r} for {label!r} is not among the layers {layers}.")
                j = layers.index(chosen)
                a.plot([x[j]], [center[j]], marker="*", markersize=16, color=color, markeredgecolor="k", linestyle="none")
        a.set_xticks(x, layers, rotation=30 if max((len(s) for s in layers), default=0) > 6 else 0, ha="right" if max((len(s) for s in layers), default=0) > 6 else "center")
        a.set_xlabel(layer_dim)
        a.set_ylabel(_axis_label(variable, da) + (f" ({stat})" if any(q is not None for *_, q in lines) else ""))
        if name:
            a.set_title(str(name))
        if len(lines) > 1:
            a.legend(fontsize="small")
    if mapping is not None and title:
        fig.suptitle(title)
    return fig


# ============================================================================ RDMs and distance matrices
def _square(da: Any, what: str) -> xr.DataArray:
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"{what}: expected a labeled 2-D xarray.DataArray; got {type(da).__name__}.")
    if da.ndim != 2 or da.shape[0] != da.shape[1]:
        raise ValueError(f"{what}: expected a square 2-D array; got dims {da.dims} with shape {da.shape}.")
    return da


def _order_labels(rdm: xr.DataArray, order_by: Any) -> np.ndarray:
    dim = rdm.dims[0]
    if isinstance(order_by, str):
        if order_by not in rdm.coords or rdm.coords[order_by].dims != (dim,):
            raise KeyError(
                f"rdm_heatmap: order_by={order_by!r} is not a coord on the {dim!r} dim of the RDM; coords there: "
                f"{sorted(str(n) for n, c in rdm.coords.items() if c.dims == (dim,))}. Pass a labeled DataArray "
                f"(e.g. neural.category) instead."
            )
        return np.asarray(rdm.coords[order_by].values).astype(str)
    if isinstance(order_by, xr.DataArray):
        if "stimulus_id" not in order_by.coords or "stimulus_id" not in rdm.coords:
            raise KeyError("rdm_heatmap: to order by a DataArray, both it and the RDM need a 'stimulus_id' coord.")
        lookup = dict(zip(np.asarray(order_by.coords["stimulus_id"].values).astype(str), np.asarray(order_by.values).astype(str)))
        ids = np.asarray(rdm.coords["stimulus_id"].values).astype(str)
        missing = [s for s in ids if s not in lookup]
        if missing:
            raise KeyError(f"rdm_heatmap: order_by lacks {len(missing)} of the RDM's stimuli, e.g. {missing[:5]}.")
        return np.array([lookup[s] for s in ids])
    arr = np.asarray(order_by).astype(str)
    if arr.shape != (rdm.shape[0],):
        raise ValueError(f"rdm_heatmap: order_by needs one label per stimulus ({rdm.shape[0]}); got shape {arr.shape}.")
    return arr


def rdm_heatmap(
    rdm: xr.DataArray,
    *,
    order_by: str | xr.DataArray | Sequence[Any] | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Heat map of a representational dissimilarity matrix.

    Parameters
    ----------
    rdm : DataArray, dims (stimulus, stimulus_)
        As returned by :func:`neuroxr.geometry.rdm`.
    order_by : str, DataArray or sequence, optional
        Sort the stimuli by a label (stable sort, so the order within a group is kept) and draw
        the group boundaries, with the group names as tick labels. A str names a coord on the
        RDM's first dim; a DataArray with a ``stimulus_id`` coord (e.g. ``neural.category``) is
        paired with the RDM by ``stimulus_id``; a sequence gives one label per row.
    ax : matplotlib Axes, optional
    cmap, vmin, vmax : colour map and limits
    colorbar : bool
        Add a colour bar (an extra Axes of the figure).
    title : str, optional
        Default: the RDM's ``method`` and ``label`` attrs.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        The heat map is ``ax.images[0]``.
    """
    rdm = _square(rdm, "rdm_heatmap")
    values = np.asarray(rdm.values, dtype=float)
    n = values.shape[0]
    fig, ax = _one_axes(ax, figsize or (4.6, 4.0))
    labels = None
    if order_by is not None:
        labels = _order_labels(rdm, order_by)
        order = np.argsort(labels, kind="stable")
        values, labels = values[np.ix_(order, order)], labels[order]
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if labels is not None:
        cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        for c in cuts:
            ax.axhline(c - 0.5, color="w", linewidth=0.8)
            ax.axvline(c - 0.5, color="w", linewidth=0.8)
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [n]])
        centers = (starts + ends - 1) / 2
        names = [labels[s] for s in starts]
        ax.set_xticks(centers, names, rotation=90, fontsize="small")
        ax.set_yticks(centers, names, fontsize="small")
    elif n <= 30 and "stimulus_id" in rdm.coords:
        ids = np.asarray(rdm.coords["stimulus_id"].values).astype(str)
        ax.set_xticks(np.arange(n), ids, rotation=90, fontsize="x-small")
        ax.set_yticks(np.arange(n), ids, fontsize="x-small")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{n} stimuli")
    if colorbar:
        fig.colorbar(im, ax=ax, label="dissimilarity" + (f" ({rdm.attrs['method']})" if "method" in rdm.attrs else ""))
    if title is None:
        title = " ".join(str(rdm.attrs[k]) for k in ("label",) if k in rdm.attrs) or "RDM"
    ax.set_title(title)
    return fig


def distance_matrix(
    dist: xr.DataArray | xr.Dataset,
    *,
    variable: str = "train",
    ax: Axes | None = None,
    cmap: str = "magma",
    annotate: bool | None = None,
    colorbar: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Heat map of a labeled distance (or similarity) matrix between networks.

    Parameters
    ----------
    dist : DataArray (network, network_) or Dataset
        E.g. :func:`neuroxr.geometry.pairwise_distances` (a Dataset with ``train``/``test`` when
        it was given test data: ``variable`` picks one) or a CKA matrix. Tick labels come from
        the index coord of each dim (else its first 1-D coord).
    variable : str
        Variable of a Dataset.
    ax : matplotlib Axes, optional
    cmap : str
    annotate : bool, optional
        Write the values in the cells (default: when there are at most 12 networks).
    colorbar : bool
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        The heat map is ``ax.images[0]``; annotations are ``ax.texts``.
    """
    if isinstance(dist, xr.Dataset):
        if variable not in dist.data_vars:
            raise KeyError(f"distance_matrix: the Dataset has no variable {variable!r}; it has {sorted(map(str, dist.data_vars))}.")
        dist = dist[variable]
    dist = _square(dist, "distance_matrix")
    m = dist.shape[0]
    rows, cols = _coord_labels(dist, dist.dims[0]), _coord_labels(dist, dist.dims[1])
    fig, ax = _one_axes(ax, figsize or (max(4.0, 0.45 * m + 2.5), max(3.4, 0.45 * m + 1.8)))
    values = np.asarray(dist.values, dtype=float)
    im = ax.imshow(values, cmap=cmap, interpolation="nearest")
    ax.set_xticks(np.arange(m), cols, rotation=90, fontsize="small")
    ax.set_yticks(np.arange(m), rows, fontsize="small")
    if annotate is None:
        annotate = m <= 12
    if annotate:
        finite = values[np.isfinite(values)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(m):
            for j in range(m):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize="x-small",
                            color="k" if values[i, j] > mid else "w")
    if colorbar:
        fig.colorbar(im, ax=ax, label=str(dist.name or "distance"))
    ax.set_title(title if title is not None else str(dist.name or "distance"))
    return fig


# ============================================================================ embeddings
def _mds(D: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    if "metric_mds" in params:  # scikit-learn >= 1.8
        est = MDS(n_components=2, metric="precomputed", metric_mds=True, init="classical_mds", random_state=seed)
    else:
        kw: dict[str, Any] = {"n_components": 2, "dissimilarity": "precomputed", "random_state": seed, "n_init": 4}
        if "normalized_stress" in params:
            kw["normalized_stress"] = "auto"
        est = MDS(**kw)
    return np.asarray(est.fit_transform(D), dtype=float)


def _classical_mds(D: np.ndarray) -> np.ndarray:
    m = D.shape[0]
    J = np.eye(m) - 1.0 / m
    B = -0.5 * J @ (D**2) @ J
    w, V = np.linalg.eigh((B + B.T) / 2)
    order = np.argsort(w)[::-1][:2]
    w, V = np.clip(w[order], 0, None), V[:, order]
    X = V * np.sqrt(w)
    signs = np.sign(X[np.argmax(np.abs(X), axis=0), np.arange(X.shape[1])])  # deterministic orientation
    X = X * np.where(signs == 0, 1, signs)
    if X.shape[1] < 2:
        X = np.pad(X, ((0, 0), (0, 2 - X.shape[1])))
    return X


def embed(dist: xr.DataArray, method: str = "mds", seed: int = 0) -> xr.DataArray:
    """Two-dimensional embedding of a labeled distance matrix.

    Parameters
    ----------
    dist : DataArray (network, network_)
        A symmetric distance matrix with zeros on the diagonal (e.g.
        :func:`neuroxr.geometry.pairwise_distances`).
    method : {"mds", "classical"}
        ``"mds"``: metric MDS (:class:`sklearn.manifold.MDS` on the precomputed dissimilarities,
        ``random_state=seed``); ``"classical"``: classical (Torgerson) MDS from the top two
        eigenvectors of the double-centred squared distances (deterministic).
    seed : int

    Returns
    -------
    xarray.DataArray, dims (<first dim>, component)
        The coordinates, with the coords of the first dim of ``dist`` and ``component`` = [0, 1].
    """
    if method not in ("mds", "classical"):
        raise ValueError(f"The 'method' parameter must be one of ('mds', 'classical'). Got {method!r} instead.")
    dist = _square(dist, "embed")
    D = np.asarray(dist.values, dtype=float)
    if not np.isfinite(D).all():
        raise ValueError("embed: the distance matrix holds NaN or infinite values.")
    if D.shape[0] < 3:
        raise ValueError(f"embed: a 2-D embedding needs at least 3 networks; got {D.shape[0]}.")
    if not np.allclose(D, D.T, atol=1e-8 * max(1.0, float(np.abs(D).max()))):
        raise ValueError("embed: the distance matrix is not symmetric.")
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    X = _mds(D, seed) if method == "mds" else _classical_mds(D)
    dim = dist.dims[0]
    coords = {name: c for name, c in dist.coords.items() if c.dims == (dim,)}
    return xr.DataArray(X, dims=(dim, "component"), coords={**coords, "component": [0, 1]}, name=f"{method}_embedding", attrs={"method": method, "seed": seed})


def _groups(dist: xr.DataArray, names: list[str], hue: str | Sequence[Any] | None) -> list[str]:
    dim = dist.dims[0]
    if hue is None:
        if "model" in dist.coords and dist.coords["model"].dims == (dim,):
            return [str(v) for v in np.asarray(dist.coords["model"].values)]
        if all("/" in s for s in names):
            return [s.split("/", 1)[0] for s in names]
        return names
    if isinstance(hue, str):
        if hue not in dist.coords or dist.coords[hue].dims != (dim,):
            raise KeyError(f"embedding: hue={hue!r} is not a coord on the {dim!r} dim; coords there: "
                           f"{sorted(str(n) for n, c in dist.coords.items() if c.dims == (dim,))}.")
        return [str(v) for v in np.asarray(dist.coords[hue].values)]
    out = [str(v) for v in hue]
    if len(out) != len(names):
        raise ValueError(f"embedding: hue needs one label per network ({len(names)}); got {len(out)}.")
    return out


def embedding(
    dist: xr.DataArray | xr.Dataset,
    *,
    method: str = "mds",
    seed: int = 0,
    variable: str = "train",
    hue: str | Sequence[Any] | None = None,
    labels: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """2-D scatter of networks embedded from their distance matrix (see :func:`embed`).

    Parameters
    ----------
    dist : DataArray (network, network_) or Dataset (``variable`` picks one)
    method : {"mds", "classical"}
    seed : int
    variable : str
    hue : str or sequence, optional
        Colour groups: a coord on the network dim, or one label per network. Default: the
        ``model`` coord when present, else the part before ``/`` of ``"model/layer"`` names,
        else one colour per network.
    labels : bool
        Write each network's name next to its point.
    ax : matplotlib Axes, optional
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One scatter (``PathCollection``) per colour group; the embedding is in ``fig.embedding``.
    """
    if isinstance(dist, xr.Dataset):
        if variable not in dist.data_vars:
            raise KeyError(f"embedding: the Dataset has no variable {variable!r}; it has {sorted(map(str, dist.data_vars))}.")
        dist = dist[variable]
    coords = embed(dist, method=method, seed=seed)
    names = _coord_labels(dist, dist.dims[0])
    groups = _groups(dist, names, hue)
    fig, ax = _one_axes(ax, figsize or (4.6, 4.0))
    X = np.asarray(coords.values)
    for i, g in enumerate(dict.fromkeys(groups)):
        sel = np.array([x == g for x in groups])
        ax.scatter(X[sel, 0], X[sel, 1], color=f"C{i % 10}", label=g, s=36)
    if labels:
        for (x, y), name in zip(X, names):
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize="x-small")
    if len(set(groups)) < len(groups) or hue is not None:
        ax.legend(fontsize="small")
    ax.set_xlabel(f"{method.upper() if method == 'mds' else 'classical MDS'} 1")
    ax.set_ylabel(f"{method.upper() if method == 'mds' else 'classical MDS'} 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title if title is not None else f"{method} embedding of {len(names)} networks")
    fig.embedding = coords  # type: ignore[attr-defined]
    return fig


# ============================================================================ reliability
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
        E.g. :func:`neuroxr.directions.split_half_reliability` (variable ``reliability``), or a
        forward score Dataset with ``variable="target_shc"``. ``rep`` is averaged away. A mapping
        (e.g. per animal) draws one histogram per entry.
    variable : str
        Variable of a Dataset.
    by : str, optional
        Coord on the target dim to group by (default ``"region"`` when present; ignored for a mapping).
    bins : int
    ax : matplotlib Axes, optional
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        Each group is one step histogram (a ``Polygon`` patch) with a dashed median line.
    """
    mapping = _as_mapping(reliability)
    groups: list[tuple[str, np.ndarray]] = []
    if mapping is not None:
        if not mapping:
            raise ValueError("reliability_histogram: the mapping is empty.")
        for k, v in mapping.items():
            groups.append((k, _finite(_per_target(v, variable, f"reliability[{k!r}]").values)))
    else:
        da = _per_target(reliability, variable, "reliability")
        dim = da.dims[0]
        key = by if by is not None else ("region" if "region" in da.coords and da.coords["region"].dims == (dim,) else None)
        if key is not None:
            if key not in da.coords or da.coords[key].dims != (dim,):
                raise KeyError(f"reliability_histogram: by={key!r} is not a coord on the {dim!r} dim.")
            labels = np.asarray(da.coords[key].values).astype(str)
            for g in dict.fromkeys(labels.tolist()):
                groups.append((g, _finite(da.values[labels == g])))
        else:
            groups.append(("all", _finite(da.values)))
    allv = np.concatenate([v for _, v in groups]) if groups else np.array([])
    if allv.size == 0:
        raise ValueError("reliability_histogram: no finite reliability value.")
    lo, hi = float(min(allv.min(), 0.0)), float(max(allv.max(), 1.0))
    edges = np.linspace(lo, hi, int(bins) + 1)
    fig, ax = _one_axes(ax, figsize)
    for i, (g, v) in enumerate(groups):
        color = f"C{i % 10}"
        if v.size == 0:
            continue
        med = float(np.median(v))
        ax.hist(v, bins=edges, histtype="step", linewidth=1.5, color=color, label=f"{g} (n={v.size}); median {med:.2f}")
        ax.axvline(med, color=color, linestyle="--", linewidth=1)
    ax.set_xlabel("split-half reliability (Spearman-Brown)" if variable in ("reliability", "target_shc") else variable)
    ax.set_ylabel("neuroids")
    ax.legend(fontsize="small")
    ax.set_title(title if title is not None else "split-half reliability")
    return fig


# ============================================================================ report summaries
def best_layer_intervals(
    headline: Any,
    *,
    label_columns: Sequence[str] = ("direction", "model", "neural", "region", "best_layer"),
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """One row per best layer: its held-out EV with an interval, and the noise ceiling beside it.

    Parameters
    ----------
    headline : pandas.DataFrame
        :func:`neuroxr.report.headline` (columns ``test_ev``, ``ci_low``, ``ci_high``, ``ceiling``
        and the ``label_columns``).
    label_columns : sequence of str
        Columns joined into each row's label.
    figsize : (float, float), optional
        Default: 9 wide, 0.45 per row.

    Returns
    -------
    matplotlib.figure.Figure
        Left panel: EV (percent) with the interval as an error bar; right panel: ceiling (r^2).
    """
    n = len(headline)
    fig, axes = _new_figure(ncols=2, figsize=figsize or (9.0, 1.2 + 0.45 * max(n, 1)),
                            gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    ax, axc = axes.ravel()
    y = np.arange(n)[::-1]
    labels = [" ".join(str(getattr(r, c)) for c in label_columns if str(getattr(r, c)) not in ("all", "None"))
              for r in headline.itertuples()]
    ev = headline["test_ev"].to_numpy(dtype=float) if n else np.array([])
    lo = headline["ci_low"].to_numpy(dtype=float) if n else np.array([])
    hi = headline["ci_high"].to_numpy(dtype=float) if n else np.array([])
    xerr = np.vstack([np.clip(ev - lo, 0, None), np.clip(hi - ev, 0, None)]) if n else None
    ax.errorbar(ev, y, xerr=xerr, fmt="o", color="C0", capsize=3)
    ax.set_yticks(y, labels)
    ax.set_xlabel("EV on held-out targets (%)")
    ax.axvline(0, color="0.7", lw=0.8)
    ax.set_title("best layer (95 % bootstrap interval over targets)", fontsize="medium")
    ceiling = headline["ceiling"].to_numpy(dtype=float) if n else np.array([])
    axc.barh(y, np.nan_to_num(ceiling), color="0.6")
    axc.set_xlim(0, 1)
    axc.set_xlabel("noise ceiling (r²)")
    return fig


def metric_profile(
    values: Any,
    *,
    ylabel: str = "value",
    title: str | None = None,
    lower_is_better: bool = False,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """A geometry metric (cRSA, CKA, shape, ...) across layers, one line per target.

    Parameters
    ----------
    values : DataArray with dims ``(layer,)`` or ``(layer, target)``, or mapping label -> ``(layer,)`` DataArray
        Layers in depth order along ``layer`` (a mapping may give each line its own layers).
    ylabel : str
        Label of the y axis (the metric's name).
    title : str, optional
    lower_is_better : bool
        Note on the axis that lower values mean more similar (distances such as shape).
    ax : Axes, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _one_axes(ax, figsize or (6.0, 3.6))
    if isinstance(values, Mapping):
        lines = {str(k): v for k, v in values.items()}
    elif "layer" in getattr(values, "dims", ()) and values.ndim == 2:
        other = [d for d in values.dims if d != "layer"][0]
        lines = {lab: values.isel({other: i}) for i, lab in enumerate(_coord_labels(values, other))}
    else:
        lines = {"": values}
    for label, da in lines.items():
        if not isinstance(da, xr.DataArray) or da.dims != ("layer",):
            raise ValueError(f"metric_profile: 'values' needs DataArrays over the 'layer' dim; got {type(da).__name__}"
                             f" {getattr(da, 'dims', '')}. Stack one value per layer along 'layer'.")
        ax.plot(_coord_labels(da, "layer"), np.asarray(da.values, dtype=float), marker="o", label=label or None)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel + (" (lower = more similar)" if lower_is_better else ""))
    if any(lines):
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30)
    return fig
