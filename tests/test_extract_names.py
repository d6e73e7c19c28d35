"""Tests of neuroxr.extract's layer names: a stored layer's name identifies one module of the model,
whatever the selection, and ``layers=[...]`` takes a module's own name or its layer name."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neuroxr.extract import ExtractionError, extract_features, plan_extraction  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402


class Fcs(nn.Module):
    """Modules '_fc' (store-safe form 'fc') and 'fc', and optionally one called 'fc-1'."""

    def __init__(self, with_suffix_name: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self._fc = nn.Linear(6, 5)
        self.fc = nn.Linear(5, 4)
        self.last = nn.Linear(4, 3) if not with_suffix_name else None
        if with_suffix_name:
            self.add_module("fc-1", nn.Linear(4, 3))

    def forward(self, x):
        h = self.fc(torch.tanh(self._fc(x)))
        return (self.last if self.last is not None else getattr(self, "fc-1"))(h)


def inputs(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 6)).astype(np.float32)


def names_of(plan) -> dict[str, str]:
    return {lp.module_name: lp.name for lp in plan.layers}


def test_a_module_keeps_its_layer_name_whatever_is_selected():
    """'_fc' and 'fc' were named 'fc' and 'fc-1' when both were selected but 'fc' alone was 'fc': layer
    'fc' held module '_fc', and a module's name changed with the selection."""
    model, x = Fcs(), inputs()
    expected = {"_fc": "fc-1", "fc": "fc", "last": "last"}
    for k in (1, 2, 3):
        for chosen in itertools.combinations(expected, k):
            assert names_of(plan_extraction(model, x, layers=list(chosen))) == {m: expected[m] for m in chosen}
    assert names_of(plan_extraction(model, x)) == expected


def test_the_stored_layer_of_a_module_name_holds_that_modules_output(tmp_path):
    model, x = Fcs(), inputs()
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, x, store, model_name="net", progress=False)
    with torch.no_grad():
        own = torch.tanh(model._fc(torch.tensor(x)))
        fc = model.fc(own).numpy()
        under = model._fc(torch.tensor(x)).numpy()
    assert np.allclose(store.read_features("net", "fc").values, fc, atol=1e-6)
    assert np.allclose(store.read_features("net", "fc-1").values, under, atol=1e-6)
    assert store.read_features("net", "fc").attrs["module_name"] == "fc"


def test_a_suffixed_name_is_never_another_modules_own_name():
    """With a module called 'fc-1', '_fc' is 'fc-2'; the old naming gave 'fc-1' to another module."""
    model, x = Fcs(with_suffix_name=True), inputs()
    assert names_of(plan_extraction(model, x)) == {"_fc": "fc-2", "fc": "fc", "fc-1": "fc-1"}
    assert names_of(plan_extraction(model, x, layers=["_fc"])) == {"_fc": "fc-2"}


