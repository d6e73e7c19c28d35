"""Tests of neuroxr.extract with the libraries' own preprocessing: torchvision weights' transforms,
timm data configs, Hugging Face image processors and tokenizers, each against a reference computed
here by hand (the same transform applied to the images, a forward hook on the same model).

Models are built with random weights (timm ``pretrained=False``, transformers from small configs);
torchvision's weights enum serves only its ``transforms()``; nothing is downloaded.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neuroxr.extract import ExtractionError, extract_features  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
TEXTS = ["the cat sat on the mat", "a dog", "the dog ran far", "a cat sat"]


def save_modes(folder: Path, modes: tuple[str, ...], size: tuple[int, int] = (30, 40)) -> list[Path]:
    """One random image per PIL mode (TIFF keeps YCbCr as it is), files sorted as ``modes``."""
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i, mode in enumerate(modes):
        img = Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).convert(mode)
        paths.append(folder / f"im{i}.tiff")
        img.save(paths[-1])
        assert Image.open(paths[-1]).mode == mode
    return paths


def hooked(model, module, x):
    """``module``'s output for the batch ``x`` (a tensor, or a dict passed as keyword arguments)."""
    out = {}
    handle = module.register_forward_hook(lambda m, i, o: out.setdefault("o", o.detach().clone()))
    with torch.no_grad():
        model(**x) if isinstance(x, dict) else model(x)
    handle.remove()
    return out["o"].reshape(out["o"].shape[0], -1).numpy()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# ---------------------------------------------------------------------------- torchvision weights
class RGBOnlyWeights:
    """Stands for a torchvision weights member whose preset, like ``ImageClassification``, takes 3 channels."""

    name = "V1"
    meta: dict = {}

    def transforms(self):
        def preset(img):
            arr = np.asarray(img.resize((8, 8)), dtype=np.float32) / 255.0
            return torch.from_numpy(arr.transpose(2, 0, 1).copy())  # (8, 8) for a grayscale image: fails

        return preset


def test_weights_transforms_get_rgb_images(tmp_path):
    """A grayscale or palette image was handed to the preset as it is, which failed (1 channel)."""
    from PIL import Image

    paths = save_modes(tmp_path / "imgs", ("L", "P", "RGB"))
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    store = StudyStore(tmp_path / "s.zarr")
    weights = RGBOnlyWeights()
    extract_features(net, tmp_path / "imgs", store, model_name="m", transform=weights, progress=False)
    da = store.read_features("m", "1")
    x = torch.stack([weights.transforms()(Image.open(p).convert("RGB")) for p in paths])
    np.testing.assert_allclose(da.values, hooked(net, net[1], x), rtol=1e-6, atol=1e-7)
    assert da.attrs["transform"].startswith("RGBOnlyWeights.V1.transforms() = convert('RGB'), then ")


def test_torchvision_weights_transforms_match_a_hand_reference(tmp_path, no_network):
    tv_models = pytest.importorskip("torchvision.models")
    from PIL import Image

    weights = tv_models.ResNet18_Weights.IMAGENET1K_V1  # only its transforms(): no download
    paths = save_modes(tmp_path / "imgs", ("L", "YCbCr", "RGBA"))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 8, stride=8), nn.ReLU(), nn.Flatten())
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, tmp_path / "imgs", store, model_name="m", layers=["0"], transform=weights, progress=False)
    tf = weights.transforms()
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])  # YCbCr was read as RGB
    da = store.read_features("m", "0")
    np.testing.assert_allclose(da.values, hooked(net, net[0], x), rtol=1e-5, atol=1e-6)
    assert da.attrs["transform_source"] == "torchvision weights" and "crop_size=[224]" in da.attrs["transform"]


# ---------------------------------------------------------------------------- timm
def test_timm_model_config_matches_a_hand_reference(tmp_path, no_network):
    timm = pytest.importorskip("timm")
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    paths = save_modes(tmp_path / "imgs", ("RGB", "L"))
    torch.manual_seed(0)
    model = timm.create_model("test_resnet.r160_in1k", pretrained=False).eval()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, tmp_path / "imgs", store, model_name="t", layers=["conv1.0", "fc"], progress=False)
    tf = create_transform(**resolve_data_config({}, model=model))
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    for layer, module in (("conv1.0", model.conv1[0]), ("fc", model.fc)):
        np.testing.assert_allclose(store.read_features("t", layer).values, hooked(model, module, x), rtol=1e-4, atol=1e-5)
    assert store.read_features("t", "fc").attrs["transform_source"] == "timm data config"
    # a model's whole pretrained_cfg is no data config: its keys are named, not a TypeError
    with pytest.raises(ExtractionError, match=r"^transform: the timm data config has keys \[.*'url'.*\] that "
                                              r"timm.data.create_transform does not take; .*resolve_data_config"):
        extract_features(model, tmp_path / "imgs", tmp_path / "o.zarr", model_name="t", layers=["fc"],
                         transform=dict(model.pretrained_cfg), progress=False)
    with pytest.raises(ExtractionError, match="is_training=True"):
        extract_features(model, tmp_path / "imgs", tmp_path / "o.zarr", model_name="t", layers=["fc"],
                         transform=dict(resolve_data_config({}, model=model), is_training=True), progress=False)


