"""Promises of docs/cli.md, docs/sweep.md and docs/extract.md that no other test checked, each run on a
small store (the numbers from the API in the test, never pasted)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import two_animal_store

import neuroxr as nx
from neuroxr.cli import main
from neuroxr.store import StudyStore


@pytest.fixture
def store(tmp_path):
    """20 stimuli: animals mA, mB (4 neuroids in IT and V4, 4 repeats), layers net.l1, net.l2 and net2.l1."""
    two_animal_store(tmp_path / "s.zarr", regions=["IT", "IT", "V4", "V4"], more_layers=True)
    return tmp_path / "s.zarr"


def _usage_error(res, *says):
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert all(s in lines[0] for s in says), res.output


# --- docs/cli.md, "Errors"


def test_an_unexpected_exception_is_one_line_and_neuroxr_debug_shows_its_traceback(store, monkeypatch):
    """cli.md: "An unexpected exception is one line too; NEUROXR_DEBUG=1 shows its traceback"."""
    import neuroxr.cli.info as info

    def boom(*args, **kwargs):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(info, "store_summary", boom)
    monkeypatch.delenv("NEUROXR_DEBUG", raising=False)
    res = CliRunner().invoke(main, ["info", str(store)])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert lines[0].startswith("Error: internal error, RuntimeError: a bug") and "NEUROXR_DEBUG=1" in lines[0]
    monkeypatch.setenv("NEUROXR_DEBUG", "1")
    res = CliRunner().invoke(main, ["info", str(store)])
    assert isinstance(res.exception, RuntimeError) and "internal error" not in res.output  # raised: its traceback


@pytest.mark.parametrize("args, says", [
    (["score", "model-to-model", "{s}", "net.l1", "net2.l1", "--reps", "2"], ["--reps 2 has no effect", "--max-n"]),
    (["score", "rsa", "{s}", "net.l1", "mA", "--resample-seed", "3"], ["--resample-seed 3 has no effect"]),
    (["score", "forward", "{s}", "net.l1", "mA", "--regressor", "linear", "--alpha", "3"], ["--alpha has no effect"]),
    (["score", "forward", "{s}", "net.l1", "mA", "--n-components", "3"], ["--n-components has no effect"]),
    (["info", "{s}", "-S", "a=1", "-S", "a=2"], ["'--storage-option'", "given more than once"]),
    (["report", "{s}", "--out", ""], ["'--out'", "is empty"]),
    (["sweep", "{s}", "--table", ""], ["'--table'", "is empty"]),
])
def test_usage_errors_exit_2_in_one_line(store, args, says):
    """cli.md: options with no effect, empty values, a storage option key given twice: usage errors, exit 2."""
    _usage_error(CliRunner().invoke(main, [a.format(s=store) for a in args]), *says)


def test_a_url_the_file_systems_do_not_know_is_one_line(tmp_path):
    """cli.md: a store URL fsspec cannot open names the store and what to do, never an internal error."""
    res = CliRunner().invoke(main, ["info", "foo://x/s.zarr"])
    assert res.exit_code == 1 and res.output.count("\n") == 1, res.output
    assert "'foo://x/s.zarr'" in res.output and "internal error" not in res.output


def test_score_json_counts_only_included_targets(store):
    """cli.md: n_targets, median_ev, ... count the targets with included true; n_excluded the others, n_all all."""
    args = ["score", "forward", str(store), "net.l1", "mA", "--reps", "2", "--min-reliability", "0.05", "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ds = StudyStore(store).read_dataset(out["path"])
    ev = ds["ev"].mean("rep") if "rep" in ds["ev"].dims else ds["ev"]
    inc = ds["included"].values.astype(bool)
    assert out["n_all"] == inc.size and out["n_excluded"] == int((~inc).sum()) and out["n_targets"] == int(inc.sum())
    assert out["median_ev"] == pytest.approx(float(np.nanmedian(ev.values[inc])))


# --- docs/extract.md, "Command line: bad options name themselves"


def test_extract_fit_stimuli_without_pca_is_a_usage_error(tmp_path):
    """extract.md: --fit-stimuli needs --reduction pca (the help says so too). With --reduction srp it was the
    library's error, exit status 1 and spelled "reduction --fit-stimuli ... and seed alone", where the same
    option without --reduction is a usage error (exit 2); now both are usage errors, before the store is touched."""
    pytest.importorskip("torch")
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(np.full((10, 12, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "imgs" / f"im{i}.png")
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef make():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))\n")
    base = ["extract", str(tmp_path / "s.zarr"), "--images", str(tmp_path / "imgs"), "--model", f"{tmp_path / 'm.py'}:make",
            "--model-name", "m", "--image-size", "8", "--no-progress"]
    res = CliRunner().invoke(main, [*base, "--reduction", "srp", "--n-components", "2", "--fit-stimuli", "2"])
    _usage_error(res, "--fit-stimuli applies only with --reduction pca", "drop --fit-stimuli")
    _usage_error(CliRunner().invoke(main, [*base, "--fit-stimuli", "2"]), "--fit-stimuli applies only with --reduction")
    assert not (tmp_path / "s.zarr").exists()
    res = CliRunner().invoke(main, [*base, "--reduction", "pca", "--n-components", "2", "--fit-stimuli", "3", "--json"])
    assert res.exit_code == 0, res.output
    red = StudyStore(tmp_path / "s.zarr").read_features("m", "0").attrs["reduction"]
    red = json.loads(red) if isinstance(red, str) else red
    assert red["method"] == "pca" and red["fit_stimuli"] == 3


# --- docs/sweep.md


def _write(tmp_path, text):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    return str(cfg)


def test_sweep_names_metric_options_by_their_path(store, tmp_path):
    """sweep.md: the command names a nested setting by its dotted path, as the file nests it (it said
    metric_options[shape], Python's subscript with the quotes dropped)."""
    cfg = _write(tmp_path, "directions: [rsa]\nmetric_options: {shape: {alpha: 1}}\n")
    res = CliRunner().invoke(main, ["sweep", str(store), cfg, "--scheduler", "serial"])
    assert res.exit_code == 1 and "c.yaml: metric_options.shape has no effect outside" in res.output, res.output
    assert "[shape]" not in res.output and "['shape']" not in res.output


@pytest.mark.parametrize("text, says", [
    ("reps: 0\n", "reps must be an integer >= 1; got 0."),
    ("reps: 1:30\n", "reps must be an integer >= 1; got 1:30."),
    ("layers: [on]\n", "reads as the boolean true in YAML, not as the name 'on'; quote it"),
    ("d: &d {reps: 2}\n<<: *d\nreps: 3\n", "key 'reps' is given twice (lines 1 and 3)"),
    ("directions: [inter_animal]\nselection_seed: 3\n", "selection_seed has no effect"),
    ("regions: [XX]\n", "choose from their regions: mA [IT, V4], mB [IT, V4]"),
])
def test_sweep_config_refusals_are_one_line_naming_the_file(store, tmp_path, text, says):
    res = CliRunner().invoke(main, ["sweep", str(store), _write(tmp_path, text), "--scheduler", "serial"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and "c.yaml: " in lines[0], res.output
    assert says in lines[0], res.output


def test_model_to_model_sweep_accepts_its_defaults_written_out(store, tmp_path):
    """sweep.md: a model_to_model-only config writing out the defaults (noise_ceiling: null, seed: 0,
    reps: 20) is accepted and runs one rep; reps away from the default is refused."""
    cfg = _write(tmp_path, "directions: [model_to_model]\nnoise_ceiling: null\nseed: 0\nreps: 20\n")
    res = CliRunner().invoke(main, ["sweep", str(store), cfg, "--scheduler", "serial", "--json"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.stdout)["table"]
    assert len(table) == 4 and all(r["reps"] == 1 for r in table)
    cfg = _write(tmp_path, "directions: [model_to_model]\nreps: 5\n")
    res = CliRunner().invoke(main, ["sweep", str(store), cfg, "--scheduler", "serial"])
    assert res.exit_code == 1 and "reps has no effect" in res.output


def test_a_failed_entry_is_nan_in_the_dataset_and_no_row_of_the_table(store, monkeypatch):
    """sweep.md: with on_error="warn" a failed entry is in SweepResult.failed, its Dataset cells NaN (also where
    overwrite=True was to replace an older copy: never that copy's numbers) and no row of the table."""
    from neuroxr.sweep import sweep

    kw = dict(directions=["forward"], models=["net"], neural=["mA"], reps=2, client="serial", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = sweep(str(store), **kw)
        assert np.isfinite(first.dataset["ev_mean"].sel(layer="l2")).all()
        monkeypatch.setenv("NEUROXR_SWEEP_FAIL", "forward/net.l2*")
        res = sweep(str(store), on_error="warn", overwrite=True, **kw)
    assert list(res.failed) == ["forward/net.l2__mA"]
    assert res.table["key"].tolist() == ["forward/net.l1__mA"]
    assert np.isnan(res.dataset["ev_mean"].sel(layer="l2")).all()
    assert np.isfinite(res.dataset["ev_mean"].sel(layer="l1")).all()


def test_sweep_text_shows_dropped_stimuli_with_a_note(tmp_path):
    """sweep.md: the printed summary shows n_excluded_stimuli, with a note, where some count is above 0; the
    counts are the tables' (a stimulus whose every trial is NaN is dropped by forward and by cka)."""
    from neuroxr.sweep import sweep

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(20)]
    st = StudyStore(tmp_path / "x.zarr")
    resp = rng.normal(size=(20, 4, 4))
    resp[3] = np.nan
    st.write_neural("mA", nx.neural(resp, ids))
    st.write_features("net", "l1", nx.features(rng.normal(size=(20, 6)), ids))
    cfg = _write(tmp_path, "directions: [forward, cka]\nreps: 2\n")
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "x.zarr"), cfg, "--scheduler", "serial", "--no-progress", "-q"])
    assert res.exit_code == 0 and res.output == "", res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sweep(str(tmp_path / "x.zarr"), directions=["forward", "cka"], reps=2, client="serial", progress=False)
    assert ref.table["n_excluded_stimuli"].tolist() == [1] and ref.metric_table["n_excluded_stimuli"].tolist() == [1]
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "x.zarr"), cfg, "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["direction"])
    assert lines[head].split()[4] == "n_excluded_stimuli" and lines[head + 1].split()[4] == "1"
    assert "(n_excluded_stimuli / n_excluded_neuroids: left out for missing trials" in res.stdout