class Output(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.output = nn.Linear(6, 3)

    def forward(self, x):
        return torch.tanh(self.output(x))


def test_the_whole_model_is_not_stored_under_a_modules_name():
    """The whole model ('') was layer 'output' even where a module is called 'output'."""
    model, x = Output(), inputs()
    assert names_of(plan_extraction(model, x, layers=lambda n, m: n == "")) == {"": "output-1"}
    assert names_of(plan_extraction(model, x, layers=lambda n, m: True)) == {"": "output-1", "output": "output"}


def test_the_printed_plan_shows_the_module_a_renamed_layer_holds():
    """`neuroxr extract --dry-run` printed layer names only: `fc-1` holding module `_fc` was traceable in
    `plan.to_dataframe()` alone."""
    text = str(plan_extraction(Fcs(), inputs()))
    assert "fc-1 <- _fc" in text
    rows = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert "<-" not in rows["fc"] and "<-" not in rows["last"]
    text = str(plan_extraction(Output(), inputs(), layers=lambda n, m: True))
    assert "output-1 <- <model>" in text


def test_the_printed_plan_names_no_transform_for_an_array_fed_as_is():
    """The plan printed the default image transform as the preprocessing of an array that is fed as is
    (the stored attrs rightly record none)."""
    text = str(plan_extraction(Fcs(), inputs()))
    assert "preprocessing: none (array fed as is)" in text and "default_image_transform" not in text


def test_layers_takes_a_module_by_its_layer_name():
    model, x = Fcs(), inputs()
    assert names_of(plan_extraction(model, x, layers=["fc-1"])) == {"_fc": "fc-1"}
    assert names_of(plan_extraction(model, x, layers=["fc"])) == {"fc": "fc"}  # its own name comes first
    with pytest.raises(ExtractionError, match=r"lists a module twice"):
        plan_extraction(model, x, layers=["_fc", "fc-1"])


class Colliding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.d = nn.ModuleDict({"a b": nn.Linear(6, 4), "a:b": nn.Linear(4, 3)})

    def forward(self, x):
        return self.d["a:b"](self.d["a b"](x))


def test_modules_whose_store_safe_names_collide_get_names_in_registration_order():
    model, x = Colliding(), inputs()
    assert names_of(plan_extraction(model, x, layers=["d.a:b"])) == {"d.a:b": "d.a_b-1"}
    assert names_of(plan_extraction(model, x)) == {"d.a b": "d.a_b", "d.a:b": "d.a_b-1"}
    assert names_of(plan_extraction(model, x, layers=["d.a_b-1"])) == {"d.a:b": "d.a_b-1"}
    with pytest.raises(ExtractionError, match=r"^layers: 'd\.a_b' could mean several modules.*'d\.a b' \(layer "
                       r"'d\.a_b'\), 'd\.a:b' \(layer 'd\.a_b-1'\); pass the module's own name\.$"):
        plan_extraction(model, x, layers=["d.a_b"])


def test_layer_names_depend_on_the_model_only():
    from neuroxr.extract._common import layer_names

    names = ["", "conv", "conv.1", "conv_1", "_conv_1", "output", "x y", "x:y", "x_y-1"]
    assert layer_names(names) == {"": "output-1", "conv": "conv", "conv.1": "conv.1", "conv_1": "conv_1",
                                  "_conv_1": "conv_1-1", "output": "output", "x y": "x_y", "x:y": "x_y-2",
                                  "x_y-1": "x_y-1"}
    # a second name of a module (``self.b = self.a``) is its name too: no other module is stored under it
    assert layer_names(["", "a", "_b"], ["", "a", "b", "_b"]) == {"": "output", "a": "a", "_b": "b-1"}


def test_a_store_of_the_old_names_is_refused_not_reused(tmp_path, monkeypatch):
    """A store written when '_fc' was named 'fc' (both selected): every re-run that maps a stored name
    to another module is refused, never skipped; overwrite=True stores each module under its name."""
    import neuroxr.extract.plan as plan_module

    model, x = Fcs(), inputs()
    store = StudyStore(tmp_path / "s.zarr")
    with monkeypatch.context() as m:  # the naming of an older neuroxr
        m.setattr(plan_module, "model_layer_names", lambda model: {"": "output", "_fc": "fc", "fc": "fc-1", "last": "last"})
        extract_features(model, x, store, model_name="net", layers=["_fc", "fc"], progress=False)
    assert store.read_features("net", "fc").attrs["module_name"] == "_fc"
    for layers in (["fc"], ["_fc"], None):
        with pytest.raises(ExtractionError, match=r"holds the output of module '(_fc|fc)'.*stores module "
                           r"'(fc|_fc)' under that name.*overwrite=True"):
            extract_features(model, x, store, model_name="net", layers=layers, progress=False)
    assert extract_features(model, x, store, model_name="net", layers=["last"], progress=False).written == ["last"]
    redone = extract_features(model, x, store, model_name="net", layers=["_fc", "fc"], overwrite=True, progress=False)
    assert sorted(redone.written) == ["fc", "fc-1"]
    assert store.read_features("net", "fc").attrs["module_name"] == "fc"
    assert store.read_features("net", "fc-1").attrs["module_name"] == "_fc"


def test_a_module_stored_under_an_old_name_is_not_stored_twice(tmp_path, monkeypatch):
    """An older neuroxr stored module '_fc', extracted alone, as layer 'fc'. Extracting '_fc' again wrote it as
    'fc-1' without a word, leaving 'fc' naming '_fc's output beside it (read_features('net', 'fc'), a sweep or
    score then got another module than the model's 'fc'): refused in one line; re-extracting 'fc' mends it."""
    import neuroxr.extract.plan as plan_module

    model, x = Fcs(), inputs()
    store = StudyStore(tmp_path / "s.zarr")
    with monkeypatch.context() as m:  # the naming of an older neuroxr: '_fc' alone took 'fc'
        m.setattr(plan_module, "model_layer_names", lambda model: {"": "output", "_fc": "fc", "fc": "fc-1", "last": "last"})
        extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False)
    with pytest.raises(ExtractionError, match=r"layer 'features/net/fc' holds module '_fc', which this extraction stores "
                                              r"as layer 'fc-1'.*\(every layer\) with overwrite=True \(neuroxr extract --overwrite\), or delete layer 'fc' "
                                              r"first\.$"):
        extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False)
    assert store.layers("net") == ["fc"]
    extract_features(model, x, store, model_name="net", layers=["fc"], overwrite=True, progress=False)
    assert extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False).written == ["fc-1"]
    assert {lay: store.read_features("net", lay).attrs["module_name"] for lay in store.layers("net")} == {"fc": "fc", "fc-1": "_fc"}


class CaseOnly(nn.Module):
    """Modules '_fc' (store-safe form 'fc') and 'Fc': one folder on a case-insensitive file system."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self._fc = nn.Linear(6, 5)
        self.Fc = nn.Linear(5, 4)

    def forward(self, x):
        return self.Fc(torch.tanh(self._fc(x)))


def test_a_made_layer_name_never_differs_only_in_case_from_another_modules(tmp_path):
    """'_fc' was named 'fc' beside a module 'Fc': the store refuses the two layers (differing only in case)
    and told the user to rename a layer whose name the extraction decides, so the model could not be
    extracted whole (nor '_fc' beside a stored 'Fc')."""
    model, x = CaseOnly(), inputs()
    assert names_of(plan_extraction(model, x)) == {"_fc": "fc-1", "Fc": "Fc"}
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(model, x, store, model_name="net", layers=["Fc"], progress=False)
    extract_features(model, x, store, model_name="net", layers=["_fc"], progress=False)
    assert sorted(store.layers("net")) == ["Fc", "fc-1"]
