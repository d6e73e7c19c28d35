"""Tests of neuroxr.extract: re-runs that differ from the stored layer are refused, and bad input is a one-line error."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import as_older_writer  # noqa: E402
from torch import nn  # noqa: E402

from neuroxr.errors import NeuroxrWarning  # noqa: E402
from neuroxr.extract import ExtractionError, extract_features, plan_extraction  # noqa: E402
from neuroxr.store import StoreError, StudyStore  # noqa: E402
from neuroxr.store.integrity import SET_ATTRS_PROBLEM  # noqa: E402


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))


def images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 8, 8)).astype(np.float32)


class TwoLinear(nn.Module):
    """Modules '_fc' and 'fc': 'fc' is stored as layer 'fc', '_fc' (whose store-safe form 'fc' is taken) as 'fc-1'."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self._fc = nn.Linear(12, 5)
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(torch.tanh(self._fc(x)))


def test_a_stored_layer_of_another_module_under_the_same_name_is_refused(tmp_path, monkeypatch):
    """Layer names depend on the model only ('_fc' is 'fc-1' whatever is selected); a layer stored
    under a name that now maps to another module (written with other names) is refused, never reused."""
    import neuroxr.extract.plan as plan_module

    model = TwoLinear().eval()
    x = np.random.default_rng(0).normal(size=(6, 12)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    first = extract_features(model, x, store, model_name="net", progress=False)
    assert {lp.module_name: lp.name for lp in first.plan.layers} == {"_fc": "fc-1", "fc": "fc"}
    assert extract_features(model, x, store, model_name="net", layers=["fc"], progress=False).skipped == ["fc"]
    assert extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False).skipped == ["fc-1"]
    with monkeypatch.context() as m:  # names as another neuroxr gave them: layer 'fc' is module '_fc' there
        m.setattr(plan_module, "model_layer_names", lambda model: {"": "output", "_fc": "fc", "fc": "fc-1"})
        with pytest.raises(ExtractionError, match=r"holds the output of module 'fc'.*module '_fc'.*overwrite=True"):
            extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False)
        extract_features(model, x, store, model_name="net", overwrite=True, progress=False)
    with pytest.raises(ExtractionError, match=r"holds the output of module '_fc'.*module 'fc'.*overwrite=True"):
        extract_features(model, x, store, model_name="net", layers=["fc"], progress=False)
    # 'fc' alone again would leave 'fc-1' (holding module 'fc') naming the module 'fc' twice: the whole model is
    with pytest.raises(ExtractionError, match=r"layer 'features/net/fc-1' holds module 'fc'.*\(every layer\) with overwrite=True.*, or delete"):
        extract_features(model, x, store, model_name="net", layers=["fc"], overwrite=True, progress=False)
    redone = extract_features(model, x, store, model_name="net", overwrite=True, progress=False)
    with torch.no_grad():
        out = model(torch.tensor(x)).numpy()
    assert sorted(redone.written) == ["fc", "fc-1"] and np.allclose(store.read_features("net", "fc").values, out, atol=1e-6)
    assert store.read_features("net", "fc-1").attrs["module_name"] == "_fc"


def test_a_layer_whose_attrs_were_edited_is_refused_not_skipped(tmp_path):
    """An extracted layer records the digest of its attrs: one edited after the write (here its PCA
    revision, which would hide a reason to refuse it) is refused on a re-run and by every read, until
    it is extracted again; a layer of a neuroxr that recorded no digest is compared as before."""
    import zarr

    model, x = small_cnn(), images()
    red = {"method": "pca", "n_components": 3}
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="m", layers=["3"], reduction=red, progress=False)
    extract_features(model, x, store, **kw)
    group = zarr.open_group(store._zstore, path="features/m/3", mode="r+")
    group.attrs["reduction"] = dict(group.attrs["reduction"], revision=99)
    with pytest.raises(ExtractionError, match=r"'features/m/3' is complete but damaged \(" + re.escape(SET_ATTRS_PROBLEM)
                       + r"\), so it cannot be checked against this extraction\. Pass overwrite=True"):
        extract_features(model, x, store, **kw)
    with pytest.raises(StoreError, match=r"feature set 'm.3' .* is damaged \(its attrs were edited.*re-extract the layer"):
        StudyStore(store.url, mode="r").read_features("m", "3")
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["3"]
    assert extract_features(model, x, store, **kw).skipped == ["3"]
    group = zarr.open_group(store._zstore, path="features/m/3", mode="r+")
    group.attrs["reduction"] = dict(group.attrs["reduction"], note="older")  # a key no comparison reads
    as_older_writer(group)
    assert extract_features(model, x, store, **kw).skipped == ["3"]


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
                                 np.array(["a", "b", "c", "d", "e", None], dtype=object),
                                 ["a", np.nan, "c", "d", "e", "f"]])  # numpy reads a NaN among strings as 'nan'
