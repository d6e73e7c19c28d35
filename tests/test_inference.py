"""Statistical inference of predictivity scores (issue 16): resampling kernels against scipy,
parity of the bootstrap's point estimates with the directions, permutation nulls, paired
comparisons and the coverage of the intervals on the synthetic ground truth."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.stats as ss
import xarray as xr
from conftest import near_constant

import neuroxr as nx
from neuroxr.datasets import make_study
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.kernels import resample as rs
from neuroxr.kernels.stats import spearman_brown
from neuroxr.predictivity._parts import prepare
from neuroxr.predictivity.inference import best_layer, bootstrap, compare, permutation_test

TRUE = {"m": [("true", 16, 1.0, 0)], "other": [("mixed", 24, 0.3, 8)]}


@pytest.fixture(scope="module")
def study():
    return make_study(seed=3, n_stimuli=90, animals={"a": 12}, n_repeats=8, models=TRUE, true_model="m",
                      true_layer="true")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


# ---------------------------------------------------------------------------- kernels vs scipy
def test_resampled_pearson_matches_scipy_on_each_resample():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + 0.5 * rng.normal(size=(30, 1))
    idx = rs.bootstrap_indices(30, 7, seed=4)
    got = rs.resampled_pearson(rs.counts(idx, 30), a, b)
    for i in range(7):
        for j in range(3):
            assert got[i, j] == pytest.approx(ss.pearsonr(a[idx[i], j], b[idx[i], j])[0], abs=1e-12)
    jack = rs.jackknife_pearson(a, b)
    assert jack[5, 1] == pytest.approx(ss.pearsonr(np.delete(a[:, 1], 5), np.delete(b[:, 1], 5))[0], abs=1e-12)


def test_resampled_pearson_omits_incomplete_rows_per_column():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    a[[2, 9], 0] = np.nan
    b[4, 2] = np.nan
    idx = rs.bootstrap_indices(30, 5, seed=1)
    got = rs.resampled_pearson(rs.counts(idx, 30), a, b)
    for i in range(5):
        for j in range(3):
            x, y = a[idx[i], j], b[idx[i], j]
            ok = ~(np.isnan(x) | np.isnan(y))
            assert got[i, j] == pytest.approx(ss.pearsonr(x[ok], y[ok])[0], abs=1e-12)
    jack = rs.jackknife_pearson(a, b)
    x, y = np.delete(a[:, 0], 5), np.delete(b[:, 0], 5)
    ok = ~np.isnan(x)
    assert jack[5, 0] == pytest.approx(ss.pearsonr(x[ok], y[ok])[0], abs=1e-12)
    assert np.isfinite(jack[2, 0])  # leaving out a NaN row changes nothing for that column


@pytest.mark.parametrize("values", ["continuous", "tied", "rounding", "chains", "long_chains"])
def test_weighted_ranks_are_the_ranks_of_the_vector_with_each_entry_drawn_w_times(values):
    """Each row's ranks are those of the vector repeating every entry ``w`` times (scipy's rankdata;
    values equal up to rounding tie, as the one tie rule ``rank`` gives, also along chains of
    near-ties that an absent entry breaks, and chains spanning many tolerances, split into groups
    spanning one at most), absent entries (``w = 0``, NaN or not) playing no part
    otherwise, whether ``x`` is one vector (sorted once) or one per row (each row sorted)."""
    from neuroxr.backend import TIE_RTOL

    rng = np.random.default_rng(5)
    x = {"continuous": rng.normal(size=40), "tied": rng.integers(0, 6, 40) / 2.0,
         "rounding": rng.integers(0, 4, 40) + np.where(rng.random(40) < 0.5, 0.3, 0.1 + 0.2),
         "chains": 5 + rng.integers(0, 8, 40) * 0.7 * TIE_RTOL * 5,  # neighbours tie, every second not
         "long_chains": 5 + rng.permutation(40) * 0.3 * TIE_RTOL * 5}[values]  # one chain over 12 tolerances
    x[[3, 17]] = np.nan
    w = rng.integers(0, 3, size=(6, 40)).astype(float)
    w[:, [3, 17]] = 0
    w[1] = 0
    w[1, 5] = 2  # one entry drawn twice
    got, per_row = rs.weighted_ranks(x, w), rs.weighted_ranks(np.tile(x, (6, 1)), w)
    np.testing.assert_array_equal(per_row, got)
    for b in range(6):
        keep = w[b] > 0
        long = np.repeat(x[keep], w[b, keep].astype(int))
        ref = (ss.rankdata(long) if values not in ("rounding", "chains", "long_chains")
               else np.asarray(nx.kernels.stats.rank(long[:, None], axis=0))[:, 0])
        np.testing.assert_array_equal(np.repeat(got[b, keep], w[b, keep].astype(int)), ref)
        assert (got[b, ~keep] == 0).all()
    if values == "rounding":  # 0.1 + 0.2 and 0.3 tie: the plain ranks differ from scipy's exact ones
        assert not np.array_equal(rs.weighted_ranks(x, np.ones((1, 40)) * np.isfinite(x))[0][np.isfinite(x)],
                                  ss.rankdata(x[np.isfinite(x)]))


@pytest.mark.parametrize("split", ["valid", "slots"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal"])
def test_point_estimates_equal_the_directions_with_missing_trials(study, split, direction):
    """With missing trials (slot halves empty at some stimuli under split='slots'), the bootstrap's
    ev and ceiling are the directions' means over reps, NaN-skipping, never NaN where they are not."""
    F, R = study.features["m"]["true"], study.neural["a"]
    rng = np.random.default_rng(4)
    vals = R.values.copy()
    miss = rng.uniform(size=vals.shape) < 0.15
    miss[..., :2] = False  # two valid repeats everywhere
    Rn = R.copy(data=np.where(miss, np.nan, vals))
    src, tgt = {"forward": (F, Rn), "reverse": (Rn, F), "inter_animal": (Rn, R)}[direction]
    fn = {"forward": nx.forward, "reverse": nx.reverse, "inter_animal": nx.inter_animal}[direction]
    ref = fn(src, tgt, reps=4, seed=1, split=split)
    b = bootstrap(direction, src, tgt, n_boot=5, reps=4, seed=1, split=split)
    np.testing.assert_allclose(b["ev"], ref.ev.mean("rep"), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b["ceiling"], ref.ceiling.mean("rep"), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_intervals_match_scipy_bootstrap_with_the_same_draws(method):
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = 0.6 * x + rng.normal(size=40)
    n_boot, seed = 500, 9

    def stat(x, y, axis=-1):
        xc = x - x.mean(axis=axis, keepdims=True)
        yc = y - y.mean(axis=axis, keepdims=True)
        return (xc * yc).sum(axis) / np.sqrt((xc**2).sum(axis) * (yc**2).sum(axis))

    ref = ss.bootstrap((x, y), stat, paired=True, vectorized=True, n_resamples=n_boot, method=method,
                       confidence_level=0.9, rng=np.random.default_rng([seed, 0]))
    W = rs.counts(rs.bootstrap_indices(40, n_boot, seed), 40)
    boot = rs.resampled_pearson(W, x[:, None], y[:, None])[:, 0]
    np.testing.assert_allclose(boot, ref.bootstrap_distribution, atol=1e-12)
    if method == "BCa":
        theta = rs.resampled_pearson(np.ones((1, 40)), x[:, None], y[:, None])[0]
        ci = rs.bca_interval(theta, boot[:, None], rs.jackknife_pearson(x[:, None], y[:, None]), 0.9)[:, 0]
    else:
        ci = rs.percentile_interval(boot, 0.9)
    np.testing.assert_allclose(ci, [ref.confidence_interval.low, ref.confidence_interval.high], atol=1e-10)


def test_corrections_match_scipy_and_definitions():
    p = np.random.default_rng(2).uniform(size=25) ** 2
    np.testing.assert_allclose(rs.fdr_bh(p), ss.false_discovery_control(p), atol=1e-12)
    order = np.argsort(p)
    holm = np.maximum.accumulate(np.minimum(1, p[order] * (25 - np.arange(25))))
    np.testing.assert_allclose(rs.holm(p)[order], holm)
    null = np.random.default_rng(3).normal(size=(99, 4))
    obs = np.array([0.0, 1.0, 2.5, -1.0])
    exp = [(1 + np.sum(null.max(axis=1) >= o)) / 100 for o in obs]
    np.testing.assert_allclose(rs.maxt_pvalues(obs, null), exp)
    assert np.all(rs.maxt_pvalues(obs, null) >= rs.permutation_pvalues(obs, null))


# ---------------------------------------------------------------------------- bootstrap of the directions
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_min_reliability_restricts_the_medians_to_the_included_targets(study, direction):
    F, R = study.features["other"]["mixed"], study.neural["a"]
    src, tgt = (F, R) if direction == "forward" else (R, F)
    fn = nx.forward if direction == "forward" else nx.reverse
    ref = fn(src, tgt, reps=3, seed=1, min_reliability=0.6)
    inc = ref.included.values
    assert 0 < inc.sum() < inc.size  # the threshold splits the targets
    b = bootstrap(direction, src, tgt, n_boot=30, reps=3, seed=1, min_reliability=0.6)
    np.testing.assert_array_equal(b["included"].values, inc)
    ev = ref.ev.mean("rep").values
    assert float(b["median_ev"]) == pytest.approx(float(np.nanmedian(ev[inc])), rel=1e-9)
    np.testing.assert_allclose(b["median_ev_boot"], np.nanmedian(b["ev_boot"].values[:, inc], axis=1))
    bt = bootstrap(direction, src, tgt, n_boot=30, reps=3, seed=1, min_reliability=0.6, over="targets")
    draws = np.flatnonzero(inc)[rs.bootstrap_indices(int(inc.sum()), 30, 1, stream=1)]
    np.testing.assert_allclose(bt["median_ev_boot"], np.nanmedian(ev[draws], axis=1), rtol=1e-9)
    p = permutation_test(direction, src, tgt, n_perm=19, reps=3, seed=1, min_reliability=0.6, keep_null=True)
    np.testing.assert_array_equal(p["included"].values, inc)
    assert float(p["median_r"]) == pytest.approx(float(np.nanmedian(p["r"].values[inc])))
    np.testing.assert_allclose(p["r"], permutation_test(direction, src, tgt, n_perm=19, seed=1)["r"])


@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal"])
def test_inference_of_trial_averaged_data_carries_the_directions_note(study, direction):
    """One repeat: no ceiling can be estimated, and the bootstrap says so in the direction's own note (it
    recorded noise_ceiling=0 alone); data with repeats, and the permutation test (whose statistic is r,
    never ceiled), carry no note."""
    F, R = study.features["m"]["true"], study.neural["a"]
    R1 = R.isel(repeat=[0]).fillna(0.0)
    RB = R1.assign_coords(neuroid_id=("neuroid", [f"b{i}" for i in range(R1.sizes["neuroid"])]))
    args = {"forward": (F, R1), "reverse": (R1, F), "inter_animal": (R1, RB)}[direction]
    note = getattr(nx, direction)(*args, reps=1).attrs["note"]
    assert "no split-half noise ceiling" in note
    assert bootstrap(direction, *args, n_boot=5, reps=1).attrs["note"] == note
    assert "note" not in permutation_test(direction, *args, n_perm=5).attrs  # its statistic is r: no ceiling ever
    assert "note" not in bootstrap("forward", F, R, n_boot=5, reps=1).attrs


def test_min_reliability_without_a_ceiling_is_refused_as_the_directions_refuse_it(study):
    """Trial-averaged data have no ceiling, so min_reliability judges nothing: the directions and
    inference warned that it was ignored, yet keyed an entry by it. They refuse it now, in one line,
    as they refuse split and seed there; without it they count every target."""
    F, R = study.features["m"]["true"], study.neural["a"].isel(repeat=[0]).fillna(0.0)
    for name, fn in (("forward", lambda **k: nx.forward(F, R, reps=1, **k)),
                     ("bootstrap", lambda **k: bootstrap("forward", F, R, n_boot=5, reps=1, **k)),
                     ("permutation_test", lambda **k: permutation_test("forward", F, R, n_perm=5, **k))):
        with pytest.raises(ParameterError, match=rf"^{name}: min_reliability=0\.5 has no effect without a noise ceiling "
                                                 r"\(trial-averaged data"):
            fn(min_reliability=0.5, **({"reps": 1} if name == "permutation_test" else {}))
        assert fn()["included"].values.all()
    RB = R.assign_coords(neuroid_id=("neuroid", [f"b{i}" for i in range(R.sizes["neuroid"])]))
    for fn in (lambda: nx.reverse(R, F, reps=1, min_reliability=0.5), lambda: nx.inter_animal(R, RB, reps=1, min_reliability=0.5)):
        with pytest.raises(ParameterError, match="min_reliability=0.5 has no effect without a noise ceiling"):
            fn()


def test_point_estimates_equal_the_directions(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    fwd = nx.forward(F, R, reps=4, seed=2)
    b = bootstrap("forward", F, R, n_boot=20, reps=4, seed=2)
    np.testing.assert_allclose(b["ev"], fwd.ev.mean("rep"), atol=1e-9)
    np.testing.assert_allclose(b["ceiling"], fwd.ceiling.mean("rep"), atol=1e-12)
    assert float(b["median_ev"]) == pytest.approx(float(np.nanmedian(fwd.ev.mean("rep"))))
    assert float(b["median_ceiling"]) == pytest.approx(float(np.nanmedian(fwd.ceiling.mean("rep"))))
    np.testing.assert_allclose(b["median_ceiling_boot"], np.nanmedian(b["ceiling_boot"], axis=1))
    np.testing.assert_allclose(b["median_ceiling_ci"], np.quantile(b["median_ceiling_boot"], [0.025, 0.975]))
    rev = nx.reverse(R, F, reps=4, seed=2)
    br = bootstrap("reverse", R, F, n_boot=20, reps=4, seed=2)
    np.testing.assert_allclose(br["ev"], rev.ev.mean("rep"), atol=1e-9)
    assert br.attrs["n_boot"] == 20 and br.attrs["direction"] == "reverse"


def test_point_estimates_inter_animal_and_model_to_model():
    st = make_study(seed=1, n_stimuli=90, animals={"a": 12, "b": 10}, n_repeats=(8, 6), models=TRUE, true_model="m",
                    true_layer="true")
    A, B = st.neural["a"], st.neural["b"]
    ia = nx.inter_animal(A, B, reps=3)
    b = bootstrap("inter_animal", A, B, n_boot=20, reps=3)
    np.testing.assert_allclose(b["ev"], ia.ev.mean("rep"), atol=1e-9)
    np.testing.assert_allclose(b["ceiling"], ia.ceiling.mean("rep"), atol=1e-12)
    FA, FB = st.features["m"]["true"], st.features["other"]["mixed"]
    mm = nx.model_to_model(FA, FB)
    b = bootstrap("model_to_model", FA, FB, n_boot=20)
    np.testing.assert_allclose(b["ev"], mm.ev.mean("rep"), atol=1e-9)
    assert "ceiling" not in b
    p = permutation_test("model_to_model", FA, FB, n_perm=9)
    np.testing.assert_allclose(p["r"], mm.r.mean("rep"), atol=1e-12)


def test_targets_constant_up_to_rounding_are_nan_as_in_the_directions(study):
    F, R = study.features["m"]["true"], study.neural["a"].copy()
    R[:, 0, :] = near_constant(R.sizes["stimulus"])[:, None]
    fwd = nx.forward(F, R, reps=3)
    with pytest.warns(nx.NeuroxrWarning, match=r"^bootstrap: neural \(a\): 1 neuroids are constant across stimuli \(up to rounding: a spread below 2.4e-7 of their magnitude\)"):
        b = bootstrap("forward", F, R, n_boot=10, reps=3)
    np.testing.assert_allclose(b["ev"], fwd.ev.mean("rep"), atol=1e-9)  # NaN where the direction's is
    assert np.isnan(b["ev"][0]) and np.isnan(b["ceiling"][0]) and np.isnan(b["ev_boot"][:, 0]).all()
    p = permutation_test("forward", F, R, n_perm=9, keep_null=True)
    np.testing.assert_allclose(p["r"], fwd.r.mean("rep"), atol=1e-12)
    assert np.isnan(p["r"][0]) and np.isnan(p["p"][0])


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_a_stimulus_missing_for_every_target_is_dropped_as_the_directions_drop_it(study, direction):
    """A stimulus with no valid trial for any target neuroid is left out of every score, as the
    direction leaves it out: the bootstrap's and the permutation test's point estimates equal the
    direction's. It is still drawn over (the draws cover every stimulus of the design, so that no
    target's draws depend on whether another target has it)."""
    F, R = study.features["m"]["true"], study.neural["a"]
    vals = R.values.copy()
    vals[11] = np.nan  # stimulus 11: no valid trial for any neuroid
    Rn = R.copy(data=vals)
    if direction == "inter_animal":  # two halves of the population as two animals
        src, Rn, fn = R.isel(neuroid=slice(0, 6)), Rn.isel(neuroid=slice(6, None)), nx.inter_animal
    else:
        src, fn = F, nx.forward
    ref = fn(src, Rn, reps=3, seed=1)
    b = bootstrap(direction, src, Rn, n_boot=5, reps=3, seed=1)
    np.testing.assert_allclose(b["ev"], ref.ev.mean("rep"), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b["ceiling"], ref.ceiling.mean("rep"), rtol=1e-9, atol=1e-12)
    assert b.attrs["n_stimuli"] == R.sizes["stimulus"] - 1 and b.sizes["stimulus"] == R.sizes["stimulus"]
    assert str(R.stimulus_id.values[11]) in b.stimulus_id.values
    p = permutation_test(direction, src, Rn, n_perm=5, seed=1)
    np.testing.assert_allclose(p["r"], ref.r.mean("rep"), rtol=1e-9, atol=1e-12)


def test_bootstrap_resample_equals_explicit_recomputation(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    parts = prepare("forward", F, R, reps=3, seed=0)
    b = bootstrap("forward", F, R, n_boot=5, reps=3, seed=0)
    i, j = 3, 7
    rows = b["boot_index"].values[i]

    def r(a, c):
        return ss.pearsonr(a[rows, j], c[rows, j])[0]

    def rho(a, c):  # the target halves ranked anew on the resample's rows (copies tied)
        return ss.spearmanr(a[rows, j], c[rows, j])[0]

    evs = []
    for rep in range(3):
        ceil = spearman_brown(r(parts.P1[rep], parts.P2[rep])) * spearman_brown(rho(parts.s1[rep], parts.s2[rep]))
        evs.append(r(parts.Y, parts.P) ** 2 / ceil * 100 if ceil > 0 else np.nan)  # negative ceiling: NaN
    assert float(b["ev_boot"][i, j]) == pytest.approx(np.nanmean(evs), rel=1e-9)


def test_resamples_depend_on_ids_not_positions(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    perm = np.random.default_rng(0).permutation(R.sizes["stimulus"])
    a = bootstrap("forward", F, R, n_boot=30, reps=2)
    b = bootstrap("forward", F.isel(stimulus=perm[::-1]), R.isel(stimulus=perm), n_boot=30, reps=2)
    np.testing.assert_allclose(a["ev_boot"], b["ev_boot"], atol=1e-9)
    np.testing.assert_array_equal(a["stimulus_id"], b["stimulus_id"])


def test_over_targets_and_both(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    bt = bootstrap("forward", F, R, n_boot=50, reps=2, over="targets")
    ev = bt["ev"].values
    idx = rs.bootstrap_indices(ev.size, 50, 0, stream=1)
    np.testing.assert_allclose(bt["median_ev_boot"], np.nanmedian(ev[idx], axis=1))
    assert "ev_boot" not in bt and "boot_index" not in bt
    bb = bootstrap("forward", F, R, n_boot=50, reps=2, over="both")
    bs = bootstrap("forward", F, R, n_boot=50, reps=2)
    np.testing.assert_allclose(bb["median_ev_boot"], np.nanmedian(np.take_along_axis(bs["ev_boot"].values, idx, 1), 1))
    lo, hi = bb["median_ev_ci"].values
    assert lo < float(bb["median_ev"]) < hi


def test_target_draws_depend_on_ids_not_input_order(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    rev = R.isel(neuroid=np.arange(R.sizes["neuroid"])[::-1])
    for over in ("targets", "both"):
        a = bootstrap("forward", F, R, n_boot=40, reps=2, over=over)
        b = bootstrap("forward", F, rev, n_boot=40, reps=2, over=over)
        np.testing.assert_allclose(a["median_ev_boot"], b["median_ev_boot"], rtol=1e-12)
        np.testing.assert_allclose(a["median_ev_ci"], b["median_ev_ci"], rtol=1e-12)


def test_bca_over_targets_for_the_ceiling_too(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    bt = bootstrap("forward", F, R, n_boot=200, reps=2, over="targets", method="bca")
    c = bt["ceiling"].values
    idx = rs.bootstrap_indices(c.size, 200, 0, stream=1)
    jack = np.array([np.median(np.delete(c, i)) for i in range(c.size)])
    ref = rs.bca_interval(np.asarray(np.median(c)), np.median(c[idx], axis=1), jack, 0.95)
    np.testing.assert_allclose(bt["median_ceiling_ci"], ref, rtol=1e-12)
    assert not np.allclose(ref, rs.percentile_interval(np.median(c[idx], axis=1)))  # BCa, not the percentile


def test_bca_over_targets_without_included_targets_is_nan_as_over_stimuli(study):
    # min_reliability above every reliability: no target counts, so every median and interval is NaN
    F, R = study.features["m"]["true"], study.neural["a"]
    for over in ("targets", "stimuli"):
        bt = bootstrap("forward", F, R, n_boot=20, reps=2, over=over, method="bca", min_reliability=1.0)
        assert not bt["included"].any()
        assert np.isnan(bt["median_ev_ci"].values).all() and np.isnan(bt["median_ceiling_ci"].values).all()


def test_best_layer_refuses_resamples_of_targets(study):
    # over="both" draws targets too: best_layer's per-target resamples would silently drop them
    R = study.neural["a"]
    for over, got in (("targets", "resamples of targets only"), ("both", "over='both'")):
        boots = {m: bootstrap("forward", study.features[m][layer], R, n_boot=10, reps=2, over=over)
                 for m, layer in (("m", "true"), ("other", "mixed"))}
        with pytest.raises(ParameterError, match=f"needs bootstraps over stimuli .*; got {got}"):
            best_layer(boots)


def test_bad_parameters_raise_one_line(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    with pytest.raises(ParameterError, match="method"):
        bootstrap("forward", F, R, method="basic")
    with pytest.raises(ParameterError, match="over='both'"):
        bootstrap("forward", F, R, method="bca", over="both")
    with pytest.raises(ParameterError, match="n_boot"):
        bootstrap("forward", F, R, n_boot=0)
    with pytest.raises(ParameterError, match="level"):
        bootstrap("forward", F, R, level=95)
    with pytest.raises(ParameterError, match="direction"):
        bootstrap("sideways", R, R)
    with pytest.raises(ParameterError, match=r"^bootstrap: forward inference takes no \['max_n'\] .*; it accepts \['reps'"):
        bootstrap("forward", F, R, n_boot=5, max_n=3)
    with pytest.raises(ParameterError, match=r"^permutation_test: reverse inference takes no \['keep_predictions'\]"):
        permutation_test("reverse", R, F, n_perm=5, keep_predictions=True)


def test_a_bad_direction_is_refused_naming_the_function_called(study):
    """bootstrap / permutation_test refused a bad direction without their name first (as every other
    refusal of theirs gives it)."""
    from neuroxr.predictivity._parts import prepare
    from neuroxr.predictivity.inference import INFERENCE_DIRECTIONS

    F, R = study.features["m"]["true"], study.neural["a"]
    for fn in (bootstrap, permutation_test):
        with pytest.raises(ParameterError, match=rf"^{fn.__name__}: direction must be one of {re.escape(str(INFERENCE_DIRECTIONS))}; got 'fwd'\.$"):
            fn("fwd", F, R)
    with pytest.raises(ParameterError, match=r"^bootstrap: direction must be one of .* for inference; got 'fwd'\.$"):
        prepare("fwd", F, R, caller="bootstrap")



@pytest.mark.parametrize("name", ["percentile_interval", "basic_interval", "centred_interval", "bca_interval"])
def test_interval_kernels_name_themselves_in_a_bad_level(name):
    """Called directly, an interval kernel refuses a bad level under its own name (the labeled
    functions check ``level`` first, under theirs)."""
    boot, theta = np.random.default_rng(0).standard_normal((20, 3)), np.zeros(3)
    args = {"percentile_interval": (boot,), "basic_interval": (theta, boot), "centred_interval": (theta, boot),
            "bca_interval": (theta, boot, boot[:10])}[name]
    with pytest.raises(ParameterError, match=rf"^{name}: level must be a number in \(0, 1\); got 95\."):
        getattr(rs, name)(*args, 95)


# ---------------------------------------------------------------------------- permutations
def test_permutation_null_is_the_operator_on_permuted_targets(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    res = permutation_test("forward", F, R, n_perm=6, keep_null=True)
    parts = prepare("forward", F, R, reps=1, noise_ceiling=False)
    perm = rs.permutation_indices(parts.n, 6, 0)[4]
    Yp = parts.Y[perm]
    Pp = nx.forward(F, R.isel(stimulus=np.argsort(R.stimulus_id.values.astype(str))[perm]).assign_coords(
        stimulus_id=("stimulus", np.sort(R.stimulus_id.values.astype(str)))), reps=1, noise_ceiling=False)
    np.testing.assert_allclose(res["r_null"][4], Pp.r[:, 0], atol=1e-10)
    assert Yp.shape == parts.Y.shape
    assert float(res["median_p"]) == pytest.approx(1 / 7)  # the true layer predicts: smallest p


def test_ceiling_options_are_checked_as_the_user_gave_them(study):
    """A permutation test without min_reliability draws no split halves (the caller turns the
    ceiling off, prepare(halves=False)); the user's options are still checked as given, and seed,
    which also draws the resamples and permutations, is never refused as inert."""
    F, R = study.features["m"]["true"], study.neural["a"]
    parts = prepare("forward", F, R, reps=2, seed=3, split="slots", halves=False)
    assert parts.P1 is None and parts.params["seed"] == 3 and parts.params["split"] == "slots"
    p = permutation_test("forward", F, R, n_perm=5, seed=3)
    assert (p.attrs["seed"], p.attrs["noise_ceiling"]) == (3, False)
    with pytest.raises(ParameterError, match=r"^permutation_test: split must be one of"):
        permutation_test("forward", F, R, n_perm=5, split="halves", min_reliability=0.1)
    assert bootstrap("forward", F, R, n_boot=5, reps=1, noise_ceiling=False, seed=3).attrs["seed"] == 3
    for name, fn in (("bootstrap", lambda **kw: bootstrap("forward", F, R, n_boot=5, reps=1, **kw)),
                     ("permutation_test", lambda **kw: permutation_test("forward", F, R, n_perm=5, reps=1, **kw))):
        with pytest.raises(ParameterError, match=rf"^{name}: min_reliability=0.5 has no effect without a noise ceiling"):
            fn(noise_ceiling=False, min_reliability=0.5)  # as the directions refuse it


@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal"])
def test_permutation_refuses_the_ceiling_options_its_statistic_never_reads(study, direction):
    """Without min_reliability a permutation test's numbers never depend on reps, split or
    noise_ceiling (its statistic r has no ceiling): given away from their defaults they are refused
    in one line; at their defaults they are accepted; with min_reliability they choose the targets."""
    F, R = study.features["m"]["true"], study.neural["a"]
    src, tgt = {"forward": (F, R), "reverse": (R, F), "inter_animal": (R.isel(neuroid=slice(0, 6)),
                                                                       R.isel(neuroid=slice(6, None)))}[direction]
    ref = permutation_test(direction, src, tgt, n_perm=7)
    for kw in (dict(reps=7), dict(split="slots"), dict(noise_ceiling=False), dict(noise_ceiling=True),
               dict(reps=3, split="slots")):
        with pytest.raises(ParameterError, match=r"^permutation_test: (reps|split|noise_ceiling)=.* no effect in a "
                                                 r"permutation test without min_reliability .*; drop (it|them) or "
                                                 r"give min_reliability too") as err:
            permutation_test(direction, src, tgt, n_perm=7, **kw)
        assert "\n" not in str(err.value) and all(f"{k}=" in str(err.value) for k in kw)
    same = permutation_test(direction, src, tgt, n_perm=7, reps=20, split="valid", noise_ceiling=None)
    np.testing.assert_array_equal(same["p"], ref["p"])
    a = permutation_test(direction, src, tgt, n_perm=7, reps=2, min_reliability=0.6)
    b = permutation_test(direction, src, tgt, n_perm=7, reps=2, split="slots", min_reliability=0.6)
    assert a.attrs["reps"] == 2 and b.attrs["split"] == "slots"


def test_model_to_model_inference_refuses_ceiling_options():
    """model_to_model has no ceiling: its bootstrap and permutation test refuse the ceiling options
    (and reps other than its default 1, which repeats one fit) as the direction does, in one line."""
    rng = np.random.default_rng(2)
    ids = [f"s{i:02d}" for i in range(30)]
    FA = nx.features(rng.normal(size=(30, 6)), stimulus_id=ids)
    FB = nx.features(FA.values @ rng.normal(size=(6, 4)) + rng.normal(size=(30, 4)), stimulus_id=ids)
    for kw in (dict(noise_ceiling=True), dict(noise_ceiling=False), dict(split="slots"), dict(reps=5),
               dict(min_reliability=0.3)):
        for fn, name in ((bootstrap, "bootstrap"), (permutation_test, "permutation_test")):
            with pytest.raises(ParameterError, match=rf"^{name}: .* no effect for model_to_model \(it has no noise "
                                                     rf"ceiling.*\); drop it\.$"):
                fn("model_to_model", FA, FB, **kw, **({"n_boot": 5} if fn is bootstrap else {"n_perm": 5}))
    b = bootstrap("model_to_model", FA, FB, n_boot=5, reps=1)
    np.testing.assert_array_equal(b["ev_boot"], bootstrap("model_to_model", FA, FB, n_boot=5)["ev_boot"])


def test_prepared_parts_refuse_the_direction_options(study):
    F, R = study.features["m"]["true"], study.neural["a"]
    parts = prepare("forward", F, R, reps=2)
    with pytest.raises(ParameterError, match=r"^bootstrap: \['alpha'\]: the Parts given as source were prepared"):
        bootstrap("forward", parts, None, n_boot=5, alpha=3.0)


def test_prepared_parts_record_the_seed_that_drew_the_resamples(study):
    """A Parts prepared with seed=1 and resampled with seed=5: the resamples and permutations are
    seed 5's, and so is attrs ``seed`` (it said 1: compare refused two results with the same
    resamples); the split halves' seed is ``split_seed``. A direct call records one seed."""
    from neuroxr.kernels.resample import bootstrap_indices
    from neuroxr.predictivity.inference import compare

    F, R = study.features["m"]["true"], study.neural["a"]
    parts1, parts5 = prepare("forward", F, R, reps=2, seed=1), prepare("forward", F, R, reps=2, seed=5)
    b = bootstrap("forward", parts1, None, n_boot=6, seed=5)
    np.testing.assert_array_equal(b["boot_index"].values, bootstrap_indices(parts1.n, 6, 5))
    assert b.attrs["seed"] == 5 and b.attrs["split_seed"] == 1
    p = permutation_test("forward", parts1, None, n_perm=6, seed=5)
    assert p.attrs["seed"] == 5 and p.attrs["split_seed"] == 1
    same = bootstrap("forward", parts5, None, n_boot=6, seed=5)
    assert "split_seed" not in same.attrs and "split_seed" not in bootstrap("forward", F, R, n_boot=6, seed=5, reps=2).attrs
    assert "diff_ci" in compare({"a": b, "b": same})  # the same resamples: paired (it refused: seed=1 vs 5)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_prepared_parts_record_the_inputs_labels(study, direction):
    """An inference given prepared Parts records the labels of the inputs they were prepared from,
    as a direct call does (it recorded the argument names "source" and "target")."""
    F, R = study.features["m"]["true"], study.neural["a"]
    src, tgt = (F, R) if direction == "forward" else (R, F)
    parts = prepare(direction, src, tgt, reps=2, seed=0)
    ref = bootstrap(direction, src, tgt, n_boot=5, reps=2)
    assert ref.attrs["source"] != "source" and ref.attrs["target"] != "target"
    for res in (bootstrap(direction, parts, None, n_boot=5), permutation_test(direction, parts, None, n_perm=5)):
        assert (res.attrs["source"], res.attrs["target"]) == (ref.attrs["source"], ref.attrs["target"])


def test_permutation_pvalues_uniform_under_null():
    rng = np.random.default_rng(5)
    ids = [f"s{i:03d}" for i in range(60)]
    R = nx.neural(rng.normal(size=(60, 150, 4)), stimulus_id=ids)
    F = nx.features(rng.normal(size=(60, 10)), stimulus_id=ids)
    res = permutation_test("forward", F, R, n_perm=199)
    p = res["p"].values
    assert ss.kstest(p, "uniform").pvalue > 0.001
    assert np.all(res["p_maxt"].values >= p) and np.all(res["p_fdr"].values >= p - 1e-12)


# ---------------------------------------------------------------------------- comparisons
def test_paired_comparison_and_best_layer(study):
    R = study.neural["a"]
    boots = {name: bootstrap("forward", study.features[m][name], R, n_boot=100, reps=2)
             for m, name in (("m", "true"), ("other", "mixed"))}
    boots["true2"] = boots["true"]
    cmp = compare(boots)
    assert list(cmp.pair.values) == ["true - mixed", "true - true2", "mixed - true2"]
    d = boots["true"]["median_ev"] - boots["mixed"]["median_ev"]
    assert float(cmp["diff"][0]) == pytest.approx(float(d))
    np.testing.assert_allclose(cmp["diff_ci"][0], np.quantile(boots["true"]["median_ev_boot"] - boots["mixed"]["median_ev_boot"], [0.025, 0.975]))
    assert float(cmp["p"][0]) < 0.05 and float(cmp["p"][1]) == 1.0
    assert np.all(cmp["p_adjusted"] >= cmp["p"])
    best = best_layer({"mixed": boots["mixed"], "true": boots["true"]})
    assert str(best["best"].values) == "true" and float(best["frequency"].sum()) == pytest.approx(1.0)
    fewer = R.isel(stimulus=slice(1, None))  # the same seed on other stimuli: other resamples
    other = bootstrap("forward", study.features["m"]["true"].isel(stimulus=slice(1, None)), fewer, n_boot=100, reps=2)
    for call in (compare, best_layer):  # each message starts with the function called
        with pytest.raises(LayoutError, match=rf"^{call.__name__}: boots\['b'\]: its resamples \(dim 'boot'\) differ"):
            call({"a": boots["true"], "b": other})
    # resamples of targets carry no boot_index: their seed, n_boot and over must still agree
    t1 = bootstrap("forward", study.features["m"]["true"], R, n_boot=50, reps=2, over="targets", seed=1)
    t2 = bootstrap("forward", study.features["other"]["mixed"], R, n_boot=50, reps=2, over="targets", seed=2)
    with pytest.raises(LayoutError, match=r"^compare: boots\['b'\]: seed=2 but boots\['a'\] has 1"):
        compare({"a": t1, "b": t2})
    with pytest.raises(LayoutError, match=r"^best_layer: boots\['b'\]: n_boot=50 but"):
        best_layer({"a": boots["true"], "b": bootstrap("forward", study.features["m"]["true"], R, n_boot=50, reps=2)})


@pytest.mark.parametrize("over", ["targets", "both"])
def test_compare_pairs_resampled_targets_by_id(study, over):
    """Resamples of targets are paired by the included targets' ids: other included sets (a
    min_reliability that keeps other neuroids per layer) or other targets (another animal) are
    refused; the same targets in another input order compare as in the first."""
    R, (F1, F2) = study.neural["a"], (study.features["m"]["true"], study.features["other"]["mixed"])

    def boot(F, target, **kw):
        return bootstrap("forward", F, target, n_boot=40, reps=2, over=over, **kw)

    a, b = boot(F1, R, min_reliability=0.8), boot(F2, R, min_reliability=0.8)
    assert (a["included"].values != b["included"].values).any()  # the case: each layer keeps other neuroids
    with pytest.raises(LayoutError, match=r"boots\['b'\]: its resampled targets \(dim 'neuroid'\) differ .* by id"):
        compare({"a": a, "b": b})
    other = R.assign_coords(neuroid_id=("neuroid", [f"b_{i}" for i in R["neuroid_id"].values]))  # another animal
    with pytest.raises(LayoutError, match=r"by id: 12 drawn among against 12, 12 only here"):
        compare({"a": boot(F1, R), "b": boot(F2, other)})
    with pytest.raises(LayoutError, match="only in boots"):
        compare({"a": boot(F1, R), "b": boot(F2, R.isel(neuroid=slice(0, 10)))})
    with pytest.raises(LayoutError, match=r"boots\['b'\] has no per-target 'ev'"):
        compare({"a": boot(F1, R), "b": boot(F2, R).drop_vars("ev")})
    rev = R.isel(neuroid=np.arange(R.sizes["neuroid"])[::-1])
    ref = compare({"a": boot(F1, R), "b": boot(F2, R)})
    xr.testing.assert_allclose(compare({"a": boot(F1, R), "b": boot(F2, rev)}), ref)
    # over stimuli alone each median counts its own included targets, on the same stimulus draws
    s = [bootstrap("forward", F, R, n_boot=40, reps=2, min_reliability=0.8) for F in (F1, F2)]
    assert np.isfinite(compare({"a": s[0], "b": s[1]})["p"].values).all()


def test_compare_refuses_resampled_targets_drawn_among_other_scored_targets():
    """Over targets each resample draws among the scored, included targets: two time bins (compared
    across_bins) where one neuroid has no data in one bin draw among other targets, so their resamples
    are not paired; refused (before: compared, as every neuroid was ``included`` in both)."""
    from conftest import time_sets

    F, _, B = time_sets()
    R = B.values.copy()
    R[:, 1, :, 2] = np.nan  # neuroid 1 without data in bin 2: not scored there
    b = bootstrap("forward", F, B.copy(data=R), n_boot=20, reps=2, over="targets")
    assert b["included"].values.all() and b["drawn"].values[:, :2].all() and not b["drawn"].values[1, 2]
    with pytest.raises(LayoutError, match=r"^compare: boots\['y'\]: its resampled targets .* by id: 3 drawn among "
                                          r"against 4, 1 only in boots\['x'\] \['neuroid1'\]"):
        compare({"x": b.isel(time_bin=0), "y": b.isel(time_bin=2)}, across_bins=True)
    assert compare({"x": b.isel(time_bin=0), "y": b.isel(time_bin=1)}, across_bins=True).sizes["pair"] == 1


def test_best_layer_counts_the_included_targets_only(study):
    R = study.neural["a"]
    boots = {name: bootstrap("forward", study.features[m][name], R, n_boot=60, reps=3, min_reliability=0.6)
             for m, name in (("other", "mixed"), ("m", "true"))}
    from neuroxr.sweep.select import target_halves

    best = best_layer(boots)
    chosen = boots[str(best["best"].values)]
    inc = chosen["included"].values
    assert not inc.all()
    # the halves split the targets included (with a finite EV) in some layer
    ids = chosen["neuroid_id"].values.astype(str)
    scored = np.any([np.isfinite(b["ev"].values) & b["included"].values for b in boots.values()], axis=0)
    assert not scored.all()
    sel = np.isin(ids, ids[scored][target_halves(ids[scored], "best_layer", 0)])
    ev = np.where(inc, chosen["ev"].values, np.nan)
    assert float(best["test_ev"]) == pytest.approx(float(np.nanmedian(ev[scored & ~sel])))
    assert best.attrs["n_selection"] == int(np.isfinite(ev[sel]).sum())
    assert best.attrs["n_selection"] + best.attrs["n_test"] + best.attrs["n_unscored"] == ids.size
    nan = {k: b.copy() for k, b in boots.items()}
    for b in nan.values():
        b["ev"] = b["ev"] * np.nan
    with pytest.raises(LayoutError, match="no layer has a finite median EV"):
        best_layer(nan)


def test_best_layer_splits_only_the_scored_targets(study):
    """A target never scored (NaN in every layer) takes no slot in the halves: best_layer chooses and
    scores as on the other targets alone, and counts it in n_unscored."""
    R = study.neural["a"]
    boots = {name: bootstrap("forward", study.features[m][name], R, n_boot=40, reps=2)
             for m, name in (("other", "mixed"), ("m", "true"))}
    gone = {k: b.isel(neuroid=slice(1, None)) for k, b in boots.items()}
    nan = {}
    for k, b in boots.items():
        b = b.copy()
        b["ev"] = b["ev"].where(b["neuroid"] != b["neuroid"][0])
        b["ev_boot"] = b["ev_boot"].where(b["neuroid"] != b["neuroid"][0])
        nan[k] = b
    ref, got = best_layer(gone), best_layer(nan)
    xr.testing.assert_allclose(got, ref, rtol=1e-12)
    assert got.attrs["n_unscored"] == 1 and ref.attrs["n_unscored"] == 0
    assert got.attrs["n_selection"] + got.attrs["n_test"] == R.sizes["neuroid"] - 1


def test_best_layer_pairs_targets_by_id(study):
    """best_layer pairs each layer's targets by id: the same targets in another order choose and score
    as in the first; a result without ids beside one with ids, or other ids, is refused."""
    R, (F1, F2) = study.neural["a"], (study.features["other"]["mixed"], study.features["m"]["true"])
    rev = R.isel(neuroid=np.arange(R.sizes["neuroid"])[::-1])
    b1, b2 = (bootstrap("forward", F, R, n_boot=30, reps=2) for F in (F1, F2))
    ref = best_layer({"a": b1, "b": b2})
    xr.testing.assert_allclose(best_layer({"a": b1, "b": bootstrap("forward", F2, rev, n_boot=30, reps=2)}), ref, rtol=1e-10)
    with pytest.raises(LayoutError, match=r"best_layer: boots\['b'\]: its targets \(dim 'neuroid'\) lack ids"):
        best_layer({"a": b1, "b": b2.drop_vars("neuroid_id")})
    with pytest.raises(LayoutError, match=r"differ from boots\['a'\]'s by id \(10 against 12"):
        best_layer({"a": b1, "b": bootstrap("forward", F2, R.isel(neuroid=slice(0, 10)), n_boot=30, reps=2)})


def test_time_resolved_bootstraps_are_compared_one_bin_at_a_time():
    from conftest import time_sets

    F, A, _ = time_sets()
    b = bootstrap("forward", F, A, n_boot=10, reps=2)
    for call, who in ((compare, "compare"), (best_layer, "best_layer")):  # the function called, the bin by its edges
        with pytest.raises(LayoutError, match=rf"^{who}: boots\['x'\] is time-resolved \(dim 'time_bin', 3 bins "
                                              r"starting at \[0\.0, 10\.0, 20\.0\] ms\); compare one bin at a time") as e:
            call({"x": b, "y": b})
        assert "isel" not in str(e.value)
    start = float(b.time_bin_start[1])
    picked = {k: v.swap_dims(time_bin="time_bin_start").sel(time_bin_start=start) for k, v in {"x": b, "y": b}.items()}
    xr.testing.assert_identical(compare(picked), compare({"x": b.isel(time_bin=1), "y": b.isel(time_bin=1)}))
    same = compare({"x": b.isel(time_bin=1), "y": b.isel(time_bin=1)})
    assert same["time_bin_start_a"].item() == same["time_bin_start_b"].item() == float(b.time_bin_start[1])
    # different bins (by their edges), or a bin beside a static result: refused unless asked for by name
    with pytest.raises(LayoutError, match=r"^compare: boots\['y'\] is the time bin .* but boots\['x'\] is the time bin .*"
                                          r"dim 'time_bin'.*across_bins=True"):
        compare({"x": b.isel(time_bin=0), "y": b.isel(time_bin=1)})
    with pytest.raises(LayoutError, match=r"best_layer: boots\['y'\] is static \(no time bin\)"):
        best_layer({"x": b.isel(time_bin=0), "y": b.isel(time_bin=0).drop_vars(["time_bin_start", "time_bin_end"])})
    one = compare({"x": b.isel(time_bin=0), "y": b.isel(time_bin=1)}, across_bins=True)
    assert one.sizes["pair"] == 1
    assert (one["time_bin_start_a"].item(), one["time_bin_start_b"].item()) == tuple(map(float, b.time_bin_start[:2]))
    with pytest.raises(ParameterError, match=r"^compare: across_bins must be True or False"):
        compare({"x": b.isel(time_bin=0), "y": b.isel(time_bin=1)}, across_bins="yes")


# ---------------------------------------------------------------------------- coverage
@pytest.mark.slow
def test_interval_coverage_of_the_true_explainable_fraction():
    """200 small problems: the 95 % interval of the true layer's EV covers the noise-free
    cross-validated explainable fraction (the EV's limit) about 95 % of the time."""
    n = 200
    hits = {"percentile": 0, "bca": 0}
    for seed in range(n):
        st = make_study(seed=seed, n_stimuli=100, animals={"a": 1}, n_repeats=8, models={"m": [("true", 16, 1.0, 0)]},
                        true_model="m", true_layer="true", snr_range=(0.3, 2.0))
        truth = float(st.truth.cv_explainable_fraction[0]) * 100
        parts = prepare("forward", st.features["m"]["true"], st.neural["a"], reps=4, seed=seed)
        for method in hits:
            lo, hi = bootstrap("forward", parts, None, n_boot=300, seed=seed, method=method)["ev_ci"].values[:, 0]
            hits[method] += lo <= truth <= hi
    lo, hi = ss.binom.ppf([0.0005, 0.9995], n, 0.95)
    for method, h in hits.items():
        assert lo <= h <= hi, (method, h)


def test_reverse_permutation_null_equals_the_operator(study):
    from neuroxr.kernels.stats import pearson

    F, R = study.features["other"]["mixed"], study.neural["a"]
    res = permutation_test("reverse", R, F, n_perm=4, keep_null=True)
    parts = prepare("reverse", R, F, reps=1, noise_ceiling=False)
    Yp = parts.Y[rs.permutation_indices(parts.n, 4, 0)[2]]
    g = parts.groups[0]  # reverse: one group, every unit on every stimulus
    Pp = g.reg.predict_blocks(parts.X, [Yp], S=g.S)[0]  # the n x n operator, not the primal path
    np.testing.assert_allclose(res["r_null"][2], pearson(Yp, Pp), atol=1e-10)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_joint_fit_null_fits_each_permuted_target_set_on_its_own(study, direction):
    """A joint fit (PLS) of a permutation's targets is the direction's fit of those targets alone,
    never one fit of a batch of permuted copies: the null is that of the statistic, whatever the batch."""
    from neuroxr.kernels.stats import pearson

    F, R = study.features["m"]["true"], study.neural["a"]
    src, tgt = (F, R) if direction == "forward" else (R, F)
    res = permutation_test(direction, src, tgt, n_perm=5, keep_null=True, regressor="pls", n_components=2)
    parts = prepare(direction, src, tgt, reps=1, noise_ceiling=False, regressor="pls", n_components=2)
    key = f"{parts.dim}_id"
    null = res["r_null"].sortby(key)
    for i, perm in enumerate(rs.permutation_indices(parts.n, 5, 0)):
        Yp = parts.Y[perm]
        r = xr.DataArray(pearson(Yp, parts.groups[0].reg.predict_blocks(parts.X, [Yp])[0]), dims=parts.dim,
                         coords={key: (parts.dim, parts.target[key].values)})
        np.testing.assert_allclose(null[i], r.sortby(key), atol=1e-10)


def test_permutation_p_counts_ties_up_to_rounding():
    """A sparse target is unchanged by the permutations that fix its one nonzero stimulus; their r
    equals the observed one up to rounding and counts as a tie, whatever the unit order (the rounding
    decided it: p was 0.144 as given and 0.188 with the units permuted)."""
    rng = np.random.default_rng(0)
    n, p = 30, 60
    ids = np.array([f"s{i:02d}" for i in range(n)])
    F = rng.normal(size=(n, p))
    y = np.zeros((n, 1, 1))
    y[3, 0, 0] = 1.0
    A = nx.neural(y, ids, ["t0"])
    order = rng.permutation(p)
    res = [permutation_test("forward", nx.features(G, ids, [f"u{j:02d}" for j in units]), A, n_perm=300, seed=0,
                            keep_null=True) for G, units in ((F, range(p)), (F[:, order], order))]
    for out in res:
        r, null = float(out.r.values[0]), out.r_null.values.reshape(-1)
        ties = np.abs(null - r) <= 1e-12
        assert ties.sum() >= 5
        assert float(out.p.values[0]) == pytest.approx((1 + np.sum((null > r) | ties)) / (1 + null.size), abs=0)
    assert float(res[0].p.values[0]) == float(res[1].p.values[0])


def test_permutation_pvalues_count_rounding_ties_and_only_those():
    rng = np.random.default_rng(1)
    obs = np.array([0.3, -0.2])
    null = rng.uniform(-0.1, 0.1, size=(199, 2))
    null[:7, 0] = 0.3 * (1 - 1e-15)  # the observed value up to rounding: ties
    null[7:10, 1] = -0.2 * (1 + 1e-15)  # every other null value is above it: p = 1
    null[10:12, 0] = 0.3 * (1 - 1e-9)  # below it by more than rounding: not ties
    np.testing.assert_array_equal(rs.permutation_pvalues(obs, null), [8 / 200, 1.0])
    np.testing.assert_array_equal(rs.maxt_pvalues(obs[:1], null[:, :1]), [8 / 200])
