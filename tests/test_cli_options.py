"""Parity of the ``neuroxr score`` options with the Python API and the sweep: every option the API and a
sweep config take for a kind is reachable from the command line, with the same values, and reaches the
entry the API writes for them (click's CliRunner)."""

from __future__ import annotations

import json
import warnings

import click
import numpy as np
import pytest

import neuroxr
from neuroxr import entries as nx_entries
from neuroxr.cli import main


def _choices(command: click.Command, name: str) -> tuple[str, ...]:
    return tuple(next(p for p in command.params if p.name == name).type.choices)


def test_named_choices_are_the_librarys():
    """--regressor names every regressor the API and a sweep config name; --backend every backend."""
    from neuroxr.backend import BACKENDS
    from neuroxr.kernels.regressors import REGRESSORS

    score = main.commands["score"]
    for direction in ("forward", "reverse", "inter-animal", "model-to-model"):
        assert _choices(score.commands[direction], "regressor") == REGRESSORS
        assert _choices(score.commands[direction], "backend") == BACKENDS
    assert _choices(main.commands["sweep"], "backend") == BACKENDS
    for metric in ("rsa", "shape", "cka", "dimensionality"):
        assert _choices(score.commands[metric], "backend") == BACKENDS


@pytest.mark.parametrize("args", [["rsa", "net.conv1", "monkeyA", "--bootstrap", "3"], ["cka", "net.conv1", "monkeyA"],
                                  ["dimensionality", "net.conv1"], ["shape", "net.conv1", "net.fc"]])
def test_metric_backend_reaches_the_computation(runner, geometry_study, monkeypatch, args):
    """--backend of a metric command reaches the entry engine for its entries (the metric's kernels and the
    Grams it reads; its inference entries resample on NumPy); the entries equal the NumPy ones (the
    backend is no parameter of the numbers)."""
    pytest.importorskip("torch")
    seen, compute = [], nx_entries.compute
    monkeypatch.setattr(nx_entries, "compute", lambda *a, backend=None, **k: seen.append(backend) or compute(*a, backend=backend, **k))
    res = runner.invoke(main, ["score", *args[:1], geometry_study.url, *args[1:], "--backend", "torch", "--json"])
    assert res.exit_code == 0, res.output
    assert seen and set(seen) == {"torch"}, seen
    got = json.loads(res.stdout)
    ref = nx_entries.compute(geometry_study, "crsa" if args[0] == "rsa" else args[0], args[1], args[2] if len(args) > 2 else None,
                             overwrite=True).dataset
    np.testing.assert_allclose(got["value"], nx_entries.metric_value(ref), rtol=1e-10)


def test_bootstrap_option_defaults_are_the_kinds():
    """The defaults the help gives for --level, --boot-method and --boot-over are the bootstrap kinds'."""
    from neuroxr.cli._score_flags import _BIAS_BOOT_DEFAULT, _BOOT_DEFAULTS
    from neuroxr.entries import KINDS

    for kind in ("forward", "reverse", "inter_animal", "model_to_model"):
        defaults = KINDS[f"{kind}_bootstrap"].defaults
        assert _BOOT_DEFAULTS == {k: defaults[k] for k in _BOOT_DEFAULTS}
    for kind in ("crsa", "ersa", "cka", "shape"):
        assert KINDS[f"{kind}_bootstrap"].defaults["level"] == _BOOT_DEFAULTS["level"]
    assert KINDS["shape_bootstrap"].defaults["method"] == KINDS["cka_bootstrap"].defaults["method"] == _BIAS_BOOT_DEFAULT


@pytest.mark.parametrize("extra,params", [
    (["--regressor", "univariate"], {"regressor": "univariate"}),
    (["--regressor", "ridgecv", "--alphas", "0.5,5"], {"regressor": "ridgecv", "alphas": [0.5, 5.0]}),
])
def test_named_regressors_reach_the_entry(runner, geometry_study, extra, params):
    """A regressor the API takes by name, and ridgecv's penalty grid, from the command line: the entry
    the API asks for with the same values, holding the direction function's numbers."""
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--reps", "2",
                               "--n-folds", "3", *extra, "--json"])
    assert res.exit_code == 0, res.output
    got = nx_entries.compute(geometry_study, "forward", "net.conv1", "monkeyA", require_existing=True,
                             params={"reps": 2, "n_folds": 3, **params})
    assert json.loads(res.stdout)["path"] == got.path
    with warnings.catch_warnings():  # the ceiling's warning, given by the command too
        warnings.simplefilter("ignore", neuroxr.NeuroxrWarning)
        want = neuroxr.forward(geometry_study.read_features("net", "conv1"), geometry_study.read_neural("monkeyA"),
                               reps=2, n_folds=3, **params)
    np.testing.assert_allclose(got.dataset["ev"].values, want["ev"].values, rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("value", ["0.5,x", "0.5,,2", ""])
def test_alphas_that_are_no_numbers_are_refused_naming_the_option(runner, geometry_study, value):
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--regressor", "ridgecv",
                               "--alphas", value])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "--alphas" in res.stderr, res.output
    assert "separated by commas" in res.stderr
    assert nx_entries.list_entries(geometry_study).query("kind != 'gram'").empty


