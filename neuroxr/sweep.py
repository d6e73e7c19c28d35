"""Sweeps: score models x layers x neural sets x regions x directions as one Dask task graph.

:func:`sweep` plans one *entry* per score to compute, submits one task per entry (plus one Gram
task per layer for the forward direction) to a Dask cluster, writes each finished entry to the
study store at once, and gathers every entry (new or already there) into a :class:`SweepResult`.

Entries and names
-----------------
Every entry is the store entry ``scores/<direction>/<source>__<target>`` that
:func:`neuroxr.directions.score` would write:

================  ==========================  ==========================
direction         source                      target
================  ==========================  ==========================
forward           ``<model>.<layer>``         ``<neural>[.<region>]``
reverse           ``<neural>[.<region>]``     ``<model>.<layer>``
inter_animal      ``<neural A>[.<region>]``   ``<neural B>[.<region>]``
model_to_model    ``<model A>.<layer>``       ``<model B>.<layer>``
================  ==========================  ==========================

A *region subset* of a neural set (the neuroids whose ``region`` coord equals the region) is
scored as its own entry named ``<neural>.<region>``, e.g. ``animalA.IT``; the region ``"all"``
(the whole set) keeps the plain name ``animalA``. Every entry written by a sweep also records
``neural``, ``region``, ``model``, ``layer`` (and ``source_neural`` / ``target_model`` /
``target_layer``) in its attrs. A subset name that equals the name of an existing neural set is
refused. Inter-animal entries pair different neural sets within the same region;
model-to-model entries pair every layer of one model with every layer of every other model.

Metrics
-------
``directions`` may also name the geometry metrics of :mod:`neuroxr.metrics`: ``rsa`` (the
variant ``metric_options["rsa"]["variant"]``, default ``crsa``), ``crsa``, ``ersa``, ``ereg``,
``shape`` and ``cka`` give one entry ``metrics/<metric>/<model>.<layer>__<neural>[.<region>]``
per layer x neural set x region subset; ``dimensionality`` one entry
``metrics/dimensionality/<model>.<layer>`` per layer and one ``metrics/dimensionality/<neural>[.<region>]``
per neural set x region subset. Their options come from ``metric_options`` (per metric); the
score arguments (``reps``, ``seed``, ...) apply to the directions only. Metric entries run as
tasks on the same graph (after the Gram task of their layer for cRSA, CKA and dimensionality),
resume like score entries, and are gathered into :attr:`SweepResult.metrics` and
:attr:`SweepResult.metric_table` (see :func:`gather_metrics`).

Resume
------
Before anything is submitted, every entry with a complete store entry is skipped (unless
``overwrite=True``); a task also checks again on the worker. Each task writes its entry
atomically (:meth:`neuroxr.StudyStore.write_dataset`: data, then the completion marker) as soon
as it finishes, so a sweep killed part-way keeps all finished entries and a re-run computes only
the missing ones. :attr:`SweepResult.computed` and :attr:`SweepResult.skipped` list which.

Execution
---------
``client=None`` starts a ``distributed.LocalCluster`` sized to the machine (worker processes,
one thread each, one worker per core, BLAS/OpenMP threads set to 1 in every worker) and closes it
at the end. ``client`` may instead be a ``distributed.Client``, a cluster object, a scheduler
address (``"tcp://host:8786"``), or ``"serial"`` (no Dask: the tasks run one after another in this
process, the reference for tests and debugging). With a GPU backend (``backend="torch_cuda"`` or
``"cupy"``) the embedded cluster is dask-cuda's ``LocalCUDACluster`` (one worker per GPU).

Tasks receive the store's URL, not arrays: each worker opens the store itself, so the store must
be reachable from the workers under the same URL (a local path on a shared file system, or an
fsspec URL such as ``s3://...``; an in-memory ``memory://`` store only works with
``client="serial"``). Inside a task, dask collections are computed with the synchronous scheduler
(the Gram is streamed over the unit chunks of a layer in that worker, in bounded memory).

Layer selection (DESIGN.md section 5)
-------------------------------------
:attr:`SweepResult.best_layers` takes the max over layers by a criterion that never looks at the
reported numbers: per (direction, model, neural set, region) the targets (neuroids for forward,
units of each layer for reverse) are split into two halves by a seeded random permutation of
their ids (:func:`target_halves`); the layer with the highest median rep-mean EV over the
*selection* half is chosen, and its median rep-mean EV over the other (*test*) half is reported.
See :func:`best_layers`.

Fault injection (for tests): the environment variable ``NEUROXR_SWEEP_FAIL`` may hold
comma-separated entry keys (``"<direction>/<source>__<target>"``, ``fnmatch`` patterns allowed);
the tasks of matching entries raise before computing anything, as a crashed task would.
"""

from __future__ import annotations

import fnmatch
import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .directions import DIRECTIONS
from .kernels.regressors import REGRESSORS
from .layouts import METRICS
from .metrics import METRIC_NAMES, RSA_VARIANTS
from .store import NAME_PATTERN, StudyStore

__all__ = [
    "ALL_REGIONS",
    "Entry",
    "SweepError",
    "SweepResult",
    "SweepConfigError",
    "SCORE_KEYS",
    "SWEEP_KEYS",
    "SWEEP_METRICS",
    "plan_sweep",
    "gather_metrics",
    "sweep",
    "best_layers",
    "target_halves",
    "load_config",
    "validate_config",
    "sweep_command",
]

#: The region label of a whole neural set (no region subset).
ALL_REGIONS = "all"
#: Parameters passed on to the direction functions (see :func:`neuroxr.directions.forward`).
SCORE_KEYS = (
    "reps", "seed", "regressor", "alpha", "n_components", "alphas", "n_folds", "fold_seed",
    "max_n", "noise_ceiling", "split", "backend", "dtype",
)
#: Keys of a sweep configuration (YAML file or keyword arguments of :func:`sweep`).
SWEEP_KEYS = (
    "models", "layers", "neural", "directions", "regions", "overwrite", "n_workers", "scheduler",
    "selection_seed", "metric_options",
) + SCORE_KEYS
#: Metrics a sweep's ``directions`` may name besides the four directions (``rsa`` is the variant
#: ``metric_options["rsa"]["variant"]``, default ``crsa``).
SWEEP_METRICS = METRIC_NAMES
#: Metrics that read a feature set through its cached Gram (the sweep computes it once, first).
_GRAM_METRICS = ("crsa", "cka", "dimensionality")
_GPU_BACKENDS = ("torch_cuda", "cupy")
_FAIL_ENV = "NEUROXR_SWEEP_FAIL"
_GRAM_PATH = "cache/gram/{model}/{layer}"


from .errors import SweepConfigError  # noqa: E402
from .errors import SweepError as _SweepErrorBase  # noqa: E402


class SweepError(_SweepErrorBase):
    """Some entries of a sweep failed; every other entry was written and a re-run resumes.

    Attributes
    ----------
    failed : dict[str, str]
        Entry key -> error message.
    computed : list[str]
        Entries computed (and written) by this run before it stopped.
    """

    def __init__(self, message: str, failed: Mapping[str, str], computed: Sequence[str]) -> None:
        super().__init__(message)
        self.failed = dict(failed)
        self.computed = list(computed)


class _InjectedFailure(RuntimeError):
    """Raised by a task whose entry matches ``NEUROXR_SWEEP_FAIL`` (testing hook)."""


# ============================================================================ entries
@dataclass(frozen=True)
class Entry:
    """One entry of a sweep: ``scores/<direction>/<source>__<target>``, or for a metric
    ``metrics/<metric>/<source>__<target>`` (``metrics/dimensionality/<source>``).

    Attributes
    ----------
    direction : str
        A direction, or a metric entry group (``crsa``, ``ersa``, ``ereg``, ``shape``, ``cka``,
        ``dimensionality``); ``target`` is ``""`` for ``dimensionality``.
    source, target : str
        Store names (see the module docstring).
    model, layer : str or None
        The feature set (forward, reverse) or the source layer (model_to_model).
    neural : str or None
        The neural set scored against the model (forward, reverse) or the target animal (inter_animal).
    region : str
        Region subset, or ``"all"`` for the whole set.
    source_neural : str or None
        The predictor animal (inter_animal).
    target_model, target_layer : str or None
        The target layer (model_to_model).
    """

    direction: str
    source: str
    target: str
    model: str | None = None
    layer: str | None = None
    neural: str | None = None
    region: str = ALL_REGIONS
    source_neural: str | None = None
    target_model: str | None = None
    target_layer: str | None = None

    @property
    def is_metric(self) -> bool:
        """Whether the entry is a metric entry (``metrics/<metric>/...``) rather than a score entry."""
        return self.direction in METRICS

    @property
    def key(self) -> str:
        """``"<direction>/<source>__<target>"``: the entry's path under ``scores/`` (directions) or
        ``metrics/`` (metrics; ``"dimensionality/<source>"`` for a one-set metric)."""
        if self.is_metric and not self.target:
            return f"{self.direction}/{self.source}"
        return f"{self.direction}/{self.source}__{self.target}"

    def is_complete(self, store: StudyStore) -> bool:
        """Whether the store holds this entry, complete."""
        if self.is_metric:
            return store.has_metric(self.direction, self.source, self.target or None)
        return store.has_scores(self.direction, self.source, self.target)

    def labels(self) -> dict[str, Any]:
        """The entry's labels as a dict (attrs of the written entry, columns of the tables)."""
        return {
            "direction": self.direction, "source": self.source, "target": self.target,
            "model": self.model, "layer": self.layer, "neural": self.neural, "region": self.region,
            "source_neural": self.source_neural, "target_model": self.target_model,
            "target_layer": self.target_layer,
        }


