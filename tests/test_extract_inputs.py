"""Tests of neuroxr.extract's inputs: preprocessing, in-place modules, texts and tokens, bad files.

Every model is built here with random weights (torch, and transformers from configs with a
tokenizer built from a vocabulary written in the test); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import as_older_writer  # noqa: E402
from torch import nn  # noqa: E402

from neuroxr.extract import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    ExtractionError,
    default_image_transform,
    extract_features,
    load_model,
    plan_extraction,
)
from neuroxr.extract.models import to_input  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
TEXTS = ["the cat sat on the mat", "a dog", "the dog ran far", "a cat sat", "the mat"]


def save_images(folder: Path, n: int = 4, size: tuple[int, int] = (20, 24), seed: int = 0) -> list[Path]:
    from PIL import Image

    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


# ---------------------------------------------------------------------------- default preprocessing
def test_default_transform_is_imagenet_resize_centre_crop_normalise():
    from PIL import Image

    tf = default_image_transform(16)
    # a constant image gives exactly the normalised constant
    t = tf(Image.new("RGB", (30, 20), (10, 128, 250)))
    assert tuple(t.shape) == (3, 16, 16) and t.dtype == torch.float32
    expected = (np.array([10, 128, 250]) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(t.numpy(), np.broadcast_to(expected[:, None, None], (3, 16, 16)), rtol=1e-5, atol=1e-5)
    # the centre crop (16 of 16 / 0.875 = 18.3) drops a 1-pixel frame: a 40 x 40 image with a 2-pixel
    # red frame around a blue centre comes out all blue (the frame shrinks to < 1 pixel before the crop)
    img = Image.new("RGB", (160, 160), (255, 0, 0))
    img.paste((0, 0, 255), (8, 8, 152, 152))
    out = tf(img).numpy() * np.array(IMAGENET_STD)[:, None, None] + np.array(IMAGENET_MEAN)[:, None, None]
    np.testing.assert_allclose(out[:, 1:-1, 1:-1], np.broadcast_to([[[0.0]], [[0.0]], [[1.0]]], (3, 14, 14)), atol=1e-5)
    assert out[0].max() < 0.5  # no red frame left at the edges either
    # aspect ratio is kept: a wide image is resized on its short side, then cropped
    wide = Image.new("RGB", (64, 16), (0, 0, 0))
    wide.paste((255, 255, 255), (0, 0, 16, 16))  # a white left quarter is cropped away
    assert tf(wide).numpy().max() == pytest.approx(((0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).max(), abs=1e-5)
    assert "crop_fraction=0.875" in repr(tf) and "mean=[0.485" in repr(tf)


def test_default_preprocessing_is_recorded_in_the_store(tmp_path):
    save_images(tmp_path / "imgs")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 14 * 14, 3))
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, tmp_path / "imgs", store, model_name="m", layers=["2"], image_size=16, progress=False)
    da = store.read_features("m", "2")
    assert da.attrs["transform_source"] == "default"
    assert da.attrs["transform"] == repr(default_image_transform(16))
    from PIL import Image

    tf = default_image_transform(16)
    x = torch.stack([tf(Image.open(tmp_path / "imgs" / f"im{i}.png")) for i in range(4)])
    with torch.no_grad():
        np.testing.assert_allclose(da.values, net(x).numpy(), rtol=1e-5, atol=1e-6)


class FakeWeights:
    """Stands for a torchvision weights enum member: ``.transforms()``, ``.meta`` and ``.name``."""

    name = "IMAGENET1K_V1"
    meta = {"categories": ["a", "b", "c"]}

    def transforms(self):
        def preset(img):
            arr = np.asarray(img.convert("L").resize((8, 8)), dtype=np.float32) / 255.0
            return torch.from_numpy(np.stack([arr, 1 - arr, arr * 0.5]))

        preset.__qualname__ = "ImageClassification(crop_size=[8])"
        return preset


def test_torchvision_weights_transforms_are_used_and_recorded(tmp_path):
    save_images(tmp_path / "imgs")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    store = StudyStore(tmp_path / "s.zarr")
    weights = FakeWeights()
    extract_features(net, tmp_path / "imgs", store, model_name="m", layers=["2"], transform=weights, progress=False)
    da = store.read_features("m", "2")
    assert da.attrs["transform_source"] == "torchvision weights"
    assert da.attrs["transform"].startswith("FakeWeights.IMAGENET1K_V1.transforms()")
    from PIL import Image

    tf = weights.transforms()
    x = torch.stack([tf(Image.open(tmp_path / "imgs" / f"im{i}.png")) for i in range(4)])
    with torch.no_grad():
        np.testing.assert_allclose(da.values, net(x).numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- in-place modules
class AlexNetLike(nn.Module):
    """torchvision's AlexNet layout: ``features`` with in-place ReLUs, then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 4, 3), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(4 * 5 * 5, 3))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def test_requested_inplace_relu_gets_its_own_output(tmp_path):
    net = AlexNetLike().eval()
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        conv = net.features[0](x)
        relu = torch.relu(conv)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, x, store, model_name="a", layers=["features.1"], progress=False)
    np.testing.assert_allclose(store.read_features("a", "features.1").values, relu.reshape(6, -1).numpy(), rtol=1e-6)
    extract_features(net, x, store, model_name="b", layers=["features.0", "features.1"], progress=False)
    assert store.layers("b") == ["features.0", "features.1"]
    got0 = store.read_features("b", "features.0").values
    np.testing.assert_allclose(got0, conv.reshape(6, -1).numpy(), rtol=1e-6)
    assert (got0 < 0).any()  # the conv's own (pre-ReLU) values, not the ReLU's
    np.testing.assert_allclose(store.read_features("b", "features.1").values, relu.reshape(6, -1).numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------- bad files
def test_corrupt_image_gives_a_one_line_error_naming_the_file(tmp_path):
    save_images(tmp_path / "imgs", n=3)
    bad = tmp_path / "imgs" / "im1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with pytest.raises(ExtractionError) as info:
        extract_features(net, tmp_path / "imgs", StudyStore(tmp_path / "s.zarr"), model_name="m", image_size=8,
                         batch_size=1, progress=False)
    msg = str(info.value)
    assert str(bad) in msg and "\n" not in msg
    with pytest.raises(ExtractionError, match="tokenizer"):
        plan_extraction(net, ["not a file", "nor this"])


def test_texts_are_said_not_guessed(tmp_path):
    """texts=True tokenizes or refuses (strings that name image files were read as images without a
    tokenizer: the CLI's --texts stored image activations under text ids); texts=False reads files."""
    paths = [str(p) for p in save_images(tmp_path / "imgs", n=3)]
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with pytest.raises(ExtractionError, match=r"^texts need a tokenizer or processor to become model input, and the model "
                                              r"carries none: pass transform=<a Hugging Face tokenizer or processor>"):
        extract_features(net, paths, tmp_path / "s.zarr", model_name="m", texts=True, progress=False)
    assert not (tmp_path / "s.zarr").exists()
    with pytest.raises(ExtractionError, match=r"texts need a tokenizer .* the preprocessing \(explicit transform\) has none"):
        plan_extraction(net, paths, texts=True, transform=default_image_transform(8))
    with pytest.raises(ExtractionError, match="texts=True needs stimuli as a list of strings, one text each; got PosixPath"):
        plan_extraction(net, tmp_path / "imgs", texts=True)
    with pytest.raises(ExtractionError, match="texts must be True, False or None"):
        plan_extraction(net, paths, texts="no")
    for texts in (False, None):  # image files (without a tokenizer None reads them as files too)
        assert list(plan_extraction(net, paths, image_size=8, texts=texts).stimulus_ids) == ["im0", "im1", "im2"]
    with pytest.raises(ExtractionError, match=r"image files do not exist, e.g. \['a dog'\]. If these are texts, pass texts=True"):
        plan_extraction(net, ["a dog"], texts=False)


def test_token_ids_are_never_cast_to_float():
    ids = torch.tensor([[2, 5, 3]])
    out = to_input({"input_ids": ids, "pixel_values": torch.zeros(1, 3, dtype=torch.float64)}, "cpu", torch.float32)
    assert out["input_ids"].dtype == torch.int64 and out["pixel_values"].dtype == torch.float32
    assert to_input(torch.zeros(2, 3, dtype=torch.uint8), "cpu", torch.float32).dtype == torch.float32


def test_timm_models_use_their_data_config(monkeypatch, tmp_path):
    """The timm branch, with a stand-in ``timm.data`` (timm itself needs torchvision): the model's
    ``pretrained_cfg`` goes through ``resolve_data_config`` and ``create_transform``."""
    import sys
    import types

    calls = {}

    def resolve_data_config(args, model=None):
        calls["resolve"] = (args, model)
        return {"input_size": (3, 8, 8), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "crop_pct": 1.0}

    def create_transform(**cfg):
        calls["create"] = cfg
        return default_image_transform(cfg["input_size"][1:], crop_fraction=cfg["crop_pct"], mean=cfg["mean"], std=cfg["std"])

    data = types.ModuleType("timm.data")
    data.resolve_data_config, data.create_transform = resolve_data_config, create_transform
    timm = types.ModuleType("timm")
    timm.data = data
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "timm.data", data)

    TimmNet = type("TimmNet", (nn.Sequential,), {"__module__": "timm.models.fake"})
    torch.manual_seed(0)
    net = TimmNet(nn.Conv2d(3, 2, 3), nn.Flatten())
    net.pretrained_cfg = {"mean": (0.5, 0.5, 0.5)}
    save_images(tmp_path / "imgs")
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, tmp_path / "imgs", store, model_name="t", layers=["0"], progress=False)
    assert calls["resolve"] == ({}, net) and calls["create"]["input_size"] == (3, 8, 8)
    da = store.read_features("t", "0")
    assert da.attrs["output_shape"] == [2, 6, 6] and da.attrs["transform_source"] == "timm data config"
    # an explicit transform wins over the model's own
    plan = plan_extraction(net, tmp_path / "imgs", layers=["0"], transform=default_image_transform(12))
    assert plan.layer("0").output_shape == (2, 10, 10)


