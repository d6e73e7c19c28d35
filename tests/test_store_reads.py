"""What a read of a store entry hands back is what the folder holds: the same as opening the folder
with xarray, an array the writer did not record included, and never the documents of one copy with
the chunks of another when the set is rewritten after its damage check. A read on another thread
loses none of the caller's warnings."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
import warnings

import numpy as np
import pytest
import xarray as xr
import zarr

from neuroxr.errors import NeuroxrWarning
from neuroxr.layouts import features
from neuroxr.store import StudyStore
from neuroxr.store._zarr import STORE_ATTRS

IDS = [f"img{i}" for i in range(8)]


def _layer(version: str) -> xr.DataArray:
    """Version ``"A"`` or ``"B"``: other values, other stored ids order, other attrs; same shape."""
    seed, ids = (0, IDS) if version == "A" else (1, IDS[::-1])
    return features(np.random.default_rng(seed).normal(size=(8, 12)), ids, model="net", layer="fc",
                    attrs={"version": version})


def _store(tmp_path, version: str = "A") -> StudyStore:
    st = StudyStore(str(tmp_path / "study.zarr"))
    st.write_features("net", "fc", _layer(version), unit_chunk=4)
    return st


def _folder(st: StudyStore) -> str:
    return os.path.join(st.url, "features", "net", "fc")


def _same_as_folder(got: xr.Dataset, folder: str) -> None:
    """``got`` holds what xarray reads from ``folder`` (store attrs left out; str coords as numpy str)."""
    want = xr.open_zarr(folder, consolidated=False, chunks=None).load()
    assert sorted(got.variables) == sorted(want.variables)
    for name, var in want.variables.items():
        values = np.array(var.values.tolist(), dtype=str) if var.dtype.kind in "OT" else var.values
        np.testing.assert_array_equal(got[name].values, values)
        assert got[name].dims == var.dims and got[name].attrs == var.attrs
    for name, var in want.data_vars.items():
        enc, wanted = got[name].encoding, var.encoding
        assert enc.keys() == wanted.keys()
        assert all(isinstance(v, np.dtype) and v == wanted[k] or repr(v) == repr(wanted[k]) for k, v in enc.items())
    assert got.attrs == {k: v for k, v in want.attrs.items() if k not in STORE_ATTRS}
    assert got.encoding == {}


def test_local_read_is_the_folder_as_xarray_reads_it(tmp_path):
    st = _store(tmp_path)
    _same_as_folder(st.read_dataset("features/net/fc").load(), _folder(st))
    cached = StudyStore(st.url, mode="r", cache=True)
    cached.check_intact("features/net/fc")  # its damage remembered: the next open takes the documents read then
    for _ in range(2):
        _same_as_folder(cached.read_dataset("features/net/fc").load(), _folder(st))
    layout = st.read_layout(st.examine("features/net/fc", fetch=True))
    assert sorted(layout.variables) == sorted(st.read_dataset("features/net/fc").variables)


def test_an_array_the_writer_did_not_record_is_still_read(tmp_path):
    st = _store(tmp_path)
    extra = zarr.open_group(_folder(st), mode="a").create_array("extra", shape=(8,), dtype="float64",
                                                                 dimension_names=["stimulus"])
    extra[:] = np.arange(8.0)
    got = StudyStore(st.url, mode="r").read_dataset("features/net/fc").load()
    np.testing.assert_array_equal(got["extra"].values, np.arange(8.0))
    _same_as_folder(got, _folder(st))


def test_a_rewrite_after_the_damage_check_reads_the_new_copy_whole(tmp_path):
    st = _store(tmp_path)
    reader = StudyStore(st.url, mode="r", cache=True)
    found = reader.examine("features/net/fc", fetch=True)
    assert found.damage == ([], {})  # version A's documents read (and remembered by the cached store)
    StudyStore(st.url).write_features("net", "fc", _layer("B"), unit_chunk=4)  # another writer: a swap
    for got in (reader.read_dataset(found).load(), reader.read_dataset("features/net/fc").load()):
        assert got.attrs["version"] == "B"
        _same_as_folder(got, _folder(st))


def test_a_rewrite_after_a_remembered_check_reads_the_new_copy_whole(tmp_path):
    st = _store(tmp_path)
    reader = StudyStore(st.url, mode="r", cache=True)
    reader.check_intact("features/net/fc")  # version A's document and damage kept by the cached store
    StudyStore(st.url).write_features("net", "fc", _layer("B"), unit_chunk=4)
    da = reader.read_features("net", "fc").load()
    assert da.attrs["version"] == "B"
    want = xr.open_zarr(_folder(st), consolidated=False, chunks=None).load()
    np.testing.assert_array_equal(da["stimulus_id"].values, np.array(want["stimulus_id"].values.tolist(), dtype=str))
    np.testing.assert_array_equal(da.values, want["data"].values)


def test_a_hand_edited_array_document_is_still_refused(tmp_path):
    st = _store(tmp_path)
    doc_path = os.path.join(_folder(st), "data", "zarr.json")
    with open(doc_path, encoding="utf-8") as fh:
        doc = json.load(fh)
    doc["attributes"]["scale_factor"] = 2.0
    with open(doc_path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    problems = StudyStore(st.url, mode="r").damaged(path="features/net/fc")
    assert problems and "arrays' metadata" in problems[0][1]


@pytest.mark.parametrize("where", ["local", "object"])
def test_a_read_on_another_thread_loses_no_warning_of_this_one(tmp_path, monkeypatch, where):
    """validate and a sweep's gathering read entries on several threads. A read that set warning filters
    for a while (warnings.catch_warnings, which is not thread-safe) restored, when it ended, the filters
    and the recorder it found when it began: over those a caller set meanwhile, whose warnings were lost."""
    url = str(tmp_path / "study.zarr") if where == "local" else f"memory://neuroxr-speed-{uuid.uuid4().hex}/study.zarr"
    StudyStore(url).write_features("net", "fc", _layer("A"), unit_chunk=4)  # an object store's: in one batch
    opened, recording = threading.Event(), threading.Event()
    real = xr.open_zarr

    def open_zarr(*args, **kwargs):  # the reader is opening the entry when the caller starts recording
        opened.set()
        recording.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(xr, "open_zarr", open_zarr)
    reader = threading.Thread(target=lambda: StudyStore(url, mode="r").read_dataset("features/net/fc"))
    reader.start()
    assert opened.wait(10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recording.set()
        reader.join(10)
        warnings.warn("the caller's own warning", NeuroxrWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["the caller's own warning"]


@pytest.mark.parametrize("where", ["local", "object"])
def test_writes_and_reads_leave_the_process_warning_filters_alone(tmp_path, monkeypatch, where):
    """A store's writes and reads run on a sweep's worker threads. Looking a group up, marking a group
    complete and staging an entry each swapped in their own warning filters for a while
    (``warnings.catch_warnings``, process-wide): another thread warning meanwhile was ignored. Zarr's notes
    are filtered by their message once, at import; the filters seen inside those steps are the caller's."""
    url = str(tmp_path / "study.zarr") if where == "local" else f"memory://neuroxr-filters-{uuid.uuid4().hex}/study.zarr"
    outer, seen = list(warnings.filters), []

    def watching(real):
        def call(*args, **kwargs):
            seen.append(list(warnings.filters) == outer)
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(zarr.Group, "__getitem__", watching(zarr.Group.__getitem__))
    monkeypatch.setattr(zarr.Group, "arrays", watching(zarr.Group.arrays))
    monkeypatch.setattr(zarr, "consolidate_metadata", watching(zarr.consolidate_metadata))
    st = StudyStore(url)
    st.write_features("net", "fc", _layer("A"), unit_chunk=4)
    StudyStore(url, mode="r").read_dataset("features/net/fc")
    assert seen and all(seen)