def _subset_name(neural: str, region: str) -> str:
    return neural if region == ALL_REGIONS else f"{neural}.{region}"


def _layer_name(model: str, layer: str) -> str:
    return f"{model}.{layer}"


# ============================================================================ planning
def _metric_kind(name: str, metric_options: Mapping[str, Mapping[str, Any]] | None) -> str:
    """A direction as is; a metric name as its entry group (``rsa`` -> its variant)."""
    if name in DIRECTIONS:
        return name
    variant = None
    if name == "rsa" and metric_options and isinstance(metric_options.get("rsa"), Mapping):
        variant = metric_options["rsa"].get("variant")
    from .metrics import metric_kind

    try:
        return metric_kind(name, variant)
    except ValueError as exc:
        raise SweepConfigError(f"metric_options: {exc}") from None


def _metric_params(kind: str, metric_options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The options of metric entry group ``kind``: for the RSA variant that ``rsa`` stands for,
    ``metric_options["rsa"]`` (less ``variant``) updated with ``metric_options[kind]``; for any other,
    ``metric_options[kind]``. Checked against what the metric accepts."""
    from .metrics import _check_options

    opts = dict(metric_options or {})
    params: dict[str, Any] = {}
    if kind in RSA_VARIANTS and kind == _metric_kind("rsa", opts):
        params.update({k: v for k, v in dict(opts.get("rsa") or {}).items() if k != "variant"})
    params.update(dict(opts.get(kind) or {}))
    try:
        _check_options(kind, params)
    except ValueError as exc:
        raise SweepConfigError(f"metric_options: {exc}") from None
    return params


def _check_metric_options(metric_options: Any) -> dict[str, dict[str, Any]]:
    if metric_options is None:
        return {}
    if not isinstance(metric_options, Mapping) or not all(isinstance(v, Mapping) or v is None for v in metric_options.values()):
        raise SweepConfigError(
            f"metric_options must be a mapping metric -> options (e.g. {{rsa: {{variant: ersa}}, shape: {{alpha: 0.5}}}}); "
            f"got {metric_options!r}."
        )
    bad = [k for k in metric_options if k not in SWEEP_METRICS]
    if bad:
        raise SweepConfigError(f"metric_options names unknown metrics {bad}; choose from {SWEEP_METRICS}.")
    out = {str(k): dict(v or {}) for k, v in metric_options.items()}
    _metric_kind("rsa", out)  # checks the variant
    for kind in METRICS:
        _metric_params(kind, out)
    return out


def _as_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        out = list(value)
        bad = [v for v in out if not isinstance(v, str)]
        if bad:
            raise SweepConfigError(f"{what} must be names (strings); got {bad[:3]!r}.")
        return out
    raise SweepConfigError(f"{what} must be a name or a list of names; got {type(value).__name__} {value!r}.")


def _select(store: StudyStore, requested: Any, available: list[str], what: str) -> list[str]:
    """The requested names (default: all available), refused with the store's names when missing."""
    chosen = _as_list(requested, "neural" if what == "neural sets" else what)
    if chosen is None:
        return list(available)
    missing = [x for x in chosen if x not in available]
    if missing:
        raise SweepConfigError(f"store {store.url!r} holds no {what} {missing}; it holds {available}.")
    return chosen


def _region_values(store: StudyStore, name: str) -> list[str] | None:
    da = store.read_neural(name)
    if "region" not in da.coords:
        return None
    return list(pd.unique(np.asarray(da.coords["region"].values).astype(str)))


def plan_sweep(
    store: StudyStore,
    models: str | Sequence[str] | None = None,
    layers: str | Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    neural: str | Sequence[str] | None = None,
    directions: str | Sequence[str] = ("forward", "reverse"),
    regions: str | Sequence[str] | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Entry]:
    """The entries a sweep scores, checked against what the store holds.

    Parameters
    ----------
    store : StudyStore
    models : str or list of str, optional
        Models to score (default: every model of the store).
    layers : str, list of str or mapping model -> list of str, optional
        Layers (default: every layer of each model). A list selects those layers in every model
        that has them (each name must exist in at least one selected model); a mapping selects
        per model.
    neural : str or list of str, optional
        Neural sets (default: every neural set).
    directions : str or list of str
        Any of ``"forward"``, ``"reverse"``, ``"inter_animal"``, ``"model_to_model"`` and the
        metrics ``"rsa"`` (the variant ``metric_options["rsa"]["variant"]``, default ``"crsa"``),
        ``"crsa"``, ``"ersa"``, ``"ereg"``, ``"shape"``, ``"cka"`` (one entry per layer x neural
        set x region subset, ``<model>.<layer>`` -> ``<neural>[.<region>]``) and
        ``"dimensionality"`` (one entry per layer and one per neural set x region subset).
    regions : None, "each", or list of str
        ``None``: whole neural sets only. ``"each"``: every region of each set's ``region``
        coord (one entry per region). A list: those regions (``"all"`` adds the whole set); a
        set that lacks a listed region is skipped for that region.
    metric_options : mapping, optional
        Per metric, the options of :func:`neuroxr.metrics.score_metric` (only ``rsa``'s
        ``variant`` matters for planning).

    Returns
    -------
    list of Entry

    Raises
    ------
    SweepConfigError
        Unknown directions, models, layers, neural sets or regions (the message lists what exists).
    """
    import re

    dirs = _as_list(directions, "directions") or []
    dirs = [d.replace("-", "_") for d in dirs]
    unknown = [d for d in dirs if d not in DIRECTIONS + SWEEP_METRICS]
    if unknown or not dirs:
        raise SweepConfigError(f"unknown directions {unknown or dirs!r}; choose from {DIRECTIONS} or the metrics {SWEEP_METRICS}.")
    dirs = list(dict.fromkeys(_metric_kind(d, metric_options) for d in dirs))
    model_list = _select(store, models, store.models(), "models")
    layer_map: dict[str, list[str]] = {}
    if isinstance(layers, Mapping):
        extra = [m for m in layers if m not in model_list]
        if extra:
            raise SweepConfigError(f"layers names models {extra} that are not in the sweep's models {model_list}.")
        for m in model_list:
            have = store.layers(m)
            want = _as_list(layers.get(m), f"layers[{m!r}]")
            want = have if want is None else want
            bad = [l for l in want if l not in have]
            if bad:
                raise SweepConfigError(f"model {m!r} has no layers {bad}; its layers are {have}.")
            layer_map[m] = want
    else:
        want = _as_list(layers, "layers")
        for m in model_list:
            have = store.layers(m)
            layer_map[m] = have if want is None else [l for l in have if l in want]
        if want is not None:
            found = {l for ls in layer_map.values() for l in ls}
            bad = [l for l in want if l not in found]
            if bad:
                raise SweepConfigError(
                    f"no selected model has layers {bad}; layers per model: "
                    f"{ {m: store.layers(m) for m in model_list} }."
                )
    neural_list = _select(store, neural, store.neural_sets(), "neural sets")
    # region subsets per neural set
    subsets: dict[str, list[str]] = {}
    if regions is None:
        subsets = {n: [ALL_REGIONS] for n in neural_list}
    else:
        each = regions == "each"
        wanted = None if each else _as_list(regions, "regions")
        name_re = re.compile(NAME_PATTERN)
        found_any: set[str] = set()
        for n in neural_list:
            have = _region_values(store, n)
            if have is None and (each or any(r != ALL_REGIONS for r in wanted)):
                raise SweepConfigError(
                    f"neural set {n!r} has no 'region' coord on 'neuroid', so it cannot be split by region; "
                    f"drop it from 'neural' or use regions=None."
                )
            regs = list(have) if each else [r for r in wanted if r == ALL_REGIONS or r in have]
            found_any.update(regs)
            for r in regs:
                if r != ALL_REGIONS and not name_re.match(r):
                    raise SweepConfigError(
                        f"region {r!r} of neural set {n!r} cannot name a store entry (use letters, digits, "
                        f"'.', '-', single '_'); rename the region values."
                    )
                if r != ALL_REGIONS and _subset_name(n, r) in store.neural_sets():
                    raise SweepConfigError(
                        f"region subset {n!r} x {r!r} would be named {_subset_name(n, r)!r}, which is already "
                        f"a neural set of the store; rename that neural set."
                    )
            subsets[n] = regs
        if not each:
            absent = [r for r in wanted if r not in found_any]
            if absent:
                all_regions = sorted({r for n in neural_list for r in (_region_values(store, n) or [])})
                raise SweepConfigError(
                    f"no selected neural set has regions {absent}; regions present: {all_regions} "
                    f"(and {ALL_REGIONS!r} for whole sets)."
                )
    pairs = [(m, l) for m in model_list for l in layer_map[m]]
    if any(d in dirs for d in ("forward", "reverse", "model_to_model") + METRICS) and not pairs:
        raise SweepConfigError("the sweep selects no layers; check 'models' and 'layers'.")
    out: list[Entry] = []
    for d in dirs:
        if d in ("forward", "reverse"):
            for m, l in pairs:
                for n in neural_list:
                    for r in subsets[n]:
                        feat, neu = _layer_name(m, l), _subset_name(n, r)
                        src, tgt = (feat, neu) if d == "forward" else (neu, feat)
                        out.append(Entry(d, src, tgt, model=m, layer=l, neural=n, region=r))
        elif d == "dimensionality":
            for m, l in pairs:
                out.append(Entry(d, _layer_name(m, l), "", model=m, layer=l))
            for n in neural_list:
                for r in subsets[n]:
                    out.append(Entry(d, _subset_name(n, r), "", neural=n, region=r))
        elif d in METRICS:
            for m, l in pairs:
                for n in neural_list:
                    for r in subsets[n]:
                        out.append(Entry(d, _layer_name(m, l), _subset_name(n, r), model=m, layer=l, neural=n, region=r))
        elif d == "inter_animal":
            for a in neural_list:
                for b in neural_list:
                    if a == b:
                        continue
                    for r in subsets[b]:
                        if r in subsets[a]:
                            out.append(Entry(d, _subset_name(a, r), _subset_name(b, r), neural=b, region=r, source_neural=a))
        else:
            for ma, la in pairs:
                for mb, lb in pairs:
                    if ma != mb:
                        out.append(Entry(d, _layer_name(ma, la), _layer_name(mb, lb), model=ma, layer=la,
                                         target_model=mb, target_layer=lb))
    if not out:
        raise SweepConfigError(
            "the sweep has no entries: inter_animal needs at least two neural sets and model_to_model two models."
        )
    return out


# ============================================================================ worker tasks
def _injected(key: str) -> None:
    spec = os.environ.get(_FAIL_ENV, "")
    for pat in (p.strip() for p in spec.split(",")):
        if pat and fnmatch.fnmatchcase(key, pat):
            raise _InjectedFailure(f"injected failure of {key} ({_FAIL_ENV}={spec!r})")


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:  # not on every platform
        return float("nan")


class _TaskEnv:
    """Inside a task: synchronous dask scheduler, BLAS threads limited."""

    def __init__(self, blas_threads: int | None) -> None:
        self.blas_threads = blas_threads

    def __enter__(self) -> _TaskEnv:
        import dask

        self._cfg = dask.config.set(scheduler="synchronous")
        self._cfg.__enter__()
        self._tp = None
        if self.blas_threads is not None:
            from threadpoolctl import threadpool_limits

            self._tp = threadpool_limits(int(self.blas_threads))
            self._tp.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._tp is not None:
            self._tp.__exit__(*exc)
        self._cfg.__exit__(*exc)


def _open(url: str, storage_options: Mapping[str, Any] | None) -> StudyStore:
    return StudyStore(url, mode="a", storage_options=storage_options)


def _gram_task(url: str, storage_options: Mapping[str, Any] | None, model: str, layer: str,
               backend: str | None, blas_threads: int | None) -> str:
    """Compute (or find) the cached Gram of one layer; returns its store path."""
    from .geometry import cached_gram

    store = _open(url, storage_options)
    path = _GRAM_PATH.format(model=model, layer=layer)
    if not store.is_complete(path):
        with _TaskEnv(blas_threads):
            cached_gram(store, model, layer, backend=backend if backend not in (None, "numpy") else None)
    return path


def _read_subset(store: StudyStore, name: str, region: str) -> xr.DataArray:
    da = store.read_neural(name)
    if region != ALL_REGIONS:
        sel = np.asarray(da.coords["region"].values).astype(str) == region
        da = da.isel(neuroid=np.flatnonzero(sel))
    da = da.load()
    da.name = _subset_name(name, region)
    return da


def _read_layer(store: StudyStore, model: str, layer: str, load: bool) -> xr.DataArray:
    da = store.read_features(model, layer)
    if load:
        da = da.load()
    da.name = _layer_name(model, layer)
    return da


def _streams(kwargs: Mapping[str, Any]) -> bool:
    """Whether forward scores from the layer's Gram (shared regressor, no unit subsets)."""
    return kwargs.get("regressor", "ridge") in ("ridge", "linear") and kwargs.get("max_n") is None


def _score_task(url: str, storage_options: Mapping[str, Any] | None, entry: Entry, kwargs: Mapping[str, Any],
                overwrite: bool, blas_threads: int | None, gram_path: str | None = None) -> dict[str, Any]:
    """Score one entry on a worker and write it; returns a small status record."""
    from . import directions as _d

    t0 = time.perf_counter()
    store = _open(url, storage_options)
    if not overwrite and store.has_scores(entry.direction, entry.source, entry.target):
        return {"key": entry.key, "status": "skipped", "seconds": 0.0, "peak_rss_mb": _peak_rss_mb()}
    _injected(entry.key)
    kw = dict(kwargs)
    with _TaskEnv(blas_threads):
        if entry.direction == "forward":
            neu = _read_subset(store, entry.neural, entry.region)
            if gram_path is not None and _streams(kw):
                from .geometry import gram_stats

                feats = _read_layer(store, entry.model, entry.layer, load=False)
                gram = gram_stats(store.read_dataset(gram_path).load())
                ds = _d.forward(feats, neu, gram=gram, **kw)
            else:
                ds = _d.forward(_read_layer(store, entry.model, entry.layer, load=True), neu, **kw)
        elif entry.direction == "reverse":
            neu = _read_subset(store, entry.neural, entry.region)
            lazy = kw.get("regressor", "ridge") in ("ridge", "linear")
            ds = _d.reverse(neu, _read_layer(store, entry.model, entry.layer, load=not lazy), **kw)
        elif entry.direction == "inter_animal":
            a = _read_subset(store, entry.source_neural, entry.region)
            b = _read_subset(store, entry.neural, entry.region)
            ds = _d.inter_animal(a, b, **kw)
        else:
            fa = _read_layer(store, entry.model, entry.layer, load=True)
            fb = _read_layer(store, entry.target_model, entry.target_layer, load=True)
            ds = _d.model_to_model(fa, fb, **kw)
    ds = ds.drop_vars(["prediction", "stimulus_id"], errors="ignore")
    ds.attrs.update({k: v for k, v in entry.labels().items() if v is not None})
    ds.attrs["sweep"] = True
    store.write_scores(entry.direction, entry.source, entry.target, ds)
    return {"key": entry.key, "status": "computed", "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb()}


def _metric_task(url: str, storage_options: Mapping[str, Any] | None, entry: Entry, params: Mapping[str, Any],
                 overwrite: bool, blas_threads: int | None, gram_path: str | None = None) -> dict[str, Any]:
    """Compute one metric entry on a worker and write it (``gram_path``: the layer's Gram task, a
    dependency only, so that the Gram is cached once before the metrics that read it)."""
    from .metrics import score_metric

    t0 = time.perf_counter()
    store = _open(url, storage_options)
    if not overwrite and entry.is_complete(store):
        return {"key": entry.key, "status": "skipped", "seconds": 0.0, "peak_rss_mb": _peak_rss_mb()}
    _injected(entry.key)
    with _TaskEnv(blas_threads):
        score_metric(store, entry.direction, entry.source, entry.target or None, overwrite=overwrite, **params)
    return {"key": entry.key, "status": "computed", "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb()}


def _task(url: str, storage_options: Mapping[str, Any] | None, entry: Entry, kw: Mapping[str, Any],
          metric_params: Mapping[str, Mapping[str, Any]], overwrite: bool, blas_threads: int | None,
          gram_path: str | None) -> dict[str, Any]:
    """The task of one entry: a metric entry or a score entry."""
    if entry.is_metric:
        return _metric_task(url, storage_options, entry, metric_params[entry.direction], overwrite, blas_threads, gram_path)
    return _score_task(url, storage_options, entry, _kwargs_for(entry.direction, kw), overwrite, blas_threads,
                       gram_path if entry.direction == "forward" else None)


def _needs_gram(e: Entry, kw: Mapping[str, Any]) -> bool:
    if e.direction == "forward":
        return _streams(kw)
    return e.direction in _GRAM_METRICS and e.model is not None


# ============================================================================ clusters
def _machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_BLAS_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
             "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


def _embedded_cluster(n_workers: int | None, gpu: bool, memory_limit: Any) -> Any:
    """A LocalCluster (or LocalCUDACluster with a GPU backend) sized to this machine."""
    import dask

    if gpu:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise SweepConfigError(
                "a GPU backend on the embedded cluster needs dask-cuda (one worker per GPU): "
                "pip install dask-cuda. Or start a cluster with one worker per GPU yourself and pass its "
                "address as client=..., or run with client='serial'."
            ) from exc
        kw: dict[str, Any] = {"threads_per_worker": 1}
        if n_workers is not None:
            kw["n_workers"] = int(n_workers)
        if memory_limit is not None:
            kw["memory_limit"] = memory_limit
        return LocalCUDACluster(**kw)
    from distributed import LocalCluster

    n = int(n_workers) if n_workers is not None else _machine_cores()
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **_BLAS_ENV}}):
        return LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            memory_limit=memory_limit if memory_limit is not None else "auto", env=dict(_BLAS_ENV),
        )


