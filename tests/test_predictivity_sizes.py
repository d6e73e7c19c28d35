"""The directions at the smallest sizes a user can give: the fewest stimuli, one neuroid, unit or
time bin, one or two repeats, a target left with one stimulus by missing values, components past
what the folds allow. Each is a right number (a reference computed here) or a one-line error
naming the argument and what to do, never a traceback from NumPy/scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge

import neuroxr as nx
from neuroxr import predictivity as d
from neuroxr.alignment import canonical_order
from neuroxr.errors import LayoutError, NoPredictor, NothingToScore, ParameterError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.predictivity import inference as inf

BINS = [(0, 10), (10, 20)]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    return msg


def _data(n=12, p=2, k=1, T=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)), rng.normal(size=(n, k, T))


def _oof_ridge_r(X, y, n_folds, alpha=0.1):
    """Out-of-fold scikit-learn Ridge predictions of ``y`` from ``X`` (rows in canonical order) and their Pearson r."""
    P = np.empty_like(y)
    for train, test in kfold_indices(len(y), n_folds, 0):
        P[test] = Ridge(alpha=alpha).fit(X[train], y[train]).predict(X[test])
    return np.corrcoef(P, y)[0, 1]


# --- a target left with a single stimulus by missing values: too few stimuli, never a "dead layer" -------------


def _left_with_one(R):
    R = R.copy()
    R[1:, 0] = np.nan  # neuroid 0: a valid trial at the first stimulus only
    return R


@pytest.mark.parametrize("call", ["forward", "forward_nc", "boot_forward", "perm_forward", "boot_inter_animal",
                                  "perm_inter_animal", "generalization", "generalization_animal"])
def test_one_stimulus_left_is_too_few_stimuli(call):
    F, R = _data()
    R = _left_with_one(R)
    rng = np.random.default_rng(3)
    full = nx.neural(rng.normal(size=(12, 2, 2)), name="a")
    feats, neural = nx.features(F, name="net"), nx.neural(R, name="monkey")
    timed = nx.neural(R[..., None], time_bins=BINS[:1], name="monkey")
    calls = {
        "forward": lambda: d.forward(feats, neural, reps=2, n_folds=2),
        "forward_nc": lambda: d.forward(feats, neural, noise_ceiling=False, n_folds=2),
        "boot_forward": lambda: inf.bootstrap("forward", feats, neural, reps=2, n_folds=2, n_boot=3),
        "perm_forward": lambda: inf.permutation_test("forward", feats, neural, n_folds=2, n_perm=3),
        "boot_inter_animal": lambda: inf.bootstrap("inter_animal", full, neural, reps=2, n_folds=2, n_boot=3),
        "perm_inter_animal": lambda: inf.permutation_test("inter_animal", full, neural, n_folds=2, n_perm=3),
        "generalization": lambda: d.temporal_generalization(feats, timed, n_folds=2),
        "generalization_animal": lambda: d.temporal_generalization(
            timed, nx.neural(rng.normal(size=(12, 1, 2, 1)), time_bins=BINS[:1], name="b"), n_folds=2),
    }
    with pytest.raises(LayoutError) as info:
        _quiet(calls[call])
    assert not isinstance(info.value, NoPredictor)  # the features vary: a single stimulus is the cause
    assert "too few stimuli" in _one_line(info.value)


def test_forward_one_stimulus_left_is_nothing_to_score():
    F, R = _data()
    with pytest.raises(NothingToScore, match=r"^forward: neural \(monkey\): too few stimuli"):
        _quiet(d.forward, nx.features(F, name="net"), nx.neural(_left_with_one(R), name="monkey"), reps=2, n_folds=2)


@pytest.mark.parametrize("call", ["inter_animal", "bootstrap"])
def test_inter_animal_too_few_stimuli_names_the_predictors_whose_trials_excluded_them(call):
    """neural_a's missing trials left 3 stimuli: the refusal named only neural_b (the targets' folds) and said
    "the warning before names the input"; it names neural_a as the input whose missing trials excluded them."""
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(12, 5, 4)), rng.normal(size=(12, 6, 4))
    A[3:] = np.nan
    a, b = nx.neural(A, name="monkeyA"), nx.neural(B, name="monkeyB")
    run = {"inter_animal": lambda: d.inter_animal(a, b, reps=2, n_folds=5),
           "bootstrap": lambda: inf.bootstrap("inter_animal", a, b, reps=2, n_folds=5, n_boot=3)}[call]
    with pytest.raises(NothingToScore, match=r"neural_b \(monkeyB\): too few stimuli for the folds.*9 of 12 stimuli were "
                                             r"excluded by missing trials of neural_a \(monkeyA\)"):
        _quiet(run)


def test_time_resolved_bootstrap_bin_left_with_one_stimulus_is_nan():
    """A bin whose only neuroid keeps one stimulus is NaN; the other bin has the numbers of a call on it
    alone (as the direction does), instead of the whole bootstrap being refused as a dead layer."""
    F, _ = _data()
    R = np.random.default_rng(1).normal(size=(12, 1, 2, 2))
    R[1:, 0, :, 0] = np.nan
    feats = nx.features(F, name="net")
    neural = nx.neural(R, time_bins=BINS, name="monkey")
    kw = dict(reps=2, n_folds=3, n_boot=4)
    got = _quiet(inf.bootstrap, "forward", feats, neural, **kw)
    alone = _quiet(inf.bootstrap, "forward", feats, nx.neural(R[..., 1], name="monkey"), **kw)
    assert np.isnan(got["ev"].isel(time_bin=0)).all()
    np.testing.assert_allclose(got["ev"].isel(time_bin=1).values, alone["ev"].values, rtol=1e-12)
    np.testing.assert_allclose(got["ev_boot"].isel(time_bin=1).values, alone["ev_boot"].values, rtol=1e-12)


def test_temporal_generalization_animal_bin_left_with_one_stimulus():
    """A's only neuroid keeps one stimulus at bin 0: the pairs with bin 0 are NaN, the (1, 1) pair is
    scikit-learn's Ridge from A's bin 1 (not a refusal of A's bin 0 as a constant design)."""
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(12, 1, 2, 2)), rng.normal(size=(12, 1, 2, 2))
    A[1:, 0, :, 0] = np.nan
    got = _quiet(d.temporal_generalization, nx.neural(A, time_bins=BINS, name="a"),
                 nx.neural(B, time_bins=BINS, name="b"), n_folds=3)
    order = canonical_order([f"stimulus{i}" for i in range(12)])
    ref = _oof_ridge_r(A[order, :, :, 1].mean(axis=2), B[order, 0, :, 1].mean(axis=1), 3)
    r = got["r"].values[0]
    assert np.isnan(r[0]).all() and np.isnan(r[:, 0]).all()
    np.testing.assert_allclose(r[1, 1], ref, rtol=1e-9)


