"""NWB (Neurodata Without Borders) -> neuroxr: spike counts per stimulus presentation.

Reads the ``units`` table (spike times per unit) and a ``TimeIntervals`` table of stimulus
presentations (an onset column, ``start_time`` unless ``onset_column`` names another, plus a column
naming the stimulus), and counts each unit's spikes in ``[onset + t0, onset + t1)`` for the window
``(t0, t1)`` the caller gives (seconds). Repeats are numbered by presentation order within each
stimulus. A presentation without an onset (NaN) is a missing trial: NaN counts, never zero; so is a window outside a unit's
``obs_intervals`` (NaN for that unit) or overlapping the file's ``invalid_times`` (NaN for every
unit). ``pynwb`` is imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LayoutError, install_advice, shown, warn
from ..validation import check_bool, real_array
from ._trials import as_str, build_neural, check_names, ids_str, stack_trials

__all__ = ["from_nwb", "spike_counts"]

NEUROID_COLUMNS = ("region", "animal", "subject")

BUILTIN_INTERVALS = ("trials", "epochs", "invalid_times")
"""The NWBFile's own TimeIntervals tables, attributes of the file as well as entries of ``intervals``."""


def spike_counts(
    spike_times: Sequence[np.ndarray],
    starts: np.ndarray,
    window: tuple[float, float],
    *,
    observed: Sequence[Any] | None = None,
    invalid: Any = None,
) -> np.ndarray:
    """Spike counts of each unit in ``[start + t0, start + t1)`` for each presentation start.

    Parameters
    ----------
    spike_times : sequence of 1-D arrays, length n_units
        Spike times of each unit (seconds; sorted or not).
    starts : ndarray, shape (n_presentations,)
        Presentation onsets (seconds). A NaN (or infinite) onset has no window: its counts are NaN,
        neuroxr's missing trial.
    window : (float, float)
        ``(t0, t1)`` relative to each onset, ``t0 < t1``.
    observed : sequence of arrays (n_intervals_i, 2), length n_units, optional
        Each unit's observation intervals ``[start, stop)`` (NWB ``units.obs_intervals``; None for a
        unit observed throughout). A window not inside one of its unit's intervals is NaN for that
        unit: the unit was not recorded then, so zero spikes would be a guess. Default: every unit
        observed throughout.
    invalid : array (n_intervals, 2), optional
        Intervals ``[start, stop)`` of bad data (NWB ``invalid_times``); a window overlapping one is
        NaN for every unit.

    Returns
    -------
    ndarray, shape (n_presentations, n_units), float64
        NaN in the rows of presentations without a finite onset or overlapping ``invalid``, and
        where a unit was not observed.

    Warns
    -----
    NeuroxrWarning
        When the windows of some presentations overlap (onsets closer than ``t1 - t0``): a spike in an
        overlap counts in each of them. Kept, not refused: long windows in rapid presentation are common.
    """
    t0, t1 = _window(window)
    starts = _real_1d(starts, "starts", "presentation onsets in seconds, one per presentation")
    if isinstance(spike_times, np.ndarray) and spike_times.dtype != object:
        raise LayoutError(f"spike_times: expected one array of spike times per unit (a list of arrays); got an array of "
                          f"shape {spike_times.shape}: pass [spike_times] for one unit.")
    if isinstance(spike_times, Mapping):  # iterating it gave the units' names, read as spike times
        raise LayoutError("spike_times: expected one array of spike times per unit (a list of arrays); got a "
                          f"{type(spike_times).__name__} keyed by unit: pass list(spike_times.values()).")
    if isinstance(spike_times, (str, bytes)) or not isinstance(spike_times, Iterable):
        raise LayoutError(f"spike_times: expected one array of spike times per unit (a list of arrays); got {shown(spike_times)}.")
    spike_times = list(spike_times)
    if spike_times and all(isinstance(v, (int, float, np.number)) for v in spike_times):
        raise LayoutError("spike_times: expected one array of spike times per unit (a list of arrays); got a list of "
                          "numbers: pass [spike_times] for one unit.")
    trains = [_spike_train(st, j) for j, st in enumerate(spike_times)]
    _warn_overlaps(starts, t0, t1)
    lo, hi = starts + t0, starts + t1
    out = np.empty((starts.shape[0], len(trains)))
    for j, st in enumerate(trains):
        st = np.sort(st)
        out[:, j] = np.searchsorted(st, hi, "left") - np.searchsorted(st, lo, "left")
    if observed is not None:
        if len(observed) != len(trains):
            raise LayoutError(f"observed: needs one entry per unit ({len(trains)}); got {len(observed)}.")
        for j, obs in enumerate(observed):
            if obs is not None:
                iv = _merged(_intervals_array(obs, f"observed[{j}]"))
                out[~((iv[:, 0] <= lo[:, None]) & (hi[:, None] <= iv[:, 1])).any(axis=1), j] = np.nan
    if invalid is not None:
        iv = _intervals_array(invalid, "invalid")
        out[((lo[:, None] < iv[:, 1]) & (iv[:, 0] < hi[:, None])).any(axis=1)] = np.nan
    out[~np.isfinite(starts)] = np.nan
    return out


