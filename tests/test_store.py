"""The Zarr study store: round trips, atomic entries, listing, read-only mode, URLs."""

from __future__ import annotations

import json
import os
import uuid

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroxr.attrs import decoded, storable
from neuroxr.errors import LayoutError
from neuroxr.layouts import features, neural
from neuroxr.store import COMPLETE_ATTR, StoreError, StudyStore, open_store


def _neural(seed=0, n=7, k=5, t=3, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k, t)).astype(dtype)
    x[1, 2, 0] = np.nan  # a missing trial
    return neural(
        x,
        [f"img{i}" for i in range(n)],
        [f"n{j}" for j in range(k)],
        animal=["A"] * 3 + ["B"] * (k - 3),
        region="V4",
        attrs={"lab": "test", "rate_hz": np.float32(2.5), "bins": np.arange(3), "note": None},
    )


def _features(seed=0, n=7, p=10, model="net", layer="conv1"):
    rng = np.random.default_rng(seed)
    return features(
        rng.normal(size=(n, p)),
        [f"img{i}" for i in range(n)],
        model=model,
        layer=layer,
        channel=np.repeat(np.arange(p // 2), 2),
        attrs={"depth_index": 0},
    )


def _scores(seed=0, k=5, reps=4):
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "ev": (("neuroid", "rep"), rng.uniform(0, 100, size=(k, reps))),
            "r": (("neuroid",), rng.uniform(-1, 1, size=k)),
        },
        coords={
            "neuroid_id": ("neuroid", [f"n{j}" for j in range(k)]),
            "rep": np.arange(reps),
            "region": ("neuroid", ["V4"] * k),
            "alpha": 0.1,
        },
        attrs={"direction": "forward", "seed": 0, "params": {"n_folds": 10, "alpha": 0.1}},
    )


@pytest.fixture
def store(tmp_path):
    return StudyStore(tmp_path / "study.zarr")


# ---------------------------------------------------------------------------- round trips
def test_neural_round_trip(store):
    da = _neural()
    path = store.write_neural("monkeyA", da)
    assert path == "neural/monkeyA"
    back = store.read_neural("monkeyA")
    assert back.dims == da.dims
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back.values, da.values)  # NaN in the same place
    for c in ("stimulus_id", "neuroid_id", "animal", "region"):
        np.testing.assert_array_equal(back[c].values, da[c].values)
        assert back[c].dtype.kind == "U"
        assert back[c].dims == da[c].dims
    assert back.attrs == {"lab": "test", "rate_hz": 2.5, "bins": [0, 1, 2], "note": None}
    assert COMPLETE_ATTR not in back.attrs


def test_features_round_trip_with_unit_chunks(store):
    da = _features()
    store.write_features("net", "conv1", da, unit_chunk=4)
    back = store.read_features("net", "conv1")
    np.testing.assert_array_equal(back.values, da.values)
    assert back.coords["model"].item() == "net" and back.coords["layer"].item() == "conv1"
    np.testing.assert_array_equal(back.channel.values, da.channel.values)
    assert back.chunks == ((7,), (4, 4, 2))  # whole stimulus axis, units chunked


@pytest.mark.parametrize("unit_chunk", [0, -3, 2.5, "4", True])
def test_a_unit_chunk_that_is_no_integer_above_0_is_refused(store, unit_chunk):
    """unit_chunk 0 was written as 1 and 2.5 as 2, silently; it is refused in one line naming it, and nothing
    is written."""
    from neuroxr.errors import ParameterError

    with pytest.raises(ParameterError, match=r"^write_features: unit_chunk must be an integer >= 1; got .*unit_chunk=4096\.$"):
        store.write_features("net", "conv1", _features(), unit_chunk=unit_chunk)
    assert store.layers("net") == []
    store.write_features("net", "conv1", _features(), unit_chunk=np.int64(3))
    assert store.read_features("net", "conv1").chunks[1][0] == 3


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA])
def test_a_text_coord_with_missing_values_is_refused_not_stored_as_empty_text(store, missing):
    """Zarr keeps a text coord as text, where NaN / None came back as '' (a second meaning of missing):
    the set writers refuse it in one line naming the coord and where; the filled coord round-trips."""
    da = _neural().assign_coords(region=("neuroid", np.array(["V4", missing, "IT", "IT", missing], dtype=object)))
    with pytest.raises(LayoutError, match=r"^neural set 'monkeyA': neuroid coord 'region' is missing \(NaN, None or pd.NA\) for "
                       r"2 of 5 neuroids, e.g. \['n1', 'n4'\]; .*fillna\('unknown'\)\)\.$"):
        store.write_neural("monkeyA", da)
    assert not store.is_complete("neural/monkeyA")
    filled = da.assign_coords(region=da["region"].fillna("unknown"))
    store.write_neural("monkeyA", filled)
    assert store.read_neural("monkeyA").region.values.tolist() == ["V4", "unknown", "IT", "IT", "unknown"]
    feats = _features().assign_coords(category=("stimulus", np.array(["a", missing] + ["b"] * 5, dtype=object)))
    with pytest.raises(LayoutError, match=r"^features net/conv1: stimulus coord 'category' is missing .* 1 of 7 stimuli, "
                       r"e.g. \['img1'\]"):
        store.write_features("net", "conv1", feats)