def test_missing_stimulus_ids_are_refused_not_stored_as_nan(tmp_path, ids):
    with pytest.raises(ExtractionError, match=r"stimulus_ids has 1 missing ids \(None/NaN\), at positions \[\d\]"):
        extract_features(small_cnn(), images(), tmp_path / "s.zarr", model_name="m", layers=["3"], stimulus_ids=ids,
                         progress=False)


@pytest.mark.parametrize("ids, match", [(["a", "b"], r"has shape \(2,\); pass one id per stimulus \(3\)"),
                                        (["a", "b", "c", "d"], r"has shape \(4,\); pass one id per stimulus \(3\)"),
                                        (["a", None, "c"], r"has 1 missing ids \(None/NaN\), at positions \[1\]"),
                                        (["a", np.nan, "c"], r"has 1 missing ids \(None/NaN\), at positions \[1\]")])
def test_a_datasets_stimulus_ids_are_checked_as_given_ids_are(tmp_path, ids, match):
    """A Dataset's ``stimulus_ids`` attribute of another length failed with a raw IndexError or broadcast
    error in the pass, and a missing id in it was stored as the string 'None' or 'nan'."""
    X = torch.randn(3, 4)

    class Items(torch.utils.data.Dataset):
        stimulus_ids = ids

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return X[i]

    with pytest.raises(ExtractionError, match=r"^stimuli\.stimulus_ids \(Items\) " + match):
        extract_features(nn.Linear(4, 2), Items(), tmp_path / "s.zarr", model_name="m", progress=False, batch_size=2)
    assert not (tmp_path / "s.zarr").exists()


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



def test_cli_texts_with_a_byte_order_mark_are_the_same_texts(tmp_path):
    """A UTF-8 byte-order mark (Windows editors) was read into the first text, which the tokenizer then
    encoded: that stimulus's features silently changed; the mark is not part of the text."""
    from neuroxr.cli.extract import _read_lines

    (tmp_path / "plain.txt").write_text("the cat\na dog\n", encoding="utf-8")
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.txt").read_bytes())
    read = [_read_lines(str(tmp_path / name), "--texts", "text") for name in ("bom.txt", "plain.txt")]
    assert read[0] == read[1] == ["the cat", "a dog"]

def test_cli_texts_need_a_tokenizer_and_take_no_image_size(tmp_path):
    """--texts always means texts: lines naming image files, with a model without a tokenizer, were
    extracted as images under text ids (exit 0), and --image-size was accepted."""
    from click.testing import CliRunner
    from PIL import Image

    from neuroxr.cli import main

    lines = []
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / f"im{i}.png")
        lines.append(str(tmp_path / f"im{i}.png"))
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())\n")
    (tmp_path / "texts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["extract", str(tmp_path / "t.zarr"), "--model", f"{tmp_path / 'm.py'}:build", "--model-name", "m",
            "--texts", str(tmp_path / "texts.txt"), "--no-progress"]
    res = CliRunner().invoke(main, [*base, "--image-size", "8"])
    assert res.exit_code == 2 and "--image-size sizes images and has no effect with --texts; drop it." in res.output, res.output
    res = CliRunner().invoke(main, base)
    out = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(out) == 1, res.output
    assert out[0].startswith("Error: Invalid value for '--texts': texts need a tokenizer or processor to become model input, "
                             "and the model carries none: the --model factory must return a model that carries one")
    assert not (tmp_path / "t.zarr").exists()


