"""Tests of neuroxr.extract: streaming torch activations into the study store within a memory budget."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neuroxr.errors import NeuroxrWarning  # noqa: E402
from neuroxr.extract import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESERVE_BYTES,
    ExtractionError,
    ExtractionPlan,
    default_image_transform,
    extract_features,
    load_model,
    parse_memory,
    plan_extraction,
)
from neuroxr.store import StudyStore  # noqa: E402


# ---------------------------------------------------------------------------- fixtures
def tiny_cnn(seed: int = 0, inplace: bool = False, channels: int = 4) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, 5),
    )


def reference_activations(net: nn.Sequential, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Each child's output, (n, units), computed by calling the children one after the other."""
    out = {}
    h = x
    with torch.no_grad():
        for name, module in net.named_children():
            h = module(h)
            out[name] = h.clone().reshape(len(x), -1).numpy()  # cloned before any in-place op that follows
    return out


def random_images(n: int = 12, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)


@pytest.fixture
def image_folder(tmp_path: Path) -> tuple[Path, list[str], np.ndarray]:
    """Ten 16x16 PNGs with random pixels; returns (folder, ids, pixels (n, 3, 16, 16) in [0, 1])."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    ids = [f"img{i:02d}" for i in range(10)]
    pixels = rng.integers(0, 256, size=(10, 16, 16, 3), dtype=np.uint8)
    for i, sid in enumerate(reversed(ids)):  # written out of order: the folder is sorted by name
        Image.fromarray(pixels[len(ids) - 1 - i]).save(folder / f"{sid}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder, ids, pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


# ---------------------------------------------------------------------------- correctness
def test_folder_features_equal_the_model_activations(tmp_path, image_folder):
    folder, ids, pixels = image_folder
    net = tiny_cnn()
    store = StudyStore(tmp_path / "study.zarr")
    to_tensor = default_image_transform(None, mean=None, std=None)  # pixels / 255, no resize
    result = extract_features(net, folder, store, model_name="tiny", transform=to_tensor, batch_size=4, progress=False)
    ref = reference_activations(net, torch.from_numpy(pixels))

    # every child is a leaf; none aliases another (ReLUs are not in place)
    assert store.layers("tiny") == list(ref)  # execution order (depth_index)
    assert sorted(result.written) == sorted(ref) and result.skipped == []
    depths = []
    for name, expected in ref.items():
        da = store.read_features("tiny", name)
        assert da.dims == ("stimulus", "unit")
        assert list(da.stimulus_id.values) == ids
        np.testing.assert_allclose(da.values, expected, rtol=1e-5, atol=1e-6)
        assert da.attrs["module_type"] == type(net[int(name)]).__name__
        assert da.attrs["module_name"] == name
        depths.append((da.attrs["depth_index"], da.attrs["relative_depth"]))
        assert da.nbytes == da.sizes["stimulus"] * da.sizes["unit"] * 4
        # one chunk spans the whole stimulus axis (the store layout)
        assert da.data.chunks[0] == (len(ids),)
    assert [d for d, _ in depths] == sorted(d for d, _ in depths)
    rel = [r for _, r in depths]
    assert rel[0] == 0.0 and rel[-1] == 1.0 and rel == sorted(rel)

    conv = store.read_features("tiny", "0")
    assert conv.attrs["output_shape"] == [4, 16, 16]
    # channel / y / x coords address the (C, H, W) output
    full = reference_activations(net, torch.from_numpy(pixels))["0"].reshape(10, 4, 16, 16)
    for u in (0, 17, 300, 1023):
        c, y, x = (int(conv[k].values[u]) for k in ("channel", "y", "x"))
        np.testing.assert_allclose(conv.values[:, u], full[:, c, y, x], rtol=1e-5, atol=1e-6)
    assert store.read_features("tiny", "7").attrs["output_shape"] == [5]
    assert "channel" not in store.read_features("tiny", "7").coords
    # the transform used is recorded with every layer
    assert conv.attrs["transform_source"] == "explicit transform"
    assert conv.attrs["transform"] == repr(to_tensor) and "normalize=none" in conv.attrs["transform"]


def test_default_transform_sizes(tmp_path, image_folder):
    folder, _, _ = image_folder
    from PIL import Image

    t = default_image_transform((8, 12))(Image.open(folder / "img03.png"))
    assert tuple(t.shape) == (3, 8, 12) and t.dtype == torch.float32
    plan = plan_extraction(tiny_cnn(), folder, image_size=(8, 12), model_name="tiny")
    assert plan.layer("0").output_shape == (4, 8, 12)
    assert plan.layer("2").output_shape == (4, 4, 6)
    assert plan.preprocessing.startswith("default_image_transform(revision=2, image_size=[8, 12], crop_fraction=0.875")
    # the floats as written, not float32's 0.48500001430511475
    assert f"normalize=mean={list(IMAGENET_MEAN)}, std={list(IMAGENET_STD)})" in plan.preprocessing


def test_inplace_and_pass_through_modules_are_deduplicated_only_when_not_requested(tmp_path):
    net = nn.Sequential(tiny_cnn(inplace=True), nn.Dropout(0.5), nn.Identity())
    x = torch.from_numpy(random_images(12))
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.warns(NeuroxrWarning, match="left out 3 module"):
        result = extract_features(net, x, store, model_name="m", progress=False)
    plan = result.plan
    # the in-place ReLU returns the conv's tensor object; Dropout (eval) and Identity return the Linear's
    assert plan.aliases == {"0.1": "0.0", "1": "0.7", "2": "0.7"}
    assert "layers=['0.1']" in plan.skipped["0.1"]
    assert store.layers("m") == ["0.0", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]
    ref = reference_activations(net[0], x)
    # the conv layer holds the conv's own output (taken before the in-place ReLU ran)
    np.testing.assert_allclose(store.read_features("m", "0.0").values, ref["0"], rtol=1e-5, atol=1e-6)
    assert (ref["0"] < 0).any()
    # requested modules are never deduplicated: each holds its own output
    result = extract_features(net, x, store, model_name="m2", layers=["0.0", "0.1", "2"], progress=False)
    assert result.plan.aliases == {} and store.layers("m2") == ["0.0", "0.1", "2"]
    np.testing.assert_allclose(store.read_features("m2", "0.0").values, ref["0"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(store.read_features("m2", "0.1").values, ref["1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(store.read_features("m2", "2").values, ref["7"], rtol=1e-5, atol=1e-6)
    # without deduplication the default selection keeps the aliases too
    result = extract_features(net, x, store, model_name="m3", deduplicate=False, progress=False)
    assert result.plan.aliases == {} and "0.1" in store.layers("m3")
    np.testing.assert_allclose(store.read_features("m3", "0.1").values, ref["1"], rtol=1e-5, atol=1e-6)


def test_memory_limit_below_one_layer_output_completes_within_budget(tmp_path):
    # conv output: 16 x 40 x 40 float32 = 100 KiB per stimulus, 2.3 MiB for 24 stimuli
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 3))
    x = torch.from_numpy(random_images(24, size=40))
    limit = parse_memory("1MiB")
    layer_bytes = 24 * 16 * 40 * 40 * 4
    overhead = 1024 * 1024  # one-off process-level allocations (e.g. Python's interned-string table)
    assert layer_bytes > limit + overhead  # holding the layer whole would fail the check below
    kw = dict(model_name="m", layers=["0", "4"], memory_limit=limit, batch_size=16, progress=False)
    extract_features(net, x[:4], StudyStore(tmp_path / "warmup.zarr"), **kw)  # imports, caches

    store = StudyStore(tmp_path / "s.zarr")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = extract_features(net, x, store, **kw)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    conv = result.plan.layer("0")
    assert conv.batch_size < 16  # lowered to fit
    assert conv.in_flight_bytes + RESERVE_BYTES <= limit
    assert result.largest_buffer_bytes <= conv.in_flight_bytes
    assert peak <= limit + overhead, f"traced peak {peak} B above {limit} + {overhead} B"
    ref = reference_activations(net, x)
    for layer in ("0", "4"):
        np.testing.assert_allclose(store.read_features("m", layer).values, ref[layer], rtol=1e-5, atol=1e-6)


def test_dry_run_estimate_matches_stored_bytes(tmp_path):
    net = tiny_cnn()
    x = torch.from_numpy(random_images(20))
    store = StudyStore(tmp_path / "s.zarr")
    plan = extract_features(net, x, store, model_name="tiny", memory_limit="600KiB", batch_size=8, dry_run=True)
    assert isinstance(plan, ExtractionPlan)
    assert store.models() == [] and store.incomplete_entries() == []  # a dry run writes nothing
    assert "Conv2d" in str(plan) and len(plan.layers) == 8
    assert plan.layer("0").output_shape == (4, 16, 16)
    assert plan.layer("0").nbytes == 20 * 4 * 16 * 16 * 4
    assert plan.layer("0").raw_nbytes == plan.layer("0").nbytes
    reduced = plan_extraction(net, x, reduction={"method": "srp", "n_components": 8})
    assert reduced.layer("0").raw_nbytes == 20 * 4 * 16 * 16 * 4 and reduced.layer("0").nbytes == 20 * 8 * 4
    assert len(plan.groups) >= 1 and all(lp.batch_size >= 1 for lp in plan.layers)
    df = plan.to_dataframe()
    assert list(df.index) == [lp.name for lp in plan.layers]

    extract_features(net, x, store, model_name="tiny", memory_limit="600KiB", batch_size=8, progress=False)
    for lp in plan.layers:
        stored = store.read_features("tiny", lp.name).nbytes
        assert abs(lp.nbytes - stored) <= 0.1 * stored
    assert abs(plan.nbytes - sum(store.read_features("tiny", n).nbytes for n in store.layers("tiny"))) <= 0.1 * plan.nbytes


# ---------------------------------------------------------------------------- resume
def _chunk_mtimes(store: StudyStore, model: str, layer: str) -> dict[str, int]:
    root = Path(store.url) / "features" / model / layer
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_resume_after_interruption_skips_finished_layers(tmp_path):
    net = tiny_cnn()
    x = torch.from_numpy(random_images(20))
    store = StudyStore(tmp_path / "s.zarr")
    kw = dict(model_name="tiny", memory_limit="360KiB", batch_size=8)
    plan = plan_extraction(net, x, store, **kw)
    kw["progress"] = False
    assert len(plan.groups) >= 2, plan
    first = plan.groups[0]

    class Interrupt(Exception):
        pass

    done = []

    def stop_after_first_group(layer: str) -> None:
        done.append(layer)
        if layer == first[-1]:
            raise Interrupt

    with pytest.raises(Interrupt):
        extract_features(net, x, store, on_layer_complete=stop_after_first_group, **kw)
    assert sorted(store.layers("tiny")) == sorted(first)
    before = {layer: _chunk_mtimes(store, "tiny", layer) for layer in first}

    again = extract_features(net, x, store, on_layer_complete=done.append, **kw)
    assert sorted(again.skipped) == sorted(first)
    assert set(again.written).isdisjoint(first)
    assert sorted(again.written + again.skipped) == sorted(lp.name for lp in plan.layers)
    assert {layer: _chunk_mtimes(store, "tiny", layer) for layer in first} == before  # not rewritten
    ref = reference_activations(net, x)
    for layer in store.layers("tiny"):
        np.testing.assert_allclose(store.read_features("tiny", layer).values, ref[layer], rtol=1e-5, atol=1e-6)
    assert store.incomplete_entries() == []


def test_interrupted_pass_leaves_no_layer_marked_complete(tmp_path):
    net = tiny_cnn()
    x = torch.from_numpy(random_images(20))
    store = StudyStore(tmp_path / "s.zarr")
    calls = {"n": 0}

    def crash_on_third_batch(module, inputs, output):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    handle = net[7].register_forward_hook(crash_on_third_batch)
    kw = dict(model_name="tiny", batch_size=4, progress=False)
    with pytest.raises(KeyboardInterrupt):
        extract_features(net, x, store, **kw)
    handle.remove()
    assert store.layers("tiny") == []  # half-written layers are neither listed nor left in the store
    assert store.incomplete_entries() == []
    with pytest.raises(KeyError):
        store.read_features("tiny", "0")

    result = extract_features(net, x, store, **kw)
    assert result.skipped == [] and len(result.written) == 8
    assert store.incomplete_entries() == []
    ref = reference_activations(net, x)
    for layer in ref:
        np.testing.assert_allclose(store.read_features("tiny", layer).values, ref[layer], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size", [4, 20], ids=["staged-rows", "direct"])
def test_interrupted_reextraction_keeps_the_old_layer(tmp_path, batch_size):
    """A re-extraction (overwrite=True) killed mid-pass or failing leaves every old layer complete,
    readable and unchanged; re-running it then writes the new features."""
    x = torch.from_numpy(random_images(20))
    store = StudyStore(tmp_path / "s.zarr")
    old_net, new_net = tiny_cnn(), tiny_cnn()
    with torch.no_grad():
        for p in new_net.parameters():
            p.mul_(-1.5)
    kw = dict(model_name="tiny", layers=["5", "7"], batch_size=batch_size, progress=False)
    extract_features(old_net, x, store, **kw)
    old = {layer: store.read_features("tiny", layer).values for layer in ("5", "7")}
    token = store.token("features/tiny/7")

    calls = {"n": 0}

    def crash(module, inputs, output):
        calls["n"] += 1
        if calls["n"] == (2 if batch_size < 20 else 1):
            raise KeyboardInterrupt

    handle = new_net[7].register_forward_hook(crash)
    with pytest.raises(KeyboardInterrupt):
        extract_features(new_net, x, store, overwrite=True, **kw)
    handle.remove()
    assert sorted(store.layers("tiny")) == ["5", "7"] and store.incomplete_entries() == []
    assert store.token("features/tiny/7") == token
    for layer, values in old.items():
        np.testing.assert_array_equal(store.read_features("tiny", layer).values, values)

    result = extract_features(new_net, x, store, overwrite=True, **kw)  # the re-extraction resumes from scratch
    assert sorted(result.written) == ["5", "7"]
    ref = reference_activations(new_net, x)
    for layer in ("5", "7"):
        np.testing.assert_allclose(store.read_features("tiny", layer).values, ref[layer], rtol=1e-5, atol=1e-6)
    assert store.token("features/tiny/7") != token


@pytest.mark.slow
def test_killed_reextraction_keeps_the_old_layer(tmp_path):
    """A process killed (os._exit: no cleanup runs) mid re-extraction leaves the old layer readable."""
    x = random_images(20)
    np.save(tmp_path / "x.npy", x)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(tiny_cnn(), torch.from_numpy(x), store, model_name="tiny", layers=["7"], progress=False)
    old = store.read_features("tiny", "7").values
    code = (
        "import os, sys, numpy as np, torch\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_extract_core import tiny_cnn\n"
        "from neuroxr.extract import extract_features\n"
        "net = tiny_cnn(seed=3)\n"
        "calls = []\n"
        "def kill(module, inputs, output):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 2:\n"
        "        os._exit(9)\n"
        "net[7].register_forward_hook(kill)\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"extract_features(net, x, {store.url!r}, model_name='tiny', layers=['7'], batch_size=4, overwrite=True, "
        "progress=False)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    store = StudyStore(store.url)
    np.testing.assert_array_equal(store.read_features("tiny", "7").values, old)
    assert store.incomplete_entries() == [] and store.layers("tiny") == ["7"]


def test_failed_layer_write_keeps_the_old_copy(tmp_path, monkeypatch):
    """A failure while finishing a layer (after its batches) drops the staged copy only."""
    x = torch.from_numpy(random_images(12))
    store = StudyStore(tmp_path / "s.zarr")
    net = tiny_cnn()
    extract_features(net, x, store, model_name="tiny", layers=["7"], progress=False)
    old = store.read_features("tiny", "7").values

    def broken_commit(self, path, staging, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(type(store), "commit_write", broken_commit)
    with pytest.raises(OSError, match="disk full"):
        extract_features(tiny_cnn(), x * 2, store, model_name="tiny", layers=["7"], overwrite=True, progress=False)
    monkeypatch.undo()
    np.testing.assert_array_equal(store.read_features("tiny", "7").values, old)
    assert store.incomplete_entries() == []


def test_complete_layer_from_other_stimuli_is_not_silently_reused(tmp_path):
    net = tiny_cnn()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, torch.from_numpy(random_images(12)), store, model_name="tiny", layers=["7"], progress=False)
    other = torch.from_numpy(random_images(12, seed=5))
    with pytest.raises(ExtractionError, match="stimulus ids differ|overwrite=True"):
        extract_features(net, other, store, model_name="tiny", layers=["7"], stimulus_ids=[f"s{i}" for i in range(12)], progress=False)
    result = extract_features(net, other, store, model_name="tiny", layers=["7"], overwrite=True, progress=False)
    assert result.written == ["7"]
    np.testing.assert_allclose(
        store.read_features("tiny", "7").values, reference_activations(net, other)["7"], rtol=1e-5, atol=1e-6
    )


def test_layer_names_colliding_with_another_set_are_refused_before_any_pass(tmp_path):
    """As store.write_features: features/t/0 would be named 't.0', already neural set t's region '0'."""
    from neuroxr.errors import StoreError
    from neuroxr.layouts import neural

    store = StudyStore(tmp_path / "s.zarr")
    ids = [f"s{i}" for i in range(12)]
    store.write_neural("t", neural(np.random.default_rng(0).normal(size=(12, 4, 2)), stimulus_id=ids,
                                   region=["0", "0", "1", "1"]))
    net = tiny_cnn()
    calls = []
    net[7].register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(StoreError, match="'t.0' is already the name of the neural set 't' region '0'"):
        extract_features(net, torch.from_numpy(random_images(12)), store, model_name="t", stimulus_ids=ids,
                         batch_size=4, progress=False)
    assert len(calls) <= 2  # the probe's two passes at most: no pass over the stimuli
    assert store.models() == [] and store.incomplete_entries() == []
    with pytest.raises(StoreError, match="'t.0'"):
        plan_extraction(net, torch.from_numpy(random_images(12)), store, model_name="t", layers=["0"])


