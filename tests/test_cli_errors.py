"""Errors of the ``neuroxr`` command line: the library's one-line messages spell a command's
parameters as its flags (``neuroxr.cli._common.flag_spelling``), the Python API's stay Python."""

from __future__ import annotations

import numpy as np
import pytest

import neuroxr
from neuroxr.cli import main
from neuroxr.cli._common import flag_spelling
from neuroxr.cli.score import score
from neuroxr.errors import NeuroxrError
from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore


@pytest.mark.parametrize("kind, message, want", [
    ("forward", "seed=3 has no effect without a noise ceiling (split, seed and min_reliability draw its halves); drop it.",
     "--seed 3 has no effect without a noise ceiling (--split, --seed and --min-reliability draw its halves); drop it."),
    ("forward", "alpha has no effect with regressor='linear'; drop it.", "--alpha has no effect with --regressor linear; drop it."),
    ("forward", "reps=3 has no effect with noise_ceiling=False.", "--reps 3 has no effect with --no-ceiling."),
    ("forward", "dtype='float32': 'crsa' computes in float64 only; pass dtype=None.",
     "--dtype float32: 'crsa' computes in float64 only; leave out --dtype."),
    ("rsa", "reps=3 has no effect with noise_ceiling=False", "--reps 3 has no effect with --no-ceiling"),
    ("rsa", "metric 'ersa' takes no options ['reps']; it accepts ['alpha', 'n_folds'].",
     "metric 'ersa' takes no options [--reps]; it accepts [--alpha, --n-folds]."),
    ("brainscore", "stratify_by='x' is not a coord; add it or pass stratify_by=None.",
     "--stratify-by x is not a coord; add it or pass --stratify-by none."),
    ("brainscore", "ceiling_mode='ratio' has no effect with ceiling=False", "--ceiling-mode ratio has no effect with --no-ceiling"),
    ("cka", "score it with debiased=False to bootstrap it.", "score it without --debiased to bootstrap it."),
    # the subject of "must" (a clause's first word, as of "has no effect"); in prose a name stays
    ("forward", "forward: split must be one of ('valid', 'slots'); got 'x'.", "forward: --split must be one of ('valid', 'slots'); got 'x'."),
    ("forward", "the split must be balanced; features must be finite.", "the split must be balanced; features must be finite."),
    ("forward", "(split, seed and min_reliability draw its halves; seed also draws max_n's subsets)",
     "(--split, --seed and --min-reliability draw its halves; --seed also draws --max-n's subsets)"),
    # prose and names that are no option of the command stay as they are
    ("forward", "store holds no neural set named 'seed'; the split halves and seed of x_y=1",
     "store holds no neural set named 'seed'; the split halves and seed of x_y=1"),
    ("cka", "reps=3 and n_folds", "reps=3 and n_folds"),
    # trial-averaged data: the condition reads as a sentence on the command line too (it said "without
    # --no-ceiling draws none", from "noise_ceiling=None draws none")
    ("forward", "split='slots' has no effect without a noise ceiling (trial-averaged data: the default noise ceiling "
     "draws no split halves); drop it.", "--split slots has no effect without a noise ceiling (trial-averaged data: the "
     "default noise ceiling draws no split halves); drop it."),
])
def test_flag_spelling(kind, message, want):
    assert flag_spelling(message, score.commands[kind]) == want


@pytest.mark.parametrize("args, flags, python", [
    (["forward", "STORE", "net.conv1", "monkeyA", "--no-ceiling", "--min-reliability", "0.5"],
     "--min-reliability 0.5 has no effect without a noise ceiling", "min_reliability="),
    (["forward", "STORE", "net.conv1", "monkeyA", "--no-ceiling", "--split", "slots"], "--split slots has no effect", "split='slots'"),
    (["forward", "STORE", "net.conv1", "monkeyA", "--regressor", "linear", "--alpha", "3"],
     "--alpha has no effect with --regressor linear", "regressor='linear'"),
    (["rsa", "STORE", "net.conv1", "monkeyA", "--no-ceiling", "--reps", "3"], "--reps 3 has no effect with --no-ceiling",
     "noise_ceiling=False"),
    (["brainscore", "STORE", "net.conv1", "monkeyA", "--stratify-by", "bogus", "--n-components", "3"], "or pass --stratify-by none", "stratify_by=None"),
    (["brainscore", "STORE", "net.conv1", "monkeyA", "--no-ceiling", "--ceiling-mode", "squared_ratio"],
     "--ceiling-mode squared_ratio has no effect with --no-ceiling", "ceiling=False"),
    (["rsa", "STORE", "net.conv1", "monkeyA", "--compare-method", "kendall", "--bootstrap", "5"],
     "--compare-method kendall is not offered by the resampled RSA", "compare_method="),
    (["rsa", "STORE", "net.conv1", "net.fc", "--seed", "3"], "--seed 3 has no effect without a noise ceiling: the target "
     "'net.fc' is a feature set", "seed="),
    (["cka", "STORE", "net.conv1", "monkeyA", "--resample-seed", "3"],
     "--resample-seed 3 has no effect without --bootstrap or --permutations", "resample_seed"),
])
def test_score_errors_name_the_flags(runner, geometry_study, args, flags, python):
    res = runner.invoke(main, ["score", *[geometry_study.url if a == "STORE" else a for a in args]])
    assert res.exit_code in (1, 2) and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1 and flags in res.stderr and python not in res.stderr, res.stderr


@pytest.mark.parametrize("direction", ["forward", "model-to-model"])
@pytest.mark.parametrize("flags, inert, readers", [
    (["--regressor", "linear", "--alpha", "3"], "--alpha has no effect with --regressor linear", "ridge, lasso or elasticnet"),
    (["--alphas", "1,2"], "--alphas has no effect with --regressor ridge", "ridgecv"),
    (["--n-components", "3"], "--n-components has no effect with --regressor ridge", "pls"),
    (["--regressor", "pls", "--alpha", "0.1", "--alphas", "1"], "--alpha and --alphas have no effect with --regressor pls",
     "ridge, lasso, elasticnet or ridgecv"),
])
def test_inert_regressor_options_are_usage_errors(runner, geometry_study, direction, flags, inert, readers):
    """Every penalty option the regressor does not read is refused alike: a usage error (exit 2), one line."""
    target = "net.fc" if direction == "model-to-model" else "monkeyA"
    res = runner.invoke(main, ["score", direction, geometry_study.url, "net.conv1", target, *flags])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert inert in res.stderr and ("drop it or" in res.stderr or "drop them or" in res.stderr), res.stderr
    assert f"pass --regressor {readers}." in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("Error: --"), res.stderr


