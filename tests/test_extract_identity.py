"""Tests of neuroxr.extract's identity versions 3 and 5: the modules' plain attributes, the hooks' flags,
the packages of the code and the values it reads from its module's globals count in the model
digest, and a layer of version 2 or 4 is checked on what that version covers, then refused.

Models are tiny torch modules with seeded weights; packages are written by the tests (a local
package, and one installed by a hand-made ``.dist-info``) and imported afresh after each edit.
"""

from __future__ import annotations

import importlib
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
from neuroxr.errors import NeuroxrWarning  # noqa: E402
from neuroxr.extract import ExtractionError, extract_features  # noqa: E402
from neuroxr.extract.code import code_digest  # noqa: E402
from neuroxr.extract.identity import IDENTITY_VERSION, model_digest, state_digest  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402


@pytest.fixture(autouse=True)
def _no_bytecode_cache(monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edited file is always compiled afresh


def inputs(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)


class Knobs(nn.Module):
    """A module whose output depends on plain attributes: a float, a str and a tuple."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.scale = 2.0
        self.mode = "sum"
        self.order = (0, 1, 2)

    def forward(self, x):
        y = self.fc(x)[:, list(self.order)] * self.scale
        return y.cumsum(1) if self.mode == "sum" else y.cummax(1).values


@pytest.mark.parametrize("attr, value", [("scale", 3.0), ("mode", "max"), ("order", (2, 1, 0))])
def test_a_rerun_after_changing_a_plain_attribute_is_refused_then_recomputed(tmp_path, attr, value):
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Knobs())
    kw = dict(model_name="m", layers=["0"], progress=False)
    extract_features(model, x, store, **kw)
    old = store.read_features("m", "0").values
    assert extract_features(model, x, store, **kw).skipped == ["0"]  # nothing changed: kept
    setattr(model[0], attr, value)
    with pytest.raises(ExtractionError, match="'features/m/0' is complete but the model differs.*overwrite=True"):
        extract_features(model, x, store, **kw)
    np.testing.assert_array_equal(store.read_features("m", "0").values, old)
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["0"]
    with torch.no_grad():
        expected = model(torch.tensor(x)).numpy()
    assert not np.allclose(expected, old)
    np.testing.assert_allclose(store.read_features("m", "0").values, expected, atol=1e-6)
    assert extract_features(model, x, store, **kw).skipped == ["0"]


def scaling_hook(module, args, *rest):
    """Doubles the output when called without the keyword arguments, triples it with them."""
    return rest[-1] * (3.0 if len(rest) == 2 else 2.0)


def test_a_hook_registered_with_other_flags_is_another_model(tmp_path):
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    kw = dict(model_name="m", layers=["1"], progress=False)
    handle = model[0].register_forward_hook(scaling_hook)
    extract_features(model, x, store, **kw)
    handle.remove()
    handle = model[0].register_forward_hook(scaling_hook, with_kwargs=True)  # the same function
    with pytest.raises(ExtractionError, match="'features/m/1' is complete but the model differs"):
        extract_features(model, x, store, **kw)
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["1"]
    with torch.no_grad():
        expected = torch.tanh(3.0 * nn.functional.linear(torch.tensor(x), model[0].weight, model[0].bias)).numpy()
    np.testing.assert_allclose(store.read_features("m", "1").values, expected, atol=1e-6)
    handle.remove()

    base = model_digest(model)
    digests = []
    for register, flags in ((model[0].register_forward_hook, {}), (model[0].register_forward_hook, {"always_call": True}),
                            (model[0].register_forward_pre_hook, {}),
                            (model[0].register_forward_pre_hook, {"with_kwargs": True})):
        handle = register(scaling_hook, **flags)
        digests.append(model_digest(model))
        handle.remove()
    assert len({base, *digests}) == 5
    assert model_digest(model) == base  # no trace of the removed hooks and their flags
    from torch.nn.modules.module import register_module_forward_hook

    for flags in ({}, {"with_kwargs": True}, {"always_call": True}):  # torch's global hooks
        handle = register_module_forward_hook(scaling_hook, **flags)
        try:
            digests.append(model_digest(model))
        finally:
            handle.remove()
    assert len(set(digests[-3:])) == 3 and model_digest(model) == base


KNOBMOD = '''import enum
import types

import numpy as np
import torch
from torch import nn


class Mode(enum.Enum):
    SUM = 1
    MAX = 2


def hook(module, args, kwargs, output):
    return output * 2


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.scale, self.mode, self.order = {scale}, "sum", (0, 1, 2)
        self.names = frozenset(["alpha", "beta", "gamma", "delta"])  # its order varies with PYTHONHASHSEED
        self.kinds = {{"x", "y", "z"}}
        self.config = {{"eps": 1e-5, "sizes": [1, 2], "act": torch.relu}}
        self.enum, self.dtype, self.device = Mode.MAX, torch.float32, torch.device("cpu")
        self.size, self.half = torch.Size([2, 3]), np.float32(0.5)
        self.act = torch.tanh
        self.other = types.SimpleNamespace(a=1)  # an object: by its class
        self.table = torch.arange(3.0)  # a tensor that is not a buffer: by its class
        self.fc.register_forward_hook(hook, with_kwargs=True)

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale
'''


def load(path: Path, name: str, text: str) -> object:
    """Write ``text`` to ``path`` and import it afresh as module ``name`` (not put in ``sys.modules``)."""
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_same_model_gives_the_same_digest_in_every_call_and_process(tmp_path):
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    net = load(tmp_path / "knobmod.py", "knobmod", KNOBMOD.format(scale=2.5)).Net()
    kw = dict(model_name="m", layers=["fc"], progress=False)
    extract_features(net, x, store, **kw)
    assert extract_features(net, x, store, **kw).skipped == ["fc"]  # after the passes, the same digest
    digest = model_digest(net)
    assert store.read_features("m", "fc").attrs["extraction_identity"]["model"] == digest
    assert model_digest(net.train()) == model_digest(net.eval()) == digest  # extraction runs in eval mode
    again = load(tmp_path / "knobmod.py", "knobmod", KNOBMOD.format(scale=2.5)).Net()
    assert model_digest(again) == digest
    script = ("import importlib.util, sys; from neuroxr.extract.identity import model_digest; "
              "spec = importlib.util.spec_from_file_location('knobmod', sys.argv[1]); "
              "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print(model_digest(m.Net()))")
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "knobmod.py").write_text(KNOBMOD.format(scale=3.5))
    root = str(Path(neuroxr.__file__).resolve().parents[1])
    for seed in ("1", "2"):  # string hashing (set and frozenset order) differs between these processes
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=root, PYTHONDONTWRITEBYTECODE="1")
        for folder, same in ((tmp_path, True), (tmp_path / "edited", False)):
            out = subprocess.run([sys.executable, "-c", script, str(folder / "knobmod.py")], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip()
            assert (out == digest) is same, folder


PACKAGES = ("localpkg", "fakepkg", "usesfake")
"""The packages the tests write."""


def forget_packages() -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in PACKAGES]:
        del sys.modules[name]


@pytest.fixture
def fresh_import(monkeypatch, tmp_path):
    """Import a module from ``tmp_path`` afresh: the tests' packages are forgotten before (and after)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def do(name: str) -> object:
        forget_packages()
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield do
    forget_packages()


def _net_source(imports: str, act: str) -> str:
    """A module's source with a small ``Net`` whose forward applies ``act`` (a name the imports give)."""
    return f'''{imports}
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return {act}(self.fc(x))
'''


LOCAL_NET = _net_source("from .helpers import act\n", "act")


def test_a_class_of_a_local_package_counts_by_its_files(tmp_path, fresh_import):
    pkg = tmp_path / "localpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text(LOCAL_NET)
    digests = {}
    for factor in ("2.0", "3.0"):  # a constant of the module of a helper: neither the class's nor the helper's code
        (pkg / "helpers.py").write_text(f"FACTOR = {factor}\n\n\ndef act(x):\n    return x * FACTOR\n")
        net = fresh_import("localpkg.net").Net()
        digests[factor] = ((state_digest(net), code_digest(net)), model_digest(net))
        with torch.no_grad():
            out = net(torch.tensor(inputs())).numpy()
            np.testing.assert_allclose(out, float(factor) * net.fc(torch.tensor(inputs())).numpy(), atol=1e-6)
    assert digests["2.0"][1] != digests["3.0"][1]
    assert digests["2.0"][0] == digests["3.0"][0]  # what version 2 covers (state, code) is the same
    (pkg / "net.py").write_text(LOCAL_NET + "\n# a comment\n")  # the class's own file
    assert model_digest(fresh_import("localpkg.net").Net()) != digests["3.0"][1]


USES_FAKE = _net_source("import fakepkg\n", "fakepkg.act")


def test_code_of_an_installed_distribution_counts_by_its_version_unless_editable(tmp_path, fresh_import):
    site = tmp_path / "site"
    (site / "fakepkg").mkdir(parents=True)
    (site / "usesfake").mkdir()
    (site / "usesfake" / "__init__.py").write_text("")
    (site / "usesfake" / "net.py").write_text(USES_FAKE)
    info = site / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("fakepkg/__init__.py,,\nfakepkg-1.0.dist-info/METADATA,,\n")
    sys.path.insert(0, str(site))
    try:
        def digest(version: str, body: str) -> str:
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
            (site / "fakepkg" / "__init__.py").write_text(f"def act(x):\n    return {body}\n")
            return model_digest(fresh_import("usesfake.net").Net())

        base = digest("1.0", "x * 2")
        assert digest("1.0", "x * 2 ") == base  # an installed file: its distribution's version names it
        assert digest("1.1", "x * 2") != base
        (info / "direct_url.json").write_text('{"url": "file:///src/fakepkg", "dir_info": {"editable": true}}')
        editable = digest("1.0", "x * 2")
        assert editable != base and digest("1.0", "x * 2 ") != editable  # editable: by its files
    finally:
        sys.path.remove(str(site))


def test_a_layer_recorded_with_identity_version_2_is_checked_on_what_it_covers_then_refused(tmp_path):
    import zarr

    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Knobs(), nn.Tanh())
    kw = dict(model_name="m", layers=["0", "1"], progress=False)
    extract_features(model, x, store, **kw)
    model.eval()  # as extraction runs it
    for path, digest in (("0", model_digest(model, 2)), ("1", "0" * 64)):  # as written before attributes counted
        group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / path), mode="r+")
        group.attrs["extraction_identity"] = dict(group.attrs["extraction_identity"], version=2, model=digest)
        as_older_writer(group)  # which recorded no digests
    with pytest.raises(ExtractionError, match="'features/m/1' is complete but the model differs"):
        extract_features(model, x, store, model_name="m", layers=["1"], progress=False)
    with pytest.raises(ExtractionError, match=r"'features/m/0' is complete but records an identity of version 2.*"
                                              r"does not cover the model's plain attributes.*overwrite=True.*layers="):
        extract_features(model, x, store, model_name="m", layers=["0"], progress=False)
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["0", "1"]
    assert extract_features(model, x, store, **kw).skipped == ["0", "1"]
    assert store.read_features("m", "0").attrs["extraction_identity"]["version"] == IDENTITY_VERSION


