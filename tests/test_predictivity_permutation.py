"""Permutation invariance of the predictivity directions and their inference (a property test).

Inputs are paired by ``stimulus_id``, never by position, and every seeded draw (folds, split
halves, ``max_n`` subsets, bootstrap resamples, permutations) is made over the canonical stimulus
order and the canonical id order of the units and neuroids (docs/predictivity.md, "Canonical
stimulus order", "Units and neuroids by id too"): permuting the stimuli of one or both inputs
(each in its own order) changes no bit; permuting the units or neuroids, or giving lazy (dask)
inputs, no number beyond rounding; the repeats' order is data where split halves are drawn
("Repeats carry no id"), else rounding only. Each call is probed on small data, plain, with NaN
trials (several patterns) and with ties; outputs are compared after sorting each labeled dim by
its ids. tests/test_predictivity_order.py holds the targeted checks this sweep generalises.
"""

from __future__ import annotations

import functools
import re
import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import permuted_repeats, permuted_stimuli, permuted_units

import neuroxr as nx
from neuroxr import predictivity as pv
from neuroxr.predictivity.inference import best_layer, bootstrap, compare, permutation_test

N, P, P2, K, KB, T = 24, 6, 5, 5, 4, 4
IDS = [f"s{(7 * i) % N:02d}x" for i in range(N)]  # not in canonical order
BINS = [(0.0, 50.0), (50.0, 100.0)]


def _data(kind: str = "plain") -> dict[str, xr.DataArray]:
    rng = np.random.default_rng(11)
    lat = rng.normal(size=(N, 3))
    F = lat @ rng.normal(size=(3, P)) + 0.5 * rng.normal(size=(N, P))
    F2 = np.tanh(lat @ rng.normal(size=(3, P2))) + 0.4 * rng.normal(size=(N, P2))
    R = (lat @ rng.normal(size=(3, K)))[:, :, None] + 0.7 * rng.normal(size=(N, K, T))
    RB = (lat @ rng.normal(size=(3, KB)))[:, :, None] + 0.7 * rng.normal(size=(N, KB, T))
    RT = (lat @ rng.normal(size=(3, K)))[:, :, None, None] * np.array([0.5, 1.0]) + rng.normal(size=(N, K, T, 2))
    if kind == "ties":  # coarse values (tied ranks of the halves) and two identical stimuli
        F, F2, R, RB, RT = np.round(F), np.round(2 * F2) / 2, np.round(R), np.round(RB), np.round(RT)
        F[5], F2[5], R[5], RB[5], RT[5] = F[2], F2[2], R[2], RB[2], RT[2]
        F[:, 3], R[:, 4] = F[:, 1], R[:, 0]  # tied predictors (univariate's best, max_n's subsets)
    if kind == "nan trials":
        for X in (R, RB, RT):
            X[1, 0, 0] = np.nan  # one trial
            X[4, 2, 1:3] = np.nan  # two trials of one neuroid
            X[9, :, T - 1] = np.nan  # a repeat slot of one stimulus, every neuroid
            X[6, 1, :] = np.nan  # a neuroid not recorded on one stimulus
            X[11, 3, 1:] = np.nan  # a single trial left
    if kind == "sparse trials":  # 30 % of the trials at random, a repeat slot and a third of the stimuli
        for X in (R, RB, RT):
            X[rng.random(X.shape) < 0.3] = np.nan
            X[:, 0, 0] = np.nan
            X[:8, 1] = np.nan
    uid = lambda p, tag: [f"{tag}{(j + 2) % p}" for j in range(p)]  # noqa: E731  (not in canonical order)
    return {
        "F": nx.features(F, IDS, uid(P, "u"), model="net", layer="a"),
        "F2": nx.features(F2, IDS, uid(P2, "v"), model="net", layer="b"),
        "A": nx.neural(R, IDS, uid(K, "n"), name="A"),
        "B": nx.neural(RB, IDS, uid(KB, "m"), name="B"),
        "AT": nx.neural(RT, IDS, uid(K, "n"), time_bins=BINS, name="AT"),
        "AT2": nx.neural(RT[:, :3] + rng.normal(size=(N, 3, T, 2)), IDS, uid(3, "q"), time_bins=BINS, name="AT2"),
    }


