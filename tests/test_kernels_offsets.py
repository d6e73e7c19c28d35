"""Tests of neuroxr.kernels.offsets: the warning where float32 rounds a column far from zero past use
(``eps_32 |mean| / std > 1e-3``), at each place the analyses meet float32 values, and that the
numbers stay those of the same values in float64."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from conftest import linear_arrays

import neuroxr as nx
from neuroxr.kernels.offsets import OFFSET_LOSS, OFFSET_RATIO, offset_columns, offset_count
from neuroxr.kernels.stats import column_squares

N, K, T, P = 40, 5, 3, 6
SID = [f"s{i:02d}" for i in range(N)]
NID = [f"n{j}" for j in range(K)]
DIGITS = "significant digits"  # every offset warning says how many are left


def _arrays(offset=0.0, dtype=np.float64, seed=0):
    """Features (N, P) of unit spread at ``offset``, as ``dtype``, and responses sharing their map."""
    F, R = linear_arrays(seed, N, K, T, P)
    F = F / F.std(axis=0)
    feats = nx.features((F + offset).astype(dtype), SID, [f"u{i}" for i in range(P)], model="m", layer="l")
    return feats, nx.neural(R, SID, NID)


def _offset_warnings(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the messages of its offset warnings."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(x.message) for x in w if DIGITS in str(x.message)]


def _ratio(x):
    """eps_32 |mean| / std per column, from numpy."""
    return np.finfo(np.float32).eps * np.abs(x.mean(axis=0)) / x.std(axis=0)


# ---------------------------------------------------------------------------- the criterion
def test_offset_columns_flag_the_columns_past_the_bound_only():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 1))
    offsets = np.array([0.0, 1.0, 10.0, 1e3, 0.5 * OFFSET_RATIO, 2 * OFFSET_RATIO, 1e5, 1e6])
    x = z + offsets  # one column per offset, the same spread
    c, u = column_squares(x)
    np.testing.assert_array_equal(offset_columns(c, u), _ratio(x) > OFFSET_LOSS)
    assert offset_columns(c, u).tolist() == [False] * 5 + [True] * 3
    assert offset_count(x) == 3 and offset_count(x, block_bytes=1) == 3  # a column at a time
    const = np.full((10, 2), 1e5)  # no variation to lose: reported as constant, not here
    assert not offset_columns(*column_squares(const)).any()
    assert not offset_columns(*column_squares(np.full((10, 2), np.nan))).any()
    assert OFFSET_RATIO == pytest.approx(OFFSET_LOSS / np.finfo(np.float32).eps)


# ---------------------------------------------------------------------------- the analyses
@pytest.mark.parametrize("offset", [0.0, 3.0, 10.0])
def test_ordinary_float32_features_give_no_warning(offset):
    f, r = _arrays(offset, np.float32)
    for call in (lambda: nx.forward(f, r, reps=1), lambda: nx.reverse(r, f, reps=1),
                 lambda: nx.forward(f.astype(np.float64), r, reps=1, dtype="float32"), lambda: nx.rdm(f)):
        assert _offset_warnings(call)[1] == []


def test_float32_features_far_from_zero_warn_and_score_as_their_float64_values():
    f, r = _arrays(1e5, np.float32)
    f64 = f.astype(np.float64)  # the same (rounded) values
    got, msgs = _offset_warnings(nx.forward, f, r, reps=2)
    assert msgs == [f"forward: features (m/l): 6 of 6 units have |mean| / std above {OFFSET_RATIO:.2g} across the stimuli "
                    "(eps_32 |mean| / std > 0.001); as float32 values they kept fewer than about 3 significant digits "
                    "of their variation, lost before the analysis. To keep them, store them as float64, or centre each "
                    "column (subtract its mean) before converting to float32."]
    want, none = _offset_warnings(nx.forward, f64, r, reps=2)
    assert none == []
    np.testing.assert_array_equal(got["r"].values, want["r"].values)
    got, msgs = _offset_warnings(nx.reverse, r, f, reps=2)  # features as targets
    assert len(msgs) == 1 and msgs[0].startswith("reverse: features (m/l): 6 of 6 units")
    np.testing.assert_array_equal(got["r"].values, nx.reverse(r, f64, reps=2)["r"].values)


def test_only_the_columns_past_the_bound_are_counted():
    f, r = _arrays(0.0, np.float64)
    v = f.values.copy()
    v[:, :2] += 1e5
    f = f.copy(data=v.astype(np.float32))
    _, msgs = _offset_warnings(nx.model_to_model, f, f, reps=1)
    assert [m.split(" have")[0] for m in msgs] == ["model_to_model: features_a (m/l): 2 of 6 units",
                                                   "model_to_model: features_b (m/l): 2 of 6 units"]


@pytest.mark.parametrize("offset", [1e5, 1e6])
def test_dtype_float32_centres_in_float64_before_the_cast(offset):
    """dtype='float32' on float64 values far from zero (features as design and as targets, responses
    with a baseline as targets and as design, streamed or in memory) centres each column in float64
    before the cast: the scores and predictions stay within float32's rounding of float64's, and
    nothing warns (the cast once kept 2 digits of the variation at 1e5: r off by about 1e-3)."""
    f, r = _arrays(offset, np.float64)
    rb = r + offset  # a baseline far from zero
    calls = [(nx.forward, f, r, {}), (nx.forward, f, rb, {"noise_ceiling": False}), (nx.reverse, r, f, {}),
             (nx.reverse, rb, f, {"noise_ceiling": False}), (nx.inter_animal, rb, rb, {"noise_ceiling": False}),
             (nx.model_to_model, f, f.copy(data=np.roll(f.values, 1, axis=1)), {})]
    for fn, a, b, kw in calls:
        want = fn(a, b, reps=1, keep_predictions=True, **kw)
        got, msgs = _offset_warnings(fn, a, b, reps=1, keep_predictions=True, dtype="float32", **kw)
        assert msgs == [], fn.__name__
        np.testing.assert_allclose(got["r"].values, want["r"].values, atol=2e-6, err_msg=fn.__name__)
        P, Pw = got["prediction"].values, want["prediction"].values
        np.testing.assert_allclose(P - Pw, 0, atol=1e-5 * np.nanstd(Pw), err_msg=fn.__name__)


def test_neural_responses_far_from_zero_warn_as_targets_and_predictors():
    f, r = _arrays(0.0, np.float64)
    r32 = (r + 1e5).astype(np.float32)
    _, msgs = _offset_warnings(nx.forward, f, r32, reps=1, noise_ceiling=False)
    assert len(msgs) == 1 and msgs[0].startswith("forward: neural: 5 of 5 neuroids have |mean| / std above")
    _, msgs = _offset_warnings(nx.reverse, r32, f, reps=1, noise_ceiling=False)
    assert len(msgs) == 1 and msgs[0].startswith("reverse: neural: 5 of 5 neuroids")
    _, msgs = _offset_warnings(nx.inter_animal, r32, r32, reps=1, noise_ceiling=False)
    assert sorted(m.split(": 5 of")[0] for m in msgs) == ["inter_animal: neural_a (neural)", "inter_animal: neural_b (neural)"]


def test_lazy_float32_features_warn_from_the_sums_already_read():
    """Reverse reads lazy targets chunk by chunk, streamed forward and the geometry reduce them to a
    Gram: the warning comes from those sums (per unit, or the Gram's totals), never another read."""
    f, r = _arrays(1e5, np.float32)
    lazy = f.copy(data=da.from_array(f.values, chunks=(N, 2)))
    got, msgs = _offset_warnings(nx.reverse, r, lazy, reps=1)
    assert len(msgs) == 1 and msgs[0].startswith("reverse: features (m/l): 6 of 6 units")
    np.testing.assert_array_equal(got["r"].values, nx.reverse(r, f.astype(np.float64), reps=1)["r"].values)
    for call in (lambda: nx.forward(lazy, r, reps=1), lambda: nx.rdm(f), lambda: nx.rdm(lazy), lambda: nx.cka(f, r)):
        _, msgs = _offset_warnings(call)
        assert len(msgs) == 1 and "root-mean-square mean of its units is above" in msgs[0], msgs


def test_inference_warns_as_the_direction_does():
    f, r = _arrays(1e5, np.float32)
    _, msgs = _offset_warnings(nx.predictivity.inference.bootstrap, "forward", f, r, n_boot=2, reps=1)
    assert len(msgs) == 1 and msgs[0].startswith("bootstrap: features (m/l): 6 of 6 units")


def test_temporal_generalization_warns_for_its_features_source():
    f, r = _arrays(1e5, np.float32)
    bins = [(0, 10), (10, 20)]
    timed = nx.neural(np.stack([r.values, r.values[::-1]], axis=-1), SID, NID, time_bins=bins)
    _, msgs = _offset_warnings(nx.temporal_generalization, f, timed)
    assert len(msgs) == 1 and msgs[0].startswith("temporal_generalization: source (m/l): 6 of 6 units")


@pytest.mark.parametrize("fn", ["ersa", "ereg"])
def test_encoding_rsa_warns_for_float32_features(fn):
    f, r = _arrays(1e5, np.float32)
    got, msgs = _offset_warnings(getattr(nx, fn), f, r)
    assert len(msgs) == 1 and msgs[0].startswith(f"{fn}: features (m/l): 6 of 6 units"), msgs  # with its label
    want = getattr(nx, fn)(f.astype(np.float64), r)
    for v in got.data_vars:
        np.testing.assert_array_equal(got[v].values, want[v].values)


@pytest.mark.parametrize("direction", ["reverse", "inter_animal"])
def test_neural_predictor_offset_check_reads_the_directions_trial_means(monkeypatch, direction):
    """The float32 check of neural predictors uses the trial means the direction computes anyway:
    one pass over the predictor's trials, the warning unchanged."""
    import importlib

    from neuroxr.kernels.splits import nanmean_repeats

    f, r = _arrays(0.0, np.float64)
    r32 = (r + 1e5).astype(np.float32)
    shapes = []

    def counted(R, total=None):
        shapes.append(tuple(R.shape))
        return nanmean_repeats(R, total)

    for mod in ("neuroxr.predictivity.reverse", "neuroxr.predictivity._prepare"):
        monkeypatch.setattr(importlib.import_module(mod), "nanmean_repeats", counted, raising=False)
    # inter_animal's targets have one neuroid more: only the predictor's passes have its shape
    target = f if direction == "reverse" else nx.neural(np.concatenate([r.values, r.values[:, :1]], axis=1), SID,
                                                       NID + ["extra"])
    _, msgs = _offset_warnings(getattr(nx, direction), r32, target, reps=1, noise_ceiling=False)
    assert len(msgs) == 1 and msgs[0].startswith(f"{direction}: {'neural' if direction == 'reverse' else 'neural_a (neural)'}: 5 of 5 neuroids")
    assert shapes.count((N, K, T)) == 1, shapes