GAIN = 2.0  # read by Gained.forward from this module's globals
SHIFT = torch.zeros(3)


class Gained(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) * GAIN + SHIFT


@pytest.mark.parametrize("name, value", [("GAIN", 3.0), ("SHIFT", torch.ones(3))])
def test_a_global_value_the_code_reads_changed_after_import_is_refused_then_recomputed(tmp_path, monkeypatch, name, value):
    """A value set when the model's file ran (from the environment) or by a notebook after its import
    left the file, and so the digest, unchanged: the layer of the old value was skipped (0.7 off)."""
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Gained())
    kw = dict(model_name="m", layers=["0"], progress=False)
    extract_features(model, x, store, **kw)
    assert extract_features(model, x, store, **kw).skipped == ["0"]  # the same value: skipped
    monkeypatch.setitem(globals(), name, value)
    with pytest.raises(ExtractionError, match="'features/m/0' is complete but the model differs"):
        extract_features(model, x, store, **kw)
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["0"]
    want = model(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(store.read_features("m", "0").values, want, rtol=1e-6)


def test_a_layer_recorded_with_identity_version_4_is_refused_as_its_globals_are_unseen(tmp_path):
    import zarr

    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Gained())
    kw = dict(model_name="m", layers=["0"], progress=False)
    extract_features(model, x, store, **kw)
    model.eval()
    group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / "0"), mode="r+")
    group.attrs["extraction_identity"] = dict(group.attrs["extraction_identity"], version=4, model=model_digest(model, 4))
    as_older_writer(group)
    assert model_digest(model, 4) != model_digest(model)
    with pytest.raises(ExtractionError, match=r"identity of version 4.*does not cover the values the model's code reads"):
        extract_features(model, x, store, **kw)
    assert extract_features(model, x, store, overwrite=True, **kw).written == ["0"]
    assert store.read_features("m", "0").attrs["extraction_identity"]["version"] == IDENTITY_VERSION == 5


