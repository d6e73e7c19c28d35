"""Constructors and validators of neuroxr's labeled layouts (pairing by ``stimulus_id`` is in :mod:`neuroxr.alignment`).

Three layouts (see ``schemas/`` for the written contract):

- **neural responses**: ``DataArray`` with dims ``(stimulus, neuroid, repeat)``, coords
  ``stimulus_id`` (str, on ``stimulus``) and ``neuroid_id`` (str, on ``neuroid``); missing
  trials are NaN; optional ``animal``, ``region``, ``subject`` on ``neuroid``. Time-resolved
  responses add a last dim ``time_bin``: ``(stimulus, neuroid, repeat, time_bin)`` with numeric
  coords ``time_bin_start`` and ``time_bin_end`` (ms) on it.
- **model features**: ``DataArray`` with dims ``(stimulus, unit)``, coords ``stimulus_id`` and
  ``unit_id``; values finite; ``model``/``layer`` as scalar coords or attrs.
- **scores**: ``Dataset`` over the target dim (``neuroid`` or ``unit``) and ``rep`` with at least
  the variable ``ev`` and the target ids as a coord.
- **metric entries** (RSA, shape, CKA, dimensionality): ``Dataset`` with a numeric variable
  ``score``, a scalar or over the dim ``split`` (string coord, e.g. ``train``/``test``), and attrs
  ``metric`` (one of :data:`METRICS`), ``source`` and, except for ``dimensionality``, ``target``.

Every error names the object, the dim or coord, what was found and what to do.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "LayoutError",
    "NEURAL_DIMS",
    "NEURAL_TIME_DIMS",
    "has_time",
    "FEATURE_DIMS",
    "neural",
    "features",
    "validate_neural",
    "validate_features",
    "validate_scores",
    "validate_metric",
    "METRICS",
]

NEURAL_DIMS = ("stimulus", "neuroid", "repeat")
#: Time-resolved neural responses: the neural layout with a last dim ``time_bin``.
NEURAL_TIME_DIMS = ("stimulus", "neuroid", "repeat", "time_bin")
FEATURE_DIMS = ("stimulus", "unit")
SCORE_TARGET_DIMS = ("neuroid", "unit")
#: Metric entries of a study store (``metrics/<metric>/...``): the RSA variants, the shape metric,
#: linear CKA, Brain-Score's ceiled PLS score (pairwise, ``<source>__<target>``) and effective
#: dimensionality (one set, ``<source>``).
METRICS = ("crsa", "ersa", "ereg", "shape", "cka", "dimensionality", "brainscore")
#: Metrics of one set (no target).
SINGLE_SET_METRICS = ("dimensionality",)
#: optional coords of the layouts and the dims they must lie on (``()`` = scalar)
NEURAL_OPTIONAL_COORDS = {"animal": ("neuroid",), "region": ("neuroid",), "subject": ("neuroid",)}
FEATURE_OPTIONAL_COORDS = {"model": (), "layer": (), "channel": ("unit",), "x": ("unit",), "y": ("unit",)}


from .errors import LayoutError, ParameterError, code_name, missing_ids_error, shown  # noqa: E402
from .errors import examples as _examples  # noqa: E402  (alignment imports it from here)
from .time_bins import TIME_BIN_COORDS, check_time_bins, has_time, time_bin_coords  # noqa: E402, F401
from .validation import check_mapping, refuse_inf, refuse_nonfinite, tensor_values, unmasked  # noqa: E402


def _as_str_ids(ids: Any, n: int, coord: str, name: str, dim: str) -> np.ndarray:
    """``ids`` as a string array of length ``n``; default ``"<dim>0", "<dim>1", ...``."""
    if ids is None:
        return np.array([f"{dim}{i}" for i in range(n)], dtype=str)
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise LayoutError(
            f"{name}: coord {coord!r} on dim {dim!r} has shape {arr.shape} but the dim has "
            f"length {n}; pass one id per {dim}."
        )
    miss = missing_ids(ids)
    if miss.size:
        raise missing_ids_error(f"{name}: {coord}", miss, f"give every {dim} an id (a missing id is never turned into the string 'nan').")
    return (arr.astype(object) if arr.dtype.kind == "T" else arr).astype(str)  # (StringDType casts to str only via objects)


def missing_ids(ids: Any) -> np.ndarray:
    """Positions of the missing entries (None, NaN, ``pd.NA``, NaT) of the 1-D ``ids``, read from
    the sequence itself (NumPy would turn a NaN among strings into the string ``'nan'``)."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "US" and not isinstance(ids, np.ndarray):
        arr = np.asarray(ids, dtype=object)
    if arr.dtype.kind not in "fcmMO":
        return np.zeros(0, dtype=int)
    return np.flatnonzero(np.asarray(pd.isna(arr), dtype=bool))


