"""Sweeps: distributed == serial, resume after failures, provenance-keyed skipping, the gathered
Dataset and tables, the tasks (one entry-engine call each)."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroxr import predictivity as directions
from neuroxr.attrs import decoded
from neuroxr.entries import list_entries, reads_gram, streams
from neuroxr.errors import NeuroxrWarning
from neuroxr.store import StudyStore
from neuroxr.sweep import ALL_REGIONS, PARAM_COLUMNS, SweepConfigError, SweepError, plan_sweep, sweep, target_halves
from neuroxr.sweep.tasks import entry_task

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


def _copy(base, tmp_path, name="study.zarr"):
    import shutil

    dst = tmp_path / name
    shutil.copytree(base, dst)
    return dst


BROKEN = ["forward/netA.layer3__animalB.IT", "reverse/animalA__netB.fc", "inter_animal/animalB__animalA"]


@pytest.fixture(scope="module")
def interrupted(sweep_base_store, tmp_path_factory):
    """A serial sweep whose tasks fail for BROKEN (as a killed run would leave it), then re-run."""
    path = _copy(sweep_base_store, tmp_path_factory.mktemp("ref"))
    os.environ["NEUROXR_SWEEP_FAIL"] = ",".join(BROKEN)
    try:
        with pytest.raises(SweepError) as info:
            sweep(path, client="serial", **SWEEP_KW)
    finally:
        del os.environ["NEUROXR_SWEEP_FAIL"]
    written = _written(path)
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


def _written(path):
    """Sweep keys of the complete score entries of a store."""
    df = list_entries(path)
    df = df[df["complete"] & (df["kind"] != "gram") & df["target"].notna()]
    return {f"{r.kind}/{r.source}__{r.target}" for r in df.itertuples()}


def _marker_mtimes(path):
    """Modification times of each score entry's metadata (rewritten when the entry is rewritten)."""
    df = list_entries(path)
    return {r.path: (path / r.path / "zarr.json").stat().st_mtime_ns
            for r in df[df["path"].str.startswith("scores/")].itertuples()}


def _entry(result, key):
    """The stored entry of a sweep result's row ``key`` (its store path is in the table)."""
    store = StudyStore(result.dataset.attrs["store"], mode="r")
    return store.read_dataset(result.table.set_index("key").at[key, "path"]).load()


# ------------------------------------------------------------------------------ serial vs distributed
def test_two_worker_cluster_equals_serial(sweep_base_store, tmp_path, reference):
    path = _copy(sweep_base_store, tmp_path)
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
    for e in res.entries:
        a, b = _entry(res, e.key), _entry(reference, e.key)
        np.testing.assert_allclose(a["ev"].values, b["ev"].values, rtol=1e-12, atol=1e-12)
        if e.neural is not None:
            side = "source" if e.direction == "reverse" else "target"
            assert a.attrs[f"{side}_region"] == e.region == "IT" and a.attrs[f"{side}_neural"] == e.neural
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


def test_interrupted_cluster_sweep_resumes(sweep_base_store, tmp_path, reference, monkeypatch):
    distributed = pytest.importorskip("distributed")
    path = _copy(sweep_base_store, tmp_path)
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


def test_overwrite_recomputes(sweep_base_store, tmp_path):
    path = _copy(sweep_base_store, tmp_path)
    kw = dict(models=["netA"], layers=["layer3"], neural=["animalA"], directions=["forward"], reps=2, progress=False)
    first = sweep(path, client="serial", **kw)
    again = sweep(path, client="serial", overwrite=True, **kw)
    assert first.computed == again.computed == ["forward/netA.layer3__animalA"]
    assert list(again.table["path"]) == list(first.table["path"])  # replaced in place: one entry
    assert len(list_entries(path).query("kind == 'forward'")) == 1


def test_overwrite_recomputes_inference_entries(sweep_copy):
    """overwrite=True rewrites the bootstrap entries of directions and metrics too, in place."""
    path = sweep_copy()
    kw = dict(models=["netA"], layers=["layer3"], neural=["animalA"], directions=["forward", "cka"], reps=2,
              progress=False, inference={"bootstrap": 3})

    def mtimes():
        df = list_entries(path)
        return {r.path: (path / r.path / "zarr.json").stat().st_mtime_ns
                for r in df[df["path"].str.startswith("inference/")].itertuples()}

    sweep(path, client="serial", **kw)
    before = mtimes()
    assert len(before) == 2  # forward_bootstrap and cka_bootstrap
    time.sleep(0.05)
    sweep(path, client="serial", overwrite=True, **kw)
    after = mtimes()
    assert set(after) == set(before)  # replaced in place, no second entry
    assert all(after[k] > before[k] for k in before)