# ---------------------------------------------------------------------------- reduction
def test_sparse_random_projection_at_write_time(tmp_path):
    import scipy.sparse as sp
    from sklearn.random_projection import SparseRandomProjection

    net = tiny_cnn()
    x = torch.from_numpy(random_images(16))
    store = StudyStore(tmp_path / "s.zarr")
    red = {"method": "srp", "n_components": 32, "seed": 3}
    extract_features(net, x, store, model_name="tiny", reduction=red, batch_size=5, progress=False)
    ref = reference_activations(net, x)
    conv = store.read_features("tiny", "0")
    assert conv.shape == (16, 32)
    assert list(conv.unit_id.values[:2]) == ["rp0", "rp1"]
    attrs = conv.attrs["reduction"]
    assert {k: attrs[k] for k in red} == red
    assert attrs["input_units"] == 1024 and attrs["fit_stimuli"] is None and "fit_stimulus_ids" not in attrs  # not fitted
    assert "SparseRandomProjection" in attrs["estimator"]
    assert conv.attrs["output_shape"] == [4, 16, 16]
    # the projection is sklearn's, seeded
    srp = SparseRandomProjection(32, random_state=3).fit(sp.csr_matrix((1, 1024), dtype=np.float32))
    np.testing.assert_allclose(conv.values, srp.transform(ref["0"]), rtol=1e-4, atol=1e-5)
    # layers with at most n_components units are stored as they are
    small = store.read_features("tiny", "5")
    assert small.shape == (16, 24) and "reduction" not in small.attrs
    np.testing.assert_allclose(small.values, ref["5"], rtol=1e-5, atol=1e-6)
    # a re-run with the same reduction finds every layer complete; another reduction is refused
    again = extract_features(net, x, store, model_name="tiny", reduction=red, progress=False)
    assert again.written == [] and len(again.skipped) == 8
    with pytest.raises(ExtractionError, match="reduction"):
        extract_features(net, x, store, model_name="tiny", reduction=dict(red, seed=4), progress=False)