def _per_entry(values: Any, n: int, key: str, name: str, dim: str) -> np.ndarray:
    """One value per entry of ``dim``: a scalar is repeated, a sequence must have length ``n``."""
    v = np.asarray(values)
    if v.ndim == 0:
        v = np.full(n, v.item())
    if v.shape != (n,):
        raise LayoutError(f"{name}: coord {key!r} needs one value per {dim} ({n}); got shape {v.shape}.")
    return v


def _check_ids(da: xr.DataArray, coord: str, dim: str, name: str) -> None:
    if coord not in da.coords:
        # ids held as the dim's own index coord: copy them, as renaming that coord would rename the dim too
        ids = f"da[{dim!r}].values" if dim in da.coords else "ids"
        raise LayoutError(
            f"{name}: missing coord {coord!r} on dim {dim!r}. Found coords {sorted(map(str, da.coords))}. "
            f"Add it, e.g. da.assign_coords({coord}=({dim!r}, {ids}))."
        )
    c = da.coords[coord]
    if c.dims != (dim,):
        raise LayoutError(
            f"{name}: coord {coord!r} must lie on dim {dim!r} alone; it lies on {c.dims}."
        )
    values = c.values
    if values.dtype.kind == "T":  # NumPy's variable-width strings: astype(str), which every reader of ids uses, fails on them
        raise LayoutError(
            f"{name}: coord {coord!r} holds NumPy StringDType strings (dtype {values.dtype}), which neuroxr does not "
            f"read; convert them first, e.g. da.assign_coords({coord}=({dim!r}, da[{coord!r}].values.astype(object)))."
        )
    if values.dtype.kind not in "UO" or (values.dtype.kind == "O" and not all(isinstance(v, str) for v in values.flat)):
        raise LayoutError(
            f"{name}: coord {coord!r} must hold strings; found dtype {values.dtype}. "
            f"Convert with ids.astype(str)."
        )
    empty = np.flatnonzero(values == "")  # strings alone here (fixed-width or objects)
    if empty.size:  # a padded or blank text field: an id that names nothing (a store reads a missing text back as '')
        raise LayoutError(
            f"{name}: coord {coord!r} has {empty.size} empty ids ('') at positions {_examples(empty.tolist())}; "
            f"give every {dim} a non-empty id."
        )
    if _has_duplicates(values):
        index = pd.Index(values)
        dup = index[index.duplicated()]
        raise LayoutError(
            f"{name}: coord {coord!r} has {len(dup)} duplicate ids, e.g. {_examples(pd.unique(dup))}. "
            f"Each {dim} needs a unique id (average or drop the duplicates first)."
        )


def _has_duplicates(values: np.ndarray) -> bool:
    """Whether ``values`` repeats an id. Fixed-width strings: none when strictly increasing (ids in
    canonical order) or strictly increasing by length, then text (numbered ids in their natural
    order, ``"u9" < "u10"``), else NumPy's sort and equal neighbours; other dtypes: pandas' hash
    table."""
    if values.dtype.kind == "U":
        if values.size < 2:
            return False
        later = values[1:] > values[:-1]
        if bool(np.all(later)):
            return False
        length = np.char.str_len(values)
        longer, same = length[1:] > length[:-1], length[1:] == length[:-1]
        if bool(np.all(longer | (same & later))):
            return False
        ordered = np.sort(values)
        return bool(np.any(ordered[1:] == ordered[:-1]))
    return not pd.Index(values).is_unique


_BUILDERS = {
    NEURAL_DIMS: "nx.neural(values, stimulus_id=..., neuroid_id=...)",
    FEATURE_DIMS: "nx.features(values, stimulus_id=..., unit_id=...)",
}