SCORE = "scores/forward/net.conv1__monkeyA/0123456789abcdef"  # any group path: the store has no entry layout


def test_dataset_round_trip(store):
    ds = _scores()
    store.write_dataset(SCORE, ds)
    assert store.is_complete(SCORE) and store.token(SCORE)
    back = store.read_dataset(SCORE).load()
    xr.testing.assert_identical(decoded(back), ds)  # handed out storable (neuroxr.attrs), decoded: as written
    assert back.attrs["params"] == '{"alpha":0.1,"n_folds":10}' and store.group_attrs(SCORE)["params"] == ds.attrs["params"]


def test_a_storable_dataset_is_stored_decoded(store):
    """The store holds JSON objects whether it is given a result as handed out (attrs encoded) or not."""
    ds = _scores()
    store.write_dataset(SCORE, storable(ds))
    assert store.group_attrs(SCORE)["params"] == {"n_folds": 10, "alpha": 0.1}
    xr.testing.assert_identical(store.read_dataset(SCORE).load(), storable(ds))


def test_reads_are_lazy(store):
    store.write_neural("monkeyA", _neural())
    store.write_features("net", "conv1", _features())
    assert isinstance(store.read_neural("monkeyA").data, dask.array.Array)
    assert isinstance(store.read_features("net", "conv1").data, dask.array.Array)


def test_lazy_array_can_be_written_to_another_store(store, tmp_path):
    store.write_features("net", "conv1", _features(p=10), unit_chunk=3)
    lazy = store.read_features("net", "conv1")
    other = StudyStore(tmp_path / "other.zarr")
    other.write_features("net", "conv1", lazy, unit_chunk=4)  # dask chunks 3 vs zarr chunks 4
    back = other.read_features("net", "conv1")
    np.testing.assert_array_equal(back.values, _features(p=10).values)
    assert back.chunks[1] == (4, 4, 2)


def test_overwrite_replaces_entry(store):
    store.write_neural("monkeyA", _neural(seed=0))
    store.write_neural("monkeyA", _neural(seed=1, k=3))
    back = store.read_neural("monkeyA")
    assert back.sizes["neuroid"] == 3
    np.testing.assert_array_equal(back.values, _neural(seed=1, k=3).values)
    assert store.neural_sets() == ["monkeyA"]


def test_rewriting_features_drops_their_cached_gram(store):
    store.write_features("net", "conv1", _features())
    store.write_dataset("cache/gram/net/conv1", xr.Dataset({"K": (("a", "b"), np.eye(7))}))
    assert store.is_complete("cache/gram/net/conv1")
    store.write_features("net", "conv1", _features(seed=2))
    assert not store.is_complete("cache/gram/net/conv1")


# ---------------------------------------------------------------------------- listing
def test_inventory_and_layer_order(store):
    store.write_neural("monkeyA", _neural())
    store.write_neural("monkeyB", _neural(seed=1))
    for depth, layer in enumerate(["zfirst", "block2", "afc"]):
        store.write_features("net", layer, _features(layer=layer).assign_attrs(depth_index=depth))
    store.write_dataset(SCORE, _scores())
    inv = store.inventory()
    assert inv == {  # the sets only: entries are listed by neuroxr.entries.list_entries
        "neural": ["monkeyA", "monkeyB"],
        "features": {"net": ["zfirst", "block2", "afc"]},  # depth order, not by name
    }
    assert store.models() == ["net"]
    assert store.incomplete_entries() == []
    assert ("scores", SCORE, True) in store.entries()
    assert "2 neural sets, 3 feature sets>" in repr(store)


