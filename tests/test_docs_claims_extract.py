"""docs/extract.md's promises checked with small torch models, and extractions of one model object
run by two threads at once (a sweep's workers, a thread pool): each race is forced at its moment
(a patched function or a module holding one thread while the other runs), not by timing."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import neuroxr.extract.run as run_module  # noqa: E402
from neuroxr.extract import extract_features  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
KW = dict(model_name="m", batch_size=2, progress=False)


def _run(name, fn):
    """Start ``fn`` in a thread called ``name``; its result or error in the returned list once joined."""
    out = []

    def run():
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            out.append(exc)

    t = threading.Thread(target=run, name=name)
    t.start()
    return t, out


def _stored(path, layer):
    return np.asarray(StudyStore(path).read_features("m", layer).values)


def _reference(model, x, depth):
    """Layer ``depth`` of the Sequential ``model`` in eval mode, called module by module."""
    was = model.training
    model.eval()
    h = torch.from_numpy(x)
    with torch.no_grad():
        for m in list(model)[: depth + 1]:
            h = m(h)
    model.train(was)
    return h.numpy()


@pytest.mark.parametrize("b_runs", ["the model", "a submodule"])
def test_an_extraction_ending_leaves_the_model_in_eval_mode_for_one_still_running(tmp_path, monkeypatch, b_runs):
    """A (first to put the model in eval mode) ends while B, on the same model object (or a submodule of it),
    is still planning: A put each module's training flag back (True: a freshly built model) under B, whose
    passes then ran with dropout on, storing features of random masks; and B's own ending left the model
    in eval mode. The last extraction running a module to end puts its flag back, as it was before the
    first began."""
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model = nn.Sequential(inner, nn.Linear(3, 2))
    assert model.training
    held = {name: (threading.Event(), threading.Event()) for name in ("A", "B")}
    original = run_module.build_plan

    def holding(*args, **kwargs):  # after the extraction put the model in eval mode, before any pass
        inside, go = held[threading.current_thread().name]
        inside.set()
        assert go.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(run_module, "build_plan", holding)
    xb = X[::-1].copy()
    b_model, b_layer = (model, "0.2") if b_runs == "the model" else (inner, "2")
    a, out_a = _run("A", lambda: extract_features(model, X, tmp_path / "a.zarr", layers=["0.2"], **KW))
    assert held["A"][0].wait(20)
    b, out_b = _run("B", lambda: extract_features(b_model, xb, tmp_path / "b.zarr", layers=[b_layer], **KW))
    assert held["B"][0].wait(20)
    held["A"][1].set()
    a.join(20)
    held["B"][1].set()
    b.join(20)
    assert not isinstance(out_a[0], BaseException), out_a[0]
    assert not isinstance(out_b[0], BaseException), out_b[0]
    np.testing.assert_allclose(_stored(tmp_path / "a.zarr", "0.2"), _reference(inner, X, 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_stored(tmp_path / "b.zarr", b_layer), _reference(inner, xb, 2), rtol=1e-5, atol=1e-6)
    assert all(m.training for m in model.modules())  # as before the first extraction


class _Gate(nn.Module):
    """Holds thread B in its forward call number ``at`` (in B), until ``go`` is set."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.calls = types.SimpleNamespace(n=0)  # an object counts by its class: the digest stays the same
        self.inside, self.go = threading.Event(), threading.Event()

    def forward(self, h):
        if threading.current_thread().name == "B":
            self.calls.n += 1
            if self.calls.n == self.at:
                self.inside.set()
                assert self.go.wait(20)
        return h