CALLS = 0
MEMO: dict[int, int] = {}


class Counting(nn.Module):
    """Keeps state in its module's globals: a counter it rebinds and a dict it fills."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        global CALLS
        CALLS += 1
        MEMO[CALLS] = len(x)
        return self.fc(x)


def test_globals_the_code_assigns_or_fills_are_state_and_a_rerun_is_skipped(tmp_path):
    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Counting())
    kw = dict(model_name="m", layers=["0"], progress=False)
    extract_features(model, x, store, **kw)
    calls = CALLS
    assert extract_features(model, x, store, **kw).skipped == ["0"] and calls > 0 and MEMO


def _identity(model="x", version=IDENTITY_VERSION):
    return {"version": version, "hash": "sha256", "model": model, "preprocessing": "p", "stimuli": "s", "inputs": "i",
            "stimuli_given": "array"}


# layer -> its recorded identity (None: none recorded, as a relative layer or one written by hand), the damage
# done to layer "b", and whether the model's layers are said to record different extractions
CASES = {
    "mixed": ({"a": _identity(), "b": _identity("y"), "c": _identity()}, None, True),
    "no_identity": ({"a": _identity(), "b": None, "c": _identity()}, None, False),
    "one_layer": ({"b": _identity("y")}, None, False),
    "two_versions": ({"a": _identity(), "b": _identity("y", 4), "c": _identity("z", 4)}, None, True),
    "older_apart": ({"a": _identity(), "b": _identity("y", 4), "c": _identity()}, None, False),
    "unfinished": ({"a": _identity(), "b": _identity("y"), "c": _identity()}, "unfinished", False),
    "lost_chunks": ({"a": _identity(), "b": _identity("y"), "c": _identity()}, "lost_chunks", False),
    "lost_ids": ({"a": _identity(), "b": _identity("y"), "c": _identity()}, "lost_ids", False),
    "identity_edited": ({"a": _identity(), "b": _identity(), "c": _identity()}, "identity_edited", False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_info_and_an_overwrite_compare_the_same_layers(tmp_path, case):
    """validate_store, neuroxr info and an extraction's overwrite (warn_mixed) say the same of a model
    (layer_identities): the identities of its complete, intact layers compared, per identity version;
    a layer without one, unfinished or damaged (its identity then untrusted) is not compared."""
    import shutil
    import warnings

    import zarr

    from neuroxr.cli._advice import cli_advice
    from neuroxr.cli.info import store_summary
    from neuroxr.extract.identity import layer_identities, warn_mixed
    from neuroxr.layouts import features
    from neuroxr.schemas import validate_store

    recorded, damage, said = CASES[case]
    st = StudyStore(tmp_path / "s.zarr")
    for layer, identity in recorded.items():
        attrs = {} if identity is None else {"extraction_identity": identity}
        st.write_features("m", layer, features(np.zeros((4, 2)), [f"s{i}" for i in range(4)], attrs=attrs))
    folder = Path(st.url) / "features" / "m" / "b"
    if damage in ("unfinished", "identity_edited"):
        group = zarr.open_group(str(folder), mode="r+")
        edit = {"neuroxr_complete": False} if damage == "unfinished" else {"extraction_identity": _identity("y")}
        group.attrs.put({**group.attrs, **edit})
    elif damage is not None:
        shutil.rmtree(folder / ("data/c" if damage == "lost_chunks" else "stimulus_id"))

    def notes(call):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            call()
        return [str(w.message) for w in got if "record different extractions" in str(w.message)]

    validated = notes(lambda: validate_store(StudyStore(st.url, mode="r")))
    overwrite = notes(lambda: warn_mixed(StudyStore(st.url, mode="r"), "m"))
    info = [d["problem"] for d in store_summary(StudyStore(st.url, mode="r"))["mixed_extractions"]]
    identities, problem = layer_identities(StudyStore(st.url, mode="r"), "m")
    assert validated == overwrite == ([problem] if said else [])
    assert info == [cli_advice(n) for n in validated]
    assert identities.get("b") == (recorded["b"] if damage is None else None)


@pytest.mark.parametrize("version", [[5], {"n": 5}, "5", True])
def test_an_identity_of_no_known_version_is_not_one_and_never_crashes(tmp_path, version):
    """A recorded identity whose version is no number this neuroxr knows (a list or a dict written by
    hand: unhashable) is of no known version: a re-run refuses the layer in one line (it cannot be
    checked), and validate_store, neuroxr info and the overwrite's warning compare it with its like,
    where they raised TypeError."""
    import warnings

    import zarr

    from neuroxr.cli.info import store_summary
    from neuroxr.extract.identity import warn_mixed
    from neuroxr.schemas import validate_store

    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Knobs(), nn.Tanh())
    kw = dict(model_name="m", progress=False)
    extract_features(model, x, store, layers=["0", "1"], **kw)
    for path, digest in (("0", "a"), ("1", "b")):
        group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / path), mode="r+")
        group.attrs["extraction_identity"] = dict(group.attrs["extraction_identity"], version=version, model=digest)
        as_older_writer(group)
    with pytest.raises(ExtractionError, match=r"'features/m/0' is complete but records no identity") as e:
        extract_features(model, x, store, layers=["0"], **kw)
    assert "\n" not in str(e.value)
    with pytest.warns(NeuroxrWarning, match=r"features/m: its layers record different extractions: the model differs"):
        validate_store(StudyStore(store.url, mode="r"))
    with pytest.warns(NeuroxrWarning, match=r"features/m: its layers record different extractions"):
        warn_mixed(StudyStore(store.url, mode="r"), "m")
    assert [d["model"] for d in store_summary(StudyStore(store.url, mode="r"))["mixed_extractions"]] == ["m"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert extract_features(model, x, store, layers=["0", "1"], overwrite=True, **kw).written == ["0", "1"]


@pytest.mark.parametrize("version", [2, 4])
def test_new_layers_of_another_network_beside_layers_of_an_older_identity_version_are_refused(tmp_path, version):
    """A model name whose stored layers record an older identity version (written by an earlier neuroxr)
    is checked on what that version covers before new layers are added: other weights differ in the
    model digest of that version, so they are refused in one line, not added as one network's layers
    (validate and info compare identities of one version only and would never say so); the same
    network's new layers are added."""
    import zarr

    store, x = StudyStore(tmp_path / "s.zarr"), inputs()
    model = nn.Sequential(Knobs(), nn.Tanh())
    kw = dict(model_name="m", progress=False)
    extract_features(model, x, store, layers=["0"], **kw)
    model.eval()
    group = zarr.open_group(str(tmp_path / "s.zarr" / "features" / "m" / "0"), mode="r+")
    group.attrs["extraction_identity"] = dict(group.attrs["extraction_identity"], version=version,
                                              model=model_digest(model, version))
    as_older_writer(group)
    other = nn.Sequential(Knobs(), nn.Tanh())
    with torch.no_grad():
        other[0].fc.weight.add_(1.0)
    with pytest.raises(ExtractionError, match=r"model 'm' holds layers of another extraction \(layer 'features/m/0': "
                                              r"the model differs") as e:
        extract_features(other, x, store, layers=["1"], **kw)
    assert "\n" not in str(e.value) and store.layers("m") == ["0"]
    assert extract_features(model, x, store, layers=["1"], **kw).written == ["1"]
