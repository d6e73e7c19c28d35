"""Permutation invariance of the geometry analyses.

Inputs are paired by ``stimulus_id``, never by position, and every seeded draw (bootstrap
resamples, permutation nulls, splits, projections) is made over the canonical stimulus order: so
permuting the stimuli of one or both inputs (each in its own order) changes no bit, and permuting
the units or neuroids, or (where no split half of the repeats is drawn: docs/predictivity.md,
"Repeats carry no id") the repeats, no number beyond rounding. Each public geometry analysis is probed on small data,
with NaN trials and with ties; its outputs are compared after sorting every labeled dim by its ids.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import permuted_repeats, permuted_stimuli, permuted_units

import neuroxr as nx
from neuroxr.geometry import (
    LinearMetric,
    anchor_weights,
    cka,
    compare_rdms,
    compare_rdms_many,
    crsa,
    effective_dimensionality,
    ereg,
    ersa,
    gram,
    pairwise_distances,
    procrustes_average,
    procrustes_kmeans,
    rdm,
    rdm_noise_ceiling,
    relative_features,
    split_distance,
    split_half_rdm_ceiling,
    split_half_rdms,
)
from neuroxr.geometry.cka_inference import cka_bootstrap
from neuroxr.geometry.inference import crsa_bootstrap, ersa_bootstrap, rsa_bootstrap, rsa_permutation
from neuroxr.geometry.shape_inference import shape_bootstrap

N, P, P2, K, T = 14, 6, 5, 5, 4
IDS = [f"s{i:02d}" for i in range(N)]


def _data(nan: bool = False, ties: bool = False) -> dict[str, xr.DataArray]:
    rng = np.random.default_rng(3)
    lat = rng.normal(size=(N, 3))
    F = lat @ rng.normal(size=(3, P)) + 0.5 * rng.normal(size=(N, P))
    F2 = np.tanh(lat @ rng.normal(size=(3, P2))) + 0.4 * rng.normal(size=(N, P2))
    F3 = lat @ rng.normal(size=(3, 4)) + 0.8 * rng.normal(size=(N, 4))
    W = np.tanh(lat @ rng.normal(size=(3, 20))) + 0.3 * rng.normal(size=(N, 20))  # wider than the stimuli
    R = (lat @ rng.normal(size=(3, K)))[:, :, None] + 0.7 * rng.normal(size=(N, K, T))
    if ties:  # coarse values (tied dissimilarities) and two identical stimuli (tied rows)
        F, F2, R = np.round(F), np.round(2 * F2) / 2, np.round(R)
        F[5], F2[5], R[5] = F[2], F2[2], R[2]
    if nan:
        R[1, 0, 0] = np.nan
        R[4, 2, 1:3] = np.nan
        R[9, :, 3] = np.nan
        R[6, 1, :] = np.nan  # a neuroid not recorded on one stimulus
    uid = lambda p, tag: [f"{tag}{j}" for j in range(p)]  # noqa: E731
    subjects = {f"S{i}": nx.neural(R[:, cols] + 0.8 * rng.normal(size=(N, len(cols), T)), IDS,
                                   uid(len(cols), f"m{i}_"), name=f"sub{i}")
                for i, cols in enumerate(([0, 1, 2], [2, 3, 4], [0, 1, 2, 3, 4]))}
    return subjects | {
        "F": nx.features(F, IDS, uid(P, "u"), model="net", layer="a"),
        "F2": nx.features(F2, IDS, uid(P2, "v"), model="net", layer="b"),
        "F3": nx.features(F3, IDS, uid(4, "w"), model="net", layer="c"),
        "FW": nx.features(W, IDS, uid(20, "x"), model="net", layer="wide"),
        "R": nx.neural(R, IDS, uid(K, "n")),
    }


def _subjects(d: dict[str, xr.DataArray]) -> list[xr.DataArray]:
    """Three subject RDMs (labeled by the data's name)."""
    return [rdm(d[f"S{i}"], "euclidean") for i in range(3)]


# --- the transforms: each returns the inputs in another order
TRANSFORMS = {
    "stimuli of the second input": permuted_stimuli(("R", "F2", "S0", "S1", "S2")),
    "stimuli of every input, each its own order": permuted_stimuli(("F", "F2", "F3", "FW", "R", "S0", "S1", "S2")),
    "units and neuroids": permuted_units,
    "repeats": permuted_repeats,
}


# --- the calls: name -> (call(data), whether it draws split halves of the repeats)
def _shape_nets(d):
    return {"a": d["F"], "b": d["F2"], "c": d["F3"]}


def _kmeans(d):
    nets = [d["F"], d["F2"], d["F3"], 1.5 * d["F"] + 0.2 * d["F"] ** 2]
    res = procrustes_kmeans(nets, 2, random_state=0)
    C = res["centroid"].values  # defined up to a rotation (documented): compared by its Gram
    return res.drop_vars("centroid").assign(centroid_gram=(("cluster", "stimulus", "stimulus_"),
                                                           np.einsum("csu,ctu->cst", C, C)))


def _procrustes_average_gram(d):
    avg = procrustes_average([d["F"], d["F2"], d["F3"]])
    A = np.asarray(avg.values, float)
    return xr.DataArray(A @ A.T, dims=("stimulus", "stimulus_"),
                        coords={"stimulus_id": ("stimulus", avg["stimulus_id"].values),
                                "stimulus_id_": ("stimulus_", avg["stimulus_id"].values)})


def _anchor_rows(d):
    """Anchors given as feature rows (the three anchors of ``F`` by id, in the order the data has them)."""
    F = d["F"]
    return relative_features(F, F.isel(stimulus=F["stimulus_id"].isin(IDS[:3]).values))


def _relative(d):
    rel = relative_features(d["F"], IDS[:4])
    return rel


CALLS = {
    "rdm correlation": (lambda d: rdm(d["F"], "correlation"), False),
    "rdm cosine": (lambda d: rdm(d["F"], "cosine"), False),
    "rdm euclidean of neural": (lambda d: rdm(d["R"], "euclidean"), False),
    "rdm sqeuclidean": (lambda d: rdm(d["F"], "sqeuclidean"), False),
    "split_half_rdms": (lambda d: split_half_rdms(d["R"], "euclidean", reps=2), True),
    "compare pearson": (lambda d: compare_rdms(rdm(d["F"]), rdm(d["R"], "euclidean"), "pearson"), False),
    "compare spearman": (lambda d: compare_rdms(rdm(d["F"]), rdm(d["R"], "euclidean"), "spearman"), False),
    "compare kendall": (lambda d: compare_rdms(rdm(d["F"]), rdm(d["R"], "euclidean"), "kendall"), False),
    "compare cosine": (lambda d: compare_rdms(rdm(d["F"]), rdm(d["R"], "euclidean"), "cosine"), False),
    "compare_rdms_many": (lambda d: compare_rdms_many([rdm(d["F"]), rdm(d["F2"])], _subjects(d), "kendall"), False),
    "rdm_noise_ceiling spearman": (lambda d: rdm_noise_ceiling(_subjects(d), "spearman"), False),
    "rdm_noise_ceiling kendall": (lambda d: rdm_noise_ceiling(_subjects(d), "kendall"), False),
    "rdm_noise_ceiling pearson": (lambda d: rdm_noise_ceiling(_subjects(d), "pearson"), False),
    "split_half_rdm_ceiling": (lambda d: split_half_rdm_ceiling(d["R"], "euclidean", reps=3), True),
    "crsa": (lambda d: crsa(d["F"], d["R"], reps=3), True),
    "crsa without ceiling": (lambda d: crsa(d["F"], d["R"], noise_ceiling=False), False),
    "ersa": (lambda d: ersa(d["F"], d["R"], n_folds=3), False),
    "ereg": (lambda d: ereg(d["F"], d["R"], n_components=4, n_folds=3), False),
    "rsa_bootstrap stimuli": (lambda d: rsa_bootstrap(rdm(d["F"]), _subjects(d), n_boot=12), False),
    "rsa_bootstrap both": (lambda d: rsa_bootstrap(rdm(d["F"]), _subjects(d), n_boot=12, over="both",
                                                   method="spearman"), False),
    "rsa_bootstrap subjects": (lambda d: rsa_bootstrap(rdm(d["F"]), _subjects(d), n_boot=12, over="subjects"), False),
    "rsa_bootstrap omit": (lambda d: rsa_bootstrap(rdm(d["F"]), _subjects(d), n_boot=12, nan_policy="omit",
                                                   method="cosine"), False),
    "rsa_permutation": (lambda d: rsa_permutation(rdm(d["F"]), _subjects(d), n_perm=20), False),
    "rsa_permutation spearman": (lambda d: rsa_permutation(rdm(d["F"]), _subjects(d), n_perm=20,
                                                           method="spearman"), False),
    "crsa_bootstrap": (lambda d: crsa_bootstrap(d["F"], d["R"], n_boot=12, noise_ceiling=False), False),
    "ersa_bootstrap": (lambda d: ersa_bootstrap(d["F"], d["R"], n_boot=8, n_perm=8), False),
    "cka": (lambda d: cka(d["F"], d["R"]), False),
    "cka debiased": (lambda d: cka(d["F"], d["F2"], debiased=True), False),
    "cka_bootstrap": (lambda d: cka_bootstrap(d["F"], d["R"], n_boot=12, n_perm=12), False),
    "cka_bootstrap debiased": (lambda d: cka_bootstrap(d["F"], d["F2"], n_boot=12, n_perm=12, debiased=True), False),
    "effective_dimensionality": (lambda d: effective_dimensionality(d["F"]), False),
    "effective_dimensionality neural": (lambda d: effective_dimensionality(d["R"]), False),
    "gram": (lambda d: gram(d["F"]), False),
    "rdm of a gram": (lambda d: rdm(gram(d["F"]), "euclidean"), False),
    "cka of grams": (lambda d: cka(gram(d["F"]), gram(d["F2"]), debiased=True), False),
    "cka_bootstrap of a gram": (lambda d: cka_bootstrap(gram(d["F"]), d["R"], n_boot=12, n_perm=12), False),
    "effective_dimensionality of a gram": (lambda d: effective_dimensionality(gram(d["F"])), False),
    "crsa of a gram": (lambda d: crsa(gram(d["F"]), d["R"], noise_ceiling=False), False),
    "LinearMetric angular": (lambda d: LinearMetric().fit_distance(d["F"], d["F2"]), False),
    "LinearMetric alpha 0.5 euclidean": (lambda d: LinearMetric(alpha=0.5, score_method="euclidean")
                                         .fit_distance(d["F"], d["F2"]), False),
    "LinearMetric alpha 0": (lambda d: LinearMetric(alpha=0.0).fit_distance(d["F"], d["F3"]), False),
    "pairwise_distances": (lambda d: pairwise_distances(_shape_nets(d)), False),
    "pairwise_distances held out": (lambda d: pairwise_distances(
        {k: v.isel(stimulus=v["stimulus_id"].isin(IDS[:9]).values) for k, v in _shape_nets(d).items()},
        {k: v.isel(stimulus=v["stimulus_id"].isin(IDS[9:]).values) for k, v in _shape_nets(d).items()}), False),
    "split_distance": (lambda d: split_distance(d["F"], d["F2"]), False),
    "split_distance alpha 0.5": (lambda d: split_distance(d["F"], d["F3"], alpha=0.5), False),
    "split_distance wide (null space)": (lambda d: split_distance(d["FW"], d["F"]), False),
    "split_distance wide alpha 0.5": (lambda d: split_distance(d["F2"], d["FW"], alpha=0.5), False),
    "LinearMetric wide alpha 0.5": (lambda d: LinearMetric(alpha=0.5).fit_distance(d["FW"], d["F"]), False),
    "shape_bootstrap wide": (lambda d: shape_bootstrap(d["FW"], d["F2"], n_boot=8, n_perm=8), False),
    "shape_bootstrap": (lambda d: shape_bootstrap(d["F"], d["F2"], n_boot=8, n_perm=8), False),
    "shape_bootstrap alpha 0.5": (lambda d: shape_bootstrap(d["F"], d["F3"], alpha=0.5, n_boot=8, n_perm=8), False),
    "procrustes_average gram": (_procrustes_average_gram, False),
    "procrustes_kmeans": (_kmeans, False),
    "relative_features": (_relative, False),
    "relative_features anchors by array": (_anchor_rows, False),
    "relative_features dot": (lambda d: relative_features(d["F"], IDS[:4], similarity="dot"), False),
    "anchor_weights": (lambda d: anchor_weights(_relative(d), d["R"]), False),
}

#: the calls that read neural responses (the others see no NaN trial and no repeat)
NEURAL = {n for n in CALLS if n.startswith(("split_half", "crsa", "ersa", "ereg", "rsa_", "compare", "rdm_noise",
                                           "anchor", "cka", "crsa of", "rdm euclidean of neural", "effective_dimensionality n"))}
#: an angle of 0 (a network and its own centroid) is acos's rounding, ~1.5e-8 (docs/geometry.md)
ANGLE_ROUNDING = {"procrustes_kmeans": 1e-7,
                  # a network's held-out angle to itself is acos(1 - d) of a rounding d of a few eps: about sqrt(2 d),
                  # 0 or 1.5e-8 by the order the units are summed in (and the machine's BLAS)
                  "pairwise_distances held out": 1e-7}

#: dims whose order is data (not labeled by ids): compared as they are
_ID_COORD = {"stimulus": "stimulus_id", "stimulus_": "stimulus_id_", "unit": "unit_id", "neuroid": "neuroid_id",
             "anchor": "anchor_id"}


def _canonical(obj):
    """``obj`` with each labeled dim sorted by its ids (outputs come in the callers' orders)."""
    if not isinstance(obj, (xr.DataArray, xr.Dataset)):
        return obj
    for dim, coord in _ID_COORD.items():
        if dim in obj.dims and coord in obj.coords and obj[coord].dims == (dim,):
            obj = obj.isel({dim: np.argsort(np.asarray(obj[coord].values).astype(str), kind="stable")})
    return obj


def _values(res) -> dict[str, np.ndarray]:
    res = _canonical(res)
    if isinstance(res, xr.Dataset):
        return {v: np.asarray(res[v].values) for v in sorted(res.data_vars)}
    if isinstance(res, xr.DataArray):
        return {"": np.asarray(res.values)}
    return {"": np.asarray(res)}


def _run(call, d):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _values(call(d))
    return out, sorted({str(w.message) for w in caught})


def _same(out, base, what, atol=1e-13, exact=False):
    """``out`` equals ``base`` (``exact``: bit for bit; else to rounding, 1e-11 relative and ``atol``)."""
    assert out.keys() == base.keys(), what
    for k in base:
        a, b = out[k], base[k]
        assert a.shape == b.shape, f"{what}: {k}"
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=0 if exact else 1e-11,
                                       atol=0 if exact else atol, equal_nan=True, err_msg=f"{what}: {k}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: {k}")


