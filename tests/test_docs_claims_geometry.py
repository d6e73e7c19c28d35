"""Promises of docs/geometry.md that no other test checked, each run against a reference computed here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.geometry import cka, effective_dimensionality, rdm


def _ids(n: int) -> list[str]:
    return [f"s{i:02d}" for i in range(n)]


def _cka_reference(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of Kornblith et al. 2019 in feature space: ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return float(np.linalg.norm(Xc.T @ Yc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)))


@pytest.mark.parametrize("far", [1e10, 1e13])
def test_one_stimulus_far_from_the_others_is_not_refused_as_underflow(far):
    """docs/geometry.md, "Feature scale" and "RDMs": features whose values all lie well inside
    1e-154 .. 1e154 are computed, and Euclidean RDMs of one stimulus far from the rest are within about
    1e-13 of pdist. A stimulus 1e10 times the others made the Gram's reconstruction of the small stimuli's
    squared norms cancel to 0, which was refused as 'squared norms fall below float64's normal range'."""
    rng = np.random.default_rng(1)
    n = 8
    X = rng.normal(size=(n, 5))
    X[0] *= far
    Y = rng.normal(size=(n, 3))
    F, G = nx.features(X, _ids(n)), nx.features(Y, _ids(n))
    off = ~np.eye(n, dtype=bool)
    for method in ("euclidean", "sqeuclidean", "correlation", "cosine"):
        want = squareform(pdist(X, method))
        got = rdm(F, method).values
        assert np.max(np.abs(got - want)[off] / want[off]) < 1e-13, method
    assert float(cka(F, G)) == pytest.approx(_cka_reference(X, Y), rel=1e-10)
    assert np.isfinite(float(effective_dimensionality(F)))
    # offsets: stimuli near 1e-4 apart beside one at 1e8
    Z = rng.normal(size=(n, 5)) * 1e-4
    Z[0] += 1e8
    want = squareform(pdist(Z, "euclidean"))
    got = rdm(nx.features(Z, _ids(n)), "euclidean").values
    assert np.max(np.abs(got - want)[off] / want[off]) < 1e-13


def test_features_whose_squares_underflow_are_still_refused():
    """docs/geometry.md, "Feature scale": squared norms below the normal range are refused in one line."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 4)) * 1e-170
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        with pytest.raises(LayoutError, match=r"^rdm: obj \(features\): the features' squared norms fall below"):
            rdm(nx.features(X, _ids(6)))


def test_alpha_0_outside_the_training_span_is_refused_naming_the_function_and_network():
    """docs/geometry.md, "Held-out stimuli and null spaces": alpha = 0 scoring stimuli outside the training
    span raises a one-line ParameterError; split_distance and pairwise_distances(test_data=...) refuse alike.
    Their messages began 'LinearMetric:' and named 'X' (pairwise_distances has neither), not the network."""
    from neuroxr.errors import ParameterError
    from neuroxr.geometry import pairwise_distances, split_distance

    rng = np.random.default_rng(0)
    n = 20
    X = rng.normal(size=(n, 50))
    Y = X[:, :30] @ rng.normal(size=(30, 40)) + rng.normal(size=(n, 40))
    FX, FY = nx.features(X, _ids(n), model="netA", layer="l"), nx.features(Y, _ids(n), model="netB", layer="l")
    tail = r"alpha=0 \(full whitening\) is undefined for these stimuli: "
    with pytest.raises(ParameterError, match=rf"^split_distance: {tail}X \(netA/l\) has 50 units, its 10 training"):
        split_distance(FX, FY, alpha=0)
    train = {"a": FX.isel(stimulus=slice(0, 14)), "b": FY.isel(stimulus=slice(0, 14))}
    test = {"a": FX.isel(stimulus=slice(14, n)), "b": FY.isel(stimulus=slice(14, n))}
    with pytest.raises(ParameterError, match=rf"^pairwise_distances: {tail}test_data\['a'\] has 50 units, its 14 training"):
        pairwise_distances(train, test_data=test, alpha=0)
    # the training distances are still scored at alpha = 0, and alpha > 0 scores the held-out ones
    assert np.isfinite(pairwise_distances(train, alpha=0).values).all()
    assert np.isfinite(pairwise_distances(train, test_data=test, alpha=0.5)["test"].values).all()
