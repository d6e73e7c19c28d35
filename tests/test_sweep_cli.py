"""The ``neuroxr sweep`` command: text, --json, --quiet, progress lines, one-line errors."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from neuroxr.cli.sweep import sweep_command
from neuroxr.entries import lookup
from neuroxr.store import StudyStore

CONFIG = "models: [netA]\nlayers: [layer1, layer3]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n"


def _one_line_error(res, usage=False):
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == (2 if usage else 1), res.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


def test_cli_sweep(sweep_copy, tmp_path):
    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    runner = CliRunner()
    # not a terminal: plain progress lines instead of a bar
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "neuroxr sweep: 2/2 entries done, 0 failed" in res.output and "\r" not in res.output
    assert "2 entries: 2 computed" in res.output and "Best layers" in res.output
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) == 2 and (table["reps"] == 2).all() and (table["regressor"] == "ridge").all()
    # the best layers too, with the seed of their selection halves (another seed, other numbers)
    best = pd.read_csv(tmp_path / "t.best_layers.csv")
    assert best["best_layer"].tolist() in (["layer1"], ["layer3"]) and best["selection_seed"].tolist() == [0]
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0 and "0 computed, 2 already in the store" in res.output
    assert "entries done" not in res.output
    # --json: one JSON object, parameter columns included; --quiet: nothing
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["entries"] == 2 and out["computed"] == [] and len(out["skipped"]) == 2
    assert {r["key"] for r in out["table"]} == {"forward/netA.layer1__animalA", "forward/netA.layer3__animalA"}
    assert all(r["reps"] == 2 and r["seed"] == 0 for r in out["table"]) and len(out["best_layers"]) == 1
    assert out["best_layers"][0]["selection_seed"] == 0
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--quiet", "--overwrite"])
    assert res.exit_code == 0 and res.output == ""
    cfg.write_text("models: [netA]\nlayerz: [layer1]\n")
    line = _one_line_error(runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial"]))
    assert "unknown configuration keys [layerz]" in line and "accepted keys" in line  # the file's spelling (YAML)


def test_json_numbers_are_the_tables_numbers_exactly(sweep_copy, tmp_path):
    """--json rounded every number to 10 decimals (pandas' to_json): alpha=1e-11 read 0.0, and the
    EVs lost their last digits; --table kept them. Both now hold the same float64 values."""
    from neuroxr.sweep import sweep

    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer1]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n"
                   "alpha: 1.0e-11\nmin_reliability: 0.00000123456789\n")
    res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--json"])
    assert res.exit_code == 0, res.output
    [row] = json.loads(res.output)["table"]
    ref = sweep(path, client="serial", progress=False, models=["netA"], layers=["layer1"], neural=["animalA"],
                directions=["forward"], reps=2, alpha=1e-11, min_reliability=1.23456789e-6).table.iloc[0]
    assert row["alpha"] == 1e-11 and row["min_reliability"] == 1.23456789e-6
    assert row["median_ev"] == ref["median_ev"] and row["mean_ev"] == ref["mean_ev"]  # every digit
    assert row["n_excluded_stimuli"] == ref["n_excluded_stimuli"] and isinstance(row["n_targets"], int)


def test_cli_metric_sweep(sweep_copy, tmp_path):
    path = sweep_copy("cli.zarr")
    yml = tmp_path / "metrics.yaml"
    yml.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [cka, dimensionality]\n"
                   "metric_options:\n  cka: {debiased: true}\n")
    res = CliRunner().invoke(sweep_command, [str(path), str(yml), "--scheduler", "serial", "--no-progress",
                                             "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "3 entries: 3 computed" in res.output and "Metrics (value" in res.output
    table = pd.read_csv(tmp_path / "t.metrics.csv")
    assert sorted(table["key"]) == ["cka/netA.layer3__animalA", "dimensionality/animalA", "dimensionality/netA.layer3"]
    assert table.set_index("key").at["cka/netA.layer3__animalA", "debiased"]
    # the entry is found by its parameters
    found = lookup(path, "cka", "netA.layer3", "animalA", params={"debiased": True})
    assert found == table.set_index("key").at["cka/netA.layer3__animalA", "path"]
    assert StudyStore(path, mode="r").read_dataset(found).attrs["debiased"] == 1
    assert lookup(path, "cka", "netA.layer3", "animalA") is None  # debiased=False was never computed


def test_cli_metric_option_written_as_a_string_is_refused(sweep_copy, tmp_path):
    """debiased: 'no' computed the debiased CKA (a third key beside false and true) and exited 0."""
    path = sweep_copy("str.zarr")
    yml = tmp_path / "c.yaml"
    yml.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [forward, cka]\n"
                   "metric_options: {cka: {debiased: 'no'}}\n")
    line = _one_line_error(CliRunner().invoke(sweep_command, [str(path), str(yml), "--scheduler", "serial", "--no-progress"]))
    assert line == (f"Error: {yml}: metric_options.cka.debiased must be true or false; got 'no'. "
                    "Pass metric_options.cka.debiased: true for the unbiased HSIC estimator (Song et al. 2012).")
    assert lookup(path, "forward", "netA.layer3", "animalA") is None  # refused before any work


def test_cli_scheduler_and_backend_errors_are_one_line(sweep_copy, tmp_path):
    import dask

    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    runner = CliRunner()
    line = _one_line_error(runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "not a url"]), usage=True)
    # sweep()'s own checks start with "sweep: "; a value given as a flag is named as the flag, never
    # blamed on the config file, and is a usage error (exit 2)
    assert line.startswith("Error: --scheduler 'not a url' is not a Dask scheduler address") and str(cfg) not in line, line
    assert "tcp://host:8786" in line
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        line = _one_line_error(runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "tcp://127.0.0.1:1"]))
    assert line.startswith("Error: --scheduler: cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1'"), line
    assert str(cfg) not in line
    line = _one_line_error(runner.invoke(sweep_command, [str(path), "--scheduler", "not a url"]), usage=True)  # no file: no prefix
    assert line.startswith("Error: --scheduler 'not a url' is not a Dask scheduler address"), line
    cfg.write_text(CONFIG + "scheduler: not a url\n")  # the file's own value: named after the file, as its key
    line = _one_line_error(runner.invoke(sweep_command, [str(path), str(cfg)]))
    assert line.startswith(f"Error: {cfg}: scheduler 'not a url' is not a Dask scheduler address"), line
    cfg.write_text(CONFIG)
    try:
        from neuroxr.backend import resolve_backend

        resolve_backend("cupy")
    except Exception:
        line = _one_line_error(runner.invoke(sweep_command, [str(path), str(cfg), "--backend", "cupy"]))
        assert line.startswith("Error: --backend cupy needs") and str(cfg) not in line  # the flag's value, not the file's
    else:  # a machine with CuPy and a GPU: the error does not apply
        pytest.skip("CuPy and a GPU are present")


def test_cli_unknown_backend_is_refused_at_its_flag(sweep_copy, tmp_path):
    """--backend is a flag's value: an unknown one is a usage error naming --backend, not the config file's."""
    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--backend", "nonsense", "--scheduler", "serial"])
    assert res.exit_code == 2 and "'--backend'" in res.output and "nonsense" in res.output, res.output
    assert "sweep.yaml" not in res.output
    assert lookup(StudyStore(path), "forward", "netA.layer1", "animalA", params={"reps": 2}) is None


def _faked_sweep_kwargs(sweep_copy, tmp_path, monkeypatch, flag, config):
    """The keyword arguments ``neuroxr sweep`` hands to the sweep (faked) for ``flag`` and a config's ``config``."""
    import importlib

    run = importlib.import_module("neuroxr.sweep.run")
    seen = {}

    class _Stop(Exception):
        pass

    def fake(store, client=None, progress=True, **kw):
        seen.update(kw)
        raise _Stop

    monkeypatch.setattr(run, "sweep", fake)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("directions: [forward]\n" + config)
    res = CliRunner().invoke(sweep_command, [str(sweep_copy()), str(cfg), *flag])  # a local cluster (the sweep is faked)
    assert isinstance(res.exception, _Stop), res.output
    return seen


@pytest.mark.parametrize("flag, config, expected", [
    ([], "", None), (["--gram-spread"], "", True), (["--no-gram-spread"], "", False),
    ([], "gram_spread: true\n", True), (["--no-gram-spread"], "gram_spread: true\n", False),
])
def test_cli_gram_spread(sweep_copy, tmp_path, monkeypatch, flag, config, expected):
    assert _faked_sweep_kwargs(sweep_copy, tmp_path, monkeypatch, flag, config).get("gram_spread") is expected


@pytest.mark.parametrize("flag, config, expected", [
    ([], "", None), (["--memory-limit", "2GiB"], "", "2GiB"), ([], "memory_limit: 3GiB\n", "3GiB"),
    (["--memory-limit", "auto"], "memory_limit: 3GiB\n", "auto"),
])
def test_cli_memory_limit_reaches_the_sweep(sweep_copy, tmp_path, monkeypatch, flag, config, expected):
    """--memory-limit (or the config's memory_limit) is the sweep's memory_limit; the flag overrides the key."""
    assert _faked_sweep_kwargs(sweep_copy, tmp_path, monkeypatch, flag, config).get("memory_limit") == expected


@pytest.mark.parametrize("flag, key", [(["--scheduler", "none"], "client"), (["--memory-limit", "none"], "memory_limit")])
def test_cli_none_is_blas_threads_only(sweep_copy, tmp_path, monkeypatch, flag, key):
    """``none`` leaves BLAS threads alone for --blas-threads only: another flag's value 'none' is passed on as
    given (and refused where it is no value of that flag), never taken as the option left out."""
    import importlib

    from neuroxr.cli import main

    run = importlib.import_module("neuroxr.sweep.run")
    seen = {}
    monkeypatch.setattr(run, "sweep", lambda *a, **kw: seen.update(kw))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("directions: [forward]\n")
    res = CliRunner().invoke(main, ["sweep", str(sweep_copy()), str(cfg), *flag])
    assert (res.exit_code != 0 and not seen) or seen.get(key) == "none", (res.output, seen)


@pytest.mark.parametrize("flag, config, message", [
    (["--memory-limit", "lots"], "", "--memory-limit must be a memory size per worker such as '2GiB'"),
    ([], "memory_limit: lots\n", "sweep.yaml: memory_limit must be a memory size per worker such as '2GiB'"),
    (["--scheduler", "serial", "--memory-limit", "2GiB"], "", "--memory-limit has no effect with --scheduler serial ("),
    (["--scheduler", "serial"], "memory_limit: 2GiB\n", "sweep.yaml: memory_limit has no effect with --scheduler serial ("),
    (["--blas-threads", "0"], "", "Invalid value for '--blas-threads': must be an integer >= 1, or none"),
    (["--blas-threads", "two"], "", "Invalid value for '--blas-threads'"),
    (["--on-error", "ignore"], "", "Invalid value for '--on-error'"),
    ([], "blas_threads: 0\n", "sweep.yaml: blas_threads must be an integer >= 1 (BLAS/OpenMP threads inside each task) or "
                              "null (left alone); got 0."),
    ([], "on_error: ignore\n", "sweep.yaml: on_error must be 'raise' (stop with the failed entries named) or 'warn'"),
])
def test_cli_run_options_are_checked_before_running(sweep_copy, tmp_path, monkeypatch, flag, config, message):
    """A memory limit dask cannot read, or one that no embedded cluster would use, a bad on_error or
    blas_threads: refused in one line naming it where it was given, before the sweep runs."""
    import importlib

    from neuroxr.cli import main

    run = importlib.import_module("neuroxr.sweep.run")
    called = []
    monkeypatch.setattr(run, "sweep", lambda *a, **kw: called.append(kw))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("directions: [forward]\n" + config)
    res = CliRunner().invoke(main, ["sweep", str(sweep_copy()), str(cfg), *flag])
    assert res.exit_code in (1, 2) and message in res.output and not called, res.output
    assert len([line for line in res.output.splitlines() if line.strip()]) == 1, res.output


@pytest.mark.parametrize("args, option", [
    (["--scheduler", "serial", "--workers", "7"], "--workers"), (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers"),
    (["--scheduler", "serial", "--gram-spread"], "--gram-spread"), (["--scheduler", "serial", "--no-gram-spread"], "--no-gram-spread"),
    (["--table", "/nonexistent-neuroxr-dir/t.csv"], "--table"),
])
def test_cli_sweep_refuses_unused_options_before_running(sweep_copy, tmp_path, monkeypatch, args, option):
    import importlib

    run = importlib.import_module("neuroxr.sweep.run")
    called = []
    monkeypatch.setattr(run, "sweep", lambda *a, **kw: called.append(kw))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    res = CliRunner().invoke(sweep_command, [str(sweep_copy()), str(cfg), *args])
    assert res.exit_code == 2 and option in res.output and "Traceback" not in res.output, res.output
    assert not called


@pytest.mark.parametrize("table", ["", "FILE/t.csv", "/proc/self/neuroxr-t.csv"])
def test_cli_sweep_checks_that_table_can_be_written_before_running(sweep_copy, tmp_path, monkeypatch, table):
    """--table '' is refused (never taken for no table), and a FILE that cannot be written is
    refused naming --table before the sweep runs."""
    import importlib

    if table.startswith("/proc/") and not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    run = importlib.import_module("neuroxr.sweep.run")
    called = []
    monkeypatch.setattr(run, "sweep", lambda *a, **kw: called.append(kw))
    (tmp_path / "FILE").write_text("a file, not a folder\n")
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    res = CliRunner().invoke(sweep_command, [str(sweep_copy()), str(cfg), "--scheduler", "serial",
                                             "--table", table.replace("FILE", str(tmp_path / "FILE"))])
    assert res.exit_code == 2 and "'--table'" in res.output and "Traceback" not in res.output, res.output
    assert not called
    why = {"": "is empty", "FILE/t.csv": "is a file, not a folder"}.get(table, "cannot write")
    assert why in res.output, res.output



def test_cli_sweep_refuses_a_table_inside_the_store(sweep_copy, monkeypatch):
    """The CSV files of --table never land among the store's groups: refused before the sweep runs."""
    import importlib

    from neuroxr.cli import main

    run = importlib.import_module("neuroxr.sweep.run")
    called = []
    monkeypatch.setattr(run, "sweep", lambda *a, **kw: called.append(kw))
    store = sweep_copy()
    for table in (store / "t.csv", store / "scores" / "t.csv"):
        res = CliRunner().invoke(main, ["sweep", str(store), "--scheduler", "serial", "--table", str(table)])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and "'--table'" in lines[0], res.output
        assert "lies inside the study store" in lines[0] and "choose a FILE outside it" in lines[0]
        assert not table.exists()
    assert not called

def test_cli_sweep_table_check_writes_nothing(tmp_path):
    """The up-front check of --table leaves an existing file as it was and creates none."""
    from neuroxr.cli.sweep import _check_table, _table_files

    kept = tmp_path / "t.csv"
    kept.write_text("old,rows\n")
    _check_table(str(kept))
    assert kept.read_text() == "old,rows\n" and sorted(os.listdir(tmp_path)) == ["t.csv"]
    assert _table_files(str(kept))[1:] == [str(tmp_path / "t.metrics.csv"), str(tmp_path / "t.inference.csv"),
                                           str(tmp_path / "t.best_layers.csv")]


def test_cli_sweep_names_every_unused_flag_as_the_sweep_does(sweep_copy, tmp_path, monkeypatch):
    """The CLI and sweep() make one check of unused cluster options: every unused flag in one line,
    spelled as a flag, exit status 2."""
    import importlib

    from neuroxr.cli import main
    from neuroxr.errors import SweepConfigError

    run = importlib.import_module("neuroxr.sweep.run")
    called = []
    monkeypatch.setattr(run, "sweep", lambda *a, **kw: called.append(kw))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    res = CliRunner().invoke(main, ["sweep", str(sweep_copy()), str(cfg), "--scheduler", "serial", "--workers", "3",
                                    "--no-gram-spread"])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and not called, res.output
    with pytest.raises(SweepConfigError) as want:
        run.check_cluster_options("serial", {"n_workers": 3, "gram_spread": False})
    flags = str(want.value).replace("n_workers and gram_spread", "--workers and --no-gram-spread").replace(
        "use client=None", "leave out --scheduler").replace("client='serial'", "--scheduler serial")
    assert lines[0].startswith(f"Error: {flags}")  # the group adds where to find help
    assert lines[0].startswith("Error: --workers and --no-gram-spread have no effect with --scheduler serial (the run stays in this process")


def test_cli_sweep_refuses_a_missing_store(tmp_path):
    typo = tmp_path / "typo.zarr"
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    line = _one_line_error(CliRunner().invoke(sweep_command, [str(typo), str(cfg), "--scheduler", "serial"]))
    assert "no study store at" in line and "check the path" in line
    assert not typo.exists()



def test_cli_sweep_of_a_store_without_features_says_so(tmp_path):
    """A store with neural sets only: the sweep says that it holds no feature sets (no selection of
    models and layers would help), in one line naming the store."""
    import numpy as np

    from neuroxr.cli import main
    from neuroxr.layouts import neural

    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neural(np.random.default_rng(0).normal(size=(8, 3, 2)), [f"s{i}" for i in range(8)]))
    res = CliRunner().invoke(main, ["sweep", st.url, "--scheduler", "serial"])
    line = _one_line_error(res)
    assert line == (f"Error: store {st.url!r} holds no feature sets; write layers first (neuroxr extract) "
                    "or sweep the directions without layers (inter_animal).")  # the command line's way, not write_features

@pytest.mark.parametrize("quiet", [False, True])
def test_cli_sweep_quiet_silences_warnings(sweep_copy, tmp_path, monkeypatch, quiet):
    import importlib
    import os
    import warnings

    from neuroxr.errors import NeuroxrWarning

    run = importlib.import_module("neuroxr.sweep.run")
    seen = {}

    class _Stop(Exception):
        pass

    def fake(store, client=None, progress=True, **kw):  # a sweep whose entries warn
        seen["workers"] = os.environ.get("PYTHONWARNINGS")  # what the embedded cluster's workers start with
        warnings.warn("a warning of an entry", NeuroxrWarning, stacklevel=1)
        raise _Stop

    monkeypatch.setattr(run, "sweep", fake)
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(sweep_command, [str(sweep_copy()), str(cfg), "--scheduler", "serial",
                                                 *(["-q"] if quiet else [])])
    assert isinstance(res.exception, _Stop)
    shown = [line for line in res.stderr.splitlines() if line.startswith("Warning: ")]  # one line on stderr, as neuroxr's
    assert shown == ([] if quiet else ["Warning: a warning of an entry"]) and not caught, res.stderr
    assert seen["workers"] == ("ignore" if quiet else None) and "PYTHONWARNINGS" not in os.environ


def test_cli_sweep_shows_its_inference(sweep_copy, tmp_path):
    """A config with inference: the text output ends with the inference table, --json holds it
    (the sweep's inference_table) and --table writes it beside the entry table."""
    from neuroxr.sweep import sweep

    path = sweep_copy("inf.zarr")
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG + "inference: {bootstrap: 10, permutations: 9}\n")
    runner = CliRunner()
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress",
                                        "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "Inference (bootstrap interval over stimuli" in res.output
    # the summary counts the inference entries too (a bootstrap and a permutation entry per direction entry)
    assert "2 entries: 2 computed, 0 already in the store (" in res.output
    assert "; 4 inference entries: 4 computed, 0 already in the store." in res.output
    direct = sweep(path, models=["netA"], layers=["layer1", "layer3"], neural=["animalA"], directions=["forward"], reps=2,
                   inference={"bootstrap": 10, "permutations": 9}, client="serial", progress=False).inference_table
    written = pd.read_csv(tmp_path / "t.inference.csv")
    pd.testing.assert_frame_equal(written[["key", "median_ev", "median_p"]].sort_values("key").reset_index(drop=True),
                                  direct[["key", "median_ev", "median_p"]].sort_values("key").reset_index(drop=True))
    out = json.loads(runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--json"]).output)
    assert sorted(r["key"] for r in out["inference_table"]) == sorted(direct["key"])
    assert out["computed"] == out["inference_computed"] == []
    assert sorted(out["inference_skipped"]) == sorted([*direct["bootstrap_path"], *direct["permutation_path"]])
    assert {r["key"]: r["median_ev_low"] for r in out["inference_table"]} == pytest.approx(
        dict(zip(direct["key"], direct["median_ev_low"])))


def test_errors_found_while_running_name_the_config_file(sweep_copy, tmp_path):
    """A bad option found only while the sweep runs (brainscore's n_components above a layer's units)
    names the config file, as its load-time errors do, and the entry."""
    path = sweep_copy()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("directions: [brainscore]\nmodels: netA\nlayers: [layer3]\nneural: animalA\n"
                   "metric_options: {brainscore: {n_components: 40, n_splits: 2}}\n")
    res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith(f"Error: {cfg}: 1 of 1 sweep entries failed") and "brainscore/netA.layer3__animalA" in res.output
    assert res.output.count("\n") == 1, res.output
    # a config key and a flag of the same check: each named as it was given
    cfg.write_text("directions: [forward]\nmodels: netA\nneural: animalA\nn_workers: 2\n")
    res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial"])
    assert res.exit_code == 1 and res.output.startswith(f"Error: {cfg}: n_workers has no effect with --scheduler serial ("), res.output


@pytest.mark.parametrize("config, flags, want", [
    ("backend: torch_cuda\n", [], "{cfg}: backend: torch_cuda needs a CUDA GPU"),
    ("", ["--backend", "torch_cuda"], "--backend torch_cuda needs a CUDA GPU"),
    ("backend: torch_cuda\n", ["--backend", "torch_cuda"], "--backend torch_cuda needs a CUDA GPU"),
    ("regions: [IT]\nneural: [animalA, plain]\n", [], "{cfg}: neural set 'plain' has no 'region' coord on 'neuroid', so it "
     "cannot be split by region; drop it from 'neural' or leave out regions."),
    ("max_n: 3\ninference: {bootstrap: 5}\n", [], "{cfg}: inference needs no max_n (the operator must stay fixed)"),
])
def test_errors_spell_keys_as_the_file_and_flags_as_given(sweep_copy, tmp_path, config, flags, want):
    """The sweep's keyword arguments in its messages (``backend='torch_cuda'``, ``regions=None``,
    ``max_n=None``) are spelled as the config file writes them, or as the flag that gave the value
    (then the message is not the file's)."""
    import numpy as np

    from neuroxr.cli import main
    from neuroxr.layouts import neural

    if "torch_cuda" in config + " ".join(flags):
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is available here")
    path = sweep_copy()
    store = StudyStore(path, mode="a")
    stim = store.read_neural("animalA").stimulus_id.values
    store.write_neural("plain", neural(np.random.default_rng(0).normal(size=(len(stim), 3, 2)), stim))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer3]\ndirections: [forward]\n" + config)
    res = CliRunner().invoke(main, ["sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress", *flags])
    assert res.exit_code == 1 and res.output.count("\n") == 1, res.output
    assert res.output.startswith("Error: " + want.format(cfg=cfg)), res.output
    assert "='" not in res.output and "=None" not in res.output


@pytest.mark.parametrize("flag, config, expected", [
    ([], "", {}), (["--on-error", "warn"], "", {"on_error": "warn"}), ([], "on_error: warn\n", {"on_error": "warn"}),
    (["--on-error", "raise"], "on_error: warn\n", {"on_error": "raise"}), (["--blas-threads", "4"], "", {"blas_threads": 4}),
    ([], "blas_threads: 2\n", {"blas_threads": 2}), (["--blas-threads", "none"], "blas_threads: 2\n", {"blas_threads": None}),
    (["--blas-threads", "3"], "blas_threads: null\n", {"blas_threads": 3}),
])
def test_cli_on_error_and_blas_threads_reach_the_sweep(sweep_copy, tmp_path, monkeypatch, flag, config, expected):
    """--on-error / --blas-threads (or the config's on_error / blas_threads) are the sweep's; the flag overrides
    the key; neither given: the sweep's own defaults (on_error='raise', blas_threads=1)."""
    seen = _faked_sweep_kwargs(sweep_copy, tmp_path, monkeypatch, flag, config)
    assert {k: seen[k] for k in ("on_error", "blas_threads") if k in seen} == expected


def test_cli_on_error_warn_keeps_going(sweep_copy, tmp_path, monkeypatch):
    """A failed entry stops a CLI sweep (exit 1, as sweep()'s on_error='raise'); with --on-error warn it is
    named in a warning (--json: in "failed") and the other entries are printed."""
    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG)
    monkeypatch.setenv("NEUROXR_SWEEP_FAIL", "forward/netA.layer1__*")
    args = [str(path), str(cfg), "--scheduler", "serial", "--no-progress"]
    res = CliRunner().invoke(sweep_command, args)
    assert res.exit_code == 1 and "1 of 2 sweep entries failed" in res.output
    res = CliRunner().invoke(sweep_command, [*args, "--on-error", "warn"])
    assert res.exit_code == 0, res.output
    assert "Warning: sweep entry forward/netA.layer1__animalA failed (" in res.output and "injected failure" in res.output
    assert "2 entries: 0 computed, 1 already in the store, 1 failed" in res.output  # layer3: by the first run
    cfg.write_text(CONFIG + "on_error: warn\n")
    res = CliRunner().invoke(sweep_command, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # stderr: the warning that the group of the failed layer has no best layer
    assert list(out["failed"]) == ["forward/netA.layer1__animalA"] and len(out["skipped"]) == 1
    assert "no best layer is chosen there" in res.stderr and out["best_layers"][0]["best_layer"] is None


#: a Python spelling in a message: ``name=value``, ``True``/``False``/``None``
_PYTHON = re.compile(r"\b[a-z_]+=(?:'|\"|None|True|False|\d)|\b(?:None|True|False)\b")


@pytest.mark.parametrize("config, want", [
    ("directions: [cka]\nmetric_options: {cka: {debiased: 'yes'}}\n",
     "metric_options.cka.debiased must be true or false; got 'yes'. Pass metric_options.cka.debiased: true for the"),
    ("directions: [cka]\nmetric_options: {cka: {debiasd: true}}\n",
     "metric_options.cka takes no options [debiasd]; it accepts [debiased]."),
    ("directions: [shape]\nmetric_options: {shape: {alpha: null}}\n", "metric_options.shape.alpha must be a float in [0, 1]; got null."),
    ("directions: [rsa]\nmetric_options: {rsa: {variant: crsa, noise_ceiling: 'no'}}\n",
     "metric_options.rsa.noise_ceiling must be true, false or null (automatic); got 'no'."),
    # rsa's options and the variant's: the key that holds the bad one
    ("directions: [rsa]\nmetric_options: {rsa: {variant: crsa, seed: 3}, crsa: {noise_ceiling: 'no'}}\n",
     "metric_options.crsa.noise_ceiling must be true, false or null (automatic); got 'no'."),
    ("directions: [brainscore]\nmetric_options: {brainscore: {n_components: 0}}\n",
     "metric_options.brainscore.n_components must be an integer >= 1; got 0. The PLS components, e.g. "
     "metric_options.brainscore.n_components: 25."),
    ("directions: [brainscore]\nmetric_options: {brainscore: {stratify_by: 3}}\n",
     "metric_options.brainscore.stratify_by: 3 (line 5) reads as the number 3 in YAML"),
    ("directions: [cka]\nmetric_options:\n  cka:\n    debiased: true\n    debiased: false\n",
     "key 'metric_options.cka.debiased' is given twice (lines 7 and 8)"),
    ("directions: [forward]\ninference: {bootstrap: 10, method: bad}\n", "inference.method must be one of [percentile, bca]; got bad."),
    ("directions: [forward]\ninference: {bootstrap: 0}\n",
     "inference asks for no entries (inference.bootstrap and inference.permutations are both 0)"),
    ("directions: [shape]\ninference: {bootstrap: 5, method: bca}\n",
     "inference.method: bca has no effect with the sweep's directions [shape], which have no direction bootstrap entry "
     "(inference.level sets the bootstrap intervals, inference.method and inference.over the directions' only, "
     "inference.shape_method and inference.cka_method the shape and cka metrics';"),
    ("directions: [brainscore]\nmetric_options: {brainscore: {stratify_by: nowhere, n_splits: 2}}\n",  # found while running
     "brainscore/netA.layer3__animalA: brainscore: metric_options.brainscore.stratify_by: nowhere is not a coord on the "
     "'stimulus' dim of the neural data or the features; name a stimulus coord they have or pass "
     "metric_options.brainscore.stratify_by: null."),
    ("directions: [cka]\nmetric_options: {cka: 3}\n", "; got {cka: 3}."),
])
def test_errors_name_nested_settings_by_their_yaml_path(sweep_copy, tmp_path, config, want):
    """A setting of a nested mapping (metric_options.<metric>, inference) is named by its dotted path
    with its value as YAML (``metric_options.cka.debiased: 'yes'``), never as a Python keyword
    (``debiased=False``) or a top-level key; values and choices are YAML, not Python reprs."""
    from neuroxr.cli import main

    path = sweep_copy()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\n" + config)
    res = CliRunner().invoke(main, ["sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 1 and res.output.count("\n") == 1, res.output
    assert res.output.startswith(f"Error: {cfg}: ") and want in res.output, res.output
    assert not _PYTHON.search(res.output.replace(str(cfg), "")), res.output
    assert "metric 'cka'" not in res.output and "['" not in res.output and "('crsa'" not in res.output


def test_warnings_name_nested_settings_by_their_yaml_path(sweep_copy, tmp_path):
    """A metric's warning while the sweep runs names its option under metric_options (brainscore's
    n_components, not the top-level n_components of the directions' PLS), and an inference entry's warning
    the inference key that asks for it (not the Python function ``bootstrap``)."""
    from neuroxr.cli import main

    path = sweep_copy()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [brainscore]\n"
                   "metric_options: {brainscore: {n_splits: 1}}\n")
    res = CliRunner().invoke(main, ["sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "exceeds the rank" in x)
    assert re.match(r"Warning: brainscore: netA\.layer3: metric_options\.brainscore\.n_components: 25 exceeds", line), line
    assert re.search(r"pass metric_options\.brainscore\.n_components: \d+ or fewer\.$", line), line


def test_inference_warnings_name_the_inference_key(undefined_study, tmp_path):
    """An inference entry's warning while the sweep runs starts with the config key that asks for it
    (``inference.bootstrap:``), not the Python function (``bootstrap:``), and says nothing of nan_policy."""
    from neuroxr.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [net]\nlayers: [l1]\nneural: [mA]\ndirections: [forward]\nreps: 3\ninference: {bootstrap: 20}\n")
    res = CliRunner().invoke(main, ["sweep", undefined_study.url, str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.output.splitlines() if line.startswith("Warning: ")]
    assert any(line.startswith("Warning: inference.bootstrap: mA: 1 neuroids have resamples with an undefined statistic")
               for line in warned), res.output
    assert not any(line.startswith("Warning: bootstrap:") for line in warned) and "nan_policy" not in res.output


def test_cli_sweep_table_leaves_no_earlier_runs_companion_tables(sweep_copy, tmp_path):
    """A rerun whose sweep has no metric rows kept the earlier run's FILE.metrics.csv beside the new FILE.csv."""
    path = sweep_copy()
    cfg, table = tmp_path / "sweep.yaml", tmp_path / "t.csv"
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [forward, cka]\nreps: 2\n")
    runner = CliRunner()
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress", "--table", str(table)])
    assert res.exit_code == 0 and (tmp_path / "t.metrics.csv").exists(), res.output
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [forward]\nreps: 3\n")
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress", "--table", str(table)])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "t.metrics.csv").exists() and f"Removed {tmp_path / 't.metrics.csv'}" in res.output
    assert (pd.read_csv(table)["reps"] == 3).all()


def test_cli_sweep_writes_its_table_when_standard_output_is_closed(sweep_copy, tmp_path):
    """`neuroxr sweep ... --table FILE | head` lost FILE: the text went first and failed on the closed pipe."""
    import subprocess
    import sys

    path = sweep_copy()
    cfg, table = tmp_path / "sweep.yaml", tmp_path / "t.csv"
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n")
    cmd = [sys.executable, "-m", "neuroxr", "sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress",
           "--table", str(table)]
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)  # exits at once, reading nothing
    reader.wait()
    subprocess.run(cmd, stdout=reader.stdin, stderr=subprocess.DEVNULL, check=False, timeout=300)
    reader.stdin.close()
    assert len(pd.read_csv(table)) == 1


def test_an_inference_entry_that_fails_is_a_failed_entry_and_the_others_are_computed(sweep_copy, tmp_path):
    """One failing inference entry (its neural set lost a chunk after the scores were written)
    stopped the whole sweep even with --on-error warn (no table, no JSON), and with a flag given the
    error no longer named the config file. It is now a failed entry as a task is: warned of (its
    row left out) or, by default, raised once the others are computed, naming the file."""
    from neuroxr.sweep import SweepError, sweep

    path = sweep_copy()
    kw = dict(client="serial", progress=False, models=["netA"], layers=["layer1"], neural=["animalA", "animalB"],
              directions=["forward"], reps=2)
    sweep(path, **kw)
    os.remove(path / "neural" / "animalA" / "data" / "c" / "0" / "0" / "0")
    res = sweep(path, on_error="warn", inference={"bootstrap": 20}, **kw)
    assert list(res.failed) == ["inference/forward/netA.layer1__animalA"]
    assert "chunk 0/0/0 is missing" in res.failed["inference/forward/netA.layer1__animalA"]
    assert res.inference_table["neural"].tolist() == ["animalB"] and np.isfinite(res.inference_table["median_ev"]).all()
    with pytest.raises(SweepError, match=r"^1 inference entries failed .*\n  inference/forward/netA\.layer1__animalA: "):
        sweep(path, inference={"bootstrap": 20}, **kw)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer1]\nneural: [animalA, animalB]\ndirections: [forward]\nreps: 2\n"
                   "inference: {bootstrap: 20}\n")
    runner = CliRunner()
    for flags in ([], ["--on-error", "raise"], ["--blas-threads", "1"]):
        line = _one_line_error(runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress",
                                                             *flags]))
        assert line.startswith(f"Error: {cfg}: ") and "write the set again" in line, (flags, line)
    res = runner.invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress", "--on-error", "warn",
                                        "--json", "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out["failed"]) == ["inference/forward/netA.layer1__animalA"] and len(out["inference_table"]) == 1
    assert pd.read_csv(tmp_path / "t.inference.csv")["neural"].tolist() == ["animalB"]