def _connect(client: Any, n_workers: int | None, gpu: bool, memory_limit: Any) -> tuple[Any, list[Any]]:
    """(client, things to close) for the ``client`` argument of :func:`sweep`."""
    from distributed import Client

    if isinstance(client, Client):
        return client, []
    if isinstance(client, str):
        try:
            c = Client(client, timeout="30s")
        except OSError as exc:
            raise SweepConfigError(f"cannot connect to the Dask scheduler at {client!r}: {exc}. Check the address.") from exc
        return c, [c]
    if client is None:
        cluster = _embedded_cluster(n_workers, gpu, memory_limit)
        c = Client(cluster)
        return c, [c, cluster]
    if hasattr(client, "scheduler_address"):  # a cluster object
        c = Client(client)
        return c, [c]
    raise SweepConfigError(
        f"client must be None (embedded LocalCluster), 'serial', a scheduler address, a distributed.Client or a "
        f"cluster; got {type(client).__name__}."
    )


# ============================================================================ result
@dataclass
class SweepResult:
    """What a sweep computed and gathered.

    Attributes
    ----------
    entries : list of Entry
        Every planned entry.
    computed : list of str
        Keys of the entries this run computed and wrote.
    skipped : list of str
        Keys of the entries that were already complete in the store.
    failed : dict[str, str]
        Keys of entries whose task failed (only with ``on_error="warn"``) and the error.
    seconds : float
        Wall-clock time of the task phase.
    task_info : dict[str, dict]
        Per computed entry: ``seconds`` on the worker and the worker's ``peak_rss_mb``.
    dataset : xarray.Dataset
        See :func:`gather`.
    table : pandas.DataFrame
        One row per entry (its labels, ``n_targets``, ``median_ev``, ``mean_ev``).
    target_table : pandas.DataFrame
        One row per entry x target (labels, ``target_id``, ``ev`` = mean over reps, ``ev_sd``
        = SD over reps, ``r``).
    best_layers : pandas.DataFrame
        See :func:`best_layers`.
    metrics : xarray.Dataset
        The metric entries (RSA, shape, CKA, dimensionality) over metric x model x layer x neural
        x region; see :func:`gather_metrics`. Empty when the sweep names no metric.
    metric_table : pandas.DataFrame
        One row per metric entry (its labels, ``value``, ``train_value``, ``ceiling``).
    """

    entries: list[Entry]
    computed: list[str]
    skipped: list[str]
    failed: dict[str, str]
    seconds: float
    task_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset: xr.Dataset = field(default_factory=xr.Dataset)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    target_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    best_layers: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: xr.Dataset = field(default_factory=xr.Dataset)
    metric_table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        return (
            f"<SweepResult {len(self.entries)} entries: {len(self.computed)} computed, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed; {self.seconds:.1f} s>"
        )


