"""Canonical identity of parameter values: what a provenance records of an estimator or a callable.

Two values with the same identity compute the same numbers; two that can compute different
numbers never share one. An estimator is its class path and ``get_params(deep=True)``; a Python
function is its import path *and its content*: a hash of its code (bytecode, constants and names,
nested functions included), its defaults, the values its closure captured and the data globals it
reads (numbers, strings, arrays). So two lambdas, two closures of one factory with different
captured values, or a function edited between two runs are told apart, and nothing depends on an
object's address. Large arrays are recorded by a SHA-256 of their bytes, small ones by value.
"""

from __future__ import annotations

import functools
import hashlib
import types
from typing import Any

import numpy as np

__all__ = ["identity", "feed_values"]

#: arrays with more elements are recorded by hash, smaller ones by value
_INLINE_ELEMENTS = 64
_BLOCK = 1 << 24  # bytes hashed per update of an array (16 MiB)
_DATA = (str, bytes, bool, int, float, complex, type(None), np.ndarray, np.generic)


def feed_values(h: Any, arr: np.ndarray) -> None:
    """Feed the row-major bytes of a numeric array to the hash ``h``, a block of rows at a time
    (``_BLOCK`` bytes; no copy of the whole array): the digest equals that of ``arr.tobytes()``."""
    arr = arr.reshape(1) if arr.ndim == 0 else arr
    step = max(1, _BLOCK // max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize))
    for i in range(0, int(arr.shape[0]), step):
        h.update(np.ascontiguousarray(arr[i : i + step]).reshape(-1).view(np.uint8))


def identity(value: Any) -> Any:
    """JSON-ready canonical identity of ``value`` (see the module docstring)."""
    return _identity(value, set())


def _path(v: Any) -> str:
    return f"{getattr(v, '__module__', None) or '?'}.{getattr(v, '__qualname__', None) or getattr(v, '__name__', type(v).__qualname__)}"


def _code_hash(code: types.CodeType) -> str:
    h = hashlib.sha256()

    def feed(c: types.CodeType) -> None:
        h.update(c.co_code)
        h.update(repr((c.co_names, c.co_varnames, c.co_freevars, c.co_argcount, c.co_kwonlyargcount)).encode())
        for k in c.co_consts:
            if isinstance(k, types.CodeType):
                feed(k)
            else:
                h.update(repr(k).encode())

    feed(code)
    return h.hexdigest()[:16]


def _function(v: types.FunctionType, seen: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"callable": _path(v), "code": _code_hash(v.__code__)}
    if v.__defaults__:
        out["defaults"] = _identity(list(v.__defaults__), seen)
    if v.__kwdefaults__:
        out["kwdefaults"] = _identity(v.__kwdefaults__, seen)
    if v.__closure__:
        cells = []
        for cell in v.__closure__:
            try:
                cells.append(_identity(cell.cell_contents, seen))
            except ValueError:  # an empty cell
                cells.append(None)
        out["closure"] = cells
    names = _global_names(v.__code__)
    data = {k: _identity(v.__globals__[k], seen) for k in sorted(names)
            if k in v.__globals__ and isinstance(v.__globals__[k], (*_DATA, list, tuple, dict))}
    if data:
        out["globals"] = data
    return out


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for k in code.co_consts:
        if isinstance(k, types.CodeType):
            names |= _global_names(k)
    return names


def _identity(v: Any, seen: set[int]) -> Any:
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, type):
        return {"class": f"{v.__module__}.{v.__qualname__}"}
    if id(v) in seen:  # a cycle (a closure holding itself): its path is enough
        return {"ref": _path(v)}
    seen = seen | {id(v)}
    if hasattr(v, "get_params"):
        params = v.get_params(deep=True)
        return {"class": f"{type(v).__module__}.{type(v).__qualname__}",
                "params": {str(k): _identity(params[k], seen) for k in sorted(params)}}
    if isinstance(v, dict):
        return {str(k): _identity(x, seen) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        return [_identity(x, seen) for x in v]
    if isinstance(v, np.ndarray):
        if v.size <= _INLINE_ELEMENTS and v.dtype != object:
            return {"array": v.tolist(), "dtype": str(v.dtype)}
        digest = hashlib.sha256()
        if v.dtype == object:
            digest.update(repr(v.tolist()).encode())
        else:
            feed_values(digest, v)
        return {"array_sha256": digest.hexdigest()[:16], "shape": list(v.shape), "dtype": str(v.dtype)}
    if isinstance(v, functools.partial):
        return {"partial": _identity(v.func, seen), "args": _identity(list(v.args), seen),
                "keywords": _identity(dict(v.keywords), seen)}
    if isinstance(v, types.MethodType):
        return {"method": _identity(v.__func__, seen), "self": _identity(v.__self__, seen)}
    if isinstance(v, types.FunctionType):
        return _function(v, seen)
    if callable(v) and not hasattr(v, "__dict__"):  # builtins, ufuncs: their import path
        return {"callable": _path(v)}
    if hasattr(v, "__dict__"):  # any other object (a callable instance): its class and state
        return {"object": _path(type(v)), "state": _identity(dict(vars(v)), seen)}
    return repr(v)
