"""JSON descriptors of labeled objects and stores, and their check against neuroxr's JSON Schemas.

The JSON Schema documents (draft 2020-12) in the repository's top-level ``schemas/`` folder are the
written contract of neuroxr's layouts; the package ships identical copies in ``neuroxr/_schemas``
and loads those. A schema does not look at arrays directly: it checks a *descriptor*, a small
JSON document that :func:`describe` (objects) and :func:`describe_store` (stores) build:

.. code-block:: json

    {"type": "DataArray", "name": "V4", "dims": ["stimulus", "neuroid", "repeat"],
     "sizes": {"stimulus": 64, "neuroid": 40, "repeat": 4}, "dtype": "float32", "kind": "float",
     "lazy": false,
     "coords": {"stimulus_id": {"dims": ["stimulus"], "dtype": "<U6", "kind": "string",
                                "size": 64, "unique": true}, "...": {}},
     "attrs": {}, "values": {"n_nan": 3, "n_inf": 0}}

The validators of :mod:`neuroxr.layouts` enforce the same contract in Python (with more detailed
messages); a test keeps the two in agreement.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from .attrs import decode_attrs
from .errors import LayoutError, ParameterError, warn
from .layouts import validate_features, validate_metric, validate_neural, validate_scores
from .store import DATA_VAR, StoreError, StudyStore, _jsonable
from .store.study import as_store

__all__ = [
    "SCHEMA_NAMES",
    "describe",
    "describe_store",
    "load_schema",
    "schema_violations",
    "validate_against_schema",
    "validate_store",
]

#: the schema documents, ``<name>.schema.json``
SCHEMA_NAMES = ("neural", "features", "scores", "metric", "store")
_PACKAGE_DIR = "_schemas"


# ---------------------------------------------------------------------------- loading
@functools.cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files("neuroxr").joinpath(_PACKAGE_DIR, f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema document ``name`` as a dict.

    Parameters
    ----------
    name : {"neural", "features", "scores", "metric", "store"}
        Which layout.

    Returns
    -------
    dict
        A fresh copy of the schema (draft 2020-12), safe to modify.
    """
    if name not in SCHEMA_NAMES:
        raise ParameterError(f"unknown schema {name!r}; choose one of {SCHEMA_NAMES}.")
    return copy.deepcopy(_load(name))


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    registry: Registry = Registry().with_resources(
        (_load(n)["$id"], Resource.from_contents(_load(n))) for n in SCHEMA_NAMES
    )
    return Draft202012Validator(_load(name), registry=registry)


# ---------------------------------------------------------------------------- descriptors
def _kind(dtype: np.dtype, values: Any = None) -> str:
    k = dtype.kind
    if k == "O":
        if values is None:
            return "object"
        flat = np.asarray(values).ravel().tolist()
        return "string" if all(isinstance(v, str) for v in flat) else "object"
    return {
        "f": "float",
        "i": "int",
        "u": "uint",
        "b": "bool",
        "c": "complex",
        "U": "string",
        "T": "string",
        "S": "bytes",
        "M": "datetime",
        "m": "timedelta",
    }.get(k, "other")


def _is_lazy(var: xr.DataArray | xr.Variable) -> bool:
    return var.chunks is not None


def _describe_variable(var: xr.DataArray | xr.Variable, load: bool) -> dict[str, Any]:
    """Dims, dtype, kind and size of one variable; ``unique`` for loaded 1-D variables."""
    out: dict[str, Any] = {
        "dims": [str(d) for d in var.dims],
        "dtype": str(var.dtype),
        "size": int(var.size),
    }
    values = np.asarray(var.values) if load else None
    out["kind"] = _kind(var.dtype, values)
    if values is not None and values.ndim == 1:
        try:
            out["unique"] = bool(pd.Index(values).is_unique)
        except TypeError:  # unhashable values
            out["unique"] = False
    return out


