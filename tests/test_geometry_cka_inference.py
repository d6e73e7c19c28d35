"""CKA inference (neuroxr.geometry.cka_inference; the weighted HSIC of neuroxr.kernels.gram_measures):
the debiased estimator resampled over tuples of distinct stimuli, the intervals centred on the estimate."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.errors import ParameterError
from neuroxr.geometry.inference import cka_bootstrap
from neuroxr.kernels.gram import double_center, linear_cka


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


def _shared(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two noisy representations of a shared 4-dimensional structure of ``n`` stimuli."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 4))
    X = Z @ rng.normal(size=(4, 30)) + 2 * rng.normal(size=(n, 30))
    Y = Z @ rng.normal(size=(4, 20)) + 2 * rng.normal(size=(n, 20))
    return X, Y, [f"s{i:02d}" for i in range(n)]


def _u_statistic_hsic(K: np.ndarray, L: np.ndarray, stim: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC as the U-statistic written out: the mean, over every ordered 4-tuple
    of positions ``(i, j, k, l)`` of the (expanded) sample whose stimuli ``stim[.]`` are all distinct,
    of ``K_ij L_ij + K_ij L_kl - 2 K_ij L_ik``."""
    total, count = 0.0, 0
    for i, j, k, l in itertools.product(range(len(stim)), repeat=4):
        if len({stim[i], stim[j], stim[k], stim[l]}) == 4:
            total += K[i, j] * L[i, j] + K[i, j] * L[k, l] - 2 * K[i, j] * L[i, k]
            count += 1
    return total / count


def _brute_debiased_cka(Kr: np.ndarray, Lr: np.ndarray, stim: np.ndarray) -> float:
    return _u_statistic_hsic(Kr, Lr, stim) / np.sqrt(_u_statistic_hsic(Kr, Kr, stim) * _u_statistic_hsic(Lr, Lr, stim))


def test_debiased_resamples_equal_the_u_statistic_over_distinct_stimuli():
    """Each debiased resample (cka_bootstrap's own draws, with repeated stimuli, one drawn 3 times or
    more) equals the U-statistic enumerated over every index 4-tuple of the expanded resample whose
    stimuli are distinct; the weighted HSIC too, also of Grams that are not centred."""
    from neuroxr.kernels.gram_measures import resampled_hsic_unbiased
    from neuroxr.kernels.resample import counts

    X, Y, ids = _shared(9, 1)
    res = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=4, seed=2, debiased=True)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    idx = res["boot_index"].values
    assert all(len(set(i)) < len(i) for i in idx)  # every resample repeats stimuli
    assert counts(idx, 9).max() >= 3  # one stimulus drawn 3 times or more
    for b, i in enumerate(idx):
        assert float(res["cka_boot"][b]) == pytest.approx(_brute_debiased_cka(K[np.ix_(i, i)], L[np.ix_(i, i)], i), rel=1e-10)
        assert resampled_hsic_unbiased(K, L, counts(i[None], 9))[0] == pytest.approx(
            _u_statistic_hsic(K[np.ix_(i, i)], L[np.ix_(i, i)], i), rel=1e-10)
    Ku, Lu = X @ X.T + 1.0, Y @ Y.T  # uncentred Grams: the definition holds for any symmetric kernel
    i = np.array([0, 0, 0, 0, 2, 3, 5, 5, 7])
    assert resampled_hsic_unbiased(Ku, Lu, counts(i[None], 9))[0] == pytest.approx(
        _u_statistic_hsic(Ku[np.ix_(i, i)], Lu[np.ix_(i, i)], i), rel=1e-10)


def test_all_ones_weights_are_the_debiased_estimate_and_the_biased_path_stands():
    from neuroxr.kernels.gram_measures import resampled_cka_debiased, resampled_hsic_unbiased

    X, Y, ids = _shared(9, 3)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    ones = np.ones((1, 9))
    assert resampled_cka_debiased(K, L, ones)[0] == pytest.approx(linear_cka(K, L, debiased=True), rel=1e-12)
    assert resampled_hsic_unbiased(K, L, ones)[0] == pytest.approx(_u_statistic_hsic(K, L, np.arange(9)), rel=1e-12)
    a, b = nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids)
    deb = cka_bootstrap(a, b, n_boot=5, debiased=True, n_perm=7)
    assert float(deb["cka"]) == pytest.approx(float(nx.cka(a, b, debiased=True)), rel=1e-12) and deb.attrs["debiased"] == 1
    res = cka_bootstrap(a, b, n_boot=6, seed=4)
    assert float(res["cka"]) == pytest.approx(float(nx.cka(a, b)), rel=1e-12) and res.attrs["debiased"] == 0
    for k, i in enumerate(res["boot_index"].values):  # a biased resample: the CKA of the resampled representations
        Xr, Yr = X[i] - X[i].mean(0), Y[i] - Y[i].mean(0)
        want = np.linalg.norm(Yr.T @ Xr) ** 2 / (np.linalg.norm(Xr.T @ Xr) * np.linalg.norm(Yr.T @ Yr))
        assert float(res["cka_boot"][k]) == pytest.approx(want, rel=1e-10)