def test_an_import_failure_while_opening_is_not_called_damage(tmp_path, monkeypatch):
    """An intact entry that could not be opened for a reason of this process (an import that failed, no
    memory left) was reported as damaged, "rewrite it": the error itself is raised instead."""
    st = _store(tmp_path)

    def open_zarr(*args, **kwargs):
        raise ImportError("cannot import name 'x' from partially initialized module 'y'")

    monkeypatch.setattr(xr, "open_zarr", open_zarr)
    with pytest.raises(ImportError, match="partially initialized"):
        StudyStore(st.url, mode="r").read_dataset("features/net/fc")


def test_cache_bytes_is_kept_by_the_cached_twin_and_refused_without_a_cache(tmp_path):
    """``cache_bytes`` without ``cache=True`` was dropped silently, and the cached twin a sweep or a
    report reads through (:meth:`StudyStore.cached`) kept the default 256 MiB whatever the store was given."""
    from neuroxr.errors import ParameterError

    url = _store(tmp_path).url
    assert StudyStore(url, cache=True, cache_bytes=1000).cached()._data.max_bytes == 1000
    assert StudyStore(url, cache=True).cached()._data.max_bytes == 256 * 2**20
    for bad, cache in [(1000, False), (-1, True), (1.5, True), (True, True)]:
        with pytest.raises(ParameterError, match="cache_bytes"):
            StudyStore(url, cache=cache, cache_bytes=bad)


@pytest.mark.parametrize("attrs, named", [
    ({"callback": print}, "attrs['callback'] (of type builtin_function_or_method)"),
    ({"meta": {"ids": {1, 2}}}, "attrs['meta']['ids'] (of type set)"),
    ({"runs": [1, object()]}, "attrs['runs'][1] (of type object)"),
])
def test_an_attr_the_store_would_hold_only_as_its_text_is_refused(tmp_path, attrs, named):
    """A set's attr that JSON holds only as its text (a function, an object, a set) was stored as that
    text (``'<built-in function print>'``) without a word, read back as another value: it is refused in
    one line naming it; strings, numbers, None, lists, arrays and mappings of them are stored as they are."""
    from neuroxr.errors import LayoutError

    st = StudyStore(str(tmp_path / "study.zarr"))
    layer = _layer("A")
    with pytest.raises(LayoutError, match=re.escape(named)):
        st.write_features("net", "fc", layer.assign_attrs(attrs))
    kept = {"note": "x", "n": None, "runs": [1, "a"], "grid": np.arange(3), "meta": {"k": [1.5]}}
    st.write_features("net", "fc", layer.assign_attrs(kept))
    got = st.read_features("net", "fc").attrs
    assert {k: got[k] for k in kept} == {**kept, "grid": [0, 1, 2]}