def test_bad_preprocessing_and_pooling_arguments():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    x = torch.zeros(3, 3, 2, 2)
    with pytest.raises(ExtractionError, match="transform of type int"):
        plan_extraction(net, x, transform=3)
    with pytest.raises(ExtractionError, match="pooling must be"):
        plan_extraction(net, x, pooling="max")


class _WithProcessor(nn.Module):
    """A model that carries its own preprocessing (a ``processor`` attribute, as sentence-transformers)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
        self.processor = default_image_transform(8)

    def forward(self, x):
        return self.fc(x)


def test_an_image_size_no_preprocessing_uses_is_refused(tmp_path):
    """image_size given with the model's own preprocessing, a transform or an array: refused, never ignored."""
    save_images(tmp_path / "imgs", n=3)
    with pytest.raises(ExtractionError, match=r"image_size=16 \(--image-size\) has no effect when the model's own "
                                              r"preprocessing \(model.processor\) sizes the inputs; drop it or pass"):
        plan_extraction(_WithProcessor(), tmp_path / "imgs", image_size=16)
    assert plan_extraction(_WithProcessor(), tmp_path / "imgs").preprocessing.startswith("model.processor")
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    with pytest.raises(ExtractionError, match=r"image_size=16 .*the transform given \(transform=\)"):
        plan_extraction(net, tmp_path / "imgs", transform=default_image_transform(8), image_size=16)
    with pytest.raises(ExtractionError, match=r"image_size=8 has no effect on an array of stimuli"):
        plan_extraction(net, torch.zeros(3, 3, 8, 8), image_size=8)
    assert plan_extraction(net, torch.zeros(3, 3, 8, 8)).layers  # the default is never refused
    assert plan_extraction(net, tmp_path / "imgs", image_size=8).layers


def test_a_pooling_no_layer_uses_is_refused(tmp_path):
    """pooling mean/cls/last when no extracted output is (batch, tokens, dim): refused, never ignored;
    "auto" stays quiet."""
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    x = torch.zeros(3, 3, 8, 8)
    for how in ("mean", "cls", "last"):
        with pytest.raises(ExtractionError, match=rf"pooling='{how}' \(--pooling\) pools outputs shaped \(batch, tokens, dim\), "
                                                  r"and no extracted layer has one \(per-stimulus output shapes: 0 \(2, 6, 6\)"):
            plan_extraction(net, x, pooling=how)
    assert [lp.pooling for lp in plan_extraction(net, x, pooling="auto").layers] == [None, None, None]
    tokens = nn.Sequential(nn.Linear(8, 4), nn.Flatten(), nn.Linear(20, 2))  # (batch, 5 tokens, 8) -> (batch, 5, 4) -> ...
    plan = plan_extraction(tokens, torch.zeros(3, 5, 8), pooling="cls")
    assert [lp.pooling for lp in plan.layers] == ["cls", None, None]


