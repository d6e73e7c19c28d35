"""Worker tasks: each task is one call of the entry engine, :func:`neuroxr.entries.compute`.

A task receives the store's URL (never arrays), opens the store on the worker, and computes (or
finds) its entry with one ``compute(store, kind, source, target, params=..., overwrite=...,
backend=...)`` call. An entry is skipped only when the store holds a complete entry with the same
provenance (:func:`neuroxr.entries.lookup`: the same parameters and the same versions of the sets
it reads); a re-run with other parameters, or after a set was rewritten, computes a new entry
beside the old ones. Where entries read a layer through its cached Gram
(:func:`neuroxr.entries.reads_gram`), the Gram is its own task, ``compute(store, "gram", layer)``,
run before the entries that read it.

Heavy modules (the engine, the directions, the geometry) are imported inside the functions, so a
worker imports them when its first task runs, not when it unpickles a task.

Fault injection (for tests): the environment variable ``NEUROXR_SWEEP_FAIL`` may hold
comma-separated entry keys (``"<direction>/<source>__<target>"``, ``fnmatch`` patterns allowed); the
tasks of matching entries raise before computing anything, as a crashed task would.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .names import layer_ref
from .plan import Entry

if TYPE_CHECKING:
    from ..store import StudyStore

__all__ = ["GRAM_SPREAD_BYTES", "GRAM_SPREAD_FRACTION", "entry_params", "entry_lookup", "entry_task",
           "gram_task", "layer_size", "needs_gram_task", "peak_rss_mb", "score_takes_seed", "spread_gram",
           "trial_averaged"]


_FAIL_ENV = "NEUROXR_SWEEP_FAIL"
#: score arguments that a model_to_model entry does not take (it has no noise ceiling)
_NO_CEILING = ("noise_ceiling", "split", "min_reliability")


class _InjectedFailure(RuntimeError):
    """Raised by a task whose entry matches ``NEUROXR_SWEEP_FAIL`` (testing hook)."""


def _injected(key: str) -> None:
    spec = os.environ.get(_FAIL_ENV, "")
    for pat in (p.strip() for p in spec.split(",")):
        if pat and fnmatch.fnmatchcase(key, pat):
            raise _InjectedFailure(f"injected failure of {key} ({_FAIL_ENV}={spec!r})")


# ---------------------------------------------------------------------------- entry requests
def entry_params(entry: Entry, score_kwargs: Mapping[str, Any], metric_options: Mapping[str, Mapping[str, Any]]
                 ) -> dict[str, Any]:
    """The engine parameters of one entry: a metric's options, or the score arguments of a direction
    without ``backend`` (``dtype`` stays; :func:`entry_lookup` passes it on). ``model_to_model``
    takes no ceiling arguments and runs one rep unless ``max_n`` is given (its reps are otherwise
    identical); ``seed`` is left out where the parameters alone say the score draws nothing with it
    (:func:`score_takes_seed`; :func:`_request` adds what the inputs' repeats say): the sweep's seed then
    draws its inference entries' resamples only."""
    if entry.is_metric:
        return dict(metric_options.get(entry.direction) or {})
    out = {k: v for k, v in score_kwargs.items() if k not in ("backend", _TG)}
    if score_kwargs.get(_TG) and entry.direction in _TG_DIRECTIONS:  # the entry's temporal generalisation too
        out[_TG] = {k: out[k] for k in _TG_PARAMS if k in out}
    if entry.direction == "model_to_model":
        for k in _NO_CEILING:
            out.pop(k, None)
        if out.get("max_n") is None:  # every rep is the same fit
            out["reps"] = 1
    if not score_takes_seed(entry.direction, out, averaged=False):  # refused without inference entries
        out.pop("seed", None)
    return out


#: the directions whose automatic ceiling draws split halves of a neural input's repeats
_HALVES_DIRECTIONS = ("forward", "reverse", "inter_animal")


def score_takes_seed(direction: str, params: Mapping[str, Any], store: Any = None, inputs: Sequence[Any] = (), *,
                     averaged: bool | None = None) -> bool:
    """Whether a direction's score draws anything with its ``seed`` (the one rule of the sweep's tasks and
    ``neuroxr score``); where it draws nothing the score is keyed without ``seed``, which then draws its
    bootstrap and permutation entries' resamples only.

    With ``max_n`` the seed draws the predictor subsets; without it, ``model_to_model`` and
    ``noise_ceiling=False`` draw nothing, an explicit ceiling draws its split halves, and the automatic
    ceiling (``noise_ceiling=None``) draws them unless a neural input has one repeat.

    Parameters
    ----------
    direction : {"forward", "reverse", "inter_animal", "model_to_model"}
        The score's direction (``-`` for ``_`` accepted, as the command line spells it).
    params : mapping
        The score's parameters; ``max_n`` and ``noise_ceiling`` are read (absent: None).
    store : StudyStore, optional
        The open store of ``inputs``, read (metadata only) where the automatic ceiling decides.
    inputs : sequence of str or SetRef, default ()
        ``(source, target)``; names are resolved as the entry engine resolves them (an unknown name
        raises its error), then the repeats of the neural sets among them are read.
    averaged : bool, optional
        Whether a neural input has one repeat, where the caller knows it (``store`` and ``inputs``
        then unread); ``False`` asks what the parameters alone say.

    Returns
    -------
    bool
    """
    direction = direction.replace("-", "_")
    if params.get("max_n") is not None:  # the predictor subsets of every rep
        return True
    if direction == "model_to_model" or params.get("noise_ceiling") is False:  # no halves, no subsets
        return False
    if params.get("noise_ceiling") is not None or direction not in _HALVES_DIRECTIONS:  # an explicit ceiling's halves
        return True
    if averaged is None:
        averaged = trial_averaged(store, _resolved(store, direction, inputs))
    return not averaged


def _resolved(store: Any, direction: str, inputs: Sequence[Any]) -> list[Any]:
    """The direction's ``(source, target)`` as set references: names resolved as the entry engine resolves
    them (the kind's set kinds and roles: the same error for a name it cannot resolve)."""
    from ..entries.kinds import get_kind
    from ..sets import SetRef, resolve

    k = get_kind(direction)
    return [r if isinstance(r, SetRef) else resolve(store, r, kinds=kinds, role=role)
            for r, kinds, role in zip(inputs, (k.source_kinds, k.target_kinds), ("source", "target"))]


def _request(store: Any, entry: Entry, params: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword arguments of :func:`neuroxr.entries.compute` / ``lookup`` for the entry.

    A sweep's crsa options serve every target: where the automatic ceiling is not drawn (a feature
    set, or neural data with one repeat) its ``seed`` and ``reps`` are left out, which the engine
    refuses from a direct request (they would change no number); so are a direction's ``split``,
    ``min_reliability`` where a neural input has one repeat, and ``seed`` where the score draws nothing
    with it (:func:`score_takes_seed`); an inference entry's ``min_reliability`` too (:mod:`neuroxr.sweep.inference`)."""
    p = dict(params)
    p.pop(_TG, None)
    dtype = p.pop("dtype", None)
    if entry.direction == "crsa" and p.get("noise_ceiling") is None and not _draws_ceiling(store, entry.target_ref):
        for k in ("seed", "reps"):
            p.pop(k, None)
    averaged = (entry.direction in _HALVES_DIRECTIONS and p.get("noise_ceiling") is None
                and trial_averaged(store, (entry.source_ref, entry.target_ref)))
    if averaged:  # the halves' options draw nothing
        for k in ("split", "min_reliability"):
            p.pop(k, None)
    if not entry.is_metric and not score_takes_seed(entry.direction, p, averaged=averaged):
        p.pop("seed", None)
    return (entry.direction, entry.source_ref, entry.target_ref), {"params": p, "dtype": dtype}


def trial_averaged(store: Any, refs: Any) -> bool:
    """Whether a neural set among ``refs`` has one repeat, so that a direction's automatic ceiling draws no
    split halves (metadata only): the score, its inference entries and ``neuroxr score`` leave out what
    draws them."""
    return not all(_draws_ceiling(store, r) for r in refs if getattr(r, "kind", None) == "neural")


def _draws_ceiling(store: Any, ref: Any) -> bool:
    """Whether crsa's automatic ceiling is drawn for the target ``ref`` (its repeats: metadata only)."""
    from ..geometry.rsa import draws_ceiling
    from ..sets import stored_sizes

    n = stored_sizes(store, ref).get("repeat", 1) if ref.kind == "neural" else None
    return draws_ceiling(n_repeats=n)


def entry_lookup(store: Any, entry: Entry, params: Mapping[str, Any]) -> str | None:
    """The store path of the complete entry whose provenance matches, else ``None``
    (:func:`neuroxr.entries.lookup`). A sweep reads the entry it finds (:func:`read_or_damage`): on its
    cached object store the lookup reads it in one batch, kept for that read, its damage check from
    that batch (``then_read=True``); its temporal generalisation, not read, by its keys."""
    from ..entries import lookup

    args, kw = _request(store, entry, params)
    path = lookup(store, *args, then_read=True, **kw)
    if path is not None and _tg_applies(store, entry, params):  # complete only with its temporal generalisation
        return path if lookup(store, _TG, entry.source_ref, entry.target_ref, params=params[_TG]) else None
    return path


def needs_gram_task(entry: Entry, params: Mapping[str, Any]) -> bool:
    """Whether the entry reads its source layer through the layer's Gram (a Gram task runs first)."""
    from ..entries import reads_gram

    return entry.model is not None and reads_gram(entry.direction, params, entry.source_ref.kind)


# ---------------------------------------------------------------------------- tasks
def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB: Linux's ``VmHWM`` (reset when a worker process
    is spawned), else ``ru_maxrss`` (which on Linux keeps the spawning parent's peak)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:  # not on every platform
        return float("nan")


peak_rss_mb = _peak_rss_mb


class _TaskEnv:
    """Inside a task: synchronous dask scheduler, BLAS threads limited (threadpoolctl).

    dask's config is process-wide, so only one value ever goes there ("synchronous"): tasks that
    run beside each other in one worker process cannot leave another value behind."""

    def __init__(self, blas_threads: int | None) -> None:
        self.blas_threads, self.scheduler = blas_threads, "synchronous"

    def __enter__(self) -> _TaskEnv:
        import dask

        self._cfg = dask.config.set(scheduler=self.scheduler)
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


#: this process's cached stores of the latest sweeps, ``(session, url, options) -> StudyStore``
_SESSIONS: dict[tuple[str, str, str], Any] = {}
#: tasks on several threads of one worker open their sweep's store at once: one store, one cleanup
_SESSIONS_LOCK = threading.Lock()


def _open(url: Any, storage_options: Mapping[str, Any] | None, session: str | None = None) -> Any:
    """The store of a task: the sweep's own store object (serial runs), one cached store per sweep
    and worker process (``session``: set tokens and metadata read once per sweep), or a fresh one."""
    import json

    from ..store import StudyStore

    if isinstance(url, StudyStore):
        return url
    if session is None:
        return StudyStore(url, mode="a", storage_options=storage_options)
    key = (session, url, json.dumps(storage_options or {}, sort_keys=True, default=str))
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            for old in [k for k in _SESSIONS if k[0] != session]:  # an earlier sweep's store: never reused
                del _SESSIONS[old]
            _SESSIONS[key] = StudyStore(url, mode="a", storage_options=storage_options, cache=True,
                                        cache_bytes=_worker_cache_bytes()).hold()
        return _SESSIONS[key]


def _worker_cache_bytes() -> int | None:
    """A quarter of this Dask worker's memory limit for its store's cache; None (the default) elsewhere."""
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):
        return None
    return int(limit) // 4 if limit else None


