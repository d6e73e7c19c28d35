"""Canonical identity of parameter values: what a provenance records of an estimator or a callable.

Two values with the same identity compute the same numbers; two that can compute different
numbers never share one. Nothing depends on an object's address. What is recorded:

- numbers, strings, ``None``: themselves; lists, tuples, dicts: their items (a dict with a key
  other than a string as ``{"dict": [[key, value], ...]}``, so ``1`` and ``"1"`` are other keys);
  sets: their sorted items; arrays: small ones by value, large ones by a SHA-256 of their bytes (and a masked array
  its mask), each with its dtype (the same values as int64 and as float64 are two identities, as
  an estimator can compute otherwise on them; the byte order is not recorded: ``>f8`` is float64), an object array by a SHA-256 of its items' ``repr`` when all are plain numbers,
  strings or ``None``, else of its items' identities (a nested array's ``repr`` elides its
  middle, an object's names its address); ``bytes``, ``complex``, ``range``, ``slice``, dates and times, ``Decimal`` and
  ``numpy.dtype`` by their ``repr``;
- a class: its path and its code (below); an estimator (``get_params``): its class path, its
  class's code and ``get_params(deep=True)`` (a number scikit-learn declares a real alone, an int
  or a float alike, in its default's type: ``Ridge(alpha=1)`` is ``Ridge(alpha=1.0)``); any other Python object (a callable instance): its
  class path, its class's code and its state (``__dict__`` and ``__slots__`` values);
- the code of a class: for each class of its MRO but ``object``, from an installed, non-editable
  distribution: that distribution's ``name==version`` (``packages``; the standard library:
  ``python==<version>``); from a local or editable module or ``__main__``: a hash (``code``) of
  what the class defines (its functions by content as below, its other attributes by identity);
- a Python function: its import path *and its content*: a hash of its code (bytecode, constants
  and names, nested functions included; a set literal by its sorted items), its defaults, the
  values its closure captured and every global it names (``globals``: data, functions, classes,
  callable objects and modules, each by identity, recursively); a function of an installed
  distribution records its ``package`` instead of the globals it names; a module by its
  distribution, or, for a local one, the digest of its file and the attributes the function
  names of it (:mod:`neuroxr._packages`); builtins and ufuncs by their path (and package); a
  builtin method by its path and the object it is bound to;
- a torch tensor by dtype, shape and a SHA-256 of its values; a pandas object by its class, dtypes
  (a categorical's categories in their order, which sets its codes), shape and a SHA-256 of ``pandas.util.hash_pandas_object`` of its values and index (and of its
  columns), and each object column or index level holding items other than strings (which pandas
  hashes as their text) by its items; a ``numpy.random.RandomState``, ``Generator`` or bit generator by its state.

Anything else (an object whose state lives outside Python attributes: a compiled extension's
type, or a class deriving from one) is ``{"unidentified": "<type path>"}``: its identity could
not tell two such values apart, so :func:`identified` is false and a provenance holding it is
never matched (:func:`neuroxr.entries.provenance.is_trusted`): the entry is computed every time.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import hashlib
import json
import platform
import sys
import types
from typing import Any

import numpy as np

__all__ = ["identity", "identified", "feed_values"]

#: arrays with more elements are recorded by hash, smaller ones by value
_INLINE_ELEMENTS = 64
_BLOCK = 1 << 24  # bytes hashed per update of an array (16 MiB)
_DATA = (str, bytes, bool, int, float, complex, type(None), np.ndarray, np.generic)
#: value types whose repr holds all their state (exact types: a subclass may add state)
_REPR = (bytes, bytearray, complex, range, slice, type(Ellipsis), datetime.date, datetime.datetime, datetime.time,
         datetime.timedelta, datetime.timezone, decimal.Decimal, np.dtype)
_BUILTIN = (types.BuiltinFunctionType, np.ufunc, type(np.mean), types.MethodWrapperType, types.WrapperDescriptorType,
            types.MethodDescriptorType, types.ClassMethodDescriptorType)  # type(np.mean): NumPy's dispatched functions
_C_DESCRIPTORS = (types.WrapperDescriptorType, types.MethodDescriptorType, types.ClassMethodDescriptorType)
#: class attributes that cannot change what an instance computes
_CLASS_SKIP = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__",
                         "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
                         "_abc_impl", "__abstractmethods__"})
_UNIDENTIFIED = "unidentified"
#: items of an object array recorded by their repr (exact types: a subclass may add state)
_PLAIN = (str, bytes, bool, int, float, complex, type(None))


def feed_values(h: Any, arr: np.ndarray) -> None:
    """Feed the row-major bytes of a numeric array to the hash ``h``, a block of rows at a time
    (``_BLOCK`` bytes; no copy of the whole array): the digest equals that of ``arr.tobytes()``."""
    arr = arr.reshape(1) if arr.ndim == 0 else arr
    step = max(1, _BLOCK // max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize))
    for i in range(0, int(arr.shape[0]), step):
        h.update(np.ascontiguousarray(arr[i : i + step]).reshape(-1).view(np.uint8))


def identity(value: Any) -> Any:
    """JSON-ready canonical identity of ``value`` (see the module docstring)."""
    return _Walk().identity(value, set())


def identified(ident: Any) -> bool:
    """Whether an identity (or any JSON-ready data holding identities) holds no
    ``{"unidentified": ...}`` part: only then may two equal identities be taken as one value."""
    if isinstance(ident, dict):
        return _UNIDENTIFIED not in ident and all(identified(x) for x in ident.values())
    if isinstance(ident, list):
        return all(identified(x) for x in ident)
    return True


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
                h.update(_const_repr(k).encode())

    feed(code)
    return h.hexdigest()[:16]


def _const_repr(k: Any) -> str:
    """``repr`` of a code constant, a frozenset's items sorted (``x in {"a", "b"}`` compiles to one,
    whose order varies with ``PYTHONHASHSEED``), also inside a tuple; any other constant as ``repr``."""
    if isinstance(k, frozenset):
        return "frozenset({" + ", ".join(sorted(map(_const_repr, k))) + "})" if k else "frozenset()"
    if isinstance(k, tuple) and _holds_frozenset(k):
        items = [_const_repr(x) for x in k]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(k)


def _holds_frozenset(k: tuple) -> bool:
    return any(isinstance(x, frozenset) or (isinstance(x, tuple) and _holds_frozenset(x)) for x in k)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for k in code.co_consts:
        if isinstance(k, types.CodeType):
            names |= _global_names(k)
    return names


def _json_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr).encode()).hexdigest()[:16]


def _compiled(cls: type) -> bool:
    """Whether ``cls`` is a compiled type (its instances may hold state outside ``__dict__`` and
    slots): a static type, or one whose own attributes are C descriptors, as an extension module's
    heap types have (a ``class`` statement makes functions, and member descriptors for its slots)."""
    if not cls.__flags__ & (1 << 9):  # Py_TPFLAGS_HEAPTYPE: a static (C) type
        return True
    slots = cls.__dict__.get("__slots__", ())
    slots = {slots} if isinstance(slots, str) else set(slots)
    for name, x in vars(cls).items():
        if isinstance(x, _C_DESCRIPTORS) or (name == "__new__" and isinstance(x, types.BuiltinFunctionType)):
            return True
        if isinstance(x, types.GetSetDescriptorType) and name not in ("__dict__", "__weakref__"):
            return True
        if isinstance(x, types.MemberDescriptorType) and not (name in slots or any(f"_{cls.__name__.lstrip('_')}{s}" == name for s in slots)):
            return True
    return False


def _slots(v: Any) -> dict[str, Any]:
    out = {}
    for cls in type(v).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            attr = f"_{cls.__name__.lstrip('_')}{name}" if name.startswith("__") and not name.endswith("__") else name
            try:
                out[attr] = getattr(v, attr)
            except AttributeError:  # a slot never set
                pass
    return out


class _Walk:
    """One identity computation: the packages resolved and the classes' code, computed once each."""

    def __init__(self) -> None:
        self._packages: Any = None
        self._code: dict[int, dict[str, Any]] = {}

    def package(self, module: str | None) -> str | None:
        """``name==version`` of the installed distribution(s) of ``module``; ``python==<version>``
        for the standard library; ``None`` for a local, editable or unknown module."""
        from ._packages import top

        name = top(module)
        if name in ("builtins", "__main__", ""):
            return f"python=={platform.python_version()}" if name == "builtins" else None
        if name in sys.stdlib_module_names:
            return f"python=={platform.python_version()}"
        return " ".join(self.packages().installed(module)) or None

    def packages(self) -> Any:
        if self._packages is None:
            from ._packages import Packages

            self._packages = Packages()
        return self._packages

    def class_code(self, cls: type, seen: set[int]) -> dict[str, Any]:
        """The code of ``cls`` and its bases (see the module docstring): ``packages`` and ``code``."""
        if id(cls) not in self._code:
            packages, local = set(), []
            for c in cls.__mro__:
                if c is object:
                    continue
                package = self.package(c.__module__)
                if package is not None:
                    packages.add(package)
                elif _compiled(c):
                    local.append({_UNIDENTIFIED: _path(c)})
                else:
                    local.append({"class": _path(c), "members": {
                        name: self.member(x, seen) for name, x in sorted(vars(c).items()) if name not in _CLASS_SKIP}})
            out: dict[str, Any] = {}
            if packages:
                out["packages"] = sorted(packages)
            if local:
                out["code"] = _json_hash(local) if identified(local) else {_UNIDENTIFIED: _path(cls)}
            self._code[id(cls)] = out
        return self._code[id(cls)]

    def member(self, x: Any, seen: set[int]) -> Any:
        if isinstance(x, (staticmethod, classmethod)):
            return {type(x).__name__: self.identity(x.__func__, seen)}
        if isinstance(x, property):
            return {"property": [self.identity(f, seen) for f in (x.fget, x.fset, x.fdel)]}
        if isinstance(x, types.MemberDescriptorType):  # a slot: its value is the instance's state
            return "slot"
        return self.identity(x, seen)

    def function(self, v: types.FunctionType, seen: set[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"callable": _path(v), "code": _code_hash(v.__code__)}
        if v.__defaults__:
            out["defaults"] = self.identity(list(v.__defaults__), seen)
        if v.__kwdefaults__:
            out["kwdefaults"] = self.identity(v.__kwdefaults__, seen)
        if v.__closure__:
            cells = []
            for cell in v.__closure__:
                try:
                    cells.append(self.identity(cell.cell_contents, seen))
                except ValueError:  # an empty cell
                    cells.append(None)
            out["closure"] = cells
        package = self.package(v.__module__)
        names = _global_names(v.__code__)
        if package is not None:  # installed code: its version covers the functions it calls
            out["package"] = package
            named = {k: x for k in names if k in v.__globals__ and isinstance(x := v.__globals__[k], (*_DATA, list, tuple, dict))}
        else:
            named = {k: v.__globals__[k] for k in names if k in v.__globals__}
        data = {k: (self.module(x, names, seen) if isinstance(x, types.ModuleType) else self.identity(x, seen))
                for k, x in sorted(named.items())}
        if data:
            out["globals"] = data
        return out

    def module(self, m: types.ModuleType, names: set[str], seen: set[int]) -> dict[str, Any]:
        """A module a function names: its distribution, else its file's digest and the attributes
        the function names of it."""
        package = self.package(m.__name__)
        if package is not None:
            return {"module": m.__name__, "package": package}
        if id(m) in seen:
            return {"ref": m.__name__}
        seen = seen | {id(m)}
        attrs = {k: (self.module(x, names, seen) if isinstance(x, types.ModuleType) else self.identity(x, seen))
                 for k in sorted(names & set(vars(m))) if (x := vars(m)[k]) is not m}
        return {"module": m.__name__, "file": self.packages().describe(m.__name__), "names": attrs}

    def identity(self, v: Any, seen: set[int]) -> Any:
        if v is None or isinstance(v, (str, bool, int, float)):
            return v
        if isinstance(v, np.generic):
            return v.item()
        if id(v) in seen:  # a cycle (a closure holding itself, a method naming its class): its path is enough
            return {"ref": _path(v)}
        seen = seen | {id(v)}
        if isinstance(v, type):
            return {"class": _path(v), **self.class_code(v, seen)}
        if hasattr(v, "get_params"):
            params = v.get_params(deep=True)
            return {"class": f"{type(v).__module__}.{type(v).__qualname__}", **self.class_code(type(v), seen),
                    "params": {str(k): self.identity(_real_spelled(v, params, str(k)), seen) for k in sorted(params)}}
        if isinstance(v, (dict, types.MappingProxyType)):
            if all(isinstance(k, str) for k in v):
                return {str(k): self.identity(x, seen) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
            # other keys by their identity (1 and "1" are other keys), in the order of their JSON
            items = [[self.identity(k, seen), self.identity(x, seen)] for k, x in v.items()]
            return {"dict": sorted(items, key=lambda kx: json.dumps(kx[0], sort_keys=True, default=repr))}
        if isinstance(v, (list, tuple)):
            return [self.identity(x, seen) for x in v]
        if isinstance(v, (set, frozenset)):
            items = [self.identity(x, seen) for x in v]
            return {"set": sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=repr))}
        if isinstance(v, np.ndarray):
            return self.array(v, seen)
        if isinstance(v, functools.partial):
            return {"partial": self.identity(v.func, seen), "args": self.identity(list(v.args), seen),
                    "keywords": self.identity(dict(v.keywords), seen)}
        if isinstance(v, types.MethodType):
            return {"method": self.identity(v.__func__, seen), "self": self.identity(v.__self__, seen)}
        if isinstance(v, types.FunctionType):
            return self.function(v, seen)
        if isinstance(v, types.ModuleType):
            return self.module(v, set(), seen)
        special = _special(v)
        if special is not None:
            return self.identity(special, seen)
        if isinstance(v, _BUILTIN):
            out = {"callable": _path(v)}
            owner = getattr(v, "__self__", None)
            if owner is not None and not isinstance(owner, types.ModuleType):  # a bound builtin method
                return {"method": out, "self": self.identity(owner, seen)}
            package = self.package(getattr(v, "__module__", None))
            return {**out, "package": package} if package and not package.startswith("python==") else out
        if type(v) in _REPR or isinstance(v, np.dtype):  # a dtype's type is its own subclass (Float32DType)
            return repr(v)
        if any(_compiled(c) for c in type(v).__mro__ if c is not object):
            return {_UNIDENTIFIED: _path(type(v))}
        state = {**_slots(v), **(vars(v) if hasattr(v, "__dict__") else {})}
        return {"object": _path(type(v)), **self.class_code(type(v), seen), "state": self.identity(state, seen)}

    def array(self, v: np.ndarray, seen: set[int]) -> dict[str, Any]:
        if v.dtype.byteorder not in "=|":  # byte order is no part of the values: '>f8' is recorded as float64
            v = v.astype(v.dtype.newbyteorder("="))
        if v.size <= _INLINE_ELEMENTS and v.dtype != object:
            out = {"array": v.tolist(), "dtype": str(v.dtype)}
            if v.size == 0:  # [] is the list of shapes (0,), (0, 2), (0, 3)...
                out["shape"] = list(v.shape)
        else:
            digest = hashlib.sha256()
            if v.dtype != object:
                feed_values(digest, np.asarray(v))
            elif all(type(x) in _PLAIN or isinstance(x, np.generic) for x in v.ravel().tolist()):
                digest.update(repr(v.tolist()).encode())  # a plain value's repr is all of it
            else:  # arrays (whose repr elides items past 1000), objects (whose repr is their address): by identity
                items = self.identity(v.tolist(), seen)
                if not identified(items):
                    return {_UNIDENTIFIED: "numpy.ndarray"}
                digest.update(_json_hash(items).encode())
            out = {"array_sha256": digest.hexdigest()[:16], "shape": list(v.shape), "dtype": str(v.dtype)}
        if isinstance(v, np.ma.MaskedArray):
            out["mask"] = self.array(np.ma.getmaskarray(v), seen)
        return out


