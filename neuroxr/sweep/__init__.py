"""Sweeps: score models x layers x neural sets x regions x directions (and metrics) as one Dask task graph.

:func:`sweep` plans one *entry* per score (:mod:`.plan`), runs one task per entry -- one call of
the entry engine :func:`neuroxr.entries.compute`, after one Gram task per layer where entries read
the layer's Gram (:mod:`.tasks`) -- on an embedded or existing Dask cluster (:mod:`.cluster`),
skipping entries whose provenance matches a stored one, and gathers the entries that match the
sweep's parameters, new or already there, into a :class:`SweepResult` (:mod:`.gather`,
:mod:`.select`). Configuration files are checked by
:mod:`.config`; the ``neuroxr sweep`` command lives in :mod:`neuroxr.cli.sweep`.

Modules
-------
config   accepted keys, the JSON schema of a config file, :func:`validate_config`, :func:`load_config`
config_yaml  YAML 1.2 reading and writing of config files
plan     :class:`Entry`, :func:`plan_sweep` (model / layer / neural set / region selection)
checks   :func:`check_plan`: the plan's refusals, run by :func:`sweep` and by ``load_config(path, store)``
tasks    worker tasks (one ``neuroxr.entries.compute`` call each), entry parameters and lookup
cluster  embedded LocalCluster / LocalCUDACluster, connecting by address, worker settings
gather   :class:`SweepResult`, :func:`gather`, :func:`gather_metrics`
select   :func:`best_layers`, :func:`target_halves`
run      :func:`sweep`, :class:`SweepError`
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from ..errors import SweepConfigError

# names -> their module, imported on first use: a worker importing ``neuroxr.sweep.tasks`` does not
# pay for the config schema, gathering or selection modules
_LAZY = {
    **dict.fromkeys(("SCORE_KEYS", "SWEEP_KEYS", "SWEEP_METRICS", "load_config", "validate_config"), "config"),
    **dict.fromkeys(("METRIC_TABLE_COLUMNS", "PARAM_COLUMNS", "SweepResult", "gather", "gather_metrics"), "gather"),
    "ALL_REGIONS": "names",
    **dict.fromkeys(("Entry", "plan_sweep"), "plan"),
    **dict.fromkeys(("SweepError", "sweep"), "run"),
    **dict.fromkeys(("best_layers", "target_halves"), "select"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        if name == "sweep":  # the submodules loaded so far, on the function ``neuroxr.sweep`` is
            for key, module in list(sys.modules.items()):
                if key.startswith(f"{__name__}.") and key.count(".") == 2 and module is not None:
                    _on_function(key.rpartition(".")[2], module)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _on_function(name: str, module: types.ModuleType) -> None:
    """Submodule ``name`` as an attribute of the function :func:`~neuroxr.sweep.run.sweep` too, once it is public.

    ``neuroxr.sweep`` is that function (a package attribute of ``neuroxr``), and the statement
    ``import neuroxr.sweep.plan as p`` reads ``plan`` as an attribute of ``neuroxr.sweep``: on the
    function it finds the module."""
    function = globals().get("sweep")
    if isinstance(function, types.FunctionType):
        setattr(function, name, module)


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """Module type of the package: loading the submodule ``neuroxr.sweep.gather`` keeps ``neuroxr.sweep.gather``
    the function :func:`~neuroxr.sweep.gather.gather` (the import system sets a package attribute for every
    submodule it loads; ``from neuroxr.sweep import gather`` gave the module once a sweep had run)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            _on_function(name, value)
            if name in _LAZY:
                value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ALL_REGIONS",
    "Entry",
    "METRIC_TABLE_COLUMNS",
    "PARAM_COLUMNS",
    "SCORE_KEYS",
    "SWEEP_KEYS",
    "SWEEP_METRICS",
    "SweepConfigError",
    "SweepError",
    "SweepResult",
    "best_layers",
    "gather",
    "gather_metrics",
    "load_config",
    "plan_sweep",
    "sweep",
    "target_halves",
    "validate_config",
]

