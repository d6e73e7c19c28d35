"""Metric entries of a study store, computed by the entry engine (neuroxr.entries): values equal the
geometry functions, round trips, resume/overwrite, incomplete entries, errors, the layout validator."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr
from conftest import latent_sets

import neuroxr as nx
from neuroxr import geometry as geo
from neuroxr.attrs import decode_attrs, decoded
from neuroxr.entries import list_entries, lookup, metric_kind, metric_options, metric_value, score, score_metric
from neuroxr.errors import ParameterError
from neuroxr.layouts import LayoutError, features, validate_metric
from neuroxr.schemas import validate_store
from neuroxr.store import StoreError, StudyStore


def score_rsa(store, source, target, variant="crsa", **kw):
    return score(store, variant, source, target, **kw)


def score_shape(store, source, target, **kw):
    return score(store, "shape", source, target, **kw)


def score_cka(store, source, target, **kw):
    return score(store, "cka", source, target, **kw)


def score_dimensionality(store, source, **kw):
    return score(store, "dimensionality", source, **kw)


def _path(store, metric, source, target=None, **params):
    return lookup(store, metric, source, target, params=params)


def _metric_entries(store):
    t = list_entries(store).query("kind != 'gram' and complete")
    return sorted((k, s, None if not isinstance(tg, str) else tg) for k, s, tg in zip(t.kind, t.source, t.target))

N_STIM = 36


def _data(seed=0):
    """Features of two layers sharing a latent with neural data (4 repeats, regions IT/V4, a missing trial)."""
    return latent_sets(seed, N_STIM, 10, regions=["IT"] * 6 + ["V4"] * 4, nan_trial=(3, 2, 1), animal="A")


@pytest.fixture
def study(tmp_path):
    f1, f2, neu = _data()
    store = StudyStore(tmp_path / "study.zarr")
    store.write_neural("monkeyA", neu)
    store.write_features("net", "l1", f1, unit_chunk=5)  # several unit chunks: the cached Gram is streamed
    store.write_features("net", "l2", f2)
    # the inputs as the store hands them back (stimulus order reversed to check pairing by id)
    return store, f1.isel(stimulus=slice(None, None, -1)), f2, neu


def _averaged(neu):
    """Trial average in the feature layout, built here independently of neuroxr.entries."""
    m = neu.mean("repeat", skipna=True).transpose("stimulus", "neuroid")
    return features(m.values, m["stimulus_id"].values, [str(i) for i in m["neuroid_id"].values])


def _region(neu, region):
    return neu.isel(neuroid=np.flatnonzero(neu["region"].values == region))


# ------------------------------------------------------------------------------ values
def test_crsa_equals_geometry_and_round_trips(study):
    store, f1, _, neu = study
    ds = score_rsa(store, "net.l1", "monkeyA")
    ref = geo.crsa(f1, neu, noise_ceiling=True)  # on the raw features, not on the store's Gram
    for var in ("score", "ceiling", "ceiled_score"):
        np.testing.assert_allclose(float(ds[var]), float(ref[var]), rtol=1e-10)
    path = _path(store, "crsa", "net.l1", "monkeyA")
    assert path.startswith("metrics/crsa/net.l1__monkeyA/")
    assert "gram" in set(list_entries(store).kind)  # computed through the store's cached Gram
    back = store.read_dataset(path).load()
    xr.testing.assert_allclose(back, ds)
    a = decode_attrs(back.attrs)
    assert (a["metric"], a["source"], a["target"]) == ("crsa", "net.l1", "monkeyA")
    assert (a["source_model"], a["source_layer"], a["target_neural"]) == ("net", "l1", "monkeyA")
    assert a["parameters"] == {"rdm_method": "correlation", "compare_method": "spearman", "noise_ceiling": True, "seed": 0, "reps": 10}
    assert set(a["versions"]) >= {"neuroxr", "numpy", "xarray", "zarr", "scikit-learn"}
    assert "direction" not in a
    assert metric_value(back) == float(ds["score"])
    validate_metric(back)


def test_crsa_options_region_subset_and_feature_target(study):
    store, f1, f2, neu = study
    ds = score_metric(store, "rsa", "net.l1", "monkeyA.IT", rdm_method="euclidean", compare_method="kendall", reps=3, seed=2)
    ref = geo.crsa(f1, _region(neu, "IT"), rdm_method="euclidean", compare_method="kendall", reps=3, seed=2)
    np.testing.assert_allclose([float(ds[v]) for v in ("score", "ceiling")], [float(ref[v]) for v in ("score", "ceiling")], rtol=1e-10)
    assert ds.attrs["target_region"] == "IT" and ds.attrs["target_neural"] == "monkeyA"
    # a feature-set target: no ceiling (it has no repeats)
    ds = score_metric(store, "crsa", "net.l1", "net.l2")
    assert "ceiling" not in ds and ds.pipe(decoded).attrs["parameters"]["noise_ceiling"] is False
    np.testing.assert_allclose(float(ds["score"]), float(geo.crsa(f1, f2, noise_ceiling=False)["score"]), rtol=1e-10)
    with pytest.raises(LayoutError, match="ceiling needs a neural target"):
        score_metric(store, "crsa", "net.l2", "net.l1", noise_ceiling=True)
    # the automatic ceiling is off for a feature-set target: its seed and reps change nothing, so they
    # are refused, as crsa refuses them (their defaults, spelled out, name the default entry)
    path = nx.compute(store, "crsa", "net.l1", "net.l2").path
    assert nx.compute(store, "crsa", "net.l1", "net.l2", params={"reps": 10, "seed": 0}).path == path
    with pytest.raises(ParameterError, match=r"^metric 'crsa': seed=2 and reps=3 have no effect without a noise ceiling: the "
                       r"target 'net.l2' is a feature set, and the automatic ceiling is drawn only for a neural target"):
        nx.compute(store, "crsa", "net.l1", "net.l2", params={"reps": 3, "seed": 2})
    with pytest.raises(ParameterError, match=r"^crsa: seed=2 and reps=3 have no effect with noise_ceiling=False \(seed and reps draw the split halves of the ceiling\)"):
        geo.crsa(f1, f2, noise_ceiling=False, reps=3, seed=2)


def test_ersa_and_ereg_equal_geometry(study):
    store, f1, _, neu = study
    kw = dict(alpha=1.0, n_folds=4, fold_seed=1, seed=3)
    ds = score_rsa(store, "net.l1", "monkeyA", "ersa", test_size=0.4, **kw)
    ref = geo.ersa(f1, neu, test_size=0.4, **kw)
    np.testing.assert_allclose(ds["score"].sel(split=["train", "test"]).values,
                               [float(ref["train_score"]), float(ref["test_score"])], rtol=1e-10)
    assert metric_value(ds) == pytest.approx(float(ref["test_score"]), rel=1e-10)
    assert metric_value(ds, "train") == pytest.approx(float(ref["train_score"]), rel=1e-10)
    assert list(ds["split"].values) == ["train", "test"] and ds.attrs["test_size"] == 0.4
    ds = score_rsa(store, "net.l1", "monkeyA", "ereg", n_components=6, **kw)
    ref = geo.ereg(f1, neu, n_components=6, **kw)
    np.testing.assert_allclose(float(ds["score"]), float(ref["score"]), rtol=1e-10)
    np.testing.assert_allclose(ds["r"].values, ref["r"].values, rtol=1e-10)
    assert ds.attrs["n_components"] == 6 and ds.attrs["projected"] == 1
    assert {m for m, _, _ in _metric_entries(store)} == {"ersa", "ereg"}
    assert validate_store(store) == []


def test_shape_fits_on_train_and_reports_both(study):
    store, f1, _, neu = study
    ds = score_shape(store, "net.l1", "monkeyA", alpha=0.5, test_size=0.5, seed=4)
    # the documented split: default_rng(seed).permutation of the stimuli in the target's order
    Y = _averaged(neu)
    X = f1.sel(stimulus=[list(f1["stimulus_id"].values).index(s) for s in Y["stimulus_id"].values])
    perm = np.random.default_rng(4).permutation(N_STIM)
    te, tr = np.sort(perm[: N_STIM // 2]), np.sort(perm[N_STIM // 2:])
    est = geo.LinearMetric(alpha=0.5).fit(X.values[tr], Y.values[tr])
    distance = getattr(est, "distance", est.score)  # the distance, whatever the method is called
    np.testing.assert_allclose(ds["score"].sel(split="train"), distance(X.values[tr], Y.values[tr]), rtol=1e-8)
    np.testing.assert_allclose(ds["score"].sel(split="test"), distance(X.values[te], Y.values[te]), rtol=1e-8)
    assert (ds["stimulus_split"].values == "test").sum() == N_STIM // 2
    assert ds.attrs["lower_is_better"] == 1 and ds.pipe(decoded).attrs["parameters"]["alpha"] == 0.5


def test_cka_and_dimensionality_equal_geometry(study):
    store, f1, f2, neu = study
    np.testing.assert_allclose(float(score_cka(store, "net.l1", "net.l2")["score"]), geo.cka(f1, f2), rtol=1e-10)
    ds = score_metric(store, "cka", "net.l1", "monkeyA", debiased=True)
    np.testing.assert_allclose(float(ds["score"]), geo.cka(f1, _averaged(neu), debiased=True), rtol=1e-10)
    assert ds.attrs["debiased"] == 1
    ds = score_dimensionality(store, "net.l2")
    np.testing.assert_allclose(float(ds["score"]), geo.effective_dimensionality(f2), rtol=1e-10)
    assert "target" not in ds.attrs and ds.attrs["n_units"] == 9
    ds = score_metric(store, "dimensionality", "monkeyA.V4")
    np.testing.assert_allclose(float(ds["score"]), geo.effective_dimensionality(_averaged(_region(neu, "V4"))), rtol=1e-10)
    assert _path(store, "dimensionality", "monkeyA.V4") is not None
    assert [e for e in _metric_entries(store) if e[0] == "dimensionality"] == [
        ("dimensionality", "monkeyA.V4", None), ("dimensionality", "net.l2", None)]
    assert validate_store(store) == []


# ------------------------------------------------------------------------------ resume, overwrite, crashes
def _mtime(store, path):
    return os.stat(os.path.join(store.url, path, "zarr.json")).st_mtime_ns


def test_complete_entries_are_read_back_unless_overwrite(study):
    store, *_ = study
    first = score_cka(store, "net.l1", "monkeyA")
    path = _path(store, "cka", "net.l1", "monkeyA")
    stamp = _mtime(store, path)
    again = score_metric(store, "cka", "net.l1", "monkeyA")
    assert _mtime(store, path) == stamp
    xr.testing.assert_identical(again, store.read_dataset(path).load())
    assert float(again["score"]) == pytest.approx(float(first["score"]))
    score_metric(store, "cka", "net.l1", "monkeyA", overwrite=True)
    assert _mtime(store, path) != stamp and _path(store, "cka", "net.l1", "monkeyA") == path


def test_incomplete_metric_entry_is_not_trusted(study, monkeypatch):
    store, *_ = study
    with monkeypatch.context() as m:
        m.setattr(StudyStore, "mark_complete", lambda self, path: None)  # killed before the marker
        score_dimensionality(store, "net.l1")
    assert _path(store, "dimensionality", "net.l1") is None
    assert _metric_entries(store) == []
    (path,) = list_entries(store).query("kind == 'dimensionality' and not complete").path
    with pytest.raises(StoreError, match="did not finish"):
        store.read_dataset(path)
    problems = validate_store(store)
    assert any(p.startswith(f"{path}: complete: the entry's write did not finish") for p in problems)
    ds = score_dimensionality(store, "net.l1")  # a later run recomputes it
    assert _path(store, "dimensionality", "net.l1") == path and np.isfinite(float(ds["score"]))
    assert list_entries(store).complete.all() and validate_store(store) == []


# ------------------------------------------------------------------------------ errors
def test_errors_name_what_to_do(study):
    store, *_ = study
    with pytest.raises(ValueError, match=r"unknown metric 'rdm'; choose one of"):
        score_metric(store, "rdm", "net.l1", "monkeyA")
    with pytest.raises(ValueError, match="unknown RSA variant 'frsa'"):
        score_metric(store, "rsa", "net.l1", "monkeyA", variant="frsa")
    with pytest.raises(ValueError, match=r"metric 'crsa' takes no options \['alpha'\]; it accepts"):
        score_metric(store, "rsa", "net.l1", "monkeyA", alpha=1.0)
    with pytest.raises(ValueError, match="describes one set"):
        score_metric(store, "dimensionality", "net.l1", "monkeyA")
    with pytest.raises(ValueError, match="compares two sets"):
        score_metric(store, "cka", "net.l1")
    with pytest.raises(LayoutError, match=r"holds no feature set .* named 'net.l9' \(the source\); it holds feature sets \['net.l1', 'net.l2'\]"):
        score_metric(store, "cka", "net.l9", "monkeyA")
    with pytest.raises(LayoutError, match=r"named 'monkeyA' \(the source\)"):  # sources are feature sets
        score_metric(store, "shape", "monkeyA", "net.l1")
    with pytest.raises(LayoutError, match=r"named 'monkeyA.PFC' \(the target\)"):
        score_metric(store, "cka", "net.l1", "monkeyA.PFC")
    assert _metric_entries(store) == []
    assert metric_kind("rsa") == "crsa" and metric_kind("rsa", "ereg") == "ereg" and metric_kind("Shape") == "shape"
    assert metric_options("shape")["alpha"] == 1.0 and metric_options("rsa")["noise_ceiling"] is None
    assert set(metric_options("ersa")) >= {"rdm_method", "alpha", "test_size", "seed"}


#: metric options the metric functions refuse, with what the one-line message says; none needs the data
BAD_OPTIONS = [
    ("cka", {"debiased": "no"}, "debiased must be True or False; got 'no'"),
    ("shape", {"center_columns": "false"}, "center_columns must be True or False; got 'false'"),
    ("shape", {"zero_pad": 0.0}, "zero_pad must be True or False; got 0.0"),
    ("shape", {"alpha": 2}, r"alpha must be a float in \[0, 1\]; got 2.0"),
    ("shape", {"test_size": 1.5}, r"test_size must be a float in \(0, 1\)"),
    ("crsa", {"rdm_method": "bogus"}, "rdm_method must be one of"),
    ("crsa", {"reps": 0}, "reps must be an integer >= 1; got 0"),
    ("crsa", {"reps": "3"}, "reps must be an integer >= 1; got '3'"),
    ("crsa", {"noise_ceiling": "false"}, "noise_ceiling must be True, False or None"),
    ("crsa", {"noise_ceiling": False, "seed": 4}, r"seed=4 has no effect with noise_ceiling=False"),
    ("ersa", {"n_folds": 1}, "n_folds must be an integer >= 2; got 1"),
    ("ersa", {"alpha": -1}, "alpha must be a finite non-negative number; got -1.0"),
    ("ereg", {"n_components": 0}, "n_components must be 'auto' or a positive int"),
    ("brainscore", {"ceiling": "no"}, "ceiling must be True or False; got 'no'"),
    ("brainscore", {"n_splits": 0}, "n_splits must be an integer >= 1; got 0"),
]


@pytest.mark.parametrize("kind, options, says", BAD_OPTIONS)
def test_bad_metric_option_values_are_refused_before_any_work(study, monkeypatch, kind, options, says):
    """Each metric option is checked by the metric's own checks before a set is read, in one line
    naming the metric (a string is never read as a flag: debiased='no' computed the debiased CKA)."""
    store, *_ = study
    monkeypatch.setattr("neuroxr.entries.engine.read_set", lambda *a, **k: pytest.fail("a set was read"))
    with pytest.raises(ValueError, match=rf"^metric '{kind}': .*{says}") as info:
        nx.compute(store, kind, "net.l1", "monkeyA", params=options)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=rf"^metric '{kind}': .*{says}"):
        lookup(store, kind, "net.l1", "monkeyA", params=options)
    assert list_entries(store).empty


def test_metric_options_enter_the_key_in_one_spelling(study):
    store, *_ = study
    cka = nx.compute(store, "cka", "net.l1", "monkeyA", params={"debiased": True})
    for same in (np.bool_(True), 1):
        again = nx.compute(store, "cka", "net.l1", "monkeyA", params={"debiased": same})
        assert again.path == cka.path and not again.computed
    assert cka.provenance["params"]["debiased"] is True
    crsa = nx.compute(store, "crsa", "net.l1", "monkeyA", params={"compare_method": "pearson"})
    assert lookup(store, "crsa", "net.l1", "monkeyA", params={"compare_method": "corr"}) == crsa.path  # pearson's alias
    shape = nx.compute(store, "shape", "net.l1", "monkeyA", params={"center_columns": False, "alpha": 0.5})
    assert lookup(store, "shape", "net.l1", "monkeyA",
                  params={"center_columns": np.bool_(False), "alpha": np.float32(0.5)}) == shape.path


def _metric_ds(**attrs):
    base = {"metric": "cka", "source": "net.l1", "target": "monkeyA"}
    return xr.Dataset({"score": ((), 0.5)}, attrs={**base, **attrs})


@pytest.mark.parametrize("ds, message", [
    (_metric_ds().rename(score="value"), "missing variable 'score'"),
    (_metric_ds(metric="rdm"), "attr 'metric' must be one of"),
    (_metric_ds(target=None), "attr 'target' must name the target set"),
    (xr.Dataset({"score": ("split", [1.0, 2.0])}, attrs=_metric_ds().attrs), "missing coord 'split'"),
    (xr.Dataset({"score": ("rep", [1.0, 2.0])}, attrs=_metric_ds().attrs), "must be a scalar or lie on dim 'split'"),
    (_metric_ds().assign(score=((), "high")), "must be numeric"),
])
def test_validate_metric_refuses(ds, message):
    with pytest.raises(LayoutError, match=message):
        validate_metric(ds, name="entry")


def test_engine_checks_the_entry_before_writing(study, monkeypatch):
    store, *_ = study
    monkeypatch.setattr("neuroxr.entries.metrics.compute_cka", lambda *a, **k: _metric_ds().rename(score="value"))
    with pytest.raises(LayoutError, match=r"metric entry metrics/cka/net.l1__monkeyA/[0-9a-f]{16}: missing variable 'score'"):
        score_cka(store, "net.l1", "monkeyA")
    assert _metric_entries(store) == [] and store.incomplete_entries() == []