def _real_spelled(est: Any, params: dict[str, Any], name: str) -> Any:
    """The value of parameter ``name`` of ``est`` (``a__b``: parameter ``b`` of ``params["a"]``) in
    one spelling where scikit-learn declares it a real number alone (``_parameter_constraints``: an
    ``Interval`` of ``Real`` or ``Real`` itself, none of ``Integral`` or ``RealNotInt``), so it
    computes alike as an int or a float: the type of the parameter's default, else float
    (``Ridge(alpha=1)`` is ``Ridge(alpha=1.0)``; ``KernelRidge(alpha=1.0)`` is its default
    ``alpha=1``). Any other value, or an integral number past 2**53, as given."""
    value = params[name]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) <= 2**53:
        return value
    owner_name, _, own = name.rpartition("__")
    owner = params.get(owner_name, est) if owner_name else est
    constraints = getattr(type(owner), "_parameter_constraints", None)
    if not isinstance(constraints, dict) or not _real_only(constraints.get(own, ())):
        return value
    default = _default(type(owner), own)
    if isinstance(default, int) and not isinstance(default, bool):
        return int(value) if float(value).is_integer() else value
    return float(value)


def _real_only(constraints: Any) -> bool:
    """Whether scikit-learn constraints accept real numbers and never tell an int from a float."""
    types_ = [c.type if type(c).__name__ == "Interval" else c for c in constraints
              if type(c).__name__ == "Interval" or isinstance(c, type)]
    names = {getattr(t, "__name__", "") for t in types_}
    return "Real" in names and not names & {"Integral", "RealNotInt", "int"}