def _nanmedian(x: np.ndarray, axis: int | None = None) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def _nanmean(x: np.ndarray, axis: int | None = None) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _nanstd(x: np.ndarray, axis: int | None = None) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(x, axis=axis)


def _ordered(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


def gather(store: StudyStore, entries: Sequence[Entry]) -> tuple[xr.Dataset, pd.DataFrame, pd.DataFrame]:
    """Read the entries' scores from the store into one Dataset and two tidy tables.

    Entries that are not (yet) complete in the store are left out (NaN in the Dataset).

    Returns
    -------
    dataset : xarray.Dataset
        Dims ``direction`` (forward/reverse), ``model``, ``layer`` (union of every model's layers;
        coord ``layer_depth(model, layer)`` gives each model's depth order, NaN where the model
        lacks the layer), ``neural``, ``region`` (``"all"`` = whole set) and ``rep``:

        - ``ev`` (direction, model, layer, neural, region): median over targets of the rep-mean EV;
        - ``ev_mean``, ``n_targets``: mean over targets, number of targets;
        - ``ev_rep`` (..., rep): median over targets per rep (the spread over reps);
        - ``forward_ev`` (model, layer, neural, region, neuroid): rep-mean EV per neuroid
          (``neuroid`` = union of the neural sets' ``neuroid_id``; NaN outside a set or region);
        - ``reverse_ev`` (model, layer, neural, region, unit): rep-mean EV per unit (``unit`` =
          union of the layers' ``unit_id``);
        - ``inter_animal_ev`` (source_neural, neural, region) and
          ``inter_animal_ev_neuroid`` (source_neural, neural, region, neuroid);
        - ``model_to_model_ev`` (model, layer, target_model, target_layer): median over target units.

        Variables of directions that the sweep did not score are absent.
    table : pandas.DataFrame
        One row per entry.
    target_table : pandas.DataFrame
        One row per entry x target.
    """
    rows, trows = [], []
    loaded: list[tuple[Entry, xr.Dataset]] = []

    def _read(e: Entry) -> xr.Dataset | None:
        if not store.has_scores(e.direction, e.source, e.target):
            return None
        return store.read_scores(e.direction, e.source, e.target)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:  # reading many small entries is latency-bound
        read = list(pool.map(_read, entries))
    for e, ds in zip(entries, read):
        if ds is None:
            continue
        loaded.append((e, ds))
        tdim = "neuroid" if "neuroid" in ds.dims else "unit"
        ev = np.asarray(ds["ev"].transpose(tdim, "rep").values, dtype=float)
        ev_t = _nanmean(ev, axis=1)
        r_t = _nanmean(np.asarray(ds["r"].transpose(tdim, "rep").values, dtype=float), axis=1) if "r" in ds else np.full(len(ev_t), np.nan)
        labels = e.labels()
        rows.append({**labels, "key": e.key, "n_targets": int(np.isfinite(ev_t).sum()), "reps": int(ev.shape[1]),
                     "median_ev": float(_nanmedian(ev_t)), "mean_ev": float(_nanmean(ev_t))})
        ids = np.asarray(ds[f"{tdim}_id"].values).astype(str)
        trows.append(pd.DataFrame({**{k: [v] * len(ids) for k, v in labels.items()}, "target_kind": tdim,
                                   "target_id": ids, "ev": ev_t, "ev_sd": _nanstd(ev, axis=1), "r": r_t}))
    cols = list(Entry("x", "x", "x").labels())
    table = pd.DataFrame(rows, columns=cols + ["key", "n_targets", "reps", "median_ev", "mean_ev"])
    target_table = (pd.concat(trows, ignore_index=True) if trows
                    else pd.DataFrame(columns=cols + ["target_kind", "target_id", "ev", "ev_sd", "r"]))
    return _dataset(store, entries, loaded), table, target_table


def _dataset(store: StudyStore, entries: Sequence[Entry], loaded: list[tuple[Entry, xr.Dataset]]) -> xr.Dataset:
    fr = [e for e in entries if e.direction in ("forward", "reverse")]
    models = _ordered([e.model for e in entries if e.model] + [e.target_model for e in entries if e.target_model])
    layers = _ordered([e.layer for e in entries if e.layer] + [e.target_layer for e in entries if e.target_layer])
    neural = _ordered([e.neural for e in entries if e.neural])
    regions = _ordered([e.region for e in entries if e.direction != "model_to_model"])
    dirs = _ordered([e.direction for e in fr])
    ds = xr.Dataset(coords={"model": models, "layer": layers, "neural": neural, "region": regions, "direction": dirs})
    if models and layers:
        depth = np.full((len(models), len(layers)), np.nan)
        for i, m in enumerate(models):
            if m in store.models():
                for j, l in enumerate(store.layers(m)):
                    if l in layers:
                        depth[i, layers.index(l)] = j
        ds = ds.assign_coords(layer_depth=(("model", "layer"), depth))
    by_dir: dict[str, list[tuple[Entry, xr.Dataset]]] = {}
    for e, s in loaded:
        by_dir.setdefault(e.direction, []).append((e, s))
    if dirs:
        reps = max([s.sizes["rep"] for e, s in loaded if e.direction in dirs] or [0])
        shape = (len(dirs), len(models), len(layers), len(neural), len(regions))
        ev, ev_mean, n_t = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, dtype=int)
        ev_rep = np.full(shape + (reps,), np.nan)
        for d in dirs:
            for e, s in by_dir.get(d, []):
                tdim = "neuroid" if d == "forward" else "unit"
                v = np.asarray(s["ev"].transpose(tdim, "rep").values, dtype=float)
                idx = (dirs.index(d), models.index(e.model), layers.index(e.layer), neural.index(e.neural), regions.index(e.region))
                vt = _nanmean(v, axis=1)
                ev[idx], ev_mean[idx], n_t[idx] = _nanmedian(vt), _nanmean(vt), int(np.isfinite(vt).sum())
                ev_rep[idx][: v.shape[1]] = _nanmedian(v, axis=0)
        dims = ("direction", "model", "layer", "neural", "region")
        ds["ev"] = (dims, ev, {"units": "percent", "long_name": "median over targets of the rep-mean EV"})
        ds["ev_mean"] = (dims, ev_mean, {"units": "percent", "long_name": "mean over targets of the rep-mean EV"})
        ds["n_targets"] = (dims, n_t)
        ds["ev_rep"] = (dims + ("rep",), ev_rep, {"units": "percent", "long_name": "median over targets per rep"})
        ds = ds.assign_coords(rep=np.arange(reps))
        for d, tdim in (("forward", "neuroid"), ("reverse", "unit")):
            items = by_dir.get(d, [])
            if d not in dirs:
                continue
            ids = _ordered(i for _, s in items for i in np.asarray(s[f"{tdim}_id"].values).astype(str))
            pos = {i: k for k, i in enumerate(ids)}
            arr = np.full((len(models), len(layers), len(neural), len(regions), len(ids)), np.nan)
            for e, s in items:
                vt = _nanmean(np.asarray(s["ev"].transpose(tdim, "rep").values, dtype=float), axis=1)
                cols = [pos[i] for i in np.asarray(s[f"{tdim}_id"].values).astype(str)]
                arr[models.index(e.model), layers.index(e.layer), neural.index(e.neural), regions.index(e.region), cols] = vt
            ds[f"{d}_ev"] = (("model", "layer", "neural", "region", tdim), arr, {"units": "percent", "long_name": f"{d} rep-mean EV per {tdim}"})
            ds = ds.assign_coords({tdim: ids})
    items = by_dir.get("inter_animal", [])
    if any(e.direction == "inter_animal" for e in entries):
        srcs = _ordered(e.source_neural for e in entries if e.direction == "inter_animal")
        ds = ds.assign_coords(source_neural=srcs)
        ids = _ordered(i for _, s in items for i in np.asarray(s["neuroid_id"].values).astype(str))
        if "neuroid" in ds.coords:
            ids = _ordered(list(ds["neuroid"].values.astype(str)) + ids)
        pos = {i: k for k, i in enumerate(ids)}
        summ = np.full((len(srcs), len(neural), len(regions)), np.nan)
        per = np.full((len(srcs), len(neural), len(regions), len(ids)), np.nan)
        for e, s in items:
            vt = _nanmean(np.asarray(s["ev"].transpose("neuroid", "rep").values, dtype=float), axis=1)
            i = (srcs.index(e.source_neural), neural.index(e.neural), regions.index(e.region))
            summ[i] = _nanmedian(vt)
            per[i + ([pos[x] for x in np.asarray(s["neuroid_id"].values).astype(str)],)] = vt
        if "neuroid" in ds.coords and len(ids) > ds.sizes["neuroid"]:
            ds = ds.reindex(neuroid=ids)
        ds = ds.assign_coords(neuroid=ids) if "neuroid" not in ds.coords else ds
        ds["inter_animal_ev"] = (("source_neural", "neural", "region"), summ, {"units": "percent"})
        ds["inter_animal_ev_neuroid"] = (("source_neural", "neural", "region", "neuroid"), per, {"units": "percent"})
    if any(e.direction == "model_to_model" for e in entries):
        tm = _ordered(e.target_model for e in entries if e.direction == "model_to_model")
        tl = _ordered(e.target_layer for e in entries if e.direction == "model_to_model")
        ds = ds.assign_coords(target_model=tm, target_layer=tl)
        arr = np.full((len(models), len(layers), len(tm), len(tl)), np.nan)
        for e, s in by_dir.get("model_to_model", []):
            vt = _nanmean(np.asarray(s["ev"].transpose("unit", "rep").values, dtype=float), axis=1)
            arr[models.index(e.model), layers.index(e.layer), tm.index(e.target_model), tl.index(e.target_layer)] = _nanmedian(vt)
        ds["model_to_model_ev"] = (("model", "layer", "target_model", "target_layer"), arr, {"units": "percent"})
    ds.attrs["store"] = store.url
    return ds


