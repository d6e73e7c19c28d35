"""Storable attrs: the one encoding that lets every labeled result go to netCDF and Zarr as it is.

netCDF (every engine) holds attrs that are strings, numbers or 1-D arrays of numbers; it refuses
``None``, dicts, lists of strings and nested lists. neuroxr's results follow one convention:

- ``bool`` (and NumPy bools) -> ``int`` 0 / 1 (the CF habit; ``if ds.attrs["noise_ceiling"]`` still reads);
- NumPy scalars -> Python numbers; strings, numbers and flat lists of numbers are kept;
- anything else (``None``, dicts, lists of strings, nested or empty lists, integers beyond int32,
  netCDF3's widest) -> its canonical JSON
  text, and the attr's name is listed in the JSON list :data:`JSON_ATTRS`, so
  :func:`decode_attrs` gives the value back exactly (an entry's ``parameters``, ``versions`` and
  ``neuroxr_provenance`` are such dicts).

The study store keeps its own attrs as JSON objects (Zarr's metadata is JSON): datasets read from it
are encoded when handed out (:meth:`neuroxr.StudyStore.read_dataset`, :func:`neuroxr.score`), and a
dataset given to the store is decoded first, so stores of every version read the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from numbers import Number
from typing import Any, TypeVar

import numpy as np
import xarray as xr

__all__ = ["JSON_ATTRS", "encode_attrs", "decode_attrs", "storable", "decoded"]

#: Attr listing (as a JSON list of names) the attrs held as JSON text.
JSON_ATTRS = "neuroxr_json_attrs"

T = TypeVar("T", xr.Dataset, xr.DataArray)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (set, frozenset)):
        return sorted(v, key=repr)
    return str(v)


def _number(v: Any) -> bool:
    """A number netCDF holds: not a bool, and an integer within int32 (netCDF3's widest; a seed of
    2**31 or more goes to JSON)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (Number, np.number)):
        return False
    return not isinstance(v, (int, np.integer)) or -(2**31) <= int(v) < 2**31


def _kept(v: Any) -> Any:
    """``v`` as netCDF holds it, or ``None`` where it needs JSON."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, str):
        return v
    if _number(v):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (list, tuple, np.ndarray)) and len(v) and np.ndim(v) == 1 and all(_number(x) for x in v):
        return [x.item() if isinstance(x, np.generic) else x for x in v]
    return None


def encode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` that netCDF and Zarr both store (see the module docstring); encoding twice changes nothing."""
    listed = list(json.loads(attrs[JSON_ATTRS])) if JSON_ATTRS in attrs else []
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if k == JSON_ATTRS:
            continue
        kept = None if k in listed else _kept(v)
        if kept is not None or k in listed:
            out[k] = v if k in listed else kept
            continue
        out[k] = json.dumps(v, sort_keys=True, separators=(",", ":"), default=_jsonable)
        listed.append(k)
    listed = [k for k in dict.fromkeys(listed) if k in out]
    if listed:
        out[JSON_ATTRS] = json.dumps(listed)
    return out


def decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attrs :func:`encode_attrs` encoded, with their JSON values decoded (bools stay 0 / 1).

    Attrs never encoded (a dict read straight from a store) are returned as they are.
    """
    out = dict(attrs)
    listed = out.pop(JSON_ATTRS, None)
    for k in json.loads(listed) if isinstance(listed, str) else ():
        if isinstance(out.get(k), str):
            out[k] = json.loads(out[k])
    return out


def _map(obj: T, fn: Any) -> T:
    obj = obj.copy(deep=False)
    obj.attrs = fn(obj.attrs)
    if isinstance(obj, xr.Dataset):
        for name in obj.variables:
            obj[name].attrs = fn(obj[name].attrs)
    else:
        for name in obj.coords:
            obj.coords[name].attrs = fn(obj.coords[name].attrs)
    return obj


def storable(obj: T) -> T:
    """A shallow copy of ``obj`` whose attrs (and its variables') are encoded by :func:`encode_attrs`:
    ``obj.to_netcdf(path)`` and ``obj.to_zarr(path)`` then store it as it is."""
    return _map(obj, encode_attrs)


def decoded(obj: T) -> T:
    """A shallow copy of ``obj`` with :func:`decode_attrs` applied to its attrs and its variables'."""
    return _map(obj, decode_attrs)
