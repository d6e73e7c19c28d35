"""A layer's Gram reduced across a Dask cluster's workers: equal to the in-memory Gram, spread over
both workers, and what a sweep stores with it equals a serial sweep; a layer several times a
worker's memory limit scores on such workers (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from neuroxr.kernels.gram import gram, gram_dask, gram_stream, gram_tree, row_centered_gram, uncentered_gram

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


def _features(n, p, seed, offset=50.0):
    rng = np.random.default_rng(seed)
    # large, varied unit means: an inexact centring would show
    return rng.standard_normal((n, p)) + offset * (1 + rng.standard_normal(p))[None, :]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  memory_limit=0) as cluster, distributed.Client(cluster) as c:
        yield c


def _zarr_features(tmp_path, F, unit_chunk):
    import zarr

    path = str(tmp_path / "f.zarr")
    z = zarr.open_array(path, mode="w", shape=F.shape, chunks=(F.shape[0], unit_chunk), dtype="f8")
    z[:] = F
    return da.from_zarr(path)


def _assert_stats_equal(s, F):
    ref = gram(F)
    np.testing.assert_allclose(s.K, ref.K, rtol=0, atol=1e-10 * np.abs(ref.K).max())
    Fc = F - F.mean(0)
    np.testing.assert_allclose(s.K, Fc @ Fc.T, rtol=0, atol=1e-10 * np.abs(ref.K).max())
    np.testing.assert_allclose(s.a, ref.a, rtol=0, atol=1e-10 * np.abs(F).sum(1).max())
    np.testing.assert_allclose(s.v, ref.v, rtol=1e-10, atol=1e-10 * np.abs(ref.v).max())
    assert s.n_units == F.shape[1] and s.mu == pytest.approx(ref.mu, rel=1e-12)
    assert s.m2 == pytest.approx(ref.m2, rel=1e-10)
    G = F @ F.T
    np.testing.assert_allclose(uncentered_gram(s), G, rtol=1e-10, atol=1e-10 * np.abs(G).max())
    Fr = F - F.mean(1, keepdims=True)
    R = Fr @ Fr.T
    np.testing.assert_allclose(row_centered_gram(s), R, rtol=0, atol=1e-9 * np.abs(R).max())


@pytest.mark.parametrize("split_every", [2, 4])
def test_gram_tree_on_two_workers_equals_in_memory(client, tmp_path, split_every):
    F = _features(24, 203, seed=split_every)  # 13 unit chunks of 16 (the last one short)
    darr = _zarr_features(tmp_path, F, 16)
    with distributed.get_task_stream(client) as ts:
        s = gram_dask(darr, split_every=split_every, scheduler=client)
    _assert_stats_equal(s, F)
    tasks = [t for t in ts.data if t["key"][0].startswith("neuroxr-gram") or "boxed" in str(t["key"][0])]
    workers = {t["worker"] for t in ts.data}
    assert len(workers) == 2, "the chunk tasks should run on both workers"
    # each chunk's read is fused with its partial: one task per chunk plus the tree's nodes
    n_chunks = len(darr.chunks[1])
    assert n_chunks == 13 and n_chunks < len(ts.data) <= 2 * n_chunks + 2, [t["key"] for t in ts.data]
    assert tasks  # the reduction's tasks are named


def test_row_pass_on_two_workers_keeps_rdms_of_stimuli_with_large_offsets(client, tmp_path):
    """The row pass is a second tree on the cluster (its reference travels to the chunk tasks)."""
    from scipy.spatial.distance import pdist, squareform

    from neuroxr.kernels.rdm import rdm_from_gram

    rng = np.random.default_rng(9)
    F = rng.standard_normal((24, 203)) + 1e6 * rng.uniform(1, 2, (24, 1))
    s = gram_dask(_zarr_features(tmp_path, F, 16), split_every=2, scheduler=client)
    assert s.Kr is not None
    for method in ("correlation", "cosine"):
        np.testing.assert_allclose(rdm_from_gram(s, method), squareform(pdist(F, method)), rtol=0, atol=1e-12)


def test_gram_stream_and_tree_agree_with_the_synchronous_path(tmp_path):
    F = _features(15, 70, seed=5)
    darr = _zarr_features(tmp_path, F, 8)
    streamed = gram_stream(darr)
    _assert_stats_equal(streamed, F)
    _assert_stats_equal(gram_dask(darr, scheduler="sync"), F)  # the streamed path
    _assert_stats_equal(gram_tree(darr, split_every=3).compute(scheduler="threads")[0, 0], F)
    with pytest.raises(ValueError, match="split_every"):
        gram_tree(darr, split_every=1)


def test_spread_gram_rule():
    from neuroxr.sweep.tasks import GRAM_SPREAD_BYTES, spread_gram

    mib = 2**20
    assert spread_gram(100 * mib, 8, [300 * mib, 400 * mib])  # more than a quarter of the smallest limit
    assert not spread_gram(70 * mib, 8, [300 * mib, 400 * mib])
    assert not spread_gram(10 * 300 * mib, 1, [300 * mib])  # one chunk: nothing to spread
    assert spread_gram(GRAM_SPREAD_BYTES + 1, 2, [None, 0]) and not spread_gram(GRAM_SPREAD_BYTES, 2, [])


def _entry_values(path, res):
    from neuroxr.store import StudyStore

    store = StudyStore(path, mode="r")
    out = {}
    for key, p in res.table.set_index("key")["path"].items():
        out[key] = store.read_dataset(p)["ev"].values
    for key, p in res.metric_table.set_index("key")["path"].items():
        out[key] = store.read_dataset(p)["score"].values
    return out


def test_sweep_with_grams_spread_over_the_cluster_equals_serial(client, sweep_copy):
    from neuroxr.store import StudyStore
    from neuroxr.sweep import sweep

    kw = dict(models=["netA"], directions=["forward", "cka"], neural=["animalA"], reps=2, progress=False)
    a, b = sweep_copy("serial.zarr"), sweep_copy("spread.zarr")
    serial = sweep(a, client="serial", **kw)
    with distributed.get_task_stream(client) as ts:
        spread = sweep(b, client=client, gram_spread=True, **kw)
    assert sorted(spread.computed) == sorted(serial.computed) and len(spread.computed) == 4
    keys = [str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]) for t in ts.data]
    assert any(k.startswith("neuroxr-gram-netA.layer1") for k in keys)
    assert sum(k.startswith("neuroxr-gram-") and "layer" not in k for k in keys) >= 4  # the tree's tasks
    va, vb = _entry_values(a, serial), _entry_values(b, spread)
    for key in va:
        np.testing.assert_allclose(vb[key], va[key], rtol=1e-10, atol=1e-10)
    ga, gb = StudyStore(a, mode="r"), StudyStore(b, mode="r")
    from neuroxr.entries import list_entries

    grams = list_entries(b).query("kind == 'gram'")["path"].tolist()
    assert len(grams) == 2
    for p in grams:
        np.testing.assert_allclose(gb.read_dataset(p)["K"].values, ga.read_dataset(p)["K"].values, rtol=0,
                                   atol=1e-10 * np.abs(ga.read_dataset(p)["K"].values).max())


def _big_study(path, n, p, unit_chunk, seed=0):
    """A study with one layer of ``n x p`` float64 features written chunk by chunk (never in memory)."""
    import xarray as xr

    from neuroxr.datasets.synthetic import make_study
    from neuroxr.store import StudyStore

    study = make_study(seed=seed, n_stimuli=n, animals={"animalA": 12}, n_repeats=8,
                       models={"netA": (("layer3", 16, 1.0, 0),)})
    latent = np.asarray(study.features["netA"]["layer3"].values)

    def block(block_info=None):
        loc, width = block_info[None]["chunk-location"][1], block_info[None]["chunk-shape"][1]
        rng = np.random.default_rng([seed, loc])
        return latent @ rng.normal(size=(latent.shape[1], width)) + rng.normal(size=(n, width)) + 3.0

    chunks = ((n,), tuple(min(unit_chunk, p - s) for s in range(0, p, unit_chunk)))
    feats = xr.DataArray(da.map_blocks(block, dtype=np.float64, chunks=chunks), dims=("stimulus", "unit"), coords={
        "stimulus_id": ("stimulus", study.neural["animalA"].stimulus_id.values),
        "unit_id": ("unit", np.char.add("u", np.arange(p).astype(str)))})
    store = StudyStore(path)
    store.write_neural("animalA", study.neural["animalA"])
    import dask

    with dask.config.set(scheduler="threads"):
        store.write_features("big", "layer", feats, unit_chunk=unit_chunk)
    return study


@pytest.mark.slow
def test_layer_five_times_a_worker_memory_limit_scores_on_such_workers(tmp_path):
    """Two 300 MiB nanny workers (process-based, the limit enforced) score forward and CKA on a
    1.5 GiB layer; the Gram is reduced across both workers; EVs equal the in-memory forward."""
    from neuroxr import predictivity
    from neuroxr.store import StudyStore
    from neuroxr.sweep import sweep
    from neuroxr.sweep.cluster import embedded_cluster

    limit = 300 * 2**20
    n, unit_chunk = 500, 4096  # 15.6 MiB chunks, 96 of them
    p = 5 * limit // (8 * n)
    path = tmp_path / "big.zarr"
    study = _big_study(path, n, p, unit_chunk)
    with embedded_cluster(2, gpu=False, memory_limit=limit) as cluster, distributed.Client(cluster) as c:
        workers = set(c.scheduler_info()["workers"])
        with distributed.get_task_stream(c) as ts:
            res = sweep(path, directions=["forward", "cka"], client=c, reps=2, seed=0, progress=False)
        assert set(c.scheduler_info()["workers"]) == workers  # none was killed and replaced
        # the Gram was spread: one task per unit chunk (and the tree's), on both workers
        assert len(ts.data) > p // unit_chunk and {t["worker"] for t in ts.data} == workers

        from neuroxr.sweep.tasks import peak_rss_mb

        peaks = c.run(peak_rss_mb)
    assert len(res.computed) == 2 and not res.failed
    assert len(peaks) == 2 and max(peaks.values()) < 0.95 * limit / 2**20, peaks
    store = StudyStore(path, mode="r")
    ev = store.read_dataset(res.table.set_index("key").at["forward/big.layer__animalA", "path"])["ev"].values
    # the stored Gram equals the chunked Gram of the same features (computed here one chunk at a time)
    from neuroxr.entries import list_entries
    from neuroxr.kernels.gram import gram_chunks

    gpath = list_entries(path).query("kind == 'gram'")["path"].tolist()[0]
    lazy = store.read_features("big", "layer").data
    ref = gram_chunks(lazy[:, s : s + unit_chunk].compute(scheduler="sync") for s in range(0, p, unit_chunk))
    K = store.read_dataset(gpath)["K"].values
    np.testing.assert_allclose(K, ref.K, rtol=0, atol=1e-10 * np.abs(ref.K).max())
    ref_ev = predictivity.forward(store.read_features("big", "layer"), study.neural["animalA"], reps=2, seed=0,
                                  gram=ref)["ev"].values
    np.testing.assert_allclose(ev, ref_ev, rtol=1e-8, atol=1e-8)
