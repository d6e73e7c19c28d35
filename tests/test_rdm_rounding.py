"""Rounding in correlation and cosine RDMs and in the RSA bootstrap's judgement of RDMs without variance:
the RDM of affine copies of one pattern is constant (its comparisons NaN), any other is kept as computed, and the point score and
every Pearson resample decide "no variance" by one rule (``kernels.compare.flat_ends``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist

import neuroxr as nx
from neuroxr import geometry as geo
from neuroxr.errors import NeuroxrWarning
from neuroxr.geometry.inference import crsa_bootstrap, rsa_bootstrap
from neuroxr.kernels import compare as kc
from neuroxr.kernels.rdm import rdm, tie_bounded

N = 12
SID = [f"s{i:02d}" for i in range(N)]
IU = np.triu_indices(N, 1)


def _square(v: np.ndarray) -> np.ndarray:
    M = np.zeros((N, N))
    M[IU] = v
    return M + M.T


def _affine_copies(method: str) -> np.ndarray:
    """Rows ``a_i x + b_i`` (``a_i > 0``; large offsets) for correlation, ``a_i x`` for cosine: exact RDM zero."""
    x = np.random.default_rng(0).standard_normal(40)
    a = np.geomspace(0.01, 1e3, N)
    b = np.where(np.arange(N) % 2, 1.0, -1.0) * np.geomspace(1e-3, 1e6, N) if method == "correlation" else 0.0 * a
    return a[:, None] * x[None, :] + np.asarray(b)[:, None]


@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_rdm_of_affine_copies_of_one_pattern_is_constant(method):
    """Their distances read rounding (up to about 1e-15) around 0, which the tie rule relative to the
    largest value, itself rounding, resolved as variation; on the measure's own scale they are one value."""
    F = _affine_copies(method)
    D = np.asarray(rdm(F, method))
    assert np.unique(D[IU]).size == 1 and abs(D[IU][0]) < 1e-13 and np.all(np.diag(D) == 0)
    D2 = np.asarray(nx.rdm(nx.features(F, SID), method).values)
    assert np.unique(D2[IU]).size == 1
    assert np.abs(pdist(F, method)).max() < 1e-13  # scipy: the same rounding around the exact 0


