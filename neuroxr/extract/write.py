"""Streaming one layer's batches into its store entry through the store's staged writes.

Each layer is written aside (:meth:`neuroxr.StudyStore.begin_write` gives a fresh staging group):
its coords, attrs and an unwritten ``data`` array first, then the batches. With one batch for all
stimuli the batch goes straight into ``data``; otherwise batches of rows are appended to a raw
staging file (Zarr chunks spanning the whole stimulus axis cannot be written row block by row
block without rewriting them), which :meth:`LayerWriter.finish` reads back one stored chunk of
columns at a time through a memory map. :meth:`~neuroxr.StudyStore.commit_write` then marks the
staged group complete and swaps it in; a failure or an interruption before that drops the staged
group (:meth:`~neuroxr.StudyStore.abort_write`), so the previous copy of the layer, if any, is
never damaged and stays readable. (On an object store the layer is written in place, and its
previous copy, kept aside meanwhile, is put back: :mod:`neuroxr.store.previous`.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ..errors import ExtractionError
from ..kernels.offsets import offset_count, warn_offsets
from ..store import DATA_VAR, StudyStore, _jsonable
from ..store._zarr import checksummed, chunk_codecs, zarr_store
from ._common import CHUNKS_PER_WRITE, RESERVE_BYTES, torch_module
from .identity import IDENTITY_ATTR
from .plan import ExtractionPlan, LayerPlan
from .pooling import pool_tokens


def check_finite(lp: LayerPlan, x: np.ndarray, ids: np.ndarray) -> None:
    """A one-line :class:`ExtractionError` naming the layer and stimuli where the batch ``x`` (n, units)
    of stimuli ``ids`` holds NaN or inf: the one rule for a layer's outputs, reduced or not."""
    if not np.isfinite(np.sum(x, dtype=np.float64)):
        bad_rows = ~np.isfinite(x).all(axis=1)
        raise ExtractionError(
            f"layer {lp.name!r}: non-finite values (NaN or inf) for {int(bad_rows.sum())} stimuli, e.g. "
            f"{np.asarray(ids)[bad_rows][:3].tolist()}; stored features must be finite. Check the stimuli and the model."
        )


def activations(lp: LayerPlan, output: Any, mask: Any, n: int) -> np.ndarray:
    """The layer's output for one batch of ``n`` stimuli as a float numpy array ``(n, n_raw_units)``.

    Pooled over tokens when ``lp.pooling``; a view of the activations on CPU otherwise, so it is
    used before the hook returns (before any later in-place op).

    Raises
    ------
    ExtractionError
        The output's first dim is not the batch's ``n`` stimuli (one row per stimulus), or its
        shape per stimulus differs from the probed one.
    """
    torch = torch_module()
    t = output.detach()
    if t.ndim == 0 or t.shape[0] != n:
        raise ExtractionError(
            f"layer {lp.name!r}: the output of module {lp.module_name!r} has shape {tuple(t.shape)}, whose first dim is "
            f"not the batch of {n} stimuli, so it is not one row per stimulus; select a layer whose output is per "
            f"stimulus (layers=, --layer)."
        )
    expected = (n,) + tuple(lp.output_shape)
    if tuple(t.shape) != expected:
        raise ExtractionError(
            f"layer {lp.name!r}: output shape {tuple(t.shape)} differs from the probed {expected}; "
            f"every stimulus must give the same output shape (resize the stimuli to one size)."
        )
    if lp.pooling is not None:
        try:
            t = pool_tokens(t, lp.pooling, mask)
        except ValueError as exc:  # a layer that adds or drops tokens: padding would be pooled as text
            raise ExtractionError(f"layer {lp.name!r} (module {lp.module_name!r}): {exc}; pass pooling='cls' (the "
                                  f"first token) or None (every token), or leave the layer out (layers=, --layer).") from None
    if t.device.type != "cpu":
        t = t.to("cpu")
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.reshape(t.shape[0], -1).numpy()


