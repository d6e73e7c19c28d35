"""Gram statistics: one pass over unit chunks, exact derived Grams, CKA and effective dimensionality."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import near_constant

from neuroxr.backend import asarray, to_numpy
from neuroxr.kernels.gram import (
    combine,
    constant_features,
    covariance_eigenvalues,
    effective_dimensionality,
    gram,
    gram_chunks,
    gram_dask,
    gram_partial,
    linear_cka,
    row_centered_gram,
    uncentered_gram,
    variance_totals,
)
from neuroxr.kernels.gram_rows import ROW_PASS_KAPPA, shift_cancellation

BACKENDS = ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)]


def _backend(name):
    if name == "torch":
        pytest.importorskip("torch")
    return name


def _features(n=12, p=9, seed=0, offset=3.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)) + offset * rng.standard_normal(p)[None, :] + offset


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(12, 40), (30, 7)])
def test_gram_statistics_match_definitions(backend, shape):
    F = _features(*shape)
    s = gram(asarray(F, backend=_backend(backend)))
    Fc = F - F.mean(0)
    Fr = F - F.mean(1, keepdims=True)
    np.testing.assert_allclose(to_numpy(s.K), Fc @ Fc.T, atol=1e-9)
    np.testing.assert_allclose(to_numpy(uncentered_gram(s)), F @ F.T, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(to_numpy(row_centered_gram(s)), Fr @ Fr.T, atol=1e-9)
    assert s.n_units == shape[1]


@pytest.mark.parametrize("chunk_size", [1, 3, 8])
def test_chunked_gram_equals_in_memory(chunk_size):
    F = _features(10, 17, seed=1, offset=100.0)  # large unit means: cancellation would show
    full = gram(F)
    chunked = gram(F, chunk_size=chunk_size)
    for name in ("K", "a", "v"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(full, name), rtol=1e-10, atol=1e-8)
    assert chunked.mu == pytest.approx(full.mu, rel=1e-12)
    assert chunked.m2 == pytest.approx(full.m2, rel=1e-10)
    Fr = F - F.mean(1, keepdims=True)
    np.testing.assert_allclose(row_centered_gram(chunked), Fr @ Fr.T, rtol=1e-9, atol=1e-6)


def test_combine_is_associative_in_result():
    F = _features(8, 12, seed=2)
    parts = [gram_partial(F[:, i : i + 4]) for i in range(0, 12, 4)]
    left = combine(combine(parts[0], parts[1]), parts[2])
    right = combine(parts[0], combine(parts[1], parts[2]))
    np.testing.assert_allclose(left.K, right.K)
    assert left.m2 == pytest.approx(right.m2)


@pytest.mark.parametrize("split_every", [2, 8])
def test_gram_dask_equals_in_memory(split_every):
    da = pytest.importorskip("dask.array")
    F = _features(15, 50, seed=3)
    darr = da.from_array(F, chunks=(5, 7))  # stimulus chunks are merged inside
    s = gram_dask(darr, split_every=split_every, scheduler="sync")
    ref = gram(F)
    np.testing.assert_allclose(s.K, ref.K, atol=1e-10)
    np.testing.assert_allclose(uncentered_gram(s), F @ F.T, rtol=1e-12)
    lazy = gram_dask(darr, compute=False)
    assert hasattr(lazy, "compute")
    np.testing.assert_allclose(lazy.compute(scheduler="sync").K, ref.K, atol=1e-10)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_gram_dask_of_fortran_ordered_chunks_equals_c_ordered(scheduler):
    """Chunks in Fortran order (e.g. a user's dask array of transposed blocks) summed in another order
    than the same values in C order: the statistics, hence RDMs and CKA, differed in the last bits."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    F = rng.normal(size=(41, 90)) * 1e3 + rng.normal(size=90)
    c = da.from_array(F, chunks=(41, 30))
    f = c.map_blocks(np.asfortranarray)
    a, b = gram_dask(c, scheduler=scheduler), gram_dask(f, scheduler=scheduler)
    for name in ("K", "a", "v", "Kr", "D2"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None) and (x is None or np.array_equal(x, y)), name
    assert (a.mu, a.m2) == (b.mu, b.m2)


def test_gram_chunks_needs_a_chunk():
    with pytest.raises(ValueError, match="no chunks"):
        gram_chunks([])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(20, 6), (8, 30)])