@pytest.mark.parametrize("rdm_method", ["correlation", "cosine"])
@pytest.mark.parametrize("compare", ["pearson", "spearman"])
def test_comparisons_of_the_rdm_of_affine_copies_are_nan_with_the_warning_as_scipy(rdm_method, compare):
    """compare_rdms and crsa of that RDM are NaN with the no-variance warning, as scipy's pearsonr and
    spearmanr of the exact (constant) RDM; they were finite scores of rounding."""
    rng = np.random.default_rng(1)
    F = _affine_copies(rdm_method)
    other = rng.random(IU[0].size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(stats, f"{compare}r")(np.zeros(IU[0].size), other)[0]
    assert np.isnan(ref)
    D = nx.rdm(nx.features(F, SID, model="net", layer="copies"), rdm_method)
    with pytest.warns(NeuroxrWarning, match="no variance"):
        assert np.isnan(float(geo.compare_rdms(D, _square(other), compare)))
    R = nx.neural(rng.standard_normal((N, 5, 3)), SID, [f"n{j}" for j in range(5)])
    with pytest.warns(NeuroxrWarning, match=r"\(net.copies\) has no variance"):
        ds = geo.crsa(nx.features(F, SID, model="net", layer="copies"), R, rdm_method=rdm_method, compare_method=compare,
                      noise_ceiling=False)
    assert np.isnan(float(ds["score"]))


def test_a_correlation_rdm_with_small_real_variation_is_kept():
    """Distances of about 1e-8 varying by tens of percent (far above the 1e-16 rounding) are kept as
    computed (scipy's to its rounding) and compared as scipy compares them."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(50)
    F = x[None, :] + 1e-4 * rng.standard_normal((N, 50)) + rng.uniform(-5, 5, (N, 1))
    D = np.asarray(rdm(F, "correlation"))
    ref = pdist(F, "correlation")
    assert 1e-9 < ref.min() and ref.max() < 1e-7
    np.testing.assert_allclose(D[IU], ref, rtol=1e-6, atol=0)
    assert tie_bounded(D) is D  # nothing within rounding of another: nothing moved
    other = rng.random(IU[0].size)
    assert kc.compare_rdms(D, other, "pearson") == pytest.approx(stats.pearsonr(ref, other)[0], rel=1e-6)
    assert kc.compare_rdms(D, other, "spearman") == pytest.approx(stats.spearmanr(ref, other)[0], rel=1e-12)


@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_distances_of_highly_correlated_patterns_keep_their_digits(method):
    """Patterns sharing one signal with 1e-6 noise: distances of about 1e-12, thousands of them within
    5.7e-14 of a neighbour but carrying about four digits above the 1e-16 rounding. They are kept as
    computed (a rule chaining neighbours 5.7e-14 apart merged them into two values), and the
    comparisons follow scipy's on scipy's RDM."""
    rng = np.random.default_rng(7)
    n = 80
    x = rng.standard_normal(50)
    F = x[None, :] + 1e-6 * rng.standard_normal((n, 50))
    iu = np.triu_indices(n, 1)
    D = np.asarray(rdm(F, method))
    ref = pdist(F, method)
    assert ref.max() < 1e-10 and np.unique(ref).size > 2000
    assert np.unique(D[iu]).size > 2000
    np.testing.assert_allclose(D[iu], ref, rtol=0, atol=1e-15)
    assert stats.spearmanr(D[iu], ref)[0] > 0.999
    other = rng.random(iu[0].size)
    assert kc.compare_rdms(D, other, "pearson") == pytest.approx(stats.pearsonr(ref, other)[0], abs=1e-3)
    assert kc.compare_rdms(D, other, "spearman") == pytest.approx(stats.spearmanr(ref, other)[0], abs=1e-3)


def _resampled(M: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The upper-triangle values of RDM ``M`` on draws ``idx`` (pairs of distinct draws), brute force."""
    a, b = np.triu_indices(idx.size, 1)
    keep = idx[a] != idx[b]
    return M[idx[a][keep], idx[b][keep]]


@pytest.mark.parametrize("spread", [1e-10, 1e-15])
def test_pearson_bootstrap_judges_no_variance_as_compare_rdms_on_every_resample(spread):
    """A data RDM of relative spread 1e-10 is scored by compare_rdms; its Pearson resamples, whose
    moments' variance fell under 256 eps of the mean square, were NaN every one (and the full-sample
    noise bounds off rdm_noise_ceiling's). One rule now: scored in the point estimate and every
    resample (each equal to compare_rdms of the resampled RDMs), or, at 1e-15 (rounding), NaN in all."""
    rng = np.random.default_rng(3)
    model = _square(rng.random(IU[0].size))
    data = [_square(1.0 + spread * rng.standard_normal(IU[0].size)), _square(rng.random(IU[0].size))]
    idx = rng.integers(0, N, (40, N))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        plain = [float(geo.compare_rdms(model, d, "pearson")) for d in data]
        ceil = geo.rdm_noise_ceiling(np.stack([d[IU] for d in data]), "pearson")
        boot = rsa_bootstrap(model, data, method="corr", indices=idx)
    flat = spread < 1e-13
    assert np.isnan(plain[0]) == flat == bool(kc._flat(np, data[0][IU])[0])
    assert np.isnan(float(boot["score"])) == flat
    if flat:
        assert np.isnan(boot["score_boot"]).all() and np.isnan(float(ceil["upper"])) and np.isnan(float(ceil["lower"]))
        for bound in ("noise_upper", "noise_lower"):  # the flat subject's bounds: NaN, as rdm_noise_ceiling's
            assert np.isnan(float(boot[bound])) and np.isnan(boot[f"{bound}_boot"]).all()
        return
    assert float(boot["score"]) == pytest.approx(np.mean(plain), rel=1e-9)
    assert float(boot["noise_upper"]) == pytest.approx(float(ceil["upper"]), rel=1e-9)
    assert float(boot["noise_lower"]) == pytest.approx(float(ceil["lower"]), rel=1e-9)
    assert np.isfinite(boot["score_boot"]).all()
    at = boot["stimulus_id"].values.astype(int)[idx]  # the draws' canonical positions as the RDMs' rows
    for b in range(0, 40, 8):
        ref = np.mean([kc.compare_rdms(_resampled(model, at[b]), _resampled(d, at[b]), "pearson") for d in data])
        assert float(boot["score_boot"][b]) == pytest.approx(ref, rel=1e-9)


def test_crsa_bootstrap_scores_every_resample_of_an_rdm_crsa_scores():
    """Stimuli almost equally far apart (a simplex moved by 1e-10): their Euclidean RDM varies by about
    1e-10 of its values, crsa scores it by Pearson, and so does every resample of crsa_bootstrap (NaN
    every one before)."""
    rng = np.random.default_rng(4)
    F = nx.features(np.eye(N) + 1e-10 * rng.standard_normal((N, N)), SID, model="net", layer="simplex")
    R = nx.neural(rng.standard_normal((N, 5, 3)), SID, [f"n{j}" for j in range(5)])
    D = np.asarray(nx.rdm(F, "euclidean").values)[IU]
    assert not kc._flat(np, D)[0] and np.ptp(D) < 1e-8 * D.max()
    kw = {"rdm_method": "euclidean", "compare_method": "pearson"}
    score = float(geo.crsa(F, R, noise_ceiling=False, **kw)["score"])
    out = crsa_bootstrap(F, R, n_boot=30, noise_ceiling=False, **kw)
    assert np.isfinite(score) and float(out["score"]) == pytest.approx(score, rel=1e-9)
    assert np.isfinite(out["score_boot"]).all() and int(out["n_boot_undefined"]) == 0


def test_a_resample_whose_drawn_values_cluster_is_computed_pair_by_pair():
    """Pairs among stimuli 0..5 hold 1000 + 1e-6 z, the others values in [0, 1]: a resample that draws
    only those stimuli has values of relative spread 1e-9 (scored by compare_rdms), whose moments'
    variance (shifted by the full mean) is lost to rounding: it is computed pair by pair, as compare_rdms."""
    rng = np.random.default_rng(5)
    M = rng.random((N, N))
    M[:6, :6] = 1000 + 1e-6 * rng.standard_normal((6, 6))
    data = np.triu(M, 1) + np.triu(M, 1).T
    model = _square(rng.random(IU[0].size))
    canon = np.argsort(np.arange(N).astype(str))  # NumPy RDMs' stimuli "0", "1", "10", ... in canonical order
    idx = np.vstack([np.argsort(canon)[rng.integers(0, 6, (4, N))], rng.integers(0, N, (4, N))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        boot = rsa_bootstrap(model, [data], method="corr", indices=idx, noise_ceiling=False)
    at = boot["stimulus_id"].values.astype(int)[idx]  # the draws' canonical positions as the RDMs' rows
    for b in range(idx.shape[0]):
        ref = kc.compare_rdms(_resampled(model, at[b]), _resampled(data, at[b]), "pearson")
        assert np.isfinite(ref) and float(boot["score_boot"][b]) == pytest.approx(ref, rel=1e-9)


def test_entries_of_correlation_rdms_and_pearson_bootstraps_are_one_revision_up():
    """RSA entries of correlation or cosine RDMs (tie_bounded) and the RSA bootstraps comparing by
    Pearson (the one rule of no variance) are one more revision up; their other entries keep theirs."""
    from neuroxr.entries import kinds, revisions

    def rev(kind, **params):
        return revisions.entry_revision(kind, kinds.get_kind(kind).fill(params))

    for kind in ("crsa", "ersa", "crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation"):
        # correlation and cosine: the row pass and these ties; squared Euclidean: exact squares and the pair pass
        assert rev(kind, rdm_method="cosine") == rev(kind, rdm_method="correlation") == rev(kind, rdm_method="sqeuclidean")
    for kind in ("crsa_bootstrap", "ersa_bootstrap", "ersa_permutation"):  # ersa_permutation: the bootstrap's score
        assert rev(kind, compare_method="pearson") == rev(kind, compare_method="cosine") + 2
    for kind in ("crsa", "crsa_permutation"):
        assert rev(kind, compare_method="pearson") == rev(kind, compare_method="cosine") + 1


SCALES = [1e-200, 1e-160, 1e160]


def _pair_vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(23)
    a = np.abs(rng.normal(size=IU[0].size))
    return a, np.abs(rng.normal(size=a.size) + 0.5 * a)


def _cosine(x: np.ndarray, y: np.ndarray) -> float:
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


@pytest.mark.parametrize("scale", SCALES)
def test_pearson_and_cosine_comparisons_hold_at_any_scale_of_the_rdm_values(scale):
    """RDM values whose squares leave float64's normal range (here 1e+-160 and beyond) are compared as
    scipy compares them: each RDM is scaled by a power of two first (the squares underflowed or
    overflowed: a wrong number, NaN or inf, with a false 'no variance' warning)."""
    a, b = _pair_vectors()
    want = {"pearson": stats.pearsonr(a, b)[0], "cosine": _cosine(a, b)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no 'no variance'
        for method, ref in want.items():
            assert float(nx.compare_rdms(a * scale, b, method=method)) == pytest.approx(ref, abs=1e-12)
            many = np.asarray(nx.compare_rdms_many(np.stack([a * scale, a]), np.stack([b, b * scale]), method=method))
            np.testing.assert_allclose(many, ref, atol=1e-12)
        for method in ("pearson", "cosine"):  # the pool z-scores (Pearson) or scales (cosine) each RDM
            plain = nx.rdm_noise_ceiling(np.stack([a, b, a + b]), method=method)
            scaled = nx.rdm_noise_ceiling(np.stack([a, b, a + b]) * scale, method=method)
            for key in ("lower", "upper"):
                assert float(scaled[key]) == pytest.approx(float(plain[key]), abs=1e-12)


def test_crsa_of_a_squared_euclidean_rdm_of_small_features_is_scipys():
    """Features near 1e-100 are in range (their squares are normal), but their squared Euclidean RDM's
    values (1e-200) square out of it; Pearson and cosine cRSA equal scipy's on the same RDMs."""
    rng = np.random.default_rng(5)
    F, Y = rng.normal(size=(N, 6)), rng.normal(size=(N, 4, 1))
    x, y = pdist(F, "sqeuclidean"), pdist(Y[:, :, 0], "sqeuclidean")
    feats, resp = nx.features(F * 1e-100, SID, model="m", layer="l"), nx.neural(Y, SID)
    for method, ref in (("pearson", stats.pearsonr(x, y)[0]), ("cosine", _cosine(x, y))):
        got = float(nx.crsa(feats, resp, rdm_method="sqeuclidean", compare_method=method).score)
        assert got == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("method", ["corr", "cosine"])
def test_rsa_inference_is_scale_free(method):
    """The RSA bootstrap's moments and the permutation null's unit vectors at 1e+-160 and beyond equal
    those at scale 1 (they were NaN, 0 or inf)."""
    a, b = _pair_vectors()
    subjects = [b, a + b, 2 * b + a]

    def run(scale: float) -> np.ndarray:
        boot = rsa_bootstrap(_square(a * scale), [_square(v * scale) for v in subjects], method=method, n_boot=20, seed=1)
        perm = geo.inference.rsa_permutation(_square(a * scale), [_square(v * scale) for v in subjects], method=method,
                                             n_perm=30, seed=1)
        return np.concatenate([np.ravel(ds[v].values) for ds in (boot, perm) for v in ds.data_vars])

    base = run(1.0)
    assert np.isfinite(base).all()
    for scale in SCALES:
        np.testing.assert_allclose(run(scale), base, rtol=1e-12, atol=1e-12)


def test_the_generic_backend_scales_as_numpy():
    """The array-API path (torch tensors) compares RDMs at 1e-200 as at scale 1."""
    torch = pytest.importorskip("torch")
    a, b = _pair_vectors()
    for method, ref in (("pearson", stats.pearsonr(a, b)[0]), ("cosine", _cosine(a, b))):
        got = kc.compare_rdms_many(torch.tensor(np.stack([a * 1e-200, a * 1e160])), torch.tensor(b[None]), method=method)
        np.testing.assert_allclose(np.asarray(got), ref, atol=1e-12)


def test_rsa_entries_comparing_by_pearson_or_cosine_are_one_revision_up():
    """Pearson and cosine RSA entries (whose values at extreme scales were wrong) are raised; the
    rank comparisons stand."""
    from neuroxr.entries import kinds, revisions

    def rev(kind, **params):
        return revisions.entry_revision(kind, kinds.get_kind(kind).fill(params))

    for kind in ("crsa", "ersa"):
        assert rev(kind, compare_method="cosine") == rev(kind, compare_method="spearman") == rev(kind, compare_method="kendall")
    assert rev("crsa_permutation", compare_method="cosine") == rev("crsa_permutation", compare_method="spearman")
