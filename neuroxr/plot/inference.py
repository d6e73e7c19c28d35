"""Figures of inference results: layer profiles with bootstrap intervals and significance marks,
and forward against reverse with intervals on both axes; both with noise-ceiling bands.

Both take the table of a sweep's inference entries (:attr:`neuroxr.sweep.SweepResult.inference_table`:
one row per forward / reverse entry with ``median_ev``, ``median_ev_low``, ``median_ev_high`` and,
with permutations, ``median_p``) or an equivalent ``pandas.DataFrame``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import LayoutError
from ._common import _ev_label, _interval_bars, _layer_ticks, _layer_width, _new_figure, _note_undrawn, _one_axes, pair_label

__all__ = ["layer_profile_ci", "forward_vs_reverse_ci", "ceiling_band"]

_NEEDED = ("direction", "model", "layer", "median_ev", "median_ev_low", "median_ev_high")


def _check(table: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise LayoutError(f"table must be a pandas DataFrame (a sweep's inference_table); got {type(table).__name__}.")
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise LayoutError(f"table lacks the columns {missing}; run the sweep with inference={{'bootstrap': 1000}}.")
    return table


_BASE = ("model", "layer", "neural", "region")
_NARROW = "narrow the table to one row per key, e.g. table[table['in_figures']] or table[table['parameters'] == ...]"


def _extra(t: pd.DataFrame) -> list[str]:
    """The columns that tell apart rows of one (model, layer, neural, region): the score's
    ``parameters`` and a time-resolved entry's ``time_bin_*`` columns."""
    return [c for c in t.columns if c == "parameters" or str(c).startswith("time_bin")]


def _keys(rows: pd.DataFrame, cols: list[str]) -> list[tuple[Any, ...]]:
    """Each row's values of ``cols`` as a hashable key, any missing value (None, NaN) as None."""
    return [tuple(None if np.ndim(v) == 0 and pd.isna(v) else v for v in vals)
            for vals in rows[cols].itertuples(index=False, name=None)]