# --- the transforms: each returns the inputs in another order
def _lazy(d):
    return {k: v.chunk({"stimulus": 7}) for k, v in d.items()}


TRANSFORMS = {
    "stimuli of the second input": permuted_stimuli(("A", "B", "F2", "AT2")),
    "stimuli of every input": permuted_stimuli(("F", "F2", "A", "B", "AT", "AT2")),
    "units and neuroids": permuted_units,
    "repeats": permuted_repeats,
    "lazy": _lazy,
}

QUIET = dict(reps=2, seed=1, n_folds=4)


def _boots(d, **kw):
    """Two layers' forward bootstraps (the inputs of compare and best_layer)."""
    F = d["F"]
    return {"a": bootstrap("forward", F, d["A"], n_boot=15, seed=2, n_folds=4, reps=2, **kw),
            "b": bootstrap("forward", F2_of(d), d["A"], n_boot=15, seed=2, n_folds=4, reps=2, **kw)}


def F2_of(d):
    F2 = d["F2"]
    return F2.assign_attrs(layer="b")


# --- the calls: name -> (call(data), whether it draws split halves of the repeats)
CALLS = {
    "forward": (lambda d: pv.forward(d["F"], d["A"], keep_predictions=True, **QUIET), True),
    "forward no ceiling": (lambda d: pv.forward(d["F"], d["A"], noise_ceiling=False, reps=2, n_folds=4), False),
    "forward linear": (lambda d: pv.forward(d["F"], d["A"], regressor="linear", **QUIET), True),
    "forward univariate": (lambda d: pv.forward(d["F"], d["A"], regressor="univariate", **QUIET), True),
    "forward elasticnet": (lambda d: pv.forward(d["F"], d["A"], regressor="elasticnet", **QUIET), True),
    "forward pls": (lambda d: pv.forward(d["F"], d["A"], regressor="pls", n_components=2, **QUIET), True),
    "forward ridgecv": (lambda d: pv.forward(d["F"], d["A"], regressor="ridgecv", alphas=(0.1, 10.0), **QUIET), True),
    "forward max_n": (lambda d: pv.forward(d["F"], d["A"], max_n=3, **QUIET), True),
    "forward float32": (lambda d: pv.forward(d["F"], d["A"], dtype="float32", **QUIET), True),
    "forward slots": (lambda d: pv.forward(d["F"], d["A"], split="slots", **QUIET), True),
    "forward min_reliability": (lambda d: pv.forward(d["F"], d["A"], min_reliability=0.1, **QUIET), True),
    "reverse": (lambda d: pv.reverse(d["A"], d["F"], keep_predictions=True, **QUIET), True),
    "reverse no ceiling": (lambda d: pv.reverse(d["A"], d["F"], noise_ceiling=False, reps=2, n_folds=4), False),
    "reverse pls": (lambda d: pv.reverse(d["A"], d["F"], regressor="pls", n_components=2, **QUIET), True),
    "reverse ridgecv": (lambda d: pv.reverse(d["A"], d["F"], regressor="ridgecv", alphas=(0.1, 10.0), **QUIET), True),
    "reverse univariate": (lambda d: pv.reverse(d["A"], d["F"], regressor="univariate", **QUIET), True),
    "reverse max_n": (lambda d: pv.reverse(d["A"], d["F"], max_n=3, **QUIET), True),
    "reverse slots": (lambda d: pv.reverse(d["A"], d["F"], split="slots", **QUIET), True),
    "reverse float32": (lambda d: pv.reverse(d["A"], d["F"], dtype="float32", **QUIET), True),
    "inter_animal": (lambda d: pv.inter_animal(d["A"], d["B"], keep_predictions=True, **QUIET), True),
    "inter_animal no ceiling": (lambda d: pv.inter_animal(d["A"], d["B"], noise_ceiling=False, reps=2, n_folds=4), False),
    "inter_animal linear": (lambda d: pv.inter_animal(d["A"], d["B"], regressor="linear", **QUIET), True),
    "inter_animal max_n": (lambda d: pv.inter_animal(d["A"], d["B"], max_n=2, **QUIET), True),
    "inter_animal slots": (lambda d: pv.inter_animal(d["A"], d["B"], split="slots", **QUIET), True),
    "model_to_model": (lambda d: pv.model_to_model(d["F"], d["F2"], reps=2, n_folds=4, keep_predictions=True), False),
    "model_to_model max_n": (lambda d: pv.model_to_model(d["F"], d["F2"], reps=2, max_n=3, n_folds=4), False),
    "model_to_model pls": (lambda d: pv.model_to_model(d["F"], d["F2"], regressor="pls", n_components=2,
                                                       n_folds=4), False),
    "model_to_model float32": (lambda d: pv.model_to_model(d["F"], d["F2"], dtype="float32", n_folds=4), False),
    "split_half_reliability": (lambda d: pv.split_half_reliability(d["A"], reps=3, seed=1), True),
    "split_half_reliability pearson slots": (lambda d: pv.split_half_reliability(d["A"], reps=3, seed=1,
                                                                                 split="slots", method="pearson"), True),
    "forward time": (lambda d: pv.forward(d["F"], d["AT"], **QUIET), True),
    "forward time max_n pls": (lambda d: pv.forward(d["F"], d["AT"], max_n=3, regressor="pls", n_components=2,
                                                   **QUIET), True),
    "reverse time max_n": (lambda d: pv.reverse(d["AT"], d["F"], max_n=3, **QUIET), True),
    "inter_animal time both": (lambda d: pv.inter_animal(d["AT"], d["AT2"], split="slots", min_reliability=0.1,
                                                          keep_predictions=True, **QUIET), True),
    "inter_animal time": (lambda d: pv.inter_animal(d["AT"], d["A"], **QUIET), True),
    "temporal_generalization": (lambda d: pv.temporal_generalization(d["F"], d["AT"], n_folds=4), False),
    "temporal_generalization neural": (lambda d: pv.temporal_generalization(d["AT"], d["AT2"], n_folds=4), False),
    "brainscore": (lambda d: pv.brainscore(d["F"], d["A"], n_components=2, n_splits=3), True),
    "brainscore no ceiling": (lambda d: pv.brainscore(d["F"], d["A"], n_components=2, n_splits=3,
                                                      ceiling=False), False),
    "brainscore_ceiling": (lambda d: pv.brainscore_ceiling(d["A"], n_splits=3), True),
    "bootstrap forward stimuli": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=15, **QUIET), True),
    "bootstrap forward targets": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=15, over="targets",
                                                      **QUIET), True),
    "bootstrap forward both bca": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=15, over="both",
                                                       **QUIET), True),
    "bootstrap forward bca": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=15, method="bca",
                                                  **QUIET), True),
    "bootstrap reverse both": (lambda d: bootstrap("reverse", d["A"], d["F"], n_boot=15, over="both", **QUIET), True),
    "bootstrap inter_animal": (lambda d: bootstrap("inter_animal", d["A"], d["B"], n_boot=15, **QUIET), True),
    "bootstrap model_to_model targets": (lambda d: bootstrap("model_to_model", d["F"], d["F2"], n_boot=15,
                                                             over="targets", n_folds=4), False),
    "bootstrap forward time": (lambda d: bootstrap("forward", d["F"], d["AT"], n_boot=10, **QUIET), True),
    "bootstrap min_reliability both": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=10, min_reliability=0.2,
                                                           over="both", **QUIET), True),
    "bootstrap pls both": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=10, over="both", regressor="pls",
                                               n_components=2, **QUIET), True),
    "bootstrap inter_animal time targets": (lambda d: bootstrap("inter_animal", d["AT"], d["AT2"], n_boot=10,
                                                                over="targets", **QUIET), True),
    "bootstrap omit": (lambda d: bootstrap("forward", d["F"], d["A"], n_boot=15, nan_policy="omit",
                                           noise_ceiling=False, reps=2, n_folds=4), False),
    "permutation forward": (lambda d: permutation_test("forward", d["F"], d["A"], n_perm=15, seed=2,
                                                       keep_null=True, n_folds=4), False),
    "permutation forward min_reliability": (lambda d: permutation_test("forward", d["F"], d["A"], n_perm=15,
                                                                       min_reliability=0.0, keep_null=True,
                                                                       **QUIET), True),
    "permutation reverse pls": (lambda d: permutation_test("reverse", d["A"], d["F"], n_perm=15, regressor="pls",
                                                           n_components=2, n_folds=4), False),
    "permutation inter_animal": (lambda d: permutation_test("inter_animal", d["A"], d["B"], n_perm=15,
                                                            n_folds=4), False),
    "permutation model_to_model": (lambda d: permutation_test("model_to_model", d["F"], d["F2"], n_perm=15,
                                                              n_folds=4), False),
    "permutation inter_animal min_reliability": (lambda d: permutation_test("inter_animal", d["A"], d["B"], n_perm=10,
                                                                            min_reliability=0.1, keep_null=True,
                                                                            **QUIET), True),
    "permutation univariate": (lambda d: permutation_test("forward", d["F"], d["A"], n_perm=10, regressor="univariate",
                                                          n_folds=4), False),
    "permutation forward time": (lambda d: permutation_test("forward", d["F"], d["AT"], n_perm=10, n_folds=4), False),
    "compare stimuli": (lambda d: compare(_boots(d)), True),
    "compare both": (lambda d: compare(_boots(d, over="both")), True),
    "best_layer": (lambda d: best_layer(_boots(d)), True),
}

