"""Writes never lose the previous copy: staging + swap, recovery, locks, full disk, permissions, opening rules."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import xarray as xr
import zarr.storage
from conftest import small_features, small_neural

from neuroxr.layouts import neural
from neuroxr.store import EntryLock, StoreError, StudyStore, atomic, open_store
from neuroxr.store.lock import lock_file

_neural, _features = small_neural, small_features


@pytest.fixture
def store(tmp_path):
    st = StudyStore(tmp_path / "study.zarr")
    st.write_neural("monkeyA", _neural(0))
    st.write_features("net", "fc", _features(0), unit_chunk=4)
    return st


def _staged(store):
    return os.listdir(os.path.join(store.url, ".neuroxr", "staging"))


def _fail_after(n_ok, exc):
    """A LocalStore._set that lets ``n_ok`` writes through, then raises ``exc`` (a full disk ...)."""
    real = zarr.storage.LocalStore._set
    calls = {"n": 0}

    async def fake(self, key, value, exclusive=False):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise exc
        return await real(self, key, value, exclusive=exclusive)

    return fake


# ---------------------------------------------------------------------------- faults keep the old copy
@pytest.mark.parametrize("n_ok", [0, 3])
def test_full_disk_keeps_old_entries(store, monkeypatch, n_ok):
    token = store.token("neural/monkeyA")
    with monkeypatch.context() as m:
        m.setattr(zarr.storage.LocalStore, "_set", _fail_after(n_ok, OSError(errno.ENOSPC, "No space left on device")))
        with pytest.raises(StoreError, match=r"cannot write 'neural/monkeyA': no space left on device.*previous copy is kept") as info:
            store.write_neural("monkeyA", _neural(1))
        assert "\n" not in str(info.value)
        with pytest.raises(StoreError, match="no space left"):
            store.write_features("net", "fc", _features(1), unit_chunk=4)
    # both old entries are complete, unchanged, and no staging copy is left behind
    assert store.token("neural/monkeyA") == token and store.incomplete_entries() == []
    np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(0).values)
    np.testing.assert_array_equal(store.read_features("net", "fc").values, _features(0).values)
    assert _staged(store) == [] and store.damaged() == []


def test_a_failed_first_write_does_not_speak_of_a_previous_copy(store, monkeypatch):
    """A set written for the first time on a full disk was said to keep 'the previous copy', which it never had."""
    with monkeypatch.context() as m:
        m.setattr(zarr.storage.LocalStore, "_set", _fail_after(0, OSError(errno.ENOSPC, "No space left on device")))
        with pytest.raises(StoreError, match=r"cannot write 'neural/monkeyB': no space left on device; free space and "
                                             r"run again; nothing was written\.$"):
            store.write_neural("monkeyB", _neural(1))
    assert "monkeyB" not in store.neural_sets() and _staged(store) == []


def test_permission_denied_is_one_line(store, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(zarr.storage.LocalStore, "_set", _fail_after(0, PermissionError(errno.EACCES, "Permission denied")))
        with pytest.raises(StoreError, match="permission denied.*mode='r'") as info:
            store.write_neural("monkeyA", _neural(1))
    assert "\n" not in str(info.value)
    np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(0).values)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder(store):
    for d, _, _ in os.walk(store.url):
        os.chmod(d, 0o555)
    try:
        with pytest.raises(StoreError, match="permission denied|cannot"):
            StudyStore(store.url).write_neural("monkeyA", _neural(1))
        np.testing.assert_array_equal(open_store(store.url, mode="r").read_neural("monkeyA").values, _neural(0).values)
    finally:
        for d, _, _ in os.walk(store.url):
            os.chmod(d, 0o755)


def test_corrupt_chunk_names_the_entry(store):
    chunk = os.path.join(store.url, "features", "net", "fc", "data", "c", "0", "1")
    with open(chunk, "wb") as f:
        f.write(b"\x00garbage")
    lazy = store.read_features("net", "fc")  # opening is lazy and fine
    with pytest.raises(StoreError, match=r"entry 'features/net/fc' variable 'data' cannot be read.*validate --values"):
        lazy.load()
    assert store.damaged() == []  # the chunk is there ...
    (path, problem), = store.damaged(values=True)  # ... but it cannot be decoded
    assert path == "features/net/fc" and "array 'data': 1 chunks cannot be read (e.g. c/0/1" in problem


# ---------------------------------------------------------------------------- interrupted swap
def _write_killed_at_rename(store, monkeypatch, killed_at):
    """``write_neural`` of monkeyA "killed" (KeyboardInterrupt) at the swap's ``killed_at``-th rename."""
    real = os.rename
    calls = []

    def rename(src, dst):
        calls.append(src)
        if len(calls) == killed_at:
            raise KeyboardInterrupt
        real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(atomic.os, "rename", rename)
        with pytest.raises(KeyboardInterrupt):
            store.write_neural("monkeyA", _neural(1))


