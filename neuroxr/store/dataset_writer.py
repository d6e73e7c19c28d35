"""The Dataset writer of :class:`~neuroxr.store.StudyStore`: one ``xarray.Dataset`` stored as the entry
at a path, its attrs decoded to JSON, every chunk checksummed, and written through the store's write
lifecycle (:meth:`~neuroxr.store.StudyStore.begin_write` / ``commit_write``: the previous copy stays
readable until the new one is complete); a small entry on an object store is staged in memory and
uploaded in two concurrent batches."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..attrs import decode_attrs
from ..errors import LayoutError, StoreError
from . import batch, previous
from ._zarr import STORE_ATTRS, _jsonable, check_entry_path, checksummed, os_message, unstorable, zarr_store


class DatasetWriter:
    """Mixin of :class:`~neuroxr.store.StudyStore`, which provides the write lifecycle and the caches."""

    _local: str | None
    _zstore: Any
    _cache: bool
    _known: set[str]
    _doc_lock: Any
    _doc_epochs: dict[str, int]
    _docs: dict[str, Any]
    _data: Any
    url: str
    _require_write: Any
    begin_write: Any
    commit_write: Any
    abort_write: Any
    _abort: Any
    _record: Any
    _require_parents: Any
    _finish_rewrite: Any
    _rewriting: dict[str, tuple[str, str]]
    _taken_over: Any

    def write_dataset(self, path: str, ds: xr.Dataset, encoding: Mapping[str, Any] | None = None) -> None:
        """Write ``ds`` as the entry ``path``; the previous copy stays readable until the new one is complete.

        Raises :class:`StoreError` (one line) on a full disk or a read-only store; the old entry survives.
        Attrs encoded by :func:`neuroxr.attrs.storable` (a result as handed out) are stored decoded:
        the store holds JSON objects, whichever form it was given; the completion marker records their
        digest (:func:`~neuroxr.store._zarr.attrs_edited` tells them edited since). ``encoding``: per-variable Zarr encodings.
        """
        self._require_write()
        check_entry_path(self.url, path, "write_dataset")
        bad = next((w for name, var in [(None, ds), *ds.variables.items()] for k, v in decode_attrs(var.attrs).items()
                    if (w := unstorable(v, f"attrs[{k!r}]" if name is None else f"{name}.attrs[{k!r}]"))), None)
        if bad is not None:  # stored as its text it would read back as another value: never silently
            raise LayoutError(f"store {self.url!r}: {path!r}: {bad} cannot be stored (only strings, numbers, "
                              "bools, None and lists or mappings of them); convert it, e.g. to str(...), or drop it.")
        ds = ds.copy(deep=False)
        ds.attrs = _jsonable({k: v for k, v in decode_attrs(ds.attrs).items() if k not in STORE_ATTRS})
        for name in list(ds.variables):
            if ds[name].dtype.kind in "UT":  # variable-length UTF-8 has a Zarr v3 spec; fixed <U does not
                ds[name] = ds[name].copy(data=np.asarray(ds[name].values, dtype=object))
            ds[name].attrs = _jsonable(decode_attrs(ds[name].attrs))
            # xarray refuses to re-encode variables that carry a previous zarr encoding
            ds[name].encoding = {}
        encoding = checksummed(encoding, ds.variables)  # a changed chunk fails to decode, never reads as numbers
        for name, enc in encoding.items():
            # dask chunks must tile the Zarr chunks: rechunk lazy data to the chunks it is stored with
            if "chunks" in enc and name in ds and ds[name].chunks is not None:
                ds[name] = ds[name].chunk(dict(zip(ds[name].dims, enc["chunks"])))
        if self._local is None and ds.nbytes <= batch.BATCH_BYTES:
            self._write_batched(path, ds, encoding)
            return
        if self._local is None:  # written in place: the old copy is gone before xarray reads the input
            ds = previous.load_self_reads(self.url, path, ds)
        url = self.begin_write(path)
        try:
            target = zarr_store(url, False, None) if self._local is not None else self._zstore
            group = None if self._local is not None else path
            ds.to_zarr(target, group=group, mode="w", consolidated=False, encoding=encoding, write_empty_chunks=True)
        except BaseException as exc:
            if self._local is None:
                self._abort(url, exc)
            self.abort_write(url)
            if isinstance(exc, OSError):
                raise StoreError(f"store {self.url!r}: cannot write {path!r}: {os_message(exc)}{self._kept(path)}.") from exc
            raise
        self.commit_write(path, url)

    def _kept(self, path: str) -> str:
        """The end of a failed write's message: that the complete copy of ``path`` is kept, where there is one."""
        try:
            return "; the previous copy is kept" if self.is_complete(path) else "; nothing was written"
        except Exception:  # noqa: BLE001  (a store that cannot be read either: the write's own reason says enough)
            return ""

    def _write_batched(self, path: str, ds: xr.Dataset, encoding: Mapping[str, Any]) -> None:
        """Object stores: stage ``ds`` in memory, then upload its keys in two concurrent batches
        (data and array documents, then the group document with the completion marker), the second
        unless a recovery took this write over or the entry was deleted meanwhile (:func:`previous.may_commit`)."""
        items, token = batch.stage(ds, encoding)  # nothing in the store is touched if this fails
        doc = items.pop("zarr.json")
        url = self.begin_write(path)  # records the write as pending, keeps (or journals) and deletes the old entry
        try:
            self._require_parents(path)
            batch.put_many(self._zstore, {f"{path}/{k}": v for k, v in items.items()})
            # a recovery that took this writer for gone meanwhile, or a deletion, leaves nothing marked complete
            named = previous.may_commit(self._zstore, path, self._rewriting[url][1])
            if named:
                batch.put_many(self._zstore, {f"{path}/zarr.json": doc})
                self._record(path, "complete", token)
        except BaseException as exc:
            self._abort(url, exc)
        if not named:
            self._taken_over(url)
        self._known.add(path)
        if self._cache:  # what this object just wrote need not be read back
            with self._doc_lock:
                self._doc_epochs[path] = self._doc_epochs.get(path, 0) + 1
                self._docs[path] = json.loads(doc)
            self._data.keep((path, token), {**items, "zarr.json": doc})
        self._finish_rewrite(url)
