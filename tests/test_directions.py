"""The four directions: parity with reverse_pred, sklearn regressors, ground truth, errors."""

from __future__ import annotations

import importlib
import re
import sys

import numpy as np
import pytest
import xarray as xr
from conftest import near_constant

import neuroxr as nx
from neuroxr import predictivity as d
from neuroxr.alignment import canonical_order
from neuroxr.errors import NeuroxrWarning, ParameterError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.layouts import LayoutError

rp_cm = pytest.importorskip("reverse_pred.correlation_metrics")
from reverse_pred.model_to_model import compute_model_to_model  # noqa: E402
from reverse_pred.model_to_monkey import compute_model_to_monkey  # noqa: E402
from reverse_pred.monkey_to_model import compute_monkey_to_model  # noqa: E402
from reverse_pred.monkey_to_monkey import compute_monkey_to_monkey  # noqa: E402


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    n, k, T, p = 150, 14, 10, 40
    Z = rng.normal(size=(n, 5))
    F = Z @ rng.normal(size=(5, p)) + 0.5 * rng.normal(size=(n, p))
    R = (Z @ rng.normal(size=(5, k)))[:, :, None] + 1.5 * rng.normal(size=(n, k, T))
    R[rng.random(R.shape) < 0.04] = np.nan  # some missing trials
    RB = (Z @ rng.normal(size=(5, 9)))[:, :, None] + rng.normal(size=(n, 9, 8))
    F2 = F[:, :12] + rng.normal(size=(n, 12))
    return dict(F=F, R=R, RB=RB, F2=F2)


@pytest.fixture
def seeded_reverse_pred(monkeypatch):
    """The parity protocol: reverse_pred's unseeded default_rng() returns one seeded Generator."""

    make = np.random.default_rng  # numpy's own: a second seed() must not get the first's Generator back

    def seed(s):
        gen = make(s)
        monkeypatch.setattr(rp_cm.np.random, "default_rng", lambda *a, **k: gen)

    return seed


def _canonical(*arrays):
    """reverse_pred pairs stimuli by position: feed it neuroxr's canonical order (sorted ids,
    which for the default ids "stimulus0", "stimulus1", ... is not the numeric order)."""
    order = canonical_order([f"stimulus{i}" for i in range(arrays[0].shape[0])])
    assert not np.array_equal(order, np.arange(order.size))  # the test exercises the reordering
    return [a[order] for a in arrays]


def _rel(a, b):
    return np.nanmax(np.abs(a - b) / np.abs(b))


@pytest.mark.parametrize("missing", [True, False], ids=["missing-trials", "complete"])
@pytest.mark.parametrize("model_type", ["ridge", "linear"])
def test_forward_parity(problem, seeded_reverse_pred, tmp_path, model_type, missing):
    F, R = problem["F"], problem["R"]
    if not missing:  # complete data take the P2 = (T P - c1 P1) / c2 shortcut
        R = np.where(np.isnan(R), 0.25, R)
    ours = d.forward(nx.features(F), nx.neural(R), reps=3, seed=7, regressor=model_type, split="slots")
    seeded_reverse_pred(7)
    compute_model_to_monkey(*_canonical(F, R), str(tmp_path), reps=3, model_type=model_type)
    ref = np.load(tmp_path / "forward_ev.npy")
    got = ours.ev.mean("rep").values
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert _rel(got, ref) < 1e-6


@pytest.mark.parametrize("model_type", ["ridge", "linear"])
def test_reverse_parity(problem, seeded_reverse_pred, tmp_path, model_type):
    F, R = problem["F"], problem["R"]
    ours = d.reverse(nx.neural(R), nx.features(F), reps=3, seed=3, regressor=model_type, split="slots")
    seeded_reverse_pred(3)
    compute_monkey_to_model(*_canonical(F, R), str(tmp_path), reps=3, model_type=model_type)
    ref = np.load(tmp_path / "reverse_ev.npy")
    got = ours.ev.mean("rep").values
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert _rel(got, ref) < 1e-6


def test_inter_animal_parity(problem, seeded_reverse_pred, tmp_path):
    R, RB = problem["R"], problem["RB"]
    ours = d.inter_animal(nx.neural(R), nx.neural(RB), reps=3, seed=11, split="slots")
    seeded_reverse_pred(11)
    compute_monkey_to_monkey(*_canonical(R, RB), str(tmp_path), reps=3)
    ref = np.load(tmp_path / "monkey1_to_monkey2_ev.npy")
    assert _rel(ours.ev.mean("rep").values, ref) < 1e-6


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_max_n_parity_at_one_rep_given_the_same_subset(problem, seeded_reverse_pred, tmp_path, monkeypatch, direction):
    """docs/design.md: with max_n, reverse_pred 0.1.8 reuses its first rep's subset in every rep (its
    loop replaces the predictor array), so parity holds at reps=1, with reverse_pred handed the
    subset neuroxr draws (its own stream, default_rng([seed, 1]), over the canonical ids)."""
    F, R = problem["F"], problem["R"]
    units = [f"u{j:02d}" for j in range(F.shape[1])]  # canonical order = position
    neuroids = [f"n{j:02d}" for j in range(R.shape[1])]
    feats, resp = nx.features(F, unit_id=units), nx.neural(R, neuroid_id=neuroids)
    size = F.shape[1] if direction == "forward" else R.shape[1]
    pick = np.sort(np.random.default_rng([5, 1]).choice(size, 6, replace=False))
    if direction == "forward":
        ours = d.forward(feats, resp, reps=1, seed=5, max_n=6, split="slots")
    else:
        ours = d.reverse(resp, feats, reps=1, seed=5, max_n=6, split="slots")
    seeded_reverse_pred(5)
    module = compute_model_to_monkey if direction == "forward" else compute_monkey_to_model
    monkeypatch.setattr(sys.modules[module.__module__].np.random, "choice", lambda *a, **k: pick)
    module(*_canonical(F, R), str(tmp_path), reps=1, max_n=6)
    ref = np.load(tmp_path / f"{direction}_ev.npy")
    got = ours.ev.mean("rep").values
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert _rel(got, ref) < 1e-6