def test_a_rerun_with_another_unit_chunk_or_batch_size_skips_the_complete_layers(tmp_path):
    """extract.md: unit_chunk is a layout (a complete layer a re-run skips keeps its chunks), and digests do not
    depend on the batch size."""
    torch = pytest.importorskip("torch")
    import zarr

    from neuroxr.extract import extract_features

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 20), torch.nn.Tanh())
    x = torch.randn(9, 3, 2, 2)
    st = StudyStore(tmp_path / "u.zarr")
    first = extract_features(net, x, st, model_name="m", unit_chunk=7, batch_size=4, progress=False)
    before = st.read_features("m", "1").values
    again = extract_features(net, x, st, model_name="m", unit_chunk=3, batch_size=2, progress=False)
    assert first.written == ["0", "1", "2"] and again.written == [] and again.skipped == ["0", "1", "2"]
    assert zarr.open_group(str(tmp_path / "u.zarr" / "features" / "m" / "1"))["data"].chunks == (9, 7)
    np.testing.assert_array_equal(st.read_features("m", "1").values, before)


def test_the_warning_of_a_failed_entry_says_it_has_no_row(store, tmp_path, monkeypatch):
    """A failed entry (--on-error warn) has no row of the printed table or of --table's CSV; its warning said
    "its cells are empty" (and --help "their cells empty"), sending the reader to look for empty cells."""
    import pandas as pd

    monkeypatch.setenv("NEUROXR_SWEEP_FAIL", "forward/net.l2*")
    cfg = _write(tmp_path, "directions: [forward]\nmodels: [net]\nneural: [mA]\nreps: 2\n")
    res = CliRunner().invoke(main, ["sweep", str(store), cfg, "--scheduler", "serial", "--no-progress", "--on-error", "warn",
                                    "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "Warning: sweep entry forward/net.l2__mA failed (" in res.stderr and "it has no row in the tables" in res.stderr
    assert pd.read_csv(tmp_path / "t.csv")["key"].tolist() == ["forward/net.l1__mA"]
    assert "net.l2" not in res.stdout.split("Best layers")[0]


@pytest.mark.parametrize("extra, option", [(["--memory-limit", "lots"], "'--memory-limit'"),
                                           (["--memory-limit", "0"], "'--memory-limit'"),
                                           (["--layer", "1", "--layer", "1"], "'--layer'")])
def test_extract_values_it_cannot_use_are_usage_errors(tmp_path, extra, option):
    """cli.md: a value the command cannot use is a usage error (exit 2) whether the command line or the library
    checked it, so the same bad value exits alike in every command: neuroxr extract --memory-limit lots was the
    library's error (exit 1) where neuroxr sweep --memory-limit lots is a usage error, and so was --layer given twice
    with one name."""
    pytest.importorskip("torch")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef make():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3, 2))\n")
    args = ["extract", str(tmp_path / "s.zarr"), "--images", str(tmp_path / "imgs"), "--model", f"{tmp_path / 'm.py'}:make",
            "--model-name", "m", "--no-progress", *extra]
    _usage_error(CliRunner().invoke(main, args), f"Invalid value for {option}")
    assert not (tmp_path / "s.zarr").exists()
