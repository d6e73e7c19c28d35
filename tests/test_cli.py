"""The ``neuroxr`` command line (click's CliRunner)."""

from __future__ import annotations

import os

import json
import sys

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import neuroxr
from neuroxr.cli import main
from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    store = StudyStore(tmp_path / "study.zarr")
    store.write_neural("monkeyA", neural(rng.normal(size=(8, 5, 2)), stim, animal="A", region="IT"))
    store.write_features("net", "conv1", features(rng.normal(size=(8, 12)), stim), unit_chunk=5)
    ev = xr.Dataset(
        {"ev": (("neuroid", "rep"), np.full((5, 3), 40.0))},
        coords={"neuroid_id": ("neuroid", [f"neuroid{j}" for j in range(5)]), "rep": np.arange(3)},
    )
    store.write_scores("forward", "net.conv1", "monkeyA", ev)
    return store


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
    assert "Features (1 models, 1 layers)" in out
    assert "net    conv1  8         12    float64  5" in out
    assert "forward    net.conv1  monkeyA  neuroid=5  3     40.00" in out
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
    assert summary["scores"][0]["mean_ev"] == pytest.approx(40.0)


def test_info_missing_store(runner, tmp_path):
    result = runner.invoke(main, ["info", str(tmp_path / "absent.zarr")])
    assert result.exit_code == 1
    assert "no study store" in result.output


def test_validate_ok(runner, study):
    result = runner.invoke(main, ["validate", study.url])
    assert result.exit_code == 0, result.output
    assert "valid study store (3 entries)" in result.output


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


def test_demo_without_generator(runner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "neuroxr.datasets.synthetic", None)  # import fails
    path = tmp_path / "demo.zarr"
    result = runner.invoke(main, ["demo", str(path), "--n-stimuli", "20", "--reps", "1", "--scheduler", "serial"])
    assert result.exit_code == 0, result.output
    assert "valid study store" in result.output
    store = StudyStore(path, mode="r")
    assert store.neural_sets() == ["monkeyA", "monkeyB"]
    assert store.layers("toynet") == ["conv1", "conv2", "fc"]
    assert store.read_neural("monkeyA").sizes["stimulus"] == 20


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


def test_demo_with_generator_scores_and_resumes(runner, tmp_path, small_generator):
    path = tmp_path / "demo.zarr"
    result = runner.invoke(main, ["demo", str(path), "--reps", "1", "--scheduler", "serial"])
    assert result.exit_code == 0, result.output
    store = StudyStore(path, mode="r")
    assert store.neural_sets() and store.models()
    assert "valid study store" in result.output
    assert "Neural sets (" in result.output
    directions = {d for d, _, _ in store.score_entries()}
    assert directions == {"forward", "reverse", "inter_animal", "model_to_model"}
    assert "median_ev" in result.output or "ev" in result.output
    # a second run resumes: the study is reused and no entry is rewritten
    stamps = {e: os.path.getmtime(path / "scores" / e[0] / f"{e[1]}__{e[2]}" / "zarr.json") for e in store.score_entries()}
    again = runner.invoke(main, ["demo", str(path), "--reps", "1", "--scheduler", "serial"])
    assert again.exit_code == 0, again.output
    assert "Reusing the example study" in again.output
    assert stamps == {e: os.path.getmtime(path / "scores" / e[0] / f"{e[1]}__{e[2]}" / "zarr.json") for e in store.score_entries()}


def test_demo_refuses_a_path_that_is_not_a_store(runner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "neuroxr.datasets.synthetic", None)
    (tmp_path / "taken").mkdir()
    result = runner.invoke(main, ["demo", str(tmp_path / "taken")])
    assert result.exit_code == 1 and "not a Zarr store" in result.output
    result = runner.invoke(main, ["demo", str(tmp_path / "taken"), "--force"])
    assert result.exit_code == 1 and "not a Zarr store" in result.output
    assert (tmp_path / "taken").is_dir()
    path = tmp_path / "demo.zarr"
    assert runner.invoke(main, ["demo", str(path), "--n-stimuli", "12", "--reps", "1", "--scheduler", "serial"]).exit_code == 0
    result = runner.invoke(main, ["demo", str(path), "--n-stimuli", "12", "--reps", "1", "--scheduler", "serial", "--force"])
    assert result.exit_code == 0, result.output
