"""Sweeps: distributed == serial, resume after failures, gathering, layer selection, configuration, CLI."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from neuroxr.datasets.synthetic import write_example_study
from neuroxr.store import StudyStore
from neuroxr.sweep import (
    ALL_REGIONS,
    SweepConfigError,
    SweepError,
    best_layers,
    load_config,
    plan_sweep,
    sweep,
    sweep_command,
    target_halves,
    validate_config,
)

MODELS = {
    "netA": (("layer1", 60, 0.4, 8), ("layer3", 32, 1.0, 0)),
    "netB": (("conv1", 50, 0.5, 8), ("fc", 24, 0.6, 4)),
}
ALL4 = ["forward", "reverse", "inter_animal", "model_to_model"]
# a small sweep that still has every kind of entry: 2 layers x 2 sets x 2 subsets x 2 directions,
# 4 inter-animal entries, 2 model-to-model entries (layer3 <-> fc)
SWEEP_KW = dict(
    layers={"netA": ["layer1", "layer3"], "netB": ["fc"]},
    directions=ALL4,
    regions=["all", "IT"],
    reps=2,
    seed=3,
    progress=False,
)


@pytest.fixture(scope="module")
def base_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "base.zarr"
    write_example_study(path, seed=0, n_stimuli=120, animals={"animalA": 20, "animalB": 16}, models=MODELS, unit_chunk=16)
    return path


def _copy(base, tmp_path, name="study.zarr"):
    dst = tmp_path / name
    shutil.copytree(base, dst)
    return dst


BROKEN = ["forward/netA.layer3__animalB.IT", "reverse/animalA__netB.fc", "inter_animal/animalB__animalA"]


@pytest.fixture(scope="module")
def interrupted(base_store, tmp_path_factory):
    """A serial sweep whose tasks fail for BROKEN (as a killed run would leave it), then re-run."""
    path = _copy(base_store, tmp_path_factory.mktemp("ref"))
    os.environ["NEUROXR_SWEEP_FAIL"] = ",".join(BROKEN)
    try:
        with pytest.raises(SweepError) as info:
            sweep(path, client="serial", **SWEEP_KW)
    finally:
        del os.environ["NEUROXR_SWEEP_FAIL"]
    written = {f"{d}/{s}__{t}" for d, s, t in StudyStore(path, mode="r").score_entries()}
    before = _marker_mtimes(path)
    result = sweep(path, client="serial", **SWEEP_KW)
    return {"error": info.value, "written": written, "before": before, "after": _marker_mtimes(path), "result": result}


@pytest.fixture(scope="module")
def reference(interrupted):
    """The serial sweep (resumed): the reference every other run must reproduce."""
    return interrupted["result"]


def _n_entries():
    layers = 3
    fr = 2 * layers * 2 * 2  # forward + reverse x layers x neural sets x (all, IT)
    return fr + 2 * 2 + 2 * 2  # inter-animal: 2 ordered pairs x 2 subsets; model_to_model: netA layers <-> fc


def _marker_mtimes(path):
    """Modification times of each score entry's metadata (rewritten when the entry is rewritten)."""
    out = {}
    for d in os.listdir(path / "scores"):
        if not (path / "scores" / d).is_dir():
            continue
        for e in os.listdir(path / "scores" / d):
            meta = path / "scores" / d / e / "zarr.json"
            if meta.exists():
                out[f"{d}/{e}"] = meta.stat().st_mtime_ns
    return out


def _same_results(a, b):
    xr.testing.assert_allclose(a.dataset.drop_attrs(), b.dataset.drop_attrs(), rtol=1e-12, atol=1e-12)
    cols = ["key", "n_targets", "median_ev", "mean_ev"]
    pd.testing.assert_frame_equal(
        a.table[cols].sort_values("key").reset_index(drop=True), b.table[cols].sort_values("key").reset_index(drop=True),
        rtol=1e-12, atol=1e-12,
    )


