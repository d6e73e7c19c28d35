"""Plain arrays on disk (HDF5, NPZ, NPY) -> neuroxr neural or feature layouts.

The array is read from a file; the stimulus (and neuroid / unit) ids come from another array in
the same file (name it) or from a list. ``h5py`` is imported only for HDF5 files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError, install_advice, shown, warn
from ..layouts import features as _features
from ..layouts import neural as _neural
from ._trials import as_str, ids_str, plain_attrs

__all__ = ["read_array"]

_H5 = (".h5", ".hdf5", ".hdf", ".he5")
_LAYOUTS = ("neural", "features")
#: keywords of the layout constructors that ``read_array`` spells otherwise
_RENAMED = {"stimulus_id": ("ids", "stimulus"), "neuroid_id": ("target_ids", "neuroid"), "unit_id": ("target_ids", "unit")}
#: what to do about duplicate ids (each stimulus, neuroid or unit needs one of its own)
_UNIQUE = "each stimulus, neuroid or unit needs an id of its own (drop or average the duplicates first)."
#: names ``read_array`` sets itself: not extra coords
_RESERVED = ("data", "stimulus", "neuroid", "unit", "repeat", "time_bin", "time_bin_start", "time_bin_end")
#: attributes HDF5 dimension scales (h5py's ``dims``) and netCDF-4 files keep on an array: structure, not metadata
_H5_STRUCTURE = ("DIMENSION_LIST", "DIMENSION_LABELS", "REFERENCE_LIST", "CLASS", "NAME")
#: PyTables' system attributes, on an array that has a ``CLASS`` (written by PyTables, e.g. pandas' ``to_hdf``)
_PYTABLES = ("VERSION", "TITLE", "FLAVOR")


class _File:
    """Arrays of one file by key, read on demand."""

    def __init__(self, path: Path) -> None:
        self.path, self.suffix = path, path.suffix.lower()
        self._h5 = self._npz = None
        if self.suffix in _H5:
            try:
                import h5py
            except ImportError as exc:  # pragma: no cover - h5py is a test dependency
                raise LayoutError(f"path: reading HDF5 needs h5py; {install_advice('h5py')}.") from exc
            self._h5 = h5py.File(path, "r")
        elif self.suffix == ".npz":
            self._npz = np.load(path, allow_pickle=False)
        elif self.suffix == ".mat":  # MATLAB's own format: v7.3 is HDF5, but with every array's axes reversed
            raise LayoutError(
                "path: a MATLAB .mat file is not read here: MATLAB stores arrays column-major, so a v7.3 file read as "
                "HDF5 would give every array its axes in reverse order. Load it with scipy.io.loadmat (v7.3: h5py, "
                "then transpose each array) and pass the arrays to neuroxr.neural / neuroxr.features, or save them "
                "as .npz.")
        elif self.suffix != ".npy":
            raise LayoutError(f"path: unknown file type {self.suffix!r}; use .h5/.hdf5, .npz or .npy.")

    def keys(self) -> list[str]:
        if self._h5 is not None:
            found: list[str] = []
            self._h5.visititems(lambda k, v: found.append(k) if hasattr(v, "shape") else None)
            return found
        return list(self._npz.files) if self._npz is not None else []

    def get(self, key: str | None, arg: str) -> np.ndarray:
        if self.suffix == ".npy":
            if key is not None:
                raise LayoutError(f"{arg}: a .npy file holds one array; pass {arg}=None (and ids as lists).")
            return self._unpickled(lambda: np.load(self.path, allow_pickle=False), self.path.name)
        keys = self.keys()
        if self._h5 is not None and isinstance(key, str) and key.startswith("/") and key.lstrip("/"):
            key = key.lstrip("/")  # an absolute HDF5 path ("/session1/responses") names the same array
        if key is None:
            if len(keys) != 1:
                raise LayoutError(f"{arg}: {self.path.name} holds {len(keys)} arrays {keys}; pass {arg}=<one of them>.")
            key = keys[0]
        if key not in keys:
            raise LayoutError(f"{arg}: {self.path.name} has no array {key!r}; found {keys}.")
        if self._h5 is not None:
            return np.asarray(self._h5[key][()])
        return self._unpickled(lambda: np.asarray(self._npz[key]), f"array {key!r} of {self.path.name}")

    def attributes(self, key: str | None) -> dict[str, Any]:
        """The HDF5 array's own attributes that are strings or numbers (Python ones, bytes decoded); any
        other is left out with one warning naming it. Other files have none."""
        if self._h5 is None:
            return {}
        keys = self.keys()
        key = keys[0] if key is None else key.lstrip("/") if key.lstrip("/") else key  # as get() found it
        own = self._h5[key].attrs
        keep, left = plain_attrs((k, v) for k, v in own.items()
                                 if not (k in _H5_STRUCTURE or str(k).startswith("_Netcdf4") or ("CLASS" in own and k in _PYTABLES)))
        if left:
            warn(f"key: array {key!r} of {self.path.name} has attributes {left} that hold no string or number; they are "
                 f"left out of the result's attrs (pass them as attrs= to keep them).")
        return keep

    @staticmethod
    def _unpickled(load: Any, what: str) -> np.ndarray:
        """``load()``, whose refusal of a pickled (object) array is a one-line error: pickles are not read."""
        try:
            return load()
        except ValueError as exc:
            if "allow_pickle" not in str(exc):
                raise
            raise LayoutError(
                f"path: {what} holds Python objects (an object array, stored pickled), which read_array does not "
                f"load; save numbers as a numeric array and ids as strings (np.asarray(ids, dtype=str), with no None)."
            ) from None

    def close(self) -> None:
        for f in (self._h5, self._npz):
            if f is not None:
                f.close()


def _decoded(values: np.ndarray, name: str) -> np.ndarray:
    """Byte strings (as HDF5 stores them) as str; other values unchanged. ``name``: the coord, for the error."""
    if values.dtype.kind == "S" or (values.dtype.kind == "O" and any(isinstance(v, bytes) for v in values.ravel().tolist())):
        return as_str(values, f"{name}:")
    return values


def _ids(file: _File, ids: Any, arg: str) -> np.ndarray | None:
    """Ids from an array in the file (``ids`` is its key) or from ``ids`` itself."""
    if ids is None:
        return None
    if isinstance(ids, str):
        if file.suffix == ".npy":
            raise LayoutError(f"{arg}: a .npy file holds only the data; pass {arg} as a list of ids.")
        return ids_str(file.get(ids, arg), name="path", what=f"array {ids!r} ({arg})", unique=_UNIQUE)
    return ids_str(ids, name=arg, what="the list", unique=_UNIQUE)


def _refuse_other_axis_order(data: np.ndarray, stim: np.ndarray | None, targets: np.ndarray | None, layout: str,
                             what: str) -> None:
    """A one-line :class:`LayoutError` when ``ids`` (or ``target_ids``) fit another axis of ``data`` than
    their own: the file's axes are in another order (e.g. ``(neuroid, stimulus, repeat)``), which
    read as they are would pair every id with the wrong axis."""
    target = "neuroid" if layout == "neural" else "unit"
    for arg, values, axis, dim in (("ids", stim, 0, "stimulus"), ("target_ids", targets, 1, target)):
        if values is None or np.ndim(values) != 1 or data.ndim <= axis or len(values) == data.shape[axis]:
            continue  # ids of another shape: the layout's own error
        other = [i for i, n in enumerate(data.shape) if n == len(values) and i != axis]
        if other:
            order = "(stimulus, neuroid[, repeat])" if layout == "neural" else "(stimulus, unit)"
            raise LayoutError(
                f"{arg}: {len(values)} ids fit axis {other[0]} of array {what!r} (shape {data.shape}), not axis {axis}, "
                f"its {dim} axis: read_array takes the axes in the order {order}. If the file's axes are in another "
                f"order, transpose the array to that one first, e.g. neuroxr.{layout}(np.transpose(arr, axes), ids, "
                f"target_ids), or save it so; else pass one id per {dim}."
            )


def _refuse_other_shapes(data: np.ndarray, layout: str, what: str, given: dict[str, Any]) -> None:
    """A one-line :class:`LayoutError` naming the argument (``ids``, ``target_ids`` or an extra coord) whose
    values are not one per entry of their axis of ``data``: the layout's own error named the array instead."""
    target = "neuroid" if layout == "neural" else "unit"
    for arg, values in given.items():
        axis, dim = (0, "stimulus") if arg == "ids" else (1, target)
        if values is None or data.ndim < 2 or np.shape(values) == (data.shape[axis],):
            continue
        shape = np.shape(values)
        column = ", a 1-D array: np.ravel() a column saved as (n, 1)" if len(shape) == 2 and 1 in shape else ""
        raise LayoutError(f"{arg}: has shape {shape}; pass one per {dim} of array {what!r} ({data.shape[axis]}){column}.")


