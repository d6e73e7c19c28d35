"""A value shown in a message is one short line, whatever was passed; misplaced arguments get one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr.errors import NeuroxrError, ParameterError, shown
from neuroxr.sweep.select import best_layers


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(10)]
    return (nx.features(rng.standard_normal((10, 4)), stimulus_id=ids),
            nx.neural(rng.standard_normal((10, 3, 2)), stimulus_id=ids))


def test_shown_is_the_repr_of_short_values_and_one_line_otherwise():
    for v in ("pearson", 3, 0.5, None, True, ("a", "b")):
        assert shown(v) == repr(v)
    da = xr.DataArray(np.ones((10, 3)), dims=("stimulus", "unit"), name="features")
    assert shown(da) == "a DataArray 'features' with dims ('stimulus', 'unit') and shape (10, 3)"
    assert shown(np.ones((4, 2))) == "an array of shape (4, 2)"
    assert shown(pd.DataFrame({"a": range(30)})) == "a DataFrame of shape (30, 1)"
    assert shown(xr.Dataset({"score": ("x", np.arange(50.0))})) == "a Dataset of variables ['score'] and sizes {'x': 50}"
    long = shown(list(range(200)))
    assert "\n" not in long and len(long) <= 120 and long.endswith("...")


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "<xarray" not in text, text[:300]
    return text


@pytest.mark.parametrize("call", [
    lambda F, N, S: nx.rdm(N, F),  # an array as the method
    lambda F, N, S: nx.rdm_noise_ceiling(nx.rdm(N), F),
    lambda F, N, S: nx.split_half_rdm_ceiling(N, F),
    lambda F, N, S: nx.validate_features(F, N),  # an array as the name
    lambda F, N, S: nx.validate_neural(N, F),
    lambda F, N, S: nx.metric_value(F),
    lambda F, N, S: nx.metric_value(np.ones(3)),
    lambda F, N, S: nx.score_metric(S, F, "a.b"),  # an array as the metric
    lambda F, N, S: nx.score(S, F, "a.b"),
    lambda F, N, S: nx.StudyStore(F),
    lambda F, N, S: nx.read_set(F, F),
    lambda F, N, S: nx.resolve(F, "a.b"),
    lambda F, N, S: best_layers(F),
    lambda F, N, S: best_layers(np.ones((3, 3))),
    lambda F, N, S: best_layers(pd.DataFrame({"direction": ["forward"], "ev": [0.1]})),
])
def test_misplaced_arguments_get_one_line_errors_naming_what_was_given(pair, call, tmp_path):
    F, N = pair
    with pytest.raises(NeuroxrError) as info:
        call(F, N, nx.open_store(tmp_path / "study.zarr"))
    text = _one_line(info.value)
    assert "array" in text or "DataArray" in text or "DataFrame" in text or "lacks the columns" in text


def test_a_store_given_an_array_names_the_argument(pair):
    F, _ = pair
    with pytest.raises(ParameterError, match=r"^StudyStore: url must be the path or URL of a study store .*got a DataArray"):
        nx.StudyStore(F)
    with pytest.raises(ParameterError, match=r"^read_set: store must be a StudyStore .*got a DataArray 'features'"):
        nx.read_set(F, F)