# ------------------------------------------------------------------------------ planning
def test_plan_names_and_counts(base_store):
    store = StudyStore(base_store, mode="r")
    entries = plan_sweep(store, layers=SWEEP_KW["layers"], directions=ALL4, regions=["all", "IT"])
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys)) == _n_entries()
    assert "forward/netA.layer3__animalA.IT" in keys
    assert "forward/netA.layer3__animalA" in keys
    assert "reverse/animalB.IT__netB.fc" in keys
    assert "inter_animal/animalA.IT__animalB.IT" in keys
    assert "model_to_model/netA.layer1__netB.fc" in keys and "model_to_model/netB.fc__netA.layer3" in keys
    assert not any(e.key.startswith("model_to_model/netA.layer1__netA") for e in entries)
    e = next(e for e in entries if e.key == "reverse/animalB.IT__netB.fc")
    assert (e.neural, e.region, e.model, e.layer) == ("animalB", "IT", "netB", "fc")
    each = plan_sweep(store, models=["netB"], directions="forward", regions="each")
    assert sorted({e.region for e in each}) == ["IT", "V4"]


def test_plan_errors_name_what_exists(base_store):
    store = StudyStore(base_store, mode="r")
    with pytest.raises(SweepConfigError, match=r"no models \['netZ'\].*netA"):
        plan_sweep(store, models=["netZ"])
    with pytest.raises(SweepConfigError, match=r"no layers \['conv9'\].*conv1"):
        plan_sweep(store, layers={"netB": ["conv9"]})
    with pytest.raises(SweepConfigError, match=r"no selected model has layers \['nope'\]"):
        plan_sweep(store, layers=["layer1", "nope"])
    with pytest.raises(SweepConfigError, match=r"no neural sets \['animalC'\].*animalA"):
        plan_sweep(store, neural="animalC")
    with pytest.raises(SweepConfigError, match=r"regions \['PFC'\].*IT"):
        plan_sweep(store, regions=["PFC"])
    with pytest.raises(SweepConfigError, match="unknown directions"):
        plan_sweep(store, directions=["sideways"])
    with pytest.raises(SweepConfigError, match="at least two neural sets"):
        plan_sweep(store, neural=["animalA"], directions=["inter_animal"])


def test_region_subset_name_collision(base_store, tmp_path):
    path = _copy(base_store, tmp_path)
    store = StudyStore(path)
    store.write_neural("animalA.IT", store.read_neural("animalB").load())
    with pytest.raises(SweepConfigError, match="already a neural set"):
        plan_sweep(store, neural=["animalA"], regions=["IT"])


# ------------------------------------------------------------------------------ serial vs distributed
def test_two_worker_cluster_equals_serial(base_store, tmp_path, reference):
    path = _copy(base_store, tmp_path)
    # the embedded default: a process-based LocalCluster, 2 workers x 1 thread, started and closed by the sweep
    kw = dict(SWEEP_KW, layers={"netA": ["layer3"], "netB": ["fc"]}, regions=["IT"])
    res = sweep(path, client=None, n_workers=2, **kw)
    assert len(res.entries) == 12 and {e.direction for e in res.entries} == set(ALL4)
    assert sorted(res.computed) == sorted(e.key for e in res.entries) and not res.skipped
    assert all(info["seconds"] > 0 for info in res.task_info.values())
    cols = ["median_ev", "mean_ev", "n_targets"]
    ref = reference.table.set_index("key").loc[res.table["key"], cols]
    pd.testing.assert_frame_equal(res.table.set_index("key")[cols], ref, rtol=1e-12, atol=1e-12)
    # and the per-target, per-rep scores, entry by entry
    ref_store, store = StudyStore(reference.dataset.attrs["store"], mode="r"), StudyStore(path, mode="r")
    for e in res.entries:
        a = store.read_scores(e.direction, e.source, e.target)
        b = ref_store.read_scores(e.direction, e.source, e.target)
        np.testing.assert_allclose(a["ev"].values, b["ev"].values, rtol=1e-12, atol=1e-12)
        if e.neural is not None:
            assert a.attrs["region"] == e.region == "IT" and a.attrs["neural"] == e.neural
    sub = reference.dataset["ev"].sel(model=res.dataset.model, layer=res.dataset.layer, region=["IT"])
    xr.testing.assert_allclose(res.dataset["ev"], sub, rtol=1e-12)


