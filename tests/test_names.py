"""Names in requests resolve to exactly the set named, or are refused in one line naming the
argument and what the store holds: never another set, never a silent empty result."""

from __future__ import annotations

import numpy as np
import pytest

from neuroxr.errors import LayoutError, StoreError


def _ids(n=20):
    return [f"s{i:02d}" for i in range(n)]


@pytest.fixture
def named_store(tmp_path):
    """A store with neural set mA (regions V4, IT) and model net's layers l1 and l1.0."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(0)
    st = StudyStore(tmp_path / "names.zarr")
    st.write_neural("mA", neural(rng.normal(size=(20, 4, 4)), _ids(), [f"n{j}" for j in range(4)],
                                 region=["V4", "V4", "IT", "IT"]))
    st.write_features("net", "l1", features(rng.normal(size=(20, 6)), _ids()))
    st.write_features("net", "l1.0", features(rng.normal(size=(20, 5)), _ids()))
    return st


# ---------------------------------------------------------------------------- reading a set by name
@pytest.mark.parametrize("name", ["mA/", "./mA", "mA//", "", "mA "])
def test_read_neural_refuses_a_name_no_set_can_have_naming_the_sets(named_store, name):
    """'mA/' reached the group of mA and called that set damaged ('compute it again'); '' the folder of
    every neural set and called it unfinished ('rewrite it'): a typo read as damage."""
    with pytest.raises(StoreError) as err:
        named_store.read_neural(name)
    msg = str(err.value)
    assert "damaged" not in msg and "did not finish" not in msg
    assert f"name {name!r}" in msg and "['mA']" in msg and "\n" not in msg


@pytest.mark.parametrize("model, layer, arg", [("net", "l1/", "layer"), ("net/", "l1", "model"), ("net", "./l1", "layer"),
                                               ("net", "", "layer")])
def test_read_features_refuses_a_name_no_set_can_have_naming_the_layers(named_store, model, layer, arg):
    with pytest.raises(StoreError) as err:
        named_store.read_features(model, layer)
    msg = str(err.value)
    assert "damaged" not in msg and "did not finish" not in msg
    assert f"{arg} {(layer if arg == 'layer' else model)!r}" in msg
    assert ("['l1', 'l1.0']" if arg == "layer" else "['net']") in msg


def test_a_set_the_store_lacks_is_refused_naming_what_it_holds(named_store):
    with pytest.raises(StoreError, match=r"'neural/MA' cannot be read: it does not exist; it holds the neural sets \['mA'\]"):
        named_store.read_neural("MA")
    with pytest.raises(StoreError, match=r"does not exist; model 'net' has the layers \['l1', 'l1.0'\]"):
        named_store.read_features("net", "l2")
    with pytest.raises(StoreError, match=r"does not exist; it holds the models \['net'\]"):
        named_store.read_features("nett", "l1")
    # the names that exist still read the set they name
    assert named_store.read_features("net", "l1.0").sizes["unit"] == 5


# ---------------------------------------------------------------------------- whole-store tables
def test_store_tables_take_one_model_name_and_refuse_unknown_models(named_store):
    """models="net" was iterated as 'n', 'e', 't' (no such models: an empty table, no word);
    models=["nope"] gave an empty table too; a model named twice gave its layers twice."""
    from neuroxr.entries.tables import store_cka, store_dimensionality

    want = store_dimensionality(named_store, models=["net"])
    assert list(want["network"].values) == ["net/l1", "net/l1.0"]
    one = store_dimensionality(named_store, models="net")
    assert list(one["network"].values) == list(want["network"].values)
    np.testing.assert_array_equal(one["effective_dimensionality"].values, want["effective_dimensionality"].values)
    twice = store_dimensionality(named_store, models=["net", "net"])
    assert list(twice["network"].values) == list(want["network"].values)
    for bad in (["nope"], ["net", "nope"], ["net "]):
        with pytest.raises(LayoutError, match=r"models .* \['net'\]"):
            store_dimensionality(named_store, models=bad)
        with pytest.raises(LayoutError, match=r"models .* \['net'\]"):
            store_cka(named_store, models=bad)
    assert list(store_cka(named_store, models="net")["network"].values) == ["net/l1", "net/l1.0"]


# ---------------------------------------------------------------------------- the region name of the whole set
def _all_region_neural():
    from neuroxr.layouts import neural

    rng = np.random.default_rng(1)
    return neural(rng.normal(size=(20, 4, 4)), _ids(), [f"n{j}" for j in range(4)], region=["all", "all", "IT", "IT"])


def test_a_region_named_all_is_refused_when_the_set_is_written(tmp_path):
    """'all' is the whole set's region name (a sweep's regions, a report's rows): a region 'all' had its
    neuroids read as the whole set there (regions='each' planned the whole set for it)."""
    from neuroxr.store import StudyStore

    st = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match=r"region 'all' of neural set 'mA'.*rename it in the 'region' coord"):
        st.write_neural("mA", _all_region_neural())
    assert st.neural_sets() == []


@pytest.fixture
def older_all_store(tmp_path, monkeypatch):
    """A store written before a region 'all' was refused: mA (regions all, IT) and net.l1."""
    import neuroxr.store.set_writers as sw
    from neuroxr.layouts import features
    from neuroxr.store import StudyStore

    st = StudyStore(tmp_path / "old.zarr")
    with monkeypatch.context() as m:
        m.setattr(sw, "_check_region", lambda value, neural: value)
        st.write_neural("mA", _all_region_neural())
    st.write_features("net", "l1", features(np.random.default_rng(2).normal(size=(20, 6)), _ids()))
    return st


def test_a_sweep_of_each_region_refuses_a_set_holding_a_region_named_all(older_all_store):
    from neuroxr.errors import SweepConfigError
    from neuroxr.sweep.plan import plan_sweep

    with pytest.raises(SweepConfigError, match=r"neural set 'mA' has neuroids of region 'all'"):
        plan_sweep(older_all_store, regions="each", directions=["forward"])
    # the whole set and a listed region are what they name
    planned = plan_sweep(older_all_store, regions=["all", "IT"], directions=["forward"])
    assert [e.target for e in planned] == ["mA", "mA.IT"]


def test_an_entry_of_a_region_named_all_is_refused(older_all_store):
    """Its entry 'net.l1__mA.all' is labeled region 'all' in a report, the whole set's rows."""
    import neuroxr as nx

    with pytest.raises(StoreError, match=r"region 'all' of neural set 'mA'"):
        nx.compute(older_all_store, "forward", "net.l1", "mA.all", params={"reps": 1})


