"""Tests of neuroxr.extract's stimuli: what a transform or a Dataset gives that is no model input,
arrays that hold no numbers.

Every model is built here with random weights; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neuroxr.extract import ExtractionError, default_image_transform, extract_features  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.LazyLinear(3)).eval()


def _images(folder: Path, n: int = 3) -> Path:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size=(12, 14, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


class _Items(torch.utils.data.Dataset):
    def __init__(self, item) -> None:
        self.item = item

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i):
        return self.item(i)


@pytest.mark.parametrize("made", [lambda x: {"pixel_values": x}, lambda x: None])
def test_a_transform_that_returns_no_tensor_is_named_in_one_line(tmp_path, made):
    tf = default_image_transform(8)
    with pytest.raises(ExtractionError, match=r"stimulus 'im0' gives (a dict|None), not a tensor.*transform="):
        extract_features(_net(), _images(tmp_path / "im"), tmp_path / "s", model_name="m", transform=lambda im: made(tf(im)),
                         progress=False)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("item", [lambda i: f"im{i}.png", lambda i: None])
def test_dataset_items_that_are_no_numbers_are_named_in_one_line(tmp_path, item):
    with pytest.raises(ExtractionError, match=r"dataset items: stimulus 'stimulus0' gives (a str|None).*__getitem__"):
        extract_features(_net(), _Items(item), tmp_path / "s", model_name="m", progress=False)


def test_items_that_are_lists_of_numbers_are_whole_stimuli_not_their_first_row(tmp_path):
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    net = _net()
    extract_features(net, _Items(lambda i: x[i].tolist()), tmp_path / "s", model_name="m", layers=["2"], progress=False)
    with torch.no_grad():
        ref = net(x).numpy()
    np.testing.assert_allclose(StudyStore(tmp_path / "s").read_features("m", "2").values, ref, rtol=1e-5, atol=1e-6)
    # a plain list of feature vectors: each list one stimulus (it was its first number)
    mlp = nn.Sequential(nn.Linear(4, 2)).eval()
    vectors = np.random.default_rng(2).standard_normal((5, 4)).tolist()
    extract_features(mlp, vectors, tmp_path / "s", model_name="mlp", progress=False)
    with torch.no_grad():
        ref = mlp(torch.tensor(vectors, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(StudyStore(tmp_path / "s").read_features("mlp", "0").values, ref, rtol=1e-5, atol=1e-6)
    # (input, label) tuples and [input, label] lists still give their input
    extract_features(net, _Items(lambda i: [x[i], i]), tmp_path / "s", model_name="pairs", layers=["2"], progress=False)
    np.testing.assert_allclose(StudyStore(tmp_path / "s").read_features("pairs", "2").values, net(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_an_array_of_strings_is_refused_in_one_line(tmp_path):
    paths = np.array([[str(p)] for p in sorted(_images(tmp_path / "im").iterdir())])  # df[["path"]].to_numpy()
    with pytest.raises(ExtractionError, match=r"array of dtype <U\d+ \(shape \(3, 1\)\), not of numbers.*tolist"):
        extract_features(_net(), paths, tmp_path / "s", model_name="m", progress=False)


def test_repeated_ids_get_advice_for_where_they_came_from(tmp_path):
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ExtractionError, match=r"^stimulus ids must be unique; 1 are repeated, e.g. \['a'\]. Give each "
                                              r"stimulus its own id.$"):
        extract_features(_net(), x, tmp_path / "s", model_name="m", stimulus_ids=["a", "b", "a"], progress=False)
    ds = _Items(lambda i: x[i])
    ds.stimulus_ids = ["a", "a", "b"]
    with pytest.raises(ExtractionError, match=r"^stimuli.stimulus_ids \(_Items\) must be unique; .* Give each item its "
                                              r"own id, or pass stimulus_ids=.$"):
        extract_features(_net(), ds, tmp_path / "s", model_name="m", progress=False)
    with pytest.raises(ExtractionError, match=r"^stimulus_ids must be a sequence of ids, one per stimulus \(3\); got 'abc'"):
        extract_features(_net(), x, tmp_path / "s", model_name="m", stimulus_ids="abc", progress=False)


def test_one_image_file_given_as_the_stimuli_is_named_as_a_file(tmp_path):
    """A path to one image file is no folder: the error says it is a file and how to pass files, rather than that the
    folder 'does not exist'; a path that is nothing is said not to exist."""
    one = _images(tmp_path / "im") / "im0.png"
    with pytest.raises(ExtractionError, match=r"^stimuli .*im0.png' is a file, not a folder of images; pass the "
                                              r"folder, or a list of image files \(\[path, \.\.\.\]\)\.$"):
        extract_features(_net(), str(one), tmp_path / "s", model_name="m", progress=False)
    with pytest.raises(ExtractionError, match=r"^stimuli folder .*nowhere' does not exist"):
        extract_features(_net(), tmp_path / "nowhere", tmp_path / "s", model_name="m", progress=False)
    assert not (tmp_path / "s").exists()


def test_an_empty_id_is_refused_before_the_store_holds_an_invalid_layer(tmp_path):
    """An id ``''`` was stored, and ``neuroxr validate`` then found the layer invalid (empty ids name nothing):
    it is refused up front, given or a Dataset's own, naming the argument and the positions."""
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ExtractionError, match=r"^stimulus_ids has 1 empty ids \(''\) at positions \[1\]; give every "
                                              r"stimulus a non-empty id\.$"):
        extract_features(_net(), x, tmp_path / "s", model_name="m", stimulus_ids=["a", "", "c"], progress=False)
    ds = _Items(lambda i: x[i])
    ds.stimulus_ids = ["", "b", "c"]
    with pytest.raises(ExtractionError, match=r"^stimuli.stimulus_ids \(_Items\) has 1 empty ids \(''\) at positions \[0\]"):
        extract_features(_net(), ds, tmp_path / "s", model_name="m", progress=False)
    assert not (tmp_path / "s").exists()


def test_stimuli_of_different_shapes_name_two_of_them_and_a_fix_that_applies(tmp_path):
    """Items of different shapes (a list of arrays of several image sizes) are named with their ids and shapes, and
    the advice is a transform that makes them one shape: ``image_size`` is refused for them (it sizes the default
    transform only, which always makes one shape), so it was no way out."""
    rng = np.random.default_rng(0)
    items = [rng.standard_normal(s).astype(np.float32) for s in ((3, 8, 8), (3, 10, 10), (3, 8, 8))]
    with pytest.raises(ExtractionError) as info:
        extract_features(_net(), items, tmp_path / "s", model_name="m", stimulus_ids=["a", "b", "c"], progress=False)
    msg = str(info.value)
    assert "'a' (3, 8, 8)" in msg and "'b' (3, 10, 10)" in msg and "transform=" in msg, msg
    assert "image_size" not in msg and "\n" not in msg, msg


def test_a_glob_pattern_given_as_the_stimuli_says_to_expand_it(tmp_path):
    """``"imgs/*.png"`` is no folder: the error says patterns are not expanded and how to pass the files it matches."""
    folder = _images(tmp_path / "im")
    pattern = str(folder / "*.png")
    with pytest.raises(ExtractionError, match=r"^stimuli folder .*\*\.png' does not exist .*; a pattern is not expanded: "
                                              r"pass the files it matches, sorted\(glob\.glob\(pattern\)\)\.$"):
        extract_features(_net(), pattern, tmp_path / "s", model_name="m", progress=False)
    import glob

    assert extract_features(_net(), sorted(glob.glob(pattern)), tmp_path / "s", model_name="m", layers=["0"],
                            image_size=8, progress=False).written == ["0"]