def test_resampled_debiased_hsic_does_not_change_when_a_gram_is_centred_again():
    """Grams changed by ``f 1' + 1 f' + c`` (as centring a Gram again changes it) give the same
    resampled HSIC and CKA, for resamples with copies and unequal counts."""
    from neuroxr.kernels.gram_measures import resampled_cka_debiased, resampled_hsic_unbiased

    X, Y, _ = _shared(9, 6)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    W = np.array([[3.0, 1, 0, 2, 1, 0, 1, 0, 1], [1.0, 0, 4, 0, 1, 1, 0, 2, 0], [1.0] * 9, [2.0, 2, 1, 1, 1, 1, 1, 0, 0]])
    rng = np.random.default_rng(0)
    scale = np.abs(K).mean()
    for _ in range(3):
        f, g = scale * rng.normal(size=9), scale * rng.normal(size=9)
        K2 = K + f[:, None] + f[None, :] + scale * rng.normal()
        L2 = L + g[:, None] + g[None, :] + scale * rng.normal()
        np.testing.assert_allclose(resampled_hsic_unbiased(K2, L2, W), resampled_hsic_unbiased(K, L, W), rtol=1e-10)
        np.testing.assert_allclose(resampled_hsic_unbiased(K2, K2, W), resampled_hsic_unbiased(K, K, W), rtol=1e-10)
        np.testing.assert_allclose(resampled_cka_debiased(K2, L2, W), resampled_cka_debiased(K, L, W), rtol=1e-10)


def test_debiased_resamples_are_those_of_the_representations_centred_on_the_resample():
    """cka_bootstrap's debiased resamples (on the full sample's centred Grams) are the U-statistic of
    the resampled representations centred on their own mean (the Gram of ``X[idx] - X[idx].mean(0)``),
    enumerated over the index 4-tuples of distinct stimuli."""
    X, Y, ids = _shared(9, 7)
    res = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=3, seed=5, debiased=True)
    for b, i in enumerate(res["boot_index"].values):
        Xr, Yr = X[i] - X[i].mean(0), Y[i] - Y[i].mean(0)
        assert float(res["cka_boot"][b]) == pytest.approx(_brute_debiased_cka(Xr @ Xr.T, Yr @ Yr.T, i), rel=1e-10)


def test_debiased_permutation_null_is_the_debiased_cka_of_the_permuted_gram():
    from neuroxr.kernels.resample import permutation_indices

    X, Y, ids = _shared(12, 5)
    res = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=2, n_perm=9, seed=3,
                        debiased=True)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    null = [linear_cka(K, L[np.ix_(p, p)], debiased=True) for p in permutation_indices(12, 9, 3)]
    np.testing.assert_allclose(res["cka_null"].values, null, rtol=1e-12)
    assert float(res["p"]) == pytest.approx((1 + np.sum(np.asarray(null) >= float(res["cka"]))) / 10)


def test_debiased_resample_of_fewer_than_4_distinct_stimuli_is_undefined():
    """No tuple of 4 distinct stimuli: the resample's HSIC is undefined (NaN), counted, and the
    interval follows nan_policy (NaN, or that of the defined resamples)."""
    from neuroxr.kernels.gram_measures import resampled_hsic_unbiased

    X, Y, ids = _shared(5, 0)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    h = resampled_hsic_unbiased(K, L, np.array([[2.0, 2, 1, 0, 0], [2.0, 1, 1, 1, 0]]))
    assert np.isnan(h[0]) and np.isfinite(h[1])
    a, b = nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids)
    res = cka_bootstrap(a, b, n_boot=200, seed=1, debiased=True)
    boot = res["cka_boot"].values
    few = np.array([len(set(i)) < 4 for i in res["boot_index"].values])
    assert few.any() and np.isnan(boot[few]).all() and np.isfinite(boot).any()
    assert int(res["n_boot_undefined"]) == np.isnan(boot).sum() and np.isnan(res["cka_ci"].values).all()
    omit = cka_bootstrap(a, b, n_boot=200, seed=1, debiased=True, nan_policy="omit", method="percentile")
    np.testing.assert_allclose(omit["cka_ci"].values, np.percentile(boot[np.isfinite(boot)], [2.5, 97.5]))
    with pytest.raises(nx.LayoutError, match="debiased estimator"):
        cka_bootstrap(a.isel(stimulus=slice(0, 3)), b.isel(stimulus=slice(0, 3)), n_boot=5, debiased=True)