# ---------------------------------------------------------------------------- Hugging Face
def test_image_processor_refuses_wide_images_rather_than_clipping(tmp_path):
    """A 16-bit image went through ``convert("RGB")``, clipped to 255, into the processor."""
    transformers = pytest.importorskip("transformers")
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)).save(tmp_path / "imgs" / "a.png")
    Image.fromarray(rng.integers(256, 65535, size=(20, 20)).astype(np.uint16)).save(tmp_path / "imgs" / "b.png")
    torch.manual_seed(0)
    vit = transformers.ViTModel(transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                       intermediate_size=32, image_size=16, patch_size=8)).eval()
    proc = transformers.ViTImageProcessor(size={"height": 16, "width": 16})
    with pytest.raises(ExtractionError, match=r"^stimulus 'b': image mode 'I;16' holds more than 8 bits per value, which "
                                              r"the image processor would clip to 0-255"):
        extract_features(vit, tmp_path / "imgs", tmp_path / "s.zarr", model_name="v", layers=["pooler.activation"],
                         transform=proc, progress=False)


@pytest.fixture(scope="module")
def bert():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32)
    return transformers.BertModel(cfg).eval()


@pytest.mark.parametrize("pooling", ["cls", "last", "mean"])
def test_left_padding_tokenizer_gives_each_text_its_own_features(tmp_path, bert, pooling):
    """Left padding shifted the positions of a shorter text's tokens: its features depended on the longest text."""
    transformers = pytest.importorskip("transformers")
    tok = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, padding_side="left")
    store = StudyStore(tmp_path / "s.zarr")
    layer = "encoder.layer.0.output.LayerNorm"
    extract_features(bert, TEXTS, store, model_name="b", layers=[layer], transform=tok, pooling=pooling, batch_size=2,
                     progress=False)
    alone = []
    for text in TEXTS:  # each text tokenized alone: no padding at all
        tokens = hooked(bert, bert.encoder.layer[0].output.LayerNorm, dict(tok([text], return_tensors="pt")))
        tokens = tokens.reshape(-1, 16)
        alone.append({"cls": tokens[0], "last": tokens[-1], "mean": tokens.mean(0)}[pooling])
    np.testing.assert_allclose(store.read_features("b", layer).values, np.stack(alone), rtol=1e-5, atol=1e-5)
    assert tok.padding_side == "left"  # the tokenizer itself is left as it was


def test_tokenizer_without_a_padding_token_is_a_one_line_error(tmp_path, bert):
    transformers = pytest.importorskip("transformers")
    tok = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, pad_token=None)
    with pytest.raises(ExtractionError, match=r"^the tokenizer BertTokenizer\w* fails on the texts \(ValueError: .*pad.*\); "
                                              r"fix the tokenizer .* tokenizer.pad_token = tokenizer.eos_token"):
        extract_features(bert, TEXTS, tmp_path / "s.zarr", model_name="b", layers=["pooler.activation"], transform=tok,
                         progress=False)


@pytest.mark.parametrize("config", [{"input_size": (3, 8, 8)}, {"size": 8}])
def test_a_dict_short_of_a_timm_data_config_says_what_it_lacks(tmp_path, config):
    """Such a dict was 'not understood', told to pass 'a timm data config dict', which it was meant as."""
    net = nn.Sequential(nn.Flatten(), nn.LazyLinear(2))
    lacks = sorted({"input_size", "mean", "std"} - set(config))
    with pytest.raises(ExtractionError, match=rf"^transform: a dict is read as a timm data config.*lacks {lacks!r}".replace("[", r"\[")):
        extract_features(net, save_modes(tmp_path / "im", ("RGB",)), tmp_path / "s", model_name="m", transform=config,
                         progress=False)