def _foreign(data: Any, expected: tuple[str, ...] = ()) -> str | None:
    """How to convert an object of another tool (an rsatoolbox Dataset; where neural data is
    ``expected``, a tidy table or a Brain-Score assembly), or None."""
    if (type(data).__module__ or "").split(".")[0] == "rsatoolbox":
        return (f"an rsatoolbox {type(data).__name__} converts with neuroxr.io.from_rsatoolbox(ds) (or pass "
                f"ds.measurements with the stimulus ids)")
    if "neuroid" in expected and isinstance(data, pd.DataFrame):
        return "a tidy table of stimulus_id, neuroid_id, repeat, value converts with neuroxr.io.from_dataframe(df)"
    if "neuroid" in expected and "presentation" in getattr(data, "dims", ()):
        return "a Brain-Score assembly (presentation x neuroid) converts with neuroxr.io.from_brainscore(assembly)"
    return None


def _check_dims(da: Any, expected: tuple[str, ...], name: str) -> None:
    if not isinstance(da, xr.DataArray):
        hint = _foreign(da, expected) or (
            f"label it first with {_BUILDERS[expected]}" if expected in _BUILDERS else "label it first"
        )
        raise LayoutError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}; {hint}.")
    if tuple(da.dims) != expected:
        if set(da.dims) == set(expected):
            raise LayoutError(
                f"{name}: dims {da.dims} are in the wrong order; expected {expected}. "
                f"Use da.transpose{expected}."
            )
        missing = [d for d in expected if d not in da.dims]
        extra = [d for d in da.dims if d not in expected]
        fix = _foreign(da, expected) or (
            "features have no time bins: select one, e.g. da.isel(time_bin=0)" if "time_bin" in extra and "unit" in expected
            else f"drop the extra dims of size 1, e.g. da.squeeze({extra})" if not missing and all(da.sizes[d] == 1 for d in extra)
            else f"select one entry of the extra dims, e.g. da.isel({extra[0]}=0)"
            + (f", or name a time dim 'time_bin' for time-resolved responses (da.rename({extra[0]}='time_bin'))"
               if "neuroid" in expected and "time_bin" not in da.dims and len(extra) == 1 else "") if not missing
            else "rename or add dims, e.g. da.rename(...)" + (" or da.expand_dims('repeat', axis=-1) for trial-averaged data"
            if "repeat" in missing else " or da.expand_dims('time_bin', axis=-1) for one time bin" if missing == ["time_bin"] else ""))
        raise LayoutError(
            f"{name}: dims {tuple(da.dims)} do not match the layout {expected} "
            f"(missing {missing}, unexpected {extra}); {fix}."
        )


def _check_optional_coords(da: xr.DataArray, where: Mapping[str, tuple[str, ...]], name: str) -> None:
    for coord, dims in where.items():
        if coord not in da.coords:
            continue
        found = tuple(da.coords[coord].dims)
        if found != dims:
            if dims:
                fix = f"Give one value per {dims[0]}, e.g. da.assign_coords({coord}=({dims[0]!r}, values))."
                want = f"on dim {dims[0]!r}"
            else:
                fix = f"Use one value for the whole array, e.g. da.assign_coords({coord}='name')."
                want = "scalar (no dims)"
            raise LayoutError(f"{name}: coord {coord!r} must be {want}; it lies on {found}. {fix}")
        if not dims:
            value = da.coords[coord].values
            if value.dtype.kind not in "UOT" or not isinstance(value.item(), str):
                raise LayoutError(
                    f"{name}: scalar coord {coord!r} must be a string; found {value.item()!r} "
                    f"(dtype {value.dtype}). Use da.assign_coords({coord}=str(value))."
                )


def _check_layout(da: Any, dims: tuple[str, ...], target: str, optional: Any, kinds: str, name: str) -> None:
    """What every array layout checks: dims, ids of stimuli and targets, optional coords, dtype, sizes."""
    if not isinstance(name, str):  # validate_features(da, other) passes an array as the name
        raise ParameterError(f"name must be a str (how the array is named in messages); got {shown(name)}.")
    _check_dims(da, dims, name)
    _check_ids(da, "stimulus_id", "stimulus", name)
    _check_ids(da, f"{target}_id", target, name)
    _check_optional_coords(da, optional, name)
    if da.dtype.kind not in kinds:
        raise LayoutError(f"{name}: values must be numeric; found dtype {da.dtype}. Convert them first, e.g. "
                          f"{code_name(name)}.astype('float64').")
    for d in dims:
        if da.sizes[d] == 0:
            raise LayoutError(f"{name}: dim {d!r} is empty; it needs at least one entry.")


