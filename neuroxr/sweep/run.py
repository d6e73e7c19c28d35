"""The sweep: plan the entries, run one task per entry on Dask (or serially), gather the results.

:func:`sweep` only composes: :func:`~neuroxr.sweep.plan.plan_sweep` lists the entries,
:mod:`~neuroxr.sweep.tasks` computes each one (one Gram task per layer first, where entries read
the layer's Gram), :mod:`~neuroxr.sweep.cluster` says where the tasks run, and
:mod:`~neuroxr.sweep.gather` and :mod:`~neuroxr.sweep.select` build the :class:`SweepResult`.

Resume: before anything is submitted, every entry whose provenance matches a complete store entry
(:func:`neuroxr.entries.lookup`: same parameters, same versions of the sets it reads) is skipped
(unless ``overwrite=True``); a task checks again on the worker. Other parameters, or a rewritten
neural or feature set, make new entries beside the old ones. Each task writes its entry atomically
as soon as it finishes, so a sweep killed part-way -- or whose scheduler went away -- keeps every
finished entry, and a re-run computes only the missing ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..entries.layout import gram_group
from ..errors import NeuroxrError, StoreError, SweepConfigError, no_effect, shown
from ..errors import SweepError as _SweepErrorBase
from ..store import StudyStore
from ..store.study import as_store
from ..validation import check_bool, check_int
from ._util import ordered
from .checks import check_plan, check_writable, without_disjoint
from .cluster import (
    CLIENT_LOGGERS,
    QuietConnectionErrors,
    TaskCancelled,
    check_client,
    failure_text,
    local_cuda_cluster,
    lost_reason,
    lost_scheduler,
)
from .config import check_inference, check_metric_options, check_score_kwargs
from .gather import SweepResult, check_inputs_current, gather, gather_metrics, read_reused
from .inference import run_inference
from .names import layer_name
from .plan import Entry, longest_first, set_sizes
from .select import best_layers, without_failed
from .tasks import (
    entry_lookup,
    entry_params,
    entry_task,
    gram_task,
    layer_size,
    needs_gram_task,
    spread_gram,
)

__all__ = ["SchedulerLostError", "SweepError", "check_cluster_options", "entry_params", "sweep"]

_GPU_BACKENDS = ("torch_cuda", "cupy")


class SweepError(_SweepErrorBase):
    """Some entries of a sweep failed, or its scheduler went away; every finished entry is written
    and a re-run resumes.

    Attributes
    ----------
    failed : dict[str, str]
        Entry key -> error message (for a lost scheduler: every entry that did not finish).
    computed : list[str]
        Entries computed (and written) by this run before it stopped.
    """

    def __init__(self, message: str, failed: Mapping[str, str], computed: Sequence[str]) -> None:
        super().__init__(message)
        self.failed = dict(failed)
        self.computed = list(computed)


class SchedulerLostError(SweepError):
    """The sweep's Dask scheduler went away mid-sweep (no entry's fault); every finished entry is
    written and a re-run resumes."""


def pair_path(entry: Entry) -> str:
    """The group that holds every stored entry of ``entry``'s kind and sets (one per provenance key)."""
    from ..entries.layout import pair_path as _pair

    return _pair("metrics" if entry.is_metric else "scores", entry.direction, entry.source_ref, entry.target_ref)