def test_centred_interval_holds_the_estimate_the_percentile_interval_misses():
    """Resampled biased CKA runs above the estimate (copies of a stimulus agree in both Grams): here
    the percentile interval (the interval before) lies above it; the centred one (default) holds it."""
    X, Y, ids = _shared(20, 0)
    a, b = nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids)
    res = cka_bootstrap(a, b, n_boot=200, seed=0)
    boot, est = res["cka_boot"].values, float(res["cka"])
    assert np.percentile(boot, 2.5) > est  # the percentile interval misses its estimate
    lo, hi = res["cka_ci"].values
    assert res.attrs["method"] == "centred" and lo <= est <= hi
    np.testing.assert_allclose([lo, hi], est + np.percentile(boot - boot.mean(), [2.5, 97.5]))
    assert float(res["cka_bias"]) == pytest.approx(boot.mean() - est) and float(res["cka_bias"]) > 0
    deb = cka_bootstrap(a, b, n_boot=200, seed=0, debiased=True)  # debiased resamples: no such bias
    assert abs(float(deb["cka_bias"])) < 0.25 * float(res["cka_bias"])


def test_percentile_and_basic_intervals_are_the_quantiles_of_the_resamples():
    X, Y, ids = _shared(15, 2)
    a, b = nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids)
    for debiased in (False, True):
        per = cka_bootstrap(a, b, n_boot=50, seed=1, level=0.9, method="percentile", debiased=debiased)
        boot, est = per["cka_boot"].values, float(per["cka"])
        np.testing.assert_allclose(per["cka_ci"].values, np.percentile(boot, [5, 95]))
        basic = cka_bootstrap(a, b, n_boot=50, seed=1, level=0.9, method="basic", debiased=debiased)
        np.testing.assert_allclose(basic["cka_ci"].values, 2 * est - np.percentile(boot, [95, 5]))
        np.testing.assert_array_equal(basic["cka_boot"].values, boot)


@pytest.mark.parametrize("kw, message", [
    (dict(method="bca"), "^cka_bootstrap: method='bca' is not offered"),
    (dict(method="x"), r"^cka_bootstrap: method must be one of \('centred', 'percentile', 'basic'\); got 'x'"),
    (dict(debiased="no"), "^cka_bootstrap: debiased must be"),
])
def test_bad_options_are_refused_in_one_line(kw, message):
    X, Y, ids = _shared(8, 0)
    with pytest.raises(ParameterError, match=message):
        cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=5, **kw)


@pytest.mark.parametrize("debiased", [False, True])
def test_permuting_the_stimulus_rows_changes_no_number(debiased):
    """Both inputs' rows permuted (each its own way): paired by stimulus_id, drawn on the canonical
    order, so every number (estimate, resamples, draws by id, interval, null, p) is the same."""
    X, Y, ids = _shared(14, 4)
    rng = np.random.default_rng(9)
    pa, pb = rng.permutation(14), rng.permutation(14)
    kw = dict(n_boot=30, n_perm=11, seed=6, debiased=debiased)
    ref = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), **kw)
    got = cka_bootstrap(nx.features(X[pa], stimulus_id=[ids[i] for i in pa]),
                        nx.features(Y[pb], stimulus_id=[ids[i] for i in pb]), **kw)
    for v in ("cka", "cka_boot", "cka_ci", "cka_bias", "cka_null", "p"):
        np.testing.assert_allclose(got[v].values, ref[v].values, rtol=1e-12, atol=1e-14, err_msg=v)
    draws = lambda r: r["stimulus_id"].values[r["boot_index"].values]  # noqa: E731  (the drawn ids)
    np.testing.assert_array_equal(draws(got), draws(ref))



@pytest.mark.parametrize("scale", [1e-150, 1e150])
@pytest.mark.parametrize("debiased", [False, True])
def test_resamples_and_null_are_the_same_at_any_feature_scale(scale, debiased):
    """Features times 1e+-150: every resample was undefined (the resampled Grams' products overflowed or
    underflowed) while the estimate stood; CKA is scale-free, so resamples, interval, null and p are unchanged."""
    X, Y, ids = _shared(16, 5)
    kw = dict(n_boot=25, n_perm=9, seed=3, debiased=debiased)
    ref = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), **kw)
    with np.errstate(over="ignore", under="ignore"):
        got = cka_bootstrap(nx.features(X * scale, stimulus_id=ids), nx.features(Y, stimulus_id=ids), **kw)
    assert int(got["n_boot_undefined"]) == 0
    for v in ("cka", "cka_boot", "cka_ci", "cka_bias", "cka_null", "p"):
        np.testing.assert_allclose(got[v].values, ref[v].values, rtol=1e-10, err_msg=v)