def gram_task(url: str, storage_options: Mapping[str, Any] | None, model: str, layer: str,
              backend: str | None, blas_threads: int | None, session: str | None = None,
              spread: bool = False) -> str:
    """Task: the Gram entry of one layer, ``compute(store, "gram", layer)``; returns its store path.

    By default the layer's unit chunks are streamed through one accumulator in this task (memory:
    one chunk + two ``n x n``). With ``spread=True`` (on a distributed worker) the task hands its
    thread back to the worker (``distributed.worker_client``) and the Gram is a tree reduction
    over the layer's unit chunks on the whole cluster (:func:`neuroxr.kernels.gram.gram_tree`):
    each worker reads and reduces some chunks, only ``n x n`` partials travel, and this task
    receives the final statistics and writes the entry. ``session``: see :func:`_open`.
    """
    from ..entries import compute

    store = _open(url, storage_options, session)
    ref = layer_ref(model, layer)
    if spread:
        from distributed import worker_client

        from ..kernels.gram import gram_scheduler

        # the Gram's tree on the cluster, named for this thread only (dask's config is process-wide:
        # setting the client there would leak into tasks running beside this one)
        with worker_client() as client, _TaskEnv(blas_threads), gram_scheduler(client):
            return compute(store, "gram", ref, backend=backend).path
    with _TaskEnv(blas_threads):
        return compute(store, "gram", ref, backend=backend).path