def test_sweep_counts_the_inference_entries_it_computes(sweep_copy, monkeypatch):
    """Inference entries are counted by the rule of the score entries: computed by this run, or read
    back. A re-run reads every one back; after a fix (a raised revision) the stale ones are computed
    again and counted, while the score entries are read back."""
    from dataclasses import replace

    from neuroxr.entries import kinds

    path = sweep_copy()
    kw = dict(models=["netA"], layers=["layer3"], neural=["animalA"], directions=["forward", "cka"], reps=2,
              progress=False, inference={"bootstrap": 3, "permutations": 3})
    stale = ("forward_bootstrap", "cka_permutation")
    for kind in stale:  # as before a fix of these kinds
        monkeypatch.setitem(kinds.KINDS, kind, replace(kinds.KINDS[kind], revision=kinds.KINDS[kind].revision - 1))
    first = sweep(path, client="serial", **kw)
    paths = [*first.inference_table["bootstrap_path"], *first.inference_table["permutation_path"]]
    assert len(first.computed) == 2 and sorted(first.inference_computed) == sorted(paths) and len(paths) == 4
    assert first.inference_skipped == []
    again = sweep(path, client="serial", **kw)
    assert again.computed == again.inference_computed == [] and sorted(again.inference_skipped) == sorted(paths)
    assert again.summary().endswith("2 entries: 0 computed, 2 already in the store "
                                    f"({again.seconds:.1f} s); 4 inference entries: 0 computed, 4 already in the store.")
    monkeypatch.undo()  # the fixed release: the two kinds' entries are stale
    fixed = sweep(path, client="serial", **kw)
    assert fixed.computed == [] and len(fixed.skipped) == 2
    new = {p.split("/")[1]: p for p in fixed.inference_computed}
    assert sorted(new) == sorted(stale) and not set(new.values()) & set(paths)
    assert sorted(fixed.inference_skipped) == sorted(p for p in paths if p.split("/")[1] not in stale)
    assert "; 4 inference entries: 2 computed, 2 already in the store." in fixed.summary()
    current = list_entries(path).set_index("path")["current"]
    assert current[list(new.values())].all() and not current[[p for p in paths if p.split("/")[1] in stale]].any()


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
    s = _entry(reference, "forward/netA.layer3__animalA.IT")
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




# ------------------------------------------------------------------------------ parameter columns
def test_tables_carry_parameter_columns(reference):
    table = reference.table
    assert set(PARAM_COLUMNS) <= set(table.columns)
    # the sweep's arguments, per entry (model_to_model runs one rep with the default seed: without max_n
    # its reps are identical and the seed draws nothing)
    assert (table["regressor"] == "ridge").all()
    assert (table.loc[table.direction != "model_to_model", "reps"] == 2).all()
    assert (table.loc[table.direction != "model_to_model", "seed"] == 3).all()
    assert (table.loc[table.direction == "model_to_model", "reps"] == 1).all()
    assert (table.loc[table.direction == "model_to_model", "seed"] == 0).all()
    # and what each entry recorded in its provenance (the table's source)
    for _, row in table.sample(5, random_state=0).iterrows():
        prov = _entry(reference, row.key).pipe(decoded).attrs["neuroxr_provenance"]["params"]
        for k in ("reps", "seed", "regressor", "alpha", "n_folds", "dtype"):
            assert row[k] == prov.get(k), (row.key, k)
    assert (table.loc[table.direction == "model_to_model", "split"].isna()).all()  # it takes no ceiling


# ------------------------------------------------------------------------------ the tasks
def test_gram_rule_is_the_engines():
    # the sweep runs a Gram task exactly where the engine reads the Gram
    assert reads_gram("forward", {}) == streams("forward", {}) is True
    assert not reads_gram("forward", {"max_n": 10}) and not reads_gram("forward", {"regressor": "pls"})
    assert not reads_gram("reverse", {}) and not reads_gram("inter_animal", {}) and not reads_gram("model_to_model", {})
    assert reads_gram("cka", {}) and reads_gram("crsa", {}) and reads_gram("rsa", {}) and not reads_gram("shape", {})
    assert not reads_gram("dimensionality", {}, source_kind="neural")


@pytest.mark.parametrize("regressor", ["ridge", "pls"])
def test_entry_task_equals_the_direction_function(sweep_copy, regressor):
    path = sweep_copy()
    store = StudyStore(path, mode="a")
    (entry,) = plan_sweep(store, models="netA", layers=["layer3"], neural="animalA", directions="forward", regions=["IT"])
    params = {"reps": 2, "seed": 1, "regressor": regressor, **({"n_components": 5} if regressor == "pls" else {})}
    first = entry_task(str(path), None, entry, params, False, 1, None)
    again = entry_task(str(path), None, entry, params, False, 1, None)
    assert first["status"] == "computed" and again["status"] == "skipped" and again["path"] == first["path"]
    got = store.read_dataset(first["path"]).load()
    assert got.attrs["target_region"] == "IT" and bool(got.attrs["streamed"]) == (regressor == "ridge")
    # the same score computed here, from the loaded arrays (no Gram, no store)
    neu = store.read_neural("animalA").load()
    it = neu.isel(neuroid=np.flatnonzero(neu["region"].values == "IT"))
    want = directions.forward(store.read_features("netA", "layer3").load(), it, **params)
    np.testing.assert_allclose(got["ev"].values, want["ev"].values, rtol=1e-7, atol=1e-7)


# ------------------------------------------------------------------------------ skipping by provenance
def test_other_parameters_compute_new_entries_beside_the_old(sweep_copy):
    path = sweep_copy()
    kw = dict(models=["netA"], layers=["layer3"], directions=["forward", "reverse"], progress=False)
    first = sweep(path, client="serial", reps=2, **kw)
    assert len(first.computed) == 4 and not first.skipped
    again = sweep(path, client="serial", reps=2, **kw)
    assert not again.computed and len(again.skipped) == 4
    other = sweep(path, client="serial", reps=3, seed=1, alpha=10, **kw)
    assert len(other.computed) == 4 and not other.skipped
    assert (other.table["reps"] == 3).all() and (other.table["alpha"] == 10.0).all() and (other.table["seed"] == 1).all()
    # both runs' entries are kept, each read back by its own parameters
    df = list_entries(path)
    assert len(df[df["kind"] == "forward"]) == 4 and len(df[df["kind"] == "reverse"]) == 4
    back = sweep(path, client="serial", reps=2, **kw)
    assert not back.computed
    pd.testing.assert_frame_equal(back.table, first.table)
    assert set(back.table["path"]).isdisjoint(other.table["path"])