def test_layers_without_a_depth_read_their_numbers_as_numbers(store, monkeypatch):
    """Layers written without ``depth_index`` were listed by name as text (layer1, layer10, layer11,
    layer2), the order of every layer profile and a sweep's ``layer_depth``; their numbers are now read
    as numbers, by the inventory and by a walk of the store alike, and a depth still comes first."""
    names = ["layer10", "layer2", "fc", "layer1", "layer11", "layer2b"]
    for layer in names:
        store.write_features("net", layer, _features(layer=layer))
    store.write_features("deep", "b10", _features(layer="b10").assign_attrs(depth_index=0))
    store.write_features("deep", "b9", _features(layer="b9").assign_attrs(depth_index=1))
    want = ["fc", "layer1", "layer2", "layer2b", "layer10", "layer11"]
    assert store.layers("net") == want and store.inventory()["features"]["net"] == want
    assert store.layers("deep") == ["b10", "b9"]  # depth before name
    monkeypatch.setattr(store, "_inventory", lambda *a, **k: None)  # no inventory: the store is walked
    assert store.layers("net") == want and store.inventory()["features"] == {"deep": ["b10", "b9"], "net": want}


def test_entries_include_cache_groups(store):
    store.write_dataset("cache/gram/net/conv1", xr.Dataset({"K": (("a", "b"), np.eye(3))}))
    assert ("cache", "cache/gram/net/conv1", True) in store.entries()


# ---------------------------------------------------------------------------- atomic writes
def _crash(*args, **kwargs):
    raise RuntimeError("killed")


def test_crash_before_swap_leaves_no_entry(store, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr("neuroxr.store.atomic.swap_in", _crash)
        with pytest.raises(RuntimeError, match="killed"):
            store.write_dataset(SCORE, _scores())
    # the staged copy is gone and nothing half written is visible
    assert store._group(SCORE) is None
    assert not store.is_complete(SCORE)
    assert store.entries() == [] and store.incomplete_entries() == []
    assert os.listdir(os.path.join(store.url, ".neuroxr", "staging")) == []
    with pytest.raises(StoreError, match="does not exist"):
        store.read_dataset(SCORE)
    store.write_dataset(SCORE, _scores(seed=3))
    assert store.entries() == [("scores", SCORE, True)]
    xr.testing.assert_identical(decoded(store.read_dataset(SCORE).load()), _scores(seed=3))


def test_crash_during_overwrite_keeps_the_old_entry(store, monkeypatch):
    store.write_neural("monkeyA", _neural(seed=0))
    token = store.token("neural/monkeyA")
    for where in ("neuroxr.store.study.mark_group", "neuroxr.store.atomic.swap_in"):
        with monkeypatch.context() as m:
            m.setattr(where, _crash)
            with pytest.raises(RuntimeError):
                store.write_neural("monkeyA", _neural(seed=1))
        assert store.neural_sets() == ["monkeyA"] and store.incomplete_entries() == []
        assert store.token("neural/monkeyA") == token
        np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(seed=0).values)


def test_entry_without_marker_from_another_writer(store):
    # what a job killed inside to_zarr leaves: a group with data and no marker
    xr.Dataset({"data": (("stimulus", "unit"), np.zeros((2, 2)))}).to_zarr(
        store._zstore, group="features/net/conv9", mode="w", consolidated=False
    )
    assert store.layers("net") == [] and store.models() == []
    assert store.incomplete_entries() == ["features/net/conv9"]
    with pytest.raises(StoreError, match="features/net/conv9.*did not finish"):
        store.read_features("net", "conv9")


def test_missing_entry(store):
    with pytest.raises(StoreError, match="'neural/nope' cannot be read: it does not exist"):
        store.read_neural("nope")


