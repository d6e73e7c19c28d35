"""Tests of neuroxr.extract's model digest over the code a model runs: its classes' forward, an
instance's forward, forward hooks; a re-run with other code under the same model name is refused.

Models are tiny torch modules with seeded weights, some defined in files written by the test (so
their source can be read, re-read after an edit, and imported afresh in another process).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import as_older_writer  # noqa: E402
from torch import nn  # noqa: E402

import neuroxr  # noqa: E402
from neuroxr.extract import ExtractionError, extract_features  # noqa: E402
from neuroxr.extract.identity import IDENTITY_VERSION, model_digest, state_digest  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

NET = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out({inner})
"""


def load_net(path: Path, inner: str = "self.fc(x)") -> nn.Module:
    """Write ``netmod.py`` with ``Net.forward`` applying ``inner``, import it afresh, build a Net."""
    path.write_text(NET.format(inner=inner))
    spec = importlib.util.spec_from_file_location("netmod", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net()


@pytest.fixture(autouse=True)
def _no_bytecode_cache(monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edited file is always compiled afresh


def inputs(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)


def test_a_rerun_with_other_forward_code_is_refused_not_skipped(tmp_path):
    """Same class name, modules and weights; the edited forward adds a ReLU: never skipped."""
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    kw = dict(model_name="m", layers=["out"], progress=False)
    old_net = load_net(tmp_path / "netmod.py")
    extract_features(old_net, x, store, **kw)
    old = store.read_features("m", "out").values
    new_net = load_net(tmp_path / "netmod.py", "torch.relu(self.fc(x))")
    assert state_digest(new_net) == state_digest(old_net)  # only the code differs
    with pytest.raises(ExtractionError) as info:
        extract_features(new_net, x, store, **kw)
    msg = str(info.value)
    assert "layer 'features/m/out'" in msg and "the model differs" in msg and "overwrite=True" in msg, msg
    np.testing.assert_array_equal(store.read_features("m", "out").values, old)
    assert extract_features(new_net, x, store, overwrite=True, **kw).written == ["out"]
    with torch.no_grad():
        expected = new_net(torch.tensor(x)).numpy()
    np.testing.assert_allclose(store.read_features("m", "out").values, expected, atol=1e-6)
    assert extract_features(new_net, x, store, **kw).skipped == ["out"]


def test_the_same_code_gives_the_same_digest_in_every_call_and_process(tmp_path):
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    net = load_net(tmp_path / "netmod.py", "torch.tanh(self.fc(x)) * 2.5")
    extract_features(net, x, store, model_name="m", layers=["out"], progress=False)
    again = load_net(tmp_path / "netmod.py", "torch.tanh(self.fc(x)) * 2.5")  # a fresh import of the same file
    assert model_digest(net) == model_digest(net) == model_digest(again)
    assert extract_features(again, x, store, model_name="m", layers=["out"], progress=False).skipped == ["out"]
    script = ("import importlib.util, sys; from neuroxr.extract.identity import model_digest; "
              "spec = importlib.util.spec_from_file_location('netmod', sys.argv[1]); "
              "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print(model_digest(m.Net()))")
    (tmp_path / "edited").mkdir()
    load_net(tmp_path / "edited" / "netmod.py", "torch.tanh(self.fc(x)) * 3.5")  # an edit a fresh import sees
    root = str(Path(neuroxr.__file__).resolve().parents[1])
    for seed in ("1", "2"):  # string hashing (set and frozenset order) differs between these processes
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=root, PYTHONDONTWRITEBYTECODE="1")
        for folder, same in ((tmp_path, True), (tmp_path / "edited", False)):
            out = subprocess.run([sys.executable, "-c", script, str(folder / "netmod.py")], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip()
            assert (out == model_digest(net)) is same, folder


def test_a_model_file_spec_gives_one_digest_wherever_the_file_lies(tmp_path):
    """``load_model("path/file.py:factory")`` names the module by the file's content, not its path nor
    ``hash()`` (which varies with PYTHONHASHSEED): a re-run in another process, or of the project
    moved elsewhere, skips the layers it wrote; another file content is another model."""
    from neuroxr.extract.models import load_model

    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    for folder, inner in (("a", "self.fc(x)"), ("b", "self.fc(x)"), ("c", "self.fc(x) * 2")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "netmod.py").write_text(NET.format(inner=inner))
    a, b, c = (load_model(f"{tmp_path / f / 'netmod.py'}:Net") for f in "abc")
    assert model_digest(a) == model_digest(b) != model_digest(c)
    extract_features(a, x, store, model_name="m", layers=["out"], progress=False)
    assert extract_features(b, x, store, model_name="m", layers=["out"], progress=False).skipped == ["out"]


def test_an_instance_forward_or_a_forward_hook_changes_the_digest(tmp_path):
    net = load_net(tmp_path / "netmod.py")
    base = model_digest(net)

    def doubled(x):
        return net.out(net.fc(x)) * 2

    net.forward = doubled
    assert model_digest(net) != base
    del net.forward
    assert model_digest(net) == base

    def scaled(scale):
        return lambda module, args, output: output * scale

    digests = []
    for register, scale in ((net.fc.register_forward_hook, 2.0), (net.fc.register_forward_hook, 3.0),
                            (net.out.register_forward_pre_hook, 2.0)):
        handle = register(scaled(scale))
        digests.append(model_digest(net))
        handle.remove()
        assert model_digest(net) == base
    assert len({base, *digests}) == 4  # a hook, its closure's value, where it is registered: each counts
    handle = net.fc.register_forward_hook(scaled(2.0))  # registered again: another id, the same digest
    assert model_digest(net) == digests[0]
    handle.remove()


SCRATCH = """
from torch import nn

def act(x):
    return {act}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return act(self.fc(x)){tail}
"""


def scratch_net(act: str = "x", tail: str = "") -> nn.Module:
    """A Net defined by ``exec`` (no source to read), as in a REPL, with seeded weights."""
    namespace = {"__name__": "scratch"}
    exec(SCRATCH.format(act=act, tail=tail), namespace)
    torch.manual_seed(0)
    return namespace["Net"]()


def test_a_class_without_source_is_covered_by_its_bytecode():
    import inspect

    base = scratch_net()
    with pytest.raises((OSError, TypeError)):
        inspect.getsource(type(base))
    assert model_digest(scratch_net()) == model_digest(base)
    assert model_digest(scratch_net(tail=" + 1")) != model_digest(base)  # forward's own code
    assert model_digest(scratch_net(act="x.relu()")) != model_digest(base)  # a helper it calls
    assert state_digest(scratch_net(tail=" + 1")) == state_digest(base)

    def forward(self, x):
        return self.fc(x)

    def forward_relu(self, x):
        return self.fc(x).relu()

    made = [type("Made", (nn.Module,), {"forward": fn}) for fn in (forward, forward_relu)]
    nets = []
    for cls in made:
        net = cls()
        torch.manual_seed(0)
        net.fc = nn.Linear(4, 3)
        nets.append(net)
    assert state_digest(nets[0]) == state_digest(nets[1]) and model_digest(nets[0]) != model_digest(nets[1])


SEEN: list[str] = []
"""The digests :class:`Spy` records (kept off the module: a list of strings on it is a plain attribute,
which the digest covers, so it would change the digest it records)."""


class Spy(nn.Module):
    """Records the model digest from inside its own forward, while neuroxr's hooks are registered."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        SEEN.append(model_digest(self))
        return self.out(self.fc(x))


def test_neuroxrs_own_capture_hooks_are_left_out_and_a_users_hook_counts(tmp_path):
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    spy = Spy()
    SEEN.clear()
    handle = spy.fc.register_forward_hook(lambda module, args, output: output + 1)
    with_hook = model_digest(spy)
    extract_features(spy, x, store, model_name="m", layers=["fc", "out"], progress=False)
    assert len(SEEN) >= 2 and set(SEEN) == {with_hook}  # the probe's and the pass's hooks are not seen
    assert store.read_features("m", "out").attrs["extraction_identity"]["model"] == with_hook
    handle.remove()
    assert model_digest(spy) != with_hook
    with pytest.raises(ExtractionError, match="'features/m/fc' is complete but the model differs"):
        extract_features(spy, x, store, model_name="m", layers=["fc"], progress=False)


def test_a_layer_recorded_with_identity_version_1_is_checked_on_what_it_covers_then_refused(tmp_path):
    import zarr

    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    net = load_net(tmp_path / "netmod.py")
    kw = dict(model_name="m", layers=["fc", "out"], progress=False)
    extract_features(net, x, store, **kw)
    for path, model in (("fc", state_digest(net)), ("out", "0" * 64)):  # as written before the code counted
        group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / path), mode="r+")
        group.attrs["extraction_identity"] = dict(group.attrs["extraction_identity"], version=1, model=model)
        as_older_writer(group)  # which recorded no digests
    with pytest.raises(ExtractionError, match="'features/m/out' is complete but the model differs"):
        extract_features(net, x, store, model_name="m", layers=["out"], progress=False)
    with pytest.raises(ExtractionError, match=r"'features/m/fc' is complete but records an identity of version 1.*"
                                              r"does not cover the model's code.*overwrite=True.*layers="):
        extract_features(net, x, store, model_name="m", layers=["fc"], progress=False)
    assert extract_features(net, x, store, overwrite=True, **kw).written == ["fc", "out"]
    assert extract_features(net, x, store, **kw).skipped == ["fc", "out"]
    assert store.read_features("m", "fc").attrs["extraction_identity"]["version"] == IDENTITY_VERSION