def _values_summary(da: xr.DataArray) -> dict[str, int]:
    if da.dtype.kind not in "fc":
        return {"n_nan": 0, "n_inf": 0}
    n_nan, n_inf = np.isnan(da).sum(), np.isinf(da).sum()  # lazy for dask-backed data
    if _is_lazy(da):
        import dask

        n_nan, n_inf = dask.compute(n_nan, n_inf)
    return {"n_nan": int(n_nan), "n_inf": int(n_inf)}


def describe(obj: xr.DataArray | xr.Dataset, *, values: bool | None = None) -> dict[str, Any]:
    """A JSON-serialisable descriptor of a DataArray or Dataset (what the schemas check).

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        Any labeled object; nothing about its layout is assumed.
    values : bool, optional
        Add ``"values": {"n_nan": int, "n_inf": int}`` for a DataArray. Default: only when its data
        are in memory (``True`` computes dask-backed data too; ``False`` never).

    Returns
    -------
    dict
        ``type`` ("DataArray"/"Dataset"), ``dims`` (in order), ``sizes``, ``coords`` (name ->
        ``{"dims", "dtype", "kind", "size", "unique"}``), ``attrs`` (decoded: :func:`neuroxr.attrs.decode_attrs`); for a DataArray also
        ``name``, ``dtype``, ``kind``, ``lazy`` and optionally ``values``; for a Dataset
        ``data_vars`` (name -> variable descriptor). ``kind`` is one of float, int, uint, bool,
        complex, string, bytes, object, datetime, timedelta, other.
    """
    if not isinstance(obj, (xr.DataArray, xr.Dataset)):
        raise LayoutError(f"describe: expected an xarray.DataArray or Dataset, got {type(obj).__name__}.")
    coords = {str(n): _describe_variable(c.variable, load=True) for n, c in obj.coords.items()}
    out: dict[str, Any] = {
        "type": type(obj).__name__,
        "dims": [str(d) for d in obj.dims],
        "sizes": {str(d): int(s) for d, s in obj.sizes.items()},
    }
    if isinstance(obj, xr.DataArray):
        lazy = _is_lazy(obj)
        out.update(
            name=None if obj.name is None else str(obj.name),
            dtype=str(obj.dtype),
            kind=_kind(obj.dtype, None if lazy else obj.values),
            lazy=lazy,
        )
        out["coords"] = coords
        out["attrs"] = _jsonable(decode_attrs(obj.attrs))
        if values or (values is None and not lazy):
            out["values"] = _values_summary(obj)
    else:
        out["data_vars"] = {
            str(n): _describe_variable(v.variable, load=not _is_lazy(v)) for n, v in obj.data_vars.items()
        }
        out["coords"] = coords
        out["attrs"] = _jsonable(decode_attrs(obj.attrs))
    return out


_ENTRY_DEPTH = {"neural": 2, "features": 3, "scores": 3, "metrics": 3, "cache": 2, "inference": 3}
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")


def _store_entries(store: StudyStore) -> list[tuple[str, str, bool]]:
    """Every entry as ``(kind, path, complete)``: neural, feature and cache entries as the store lists
    them; score and metric entries as :func:`neuroxr.entries.layout.iter_entries` walks them (one
    group per provenance key under each pair, or a 0.1.0 entry at the pair path), and the unfinished
    ones the store's walk finds that it does not list (the inventory lacks them)."""
    from .entries.layout import iter_entries

    walked = store.entries()
    out = [(k, p, c) for k, p, c in walked if k in ("neural", "features", "cache")]
    out += [(e["path"].split("/")[0], e["path"], e["complete"]) for e in iter_entries(store) if e["kind"] != "gram"]
    # an unfinished entry the inventory does not know (made by hand, or its writer was killed before it
    # recorded it) is one all the same: the walk found it
    listed = {p for _, p, _ in out}
    out += [(k, p, c) for k, p, c in walked if k in ("scores", "metrics", "inference") and not c and p not in listed]
    return out


