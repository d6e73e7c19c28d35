"""Split-half kernels vs direct NumPy computations of the same halves."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroxr.backend import asarray, to_numpy
from neuroxr.kernels.splits import SplitHalves, draw_permutation, nanmean_repeats, split_means, valid_counts

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
    with pytest.raises(ValueError, match="'split' parameter"):
        SplitHalves(_responses(8), "halves")
