"""Stimuli are paired by id and put in the canonical order (sorted stimulus_id) before any draw."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr import predictivity as pv


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n, k, T, p = 60, 6, 6, 12
    Z = rng.normal(size=(n, 3))
    ids = [f"img{rng.integers(1e6)}_{i}" for i in range(n)]  # unsorted ids
    F = nx.features(Z @ rng.normal(size=(3, p)) + 0.5 * rng.normal(size=(n, p)), ids)
    F2 = nx.features(Z @ rng.normal(size=(3, 5)) + rng.normal(size=(n, 5)), ids)
    R = (Z @ rng.normal(size=(3, k)))[:, :, None] + rng.normal(size=(n, k, T))
    R[rng.random(R.shape) < 0.05] = np.nan
    A = nx.neural(R, ids)
    B = nx.neural((Z @ rng.normal(size=(3, 4)))[:, :, None] + rng.normal(size=(n, 4, 5)), ids)
    return dict(F=F, F2=F2, A=A, B=B, perm=rng.permutation(n))


CALLS = {
    "forward": lambda d, p: pv.forward(p(d["F"]), p(d["A"]), reps=3, seed=1, keep_predictions=True),
    "reverse": lambda d, p: pv.reverse(p(d["A"]), p(d["F"]), reps=3, seed=1, keep_predictions=True),
    "inter_animal": lambda d, p: pv.inter_animal(p(d["A"]), p(d["B"]), reps=3, seed=1, keep_predictions=True),
    "model_to_model": lambda d, p: pv.model_to_model(p(d["F"]), p(d["F2"]), reps=2, max_n=6, keep_predictions=True),
}


@pytest.mark.parametrize("direction", list(CALLS))
def test_permuting_stimuli_gives_identical_numbers(data, direction):
    ref = CALLS[direction](data, lambda da: da)
    # both inputs shuffled, each differently: same numbers, bit for bit
    shuffled = CALLS[direction](data, lambda da: da.isel(stimulus=np.random.default_rng(da.size).permutation(da.sizes["stimulus"])))
    xr.testing.assert_identical(ref, shuffled)
    # predictions are labeled by id in the canonical order
    ids = ref.stimulus_id.values
    np.testing.assert_array_equal(ids, np.sort(ids))


def test_targets_keep_the_input_order(data):
    A = data["A"].isel(neuroid=[3, 0, 5, 1, 2, 4])
    ds = pv.forward(data["F"], A, reps=2)
    np.testing.assert_array_equal(ds.neuroid_id.values, A.neuroid_id.values)
    ref = pv.forward(data["F"], data["A"], reps=2)
    xr.testing.assert_allclose(ds.ev.sortby("neuroid_id"), ref.ev.sortby("neuroid_id"))


def test_precomputed_gram_is_in_the_features_order(data):
    """A Gram given in the (unsorted) features' own order is reordered with them."""
    F = data["F"]
    Fc = F.values - F.values.mean(0)
    ds = pv.forward(F, data["A"], reps=2, gram=Fc @ Fc.T)
    ref = pv.forward(F, data["A"], reps=2)
    assert ds.attrs["streamed"]
    xr.testing.assert_allclose(ds.ev, ref.ev, rtol=1e-9)