def test_cli_refuses_image_size_and_pooling_that_have_no_effect(tmp_path):
    from click.testing import CliRunner

    from neuroxr.cli import main

    save_images(tmp_path / "imgs", n=3)
    (tmp_path / "m.py").write_text(
        "from torch import nn\nfrom neuroxr.extract import default_image_transform\n\n"
        "def own():\n    m = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))\n    m.processor = default_image_transform(8)\n    return m\n\n"
        "def plain():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))\n")
    base = ["extract", str(tmp_path / "s.zarr"), "--images", str(tmp_path / "imgs"), "--model-name", "m", "--no-progress"]
    for extra, says in ((["--model", f"{tmp_path / 'm.py'}:own", "--image-size", "16"], "--image-size 16 has no effect"),
                        (["--model", f"{tmp_path / 'm.py'}:plain", "--image-size", "8", "--pooling", "cls"],
                         "--pooling cls pools outputs shaped (batch, tokens, dim)")):
        res = CliRunner().invoke(main, [*base, *extra])
        assert res.exit_code == 2 and res.stderr.count("\n") == 1 and says in res.stderr, res.output  # a usage error
        assert "internal error" not in res.stderr and not (tmp_path / "s.zarr" / "features").exists()
    res = CliRunner().invoke(main, [*base, "--model", f"{tmp_path / 'm.py'}:own", "--json"])
    assert res.exit_code == 0, res.output


def test_bad_model_weights_device_and_image_size_name_the_argument(tmp_path):
    from neuroxr.extract.models import check_device, load_weights

    with pytest.raises(ExtractionError, match="module 'nosuchpkg_neuroxr' cannot be imported"):
        load_model("nosuchpkg_neuroxr:build")
    (tmp_path / "broken.py").write_text("import nosuchpkg_neuroxr\n")
    with pytest.raises(ExtractionError, match="broken.py' fails to run .*ModuleNotFoundError"):
        load_model(f"{tmp_path / 'broken.py'}:build")
    (tmp_path / "net.py").write_text("from torch import nn\n\ndef build():\n    return nn.Linear(2, 3)\n")
    (tmp_path / "w.pt").write_bytes(b"not a state dict")
    with pytest.raises(ExtractionError, match="weights file .*w.pt' is not a state dict"):
        load_model(f"{tmp_path / 'net.py'}:build", tmp_path / "w.pt")
    torch.save({"weight": torch.zeros(3, 2)}, tmp_path / "part.pt")
    with pytest.raises(ExtractionError, match=r"does not fit the model: 1 missing keys, e.g. \['bias'\]"):
        load_weights(nn.Linear(2, 3), tmp_path / "part.pt")
    torch.save({"state_dict": nn.Linear(2, 3).state_dict()}, tmp_path / "ckpt.pt")
    with pytest.raises(ExtractionError, match="not a state dict of tensors"):
        load_weights(nn.Linear(2, 3), tmp_path / "ckpt.pt")
    with pytest.raises(ExtractionError, match="device 'nodev' is not a device torch knows"):
        check_device("nodev")
    with pytest.raises(ExtractionError, match="device 'cuda:99' is not available"):
        plan_extraction(nn.Linear(2, 3), torch.zeros(3, 2), device="cuda:99")
    for size in (0, (16, 0), "big"):
        with pytest.raises(ExtractionError, match="image_size must be a positive int"):
            default_image_transform(size)


def test_folders_files_and_models_under_the_home_folder_are_read_from_there(tmp_path, monkeypatch):
    """``~`` is the user's home folder (the images' folder, image files, a model file, its weights), never a
    folder named '~' that does not exist."""
    save_images(tmp_path / "imgs", n=3)
    (tmp_path / "net.py").write_text("import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
                                     "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())\n")
    torch.save(load_model(f"{tmp_path / 'net.py'}:build").state_dict(), tmp_path / "w.pt")
    monkeypatch.setenv("HOME", str(tmp_path))
    net = load_model("~/net.py:build", "~/w.pt")
    kw = {"model_name": "m", "image_size": 8}
    ref = plan_extraction(net, tmp_path / "imgs", **kw)
    assert plan_extraction(net, "~/imgs", **kw).layers == ref.layers
    files = [f"~/imgs/im{i}.png" for i in range(3)]
    assert plan_extraction(net, files, **kw).layers == ref.layers
    with pytest.raises(ExtractionError, match="ids name another image file"):
        plan_extraction(net, files, stimulus_ids=[files[1], files[0], files[2]], **kw)


# ---------------------------------------------------------------------------- what a stored layer came from
def small_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))


@pytest.mark.parametrize("change", ["weights", "buffer", "pixels", "transform"])
def test_complete_layer_from_another_model_or_other_inputs_is_refused_not_skipped(tmp_path, change):
    """Same model name, ids, shapes: other weights, buffers, pixels or preprocessing are never skipped."""
    from PIL import Image

    paths = save_images(tmp_path / "imgs", n=5, size=(8, 8))
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="m", layers=["3"], image_size=8, progress=False)
    extract_features(small_net(), tmp_path / "imgs", store, batch_size=2, **kw)
    old = store.read_features("m", "3").values
    again = extract_features(small_net(), tmp_path / "imgs", store, batch_size=5, **kw)  # another batch size
    assert again.skipped == ["3"] and again.written == []

    new_net, extra, what = small_net(), {}, "the model differs"
    if change == "weights":
        new_net = small_net(seed=1)
    elif change == "buffer":  # the same weights, other batch-norm statistics
        new_net[1].running_mean += 1
    elif change == "pixels":  # the same file name (stimulus id), other pixels
        Image.fromarray(np.full((8, 8, 3), 7, dtype=np.uint8)).save(paths[3])
        what = "the stimuli's contents differ"
    else:
        extra, what = {"transform": default_image_transform(8, mean=None, std=None)}, "the preprocessing differs"
        kw.pop("image_size")  # the transform sizes the images (image_size with it is refused)
    with pytest.raises(ExtractionError) as info:
        extract_features(new_net, tmp_path / "imgs", store, **kw, **extra)
    msg = str(info.value)
    assert "layer 'features/m/3'" in msg and what in msg and "overwrite=True" in msg and "\n" not in msg, msg
    np.testing.assert_array_equal(store.read_features("m", "3").values, old)
    done = extract_features(new_net, tmp_path / "imgs", store, overwrite=True, **kw, **extra)
    assert done.written == ["3"]
    assert extract_features(new_net, tmp_path / "imgs", store, **kw, **extra).skipped == ["3"]
    assert set(store.read_features("m", "3").attrs["extraction_identity"]) == {"version", "hash", "model",
                                                                                 "preprocessing", "stimuli", "inputs",
                                                                                 "stimuli_given"}