def test_pca_fitted_on_a_stimulus_subset(tmp_path):
    from sklearn.decomposition import PCA

    net = tiny_cnn()
    x = torch.from_numpy(random_images(30))
    store = StudyStore(tmp_path / "s.zarr")
    red = {"method": "pca", "n_components": 5, "fit_stimuli": 20, "seed": 1}
    extract_features(net, x, store, model_name="tiny", layers=["0", "3"], reduction=red, batch_size=25, progress=False)
    ref = reference_activations(net, x)
    for layer in ("0", "3"):
        da = store.read_features("tiny", layer)
        assert da.shape == (30, 5)
        attrs = da.attrs["reduction"]
        fit_ids = attrs["fit_stimulus_ids"]
        assert len(fit_ids) == 20 and len(set(fit_ids)) == 20
        fit_rows = [int(s.removeprefix("stimulus")) for s in fit_ids]
        pca = PCA(5, svd_solver="full").fit(ref[layer][fit_rows])
        expected = pca.transform(ref[layer])
        # components are defined up to sign
        signs = np.sign(np.sum(da.values * expected, axis=0))
        np.testing.assert_allclose(da.values * signs, expected, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(attrs["explained_variance_ratio"], pca.explained_variance_ratio_, rtol=1e-4)


def test_reduction_errors():
    net = tiny_cnn()
    x = torch.from_numpy(random_images(12))
    with pytest.raises(ExtractionError, match="'srp' or 'pca'"):
        plan_extraction(net, x, reduction={"method": "ica", "n_components": 3})
    with pytest.raises(ExtractionError, match="unknown keys"):
        plan_extraction(net, x, reduction={"method": "srp", "n_components": 3, "k": 1})
    with pytest.raises(ExtractionError, match="at least 20 fit stimuli"):
        plan_extraction(net, x, reduction={"method": "pca", "n_components": 20})


# ---------------------------------------------------------------------------- stimuli and layers
class PairDataset(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x
        self.stimulus_ids = [f"pic-{i}" for i in range(len(x))]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], i % 2  # (stimulus, label)


def test_torch_dataset_and_numpy_array_stimuli(tmp_path):
    net = tiny_cnn()
    x = random_images(11)
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, PairDataset(torch.from_numpy(x)), store, model_name="ds", layers=["3", "7"], batch_size=4, progress=False)
    extract_features(net, x, store, model_name="np", layers=["3", "7"], batch_size=4, progress=False,
                     stimulus_ids=[f"pic-{i}" for i in range(11)])
    ref = reference_activations(net, torch.from_numpy(x))
    for model in ("ds", "np"):
        assert store.layers(model) == ["3", "7"]
        da = store.read_features(model, "7")
        assert list(da.stimulus_id.values) == [f"pic-{i}" for i in range(11)]
        np.testing.assert_allclose(da.values, ref["7"], rtol=1e-5, atol=1e-6)
    # float64 inputs are cast to the model's dtype
    extract_features(net, x.astype(np.float64), store, model_name="f64", layers=["7"], progress=False)
    np.testing.assert_allclose(store.read_features("f64", "7").values, ref["7"], rtol=1e-5, atol=1e-6)


