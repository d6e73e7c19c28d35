"""Tests of the synthetic study generator and its ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import cross_val_predict

from neuroxr.datasets import (
    TRUE_LAYER,
    TRUE_MODEL,
    LayerSpec,
    Study,
    expected_split_half,
    make_study,
    write_example_study,
)
from neuroxr.layouts import validate_features, validate_neural
from neuroxr.store import StudyStore

SMALL = dict(
    n_stimuli=120,
    animals={"a1": 20, "a2": 12},
    n_repeats=(8, 11),
    n_latent=6,
    models={"m1": [("l1", 150, 0.5, 10), ("l2", 40, 1.0, 0)], "m2": [("x", 30, 0.3, 4)]},
    true_model="m1",
    true_layer="l2",
)


@pytest.fixture(scope="module")
def study() -> Study:
    return make_study(seed=0)


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


# ------------------------------------------------------------------ layouts and shapes
def test_layouts_validate_and_share_stimuli(study):
    ids = study.stimulus_ids
    assert set(study.neural) == {"animalA", "animalB"}
    assert study.true_model == TRUE_MODEL and study.true_layer == TRUE_LAYER
    total = 0
    for animal, da in study.neural.items():
        validate_neural(da)
        np.testing.assert_array_equal(da.stimulus_id.values, ids)
        assert (da.animal.values == animal).all()
        assert set(np.unique(da.region.values)) == {"V4", "IT"}
        for c in ("explainable_fraction", "cv_explainable_fraction", "reliability", "snr"):
            assert da[c].dims == ("neuroid",) and np.isfinite(da[c].values).all()
        assert 20 <= da.sizes["repeat"] <= 50
        total += da.sizes["neuroid"]
    assert 150 <= total <= 400
    n = len(ids)
    units = []
    assert len(study.features) >= 3
    for model, layers in study.features.items():
        assert len(layers) >= 3
        for layer, da in layers.items():
            validate_features(da)
            np.testing.assert_array_equal(da.stimulus_id.values, ids)
            assert da.model.item() == model and da.layer.item() == layer
            units.append(da.sizes["unit"])
    assert max(units) > n > min(units)
    # truth lines up with the neural sets
    t = study.truth
    np.testing.assert_array_equal(
        t.neuroid_id.values, np.concatenate([da.neuroid_id.values for da in study.neural.values()])
    )
    for c in ("explainable_fraction", "reliability", "snr"):
        np.testing.assert_array_equal(t[c].values, np.concatenate([da[c].values for da in study.neural.values()]))
    assert t.signal.dims == ("stimulus", "neuroid")
    assert t.attrs["true_model"] == TRUE_MODEL and t.attrs["true_layer"] == TRUE_LAYER


def test_spreads_of_truth(study):
    t = study.truth
    ef, rel = t.explainable_fraction.values, t.reliability.values
    assert 0.2 <= ef.min() < 0.3 and 0.85 < ef.max() <= 0.95
    assert rel.min() < 0.65 and rel.max() > 0.95 and (rel < 1).all()
    assert (t.cv_explainable_fraction.values < ef).all()
    assert (t.mean_reliability.values > 0).all()


# ------------------------------------------------------------------ determinism
def test_same_seed_same_arrays():
    a, b, c = make_study(seed=3, **SMALL), make_study(seed=3, **SMALL), make_study(seed=4, **SMALL)
    for animal in a.neural:
        xr.testing.assert_identical(a.neural[animal], b.neural[animal])
        assert not np.allclose(np.nan_to_num(a.neural[animal].values), np.nan_to_num(c.neural[animal].values))
    for m in a.features:
        for layer in a.features[m]:
            xr.testing.assert_identical(a.features[m][layer], b.features[m][layer])
    xr.testing.assert_identical(a.truth, b.truth)


def test_neural_data_independent_of_models():
    a = make_study(seed=1, **SMALL)
    other = dict(SMALL, models={"m1": [("l2", 40, 1.0, 0)], "zz": [("y", 90, 0.1, 20)]})
    b = make_study(seed=1, **other)
    for animal in a.neural:
        xr.testing.assert_identical(a.neural[animal], b.neural[animal])
    # a layer's features depend on its name and spec, not on the other layers
    np.testing.assert_array_equal(a.features["m1"]["l2"].values, b.features["m1"]["l2"].values)


# ------------------------------------------------------------------ missing trials
def test_nan_trials_and_unequal_repeats(study):
    for _animal, da in study.neural.items():
        r = da.values
        T = r.shape[2]
        valid = ~np.isnan(r)
        counts = valid.sum(-1)
        assert counts.min() >= (T + 1) // 2 + 1 and counts.max() == T
        # unequal repeat counts per stimulus: trailing slots empty for every neuroid
        last_empty = ~valid[:, :, -1].any(1)
        assert 0.1 < last_empty.mean() < 0.5
        # random missing trials: NaN inside the used slots, scattered over neuroids
        used = valid.any(1)  # stimulus x repeat: slots any neuroid used
        scattered = (~valid) & used[:, None, :]
        assert 0.01 < scattered.sum() / used.sum() / r.shape[1] < 0.06
        assert (np.isnan(r) == ~valid).all() and np.isfinite(r[valid]).all()
    assert study.neural["animalA"].sizes["repeat"] != study.neural["animalB"].sizes["repeat"]


def test_expected_split_half_matches_simulation():
    T, rng = 9, np.random.default_rng(0)
    v = np.array([6, 7, 9])
    inv1, inv2 = expected_split_half(T, v)
    perms = np.argsort(rng.random((40000, T)), axis=1)
    for i, nv in enumerate(v):
        valid = np.arange(T) < nv
        m1 = valid[perms[:, :5]].sum(1)
        m2 = valid[perms[:, 5:]].sum(1)
        assert inv1[i] == pytest.approx(np.mean(1 / m1), rel=5e-3)
        assert inv2[i] == pytest.approx(np.mean(1 / m2), rel=5e-3)
    assert inv1[-1] == pytest.approx(1 / 5) and inv2[-1] == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="valid trial counts"):
        expected_split_half(T, np.array([5]))


def test_empirical_split_half_reliability_matches_truth(study):
    rng = np.random.default_rng(7)
    emp = []
    for da in study.neural.values():
        r = da.values
        T = r.shape[2]
        sb = []
        for _ in range(10):
            perm = rng.permutation(T)
            h1 = np.nanmean(r[:, :, perm[: (T + 1) // 2]], -1)
            h2 = np.nanmean(r[:, :, perm[(T + 1) // 2 :]], -1)
            rho = _pearson(h1, h2)
            sb.append(2 * rho / (1 + rho))
        emp.append(np.mean(sb, 0))
    emp = np.concatenate(emp)
    rel = study.truth.reliability.values
    assert np.corrcoef(emp, rel)[0, 1] > 0.98
    assert abs(np.median(emp) - np.median(rel)) < 0.015
    assert np.median(np.abs(emp - rel)) < 0.015


# ------------------------------------------------------------------ explainable fraction
def test_oracle_recovers_explainable_fraction(study):
    signal = study.truth.signal.values
    f = study.true_features.values
    pred = LinearRegression().fit(f, signal).predict(f)
    r2 = 1 - ((signal - pred) ** 2).sum(0) / ((signal - signal.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(r2, study.truth.explainable_fraction.values, atol=1e-8)
    # signal variance is exact too
    np.testing.assert_allclose(signal.var(0), study.truth.signal_variance.values, rtol=1e-10)
    # a layer carrying part of the latent (and private dims) explains less, even in-sample
    early = study.features[TRUE_MODEL]["layer1"].values
    pred_early = LinearRegression().fit(early, signal).predict(early)
    r2_early = 1 - ((signal - pred_early) ** 2).sum(0) / ((signal - signal.mean(0)) ** 2).sum(0)
    assert np.median(r2_early) < np.median(r2) - 0.1


def test_cv_explainable_fraction_is_sklearn_ridge(study):
    signal = study.truth.signal.values[:, :25]
    f = study.true_features.values
    n = f.shape[0]
    inds = np.arange(n)
    np.random.RandomState(0).shuffle(inds)
    folds = [(np.setdiff1d(inds, te), te) for te in np.array_split(inds, 10)]
    pred = cross_val_predict(Ridge(alpha=0.1), f, signal, cv=folds)
    np.testing.assert_allclose(
        _pearson(signal, pred) ** 2, study.truth.cv_explainable_fraction.values[:25], atol=1e-8
    )


def test_trials_are_signal_plus_noise_of_stored_variance(study):
    t = study.truth
    da = study.neural["animalB"]
    sel = t.animal.values == "animalB"
    resid = da.values - t.signal.values[:, sel, None]
    noise_var = np.nanvar(resid, axis=(0, 2))
    np.testing.assert_allclose(noise_var, t.noise_variance.values[sel], rtol=0.1)
    np.testing.assert_allclose(t.snr.values, t.signal_variance.values / t.noise_variance.values)


# ------------------------------------------------------------------ spectrum
@pytest.mark.parametrize("alpha", [1.0, 1.6])
def test_power_law_spectrum(alpha):
    s = make_study(seed=2, spectrum_alpha=alpha, **SMALL)
    for model, layers in s.features.items():
        for layer, da in layers.items():
            f = da.values
            ev = np.linalg.eigvalsh(np.cov(f, rowvar=False, bias=True))[::-1]
            q = int(da.attrs["n_latent_dims"])
            k = np.arange(1, q + 1)
            slope, _ = np.polyfit(np.log(k), np.log(ev[:q]), 1)
            assert slope == pytest.approx(-alpha, abs=1e-6), (model, layer)
            assert ev[q] < 1e-8 * ev[0]  # rank q: nothing beyond the latent dims
    np.testing.assert_allclose(s.truth.latent.values.var(0), np.arange(1, 7) ** -alpha)


def test_layer_profile_peaks_at_true_layer(study):
    signal = study.truth.signal.values
    r2 = {}
    for layer, da in study.features[TRUE_MODEL].items():
        f = da.values
        pred = cross_val_predict(Ridge(alpha=0.1), f, signal, cv=5)
        r2[layer] = np.median(_pearson(signal, pred) ** 2)
    assert max(r2, key=r2.get) == TRUE_LAYER
    assert r2["layer1"] < r2["layer2"] < r2[TRUE_LAYER]


# ------------------------------------------------------------------ parameters and errors
def test_parameters_scale_and_errors():
    s = make_study(seed=0, unit_scale=2.0, **SMALL)
    assert s.features["m1"]["l1"].sizes["unit"] == 300
    assert s.neural["a2"].sizes == {"stimulus": 120, "neuroid": 12, "repeat": 11}
    with pytest.raises(ValueError, match="true layer"):
        make_study(**dict(SMALL, true_layer="l1"))
    with pytest.raises(ValueError, match="is not among"):
        make_study(**dict(SMALL, true_layer="nope"))
    with pytest.raises(ValueError, match="n_repeats"):
        make_study(**dict(SMALL, n_repeats={"a1": 8}))
    with pytest.raises(ValueError, match="do not fit"):
        make_study(**dict(SMALL, models={"m1": [LayerSpec("l2", 40, 1.0, 0), LayerSpec("big", 300, 0.5, 200)]}))


# ------------------------------------------------------------------ store
def test_write_example_study(tmp_path):
    store = write_example_study(tmp_path / "study.zarr", seed=5, unit_chunk=64, **SMALL)
    assert isinstance(store, StudyStore)
    inv = store.inventory()
    assert inv["neural"] == ["a1", "a2"]
    assert inv["features"] == {"m1": ["l1", "l2"], "m2": ["x"]}
    ref = make_study(seed=5, **SMALL)
    back = store.read_neural("a2").load()
    np.testing.assert_array_equal(back.values, ref.neural["a2"].values)
    np.testing.assert_array_equal(back.reliability.values, ref.neural["a2"].reliability.values)
    assert back.attrs["true_layer"] == "l2"
    feats = store.read_features("m1", "l1")
    assert feats.data.chunks[1][0] == 64
    np.testing.assert_array_equal(feats.values, ref.features["m1"]["l1"].values)
    # into an open store as well
    store2 = write_example_study(StudyStore(tmp_path / "other.zarr"), seed=5, **SMALL)
    assert store2.inventory()["features"] == inv["features"]


@pytest.mark.parametrize(
    ("kwargs", "dim", "count"),
    [
        (dict(n_stimuli=10_002, animals={"a": 3}, models={"m": [("l", 4, 1.0, 0)]}), "stimulus", 10_002),
        (dict(n_stimuli=24, animals={"a": 3}, models={"m": [("l", 100_001, 1.0, 0)]}), "unit", 100_001),
        (dict(n_stimuli=1_010, animals={"a": 1_001}, models={"m": [("l", 4, 1.0, 0)]}), "neuroid", 1_001),
    ],
)
def test_ids_sort_in_generation_order_past_the_padding(kwargs, dim, count):
    # the canonical order is by id: "stim10000" must not sort before "stim1000"
    s = make_study(seed=0, n_repeats=4, n_latent=2, n_categories=1, true_model="m", true_layer="l", **kwargs)
    da = s.features["m"]["l"] if dim == "unit" else s.neural["a"]
    ids = da[f"{dim}_id"].values
    assert ids.size == count and len(set(ids)) == count
    assert (ids[:-1] < ids[1:]).all()


def test_a_layer_asked_with_fewer_units_than_its_latent_dims_is_enlarged_with_a_warning():
    """It was enlarged silently: a user asking for a 2-unit layer got 6 units."""
    from neuroxr.errors import NeuroxrWarning

    with pytest.warns(NeuroxrWarning, match=r"^make_study: layer m\.l1 asked for 2 units, fewer than its n_latent \+ n_private "
                                            r"= 4 \+ 2 latent dims; it gets 6\."):
        st = make_study(seed=0, n_stimuli=40, animals={"a": 4}, n_repeats=4, n_latent=4, n_categories=1,
                        models={"m": [("l1", 2, 0.5, 2), ("l3", 5, 1.0, 0)]}, true_model="m", true_layer="l3")
    assert st.features["m"]["l1"].sizes["unit"] == 6 and st.features["m"]["l3"].sizes["unit"] == 5


def test_a_layer_name_given_twice_is_refused_not_overwritten():
    from neuroxr.errors import ParameterError

    kw = {**SMALL, "models": {"m1": [("l2", 40, 1.0, 0), ("l2", 30, 0.5, 4)]}}
    with pytest.raises(ParameterError, match=r"model 'm1' names layers \['l2'\] more than once"):
        make_study(seed=0, **kw)
    with pytest.raises(ParameterError, match="one model twice"):
        make_study(seed=0, **{**SMALL, "models": {1: [("l2", 40, 1.0, 0)], "1": [("x", 30, 0.3, 4)]}, "true_model": "1"})


@pytest.mark.parametrize("seed", [None, -1, 1.5, "0", True])
def test_a_seed_that_does_not_determine_the_study_is_a_one_line_error(seed):
    from neuroxr.errors import ParameterError

    with pytest.raises(ParameterError, match="seed must be a non-negative int"):
        make_study(seed=seed, **SMALL)


def test_a_refused_argument_leaves_no_store_behind(tmp_path):
    """make_study's refusal came after the store was created: an empty store was left at the path
    (and unit_chunk=0 or 2.5 was written as 1 or 2 units per chunk)."""
    from neuroxr.errors import ParameterError

    for kw in ({"seed": -1}, {"n_stimulus": 60}, {"unit_chunk": 0}, {"unit_chunk": 2.5}):
        path = tmp_path / "study.zarr"
        with pytest.raises((ParameterError, TypeError)):
            write_example_study(path, **{**SMALL, **kw})
        assert not path.exists(), kw


@pytest.mark.parametrize("kw, match", [
    ({"animals": {"a/b": 5}}, r"animals must be keyed by non-empty names without '/'; got 'a/b'"),
    ({"animals": {"": 5}}, r"animals must be keyed by non-empty names without '/'; got ''"),
    ({"animals": {1: 5}}, r"animals must be keyed by non-empty names without '/'; got 1"),  # was 'name must be a str'
    ({"animals": {"a": -1}}, r"animals\['a'\] must be an integer >= 1; got -1"),  # numpy's 'negative dimensions'
    ({"animals": {"a": 2.5}}, r"animals\['a'\] must be an integer >= 1; got 2\.5"),  # a bare TypeError
    ({"n_stimuli": 120.7}, r"n_stimuli must be an integer >= 1; got 120\.7"),  # truncated to 120
    ({"n_repeats": (8.5, 11)}, r"n_repeats must be an integer >= 0; got 8\.5"),  # truncated to 8
    ({"n_repeats": "8"}, r"n_repeats must be an integer >= 0; got '8'"),  # parsed
    ({"cv_folds": 1}, r"cv_folds must be an integer >= 2; got 1"),
])
def test_make_study_refuses_counts_and_names_it_cannot_use(kw, match):
    from neuroxr.errors import ParameterError

    with pytest.raises(ParameterError, match=f"^make_study: {match}") as err:
        make_study(**{**SMALL, **kw})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("spec", [("layer1", 16), "layer1", 16, ("layer1", 16, 0.5, 4, "extra")])
def test_a_layer_spec_of_another_shape_is_refused_in_one_line(spec):
    """A layer given as ('layer1', 16) raised LayerSpec's own TypeError; a string was read letter by letter.
    Refused naming the model and the form to give; the form given works."""
    from neuroxr.errors import ParameterError

    with pytest.raises(ParameterError, match=r"^make_study: models\['netA'\] holds .*give each layer as LayerSpec\(name, "):
        make_study(seed=0, **{**SMALL, "models": {"netA": [spec]}})
    study = make_study(seed=0, **{**SMALL, "models": {"netA": [("l1", 64, 0.5, 8), ("layer3", 32, 1.0, 0)]},
                                  "true_model": "netA", "true_layer": "layer3"})
    assert [f.sizes["unit"] for f in study.features["netA"].values()] == [64, 32]