def test_rewritten_set_is_recomputed(sweep_copy):
    path = sweep_copy()
    kw = dict(models=["netA"], layers=["layer3"], neural=["animalA"], directions=["forward", "reverse", "cka"],
              reps=2, progress=False)
    first = sweep(path, client="serial", **kw)
    assert len(first.computed) == 3
    store = StudyStore(path, mode="a")
    neu = store.read_neural("animalA").load()
    store.write_neural("animalA", neu * 2.0 + 1.0)  # same name, new version
    after = sweep(path, client="serial", **kw)
    assert sorted(after.computed) == sorted(first.computed) and not after.skipped
    feats = store.read_features("netA", "layer3").load()
    store.write_features("netA", "layer3", feats[:, ::-1].copy())
    assert len(sweep(path, client="serial", **kw).computed) == 3


def test_a_rewritten_layer_recomputes_exactly_the_entries_that_read_it(sweep_copy):
    """Every direction and metric that reads the layer (model-to-model both ways, its Gram and
    dimensionality) is computed again, every other entry is read back, and the numbers equal a
    sweep of a fresh store holding the same sets."""
    kw = dict(layers={"netA": ["layer3"], "netB": ["fc"]}, neural=["animalA", "animalB"], reps=2, progress=False,
              directions=["forward", "inter_animal", "model_to_model", "cka", "dimensionality"])
    path, fresh = sweep_copy("a.zarr"), sweep_copy("b.zarr")
    first = sweep(path, client="serial", **kw)
    for p in (path, fresh):
        store = StudyStore(p, mode="a")
        store.write_features("netB", "fc", store.read_features("netB", "fc").load() * 2.0 + 1.0)
    grams = {g for g in list_entries(path)["path"] if g.startswith("cache/gram/")}
    after = sweep(path, client="serial", **kw)
    reads = sorted(k for k in first.computed if "netB.fc" in k)
    assert 0 < len(reads) < len(first.computed)
    assert sorted(after.computed) == reads and sorted(after.skipped) == sorted(set(first.computed) - set(reads))
    new_grams = {g for g in list_entries(path)["path"] if g.startswith("cache/gram/")} - grams
    assert [g.rsplit("/", 1)[0] for g in new_grams] == ["cache/gram/netB/fc"]
    ref = sweep(fresh, client="serial", **kw)
    drop = ["path"]
    pd.testing.assert_frame_equal(after.table.drop(columns=drop), ref.table.drop(columns=drop))
    pd.testing.assert_frame_equal(after.metric_table.drop(columns=drop), ref.metric_table.drop(columns=drop))


def test_summaries_count_included_targets_only(sweep_copy):
    path = sweep_copy()
    kw = dict(models=["netA"], layers=["layer1", "layer3"], neural=["animalA"], directions=["forward"], reps=2,
              progress=False)
    plain = sweep(path, client="serial", **kw)
    strict = sweep(path, client="serial", min_reliability=0.5, **kw)
    assert len(strict.computed) == 2  # min_reliability is a parameter: new entries
    tt = strict.target_table
    assert tt["included"].dtype == bool and (~tt["included"]).any() and tt["included"].any()
    assert plain.target_table["included"].all()
    for key, g in tt.groupby(tt["direction"] + "/" + tt["source"] + "__" + tt["target"]):
        row = strict.table.set_index("key").loc[key]
        inc = g[g["included"]]
        assert row["n_targets"] == len(inc) < len(g)
        assert row["median_ev"] == pytest.approx(float(np.nanmedian(inc["ev"])))
        stored = _entry(strict, key)
        np.testing.assert_array_equal(stored["included"].values, g["included"].values)
    ds = strict.dataset["ev"].sel(direction="forward", model="netA", neural="animalA", region="all")
    np.testing.assert_allclose(ds.sel(layer="layer3"), strict.table.set_index("key").at["forward/netA.layer3__animalA", "median_ev"])
    assert (strict.best_layers["n_selection"] + strict.best_layers["n_test"]
            == int(tt[tt.layer == strict.best_layers["best_layer"].iloc[0]]["included"].sum())).all()


def test_cluster_submits_the_longest_entries_first(sweep_copy, monkeypatch):
    """The entry tasks reach the scheduler by decreasing cost estimate (no timing)."""
    import importlib

    import distributed

    cluster = importlib.import_module("neuroxr.sweep.cluster")
    from neuroxr.sweep.plan import entry_cost, set_sizes

    submitted = []

    class _Client:
        def submit(self, fn, *args, key, pure):
            submitted.append(args[2] if fn is entry_task else None)
            return object()

        def scheduler_info(self):
            return {"workers": {}}

    class _Stop(Exception):
        pass

    def stop(futures):
        raise _Stop

    monkeypatch.setattr(cluster, "connect", lambda *a: (_Client(), []))
    monkeypatch.setattr(distributed, "as_completed", stop)
    path = sweep_copy()
    with pytest.raises(_Stop):
        sweep(path, directions=["cka", "forward", "inter_animal"], reps=2, progress=False, client="tcp://127.0.0.1:1",
              gram_spread=False)
    entries = [e for e in submitted if e is not None]
    store = StudyStore(path, mode="r")
    planned = plan_sweep(store, directions=["cka", "forward", "inter_animal"])
    assert sorted(e.key for e in entries) == sorted(e.key for e in planned)
    sizes = set_sizes(store, planned)
    costs = [entry_cost(e, {"reps": 2}, sizes) for e in entries]
    assert costs == sorted(costs, reverse=True) and costs[0] > costs[-1]
    assert entries[0].direction != "cka" and entries[-1].direction == "cka"