# ---------------------------------------------------------------------------- paths of groups
@pytest.mark.parametrize("path", ["../sibling", "", "neural/mA/../..", "neural/", "/neural/mA", ".neuroxr"])
def test_invalidate_refuses_a_path_outside_the_store_and_deletes_nothing(tmp_path, path):
    """invalidate('../sibling') joined the path to the store's folder and deleted the folder beside the
    store (data that was never the store's); '' named the store itself."""
    import xarray as xr

    from neuroxr.store import StudyStore

    (tmp_path / "sibling").mkdir()
    (tmp_path / "sibling" / "precious.txt").write_text("keep")
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", _all_region_neural().assign_coords(region=("neuroid", ["V4", "V4", "IT", "IT"])))
    with pytest.raises(StoreError, match=rf"invalidate: path {path!r} names no group of the store"):
        st.invalidate(path)
    with pytest.raises(StoreError, match=rf"write_dataset: path {path!r} names no group of the store"):
        st.write_dataset(path, xr.Dataset({"data": ("x", np.arange(3.0))}))
    assert (tmp_path / "sibling" / "precious.txt").read_text() == "keep"
    assert st.neural_sets() == ["mA"] and st.read_neural("mA").sizes["neuroid"] == 4


@pytest.mark.parametrize("url", ["local", "memory://"])
@pytest.mark.parametrize("path, why", [
    ("zarr.json", "'zarr.json' is a Zarr metadata document"), ("neural/zarr.json", "'zarr.json' is a Zarr metadata document"),
    ("neural/.zattrs", "'.zattrs' is a Zarr metadata document"), ("neural/.x", "'.x' is a hidden name"), ("neural/mA/data", "it lies inside the set 'neural/mA'"),
    ("neural/mA/data/c", "it lies inside the set 'neural/mA'"), ("features/net/l1/sub", "it lies inside the set 'features/net/l1'"),
])
def test_a_path_of_a_zarr_document_or_inside_a_set_is_no_group_to_write_or_delete(tmp_path, url, path, why):
    """invalidate('zarr.json') and write_dataset('zarr.json', ds) deleted or replaced the store's root document (the
    store was gone), and a path inside a set (its array 'data', a chunk folder) deleted or replaced part of it (a
    damaged set): refused in one line naming why, nothing changed."""
    import re
    import uuid

    import xarray as xr

    from neuroxr.layouts import features
    from neuroxr.store import StudyStore

    where = str(tmp_path / "s.zarr") if url == "local" else f"memory://{uuid.uuid4().hex[:8]}/s.zarr"
    st = StudyStore(where)
    st.write_neural("mA", _all_region_neural().assign_coords(region=("neuroid", ["V4", "V4", "IT", "IT"])))
    st.write_features("net", "l1", features(np.random.default_rng(0).normal(size=(20, 3)), _ids()))
    for caller, call in (("invalidate", lambda: st.invalidate(path)),
                         ("write_dataset", lambda: st.write_dataset(path, xr.Dataset({"data": ("x", np.arange(3.0))})))):
        with pytest.raises(StoreError, match=rf"^store .*: {caller}: path {path!r} names no group of the store: "
                                             rf"{re.escape(why)}; [^\n]*\.$"):
            call()
    again = StudyStore(where, mode="r")
    assert again.neural_sets() == ["mA"] and again.layers("net") == ["l1"] and again.damaged() == []
    assert again.read_neural("mA").sizes["neuroid"] == 4