def test_layer_without_a_recorded_identity_is_not_skipped(tmp_path):
    """A complete layer of an older store (no extraction_identity) cannot be checked: refused unless left out."""
    import zarr

    x = torch.rand(4, 3, 8, 8)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(small_net(), x, store, model_name="m", layers=["0", "3"], progress=False)
    group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / "0"), mode="r+")
    group.attrs.pop("extraction_identity", None)
    as_older_writer(group)  # which recorded no digests
    with pytest.raises(ExtractionError, match="'features/m/0' is complete but records no identity.*overwrite=True"):
        extract_features(small_net(), x, store, model_name="m", layers=["0", "3"], progress=False)
    assert extract_features(small_net(), x, store, model_name="m", layers=["3"], progress=False).skipped == ["3"]
    assert extract_features(small_net(), x, store, model_name="m", layers=["0"], overwrite=True,
                            progress=False).written == ["0"]


class CountingDataset(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x, self.calls = x, 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        self.calls += 1
        return self.x[i]


def test_dataset_items_are_hashed_as_the_pass_loads_them(tmp_path):
    x = torch.rand(6, 3, 8, 8)
    store = StudyStore(tmp_path / "s.zarr")
    ds = CountingDataset(x)
    extract_features(small_net(), ds, store, model_name="m", layers=["3"], batch_size=4, progress=False)
    assert ds.calls <= len(x) + 8  # one pass, plus the probe's (2 + 3), the preprocessing digest's first items and the
    # first item, which tells a Dataset of tensors from one of images
    assert extract_features(small_net(), CountingDataset(x.clone()), store, model_name="m", layers=["3"],
                            progress=False).skipped == ["3"]
    with pytest.raises(ExtractionError, match="stimuli's contents differ"):
        extract_features(small_net(), CountingDataset(torch.cat([x[:5], x[5:] + 1])), store, model_name="m",
                         layers=["3"], progress=False)


def test_the_same_tensors_given_another_way_are_refused_for_the_way_not_other_contents(tmp_path):
    """An array's values and a Dataset's loaded items are hashed otherwise: the same tensors given the
    other way are refused (never skipped unchecked), and the message says so rather than that the
    pixels differ."""
    x = torch.rand(6, 3, 8, 8)
    ids = [f"s{i}" for i in range(6)]
    kw = dict(model_name="m", layers=["3"], stimulus_ids=ids, progress=False)
    for first, then, said in ((x.numpy(), CountingDataset(x), "given as an array and are now given as a Dataset"),
                              (CountingDataset(x), x.numpy(), "given as a Dataset and are now given as an array")):
        store = StudyStore(tmp_path / f"{said[9:14]}.zarr")
        extract_features(small_net(), first, store, **kw)
        with pytest.raises(ExtractionError, match=rf"its stimuli were {said}, whose contents are hashed otherwise, so "
                                                  rf"they cannot be checked to be the same: give them as an? \w+ again\. "
                                                  r"Pass overwrite=True") as err:
            extract_features(small_net(), then, store, **kw)
        assert "contents differ" not in str(err.value)
        assert extract_features(small_net(), first, store, **kw).skipped == ["3"]  # given as before: the same layer
    store = StudyStore(tmp_path / "other.zarr")  # other contents given the same way: what differs is named as before
    extract_features(small_net(), x.numpy(), store, **kw)
    with pytest.raises(ExtractionError, match="the stimuli's contents differ"):
        extract_features(small_net(), x.numpy() + 1, store, **kw)


def test_an_empty_list_of_layers_is_refused_saying_what_to_pass(tmp_path):
    with pytest.raises(ExtractionError, match=r"^layers=\[\] names no module; pass module names, a filter f\(name, module\) "
                                              r"-> bool, or None \(every leaf module\)\.$"):
        extract_features(small_net(), torch.rand(4, 3, 8, 8).numpy(), tmp_path / "s.zarr", model_name="m", layers=[],
                         progress=False)


def test_a_dataset_of_tensors_records_no_transform_and_refuses_image_size(tmp_path):
    """Tensors from a Dataset are fed as is, as an array's are: the layer recorded the default image
    transform (which never ran) and took image_size= without effect; a Dataset of PIL images is transformed."""
    from PIL import Image

    x = torch.rand(6, 3, 8, 8)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(small_net(), CountingDataset(x), store, model_name="t", layers=["3"], progress=False)
    attrs = store.read_features("t", "3").attrs
    assert "transform" not in attrs and attrs["transform_source"] == "none (Dataset of tensors fed as is)"
    assert attrs["stimuli"] == "tensor_dataset"
    with pytest.raises(ExtractionError, match=r"^image_size=64 has no effect on a Dataset of tensors \(fed to the model as is\)"):
        extract_features(small_net(), CountingDataset(x), store, model_name="u", layers=["3"], image_size=64, progress=False)
    images = [Image.fromarray((np.random.default_rng(i).random((10, 12, 3)) * 255).astype(np.uint8)) for i in range(4)]
    extract_features(small_net(), images_ds := CountingDataset(images), store, model_name="p", layers=["3"], image_size=8,
                     progress=False)
    attrs = store.read_features("p", "3").attrs
    assert attrs["stimuli"] == "dataset" and attrs["transform_source"] == "default" and "image_size=[8, 8]" in attrs["transform"]
    assert images_ds.calls > 0
    with pytest.raises(ExtractionError, match=r"^stimuli: the CountingDataset's first item \('stimulus0'\) is not a PIL image "
                       r"but 2 items of a batch are PIL images, e.g. \['stimulus4', 'stimulus5'\]"):
        extract_features(small_net(), CountingDataset([*x[:4], *images[:2]]), store, model_name="mixed", layers=["3"],
                         progress=False)


# ---------------------------------------------------------------------------- torchvision's preset, exactly
def torchvision_preset(img, crop: int, resize: int) -> np.ndarray:
    """torchvision's ``Resize(resize)``, ``CenterCrop(crop)``, ``Normalize`` on a PIL image, written out from
    its formulas: ``_compute_resized_output_size`` truncates the long side (``int(resize * long / short)``),
    ``center_crop`` offsets by ``int(round((resized - crop) / 2.0))``."""
    from PIL import Image

    img = img.convert("RGB")
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    top, left = int(round((new_h - crop) / 2.0)), int(round((new_w - crop) / 2.0))
    a = np.asarray(img.crop((left, top, left + crop, top + crop)), np.float32).transpose(2, 0, 1) / 255.0
    mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
    return (a - mean) / std


@pytest.mark.parametrize("width,height", [(335, 200), (500, 281), (259, 256), (200, 431), (256, 259), (300, 200)])
def test_default_transform_is_torchvisions_preset_pixel_for_pixel(width, height):
    """335x200 and 500x281: torchvision truncates the long side (428, 455) where rounding gives 429, 456;
    259x256: the crop offset (259 - 224) / 2 = 17.5 rounds to 18 where flooring gives 17."""
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width]
    img = Image.fromarray(np.stack([(xx * 7) % 256, (yy * 5) % 256, (xx * yy) % 256], -1).astype(np.uint8))
    np.testing.assert_array_equal(default_image_transform(224)(img).numpy(), torchvision_preset(img, 224, 256))


