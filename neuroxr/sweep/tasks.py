"""Worker tasks: each task is one call of :func:`_compute_entry` (or :func:`_compute_gram`).

A task receives the store's URL (never arrays), opens the store on the worker, skips an entry that
is already complete (unless ``overwrite``), and computes and writes the entry with one call. The
two ``_compute_*`` functions are the seam to the entry engine: they hold the per-direction code of
today and will become ``neuroxr.entries.compute(store, kind, source, target, ...)``.

Heavy modules (the directions, the geometry, the metrics) are imported inside the functions, so a
worker imports them when its first task runs, not when it unpickles a task.

Fault injection (for tests): the environment variable ``NEUROXR_SWEEP_FAIL`` may hold
comma-separated entry keys (``"<direction>/<source>__<target>"``, ``fnmatch`` patterns allowed); the
tasks of matching entries raise before computing anything, as a crashed task would.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Mapping
from typing import Any

from .names import ALL_REGIONS, layer_name, subset_name
from .plan import Entry

__all__ = ["GRAM_METRICS", "entry_task", "gram_task", "streams_gram"]

#: Metrics that read a feature set through its cached Gram (the sweep computes it once, first).
GRAM_METRICS = ("crsa", "cka", "dimensionality")
_FAIL_ENV = "NEUROXR_SWEEP_FAIL"
_GRAM_PATH = "cache/gram/{model}/{layer}"


class _InjectedFailure(RuntimeError):
    """Raised by a task whose entry matches ``NEUROXR_SWEEP_FAIL`` (testing hook)."""


def _injected(key: str) -> None:
    spec = os.environ.get(_FAIL_ENV, "")
    for pat in (p.strip() for p in spec.split(",")):
        if pat and fnmatch.fnmatchcase(key, pat):
            raise _InjectedFailure(f"injected failure of {key} ({_FAIL_ENV}={spec!r})")


# ---------------------------------------------------------------------------- the Gram rule
def streams_gram(direction: str, params: Mapping[str, Any], has_layer: bool = True) -> bool:
    """Whether an entry reads its layer through the layer's cached Gram (the ONE place of this rule).

    Forward scores stream the Gram when the regressor is shared over targets and linear in the
    features (``ridge`` or ``linear``) and no unit subset is drawn (``max_n`` is None); the reverse
    direction then reads its (target) layer lazily, chunk by chunk. cRSA, CKA and the
    dimensionality of a layer always read the Gram. The entry engine will own this rule.

    Parameters
    ----------
    direction : str
        A direction or a metric entry group.
    params : mapping
        The entry's score arguments (``regressor`` defaults to ``"ridge"``).
    has_layer : bool
        Whether the entry reads a layer (False for a neural set's dimensionality).
    """
    linear = params.get("regressor", "ridge") in ("ridge", "linear")
    if direction == "forward":
        return linear and params.get("max_n") is None
    if direction == "reverse":
        return linear
    return direction in GRAM_METRICS and has_layer


def needs_gram_task(entry: Entry, params: Mapping[str, Any]) -> bool:
    """Whether the entry's task waits for the Gram task of its layer."""
    return entry.direction != "reverse" and streams_gram(entry.direction, params, entry.model is not None)


# ---------------------------------------------------------------------------- the seam
def _read_subset(store: Any, name: str, region: str) -> Any:
    da = store.read_neural(name)
    if region != ALL_REGIONS:
        import numpy as np

        sel = np.asarray(da.coords["region"].values).astype(str) == region
        da = da.isel(neuroid=np.flatnonzero(sel))
    da = da.load()
    da.name = subset_name(name, region)
    return da


def _read_layer(store: Any, model: str, layer: str, load: bool) -> Any:
    da = store.read_features(model, layer)
    if load:
        da = da.load()
    da.name = layer_name(model, layer)
    return da


def _compute_gram(store: Any, model: str, layer: str, backend: str | None) -> str:
    """Compute (or find) the cached Gram of one layer; returns its store path.

    Seam: becomes ``neuroxr.entries.compute(store, "gram", layer_name(model, layer), backend=backend)``.
    """
    from ..geometry import cached_gram

    path = _GRAM_PATH.format(model=model, layer=layer)
    if not store.is_complete(path):
        cached_gram(store, model, layer, backend=backend if backend not in (None, "numpy") else None)
    return path


def _compute_entry(store: Any, entry: Entry, params: Mapping[str, Any], overwrite: bool,
                   backend: str | None) -> bool:
    """Compute one entry and write it to the store; returns whether it was computed (False: it was
    complete already and ``overwrite`` is False).

    Seam: becomes ``neuroxr.entries.compute(store, entry.direction, entry.source, entry.target or None,
    params=params, overwrite=overwrite, backend=backend).computed``.

    Parameters
    ----------
    store : StudyStore
        Opened for writing.
    entry : Entry
    params : mapping
        Score arguments of a direction (without ``backend``), or the options of a metric.
    overwrite : bool
    backend : str or None
        Array backend of the direction (metrics use their own options).
    """
    if not overwrite and entry.is_complete(store):
        return False
    if entry.is_metric:
        from ..metrics import score_metric

        score_metric(store, entry.direction, entry.source, entry.target or None, overwrite=overwrite, **params)
        return True
    from .. import directions as _d

    kw = dict(params, backend=backend) if backend is not None else dict(params)
    stream = streams_gram(entry.direction, params)
    if entry.direction == "forward":
        neu = _read_subset(store, entry.neural, entry.region)
        if stream:
            from ..geometry import cached_gram, gram_stats

            gram = gram_stats(cached_gram(store, entry.model, entry.layer))
            ds = _d.forward(_read_layer(store, entry.model, entry.layer, load=False), neu, gram=gram, **kw)
        else:
            ds = _d.forward(_read_layer(store, entry.model, entry.layer, load=True), neu, **kw)
    elif entry.direction == "reverse":
        neu = _read_subset(store, entry.neural, entry.region)
        ds = _d.reverse(neu, _read_layer(store, entry.model, entry.layer, load=not stream), **kw)
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
    return True


# ---------------------------------------------------------------------------- tasks
def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:  # not on every platform
        return float("nan")


class _TaskEnv:
    """Inside a task: synchronous dask scheduler, BLAS threads limited (threadpoolctl)."""

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


def _open(url: str, storage_options: Mapping[str, Any] | None) -> Any:
    from ..store import StudyStore

    return StudyStore(url, mode="a", storage_options=storage_options)


def gram_task(url: str, storage_options: Mapping[str, Any] | None, model: str, layer: str,
              backend: str | None, blas_threads: int | None) -> str:
    """Task: the cached Gram of one layer (one :func:`_compute_gram` call); returns its store path."""
    store = _open(url, storage_options)
    with _TaskEnv(blas_threads):
        return _compute_gram(store, model, layer, backend)


def entry_task(url: str, storage_options: Mapping[str, Any] | None, entry: Entry, params: Mapping[str, Any],
               overwrite: bool, blas_threads: int | None, backend: str | None,
               gram_path: str | None = None) -> dict[str, Any]:
    """Task: one entry (one :func:`_compute_entry` call); returns a small status record.

    ``gram_path`` is the result of the layer's Gram task: a dependency only, so that the Gram is
    cached once before the entries that read it.
    """
    t0 = time.perf_counter()
    store = _open(url, storage_options)
    if not overwrite and entry.is_complete(store):
        return {"key": entry.key, "status": "skipped", "seconds": 0.0, "peak_rss_mb": _peak_rss_mb()}
    _injected(entry.key)
    with _TaskEnv(blas_threads):
        computed = _compute_entry(store, entry, params, overwrite, backend)
    return {"key": entry.key, "status": "computed" if computed else "skipped",
            "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb()}
