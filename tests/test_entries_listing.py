"""Listing entries from the store's inventory: the same rows as the walk, incomplete writes included,
0.1.0 entries found, and few requests on an object store (moto S3 server)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroxr.entries import layout, list_entries
from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore

STIM = [f"s{i}" for i in range(6)]


def _key(i: int) -> str:
    return f"{i:016x}"


def _entry(inputs: dict[str, str | None], reps: int, kind: str = "forward", pair: str = "net.l1__mA") -> tuple[str, xr.Dataset]:
    """``(path, dataset)`` of an entry of ``kind`` at ``pair`` under its real key (the hash of its provenance)."""
    from neuroxr.entries import provenance as _p
    from neuroxr.entries.kinds import KINDS, entry_revision

    source, _, target = pair.partition("__")
    prov = _p.make(kind, source, target or None, {"reps": reps}, inputs, entry_revision(kind, {}))
    parent = layout.pair_path(KINDS[kind].stage, kind, source, target or None) if kind != "gram" else "cache/gram/net/l1"
    return f"{parent}/{_p.key(prov)}", xr.Dataset({"ev": (("neuroid",), np.arange(3.0) + reps)}, attrs={"neuroxr_provenance": prov})


def _fill(st: StudyStore, n: int = 4) -> None:
    st.write_neural("mA", neural(np.random.default_rng(0).normal(size=(6, 3, 2)), STIM))
    st.write_features("net", "l1", features(np.random.default_rng(1).normal(size=(6, 4)), STIM))
    inputs = {"neural/mA": st.token("neural/mA"), "features/net/l1": st.token("features/net/l1")}
    for i in range(n):
        st.write_dataset(*_entry(inputs, i))
    st.write_dataset(*_entry({"features/net/l1": "stale"}, 1, "dimensionality", "net.l1"))
    st.write_dataset(*_entry(inputs, 0, "gram", "net.l1"))


def _walked(st: StudyStore) -> pd.DataFrame:
    """list_entries with the inventory switched off (the hierarchy walked)."""
    real = StudyStore.inventoried
    try:
        StudyStore.inventoried = lambda self, prefixes=("",), absent=None: None  # type: ignore[method-assign]
        return list_entries(st)
    finally:
        StudyStore.inventoried = real  # type: ignore[method-assign]


def _no_walk(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("walked the hierarchy")

    monkeypatch.setattr(layout, "_walk_entries", boom)
    monkeypatch.setattr(StudyStore, "_walk_groups", boom)


def test_listing_from_the_inventory_equals_the_walk(tmp_path, monkeypatch):
    st = StudyStore(tmp_path / "s.zarr")
    _fill(st)
    walked = _walked(st)
    assert len(walked) == 6 and walked.current.sum() == 5  # the dimensionality entry's input token is stale
    _no_walk(monkeypatch)
    pd.testing.assert_frame_equal(list_entries(StudyStore(st.url, mode="r")), walked)


_KILLED = """
import os, signal, sys, numpy as np, xarray as xr
from neuroxr.store import StudyStore
st = StudyStore(sys.argv[1])
path = "scores/forward/net.l1__mA/" + "f" * 16
st.begin_write(path)  # records the write as pending
# an in-place writer (as on an object store): the group and its arrays, then killed before the marker
xr.Dataset({"ev": ("neuroid", np.zeros(3))}).to_zarr(os.path.join(sys.argv[1], path), mode="w", consolidated=False)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_writer_entry_is_listed_incomplete(tmp_path, monkeypatch):
    st = StudyStore(tmp_path / "s.zarr")
    _fill(st, n=1)
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _KILLED, st.url], env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    walked = _walked(st)
    _no_walk(monkeypatch)
    got = list_entries(StudyStore(st.url, mode="r"))
    pd.testing.assert_frame_equal(got, walked)
    row = got[got.key == "f" * 16]
    assert len(row) == 1 and not row.complete.item() and not row.current.item()
    assert got[got.key != "f" * 16].complete.all()