def test_a_dry_run_or_a_refused_extraction_creates_no_store(tmp_path):
    """A dry run writes nothing, and a call refused by its checks leaves no empty store behind (both
    created the store before any check)."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    net, path = small_cnn(), tmp_path / "new.zarr"
    assert extract_features(net, images(), path, model_name="m", dry_run=True, progress=False).layers
    assert plan_extraction(net, images(), path, model_name="m").layers and not path.exists()
    with pytest.raises(ExtractionError, match="the model has no module '99'"):
        extract_features(net, images(), path, model_name="m", layers=["99"], progress=False)
    with pytest.raises(StoreError, match="invalid model name .bad/name."):
        extract_features(net, images(), path, model_name="bad/name", progress=False)
    assert not path.exists()
    (tmp_path / "empty").mkdir()  # an empty folder stays one
    extract_features(net, images(), tmp_path / "empty", model_name="m", dry_run=True, progress=False)
    assert os.listdir(tmp_path / "empty") == []
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())\n")
    Path(tmp_path / "imgs").mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / f"im{i}.png")
    base = ["extract", str(path), "--model", f"{tmp_path / 'm.py'}:build", "--images", str(tmp_path / "imgs"), "--no-progress"]
    for extra in (["--model-name", "m", "--dry-run"], ["--model-name", "m", "--layer", "99"], ["--model-name", "bad/name"]):
        res = CliRunner().invoke(main, [*base, *extra])
        assert res.exit_code == (0 if "--dry-run" in extra else 2), res.output  # a usage error naming the option
        assert not path.exists(), extra
    # a run that writes creates the store; one whose first pass fails leaves it valid and empty; a re-run writes
    class FirstPassFails(nn.Sequential):
        def forward(self, x):
            if len(x) > 3:  # past the probe's batches of 2 and 3
                raise RuntimeError("out of memory")
            return super().forward(x)

    with pytest.raises(ExtractionError, match="RuntimeError: out of memory"):
        extract_features(FirstPassFails(*net), images(), path, model_name="m", layers=["3"], progress=False)
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 0 and "valid study store (0 entries)" in res.output, res.output
    assert StudyStore(path, mode="r").models() == [] and StudyStore(path, mode="r").incomplete_entries() == []
    extract_features(net, images(), path, model_name="m", layers=["3"], progress=False)
    assert StudyStore(path, mode="r").models() == ["m"]
    assert [lp.status for lp in plan_extraction(net, images(), path, model_name="m", layers=["3"]).layers] == ["complete"]


def test_cli_texts_ids_follow_the_line_numbers(tmp_path):
    from neuroxr.cli.extract import _read_lines

    (tmp_path / "texts.txt").write_text("the cat\na dog\nthe mat", encoding="utf-8")
    assert _read_lines(str(tmp_path / "texts.txt"), "--texts", "text") == ["the cat", "a dog", "the mat"]
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(Exception, match="holds no texts"):
        _read_lines(str(tmp_path / "empty.txt"), "--texts", "text")


# ---------------------------------------------------------------------------- one row per stimulus
class StackedPair(nn.Module):
    """Returns ``torch.stack([k(x), v(x)])``: shape ``(2, batch, 3)``, whose first dim is not the batch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.k, self.v = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return torch.stack([self.k(x), self.v(x)])


class PairNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kv, self.head = StackedPair(), nn.Linear(3, 2)

    def forward(self, x):
        k, v = self.kv(x)
        return self.head(k + v)


@pytest.mark.parametrize("batch_size", [2, 3])
def test_a_leading_dim_equal_to_the_probe_batch_is_not_taken_for_the_stimulus_axis(tmp_path, batch_size):
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"cannot extract module 'kv': its output has no stimulus axis .*first dim "
                                              r"is not the batch \(\(2, 2, 3\) for 2 stimuli, \(2, 3, 3\) for 3 stimuli\)"):
        extract_features(PairNet(), x, store, model_name="m", layers=["kv"], batch_size=batch_size, progress=False)
    assert store.layers("m") == []
    with pytest.warns(NeuroxrWarning, match=r"left out 1 module\(s\) that cannot be stored as one layer: 'kv': its output "
                                            r"has no stimulus axis"):  # a filter leaves it out, saying why (it was silent)
        plan = extract_features(PairNet(), x, store, model_name="m", layers=lambda name, m: name in ("kv", "head"),
                                batch_size=batch_size, progress=False).plan
    assert "no stimulus axis" in plan.skipped["kv"] and [lp.module_name for lp in plan.layers] == ["head"]