def _is_lazy(da: xr.DataArray) -> bool:
    return not isinstance(da.variable._data, np.ndarray) and hasattr(da.data, "dask")


def validate_neural(da: xr.DataArray, name: str = "neural", check_values: bool = True) -> xr.DataArray:
    """Check that ``da`` follows the neural-response layout and return it.

    Parameters
    ----------
    da : xarray.DataArray, dims ``(stimulus, neuroid, repeat)`` or ``(stimulus, neuroid, repeat, time_bin)``
        Responses; NaN marks a missing trial. A ``time_bin`` dim needs numeric coords
        ``time_bin_start`` and ``time_bin_end`` (ms, start < end) on it, one distinct
        ``(start, end)`` per bin.
    name : str, default "neural"
        How the array is named in error messages.
    check_values : bool, default True
        Check the values (no infinities, float dtype). Skipped for dask-backed arrays, whose
        values are checked, with the same message, where the analyses compute them
        (:func:`neuroxr.validation.check_computed`).

    Returns
    -------
    xarray.DataArray
        ``da`` itself.

    Raises
    ------
    LayoutError
        Wrong dims, missing/duplicate/non-string ids, non-numeric or infinite values, time bins
        without edges, with start >= end or repeated (two bins with the same start and end).
    """
    timed = isinstance(da, xr.DataArray) and "time_bin" in da.dims
    _check_layout(da, NEURAL_TIME_DIMS if timed else NEURAL_DIMS, "neuroid", NEURAL_OPTIONAL_COORDS, "fiu", name)
    if timed:
        check_time_bins(da, name)
    if check_values and not _is_lazy(da):
        refuse_inf(da.values, name)
    return da


def validate_features(da: xr.DataArray, name: str = "features", check_values: bool = True) -> xr.DataArray:
    """Check that ``da`` follows the model-feature layout and return it.

    Parameters
    ----------
    da : xarray.DataArray, dims ``(stimulus, unit)``
    name : str, default "features"
        How the array is named in error messages.
    check_values : bool, default True
        Check that every value is finite (dask-backed arrays: where the analyses compute their
        values or their Gram's chunks, with the same message).

    Raises
    ------
    LayoutError
        Wrong dims, missing/duplicate ids, NaN or infinite values.
    """
    _check_layout(da, FEATURE_DIMS, "unit", FEATURE_OPTIONAL_COORDS, "fiub", name)
    if check_values and not _is_lazy(da):
        refuse_nonfinite(da.values, da.unit_id.values, name, unit_axis=da.dims.index("unit"))
    return da


def validate_scores(ds: xr.Dataset, name: str = "scores") -> xr.Dataset:
    """Check that ``ds`` follows the score layout and return it.

    A score dataset has one target dim (``neuroid`` or ``unit``) and ``rep``, a variable ``ev``
    over both, and the target ids (``neuroid_id`` or ``unit_id``) as a coord on the target dim.
    An optional ``included`` (boolean, on the target dim) marks the targets summaries count.
    Time-resolved scores add a last dim ``time_bin`` (``ev``: ``(target, rep, time_bin)``,
    ``included``: ``(target, time_bin)``) with the coords ``time_bin_start``/``time_bin_end``
    (ms, start < end, one distinct ``(start, end)`` per bin).

    Parameters
    ----------
    ds : xarray.Dataset
    name : str, default "scores"
        How the dataset is named in error messages.
    """
    if not isinstance(ds, xr.Dataset):
        raise LayoutError(f"{name}: expected an xarray.Dataset, got {type(ds).__name__}.")
    targets = [d for d in SCORE_TARGET_DIMS if d in ds.dims]
    if len(targets) != 1:
        raise LayoutError(
            f"{name}: needs exactly one target dim out of {SCORE_TARGET_DIMS}; found dims {tuple(ds.dims)}."
        )
    target = targets[0]
    if "rep" not in ds.dims:
        raise LayoutError(f"{name}: missing dim 'rep' (one entry per repetition of the split halves).")
    if "ev" not in ds.data_vars:
        raise LayoutError(f"{name}: missing variable 'ev'; found {sorted(map(str, ds.data_vars))}.")
    timed = "time_bin" in ds.dims
    want = (target, "rep", "time_bin") if timed else (target, "rep")
    if len(ds["ev"].dims) != len(want) or set(ds["ev"].dims) != set(want):
        raise LayoutError(f"{name}: variable 'ev' must have dims {want}; has {ds['ev'].dims}.")
    if timed:
        check_time_bins(ds, name)
    if ds["ev"].dtype.kind not in "fiu":
        raise LayoutError(f"{name}: variable 'ev' must be numeric; found dtype {ds['ev'].dtype}.")
    _check_ids(ds["ev"], f"{target}_id", target, name)
    if "rep" not in ds.coords:
        raise LayoutError(f"{name}: missing coord 'rep'.")
    inc_dims = (target, "time_bin") if timed else (target,)
    if "included" in ds.data_vars and (set(ds["included"].dims) != set(inc_dims) or ds["included"].dtype.kind != "b"):
        raise LayoutError(
            f"{name}: variable 'included' must be boolean on dims {inc_dims}; found dtype "
            f"{ds['included'].dtype} on {ds['included'].dims}."
        )
    return ds