class _WithProcessorMethod(nn.Module):
    """A model whose class has a helper method that happens to be called ``processor``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))

    def processor(self, batch):
        return batch * 0

    @staticmethod
    def tokenizer(text):
        return text

    def forward(self, x):
        return self.fc(x)


def test_a_model_method_named_processor_is_not_taken_for_its_preprocessing(tmp_path):
    save_images(tmp_path / "imgs", n=3)
    plan = plan_extraction(_WithProcessorMethod(), tmp_path / "imgs", image_size=8)
    assert plan.preprocessing.startswith("default_image_transform(")
    model = _WithProcessorMethod()
    model.processor = default_image_transform(8)  # set on the model: its own preprocessing
    assert plan_extraction(model, tmp_path / "imgs").preprocessing.startswith("model.processor: default_image_transform(")


def test_a_transform_that_fails_on_an_image_is_a_one_line_error(tmp_path):
    save_images(tmp_path / "imgs", n=3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))

    def needs_a_tensor(x):
        return x * 2  # a PIL image cannot be multiplied

    with pytest.raises(ExtractionError, match=r"^the transform \(.*needs_a_tensor\) fails on stimulus 'im0' "
                                              r"\(TypeError: .*\); pass transform= a callable that takes a PIL image"):
        plan_extraction(net, tmp_path / "imgs", transform=needs_a_tensor)
    with pytest.raises(ExtractionError, match=r"fails on stimulus 'stimulus0' \(.*\).*takes an array item"):
        plan_extraction(net, torch.zeros(3, 3, 8, 8), transform=lambda x: x.missing)


def test_an_image_transform_on_an_array_of_images_says_how_to_give_them_as_images(tmp_path):
    """``default_image_transform`` (a PIL-image transform) given for an array of images fails on each item (a tensor):
    the error says how to pass the images as PIL images with their ids, and that way extracts."""
    from PIL import Image

    images = np.random.default_rng(0).integers(0, 256, size=(3, 12, 12, 3), dtype=np.uint8)
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with pytest.raises(ExtractionError, match=r"takes an array item .*; an image transform \(default_image_transform, "
                                              r"torchvision's\) takes PIL images: pass \[PIL\.Image\.fromarray\(a\) for a "
                                              r"in images\] \(uint8, \(H, W, C\) each\) with stimulus_ids=\.$") as e:
        plan_extraction(net, images, transform=default_image_transform(8))
    assert "\n" not in str(e.value)
    plan = plan_extraction(net, [Image.fromarray(a) for a in images], transform=default_image_transform(8),
                           stimulus_ids=["a", "b", "c"])
    assert list(plan.stimulus_ids) == ["a", "b", "c"]


def test_a_second_name_of_a_module_is_refused_naming_the_first(tmp_path):
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 3)
            self.b = self.a  # the same module under two names: named_modules() lists 'a' only
            self.c = nn.Linear(3, 2)

        def forward(self, x):
            return self.c(torch.relu(self.b(x)))

    x = torch.randn(5, 4)
    with pytest.raises(ExtractionError, match=r"layers: 'b' is another name of module 'a' .*pass layers=\['a'\]"):
        plan_extraction(Shared(), x, layers=["b"])
    assert [lp.module_name for lp in plan_extraction(Shared(), x, layers=["a"]).layers] == ["a"]


class _Named(nn.Module):
    """Two modules whose names read alike in the store (``"a b"``, ``"a:b"``: ``a_b``), and one module
    called twice."""

    def __init__(self):
        super().__init__()
        self.d = nn.ModuleDict({"a b": nn.Linear(4, 4), "a:b": nn.Linear(4, 4)})
        self.sh = nn.Linear(4, 4)

    def forward(self, x):
        return self.sh(self.sh(self.d["a:b"](self.d["a b"](x))))


def test_a_store_name_of_several_modules_is_refused_and_left_out_modules_are_said(tmp_path):
    """layers=['d.a_b'] extracted the module met last of the two whose store names collide; a
    default plan left out a module called twice without a word (in-place ones were said)."""
    import warnings

    import torch

    import neuroxr as nx

    torch.manual_seed(0)
    model = _Named()
    X = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    with pytest.raises(nx.ExtractionError, match="several modules"):
        plan_extraction(model, X, layers=["d.a_b"])
    assert [lp.module_name for lp in plan_extraction(model, X, layers=["d.a b"]).layers] == ["d.a b"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan_extraction(model, X)
    said = [str(w.message) for w in caught if issubclass(w.category, nx.NeuroxrWarning)]
    assert "sh" in plan.skipped and any("'sh'" in m and "left out 1 module" in m for m in said)


def test_a_transform_changed_for_a_later_stimulus_is_not_skipped(tmp_path):
    """The preprocessing digest hashed the first 2 stimuli's model input only: a transform that makes
    other input for the 6th stimulus alone was answered by the stored layer (0.11 off there). Every
    stimulus's model input is recorded now (identity version 4)."""
    import torch

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    X = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    ids = [f"im{i}" for i in range(8)]
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="m", layers=["1"], stimulus_ids=ids, progress=False, batch_size=3)

    def plain(x):
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    def shifted(x):  # the same for every stimulus but the 6th
        x = plain(x)
        return x + 0.5 if bool(torch.isclose(x, plain(X[5])).all()) else x

    extract_features(net, X, store, transform=plain, **kw)
    assert extract_features(net, X, store, transform=plain, **kw).skipped == ["1"]
    with pytest.raises(ExtractionError, match="other model input of some stimuli"):
        extract_features(net, X, store, transform=shifted, **kw)
    done = extract_features(net, X, store, transform=shifted, overwrite=True, **kw)
    assert done.written == ["1"]
    want = net(plain(X) + torch.as_tensor(np.eye(8, dtype=np.float32)[5][:, None] * 0.5)).detach().numpy()
    np.testing.assert_allclose(store.read_features("m", "1").sel(stimulus=store.read_features("m", "1").stimulus_id == "im5").values[0],
                               want[5], rtol=1e-6)


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_images_wider_than_8_bits_are_refused_by_the_default_transform(mode, tmp_path):
    """convert('RGB') clipped a 16-bit image to 255 and turned a float image in 0-1 black; the
    default transform refuses them, naming the stimulus."""
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    values = np.arange(64, dtype=float).reshape(8, 8)
    img = (Image.fromarray((values * 1000).astype(np.uint16)) if mode == "I;16"
           else Image.fromarray((values / 64).astype(np.float32), mode="F"))
    assert img.mode == mode
    img.save(tmp_path / "imgs" / f"a0.{'png' if mode == 'I;16' else 'tiff'}")
    net = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 2))
    with pytest.raises(ExtractionError, match=rf"stimulus 'a0': image mode '{mode}' holds more than 8 bits"):
        extract_features(net, tmp_path / "imgs", tmp_path / "s.zarr", model_name="m", image_size=8, progress=False)


