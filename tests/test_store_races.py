"""Races of readers and writers on one store: a lazy entry read during a same-key rewrite, a rebuild
of the inventory during a shard write, compaction of deleted candidates, and one cached store object
shared by threads. Each race is forced at its exact moment by a hook, not by timing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import xarray as xr
from conftest import small_features

from neuroxr.errors import StoreError
from neuroxr.store import StudyStore, _zarr
from neuroxr.store import inventory as inv

PATH = "scores/a/b"


def _entry():
    return xr.Dataset({"score": (("x",), np.arange(8.0))}, coords={"x": [f"c{i}" for i in range(8)]})


def _write(st):
    st.write_dataset(PATH, _entry(), encoding={"score": {"chunks": (4,)}})


@pytest.fixture
def store(tmp_path):
    st = StudyStore(tmp_path / "s.zarr")
    _write(st)
    return st


def _between_renames(monkeypatch, action):
    """Run ``action()`` once, between the two renames of the next swap (old copy moved aside, new not in place)."""
    real, done = os.rename, []

    def rename(src, dst, *a, **k):
        real(src, dst, *a, **k)
        if f"{os.sep}trash{os.sep}" in os.fspath(dst) and not done:
            done.append(1)
            action()

    monkeypatch.setattr(os, "rename", rename)


def _in_thread(fn, out):
    """Start ``fn`` in a thread (its result or error in ``out``) and give it a moment: a reader that
    waits for the swap is still waiting when the writer goes on."""
    def run():
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(0.5)
    out["thread"] = t


# ---------------------------------------------------------------------------- (a) lazy reads and swaps
def test_a_lazy_entry_read_between_the_two_renames_asks_to_read_again(store, monkeypatch):
    """Before: the chunks read between the renames were fill values (all NaN), handed back silently."""
    lazy = store.read_dataset(PATH)
    monkeypatch.setattr(_zarr, "SWAP_WAIT", 0.2, raising=False)
    out = {}

    def read():
        try:
            out["values"] = lazy["score"].values.copy()
        except StoreError as exc:
            out["error"] = str(exc)

    _between_renames(monkeypatch, read)
    _write(store)
    assert "values" not in out, f"read {out.get('values')} between the renames"
    assert "is being rewritten by another process" in out["error"] and "read it again" in out["error"]


def test_a_lazy_entry_read_during_a_rewrite_reads_the_new_copy(store, monkeypatch):
    """A read that falls between the renames waits for the new copy and reads it (same key, same numbers)."""
    lazy, out = store.read_dataset(PATH), {}
    _between_renames(monkeypatch, lambda: _in_thread(lambda: lazy["score"].values.copy(), out))
    _write(store)
    out["thread"].join(10)
    assert "error" not in out, out.get("error")
    np.testing.assert_array_equal(out["value"], np.arange(8.0))


def test_an_entry_opened_during_a_rewrite_opens_the_new_copy(store, monkeypatch):
    """Before: an open (of a reading made before the swap) between the renames called the entry damaged."""
    found, out = store.examine(PATH, fetch=True), {}
    _between_renames(monkeypatch, lambda: _in_thread(lambda: store.read_dataset(found).compute(), out))
    _write(store)
    out["thread"].join(10)
    assert "error" not in out, out.get("error")
    xr.testing.assert_identical(out["value"], _entry())
    assert found.doc["attributes"][_zarr.TOKEN_ATTR] == store.token(PATH)  # the reading names the new copy


def test_an_entry_opened_between_the_renames_asks_to_read_again(store, monkeypatch):
    found, out = store.examine(PATH, fetch=True), {}
    monkeypatch.setattr(_zarr, "SWAP_WAIT", 0.2, raising=False)

    def read():
        try:
            out["value"] = store.read_dataset(found).compute()
        except StoreError as exc:
            out["error"] = str(exc)

    _between_renames(monkeypatch, read)
    _write(store)
    assert "damaged" not in out["error"] and "being rewritten by another process" in out["error"]
    assert "read it again" in out["error"]


def _vanishing_listing(monkeypatch, before=None):
    """The damage check's listing of the group fails as when its folder goes mid-walk (a rewrite
    moving it aside): ``before()`` first (the rewrite), once; with no ``before``, every time."""
    from neuroxr.store import reading

    real, calls = reading.group_damage, []

    def listing(*a, **k):
        calls.append(1)
        if before is None or len(calls) == 1:
            if before is not None:
                before()
            raise FileNotFoundError(2, "No such file or directory", "s.zarr/scores/a/b/score/c")
        return real(*a, **k)

    monkeypatch.setattr(reading, "group_damage", listing)
    return calls


def test_a_read_whose_listing_meets_a_rewrite_reads_the_new_copy(store, monkeypatch):
    """Before: the folder vanishing under the damage check's listing raised FileNotFoundError."""
    calls = _vanishing_listing(monkeypatch, before=lambda: _write(store))
    xr.testing.assert_identical(store.read_dataset(PATH).compute(), _entry())
    assert len(calls) == 2  # the new copy examined again


