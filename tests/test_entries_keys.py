"""One result, one key (neuroxr.entries): every spelling of a parameter that computes the same
numbers names one entry, and the options of every kind are checked before any data is read."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import predictivity as d
from neuroxr.entries import compute, engine
from neuroxr.entries.kinds import KINDS, entry_revision, speaks_as
from neuroxr.errors import LayoutError, ParameterError, StoreError
from neuroxr.kernels.compare import _COMPARE_ALIASES, _normalize_compare_method

SRC, TGT = "netA.layer3", "animalA"
RSA_INFERENCE = ("crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation")
_N = {"n_boot": 5}, {"n_perm": 5}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


def _few(kind: str) -> dict[str, int]:
    return _N[0] if kind.endswith("_bootstrap") else _N[1]


def _no_reads(monkeypatch) -> None:
    """No set may be read from here on: a check that runs only once the data are read fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a set was read before the options were checked")

    monkeypatch.setattr(engine, "read_set", refuse)


@pytest.fixture
def unread(monkeypatch):
    """No set may be read: a check that runs only once the data are read fails the test."""
    _no_reads(monkeypatch)


# ---------------------------------------------------------------- comparison aliases
@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if "compare_method" in v.defaults])
def test_every_comparison_alias_fills_as_its_canonical_name(kind):
    """Each kind with a ``compare_method`` keys an alias as its canonical name, at the same revision
    (the revision's rank rule reads the canonical name)."""
    for alias, name in _COMPARE_ALIASES.items():
        try:
            canonical = KINDS[kind].fill({"compare_method": name})
        except ParameterError:  # a comparison the kind does not offer: refused in every spelling
            with pytest.raises(ParameterError, match="compare_method"):
                KINDS[kind].fill({"compare_method": alias})
            continue
        aliased = KINDS[kind].fill({"compare_method": alias})
        assert aliased == canonical and aliased["compare_method"] == _normalize_compare_method(name, kind)
        assert entry_revision(kind, aliased) == entry_revision(kind, canonical)


@pytest.mark.parametrize("kind", RSA_INFERENCE)
def test_metric_inference_with_an_alias_reuses_the_canonical_entry(sweep_copy, kind):
    path = sweep_copy()
    first = compute(path, kind, SRC, TGT, params={**_few(kind), "compare_method": "corr"})
    again = compute(path, kind, SRC, TGT, params={**_few(kind), "compare_method": "pearson"})
    assert first.computed and not again.computed and again.path == first.path
    assert first.provenance["params"]["compare_method"] == "pearson"
    assert again.provenance.get("revision") == first.provenance.get("revision")


# ---------------------------------------------------------------- checks before any data is read
#: The public function each metric inference kind is computed by, which its messages name.
SPEAKS_AS = {"crsa_bootstrap": "crsa_bootstrap", "crsa_permutation": "rsa_permutation", "ersa_bootstrap": "ersa_bootstrap",
             "ersa_permutation": "ersa_bootstrap", "cka_bootstrap": "cka_bootstrap", "cka_permutation": "cka_bootstrap",
             "shape_bootstrap": "shape_bootstrap", "shape_permutation": "shape_bootstrap"}


@pytest.mark.parametrize(("kind", "params", "name"), [
    ("crsa_bootstrap", {"seed": -1}, "seed"),
    ("crsa_bootstrap", {"level": 1.5}, "level"),
    ("crsa_bootstrap", {"rdm_method": "manhattan"}, "rdm_method"),
    ("crsa_permutation", {"compare_method": "tau-a"}, "compare_method"),
    ("ersa_bootstrap", {"compare_method": "kendall"}, "compare_method"),
    ("ersa_permutation", {"alpha": -1.0}, "alpha"),
    ("ersa_bootstrap", {"split_seed": -2}, "split_seed"),
    ("cka_permutation", {"n_perm": 0}, "n_perm"),
    ("cka_bootstrap", {"n_boot": 2.5}, "n_boot"),
    ("shape_bootstrap", {"method": "bca"}, "method"),
    ("shape_permutation", {"score_method": "cosine"}, "score_method"),
])
def test_direct_compute_checks_metric_inference_options_up_front(sweep_copy, unread, kind, params, name):
    """A direct :func:`compute` runs the kind's check (the one a sweep runs) before reading any set:
    one line, naming the option, that starts with the function computing the kind, as a direct
    call's (kinds.speaks_as; the permutations spoke as their kind, e.g. ``crsa_permutation:``)."""
    path = sweep_copy()
    with pytest.raises(ParameterError, match=name) as info:
        compute(path, kind, SRC, TGT, params={**_few(kind), **params})
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{SPEAKS_AS[kind]}: ")
    assert speaks_as(kind) == SPEAKS_AS[kind]


