"""Caches and shared objects touched from threads (round 2).

A sweep's tasks on the threads of one Dask worker share one cached store object per sweep
(``sweep.tasks._open``, ``cache=True``, held): its kept documents, inventory and groups known to
exist are read and changed by several threads at once. Each race is forced at its exact moment (a
str or dict subclass holds one thread while another changes the shared state), not by timing.
"""

from __future__ import annotations

import threading
import uuid

import numpy as np
import xarray as xr

from neuroxr.store import StudyStore


class _Holding(str):
    """A path that holds the first thread other than the test's own that compares it, until released."""

    inside: threading.Event
    go: threading.Event

    def __eq__(self, other):
        if threading.current_thread() is not threading.main_thread() and not self.inside.is_set():
            self.inside.set()
            self.go.wait(10)
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _holding(value):
    p = _Holding(value)
    p.inside, p.go = threading.Event(), threading.Event()
    return p


def _run(fn):
    """Start ``fn`` in a thread; its error (or None) in the returned list once joined."""
    out = []

    def run():
        try:
            fn()
            out.append(None)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _entry():
    return xr.Dataset({"score": (("x",), np.arange(4.0))}, coords={"x": [f"c{i}" for i in range(4)]})


def test_a_write_forgetting_its_groups_while_another_thread_writes_on_an_object_store():
    """An object store's write (``_forget``) went through the groups known to exist while another
    thread's write added its own: 'Set changed size during iteration', the write failed."""
    st = StudyStore(f"memory://h26-known-{uuid.uuid4().hex}/s.zarr", cache=True).hold()
    held = _holding("scores/held")
    st._known.add(held)
    t, out = _run(lambda: st._forget("scores/x"))
    assert held.inside.wait(10)
    st.write_dataset("scores/a/b", _entry())  # another task's write on the shared store object
    held.go.set()
    t.join(10)
    assert out == [None]
    assert "scores/a/b" in st._known and held in st._known


def test_a_deletion_recorded_while_another_thread_records_its_write():
    """The cached inventory was gone through for a deletion's record while another thread's write
    recorded its path there: 'dictionary changed size during iteration', the deletion failed."""
    st = StudyStore(f"memory://h26-index-{uuid.uuid4().hex}/s.zarr", cache=True).hold()
    st.write_dataset("scores/a/b", _entry())
    assert st.listing("scores") == ["scores/a/b"]
    assert st._index is not None
    held = _holding("scores/held")
    st._index[held] = {"state": "complete", "token": None, "t": 0}
    t, out = _run(lambda: st._record("scores/x", "deleted"))
    assert held.inside.wait(10)
    other, other_out = _run(lambda: st._record("scores/c/d", "pending"))  # another task's write begins
    other.join(0.5)  # done at once unless it waits for the deletion's record
    held.go.set()
    t.join(10)
    other.join(10)
    assert out == [None] and other_out == [None]
    assert st._index is not None and "scores/c/d" in st._index


def test_a_record_while_another_thread_drops_the_cached_inventory():
    """A record found the cached inventory, then another thread dropped it (an inventory that
    disagreed, a rebuild): 'NoneType' object does not support item assignment."""
    st = StudyStore(f"memory://h26-drop-{uuid.uuid4().hex}/s.zarr", cache=True).hold()
    st.write_dataset("scores/a/b", _entry())
    st.listing("scores")
    held = _holding("scores/held")
    st._index[held] = {"state": "complete", "token": None, "t": 0}
    t, out = _run(lambda: st._record(held, "deleted"))
    assert held.inside.wait(10)
    st._index = None  # what _disagrees / rebuild_inventory do
    held.go.set()
    t.join(10)
    assert out == [None]


def test_a_listing_while_another_thread_records_a_deletion():
    """A listing read its groups' documents (the batch read lets other threads run), and another
    thread's deletion meanwhile removed a path from the cached inventory the listing was going
    through: KeyError. A listing goes through its own copy of the inventory."""
    st = StudyStore(f"memory://h26-list-{uuid.uuid4().hex}/s.zarr", cache=True).hold()
    st.write_dataset("scores/a/b", _entry())
    st.write_dataset("scores/c/d", _entry())
    assert st.listing("scores") == ["scores/a/b", "scores/c/d"]
    real = st._confirmed

    def confirmed(paths, unreadable=None):
        got = real(paths, unreadable)
        st.invalidate("scores/c/d")  # another thread's deletion, during the batch read
        return {**got, "scores/c/d": None}  # ... which read after it

    st._confirmed = confirmed
    assert st.listing("scores") == ["scores/a/b"]


class _HoldingDocs(dict):
    """A document cache that, asked by another thread whether it holds ``path``, answers and then
    holds that thread until the test thread has dropped it."""

    def __init__(self, *a, path, **k):
        super().__init__(*a, **k)
        self.path, self.inside, self.go, self.asked = path, threading.Event(), threading.Event(), 0

    def _hold(self):
        if not self.inside.is_set():
            self.inside.set()
            self.go.wait(10)

    def __contains__(self, key):
        found = dict.__contains__(self, key)
        if key == self.path and threading.current_thread() is not threading.main_thread():
            self.asked += 1
            if self.asked == 2:  # the loop's check (the first: which documents to read)
                self._hold()
        return found

    def get(self, key, default=None):
        found = dict.get(self, key, default)
        if key == self.path and threading.current_thread() is not threading.main_thread():
            self._hold()
        return found


def test_a_document_dropped_by_another_thread_between_a_reads_check_and_its_use():
    """A batch read found a group's document kept, and another thread dropped it (a fresh token,
    a write of that group) before it was taken: KeyError. The document is read again instead."""
    st = StudyStore(f"memory://h26-docs-{uuid.uuid4().hex}/s.zarr", cache=True).hold()
    st.write_dataset("scores/a/b", _entry())
    expected = st.group_attrs("scores/a/b")
    st._docs = _HoldingDocs(st._docs, path="scores/a/b")
    got = {}
    t, out = _run(lambda: got.update(st._group_attrs_batch(["scores/a/b"])))
    assert st._docs.inside.wait(10)
    st._docs.pop("scores/a/b")  # another thread: token(path, fresh=True)
    st._docs.go.set()
    t.join(10)
    assert out == [None]
    assert got["scores/a/b"] == expected
