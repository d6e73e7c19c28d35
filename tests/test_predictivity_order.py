"""Stimuli are paired by id and put in the canonical order (sorted stimulus_id) before any draw."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr import predictivity as pv


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n, k, T, p = 60, 6, 6, 12
    Z = rng.normal(size=(n, 3))
    ids = [f"img{rng.integers(1e6)}_{i}" for i in range(n)]  # unsorted ids
    F = nx.features(Z @ rng.normal(size=(3, p)) + 0.5 * rng.normal(size=(n, p)), ids)
    F2 = nx.features(Z @ rng.normal(size=(3, 5)) + rng.normal(size=(n, 5)), ids)
    R = (Z @ rng.normal(size=(3, k)))[:, :, None] + rng.normal(size=(n, k, T))
    R[rng.random(R.shape) < 0.05] = np.nan
    A = nx.neural(R, ids)
    B = nx.neural((Z @ rng.normal(size=(3, 4)))[:, :, None] + rng.normal(size=(n, 4, 5)), ids)
    return dict(F=F, F2=F2, A=A, B=B, perm=rng.permutation(n))


CALLS = {
    "forward": lambda d, p: pv.forward(p(d["F"]), p(d["A"]), reps=3, seed=1, keep_predictions=True),
    "reverse": lambda d, p: pv.reverse(p(d["A"]), p(d["F"]), reps=3, seed=1, keep_predictions=True),
    "inter_animal": lambda d, p: pv.inter_animal(p(d["A"]), p(d["B"]), reps=3, seed=1, keep_predictions=True),
    "model_to_model": lambda d, p: pv.model_to_model(p(d["F"]), p(d["F2"]), reps=2, max_n=6, keep_predictions=True),
}


@pytest.mark.parametrize("direction", list(CALLS))
def test_permuting_stimuli_gives_identical_numbers(data, direction):
    ref = CALLS[direction](data, lambda da: da)
    # both inputs shuffled, each differently: same numbers, bit for bit
    shuffled = CALLS[direction](data, lambda da: da.isel(stimulus=np.random.default_rng(da.size).permutation(da.sizes["stimulus"])))
    xr.testing.assert_identical(ref, shuffled)
    # predictions are labeled by id in the canonical order
    ids = ref.stimulus_id.values
    np.testing.assert_array_equal(ids, np.sort(ids))


def test_targets_keep_the_input_order(data):
    A = data["A"].isel(neuroid=[3, 0, 5, 1, 2, 4])
    ds = pv.forward(data["F"], A, reps=2)
    np.testing.assert_array_equal(ds.neuroid_id.values, A.neuroid_id.values)
    ref = pv.forward(data["F"], data["A"], reps=2)
    xr.testing.assert_allclose(ds.ev.sortby("neuroid_id"), ref.ev.sortby("neuroid_id"))


def test_precomputed_gram_is_in_the_features_order(data):
    """A Gram given in the (unsorted) features' own order is reordered with them."""
    F = data["F"]
    Fc = F.values - F.values.mean(0)
    ds = pv.forward(F, data["A"], reps=2, gram=Fc @ Fc.T)
    ref = pv.forward(F, data["A"], reps=2)
    assert ds.attrs["streamed"]
    xr.testing.assert_allclose(ds.ev, ref.ev, rtol=1e-9)


# ---------------------------------------------------------------- units and neuroids: by id, never by position
def _shuffle(da, dim, seed=7):
    return da.isel({dim: np.random.default_rng(seed).permutation(da.sizes[dim])})


def _same_by_id(a, b, dim, rtol=1e-10):
    key = "unit_id" if dim == "unit" else "neuroid_id"
    xr.testing.assert_allclose(a.sortby(key), b.sortby(key), rtol=rtol, atol=1e-12)


# direction -> (call, the predictor's input and dim, the target's input and dim)
SOURCES = {
    "forward": (lambda s, t, **kw: pv.forward(s, t, reps=2, seed=1, **kw), ("F", "unit"), ("A", "neuroid")),
    "reverse": (lambda s, t, **kw: pv.reverse(s, t, reps=2, seed=1, **kw), ("A", "neuroid"), ("F", "unit")),
    "inter_animal": (lambda s, t, **kw: pv.inter_animal(s, t, reps=2, seed=1, **kw), ("A", "neuroid"), ("B", "neuroid")),
    "model_to_model": (lambda s, t, **kw: pv.model_to_model(s, t, reps=2, **kw), ("F", "unit"), ("F2", "unit")),
}