def test_sweep_refuses_a_missing_store(tmp_path):
    from neuroxr.errors import StoreError

    typo = tmp_path / "typo.zarr"
    with pytest.raises(StoreError, match="no study store at .*typo.zarr.*check the path"):
        sweep(typo, client="serial", progress=False)
    assert not typo.exists()


def test_repeated_names_run_each_entry_once(sweep_copy):
    """A repeated neural set with a metric: one row per entry, and the metric tables gather."""
    res = sweep(sweep_copy(), client="serial", models="netA", layers=["layer3"], neural=["animalA", "animalA"],
                directions=["forward", "cka"], reps=1, progress=False)
    assert list(res.table["key"]) == ["forward/netA.layer3__animalA"]
    assert list(res.metric_table["key"]) == ["cka/netA.layer3__animalA"]
    assert not res.target_table.duplicated(["key", "target_id"] if "key" in res.target_table else ["source", "target", "target_id"]).any()


M2M = dict(models=["netA", "netB"], layers={"netA": ["layer3"], "netB": ["fc"]}, directions=["model_to_model"],
           progress=False)


@pytest.mark.parametrize("arg", [dict(noise_ceiling=True), dict(min_reliability=0.3), dict(split="slots"), dict(reps=5),
                                 dict(seed=7)])
def test_score_arguments_no_planned_direction_takes_are_refused(sweep_copy, arg):
    """model_to_model alone takes no ceiling arguments, nor reps or seed without max_n: refused before any work."""
    path = sweep_copy()
    (name,) = arg
    with pytest.raises(SweepConfigError, match=rf"^sweep: {name} has no effect with the sweep's directions \['model_to_model'\]"):
        sweep(path, client="serial", **M2M, **arg)
    assert not list_entries(path)["path"].str.startswith("scores/").any()


def test_score_arguments_written_out_at_their_defaults_are_accepted(sweep_copy):
    """A config template that writes out the defaults (noise_ceiling: null, seed: 0, reps: 20, split:
    valid) changes nothing, so a model_to_model sweep takes it as it takes none."""
    path = sweep_copy()
    res = sweep(path, client="serial", **M2M, noise_ceiling=None, seed=0, reps=20, split="valid", min_reliability=None)
    plain = sweep(path, client="serial", **M2M)
    assert list(res.table["path"]) == list(plain.table["path"]) and not plain.computed


def test_score_arguments_apply_where_a_direction_takes_them(sweep_copy):
    """With mixed directions an argument applies to the entries that take it, the others run without it."""
    res = sweep(sweep_copy(), client="serial", **{**M2M, "directions": ["model_to_model", "forward"]}, neural="animalA",
                noise_ceiling=True, reps=2)
    t = res.table.set_index("key")
    assert (t.loc[t["direction"] == "forward", "reps"] == 2).all()
    assert (t.loc[t["direction"] == "model_to_model", "reps"] == 1).all()


def test_temporal_generalization_and_inference_that_do_nothing_are_refused(sweep_copy):
    path = sweep_copy()
    one = dict(models="netA", layers=["layer3"], neural="animalA", client="serial", progress=False, reps=1)
    with pytest.raises(SweepConfigError, match=r"temporal_generalization=True has no effect without a time-resolved"):
        sweep(path, directions="forward", temporal_generalization=True, **one)
    with pytest.raises(SweepConfigError, match=r"temporal_generalization=True has no effect with the sweep's directions \['reverse'\]"):
        sweep(path, directions="reverse", temporal_generalization=True, **one)
    for inference in ({"level": 0.9}, {"bootstrap": 0, "permutations": 0}):
        with pytest.raises(SweepConfigError, match=r"inference asks for no entries"):
            sweep(path, directions="forward", inference=inference, **one)
    with pytest.raises(SweepConfigError, match=r"^sweep: inference has no effect with the sweep's directions \['dimensionality'\]"):
        sweep(path, directions="dimensionality", inference={"bootstrap": 2}, **{k: v for k, v in one.items() if k != "reps"})
    assert not list_entries(path)["path"].str.startswith(("scores/", "metrics/", "inference/")).any()