def test_cli_extract_options_are_extract_features(tmp_path):
    """--dtype, --unit-chunk, --flatten/--no-flatten, --deduplicate/--no-deduplicate and --staging-dir are
    extract_features's keywords (defaults from its signature): the command stores what the API stores."""
    import inspect
    import json
    import runpy

    from click.testing import CliRunner

    from neuroxr.cli import main
    from neuroxr.cli.extract import DEFAULTS
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.extract import extract_features

    sig = inspect.signature(extract_features).parameters
    assert DEFAULTS == {k: sig[k].default for k in DEFAULTS} and sig["dtype"].default is None
    save_images(tmp_path / "imgs", n=3, size=(8, 8))
    (tmp_path / "m.py").write_text(
        "import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(72, 5), nn.ReLU(inplace=True))\n")
    (tmp_path / "stage").mkdir()
    base = ["extract", "--model", f"{tmp_path / 'm.py'}:build", "--images", str(tmp_path / "imgs"), "--image-size", "8",
            "--model-name", "m", "--no-progress", "--json"]
    for i, (flags, kw) in enumerate([
        (["--dtype", "float16", "--unit-chunk", "7", "--staging-dir", str(tmp_path / "stage")],
         dict(dtype="float16", unit_chunk=7, staging_dir=tmp_path / "stage")),
        (["--no-flatten", "--no-deduplicate"], dict(flatten=False, deduplicate=False)),
    ]):
        res = CliRunner().invoke(main, [base[0], str(tmp_path / f"cli{i}.zarr"), *base[1:], *flags])
        assert res.exit_code == 0, res.output
        written = json.loads(res.stdout)["written"]
        build = runpy.run_path(str(tmp_path / "m.py"))["build"]
        with pytest.warns(NeuroxrWarning, match="left out"):  # the aliased ReLU or the unflattened conv, as the command says
            api = extract_features(build(), tmp_path / "imgs", tmp_path / f"api{i}.zarr", model_name="m", image_size=8,
                                   progress=False, **kw)
        assert written == list(api.written)
        cli, ref = StudyStore(tmp_path / f"cli{i}.zarr", mode="r"), StudyStore(tmp_path / f"api{i}.zarr", mode="r")
        for layer in written:
            a, b = cli.read_features("m", layer), ref.read_features("m", layer)
            assert a.dtype == b.dtype and a.data.chunks == b.data.chunks
            np.testing.assert_array_equal(a.values, b.values)
        if i == 0:
            assert cli.read_features("m", written[0]).dtype == np.float16
            assert max(cli.read_features("m", written[0]).data.chunks[1]) == 7
        else:  # the conv's (2, 6, 6) outputs are not stored unflattened; the in-place ReLU is kept
            assert "0" not in written and "3" in written
    res = CliRunner().invoke(main, [base[0], str(tmp_path / "d.zarr"), *base[1:]])
    assert res.exit_code == 0 and "3" not in json.loads(res.stdout)["written"]  # deduplicated by default
    for flags, says in ((["--layer", "2", "--no-deduplicate"], "--no-deduplicate acts on the default selection"),
                        (["--dry-run", "--staging-dir", str(tmp_path / "stage")], "--staging-dir holds the files"),
                        (["--dtype", "int8"], "Invalid value for '--dtype'"), (["--unit-chunk", "0"], "'--unit-chunk'")):
        res = CliRunner().invoke(main, [base[0], str(tmp_path / "e.zarr"), *base[1:], *flags])
        assert res.exit_code == 2 and res.stderr.count("\n") == 1 and says in res.stderr, res.output
        assert not (tmp_path / "e.zarr").exists()


def test_cli_extract_names_left_out_modules_by_flag(tmp_path):
    """The command's warning and printed plan say to name a left-out module with --layer, never layers=[...]."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    save_images(tmp_path / "imgs", n=3, size=(8, 8))
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef build():\n"
                                   "    return nn.Sequential(nn.Flatten(), nn.Linear(192, 5), nn.ReLU(inplace=True))\n")
    base = ["extract", "--model", f"{tmp_path / 'm.py'}:build", "--images", str(tmp_path / "imgs"), "--image-size", "8",
            "--model-name", "m", "--no-progress"]
    for i, extra in enumerate(([], ["--dry-run"])):
        res = CliRunner().invoke(main, [base[0], str(tmp_path / f"s{i}.zarr"), *base[1:], *extra])
        assert res.exit_code == 0, res.output
        assert "name them with --layer" in res.stderr and "pass --layer 2 to store its own output" in res.stdout
        assert "layers=" not in res.stdout + res.stderr


class DrawingDataset(torch.utils.data.Dataset):
    """Items drawn anew on every load (an augmentation inside the Dataset)."""

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.rand(3, 8, 8)


def test_random_preprocessing_is_refused_not_stored(tmp_path):
    """A training transform (a random crop or flip) or a Dataset drawing its items gave features of one
    random draw, stored as the stimuli's; the probe loads the first stimuli twice, and they must agree."""
    x = torch.rand(5, 3, 8, 8)
    draws = iter(range(1, 1000))

    def jitter(item):  # another shift on every call
        return torch.as_tensor(item) + next(draws)

    for stimuli, kw in ((x, {"transform": jitter}), (DrawingDataset(), {})):
        with pytest.raises(ExtractionError, match=r"^the preprocessing gave the first stimuli \('stimulus0', 'stimulus1'\) "
                                                  r"other model input on a second load: a random augmentation"):
            extract_features(small_net(), stimuli, tmp_path / "s.zarr", model_name="m", progress=False, **kw)
        assert not (tmp_path / "s.zarr").exists()
    # a deterministic transform, NaN in the input included, is taken
    nan_x = x.clone()
    nan_x[0, 0, 0, 0] = float("nan")
    plan = plan_extraction(small_net(), nan_x, transform=lambda item: torch.as_tensor(item) * 2, layers=["0"])
    assert plan.stimulus_ids.tolist() == [f"stimulus{i}" for i in range(5)]