@functools.cache
def _base(name: str, data: str):
    return _run(CALLS[name][0], _data(nan=data == "nan trials", ties=data == "ties"))


#: (call, transform, data) probed: not the repeats' order where split halves are drawn over repeat
#: slots (the repeats' order is data there, docs/predictivity.md), nor repeats or NaN trials of a call
#: without a neural input
PROBES = [(name, transform, data) for name in sorted(CALLS) for transform in sorted(TRANSFORMS)
          for data in ("plain", "nan trials", "ties")
          if not (transform == "repeats" and CALLS[name][1])
          and not ((transform == "repeats" or data == "nan trials") and name not in NEURAL)]


@pytest.mark.parametrize(("name", "transform", "data"), PROBES)
def test_no_number_depends_on_the_order_of_the_inputs(name, transform, data):
    call = CALLS[name][0]
    base, base_warnings = _base(name, data)
    out, out_warnings = _run(call, TRANSFORMS[transform](_data(nan=data == "nan trials", ties=data == "ties")))
    # the inputs are put in canonical stimulus order before anything is computed: bit-identical
    # (docs/geometry.md); the units and the repeats are summed in the order given: rounding
    _same(out, base, f"{name} / {transform} / {data}", ANGLE_ROUNDING.get(name, 1e-13), transform.startswith("stimuli"))
    assert out_warnings == base_warnings