def test_a_repeated_alpha_is_refused_naming_the_option(runner, geometry_study):
    """``--alphas 1,1`` was accepted, keyed and fitted as ``--alphas 1``: a usage error naming the flag, nothing
    computed; the Python call and ``nx.score`` refuse ``alphas=[1, 1]`` alike."""
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--regressor", "ridgecv",
                               "--alphas", "1,10,1"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert res.stderr.startswith("Error: forward: --alphas 1,10,1 names the penalty 1 more than once; give each "
                                 "penalty once, e.g. --alphas 0.1,1,10."), res.stderr
    assert nx_entries.list_entries(geometry_study).query("kind != 'gram'").empty
    with pytest.raises(neuroxr.ParameterError, match=r"^forward: alphas=\[1\.0, 1\.0\] names the penalty 1 more than once"):
        neuroxr.score(geometry_study, "forward", "net.conv1", "monkeyA", regressor="ridgecv", alphas=[1.0, 1.0])


def test_alphas_out_of_range_are_refused_in_the_flags_spelling(runner, geometry_study):
    """A penalty <= 0 is refused by the direction's check; its advice is spelled as the flag takes it
    (it said ``Pass e.g. alphas=(0.1, 1.0, 10.0)``, the Python spelling)."""
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--regressor", "ridgecv",
                               "--alphas", "0.5,-1"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert "Pass e.g. --alphas 0.1,1,10." in res.stderr and "alphas=(" not in res.stderr, res.stderr
    # the direction first (as its Python call says it), the parameter as the flag gives it
    assert res.stderr.startswith("Error: forward: --alphas 0.5,-1 must be one or more penalties, each finite and > 0, "
                                 "for --regressor ridgecv."), res.stderr
    from neuroxr.cli._common import flag_spelling

    score = main.commands["score"].commands["forward"]
    assert flag_spelling("pass alphas=[1, 2.5e-3] or alpha=2", score) == "pass --alphas 1,0.0025 or --alpha 2"


def test_direction_bootstrap_options_reach_the_entry(runner, geometry_study):
    """--level, --boot-method and --boot-over set the direction's bootstrap entry, as a sweep's
    ``inference: {level, method, over}`` and the API's parameters of the same names."""
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--reps", "2", "--n-folds", "3",
                               "--bootstrap", "6", "--level", "0.8", "--boot-method", "bca", "--boot-over", "targets"])
    assert res.exit_code == 0, res.output
    params = {"reps": 2, "n_folds": 3, "n_boot": 6, "level": 0.8, "method": "bca", "over": "targets"}
    got = nx_entries.compute(geometry_study, "forward_bootstrap", "net.conv1", "monkeyA", params=params,
                             require_existing=True)
    lo, hi = got.dataset["median_ev_ci"].values
    assert f"{got.path}: median EV 80 % interval {lo:.2f}-{hi:.2f}% (6 resamples of the targets)" in res.stdout


@pytest.mark.parametrize("kind,extra,params", [
    ("shape", ["--level", "0.8", "--boot-method", "basic"], {"level": 0.8, "method": "basic"}),
    ("cka", ["--level", "0.9"], {"level": 0.9}),
    ("rsa", ["--level", "0.9", "--compare-method", "pearson"], {"level": 0.9, "compare_method": "pearson"}),
])
def test_metric_bootstrap_options_reach_the_entry(runner, geometry_study, kind, extra, params):
    res = runner.invoke(main, ["score", kind, geometry_study.url, "net.conv1", "monkeyA", "--bootstrap", "5", *extra])
    assert res.exit_code == 0, res.output
    name = "crsa" if kind == "rsa" else kind
    got = nx_entries.compute(geometry_study, f"{name}_bootstrap", "net.conv1", "monkeyA", params={"n_boot": 5, **params},
                             require_existing=True)
    assert f"{got.path}: {name} " in res.stdout and f"{100 * params['level']:g} % interval" in res.stdout