def test_a_sweep_on_a_cached_store_sees_a_layer_rewritten_since_the_last_sweep(sweep_copy):
    """sweep() given a cached store that earlier sweeps used: a layer rewritten by another writer in
    between is computed again (never skipped on the old token) and the value is the new layer's."""
    from neuroxr.entries import compute

    path = sweep_copy()
    cached = StudyStore(path, cache=True)
    kw = dict(models=["netB"], layers=["fc"], neural=["animalA"], directions=("cka",), client="serial", progress=False)
    first = sweep(cached, **kw)
    other = StudyStore(path)
    f = other.read_features("netB", "fc").load()
    other.write_features("netB", "fc", np.tanh(3 * f).assign_attrs(f.attrs))
    second = sweep(cached, **kw)
    fresh = compute(StudyStore(path), "cka", "netB.fc", "animalA")
    assert second.computed == first.computed == ["cka/netB.fc__animalA"] and not fresh.computed
    assert float(second.metric_table["value"].iloc[0]) == float(fresh.dataset["score"])
    assert float(second.metric_table["value"].iloc[0]) != float(first.metric_table["value"].iloc[0])


def test_gather_decodes_each_entrys_parameters_once(sweep_copy, monkeypatch):
    """Gathering reads each entry's parameters (its provenance, JSON attrs) once, for its table rows and
    the Datasets' shared attrs alike."""
    import importlib

    gather_module = importlib.import_module("neuroxr.sweep.gather")  # the package's name gather is the function

    path = sweep_copy()
    one = dict(models="netA", layers=["layer3"], neural="animalA", client="serial", progress=False)
    sweep(path, directions=["forward", "reverse", "cka"], reps=2, **one)
    decoded_ids, real = [], gather_module._params

    def counting(ds):
        decoded_ids.append(id(ds))
        return real(ds)

    monkeypatch.setattr(gather_module, "_params", counting)
    res = sweep(path, directions=["forward", "reverse", "cka"], reps=2, **one)  # read back and gathered
    assert len(res.skipped) == 3 and len(res.table) == 2 and len(res.metric_table) == 1
    assert len(decoded_ids) == 3
    assert res.dataset.attrs["reps"] == 2 and res.table["reps"].tolist() == [2, 2]


def test_a_failed_layer_leaves_its_groups_without_a_best_layer(sweep_base_store, tmp_path, monkeypatch):
    """With on_error="warn" a failed layer had no row, and best_layers chose among the layers left
    (the best of those, not of the layers asked for; only n_layers said so)."""
    path = _copy(sweep_base_store, tmp_path)
    kw = dict(models=["netA"], neural=["animalA", "animalB"], directions=["forward"], reps=2, progress=False)
    monkeypatch.setenv("NEUROXR_SWEEP_FAIL", "forward/netA.layer3__animalA")
    with pytest.warns(NeuroxrWarning, match=r"best_layers: a layer of forward netA -> animalA failed, so no best layer"):
        res = sweep(path, client="serial", on_error="warn", **kw)
    assert list(res.failed) == ["forward/netA.layer3__animalA"]
    best = res.best_layers.set_index("neural")
    assert pd.isna(best.loc["animalA", "best_layer"]) and np.isnan(best.loc["animalA", "test_ev"])
    assert best.loc["animalB", "best_layer"] in ("layer1", "layer3") and np.isfinite(best.loc["animalB", "test_ev"])


def test_a_failed_gram_fails_only_the_entries_that_need_it_in_a_serial_sweep(sweep_copy, monkeypatch):
    """A serial sweep computed every Gram before any entry, outside the per-entry handling: one layer
    whose Gram failed raised out of the sweep (on_error ignored) and nothing was computed. As on a
    cluster, the entries that read that Gram fail and every other entry is computed."""
    from neuroxr.sweep import run as run_module

    gram_task = run_module.gram_task

    def failing(url, options, model, layer, *args):
        if (model, layer) == ("netA", "layer1"):
            raise RuntimeError("a chunk that does not decode")
        return gram_task(url, options, model, layer, *args)

    monkeypatch.setattr(run_module, "gram_task", failing)
    kw = dict(models=["netA"], neural=["animalA"], directions=["forward", "cka"], reps=2, progress=False)
    with pytest.warns(NeuroxrWarning, match="failed"):
        res = sweep(sweep_copy(), client="serial", on_error="warn", **kw)
    assert sorted(res.failed) == ["cka/netA.layer1__animalA", "forward/netA.layer1__animalA"]
    assert all("a chunk that does not decode" in v for v in res.failed.values())
    assert sorted(res.computed) == ["cka/netA.layer3__animalA", "forward/netA.layer3__animalA"]


def test_an_entry_that_fails_its_overwrite_shows_no_number_of_the_copy_it_was_to_replace(sweep_copy, monkeypatch):
    """overwrite=True and a failed entry (on_error="warn"): the tables read the older copy that the
    run was to replace, unmarked, while best_layers left its group out."""
    path = sweep_copy()
    kw = dict(models=["netA"], neural=["animalA"], directions=["forward"], reps=2, progress=False, client="serial")
    first = sweep(path, **kw)
    monkeypatch.setenv("NEUROXR_SWEEP_FAIL", "forward/netA.layer1__*")
    with pytest.warns(NeuroxrWarning):
        res = sweep(path, overwrite=True, on_error="warn", **kw)
    assert list(res.failed) == ["forward/netA.layer1__animalA"]
    assert res.table["layer"].tolist() == ["layer3"] and first.table["layer"].tolist() == ["layer1", "layer3"]
    assert np.isnan(res.dataset["ev"].sel(direction="forward", model="netA", layer="layer1", neural="animalA",
                                          region="all").item())
    assert "layer1" not in set(res.target_table["layer"])


