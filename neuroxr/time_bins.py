"""The ``time_bin`` dim of time-resolved layouts: its coords ``time_bin_start`` / ``time_bin_end``
(ms), built from ``time_bins=[(start, end), ...]`` and checked (start < end, each bin its own
``(start, end)``). :mod:`neuroxr.layouts` uses them for neural responses and scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .errors import LayoutError, code_name
from .validation import real_array

__all__ = ["TIME_BIN_COORDS", "has_time", "check_time_bins", "check_bin_edges", "check_distinct_bins", "time_bin_coords"]

#: Coords of ``time_bin`` (bin edges in ms).
TIME_BIN_COORDS = ("time_bin_start", "time_bin_end")


def has_time(da: Any) -> bool:
    """Whether ``da`` (neural responses or scores) is time-resolved (has a ``time_bin`` dim)."""
    return isinstance(da, (xr.DataArray, xr.Dataset)) and "time_bin" in da.dims


def check_time_bins(da: xr.DataArray | xr.Dataset, name: str) -> None:
    """``time_bin_start`` / ``time_bin_end``: numeric coords on ``time_bin`` alone, finite, start < end, no bin repeated."""
    for coord in TIME_BIN_COORDS:
        if coord not in da.coords:
            raise LayoutError(
                f"{name}: missing coord {coord!r} on dim 'time_bin'. Pass time_bins=[(start, end), ...] (ms) to "
                f"nx.neural, or da.assign_coords({coord}=('time_bin', values))."
            )
        c = da.coords[coord]
        if c.dims != ("time_bin",) or c.dtype.kind not in "fiu":
            raise LayoutError(
                f"{name}: coord {coord!r} must be numeric (ms) on dim 'time_bin' alone; found dtype {c.dtype} on {c.dims}."
            )
    check_bin_edges(*(da.coords[c].values for c in TIME_BIN_COORDS), name)


def check_bin_edges(start: Any, end: Any, name: str, dim: str = "time_bin") -> None:
    """The one rule of a dim of time bins' edges (ms): finite, ``<dim>_start < <dim>_end`` and no bin
    repeated (:func:`check_distinct_bins`); else a one-line :class:`~neuroxr.errors.LayoutError` naming
    ``name``, the coords and the first bad bin (its position along ``dim``)."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    bad = np.flatnonzero(~(np.isfinite(start) & np.isfinite(end) & (end > start)))  # NaN, inf, end <= start
    if bad.size:
        raise LayoutError(
            f"{name}: time bins must have finite {dim}_start < {dim}_end (ms); {len(bad)} do not, e.g. bin "
            f"{int(bad[0])} = ({start[bad[0]]}, {end[bad[0]]})."
        )
    check_distinct_bins(start, end, name, dim)


def check_distinct_bins(start: Any, end: Any, name: str, dim: str = "time_bin") -> None:
    """Refuse two bins of ``dim`` with the same ``(start, end)`` (ms): bins are paired and drawn by
    their edges, so a repeated bin would be ambiguous. A one-line :class:`~neuroxr.errors.LayoutError`
    naming ``name``, the dim and the first two such bins (positions along ``dim``)."""
    key = [(float(a), float(b)) for a, b in zip(np.asarray(start, float), np.asarray(end, float))]
    first: dict[tuple[float, float], int] = {}
    for j, k in enumerate(key):
        i = first.setdefault(k, j)
        if i != j:
            raise LayoutError(
                f"{name}: bins {i} and {j} of dim {dim!r} are both ({k[0]:g}, {k[1]:g}) ms; give each bin its own "
                f"(start, end), e.g. drop the repeated one with {code_name(name)}.drop_isel({dim}={j})."
            )


def time_bin_coords(time_bins: Any, n: int, name: str, shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """``time_bins`` (``[(start, end), ...]`` in ms) as the coords of a ``time_bin`` dim of length ``n``.

    ``shape``: the array's ``(stimulus, neuroid, repeat, time_bin)`` shape (a 3-D array's with its
    ``repeat`` of 1), so that a count of pairs fitting another axis is said: the repeats of a 4-D
    array (its axes in another order), or the single trials of one bin given as a 3-D array (read as
    trial averages per bin)."""
    form = f"one (start, end) pair in ms per time bin ({n}), e.g. [(0, 10), (10, 20)],"
    tb = real_array(time_bins, f"{name}: time_bins", form)
    if tb.shape != (n, 2):
        raise LayoutError(f"{name}: time_bins needs {form[:-1]}; got shape {tb.shape}.{_other_axis(tb, n, shape)}")
    return {"time_bin_start": ("time_bin", tb[:, 0]), "time_bin_end": ("time_bin", tb[:, 1])}


def _other_axis(tb: np.ndarray, n: int, shape: tuple[int, ...] | None) -> str:
    """Why ``tb``'s pairs (not ``n``) may fit the array of ``shape`` (see :func:`time_bin_coords`), or ``""``."""
    if tb.shape == (2,):  # one bin's pair, not a list of pairs
        return f" For one bin pass a list of one pair, e.g. time_bins=[({tb[0]:g}, {tb[1]:g})]."
    if shape is None or tb.ndim != 2 or tb.shape[1] != 2 or len(shape) != 4:
        return ""
    m = tb.shape[0]
    if shape[2] == 1 and m == 1:  # a 3-D array (stimulus, neuroid, time_bin): its last axis taken for the bins
        return (f" A 3-D array with time_bins is read as trial averages (stimulus, neuroid, time_bin), its {n} entries "
                f"on the last axis as {n} bins; for the single trials (stimulus, neuroid, repeat) of one bin pass "
                f"data[..., None].")
    if m == shape[2] != n:  # its axes in another order: (stimulus, neuroid, time_bin, repeat)
        return (f" Its {m} pairs fit axis 2 of the array (shape {tuple(shape)}), its repeats: the axes are (stimulus, "
                f"neuroid, repeat, time_bin); if the array's are (stimulus, neuroid, time_bin, repeat), pass "
                f"np.swapaxes(data, 2, 3).")
    return ""
