"""The labeled sets' writers of :class:`~neuroxr.store.StudyStore`: a validated neural or feature set
stored under its path with its chunk layout (whole stimulus axis per chunk; neuroids or units
chunked), through the store's one atomic :meth:`~neuroxr.store.StudyStore.write_dataset`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LayoutError, examples
from ..layouts import validate_features, validate_neural
from ._zarr import DATA_VAR, _check_name, _check_region


class SetWriters:
    """Mixin of :class:`~neuroxr.store.StudyStore` (which provides ``write_dataset``)."""

    write_dataset: Any

    def write_neural(self, name: str, da: xr.DataArray) -> str:
        """Store ``da``, dims (stimulus, neuroid, repeat[, time_bin]), as ``neural/<name>``; returns the entry path."""
        name = _check_name(name, "neural set")
        da = validate_neural(da, name=f"neural set {name!r}")
        _refuse_missing_text(da, f"neural set {name!r}")
        from ..sets import check_new_set  # the one name resolver refuses names that would collide

        regions = da.coords["region"].values if "region" in da.coords else None
        for region in [] if regions is None else sorted(set(np.asarray(regions).astype(str).ravel().tolist())):
            _check_region(region, name)  # a region is part of set names and entry paths
        check_new_set(self, "neural", name=name, regions=regions)
        path = f"neural/{name}"
        ds = da.rename(None).to_dataset(name=DATA_VAR)
        ds.attrs.update(da.attrs)
        chunks = (da.sizes["stimulus"], min(da.sizes["neuroid"], 4096), da.sizes["repeat"])
        if "time_bin" in da.dims:  # every bin of a neuroid in one chunk, chunks of at most ~128 MiB
            per_neuroid = da.sizes["stimulus"] * da.sizes["repeat"] * da.sizes["time_bin"] * da.dtype.itemsize
            chunks = chunks[:2] + (da.sizes["repeat"], da.sizes["time_bin"])
            chunks = (chunks[0], max(1, min(chunks[1], 2**27 // per_neuroid)), chunks[2], chunks[3])
        self.write_dataset(path, ds, encoding={DATA_VAR: {"chunks": chunks}})
        return path

    # ------------------------------------------------------------------ feature sets
    def write_features(
        self, model: str, layer: str, da: xr.DataArray, unit_chunk: int = 4096
    ) -> str:
        """Store ``da``, dims (stimulus, unit), as ``features/<model>/<layer>``; returns the entry path.

        The unit axis is chunked by ``unit_chunk`` units (default 4096).
        """
        model, layer = _check_name(model, "model"), _check_name(layer, "layer")
        da = validate_features(da, name=f"features {model}/{layer}")
        _refuse_missing_text(da, f"features {model}/{layer}")
        from ..sets import check_new_set  # the one name resolver refuses names that would collide

        check_new_set(self, "features", model=model, layer=layer)
        da = da.assign_coords(model=model, layer=layer)
        path = f"features/{model}/{layer}"
        ds = da.rename(None).to_dataset(name=DATA_VAR)
        ds.attrs.update(da.attrs)
        chunks = (da.sizes["stimulus"], max(1, min(int(unit_chunk), da.sizes["unit"])))
        self.write_dataset(path, ds, encoding={DATA_VAR: {"chunks": chunks}})  # drops the layer's cached Grams
        return path


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
