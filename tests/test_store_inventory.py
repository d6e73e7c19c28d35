"""The store's inventory: listings read it, it follows every write, and it never makes a listing wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore
from neuroxr.store import inventory as inv

STIM = [f"s{i}" for i in range(6)]


def _neural(seed=0):
    return neural(np.random.default_rng(seed).normal(size=(6, 3, 2)), STIM)


def _feats(seed=0):
    return features(np.random.default_rng(seed).normal(size=(6, 4)), STIM)


def _walked(st):
    return sorted(p for _, p, complete in st.entries() if complete)


def _shard(root, name, records):
    d = os.path.join(root, ".neuroxr", "inventory")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{name}.json"), "w") as f:
        json.dump({"format": inv.FORMAT, "writer": name, "final": True, "records": records}, f)


@pytest.fixture
def store(tmp_path):
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", _neural())
    st.write_features("net", "l2", _feats().assign_attrs(depth_index=1))
    st.write_features("net", "l1", _feats(1).assign_attrs(depth_index=0))
    return st


def test_merge_latest_record_and_tombstones():
    docs = [{"records": {"a/x": [1, "complete", "t1"], "a/y": [5, "complete", "t2"], "b": [2, "pending", None]}},
            {"records": {"a": [3, "deleted", None], "b": [4, "complete", "t3"], "a/x2": [6, "complete", "t4"]}}]
    # a/x (1) is older than the tombstone of a (3): gone; a/y (5) and a/x2 (6) were written after it
    assert inv.merge(docs) == {"a/y": {"state": "complete", "token": "t2", "t": 5},
                               "b": {"state": "complete", "token": "t3", "t": 4},
                               "a/x2": {"state": "complete", "token": "t4", "t": 6}}
    root = {"records": {"": [10, "deleted", None], "c": [10, "complete", "t5"]}}
    assert inv.merge([*docs, root]) == {"c": {"state": "complete", "token": "t5", "t": 10}}


def test_inventory_follows_writes(store):
    assert store.inventory() == {"neural": ["mA"], "features": {"net": ["l1", "l2"]}}
    assert store.listing() == _walked(store) and store.inventory_problems() == []
    tok = store.token("neural/mA")
    store.write_neural("mA", _neural(1))  # a rewrite records the new token
    assert store.token("neural/mA") != tok and store.inventory_problems() == []
    store.invalidate("features/net/l2")
    assert store.layers("net") == ["l1"] and store.listing("features") == ["features/net/l1"]
    got = store.listing("neural", attrs=True)
    assert list(got) == ["neural/mA"] and got["neural/mA"]["neuroxr_token"] == store.token("neural/mA")
    assert StudyStore(store.url, mode="r").inventory_problems() == []


def test_listing_reads_the_inventory_not_the_hierarchy(store, monkeypatch):
    def no_walk(self):
        raise AssertionError("walked the hierarchy")

    monkeypatch.setattr(StudyStore, "_walk_groups", no_walk)
    st = StudyStore(store.url, mode="r")
    assert st.inventory() == {"neural": ["mA"], "features": {"net": ["l1", "l2"]}}
    assert st.neural_sets() == ["mA"] and st.models() == ["net"]


def test_pending_record_of_a_killed_writer_is_ignored(store):
    _shard(store.url, "dead~1~x", {"neural/mB": [2**62, "pending", None]})
    st = StudyStore(store.url, mode="r")
    assert st.neural_sets() == ["mA"]


def test_disagreement_falls_back_to_the_walk_and_rebuilds(store):
    _shard(store.url, "liar~1~x", {"neural/ghost": [time.time_ns(), "complete", "t"]})  # e.g. deleted by an old version
    ro = StudyStore(store.url, mode="r")
    assert ro.neural_sets() == ["mA"]  # confirmed against the group: walked instead
    assert ro.inventory_problems() == [("neural/ghost", "inventory lists a group that is absent or incomplete")]
    rw = StudyStore(store.url)
    assert rw.neural_sets() == ["mA"]  # a writable store rebuilds the inventory from the walk
    assert ro.inventory_problems() == [] and rw.listing() == _walked(rw)


def test_missing_inventory_is_rebuilt_by_a_writer(store):
    import shutil

    shutil.rmtree(os.path.join(store.url, ".neuroxr", "inventory"))
    ro = StudyStore(store.url, mode="r")
    assert ro.inventory() == {"neural": ["mA"], "features": {"net": ["l1", "l2"]}}  # walked
    assert StudyStore(store.url).listing() == _walked(store)
    assert os.listdir(os.path.join(store.url, ".neuroxr", "inventory"))


_WRITER = """
import sys, numpy as np
from neuroxr.layouts import neural
from neuroxr.store import StudyStore
st = StudyStore(sys.argv[1])
for i in range(4):
    st.write_neural(f"{sys.argv[2]}{i}", neural(np.zeros((6, 2, 2)) + i, [f"s{j}" for j in range(6)]))
"""


def test_concurrent_writers_lose_no_record(store):
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, store.url, name], env=env) for name in ("p", "q")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    st = StudyStore(store.url, mode="r")
    assert st.neural_sets() == sorted(["mA"] + [f"{n}{i}" for n in "pq" for i in range(4)])
    assert st.inventory_problems() == []


def test_cached_store_reads_documents_once(store, monkeypatch):
    from neuroxr.store import _zarr

    st = store.cached()
    calls = []
    real = _zarr.read_key
    monkeypatch.setattr(_zarr, "read_key", lambda z, k: calls.append(k) or real(z, k))
    for _ in range(3):
        st.token("neural/mA"), st.is_complete("features/net/l1")
    assert calls == ["neural/mA/zarr.json", "features/net/l1/zarr.json"]
    st.write_neural("mA", _neural(2))  # its own rewrite updates the cache
    assert st.token("neural/mA") == StudyStore(store.url, mode="r").token("neural/mA")
