"""Missing values and ceilings: a NaN touches only the targets it belongs to; no-ceiling paths."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from sklearn.linear_model import Ridge

import neuroxr as nx
from neuroxr import predictivity as pv
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.stats import pearson, spearman

N, K, P = 50, 5, 8


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(N, 3))
    F = Z @ rng.normal(size=(3, P)) + 0.5 * rng.normal(size=(N, P))
    Y = Z @ rng.normal(size=(3, K)) + 0.7 * rng.normal(size=(N, K))
    return F, Y


def _ids(n=N):
    return [f"s{i:03d}" for i in range(n)]  # sorted ids: canonical order = input order


def _ridge_ev(X, y):
    """Reference: scikit-learn Ridge(0.1) fold by fold on the rows given, r^2 * 100."""
    pred = np.zeros_like(y)
    for tr, te in kfold_indices(X.shape[0], 10, 0):
        pred[te] = Ridge(alpha=0.1).fit(X[tr], y[tr]).predict(X[te])
    return 100 * stats.pearsonr(y, pred)[0] ** 2


def test_forward_nan_in_trial_averaged_data_touches_one_neuroid(arrays):
    F, Y = arrays
    Yn = Y.copy()
    Yn[7, 2] = np.nan  # one missing (stimulus, neuroid)
    Yn[20:22, 4] = np.nan
    with pytest.warns(NeuroxrWarning, match="2 neuroids lack"):
        ds = pv.forward(nx.features(F, _ids()), nx.neural(Yn, _ids()), reps=2, keep_predictions=True)
    # each neuroid's predictions cover exactly its own stimuli
    np.testing.assert_array_equal(np.isnan(ds.prediction.values[0]), np.isnan(Yn))
    got = ds.ev.isel(rep=0).values
    for j in range(K):
        rows = ~np.isnan(Yn[:, j])
        assert got[j] == pytest.approx(_ridge_ev(F[rows], Y[rows, j]), rel=1e-8)
    assert ds.attrs["n_partial_targets"] == 2 and ds.attrs["n_excluded_stimuli"] == 0


def test_forward_all_nan_stimulus_without_ceiling(arrays):
    F, Y = arrays
    rng = np.random.default_rng(0)
    R = Y[:, :, None] + rng.normal(size=(N, K, 4))
    R[11] = np.nan  # a stimulus with no trial at all
    with pytest.warns(NeuroxrWarning, match="excluding 1 of 50 stimuli"):
        ds = pv.forward(nx.features(F, _ids()), nx.neural(R, _ids()), reps=2, noise_ceiling=False)
    rows = np.arange(N) != 11
    mean = np.nanmean(R, axis=2)
    ref = [_ridge_ev(F[rows], mean[rows, j]) for j in range(K)]
    np.testing.assert_allclose(ds.ev.isel(rep=1).values, ref, rtol=1e-8)


def test_inter_animal_target_nan_is_per_target(arrays):
    F, Y = arrays
    A = F[:, :4]
    B = Y.copy()
    B[3, 1] = np.nan
    ds = pv.inter_animal(nx.neural(A, _ids()), nx.neural(B, _ids()), reps=2)
    for j in range(K):
        rows = ~np.isnan(B[:, j])
        assert ds.ev.values[j, 0] == pytest.approx(_ridge_ev(A[rows], Y[rows, j]), rel=1e-8)


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_a_target_with_fewer_stimuli_than_folds_is_nan_not_an_error(arrays, direction):
    """A sparsely recorded neuroid (8 of 50 stimuli, 10 folds) is scored NaN with a warning naming
    it; the other targets keep their scores."""
    F, Y = arrays
    Yn = Y.copy()
    Yn[8:, 0] = np.nan
    src = nx.features(F, _ids()) if direction == "forward" else nx.neural(F[:, :4], _ids())
    call = pv.forward if direction == "forward" else pv.inter_animal
    with pytest.warns(NeuroxrWarning, match=r"1 targets have fewer usable stimuli \(8 at most\) than n_folds=10 and are "
                                            r"scored NaN: \['neuroid0'\]\. Use fewer folds"):
        ds = call(src, nx.neural(Yn, _ids()), reps=2)
    assert np.isnan(ds.ev.values[0]).all()
    X = F if direction == "forward" else F[:, :4]
    for j in range(1, K):
        assert ds.ev.values[j, 0] == pytest.approx(_ridge_ev(X, Y[:, j]), rel=1e-8)
    with pytest.raises(nx.LayoutError, match="8 stimuli cannot be split into n_folds=10 folds"):
        call(src, nx.neural(Yn[:, :1], _ids()), reps=2)


def test_reverse_predictor_nan_drops_the_stimulus_for_all_units(arrays):
    F, Y = arrays
    Yn = Y.copy()
    Yn[9, 0] = np.nan  # a predictor value: every unit's design row is incomplete
    with pytest.warns(NeuroxrWarning, match="excluding 1 of 50 stimuli"):
        ds = pv.reverse(nx.neural(Yn, _ids()), nx.features(F, _ids()), reps=2)
    rows = np.arange(N) != 9
    ref = [_ridge_ev(Y[rows], F[rows, u]) for u in range(P)]
    np.testing.assert_allclose(ds.ev.isel(rep=0).values, ref, rtol=1e-8)
    assert np.isfinite(ds.ev.values).all()


@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal"])
def test_no_ceiling_at_any_reps(arrays, direction):
    F, Y = arrays
    rng = np.random.default_rng(1)
    R = nx.neural(Y[:, :, None] + rng.normal(size=(N, K, 4)), _ids())
    feats = nx.features(F, _ids())
    call = {"forward": lambda **kw: pv.forward(feats, R, **kw), "reverse": lambda **kw: pv.reverse(R, feats, **kw),
            "inter_animal": lambda **kw: pv.inter_animal(R, R.isel(neuroid=[0, 1]), **kw)}[direction]
    ds = call(reps=3, noise_ceiling=False)
    assert ds.attrs["noise_ceiling"] == 0 and "prediction_shc" not in ds and "ceiling" not in ds
    assert np.isfinite(ds.ev.values).all()
    np.testing.assert_array_equal(ds.ev.values[:, 0], ds.ev.values[:, 2])  # nothing random without a ceiling
    avg = nx.neural(Y, _ids())  # trial-averaged: no ceiling by default, reps >= 2 work
    call_avg = {"forward": lambda: pv.forward(feats, avg, reps=2), "reverse": lambda: pv.reverse(avg, feats, reps=2),
                "inter_animal": lambda: pv.inter_animal(avg, avg.isel(neuroid=[0, 1]), reps=2)}[direction]
    out = call_avg()
    assert "note" in out.attrs and np.isfinite(out.ev.values).all()


def test_nan_corr_uses_complete_pairs():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 3, 30, 4))
    a[0, 5, 1] = np.nan
    b[2, 7:9, 3] = np.nan
    for method, ref_fn in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        got = {"spearman": spearman, "pearson": pearson}[method](a, b, nan_policy="omit")
        for i in range(3):
            for j in range(4):
                ok = ~(np.isnan(a[i, :, j]) | np.isnan(b[i, :, j]))
                assert got[i, j] == pytest.approx(ref_fn(a[i, ok, j], b[i, ok, j])[0], rel=1e-10)


def test_split_half_reliability_never_ranks_nan():
    """A neuroid with missing halves uses its complete pairs; the others are unaffected."""
    rng = np.random.default_rng(4)
    R = rng.normal(size=(40, 3, 1)) + 0.5 * rng.normal(size=(40, 3, 4))
    Rn = R.copy()
    Rn[:6, 1, 1:] = np.nan  # neuroid 1: one valid repeat on six stimuli (an empty half there)
    ref = pv.split_half_reliability(nx.neural(R), reps=3, seed=0)
    got = pv.split_half_reliability(nx.neural(Rn), reps=3, seed=0)
    xr.testing.assert_identical(got.reliability.isel(neuroid=[0, 2]), ref.reliability.isel(neuroid=[0, 2]))
    assert np.isfinite(got.reliability.values).all()
    # the same halves drawn by hand, the six stimuli left out for neuroid 1
    from neuroxr.kernels.splits import draw_permutation, split_means

    perms = np.stack([draw_permutation(g, 4) for g in [np.random.default_rng(0)] for _ in range(3)])
    h1, h2 = split_means(Rn, perms, "valid")
    for i in range(3):
        r = stats.spearmanr(h1[i, 6:, 1], h2[i, 6:, 1])[0]
        assert got.r_half.values[1, i] == pytest.approx(r, rel=1e-10)


def test_many_missing_patterns_are_each_scored_on_their_own_stimuli():
    """12 neuroids missing 12 different stimuli (12 sub-problems; beyond 8 they were once scored
    together on the stimuli all shared): each neuroid's EV is scikit-learn's ridge on its own
    stimuli, whatever the other neuroids miss, and the complete ones are unaffected."""
    rng = np.random.default_rng(3)
    n, k = 60, 14
    F = rng.normal(size=(n, P))
    Y = F @ rng.normal(size=(P, k)) + rng.normal(size=(n, k))
    Yn = Y.copy()
    for j in range(12):
        Yn[[j, 30 + 2 * j], j] = np.nan  # a set of stimuli of its own for each of neuroids 0-11
    with pytest.warns(NeuroxrWarning) as caught:
        ds = pv.forward(nx.features(F, _ids(n)), nx.neural(Yn, _ids(n)), reps=1)
    said = [str(w.message) for w in caught]
    assert any(m.endswith("12 neuroids lack 1 valid repeat(s) on some stimuli (24 stimulus-neuroid pairs); each is scored "
                          "on its own stimuli (folds drawn over those), the other neuroids are unaffected; 12 different "
                          "sets of stimuli, one fit each.") for m in said), said
    for j in range(k):
        rows = ~np.isnan(Yn[:, j])
        assert ds.ev.values[j, 0] == pytest.approx(_ridge_ev(F[rows], Y[rows, j]), rel=1e-8), j


def test_neuroid_nan_equals_the_reductions_over_stimuli_and_repeats():
    """The flat check first, then the per-neuroid reductions: the same masks, complete or not."""
    from neuroxr.predictivity._prepare import neuroid_nan

    rng = np.random.default_rng(0)
    R = rng.normal(size=(6, 5, 3))
    assert not neuroid_nan(R).any() and not neuroid_nan(R, every=True).any()
    R[rng.random(R.shape) < 0.1] = np.nan
    R[:, 2, :] = np.nan
    np.testing.assert_array_equal(neuroid_nan(R), np.isnan(R).any(axis=(0, 2)))
    np.testing.assert_array_equal(neuroid_nan(R, every=True), np.isnan(R).all(axis=(0, 2)))


def test_an_animal_against_itself_is_flagged(arrays):
    F, Y = arrays
    R = nx.neural(Y[:, :, None] + np.random.default_rng(1).normal(size=(N, K, 2)), _ids())
    with pytest.warns(NeuroxrWarning, match=r"5 neuroids are also predictors in neural_a( \(neural\))? with the same responses"):
        pv.inter_animal(R, R, reps=1)
    other = R.copy(data=R.values + 1e-3)  # same ids, another animal's responses: no such warning
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pv.inter_animal(R, other, reps=1)
    assert not [w for w in caught if "also predictors" in str(w.message)]


def test_shared_recordings_compare_every_row_and_match_nan_for_nan():
    """Only the neuroids equal at every stimulus and repeat are flagged (NaN matching NaN), whether
    they differ at the first stimulus or only at the last, or are NaN at the first."""
    from neuroxr.predictivity._prepare import warn_shared_recordings

    rng = np.random.default_rng(3)
    RA = rng.normal(size=(6, 4, 3))
    RB = RA.copy()
    RA[0, 1, :] = RB[0, 1, :] = np.nan  # equal, NaN at the first stimulus
    RB[-1, 2, -1] += 1.0  # equal but at the last trial: not flagged
    RB[0, 3, 0] += 1.0  # differs at the first stimulus: not flagged
    ids = np.array(["n0", "n1", "n2", "n3"])
    with pytest.warns(NeuroxrWarning, match=r"2 neuroids are also predictors .* e\.g\. \['?n0'?, '?n1'?\]"):
        warn_shared_recordings(RA, RB, ids, ids)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # another number of repeats: nothing shared, no warning
        warn_shared_recordings(RA, RB[:, :, :2], ids, ids)



def test_a_float32_copy_is_flagged_as_the_same_recording():
    """A layer against its float32 copy (EV 99.998) or an animal against its float32 copy passed unflagged: the
    comparison allowed 1e-9 of the scale, below float32 rounding, and the float32 digest of non-integer trial
    means missed most copies. Values apart by 1e-5 of the scale are still other recordings."""
    from neuroxr.predictivity._prepare import warn_shared_recordings

    rng = np.random.default_rng(5)
    F = rng.normal(size=(40, 6)) * 3.7
    R = rng.normal(size=(40, 5, 3)) * 11.3
    fids, nids = np.array([f"u{i}" for i in range(6)]), np.array([f"n{i}" for i in range(5)])
    with pytest.warns(NeuroxrWarning, match=r"6 units are also predictors"):
        warn_shared_recordings(F, F.astype(np.float32).astype(np.float64), fids, fids,
                               what=("units", "a model-to-model score", "two layers"))
    with pytest.warns(NeuroxrWarning, match=r"5 neuroids are also predictors"):
        warn_shared_recordings(R, R.astype(np.float32).astype(np.float64), nids, nids)
    with pytest.warns(NeuroxrWarning, match=r"units are also predictors"):
        mm = pv.model_to_model(nx.features(F, name="net"), nx.features(F.astype(np.float32), name="net32"), reps=2)
    assert float(mm["r"].mean()) > 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_shared_recordings(F, F + 1e-5 * np.abs(F).max() * rng.choice([-1, 1], size=F.shape), fids, fids)


def test_one_recording_under_other_neuroid_ids_is_flagged_as_predicted_from_itself():
    """The check paired neuroids by id: one recording passed as both animals under other ids (written
    twice to a store) scored a median EV of 274 % with only the generic warning."""
    from neuroxr.datasets.synthetic import make_study

    A = make_study(seed=1, n_stimuli=100, animals={"A": 8}, n_repeats=6, missing_rate=0.0).neural["A"]
    renamed = A.assign_coords(neuroid_id=("neuroid", np.char.add(A.neuroid_id.values.astype(str), "_b")))
    first = str(A.neuroid_id.values[-1])  # B lists its neuroids reversed
    with pytest.warns(NeuroxrWarning, match=rf"8 neuroids are also predictors in neural_a .* e\.g\. \['{first}_b \(= {first}\)'"):
        pv.inter_animal(A, renamed.isel(neuroid=np.arange(8)[::-1], stimulus=np.arange(100)[::-1]), reps=1)


@pytest.mark.parametrize("regressor", ["lasso", "pls"])
def test_an_empty_slot_half_is_nan_for_its_target_with_every_regressor(arrays, regressor):
    """split='slots' leaves a half without trials where a stimulus lacks its slots: that target's
    half mean is NaN, so its prediction from the half is NaN for the rep (as S @ Y gives it for
    ridge), not a crash of the scikit-learn fit; the other targets keep their numbers (lasso fits
    each alone; a joint fit, pls, fits the others jointly)."""
    F, Y = arrays
    rng = np.random.default_rng(2)
    R = Y[:, :, None] + 0.5 * rng.normal(size=(N, K, 4))
    Rn = R.copy()
    Rn[3, 1, :2] = np.nan  # slots 0 and 1 of one stimulus: some reps' half is empty there
    kw = dict(reps=4, split="slots", seed=1, regressor=regressor, **({"n_components": 2} if regressor == "pls" else {}))
    ridge = pv.forward(nx.features(F, _ids()), nx.neural(Rn, _ids()), reps=4, split="slots", seed=1)
    ds = pv.forward(nx.features(F, _ids()), nx.neural(Rn, _ids()), **kw)
    empty = np.isnan(ridge.prediction_shc.isel(neuroid=1).values)
    assert empty.any() and not empty.all()
    np.testing.assert_array_equal(np.isnan(ds.prediction_shc.isel(neuroid=1).values), empty)
    if regressor == "lasso":  # every other neuroid as without the missing slots
        full = pv.forward(nx.features(F, _ids()), nx.neural(R, _ids()), **kw)
        others = [0, 2, 3, 4]
        np.testing.assert_allclose(ds.ev.isel(neuroid=others).values, full.ev.isel(neuroid=others).values, rtol=1e-12)


def test_check_design_decides_a_varying_first_column_alone(monkeypatch):
    """A design's constancy check (every draw's designs go through it): a varying first column
    settles it without reading the others; a constant first column falls back to every column
    (a later varying one passes), and a design constant everywhere up to rounding is refused."""
    from neuroxr.predictivity import _prepare as prep

    rng = np.random.default_rng(0)
    read = []
    squares = prep.column_squares
    monkeypatch.setattr(prep, "column_squares", lambda B: (read.append(B.shape[1]), squares(B))[1])
    X = rng.normal(size=(40, 12))
    prep.check_design(X, "neural")
    assert read == [1]
    X[:, 0] = 3.0
    read.clear()
    prep.check_design(X, "neural")
    assert read == [1, 12]
    with pytest.raises(LayoutError, match="every predictor column is constant"):
        prep.check_design(np.ones((40, 12)) + 1e-18 * rng.normal(size=(40, 12)), "neural")


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_a_target_constant_on_its_scored_stimuli_is_flagged_constant(arrays, direction):
    """With a ceiling (split="valid"), a neuroid constant (up to rounding) on the stimuli it is scored on
    but with another trial mean at a stimulus where it has one valid repeat (not scored) was judged on
    that stimulus too: no warning, and its prediction_shc a correlation of rounding (inference, judging
    it on its scored stimuli, warned and gave NaN)."""
    import warnings

    from neuroxr.predictivity.inference import bootstrap

    F, Y = arrays
    rng = np.random.default_rng(1)
    R = Y[:, :, None] + rng.normal(size=(N, K, 4))
    i = np.arange(N * 4, dtype=float).reshape(N, 4)
    R[:, 2] = 1e3 * (0.1 + (i * 0.1 * 3 - i * 0.3))  # constant up to rounding (conftest.near_constant's rule)
    R[0, 2] = np.nan
    R[0, 2, 0] = 9.0  # neuroid 2: one valid repeat at s000 (not scored with a ceiling), another value
    B, other = nx.neural(R, _ids()), nx.neural(F[:, :, None] + rng.normal(size=(N, P, 4)), _ids())
    args = (nx.features(F, _ids()), B) if direction == "forward" else (other, B)
    said = {}
    for name, call in ((direction, getattr(pv, direction)), ("bootstrap", lambda *a, **k: bootstrap(direction, *a, n_boot=5, **k))):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = call(*args, reps=2, split="valid")
        said[name] = [str(x.message) for x in w if "constant across stimuli" in str(x.message)]
        if name == direction:
            ds = out
    assert said["bootstrap"] and "neuroid2" in said["bootstrap"][0]  # inference's judgement: the reference
    assert said[direction] == [said["bootstrap"][0].replace("bootstrap: ", f"{direction}: ", 1)]
    for v in ("ev", "r", "target_shc", "prediction_shc"):
        assert np.isnan(ds[v].sel(neuroid=ds.neuroid[2]).values).all(), v
    assert np.isfinite(ds.r.values[[0, 1, 3, 4]]).all()


def test_an_empty_slot_half_of_a_predictor_neuroid_is_not_silent():
    """Under split='slots' a predictor neuroid with one valid trial at some stimuli has an empty split
    half there, and every target's prediction_shc / ceiling / ev of the rep was NaN without a word; now
    one warning names the reps and split='valid' (which drops those stimuli and scores every target)."""
    import warnings

    from neuroxr.datasets.synthetic import make_study

    st = make_study(seed=1, n_stimuli=100, animals={"A": 8, "B": 6}, n_repeats=6, missing_rate=0.0)
    F, A, B = st.features["netA"]["layer2"], st.neural["A"].copy(), st.neural["B"]
    A.values[30:40, 1, 1:] = np.nan  # one neuroid: a single valid trial (of 6) at 10 stimuli
    match = r" \(A\): in 2 of 2 reps every target's prediction_shc, ceiling and ev are NaN: .*split='valid'"
    with pytest.warns(NeuroxrWarning, match=r"^reverse: neural" + match):
        r = pv.reverse(A, F, reps=2, split="slots")
    assert np.isnan(r.ev.values).all() and np.isfinite(r.r.values).all()
    with pytest.warns(NeuroxrWarning, match=r"^inter_animal: neural_a" + match):  # the argument's name
        pv.inter_animal(A, B, reps=2, split="slots")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        valid = pv.reverse(A, F, reps=2, split="valid")
        pv.reverse(st.neural["A"], F, reps=2, split="slots")
    assert not [w for w in record if "every target's prediction_shc" in str(w.message)]
    assert np.isfinite(valid.ev.values).mean() > 0.9



@pytest.mark.parametrize("direction", ["forward", "inter_animal", "reverse", "reverse_slot_kernels"])
def test_progress_covers_every_group_and_chunk_not_the_first_alone(arrays, monkeypatch, direction):
    """Targets missing different stimuli are scored group by group (reverse's lazy units chunk by
    chunk): one bar over the reps ends with the last part, each rep shown once."""
    import sys

    from neuroxr.predictivity import _prepare

    F, Y = arrays
    rng = np.random.default_rng(1)
    R = Y[:, :, None] + rng.normal(size=(N, K, 4))
    parts, used = [0], []  # parts started so far; the slot kernels' path taken
    if direction.startswith("reverse"):  # three unit chunks of lazy features
        module = sys.modules["neuroxr.predictivity.reverse"]
        chunks = module._unit_chunks

        def counting(*a, **kw):
            for item in chunks(*a, **kw):
                parts[0] += 1
                yield item
        monkeypatch.setattr(module, "_unit_chunks", counting)
        if direction == "reverse_slot_kernels":  # more predictors than stimuli, 2 repeats: the repeats' kernels
            R = rng.normal(size=(N, 60, 2))
            slot_path = module._score_from_slot_kernels
            monkeypatch.setattr(module, "_score_from_slot_kernels", lambda *a: used.append(1) or slot_path(*a))
        call = functools.partial(pv.reverse, nx.neural(R, _ids()), nx.features(F[:, :6], _ids()).chunk({"unit": 2}))
    else:  # three groups of targets: the complete ones, those missing stimulus 3, those missing stimulus 9
        R[3, 1], R[9, 2:] = np.nan, np.nan
        fit = _prepare.fold_regressor

        def counting(*a, **kw):
            parts[0] += 1
            return fit(*a, **kw)
        monkeypatch.setattr(_prepare, "fold_regressor", counting)
        src = nx.features(F, _ids()) if direction == "forward" else nx.neural(F[:, :4, None] + rng.normal(size=(N, 4, 4)), _ids())
        call = functools.partial(getattr(pv, direction), src, nx.neural(R, _ids()))
    shown: list = []

    def progress(reps):
        for i in reps:
            shown.append(parts[0])
            yield i
        shown.append(("end", parts[0]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)  # the groups' warning
        call(reps=3, progress=progress)
    assert parts[0] == 3 and len(used) == (direction == "reverse_slot_kernels")
    assert len(shown) == 4 and shown[-1] == ("end", 3)  # each rep shown once, the bar ends with the last part
    assert shown[0] < 3  # and moves before it


@pytest.mark.parametrize("scale", [1e-3, 1e-14])
def test_split_half_reliability_with_missing_trials_does_not_depend_on_the_unit(scale):
    """Responses in a unit that makes them tiny (1e-14) with missing trials: the split halves'
    Spearman tied every value (its tie tolerance came from a fill of magnitude 1), so the
    reliability fell; it is the same at any scale, as without missing trials."""
    rng = np.random.default_rng(0)
    n = 30
    ids = [f"s{i}" for i in range(n)]
    R = rng.normal(size=(n, 1))[:, :, None] + rng.normal(size=(n, 3, 6))
    R[rng.uniform(size=R.shape) < 0.4] = np.nan  # some halves without a trial at some stimuli
    ref = pv.split_half_reliability(nx.neural(R, ids), reps=3, seed=0)
    got = pv.split_half_reliability(nx.neural(R * scale, ids), reps=3, seed=0)
    np.testing.assert_allclose(got["reliability"].values, ref["reliability"].values, rtol=1e-12)
    assert np.isfinite(ref["reliability"].values).all()
