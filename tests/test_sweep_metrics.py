"""Geometry metrics (RSA, shape, CKA, dimensionality) as sweep entries."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from neuroxr.attrs import decoded
from neuroxr.entries import list_entries
from neuroxr.store import StudyStore
from neuroxr.sweep import SweepConfigError, sweep

METRIC_KW = dict(layers={"netA": ["layer3"], "netB": ["fc"]}, regions=["all", "IT"], progress=False,
                 metric_options={"rsa": {"reps": 2}, "shape": {"alpha": 0.5}})
METRIC_BROKEN = ["shape/netB.fc__animalA.IT", "dimensionality/animalB"]


def _averaged(neu):
    m = neu.mean("repeat", skipna=True).transpose("stimulus", "neuroid")
    return xr.DataArray(m.values, dims=("stimulus", "unit"),
                        coords={"stimulus_id": ("stimulus", m["stimulus_id"].values.astype(str)),
                                "unit_id": ("unit", m["neuroid_id"].values.astype(str))})


def _metric_mtimes(path):
    df = list_entries(path)
    return {r.path: os.stat(path / r.path / "zarr.json").st_mtime_ns
            for r in df[df["path"].str.startswith("metrics/")].itertuples()}


def test_metric_sweep_runs_and_resumes(sweep_copy, monkeypatch):
    from neuroxr import geometry as geo
    from neuroxr.schemas import validate_store

    path = sweep_copy()
    kw = dict(METRIC_KW, directions=["forward", "rsa", "shape", "cka", "dimensionality"], reps=1)
    monkeypatch.setenv("NEUROXR_SWEEP_FAIL", ",".join(METRIC_BROKEN))
    first = sweep(path, client="serial", on_error="warn", **kw)
    assert sorted(first.failed) == sorted(METRIC_BROKEN) and len(first.computed) == len(first.entries) - 2
    assert np.isnan(float(first.metrics["neural_dimensionality"].sel(neural="animalB", region="all")))
    before = _metric_mtimes(path)
    monkeypatch.delenv("NEUROXR_SWEEP_FAIL")
    res = sweep(path, client="serial", **kw)
    assert sorted(res.computed) == sorted(METRIC_BROKEN) and len(res.skipped) == len(res.entries) - 2
    after = _metric_mtimes(path)
    assert all(after[k] == v for k, v in before.items()) and len(after) == 3 * 8 + 6
    # the direction results are unchanged in shape; the metrics have their own summary
    assert len(res.table) == 8 and set(res.table["direction"]) == {"forward"}
    ms, mt = res.metrics, res.metric_table
    assert ms["value"].dims == ("metric", "model", "layer", "neural", "region")
    assert list(ms["metric"].values) == ["crsa", "shape", "cka"] and len(mt) == len(res.entries) - 8
    # an integer option that other metrics lack stays an integer (empty where they lack it), not 2.0
    assert str(mt["reps"].dtype) == "Int64" and set(mt["reps"].dropna()) == {2} and mt["reps"].isna().any()
    assert mt["alpha"].dtype == float
    assert ms["value"].sel(model="netA", layer="fc").isnull().all()  # a layer of the other model
    # values equal the geometry functions on the same inputs
    store = StudyStore(path, mode="r")
    feats = store.read_features("netA", "layer3").load()
    neu = store.read_neural("animalA").load()
    it = neu.isel(neuroid=np.flatnonzero(neu["region"].values == "IT"))
    cell = dict(model="netA", layer="layer3", neural="animalA", region="IT")
    assert float(ms["value"].sel(metric="cka", **cell)) == pytest.approx(float(geo.cka(feats, _averaged(it))), rel=1e-10)
    crsa = geo.crsa(feats, it, reps=2)
    assert float(ms["value"].sel(metric="crsa", **cell)) == pytest.approx(float(crsa["score"]), rel=1e-10)
    assert float(ms["ceiling"].sel(metric="crsa", **cell)) == pytest.approx(float(crsa["ceiling"]), rel=1e-10)
    rows = mt.set_index("key")
    shape = store.read_dataset(rows.at["shape/netA.layer3__animalA.IT", "path"]).load()
    assert shape.pipe(decoded).attrs["parameters"]["alpha"] == 0.5
    assert float(ms["train_value"].sel(metric="shape", **cell)) == float(shape["score"].sel(split="train"))
    assert np.isnan(float(ms["train_value"].sel(metric="cka", **cell)))
    assert float(ms["dimensionality"].sel(model="netB", layer="fc")) == pytest.approx(
        float(geo.effective_dimensionality(store.read_features("netB", "fc").load())), rel=1e-10)
    assert float(ms["neural_dimensionality"].sel(neural="animalB", region="all")) == pytest.approx(
        float(geo.effective_dimensionality(_averaged(store.read_neural("animalB").load()))), rel=1e-10)
    assert validate_store(store) == []
    # the metric table carries each metric's options as columns (cRSA's ceiling switch as noise_ceiling)
    rows = mt.set_index("key")
    assert rows.at["shape/netA.layer3__animalA.IT", "alpha"] == 0.5
    assert rows.at["crsa/netA.layer3__animalA.IT", "reps"] == 2
    assert rows.at["crsa/netA.layer3__animalA.IT", "noise_ceiling"] == store.read_dataset(
        rows.at["crsa/netA.layer3__animalA.IT", "path"]).pipe(decoded).attrs["neuroxr_provenance"]["params"]["noise_ceiling"]
    assert rows.loc[rows.metric == "cka", "reps"].isna().all()


def test_metric_sweep_on_a_cluster(sweep_copy):
    distributed = pytest.importorskip("distributed")
    from neuroxr import geometry as geo

    path = sweep_copy()
    kw = dict(models=["netB"], layers=["fc"], directions=["cka", "dimensionality", "forward"], reps=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        res = sweep(path, client=client, **kw)
    assert sorted(res.computed) == sorted(e.key for e in res.entries) and len(res.entries) == 2 + 3 + 2
    store = StudyStore(path, mode="r")
    grams = list_entries(store).query("kind == 'gram'")
    assert list(grams["source"]) == ["netB.fc"] and grams["complete"].all() and grams["current"].all()
    feats = store.read_features("netB", "fc").load()
    for neural_set in ("animalA", "animalB"):
        assert float(res.metrics["value"].sel(metric="cka", model="netB", layer="fc", neural=neural_set, region="all")) == \
            pytest.approx(float(geo.cka(feats, _averaged(store.read_neural(neural_set).load()))), rel=1e-10)


def test_options_of_nothing_the_sweep_runs_are_refused(sweep_copy):
    """metric_options for a metric not in directions, and score arguments with only metrics, would
    change nothing: refused before any work."""
    from neuroxr.errors import SweepConfigError

    path = sweep_copy()
    with pytest.raises(SweepConfigError, match=r"^sweep: metric_options\['cka'\] has no effect outside the sweep's directions \['forward'\]; drop it or add the metric"):
        sweep(path, directions=["forward"], metric_options={"cka": {"debiased": True}}, client="serial", progress=False)
    with pytest.raises(SweepConfigError, match=r"^sweep: metric_options\['ersa'\] has no effect outside"):
        sweep(path, directions=["rsa"], metric_options={"ersa": {"alpha": 1.0}}, client="serial", progress=False)
    with pytest.raises(SweepConfigError, match=r"^sweep: reps has no effect when the sweep runs no direction \(only \['cka'\]\); drop it or add"):
        sweep(path, directions=["cka"], reps=5, client="serial", progress=False)
    with pytest.raises(SweepConfigError, match=r"^sweep: reps and seed have no effect when the sweep runs no direction .*; drop them or add"):
        sweep(path, directions=["cka"], reps=5, seed=2, client="serial", progress=False)
    assert list_entries(StudyStore(path, mode="r")).query("kind != 'gram'").empty  # nothing computed


def test_crsa_options_serve_targets_without_a_ceiling(sweep_copy):
    """One crsa option set serves the sweep's targets with and without a ceiling: where none is
    drawn (neural data with one repeat) the sweep leaves seed and reps out (a direct request with
    them is refused), so that target's entry is the default one."""
    import neuroxr as nx
    from neuroxr import geometry as geo
    from neuroxr.entries import compute

    path = sweep_copy()
    st = nx.open_store(path)
    resp = nx.read_set(st, nx.resolve(st, "animalA"))
    st.write_neural("averaged", resp.mean("repeat", skipna=True, keepdims=True).assign_attrs(resp.attrs))
    res = sweep(path, client="serial", progress=False, models="netA", layers={"netA": ["layer3"]}, neural=["animalA", "averaged"],
                regions=["all"], directions=["rsa"], metric_options={"rsa": {"seed": 3, "reps": 2}})
    rows = res.metric_table.set_index("key")
    store = StudyStore(path, mode="r")
    with_ceiling = store.read_dataset(rows.at["crsa/netA.layer3__animalA", "path"]).pipe(decoded).attrs["neuroxr_provenance"]["params"]
    assert (with_ceiling["seed"], with_ceiling["reps"], with_ceiling["noise_ceiling"]) == (3, 2, True)
    assert rows.at["crsa/netA.layer3__averaged", "path"] == compute(path, "crsa", "netA.layer3", "averaged").path
    feats = store.read_features("netA", "layer3").load()
    assert float(res.metrics["value"].sel(metric="crsa", model="netA", layer="layer3", neural="averaged", region="all")) == \
        pytest.approx(float(geo.crsa(feats, nx.read_set(st, nx.resolve(st, "averaged")))["score"]), rel=1e-10)
    again = sweep(path, client="serial", progress=False, models="netA", layers={"netA": ["layer3"]}, neural=["animalA", "averaged"],
                  regions=["all"], directions=["rsa"], metric_options={"rsa": {"seed": 3, "reps": 2}})
    assert not again.computed  # the lookups find both entries


