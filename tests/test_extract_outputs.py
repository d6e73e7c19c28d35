"""Tests of neuroxr.extract on unusual module outputs and options: half-precision and mismatched token
pooling, complex outputs, made-up layer names, SRP options, filters and plain containers of stimuli.

Tiny models; the tokenizer is built from a vocabulary written here; nothing is downloaded.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pd = pytest.importorskip("pandas")
from torch import nn  # noqa: E402

from neuroxr.errors import NeuroxrWarning  # noqa: E402
from neuroxr.extract import ExtractionError, extract_features  # noqa: E402
from neuroxr.extract._common import layer_name  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
TEXTS = ["the cat sat on the mat " * 4, "a dog ran far", "the dog", "a cat sat on a mat"]


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)})


class TextNet(nn.Module):
    """Token embeddings through an identity layer; channel 0 is 3000 on every token (a "massive
    activation"); ``prefix`` prepends one learned token (the layer then has one token more than the mask)."""

    def __init__(self, prefix: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(len(VOCAB), 8)
        self.lin = nn.Linear(8, 8)
        self.prefix = nn.Parameter(torch.ones(1, 1, 8)) if prefix else None
        with torch.no_grad():
            self.emb.weight.uniform_(-1, 1)
            self.emb.weight[:, 0] = 3000.0
            self.lin.weight.copy_(torch.eye(8))
            self.lin.bias.zero_()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        x = self.emb(input_ids)
        if self.prefix is not None:
            x = torch.cat([self.prefix.expand(x.shape[0], 1, 8).to(x.dtype), x], dim=1)
        return self.lin(x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_masked_mean_of_half_precision_tokens_is_summed_in_float32(tmp_path, tokenizer, dtype):
    """Summed in float16, 26 tokens of 3000 overflowed (the layer was refused as non-finite); bfloat16
    kept 8 bits of the sum. Now every text's channel 0 is 3000 and the rest the float32 mean rounded."""
    net = TextNet().to(dtype).eval()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, TEXTS, store, model_name="m", layers=["lin"], transform=tokenizer, progress=False)
    got = store.read_features("m", "lin")
    assert got.attrs["pooling"] == "mean" and got.attrs["pooling_revision"] == 2
    for i, text in enumerate(TEXTS):  # the reference: the text alone (no padding), averaged in float64
        with torch.no_grad():
            ref = net(**tokenizer([text], return_tensors="pt"))[0].double().mean(0).numpy()
        np.testing.assert_allclose(got.values[i], ref, rtol=1e-2 if dtype == torch.bfloat16 else 1e-3, atol=1e-2)
    assert (got.values[:, 0] == float(torch.tensor(3000.0, dtype=dtype))).all()  # every token holds it


def test_a_stored_half_precision_mean_pooled_layer_of_revision_1_is_not_reused(tmp_path, tokenizer):
    """A float16 text layer mean-pooled by revision 1 (summed in float16) holds other values: refused on a
    re-run, never skipped; a float32 model's layer of revision 1 is the same under both and is reused."""
    import zarr
    from conftest import as_older_writer

    texts = TEXTS[1:]  # short: finite under both revisions
    kw = dict(layers=["lin"], transform=tokenizer, progress=False)
    store = StudyStore(tmp_path / "s.zarr")
    for name, dtype in (("half", torch.float16), ("full", torch.float32)):
        net = TextNet().to(dtype).eval()
        extract_features(net, texts, store, model_name=name, **kw)
        group = zarr.open_group(store._zstore, path=f"features/{name}/lin", mode="r+")
        attrs = dict(group.attrs)
        del attrs["pooling_revision"]  # as neuroxr before pooling revision 2 wrote it
        group.attrs.put(attrs)
        as_older_writer(group)  # which recorded no digests
        if dtype == torch.float16:
            with pytest.raises(ExtractionError, match=r"is complete but its mean pooling is of revision 1, this neuroxr's "
                                                      r"is 2 \(the tokens of half-precision outputs are summed in float32"):
                extract_features(net, texts, store, model_name=name, **kw)
        else:
            assert extract_features(net, texts, store, model_name=name, **kw).skipped == ["lin"]


def test_mean_pooling_of_a_layer_with_more_tokens_than_the_mask_is_refused(tmp_path, tokenizer):
    """A prepended token: the mask no longer fits the layer's tokens, and the padding was pooled as text
    (the same text got other features beside a longer one); now a one-line error naming the layer."""
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"layer 'lin' \(module 'lin'\): its outputs have \d+ tokens per stimulus, "
                                              r"the texts' attention mask \d+, so its 'mean' pooling cannot tell"):
        extract_features(TextNet(prefix=True).eval(), TEXTS, store, model_name="m", layers=["lin"], transform=tokenizer,
                         progress=False)
    assert store.layers("m") == []
    extract_features(TextNet(prefix=True).eval(), TEXTS, store, model_name="m", layers=["lin"], transform=tokenizer,
                     pooling="cls", progress=False)  # the first token is no padding
    assert store.layers("m") == ["lin"]


class Blocks(nn.Module):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({key: nn.Linear(4, 3)})
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(next(iter(self.blocks.values()))(x))


@pytest.mark.parametrize(("key", "name", "stored"), [("conv(3x3)", "blocks.conv_3x3", None), ("layer[0]", "blocks.layer_0", None),
                                                     ("conv_", "blocks.conv", None), ("α", "blocks", "blocks-1"),
                                                     ("stage-1", "blocks.stage-1", None)])
def test_a_made_up_layer_name_is_one_the_store_takes(tmp_path, key, name, stored):
    """Module names the store cannot take are renamed; the new name ended in '_' (refused by the store,
    which stopped every extraction of the model). A renamed module never takes another module's own name
    ('blocks.α' -> 'blocks' is the ModuleDict's: stored as 'blocks-1')."""
    assert layer_name(f"blocks.{key}") == name
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(Blocks(key), x, store, model_name="m", progress=False)
    assert sorted(store.layers("m")) == sorted([stored or name, "head"])


class FFT(nn.Module):
    def forward(self, x):
        return torch.fft.fft(x)


@pytest.mark.parametrize("reduction", [None, {"method": "srp", "n_components": 2}], ids=["raw", "srp"])
def test_values_that_overflow_the_stored_dtype_are_named_as_such(tmp_path, reduction):
    """Finite outputs beyond float16's range became inf when stored: the error blamed "the stimuli and
    the model" (non-finite values), after NumPy's overflow warning."""
    torch.manual_seed(0)
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.fill_(1e5)
        lin.bias.zero_()
    x = np.ones((5, 4), np.float32)
    kw = dict(model_name="big", layers=["0"], reduction=reduction, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow warning of NumPy's
        with pytest.raises(ExtractionError, match=r"^layer '0': its values \(up to [\d.e+]+\) overflow the stored dtype "
                                                  r"float16 \(largest 65504\); store it in a wider dtype \(dtype=, --dtype "
                                                  r"on the command line\), e\.g\. float32\.$"):
            extract_features(nn.Sequential(lin), x, tmp_path / "a.zarr", dtype="float16", **kw)
    stored = extract_features(nn.Sequential(lin), x, tmp_path / "b.zarr", dtype="float32", **kw)  # the advice works
    assert stored.written == ["0"]


def test_integer_outputs_the_stored_dtype_cannot_hold_exactly_are_refused_not_rounded(tmp_path):
    """An integer output (ids, hashes, counts) is stored as float32 by default, which holds integers up to 2**24
    exactly: larger ones were rounded without a word (2**25 + 1 stored as 2**25). They are refused naming the layer
    and the dtype that holds them (float64); those that fit are stored as they are."""

    class Ids(nn.Module):
        def __init__(self, offset: int) -> None:
            super().__init__()
            self.offset = offset

        def forward(self, x):
            return x.argmax(1, keepdim=True) + self.offset

    x = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 1]]
    kw = dict(model_name="ids", layers=[""], progress=False)
    with pytest.raises(ExtractionError, match=r"^layer 'output': its integer values \(up to 33554435\) are not all exact "
                                              r"in the stored dtype float32 \(it holds integers up to 16777216 exactly\); "
                                              r"store it as float64 \(dtype=, --dtype on the command line\)\.$"):
        extract_features(Ids(2**25), x, tmp_path / "a.zarr", **kw)
    extract_features(Ids(2**25), x, tmp_path / "b.zarr", dtype="float64", **kw)  # the advice works
    np.testing.assert_array_equal(StudyStore(tmp_path / "b.zarr").read_features("ids", "output").values[:, 0],
                                  2**25 + x.argmax(1))
    extract_features(Ids(2**24 - 4), x, tmp_path / "c.zarr", **kw)  # exact in float32: stored
    np.testing.assert_array_equal(StudyStore(tmp_path / "c.zarr").read_features("ids", "output").values[:, 0],
                                  2**24 - 4 + x.argmax(1))