class OnlyPairs(nn.Module):
    """A model that runs batches of exactly 2 stimuli (a static batch dim), as traced models may."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        if x.shape[0] != 2:
            raise RuntimeError(f"expected a batch of 2, got {x.shape[0]}")
        return self.lin(x)


@pytest.mark.parametrize("net, n, batch_size", [
    (OnlyPairs, 6, 2),  # cannot run the probe's second pass of 3 stimuli
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, track_running_stats=False)), 2, 2),  # nor 1 stimulus
])
def test_a_model_that_cannot_run_the_second_probe_batch_still_extracts(tmp_path, net, n, batch_size):
    """The probe's second pass only disambiguates a leading dim from the batch: a model that refuses its
    batch size keeps the first pass's reading (the run's batches are checked all the same)."""
    torch.manual_seed(0)
    model = net()
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, x, store, model_name="m", batch_size=batch_size, progress=False)
    name = "lin" if isinstance(model, OnlyPairs) else "1"
    got = store.read_features("m", name).values
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x[:2])) if isinstance(model, OnlyPairs) else model(torch.from_numpy(x))
    np.testing.assert_allclose(got[:2], out.numpy(), rtol=1e-6, atol=1e-6)


class FirstThree(nn.Module):
    def forward(self, x):
        return x[:3] * 1.0  # one row per stimulus for batches of up to 3 (the probe's), not beyond


def test_an_output_with_fewer_rows_than_the_batch_is_an_error_not_zeros(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3), FirstThree(), nn.Linear(3, 2))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"layer '1': the output of module '1' has shape \(3, 3\), whose first dim is "
                                              r"not the batch of 4 stimuli.*select a layer whose output is per stimulus"):
        extract_features(net, x, store, model_name="m", layers=["1"], batch_size=4, progress=False)
    assert store.layers("m") == [] and not store.is_complete("features/m/1")


@pytest.mark.parametrize("batch_size", [32, 2], ids=["direct", "staged"])
def test_the_writer_refuses_to_mark_a_layer_complete_with_rows_never_written(tmp_path, batch_size):
    from neuroxr.extract.write import LayerWriter

    model, x = small_cnn(), images(6)
    store = StudyStore(tmp_path / "s.zarr")
    plan = extract_features(model, x, store, model_name="m", layers=["3"], batch_size=batch_size, dry_run=True)
    lp = plan.layers[0]
    writer = LayerWriter(store, "m", lp, plan, None, {}, str(tmp_path))
    with torch.no_grad():
        out = model(torch.from_numpy(x))
    writer.write(0, out[:4], plan.stimulus_ids[:4])  # stimuli 4 and 5 never come
    with pytest.raises(ExtractionError, match=r"layer '3': 2 of 6 stimuli were not written, e\.g\. \['stimulus4', "
                                              r"'stimulus5'\], so the layer is not marked complete"):
        writer.finish()
    writer.discard()
    assert not store.is_complete("features/m/3")


# ---------------------------------------------------------------------------- the default transform's revision
def test_a_layer_made_by_the_default_transforms_earlier_revision_is_refused(tmp_path):
    """Revision 1 rounded the resized long side (335x200 -> 429 wide, torchvision 428): the first two
    images (square) come out the same under both, the third does not, so only the revision in the
    preprocessing digest tells the stored layer apart."""
    import zarr
    from PIL import Image

    from neuroxr.extract.identity import BatchDigest
    from neuroxr.extract.preprocess import resolve_preprocessing
    from neuroxr.extract.stimuli import as_stimuli

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (w, h) in (("a", (64, 64)), ("b", (50, 50)), ("c", (335, 200))):
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    model = nn.Sequential(nn.Conv2d(3, 2, 3, stride=8), nn.Flatten(), nn.Linear(2 * 28 * 28, 3))
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, folder, store, model_name="m", layers=["2"], progress=False)
    # what revision 1 recorded: the digest of the first two images' model input alone, no revision
    stim = as_stimuli(folder, None, resolve_preprocessing(model))
    untagged = BatchDigest()
    untagged.update(stim.load(np.arange(2)))
    group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / "2"), mode="r+")
    group.attrs["extraction_identity"] = dict(group.attrs["extraction_identity"], preprocessing=untagged.hexdigest())
    as_older_writer(group)  # which recorded no digests
    with pytest.raises(ExtractionError, match=r"'features/m/2' is complete but the preprocessing differs .*another "
                                              r"revision of the default transform.*overwrite=True"):
        extract_features(model, folder, store, model_name="m", layers=["2"], progress=False)
    redone = extract_features(model, folder, store, model_name="m", layers=["2"], overwrite=True, progress=False)
    assert redone.written == ["2"]
    assert extract_features(model, folder, store, model_name="m", layers=["2"], progress=False).skipped == ["2"]
    # another transform's digest is what it was, the input alone (its stored layers still match): a
    # callable that makes the very same input records the untagged digest
    from neuroxr.extract import default_image_transform

    tf = default_image_transform()
    explicit = StudyStore(tmp_path / "e.zarr")
    extract_features(model, folder, explicit, model_name="m", layers=["2"], progress=False, transform=lambda img: tf(img))
    assert explicit.read_features("m", "2").attrs["extraction_identity"]["preprocessing"] == untagged.hexdigest()


def test_storage_options_name_a_remote_store_only(tmp_path):
    """``storage_options`` opens a store given by its URL; for a local path, a StudyStore (which carries its
    own) or no store they are refused in one line, never dropped, and nothing is created."""
    net, path = small_cnn(), tmp_path / "new.zarr"
    with pytest.raises(ExtractionError, match="storage_options: fsspec options apply to remote stores"):
        extract_features(net, images(), path, model_name="m", dry_run=True, storage_options={"anon": True})
    with pytest.raises(ExtractionError, match="the StudyStore passed as store carries its own"):
        plan_extraction(net, images(), StudyStore(tmp_path / "s.zarr"), model_name="m", storage_options={"anon": True})
    with pytest.raises(ExtractionError, match="storage_options: they open the store, and no store is given"):
        plan_extraction(net, images(), model_name="m", storage_options={"anon": True})
    assert not path.exists()
    assert plan_extraction(net, images(), path, model_name="m", storage_options={}).layers  # empty: none given


@pytest.mark.parametrize("folder", [True, False])
def test_ids_given_in_another_order_than_the_image_files_are_refused(tmp_path, folder):
    """Ids pair with the files by position (a folder's sorted by name: img1, img10, img2); ids listed in
    another order (img1, img2, img10) were attached to other images' features without a word."""
    from PIL import Image

    for i in (1, 2, 10):
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(tmp_path / f"img{i}.png")
    files = sorted(tmp_path.glob("img*.png")) if folder else [tmp_path / f"img{i}.png" for i in (2, 10, 1)]
    stimuli = tmp_path if folder else [str(f) for f in files]
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    kw = dict(image_size=8, layers=["1"])
    shuffled = ["img1", "img2", "img10"] if folder else ["img1", "img2", "img10"][::-1]
    with pytest.raises(ExtractionError, match=r"^stimulus_ids: \d ids name another image file than the one at their "
                                              r"position, e\.g\. 'img\d+' is given for 'img\d+\.png'"):
        plan_extraction(net, stimuli, stimulus_ids=shuffled, **kw)
    stems = [f.stem for f in files]
    assert plan_extraction(net, stimuli, stimulus_ids=stems, **kw).stimulus_ids.tolist() == stems
    assert plan_extraction(net, stimuli, stimulus_ids=["a", "b", "c"], **kw).stimulus_ids.tolist() == ["a", "b", "c"]


@pytest.mark.parametrize("how", ["name", "path"])
def test_ids_naming_the_files_with_their_extension_or_path_pair_by_file(tmp_path, how):
    """Ids that name the files by their name with the extension ('img2.png') or their path, listed in
    another order than the folder's (img1, img2, img10 where the folder sorts img1, img10, img2), are
    refused as ids naming the stems are: they were stored on other images' features without a word."""
    from PIL import Image

    for i in (1, 2, 10):
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(tmp_path / f"img{i}.png")
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    kw = dict(image_size=8, layers=["1"])
    name = (lambda i: f"img{i}.png") if how == "name" else (lambda i: str(tmp_path / f"img{i}.png"))
    with pytest.raises(ExtractionError, match=r"^stimulus_ids: 2 ids name another image file than the one at their "
                                              r"position, e\.g\. '.*img2\.png' is given for 'img10\.png'"):
        plan_extraction(net, tmp_path, stimulus_ids=[name(i) for i in (1, 2, 10)], **kw)
    ordered = [name(i) for i in (1, 10, 2)]  # the folder's order: each id names its own file
    assert plan_extraction(net, tmp_path, stimulus_ids=ordered, **kw).stimulus_ids.tolist() == ordered


def _stimuli_of(kind: str, x: np.ndarray, tmp_path: Path) -> object:
    """``x`` as stimuli of ``kind``: an array, a tensor, a Dataset or a list of image files (one per row)."""
    if kind == "array":
        return x
    if kind == "tensor":
        return torch.tensor(x)
    if kind == "dataset":  # its items as loaded are hashed (no source)
        return torch.utils.data.TensorDataset(torch.tensor(x))
    from PIL import Image

    tmp_path.mkdir(exist_ok=True)
    files = []
    for i, row in enumerate(x):
        files.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(row).save(files[-1])
    return files


@pytest.mark.parametrize("kind", ["array", "tensor", "dataset", "files"])
def test_a_rerun_with_the_stimuli_in_another_order_pairs_them_by_id(tmp_path, kind):
    """The same stimuli given in another order were refused ("its stimulus ids differ"): they are put in
    the stored layers' order by id, so a complete layer is skipped and a new one is stored as a run in
    that order stores it (same numbers, same rows), never by position."""
    rng = np.random.default_rng(1)
    if kind == "files":
        x = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
        net, kw = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4), nn.Tanh()), dict(image_size=8, layers=["1"])
        new = "2"
    else:
        x = images(6)
        net, kw, new = small_cnn(), dict(layers=["0"]), "3"
    ids = np.array([f"s{i}" for i in range(6)])
    perm = np.array([3, 0, 5, 1, 4, 2])
    kw = dict(kw, model_name="m", batch_size=4, progress=False)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, _stimuli_of(kind, x, tmp_path / "a"), store, stimulus_ids=ids, **kw)
    again = extract_features(net, _stimuli_of(kind, x[perm], tmp_path / "b"), store, stimulus_ids=ids[perm],
                             **dict(kw, layers=kw["layers"] + [new]))
    assert again.skipped == kw["layers"] and again.written == [new]
    assert again.plan.stimulus_ids.tolist() == ids.tolist()
    same = StudyStore(tmp_path / "same.zarr")  # the same request in the stored order
    extract_features(net, _stimuli_of(kind, x, tmp_path / "a"), same, stimulus_ids=ids, **dict(kw, layers=[new]))
    got, ref = store.read_features("m", new), same.read_features("m", new)
    assert got["stimulus_id"].values.tolist() == ids.tolist()
    np.testing.assert_array_equal(got.values, ref.values)
    if kind != "files":  # by id: the model's own output of the shuffled rows, put back by their ids
        with torch.no_grad():
            out = net(torch.tensor(x[perm])).numpy()
        np.testing.assert_allclose(got.values[perm], out, atol=1e-6)