def test_layer_selection_by_filter_and_flatten_false(tmp_path):
    net = tiny_cnn()
    x = torch.from_numpy(random_images(12))
    plan = plan_extraction(net, x, layers=lambda name, m: isinstance(m, (nn.Conv2d, nn.Linear)))
    assert [lp.name for lp in plan.layers] == ["0", "3", "7"]
    plan = plan_extraction(net, x, flatten=False)
    assert [lp.name for lp in plan.layers] == ["6", "7"]  # only (batch, units) outputs
    assert "flatten=False" in plan.skipped["0"]
    with pytest.raises(ExtractionError, match="flatten=True"):
        plan_extraction(net, x, layers=["0"], flatten=False)


def test_a_layers_filter_that_fails_is_named_in_one_line():
    """A filter that raises (one taking only the name: ``lambda name: ...``) is an ``ExtractionError`` naming
    ``layers``, the module it failed on and how it is called, not the filter's own ``TypeError``."""
    net, x = tiny_cnn(), torch.from_numpy(random_images(4))
    with pytest.raises(ExtractionError, match=r"^layers: the filter fails on module '' \(TypeError: .*takes 1 positional "
                                              r"argument.*\); it is called as f\(name, module\) for every module of the "
                                              r"model and returns whether to extract it\.$"):
        plan_extraction(net, x, layers=lambda name: name.startswith("0"))
    with pytest.raises(ExtractionError, match=r"^layers: the filter fails on module '0' \(ZeroDivisionError"):
        plan_extraction(net, x, layers=lambda name, m: name and 1 / 0)