def read_array(
    path: str | os.PathLike,
    key: str | None = None,
    *,
    layout: str | None = None,
    ids: Any = None,
    target_ids: Any = None,
    name: str | None = None,
    model: str | None = None,
    layer: str | None = None,
    time_bins: Any = None,
    attrs: Mapping[str, Any] | None = None,
    **coords: Any,
) -> xr.DataArray:
    """Read an array from an HDF5, NPZ or NPY file into a neural or feature layout.

    Parameters
    ----------
    path : str or path-like
        ``.h5`` / ``.hdf5`` (read with h5py), ``.npz`` or ``.npy``.
    key : str, optional
        The array's name in the file (an HDF5 path such as ``"session1/responses"``, with or without
        the leading ``/``, or an NPZ key); keys of ids and coords are given the same way.
        Default: the file's only array. Not used for ``.npy``.
    layout : {"neural", "features"}, optional
        ``neural``: shape ``(stimulus, neuroid, repeat)`` or trial-averaged ``(stimulus, neuroid)``
        (with ``time_bins``: ``(stimulus, neuroid, repeat, time_bin)`` or ``(stimulus, neuroid,
        time_bin)``); ``features``: shape ``(stimulus, unit)``. Default: ``neural`` for a 3-D array
        or when ``time_bins`` is given; otherwise it is needed.
    ids : str or sequence of str, optional
        Stimulus ids: the key of an array of ids in the same file, or the ids themselves.
        Default ``"stimulus0"...``.
    target_ids : str or sequence of str, optional
        Neuroid ids (neural) or unit ids (features), given the same way.
    name : str, optional
        Name of the result; default ``key`` or the file's stem.
    model, layer : str, optional
        Features only: stored as scalar coords.
    time_bins : str or sequence of (start, end), optional
        Neural only: time-resolved responses, one ``(start, end)`` pair in ms per bin of the last
        axis (see :func:`neuroxr.neural`); the key of an ``(n_bins, 2)`` array in the file or the pairs.
    attrs : mapping, optional
        Attributes of the result, besides ``file`` (the file's name) and an HDF5 array's own attributes that
        are strings or numbers (others are left out with one warning); ``file`` wins over an attribute of
        that name, and ``attrs`` given here over both.
    **coords : str or sequence
        Extra coords on ``neuroid`` / ``unit`` (e.g. ``region=...``), each a key in the file or values.
        The ids are not coords here: pass ``ids=`` (not ``stimulus_id=``) and ``target_ids=`` (not
        ``neuroid_id=`` / ``unit_id=``); those names, and the dims' names, are errors.

    Raises
    ------
    LayoutError
        No such file or array, an unknown layout, ids or coords of the wrong length, or a
        keyword that names the ids or a dim.

    Returns
    -------
    xarray.DataArray
        A valid neural ``(stimulus, neuroid, repeat)`` or feature ``(stimulus, unit)`` array.
    """
    if not isinstance(path, (str, os.PathLike)):  # Path() raised a bare TypeError
        raise LayoutError(f"path: expected a file path (str or os.PathLike); got {type(path).__name__}.")
    p = Path(path).expanduser()
    for k in coords:
        if k in _RENAMED:
            arg, what = _RENAMED[k]
            raise LayoutError(f"{k}: read_array takes the {what} ids as {arg}=; pass {arg}=<key or ids> instead of {k}=.")
        if k in _RESERVED:
            raise LayoutError(f"{k}: is a dim or coord read_array sets itself, not an extra coord; rename it.")
    if not p.exists():
        raise LayoutError(f"path: no file at {os.fspath(p)!r}.")
    if p.is_dir():  # its empty suffix read as "unknown file type ''"
        raise LayoutError(f"path: {os.fspath(p)!r} is a folder; pass the HDF5, NPZ or NPY file in it.")
    if layout is not None and layout not in _LAYOUTS:
        raise LayoutError(f"layout: must be one of {_LAYOUTS}; got {shown(layout)}.")
    if time_bins is not None and layout == "features":
        raise LayoutError("time_bins: feature arrays have no time; pass layout='neural' (or drop time_bins).")
    for arg, value in (("name", name), ("model", model), ("layer", layer)):
        if value is not None and not isinstance(value, str):  # a list was stored as its text, "['conv1']"
            raise LayoutError(f"{arg}: expected a str or None; got {shown(value)}.")
    if attrs is not None and not isinstance(attrs, Mapping):
        raise LayoutError(f"attrs: expected a mapping of names to values; got {type(attrs).__name__}.")
    try:
        file = _File(p)
    except LayoutError:
        raise
    except Exception as exc:  # not a zip (.npz) or HDF5 file, a folder, unreadable: numpy's or h5py's own error
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LayoutError(f"path: {os.fspath(path)!r} cannot be read as a {p.suffix or 'data'} file ({reason[:120]}); "
                          f"pass an HDF5, NPZ or NPY file.") from None
    try:
        data = file.get(key, "key")
        own = file.attributes(key)
        stim = _ids(file, ids, "ids")
        targets = _ids(file, target_ids, "target_ids")
        extra = {k: _decoded(file.get(v, k) if isinstance(v, str) and file.suffix != ".npy" else np.asarray(v), k)
                 for k, v in coords.items()}
        if isinstance(time_bins, str):
            if file.suffix == ".npy":
                raise LayoutError("time_bins: a .npy file holds only the data; pass time_bins as (start, end) pairs.")
            time_bins = file.get(time_bins, "time_bins")
    finally:
        file.close()
    if data.dtype.kind not in "fiub":
        raise LayoutError(f"key: array {key or p.name!r} must be numeric; found dtype {data.dtype}.")
    if layout is None:
        if data.ndim != 3 and time_bins is None:
            raise LayoutError(
                f"layout: array {key or p.name!r} has shape {data.shape}; pass layout='neural' "
                f"(stimulus, neuroid[, repeat]) or layout='features' (stimulus, unit), or time_bins= for "
                f"time-resolved responses (stimulus, neuroid[, repeat], time_bin)."
            )
        layout = "neural"
    _refuse_other_axis_order(data, stim, targets, layout, key or p.name)
    _refuse_other_shapes(data, layout, key or p.name, {"ids": stim, "target_ids": targets, **extra})
    label = name or (key.rsplit("/", 1)[-1] if key else p.stem)
    meta = {**own, "file": p.name, **dict(attrs or {})}
    if layout == "neural":
        if model is not None or layer is not None:
            raise LayoutError("model/layer: only feature arrays take a model and layer; pass layout='features'.")
        return _neural(data, stim, targets, name=label, attrs=meta, time_bins=time_bins, **extra)
    return _features(data, stim, targets, model=model, layer=layer, name=label, attrs=meta, **extra)
