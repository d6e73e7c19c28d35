"""Labeled out: every public analysis returns xarray results that record their parameters, go to
netCDF and Zarr as they are, and do not depend on the order of the stimuli (neuroxr.attrs)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr.attrs import JSON_ATTRS, decode_attrs, decoded, encode_attrs, storable
from neuroxr.datasets.synthetic import LayerSpec, make_study, write_example_study
from neuroxr.geometry import inference as gi
from neuroxr.geometry import shape_inference as si
from neuroxr.geometry import split_distance, split_half_rdms
from neuroxr.predictivity import brainscore, brainscore_ceiling
from neuroxr.predictivity import inference as pi

MODELS = {"m": (LayerSpec("l1", 16, 1.0, 0), LayerSpec("l2", 12, 0.5, 4))}
STUDY = dict(seed=1, n_stimuli=30, animals={"A": 6, "B": 5}, n_repeats=(4, 4), models=MODELS, true_model="m",
             true_layer="l1", n_latent=6)


@pytest.fixture(scope="module")
def sets():
    st = make_study(**STUDY)
    return st.features["m"]["l1"], st.features["m"]["l2"], st.neural["A"], st.neural["B"]


def _bins(n: xr.DataArray) -> xr.DataArray:
    x = xr.concat([n, n * 1.1 + 0.01], dim="time_bin").transpose("stimulus", "neuroid", "repeat", "time_bin")
    return x.assign_coords(time_bin_start=("time_bin", [0, 10]), time_bin_end=("time_bin", [10, 20]))


def _boots(f, f2, a):
    return {"l1": pi.bootstrap("forward", f, a, n_boot=10, reps=2), "l2": pi.bootstrap("forward", f2, a, n_boot=10, reps=2)}


# name -> (call on (features, features 2, neural A, neural B, **params), parameters passed away from their defaults)
ANALYSES = {
    "forward": (lambda f, f2, a, b, **k: nx.forward(f, a, **k),
                dict(reps=2, seed=4, alpha=0.5, n_folds=5, fold_seed=2, max_n=10, split="slots", min_reliability=0.05)),
    "reverse": (lambda f, f2, a, b, **k: nx.reverse(a, f, **k), dict(reps=2, seed=4, alpha=0.5, n_folds=5, max_n=4)),
    "inter_animal": (lambda f, f2, a, b, **k: nx.inter_animal(a, b, **k), dict(reps=2, seed=4, alpha=0.5, split="slots")),
    "model_to_model": (lambda f, f2, a, b, **k: nx.model_to_model(f, f2, **k), dict(reps=2, max_n=8, seed=3, alpha=0.3)),
    "forward_time": (lambda f, f2, a, b, **k: nx.forward(f, _bins(a), **k), dict(reps=2, seed=1, alpha=0.5)),
    "split_half_reliability": (lambda f, f2, a, b, **k: nx.split_half_reliability(a, **k),
                               dict(reps=2, seed=2, split="slots", method="pearson")),
    "bootstrap": (lambda f, f2, a, b, **k: pi.bootstrap("forward", f, a, **k),
                  dict(n_boot=10, seed=3, level=0.9, method="bca", reps=2, alpha=0.5)),
    "permutation_test": (lambda f, f2, a, b, **k: pi.permutation_test("forward", f, a, **k), dict(n_perm=8, seed=3, alpha=0.5)),
    "compare": (lambda f, f2, a, b, **k: pi.compare(_boots(f, f2, a), **k), dict(level=0.9, correction="fdr")),
    "best_layer": (lambda f, f2, a, b, **k: pi.best_layer(_boots(f, f2, a), **k), dict(seed=3, level=0.9)),
    "brainscore": (lambda f, f2, a, b, **k: brainscore(f, a, **k), dict(n_components=4, n_splits=3, train_size=0.8, seed=4)),
    "brainscore_ceiling": (lambda f, f2, a, b, **k: brainscore_ceiling(a, **k), dict(n_splits=3, seed=4)),
    "temporal_generalization": (lambda f, f2, a, b, **k: nx.temporal_generalization(_bins(b), _bins(a), **k),
                                dict(alpha=0.5, n_folds=5, fold_seed=2)),
    "rdm": (lambda f, f2, a, b, **k: nx.rdm(f, **k), dict(method="euclidean")),
    "split_half_rdms": (lambda f, f2, a, b, **k: split_half_rdms(a, **k), dict(method="euclidean", seed=3, reps=2)),
    "compare_rdms_many": (lambda f, f2, a, b, **k: nx.compare_rdms_many(nx.rdm(f), xr.concat([nx.rdm(a), nx.rdm(b)], "rdm"), **k),
                          dict(method="pearson")),
    "rdm_noise_ceiling": (lambda f, f2, a, b, **k: nx.rdm_noise_ceiling(xr.concat([nx.rdm(a), nx.rdm(b)], "subject"), **k),
                          dict(method="pearson")),
    "split_half_rdm_ceiling": (lambda f, f2, a, b, **k: nx.split_half_rdm_ceiling(a, **k),
                               dict(rdm_method="euclidean", compare_method="pearson", seed=3, reps=2, spearman_brown=False)),
    "crsa": (lambda f, f2, a, b, **k: nx.crsa(f, a, **k), dict(rdm_method="euclidean", compare_method="pearson", seed=3, reps=2)),
    "ersa": (lambda f, f2, a, b, **k: nx.ersa(f, a, **k),
             dict(rdm_method="euclidean", compare_method="pearson", alpha=0.5, n_folds=4, fold_seed=2, test_size=0.4, seed=3)),
    "ereg": (lambda f, f2, a, b, **k: nx.ereg(f, a, **k), dict(n_components=4, alpha=0.5, n_folds=4, fold_seed=2, seed=3)),
    "rsa_bootstrap": (lambda f, f2, a, b, **k: gi.rsa_bootstrap(nx.rdm(f), [nx.rdm(a), nx.rdm(b)], **k),
                      dict(method="spearman", n_boot=10, seed=3, level=0.9, noise_ceiling=False, nan_policy="omit")),
    "crsa_bootstrap": (lambda f, f2, a, b, **k: gi.crsa_bootstrap(f, a, **k),
                       dict(rdm_method="euclidean", compare_method="pearson", n_boot=10, seed=3, level=0.9)),
    "rsa_permutation": (lambda f, f2, a, b, **k: gi.rsa_permutation(nx.rdm(f), nx.rdm(a), **k),
                        dict(method="spearman", n_perm=10, seed=3)),
    "cka_bootstrap": (lambda f, f2, a, b, **k: gi.cka_bootstrap(f, a, **k),
                      dict(n_boot=10, seed=3, level=0.9, n_perm=5, nan_policy="omit")),
    "ersa_bootstrap": (lambda f, f2, a, b, **k: gi.ersa_bootstrap(f, a, **k),
                       dict(rdm_method="euclidean", compare_method="pearson", alpha=0.5, test_size=0.4, split_seed=2,
                            n_boot=10, seed=3, n_perm=4)),
    "split_distance": (lambda f, f2, a, b, **k: split_distance(f, f2, **k),
                       dict(test_size=0.4, seed=3, alpha=0.5, center_columns=False, score_method="euclidean")),
    "shape_bootstrap": (lambda f, f2, a, b, **k: si.shape_bootstrap(f, f2, **k),
                        dict(alpha=0.5, n_boot=10, seed=3, level=0.9, n_perm=4, nan_policy="omit")),
    "pairwise_distances": (lambda f, f2, a, b, **k: nx.pairwise_distances({"a": f, "b": f2}, **k),
                           dict(alpha=0.5, score_method="euclidean")),
    "procrustes_average": (lambda f, f2, a, b, **k: nx.procrustes_average({"a": f, "b": f2}, **k),
                           dict(center_columns=False, max_iter=5, tol=1e-6)),
    # scalar results: 0-d DataArrays
    "cka": (lambda f, f2, a, b, **k: nx.cka(f, a, **k), dict(debiased=True)),
    "effective_dimensionality": (lambda f, f2, a, b, **k: nx.effective_dimensionality(f, **k), {}),
    "compare_rdms": (lambda f, f2, a, b, **k: nx.compare_rdms(nx.rdm(f), nx.rdm(a), **k), dict(method="pearson")),
}

#: Parameters a result shows by its shape or under another name, not as an attr of their own.
SHOWN_OTHERWISE = {("permutation_test", "keep_null")}


def _run(name, f, f2, a, b):
    fn, params = ANALYSES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(f, f2, a, b, **params)


@pytest.fixture(scope="module")
def results(sets):
    return {name: _run(name, *sets) for name in ANALYSES}


def _plain(v):
    """An attr value as netCDF and Zarr both give it back (numbers and lists of numbers)."""
    return np.asarray(v).tolist() if isinstance(v, (np.ndarray, np.generic, list, tuple, int, float)) else v


def _same(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray) -> None:
    xr.testing.assert_allclose(a, b)
    for name in [None, *(a.variables if isinstance(a, xr.Dataset) else ())]:
        x, y = (a.attrs, b.attrs) if name is None else (a[name].attrs, b[name].attrs)
        assert set(x) == set(y) and all(_plain(x[k]) == _plain(y[k]) for k in x if x[k] == x[k]), name


def _round_trip(obj, tmp_path):
    ds = obj if isinstance(obj, xr.Dataset) else obj.to_dataset(name=obj.name)
    ds.to_netcdf(tmp_path / "r.nc", engine="scipy")  # the engine of the test environment (netCDF3)
    _same(ds, xr.load_dataset(tmp_path / "r.nc", engine="scipy"))
    ds.to_zarr(tmp_path / "r.zarr", mode="w")
    _same(ds, xr.open_zarr(tmp_path / "r.zarr").load())


# ------------------------------------------------------------------------- the analyses
@pytest.mark.parametrize("name", ANALYSES)
def test_result_round_trips_through_netcdf_and_zarr(results, name, tmp_path):
    _round_trip(results[name], tmp_path)


@pytest.mark.parametrize("name", ANALYSES)
def test_result_records_every_parameter_passed(results, name):
    attrs = decode_attrs(results[name].attrs)
    for k, v in ANALYSES[name][1].items():
        if (name, k) in SHOWN_OTHERWISE:
            continue
        got = attrs.get(k, "<absent>")
        want = int(v) if isinstance(v, bool) else v
        assert got == want or _plain(got) == _plain(want), (k, got, v)


#: The inputs each result names (attrs ``source`` / ``target``: an input's set name model.layer, else its name).
LABELS = {
    "forward": ("m.l1", "A"), "reverse": ("A", "m.l1"), "inter_animal": ("A", "B"), "model_to_model": ("m.l1", "m.l2"),
    "forward_time": ("m.l1", "A"), "split_half_reliability": ("A", None), "bootstrap": ("m.l1", "A"),
    "permutation_test": ("m.l1", "A"), "brainscore": ("m.l1", "A"), "brainscore_ceiling": ("A", None),
    "temporal_generalization": ("B", "A"), "split_half_rdm_ceiling": ("A", None), "crsa": ("m.l1", "A"),
    "ersa": ("m.l1", "A"), "ereg": ("m.l1", "A"), "crsa_bootstrap": ("m.l1", "A"), "cka_bootstrap": ("m.l1", "A"),
    "ersa_bootstrap": ("m.l1", "A"), "split_distance": ("m.l1", "m.l2"), "shape_bootstrap": ("m.l1", "m.l2"),
    "cka": ("m.l1", "A"), "effective_dimensionality": ("m.l1", None), "compare_rdms": ("m.l1", "A"),
}


@pytest.mark.parametrize("name", LABELS)
def test_result_names_its_inputs(results, name):
    attrs = results[name].attrs
    assert (attrs.get("source"), attrs.get("target")) == LABELS[name]


#: The result attr naming a feature array ``f`` given with neural data ``a``, per analysis.
ONE_LABEL = {
    "forward": (lambda f, a: nx.forward(f, a, reps=1), "source"), "reverse": (lambda f, a: nx.reverse(a, f, reps=1), "target"),
    "model_to_model": (lambda f, a: nx.model_to_model(f, f), "source"), "cka": (lambda f, a: nx.cka(f, a), "source"),
    "crsa": (lambda f, a: nx.crsa(f, a, noise_ceiling=False), "source"), "ereg": (lambda f, a: nx.ereg(f, a, n_folds=3), "source"),
    "split_distance": (lambda f, a: split_distance(f, a), "source"),
    "brainscore": (lambda f, a: brainscore(f, a, n_components=2, n_splits=2), "source"),
    "effective_dimensionality": (lambda f, a: nx.effective_dimensionality(f), "source"),
    "compare_rdms": (lambda f, a: nx.compare_rdms(nx.rdm(f), nx.rdm(a)), "source"),
    "rdm": (lambda f, a: nx.rdm(f), "label"), "cka_bootstrap": (lambda f, a: gi.cka_bootstrap(f, a, n_boot=3), "source"),
    "bootstrap": (lambda f, a: pi.bootstrap("forward", f, a, n_boot=3, reps=1), "source"),
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    st = make_study(**STUDY)
    store = nx.open_store(tmp_path_factory.mktemp("labels") / "s.zarr")
    store.write_features("m", "l1", st.features["m"]["l1"])
    store.write_neural("A", st.neural["A"])
    return store


@pytest.mark.parametrize("name", ONE_LABEL)
@pytest.mark.parametrize("built", [False, True], ids=["read_features", "nx.features"])
def test_an_array_gets_one_label_in_every_result_as_its_stored_entries(stored, name, built):
    """A feature set read from a store (named ``m.l1``, coords model ``m``, layer ``l1``) and the same
    array built by nx.features (named "features") are labeled ``m.l1`` by the directions and by every
    geometry function (neuroxr.sets.set_label), as the store's entries record the set: the
    directions recorded the array's name, the geometry functions ``m/l1``."""
    f, a = stored.read_features("m", "l1"), stored.read_neural("A")
    if built:
        f = nx.features(f.values, stimulus_id=f.stimulus_id.values, model="m", layer="l1")
    call, attr = ONE_LABEL[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert call(f, a).attrs[attr] == "m.l1"
        assert nx.entries.compute(stored, "cka", "m.l1", "A").dataset.attrs["source"] == "m.l1"


def _by_id(obj):
    """``obj`` with every stimulus dim sorted by its ids (a result that follows the input order)."""
    for dim, coord in (("stimulus", "stimulus_id"), ("stimulus_", "stimulus_id_")):
        if dim in obj.dims and coord in obj.coords:
            obj = obj.isel({dim: np.argsort(obj[coord].values, kind="stable")})
    return obj


@pytest.mark.parametrize("name", ANALYSES)
def test_result_does_not_depend_on_the_stimulus_order(sets, results, name):
    order = np.random.default_rng(5).permutation(sets[0].sizes["stimulus"])
    again = _run(name, *(x.isel(stimulus=order) for x in sets))
    xr.testing.assert_allclose(_by_id(results[name]), _by_id(again))
    assert results[name].attrs == again.attrs


@pytest.mark.parametrize("name", ["cka", "effective_dimensionality", "compare_rdms"])
def test_scalar_results_read_as_the_number(sets, results, name):
    """A 0-d float64 DataArray: float(), comparisons and arithmetic read the value the kernels give."""
    from neuroxr.kernels import compare as kc
    from neuroxr.kernels import gram as kg
    from neuroxr.kernels import rdm as kr

    f, a = sets[0].values, np.nanmean(sets[2].transpose("stimulus", "neuroid", "repeat").values, axis=2)
    ref = {"cka": lambda: kg.linear_cka(kg.gram(f), kg.gram(a), debiased=True),
           "effective_dimensionality": lambda: kg.effective_dimensionality(kg.gram(f)),
           "compare_rdms": lambda: kc.compare_rdms(kr.upper_tri(kr.rdm(f)), kr.upper_tri(kr.rdm(a)), "pearson")}[name]()
    res = results[name]
    assert isinstance(res, xr.DataArray) and res.ndim == 0 and res.dtype == np.float64
    assert float(res) == pytest.approx(ref, rel=1e-9) and res == pytest.approx(ref, rel=1e-9)
    assert float(res * 2 - 1) == pytest.approx(2 * ref - 1, rel=1e-9) and bool(res < ref + 1)


def test_compare_rdms_names_its_inputs_for_several_methods_too(results, sets):
    many = nx.compare_rdms(nx.rdm(sets[0]), nx.rdm(sets[2]), ["pearson", "spearman"])
    one = results["compare_rdms"]
    assert (many.attrs["source"], many.attrs["target"]) == (one.attrs["source"], one.attrs["target"]) == ("m.l1", "A")
    assert float(many.sel(comparison="pearson")) == float(one) and many.attrs["n_stimuli"] == one.attrs["n_stimuli"]


def test_directions_and_geometry_spell_switches_alike(results):
    """One convention for flags (0 / 1), whichever module made the result."""
    assert results["forward"].attrs["noise_ceiling"] == 1 and type(results["forward"].attrs["noise_ceiling"]) is int
    assert type(results["forward"].attrs["streamed"]) is int and type(results["crsa"].attrs["noise_ceiling"]) is int
    assert results["permutation_test"].attrs["noise_ceiling"] == 0


# ------------------------------------------------------------------------- store entries and sweeps
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("labeled") / "s.zarr"
    write_example_study(path, **STUDY)
    return nx.open_store(path)


ENTRIES = {
    "forward": ("m.l1", "A", dict(reps=2, seed=3, max_n=10)),
    "forward_bootstrap": ("m.l1", "A", dict(reps=2, n_boot=10)),
    "crsa": ("m.l1", "A", dict(rdm_method="euclidean", reps=2)),
    "cka": ("m.l1", "A", dict(debiased=True)),
    "shape": ("m.l1", "m.l2", dict(alpha=0.5)),
    "dimensionality": ("m.l1", None, {}),
}


@pytest.mark.parametrize("kind", ENTRIES)
def test_store_entries_round_trip_and_decode_to_what_the_store_holds(store, kind, tmp_path):
    source, target, params = ENTRIES[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = nx.score(store, kind, source, target, **params)  # computed
        again = nx.score(store, kind, source, target, **params)  # read back
    path = nx.lookup(store, kind, source, target, params=params)
    held = store.group_attrs(path)  # the store's own attrs: JSON objects, as every store version holds them
    for ds in (first, again, store.read_dataset(path).load()):
        _round_trip(ds, tmp_path)
        attrs = decode_attrs(ds.attrs)
        assert attrs["neuroxr_provenance"] == held["neuroxr_provenance"] and attrs["parameters"] == held["parameters"]
        assert all(attrs["parameters"][k] == v for k, v in params.items())


def test_sweep_results_record_the_shared_parameters_and_round_trip(store, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nx.sweep(store, client="serial", progress=False, directions=["forward", "crsa"], reps=2, seed=5)
    attrs = decode_attrs(res.dataset.attrs)
    assert (attrs["reps"], attrs["seed"], attrs["max_n"]) == (2, 5, None)
    assert decode_attrs(res.metrics.attrs)["rdm_method"] == "correlation"
    assert list(res.dataset["neuroid_id"].values) == list(res.dataset["neuroid"].values)  # the scores' name too
    for ds in (res.dataset, res.metrics):
        _round_trip(ds, tmp_path)


# ------------------------------------------------------------------------- neuroxr.attrs
def test_encode_attrs_keeps_what_netcdf_holds_and_decode_gives_the_rest_back():
    raw = {"p": {"a": None, "b": [1, 2]}, "flag": np.bool_(True), "none": None, "names": ["a", "b"], "x": [1.0, 2.0],
           "i": np.int64(3), "empty": [], "s": "t"}
    enc = encode_attrs(raw)
    assert (enc["flag"], enc["i"], enc["x"], enc["s"]) == (1, 3, [1.0, 2.0], "t")
    assert set(json.loads(enc[JSON_ATTRS])) == {"p", "none", "names", "empty"}
    assert encode_attrs(enc) == enc  # twice: the same
    assert decode_attrs(enc) == {**raw, "flag": 1, "i": 3}
    assert decode_attrs({"p": {"a": 1}}) == {"p": {"a": 1}}  # never encoded: as it is


def test_storable_encodes_the_variables_attrs_too(tmp_path):
    ds = xr.Dataset({"v": ("x", [1.0, 2.0], {"d": {"a": 1}})}, attrs={"n": None})
    storable(ds).to_netcdf(tmp_path / "v.nc", engine="scipy")
    back = decoded(xr.load_dataset(tmp_path / "v.nc", engine="scipy"))
    assert back.attrs == {"n": None} and back["v"].attrs == {"d": {"a": 1}}
    assert ds.attrs == {"n": None} and ds["v"].attrs == {"d": {"a": 1}}  # the input is left as it was


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
@pytest.mark.parametrize("kw", [{"seed": 2**31}, {"fold_seed": 2**32 - 1}, {"seed": 2**70}, {"seed": 2**31 - 1}])
def test_seeds_beyond_int32_store_in_netcdf3_and_read_back(kw, tmp_path):
    """A seed of 2**31 or more made a result unwritable as netCDF3 ('could not safely cast array from
    int64 to int32'; 2**70: KeyError): integers beyond int32 go to JSON and decode exactly."""
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    ds = nx.forward(nx.features(rng.normal(size=(30, 5)), ids), nx.neural(rng.normal(size=(30, 3, 4)), ids), reps=2, **kw)
    ds.to_netcdf(tmp_path / "r.nc", engine="scipy")
    back = decoded(xr.load_dataset(tmp_path / "r.nc", engine="scipy"))
    (name, value), = kw.items()
    assert back.attrs[name] == value and isinstance(back.attrs[name], (int, np.integer))
    assert (name in json.loads(ds.attrs.get(JSON_ATTRS, "[]"))) == (value >= 2**31)


#: Calls that draw no split halves (no ceiling), each with whether ``max_n`` drew subsets with the seed.
NO_HALVES = {
    "forward_no_ceiling": (lambda F, G, A, B: nx.forward(F, A, reps=2, noise_ceiling=False), False),
    "reverse_no_ceiling": (lambda F, G, A, B: nx.reverse(A, F, reps=2, noise_ceiling=False), False),
    "inter_animal_no_ceiling": (lambda F, G, A, B: nx.inter_animal(A, B, reps=2, noise_ceiling=False), False),
    "forward_trial_averaged": (lambda F, G, A, B: nx.forward(F, A.mean("repeat").expand_dims("repeat", 2), reps=2), False),
    "model_to_model": (lambda F, G, A, B: nx.model_to_model(F, G, reps=2), False),
    "forward_no_ceiling_max_n": (lambda F, G, A, B: nx.forward(F, A, reps=2, noise_ceiling=False, max_n=8, seed=3), True),
    "model_to_model_max_n": (lambda F, G, A, B: nx.model_to_model(F, G, reps=2, max_n=8, seed=3), True),
    "bootstrap_no_ceiling": (lambda F, G, A, B: pi.bootstrap("forward", F, A, n_boot=4, seed=5, noise_ceiling=False), True),
    "bootstrap_trial_averaged": (lambda F, G, A, B: pi.bootstrap("reverse", A.mean("repeat").expand_dims("repeat", 2),
                                                                 F, n_boot=4, seed=5), True),
}


@pytest.mark.parametrize("name", NO_HALVES)
def test_attrs_name_no_split_or_seed_that_drew_nothing(sets, name):
    call, seeded = NO_HALVES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attrs = decode_attrs(call(*sets).attrs)
    assert attrs["noise_ceiling"] in (0, False)
    assert "split" not in attrs and "split_seed" not in attrs, attrs
    assert ("seed" in attrs) == seeded, attrs
    if seeded:
        assert attrs["seed"] in (3, 5)


def test_attrs_keep_split_and_seed_where_the_halves_are_drawn(sets):
    F, _, A, B = sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for res in (nx.forward(F, A, reps=2, seed=4, split="slots"), pi.bootstrap("forward", F, A, n_boot=4, seed=4,
                                                                                 split="slots", reps=2)):
            attrs = decode_attrs(res.attrs)
            assert (attrs["split"], attrs["seed"], attrs["noise_ceiling"]) == ("slots", 4, 1)


def test_sweep_table_and_report_show_no_seed_or_split_that_drew_nothing(tmp_path):
    """The sweep's table and the report's score table give ``seed`` and ``split`` as the entries' attrs do: an
    empty cell for a score without a ceiling (trial-averaged data, ``noise_ceiling=False``, model-to-model)."""
    from conftest import seed_study

    from neuroxr.report.table import score_table
    from neuroxr.sweep import sweep

    st = seed_study(tmp_path / "s.zarr")
    run = dict(client="serial", progress=False, layers=["l1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = [sweep(st, directions=["forward"], neural=["rep", "avg"], models=["net"], reps=2, seed=5, **run).table,
                  sweep(st, directions=["forward"], neural=["rep"], models=["net"], reps=2, noise_ceiling=False, seed=5,
                        inference={"bootstrap": 3}, **run).table,
                  sweep(st, directions=["model_to_model"], models=["net", "net2"], **run).table]
    rows = pd.concat(tables, ignore_index=True)
    assert any(t == "rep" and nc is None for t, nc in zip(rows["target"], rows["noise_ceiling"]))  # one drew its halves
    for _, row in rows.iterrows():
        ceiling = row["target"] == "rep" and row["noise_ceiling"] is None
        assert (row["seed"] == 5 if ceiling else pd.isna(row["seed"])), row.to_dict()
        assert (row["split"] == "valid" if ceiling else row["split"] is None or pd.isna(row["split"])), row.to_dict()
    report = score_table(st)[0]
    for _, row in report.iterrows():
        attrs = st.read_dataset(row["path"]).attrs
        assert ("seed" in attrs) == (not pd.isna(row["seed"])), (row.to_dict(), dict(attrs))


def test_sweep_dataset_shares_seed_and_split_only_where_every_entry_drew_with_them(tmp_path):
    """The sweep's dataset attrs name ``seed`` / ``split`` as shared only where every entry's attrs have them with one
    value (as its table and the entries' attrs): a sweep whose scores drew nothing with them showed ``seed`` 0."""
    from conftest import seed_study

    from neuroxr.attrs import decode_attrs
    from neuroxr.sweep import sweep

    st = seed_study(tmp_path / "s.zarr")
    run = dict(client="serial", progress=False, layers=["l1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [sweep(st, directions=["model_to_model"], models=["net", "net2"], **run),
                   sweep(st, directions=["forward"], neural=["rep", "avg"], models=["net"], reps=2, seed=5, **run),
                   sweep(st, directions=["forward"], neural=["rep"], models=["net"], reps=2, seed=5, **run)]
    seen = set()
    for res in results:
        got = decode_attrs(res.dataset.attrs)
        entries = [decode_attrs(st.read_dataset(p).attrs) for p in res.table["path"]]
        for k in ("seed", "split"):
            values = {json.dumps(a.get(k, "absent")) for a in entries}
            want = json.loads(values.pop()) if len(values) == 1 else "absent"
            assert got.get(k, "absent") == want, (k, got, entries)
            seen.add((k, want == "absent"))
    assert seen == {("seed", True), ("seed", False), ("split", True), ("split", False)}  # both cases met
