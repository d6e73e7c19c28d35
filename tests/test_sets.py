"""The one name resolver (neuroxr.sets): names <-> typed references, region subsets, ambiguity refused."""

from __future__ import annotations

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.errors import LayoutError, ParameterError, StoreError
from neuroxr.sets import SetRef, check_new_set, feature_ref, neural_ref, read_set, resolve, stored_sizes


def _store(tmp_path):
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(12)]
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_neural("mA", nx.neural(rng.normal(size=(12, 5, 2)), stim, region=["IT", "IT", "V4", "V4", "V4"]))
    st.write_neural("mB", nx.neural(rng.normal(size=(12, 3, 2)), stim))
    st.write_features("net", "conv.1", nx.features(rng.normal(size=(12, 4)), stim))
    st.write_features("net.v2", "fc", nx.features(rng.normal(size=(12, 3)), stim))
    return st


def test_refs_name_and_path():
    assert feature_ref("a", "b.c").name == "a.b.c" and feature_ref("a", "b.c").path == "features/a/b.c"
    assert neural_ref("mA").name == "mA" and neural_ref("mA", "IT").name == "mA.IT"
    assert neural_ref("mA", "IT").path == "neural/mA"
    assert neural_ref("mA", "IT").labels("target") == {"target_kind": "neural", "target_neural": "mA", "target_region": "IT"}
    with pytest.raises(LayoutError, match="needs model and layer"):
        SetRef("features", model="a")
    with pytest.raises(LayoutError, match="unknown set kind"):
        SetRef("brain", neural="a")


def test_resolve_dotted_names_and_regions(tmp_path):
    st = _store(tmp_path)
    assert resolve(st, "net.conv.1") == feature_ref("net", "conv.1")
    assert resolve(st, "net.v2.fc") == feature_ref("net.v2", "fc")
    assert resolve(st, "mA") == neural_ref("mA")
    assert resolve(st, "mA.V4", kinds=("neural",)) == neural_ref("mA", "V4")
    ref = feature_ref("net", "conv.1")
    assert resolve(st, ref, kinds=("features",)) is ref
    with pytest.raises(LayoutError, match=r"holds no neural set '<name>\[.<region>\]' named 'net.conv.1' \(the target\)"):
        resolve(st, "net.conv.1", kinds=("neural",), role="target")
    with pytest.raises(LayoutError, match=r"named 'mA.PFC'.*neural sets \['mA', 'mB'\]"):
        resolve(st, "mA.PFC")
    with pytest.raises(LayoutError, match="the source must be a features set"):
        resolve(st, neural_ref("mA"), kinds=("features",))
    with pytest.raises(ParameterError, match="must name a set"):
        resolve(st, "")


def test_read_set_selects_the_region(tmp_path):
    st = _store(tmp_path)
    da = read_set(st, neural_ref("mA", "V4"))
    full = st.read_neural("mA").load()
    keep = np.asarray(full["region"].values) == "V4"
    np.testing.assert_array_equal(da.values, full.values[:, keep, :])
    assert da.name == "mA.V4" and list(np.unique(da["region"].values)) == ["V4"]
    lazy = read_set(st, feature_ref("net", "conv.1"), load=False)
    assert lazy.chunks is not None and lazy.name == "net.conv.1"


def test_stored_sizes_come_from_metadata_without_opening_the_set(tmp_path, monkeypatch):
    """A plan's questions of a set (its repeats: is a ceiling drawn; its time bins) opened it with
    xarray each time (about 0.1 s a set, most of a no-op sweep's planning); they read its metadata."""
    from neuroxr.entries import engine

    st = _store(tmp_path)
    A = nx.neural(np.random.default_rng(1).normal(size=(12, 2, 3, 4)), [f"s{i}" for i in range(12)],
                  time_bins=[(0, 1), (1, 2), (2, 3), (3, 4)])
    st.write_neural("mT", A)
    refs = [neural_ref("mA"), neural_ref("mA", "V4"), neural_ref("mB"), neural_ref("mT"), feature_ref("net", "conv.1")]
    want = [dict(read_set(st, r, load=False).sizes) for r in refs]
    monkeypatch.setattr(type(st), "read_neural", lambda *a, **k: pytest.fail("the set was opened"))
    monkeypatch.setattr(type(st), "read_features", lambda *a, **k: pytest.fail("the set was opened"))
    got = [stored_sizes(st, r) for r in refs]
    assert got[1] == {**want[1], "neuroid": 5}  # a region subset: the whole set's neuroids
    assert [g for i, g in enumerate(got) if i != 1] == [w for i, w in enumerate(want) if i != 1]
    assert got[3]["time_bin"] == 4 and engine._repeats(st, neural_ref("mT")) == 3