# ---------------------------------------------------------------------------- modes, names, URLs
def test_read_only_refuses_writes(store, tmp_path):
    store.write_neural("monkeyA", _neural())
    ro = open_store(tmp_path / "study.zarr", mode="r")
    assert ro.neural_sets() == ["monkeyA"]
    np.testing.assert_array_equal(ro.read_neural("monkeyA").values, _neural().values)
    with pytest.raises(StoreError, match="read-only"):
        ro.write_neural("monkeyB", _neural())
    with pytest.raises(StoreError, match="read-only"):
        ro.write_dataset("cache/x", xr.Dataset())
    with pytest.raises(StoreError, match="read-only"):
        ro.invalidate("neural/monkeyA")
    locks = tmp_path / "study.zarr" / ".neuroxr" / "locks"
    before = sorted(os.listdir(locks)) if locks.exists() else []
    with pytest.raises(StoreError, match=r"^store .* is open read-only; open it with mode='a' to write\.$"):
        ro.lock("neural/monkeyA")  # a lock is a writer's: a read-only store took one, writing its file into the store
    assert (sorted(os.listdir(locks)) if locks.exists() else []) == before
    assert ro.is_complete("neural/monkeyA")



@pytest.mark.parametrize("version, advice", [(2, "upgrade neuroxr to write to it"), ("x", "check it with neuroxr validate")])
def test_a_store_of_another_layout_version_is_opened_read_only_only(store, tmp_path, version, advice):
    """A writer never changes a store whose layout it does not know (a newer neuroxr's); reading it works."""
    import zarr

    store.write_neural("monkeyA", _neural())
    zarr.open_group(str(tmp_path / "study.zarr"), mode="a").attrs["neuroxr_store_version"] = version
    for kw in ({}, {"create": False}):
        with pytest.raises(StoreError, match=f"layout version {version!r} .*; this neuroxr writes version 1 only: {advice}"):
            open_store(tmp_path / "study.zarr", **kw)
    assert open_store(tmp_path / "study.zarr", mode="r").neural_sets() == ["monkeyA"]
    from click.testing import CliRunner

    from neuroxr.cli import main

    res = CliRunner().invoke(main, ["score", "dimensionality", str(tmp_path / "study.zarr"), "monkeyA"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1 and advice in res.stderr
    assert not (tmp_path / "study.zarr" / "metrics").exists()  # nothing written


def test_a_new_store_inside_another_zarr_store_is_refused(store, tmp_path):
    """A new store would join the groups of the one around it (that store then fails validation):
    refused before its folder is made; the store itself and its groups open as before."""
    from neuroxr.schemas import validate_store

    store.write_neural("monkeyA", _neural())
    outer = tmp_path / "study.zarr"
    for inner in (outer / "sub.zarr", outer / "neural" / "x.zarr", outer / "neural" / "monkeyA" / "deep" / "y"):
        with pytest.raises(StoreError, match=rf"^cannot make a study store at .*: it lies inside the Zarr store {str(outer)!r}, "
                                             r"whose groups it would join; choose a path outside it\.$"):
            open_store(inner)
        assert not inner.exists()
    assert validate_store(str(outer)) == [] and open_store(outer).neural_sets() == ["monkeyA"]
    assert open_store(tmp_path / "beside.zarr").neural_sets() == []  # beside it: a new store as ever


def test_a_zarr_format_2_group_is_no_store_for_readers_or_writers(tmp_path):
    """Zarr format 2 data is named as such (not "no Zarr group there"), and never opened for writing,
    which went on to add neuroxr's folders to it."""
    import zarr

    old = tmp_path / "old.zarr"
    zarr.open_group(str(old), mode="w", zarr_format=2).create_group("neural")
    before = sorted(os.listdir(old))
    for kw in ({"mode": "r"}, {}, {"create": False}):
        with pytest.raises(StoreError, match=r"holds Zarr format 2 data \(\.zgroup/\.zarray\), no neuroxr study store "
                                             r"\(Zarr format 3, zarr\.json\); choose another path"):
            open_store(old, **kw)
    assert sorted(os.listdir(old)) == before


def test_a_damaged_root_document_says_what_to_do(store):
    """A store whose root zarr.json cannot be parsed: one line naming the path and what to do."""
    with open(os.path.join(store.url, "zarr.json"), "w") as f:
        f.write("{not json")
    for kw in ({"mode": "r"}, {}):
        with pytest.raises(StoreError, match=r"the study store .* is damaged: its root zarr\.json is not valid JSON; "
                                             r"restore it from a copy, or write it back as \{.*\}\.$"):
            StudyStore(store.url, **kw)
    with open(os.path.join(store.url, "zarr.json")) as f:
        assert f.read() == "{not json"  # never written over
    with pytest.raises(StoreError) as info:
        StudyStore(store.url, mode="r")
    with open(os.path.join(store.url, "zarr.json"), "w") as f:  # the document the message gives
        f.write(str(info.value).rpartition("write it back as ")[2][:-1])
    assert StudyStore(store.url, mode="r").damaged() == [] and StudyStore(store.url).url == store.url


def test_read_only_missing_store(tmp_path):
    with pytest.raises(StoreError, match="no study store"):
        StudyStore(tmp_path / "absent.zarr", mode="r")


@pytest.mark.parametrize("mode", ["a", "r"])
def test_an_unknown_url_protocol_is_a_one_line_store_error(mode):
    """Before: fsspec's bare ValueError ('Protocol not known: nxunknown') from nx.open_store."""
    import neuroxr as nx

    with pytest.raises(StoreError, match=r"^cannot open the store 'nxunknown://b/s.zarr': fsspec knows no protocol 'nxunknown'; "
                                         r"give a path or a URL such as s3://bucket/study.zarr.$"):
        nx.open_store("nxunknown://b/s.zarr", mode=mode)


def test_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'a' or 'r'"):
        StudyStore(tmp_path / "x.zarr", mode="w")


@pytest.mark.parametrize("name", ["a/b", "a__b", "_a", "a_", "a b", ""])
def test_bad_names_are_refused(store, name):
    with pytest.raises(StoreError, match="invalid neural set name"):
        store.write_neural(name, _neural())


@pytest.mark.parametrize("region", ["V1/V2", "a__b", "IT_", "V4 left", ""])
def test_bad_region_values_are_refused(store, region):
    # a region names the set '<neural>.<region>' and the entry paths of that set
    da = _neural().assign_coords(region=("neuroid", ["IT", "IT", region, region, "V4"]))
    with pytest.raises(StoreError, match=f"invalid region {region!r} of neural set 'mB'.*rename it") as info:
        store.write_neural("mB", da)
    assert "\n" not in str(info.value) and "mB" not in store.neural_sets()
    store.write_neural("mB", da.assign_coords(region=("neuroid", ["IT", "IT", "V1.a", "V1-V2", "V4"])))  # dots and '-' are fine


def test_bad_model_name_is_refused(store):
    # '__' separates the two sets of an entry's pair group: no set name may hold it
    with pytest.raises(StoreError, match="invalid model name 'net__conv1'"):
        store.write_features("net__conv1", "fc", _features())


def test_file_url(tmp_path):
    url = (tmp_path / "via-url.zarr").as_uri()
    assert url.startswith("file://")
    s = open_store(url)
    s.write_neural("monkeyA", _neural())
    again = open_store(url, mode="r")
    np.testing.assert_array_equal(again.read_neural("monkeyA").values, _neural().values)
    assert (tmp_path / "via-url.zarr" / "neural" / "monkeyA").is_dir()


def test_fsspec_memory_url():
    url = f"memory://neuroxr-test-{uuid.uuid4().hex}/study.zarr"
    s = open_store(url)
    s.write_features("net", "conv1", _features())
    s.write_dataset(SCORE, _scores())
    again = open_store(url, mode="r")
    assert again.inventory()["features"] == {"net": ["conv1"]}
    xr.testing.assert_identical(decoded(again.read_dataset(SCORE).load()), _scores())


@pytest.mark.parametrize("deleted", ["cache/gram/net/conv1", "metrics/cka"])
def test_a_parent_group_another_writer_deleted_is_made_again(deleted):
    """A long-lived object store object remembered the parent groups it found; another object (or process)
    deleted one (``write_features`` drops ``cache/gram/<model>/<layer>``; any deletion above an entry). The
    next entry written below it came without its parent's document: Zarr could not see it, and
    ``damaged()`` (so ``neuroxr validate``) reported a missing metadata document."""
    from neuroxr.entries import compute

    url = f"memory://neuroxr-parent-{uuid.uuid4().hex}/study.zarr"
    a = StudyStore(url)
    a.write_neural("monkeyA", _neural())
    a.write_features("net", "conv1", _features())
    compute(a, "cka", "net.conv1", "monkeyA")
    other = StudyStore(url)
    if deleted.startswith("cache/"):
        other.write_features("net", "conv1", _features(1))
    else:
        other.invalidate(deleted)
    compute(a, "cka", "net.conv1", "monkeyA")  # writes a Gram and an entry below the deleted groups
    assert StudyStore(url).damaged() == []
    assert len([p for p in StudyStore(url, mode="r").listing("cache/gram")]) == 1


# ---------------------------------------------------------------------------- entries are groups
def test_store_lists_groups_not_entry_layouts(store):
    """The store lists every group of data, whatever its path; it knows no entry layout."""
    store.write_neural("monkeyA", _neural())
    paths = ["metrics/ersa/net.conv1__monkeyA/00000000000000aa", "metrics/dimensionality/net.conv1/00000000000000bb",
             "scores/forward/net.conv1__monkeyA", "elsewhere/x"]
    for p in paths:
        store.write_dataset(p, xr.Dataset({"score": ((), 1.0)}))
    listed = store.entries()
    assert sorted(p for _, p, _ in listed) == sorted(paths + ["neural/monkeyA"])
    assert {(top, p) for top, p, _ in listed} >= {("metrics", paths[0]), ("elsewhere", "elsewhere/x")}
    assert not any(hasattr(store, m) for m in ("write_scores", "read_scores", "write_metric", "metric_path",
                                               "score_entries", "metric_entries", "has_scores", "has_metric"))


def test_group_cache_keeps_the_most_recently_used_within_its_bytes():
    """Groups by (path, token), at most max_bytes of their keys, the least recently used dropped first;
    safe to share between threads."""
    from concurrent.futures import ThreadPoolExecutor

    import zarr

    from neuroxr.store.batch import GroupCache

    def group(i):
        doc = {"zarr_format": 3, "node_type": "group", "attributes": {"i": i}}
        return {"zarr.json": json.dumps(doc).encode().ljust(100)}

    cache = GroupCache(250)  # two groups of 100 bytes
    for i in range(3):
        cache.keep((f"g{i}", "t"), group(i))
    assert cache.get(("g0", "t")) is None and cache.get(("g1", "t")) is not None
    cache.keep(("g3", "t"), group(3))  # g2 is now the least recently used
    assert cache.get(("g2", "t")) is None and cache.get(("g1", "t")) is not None
    assert zarr.open_group(cache.get(("g1", "t")), mode="r").attrs["i"] == 1
    assert cache.get(("g1", "other token")) is None  # a rewrite is never answered with the old copy
    cache.forget("g1")
    assert cache.get(("g1", "t")) is None and cache.get(("g3", "t")) is not None
    assert GroupCache(0).keep(("g", "t"), group(0)) is not None  # nothing kept, the group still returned

    shared = GroupCache(1000)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: (shared.keep((f"g{i % 30}", "t"), group(i)), shared.get((f"g{i % 7}", "t")),
                                 shared.forget(f"g{i % 11}")), range(2000)))
    assert shared._bytes == sum(b for _, b in shared._groups.values()) <= 1000


