"""Statistics kernels (Pearson, Spearman, ranks, tau-a, tie and inversion counts) vs scipy."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import near_constant
from scipy.stats import pearsonr, rankdata, spearmanr

from neuroxr.backend import asarray, count_inversions, tie_pairs, to_numpy
from neuroxr.kernels.stats import (
    SortedVector,
    constant_columns,
    kendall_tau_a_sorted,
    pearson,
    pearson_from_sums,
    rank,
    spearman,
    spearman_brown,
    spearman_sorted,
)

BACKENDS = ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)]


def _b(name):
    if name == "torch":
        pytest.importorskip("torch")
    return name


def _columns(seed, n=30, m=5, levels=None):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, m)) if levels is None else rng.integers(0, levels, (n, m)).astype(float)
    b = a + rng.standard_normal((n, m))
    return a, b


@pytest.mark.parametrize("backend", BACKENDS)
def test_pearson_and_spearman_per_column_match_scipy(backend):
    a, b = _columns(0, levels=4)  # ties
    A, B = asarray(a, backend=_b(backend)), asarray(b, backend=_b(backend))
    np.testing.assert_allclose(to_numpy(pearson(A, B)), [pearsonr(a[:, j], b[:, j])[0] for j in range(5)], rtol=1e-12)
    np.testing.assert_allclose(to_numpy(spearman(A, B)), [spearmanr(a[:, j], b[:, j])[0] for j in range(5)], rtol=1e-12)


def test_pearson_constant_column_and_nan_propagate():
    a, b = _columns(1)
    a[:, 1] = 3.0
    b[4, 2] = np.nan
    r = pearson(a, b)
    assert np.isnan(r[1]) and np.isnan(r[2]) and np.isfinite(r[[0, 3, 4]]).all()
    assert np.isnan(spearman(a, b)[2])
    with pytest.raises(ValueError, match="nan_policy"):
        pearson(a, b, nan_policy="raise")


def _near_constant_columns(n=37):
    """Columns: exactly constant (its float mean is not exact), constant up to rounding, all zero,
    constant where not NaN, all NaN; then varying ones: unit scale, 1e-150 scale, a 1e-6 relative
    spread on a large offset. Returns the array and the expected constancy."""
    i = np.arange(n, dtype=float)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    cols = [np.full(n, 0.7), near_constant(n), np.zeros(n), np.where(i % 5 == 0, np.nan, 2.5),
            np.full(n, np.nan), x, 1e-150 * x, 1e4 * (1 + 1e-6 * x)]
    assert np.mean(cols[0]) != 0.7  # with near_constant, the two cases a zero-variance test misses
    return np.stack(cols, axis=1), np.array([True] * 5 + [False] * 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_columns_count_rounding_not_scale(backend):
    """The one rule: a column is constant when its centred sum of squares is at most 256 eps times its
    uncentred one (NaN rows left out; an all-NaN column constant), whatever its scale."""
    a, expected = _near_constant_columns()
    np.testing.assert_array_equal(to_numpy(constant_columns(asarray(a, backend=_b(backend)))), expected)
    # the threshold is a relative spread of sqrt(256 eps) (2.4e-7 in float64): 1e-6 varies, 1e-8 does not
    x = np.random.default_rng(1).standard_normal((40, 1))
    assert not constant_columns(1 + 1e-6 * x)[0] and constant_columns(1 + 1e-8 * x)[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_columns_of_float32_decide_as_their_callers_in_float64(backend):
    """Two-pass centred sums of a float32 column resolve far below the one-pass float32 tolerance:
    a baseline of 1000 with a spread of 4 (scipy's relative spread 4e-3, under sqrt(256 eps) of
    float32, 5.5e-3) varies, as its float64 copy does; a column constant up to its float32 rounding
    stays constant."""
    from scipy.stats import variation

    rng = np.random.default_rng(0)
    spread = (1000 + 4 * rng.normal(size=200)).astype(np.float32)
    d = rng.uniform(1, 2, size=200).astype(np.float32)
    rounded = np.float32(1000) / d * d  # 1000 but for float32 rounding
    assert np.ptp(rounded) > 0 and 1e-3 < variation(spread.astype(np.float64)) < np.sqrt(256 * np.finfo(np.float32).eps)
    a = np.stack([spread, rounded], axis=1)
    for x in (a, a.astype(np.float64)):
        np.testing.assert_array_equal(to_numpy(constant_columns(asarray(x, backend=_b(backend), dtype=x.dtype))), [False, True])


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_omit_uses_each_columns_complete_rows(backend):
    a, b = _columns(2, n=25, m=4, levels=5)
    rng = np.random.default_rng(3)
    a[rng.random(a.shape) < 0.15] = np.nan
    b[rng.random(b.shape) < 0.15] = np.nan
    a[:, 3] = np.nan
    a[:2, 3] = [1.0, 2.0]  # two complete rows only: no correlation
    A, B = asarray(a, backend=_b(backend)), asarray(b, backend=_b(backend))
    got_p = to_numpy(pearson(A, B, nan_policy="omit"))
    got_s = to_numpy(spearman(A, B, nan_policy="omit"))
    for j in range(3):
        ok = ~(np.isnan(a[:, j]) | np.isnan(b[:, j]))
        assert got_p[j] == pytest.approx(pearsonr(a[ok, j], b[ok, j])[0], rel=1e-12)
        assert got_s[j] == pytest.approx(spearmanr(a[:, j], b[:, j], nan_policy="omit")[0], rel=1e-12)
    assert np.isnan(got_p[3]) and np.isnan(got_s[3])
    # without NaN "omit" equals the plain statistics
    c, d = _columns(4)
    np.testing.assert_allclose(spearman(c, d, nan_policy="omit"), spearman(c, d), rtol=1e-14)


def test_spearman_batched_over_leading_axes():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 6, (3, 20, 4)).astype(float)
    b = rng.standard_normal((3, 20, 4))
    got = spearman(a, b)
    assert got.shape == (3, 4)
    for i in range(3):
        np.testing.assert_allclose(got[i], [spearmanr(a[i, :, j], b[i, :, j])[0] for j in range(4)], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_matches_rankdata_along_any_axis(backend):
    rng = np.random.default_rng(6)
    a = rng.integers(0, 5, (12, 7)).astype(float)
    A = asarray(a, backend=_b(backend))
    np.testing.assert_array_equal(to_numpy(rank(A)), rankdata(a, axis=0))
    np.testing.assert_array_equal(to_numpy(rank(A, axis=-1)), rankdata(a, axis=1))
    a[3, 2] = np.nan
    r = to_numpy(rank(asarray(a, backend=_b(backend))))
    assert np.isnan(r[:, 2]).all()  # NaN is never ranked: its column is NaN
    np.testing.assert_array_equal(np.delete(r, 2, axis=1), rankdata(np.delete(a, 2, axis=1), axis=0))


def _tau_a(a, b):
    s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    return s[np.triu_indices(len(a), 1)].sum() / (len(a) * (len(a) - 1) / 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("levels", [None, 2, 6])
def test_sorted_vector_shares_one_sort_for_spearman_and_tau_a(backend, levels):
    a, b = (v[:, 0] for v in _columns(7, n=97, m=1, levels=levels))
    A, B = SortedVector(asarray(a, backend=_b(backend))), SortedVector(asarray(b, backend=_b(backend)))
    assert A.has_ties == (levels is not None)
    np.testing.assert_array_equal(to_numpy(A.ranks()), rankdata(a))
    assert spearman_sorted(A, B) == pytest.approx(spearmanr(a, b)[0], rel=1e-12)
    assert kendall_tau_a_sorted(A, B) == pytest.approx(_tau_a(a, b), abs=1e-12)
    _, counts = np.unique(a, return_counts=True)
    assert A.tie_pairs() == int((counts * (counts - 1) // 2).sum())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("P", [1, 2, 5, 16, 17, 300])
def test_count_inversions_and_tie_pairs_vs_brute_force(backend, P):
    rng = np.random.default_rng(P)
    perm = rng.permutation(P)
    brute = int(sum((perm[i] > perm[i + 1 :]).sum() for i in range(P)))
    x = asarray(perm, backend=_b(backend), dtype="float64")
    if backend == "torch":
        import torch

        x = x.to(torch.int64)
    else:
        x = perm
    assert count_inversions(x) == brute
    s = np.sort(rng.integers(0, 4, P)).astype(float)
    _, c = np.unique(s, return_counts=True)
    assert tie_pairs(asarray(s, backend=_b(backend))) == int((c * (c - 1) // 2).sum())


def test_spearman_brown():
    r = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(spearman_brown(r), 2 * r / (1 + r))


@pytest.mark.parametrize("block", [2**17, 40])  # one block, or a few columns per block
@pytest.mark.parametrize("threads", [1, 3])  # blocks on one thread, or several
def test_spearman_mixed_ties_nan_and_tie_free_columns_match_scipy(monkeypatch, block, threads):
    import warnings

    import neuroxr.kernels.stats as st

    monkeypatch.setattr(st, "_SPEARMAN_BLOCK", block)
    monkeypatch.setattr(st, "cpu_threads", lambda: threads)
    rng = np.random.default_rng(11)
    n, m = 20, 12
    a = rng.standard_normal((3, n, m))
    b = a + rng.standard_normal((3, n, m))
    a[:, :, 1] = np.round(a[:, :, 1])  # ties in a only
    b[:, :, 2] = np.round(b[:, :, 2])  # ties in b only
    a[:, :, 3], b[:, :, 3] = np.round(a[:, :, 3]), np.round(b[:, :, 3])  # ties in both
    a[:, 5, 4] = np.nan  # NaN: propagates
    b[:, :, 6] = 1.0  # constant: NaN (as scipy)
    a[:, :, 7] = -b[:, :, 7]  # rho exactly -1
    got = spearman(a, b)
    assert got.shape == (3, m)
    for i in range(3):
        for j in range(m):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy warns on the constant column
                want = spearmanr(a[i, :, j], b[i, :, j])[0]
            if np.isnan(want):
                assert np.isnan(got[i, j]), (i, j)
            else:
                assert got[i, j] == pytest.approx(want, rel=1e-12, abs=1e-14), (i, j)
    # the generic path (Pearson of average ranks) agrees everywhere, NaN included
    np.testing.assert_allclose(got, pearson(rank(a), rank(b)), rtol=1e-12, atol=1e-14, equal_nan=True)


@pytest.mark.parametrize("threads", [1, 2])
def test_spearman_blocks_copy_any_layout_and_dtype(monkeypatch, threads):
    """Each block copies its columns into its thread's buffer: integer, Fortran-ordered, broadcast
    and strided inputs, and a last block shorter than the others, give scipy's values."""
    import neuroxr.kernels.stats as st

    monkeypatch.setattr(st, "_SPEARMAN_BLOCK", 7 * 30)  # 7 columns per block: 23 = 3 x 7 + 2
    monkeypatch.setattr(st, "cpu_threads", lambda: threads)
    rng = np.random.default_rng(12)
    n, m = 30, 23
    a = np.asfortranarray(rng.integers(0, 50, (n, m)))  # integers, with ties
    b = rng.standard_normal((n, 2 * m))[:, ::2]  # a strided view
    c = rng.standard_normal((n, 1))  # broadcast against every column
    a0, b0 = a.copy(), b.copy()
    want_ab = [spearmanr(a[:, j], b[:, j])[0] for j in range(m)]
    want_bc = [spearmanr(b[:, j], c[:, 0])[0] for j in range(m)]
    np.testing.assert_allclose(spearman(a, b), want_ab, rtol=1e-12)
    np.testing.assert_allclose(spearman(b, c), want_bc, rtol=1e-12)
    np.testing.assert_array_equal(a, a0)  # ranked in the buffers, not in place
    np.testing.assert_array_equal(b, b0)
    # no columns: an empty result, as Pearson gives
    assert spearman(b[:, :0], b[:, :0]).shape == (0,) == pearson(b[:, :0], b[:, :0]).shape
    assert spearman(np.zeros((2, n, 0)), np.zeros((2, n, 0))).shape == (2, 0)