def test_model_to_model_parity(problem, tmp_path):
    F, F2 = problem["F"], problem["F2"]
    ours = d.model_to_model(nx.features(F), nx.features(F2))
    compute_model_to_model(*_canonical(F, F2), str(tmp_path), reps=1)
    ref = np.load(tmp_path / "model1_to_model2_ev.npy")
    assert _rel(ours.ev.mean("rep").values, ref) < 1e-6


def test_valid_split_equals_slots_without_missing_trials(problem):
    R = np.nan_to_num(problem["R"], nan=0.5)
    a = d.forward(nx.features(problem["F"]), nx.neural(R), reps=2, seed=1, split="valid")
    b = d.forward(nx.features(problem["F"]), nx.neural(R), reps=2, seed=1, split="slots")
    xr.testing.assert_allclose(a.ev, b.ev)


def test_dual_form_and_shuffled_stimuli(problem):
    """More units than stimuli (dual form) and a shuffled neural stimulus order give the same scores."""
    rng = np.random.default_rng(0)
    n = problem["F"].shape[0]
    F = np.hstack([problem["F"], rng.normal(size=(n, 200))])
    feats, neu = nx.features(F), nx.neural(problem["R"])
    ref = d.forward(feats, neu, reps=2, seed=0)
    perm = rng.permutation(n)
    shuffled = d.forward(feats, neu.isel(stimulus=perm), reps=2, seed=0)
    # the split halves permute repeats, not stimuli, so the results agree exactly
    xr.testing.assert_allclose(ref.ev, shuffled.ev)


@pytest.mark.parametrize("regressor", ["lasso", "elasticnet", "pls"])
def test_sklearn_regressors_fold_by_fold(problem, regressor):
    from sklearn import linear_model
    from sklearn.cross_decomposition import PLSRegression

    from neuroxr.kernels.stats import pearson

    F, R = problem["F"], problem["R"]
    ds = d.forward(nx.features(F), nx.neural(R), reps=1, seed=0, regressor=regressor, noise_ceiling=False, keep_predictions=True)
    units = np.argsort(nx.features(F).unit_id.values.astype(str))  # the fits see the units by id
    neuroids = np.argsort(nx.neural(R).neuroid_id.values.astype(str))  # and pls the neuroids
    F, R = _canonical(F, R)  # predictions come back in the canonical stimulus order
    np.testing.assert_array_equal(ds.stimulus_id.values, np.sort(ds.stimulus_id.values))
    mean = np.nanmean(R, axis=2)
    P = np.zeros_like(mean)
    for tr, te in kfold_indices(F.shape[0], 10, 0):
        est = {"lasso": linear_model.Lasso(alpha=0.1), "elasticnet": linear_model.ElasticNet(alpha=0.1),
               "pls": PLSRegression(n_components=20)}[regressor]
        P[np.ix_(te, neuroids)] = est.fit(F[tr][:, units], mean[tr][:, neuroids]).predict(F[te][:, units])
    np.testing.assert_allclose(ds.prediction.isel(rep=0).values, P, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ds.r.isel(rep=0).values, pearson(mean, P), rtol=1e-10)


def test_ridgecv_chooses_alpha_per_target(problem):
    from sklearn.linear_model import RidgeCV

    F, R = problem["F"], problem["R"]
    alphas = (0.01, 1.0, 100.0)
    ds = d.forward(nx.features(F), nx.neural(R), reps=1, regressor="ridgecv", alphas=alphas, noise_ceiling=False, keep_predictions=True)
    F, R = _canonical(F, R)
    mean = np.nanmean(R, axis=2)
    P = np.zeros_like(mean)
    for tr, te in kfold_indices(F.shape[0], 10, 0):
        P[te] = RidgeCV(alphas=alphas, alpha_per_target=True).fit(F[tr], mean[tr]).predict(F[te])
    np.testing.assert_allclose(ds.prediction.isel(rep=0).values, P, rtol=1e-8)
    assert ds.attrs["alphas"] == list(alphas)


def test_ground_truth_on_synthetic_study():
    """Forward EV tracks the known explainable fraction; the ceiling recovers the known reliability."""
    from neuroxr.datasets import make_study

    study = make_study(seed=0)
    neural = study.neural["animalA"]
    feats = study.features[study.true_model][study.true_layer]
    ds = d.forward(feats, neural, reps=5, seed=0)
    ev = ds.ev.mean("rep").values
    truth = 100 * neural.cv_explainable_fraction.values
    assert np.corrcoef(ev, truth)[0, 1] >= 0.9
    assert np.corrcoef(ev, 100 * neural.explainable_fraction.values)[0, 1] >= 0.9
    shc = ds.target_shc.mean("rep").values
    assert np.corrcoef(shc, neural.reliability.values)[0, 1] >= 0.9
    assert abs(np.median(shc) - np.median(neural.reliability.values)) < 0.05