#: Columns of :attr:`SweepResult.metric_table`.
METRIC_TABLE_COLUMNS = ["metric", "source", "target", "model", "layer", "neural", "region", "key", "value",
                        "train_value", "ceiling"]


def gather_metrics(store: StudyStore, entries: Sequence[Entry]) -> tuple[xr.Dataset, pd.DataFrame]:
    """Read a sweep's metric entries from the store into one Dataset and a table.

    Entries that are not (yet) complete are left out (NaN in the Dataset, no row in the table).

    Parameters
    ----------
    store : StudyStore
    entries : sequence of Entry
        Metric entries (``Entry.is_metric``).

    Returns
    -------
    dataset : xarray.Dataset
        Coords ``metric`` (the pairwise metric groups of the sweep), ``model``, ``layer``, ``neural``,
        ``region`` (and ``layer_depth(model, layer)``):

        - ``value`` (metric, model, layer, neural, region): the reported value
          (:func:`neuroxr.metrics.metric_value`: the ``test`` split of eRSA and shape, else ``score``);
        - ``train_value`` (same dims): the ``train`` split (NaN for metrics without one); choose
          layers on this one, never on ``value``;
        - ``ceiling`` (same dims): cRSA's split-half ceiling of the neural RDM (when computed);
        - ``dimensionality`` (model, layer) and ``neural_dimensionality`` (neural, region): effective
          dimensionality of each layer and of each neural set / region subset.

        Variables of metrics that the sweep did not compute are absent.
    table : pandas.DataFrame
        One row per complete entry, columns :data:`METRIC_TABLE_COLUMNS`.
    """
    from .metrics import metric_value

    def _read(e: Entry) -> xr.Dataset | None:
        return store.read_metric(e.direction, e.source, e.target or None) if e.is_complete(store) else None

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        read = list(pool.map(_read, entries))
    rows = []
    for e, ds in zip(entries, read):
        if ds is None:
            continue
        split = "split" in ds["score"].dims
        rows.append({"metric": e.direction, "source": e.source, "target": e.target or None, "model": e.model,
                     "layer": e.layer, "neural": e.neural, "region": e.region, "key": e.key,
                     "value": metric_value(ds), "train_value": metric_value(ds, "train") if split else np.nan,
                     "ceiling": float(ds["ceiling"]) if "ceiling" in ds else np.nan})
    table = pd.DataFrame(rows, columns=METRIC_TABLE_COLUMNS)
    pair = [e for e in entries if e.direction != "dimensionality"]
    layer_e = [e for e in entries if e.model is not None]
    models, layers = _ordered(e.model for e in layer_e), _ordered(e.layer for e in layer_e)
    neural = _ordered(e.neural for e in entries if e.neural)
    regions = _ordered(e.region for e in entries if e.neural)
    kinds = _ordered(e.direction for e in pair)
    ds = xr.Dataset(coords={"metric": kinds, "model": models, "layer": layers, "neural": neural, "region": regions})
    if models and layers:
        depth = np.full((len(models), len(layers)), np.nan)
        for i, m in enumerate(models):
            for j, l in enumerate(store.layers(m)):
                if l in layers:
                    depth[i, layers.index(l)] = j
        ds = ds.assign_coords(layer_depth=(("model", "layer"), depth))
    t = table.set_index("key") if len(table) else table
    if kinds:
        shape = (len(kinds), len(models), len(layers), len(neural), len(regions))
        arrays = {k: np.full(shape, np.nan) for k in ("value", "train_value", "ceiling")}
        for e in pair:
            if e.key not in t.index:
                continue
            idx = (kinds.index(e.direction), models.index(e.model), layers.index(e.layer), neural.index(e.neural),
                   regions.index(e.region))
            for k in arrays:
                arrays[k][idx] = t.at[e.key, k]
        dims = ("metric", "model", "layer", "neural", "region")
        ds["value"] = (dims, arrays["value"], {"long_name": "reported value (test split where there is one)"})
        ds["train_value"] = (dims, arrays["train_value"], {"long_name": "train-split value (for layer selection)"})
        if np.isfinite(arrays["ceiling"]).any():
            ds["ceiling"] = (dims, arrays["ceiling"], {"long_name": "split-half ceiling of the neural RDM (crsa)"})
    dim_e = [e for e in entries if e.direction == "dimensionality"]
    if any(e.model is not None for e in dim_e):
        arr = np.full((len(models), len(layers)), np.nan)
        for e in dim_e:
            if e.model is not None and e.key in t.index:
                arr[models.index(e.model), layers.index(e.layer)] = t.at[e.key, "value"]
        ds["dimensionality"] = (("model", "layer"), arr, {"long_name": "effective dimensionality of the layer"})
    if any(e.neural is not None for e in dim_e):
        arr = np.full((len(neural), len(regions)), np.nan)
        for e in dim_e:
            if e.neural is not None and e.key in t.index:
                arr[neural.index(e.neural), regions.index(e.region)] = t.at[e.key, "value"]
        ds["neural_dimensionality"] = (("neural", "region"), arr,
                                       {"long_name": "effective dimensionality of the trial-averaged responses"})
    ds.attrs["store"] = store.url
    return ds, table