#: A layer's Gram is spread over the cluster when its features exceed this fraction of the
#: smallest worker memory limit ...
GRAM_SPREAD_FRACTION = 0.25
#: ... or, where the workers have no memory limit, this many bytes.
GRAM_SPREAD_BYTES = 2**30


def layer_size(store: StudyStore, model: str, layer: str) -> tuple[int, int]:
    """``(bytes, unit chunks)`` of a stored layer, from its array's metadata document (no data or
    coordinate read; :meth:`StudyStore.array_meta`), else from the labeled set."""
    try:
        meta = store.array_meta(f"features/{model}/{layer}")
        shape, chunks = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]  # type: ignore[index]
        return int(np.prod(shape)) * np.dtype(meta["data_type"]).itemsize, -(-int(shape[1]) // int(chunks[1]))  # type: ignore[index]
    except Exception:  # another layout: the labeled set says
        data = store.read_features(model, layer).data
        return int(data.nbytes), len(data.chunks[1]) if getattr(data, "chunks", None) else 1


def spread_gram(nbytes: int, n_chunks: int, memory_limits: Sequence[int | None]) -> bool:
    """Whether a layer's Gram is reduced across the cluster (:func:`gram_task` with ``spread``).

    A layer of at least two unit chunks whose features take more than :data:`GRAM_SPREAD_FRACTION`
    of the smallest worker memory limit (:data:`GRAM_SPREAD_BYTES` without limits): one worker
    would stream it in bounded memory too, but the reduction would then hold one core for the
    whole layer; smaller layers are cheaper reduced in place than through the scheduler.
    """
    if n_chunks < 2:
        return False
    limits = [int(x) for x in memory_limits if x]
    return nbytes > (GRAM_SPREAD_FRACTION * min(limits) if limits else GRAM_SPREAD_BYTES)


def read_or_damage(store: Any, path: str) -> Any:
    """The matching entry ``path`` (found by its metadata) read into memory, here (a small entry: never
    shipped through a distributed client that is the default scheduler), or the damage (a str) of a
    chunk that cannot be decoded: damage its metadata does not show, which ``compute`` replaces."""
    from ..errors import StoreError

    try:
        return store.read_dataset(path).load(scheduler="synchronous")
    except StoreError as exc:
        if exc.problem is None:
            raise
        return exc.problem


def entry_task(url: str, storage_options: Mapping[str, Any] | None, entry: Entry, params: Mapping[str, Any],
               overwrite: bool, blas_threads: int | None, backend: str | None,
               gram_path: str | None = None, session: str | None = None) -> dict[str, Any]:
    """Task: one entry, ``compute(store, kind, source, target, params=..., overwrite=..., backend=...)``;
    returns a small status record (``key``, ``status``, ``path``, ``seconds``, ``peak_rss_mb``).

    ``gram_path`` is the result of the layer's Gram task: a dependency only, so that the Gram is
    computed once before the entries that read it.
    """
    from ..entries import compute

    t0 = time.perf_counter()
    store = _open(url, storage_options, session)
    if not overwrite:
        path = entry_lookup(store, entry, params)
        if path is not None and not isinstance(read_or_damage(store, path), str):  # else damaged: compute replaces it
            return {"key": entry.key, "status": "skipped", "path": path, "seconds": 0.0, "peak_rss_mb": _peak_rss_mb()}
    _injected(entry.key)
    args, kw = _request(store, entry, params)
    with _TaskEnv(blas_threads):
        res = compute(store, *args, overwrite=overwrite, backend=backend, **kw)
        tg = _tg_applies(store, entry, params) and compute(store, _TG, entry.source_ref, entry.target_ref,
                                                           params=params[_TG], overwrite=overwrite)
    return {"key": entry.key, "status": "computed" if res.computed or (tg and tg.computed) else "skipped", "path": res.path,
            "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb(), **({"tg_path": tg.path} if tg else {})}


# ---------------------------------------------------------------------------- temporal generalisation (issue 20)
#: ``temporal_generalization: true`` in a sweep: for every forward and inter_animal entry whose neural sets
#: are time-resolved, also the entry ``temporal_generalization`` of the same sets (the kind's parameters
#: taken from the sweep's score arguments), computed by the same task; the direction entry counts as
#: done only when that entry exists too.
_TG = "temporal_generalization"
_TG_DIRECTIONS = ("forward", "inter_animal")
_TG_PARAMS = ("alpha", "n_folds", "fold_seed")


def _tg_applies(store: Any, entry: Entry, params: Mapping[str, Any]) -> bool:
    """Whether the entry has a temporal-generalisation entry to compute: asked for, and its neural sets time-resolved."""
    if _TG not in params:
        return False
    from ..sets import stored_sizes

    refs = [entry.target_ref] + ([entry.source_ref] if entry.direction == "inter_animal" else [])
    return all("time_bin" in stored_sizes(store, ref) for ref in refs)