def test_a_sweep_leaves_out_the_halves_options_of_a_trial_averaged_set(sweep_base_store, tmp_path):
    """A sweep's seed, split and min_reliability serve every set; on a trial-averaged one they draw or
    judge nothing, and the direction refuses them from a direct request: they are left out of its
    entries (as crsa's), min_reliability out of its inference entries too."""
    path = _copy(sweep_base_store, tmp_path)
    st = StudyStore(path)
    st.write_neural("averaged", st.read_neural("animalA").mean("repeat", keep_attrs=True).expand_dims("repeat", axis=-1)
                    .assign_coords(repeat=[0]))
    kw = dict(models=["netA"], layers=["layer3"], neural=["animalA", "averaged"], directions=["forward", "reverse"],
              reps=2, seed=5, split="slots", min_reliability=0.1, inference={"bootstrap": 10}, progress=False)
    res = sweep(path, client="serial", **kw)
    assert not res.failed and len(res.computed) == 4 and len(res.inference_table) == 4
    params = {r.key: decoded(st.read_dataset(r.path)).attrs["parameters"] for r in res.table.itertuples()}
    for key, p in params.items():
        want = ("valid", 0, None) if "averaged" in key else ("slots", 5, 0.1)
        assert (p["split"], p["seed"], p["min_reliability"]) == want, key
    for path_ in res.inference_table["bootstrap_path"]:  # min_reliability judges no ceiling there either
        p = decoded(st.read_dataset(path_)).attrs["parameters"]
        assert p["min_reliability"] == (None if "averaged" in path_ else 0.1), path_
    assert sweep(path, client="serial", **kw).computed == []  # resumed: the same keys


@pytest.mark.parametrize("when", ["after the first entry", "after the lookups"])
def test_a_set_rewritten_while_the_sweep_runs_is_refused_not_mixed(sweep_copy, monkeypatch, when):
    """A neural set rewritten while a sweep ran (another process fixing its preprocessing): the result
    mixed entries of both versions (layers scored on the old data, the others on the new), and
    best_layers compared them; exit status 0, no word. Now refused in one line naming the set, and a
    re-run computes the stale entries from the current set."""
    from neuroxr.store import StudyStore
    from neuroxr.sweep import SweepError, sweep
    from neuroxr.sweep import run as R

    path = str(sweep_copy())
    kw = dict(models=["netA"], neural=["animalA"], directions=["forward"], client="serial", reps=2)
    old = StudyStore(path, mode="r").read_neural("animalA")
    new = old.copy(data=old.values[:, :, ::-1])  # the repeats in another order: other split halves, same ids

    def rewrite():
        StudyStore(path).write_neural("animalA", new)

    if when == "after the lookups":
        sweep(path, **kw, progress=False)  # the store holds every entry: the sweep only looks them up
        real = R.read_reused
        monkeypatch.setattr(R, "read_reused", lambda *a: (real(*a), rewrite())[0])
        progress = False
    else:
        done = []
        progress = lambda key: done.append(key) or (len(done) == 1 and rewrite())  # noqa: E731
    if when == "after the lookups":
        match = (r"^sweep: set rewritten while the sweep ran, so its entries would mix two versions; "
                 r"entries computed from the previous version: neural/animalA \(\d, e\.g\. scores/forward/")
    else:  # the next entry's compute meets the rewrite (planning reads the set's metadata, not the set)
        match = (r"^1 of 2 sweep entries failed .*\n.*set 'neural/animalA' was rewritten while entry "
                 r"'scores/forward/.*' was computed from it; the result may mix two versions and was not stored")
    with pytest.raises(SweepError, match=match):
        sweep(path, **kw, progress=progress)
    monkeypatch.undo()
    again = sweep(path, **kw, progress=False)  # the stale entries are computed from the current set
    current = list_entries(path)
    assert set(again.table.path) <= set(current[current.current].path)
    assert len(again.table) == 2


def test_a_rerun_reads_each_reused_entry_once(sweep_copy, monkeypatch):
    """The entries a re-run reuses are read once (for the damage check and the tables alike): the tables
    were built from a second read of every entry, the one the reuse check had made being dropped."""
    path = sweep_copy()
    one = dict(models="netA", layers=["layer3"], neural="animalA", client="serial", progress=False)
    first = sweep(path, directions=["forward", "reverse", "cka"], reps=2, **one)
    reads, real = [], StudyStore.read_dataset

    def counting(self, found, *args, **kwargs):
        reads.append(getattr(found, "path", found))
        return real(self, found, *args, **kwargs)

    monkeypatch.setattr(StudyStore, "read_dataset", counting)
    again = sweep(path, directions=["forward", "reverse", "cka"], reps=2, **one)
    assert len(again.skipped) == 3 and not again.computed
    assert sorted(reads) == sorted([*again.table["path"], *again.metric_table["path"]])
    pd.testing.assert_frame_equal(again.table, first.table)
    pd.testing.assert_frame_equal(again.metric_table, first.metric_table)