def test_swap_interrupted_between_renames_is_recovered(store, monkeypatch):
    _write_killed_at_rename(store, monkeypatch, 2)  # the old copy is aside, the new one not yet in place
    assert not os.path.exists(os.path.join(store.url, "neural", "monkeyA"))
    assert atomic.has_journal(store.url, "neural/monkeyA") and len(_staged(store)) == 1
    # the next reader (here: the same object) finishes the swap: the new complete copy
    np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(1).values)
    assert not atomic.has_journal(store.url, "neural/monkeyA") and _staged(store) == []
    assert os.listdir(os.path.join(store.url, ".neuroxr", "trash")) == []


@pytest.mark.parametrize("killed_at", [1, 2])  # before the old copy moved aside; between the two renames
def test_a_deleted_entry_with_an_interrupted_swap_does_not_come_back(store, monkeypatch, killed_at):
    _write_killed_at_rename(store, monkeypatch, killed_at)
    assert atomic.has_journal(store.url, "neural/monkeyA")
    store.invalidate("neural/monkeyA")  # deleted: the unfinished swap must not bring it back
    assert store.neural_sets() == [] and StudyStore(store.url).neural_sets() == []
    assert "neural/monkeyA" not in [p for _, p, _ in store.entries()] and store.inventory_problems() == []
    assert not atomic.has_journal(store.url, "neural/monkeyA") and _staged(store) == []
    assert os.listdir(os.path.join(store.url, ".neuroxr", "trash")) == []


