"""The labeled sets' writers of :class:`~neuroxr.store.StudyStore`: a validated neural or feature set
stored under its path with its chunk layout (whole stimulus axis per chunk; neuroids or units
chunked), through the store's one atomic :meth:`~neuroxr.store.StudyStore.write_dataset`; a set
written again with exactly what it holds is left as it is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import decode_attrs
from ..errors import LayoutError, StoreError, examples
from ..layouts import validate_features, validate_neural
from ..validation import check_int
from ._zarr import (
    DATA_VAR,
    NAME_MAX,
    TOKEN_ATTR,
    _check_name,
    _check_region,
    _jsonable,
    attrs_digest,
    long_name,
    path_excess,
    writes_digests,
)
from .staged import gram_group

#: the last part of an entry's path, its provenance key (16 hex digits), as long as any
_KEY = "0" * 16


class SetWriters:
    """Mixin of :class:`~neuroxr.store.StudyStore` (which provides ``write_dataset``)."""

    write_dataset: Any

    def write_neural(self, name: str, da: xr.DataArray) -> str:
        """Store ``da``, dims (stimulus, neuroid, repeat[, time_bin]), as ``neural/<name>``; returns the entry path.
        A set that holds exactly ``da`` already is left as it is, its version token kept (:func:`_holds`)."""
        name = _check_name(name, "neural set")
        _check_fits(self.url, "neural set name", [name], [f"neural/{name}"])
        da = validate_neural(da, name=f"neural set {name!r}")
        _refuse_missing_text(da, f"neural set {name!r}")
        from ..sets import check_new_set  # the one name resolver refuses names that would collide

        regions = da.coords["region"].values if "region" in da.coords else None
        folded: dict[str, str] = {}
        for region in [] if regions is None else sorted(set(np.asarray(regions).astype(str).ravel().tolist())):
            _check_region(region, name)  # a region is part of set names and entry paths
            other = folded.setdefault(region.casefold(), region)
            if other != region:  # their entries' folders are one on a case-insensitive file system
                raise StoreError(
                    f"neural set {name!r}: regions {other!r} and {region!r} differ only in case, and their entries' folders "
                    f"('{name}.{other}', '{name}.{region}') are one folder on a case-insensitive file system (macOS, "
                    f"Windows); give them one spelling in the 'region' coord, or distinct names, and write the set again."
                )
        check_new_set(self, "neural", name=name, regions=regions)
        path = f"neural/{name}"
        ds = da.rename(None).to_dataset(name=DATA_VAR)
        ds.attrs.update(da.attrs)
        chunks = (da.sizes["stimulus"], min(da.sizes["neuroid"], 4096), da.sizes["repeat"])
        if "time_bin" in da.dims:  # every bin of a neuroid in one chunk, chunks of at most ~128 MiB
            per_neuroid = da.sizes["stimulus"] * da.sizes["repeat"] * da.sizes["time_bin"] * da.dtype.itemsize
            chunks = chunks[:2] + (da.sizes["repeat"], da.sizes["time_bin"])
            chunks = (chunks[0], max(1, min(chunks[1], 2**27 // per_neuroid)), chunks[2], chunks[3])
        if not _holds(self, path, ds, chunks):
            self.write_dataset(path, ds, encoding={DATA_VAR: {"chunks": chunks}})
        return path

    # ------------------------------------------------------------------ feature sets
    def write_features(
        self, model: str, layer: str, da: xr.DataArray, unit_chunk: int = 4096
    ) -> str:
        """Store ``da``, dims (stimulus, unit), as ``features/<model>/<layer>``; returns the entry path.

        The unit axis is chunked by ``unit_chunk`` units (default 4096). A layer that holds exactly ``da``
        in that chunk shape already is left as it is, its version token and Grams kept (:func:`_holds`).
        """
        model, layer = _check_name(model, "model"), _check_name(layer, "layer")
        check_feature_fits(self.url, model, layer)
        unit_chunk = check_int(unit_chunk, "unit_chunk", 1, "Pass the units per chunk, e.g. unit_chunk=4096.", caller="write_features")
        da = validate_features(da, name=f"features {model}/{layer}")
        _refuse_missing_text(da, f"features {model}/{layer}")
        from ..sets import check_new_set  # the one name resolver refuses names that would collide

        check_new_set(self, "features", model=model, layer=layer)
        da = da.assign_coords(model=model, layer=layer)
        path = f"features/{model}/{layer}"
        ds = da.rename(None).to_dataset(name=DATA_VAR)
        ds.attrs.update(da.attrs)
        chunks = (da.sizes["stimulus"], max(1, min(unit_chunk, da.sizes["unit"])))
        if not _holds(self, path, ds, chunks):
            self.write_dataset(path, ds, encoding={DATA_VAR: {"chunks": chunks}})  # drops the layer's cached Grams
        return path


def check_feature_fits(url: str, model: str, layer: str) -> None:
    """Refuse in one line a feature set whose path or cached Gram's gives a file name longer than a file system
    takes (:func:`~neuroxr.store._zarr.path_excess`): before anything is written (or extracted)."""
    _check_fits(url, "model and layer names", [model, layer], [f"features/{model}/{layer}", f"{gram_group(model, layer)}/{_KEY}"])


def _check_fits(url: str, what: str, names: list[str], paths: list[str]) -> None:
    """Refuse, before anything is read or written, set ``names`` whose ``paths`` (the set's, and a feature set's
    cached Gram's) give a file name longer than a file system takes (:func:`~neuroxr.store._zarr.path_excess`)."""
    excess = max(path_excess(p) for p in paths)
    if excess:
        total = sum(len(n) for n in names)
        raise StoreError(f"store {url!r}: {what} {' and '.join(long_name(n) for n in names)} "
                         f"{'is' if len(names) == 1 else 'are'} too long: the store names files after them, and {NAME_MAX} bytes is the most a file name may have; use "
                         + (f"a name of at most {total - excess} characters." if len(names) == 1 else
                            f"names of at most {total - excess} characters together."))


def _holds(store: Any, path: str, ds: xr.Dataset, chunks: tuple[int, ...]) -> bool:
    """Whether the set at ``path`` already holds ``ds`` exactly, so that writing it again would change
    nothing: complete, undamaged, written with the digests, and the same dims, coords (names, dtypes,
    values), attrs, data type, chunk shape and data, bit for bit (NaN where NaN). Then the write is
    skipped and the set keeps its version token: the entries computed from it stay current and its
    cached Grams stay. Anything else, a copy that cannot be read, or a layer that keeps Grams of another
    copy (:meth:`~neuroxr.store.staged.StagedWrites._derived_elsewhere`), is written again. Reads the set's document, then its chunks one at a
    time, stopping at the first that differs."""
    store._require_write()  # a read-only store refuses a write that would change nothing too
    try:
        found = store.examine(path, fetch=True)
        if found.attrs is None or not writes_digests(found.attrs):
            return False
        store.check_intact(found)
        old = store.read_dataset(found)
        if store._derived_elsewhere(path, found.attrs.get(TOKEN_ATTR)):
            return False
    except Exception:  # noqa: BLE001  (absent, unfinished, damaged, being rewritten, unreadable: written again)
        return False
    new, var = ds[DATA_VAR], old[DATA_VAR]
    if (attrs_digest(found.attrs) != attrs_digest(_jsonable(decode_attrs(ds.attrs))) or set(old.variables) != set(ds.variables)
            or var.dtype != new.dtype or var.dims != new.dims or var.shape != new.shape or var.data.chunksize != tuple(chunks)):
        return False
    for name, v in ds.variables.items():
        o = old.variables[name]
        if (o.dims != v.dims or _jsonable(decode_attrs(o.attrs)) != _jsonable(decode_attrs(v.attrs))
                or (name != DATA_VAR and not _same_values(o.values, v.values))):
            return False
    try:
        for block in np.ndindex(*var.data.numblocks):  # the stored chunks, in order; the first that differs ends it
            at = tuple(slice(sum(c[:i]), sum(c[:i + 1])) for c, i in zip(var.data.chunks, block))
            if not _same_values(np.asarray(var.data.blocks[block]), np.asarray(new.data[at])):
                return False
    except Exception:  # noqa: BLE001  (a chunk that does not decode, the set rewritten meanwhile: written again)
        return False
    return True


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and values: numbers bit for bit in one data type; text (Zarr stores it as ``object``) as text."""
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "OUST" or b.dtype.kind in "OUST":
        return a.dtype.kind in "OUST" and b.dtype.kind in "OUST" and bool(np.all(a.astype(object) == b.astype(object)))
    return a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _refuse_missing_text(da: xr.DataArray, what: str) -> None:
    """Refuse a text coord holding missing values (NaN, None) among its text: Zarr keeps it as text,
    where a missing value would come back as ``''``, a second meaning of "missing" (in memory it
    stays NaN). One line naming the coord, how many are missing and where."""
    for key, coord in da.coords.items():
        if coord.dtype.kind != "O" or coord.ndim != 1:
            continue
        values = coord.values.tolist()
        gone = np.flatnonzero(pd.isna(coord.values)).tolist()  # NaN, None, pd.NA, NaT
        if not gone or not any(isinstance(v, str) for v in values):
            continue
        dim = str(coord.dims[0])
        plural = "stimuli" if dim == "stimulus" else f"{dim}s"
        ids = da[f"{dim}_id"].values if f"{dim}_id" in da.coords else np.arange(da.sizes[dim])
        raise LayoutError(
            f"{what}: {dim} coord {str(key)!r} is missing (NaN, None or pd.NA) for {len(gone)} of {len(values)} {plural}, e.g. "
            f"{examples([str(ids[i]) for i in gone])}; a store keeps text coords as text, where a missing value would "
            f"come back as ''. Fill them first, e.g. da.assign_coords({key}=da[{str(key)!r}].fillna('unknown'))."
        )
