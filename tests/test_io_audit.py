"""Converters, relative representations and identities: defects found by an audit, each pinned by a test."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr
from neuroxr.errors import LayoutError
from neuroxr.io import from_dataframe, to_dataframe


def _neural(n_stim=3, n_neuroid=2, n_rep=2, seed=0):
    R = np.random.default_rng(seed).normal(size=(n_stim, n_neuroid, n_rep))
    return neuroxr.neural(R, [f"s{i}" for i in range(n_stim)], [f"n{j}" for j in range(n_neuroid)])


@pytest.mark.parametrize("bad, match", [
    (lambda da: xr.DataArray(da.values, dims=da.dims), "missing coord 'stimulus_id'"),
    (lambda da: da.assign_coords(stimulus_id=("stimulus", ["s0", "s0", "s2"])), "duplicate ids"),
    (lambda da: da.assign_coords(neuroid_id=("neuroid", ["n0", "n0"])), "duplicate ids"),
    (lambda da: da.assign_coords(stimulus_id=("stimulus", [1, 2, 3])), "must hold strings"),
])
def test_to_dataframe_refuses_a_neural_array_whose_ids_a_table_cannot_pair(bad, match):
    """A neural array without ids raised a bare KeyError; one with duplicate ids gave a table whose rows
    of two stimuli (or neuroids) share an id, pooled by any groupby: a one-line error instead."""
    with pytest.raises(LayoutError, match=match) as info:
        to_dataframe(bad(_neural()))
    assert "\n" not in str(info.value) and str(info.value).startswith("obj: ")


def test_to_dataframe_of_a_transposed_array_is_still_read_back():
    neural = _neural()
    back = from_dataframe(to_dataframe(neural.transpose("repeat", "neuroid", "stimulus")))
    xr.testing.assert_equal(back, neural.assign_coords(repeat=[0, 1]))


@pytest.mark.parametrize("coord, dims", [("session", ("repeat",)), ("depth", ("neuroid", "repeat"))])
def test_to_dataframe_names_the_coords_a_table_has_no_place_for(coord, dims):
    """A per-repeat coord (or one over several dims) was dropped from the table without a word."""
    neural = _neural()
    neural = neural.assign_coords({coord: (dims, np.zeros([neural.sizes[d] for d in dims]))})
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=f"coords {{'{coord}'") as said:
        df = to_dataframe(neural)
    assert coord not in df.columns and len(said) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coords a table keeps say nothing
        to_dataframe(neural.drop_vars(coord).assign_coords(category=("stimulus", list("abc")), session="x"))