def _point_cka(X: np.ndarray, Y: np.ndarray, idx: np.ndarray, debiased: bool = False) -> float:
    """nx.cka of the materialised resample ``X[idx]``, ``Y[idx]`` (each draw its own stimulus)."""
    ids = [f"r{i:03d}" for i in range(idx.size)]
    return float(nx.cka(nx.features(X[idx], ids), nx.features(Y[idx], ids), debiased=debiased))


def _gathered_cka(K: np.ndarray, L: np.ndarray, idx: np.ndarray) -> float:
    Kc, Lc = double_center(K[np.ix_(idx, idx)]), double_center(L[np.ix_(idx, idx)])
    return float(np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc)))


def test_biased_resamples_in_closed_form_equal_the_gathered_grams():
    """resampled_cka_biased (the weighted closed form of the resample's centred Grams) equals the CKA
    of the gathered Grams ``K[idx][:, idx]`` centred again, for resamples with copies, of centred and
    uncentred Grams; cka_bootstrap's biased resamples equal the resampled representations' CKA."""
    from neuroxr.kernels.gram_measures import resampled_cka_biased
    from neuroxr.kernels.resample import bootstrap_indices, counts

    X, Y, ids = _shared(11, 8)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    idx = bootstrap_indices(11, 40, 3)
    got = resampled_cka_biased(K, L, counts(idx, 11))
    np.testing.assert_allclose(got, [_gathered_cka(K, L, i) for i in idx], rtol=1e-10)
    Ku, Lu = X @ X.T + 2.0, Y @ Y.T  # uncentred: the CKA of the resampled representations all the same
    np.testing.assert_allclose(resampled_cka_biased(Ku, Lu, counts(idx, 11)), got, rtol=1e-10)
    res = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=300, seed=2)
    want = [_point_cka(X, Y, i) for i in res["boot_index"].values[:40]]
    np.testing.assert_allclose(res["cka_boot"].values[:40], want, rtol=1e-10)


def test_biased_resample_of_nearly_equal_stimuli_keeps_its_digits():
    """Drawn stimuli nearly equal against their distance from the mean (the closed form's terms
    cancel): the resample is computed from its gathered Grams, as accurate as before."""
    from neuroxr.kernels.gram_measures import resampled_cka_biased
    from neuroxr.kernels.resample import counts

    X, Y, _ = _shared(8, 2)
    X[1] = X[0] + 1e-4 * np.abs(X[0]).mean() * np.random.default_rng(0).normal(size=X.shape[1])
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    idx = np.array([[0, 0, 0, 1, 1, 0, 1, 1], [0, 1, 2, 3, 4, 5, 6, 7]])
    got = resampled_cka_biased(K, L, counts(idx, 8))
    np.testing.assert_allclose(got, [_point_cka(X, Y, i) for i in idx], rtol=1e-6)
    np.testing.assert_allclose(got, [_gathered_cka(K, L, i) for i in idx], rtol=1e-12)


@pytest.mark.parametrize("case", ["one stimulus", "equal rows", "duplicated rows", "equal up to rounding"])
def test_a_constant_resample_is_undefined_as_the_point_estimate_of_its_draws(case):
    """A resample whose drawn stimuli have equal features (one stimulus; two with equal rows; a
    dataset of duplicated rows; rows equal up to rounding) is constant: its biased and debiased CKA
    are NaN, as nx.cka of the materialised resample gives, and every other resample is defined as
    that is (resampled_constant: the resample's centred squares at most 256 eps of its uncentred)."""
    from neuroxr.kernels.gram_measures import resampled_cka_biased, resampled_cka_debiased, resampled_constant
    from neuroxr.kernels.resample import bootstrap_indices, counts

    X, Y, _ = _shared(10, 4)
    X = X + 5.0
    rng = np.random.default_rng(1)
    if case == "duplicated rows":
        X, Y = np.repeat(X[:5], 2, axis=0), np.repeat(Y[:5], 2, axis=0)  # stimuli 2k and 2k + 1 equal
        draws = [[0] * 10, [0, 1] * 5, [2, 3, 3, 3, 3, 3, 2, 2, 2, 2]]
    else:
        for i in (1, 2, 3, 4):
            X[i] = X[0] * (1 + 1e-13 * rng.normal(size=X.shape[1])) if case == "equal up to rounding" else X[0]
        draws = [[0] * 10, [0, 1] * 5, [1, 2, 3, 4, 0, 0, 1, 2, 3, 4]] if case != "one stimulus" else [[3] * 10, [7] * 10]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    idx = np.concatenate([np.array(draws), bootstrap_indices(10, 30, 5)])
    W = counts(idx, 10)
    point = np.array([_point_cka(X, Y, i) for i in idx])
    undefined = np.isnan(point)
    assert undefined[: len(draws)].all() and not undefined[len(draws):].all()
    np.testing.assert_array_equal(resampled_constant(K, W), undefined)
    biased = resampled_cka_biased(K, L, W)
    np.testing.assert_array_equal(np.isnan(biased), undefined)
    np.testing.assert_allclose(biased[~undefined], point[~undefined], rtol=1e-10)
    deb = resampled_cka_debiased(K, L, W)
    assert np.isnan(deb[undefined]).all()
    four = (W > 0).sum(axis=1) >= 4  # the debiased estimator: at least 4 distinct stimuli drawn
    np.testing.assert_array_equal(np.isnan(deb), undefined | ~four)