# ---------------------------------------------------------------- noise_ceiling and model-to-model reps
@pytest.mark.parametrize(("kind", "params"), [("forward", {"reps": 2}), ("forward_bootstrap", {"reps": 2, "n_boot": 5})])
def test_an_explicit_ceiling_where_the_automatic_one_is_drawn_is_one_entry(sweep_copy, kind, params):
    """With repeats in every neural input, ``noise_ceiling=None`` draws the ceiling: ``True`` is the
    same computation and names the same entry; ``False`` is another."""
    path = sweep_copy()
    auto = compute(path, kind, SRC, TGT, params=params)
    given = compute(path, kind, SRC, TGT, params={**params, "noise_ceiling": True})
    assert auto.computed and not given.computed and given.path == auto.path
    assert given.provenance["params"]["noise_ceiling"] is None
    if kind == "forward":  # the numbers the explicit ceiling computes
        st = nx.open_store(path, mode="r")
        F, R = (nx.read_set(st, nx.resolve(st, n)) for n in (SRC, TGT))
        np.testing.assert_allclose(given.dataset["ev"], d.forward(F, R, reps=2, noise_ceiling=True)["ev"], rtol=1e-12)
    assert compute(path, kind, SRC, TGT, params={**params, "noise_ceiling": False}).path != auto.path


def test_a_ridgecv_grid_in_another_order_is_one_entry_and_a_repeat_refused(sweep_copy):
    """Before: alphas (10, 1) keyed apart from (1, 10), computing the same fit again; a grid naming a penalty
    twice, (1, 10, 1), is refused (it was keyed and fitted as (1, 10) silently)."""
    path = sweep_copy()
    params = {"reps": 2, "regressor": "ridgecv"}
    first = compute(path, "forward", SRC, TGT, params={**params, "alphas": (1.0, 10.0)})
    for grid in ((10.0, 1.0), [10, 1], np.array([10.0, 1.0])):
        again = compute(path, "forward", SRC, TGT, params={**params, "alphas": grid})
        assert not again.computed and again.path == first.path, grid
    for grid in ([1, 10, 1], np.array([10.0, 1.0, 10.0])):
        with pytest.raises(ParameterError, match=r"^forward: alphas=.* names the penalty (1|10) more than once"):
            compute(path, "forward", SRC, TGT, params={**params, "alphas": grid})
    assert first.provenance["params"]["alphas"] == [1.0, 10.0]
    st = nx.open_store(path, mode="r")
    F, R = (nx.read_set(st, nx.resolve(st, n)) for n in (SRC, TGT))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ref = d.forward(F, R, reps=2, regressor="ridgecv", alphas=(10.0, 1.0))["ev"]
    np.testing.assert_allclose(first.dataset["ev"], ref, rtol=1e-12)
    assert compute(path, "forward", SRC, TGT, params={**params, "alphas": (1.0, 100.0)}).path != first.path


def test_an_explicit_ceiling_without_repeats_is_still_refused(sweep_copy):
    """Where a neural input has one repeat the automatic ceiling is off: ``True`` is not merged
    into ``None`` there, and the direction refuses it."""
    path = sweep_copy()
    st = nx.open_store(path)
    st.write_neural("averaged", nx.read_set(st, nx.resolve(st, TGT)).isel(repeat=[0]))
    with pytest.raises(LayoutError, match="noise_ceiling=True"):
        compute(path, "forward", SRC, "averaged", params={"reps": 2, "noise_ceiling": True})


def test_model_to_model_reps_without_max_n_is_refused():
    """Without ``max_n`` every model-to-model rep is the same fit: ``reps`` other than 1 is refused
    (as ``neuroxr score model-to-model`` refuses it), never keyed as another entry of the same numbers."""
    with pytest.raises(ParameterError, match="reps=3 has no effect for model_to_model without max_n"):
        KINDS["model_to_model"].fill({"reps": 3})
    assert KINDS["model_to_model"].fill({"reps": 3, "max_n": 5})["reps"] == 3
    assert KINDS["model_to_model"].fill({})["reps"] == 1


# ---------------------------------------------------------------- direction parameters
def test_n_components_as_a_float_is_refused_as_the_other_int_parameters():
    """``n_components=20.0`` is refused like ``reps=3.0`` (with ridge too), never keyed apart from 20."""
    for kind in ("forward", "reverse", "inter_animal"):
        with pytest.raises(ParameterError, match="n_components must be an integer"):
            KINDS[kind].fill({"n_components": 20.0})
        assert KINDS[kind].fill({"n_components": np.int64(20)}) == KINDS[kind].fill({})
    with pytest.raises(ParameterError, match="n_components must be an integer"):
        KINDS["model_to_model"].fill({"n_components": 20.0})