# ------------------------------------------------------------------------------ resume
def test_interrupted_serial_sweep_resumes(interrupted):
    err, res = interrupted["error"], interrupted["result"]
    assert sorted(err.failed) == sorted(BROKEN) and "re-run the sweep" in str(err)
    assert len(err.computed) == _n_entries() - len(BROKEN)
    # the failed run wrote every other entry, and none of the failed ones
    assert interrupted["written"] == set(err.computed) and not interrupted["written"] & set(BROKEN)
    # the re-run computes only the missing entries and rewrites nothing that was finished
    assert sorted(res.computed) == sorted(BROKEN)
    assert sorted(res.skipped) == sorted(err.computed)
    assert all(interrupted["after"][k] == v for k, v in interrupted["before"].items())
    assert len(interrupted["after"]) == _n_entries()
    assert res.table["n_targets"].gt(0).all()


def test_interrupted_cluster_sweep_resumes(base_store, tmp_path, reference, monkeypatch):
    distributed = pytest.importorskip("distributed")
    path = _copy(base_store, tmp_path)
    kw = dict(SWEEP_KW, layers={"netA": ["layer3"], "netB": ["fc"]}, directions=["forward", "reverse"], regions=["IT"])
    monkeypatch.setenv("NEUROXR_SWEEP_FAIL", "forward/netB.fc__*")  # every forward entry of one layer
    # a threaded cluster (fast to start; the process-based one is tested above) shares this environment
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        res = sweep(path, client=client, on_error="warn", **kw)
        assert sorted(res.failed) == ["forward/netB.fc__animalA.IT", "forward/netB.fc__animalB.IT"]
        assert all("injected failure" in v for v in res.failed.values())
        assert len(res.computed) == len(res.entries) - 2 == 6
        # failed entries are NaN in the gathered result, the others are there
        assert res.dataset["ev"].sel(direction="forward", model="netB", layer="fc").isnull().all()
        assert res.dataset["ev"].sel(direction="forward", model="netA", layer="layer3").notnull().all()
        before = _marker_mtimes(path)
        monkeypatch.delenv("NEUROXR_SWEEP_FAIL")
        res2 = sweep(path, client=client, **kw)
    assert sorted(res2.computed) == sorted(res.failed) and len(res2.skipped) == 6
    assert all(_marker_mtimes(path)[k] == v for k, v in before.items())
    ref = reference.table.set_index("key").loc[res2.table["key"], ["median_ev", "mean_ev", "n_targets"]]
    pd.testing.assert_frame_equal(res2.table.set_index("key")[["median_ev", "mean_ev", "n_targets"]], ref, rtol=1e-12, atol=1e-12)


def test_overwrite_recomputes(base_store, tmp_path):
    path = _copy(base_store, tmp_path)
    kw = dict(models=["netA"], layers=["layer3"], neural=["animalA"], directions=["forward"], reps=2, progress=False)
    first = sweep(path, client="serial", **kw)
    again = sweep(path, client="serial", overwrite=True, **kw)
    assert first.computed == again.computed == ["forward/netA.layer3__animalA"]


