"""The pair pass: Euclidean RDMs of stimuli close together against their distance from the mean
(one stimulus far from the rest, tight clusters) equal scipy's ``pdist``, computed in the test."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from neuroxr.backend import asarray, to_numpy
from neuroxr.errors import NeuroxrWarning
from neuroxr.kernels import gram_pairs
from neuroxr.kernels.gram import gram, gram_chunks, gram_dask, gram_tree
from neuroxr.kernels.rdm import rdm, rdm_from_gram, upper_tri

METHODS = ["euclidean", "sqeuclidean"]


def _outlier(seed=0, n=12, p=30):
    F = np.random.default_rng(seed).standard_normal((n, p))
    F[3] *= 1e6  # its distance from the others moves the column means away from them all
    return F


def _clusters(seed=1, n=12, p=30):
    rng = np.random.default_rng(seed)
    return np.repeat(rng.standard_normal((2, p)), n // 2, axis=0) + 1e-8 * rng.standard_normal((n, p))


def _assert_pdist(D, F, method, rtol=1e-12):
    ref = pdist(F, method)
    got = to_numpy(upper_tri(D))
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)
    assert abs(spearmanr(got, ref).statistic - 1.0) < 1e-15
    return got, ref


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("make", [_outlier, _clusters])
@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)])
def test_rdm_matches_pdist_where_the_gram_cancels(make, method, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    F = make()
    s = gram(asarray(F, backend=backend))
    assert s.D2 is not None
    _assert_pdist(rdm_from_gram(s, method), F, method)
    _assert_pdist(rdm(asarray(F, backend=backend), method), F, method)
    # without the pair pass the same statistics lose the distances' digits (the fix's reason)
    with pytest.warns(NeuroxrWarning, match="no pair pass"):
        old = to_numpy(upper_tri(rdm_from_gram(gram(F, row_pass=False), method)))
    assert np.max(np.abs(old - pdist(F, method)) / pdist(F, method)) > 1e-9


def test_tight_clusters_keep_their_distinct_distances():
    """Distances within a cluster (about 1e-8) are distinct, as scipy's: the tie rule of the squared
    distances summed directly is relative to each one, not to the largest."""
    F = _clusters()
    got, ref = _assert_pdist(rdm(F, "euclidean"), F, "euclidean")
    assert len(np.unique(got)) == len(np.unique(ref)) == len(ref)


def test_ordinary_features_take_no_pair_pass():
    F = np.random.default_rng(2).standard_normal((20, 50))
    s = gram(F)
    assert s.D2 is None and not gram_pairs.needs_pair_pass(s)
    assert gram_pairs.cancelled_pairs(s).i.shape == (0,)
    _assert_pdist(rdm(F, "euclidean"), F, "euclidean", rtol=1e-10)


def test_chunked_and_streamed_statistics_take_the_same_pass(tmp_path):
    da = pytest.importorskip("dask.array")
    F = _outlier(3, n=14, p=41)
    whole = gram(F)
    chunked = gram(F, chunk_size=8)
    darr = da.from_array(F, chunks=(7, 9))
    for s in (chunked, gram_dask(darr, scheduler="sync"), gram_dask(darr, scheduler="threads", split_every=2)):
        assert s.D2 is not None
        np.testing.assert_array_equal(np.isnan(to_numpy(s.D2)), np.isnan(to_numpy(whole.D2)))
        _assert_pdist(rdm_from_gram(s, "euclidean"), F, "euclidean")
    # the chunk sums of gram_chunks take the pass afterwards, over the same chunks
    first = gram_chunks(F[:, i : i + 10] for i in range(0, 41, 10))
    assert gram_pairs.needs_pair_pass(first)
    again = gram_pairs.with_pair_pass(first, lambda: (F[:, i : i + 10] for i in range(0, 41, 10)))
    _assert_pdist(rdm_from_gram(again, "euclidean"), F, "euclidean")
    pairs = gram_pairs.cancelled_pairs(first)
    tree = gram_tree(darr, 2, r=pairs).compute(scheduler="threads")[0, 0]
    np.testing.assert_allclose(to_numpy(tree.sq), pdist(F, "sqeuclidean")[_condensed(pairs, 14)], rtol=1e-13)
    ref = gram_tree(darr, 2, r=gram_pairs.Reference(5, np.arange(14))).compute(scheduler="threads")[0, 0]
    np.testing.assert_allclose(ref.K, (F - F[5]) @ (F - F[5]).T, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="with_pair_pass: chunks of 10 units"):
        gram_pairs.with_pair_pass(first, lambda: [F[:, :10]])


def test_tight_clusters_take_the_direct_sums_after_the_reference_gram():
    """One far stimulus: the Gram about a typical stimulus resolves every pair; two tight clusters: a
    second Gram, of the cluster away from the first's reference, resolves its pairs; more clusters
    than reference passes: the pairs left are summed directly."""
    calls = {}

    def counted(F):
        s = gram(F, row_pass=False)

        def run(spec):
            calls.setdefault(type(spec).__name__, []).append(spec)
            return gram_pairs.partial(F, spec)

        return gram_pairs.pair_pass(s, run)

    F = _outlier(9, n=14, p=20)
    _assert_pdist(rdm_from_gram(counted(F), "euclidean"), F, "euclidean")
    assert list(calls) == ["Reference"]
    calls.clear()
    F = _clusters(10, n=12, p=20)
    _assert_pdist(rdm_from_gram(counted(F), "euclidean"), F, "euclidean")
    assert [len(r.rows) for r in calls["Reference"]] == [12, 6] and "Pairs" not in calls  # then the other cluster
    calls.clear()
    rng = np.random.default_rng(11)
    F = np.repeat(rng.standard_normal((6, 20)), 3, axis=0) + 1e-8 * rng.standard_normal((18, 20))  # 6 clusters of 3
    _assert_pdist(rdm_from_gram(counted(F), "euclidean"), F, "euclidean")
    assert len(calls["Reference"]) == gram_pairs._REFERENCES and len(calls["Pairs"][0].i) == 2 * 3  # 2 clusters left


def _condensed(pairs, n):
    i, j = pairs.i, pairs.j
    return n * i - i * (i + 1) // 2 + (j - i - 1)


def test_gram_dataset_keeps_the_pair_pass_through_selection_and_order():
    import neuroxr as nx
    from neuroxr import geometry as geo

    F = _outlier(4, n=10, p=25)
    ids = [f"s{i}" for i in range(10)]
    order = np.random.default_rng(0).permutation(10)
    G = geo.gram(nx.features(F[order], [ids[i] for i in order]))
    assert "D2" in G
    at = {k: i for i, k in enumerate(G.stimulus_id.values)}
    pos = [at[k] for k in ids]
    D = geo.rdm(G, "euclidean").values[np.ix_(pos, pos)]
    np.testing.assert_array_equal(D, geo.rdm(geo.gram(nx.features(F, ids)), "euclidean").values)
    _assert_pdist(D, F, "euclidean")
    keep = [pos[i] for i in (0, 2, 3, 5, 9)]
    sub = G.isel(stimulus=keep, stimulus_=keep)  # a selection of the stimuli keeps their pairs' direct sums
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        Ds = geo.rdm(sub, "euclidean")
    _assert_pdist(Ds.values, F[[0, 2, 3, 5, 9]], "euclidean")


def test_crsa_of_features_with_a_far_stimulus_matches_scipy():
    import neuroxr as nx
    from neuroxr import geometry as geo

    rng = np.random.default_rng(5)
    F, N = _outlier(6, n=16, p=20), rng.standard_normal((16, 9))
    ids = [f"s{i:02d}" for i in range(16)]
    resp = nx.neural(N[:, :, None], ids, [f"n{j}" for j in range(9)])
    got = float(geo.crsa(nx.features(F, ids), resp, "euclidean", "spearman")["score"])
    assert abs(got - spearmanr(pdist(N), pdist(F)).statistic) < 1e-12


def test_a_stored_gram_entry_keeps_the_pair_pass(tmp_path):
    """cRSA through the store: the layer's cached Gram entry (streamed from the stored layer) holds
    ``D2``, and the score equals scipy's on ``pdist``."""
    import neuroxr as nx
    from neuroxr.entries import compute

    rng = np.random.default_rng(7)
    F, N = _outlier(8, n=16, p=20), rng.standard_normal((16, 9, 2))
    ids = [f"s{i:02d}" for i in range(16)]
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_features("net", "l1", nx.features(F, ids), unit_chunk=6)
    st.write_neural("mA", nx.neural(N, ids, [f"n{j}" for j in range(9)]))
    got = compute(st, "crsa", "net.l1", "mA", params={"rdm_method": "euclidean", "noise_ceiling": False})
    ref = spearmanr(pdist(N.mean(axis=2)), pdist(F)).statistic
    assert abs(float(got.dataset["score"]) - ref) < 1e-12
    (path,) = [p for _, p, _ in st.entries() if p.startswith("cache/gram/net/l1/")]
    assert "D2" in st.read_dataset(path)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, bool])
@pytest.mark.parametrize("method", METHODS)
def test_the_pair_pass_of_small_integer_and_bool_features_is_pdists(dtype, method):
    """The pair pass subtracted and squared rows in the features' dtype: uint8 differences wrapped around
    and int16 squares overflowed (distances off by tens), bool raised NumPy's subtract error."""
    rng = np.random.default_rng(7)
    if dtype is bool:  # a few units: some pairs' squared distances from the Gram cancel
        F = np.random.default_rng(0).integers(-3, 5, (7, 5)) > 0
    else:
        hi, step = (200, 2) if dtype is np.uint8 else (30000, 300)  # int16: squared steps past 32767
        base = rng.integers(hi // 2, hi, 400)
        F = np.stack([base + rng.integers(0, step, 400) for _ in range(6)] + [np.zeros(400, int)]).astype(dtype)
    assert gram(F).D2 is not None  # the pass runs
    np.testing.assert_allclose(to_numpy(upper_tri(rdm(F, method))), pdist(F.astype(np.float64), method), rtol=1e-12, atol=0)
