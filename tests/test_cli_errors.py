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
    (["cka", "STORE", "net.conv1", "monkeyA", "--debiased", "--bootstrap", "5"], "score it without --debiased", "debiased=False"),
    (["rsa", "STORE", "net.conv1", "net.fc", "--seed", "3"], "--seed 3 has no effect without a noise ceiling: the target "
     "'net.fc' is a feature set", "seed="),
    (["cka", "STORE", "net.conv1", "monkeyA", "--resample-seed", "3"],
     "--resample-seed 3 has no effect without --bootstrap or --permutations", "resample_seed"),
])
def test_score_errors_name_the_flags(runner, geometry_study, args, flags, python):
    res = runner.invoke(main, ["score", *[geometry_study.url if a == "STORE" else a for a in args]])
    assert res.exit_code in (1, 2) and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1 and flags in res.stderr and python not in res.stderr, res.stderr


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
