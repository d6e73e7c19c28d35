"""Shared test fixtures (each area appends its own block)."""

from __future__ import annotations

import shutil

import pytest

# --- sweep fixtures
#: Two models, two layers each: (layer, units, shared fraction with the latent, private dims).
SWEEP_MODELS = {
    "netA": (("layer1", 60, 0.4, 8), ("layer3", 32, 1.0, 0)),
    "netB": (("conv1", 50, 0.5, 8), ("fc", 24, 0.6, 4)),
}


@pytest.fixture(scope="session")
def sweep_base_store(tmp_path_factory):
    """A small example study (2 animals with IT/V4 regions, 2 models), never written to by tests."""
    from neuroxr.datasets.synthetic import write_example_study

    path = tmp_path_factory.mktemp("sweep") / "base.zarr"
    write_example_study(path, seed=0, n_stimuli=120, animals={"animalA": 20, "animalB": 16}, models=SWEEP_MODELS,
                        unit_chunk=16)
    return path


@pytest.fixture
def sweep_copy(sweep_base_store, tmp_path):
    """``sweep_copy(name="study.zarr")``: a fresh copy of the sweep base store under ``tmp_path``."""
    def _copy(name: str = "study.zarr"):
        dst = tmp_path / name
        shutil.copytree(sweep_base_store, dst)
        return dst

    return _copy