# --- PLS components past what a training fold holds: a one-line refusal, the bound itself scikit-learn's numbers ---


def _pls_calls(regressor, n_components=None):
    rng = np.random.default_rng(4)
    F, G = nx.features(rng.normal(size=(4, 3)), name="net"), nx.features(rng.normal(size=(4, 2)), name="other")
    R = nx.neural(rng.normal(size=(4, 3, 2)), name="monkey")
    kw = dict(regressor=regressor, n_folds=2, **({} if n_components is None else {"n_components": n_components}))
    return {
        "forward": lambda: d.forward(F, R, reps=2, **kw),
        "reverse": lambda: d.reverse(R, G, reps=2, **kw),
        "inter_animal": lambda: d.inter_animal(R, R.isel(neuroid=[0]), reps=2, **kw),
        "model_to_model": lambda: d.model_to_model(F, G, **kw),
    }


@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal", "model_to_model"])
@pytest.mark.parametrize("estimator", [False, True], ids=["pls", "PLSRegression"])
def test_pls_components_past_the_training_fold_are_refused(direction, estimator):
    from sklearn.cross_decomposition import PLSRegression

    calls = _pls_calls(PLSRegression(3), None) if estimator else _pls_calls("pls", 3)  # 3 columns, 2 training stimuli
    with pytest.raises(ParameterError) as info:
        _quiet(calls[direction])
    msg = _one_line(info.value)
    assert msg.startswith(f"{direction}: ") and "n_components=3" in msg and "'stimulus'" in msg
    assert "n_components <= 2" in msg


