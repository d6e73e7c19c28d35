"""neuroxr: compare artificial neural networks with brains on labeled arrays, Zarr stores and Dask."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("neuroxr")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .backend import BackendError, get_backend, set_backend, use_backend
from .directions import DIRECTIONS, forward, inter_animal, model_to_model, reverse, score, split_half_reliability
from .geometry import (
    LinearMetric,
    cached_gram,
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
    store_cka,
    store_dimensionality,
)
from .layouts import (
    METRICS,
    LayoutError,
    align,
    features,
    neural,
    validate_features,
    validate_metric,
    validate_neural,
    validate_scores,
)
from .metrics import (
    metric_options,
    metric_value,
    score_cka,
    score_dimensionality,
    score_metric,
    score_rsa,
    score_shape,
)
from .schemas import describe, describe_store, load_schema, validate_against_schema, validate_store
from .store import StoreError, StudyStore, open_store
from .sweep import (  # the function shadows the module name on the package, as intended
    SweepConfigError,
    SweepError,
    SweepResult,
    best_layers,
    load_config,
    sweep,
)

_LAZY = {  # torch stays optional: these import neuroxr.extract (and torch only when run) on first use
    "extract_features": "neuroxr.extract",
    "plan_extraction": "neuroxr.extract",
    "ExtractionPlan": "neuroxr.extract",
    "ExtractionResult": "neuroxr.extract",
    "ExtractionError": "neuroxr.extract",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neuroxr' has no attribute {name!r}")


__all__ = [
    "__version__",
    "ExtractionError",
    "ExtractionPlan",
    "ExtractionResult",
    "SweepConfigError",
    "SweepError",
    "SweepResult",
    "best_layers",
    "load_config",
    "extract_features",
    "plan_extraction",
    "sweep",
    "BackendError",
    "DIRECTIONS",
    "LinearMetric",
    "cached_gram",
    "cka",
    "compare_rdms",
    "compare_rdms_many",
    "crsa",
    "describe",
    "describe_store",
    "effective_dimensionality",
    "ereg",
    "ersa",
    "forward",
    "get_backend",
    "inter_animal",
    "load_schema",
    "model_to_model",
    "pairwise_distances",
    "procrustes_average",
    "rdm",
    "rdm_noise_ceiling",
    "reverse",
    "score",
    "set_backend",
    "split_half_rdm_ceiling",
    "split_half_reliability",
    "store_cka",
    "store_dimensionality",
    "use_backend",
    "validate_against_schema",
    "validate_store",
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
    "validate_metric",
    "METRICS",
    "metric_options",
    "metric_value",
    "score_cka",
    "score_dimensionality",
    "score_metric",
    "score_rsa",
    "score_shape",
]