class LayerWriter:
    """Streams one layer's batches to a staged copy of its entry; rechunks, then commits it at the end."""

    def __init__(
        self, store: StudyStore, model_name: str, lp: LayerPlan, plan: ExtractionPlan, reducer: Any,
        attrs: Mapping[str, Any], staging_dir: str, absent: bool = False, replaces: str | None = None,
    ) -> None:
        self.store = store
        self.absent = absent  # a copy another process commits meanwhile is kept (this one dropped) ...
        self.replaces = replaces  # ... and so is one that replaced the copy this overwrite was planned over
        self.lp = lp
        self.path = f"features/{model_name}/{lp.name}"
        self.reducer = reducer
        self.dtype = np.dtype(lp.dtype)
        self.largest = 0
        n, q = plan.n_stimuli, lp.n_units
        # wider outputs stored as float32: the units float32 rounds past use, counted on whole columns
        # (the one batch of every stimulus, or the staged columns as they are rechunked)
        self.narrowed = np.dtype(lp.raw_dtype).itemsize > 4 and self.dtype == np.float32
        self.n_offset = 0
        self.url: str | None = store.begin_write(self.path)  # the previous copy stays readable (kept aside: object stores)
        self.staging: str | None = None
        try:
            group = write_template(_staged_target(store, self.url, self.path), model_name, lp, plan.stimulus_ids, attrs,
                                   plan.memory_limit)
            self.group = group
            self.target = group[DATA_VAR]
            self.direct = lp.batch_size >= n
            self.shape = (n, q)
            self.rows = np.zeros(n, dtype=bool)  # which stimuli's rows were written
            self.lp_ids = np.asarray(plan.stimulus_ids)
            if not self.direct:
                self.staging = os.path.join(staging_dir, f"{lp.name}.bin")
                with open(self.staging, "wb") as f:
                    f.truncate(n * q * self.dtype.itemsize)
        except BaseException:
            self.discard()
            raise

    def write(self, start: int, output: Any, ids: np.ndarray, mask: Any = None) -> None:
        """Store the batch ``output`` (rows ``start:start + len(ids)``); called inside the module's hook."""
        x = activations(self.lp, output, mask, len(ids))
        if self.reducer is not None:  # a projection need not read every unit (SRP): the outputs themselves
            check_finite(self.lp, x, ids)
        y = self.reducer(x) if self.reducer is not None else x
        if self.narrowed and self.staging is None:  # direct: the one batch holds every stimulus
            self.n_offset = offset_count(y)
        if y.dtype.kind in "iu" and y.size:  # integers (ids, counts) beyond the float's mantissa would be rounded
            big, exact = max(int(y.max()), -int(y.min())), 2 ** (np.finfo(self.dtype).nmant + 1)
            if big > exact:
                raise ExtractionError(
                    f"layer {self.lp.name!r}: its integer values (up to {big}) are not all exact in the stored dtype "
                    f"{self.dtype.name} (it holds integers up to {exact} exactly); "
                    + ("store it as float64 (dtype=, --dtype on the command line)." if self.dtype.itemsize < 8 else
                       "no stored dtype holds them: map them to smaller numbers in the model, or leave the layer out."))
        with np.errstate(over="ignore"):  # a narrower dtype may overflow: named below
            stored = y.astype(self.dtype, copy=False)
        if stored is not y and not np.isfinite(np.sum(stored, dtype=np.float64)) and np.isfinite(np.sum(y, dtype=np.float64)):
            raise ExtractionError(
                f"layer {self.lp.name!r}: its values (up to {float(np.abs(y).max()):.3g}) overflow the stored dtype "
                f"{self.dtype.name} (largest {float(np.finfo(self.dtype).max):.5g}); store it in a wider dtype "
                f"(dtype=, --dtype on the command line), e.g. float32."
            )
        y = stored
        self.largest = max(self.largest, x.nbytes, y.nbytes)
        check_finite(self.lp, y, ids)  # the stored values
        if self.staging is not None:
            with open(self.staging, "r+b") as f:
                f.seek(start * y.shape[1] * self.dtype.itemsize)
                np.ascontiguousarray(y).tofile(f)
        else:
            step = self.target.chunks[1] * CHUNKS_PER_WRITE
            for j0 in range(0, y.shape[1], step):
                self.target[start : start + y.shape[0], j0 : j0 + step] = y[:, j0 : j0 + step]
        self.rows[start : start + y.shape[0]] = True

    def check_rows(self) -> None:
        """An :class:`ExtractionError` unless every stimulus's row was written (checked for every layer of
        a pass before any is committed)."""
        if not self.rows.all():
            missing = self.lp_ids[~self.rows]
            raise ExtractionError(
                f"layer {self.lp.name!r}: {missing.size} of {self.rows.size} stimuli were not written, e.g. "
                f"{missing[:3].tolist()}, so the layer is not marked complete; the forward pass did not give module "
                f"{self.lp.module_name!r} every stimulus (data-dependent control flow is not supported)."
            )

    def finish(self, identity: Mapping[str, Any] | None = None) -> None:
        """Rechunk the staging file into the store layout, record ``identity`` (the attr
        ``extraction_identity``: what the layer was extracted from), then commit the staged entry.

        Raises
        ------
        ExtractionError
            Some stimulus's row was never written: the layer is not marked complete (the caller
            discards the staged entry).
        """
        self.check_rows()
        if self.staging is not None:
            (n, q), uc = self.shape, self.lp.unit_chunk
            block = np.empty((n, min(uc, q)), dtype=self.dtype)
            for j0 in range(0, q, uc):
                j1 = min(j0 + uc, q)
                out = block[:, : j1 - j0]
                staged = np.memmap(self.staging, dtype=self.dtype, mode="r", shape=(n, q))
                out[...] = staged[:, j0:j1]
                del staged  # unmap: only one chunk's pages are mapped at a time
                self.target[:, j0:j1] = out
                if self.narrowed:
                    self.n_offset += offset_count(out)
            del block, out
            os.remove(self.staging)
            self.staging = None
        if identity is not None:
            self.group.attrs[IDENTITY_ATTR] = dict(identity)
        url, self.url = self.url, None
        self.store.commit_write(self.path, url, absent=self.absent, replaces=self.replaces)
        if self.narrowed:
            warn_offsets(f"layer {self.lp.name!r}", self.n_offset, "units", "store", n_columns=self.shape[1])

    def discard(self) -> None:
        """Drop the staged entry and the staging file; the previous copy of the layer stays as it was."""
        if self.url is not None:
            url, self.url = self.url, None
            self.store.abort_write(url)
        if self.staging is not None and os.path.exists(self.staging):
            os.remove(self.staging)
            self.staging = None


