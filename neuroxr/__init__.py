# ruff: noqa: I001, E402  (imports are grouped by stage, after the signal handlers are installed)
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

from ._signals import install_early

install_early()  # first, standard library only: the command's Ctrl-C and SIGTERM end it in one line from here on

import importlib
import sys
import types
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any

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
    ParameterError,
    StoreError,
    SweepConfigError,
    SweepError,
    WriteConflictError,
)

# public name -> the module that defines it; each module is imported on first attribute access, so
# ``import neuroxr`` stays cheap (no scikit-learn, torch, cupy or distributed until asked for)
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("METRICS", "features", "neural", "validate_features", "validate_metric", "validate_neural",
         "validate_scores"), "neuroxr.layouts"),
    "align": "neuroxr.alignment",
    **dict.fromkeys(("StudyStore", "open_store"), "neuroxr.store"),
    **dict.fromkeys(("SetRef", "feature_ref", "neural_ref", "resolve", "read_set"), "neuroxr.sets"),
    **dict.fromkeys(
        ("describe", "describe_store", "load_schema", "validate_against_schema", "validate_store"), "neuroxr.schemas"),
    **dict.fromkeys(
        ("DIRECTIONS", "forward", "inter_animal", "model_to_model", "reverse", "split_half_reliability"),
        "neuroxr.predictivity"),
    **dict.fromkeys(
        ("LinearMetric", "cka", "compare_rdms", "compare_rdms_many", "crsa", "effective_dimensionality", "ereg",
         "ersa", "pairwise_distances", "procrustes_average", "rdm", "rdm_noise_ceiling", "split_half_rdm_ceiling"),
        "neuroxr.geometry"),
    **dict.fromkeys(
        ("KINDS", "EntryResult", "compute", "list_entries", "lookup", "metric_options", "metric_value", "score",
         "score_metric"), "neuroxr.entries"),
    **dict.fromkeys(("get_backend", "set_backend", "use_backend"), "neuroxr.backend"),
    **dict.fromkeys(("SweepResult", "best_layers", "load_config", "sweep"), "neuroxr.sweep"),
    **dict.fromkeys(("extract_features", "plan_extraction", "ExtractionPlan", "ExtractionResult"), "neuroxr.extract"),
    # time-resolved responses (issue 20)
    "temporal_generalization": "neuroxr.predictivity",
}


#: submodules reachable as attributes (``nx.entries.lookup``) without an explicit import
_SUBMODULES = ("alignment", "attrs", "backend", "cli", "datasets", "entries", "extract", "geometry", "io", "kernels", "layouts",
               "plot", "predictivity", "report", "schemas", "sets", "store")


def __getattr__(name: str) -> Any:
    """Import the module holding public ``name`` on first access and cache the name on the package."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neuroxr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """Module type of the package: loading the submodule ``neuroxr.sweep`` keeps ``neuroxr.sweep`` the function.

    The import system sets a package attribute for every submodule it loads; the public name
    ``neuroxr.sweep`` is the function :func:`neuroxr.sweep.sweep`, as when it was imported eagerly (the
    package's submodules are attributes of it too, so ``import neuroxr.sweep.plan as p`` finds the module).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            if name in self.__dict__:  # already resolved to the public object: keep it
                return
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "__version__",
    # errors
    "NeuroxrError", "LayoutError", "ParameterError", "StoreError", "BackendError", "SweepConfigError", "SweepError",
    "ExtractionError", "WriteConflictError", "NeuroxrWarning",
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
    # time-resolved responses
    "temporal_generalization",
]
