"""Helpers shared by the figure modules (score arguments, stats, labels, new figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import LayoutError, shown
from ..kernels.resample import nanmean, nanmean_over, nanmedian, nanpercentile

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
            raise LayoutError(f"ax must be a matplotlib Axes; got {type(ax).__name__}.")
        return ax.figure, ax
    fig, axes = _new_figure(figsize=figsize)
    return fig, axes[0, 0]


def _interval_bars(ax: Axes, at: Any, low: Any, high: Any, vertical: bool, cap: bool = False, **kw: Any) -> None:
    """Draw each interval from its own bounds, a segment at ``at`` from ``low`` to ``high`` (vertical
    or horizontal; NaN bounds: none), never as offsets from a point: a percentile interval or an IQR
    need not contain its median or mean. ``cap``: short ticks at both ends."""
    at, low, high = (np.asarray(v, dtype=float) for v in (at, low, high))
    ok = np.isfinite(at) & np.isfinite(low) & np.isfinite(high)
    at, low, high = at[ok], low[ok], high[ok]
    (ax.vlines if vertical else ax.hlines)(at, low, high, **kw)
    if cap:
        ends = np.concatenate([low, high])
        xy = (np.tile(at, 2), ends) if vertical else (ends, np.tile(at, 2))
        ax.plot(*xy, linestyle="none", marker="_" if vertical else "|", markersize=6, color=kw.get("colors"))


def _layer_width(n_layers: int, base: float) -> float:
    """A panel's default width (inches) for ``n_layers`` on its x axis: ``base``, or wider where
    their labels (turned upright past 12) would overlap."""
    return max(base, 1.2 + 0.2 * n_layers)


def _layer_ticks(ax: Axes, labels: list[str]) -> None:
    """Layer names as the x ticks at 0, 1, ...: level when few and short, slanted when long, upright
    past 12 (side by side they overlapped into an unreadable band)."""
    long = max((len(s) for s in labels), default=0) > 6
    rotation, ha = (90, "center") if len(labels) > 12 else (30, "right") if long else (0, "center")
    ax.set_xticks(np.arange(len(labels)), labels, rotation=rotation, ha=ha)


def _check_stat(stat: str, caller: str) -> str:
    if stat not in _STATS:
        raise LayoutError(f"{caller}: stat must be one of {_STATS}; got {shown(stat)}.")
    return stat


def _reduce(values: np.ndarray, stat: str, axis: int | None = None) -> Any:
    # all-NaN slices give NaN, silently (no warning filter: process-wide, another thread's warnings lost)
    return nanmedian(values, axis=axis) if stat == "median" else nanmean(values, axis=axis)


def _quantiles(values: np.ndarray, axis: int | None = None) -> tuple[Any, Any]:
    return nanpercentile(values, 25, axis=axis), nanpercentile(values, 75, axis=axis)


def _included_only(obj: Any) -> Any:
    """A score Dataset with its excluded targets (``included`` false: below the entry's
    ``min_reliability``) set to NaN in every variable over the dims of ``included``, so every
    number drawn over targets counts only the included ones, as the report's tables do; anything
    else (and a Dataset without ``included``) unchanged."""
    if not isinstance(obj, xr.Dataset) or "included" not in obj.data_vars:
        return obj
    keep = obj["included"].astype(bool)
    out = obj.copy()
    for name, var in obj.data_vars.items():
        if name != "included" and set(keep.dims) <= set(var.dims) and var.dtype.kind in "fc":
            out[name] = var.where(keep)
    return out


def _as_dataarray(obj: Any, variable: str, what: str) -> xr.DataArray:
    """``obj`` (Dataset / DataArray / array-like) as a DataArray, ``rep`` averaged away."""
    if isinstance(obj, xr.Dataset):
        if variable not in obj.data_vars:
            raise LayoutError(
                f"{what}: the Dataset has no variable {variable!r}; it has {sorted(map(str, obj.data_vars))}. "
                f"Pass variable=... to choose one."
            )
        da = obj[variable]
    elif isinstance(obj, xr.DataArray):
        da = obj
    else:
        expected = f"{what}: expected a score Dataset, DataArray or 1-D numeric array; got {type(obj).__name__}"
        if obj is None or isinstance(obj, (str, bytes)):
            raise LayoutError(expected + ".")
        try:
            arr = np.asarray(obj, dtype=float)
        except (TypeError, ValueError):
            raise LayoutError(expected + " that does not convert to numbers.") from None
        if arr.ndim != 1:
            raise LayoutError(f"{what}: a plain array must be 1-D (one value per target); got shape {arr.shape}.")
        da = xr.DataArray(arr, dims=("target",), name=variable)
    if "rep" in da.dims:
        da = nanmean_over(da, "rep", keep_attrs=True)
    return da


def _per_target(obj: Any, variable: str, what: str) -> xr.DataArray:
    """A 1-D score per target (NaN targets kept; drop them with ``_finite``)."""
    da = _as_dataarray(obj, variable, what)
    if da.ndim != 1:
        raise LayoutError(
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


def _raw_ev(obj: Any) -> bool:
    """Whether ``obj`` is a score Dataset whose ``ev`` is ``r^2 * 100``, not noise-corrected: its attrs say
    ``noise_ceiling`` false (a trial-averaged target, ``noise_ceiling=False``, model -> model)."""
    return isinstance(obj, xr.Dataset) and "noise_ceiling" in obj.attrs and not bool(obj.attrs["noise_ceiling"])


def _axis_label(variable: str, da: xr.DataArray | None = None, raw: Any = ()) -> str:
    """The axis label of ``variable``; for ``ev``, of the score Datasets ``raw`` (one, or a sequence): "not
    noise-corrected" where all are (:func:`_raw_ev`), "r^2 where no ceiling" where some are."""
    units = da.attrs.get("units") if da is not None else None
    if variable == "ev":
        return _ev_label([_raw_ev(o) for o in (raw if isinstance(raw, (list, tuple)) else [raw])], "explained variance (%)")
    return f"{variable} ({units})" if units else variable


def _ev_label(raw: Sequence[bool], plain: str) -> str:
    """The label of EV values of which those flagged in ``raw`` are ``r^2 * 100`` (no noise ceiling): ``plain``
    where none is, and says so where all or some are."""
    if len(raw) and all(raw):
        return "r² × 100 (%; no noise ceiling)"
    return "EV (%; r² × 100 where no ceiling)" if any(raw) else plain


def _note_undrawn(ax: Axes, x: Any, y: Any, labels: Sequence[str], what: str) -> int:
    """Name on ``ax`` the points of ``labels`` without a finite ``(x, y)`` (no ``what`` in a direction): never
    silently absent. Returns their number."""
    missing = [lab for xi, yi, lab in zip(x, y, labels) if not (np.isfinite(xi) and np.isfinite(yi))]
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        ax.text(0.02, 0.02, f"not drawn, no {what} in a direction: {listed}", transform=ax.transAxes,
                fontsize="x-small", color="0.4", va="bottom")
    return len(missing)


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


def pair_label(model: Any, layer: Any, neural: Any = None, region: Any = None) -> str:
    """A (model, layer, neural set, region) as the forward-vs-reverse figures label it:
    ``model/layer:neural [region]``, the neural set and region left out where ``None`` (and the region
    where it is ``"all"``, the whole set). Store names hold no ``/``, ``:``, space or ``[``, so two keys
    never share a label (``n.A`` the set and ``n`` with region ``A`` once did)."""
    label = f"{model}/{layer}" + ("" if neural is None else f":{neural}")
    return label if region is None or str(region) == "all" else f"{label} [{region}]"