def test_sigterm_ends_an_extraction_as_ctrl_c_does_and_leaves_no_staging_files(tmp_path, monkeypatch):
    """SIGTERM (a batch system's time limit, `timeout`) ended `neuroxr extract` at once: exit 143
    without a word, and the raw staging files of the pass stayed in --staging-dir for good."""
    import os
    import signal

    from click.testing import CliRunner

    from neuroxr.cli import main
    from neuroxr.extract import write as W

    save_images(tmp_path / "imgs", n=6, size=(8, 8))
    (tmp_path / "m.py").write_text(
        "import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(72, 5))\n")
    (tmp_path / "stage").mkdir()
    real, calls = W.LayerWriter.write, []

    def write(self, *a, **k):  # the second batch: SIGTERM, as a time limit sends it
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, *a, **k)

    monkeypatch.setattr(W.LayerWriter, "write", write)
    before = signal.getsignal(signal.SIGTERM)
    res = CliRunner().invoke(main, ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'm.py'}:build", "--images",
                                    str(tmp_path / "imgs"), "--image-size", "8", "--model-name", "m", "--no-progress",
                                    "--batch-size", "2", "--staging-dir", str(tmp_path / "stage")])
    assert res.exit_code == 143, res.output
    assert res.stderr.strip().splitlines() == [
        "Terminated (SIGTERM); complete entries and sets are kept: run the command again to go on."]
    assert [p for p in (tmp_path / "stage").rglob("*") if p.is_file()] == []  # the pass's files cleaned up
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the command's alone
    monkeypatch.undo()
    res = CliRunner().invoke(main, ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'm.py'}:build", "--images",
                                    str(tmp_path / "imgs"), "--image-size", "8", "--model-name", "m", "--no-progress"])
    assert res.exit_code == 0, res.output  # and a re-run goes on


class _NormInForward(nn.Module):
    """Normalises its input in place inside forward, as some model wrappers do."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.sub_(0.5).div_(0.25)
        return self.fc(self.conv(x).mean((2, 3)))


def test_a_model_that_changes_its_input_in_place_is_taken_not_called_random(tmp_path):
    """The probe compared its first batch, which the model had changed in place (to_input returned the loaded
    batch itself), with a second load, and refused the stimuli as randomly preprocessed."""
    x = torch.rand(5, 3, 6, 6) - 0.5
    given = x.clone()
    torch.manual_seed(0)
    seq = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(3, 2, 3), nn.Flatten())
    with torch.no_grad():  # the direct computation, on the unmodified input
        want = {"fc": _NormInForward()(x.clone()).numpy(), "1": seq[1](x.clamp(min=0)).flatten(1).numpy()}
    store = StudyStore(tmp_path / "s.zarr")
    for name, net, layer, stimuli in (("norm", _NormInForward().eval(), "fc", x), ("relu", seq.eval(), "1", CountingDataset(x))):
        extract_features(net, stimuli, store, model_name=name, layers=[layer], batch_size=2, progress=False)
        np.testing.assert_allclose(store.read_features(name, layer).values, want[layer], rtol=1e-5, atol=1e-6)
    assert torch.equal(x, given)  # the stimuli given are never changed


@pytest.mark.parametrize("store", [3, None, ["s.zarr"]])
def test_a_store_of_another_type_is_a_one_line_error(store, tmp_path):
    """A store that is no StudyStore, path or URL (an int, None, a list) is an ExtractionError naming
    ``store`` (os.fspath's bare TypeError before); plan_extraction takes None (no store)."""
    x = torch.zeros(3, 2)
    with pytest.raises(ExtractionError, match=r"^store must be a StudyStore, a local path or a URL") as e:
        extract_features(nn.Linear(2, 3), x, store, model_name="m", progress=False)
    assert "\n" not in str(e.value)
    if store is not None:
        with pytest.raises(ExtractionError, match=r"^store must be a StudyStore"):
            plan_extraction(nn.Linear(2, 3), x, store, model_name="m")
    else:
        assert plan_extraction(nn.Linear(2, 3), x, store, model_name="m").layers


def test_channels_last_images_that_fail_the_model_are_said_to_be_channels_last(tmp_path):
    """Images as numpy and PIL lay them out, (N, H, W, 3) uint8 (as datasets.load_cowley_images returns
    them), fed to a conv net: the one-line error says they look channels-last and how to transpose them;
    (N, C, H, W) images that fail for another reason get no such hint."""
    images = np.random.default_rng(0).integers(0, 256, size=(4, 12, 12, 3), dtype=np.uint8)
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with pytest.raises(ExtractionError, match=r"failed on inputs of shape \(2, 12, 12, 3\) .*look channels-last, "
                                              r"\(N, H, W, C\).*x\.transpose\(0, 3, 1, 2\)") as e:
        plan_extraction(net, images)
    assert "\n" not in str(e.value)
    with pytest.raises(ExtractionError, match=r"failed on inputs of shape \(2, 3, 12, 12\)") as e:
        plan_extraction(nn.Sequential(nn.Conv2d(1, 2, 3)), images.transpose(0, 3, 1, 2).astype(np.float32))
    assert "channels-last" not in str(e.value)
    plan = plan_extraction(net, images.transpose(0, 3, 1, 2).astype(np.float32) / 255)  # the fix it names
    assert [lp.name for lp in plan.layers] == ["0", "1"]


def test_channels_last_images_given_as_a_labeled_array_are_told_the_transpose_by_dim_name(tmp_path):
    """A DataArray of channels-last images (as ``datasets.load_kriegeskorte_92(...).images`` holds them) is told the
    transpose by its dim names, which a DataArray takes (``transpose(0, 3, 1, 2)`` raises on it), and that fix works."""
    import xarray as xr

    images = np.random.default_rng(0).integers(0, 256, size=(4, 12, 12, 3), dtype=np.uint8)
    da = xr.DataArray(images, dims=("stimulus", "y", "x", "rgb"), coords={"stimulus_id": ("stimulus", list("abcd"))})
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with pytest.raises(ExtractionError, match=r"look channels-last.*e\.g\. stimuli\.transpose\('stimulus', 'rgb', 'y', "
                                              r"'x'\)") as e:
        plan_extraction(net, da)
    assert "(0, 3, 1, 2)" not in str(e.value) and "\n" not in str(e.value)
    assert [lp.name for lp in plan_extraction(net, da.transpose("stimulus", "rgb", "y", "x")).layers] == ["0", "1"]


def test_a_labeled_array_of_stimuli_keeps_its_stimulus_ids(tmp_path):
    """A DataArray of images with a 'stimulus' dim and a 'stimulus_id' coord (as the datasets give
    them) is fed as its values, the stimulus dim moved first, under its own ids; it was taken item
    by item as a Dataset and stored under 'stimulus0', ... Given stimulus_ids win; no stimulus dim is refused."""
    import xarray as xr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 6, 6)).astype(np.float32)
    ids = ["obj3", "obj1", "obj4", "obj2"]
    da = xr.DataArray(x, dims=("stimulus", "rgb", "y", "x"), coords={"stimulus_id": ("stimulus", ids)})
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    res = extract_features(net, da.transpose("rgb", "stimulus", "y", "x"), tmp_path / "s.zarr", model_name="m",
                           layers=["1"], progress=False)
    stored = StudyStore(tmp_path / "s.zarr").read_features("m", "1")
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    assert stored.stimulus_id.values.tolist() == ids and res.skipped == []
    np.testing.assert_allclose(stored.values, expected, rtol=1e-6, atol=1e-6)
    given = plan_extraction(net, da, stimulus_ids=["a", "b", "c", "d"], layers=["1"])
    assert given.stimulus_ids.tolist() == ["a", "b", "c", "d"]
    with pytest.raises(ExtractionError, match=r"^stimuli: a DataArray of stimuli needs a 'stimulus' dim; got dims "
                                              r"\('image', 'rgb', 'y', 'x'\)"):
        plan_extraction(net, da.rename(stimulus="image"))