def test_a_complex_output_is_refused_or_left_out_never_stored_as_its_real_part(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"its output is complex \(complex64\), and features are real"):
        extract_features(FFT(), x, store, model_name="m", layers=[""], progress=False)
    net = nn.Sequential(nn.Linear(4, 4), FFT())
    with pytest.warns(NeuroxrWarning, match=r"left out 1 module\(s\) that cannot be stored as one layer: '1': its output is complex"):
        extract_features(net, x, store, model_name="n", progress=False)
    assert store.layers("n") == ["0"]


def test_srp_refuses_fit_stimuli_and_records_no_fit_stimuli(tmp_path):
    """fit_stimuli never changed a sparse random projection (it is drawn, not fitted), yet was accepted and
    recorded with fit stimulus ids it was never fitted on."""
    torch.manual_seed(0)
    net = nn.Linear(40, 30)
    x = np.random.default_rng(0).normal(size=(12, 40)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"reduction fit_stimuli applies to method 'pca' only"):
        extract_features(net, x, store, model_name="m", progress=False,
                         reduction={"method": "srp", "n_components": 5, "fit_stimuli": 3})
    extract_features(net, x, store, model_name="m", progress=False, reduction={"method": "srp", "n_components": 5})
    red = store.read_features("m", "output").attrs["reduction"]
    assert red["fit_stimuli"] is None and "fit_stimulus_ids" not in red