def test_effective_dimensionality_vs_covariance_spectrum(backend, shape):
    F = _features(*shape, seed=4)
    lam = np.linalg.eigvalsh(np.cov(F, rowvar=False))
    expected = lam.sum() ** 2 / (lam**2).sum()
    s = gram(asarray(F, backend=_backend(backend)))
    assert effective_dimensionality(s) == pytest.approx(expected, rel=1e-10)
    ev = to_numpy(covariance_eigenvalues(s))
    k = min(shape[0] - 1, shape[1])
    np.testing.assert_allclose(ev[:k], np.sort(lam)[::-1][:k], rtol=1e-8, atol=1e-10)


def test_effective_dimensionality_of_isotropic_and_rank_one():
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((40, 5))
    Q, _ = np.linalg.qr(Z - Z.mean(0))  # orthonormal, centred columns: isotropic spectrum
    assert effective_dimensionality(gram(Q)) == pytest.approx(5.0, rel=1e-10)
    assert effective_dimensionality(gram(np.outer(rng.standard_normal(40), rng.standard_normal(6)))) == pytest.approx(1.0)
    assert math.isnan(effective_dimensionality(gram(np.ones((5, 3)))))


def _cka_reference(X, Y, debiased):
    """Linear CKA from features (Kornblith et al. 2019): HSIC with linear kernels."""
    n = X.shape[0]
    if not debiased:
        Xc, Yc = X - X.mean(0), Y - Y.mean(0)
        return np.linalg.norm(Xc.T @ Yc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))

    def hsic_u(K, L):  # unbiased estimator (Song et al. 2012), written out from its definition
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0)
        np.fill_diagonal(L, 0)
        one = np.ones(n)
        t = np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ K @ L @ one
        return t / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T  # uncentred: the unbiased estimator is translation invariant
    return hsic_u(K, L) / np.sqrt(hsic_u(K, K) * hsic_u(L, L))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_vs_definition(backend, debiased):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((25, 10)) + 2
    Y = X @ rng.standard_normal((10, 7)) + 0.8 * rng.standard_normal((25, 7))
    ref = _cka_reference(X, Y, debiased)
    b = _backend(backend)
    got = linear_cka(gram(asarray(X, backend=b)), gram(asarray(Y, backend=b)), debiased=debiased)
    assert got == pytest.approx(ref, rel=1e-9)
    # invariances: orthogonal transform and isotropic scaling of one side
    Q, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    got2 = linear_cka(gram(X), gram(3.0 * Y @ Q), debiased=debiased)
    assert got2 == pytest.approx(ref, rel=1e-9)
    assert linear_cka(gram(X), gram(X), debiased=debiased) == pytest.approx(1.0)


def test_linear_cka_checks_shapes():
    with pytest.raises(ValueError, match="align the stimuli"):
        linear_cka(np.eye(3), np.eye(4))


@pytest.mark.parametrize("n, debiased, line", [
    (2, False, r"2 stimuli as the Grams' rows and columns; CKA needs at least 3 \(with 2, every CKA is 1\); pass Grams of at least 3"),
    (3, True, r"3 stimuli as the Grams' rows and columns; the debiased estimator needs at least 4; pass Grams of at least 4"),
], ids=["biased", "debiased"])
def test_linear_cka_refuses_too_few_stimuli_in_the_shared_line(n, debiased, line):
    """Too few stimuli: errors.too_few_stimuli's line, as nx.cka's, naming what it was given (Grams K
    and L, statistics or plain arrays: no dim 'stimulus')."""
    X = _features(n=n)
    for K in (gram(X), gram(X).K):
        with pytest.raises(ValueError, match=rf"^linear_cka: K and L: {line} stimuli\.$"):
            linear_cka(K, K, debiased=debiased)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "slice"])
def test_gram_blas_path_is_exactly_symmetric_and_matches_product(dtype, layout):
    # C-contiguous NumPy float input goes through BLAS syrk; other layouts through a general product
    F = _features(n=33, p=70, seed=3).astype(dtype)
    F = {"C": F, "F": np.asfortranarray(F), "slice": F[:, ::2]}[layout]
    s = gram_partial(F)
    Fc = F.astype(np.float64) - F.astype(np.float64).mean(0)
    tol = 1e-10 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(s.K, Fc @ Fc.T, rtol=tol, atol=tol * np.abs(Fc @ Fc.T).max())
    assert s.K.dtype == dtype
    np.testing.assert_array_equal(s.K, s.K.T)
    for G in (row_centered_gram(s), uncentered_gram(s)):
        np.testing.assert_array_equal(G, G.T)


