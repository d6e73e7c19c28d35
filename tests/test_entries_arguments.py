"""compute / lookup / score refuse arguments of the wrong type in one line naming them, where a string
flag was read as true (``overwrite="no"`` recomputed, ``require_existing="no"`` forbade computing)
and a ``params`` or ``options`` that is no mapping failed with ``dict()``'s ValueError or was read
as a list of pairs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import latent_study

import neuroxr as nx
from neuroxr.entries import compute, list_entries, lookup
from neuroxr.errors import ParameterError


@pytest.fixture
def st(tmp_path):
    store, *_ = latent_study(tmp_path / "s.zarr", 0, 24, 6)
    return store


@pytest.mark.parametrize("flag", ["overwrite", "require_existing"])
@pytest.mark.parametrize("value", ["no", "False", 0, None])
def test_a_flag_that_is_no_bool_is_refused_before_anything_runs(st, flag, value):
    first = compute(st, "cka", "net.l1", "mA")
    with pytest.raises(ParameterError, match=rf"^compute: {flag} must be True or False; got .*\. Pass {flag}=True [^\n]*\.$"):
        compute(st, "cka", "net.l1", "mA", **{flag: value})
    assert list(list_entries(st)["path"]).count(first.path) == 1  # nothing recomputed
    assert not compute(st, "cka", "net.l1", "mA", **{flag: np.bool_(False)}).computed  # numpy's bool is a bool


def test_overwrite_false_spelled_as_a_string_never_recomputes(st):
    compute(st, "cka", "net.l1", "mA")
    with pytest.raises(ParameterError):
        nx.score(st, "cka", "net.l1", "mA", overwrite="false")


@pytest.mark.parametrize("params", ["reps=2", [("reps", 2)], ["reps"], 2])
def test_params_that_are_no_mapping_are_refused_in_one_line(st, params):
    for call in (compute, lookup):
        with pytest.raises(ParameterError, match=r"^params must be a mapping of the parameters of kind 'forward' "
                                                 r"\(a dict of name: value\) or None; got .*\. Pass e.g\. params=\{'reps': 20\}\.$"):
            call(st, "forward", "net.l1", "mA", params=params)
    assert "forward" not in set(list_entries(st)["kind"])


@pytest.mark.parametrize("options", [["progress"], "progress", ("keep_predictions", True)])
def test_options_that_are_no_mapping_are_refused_in_one_line(st, options):
    with pytest.raises(ParameterError, match=r"^compute: options must be a mapping of run options .* or None; got .*\.$"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 1}, options=options)


def test_a_variant_beside_a_kind_that_is_no_metric_is_named_as_such(st):
    with pytest.raises(ParameterError, match=r"^score: variant='ersa' applies to kind 'rsa' only; got kind 'forward'\. Drop it\.$"):
        nx.score(st, "forward", "net.l1", "mA", variant="ersa", reps=1)
    assert float(nx.score(st, "rsa", "net.l1", "mA", variant="ereg")["score"]) == pytest.approx(
        float(nx.ereg(nx.read_set(st, nx.resolve(st, "net.l1")), nx.read_set(st, nx.resolve(st, "mA")))["score"]))


def test_a_grid_holding_0d_arrays_names_the_entry_of_its_numbers(st):
    """``alphas=[np.array(1.0), 10]`` failed with set()'s raw TypeError (a 0-d array is unhashable);
    it is the grid (1, 10, 100), as the direct call reads it."""
    asked = {"reps": 1, "regressor": "ridgecv", "alphas": [np.array(10.0), np.array(1), 100]}
    entry = compute(st, "forward", "net.l1", "mA", params=asked)
    assert entry.provenance["params"]["alphas"] == [1.0, 10.0, 100.0]
    assert lookup(st, "forward", "net.l1", "mA", params={**asked, "alphas": (1, 10, 100)}) == entry.path
    direct = nx.forward(nx.read_set(st, nx.resolve(st, "net.l1")), nx.read_set(st, nx.resolve(st, "mA")), **asked)
    np.testing.assert_allclose(entry.dataset["ev"].values, direct["ev"].transpose(*entry.dataset["ev"].dims).values)


def test_overwrite_with_require_existing_is_refused_up_front(st):
    """Both together were refused with "no entry matches the request: <the matching entry> differs in ."."""
    first = compute(st, "cka", "net.l1", "mA")
    with pytest.raises(ParameterError, match=r"^compute: overwrite=True computes the entry again, which "
                                             r"require_existing=True forbids; drop one of them\.$"):
        compute(st, "cka", "net.l1", "mA", overwrite=True, require_existing=True)
    assert not compute(st, "cka", "net.l1", "mA", require_existing=True).computed
    assert compute(st, "cka", "net.l1", "mA", overwrite=True).path == first.path


@pytest.mark.parametrize(("kind", "source", "target"), [("inter_animal", "mA", "mB"), ("forward", "net.l1", "mA"),
                                                         ("cka", "net.l1", "mB")])
def test_stimuli_that_do_not_pair_are_advised_as_store_sets(tmp_path, kind, source, target):
    """Store sets whose stimuli only partly overlap: the refusal advised neural_a.isel(stimulus=...), which a caller
    naming sets cannot run; it advises what such a caller does, as the command line says it."""
    from neuroxr.errors import LayoutError

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    store = nx.open_store(str(tmp_path / "s.zarr"), mode="a")
    store.write_neural("mA", nx.neural(rng.normal(size=(20, 5, 4)), stimulus_id=ids[:20]))
    store.write_neural("mB", nx.neural(rng.normal(size=(20, 6, 4)), stimulus_id=ids[10:]))
    store.write_features("net", "l1", nx.features(rng.normal(size=(20, 7)), stimulus_id=ids[5:25]))
    with pytest.raises(LayoutError, match=r"Cannot pair by stimulus_id: .*\. Select the common stimuli first \(write sets "
                                          r"of the same stimuli to the store\)\.$") as info:
        compute(store, kind, source, target, params={"reps": 2} if kind != "cka" else None)
    assert ".isel(" not in str(info.value)
    with pytest.raises(LayoutError, match=r"e\.g\. \w+\.isel\(stimulus="):  # arrays passed: their selection is the advice
        nx.inter_animal(store.read_neural("mA"), store.read_neural("mB"), reps=2)


@pytest.mark.parametrize(("kind", "source", "target", "caller"), [
    ("forward_bootstrap", "net.l1", "mA", "bootstrap"),
    ("reverse_permutation", "mA", "net.l1", "permutation_test"),
    ("crsa_permutation", "net.l1", "mA", "rsa_permutation"),
    ("forward", "net.l1", "mA", "forward"),
])
@pytest.mark.parametrize("backend", ["jax", "cupy"])
def test_backend_refusals_name_the_function_that_computes_the_entry(st, kind, source, target, caller, backend):
    """An inference entry's backend refusal started with its kind (``forward_bootstrap: backend=...``) where its
    other refusals, and a direct call of the function that computes it, start with that function
    (``bootstrap: ...``)."""
    from neuroxr.backend import BackendError, resolve_backend

    if backend == "cupy":
        try:
            resolve_backend("cupy")
        except BackendError:
            pass
        else:
            pytest.skip("CuPy can run here")
    with pytest.raises(BackendError, match=rf"^{caller}: backend='{backend}' (is not known|needs CuPy)"):
        compute(st, kind, source, target, backend=backend)
