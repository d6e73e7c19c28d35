"""BLAS thread policy of the directions: as many threads as there are idle cores, at least one.

A multi-threaded BLAS (OpenBLAS, MKL) splits every call evenly over its threads and waits for
the slowest. When another process keeps some cores busy, the thread sharing a core runs at a
fraction of its speed and every call waits for it; many small calls (``k x k`` factorisations,
fold cross-products) then run several times slower than on one thread. So each direction call
sets its BLAS threads once, at its start (threadpoolctl):

- ``"auto"`` (the default): the cores this process may use (``os.sched_getaffinity``) minus the
  threads of *other* processes that are running right now (Linux: runnable tasks of
  ``/proc/loadavg`` minus this process's own running threads, the median of a few samples), at
  least 1; never more than the limit already in force (e.g. a sweep task's ``blas_threads=1``).
- an integer: that many threads (again never raising a limit already in force);
- ``None``: leave BLAS alone.

Set it with :func:`set_blas_threads`, per block with :func:`use_blas_threads`, or with the
environment variable ``NEUROXR_BLAS_THREADS`` (``auto``, ``none`` or an integer). The count
applies to torch's intra-op threads too once torch is imported (a torch backend's fits; a block
that a torch backend's first import falls in takes torch in then, :func:`adopt_torch`). The
limits are process-wide: blocks open on several threads at once get the smallest count asked,
and the counts before them come back when the last one ends.

Work that releases the GIL (sorting for ranks; independent draws, each on one BLAS thread,
:func:`one_blas_thread`) runs on the policy's count of Python threads (:func:`cpu_threads`,
:func:`thread_map`).
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["get_blas_threads", "set_blas_threads", "use_blas_threads", "blas_threads", "idle_cores", "cpu_threads",
           "one_blas_thread", "every_blas_thread", "thread_map", "in_background"]


def _parse(value: Any) -> int | str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or (not isinstance(value, str) and n != value):
        from ..errors import BackendError, shown

        raise BackendError(f"blas_threads must be 'auto', None or an integer >= 1; got {shown(value)}.")
    return n


def _from_environment() -> int | str | None:
    """The policy ``NEUROXR_BLAS_THREADS`` sets (``auto`` when unset); a bad value names the variable."""
    value = os.environ.get("NEUROXR_BLAS_THREADS", "auto")
    try:
        return _parse(value)
    except Exception as exc:
        raise type(exc)(f"environment variable NEUROXR_BLAS_THREADS={value!r} must be 'auto', 'none' or an integer "
                        f">= 1; fix or unset it.") from None


_setting: int | str | None = _from_environment()
_controller: Any = None


def get_blas_threads() -> int | str | None:
    """The BLAS thread policy of the directions: ``"auto"``, an integer or ``None``."""
    return _setting


def set_blas_threads(value: int | str | None) -> int | str | None:
    """Set the BLAS thread policy (``"auto"``, an integer >= 1, or ``None``); returns the old one."""
    global _setting
    old, _setting = _setting, _parse(value)
    return old


@contextlib.contextmanager
def use_blas_threads(value: int | str | None) -> Iterator[None]:
    """The BLAS thread policy for a block (see :func:`set_blas_threads`)."""
    old = set_blas_threads(value)
    try:
        yield
    finally:
        set_blas_threads(old)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _own_running() -> int:
    count = 0
    for path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(path) as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].startswith("R"):
            count += 1
    return count


def idle_cores(samples: int = 5, interval: float = 0.001) -> int:
    """Cores not kept busy by other processes right now (all of them where this cannot be read).

    Linux: the cores this process may use minus the other processes' running threads (running
    tasks of ``/proc/loadavg`` minus this process's own running threads), the median of
    ``samples`` readings ``interval`` s apart (a passing task does not count, a steady one does).
    """
    cores = _cores()
    readings = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as fh:
                running = int(fh.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return cores
        readings.append(max(0, running - _own_running()))
        if i + 1 < samples:
            time.sleep(interval)
    others = sorted(readings)[len(readings) // 2]
    return max(0, cores - others)


_IDLE_TTL = 1.0  # seconds a reading of the idle cores serves calls that follow each other
_idle_reading: tuple[float, int] = (-float("inf"), 0)


def _recent_idle_cores() -> int:
    """:func:`idle_cores`, read again at most every ``_IDLE_TTL`` s (small calls in a loop do not
    each pay the readings' few milliseconds)."""
    global _idle_reading
    now = time.monotonic()
    if now - _idle_reading[0] > _IDLE_TTL:
        _idle_reading = (now, idle_cores())
    return _idle_reading[1]


def _get_controller() -> Any:
    global _controller
    if _controller is None:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS too, so the controller sees it)
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _blas_libs(ctl: Any) -> tuple[list[Any], list[Any]]:
    """(NumPy's BLAS libraries, the others), found once per controller. pip wheels of NumPy and
    SciPy each bundle their own OpenBLAS; NumPy's is the one under NumPy's install. Where none is
    found there (one shared BLAS, e.g. conda's), every library counts as NumPy's."""
    global _libs
    if _libs is None or _libs[0] is not ctl:
        import numpy

        libs = list(ctl.select(user_api="blas").lib_controllers)
        home = os.path.dirname(os.path.abspath(numpy.__file__))
        mine = [lib for lib in libs if os.path.abspath(lib.filepath).startswith((home + os.sep, home + ".libs" + os.sep))]
        _libs = (ctl, *((mine, [lib for lib in libs if lib not in mine]) if mine else (libs, [])))
    return _libs[1], _libs[2]