@pytest.mark.parametrize("direction", list(SOURCES))
def test_max_n_subsets_are_drawn_by_id(data, direction):
    """Permuting the predictor's units/neuroids draws the same max_n subsets, by id."""
    call, (src, sdim), (tgt, tdim) = SOURCES[direction]
    ref = call(data[src], data[tgt], max_n=4)
    _same_by_id(ref, call(_shuffle(data[src], sdim), data[tgt], max_n=4), tdim)


def _pls():
    from sklearn.cross_decomposition import PLSRegression

    return PLSRegression(3)


@pytest.mark.parametrize("regressor", ["pls", "estimator"])
@pytest.mark.parametrize("direction", list(SOURCES))
def test_joint_fits_ignore_the_target_order(data, direction, regressor):
    """A joint fit (PLS's NIPALS starts from the first target column) fits the targets in canonical
    id order: permuting them changes no number, and the result keeps the caller's order."""
    call, (src, _), (tgt, tdim) = SOURCES[direction]
    kw = {"regressor": "pls", "n_components": 3} if regressor == "pls" else {"regressor": _pls()}
    ref = call(data[src], data[tgt], keep_predictions=True, **kw)
    shuffled = _shuffle(data[tgt], tdim).isel({tdim: slice(None, None, -1)})  # another first target
    ds = call(data[src], shuffled, keep_predictions=True, **kw)
    key = "unit_id" if tdim == "unit" else "neuroid_id"
    np.testing.assert_array_equal(ds[key].values, shuffled[key].values)
    _same_by_id(ref, ds, tdim)


@pytest.mark.parametrize("direction", list(SOURCES))
def test_lasso_ignores_the_predictor_order(data, direction):
    """Lasso's coordinate descent depends on the order of its predictors: they are in canonical id order."""
    call, (src, sdim), (tgt, tdim) = SOURCES[direction]
    ref = call(data[src], data[tgt], regressor="lasso")
    _same_by_id(ref, call(_shuffle(data[src], sdim), data[tgt], regressor="lasso"), tdim)


def test_time_resolved_joint_fit_ignores_the_neuroid_order():
    from conftest import time_sets

    F, A, _ = time_sets()
    ref = pv.forward(F, A, reps=2, regressor="pls", n_components=3)
    _same_by_id(ref, pv.forward(F, _shuffle(A, "neuroid"), reps=2, regressor="pls", n_components=3), "neuroid")


def test_brainscore_ignores_the_neuroid_order(data):
    A = data["A"].fillna(0.0)
    ref = pv.brainscore(data["F"], A, n_components=3, n_splits=3)
    ds = pv.brainscore(data["F"], _shuffle(A, "neuroid"), n_components=3, n_splits=3)
    _same_by_id(ref, ds, "neuroid")


def test_brainscore_ignores_the_unit_order_of_low_rank_features(data):
    # 5 components on features of rank 3: the components past the rank fit rounding errors, which
    # followed the column order of the units
    F = data["F"]
    rng = np.random.default_rng(8)
    low = F.copy(data=rng.normal(size=(F.sizes["stimulus"], 3)) @ rng.normal(size=(3, F.sizes["unit"])))
    A = data["A"].fillna(0.0)
    ref = pv.brainscore(low, A, n_components=5, n_splits=3)
    for seed in range(3):
        ds = pv.brainscore(_shuffle(low, "unit", seed), A, n_components=5, n_splits=3)
        np.testing.assert_array_equal(ds["r"].values, ref["r"].values)


# ---------------------------------------------------------------- gram=: used, or refused
@pytest.mark.parametrize("kw", [{"regressor": "pls", "n_components": 3}, {"max_n": 4}, {"regressor": "lasso"}])
def test_gram_with_a_fit_of_the_feature_values_is_refused(data, kw):
    G = nx.geometry.gram(data["F"])
    with pytest.raises(nx.errors.ParameterError, match=r"^forward: gram has no effect with .*; drop it"):
        pv.forward(data["F"], data["A"], reps=1, gram=G, **kw)


