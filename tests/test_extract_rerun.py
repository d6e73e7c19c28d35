"""Tests of neuroxr.extract: re-runs that differ from the stored layer are refused, and bad input is a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neuroxr.extract import ExtractionError, extract_features  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))


def images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 8, 8)).astype(np.float32)


class TwoLinear(nn.Module):
    """Modules '_fc' and 'fc' share the store name 'fc' (the other gets 'fc-1' when both are extracted)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self._fc = nn.Linear(12, 5)
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(torch.tanh(self._fc(x)))


def test_a_stored_layer_of_another_module_under_the_same_name_is_refused(tmp_path):
    model = TwoLinear().eval()
    x = np.random.default_rng(0).normal(size=(6, 12)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    first = extract_features(model, x, store, model_name="net", progress=False)
    assert {lp.module_name: lp.name for lp in first.plan.layers} == {"_fc": "fc", "fc": "fc-1"}
    with pytest.raises(ExtractionError, match=r"holds the output of module '_fc'.*module 'fc'.*overwrite=True"):
        extract_features(model, x, store, model_name="net", layers=["fc"], progress=False)
    again = extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False)
    assert again.skipped == ["fc"] and again.written == []
    redone = extract_features(model, x, store, model_name="net", layers=["fc"], overwrite=True, progress=False)
    with torch.no_grad():
        out = model(torch.tensor(x)).numpy()
    assert redone.written == ["fc"] and np.allclose(store.read_features("net", "fc").values, out, atol=1e-6)


def test_a_rerun_asking_for_another_dtype_is_refused(tmp_path):
    model, x = small_cnn(), images()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, x, store, model_name="m", layers=["3"], progress=False)
    for dtype in ("float64", "float16"):
        with pytest.raises(ExtractionError, match=rf"its dtype 'float32' differs from '{dtype}'.*overwrite=True"):
            extract_features(model, x, store, model_name="m", layers=["3"], dtype=dtype, progress=False)
    same = extract_features(model, x, store, model_name="m", layers=["3"], dtype="float32", progress=False)
    assert same.skipped == ["3"]
    extract_features(model, x, store, model_name="m", layers=["3"], dtype="float64", overwrite=True, progress=False)
    assert store.read_features("m", "3").dtype == np.float64


def test_pca_fit_partition_is_recorded_and_a_rerun_with_another_is_refused(tmp_path):
    model, x = small_cnn(), images(32)
    kw = dict(model_name="m", layers=["0"], progress=False, reduction={"method": "pca", "n_components": 4})
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, x, store, batch_size=32, **kw)
    red = store.read_features("m", "0").attrs["reduction"]
    assert red["fit_batches"] == 1
    with pytest.raises(ExtractionError, match=r"fitted on the fit stimuli in 1 incremental batch\(es\), this extraction "
                                              r"fits in 4 .*batch_size and memory_limit"):
        extract_features(model, x, store, batch_size=8, **kw)
    assert extract_features(model, x, store, batch_size=32, **kw).skipped == ["0"]  # the same request: kept
    other = StudyStore(tmp_path / "o.zarr")
    extract_features(model, x, other, batch_size=8, **kw)
    assert other.read_features("m", "0").attrs["reduction"]["fit_batches"] == 4
    assert extract_features(model, x, other, batch_size=8, **kw).skipped == ["0"]


@pytest.mark.parametrize("dtype, message", [
    ("int32", r"dtype 'int32' is not a floating dtype .*truncated"),
    ("bool", r"dtype 'bool' is not a floating dtype"),
    ("foo", r"dtype 'foo' is not a numpy dtype"),
])
def test_non_floating_dtypes_are_refused(tmp_path, dtype, message):
    with pytest.raises(ExtractionError, match=message):
        extract_features(small_cnn(), images(), tmp_path / "s.zarr", model_name="m", layers=["3"], dtype=dtype,
                         progress=False)
    assert not (tmp_path / "s.zarr" / "features").exists()


@pytest.mark.parametrize("seed", ["abc", None, -1, 1.7, True, 2**32])
def test_bad_reduction_seeds_are_one_line_errors(tmp_path, seed):
    with pytest.raises(ExtractionError, match=r"reduction seed must be an int from 0") as err:
        extract_features(small_cnn(), images(), tmp_path / "s.zarr", model_name="m", layers=["0"], progress=False,
                         reduction={"method": "srp", "n_components": 3, "seed": seed})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("stimuli", [[], (), np.zeros((0, 3, 8, 8), np.float32), torch.zeros(0, 3, 8, 8)],
                         ids=["list", "tuple", "array", "tensor"])
def test_empty_stimuli_are_refused(tmp_path, stimuli):
    with pytest.raises(ExtractionError, match=r"stimuli is an empty .*pass at least one stimulus"):
        extract_features(small_cnn(), stimuli, tmp_path / "s.zarr", model_name="m", progress=False)


def test_an_empty_dataset_is_refused(tmp_path):
    class Empty(torch.utils.data.Dataset):
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError(i)

    with pytest.raises(ExtractionError, match=r"stimuli is an empty Empty"):
        extract_features(small_cnn(), Empty(), tmp_path / "s.zarr", model_name="m", progress=False)


@pytest.mark.parametrize("ids", [[1.0, np.nan, 3, 4, 5, 6], ["a", None, "c", "d", "e", "f"],
                                 np.array(["a", "b", "c", "d", "e", None], dtype=object)])
def test_missing_stimulus_ids_are_refused_not_stored_as_nan(tmp_path, ids):
    with pytest.raises(ExtractionError, match=r"stimulus_ids has 1 missing ids \(None/NaN\), at positions \[\d\]"):
        extract_features(small_cnn(), images(), tmp_path / "s.zarr", model_name="m", layers=["3"], stimulus_ids=ids,
                         progress=False)


def _text_args(tmp_path: Path, content: str) -> list[str]:
    (tmp_path / "texts.txt").write_text(content, encoding="utf-8")
    return ["extract", str(tmp_path / "t.zarr"), "--model", "nosuchpkg_neuroxr.mod:build", "--model-name", "m",
            "--texts", str(tmp_path / "texts.txt"), "--no-progress"]


@pytest.mark.parametrize("content, line", [("the cat\n\na dog\n", 2), ("the cat\n   \na dog\n", 2),
                                           ("the cat\na dog\n\n", 3)])
def test_cli_texts_with_a_blank_line_are_refused_not_renumbered(tmp_path, content, line):
    from click.testing import CliRunner

    from neuroxr.cli import main

    res = CliRunner().invoke(main, _text_args(tmp_path, content))
    lines = res.output.strip().splitlines()
    assert res.exit_code != 0 and len(lines) == 1, res.output
    assert lines[0].startswith("Error: Invalid value for '--texts'") and f"blank line(s), e.g. line {line}" in lines[0]
    assert not (tmp_path / "t.zarr").exists()


def test_cli_texts_ids_follow_the_line_numbers(tmp_path):
    from neuroxr.cli.extract import _read_texts

    (tmp_path / "texts.txt").write_text("the cat\na dog\nthe mat", encoding="utf-8")
    assert _read_texts(str(tmp_path / "texts.txt")) == ["the cat", "a dog", "the mat"]
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(Exception, match="holds no texts"):
        _read_texts(str(tmp_path / "empty.txt"))