def test_a_metrics_only_sweep_seeds_the_metrics_inference(sweep_copy):
    """``seed`` in a sweep of metrics with inference draws their resamples (as in a mixed sweep),
    so it is taken, not refused as reaching no direction."""
    from neuroxr.entries import compute

    path = sweep_copy()
    res = sweep(path, client="serial", progress=False, models="netB", layers={"netB": ["fc"]}, neural="animalA", regions=["all"],
                directions=["cka"], seed=3, inference={"permutations": 5})
    row = res.inference_table.iloc[0]
    assert row["permutation_path"] == compute(path, "cka_permutation", "netB.fc", "animalA", params={"n_perm": 5, "seed": 3}).path


def test_gather_metrics_reads_the_entries_of_the_options_as_the_sweep_takes_them(sweep_copy):
    """``gather_metrics(metric_options={"rsa": {"variant": "ersa", "alpha": 3.0}})``, the sweep's own spelling,
    read the eRSA entries of the default alpha (rsa's options were left unread) and handed them back, labelled
    ``alpha`` 0.1, for a request of alpha 3. They are now the options of the entries read, as the sweep scores them."""
    from neuroxr.entries import compute
    from neuroxr.sweep import gather_metrics, plan_sweep

    path = sweep_copy()
    one = dict(models="netA", layers=["layer3"], neural="animalA", directions=["rsa"])
    options = {"rsa": {"variant": "ersa", "alpha": 3.0}}
    store = StudyStore(path)
    default = compute(store, "ersa", "netA.layer3", "animalA")  # the default options' entry beside it
    res = sweep(path, client="serial", progress=False, metric_options=options, **one)
    asked = compute(store, "ersa", "netA.layer3", "animalA", params={"alpha": 3.0})
    assert not asked.computed and float(asked.dataset["score"].sel(split="test")) != float(
        default.dataset["score"].sel(split="test"))
    entries = plan_sweep(store, metric_options=options, **one)
    for given in (options, {"ersa": {"alpha": 3}}):
        _, table = gather_metrics(store, entries, metric_options=given)
        assert table["path"].tolist() == [asked.path] == res.metric_table["path"].tolist()
        assert table["alpha"].tolist() == [3.0] and table["value"].tolist() == res.metric_table["value"].tolist()
    with pytest.raises(SweepConfigError, match="alpah"):
        gather_metrics(store, entries, metric_options={"rsa": {"variant": "ersa", "alpah": 3.0}})