def test_output_layout_and_attrs(problem):
    ds = d.forward(nx.features(problem["F"]), nx.neural(problem["R"], region=["IT"] * 14), reps=2, seed=4)
    nx.validate_scores(ds)
    assert ds.ev.dims == ("neuroid", "rep") and ds.sizes["rep"] == 2
    assert {"ev", "r", "target_shc", "prediction_shc"} <= set(ds.data_vars)
    assert "region" in ds.coords
    for key in ("reps", "seed", "regressor", "alpha", "n_folds", "fold_seed", "split", "noise_ceiling", "neuroxr_version"):
        assert key in ds.attrs
    rev = d.reverse(nx.neural(problem["R"]), nx.features(problem["F"]), reps=2)
    assert rev.ev.dims == ("unit", "rep") and "target_shc" not in rev


def test_same_seed_same_numbers_and_max_n_fresh_subsets(problem):
    feats, neu = nx.features(problem["F"]), nx.neural(problem["R"])
    a = d.forward(feats, neu, reps=3, seed=2, max_n=10, keep_predictions=True)
    b = d.forward(feats, neu, reps=3, seed=2, max_n=10, keep_predictions=True)
    xr.testing.assert_identical(a, b)
    # a fresh subset each rep: the predictions differ between reps
    p = a.prediction.values
    assert not np.allclose(p[0], p[1]) and not np.allclose(p[1], p[2])
    rev = d.reverse(neu, feats, reps=3, seed=2, max_n=5, keep_predictions=True)
    assert not np.allclose(rev.prediction.values[0], rev.prediction.values[1])
    c = d.forward(feats, neu, reps=3, seed=3, max_n=10)
    assert not np.allclose(a.ev.values, c.ev.values)


def test_lazy_features_stream_through_gram(problem):
    import dask.array as da

    F = problem["F"]
    feats = nx.features(F)
    lazy = feats.copy(data=da.from_array(F, chunks=(F.shape[0], 7)))
    neu = nx.neural(problem["R"])
    ref = d.forward(feats, neu, reps=2, seed=5)
    got = d.forward(lazy, neu, reps=2, seed=5)
    assert got.attrs["streamed"]
    xr.testing.assert_allclose(ref.ev, got.ev, rtol=1e-9)
    r_ref = d.reverse(neu, feats, reps=2, seed=5)
    r_got = d.reverse(neu, lazy, reps=2, seed=5)
    xr.testing.assert_allclose(r_ref.ev, r_got.ev, rtol=1e-9)


def test_score_writes_store_entry(tmp_path, problem):
    """The store-level score (whatever engine backs it) equals the labeled direction and reads back."""
    from neuroxr.entries import score
    from neuroxr.errors import NeuroxrError

    store = nx.open_store(tmp_path / "s.zarr")
    store.write_neural("monkey", nx.neural(problem["R"]))
    store.write_features("net", "l1", nx.features(problem["F"]))
    ds = score(store, "forward", "net.l1", "monkey", reps=2)
    assert ds.attrs["streamed"]  # the forward direction went through the layer's Gram
    back = score(store, "forward", "net.l1", "monkey", reps=2)  # a complete entry is read back
    np.testing.assert_allclose(back.ev.values, ds.ev.values)
    ref = d.forward(nx.features(problem["F"]), nx.neural(problem["R"]), reps=2)
    np.testing.assert_allclose(back.ev.values, ref.ev.values, rtol=1e-9)
    with pytest.raises(NeuroxrError, match="net.l9"):
        score(store, "forward", "net.l9", "monkey")


# ------------------------------------------------------------------ errors, not garbage
def test_one_repeat_scores_without_ceiling(problem):
    """Trial-averaged data score without a ceiling by default (noted in the attrs); asking for a
    ceiling explicitly is refused (it cannot be honoured), as crsa refuses it."""
    avg = nx.neural(np.nanmean(problem["R"], axis=2))
    feats = nx.features(problem["F"])
    ds = d.forward(feats, avg, reps=1)
    assert np.isfinite(ds.ev.values).all() and "target_shc" not in ds and "ceiling" not in ds
    assert ds.attrs["noise_ceiling"] == 0 and "one repeat" in ds.attrs["note"]
    for call in (lambda: d.forward(feats, avg, noise_ceiling=True, reps=1),
                 lambda: d.reverse(avg, feats, noise_ceiling=True, reps=1),
                 lambda: d.inter_animal(avg, nx.neural(problem["R"]), noise_ceiling=True, reps=1)):
        with pytest.raises(LayoutError, match=r"^(forward|reverse|inter_animal): noise_ceiling=True: neural.* has one repeat "
                                              r"per stimulus .*needs at least 2"):
            call()
    off = d.forward(feats, avg, noise_ceiling=False, reps=1)
    xr.testing.assert_identical(off.ev, ds.ev)