def test_a_module_returning_a_tuple_says_what_it_returns_and_how_to_store_a_tensor_of_it():
    """An LSTM or an attention module returns a tuple and has no submodule to hook (MultiheadAttention's out_proj is
    never called): the refusal says what the output is and how to store one of its tensors (an nn.Identity)."""

    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 5, batch_first=True)
            self.head = nn.Linear(5, 2)

        def forward(self, x):
            h, _ = self.lstm(x)
            return self.head(h[:, -1])

    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ExtractionError, match=r"^cannot extract module 'lstm': its output is a tuple \(a Tensor, a tuple\), "
                                              r"not a tensor; .*nn\.Identity\(\).*forward.*\.$"):
        plan_extraction(Recurrent().eval(), x, layers=["lstm"])
    with pytest.warns(NeuroxrWarning, match=r"'lstm': its output is a tuple \(a Tensor, a tuple\)"):
        assert [lp.name for lp in plan_extraction(Recurrent().eval(), x).layers] == ["head"]


def test_modules_held_in_a_plain_list_are_said_to_be_outside_the_model():
    """Modules held in a plain list (not nn.ModuleList) are no part of the model's module tree: not put in eval mode
    (a Dropout there stays random), not moved, not selectable, their weights not in the model's identity (a re-run
    after changing them skipped the stored layers). A warning names where they are held and the fix."""

    class Listed(nn.Module):
        def __init__(self, container) -> None:
            super().__init__()
            self.blocks = container([nn.Linear(4, 4), nn.ReLU()])
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    x = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    with pytest.warns(NeuroxrWarning, match=r"2 module\(s\) are held outside the model's module tree, in plain "
                                            r"containers: 'blocks' \(a list of 2\).*nn\.ModuleList or nn\.ModuleDict"):
        plan_extraction(Listed(list), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        assert [lp.name for lp in plan_extraction(Listed(nn.ModuleList), x).layers] == ["blocks.0", "blocks.1", "head"]


def test_tensors_held_as_plain_attributes_are_said_to_be_outside_the_identity(tmp_path):
    """A tensor held as a plain attribute (not a buffer) counts by its class only in the model's identity: a re-run
    after changing its values reused the stored layers without a word. A warning names it and the fix (a buffer,
    whose values count: the re-run is then refused)."""

    class Scaled(nn.Module):
        def __init__(self, scale: float, buffer: bool) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)
            if buffer:
                self.register_buffer("w", torch.full((3,), scale), persistent=False)
            else:
                self.w = torch.full((3,), scale)

        def forward(self, x):
            return self.fc(x) * self.w

    x = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    with pytest.warns(NeuroxrWarning, match=r"1 tensor\(s\) are held as plain attributes, not buffers: 'w' \(shape "
                                            r"\(3,\)\).*register_buffer"):
        plan_extraction(Scaled(1.0, buffer=False), x)
    torch.manual_seed(0)
    kw = dict(model_name="m", layers=["fc"], progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        extract_features(Scaled(1.0, buffer=True), x, tmp_path / "s.zarr", **kw)
    torch.manual_seed(0)
    with pytest.raises(ExtractionError, match="the model differs"):  # the fix it names: the values count
        extract_features(Scaled(2.0, buffer=True), x, tmp_path / "s.zarr", **kw)


def test_shared_module_is_left_out_by_default():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.act = nn.ReLU()
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            h = self.act(self.conv(x))
            h = self.act(h - 0.5)
            return self.head(h.mean(dim=(2, 3)))

    net = Shared()
    x = torch.from_numpy(random_images(12))
    plan = plan_extraction(net, x)
    assert [lp.name for lp in plan.layers] == ["conv", "head"]
    assert "2 times" in plan.skipped["act"]
    with pytest.raises(ExtractionError, match="called 2 times"):
        plan_extraction(net, x, layers=["act"])


def test_errors_name_the_problem(tmp_path, image_folder):
    net = tiny_cnn()
    x = torch.from_numpy(random_images(12))
    with pytest.raises(ExtractionError, match="no module 'conv1'"):
        plan_extraction(net, x, layers=["conv1"])
    with pytest.raises(ExtractionError, match="layer '0'.*more than memory_limit"):
        plan_extraction(net, x, memory_limit=RESERVE_BYTES + 1000)
    with pytest.raises(ExtractionError, match="below the"):
        plan_extraction(net, x, memory_limit="100KiB")
    with pytest.raises(ExtractionError, match="unique"):
        plan_extraction(net, x, stimulus_ids=["a"] * 12)
    with pytest.raises(ExtractionError, match="one id per stimulus"):
        plan_extraction(net, x, stimulus_ids=["a", "b"])
    with pytest.raises(ExtractionError, match="not understood"):
        parse_memory("lots")
    assert parse_memory("2GiB") == 2 * 2**30 and parse_memory("1.5 MB") == 1_500_000
    with pytest.raises(ExtractionError, match="no image files"):
        plan_extraction(net, tmp_path)
    folder, _, _ = image_folder
    sizes = iter(range(8, 100))
    with pytest.raises(ExtractionError, match="same shape"):
        plan_extraction(net, folder, transform=lambda im: torch.zeros(3, next(sizes), 8))


def test_training_mode_is_restored_and_eval_is_used(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(3 * 16 * 16, 4))
    net.train()
    x = torch.from_numpy(random_images(12))
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, x, store, model_name="m", layers=["2"], progress=False)
    assert net.training
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(store.read_features("m", "2").values, net(x).numpy(), rtol=1e-5, atol=1e-6)