@pytest.mark.parametrize("args,flags", [
    (["forward", "net.conv1", "monkeyA", "--level", "0.9"], "--level"),
    (["forward", "net.conv1", "monkeyA", "--boot-method", "bca", "--boot-over", "targets", "--permutations", "3"],
     "--boot-method and --boot-over"),
    (["shape", "net.conv1", "monkeyA", "--boot-method", "basic"], "--boot-method"),
    (["cka", "net.conv1", "monkeyA", "--level", "0.9", "--permutations", "3"], "--level"),
])
def test_bootstrap_options_without_bootstrap_are_refused(runner, geometry_study, args, flags):
    """Never ignored: the bootstrap's options without --bootstrap are a usage error naming them, before
    anything is computed."""
    kind, *rest = args
    res = runner.invoke(main, ["score", kind, geometry_study.url, *rest])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert f"{flags} set" in res.stderr and "add --bootstrap N" in res.stderr
    assert nx_entries.list_entries(geometry_study).query("kind != 'gram'").empty


@pytest.mark.parametrize("args,says", [
    (["forward", "net.conv1", "monkeyA", "--reps", "2", "--bootstrap", "3", "--boot-method", "bca", "--boot-over", "both"],
     "--boot-method bca needs one resampled axis"),
    (["rsa", "net.conv1", "monkeyA", "--compare-method", "kendall", "--bootstrap", "3"], "--compare-method kendall is not offered"),
])
def test_inference_parameters_the_kind_refuses_stop_before_the_score_is_computed(runner, geometry_study, args, says):
    """An inference entry's parameters that its kind refuses are refused before the score entry is computed."""
    kind, *rest = args
    res = runner.invoke(main, ["score", kind, geometry_study.url, *rest])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and says in res.stderr, res.output
    assert nx_entries.list_entries(geometry_study).query("kind != 'gram'").empty


#: command -> the entry kinds it writes
_COMMAND_KINDS = {"forward": ("forward",), "reverse": ("reverse",), "inter-animal": ("inter_animal",),
                  "model-to-model": ("model_to_model",), "rsa": ("crsa", "ersa", "ereg"), "shape": ("shape",), "cka": ("cka",),
                  "dimensionality": ("dimensionality",), "brainscore": ("brainscore",),
                  "temporal-generalization": ("temporal_generalization",)}


@pytest.mark.parametrize("command", list(_COMMAND_KINDS))
def test_every_parameter_of_a_kind_is_an_option_with_its_default(command):
    """Each parameter of the kinds a score command writes is one of its options (same name), whose
    default (or, for an option passed only when given, the default its help names) is the kind's; so
    are the parameters of the bootstrap and permutation entries it writes (a metric's resampling seed
    is --resample-seed, eRSA's split seed its --seed)."""
    from neuroxr.entries import KINDS
    from neuroxr.entries.kinds import METRIC_KINDS

    cmd = main.commands["score"].commands[command]
    options = {p.name: p for p in cmd.params if isinstance(p, click.Option)}
    for kind in _COMMAND_KINDS[command]:
        for name, default in KINDS[kind].defaults.items():
            assert name in options, (command, kind, name)
            given = options[name].to_info_dict()["default"]
            if given is not None:  # an explicit default: the kind's
                assert given == default, (command, name, given, default)
            elif default is not None:  # left out, not passed: the kind's default, as the help says
                shown = ",".join(f"{a:g}" for a in default) if isinstance(default, tuple) else default
                assert f"default {shown}" in options[name].help, (command, name, options[name].help)
    for kind in (f"{k}_{p}" for k in _COMMAND_KINDS[command] for p in ("bootstrap", "permutation")):
        if kind in KINDS:
            seed = {"seed": "resample_seed", "split_seed": "seed"} if kind.rsplit("_", 1)[0] in METRIC_KINDS else {}
            assert {seed.get(n, n) for n in KINDS[kind].defaults} <= set(options), kind


@pytest.mark.parametrize("lost", [False, True])
def test_info_compares_the_identities_of_intact_layers_only(runner, tmp_path, lost):
    """``neuroxr info`` lists a model whose layers record different extractions; a layer whose data
    chunks are lost opens (its read fails later) but is damaged: listed under damaged, its identity
    not compared, as validate_store and an extraction's overwrite have it."""
    import os
    import shutil

    from neuroxr.layouts import features
    from neuroxr.store import StudyStore

    st = StudyStore(tmp_path / "s.zarr")
    for layer, net in (("a", "x"), ("b", "y"), ("c", "x")):
        identity = {"version": 5, "hash": "sha256", "model": net, "preprocessing": "p", "stimuli": "s", "inputs": "i",
                    "stimuli_given": "array"}
        da = features(np.zeros((4, 2)), [f"s{i}" for i in range(4)], model="m", layer=layer,
                      attrs={"extraction_identity": identity})
        st.write_features("m", layer, da)
    if lost:
        shutil.rmtree(os.path.join(st.url, "features", "m", "b", "data", "c"))
    result = runner.invoke(main, ["info", st.url, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [d["path"] for d in out["damaged"]] == (["features/m/b"] if lost else [])
    assert [d["model"] for d in out["mixed_extractions"]] == ([] if lost else ["m"])
