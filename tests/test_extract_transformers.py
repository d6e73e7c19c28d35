"""Tests of neuroxr.extract with Hugging Face transformers: ViT tokens, texts, pooling, processors.

Tiny models are built from configs with random weights; the tokenizer is built from a vocabulary
written here; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from torch import nn  # noqa: E402

from neuroxr.extract import extract_features, plan_extraction  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
TEXTS = ["the cat sat on the mat", "a dog", "the dog ran far", "a cat sat", "the mat", "dog"]


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)})


@pytest.fixture(scope="module")
def bert():
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32)
    return transformers.BertModel(cfg).eval()


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                 image_size=16, patch_size=8)
    return transformers.ViTModel(cfg).eval()


def _alone(model, tokenizer, text):
    """Hidden states of one text tokenized alone (no padding)."""
    with torch.no_grad():
        return model(**tokenizer([text], return_tensors="pt"), output_hidden_states=True).hidden_states


def test_texts_with_a_tokenizer_and_mask_aware_pooling(tmp_path, bert, tokenizer):
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(layers=["encoder.layer.1"], transform=tokenizer, batch_size=4, progress=False)
    result = extract_features(bert, TEXTS, store, model_name="mean", **kw)  # pooling="auto": mean for texts
    assert result.plan.layer("encoder.layer.1").pooling == "mean"
    extract_features(bert, TEXTS, store, model_name="cls", pooling="cls", **kw)
    extract_features(bert, TEXTS, store, model_name="last", pooling="last", **kw)
    extract_features(bert, TEXTS, store, model_name="tokens", pooling=None, **kw)
    # each text's reference is computed alone, without padding: mask-aware pooling ignores the padding
    ref = [_alone(bert, tokenizer, t)[2][0] for t in TEXTS]  # (tokens, dim): output of encoder.layer.1
    mean = store.read_features("mean", "encoder.layer.1")
    assert mean.shape == (len(TEXTS), 16) and list(mean.channel.values) == list(range(16))
    np.testing.assert_allclose(mean.values, np.stack([r.mean(0).numpy() for r in ref]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(store.read_features("cls", "encoder.layer.1").values,
                               np.stack([r[0].numpy() for r in ref]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(store.read_features("last", "encoder.layer.1").values,
                               np.stack([r[-1].numpy() for r in ref]), rtol=1e-4, atol=1e-5)
    tokens = store.read_features("tokens", "encoder.layer.1")
    n_tok = max(len(r) for r in ref)
    assert tokens.shape == (len(TEXTS), n_tok * 16) and tokens.attrs["n_tokens"] == n_tok
    first = tokens.sel(unit=tokens.token == 0)
    np.testing.assert_array_equal(first.channel.values, np.arange(16))
    np.testing.assert_allclose(first.values, store.read_features("cls", "encoder.layer.1").values, rtol=1e-6)
    assert mean.attrs["transform_source"] == "huggingface tokenizer" and mean.attrs["stimuli"] == "text"


def test_default_selection_on_bert_skips_what_has_no_stimulus_axis(bert, tokenizer):
    from neuroxr.errors import NeuroxrWarning

    with pytest.warns(NeuroxrWarning, match="dropout"):  # Dropout in eval returns its input
        plan = plan_extraction(bert, TEXTS, transform=tokenizer)
    assert "no stimulus axis" in plan.skipped["embeddings.position_embeddings"]
    tuples = plan_extraction(bert, TEXTS, transform=tokenizer, layers=lambda name, m: name.endswith("attention.self") or name == "pooler")
    assert "not a tensor" in tuples.skipped["encoder.layer.0.attention.self"]
    dense = plan.layer("encoder.layer.0.output.dense")
    n_tok = max(len(tokenizer(t)["input_ids"]) for t in TEXTS)  # texts are padded to the longest
    assert dense.output_shape == (n_tok, 16) and dense.pooling == "mean" and dense.n_units == 16
    assert plan.layer("embeddings.word_embeddings").module_type == "Embedding"


class TinyTransformer(nn.Module):
    """Like sentence_transformers.models.Transformer: a features dict in, the dict updated out."""

    def __init__(self, auto_model: nn.Module) -> None:
        super().__init__()
        self.auto_model = auto_model

    def forward(self, features):
        out = self.auto_model(input_ids=features["input_ids"], attention_mask=features["attention_mask"])
        features.update(token_embeddings=out.last_hidden_state)
        return features


class TinySentenceTransformer(nn.Sequential):
    """sentence-transformers' layout: an nn.Sequential called with the tokenizer's dict, carrying ``tokenizer``."""

    def __init__(self, auto_model: nn.Module, tokenizer) -> None:
        super().__init__(TinyTransformer(auto_model))
        self.tokenizer = tokenizer


def test_sentence_transformers_style_model_uses_its_own_tokenizer(tmp_path, bert, tokenizer):
    model = TinySentenceTransformer(bert, tokenizer).eval()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, TEXTS, store, model_name="st", layers=["0.auto_model.encoder.layer.1"], progress=False)
    da = store.read_features("st", "0.auto_model.encoder.layer.1")
    ref = np.stack([_alone(bert, tokenizer, t)[2][0].mean(0).numpy() for t in TEXTS])
    np.testing.assert_allclose(da.values, ref, rtol=1e-4, atol=1e-5)
    assert da.attrs["transform"].startswith("model.tokenizer: BertTokenizer")


def test_vit_tokens_get_token_and_channel_coords(tmp_path, vit):
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(vit, x, store, model_name="vit", layers=["layers.1", "layernorm"], progress=False)
    with torch.no_grad():
        out = vit(pixel_values=x, output_hidden_states=True)
    da = store.read_features("vit", "layers.1")
    assert da.attrs["output_shape"] == [5, 16]  # 4 patches + CLS, 16 channels
    assert da.shape == (5, 5 * 16)
    np.testing.assert_allclose(da.values, out.hidden_states[2].reshape(5, -1).numpy(), rtol=1e-5, atol=1e-6)
    cls = da.sel(unit=da.token == 0)
    np.testing.assert_allclose(cls.values, out.hidden_states[2][:, 0].numpy(), rtol=1e-5, atol=1e-6)
    mean = da.groupby("channel").mean("unit")
    np.testing.assert_allclose(mean.values, out.hidden_states[2].mean(1).numpy(), rtol=1e-5, atol=1e-6)
    # pooling works on image tokens too (no mask: every token)
    extract_features(vit, x, store, model_name="vitcls", layers=["layernorm"], pooling="cls", progress=False)
    np.testing.assert_allclose(store.read_features("vitcls", "layernorm").values,
                               out.last_hidden_state[:, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_vit_with_its_image_processor(tmp_path, vit):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    cls = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor
    proc = cls(size={"height": 16, "width": 16})
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(vit, folder, store, model_name="v", layers=["layernorm"], transform=proc, progress=False)
    da = store.read_features("v", "layernorm")
    images = [Image.open(folder / f"im{i}.png").convert("RGB") for i in range(4)]
    with torch.no_grad():
        ref = vit(**proc(images=images, return_tensors="pt")).last_hidden_state
    np.testing.assert_allclose(da.values, ref.reshape(4, -1).numpy(), rtol=1e-5, atol=1e-6)
    assert da.attrs["transform_source"] == "huggingface image processor"
    assert "image_mean" in da.attrs["transform"]


def test_image_files_without_a_transform_warn_that_a_hugging_face_model_gets_the_default(tmp_path, vit):
    """A Hugging Face model carries no image processor: image files get the default ImageNet
    transform, said once with the way to the checkpoint's own; a transform given, or tensors fed as
    they are, say nothing."""
    import warnings

    from PIL import Image

    from neuroxr.errors import NeuroxrWarning

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.warns(NeuroxrWarning, match=r"Hugging Face ViTModel without transform=.*default ImageNet transform.*"
                                            r"AutoImageProcessor\.from_pretrained") as rec:
        extract_features(vit, folder, store, model_name="v", layers=["layernorm"], image_size=16, progress=False)
    assert sum("Hugging Face" in str(w.message) for w in rec) == 1
    proc = transformers.ViTImageProcessor(size={"height": 16, "width": 16})
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Hugging Face", category=NeuroxrWarning)
        extract_features(vit, folder, store, model_name="p", layers=["layernorm"], transform=proc, progress=False)
        extract_features(vit, x, store, model_name="t", layers=["layernorm"], progress=False)


def test_strings_naming_files_with_a_tokenizer_say_what_they_are(tmp_path, bert, tokenizer):
    """With a tokenizer at hand, strings that all name existing files are refused unless texts= says
    which they are (a processor that reads images and texts tokenized image paths silently)."""
    from PIL import Image

    from neuroxr.extract import ExtractionError

    paths = []
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / f"im{i}.png")
        paths.append(str(tmp_path / f"im{i}.png"))
    with pytest.raises(ExtractionError, match=r"^stimuli are strings that name existing files \(e.g. '.*im0.png'\), and the "
                                              r"model has a tokenizer: pass texts=True .* or texts=False"):
        plan_extraction(bert, paths, transform=tokenizer, layers=["encoder.layer.1"])
    plan = plan_extraction(bert, paths, transform=tokenizer, layers=["encoder.layer.1"], texts=True)
    assert list(plan.stimulus_ids) == ["stimulus0", "stimulus1", "stimulus2"] and plan.layers[0].pooling == "mean"
    assert plan_extraction(bert, TEXTS, transform=tokenizer, layers=["encoder.layer.1"]).n_stimuli == len(TEXTS)


def test_cli_extract_texts_with_the_models_tokenizer(tmp_path, bert, tokenizer):
    click_testing = pytest.importorskip("click.testing")
    from neuroxr.cli.extract import extract_command

    model_file = tmp_path / "textnet.py"
    model_file.write_text(
        "import torch\nimport transformers\n\n"
        f"VOCAB = {VOCAB!r}\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    cfg = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2,\n"
        "                                  num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)\n"
        "    model = transformers.BertModel(cfg)\n"
        "    model.tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)})\n"
        "    return model\n"
    )
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    runner = click_testing.CliRunner()
    url = str(tmp_path / "cli.zarr")
    args = [url, "--model", f"{model_file}:build", "--texts", str(texts), "--model-name", "bert",
            "--layer", "encoder.layer.1", "--no-progress"]
    done = runner.invoke(extract_command, args)
    assert done.exit_code == 0, done.output
    da = StudyStore(url).read_features("bert", "encoder.layer.1")
    assert list(da.stimulus_id.values) == [f"text{i}" for i in range(len(TEXTS))]
    assert da.attrs["pooling"] == "mean" and da.shape == (len(TEXTS), 16)
    # the same model built here gives the same features through the Python API
    import importlib.util

    spec = importlib.util.spec_from_file_location("textnet_check", model_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.build().eval()
    ref = np.stack([_alone(model, model.tokenizer, t)[2][0].mean(0).numpy() for t in TEXTS])
    np.testing.assert_allclose(da.values, ref, rtol=1e-4, atol=1e-5)
    both = runner.invoke(extract_command, args + ["--images", str(tmp_path)])
    assert both.exit_code != 0 and "exactly one of --images" in both.output


def test_texts_longer_than_the_tokenizer_or_the_model_takes_are_refused_not_truncated(tmp_path, bert):
    """A tokenizer's model_max_length truncated longer texts silently (the features were a shorter
    text's); the model's position embeddings failed inside its forward. Both are refused up front,
    naming the texts, their token counts and the limit."""
    from neuroxr.errors import ExtractionError

    short = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, model_max_length=6)
    texts = ["the cat sat on the mat", "a dog", "the dog"]  # 8, 4 and 4 tokens with [CLS] and [SEP]
    with pytest.raises(ExtractionError, match=r"1 texts have more tokens than the tokenizer's model_max_length \(6\), "
                                              r"e\.g\. stimuli \['t0 \(8 tokens\)'\]; they are not truncated") as err:
        extract_features(bert, texts, StudyStore(tmp_path / "a.zarr"), model_name="b", transform=short,
                         stimulus_ids=["t0", "t1", "t2"], progress=False)
    assert "\n" not in str(err.value)
    wide = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)})  # no model_max_length
    with pytest.raises(ExtractionError, match=r"the model's config\.max_position_embeddings \(32\)"):
        extract_features(bert, [" ".join(["cat"] * 40), "dog"], StudyStore(tmp_path / "b.zarr"), model_name="b",
                         transform=wide, progress=False)
    store = StudyStore(tmp_path / "c.zarr")  # within both limits: extracted
    extract_features(bert, texts[1:], store, model_name="b", transform=short, layers=["pooler"], progress=False)
    assert store.read_features("b", "pooler").sizes["stimulus"] == 2


class _Tensors(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def test_a_processor_given_for_an_array_or_a_dataset_of_tensors_is_refused_not_recorded(tmp_path, vit, tokenizer):
    """An image processor (or tokenizer) passed as transform= was not applied to an array or a Dataset of
    tensors, which were fed as they were, while the layer recorded it as the transform used."""
    from neuroxr.extract import ExtractionError

    proc = transformers.ViTImageProcessor(size={"height": 16, "width": 16})
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 255
    path = tmp_path / "s.zarr"
    for stimuli, what in ((x, "an array of stimuli"), (x.numpy(), "an array of stimuli"),
                          (_Tensors(x), r"the items of a Dataset of tensors \(_Tensors\)")):
        for tf, source in ((proc, "huggingface image processor"), (tokenizer, "huggingface tokenizer")):
            with pytest.raises(ExtractionError, match=rf"^transform: the {source} given is not applied to {what}, which "
                                                      rf"are fed to the model as they are; ") as err:
                extract_features(vit, stimuli, path, model_name="v", layers=["layernorm"], transform=tf, progress=False)
            assert "\n" not in str(err.value)
    assert not path.exists()
    with pytest.raises(ExtractionError, match=r"pixel_values"):
        plan_extraction(vit, x, transform=proc, layers=["layernorm"])
    # the processor's own output as the array: fed as is, no transform recorded
    pv = proc(images=list(x.to(torch.uint8).numpy()), return_tensors="pt", input_data_format="channels_first")["pixel_values"]
    extract_features(vit, pv, path, model_name="v", layers=["layernorm"], progress=False)
    da = StudyStore(path).read_features("v", "layernorm")
    assert "transform" not in da.attrs and da.attrs["transform_source"] == "none (array fed as is)"
    with torch.no_grad():
        np.testing.assert_allclose(da.values, vit(pixel_values=pv).last_hidden_state.reshape(3, -1).numpy(), rtol=1e-5,
                                   atol=1e-6)