def test_a_rerun_with_other_stimulus_ids_names_them(tmp_path):
    model, x = small_cnn(), images()
    store = StudyStore(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(6)]
    extract_features(model, x, store, model_name="m", layers=["3"], stimulus_ids=ids, progress=False)
    with pytest.raises(ExtractionError, match=r"'features/m/3' is complete but 1 of its stimulus ids are not among these "
                                              r"stimuli, e\.g\. \['s5'\].*overwrite=True"):
        extract_features(model, x, store, model_name="m", layers=["3"], stimulus_ids=ids[:5] + ["t"], progress=False)


@pytest.mark.parametrize("kw, match", [
    (dict(overwrite="no"), r"^overwrite must be True or False; got 'no'\.$"),
    (dict(flatten="false"), r"^flatten must be True or False; got 'false'\.$"),
    (dict(deduplicate=0), r"^deduplicate must be True or False; got 0\.$"),
    (dict(progress="off"), r"^progress must be True or False; got 'off'\.$"),
    (dict(unit_chunk=0), r"^unit_chunk must be a positive int \(units per stored chunk\); got 0\.$"),
    (dict(unit_chunk="64"), r"^unit_chunk must be a positive int .*got '64'\.$"),
    (dict(staging_dir="/nonexistent/staging"), r"^staging_dir '/nonexistent/staging' is not an existing folder"),
])
def test_options_of_the_wrong_kind_are_refused_not_read_as_others(tmp_path, kw, match):
    """A string flag is truthy (overwrite="no" overwrote a complete layer), unit_chunk=0 was taken as 1,
    and a missing staging_dir failed with a traceback after the store was created."""
    model, x = small_cnn(), images()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, x, store, model_name="m", layers=["3"], progress=False)
    before = store.read_features("m", "3").attrs["extraction_identity"]
    args = dict(dict(model_name="m", layers=["3"], progress=False), **kw)
    with pytest.raises(ExtractionError, match=match):
        extract_features(model, x, store, **args)
    assert store.read_features("m", "3").attrs["extraction_identity"] == before
    with pytest.raises(ExtractionError, match=match):
        extract_features(model, x, tmp_path / "new.zarr", **args)
    assert not (tmp_path / "new.zarr").exists()
    if "progress" not in kw and "staging_dir" not in kw:
        with pytest.raises(ExtractionError, match=match):
            plan_extraction(model, x, **{k: v for k, v in args.items() if k != "progress"})


