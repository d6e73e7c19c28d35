"""Where a sweep runs: the embedded cluster, connecting to a scheduler, and the worker settings.

The embedded cluster is a process-based ``distributed.LocalCluster`` (one single-threaded worker
per core) or, with a GPU backend, dask-cuda's ``LocalCUDACluster`` (one worker per GPU). Its
workers start with:

- **BLAS/OpenMP threads = 1** (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
  ``VECLIB_MAXIMUM_THREADS``, ``NUMEXPR_NUM_THREADS``), set before the worker process starts, so that
  n single-threaded workers use n cores, not n x cores; each task also limits them with
  ``threadpoolctl`` (see :mod:`neuroxr.sweep.tasks`).
- **No ``MALLOC_TRIM_THRESHOLD_``, unless memory is scarce.** Dask's nanny sets
  ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker by default (``distributed.nanny.pre-spawn-environ``),
  to hand freed memory back to the OS quickly. Setting that variable also switches off glibc's
  dynamic mmap threshold, so every array above 128 KiB is a fresh ``mmap`` and every write to it
  page-faults: NumPy code that allocates and frees many mid-sized temporaries (elementwise work on
  4 MB arrays, one thread) ran about 3x slower with it on a Linux/glibc test machine
  (``benchmarks/sweep.py --only worker`` measures it). The embedded cluster drops the variable, so
  glibc keeps its adaptive defaults (large arrays, above the adaptive threshold of at most 32 MiB,
  are still mmap'd and returned on free, and the top of the heap is trimmed past twice the
  threshold). The heap it keeps for reuse costs tens of MiB per worker, which matters only on
  small workers: with a per-worker ``memory_limit`` below :data:`TRIM_BELOW_BYTES` (2 GiB) dask's
  setting stays (:func:`keeps_malloc_trim`), so that a 300 MiB worker stays under dask's 80 %
  pause threshold while it streams a large layer. A cluster you start yourself keeps your own
  settings.
- **Quiet on Ctrl-C.** A worker that SIGINT reaches (a terminal's Ctrl-C reaches the whole process
  group) mutes its logs instead of raising there (:func:`dask_setup`, a Dask preload); the sweep's
  process mutes them and its own while it closes the cluster, so the command prints one line.
  A worker process starts with SIGINT blocked (the cluster's event loop thread, which spawns the
  workers, blocks it: :func:`_sigint_blocked_loop`), so that a Ctrl-C while it still imports waits
  until the preload has set its handler, never raising in those imports (a traceback); the
  preload unblocks it. The GPU cluster's workers get the same preload. A Ctrl-C while the cluster
  starts kills the worker processes started so far before it closes (:func:`_kill_started_workers`).
- **A lost scheduler is one line.** The client's connection-loss tracebacks are filtered from its
  loggers (:class:`QuietConnectionErrors`; :func:`lost_scheduler` says which errors mean it).

On a cluster you started yourself, a GPU backend's tasks use each worker's first visible GPU:
several workers started by hand on one machine (``dask worker --nworkers 4``) all run on its GPU 0.
The sweep asks each worker which GPU it would use and how many it sees
(:func:`warn_shared_gpus`) and warns, naming them, where several on one host share one GPU though
they see more; ``dask cuda worker`` (one worker per GPU) or one ``CUDA_VISIBLE_DEVICES`` per
worker gives each its own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import SweepConfigError, install_advice

__all__ = ["TRIM_BELOW_BYTES", "WORKER_ENV", "check_client", "connect", "embedded_cluster", "failure_text", "keeps_malloc_trim",
           "machine_cores", "scheduler_address"]

#: Environment of the embedded cluster's workers, set before each worker process starts.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
#: Pre-spawn variables of Dask's nanny that the embedded cluster drops (see the module docstring).
DROPPED_ENV = ("MALLOC_TRIM_THRESHOLD_",)


def machine_cores() -> int:
    """Cores this process may run on (CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: Per-worker memory limits below this keep dask's malloc trimming (see the module docstring).
TRIM_BELOW_BYTES = 2 * 2**30


def _limit_bytes(memory_limit: Any) -> int | None:
    """A worker memory limit in bytes as dask reads it for a single-threaded worker of this machine
    (``None``: no limit; ``"auto"`` and a fraction ``<= 1`` of the machine's memory are resolved)."""
    if memory_limit in (None, 0):
        return None
    try:
        from distributed.worker_memory import parse_memory_limit
    except ImportError:  # older distributed: a number of bytes or a size alone
        parse_memory_limit = None
    if parse_memory_limit is not None:
        quiet = logging.getLogger(f"{__name__}.memory_limit")  # dask warns of a limit above the machine's itself
        quiet.disabled = True
        limit = parse_memory_limit(memory_limit, 1, total_cores=machine_cores(), logger=quiet)
        return None if limit is None else int(limit)
    if memory_limit == "auto" or isinstance(memory_limit, float) and memory_limit <= 1:
        return None
    from dask.utils import parse_bytes

    return int(parse_bytes(memory_limit)) if isinstance(memory_limit, str) else int(memory_limit)


def keeps_malloc_trim(memory_limit: Any) -> bool:
    """Whether the embedded cluster keeps dask's ``MALLOC_TRIM_THRESHOLD_=65536``: only for a
    per-worker ``memory_limit`` below :data:`TRIM_BELOW_BYTES`, where returning freed memory
    to the OS at once keeps a worker under its limit (and out of pause / restart)."""
    limit = _limit_bytes(memory_limit)
    return limit is not None and limit < TRIM_BELOW_BYTES


def _pre_spawn_environ(memory_limit: Any = None) -> dict[str, Any]:
    """Dask's pre-spawn worker environment, less :data:`DROPPED_ENV` (kept for small memory
    limits: :func:`keeps_malloc_trim`), plus :data:`WORKER_ENV`."""
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    if not keeps_malloc_trim(memory_limit):
        for k in DROPPED_ENV:
            env.pop(k, None)
    return {**env, **WORKER_ENV}


def embedded_cluster(n_workers: int | None, gpu: bool, memory_limit: Any) -> Any:
    """A LocalCluster (or LocalCUDACluster with a GPU backend) sized to this machine.

    Parameters
    ----------
    n_workers : int or None
        Workers (default: one per core; with a GPU one per GPU).
    gpu : bool
        Start dask-cuda's ``LocalCUDACluster`` (one worker per GPU).
    memory_limit : str, int or None
        Per worker (default ``"auto"``: the machine's memory shared by the workers).
    """
    import dask

    if gpu:
        cluster_class = local_cuda_cluster()
        kw: dict[str, Any] = {"threads_per_worker": 1}  # dask-cuda: one worker per GPU unless n_workers is given
        if n_workers is not None:
            kw["n_workers"] = int(n_workers)
        if memory_limit is not None:
            kw["memory_limit"] = memory_limit
    else:
        from distributed import LocalCluster as cluster_class

        kw = {"n_workers": int(n_workers) if n_workers is not None else machine_cores(), "threads_per_worker": 1,
              "processes": True, "dashboard_address": ":0",
              "memory_limit": memory_limit if memory_limit is not None else "auto", "env": dict(WORKER_ENV)}
    kw["preload"] = [*(dask.config.get("distributed.worker.preload", None) or []), __name__]  # dask_setup: Ctrl-C mutes
    from distributed.deploy.spec import SpecCluster

    if not keeps_malloc_trim(memory_limit):
        _drop_nanny_leftovers()
    before = set(SpecCluster._instances)
    runner = _sigint_blocked_loop()
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": _pre_spawn_environ(memory_limit)}):
            return cluster_class(**kw, **({"loop": runner.loop} if runner is not None else {}))
    except KeyboardInterrupt:  # Ctrl-C while it starts: closed here, quietly, never by dask's exit hook (a traceback)
        _kill_started_workers()
        _close_quietly(set(SpecCluster._instances) - before)
        raise
    finally:
        if runner is not None:  # the cluster holds the loop now (and stops it when it closes)
            runner.stop()


def _drop_nanny_leftovers() -> None:
    """Remove from this process's environment the :data:`DROPPED_ENV` values that a nanny of an earlier
    cluster wrote there (dask's nanny updates its parent's ``os.environ`` with its pre-spawn variables,
    and every worker spawned later inherits them): a value equal to dask's own default is taken for the
    nanny's; one the user set otherwise stays."""
    import dask

    default = dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}
    for k in DROPPED_ENV:
        if k in default and os.environ.get(k) == str(default[k]):
            del os.environ[k]