def test_cka_bootstrap_counts_resamples_of_stimuli_equal_up_to_rounding_as_undefined():
    """Features varying only at one of 5 stimuli (the other 4 equal up to rounding): a resample
    without it is constant, NaN and counted, as nx.cka of the materialised resample gives (the
    gathered Grams kept the rounding of the 4 and scored it)."""
    rng = np.random.default_rng(3)
    X, Y = np.empty((5, 6)), rng.normal(size=(5, 4))
    X[:4] = rng.normal(size=6) * (1 + 1e-13 * rng.normal(size=(4, 6)))
    X[4] = rng.normal(size=6)
    ids = [f"s{i}" for i in range(5)]
    for debiased in (False, True):
        res = cka_bootstrap(nx.features(X, ids), nx.features(Y, ids), n_boot=60, seed=1, debiased=debiased)
        idx = res["boot_index"].values
        without = ~(idx == 4).any(axis=1)
        point = np.array([_point_cka(X, Y, i) for i in idx])
        assert without.any() and np.isnan(point[without]).all()
        assert np.isnan(res["cka_boot"].values[without]).all()
        assert int(res["n_boot_undefined"]) >= int(without.sum())
        if not debiased:  # also undefined: 2 distinct stimuli (a CKA of 1 whatever the data, refused on the full sample)
            few = np.array([np.unique(i).size < 3 for i in idx])
            np.testing.assert_array_equal(np.isnan(res["cka_boot"].values), np.isnan(point) | few)
            assert int(res["n_boot_undefined"]) == int((without | few).sum())


@pytest.mark.parametrize("debiased", [False, True])
def test_permutation_null_equals_the_loop_over_linear_cka(debiased):
    """permuted_cka (the cross term alone gathered per permutation) equals linear_cka of each
    permuted Gram, the identity permutation and its ties included (p counts them as the loop's)."""
    from neuroxr.kernels.gram_measures import permuted_cka
    from neuroxr.kernels.resample import permutation_indices, permutation_pvalues

    X, Y, ids = _shared(5, 2)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    perms = np.concatenate([np.arange(5)[None], permutation_indices(5, 60, 1)])  # 5! = 120: repeats and ties
    loop = np.array([linear_cka(K, L[np.ix_(p, p)], debiased=debiased) for p in perms])
    got = permuted_cka(K, L, perms, debiased=debiased)
    np.testing.assert_allclose(got, loop, rtol=1e-12, atol=1e-14)
    theta = np.asarray([linear_cka(K, L, debiased=debiased)])
    assert permutation_pvalues(theta, got[:, None])[0] == permutation_pvalues(theta, loop[:, None])[0]
    res = cka_bootstrap(nx.features(X, stimulus_id=ids), nx.features(Y, stimulus_id=ids), n_boot=2, n_perm=60, seed=1,
                        debiased=debiased)
    np.testing.assert_allclose(res["cka_null"].values, loop[1:], rtol=1e-12, atol=1e-14)
    assert float(res["p"]) == permutation_pvalues(theta, loop[1:, None])[0]
    assert np.isnan(permuted_cka(np.zeros((5, 5)), L, perms[:3], debiased=debiased)).all()  # a constant input