def test_one_repeat_refuses_the_halves_options_the_automatic_ceiling_leaves_unused(problem):
    """With the automatic ceiling off (trial-averaged data), a seed or split away from its default drew
    nothing, yet made an entry under a new key with the same numbers (recording them as used); refused
    as with noise_ceiling=False. A seed that draws max_n's subsets still counts."""
    avg = nx.neural(np.nanmean(problem["R"], axis=2))
    feats, rep = nx.features(problem["F"]), nx.neural(problem["R"])
    for call in (lambda **kw: d.forward(feats, avg, reps=1, **kw), lambda **kw: d.reverse(avg, feats, reps=1, **kw),
                 lambda **kw: d.inter_animal(avg, rep, reps=1, **kw), lambda **kw: d.inter_animal(rep, avg, reps=1, **kw)):
        for kw, shown in (({"seed": 5}, "seed=5"), ({"split": "slots"}, "split='slots'")):
            with pytest.raises(ParameterError, match=rf"^\w+: {re.escape(shown)} has no effect without a noise ceiling "
                                                      r"\(trial-averaged data"):
                call(**kw)
    d.forward(feats, avg, reps=2, max_n=3, seed=5)  # the seed draws the subsets


def test_too_few_stimuli_for_folds():
    rng = np.random.default_rng(0)
    with pytest.raises(LayoutError, match="too few stimuli for the folds"):
        d.forward(nx.features(rng.normal(size=(8, 3))), nx.neural(rng.normal(size=(8, 2, 4))))


def test_all_nan_neuroid_gives_nan_and_warning(problem):
    R = problem["R"].copy()
    R[:, 3, :] = np.nan
    neu = nx.neural(R)
    with pytest.warns(UserWarning, match="neuroid3"):
        ds = d.forward(nx.features(problem["F"]), neu, reps=2)
    assert np.isnan(ds.ev.sel(neuroid=3)).all()
    assert np.isfinite(ds.ev.drop_sel(neuroid=3)).all()


def test_constant_features_are_an_error(problem):
    F = np.ones_like(problem["F"])
    with pytest.raises(LayoutError, match="constant"):
        d.forward(nx.features(F), nx.neural(problem["R"]))


def test_constant_target_units_warn(problem):
    F = problem["F"].copy()
    F[:, 0] = 2.0
    with pytest.warns(UserWarning, match="constant"):
        ds = d.reverse(nx.neural(problem["R"]), nx.features(F), reps=1)
    assert np.isnan(ds.ev.isel(unit=0)).all()


def _nan_for(ds, dim, targets):
    """Whether every float variable over ``dim`` is NaN for the ``targets`` (positions)."""
    return all(np.isnan(ds[v].isel({dim: targets})).all() for v in ds.data_vars if ds[v].dtype.kind == "f" and dim in ds[v].dims)


def test_targets_constant_up_to_rounding_score_nan_in_every_direction(problem):
    """Targets 0 and 1, exactly equal values whose float mean is not exact (forward scored it r = 1)
    and values constant but for rounding, score NaN in every variable with the constant-targets
    warning, in memory and streamed; the other targets keep their numbers."""
    F, R, RB, F2 = problem["F"], problem["R"], problem["RB"], problem["F2"]
    n = F.shape[0]
    assert np.full(n, 0.7).mean() != 0.7
    const = np.stack([np.full(n, 0.7), near_constant(n)], axis=1)
    Rc, RBc, Fc = R.copy(), RB.copy(), F.copy()
    Rc[:, :2, :], RBc[:, :2, :], Fc[:, :2] = const[:, :, None], const[:, :, None], const
    match = r"2 (neuroids|units) are constant across stimuli \(up to rounding: a spread below 2.4e-7 of their magnitude\): \['(neuroid|unit)0', '(neuroid|unit)1'\]\."
    runs = {
        "forward": (lambda Y: d.forward(nx.features(F), nx.neural(Y), reps=2), R, Rc, "neuroid"),
        "forward lazy": (lambda Y: d.forward(nx.features(F).chunk({"unit": 16}), nx.neural(Y), reps=2), R, Rc, "neuroid"),
        "inter_animal": (lambda Y: d.inter_animal(nx.neural(R), nx.neural(Y), reps=2), RB, RBc, "neuroid"),
        "reverse": (lambda Y: d.reverse(nx.neural(R), nx.features(Y), reps=2), F, Fc, "unit"),
        "reverse lazy": (lambda Y: d.reverse(nx.neural(R), nx.features(Y).chunk({"unit": 16}), reps=2), F, Fc, "unit"),
        "model_to_model": (lambda Y: d.model_to_model(nx.features(F2), nx.features(Y)), F, Fc, "unit"),
    }
    for name, (run, Y, Yc, dim) in runs.items():
        ref = run(Y)
        with pytest.warns(NeuroxrWarning, match=match):
            got = run(Yc)
        assert _nan_for(got, dim, [0, 1]), name
        for v in ("ev", "r"):
            np.testing.assert_allclose(got[v].isel({dim: slice(2, None)}), ref[v].isel({dim: slice(2, None)}), rtol=1e-10,
                                       err_msg=name)


def test_reverse_dual_regime_scores_constant_target_units_nan_in_memory_and_lazy():
    """More predictor neuroids than training stimuli (the slot-kernel path): the same rule, in
    memory and over the lazy target chunks."""
    rng = np.random.default_rng(0)
    R, F = rng.normal(size=(30, 40, 3)), rng.normal(size=(30, 8))
    F[:, 3] = near_constant(30)
    mem = d.reverse(nx.neural(R), nx.features(F), reps=8)
    with pytest.warns(NeuroxrWarning, match=r"features: 1 units are constant across stimuli \(up to rounding: a spread below 2.4e-7 of their magnitude\): \['unit3'\]\."):
        lazy = d.reverse(nx.neural(R), nx.features(F).chunk({"unit": 3}), reps=8)
    assert _nan_for(mem, "unit", [3]) and _nan_for(lazy, "unit", [3])
    np.testing.assert_allclose(lazy.ev.values, mem.ev.values, rtol=1e-10)