def test_each_modules_training_flag_is_restored(tmp_path):
    """A model trained with a frozen (eval-mode) batch norm came back from the extraction, or from a dry
    run, with every module in training mode: the next training step updated the frozen statistics."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    x = torch.from_numpy(random_images(6))
    for call in (lambda: extract_features(net, x, tmp_path / "s.zarr", model_name="m", layers=["2"], progress=False),
                 lambda: plan_extraction(net, x, layers=["2"])):
        net.train()
        net[2].eval()
        before = [m.training for m in net.modules()]
        call()
        assert [m.training for m in net.modules()] == before == [True, True, True, False, True]
    stored = StudyStore(tmp_path / "s.zarr").read_features("m", "2").values
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(stored, net[2](net[1](net[0](x))).numpy(), rtol=1e-5, atol=1e-6)

# ---------------------------------------------------------------------------- integration
def test_stored_features_feed_the_forward_direction(tmp_path):
    from neuroxr import predictivity as directions
    from neuroxr.layouts import neural

    net = tiny_cnn()
    x = torch.from_numpy(random_images(40))
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, x, store, model_name="tiny", layers=["5", "7"], progress=False)
    feats = store.read_features("tiny", "5")
    rng = np.random.default_rng(0)
    signal = feats.values @ rng.normal(size=(24, 6))
    signal = (signal - signal.mean(0)) / signal.std(0)
    responses = signal[:, :, None] + 0.1 * rng.normal(size=(40, 6, 4))
    ids = feats.stimulus_id.values
    neural_da = neural(responses[::-1], stimulus_id=ids[::-1])  # a different stimulus order
    scores = directions.forward(feats, neural_da, reps=2)
    assert scores["ev"].dims == ("neuroid", "rep")
    assert np.isfinite(scores["ev"].values).all()
    # the lazy stored set scores exactly as the same features in memory
    in_memory = directions.forward(feats.load(), neural_da, reps=2)
    np.testing.assert_allclose(scores["ev"].values, in_memory["ev"].values, rtol=1e-5)
    rev = directions.reverse(neural_da, store.read_features("tiny", "7"), reps=2)
    assert rev["ev"].sizes["unit"] == 5


def test_import_neuroxr_does_not_import_torch():
    code = "import sys, neuroxr, neuroxr.extract; assert 'torch' not in sys.modules, 'torch was imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_cli_extract_command(tmp_path, image_folder):
    click_testing = pytest.importorskip("click.testing")
    from neuroxr.cli.extract import extract_command

    folder, ids, _ = image_folder
    model_file = tmp_path / "mynet.py"
    model_file.write_text(
        "import torch\nfrom torch import nn\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 14 * 14, 3))\n"
    )
    runner = click_testing.CliRunner()
    store_url = str(tmp_path / "cli.zarr")
    args = [store_url, "--model", f"{model_file}:build", "--images", str(folder), "--model-name", "clinet",
            "--image-size", "16", "--no-progress"]
    dry = runner.invoke(extract_command, args + ["--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Extraction plan" in dry.output and not StudyStore(store_url).models()
    done = runner.invoke(extract_command, args + ["--layer", "0", "--layer", "3", "--memory-limit", "64MiB"])
    assert done.exit_code == 0, done.output
    store = StudyStore(store_url)
    assert store.layers("clinet") == ["0", "3"]
    assert list(store.read_features("clinet", "3").stimulus_id.values) == ids
    bad = runner.invoke(extract_command, args + ["--layer", "nope"])
    assert bad.exit_code != 0 and "no module 'nope'" in bad.output


def test_cli_extract_ids_from_a_file_pair_with_the_sorted_images(tmp_path, image_folder):
    """``--ids FILE``: one id per line, for the folder's images sorted by name, as ``stimulus_ids=``; a file
    with another count, a blank line or a repeated id is one line naming ``--ids``, and nothing is written."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    folder, ids, _ = image_folder
    (tmp_path / "net.py").write_text("import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
                                     "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3))\n")
    base = ["extract", str(tmp_path / "s.zarr"), "--model", f"{tmp_path / 'net.py'}:build", "--images", str(folder),
            "--model-name", "m", "--image-size", "16", "--no-progress"]
    ref = extract_features(load_model(f"{tmp_path / 'net.py'}:build"), folder, tmp_path / "ref.zarr", model_name="m",
                           image_size=16, stimulus_ids=[f"stim_{s}" for s in ids], progress=False)
    for name, lines, match in [("short", ids[:-1], "gives 9 ids for 10 stimuli"), ("blank", [*ids[:3], "", *ids[3:]],
                               "blank line"), ("twice", [*ids[:-1], ids[0]], "repeated")]:
        (tmp_path / f"{name}.txt").write_text("\n".join(lines) + "\n")
        res = CliRunner().invoke(main, [*base, "--ids", str(tmp_path / f"{name}.txt")])
        out = res.output.strip().splitlines()
        assert res.exit_code != 0 and len(out) == 1 and "--ids" in out[0] and match in out[0], res.output
    assert not (tmp_path / "s.zarr" / "features").exists()
    (tmp_path / "ids.txt").write_text("".join(f"stim_{s}\n" for s in ids))
    res = CliRunner().invoke(main, [*base, "--ids", str(tmp_path / "ids.txt")])
    assert res.exit_code == 0, res.output
    got = StudyStore(tmp_path / "s.zarr").read_features("m", ref.written[0])
    xr.testing.assert_identical(got.load(), StudyStore(tmp_path / "ref.zarr").read_features("m", ref.written[0]).load())


