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

# real recorded data (files read from a path; nothing is bundled) and weight-free image features
from .cowley import COWLEY_SESSIONS, cowley_repeat_counts, cowley_sessions, load_cowley_images, load_cowley_v4
from .imagefeatures import gabor_energy_features, pixel_features, random_cnn_features
from .kriegeskorte import load_kriegeskorte_92

__all__ += [
    "COWLEY_SESSIONS",
    "cowley_repeat_counts",
    "cowley_sessions",
    "load_cowley_images",
    "load_cowley_v4",
    "gabor_energy_features",
    "pixel_features",
    "random_cnn_features",
    "load_kriegeskorte_92",
]