class _Progress:
    """Progress over finished entries: a tqdm bar on a terminal (or in Jupyter), else a plain line per
    tenth of the entries (and the last one); a callable is called with each finished key instead."""

    def __init__(self, progress: bool | Callable[[str], None], total: int) -> None:
        self.callback = progress if callable(progress) else None
        self.total, self.done, self.failed, self.t0 = total, 0, 0, time.perf_counter()
        self.bar = None
        self.plain = bool(progress) and self.callback is None and total > 0
        if self.plain and _isatty():
            from tqdm.auto import tqdm

            self.bar, self.plain = tqdm(total=total, desc="sweep", unit="entry"), False
        self._next = 0

    def update(self, key: str, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.callback is not None:
            self.callback(key)
        elif self.bar is not None:
            self.bar.update(1)
        elif self.plain and (self.done >= self._next or self.done == self.total):
            self._next = self.done + max(1, self.total // 10)
            print(f"neuroxr sweep: {self.done}/{self.total} entries done, {self.failed} failed, "
                  f"{time.perf_counter() - self.t0:.1f} s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _isatty() -> bool:
    """Whether progress can be drawn as a bar: stdout is a terminal, or this is a Jupyter kernel
    (where tqdm.auto draws a widget)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if type(shell).__name__ == "ZMQInteractiveShell":
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _is_serial(client: Any) -> bool:
    return isinstance(client, str) and client in ("serial", "synchronous")


#: how :func:`check_cluster_options` names the client and the options by default (``sweep``'s keywords)
_KEYWORDS = {"client": "client", "local": "use client=None", "n_workers": "n_workers", "memory_limit": "memory_limit",
             "gram_spread": "gram_spread"}


def check_cluster_options(client: Any, options: Mapping[str, Any], spelling: Mapping[str, str] | None = None) -> None:
    """A one-line :class:`~neuroxr.errors.SweepConfigError` for cluster options that ``client`` would
    not use (an option never silently does nothing): the one check of :func:`sweep` and of the CLI.

    ``n_workers`` and ``memory_limit`` size the embedded local cluster (``client=None``) only;
    ``gram_spread`` spreads a Gram across the workers of a cluster, which a serial run has not.

    Parameters
    ----------
    client : None, "serial", str, distributed.Client or cluster
        Where the sweep runs (see :func:`sweep`).
    options : mapping
        The options given, by name (``n_workers``, ``memory_limit``, ``gram_spread``); ``None``
        means not given.
    spelling : mapping, optional
        How the message names them, e.g. the CLI's flags: keys ``client``, ``local`` (how to ask
        for the embedded cluster, e.g. ``"use client=None"``) and the option names; default
        ``sweep``'s keywords.
    """
    sp = {**_KEYWORDS, **(spelling or {})}
    _check_memory_limit(options.get("memory_limit"), sp["memory_limit"])
    serial = _is_serial(client)
    unused = [k for k in ("n_workers", "memory_limit") if options.get(k) is not None and client is not None]
    unused += ["gram_spread"] if serial and options.get("gram_spread") is not None else []
    if not unused:
        return
    why = ("the run stays in this process: no cluster to size or to spread a Gram across" if serial else
           f"{'it sizes' if len(unused) == 1 else 'they size'} the embedded local cluster, not the workers of the scheduler at {client!r}")
    given = f"{sp['client']} {client}" if sp["client"].startswith("--") else f"{sp['client']}={client!r}"  # a flag, a keyword
    raise no_effect([sp[k] for k in unused], f"with {given}", why,
                    f"{sp['local']} (the embedded local cluster)", error=SweepConfigError)


def _check_memory_limit(memory_limit: Any, name: str = "memory_limit") -> None:
    """A worker memory limit dask cannot read (``"2GiB"``, a number of bytes, a fraction of the
    machine's memory, ``"auto"``) refused in one line naming it, before any cluster starts."""
    if memory_limit is None:
        return
    from .cluster import _limit_bytes

    try:
        ok = not isinstance(memory_limit, bool) and (_limit_bytes(memory_limit) or 0) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SweepConfigError(f"{name} must be a memory size per worker such as '2GiB', a number of bytes, or 'auto'; "
                               f"got {shown(memory_limit)}.")


@contextlib.contextmanager
def _as_sweep() -> Iterator[None]:
    """The errors of the sweep's own checks starting with ``sweep:``, the function called, once, their class
    kept (a config file's errors start with the file's path instead: :func:`~neuroxr.sweep.config.load_config`,
    ``neuroxr sweep``)."""
    try:
        yield
    except NeuroxrError as exc:  # a SweepConfigError, or a check of an entry kind (ParameterError, LayoutError)
        raise type(exc)(str(exc) if str(exc).startswith(_PREFIX) else _PREFIX + str(exc)) from None


#: what the errors of :func:`sweep`'s own checks start with (:func:`_as_sweep`)
_PREFIX = "sweep: "


def check_run_options(on_error: Any, blas_threads: Any, selection_seed: Any, overwrite: Any = False) -> None:
    """The sweep's own run options refused in one line starting with ``sweep:`` (design.md, section 1)."""
    check_bool(overwrite, "overwrite", "Pass overwrite=True to recompute the matching entries in place.", caller="sweep")
    if not isinstance(on_error, str) or on_error not in ("raise", "warn"):
        raise SweepConfigError(f"sweep: on_error must be 'raise' or 'warn'; got {shown(on_error)}.")
    if blas_threads is not None:
        check_int(blas_threads, "blas_threads", 1, "Pass the BLAS threads of each task, e.g. blas_threads=1, or None "
                  "to leave them alone.", caller="sweep")
    if selection_seed is not None:
        check_int(selection_seed, "selection_seed", 0, "The target halves of best_layers; pass e.g. selection_seed=0.",
                  caller="sweep")


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
    selection_seed: int | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    inference: Mapping[str, Any] | None = None,
    gram_spread: bool | None = None,
    **score_kwargs: Any,
) -> SweepResult:
    """Score models x layers x neural sets (x regions) x directions on Dask, resumably.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The study store, or its path/URL (it must be reachable from the workers by that URL; a path
        holding no store is an error: the sweep never creates one).
    models, layers, neural, directions, regions
        What to score; see :func:`plan_sweep` (defaults: everything in the store, forward and
        reverse, whole neural sets).
    client : None, "serial", str, distributed.Client or cluster, optional
        Where to run. ``None``: an embedded ``LocalCluster`` (processes, one thread per worker,
        ``n_workers`` = cores; dask-cuda's ``LocalCUDACluster`` with a GPU backend) started and
        closed by the sweep. ``"serial"`` (or ``"synchronous"``): in this process, one entry after
        another. A scheduler address or a ``Client``/cluster: that existing cluster.
    n_workers : int, optional
        Workers of the embedded cluster (default: one per core; with GPUs one per GPU).
    overwrite : bool, default False
        Recompute entries whose provenance matches (they are replaced); by default they are
        skipped, and entries with other parameters or older input sets are computed anew beside them.
    progress : bool or callable, default True
        Show progress over finished entries: a tqdm bar when stdout is a terminal, else a plain
        line per tenth of the entries (and print the dashboard link of the cluster); a callable
        is called with each finished entry's key instead.
    storage_options : mapping, optional
        fsspec options for opening a remote store on the workers.
    memory_limit : str or int, optional
        Memory limit per worker of the embedded cluster (e.g. ``"2GiB"``; default: Dask's). Below
        2 GiB the workers keep Dask's malloc trimming (:func:`neuroxr.sweep.cluster.keeps_malloc_trim`).
    blas_threads : int or None
        BLAS/OpenMP threads inside each task (default 1, so that workers do not oversubscribe
        the cores); ``None`` leaves them alone.
    on_error : {"raise", "warn"}, default "raise"
        After every task has finished: raise :class:`SweepError` naming the failed entries, or
        return the result with them in :attr:`SweepResult.failed` (their cells are NaN).
    selection_seed : int or None, default None
        Seed of the target split of :func:`best_layers` (None: 0); refused without forward or
        reverse entries, the only ones best_layers reads.
    metric_options : mapping, optional
        Options of the metrics named in ``directions``, per metric: e.g. ``{"rsa": {"variant":
        "ersa", "alpha": 1.0}, "shape": {"alpha": 0.5}, "cka": {"debiased": True}}`` (see
        :func:`neuroxr.entries.metric_options`; ``rsa``'s options apply to its variant). The
        score arguments below apply to the directions only.
    inference : mapping, optional
        ``{"bootstrap": N, "permutations": N}`` (optional ``level``, ``method``, ``over``, and ``shape_method`` /
        ``cka_method``, the shape / cka metric's bootstrap interval: ``shape_bootstrap``'s / ``cka_bootstrap``'s ``method``): after
        the scores, a bootstrap and / or permutation entry per direction entry
        (:mod:`neuroxr.sweep.inference`), summarised in :attr:`SweepResult.inference_table`.
    gram_spread : bool, optional
        On a Dask cluster, reduce a layer's Gram across all workers (a tree over its unit chunks)
        instead of streaming it inside one worker: ``None`` (default) for the layers larger than a
        quarter of the smallest worker memory limit (:func:`neuroxr.sweep.tasks.spread_gram`),
        ``True`` for every layer of two or more unit chunks, ``False`` never. Serial runs stream.
    **score_kwargs
        Passed to the direction functions: ``reps``, ``seed``, ``regressor``, ``alpha``,
        ``n_components``, ``alphas``, ``n_folds``, ``fold_seed``, ``max_n``, ``noise_ceiling``,
        ``split``, ``min_reliability``, ``backend``, ``dtype``. ``model_to_model`` runs one rep unless ``max_n`` is
        given (its reps are otherwise identical) and takes no ceiling arguments.

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepConfigError
        Invalid arguments or names not in the store (raised before anything runs; a scheduler nobody
        answers at, or dask-cuda missing, when the cluster starts): one line starting with ``sweep:``.
    SweepError
        Some tasks failed (``on_error="raise"``), or the scheduler went away mid-sweep (one line
        naming it); every finished entry is written and a re-run resumes.

    Examples
    --------
    >>> from neuroxr.sweep import sweep                                   # doctest: +SKIP
    >>> res = sweep("study.zarr", directions=["forward", "reverse"], regions="each", reps=10)
    >>> res.best_layers                                                    # doctest: +SKIP
    """
    check_run_options(on_error, blas_threads, selection_seed, overwrite)
    with _as_sweep():  # a config file's checks: here they speak as the call
        kw = check_score_kwargs(score_kwargs, inference)
        inference = check_inference(inference, kw)
        metric_options = check_metric_options(metric_options)
    # a store whose cache lasts for this sweep only (the sets do not change during a sweep): its tokens and
    # metadata are read once, afresh, never from the caller's cache of earlier calls. A path is opened once, as
    # that store; a store given is twinned (a new object, its cache empty), its storage_options the workers' alone
    # (neuroxr sweep passes both). A mistyped path is an error (create=False), not a new empty store
    try:
        store = as_store(store, "a", storage_options=None if isinstance(store, StudyStore) else storage_options,
                         cache=True).hold()
    except StoreError as exc:
        raise StoreError(f"sweep: {exc}") from None
    if storage_options is None and store.storage_options:  # workers open the store as it was opened here
        storage_options = store.storage_options
    url = store.url if "://" in store.url else os.path.abspath(store.url)
    serial = _is_serial(client)
    with _as_sweep():  # where it runs (the CLI's flags are checked by its own call, spelled as flags)
        check_cluster_options(client, {"n_workers": n_workers, "memory_limit": memory_limit, "gram_spread": gram_spread})
        if not serial and url.startswith("memory://"):
            raise SweepConfigError(
                f"store {url!r} lives in this process's memory; workers cannot open it. Use a path or a shared "
                f"fsspec URL, or client='serial'."
            )
        check_client(client)
        entries, metric_opts, params = check_plan(store, kw, metric_options, inference, models, layers, neural, directions,
                                                  regions, selection_seed)
        backend = kw.get("backend")
        if (serial or client is None) and backend is not None:
            from ..backend import BackendError, resolve_backend
            try:
                resolve_backend(backend)
            except BackendError as exc:
                raise SweepConfigError(str(exc)) from None
        if client is None and not serial and backend in _GPU_BACKENDS:
            local_cuda_cluster()  # dask-cuda installed: checked even when no entry is left to compute
    paths: dict[str, str] = {}
    if not overwrite:
        for e in entries:
            path = entry_lookup(store, e, params[e.key])
            if path is not None:
                paths[e.key] = path
    read, damaged = read_reused(store, paths)  # read once, for the tables; damaged ones computed again
    for key in damaged:
        del paths[key]
    todo = [e for e in entries if e.key not in paths]
    entries, todo = without_disjoint(store, entries, todo)  # pairs of sets sharing no stimulus: said, left out
    skipped = [e.key for e in entries if e.key in paths]
    if not serial and len(todo) > 1:  # longest first, so that the workers finish together
        todo = longest_first(todo, params, set_sizes(store, todo))
    jobs = [(e, params[e.key]) for e in todo]
    gram_layers = ordered((e.model, e.layer) for e, p in jobs if needs_gram_task(e, p))
    if todo:  # refused before any work: never every entry computed and each lost at its write
        check_writable(store, len(todo), len(entries))
    # parent groups exist before workers write concurrently below them (another sweep may create them too)
    for e in todo:
        store.require_group(pair_path(e))
    for m, layer in gram_layers:
        store.require_group(gram_group(m, layer))
    computed: list[str] = []
    failed: dict[str, str] = {}
    info: dict[str, dict[str, Any]] = {}
    bar = _Progress(progress, len(todo))

    def _done(key: str, rec: dict[str, Any] | None, err: BaseException | None) -> None:
        if err is not None:
            failed[key] = failure_text(err, memory_limit)
        elif rec is not None and rec["status"] == "computed":
            computed.append(key)
            paths[key] = rec["path"]
            info[key] = {"seconds": rec["seconds"], "peak_rss_mb": rec["peak_rss_mb"]}
        else:
            skipped.append(key)
            if rec is not None:
                paths[key] = rec["path"]
        bar.update(key, err is not None)

    run = _Run(store if serial else url, storage_options, overwrite, blas_threads, backend, gram_spread)
    t0 = time.perf_counter()
    try:
        if serial:
            run.serial(jobs, gram_layers, _done)
        elif todo:
            run.distributed(client, n_workers, backend in _GPU_BACKENDS, memory_limit, jobs, gram_layers,
                            bool(progress), _done, computed)
        elif isinstance(client, str):  # nothing to submit: a scheduler address is still checked, as always
            _check_scheduler(client)
    except SweepError as exc:  # the scheduler went away: also name the entries that failed before
        exc.failed = {**failed, **exc.failed}
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if failed and on_error == "raise":
        raise _failures(failed, f"of {len(todo)} sweep entries", computed)
    dataset, table, target_table = gather(store, [e for e in entries if not e.is_metric], paths=paths, score_kwargs=kw,
                                          read=read, failed=failed)
    metrics, metric_table = gather_metrics(store, [e for e in entries if e.is_metric], paths=paths,
                                           metric_options=metric_opts, read=read, failed=failed)
    inference_failed: dict[str, str] = {}
    inference_table, inferred = run_inference(store, [e for e in entries if e.key not in failed], kw, inference,
                                              metric_options=metric_opts, overwrite=overwrite, failed=inference_failed)
    if inference_failed and on_error == "raise":  # as the tasks': the others are computed first
        raise _failures(inference_failed, "inference entries", computed)
    failed.update(inference_failed)
    check_inputs_current(store, [*paths.values(), *inferred], lambda msg: SweepError(msg, {}, computed))  # one version each
    return SweepResult(inference_table=inference_table, entries=entries, computed=computed, skipped=skipped, failed=failed, seconds=seconds,
                       inference_computed=[p for p, new in inferred.items() if new],
                       inference_skipped=[p for p, new in inferred.items() if not new], task_info=info, dataset=dataset, table=table, target_table=target_table,
                       best_layers=without_failed(best_layers(target_table, seed=selection_seed or 0),
                                                  [e for e in entries if e.key in failed]),
                       metrics=metrics, metric_table=metric_table)


def _failures(failed: Mapping[str, str], what: str, computed: Sequence[str]) -> SweepError:
    """The :class:`SweepError` listing the ``failed`` entries (``what``: of how many, which kind)."""
    lines = "\n".join(f"  {k}: {v}" for k, v in list(failed.items())[:10])
    more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
    # a failure of the data (sets that share no stimuli) fails again on a re-run: the fix is what each line names
    return SweepError(f"{len(failed)} {what} failed (the other {len(computed)} computed entries are written; fix what "
                      "each line names, or leave those entries out of the sweep (models, layers, neural, directions), "
                      f"then re-run the sweep: it computes only the missing ones):\n{lines}{more}", failed, computed)


_Job = tuple[Entry, dict[str, Any]]
_Done = Callable[[str, "dict[str, Any] | None", "BaseException | None"], None]


class _Run:
    """Runs the tasks of one sweep, serially or on a Dask cluster."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None, overwrite: bool,
                 blas_threads: int | None, backend: str | None, gram_spread: bool | None = None) -> None:
        self.url, self.storage_options, self.overwrite = url, storage_options, overwrite
        self.blas_threads, self.backend, self.gram_spread = blas_threads, backend, gram_spread
        self.session = f"{os.getpid()}-{time.time_ns()}"  # workers keep one cached store per sweep

    def _gram_args(self, model: str, layer: str, spread: bool = False) -> tuple[Any, ...]:
        return (self.url, self.storage_options, model, layer, self.backend, self.blas_threads, self.session, spread)

    def _spread(self, client: Any, gram_layers: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The layers whose Gram is reduced across the cluster (``gram_spread``; :func:`spread_gram`)."""
        if self.gram_spread is False or not gram_layers:
            return set()
        store = StudyStore(self.url, mode="r", storage_options=self.storage_options)
        limits = [w.get("memory_limit") for w in client.scheduler_info().get("workers", {}).values()]
        out = set()
        for m, layer in gram_layers:
            nbytes, n_chunks = layer_size(store, m, layer)
            if (n_chunks > 1 and self.gram_spread) or spread_gram(nbytes, n_chunks, limits):
                out.add((m, layer))
        return out

    def _entry_args(self, entry: Entry, params: Mapping[str, Any], gram: Any) -> tuple[Any, ...]:
        return (self.url, self.storage_options, entry, params, self.overwrite, self.blas_threads, self.backend, gram,
                self.session)

    def serial(self, jobs: Sequence[_Job], gram_layers: Sequence[tuple[str, str]], done: _Done) -> None:
        """One task after another in this process; a failed task does not stop the others (a failed
        Gram fails the entries that need it, as on a cluster)."""
        grams: dict[tuple[str, str], Any] = {}
        for m, l in gram_layers:
            try:
                grams[(m, l)] = gram_task(*self._gram_args(m, l))
            except Exception as exc:
                grams[(m, l)] = exc
        for e, p in jobs:
            g = grams.get((e.model, e.layer)) if needs_gram_task(e, p) else None
            try:
                if isinstance(g, Exception):
                    raise g
                rec = entry_task(*self._entry_args(e, p, g))
            except Exception as exc:  # keep going: every other entry is still written
                done(e.key, None, exc)
            else:
                done(e.key, rec, None)

    def distributed(self, client: Any, n_workers: int | None, gpu: bool, memory_limit: Any, jobs: Sequence[_Job],
                    gram_layers: Sequence[tuple[str, str]], show: bool, done: _Done, computed: list[str]) -> None:
        """Submit every task to the cluster and record them as they complete; a lost scheduler ends
        the sweep with one :class:`SweepError` line."""
        from distributed import as_completed

        from .cluster import connect, mute_logs

        with _as_sweep():  # a scheduler nobody answers at, dask-cuda missing: the sweep's checks of where it runs
            c, close = connect(client, n_workers, gpu, memory_limit)
        address = getattr(c, "scheduler", None) and c.scheduler.address
        finished: set[str] = set()
        interrupted = False
        quiet = QuietConnectionErrors()
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).addFilter(quiet)
        try:
            if show and getattr(c, "dashboard_link", None):
                print(f"neuroxr sweep: Dask dashboard at {c.dashboard_link}", flush=True)
            token = f"{os.getpid()}-{time.time_ns()}"
            spread = self._spread(c, gram_layers)
            grams = {(m, l): c.submit(gram_task, *self._gram_args(m, l, (m, l) in spread),
                                      key=f"neuroxr-gram-{layer_name(m, l)}-{token}", pure=False)
                     for m, l in gram_layers}
            futures = {}
            for e, p in jobs:
                g = grams.get((e.model, e.layer)) if needs_gram_task(e, p) else None
                f = c.submit(entry_task, *self._entry_args(e, p, g), key=f"neuroxr-{e.key.replace('/', ':')}-{token}",
                             pure=False)
                futures[f] = e.key
            for f in as_completed(list(futures)):
                key = futures[f]
                if f.status == "cancelled":
                    raise TaskCancelled(f"task of {key} was cancelled")
                if f.status == "error":
                    done(key, None, f.exception())
                else:
                    done(key, f.result(), None)
                finished.add(key)
                f.release()
        except KeyboardInterrupt:  # Ctrl-C: the cluster closes without log lines (the command says it in one)
            interrupted = True
            if len(close) > 1:  # the embedded cluster's workers (never those of a cluster the user runs)
                with contextlib.suppress(Exception):
                    c.run(mute_logs, on_error="ignore", callback_timeout=5)
            raise
        except Exception as exc:
            if not lost_scheduler(exc):
                raise
            rest = {e.key: "unfinished when the Dask scheduler went away" for e, _ in jobs if e.key not in finished}
            raise SchedulerLostError(
                f"lost the Dask scheduler at {address or client!r} after {len(finished)} of {len(jobs)} entries "
                f"({lost_reason(exc)}); the {len(computed)} computed entries are written, and a re-run resumes "
                f"with the entries still missing.",
                rest, computed) from None
        finally:
            muted = logging.root.manager.disable
            if interrupted:
                mute_logs()
            for obj in close:
                try:
                    obj.close()
                except Exception:  # closing a client whose scheduler is gone may fail; nothing is lost
                    pass
            logging.disable(muted)
            for name in CLIENT_LOGGERS:
                logging.getLogger(name).removeFilter(quiet)


def _check_scheduler(address: str) -> None:
    """Connect to the scheduler at ``address`` and close again: one nobody answers at is the sweep's
    one-line :class:`SweepConfigError`, whether or not the store already holds every entry."""
    from .cluster import connect

    with _as_sweep():
        _, opened = connect(address, None, False, None)
    for c in opened:
        c.close()
