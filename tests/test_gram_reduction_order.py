"""A layer's Gram is the same to the bit wherever it is reduced: the synchronous stream and the tree on
threads (or a cluster) combine the unit chunks' partials in one order, at any number of chunks."""

from __future__ import annotations

import math
import tracemalloc

import dask
import numpy as np
import pytest

from neuroxr.kernels.gram import GramStats, gram, gram_dask, gram_stream, gram_tree

da = pytest.importorskip("dask.array")

_ARRAYS = ("K", "a", "v", "q", "qc", "Kr", "ar", "r", "D2")


def _features(kind: str, n_chunks: int, width: int = 3) -> np.ndarray:
    rng = np.random.default_rng(n_chunks)
    n, p = 12, width * n_chunks
    if kind == "offsets":  # stimuli far from zero (the row pass runs), two of them close (the pair pass)
        F = rng.standard_normal((n, p)) + 1e6 * rng.uniform(1, 2, (n, 1))
        F[1] = F[0] + 1e-3 * rng.standard_normal(p)
    else:  # large unit means, and constant units (n_varying, q, qc)
        F = rng.standard_normal((n, p)) + 50.0 * (1 + rng.standard_normal(p))[None, :]
        F[:, ::4] = rng.uniform(-5, 5, F[:, ::4].shape[1])
    return F


def _assert_same_bits(s: GramStats, t: GramStats) -> None:
    for name in _ARRAYS:
        x, y = getattr(s, name), getattr(t, name)
        assert (x is None) == (y is None), name
        if x is not None:
            x, y = np.asarray(x), np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name
    for name in ("n_units", "mu", "m2", "max_abs", "n_varying"):
        assert np.float64(getattr(s, name)).tobytes() == np.float64(getattr(t, name)).tobytes(), name
    assert (s.nonfinite is None) == (t.nonfinite is None)


@pytest.mark.parametrize("kind", ["offsets", "constant units"])
@pytest.mark.parametrize("split_every", [2, 3, 4])
@pytest.mark.parametrize("n_chunks", [1, 2, 5, 9, 16, 17])
def test_the_stream_and_the_threaded_tree_give_the_same_bits(kind, split_every, n_chunks):
    F = _features(kind, n_chunks)
    darr = da.from_array(F, chunks=(F.shape[0], 3))
    assert darr.numblocks[1] == n_chunks
    streamed = gram_dask(darr, split_every=split_every, scheduler="sync")
    _assert_same_bits(streamed, gram_dask(darr, split_every=split_every, scheduler="threads"))
    if kind == "offsets":  # every pass compared
        assert streamed.Kr is not None and streamed.D2 is not None
    else:
        assert streamed.n_varying < F.shape[1] and np.any(streamed.q > 0)
    # and the statistics are the features' (the order is fixed, not wrong)
    ref = gram(F)
    np.testing.assert_allclose(streamed.K, ref.K, rtol=0, atol=1e-10 * np.abs(ref.K).max())


@pytest.mark.parametrize("split_every, n_chunks", [(2, 7), (4, 6), (4, 21), (5, 26)])
def test_gram_stream_evaluates_gram_trees_nodes(split_every, n_chunks):
    """The public pieces: ``gram_stream`` with a fan-in is ``gram_tree`` of that fan-in (a short last node
    at each level; 21 = 16 + 4 + 1 and 26 = 25 + 1, one past a power of the fan-in)."""
    F = _features("constant units", n_chunks)
    darr = da.from_array(F, chunks=(F.shape[0], 3))
    tree = gram_tree(darr, split_every).compute(scheduler="threads")[0, 0]
    _assert_same_bits(gram_stream(darr, split_every=split_every), tree)
    r = np.asarray(F.mean(axis=1))  # a row pass's sums, reduced the same way
    rows = gram_stream(darr, r=r, split_every=split_every)
    rows_tree = gram_tree(darr, split_every, r=r).compute(scheduler="threads")[0, 0]
    for x, y in zip(rows, rows_tree):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_the_streams_peak_memory_is_one_gram_per_level_of_the_tree():
    """64 chunks of fan-in 4: three open nodes and the chunk's partial, never one Gram per chunk."""
    n, width, n_chunks = 300, 4, 64
    F = np.random.default_rng(0).standard_normal((n, width * n_chunks))
    darr = da.from_array(F, chunks=(n, width))
    gram_stream(darr)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        gram_stream(darr)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    levels = math.ceil(math.log(n_chunks, 4))
    assert peak < (levels + 1.5) * n * n * 8, peak / (n * n * 8)


def test_a_stored_layers_gram_entry_is_the_same_on_every_scheduler(tmp_path):
    """The entry engine: the Gram entry of a layer of 11 unit chunks, computed under the synchronous
    scheduler (a sweep task's stream) and under threads (the tree), stores the same bits."""
    from neuroxr.entries import compute
    from neuroxr.layouts import features
    from neuroxr.store import StudyStore

    F = _features("offsets", 11)
    ids = [f"s{i}" for i in range(F.shape[0])]
    stored = {}
    for scheduler in ("sync", "threads"):
        store = StudyStore(tmp_path / f"{scheduler}.zarr")
        store.write_features("net", "l1", features(F, ids), unit_chunk=3)
        with dask.config.set(scheduler=scheduler):
            stored[scheduler] = compute(store, "gram", "net.l1").dataset.load()
    a, b = stored["sync"], stored["threads"]
    assert set(a.data_vars) == set(b.data_vars) and {"K", "Kr", "D2", "q"} <= set(a.data_vars)
    for name in a.data_vars:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name
    assert a.attrs.keys() == b.attrs.keys()
    for key in ("mu", "m2", "n_units", "n_varying"):
        if key in a.attrs:
            assert np.float64(a.attrs[key]).tobytes() == np.float64(b.attrs[key]).tobytes(), key