def test_spearman_two_samples_and_omit_with_nan_match_scipy():
    a, b = np.array([[1.0], [2.0]]), np.array([[5.0], [3.0]])
    assert spearman(a, b)[0] == pytest.approx(spearmanr(a[:, 0], b[:, 0])[0])
    a, b = _columns(12, n=25, m=4, levels=6)
    a[3, 1] = b[7, 2] = np.nan
    got = spearman(a, b, nan_policy="omit")
    for j in range(4):
        assert got[j] == pytest.approx(spearmanr(a[:, j], b[:, j], nan_policy="omit")[0], rel=1e-12)


def test_pearson_from_sums_equals_pearson_and_weighted_resamples():
    from neuroxr.kernels.stats import pearson, pearson_from_sums

    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(30, 4)) + 5.0, rng.normal(size=(30, 4))
    b[:, 3] = 2.0  # a constant column: NaN, as pearson
    sums = (a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0))
    np.testing.assert_allclose(pearson_from_sums(30, *sums), pearson(a, b), atol=1e-12, equal_nan=True)
    idx = rng.integers(0, 30, size=30)  # a resample as counts: the Pearson of the repeated rows
    w = np.bincount(idx, minlength=30)[:, None]
    wsums = ((w * a).sum(0), (w * b).sum(0), (w * a * a).sum(0), (w * b * b).sum(0), (w * a * b).sum(0))
    np.testing.assert_allclose(pearson_from_sums(30, *wsums), pearson(a[idx], b[idx]), atol=1e-12, equal_nan=True)