def _full_biased(K: np.ndarray, L: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The biased resampled CKA's closed form over whole Grams (the formula as first written, its
    ``n x n`` products ``K * L``, ``K * K``, ``L * L`` in full; resamples that are not constant)."""
    m, KW, LW = W.sum(axis=1), W @ K, W @ L

    def quad(A, B):
        return np.einsum("ba,ba->b", A, B)

    def s(M, AW, BW, a, b):
        return quad(W @ M, W) - 2 / m * np.einsum("ba,ba,ba->b", W, AW, BW) + a * b / (m * m)

    a, b = quad(KW, W), quad(LW, W)
    return s(K * L, KW, LW, a, b) / np.sqrt(s(K * K, KW, KW, a, a) * s(L * L, LW, LW, b, b))


def _full_hsic(K: np.ndarray, L: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The resampled unbiased HSIC's closed form over whole Grams (``K~ = K * (1 - I)`` and
    ``M = K~ * L~`` in full; docs/inference.md "CKA")."""
    def dot(A, B):
        return np.einsum("ba,ba->b", A, B)

    W2, W3, W1, P2 = W * W, W * W * W, W.sum(axis=1), (W * W).sum(axis=1)
    e = [np.zeros(W.shape[0]) for _ in range(4)]
    for w in W.T:
        e = [e[0] + w, e[1] + w * e[0], e[2] + w * e[1], e[3] + w * e[2]]
    n4, off = 24 * e[3], 1.0 - np.eye(K.shape[0])
    Kt, Lt = K * off, L * off
    KW, KW2, LW, LW2, M = W @ Kt, W2 @ Kt, W @ Lt, W2 @ Lt, Kt * Lt
    MW, MW2, P = W @ M, W2 @ M, KW * LW
    m11, m21, m31, t2 = dot(MW, W), dot(MW, W2), dot(MW, W3), dot(MW2, W2)
    t3 = dot(P, W2) - t2
    A = (W1 * W1 - P2) * m11 - 4 * W1 * m21 + 4 * m31 + 2 * t2
    B = dot(KW, W) * dot(LW, W) - 4 * t3 - 2 * t2
    C = W1 * (dot(P, W) - m21) - t3 - (dot(KW2 * LW + KW * LW2, W) - 2 * m31)
    return (A + B - 2 * C) / n4


def _full_permuted(K: np.ndarray, L: np.ndarray, perms: np.ndarray, debiased: bool) -> np.ndarray:
    """The permutation null with each permuted Gram gathered whole, ``L~[p][:, p]``."""
    Kc, Lc, n = double_center(K), double_center(L), K.shape[0]
    if debiased:
        off = 1.0 - np.eye(n)
        Kc, Lc = Kc * off, Lc * off
    rK, rL, c = Kc.sum(axis=1), Lc.sum(axis=1), Kc.sum() * Lc.sum() / ((n - 1) * (n - 2))
    t = np.array([np.dot(Kc.ravel(), Lc[np.ix_(p, p)].ravel()) for p in perms])
    if debiased:
        t = t + c - 2.0 / (n - 2) * np.array([np.dot(rK, rL[p]) for p in perms])
    hk, hl = (np.sum(G * G) + G.sum() ** 2 / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * np.sum(G.sum(1) ** 2) if debiased
              else np.sum(G * G) for G in (Kc, Lc))
    return t / np.sqrt(hk * hl)


