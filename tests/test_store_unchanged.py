"""A set written again with exactly what it holds is not rewritten: it keeps its version token, so the
entries computed from it stay current; any difference (a value, a NaN, a data type, an attr, a coord, the
stimulus order, the chunk shape), a damaged copy or a read-only store is handled as before."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from conftest import small_features, small_neural

from neuroxr.entries import compute, list_entries
from neuroxr.errors import StoreError
from neuroxr.store import StudyStore


def _neural():
    return small_neural(0, n=24)


def _features():
    return small_features(1, n=24)


_PARAMS = {"reps": 2, "seed": 0}
pytestmark = pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")


@pytest.fixture
def study(tmp_path):
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", _neural())
    st.write_features("net", "fc", _features(), unit_chunk=5)
    entry = compute(st, "forward", "net.fc", "mA", params=_PARAMS)
    return st, entry.path


def _current(st, path) -> bool:
    rows = list_entries(st).set_index("path")
    return bool(rows.loc[path, "current"])


def test_the_same_sets_written_again_keep_their_tokens_and_entries(study):
    st, path = study
    before = st.token("neural/mA"), st.token("features/net/fc")
    grams = st.listing("cache/gram/net/fc")
    assert grams
    st.write_neural("mA", _neural())
    st.write_features("net", "fc", _features(), unit_chunk=5)
    assert (st.token("neural/mA"), st.token("features/net/fc")) == before
    assert _current(st, path) and st.listing("cache/gram/net/fc") == grams  # the layer's Gram kept
    assert not compute(st, "forward", "net.fc", "mA", params=_PARAMS).computed  # found, not computed again


def _with_nan(da):
    da = da.copy(deep=True)
    da.values[0, 0, 0] = np.nan
    return da


def _zero(da, value):
    da = da.copy(deep=True)
    da.values[0, 0, 0] = value
    return da


@pytest.mark.parametrize("change", [
    lambda da: da.copy(data=np.nextafter(da.values, np.inf)),  # one ulp
    _with_nan,
    lambda da: da.astype("float32"),
    lambda da: da.assign_attrs(session="2"),
    lambda da: da.assign_coords(neuroid_id=("neuroid", [f"m{j}" for j in range(da.sizes["neuroid"])])),
    lambda da: da.assign_coords(region=("neuroid", ["V4"] * da.sizes["neuroid"])),
    lambda da: da.isel(stimulus=np.arange(da.sizes["stimulus"])[::-1]),  # the same stimuli in another order
], ids=["value", "nan", "dtype", "attr", "coord", "new-coord", "order"])
def test_any_difference_writes_the_set_again(study, change):
    st, path = study
    token = st.token("neural/mA")
    new = change(_neural())
    st.write_neural("mA", new)
    assert st.token("neural/mA") != token and not _current(st, path)
    back = st.read_neural("mA").load()
    assert back.dtype == new.dtype and np.array_equal(back.values, new.values, equal_nan=True)


def test_a_zero_of_another_sign_is_another_value(tmp_path):
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", _zero(_neural(), 0.0))
    token = st.token("neural/mA")
    st.write_neural("mA", _zero(_neural(), -0.0))  # equal values (0.0 == -0.0), other bits
    assert st.token("neural/mA") != token


def test_another_chunk_shape_writes_the_layer_again(study):
    st, path = study
    token = st.token("features/net/fc")
    st.write_features("net", "fc", _features(), unit_chunk=4)
    assert st.token("features/net/fc") != token and not _current(st, path)


def test_a_damaged_copy_is_written_again(study):
    st, _ = study
    token = st.token("features/net/fc")
    folder = os.path.join(st.url, "features", "net", "fc", "data", "c")
    chunk = next(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
    os.remove(chunk)
    assert st.damaged(path="features/net/fc")
    st.write_features("net", "fc", _features(), unit_chunk=5)
    assert st.token("features/net/fc") != token and not st.damaged(path="features/net/fc")


def test_a_read_only_store_refuses_a_write_that_changes_nothing(study):
    st, _ = study
    with pytest.raises(StoreError):
        StudyStore(st.url, mode="r").write_neural("mA", _neural())


def test_the_same_set_on_an_object_store_keeps_its_token(s3_server):
    options, log = s3_server
    st = StudyStore(f"s3://bucket/{uuid.uuid4().hex[:8]}/s.zarr", storage_options=options)
    st.write_neural("mA", _neural())
    token = st.token("neural/mA")
    n0 = len(log.requests)
    st.write_neural("mA", _neural())
    assert st.token("neural/mA") == token
    assert not any(r[0] in ("PUT", "DELETE", "POST") for r in log.requests[n0:])
    st.write_neural("mA", _with_nan(_neural()))
    assert st.token("neural/mA") != token


def test_a_layer_keeping_grams_of_another_copy_is_written_again(study, tmp_path):
    """A rewrite killed after its swap, before it dropped the layer's Grams (put back here by hand): the same
    layer written again is not skipped, and the write drops them, as the killed write would have."""
    import shutil

    st, _ = study
    grams = os.path.join(st.url, "cache", "gram", "net", "fc")
    shutil.copytree(grams, tmp_path / "grams")
    new = _features().copy(data=_features().values + 1.0)
    st.write_features("net", "fc", new, unit_chunk=5)  # drops the Grams of the first copy
    assert not os.path.exists(grams)
    shutil.copytree(tmp_path / "grams", grams)  # as if that drop never ran
    st.rebuild_inventory()
    token = st.token("features/net/fc")
    assert st.listing("cache/gram/net/fc")
    st.write_features("net", "fc", new, unit_chunk=5)
    assert st.token("features/net/fc") != token and not st.listing("cache/gram/net/fc")


def test_time_resolved_regions_and_lazy_inputs_written_again_keep_their_tokens(tmp_path, s3_server):
    """A time-resolved set with a region coord, given again in memory, lazily (dask) or as the store's own lazy
    read of it, on a local and on an object store: kept. The same lazy read plus one: written."""
    from conftest import time_sets

    F, A, _ = time_sets()
    url = f"s3://bucket/{uuid.uuid4().hex[:8]}/s.zarr"
    for st in (StudyStore(tmp_path / "t.zarr"), StudyStore(url, storage_options=s3_server[0])):
        st.write_neural("mA", A)
        st.write_features("net", "l1", F, unit_chunk=3)
        tokens = st.token("neural/mA"), st.token("features/net/l1")
        st.write_neural("mA", A.chunk({"neuroid": 2}))
        st.write_neural("mA", st.read_neural("mA"))
        st.write_features("net", "l1", st.read_features("net", "l1"), unit_chunk=3)
        assert (st.token("neural/mA"), st.token("features/net/l1")) == tokens, st.url
        st.write_neural("mA", st.read_neural("mA") + 1.0)
        assert st.token("neural/mA") != tokens[0]
        np.testing.assert_array_equal(st.read_neural("mA").values, A.values + 1.0)
