"""Datasets: a synthetic study with exact ground truth, and loaders for real data files."""

from .synthetic import (
    DEFAULT_ANIMALS,
    DEFAULT_MODELS,
    TRUE_LAYER,
    TRUE_MODEL,
    LayerSpec,
    Study,
    expected_split_half,
    make_study,
    write_example_study,
)

__all__ = [
    "DEFAULT_ANIMALS",
    "DEFAULT_MODELS",
    "TRUE_LAYER",
    "TRUE_MODEL",
    "LayerSpec",
    "Study",
    "expected_split_half",
    "make_study",
    "write_example_study",
]