# ------------------------------------------------------------------------------ gathered result
def test_dataset_and_tables(reference):
    ds, table, tt = reference.dataset, reference.table, reference.target_table
    assert ds["ev"].dims == ("direction", "model", "layer", "neural", "region")
    assert dict(ds["ev"].sizes) == {"direction": 2, "model": 2, "layer": 3, "neural": 2, "region": 2}
    assert list(ds["region"].values) == [ALL_REGIONS, "IT"]
    # a layer of the other model is NaN (not applicable), the scored cells are finite
    assert ds["ev"].sel(model="netA", layer="fc").isnull().all()
    assert ds["ev"].sel(model="netB", layer="fc").notnull().all()
    assert np.isnan(float(ds["layer_depth"].sel(model="netB", layer="layer1")))
    assert float(ds["layer_depth"].sel(model="netA", layer="layer3")) == 1
    # per-neuroid forward EV: NaN outside the neural set and outside the region subset
    fwd = ds["forward_ev"].sel(model="netA", layer="layer3")
    b_ids = [i for i in ds["neuroid"].values if str(i).startswith("animalB")]
    assert fwd.sel(neural="animalA", neuroid=b_ids).isnull().all()
    store = StudyStore(ds.attrs["store"], mode="r")
    region = pd.Series(store.read_neural("animalA")["region"].values, index=store.read_neural("animalA")["neuroid_id"].values)
    v4 = list(region.index[region == "V4"])
    it = list(region.index[region == "IT"])
    assert fwd.sel(neural="animalA", region="IT", neuroid=v4).isnull().all()
    assert fwd.sel(neural="animalA", region="IT", neuroid=it).notnull().all()
    assert fwd.sel(neural="animalA", region="all", neuroid=v4 + it).notnull().all()
    # the summary is the median over targets of the rep-mean, as stored
    s = store.read_scores("forward", "netA.layer3", "animalA.IT")
    assert float(ds["ev"].sel(direction="forward", model="netA", layer="layer3", neural="animalA", region="IT")) == pytest.approx(
        float(np.nanmedian(s["ev"].mean("rep").values)), rel=1e-12)
    np.testing.assert_allclose(ds["ev_rep"].sel(direction="forward", model="netA", layer="layer3", neural="animalA", region="IT"),
                               np.nanmedian(s["ev"].values, axis=0))
    # inter-animal: the diagonal (an animal with itself) does not apply
    ia = ds["inter_animal_ev"]
    assert ia.sel(source_neural="animalA", neural="animalA").isnull().all()
    assert ia.sel(source_neural="animalA", neural="animalB").notnull().all()
    m2m = ds["model_to_model_ev"]
    assert np.isfinite(float(m2m.sel(model="netA", layer="layer3", target_model="netB", target_layer="fc")))
    assert m2m.sel(model="netA", target_model="netA").isnull().all()
    # tables: one row per entry; one row per entry x target
    assert len(table) == _n_entries() and table["key"].is_unique
    n_targets = table.set_index("key")["n_targets"]
    assert len(tt) == int(table["n_targets"].sum()) == int(n_targets.sum())
    assert set(tt.columns) >= {"direction", "model", "layer", "neural", "region", "target_id", "ev", "ev_sd", "r"}
    assert set(tt.loc[tt.direction == "reverse", "target_kind"]) == {"unit"}
    assert set(tt.loc[tt.direction == "forward", "target_kind"]) == {"neuroid"}


# ------------------------------------------------------------------------------ layer selection
def test_target_halves_deterministic_and_order_free():
    ids = [f"n{i:03d}" for i in range(21)]
    a = target_halves(ids, "forward/animalA/IT", seed=0)
    b = target_halves(ids[::-1], "forward/animalA/IT", seed=0)[::-1]
    assert a.sum() == 11 and np.array_equal(a, b)
    assert not np.array_equal(a, target_halves(ids, "forward/animalB/IT", seed=0))
    assert not np.array_equal(a, target_halves(ids, "forward/animalA/IT", seed=1))


def test_best_layer_is_chosen_on_selection_targets_only():
    ids = [f"n{i:02d}" for i in range(10)]
    sel = target_halves(ids, "forward/animalA/all", seed=0)
    rows = []
    # layer "early" wins on the selection half, layer "late" wins (by far) on the test half
    for layer, on_sel, on_test in (("early", 50.0, 10.0), ("late", 40.0, 90.0)):
        for i, s in zip(ids, sel):
            rows.append({"direction": "forward", "model": "net", "layer": layer, "neural": "animalA", "region": "all",
                         "target_id": i, "ev": on_sel if s else on_test})
    out = best_layers(pd.DataFrame(rows), seed=0)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["best_layer"] == "early"
    assert row["selection_ev"] == 50.0 and row["test_ev"] == 10.0  # reported on held-out targets
    assert row["n_selection"] == 5 and row["n_test"] == 5 and row["n_layers"] == 2
    # another seed splits differently but still never looks at the test half
    other = best_layers(pd.DataFrame(rows), seed=1).iloc[0]
    assert other["n_selection"] + other["n_test"] == 10


