"""The ``neuroxr`` command line (click's CliRunner)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neuroxr
from neuroxr import entries as nx_entries
from neuroxr.attrs import decoded
from neuroxr.cli import main
from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    store = StudyStore(tmp_path / "study.zarr")
    store.write_neural("monkeyA", neural(rng.normal(size=(8, 5, 2)), stim, animal="A", region="IT"))
    store.write_features("net", "conv1", features(rng.normal(size=(8, 12)), stim), unit_chunk=5)
    neuroxr.score(store, "forward", "net.conv1", "monkeyA", reps=3, n_folds=2)
    return store


def _mean_ev(store):
    path = nx_entries.lookup(store, "forward", "net.conv1", "monkeyA", params={"reps": 3, "n_folds": 2})
    return float(store.read_dataset(path)["ev"].mean())


def test_help_lists_commands(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("info", "validate", "demo"):
        assert command in result.output


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"neuroxr, version {neuroxr.__version__}"


def test_info_table(runner, study):
    result = runner.invoke(main, ["info", study.url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Neural sets (1)" in out
    assert "monkeyA  8         5        2       float64  animal, region" in out
    assert "Features (1 model, 1 layer)" in out
    assert "net    conv1  8         12    float64  5" in out
    assert re.search(rf"forward +net\.conv1 +monkeyA +neuroid=5 +3 +{_mean_ev(study):.2f} +current +n_folds=2, reps=3", out), out
    assert "Incomplete entries (0)" in out


def test_info_json_and_incomplete_entries(runner, study, monkeypatch):
    monkeypatch.setattr(StudyStore, "mark_complete", lambda self, path: None)
    study.write_features("net", "conv2", features(np.ones((8, 3)), [f"s{i}" for i in range(8)]))
    monkeypatch.undo()
    result = runner.invoke(main, ["info", "--json", study.url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["incomplete"] == ["features/net/conv2"]
    assert [e["layer"] for e in summary["features"]] == ["conv1"]
    assert summary["neural"][0]["sizes"] == {"stimulus": 8, "neuroid": 5, "repeat": 2}
    assert summary["scores"][0]["mean_ev"] == pytest.approx(_mean_ev(study))


def test_info_missing_store(runner, tmp_path):
    result = runner.invoke(main, ["info", str(tmp_path / "absent.zarr")])
    assert result.exit_code == 1
    assert "no study store" in result.output


def test_info_lists_an_entry_whose_chunk_is_lost_and_goes_on(runner, study):
    from pathlib import Path

    path = nx_entries.lookup(study, "forward", "net.conv1", "monkeyA", params={"reps": 3, "n_folds": 2})
    chunks = sorted(p for p in (Path(study.url) / path / "ev").rglob("*") if p.is_file() and "c" in p.parts)
    chunks[0].unlink()  # lost data: found only when the values are read
    assert runner.invoke(main, ["validate", study.url]).exit_code == 1
    result = runner.invoke(main, ["info", study.url])
    assert result.exit_code == 0, result.output
    # damaged, never current (its listing reads no chunk; the damage scan does)
    assert re.search(r"forward +net\.conv1 +monkeyA +neuroid=5 +3 +- +damaged \(see below\), unreadable", result.output), result.output
    assert "Damaged entries (1)" in result.output and path in result.output
    res = runner.invoke(main, ["info", "--json", study.url])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    [entry] = summary["scores"]
    assert entry["mean_ev"] is None and "chunk" in entry["error"] and entry["path"] == path
    assert [d["path"] for d in summary["damaged"]] == [path]
    assert summary["neural"] and summary["features"]


def test_info_mean_ev_counts_included_targets_only(runner, sweep_copy):
    import warnings

    path = sweep_copy()
    store = StudyStore(path, mode="a")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwd = neuroxr.score(store, "forward", "netA.layer3", "animalA", reps=2, min_reliability=0.9)
        rev = neuroxr.score(store, "reverse", "animalA", "netB.conv1", reps=2, min_reliability=0.9)
    inc = fwd["included"].values
    assert inc.any() and not inc.all() and not rev["included"].values.any()
    summary = json.loads(runner.invoke(main, ["info", "--json", str(path)]).output)
    means = {(e["direction"], e["source"]): e["mean_ev"] for e in summary["scores"]}
    ev = fwd["ev"].mean("rep").values
    assert means[("forward", "netA.layer3")] == pytest.approx(float(np.nanmean(ev[inc])))
    assert means[("forward", "netA.layer3")] != pytest.approx(float(np.nanmean(ev)))
    assert means[("reverse", "animalA")] is None  # no included target, as the sweep's NaN
    text = runner.invoke(main, ["info", str(path)]).output
    assert re.search(rf"forward +netA\.layer3 +animalA +neuroid=20 +2 +{np.nanmean(ev[inc]):.2f} ", text), text


def test_validate_ok(runner, study):
    result = runner.invoke(main, ["validate", study.url])
    assert result.exit_code == 0, result.output
    assert "valid study store (4 entries)" in result.output  # 2 sets, the score and its cached Gram
    res = runner.invoke(main, ["validate", "--json", study.url])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"url": study.url, "valid": True, "entries": 4, "problems": []}
    res = runner.invoke(main, ["validate", "-q", study.url])
    assert res.exit_code == 0 and res.output == ""


def test_validate_reports_problems(runner, study, monkeypatch):
    study.write_dataset("neural/broken", xr.Dataset({"data": (("stimulus", "neuroid"), np.zeros((2, 2)))}))
    monkeypatch.setattr(StudyStore, "mark_complete", lambda self, path: None)
    study.write_neural("half", neural(np.zeros((2, 2))))
    monkeypatch.undo()
    result = runner.invoke(main, ["validate", study.url])
    assert result.exit_code == 1
    assert "2 problem(s) found" in result.output
    assert "neural/broken: dims ('stimulus', 'neuroid') do not match the layout" in result.output
    assert "neural/half: complete: the entry's write did not finish" in result.output


def test_validate_values_flag(runner, study):
    bad = features(np.ones((8, 2)), [f"s{i}" for i in range(8)])
    bad[0, 0] = np.inf
    study.write_dataset("features/net/inf", bad.rename(None).to_dataset(name="data"))
    assert runner.invoke(main, ["validate", study.url]).exit_code == 0
    result = runner.invoke(main, ["validate", "--values", study.url])
    assert result.exit_code == 1
    assert "features/net/inf: values/n_inf" in result.output


def test_demo_refuses_too_few_stimuli_at_the_option(runner, tmp_path):
    from neuroxr.cli.demo import DEMO_MIN_STIMULI
    from neuroxr.datasets.synthetic import DEFAULT_ANIMALS, make_study

    path = tmp_path / "demo.zarr"
    result = runner.invoke(main, ["demo", str(path), "--n-stimuli", "100", "--reps", "1", "--scheduler", "serial"])
    assert result.exit_code == 2 and f">={DEMO_MIN_STIMULI}" in result.stderr and not path.exists()
    # the option's minimum is the generator's: one fewer stimulus is refused by the generator itself
    assert DEMO_MIN_STIMULI == sum(DEFAULT_ANIMALS.values()) + 16 + 1
    with pytest.raises(ValueError, match="too few stimuli"):
        make_study(n_stimuli=DEMO_MIN_STIMULI - 1)


def test_demo_generator_error_is_one_line_and_leaves_nothing(runner, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("too few stimuli (226) for\n 208 neuroids")

    monkeypatch.setattr("neuroxr.datasets.synthetic.write_example_study", broken)
    path = tmp_path / "demo.zarr"
    result = runner.invoke(main, ["demo", str(path), "--reps", "1", "--scheduler", "serial"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: cannot generate the example study"), result.stderr
    assert os.listdir(tmp_path) == []  # nothing at PATH, nothing beside it


@pytest.fixture
def small_generator(monkeypatch):
    """The demo on a small example study (the default one takes longer than a unit test should)."""
    import functools

    synthetic = pytest.importorskip("neuroxr.datasets.synthetic")
    models = {m: synthetic.DEFAULT_MODELS[m][-2:] for m in ("netA", "netB")}
    small = functools.partial(
        synthetic.write_example_study, n_stimuli=120, animals={"animalA": 10, "animalB": 8}, n_repeats=6, models=models
    )
    monkeypatch.setattr(synthetic, "write_example_study", small)


def _stamps(store, path):
    t = nx_entries.list_entries(store)
    return {p: os.path.getmtime(path / p / "zarr.json") for p in t[t["kind"] != "gram"]["path"]}


def test_demo_with_generator_scores_and_resumes(runner, tmp_path, small_generator, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["demo", "--reps", "1", "--scheduler", "serial"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "neuroxr-demo.zarr"  # the default PATH, named in the output
    assert f"Writing the example study to {path}" in result.stdout
    assert f"The example study is in {path}" in result.stdout
    store = StudyStore(path, mode="r")
    assert store.neural_sets() and store.models()
    # results first, the inventory only on request; progress lines on stderr
    out = result.stdout
    assert "Median EV over targets" in out and "Neural sets (" not in out and "valid study store" not in out
    assert "neuroxr sweep:" not in out and "entries done" in result.stderr
    t = nx_entries.list_entries(store)
    assert set(t["kind"]) - {"gram"} == {"forward", "reverse", "inter_animal", "model_to_model", "crsa", "shape", "cka",
                                          "dimensionality"}
    metrics = t[t["kind"].isin(["crsa", "shape", "cka", "dimensionality"])]
    assert set(t[t["kind"] == "crsa"]["reps"]) == {1}  # --reps reaches cRSA's ceiling (it was always 3)
    n_layers, n_sets = sum(len(store.layers(m)) for m in store.models()), len(store.neural_sets())
    assert len(metrics) == 3 * n_layers * n_sets + n_layers + n_sets
    assert "Geometry metrics" in out and "CKA: layer" in out and "effective dimensionality:" in out
    # a second run resumes: the study is reused and no entry is rewritten
    stamps = _stamps(store, path)
    again = runner.invoke(main, ["demo", str(path), "--reps", "1", "--scheduler", "serial", "--inventory"])
    assert again.exit_code == 0, again.output
    assert "Reusing the example study" in again.stdout
    assert stamps == _stamps(store, path)
    assert again.stdout.index("CKA: layer") < again.stdout.index("Neural sets (")  # inventory after the results
    # --json: one object, nothing else on stdout; --quiet: nothing at all
    res = runner.invoke(main, ["demo", str(path), "--reps", "1", "--scheduler", "serial", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["store"] == str(path) and "inventory" not in obj
    assert {r["direction"] for r in obj["scores"]} == {"forward", "reverse", "inter_animal", "model_to_model"}
    assert len(obj["metrics"]) == len(metrics)
    # the text's model-to-model table: per model pair, the best of its layer pairs' median EVs
    model_of = {f"{m}.{layer}": m for m in store.models() for layer in store.layers(m)}
    m2m = pd.DataFrame([r for r in obj["scores"] if r["direction"] == "model_to_model"])
    want = m2m.assign(source_model=m2m["source"].map(model_of), target_model=m2m["target"].map(model_of)).pivot_table(
        index="source_model", columns="target_model", values="median_ev", aggfunc="max")
    want.index.name, want.columns.name = "model-to-model (best layer pair): from", None
    assert want.notna().values.sum() >= 2 and want.to_string(float_format=lambda v: f"{v:.1f}") in again.stdout
    res = runner.invoke(main, ["demo", str(path), "--reps", "1", "--scheduler", "serial", "--quiet"])
    assert res.exit_code == 0 and res.output == ""
    # an option the existing study contradicts is refused, never silently ignored
    n = StudyStore(path, mode="r").read_neural(store.neural_sets()[0]).sizes["stimulus"]
    res = runner.invoke(main, ["demo", str(path), "--n-stimuli", str(n + 400), "--scheduler", "serial"])
    assert res.exit_code != 0 and f"has {n} stimuli, not --n-stimuli {n + 400}; pass --force" in res.output


def test_demo_refuses_a_path_that_is_not_a_store(runner, tmp_path):
    (tmp_path / "taken").mkdir()
    for extra in ([], ["--force"]):
        result = runner.invoke(main, ["demo", str(tmp_path / "taken"), *extra])
        assert result.exit_code == 1 and "not a Zarr store" in result.stderr and result.stderr.count("\n") == 1
    assert (tmp_path / "taken").is_dir()


def _tree(path):
    """Every file under ``path`` with its size and modification time."""
    return {os.path.relpath(os.path.join(d, f), path): (os.path.getsize(os.path.join(d, f)), os.path.getmtime(os.path.join(d, f)))
            for d, _, files in os.walk(path) for f in files}


@pytest.mark.parametrize("extra", [["--scheduler", "serial"], ["--force", "--scheduler", "serial"],
                                   ["--force", "--scheduler", "bogus"]])
def test_demo_never_touches_a_store_it_did_not_write(runner, study, extra):
    """A user's study store (neural sets and models, no demo mark) is neither the example study nor
    rewritten by --force: one line that suggests another PATH (not --force), nothing changed."""
    before = _tree(study.url)
    res = runner.invoke(main, ["demo", study.url, "--reps", "1", *extra])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    assert "neuroxr demo did not write" in res.stderr and "choose another PATH" in res.stderr and "--force" not in res.stderr
    assert "Reusing" not in res.stdout and _tree(study.url) == before
    assert _mean_ev(StudyStore(study.url, mode="r")) == pytest.approx(_mean_ev(study))


def _no_scores(monkeypatch):
    """The demo without its sweep (the tests of the store it writes need no scores)."""
    import pandas as pd

    cols = ["direction", "source", "target", "n_targets", "median_ev"]
    monkeypatch.setattr("neuroxr.cli.demo._demo_scores", lambda *a, **k: (pd.DataFrame(columns=cols), pd.DataFrame()))


def test_demo_checks_the_scheduler_before_writing(runner, tmp_path, small_generator):
    from neuroxr.cli import demo as demo_cli

    path = tmp_path / "demo.zarr"
    res = runner.invoke(main, ["demo", str(path), "--scheduler", "bogus"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output  # a usage error naming the flag
    assert res.stderr.startswith("Error: --scheduler 'bogus' is not a Dask scheduler address"), res.stderr
    assert os.listdir(tmp_path) == []  # nothing written, nothing beside PATH
    demo_cli._write_example(str(path), 0, None)
    before = _tree(path)
    res = runner.invoke(main, ["demo", str(path), "--force", "--scheduler", "bogus"])
    assert res.exit_code == 2 and "not a Dask scheduler address" in res.stderr
    assert _tree(path) == before and os.listdir(tmp_path) == ["demo.zarr"]


def test_demo_force_keeps_its_study_until_the_new_one_is_complete(runner, tmp_path, small_generator, monkeypatch):
    """--force rewrites a store the demo wrote (marked in its root attributes): aside first, then
    swapped in; a generation that fails leaves the previous study as it was."""
    from neuroxr.cli import demo as demo_cli
    from neuroxr.datasets import synthetic

    _no_scores(monkeypatch)
    path = tmp_path / "demo.zarr"
    res = runner.invoke(main, ["demo", str(path), "--scheduler", "serial", "--json"])
    assert res.exit_code == 0, res.output
    n = StudyStore(path, mode="r").read_neural("animalA").sizes["stimulus"]
    assert demo_cli.example_study(str(path)) == {"seed": 0, "n_stimuli": n}
    before = _tree(path)
    small = synthetic.write_example_study

    def broken(where, **kw):
        small(where, **kw)  # a complete study beside PATH, then a failure before it is marked
        raise ValueError("generator stopped")

    monkeypatch.setattr(synthetic, "write_example_study", broken)
    res = runner.invoke(main, ["demo", str(path), "--force", "--seed", "1", "--scheduler", "serial"])
    assert res.exit_code == 1 and "cannot generate the example study: generator stopped" in res.stderr
    assert _tree(path) == before and os.listdir(tmp_path) == ["demo.zarr"]
    monkeypatch.setattr(synthetic, "write_example_study", small)
    res = runner.invoke(main, ["demo", str(path), "--force", "--seed", "1", "--scheduler", "serial"])
    assert res.exit_code == 0 and f"Rewriting the example study to {path}" in res.stdout, res.output
    assert demo_cli.example_study(str(path)) == {"seed": 1, "n_stimuli": n} and os.listdir(tmp_path) == ["demo.zarr"]
    assert StudyStore(path, mode="r").read_neural("animalA").attrs["seed"] == 1


def test_demo_recognises_the_unmarked_study_of_an_older_demo(runner, tmp_path, monkeypatch):
    """A store without the mark is the demo's only if it holds exactly the generator's sets (then it
    is reused and marked); one changed value makes it a user's store."""
    from neuroxr.cli import demo as demo_cli
    from neuroxr.datasets.synthetic import write_example_study

    _no_scores(monkeypatch)
    n, path = demo_cli.DEMO_MIN_STIMULI, tmp_path / "old.zarr"  # the default generator, at its smallest
    store = write_example_study(str(path), seed=3, n_stimuli=n)
    fc = store.read_features("netB", "fc").load()
    values = fc.values.copy()
    values[0, 0] += 1e-9
    store.write_features("netB", "fc", fc.copy(data=values))
    res = runner.invoke(main, ["demo", str(path), "--force", "--scheduler", "serial"])
    assert res.exit_code == 1 and "neuroxr demo did not write" in res.stderr
    store.write_features("netB", "fc", fc)  # the generator's values again
    res = runner.invoke(main, ["demo", str(path), "--scheduler", "serial"])
    assert res.exit_code == 0 and "Reusing the example study" in res.stdout, res.output
    assert json.loads((path / "zarr.json").read_text())["attributes"][demo_cli.DEMO_ATTR] == {"seed": 3, "n_stimuli": n}