@pytest.mark.parametrize("mode, create", [("r", False), ("a", False), ("a", True)])
def test_a_file_is_named_a_file_not_a_missing_folder(tmp_path, mode, create):
    path = tmp_path / "afile"
    path.write_text("not a store")
    with pytest.raises(StoreError, match=r"it is a file, not a store folder\); pass the store's folder\.$"):
        StudyStore(path, mode=mode, create=create)


def test_the_entry_functions_name_a_file_a_file(tmp_path):
    import neuroxr as nx

    path = tmp_path / "afile"
    path.write_text("not a store")
    with pytest.raises(StoreError, match=r"it is a file, not a store folder"):
        nx.score(str(path), "forward", "net.l1", "mA")


# ---------------------------------------------------------------- a cached store, call by call
def test_each_call_on_a_cached_store_starts_from_fresh_documents(store):
    """A long-lived cached store: within one session a document is read once; the next outermost
    call (compute, lookup, sweep enter one) sees what another writer wrote since."""
    store.write_features("net", "conv1", _features())
    cached = StudyStore(store.url, cache=True)
    with cached.session():
        old = cached.token("features/net/conv1")
        store.write_features("net", "conv1", _features(1))  # another writer (this object's cache does not see it)
        with cached.session():  # a nested call shares the outer one's documents
            assert cached.token("features/net/conv1") == old
    with cached.session():
        assert cached.token("features/net/conv1") == store.token("features/net/conv1") != old
    held = StudyStore(store.url, cache=True).hold()  # a sweep's private twin keeps its documents
    with held.session():
        tok = held.token("features/net/conv1")
    store.write_features("net", "conv1", _features(2))
    with held.session():
        assert held.token("features/net/conv1") == tok
    assert cached.cached() is not cached and cached.cached()._docs == {}