def test_sweep_best_layers_follow_the_selection_half(reference):
    tt, bl = reference.target_table, reference.best_layers
    groups = tt[tt.direction.isin(["forward", "reverse"])].groupby(["direction", "model", "neural", "region"]).ngroups
    assert len(bl) == groups
    for _, row in bl.iterrows():
        g = tt[(tt.direction == row.direction) & (tt.model == row.model) & (tt.neural == row.neural) & (tt.region == row.region)]
        crit = {}
        for layer, gl in g.groupby("layer", sort=False):
            key = f"forward/{row.neural}/{row.region}" if row.direction == "forward" else f"reverse/{row.model}/{layer}"
            half = target_halves(gl.target_id.to_numpy(), key, seed=0)
            crit[layer] = np.nanmedian(gl.ev.to_numpy()[half])
            if layer == row.best_layer:
                assert row.test_ev == pytest.approx(np.nanmedian(gl.ev.to_numpy()[~half]))
        assert row.best_layer == max(crit, key=crit.get)


# ------------------------------------------------------------------------------ configuration
def test_validate_config_errors(base_store):
    store = StudyStore(base_store, mode="r")
    with pytest.raises(SweepConfigError, match=r"unknown configuration keys \['rep'\]; accepted keys: .*'reps'"):
        validate_config({"rep": 3})
    with pytest.raises(SweepConfigError, match="reps must be an integer >= 1"):
        validate_config({"reps": "many"})
    with pytest.raises(SweepConfigError, match="reps must be an integer >= 1"):
        validate_config({"reps": 0})
    with pytest.raises(SweepConfigError, match="regressor must be one of"):
        validate_config({"regressor": "svm"})
    with pytest.raises(SweepConfigError, match="models must be a name or a list of names"):
        validate_config({"models": {"a": 1}})
    with pytest.raises(SweepConfigError, match="layers must be"):
        validate_config({"layers": [1, 2]})
    with pytest.raises(SweepConfigError, match="noise_ceiling must be true or false"):
        validate_config({"noise_ceiling": "yes"})
    with pytest.raises(SweepConfigError, match="n_workers must be a positive integer"):
        validate_config({"n_workers": 0})
    with pytest.raises(SweepConfigError, match="dtype must be"):
        validate_config({"dtype": "int8"})
    with pytest.raises(SweepConfigError, match=r"no models \['netZ'\]"):
        validate_config({"models": ["netZ"]}, store)
    ok = validate_config({"directions": "inter-animal", "reps": 4, "alphas": [1, 10]}, store)
    assert ok["directions"] == ["inter_animal"] and ok["alphas"] == [1.0, 10.0]


def test_sweep_argument_errors(base_store, tmp_path):
    path = _copy(base_store, tmp_path)
    with pytest.raises(SweepConfigError, match=r"unknown sweep arguments \['rep'\]"):
        sweep(path, client="serial", rep=2)
    with pytest.raises(SweepConfigError, match="torch_cuda"):
        sweep(path, client="serial", backend="torch_cuda", directions="forward", models="netA", layers="layer3")
    with pytest.raises(SweepConfigError, match="workers cannot open it"):
        sweep(StudyStore("memory://sweep-test.zarr"), client="tcp://127.0.0.1:1")
    with pytest.raises(SweepConfigError, match="on_error"):
        sweep(path, client="serial", on_error="ignore")


def test_load_config_yaml(tmp_path, base_store):
    store = StudyStore(base_store, mode="r")
    good = tmp_path / "good.yaml"
    good.write_text("models: [netA]\nlayers: {netA: [layer3]}\ndirections: [forward, reverse]\nregions: each\nreps: 2\nseed: 1\n")
    cfg = load_config(good, store)
    assert cfg["models"] == ["netA"] and cfg["regions"] == "each" and cfg["reps"] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [netA]\nrepz: 2\n")
    with pytest.raises(SweepConfigError, match=r"bad.yaml: unknown configuration keys \['repz'\]"):
        load_config(bad, store)
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [netA\n")
    with pytest.raises(SweepConfigError, match="not valid YAML"):
        load_config(broken)


def test_cli_sweep(base_store, tmp_path):
    path = _copy(base_store, tmp_path)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer1, layer3]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n")
    runner = CliRunner()
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress",
                                        "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "2 entries: 2 computed" in res.output and "Best layers" in res.output
    assert len(pd.read_csv(tmp_path / "t.csv")) == 2
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0 and "0 computed, 2 already in the store" in res.output
    cfg.write_text("models: [netA]\nlayerz: [layer1]\n")
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial"])
    assert res.exit_code != 0 and "unknown configuration keys ['layerz']" in res.output and "accepted keys" in res.output


