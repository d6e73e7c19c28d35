"""The weight-free image features (``neuroxr.datasets.imagefeatures``) refuse argument values they
cannot use in one line naming the argument: never NumPy's, torch's or Python's own error, and never
a value read otherwise than meant (``grayscale="no"`` as true, ``size=2.5`` as 2)."""

from __future__ import annotations

import numpy as np
import pytest

from neuroxr.datasets.imagefeatures import gabor_energy_features, pixel_features, random_cnn_features
from neuroxr.errors import ParameterError


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("kw, arg", [
    ({"size": 0}, "size"),
    ({"size": 2.5}, "size"),  # was truncated to 2 while the layer was named "gray2.5"
    ({"grayscale": "no"}, "grayscale"),  # was read as true
])
def test_pixel_features_refuse_unusable_arguments(images, kw, arg):
    with pytest.raises(ParameterError, match=f"^pixel_features: {arg} must be"):
        pixel_features(images, **kw)


@pytest.mark.parametrize("kw, arg", [
    ({"wavelengths": [-4.0]}, "wavelengths"),
    ({"wavelengths": 8.0}, "wavelengths"),
    ({"wavelengths": []}, "wavelengths"),
    ({"log": "no"}, "log"),
    ({"grid": 0}, "grid"),
    ({"n_orientations": 2.0}, "n_orientations"),
    ({"size": -1}, "size"),
])
def test_gabor_energy_features_refuse_unusable_arguments(images, kw, arg):
    with pytest.raises(ParameterError, match=f"^gabor_energy_features: {arg} must be"):
        gabor_energy_features(images, **{"size": 16, "wavelengths": (4.0,), **kw})


@pytest.mark.parametrize("kw, arg", [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": -1}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"pool": 0}, "pool"),
    ({"pool": 2.0}, "pool"),
    ({"channels": ()}, "channels"),
    ({"channels": 8}, "channels"),
    ({"channels": (4, 0)}, r"channels\[1\]"),
    ({"size": 0}, "size"),
])
def test_random_cnn_features_refuse_unusable_arguments(images, kw, arg):
    pytest.importorskip("torch", reason="random_cnn_features runs on torch")
    with pytest.raises(ParameterError, match=f"^random_cnn_features: {arg} must be"):
        random_cnn_features(images, **{"channels": (4,), **kw})


def test_random_cnn_features_refuse_images_too_small_for_their_blocks(images):
    """Each block halves the image: three blocks need 8 pixels a side (torch's error named no argument)."""
    pytest.importorskip("torch", reason="random_cnn_features runs on torch")
    with pytest.raises(ParameterError, match="^random_cnn_features: images of 4 x 4 pixels are too small for 3 blocks"):
        random_cnn_features(images, channels=(2, 2, 2), size=4)
    out = random_cnn_features(images, channels=(2, 2, 2), pool=1, size=8)  # the smallest that fits
    assert out["conv3"].sizes == {"stimulus": 3, "unit": 2}