def test_compute_and_lookup_on_a_long_lived_cached_store_never_match_an_old_token(store):
    """compute / lookup on a cached store kept across calls: a set rewritten by another writer since
    its last call is computed again under its new token, never read back from the old entry."""
    from neuroxr.entries import compute, lookup

    store.write_features("net", "conv1", _features())
    store.write_features("net", "conv2", _features(3, layer="conv2"))
    cached = StudyStore(store.url, cache=True)
    first = compute(cached, "cka", "net.conv1", "net.conv2")
    store.write_features("net", "conv1", _features(1))  # another writer
    assert lookup(cached, "cka", "net.conv1", "net.conv2") is None
    again = compute(cached, "cka", "net.conv1", "net.conv2")
    fresh = compute(StudyStore(store.url), "cka", "net.conv1", "net.conv2")
    assert again.computed and again.path != first.path and again.path == fresh.path and not fresh.computed
    assert float(again.dataset["score"]) == float(fresh.dataset["score"]) != float(first.dataset["score"])


# ---------------------------------------------------------------- lazy reads and rewrites
def test_a_lazy_read_held_across_a_rewrite_raises_instead_of_mispairing(store):
    """A lazy read whose set was rewritten since (stimuli reversed) raises, never pairs the new
    copy's rows with the old stimulus ids; a new read pairs them right."""
    f = _features()
    store.write_features("net", "conv1", f)
    old = store.read_features("net", "conv1")
    store.write_features("net", "conv1", f.isel(stimulus=slice(None, None, -1)))
    with pytest.raises(StoreError, match="was rewritten since it was read lazily.*read it again"):
        old.load()
    new = store.read_features("net", "conv1")
    assert list(new.stimulus_id.values) == list(f.stimulus_id.values[::-1])
    np.testing.assert_array_equal(new.values, f.values[::-1])