def test_a_read_whose_listing_keeps_failing_asks_to_read_again(store, monkeypatch):
    _vanishing_listing(monkeypatch)
    with pytest.raises(StoreError, match="is being rewritten by another process .*read it again") as err:
        store.read_dataset(PATH)
    assert "\n" not in str(err.value) and "FileNotFoundError" not in str(err.value)


def test_a_set_read_lazily_across_a_rewrite_still_raises(tmp_path):
    """Sets are not entries: another copy holds other numbers, so a rewrite still raises (no re-read)."""
    st = StudyStore(tmp_path / "s.zarr")
    st.write_features("net", "l1", small_features(0))
    lazy = st.read_features("net", "l1")
    st.write_features("net", "l1", small_features(1))
    with pytest.raises(StoreError, match="was rewritten since it was read lazily"):
        lazy.compute()


# ---------------------------------------------------------------------------- (b) rebuild and a shard write
def _other_writer(url, name, records, final=False):
    d = os.path.join(url, ".neuroxr", "inventory")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{name}.json"), "w") as f:
        json.dump({"format": inv.FORMAT, "writer": name, "final": final, "records": records}, f)


def test_a_rebuild_never_drops_a_record_written_while_it_deletes(store, monkeypatch):
    """Another live writer records a new entry between the rebuild's last read of the shards and its
    deletion of those it read. Before: its shard was deleted, so the new entry was missing from the
    inventory (listings lacked it) until that writer's next record."""
    name = f"{inv._HOST}~{os.getpid()}~other"  # a live process of this host (this one), not this store's shard
    _other_writer(store.url, name, {"scores/old": [time.time_ns(), "pending", None, 1]})
    real, calls = inv.read_shards, []

    def read(zstore):
        got = real(zstore)
        calls.append(1)
        if len(calls) == 2:  # the rebuild's read of what to delete: the other writer writes scores/new just after
            shutil.copytree(os.path.join(store.url, *PATH.split("/")), os.path.join(store.url, "scores", "new"))
            _other_writer(store.url, name, {"scores/old": [time.time_ns(), "pending", None, 1],
                                            "scores/new": [time.time_ns(), "complete", store.token("scores/new"), 2]})
        return got

    monkeypatch.setattr(inv, "read_shards", read)
    store.rebuild_inventory()
    monkeypatch.setattr(inv, "read_shards", real)
    assert calls == [1, 1]
    assert StudyStore(store.url, mode="r").listing("scores") == [PATH, "scores/new"]


def test_a_rebuild_deletes_the_shards_of_ended_writers(store):
    """A shard no writer rewrites any more (its process ended) is still deleted by a rebuild."""
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{inv._HOST}~{int(p.stdout)}~ended"
    _other_writer(store.url, dead, {"scores/old": [time.time_ns(), "pending", None, 1]})
    store.rebuild_inventory()
    assert not os.path.exists(os.path.join(store.url, ".neuroxr", "inventory", f"{dead}.json"))
    assert store.listing("scores") == [PATH]


# ---------------------------------------------------------------------------- (c) compaction
def test_compaction_drops_deleted_candidates_whose_group_is_gone(store, monkeypatch):
    """Writer B recorded a group that writer A deleted (both shards rotated). Before: the fold kept
    B's record and dropped A's deletion, so the absent group looked like a disagreement (a walk and a
    rebuild); and a kept candidate cost one document read per listing."""
    url, t = store.url, time.time_ns()
    _other_writer(url, "B~1~b", {"scores/gone": [t, "complete", "tok", 1], "scores/kept": [t, "complete", "tok", 2]}, True)
    _other_writer(url, "A~1~a", {"scores/gone": [t + 1, "deleted", None, 1], "scores/kept": [t + 1, "deleted", None, 2]}, True)
    for i in range(inv.COMPACT_AT):
        _other_writer(url, f"C~1~{i}", {f"cache/x{i}": [t, "pending", None, 1]}, True)
    # scores/kept was written again after A deleted it (a complete group is there); scores/gone was not
    shutil.copytree(os.path.join(url, *PATH.split("/")), os.path.join(url, "scores", "kept"))
    StudyStore(url).listing()  # a writable open folds the 18 final shards
    docs = inv.read(store._zstore)
    assert len([d for d in docs.values() if d.get("final")]) == 1
    index = inv.merge(docs.values())
    assert "scores/gone" not in index
    disagreed = []
    monkeypatch.setattr(StudyStore, "_disagrees", lambda self: disagreed.append(1))
    assert StudyStore(url, mode="r").listing("scores") == [PATH, "scores/kept"]
    assert disagreed == []


def test_compaction_folds_the_shards_of_ended_writers(store):
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    t = time.time_ns()
    for i in range(inv.COMPACT_AT + 1):
        _other_writer(store.url, f"C~1~{i}", {f"cache/x{i}": [t, "pending", None, 1]}, True)
    dead = f"{inv._HOST}~{int(p.stdout)}~ended"
    _other_writer(store.url, dead, {"cache/y": [t, "pending", None, 1]})
    StudyStore(store.url).listing()
    names = os.listdir(os.path.join(store.url, ".neuroxr", "inventory"))
    assert f"{dead}.json" not in names and "cache/y" in inv.merge(inv.read(store._zstore).values())