@pytest.mark.parametrize("args", [
    ["forward", "net.conv1", "monkeyA", "--alpha", "-1"],
    ["rsa", "net.conv1", "monkeyA", "--variant", "ersa", "--alpha", "-1"],
    ["forward", "net.conv1", "monkeyA", "--regressor", "ridgecv", "--alphas", "1,-2"],
    ["forward", "net.conv1", "monkeyA", "--regressor", "ridgecv", "--alphas", "1,x"],
    ["forward", "net.conv1", "monkeyA", "--no-ceiling", "--min-reliability", "0.5"],
    ["forward", "net.conv1", "monkeyA", "--no-ceiling", "--split", "slots"],
    ["forward", "net.conv1", "monkeyA", "--regressor", "pls", "--dtype", "float32"],
], ids=["forward-alpha", "ersa-alpha", "alphas-negative", "alphas-text", "inert-min-reliability", "inert-split", "pls-float32"])
def test_a_value_the_command_cannot_use_is_a_usage_error_whichever_checks_it(runner, geometry_study, args):
    """Before: the same kind of bad value exited 2 where the command line checked it and 1 where the library
    did (--alpha -1: rsa 2, forward 1; --alphas 1,x 2, 1,-2 1; an inert option 1): a ParameterError is a usage
    error (exit 2, one line naming the command's --help)."""
    kind, *rest = args
    res = runner.invoke(main, ["score", kind, geometry_study.url, *rest])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.output, res.output
    assert res.stderr.startswith("Error: ") and "--help')" in res.stderr, res.stderr


@pytest.mark.parametrize("value", ["1,nan", "1,inf", "0.5,-inf", "1,-2"])
def test_a_non_finite_penalty_of_alphas_is_named_as_the_flag(runner, geometry_study, value):
    """--alphas with a nan or inf is refused naming --alphas and the values given: the message named the Python
    keyword (``alphas=[1.0, nan]``), which the flag spelling could not read back."""
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--regressor", "ridgecv",
                               "--alphas", value])
    given = ",".join(f"{float(v):g}" for v in value.split(","))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert f"forward: --alphas {given} must be" in res.stderr and "alphas=" not in res.stderr, res.stderr


def test_the_python_api_keeps_python_names(geometry_study):
    with pytest.raises(NeuroxrError, match="min_reliability=0.5 has no effect without a noise ceiling"):
        neuroxr.score(geometry_study, "forward", "net.conv1", "monkeyA", noise_ceiling=False, min_reliability=0.5)
    with pytest.raises(NeuroxrError, match="pass stratify_by=None"):
        neuroxr.score(geometry_study, "brainscore", "net.conv1", "monkeyA", stratify_by="bogus", n_components=3)


def test_warnings_name_the_flags(runner, tmp_path):
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    store = StudyStore(tmp_path / "geometry_study.zarr")
    store.write_neural("monkeyA", neural(rng.normal(size=(8, 5, 2)), stim))
    store.write_features("net", "conv1", features(rng.normal(size=(8, 12)), stim))
    res = runner.invoke(main, ["score", "forward", store.url, "net.conv1", "monkeyA", "--reps", "3", "--n-folds", "2"])
    assert res.exit_code == 0, res.output
    assert "Pass --min-reliability to mark unreliable targets" in res.stderr and "min_reliability" not in res.stderr, res.stderr


def test_an_unknown_region_lists_the_regions_of_each_set(runner, geometry_study):
    geometry_study.write_neural("monkeyB", neural(np.ones((24, 2, 2)), [f"s{i:02d}" for i in range(24)]))  # no region coord
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA.PFC"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    assert ("neural sets ['monkeyA', 'monkeyB'] (regions, named '<name>.<region>': monkeyA ['IT', 'V4'], "
            "monkeyB (no 'region' coord))") in res.stderr, res.stderr


def test_a_flag_the_library_message_also_names_is_said_once():
    from neuroxr.cli.extract import extract_command

    assert flag_spelling("image_size=16 (--image-size) has no effect; pass overwrite=True (neuroxr extract --overwrite).",
                         extract_command) == "--image-size 16 has no effect; pass --overwrite."


def test_a_python_switch_is_not_spelled_as_an_option_that_takes_a_file():
    from neuroxr.cli.extract import extract_command

    message = "pass texts=True to tokenize them as texts or texts=False to read them as image files."
    assert flag_spelling(message, extract_command) == message
    assert flag_spelling("pass image_size=16", extract_command) == "pass --image-size 16"


@pytest.mark.parametrize("args, want", [
    (["cka", "STORE", "net.conv1", "monkeyB"], "Error: cka: Cannot pair by stimulus_id: 24 stimulus ids of net.conv1 are "
     "missing in monkeyB, e.g."),
    (["shape", "STORE", "net.conv1", "monkeyB"], "Error: shape: Cannot pair by stimulus_id: 24 stimulus ids of net.conv1 are "
     "missing in monkeyB, e.g."),
    (["inter-animal", "STORE", "monkeyA", "monkeyB", "--reps", "1"], "Error: inter-animal: Cannot pair by stimulus_id: 24 "
     "stimulus ids of monkeyA are missing in monkeyB, e.g."),
    (["brainscore", "STORE", "net.conv1", "monkeyA"], "Error: brainscore: --n-components 25 but net.conv1 has 10 units"),
    (["dimensionality", "STORE", "net.flat"], "Warning: dimensionality: net.flat has constant features"),
])
def test_messages_name_the_sets_and_commands_as_given(runner, geometry_study, args, want):
    """The library names an input by its Python argument and label (``b (monkeyB)``, ``features (net/conv1)``)
    and a message by the function that raised it (``split_distance:``); the command line names the sets
    and the command as the user gave them, and never shows the Python advice (``b.isel(...)``)."""
    rng = np.random.default_rng(0)
    geometry_study.write_neural("monkeyB", neural(rng.normal(size=(24, 2, 2)), [f"o{i:02d}" for i in range(24)]))
    geometry_study.write_features("net", "flat", features(np.ones((24, 3)), [f"s{i:02d}" for i in range(24)]))
    res = runner.invoke(main, ["score", *[geometry_study.url if a == "STORE" else a for a in args]])
    assert res.stderr.startswith(want) and res.stderr.count("\n") == 1, res.stderr
    for python in ("a (", "b (", "X (", "neural_a", "features (net", "obj (", "net/conv1", ".isel(", "split_distance",
                   "effective_dimensionality", "inter_animal"):
        assert python not in res.stderr, (python, res.stderr)
    if want.startswith("Error"):
        assert res.exit_code == 1 and "Traceback" not in res.output
        with pytest.raises(NeuroxrError) as info:  # the Python API keeps its argument names
            neuroxr.score(geometry_study, args[0].replace("-", "_"), *args[2:4])
        assert " (" in str(info.value) and any(f"{n} (" in str(info.value) for n in ("a", "X", "neural_a", "features"))