def test_features_constant_up_to_rounding_are_an_error_in_memory_and_streamed(problem):
    from neuroxr.geometry import gram

    n = problem["F"].shape[0]
    F = np.full((n, 6), 0.7)
    F[:, 3:] = near_constant(n)[:, None]
    feats, neu = nx.features(F), nx.neural(problem["R"])
    for call in (lambda: d.forward(feats, neu), lambda: d.forward(feats.chunk({"unit": 2}), neu),
                 lambda: d.forward(feats, neu, gram=gram(feats)), lambda: d.model_to_model(feats, nx.features(problem["F2"]))):
        with pytest.raises(LayoutError, match=r"every predictor column is constant across stimuli \(up to rounding\)"):
            call()


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
@pytest.mark.parametrize("direction", ["forward", "model_to_model", "reverse", "inter_animal"])
def test_a_max_n_subset_of_constant_columns_is_refused_in_every_direction(direction):
    """forward and model_to_model fitted a rep's max_n subset of constant units (its predictions the
    training folds' means) and reported an EV of about 25 % from their negative r; reverse and
    inter_animal refused it. All four refuse it, saying it is the draw."""
    rng = np.random.default_rng(0)
    n = 60
    X = np.ones((n, 10))
    X[:, 0] = rng.normal(size=n)  # one varying unit among constant ones: a draw of 1 is constant 9 times in 10
    Y = rng.normal(size=(n, 3)) + X[:, :1]
    R = Y[:, :, None] + rng.normal(size=(n, 3, 4))
    Rx = np.repeat(X[:, :, None], 4, axis=2) + np.where(np.arange(10) == 0, 1.0, 0.0)[None, :, None] * rng.normal(size=(n, 10, 4))
    call = {"forward": lambda: d.forward(nx.features(X), nx.neural(R), max_n=1, reps=4, seed=0),
            "model_to_model": lambda: d.model_to_model(nx.features(X), nx.features(Y), max_n=1, reps=4, seed=0),
            "reverse": lambda: d.reverse(nx.neural(Rx), nx.features(Y), max_n=1, reps=4, seed=0),
            "inter_animal": lambda: d.inter_animal(nx.neural(Rx), nx.neural(R), max_n=1, reps=4, seed=0)}[direction]
    with pytest.raises(LayoutError, match=r"every one of the max_n=1 columns drawn for a rep is constant .* or raise max_n\.$"):
        call()


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
def test_one_large_constant_unit_leaves_the_design_varying_in_memory_and_streamed(problem):
    """A design is constant when every column is (each on its own squares): one constant unit at 1e8
    among varying ones is scored, in memory, streamed over unit chunks and from a Gram, on every
    stimulus and with a stimulus left out (no trial), as the features without that unit."""
    from neuroxr.geometry import gram

    F = problem["F"].copy()
    F[:, 0] = 1e8
    R = problem["R"].copy()
    for drop in (False, True):
        if drop:
            R[0] = np.nan  # the stimulus is left out: the Gram's statistics over a subset
        neu = nx.neural(R)
        ref = d.forward(nx.features(problem["F"][:, 1:]), neu, reps=2).ev.values
        feats = nx.features(F)
        for kw in ({}, {"chunk": True}, {"gram": gram(feats)}):
            f = feats.chunk({"unit": 7}) if kw.pop("chunk", False) else feats
            np.testing.assert_allclose(d.forward(f, neu, reps=2, **kw).ev.values, ref, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
def test_a_large_unit_varying_only_at_a_dropped_stimulus_streams_as_in_memory(problem):
    """Lazy features are reduced over the kept stimuli only: a unit at 1e8 that varies only at the
    stimulus the neural data lack is constant there and hides nothing, as in memory (the Gram of
    every stimulus called the whole design constant)."""
    F = problem["F"].copy()
    F[:, 0] = 1e8
    F[0, 0] = 0.0
    R = problem["R"].copy()
    R[0] = np.nan
    neu, feats = nx.neural(R), nx.features(F)
    ref = d.forward(feats, neu, reps=2).ev.values
    np.testing.assert_allclose(d.forward(feats.chunk({"unit": 7}), neu, reps=2).ev.values, ref, rtol=1e-9)


def test_mismatched_stimuli(problem):
    feats = nx.features(problem["F"])
    neu = nx.neural(problem["R"]).isel(stimulus=slice(0, 140))
    with pytest.raises(LayoutError, match="10 stimulus ids of features are missing in neural"):
        d.forward(feats, neu)


def test_bad_options(problem):
    feats, neu = nx.features(problem["F"]), nx.neural(problem["R"])
    with pytest.raises(ValueError, match="^forward: regressor must be one of"):
        d.forward(feats, neu, regressor="svm")
    with pytest.raises(ValueError, match=r"^forward: split must be one of \('valid', 'slots'\); got 'odd'\.$"):
        d.forward(feats, neu, split="odd")


def test_valid_split_excludes_stimuli_with_one_repeat(problem):
    R = problem["R"].copy()
    R[:5, :, 1:] = np.nan  # five stimuli with one valid repeat
    with pytest.warns(UserWarning, match="excluding 5 of 150 stimuli"):
        ds = d.forward(nx.features(problem["F"]), nx.neural(R), reps=2)
    assert ds.attrs["n_excluded_stimuli"] == 5
    assert np.isfinite(ds.ev.values).all()


def test_split_half_reliability(problem):
    ds = d.split_half_reliability(nx.neural(problem["R"]), reps=4)
    assert ds.reliability.dims == ("neuroid", "rep")
    assert np.all(ds.reliability.values <= 1)


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_split_half_reliability_of_constant_trial_means_is_nan_as_forward(problem, method):
    """Trial means equal across the stimuli, noisy trials: the halves are 2c - h and h, exactly
    anti-correlated (Spearman-Brown -inf). forward's constant-target rule: NaN, with its warning."""
    R = problem["R"].copy()
    R[:, 0, :] += 5.0 - np.nanmean(R[:, 0, :], axis=1, keepdims=True)  # (some trials missing)
    neur = nx.neural(R)
    with pytest.warns(UserWarning) as fw:
        fwd = d.forward(nx.features(problem["F"]), neur, reps=2)
    assert np.isnan(fwd.target_shc.values[0]).all()
    want = next(str(w.message) for w in fw if "constant across stimuli" in str(w.message))
    with pytest.warns(UserWarning) as rw:
        ds = d.split_half_reliability(neur, reps=3, method=method)
    # the same warning, from the function called
    assert want.replace("forward: ", "split_half_reliability: ", 1) in [str(w.message) for w in rw]
    assert np.isnan(ds.reliability.values[0]).all() and np.isnan(ds.r_half.values[0]).all()
    others = d.split_half_reliability(neur.isel(neuroid=slice(1, None)), reps=3, method=method)
    np.testing.assert_array_equal(ds.reliability.values[1:], others.reliability.values)


# --- more predictor neuroids than stimuli: designs' kernels from the repeats' pairwise kernels (issue 17)
@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
def test_dual_regime_slot_kernels_parity(seeded_reverse_pred, tmp_path, direction, monkeypatch):
    rev = importlib.import_module("neuroxr.predictivity.reverse")  # the module (the package exports the function)
    rng = np.random.default_rng(5)
    n, k, T = 40, 60, 3
    Z = rng.normal(size=(n, 4))
    R = (Z @ rng.normal(size=(4, k)))[:, :, None] + rng.normal(size=(n, k, T))
    F = Z @ rng.normal(size=(4, 7)) + 0.5 * rng.normal(size=(n, 7))
    RB = (Z @ rng.normal(size=(4, 5)))[:, :, None] + rng.normal(size=(n, 5, 4))

    def run(reps=3, **kw):
        if direction == "reverse":
            return d.reverse(nx.neural(R), nx.features(F), reps=reps, seed=4, **kw)
        return d.inter_animal(nx.neural(R), nx.neural(RB), reps=reps, seed=4, **kw)

    calls = []
    real = rev._score_from_slot_kernels
    monkeypatch.setattr(rev, "_score_from_slot_kernels", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    ours = run(split="slots")
    fast = run(reps=12)  # T = 3: at most 3 distinct splits, shared by the 12 reps
    assert len(calls) == 2  # the slot-kernel path ran
    monkeypatch.setattr(rev, "_use_slot_kernels", lambda *a, **kw: False)  # the per-design path agrees
    slow = run(reps=12)
    # and so does every rep on its own split (no sharing)
    monkeypatch.setattr(rev, "distinct_splits", lambda perms, symmetric=False: (np.asarray(perms), np.arange(len(perms))))
    every = run(reps=12)
    for name in ("ev", "prediction_shc") + (("target_shc",) if direction == "inter_animal" else ()):
        np.testing.assert_allclose(fast[name].values, slow[name].values, rtol=1e-8, err_msg=name)
        np.testing.assert_allclose(fast[name].values, every[name].values, rtol=1e-10, err_msg=name)
    seeded_reverse_pred(4)  # (patches numpy's default_rng: neuroxr runs first)
    if direction == "reverse":
        compute_monkey_to_model(*_canonical(F, R), str(tmp_path), reps=3)
        ref = np.load(tmp_path / "reverse_ev.npy")
    else:
        compute_monkey_to_monkey(*_canonical(R, RB), str(tmp_path), reps=3)
        ref = np.load(tmp_path / "monkey1_to_monkey2_ev.npy")
    assert _rel(ours.ev.mean("rep").values, ref) < 1e-6


def _latent_problem(seed: int, n: int, k: int, T: int, p: int, kb: int):
    """Responses ``R`` (n, k, T), features ``F`` (n, p) and a second animal ``RB`` (n, kb, T) over 3 latents."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 3))
    R = (Z @ rng.normal(size=(3, k)))[:, :, None] + rng.normal(size=(n, k, T))
    F = Z @ rng.normal(size=(3, p)) + 0.5 * rng.normal(size=(n, p))
    RB = (Z @ rng.normal(size=(3, kb)))[:, :, None] + rng.normal(size=(n, kb, T))
    return rng, R, F, RB


@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
@pytest.mark.parametrize("T", [2, 3, 4])
def test_reps_sharing_a_split_share_its_fits(monkeypatch, direction, T):
    """Primal designs (few predictors): reps whose split halves are the same sets of slots are fitted
    once; the numbers equal every rep fitted on its own."""
    rev = importlib.import_module("neuroxr.predictivity.reverse")
    _, R, F, RB = _latent_problem(T, 40, 6, T, 5, 4)

    def run(keep):
        if direction == "reverse":
            return d.reverse(nx.neural(R), nx.features(F), reps=10, seed=1, keep_predictions=keep)
        return d.inter_animal(nx.neural(R), nx.neural(RB), reps=10, seed=1, keep_predictions=keep)

    shared = [run(False), run(True)]  # correlations reduced fold by fold, and predictions kept
    monkeypatch.setattr(rev, "distinct_splits", lambda perms, symmetric=False: (np.asarray(perms), np.arange(len(perms))))
    every = [run(False), run(True)]
    for a, b in zip(shared, every):
        for name in ("ev", "r", "prediction_shc") + (("target_shc",) if direction == "inter_animal" else ()):
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(shared[1].prediction.values, every[1].prediction.values, rtol=1e-10)


@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
@pytest.mark.parametrize("case", ["shared", "max_n", "missing", "keep"])
def test_draws_on_several_threads_equal_one_thread(monkeypatch, direction, case):
    """Independent draws (distinct splits, or reps with their own subsets) run on several threads,
    each with one BLAS thread; the numbers, predictions and progress equal one thread's."""
    import threading

    rev = importlib.import_module("neuroxr.predictivity.reverse")
    rng, R, F, RB = _latent_problem(5, 40, 6, 6, 5, 4)
    if case == "missing":
        R[rng.random(R.shape) < 0.1] = np.nan
    kw = {"max_n": 4} if case == "max_n" else {"keep_predictions": True} if case == "keep" else {}
    seen, counted = set(), []
    monkeypatch.setattr(rev, "_draw_group", lambda *a: 1)  # one draw per fit (groups: see below)
    real = rev._score_designs
    monkeypatch.setattr(rev, "_score_designs", lambda *a, **k: seen.add(threading.get_ident()) or real(*a, **k))

    def progress(it):
        for i in it:
            counted.append(i)
            yield i

    def run(threads):
        monkeypatch.setattr(rev, "cpu_threads", lambda: threads)
        seen.clear()
        counted.clear()
        if direction == "reverse":
            ds = d.reverse(nx.neural(R), nx.features(F), reps=9, seed=2, progress=progress, **kw)
        else:
            ds = d.inter_animal(nx.neural(R), nx.neural(RB), reps=9, seed=2, progress=progress, **kw)
        return ds, len(seen), sorted(counted)

    one, used_one, count_one = run(1)
    three, used_three, count_three = run(3)
    assert used_one == 1 and used_three > 1
    assert count_one == count_three == list(range(9))
    for name in one.data_vars:
        np.testing.assert_allclose(three[name].values, one[name].values, rtol=1e-12, atol=1e-14, err_msg=name)


def test_target_ranks_run_beside_tiny_draws(monkeypatch):
    """Tiny shared draws hold the GIL in small calls, so the target animal's split-half ranks run
    on a pool thread beside them (in line for larger draws); the numbers are the same."""
    import threading
    import warnings

    rev = importlib.import_module("neuroxr.predictivity.reverse")
    for module in (rev, importlib.import_module("neuroxr.backend._threads")):
        monkeypatch.setattr(module, "cpu_threads", lambda: 2)  # two threads, whatever the machine
    _, R, _, RB = _latent_problem(8, 36, 5, 6, 4, 3)
    where = []
    real = rev.split_half_r
    monkeypatch.setattr(rev, "split_half_r", lambda *a, **k: where.append(threading.get_ident()) or real(*a, **k))

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NeuroxrWarning)  # EV above 100 % at this small size
            return d.inter_animal(nx.neural(R), nx.neural(RB), reps=20, seed=3, split="slots")

    beside = run()
    monkeypatch.setattr(rev, "_draw_group", lambda *a: 1)  # draws not tiny: the ranks in line
    inline = run()
    assert where[0] != threading.get_ident() and where[1] == threading.get_ident()
    for name in beside.data_vars:
        np.testing.assert_allclose(beside[name].values, inline[name].values, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
@pytest.mark.parametrize("missing", [False, True])
def test_small_draws_fitted_in_groups_equal_one_at_a_time(monkeypatch, direction, missing):
    """Small shared draws are fitted a group at a time (both halves explicit); a group with an
    all-NaN half (split="slots", missing trials) falls back to one draw at a time. Same numbers."""
    import warnings

    rev = importlib.import_module("neuroxr.predictivity.reverse")
    _, R, F, RB = _latent_problem(8, 36, 5, 6, 4, 3)
    if missing:
        R[:4, :, 3:] = np.nan  # the split half {3, 4, 5} is all NaN in these rows
    groups, singles = [], []
    real, real_one = rev._score_draw_group, rev._score_designs
    nan = lambda arrays: any(np.isnan(x).any() for x in arrays)  # noqa: E731
    monkeypatch.setattr(rev, "_score_draw_group", lambda *a: groups.append(nan([h for p in a[1] for h in p])) or real(*a))
    monkeypatch.setattr(rev, "_score_designs", lambda *a: singles.append(nan(a[1])) or real_one(*a))
    monkeypatch.setattr(rev, "_draw_group", lambda *a: 3)
    monkeypatch.setattr(rev, "cpu_threads", lambda: 1)  # one run of draws: groups of 3

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NeuroxrWarning)  # EV above 100 % at this small size
            if direction == "reverse":
                return d.reverse(nx.neural(R), nx.features(F), reps=20, seed=3, split="slots")
            return d.inter_animal(nx.neural(R), nx.neural(RB), reps=20, seed=3, split="slots")

    grouped = run()
    assert groups and not any(groups)  # no group holds an all-NaN half ...
    assert any(singles) == missing  # ... its draws run one at a time
    monkeypatch.setattr(rev, "_draw_group", lambda *a: 1)
    single = run()
    for name in grouped.data_vars:
        np.testing.assert_allclose(grouped[name].values, single[name].values, rtol=1e-10, atol=1e-13, err_msg=name)


def test_dual_regime_slot_kernels_lazy_features_equal_in_memory():
    import dask.array as da

    rng = np.random.default_rng(6)
    n, k, T = 40, 60, 3
    Z = rng.normal(size=(n, 4))
    R = (Z @ rng.normal(size=(4, k)))[:, :, None] + rng.normal(size=(n, k, T))
    F = Z @ rng.normal(size=(4, 7)) + 0.5 * rng.normal(size=(n, 7))
    eager = d.reverse(nx.neural(R), nx.features(F), reps=4, seed=2)
    lazy = d.reverse(nx.neural(R), nx.features(da.from_array(F, chunks=(n, 3))), reps=4, seed=2)
    np.testing.assert_allclose(lazy.ev.values, eager.ev.values, rtol=1e-10)


@pytest.mark.parametrize("k", [6, 60])  # primal designs, and the dual regime (slot kernels)
def test_reverse_in_memory_target_blocks_equal_one_block(monkeypatch, k):
    rev = importlib.import_module("neuroxr.predictivity.reverse")
    rng = np.random.default_rng(8)
    n, T = 40, 3
    Z = rng.normal(size=(n, 4))
    R = (Z @ rng.normal(size=(4, k)))[:, :, None] + rng.normal(size=(n, k, T))
    F = Z @ rng.normal(size=(4, 9)) + 0.5 * rng.normal(size=(n, 9))
    whole = d.reverse(nx.neural(R), nx.features(F), reps=4, seed=2)
    monkeypatch.setattr(rev, "_TARGET_BLOCK_BYTES", n * 8 * 2)  # blocks of 2 units
    blocked = d.reverse(nx.neural(R), nx.features(F), reps=4, seed=2)
    np.testing.assert_allclose(blocked.ev.values, whole.ev.values, rtol=1e-10)


@pytest.mark.parametrize("missing", [False, True])
def test_forward_with_the_fold_by_fold_dual_operator_equals_the_dense_one(monkeypatch, missing):
    """Forward at a size whose dense operator exceeds the cap (forced small here) applies the
    kernel fold by fold, once for every column where it can, with the same numbers."""
    import dask.array as da

    import neuroxr.kernels.ridge as ridge
    from neuroxr.kernels.kernel_operator import KernelFoldOperator

    rng = np.random.default_rng(13)
    n, p, k, T = 48, 90, 5, 3
    F = rng.normal(size=(n, p))
    R = (F[:, :4] @ rng.normal(size=(4, k)))[:, :, None] + rng.normal(size=(n, k, T))
    if missing:
        R[:3, 0, 0] = np.nan
    ref = d.forward(nx.features(F), nx.neural(R), reps=6, seed=2)
    calls = []
    real = KernelFoldOperator.apply
    monkeypatch.setattr(KernelFoldOperator, "apply", lambda self, Y: calls.append(Y.shape[1]) or real(self, Y))
    monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", n * n * 8 - 1)
    got = d.forward(nx.features(F), nx.neural(R), reps=6, seed=2)
    streamed = d.forward(nx.features(da.from_array(F, chunks=(n, 30))), nx.neural(R), reps=6, seed=2)
    assert calls and (missing or len(calls) == 2)  # complete trials: one application per call of forward
    for ds in (got, streamed):
        for name in ("ev", "r", "target_shc", "prediction_shc"):
            np.testing.assert_allclose(ds[name].values, ref[name].values, rtol=1e-8, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("direction", ["reverse", "model_to_model"])
def test_float32_fits_of_tiny_targets_keep_their_r(direction):
    """float32 targets near 1e-12: the product of two float32 variances falls below the dtype's
    range; r is scale-free and stays the float64 r, and the float32 entries are one revision up."""
    from neuroxr.entries import revisions

    rng = np.random.default_rng(0)
    n, p, k = 40, 25, 8
    lat = rng.normal(size=(n, 5))
    F = lat @ rng.normal(size=(5, p)) + 0.5 * rng.normal(size=(n, p))
    ids = [f"s{i:02d}" for i in range(n)]
    if direction == "reverse":
        src = nx.neural((lat @ rng.normal(size=(5, k)))[:, :, None] + rng.normal(size=(n, k, 4)), ids)
        call = nx.reverse
    else:
        src = nx.features(lat @ rng.normal(size=(5, k)) + rng.normal(size=(n, k)), ids, model="a", layer="l")
        call = nx.model_to_model
    ref = call(src, nx.features(F, ids, model="net", layer="l1"), reps=1)["r"].values
    for scale in (1e-12, 1e-14):
        got = call(src, nx.features(F * scale, ids, model="net", layer="l1"), reps=1, dtype="float32")["r"].values
        np.testing.assert_allclose(got, ref, atol=1e-5)
    for kind in (direction, f"{direction}_bootstrap"):  # and one more: columns centred before the cast
        assert revisions.entry_revision(kind, {"dtype": "float32"}) == revisions.entry_revision(kind, {"dtype": "float64"}) + 2