_libs: tuple[Any, list[Any], list[Any]] | None = None


def _current_limit(ctl: Any) -> int | None:
    counts = [lib.num_threads for lib in _with_torch(_blas_libs(ctl)[0])]
    return min(counts) if counts else None


class _TorchThreads:
    """torch's intra-op thread pool as a thread-limited library (threadpoolctl leaves it alone: a
    torch direction under ``blas_threads=1`` ran on every core)."""

    @property
    def num_threads(self) -> int:
        import torch

        return int(torch.get_num_threads())

    def set_num_threads(self, n: int) -> None:
        import torch

        torch.set_num_threads(int(n))


_TORCH = _TorchThreads()


def _with_torch(libs: list[Any]) -> list[Any]:
    """``libs`` and, once torch is imported (never imported here), its thread pool."""
    import sys

    return [*libs, _TORCH] if "torch" in sys.modules else list(libs)


# The limits are process-wide, the blocks setting them per thread: each thread's innermost block
# sets a library's count, the smallest over threads wins, and the counts before the first block
# come back when the last one ends (blocks of two threads ending out of order restored each
# other's limit, which then capped every later call of the process).
_blocks_lock = threading.Lock()
_blocks: dict[int, list[dict[Any, int]]] = {}  # thread -> its open blocks' counts, innermost last
_before: dict[Any, int] = {}  # each library's count before the first open block


def _apply_blocks() -> None:
    """Set every library to what the open blocks ask (under :data:`_blocks_lock`)."""
    for lib, base in _before.items():
        wanted = [next((b[lib] for b in reversed(stack) if lib in b), None) for stack in _blocks.values()]
        n = min((w for w in wanted if w is not None), default=base)
        if lib.num_threads != n:
            lib.set_num_threads(n)


@contextlib.contextmanager
def _set_threads(counts: list[tuple[Any, int]]) -> Iterator[None]:
    """Set each ``(library, threads)`` for a block; restore them after (across threads, see above)."""
    me, block = threading.get_ident(), dict(counts)
    with _blocks_lock:
        for lib in block:
            _before.setdefault(lib, lib.num_threads)
        _blocks.setdefault(me, []).append(block)
        _apply_blocks()
    try:
        yield
    finally:
        with _blocks_lock:
            stack = _blocks[me]
            stack.remove(block)
            if not stack:
                del _blocks[me]
            _apply_blocks()
            if not _blocks:
                _before.clear()


def adopt_torch() -> None:
    """torch, just imported by a torch backend inside open blocks (a process's first torch call, in a
    direction's limit), takes their counts now: they looked for torch at their start and did not find
    it. Each block's count is the one it gave NumPy's BLAS; torch's own comes back when the last ends."""
    with _blocks_lock:
        if not _blocks or _TORCH in _before:
            return
        mine = _blas_libs(_get_controller())[0] if _controller is not None else []
        _before[_TORCH] = _TORCH.num_threads
        for stack in _blocks.values():
            for block in stack:
                n = next((block[lib] for lib in mine if lib in block), min(block.values(), default=None))
                if n is not None:
                    block[_TORCH] = n
        _apply_blocks()


