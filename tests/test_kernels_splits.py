"""Split-half kernels vs direct NumPy computations of the same halves."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroxr.backend import asarray, to_numpy
from neuroxr.kernels.folds import stimulus_folds
from neuroxr.kernels.splits import SplitHalves, distinct_splits, draw_permutation, nanmean_repeats, split_means, valid_counts

BACKENDS = ["numpy", pytest.param("torch", marks=pytest.mark.requires_torch)]


def _b(name):
    if name == "torch":
        pytest.importorskip("torch")
    return name


def _responses(seed, n=6, k=4, T=7, missing=0.0):
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n, k, T))
    if missing:
        R[rng.random(R.shape) < missing] = np.nan
    return R


def test_draw_permutation_consumes_what_reverse_pred_shuffle_consumes():
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for T in (5, 8):
        p = draw_permutation(a, T)
        arr = np.arange(T * 2).reshape(T, 2)
        b.shuffle(arr)  # reverse_pred shuffles the (repeat, ...) array in place
        np.testing.assert_array_equal(arr[:, 0] // 2, p)
    assert a.random() == b.random()  # same position in the stream afterwards


@pytest.mark.parametrize("backend", BACKENDS)
def test_slots_split_equals_nanmean_of_the_permuted_slots(backend):
    R = _responses(0, missing=0.2)
    rng = np.random.default_rng(1)
    perms = np.stack([rng.permutation(7) for _ in range(3)])
    h1, h2 = split_means(asarray(R, backend=_b(backend)), perms, "slots")
    h1, h2 = to_numpy(h1), to_numpy(h2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.nanmean of an all-NaN slice
        for i, p in enumerate(perms):
            np.testing.assert_allclose(h1[i], np.nanmean(R[:, :, p[:4]], axis=-1), rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(h2[i], np.nanmean(R[:, :, p[4:]], axis=-1), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_valid_split_halves_the_valid_repeats_in_permuted_order(backend):
    R = _responses(2, missing=0.3)
    rng = np.random.default_rng(4)
    perms = np.stack([rng.permutation(7) for _ in range(2)])
    h1, h2 = (to_numpy(h) for h in split_means(asarray(R, backend=_b(backend)), perms, "valid"))
    n, k, _ = R.shape
    for i, p in enumerate(perms):
        for s in range(n):
            for j in range(k):
                vals = [R[s, j, t] for t in p if not np.isnan(R[s, j, t])]
                c = (len(vals) + 1) // 2
                e1 = np.mean(vals[:c]) if c else np.nan
                e2 = np.mean(vals[c:]) if len(vals) > c else np.nan
                np.testing.assert_allclose([h1[i, s, j], h2[i, s, j]], [e1, e2], rtol=1e-12, equal_nan=True)


def test_complete_data_valid_equals_slots_and_strided_input():
    R = _responses(5)
    perms = np.stack([np.random.default_rng(6).permutation(7) for _ in range(3)])
    v = split_means(R, perms, "valid")
    s = split_means(R, perms, "slots")
    Rs = np.ascontiguousarray(np.swapaxes(R, 0, 1)).swapaxes(0, 1)  # same values, strided view
    assert not Rs.flags.c_contiguous
    st = SplitHalves(Rs).means(perms)
    for a, b, c in zip(v, s, st):
        np.testing.assert_allclose(a, b, rtol=1e-14)
        np.testing.assert_allclose(a, c, rtol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nanmean_and_valid_counts(backend):
    R = _responses(7, missing=0.4)
    R[0, 0, :] = np.nan
    X = asarray(R, backend=_b(backend))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmean(R, axis=-1)
    np.testing.assert_allclose(to_numpy(nanmean_repeats(X)), ref, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(to_numpy(valid_counts(X)), (~np.isnan(R)).sum(-1))


def test_split_mode_is_validated():
    with pytest.raises(ValueError, match="^SplitHalves: mode must be one of"):
        SplitHalves(_responses(8), "halves")


def _valid_split_reference(R, p):
    """Half means of the valid repeats in permuted order, one (stimulus, neuroid) at a time."""
    n, k, _ = R.shape
    e = np.full((2, n, k), np.nan)
    for s in range(n):
        for j in range(k):
            vals = [R[s, j, t] for t in p if not np.isnan(R[s, j, t])]
            c = (len(vals) + 1) // 2
            if c:
                e[0, s, j] = np.mean(vals[:c])
            if len(vals) > c:
                e[1, s, j] = np.mean(vals[c:])
    return e


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_target_means_is_the_split_of_every_rep_target_major(backend, missing):
    R = _responses(5, n=5, k=3, T=6, missing=missing)
    rng = np.random.default_rng(6)
    perms = np.stack([rng.permutation(6) for _ in range(4)])
    h1, h2 = (to_numpy(h) for h in SplitHalves(asarray(R, backend=_b(backend)), "valid").target_means(perms))
    assert h1.shape == h2.shape == (5, 3, 4)
    for i, p in enumerate(perms):
        e = _valid_split_reference(R, p)
        np.testing.assert_allclose(h1[:, :, i], e[0], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(h2[:, :, i], e[1], rtol=1e-12, equal_nan=True)


def test_target_means_slots_mode_and_strided_input():
    R = _responses(7, n=4, k=5, T=7, missing=0.2)
    rng = np.random.default_rng(8)
    perms = np.stack([rng.permutation(7) for _ in range(3)])
    h1, h2 = SplitHalves(R, "slots").target_means(perms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.nanmean of an all-NaN slice
        for i, p in enumerate(perms):
            np.testing.assert_allclose(h1[:, :, i], np.nanmean(R[:, :, p[:4]], axis=-1), rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(h2[:, :, i], np.nanmean(R[:, :, p[4:]], axis=-1), rtol=1e-12, equal_nan=True)
    full = _responses(9, n=4, k=6, T=5)
    view = full[:, 1:4]  # strided: no flat view (one animal of a recording)
    q = np.stack([rng.permutation(5) for _ in range(2)])
    copied, kept = SplitHalves(view), SplitHalves(view, copy=False)
    assert copied._R0 is not None and kept._R0 is None  # copy=False: one product per stimulus
    for halves in (copied, kept):
        g1, g2 = halves.target_means(q)
        for i, p in enumerate(q):
            np.testing.assert_allclose(g1[:, :, i], view[:, :, p[:3]].mean(axis=-1), rtol=1e-12)
            np.testing.assert_allclose(g2[:, :, i], view[:, :, p[3:]].mean(axis=-1), rtol=1e-12)
        m1, _ = halves.means(q)
        np.testing.assert_allclose(m1, np.moveaxis(g1, -1, 0), rtol=1e-14)
    assert kept._R0 is None


@pytest.mark.parametrize(("missing", "T", "reps", "split"), [
    (0.0, 5, 3, "valid"), (0.15, 5, 3, "valid"),  # more repeats than reps: every rep's halves
    (0.0, 4, 12, "valid"), (0.0, 3, 12, "valid"),  # shared splits, predictions from single repeats
    (0.2, 4, 12, "slots"), (0.2, 4, 12, "valid"),  # missing trials: shared splits only for slots
])
def test_forward_target_chunks_equal_the_rep_batches(monkeypatch, missing, T, reps, split):
    import importlib

    from neuroxr.kernels.regressors import Regressor

    fw = importlib.import_module("neuroxr.predictivity.forward")  # the module, not the function

    rng = np.random.default_rng(10)
    n, k = 24, 7
    F = rng.standard_normal((n, 6))
    R = (F @ rng.standard_normal((6, k)))[:, :, None] + rng.standard_normal((n, k, T))
    if missing:
        R[rng.random(R.shape) < missing] = np.nan
        R[:, :, :2] = np.nan_to_num(R[:, :, :2])  # at least 2 valid repeats everywhere
    reg = Regressor("ridge", stimulus_folds(n, 4, 0, "test"), alpha=0.1)
    mean = nanmean_repeats(R)
    ref, _ = fw._forward_core(F, None, R, reg, reps, 1, None, True, split, False, False, 6, mean)
    monkeypatch.setattr(fw, "_CHUNK_BYTES", 1)  # one target per chunk
    got, _ = fw._forward_chunked(F, None, R, reg, reps, 1, None, True, split, False, False, 6, mean)
    for name in ("ev", "r", "target_shc", "prediction_shc"):
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("T", [2, 3, 4, 5, 6])
def test_distinct_splits_index_every_rep(T):
    rng = np.random.default_rng(T)
    perms = np.stack([rng.permutation(T) for _ in range(40)])
    first = (T + 1) // 2
    for symmetric in (False, True):
        distinct, inverse = distinct_splits(perms, symmetric=symmetric)
        assert inverse.shape == (40,)
        for p, i in zip(perms, inverse):
            half, rep = set(p[:first]), set(distinct[i][:first])
            assert half == rep or (symmetric and T % 2 == 0 and half == set(range(T)) - rep)
        halves = {frozenset(p[:first]) for p in perms}
        partitions = {min(h, frozenset(range(T)) - h, key=sorted) for h in halves} if T % 2 == 0 else halves
        assert len(distinct) == (len(partitions) if symmetric else len(halves))


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("T", [5, 12])  # sum_last adds slice by slice below 8 repeats, np.sum from 8
def test_repeat_sums_given_once_give_the_same_means_and_halves(missing, T):
    from neuroxr.backend import sum_last

    R = _responses(11, n=9, k=5, T=T, missing=missing)
    R[0, 0, :] = np.nan  # an all-NaN (stimulus, neuroid)
    view = np.concatenate([R, R], axis=1)[:, ::2]  # strided: the halves' flat copy
    perms = np.stack([np.random.default_rng(s).permutation(T) for s in range(3)])
    for X in (R, view):
        total = sum_last(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = np.nanmean(X, axis=-1)
        np.testing.assert_array_equal(nanmean_repeats(X, total), nanmean_repeats(X))
        np.testing.assert_allclose(nanmean_repeats(X, total), want, rtol=1e-13)
        for mode in ("valid", "slots"):
            given, own = SplitHalves(X, mode, total=total), SplitHalves(X, mode)
            assert given._complete == own._complete == (missing == 0.0 and not np.isnan(X).any())
            for a, b in zip(given.means(perms), own.means(perms)):
                np.testing.assert_array_equal(a, b)
            for a, b in zip(given.target_means(perms), own.target_means(perms)):
                np.testing.assert_array_equal(a, b)
        # the halves by definition: the slots' nanmean of each permutation's first ceil(T/2)
        h1, h2 = SplitHalves(X, "slots", total=total).means(perms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i, p in enumerate(perms):
                np.testing.assert_allclose(h1[i], np.nanmean(X[:, :, p[: (T + 1) // 2]], axis=-1), rtol=1e-12)
                np.testing.assert_allclose(h2[i], np.nanmean(X[:, :, p[(T + 1) // 2 :]], axis=-1), rtol=1e-12)
    with pytest.raises(ValueError, match="^SplitHalves: total must be the repeat sums"):
        SplitHalves(R, "slots", total=sum_last(R)[1:])
    with pytest.raises(ValueError, match="^nanmean_repeats: total must be the repeat sums"):
        nanmean_repeats(R, sum_last(R).T)


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("T", [3, 12])
def test_repeat_sums_given_answer_the_nan_checks(missing, T):
    """The directions' NaN checks from the repeat sums they compute anyway: the same masks and
    counts as from the responses, by brute force, whatever the sums hold (finite, NaN, overflow)."""
    from neuroxr.backend import sum_last
    from neuroxr.kernels.splits import complete_sums
    from neuroxr.predictivity import _prepare as prep

    R = _responses(12, n=9, k=5, T=T, missing=missing)
    if missing:
        R[:, 1, :] = np.nan  # an all-NaN neuroid
        R[2, :, 1:] = np.nan  # a stimulus with one valid repeat per neuroid
    big = np.full((4, 3, T), 1e308)  # complete, but its sums overflow to inf
    for X in (R, np.concatenate([R, R], axis=1)[:, ::2], big):
        with np.errstate(over="ignore"):
            total = sum_last(X)
        isnan = np.isnan(X)
        counts = (~isnan).sum(axis=-1)
        assert complete_sums(X, total, "t") == bool(np.isfinite(total).all())
        np.testing.assert_array_equal(prep.neuroid_nan(X, total=total), isnan.any(axis=(0, 2)))
        np.testing.assert_array_equal(prep.neuroid_nan(X, every=True, total=total), isnan.all(axis=(0, 2)))
        for need in (1, 2, T):
            np.testing.assert_array_equal(prep.enough_repeats(X, need, total), counts >= need)
            keep, valid = prep.usable_stimuli(X, need, total)
            np.testing.assert_array_equal(valid, counts >= need)
            np.testing.assert_array_equal(keep, (counts >= need).any(axis=1))
    with np.errstate(over="ignore"):
        assert not complete_sums(big, sum_last(big), "t")  # overflowed sums decide nothing: R was read above
    with pytest.raises(ValueError, match="^enough_repeats: total must be the repeat sums"):
        prep.enough_repeats(R, 1, sum_last(R)[1:])


def test_mean_over_reps_counts_minus_infinity_and_leaves_nan_out():
    """The one mean of reliabilities over reps: -inf (a split-half r of -1) counts, NaN reps do not,
    no rep at all is NaN; without a NaN it is NumPy's mean, quietly."""
    from neuroxr.kernels.splits import mean_over_reps

    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 5))
    v[1, 2], v[2] = -np.inf, np.nan
    v[3, [0, 4]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = mean_over_reps(v, axis=1)
    np.testing.assert_allclose(out[0], v[0].mean(), rtol=1e-15)
    assert out[1] == -np.inf and np.isnan(out[2])
    np.testing.assert_allclose(out[3], np.mean(v[3, 1:4]), rtol=1e-15)
    np.testing.assert_array_equal(mean_over_reps(v.T, axis=0), out)
    assert float(mean_over_reps(np.full(3, -np.inf))) == -np.inf