def _sigint_blocked_loop() -> Any:
    """A started ``distributed`` loop runner whose event loop thread has SIGINT blocked (``None``
    where the OS has no signal masks).

    The embedded cluster runs on it: its nannies spawn the worker processes from threads that the
    loop thread starts, and a process inherits the signal mask of the thread that starts it (as
    Python's multiprocessing resource tracker does it), so a worker starts with SIGINT blocked and a
    Ctrl-C while it imports stays pending until its preload (:func:`dask_setup`) sets its handler.
    This thread blocks SIGINT only while the loop thread starts; the loop stops when the last one
    holding it (the cluster, its clients) lets it go.
    """
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        return None
    from multiprocessing import resource_tracker

    from distributed.utils import LoopRunner

    # started here first: when it starts it unblocks SIGINT in the thread that starts it (the loop thread otherwise)
    resource_tracker.ensure_running()
    runner = LoopRunner()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        runner.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a Ctrl-C meanwhile is raised here, as usual
    return runner


def _kill_started_workers() -> None:
    """SIGKILL this process's worker processes, with every logger muted for good (the command is
    ending): a worker still unpickling its start-up data would otherwise find the cluster's
    semaphores gone once it closes, and print multiprocessing's traceback."""
    import multiprocessing

    mute_logs()  # the nannies' watchers log the killed workers' exit status
    for child in multiprocessing.active_children():
        child.kill()