def test_a_lazy_read_pickles(store):
    """The version check holds no store object: a lazy set still travels to Dask workers."""
    import pickle

    store.write_features("net", "conv1", _features())
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(store.read_features("net", "conv1"))).values,
                                  _features().values)


@pytest.fixture
def in_place(monkeypatch):
    """A memory:// store whose writes go in place (as an object-store set over 64 MiB)."""
    from neuroxr.store import batch

    monkeypatch.setattr(batch, "BATCH_BYTES", 0)
    return StudyStore(f"memory://inplace-{uuid.uuid4().hex}/s.zarr")


def test_an_object_store_set_rewritten_from_a_lazy_read_of_itself(in_place):
    """A set rewritten in place from a lazy read of itself (z-scored): the new copy holds the z-scores
    and the neural set its shift (the input is loaded before the old copy is moved aside), never NaN."""
    f, r = _features(), _neural(dtype="float64")
    in_place.write_features("net", "conv1", f)
    in_place.write_neural("mA", r)
    lazy = in_place.read_features("net", "conv1")
    in_place.write_features("net", "conv1", (lazy - lazy.mean("stimulus")) / lazy.std("stimulus"))
    x = f.values
    np.testing.assert_allclose(in_place.read_features("net", "conv1").values, (x - x.mean(0)) / x.std(0), rtol=1e-12)
    lz = in_place.read_neural("mA")
    in_place.write_neural("mA", lz + 1)
    np.testing.assert_array_equal(in_place.read_neural("mA").values, r.values + 1)  # the missing trial stays NaN
    assert in_place.damaged() == []


def test_an_object_store_self_rewrite_too_large_to_load_is_refused(in_place, monkeypatch):
    """Beyond SELF_READ_BYTES the self-rewrite is refused in one line, nothing written; and a lazy read
    of a copy moved aside that slips through raises, so the previous copy is put back (never NaN)."""
    from neuroxr.store import previous

    f = _features()
    in_place.write_features("net", "conv1", f)
    lazy = in_place.read_features("net", "conv1")
    monkeypatch.setattr(previous, "SELF_READ_BYTES", 0)
    with pytest.raises(StoreError, match="from a lazy read of itself .*nothing was written"):
        in_place.write_features("net", "conv1", lazy * 2)
    np.testing.assert_array_equal(in_place.read_features("net", "conv1").values, f.values)
    monkeypatch.setattr(previous, "load_self_reads", lambda url, path, ds: ds)  # the guard of the reads alone
    with pytest.raises(StoreError, match="deleted or being rewritten since it was read lazily"):
        in_place.write_features("net", "conv1", lazy * 2)
    np.testing.assert_array_equal(in_place.read_features("net", "conv1").values, f.values)
    assert in_place.damaged() == []


