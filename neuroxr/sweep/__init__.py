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
plan     :class:`Entry`, :func:`plan_sweep` (model / layer / neural set / region selection)
tasks    worker tasks (one ``neuroxr.entries.compute`` call each), entry parameters and lookup
cluster  embedded LocalCluster / LocalCUDACluster, connecting by address, worker settings
gather   :class:`SweepResult`, :func:`gather`, :func:`gather_metrics`
select   :func:`best_layers`, :func:`target_halves`
run      :func:`sweep`, :class:`SweepError`
"""

from __future__ import annotations

from ..errors import SweepConfigError
from .config import SCORE_KEYS, SWEEP_KEYS, SWEEP_METRICS, load_config, validate_config
from .gather import METRIC_TABLE_COLUMNS, PARAM_COLUMNS, SweepResult, gather, gather_metrics
from .names import ALL_REGIONS
from .plan import Entry, plan_sweep
from .run import SweepError, sweep
from .select import best_layers, target_halves

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

