"""Bootstrap resamples whose statistic is undefined (NaN): the one interval rule of every
bootstrap (``kernels.resample.NAN_POLICIES``), its counts and warning, and the distinct-row rule
of the resampled Pearson correlation; references from scipy.stats.bootstrap on the same draws."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as ss

import neuroxr as nx
from neuroxr.geometry.inference import cka_bootstrap, crsa_bootstrap, ersa_bootstrap, rsa_bootstrap, rsa_permutation
from neuroxr.kernels import resample as rs
from neuroxr.predictivity._parts import prepare
from neuroxr.predictivity.inference import bootstrap

N, SEED, NB = 20, 3, 200


def _said(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(x.message) for x in w]


@pytest.fixture(scope="module")
def partial():
    """Forward data whose neuroid 0 is usable on 5 of 20 stimuli only (many resamples draw < 3 of them)."""
    rng = np.random.default_rng(11)
    ids = np.array([f"s{i:02d}" for i in range(N)])
    Fv = rng.normal(size=(N, 4))
    R = (Fv @ rng.normal(size=(4, 3)))[:, :, None] + rng.normal(size=(N, 3, 4))
    R[5:, 0] = np.nan
    return nx.features(Fv, ids, name="net"), nx.neural(R, ids, name="b")


# ---------------------------------------------------------------------------- the kernel
def test_a_resample_drawing_two_distinct_rows_is_nan():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    W = np.array([[4.0, 2, 0, 0, 0, 0], [3.0, 2, 1, 0, 0, 0]])  # 2 distinct rows (6 draws), then 3
    mask = np.ones((6, 2), dtype=bool)
    mask[0, 1] = False  # column 1 sees rows 1, 2 of the second resample only
    for m in (None, mask):
        got = rs.resampled_pearson(W, a, b, m)
        assert np.isnan(got[0]).all()  # an r over 2 distinct stimuli would be +-1
        rows = np.repeat(np.arange(6), W[1].astype(int))
        assert got[1, 0] == pytest.approx(ss.pearsonr(a[rows, 0], b[rows, 0])[0], abs=1e-12)
    assert np.isnan(rs.resampled_pearson(W, a, b, mask)[1, 1])


# ---------------------------------------------------------------------------- predictivity
def _reference_ev(parts, j):
    """scipy.stats.bootstrap's statistic for target ``j``: 100 r^2 of its stored columns on the
    drawn rows of its own stimuli, NaN with fewer than 3 distinct of them."""
    y, p = parts.Y[:, j], parts.P[:, j]

    def stat(i):
        i = i[np.isfinite(y[i]) & np.isfinite(p[i])]
        if np.unique(i).size < 3:
            return np.nan
        return 100 * np.corrcoef(y[i], p[i])[0, 1] ** 2

    return stat


def test_forward_intervals_follow_scipy_with_undefined_resamples(partial):
    F, B = partial
    kw = dict(n_boot=NB, seed=SEED, noise_ceiling=False, n_folds=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = prepare("forward", F, B, seed=SEED, noise_ceiling=False, n_folds=3)
    b, said = _said(bootstrap, "forward", F, B, **kw)
    bca, _ = _said(bootstrap, "forward", F, B, method="bca", **kw)
    assert np.array_equal(b.boot_index.values, np.random.default_rng([SEED, 0]).integers(0, N, (NB, N)))
    for j in range(3):
        stat = _reference_ev(parts, j)
        hand = np.array([stat(i) for i in b.boot_index.values])
        np.testing.assert_allclose(b.ev_boot.values[:, j], hand, atol=1e-9, equal_nan=True)
        assert int(b.n_boot_undefined[j]) == int(np.isnan(hand).sum())
        for method, ours in (("percentile", b), ("BCa", bca)):
            with warnings.catch_warnings():  # scipy: "The BCa confidence interval cannot be calculated"
                warnings.simplefilter("ignore")
                ref = ss.bootstrap((np.arange(N),), stat, vectorized=False, n_resamples=NB, method=method,
                                   rng=np.random.default_rng([SEED, 0]))
            want = [ref.confidence_interval.low, ref.confidence_interval.high]
            np.testing.assert_allclose(ours.ev_ci.values[:, j], want, rtol=1e-9, equal_nan=True)
    assert b.n_boot_undefined.values[0] > 0 and np.isnan(b.ev_ci.values[:, 0]).all()  # scipy: NaN too
    assert [m for m in said if "undefined statistic" in m] == [
        m for m in said if m.startswith("bootstrap: neural (b): 1 neuroids have resamples with an undefined statistic")]
    # omit: the quantiles of the defined resamples, counted as before
    o, _ = _said(bootstrap, "forward", F, B, nan_policy="omit", **kw)
    hand = b.ev_boot.values[:, 0]
    np.testing.assert_allclose(o.ev_ci.values[:, 0], np.quantile(hand[np.isfinite(hand)], [0.025, 0.975]), rtol=1e-12)
    assert o.attrs["nan_policy"] == "omit" and "nan_policy" not in b.attrs
    np.testing.assert_array_equal(o.n_boot_undefined.values, b.n_boot_undefined.values)


def test_the_median_counts_the_targets_each_resample_defines(partial):
    b, _ = _said(bootstrap, "forward", *partial, n_boot=NB, seed=SEED, noise_ceiling=False, n_folds=3)
    ev = b.ev_boot.values
    np.testing.assert_array_equal(b.median_ev_n_targets.values, np.isfinite(ev).sum(axis=1))
    np.testing.assert_allclose(b.median_ev_boot.values, np.nanmedian(ev, axis=1), rtol=1e-15)
    assert (b.median_ev_n_targets.values < 3).any() and np.isfinite(b.median_ev_ci.values).all()



def _numpy_said(fn, *args, **kwargs):
    """``fn``'s result and the warnings it gave that are not neuroxr's (NumPy's RuntimeWarnings)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(x.message) for x in w if not issubclass(x.category, nx.NeuroxrWarning)]


def _nanmedian_rows(values):
    """The median of each row's finite values, NaN for a row without one (the rule, computed here)."""
    return np.array([np.median(r[np.isfinite(r)]) if np.isfinite(r).any() else np.nan for r in values])


def test_medians_without_a_defined_target_are_nan_without_numpy_warnings():
    """A resample defining no target (6 stimuli: some draw fewer than 3 distinct ones), no target
    included (min_reliability=0.99) or a layer's selection half undefined on a resample has a NaN
    median, said by neuroxr's own warning: NumPy's 'All-NaN slice encountered' / 'Mean of empty
    slice' reached the user, once per such resample."""
    from neuroxr.predictivity.inference import best_layer, permutation_test

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(6)]
    Xv = rng.normal(size=(6, 5))
    R = (Xv[:, :2] @ rng.normal(size=(2, 4)))[:, :, None] + rng.normal(size=(6, 4, 4))
    B = nx.neural(R, ids)
    boots = {}
    for name, units in (("a", 5), ("b", 3)):
        boots[name], said = _numpy_said(bootstrap, "forward", nx.features(Xv[:, :units], ids), B, n_boot=NB,
                                        n_folds=3, reps=2)
        assert said == []
        med = boots[name].median_ev_boot.values
        np.testing.assert_array_equal(np.isnan(med), ~np.isfinite(boots[name].ev_boot.values).any(axis=1))
        assert np.isnan(med).any()
        np.testing.assert_allclose(med, _nanmedian_rows(boots[name].ev_boot.values), rtol=1e-15)
    F = nx.features(Xv, ids)
    for call in (lambda: bootstrap("forward", F, B, n_boot=20, n_folds=3, min_reliability=0.99),
                 lambda: bootstrap("forward", F, B, n_boot=20, n_folds=3, over="targets", min_reliability=0.99),
                 lambda: permutation_test("forward", F, B, n_perm=20, n_folds=3, min_reliability=0.99)):
        out, said = _numpy_said(call)
        assert said == [] and not out.included.values.any()
        assert np.isnan(out["median_ev" if "median_ev" in out else "median_r"].values)
    best, said = _numpy_said(best_layer, boots)
    assert said == [] and int(best.n_boot_undefined) > 0