def _default(cls: type, name: str) -> Any:
    import inspect

    try:
        return inspect.signature(cls.__init__).parameters[name].default
    except (KeyError, TypeError, ValueError):
        return None


def _special(v: Any) -> Any:
    """A value recorded by what sets its numbers, as plain data: a torch tensor, a pandas object, a
    numpy random state (see the module docstring); ``None`` for any other."""
    module = type(v).__module__ or ""
    if isinstance(v, (np.random.RandomState, np.random.Generator)):
        return {"random": type(v).__name__, "state": _random_state(v)}
    if isinstance(v, np.random.BitGenerator):
        return {"random": type(v).__name__, "state": v.state}
    if module.startswith("torch") and "torch" in sys.modules and isinstance(v, sys.modules["torch"].Tensor):
        return _tensor(v)
    if module.startswith("pandas") and "pandas" in sys.modules:
        return _pandas(v, sys.modules["pandas"])
    return None


def _random_state(v: Any) -> Any:
    return v.get_state(legacy=False) if isinstance(v, np.random.RandomState) else v.bit_generator.state


def _tensor(t: Any) -> Any:
    try:
        t = t.detach()
        if t.layout != sys.modules["torch"].strided:
            t = t.to_dense()
        flat = t.cpu().contiguous().reshape(-1)
        raw = flat.view(sys.modules["torch"].uint8).numpy()
    except (RuntimeError, TypeError, NotImplementedError):  # a meta or quantized tensor: no values to read
        return {_UNIDENTIFIED: _path(type(t))}
    h = hashlib.sha256()
    feed_values(h, raw)
    return {"tensor_sha256": h.hexdigest()[:16], "shape": list(t.shape), "dtype": str(t.dtype)}