def _entry_object(store: StudyStore, kind: str, path: str, found: Any = None,
                  values: bool = True) -> xr.DataArray | xr.Dataset:
    """The complete entry ``path`` as :meth:`~neuroxr.store.StudyStore.read_dataset` reads it (``found``:
    a reading of it, :meth:`~neuroxr.store.StudyStore.examine`); a neural or feature set as its DataArray.
    ``values=False``: for its layout alone (:meth:`~neuroxr.store.StudyStore.read_layout`: the same checks, no data read)."""
    found = store.examine(path, fetch=True) if found is None else found
    ds = store.read_dataset(found) if values else store.read_layout(found)
    if kind in ("neural", "features"):
        if DATA_VAR not in ds.data_vars:
            raise StoreError(
                f"entry {path!r} has no variable {DATA_VAR!r} (found {sorted(map(str, ds.data_vars))}); "
                f"write it with write_{kind}()."
            )
        da = ds[DATA_VAR]
        da.attrs = dict(ds.attrs)
        return da.rename(path)
    return ds


def describe_store(store: StudyStore | str, *, values: bool = False) -> dict[str, Any]:
    """A JSON-serialisable descriptor of a study store (what ``store.schema.json`` checks).

    Parameters
    ----------
    store : StudyStore or str
        The store, or its URL (opened read-only).
    values : bool, default False
        Compute the NaN/inf counts of every neural and feature entry (reads all data).

    Returns
    -------
    dict
        ``{"type": "StudyStore", "url", "attrs", "groups": [top-level names],
        "neural": {name: entry}, "features": {model: {layer: entry}},
        "scores": {direction: {"<source>__<target>": entry}}, "metrics": {metric: {"<source>__<target>"
        or "<source>": entry}}, "cache": {subpath: entry}}``. An entry is ``{"path", "complete",
        "attrs"}`` plus, when complete and readable, ``"array"`` (neural, features: :func:`describe`
        of the stored DataArray) or ``"dataset"`` (scores, metrics, cache), or ``"error"`` when it
        could not be opened.
    """
    return _describe_store(store, values)[0]


def _describe_store(store: StudyStore | str, values: bool, objects: dict[str, Any] | None = None,
                    intact: set[str] | None = None) -> tuple[dict[str, Any], list[tuple[str, str, bool]]]:
    """:func:`describe_store`'s descriptor and the entries it walked (:func:`_store_entries`).
    ``objects``: filled with each complete entry as read (:func:`_entry_object`), or the exception
    its read raised, by path, for a check that looks at them next without opening them again.
    ``intact``: filled with the paths of the complete feature layers read whose reading found no damage
    (as :meth:`~neuroxr.StudyStore.read_set_index` refuses), from the reads above."""
    store = as_store(store, "r")
    root = zarr.open_group(store._zstore, mode="r")  # fresh: attrs may have changed since opening
    out: dict[str, Any] = {
        "type": "StudyStore",
        "url": store.url,
        "attrs": _jsonable(dict(root.attrs)),
        "groups": [str(n) for n, _ in store._child_docs("")],  # one whose document is not JSON too (Zarr's would fail)
        "neural": {},
        "features": {},
        "scores": {},
        "metrics": {},
        "cache": {},
        "inference": {},
    }
    entries = _store_entries(store)

    def read(item: tuple[str, str, bool]) -> tuple[Any, Any]:
        kind, path, complete = item
        found = store.examine(path, fetch=True)  # its document: read once, for its attrs and its open
        if not complete:
            return found, None
        try:
            return found, _entry_object(store, kind, path, found, values=values)
        except Exception as exc:  # report, do not stop the walk
            return found, exc

    with ThreadPoolExecutor(max_workers=8) as pool:  # opening many small entries is latency-bound
        opened = list(pool.map(read, entries))
    for (kind, path, complete), (found, obj) in zip(entries, opened):
        entry: dict[str, Any] = {
            "path": path,
            "complete": complete,
            "attrs": _jsonable(dict((found.doc or {}).get("attributes") or {})),
        }
        if complete:
            if objects is not None:
                objects[path] = obj
            if intact is not None and kind == "features" and not isinstance(obj, Exception) and found.problem is None:
                intact.add(path)  # its damage was found by its open: nothing read again
            if isinstance(obj, Exception):
                entry["error"] = f"{type(obj).__name__}: {obj}"
            else:
                try:
                    key = "array" if isinstance(obj, xr.DataArray) else "dataset"
                    entry[key] = describe(obj, values=values if key == "array" else None)
                except Exception as exc:  # report, do not stop the walk
                    entry["error"] = f"{type(exc).__name__}: {exc}"
        parts = path.split("/")
        if kind == "cache":
            out["cache"]["/".join(parts[1:])] = entry
        elif kind == "neural":
            out["neural"][parts[1]] = entry
        elif kind in ("scores", "metrics", "inference") and len(parts) == 4:  # <stage>/<kind>/<pair>/<key>
            out[kind].setdefault(parts[1], {}).setdefault(parts[2], {})[parts[3]] = entry
        else:
            out[kind].setdefault(parts[1], {})[parts[2]] = entry
    return out, entries