def test_a_model_that_exits_when_loaded_is_an_error_naming_it(tmp_path, monkeypatch):
    """``sys.exit`` in a model file (an argparse or a script's code at module level), its factory or an imported
    module is a one-line ``ExtractionError`` naming it, not a ``SystemExit`` that ends the program without a word."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "factory_exits.py").write_text("import sys\n\ndef build():\n    sys.exit('usage: build --x X')\n")
    (tmp_path / "exits_on_import.py").write_text("raise SystemExit(2)\n")
    (tmp_path / "fails_on_import.py").write_text("raise RuntimeError('no GPU')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec, says in ((f"{tmp_path / 'exits.py'}:build", r"exits.py' exits when it runs \(SystemExit: 3\)"),
                       (f"{tmp_path / 'factory_exits.py'}:build", r"calling build\(\) exits \(SystemExit: usage"),
                       ("exits_on_import:build", r"module 'exits_on_import' exits when imported \(SystemExit: 2\)"),
                       ("fails_on_import:build", r"module 'fails_on_import' fails when imported \(RuntimeError: no GPU\); fix")):
        with pytest.raises(ExtractionError, match=says):
            load_model(spec)
    res = CliRunner().invoke(main, ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'exits.py'}:build",
                                    "--images", str(tmp_path), "--model-name", "m"])
    assert res.exit_code == 2 and "Invalid value for '--model'" in res.stderr and "exits when it runs" in res.stderr, res.output
    assert res.stderr.count("\n") == 1


def test_a_model_file_imports_the_files_beside_it(tmp_path):
    """A model file's folder is on ``sys.path`` while it runs and its factory is called (as ``runpy.run_path``
    and ``python file.py`` have it): it may import a helper file beside it; ``sys.path`` is put back after."""
    import sys

    (tmp_path / "beside_net_helper.py").write_text("WIDTH = 3\n")
    (tmp_path / "net.py").write_text("from torch import nn\nfrom beside_net_helper import WIDTH\n\n"
                                     "def build():\n    import beside_net_helper\n\n"
                                     "    return nn.Linear(2, beside_net_helper.WIDTH + WIDTH)\n")
    before = list(sys.path)
    try:
        net = load_model(f"{tmp_path / 'net.py'}:build")
    finally:
        sys.modules.pop("beside_net_helper", None)
    assert net.out_features == 6 and sys.path == before


def test_weights_loaded_into_a_model_built_on_the_meta_device_give_it_its_values(tmp_path):
    """A factory that builds the model on the meta device (no memory, no init) with --weights: the weights were copied
    onto meta tensors (a no-op, with torch's warnings), and the model was refused as having no values. They are
    assigned instead, so the model holds the file's values."""
    import warnings

    from click.testing import CliRunner

    from neuroxr.cli import main
    from neuroxr.extract.models import load_weights

    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "copying ... to a meta parameter ... is a no-op"
        load_weights(model, tmp_path / "w.pt")
    for (name, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        assert not a.is_meta and torch.equal(a, b), name
    save_images(tmp_path / "imgs", n=3)
    (tmp_path / "m.py").write_text("import torch\nfrom torch import nn\n\ndef build():\n    with torch.device('meta'):\n"
                                   "        return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())\n")
    res = CliRunner().invoke(main, ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'm.py'}:build",
                                    "--weights", str(tmp_path / "w.pt"), "--images", str(tmp_path / "imgs"),
                                    "--model-name", "m", "--image-size", "8", "--no-progress", "-q"])
    assert res.exit_code == 0, res.output
    got = StudyStore(tmp_path / "s.zarr").read_features("m", "1").values
    from PIL import Image

    x = torch.stack([default_image_transform(8)(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "imgs").iterdir())])
    with torch.no_grad():
        np.testing.assert_allclose(got, ref(x).numpy(), rtol=1e-5, atol=1e-6)
