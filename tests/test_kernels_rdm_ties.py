"""Euclidean RDMs keep the ties of their distances: integer features exactly, as scipy's ``pdist``;
other data through their squared distances equal up to rounding (``tie_squares``)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau, spearmanr

from neuroxr.backend import asarray, to_numpy
from neuroxr.kernels.compare import compare_rdms
from neuroxr.kernels.gram import GramStats, combine, gram, gram_chunks, gram_dask
from neuroxr.kernels.rdm import exact_squares, rdm, rdm_from_gram, tie_squares, upper_tri

METHODS = ["euclidean", "sqeuclidean"]


def _counts(seed, n=40, p=6, high=4):
    """Small random integers (spike counts): many pairs at exactly the same distance."""
    return np.random.default_rng(seed).integers(0, high, size=(n, p)).astype(np.float64)


def _pdist(F, method):
    return squareform(pdist(F, metric=method))


def _unrounded(stats, method):
    """The RDM from the centred Gram without rounding (the formula used before integer features
    were recognised)."""
    K = np.asarray(to_numpy(stats.K))
    d = np.diagonal(K)
    sq = d[:, None] + d[None, :] - 2.0 * K
    sq = np.where(sq > 0, sq, 0.0)
    np.fill_diagonal(sq, 0.0)
    return sq if method == "sqeuclidean" else np.sqrt(sq)


def _tau_a(a, b):
    s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    P = len(a)
    return s[np.triu_indices(P, 1)].sum() / (P * (P - 1) / 2)


@pytest.mark.parametrize("method", METHODS)
def test_integer_features_give_scipys_rdm_exactly(method):
    F = _counts(0)
    ref = _pdist(F, method)
    assert len(np.unique(upper_tri(ref))) < len(upper_tri(ref)) / 10  # many exact ties
    np.testing.assert_array_equal(to_numpy(rdm(F, method)), ref)
    np.testing.assert_array_equal(to_numpy(rdm_from_gram(gram(F), method)), ref)
    # the old formula split some of the ties
    assert not np.array_equal(_unrounded(gram(F), method), ref)


@pytest.mark.parametrize("method", METHODS)
def test_streamed_integer_features_give_the_same_rdm(method):
    da = pytest.importorskip("dask.array")
    F = _counts(1, p=13)
    ref = _pdist(F, method)
    parts = [gram_chunks(F[:, i : i + c] for i in range(0, 13, c)) for c in (1, 4, 5)]
    darr = da.from_array(F, chunks=(40, 3))
    parts += [gram_dask(darr, scheduler="sync"), gram_dask(darr, split_every=2, scheduler="threads")]
    parts.append(pickle.loads(pickle.dumps(gram(F))))
    for s in parts:
        assert s.integral and s.max_abs == 3.0
        np.testing.assert_array_equal(to_numpy(rdm_from_gram(s, method)), ref)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)])
@pytest.mark.parametrize("method", METHODS)
def test_rank_comparisons_of_integer_features_match_scipy(method, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    a, b = _counts(2), _counts(3)
    va, vb = pdist(a, metric=method), pdist(b, metric=method)
    Da, Db = (rdm(asarray(x, backend=backend), method) for x in (a, b))
    got = compare_rdms(Da, Db, ["spearman", "kendall"])
    assert abs(got["spearman"] - spearmanr(va, vb).statistic) < 1e-12
    assert abs(got["kendall"] - _tau_a(va, vb)) < 1e-12
    # tau-a from scipy's tau-b: tau_b sqrt((n0 - t_a) (n0 - t_b)) / n0, t the tied pairs of each
    n0 = len(va) * (len(va) - 1) / 2
    ties = [sum(c * (c - 1) / 2 for c in np.unique(v, return_counts=True)[1]) for v in (va, vb)]
    tau_a = kendalltau(va, vb).statistic * np.sqrt((n0 - ties[0]) * (n0 - ties[1])) / n0
    assert abs(got["kendall"] - tau_a) < 1e-12


def test_rank_comparison_matches_rsatoolbox_on_integer_features():
    rsr = pytest.importorskip("rsatoolbox.rdm")
    a, b = _counts(4), _counts(5)
    ra, rb = (rsr.RDMs(pdist(x, metric="sqeuclidean")[None, :]) for x in (a, b))
    for ours, theirs in (("spearman", "spearman"), ("kendall", "tau-a")):
        ref = float(rsr.compare(ra, rb, method=theirs)[0, 0])
        assert abs(compare_rdms(rdm(a, "sqeuclidean"), rdm(b, "sqeuclidean"), ours) - ref) < 1e-12


def test_non_integer_features_are_not_rounded():
    """Squared distances as computed; Euclidean ones their square roots, tied squares made equal
    (none in continuous data: then exactly the square roots)."""
    rng = np.random.default_rng(6)
    for F in (_counts(7) + 0.5, rng.standard_normal((30, 20))):  # (counts with NaN: no RDM, refused)
        s = gram(F)
        assert not s.integral
        sq = _unrounded(s, "sqeuclidean")
        np.testing.assert_array_equal(to_numpy(rdm_from_gram(s, "sqeuclidean")), sq)
        np.testing.assert_array_equal(to_numpy(rdm_from_gram(s, "euclidean")), np.sqrt(tie_squares(sq)))
    assert tie_squares(sq) is sq  # continuous data: nothing tied, nothing copied
    np.testing.assert_array_equal(to_numpy(rdm_from_gram(gram(F), "euclidean")), _unrounded(gram(F), "euclidean"))


def _clusters(seed, n=30, p=50):
    """Stimuli in a few far-apart clusters, each a centre plus steps of 0.25 on some units: many
    pairs at exactly equal distances, small against the largest; not integers (no exact squares)."""
    rng = np.random.default_rng(seed)
    C = rng.integers(0, 1000, size=(6, p)) * 0.25
    return C[rng.integers(0, 6, n)] + rng.integers(0, 2, size=(n, p)) * 0.25


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)])
def test_euclidean_ranks_keep_ties_of_small_distances(backend):
    """A distance far below the largest carries the rounding of the largest squared norms through
    its square root; its ties are kept through the squared distances (scipy on the exact data)."""
    if backend == "torch":
        pytest.importorskip("torch")
    a, b = _clusters(0), _clusters(1)
    va, vb = pdist(a), pdist(b)  # exact: dyadic values
    assert len(np.unique(va)) < len(va) - 40  # many ties
    Da, Db = (rdm(asarray(x, backend=backend), "euclidean") for x in (a, b))
    ua = to_numpy(upper_tri(Da))
    assert len(np.unique(ua)) == len(np.unique(va))
    np.testing.assert_allclose(ua, va, rtol=1e-9)
    got = compare_rdms(Da, Db, ["spearman", "kendall"])
    assert abs(got["spearman"] - spearmanr(va, vb).statistic) < 1e-12
    assert abs(got["kendall"] - _tau_a(va, vb)) < 1e-12
    # the square roots of the Gram's squared distances parted the ties (before tie_squares)
    ra = np.sqrt(_unrounded(gram(a), "sqeuclidean"))[np.triu_indices(30, 1)]
    assert len(np.unique(ra)) > len(np.unique(va)) + 10


def test_crsa_on_euclidean_rdms_matches_scipy_on_the_exact_distances():
    import neuroxr as nx
    from neuroxr import geometry as geo

    F, N = _clusters(2), _clusters(3)
    ids = [f"s{i:02d}" for i in range(30)]
    feats = nx.features(F, ids)
    resp = nx.neural(N[:, :, None], ids, [f"n{j}" for j in range(N.shape[1])])
    va, vb = pdist(F), pdist(N)
    for method, ref in (("spearman", spearmanr(vb, va).statistic), ("kendall", _tau_a(vb, va))):
        got = float(geo.crsa(feats, resp, "euclidean", method)["score"])
        assert abs(got - ref) < 1e-12


def test_tie_squares_makes_tied_values_equal_and_keeps_the_rest():
    D = squareform(pdist(_clusters(4), "sqeuclidean"))
    big = D.max()
    noisy = D + np.triu(np.random.default_rng(0).uniform(-1, 1, D.shape) * 2.0**-50 * big, 1)
    noisy = np.triu(noisy, 1) + np.triu(noisy, 1).T
    got = tie_squares(noisy)
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_array_equal(np.diagonal(got), 0.0)
    np.testing.assert_allclose(got, D, rtol=0, atol=2.0**-48 * big)
    # equal where the exact values are equal, apart where they differ
    g, d = upper_tri(got), upper_tri(D)
    np.testing.assert_array_equal(g[:, None] == g[None, :], d[:, None] == d[None, :])


def test_integers_too_large_for_exact_squares_are_not_rounded():
    F = _counts(9, p=40, high=2**22)  # p (2 max|F|) ~ 2^28.3: past the bound
    s = gram(F)
    assert s.integral and not exact_squares(s, s.K.dtype)
    np.testing.assert_array_equal(to_numpy(rdm_from_gram(s, "sqeuclidean")), _unrounded(s, "sqeuclidean"))
    np.testing.assert_allclose(to_numpy(rdm(F, "euclidean")), _pdist(F, "euclidean"), rtol=1e-12)


def test_the_bound_follows_the_precision():
    F = _counts(10, n=20, p=8)  # p (2 max|F|) = 48: within the float32 bound (362)
    s32 = gram(asarray(F, dtype="float32"))
    assert s32.integral and exact_squares(s32, s32.K.dtype)
    for method in METHODS:
        D = to_numpy(rdm_from_gram(s32, method))
        assert D.dtype == np.float32
        np.testing.assert_array_equal(D, _pdist(F, method).astype(np.float32))
    wide = gram(asarray(_counts(11, n=20, p=100), dtype="float32"))  # 600: rounding left out in float32
    assert wide.integral and not exact_squares(wide, wide.K.dtype)
    assert exact_squares(gram(_counts(11, n=20, p=100)), np.float64)


def test_integrality_combines_over_chunks():
    late = _counts(15)
    late[-1, -1] += 0.5  # the first row integral, a later one not
    assert not gram(late).integral
    with np.errstate(invalid="ignore"):  # inf - inf in the centring
        assert not gram(np.where(late > 2, np.inf, late.round())).integral
    ints, reals = gram(_counts(12)), gram(_counts(13) + 0.25)
    both = combine(ints, gram(_counts(14, high=9)))
    assert both.integral and both.max_abs == 8.0
    assert not combine(ints, reals).integral and not combine(reals, ints).integral
    # statistics built without the fields (elsewhere) mean "not known": never rounded
    old = GramStats(K=ints.K, a=ints.a, v=ints.v, n_units=ints.n_units, mu=ints.mu, m2=ints.m2)
    assert not old.integral and not exact_squares(old, np.float64)
    assert not combine(ints, old).integral


def test_exactness_is_never_claimed_where_it_does_not_hold():
    """Chunks of two precisions, float16 and signed integer extremes: no rounding where the bound
    does not hold, the largest magnitude right; a Gram Dataset changed after it was made (scaled,
    its attrs kept by xarray) is not taken as integral."""
    import neuroxr as nx
    from neuroxr.geometry import gram as gram_ds
    from neuroxr.kernels.gram import gram_partial

    big = np.random.default_rng(0).integers(-1060, 1060, size=(30, 3000)).astype(np.float64)
    mixed = combine(gram_partial(big.astype(np.float32)), gram_partial(big))
    assert not mixed.integral and not exact_squares(mixed, mixed.K.dtype)
    F16 = np.random.default_rng(1).integers(0, 30, size=(6, 20)).astype(np.float16)
    assert not exact_squares(gram(F16), np.float16)  # float16's eps, not float64's
    s = gram_partial(np.array([[-128, 1], [3, 2], [0, 0]], dtype=np.int8))
    assert s.max_abs == 128
    F = _counts(2)
    g = gram_ds(nx.features(F, [f"s{i:02d}" for i in range(F.shape[0])]))
    np.testing.assert_array_equal(nx.rdm(g, "sqeuclidean").values, _pdist(F, "sqeuclidean"))
    half = g * 0.5  # attrs kept: the Gram of F / sqrt(2)
    np.testing.assert_allclose(nx.rdm(half, "sqeuclidean").values, _pdist(F / np.sqrt(2), "sqeuclidean"), atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)])
def test_tie_squares_with_pair_pass_values_splits_a_long_chain_of_near_ties(backend):
    """With squared distances from the pair pass (``direct``) the links were never split: a chain of
    Gram values 0.8 tolerances apart, spanning 3.2, was one group (all made equal), where the tie rule
    without pair-pass values splits it into groups spanning one tolerance each. Both give the groups
    a greedy split by hand gives (each the values within one tolerance of its smallest)."""
    if backend == "torch":
        pytest.importorskip("torch")
    from neuroxr.backend import TIE_RTOL

    n = 6
    P = n * (n - 1) // 2
    v = 100.0 + np.random.default_rng(3).permutation(P) * 10.0
    tol = TIE_RTOL * v.max()
    v[:5] = 120.0 + np.arange(5) * 0.8 * tol  # a chain of near ties
    v[5] = 1e-3  # a pair close together: its squared distance from the pair pass
    direct = np.zeros(P)
    direct[5] = 1.0
    want = np.array([0.0, 0.0, 1.6, 1.6, 3.2]) * tol  # greedy groups by hand: {0, 0.8}, {1.6, 2.4}, {3.2}
    for d in (None, squareform(direct).astype(bool)):
        sq = asarray(squareform(v), backend=backend)
        got = to_numpy(tie_squares(sq, None if d is None else asarray(d.astype(float), backend=backend) > 0))
        np.testing.assert_allclose(squareform(got, checks=False)[:5] - 120.0, want, rtol=0, atol=tol * 1e-3)
        np.testing.assert_array_equal(squareform(got, checks=False)[5:], v[5:])
