"""RDM kernels vs scipy and rsatoolbox; comparisons vs scipy and tau-a from its definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr, rankdata, spearmanr

from neuroxr.backend import asarray, to_numpy
from neuroxr.errors import NeuroxrWarning
from neuroxr.kernels.compare import compare_rdms, compare_rdms_many, kendall_tau_a, rank_vectors
from neuroxr.kernels.gram import gram, gram_chunks, gram_dask
from neuroxr.kernels.gram_rows import needs_row_pass, with_row_pass
from neuroxr.kernels.rdm import n_from_n_pairs, rdm, rdm_from_gram, upper_tri

BACKENDS = ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)]


def _b(name):
    if name == "torch":
        pytest.importorskip("torch")
    return name


def _tau_a_definition(a, b):
    s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    P = len(a)
    return s[np.triu_indices(P, 1)].sum() / (P * (P - 1) / 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
@pytest.mark.parametrize("shape", [(15, 40), (20, 6)])
def test_rdm_matches_scipy_pdist(backend, method, shape):
    rng = np.random.default_rng(0)
    F = rng.standard_normal(shape) + 2.0
    got = to_numpy(rdm(asarray(F, backend=_b(backend)), method))
    ref = squareform(pdist(F, metric=method))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(np.diag(got), 0)


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
@pytest.mark.parametrize("shape", [(12, 50), (30, 5)])
def test_streaming_rdm_equals_in_memory(method, shape):
    rng = np.random.default_rng(1)
    F = rng.standard_normal(shape) * 3 + 10
    full = rdm(F, method)
    streamed = rdm_from_gram(gram(F, chunk_size=4), method)
    np.testing.assert_allclose(streamed, full, rtol=1e-9, atol=1e-10)


def test_rdm_matches_rsatoolbox_calc_rdm():
    rsd = pytest.importorskip("rsatoolbox.data")
    rsr = pytest.importorskip("rsatoolbox.rdm")
    rng = np.random.default_rng(2)
    F = rng.standard_normal((10, 25))
    for method, scale in (("correlation", 1.0), ("euclidean", 1.0 / F.shape[1])):
        ref = rsr.calc_rdm(rsd.Dataset(F), method=method).get_matrices()[0]
        ours = rdm(F, "correlation" if method == "correlation" else "sqeuclidean") * scale
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_rdm_method_is_validated():
    with pytest.raises(ValueError, match=r"^rdm: method must be one of \('correlation', 'cosine', 'euclidean', 'sqeuclidean'\); got 'manhattan'\.$"):
        rdm(np.ones((3, 3)), "manhattan")


def test_upper_tri_order_matches_squareform():
    rng = np.random.default_rng(3)
    D = squareform(rng.random(21))
    np.testing.assert_array_equal(upper_tri(D), squareform(D))
    stack = np.stack([D, 2 * D])
    np.testing.assert_array_equal(upper_tri(stack)[1], 2 * squareform(D))
    assert n_from_n_pairs(21) == 7
    with pytest.raises(ValueError):
        n_from_n_pairs(20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_vectors_matches_rankdata_with_ties(backend):
    rng = np.random.default_rng(4)
    V = np.stack([rng.integers(0, 6, 40).astype(float), rng.standard_normal(40)])
    got = to_numpy(rank_vectors(asarray(V, backend=_b(backend))))
    np.testing.assert_allclose(got, np.stack([rankdata(v) for v in V]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_compare_methods_match_scipy(backend):
    rng = np.random.default_rng(5)
    a = squareform(pdist(rng.standard_normal((14, 8)), "correlation"))
    b = squareform(pdist(rng.standard_normal((14, 8)), "correlation"))
    va, vb = squareform(a, checks=False), squareform(b, checks=False)
    A, B = asarray(a, backend=_b(backend)), asarray(b, backend=_b(backend))
    assert compare_rdms(A, B, "pearson") == pytest.approx(pearsonr(va, vb)[0], rel=1e-10)
    assert compare_rdms(A, B, "spearman") == pytest.approx(spearmanr(va, vb)[0], rel=1e-10)
    assert compare_rdms(A, B, "kendall") == pytest.approx(_tau_a_definition(va, vb), rel=1e-10)
    cos = va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)
    assert compare_rdms(A, B, "cosine") == pytest.approx(cos, rel=1e-10)
    assert compare_rdms(A, B, "tau-a") == compare_rdms(A, B, "kendall")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("levels", [3, 7, None])
def test_kendall_tau_a_with_ties_vs_definition(backend, levels):
    rng = np.random.default_rng(6)
    P = 301
    if levels is None:
        a, b = rng.standard_normal(P), rng.standard_normal(P)
        b = a + b
    else:
        a = rng.integers(0, levels, P).astype(float)
        b = (a + rng.integers(0, levels, P)).astype(float)
    bk = _b(backend)
    got = kendall_tau_a(asarray(a, backend=bk), asarray(b, backend=bk))
    assert got == pytest.approx(_tau_a_definition(a, b), abs=1e-12)


def test_kendall_tau_a_array_api_on_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, 120).astype(float)
    b = rng.standard_normal(120)
    got = kendall_tau_a(torch.tensor(a), torch.tensor(b))
    assert got == pytest.approx(_tau_a_definition(a, b), abs=1e-12)


def test_kendall_tau_a_matches_rsatoolbox():
    rsr = pytest.importorskip("rsatoolbox.rdm")
    rng = np.random.default_rng(8)
    va = rng.integers(0, 5, 45).astype(float)
    vb = rng.standard_normal(45)
    ref = rsr.compare(rsr.RDMs(va[None]), rsr.RDMs(vb[None]), method="tau-a")[0, 0]
    assert kendall_tau_a(va, vb) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall", "cosine"])
def test_compare_many_equals_pairwise(backend, method):
    rng = np.random.default_rng(9)
    A = np.stack([squareform(pdist(rng.standard_normal((9, 4)))) for _ in range(3)])
    B = np.stack([squareform(pdist(rng.standard_normal((9, 4)))) for _ in range(2)])
    bk = _b(backend)
    M = to_numpy(compare_rdms_many(asarray(A, backend=bk), asarray(B, backend=bk), method))
    assert M.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            assert M[i, j] == pytest.approx(compare_rdms(A[i], B[j], method), rel=1e-10)
    # vectors and square forms give the same answer
    np.testing.assert_allclose(compare_rdms_many(upper_tri(A), upper_tri(B), method), M, rtol=1e-12)


def test_compare_matches_rsatoolbox_compare():
    rsr = pytest.importorskip("rsatoolbox.rdm")
    rng = np.random.default_rng(10)
    va = rng.random((2, 36))
    vb = rng.random((3, 36))
    for ours, theirs in (("pearson", "corr"), ("spearman", "spearman"), ("cosine", "cosine"), ("kendall", "tau-a")):
        ref = rsr.compare(rsr.RDMs(va), rsr.RDMs(vb), method=theirs)
        np.testing.assert_allclose(compare_rdms_many(va, vb, ours), ref, rtol=1e-9, atol=1e-12)


def test_compare_validation_messages():
    with pytest.raises(ValueError, match=r"method must be one of \('pearson', 'spearman', 'kendall', 'cosine'\); got 'tau-b'\.$"):
        compare_rdms(np.ones(3), np.ones(3), "tau-b")
    with pytest.raises(ValueError, match="same stimuli"):
        compare_rdms_many(np.ones((1, 3)), np.ones((1, 6)))


def _vectors(P, levels, seed):
    rng = np.random.default_rng(seed)
    if levels is None:
        a = rng.standard_normal(P)
        return a, a + rng.standard_normal(P)
    a = rng.integers(0, levels, P).astype(float)
    return a, (a + rng.integers(0, levels, P)).astype(float)


@pytest.mark.parametrize("levels", [None, 2, 5, 40])
@pytest.mark.parametrize("P", [2, 3, 8, 9, 16, 17, 255, 256, 257, 1000])
def test_kendall_tau_a_numpy_vs_definition_and_scipy(P, levels):
    # sizes around powers of two exercise the padding and the direct comparison of small groups
    a, b = _vectors(P, levels, seed=P)
    ref = _tau_a_definition(a, b)
    assert kendall_tau_a(a, b) == pytest.approx(ref, abs=1e-12)
    assert kendall_tau_a(a, b) == pytest.approx(_tau_a_from_scipy(a, b), abs=1e-12)


def _tau_a_from_scipy(a, b):
    # scipy's tau-b rescaled by the tie counts: tau_a = tau_b sqrt((N - Ta)(N - Tb)) / N
    from scipy.stats import kendalltau

    n0 = len(a) * (len(a) - 1) / 2

    def ties(x):
        _, c = np.unique(x, return_counts=True)
        return (c * (c - 1) / 2).sum()

    ta, tb = ties(a), ties(b)
    if ta == n0 or tb == n0:
        return 0.0
    return kendalltau(a, b, variant="b").statistic * np.sqrt((n0 - ta) * (n0 - tb)) / n0


def test_kendall_tau_a_constant_and_nan():
    a = np.ones(10)
    b = np.arange(10.0)
    assert kendall_tau_a(a, b) == 0.0  # every pair tied in a: tau-a is 0
    b[4] = np.nan
    # the NaN pair is dropped (one warning), tau-a of the 9 complete pairs
    with pytest.warns(NeuroxrWarning, match="dropped 1 of 10"):
        got = kendall_tau_a(np.arange(10.0), b)
    assert got == pytest.approx(_tau_a_definition(np.delete(np.arange(10.0), 4), np.delete(b, 4)), abs=1e-12)
    with pytest.warns(NeuroxrWarning, match="dropped 1 of 10"):
        assert compare_rdms(np.arange(10.0), b, "kendall") == got


@pytest.mark.parametrize("levels", [None, 3])
def test_compare_rdms_several_methods_in_one_call(levels):
    rng = np.random.default_rng(11)
    n = 30
    if levels is None:
        A = squareform(pdist(rng.standard_normal((n, 5))))
        B = squareform(pdist(rng.standard_normal((n, 5))))
    else:
        A = squareform(rng.integers(0, levels, n * (n - 1) // 2).astype(float))
        B = squareform(rng.integers(0, levels, n * (n - 1) // 2).astype(float))
    va, vb = squareform(A, checks=False), squareform(B, checks=False)
    got = compare_rdms(A, B, ["corr", "spearman", "tau-a", "cosine", "kendall"])
    assert list(got) == ["pearson", "spearman", "kendall", "cosine"]  # canonical names, duplicates dropped
    assert got["pearson"] == pytest.approx(pearsonr(va, vb)[0], rel=1e-12)
    assert got["spearman"] == pytest.approx(spearmanr(va, vb)[0], rel=1e-12)
    assert got["kendall"] == pytest.approx(_tau_a_definition(va, vb), abs=1e-12)
    assert got["cosine"] == pytest.approx(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb), rel=1e-12)
    for m, v in got.items():
        assert compare_rdms(A, B, m) == v
        assert compare_rdms(va, vb, m) == v
        assert float(compare_rdms_many(A, B, m)[0, 0]) == pytest.approx(v, rel=1e-12, abs=1e-15)
    with pytest.raises(ValueError, match="empty"):
        compare_rdms(A, B, [])
    with pytest.raises(ValueError, match="got 'tau-b'"):
        compare_rdms(A, B, ["pearson", "tau-b"])


def test_compare_rdms_several_methods_on_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    A = squareform(pdist(rng.standard_normal((12, 4))))
    B = squareform(pdist(rng.standard_normal((12, 4))))
    got = compare_rdms(torch.tensor(A), torch.tensor(B), ["pearson", "spearman", "kendall", "cosine"])
    ref = compare_rdms(A, B, ["pearson", "spearman", "kendall", "cosine"])
    for m in ref:
        assert got[m] == pytest.approx(ref[m], rel=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compare_with_nan_drops_incomplete_pairs_like_scipy(backend):
    # NaN is never ranked: every method uses the pairs complete in both RDMs (scipy nan_policy="omit")
    from scipy.stats import kendalltau

    rng = np.random.default_rng(13)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    a[[3, 17, 30]] = np.nan
    b[[5, 30]] = np.nan
    ok = ~(np.isnan(a) | np.isnan(b))
    va, vb = a[ok], b[ok]
    ref = {
        "pearson": pearsonr(va, vb)[0],
        "spearman": spearmanr(a, b, nan_policy="omit")[0],
        "kendall": _tau_a_definition(va, vb),
        "cosine": va @ vb / np.linalg.norm(va) / np.linalg.norm(vb),
    }
    assert ref["spearman"] == pytest.approx(spearmanr(va, vb)[0], rel=1e-12)
    assert kendalltau(a, b, nan_policy="omit")[0] == pytest.approx(kendalltau(va, vb)[0])
    bk = _b(backend)
    A, B = asarray(a, backend=bk), asarray(b, backend=bk)
    with pytest.warns(NeuroxrWarning, match="dropped 4 of 50"):
        got = compare_rdms(A, B, list(ref))
    for m, v in ref.items():
        assert got[m] == pytest.approx(v, rel=1e-10), m
        with pytest.warns(NeuroxrWarning):
            assert compare_rdms(A, B, m) == pytest.approx(v, rel=1e-10)
    with pytest.warns(NeuroxrWarning, match="2 of 2 comparisons"):
        M = to_numpy(compare_rdms_many(A[None], xp_stack(B, A), "spearman"))
    assert M[0, 0] == pytest.approx(ref["spearman"], rel=1e-10)
    assert M[0, 1] == pytest.approx(1.0)  # a with itself: its own 47 complete pairs


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_infinite_dissimilarity_gives_nan_not_a_clipped_value(backend):
    """Pearson and cosine of vectors holding inf are NaN (as scipy's), never clipped to -1 or 1."""
    a = np.random.default_rng(2).standard_normal(30)
    a[4] = np.inf
    A = asarray(a, backend=_b(backend))
    got = compare_rdms(A, A, ["pearson", "cosine"])
    assert np.isnan(got["pearson"]) and np.isnan(got["cosine"])
    assert np.isnan(float(to_numpy(compare_rdms_many(A[None], A[None], "cosine"))[0, 0]))


def xp_stack(*vs):
    try:
        import torch

        if isinstance(vs[0], torch.Tensor):
            return torch.stack(vs)
    except ImportError:
        pass
    return np.stack(vs)


def test_compare_with_nan_matches_rsatoolbox():
    # rsatoolbox drops the dissimilarities that are NaN (at the same positions in every RDM)
    rsr = pytest.importorskip("rsatoolbox.rdm")
    rng = np.random.default_rng(16)
    va, vb = rng.random((2, 45)), rng.random((3, 45))
    va[:, [2, 9, 40]] = np.nan
    vb[:, [2, 9, 40]] = np.nan
    for ours, theirs in (("pearson", "corr"), ("spearman", "spearman"), ("cosine", "cosine"), ("kendall", "tau-a")):
        ref = rsr.compare(rsr.RDMs(va), rsr.RDMs(vb), method=theirs)
        with pytest.warns(NeuroxrWarning):
            got = compare_rdms_many(va, vb, ours)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_rank_vectors_never_ranks_nan():
    v = np.array([[3.0, np.nan, 1.0], [2.0, 2.0, 1.0]])
    r = rank_vectors(v)
    assert np.isnan(r[0]).all()
    np.testing.assert_array_equal(r[1], rankdata(v[1]))


def test_rdm_numpy_is_exactly_symmetric_with_nan_for_constant_rows():
    rng = np.random.default_rng(14)
    F = rng.standard_normal((20, 30)) + 5
    F[4] = 2.0  # constant stimulus: correlation undefined
    F[7] = 0.0  # all-zero stimulus: cosine undefined
    for method in ("correlation", "cosine"):
        D = rdm(F, method)
        np.testing.assert_array_equal(D, D.T)
        np.testing.assert_array_equal(np.diag(D), 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = pdist(F, metric=method)
        np.testing.assert_allclose(upper_tri(D), ref, rtol=1e-9, atol=1e-10, equal_nan=True)
    assert np.isnan(rdm(F, "correlation")[4, 5]) and np.isnan(rdm(F, "cosine")[7, 5])


@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_rdm_from_gram_leaves_the_gram_untouched(method):
    rng = np.random.default_rng(15)
    F = rng.standard_normal((40, 25)) + 1.0
    stats = gram(F)
    K = stats.K.copy()
    D = rdm_from_gram(stats, method)
    np.testing.assert_array_equal(stats.K, K)
    np.testing.assert_array_equal(D, rdm(F, method))  # rdm() reuses its own Gram's memory
    assert D.flags.c_contiguous


# ---------------------------------------------------------------------------- stimuli with large offsets
def _offset_features(off, seed=0, n=30, p=80):
    """Rows ``N(0, 1) + off * U(1, 2)``: per-stimulus offsets large against the variation across units."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)) + off * rng.uniform(1, 2, (n, 1))


@pytest.mark.parametrize("off", [1e2, 1e4, 1e6])
@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_rdm_of_stimuli_with_large_offsets_matches_scipy_on_every_path(off, method):
    """The shifted Gram cancels there (correlation was 4e-4 off scipy at offsets 1e6); the row pass
    keeps the RDM within 1e-12 of scipy in memory, in unit chunks, streamed from dask (synchronously
    and as a tree) and added to one-pass statistics."""
    da = pytest.importorskip("dask.array")
    F = _offset_features(off)
    ref = squareform(pdist(F, method))
    lazy = da.from_array(F, chunks=(F.shape[0], 16))
    chunks = [F[:, i : i + 16] for i in range(0, F.shape[1], 16)]
    got = {"memory": rdm(F, method), "chunks": rdm_from_gram(gram(F, chunk_size=16), method),
           "stream": rdm_from_gram(gram_dask(lazy, scheduler="sync"), method),
           "tree": rdm_from_gram(gram_dask(lazy, split_every=2, scheduler="threads"), method),
           "added": rdm_from_gram(with_row_pass(gram_chunks(chunks), chunks), method)}
    for how, D in got.items():
        np.testing.assert_allclose(D, ref, rtol=0, atol=1e-12, err_msg=how)
        np.testing.assert_array_equal(D, D.T)


@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_rdm_on_torch_with_large_offsets_matches_scipy(method):
    pytest.importorskip("torch")
    F = _offset_features(1e6, seed=1)
    np.testing.assert_allclose(to_numpy(rdm(asarray(F, backend="torch"), method)), squareform(pdist(F, method)),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_rdm_of_a_stimulus_small_against_the_others_matches_scipy(method):
    """A pattern 1e-5 the size of the others' (shared unit means of 5): the shifted forms cancel for
    that row (and flagged it constant: NaN); the row pass keeps it."""
    rng = np.random.default_rng(3)
    F = rng.standard_normal((20, 60)) + 5 * rng.standard_normal(60)
    F[3] = 1e-5 * rng.standard_normal(60)
    np.testing.assert_allclose(rdm(F, method), squareform(pdist(F, method)), rtol=0, atol=1e-12)


def test_a_constant_stimulus_among_offset_ones_is_nan_as_in_scipy():
    F = _offset_features(1e6, seed=2, n=12)
    F[4] = 1.5e6
    D = rdm(F, "correlation")
    others = np.arange(12) != 4
    assert np.isnan(D[4, others]).all() and np.isnan(D[others, 4]).all() and D[4, 4] == 0
    ref = squareform(pdist(F[others], "correlation"))
    np.testing.assert_allclose(D[np.ix_(others, others)], ref, rtol=0, atol=1e-12)


def test_common_features_take_one_pass_and_statistics_without_the_row_pass_warn():
    """Offsets of the order of the variation need no second pass (the same numbers as ever); one-pass
    statistics of offset features say how far off their correlation RDM may be."""
    rng = np.random.default_rng(4)
    assert gram(rng.standard_normal((15, 40)) + 2.0).Kr is None
    F = _offset_features(1e6)
    s = gram(F, row_pass=False)
    assert s.Kr is None and needs_row_pass(s)
    with pytest.warns(NeuroxrWarning, match=r"no row pass .* off by about"):
        rdm_from_gram(s, "correlation")
    assert gram(F).Kr is not None and not needs_row_pass(gram(F))



@pytest.mark.parametrize("method", ["euclidean", "sqeuclidean", "cosine", "correlation"])
def test_features_constant_up_to_rounding_give_the_rdm_of_constant_features(method):
    """Features constant across the stimuli up to rounding give the RDM of exactly constant ones (all
    stimuli the mean pattern): one zero distance, NaN for a pattern constant over the units (correlation),
    never distances between rounding errors."""
    from conftest import near_constant

    n = 30
    flat = np.tile(near_constant(n)[:, None], 14)  # the pattern is constant over the units too
    shaped = near_constant(n)[:, None] * np.linspace(1.0, 3.0, 14)[None, :]  # a pattern varying over the units
    assert np.ptp(squareform(pdist(flat, "sqeuclidean"))) > 0  # rounding noise, from scipy
    for F, nan in ((flat, method == "correlation"), (shaped, False)):
        D = np.asarray(rdm(F, method))
        off = D[~np.eye(n, dtype=bool)]
        if nan:
            assert np.isnan(off).all()
        else:  # one value (cosine: 1 - G / G rounds to one ulp)
            assert np.ptp(off) == 0 and abs(off[0]) < 1e-15


@pytest.mark.parametrize("method", ["euclidean", "sqeuclidean", "correlation"])
@pytest.mark.parametrize("offset, spread", [(1e5, 0.01), (1e9, 1.0)])
def test_features_resolved_in_float64_keep_their_rdm(method, offset, spread):
    """A relative spread below the per-unit constancy cut-off of float64 (2.4e-7) but far above
    rounding is resolved by the centred Gram: the RDM is scipy's, never the constant one."""
    Z = np.random.default_rng(3).standard_normal((20, 6))
    F = offset + spread * Z
    ref = squareform(pdist(Z, method)) * (spread ** 2 if method == "sqeuclidean" else spread if method == "euclidean" else 1)
    D = np.asarray(rdm(F, method))
    assert np.nanmax(np.abs(D - ref)) <= 1e-6 * np.abs(ref).max() and np.ptp(ref) > 0


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall", "cosine"])
def test_compare_of_two_complete_pairs_is_nan_as_geometrys_rule(method):
    """Two complete pairs left (the others NaN) have no comparison: geometry.compare_rdms says NaN (a
    correlation of two pairs is +-1 whatever the RDMs); the kernels scored them (+-1, cosine a number)."""
    import warnings

    from neuroxr import geometry as geo

    rng = np.random.default_rng(3)
    A, B, C = (squareform(rng.random(6)) for _ in range(3))
    iu = np.triu_indices(4, 1)
    for i, j in list(zip(*iu))[2:]:  # 2 of the 6 pairs kept
        A[i, j] = A[j, i] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        want = float(geo.compare_rdms(A, B, method))
        got, many = compare_rdms(A, B, method), compare_rdms_many(A[None], np.stack([B, C]), method)
    assert np.isnan(want) and np.isnan(got) and np.isnan(many).all()
    two = compare_rdms_many(upper_tri(B)[None, :2], upper_tri(C)[None, :2], method)  # vectors of 2 pairs
    assert np.isnan(compare_rdms(upper_tri(B)[:2], upper_tri(C)[:2], method)) and np.isnan(two).all()


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_rdm_of_features_with_nan_is_refused(method):
    """scipy's pdist gives NaN at the pairs of a stimulus with a NaN feature only; the centred Gram spreads
    one NaN to every stimulus, and the Euclidean RDM came back all zeros (correlation, cosine: all NaN)."""
    from neuroxr.errors import LayoutError

    F = np.random.default_rng(4).standard_normal((5, 4))
    F[1, 2] = np.nan
    ref = squareform(pdist(F, method))
    assert np.isnan(ref[1, [0, 2]]).all() and np.isfinite(np.delete(np.delete(ref, 1, 0), 1, 1)).all()
    with pytest.raises(LayoutError, match=r"^rdm: F holds 1 NaN value \(e\.g\. F\[1, 2\]\).*drop or impute") as err:
        rdm(F, method)
    assert "\n" not in str(err.value)
    with np.errstate(invalid="ignore"):  # NumPy's own warnings of NaN arithmetic
        stats = gram(F)
    with pytest.raises(LayoutError, match=r"^rdm_from_gram: the Gram statistics hold NaN"):
        rdm_from_gram(stats, method)


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_rdm_of_float16_features_is_their_values_rdm(method):
    """float16 features are computed in float32 (which holds them exactly): in float16 the Gram's
    rounding (256 eps = 0.25 of the terms) made ordinary patterns read as constant, NaN dissimilarities."""
    F = np.random.default_rng(8).integers(-3, 5, (7, 5)).astype(np.float16) + np.float16(0.5)
    ref = pdist(F.astype(np.float64), method)
    got = to_numpy(upper_tri(rdm(F, method)))
    assert gram(F).K.dtype == np.float32 and np.isfinite(ref).all()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