# ------------------------------------------------------------------------------ metrics in sweeps
METRIC_KW = dict(layers={"netA": ["layer3"], "netB": ["fc"]}, regions=["all", "IT"], progress=False,
                 metric_options={"rsa": {"n_reps": 2}, "shape": {"alpha": 0.5}})
METRIC_BROKEN = ["shape/netB.fc__animalA.IT", "dimensionality/animalB"]


def _averaged(neu):
    m = neu.mean("repeat", skipna=True).transpose("stimulus", "neuroid")
    return xr.DataArray(m.values, dims=("stimulus", "unit"),
                        coords={"stimulus_id": ("stimulus", m["stimulus_id"].values.astype(str)),
                                "unit_id": ("unit", m["neuroid_id"].values.astype(str))})


def _metric_mtimes(path):
    out = {}
    for root, _, files in os.walk(path / "metrics"):
        if "zarr.json" in files and root.count(os.sep) - str(path / "metrics").count(os.sep) == 2:
            out[os.path.relpath(root, path / "metrics")] = os.stat(os.path.join(root, "zarr.json")).st_mtime_ns
    return out


def test_plan_metrics(base_store):
    store = StudyStore(base_store, mode="r")
    entries = plan_sweep(store, layers=METRIC_KW["layers"], directions=["rsa", "shape", "cka", "dimensionality", "forward"],
                         regions=["all", "IT"])
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys)) == 3 * 2 * 2 * 2 + (2 + 4) + 2 * 2 * 2
    assert {"crsa/netA.layer3__animalA.IT", "shape/netB.fc__animalB", "cka/netA.layer3__animalB.IT",
            "dimensionality/netB.fc", "dimensionality/animalA.IT", "forward/netB.fc__animalA"} <= set(keys)
    e = next(e for e in entries if e.key == "dimensionality/animalA.IT")
    assert e.is_metric and (e.neural, e.region, e.model, e.target) == ("animalA", "IT", None, "")
    assert not next(e for e in entries if e.direction == "forward").is_metric
    # rsa means the configured variant; the variants may also be named directly
    ersa = plan_sweep(store, models="netA", layers=["layer3"], neural="animalA", directions=["rsa", "ereg"],
                      metric_options={"rsa": {"variant": "ersa"}})
    assert [e.key for e in ersa] == ["ersa/netA.layer3__animalA", "ereg/netA.layer3__animalA"]


def test_metric_sweep_runs_and_resumes(base_store, tmp_path, monkeypatch):
    from neuroxr import geometry as geo
    from neuroxr.schemas import validate_store

    path = _copy(base_store, tmp_path)
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
    assert ms["value"].sel(model="netA", layer="fc").isnull().all()  # a layer of the other model
    # values equal the geometry functions on the same inputs
    store = StudyStore(path, mode="r")
    feats = store.read_features("netA", "layer3").load()
    neu = store.read_neural("animalA").load()
    it = neu.isel(neuroid=np.flatnonzero(neu["region"].values == "IT"))
    cell = dict(model="netA", layer="layer3", neural="animalA", region="IT")
    assert float(ms["value"].sel(metric="cka", **cell)) == pytest.approx(geo.cka(feats, _averaged(it)), rel=1e-10)
    crsa = geo.crsa(feats, it, n_reps=2)
    assert float(ms["value"].sel(metric="crsa", **cell)) == pytest.approx(float(crsa["score"]), rel=1e-10)
    assert float(ms["ceiling"].sel(metric="crsa", **cell)) == pytest.approx(float(crsa["ceiling"]), rel=1e-10)
    shape = store.read_metric("shape", "netA.layer3", "animalA.IT")
    assert shape.attrs["parameters"]["alpha"] == 0.5
    assert float(ms["train_value"].sel(metric="shape", **cell)) == float(shape["score"].sel(split="train"))
    assert np.isnan(float(ms["train_value"].sel(metric="cka", **cell)))
    assert float(ms["dimensionality"].sel(model="netB", layer="fc")) == pytest.approx(
        geo.effective_dimensionality(store.read_features("netB", "fc").load()), rel=1e-10)
    assert float(ms["neural_dimensionality"].sel(neural="animalB", region="all")) == pytest.approx(
        geo.effective_dimensionality(_averaged(store.read_neural("animalB").load())), rel=1e-10)
    assert validate_store(store) == []