# ============================================================================ layer selection
def target_halves(ids: Sequence[str], key: str, seed: int = 0) -> np.ndarray:
    """Which targets select the layer: True for the selection half, False for the test half.

    The ids are sorted, permuted by ``numpy.random.default_rng([seed, crc32(key)])``, and the
    first ``ceil(len/2)`` of the permutation form the selection half. The split depends only on
    the ids, ``key`` and ``seed`` (not on their order, nor on any score).

    Parameters
    ----------
    ids : sequence of str
        Target ids (neuroid ids or unit ids).
    key : str
        Names the group (e.g. ``"forward/animalA/IT"``) so that groups get independent splits.
    seed : int
        Selection seed.

    Returns
    -------
    numpy.ndarray of bool, aligned with ``ids``
    """
    ids = np.asarray(ids).astype(str)
    order = np.sort(np.unique(ids))
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    perm = rng.permutation(len(order))
    chosen = set(order[perm[: (len(order) + 1) // 2]])
    return np.array([i in chosen for i in ids], dtype=bool)


def best_layers(target_table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The best layer per (direction, model, neural set, region), chosen on held-out targets.

    For the forward direction the targets (neuroids of the neural set or region subset) are
    split once per (neural set, region) by :func:`target_halves`, so every layer and model is
    compared on the same neuroids. For the reverse direction the targets are the units of each
    layer, split per layer. The criterion is the median over the *selection* half of the
    rep-mean EV; the chosen layer (ties: the shallower one) is reported with the median over the
    *test* half (``test_ev``), which played no part in the choice. ``all_ev`` is the median over
    all targets of the chosen layer, for reference.

    Parameters
    ----------
    target_table : pandas.DataFrame
        :attr:`SweepResult.target_table` (columns ``direction``, ``model``, ``layer``,
        ``neural``, ``region``, ``target_id``, ``ev``).
    seed : int
        Seed of the target split.

    Returns
    -------
    pandas.DataFrame
        Columns ``direction``, ``model``, ``neural``, ``region``, ``best_layer``,
        ``selection_ev``, ``test_ev``, ``all_ev``, ``n_selection``, ``n_test``, ``n_layers``.
    """
    columns = ["direction", "model", "neural", "region", "best_layer", "selection_ev", "test_ev", "all_ev",
               "n_selection", "n_test", "n_layers"]
    t = target_table[target_table["direction"].isin(["forward", "reverse"])] if len(target_table) else target_table
    if not len(t):
        return pd.DataFrame(columns=columns)
    out = []
    for (d, m, n, r), g in t.groupby(["direction", "model", "neural", "region"], sort=False):
        best = None
        layers = list(dict.fromkeys(g["layer"]))
        for l in layers:
            gl = g[g["layer"] == l]
            ids = gl["target_id"].to_numpy()
            key = f"forward/{n}/{r}" if d == "forward" else f"reverse/{m}/{l}"
            sel = target_halves(ids, key, seed)
            ev = gl["ev"].to_numpy(dtype=float)
            crit = float(_nanmedian(ev[sel])) if sel.any() else np.nan
            if best is None or (np.isfinite(crit) and not crit <= best[1]):
                best = (l, crit, float(_nanmedian(ev[~sel])) if (~sel).any() else np.nan, float(_nanmedian(ev)),
                        int(sel.sum()), int((~sel).sum()))
        out.append({"direction": d, "model": m, "neural": n, "region": r, "best_layer": best[0], "selection_ev": best[1],
                    "test_ev": best[2], "all_ev": best[3], "n_selection": best[4], "n_test": best[5], "n_layers": len(layers)})
    return pd.DataFrame(out, columns=columns)


# ============================================================================ the sweep
def _check_score_kwargs(kw: Mapping[str, Any]) -> dict[str, Any]:
    from .backend import resolve_dtype

    bad = [k for k in kw if k not in SCORE_KEYS]
    if bad:
        raise SweepConfigError(f"unknown sweep arguments {sorted(bad)}; accepted score arguments: {list(SCORE_KEYS)}.")
    out = dict(kw)
    ints = {"reps": 1, "seed": 0, "n_components": 1, "n_folds": 2, "fold_seed": 0}
    for k, lo in ints.items():
        if k in out and (isinstance(out[k], bool) or not isinstance(out[k], (int, np.integer)) or out[k] < lo):
            raise SweepConfigError(f"{k} must be an integer >= {lo}; got {out[k]!r}.")
    if "max_n" in out and out["max_n"] is not None and (isinstance(out["max_n"], bool) or not isinstance(out["max_n"], (int, np.integer)) or out["max_n"] < 1):
        raise SweepConfigError(f"max_n must be a positive integer or null; got {out['max_n']!r}.")
    if "alpha" in out and (isinstance(out["alpha"], bool) or not isinstance(out["alpha"], (int, float)) or out["alpha"] < 0):
        raise SweepConfigError(f"alpha must be a number >= 0; got {out['alpha']!r}.")
    if "alphas" in out and (isinstance(out["alphas"], (str, bytes)) or not isinstance(out["alphas"], Iterable)
                            or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in out["alphas"])):
        raise SweepConfigError(f"alphas must be a list of numbers; got {out['alphas']!r}.")
    if "alphas" in out:
        out["alphas"] = [float(a) for a in out["alphas"]]
    if "noise_ceiling" in out and not isinstance(out["noise_ceiling"], bool):
        raise SweepConfigError(f"noise_ceiling must be true or false; got {out['noise_ceiling']!r}.")
    if "regressor" in out and out["regressor"] not in REGRESSORS:
        raise SweepConfigError(f"regressor must be one of {REGRESSORS}; got {out['regressor']!r}.")
    if "split" in out and out["split"] not in ("valid", "slots"):
        raise SweepConfigError(f"split must be one of ('valid', 'slots'); got {out['split']!r}.")
    if "backend" in out and out["backend"] is not None:
        from .backend import BACKENDS

        if out["backend"] not in BACKENDS:
            raise SweepConfigError(f"backend must be one of {BACKENDS}; got {out['backend']!r}.")
    if "dtype" in out:
        try:
            resolve_dtype(out["dtype"])
        except Exception as exc:
            raise SweepConfigError(f"dtype must be 'float32' or 'float64'; got {out['dtype']!r}.") from exc
        out["dtype"] = str(resolve_dtype(out["dtype"]))
    return out


def _kwargs_for(direction: str, kw: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(kw)
    if direction == "model_to_model":
        # no split halves and no ceiling; without max_n every rep is identical, so one rep
        for k in ("noise_ceiling", "split"):
            out.pop(k, None)
        if out.get("max_n") is None:
            out["reps"] = 1
    return out


def sweep(
    store: StudyStore | str | os.PathLike,
    models: str | Sequence[str] | None = None,
    layers: str | Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    neural: str | Sequence[str] | None = None,
    directions: str | Sequence[str] = ("forward", "reverse"),
    regions: str | Sequence[str] | None = None,
    client: Any = None,
    n_workers: int | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[str], None] = True,
    *,
    storage_options: Mapping[str, Any] | None = None,
    memory_limit: Any = None,
    blas_threads: int | None = 1,
    on_error: str = "raise",
    selection_seed: int = 0,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    **score_kwargs: Any,
) -> SweepResult:
    """Score models x layers x neural sets (x regions) x directions on Dask, resumably.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The study store, or its path/URL (it must be reachable from the workers by that URL).
    models, layers, neural, directions, regions
        What to score; see :func:`plan_sweep` (defaults: everything in the store, forward and
        reverse, whole neural sets).
    client : None, "serial", str, distributed.Client or cluster
        Where to run. ``None``: an embedded ``LocalCluster`` (processes, one thread per worker,
        ``n_workers`` = cores; dask-cuda's ``LocalCUDACluster`` with a GPU backend) started and
        closed by the sweep. ``"serial"`` (or ``"synchronous"``): in this process, one entry after
        another. A scheduler address or a ``Client``/cluster: that existing cluster.
    n_workers : int, optional
        Workers of the embedded cluster (default: one per core; with GPUs one per GPU).
    overwrite : bool
        Recompute entries that are already complete in the store.
    progress : bool or callable
        Show a tqdm bar over completed entries (and print the dashboard link of the cluster);
        a callable is called with each finished entry's key instead.
    storage_options : mapping, optional
        fsspec options for opening a remote store on the workers.
    memory_limit : str or int, optional
        Memory limit per worker of the embedded cluster (e.g. ``"2GiB"``; default: Dask's).
    blas_threads : int or None
        BLAS/OpenMP threads inside each task (default 1, so that workers do not oversubscribe
        the cores); ``None`` leaves them alone.
    on_error : {"raise", "warn"}
        After every task has finished: raise :class:`SweepError` naming the failed entries, or
        return the result with them in :attr:`SweepResult.failed` (their cells are NaN).
    selection_seed : int
        Seed of the target split of :func:`best_layers`.
    metric_options : mapping, optional
        Options of the metrics named in ``directions``, per metric: e.g. ``{"rsa": {"variant":
        "ersa", "alpha": 1.0}, "shape": {"alpha": 0.5}, "cka": {"debiased": True}}`` (see
        :func:`neuroxr.metrics.metric_options`; ``rsa``'s options apply to its variant). The
        score arguments below apply to the directions only.
    **score_kwargs
        Passed to the direction functions: ``reps``, ``seed``, ``regressor``, ``alpha``,
        ``n_components``, ``alphas``, ``n_folds``, ``fold_seed``, ``max_n``, ``noise_ceiling``,
        ``split``, ``backend``, ``dtype``. ``model_to_model`` runs one rep unless ``max_n`` is
        given (its reps are otherwise identical) and takes no ceiling arguments.

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepConfigError
        Invalid arguments or names not in the store (raised before anything runs).
    SweepError
        Some tasks failed (``on_error="raise"``); every other entry is written.

    Examples
    --------
    >>> from neuroxr.sweep import sweep                                   # doctest: +SKIP
    >>> res = sweep("study.zarr", directions=["forward", "reverse"], regions="each", reps=10)
    >>> res.best_layers                                                    # doctest: +SKIP
    """
    if on_error not in ("raise", "warn"):
        raise SweepConfigError(f"on_error must be 'raise' or 'warn'; got {on_error!r}.")
    kw = _check_score_kwargs(score_kwargs)
    metric_options = _check_metric_options(metric_options)
    if not isinstance(store, StudyStore):
        store = StudyStore(store, storage_options=storage_options)
    url = store.url
    if "://" not in url:
        url = os.path.abspath(url)
    serial = isinstance(client, str) and client in ("serial", "synchronous")
    if not serial and url.startswith("memory://"):
        raise SweepConfigError(
            f"store {url!r} lives in this process's memory; workers cannot open it. Use a path or a shared "
            f"fsspec URL, or client='serial'."
        )
    entries = plan_sweep(store, models, layers, neural, directions, regions, metric_options)
    metric_params = {d: _metric_params(d, metric_options) for d in _ordered(e.direction for e in entries if e.is_metric)}
    backend = kw.get("backend")
    gpu = backend in _GPU_BACKENDS
    if (serial or client is None) and backend is not None:
        from .backend import BackendError, resolve_backend

        try:
            resolve_backend(backend)
        except BackendError as exc:
            raise SweepConfigError(str(exc)) from exc
    todo = entries if overwrite else [e for e in entries if not e.is_complete(store)]
    skipped = [e.key for e in entries if e not in set(todo)]
    # parent groups exist before workers write concurrently below them
    root = store._root
    for d in {(e.direction, e.is_metric) for e in todo}:
        root.require_group(f"{'metrics' if d[1] else 'scores'}/{d[0]}")
    grams: dict[tuple[str, str], Any] = {}
    gram_layers = _ordered((e.model, e.layer) for e in todo if _needs_gram(e, kw))
    for m, _ in gram_layers:
        root.require_group(f"cache/gram/{m}")
    computed: list[str] = []
    failed: dict[str, str] = {}
    info: dict[str, dict[str, Any]] = {}
    bar = None
    if progress is True and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="sweep", unit="entry")

    def _done(key: str, rec: dict[str, Any] | None, err: BaseException | None) -> None:
        if err is not None:
            failed[key] = f"{type(err).__name__}: {err}"
        elif rec is not None and rec["status"] == "computed":
            computed.append(key)
            info[key] = {"seconds": rec["seconds"], "peak_rss_mb": rec["peak_rss_mb"]}
        else:
            skipped.append(key)
        if bar is not None:
            bar.update(1)
        elif callable(progress):
            progress(key)

    t0 = time.perf_counter()
    try:
        if serial:
            for m, l in gram_layers:
                grams[(m, l)] = _gram_task(url, storage_options, m, l, backend, blas_threads)
            for e in todo:
                try:
                    rec = _task(url, storage_options, e, kw, metric_params, overwrite, blas_threads,
                                grams.get((e.model, e.layer)) if _needs_gram(e, kw) else None)
                    _done(e.key, rec, None)
                except Exception as exc:  # keep going: every other entry is still written
                    _done(e.key, None, exc)
        elif todo:
            _run_distributed(client, n_workers, gpu, memory_limit, url, storage_options, todo, kw, metric_params,
                             overwrite, blas_threads, backend, gram_layers, bool(progress), _done)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    if failed and on_error == "raise":
        lines = "\n".join(f"  {k}: {v}" for k, v in list(failed.items())[:10])
        more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise SweepError(
            f"{len(failed)} of {len(todo)} sweep entries failed (the other {len(computed)} computed entries are written; "
            f"re-run the sweep to compute only the missing ones):\n{lines}{more}", failed, computed)
    dataset, table, target_table = gather(store, [e for e in entries if not e.is_metric])
    metrics, metric_table = gather_metrics(store, [e for e in entries if e.is_metric])
    return SweepResult(entries=entries, computed=computed, skipped=skipped, failed=failed, seconds=seconds,
                       task_info=info, dataset=dataset, table=table, target_table=target_table,
                       best_layers=best_layers(target_table, seed=selection_seed),
                       metrics=metrics, metric_table=metric_table)


def _run_distributed(client: Any, n_workers: int | None, gpu: bool, memory_limit: Any, url: str,
                     storage_options: Mapping[str, Any] | None, todo: Sequence[Entry], kw: Mapping[str, Any],
                     metric_params: Mapping[str, Mapping[str, Any]],
                     overwrite: bool, blas_threads: int | None, backend: str | None,
                     gram_layers: Sequence[tuple[str, str]], show: bool,
                     done: Callable[[str, dict[str, Any] | None, BaseException | None], None]) -> None:
    from distributed import as_completed

    c, close = _connect(client, n_workers, gpu, memory_limit)
    try:
        if show:
            link = getattr(c, "dashboard_link", None)
            if link:
                print(f"neuroxr sweep: Dask dashboard at {link}")
        token = f"{os.getpid()}-{time.time_ns()}"
        grams = {
            (m, l): c.submit(_gram_task, url, storage_options, m, l, backend, blas_threads,
                             key=f"neuroxr-gram-{m}.{l}-{token}", pure=False)
            for m, l in gram_layers
        }
        futures = {}
        for e in todo:
            g = grams.get((e.model, e.layer)) if _needs_gram(e, kw) else None
            f = c.submit(_task, url, storage_options, e, kw, metric_params, overwrite, blas_threads, g,
                         key=f"neuroxr-{e.key.replace('/', ':')}-{token}", pure=False)
            futures[f] = e.key
        for f in as_completed(list(futures)):
            key = futures[f]
            if f.status == "error":
                done(key, None, f.exception())
            else:
                done(key, f.result(), None)
            f.release()
    finally:
        for obj in close:
            obj.close()


# ============================================================================ configuration + CLI
_CONFIG_TYPES: dict[str, str] = {
    "models": "a name or a list of names",
    "layers": "a name, a list of names, or a mapping model -> list of layer names",
    "neural": "a name or a list of names",
    "directions": f"a direction or a list of directions out of {DIRECTIONS} and the metrics {SWEEP_METRICS}",
    "regions": "null, 'each', a region or a list of regions ('all' = the whole set)",
    "overwrite": "true or false",
    "n_workers": "a positive integer",
    "scheduler": "a scheduler address such as 'tcp://host:8786', or 'serial'",
    "selection_seed": "an integer",
    "metric_options": "a mapping metric -> options, e.g. {rsa: {variant: ersa}, shape: {alpha: 0.5}}",
}


def validate_config(config: Mapping[str, Any], store: StudyStore | None = None) -> dict[str, Any]:
    """Check a sweep configuration (the keys of :data:`SWEEP_KEYS`) and return it normalised.

    Parameters
    ----------
    config : mapping
        As read from a YAML file: ``models``, ``layers``, ``neural``, ``directions``,
        ``regions``, ``overwrite``, ``n_workers``, ``scheduler``, ``selection_seed``,
        ``metric_options`` and the score arguments of :data:`SCORE_KEYS`.
    store : StudyStore, optional
        Also check that the models, layers, neural sets and regions exist in it.

    Returns
    -------
    dict

    Raises
    ------
    SweepConfigError
        Unknown keys (listed with the accepted ones), values of the wrong type, or names not in the store.
    """
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise SweepConfigError(f"a sweep configuration must be a mapping of keys to values; got {type(config).__name__}.")
    unknown = [k for k in config if k not in SWEEP_KEYS]
    if unknown:
        raise SweepConfigError(f"unknown configuration keys {sorted(map(str, unknown))}; accepted keys: {list(SWEEP_KEYS)}.")
    out = dict(config)
    for k in ("models", "neural"):
        if k in out:
            try:
                _as_list(out[k], k)
            except SweepConfigError as exc:
                raise SweepConfigError(f"{k} must be {_CONFIG_TYPES[k]}; {exc}") from None
    if "layers" in out and out["layers"] is not None:
        val = out["layers"]
        ok = isinstance(val, str) or (isinstance(val, list) and all(isinstance(v, str) for v in val)) or (
            isinstance(val, Mapping) and all(isinstance(k, str) and (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))) for k, v in val.items())
        )
        if not ok:
            raise SweepConfigError(f"layers must be {_CONFIG_TYPES['layers']}; got {val!r}.")
    if "directions" in out:
        dirs = out["directions"]
        if isinstance(dirs, str):
            dirs = [dirs]
        if not isinstance(dirs, list) or not dirs or not all(isinstance(d, str) for d in dirs):
            raise SweepConfigError(f"directions must be {_CONFIG_TYPES['directions']}; got {out['directions']!r}.")
        bad = [d for d in dirs if d.replace("-", "_") not in DIRECTIONS + SWEEP_METRICS]
        if bad:
            raise SweepConfigError(f"unknown directions {bad}; choose from {DIRECTIONS} or the metrics {SWEEP_METRICS}.")
        out["directions"] = [d.replace("-", "_") for d in dirs]
    if "regions" in out and out["regions"] is not None and out["regions"] != "each":
        try:
            _as_list(out["regions"], "regions")
        except SweepConfigError:
            raise SweepConfigError(f"regions must be {_CONFIG_TYPES['regions']}; got {out['regions']!r}.") from None
    if "overwrite" in out and not isinstance(out["overwrite"], bool):
        raise SweepConfigError(f"overwrite must be {_CONFIG_TYPES['overwrite']}; got {out['overwrite']!r}.")
    if "n_workers" in out and out["n_workers"] is not None and (
        isinstance(out["n_workers"], bool) or not isinstance(out["n_workers"], int) or out["n_workers"] < 1
    ):
        raise SweepConfigError(f"n_workers must be {_CONFIG_TYPES['n_workers']}; got {out['n_workers']!r}.")
    if "scheduler" in out and out["scheduler"] is not None and not isinstance(out["scheduler"], str):
        raise SweepConfigError(f"scheduler must be {_CONFIG_TYPES['scheduler']}; got {out['scheduler']!r}.")
    if "selection_seed" in out and (isinstance(out["selection_seed"], bool) or not isinstance(out["selection_seed"], int)):
        raise SweepConfigError(f"selection_seed must be {_CONFIG_TYPES['selection_seed']}; got {out['selection_seed']!r}.")
    out.update(_check_score_kwargs({k: v for k, v in out.items() if k in SCORE_KEYS}))
    if "metric_options" in out:
        out["metric_options"] = _check_metric_options(out["metric_options"])
    if store is not None:
        plan_sweep(store, out.get("models"), out.get("layers"), out.get("neural"),
                   out.get("directions", ("forward", "reverse")), out.get("regions"), out.get("metric_options"))
    return out


def load_config(path: str | os.PathLike, store: StudyStore | None = None) -> dict[str, Any]:
    """Read a sweep configuration from a YAML file and validate it (see :func:`validate_config`).

    Example file::

        models: [netA, netB]
        layers: {netA: [layer2, layer3], netB: [conv3, fc]}
        neural: [animalA, animalB]
        directions: [forward, reverse, inter_animal, rsa, cka, dimensionality]
        regions: each
        reps: 20
        seed: 0
        regressor: ridge
        metric_options:
          rsa: {variant: ersa, alpha: 1.0}
          cka: {debiased: true}
    """
    import yaml

    try:
        with open(path) as fh:
            config = yaml.safe_load(fh)
    except OSError as exc:
        raise SweepConfigError(f"cannot read the sweep configuration {os.fspath(path)!r}: {exc}.") from exc
    except yaml.YAMLError as exc:
        raise SweepConfigError(f"{os.fspath(path)!r} is not valid YAML: {exc}") from exc
    try:
        return validate_config(config or {}, store)
    except SweepConfigError as exc:
        raise SweepConfigError(f"{os.fspath(path)}: {exc}") from None


def _make_sweep_command() -> Any:
    import click

    @click.command(name="sweep")
    @click.argument("store")
    @click.argument("config", required=False, type=click.Path(exists=True, dir_okay=False))
    @click.option("--scheduler", default=None, help="Address of an existing Dask scheduler, or 'serial' (default: a local cluster sized to this machine).")
    @click.option("--workers", "n_workers", type=click.IntRange(min=1), default=None, help="Workers of the local cluster (default: one per core).")
    @click.option("--overwrite", is_flag=True, default=False, help="Recompute entries that are already in the store.")
    @click.option("--no-progress", is_flag=True, default=False, help="Do not show a progress bar.")
    @click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, help="Also write the per-entry table as CSV to this file.")
    def sweep_command(store: str, config: str | None, scheduler: str | None, n_workers: int | None, overwrite: bool,
                      no_progress: bool, table_path: str | None) -> None:
        """Score every selected model x layer x neural set x region x direction of STORE on Dask.

        CONFIG is a YAML file with the sweep's arguments (models, layers, neural, directions,
        regions, reps, seed, regressor, metric_options, ...); directions may include the metrics
        rsa, crsa, ersa, ereg, shape, cka and dimensionality. Finished entries are written as they
        complete; re-running resumes where a killed sweep stopped.
        """
        try:
            st = StudyStore(store, mode="a")
        except Exception as exc:
            raise click.ClickException(f"cannot open the study store {store!r}: {exc}") from exc
        try:
            cfg = load_config(config, st) if config else validate_config({}, st)
        except SweepConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        if scheduler is not None:
            cfg["scheduler"] = scheduler
        if n_workers is not None:
            cfg["n_workers"] = n_workers
        if overwrite:
            cfg["overwrite"] = True
        client = cfg.pop("scheduler", None)
        try:
            result = sweep(st, client=client, progress=not no_progress, **cfg)
        except (SweepConfigError, SweepError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{len(result.entries)} entries: {len(result.computed)} computed, {len(result.skipped)} already in the store "
                   f"({result.seconds:.1f} s).")
        cols = ["direction", "source", "target", "n_targets", "median_ev"]
        if len(result.table):
            click.echo(result.table[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        if len(result.metric_table):
            mt = result.metric_table[["metric", "source", "target", "value", "train_value"]].copy()
            for c in ("target", "value", "train_value"):
                mt[c] = mt[c].map(lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else (f"{v:.4f}" if isinstance(v, float) else v))
            click.echo("\nMetrics (value: the test split where there is one):")
            click.echo(mt.to_string(index=False))
        if len(result.best_layers):
            click.echo("\nBest layers (chosen on half of the targets, scored on the other half):")
            click.echo(result.best_layers.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        if table_path:
            result.table.to_csv(table_path, index=False)
            click.echo(f"Wrote {table_path}")
            if len(result.metric_table):
                root, ext = os.path.splitext(table_path)
                metric_path = f"{root}.metrics{ext or '.csv'}"
                result.metric_table.to_csv(metric_path, index=False)
                click.echo(f"Wrote {metric_path}")

    return sweep_command


#: The ``neuroxr sweep`` click command (wire it into the CLI group with ``main.add_command``).
sweep_command = _make_sweep_command()
