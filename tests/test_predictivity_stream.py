"""The streamed-Gram forward direction equals the in-memory one at every feature scale (issue 15).

The forward direction from a Gram (lazy dask features, or ``gram=`` from a streamed Gram) passes
the layer's unit count to the out-of-fold operator, so a rank-deficient Gram (fewer units than
stimuli) is factorised at its rank and agrees with the in-memory features to 1e-8 EV points.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import neuroxr as nx
from neuroxr import predictivity as pv
from neuroxr.kernels.gram import gram_dask

pytestmark = pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")


@pytest.fixture(scope="module")
def neural_data():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(50, 4))
    R = (Z @ rng.normal(size=(4, 6)))[:, :, None] + rng.normal(size=(50, 6, 4))
    return Z, R


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, 1e4])
@pytest.mark.parametrize("p", [12, 90], ids=["p<n", "p>n"])
def test_streamed_gram_forward_equals_in_memory(neural_data, p, scale):
    Z, R = neural_data
    rng = np.random.default_rng(p)
    F = scale * (Z @ rng.normal(size=(4, p)) + 0.5 * rng.normal(size=(Z.shape[0], p)))
    feats, neu = nx.features(F), nx.neural(R)
    ref = pv.forward(feats, neu, reps=3, seed=1)
    lazy = feats.copy(data=da.from_array(F, chunks=(F.shape[0], 7)))
    streamed = gram_dask(lazy.data)  # reduced over unit chunks, in the features' stimulus order
    got = pv.forward(lazy, neu, reps=3, seed=1, gram=streamed)
    got_lazy = pv.forward(lazy, neu, reps=3, seed=1)
    assert got.attrs["streamed"] and got_lazy.attrs["streamed"] and not ref.attrs["streamed"]
    np.testing.assert_allclose(got.ev.values, ref.ev.values, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got_lazy.ev.values, ref.ev.values, rtol=0, atol=1e-8)


def test_lazy_float32_features_are_streamed_in_float64(neural_data):
    """The in-memory path upcasts float32 features; the streamed Gram does too (float32 partial
    Grams of large pixel-like values lost several EV points)."""
    Z, R = neural_data
    rng = np.random.default_rng(1)
    F = (255 * np.abs(Z @ rng.normal(size=(4, 300)) + rng.normal(size=(Z.shape[0], 300)))).astype(np.float32)
    feats, neu = nx.features(F), nx.neural(R)
    ref = pv.forward(feats, neu, reps=2, seed=0)
    got = pv.forward(feats.copy(data=da.from_array(F, chunks=(F.shape[0], 64))), neu, reps=2, seed=0)
    assert got.attrs["streamed"]
    np.testing.assert_allclose(got.ev.values, ref.ev.values, rtol=0, atol=1e-8)


def test_a_labeled_gram_is_paired_by_stimulus_id(neural_data):
    from neuroxr import geometry as geo

    Z, R = neural_data
    F = Z @ np.random.default_rng(2).normal(size=(4, 30))
    ids = [f"s{i:02d}" for i in range(Z.shape[0])]
    feats, neu = nx.features(F, ids), nx.neural(R, ids)
    ref = pv.forward(feats, neu, reps=2)
    shuffled = feats.isel(stimulus=np.random.default_rng(3).permutation(len(ids)))
    got = pv.forward(feats, neu, reps=2, gram=geo.gram(shuffled))  # a Gram in another stimulus order
    np.testing.assert_allclose(got.ev.values, ref.ev.values, rtol=0, atol=1e-8)
    with pytest.raises(nx.LayoutError, match="gram: its stimulus ids are not the features'"):
        pv.forward(feats, neu, reps=2, gram=geo.gram(feats.isel(stimulus=slice(0, 40))))


def test_lazy_features_with_nan_give_an_error_in_every_gram_path():
    from neuroxr import geometry as geo

    F = np.random.default_rng(0).normal(size=(20, 12))
    lazy = nx.features(F)
    F[:, 7] = np.nan  # e.g. a chunk of a stored layer that reads as NaN: lazy values are not checked up front
    lazy = lazy.copy(data=da.from_array(F, chunks=(20, 4)))
    other = nx.features(np.random.default_rng(1).normal(size=(20, 5)))
    for call in (lambda: geo.cka(lazy, other), lambda: geo.effective_dimensionality(lazy), lambda: geo.gram(lazy)):
        with pytest.raises(nx.LayoutError, match=r"holds 20 non-finite values \(NaN or inf\) in 1 units, e.g. \['unit7'\]"):
            call()


def test_a_gram_holding_nan_is_named_as_the_gram_not_the_features(neural_data):
    """A given Gram with a NaN was refused as 'the Gram of the (lazy) features is not finite: the features hold
    NaN/inf', naming the features, which are finite; the refusal names gram."""
    Z, R = neural_data
    ids = [f"s{i:02d}" for i in range(Z.shape[0])]
    feats, neu = nx.features(Z @ np.random.default_rng(2).normal(size=(4, 30)), ids), nx.neural(R, ids)
    K = feats.values @ feats.values.T
    K[0, 1] = K[1, 0] = np.nan
    with pytest.raises(nx.LayoutError, match=r"^forward: gram: holds NaN/inf; compute it from finite features") as info:
        pv.forward(feats, neu, reps=2, gram=K)
    assert "features hold" not in str(info.value)
