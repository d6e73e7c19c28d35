"""Statements of docs/geometry.md and docs/analyses.md, each checked against the code."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.geometry import crsa


def _ids(n: int) -> list[str]:
    return [f"s{i:02d}" for i in range(n)]


@pytest.mark.parametrize("noise_ceiling", [False, True])
def test_crsa_refuses_fewer_than_3_stimuli_naming_its_own_arguments(noise_ceiling):
    """docs/geometry.md: fewer than 3 shared stimuli are refused by crsa with a LayoutError; the message
    names crsa and its arguments (it named compare_rdms and its 'a and b', arguments crsa has not)."""
    rng = np.random.default_rng(0)
    F = nx.features(rng.normal(size=(2, 4)), _ids(2), model="m", layer="l")
    N = nx.neural(rng.normal(size=(2, 3, 2)), _ids(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        with pytest.raises(LayoutError, match=r"^crsa: features \(m/l\) and neural share 2 stimuli \(1 pair\)"):
            crsa(F, N, noise_ceiling=noise_ceiling)
