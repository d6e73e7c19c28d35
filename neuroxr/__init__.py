# ruff: noqa: I001  (imports are grouped by stage, not sorted)
"""neuroxr: compare artificial neural networks with brains on labeled arrays, Zarr stores and Dask.

The public API, by stage of the data flow (labeled inputs -> alignment -> kernels -> labeled
results -> store entries):

- layouts: :func:`neural`, :func:`features`, :func:`align`, ``validate_*``;
- store & sets: :class:`StudyStore`, :func:`open_store`, :class:`SetRef`, :func:`resolve`;
- predictivity: :func:`forward`, :func:`reverse`, :func:`inter_animal`, :func:`model_to_model`,
  :func:`split_half_reliability`;
- geometry: :func:`rdm`, :func:`compare_rdms`, :func:`crsa`, :func:`ersa`, :func:`ereg`,
  :func:`cka`, :class:`LinearMetric`, ...;
- entries: :func:`score` (every kind of entry, one verb), :func:`list_entries`, :func:`lookup`;
- sweeps, extraction, backends, schemas, and :class:`NeuroxrError` (base of every error).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("neuroxr")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# errors
from .errors import (
    BackendError,
    ExtractionError,
    LayoutError,
    NeuroxrError,
    NeuroxrWarning,
    StoreError,
    SweepConfigError,
    SweepError,
)

# layouts
from .layouts import (
    METRICS,
    align,
    features,
    neural,
    validate_features,
    validate_metric,
    validate_neural,
    validate_scores,
)

# store & sets
from .store import StudyStore, open_store
from .sets import SetRef, feature_ref, neural_ref, resolve, read_set
from .schemas import describe, describe_store, load_schema, validate_against_schema, validate_store

# predictivity
from .directions import DIRECTIONS, forward, inter_animal, model_to_model, reverse, split_half_reliability

# geometry
from .geometry import (
    LinearMetric,
    cka,
    compare_rdms,
    compare_rdms_many,
    crsa,
    effective_dimensionality,
    ereg,
    ersa,
    pairwise_distances,
    procrustes_average,
    rdm,
    rdm_noise_ceiling,
    split_half_rdm_ceiling,
)

# entries
from .entries import (
    KINDS,
    EntryResult,
    compute,
    list_entries,
    lookup,
    metric_options,
    metric_value,
    score,
    score_metric,
)

# backends
from .backend import get_backend, set_backend, use_backend

# sweeps (the function shadows the module name on the package, as intended)
from .sweep import SweepResult, best_layers, load_config, sweep

_LAZY = {  # torch stays optional: these import neuroxr.extract (and torch only when run) on first use
    "extract_features": "neuroxr.extract",
    "plan_extraction": "neuroxr.extract",
    "ExtractionPlan": "neuroxr.extract",
    "ExtractionResult": "neuroxr.extract",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neuroxr' has no attribute {name!r}")


__all__ = [
    "__version__",
    # errors
    "NeuroxrError", "LayoutError", "StoreError", "BackendError", "SweepConfigError", "SweepError",
    "ExtractionError", "NeuroxrWarning",
    # layouts
    "neural", "features", "align", "validate_neural", "validate_features", "validate_scores",
    "validate_metric", "METRICS",
    # store & sets
    "StudyStore", "open_store", "SetRef", "feature_ref", "neural_ref", "resolve", "read_set",
    "describe", "describe_store", "load_schema", "validate_against_schema", "validate_store",
    # predictivity
    "DIRECTIONS", "forward", "reverse", "inter_animal", "model_to_model", "split_half_reliability",
    # geometry
    "rdm", "compare_rdms", "compare_rdms_many", "rdm_noise_ceiling", "split_half_rdm_ceiling", "crsa",
    "ersa", "ereg", "cka", "effective_dimensionality", "LinearMetric", "pairwise_distances",
    "procrustes_average",
    # entries
    "score", "score_metric", "compute", "lookup", "list_entries", "EntryResult", "KINDS",
    "metric_options", "metric_value",
    # backends
    "get_backend", "set_backend", "use_backend",
    # sweeps and extraction
    "sweep", "SweepResult", "best_layers", "load_config",
    "extract_features", "plan_extraction", "ExtractionPlan", "ExtractionResult",
]