def test_pending_write_never_begun_is_not_listed(tmp_path, monkeypatch):
    st = StudyStore(tmp_path / "s.zarr")
    _fill(st, n=1)
    url = st.begin_write(f"scores/forward/net.l1__mA/{_key(5)}")  # a writer that has not written yet
    _no_walk(monkeypatch)
    assert _key(5) not in set(list_entries(StudyStore(st.url, mode="r")).key)
    st.abort_write(url)


def test_legacy_entries_found_from_a_rebuilt_inventory(tmp_path, monkeypatch):
    st = StudyStore(tmp_path / "s.zarr")
    _fill(st, n=1)
    st.write_dataset("scores/reverse/net.l1__mA", _entry({}, 0, "reverse")[1])  # the 0.1.0 layout: the entry at the pair path
    st.write_dataset(*_entry({}, 3, "reverse"))  # a keyed entry inside it
    shutil.rmtree(os.path.join(st.url, ".neuroxr", "inventory"))  # a store of a version without an inventory
    ro = StudyStore(st.url, mode="r")
    walked = list_entries(ro)  # no inventory: walked
    assert walked.query("kind == 'reverse'").legacy.tolist() == [True, False]
    StudyStore(st.url).rebuild_inventory()  # records the 0.1.0 group, not the keyed entry inside it
    monkeypatch.setattr(layout, "_walk_entries", lambda *a: (_ for _ in ()).throw(AssertionError("walked")))
    pd.testing.assert_frame_equal(list_entries(StudyStore(st.url, mode="r")), walked)


def test_list_entries_on_s3_makes_few_requests(s3_server, s3_study):
    options, log = s3_server
    n = 20
    writer = s3_study({}, layer=False)
    _fill(writer, n=n)
    st = StudyStore(writer.url, mode="r", storage_options=options)
    with log.counting() as reqs:
        got = list_entries(st)
    lists = [r for r in reqs if r[0] == "GET" and "list-type" in r[2]]
    assert len(got) == n + 2 and got.complete.all() and got.current.sum() == n + 1
    assert len(lists) == 1 and "inventory" in lists[0][2]  # one listing: the inventory documents, no walk
    # beyond one document read per group (entries and the 2 sets, one concurrent batch): a constant
    # (the listing and the inventory shards), not a cost per entry
    assert len(reqs) - (n + 2 + 2) <= 4, reqs
    with log.counting() as walk:
        walked = _walked(st)
    pd.testing.assert_frame_equal(got, walked)
    assert len(walk) > 2 * len(reqs)  # what the walk costs instead


@pytest.mark.parametrize("where", ["local", "memory"])
def test_a_cached_stores_listing_sees_writes_of_other_processes(tmp_path, where):
    """A cached store (a notebook's) listed before; another writer then rewrote the neural set and computed
    an entry. Listing again reused the inventory and set documents read the first time: the stale entry
    was still ``current`` and the new one was missing; each listing is one call on the store now."""
    from neuroxr.entries import compute

    url = str(tmp_path / "s.zarr") if where == "local" else f"memory://neuroxr-listing-{uuid.uuid4().hex}/s.zarr"
    writer = StudyStore(url)
    _fill(writer, n=0)
    compute(writer, "cka", "net.l1", "mA")
    cached = StudyStore(url, cache=True)
    assert list_entries(cached).query("kind == 'cka'").current.tolist() == [True]
    assert len([e for e in layout.iter_entries(cached) if e["kind"] == "cka"]) == 1
    StudyStore(url).write_neural("mA", neural(np.random.default_rng(5).normal(size=(6, 3, 2)), STIM))
    compute(StudyStore(url), "cka", "net.l1", "mA")  # beside the old entry (another key)
    assert len([e for e in layout.iter_entries(cached) if e["kind"] == "cka"]) == 2
    StudyStore(url).write_neural("mA", neural(np.random.default_rng(6).normal(size=(6, 3, 2)), STIM))
    assert list_entries(cached).query("kind == 'cka'").current.tolist() == [False, False]
    assert cached.token("neural/mA") == StudyStore(url, mode="r").token("neural/mA")