@pytest.mark.parametrize("off", [1e2, 1e4, 1e6])
def test_row_centred_and_uncentred_grams_keep_their_digits_with_large_stimulus_offsets(off):
    """Row means ``off`` against unit variation: ``K`` and ``a a^T / p`` share their leading digits,
    so the shifted row-centred Gram lost ``~off^2 eps``; from the row pass it keeps its digits."""
    rng = np.random.default_rng(7)
    F = rng.standard_normal((20, 50)) + off * rng.uniform(1, 2, (20, 1))
    Fr = F - F.mean(axis=1, keepdims=True)
    for s in (gram(F), gram(F, chunk_size=8)):
        assert s.Kr is not None
        np.testing.assert_allclose(row_centered_gram(s), Fr @ Fr.T, rtol=0, atol=1e-12 * 50)
        np.testing.assert_allclose(uncentered_gram(s), F @ F.T, rtol=1e-14)


def test_shift_cancellation_bounds_the_error_of_the_shifted_forms():
    """``kappa eps`` bounds the error of the one-pass correlation RDM (measured 0.2 to 0.6 of it where
    the terms cancel, a few ulps where they do not); below :data:`ROW_PASS_KAPPA` it is within 1e-12."""
    from scipy.spatial.distance import pdist, squareform

    from neuroxr.kernels.rdm import rdm_from_gram

    rng = np.random.default_rng(8)
    eps = np.finfo(np.float64).eps
    for off in (0.0, 3.0, 1e3, 1e5):
        F = rng.standard_normal((25, 60)) + off * rng.uniform(1, 2, (25, 1))
        s = gram(F, row_pass=False)
        kappa = shift_cancellation(s, centred=True)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            err = np.abs(rdm_from_gram(s, "correlation") - squareform(pdist(F, "correlation"))).max()
        assert err <= 8 * eps * kappa, (off, err, kappa)
        assert (kappa > ROW_PASS_KAPPA) == (off >= 1e3) and (gram(F).Kr is not None) == (off >= 1e3)


def test_row_pass_refuses_chunks_that_are_not_the_statistics_units():
    from neuroxr.errors import LayoutError
    from neuroxr.kernels.gram_rows import with_row_pass

    F = _features(10, 12)
    s = gram(F, row_pass=False)
    with pytest.raises(LayoutError, match="chunks of 8 units in all for statistics of 12 units"):
        with_row_pass(s, [F[:, :8]])
    with pytest.raises(LayoutError, match="chunk the unit axis only"):
        with_row_pass(s, [F[:5]])
    with pytest.raises(LayoutError, match="chunks of 0 units"):
        with_row_pass(s, [])



@pytest.mark.parametrize("backend", BACKENDS)
def test_variance_totals_and_constant_features_from_the_statistics(backend):
    """The summed centred and uncentred squares over all stimuli or a subset come from the chunked
    statistics as from the features; the features count as constant up to rounding, chunked or not."""
    rng = np.random.default_rng(0)
    F = rng.standard_normal((20, 7)) + 3.0
    rows = np.array([0, 3, 4, 9, 15, 19])
    s = gram(asarray(F, backend=_backend(backend)), chunk_size=3)
    for r, Fr in ((None, F), (rows, F[rows])):
        np.testing.assert_allclose(variance_totals(s, r), [((Fr - Fr.mean(0)) ** 2).sum(), (Fr**2).sum()], rtol=1e-12)
    assert not constant_features(s) and not constant_features(s, rows)
    C = np.full((20, 7), 0.7)
    C[:, 4:] = near_constant(20)[:, None]
    for chunk in (None, 2):
        c = gram(asarray(C, backend=_backend(backend)), chunk_size=chunk)
        assert float(to_numpy(c.K).trace()) > 0 and constant_features(c) and constant_features(c, rows)
        assert math.isnan(effective_dimensionality(c)) and math.isnan(linear_cka(c, s)) and math.isnan(linear_cka(s, c, True))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_large_constant_unit_does_not_make_the_features_constant(dtype):
    """Constancy is decided per unit (each on its own squares): a constant unit at 1e8 (float64), or a
    float32 "massive activation" unit at 1e4 among 768 unit-scale ones, leaves the features varying,
    over every stimulus and over a subset, in one pass or chunked and streamed, and their CKA and
    effective dimensionality are those without that unit (its centred column is zero)."""
    import dask.array as da

    rng = np.random.default_rng(1)
    n, p, big = (30, 14, 1e8) if dtype == "float64" else (30, 768, 1e4)
    F = rng.standard_normal((n, p)).astype(dtype)
    F[:, 0] = big
    rows = np.arange(0, n, 2)
    L = gram(rng.standard_normal((n, 5)).astype(dtype))
    for s in (gram(F), gram(F, chunk_size=5), gram_dask(da.from_array(F, chunks=(n, 7)), scheduler="sync"),
              gram_dask(da.from_array(F, chunks=(n, 7)), scheduler="threads")):
        assert s.n_varying == p - 1 and not constant_features(s) and not constant_features(s, rows)
        ref = gram(F[:, 1:])
        assert effective_dimensionality(s) == pytest.approx(effective_dimensionality(ref), rel=1e-4)
        assert linear_cka(s, L) == pytest.approx(linear_cka(ref, L), rel=1e-4)
    C = np.full((n, 4), big, dtype=dtype)
    C[:, 1:] = near_constant(n).astype(dtype)[:, None]
    for s in (gram(C), gram(C, chunk_size=1)):
        assert s.n_varying == 0 and constant_features(s) and constant_features(s, rows)