def test_a_gram_of_other_features_is_refused(data):
    from neuroxr.geometry import gram_stats

    F, A = data["F"], data["A"]
    other = F.copy(data=np.random.default_rng(0).normal(size=F.shape))  # same stimulus ids and units
    for G in (nx.geometry.gram(other), gram_stats(nx.geometry.gram(other)), gram_stats(nx.geometry.gram(other)).K):
        with pytest.raises(nx.errors.LayoutError, match=r"^forward: gram: its diagonal .* compute it from these features"):
            pv.forward(F, A, reps=1, gram=G)
    wider = nx.features(np.random.default_rng(1).normal(size=(F.sizes["stimulus"], 20)), F.stimulus_id.values)
    with pytest.raises(nx.errors.LayoutError, match=r"^forward: gram: it was computed from 20 units but the features have 12"):
        pv.forward(F.chunk({"unit": 4}), A, reps=1, gram=gram_stats(nx.geometry.gram(wider)))
    # the Gram of these features, labeled, as stats, or as an array, and in float32, is accepted
    G = nx.geometry.gram(F)
    for g in (G, gram_stats(G), nx.geometry.gram(F, dtype="float32")):
        pv.forward(F, A, reps=1, gram=g)


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_float64_gram_in_either_byte_order_is_checked_at_float64s_tolerance(data, order):
    """A float64 Gram is checked to 1e-6 of its largest diagonal value (float32's to 1e-3); a big-endian
    one ('>f8', which does not compare equal to np.float64) got float32's tolerance."""
    from neuroxr.geometry import gram_stats

    F, A = data["F"], data["A"]
    K = np.array(gram_stats(nx.geometry.gram(F)).K)
    K[0, 0] *= 1 + 1e-4  # off by 1e-4 of one diagonal value: not these features' Gram in float64
    with pytest.raises(nx.errors.LayoutError, match=r"^forward: gram: its diagonal"):
        pv.forward(F, A, reps=1, gram=K.astype(order + "f8"))


# ---------------------------------------------------------------- inference: by id, never by position
@pytest.fixture(scope="module")
def complete():
    """Inference needs every target on every stimulus: ``data`` without missing trials."""
    rng = np.random.default_rng(5)
    n, p = 40, 8
    Z = rng.normal(size=(n, 3))
    ids = [f"img{rng.integers(1e6)}_{i}" for i in range(n)]
    F = nx.features(Z @ rng.normal(size=(3, p)) + 0.5 * rng.normal(size=(n, p)), ids)
    F2 = nx.features(Z @ rng.normal(size=(3, 5)) + rng.normal(size=(n, 5)), ids)
    A = nx.neural((Z @ rng.normal(size=(3, 6)))[:, :, None] + rng.normal(size=(n, 6, 4)), ids)
    B = nx.neural((Z @ rng.normal(size=(3, 5)))[:, :, None] + rng.normal(size=(n, 5, 4)), ids)
    return dict(F=F, F2=F2, A=A, B=B)


#: direction -> (the predictor's input and dim, the target's input and dim)
INFERENCE = {"forward": (("F", "unit"), ("A", "neuroid")), "reverse": (("A", "neuroid"), ("F", "unit")),
             "inter_animal": (("A", "neuroid"), ("B", "neuroid")), "model_to_model": (("F", "unit"), ("F2", "unit"))}


def _infer(procedure, direction, source, target, **kw):
    from neuroxr.predictivity.inference import bootstrap, permutation_test

    reps = {} if direction == "model_to_model" else {"reps": 2}
    if procedure == "bootstrap":
        return bootstrap(direction, source, target, n_boot=20, seed=1, over="both", **reps, **kw)
    return permutation_test(direction, source, target, n_perm=20, seed=1, keep_null=True, **kw)