# ---------------------------------------------------------------------------- checking
def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _message(error: ValidationError) -> str:
    msg = error.message
    if error.validator == "const":
        msg = f"{msg}; found {_short(error.instance)}"
    if error.validator == "oneOf" and isinstance(error.instance, Mapping):
        msg = f"{_short(error.instance)} does not match exactly one of the allowed forms"
    description = None
    if isinstance(error.schema, Mapping) and "$id" not in error.schema:  # not a whole document's
        description = error.schema.get("description")
    if error.validator == "not" and description:
        return f"{description}: {error.instance}"
    if description:
        msg = f"{description} ({msg})"
    return msg


def _iter_errors(descriptor: Mapping[str, Any], name: str) -> list[ValidationError]:
    errors = list(_validator(name).iter_errors(descriptor))
    return sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])


def _descriptor(obj: Any, kind: str, values: bool | None) -> Mapping[str, Any]:
    if isinstance(obj, Mapping) and not isinstance(obj, (xr.Dataset, StudyStore)):
        return obj
    if kind == "store":
        return describe_store(obj, values=bool(values))
    return describe(obj, values=values)


def schema_violations(obj: Any, kind: str, *, values: bool | None = None) -> list[str]:
    """Every way ``obj`` breaks the JSON Schema ``kind``, as readable lines (empty if none).

    Parameters
    ----------
    obj : DataArray, Dataset, StudyStore, str (store URL) or dict (a descriptor)
        What to check.
    kind : {"neural", "features", "scores", "metric", "store"}
        Which schema.
    values : bool, optional
        Passed to :func:`describe` / :func:`describe_store`.

    Returns
    -------
    list of str
        ``"<where>: <what is wrong> (<detail>)"``, where ``<where>`` is the path inside the
        descriptor (e.g. ``coords/neuroid_id/kind``).
    """
    if kind not in SCHEMA_NAMES:
        raise ParameterError(f"unknown schema {kind!r}; choose one of {SCHEMA_NAMES}.")
    descriptor = _descriptor(obj, kind, values)
    out = []
    for error in _iter_errors(descriptor, kind):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        out.append(f"{where}: {_message(error)}")
    return out


def validate_against_schema(obj: Any, kind: str, *, values: bool | None = None) -> dict[str, Any]:
    """Check ``obj`` against the JSON Schema ``kind``; return its descriptor or raise.

    Parameters
    ----------
    obj : DataArray, Dataset, StudyStore, str (store URL) or dict (a descriptor)
    kind : {"neural", "features", "scores", "metric", "store"}
    values : bool, optional
        Passed to :func:`describe` / :func:`describe_store`.

    Returns
    -------
    dict
        The descriptor that was checked.

    Raises
    ------
    LayoutError
        Listing every violation.
    """
    if kind not in SCHEMA_NAMES:
        raise ParameterError(f"unknown schema {kind!r}; choose one of {SCHEMA_NAMES}.")
    descriptor = dict(_descriptor(obj, kind, values))
    problems = schema_violations(descriptor, kind)
    if problems:
        raise LayoutError(
            f"does not follow the {kind} schema ({len(problems)} violations):\n  " + "\n  ".join(problems)
        )
    return descriptor


_PYTHON_VALIDATORS = {
    "neural": validate_neural,
    "features": validate_features,
    "scores": validate_scores,
    "metrics": validate_metric,
}


