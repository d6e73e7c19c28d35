"""neuroxr: compare artificial neural networks with brains on labeled arrays, Zarr stores and Dask."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("neuroxr")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .layouts import LayoutError, align, features, neural, validate_features, validate_neural, validate_scores
from .store import StoreError, StudyStore, open_store

__all__ = [
    "__version__",
    "LayoutError",
    "StoreError",
    "StudyStore",
    "align",
    "features",
    "neural",
    "open_store",
    "validate_features",
    "validate_neural",
    "validate_scores",
]