@pytest.mark.parametrize(("kind", "params", "match"), [
    ("forward", {"regressor": "Ridge"}, "regressor must be one of"),
    ("reverse", {"split": "VALID"}, "split must be one of"),
    ("inter_animal", {"seed": 0.0}, "seed must be an integer"),
    ("forward", {"max_n": 10.0}, "max_n must be an integer"),
    ("forward", {"alpha": True}, "alpha must be"),
])
def test_direction_parameters_are_checked_before_any_set_is_read(sweep_copy, unread, kind, params, match):
    """A bad direction parameter is refused before the sets (or the Gram) are read, as the metrics'."""
    st = nx.open_store(sweep_copy())
    src, tgt = {"forward": ("netA.layer1", "animalA"), "reverse": ("animalA", "netA.layer1"),
                "inter_animal": ("animalA", "animalB")}[kind]
    with pytest.raises(ParameterError, match=match):
        compute(st, kind, src, tgt, params=params)


def test_a_read_only_store_refuses_a_new_entry_before_reading_any_set(sweep_copy, monkeypatch):
    """A request no entry matches is refused on a read-only store before its sets are read and the entry
    computed (it could not be written); a matching entry is still read back."""
    path = sweep_copy()
    done = compute(path, "cka", "netA.layer1", "animalA")
    _no_reads(monkeypatch)
    st = nx.open_store(path, mode="r")
    assert compute(st, "cka", "netA.layer1", "animalA").path == done.path
    with pytest.raises(StoreError, match="open it with mode='a' to compute"):
        compute(st, "forward", "netA.layer1", "animalA", params={"reps": 2, "seed": 9})


# ---------------------------------------------------------------- crsa's ceiling options without a ceiling
def test_crsa_ceiling_options_without_a_ceiling_are_refused_as_crsa_refuses_them(sweep_copy):
    """A direct request for crsa with ``seed``/``reps`` where the automatic ceiling is not drawn (a
    feature-set target, or neural data with one repeat) is refused, as :func:`neuroxr.crsa` refuses
    it, never answered with the default entry; their defaults, spelled out, name the default entry."""
    path = sweep_copy()
    st = nx.open_store(path)
    resp = nx.read_set(st, nx.resolve(st, TGT))
    st.write_neural("averaged", resp.mean("repeat", skipna=True, keepdims=True).assign_attrs(resp.attrs))
    for target, what in (("netB.fc", "is a feature set"), ("averaged", "is neural data with 1 repeat")):
        default = compute(path, "crsa", SRC, target)
        assert compute(path, "crsa", SRC, target, params={"seed": 0, "reps": 10}).path == default.path
        for params, named in (({"seed": 3}, "seed=3 has"), ({"seed": 3, "reps": 7}, "seed=3 and reps=7 have")):
            with pytest.raises(ParameterError, match=rf"^metric 'crsa': {named} no effect without a noise ceiling: the target "
                                                     rf"'{target}' {what}"):
                compute(path, "crsa", SRC, target, params=params)
        with pytest.raises(ParameterError, match="reps=7 has no effect without a noise ceiling"):
            nx.score(path, "rsa", SRC, target, reps=7)
    # with repeats the ceiling is drawn: the options make another entry
    assert compute(path, "crsa", SRC, TGT, params={"seed": 3, "reps": 2}).provenance["params"]["seed"] == 3


# ---------------------------------------------------------------- directions' inference and temporal generalisation
@pytest.mark.parametrize(("kind", "params", "match"), [
    ("forward_bootstrap", {"alpha": -1.0}, "alpha"),
    ("forward_bootstrap", {"over": "both", "method": "bca"}, "method='bca' needs one resampled axis"),
    ("reverse_bootstrap", {"level": 1.5}, "level must be a number in"),
    ("inter_animal_bootstrap", {"over": "neuroids"}, "over must be one of"),
    ("forward_bootstrap", {"n_boot": 0}, "n_boot must be a positive integer"),
    ("forward_permutation", {"n_perm": 2.5}, "n_perm must be a positive integer"),
    ("forward_permutation", {"n_folds": 1}, "n_folds"),
    ("model_to_model_bootstrap", {"regressor": "bogus"}, "regressor"),
    ("temporal_generalization", {"n_folds": 10.0}, "n_folds"),
    ("temporal_generalization", {"alpha": -1.0}, "alpha"),
])
def test_direction_inference_and_time_kinds_are_checked_before_any_set_is_read(sweep_copy, unread, kind, params, match):
    """The directions' bootstrap / permutation kinds and temporal generalisation check their
    parameters (the functions' own checks) before any set is read: one line naming the kind."""
    path = sweep_copy()
    src, tgt = {"model_to_model": ("netA.layer3", "netB.fc"), "reverse": (TGT, SRC),
                "inter_animal": (TGT, "animalB")}.get(kind.rsplit("_", 1)[0], (SRC, TGT))
    extra = _few(kind) if kind.endswith(("_bootstrap", "_permutation")) else {}
    with pytest.raises(ParameterError, match=match) as info:
        compute(path, kind, src, tgt, params={**extra, **params})
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{speaks_as(kind)}: ")


