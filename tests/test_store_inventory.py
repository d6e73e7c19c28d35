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


def test_merge_orders_records_per_writer_not_by_clocks():
    """A deletion hides its own writer's earlier records only (by ``seq``, whatever the clocks); other
    writers' records below it stay candidates marked ``deleted``; a rebuild's tombstone hides just
    the records it read; across writers the latest time is the hint of the state."""
    docs = [{"writer": "A", "records": {"a/x": [1, "complete", "t1", 1], "a/y": [5, "complete", "t2", 3],
                                        "b": [2, "pending", None, 2]}},
            {"writer": "B", "records": {"a/z": [0, "complete", "t0", 1], "a": [2**62, "deleted", None, 2],
                                        "b": [4, "complete", "t3", 3], "a/x2": [6, "complete", "t4", 4]}}]
    # B's deletion of a (its clock far ahead) hides B's own a/z (seq 1 < 2), not A's records nor B's later a/x2
    assert inv.merge(docs) == {"a/x": {"state": "complete", "token": "t1", "t": 1, "deleted": True},
                               "a/y": {"state": "complete", "token": "t2", "t": 5, "deleted": True},
                               "b": {"state": "complete", "token": "t3", "t": 4},
                               "a/x2": {"state": "complete", "token": "t4", "t": 6, "deleted": True}}
    root = {"writer": "R", "records": {"": [2**62, "deleted", None, 0, {"A": 2, "B": 4}], "c": [10, "complete", "t5", 1]}}
    # the rebuild read A up to seq 2 and B up to seq 4: A's a/y (seq 3, made after it read) stays
    assert inv.merge([*docs, root]) == {"a/y": {"state": "complete", "token": "t2", "t": 5, "deleted": True},
                                        "c": {"state": "complete", "token": "t5", "t": 10}}


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


def test_validate_fails_on_a_complete_set_the_inventory_lacks(store):
    """Listings never see a group the inventory lacks (a record lost, a group written by an older
    version): the store answers without it, so validate says so with exit status 1, not a note."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    d = os.path.join(store.url, ".neuroxr", "inventory")
    for name in os.listdir(d):
        doc = json.load(open(os.path.join(d, name)))
        doc["records"].pop("neural/mA", None)
        json.dump(doc, open(os.path.join(d, name), "w"))
    assert StudyStore(store.url, mode="r").neural_sets() == []  # what every listing answers
    res = CliRunner().invoke(main, ["validate", store.url])
    assert res.exit_code == 1 and "neural/mA: complete group missing from the inventory" in res.output
    assert "--rebuild-inventory" in res.output
    fixed = CliRunner().invoke(main, ["validate", store.url, "--rebuild-inventory"])
    assert fixed.exit_code == 0 and StudyStore(store.url, mode="r").neural_sets() == ["mA"]


def test_missing_inventory_is_rebuilt_by_a_writer(store):
    import shutil

    shutil.rmtree(os.path.join(store.url, ".neuroxr", "inventory"))
    ro = StudyStore(store.url, mode="r")
    assert ro.inventory() == {"neural": ["mA"], "features": {"net": ["l1", "l2"]}}  # walked
    assert StudyStore(store.url).listing() == _walked(store)
    assert os.listdir(os.path.join(store.url, ".neuroxr", "inventory"))


def test_an_unreadable_shard_of_an_ended_writer_goes_with_the_rebuild(store):
    """A shard no writer will complete (its process ended; a killed write, an edit by hand) made every read of
    the inventory fail: each writable listing walked the store and wrote one more shard (8 per ``neuroxr score``),
    and ``neuroxr validate --rebuild-inventory`` left it, so the note that asks for a rebuild stayed."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    d = os.path.join(store.url, ".neuroxr", "inventory")
    bad = f"{inv._HOST}~{ended.pid}~x.json"
    with open(os.path.join(d, bad), "w") as f:
        f.write('{"format": 2, "records": {"neural/mA": [1, "comp')
    assert StudyStore(store.url, mode="r").inventory_problems()[0][0] == "/"  # unreadable: listings walk
    rw = StudyStore(store.url)
    for _ in range(3):
        assert rw.neural_sets() == ["mA"] and rw.layers("net") == ["l1", "l2"]
    left = os.listdir(d)
    assert bad not in left and sum(n.startswith("fold~") for n in left) == 1  # one rebuild, one shard
    assert StudyStore(store.url, mode="r").inventory_problems() == [] and rw.listing() == _walked(rw)


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