def unit_coords(lp: LayerPlan) -> dict[str, tuple[Any, Callable[[np.ndarray], np.ndarray]]]:
    """``{name: (dtype, f(unit indices) -> values)}`` of the layer's unit coords.

    Always ``unit_id``; ``channel``, ``y``, ``x`` for ``(C, H, W)`` outputs; ``token``,
    ``channel`` for ``(tokens, dim)`` outputs (transformers: select the CLS token with
    ``token == 0``, or average over tokens); ``channel`` for token-pooled outputs.
    """
    if lp.reduction is not None:
        prefix = "pc" if lp.reduction["method"] == "pca" else "rp"
    else:
        prefix = "unit"
    coords: dict[str, tuple[Any, Callable[[np.ndarray], np.ndarray]]] = {
        "unit_id": (str, lambda i: np.char.add(prefix, i.astype(str)).astype(object)),
    }
    if lp.reduction is not None:
        return coords
    if lp.pooling is not None:
        coords["channel"] = (np.int32, lambda i: i.astype(np.int32))
        return coords
    axes = {3: ("channel", "y", "x"), 2: ("token", "channel")}.get(len(lp.output_shape), ())
    for axis, name in enumerate(axes):
        coords[name] = (np.int32, lambda i, axis=axis: np.unravel_index(i, lp.output_shape)[axis].astype(np.int32))
    return coords


def _staged_target(store: StudyStore, url: str, path: str) -> tuple[Any, str | None]:
    """(zarr store, group) where :meth:`~neuroxr.StudyStore.begin_write`'s ``url`` takes the entry:
    the staging group as a root group on a local store, the entry itself on an fsspec store."""
    if getattr(store, "_local", None) is not None:
        return zarr_store(url, False, None), None
    return store._zstore, path


def write_template(target: tuple[Any, str | None], model_name: str, lp: LayerPlan, ids: np.ndarray, attrs: Mapping[str, Any],
                   memory_limit: int) -> zarr.Group:
    """Create the entry at ``target`` (``(zarr store, group)``, a staging group): coords, attrs
    and an unwritten ``data`` array, no completion marker. Returns the open group.

    The unit coords are written block by block, so a layer with millions of units never has
    them all in memory.
    """
    import dask.array as da

    n, q = len(ids), lp.n_units
    coords: dict[str, Any] = {
        "stimulus_id": ("stimulus", np.asarray(ids, dtype=object)),
        "model": np.array(model_name, dtype=object),
        "layer": np.array(lp.name, dtype=object),
    }
    data = da.zeros((n, q), chunks=(n, lp.unit_chunk), dtype=lp.dtype)
    ds = xr.Dataset({DATA_VAR: (("stimulus", "unit"), data)}, coords=coords)
    ds.attrs = _jsonable({k: v for k, v in attrs.items() if v is not None})
    zstore, path = target
    ds.to_zarr(zstore, group=path, mode="w", compute=False, consolidated=False,
               encoding=checksummed({DATA_VAR: {"chunks": (n, lp.unit_chunk)}}, ds.variables))
    group = zarr.open_group(zstore, path=path or "", mode="r+")
    ucoords = unit_coords(lp)
    block = int(max(1024, min(q, 65536, (memory_limit - RESERVE_BYTES) // 600)))  # ~150 B per id string
    for name, (dtype, values) in ucoords.items():
        arr = group.create_array(
            name, shape=(q,), chunks=(block,), dtype=dtype, dimension_names=("unit",),
            fill_value="" if dtype is str else 0, compressors=chunk_codecs(),
        )
        for j0 in range(0, q, block):
            arr[j0 : j0 + block] = values(np.arange(j0, min(j0 + block, q)))
    group[DATA_VAR].attrs["coordinates"] = " ".join(sorted([*coords, *ucoords]))
    return group