def validate_store(store: StudyStore | str, *, values: bool = False) -> list[str]:
    """Check a whole study store; return its violations as readable lines (empty if it is valid).

    Checks the group hierarchy and names (``store.schema.json``), that every entry's write
    finished, and that every complete entry follows its layout (the package validators and the
    JSON Schemas). A feature layer reduced by an earlier revision that a re-run of extraction
    refuses (:func:`~neuroxr.extract.reduce.stored_revision_problem`: its values are less precise
    than this neuroxr computes them, or differ) is no violation, as an entry of an older revision
    is none: it is valid, and what was computed on it is right for its values; each such layer is
    one ``NeuroxrWarning`` naming it, its reduction's revision and how to recompute it. Likewise a
    relative layer (``neuroxr relative``) whose source layer was rewritten or deleted after it was computed
    (:func:`~neuroxr.geometry.relative.stale_source_problem`) is one warning, not a violation, and so is
    a model whose layers record different extractions (other weights, preprocessing or stimuli:
    :func:`~neuroxr.extract.identity.mixed_extraction_problem`).

    Parameters
    ----------
    store : StudyStore or str
        The store or its URL (opened read-only).
    values : bool, default False
        Also check values (no inf in neural sets, finite features); reads all data.

    Returns
    -------
    list of str
        One line per violation, each starting with the entry path, e.g.
        ``"scores/forward/alexnet.conv3__V4: the entry's write did not finish ..."``.
    """
    problems, earlier, stale, mixed = _check_store(store, values=values)
    for note in earlier + stale + mixed:
        warn(note)
    return problems


def _edited_provenance(store: StudyStore) -> list[tuple[str, str]]:
    """The complete keyed entries whose stored provenance (absent included) does not hash to the key
    they lie under, or whose attrs do not hash to the digest recorded at the write: their attrs were
    edited after the write (the parameters, input tokens or statistics they show, e.g. a Gram's
    ``max_abs``, are not those of their numbers)."""
    from .entries import provenance as _p
    from .entries.layout import iter_entries, misplaced

    fix = "delete it (StudyStore.invalidate) and compute it again"
    out = []
    for e in iter_entries(store):
        if not e["complete"] or not e["key"]:
            continue
        if not _p.keys_match(e["provenance"], e["key"]):
            out.append((e["path"], f"its provenance does not hash to its key {e['key']!r} (its attrs were edited after it "
                        f"was written, so the parameters and inputs it shows are not those of its numbers); {fix}"))
        elif misplaced(e["provenance"], e["kind"], e["source"], e["target"]):
            prov = e["provenance"]
            named = f"{prov.get('kind')} {prov.get('source')}" + (f" -> {prov.get('target')}" if prov.get("target") else "")
            out.append((e["path"], f"it lies under another pair than its provenance names ({named}): its folder was moved "
                        f"or copied by hand, so its numbers are not this pair's; {fix}"))
        elif e["edited"]:
            out.append((e["path"], f"its attrs were edited after it was written (they no longer hash to the digest "
                        f"recorded then, or that digest or its version token, which its writer records, is gone; so values "
                        f"it shows or that later computations read from it are not its own); {fix}"))
    return out