#: what a Python message advises that a command-line user cannot do (a call, a keyword argument, a selection)
PYTHON_ADVICE = ("nx.", "(...", "=...", ".isel(", ".drop_isel(", ".sel(", "assign_coords", "stimulus_ids", "extract_features", "time_bins",
                 "noise_ceiling=", "stratify_by=")


@pytest.fixture
def time_study(tmp_path):
    """A store with a feature set, time-resolved animals (3 bins; animalC with other bins), a static
    set, a set of one bin and a set whose neuroids each lack a second trial at some stimulus."""
    from conftest import time_sets

    F, A, B = time_sets()
    stim = list(F.stimulus_id.values)
    rng = np.random.default_rng(2)
    store = StudyStore(tmp_path / "time.zarr")
    store.write_features("net", "l1", F)
    store.write_features("net", "l2", features(rng.normal(size=(len(stim), 5)), stim))
    store.write_neural("animalA", A)
    store.write_neural("animalC", neural(rng.normal(size=(len(stim), 4, 3, 3)), stimulus_id=stim,
                                         time_bins=[(0, 10), (10, 20), (30, 40)]))
    store.write_neural("onebin", neural(rng.normal(size=(len(stim), 4, 3, 1)), stimulus_id=stim, time_bins=[(0, 10)]))
    store.write_neural("static", neural(rng.normal(size=(len(stim), 6, 3)), stimulus_id=stim, region=["IT"] * 6))
    holes = rng.normal(size=(len(stim), 4, 2))
    for j in range(4):  # neuroid j lacks its second trial at stimulus j: none spans every stimulus with 2 trials
        holes[j, j, 1] = np.nan
    store.write_neural("holes", neural(holes, stimulus_id=stim))
    for name, t, value in (("deadbin", 2, np.nan), ("flatbin", 1, 2.5)):  # a bin without data; a constant bin
        R = A.values.copy()
        R[..., t] = value
        store.write_neural(name, A.copy(data=R))
    return store


@pytest.mark.parametrize("args, want", [
    (["temporal-generalization", "STORE", "net.l1", "static"],
     "static: temporal generalisation needs a 'time_bin' dim; give a time-resolved neural set (one written with its time bins)."),
    (["cka", "STORE", "net.l1", "animalA"], "write one bin of it to the store as a set of its own, or score it with a direction"),
    (["rsa", "STORE", "net.l1", "animalA"], "write one bin of it to the store as a set of its own, or score it with a direction"),
    (["dimensionality", "STORE", "animalA"], "write one bin of it to the store as a set of its own"),
    (["cka", "STORE", "net.l1", "onebin"], "(dim 'time_bin', 1 bin) but static responses (no 'time_bin' dim) are expected; "
     "write it to the store without its time bin."),
    (["inter-animal", "STORE", "animalA", "animalC"], "their time bins differ (time_bin_start/time_bin_end); write sets with "
     "the same time bins to the store."),
    (["temporal-generalization", "STORE", "animalA", "animalC"], "write sets with the same time bins to the store."),
    (["reverse", "STORE", "deadbin", "net.l1", "-q"], "deadbin, time bin 2 (20-30 ms): every neuroid is all NaN; there is nothing "
     "to score. Write the set again with only the bins where it has data (0, 1)."),
    (["inter-animal", "STORE", "flatbin", "animalA", "-q"], "flatbin, time bin 1 (10-20 ms): every predictor column is constant "
     "across stimuli (up to rounding); nothing can be predicted from it. Check the features/responses (e.g. a dead layer). "
     "Or write both sets again without that bin."),  # animalA holds that bin too
    (["temporal-generalization", "STORE", "flatbin", "animalA"], "Or write both sets again without that bin."),
    (["brainscore", "STORE", "net.l1", "static", "--stratify-by", "bogus", "--n-components", "3"],
     "--stratify-by bogus is not a coord on the 'stimulus' dim of the neural data or the features; name a stimulus coord "
     "they have or pass --stratify-by none."),
    (["rsa", "STORE", "net.l1", "holes"], "select the stimuli they share (write a set of those stimuli to the store) or "
     "score without a ceiling (--no-ceiling)."),
])
def test_errors_give_the_command_lines_advice(runner, time_study, args, want):
    """The library's advice is Python (``nx.neural(..., time_bins=...)``, ``neural.isel(time_bin=0)``,
    ``neural.sel(stimulus=...)``, ``assign_coords``); a command prints what its user can do instead."""
    res = runner.invoke(main, ["score", *[time_study.url if a == "STORE" else a for a in args]])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1 and want in res.stderr, res.output
    for python in PYTHON_ADVICE:
        assert python not in res.stderr, (python, res.stderr)
    with pytest.raises(NeuroxrError) as info:  # the Python API keeps its Python advice
        neuroxr.score(time_study, args[0].replace("-", "_"), *args[2:4],
                      **({"stratify_by": "bogus", "n_components": 3} if "--stratify-by" in args else {}))
    assert any(python in str(info.value) for python in PYTHON_ADVICE), str(info.value)


