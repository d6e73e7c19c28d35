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
    (["--layer", "nope"], "Invalid value for '--layer': the model has no module 'nope'"),
    (["--model-name", "a/b"], "Invalid value for '--model-name': invalid model name 'a/b'"),
    (["--memory-limit", "1KiB"], "--memory-limit 1.0 KiB is below the 256.0 KiB reserved"),
    (["--reduction", "pca", "--n-components", "5"], "PCA with --n-components 5 needs at least 5 fit stimuli"),
    # docs/extract.md: a PCA fitted on every stimulus draws nothing with its seed (it was stored as if it did)
    (["--reduction", "pca", "--n-components", "2", "--seed", "5"],
     "--seed 5 has no effect on a PCA fitted on every one of the 3 stimuli (it draws the --fit-stimuli subset); "
     "drop it or pass --fit-stimuli below 3."),
])
def test_cli_values_the_extraction_cannot_use_are_usage_errors(tmp_path, extra, says):
    """cli.md: a value the command cannot use is a usage error (exit 2), whether the command line or the library
    checked it. A --layer the model lacks, a --model-name no set can have, a --memory-limit below the reserve and
    more --n-components than stimuli to fit were the library's errors (exit 1); none makes a store."""
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
    args += [] if "--model-name" in extra else ["--model-name", "m"]
    args += [] if "--layer" in extra else ["--layer", "1"]
    res = CliRunner().invoke(main, args + extra)
    assert res.exit_code == 2, res.output
    assert says in res.output and res.output.count("Error:") == 1
    assert not (tmp_path / "s.zarr").exists()


class _Positions(nn.Module):
    """Token and absolute position embeddings, then a linear layer: a text's features depend on where its
    tokens are (BERT's and GPT-2's positions), so padding on the left would change them."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.words, self.positions, self.out = nn.Embedding(vocab, 8), nn.Embedding(32, 8), nn.Linear(8, 3)

    def tokens(self, input_ids):
        return self.words(input_ids) + self.positions(torch.arange(input_ids.shape[1]))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.out(self.tokens(input_ids))


class _WantingLock:
    """Stands in for the extraction's tokenizer lock: says when thread B asks for it, then takes it."""

    def __init__(self, lock, wants: threading.Event) -> None:
        self.lock, self.wants = lock, wants

    def __enter__(self):
        if threading.current_thread().name == "B":
            self.wants.set()
        return self.lock.__enter__()

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)


def test_two_text_extractions_sharing_a_tokenizer_pad_on_the_right_and_leave_its_side(tmp_path, monkeypatch):
    """docs/extract.md: texts are padded on the right whatever the tokenizer's padding_side. Each tokenization
    set padding_side to 'right' for its call and put back the side it found: A (found 'left') put 'left' back
    while B, sharing the tokenizer in another thread, was in its call, so B's batch was padded on the left
    (its shorter texts' positions shifted: other features, stored silently), and B put back the 'right' it had
    found (A's), so the tokenizer was left padding on the right. Tokenizations of one process take turns."""
    transformers = pytest.importorskip("transformers")
    from transformers.utils import PaddingStrategy

    import neuroxr.extract.preprocess as preprocess

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
    texts = ["the cat sat on the mat", "a dog", "the dog ran far", "a cat sat", "the mat", "dog"]
    tok = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    tok.padding_side = "left"
    torch.manual_seed(0)
    net = _Positions(len(vocab))
    a_inside, go_a, a_returned, b_wants = (threading.Event() for _ in range(4))
    padded = {"A": 0, "B": 0}
    original = type(tok)._encode_plus

    def encode(self, *args, **kwargs):
        name = threading.current_thread().name
        if name in padded and kwargs.get("padding_strategy") == PaddingStrategy.MAX_LENGTH:
            padded[name] += 1
            if name == "A" and padded[name] == 1:  # A in its first padded call, 'right' set for it
                a_inside.set()
                assert go_a.wait(20)  # until B is in its pass's first batch (or waits for its turn)
                try:
                    return original(self, *args, **kwargs)
                finally:
                    a_returned.set()
            if name == "B" and padded[name] == 3:  # B's pass's first batch (the probe tokenized twice)
                go_a.set()
                if not b_wants.is_set():  # A and B at once: B reads the side once A has put its own back
                    assert a_returned.wait(20)
                    for _ in range(500):
                        if self.padding_side == "left":
                            break
                        threading.Event().wait(0.01)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tok), "_encode_plus", encode)
    lock = getattr(preprocess, "_TOKENIZING", None)
    if lock is not None:
        monkeypatch.setattr(preprocess, "_TOKENIZING", _WantingLock(lock, b_wants))
    b_wants_or_here = threading.Thread(target=lambda: b_wants.wait(20) and go_a.set())  # B's turn asked: A goes on
    b_wants_or_here.start()
    kw = dict(layers=["out"], transform=tok, batch_size=4, model_name="m", progress=False)
    a, out_a = _run("A", lambda: extract_features(net, texts, tmp_path / "a.zarr", **kw))
    try:
        assert a_inside.wait(20)
        b, out_b = _run("B", lambda: extract_features(net, texts, tmp_path / "b.zarr", **kw))
        b.join(30)
        a.join(30)
    finally:
        go_a.set()
        b_wants.set()
        b_wants_or_here.join(20)
    assert not isinstance(out_a[0], BaseException), out_a[0]
    assert not isinstance(out_b[0], BaseException), out_b[0]
    with torch.no_grad():  # each text alone, without padding: what mask-aware mean pooling must give
        ref = np.stack([net.out(net.tokens(tok([t], return_tensors="pt")["input_ids"]))[0].mean(0).numpy()
                        for t in texts])
    for name in ("a", "b"):
        np.testing.assert_allclose(_stored(tmp_path / f"{name}.zarr", "out"), ref, rtol=1e-5, atol=1e-6)
    assert tok.padding_side == "left"