def _pandas(v: Any, pd: Any) -> Any:
    if not isinstance(v, (pd.Series, pd.DataFrame, pd.Index)):
        return None  # other pandas objects: by the general rules
    try:
        h = hashlib.sha256()
        feed_values(h, pd.util.hash_pandas_object(v, index=not isinstance(v, pd.Index)).to_numpy())
        out = {"pandas": _path(type(v)), "sha256": h.hexdigest()[:16], "shape": list(v.shape)}
        if isinstance(v, pd.DataFrame):
            c = hashlib.sha256()
            feed_values(c, pd.util.hash_pandas_object(v.columns).to_numpy())
            out.update(columns=c.hexdigest()[:16], dtypes=[_pandas_dtype(d, pd) for d in v.dtypes])
        else:
            out["dtypes"] = [_pandas_dtype(v.dtype, pd)]
        mixed = _mixed_objects(v, pd)
        if mixed:
            out["objects"] = mixed
        names = [v.name] if not isinstance(v, pd.DataFrame) else []
        out["names"] = [repr(n) for n in [*names, *v.index.names]] if not isinstance(v, pd.Index) else [repr(n) for n in v.names]
        return out
    except TypeError:  # unhashable values (lists in an object column)
        return {_UNIDENTIFIED: _path(type(v))}