def _seconds(values: Any, arg: str, what: str) -> np.ndarray:
    """``values`` (times in seconds) as a float64 array; else a one-line error naming ``arg`` and what
    it holds: durations and dates (a cast reads them in their own unit, ns or ms, a date as a count
    since 1970), complex numbers (a cast drops their imaginary part) and text, numeric text too
    (:func:`~neuroxr.validation.real_array`)."""
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        raise LayoutError(f"{arg}: expected {what} (numbers); got {type(values).__name__} values that are not.") from None
    if raw.dtype.kind in "mM":
        raise LayoutError(f"{arg}: expected {what}; got {raw.dtype} values. Pass seconds as numbers, e.g. "
                          f"durations / np.timedelta64(1, 's').")
    try:
        return real_array(values, arg, "an array")
    except LayoutError:
        raise LayoutError(f"{arg}: expected {what} (numbers); got {raw.dtype} values that are not real numbers "
                          f"(text, complex or other objects); convert them to seconds as real numbers first.") from None


def _real_1d(values: Any, arg: str, what: str) -> np.ndarray:
    """``values`` as a 1-D float array; else a one-line error naming ``arg`` and what it holds."""
    out = _seconds(values, arg, what)
    if out.ndim != 1:
        raise LayoutError(f"{arg}: expected {what}, a 1-D array; got shape {out.shape}.")
    return out


def _spike_train(values: Any, j: int) -> np.ndarray:
    """Unit ``j``'s spike times as a 1-D float array; a spike without a finite time is refused: it
    falls in some window, unknown which, so every count would be a guess."""
    st = _real_1d(values, f"spike_times[{j}]", "the unit's spike times in seconds")
    bad = int((~np.isfinite(st)).sum())
    if bad:
        raise LayoutError(f"spike_times[{j}]: {bad} of {st.size} spike times are not finite (NaN or inf), so the counts "
                          f"of some window are unknown; drop them first if they are no spikes, else fix the recording.")
    return st


def _merged(iv: np.ndarray) -> np.ndarray:
    """Intervals ``iv`` (n, 2) as disjoint observed stretches: touching or overlapping ones joined."""
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    out: list[list[float]] = []
    for a, b in iv:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _warn_overlaps(starts: np.ndarray, t0: float, t1: float) -> None:
    """Warn (one line) when presentations' windows overlap: a spike in an overlap counts in each of them.

    Not refused: with rapid presentation a response window longer than the onset spacing is common and
    deliberate (each presentation's counts then include the tail of the previous response)."""
    onsets = np.sort(starts[np.isfinite(starts)])
    gaps = np.diff(onsets)
    close = onsets[1:] + t0 < onsets[:-1] + t1  # the counting's own arithmetic: touching windows do not overlap
    if not close.any():
        return
    involved = int((np.r_[close, False] | np.r_[False, close]).sum())
    warn(f"window=({t0:g}, {t1:g}): the windows of {involved} of {onsets.size} presentations overlap another's (onsets "
         f"{gaps.min():g} s apart at the closest, the window is {t1 - t0:g} s long), so a spike in an overlap counts in "
         f"each of them; pass a window no longer than the onset spacing to count each spike once.")