def test_demo_refuses_a_path_inside_another_store(runner, study):
    """The demo's study is never written among the groups of another store (which would then break)."""
    before = _tree(study.url)
    for inner in ("demo.zarr", "neural/demo.zarr"):
        path = os.path.join(study.url, inner)
        res = runner.invoke(main, ["demo", path, "--n-stimuli", "225", "--reps", "1", "--scheduler", "serial"])
        assert res.exit_code == 1 and res.stderr == f"Error: {path!r} lies inside the Zarr store {study.url!r}; choose a PATH outside it.\n"
    assert _tree(study.url) == before

def test_demo_refuses_an_empty_path(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(main, ["demo", "", "--scheduler", "bogus"])
    assert res.exit_code == 2 and "is empty" in res.stderr and res.stderr.count("\n") == 1
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- neuroxr score <metric>
def _metric(store, kind, source, target=None, **params):
    """The entry the engine finds for these parameters (None -> fails loudly)."""
    return store.read_dataset(nx_entries.lookup(store, kind, source, target, params=params)).load()


def test_score_metrics_write_entries_and_print(runner, geometry_study):
    url = geometry_study.url
    from neuroxr import geometry as geo

    res = runner.invoke(main, ["score", "rsa", url, "net.conv1", "monkeyA", "--reps", "2"])
    assert res.exit_code == 0, res.output
    ds = _metric(geometry_study, "crsa", "net.conv1", "monkeyA", reps=2)
    ref = geo.crsa(geometry_study.read_features("net", "conv1").load(), geometry_study.read_neural("monkeyA").load(), reps=2)
    assert float(ds["score"]) == pytest.approx(float(ref["score"]), rel=1e-10)
    assert re.match(rf"metrics/crsa/net.conv1__monkeyA/[0-9a-f]{{16}}: crsa {float(ref['score']):.4f} \(ceiling", res.output), res.output
    res = runner.invoke(main, ["score", "rsa", url, "net.conv1", "monkeyA.IT", "--variant", "ersa", "--alpha", "1", "--n-folds", "3"])
    assert res.exit_code == 0, res.output
    ds = _metric(geometry_study, "ersa", "net.conv1", "monkeyA.IT", alpha=1.0, n_folds=3)
    assert ds.pipe(decoded).attrs["parameters"]["alpha"] == 1.0 and ds.pipe(decoded).attrs["parameters"]["n_folds"] == 3
    assert "ersa train " in res.output and ", test " in res.output
    res = runner.invoke(main, ["score", "rsa", url, "net.conv1", "monkeyA", "--variant", "ereg", "--n-components", "4", "--n-folds", "3"])
    assert res.exit_code == 0 and "mean r over 6 neuroids" in res.output, res.output
    res = runner.invoke(main, ["score", "shape", url, "net.conv1", "monkeyA", "--alpha", "0.5", "--seed", "2"])
    assert res.exit_code == 0 and "lower = more similar" in res.output, res.output
    assert _metric(geometry_study, "shape", "net.conv1", "monkeyA", alpha=0.5, seed=2).pipe(decoded).attrs["parameters"]["seed"] == 2
    res = runner.invoke(main, ["score", "cka", url, "net.conv1", "net.fc", "--debiased"])
    assert res.exit_code == 0, res.output
    assert float(_metric(geometry_study, "cka", "net.conv1", "net.fc", debiased=True)["score"]) == pytest.approx(
        float(geo.cka(geometry_study.read_features("net", "conv1").load(), geometry_study.read_features("net", "fc").load(),
                      debiased=True)))
    res = runner.invoke(main, ["score", "dimensionality", url, "monkeyA.V4"])
    assert res.exit_code == 0 and re.match(r"metrics/dimensionality/monkeyA.V4/[0-9a-f]{16}: dimensionality ", res.output), res.output
    # a second run reads the entry back; --overwrite recomputes
    assert "already in the store" in runner.invoke(main, ["score", "cka", url, "net.conv1", "net.fc", "--debiased"]).output
    res = runner.invoke(main, ["score", "cka", url, "net.conv1", "net.fc", "--debiased", "--overwrite"])
    assert res.exit_code == 0 and "already in the store" not in res.output
    # info lists them, validate accepts the store
    res = runner.invoke(main, ["info", url])
    assert "Metrics (6)" in res.output and re.search(r"\n  ersa +net\.conv1 +monkeyA\.IT +[0-9.]+ +[0-9.]+ +current +alpha=1.0, n_folds=3\n", res.output), res.output
    summary = json.loads(runner.invoke(main, ["info", "--json", url]).output)
    dim = next(e for e in summary["metrics"] if e["metric"] == "dimensionality")
    assert dim["target"] is None and dim["value"] > 0
    res = runner.invoke(main, ["validate", url])
    assert res.exit_code == 0 and "valid study store (11 entries)" in res.output, res.output  # + 2 cached Grams


@pytest.mark.parametrize("args, message", [
    (["score", "sideways", "STORE", "a", "b"], "unknown score kind 'sideways': choose a direction (forward, reverse, inter-animal, model-to-model), a metric (rsa, shape, cka, dimensionality, brainscore) or a time-resolved kind (temporal-generalization)"),
    (["score", "cka", "STORE", "net.conv9", "monkeyA"], "holds no feature set '<model>.<layer>' named 'net.conv9' (the source)"),
    (["score", "shape", "STORE", "net.conv1", "monkeyB"], "named 'monkeyB' (the target); it holds feature sets ['net.conv1', 'net.fc'] and neural sets ['monkeyA']"),
    (["score", "cka", "STORE", "net.conv1", "a__b"], "named 'a__b' (the target)"),
    (["score", "rsa", "STORE", "net.conv1", "monkeyA", "--alpha", "2"], "metric 'crsa' takes no options [--alpha]"),
    (["score", "rsa", "STORE", "net.conv1", "net.fc", "--ceiling"], "ceiling needs a neural target"),
    (["score", "rsa", "STORE", "net.conv1", "monkeyA", "--variant", "ereg", "--n-components", "many"], "must be an integer or 'auto'"),
    # the metric's own checks, as compute and a sweep's metric_options run them: one line naming the metric
    (["score", "rsa", "STORE", "net.conv1", "monkeyA", "--variant", "ereg", "--n-components", "0"],
     "Error: metric 'ereg': --n-components must be 'auto' or a positive int; got 0. (see 'main score rsa --help')\n"),
    (["score", "rsa", "STORE", "net.conv1", "monkeyA", "--variant", "ereg", "--n-components", "4", "--eps", "0.2"],
     "Error: metric 'ereg': --eps 0.2 has no effect with --n-components 4"),
    (["score", "dimensionality", "STORE", "net.conv1", "monkeyA"], "Got unexpected extra argument (monkeyA)"),
    (["score", "cka", "STORE", "net.conv1"], "Missing argument 'TARGET'"),
])
def test_score_metric_refuses_bad_names(runner, geometry_study, args, message):
    args = [geometry_study.url if a == "STORE" else a for a in args]
    res = runner.invoke(main, args)
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert nx_entries.list_entries(geometry_study).empty and geometry_study.incomplete_entries() == []


def test_score_directions_keep_their_command(runner, geometry_study):
    res = runner.invoke(main, ["score", "--help"])
    assert res.exit_code == 0
    for kind in ("forward", "reverse", "inter-animal", "model-to-model", "rsa", "shape", "cka", "dimensionality"):
        assert kind in res.output
    res = runner.invoke(main, ["score", "model-to-model", geometry_study.url, "net.conv1", "net.fc", "--reps", "1", "--n-folds", "3"])
    assert res.exit_code == 0, res.output
    assert re.search(r"scores/model_to_model/net.conv1__net.fc/[0-9a-f]{16}: 5 targets, median EV", res.output), res.output
    t = nx_entries.list_entries(geometry_study)
    assert t.query("kind != 'gram'")[["kind", "source", "target"]].values.tolist() == [["model_to_model", "net.conv1", "net.fc"]]


def test_score_entries_keep_their_parameters(runner, geometry_study):
    url = geometry_study.url
    args = ["score", "forward", url, "net.conv1", "monkeyA.IT", "--n-folds", "3"]
    res = runner.invoke(main, [*args, "--reps", "2"])
    assert res.exit_code == 0 and re.search(r"scores/forward/net.conv1__monkeyA.IT/[0-9a-f]{16}: 3 targets \(1 without a finite EV\)", res.output), res.output
    assert "already in the store" in runner.invoke(main, [*args, "--reps", "2"]).output
    # other parameters: refused with --require-existing, naming what differs; else a second entry
    res = runner.invoke(main, [*args, "--reps", "3", "--regressor", "linear", "--require-existing"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "--regressor ridge (existing) != --regressor linear (asked); --reps 2 (existing) != --reps 3 (asked)" in res.output
    assert runner.invoke(main, [*args, "--reps", "3", "--regressor", "linear"]).exit_code == 0
    out = runner.invoke(main, ["info", url]).output
    assert "Scores (2)" in out and "n_folds=3, reps=2" in out and "n_folds=3, regressor=linear, reps=3" in out, out
    summary = json.loads(runner.invoke(main, ["info", "--json", url]).output)
    assert sorted(e["parameters"]["reps"] for e in summary["scores"]) == [2, 3]
    assert {e["status"] for e in summary["scores"]} == {"current"}
    # a rewritten layer: the old entries are listed as stale
    geometry_study.write_features("net", "conv1", features(np.random.default_rng(7).normal(size=(24, 10)), [f"s{i:02d}" for i in range(24)]))
    summary = json.loads(runner.invoke(main, ["info", "--json", url]).output)
    assert {e["status"] for e in summary["scores"]} == {"stale (input rewritten)"}


def test_require_existing_names_the_flags_that_matter(runner, geometry_study):
    """--require-existing lists only the parameters of both computations (never PLS's --n-components
    against a ridge request, nor the scikit-learn version a PLS fit records), spelled as the flags
    that give them."""
    args = ["score", "forward", geometry_study.url, "net.conv1", "monkeyA.IT", "--n-folds", "3", "--reps", "1"]
    assert runner.invoke(main, [*args, "--regressor", "pls", "--n-components", "3", "-q"]).exit_code == 0
    res = runner.invoke(main, [*args, "--no-ceiling", "--max-n", "4", "--require-existing"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    line = res.stderr.split(" differs in ")[1].split(". Ask")[0]
    assert line == ("without --max-n (existing) != --max-n 4 (asked); without --no-ceiling (existing) != --no-ceiling (asked); "
                    "--regressor pls (existing) != --regressor ridge (asked)"), line
    assert runner.invoke(main, [*args, "--regressor", "ridgecv", "--alphas", "1,2", "-q"]).exit_code == 0
    res = runner.invoke(main, [*args, "--regressor", "ridgecv", "--alphas", "0.5,2", "--require-existing"])
    assert "differs in --alphas 1,2 (existing) != --alphas 0.5,2 (asked)" in res.stderr, res.stderr
    assert "n-components" not in res.stderr and "n_components" not in res.stderr and "packages" not in res.stderr


def test_require_existing_names_a_metric_inference_seed_as_resample_seed(runner, geometry_study):
    """A metric's inference entry seeds its resamples with --resample-seed; the refusal named it --seed
    (the metric's own seed: following that advice asked for another metric entry)."""
    args = ["score", "cka", geometry_study.url, "net.conv1", "monkeyA", "--bootstrap", "4"]
    assert runner.invoke(main, [*args, "--resample-seed", "2", "-q"]).exit_code == 0
    res = runner.invoke(main, [*args, "--resample-seed", "3", "--require-existing"])
    assert res.exit_code == 1 and "--resample-seed 2 (existing) != --resample-seed 3 (asked)" in res.stderr, res.stderr
    assert "seed: 2" not in res.stderr and " --seed " not in res.stderr


def test_cli_errors_are_messages(runner, geometry_study, tmp_path):
    res = runner.invoke(main, ["score", "forward", str(tmp_path / "typo.zarr"), "net.conv1", "monkeyA"])
    assert res.exit_code == 1 and "no study store" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "typo.zarr").exists()
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "monkeyA", "net.conv1"])
    assert res.exit_code == 1 and "named 'monkeyA' (the source)" in res.output


def test_direction_help_defaults_are_the_kinds():
    from neuroxr.cli._score_flags import _DIRECTION_DEFAULTS, _MODEL_TO_MODEL_DEFAULTS
    from neuroxr.entries import KINDS

    for kind in ("forward", "reverse", "inter_animal", "model_to_model"):
        table = _MODEL_TO_MODEL_DEFAULTS if kind == "model_to_model" else _DIRECTION_DEFAULTS
        defaults = KINDS[kind].defaults
        assert {k: v for k, v in table.items() if k in defaults} == {k: defaults[k] for k in table if k in defaults}


def test_model_to_model_cli_default_finds_the_api_entry(runner, geometry_study):
    """The CLI's defaults are the API's: an entry nx.score wrote with its defaults is read back."""
    ds = neuroxr.score(geometry_study, "model_to_model", "net.conv1", "net.fc")
    res = runner.invoke(main, ["score", "model-to-model", geometry_study.url, "net.conv1", "net.fc", "--require-existing", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["computed"] is False
    assert obj["median_ev"] == pytest.approx(float(ds["ev"].mean("rep").median()))


@pytest.mark.parametrize("extra", [["--split", "slots"], ["--no-ceiling"], ["--min-reliability", "0.5"]])
def test_model_to_model_refuses_neural_only_options(runner, geometry_study, extra):
    res = runner.invoke(main, ["score", "model-to-model", geometry_study.url, "net.conv1", "net.fc", *extra])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert extra[0] in res.output and "model-to-model" in res.output
    assert nx_entries.list_entries(geometry_study).query("kind == 'model_to_model'").empty


def test_model_to_model_refuses_reps_without_max_n(runner, geometry_study):
    """Without --max-n every rep is the same fit: --reps is refused (as the sweep and the inference
    entries refuse it) before anything is written; with --max-n each rep draws a fresh subset."""
    args = ["score", "model-to-model", geometry_study.url, "net.conv1", "net.fc", "--n-folds", "3"]
    res = runner.invoke(main, [*args, "--reps", "3"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert "--reps 3 has no effect for model-to-model without --max-n" in res.stderr and "or add --max-n" in res.stderr
    assert nx_entries.list_entries(geometry_study).query("kind == 'model_to_model'").empty
    res = runner.invoke(main, [*args, "--reps", "2", "--max-n", "4", "--json"])
    assert res.exit_code == 0, res.output
    assert geometry_study.read_dataset(json.loads(res.stdout)["path"]).sizes["rep"] == 2


@pytest.mark.parametrize("extra,params", [
    (["--regressor", "pls", "--n-components", "2"], {"regressor": "pls", "n_components": 2}),
    (["--fold-seed", "3"], {"fold_seed": 3}),
    (["--min-reliability", "0.3"], {"min_reliability": 0.3}),
])
def test_direction_cli_equals_the_api(runner, geometry_study, extra, params):
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA.IT", "--reps", "2", "--n-folds", "3",
                               *extra, "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["computed"] is True
    ds = neuroxr.score(geometry_study, "forward", "net.conv1", "monkeyA.IT", reps=2, n_folds=3, require_existing=True, **params)
    assert obj["path"] == nx_entries.lookup(geometry_study, "forward", "net.conv1", "monkeyA.IT",
                                            params={"reps": 2, "n_folds": 3, **params})
    ev = ds["ev"].mean("rep").values
    assert obj["median_ev"] == pytest.approx(float(np.nanmedian(ev[ds["included"].values])))


@pytest.mark.parametrize("direction,source,target,layer,threshold", [("forward", "netA.layer1", "animalA", "layer1", "0.5"),
                                                                     ("reverse", "animalA", "netA.layer1", "layer1", "0.8")])
def test_direction_summary_counts_included_targets_as_the_sweep(runner, sweep_copy, direction, source, target, layer, threshold):
    """score <direction> --min-reliability: n_targets and the EV statistics over the included targets
    only, the numbers of a sweep's table on the same entry (text and --json)."""
    from neuroxr.sweep import sweep

    path = sweep_copy()
    args = ["score", direction, str(path), source, target, "--reps", "2", "--min-reliability", threshold]
    res = runner.invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    ds = StudyStore(path).read_dataset(obj["path"])
    inc = ds["included"].values
    assert 0 < inc.sum() < inc.size  # some targets excluded
    kw = dict(models=["netA"], layers=[layer], neural=["animalA"], directions=[direction], reps=2,
              min_reliability=float(threshold), progress=False)
    row = sweep(path, client="serial", **kw).table.iloc[0]
    assert row["path"] == obj["path"]
    assert obj["n_targets"] == row["n_targets"] == int(inc.sum())
    assert obj["n_excluded"] == int((~inc).sum())
    assert obj["median_ev"] == pytest.approx(row["median_ev"]) and obj["mean_ev"] == pytest.approx(row["mean_ev"])
    text = runner.invoke(main, args).stdout
    assert f": {int(inc.sum())} targets ({int((~inc).sum())} excluded" in text and f"median EV {row['median_ev']:.2f}%" in text


@pytest.mark.parametrize("extra", [["--bootstrap", "3"], ["--permutations", "3"]])
def test_metric_inference_options_are_refused_before_anything_is_computed(runner, geometry_study, extra):
    """rsa --compare-method kendall with --bootstrap/--permutations (the resampled RSA offers no Kendall):
    one line, and the crsa entry is not written first."""
    res = runner.invoke(main, ["score", "rsa", geometry_study.url, "net.conv1", "monkeyA", "--compare-method", "kendall", *extra])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "not offered by the resampled RSA" in res.stderr, res.output
    assert nx_entries.list_entries(geometry_study).query("kind != 'gram'").empty


@pytest.mark.parametrize(("kind", "metric_args"), [("cka", []), ("shape", ["--seed", "2"]), ("rsa", ["--seed", "2", "--reps", "3"])])
def test_metric_resample_seed_reaches_the_inference_entries(runner, geometry_study, kind, metric_args):
    """--resample-seed seeds the --bootstrap / --permutations entries of a metric (the sweep's seed
    there); the metric's own --seed stays the metric's."""
    args = ["score", kind, geometry_study.url, "net.conv1", "monkeyA", *metric_args, "--resample-seed", "3",
            "--bootstrap", "4", "--permutations", "4", "--json"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    name = "crsa" if kind == "rsa" else kind
    for procedure, n in (("bootstrap", "n_boot"), ("permutation", "n_perm")):
        want = nx_entries.lookup(geometry_study, f"{name}_{procedure}", "net.conv1", "monkeyA", params={n: 4, "seed": 3})
        assert obj[f"{procedure}_path"] == want


def test_demo_refuses_a_seed_the_existing_study_contradicts(runner, tmp_path, small_generator):
    from neuroxr.cli.demo import _write_example

    path = tmp_path / "demo.zarr"
    _write_example(str(path), 0, None)
    res = runner.invoke(main, ["demo", str(path), "--seed", "1", "--reps", "1", "--scheduler", "serial"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "generated with seed 0, not --seed 1; pass --force" in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [["forward", "net.conv1", "monkeyA.IT"], ["cka", "net.conv1", "monkeyA"],
                                  ["dimensionality", "net.conv1"]])
def test_overwrite_and_require_existing_are_refused_together(runner, geometry_study, args):
    kind, *sets = args
    res = runner.invoke(main, ["score", kind, geometry_study.url, *sets, "--overwrite", "--require-existing"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "--overwrite" in res.stderr and "--require-existing" in res.stderr and res.stderr.count("\n") == 1
    assert nx_entries.list_entries(geometry_study).query("kind != 'gram'").empty


def test_unknown_score_kind_lists_every_kind(runner, geometry_study):
    res = runner.invoke(main, ["score", "nope", geometry_study.url, "a", "b"])
    assert res.exit_code == 2
    for kind in ("forward", "model-to-model", "rsa", "brainscore", "temporal-generalization"):
        assert kind in res.stderr


def test_demo_in_a_folder_it_cannot_write_is_one_line_naming_path(runner, tmp_path):
    """``neuroxr demo PATH`` where PATH's folder is a file, or cannot be written: one line naming PATH
    as given (never the copy written beside it, an errno or an exception class)."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    res = runner.invoke(main, ["demo", str(afile / "demo.zarr"), "--scheduler", "serial"])
    assert res.exit_code == 1 and res.stderr.strip() == (f"Error: cannot write the example study to {str(afile / 'demo.zarr')!r}: "
                                                         f"its folder {str(afile)!r} is a file; choose another PATH."), res.output
    if os.path.isdir("/proc/self"):  # a folder no file can be made in, even by root
        res = runner.invoke(main, ["demo", "/proc/demo.zarr", "--scheduler", "serial"])
        assert res.exit_code == 1 and res.stderr.strip().startswith("Error: cannot write the example study to '/proc/demo.zarr' ("), \
            res.output
        assert ".new-" not in res.stderr and "Error)" not in res.stderr, res.stderr


def test_demo_names_the_problems_of_a_reused_study_that_breaks_the_schemas(runner, tmp_path, small_generator, monkeypatch):
    """A reused example study that breaks the schemas: its problems on stderr and the one-line refusal,
    from the one walk of the store that validated it (the demo walked it again only to count entries
    it never prints there)."""
    from neuroxr import schemas

    _no_scores(monkeypatch)
    path = tmp_path / "demo.zarr"
    assert runner.invoke(main, ["demo", str(path), "--scheduler", "serial"]).exit_code == 0
    store = StudyStore(path)
    monkeypatch.setattr(StudyStore, "mark_complete", lambda self, p: None)
    store.write_neural("half", neural(np.zeros((2, 2))))
    monkeypatch.undo()
    _no_scores(monkeypatch)
    walks, real = [], schemas._store_entries
    monkeypatch.setattr(schemas, "_store_entries", lambda st: walks.append(st) or real(st))
    res = runner.invoke(main, ["demo", str(path), "--scheduler", "serial"])
    assert res.exit_code == 1 and len(walks) == 1
    assert f"{store.url}: 1 problem(s) found:" in res.stderr
    assert "neural/half: complete: the entry's write did not finish" in res.stderr
    assert "breaks the schemas (1 problem(s)); pass --force." in res.stderr and "valid study store" not in res.output


def test_validate_walks_the_store_once_for_its_checks_and_its_count(runner, tmp_path, monkeypatch):
    """neuroxr validate walked the store a second time only to count its entries."""
    from neuroxr import schemas

    rng = np.random.default_rng(0)
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neural(rng.normal(size=(30, 5, 3))))
    st.write_features("net", "l1", features(rng.normal(size=(30, 8))))
    nx_entries.compute(st, "cka", "net.l1", "mA")
    walks, real = [], schemas._store_entries
    monkeypatch.setattr(schemas, "_store_entries", lambda store: walks.append(store) or real(store))
    res = runner.invoke(main, ["validate", "--json", st.url])
    assert res.exit_code == 0 and len(walks) == 1
    assert json.loads(res.stdout)["entries"] == len(real(st)) == 4  # 2 sets, the cka entry and its Gram


def test_validate_counts_the_entries_its_rebuilt_inventory_lists(runner, tmp_path):
    """A complete entry missing from the inventory (listings do not see it) and restored by
    --rebuild-inventory is counted: the count was taken before the rebuild, one entry short."""
    import glob

    rng = np.random.default_rng(0)
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neural(rng.normal(size=(30, 5, 3))))
    st.write_features("net", "l1", features(rng.normal(size=(30, 8))))
    path = nx_entries.compute(st, "cka", "net.l1", "mA").path

    def without(obj):
        return {k: without(v) for k, v in obj.items() if k != path} if isinstance(obj, dict) else obj

    for shard in glob.glob(str(tmp_path / "s.zarr" / ".neuroxr" / "inventory" / "*.json")):
        with open(shard) as f:
            doc = json.load(f)
        with open(shard, "w") as f:
            json.dump(without(doc), f)
    res = runner.invoke(main, ["validate", st.url])
    assert res.exit_code == 1 and f"{path}: complete group missing from the inventory" in res.output
    res = runner.invoke(main, ["validate", "--rebuild-inventory", st.url])
    after = runner.invoke(main, ["validate", "--json", st.url])
    n = json.loads(after.stdout)["entries"]
    assert after.exit_code == 0 and path in set(nx_entries.list_entries(st)["path"]) and n >= 3  # 2 sets, the cka entry
    assert res.exit_code == 0 and f"valid study store ({n} entries)" in res.output, res.output


def test_paths_under_the_home_folder(runner, tmp_path, monkeypatch):
    """``~`` (a quoted path, or after ``--table=``, where the shell leaves it) is the home folder in a store's
    path, ``--table``, ``--anchors`` and ``--out``: never a folder named ``~`` in the current one."""
    from conftest import cli_store

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    cli_store(str(home / "s.zarr"))
    (home / "ids.txt").write_text("s00\ns01\ns02\n")
    res = runner.invoke(main, ["info", "~/s.zarr", "--json"])
    assert res.exit_code == 0, res.output
    assert {s["name"] for s in json.loads(res.output)["neural"]} == {"mA"}
    res = runner.invoke(main, ["sweep", "~/s.zarr", "--scheduler", "serial", "--table=~/t.csv", "--quiet"])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(home / "t.csv")["direction"].tolist() == ["forward"] * 2 + ["reverse"] * 2
    res = runner.invoke(main, ["relative", "~/s.zarr", "net.l1", "--anchors=~/ids.txt", "--quiet"])
    assert res.exit_code == 0, res.output
    assert StudyStore(home / "s.zarr", mode="r").layers("net") == ["l1", "l1_relative", "l2"]
    res = runner.invoke(main, ["report", "~/s.zarr", "--out=~/rep", "--no-reliability", "--format", "md", "--quiet"])
    assert res.exit_code == 0, res.output
    assert (home / "rep").is_dir() and os.listdir(work) == []


@pytest.mark.slow
def test_demo_path_under_the_home_folder(runner, tmp_path, small_generator, monkeypatch):
    """``neuroxr demo '~/d.zarr'`` writes the example study to the home folder, not to a folder named ``~``."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    res = runner.invoke(main, ["demo", "~/d.zarr", "--reps", "1", "--scheduler", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    assert (home / "d.zarr" / "zarr.json").is_file() and os.listdir(work) == []


def test_demo_names_the_commands_that_read_a_path_with_spaces_as_they_are_typed(runner, tmp_path, small_generator, monkeypatch):
    """The demo's closing line names ``neuroxr info PATH`` and ``neuroxr report PATH``: a PATH with spaces (or a
    quote) is quoted there, so that the command as printed opens the study (it named 'my', 'demo' and 'é.zarr')."""
    import shlex

    _no_scores(monkeypatch)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(main, ["demo", "my demo's é.zarr", "--scheduler", "serial"])
    assert res.exit_code == 0, res.output
    line = res.stdout.strip().splitlines()[-1]
    info = re.search(r": (neuroxr info .+) lists it", line).group(1)
    report = re.search(r", (neuroxr report .+) writes a report", line).group(1)
    assert shlex.split(report)[1:] == ["report", "my demo's é.zarr"]
    again = runner.invoke(main, shlex.split(info)[1:])
    assert again.exit_code == 0 and "Neural sets (2)" in again.stdout, again.output