@pytest.mark.parametrize("extra, option", [
    (["--model", "nosuchpkg_neuroxr.mod:build"], "Invalid value for '--model'"),
    (["--device", "nodev"], "Invalid value for '--device'"),
    (["--device", "cuda:99"], "Invalid value for '--device'"),
    pytest.param(["--device", "cuda"], "Invalid value for '--device'",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")),
    (["--weights", "GARBAGE"], "Invalid value for '--weights'"),
    (["--weights", "OTHER"], "Invalid value for '--weights'"),
    (["--image-size", "0"], "Invalid value for '--image-size'"),
    (["--n-components", "2"], "--n-components applies only with --reduction"),
    (["--seed", "3"], "--seed applies only with --reduction"),
    (["--image-size", "20"], "the forward pass of model 'm' failed on inputs of shape (2, 3, 20, 20) (RuntimeError: "),
], ids=["model", "device", "gpu-index", "cuda", "weights-garbage", "weights-other-model", "image-size", "n-components",
        "seed", "forward-fails"])
def test_cli_extract_bad_options_are_one_line_errors_naming_the_option(tmp_path, image_folder, extra, option):
    from click.testing import CliRunner

    from neuroxr.cli import main

    (tmp_path / "netmod.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))\n")
    (tmp_path / "garbage.pt").write_bytes(b"garbage")
    torch.save(tiny_cnn().state_dict(), tmp_path / "other.pt")
    subs = {"GARBAGE": str(tmp_path / "garbage.pt"), "OTHER": str(tmp_path / "other.pt")}
    base = {"--model": f"{tmp_path / 'netmod.py'}:net", "--model-name": "m", "--images": str(image_folder[0]), "--image-size": "16"}
    flag, value = (subs.get(a, a) for a in extra)
    extra = [flag, value] if flag not in base else []
    base.update({} if extra else {flag: value})  # the case's value replaces the base's (an option given twice is refused)
    args = ["extract", str(tmp_path / "c.zarr"), *[x for kv in base.items() for x in kv], "--no-progress", *extra]
    res = CliRunner().invoke(main, args)
    lines = res.output.strip().splitlines()
    assert res.exit_code != 0 and len(lines) == 1, res.output
    assert lines[0].startswith(f"Error: {option}") and "internal error" not in lines[0], lines[0]
    assert not (tmp_path / "c.zarr" / "features").exists()


def test_a_forward_pass_failing_after_the_probe_names_the_model(tmp_path):
    """A batch the model's own code refuses (here any batch but the probe's 2 stimuli) is an
    ExtractionError naming the model and what to check, and nothing is written."""
    class Picky(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            if x.shape[0] != 2:
                raise RuntimeError("this model takes batches of 2")
            return self.fc(x)

    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"forward pass of model 'picky' failed on inputs of shape \(3, 4\) "
                                              r"\(RuntimeError: this model takes batches of 2\); check"):
        extract_features(Picky(), torch.zeros(6, 4), store, model_name="picky", batch_size=3, progress=False)
    assert not store.models()


def test_cli_extract_with_other_weights_is_refused_not_skipped(tmp_path, image_folder):
    from click.testing import CliRunner

    from neuroxr.cli import main

    (tmp_path / "netmod.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))\n")
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4)).state_dict(), tmp_path / f"w{seed}.pt")
    args = ["extract", str(tmp_path / "c.zarr"), "--model", f"{tmp_path / 'netmod.py'}:net", "--model-name", "m",
            "--images", str(image_folder[0]), "--image-size", "16", "--layer", "1", "--no-progress", "--weights"]
    assert CliRunner().invoke(main, [*args, str(tmp_path / "w0.pt")]).exit_code == 0
    old = StudyStore(tmp_path / "c.zarr").read_features("m", "1").values
    res = CliRunner().invoke(main, [*args, str(tmp_path / "w1.pt")])
    lines = res.output.strip().splitlines()
    assert res.exit_code != 0 and len(lines) == 1, res.output
    assert "'features/m/1' is complete but the model differs" in lines[0] and "--overwrite" in lines[0], lines[0]
    np.testing.assert_array_equal(StudyStore(tmp_path / "c.zarr").read_features("m", "1").values, old)
    assert CliRunner().invoke(main, [*args, str(tmp_path / "w1.pt"), "--overwrite"]).exit_code == 0
    assert not np.allclose(StudyStore(tmp_path / "c.zarr").read_features("m", "1").values, old)


