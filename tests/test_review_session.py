"""Review of a session's changes: regressions and missed siblings, each test failing before its fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroxr.geometry import LinearMetric


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("offset", [1e3, 1e4])
@pytest.mark.parametrize("alpha", [0.5])
def test_held_out_shape_distance_of_wide_data_is_invariant_to_a_common_offset(offset, alpha):
    """Centring removes an offset common to the training and held-out rows; with more units than
    stimuli the centred data have a null direction at rounding level, which the whitening must
    count as null however large the offset (the SVD route took the centring's rounding at 1e3 for
    variance: that direction was whitened by ~3000 instead of c alpha, the distance 1.57 for 0.85)."""
    rng = np.random.default_rng(0)
    n, p, q = 20, 30, 25
    lat = rng.normal(size=(2 * n, 4))
    X = lat @ rng.normal(size=(4, p)) + rng.normal(size=(2 * n, p))
    Y = lat @ rng.normal(size=(4, q)) + rng.normal(size=(2 * n, q))
    ref = LinearMetric(alpha=alpha).fit(X[:n], Y[:n])
    got = LinearMetric(alpha=alpha).fit(X[:n] + offset, Y[:n] - offset)
    np.testing.assert_allclose(got.distance(X[n:] + offset, Y[n:] - offset), ref.distance(X[n:], Y[n:]), rtol=1e-6)
    np.testing.assert_allclose(got.fit_distance(X[:n] + offset, Y[:n] - offset), ref.fit_distance(X[:n], Y[:n]), rtol=1e-6)


def test_split_distance_of_wide_data_is_invariant_to_a_common_offset():
    """The shape entries' split (train/test) distance: the held-out half's distance moved with an offset of 1e3
    (0.76 to 1.57) once the whitening's null directions came from the SVD without the centring's rounding."""
    import neuroxr as nx
    from neuroxr.geometry import split_distance

    rng = np.random.default_rng(0)
    n, p, q = 40, 60, 50
    stim = [f"s{i:02d}" for i in range(n)]
    lat = rng.normal(size=(n, 4))
    X = lat @ rng.normal(size=(4, p)) + rng.normal(size=(n, p))
    Y = lat @ rng.normal(size=(4, q)) + rng.normal(size=(n, q))
    G = nx.features(Y, stim, [f"v{i}" for i in range(q)], model="b", layer="l")
    got = [split_distance(nx.features(X + off, stim, [f"u{i}" for i in range(p)], model="a", layer="l"), G, alpha=0.5)
           for off in (0.0, 1e3)]
    np.testing.assert_allclose(got[1]["distance"].values, got[0]["distance"].values, rtol=1e-6)