def test_the_entry_table_names_the_time_bin_of_each_row(tmp_path):
    """A time-resolved entry has one row per time bin; the printed entry table showed the rows without
    their bins, as repeated entries with other numbers (the inference table showed them). Each row now
    shows its bin's bounds (``-`` on a static entry's row), the bounds of that row in ``--json``."""
    import warnings

    from conftest import time_sets

    from neuroxr.errors import NeuroxrWarning

    F, A, _ = time_sets()
    store = StudyStore(tmp_path / "study.zarr")
    store.write_features("net", "l1", F)
    store.write_neural("mA", A)
    static = A.isel(time_bin=0, drop=True)
    store.write_neural("mS", static.drop_vars([c for c in static.coords if c.startswith("time_bin")], errors="ignore"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("directions: [forward]\nreps: 2\n")
    args = [store.url, str(cfg), "--scheduler", "serial", "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        rows = json.loads(CliRunner().invoke(sweep_command, [*args, "--json"]).stdout)["table"]
        res = CliRunner().invoke(sweep_command, args)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["direction"])
    assert lines[head].split()[:5] == ["direction", "source", "target", "time_bin_start", "time_bin_end"]
    shown = [tuple(line.split()[:5]) for line in lines[head + 1: head + 1 + len(rows)]]
    bound = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
    assert shown == [("forward", r["source"], r["target"], bound(r["time_bin_start"]), bound(r["time_bin_end"]))
                     for r in rows]
    assert len(set(shown)) == len(rows) == 4  # three bins of mA, the static mS


def test_cli_sweep_table_help_names_every_file_it_writes(sweep_copy, tmp_path):
    """--table's help names each file a sweep writes beside FILE (it left out FILE.best_layers.csv)."""
    path = sweep_copy()
    cfg, table = tmp_path / "sweep.yaml", tmp_path / "t.csv"
    cfg.write_text(CONFIG)
    res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress", "--table", str(table)])
    assert res.exit_code == 0, res.output
    beside = sorted(p.name[len("t"):] for p in tmp_path.iterdir() if p.name.startswith("t.") and p.name != "t.csv")
    assert ".best_layers.csv" in beside, beside
    text = " ".join(next(p for p in sweep_command.params if p.name == "table_path").help.split())
    assert all(f"FILE{suffix}" in text for suffix in beside), (beside, text)