def test_a_rerun_recomputes_exactly_its_damaged_entries(sweep_copy):
    """Among the entries a re-run finds (looked up together), one that lost a variable and one whose chunk no
    longer decodes are computed again, and only they; the tables are the first run's."""
    import glob
    import shutil
    import warnings

    path = sweep_copy()
    kw = dict(models="netA", layers=["layer1", "layer3"], neural="animalA", directions=["forward", "reverse", "cka"],
              reps=2, client="serial", progress=False)
    first = sweep(path, **kw)
    rows = first.table.set_index("key")
    lost, garbled = rows.at["forward/netA.layer1__animalA", "path"], rows.at["reverse/animalA__netA.layer3", "path"]
    shutil.rmtree(path / lost / "r")
    chunk = sorted(c for c in glob.glob(str(path / garbled / "ev" / "c" / "**"), recursive=True) if os.path.isfile(c))[0]
    with open(chunk, "rb") as f:
        data = f.read()
    with open(chunk, "wb") as f:
        f.write(data[: len(data) // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        again = sweep(path, **kw)
    assert sorted(again.computed) == ["forward/netA.layer1__animalA", "reverse/animalA__netA.layer3"]
    assert sorted(again.skipped) == sorted(set(e.key for e in again.entries) - set(again.computed))
    pd.testing.assert_frame_equal(again.table, first.table)
    pd.testing.assert_frame_equal(again.metric_table, first.metric_table)
    assert sweep(path, **kw).computed == []


def test_a_reused_entry_is_read_here_not_through_the_default_scheduler(tmp_path):
    """A sweep reads each reused entry into memory; with a distributed client as dask's default scheduler its
    small arrays were computed there (shipped to a worker and back); now they are read in this process."""
    import dask

    from neuroxr.entries import compute
    from neuroxr.layouts import features, neural
    from neuroxr.sweep.tasks import read_or_damage

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(12)]
    st = StudyStore(str(tmp_path / "s.zarr"))
    st.write_features("net", "l1", features(rng.normal(size=(12, 5)), ids))
    st.write_neural("A", neural(rng.normal(size=(12, 3, 2)), ids))
    path = compute(st, "forward", "net.l1", "A", params={"reps": 2, "n_folds": 3}).path
    used = []

    def elsewhere(dsk, keys, **kwargs):  # a stand-in for a distributed client's get
        used.append(len(dsk))
        return dask.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=elsewhere):
        got = read_or_damage(StudyStore(st.url, mode="r"), path)
    assert used == [] and np.isfinite(got["ev"].values).any()


def test_a_rerun_in_a_fresh_process_reads_the_entries_it_reuses(sweep_copy):
    """A re-run reads the entries it reuses on several threads. In a new process, where nothing had
    imported Dask yet, each reader's first ``import dask.array`` met the others' half-done import and the
    re-run stopped on an intact entry ("cannot be opened (ImportError ...); rewrite it")."""
    import subprocess
    import sys
    from pathlib import Path

    path = sweep_copy()
    kw = dict(directions=["forward", "crsa"], models=["netA"], client="serial", reps=2, seed=0, progress=False)
    first = sweep(path, **kw)
    code = ("import sys, neuroxr as nx; assert 'dask' not in sys.modules; "
            f"r = nx.sweep({str(path)!r}, **{kw!r}); print(len(r.computed), len(r.skipped))")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.split() == ["0", str(len(first.computed))] and first.computed