def _mixed_objects(v: Any, pd: Any) -> dict[str, Any]:
    """The object columns and index levels of ``v`` holding an item other than a string or ``None``,
    each by its items' identity: pandas hashes mixed items as their text (``1`` as ``"1"``)."""
    frames: dict[str, Any] = {}
    if isinstance(v, pd.DataFrame):
        frames.update({f"column {i}": v.iloc[:, i] for i in range(v.shape[1])})
        frames.update({f"columns {i}": v.columns.get_level_values(i) for i in range(v.columns.nlevels)})
    elif isinstance(v, pd.Series):
        frames["values"] = v
    index = v if isinstance(v, pd.Index) else v.index
    frames.update({f"index {i}": index.get_level_values(i) for i in range(index.nlevels)})
    parts: dict[str, Any] = {}
    for name, part in frames.items():
        items = np.asarray(part, dtype=object) if part.dtype == object else None
        if items is not None and not all(isinstance(x, str) or x is None for x in items.tolist()):
            parts[name] = _Walk().array(items, set())
    return parts


def _pandas_dtype(d: Any, pd: Any) -> str:
    """A pandas dtype as text: a categorical one with its categories, in their order, and whether
    they are ordered (its values' hash is of the values, not of their codes, which that order sets)."""
    if not isinstance(d, pd.CategoricalDtype) or d.categories is None:
        return str(d)
    h = hashlib.sha256()
    feed_values(h, pd.util.hash_pandas_object(d.categories, index=False).to_numpy())
    return f"category(ordered={bool(d.ordered)}, categories={h.hexdigest()[:16]}, n={len(d.categories)})"