def _peak(f):
    """``f()`` and the peak of the memory traced while it ran (bytes)."""
    import tracemalloc

    tracemalloc.start()
    try:
        return f(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("which", ["biased", "debiased", "hsic"])
def test_resampled_closed_forms_take_the_memory_of_a_block_not_of_grams(which, monkeypatch):
    """The resampled closed forms build their Gram products a block of columns at a time: 1000
    stimuli, 32 resamples, blocks of 2^16 entries, the peak traced memory below half a Gram (the
    products in full took 1.1-3.4 Grams). Their values equal the whole Grams' formulas: bit for bit
    in one block (40 stimuli; the debiased to 1e-12, of the U-centred Grams), to 1e-12 in blocks (of 3 columns; at 1000 stimuli of 65); the biased
    also the gathered Grams ``K[idx][:, idx]`` centred again."""
    from neuroxr.kernels import gram_measures as gm
    from neuroxr.kernels.resample import bootstrap_indices, counts

    f = {"biased": gm.resampled_cka_biased, "debiased": gm.resampled_cka_debiased, "hsic": gm.resampled_hsic_unbiased}[which]
    full = {"biased": _full_biased, "hsic": _full_hsic,
            "debiased": lambda K, L, W: _full_hsic(K, L, W) / np.sqrt(_full_hsic(K, K, W) * _full_hsic(L, L, W))}[which]
    X, Y, _ = _shared(40, 5)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    idx = bootstrap_indices(40, 30, 2)
    W = counts(idx, 40)
    if which == "biased":  # one block: the same sums
        np.testing.assert_array_equal(f(K, L, W), full(K, L, W))
    else:  # the sums of the U-centred Grams (the same estimator): to rounding
        np.testing.assert_allclose(f(K, L, W), full(K, L, W), rtol=1e-12)
    if which == "biased":
        np.testing.assert_allclose(f(K, L, W), [_gathered_cka(K, L, i) for i in idx], rtol=1e-10)
    monkeypatch.setattr(gm, "_BLOCK", 128, raising=False)  # 3 columns at a time
    np.testing.assert_allclose(f(K, L, W), full(K, L, W), rtol=1e-12)
    monkeypatch.setattr(gm, "_BLOCK", 2**16, raising=False)
    n = 1000
    X, Y, _ = _shared(n, 6)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    W = counts(bootstrap_indices(n, 32, 3), n)
    got, peak = _peak(lambda: f(K, L, W))
    assert peak < 0.5 * K.nbytes
    np.testing.assert_allclose(got, full(K, L, W), rtol=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_the_permutation_null_takes_no_more_memory_than_the_estimate(debiased, monkeypatch):
    """permuted_cka gathers each permuted Gram a block of rows at a time and masks the diagonals in
    place: its peak traced memory (1000 stimuli, 3 permutations, blocks of 2^16 entries) is within
    a quarter of a Gram of linear_cka's on the same Grams (the permuted Grams gathered whole took a
    Gram more). Its values equal the whole Grams' gathers: bit for bit in one block, to 1e-12 in many."""
    from neuroxr.kernels import gram_measures as gm
    from neuroxr.kernels.resample import permutation_indices

    X, Y, _ = _shared(30, 7)
    K, L = X @ X.T + 1.0, Y @ Y.T  # uncentred: centred here
    perms = permutation_indices(30, 20, 4)
    if debiased:  # Song et al.'s form written out here; the kernel's is the resamples' at unit counts
        np.testing.assert_allclose(gm.permuted_cka(K, L, perms, True), _full_permuted(K, L, perms, True), rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_array_equal(gm.permuted_cka(K, L, perms, False), _full_permuted(K, L, perms, False))
    monkeypatch.setattr(gm, "_BLOCK", 100, raising=False)  # 3 rows at a time
    np.testing.assert_allclose(gm.permuted_cka(K, L, perms, debiased), _full_permuted(K, L, perms, debiased),
                               rtol=1e-12, atol=1e-15)
    monkeypatch.setattr(gm, "_BLOCK", 2**16, raising=False)
    X, Y, _ = _shared(1000, 8)
    K, L = double_center(X @ X.T), double_center(Y @ Y.T)
    perms = permutation_indices(1000, 3, 5)
    _, est = _peak(lambda: linear_cka(K, L, debiased=debiased))
    got, peak = _peak(lambda: gm.permuted_cka(K, L, perms, debiased))
    assert peak < est + 0.25 * K.nbytes
    np.testing.assert_allclose(got, _full_permuted(K, L, perms, debiased), rtol=1e-12, atol=1e-15)


def test_the_debiased_estimate_is_the_resamples_formula_in_bounded_memory(monkeypatch):
    """linear_cka(debiased=True) computes Song et al.'s unbiased HSIC with the resamples' formula at
    unit counts (one formula): equal to the U-statistic written out, and to resampled_cka_debiased of
    the one resample drawing every stimulus once. Its sums are built a block of columns at a time:
    its peak traced memory (1000 stimuli, blocks of 2^16 entries) stays below 3.5 Grams (the
    masked copies of both Grams and their product took 6)."""
    from neuroxr.kernels import gram_measures as gm

    X, Y, _ = _shared(9, 3)
    K, L = X @ X.T + 2.0, Y @ Y.T
    stim = np.arange(9)
    assert linear_cka(K, L, debiased=True) == pytest.approx(_brute_debiased_cka(K, L, stim), rel=1e-12)
    assert linear_cka(K, L, debiased=True) == pytest.approx(float(gm.resampled_cka_debiased(K, L, np.ones((1, 9)))[0]), rel=1e-12)
    monkeypatch.setattr(gm, "_BLOCK", 2**16, raising=False)
    X, Y, _ = _shared(1000, 8)
    K, L = X @ X.T, Y @ Y.T
    whole = linear_cka(K, L, debiased=True)
    monkeypatch.setattr(gm, "_BLOCK", 100, raising=False)  # many blocks: the same to rounding
    assert linear_cka(K, L, debiased=True) == pytest.approx(whole, rel=1e-12)
    monkeypatch.setattr(gm, "_BLOCK", 2**16, raising=False)
    _, peak = _peak(lambda: linear_cka(K, L, debiased=True))
    assert peak < 3.5 * K.nbytes



def _exact_debiased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Song et al.'s debiased CKA in rational arithmetic from the uncentred Grams of ``X``, ``Y`` (exact)."""
    from fractions import Fraction

    def gram(A):
        rows = [[Fraction(float(v)) for v in r] for r in A]
        return [[sum(a * b for a, b in zip(r, q)) for q in rows] for r in rows]

    def hsic(K, L):
        n = len(K)
        Kt, Lt = ([[M[i][j] if i != j else 0 for j in range(n)] for i in range(n)] for M in (K, L))
        rK, rL = [sum(r) for r in Kt], [sum(r) for r in Lt]
        tr = sum(Kt[i][j] * Lt[i][j] for i in range(n) for j in range(n))
        return (tr + sum(rK) * sum(rL) / ((n - 1) * (n - 2)) - Fraction(2, n - 2) * sum(a * b for a, b in zip(rK, rL))) / (n * (n - 3))

    K, L = gram(X), gram(Y)
    return float(hsic(K, L)) / float(np.sqrt(float(hsic(K, K)) * float(hsic(L, L))))


def test_debiased_cka_keeps_its_digits_with_a_stimulus_far_from_the_others():
    """One stimulus 1e8 times the others drags the column means: every entry of the centred Gram then
    shares a large common part, and the closed form's sums cancelled (the estimate off by 4e-3, resamples
    by 1e-2, the null by 3e-3; 1e10: NaN). The sums are now those of the U-centred Grams: the estimate
    equals the exact rational value, resamples and null those of the Grams centred at an ordinary stimulus
    (the same estimator, no common part)."""
    from neuroxr.kernels import gram_measures as gm
    from neuroxr.kernels.resample import bootstrap_indices, counts, permutation_indices

    rng = np.random.default_rng(7)
    n = 12
    X = rng.standard_normal((n, 4))
    Y = X[:, :2] + rng.standard_normal((n, 2))
    X[0] *= 1e8
    ids = [f"s{i:02d}" for i in range(n)]
    exact = _exact_debiased_cka(X, Y)
    Kc, Lc = double_center(X @ X.T), double_center(Y @ Y.T)
    assert linear_cka(Kc, Lc, debiased=True, centred=True) == pytest.approx(exact, abs=1e-9)
    assert float(nx.cka(nx.features(X, ids), nx.features(Y, ids), debiased=True)) == pytest.approx(exact, abs=1e-9)
    X1, Y1 = X - X[1], Y - Y[1]
    K1, L1 = X1 @ X1.T, Y1 @ Y1.T
    W = counts(bootstrap_indices(n, 20, 0), n)
    got = gm.resampled_cka_debiased(Kc, Lc, W)
    # a resample without the far stimulus: its stimuli agree to 1e-13 of their distance from the Gram's
    # origin, the mean (constant up to the Gram's rounding: NaN, counted, as documented)
    assert np.isnan(got).any() and np.array_equal(np.isnan(got), W[:, 0] == 0)
    np.testing.assert_allclose(got[W[:, 0] > 0], gm.resampled_cka_debiased(K1, L1, W[W[:, 0] > 0]), atol=1e-8)
    far = W[W[:, 0] > 0]
    np.testing.assert_allclose(gm.resampled_hsic_unbiased(Kc, Lc, far) / gm.resampled_hsic_unbiased(K1, L1, far), 1.0, rtol=1e-8)
    perms = permutation_indices(n, 20, 0)
    np.testing.assert_allclose(gm.permuted_cka(Kc, Lc, perms, True), gm.permuted_cka(K1, L1, perms, True), atol=1e-8)
    boot = cka_bootstrap(nx.features(X, ids), nx.features(Y, ids), n_boot=20, seed=0, debiased=True, n_perm=20)
    assert float(boot.cka) == pytest.approx(exact, abs=1e-9)


def test_debiased_cka_entries_are_one_revision_up():
    """The debiased estimate's new rounding raises its entries' revision (no old entry is reused for
    them); biased entries stand."""
    from neuroxr.entries import revisions

    for kind in ("cka", "cka_bootstrap", "cka_permutation"):
        assert revisions.entry_revision(kind, {"debiased": True}) == revisions.entry_revision(kind, {"debiased": False}) + 1
    assert revisions.entry_revision("crsa", {"debiased": True}) == revisions.entry_revision("crsa", {})


def test_the_constancy_of_resamples_from_the_rows_is_that_from_their_gram():
    """shape_bootstrap judges its resamples from the rows (no n x n Gram, whose memory tall data could not
    afford): the same verdicts as from the Gram, for varying, constant-up-to-rounding and exactly
    constant representations, in blocks of any size."""
    from neuroxr.kernels.gram_measures import resampled_constant, resampled_constant_rows

    rng = np.random.default_rng(3)
    for case in range(3):
        A = rng.normal(size=(12, 5)) * 1e3
        if case == 1:  # equal up to rounding on every resample without stimulus 0
            A[1:] = A[1] + 1e-12 * rng.normal(size=(11, 5))
        elif case == 2:
            A[1:] = A[1]  # constant on every resample without stimulus 0
        A = A - A.mean(axis=0)
        W = np.stack([np.bincount(rng.integers(0, 12, 12), minlength=12) for _ in range(40)]).astype(float)
        want = resampled_constant(A @ A.T, W)
        assert want.any() == (case > 0)
        for block in (1, 7, 2**22):
            np.testing.assert_array_equal(resampled_constant_rows(A, W, block=block), want)
