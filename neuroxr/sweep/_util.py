"""NaN-tolerant reductions (silent on all-NaN slices) and order-keeping de-duplication."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..kernels.resample import nanmax, nanmean, nanmedian, nanmin, nanpercentile, nanquantile, nanstd  # noqa: F401


def included_summary(ev: np.ndarray, included: np.ndarray) -> dict[str, Any]:
    """The one summary of a score entry's per-target EVs (rep means): over the ``included``
    targets, ``n_targets`` (finite values), ``median_ev`` and ``mean_ev`` (NaN when none counts)."""
    values = np.asarray(ev, dtype=float)[np.asarray(included, dtype=bool)]
    return {"n_targets": int(np.isfinite(values).sum()), "median_ev": float(nanmedian(values)),
            "mean_ev": float(nanmean(values))}


def ordered(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


#: Columns of the tables giving an entry's time bin (ms), present when some entry is time-resolved.
TIME_COLUMNS = ("time_bin_start", "time_bin_end")


def per_bin(ds: Any) -> list[tuple[dict[str, float], Any]]:
    """An entry (a score or inference Dataset) bin by bin: ``[(time columns, ds at that bin), ...]``
    (``[({}, ds)]`` for an entry without ``time_bin``), as the tables split a time-resolved entry."""
    if "time_bin" not in ds.dims:
        return [({}, ds)]
    return [({c: float(ds[c].values[t]) for c in TIME_COLUMNS}, ds.isel(time_bin=t)) for t in range(ds.sizes["time_bin"])]


#: Attrs of an entry counting what it dropped for missing trials: a direction's stimuli without a
#: valid trial in any target; a geometry metric's stimuli and neuroids (docs/sweep.md, "Tables").
EXCLUDED_COUNTS = ("n_excluded_stimuli", "n_excluded_neuroids")


def excluded_counts(attrs: Any, names: Iterable[str], time_bin: int | None = None) -> dict[str, Any]:
    """The counts ``names`` (of :data:`EXCLUDED_COUNTS`) of an entry's ``attrs`` as table cells.

    A time-resolved entry holds one count per bin: ``time_bin`` picks that bin's, else the largest
    over the bins (what a row pooling the bins shows). An entry written before the count existed
    lacks it: ``None`` (an empty cell, never 0); the tables hold the column as pandas ``Int64``.
    """
    out: dict[str, Any] = {}
    for name in names:
        v = attrs.get(name)
        if isinstance(v, (list, tuple, np.ndarray)):
            v = list(v)[time_bin] if time_bin is not None else max(list(v), default=None)
        out[name] = None if v is None else int(v)
    return out


def as_counts(table: Any, names: Iterable[str]) -> Any:
    """``table`` (a pandas DataFrame) with the columns ``names`` as ``Int64``: integers, and an empty
    cell (``<NA>``; empty in CSV, null in JSON) where an entry lacks the count."""
    return table.astype({n: "Int64" for n in names if n in table.columns})