def test_a_failed_sweep_entry_warns_with_the_command_lines_advice(runner, time_study, tmp_path):
    """``neuroxr sweep --on-error warn``: a failed entry's warning names its set as given and gives
    the command line's advice, as the error of ``--on-error raise`` does."""
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [net]\nlayers: [l1]\nneural: [holes]\ndirections: [rsa]\n")
    for on_error in ("warn", "raise"):
        res = runner.invoke(main, ["sweep", time_study.url, str(cfg), "--scheduler", "serial", "--no-progress",
                                   "--on-error", on_error])
        assert res.exit_code == (0 if on_error == "warn" else 1) and "Traceback" not in res.output, res.output
        [line] = [x for x in res.stderr.splitlines() if "crsa/net.l1__holes" in x]
        assert "crsa: holes: every neuroid lacks 2 trials" in line and "(write a set of those stimuli to the store)" in line
        assert ".sel(" not in line and "neural (holes)" not in line and "LayoutError" not in line, line


def test_extract_errors_give_the_command_lines_advice(runner, tmp_path):
    """``neuroxr extract``: stimulus ids are the image files' names (no ids to pass), a layer too
    large is left out by naming the others with --layer, and --layer given twice is named as the flag."""
    pytest.importorskip("torch")
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png", "a.jpg"):
        image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / name)
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), "
                                      "nn.Linear(3 * 16 * 16, 100000))\n")
    args = ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'nets.py'}:net", "--model-name", "m",
            "--images", str(folder), "--image-size", "16", "--no-progress"]
    res = runner.invoke(main, args)
    assert res.exit_code == 1 and res.stderr.strip() == ("Error: stimulus ids must be unique; 1 are repeated, e.g. ['a']. "
                                                         "Rename the files (their names without the extension are the ids), "
                                                         "or give the ids with --ids FILE (one per line, for the files sorted "
                                                         "by name)."), res.output
    (folder / "a.jpg").unlink()
    res = runner.invoke(main, [*args, "--memory-limit", "1MiB"])
    assert res.exit_code == 1 and "Raise --memory-limit, use a reduction or leave this layer out (name the others with " \
                                  "--layer)." in res.stderr, res.output
    res = runner.invoke(main, [*args, "--layer", "1", "--layer", "1"])
    assert res.exit_code == 2 and res.stderr.startswith("Error: Invalid value for '--layer': names a module twice"), res.output
    for python in PYTHON_ADVICE + ("layers",):
        assert python not in res.stderr


@pytest.mark.parametrize("message, want", [
    ("backend='cupy' needs CuPy.", "backend: cupy needs CuPy."),
    ("score without a ceiling (noise_ceiling=False).", "score without a ceiling (noise_ceiling: false)."),
    ("pass regions=None or use regions=None.", "leave out regions or leave out regions."),
    ("Pass min_reliability= to mark unreliable targets", "Pass min_reliability to mark unreliable targets"),
    ("or pass the address of your own GPU cluster as scheduler, or run with client='serial'.",
     "or pass the address of your own GPU cluster as scheduler, or run with --scheduler serial."),
    ("x_y=1 and alpha_z='a' are no keys", "x_y=1 and alpha_z='a' are no keys"),
])
def test_the_sweep_spells_its_keys_as_its_file_writes_them(message, want):
    """``neuroxr sweep CONFIG``: a key in a message is written as the YAML file writes it; names that
    are no key of the file stay as they are (the embedded GPU cluster's advice, seen only with a GPU, too)."""
    from neuroxr.cli.sweep import sweep_command

    assert flag_spelling(message, sweep_command) == want


def test_report_errors_start_with_the_command(runner, geometry_study, tmp_path):
    """``neuroxr report``'s errors raised by ``write_report`` start with the command, not the function,
    and name its flag."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    res = runner.invoke(main, ["report", geometry_study.url, "--out", str(afile)])
    assert res.exit_code == 2 and res.stderr.strip() == f"Error: report: --out {str(afile)!r} is a file; pass a folder (made " \
                                                        "if absent). (see 'main report --help')", res.output


def test_a_damaged_set_says_how_to_write_it_again_on_the_command_line(runner, geometry_study):
    """A set with a lost chunk: the command names how a command-line user writes it again, never
    ``StudyStore.write_neural`` / ``write_features``."""
    import pathlib

    root = pathlib.Path(geometry_study.url)
    for group in ("neural/monkeyA/data", "features/net/conv1/data"):
        next(p for p in (root / group).rglob("*") if p.is_file() and p.name != "zarr.json").unlink()
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.fc", "monkeyA", "--reps", "2"])
    assert res.exit_code == 1 and "Traceback" not in res.output and res.stderr.count("\n") == 1, res.output
    assert "write the set again (as it was written: a converter or a script)" in res.stderr, res.stderr
    res = runner.invoke(main, ["score", "cka", geometry_study.url, "net.conv1", "net.fc"])
    assert res.exit_code == 1 and "(neuroxr extract --overwrite)" in res.stderr, res.stderr
    assert "StudyStore" not in res.stderr and "write_features" not in res.stderr
    res = runner.invoke(main, ["validate", "--values", geometry_study.url])  # its problems: no Python class names
    assert res.exit_code == 1 and "write the set again (as it was written" in res.stderr, res.output
    assert "StoreError" not in res.output and "StudyStore" not in res.output, res.output


@pytest.mark.parametrize("args, want", [
    (["temporal-generalization", "STORE", "net.l1", "animalA"], "Error: temporal-generalization: too few stimuli for the folds"),
    (["rsa", "STORE", "net.l1", "static", "--variant", "ersa"], "Error: ersa: the training stimuli: too few stimuli for the folds"),
    (["rsa", "STORE", "net.l1", "static", "--variant", "ereg"], "Error: ereg: too few stimuli for the folds"),
    (["model-to-model", "STORE", "net.l1", "net.l2"], "Error: model-to-model: too few stimuli for the folds"),
])
def test_too_few_stimuli_for_the_folds_names_no_python_arguments(runner, time_study, args, want):
    """The fold check names its inputs by the library's arguments (``source/neural``, ``neural/features``,
    ``features_a/features_b``); a command names its sets itself."""
    res = runner.invoke(main, ["score", *[time_study.url if a == "STORE" else a for a in args], "--n-folds", "100"])
    assert res.exit_code == 1 and res.stderr.startswith(want) and "--n-folds 100 folds" in res.stderr, res.output
    assert "/neural" not in res.stderr and "/features" not in res.stderr, res.stderr


@pytest.mark.parametrize("message, want", [
    ("layers: 'fc2' is another name of module 'fc' (the same module object, registered twice), which the model's module "
     "names list once; pass layers=['fc'] (--layer fc).", "pass --layer fc."),
    ("skipped: returns the same tensor object as 'relu' (in-place op or pass-through); pass layers=['relu2'] to store its "
     "own output", "pass --layer relu2 to store its own output"),
    ("image_size=16 (--image-size) has no effect when the model's own preprocessing (model.processor) sizes the inputs; drop "
     "it or pass transform= to replace the model's preprocessing.", "--image-size 16 has no effect when the model's own "
     "preprocessing (model.processor) sizes the inputs; drop it."),
    ("the transform (resize) fails on 'a.png' (bad); pass transform= a callable that takes an image and returns the model "
     "input (a tensor).", "the transform (resize) fails on 'a.png' (bad); give a model whose own preprocessing takes an image."),
    ("check that the inputs fit the model: the image size (image_size=, --image-size on the command line), the transform",
     "check that the inputs fit the model: the image size (--image-size), the transform"),
])
def test_extract_messages_give_the_command_lines_advice(message, want):
    """``neuroxr extract``'s messages from the library (layers given as a list, a transform passed to the
    Python API, a flag named beside its keyword) as the command line gives them; some need models
    with their own preprocessing (Hugging Face processors), so they are checked on the messages."""
    from neuroxr.cli.extract import extract_command

    got = flag_spelling(message, extract_command)
    assert got.endswith(want) and "transform=" not in got and "layers=" not in got, got


def test_require_existing_advice_names_the_flag_once():
    """The engine's advice names the keyword and, for the command line, the flag; a command says the flag once."""
    message = ("store 's': no entry forward a -> b matches the request: x differs in reps: 2 (existing) != 3 (asked). No "
               "parameters reach it: compute the entry anew (require_existing=False; on the command line, leave out "
               "--require-existing).")
    got = flag_spelling(message, score.commands["forward"])
    assert got.endswith("--reps 2 (existing) != --reps 3 (asked). No parameters reach it: compute the entry anew (leave "
                        "out --require-existing)."), got