def test_the_shards_of_ended_writers_alone_are_folded(store):
    """Each command that writes leaves its shard (never final: a shard rotates after 256 records). Before, only
    final shards counted towards a fold, so those of ended processes piled up, one read each per listing."""
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    t = time.time_ns()
    ended = [f"{inv._HOST}~{int(p.stdout)}~e{i}" for i in range(inv.COMPACT_AT + 1)]
    for i, name in enumerate(ended):
        _other_writer(store.url, name, {f"cache/x{i}": [t, "pending", None, 1]})
    live = f"{inv._HOST}~{os.getpid()}~live"  # a live writer's shard is never folded
    _other_writer(store.url, live, {"cache/y": [t, "pending", None, 1]})
    StudyStore(store.url, mode="r").listing()  # a reader folds nothing
    assert len(os.listdir(os.path.join(store.url, ".neuroxr", "inventory"))) >= len(ended) + 1
    StudyStore(store.url).listing()
    names = os.listdir(os.path.join(store.url, ".neuroxr", "inventory"))
    assert not {f"{n}.json" for n in ended} & set(names) and f"{live}.json" in names
    assert sum(n.startswith("fold~") for n in names) == 1
    index = inv.merge(inv.read(store._zstore).values())
    assert {f"cache/x{i}" for i in range(len(ended))} | {"cache/y"} <= set(index)


# ---------------------------------------------------------------------------- (d) threads and sessions
def test_sessions_of_one_cached_store_in_two_threads_count_as_one_call(store):
    """Two threads enter a session of one cached store at once. Before: both saw no call running and
    both dropped the cache (the second while the first's call was using it)."""
    st = store.cached()
    clears, started = [], threading.Event()

    class Docs(dict):
        def clear(self):
            clears.append(threading.current_thread().name)
            started.set()
            time.sleep(0.3)  # the other thread enters meanwhile
            super().clear()

    st._docs = Docs()
    inside = threading.Barrier(2, timeout=5)

    def call():
        with st.session():
            inside.wait()

    a = threading.Thread(target=call, name="a")
    b = threading.Thread(target=call, name="b")
    a.start()
    started.wait(5)
    b.start()
    a.join(10), b.join(10)
    assert clears == ["a"], clears
    assert st._calls == 0
    with st.session():
        pass
    assert len(clears) == 2  # a later call starts afresh


def test_many_threads_leave_the_session_count_at_zero(store):
    st = store.cached()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def calls():
            for _ in range(300):
                with st.session():
                    with st.session():
                        pass

        threads = [threading.Thread(target=calls) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        sys.setswitchinterval(switch)
    assert st._calls == 0


def test_threads_sharing_one_store_and_writing_one_entry_each_mark_their_own_copy(store, monkeypatch):
    """Two threads commit the same entry through one store object, the second while the first marks its
    staged copy (forced by a hook). The staged copy to mark was found by entry path alone: the first
    thread marked the second's copy and swapped in its own, unmarked (the last good copy gone), and the
    second died with a bare KeyError. Now each marks its own; every copy swapped in is complete."""
    from neuroxr.store import atomic, study

    first_marking, second_done, swapped, errors = threading.Event(), threading.Event(), [], []
    real_mark, real_swap = StudyStore.mark_complete, atomic.swap_in

    def mark(self, path):
        if threading.current_thread().name == "first":
            first_marking.set()
            second_done.wait(5)  # the second commits while the first is marking
        return real_mark(self, path)

    def swap_in(root, path, sid, *args, **kw):
        with open(os.path.join(atomic.staging_dir(root, sid), "zarr.json")) as f:
            swapped.append(bool(json.load(f)["attributes"].get(_zarr.COMPLETE_ATTR)))
        return real_swap(root, path, sid, *args, **kw)

    monkeypatch.setattr(StudyStore, "mark_complete", mark)
    monkeypatch.setattr(study.atomic, "swap_in", swap_in)
    values = {"first": np.arange(8.0) + 100, "second": np.arange(8.0) + 200}

    def write(name):
        try:
            if name == "second":
                first_marking.wait(5)
            store.write_dataset(PATH, _entry().assign(score=("x", values[name])), encoding={"score": {"chunks": (4,)}})
        except Exception as exc:  # noqa: BLE001 - the test reports any
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            if name == "second":
                second_done.set()

    threads = [threading.Thread(target=write, args=(n,), name=n) for n in ("first", "second")]
    [t.start() for t in threads]
    [t.join(20) for t in threads]
    assert errors == [] and swapped == [True, True]
    fresh = StudyStore(store.url, mode="r")
    assert fresh.is_complete(PATH) and fresh.damaged() == []
    got = fresh.read_dataset(PATH).score.values
    assert any(np.array_equal(got, v) for v in values.values())