def validate_metric(ds: xr.Dataset, name: str = "metric") -> xr.Dataset:
    """Check that ``ds`` follows the metric-entry layout and return it.

    A metric entry is a Dataset with

    - a numeric variable ``score``: a scalar, or over the single dim ``split`` (e.g. ``train`` /
      ``test``) with a coord ``split`` of unique strings;
    - attrs ``metric`` (one of :data:`METRICS`) and ``source`` (str); pairwise metrics (every
      metric but ``dimensionality``) also ``target`` (str).

    Other variables (ceilings, per-neuroid ``r``, per-stimulus split labels, ...) are free.

    Parameters
    ----------
    ds : xarray.Dataset
    name : str, default "metric"
        How the dataset is named in error messages.
    """
    if not isinstance(ds, xr.Dataset):
        raise LayoutError(f"{name}: expected an xarray.Dataset, got {type(ds).__name__}.")
    if "score" not in ds.data_vars:
        raise LayoutError(f"{name}: missing variable 'score'; found {sorted(map(str, ds.data_vars))}.")
    score = ds["score"]
    if score.dtype.kind not in "fiu":
        raise LayoutError(f"{name}: variable 'score' must be numeric; found dtype {score.dtype}.")
    if score.dims not in ((), ("split",)):
        raise LayoutError(
            f"{name}: variable 'score' must be a scalar or lie on dim 'split' alone; it has dims {score.dims}."
        )
    if score.dims == ("split",):
        _check_ids(score, "split", "split", name)
    metric = ds.attrs.get("metric")
    if metric not in METRICS:
        raise LayoutError(f"{name}: attr 'metric' must be one of {METRICS}; found {metric!r}.")
    needed = ("source",) if metric in SINGLE_SET_METRICS else ("source", "target")
    for key in ("source", "target"):
        if (key in needed or key in ds.attrs) and not isinstance(ds.attrs.get(key), str):
            raise LayoutError(
                f"{name}: attr {key!r} must name the {key} set (a string); found {ds.attrs.get(key)!r}."
            )
    return ds


def _as_array(data: Any, name: str) -> np.ndarray:
    """``data`` as a NumPy array; objects of other tools are refused with how to convert them; the
    masked entries of a masked array are NaN (:func:`~neuroxr.validation.unmasked`: a missing trial
    of responses; features refuse them)."""
    hint = _foreign(data)
    if hint:
        raise LayoutError(f"{name}: {hint}.")
    data = _frame_values(data) if isinstance(data, pd.DataFrame) else tensor_values(data)
    try:
        arr = np.asarray(unmasked(data))
    except ValueError:  # rows of different lengths
        raise LayoutError(f"{name}: got a ragged {type(data).__name__} (rows of different lengths); pass a "
                          "rectangular array, every row of the same length.") from None
    if arr.dtype.kind == "O" and arr.ndim == 0:
        raise LayoutError(f"{name}: got a {type(data).__name__} object, not an array of numbers; pass a NumPy array.")
    return arr


def _frame_values(df: pd.DataFrame) -> np.ndarray:
    """A DataFrame's values; numeric columns of pandas' nullable dtypes (``Int64``, ``Float64``,
    ``boolean``) as float64 with ``pd.NA`` as NaN, the library's one meaning of missing (their
    ``to_numpy()`` is an object array)."""
    nullable = any(isinstance(dt, pd.api.extensions.ExtensionDtype) for dt in df.dtypes)
    if nullable and all(pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt) for dt in df.dtypes):
        return df.to_numpy(dtype=np.float64, na_value=np.nan)
    return df.to_numpy()