@pytest.mark.filterwarnings("ignore:bootstrap. neural .mA.. 3 neuroids have a ceiling-corrected EV")
def test_bootstrap_warnings_name_the_command_and_option(runner, undefined_study):
    """``neuroxr score forward ... --bootstrap N``: the bootstrap entry's warnings start with the command and
    the option the user gave (``forward --bootstrap:``), not the Python function (``bootstrap:``), and say
    nothing of the Python functions' nan_policy; the Python function's own warning keeps its name."""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.predictivity.inference import bootstrap

    res = runner.invoke(main, ["score", "forward", undefined_study.url, "net.l1", "mA", "--reps", "3", "--bootstrap", "20"])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if line.startswith("Warning: ")]
    assert any(line.startswith("Warning: forward --bootstrap: mA: 1 neuroids have resamples with an undefined statistic")
               for line in warned), res.stderr
    assert not any(line.startswith("Warning: bootstrap:") for line in warned) and "nan_policy" not in res.stderr, res.stderr
    with pytest.warns(NeuroxrWarning, match=r"^bootstrap: neural \(mA\): 1 neuroids have resamples .* nan_policy='omit'"):
        bootstrap("forward", undefined_study.read_features("net", "l1"), undefined_study.read_neural("mA"), n_boot=20,
                     reps=3)


@pytest.mark.parametrize("args, want", [
    (["forward", "net.conv1", "monkeyA", "--bootstrap", "3", "--boot-method", "bca", "--boot-over", "both"],
     "Error: forward --bootstrap: --boot-method bca needs one resampled axis; with --boot-over both pass --boot-method percentile."),
    (["rsa", "net.conv1", "monkeyA", "--compare-method", "kendall", "--bootstrap", "3"],
     "Error: rsa --bootstrap: --compare-method kendall is not offered by the resampled RSA"),
    # ersa's permutations are computed by its bootstrap function (ersa_bootstrap): named as the option given
    (["rsa", "net.conv1", "monkeyA", "--variant", "ersa", "--compare-method", "kendall", "--permutations", "3"],
     "Error: rsa --permutations: --compare-method kendall is not offered by the resampled RSA"),
])
def test_inference_errors_name_the_command_and_option(runner, geometry_study, args, want):
    """An inference entry's error names the command and its option (``--bootstrap`` or ``--permutations``),
    not the Python function that computes the entry (``bootstrap``, ``permutation_test``, ``ersa_bootstrap``)."""
    kind, *rest = args
    res = runner.invoke(main, ["score", kind, geometry_study.url, *rest])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith(want), res.output


def _tiny_extraction(tmp_path, n: int) -> list[str]:
    """``neuroxr extract`` arguments of a small MLP (layers "1" and "3" Linear) on ``n`` 16 x 16 images."""
    pytest.importorskip("torch")
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(n):
        image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"i{i}.png")
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), "
                                      "nn.Linear(3 * 16 * 16, 8), nn.ReLU(), nn.Linear(8, 4))\n")
    return ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'nets.py'}:net", "--model-name", "m",
            "--images", str(folder), "--image-size", "16", "--no-progress", "--quiet"]