#: dims whose order is data (not labeled by ids): compared as they are
_ID_COORD = {"stimulus": "stimulus_id", "unit": "unit_id", "neuroid": "neuroid_id",
             "neuroid_a": "neuroid_a_id", "neuroid_b": "neuroid_b_id"}
#: calls that read no neural input (the NaN trials and the repeats leave them as they are)
NO_NEURAL = {n for n in CALLS if "model_to_model" in n}


def _canonical(obj):
    if not isinstance(obj, (xr.DataArray, xr.Dataset)):
        return obj
    for dim in obj.dims:
        coord = _ID_COORD.get(dim)
        if coord is None and f"{dim}_id" in obj.coords:
            coord = f"{dim}_id"
        if coord in obj.coords and obj[coord].dims == (dim,):
            obj = obj.isel({dim: np.argsort(np.asarray(obj[coord].values).astype(str), kind="stable")})
    return obj


def _values(res) -> dict[str, np.ndarray]:
    res = _canonical(res)
    if isinstance(res, xr.Dataset):
        out = {v: np.asarray(res[v].values) for v in sorted(res.data_vars)}
        out |= {f"coord {c}": np.asarray(res[c].values) for c in sorted(res.coords)}
        return out
    return {"": np.asarray(res.values)}


def _run(call, d):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = call(d)
        out = _values(res)
    return out, sorted({str(w.message) for w in caught}), dict(getattr(res, "attrs", {}))