def test_metric_sweep_on_a_cluster(base_store, tmp_path):
    distributed = pytest.importorskip("distributed")
    from neuroxr import geometry as geo

    path = _copy(base_store, tmp_path)
    kw = dict(models=["netB"], layers=["fc"], directions=["cka", "dimensionality", "forward"], reps=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        res = sweep(path, client=client, **kw)
    assert sorted(res.computed) == sorted(e.key for e in res.entries) and len(res.entries) == 2 + 3 + 2
    store = StudyStore(path, mode="r")
    assert store.is_complete("cache/gram/netB/fc")
    feats = store.read_features("netB", "fc").load()
    for neural_set in ("animalA", "animalB"):
        assert float(res.metrics["value"].sel(metric="cka", model="netB", layer="fc", neural=neural_set, region="all")) == \
            pytest.approx(geo.cka(feats, _averaged(store.read_neural(neural_set).load())), rel=1e-10)


def test_metric_config(base_store, tmp_path):
    store = StudyStore(base_store, mode="r")
    cfg = validate_config({"directions": ["forward", "rsa", "dimensionality"], "metric_options": {"rsa": {"variant": "ereg", "alpha": 1.0}}}, store)
    assert cfg["directions"] == ["forward", "rsa", "dimensionality"]
    with pytest.raises(SweepConfigError, match=r"unknown directions \['rdm'\]; choose from .* or the metrics"):
        validate_config({"directions": ["rdm"]})
    with pytest.raises(SweepConfigError, match=r"metric_options names unknown metrics \['rdm'\]"):
        validate_config({"metric_options": {"rdm": {}}})
    with pytest.raises(SweepConfigError, match="unknown RSA variant 'frsa'"):
        validate_config({"metric_options": {"rsa": {"variant": "frsa"}}})
    with pytest.raises(SweepConfigError, match=r"metric 'cka' takes no options \['alpha'\]"):
        validate_config({"metric_options": {"cka": {"alpha": 1}}})
    with pytest.raises(SweepConfigError, match="metric_options must be a mapping"):
        validate_config({"metric_options": ["cka"]})
    with pytest.raises(SweepConfigError, match=r"metric 'shape' takes no options \['debiased'\]"):
        sweep(_copy(base_store, tmp_path), client="serial", directions=["shape"], metric_options={"shape": {"debiased": True}})
    # the CLI: a YAML config with metrics prints them and writes their table next to the entry table
    path = _copy(base_store, tmp_path, "cli.zarr")
    yml = tmp_path / "metrics.yaml"
    yml.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [cka, dimensionality]\n"
                   "metric_options:\n  cka: {debiased: true}\n")
    res = CliRunner().invoke(sweep_command, [str(path), str(yml), "--scheduler", "serial", "--no-progress",
                                             "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "3 entries: 3 computed" in res.output and "Metrics (value" in res.output
    table = pd.read_csv(tmp_path / "t.metrics.csv")
    assert sorted(table["key"]) == ["cka/netA.layer3__animalA", "dimensionality/animalA", "dimensionality/netA.layer3"]
    assert StudyStore(path, mode="r").read_metric("cka", "netA.layer3", "animalA").attrs["debiased"] == 1