def test_read_features_round_trip_at_the_root_and_keep_their_label(store, tmp_path):
    """A layer read back goes to Zarr / netCDF as it is (its name is the set's, ``net.conv1``, not a
    path); messages name it ``net/conv1`` (its model and layer coords) and results record the set's
    label ``net.conv1`` (:func:`neuroxr.sets.set_label`), as the direction results do."""
    from neuroxr.geometry import rdm
    from neuroxr.geometry._common import _named

    store.write_features("net", "conv1", _features())
    da = store.read_features("net", "conv1")
    storable(da).to_zarr(tmp_path / "f.zarr")
    assert list(xr.open_zarr(tmp_path / "f.zarr").data_vars) == [da.name]
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "f.zarr")[da.name].load(), storable(da).load())
    storable(da).to_netcdf(tmp_path / "f.nc", engine="scipy")
    xr.testing.assert_identical(xr.load_dataset(tmp_path / "f.nc", engine="scipy")[da.name], storable(da).load())
    assert da.name == "net.conv1" and _named(da, "features") == "features (net/conv1)"
    assert rdm(da).attrs["label"] == "net.conv1"


def test_regions_that_differ_only_in_case_are_refused(store):
    """Regions 'IT' and 'it' of one set were stored: their subsets' entries ('m.IT', 'm.it') are one folder on a
    case-insensitive file system, so one would be written into the other's. Refused in one line; nothing written."""
    from neuroxr.errors import StoreError

    da = _neural().assign_coords(region=("neuroid", ["IT", "it", "V4", "V4", "IT"]))
    with pytest.raises(StoreError, match=r"^neural set 'm': regions 'IT' and 'it' differ only in case.*write the set again\.$"):
        store.write_neural("m", da)
    assert store.neural_sets() == []
    store.write_neural("m", da.assign_coords(region=("neuroid", ["IT", "IT", "V4", "V4", "IT"])))
    assert store.neural_sets() == ["m"]


# ---------------------------------------------------------------------------- names a file system cannot hold
def _too_long(tmp_path, write: str, name: str):
    """Write a set (``write``: 'neural', 'model' or 'layer' named ``name``) to a new store; the store."""
    import torch

    from neuroxr.extract import extract_features

    st = StudyStore(tmp_path / "s.zarr")
    x = torch.zeros(7, 3)
    calls = {
        "neural": lambda: st.write_neural(name, _neural()),
        "model": lambda: st.write_features(name, "l1", _features()),
        "layer": lambda: st.write_features("net", name, _features()),
        "extract model": lambda: extract_features(torch.nn.Sequential(torch.nn.Linear(3, 2)), x, st, model_name=name,
                                                  progress=False),
        "extract layer": lambda: extract_features(_named_net(name), x, st, model_name="net", progress=False),
    }
    calls[write]()
    return st


def _named_net(name):
    import torch

    net = torch.nn.Sequential()
    net.add_module(name, torch.nn.Linear(3, 2))
    return net


@pytest.mark.parametrize("write", ["neural", "model", "layer", "extract model", "extract layer"])
def test_a_set_name_too_long_for_a_file_name_is_refused_up_front(tmp_path, write):
    """A set name whose lock file name (or its Gram's) passes the file system's 255 bytes was taken, and the write
    failed at the lock with an OSError after the data were staged, leaving a pending record that broke every later
    write to the store: refused first in one line naming the set and the longest name that fits, which is written."""
    import re

    with pytest.raises(StoreError) as err:
        _too_long(tmp_path, write, "a" * 250)
    msg = str(err.value)
    assert "\n" not in msg and "'aaaaaaaaaaaaaaaaaaaaaaaa'... (250 characters)" in msg and "255 bytes" in msg, msg
    room = int(re.search(r"at most (\d+) characters", msg).group(1))
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", _neural())  # nothing recorded of the refused write: the store takes others
    st.write_features("net", "conv1", _features())
    # the other name of the set's path: layer 'l1', model 'net', an extraction's layer '0' (a Sequential's module)
    name = "b" * (room - {"neural": 0, "model": 2, "layer": 3, "extract model": 1, "extract layer": 3}[write])
    _too_long(tmp_path, write, name)  # the longest name that fits is stored
    assert name in {*st.neural_sets(), *st.models(), *st.layers("net")}
