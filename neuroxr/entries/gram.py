"""The cached Gram entry of a feature set (``cache/gram/<model>/<layer>/<key>``).

The Gram statistics (column-centred ``K = Fc Fc^T``, row sums ``a``, row norms ``v``, unit count,
mean and second moment, whether the features are integers and their largest magnitude, and where
correlation RDMs need it the row pass ``Kr``, ``ar``, ``r``, where Euclidean RDMs need it the pair
pass ``D2``; :func:`neuroxr.geometry.gram`) are
all that forward predictivity with a shared regressor, cRSA, CKA and the effective dimensionality
need of a feature set. They are computed once per feature-set version: the entry's provenance
holds the feature set's version token, so a rewritten layer never reuses a stale Gram.

A stored layer is read as ``dask.array.from_zarr`` of its data array, without its unit
coordinates (a million unit ids take tens of MiB that the Gram never uses), and reduced over its
unit chunks by :func:`neuroxr.kernels.gram.gram_dask`: streamed into one accumulator under the
synchronous scheduler (a sweep task), or a tree of fused read-and-partial tasks on whatever
scheduler is active (a distributed client spreads it over the workers; the chunk tasks need
only zarr and NumPy there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .. import geometry as _geo
from ..errors import StoreError

__all__ = ["compute_gram", "raw_features", "streamed_features"]

_DIMS = ("stimulus", "unit")


def raw_features(store: Any, src: Any) -> tuple[Any, np.ndarray] | None:
    """``(dask array (stimulus, unit), stimulus ids)`` of a stored feature set straight from its
    Zarr array (no unit coordinates read), or ``None`` where the layout is not the plain one
    (the caller then reads the labeled set).

    The ids are read by the store (:meth:`~neuroxr.store.StudyStore.read_set_index`, from the one
    reading of the set whose damage it checks): a damaged set (a lost chunk would read as NaN unawares,
    ids that cannot be decoded, edited metadata) is refused in the store's words, and its group
    document, arrays' documents and ids are read once. The data are opened where that reading found it.
    """
    import dask.array as da
    import zarr

    from ..store.reading import NO_IDS

    found = store.examine(src.path)
    try:
        index = store.read_set_index(found)
    except StoreError as exc:
        if getattr(exc, "problem", None) == NO_IDS:  # another layout: the labeled read below handles it
            return None
        raise
    try:
        arr = zarr.open_array(store._zstore, path=f"{found.loc}/data", mode="r", zarr_format=3)
        dims = tuple(getattr(arr.metadata, "dimension_names", None) or arr.attrs.get("_ARRAY_DIMENSIONS") or ())
    except Exception:  # another layout (or store): the labeled read below handles it
        return None
    ids = index.stimulus_id
    if dims != _DIMS or ids.shape != (arr.shape[0],):
        return None
    return da.from_zarr(arr), ids


def compute_gram(src: Any, tgt: Any, params: Any, io: Any) -> xr.Dataset:
    """The Gram Dataset of the feature set ``src`` (read lazily, reduced over its unit chunks).

    The products run on ``io.backend`` (NumPy when ``None``) in float64.
    """
    backend = io.backend if io.backend not in (None, "numpy") else None
    raw = raw_features(io.store, src)
    if raw is None:
        ds = _geo.gram(io.read(src, load=False), backend=backend)
    else:
        from ..alignment import canonical_order, input_order
        from ..geometry.gram import stats_attrs, stats_variables
        from ..kernels.gram import gram_dask

        darr, ids = raw
        # reduced in canonical stimulus order and stored in the set's, as neuroxr.geometry.gram does: a
        # layer stored with its stimuli in another order gives the same Gram to the bit (its column
        # means and products were summed in the stored order: other last bits in every entry reading it)
        order = canonical_order(ids)
        back = input_order(ids)
        s = gram_dask(darr if back is None else darr[order], backend=backend, dtype="float64")
        ds = xr.Dataset(stats_variables(s), coords={"stimulus_id": ("stimulus", ids[order]),
                                                    "stimulus_id_": ("stimulus_", ids[order])}, attrs=stats_attrs(s))
        if back is not None:
            ds = ds.isel(stimulus=back, stimulus_=back)
    ds.attrs.update({"model": str(src.model), "layer": str(src.layer)})
    return ds


def streamed_features(store: Any, src: Any) -> xr.DataArray | None:
    """A stand-in for a stored feature set that an entry reads only through its Gram (the
    streamed forward): its lazy values (``dask.array.from_zarr``), its stimulus ids, and unit ids
    ``"0" .. "p-1"`` instead of the stored ones (which the Gram path never reports, and
    which for a million units take more memory than the rest of the entry). ``None`` where the
    stored layout is not the plain one (read the labeled set then)."""
    raw = raw_features(store, src)
    if raw is None:
        return None
    darr, ids = raw
    p = int(darr.shape[1])
    units = np.arange(p).astype(f"U{len(str(p))}")  # "0", "1", ...: fixed-width, a few bytes each
    return xr.DataArray(darr, dims=_DIMS, name=str(src.name), coords={
        "stimulus_id": ("stimulus", ids), "unit_id": ("unit", units),
        "model": str(src.model), "layer": str(src.layer)})