@pytest.mark.parametrize("path, holds", [("neural", "neural"), ("features", "features"), ("features/net", "features"),
                                         ("scores", "scores"), ("cache/gram/net", "cache")])
def test_write_dataset_refuses_a_group_that_holds_sets_or_entries(tmp_path, path, holds):
    """write_dataset('features/net', ds) replaced the model's group, and every layer of it was gone without a word
    ('neural': every neural set); refused in one line naming the path and what it holds. invalidate deletes such
    a group on purpose."""
    import re

    import xarray as xr

    from neuroxr.entries import compute, list_entries
    from neuroxr.layouts import features
    from neuroxr.store import StudyStore

    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", _all_region_neural().assign_coords(region=("neuroid", ["V4", "V4", "IT", "IT"])))
    st.write_features("net", "l1", features(np.random.default_rng(0).normal(size=(20, 3)), _ids()))
    compute(st, "cka", "net.l1", "mA")
    entries = sorted(list_entries(st)["path"])
    with pytest.raises(StoreError, match=rf"^store .*: write_dataset: path {re.escape(repr(path))} names no entry of the "
                                         rf"store: it holds the {holds} group's [^\n]*\.$"):
        st.write_dataset(path, xr.Dataset({"data": ("x", np.arange(3.0))}))
    again = StudyStore(tmp_path / "s.zarr", mode="r")
    assert again.neural_sets() == ["mA"] and again.layers("net") == ["l1"] and sorted(list_entries(again)["path"]) == entries
    st.invalidate(path)  # deleted on purpose
    assert path.split("/")[0] not in ("neural", "features") or not (again.neural_sets() and again.layers("net"))


# ---------------------------------------------------------------------------- names differing in case only
def test_a_set_whose_folder_differs_in_case_only_is_refused_and_a_name_of_another_type_in_one_line(named_store):
    """Sets 'mA' and 'MA' (or models 'net' and 'Net', layers 'l1' and 'L1') were both written: on a case-insensitive
    file system (macOS, Windows, or the store copied there) the second went into the first's folder without a
    word. Refused in one line naming both; rewriting the same set, and other names, still write. A model name
    given as an array (arguments swapped) named the array's whole repr (many lines)."""
    from neuroxr.layouts import features, neural

    rng = np.random.default_rng(1)
    f = features(rng.normal(size=(20, 3)), _ids())
    for model, layer, folder in (("Net", "l1", "features/Net"), ("net", "L1", "features/net/L1"), ("NET", "x", "features/NET")):
        with pytest.raises(StoreError, match=rf"its folder {folder!r} differs only in case from .*case-insensitive"):
            named_store.write_features(model, layer, f)
    with pytest.raises(StoreError, match=r"its folder 'neural/MA' differs only in case from 'neural/mA'"):
        named_store.write_neural("MA", neural(rng.normal(size=(20, 4, 2)), _ids()))
    named_store.write_features("net", "l2", f)  # another name, and the same set again, are written
    named_store.write_neural("mA", neural(rng.normal(size=(20, 4, 2)), _ids()))
    assert sorted(named_store.models()) == ["net"] and sorted(named_store.layers("net")) == ["l1", "l1.0", "l2"]
    with pytest.raises(StoreError) as e:
        named_store.write_features(f, "net", "l3")
    assert "\n" not in str(e.value) and "expected a str; got DataArray" in str(e.value)


def test_a_store_written_before_the_case_check_rewrites_its_sets(named_store, monkeypatch):
    """A store holding 'mA' and 'MA' (written before the check, on a case-sensitive file system) rewrites either
    set; a third spelling is refused."""
    import neuroxr.sets as sets
    from neuroxr.layouts import neural

    n = neural(np.random.default_rng(2).normal(size=(20, 4, 2)), _ids())
    with monkeypatch.context() as m:
        m.setattr(sets, "_refuse_case_collisions", lambda *a: None)
        named_store.write_neural("MA", n)
    named_store.write_neural("mA", n)
    named_store.write_neural("MA", n)
    with pytest.raises(StoreError, match=r"its folder 'neural/ma' differs only in case"):
        named_store.write_neural("ma", n)


def test_a_name_of_another_type_or_a_store_of_many_sets_is_refused_in_one_short_line(named_store):
    """A set name given as an array (arguments swapped) was refused with the array's whole repr; a store of many
    sets listed every one of them in the refusal of a name it lacks."""
    from neuroxr.layouts import neural

    n = neural(np.random.default_rng(3).normal(size=(20, 4, 2)), _ids())
    with pytest.raises(StoreError) as e:
        named_store.read_neural(n)
    assert "\n" not in str(e.value) and "name of type DataArray can name no set" in str(e.value)
    for i in range(12):
        named_store.write_neural(f"s{i:02d}", n)
    with pytest.raises(StoreError, match=r"it holds the neural sets \['mA', 's00', .*, 's08', \.\.\. \(3 more\)\]\.$"):
        named_store.read_neural("nope")