def _intervals_array(intervals: Any, arg: str) -> np.ndarray:
    iv = _seconds(intervals, arg, "intervals (start, stop in seconds)")
    if iv.size == 0:
        return iv.reshape(0, 2)
    if iv.ndim != 2 or iv.shape[1] != 2:
        raise LayoutError(f"{arg}: expected intervals of shape (n, 2) (start, stop in seconds); got shape {iv.shape}.")
    return iv


def _window(window: Any) -> tuple[float, float]:
    try:
        t0, t1 = (float(t) for t in window)
    except (TypeError, ValueError):
        raise LayoutError(f"window: expected a pair (t0, t1) in seconds after each onset; got {shown(window)}.") from None
    if not (np.isfinite(t0) and np.isfinite(t1)):  # an infinite window made every rate 0
        raise LayoutError(f"window: needs finite times in seconds; got ({t0:g}, {t1:g}).")
    if not t1 > t0:
        raise LayoutError(f"window: needs t0 < t1; got ({t0:g}, {t1:g}).")
    return t0, t1


def _intervals(nwbfile: Any, intervals: Any) -> pd.DataFrame:
    if isinstance(intervals, pd.DataFrame):
        return intervals
    if isinstance(intervals, str):
        tables = dict(getattr(nwbfile, "intervals", None) or {})
        for name in BUILTIN_INTERVALS:  # add_trial / add_epoch on an NWBFile in memory set these, not .intervals
            table = getattr(nwbfile, name, None) if name not in tables else None
            if table is not None:
                tables[name] = table
        if intervals not in tables:
            raise LayoutError(
                f"intervals: the NWB file has no TimeIntervals table {intervals!r}; found {sorted(tables)}. "
                f"Pass intervals=<the table of stimulus presentations>."
            )
        return tables[intervals].to_dataframe()
    if hasattr(intervals, "to_dataframe"):
        return intervals.to_dataframe()
    raise LayoutError(f"intervals: expected a table name, a TimeIntervals or a DataFrame; got {type(intervals).__name__}.")


def _electrode_regions(nwbfile: Any, udf: pd.DataFrame) -> np.ndarray | None:
    """Each unit's brain area from its electrodes' ``location``, when every unit has exactly one."""
    electrodes = getattr(nwbfile, "electrodes", None)
    if "electrodes" not in udf.columns or electrodes is None or "location" not in electrodes.colnames:
        return None
    location = as_str(electrodes["location"].data[:], "nwbfile: electrodes column 'location'")
    regions = [set(location[np.asarray(idx, dtype=int)].tolist()) for idx in udf["electrodes"]]
    if not all(len(r) == 1 for r in regions):
        return None
    return np.array([r.pop() for r in regions], dtype=str)


