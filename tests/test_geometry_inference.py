"""RSA / CKA inference (issue 16): parity with rsatoolbox's pattern bootstrap and its noise
ceiling given the same resample indices, permutation nulls, CKA resamples against the formula."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as ss
import xarray as xr
from scipy.spatial.distance import pdist, squareform

import neuroxr as nx
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.geometry.inference import (
    cka_bootstrap,
    crsa_bootstrap,
    ersa_bootstrap,
    rsa_bootstrap,
    rsa_permutation,
    shape_bootstrap,
)
from neuroxr.geometry.rdm import as_rdm
from neuroxr.kernels import resample as rs

N, S = 20, 3
IDS = [f"s{i:02d}" for i in range(N)]


@pytest.fixture(scope="module")
def rdms():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 5))
    model = squareform(pdist(X))
    data = [squareform(pdist(X + 1.5 * rng.normal(size=(N, 5)))) for _ in range(S)]
    return model, data


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
def test_pattern_bootstrap_matches_rsatoolbox(rdms, method):
    rt = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import eval_bootstrap_pattern

    model, data = rdms
    n_boot = 30
    np.random.seed(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = eval_bootstrap_pattern(rt.model.ModelFixed("m", squareform(model)),
                                     rt.rdm.RDMs(np.stack([squareform(d) for d in data])), method=method, N=n_boot)
    np.random.seed(11)  # the same draws: one randint(0, n, n) per resample (bootstrap_sample_pattern)
    idx = np.stack([np.random.randint(0, N, size=N) for _ in range(n_boot)])
    got = rsa_bootstrap(as_rdm(model, stimulus_id=IDS), [as_rdm(d, stimulus_id=IDS) for d in data], method=method,
                        indices=idx)
    np.testing.assert_allclose(got["score_boot"], ref.evaluations[:, 0], atol=1e-12)  # spearman: each resample re-ranked
    if method == "spearman":  # the ceiling is rdm_noise_ceiling's (test_rsa_bootstrap_resamples_are_the_plain_calls...)
        return
    np.testing.assert_allclose(got["noise_lower_boot"], ref.noise_ceiling[0], atol=1e-12)
    np.testing.assert_allclose(got["noise_upper_boot"], ref.noise_ceiling[1], atol=1e-12)
    full = np.mean([ss.pearsonr(squareform(model), squareform(d))[0] for d in data])
    if method == "corr":
        assert float(got["score"]) == pytest.approx(full)


def test_subject_bootstrap_and_errors(rdms):
    model, data = rdms
    m, d = as_rdm(model, stimulus_id=IDS), [as_rdm(x, stimulus_id=IDS) for x in data]
    res = rsa_bootstrap(m, d, over="subjects", n_boot=40, seed=2)
    per = np.array([ss.pearsonr(squareform(model), squareform(x))[0] for x in data])
    sidx = rs.bootstrap_indices(S, 40, 2, stream=1)
    np.testing.assert_allclose(res["score_boot"], per[sidx].mean(axis=1), atol=1e-12)
    with pytest.raises(ParameterError, match="method"):
        rsa_bootstrap(m, d, method="kendall")
    with pytest.raises(ParameterError, match="over='subjects'"):
        rsa_bootstrap(m, d[0], over="subjects")


def test_rsa_permutation_null(rdms):
    model, data = rdms
    m, d = as_rdm(model, stimulus_id=IDS), [as_rdm(x, stimulus_id=IDS) for x in data]
    res = rsa_permutation(m, d, n_perm=50, seed=1)
    perm = rs.permutation_indices(N, 50, 1)[3]
    exp = np.mean([ss.pearsonr(squareform(model[np.ix_(perm, perm)]), squareform(x))[0] for x in data])
    assert float(res["score_null"][3]) == pytest.approx(exp, abs=1e-12)
    assert float(res["p"]) == pytest.approx(1 / 51)  # the model RDM shares the data's geometry


def test_rsa_permutation_uniform_under_null():
    rng = np.random.default_rng(4)
    ps = []
    for _ in range(60):
        a, b = squareform(pdist(rng.normal(size=(12, 3)))), squareform(pdist(rng.normal(size=(12, 3))))
        ids = [f"s{i:02d}" for i in range(12)]
        ps.append(float(rsa_permutation(as_rdm(a, stimulus_id=ids), as_rdm(b, stimulus_id=ids), n_perm=99,
                                        seed=int(rng.integers(1000)))["p"]))
    assert ss.kstest(ps, "uniform").pvalue > 0.001


def test_crsa_bootstrap_point_equals_crsa():
    st = nx.datasets.make_study(seed=0, n_stimuli=60, animals={"a": 10, "b": 8}, n_repeats=(6, 6),
                                models={"m": [("true", 16, 1.0, 0)]}, true_model="m", true_layer="true")
    F = st.features["m"]["true"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = crsa_bootstrap(F, [st.neural["a"], st.neural["b"]], n_boot=50)
        ref = [float(nx.crsa(F, st.neural[k], noise_ceiling=False)["score"]) for k in "ab"]  # crsa's defaults
    assert float(res["score"]) == pytest.approx(np.mean(ref), abs=1e-10)
    lo, hi = res["score_ci"].values
    assert lo < float(res["score"]) < hi


def _spearman_on_draws(model, data, idx):
    """scipy's Spearman correlation of two RDMs (square arrays) on the pairs of distinct draws ``idx``
    (each pair as often as drawn, rsatoolbox's pattern sampling), NaN pairs left out."""
    a, b = np.triu_indices(idx.size, 1)
    a, b = a[idx[a] != idx[b]], b[idx[a] != idx[b]]
    x, y = model[idx[a], idx[b]], data[idx[a], idx[b]]
    ok = ~np.isnan(x) & ~np.isnan(y)
    return ss.pearsonr(ss.rankdata(x[ok]), ss.rankdata(y[ok]))[0]


def test_crsa_bootstrap_resamples_rerank_the_resampled_rdms():
    """crsa_bootstrap's spearman resamples (its default comparison): per resample the mean over the
    neural sets of scipy's Spearman correlation of the resampled RDMs (ranked anew on every resample,
    not the full-sample ranks on the resampled pairs)."""
    st = nx.datasets.make_study(seed=0, n_stimuli=40, animals={"a": 10, "b": 8}, n_repeats=(6, 6),
                                models={"m": [("true", 16, 1.0, 0)]}, true_model="m", true_layer="true")
    F = st.features["m"]["true"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = crsa_bootstrap(F, [st.neural["a"], st.neural["b"]], n_boot=8, seed=1)
        rdms = [nx.rdm(x) for x in (F, st.neural["a"], st.neural["b"])]
    for r in rdms:
        np.testing.assert_array_equal(r.stimulus_id.values, res.stimulus_id.values)
    model, *data = (np.asarray(r.values, dtype=float) for r in rdms)
    for b, idx in enumerate(res["boot_index"].values):
        exp = np.mean([_spearman_on_draws(model, x, idx) for x in data])
        assert float(res["score_boot"][b]) == pytest.approx(exp, abs=1e-12)


def _ersa_study(n_stimuli):
    """Features of a layer that drives one animal's 10 neuroids (6 repeats), and the responses."""
    st = nx.datasets.make_study(seed=0, n_stimuli=n_stimuli, animals={"a": 10}, n_repeats=6,
                                models={"m": [("true", 16, 1.0, 0)]}, true_model="m", true_layer="true")
    return st.features["m"]["true"], st.neural["a"]


def test_ersa_bootstrap_resamples_rerank_the_resampled_rdms():
    """ersa_bootstrap's spearman resamples (its default comparison) are scipy's Spearman correlation
    of the resampled test RDMs (the predictions of scikit-learn's ridge fitted on the training
    stimuli, and the neural responses), ranked anew on every resample."""
    from sklearn.linear_model import Ridge

    from neuroxr.geometry.inference import ersa_bootstrap

    F, R = _ersa_study(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ersa_bootstrap(F, R, n_boot=8, split_seed=2, seed=1)
        te = nx.ersa(F, R, seed=2)["split"].values == "test"
    X, Y = np.asarray(F.values, dtype=float), np.asarray(R.mean("repeat").values, dtype=float)
    pred = Ridge(alpha=0.1).fit(X[~te], Y[~te]).predict(X[te])
    model, data = squareform(pdist(pred, "correlation")), squareform(pdist(Y[te], "correlation"))
    assert float(res["score"]) == pytest.approx(_spearman_on_draws(model, data, np.arange(te.sum())), abs=1e-12)
    for b, idx in enumerate(res["boot_index"].values):
        assert float(res["score_boot"][b]) == pytest.approx(_spearman_on_draws(model, data, idx), abs=1e-12)


def test_cka_bootstrap_matches_formula():
    rng = np.random.default_rng(3)
    ids = [f"s{i:02d}" for i in range(25)]
    X, Y = rng.normal(size=(25, 6)), rng.normal(size=(25, 4))
    Y[:, 0] += X[:, 0]
    res = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=20, seed=5, n_perm=30)
    assert float(res["cka"]) == pytest.approx(float(nx.cka(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids))))
    i = res["boot_index"].values[7]
    Xr, Yr = X[i] - X[i].mean(0), Y[i] - Y[i].mean(0)
    exp = np.linalg.norm(Yr.T @ Xr) ** 2 / (np.linalg.norm(Xr.T @ Xr) * np.linalg.norm(Yr.T @ Yr))
    assert float(res["cka_boot"][7]) == pytest.approx(exp, rel=1e-10)
    assert 0 < float(res["p"]) <= 1


def test_ersa_bootstrap_point_equals_ersa_test_score():
    from neuroxr.geometry.inference import ersa_bootstrap

    F, R = _ersa_study(80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ersa_bootstrap(F, R, n_boot=40, n_perm=19, split_seed=2)
        ref = float(nx.ersa(F, R, seed=2)["test_score"])  # ersa's defaults
    assert float(res["score"]) == pytest.approx(ref, abs=1e-12)
    pearson = ersa_bootstrap(F, R, n_boot=4, split_seed=2, compare_method="pearson")
    assert float(pearson["score"]) == pytest.approx(float(nx.ersa(F, R, compare_method="pearson", seed=2)["test_score"]), abs=1e-12)
    assert res.attrs["n_test"] == 40 and res.sizes["stimulus"] == 40
    assert 1 / 20 <= float(res["p"]) <= 1


# ---------------------------------------------------------------------------- shape metrics
@pytest.mark.parametrize(
    "alpha, score_method, px, py, center",
    [(1.0, "angular", 4, 4, True), (0.5, "euclidean", 3, 5, True), (0.0, "angular", 5, 3, False)],
)
def test_shape_bootstrap_equals_a_linearmetric_loop_on_the_same_resamples(alpha, score_method, px, py, center):
    from neuroxr.geometry import LinearMetric
    from neuroxr.geometry.inference import shape_bootstrap

    rng = np.random.default_rng(7)
    Z = rng.normal(size=(25, 3))
    X = Z @ rng.normal(size=(3, px)) + 0.3 * rng.normal(size=(25, px))
    Y = Z @ rng.normal(size=(3, py)) + 0.3 * rng.normal(size=(25, py))
    res = shape_bootstrap(X, Y, alpha=alpha, score_method=score_method, center_columns=center, n_boot=12, seed=3, n_perm=9)
    idx = res["boot_index"].values
    np.testing.assert_array_equal(idx, rs.bootstrap_indices(25, 12, 3))

    def fit_distance(A, B):
        return LinearMetric(alpha=alpha, score_method=score_method, center_columns=center).fit_distance(A, B)

    np.testing.assert_allclose(res["distance_boot"], [fit_distance(X[i], Y[i]) for i in idx], atol=1e-8)
    assert float(res["distance"]) == pytest.approx(fit_distance(X, Y))
    perms = rs.permutation_indices(25, 9, 3)
    null = [fit_distance(X, Y[p]) for p in perms]
    np.testing.assert_allclose(res["distance_null"], null, atol=1e-8)
    assert float(res["p"]) == pytest.approx((1 + np.sum(np.array(null) <= float(res["distance"]))) / 10)
    boot, d = res["distance_boot"].values, float(res["distance"])
    assert float(res["distance_bias"]) == pytest.approx(boot.mean() - d)
    np.testing.assert_allclose(res["distance_ci"], d + np.quantile(boot - boot.mean(), [0.025, 0.975]))  # centred


def test_shape_bootstrap_matches_netrep_and_pairs_by_stimulus_id():
    netrep = pytest.importorskip("netrep.metrics")
    from neuroxr.geometry.inference import shape_bootstrap

    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(N, 4)), rng.normal(size=(N, 4)) + 0.2
    fx = nx.features(X, stimulus_id=IDS)
    perm = rng.permutation(N)
    fy = nx.features(Y[perm], stimulus_id=np.array(IDS)[perm])
    res = shape_bootstrap(fx, fy, alpha=1.0, n_boot=5, seed=1)
    for b, i in enumerate(res["boot_index"].values):
        ref = netrep.LinearMetric(alpha=1.0, center_columns=True, score_method="angular").fit_score(X[i], Y[i])
        assert float(res["distance_boot"][b]) == pytest.approx(ref, abs=1e-6)
    np.testing.assert_array_equal(res["stimulus_id"], IDS)


def test_shape_bootstrap_bad_input():
    from neuroxr.geometry.inference import shape_bootstrap

    with pytest.raises(LayoutError, match="same stimuli"):  # as LinearMetric's
        shape_bootstrap(np.ones((5, 2)), np.ones((6, 2)))
    with pytest.raises(ParameterError, match="alpha"):
        shape_bootstrap(np.ones((5, 2)), np.ones((5, 2)), alpha=2.0)
    with pytest.raises(ParameterError, match=r"^shape_bootstrap: method='bca' is not offered: .*infinite; pass method='centred'"):
        shape_bootstrap(np.ones((5, 2)), np.ones((5, 2)), method="bca")
    with pytest.raises(ParameterError, match=r"^shape_bootstrap: method must be one of \('centred', 'percentile', 'basic'\)"):
        shape_bootstrap(np.ones((5, 2)), np.ones((5, 2)), method="BCa")


def _few_stimuli_many_units(seed):
    """60 stimuli, 20 and 15 units, half the units shared: resampled fit distances all lie below the estimate."""
    g = np.random.default_rng(seed)
    X = g.normal(size=(60, 20))
    return X, X[:, :10] @ g.normal(size=(10, 15)) + g.normal(size=(60, 15))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shape_bootstrap_interval_contains_its_estimate(seed):
    """The resamples' fit distances are biased low (fewer distinct stimuli), below the estimate: the
    plain percentile interval excludes it, the default (centred) interval holds it, shifted by the bias."""
    X, Y = _few_stimuli_many_units(seed)
    res = shape_bootstrap(X, Y, n_boot=100, seed=seed)
    d, boot, (lo, hi) = float(res["distance"]), res["distance_boot"].values, res["distance_ci"].values
    assert lo < d < hi and res.attrs["method"] == "centred"
    assert float(res["distance_bias"]) == pytest.approx(boot.mean() - d) and float(res["distance_bias"]) < 0
    pct = shape_bootstrap(X, Y, n_boot=100, seed=seed, method="percentile")["distance_ci"].values
    assert pct[1] < d  # why: every resample below the estimate
    np.testing.assert_allclose(pct - float(res["distance_bias"]), [lo, hi])


@pytest.mark.parametrize("method", ["percentile", "basic", "centred"])
def test_shape_bootstrap_intervals_match_scipy_bootstrap_on_the_same_draws(method):
    """scipy draws the same positions (``default_rng([seed, 0])``) and fits each resample with
    LinearMetric; percentile and basic are scipy's methods, centred is scipy's percentile interval of
    its resamples shifted by their mean minus the estimate. scipy's BCa is NaN here (infinite bias
    correction), which is why shape_bootstrap does not offer it."""
    from neuroxr.geometry import LinearMetric

    X, Y = _few_stimuli_many_units(0)
    n_boot, seed, metric = 60, 4, LinearMetric(alpha=1.0)

    def stat(i, axis=-1):
        rows = np.atleast_2d(i)
        out = np.array([metric.fit_distance(X[r], Y[r]) for r in rows])
        return out if np.ndim(i) > 1 else out[0]

    def scipy_ci(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ss.bootstrap((np.arange(60),), stat, vectorized=True, n_resamples=n_boot, method=m, confidence_level=0.9,
                                rng=np.random.default_rng([seed, 0]))

    res = shape_bootstrap(X, Y, n_boot=n_boot, seed=seed, level=0.9, method=method)
    ref = scipy_ci("percentile" if method == "centred" else method)
    np.testing.assert_allclose(res["distance_boot"], ref.bootstrap_distribution, atol=1e-8)
    want = [ref.confidence_interval.low, ref.confidence_interval.high]
    if method == "centred":
        want = np.array(want) - (ref.bootstrap_distribution.mean() - stat(np.arange(60)))
    np.testing.assert_allclose(res["distance_ci"], want, atol=1e-8)
    if method == "percentile":
        bca = scipy_ci("BCa").confidence_interval
        assert np.isnan([bca.low, bca.high]).all()


# ---------------------------------------------------------------------------- pairing and missing pairs
def _labeled(M, order):
    """``M`` (canonical order ``IDS``) relabeled with its rows and columns in ``order``."""
    return as_rdm(M[np.ix_(order, order)], stimulus_id=[IDS[i] for i in order])


def test_rsa_inference_pairs_rdms_by_stimulus_id(rdms):
    model, data = rdms
    rng = np.random.default_rng(7)
    canon = np.arange(N)
    m_perm, d_perm = _labeled(model, rng.permutation(N)), [_labeled(x, rng.permutation(N)) for x in data]
    m, d = _labeled(model, canon), [_labeled(x, canon) for x in data]
    for a, b in ((m_perm, d), (m, d_perm), (m_perm, d_perm)):
        for method in ("corr", "spearman"):
            ref = rsa_permutation(m, d, method=method, n_perm=20, seed=3)
            got = rsa_permutation(a, b, method=method, n_perm=20, seed=3)
            np.testing.assert_allclose(got["score_null"], ref["score_null"], rtol=1e-12)
            assert float(got["score"]) == pytest.approx(float(ref["score"]), rel=1e-12)
        np.testing.assert_allclose(rsa_bootstrap(a, b, n_boot=10)["score_boot"], rsa_bootstrap(m, d, n_boot=10)["score_boot"],
                                   rtol=1e-12)
    # columns labeled in another order than the rows (a DataArray RDM as any other code may build it)
    o = rng.permutation(N)
    mixed = as_rdm(model, stimulus_id=IDS).isel(stimulus_=o)
    assert float(rsa_permutation(mixed, d, n_perm=5)["score"]) == pytest.approx(float(rsa_permutation(m, d, n_perm=5)["score"]))


def test_rsa_inference_leaves_out_nan_pairs_and_counts_them(rdms):
    """The NaN rule of compare_rdms: incomplete pairs are left out (and counted), never NaN results."""
    model, data = rdms
    model = model.copy()
    model[3, :] = model[:, 3] = np.nan  # a stimulus with a constant pattern: NaN correlation distances
    model[3, 3] = 0.0
    m, d = as_rdm(model, stimulus_id=IDS), as_rdm(data[0], stimulus_id=IDS)
    iu = np.triu_indices(N, 1)
    keep = ~np.isnan(model[iu])
    with pytest.warns(nx.NeuroxrWarning, match=f"{N - 1} of {iu[0].size} stimulus pairs"):
        boot = rsa_bootstrap(m, d, n_boot=6, seed=1)
    assert float(boot["score"]) == pytest.approx(ss.pearsonr(model[iu][keep], data[0][iu][keep])[0], abs=1e-12)
    # one resample by hand: the pairs of distinct draws, without the NaN ones (rsatoolbox's sampling)
    idx = boot["boot_index"].values[2]
    ii, jj = np.triu_indices(N, 1)
    a, b = model[np.ix_(idx, idx)][ii, jj], data[0][np.ix_(idx, idx)][ii, jj]
    ok = (idx[ii] != idx[jj]) & ~np.isnan(a)
    assert float(boot["score_boot"][2]) == pytest.approx(ss.pearsonr(a[ok], b[ok])[0], abs=1e-10)
    with pytest.warns(nx.NeuroxrWarning, match="stimulus pairs have a NaN"):
        perm = rsa_permutation(m, d, method="spearman", n_perm=10, seed=2)
    with pytest.warns(nx.NeuroxrWarning, match="compare_rdms: 19 of 190"):
        assert float(perm["score"]) == pytest.approx(float(nx.compare_rdms(m, d, "spearman")), abs=1e-12)
    p = rs.permutation_indices(N, 10, 2)[4]
    v = model[np.ix_(p, p)][iu]
    assert float(perm["score_null"][4]) == pytest.approx(ss.spearmanr(v[~np.isnan(v)], data[0][iu][~np.isnan(v)])[0],
                                                          abs=1e-12)
    assert np.isfinite(boot["score_boot"].values).all() and np.isfinite(perm["score_null"].values).all()


def test_cka_bootstrap_refuses_unpaired_stimuli():
    rng = np.random.default_rng(1)
    ids = [f"s{i:02d}" for i in range(30)]
    a = nx.features(rng.normal(size=(30, 4)), stimulus_id=ids)
    with pytest.raises(LayoutError, match=r"^cka_bootstrap: Cannot pair by stimulus_id: 10 stimulus ids of a \(features\) are missing in b \(features\)"):
        cka_bootstrap(a, a.isel(stimulus=slice(0, 20)), n_boot=5)
    with pytest.raises(LayoutError, match="^cka_bootstrap: Cannot pair by stimulus_id"):
        cka_bootstrap(a, nx.features(rng.normal(size=(30, 4)), stimulus_id=[f"t{i}" for i in range(30)]), n_boot=5)


# ---------------------------------------------------------------------------- unlabeled (NumPy) RDMs
def _numpy_rdms(n=40, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 4))
    X = Z @ rng.normal(size=(4, 15)) + rng.normal(size=(n, 15))
    Y = Z @ rng.normal(size=(4, 8)) + rng.normal(size=(n, 8))
    model = squareform(pdist(X, "correlation"))
    subs = [squareform(pdist(Y + 0.5 * rng.normal(size=Y.shape), "correlation")) for _ in range(3)]
    return model, subs


def test_rsa_inference_numpy_rdms_keep_their_order():
    """More than 10 stimuli: unlabeled data RDMs pair with the model RDM's rows as given, not with its
    ids sorted as strings ("0", "1", "10", ...); the score is rsatoolbox's comparison of the arrays."""
    rt = pytest.importorskip("rsatoolbox")
    model, subs = _numpy_rdms()
    n = model.shape[0]
    iu = np.triu_indices(n, 1)
    ref = np.mean([rt.rdm.compare(rt.rdm.RDMs(model[iu][None]), rt.rdm.RDMs(s[iu][None]), "corr")[0, 0] for s in subs])
    assert np.mean([nx.compare_rdms(model, s, method="pearson") for s in subs]) == pytest.approx(ref, abs=1e-12)
    for data in (subs, np.stack(subs), [s[iu] for s in subs]):
        assert float(rsa_permutation(model, data, n_perm=5)["score"]) == pytest.approx(ref, abs=1e-12)
        assert float(rsa_bootstrap(model, data, n_boot=5)["score"]) == pytest.approx(ref, abs=1e-12)
    # the resampled scores too: draws on canonical positions of "0".."39", the same rows of every RDM
    boot = rsa_bootstrap(model, subs, n_boot=4, seed=1, noise_ceiling=False)
    idx = boot["boot_index"].values[0]
    pos = np.asarray(boot["stimulus_id"].values).astype(int)[idx]  # the drawn rows of the input arrays
    a = model[np.ix_(pos, pos)][iu]
    ok = pos[iu[0]] != pos[iu[1]]
    want = np.mean([ss.pearsonr(a[ok], s[np.ix_(pos, pos)][iu][ok])[0] for s in subs])
    assert float(boot["score_boot"][0]) == pytest.approx(want, abs=1e-10)


def test_rsa_inference_labeled_model_with_numpy_data():
    """A labeled model RDM whose ids are not in sorted order: NumPy data RDMs take its order as given."""
    rt = pytest.importorskip("rsatoolbox")
    model, subs = _numpy_rdms(seed=1)
    n = model.shape[0]
    iu = np.triu_indices(n, 1)
    ids = [f"stimulus{i}" for i in range(n)]  # "stimulus10" sorts before "stimulus2"
    ref = np.mean([rt.rdm.compare(rt.rdm.RDMs(model[iu][None]), rt.rdm.RDMs(s[iu][None]), "corr")[0, 0] for s in subs])
    m = as_rdm(model, stimulus_id=ids)
    assert np.mean([nx.compare_rdms(m, s, method="pearson") for s in subs]) == pytest.approx(ref, abs=1e-12)
    assert float(rsa_permutation(m, subs, n_perm=5)["score"]) == pytest.approx(ref, abs=1e-12)
    assert float(rsa_bootstrap(m, subs, n_boot=5)["score"]) == pytest.approx(ref, abs=1e-12)
    # the other way round: a NumPy model RDM in the order of labeled data RDMs
    d = [as_rdm(s, stimulus_id=ids) for s in subs]
    assert float(rsa_permutation(model, d, n_perm=5)["score"]) == pytest.approx(ref, abs=1e-12)
    assert float(rsa_bootstrap(model, d, n_boot=5)["score"]) == pytest.approx(ref, abs=1e-12)
    with pytest.raises(LayoutError, match="model_rdm: an RDM without stimulus ids has 39 stimuli"):
        rsa_permutation(model[:39, :39], d, n_perm=5)


def test_rdm_stack_with_numpy_member_takes_labeled_order():
    """A list mixing a labeled RDM (ids not in sorted order) and NumPy RDMs: the NumPy ones list the
    stimuli of the labeled one as given (rdm_noise_ceiling computed on the plain arrays)."""
    from neuroxr.geometry import rdm_noise_ceiling

    _, subs = _numpy_rdms(seed=2)
    ids = [f"stimulus{i}" for i in range(subs[0].shape[0])]
    ref = rdm_noise_ceiling(np.stack(subs), "pearson")
    got = rdm_noise_ceiling([as_rdm(subs[0], stimulus_id=ids), subs[1], subs[2]], "pearson")
    assert float(got["lower"]) == pytest.approx(float(ref["lower"]), abs=1e-12)
    assert float(got["upper"]) == pytest.approx(float(ref["upper"]), abs=1e-12)


def test_rsa_inference_mixed_data_rdms_take_the_labeled_ones_order():
    """A NumPy model RDM with data RDMs mixing NumPy and labeled ones (the labeled one not first): every
    unlabeled RDM lists the stimuli of the first labeled RDM as given; labeled RDMs in another order
    are paired by stimulus_id."""
    model, subs = _numpy_rdms(seed=3)
    n = model.shape[0]
    ids = np.asarray([f"stimulus{i}" for i in range(n)])  # not in sorted order
    perm = np.random.default_rng(0).permutation(n)
    lab = as_rdm(subs[1], stimulus_id=ids)
    lab_shuffled = lab.isel(stimulus=perm, stimulus_=perm)
    want_b = float(rsa_bootstrap(as_rdm(model, stimulus_id=ids), [as_rdm(subs[0], stimulus_id=ids), lab], n_boot=5)["score"])
    want_p = float(rsa_permutation(as_rdm(model, stimulus_id=ids), [as_rdm(subs[0], stimulus_id=ids), lab],
                                   n_perm=5)["score"])
    assert float(rsa_bootstrap(model, [subs[0], lab], n_boot=5)["score"]) == pytest.approx(want_b, abs=1e-12)
    assert float(rsa_permutation(model, [subs[0], lab], n_perm=5)["score"]) == pytest.approx(want_p, abs=1e-12)
    # a second labeled RDM in another stimulus order is paired by id, not by position
    got = rsa_bootstrap(model, [subs[0], lab, lab_shuffled], n_boot=5)
    want = rsa_bootstrap(as_rdm(model, stimulus_id=ids), [as_rdm(subs[0], stimulus_id=ids), lab, lab], n_boot=5)
    assert float(got["score"]) == pytest.approx(float(want["score"]), abs=1e-12)
    with pytest.raises(LayoutError, match=r"data_rdms\[0\]: an RDM without stimulus ids has 39 stimuli but model_rdm has 40"):
        rsa_bootstrap(as_rdm(model, stimulus_id=ids), [subs[0][:39, :39], lab], n_boot=5)
    with pytest.raises(LayoutError, match=r"model_rdm: an RDM without stimulus ids has 39 stimuli but data_rdms\[1\] has 40"):
        rsa_bootstrap(model[:39, :39], [subs[0], lab], n_boot=5)


def test_compare_rdms_many_mixed_inputs_take_the_first_labeled_order():
    """compare_rdms_many: unlabeled RDMs on either side list the stimuli of the first labeled RDM (a, then b)."""
    model, subs = _numpy_rdms(seed=4)
    n = model.shape[0]
    ids = np.asarray([f"stimulus{i}" for i in range(n)])
    perm = np.random.default_rng(1).permutation(n)
    lab = as_rdm(subs[1], stimulus_id=ids)
    want = nx.compare_rdms_many([as_rdm(model, stimulus_id=ids)], [as_rdm(subs[0], stimulus_id=ids), lab])
    np.testing.assert_allclose(nx.compare_rdms_many([model], [subs[0], lab]).values, want.values, atol=1e-12)
    # a's own labeled RDM orders a's NumPy RDM, whatever the order of b's labeled RDM
    got = nx.compare_rdms_many([model, lab], [lab.isel(stimulus=perm, stimulus_=perm)])
    want = nx.compare_rdms_many([as_rdm(model, stimulus_id=ids), lab], [lab])
    np.testing.assert_allclose(got.values, want.values, atol=1e-12)
    with pytest.raises(LayoutError, match=r"b\[0\]: an RDM without stimulus ids has 39 stimuli but a\[1\] has 40"):
        nx.compare_rdms_many([model, lab], [subs[0][:39, :39]])


@pytest.mark.parametrize("call, who", [
    (lambda F, R: crsa_bootstrap(F, R, n_boot=5), "crsa_bootstrap: neural"),
    (lambda F, R: crsa_bootstrap(F, [R.isel(time_bin=0), R], n_boot=5), r"crsa_bootstrap: neural\[1\] \(neural\)"),
    (lambda F, R: cka_bootstrap(F, R, n_boot=5), r"cka_bootstrap: b \(neural\)"),
    (lambda F, R: cka_bootstrap(R, F, n_boot=5), r"cka_bootstrap: a \(neural\)"),
    (lambda F, R: ersa_bootstrap(F, R, n_boot=5), "ersa_bootstrap: neural"),
    (lambda F, R: shape_bootstrap(F, R, n_boot=5), r"shape_bootstrap: Y \(neural\)"),
])
def test_inference_refuses_time_resolved_responses(call, who):
    """Named by the function called and its argument, with the array's own name ("neural") where it differs."""
    from conftest import time_sets

    F, A, _ = time_sets()
    with pytest.raises(LayoutError, match=rf"^{who} is time-resolved \(dim 'time_bin', 3 bins\).*isel\(time_bin=0\)") as e:
        call(F, A)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("call, bad, accepts", [
    (lambda F, R: crsa_bootstrap(F, R, reps=2), "^crsa_bootstrap takes no option 'reps'; ", ("compare_method", "n_boot", "over")),
    (lambda F, R: crsa_bootstrap(F, R, method="corr"), "^crsa_bootstrap takes no option 'method'; ", ("compare_method",)),
    (lambda F, R: ersa_bootstrap(F, R, n_folds=5, reps=1), "^ersa_bootstrap takes no options 'n_folds', 'reps'; ",
     ("alpha", "split_seed", "n_boot", "nan_policy")),
    (lambda F, R: ersa_bootstrap(F, R, noise_ceiling=False), "^ersa_bootstrap takes no option 'noise_ceiling'; ", ("n_perm",)),
])
def test_rsa_bootstraps_refuse_unknown_options(call, bad, accepts):
    """An option neither crsa_bootstrap / ersa_bootstrap nor the rsa_bootstrap they call takes: one
    line naming the function, the option and the accepted ones (it was Python's TypeError naming
    rsa_bootstrap)."""
    from conftest import time_sets

    F, A, _ = time_sets()
    with pytest.raises(ParameterError, match=bad) as e:
        call(F, A.isel(time_bin=0))
    msg = str(e.value)
    accepted = msg.split("it accepts ", 1)[1].split(" (")[0].rstrip(".").split(", ")
    assert "\n" not in msg and set(accepts) <= set(accepted)
    assert "method" not in accepted  # they set rsa_bootstrap's method (from compare_method)


# ---------------------------------------------------------------------------- given draws, subject order
def test_bootstrap_indices_are_checked_and_set_n_boot(rdms):
    """``indices`` set the resamples: a different ``n_boot``, an unused ``seed``, ``over='subjects'``
    and indices of the wrong shape or range are one-line errors before anything is computed."""
    model, data = rdms
    m, d = as_rdm(model, stimulus_id=IDS), [as_rdm(x, stimulus_id=IDS) for x in data]
    idx = np.random.default_rng(0).integers(0, N, (10, N))
    assert rsa_bootstrap(m, d, indices=idx).sizes["boot"] == 10
    assert rsa_bootstrap(m, d, indices=idx, n_boot=10).sizes["boot"] == 10
    assert rsa_bootstrap(m, d, indices=idx, seed=4, over="both").sizes["boot"] == 10  # seed draws the subjects
    assert rsa_bootstrap(m, d).sizes["boot"] == 1000
    X = nx.features(np.random.default_rng(1).normal(size=(N, 4)), IDS)
    Y = nx.features(np.random.default_rng(2).normal(size=(N, 3)), IDS)
    assert shape_bootstrap(X, Y, indices=idx, seed=4, n_perm=3).sizes["boot"] == 10  # seed draws the permutations
    for call, who in ((lambda **kw: rsa_bootstrap(m, d, **kw), "rsa_bootstrap"), (lambda **kw: shape_bootstrap(X, Y, **kw), "shape_bootstrap")):
        with pytest.raises(ParameterError, match=rf"^{who}: n_boot=500 but indices holds 10 resamples; drop n_boot"):
            call(indices=idx, n_boot=500)
        with pytest.raises(ParameterError, match=rf"^{who}: seed=5 has no effect with indices"):
            call(indices=idx, seed=5)
        with pytest.raises(ParameterError, match=rf"^{who}: indices must be an int array \(n_boot, 20\) .*got int64 of shape \(10, 12\)"):
            call(indices=idx[:, :12])
        with pytest.raises(ParameterError, match=rf"^{who}: indices must be .*; got values 1\.\.20\."):
            call(indices=np.clip(idx + 1, 1, N))
    with pytest.raises(ParameterError, match=r"^rsa_bootstrap: indices has no effect with over='subjects' .* or pass over='both'"):
        rsa_bootstrap(m, d, indices=idx, over="subjects")


@pytest.mark.parametrize("over", ["subjects", "both"])
def test_subject_draws_follow_the_subjects_labels(rdms, over):
    """Labeled subjects (distinct names) are drawn in the order of their labels, not of the list."""
    model, data = rdms
    m = as_rdm(model, stimulus_id=IDS)
    named = [as_rdm(x, name, stimulus_id=IDS) for x, name in zip(data, "abc")]
    a = rsa_bootstrap(m, named, over=over, n_boot=50, seed=1)
    b = rsa_bootstrap(m, [named[2], named[0], named[1]], over=over, n_boot=50, seed=1)
    np.testing.assert_allclose(b["score_boot"].values, a["score_boot"].values, rtol=1e-12)
    stack = xr.concat(named[::-1], "rdm").assign_coords(rdm=["c", "b", "a"])
    np.testing.assert_allclose(rsa_bootstrap(m, stack, over=over, n_boot=50, seed=1)["score_boot"].values,
                               a["score_boot"].values, rtol=1e-12)
    # crsa_bootstrap: each neural set's name labels its RDM
    F = nx.features(np.random.default_rng(3).normal(size=(N, 6)), IDS)
    sets = [nx.neural(np.random.default_rng(s).normal(size=(N, 4, 2)), IDS).rename(nm) for s, nm in ((4, "x"), (5, "y"))]
    np.testing.assert_allclose(crsa_bootstrap(F, sets, over=over, n_boot=30)["score_boot"].values,
                               crsa_bootstrap(F, sets[::-1], over=over, n_boot=30)["score_boot"].values, rtol=1e-12)


def test_a_subject_left_out_of_a_resample_does_not_make_it_undefined():
    """over="both" / "subjects": a resample's score is the mean over the subjects it draws; a subject it
    does not draw, undefined on its stimuli (fewer than 3 complete pairs), made it NaN (0 * NaN)."""
    n, S, B, seed = 6, 3, 40, 0
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(n)]
    X = rng.normal(size=(n, 5))
    A = squareform(pdist(X))
    data = [squareform(pdist(X + rng.normal(size=(n, 5)))) for _ in range(S)]
    iu = np.triu_indices(n, 1)
    data[2][iu[0][3:], iu[1][3:]] = data[2][iu[1][3:], iu[0][3:]] = np.nan  # subject 2: 3 complete pairs
    named = {f"sub{i}": as_rdm(d, stimulus_id=ids) for i, d in enumerate(data)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ds = rsa_bootstrap(as_rdm(A, stimulus_id=ids), named, n_boot=B, seed=seed, over="both", nan_policy="omit",
                           noise_ceiling=False)
    subjects = np.random.default_rng([seed, 1]).integers(0, S, size=(B, S))  # documented: default_rng([seed, 1])

    def score(ix, s):  # the pairs of distinct draws complete in both RDMs; undefined below 3 distinct ones
        keep = (ix[iu[0]] != ix[iu[1]]) & ~np.isnan(data[s][ix[iu[0]], ix[iu[1]]])
        distinct = {(min(a, b), max(a, b)) for a, b in zip(ix[iu[0]][keep], ix[iu[1]][keep])}
        va, vb = A[ix[iu[0]], ix[iu[1]]][keep], data[s][ix[iu[0]], ix[iu[1]]][keep]
        return ss.pearsonr(va, vb)[0] if len(distinct) >= 3 else np.nan

    ref = np.array([np.mean([score(ix, s) for s in sj]) for ix, sj in zip(ds["boot_index"].values, subjects)])
    assert 0 < np.isnan(ref).sum() < B  # some resamples draw subject 2 on too few pairs, others do not
    np.testing.assert_allclose(ds["score_boot"].values, ref, rtol=1e-10)
    assert int(ds["n_boot_undefined"]) == np.isnan(ref).sum()
    data[2][:] = np.nan  # undefined on every sample: over="subjects" scores the draws without it
    np.fill_diagonal(data[2], 0.0)
    named["sub2"] = as_rdm(data[2], stimulus_id=ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ds = rsa_bootstrap(as_rdm(A, stimulus_id=ids), named, n_boot=B, seed=seed, over="subjects", nan_policy="omit",
                           noise_ceiling=False)
    full = [ss.pearsonr(A[iu], data[s][iu])[0] for s in range(2)] + [np.nan]
    np.testing.assert_allclose(ds["score_boot"].values, [np.mean([full[s] for s in sj]) for sj in subjects], rtol=1e-10)


def test_a_stack_of_rdms_along_any_dim_is_taken_as_along_rdm(rdms):
    """A stacked DataArray is the stack along its first dim, whatever its name (``subject``), as
    compare_rdms_many and rdm_noise_ceiling take it; it was a raw xarray ValueError / KeyError."""
    model, data = rdms
    m = as_rdm(model, stimulus_id=IDS)
    named = [as_rdm(x, name, stimulus_id=IDS) for x, name in zip(data, "abc")]
    by_rdm = xr.concat(named, "rdm").assign_coords(rdm=list("abc"))
    by_subject = by_rdm.rename(rdm="subject")
    for over in ("stimuli", "subjects"):
        np.testing.assert_allclose(rsa_bootstrap(m, by_subject, over=over, n_boot=20)["score_boot"].values,
                                   rsa_bootstrap(m, by_rdm, over=over, n_boot=20)["score_boot"].values, rtol=1e-12)
    np.testing.assert_allclose(rsa_permutation(m, by_subject, n_perm=20)["score_null"].values,
                               rsa_permutation(m, by_rdm, n_perm=20)["score_null"].values, rtol=1e-12)


def test_a_stack_not_led_by_its_stack_dim_is_refused(rdms):
    """Neural data or a stack with its dims in another order is not a stack of RDMs: one line naming
    the argument and its dims (rdm_noise_ceiling took neural data as one 'RDM' per stimulus)."""
    model, data = rdms
    stack = xr.concat([as_rdm(x, stimulus_id=IDS) for x in data], "rdm")
    neu = nx.neural(np.random.default_rng(1).normal(size=(N, 4, 3)), IDS)
    with pytest.raises(LayoutError, match=r"^rdm_noise_ceiling: rdms: a stack of RDMs needs dims \(rdm, stimulus, "
                                          r"stimulus_\).*found \('stimulus', 'neuroid', 'repeat'\)"):
        nx.rdm_noise_ceiling(neu)
    with pytest.raises(LayoutError, match=r"^rsa_bootstrap: data_rdms: a stack of RDMs needs dims"):
        rsa_bootstrap(as_rdm(model, stimulus_id=IDS), stack.transpose("stimulus", "stimulus_", "rdm"), n_boot=5)


# ---------------------------------------------------------------------------- NaN pairs per subject
_PLAIN = {"corr": "pearson", "cosine": "cosine", "spearman": "spearman"}


def _with_nan(rdms, where):
    """The model and named subject RDMs (labeled), with a NaN pair in one subject only, in the model
    only, or at different pairs of the model and of each subject (``None``: none)."""
    model, data = rdms
    model, data = model.copy(), [x.copy() for x in data]

    def put(M, i, j):
        M[i, j] = M[j, i] = np.nan

    if where in ("subject", "each"):
        put(data[1], 2, 7)
    if where in ("model", "each"):
        put(model, 0, 5)
    if where == "each":
        put(data[0], 3, 4), put(data[0], 3, 9), put(data[2], 11, 12)
    return as_rdm(model, stimulus_id=IDS), [as_rdm(x, f"sub{i}", stimulus_id=IDS) for i, x in enumerate(data)]


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
@pytest.mark.parametrize("where", ["subject", "model", "each"])
def test_rsa_inference_compares_each_subject_on_its_own_complete_pairs(rdms, method, where):
    """A pair NaN in one subject's RDM is left out of that subject's comparison only (compare_rdms's
    rule, subject by subject), and the ceiling follows rdm_noise_ceiling's rule (the model's NaN pairs
    play no part in it): the point estimates are the plain calls', each subject's resamples and null
    values those of the subject alone. A pair NaN in any RDM was left out of every comparison."""
    m, d = _with_nan(rdms, where)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = [nx.compare_rdms(m, x, _PLAIN[method]) for x in d]
        nc = nx.rdm_noise_ceiling(d, _PLAIN[method])
        boot = rsa_bootstrap(m, d, method=method, n_boot=30, seed=4)
        alone = [rsa_bootstrap(m, x, method=method, indices=boot["boot_index"].values) for x in d]
        perm = rsa_permutation(m, d, method=method, n_perm=30, seed=4)
        perm_alone = [rsa_permutation(m, x, method=method, n_perm=30, seed=4) for x in d]
        clean = rsa_bootstrap(as_rdm(rdms[0], stimulus_id=IDS), d, method=method, n_boot=30, seed=4)
    plain = np.mean([float(r) for r in ref])
    assert float(boot["score"]) == pytest.approx(plain, abs=1e-12)
    assert float(perm["score"]) == pytest.approx(plain, abs=1e-12)
    assert boot.attrs["n_pairs_dropped"] == perm.attrs["n_pairs_dropped"] == sum(r.attrs["n_pairs_dropped"] for r in ref)
    np.testing.assert_allclose(boot["score_boot"], np.mean([a["score_boot"] for a in alone], axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(perm["score_null"], np.mean([p["score_null"] for p in perm_alone], axis=0), rtol=0, atol=1e-12)
    assert float(boot["noise_lower"]) == pytest.approx(float(nc["lower"]), abs=1e-12)
    assert float(boot["noise_upper"]) == pytest.approx(float(nc["upper"]), abs=1e-12)
    if where == "model":  # the model's NaN pairs leave the ceiling as it is
        for k in ("noise_lower_boot", "noise_upper_boot"):
            np.testing.assert_allclose(boot[k], clean[k], rtol=0, atol=1e-12)
    if where == "subject":
        with pytest.warns(nx.NeuroxrWarning, match=rf"^rsa_bootstrap: 1 of {S * N * (N - 1) // 2} stimulus pairs"):
            rsa_bootstrap(m, d, method=method, n_boot=2)


def _resampled(x, idx):
    """``x`` (square, canonical order) on the draws ``idx``: a stimulus paired with its own copy NaN
    (rsatoolbox's pattern sampling keeps the pairs of distinct draws)."""
    R = np.asarray(x, dtype=float)[np.ix_(idx, idx)]
    R[idx[:, None] == idx[None, :]] = np.nan
    np.fill_diagonal(R, 0.0)
    return R


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
@pytest.mark.parametrize("where", [None, "subject", "each", "ties"])
def test_rsa_bootstrap_resamples_are_the_plain_calls_on_the_resampled_rdms(rdms, method, where):
    """Every resample is, subject by subject, compare_rdms of the resampled RDMs (spearman: the
    resampled model and subject re-ranked on their complete pairs, each pair as often as drawn) and,
    for the ceiling, rdm_noise_ceiling of the resampled subject RDMs (spearman: the resampled RDMs
    ranked, pooled and the pools ranked again); with complete data, NaN pairs, and tied
    dissimilarities (rounded, NaN pairs as ``"each"``)."""
    if where == "ties":
        m, d = _with_nan(tuple([np.round(rdms[0] * 2), [np.round(x * 2) for x in rdms[1]]]), "each")
    else:
        m, d = _with_nan(rdms, where)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = rsa_bootstrap(m, d, method=method, n_boot=6, seed=2)
        for b, idx in enumerate(boot["boot_index"].values):
            score = np.mean([float(nx.compare_rdms(_resampled(m.values, idx), _resampled(x.values, idx), _PLAIN[method]))
                             for x in d])
            assert float(boot["score_boot"][b]) == pytest.approx(score, abs=1e-12)
            nc = nx.rdm_noise_ceiling(np.stack([_resampled(x.values, idx) for x in d]), _PLAIN[method])
            assert float(boot["noise_lower_boot"][b]) == pytest.approx(float(nc["lower"]), abs=1e-12)
            assert float(boot["noise_upper_boot"][b]) == pytest.approx(float(nc["upper"]), abs=1e-12)


def test_rsa_inference_with_nan_pairs_does_not_depend_on_the_stimulus_order(rdms):
    """Every RDM listing the stimuli in its own order (NaN pairs at different pairs per subject) gives
    the numbers of the canonical order, the same seed drawing the same resamples and permutations."""
    m, d = _with_nan(rdms, "each")
    rng = np.random.default_rng(8)

    def shuffled(x):
        o = rng.permutation(N)
        return x.isel(stimulus=o, stimulus_=o)

    m2, d2 = shuffled(m), [shuffled(x) for x in d]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("corr", "spearman"):
            a, b = (rsa_bootstrap(mm, dd, method=method, n_boot=20, seed=5) for mm, dd in ((m, d), (m2, d2)))
            for k in ("score", "score_boot", "noise_lower_boot", "noise_upper_boot", "boot_index"):
                np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-12)
            a, b = (rsa_permutation(mm, dd, method=method, n_perm=20, seed=5) for mm, dd in ((m, d), (m2, d2)))
            np.testing.assert_allclose(b["score_null"], a["score_null"], rtol=0, atol=1e-12)
            assert float(b["score"]) == pytest.approx(float(a["score"]), abs=1e-12)


def test_rsa_bootstrap_spearman_ceiling_with_ties_and_pairs_of_one_subject(rdms):
    """Spearman's ceiling on tied RDMs (rounded dissimilarities) with a pair NaN in all subjects but
    one (that subject's lower bound leaves it out and re-ranks the rest): the point estimates and
    every resample are rdm_noise_ceiling's on the (resampled) RDMs."""
    _, data = rdms
    data = [np.round(x * 2) for x in data]
    for x in data[1:]:
        x[2, 7] = x[7, 2] = np.nan
    data[0][5, 6] = data[0][6, 5] = np.nan
    d = [as_rdm(x, f"sub{i}", stimulus_id=IDS) for i, x in enumerate(data)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = rsa_bootstrap(as_rdm(rdms[0], stimulus_id=IDS), d, method="spearman", n_boot=8, seed=3)
        for b, idx in enumerate([np.arange(N), *boot["boot_index"].values]):
            nc = nx.rdm_noise_ceiling(np.stack([_resampled(x, idx) for x in data]), "spearman")
            got = boot[["noise_lower", "noise_upper"]] if b == 0 else boot[["noise_lower_boot", "noise_upper_boot"]].isel(boot=b - 1)
            np.testing.assert_allclose(list(map(float, got.values())), [float(nc["lower"]), float(nc["upper"])], rtol=0, atol=1e-12)


def test_crsa_bootstrap_score_is_the_mean_of_the_plain_calls_when_one_set_lacks_a_stimulus():
    """A stimulus without trials in one subject was dropped from every subject's RDM (B's score moved from
    its plain crsa, 0.686 -> 0.666); now a missing pair of that subject only."""
    rng = np.random.default_rng(0)
    n, ids = 14, [f"s{i:02d}" for i in range(14)]
    F = rng.normal(size=(n, 10))
    signal = F @ rng.normal(size=(10, 8))
    feats = nx.features(F, stimulus_id=ids)
    sets = []
    for i, name in enumerate("ABC"):
        R = signal[:, :, None] + 2.0 * np.random.default_rng(10 + i).normal(size=(n, 8, 4))
        if name == "A":
            R[3] = np.nan  # s03: no trial in A
        sets.append(nx.neural(R, stimulus_id=ids, name=name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = crsa_bootstrap(feats, sets, n_boot=20, seed=0)
        plain = [float(nx.crsa(feats, x).score) for x in sets]
    assert float(boot.score) == pytest.approx(np.mean(plain), abs=1e-12)
    assert boot.attrs["n_excluded_stimuli"] == 1


def test_rsa_permutation_leaves_undefined_permutations_out_of_p_and_counts_them():
    """A subject RDM with few finite pairs and a model with a NaN row: a permutation moving the NaN
    pairs can leave the subject fewer than 3 complete pairs (its score undefined). Such permutations
    counted in p's denominator and never as extreme, so every one made p smaller (0.073 for 0.12 over
    the defined ones), with nothing said."""
    n, rng = 8, np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    ids = [f"s{i:02d}" for i in range(n)]
    model = squareform(pdist(X))
    data = squareform(pdist(X + 0.3 * rng.normal(size=(n, 4))))
    mask = np.full((n, n), np.nan)
    for i, j in [(0, 1), (0, 2), (1, 2), (0, 3)]:
        mask[i, j] = mask[j, i] = 1.0
    np.fill_diagonal(mask, 1.0)
    model[7, :] = model[:, 7] = np.nan
    model[7, 7] = 0.0
    with pytest.warns(nx.NeuroxrWarning, match=r"permutations leave a subject fewer than 3 complete pairs.*n_perm_undefined"):
        res = rsa_permutation(as_rdm(model, stimulus_id=ids), [as_rdm(data * mask, stimulus_id=ids)], n_perm=40, seed=0)
    null, obs = res.score_null.values, float(res.score)
    defined = null[np.isfinite(null)]
    assert 0 < res.attrs["n_perm_undefined"] == int(np.isnan(null).sum()) and np.isfinite(obs)
    assert float(res.p) == (1 + np.sum(defined >= obs - 1e-12)) / (1 + defined.size)


def test_rsa_bootstrap_with_indices_checks_its_seed_first_and_ersa_names_what_it_cannot_do(monkeypatch):
    """A bad seed with indices and over="both" was refused without the function's name, after every
    resample was evaluated; ersa_bootstrap(over="subjects") advised passing one RDM per subject, which
    it cannot take."""
    import neuroxr.geometry.inference as gi

    rng, n = np.random.default_rng(0), 12
    ids = [f"s{i:02d}" for i in range(n)]
    model = as_rdm(squareform(pdist(rng.normal(size=(n, 3)))), stimulus_id=ids)
    data = [as_rdm(squareform(pdist(rng.normal(size=(n, 3)))), stimulus_id=ids).rename(f"sub{i}") for i in range(3)]
    real = gi.evaluate

    def evaluate(W, *a, **k):  # the full sample (one row) is evaluated first; resamples only after the checks
        if W.shape[0] > 1:
            pytest.fail("resamples evaluated before the seed was checked")
        return real(W, *a, **k)

    monkeypatch.setattr(gi, "evaluate", evaluate)
    with pytest.raises(ParameterError, match=r"^rsa_bootstrap: seed must be an integer >= 0; got 1\.5"):
        rsa_bootstrap(model, data, indices=rng.integers(0, n, (5, n)), over="both", seed=1.5)
    monkeypatch.undo()
    F, R = nx.features(rng.normal(size=(n, 5)), ids), nx.neural(rng.normal(size=(n, 4, 3)), ids)
    with pytest.raises(ParameterError, match=r"ersa_bootstrap scores one neural set; pass over='stimuli'\.$"):
        ersa_bootstrap(F, R, over="subjects", n_boot=5)


def test_rsatoolbox_rdms_are_drawn_over_subjects_by_their_subject_descriptor():
    """An rsatoolbox RDMs object's subject labels were dropped (the stack read data_rdms#0, #1, ...), so
    over="subjects" drew by position: reordering the subjects moved score_boot by up to 0.145."""
    rsatoolbox = pytest.importorskip("rsatoolbox")
    n, rng = 14, np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    ids = [f"s{i:02d}" for i in range(n)]
    model = as_rdm(squareform(pdist(X)), stimulus_id=ids)
    data = np.stack([pdist(X + 1.5 * rng.normal(size=(n, 4))) for _ in range(4)])

    def rdms(order):
        return rsatoolbox.rdm.RDMs(data[order], pattern_descriptors={"stimulus": ids},
                                   rdm_descriptors={"subject": [f"sub{j}" for j in order]})

    for over in ("subjects", "both"):
        a = rsa_bootstrap(model, rdms([0, 1, 2, 3]), n_boot=20, seed=1, over=over)
        b = rsa_bootstrap(model, rdms([2, 0, 3, 1]), n_boot=20, seed=1, over=over)
        np.testing.assert_array_equal(a["score_boot"].values, b["score_boot"].values)


def test_a_dict_of_data_rdms_is_drawn_over_subjects_by_its_keys():
    """A dict's subjects were drawn in insertion order: the same RDMs inserted in another order
    moved score_boot (its keys are the subjects' labels, as the stacked rdm coord shows)."""
    n, rng = 14, np.random.default_rng(3)
    X = rng.normal(size=(n, 4))
    ids = [f"s{i:02d}" for i in range(n)]
    model = as_rdm(squareform(pdist(X)), stimulus_id=ids)
    data = {f"sub{j}": as_rdm(squareform(pdist(X + 1.5 * rng.normal(size=(n, 4)))), stimulus_id=ids) for j in range(4)}
    for over in ("subjects", "both"):
        a = rsa_bootstrap(model, data, n_boot=20, seed=1, over=over)
        b = rsa_bootstrap(model, {k: data[k] for k in ("sub2", "sub0", "sub3", "sub1")}, n_boot=20, seed=1, over=over)
        np.testing.assert_array_equal(a["score_boot"].values, b["score_boot"].values)


def test_shape_bootstrap_pairs_a_labeled_and_an_unlabeled_input_as_pairwise_distances_does():
    """One labeled input and one array: the array's rows list the labeled input's stimuli as given,
    both are resampled in the canonical order, so permuting the rows of both in step changes no
    number, and the result keeps stimulus_id (as with two labeled inputs)."""
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(25, 4)), rng.normal(size=(25, 3))
    ids = np.array([f"s{i:03d}" for i in range(25)])
    both = shape_bootstrap(nx.features(X, ids), nx.features(Y, ids), n_boot=40, n_perm=19, seed=1)
    perm = rng.permutation(25)
    for A, B in ((nx.features(X, ids), Y), (nx.features(X[perm], ids[perm]), Y[perm]), (X[perm], nx.features(Y[perm], ids[perm]))):
        got = shape_bootstrap(A, B, n_boot=40, n_perm=19, seed=1)
        for var in ("distance", "distance_ci", "distance_boot", "p", "distance_null", "boot_index"):
            np.testing.assert_allclose(got[var].values, both[var].values, rtol=1e-12, err_msg=var)
        assert list(got["stimulus_id"].values) == list(both["stimulus_id"].values) == sorted(ids)


def test_shape_bootstrap_warns_when_its_permutation_null_is_the_distance_itself():
    """With alpha=0 a representation with at least n - 1 units is whitened to every centred direction of the n
    stimuli: every permutation of Y gives the same distance, and p = 1 whatever the data, without a word. It warns
    now, naming the wide representation; with alpha > 0 the null varies and nothing is said."""
    from neuroxr.errors import NeuroxrWarning

    rng = np.random.default_rng(3)
    n = 12
    X, Y = rng.standard_normal((n, 15)), rng.standard_normal((n, 4))
    try:  # netrep, where installed (from its source tree; CI has none): its null is one value too
        import netrep.metrics as nm
    except ImportError:
        nm = None
    if nm is not None:
        perms = rs.permutation_indices(n, 20, 0, "test")
        assert np.ptp([nm.LinearMetric(alpha=0.0).fit_score(X, Y[p]) for p in perms]) < 1e-9
    with pytest.warns(NeuroxrWarning, match=r"^shape_bootstrap: every permutation of the null gives the distance itself "
                                            r"\(.*\), so p = 1 whatever the data.*With alpha=0 \(full whitening\) X \(15 units\) "
                                            r"spans every direction of the 12 stimuli"):
        res = shape_bootstrap(X, Y, alpha=0.0, n_boot=2, n_perm=20)
    assert float(res.p) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(shape_bootstrap(X, Y, alpha=0.5, n_boot=2, n_perm=20).p) < 1.0


def test_shape_bootstrap_constant_null_names_only_the_whitened_whole_representation():
    """The warning named every representation of at least n - 1 units, by width alone: a wide X of rank 5 was said to
    span every direction of the stimuli. It names the one that alpha=0 whitens whole (fit_distance's rule)."""
    from neuroxr.errors import NeuroxrWarning

    rng = np.random.default_rng(4)
    n = 12
    X = rng.standard_normal((n, 5)) @ rng.standard_normal((5, 15))  # 15 units, rank 5
    Y = rng.standard_normal((n, 14))
    with pytest.warns(NeuroxrWarning, match=r"cannot reject\. With alpha=0 \(full whitening\) Y \(14 units\) spans every") as rec:
        res = shape_bootstrap(X, Y, alpha=0.0, n_boot=2, n_perm=10)
    assert float(res.p) == 1.0
    assert not any("X (15 units)" in str(w.message) for w in rec)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_rsa_bootstrap_refuses_a_noise_ceiling_that_is_no_bool(rdms, value):
    model, data = rdms
    m, d = as_rdm(model, stimulus_id=IDS), [as_rdm(x, stimulus_id=IDS) for x in data]
    with pytest.raises(ParameterError, match=r"^rsa_bootstrap: noise_ceiling must be True or False; got .*noise_ceiling=False"):
        rsa_bootstrap(m, d, n_boot=3, noise_ceiling=value)
    assert "noise_lower_boot" not in rsa_bootstrap(m, d, n_boot=3, noise_ceiling=np.False_)
