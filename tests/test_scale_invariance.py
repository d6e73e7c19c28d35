"""Scale and offset invariance of the scale-free statistics.

Each statistic that is scale-free by definition (correlation and cosine RDMs and their Pearson,
Spearman, Kendall and cosine comparisons, cRSA and the RDM noise ceilings, linear CKA and its
bootstrap, effective dimensionality, angular shape distances with ``alpha = 1``, split-half
reliabilities, cosine relative representations, Brain-Score's PLS score and ceiling) is probed on
copies of small data multiplied by positive constants across the range the inputs may take
(``1e+-150``) and, where it is also offset-free, shifted by a constant: the numbers agree to
rounding and no warning or error appears that the unscaled call does not give.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.geometry import LinearMetric, pairwise_distances, split_distance
from neuroxr.geometry.cka_inference import cka_bootstrap
from neuroxr.geometry.relative import relative_features
from neuroxr.geometry.shape_inference import shape_bootstrap
from neuroxr.kernels import shape as ks
from neuroxr.predictivity.brainscore import brainscore, brainscore_ceiling

N, K, T, P = 12, 7, 4, 9
IDS = [f"s{i}" for i in range(N)]


def _data(missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(N, 3))
    R = lat @ rng.normal(size=(3, K)) + rng.normal(size=(N, K))
    R = R[:, :, None] + 0.7 * rng.normal(size=(N, K, T)) + 1.0
    F = np.tanh(lat @ rng.normal(size=(3, P))) + 0.3 * rng.normal(size=(N, P))
    if missing:
        R[2, 1, 0] = np.nan
        R[5, 3, 1:3] = np.nan
        R[7, :, 0] = np.nan
    return R, F


def _values(res) -> np.ndarray:
    import xarray as xr

    if isinstance(res, xr.Dataset):
        return np.concatenate([np.ravel(np.asarray(res[v].values, float)) for v in sorted(res.data_vars)
                               if np.asarray(res[v].values).dtype.kind == "f"])
    if isinstance(res, xr.DataArray):
        return np.ravel(np.asarray(res.values, float))
    return np.ravel(np.asarray(res, float))


def _run(call, R, F):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _values(call(nx.neural(R, stimulus_id=IDS), nx.features(F, stimulus_id=IDS)))
    return out, {str(w.message) for w in caught}


def _other(F: np.ndarray) -> np.ndarray:
    return 0.5 * F + 0.3 * F[::-1]


def _shape_pair(R, F):
    return F, nx.features(_other(F.values), stimulus_id=IDS)


#: name -> (call(neural, features), whether the statistic is offset-free too)
CALLS = {
    "rdm correlation": (lambda R, F: nx.rdm(F, "correlation"), True),
    "rdm cosine": (lambda R, F: nx.rdm(F, "cosine"), False),
    "compare pearson": (lambda R, F: nx.compare_rdms(nx.rdm(F, "euclidean"), nx.rdm(R, "euclidean"), "pearson"), True),
    "compare kendall": (lambda R, F: nx.compare_rdms(nx.rdm(F, "euclidean"), nx.rdm(R, "euclidean"), "kendall"), True),
    "compare cosine": (lambda R, F: nx.compare_rdms(nx.rdm(F, "euclidean"), nx.rdm(R, "euclidean"), "cosine"), True),
    "crsa": (lambda R, F: nx.crsa(F, R, compare_method="pearson"), True),
    "split-half rdm ceiling": (lambda R, F: nx.split_half_rdm_ceiling(R, rdm_method="euclidean", reps=3), True),
    "cka": (lambda R, F: nx.cka(F, R), True),
    "cka debiased": (lambda R, F: nx.cka(F, R, debiased=True), True),
    "cka bootstrap": (lambda R, F: cka_bootstrap(F, R, n_boot=10, n_perm=10, debiased=True), True),
    "effective dimensionality": (lambda R, F: nx.effective_dimensionality(F), True),
    "split-half reliability": (lambda R, F: nx.split_half_reliability(R, reps=3), True),
    "LinearMetric angular": (lambda R, F: LinearMetric().fit_distance(*_shape_pair(R, F)), True),
    "pairwise_distances": (lambda R, F: pairwise_distances(dict(zip("ab", _shape_pair(R, F)))), True),
    "split_distance": (lambda R, F: split_distance(*_shape_pair(R, F)), True),
    "shape_bootstrap": (lambda R, F: shape_bootstrap(*_shape_pair(R, F), n_boot=8, n_perm=8), True),
    "relative cosine": (lambda R, F: relative_features(F, IDS[:3]), False),
    "brainscore": (lambda R, F: brainscore(F, R, n_components=3, train_size=0.75), True),
    "brainscore ceiling": (lambda R, F: brainscore_ceiling(R), True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("scale", [1e-150, 1e-14, 1e-3, 1e8, 1e150])
@pytest.mark.parametrize("missing", [False, True])
def test_scale_free_statistics_do_not_move_with_the_units(name, scale, missing):
    call, _ = CALLS[name]
    R, F = _data(missing)
    base, base_warnings = _run(call, R, F)
    out, out_warnings = _run(call, R * scale, F * scale)
    np.testing.assert_allclose(out, base, rtol=1e-10, atol=1e-10, equal_nan=True)
    assert out_warnings == base_warnings


@pytest.mark.parametrize("name", sorted(n for n, (_, offset_free) in CALLS.items() if offset_free))
def test_offset_free_statistics_do_not_move_with_a_baseline(name):
    """A baseline of 1e6 on values near 1 (raw fMRI, rates over a large offset) costs ~1e-10 digits."""
    call, _ = CALLS[name]
    R, F = _data()
    base, base_warnings = _run(call, R, F)
    out, out_warnings = _run(call, R + 1e6, F + 1e6)
    np.testing.assert_allclose(out, base, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert out_warnings == base_warnings


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_angular_distance_of_two_networks_in_small_or_large_units(scale):
    """Both networks near 1e-150 gave NaN (the product of their squared norms underflowed) and both
    near 1e150 gave pi/2 (it overflowed), in LinearMetric, pairwise_distances, split_distance and
    shape_bootstrap (its resamples and permutation null too); the angle is scale-free."""
    _, F = _data()
    X, Y = F, _other(F)
    d0 = LinearMetric().fit_distance(X, Y)
    assert 0.1 < d0 < 1.5
    assert LinearMetric().fit_distance(X * scale, Y * scale) == pytest.approx(d0, rel=1e-12)
    assert float(pairwise_distances([X * scale, Y * scale]).values.max()) == pytest.approx(d0, rel=1e-12)
    b0 = shape_bootstrap(nx.features(X, stimulus_id=IDS), nx.features(Y, stimulus_id=IDS), n_boot=6, n_perm=6)
    b1 = shape_bootstrap(nx.features(X * scale, stimulus_id=IDS), nx.features(Y * scale, stimulus_id=IDS), n_boot=6, n_perm=6)
    for v in ("distance", "distance_boot", "distance_null", "p"):
        np.testing.assert_allclose(b1[v].values, b0[v].values, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-150, 1e140])
def test_angular_distance_from_grams_in_small_or_large_units(scale):
    """shape_distance_from_gram multiplied the two traces (underflow: NaN at Grams near 1e-300)."""
    _, F = _data()
    Xc, Yc = F - F.mean(0), _other(F) - _other(F).mean(0)
    d0 = ks.shape_distance_from_gram(Xc @ Xc.T, Yc @ Yc.T)
    assert d0 == pytest.approx(LinearMetric().fit_distance(F, _other(F)), rel=1e-8)
    Xs, Ys = Xc * scale, Yc * scale
    assert ks.shape_distance_from_gram(Xs @ Xs.T, Ys @ Ys.T) == pytest.approx(d0, rel=1e-10)


def test_pearson_split_half_reliability_of_responses_near_1e150_gives_no_overflow_warning():
    """kernels.stats.root_product formed a * b before checking its range: NumPy's overflow warning
    leaked (the number was right)."""
    R, F = _data()
    def pearson(R, F):
        return nx.split_half_reliability(R, reps=3, method="pearson")
    base, base_warnings = _run(pearson, R, F)
    out, out_warnings = _run(pearson, R * 1e150, F)
    np.testing.assert_allclose(out, base, rtol=1e-10)
    assert out_warnings == base_warnings


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_cosine_relative_features_at_any_finite_scale(scale):
    """Cosines near 1e-160 came out above 1 (1.00013: the squared norms lost their digits) and near
    1e160 as 0 with NumPy's overflow warning; a cosine is scale-free, so each row is scaled by a power
    of two first and every finite scale gives the numbers of scale 1."""
    _, F = _data()
    f = nx.features(F, stimulus_id=IDS)
    base = relative_features(f, IDS[:3]).values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for anchors in (IDS[:3], F[:3] * scale):
            np.testing.assert_allclose(relative_features(f * scale, anchors).values, base, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("scale, verb", [(1e-160, "fall below"), (1e160, "overflow")])
def test_dot_relative_features_beyond_the_range_are_refused_in_one_line(scale, verb):
    """Dot products of features near 1e160 were inf with NumPy's warning only, near 1e-160 subnormal
    numbers: refused by the one range rule, naming the input."""
    from neuroxr.errors import LayoutError

    _, F = _data()
    f = nx.features(F, stimulus_id=IDS)
    for call, who in ((lambda: relative_features(f * scale, IDS[:3], similarity="dot"), "features"),
                      (lambda: relative_features(f, F[:3] * scale, similarity="dot"), "anchors")):
        with pytest.raises(LayoutError, match=rf"^relative_features: {who}: .*squared norms {verb}.* {who} / abs\({who}\)") as e:
            call()
        assert "\n" not in str(e.value)