def _same(out, base, what, exact=False, rtol=1e-9, atol=1e-11):
    assert out.keys() == base.keys(), what
    for k in base:
        a, b = out[k], base[k]
        assert a.shape == b.shape, f"{what}: {k}"
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=0 if exact else rtol,
                                       atol=0 if exact else atol, equal_nan=True, err_msg=f"{what}: {k}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: {k}")


@functools.cache
def _base(name: str, data: str):
    try:
        return _run(CALLS[name][0], _data(data))
    except nx.errors.NeuroxrError as exc:  # refused data: refused in any order
        return exc


#: (data, transform) pairs probed: every transform on NaN trials; the others where they bite
CASES = [(data, tr) for data in ("plain", "nan trials", "sparse trials", "ties") for tr in sorted(TRANSFORMS)
         if data == "nan trials" or tr in {"plain": ("repeats",),
                                           "sparse trials": ("stimuli of every input", "units and neuroids"),
                                           "ties": ("stimuli of every input", "units and neuroids")}[data]]


#: (call, transform, data) probed: not the repeats' order where split halves are drawn over repeat
#: slots (the repeats' order is data there, docs/predictivity.md), nor repeats or missing trials of a
#: call without a neural input
PROBES = [(name, transform, data) for name in sorted(CALLS) for data, transform in CASES
          if not (transform == "repeats" and CALLS[name][1])
          and not ((transform == "repeats" or data.endswith("trials")) and name in NO_NEURAL)]