def test_colliding_names_are_refused_when_written(tmp_path):
    st = _store(tmp_path)
    # "net" + "v2.fc" and "net.v2" + "fc" are both "net.v2.fc"
    with pytest.raises(StoreError, match=r"'net.v2.fc' is already the name of the feature set model 'net.v2' layer 'fc'.*Rename"):
        check_new_set(st, "features", model="net", layer="v2.fc")
    # a neural set named like a feature set, and a feature set named like a region subset
    with pytest.raises(StoreError, match="already the name of the feature set model 'net' layer 'conv.1'"):
        check_new_set(st, "neural", name="net.conv.1")
    with pytest.raises(StoreError, match="already the name of the neural set 'mA' region 'IT'"):
        check_new_set(st, "features", model="mA", layer="IT")
    with pytest.raises(StoreError, match="region 'fc'.*already the name of the feature set model 'net.v2'"):
        check_new_set(st, "neural", name="net.v2", regions=["fc"])
    # rewriting a set, or a fresh name, is fine
    assert check_new_set(st, "features", model="net", layer="conv.1") == feature_ref("net", "conv.1")
    assert check_new_set(st, "neural", name="mA", regions=["IT", "V4", "MT"]) == neural_ref("mA")
    assert check_new_set(st, "features", model="net", layer="conv2") == feature_ref("net", "conv2")


@pytest.mark.parametrize("meanwhile", ["deleted", "rewritten"])
def test_a_set_written_while_another_process_changes_a_neural_set(tmp_path, monkeypatch, meanwhile):
    """The name check reads every neural set's regions: one deleted or rewritten by another process
    meanwhile is no reason to refuse another set's write (a deleted set has no regions; a rewritten
    one is read again, so a collision with its new regions is still refused)."""
    st = _store(tmp_path)
    other = nx.open_store(st.url)
    real = type(st).read_neural
    stim = [f"s{i}" for i in range(12)]

    def read_neural(self, name):
        if name == "mA" and not hasattr(read_neural, "done"):
            read_neural.done = True
            if meanwhile == "deleted":
                other.invalidate("neural/mA")
                return real(self, name)  # "it does not exist"
            other.write_neural("mA", nx.neural(np.ones((12, 2, 2)) * np.arange(2)[:, None], stim, region=["V1", "V1"]))
            raise StoreError(f"store {self.url!r}: entry 'neural/mA' cannot be read: it was being rewritten by another "
                             f"process while it was read; read it again.")
        return real(self, name)

    monkeypatch.setattr(type(st), "read_neural", read_neural)
    monkeypatch.setattr("neuroxr.sets._REGION_CACHE", {})  # read the regions, not their cache
    st.write_features("net", "conv2", nx.features(np.eye(12)[:, :4], stim))
    assert "conv2" in st.layers("net")
    if meanwhile == "rewritten":
        with pytest.raises(StoreError, match="already the name of the neural set 'mA' region 'V1'"):
            check_new_set(st, "features", model="mA", layer="V1")


def test_ambiguous_old_store_names_both(tmp_path, monkeypatch):
    st = _store(tmp_path)
    # written without the check (as 0.1.0 did): resolving names both sets
    monkeypatch.setattr("neuroxr.sets.check_new_set", lambda *a, **k: None)
    st.write_features("net", "v2.fc", nx.features(np.zeros((12, 2)) + np.arange(2), [f"s{i}" for i in range(12)]))
    with pytest.raises(LayoutError, match=r"'net.v2.fc' is ambiguous.*model 'net' layer 'v2.fc'; feature set model 'net.v2' layer 'fc'"):
        resolve(st, "net.v2.fc")


def test_region_subsets_follow_a_rewritten_set(tmp_path):
    # the regions of a neural set are cached per version token: a rewrite is seen at once
    st = _store(tmp_path)
    assert resolve(st, "mA.V4") == neural_ref("mA", "V4")
    rng = np.random.default_rng(1)
    stim = [f"s{i}" for i in range(12)]
    st.write_neural("mA", nx.neural(rng.normal(size=(12, 3, 2)), stim, region=["IT", "PFC", "PFC"]))
    with pytest.raises(LayoutError, match="holds no"):
        resolve(st, "mA.V4")
    assert resolve(st, "mA.PFC") == neural_ref("mA", "PFC")
