"""Audit of backend equivalence (NumPy vs torch on the CPU): the same numbers, NaN and warnings on
both where one input makes a route of one backend lose precision."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import backend as B
from neuroxr.errors import NeuroxrWarning


def _has_torch() -> bool:
    try:
        B.resolve_backend("torch")
    except B.BackendError:
        return False
    return True


needs_torch = pytest.mark.skipif(not _has_torch(), reason="torch is not installed")


def _oof_r(X: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """Pearson r of each target with scikit-learn's out-of-fold Ridge(solver="svd") predictions."""
    from sklearn.linear_model import Ridge

    from neuroxr.kernels.folds import kfold_indices

    P = np.empty_like(Y)
    for tr, te in kfold_indices(X.shape[0], 10, 0):
        P[te] = Ridge(alpha=alpha, solver="svd").fit(X[tr], Y[tr]).predict(X[te])
    return np.array([np.corrcoef(P[:, j], Y[:, j])[0, 1] for j in range(Y.shape[1])])


@pytest.mark.parametrize("scale", [1e6, 1e8])
@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
def test_more_predictor_neuroids_than_stimuli_with_one_huge_neuroid_equal_scikit_learn(direction, scale):
    """More predictor neuroids than training stimuli, complete trials: NumPy built every design's
    kernel from the repeats' slot kernels (a Gram alone), which cannot resolve one neuroid 1e6
    times the others (r off by 1e-4, sign-flipped at 1e8, with a warning), while torch (and NumPy
    without the slot kernels) fitted the designs themselves: the backends disagreed and a stored
    entry's numbers depended on where it was computed. Both now equal scikit-learn, without a warning."""
    rng = np.random.default_rng(0)
    n, k, T = 40, 60, 2
    ids = [f"s{i:02d}" for i in range(n)]
    R = rng.normal(size=(n, k, T))
    R[:, 0, :] *= scale
    F = rng.normal(size=(n, 3))
    src = nx.neural(R, ids)
    tgt = nx.features(F, ids) if direction == "reverse" else nx.neural(F[:, :, None] + rng.normal(size=(n, 3, 2)), ids)
    fn = nx.reverse if direction == "reverse" else nx.inter_animal
    kw = {"alpha": 1e-3, "reps": 3, "noise_ceiling": False}
    want = _oof_r(R.mean(-1), F if direction == "reverse" else tgt.values.mean(-1), 1e-3)
    for backend in ["numpy"] + (["torch"] if _has_torch() else []):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = fn(src, tgt, backend=backend, **kw)
        flagged = [str(w.message) for w in caught if issubclass(w.category, NeuroxrWarning) and "Gram alone" in str(w.message)]
        assert not flagged, (backend, flagged)
        for rep in range(3):
            np.testing.assert_allclose(got.r.values[:, rep], want, rtol=1e-8, atol=1e-8, err_msg=backend)


@needs_torch
def test_reverse_with_a_huge_neuroid_and_a_ceiling_equals_across_backends():
    """The same with the split halves' ceiling (the slot kernels' usual case): the fits agree to 1e-8."""
    rng = np.random.default_rng(1)
    n, k, T = 40, 60, 3
    ids = [f"s{i:02d}" for i in range(n)]
    R = rng.normal(size=(n, k, T))
    R[:, 5, :] *= 1e7
    F = nx.features(R[:, :4, :].mean(-1) @ rng.normal(size=(4, 3)) + rng.normal(size=(n, 3)), ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        ref = nx.reverse(nx.neural(R, ids), F, alpha=1e-3, reps=4, seed=2)
        got = nx.reverse(nx.neural(R, ids), F, alpha=1e-3, reps=4, seed=2, backend="torch")
    for var in ("r", "prediction_shc"):  # the fits' precision, 1e-8 (EV divides by ceilings near 0: same NaN)
        np.testing.assert_allclose(got[var].values, ref[var].values, rtol=1e-8, atol=1e-8, err_msg=var)
    np.testing.assert_array_equal(np.isnan(got.ev.values), np.isnan(ref.ev.values))
