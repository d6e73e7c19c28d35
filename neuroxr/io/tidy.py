"""Tidy (long) tables <-> neuroxr: trials in, neural arrays and scores out.

A tidy trial table has one row per (stimulus presentation, neuroid) with columns ``stimulus_id``,
``neuroid_id``, ``value`` and optionally ``repeat`` and neuroid metadata (``region``, ``animal``,
``subject``) and stimulus metadata. Scores leave as tidy tables too: one row per target and rep
(predictivity), per split (metric entries) or per trial (neural arrays), ready for pandas / seaborn.
A table keeps the object's attrs in ``DataFrame.attrs``; a neural table also names its neuroid and
stimulus columns there (``neuroid_columns``, ``stimulus_columns``), so that :func:`from_dataframe`
reads it back as the same array.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LayoutError, shown, warn
from ..layouts import NEURAL_DIMS, NEURAL_TIME_DIMS, TIME_BIN_COORDS, validate_neural
from ._trials import _py, build_neural, examples, ids_str, per_neuroid, per_stimulus, refuse_layout_names, stack_trials

__all__ = ["from_dataframe", "to_dataframe"]

NEUROID_COLUMNS = ("region", "animal", "subject")
#: ``DataFrame.attrs`` keys naming a neural table's neuroid and stimulus columns (not array attrs)
COLUMN_ATTRS = ("neuroid_columns", "stimulus_columns", "scalar_columns")
#: how a table's column is renamed, for the error refusing a column named like the layout's own dims or ids
_RENAME = "df.rename(columns={{{old}: {new}}})"


def from_dataframe(
    df: pd.DataFrame,
    *,
    stimulus: str = "stimulus_id",
    neuroid: str = "neuroid_id",
    value: str = "value",
    repeat: str | None = "repeat",
    neuroid_columns: Sequence[str] | None = None,
    stimulus_columns: Sequence[str] | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Build a neural array from a tidy trial table.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per (presentation, neuroid): a static table (time-bin columns, as
        :func:`to_dataframe` writes for a time-resolved array, are an error).
    stimulus, neuroid, value : str, default "stimulus_id", "neuroid_id", "value"
        Columns holding the stimulus id, the neuroid id and the response: three columns (a column
        named twice among these and ``repeat`` is an error).
    repeat : str or None
        Column holding the repeat label; its sorted values form the ``repeat`` dim. The default
        ``"repeat"`` is used when the table has it. None: each (stimulus, neuroid) pair's rows are
        numbered in table order, the k-th rows of every neuroid being one presentation (presentations
        that are exact copies of another, e.g. a table appended to itself, give one warning). Without
        the column, the default numbers rows so only where one neuroid, or one row per pair, leaves
        nothing to pair; else it is an error (say ``repeat=None`` to pair by table order). Any other
        name must be a column.
        Labels (and ids) of different types that read the same as text (``0`` and ``"0"``) are an error.
    neuroid_columns : str or sequence of str, optional
        Columns (or one column) that describe the neuroid (one value per neuroid) and become neuroid coords.
        Default: ``df.attrs["neuroid_columns"]`` (what :func:`to_dataframe` writes; listed columns the
        table no longer has are left out with one warning), else those of ``region``, ``animal``, ``subject`` present.
    stimulus_columns : str or sequence of str, optional
        Columns (or one column) that describe the stimulus (one value per stimulus, e.g. a category) and become
        stimulus coords. Default: ``df.attrs["stimulus_columns"]``, else none.
    name : str, optional
        Name of the result. Default: ``df.attrs["name"]`` when it is a string (what :func:`to_dataframe`
        writes, so the pair round-trips the name), else ``"neural"``.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, neuroid, repeat)``
        Stimuli and neuroids in order of first appearance; missing trials are NaN (a row whose
        value is NaN is a missing trial: it keeps its stimulus, neuroid and repeat label in the
        array). attrs: ``df.attrs`` but the column lists and ``name``; the constant columns that
        ``df.attrs["scalar_columns"]`` lists (:func:`to_dataframe`'s scalar coords) are scalar coords.
    """
    if not isinstance(df, pd.DataFrame):
        raise LayoutError(f"df: expected a pandas.DataFrame, got {type(df).__name__}.")
    scalars = [c for c in df.attrs.get("scalar_columns", []) if c in df.columns]  # to_dataframe's scalar coords
    timed = [c for c in (*TIME_BIN_COORDS, "time_bin") if c in df.columns and c not in scalars]
    if timed:  # checked first: numbering rows by order (no repeat column) would read the bins as repeats
        raise LayoutError(
            f"df: has time-bin columns {timed}; from_dataframe reads static tables only (one row per trial and "
            f"neuroid), not time-resolved ones. Keep one bin (df[df[{timed[0]!r}] == t].drop(columns={timed})) or "
            f"average each trial's bins first."
        )
    for arg, col in (("stimulus", stimulus), ("neuroid", neuroid), ("value", value), ("repeat", repeat)):
        if not isinstance(col, Hashable):  # a list raised "unhashable type"
            raise LayoutError(f"{arg}: expected one column name; got {type(col).__name__} {col!r}.")
    if repeat is not None and repeat != "repeat" and repeat not in df.columns:
        raise LayoutError(
            f"repeat: df has no column {repeat!r}; found {list(map(str, df.columns))}. Pass repeat=<one of them>, "
            f"or repeat=None to number each stimulus's rows in table order."
        )
    use_repeat = repeat is not None and repeat in df.columns
    roles = {"stimulus": stimulus, "neuroid": neuroid, "value": value, **({"repeat": repeat} if use_repeat else {})}
    for i, (arg, col) in enumerate(roles.items()):  # one column in two roles read e.g. the values as repeat labels
        first = next((a for a, c in list(roles.items())[:i] if c == col), None)
        if first is not None:
            raise LayoutError(f"{arg}: names column {col!r}, which {first}= names too; stimulus, neuroid, value and "
                              f"repeat each need a column of their own" + (" (repeat=None numbers each stimulus's "
                              "rows in table order)." if arg == "repeat" else "."))
    for arg, col in (("stimulus", stimulus), ("neuroid", neuroid), ("value", value)):
        if col not in df.columns:
            raise LayoutError(f"df: missing column {col!r}; found {list(map(str, df.columns))}. Pass {arg}=<column>"
                              + _layout_hint(df, col, stimulus, value, repeat))
    if neuroid_columns is None:
        neuroid_columns = _listed(df, "neuroid_columns", [c for c in NEUROID_COLUMNS if c in df.columns])
    if stimulus_columns is None:
        stimulus_columns = _listed(df, "stimulus_columns", [])
    # one column named as a string is that column, not its letters
    for arg, cols in (("neuroid_columns", neuroid_columns), ("stimulus_columns", stimulus_columns)):
        if not isinstance(cols, (str, list, tuple)) or not isinstance(cols, str) and not all(isinstance(c, Hashable) for c in cols):
            raise LayoutError(f"{arg}: expected a column name or a list of them; got {type(cols).__name__} {cols!r}.")
    neuroid_columns = [neuroid_columns] if isinstance(neuroid_columns, str) else list(neuroid_columns)
    stimulus_columns = [stimulus_columns] if isinstance(stimulus_columns, str) else list(stimulus_columns)
    keys = (stimulus, neuroid, value, repeat if use_repeat else None)
    for arg, cols in (("neuroid_columns", neuroid_columns), ("stimulus_columns", stimulus_columns)):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise LayoutError(f"{arg}: df has no columns {missing}; found {list(map(str, df.columns))}.")
        taken = [c for c in cols if c in keys]
        if taken:
            raise LayoutError(f"{arg}: columns {taken} already hold the ids, repeats or values; leave them out of {arg}.")
    both = sorted(set(neuroid_columns) & set(stimulus_columns))
    if both:
        raise LayoutError(f"stimulus_columns: columns {both} are neuroid_columns too; a column describes one of the two.")
    for arg, cols, own in (("stimulus_columns", stimulus_columns, "stimulus"), ("neuroid_columns", neuroid_columns, "neuroid")):
        # a column named like the array's own dims or coords: "stimulus" / "neuroid" come back as their dim's coord
        refuse_layout_names(cols, own, arg=arg, what="column", rename=_RENAME)
    used = [c for c in (stimulus, neuroid, value, repeat if use_repeat else None, *neuroid_columns, *stimulus_columns)
            if c is not None]
    twice = sorted({str(c) for c in used if (df.columns == c).sum() > 1})
    if twice:
        raise LayoutError(f"df: columns {twice} appear more than once; keep one of each (df.loc[:, ~df.columns.duplicated()]).")
    for arg, col in (("stimulus", stimulus), ("neuroid", neuroid), ("repeat", repeat if use_repeat else None)):
        if col is not None and df[col].isna().any():
            fix = ("a repeat label: drop those rows, or pass repeat=None to number each stimulus's rows in table order"
                   if arg == "repeat" else f"a {arg} (drop those rows first)")
            raise LayoutError(f"df: column {col!r} has {int(df[col].isna().sum())} missing values; every row needs {fix}.")
    if df[value].dtype.kind in "mM":  # to_numeric gives counts of the column's own unit (ns, us...)
        raise LayoutError(f"df: column {value!r} holds {df[value].dtype} values; pass numbers (e.g. "
                          f"df[{value!r}].dt.total_seconds() for durations).")
    values = pd.to_numeric(df[value], errors="coerce")
    if values.isna().sum() > df[value].isna().sum():
        raise LayoutError(f"df: column {value!r} holds non-numeric values; convert them to numbers.")
    if np.iscomplexobj(values.to_numpy()):  # the float cast would drop the imaginary part
        raise LayoutError(f"df: column {value!r} holds complex values; pass real numbers (e.g. their abs or real part).")
    sids = ids_str(df[stimulus].to_numpy(), name="df", what=f"column {stimulus!r}", where="rows", labels=df.index)
    nids = ids_str(df[neuroid].to_numpy(), name="df", what=f"column {neuroid!r}", where="rows", labels=df.index)
    ncodes, neuroids = pd.factorize(nids, sort=False)
    # one trial per (stimulus, repeat): its key is the repeat label, or the row's rank in its pair
    if use_repeat:
        rep = df[repeat].to_numpy()
    else:
        rep = pd.Series(np.arange(len(df))).groupby([sids, ncodes]).cumcount().to_numpy()
        if repeat is not None and len(neuroids) > 1 and rep.max(initial=0) > 0:
            # the k-th rows of different neuroids would be taken as one presentation (split halves pair
            # them): table order is not a presentation label unless the caller says so
            raise LayoutError(
                "df: has no 'repeat' column, and stimuli have several rows per neuroid: nothing says which rows "
                "of different neuroids are one presentation. Pass repeat=<a column labelling the presentations>, "
                "or repeat=None to take each neuroid's k-th row of a stimulus (in table order) as its k-th "
                "presentation. Rows of different animals or sessions sharing a neuroid id need ids of their own "
                f"first, e.g. df[{neuroid!r}] = df['animal'].astype(str) + '/' + df[{neuroid!r}].astype(str).")
    trial = pd.MultiIndex.from_arrays([sids, rep])
    tcodes, trials = pd.factorize(trial, sort=False)
    pair = tcodes.astype(np.int64) * len(neuroids) + ncodes
    dup = pd.Index(pair).duplicated()
    if dup.any():
        bad = [(*map(_py, trials[p // len(neuroids)]), str(neuroids[p % len(neuroids)])) for p in pd.unique(pair[dup])]
        raise LayoutError(
            f"df: {int(dup.sum())} rows repeat a ({stimulus}, {repeat}, {neuroid}) triple, e.g. {examples(bad)}; a row "
            f"is one trial of one neuroid: give each presentation its own {repeat!r} label, or reduce a trial's rows "
            f"(time bins, conditions) to one first."
        )
    table = np.full((len(trials), len(neuroids)), np.nan)
    table[tcodes, ncodes] = values.to_numpy(dtype=float)
    stim = np.asarray(trials.get_level_values(0), dtype=str)
    reps = np.asarray(trials.get_level_values(1)) if use_repeat else None
    data, ids, labels = stack_trials(table, stim, reps, name="df", stimulus_arg=stimulus, repeat_arg=repeat or "repeat",
                                     by_order="repeat=None", copies="If the table holds copied rows, drop them (df.drop_duplicates()); to read "
                                     "them as repeats, give the rows a 'repeat' column.")
    table = {c: df[c] for c in (*neuroid_columns, *stimulus_columns)}
    attrs = {k: v for k, v in df.attrs.items() if k not in (*COLUMN_ATTRS, "name")}
    if name is None:
        name = df.attrs["name"] if isinstance(df.attrs.get("name"), str) else "neural"
    # a column named like its dim ("stimulus", as to_dataframe writes an index coord so) is that dim's coord
    coords = per_neuroid(table, nids, neuroid_columns, "df", shared=neuroid)
    stim_coords = per_stimulus(table, sids, ids, stimulus_columns, "df", "column")
    out = build_neural(data, ids, np.asarray(neuroids, dtype=str), labels, name=name, arg="df", attrs=attrs,
                       neuroid_coords=coords, stimulus_coords=stim_coords,
                       fields={"neuroid": ("column", _RENAME), "stimulus": ("column", _RENAME)})
    scalars = [c for c in scalars if c not in (*keys, *neuroid_columns, *stimulus_columns, *out.coords)]
    dims = [c for c in scalars if c in out.dims]  # xarray's "already exists as a scalar variable"
    if dims:
        raise LayoutError(f"df: column {dims[0]!r}, listed in df.attrs['scalar_columns'], is named like the array's own "
                          f"dim, which no scalar coord can take; rename it first, e.g. "
                          f"{_RENAME.format(old=repr(dims[0]), new=repr(dims[0] + '_2'))}.")
    varying = [c for c in scalars if df[c].nunique(dropna=False) > 1]
    if varying:
        warn(f"df: scalar_columns {varying} (df.attrs) take several values; they are left out (pass them as "
             f"stimulus_columns or neuroid_columns to keep them).")
    if not scalars or not len(df):
        return out
    return validate_neural(out.assign_coords({c: df[c].iloc[0] for c in scalars if c not in varying}), name="df")


def _listed(df: pd.DataFrame, key: str, default: list[str]) -> Any:
    """The columns ``df.attrs[key]`` lists (what :func:`to_dataframe` wrote), else ``default``. pandas carries the
    attrs through ``df[cols]`` and ``df.drop``: listed columns the table no longer has are left out, with one
    warning (the caller did not name them; an error named an argument never passed)."""
    listed = df.attrs.get(key, default)
    if not isinstance(listed, (list, tuple)):  # a str, or no list: the argument's own check names it
        return listed
    gone = [c for c in listed if isinstance(c, Hashable) and c not in df.columns]
    if gone:
        warn(f"df: df.attrs[{key!r}] lists columns {gone} the table does not have (dropped since); they are left out. "
             f"Pass {key}=<the columns to read> to say which.")
    return [c for c in listed if c not in gone]


def _layout_hint(df: pd.DataFrame, col: Hashable, stimulus: Hashable, value: Hashable, repeat: Hashable) -> str:
    """The end of the missing-column error: the column is in the index (``df.set_index``), or the table
    is wide (one column per neuroid) where a long one is read."""
    if col in [n for n in df.index.names if n is not None]:
        return f"; {col!r} is a level of the index: df.reset_index() makes it a column."
    numeric = [c for c in df.columns if c not in (stimulus, repeat) and pd.api.types.is_numeric_dtype(df[c])]
    if value not in df.columns and len(numeric) > 1:
        keep = [c for c in (stimulus, repeat) if c is not None and c in df.columns]
        return (f". A wide table (one column per neuroid, e.g. {list(map(str, numeric[:2]))}) is read long, one row per "
                f"(presentation, neuroid): df.melt(id_vars={keep}, var_name='neuroid_id', value_name='value').")
    return "."


def _scalar_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if isinstance(v, (str, int, float, bool, np.generic))}


def _from_scores(ds: xr.Dataset) -> pd.DataFrame:
    """One row per target, rep (and time bin); every variable over a subset of those dims is a column."""
    dim = "neuroid" if "neuroid" in ds.dims else "unit"
    rows = (dim, "rep", "time_bin") if "time_bin" in ds.dims else (dim, "rep")
    return _rows_table(ds, rows, {dim: f"{dim}_id", "time_bin": "time_bin_start"},
                       (f"{dim}_id", "rep", "time_bin_start", "time_bin_end"))


#: the dims of a temporal-generalisation result (:func:`neuroxr.temporal_generalization`)
_TG_ROWS = ("neuroid", "time_bin_train", "time_bin_test")


def _from_generalization(ds: xr.Dataset) -> pd.DataFrame:
    """One row per target, train bin and test bin of a temporal-generalisation result, with both bins' edges."""
    bins = [f"{d}_{e}" for d in _TG_ROWS[1:] for e in ("start", "end")]
    return _rows_table(ds, _TG_ROWS, {"neuroid": "neuroid_id", **{d: f"{d}_start" for d in _TG_ROWS[1:]}},
                       ("neuroid_id", *bins))


def _rows_table(ds: xr.Dataset, rows: tuple[str, ...], labelled: dict[str, str], lead: tuple[str, ...]) -> pd.DataFrame:
    """One row per entry of the dims ``rows``; every variable and coord over a subset of them is a
    column (a dim without a coord but with its ``labelled`` one gives no column of positions), the
    columns ``lead`` first."""
    names = [v for v in ds.data_vars if set(ds[v].dims) <= set(rows)]
    other = {str(v): ds[v].dims for v in ds.data_vars if v not in names}
    if other:
        raise LayoutError(
            f"obj: score variables {other} are not over dims {rows} (or a part of them), so a table of one row "
            f"per {', '.join(rows)} cannot hold them; select the others first, e.g. obj[{sorted(map(str, names))}]."
        )
    # every coord over a part of the rows' dims is a column (a scalar one constant), as a variable is
    coords = [c for c in ds.coords if set(ds.coords[c].dims) <= set(rows) and c not in rows]
    left = {str(c): tuple(map(str, ds.coords[c].dims)) for c in ds.coords if c not in coords and c not in rows}
    if left:
        warn(f"obj: coords {left} are not over dims {rows} (or a part of them), so a table of one row per "
             f"{', '.join(rows)} leaves them out; drop them first (obj.drop_vars({sorted(left)})).")
    df = ds[names].reset_coords(drop=True).assign_coords({c: ds.coords[c] for c in coords})
    out = df.to_dataframe(dim_order=[d for d in rows if d in df.dims]).reset_index()
    # a dim without a coord gives a column of positions, dropped; a user's labels (a coord) stay
    out = out.drop(columns=[d for d, c in labelled.items() if d in out.columns and c in out.columns and d not in ds.coords])
    first = [c for c in lead if c in out.columns]
    return out[first + [c for c in out.columns if c not in first]]


def _from_metric(ds: xr.Dataset) -> pd.DataFrame:
    names = [v for v in ds.data_vars if ds[v].dims in ((), ("split",))]
    coords = [c for c in ds.coords if ds.coords[c].dims in ((), ("split",)) and c != "split"]  # as the variables
    if "split" in ds["score"].dims:
        return ds[names].reset_coords(drop=True).assign_coords({c: ds.coords[c] for c in coords}).to_dataframe().reset_index()
    return pd.DataFrame([{v: ds[v].item() for v in names}]).assign(**{str(c): _scalar(ds.coords[c].values) for c in coords})


def _kept_rows(v: np.ndarray) -> np.ndarray:
    """Which values of ``v`` ``(stimulus, neuroid, repeat[, time_bin])`` a table keeps: the non-NaN ones,
    and one NaN row (a missing trial) for each (stimulus, neuroid) pair, repeat label or bin that
    has no value at all, at the first position of the other dims, so that the table keeps every
    stimulus, neuroid (in order) and label of the array."""
    nan = np.isnan(v)
    keep = ~nan
    rest = tuple(range(2, v.ndim))
    keep[(*np.nonzero(nan.all(axis=rest)), *([0] * len(rest)))] = True
    for axis in rest:
        idx: list[Any] = [0] * v.ndim
        idx[axis] = np.flatnonzero(nan.all(axis=tuple(a for a in range(v.ndim) if a != axis)))
        keep[tuple(idx)] = True
    return keep.ravel()


def _from_neural(da: xr.DataArray) -> pd.DataFrame:
    timed = "time_bin" in da.dims
    da = da.transpose(*(NEURAL_TIME_DIMS if timed else NEURAL_DIMS))
    # ids missing (a KeyError), duplicated or not text would write a table pooling or losing stimuli
    validate_neural(da, name="obj")
    if "repeat" not in da.coords:
        da = da.assign_coords(repeat=np.arange(da.sizes["repeat"]))
    extra = {dim: [str(c) for c in da.coords if c not in ("stimulus_id", "neuroid_id") and da.coords[c].dims == (dim,)]
             for dim in ("neuroid", "stimulus")}
    scalars = [str(c) for c in da.coords if da.coords[c].ndim == 0]  # constant columns, read back as scalar coords
    kept = {"stimulus_id", "neuroid_id", *TIME_BIN_COORDS, *extra["neuroid"], *extra["stimulus"], *scalars}
    left = {str(c): tuple(map(str, da.coords[c].dims)) for c in da.coords if c != "repeat" and c not in kept}  # time_bin labels too
    if left:  # a coord on repeat or time_bin, or over several dims: the table has no place for it
        warn(f"obj: coords {left} lie on no dim a table's columns describe (one stimulus, one neuroid, or none), so "
             f"they are left out of the table; keep them as stimulus or neuroid coords, or drop them first "
             f"(obj.drop_vars({sorted(left)})).")
    reserved = ("value", "repeat", *TIME_BIN_COORDS, *COLUMN_ATTRS)
    clash = [c for c in extra["neuroid"] + extra["stimulus"] if c in reserved]
    clash += [c for c in scalars if c in ("value", "repeat", *(TIME_BIN_COORDS if timed else ()), *COLUMN_ATTRS)]
    if clash:
        raise LayoutError(f"obj: coords {clash} would share a name with the table's own columns; rename them first.")
    clash = [k for k in COLUMN_ATTRS if k in da.attrs]
    if clash:
        raise LayoutError(f"obj: attrs {clash} name the table's columns in DataFrame.attrs; rename them first.")
    name = None if da.name is None else str(da.name)  # DataFrame.attrs['name'], as rsatoolbox's descriptor 'name'
    if name is not None and "name" in da.attrs and da.attrs["name"] != name:
        raise LayoutError(f"obj: attr 'name' ({da.attrs['name']!r}) differs from the array's name ({name!r}), which "
                          f"DataFrame.attrs['name'] holds; rename the attr.")
    values = {c: _scalar(da.coords[c].values) for c in scalars}
    da = da.reset_coords([c for c in da.coords if c not in da.dims and c not in ("stimulus_id", "neuroid_id", *TIME_BIN_COORDS,
                                                                                  *extra["neuroid"], *extra["stimulus"])],
                         drop=True)
    da = da.drop_indexes([c for c in ("stimulus_id", "neuroid_id") if c in da.xindexes])  # set_xindex'd ids: columns
    da = da.compute()  # a dask-backed array is read once
    # a coord named like its dim (an index "stimulus", or one without an index, which pandas would write
    # twice) becomes a column from its dim's positions
    named = {d: np.asarray(da.coords[d].values) for d in ("stimulus", "neuroid") if d in da.coords}
    out = da.drop_vars(list(named)).rename("value").to_dataframe().reset_index()
    for d, v in named.items():
        out[d] = v[out[d].to_numpy()]
    out = out[_kept_rows(np.asarray(da.values))]
    edges = [c for c in TIME_BIN_COORDS if timed and c in out.columns]
    cols = ["stimulus_id", "neuroid_id", "repeat", *edges, "value", *extra["neuroid"], *extra["stimulus"]]
    out = out[cols].reset_index(drop=True)
    for c in scalars:
        out[c] = pd.Series([values[c]] * len(out), dtype=object if isinstance(values[c], str) else None)
    out.attrs = {**_plain(dict(da.attrs)), **({"name": name} if name is not None else {}),
                 "neuroid_columns": extra["neuroid"], "stimulus_columns": extra["stimulus"],
                 **({"scalar_columns": scalars} if scalars else {})}
    return out


def _scalar(v: np.ndarray) -> Any:
    """The value of a 0-d coord: a Python scalar, a datetime / timedelta as its numpy scalar."""
    v = v[()]
    return v.item() if isinstance(v, np.generic) and v.dtype.kind not in "mM" else v


def _plain(value: Any) -> Any:
    """An attr value as ``DataFrame.attrs`` holds it: arrays (also inside dicts and lists) as lists,
    as a Zarr store's attributes hold them, so pandas can compare two tables' attrs (``pd.concat``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_dataframe(obj: Any, *, attrs: Sequence[str] | None = ("direction", "metric", "source", "target")) -> pd.DataFrame:
    """A tidy table of scores, metric entries or neural responses.

    Parameters
    ----------
    obj : Dataset, DataArray, DataFrame, or a mapping / sequence of them
        - a predictivity score dataset (``ev`` over ``(neuroid|unit, rep)``): one row per target and
          rep, columns ``neuroid_id`` (or ``unit_id``), ``rep``, every variable (those over fewer
          dims, e.g. ``included``, repeated along the others) and every coord over those dims or a
          part of them (target coords, a coord on ``rep``, a scalar coord as a constant column);
          other coords are left out with one warning naming them. Time-resolved
          scores (``ev`` over ``(target, rep, time_bin)``) give one row per target, rep and bin,
          with the bin's ``time_bin_start``/``time_bin_end`` after ``rep``. A variable over other
          dims is an error (it would be left out);
        - a temporal-generalisation result (:func:`neuroxr.temporal_generalization`, ``r`` over
          ``(neuroid, time_bin_train, time_bin_test)``): one row per target, train bin and test bin,
          columns ``neuroid_id``, the bins' ``time_bin_train_start``/``_end`` and
          ``time_bin_test_start``/``_end``, ``r`` and the other coords over those dims;
        - a metric entry (``score``, scalar or over ``split``): one row per split, with the
          variables and coords that are scalars or over ``split`` (per-neuroid or per-stimulus
          variables, free in a metric entry, are not part of this table);
        - a neural array ``(stimulus, neuroid, repeat)``: one row per non-NaN trial value, columns
          ``stimulus_id``, ``neuroid_id``, ``repeat``, ``value``, the neuroid coords and the
          stimulus coords (the inverse of :func:`from_dataframe`). A (stimulus, neuroid) pair, or a
          repeat label, without any value keeps one NaN row (a missing trial, at the first repeat),
          so an all-NaN stimulus or neuroid comes back from :func:`from_dataframe` as NaN, in its
          place. ``DataFrame.attrs``: the array's attrs, its ``name`` and the lists ``neuroid_columns`` /
          ``stimulus_columns``; its scalar coords are constant columns, listed in ``scalar_columns``
          when there are any (read back as scalar coords). A time-resolved array adds ``time_bin_start``/``time_bin_end``
          before ``value`` (one row per trial value and bin; :func:`from_dataframe` reads static tables only).
          The array is checked as :func:`~neuroxr.layouts.validate_neural` checks it (missing or duplicate
          ids are an error); coords on ``repeat`` or over several dims, which no column holds, are left
          out with one warning naming them;
        - a DataFrame (e.g. a score table): returned as a copy;
        - a mapping ``{key: obj}`` or a sequence: the tables are concatenated; a mapping's keys (tuples
          are joined with ``"/"``) go in a column ``entry``. A nested mapping ``{a: {b: obj}}`` gives
          ``"a/b"``, as the tuple key ``(a, b)`` does; any other part with a column ``entry`` is an error.
    attrs : sequence of str, default ("direction", "metric", "source", "target")
        Dataset attrs copied into constant columns when present (a str names one). ``None`` copies none. An attr named
        like a column the table has already (a coord or variable) is an error.

    Returns
    -------
    pandas.DataFrame
        With the object's attrs in ``DataFrame.attrs`` (every attr, whatever ``attrs`` copies into
        columns; array values as lists). A concatenated table keeps them when all its parts have the
        same (pandas' rule).
    """
    if isinstance(attrs, str):  # one attr named as a string is that attr, not its letters
        attrs = (attrs,)
    if attrs is not None and (not isinstance(attrs, (list, tuple)) or not all(isinstance(a, str) for a in attrs)):
        raise LayoutError(f"attrs: expected attr names (a list of str) or None; got {shown(attrs)}.")
    if isinstance(obj, Mapping) and not isinstance(obj, xr.Dataset):  # a Dataset is a Mapping too
        parts = []
        for key, v in obj.items():
            part = to_dataframe(v, attrs=attrs)
            label = "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
            nested = isinstance(v, (list, tuple)) or isinstance(v, Mapping) and not isinstance(v, xr.Dataset)
            if nested and "entry" in part.columns:  # a nested mapping's entries: under this key, as a tuple key's
                part["entry"] = label + "/" + part["entry"].astype(str)
                part.insert(0, "entry", part.pop("entry"))
            elif "entry" in part.columns:  # pandas' own error ("cannot insert") named nothing
                raise LayoutError(f"obj: the table of {label!r} has a column 'entry' already (a coord or variable of "
                                  f"that name), which the mapping's keys would take; rename it first.")
            else:
                part.insert(0, "entry", label)
            parts.append(part)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if isinstance(obj, (list, tuple)):
        parts = [to_dataframe(v, attrs=attrs) for v in obj]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if isinstance(obj, pd.DataFrame):
        out = obj.copy()
        out.attrs = _plain(dict(obj.attrs))
        return out
    if isinstance(obj, xr.DataArray):
        if set(obj.dims) not in (set(NEURAL_DIMS), set(NEURAL_TIME_DIMS)):
            raise LayoutError(
                f"obj: a DataArray must be a neural array with dims {NEURAL_DIMS} (or {NEURAL_TIME_DIMS}); got {tuple(obj.dims)}."
            )
        out = _from_neural(obj)
    elif isinstance(obj, xr.Dataset):
        if "ev" in obj.data_vars:
            out = _from_scores(obj)
        elif "score" in obj.data_vars:
            out = _from_metric(obj)
        elif "r" in obj.data_vars and obj["r"].dims == _TG_ROWS:
            out = _from_generalization(obj)
        else:
            raise LayoutError(
                f"obj: a Dataset must be a score dataset (variable 'ev'), a metric entry (variable 'score') or a "
                f"temporal generalisation (variable 'r' over {_TG_ROWS}); found variables {sorted(map(str, obj.data_vars))}."
            )
    else:
        raise LayoutError(f"obj: cannot make a table of a {type(obj).__name__}; pass a score Dataset, metric entry or neural array.")
    meta = _scalar_attrs({k: obj.attrs[k] for k in (attrs or ()) if k in obj.attrs})
    taken = [k for k in meta if k in out.columns]
    if taken:  # pandas' own error ("cannot insert") named no argument
        raise LayoutError(
            f"attrs: obj's attrs {taken} would be copied into columns the table already has (a coord or variable of "
            f"that name); pass attrs= without them, e.g. attrs={tuple(k for k in attrs or () if k not in taken)}, or "
            f"rename the coord first.")
    for i, (k, v) in enumerate(meta.items()):
        out.insert(i, k, v)
    if not isinstance(obj, xr.DataArray):  # a neural table has them already (with its column lists)
        out.attrs = _plain(dict(obj.attrs))
    return out