def _from_nwbfile(
    nwbfile: Any, window: Any, intervals: Any, stimulus_column: str, neuroid_column: str | None, rate: bool, name: str,
    onset_column: str = "start_time",
) -> xr.DataArray:
    t0, t1 = _window(window)
    table = _intervals(nwbfile, intervals)
    for col in (onset_column, stimulus_column):
        if col not in table.columns:
            raise LayoutError(
                f"intervals: the presentation table has no column {col!r}; found {list(map(str, table.columns))}. "
                + ("Pass stimulus_column=<the column naming the stimulus>." if col == stimulus_column
                   else "Pass onset_column=<the column of the stimulus onsets, in seconds>.")
            )
    # the rows named are the table's index labels: DataFrame.drop(index=...) takes them as they are
    src = ("table" if not isinstance(intervals, str) else f"nwbfile.{intervals}" if intervals in BUILTIN_INTERVALS
           else f"nwbfile.intervals[{intervals!r}]") + ("" if isinstance(intervals, pd.DataFrame) else ".to_dataframe()")
    sid = ids_str(table[stimulus_column].to_numpy(), name="intervals", what=f"column {stimulus_column!r}", where="rows",
                  labels=table.index, fix=f"every presentation needs a stimulus id: pass intervals= the table without "
                  f"those rows, e.g. intervals={src}.drop(index=<those rows>).")
    if table[onset_column].dtype.kind in "mM":  # to_numeric reads them as nanoseconds: every window past the spikes
        raise LayoutError(f"intervals: column {onset_column!r} holds {table[onset_column].dtype} values; onsets are seconds "
                          f"from the session start, e.g. table[{onset_column!r}] = table[{onset_column!r}].dt.total_seconds() "
                          f"for durations.")
    onset = pd.to_numeric(table[onset_column], errors="coerce").to_numpy(dtype=float)
    if np.isnan(onset).sum() > table[onset_column].isna().sum():  # text read as float raised ValueError
        raise LayoutError(f"intervals: column {onset_column!r} holds values that are not numbers (onsets in seconds); "
                          "convert them.")
    timed = pd.DataFrame({"stimulus": sid, "start": onset})[np.isfinite(onset)]
    copies = timed.duplicated()
    if copies.any():  # one stimulus shown twice at one instant: a duplicated trial row, not a second repeat
        s, t = timed[copies.to_numpy()].iloc[0]
        raise LayoutError(
            f"intervals: {int(copies.sum())} presentations repeat another's stimulus and onset, e.g. stimulus {s!r} "
            f"at {t:g} s (a duplicated trial row); drop the copies, e.g. table.drop_duplicates([{onset_column!r}, "
            f"{stimulus_column!r}])."
        )
    finite = np.isfinite(onset)  # presentations without a finite onset (NaN, +-inf) sort last, in table order
    table = table.iloc[np.lexsort((np.where(finite, onset, 0.0), ~finite))]
    units = getattr(nwbfile, "units", None)
    if units is None or len(units) == 0:
        raise LayoutError("nwbfile: has no units table (or it is empty); spike counts need nwbfile.units.")
    udf = units.to_dataframe(index=True)  # electrodes as row indices, not nested tables
    if "spike_times" not in udf.columns:
        raise LayoutError("nwbfile: the units table has no 'spike_times' column.")
    observed = list(udf["obs_intervals"]) if "obs_intervals" in udf.columns else None
    invalid_times = getattr(nwbfile, "invalid_times", None)
    invalid = None if invalid_times is None else invalid_times.to_dataframe()[["start_time", "stop_time"]].to_numpy()
    counts = spike_counts(list(udf["spike_times"]), table[onset_column].to_numpy(), (t0, t1), observed=observed,
                          invalid=invalid)
    if rate:
        counts /= t1 - t0
    data, ids, labels = stack_trials(counts, table[stimulus_column].to_numpy(), None, name="intervals",
                                     stimulus_arg=stimulus_column, copies=None)
    own = udf.index.name or "id"  # the units' own ids: the table's index
    if neuroid_column is None or (neuroid_column == own and neuroid_column not in udf.columns):
        neuroid_id = as_str(udf.index.to_numpy())
    elif neuroid_column in udf.columns:
        neuroid_id = ids_str(udf[neuroid_column].to_numpy(), name="nwbfile", what=f"units column {neuroid_column!r}",
                             where="units", labels=udf.index, unique="give each unit its own id, or pass "
                             "neuroid_column=<another units column> (or None: the units' id).")
    else:
        raise LayoutError(f"neuroid_column: the units table has no column {neuroid_column!r}; found "
                          f"{list(map(str, udf.columns))} (and the units' own {own!r}).")
    coords = {c: udf[c].to_numpy() for c in NEUROID_COLUMNS if c in udf.columns}
    if "region" not in coords:
        region = _electrode_regions(nwbfile, udf)
        if region is not None:
            coords["region"] = region
    subject = getattr(nwbfile, "subject", None)
    if "animal" not in coords and subject is not None and getattr(subject, "subject_id", None):
        coords["animal"] = np.full(len(udf), str(subject.subject_id))
    attrs = {"window_start": t0, "window_end": t1, "onset_column": onset_column, "units": "spikes/s" if rate else "spikes",
             "session_id": str(getattr(nwbfile, "session_id", None) or getattr(nwbfile, "identifier", ""))}
    return build_neural(data, ids, neuroid_id, labels, name=name, arg="nwbfile", attrs=attrs, neuroid_coords=coords)