@pytest.mark.parametrize(("name", "transform", "data"), PROBES)
def test_no_number_depends_on_the_order_of_the_inputs(name, transform, data):
    call = CALLS[name][0]
    base = _base(name, data)
    if isinstance(base, Exception):
        with pytest.raises(type(base), match="^" + re.escape(str(base).split("(")[0])):
            call(TRANSFORMS[transform](_data(data)))
        return
    base, base_warnings, _ = base
    out, out_warnings, _ = _run(call, TRANSFORMS[transform](_data(data)))
    float32 = "float32" in name
    _same(out, base, f"{name} / {transform} / {data}", exact=transform.startswith("stimuli"),
          rtol=1e-4 if float32 else 1e-9, atol=1e-5 if float32 else 1e-11)
    if transform != "units and neuroids":  # else the ids a warning lists come in the caller's order
        assert out_warnings == base_warnings


@pytest.mark.parametrize(("option", "why"), [
    ("max_n", "without max_n subsets"), ("gram", "never a precomputed Gram"),
    ("keep_predictions", "not the predictions"), ("n_fold", "not an option of the direction's score"),
])
def test_an_option_inference_does_not_take_is_refused_with_its_own_reason(option, why):
    """Every option the inference does not take was refused "(it resamples every target on every kept
    stimulus, without max_n subsets)", max_n's reason, whatever the option (a Gram, a misspelt name)."""
    d = _data()
    with pytest.raises(nx.errors.ParameterError,
                       match=rf"^bootstrap: forward inference takes no \['{option}'\] \([^;]*{re.escape(why)}\); it accepts "
                             rf"\['reps', .*\]: drop it\.$") as info:
        bootstrap("forward", d["F"], d["A"], n_boot=5, **{option: 3 if option == "max_n" else 4 if option == "n_fold"
                                                           else True if option == "keep_predictions"
                                                           else nx.geometry.gram(d["F"])})
    assert "\n" not in str(info.value)
    if option != "max_n":
        assert "max_n" not in str(info.value).split("; it accepts")[0]


#: wider than the stimuli (dual ridge, the slot kernels of many predictor neuroids), an odd number of
#: repeats (unequal halves), and the torch backend where it is installed
WIDE = {
    "forward": lambda d, **kw: pv.forward(d["F"], d["A"], keep_predictions=True, **QUIET, **kw),
    "forward max_n": lambda d, **kw: pv.forward(d["F"], d["A"], max_n=7, **QUIET, **kw),
    "reverse slots": lambda d, **kw: pv.reverse(d["A"], d["F"], split="slots", **QUIET, **kw),
    "inter_animal": lambda d, **kw: pv.inter_animal(d["A"], d["B"], **QUIET, **kw),
    "inter_animal time": lambda d, **kw: pv.inter_animal(d["AT"], d["AT2"], **QUIET, **kw),
    "bootstrap reverse both": lambda d, **kw: bootstrap("reverse", d["A"], d["F"], n_boot=8, over="both", **QUIET, **kw),
    "permutation inter_animal": lambda d, **kw: permutation_test("inter_animal", d["A"], d["B"], n_perm=8, n_folds=4, **kw),
}


def _backends():
    try:
        import torch  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "torch"]


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("name", sorted(WIDE))
def test_wide_inputs_odd_repeats_and_backends_ignore_the_order(monkeypatch, name, backend):
    for key, value in {"T": 3, "K": 30, "P": 40, "KB": 6}.items():
        monkeypatch.setattr(f"{__name__}.{key}", value)
    # torch's CPU reductions follow its thread count, which the "auto" policy sets from the machine's
    # load (docs/shapes.md): its numbers are the same bit for bit at a fixed count only
    from neuroxr.backend import use_blas_threads

    call = functools.partial(WIDE[name], backend=backend)
    with use_blas_threads(1):
        base, base_warnings, _ = _run(call, _data("nan trials"))
    for transform in ("stimuli of every input", "units and neuroids"):
        with use_blas_threads(1):
            out, out_warnings, _ = _run(call, TRANSFORMS[transform](_data("nan trials")))
        _same(out, base, f"{name} / {transform} / {backend}", exact=transform.startswith("stimuli"))
        if transform.startswith("stimuli"):
            assert out_warnings == base_warnings
