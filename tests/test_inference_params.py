"""Edges of the inference parameters: each value gives the right number (a reference computed here)
or a one-line neuroxr error naming the argument, never a traceback from numpy or a value taken
silently (a bool as an int, ``None`` as 0)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr.datasets import make_study
from neuroxr.errors import ParameterError
from neuroxr.predictivity.inference import best_layer, bootstrap

MODELS = {"m": [("true", 16, 1.0, 0)], "o": [("mixed", 18, 0.3, 2)]}


@pytest.fixture(scope="module")
def study():
    return make_study(seed=3, n_stimuli=40, animals={"a": 6}, n_repeats=4, models=MODELS, true_model="m",
                      true_layer="true")


@pytest.fixture(scope="module")
def boots(study):
    R = study.neural["a"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        return {"a": bootstrap("forward", study.features["m"]["true"], R, n_boot=20, reps=2),
                "b": bootstrap("forward", study.features["o"]["mixed"], R, n_boot=20, reps=2)}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------------------- best_layer's seed and key
@pytest.mark.parametrize("seed", [None, -1, 1.5, True, np.random.default_rng(0), "1"])
def test_best_layer_refuses_a_seed_that_is_not_a_non_negative_integer(boots, seed):
    """The seed splits the targets: None, a Generator, a negative seed, a float (truncated) or a bool
    (taken as 1) is a one-line error naming seed, not a TypeError from int() or a silent substitute."""
    with pytest.raises(ParameterError, match=r"^best_layer: seed must be an integer >= 0") as exc:
        best_layer(boots, seed=seed)
    _one_line(exc)


def test_best_layer_numpy_integer_seed_is_the_int(boots):
    xr.testing.assert_identical(best_layer(boots, seed=np.int64(3)), best_layer(boots, seed=3))


@pytest.mark.parametrize("key", [1, None, b"best_layer"])
def test_best_layer_refuses_a_key_that_is_not_a_string(boots, key):
    with pytest.raises(ParameterError, match=r"^best_layer: key must be a string") as exc:
        best_layer(boots, key=key)
    _one_line(exc)