@contextlib.contextmanager
def blas_threads(value: int | str | None | object = ...) -> Iterator[int | None]:
    """Limit BLAS threads for a block by the policy (default: the current one); yields the count.

    ``"auto"`` resolves to :func:`idle_cores` (at least 1) once, at entry. A limit already in
    force is never raised. The count is also the block's :func:`cpu_threads`.
    """
    setting = _setting if value is ... else _parse(value)
    ctl = _get_controller() if setting is not None else None
    current = _current_limit(ctl) if ctl is not None else None
    if current is None:  # no policy, or no BLAS found: nothing to limit
        yield None
        return
    n = max(1, _recent_idle_cores()) if setting == "auto" else int(setting)
    n = min(n, current)
    token = _in_force.set(n)
    mine, others = _blas_libs(ctl)
    try:
        # NumPy's BLAS gets the threads; another bundled BLAS (SciPy's) runs on one: the idle
        # threads of one library spin for a while after each call and would slow the other's
        with _set_threads([(lib, n) for lib in _with_torch(mine)] + [(lib, 1) for lib in others]):
            yield n
    finally:
        _in_force.reset(token)


def _every_library(n: int) -> contextlib.AbstractContextManager[None]:
    """Every BLAS library (SciPy's too) on ``n`` threads for a block."""
    return _set_threads([(lib, n) for lib in _with_torch(_get_controller().select(user_api="blas").lib_controllers)])


def one_blas_thread() -> contextlib.AbstractContextManager[None]:
    """BLAS on one thread for a block whose own threads (:func:`thread_map`) use the cores, or whose
    calls must not be threaded; :func:`cpu_threads` is unchanged."""
    return _every_library(1)


def every_blas_thread() -> contextlib.AbstractContextManager[None]:
    """Every BLAS library (SciPy's too) on :func:`cpu_threads` threads for a block of large calls
    (e.g. a big kernel's ``syrk`` passes), whose length outweighs the other library's spinning
    threads afterwards."""
    return _every_library(cpu_threads())


def cpu_threads() -> int:
    """Threads for work that releases the GIL (at least 1): inside :func:`blas_threads` (a
    direction call) its count, else the BLAS limit in force, else the usable cores; 1 on a
    :func:`thread_map` thread (no nesting)."""
    if getattr(_local, "worker", False):
        return 1
    n = _in_force.get()
    if n is None:
        n = _current_limit(_get_controller())
    return max(1, n if n is not None else _cores())


_in_force: contextvars.ContextVar[int | None] = contextvars.ContextVar("neuroxr_cpu_threads", default=None)
_local = threading.local()
_pool: tuple[int, int, Any] | None = None  # (pid, size, executor): a forked child makes its own
_pool_lock = threading.Lock()


def thread_map(fn: Callable[[Any], Any], items: Sequence[Any], threads: int | None = None) -> list[Any]:
    """``[fn(item) for item in items]`` on up to ``threads`` threads (default :func:`cpu_threads`),
    each thread taking a contiguous run of the items; in order, exceptions raised. Called on one
    of these threads, it runs in that thread."""
    threads = min(len(items), cpu_threads() if threads is None else int(threads))
    if threads <= 1 or getattr(_local, "worker", False):
        return [fn(item) for item in items]
    bounds = [len(items) * i // threads for i in range(threads + 1)]
    pool = _executor(threads)
    futures = [pool.submit(_as_worker, lambda lo=lo, hi=hi: [fn(item) for item in items[lo:hi]])
               for lo, hi in zip(bounds[:-1], bounds[1:])]
    return [value for future in futures for value in future.result()]


def in_background(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``fn()`` on a pool thread beside the caller's work when :func:`cpu_threads` allows a
    second thread, else run it now. Returns a function giving its result (waiting for it; its
    exception is raised there). Only for work that releases the GIL (sorts, large products)."""
    if cpu_threads() <= 1:
        value = fn()
        return lambda: value
    return _executor(2).submit(_as_worker, fn).result


def _as_worker(fn: Callable[[], Any]) -> Any:
    """``fn()`` as a pool thread: :func:`cpu_threads` is 1 there, so threads never nest."""
    _local.worker = True
    try:
        return fn()
    finally:
        _local.worker = False


def _executor(threads: int) -> Any:
    """The process-wide thread pool, with at least ``threads`` threads (a forked child makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < threads:
            from concurrent.futures import ThreadPoolExecutor

            # a larger pool replaces it; the old one is not shut down: another thread may be submitting
            # its runs to it now (its idle threads end when it is collected)
            size = max(threads, _cores())
            _pool = (os.getpid(), size, ThreadPoolExecutor(size, thread_name_prefix="neuroxr"))
        return _pool[2]
