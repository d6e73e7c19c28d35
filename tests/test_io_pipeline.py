"""Converter outputs are ordinary neuroxr inputs: they go through a study store and the directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neuroxr
from neuroxr.io import from_dataframe, from_rsatoolbox, to_dataframe


def test_converted_data_survive_the_store_and_score(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5))
    signal = X @ rng.normal(size=(5, 4))
    rows = [
        {"stimulus_id": f"s{s}", "neuroid_id": f"n{n}", "repeat": f"run{r}", "value": signal[s, n] + rng.normal(),
         "region": "IT", "animal": "m1"}
        for s in range(30) for n in range(4) for r in range(3)
    ]
    neural = from_dataframe(pd.DataFrame(rows).sample(frac=1.0, random_state=0))
    assert neural.repeat.values.tolist() == ["run0", "run1", "run2"]
    store = neuroxr.open_store(tmp_path / "study.zarr")
    store.write_neural("toy", neural)
    back = store.read_neural("toy").compute()
    np.testing.assert_array_equal(back.values, neural.values)
    assert back.stimulus_id.values.tolist() == neural.stimulus_id.values.tolist()
    assert back.region.values.tolist() == ["IT"] * 4
    feats = neuroxr.features(X, [f"s{i}" for i in range(30)])
    scores = neuroxr.forward(feats, neural, reps=2, seed=0)
    ref = neuroxr.forward(feats, neuroxr.neural(neural.values, neural.stimulus_id.values, neural.neuroid_id.values), reps=2, seed=0)
    np.testing.assert_allclose(scores.ev.values, ref.ev.values)
    assert len(to_dataframe(scores)) == 4 * 2


def test_channel_descriptors_named_like_keywords():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    ds = rsatoolbox.data.Dataset(
        np.arange(6.0).reshape(3, 2),
        obs_descriptors={"stimulus": ["a", "b", "c"]},
        channel_descriptors={"neuroid_id": ["x", "y"], "name": ["left", "right"], "attrs": [1, 2]},
    )
    out = from_rsatoolbox(ds)
    assert out.neuroid_id.values.tolist() == ["x", "y"] and out.coords["name"].values.tolist() == ["left", "right"]
    assert out.name == "neural"
    xr.testing.assert_equal(out.isel(repeat=0, drop=True).drop_vars(["name", "attrs"]),
                            xr.DataArray(np.arange(6.0).reshape(3, 2), dims=("stimulus", "neuroid"),
                                         coords={"stimulus_id": ("stimulus", ["a", "b", "c"]), "neuroid_id": ("neuroid", ["x", "y"])}))