def test_a_model_that_is_no_module_and_stimuli_in_a_dict_are_one_line_errors(tmp_path):
    x = images()
    with pytest.raises(ExtractionError, match=r"^model must be a torch\.nn\.Module; got function\.") as err:
        plan_extraction(lambda t: t, x)
    assert "\n" not in str(err.value)
    with pytest.raises(ExtractionError, match=r"^stimuli is a dict \(keys \['a', 'b'\]\), which has no items by position; "
                                              r"pass its values") as err:
        plan_extraction(small_cnn(), {"a": x[0], "b": x[1]})


def test_a_reduced_layer_rerun_in_another_order_is_skipped_and_a_new_one_matches_a_run_in_order(tmp_path):
    model, x = small_cnn(), images(12)
    ids, perm = np.array([f"s{i:02d}" for i in range(12)]), np.random.default_rng(3).permutation(12)
    kw = dict(model_name="m", progress=False, batch_size=4, reduction={"method": "pca", "n_components": 3, "fit_stimuli": 8})
    store, same = StudyStore(tmp_path / "s.zarr"), StudyStore(tmp_path / "same.zarr")
    extract_features(model, x, store, layers=["0"], stimulus_ids=ids, **kw)
    again = extract_features(model, x[perm], store, layers=["0", "2"], stimulus_ids=ids[perm], **kw)
    assert again.skipped == ["0"] and again.written == ["2"]
    extract_features(model, x, same, layers=["2"], stimulus_ids=ids, **kw)
    got, ref = store.read_features("m", "2"), same.read_features("m", "2")
    assert got["stimulus_id"].values.tolist() == ids.tolist()
    assert got.attrs["reduction"]["fit_stimulus_ids"] == ref.attrs["reduction"]["fit_stimulus_ids"]
    np.testing.assert_array_equal(got.values, ref.values)


