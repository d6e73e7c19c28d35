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


def _float32_low_rank(offset: float, n: int = 30, p: int = 20, rank: int = 3, seed: int = 1):
    """Features of exact rank ``rank`` computed in float32 about ``offset`` (rounded to float32 there:
    full rank in float64 along rounding-sized axes) and responses (n, 4 neuroids, 3 repeats) they predict."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(n, rank)).astype(np.float32), rng.normal(size=(rank, p)).astype(np.float32)
    F = (A @ B + np.float32(offset)).astype(np.float32)
    R = ((A @ B).astype(float) @ rng.normal(size=(p, 4)))[:, :, None] + 3 * rng.normal(size=(n, 4, 3))
    ids = [f"s{i:02d}" for i in range(n)]
    return nx.features(F, ids, model="net", layer="l1"), nx.neural(R, ids, [f"n{j}" for j in range(4)])


def test_least_squares_on_float32_rounding_axes_is_refused_by_every_path(tmp_path):
    """regressor='linear' on float32 features of exact low rank about an offset fitted float32's rounding of
    the values (axes far above float64's resolution): the direct call and the streamed entry differed by tens
    of EV points. Every path refuses it in one line naming the features and the way out; ridge still scores."""
    from neuroxr.errors import ParameterError
    from neuroxr.predictivity.inference import bootstrap
    from neuroxr.store import StudyStore

    feats, neu = _float32_low_rank(100.0)
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    st.write_features("net", "l1", feats, unit_chunk=8)
    calls = {
        "direct": lambda: pv.forward(feats, neu, regressor="linear", reps=2),
        "lazy": lambda: pv.forward(feats.chunk({"unit": 8}), neu, regressor="linear", reps=2),
        "entry": lambda: nx.score(st, "forward", "net.l1", "mA", regressor="linear", reps=2),
        "bootstrap": lambda: bootstrap("forward", feats, neu, regressor="linear", reps=2, n_boot=5),
    }
    for what, call in calls.items():
        with pytest.raises(ParameterError, match=r"regressor='linear'.*float32.*regressor='ridge'") as err:
            call()
        assert "\n" not in str(err.value), what
    ridge = pv.forward(feats, neu, regressor="ridge", reps=2)
    entry = nx.score(st, "forward", "net.l1", "mA", regressor="ridge", reps=2)
    np.testing.assert_allclose(entry.ev.values, ridge.ev.values, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", ["no_offset", "float64", "integers"])
def test_least_squares_on_resolved_float32_features_still_scores(case):
    """Not refused: float32 low-rank features whose rounding the fit truncates (no offset), the same
    product computed in float64, and float32 integers (exact, no rounding at all); the streamed and direct
    numbers agree."""
    feats, neu = _float32_low_rank(0.0 if case == "no_offset" else 100.0)
    if case == "float64":
        rng = np.random.default_rng(1)
        A, B = rng.normal(size=(30, 3)), rng.normal(size=(3, 20))
        feats = feats.copy(data=A @ B + 100.0)
    elif case == "integers":
        feats = feats.copy(data=np.round(8 * feats.values.astype(float)).astype(np.float32))
    direct = pv.forward(feats, neu, regressor="linear", reps=2)
    lazy = pv.forward(feats.chunk({"unit": 8}), neu, regressor="linear", reps=2)
    assert np.isfinite(direct.r.values).all()
    np.testing.assert_allclose(lazy.r.values, direct.r.values, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("held", ["GramStats", "array"])
def test_least_squares_from_a_float32_gram_is_refused(held):
    """A Gram held in float32 (gram_dask of float32 chunks without dtype) resolves its eigenvalues to about
    1e-7 of the largest; least squares (no penalty) inverted that rounding along the null space: r off by
    0.6 for full-rank features. Refused in one line; a float64 Gram of the same features equals the direct call."""
    from neuroxr.errors import ParameterError

    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 20))
    R = (X @ rng.normal(size=(20, 4)))[:, :, None] + 3 * rng.normal(size=(30, 4, 3))
    feats, neu = nx.features(X), nx.neural(R)
    g32 = gram_dask(da.from_array(X.astype(np.float32), chunks=(30, 8)))
    with pytest.raises(ParameterError, match=r"gram: .*float32.*regressor='linear'.*float64.*regressor='ridge'") as err:
        pv.forward(feats, neu, regressor="linear", reps=2, gram=g32 if held == "GramStats" else g32.K)
    assert "\n" not in str(err.value)
    want = pv.forward(feats, neu, regressor="linear", reps=2)
    got = pv.forward(feats, neu, regressor="linear", reps=2, gram=gram_dask(da.from_array(X, chunks=(30, 8))))
    np.testing.assert_allclose(got.r.values, want.r.values, atol=1e-9)


def test_a_float32_gram_is_checked_for_range_without_a_numpy_overflow_warning():
    """The range check compared the float32 Gram's squared norms with float64's largest number, which NumPy
    cast to float32 with 'RuntimeWarning: overflow encountered in cast' on every call with such a gram=."""
    import warnings

    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 20))
    R = (X @ rng.normal(size=(20, 4)))[:, :, None] + 3 * rng.normal(size=(30, 4, 3))
    g32 = gram_dask(da.from_array(X.astype(np.float32), chunks=(30, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = pv.forward(nx.features(X), nx.neural(R), reps=2, gram=g32)
    assert np.isfinite(got.r.values).all()