def _sortable(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((2, "") if v is None else (0, float(v)) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                 else (1, str(v)) for v in key)


def _where(names: list[str], key: tuple[Any, ...]) -> str:
    return ", ".join(f"{n}={v!r}" for n, v in zip(names, key))


def _refuse_duplicates(rows: pd.DataFrame, names: list[str], caller: str, direction: str) -> None:
    """A LayoutError when two rows of ``rows`` share their ``names`` values."""
    keys = _keys(rows, names)
    seen: dict[tuple[Any, ...], int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            same = rows.iloc[[j for j, q in enumerate(keys) if q == k]]
            differ = {c: sorted(map(str, dict.fromkeys(same[c]))) for c in _extra(rows) if same[c].astype(str).nunique() > 1}
            how = "; ".join(f"{c} {v}" for c, v in differ.items()) or "nothing else"
            raise LayoutError(f"{caller}: table has {len(same)} {direction} rows for ({_where(names, k)}), which differ in "
                              f"{how}; {_NARROW}, or draw one figure per parameter set.")
        seen[k] = i


def ceiling_band(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Where a model at the noise ceiling falls in EV (%), per row: ``100 c / c_high`` to
    ``100 c / c_low`` for the median ceiling ``c`` and its bootstrap interval (columns ``ceiling``,
    ``ceiling_low``, ``ceiling_high``); ``None`` without them. A non-positive bound gives NaN."""
    if not {"ceiling", "ceiling_low", "ceiling_high"} <= set(rows.columns):
        return None
    c, lo, hi = (rows[k].to_numpy(float) for k in ("ceiling", "ceiling_low", "ceiling_high"))
    if not np.isfinite(c).any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where((hi > 0) & (c > 0), 100 * c / hi, np.nan)
        high = np.where((lo > 0) & (c > 0), 100 * c / lo, np.nan)
    return low, high


def _ev_units(rows: pd.DataFrame) -> str:
    """What ``median_ev`` of ``rows`` is: noise-corrected EV, or ``r^2 * 100`` where the table's ``ceiling``
    column is NaN (an entry without a noise ceiling, e.g. of a trial-averaged target), for all or some rows."""
    none = rows["ceiling"].astype(float).isna().tolist() if "ceiling" in rows.columns else []
    return _ev_label(none, "EV (%)")


def _significant(rows: pd.DataFrame, alpha: float) -> np.ndarray:
    """``median_p <= alpha``: with ``p = (1 + b) / (1 + n_perm)`` the test of exact size ``alpha``."""
    if "median_p" not in rows:
        return np.zeros(len(rows), dtype=bool)
    return np.asarray(rows["median_p"].astype(float) <= alpha)


def layer_profile_ci(
    table: pd.DataFrame,
    *,
    direction: str = "forward",
    alpha: float = 0.05,
    layers: list[str] | None = None,
    ceiling: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Median EV per layer with its bootstrap interval, one line per (model, neural set, region).

    Layers are drawn in the table's order (a sweep lists them in depth order) unless ``layers``
    gives it; a star above a point marks a permutation p-value of the median at most ``alpha``. A
    point whose interval is NaN (undefined resamples) is drawn without a bar.
    With ``ceiling`` and the table's ``ceiling``, ``ceiling_low``, ``ceiling_high`` columns, a
    shaded band per line shows where a model at the noise ceiling would fall (:func:`ceiling_band`:
    100 % with the ceiling's bootstrap uncertainty carried into EV units).

    Parameters
    ----------
    table : DataFrame
        A sweep's ``inference_table``, one row per (model, neural, region, layer) of ``direction``:
        a table with several (parameter sets, time bins) is refused (LayoutError); narrow it first,
        e.g. ``table[table["in_figures"]]``.
    direction : {"forward", "reverse"}, default "forward"
    alpha : float, default 0.05
    layers : list of str, optional
        The layer axis, in depth order; the table's layers missing from it come after it.
    ceiling : bool, default True
        Draw the noise-ceiling band where the table has it.
    ax : Axes, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = _check(table)
    t = t[t["direction"] == direction]
    if t.empty:
        raise LayoutError(f"table has no {direction!r} rows; directions present: {sorted(set(table['direction']))}.")
    _refuse_duplicates(t, [c for c in ("model", "neural", "region", "layer") if c in t.columns], "layer_profile_ci", direction)
    fig, a = _one_axes(ax, figsize or (_layer_width(len(set(t["layer"]) | set(layers or ())), 4.2), 3.6))
    # the table's layers missing from ``layers`` come after them: a row is never dropped from the figure
    order = list(dict.fromkeys([*(layers or []), *t["layer"]]))
    keys = [c for c in ("model", "neural", "region") if c in t.columns]
    # dropna=False: a row without a region (or neural set) label is drawn, not left out of every line
    for i, (key, rows) in enumerate(t.groupby(keys, sort=False, dropna=False)):
        rows = rows.set_index("layer").reindex([l for l in order if l in set(rows["layer"])])
        x = np.array([order.index(l) for l in rows.index], dtype=float)
        y = rows["median_ev"].to_numpy(float)
        label = " ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)) if not pd.isna(k) and k != "all")
        color = f"C{i % 10}"
        a.plot(x, y, marker="o", color=color, label=label)
        _interval_bars(a, x, rows["median_ev_low"], rows["median_ev_high"], vertical=True, cap=True, colors=color)
        band = ceiling_band(rows) if ceiling else None
        if band is not None:
            a.fill_between(x, band[0], band[1], color=color, alpha=0.12, linewidth=0, label=f"{label} noise ceiling".strip())
        sig = _significant(rows.reset_index(), alpha)
        if sig.any():
            top = rows["median_ev_high"].to_numpy(float)
            top = np.where(np.isfinite(top), top, y)  # a NaN interval (undefined resamples): the star above the point
            a.plot(x[sig], top[sig] * 1.03 + 0.5, marker="*", linestyle="none", color=color, markersize=9)
    _layer_ticks(a, [str(l) for l in order])
    a.set_xlabel("layer")
    a.set_ylabel(f"{direction} median {_ev_units(t)}")
    a.set_title(f"{direction}: median EV, bootstrap interval; * permutation p <= {alpha:g}", wrap=True)
    a.legend(fontsize="small")
    return fig


def _pairs(t: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The forward and reverse rows of each pair (in the order of their keys, whatever the table's
    row order) and the pairs' labels. A pair is one (model, layer, neural, region); where either
    direction has several rows of one, they pair on ``parameters`` and the ``time_bin_*`` columns
    too, provided both directions hold the same such rows; otherwise a LayoutError."""
    base = [c for c in _BASE if c in t.columns]
    f, r = t[t["direction"] == "forward"], t[t["direction"] == "reverse"]
    cols = base
    fb, rb = _keys(f, base), _keys(r, base)
    if len(set(fb)) < len(fb) or len(set(rb)) < len(rb):  # several rows of one key: pair on the rest of it
        cols = base + _extra(t)
        fe, re_ = {}, {}
        for rows, keys, out in ((f, fb, fe), (r, rb, re_)):
            for k, rest in zip(keys, _keys(rows, cols[len(base):])):
                out.setdefault(k, []).append(rest)
        for k in sorted(set(fe) & set(re_), key=_sortable):
            fs, rs = sorted(fe[k], key=_sortable), sorted(re_[k], key=_sortable)
            if fs != rs or len(set(fs)) < len(fs):
                raise LayoutError(
                    f"forward_vs_reverse_ci: table has {len(fs)} forward and {len(rs)} reverse rows for ({_where(base, k)}) "
                    f"that do not pair one to one on {cols[len(base):] or 'any column'} (forward: {[list(x) for x in fs]}; "
                    f"reverse: {[list(x) for x in rs]}); {_NARROW}."
                )
    fpos = {k: i for i, k in enumerate(_keys(f, cols))}
    rpos = {k: i for i, k in enumerate(_keys(r, cols))}
    both = sorted(set(fpos) & set(rpos), key=_sortable)
    if not both:
        raise LayoutError("table has no (model, layer, neural, region) with both a forward and a reverse row.")
    f, r = f.iloc[[fpos[k] for k in both]], r.iloc[[rpos[k] for k in both]]
    names = dict(zip(cols, zip(*both)))
    # the neural set and region where they tell the pairs apart
    shown_ = {c: c in names and len(set(names[c])) > 1 for c in ("neural", "region")}
    labels = [pair_label(*k[:2], *(names[c][i] if shown_[c] else None for c in ("neural", "region")))
              for i, k in enumerate(both)]
    if len(cols) > len(base):  # the other columns, where they tell the pairs apart
        for c in cols[len(base):]:
            if len(set(names[c])) > 1:
                labels = [f"{lab} {c}={v}" if c != "parameters" else f"{lab} ({v})" for lab, v in zip(labels, names[c])]
    return f, r, labels


def forward_vs_reverse_ci(
    table: pd.DataFrame, *, alpha: float = 0.05, figsize: tuple[float, float] | None = None, annotate: bool | None = None,
    ceiling: bool = True,
) -> Figure:
    """Forward against reverse median EV per (model, layer, neural set, region), with the bootstrap
    intervals of both as error bars; filled markers where both permutation p-values are at most
    ``alpha`` (hollow otherwise). With ``ceiling``, shaded spans show where a model at the noise
    ceiling would fall on each axis (:func:`ceiling_band`, the union over the plotted rows).

    Rows pair by their key, never by position, so the table's row order changes nothing drawn.
    With one row per (model, layer, neural, region) and direction they pair on that key; where a
    direction has several (parameter sets, a time-resolved entry's bins), they pair on
    ``parameters`` and the ``time_bin_*`` columns too, each point labelled with them, provided both
    directions hold the same such rows; otherwise a LayoutError tells to narrow the table (e.g.
    ``table[table["in_figures"]]``). A pair without a median EV in a direction has no point; a note
    on the axes names it.

    Parameters
    ----------
    table : DataFrame
        A sweep's ``inference_table``.
    alpha : float, default 0.05
    figsize : (float, float), optional
    annotate : bool, optional
        Write the labels next to their points (default: when there are at most 12 points).
    ceiling : bool, default True

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = _check(table)
    f, r, labels = _pairs(t)
    fig, axes = _new_figure(figsize=figsize)
    a = axes[0, 0]
    fx, ry = f["median_ev"].to_numpy(float), r["median_ev"].to_numpy(float)
    _interval_bars(a, ry, f["median_ev_low"], f["median_ev_high"], vertical=False, colors="0.6", linewidth=1, zorder=1)
    _interval_bars(a, fx, r["median_ev_low"], r["median_ev_high"], vertical=True, colors="0.6", linewidth=1, zorder=1)
    sig = _significant(f, alpha) & _significant(r, alpha)
    a.scatter(fx[sig], ry[sig], color="C2", zorder=2, label=f"both p <= {alpha:g}")
    a.scatter(fx[~sig], ry[~sig], facecolors="none", edgecolors="C2", zorder=2, label="not both significant")
    if annotate or (annotate is None and len(labels) <= 12):
        for x, y, lab in zip(fx, ry, labels):
            if np.isfinite(x) and np.isfinite(y):
                a.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    lo = float(np.nanmin(np.concatenate([fx, ry, [0.0]])))
    hi = float(np.nanmax(np.concatenate([fx, ry, f["median_ev_high"].to_numpy(float), r["median_ev_high"].to_numpy(float)])))
    a.plot([lo, hi], [lo, hi], color="0.5", linestyle=":", linewidth=1, label="y = x")
    fb, rb = (ceiling_band(d) if ceiling else None for d in (f, r))
    if fb is not None and np.isfinite(fb[0]).any() and np.isfinite(fb[1]).any():  # a bound at or below 0: no upper end
        a.axvspan(np.nanmin(fb[0]), np.nanmax(fb[1]), color="C0", alpha=0.1, linewidth=0, label="forward noise ceiling")
    if rb is not None and np.isfinite(rb[0]).any() and np.isfinite(rb[1]).any():
        a.axhspan(np.nanmin(rb[0]), np.nanmax(rb[1]), color="C1", alpha=0.1, linewidth=0, label="reverse noise ceiling")
    a.set_xlabel(f"forward median {_ev_units(f)}")
    a.set_ylabel(f"reverse median {_ev_units(r)}")
    a.set_title("forward vs reverse (bars: bootstrap intervals)", wrap=True)
    _note_undrawn(a, fx, ry, labels, "median EV")  # a pair without a median EV in a direction has no point
    a.legend(fontsize="small")
    return fig