def test_an_extraction_runs_apart_from_another_of_the_same_model_mid_pass(tmp_path):
    """B is in the forward call of its first batch (its capture hooks on the model) when A extracts the
    same model object: A's forward passes ran B's hooks (A's outputs handed to B's writer as B's rows,
    B's pass stopped by A's batch), which broke both. Each extraction's hooks act on its own thread's
    forward passes only."""
    torch.manual_seed(0)
    gate = _Gate(at=3)  # B's probe calls the model twice, then its batches
    model = nn.Sequential(nn.Linear(4, 8), gate, nn.ReLU(), nn.Linear(8, 3)).eval()
    xa = np.random.default_rng(1).normal(size=(4, 4)).astype(np.float32)
    b, out_b = _run("B", lambda: extract_features(model, X, tmp_path / "b.zarr", layers=["3"], **KW))
    assert gate.inside.wait(20)
    try:
        res_a = extract_features(model, xa, tmp_path / "a.zarr", layers=["0", "3"], **KW)
    finally:
        gate.go.set()
        b.join(20)
    assert res_a.written == ["0", "3"]
    assert not isinstance(out_b[0], BaseException), out_b[0]
    np.testing.assert_allclose(_stored(tmp_path / "a.zarr", "3"), _reference(model, xa, 3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_stored(tmp_path / "a.zarr", "0"), _reference(model, xa, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_stored(tmp_path / "b.zarr", "3"), _reference(model, X, 3), rtol=1e-5, atol=1e-6)


class _HeldHook:
    """A user's forward hook (a callable object, counted in the model digest) that holds thread A the first
    time the digest asks it whether it is neuroxr's own (while going through its module's hooks)."""

    def __init__(self) -> None:
        self.inside, self.go = threading.Event(), threading.Event()

    def __call__(self, module, inputs, output):
        return None

    def __getattr__(self, name):
        from neuroxr.extract.code import OWN_HOOK

        if name == OWN_HOOK and threading.current_thread().name == "A" and not self.inside.is_set():
            self.inside.set()
            assert self.go.wait(20)
        raise AttributeError(name)


def test_the_model_digest_goes_through_hooks_another_extraction_registers_meanwhile(tmp_path):
    """A goes through a module's forward hooks for its model digest while B, extracting the same model
    object, registers its capture hooks on that module: 'dictionary changed size during iteration', a
    traceback. The digest goes through a snapshot of each module's hooks (B's own are left out of it)."""
    torch.manual_seed(0)
    gate = _Gate(at=1)  # B held in its probe's forward call, its hooks on every module
    model = nn.Sequential(nn.Linear(4, 8), gate, nn.ReLU(), nn.Linear(8, 3)).eval()
    held = _HeldHook()
    model[0].register_forward_hook(held)
    model[0].register_forward_hook(lambda module, inputs, output: None)  # a hook after it: the walk goes on
    a, out_a = _run("A", lambda: extract_features(model, X, tmp_path / "a.zarr", layers=["3"], **KW))
    assert held.inside.wait(20)
    b, out_b = _run("B", lambda: extract_features(model, X, tmp_path / "b.zarr", layers=["3"], **KW))
    try:
        assert gate.inside.wait(20)
    finally:
        held.go.set()
        a.join(20)
        gate.go.set()
        b.join(20)
    assert not isinstance(out_a[0], BaseException), out_a[0]
    assert not isinstance(out_b[0], BaseException), out_b[0]
    for name in ("a", "b"):
        np.testing.assert_allclose(_stored(tmp_path / f"{name}.zarr", "3"), _reference(model, X, 3), rtol=1e-5, atol=1e-6)
    a_id = StudyStore(tmp_path / "a.zarr").read_features("m", "3").attrs["extraction_identity"]
    b_id = StudyStore(tmp_path / "b.zarr").read_features("m", "3").attrs["extraction_identity"]
    assert a_id["model"] == b_id["model"]


@pytest.mark.parametrize("seed, code", [(2**32, 2), (2**32 - 1, 0)])
def test_cli_a_seed_past_its_range_is_a_usage_error_naming_it(tmp_path, seed, code):
    """docs/extract.md: a reduction's seed is an int from 0 to 2**32 - 1; cli.md: a value the command cannot
    use is a usage error (exit 2) naming its option. --seed 4294967296 passed the option's check and failed in
    the library (exit 1, 'reduction seed must be ...', no '--seed'), before any store was made all the same."""
    from click.testing import CliRunner
    from PIL import Image

    from neuroxr.cli import main

    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "imgs" / f"i{i}.png")
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef make():\n    return nn.Sequential(nn.Flatten(), "
                                   "nn.Linear(3 * 8 * 8, 4))\n")
    args = ["extract", str(tmp_path / "s.zarr"), "--images", str(tmp_path / "imgs"), "--model", f"{tmp_path / 'm.py'}:make",
            "--model-name", "m", "--image-size", "8", "--layer", "1", "--no-progress", "--reduction", "srp",
            "--n-components", "2", "--seed", str(seed)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == code, res.output
    if code:
        assert "Error: Invalid value for '--seed': 4294967296 is not in the range" in res.output
        assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("extra, says", [
    (["--memory-limit", "1KiB"], "--memory-limit 1.0 KiB is below the 256.0 KiB reserved"),
    (["--reduction", "pca", "--n-components", "5"], "PCA with --n-components 5 needs at least 5 fit stimuli"),
])
def test_cli_values_the_extraction_cannot_use_are_usage_errors(tmp_path, extra, says):
    """cli.md: a value the command cannot use is a usage error (exit 2), whether the command line or the library
    checked it. A --memory-limit below the reserve and more --n-components than stimuli to fit were the library's
    errors (exit 1); neither makes a store."""
    from click.testing import CliRunner
    from PIL import Image

    from neuroxr.cli import main

    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "imgs" / f"i{i}.png")
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef make():\n    return nn.Sequential(nn.Flatten(), "
                                   "nn.Linear(3 * 8 * 8, 16))\n")
    args = ["extract", str(tmp_path / "s.zarr"), "--images", str(tmp_path / "imgs"), "--model", f"{tmp_path / 'm.py'}:make",
            "--image-size", "8", "--no-progress"]
    res = CliRunner().invoke(main, args + ["--model-name", "m", "--layer", "1"] + extra)
    assert res.exit_code == 2, res.output
    assert says in res.output and res.output.count("Error:") == 1
    assert not (tmp_path / "s.zarr").exists()