def _check_store(store: StudyStore | str, *, values: bool = False,
                 walked: list[tuple[str, str, bool]] | None = None) -> tuple[list[str], list[str], list[str], list[str]]:
    """:func:`validate_store`'s violations, its notes of layers reduced by an earlier revision
    (one line each, :func:`~neuroxr.extract.reduce.stored_revision_problem`), of relative layers whose
    source layer changed since (:func:`~neuroxr.geometry.relative.stale_source_problem`) and of models
    whose complete, intact layers record different extractions (:func:`~neuroxr.extract.identity.layer_identities`),
    without warning. ``walked``: filled with the entries it walked (:func:`_store_entries`), for a count."""
    from .extract.identity import layer_identities
    from .extract.reduce import stored_revision_problem
    from .geometry.relative import stale_source_problem

    store = as_store(store, "r")
    objects: dict[str, Any] = {}  # each complete entry opened once, for the descriptor and the checks below
    intact: set[str] = set()  # and those of them found undamaged
    descriptor, entries = _describe_store(store, values, objects, intact)
    if walked is not None:
        walked.extend(entries)
    earlier = [note for model, layers in descriptor["features"].items() for layer, entry in layers.items()
               if "array" in entry and (note := stored_revision_problem(
                   f"features/{model}/{layer}", entry["attrs"], entry["array"]["dtype"])) is not None]
    stale = [note for model, layers in descriptor["features"].items() for layer, entry in layers.items()  # complete
             if entry.get("complete") and (note := stale_source_problem(store, f"features/{model}/{layer}", entry.get("attrs") or {}))]
    mixed = [note for model, layers in descriptor["features"].items()  # of complete, intact layers only
             if (note := layer_identities(store, model, {layer: entry["attrs"] if entry["path"] in intact else None
                                                         for layer, entry in layers.items()})[1])]

    from .entries.kinds import TIME_KINDS
    from .predictivity.generalization import validate_generalization

    # precise messages from the package validators, per complete entry
    python: dict[str, str] = {}
    unreadable: set[str] = set()
    for kind, path, complete in entries:
        if not complete or kind not in _PYTHON_VALIDATORS:
            continue
        try:
            obj = objects[path]
            if isinstance(obj, Exception):  # its open failed: as if opened now
                raise obj
            if kind == "scores" and path.split("/")[1] in TIME_KINDS:
                validate_generalization(obj, name=path)
            elif kind in ("scores", "metrics"):
                _PYTHON_VALIDATORS[kind](obj, name=path)
            else:
                _PYTHON_VALIDATORS[kind](obj, name=path, check_values=False)
            if kind == "metrics" and obj.attrs.get("metric") != path.split("/")[1]:
                raise LayoutError(
                    f"{path}: attr 'metric' is {obj.attrs.get('metric')!r} but the entry lies under "
                    f"metrics/{path.split('/')[1]}/; recompute it with neuroxr.entries.compute(overwrite=True)."
                )
        except (LayoutError, ParameterError, StoreError) as exc:
            python[path] = str(exc) if str(exc).startswith(path) else f"{path}: {exc}"
            if isinstance(exc, StoreError):  # it could not be read: for damage the scan below names
                unreadable.add(path)
    edited = {path: f"{path}: {problem}" for path, problem in _edited_provenance(store) if path not in python}
    damaged = [(path, problem) for path, problem in store.damaged(values=values)]
    reported: set[str] = unreadable & {path for path, _ in damaged}  # said once, by the scan (with its fix)

    out: list[str] = []
    for error in _iter_errors(descriptor, "store"):
        parts = [str(p) for p in error.absolute_path]
        if "propertyNames" in error.absolute_schema_path:  # the offending name is the instance
            parts.append(str(error.instance))
        top = parts[0] if parts else ""
        depth = _ENTRY_DEPTH.get(top)
        if top in ("scores", "metrics", "inference") and len(parts) >= 4 and _KEY_RE.match(parts[3]):
            depth = 4
        if depth is not None and len(parts) >= depth:
            entry = "/".join(parts[:depth])
            rest = [p for p in parts[depth:] if p not in ("array", "dataset")]
        else:
            entry, rest = "(store)", parts
        if top == "cache" and len(parts) >= 2:
            entry = f"cache/{parts[1]}"
        if entry in python:
            if entry not in reported:
                out.append(python[entry])
                reported.add(entry)
            continue
        where = f"{entry}: {'/'.join(rest)}: " if rest else f"{entry}: "
        out.append(where + _message(error))
    for path, message in python.items():  # checks the schema cannot express
        if path not in reported:
            out.append(message)
    # attrs edited after the write, where nothing more precise named the entry
    out.extend(m for path, m in edited.items() if not any(line.startswith(f"{path}:") for line in out))
    # damage a reader would not notice (lost metadata documents, lost chunks, missing variables); each
    # problem ends with its own fix (an entry, a set, a group above others, an unfinished swap)
    out.extend(f"{path}: damaged: {problem}" for path, problem in damaged)
    return out, earlier, stale, mixed