def from_nwb(
    source: Any,
    window: tuple[float, float],
    *,
    intervals: Any = "trials",
    stimulus_column: str = "stimulus_id",
    neuroid_column: str | None = None,
    rate: bool = False,
    name: str = "neural",
    onset_column: str = "start_time",
) -> xr.DataArray:
    """Spike counts per stimulus presentation from an NWB file, as a neuroxr neural array.

    Parameters
    ----------
    source : str, os.PathLike or pynwb.NWBFile
        An NWB file (opened read-only with ``pynwb.NWBHDF5IO`` and closed again) or an open ``NWBFile``.
    window : (float, float)
        ``(t0, t1)`` in seconds after each presentation's onset (``onset_column``); spikes in
        ``[onset + t0, onset + t1)`` are counted.
    intervals : str, TimeIntervals or DataFrame
        The presentation table: a name in ``nwbfile.intervals`` (default ``"trials"``; the file's own
        ``trials``, ``epochs`` and ``invalid_times``, which an NWBFile built in memory with
        ``add_trial`` holds only as attributes, are found either way), or the table itself. It
        needs ``onset_column`` and ``stimulus_column``.
    stimulus_column : str
        Column of ``intervals`` naming the stimulus. Default ``"stimulus_id"``.
    neuroid_column : str, optional
        Column of the units table holding the neuroid ids. Default (or ``"id"``): the units' ``id``.
    rate : bool
        Divide the counts by the window length (spikes per second). Default False (counts).
    name : str, default "neural"
    onset_column : str, default "start_time"
        Column of ``intervals`` holding each presentation's onset in seconds from the session start,
        e.g. a photodiode-corrected onset column; the windows count from it.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, neuroid, repeat)``
        Stimuli in order of first presentation, repeats in presentation order (NaN-padded; a
        presentation with a NaN onset sorts last and is a missing trial, NaN; so is a
        window outside a unit's ``obs_intervals``, for that unit, or overlapping the file's
        ``invalid_times``, for every unit; two presentations of one stimulus at the same
        onset, a duplicated row, are an error); the
        units' ``region`` / ``animal`` / ``subject`` columns become neuroid coords (``region``
        otherwise from the units' electrodes' ``location`` when each unit has one, ``animal``
        otherwise from the file's subject id); attrs ``window_start``, ``window_end``, ``onset_column``,
        ``units``, ``session_id``.

    Warns
    -----
    NeuroxrWarning
        When presentations' windows overlap (onsets closer than the window's length): a spike in an
        overlap counts in each of them (:func:`spike_counts`).
    """
    rate = check_bool(rate, "rate", "True: spikes/s; False: spike counts.", caller="from_nwb")  # "no" gave spikes/s
    check_names(("neuroid_column",), stimulus_column=stimulus_column, neuroid_column=neuroid_column,
                onset_column=onset_column)
    if isinstance(source, (str, os.PathLike)):
        source = os.path.expanduser(source)
        try:
            from pynwb import NWBHDF5IO
        except ImportError as exc:  # pragma: no cover - pynwb is a test dependency
            raise LayoutError(f"source: reading an NWB file needs pynwb; {install_advice('pynwb')}.") from exc
        if not os.path.exists(source):
            raise LayoutError(f"source: no NWB file at {os.fspath(source)!r}.")
        io = None
        try:
            io = NWBHDF5IO(os.fspath(source), "r")
            nwbfile = io.read()
        except Exception as exc:  # h5py's OSError (no HDF5 file, a folder), pynwb's own on a foreign HDF5 file
            if io is not None:
                io.close()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LayoutError(f"source: {os.fspath(source)!r} cannot be read as an NWB file ({reason[:120]}); pass the "
                              f"path of an NWB (HDF5) file.") from None
        with io:
            return _from_nwbfile(nwbfile, window, intervals, stimulus_column, neuroid_column, rate, name, onset_column)
    if not hasattr(source, "units"):
        raise LayoutError(f"source: expected a path or a pynwb.NWBFile, got {type(source).__name__}.")
    return _from_nwbfile(source, window, intervals, stimulus_column, neuroid_column, rate, name, onset_column)