def neural(
    data: Any,
    stimulus_id: Sequence[Hashable] | None = None,
    neuroid_id: Sequence[Hashable] | None = None,
    *,
    name: str = "neural",
    attrs: Mapping[str, Any] | None = None,
    time_bins: Sequence[tuple[float, float]] | None = None,
    **neuroid_coords: Sequence[Any],
) -> xr.DataArray:
    """Build (or check) a neural-response array ``stimulus x neuroid x repeat [x time_bin]``.

    Parameters
    ----------
    data : array-like, shape (n_stimuli, n_neuroids, n_repeats) or (n_stimuli, n_neuroids); or DataArray
        Responses. A 2-D array is trial-averaged data and gets a ``repeat`` dim of length 1.
        A DataArray is validated (and a missing ``repeat`` dim added) instead.
    stimulus_id, neuroid_id : sequence of str, optional
        Ids per stimulus / neuroid; default ``"stimulus0"...``, ``"neuroid0"...``.
    name : str, default "neural"
        Name of the array (used in messages and as ``DataArray.name``).
    attrs : mapping, optional
        Attributes to attach.
    time_bins : sequence of (start, end), optional
        Time-resolved responses: one ``(start, end)`` pair in ms per time bin, stored as the coords
        ``time_bin_start``/``time_bin_end`` of a last dim ``time_bin``. An array is then
        ``(stimulus, neuroid, repeat, time_bin)``, or ``(stimulus, neuroid, time_bin)`` for
        trial-averaged data. A DataArray with dims ``(stimulus, neuroid, time_bin, repeat)`` is
        transposed to the one canonical order ``(stimulus, neuroid, repeat, time_bin)``.
    **neuroid_coords : sequence
        Extra coords on ``neuroid`` such as ``animal=[...]``, ``region=[...]``.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, neuroid, repeat)`` or ``(stimulus, neuroid, repeat, time_bin)``
    """
    attrs = check_mapping(attrs, "attrs", name)
    if isinstance(data, xr.DataArray):
        da = data
        timed = "time_bin" in da.dims or time_bins is not None
        if "repeat" not in da.dims and set(da.dims) in ({"stimulus", "neuroid"}, {"stimulus", "neuroid", "time_bin"}):
            da = da.expand_dims("repeat", axis=-1)
        if "time_bin" in da.dims and set(da.dims) == set(NEURAL_TIME_DIMS):
            da = da.transpose(*NEURAL_TIME_DIMS)
        _check_dims(da, NEURAL_TIME_DIMS if timed else NEURAL_DIMS, name)
        if time_bins is not None:
            da = da.assign_coords(time_bin_coords(time_bins, da.sizes["time_bin"], name))
        if stimulus_id is not None:
            da = da.assign_coords(stimulus_id=("stimulus", _as_str_ids(stimulus_id, da.sizes["stimulus"], "stimulus_id", name, "stimulus")))
        if neuroid_id is not None:
            da = da.assign_coords(neuroid_id=("neuroid", _as_str_ids(neuroid_id, da.sizes["neuroid"], "neuroid_id", name, "neuroid")))
        if neuroid_coords:
            da = da.assign_coords(
                {k: ("neuroid", _per_entry(v, da.sizes["neuroid"], k, name, "neuroid")) for k, v in neuroid_coords.items()}
            )
        if attrs:
            da = da.assign_attrs(**attrs)
        return validate_neural(da, name=name)
    arr = _as_array(data, name)
    if time_bins is not None:
        if arr.ndim == 3:  # trial-averaged: (stimulus, neuroid, time_bin)
            arr = arr[:, :, None, :]
        if arr.ndim != 4:
            raise LayoutError(
                f"{name}: with time_bins, expected an array of shape (stimulus, neuroid, repeat, time_bin) or "
                f"(stimulus, neuroid, time_bin); got {arr.ndim} dims with shape {arr.shape}."
            )
    elif arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 and time_bins is None:
        raise LayoutError(
            f"{name}: expected an array of shape (stimulus, neuroid, repeat) or (stimulus, neuroid); "
            f"got {arr.ndim} dims with shape {arr.shape}. Pass time_bins=[(start, end), ...] for time-resolved data."
        )
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    n, k = arr.shape[:2]
    coords: dict[str, Any] = {
        "stimulus_id": ("stimulus", _as_str_ids(stimulus_id, n, "stimulus_id", name, "stimulus")),
        "neuroid_id": ("neuroid", _as_str_ids(neuroid_id, k, "neuroid_id", name, "neuroid")),
    }
    for key, values in neuroid_coords.items():
        coords[key] = ("neuroid", _per_entry(values, k, key, name, "neuroid"))
    if time_bins is not None:
        coords.update(time_bin_coords(time_bins, arr.shape[3], name, arr.shape))
    dims = NEURAL_DIMS if time_bins is None else NEURAL_TIME_DIMS
    da = xr.DataArray(arr, dims=dims, coords=coords, name=name, attrs=attrs)
    return validate_neural(da, name=name)