@pytest.mark.parametrize("cache_bytes", [None, 0])
def test_an_object_store_rerun_reads_each_reused_entry_and_recomputes_a_damaged_one(s3_server, s3_study, cache_bytes):
    """On an object store a re-run's lookup reads each matching entry in one batch, kept for the read of its
    tables, and finds its damage from the keys read: an entry that lost a chunk is computed again, and only it.
    With a cache that keeps nothing (``cache_bytes=0``: the batch is gone before that read) each reused entry is
    read again, never refused; the tables are the first run's."""
    import warnings

    import s3fs

    options, _ = s3_server
    st = s3_study()  # neural set mA, layer net.l1
    url = st.url
    kw = dict(models="net", layers=["l1"], neural="mA", directions=["forward", "cka"], reps=2, client="serial",
              progress=False)
    first = sweep(st, **kw)
    lost = first.table.set_index("key").at["forward/net.l1__mA", "path"]
    fs = s3fs.S3FileSystem(**options)
    fs.rm(sorted(fs.find(f"{url[5:]}/{lost}/ev/c"))[0])
    store = StudyStore(url, storage_options=options, cache=True, **({} if cache_bytes is None else {"cache_bytes": cache_bytes}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        again = sweep(store, **kw)
    assert again.computed == ["forward/net.l1__mA"] and again.skipped == ["cka/net.l1__mA"]
    pd.testing.assert_frame_equal(again.table, first.table)
    pd.testing.assert_frame_equal(again.metric_table, first.metric_table)
    assert sweep(store, **kw).computed == []


def test_a_failure_of_the_data_names_its_fix_not_a_bare_re_run(tmp_path):
    """Two sessions sharing some of their stimuli: inter-animal fails the same way on every run. Before, the error
    said to re-run the sweep to compute the missing entries, as after a kill. (Sessions sharing no stimulus are
    left out up front: test_pairs_of_sets_without_a_common_stimulus_are_left_out_up_front.)"""
    from neuroxr.layouts import neural

    rng = np.random.default_rng(0)
    st = StudyStore(tmp_path / "s.zarr")
    for name, first in (("a", 0), ("b", 2)):
        st.write_neural(name, neural(rng.normal(size=(12, 4, 3)), [f"img{i:02d}" for i in range(first, first + 12)]))
    with pytest.raises(SweepError) as err:
        sweep(st, directions=["inter_animal"], client="serial", reps=2, progress=False)
    assert sorted(err.value.failed) == ["inter_animal/a__b", "inter_animal/b__a"]
    msg = str(err.value)
    assert "fix what each line names, or leave those entries out of the sweep (models, layers, neural, directions)" in msg
    assert "Cannot pair by stimulus_id" in msg


def test_the_package_names_gather_and_gather_metrics_read_a_sweeps_entries_back(sweep_copy):
    """``from neuroxr.sweep import gather`` gave the submodule ``neuroxr.sweep.gather`` once a sweep had been
    imported (the import system sets a package attribute per submodule), so the documented call failed with
    'module' object is not callable. The package's ``gather`` is the function, and it reads back what the sweep
    gathered."""
    import importlib

    from neuroxr.sweep import gather, gather_metrics

    package = importlib.import_module("neuroxr.sweep")
    assert callable(gather) and gather is package.gather is importlib.import_module("neuroxr.sweep.gather").gather
    path = sweep_copy()
    kw = dict(models="netA", layers=["layer3"], neural="animalA", directions=["forward", "cka"], reps=2)
    res = sweep(path, client="serial", progress=False, **kw)
    store = StudyStore(path)
    entries = plan_sweep(store, kw["models"], kw["layers"], kw["neural"], kw["directions"])
    _, table, _ = gather(store, [e for e in entries if not e.is_metric], score_kwargs={"reps": 2})
    pd.testing.assert_frame_equal(table, res.table)
    _, metric_table = gather_metrics(store, [e for e in entries if e.is_metric])
    pd.testing.assert_frame_equal(metric_table, res.metric_table)


def _read_only_tree(path, dirs_mode: int, files_mode: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), dirs_mode if name in dirs else files_mode)
    os.chmod(path, dirs_mode)


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
def test_a_sweep_on_a_read_only_store_says_so_as_the_sweep_before_computing(tmp_path):
    """A store opened read-only (``mode='r'``) or that this user cannot write: a sweep with entries to
    compute is refused in one line starting ``sweep:``, before any entry is computed, never a bare
    ``PermissionError`` or the store's advice alone; one whose entries are all stored gathers them."""
    import shutil
    import subprocess
    import sys

    from conftest import latent_study

    from neuroxr.errors import StoreError

    st, *_ = latent_study(tmp_path / "s.zarr", layers=("l1", "l2"))
    sweep(st.url, layers="l1", directions="forward", client="serial", progress=False, reps=2)
    with pytest.raises(StoreError) as err:
        sweep(StudyStore(st.url, mode="r"), directions="forward", client="serial", progress=False, reps=2)
    msg = str(err.value)
    assert msg.startswith("sweep: ") and "read-only" in msg and "mode='a'" in msg and "\n" not in msg, msg
    assert "1 of the sweep's 2 entries" in msg and len(list_entries(st.url).query("kind == 'forward'")) == 1
    held = sweep(StudyStore(st.url, mode="r"), layers="l1", directions="forward", client="serial", progress=False,
                 reps=2)
    assert len(held.skipped) == 1 and held.computed == []
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: without the capability that lets it
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file capabilities")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    code = ("import neuroxr as nx\n"
            "try:\n"
            f"    nx.sweep({st.url!r}, directions='forward', client='serial', progress=False, reps=2)\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    _read_only_tree(st.url, 0o555, 0o444)
    try:
        out = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    finally:
        _read_only_tree(st.url, 0o755, 0o644)
    assert out.startswith("StoreError sweep: ") and "read-only for this user" in out and "permissions" in out, out
    assert "Errno" not in out and len(out.strip().splitlines()) == 1, out


def test_pairs_of_sets_without_a_common_stimulus_are_left_out_up_front(tmp_path):
    """Two recordings of other images (two sessions): a pair of sets sharing no stimulus was an entry that failed
    in the graph after the others ran (``Cannot pair by stimulus_id``, the sweep then an error); it is left out
    before any work, said in one warning naming the entries, and a sweep of such pairs only is refused in one line."""
    import warnings

    from neuroxr.layouts import features, neural

    rng = np.random.default_rng(0)
    ids_a, ids_b = [f"a/s{i:02d}" for i in range(20)], [f"b/s{i:02d}" for i in range(20)]
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neural(rng.normal(size=(20, 4, 4)), ids_a, [f"a{j}" for j in range(4)]))
    st.write_neural("mB", neural(rng.normal(size=(20, 4, 4)), ids_b, [f"b{j}" for j in range(4)]))
    st.write_features("net", "l1", features(rng.normal(size=(20, 6)), ids_a))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sweep(st.url, directions=["forward", "inter_animal"], client="serial", progress=False, reps=2)
    said = [str(w.message) for w in caught if issubclass(w.category, NeuroxrWarning) and "no stimulus" in str(w.message)]
    assert len(said) == 1 and "\n" not in said[0], said
    assert said[0].startswith("the sweep leaves out 3 entries whose sets share no stimulus") and all(
        k in said[0] for k in ("forward/net.l1__mB", "inter_animal/mA__mB", "inter_animal/mB__mA")), said[0]
    assert res.computed == ["forward/net.l1__mA"] and not res.failed
    assert list(list_entries(st.url).query("kind != 'gram'").target) == ["mA"]
    with pytest.raises(SweepConfigError, match=r"^sweep: the sweep has no entries: 1 entry whose sets share no "
                                               r"stimulus \['forward/net\.l1__mB'\]; select sets recorded") as err:
        sweep(st.url, neural="mB", directions="forward", client="serial", progress=False, reps=2)
    assert "\n" not in str(err.value)
