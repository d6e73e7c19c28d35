"""Ill-conditioned but legitimate inputs against references computed here in float64.

Each test feeds one kind of poor conditioning (a unit far larger than the others, tiny directions,
large offsets, wide or rank-deficient features) through an analysis and compares it with a
reference that is exact for the case: the same analysis of a better-conditioned copy with the
same exact answer, or scipy / scikit-learn / netrep where they resolve it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroxr.geometry import LinearMetric
from neuroxr.kernels import shape as ks


def _pair(n: int = 40, p: int = 30, q: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = rng.normal(size=(n, 5))
    X = lat @ rng.normal(size=(5, p)) + 0.5 * rng.normal(size=(n, p))
    Y = lat @ rng.normal(size=(5, q)) + 0.5 * rng.normal(size=(n, q))
    return X, Y


# --- shape metrics: full whitening of a unit far larger than the others ---


@pytest.mark.parametrize("scale", [1e6, 1e8])
@pytest.mark.parametrize("score_method", ["angular"])
def test_full_whitening_ignores_the_scale_of_one_unit(scale, score_method):
    """At alpha = 0 the metric depends on each representation's column span only, so one unit measured
    in other units (times 1e6 or 1e8) changes no distance. The whitening took the eigendecomposition of
    X^T X, which resolves eigenvalues to eps times the largest only: the other units' directions fell
    below the null tolerance and were dropped (0.012 rad off at 1e6, 0.54 rad at 1e8, silently)."""
    netrep_metrics = pytest.importorskip("netrep.metrics")
    X, Y = _pair(n=60)
    Xs = X.copy()
    Xs[:, 0] *= scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # netrep's own numpy warnings
        ref = netrep_metrics.LinearMetric(alpha=0.0, score_method=score_method).fit(X, Y).score(X, Y)
    got = LinearMetric(alpha=0.0, score_method=score_method).fit_distance(Xs, Y)
    assert got == pytest.approx(ref, abs=1e-9)
    # held-out rows alike
    fitted = LinearMetric(alpha=0.0, score_method=score_method).fit(Xs[:45], Y[:45])
    base = LinearMetric(alpha=0.0, score_method=score_method).fit(X[:45], Y[:45])
    assert fitted.distance(Xs[45:], Y[45:]) == pytest.approx(base.distance(X[45:], Y[45:]), abs=1e-9)


def test_whitening_keeps_small_genuine_directions_and_drops_rounding():
    """The whitened data of a unit 1e8 times the others have the unit singular values of a full
    whitening on every genuine direction (the span of X), and a duplicated column still adds a null
    direction (rounding, not variance)."""
    X, _ = _pair()
    X[:, 0] *= 1e8
    Xc = X - X.mean(axis=0)
    Xw, _ = ks.whiten(Xc, 0.0)
    s = np.linalg.svd(Xw, compute_uv=False)
    np.testing.assert_allclose(s / s[0], 1.0, rtol=1e-8)
    dup = np.hstack([Xc, Xc[:, 1:2]])
    s_dup = np.linalg.svd(ks.whiten(dup, 0.0)[0], compute_uv=False)
    assert np.sum(s_dup > 1e-6 * s_dup[0]) == X.shape[1]