def _close_quietly(clusters: set[Any]) -> None:
    """Close half-started clusters with every logger muted, and keep dask's exit hook off them."""
    import contextlib
    import logging

    muted = logging.root.manager.disable
    mute_logs()
    try:
        for cluster in clusters:
            with contextlib.suppress(Exception):
                cluster.close(timeout=5)
            cluster.shutdown_on_close = False
    finally:
        logging.disable(muted)


def mute_logs(*_: Any) -> None:
    """Silence every logger of this process (``logging.disable``): a worker of the embedded cluster
    that Ctrl-C (or the sweep's interrupt, :func:`neuroxr.sweep.run`) reaches closes without log lines."""
    import logging

    logging.disable(logging.CRITICAL)


#: ``"module:function"``, set by a program that starts the embedded cluster (``neuroxr sweep`` names its own): the
#: ``warnings.showwarning`` of the cluster's workers (:func:`dask_setup`), so that a worker shows a warning as that
#: program shows its own (the command: one ``Warning: ...`` line with the sets and options as it names them, not
#: Python's two lines naming a file of dask's and the library's spelling, ``features (net/l1)``)
WORKER_WARNINGS_ENV = "NEUROXR_WORKER_WARNINGS"


def _worker_showwarning() -> Any:
    """The function :data:`WORKER_WARNINGS_ENV` names, or None (unset, or naming nothing importable: Python's own)."""
    import importlib

    module, _, name = os.environ.get(WORKER_WARNINGS_ENV, "").partition(":")
    if not module or not name:
        return None
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def dask_setup(worker: Any) -> None:
    """Dask preload of the embedded cluster's workers: SIGINT (Ctrl-C in a terminal reaches the whole
    process group) mutes the worker's logs instead of raising ``KeyboardInterrupt`` there; the
    sweep's process, interrupted too, closes the cluster and so stops the workers. Started by a program that
    names its way of showing warnings (:data:`WORKER_WARNINGS_ENV`; ``neuroxr sweep`` does), the workers show them so."""
    import signal

    logging.getLogger("distributed.worker").addFilter(_QuietTaskErrors())  # the sweep reports a failed entry itself
    shown = _worker_showwarning()
    if shown is not None:
        import warnings

        warnings.showwarning = shown
    try:
        signal.signal(signal.SIGINT, mute_logs)
    except ValueError:  # not the main thread of the worker process: left as it is
        return
    if hasattr(signal, "pthread_sigmask"):  # blocked since the process started (_sigint_blocked_loop): a pending one mutes now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class _QuietTaskErrors(logging.Filter):
    """Drops a worker's "Compute Failed" record (the task's error and traceback): the sweep lists each
    failed entry in one line, so on the embedded cluster the worker's log says it not again."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Compute Failed")


def failure_text(err: BaseException, memory_limit: Any = None) -> str:
    """A failed entry's line in the sweep's report: ``Type: message``; a task whose workers died
    (dask's ``KilledWorker``, most often of memory) says so and what to do."""
    if type(err).__name__ == "KilledWorker":
        limit = f" (memory_limit={memory_limit!r})" if memory_limit is not None else ""
        return (f"KilledWorker: every worker that ran it died, most often for lack of memory{limit}; give each worker "
                f"more memory (memory_limit, --memory-limit) or start fewer workers (n_workers), or run it with "
                f"client='serial' (--scheduler serial).")
    return f"{type(err).__name__}: {err}"


def scheduler_address(address: str) -> str:
    """``address`` checked as a Dask scheduler address (``tcp://host:8786``); one-line error otherwise."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        raise SweepConfigError(
            f"scheduler {address!r} is not a Dask scheduler address ({exc}); give one such as 'tcp://host:8786', "
            f"or 'serial'."
        ) from None
    return address


def local_cuda_cluster() -> type:
    """dask-cuda's ``LocalCUDACluster``, the embedded cluster of a GPU backend; a one-line
    :class:`~neuroxr.errors.SweepConfigError` saying how to install it when it is not installed (checked
    before any work is planned, so a sweep with nothing to compute says it too)."""
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as exc:
        raise SweepConfigError(
            f"a GPU backend on the embedded cluster needs dask-cuda (one worker per GPU): {install_advice('dask_cuda')}; "
            "or pass the address of your own GPU cluster as scheduler, or run with client='serial'."
        ) from exc
    return LocalCUDACluster


def check_client(client: Any) -> None:
    """``client`` of :func:`neuroxr.sweep.sweep` refused in one line unless it is ``None``, ``"serial"``
    (``"synchronous"``), a Dask scheduler address (checked, :func:`scheduler_address`), a
    ``distributed.Client`` or a cluster; nothing is connected to."""
    status = getattr(client, "status", None)
    status = getattr(status, "value", status)  # distributed's Status enum, or a Client's str
    if client is not None and not isinstance(client, str) and status in ("closed", "closing", "failed"):
        raise SweepConfigError(f"client {type(client).__name__} is {status}; pass an open Client or cluster, a scheduler "
                               f"address, None (the embedded cluster) or 'serial'.")
    if client is None or hasattr(client, "scheduler_address"):  # the embedded cluster, or a cluster object
        return
    if isinstance(client, str):
        if client not in ("serial", "synchronous"):
            scheduler_address(client)
        return
    from distributed import Client

    if not isinstance(client, Client):
        raise SweepConfigError(
            f"client must be None (embedded LocalCluster), 'serial', a scheduler address, a distributed.Client or a "
            f"cluster; got {type(client).__name__}."
        )


def connect(client: Any, n_workers: int | None, gpu: bool, memory_limit: Any) -> tuple[Any, list[Any]]:
    """``(client, things to close)`` for the ``client`` argument of :func:`neuroxr.sweep.sweep`.

    ``client`` is checked (:func:`check_client`); a scheduler address is connected to within dask's
    ``distributed.comm.timeouts.connect``; a scheduler nobody answers at is a one-line
    :class:`~neuroxr.errors.SweepConfigError`. With ``gpu``, the workers of a cluster started by
    hand are asked whether several share one GPU (:func:`warn_shared_gpus`).
    """
    c, close = _connect(client, n_workers, gpu, memory_limit)
    if gpu and client is not None:  # a cluster started by hand: its workers may share a GPU (the embedded one cannot)
        warn_shared_gpus(c)
    return c, close


def _connect(client: Any, n_workers: int | None, gpu: bool, memory_limit: Any) -> tuple[Any, list[Any]]:
    """:func:`connect` without the GPU check."""
    from distributed import Client

    check_client(client)
    if isinstance(client, Client):
        return client, []
    if isinstance(client, str):
        import dask

        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            c = Client(client, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise SweepConfigError(
                f"cannot connect to the Dask scheduler at {client!r} ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                f"check that it runs and the address."
            ) from None
        return c, [c]
    if client is None:
        cluster = embedded_cluster(n_workers, gpu, memory_limit)
        c = Client(cluster)
        return c, [c, cluster]
    c = Client(client)  # a cluster object
    return c, [c]


def gpu_probe() -> tuple[str, str, int]:
    """On a worker: its host, the GPU its tasks use (the first of ``CUDA_VISIBLE_DEVICES``, else
    ``"0"``) and how many GPUs it sees (0 without torch's or CuPy's CUDA)."""
    import socket

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    first = visible.split(",")[0].strip() if visible else "0"
    count = 0
    try:
        import torch

        count = torch.cuda.device_count()
    except Exception:  # no torch, or no CUDA: CuPy may see them
        pass
    if not count:
        try:
            import cupy

            count = cupy.cuda.runtime.getDeviceCount()
        except Exception:
            count = 0
    return socket.gethostname(), first, int(count)


def warn_shared_gpus(client: Any) -> None:
    """Warn where several workers on one host would run on one GPU while they see more than one
    (:func:`gpu_probe` on every worker); workers that cannot be asked are not judged."""
    from collections import defaultdict

    from ..errors import warn

    try:
        seen = client.run(gpu_probe)
    except Exception:  # workers that cannot run it (older versions, gone): the sweep reports its own errors
        return
    groups: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for addr, (host, device, count) in seen.items():
        groups[(host, device)].append((addr, count))
    for (host, device), workers in sorted(groups.items()):
        most = max(count for _, count in workers)
        if len(workers) > 1 and most > 1:
            warn(f"sweep: {len(workers)} workers on {host} ({', '.join(sorted(a for a, _ in workers))}) all run on its GPU "
                 f"{device}, though they see {most}; start them with `dask cuda worker` (one per GPU) or give each its own "
                 f"CUDA_VISIBLE_DEVICES.")


#: Loggers of the client side whose connection-loss tracebacks the sweep replaces by one line.
CLIENT_LOGGERS = ("distributed.client", "distributed.core", "distributed.comm")


class QuietConnectionErrors(logging.Filter):
    """Drops the client's tracebacks and give-up message of a lost connection (the sweep reports it
    in one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and lost_scheduler(exc):
            return False
        return not str(record.msg).startswith("Failed to reconnect to scheduler")


def lost_reason(exc: BaseException) -> str:
    """Why the scheduler was lost, as the sweep's one line says it."""
    if isinstance(exc, TaskCancelled):
        return "its tasks were cancelled"
    return f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'connection closed'}"


class TaskCancelled(RuntimeError):
    """A task future came back cancelled: the scheduler (or the client's connection) went away."""


def lost_scheduler(exc: BaseException) -> bool:
    """Whether ``exc`` says that the scheduler, or the connection to it, went away."""
    import asyncio
    import concurrent.futures

    from distributed.comm.core import CommClosedError

    try:
        from distributed.client import FutureCancelledError
    except ImportError:  # older distributed
        FutureCancelledError = concurrent.futures.CancelledError  # noqa: N806
    lost = (TaskCancelled, CommClosedError, FutureCancelledError, concurrent.futures.CancelledError,
            asyncio.CancelledError, ConnectionError, TimeoutError, OSError)
    return isinstance(exc, lost)