# ---------------------------------------------------------------------------- progress off a terminal
def test_progress_off_a_terminal_is_plain_lines(tmp_path, capfd, image_folder):
    from click.testing import CliRunner

    from neuroxr.cli import main

    x = torch.from_numpy(random_images(12))
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(tiny_cnn(), x, store, model_name="tiny", layers=["7"], batch_size=4, progress=True)
    err = capfd.readouterr().err
    assert "\r" not in err and err.strip().splitlines()[-1].endswith(": 3/3 batches"), err
    # the command line too: stderr captured (not a terminal), plain lines, none with --quiet
    (tmp_path / "netmod.py").write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))\n")
    args = ["extract", str(tmp_path / "c.zarr"), "--model", f"{tmp_path / 'netmod.py'}:net", "--model-name", "m",
            "--images", str(image_folder[0]), "--image-size", "16", "--batch-size", "5"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "\r" not in res.stderr and res.stderr.strip().splitlines()[-1].endswith(": 2/2 batches"), res.stderr
    res = CliRunner().invoke(main, [*args, "--overwrite", "--quiet"])
    assert res.exit_code == 0 and res.output == "", res.output


class _Refined(nn.Module):
    """Stimuli whose first input exceeds 5 go through ``a`` twice (data-dependent control flow)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        if bool((x[:, 0] > 5).any()):
            h = self.a(h)
        return self.b(h)


def test_a_module_running_twice_in_a_later_batch_is_refused_and_nothing_is_committed(tmp_path):
    """The probe saw one call; a batch calling ``a`` twice stored its second call's rows and committed ``a``
    (a re-run then skipped it) before ``b`` was found incomplete."""
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    x[4, 0] = 9.0
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"^module 'a' ran twice for one batch \(stimuli \['s4', 's5'\]") as e:
        extract_features(_Refined(), x, store, model_name="m", layers=["a", "b"], batch_size=2, progress=False,
                         stimulus_ids=[f"s{i}" for i in range(6)])
    assert "\n" not in str(e.value)
    assert store.layers("m") == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1e400"])
def test_memory_limit_that_is_no_finite_size_is_a_one_line_error(value):
    """NaN and inf raised Python's ValueError / OverflowError (the CLI said "internal error")."""
    with pytest.raises(ExtractionError, match=r"^memory_limit ") as e:
        parse_memory(value)
    assert "\n" not in str(e.value)


def test_on_layer_complete_that_is_no_function_is_refused_before_any_layer_is_written(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"^on_layer_complete must be a function"):
        extract_features(net, np.zeros((4, 4), dtype=np.float32), store, model_name="m", on_layer_complete=5,
                         progress=False)
    assert not (tmp_path / "s.zarr").exists() or store.layers("m") == []