def test_extract_errors_name_flags_not_python(runner, tmp_path):
    """``neuroxr extract``: an unknown module says how the command lists the modules (not
    ``dict(model.named_modules())``), --pooling without token outputs says to drop --pooling (not
    ``pooling`` / ``layers=``), and a layer stored with another reduction names both reductions as the
    flags that ask for them (not Python dicts and None)."""
    args = _tiny_extraction(tmp_path, 6)
    res = runner.invoke(main, [*args, "--layer", "nope"])
    assert res.exit_code == 2 and res.stderr.strip().startswith("Error: Invalid value for '--layer': the model has no module") \
        and res.stderr.strip().endswith("; module names look like '0', '1', '2', '3', ... neuroxr extract --dry-run (without "
                                        "--layer) lists the leaf modules. (see 'main extract --help')"), res.output
    res = runner.invoke(main, [*args, "--pooling", "cls"])  # an option with no effect: a usage error
    assert res.exit_code == 2 and res.stderr.strip().endswith("; drop --pooling, or extract layers with token outputs "
                                                              "(--layer). (see 'main extract --help')"), res.output
    assert runner.invoke(main, [*args, "--layer", "3"]).exit_code == 0
    res = runner.invoke(main, [*args, "--layer", "3", "--reduction", "pca", "--n-components", "2", "--fit-stimuli", "5"])
    assert res.exit_code == 1 and "its reduction (--reduction none) differs from this extraction's (--reduction pca " \
                                  "--n-components 2 --fit-stimuli 5 --seed 0)" in res.stderr, res.output
    assert "None" not in res.stderr and "{'" not in res.stderr and "named_modules" not in res.stderr


# ---------------------------------------------------------------------------- inference functions, one registry
def _inference_kinds():
    """Every inference kind the entry engine computes (its registry of kinds, stage "inference")."""
    from neuroxr.entries.kinds import KINDS

    return sorted(k for k, kind in KINDS.items() if kind.stage == "inference")


@pytest.mark.parametrize("kind", _inference_kinds())
def test_every_inference_function_is_named_as_the_command_and_option(kind):
    """The message of every function that computes an inference entry (the name it speaks as) starts with the
    command and the option that asks for the entry, on the score commands (the option they run, else the one
    the function's procedure says) and in a config (the sweep's keys know its prefix)."""
    from neuroxr.cli._keys import _mark
    from neuroxr.entries.kinds import INFERENCE_KINDS, speaks_as

    name, procedure = speaks_as(kind), INFERENCE_KINDS[kind][1]
    option = {"bootstrap": "--bootstrap", "permutation": "--permutations"}[procedure]
    message = f"{name}: the resamples are too few."
    assert flag_spelling(message, score.commands["forward"], option) == f"forward {option}: the resamples are too few.", name
    default = flag_spelling(message, score.commands["forward"])  # no option marked: the function's own procedure
    assert default in ("forward --bootstrap: the resamples are too few.", "forward --permutations: the resamples are too few."), default
    assert _mark().match(message) is not None, name


def test_a_new_inference_function_is_named_without_listing_it(monkeypatch):
    """An inference kind added to the registry (its function ``foo_bootstrap``): its messages name the command and
    the option with no list of names to update (a hand-written list left them as the Python function's)."""
    from neuroxr.entries import kinds, metrics

    monkeypatch.setitem(kinds.INFERENCE_KINDS, "foo_bootstrap", ("foo", "bootstrap"))
    monkeypatch.setitem(metrics.METRIC_INFERENCE_FUNCTIONS, "foo_bootstrap", "foo_bootstrap")
    message = "foo_bootstrap: level must be a number in (0, 1); got 2."
    assert flag_spelling(message, score.commands["cka"], "--bootstrap") == "cka --bootstrap: --level must be a number in (0, 1); got 2."
    assert flag_spelling(message, score.commands["cka"]).startswith("cka --bootstrap: --level must")


# ---------------------------------------------------------------------------- neuroxr report --n-boot
@pytest.mark.parametrize("fails", [False, True])
def test_report_headline_bootstrap_messages_name_the_command_and_option(runner, undefined_study, tmp_path, monkeypatch,
                                                                        fails):
    """``neuroxr report --n-boot N``: a warning or an error of the headline's bootstrap (a message of the Python
    function ``bootstrap: ...``) starts with the command and its option (``report --n-boot:``), as ``score ...
    --bootstrap``'s do, and names the option as the flag."""
    from neuroxr.errors import ParameterError, warn
    from neuroxr.kernels import resample

    neuroxr.score(undefined_study, "forward", "net.l1", "mA", reps=2)
    real, drawn = resample.bootstrap_indices, []

    def draws(n, n_boot, seed, stream=0, caller=""):  # the headline's draws, with a message of the bootstrap
        drawn.append((n, n_boot))
        if fails:
            raise ParameterError(f"bootstrap: n_boot={n_boot} resamples cannot hold the interval; pass n_boot=1000.")
        warn(f"bootstrap: the interval of {n} test targets rests on n_boot={n_boot} resamples.")
        return real(n, n_boot, seed, stream=stream, caller=caller)

    monkeypatch.setattr(resample, "bootstrap_indices", draws)
    res = runner.invoke(main, ["report", undefined_study.url, "--out", str(tmp_path / "r"), "--no-reliability",
                               "--n-boot", "7"])
    assert [d[1] for d in drawn] == [7], res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    if fails:
        assert res.exit_code == 2 and lines == ["Error: report --n-boot: --n-boot 7 resamples cannot hold the interval; "
                                                "pass --n-boot 1000. (see 'main report --help')"], res.stderr
    else:
        assert res.exit_code == 0, res.output
        assert [line for line in lines if line.startswith("Warning: ")] == [
            f"Warning: report --n-boot: the interval of {drawn[0][0]} test targets rests on --n-boot 7 resamples."], res.stderr
    assert "bootstrap:" not in res.stderr and "n_boot" not in res.stderr


# ---------------------------------------------------------------------------- the resampled RSA's comparisons
@pytest.mark.parametrize("extra", [["--bootstrap", "3"], ["--variant", "ersa", "--permutations", "3"]])
def test_resampled_rsa_advice_names_the_flag_values(runner, geometry_study, extra):
    """rsa --compare-method kendall with a resampled RSA: the advice names --compare-method and the values it
    takes, not the Python functions' 'corr' (a value the option refuses)."""
    res = runner.invoke(main, ["score", "rsa", geometry_study.url, "net.conv1", "monkeyA", "--compare-method", "kendall",
                               *extra])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert res.stderr.rstrip().endswith("is not offered by the resampled RSA; choose --compare-method pearson, cosine "
                                        "or spearman. (see 'main score rsa --help')"), res.stderr
    assert "corr" not in res.stderr
    for value in ("pearson", "cosine", "spearman"):  # each value it names is one the option takes
        ok = runner.invoke(main, ["score", "rsa", geometry_study.url, "net.conv1", "monkeyA", "--compare-method", value,
                                  "--bootstrap", "2"])
        assert ok.exit_code == 0, ok.output