def _store_at(where: str, tmp_path: Path, request) -> StudyStore:
    if where == "local":
        return StudyStore(tmp_path / "s.zarr")
    options, _ = request.getfixturevalue("s3_server")
    return StudyStore(f"s3://bucket/{tmp_path.name}/s.zarr", storage_options=options)


def _damage(store: StudyStore, path: str, how: str) -> None:
    """Damage the stored layer ``path`` as a hand edit or a lost file would, through the store's own Zarr store."""
    import zarr
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    if how == "attrs":
        zarr.open_group(store._zstore, path=path, mode="r+").attrs["module_type"] = "Edited"
    elif how == "data_meta":  # a reader would scale every value
        zarr.open_array(store._zstore, path=f"{path}/data", mode="r+").attrs["scale_factor"] = 2.0
    elif how == "ids_doc":
        sync(store._zstore.set(f"{path}/stimulus_id/zarr.json", default_buffer_prototype().buffer.from_bytes(b"{not json")))
    else:  # a lost chunk: the ids (one chunk), or the data (one chunk of units)
        sync(store._zstore.delete(f"{path}/{'stimulus_id/c/0' if how == 'ids_chunk' else 'data/c/0/0'}"))


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.slow)])
@pytest.mark.parametrize("how, problem", [
    ("attrs", re.escape(SET_ATTRS_PROBLEM)),
    ("data_meta", r"its arrays' metadata .* was edited after the write"),
    ("ids_doc", r"marked complete but its variables \['stimulus_id'\] are missing"),
    ("ids_chunk", r"array 'stimulus_id': 1 of 1 chunks missing"),
    ("data_chunk", r"array 'data': 1 of 1 chunks missing"),
])
def test_a_damaged_stored_layer_is_refused_in_the_stores_words_not_skipped(tmp_path, request, where, how, problem):
    """A re-run read a complete layer with Zarr directly, past the store's checks: one whose data's metadata was
    edited or whose data chunk was lost was skipped as complete, a lost chunk of its ids read as other ids ('')
    and a stimulus_id document that is not JSON raised Zarr's error. Each is refused in one line naming the
    damage (as every read names it) and the fix; overwrite=True extracts it again."""
    model, x = small_cnn(), images()
    store = _store_at(where, tmp_path, request)
    kw = dict(model_name="m", layers=["3"], progress=False)
    extract_features(model, x, store, **kw)
    _damage(store, "features/m/3", how)
    for call in (lambda: extract_features(model, x, store, **kw), lambda: plan_extraction(model, x, store, model_name="m",
                                                                                          layers=["3"])):
        with pytest.raises(ExtractionError, match=r"'features/m/3' is complete but damaged \(" + problem
                           + r".*\), so it cannot be checked against this extraction\. Pass overwrite=True") as err:
            call()
        assert "\n" not in str(err.value)
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["3"]
    with torch.no_grad():
        out = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(store.read_features("m", "3").values, out, atol=1e-6)
    assert extract_features(model, x, store, **kw).skipped == ["3"]


def test_a_damaged_layer_sets_no_stimulus_order(tmp_path):
    """The stored order was read from the model's first layer with Zarr directly: a stimulus_id document that
    is not JSON raised Zarr's error even for a run that does not ask for that layer. A damaged layer sets no
    order: the next intact one does."""
    model, x = small_cnn(), images()
    ids, perm = np.array([f"s{i}" for i in range(6)]), np.array([3, 0, 5, 1, 4, 2])
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="m", progress=False)
    extract_features(model, x, store, layers=["0", "3"], stimulus_ids=ids, **kw)
    _damage(store, "features/m/0", "ids_doc")
    again = extract_features(model, x[perm], store, layers=["3"], stimulus_ids=ids[perm], **kw)
    assert again.skipped == ["3"] and again.plan.stimulus_ids.tolist() == ids.tolist()


