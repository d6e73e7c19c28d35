"""The Zarr study store: one store holds one study.

Layout (see ``schemas/store.schema.json``)::

    neural/<name>                         stimulus x neuroid x repeat (whole stimulus axis per chunk)
    features/<model>/<layer>              stimulus x unit (whole stimulus axis, units chunked)
    scores/<direction>/<source>__<target> labeled score dataset + attrs
    metrics/<metric>/<source>__<target>   geometry metric of a pair (crsa, ersa, ereg, shape, cka)
    metrics/dimensionality/<source>       effective dimensionality of one set
    cache/gram/<model>/<layer>            cached Gram matrices (reused by later scores)

Every entry is a Zarr group written by xarray. An entry is *complete* only once the group
attribute ``neuroxr_complete`` is true; that attribute is written last, after all data, and is
removed first when an entry is overwritten. A reader never lists or opens an entry without it, so
a job killed mid-write leaves an entry that later runs treat as absent and rewrite.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import xarray as xr
import zarr

from .layouts import (
    METRICS,
    SINGLE_SET_METRICS,
    LayoutError,
    validate_features,
    validate_metric,
    validate_neural,
    validate_scores,
)

__all__ = ["StudyStore", "open_store", "StoreError", "COMPLETE_ATTR"]

COMPLETE_ATTR = "neuroxr_complete"
#: version token of a completed group (a fresh uuid4 per write)
TOKEN_ATTR = "neuroxr_token"
STORE_VERSION_ATTR = "neuroxr_store_version"
STORE_VERSION = 1
DATA_VAR = "data"
#: A name of a neural set, model, layer, direction, score source or target: starts with a letter or
#: digit, then letters, digits, '.', '-' and single '_' (no '__', which separates source and
#: target, and no trailing '_'). The same pattern is in ``schemas/store.schema.json``.
NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]|_(?=[A-Za-z0-9.\-]))*$"
_NAME_RE = re.compile(NAME_PATTERN)
#: top-level groups of a study store
TOP_GROUPS = ("neural", "features", "scores", "metrics", "cache")


from .errors import StoreError  # noqa: E402


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise StoreError(
            f"invalid {what} name {value!r}: use letters, digits, '.', '-' and single '_' "
            f"(start with a letter or digit; no '/', no '__', no trailing '_'), e.g. 'conv3_1' or 'layer4.0'."
        )
    return value


def _zarr_store(url: str, read_only: bool, storage_options: Mapping[str, Any] | None) -> Any:
    """A Zarr store for a local path, a ``file://`` URL or any other fsspec URL."""
    from zarr.storage import FsspecStore, LocalStore

    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" not in url:
        if read_only and not os.path.isdir(url):
            raise StoreError(f"no study store at {url!r} (the folder does not exist).")
        return LocalStore(url, read_only=read_only)
    return FsspecStore.from_url(url, storage_options=dict(storage_options or {}), read_only=read_only)