def test_resampled_rsa_advice_in_a_config_names_its_values(runner, sweep_copy, tmp_path):
    """In a sweep config the advice names the values in YAML's spelling, 'corr' among them as a value the file
    may give (it runs: corr is Pearson)."""
    path = sweep_copy()
    cfg = tmp_path / "c.yaml"
    head = "models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [crsa]\ninference: {bootstrap: 2}\n"
    cfg.write_text(head + "metric_options: {crsa: {compare_method: kendall}}\n")
    res = runner.invoke(main, ["sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    assert res.stderr.rstrip().endswith("metric_options.crsa.compare_method: kendall is not offered by the resampled RSA; "
                                        "choose one of [pearson, cosine, spearman] (corr is pearson)."), res.stderr
    cfg.write_text(head + "metric_options: {crsa: {compare_method: corr}}\n")
    res = runner.invoke(main, ["sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output


# ---------------------------------------------------------------------------- a command run on its own
@pytest.mark.parametrize("config, want", [
    ("directions: [cka]\nmetric_options: {cka: {debiased: 'no'}}\n",
     "Error: {cfg}: metric_options.cka.debiased must be true or false; got 'no'. Pass metric_options.cka.debiased: true"),
    ("directions: [crsa]\nmetric_options: {crsa: {compare_method: kendall}}\ninference: {bootstrap: 2}\n",
     "choose one of [pearson, cosine, spearman] (corr is pearson)."),
])
def test_sweep_command_on_its_own_spells_as_neuroxr_sweep(runner, sweep_copy, tmp_path, config, want):
    """``sweep_command`` invoked on its own (not through the ``neuroxr`` group) gives the messages ``neuroxr
    sweep`` gives, in the config's spelling, and the group spells none of them twice."""
    from neuroxr.cli.sweep import sweep_command

    path = sweep_copy()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\n" + config)
    args = [str(path), str(cfg), "--scheduler", "serial", "--no-progress"]
    alone, grouped = runner.invoke(sweep_command, args), runner.invoke(main, ["sweep", *args])
    assert alone.exit_code == grouped.exit_code == 1 and alone.stderr == grouped.stderr, (alone.stderr, grouped.stderr)
    assert alone.stderr.count("\n") == 1 and want.format(cfg=cfg) in alone.stderr, alone.stderr
    assert "debiased=" not in alone.stderr and "'corr'" not in alone.stderr


def test_sweep_command_on_its_own_shows_warnings_as_neuroxr_sweep(runner, undefined_study, tmp_path):
    """An inference entry's warning of ``sweep_command`` on its own: one line on stderr naming the config key
    (``inference.bootstrap:``), as through the group (where it is not shown twice)."""
    from neuroxr.cli.sweep import sweep_command

    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [net]\nlayers: [l1]\nneural: [mA]\ndirections: [forward]\nreps: 3\ninference: {bootstrap: 20}\n")
    args = [undefined_study.url, str(cfg), "--scheduler", "serial", "--no-progress", "--json"]
    alone = runner.invoke(sweep_command, args)
    grouped = runner.invoke(main, ["sweep", *args, "--overwrite"])
    assert alone.exit_code == grouped.exit_code == 0, (alone.output, grouped.output)
    warned = [line for line in alone.stderr.splitlines() if line.startswith("Warning: ")]
    assert any(line.startswith("Warning: inference.bootstrap: mA: 1 neuroids have resamples with an undefined statistic")
               for line in warned), alone.stderr
    assert warned == [line for line in grouped.stderr.splitlines() if line.startswith("Warning: ")], grouped.stderr
    assert not any(line.startswith("Warning: bootstrap:") for line in warned)


def test_an_interrupted_overwrite_says_which_layers_it_rewrote(runner, tmp_path, monkeypatch):
    """Ctrl-C during `extract --overwrite` after its first layer: the command says which layers hold the
    new copy (running it again would rewrite them all), then the one Ctrl-C line, exit status 130."""
    args = [*_tiny_extraction(tmp_path, 4), "--layer", "1", "--layer", "3"]
    import neuroxr.extract.run as run

    assert runner.invoke(main, args).exit_code == 0
    real = run.extract_features

    def stopped(*a, on_layer_complete=None, **kw):
        def done(name):
            on_layer_complete(name)
            raise KeyboardInterrupt

        return real(*a, on_layer_complete=done, **kw)

    monkeypatch.setattr(run, "extract_features", stopped)
    res = runner.invoke(main, [*args, "--overwrite"])
    assert res.exit_code == 130, res.output
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("--overwrite stopped after rewriting layer(s) 1; the other layers keep their previous copy")
    assert len(lines) == 2 and lines[1].startswith("Interrupted (Ctrl-C)")


def test_a_request_larger_than_memory_is_one_line_not_an_internal_error(runner, geometry_study, monkeypatch):
    """--reps 1e11 was reported as 'internal error, MemoryError: ... report it', a bug it is not. (NumPy's
    own MemoryError, raised here: whether a huge allocation fails or is overcommitted depends on the OS.)"""
    from neuroxr.entries import engine

    def run(*args, **kwargs):
        raise MemoryError("Unable to allocate 4.37 TiB for an array with shape (6, 100000000000) and data type float64")

    monkeypatch.setattr(engine, "_run", run)
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--reps", "100000000000"])
    assert res.exit_code == 1 and "Traceback" not in res.output and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("Error: out of memory: Unable to allocate") and "internal error" not in res.stderr
    assert "lower --reps / --bootstrap / --permutations" in res.stderr


def test_a_request_beyond_any_array_size_is_said_as_out_of_memory(runner, geometry_study):
    """--reps 1e22 printed NumPy's bare 'Maximum allowed dimension exceeded' (no option, no advice)."""
    res = runner.invoke(main, ["score", "forward", geometry_study.url, "net.conv1", "monkeyA", "--reps", str(10**22)])
    assert res.exit_code == 1 and "Traceback" not in res.output and res.stderr.count("\n") == 1, res.output
    assert res.stderr.startswith("Error: out of memory: ") and "lower --reps / --bootstrap / --permutations" in res.stderr


# --- Ctrl-C and SIGTERM at any moment: one line and the shell's status, never a traceback of the command's imports
def _interrupted(argv, sig, after, delay=0.0):
    """Run ``argv`` (the command, under ``python -X importtime``), send ``sig`` once the import of the module ``after``
    has ended (plus ``delay`` seconds); return its exit status and stderr without the import times."""
    import signal
    import subprocess
    import sys
    import time

    # the command as a terminal starts it: SIGINT at its default, also where this run inherited it ignored (a job
    # started with `&` by a non-interactive shell), which the command keeps ignored, as a shell asks
    proc = subprocess.Popen([sys.executable, "-X", "importtime", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stderr:  # "import time: self | cumulative | <module>" as each import ends
        seen.append(line)
        if line.rsplit("|", 1)[-1].strip() == after:
            break
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, "".join(x for x in seen + err.splitlines(True) if not x.startswith("import time:"))


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("after, delay", [("numpy", 0.0), ("neuroxr.cli._common", 0.0), ("neuroxr.cli.score", 0.0),
                                          ("neuroxr.cli", 0.0), ("neuroxr.cli", 0.5)],
                         ids=["importing-package", "importing", "importing-later", "imported", "running"])
def test_an_interrupt_while_the_command_starts_is_one_line(tmp_path, sig, after, delay):
    """Ctrl-C (SIGINT) or SIGTERM while ``neuroxr.cli`` imports its commands, while click reads the arguments, or while
    the command runs: the line and the exit status of an interrupted command (130, 143); before, an interrupt during the
    imports ended the process by the signal, SIGINT with a KeyboardInterrupt traceback."""
    import signal
    import sys
    from pathlib import Path

    from conftest import cli_store

    from neuroxr._signals import INTERRUPTED, TERMINATED, interrupted_line

    url = cli_store(tmp_path / "s.zarr").url
    script = Path(sys.executable).with_name("neuroxr")  # the console script where installed, else python -m neuroxr.cli
    run = [str(script)] if script.is_file() and after == "neuroxr.cli.score" else ["-m", "neuroxr.cli"]
    status, err = _interrupted([*run, "score", "forward", url, "net.l1", "mA", "--reps", "200"], getattr(signal, sig), after,
                               delay)
    term = sig == "SIGTERM"
    assert "Traceback" not in err and err == interrupted_line(term) + "\n", err
    # as a shell reports it (128 + the signal of a process ended by it): a Ctrl-C that lands in code run by exec() of a
    # string (scipy runs one at import) makes CPython end the process by SIGINT at exit, though the command caught it
    assert (128 - status if status < 0 else status) == (TERMINATED if term else INTERRUPTED)
    assert status == TERMINATED or not term


@pytest.mark.parametrize("argv, want", [
    (["python", "/env/bin/neuroxr", "score"], True), (["python", "-m", "neuroxr.cli", "info"], True),
    (["python", "-X", "importtime", "-m", "neuroxr", "info"], True), (["python", "-Im", "neuroxr"], True),
    (["python", "-mneuroxr.cli"], True), (["python", "-W", "ignore", "C:/env/Scripts/neuroxr-script.py"], True),
    (["python", "-m", "pytest", "tests"], False), (["python", "-c", "from multiprocessing.spawn import spawn_main"], False),
    (["python", "-X", "importtime", "-c", "import neuroxr.cli"], False), (["python", "run_neuroxr.py"], False),
    (["python"], False), (["python", "-m", "neuroxr.cli.score"], False)])
def test_started_as_command_reads_the_interpreter_command_line(argv, want):
    """Only the command's own process ends itself on an interrupt before its command runs; a program importing
    ``neuroxr.cli`` and a worker process the command spawns (``python -c``) keep Python's handlers."""
    from neuroxr._signals import started_as_command

    assert started_as_command(argv) is want


def test_a_command_raises_an_interrupt_where_the_process_ended_itself(runner, monkeypatch):
    """While a command runs, Ctrl-C raises KeyboardInterrupt (its clean-up runs) and SIGTERM ``Terminated``; before and
    after it the command's process ends itself (``_signals._end``), and this process keeps its handlers."""
    import signal

    from neuroxr import _signals

    seen = []
    monkeypatch.setattr(_signals, "started_as_command", lambda argv=None: True)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:  # Python's own handlers, as a process started from a terminal has them (this run's may be ignored: `&`)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _signals.install_early()
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (_signals._end, _signals._end)
        with _signals.interrupts():
            seen = [signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)]
        assert seen == [signal.default_int_handler, _signals._raise]
        import neuroxr.cli.info

        monkeypatch.setattr(neuroxr.cli.info, "store_summary", lambda _st: seen.append(signal.getsignal(signal.SIGINT)) or {})
        monkeypatch.setattr(neuroxr.cli.info, "open_store_or_fail", lambda url: None)
        monkeypatch.setattr(neuroxr.cli.info, "print_summary", lambda *a, **k: None)
        assert runner.invoke(main, ["info", "STORE"]).exit_code == 0
        assert seen[-1] is signal.default_int_handler  # while the command ran
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (_signals._end, _signals._end)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("already_said", [False, True])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_the_process_ends_itself_with_one_line(monkeypatch, sig, already_said):
    """Before or after the command (``_signals._end``): the line, unless the command's handler printed it (a second
    signal while the process ends), and the status of the signal."""
    import signal

    from neuroxr import _signals

    got = []
    monkeypatch.setattr(_signals.os, "write", lambda fd, data: got.append((fd, data.decode())))
    monkeypatch.setattr(_signals.os, "_exit", lambda status: got.append(status))
    monkeypatch.setattr(_signals, "_said", already_said)
    _signals._end(getattr(signal, sig), None)
    term = sig == "SIGTERM"
    line = [(2, _signals.interrupted_line(term) + "\n")]
    assert got == line * (not already_said) + [_signals.TERMINATED if term else _signals.INTERRUPTED]