def test_pls_components_at_the_training_fold_size_are_scikit_learns():
    from sklearn.cross_decomposition import PLSRegression

    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))  # 2 folds of 5: training folds of 2 and 3 stimuli
    got = _quiet(d.model_to_model, nx.features(X, name="a"), nx.features(Y, name="b"), regressor="pls",
                 n_components=2, n_folds=2)
    order = canonical_order([f"stimulus{i}" for i in range(5)])
    Xc, Yc = X[order], Y[order]
    P = np.empty_like(Yc)
    for train, test in kfold_indices(5, 2, 0):
        P[test] = _quiet(PLSRegression(2).fit, Xc[train], Yc[train]).predict(Xc[test])
    ref = [np.corrcoef(P[:, j], Yc[:, j])[0, 1] for j in range(2)]
    np.testing.assert_allclose(got["r"].values.ravel(), ref, rtol=1e-9)


# --- a bootstrap over the targets of a single target: refused, not a zero-width interval ----------------------


@pytest.mark.parametrize("over", ["targets", "both"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal", "model_to_model", "time_resolved"])
def test_bootstrap_over_one_target_is_refused(direction, over):
    rng = np.random.default_rng(6)
    F, R = nx.features(rng.normal(size=(8, 2)), name="net"), nx.neural(rng.normal(size=(8, 2, 2)), name="monkey")
    one_unit, one_neuroid = nx.features(rng.normal(size=(8, 1)), name="net"), R.isel(neuroid=[0])
    timed = nx.neural(rng.normal(size=(8, 1, 2, 2)), time_bins=BINS, name="monkey")
    src, tgt = {"forward": (F, one_neuroid), "reverse": (R, one_unit), "inter_animal": (R, one_neuroid),
                "model_to_model": (F, one_unit), "time_resolved": (F, timed)}[direction]
    kw = {} if direction == "model_to_model" else {"reps": 2}
    name = "forward" if direction == "time_resolved" else direction
    with pytest.raises(ParameterError) as info:
        _quiet(inf.bootstrap, name, src, tgt, n_boot=4, n_folds=3, over=over, **kw)
    msg = _one_line(info.value)
    assert msg.startswith(f"bootstrap: over='{over}'") and "over='stimuli'" in msg
    assert ("'unit'" if direction in ("reverse", "model_to_model") else "'neuroid'") in msg


def test_bootstrap_over_targets_of_two_targets_is_the_median_of_their_draws():
    """The smallest size it accepts: 2 targets, each resample the median of the drawn targets' EVs."""
    rng = np.random.default_rng(7)
    got = _quiet(inf.bootstrap, "model_to_model", nx.features(rng.normal(size=(8, 3))), nx.features(rng.normal(size=(8, 2))),
                 n_boot=16, n_folds=3, over="targets")
    ev = got["ev"].values
    boot = got["median_ev_boot"].values
    assert np.all(np.isclose(boot, ev[0]) | np.isclose(boot, ev[1]) | np.isclose(boot, ev.mean()))
    assert np.ptp(boot) > 0  # both targets are drawn


# --- the smallest accepted sizes give the reference numbers ------------------------------------------------------


@pytest.mark.parametrize("n", [3, 4, 5])
def test_split_half_reliability_two_repeats_is_scipys_spearman_brown(n):
    from scipy.stats import spearmanr

    R = np.random.default_rng(n).normal(size=(n, 1, 2))  # two repeats: one per half, whichever the draw
    got = _quiet(d.split_half_reliability, nx.neural(R), reps=2)
    rho = spearmanr(R[:, 0, 0], R[:, 0, 1])[0]
    np.testing.assert_allclose(got["r_half"].values, rho, rtol=1e-12)
    with np.errstate(divide="ignore"):  # a Spearman of -1 (3 stimuli): Spearman-Brown -inf, as neuroxr gives it
        np.testing.assert_allclose(got["reliability"].values, 2 * rho / (1 + rho), rtol=1e-12)


@pytest.mark.parametrize("n, n_folds", [(3, 3), (3, 2), (4, 2), (10, 10)])
@pytest.mark.parametrize("trial_averaged", [False, True])
def test_forward_one_unit_one_neuroid_is_sklearns_ridge(n, n_folds, trial_averaged):
    rng = np.random.default_rng(n + n_folds)
    F, R = rng.normal(size=(n, 1)), rng.normal(size=(n, 1, 2)).astype(np.float32).astype(float)
    neural = nx.neural(R.mean(axis=2)) if trial_averaged else nx.neural(R)
    kw = {} if trial_averaged else {"noise_ceiling": False}
    got = _quiet(d.forward, nx.features(F), neural, reps=1, n_folds=n_folds, **kw)
    order = canonical_order([f"stimulus{i}" for i in range(n)])
    ref = _oof_ridge_r(F[order], R[order, 0].mean(axis=1), n_folds)
    np.testing.assert_allclose(got["r"].values.ravel(), ref, rtol=1e-9)
    np.testing.assert_allclose(got["ev"].values.ravel(), 100 * ref**2, rtol=1e-9)


def test_one_time_bin_generalization_is_the_directions_r():
    rng = np.random.default_rng(8)
    F, R = nx.features(rng.normal(size=(6, 2))), rng.normal(size=(6, 2, 2, 1))
    gen = _quiet(d.temporal_generalization, F, nx.neural(R, time_bins=BINS[:1]), n_folds=3)
    fwd = _quiet(d.forward, F, nx.neural(R[..., 0]), noise_ceiling=False, reps=1, n_folds=3)
    np.testing.assert_allclose(gen["r"].values[:, 0, 0], fwd["r"].values[:, 0], rtol=1e-9)


@pytest.mark.parametrize("n_folds", [2, 3])
def test_fewer_stimuli_than_folds_or_than_three_is_one_line(n_folds):
    F, R = _data(n=n_folds - 1 if n_folds == 3 else 2)
    with pytest.raises(LayoutError, match=r"^forward: neural: too few stimuli") as info:
        _quiet(d.forward, nx.features(F), nx.neural(R), reps=2, n_folds=n_folds)
    _one_line(info.value)


@pytest.mark.parametrize("shape", ["more_units_than_training_stimuli", "duplicated_unit"])
def test_generalization_alpha_zero_on_a_rank_deficient_design_is_sklearns(shape):
    """alpha=0 where the training fold's features are rank-deficient: scikit-learn's least-squares
    (minimum-norm) solution, not numpy's LinAlgError."""
    rng = np.random.default_rng(9)
    n, n_folds = (4, 2) if shape == "more_units_than_training_stimuli" else (6, 3)  # 2 training stimuli: a singular Gram
    X = (rng.integers(-9, 9, size=(n, 5)).astype(float) if shape == "more_units_than_training_stimuli"  # exact Gram
         else np.repeat(rng.normal(size=(n, 1)), 2, 1))
    R = rng.normal(size=(n, 1, 2, 1))
    got = _quiet(d.temporal_generalization, nx.features(X), nx.neural(R, time_bins=BINS[:1]), n_folds=n_folds, alpha=0)
    order = canonical_order([f"stimulus{i}" for i in range(n)])
    ref = _quiet(_oof_ridge_r, X[order], R[order, 0, :, 0].mean(axis=1), n_folds, alpha=0)
    np.testing.assert_allclose(got["r"].values[0, 0, 0], ref, rtol=1e-9)


# --- a target with one valid repeat per stimulus: the refusal says how to score it --------------------------------


@pytest.mark.parametrize("call", ["forward", "inter_animal", "bootstrap"])
def test_one_valid_repeat_everywhere_names_the_way_out(call):
    rng = np.random.default_rng(10)
    R = rng.normal(size=(8, 1, 2))
    R[:, 0, 1] = np.nan  # a single valid trial at every stimulus: no split half to draw
    F, A, B = nx.features(rng.normal(size=(8, 2))), nx.neural(rng.normal(size=(8, 2, 2))), nx.neural(R)
    run = {"forward": lambda: d.forward(F, B, reps=2, n_folds=3),
           "inter_animal": lambda: d.inter_animal(A, B, reps=2, n_folds=3),
           "bootstrap": lambda: inf.bootstrap("forward", F, B, reps=2, n_folds=3, n_boot=3)}[call]
    with pytest.raises(NothingToScore) as info:
        _quiet(run)
    msg = _one_line(info.value)
    # split='slots' is no way out there (every slot split leaves a half empty: every ev NaN); it was offered
    assert "no stimulus has 2 valid repeat(s)" in msg and "pass noise_ceiling=False: with at most one valid" in msg
    assert "split='slots'" not in msg
    assert _quiet(d.forward, F, B, noise_ceiling=False, n_folds=3)["r"].notnull().all()  # the way out scores it
    assert _quiet(d.forward, F, B, split="slots", reps=2, n_folds=3)["ev"].isnull().all()  # not this one
    A.values[:, :, 1] = np.nan  # a predictor the same: its refusal says the same
    with pytest.raises(LayoutError, match=r"neural_a.*no stimulus has 2 valid repeat\(s\) for every predictor neuroid; "
                                          r"pass noise_ceiling=False: with at most one valid repeat"):
        _quiet(d.inter_animal, A, nx.neural(rng.normal(size=(8, 2, 2))), reps=2, n_folds=3)
    RA = rng.normal(size=(8, 2, 2))
    RA[:4, 0, 1], RA[4:, 1, 1] = np.nan, np.nan  # each predictor has 2 valid repeats at some stimuli: slots is a way
    with pytest.raises(LayoutError, match=r"every predictor neuroid; pass noise_ceiling=False or split='slots'\.$"):
        _quiet(d.inter_animal, nx.neural(RA), nx.neural(rng.normal(size=(8, 2, 2))), reps=2, n_folds=3)


# --- best_layer of a single target: no test half -----------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2])
def test_best_layer_needs_a_test_half(k):
    rng = np.random.default_rng(11)
    Y = nx.features(rng.normal(size=(8, k)), name="target")
    boots = {m: _quiet(inf.bootstrap, "model_to_model", nx.features(rng.normal(size=(8, 2)), name=m), Y, n_boot=4, n_folds=3)
             for m in ("a", "b")}
    if k == 1:
        with pytest.raises(LayoutError, match=r"^best_layer: .*1 target \(dim 'unit'\)") as info:
            _quiet(inf.best_layer, boots)
        _one_line(info.value)
        return
    got = _quiet(inf.best_layer, boots)  # one target selects, the other tests: its EV in the chosen layer
    assert got.attrs["n_selection"] == 1 and got.attrs["n_test"] == 1
    assert got["test_ev"].item() in [boots[got["best"].item()]["ev"].values[j] for j in range(2)]


# --- a split-half Spearman of -1 (few stimuli) is a reliability of -inf: low, never left out ------------------------


def _anti_ordered_target(n=6):
    rng = np.random.default_rng(12)
    s = rng.normal(size=n)
    A = np.stack([s + 0.05 * rng.normal(size=n), s + 0.05 * rng.normal(size=n)], 1)[:, None, :]  # reliable predictor
    b = rng.normal(size=n)
    return nx.neural(A, name="a"), nx.neural(np.stack([b, -2 * b], 1)[:, None, :], name="b")  # halves' Spearman -1


@pytest.mark.parametrize("min_reliability", [None, 0.1])
def test_minus_infinite_reliability_is_low_and_warned(min_reliability):
    from neuroxr.errors import NeuroxrWarning

    A, B = _anti_ordered_target()
    with pytest.warns(NeuroxrWarning, match=r"1 neuroids have a split-half reliability below 0.1") as record:
        ds = d.inter_animal(A, B, reps=2, n_folds=3, min_reliability=min_reliability)
    assert np.isneginf(ds["target_shc"].values).all() and np.isnan(ds["ev"].values).all()  # the NaN EV it explains
    assert ds["included"].values.tolist() == [min_reliability is None]
    if min_reliability is not None:
        assert any("marked included=False" in str(w.message) for w in record)


def test_a_rep_with_minus_infinite_reliability_pulls_the_mean_below_any_threshold():
    from neuroxr.predictivity._result import reliable_targets

    shc = np.array([[-np.inf, 0.9], [0.5, np.nan], [np.nan, np.nan]])  # the mean over reps: -inf, 0.5 (NaN left out), none
    assert reliable_targets([shc], 0.1).tolist() == [False, True, False]


# --- a target whose valid stimuli leave the design constant: NaN, never an r of the training folds' means ---------


def _varies_where_target_is_missing(n=12):
    rng = np.random.default_rng(13)
    ids = [f"s{i:02d}" for i in range(n)]
    X = np.zeros((n, 2))
    X[0], X[1] = [1.0, 2.0], [3.0, -1.0]  # the features vary at s00 and s01 only
    R = rng.normal(size=(n, 2, 2))
    R[:2, 0] = np.nan  # neuroid0 lacks s00 and s01: its design is constant
    A = np.repeat(X[:, :1, None], 2, axis=2)  # an animal whose neuroid varies there only
    return ids, X, R, A


@pytest.mark.parametrize("call", ["forward", "forward_no_ceiling", "inter_animal", "bootstrap", "inter_animal_bootstrap",
                                  "forward_streamed", "forward_gram"])
def test_constant_design_on_a_targets_stimuli_scores_it_nan(call):
    import dask.array as da

    from neuroxr.errors import NeuroxrWarning
    from neuroxr.geometry import gram

    ids, X, R, A = _varies_where_target_is_missing()
    F, B, An = nx.features(X, stimulus_id=ids, name="net"), nx.neural(R, stimulus_id=ids, name="b"), nx.neural(A, stimulus_id=ids, name="a")
    lazy = F.copy(data=da.from_array(X, chunks=(X.shape[0], 1)))  # streamed: the Gram reduced over unit chunks
    run = {"forward": lambda b: d.forward(F, b, reps=2, n_folds=3),
           "forward_streamed": lambda b: d.forward(lazy, b, reps=2, n_folds=3),
           "forward_gram": lambda b: d.forward(F, b, reps=2, n_folds=3, gram=gram(F)),
           "forward_no_ceiling": lambda b: d.forward(F, b, noise_ceiling=False, n_folds=3),
           "inter_animal": lambda b: d.inter_animal(An, b, reps=2, n_folds=3),
           "bootstrap": lambda b: inf.bootstrap("forward", F, b, reps=2, n_folds=3, n_boot=4),
           "inter_animal_bootstrap": lambda b: inf.bootstrap("inter_animal", An, b, reps=2, n_folds=3, n_boot=4)}[call]
    with pytest.warns(NeuroxrWarning, match=r"1 neuroids are scored NaN: on the stimuli where they are valid, every "
                                            r"predictor column of (features \(net\)|neural_a \(a\)) is constant.*'neuroid0'"):
        got = run(B)
    alone = _quiet(run, B.isel(neuroid=[1]))
    assert np.isnan(got["ev"].sel(neuroid=0)).all()
    if "r" in got:
        assert np.isnan(got["r"].sel(neuroid=0)).all()
    np.testing.assert_allclose(got["ev"].sel(neuroid=1).values, alone["ev"].isel(neuroid=0).values, rtol=1e-12)


@pytest.mark.parametrize("animal", [False, True])
def test_generalization_constant_design_on_a_targets_stimuli_is_nan(animal):
    from neuroxr.errors import NeuroxrWarning

    ids, X, R, A = _varies_where_target_is_missing()
    source = (nx.neural(A[..., None], stimulus_id=ids, time_bins=BINS[:1], name="a") if animal
              else nx.features(X, stimulus_id=ids, name="net"))
    with pytest.warns(NeuroxrWarning, match=r"1 \(neuroid, train bin, test bin\) targets are scored NaN: .*'neuroid0 \(0->0\)'"):
        got = d.temporal_generalization(source, nx.neural(R[..., None], stimulus_id=ids, time_bins=BINS[:1]), n_folds=3)
    alone = _quiet(d.temporal_generalization, source, nx.neural(R[:, 1:, :, None], stimulus_id=ids, time_bins=BINS[:1]), n_folds=3)
    assert np.isnan(got["r"].values[0]).all()
    np.testing.assert_allclose(got["r"].values[1], alone["r"].values[0], rtol=1e-12)


def test_too_few_stimuli_left_by_the_predictors_missing_trials_says_so():
    """A's missing trials left 2 of 12 stimuli: the folds' refusal named neural_b and advised more stimuli, as
    if B held too few; it now says that missing trials excluded 10 of the 12 (A's warning names A)."""
    from neuroxr.errors import NeuroxrWarning

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(12)]
    A, B = rng.normal(size=(12, 3, 2)), rng.normal(size=(12, 2, 2))
    A[2:, 0, :] = np.nan
    with pytest.warns(NeuroxrWarning, match=r"neural_a \(a\): excluding 10 of 12 stimuli"), \
            pytest.raises(NothingToScore, match=r"2 stimuli cannot be split into n_folds=3 folds\..* Missing trials left "
                                                r"them: 10 of 12 stimuli were excluded"):
        d.inter_animal(nx.neural(A, stimulus_id=ids, name="a"), nx.neural(B, stimulus_id=ids, name="b"), reps=2, n_folds=3)


# --- PLS components past one group's training folds: that group NaN, the others scored -------------------------


def _pls_short_group(n=24):
    rng = np.random.default_rng(21)
    ids = [f"s{i:02d}" for i in range(n)]
    X = rng.normal(size=(n, 20))
    R = 3 * X[:, :3, None] + 0.3 * rng.normal(size=(n, 3, 4))
    R[: n // 2, 0] = np.nan  # neuroid0's 12 stimuli leave training folds of 8 (3 folds)
    A = X[:, :12, None] + 0.3 * rng.normal(size=(n, 12, 4))
    return ids, X, R, A


@pytest.mark.parametrize("call", ["forward", "inter_animal", "bootstrap", "permutation"])
def test_pls_components_past_a_groups_training_folds_leave_that_group_nan(call):
    from sklearn.cross_decomposition import PLSRegression

    from neuroxr.errors import NeuroxrWarning

    ids, X, R, A = _pls_short_group()
    F, B, An = nx.features(X, stimulus_id=ids, name="net"), nx.neural(R, stimulus_id=ids, name="b"), nx.neural(A, stimulus_id=ids, name="a")
    kw = dict(n_folds=3, reps=2)
    run = {"forward": lambda b: d.forward(F, b, regressor="pls", n_components=10, **kw),
           "inter_animal": lambda b: d.inter_animal(An, b, regressor=PLSRegression(n_components=10), **kw),
           "bootstrap": lambda b: inf.bootstrap("forward", F, b, regressor="pls", n_components=10, n_boot=3, **kw),
           "permutation": lambda b: inf.permutation_test("forward", F, b, regressor="pls", n_components=10, n_perm=3, n_folds=3)}[call]
    with pytest.warns(NeuroxrWarning, match=r"1 targets are scored NaN: the stimuli they are valid at leave a training fold "
                                            r"of 8 stimuli at most, fewer than n_components=10 .*'neuroid0'.*n_components <= 8"):
        got = run(B)
    alone = _quiet(run, B.isel(neuroid=[1, 2]))
    stat = "ev" if "ev" in got else "r"
    assert np.isnan(got[stat].sel(neuroid=0)).all()
    assert np.isfinite(got[stat].sel(neuroid=[1, 2])).all()
    np.testing.assert_allclose(got[stat].sel(neuroid=[1, 2]).values, alone[stat].values, rtol=1e-12)


def test_pls_components_past_every_groups_training_folds_refuse_the_call():
    ids, X, R, _ = _pls_short_group()
    F, B = nx.features(X, stimulus_id=ids), nx.neural(R, stimulus_id=ids)
    with pytest.raises(ParameterError, match=r"n_components=17 but the smallest training fold holds 16 stimuli") as info:
        _quiet(d.forward, F, B, regressor="pls", n_components=17, n_folds=3, reps=2)
    _one_line(info.value)
