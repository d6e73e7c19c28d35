"""The command line in scripts and terminals: --json, --quiet, progress lines, one-line errors,
--version, lazy imports and the dashboard advice."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import cli_store

import neuroxr
from neuroxr import entries as nx_entries
from neuroxr.cli import main
from neuroxr.cli._common import Output, progress_for
from neuroxr.errors import SweepError
from neuroxr.store import StudyStore


@pytest.fixture
def store(tmp_path):
    return cli_store(tmp_path / "s.zarr")


def _one_line_error(result):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_version_and_help(runner):
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0 and res.stdout == f"neuroxr, version {neuroxr.__version__}\n"
    res = runner.invoke(main, ["-V"])
    assert res.exit_code == 0 and neuroxr.__version__ in res.stdout
    res = runner.invoke(main, ["--help"])
    for command in ("info", "validate", "score", "demo", "report", "sweep", "extract"):
        assert command in res.stdout



@pytest.mark.parametrize("module", ["neuroxr", "neuroxr.cli"])
def test_python_dash_m_runs_the_command(module):
    proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == f"neuroxr, version {neuroxr.__version__}\n", proc.stderr

def test_cli_modules_import_nothing_heavy():
    """The command modules import their heavy dependencies inside the commands (fast --help)."""
    code = ("import sys, neuroxr; before = set(sys.modules); import neuroxr.cli; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    new = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = [m for m in new if m.split(".")[0] in ("matplotlib", "jinja2", "torch", "bokeh")
             or m.startswith(("neuroxr.report", "neuroxr.extract", "neuroxr.plot", "neuroxr.schemas"))]
    assert heavy == [], heavy


@pytest.mark.parametrize("command", [["info"], ["validate"], ["report", "--no-reliability"],
                                     ["score", "forward", "STORE", "net.l1", "mA"], ["score", "cka", "STORE", "net.l1", "mA"],
                                     ["score", "dimensionality", "STORE", "net.l1"]])
def test_quiet_prints_nothing_and_json_one_object(runner, store, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    args = [store.url if a == "STORE" else a for a in command]
    if "STORE" not in command:
        args.insert(1 if command[0] != "report" else 1, store.url)
    res = runner.invoke(main, [*args, "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.output == ""
    res = runner.invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert isinstance(obj, dict)
    assert all(line.startswith("Warning: ") for line in res.stderr.splitlines()), res.stderr  # one line each


def test_score_json_matches_the_entry(runner, store):
    res = runner.invoke(main, ["score", "forward", store.url, "net.l1", "mA.IT", "--reps", "2", "--n-folds", "3", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    ds = store.read_dataset(nx_entries.lookup(store, "forward", "net.l1", "mA.IT", params={"reps": 2, "n_folds": 3})).load()
    ev = ds["ev"].mean("rep")
    assert obj["path"] == nx_entries.lookup(store, "forward", "net.l1", "mA.IT", params={"reps": 2, "n_folds": 3})
    finite = ev.values[np.isfinite(ev.values)]  # the sweep's n_targets: included targets with a finite EV
    assert obj["computed"] is True and obj["n_targets"] == finite.size == 2 and obj["n_excluded"] == 0
    assert obj["median_ev"] == pytest.approx(float(ev.median()))
    assert obj["q25_ev"] == pytest.approx(float(np.percentile(finite, 25)))
    again = json.loads(runner.invoke(main, ["score", "forward", store.url, "net.l1", "mA.IT", "--reps", "2", "--n-folds", "3",
                                            "--json"]).stdout)
    assert again["computed"] is False and again["median_ev"] == obj["median_ev"]
    res = runner.invoke(main, ["score", "shape", store.url, "net.l1", "mA", "--json"])
    obj = json.loads(res.stdout)
    ds = store.read_dataset(obj["path"]).load()
    assert obj["value"] == pytest.approx(float(ds["score"].sel(split="test")))
    assert obj["train_value"] == pytest.approx(float(ds["score"].sel(split="train")))
    assert obj["lower_is_better"] is True


def test_info_json_is_the_summary(runner, store):
    from neuroxr.cli import store_summary

    res = runner.invoke(main, ["info", store.url, "--json"])
    assert json.loads(res.stdout) == json.loads(json.dumps(store_summary(store), default=str))


def test_progress_is_a_plain_line_off_a_terminal(capsys):
    prog = progress_for(Output(), "forward reps")
    assert callable(prog)  # pytest's stderr is not a terminal
    assert list(prog(range(20))) == list(range(20))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "forward reps: 2/20" and lines[-1] == "forward reps: 20/20" and len(lines) == 10
    assert progress_for(Output(quiet=True), "x") is False and progress_for(Output(as_json=True), "x") is False


def test_progress_prints_its_last_step_when_the_consumer_takes_exactly_n(capsys):
    """The directions take their reps with next() (never exhausting the iterator): the last line
    still comes, when the iterator is closed."""
    it = iter(progress_for(Output(), "forward reps")(range(3)))
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert capsys.readouterr().err.splitlines() == ["forward reps: 1/3", "forward reps: 2/3", "forward reps: 3/3"]


def test_forward_progress_reaches_the_last_rep(runner, store):
    res = runner.invoke(main, ["score", "forward", store.url, "net.l1", "mA", "--reps", "3", "--n-folds", "3"])
    assert res.exit_code == 0, res.output
    assert [line for line in res.stderr.splitlines() if "reps" in line][-1] == "forward reps: 3/3", res.stderr


@pytest.mark.parametrize("command", [["info", "STORE"], ["score", "forward", "STORE", "net.l1", "mA"],
                                     ["score", "cka", "STORE", "net.l1", "mA"], ["report", "STORE", "--no-reliability"]])
def test_json_and_quiet_together_are_refused(runner, store, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(main, [store.url if a == "STORE" else a for a in command] + ["--json", "--quiet"])
    assert res.exit_code == 2 and res.stdout == ""
    line = _one_line_error(res)
    assert "--json" in line and "--quiet" in line and "pass one" in line
    assert nx_entries.list_entries(store).empty and not (tmp_path / "s-report").exists()


@pytest.mark.parametrize("args, message", [
    (["--reps", "2", "--reps", "3"], r"--reps is given 2 times \(the last would win without a word\): pass it once"),
    (["--reps=2", "--reps", "3"], r"--reps is given 2 times"),
    (["--regressor", "linear", "--regressor", "ridge"], r"--regressor is given 2 times"),
    (["--no-ceiling", "--no-ceiling"], r"--no-ceiling is given 2 times"),
    (["RSA", "--ceiling", "--no-ceiling"], r"--ceiling and --no-ceiling contradict or repeat each other .*: pass one of them"),
])
def test_an_option_given_twice_is_refused_not_resolved_to_the_last(runner, store, args, message):
    """click kept the last of a repeated option (or flag pair) without a word: --reps 2 --reps 3 scored reps=3."""
    kind, args = ("rsa", args[1:]) if args[0] == "RSA" else ("forward", ["--n-folds", "3", *args])
    res = runner.invoke(main, ["score", kind, store.url, "net.l1", "mA", *args])
    assert res.exit_code == 2
    assert re.search(message, _one_line_error(res))
    assert nx_entries.list_entries(store).empty


def test_a_storage_option_key_given_twice_is_refused(runner):
    res = runner.invoke(main, ["info", "s3://bucket/x.zarr", "-S", "endpoint_url=http://127.0.0.1:1",
                               "-S", "endpoint_url=http://127.0.0.1:2"])
    assert res.exit_code == 2 and "endpoint_url given more than once; give each key once" in _one_line_error(res)


def test_empty_names_are_refused_not_defaulted(runner, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "anchors.txt").write_text("s00\ns01\n")
    for args, option in ((["relative", store.url, "net.l1", "--anchors", str(tmp_path / "anchors.txt"), "--name", ""], "--name"),
                         (["report", store.url, "--no-reliability", "--out", ""], "--out"),
                         (["report", store.url, "--no-reliability", "--out", "  "], "--out")):
        res = runner.invoke(main, args)
        assert res.exit_code == 2
        assert f"Invalid value for '{option}': is empty" in _one_line_error(res)
    assert store.layers("net") == ["l1", "l2"] and not (tmp_path / "s-report").exists()


def test_score_without_a_kind_prints_its_usage(runner):
    res = runner.invoke(main, ["score"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.startswith("Usage: ") and "Error: Usage" not in res.output
    assert "Commands:" in res.output and len(res.output.splitlines()) > 5 and "temporal-generalization" in res.output


def test_score_progress_goes_to_stderr(runner, store):
    res = runner.invoke(main, ["score", "reverse", store.url, "mA", "net.l1", "--reps", "4", "--n-folds", "3"])
    assert res.exit_code == 0, res.output
    assert "reverse reps: 4/4" in res.stderr and "reps:" not in res.stdout


@pytest.mark.parametrize("args", [
    ["info", "MISSING"], ["validate", "MISSING"], ["report", "MISSING"], ["score", "forward", "MISSING", "a.b", "c"],
    ["score", "cka", "STORE", "net.nope", "mA"], ["score", "forward", "STORE", "mA", "net.l1"],
    ["report", "STORE", "--format", "pdf"], ["sweep", "MISSING"], ["extract", "STORE", "--model-name", "m"],
    ["extract", "STORE", "--model", "nowhere_pkg:f", "--model-name", "m", "--texts", "TEXTS"],
    ["demo", "TAKEN"], ["nonsense"], ["score", "cka", "STORE", "net.l1"], ["info"], ["score", "forward", "STORE", "x", "y", "--reps", "0"],
])
def test_every_error_is_one_line(runner, store, tmp_path, args):
    (tmp_path / "taken").mkdir()
    (tmp_path / "t.txt").write_text("a\nb\n")
    subs = {"MISSING": str(tmp_path / "missing.zarr"), "STORE": store.url, "TAKEN": str(tmp_path / "taken"),
            "TEXTS": str(tmp_path / "t.txt")}
    res = runner.invoke(main, [subs.get(a, a) for a in args])
    line = _one_line_error(res)
    assert len(line) > len("Error: ") + 10 and "Error:  " not in line  # says what is wrong


@pytest.mark.parametrize("args", [["info", "STORE"], ["score", "cka", "STORE", "net.l1", "mA"]])
def test_ctrl_c_is_one_line_and_exit_status_130(runner, store, monkeypatch, args):
    """A KeyboardInterrupt inside a command: a one-line note and the shell's status of SIGINT,
    not click's "Aborted!" with the status of an error."""
    import neuroxr.cli.info

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(neuroxr.cli.info, "store_summary", interrupt)
    monkeypatch.setattr(nx_entries, "compute", interrupt)
    res = runner.invoke(main, [store.url if a == "STORE" else a for a in args])
    assert res.exit_code == 130, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Interrupted (Ctrl-C)") and "Aborted" not in res.output


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_closed_stdout_ends_quietly(store, extra):
    """`neuroxr info STORE | head`: a reader that leaves early ends the command without an error
    line or a traceback (Python's documented handling of BrokenPipeError, exit status 1)."""
    proc = subprocess.Popen([sys.executable, "-m", "neuroxr.cli", "info", store.url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command prints anything: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == ""


def test_sweep_without_bokeh_advises_the_extra(runner, store, monkeypatch):
    import importlib

    from neuroxr.sweep import SweepResult

    cli_sweep = importlib.import_module("neuroxr.cli.sweep")
    run = importlib.import_module("neuroxr.sweep.run")
    empty = SweepResult(entries=[], computed=[], skipped=[], failed={}, seconds=0.0)
    monkeypatch.setattr(run, "sweep", lambda *a, **k: empty)
    monkeypatch.setattr(cli_sweep, "_has_bokeh", lambda: False)
    res = runner.invoke(main, ["sweep", store.url])
    assert res.exit_code == 0, res.output
    assert 'pip install ".[dashboard]"' in res.stderr and "dashboard" not in res.stdout
    for flag in ("--quiet", "--json"):
        assert "dashboard" not in runner.invoke(main, ["sweep", store.url, flag]).output
    assert "dashboard" not in runner.invoke(main, ["sweep", store.url, "--scheduler", "serial"]).output  # no local cluster
    monkeypatch.setattr(cli_sweep, "_has_bokeh", lambda: True)
    assert "dashboard" not in runner.invoke(main, ["sweep", store.url]).output

    def failing(*a, **k):
        raise SweepError("stopped here")

    monkeypatch.setattr(run, "sweep", failing)
    assert _one_line_error(runner.invoke(main, ["sweep", store.url])) == "Error: stopped here"


def _strict(text):
    def bad(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=bad)


def test_json_is_strict_with_nan_values(runner, store):
    """A brainscore without a ceiling has a NaN ceiling and score: --json prints null, never NaN."""
    res = runner.invoke(main, ["score", "brainscore", store.url, "net.l1", "mA", "--n-components", "2", "--n-splits", "2",
                               "--train-size", "0.8", "--no-ceiling", "--json"])  # 16 stimuli: 4 held out
    assert res.exit_code == 0, res.output
    obj = _strict(res.stdout)
    assert obj["ceiling"] is None
    res = runner.invoke(main, ["info", store.url, "--json"])
    assert res.exit_code == 0, res.output
    _strict(res.stdout)


def test_to_json_turns_non_finite_values_into_null():
    from neuroxr.cli._common import to_json

    obj = {"a": float("nan"), "b": [np.float32(np.inf), np.int64(3)], "c": np.array([1.0, np.nan]), "d": (np.nan,)}
    assert _strict(to_json(obj)) == {"a": None, "b": [None, 3], "c": [1.0, None], "d": [None]}


@pytest.mark.parametrize("args", [
    ["report", "STORE", "--seed", "-1"], ["demo", "DEMO", "--seed", "-1"],
    ["score", "brainscore", "STORE", "net.l1", "mA", "--seed", "-1"],
    ["score", "shape", "STORE", "net.l1", "mA", "--seed", "-1"],
    ["score", "rsa", "STORE", "net.l1", "mA", "--seed", "-1"],
    ["score", "rsa", "STORE", "net.l1", "mA", "--variant", "ersa", "--fold-seed", "-1"],
    ["score", "temporal-generalization", "STORE", "net.l1", "mA", "--fold-seed", "-1"],
    ["score", "forward", "STORE", "net.l1", "mA", "--seed", "-1"],
    ["score", "forward", "STORE", "net.l1", "mA", "--fold-seed", "-1"],
])
def test_a_negative_seed_is_refused_at_its_option(runner, store, tmp_path, args):
    args = [store.url if a == "STORE" else str(tmp_path / "demo.zarr") if a == "DEMO" else a for a in args]
    res = runner.invoke(main, args)
    line = _one_line_error(res)
    assert res.exit_code == 2 and f"'{args[-2]}'" in line, line


def test_time_resolved_summary_is_the_report_score_table_row(runner, tmp_path):
    """score forward on a time-resolved set with --min-reliability: the summary (--json and text)
    counts the (target, time bin) pairs the report's score table pools, never targets beside pairs."""
    import warnings

    from conftest import time_sets

    from neuroxr.report import score_table

    F, A, _ = time_sets()
    st = StudyStore(tmp_path / "t.zarr")
    st.write_neural("mA", A)
    st.write_features("net", "l1", F)
    args = ["score", "forward", st.url, "net.l1", "mA", "--reps", "2", "--min-reliability", "0.9"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
        text = runner.invoke(main, args).stdout
    row = score_table(st.url)[0].set_index("path").loc[obj["path"]]
    counts = ("n_targets", "n_excluded", "n_all")
    assert {k: obj[k] for k in counts} == {k: int(row[k]) for k in counts}
    assert obj["n_time_bins"] == 3 and obj["n_all"] == 5 * 3 and 0 < obj["n_excluded"]
    assert obj["median_ev"] == pytest.approx(row["median_ev"])
    assert (f"{obj['n_targets']} (target, time bin) pairs of 5 targets x 3 time bins ({obj['n_excluded']} excluded: "
            f"included=False)") in text


def test_score_shape_of_a_constant_layer_warns_naming_it(runner, constant_layer_study):
    """neuroxr score shape gives NaN for a constant layer with the warning CKA gives, naming the layer."""
    res = runner.invoke(main, ["score", "shape", constant_layer_study.url, "net.l1", "net.const", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["value"] is None  # NaN
    warned = [line for line in res.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warned) == 1 and warned[0].startswith("Warning: shape: net.const has constant features"), res.stderr
    assert "shape distance is undefined" in warned[0]


def test_info_lists_an_unfinished_entry_the_inventory_does_not_know(runner, store):
    import zarr

    from neuroxr.cli.info import store_summary
    from neuroxr.schemas import validate_store

    nx_entries.compute(store, "forward", "net.l1", "mA", params={"reps": 2})
    # an entry group left without its completion marker, which no inventory record names (made by hand,
    # or its writer was killed before it recorded it)
    path = "scores/forward/net.l2__mA/0123456789abcdef"
    zarr.open_group(store._zstore, path=path, mode="a").create_array("ev", shape=(5, 2), dtype="f8")
    walked = StudyStore(store.url, mode="r").incomplete_entries()
    assert walked == [path]
    assert store_summary(StudyStore(store.url, mode="r"))["incomplete"] == walked
    res = runner.invoke(main, ["info", store.url, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["incomplete"] == walked
    res = runner.invoke(main, ["info", store.url])
    assert f"Incomplete entries (1)\n  {path}  (write did not finish" in res.stdout
    assert any(p.startswith(f"{path}: complete: the entry's write did not finish") for p in validate_store(store.url))


def test_ctrl_c_marks_its_line_said_before_printing_it(runner, store, monkeypatch):
    """The handler records the line as said before it prints it: a second Ctrl-C while it prints (the process's
    own handlers already back) ends the process without a second line (``_signals._end``)."""
    import neuroxr.cli._common as common
    import neuroxr.cli.info
    from neuroxr import _signals

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    seen = []
    echo = common.click.echo

    def recording(message=None, *a, **k):
        seen.append((str(message), _signals._said))
        return echo(message, *a, **k)

    monkeypatch.setattr(_signals, "_said", False)
    monkeypatch.setattr(neuroxr.cli.info, "store_summary", interrupt)
    monkeypatch.setattr(common.click, "echo", recording)
    res = runner.invoke(main, ["info", store.url])
    assert res.exit_code == 130
    assert [said for message, said in seen if message.startswith("Interrupted (Ctrl-C)")] == [True]


def test_crsa_json_holds_the_ceiling_its_text_line_gives(runner, geometry_study):
    """``score rsa --json`` (crsa) holds the split-half ceiling and the ceiled score of the entry the API writes, as
    its text line does (the JSON gave the raw value only); without a ceiling both are null."""
    ref = nx_entries.compute(geometry_study, "crsa", "net.conv1", "monkeyA", params={"reps": 3}).dataset
    res = runner.invoke(main, ["score", "rsa", geometry_study.url, "net.conv1", "monkeyA", "--reps", "3", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["computed"] is False and obj["value"] == float(ref["score"])
    assert obj["ceiling"] == float(ref["ceiling"]) and obj["ceiled_score"] == float(ref["ceiled_score"])
    text = runner.invoke(main, ["score", "rsa", geometry_study.url, "net.conv1", "monkeyA", "--reps", "3"]).stdout
    assert f"ceiling {obj['ceiling']:.4f}, ceiled {obj['ceiled_score']:.4f}" in text
    res = runner.invoke(main, ["score", "rsa", geometry_study.url, "net.conv1", "monkeyA", "--no-ceiling", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["ceiling"] is None and obj["ceiled_score"] is None and np.isfinite(obj["value"])


def test_score_summaries_count_the_stimuli_left_out_for_missing_trials(runner, tmp_path):
    """A score read back (or computed) on a neural set with stimuli that lack every trial says how many it left
    out, in --json and its text line, as the sweep's tables do (n_excluded_stimuli): it said so only in the warning
    of the run that computed it, and never when it was read back."""
    from conftest import latent_sets

    f1, _, neu = latent_sets(nan_trial=(slice(0, 3), slice(None), slice(None)))
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    st.write_features("net", "l1", f1)
    missing = int(np.isnan(neu.values).all(axis=(1, 2)).sum())  # stimuli without a trial in any neuroid
    assert missing == 3
    with pytest.warns(Warning):
        nx_entries.compute(st, "forward", "net.l1", "mA", params={"reps": 2})
        nx_entries.compute(st, "cka", "net.l1", "mA")
    for args in (["forward", st.url, "net.l1", "mA", "--reps", "2"], ["cka", st.url, "net.l1", "mA"]):
        res = runner.invoke(main, ["score", *args, "--json"])
        assert res.exit_code == 0, res.output
        obj = json.loads(res.stdout)
        assert obj["computed"] is False and obj["n_excluded_stimuli"] == missing, obj
        text = runner.invoke(main, ["score", *args]).stdout
        assert f"{missing} stimuli left out for missing trials" in text, text


def test_info_json_holds_every_section_also_where_the_store_has_none(runner, store):
    """``info --json`` has the same keys for every store: ``inference`` was left out of a store without inference
    entries (a script reading it met a KeyError), and is a list of them once there are some."""
    res = runner.invoke(main, ["info", store.url, "--json"])
    assert res.exit_code == 0, res.output
    empty = json.loads(res.stdout)
    assert empty["inference"] == [] and empty["metrics"] == []
    path = nx_entries.compute(store, "cka_permutation", "net.l1", "mA", params={"n_perm": 5}).path
    full = json.loads(runner.invoke(main, ["info", store.url, "--json"]).stdout)
    assert set(full) == set(empty) and [e["path"] for e in full["inference"]] == [path]
    assert full["inference"][0]["p"] == float(store.read_dataset(path)["p"])


@pytest.mark.parametrize("args, says", [(["--bogus"], "No such option '--bogus'."), (["-x", "info"], "No such option '-x'.")])
def test_a_usage_error_of_the_group_itself_is_one_line(runner, args, says):
    """An option the ``neuroxr`` group does not know is a usage error in one line (exit status 2), as a command's:
    click printed the group's usage block and a hint before it."""
    res = runner.invoke(main, args)
    assert res.exit_code == 2 and res.stdout == "", res.output
    line = _one_line_error(res)
    assert line.startswith(f"Error: {says}") and line.endswith("--help')"), line
    assert runner.invoke(main, []).output.startswith("Usage:")  # plain neuroxr: its help, as before


def test_info_shows_the_time_bins_of_a_time_resolved_set(runner, tmp_path):
    """``info``'s neural-set table gives a time-resolved set's number of time bins (a static set's cell '-'):
    it showed stimulus, neuroid and repeat only, so a time-resolved set read as a static one."""
    from conftest import time_sets

    _, A, _ = time_sets()
    st = StudyStore(tmp_path / "t.zarr")
    st.write_neural("mT", A)
    static = A.isel(time_bin=0, drop=True)
    st.write_neural("mS", static.drop_vars([c for c in static.coords if c.startswith("time_bin")], errors="ignore"))
    res = runner.invoke(main, ["info", st.url])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = lines.index("Neural sets (2)") + 1
    assert lines[head].split()[:5] == ["name", "stimulus", "neuroid", "repeat", "time_bin"], lines[head]
    rows = {line.split()[0]: line.split()[1:5] for line in lines[head + 1: head + 3]}
    assert rows["mT"] == [str(A.sizes[d]) for d in ("stimulus", "neuroid", "repeat", "time_bin")]
    assert rows["mS"][3] == "-"


def test_a_direction_without_an_included_target_says_so_not_nan(runner, store):
    """Where --min-reliability leaves no target included, the score's line says there is no median EV (it printed
    'median EV nan% (IQR nan-nan)'); --json holds null."""
    args = ["score", "forward", store.url, "net.l1", "mA", "--reps", "2", "--n-folds", "3", "--min-reliability", "1"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    ds = store.read_dataset(json.loads(runner.invoke(main, [*args, "--json"]).stdout)["path"])
    assert not bool(ds["included"].any())  # the case: no target reaches a reliability of 1
    line = res.stdout.strip().splitlines()[0]
    assert "nan" not in line and "no median EV (no included target with a finite EV)" in line, line
    assert json.loads(runner.invoke(main, [*args, "--json"]).stdout)["median_ev"] is None


def test_permutations_json_holds_the_median_r_its_line_gives(runner, store):
    """``score forward --permutations N --json`` holds the observed median r of the permutation entry beside its p, as
    its text line gives both (the JSON gave the p only)."""
    args = ["score", "forward", store.url, "net.l1", "mA", "--reps", "2", "--n-folds", "3", "--permutations", "5"]
    obj = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
    ds = store.read_dataset(obj["permutation_path"])
    want = float(np.nanmedian(ds["r"].values)) if "r" in ds else None
    assert obj["median_r"] == pytest.approx(want) and obj["median_p"] is not None, (obj, list(ds))
    text = runner.invoke(main, args).stdout
    assert f"median r {obj['median_r']:.3f}, permutation p = {obj['median_p']:.4g}" in text, text