def test_a_stored_srp_layer_recording_fit_stimuli_is_still_reused(tmp_path):
    """Earlier versions recorded fit_stimuli (and its ids) for SRP, which never changed its values: such a
    layer is not refused for it."""
    import zarr
    from conftest import as_older_writer

    torch.manual_seed(0)
    net = nn.Linear(40, 30)
    x = np.random.default_rng(0).normal(size=(12, 40)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="m", progress=False, reduction={"method": "srp", "n_components": 5})
    extract_features(net, x, store, **kw)
    group = zarr.open_group(store._zstore, path="features/m/output", mode="r+")
    group.attrs["reduction"] = dict(group.attrs["reduction"], fit_stimuli=3, fit_stimulus_ids=["stimulus0"])
    as_older_writer(group)
    assert extract_features(net, x, store, **kw).skipped == ["output"]


def test_pandas_columns_and_string_arrays_of_paths_and_a_bare_int_layer(tmp_path):
    from PIL import Image

    paths = []
    for i in range(4):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(p)
        paths.append(str(p))
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3), nn.ReLU())
    store = StudyStore(tmp_path / "s.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, stimuli in enumerate([pd.Series(paths), np.array(paths)]):
            extract_features(net, stimuli, store, model_name=f"m{i}", layers=1, image_size=8, progress=False)
    a, b = store.read_features("m0", "1"), store.read_features("m1", "1")
    assert a.shape == (4, 3) and (a.values == b.values).all()
    with pytest.raises(ExtractionError, match=r"^layers must be module names .*got 1\.5\.$"):
        extract_features(net, paths, store, model_name="m2", layers=1.5, image_size=8, progress=False)