# --- ties up to rounding: values TIE_RTOL * max|x| apart or closer share their rank


def _nudged(exact, seed, ulps=64):
    """``exact`` with each value moved by up to ``ulps`` ulps of the largest magnitude (rounding of
    values that are equal in exact arithmetic), and the exact values' ranks."""
    rng = np.random.default_rng(seed)
    scale = np.abs(exact).max() * np.finfo(float).eps
    return exact + rng.integers(-ulps, ulps + 1, exact.shape) * scale


def test_tie_links_threshold_is_relative_to_the_lanes_largest_magnitude():
    from neuroxr.backend import TIE_RTOL, tie_links
    from neuroxr.backend import _array_api as G

    big = 1e3
    for step, tied in ((TIE_RTOL / 2, True), (TIE_RTOL * 2, False)):
        s = np.array([-big, 1.0, 1.0 + step * big, 5.0])
        assert tie_links(s).tolist() == [False, tied, False]
        assert G.tie_links(s).tolist() == [False, tied, False]
    # equal infinities tie, a lane with an infinity ties equal values only; an all-zero lane is one group
    s = np.array([-np.inf, -np.inf, 1.0, 1.0 + 1e-15, np.inf, np.inf])
    assert tie_links(s).tolist() == [True, False, False, False, True]
    assert tie_links(np.zeros((2, 3))).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_equal_up_to_rounding_get_the_exact_values_ranks(backend):
    """Ties broken by rounding (a few ulps of the column's scale) are ties, in every rank routine:
    rank (NumPy, torch, generic), the NumPy Spearman's blocks, and SortedVector (Spearman, tau-a)."""
    from neuroxr.backend import _array_api as G

    rng = np.random.default_rng(13)
    exact = rng.integers(0, 6, (40, 5)) / 4.0 - 0.5  # ties, negative and zero values
    exact_b = exact + rng.integers(0, 3, exact.shape)
    a, b = _nudged(exact, 1), _nudged(exact_b, 2)
    assert (a != exact).any() and len(np.unique(a)) > len(np.unique(exact))  # rounding broke ties
    A = asarray(a, backend=_b(backend))
    np.testing.assert_array_equal(to_numpy(rank(A)), rankdata(exact, axis=0))
    np.testing.assert_array_equal(G.rank(a.T), rankdata(exact, axis=0).T)
    want = [spearmanr(exact[:, j], exact_b[:, j])[0] for j in range(5)]
    np.testing.assert_allclose(to_numpy(spearman(A, asarray(b, backend=_b(backend)))), want, rtol=1e-12)
    va, vb = (SortedVector(asarray(v[:, 0], backend=_b(backend))) for v in (a, b))
    np.testing.assert_array_equal(to_numpy(va.ranks()), rankdata(exact[:, 0]))
    assert spearman_sorted(va, vb) == pytest.approx(spearmanr(exact[:, 0], exact_b[:, 0])[0], rel=1e-12)
    assert kendall_tau_a_sorted(va, vb) == pytest.approx(_tau_a(exact[:, 0], exact_b[:, 0]), abs=1e-12)
    _, counts = np.unique(exact[:, 0], return_counts=True)
    assert va.tie_pairs() == int((counts * (counts - 1) // 2).sum())


def test_tie_free_columns_still_match_scipy():
    """Distinct values (continuous data, far more than TIE_RTOL apart) keep scipy's ranks exactly."""
    rng = np.random.default_rng(14)
    a = rng.standard_normal((60, 30)) * 1e6 + 3e6  # offsets and scale do not matter
    b = a + rng.standard_normal((60, 30)) * 1e6
    np.testing.assert_array_equal(rank(a), rankdata(a, axis=0))
    np.testing.assert_allclose(spearman(a, b), [spearmanr(a[:, j], b[:, j])[0] for j in range(30)], rtol=1e-12)


def test_pearson_of_a_column_constant_up_to_rounding_is_nan():
    """An exactly constant column whose float mean is inexact (0.7) and one constant but for
    rounding are constant, as for the directions (scipy gives NaN for the first, warns the second
    is nearly constant and returns a number from rounding); the other columns keep scipy's r."""
    rng = np.random.default_rng(0)
    a = np.full((30, 3), 0.7)
    a[:, 1] = rng.normal(size=30)
    a[:, 2] = near_constant(30)
    b = rng.normal(size=(30, 3))
    for policy in ("propagate", "omit"):
        r = pearson(a, b, nan_policy=policy)
        assert np.isnan(r[0]) and np.isnan(r[2])
        assert r[1] == pytest.approx(pearsonr(a[:, 1], b[:, 1])[0], rel=1e-12)
    n = 30.0
    sums = [a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0)]
    r = pearson_from_sums(n, *sums)
    assert np.isnan(r[0]) and np.isnan(r[2]) and r[1] == pytest.approx(pearsonr(a[:, 1], b[:, 1])[0], rel=1e-10)


def test_pearson_of_float32_columns_with_a_large_baseline_is_not_constant():
    """A two-pass centred float32 column resolves a spread far below sqrt(256 eps) of its values
    (baseline 1000, spread 4): its r is scipy's on the same values, not NaN."""
    rng = np.random.default_rng(0)
    x = (1000 + 4 * rng.normal(size=200)).astype(np.float32)
    y = (x + 2 * rng.normal(size=200)).astype(np.float32)
    r = float(pearson(x[:, None], y[:, None])[0])
    assert r == pytest.approx(pearsonr(x.astype(np.float64), y.astype(np.float64))[0], rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, scale", [("float32", 1e-12), ("float32", 1e-16), ("float64", 1e-85)])
def test_pearson_of_tiny_values_is_scale_free(backend, dtype, scale):
    """The product of two variances falls below the dtype's range (float32 values near 1e-12): r is
    still scipy's, not infinite or off by the subnormal product's rounding."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    b[:, 0] += 2 * a[:, 0]
    ref = np.array([pearsonr(a[:, j], b[:, j]).statistic for j in range(4)])
    A, B = (asarray((x * scale).astype(dtype), backend=_b(backend), dtype=dtype) for x in (a, b))
    assert str(A.dtype).endswith(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for r in (pearson(A, B), pearson(A, B, nan_policy="omit")):
        np.testing.assert_allclose(to_numpy(r), ref, atol=tol)
    n, sa, sb = a.shape[0], A.sum(0), B.sum(0)
    r = pearson_from_sums(n, sa, sb, (A * A).sum(0), (B * B).sum(0), (A * B).sum(0))
    np.testing.assert_allclose(to_numpy(r), ref, atol=tol * 10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-14])
def test_spearman_omit_ranks_by_the_tie_rule_on_the_complete_rows_alone(backend, scale):
    """The incomplete rows were filled above the complete values (``hi + |hi - lo| + 1``), which set
    the column's largest magnitude and so its tie tolerance: tiny values (1e-14) all tied (rho NaN), and
    a near tie (1.5 of the complete values' tolerances apart) tied. Now nan_policy="omit" (and
    rank_pairs) equals the call on the complete rows, at any scale."""
    from neuroxr.backend import TIE_RTOL
    from neuroxr.kernels.stats import rank_pairs

    rng = np.random.default_rng(5)
    n = 12
    a = rng.normal(size=(n, 4)) + 3.0
    a[1, 0] = a[0, 0] + 1.5 * TIE_RTOL * np.abs(a[:, 0]).max()  # a near tie of the complete values: not tied
    a[:, 3] = np.arange(n)[::-1]
    b = a + rng.normal(size=(n, 4))
    b[[2, 5], 0] = np.nan
    a[7, 1] = b[3, 2] = np.nan
    a[[0, 4], 3] = np.nan
    A, B = (asarray(x * scale, backend=_b(backend)) for x in (a, b))
    got = to_numpy(spearman(A, B, nan_policy="omit"))
    ra, rb = (to_numpy(x) for x in rank_pairs(A, B))
    for j in range(4):
        ok = ~(np.isnan(a[:, j]) | np.isnan(b[:, j]))
        want = to_numpy(spearman(*(asarray(x[ok, j : j + 1] * scale, backend=_b(backend)) for x in (a, b))))[0]
        np.testing.assert_allclose(got[j], want, rtol=1e-12, err_msg=f"column {j}")
        np.testing.assert_allclose(ra[ok, j], to_numpy(rank(asarray(a[ok, j] * scale, backend=_b(backend)), axis=0)))
        np.testing.assert_allclose(rb[ok, j], to_numpy(rank(asarray(b[ok, j] * scale, backend=_b(backend)), axis=0)))
        assert np.isnan(ra[~ok, j]).all()
    ref = [spearmanr(a[:, j], b[:, j], nan_policy="omit").statistic for j in range(4)]
    np.testing.assert_allclose(got, ref, rtol=1e-12)  # no exact ties: scipy's


def test_spearman_omit_of_a_column_without_complete_pairs_is_nan_without_a_warning():
    import warnings

    a = np.random.default_rng(1).normal(size=(10, 3))
    b = a + 0.1
    a[:, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = to_numpy(spearman(a, b, nan_policy="omit"))
    assert np.isnan(r[1]) and np.allclose(r[[0, 2]], [spearmanr(a[:, j], b[:, j]).statistic for j in (0, 2)])


def test_pearson_overwrite_centres_the_callers_arrays_to_the_same_numbers():
    """``overwrite=True``: the columns are centred in the caller's memory, the correlations the same
    bits as with copies (and scipy's to rounding)."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(3.0, 2.0, size=(40, 6)), rng.normal(-1.0, 5.0, size=(40, 6))
    b[:, 1] = 7.0  # a constant column: NaN either way
    want = pearson(a, b)
    a2, b2 = a.copy(), b.copy()
    got = pearson(a2, b2, overwrite=True)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(a2, a - a.mean(axis=0))  # centred in place
    np.testing.assert_array_equal(b2, b - b.mean(axis=0))
    ref = [pearsonr(a[:, j], b[:, j])[0] for j in (0, 2, 3, 4, 5)]
    np.testing.assert_allclose(got[[0, 2, 3, 4, 5]], ref, rtol=1e-12)
    assert np.isnan(got[1])
    c = a.copy()
    np.testing.assert_array_equal(pearson(c, c, overwrite=True), pearson(a, a))  # one array, centred once


def _greedy_labels(v, tol):
    """Tie groups by hand: sorted values, each group the values within ``tol`` of its smallest."""
    s = np.sort(v)
    labels, start, g = np.empty(v.size), s[0], 0
    for i, x in enumerate(s):
        if x - start > tol:
            start, g = x, g + 1
        labels[i] = g
    return labels[np.argsort(np.argsort(v, kind="stable"), kind="stable")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_chain_of_near_ties_splits_into_groups_spanning_one_tolerance(backend):
    """Values each within the tolerance of the next but spanning 45 of them were one tie group (a
    Spearman correlation NaN, Kendall's tau-a 0, where Pearson's flatness rule, on the span, scored
    them): each group now holds the values within the tolerance of its smallest."""
    from neuroxr.backend import TIE_RTOL

    rng = np.random.default_rng(28)
    v = 1000.0 + rng.permutation(66) * 4e-11  # neighbours 4e-11 apart, the tolerance 5.7e-11
    labels = _greedy_labels(v, TIE_RTOL * v.max())
    assert labels.max() == 32  # groups of two
    got = to_numpy(rank(asarray(np.stack([v, v[::-1]], axis=1), _b(backend)), axis=0))
    np.testing.assert_array_equal(got[:, 0], rankdata(labels))
    np.testing.assert_array_equal(got[:, 1], rankdata(labels[::-1]))
    b = rng.normal(size=66) + np.arange(66.0)
    assert spearman(v[:, None], b[:, None])[0] == pytest.approx(spearmanr(labels, b)[0], abs=1e-14)


def test_a_near_flat_rdm_is_ranked_as_pearson_judges_it():
    """An RDM whose distinct values span 45 tolerances is not flat: Pearson, Spearman and Kendall
    all score it (Spearman and Kendall NaN / 0 before, with a no-variance warning), each as scipy
    scores its tie groups; one spanning a single tolerance is flat for all three (tau-a 0)."""
    import warnings

    from scipy.spatial.distance import squareform
    from scipy.stats import kendalltau

    import neuroxr as nx
    from neuroxr.backend import TIE_RTOL

    rng = np.random.default_rng(28)
    ids = [f"s{i:02d}" for i in range(12)]
    k = rng.permutation(66).astype(float)
    b = k + 3 * rng.normal(size=66)
    B = nx.geometry.as_rdm(squareform(b), stimulus_id=ids)
    for step, flat in ((4e-11, False), (0.8e-12, True)):
        a = 1000.0 + k * step
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            r = nx.compare_rdms(nx.geometry.as_rdm(squareform(a), stimulus_id=ids), B, ["pearson", "spearman", "kendall"])
        if flat:
            assert np.isnan(r.values[:2]).all() and r.values[2] == 0.0 and any("no variance" in str(w.message) for w in said)
            continue
        labels = _greedy_labels(a, TIE_RTOL * a.max())
        assert not said and r.values[0] == pytest.approx(pearsonr(a, b)[0], abs=1e-9)
        assert r.values[1] == pytest.approx(spearmanr(labels, b)[0], abs=1e-12)
        n_pairs = 66 * 65 / 2  # tau-a: (concordant - discordant) over all pairs; b has no ties
        assert r.values[2] == pytest.approx(kendalltau(labels, b)[0] * np.sqrt((n_pairs - 33) * n_pairs) / n_pairs,
                                            abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spearman_omit_with_an_infinite_complete_value_ranks_the_complete_rows_alone(backend):
    """A column whose largest complete value is infinite had its incomplete rows filled with 0 (the
    fill for a column without complete values), which sat among the complete values and moved their
    ranks: rho 0.44 where the complete rows alone give 0.3. An infinite value is now copied as any
    largest value is: the ranks and rho are those of the complete rows (scipy's rankdata on them)."""
    from neuroxr.kernels.stats import rank_pairs

    a = np.array([[-1.0, 1.0], [1.0, 2.0], [np.inf, -np.inf], [3.0, 4.0], [0.5, 3.0], [2.0, np.inf], [np.nan, 0.0]])
    b = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [np.nan, np.nan], [5.0, 2.0], [4.0, 1.0], [6.0, 6.0]])
    A, B = (asarray(x, backend=_b(backend)) for x in (a, b))
    got = to_numpy(spearman(A, B, nan_policy="omit"))
    ra, rb = (to_numpy(x) for x in rank_pairs(A, B))
    for j in range(2):
        ok = ~(np.isnan(a[:, j]) | np.isnan(b[:, j]))
        np.testing.assert_array_equal(ra[ok, j], rankdata(a[ok, j]))
        np.testing.assert_array_equal(rb[ok, j], rankdata(b[ok, j]))
        assert got[j] == pytest.approx(pearsonr(rankdata(a[ok, j]), rankdata(b[ok, j]))[0], abs=1e-12)


@pytest.mark.parametrize("per_row", [False, True])
def test_weighted_ranks_with_an_infinite_present_value_tie_equal_values_only(per_row):
    """weighted_ranks took its tolerance as TIE_RTOL times the largest present magnitude, infinite
    with an infinite value: every present entry tied (all ranks equal), where the tie rule ties equal
    values only in such a row. And a vector holding an infinite value found no near ties on it (its
    tolerance is 0), so a resample without that value skipped the rule on its finite values (ranks
    1, 2 for values 0.5 tolerances apart). Now each resample's ranks are those of its materialised
    values (scipy's rankdata where the ties are exact, the one rank otherwise)."""
    from neuroxr.backend import TIE_RTOL
    from neuroxr.kernels.resample import weighted_ranks

    def materialised(x, w, ranker):
        out = np.zeros(w.shape)
        for i, wi in enumerate(w):
            p = np.flatnonzero(wi > 0)
            v = np.repeat(x[p], wi[p].astype(int))
            out[i, p] = ranker(v)[np.cumsum(wi[p].astype(int)) - 1]
        return out

    x = np.array([1.0, 2.0, 2.0, np.inf, 5.0, -np.inf, 7.0])
    w = np.array([[1, 1, 1, 1, 1, 1, 1], [2, 0, 1, 1, 0, 0, 3], [1, 1, 0, 0, 2, 1, 1], [0, 1, 1, 0, 1, 0, 1]], float)
    got = weighted_ranks(np.tile(x, (4, 1)) if per_row else x, w)
    np.testing.assert_array_equal(got, materialised(x, w, rankdata))
    y = np.array([1.0, 1.0 + 0.5 * TIE_RTOL * 6.0, 6.0, np.inf, -3.0])  # a near tie of the finite values
    w = np.array([[1, 1, 1, 0, 1], [1, 1, 1, 1, 1], [2, 1, 0, 1, 0]], float)
    got = weighted_ranks(np.tile(y, (3, 1)) if per_row else y, w)
    want = materialised(y, w, lambda v: to_numpy(rank(v[:, None], axis=0))[:, 0])
    np.testing.assert_array_equal(got, want)
    assert got[0, 0] == got[0, 1] and got[1, 0] < got[1, 1]  # tied without the infinite value, not with it


def test_correlations_and_ranks_of_no_samples_are_nan_without_an_error_or_warning():
    import warnings

    z = np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for policy in ("propagate", "omit"):
            for f in (pearson, spearman):
                got = f(z, z, nan_policy=policy)
                assert got.shape == (3,) and np.isnan(got).all()
        assert rank(z).shape == (0, 3)
        assert spearman(np.zeros((2, 0, 4)), np.zeros((2, 0, 4))).shape == (2, 4)


def test_correlations_of_collinear_columns_stay_within_one_as_scipy_clips():
    """Collinear columns (b = c a + d) gave |r| up to 1 + 1e-15 (pearson), 1 + 1e-14 (resampled sums)
    and 1 + 5e-13 (jackknife totals less each row) by rounding; scipy's pearsonr clips to [-1, 1]."""
    from neuroxr.kernels import resample as rs

    rng = np.random.default_rng(0)
    top = {"pearson": 0.0, "resampled": 0.0, "jackknife": 0.0}
    for t in range(60):
        a = rng.normal(size=(int(rng.integers(3, 40)), 20)) * 10 ** rng.uniform(-3, 3)
        b = a * 3 + 1 if t % 2 else -0.7 * a
        ref = np.array([pearsonr(a[:, j], b[:, j])[0] for j in range(a.shape[1])])
        np.testing.assert_allclose(pearson(a, b), ref, atol=1e-12)
        W = rs.counts(rs.bootstrap_indices(a.shape[0], 5, t), a.shape[0])
        for key, r in (("pearson", pearson(a, b)), ("resampled", rs.resampled_pearson(W, a, b)),
                       ("jackknife", rs.jackknife_pearson(a, b))):
            top[key] = max(top[key], float(np.max(np.abs(r[np.isfinite(r)]), initial=0.0)))
    assert top == {"pearson": 1.0, "resampled": 1.0, "jackknife": 1.0}