def test_a_writer_whose_clock_runs_ahead_hides_nothing_written_after(store, monkeypatch):
    """Another host (clock two minutes ahead) rebuilt the inventory and deleted a group: what this
    host writes afterwards is listed all the same (records are ordered per writer, not by clocks)."""
    ahead = time.time_ns() + 120 * 10**9
    # another host's deletion of features/net, made before this host writes net/l3 (its clock is ahead)
    _shard(store.url, "other~1~x", {"features/net": [ahead, "deleted", None, 1]})
    real = time.time_ns
    monkeypatch.setattr(inv.time, "time_ns", lambda: real() + 120 * 10**9)
    store.rebuild_inventory()  # this process, its clock stepped two minutes ahead
    monkeypatch.setattr(inv.time, "time_ns", real)
    store.write_features("net", "l3", _feats(2).assign_attrs(depth_index=2))
    store.write_neural("mB", _neural(2))
    for st in (store, StudyStore(store.url, mode="r")):
        assert st.inventory() == {"neural": ["mA", "mB"], "features": {"net": ["l1", "l2", "l3"]}}
    assert StudyStore(store.url, mode="r").inventory_problems() == []


def test_a_rebuild_hides_only_the_records_it_read(store):
    """A rebuild's tombstone (another process's) that read no shard hides no record, whatever its time."""
    _shard(store.url, "fold~1~x", {"": [2**62, "deleted", None, 0, {}], "neural/mA": [2**62, "complete",
                                                                               store.token("neural/mA"), 1]})
    st = StudyStore(store.url, mode="r")
    assert st.inventory() == {"neural": ["mA"], "features": {"net": ["l1", "l2"]}}


def test_another_writers_deletion_of_a_group_is_no_disagreement(store, monkeypatch):
    """A group deleted by another writer while this writer's record still lists it: absent, not listed,
    and no walk (its absence is expected)."""
    _shard(store.url, "other~1~x", {"features/net/l2": [time.time_ns(), "deleted", None, 1]})
    import shutil

    shutil.rmtree(os.path.join(store.url, "features", "net", "l2"))

    def no_walk(self):
        raise AssertionError("walked the hierarchy")

    monkeypatch.setattr(StudyStore, "_walk_groups", no_walk)
    assert StudyStore(store.url, mode="r").layers("net") == ["l1"]


def test_a_new_store_needs_no_inventory(tmp_path):
    """A store with nothing written has no inventory and needs none. Before, ``neuroxr validate`` of a new store
    noted that listings walk it and asked for ``--rebuild-inventory``; a store holding groups without one still does."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    st = StudyStore(tmp_path / "s.zarr")
    assert st.inventory_problems() == []
    res = CliRunner().invoke(main, ["validate", st.url])
    assert res.exit_code == 0 and "note" not in res.output and "--rebuild-inventory" not in res.output
    st.write_neural("mA", _neural())
    import shutil

    shutil.rmtree(os.path.join(st.url, ".neuroxr", "inventory"))
    assert StudyStore(st.url, mode="r").inventory_problems()[0][0] == "/"


def test_a_write_between_the_read_and_the_walk_is_no_disagreement(store, monkeypatch):
    """``neuroxr validate`` during a sweep: a set written after the inventory was read and before the walk
    met it was named 'complete group missing from the inventory' (exit status 1). It is checked again."""
    real, calls = StudyStore._walk, []

    def walk(self):
        if not calls:  # another writer completes a set (its record included) just before the walk
            StudyStore(store.url).write_neural("mB", _neural(1))
        calls.append(1)
        return real(self)

    monkeypatch.setattr(StudyStore, "_walk", walk)
    assert StudyStore(store.url, mode="r").inventory_problems() == [] and calls
    monkeypatch.setattr(StudyStore, "_walk", real)
    d = os.path.join(store.url, ".neuroxr", "inventory")
    for name in os.listdir(d):  # a record lost for good is still named
        doc = json.load(open(os.path.join(d, name)))
        doc["records"].pop("neural/mB", None)
        json.dump(doc, open(os.path.join(d, name), "w"))
    assert StudyStore(store.url, mode="r").inventory_problems() == [("neural/mB", "complete group missing from the inventory")]
