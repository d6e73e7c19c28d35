"""Tests of neuroxr.extract's options and the ``neuroxr extract`` command: devices, models without values,
what the command says of its progress.

Every model is built here with random weights; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from torch import nn  # noqa: E402

from neuroxr.cli import main  # noqa: E402
from neuroxr.extract import ExtractionError, extract_features, plan_extraction  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()


def test_the_meta_device_is_refused_and_the_model_keeps_its_weights(tmp_path):
    net = _net()
    before = net[0].weight.detach().clone()
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    for call in (extract_features, plan_extraction):
        with pytest.raises(ExtractionError, match=r"^device 'meta' holds shapes without values"):
            call(net, x, tmp_path / "s", model_name="m", device="meta", progress=False) if call is extract_features \
                else call(net, x, device="meta")
    assert net[0].weight.device.type == "cpu" and torch.equal(net[0].weight, before)
    assert not (tmp_path / "s").exists()


def test_a_model_without_values_is_refused_in_one_line(tmp_path):
    with torch.device("meta"):  # as built by init_empty_weights, before its weights are loaded
        net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    with pytest.raises(ExtractionError, match=r"^model: 4 parameters or buffers are on the meta device.*'0.weight'.*assign=True.*--weights FILE"):
        extract_features(net, np.zeros((3, 4), np.float32), tmp_path / "s", model_name="m", progress=False)
    assert not (tmp_path / "s").exists()


def test_cli_meta_device_is_a_usage_error(tmp_path):
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2))\n")
    (tmp_path / "im").mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "im" / "a.png")
    res = CliRunner().invoke(main, ["extract", str(tmp_path / "s"), "--model", f"{tmp_path / 'nets.py'}:net", "--model-name",
                                    "m", "--images", str(tmp_path / "im"), "--image-size", "2", "--device", "meta"])
    assert res.exit_code == 2 and "Invalid value for '--device': device 'meta' holds shapes without values" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "s").exists()


def test_cli_progress_off_a_terminal_is_plain_lines_as_its_help_says(tmp_path):
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2))\n")
    (tmp_path / "im").mkdir()
    from PIL import Image

    for name in ("a", "b", "c"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "im" / f"{name}.png")
    args = ["extract", str(tmp_path / "s"), "--model", f"{tmp_path / 'nets.py'}:net", "--model-name", "m", "--images",
            str(tmp_path / "im"), "--image-size", "2", "--batch-size", "2"]
    res = CliRunner().invoke(main, args)  # stderr is no terminal here
    assert res.exit_code == 0 and "m: pass 1/1: 2/2 batches" in res.stderr, res.output
    assert "m: pass" not in CliRunner().invoke(main, [*args, "--quiet"]).stderr
    shown = " ".join(CliRunner().invoke(main, ["extract", "--help"]).output.split())
    assert "plain lines ('<model>: pass 1/2: 3/10 batches') off one; none with --json or --quiet" in shown


@pytest.mark.parametrize("where", ["model", "submodule"])
def test_a_compiled_model_is_refused_naming_the_module_to_pass(tmp_path, where):
    """torch.compile traced the capture hooks (the store's writes): dynamo's multi-line AssertionError."""
    net = _net()
    if where == "model":
        net, match = torch.compile(net, backend="eager"), r"^model is compiled by torch.compile.*model._orig_mod"
    else:
        net[0], match = torch.compile(net[0], backend="eager"), r"^model: module '0' is compiled.*its ._orig_mod in place of '0'"
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ExtractionError, match=match):
        extract_features(net, x, tmp_path / "s", model_name="m", progress=False)
    with pytest.raises(ExtractionError, match=match):
        plan_extraction(net, x)
    assert not (tmp_path / "s").exists()


class _Empty(nn.Module):
    def forward(self, x):
        return x[:, :0]


class _WithEmpty(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin, self.none = nn.Linear(4, 3), _Empty()

    def forward(self, x):
        h = self.lin(x)
        self.none(h)
        return h


def test_an_output_of_no_values_is_left_out_or_refused_never_stored(tmp_path):
    """A (stimulus, 0) layer was written, and neuroxr validate then found the store invalid ('unit' is empty)."""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.schemas import validate_store

    torch.manual_seed(0)
    net, x = _WithEmpty().eval(), torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    with pytest.warns(NeuroxrWarning, match=r"'none': its output has no values \(\(0,\) per stimulus\)"):
        result = extract_features(net, x, tmp_path / "s", model_name="m", progress=False)
    assert result.written == ["lin"] and "none" in result.plan.skipped
    assert validate_store(StudyStore(tmp_path / "s")) == []
    with pytest.raises(ExtractionError, match=r"^cannot extract module 'none': its output has no values"):
        extract_features(net, x, tmp_path / "s", model_name="m2", layers=["none"], progress=False)


class _Noisy(nn.Module):
    def forward(self, x):
        return x + torch.randn_like(x)


@pytest.mark.parametrize("mixer", ["batchnorm", "noise"])
def test_outputs_that_depend_on_the_batch_or_a_random_draw_are_warned_of(tmp_path, mixer):
    """Such features were stored silently: another batch size gave other values for the same stimuli."""
    import warnings

    from neuroxr.errors import NeuroxrWarning

    torch.manual_seed(0)
    mix = nn.BatchNorm1d(3, track_running_stats=False) if mixer == "batchnorm" else _Noisy()
    net = nn.Sequential(nn.Linear(4, 3), mix, nn.Linear(3, 2)).eval()
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    stored = []
    for b in (6, 2):
        with pytest.warns(NeuroxrWarning, match=r"gave the first stimuli other outputs in a batch of 3 than in one of 2, "
                                                r"e\.g\. \['1', '2'\]: the model mixes the stimuli of a batch"):
            extract_features(net, x, tmp_path / f"s{b}", model_name="m", batch_size=b, layers=["0", "1", "2"], progress=False)
        stored.append(StudyStore(tmp_path / f"s{b}").read_features("m", "1").values)
    assert not np.allclose(stored[0], stored[1], atol=1e-3)  # what the warning says
    with warnings.catch_warnings():  # a model that treats each stimulus alone: no warning, whatever its dtype
        warnings.simplefilter("error")
        for dtype in (torch.float32, torch.float16, torch.float64):
            extract_features(_net().to(dtype), x, tmp_path / f"d{dtype}", model_name="m", progress=False)


@pytest.mark.parametrize("layers, got", [([None], "None"), (["0", None], "None"), (b"0", "b'0'"), ("module", "Linear")])
def test_layers_that_are_no_module_names_are_refused_saying_so(layers, got):
    """None was looked up as a module named 'None', a module object by its repr, bytes as their codes ('48')."""
    net = _net()
    layers = [net[0]] if layers == "module" else layers
    with pytest.raises(ExtractionError, match=rf"^layers must be module names .*got {got}"):
        plan_extraction(net, torch.zeros(3, 4), layers=layers)
    assert plan_extraction(net, torch.zeros(3, 4), layers=[0, "2"]).layers[1].module_name == "2"  # a Sequential's index


def test_cli_refuses_a_folder_or_zarr_group_that_is_no_study_store(tmp_path):
    """neuroxr extract into a folder holding other files (the images' own folder given as STORE) or into a Zarr group
    neuroxr never wrote is refused in one line before the model is loaded, as every other command refuses that
    STORE: it wrote its layers there, making it a study store. A new path and an empty folder are written."""
    import zarr

    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2))\n")
    (tmp_path / "im").mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(tmp_path / "im" / f"a{i}.png")
    zarr.open_group(tmp_path / "other.zarr", mode="w")
    (tmp_path / "empty").mkdir()

    def run(store):
        return CliRunner().invoke(main, ["extract", str(store), "--model", f"{tmp_path / 'nets.py'}:net", "--model-name", "m",
                                         "--images", str(tmp_path / "im"), "--image-size", "2", "--no-progress"])

    for store, says in ((tmp_path / "im", "(no Zarr group there)"), (tmp_path / "other.zarr", "no neuroxr study store")):
        before = sorted(p.name for p in store.iterdir())
        res = run(store)
        assert res.exit_code == 1 and res.stderr.count("\n") == 1 and says in res.stderr, res.output
        assert "neuroxr extract writes into a study store, or makes one in a new or empty folder" in res.stderr
        assert sorted(p.name for p in store.iterdir()) == before  # nothing written there
    for store in (tmp_path / "new.zarr", tmp_path / "empty"):
        res = run(store)
        assert res.exit_code == 0, res.output
        assert StudyStore(store, mode="r").layers("m")


def test_cli_refuses_ids_with_white_space_around_them(tmp_path):
    """--ids with an id that begins or ends with white space ('a0 ', a spreadsheet's trailing blank) is refused naming
    its line, before anything is written: it was stored as given and never paired with the neural data's 'a0'."""
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2))\n")
    (tmp_path / "im").mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(tmp_path / "im" / f"a{i}.png")
    args = ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'nets.py'}:net", "--model-name", "m",
            "--images", str(tmp_path / "im"), "--image-size", "2", "--no-progress", "--ids", str(tmp_path / "ids.txt")]
    (tmp_path / "ids.txt").write_text("x0\nx1 \n\tx2\n")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert "Invalid value for '--ids': 2 id(s) begin or end with white space, e.g. line 2: 'x1 '" in res.stderr, res.stderr
    assert not (tmp_path / "s.zarr").exists()
    (tmp_path / "ids.txt").write_text("x0\nx1\nx2\n")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert StudyStore(tmp_path / "s.zarr", mode="r").read_features("m", "1").stimulus_id.values.tolist() == ["x0", "x1", "x2"]
