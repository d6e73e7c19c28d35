"""Bootstrap and permutation inference of targets with missing stimuli: each target is resampled
and permuted on its own stimuli (the directions' groups, folds and splits), the numbers of the
other targets unchanged, and the complete targets' numbers those of complete data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as ss
import xarray as xr

import neuroxr as nx
from neuroxr.kernels import resample as rs
from neuroxr.kernels.stats import spearman_brown
from neuroxr.predictivity._parts import prepare
from neuroxr.predictivity.inference import bootstrap, permutation_test

N, K, T = 48, 6, 4
DIRECTIONS = {"forward": nx.forward, "inter_animal": nx.inter_animal}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    Z = rng.normal(size=(N, 3))
    ids = np.array([f"img{rng.integers(1e6)}_{i}" for i in range(N)])  # unsorted ids
    F = nx.features(Z @ rng.normal(size=(3, 10)) + 0.5 * rng.normal(size=(N, 10)), ids, name="net")
    A = nx.neural((Z @ rng.normal(size=(3, 5)))[:, :, None] + rng.normal(size=(N, 5, T)), ids, name="a")
    R = (Z @ rng.normal(size=(3, K)))[:, :, None] + rng.normal(size=(N, K, T))
    B = nx.neural(R, ids, name="b")
    Rn = R.copy()
    Rn[[3, 7, 20, 33], 0] = np.nan  # neuroid 0: four stimuli without trials
    Rn[[5, 9], 2] = np.nan  # neuroid 2: two others
    Rn[[3, 7, 20, 33], 4, 1:] = np.nan  # neuroid 4: one trial (partial only with a split-half ceiling)
    Rn[40, 3, 0] = np.nan  # a missing trial, the stimulus still usable
    return dict(F=F, A=A, B=B, Bn=B.copy(data=Rn), ids=ids)


def _inputs(data, direction, target):
    return (data["F"] if direction == "forward" else data["A"]), target


def _usable(da, need):
    """(stimulus, neuroid) pairs with ``need`` valid repeats, in the canonical (sorted id) order."""
    da = da.isel(stimulus=np.argsort(da.stimulus_id.values.astype(str)))
    return (~np.isnan(da.values)).sum(axis=2) >= need


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


# ---------------------------------------------------------------------------- the kernels
def test_masked_pearson_uses_each_columns_rows_only():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(25, 3)), rng.normal(size=(25, 3)) + 0.4 * rng.normal(size=(25, 1))
    mask = rng.uniform(size=(25, 3)) > 0.3
    mask[:, 2] = True
    b[4, 1] = np.nan  # a row inside the mask, incomplete: left out as before
    idx = rs.bootstrap_indices(25, 6, seed=2)
    got = rs.resampled_pearson(rs.counts(idx, 25), a, b, mask)
    for i in range(6):
        for j in range(3):
            rows = idx[i][mask[idx[i], j] & ~np.isnan(b[idx[i], j])]  # the drawn rows of the column, repeats kept
            assert got[i, j] == pytest.approx(ss.pearsonr(a[rows, j], b[rows, j])[0], abs=1e-12)
    jack = rs.jackknife_pearson(a, b, mask)
    assert np.isnan(jack[~mask]).all()  # a column's jackknife leaves out its own rows only
    for i in np.flatnonzero(mask[:, 0])[:3]:
        rows = np.setdiff1d(np.flatnonzero(mask[:, 0]), [i])
        assert jack[i, 0] == pytest.approx(ss.pearsonr(a[rows, 0], b[rows, 0])[0], abs=1e-12)
    assert jack[4, 1] == pytest.approx(rs.resampled_pearson(np.ones((1, 25)), a, b, mask)[0, 1], abs=1e-14)
    # every row valid: the unmasked numbers, bit for bit
    W = rs.counts(idx, 25)
    full = np.ones((25, 3), dtype=bool)
    np.testing.assert_array_equal(rs.resampled_pearson(W, a[:, [0, 2]], b[:, [0, 2]], full[:, :2]),
                                  rs.resampled_pearson(W, a[:, [0, 2]], b[:, [0, 2]]))
    np.testing.assert_array_equal(rs.jackknife_pearson(a, b, full), rs.jackknife_pearson(a, b))


@pytest.mark.parametrize("n", [3, 4, 6])
def test_jackknife_of_few_rows_follows_the_resampled_rule_masked_or_not(n):
    """Leaving one of 3 rows out leaves 2, whose Pearson r is +-1 whatever the data: the masked jackknife
    and resampled_pearson (fewer than 3 distinct rows: NaN) said NaN, the unmasked jackknife +-1."""
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    loo = rs.resampled_pearson(1.0 - np.eye(n), a, b)  # row i: every row but i, weight 1
    np.testing.assert_allclose(rs.jackknife_pearson(a, b), loo, rtol=1e-12, atol=1e-14)
    bb = np.vstack([b, [[np.nan, np.nan]]])  # one more row, incomplete in both columns: the masked path
    np.testing.assert_allclose(rs.jackknife_pearson(np.vstack([a, a[:1]]), bb)[:n], loo, rtol=1e-12, atol=1e-14)
    assert np.isnan(loo).all() == (n == 3)


# ---------------------------------------------------------------------------- point estimates and attrs
@pytest.mark.parametrize("split", ["valid", "slots"])
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_point_estimates_and_counts_equal_the_directions(data, direction, split):
    src, tgt = _inputs(data, direction, data["Bn"])
    fn = DIRECTIONS[direction]
    ref = fn(src, tgt, reps=3, seed=1, split=split)
    assert ref.attrs["n_partial_targets"] > 0
    b = bootstrap(direction, src, tgt, n_boot=8, reps=3, seed=1, split=split, method="bca")
    np.testing.assert_allclose(b["ev"], ref.ev.mean("rep"), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b["ceiling"], ref.ceiling.mean("rep"), rtol=1e-9, atol=1e-12)
    fin = np.isfinite(ref.ev.mean("rep").values)  # split="slots": a target with one trial has empty halves
    assert fin.sum() >= K - 1 and np.isfinite(b["ev_ci"].values[:, fin]).all()
    for key in ("n_stimuli", "n_excluded_stimuli", "n_partial_targets"):
        assert b.attrs[key] == ref.attrs[key]
    # the permutation test's r: the direction's without a ceiling (no split halves drawn), or
    # with min_reliability (halves drawn) the direction's with one
    p = permutation_test(direction, src, tgt, n_perm=9, seed=1)
    np.testing.assert_allclose(p["r"], fn(src, tgt, reps=1, noise_ceiling=False).r.mean("rep"), rtol=1e-9, atol=1e-12)
    assert p.attrs["n_partial_targets"] == fn(src, tgt, reps=1, noise_ceiling=False).attrs["n_partial_targets"]
    pm = permutation_test(direction, src, tgt, n_perm=9, seed=1, reps=3, split=split, min_reliability=0.1)
    np.testing.assert_allclose(pm["r"], ref.r.mean("rep"), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(pm["included"], fn(src, tgt, reps=3, seed=1, split=split, min_reliability=0.1).included)


@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_joint_fits_and_targets_with_too_few_stimuli_as_the_directions(data, direction):
    """A joint fit (pls) fits each group's targets together, as the direction; a target with
    fewer usable stimuli than folds is NaN in both, and its p-value too."""
    vals = data["Bn"].values.copy()
    vals[8:, 5] = np.nan  # neuroid 5: 8 stimuli, fewer than n_folds=10
    tgt = data["Bn"].copy(data=vals)
    src, tgt = _inputs(data, direction, tgt)
    ref = DIRECTIONS[direction](src, tgt, reps=2, regressor="pls", n_components=2)
    b = bootstrap(direction, src, tgt, n_boot=5, reps=2, regressor="pls", n_components=2)
    np.testing.assert_allclose(b["ev"], ref.ev.mean("rep"), rtol=1e-9, atol=1e-9)
    assert np.isnan(b["ev"][5]) and np.isnan(b["ev_boot"][:, 5]).all()
    p = permutation_test(direction, src, tgt, n_perm=5, regressor="pls", n_components=2)
    assert np.isnan(p["p"][5]) and np.isfinite(p["p"][:5]).all()


# ---------------------------------------------------------------------------- resamples: an explicit reference
def test_a_partial_targets_resamples_and_jackknife_are_its_own_stimuli(data):
    """Target 0 lacks four stimuli: its predictions are the direction's on its own stimuli; each
    resample's EV is recomputed (scipy) on the drawn rows among its stimuli, and its BCa interval
    from the jackknife over its stimuli alone; the median's jackknife leaves a target as it is
    when the stimulus left out is not one of its own."""
    F, Bn = data["F"], data["Bn"]
    ok = _usable(Bn, 2)
    assert 0 < (~ok[:, 0]).sum() < 10
    parts = prepare("forward", F, Bn, reps=3, seed=2)
    pred = nx.forward(F, Bn, reps=3, seed=2, keep_predictions=True).prediction.isel(rep=0).values
    np.testing.assert_allclose(parts.P[ok], pred[ok], rtol=1e-9, atol=1e-12)
    assert np.isnan(parts.P[~ok]).all() and np.isnan(parts.Y[~ok]).all()
    b = bootstrap("forward", F, Bn, n_boot=6, reps=3, seed=2, method="bca")

    def ev_on(rows, j):
        def r(a, c):
            return ss.pearsonr(a[rows, j], c[rows, j])[0]

        def rho(a, c):  # the target halves ranked anew among the rows (copies tied)
            return ss.spearmanr(a[rows, j], c[rows, j])[0]
        evs = []
        for rep in range(3):
            ceil = spearman_brown(r(parts.P1[rep], parts.P2[rep])) * spearman_brown(rho(parts.s1[rep], parts.s2[rep]))
            evs.append(r(parts.Y, parts.P) ** 2 / ceil * 100 if ceil > 0 else np.nan)
        return np.nanmean(evs)

    for i in range(6):
        drawn = b["boot_index"].values[i]
        assert float(b["ev_boot"][i, 0]) == pytest.approx(ev_on(drawn[ok[drawn, 0]], 0), rel=1e-9)
    ev0 = np.array([ev_on(np.flatnonzero(ok[:, j]), j) for j in range(K)])
    np.testing.assert_allclose(b["ev"], ev0, rtol=1e-9)
    jack = np.array([[ev_on(np.setdiff1d(np.flatnonzero(ok[:, j]), [s]), j) if ok[s, j] else np.nan for j in range(K)]
                     for s in range(N)])
    ref = rs.bca_interval(ev0[0:1], b["ev_boot"].values[:, :1], jack[ok[:, 0], :1], 0.95)  # its own stimuli only
    np.testing.assert_allclose(b["ev_ci"].values[:, :1], ref, rtol=1e-9)
    med_jack = np.median(np.where(ok, jack, ev0), axis=1)
    ref = rs.bca_interval(np.asarray(np.median(ev0)), b["median_ev_boot"].values, med_jack, 0.95)
    np.testing.assert_allclose(b["median_ev_ci"], ref, rtol=1e-9)


# ---------------------------------------------------------------------------- no poisoning
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_missing_values_of_one_target_leave_the_others_unchanged(data, direction):
    """NaN in neuroid 0's trials (the kept stimuli unchanged): every other neuroid's resamples,
    intervals (BCa), null and p-value are those of the complete data."""
    vals = data["B"].values.copy()
    vals[[2, 11, 30], 0] = np.nan
    vals[17, 0, :3] = np.nan
    src, full = _inputs(data, direction, data["B"])
    holed = data["B"].copy(data=vals)
    kw = dict(n_boot=20, reps=3, seed=4, method="bca")
    a, b = bootstrap(direction, src, full, **kw), bootstrap(direction, src, holed, **kw)
    assert b.attrs["n_partial_targets"] == 1 and b.attrs["n_stimuli"] == a.attrs["n_stimuli"]
    for v in ("ev", "ev_boot", "ev_ci", "ceiling", "ceiling_boot", "ceiling_ci"):
        np.testing.assert_allclose(b[v].isel(neuroid=slice(1, None)), a[v].isel(neuroid=slice(1, None)), rtol=1e-10,
                                   atol=1e-12)  # BLAS rounding: fewer columns
    assert not np.allclose(b["ev_boot"][:, 0], a["ev_boot"][:, 0])
    pa = permutation_test(direction, src, full, n_perm=30, seed=4, keep_null=True)
    pb = permutation_test(direction, src, holed, n_perm=30, seed=4, keep_null=True)
    for v in ("r", "p", "r_null"):
        np.testing.assert_allclose(pb[v].isel(neuroid=slice(1, None)), pa[v].isel(neuroid=slice(1, None)), rtol=1e-10,
                                   atol=1e-12)  # BLAS rounding: fewer columns


# ---------------------------------------------------------------------------- permutations within a target's stimuli
def _sorted(da):
    return da.isel(stimulus=np.argsort(da.stimulus_id.values.astype(str)))


def test_a_partial_targets_null_permutes_its_own_stimuli(data):
    """Each permutation of the stimuli permutes target 0's own stimuli by the order they take in
    it: its null equals the direction on target 0 relabeled so (a loop over the permutations),
    and its p-value the explicit count; a complete target is permuted by the draw itself."""
    F, Bn = data["F"], _sorted(data["Bn"])
    n_perm = 7
    res = permutation_test("forward", F, Bn, n_perm=n_perm, seed=3, keep_null=True)
    perms = rs.permutation_indices(N, n_perm, 3)
    for j in (0, 1):  # partial, complete
        ok = _usable(Bn, 1)[:, j]
        G = np.flatnonzero(ok)
        assert (G.size < N) == (j == 0)
        one = Bn.isel(neuroid=[j])
        null = []
        for perm in perms:
            order = [s for s in perm if ok[s]]  # G in the order the draw puts it
            vals = one.values.copy()
            vals[G] = one.values[order]  # stimulus G[i] takes the responses of order[i]
            null.append(float(nx.forward(F, one.copy(data=vals), reps=1, noise_ceiling=False).r.mean("rep")[0]))
        np.testing.assert_allclose(res["r_null"].values[:, j], null, rtol=1e-9, atol=1e-12)
        r0 = float(nx.forward(F, one, reps=1, noise_ceiling=False).r.mean("rep")[0])
        assert float(res["p"][j]) == pytest.approx((1 + sum(x >= r0 for x in null)) / (1 + n_perm))


# ---------------------------------------------------------------------------- pairing by id
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_permuting_the_stimuli_of_the_inputs_changes_no_number(data, direction):
    src, tgt = _inputs(data, direction, data["Bn"])

    def shuffle(da):
        return da.isel(stimulus=np.random.default_rng(da.size).permutation(da.sizes["stimulus"]))

    for fn in (lambda s, t: bootstrap(direction, s, t, n_boot=15, reps=2, method="bca"),
               lambda s, t: permutation_test(direction, s, t, n_perm=15, keep_null=True)):
        xr.testing.assert_allclose(fn(src, tgt), fn(shuffle(src), shuffle(tgt)), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- time-resolved
def test_time_resolved_inference_with_missing_stimuli_in_one_bin(data):
    """A neuroid missing stimuli in one bin only: each bin's inference is that bin's own call."""
    from neuroxr.predictivity.time import bin_slice

    R = np.stack([data["B"].values, data["Bn"].values], axis=-1)
    timed = nx.neural(R, data["ids"], time_bins=[(0, 50), (50, 100)], name="b")
    F = data["F"]
    b = bootstrap("forward", F, timed, n_boot=10, reps=2)
    p = permutation_test("forward", F, timed, n_perm=10)
    for t in range(2):
        bt = bootstrap("forward", F, bin_slice(timed, t), n_boot=10, reps=2)
        np.testing.assert_allclose(b["ev_boot"].isel(time_bin=t), bt["ev_boot"], rtol=1e-12)
        np.testing.assert_allclose(b["ev_ci"].isel(time_bin=t), bt["ev_ci"], rtol=1e-12)
        pt = permutation_test("forward", F, bin_slice(timed, t), n_perm=10)
        np.testing.assert_allclose(p["p"].isel(time_bin=t), pt["p"], rtol=1e-12)
    assert b.attrs["n_partial_targets"] == [0, 3]


@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_an_all_nan_target_is_nan_and_the_others_are_as_without_it(data, direction):
    """An all-NaN neuroid is NaN in inference as in the direction (one warning), not refused; every
    other neuroid's interval, resamples and p-value are those of the call without it."""
    R = data["B"].values.copy()
    R[:, 1] = np.nan
    Bn = data["B"].copy(data=R)
    rest = [0, 2, 3, 4, 5]
    src = data["F"] if direction == "forward" else data["A"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boot = bootstrap(direction, src, Bn, reps=2, n_boot=30, seed=1)
    msgs = [str(w.message) for w in caught if issubclass(w.category, nx.NeuroxrWarning)]
    assert len([m for m in msgs if "no valid trial (all NaN)" in m]) == 1
    assert not any("fewer usable stimuli" in m for m in msgs)
    ref = bootstrap(direction, src, data["B"].isel(neuroid=rest), reps=2, n_boot=30, seed=1)
    assert np.isnan(boot.ev.isel(neuroid=1)).all()
    np.testing.assert_allclose(boot.ev.isel(neuroid=rest).values, ref.ev.values, rtol=1e-10)
    np.testing.assert_allclose(boot.ev_boot.isel(neuroid=rest).values, ref.ev_boot.values, rtol=1e-10)
    perm = permutation_test(direction, src, Bn, n_perm=19, seed=2)
    pref = permutation_test(direction, src, data["B"].isel(neuroid=rest), n_perm=19, seed=2)
    assert np.isnan(perm.r.isel(neuroid=1)) and np.isnan(perm.p.isel(neuroid=1))
    np.testing.assert_allclose(perm.p.isel(neuroid=rest).values, pref.p.values)
    np.testing.assert_allclose(perm.r.isel(neuroid=rest).values, pref.r.values, rtol=1e-10)


@pytest.mark.parametrize("unscored", ["all_nan", "constant", "too_few"])
@pytest.mark.parametrize("over,method", [("targets", "bca"), ("both", "percentile")])
def test_a_target_never_scored_is_not_drawn_over_targets(data, unscored, over, method):
    """The bootstrap over targets draws among the targets scored: an all-NaN neuroid, a constant one and
    one with fewer usable stimuli than folds (NaN in every variable, as in the direction) leave the
    median's resamples, interval and BCa jackknife those of the call without them (before, such a
    target was drawn too: every resample that drew it took the median of fewer targets)."""
    R = data["B"].values.copy()
    R[:, 1] = {"all_nan": np.nan, "constant": 3.0, "too_few": R[:, 1]}[unscored]
    if unscored == "too_few":
        R[5:, 1] = np.nan
    rest = [0, 2, 3, 4, 5]
    kw = dict(reps=2, n_boot=40, seed=3, over=over, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        got = bootstrap("forward", data["F"], data["B"].copy(data=R), **kw)
        ref = bootstrap("forward", data["F"], data["B"].isel(neuroid=rest), **kw)
    assert np.isnan(got.ev.isel(neuroid=1))
    for v in ("median_ev", "median_ev_boot", "median_ev_ci", "median_ev_n_targets", "median_ceiling_boot", "median_ceiling_ci"):
        np.testing.assert_allclose(got[v].values, ref[v].values, rtol=1e-10, err_msg=v)


def test_the_target_draw_fix_raises_only_the_direction_bootstraps_over_targets():
    """Stored bootstraps over targets (or both) of the four directions are one revision up, so entries
    drawn before the fix are stale; those over stimuli, the permutations and the metric bootstraps stand."""
    from neuroxr.entries import kinds, revisions

    for d in kinds.DIRECTION_KINDS:
        kind = kinds.get_kind(f"{d}_bootstrap")
        base = revisions.entry_revision(kind.name, kind.fill({}))
        assert revisions.entry_revision(kind.name, kind.fill({"over": "stimuli"})) == base
        for over in ("targets", "both"):
            assert revisions.entry_revision(kind.name, kind.fill({"over": over})) == base + 1
    for name in ("forward_permutation", "crsa_bootstrap", "forward"):
        assert name not in revisions.TARGET_DRAW_KINDS


def test_reverse_inference_counts_its_dropped_stimuli_and_predictors_as_the_direction(data):
    """A predictor stimulus dropped for a missing value (every target's design) and an all-NaN
    predictor neuroid are counted in reverse's bootstrap and permutation attrs as in ``nx.reverse``
    (``n_stimuli``, ``n_excluded_stimuli``, ``n_predictors``; before: ``n_stimuli`` alone)."""
    R = data["B"].values.copy()
    R[[4, 11], 2] = np.nan  # two stimuli without a trial of neuroid 2: dropped for every unit
    R[:, 5] = np.nan  # an all-NaN neuroid: left out of the predictor
    B = data["B"].copy(data=R)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ref = nx.reverse(B, data["F"], reps=2)
        got = [bootstrap("reverse", B, data["F"], reps=2, n_boot=20), permutation_test("reverse", B, data["F"], n_perm=19)]
    assert (ref.attrs["n_excluded_stimuli"], ref.attrs["n_predictors"]) == (2, K - 1)
    for res in got:
        for key in ("n_stimuli", "n_excluded_stimuli", "n_predictors"):
            assert res.attrs[key] == ref.attrs[key], key


def test_forward_and_inter_animal_inference_carry_the_directions_design_counts(data):
    """Forward's ``n_units`` and inter-animal's ``n_predictors`` (an all-NaN predictor neuroid left
    out) are in the bootstrap's and the permutation test's attrs as in the direction's result
    (before: absent, while reverse's inference carried its ``n_predictors``)."""
    R = data["A"].values.copy()
    R[:, 1] = np.nan  # an all-NaN neuroid of the predictor animal
    A = data["A"].copy(data=R)
    for direction, src, key in (("forward", data["F"], "n_units"), ("inter_animal", A, "n_predictors")):
        ref = DIRECTIONS[direction](src, data["B"], reps=2)
        assert ref.attrs[key] == (10 if direction == "forward" else 4)
        got = [bootstrap(direction, src, data["B"], reps=2, n_boot=10), permutation_test(direction, src, data["B"], n_perm=9)]
        for res in got:
            assert res.attrs.get(key) == ref.attrs[key], (direction, key)


@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_groups_past_the_operator_budget_build_theirs_where_used(data, direction, monkeypatch):
    """With many patterns of missing stimuli (one group each) the groups stop holding their out-of-fold
    operators past a byte budget and build them where they are used: the same numbers."""
    from neuroxr.predictivity import _parts

    src, tgt = _inputs(data, direction, data["Bn"])
    run = [lambda: bootstrap(direction, src, tgt, n_boot=15, reps=2, seed=1),
           lambda: permutation_test(direction, src, tgt, n_perm=15, seed=1, keep_null=True)]
    held = [fn() for fn in run]
    monkeypatch.setattr(_parts, "_HELD_BYTES", 0)
    built = [fn() for fn in run]
    for a, b in zip(held, built):
        xr.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