def test_a_subset_of_stimuli_decides_from_the_varying_units():
    """Over a subset the statistics leave the constant units out of the totals (``q``, ``qc``): a
    large constant unit does not hide the others' variance there, and units that vary only outside
    the subset make it constant there, as the columns decide in memory."""
    from neuroxr.kernels.stats import constant_columns

    rng = np.random.default_rng(2)
    F = rng.standard_normal((20, 6))
    F[:, 0] = 1e8
    rows = np.array([1, 4, 5, 9, 12])
    assert not constant_features(gram(F, chunk_size=2), rows) and not constant_columns(F[rows]).all()
    G = F.copy()
    G[rows, 1:] = 0.3  # the varying units are constant on the subset
    assert constant_features(gram(G, chunk_size=2), rows) and constant_columns(G[rows]).all()
    assert not constant_features(gram(G, chunk_size=2))


def test_a_float32_column_is_decided_on_its_two_pass_squares():
    """In float32 a column is constant when its spread is within 256 ulps of its values (the two-pass
    squares' rounding, ``stats.column_tol``), not below 5.5e-3 of them: a baseline of 1000 with a
    spread of 1 varies, as in float64; the same column rounded to a constant does not."""
    rng = np.random.default_rng(3)
    F = (1000.0 + rng.standard_normal((30, 6))).astype(np.float32)
    for s in (gram(F), gram(F.astype(np.float64))):
        assert s.n_varying == 6 and not constant_features(s)
    C = np.tile(np.float32(1000.7) + np.zeros((30, 1), np.float32), 6) * np.linspace(1, 2, 6, dtype=np.float32)
    assert gram(C).n_varying == 0 and constant_features(gram(C)) and constant_features(gram(C.astype(np.float64)))


def test_gram_refuses_a_bad_dtype_naming_the_function_before_reading_the_features():
    """``gram`` / ``gram_stats`` refused a bad dtype deep in the kernel, without naming the function
    (as they name it for a bad backend)."""
    import dask.array as da

    import neuroxr as nx
    from neuroxr.errors import BackendError
    from neuroxr.geometry import gram, gram_stats

    F = nx.features(np.random.default_rng(0).normal(size=(6, 4)), [f"s{i}" for i in range(6)])
    lazy = F.copy(data=da.from_array(F.values, chunks=(6, 2)))
    for dtype in ("int32", np.float16, "bogus"):
        for X in (F, lazy):
            with pytest.raises(BackendError, match=rf"^gram: dtype={dtype!r} is not"):
                gram(X, dtype=dtype)
        with pytest.raises(BackendError, match=rf"^gram_stats: dtype={dtype!r} is not"):
            gram_stats(gram(F), dtype=dtype)


@pytest.mark.parametrize("fn", ["gram_dask", "gram_stream", "gram_tree"])
def test_lazy_grams_refuse_a_backend_or_dtype_in_their_name_before_any_chunk(fn):
    """A misspelled backend or a dtype that is not float32/float64 failed inside the first chunk's task, in a
    message naming no function (or asarray); the lazy Grams now refuse them up front, naming themselves."""
    import dask.array as da

    from neuroxr.backend import BackendError
    from neuroxr.kernels import gram_reduce

    x = da.from_array(np.random.default_rng(0).normal(size=(6, 8)), chunks=(6, 4))
    call = getattr(gram_reduce, fn)
    with pytest.raises(BackendError, match=rf"^{fn}: backend='cuda' is not known; choose one of"):
        call(x, backend="cuda")
    with pytest.raises(BackendError, match=rf"^{fn}: dtype='int8' is not supported"):
        call(x, dtype="int8")