def test_a_rewritten_layer_drops_the_interrupted_swaps_of_its_grams(store, monkeypatch):
    """write_features deletes cache/gram/<model>/<layer>: a Gram's swap interrupted below it (a dead
    writer's journal, its staged copy) goes too, so the next open does not bring the stale Gram back."""
    from neuroxr.entries import compute, list_entries

    with monkeypatch.context() as m:
        m.setattr(atomic.os, "rename", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            compute(store, "gram", "net.fc")  # killed at its swap: the journal names the staged Gram
    (gram,) = atomic.pending(store.url)
    assert gram.startswith("cache/gram/net/fc/") and len(_staged(store)) == 1
    store.write_features("net", "fc", _features(1), unit_chunk=4)
    assert atomic.pending(store.url) == [] and _staged(store) == []
    reopened = StudyStore(store.url)  # opening recovers interrupted swaps: none is left to finish
    assert not os.path.exists(os.path.join(store.url, *gram.split("/")))
    assert list(list_entries(reopened).path) == [] and reopened.inventory_problems() == [] and reopened.damaged() == []


def test_an_entry_swapped_in_after_its_parent_was_deleted_lies_in_zarr_groups(store, monkeypatch):
    from neuroxr.entries import compute

    other = StudyStore(store.url)  # another process rewrites the layer: it drops cache/gram/net/fc (that group's lock)
    real = atomic.swap_in

    def swap_in(root, path, sid, before_swap=None):
        if path.startswith("cache/gram/"):
            other.write_features("net", "fc", _features(1), unit_chunk=4)
        return real(root, path, sid, before_swap)

    with monkeypatch.context() as m:
        m.setattr(atomic, "swap_in", swap_in)
        path = compute(store, "gram", "net.fc").path  # its parents were required before the swap
    assert os.path.isfile(os.path.join(store.url, "cache", "gram", "net", "fc", "zarr.json"))
    assert store.damaged() == [] and path in [p for _, p, _ in store.entries()]


def test_a_parent_deleted_while_it_is_required_is_made_again(store, monkeypatch):
    """pathlib's mkdir(exist_ok=True) raises FileExistsError when the folder it met is renamed away
    before it checks it (write_features dropping cache/gram/<model>/<layer>): not a failed write."""
    import zarr

    real, calls = zarr.Group.require_group, []

    def require_group(self, name, **kw):
        calls.append(name)
        if len(calls) == 1:
            raise FileExistsError(17, "File exists", os.path.join(store.url, "cache", "gram", "net", "fc"))
        return real(self, name, **kw)

    monkeypatch.setattr(zarr.Group, "require_group", require_group)
    store.write_dataset("cache/gram/net/fc/0123456789abcdef", xr.Dataset({"K": (("s",), np.arange(3.0))}))
    assert calls[0] == calls[1] and calls[-1] == "cache/gram/net/fc"  # the failed level made again, then the rest
    assert store.is_complete("cache/gram/net/fc/0123456789abcdef") and store.damaged() == []


def test_opening_recovers_every_interrupted_swap(store, monkeypatch):
    real = os.rename

    def rename(src, dst):
        if "trash" in dst:
            real(src, dst)
            raise KeyboardInterrupt
        real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(atomic.os, "rename", rename)
        with pytest.raises(KeyboardInterrupt):
            store.write_features("net", "fc", _features(2), unit_chunk=4)
    again = StudyStore(store.url)
    assert not atomic.has_journal(store.url, "features/net/fc")
    np.testing.assert_array_equal(again.read_features("net", "fc").values, _features(2).values)


def test_a_journal_killed_before_it_was_put_in_place_is_removed_on_opening(store, monkeypatch):
    """Before: a writer killed between writing its swap journal and renaming it into place left
    ``.neuroxr/swaps/<path>.json.<id>.tmp`` for ever; no swap started, so the entry keeps its copy."""
    swaps = os.path.join(store.url, ".neuroxr", "swaps")

    real = os.replace

    def killed(src, dst, *a, **k):
        if os.path.dirname(os.fspath(dst)) == swaps:  # the journal going into place
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(atomic.os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            store.write_features("net", "fc", _features(2), unit_chunk=4)
    left = [n for n in os.listdir(swaps) if n.endswith(".tmp")]
    assert len(left) == 1
    held = EntryLock(store.url, "features/net/fc", timeout=0)  # a writer holding the lock keeps its journal
    assert held.acquire()
    try:
        atomic.recover(store.url)
        assert os.listdir(swaps) == left
    finally:
        held.release()
    again = StudyStore(store.url)
    assert [n for n in os.listdir(swaps) if n.endswith(".tmp")] == [] and not atomic.has_journal(store.url, "features/net/fc")
    np.testing.assert_array_equal(again.read_features("net", "fc").values, _features(0).values)


def _interrupted_between_renames(store, monkeypatch):
    """Rewrite neural/monkeyA and stop its writer after the old copy went to the trash (lock released)."""
    real = os.rename

    def rename(src, dst):
        real(src, dst)
        if "trash" in dst:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(atomic.os, "rename", rename)
        with pytest.raises(KeyboardInterrupt):
            store.write_neural("monkeyA", _neural(3))
    assert atomic.has_journal(store.url, "neural/monkeyA")
    assert not os.path.exists(os.path.join(store.url, "neural", "monkeyA"))


def test_read_only_open_finishes_a_dead_writers_swap(store, monkeypatch):
    _interrupted_between_renames(store, monkeypatch)
    t0 = time.monotonic()
    reader = StudyStore(store.url, mode="r")
    assert reader.neural_sets() == ["monkeyA"] and not atomic.has_journal(store.url, "neural/monkeyA")
    np.testing.assert_array_equal(reader.read_neural("monkeyA").values, _neural(3).values)
    assert reader.damaged() == [] and time.monotonic() - t0 < 5


def test_swap_that_cannot_be_finished_is_read_through_and_reported(store, monkeypatch):
    from click.testing import CliRunner

    from neuroxr.cli import main

    _interrupted_between_renames(store, monkeypatch)
    monkeypatch.setattr(atomic, "recover", lambda *a, **k: [])  # as on a read-only folder: nobody can finish it
    t0 = time.monotonic()
    reader = StudyStore(store.url, mode="r")
    assert reader.neural_sets() == ["monkeyA"] and "neural/monkeyA" in [p for _, p, _ in reader.entries()]
    np.testing.assert_array_equal(reader.read_neural("monkeyA").values, _neural(3).values)  # the new complete copy
    (path, problem), = reader.damaged()
    assert path == "neural/monkeyA" and "died between the two renames" in problem and "write access" in problem
    res = CliRunner().invoke(main, ["validate", store.url])
    assert res.exit_code == 1 and "neural/monkeyA" in res.output and "swap could not be finished" in res.output
    res = CliRunner().invoke(main, ["info", store.url])
    assert res.exit_code == 0 and "monkeyA" in res.output.split("Features")[0] and "swap could not be finished" in res.output
    assert time.monotonic() - t0 < 5  # no waiting for a writer that is gone
    monkeypatch.undo()
    StudyStore(store.url)  # a writable open finishes it
    assert not atomic.has_journal(store.url, "neural/monkeyA") and StudyStore(store.url, mode="r").damaged() == []


# ---------------------------------------------------------------------------- locks
def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _in_thread(fn):
    """What ``fn()`` returns or raises when called by another thread (another writer of this process)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_live_lock_blocks_and_names_its_owner(store):
    with store.lock("neural/monkeyA"):
        info = json.load(open(lock_file(store.url, "neural/monkeyA")))
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname() and info["expires"] > time.time()
        with pytest.raises(StoreError, match=rf"'neural/monkeyA' is locked by .*:{os.getpid()}.*run again later"):
            EntryLock(store.url, "neural/monkeyA", timeout=0.2).acquire()
        assert EntryLock(store.url, "neural/monkeyA", timeout=0).acquire() is False
    assert not os.path.exists(lock_file(store.url, "neural/monkeyA"))


def test_a_writer_holding_an_entrys_lock_writes_the_entry(store):
    # StudyStore.lock: "hold it yourself around a whole computation"; the write then takes it again
    t0 = time.monotonic()
    with store.lock("neural/monkeyA"):
        store.write_neural("monkeyA", _neural(1))
        assert os.path.exists(lock_file(store.url, "neural/monkeyA"))  # still held by the outer hold
        assert _in_thread(store.lock("neural/monkeyA", timeout=0).acquire) is False  # another thread waits
    assert time.monotonic() - t0 < 10 and not os.path.exists(lock_file(store.url, "neural/monkeyA"))
    np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(1).values)


@pytest.mark.parametrize("owner", ["dead pid here", "expired elsewhere"])
def test_stale_lock_is_broken(store, owner):
    file = lock_file(store.url, "neural/monkeyA")
    now = time.time()
    if owner == "dead pid here":
        rec = {"host": socket.gethostname(), "pid": _dead_pid(), "created": now, "expires": now + 3600, "id": "x"}
    else:
        rec = {"host": "another-host", "pid": 1, "created": now - 20, "expires": now - 10, "id": "y"}
    with open(file, "w") as f:
        json.dump(rec, f)
    t0 = time.monotonic()
    store.write_neural("monkeyA", _neural(3))
    assert time.monotonic() - t0 < 5
    np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(3).values)
    assert not os.path.exists(file)


def test_live_lock_elsewhere_is_respected(store):
    file = lock_file(store.url, "neural/monkeyA")
    now = time.time()
    with open(file, "w") as f:
        json.dump({"host": "another-host", "pid": 1, "created": now, "expires": now + 3600, "id": "z"}, f)
    with pytest.raises(StoreError, match="locked by another-host:1"):
        EntryLock(store.url, "neural/monkeyA", timeout=0.1).acquire()
    os.unlink(file)


def _stale_record(**kw):
    now = time.time()
    return {"host": socket.gethostname(), "pid": _dead_pid(), "created": now, "expires": now + 600, **kw}


def test_a_breaker_never_removes_a_lock_taken_after_it_judged_the_stale_one(store, monkeypatch):
    """B judges a dead writer's lock stale; A breaks it first and locks. Whatever B then does to the lock
    file, a third writer C trying after each of B's steps never gets the lock A holds (before: B renamed
    A's lock aside, C locked in between, B's link-back failed and A's lock was dropped: two holders)."""
    import threading

    from neuroxr.store import lock as L

    file = lock_file(store.url, "neural/monkeyA")
    os.makedirs(os.path.dirname(file), exist_ok=True)
    with open(file, "w") as f:
        json.dump(_stale_record(id="dead"), f)
    a, armed, c_got, b_got = EntryLock(store.url, "neural/monkeyA", timeout=5), [], [], []
    real_stale = L.is_stale

    def is_stale(f, info):
        stale = real_stale(f, info)
        if stale and threading.current_thread().name == "B" and not armed:  # B judged it: A gets in first
            assert _in_thread(a.acquire) is True
            armed.append(True)
        return stale

    def after(name):
        real = getattr(os, name)

        def call(*args, **kw):
            out = real(*args, **kw)
            if armed and threading.current_thread().name == "B":  # C tries right after each step of B's
                c_got.append(_in_thread(EntryLock(store.url, "neural/monkeyA", timeout=0).acquire))
            return out
        return call

    monkeypatch.setattr(L, "is_stale", is_stale)
    for name in ("rename", "replace", "link", "unlink", "open"):
        monkeypatch.setattr(os, name, after(name))
    b = threading.Thread(target=lambda: b_got.append(EntryLock(store.url, "neural/monkeyA", timeout=0).acquire()), name="B")
    b.start()
    b.join()
    monkeypatch.undo()
    assert armed and b_got == [False] and True not in c_got
    assert L.read_lock(file)["id"] == a.id  # A still holds its lock
    a.release()
    assert os.listdir(os.path.dirname(file)) == []  # no lock, no removal marker left


def test_a_removal_marker_whose_holder_died_is_passed_over(store):
    """A breaker killed holding the removal marker of a stale lock: the next writer takes the next
    marker and breaks the lock; every marker of that lock goes with it."""
    file = lock_file(store.url, "neural/monkeyA")
    os.makedirs(os.path.dirname(file), exist_ok=True)
    with open(file, "w") as f:
        json.dump(_stale_record(id="dead"), f)
    with open(f"{file}.id-dead.0.rm", "w") as f:
        json.dump(_stale_record(), f)
    t0 = time.monotonic()
    store.write_neural("monkeyA", _neural(4))
    assert time.monotonic() - t0 < 5 and os.listdir(os.path.dirname(file)) == []
    np.testing.assert_array_equal(store.read_neural("monkeyA").values, _neural(4).values)


# ---------------------------------------------------------------------------- staged writes (extraction)
def test_begin_commit_write(store):
    url = store.begin_write("features/net/fc")
    xr.Dataset({"data": (("stimulus", "unit"), np.ones((8, 3)))}).to_zarr(url, mode="w", consolidated=False)
    # until the commit, readers see the old copy
    np.testing.assert_array_equal(store.read_features("net", "fc").values, _features(0).values)
    store.commit_write("features/net/fc", url)
    assert store.read_dataset("features/net/fc")["data"].shape == (8, 3)
    url = store.begin_write("features/net/fc")
    store.abort_write(url)
    assert _staged(store) == [] and store.is_complete("features/net/fc")
    with pytest.raises(StoreError, match="call begin_write first"):
        store.commit_write("features/net/fc", url)


# ---------------------------------------------------------------------------- opening rules
def test_readers_never_create_a_store(tmp_path):
    missing = tmp_path / "typo.zarr"
    with pytest.raises(StoreError, match="no study store at .*typo.zarr.*check the path"):
        open_store(missing, mode="r")
    with pytest.raises(StoreError, match=r"StudyStore\(path, create=True\)"):
        open_store(missing, create=False)
    assert not missing.exists()
    not_a_store = tmp_path / "folder"
    not_a_store.mkdir()
    with pytest.raises(StoreError, match="no Zarr group"):
        open_store(not_a_store, mode="r")
    st = open_store(missing)  # the default creates, as the README shows
    assert missing.is_dir() and st.inventory()["neural"] == []
    assert open_store(missing, create=False).url == str(missing)
    # a Zarr group that neuroxr never wrote is no (empty) study store for a reader
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w")
    with pytest.raises(StoreError, match=r"is a Zarr group but no neuroxr study store .* check the path\.$"):
        open_store(plain, mode="r")
    for kw in ({"create": False}, {}):  # nor made one by a writer: another program's group
        with pytest.raises(StoreError, match=r"no neuroxr study store .*; check the path, or make a new study store at a "
                                             r"new path or in an empty folder\.$"):
            open_store(plain, **kw)
    from click.testing import CliRunner

    from neuroxr.cli import main

    res = CliRunner().invoke(main, ["info", str(plain)])
    assert res.exit_code != 0 and "no neuroxr study store" in res.output and "Traceback" not in res.output
    # a Zarr array is named as one (it was called a group), and never made a store
    array = tmp_path / "array.zarr"
    zarr.open_array(str(array), mode="w", shape=(3,), dtype="f8")
    for kw in ({"mode": "r"}, {"create": False}, {}):
        with pytest.raises(StoreError, match=r"array.zarr' is a Zarr array, no neuroxr study store \(a Zarr group\)"):
            open_store(array, **kw)
    assert json.loads((plain / "zarr.json").read_text())["attributes"] == {}  # left as it was


# ---------------------------------------------------------------------------- kill -9 during overwrites
_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from neuroxr.layouts import neural
    from neuroxr.store import StudyStore
    st = StudyStore(sys.argv[1])
    rng = np.random.default_rng(0)
    arrays = [neural(np.full((200, 300, 4), float(s)), [f"i{i}" for i in range(200)], [f"n{j}" for j in range(300)])
              for s in (1, 2)]
    print("ready", flush=True)
    i = 0
    while True:
        st.write_neural("monkeyA", arrays[i % 2])
        i += 1
""")


@pytest.mark.slow
def test_kill9_during_write_neural_never_loses_the_set(tmp_path):
    path = tmp_path / "kill.zarr"
    StudyStore(path).write_neural(
        "monkeyA", neural(np.full((200, 300, 4), 1.0), [f"i{i}" for i in range(200)], [f"n{j}" for j in range(300)])
    )
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 1.0))
        proc.kill()
        proc.wait()
        st = StudyStore(path)  # opening recovers an interrupted swap
        assert st.neural_sets() == ["monkeyA"] and st.incomplete_entries() == []
        values = np.unique(st.read_neural("monkeyA").values)
        assert values.tolist() in ([1.0], [2.0])
        assert st.damaged() == []


_DIES_MID_SWAP = textwrap.dedent("""
    import os, sys, numpy as np
    from neuroxr.layouts import neural
    from neuroxr.store import StudyStore, atomic
    real, calls = os.rename, []
    def rename(src, dst):
        calls.append(src)
        if len(calls) == 2:
            os._exit(9)  # killed between the two renames, holding the entry's lock
        real(src, dst)
    atomic.os.rename = rename
    StudyStore(sys.argv[1]).write_neural("monkeyA", neural(np.full((8, 6, 3), 2.0)))
""")


@pytest.mark.slow
def test_writer_killed_between_renames_holding_the_lock(store, tmp_path):
    script = tmp_path / "dies.py"
    script.write_text(_DIES_MID_SWAP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    assert subprocess.run([sys.executable, str(script), store.url], env=env).returncode == 9
    assert os.path.exists(lock_file(store.url, "neural/monkeyA")) and atomic.has_journal(store.url, "neural/monkeyA")
    assert not os.path.exists(os.path.join(store.url, "neural", "monkeyA"))
    st = StudyStore(store.url)  # the dead owner's lock is broken and its swap finished
    assert np.unique(st.read_neural("monkeyA").values).tolist() == [2.0]
    assert not os.path.exists(lock_file(store.url, "neural/monkeyA")) and _staged(st) == []


def test_two_processes_creating_one_store_both_open_it(tmp_path, monkeypatch):
    import zarr.errors

    path = tmp_path / "new.zarr"
    real = zarr.open_group
    raced = []

    def racing(store, mode="a", **kw):  # another process creates the store between our look and our create
        if not raced:
            raced.append(True)
            real(zarr.storage.LocalStore(str(path)), mode="w")
            raise zarr.errors.ContainsGroupError("A group exists in store")
        return real(store, mode=mode, **kw)

    monkeypatch.setattr(zarr, "open_group", racing)
    st = StudyStore(path)
    assert raced and st.inventory() == {"neural": [], "features": {}}
    st.write_neural("monkeyA", _neural(0))
    assert StudyStore(path, mode="r").neural_sets() == ["monkeyA"]


def test_a_ctrl_c_right_after_the_lock_is_linked_leaves_no_lock(store, monkeypatch):
    """A KeyboardInterrupt after the lock file was linked, before it was registered as held: the file,
    owned by this live process, blocked every writer of the entry (120 s, then an error) for the
    lock's expiry (10 minutes)."""
    real = os.link

    def link(src, dst):
        real(src, dst)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "link", link)
        with pytest.raises(KeyboardInterrupt):
            store.write_neural("monkeyA", small_neural(1))
    locks = os.path.dirname(lock_file(store.url, "neural/monkeyA"))
    assert not os.path.isdir(locks) or os.listdir(locks) == []
    assert EntryLock(store.url, "neural/monkeyA", timeout=0).acquire() is True
