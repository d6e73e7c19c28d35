"""Claims of docs/predictivity.md and docs/analyses.md that no other test checks, run on small data.

Each test names the claim it checks; references are computed here (scikit-learn, NumPy), never pasted.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import latent_sets

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrWarning, ParameterError
from neuroxr.predictivity import brainscore, forward, inter_animal, model_to_model, reverse
from neuroxr.predictivity.brainscore import CEILING_MODES


@pytest.fixture(scope="module")
def sets():
    return latent_sets()


def _neural(values, like):
    return nx.neural(values, like.stimulus_id.values, like.neuroid_id.values[: values.shape[1]])


def _anti_ranked(neu):
    """Two repeats; neuroid n0's second repeat is ``-x**3`` of its first: its split-half Spearman is
    exactly -1 in every rep (Spearman-Brown -inf) and its prediction halves are anti-correlated too."""
    v = neu.values[:, :, :2].copy()
    x = np.random.default_rng(0).normal(size=v.shape[0])
    v[:, 0, 0], v[:, 0, 1] = x, -(x**3)
    return _neural(v, neu)


# --- "Ceiling hygiene": a ceiling that is not a finite positive number gives NaN, never an EV of 0
def test_an_infinite_ceiling_gives_nan_ev_not_zero(sets):
    """n0's ceiling is -inf (its split-half Spearman of -1) times its negative prediction reliability:
    +inf, whose EV r^2 / inf was exactly 0 in every rep and in the bootstrap (beside a NaN ceiling)."""
    from neuroxr.predictivity.inference import bootstrap

    f1, _, neu = sets
    target = _anti_ranked(neu)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        ds = forward(f1, target, reps=3)
        boot = bootstrap("forward", f1, target, n_boot=20, reps=3)
    n0 = ds.isel(neuroid=0)
    assert np.all(np.isneginf(n0.target_shc.values)) and np.all(n0.prediction_shc.values < 0)
    ceiling = n0.target_shc.values * n0.prediction_shc.values
    assert np.array_equal(n0.ceiling.values, ceiling)
    # the reference: (r / sqrt(ceiling))^2 * 100 where the ceiling is finite and positive, else NaN
    ok = np.isfinite(ceiling) & (ceiling > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(ok, n0.r.values**2 / ceiling * 100, np.nan)
    assert np.array_equal(n0.ev.values, want, equal_nan=True)
    assert np.isnan(n0.ev.values).all()  # an EV of exactly 0 (r^2 / inf) was averaged in before
    assert np.isfinite(ds.ev.isel(neuroid=slice(1, None)).values).all()
    b0 = boot.isel(neuroid=0)
    assert np.isnan(float(b0.ev)) and np.isnan(float(b0.ceiling)) and int(b0.n_boot_undefined) == 20
    np.testing.assert_allclose(boot.ev.values[1:], ds.ev.mean("rep").values[1:], rtol=1e-12)


# --- "Noise ceiling": trial-averaged data score without one, with the reason in attrs['note']
def test_trial_averaged_scores_say_why_they_have_no_ceiling(sets):
    f1, _, neu = sets
    once = neu.isel(repeat=[0])
    ds = forward(f1, once, reps=2)
    assert sorted(ds.data_vars) == ["ev", "included", "r"]
    assert ds.attrs["noise_ceiling"] in (False, 0) and "trial-averaged" in ds.attrs["note"]
    np.testing.assert_allclose(ds.ev.values, 100 * ds.r.values**2, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        assert "note" not in forward(f1, neu, reps=2, min_reliability=0.0).attrs
    with pytest.raises(LayoutError, match=r"^inter_animal: noise_ceiling=True: neural_a \(neural\) has one repeat") as e:
        inter_animal(once, neu, noise_ceiling=True)
    assert "\n" not in str(e.value)


# --- "Result layout": variables and the stimulus counts of each direction
def test_result_layout_per_direction(sets):
    f1, f2, neu = sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        out = {
            "forward": forward(f1, neu, reps=2),
            "reverse": reverse(neu, f1, reps=2),
            "inter_animal": inter_animal(neu, latent_sets(seed=1)[2], reps=2),
            "model_to_model": model_to_model(f1, f2),
        }
    ceiling = {"forward": {"target_shc", "prediction_shc", "ceiling"}, "reverse": {"prediction_shc", "ceiling"},
               "inter_animal": {"target_shc", "prediction_shc", "ceiling"}, "model_to_model": set()}
    counts = {"forward": {"n_excluded_stimuli", "n_partial_targets", "n_units", "streamed"},
              "reverse": {"n_excluded_stimuli", "n_predictors"},
              "inter_animal": {"n_excluded_stimuli", "n_partial_targets", "n_predictors"},
              "model_to_model": {"n_units"}}
    every = {"n_excluded_stimuli", "n_partial_targets", "n_predictors", "n_units", "streamed"}
    for name, ds in out.items():
        assert set(ds.data_vars) == {"ev", "r", "included"} | ceiling[name], name
        assert ds.included.values.all()  # always present, all True without min_reliability
        assert {"direction", "source", "target", "noise_ceiling", "n_stimuli", "stimulus_order",
                "neuroxr_version"} <= set(ds.attrs), name
        assert every & set(ds.attrs) == counts[name], name
    assert out["model_to_model"].attrs["n_units"] == f1.sizes["unit"]
    np.testing.assert_array_equal(out["model_to_model"].ev.values, 100 * out["model_to_model"].r.values ** 2)


def test_a_target_coord_named_like_a_variable_is_kept_beside_it(sets):
    f1, _, neu = sets
    truth = np.linspace(0, 1, neu.sizes["neuroid"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        ds = forward(f1, neu.assign_coords(reliability=("neuroid", truth)), reps=1)
    np.testing.assert_array_equal(ds["reliability_coord"].values, truth)


# --- "Options that would change nothing are refused": max_n counts the predictors left after all-NaN ones
def test_max_n_counts_the_predictor_neuroids_left_after_all_nan_ones(sets):
    f1, _, neu = sets
    v = neu.values.copy()
    v[:, 2, :] = np.nan
    pred = _neural(v, neu)
    with pytest.warns(NeuroxrWarning, match="all NaN"), pytest.raises(ParameterError, match=r"^reverse: neural: max_n=9 has no effect on its 9 neuroids .*"
                                             r"drop it or pass max_n below 9\.$"):
        reverse(pred, f1, max_n=9, reps=2)
    with pytest.warns(NeuroxrWarning, match=r"1 neuroids have no valid trial \(all NaN\): \['n2'\]"):
        ds = reverse(pred, f1, max_n=8, reps=2)
    assert ds.attrs["n_predictors"] == 9 and ds.attrs["max_n"] == 8


# --- "Regressors": an estimator's out-of-fold predictions are cross_val_predict's with neuroxr's folds
@pytest.mark.parametrize("kind", ["pipeline", "ridgecv"])
def test_model_to_model_with_an_estimator_is_cross_val_predict(sets, kind):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression, RidgeCV
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline

    from neuroxr.kernels.folds import kfold_indices

    f1, f2, _ = sets
    alphas = [0.1, 1.0, 10.0]
    if kind == "pipeline":
        est, kwargs = make_pipeline(PCA(5), LinearRegression()), {"regressor": make_pipeline(PCA(5), LinearRegression())}
    else:
        est, kwargs = RidgeCV(alphas=alphas, alpha_per_target=True), {"regressor": "ridgecv", "alphas": alphas}
    perm = np.random.default_rng(2).permutation(f1.sizes["stimulus"])
    ds = model_to_model(f1.isel(stimulus=perm), f2, **kwargs)  # paired by id, folds over the sorted ids
    order = np.argsort(f1.stimulus_id.values.astype(str))
    X, Y = f1.values[order], f2.values[order]
    pred = cross_val_predict(est, X, Y, cv=kfold_indices(len(X), 10, 0))
    want = np.array([np.corrcoef(pred[:, j], Y[:, j])[0, 1] for j in range(Y.shape[1])])
    np.testing.assert_allclose(ds.r.isel(rep=0).values, want, atol=1e-12)


# --- docs/analyses.md, "Brain-Score protocol": output layout and the three ceiling modes
def test_brainscore_layout_and_ceiling_modes(sets):
    f1, _, neu = sets
    out = {mode: brainscore(f1, neu, n_components=3, ceiling_mode=mode) for mode in CEILING_MODES}
    ds = out["ratio"]
    assert {k: ds[k].dims for k in ds.data_vars} == {
        "raw": (), "error": (), "ceiling": (), "ceiling_error": (), "score": (), "raw_split": ("split",),
        "r": ("split", "neuroid"), "consistency": ("split_half", "neuroid")}
    assert {"n_components", "n_splits", "train_size", "stratify_by", "seed", "ceiling_mode", "n_stimuli",
            "n_excluded_stimuli", "n_excluded_neuroids"} <= set(ds.attrs) and "ceiling" not in ds.attrs
    raw, ceil = float(ds.raw), float(ds.ceiling)
    np.testing.assert_allclose(raw, float(np.median(ds.r, axis=1).mean()), rtol=1e-12)
    np.testing.assert_allclose(float(ds.error), float(np.std(ds.raw_split.values, ddof=0)) / np.sqrt(10), rtol=1e-12)
    want = {"ratio": raw / ceil, "squared_ratio": (raw / ceil) ** 2, "r2_over_ceiling": raw**2 / ceil}
    for mode, d in out.items():
        np.testing.assert_allclose(float(d.score), want[mode], rtol=1e-12)
        assert float(d.error) == float(ds.error)  # the raw score's SEM, unscaled
    off = brainscore(f1, neu, n_components=3, ceiling=False)
    assert "consistency" not in off and all(np.isnan(float(off[k])) for k in ("ceiling", "ceiling_error", "score"))
    assert float(off.raw) == raw


# --- docs/analyses.md: re-exports
def test_the_analyses_are_reexported_where_the_page_says():
    import neuroxr.geometry as geometry
    import neuroxr.predictivity as predictivity
    from neuroxr.geometry import cluster, relative

    for name in ("procrustes_kmeans", "kmeans_plusplus_init", "cluster_distances", "embed_distances"):
        assert getattr(geometry, name) is getattr(cluster, name)
    for name in ("relative_features", "anchor_weights"):
        assert getattr(geometry, name) is getattr(relative, name)
    assert relative.SIMILARITIES
    assert predictivity.brainscore is brainscore and callable(predictivity.brainscore_ceiling)


# --- docs/report.md, "The headline": the interval and the ceiling are over the included test targets
def test_the_headline_interval_and_ceiling_leave_out_excluded_test_targets():
    """A neuroid included in one layer and excluded in another (min_reliability judges each entry's
    prediction reliability) keeps its test slot; in the chosen layer it counts in test_ev's median not,
    and it counted in the interval and the ceiling (an excluded EV of 1e6 put ci_high near 5e5)."""
    import zlib

    import pandas as pd
    from scipy.stats import bootstrap

    from neuroxr.report.headline import headline
    from neuroxr.sweep.select import scored_halves

    rng = np.random.default_rng(0)
    rows = [{"direction": "forward", "model": "net", "layer": layer, "neural": "mA", "region": "all",
             "target_id": f"n{j:02d}", "ev": float(rng.normal(50 if layer == "l1" else 60, 10)),
             "ceiling": float(rng.uniform(0.3, 0.7)), "included": True, "parameters": "defaults"}
            for layer in ("l1", "l2") for j in range(12)]
    targets = pd.DataFrame(rows)
    test = scored_halves(targets, "forward/mA/all", 0)[1]
    out = np.flatnonzero(test & (targets["layer"] == "l2").to_numpy())[0]
    targets.loc[out, ["ev", "ceiling", "included"]] = [1e6, 1e3, False]
    best = headline(targets, seed=0, n_boot=200).iloc[0]
    assert best.best_layer == "l2"
    keep = test & (targets["layer"] == "l2").to_numpy() & targets["included"].to_numpy(dtype=bool)
    ev = targets["ev"].to_numpy()[keep]  # ids n00.. are in canonical order already
    assert best.n_test == keep.sum() == 5 and best.test_ev == pytest.approx(np.median(ev))
    ci = bootstrap((ev,), np.median, n_resamples=200, method="percentile", vectorized=True,
                   rng=np.random.default_rng([0, zlib.crc32(b"forward/mA/all")])).confidence_interval
    assert best.ci_low == pytest.approx(ci.low, abs=1e-12) and best.ci_high == pytest.approx(ci.high, abs=1e-12)
    assert best.ceiling == pytest.approx(np.median(targets["ceiling"].to_numpy()[keep]))


# --- docs/analyses.md: "A NaN ceiling ... warns": one line of the project, never NumPy's all-NaN warnings
@pytest.mark.parametrize("caller", ["brainscore", "brainscore_ceiling"])
def test_a_nan_brainscore_ceiling_is_said_once(sets, caller):
    """Two repeats, the first constant across the stimuli: every split's halves are one repeat each, so
    every neuroid's split-half r is undefined and the ceiling NaN. brainscore_ceiling said nothing but
    NumPy's 'All-NaN slice encountered' once per split (brainscore said it beside those too)."""
    from neuroxr.predictivity import brainscore_ceiling

    f1, _, neu = sets
    v = neu.values[:, :, :2].copy()
    v[:, :, 0] = 1.0
    noisy = _neural(v, neu)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ds = brainscore(f1, noisy, n_components=3) if caller == "brainscore" else brainscore_ceiling(noisy)
    assert np.isnan(float(ds.ceiling)) and np.isnan(ds.ceiling_split if "ceiling_split" in ds else ds.consistency).all()
    messages = [str(w.message) for w in said]
    assert len(messages) == 1 and all(issubclass(w.category, NeuroxrWarning) for w in said), messages
    assert messages[0].startswith(f"{caller}: the internal-consistency ceiling is NaN: in 10 of 10 repetition splits")
    if caller == "brainscore":
        assert np.isnan(float(ds.score)) and np.isfinite(float(ds.raw)) and "read raw instead" in messages[0]