@pytest.mark.parametrize(("kind", "params"), [
    ("forward_bootstrap", {"over": "both", "method": "bca"}), ("forward_bootstrap", {"reps": 0}),
    ("reverse_bootstrap", {"level": 1.5}), ("forward_permutation", {"n_perm": 0}), ("forward_permutation", {"reps": 3}),
    ("forward_bootstrap", {"split": "x"}), ("temporal_generalization", {"n_folds": 1}),
])
def test_an_entry_kind_speaks_as_the_function_that_computes_it(sweep_base_store, kind, params):
    """A direction's inference entry (and temporal generalisation's) refuses a parameter with the message
    of a direct call of the public function that computes it (bootstrap, permutation_test,
    temporal_generalization), as a direction entry's is its direction's: one rule for every kind."""
    from neuroxr.predictivity import inference, temporal_generalization

    store = nx.open_store(sweep_base_store)
    feats, neural = store.read_features("netA", "layer3"), store.read_neural(TGT)
    with pytest.raises(ParameterError) as entry:
        KINDS[kind].fill(params)
    if kind == "temporal_generalization":
        call = lambda: temporal_generalization(feats, neural, **params)  # noqa: E731
    else:
        fn = inference.bootstrap if kind.endswith("_bootstrap") else inference.permutation_test
        call = lambda: fn(kind.rsplit("_", 1)[0], feats, neural, **params)  # noqa: E731
    with pytest.raises(ParameterError) as direct:
        call()
    assert str(entry.value) == str(direct.value) and str(entry.value).startswith(f"{speaks_as(kind)}: ")


def test_direction_inference_keeps_its_inert_option_message():
    """The inert options of a direction's inference (here a permutation test's reps without
    min_reliability) are refused by the kind's check with the message they had, starting with the
    function that computes the entry."""
    with pytest.raises(ParameterError, match=r"^permutation_test: reps=3 has no effect in a permutation test"):
        KINDS["forward_permutation"].fill({"reps": 3})
    assert KINDS["forward_bootstrap"].fill({"seed": 3})["seed"] == 3  # the resamples' seed is never inert


def test_a_parameter_mapping_with_keys_of_other_types_keys_other_entries():
    """A mapping parameter {1: a} keyed the entry of {"1": a} (its keys were taken as text), and
    {1: a, "1": b} lost one value: a request could be answered with an entry of other parameters."""
    from neuroxr.entries import provenance

    def key(params):
        return provenance.key(provenance.make("forward", "m", "V4", params, {"features": "t1"}))

    assert key({"weights": {1: 0.5}}) != key({"weights": {"1": 0.5}})
    assert key({"weights": {1: 0.5, "1": 2.0}}) != key({"weights": {1: 0.5, "1": 3.0}})
    assert key({"weights": {1: 0.5, 2: 1.0}}) == key({"weights": {2: 1.0, 1: 0.5}})
    assert provenance.make("forward", "m", "V4", {"w": {"a": 1}}, {})["params"] == {"w": {"a": 1}}  # as before


@pytest.mark.parametrize("kind", ["forward", "cka", "forward_bootstrap"])
def test_an_entry_whose_path_is_too_long_for_a_file_name_is_refused_before_any_set_is_read(tmp_path, monkeypatch, kind):
    """Sets whose names fit each alone can name an entry (``<stage>/<kind>/<model>.<layer>__<neural>/<key>``) whose lock
    file name passes the file system's 255 bytes: the entry was computed and its write failed at the lock. Refused
    before any set is read, in one line naming the sets and the limit; shorter names are scored."""
    from conftest import latent_sets

    f1, _, neu = latent_sets(0, 24, 6)
    st = nx.open_store(tmp_path / "s.zarr")
    m, layer, a = "m" * 60, "l" * 60, "a" * 80
    st.write_neural(a, neu), st.write_features(m, layer, f1), st.write_neural("b" * 20, neu)
    params = {"n_boot": 5} if kind.endswith("_bootstrap") else {}
    with monkeypatch.context() as mp:
        _no_reads(mp)
        with pytest.raises(StoreError, match=rf"^the {kind} entry of 'm{{24}}'\.\.\. \(121 characters\) and 'a{{24}}'\.\.\. "
                                             r"\(80 characters\) cannot be stored: .* (\d+) characters too long for the 255 "
                                             r"bytes a file name may have; write the sets under shorter names [^\n]*\.$"):
            compute(st, kind, f"{m}.{layer}", a, params=params)
    assert compute(st, kind, f"{m}.{layer}", "b" * 20, params=params).computed