def _jsonable(value: Any) -> Any:
    """Turn attrs into what Zarr's JSON attributes accept (numpy scalars, tuples, None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class StudyStore:
    """A study store on Zarr (local path or any fsspec URL that zarr accepts).

    Parameters
    ----------
    url : str or os.PathLike
        Where the store lives. Created if absent (unless ``mode="r"``).
    mode : {"a", "r"}
        ``"a"`` reads and writes; ``"r"`` only reads (every write raises :class:`StoreError`).
    storage_options : mapping, optional
        Passed to fsspec for remote URLs (``s3://``, ``gs://``, ``memory://`` ...).

    Examples
    --------
    >>> store = StudyStore("study.zarr")                        # doctest: +SKIP
    >>> store.write_neural("monkeyA", responses)                 # doctest: +SKIP
    >>> store.write_features("alexnet", "conv3", feats)          # doctest: +SKIP
    >>> store.inventory()                                        # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | os.PathLike,
        mode: str = "a",
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if mode not in ("a", "r"):
            raise ValueError(f"mode must be 'a' or 'r'; got {mode!r}.")
        self.url = os.fspath(url)
        self.mode = mode
        self._zstore = _zarr_store(self.url, mode == "r", storage_options)
        if mode == "r":
            try:
                self._root = zarr.open_group(self._zstore, mode="r")
            except Exception as exc:  # zarr raises several kinds here
                raise StoreError(f"no study store at {self.url!r} ({exc}).") from exc
        else:
            self._root = zarr.open_group(self._zstore, mode="a")
            if STORE_VERSION_ATTR not in self._root.attrs:
                self._root.attrs[STORE_VERSION_ATTR] = STORE_VERSION

    def __repr__(self) -> str:
        inv = self.inventory()
        return (
            f"<StudyStore {self.url!r}: {len(inv['neural'])} neural sets, "
            f"{sum(len(v) for v in inv['features'].values())} feature sets, "
            f"{sum(len(v) for v in inv['scores'].values())} score entries, "
            f"{sum(len(v) for v in inv['metrics'].values())} metric entries>"
        )

    # ------------------------------------------------------------------ primitives
    def _group(self, path: str) -> zarr.Group | None:
        try:
            node = self._root[path]
        except KeyError:
            return None
        return node if isinstance(node, zarr.Group) else None

    def is_complete(self, path: str) -> bool:
        """Whether the entry at ``path`` exists and its write finished."""
        g = self._group(path)
        return bool(g is not None and g.attrs.get(COMPLETE_ATTR, False))

    def mark_complete(self, path: str) -> None:
        """Mark the entry at ``path`` complete (call only after all its data are written)."""
        self._require_write()
        g = self._group(path)
        if g is None:
            raise StoreError(f"store {self.url!r}: cannot mark {path!r} complete: it does not exist.")
        # a fresh version token with every completed write: entries record the tokens of the sets they read
        g.attrs.update({TOKEN_ATTR: uuid.uuid4().hex, COMPLETE_ATTR: True})

    def token(self, path: str) -> str | None:
        """The version token of the complete group ``path``: it changes on every rewrite.

        ``None`` when ``path`` is absent, incomplete, or was written before tokens existed (0.1.0).
        """
        g = self._group(path)
        if g is None or not g.attrs.get(COMPLETE_ATTR, False):
            return None
        tok = g.attrs.get(TOKEN_ATTR)
        return str(tok) if tok else None

    def invalidate(self, path: str) -> None:
        """Drop the completion marker of ``path`` (first step of any overwrite), then delete it."""
        self._require_write()
        g = self._group(path)
        if g is None:
            return
        if COMPLETE_ATTR in g.attrs:
            del g.attrs[COMPLETE_ATTR]
        parent, _, leaf = path.rpartition("/")
        parent_group = self._root if not parent else self._group(parent)
        del parent_group[leaf]

    def _require_write(self) -> None:
        if self.mode == "r":
            raise StoreError(f"store {self.url!r} is open read-only; open it with mode='a' to write.")

    def write_dataset(self, path: str, ds: xr.Dataset, encoding: Mapping[str, Any] | None = None) -> None:
        """Write ``ds`` as the entry ``path`` atomically as seen by readers (data, then marker)."""
        self._require_write()
        self.invalidate(path)
        ds = ds.copy(deep=False)
        ds.attrs = _jsonable({k: v for k, v in ds.attrs.items() if k not in (COMPLETE_ATTR, TOKEN_ATTR)})
        for name in list(ds.variables):
            if ds[name].dtype.kind in "UT":  # variable-length UTF-8 has a Zarr v3 spec; fixed <U does not
                ds[name] = ds[name].copy(data=np.asarray(ds[name].values, dtype=object))
            ds[name].attrs = _jsonable(dict(ds[name].attrs))
            # xarray refuses to re-encode variables that carry a previous zarr encoding
            ds[name].encoding = {}
        encoding = {k: dict(v) for k, v in (encoding or {}).items()}
        for name, enc in encoding.items():
            # dask chunks must tile the Zarr chunks: rechunk lazy data to the chunks it is stored with
            if "chunks" in enc and name in ds and ds[name].chunks is not None:
                ds[name] = ds[name].chunk(dict(zip(ds[name].dims, enc["chunks"])))
        ds.to_zarr(self._zstore, group=path, mode="w", consolidated=False, encoding=encoding)
        self.mark_complete(path)

    def read_dataset(self, path: str) -> xr.Dataset:
        """Open the complete entry ``path`` lazily (dask-backed)."""
        if not self.is_complete(path):
            exists = self._group(path) is not None
            why = "its write did not finish (a killed job?); rewrite it" if exists else "it does not exist"
            raise StoreError(f"store {self.url!r}: entry {path!r} cannot be read: {why}.")
        ds = xr.open_zarr(self._zstore, group=path, consolidated=False)
        ds.attrs.pop(COMPLETE_ATTR, None)
        ds.attrs.pop(TOKEN_ATTR, None)
        # coords are small: load them, and give strings back their numpy str dtype
        coords = {}
        for name, c in ds.coords.items():
            values = c.values
            coords[name] = (c.dims, np.array(values.tolist(), dtype=str) if values.dtype.kind in "OT" else values, c.attrs)
        ds = ds.assign_coords(coords)
        return ds

    # ------------------------------------------------------------------ neural sets
    def write_neural(self, name: str, da: xr.DataArray) -> str:
        """Store a neural-response array as ``neural/<name>``; returns the entry path."""
        name = _check_name(name, "neural set")
        da = validate_neural(da, name=f"neural set {name!r}")
        path = f"neural/{name}"
        ds = da.rename(None).to_dataset(name=DATA_VAR)
        ds.attrs.update(da.attrs)
        chunks = (da.sizes["stimulus"], min(da.sizes["neuroid"], 4096), da.sizes["repeat"])
        self.write_dataset(path, ds, encoding={DATA_VAR: {"chunks": chunks}})
        return path

    def read_neural(self, name: str) -> xr.DataArray:
        """The neural set ``name`` as a lazy DataArray ``stimulus x neuroid x repeat``."""
        return self._read_array(f"neural/{name}", name)

    # ------------------------------------------------------------------ feature sets
    def write_features(
        self, model: str, layer: str, da: xr.DataArray, unit_chunk: int = 4096
    ) -> str:
        """Store a feature array as ``features/<model>/<layer>`` with the unit axis chunked."""
        model, layer = _check_name(model, "model"), _check_name(layer, "layer")
        da = validate_features(da, name=f"features {model}/{layer}")
        da = da.assign_coords(model=model, layer=layer)
        path = f"features/{model}/{layer}"
        ds = da.rename(None).to_dataset(name=DATA_VAR)
        ds.attrs.update(da.attrs)
        chunks = (da.sizes["stimulus"], max(1, min(int(unit_chunk), da.sizes["unit"])))
        self.write_dataset(path, ds, encoding={DATA_VAR: {"chunks": chunks}})
        self.invalidate(f"cache/gram/{model}/{layer}")
        return path

    def read_features(self, model: str, layer: str) -> xr.DataArray:
        """The feature set ``(model, layer)`` as a lazy DataArray ``stimulus x unit``."""
        return self._read_array(f"features/{model}/{layer}", f"{model}/{layer}")

    def _read_array(self, path: str, label: str) -> xr.DataArray:
        ds = self.read_dataset(path)
        da = ds[DATA_VAR]
        da.attrs = dict(ds.attrs)
        return da.rename(label)

    # ------------------------------------------------------------------ scores
    @staticmethod
    def score_path(direction: str, source: str, target: str) -> str:
        """``scores/<direction>/<source>__<target>`` with names checked."""
        direction = _check_name(direction, "direction")
        _check_name(source, "score source")
        _check_name(target, "score target")
        return f"scores/{direction}/{source}__{target}"

    def write_scores(self, direction: str, source: str, target: str, ds: xr.Dataset) -> str:
        """Store a score dataset as ``scores/<direction>/<source>__<target>``."""
        validate_scores(ds, name=f"scores {direction}/{source}__{target}")
        path = self.score_path(direction, source, target)
        self.write_dataset(path, ds)
        return path

    def read_scores(self, direction: str, source: str, target: str) -> xr.Dataset:
        """The score dataset of ``(direction, source, target)``, loaded into memory."""
        return self.read_dataset(self.score_path(direction, source, target)).load()

    def has_scores(self, direction: str, source: str, target: str) -> bool:
        """Whether a complete score entry exists."""
        return self.is_complete(self.score_path(direction, source, target))

    # ------------------------------------------------------------------ metrics
    @staticmethod
    def metric_path(metric: str, source: str, target: str | None = None) -> str:
        """``metrics/<metric>/<source>__<target>`` (pairwise metrics) or ``metrics/<metric>/<source>``
        (``dimensionality``), with names checked.

        Parameters
        ----------
        metric : {"crsa", "ersa", "ereg", "shape", "cka", "dimensionality"}
        source : str
            Feature set ``<model>.<layer>`` or neural set (``<name>[.<region>]``).
        target : str or None
            The other set of a pairwise metric; ``None`` (and only ``None``) for ``dimensionality``.
        """
        if metric not in METRICS:
            raise StoreError(f"unknown metric {metric!r}: metric entries are one of {METRICS}.")
        _check_name(source, "metric source")
        if metric in SINGLE_SET_METRICS:
            if target is not None:
                raise StoreError(f"metric {metric!r} describes one set; got a target {target!r} (pass target=None).")
            return f"metrics/{metric}/{source}"
        if target is None:
            raise StoreError(f"metric {metric!r} compares two sets; pass the target set's name.")
        _check_name(target, "metric target")
        return f"metrics/{metric}/{source}__{target}"

    def write_metric(self, metric: str, source: str, target: str | None, ds: xr.Dataset) -> str:
        """Store a metric dataset (see :func:`neuroxr.layouts.validate_metric`) at :meth:`metric_path`."""
        path = self.metric_path(metric, source, target)
        validate_metric(ds, name=f"metric entry {path}")
        if ds.attrs.get("metric") != metric:
            raise LayoutError(
                f"metric entry {path}: its attr 'metric' is {ds.attrs.get('metric')!r}, not {metric!r}; "
                f"write it under metrics/{ds.attrs.get('metric')}/ or fix the attr."
            )
        self.write_dataset(path, ds)
        return path

    def read_metric(self, metric: str, source: str, target: str | None = None) -> xr.Dataset:
        """The metric dataset of ``(metric, source, target)``, loaded into memory."""
        return self.read_dataset(self.metric_path(metric, source, target)).load()

    def has_metric(self, metric: str, source: str, target: str | None = None) -> bool:
        """Whether a complete metric entry exists."""
        return self.is_complete(self.metric_path(metric, source, target))

    def metric_entries(self) -> list[tuple[str, str, str | None]]:
        """Complete metric entries as ``(metric, source, target)`` tuples (``target`` None for dimensionality)."""
        out: list[tuple[str, str, str | None]] = []
        for metric, _ in self._children("metrics"):
            for entry, g in self._children(f"metrics/{metric}"):
                if not g.attrs.get(COMPLETE_ATTR, False):
                    continue
                if "__" in entry:
                    source, _, target = entry.partition("__")
                    out.append((metric, source, target))
                else:
                    out.append((metric, entry, None))
        return out

    # ------------------------------------------------------------------ listing
    def _children(self, path: str) -> Iterator[tuple[str, zarr.Group]]:
        g = self._group(path) if path else self._root
        if g is None:
            return iter(())
        return ((name, child) for name, child in sorted(g.groups()))

    def neural_sets(self) -> list[str]:
        """Names of the complete neural sets."""
        return [n for n, g in self._children("neural") if g.attrs.get(COMPLETE_ATTR, False)]

    def models(self) -> list[str]:
        """Models with at least one complete layer."""
        return [m for m in self._all_models() if self.layers(m)]

    def _all_models(self) -> list[str]:
        return [n for n, _ in self._children("features")]

    def layers(self, model: str) -> list[str]:
        """Complete layers of ``model`` in the order they were written (``depth`` attr) or by name."""
        out = [(g.attrs.get("depth_index", 0), n) for n, g in self._children(f"features/{model}") if g.attrs.get(COMPLETE_ATTR, False)]
        return [n for _, n in sorted(out)]

    def score_entries(self) -> list[tuple[str, str, str]]:
        """Complete score entries as ``(direction, source, target)`` tuples."""
        out = []
        for direction, _ in self._children("scores"):
            for entry, g in self._children(f"scores/{direction}"):
                if g.attrs.get(COMPLETE_ATTR, False) and "__" in entry:
                    source, _, target = entry.partition("__")
                    out.append((direction, source, target))
        return out

    def entries(self) -> list[tuple[str, str, bool]]:
        """Every entry of the store, complete or not, as ``(kind, path, complete)``.

        ``kind`` is ``"neural"``, ``"features"``, ``"scores"``, ``"metrics"`` or ``"cache"``.
        Entries are the groups ``neural/<name>``, ``features/<model>/<layer>``,
        ``scores/<direction>/<entry>``, ``metrics/<metric>/<entry>`` and, under ``cache/``, every
        group that holds arrays or a completion marker.
        """
        out: list[tuple[str, str, bool]] = []
        for n, g in self._children("neural"):
            out.append(("neural", f"neural/{n}", bool(g.attrs.get(COMPLETE_ATTR, False))))
        for m in self._all_models():
            for n, g in self._children(f"features/{m}"):
                out.append(("features", f"features/{m}/{n}", bool(g.attrs.get(COMPLETE_ATTR, False))))
        for d, _ in self._children("scores"):
            for n, g in self._children(f"scores/{d}"):
                out.append(("scores", f"scores/{d}/{n}", bool(g.attrs.get(COMPLETE_ATTR, False))))
        for d, _ in self._children("metrics"):
            for n, g in self._children(f"metrics/{d}"):
                out.append(("metrics", f"metrics/{d}/{n}", bool(g.attrs.get(COMPLETE_ATTR, False))))
        stack = [("cache", g) for g in ([self._group("cache")] if self._group("cache") is not None else [])]
        while stack:
            path, g = stack.pop()
            if path != "cache" and (COMPLETE_ATTR in g.attrs or any(True for _ in g.arrays())):
                out.append(("cache", path, bool(g.attrs.get(COMPLETE_ATTR, False))))
                continue
            stack.extend((f"{path}/{n}", child) for n, child in sorted(g.groups(), reverse=True))
        return out

    def incomplete_entries(self) -> list[str]:
        """Paths of entries whose write never finished (what a killed job leaves behind)."""
        return [path for _, path, complete in self.entries() if not complete]

    def inventory(self) -> dict[str, Any]:
        """What the store holds.

        Returns
        -------
        dict
            ``{"neural": [...], "features": {model: [layers]}, "scores": {direction: [(source, target)]},
            "metrics": {metric: [(source, target)]}}`` (complete entries only; ``target`` is None
            for ``dimensionality``).
        """
        scores: dict[str, list[tuple[str, str]]] = {}
        for d, s, t in self.score_entries():
            scores.setdefault(d, []).append((s, t))
        metrics: dict[str, list[tuple[str, str | None]]] = {}
        for m, s, t in self.metric_entries():
            metrics.setdefault(m, []).append((s, t))
        return {
            "neural": self.neural_sets(),
            "features": {m: self.layers(m) for m in self.models()},
            "scores": scores,
            "metrics": metrics,
        }


def open_store(
    url: str | os.PathLike, mode: str = "a", storage_options: Mapping[str, Any] | None = None
) -> StudyStore:
    """Open (or create) the study store at ``url``. See :class:`StudyStore`."""
    return StudyStore(url, mode=mode, storage_options=storage_options)