@pytest.mark.parametrize("call", ["extract", "plan"])
def test_a_rerun_reads_each_stored_layer_once(tmp_path, monkeypatch, call):
    """A re-run read the model's first stored layer twice (its document, the listing of its keys, its arrays'
    documents and its ids): for the stimulus order, then to check it against this extraction. The index read
    for the order serves the check; a layer that sets no order is read once, by the check."""
    from collections import Counter

    model, x = small_cnn(), images()
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="m", layers=["0", "3"])
    extract_features(model, x, store, progress=False, **kw)
    counts: Counter[str] = Counter()
    read = StudyStore.read_set_index

    def counted(self, path):
        counts[path] += 1
        return read(self, path)

    monkeypatch.setattr(StudyStore, "read_set_index", counted)
    if call == "extract":
        assert sorted(extract_features(model, x, store, progress=False, **kw).skipped) == ["0", "3"]
    else:
        assert [lp.status for lp in plan_extraction(model, x, store, **kw).layers] == ["complete", "complete"]
    assert counts == {"features/m/0": 1, "features/m/3": 1}


def test_a_layer_another_process_completes_during_the_pass_is_not_replaced_without_overwrite(tmp_path):
    """B (other weights) wrote and reported layer 0 while A's pass ran; A, without overwrite, then
    swapped its own copy in: B's features were A's under B's name. A now keeps B's copy and says so."""
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    path = tmp_path / "s.zarr"

    def net(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))

    calls = {"n": 0}

    class Interleave(nn.Module):
        def forward(self, h):
            calls["n"] += 1
            if calls["n"] == 4:  # A's second batch: B extracts the same layer
                assert extract_features(net(1), x, path, model_name="m", layers=["0"], batch_size=2,
                                        progress=False).written == ["0"]
            return h

    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 3), Interleave(), nn.Linear(3, 2))
    with pytest.raises(StoreError, match=r"'features/m/0' was written by another process while this write ran") as e:
        extract_features(a, x, path, model_name="m", layers=["0", "2"], batch_size=2, progress=False)
    assert "\n" not in str(e.value)
    store = StudyStore(path)
    want = net(1)[0](torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(store.read_features("m", "0").values, want, rtol=1e-6)
    assert store.layers("m") == ["0"]


def test_an_overwriting_extraction_deletes_the_layers_cached_gram(tmp_path):
    """The Gram cached for a layer is deleted when an extraction overwrites the layer (by commit_write, as
    every writer of a layer), and the next Gram is that of the new values."""
    from neuroxr.entries import compute

    store = StudyStore(tmp_path / "s.zarr")
    extract_features(small_cnn(), images(), store, model_name="m", layers=["3"], progress=False)
    first = compute(store, "gram", "m.3")
    assert store.listing("cache/gram/m/3") == [first.path]
    extract_features(small_cnn(), images(seed=1), store, model_name="m", layers=["3"], overwrite=True, progress=False)
    assert store.listing("cache/gram") == [] and not (tmp_path / "s.zarr" / "cache" / "gram" / "m" / "3").exists()
    again = compute(store, "gram", "m.3")
    x = store.read_features("m", "3").values.astype(np.float64)
    x = x - x.mean(axis=0)
    np.testing.assert_allclose(again.dataset["K"].values, x @ x.T, rtol=1e-6, atol=1e-6)


def test_cli_advice_on_layers_of_other_extractions_names_overwrite_once(tmp_path):
    """The command line says ``--overwrite`` where the library says ``overwrite=True (neuroxr extract --overwrite)``:
    a new layer refused beside layers of other weights, and the warning after a partial overwrite, name it once
    (they said ``(--overwrite, neuroxr extract --overwrite)``)."""
    import torch
    from click.testing import CliRunner
    from PIL import Image

    from neuroxr.cli import main

    (tmp_path / "m.py").write_text("import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
                                   "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))\n")
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "imgs" / f"im{i}.png")
    ns = {}
    exec((tmp_path / "m.py").read_text(), ns)
    other = ns["build"]()
    with torch.no_grad():
        other[2].weight.add_(1.0)
    torch.save(other.state_dict(), tmp_path / "w.pt")  # other weights of the same architecture
    base = ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'm.py'}:build", "--images", str(tmp_path / "imgs"),
            "--model-name", "m", "--image-size", "8", "--no-progress"]
    assert CliRunner().invoke(main, [*base, "--layer", "0"]).exit_code == 0
    res = CliRunner().invoke(main, [*base, "--layer", "2", "--weights", str(tmp_path / "w.pt")])  # a new layer, other weights
    assert res.exit_code == 1 and "holds layers of another extraction" in res.stderr, res.output
    assert res.stderr.count("--overwrite") == 1 and "neuroxr extract --overwrite" not in res.stderr, res.stderr
    assert CliRunner().invoke(main, [*base, "--layer", "2"]).exit_code == 0
    res = CliRunner().invoke(main, [*base, "--layer", "2", "--weights", str(tmp_path / "w.pt"), "--overwrite"])
    assert res.exit_code == 0 and "record different extractions" in res.stderr, res.output
    assert res.stderr.count("--overwrite") == 1 and "neuroxr extract --overwrite" not in res.stderr, res.stderr
