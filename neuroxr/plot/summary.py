"""Summary figures of a report: best layers with intervals, metric profiles across layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import LayoutError
from ._common import (
    _coord_labels,
    _interval_bars,
    _layer_ticks,
    _layer_width,
    _new_figure,
    _one_axes,
)

__all__ = ["best_layer_intervals", "metric_profile"]


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
    label_columns : sequence of str, default ("direction", "model", "neural", "region", "best_layer")
        Columns joined into each row's label.
    figsize : (float, float), optional
        Default: 9 wide, 0.45 per row.

    Returns
    -------
    matplotlib.figure.Figure
        Left panel: EV (percent) with the interval as an error bar (the text "no interval" beside
        a point whose interval is NaN, e.g. of one test target); right panel: ceiling (r^2), a
        bar per row with a ceiling and the text "n/a (no ceiling)" where it is NaN (no bar), on an axis
        from 0 to 1 widened to hold every ceiling (a negative one, or one above 1).
    """
    if not isinstance(headline, pd.DataFrame):
        raise LayoutError(f"best_layer_intervals: headline must be a pandas DataFrame (neuroxr.report.headline); "
                          f"got {type(headline).__name__}.")
    missing = [c for c in (*label_columns, "test_ev", "ci_low", "ci_high", "ceiling") if c not in headline.columns]
    if missing:
        raise LayoutError(f"best_layer_intervals: headline lacks the columns {missing}; pass neuroxr.report.headline's "
                          f"table, or name its label columns with label_columns=[...].")
    n = len(headline)
    fig, axes = _new_figure(ncols=2, figsize=figsize or (9.0, 1.2 + 0.45 * max(n, 1)),
                            gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    ax, axc = axes.ravel()
    y = np.arange(n)[::-1]
    # a missing label (a row without a best layer: no included target) is left out of the label, never "nan"
    labels = [" ".join(str(v) for v in (getattr(r, c) for c in label_columns)
                       if not (np.ndim(v) == 0 and pd.isna(v)) and str(v) not in ("all", "None"))
              for r in headline.itertuples()]
    ev = headline["test_ev"].to_numpy(dtype=float) if n else np.array([])
    lo = headline["ci_low"].to_numpy(dtype=float) if n else np.array([])
    hi = headline["ci_high"].to_numpy(dtype=float) if n else np.array([])
    ax.plot(ev, y, "o", color="C0")
    _interval_bars(ax, y, lo, hi, vertical=False, cap=True, colors="C0")
    bare = np.isfinite(ev) & ~(np.isfinite(lo) & np.isfinite(hi))
    for xi, yi in zip(ev[bare], y[bare]):
        ax.annotate("no interval", (xi, yi), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize="small", color="0.4")  # e.g. one test target: a point, never a zero-width bar
    for yi in y[~np.isfinite(ev)]:  # no test EV (e.g. every target below min_reliability): said, never drawn as 0
        ax.text(0.02, yi, "no value (no included target)", transform=ax.get_yaxis_transform(), va="center",
                fontsize="small", color="0.4")
    ax.set_yticks(y, labels)
    if n:  # every row on the axis: a first or last row without a point (no value) fell outside the data limits
        ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlabel("EV on held-out targets (%)")
    ax.axvline(0, color="0.7", lw=0.8)
    ax.set_title("best layer (95 % bootstrap interval over targets)", fontsize="medium", wrap=True)
    ceiling = headline["ceiling"].to_numpy(dtype=float) if n else np.array([])
    has = np.isfinite(ceiling)
    axc.barh(y[has], ceiling[has], color="0.6")
    for yi in y[~has]:  # no ceiling (e.g. trial-averaged data): nothing drawn, marked missing
        axc.text(0.02, yi, "n/a (no ceiling)", va="center", fontsize="small", color="0.4")
    # 0 to 1, widened to any ceiling outside it (a product of two negative reliabilities exceeds 1, of one is
    # negative): a bar clipped at the axis would read as 1 or as no ceiling
    low, high = float(ceiling[has].min(initial=0.0)), float(ceiling[has].max(initial=1.0))
    axc.set_xlim(min(0.0, 1.05 * low), 1.0 if high <= 1 else 1.05 * high)
    axc.set_xlabel("noise ceiling (r²)")
    return fig


def _layer_axis(per_line: list[list[str]], layers: Sequence[str] | None) -> list[str]:
    """One layer axis for lines with their own layers: ``layers`` then the others, or (without
    ``layers``) the lines' layers merged so that each line's order is kept (a layer new to the
    axis goes before the next of its line's layers already there)."""
    axis = list(dict.fromkeys(str(l) for l in layers)) if layers is not None else []
    for own in per_line:
        for i, layer in enumerate(own):
            if layer in axis:
                continue
            after = next((axis.index(l) for l in own[i + 1:] if l in axis), len(axis)) if layers is None else len(axis)
            axis.insert(after, layer)
    return axis


def metric_profile(
    values: Any,
    *,
    ylabel: str = "value",
    title: str | None = None,
    lower_is_better: bool = False,
    layers: Sequence[str] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """A geometry metric (cRSA, CKA, shape, ...) across layers, one line per target.

    Every line is drawn on one layer axis; a line without a value at a layer (or with NaN there)
    has a gap there, never a 0.

    Parameters
    ----------
    values : DataArray with dims ``(layer,)`` or ``(layer, target)``, or mapping label -> ``(layer,)`` DataArray
        Layers in depth order along ``layer`` (a mapping may give each line its own layers).
    layers : sequence of str, optional
        The layer axis, in depth order (layers of the lines missing from it come after it).
        Default: the layers of all lines merged so that each line's order is kept.
    ylabel : str, default "value"
        Label of the y axis (the metric's name).
    title : str, optional
    lower_is_better : bool, default False
        Note on the axis that lower values mean more similar (distances such as shape).
    ax : Axes, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = max([len(getattr(v, "layer", ())) for v in (values.values() if isinstance(values, Mapping) else [values])]
            + [len(layers or ())])
    fig, ax = _one_axes(ax, figsize or (_layer_width(n, 5.2), 3.4))
    if isinstance(values, Mapping):
        lines = {str(k): v for k, v in values.items()}
    elif "layer" in getattr(values, "dims", ()) and values.ndim == 2:
        other = [d for d in values.dims if d != "layer"][0]
        lines = {lab: values.isel({other: i}) for i, lab in enumerate(_coord_labels(values, other))}
    else:
        lines = {"": values}
    for da in lines.values():
        if not isinstance(da, xr.DataArray) or da.dims != ("layer",):
            raise LayoutError(f"metric_profile: 'values' needs DataArrays over the 'layer' dim; got {type(da).__name__}"
                             f" {getattr(da, 'dims', '')}. Stack one value per layer along 'layer'.")
    for label, da in lines.items():  # a repeated layer would put two values in one slot: one silently lost
        own = _coord_labels(da, "layer")
        if len(set(own)) < len(own):
            twice = sorted({l for l in own if own.count(l) > 1})
            raise LayoutError(f"metric_profile: the line {label!r} has the layers {twice} more than once; pass one "
                              f"value per layer along 'layer' (e.g. select one entry per layer).")
    axis = _layer_axis([_coord_labels(da, "layer") for da in lines.values()], layers)
    for label, da in lines.items():
        y = np.full(len(axis), np.nan)
        y[[axis.index(l) for l in _coord_labels(da, "layer")]] = np.asarray(da.values, dtype=float)
        ax.plot(np.arange(len(axis)), y, marker="o", label=label or None)
    _layer_ticks(ax, axis)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel + (" (lower = more similar)" if lower_is_better else ""))
    if any(lines):
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title, wrap=True)
    return fig