def test_bootstrap_gives_the_directions_reliability_warning():
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(40)]
    Fv = rng.normal(size=(40, 5))
    R = 0.25 * (Fv @ rng.normal(size=(5, 6)))[:, :, None] + 2.0 * rng.normal(size=(40, 6, 4))
    F, B = nx.features(Fv, ids), nx.neural(R, ids)
    _, direction = _said(nx.forward, F, B, seed=0, reps=3)
    _, boot = _said(bootstrap, "forward", F, B, n_boot=50, seed=0, reps=3)
    hygiene = [m for m in direction if "split-half reliability below" in m]
    assert hygiene and hygiene[0].replace("forward: ", "bootstrap: ", 1) in boot  # from the function called


# ---------------------------------------------------------------------------- geometry
def test_cka_bootstrap_follows_scipy_with_undefined_resamples():
    rng = np.random.default_rng(2)
    n = 7
    A = np.zeros((n, 3))
    A[0] = rng.normal(size=3)  # a resample without stimulus 0 has a constant A: CKA undefined
    Bm = rng.normal(size=(n, 4))

    def cka(i):
        K, L = A[i] @ A[i].T, Bm[i] @ Bm[i].T
        H = np.eye(i.size) - 1.0 / i.size
        K, L = H @ K @ H, H @ L @ H
        den = np.sqrt(np.sum(K * K) * np.sum(L * L))
        return np.sum(K * L) / den if den > 0 else np.nan

    ids = [f"s{i}" for i in range(n)]
    a, b = nx.features(A, ids, name="a"), nx.features(Bm, ids, name="b")
    out, said = _said(cka_bootstrap, a, b, n_boot=NB, seed=SEED, method="percentile")
    hand = np.array([cka(i) for i in out.boot_index.values])
    np.testing.assert_allclose(out.cka_boot.values, hand, atol=1e-12, equal_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ss.bootstrap((np.arange(n),), cka, vectorized=False, n_resamples=NB, method="percentile",
                           rng=np.random.default_rng([SEED, 0]))
    assert int(out.n_boot_undefined) == int(np.isnan(hand).sum()) > 0
    np.testing.assert_allclose(out.cka_ci.values, [ref.confidence_interval.low, ref.confidence_interval.high], equal_nan=True)
    assert np.isnan(out.cka_ci.values).all()
    assert any(m.startswith(f"cka_bootstrap: {int(out.n_boot_undefined)} of {NB} resamples have an undefined cka") for m in said)
    o, _ = _said(cka_bootstrap, a, b, n_boot=NB, seed=SEED, nan_policy="omit", method="percentile")
    np.testing.assert_allclose(o.cka_ci.values, np.quantile(hand[np.isfinite(hand)], [0.025, 0.975]), rtol=1e-12)


def _nan_rdm_inputs():
    """Features of 8 units, a 1-unit layer and neural sets of 5 and 1 neuroid(s): a correlation RDM of
    one unit or neuroid is all NaN (the dissimilarity of two scalars is undefined)."""
    rng = np.random.default_rng(4)
    ids = [f"s{i:02d}" for i in range(N)]
    return (nx.features(rng.normal(size=(N, 8)), ids, name="f"), nx.features(rng.normal(size=(N, 1)), ids, name="f1"),
            nx.neural(rng.normal(size=(N, 5, 4)), ids, name="r"), nx.neural(rng.normal(size=(N, 1, 4)), ids, name="r1"))


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
@pytest.mark.parametrize("case", ["one neuroid", "one unit", "ersa one neuroid"])
def test_rsa_bootstrap_of_an_all_nan_rdm_is_nan_as_crsa(case, method):
    """An all-NaN RDM (it crashed the Spearman bootstrap in the ranking, and gave NumPy warnings
    otherwise): the score is crsa's / compare_rdms's NaN, every resample is undefined and counted,
    the interval NaN under either nan_policy, with the NaN-pair warning and the undefined-resample one."""
    f, f1, r, r1 = _nan_rdm_inputs()
    feats, neural = (f1, r) if case == "one unit" else (f, r1)
    for policy in ("propagate", "omit"):
        if case.startswith("ersa"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = float(nx.ersa(feats, neural, compare_method=method if method != "corr" else "pearson").test_score)
            out, said = _said(ersa_bootstrap, feats, neural, compare_method=method, n_boot=NB, n_perm=9, nan_policy=policy)
            assert np.isnan(out.p.values) and np.isnan(out.score_null.values).all()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = float(nx.crsa(feats, neural, compare_method=method if method != "corr" else "pearson",
                                     noise_ceiling=False).score)
            out, said = _said(crsa_bootstrap, feats, neural, compare_method=method, n_boot=NB, nan_policy=policy)
        assert np.isnan(want) and np.isnan(float(out.score))
        assert np.isnan(out.score_boot.values).all() and np.isnan(out.score_ci.values).all()
        assert int(out.n_boot_undefined) == NB
        assert any(f"{NB} of {NB} resamples have an undefined score" in m for m in said), said
        assert any("stimulus pairs have a NaN dissimilarity" in m for m in said), said
        assert not [m for m in said if "encountered" in m or "empty" in m], said  # no NumPy warnings


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
def test_rsa_permutation_of_an_all_nan_rdm_is_nan_as_compare_rdms(method):
    """A Mantel test of an all-NaN model RDM: score and p NaN, compare_rdms's NaN (it gave score 0.0
    and p 1.0 with NumPy warnings, and crashed with Spearman), with compare_rdms's NaN-pair warning."""
    f, f1, r, _ = _nan_rdm_inputs()
    model, data = nx.rdm(f1), nx.rdm(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(nx.compare_rdms(model, data, method=method if method != "corr" else "pearson"))
    out, said = _said(rsa_permutation, model, [data], method=method, n_perm=19)
    assert np.isnan(float(out.score)) and np.isnan(float(out.p)) and np.isnan(out.score_null.values).all()
    assert [m for m in said if m.startswith("rsa_permutation: 190 of 190 stimulus pairs have a NaN")], said
    assert not [m for m in said if "encountered" in m or "empty" in m], said


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
def test_rsa_permutation_with_an_all_nan_data_rdm_is_nan_as_compare_rdms(method):
    """The data side: an all-NaN subject RDM (the correlation RDM of a one-neuroid neural set) beside a
    model without NaN crashed the Mantel test for corr and spearman (a minimum of an empty array);
    score and p are NaN, as compare_rdms and rsa_bootstrap give, alone or beside another subject."""
    from neuroxr.geometry.rdm import as_rdm

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(10)]
    X = rng.normal(size=(10, 5))
    model = nx.rdm(nx.features(X, ids))
    good = nx.rdm(nx.features(X + rng.normal(size=(10, 5)), ids))
    M = np.full((10, 10), np.nan)
    np.fill_diagonal(M, 0)
    bad = as_rdm(M, "sub1", stimulus_id=ids)
    for data in ([good, bad], [bad]):
        out, said = _said(rsa_permutation, model, data, method=method, n_perm=9)
        assert np.isnan(float(out.score)) and np.isnan(float(out.p)) and np.isnan(out.score_null.values).all()
        assert [m for m in said if "stimulus pairs have a NaN" in m], said
    one = nx.neural(rng.normal(size=(10, 1, 4)), ids)  # one neuroid: its correlation RDM is all NaN
    out, _ = _said(rsa_permutation, model, [nx.rdm(one)], method=method, n_perm=9)
    assert np.isnan(float(out.score)) and np.isnan(float(out.p))


def test_rsa_inference_with_fewer_than_3_complete_pairs_is_nan_as_compare_rdms():
    """2 complete pairs: compare_rdms's NaN (a correlation of 2 pairs is +-1), not +-1."""
    from neuroxr.geometry.rdm import as_rdm

    rng = np.random.default_rng(5)
    ids = [f"s{i}" for i in range(5)]
    A = np.full((5, 5), np.nan)
    np.fill_diagonal(A, 0)
    A[0, 1] = A[1, 0] = 1.0
    A[0, 2] = A[2, 0] = 2.0
    model, data = as_rdm(A, stimulus_id=ids), nx.rdm(nx.features(rng.normal(size=(5, 4)), ids))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(nx.compare_rdms(model, data, method="pearson"))
        boot = rsa_bootstrap(model, [data], n_boot=20)
        perm = rsa_permutation(model, [data], n_perm=19)
    assert np.isnan(float(boot.score)) and np.isnan(boot.score_boot.values).all() and int(boot.n_boot_undefined) == 20
    assert np.isnan(float(perm.score)) and np.isnan(float(perm.p))


def test_nan_policy_is_checked():
    with pytest.raises(nx.ParameterError, match="nan_policy"):
        rs.percentile_interval(np.zeros((3, 2)), nan_policy="raise")


def test_compare_and_best_layer_follow_the_bootstraps_rule():
    """compare's interval and p-value, and best_layer's interval, take the bootstraps' nan_policy:
    a resample whose difference is undefined makes them NaN by default (it was NaN for the interval
    but not for p, and NaN for "omit" bootstraps too), the defined resamples only with "omit"."""
    import xarray as xr

    from neuroxr.predictivity.inference import compare

    rng = np.random.default_rng(0)
    draws = {"a": rng.normal(1.0, 1, NB), "b": rng.normal(0.0, 1, NB)}
    draws["a"][5] = np.nan  # every target of layer a undefined in resample 5

    def boots(policy):
        attrs = {"seed": 0, "n_boot": NB, "over": "targets", **({"nan_policy": policy} if policy else {})}
        targets = {"ev": (("neuroid",), np.zeros(3))}  # the same targets, all included
        return {k: xr.Dataset({"median_ev": ((), float(np.nanmedian(v))), "median_ev_boot": (("boot",), v), **targets},
                              coords={"neuroid_id": ("neuroid", ["n0", "n1", "n2"])}, attrs=attrs)
                for k, v in draws.items()}

    d = draws["a"] - draws["b"]
    out, said = _said(compare, boots(None))
    assert np.isnan(out["diff_ci"].values).all() and np.isnan(out["p"].values).all()
    assert int(out["n_boot_undefined"].values[0]) == 1 and any("1 of" in m or "pairs" in m for m in said)
    omit = compare(boots("omit"))
    fin = d[np.isfinite(d)]
    np.testing.assert_allclose(omit["diff_ci"].values[0], np.quantile(fin, [0.025, 0.975]))
    ref = min(1.0, 2 * min((1 + np.sum(fin <= 0)) / (1 + fin.size), (1 + np.sum(fin >= 0)) / (1 + fin.size)))
    assert float(omit["p"].values[0]) == pytest.approx(ref)
    mixed = {**boots("omit"), "b": boots(None)["b"]}
    with pytest.raises(nx.LayoutError, match=r"^compare: boots were bootstrapped with different nan_policy"):
        compare(mixed)


def test_best_layer_follows_the_bootstraps_rule():
    """best_layer's interval of the chosen layer's test median: NaN where a resample's test median
    is undefined (default), from the defined resamples with "omit"; counted either way."""
    import xarray as xr

    from neuroxr.predictivity.inference import best_layer

    rng = np.random.default_rng(2)
    k, ids = 12, [f"n{j:02d}" for j in range(12)]

    def boots(policy):
        attrs = {"seed": 0, "n_boot": NB, "over": "stimuli", **({"nan_policy": policy} if policy else {})}
        out = {}
        for name, shift in (("l1", 10.0), ("l2", 0.0)):
            evb = rng.normal(shift, 1, (NB, k))
            evb[7] = np.nan  # resample 7 defines no target
            out[name] = xr.Dataset({"ev": (("neuroid",), np.full(k, shift)), "ev_boot": (("boot", "neuroid"), evb)},
                                   coords={"neuroid_id": ("neuroid", ids)}, attrs=attrs)
        return out

    out, _ = _said(best_layer, boots(None))
    assert str(out["best"].values) == "l1" and np.isnan(out["test_ev_ci"].values).all()
    assert int(out["n_boot_undefined"]) == 1
    omit, _ = _said(best_layer, boots("omit"))
    assert np.isfinite(omit["test_ev_ci"].values).all() and int(omit["n_boot_undefined"]) == 1
    with pytest.raises(nx.LayoutError, match=r"^best_layer: boots were bootstrapped with different nan_policy"):
        best_layer({**boots("omit"), "l2": boots(None)["l2"]})  # the function called starts its message


def test_best_layer_resample_without_a_defined_selection_is_undefined():
    """A resample where no layer had a defined selection-half median chose the first layer and
    scored its test median as defined (a finite interval, its frequency credited to that layer)."""
    import xarray as xr

    from neuroxr.predictivity.inference import best_layer
    from neuroxr.sweep.select import target_halves

    rng = np.random.default_rng(4)
    k, ids = 12, np.array([f"n{j:02d}" for j in range(12)])
    sel = target_halves(ids, "best_layer", 0)
    evb = {"low": rng.normal(0.0, 1, (NB, k)), "high": rng.normal(10.0, 1, (NB, k))}  # "low" first: never chosen
    for v in evb.values():
        v[7, sel] = np.nan  # resample 7 defines no selection-half target in any layer; its test half stays

    def boots(policy):
        attrs = {"seed": 0, "n_boot": NB, "over": "stimuli", **({"nan_policy": policy} if policy else {})}
        return {name: xr.Dataset({"ev": (("neuroid",), np.nanmedian(v, axis=0)), "ev_boot": (("boot", "neuroid"), v)},
                                 coords={"neuroid_id": ("neuroid", ids)}, attrs=attrs) for name, v in evb.items()}

    out, said = _said(best_layer, boots(None))
    assert str(out["best"].values) == "high" and int(out["n_boot_undefined"]) == 1
    assert np.isnan(out["test_ev_ci"].values).all() and any("best_layer" in m for m in said)
    np.testing.assert_allclose(out["frequency"].values, [0.0, (NB - 1) / NB])
    omit, _ = _said(best_layer, boots("omit"))
    ref = np.delete(np.median(evb["high"][:, ~sel], axis=1), 7)
    np.testing.assert_allclose(omit["test_ev_ci"].values, np.quantile(ref, [0.025, 0.975]))
    np.testing.assert_allclose(omit["frequency"].values, out["frequency"].values)


@pytest.mark.parametrize("method", ["corr", "cosine", "spearman"])
def test_rsa_resamples_of_fewer_than_3_distinct_pairs_are_nan_whatever_the_method(method):
    """A resample drawing 2 distinct stimuli compares one pair (however often drawn): NaN, as
    compare_rdms gives for fewer than 3 pairs, counted in n_boot_undefined (cosine read 1.0); a
    resample of 4 distinct stimuli drawn equally often is compare_rdms of their sub-RDM."""
    f, _, r, _ = _nan_rdm_inputs()
    idx = np.zeros((4, N), dtype=int)
    idx[0, 1:] = 1  # stimuli 0 and 1
    idx[1, ::2] = 7  # stimuli 7 and 0
    idx[2] = np.repeat([0, 2, 5, 9], N // 4)  # 4 distinct stimuli, equal counts: 6 pairs of equal weight
    idx[3, :] = 4  # one stimulus: no pair
    out, said = _said(crsa_bootstrap, f, r, compare_method=method, indices=idx)
    boot = out.score_boot.values
    assert np.isnan(boot[[0, 1, 3]]).all() and int(out.n_boot_undefined) == 3
    sub = [0, 2, 5, 9]
    name = "pearson" if method == "corr" else method
    model, data = nx.rdm(f).isel(stimulus=sub, stimulus_=sub), nx.rdm(r).isel(stimulus=sub, stimulus_=sub)
    assert boot[2] == pytest.approx(float(nx.compare_rdms(model, data, method=name)), abs=1e-12)
    assert [m for m in said if m.startswith("crsa_bootstrap: 3 of 4 resamples have an undefined score")], said


def test_a_bca_interval_nan_on_defined_resamples_is_told():
    """Targets predicted without error (EV 100, every resample at or below it, a jackknife without spread):
    BCa's bias correction is infinite or its acceleration undefined and the interval is NaN, as
    scipy.stats.bootstrap gives with its DegenerateDataWarning; it was NaN without a word. One warning counts
    them (and the median) and names method='percentile'; the percentile interval, defined, says nothing."""
    with pytest.warns(ss.DegenerateDataWarning):  # scipy on a degenerate sample: NaN, and says so
        assert np.isnan(ss.bootstrap((np.ones(8),), np.mean, method="BCa", n_resamples=20).confidence_interval.low)
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(N)]
    Fv = rng.normal(size=(N, 3))
    R = np.repeat((Fv @ rng.normal(size=(3, 4)))[:, :, None], 2, axis=2)
    F, B = nx.features(Fv, ids, name="net"), nx.neural(R, ids, name="b")
    kw = dict(n_boot=40, regressor="linear", noise_ceiling=False)
    b, said = _said(bootstrap, "forward", F, B, method="bca", **kw)
    hit = np.isnan(b.ev_ci.values).any(axis=0) & (b.n_boot_undefined.values == 0) & np.isfinite(b.ev.values)
    assert hit.any() and np.isnan(b.median_ev_ci.values).all()
    told = [m for m in said if "method='bca'" in m]
    assert len(told) == 1 and f"{int(hit.sum())} of 4 neuroids and the median over targets" in told[0], said
    assert "method='percentile'" in told[0] and "\n" not in told[0]
    p, said = _said(bootstrap, "forward", F, B, **kw)
    assert np.isfinite(p.ev_ci.values).all() and not [m for m in said if "method=" in m]