def features(
    data: Any,
    stimulus_id: Sequence[Hashable] | None = None,
    unit_id: Sequence[Hashable] | None = None,
    *,
    model: str | None = None,
    layer: str | None = None,
    name: str = "features",
    attrs: Mapping[str, Any] | None = None,
    **unit_coords: Sequence[Any],
) -> xr.DataArray:
    """Build (or check) a model-feature array ``stimulus x unit``.

    Parameters
    ----------
    data : array-like, shape (n_stimuli, n_units), pandas.DataFrame or DataArray
        Activations (a torch tensor on any device, one that requires grad too, in its dtype;
        bfloat16 as float32, exactly). A DataFrame's index gives ``stimulus_id`` and its columns ``unit_id``
        unless these are passed; columns of pandas' nullable dtypes (``Int64``, ``Float64``,
        ``boolean``) are read as float64 with ``pd.NA`` as NaN (then refused as any NaN feature).
    stimulus_id, unit_id : sequence of str, optional
        Ids per stimulus / unit; default ``"stimulus0"...``, ``"unit0"...``.
    model, layer : str, optional
        Stored as scalar coords ``model`` and ``layer``.
    name : str, default "features"
        Name used in messages.
    attrs : mapping, optional
        Attributes to attach.
    **unit_coords : sequence
        Extra coords on ``unit`` such as ``channel``, ``x``, ``y``.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, unit)``
    """
    attrs = check_mapping(attrs, "attrs", name)
    if isinstance(data, pd.DataFrame):
        if stimulus_id is None:
            stimulus_id = data.index.astype(str)
        if unit_id is None:
            unit_id = data.columns.astype(str)
        data = _frame_values(data)
    if isinstance(data, xr.DataArray):
        da = data
        _check_dims(da, FEATURE_DIMS, name)
        if stimulus_id is not None:
            da = da.assign_coords(stimulus_id=("stimulus", _as_str_ids(stimulus_id, da.sizes["stimulus"], "stimulus_id", name, "stimulus")))
        if unit_id is not None:
            da = da.assign_coords(unit_id=("unit", _as_str_ids(unit_id, da.sizes["unit"], "unit_id", name, "unit")))
    else:
        arr = _as_array(data, name)
        if arr.ndim != 2:
            raise LayoutError(
                f"{name}: expected an array of shape (stimulus, unit); got {arr.ndim} dims with shape "
                f"{arr.shape}. Flatten the unit axes first, e.g. arr.reshape(n_stimuli, -1)."
            )
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)
        n, p = arr.shape
        coords: dict[str, Any] = {
            "stimulus_id": ("stimulus", _as_str_ids(stimulus_id, n, "stimulus_id", name, "stimulus")),
            "unit_id": ("unit", _as_str_ids(unit_id, p, "unit_id", name, "unit")),
        }
        for key, values in unit_coords.items():
            coords[key] = ("unit", _per_entry(values, p, key, name, "unit"))
        da = xr.DataArray(arr, dims=FEATURE_DIMS, coords=coords, name=name)
        unit_coords = {}
    if unit_coords:
        da = da.assign_coords({k: ("unit", _per_entry(v, da.sizes["unit"], k, name, "unit")) for k, v in unit_coords.items()})
    if model is not None:
        da = da.assign_coords(model=str(model))
    if layer is not None:
        da = da.assign_coords(layer=str(layer))
    if attrs:
        da = da.assign_attrs(**attrs)
    return validate_features(da, name=name)