@pytest.mark.filterwarnings("ignore:.*ceiling-corrected EV above 100")
@pytest.mark.parametrize("procedure", ["bootstrap", "permutation"])
@pytest.mark.parametrize("regressor", ["pls", "lasso", "ridge"])
@pytest.mark.parametrize("direction", list(INFERENCE))
def test_inference_ignores_the_order_of_units_and_neuroids(complete, direction, regressor, procedure):
    """Bootstrap and permutation numbers of a joint fit (pls: the targets) or of lasso (the
    predictors) are those of the inputs in canonical id order, labeled in the caller's order."""
    (src, sdim), (tgt, tdim) = INFERENCE[direction]
    kw = {"regressor": regressor, **({"n_components": 2} if regressor == "pls" else {})}
    ref = _infer(procedure, direction, complete[src], complete[tgt], **kw)
    target = _shuffle(complete[tgt], tdim).isel({tdim: slice(None, None, -1)})  # another first target
    ds = _infer(procedure, direction, _shuffle(complete[src], sdim), target, **kw)
    key = "unit_id" if tdim == "unit" else "neuroid_id"
    np.testing.assert_array_equal(ds[key].values, target[key].values)
    _same_by_id(ref, ds, tdim, rtol=1e-9)
    # the point estimates are still the direction's, on the same shuffled inputs
    call = SOURCES[direction][0]
    fit = call(_shuffle(complete[src], sdim), target, **kw)
    name = "ev" if procedure == "bootstrap" else "r"
    np.testing.assert_allclose(ds[name].values, fit[name].mean("rep").values, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("procedure", ["bootstrap", "permutation"])
def test_time_resolved_inference_ignores_the_neuroid_order(procedure):
    """Each bin's inference of a joint fit reads the neuroids by id, as the time-resolved direction."""
    from conftest import time_sets

    F, A, B = time_sets()
    ref = _infer(procedure, "inter_animal", A, B, regressor="pls", n_components=2)
    target = _shuffle(B, "neuroid").isel(neuroid=slice(None, None, -1))
    ds = _infer(procedure, "inter_animal", _shuffle(A, "neuroid"), target, regressor="pls", n_components=2)
    np.testing.assert_array_equal(ds.neuroid_id.values, target.neuroid_id.values)
    _same_by_id(ref, ds, "neuroid", rtol=1e-9)


def test_canonical_order_is_one_c_ordered_copy(data):
    """Predictor neuroids put in canonical id order: the same array as xarray's ``isel`` (values,
    coords, name, attrs), laid out in C order (one copy, which the passes over the responses read
    in place), not the strided layout of a take along a middle dim."""
    from neuroxr.predictivity import _prepare as prep

    A = data["A"].isel(neuroid=[3, 0, 5, 1, 2, 4]).assign_attrs(animal="x").rename("mA")
    got, order = prep.by_id(A, "neuroid")
    xr.testing.assert_identical(got, A.isel(neuroid=order))
    assert got.values.flags.c_contiguous
    same, none = prep.by_id(got, "neuroid")
    assert same is got and none is None


@pytest.mark.parametrize("options", [{}, {"max_n": 4}, {"split": "slots"}, {"regressor": "lasso", "alpha": 0.01}])
@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
def test_permuting_the_predictor_neuroids_changes_no_bit(data, direction, options):
    """The predictor's design columns (trial means, split halves) are put in canonical id order after
    they are computed column by column, never read from a reordered copy of the responses: the
    numbers are those of the canonical input, bit for bit."""
    A = data["A"]
    perm = np.random.default_rng(3).permutation(A.sizes["neuroid"])
    call = {"reverse": lambda a: pv.reverse(a, data["F"], reps=3, seed=1, **options),
            "inter_animal": lambda a: pv.inter_animal(a, data["B"], reps=3, seed=1, **options)}[direction]
    xr.testing.assert_identical(call(A.isel(neuroid=perm)), call(A))


def test_permuting_the_predictor_neuroids_of_the_slot_kernels_changes_no_bit():
    """More predictor neuroids than training stimuli (the slot kernels, which sum over the columns):
    the same numbers, bit for bit, whatever the neuroids' order."""
    rng = np.random.default_rng(0)
    A = nx.neural(rng.normal(size=(20, 30, 3)))  # default ids neuroid0..29: not in canonical order
    F = nx.features(rng.normal(size=(20, 5)))
    perm = rng.permutation(30)
    ref = pv.reverse(A, F, reps=3, seed=1, split="slots")
    xr.testing.assert_identical(pv.reverse(A.isel(neuroid=perm), F, reps=3, seed=1, split="slots"), ref)


@pytest.mark.parametrize("T", [2, 3, 5])
def test_slot_kernels_gather_their_columns_as_a_reordered_copy_sums_them(T):
    """``SlotKernels(R, cols)`` (the columns gathered slot by slot) holds the kernels of the
    reordered copy ``R[:, cols]``, bit for bit, whatever the responses' memory layout."""
    from neuroxr.kernels.slot_kernels import SlotKernels

    rng = np.random.default_rng(T)
    R = rng.normal(size=(40, 60, T)) * np.exp(3 * rng.normal(size=(40, 60, T)))
    layouts = [R, R[:, :30], R[::2], np.asfortranarray(R), np.ascontiguousarray(R.transpose(1, 0, 2)).transpose(1, 0, 2)]
    for X in layouts:
        cols = rng.permutation(X.shape[1])
        got, want = SlotKernels(X, cols), SlotKernels(np.take(X, cols, axis=1))
        assert got._K.keys() == want._K.keys()
        for key in want._K:
            np.testing.assert_array_equal(got._K[key], want._K[key])
        Xc = np.take(X, cols, axis=1)
        Xc = Xc - Xc.mean(axis=0)  # the Gram of a design, by definition
        np.testing.assert_allclose(got.gram(np.arange(T)), Xc.mean(axis=2) @ Xc.mean(axis=2).T, rtol=1e-9,
                                   atol=1e-9 * np.abs(Xc).max() ** 2)
