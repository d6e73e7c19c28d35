"""The reduction of a dask array's unit chunks into :class:`~neuroxr.kernels.gram.GramStats`.

:func:`gram_dask` reduces a lazy layer (and its row and pair passes) chunk by chunk: streamed into
one accumulator with a synchronous scheduler (:func:`gram_stream`), else a tree reduction whose
tasks spread over the scheduler's workers (:func:`gram_tree`); either way a few ``n x n`` partials
are alive at once, whatever the number of units. :func:`gram_scheduler` names the scheduler for the
calls of one thread. Everything here is importable from :mod:`neuroxr.kernels.gram`.

This module imports :mod:`neuroxr.kernels.gram` (which re-exports it) inside its functions only, so
either may be imported first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import get_namespace
from ..errors import LayoutError
from ..validation import nonfinite_features_error
from . import gram_pairs as _pairs
from . import gram_rows as _rows

if TYPE_CHECKING:
    from .gram import GramStats

__all__ = ["gram_dask", "gram_stream", "gram_tree", "gram_scheduler"]


def _partial_block(block: Any, backend: str | None, dtype: Any, r: Any = None) -> Any:
    """The first pass's :class:`GramStats` of one chunk, or its row pass's sums (``r`` a reference
    array) or its pair pass's (``r`` the :class:`~neuroxr.kernels.gram_pairs.Pairs`)."""
    from ..backend import asarray
    from .gram import gram_partial

    if backend is not None or dtype is not None:
        block = asarray(block, backend=backend, dtype=dtype if dtype is not None else "float64")
    if isinstance(block, np.ndarray):  # C order: sums run in the order of the memory layout (as gram's callers')
        block = np.ascontiguousarray(block)
    if r is None:
        return gram_partial(block)
    return _pairs.partial(block, r) if isinstance(r, (_pairs.Pairs, _pairs.Reference)) else _rows.row_partial(block, r)


def _check_backend(backend: str | None, dtype: Any, caller: str, here: bool) -> None:
    """``backend`` and ``dtype`` refused before any chunk is read, in a message starting with ``caller``:
    a name that is not a backend, and one that cannot run here where the chunks are computed in this
    process (``here``; a cluster's workers may have the GPU its client lacks)."""
    from ..backend import check_backend_name, resolve_backend, resolve_dtype

    (resolve_backend if here else check_backend_name)(backend, caller)
    if dtype is not None:
        resolve_dtype(dtype, caller)


def _accumulate(acc: Any, s: Any) -> Any:
    """``combine(acc, s)`` written into ``acc``'s arrays (``acc`` is owned by the caller): one
    ``n x n`` accumulator, no new one per chunk. Row-pass and pair-pass sums are added."""
    from .gram import GramStats, _joined, combine

    if acc is None:
        return s
    if not isinstance(s, GramStats):  # a second pass's sums
        return _rows.accumulate(acc, s)
    if acc.K.shape != s.K.shape:
        combine(acc, s)  # raises the one-line shape error
    K, a, v = acc.K, acc.a, acc.v
    K += s.K
    a += s.a
    v += s.v
    p = acc.n_units + s.n_units
    delta = s.mu - acc.mu
    mu = acc.mu + delta * s.n_units / p
    m2 = acc.m2 + s.m2 + delta * delta * acc.n_units * s.n_units / p
    joined = _joined(acc, s, in_place=True)
    return GramStats(K=K, a=a, v=v, n_units=p, mu=mu, m2=m2, **joined)


# Blocks of the reduction tree: each unit chunk's partial statistics, boxed in a (1, 1) object array
# so that they travel as one dask array block (the chunk read and its partial are fused into one task).
def _box(s: Any) -> Any:
    import numpy as np

    out = np.empty((1, 1), dtype=object)
    out[0, 0] = s
    return out


def _boxed_partial(block: Any, backend: str | None = None, dtype: Any = None, r: Any = None) -> Any:
    return _box(_partial_block(block, backend, dtype, r))


def _boxed_identity(block: Any, axis: Any = None, keepdims: bool = True) -> Any:
    return block


def _flatten(parts: Any, out: list[GramStats]) -> list[GramStats]:
    if isinstance(parts, (list, tuple)):
        for q in parts:
            _flatten(q, out)
    else:
        out.extend(parts.ravel().tolist())
    return out


def _boxed_combine(parts: Any, axis: Any = None, keepdims: bool = True) -> Any:
    from .gram import GramStats

    stats = _flatten(parts, [])
    first = stats[0]
    if isinstance(first, GramStats):  # owned copies to accumulate into
        acc = replace(first, K=first.K + 0, a=first.a + 0, v=first.v + 0,
                      **({} if first.q is None else {"q": first.q + 0, "qc": first.qc + 0}))
    else:  # a second pass's sums
        acc = type(first)(*(x + 0 for x in first))
    for s in stats[1:]:
        acc = _accumulate(acc, s)
    return _box(acc)


def _unbox(block: Any) -> Any:
    return block[0, 0]


_SYNC_SCHEDULERS = ("sync", "synchronous", "single-threaded")
#: the scheduler :func:`gram_dask` uses in this thread when its caller passes none (e.g. a sweep
#: task's worker client); a context variable, so concurrent tasks in one process never see each
#: other's (dask's own config is process-wide)
_GRAM_SCHEDULER: ContextVar[Any] = ContextVar("neuroxr_gram_scheduler", default=None)


@contextmanager
def gram_scheduler(scheduler: Any) -> Iterator[None]:
    """Within the block, :func:`gram_dask` in this thread computes on ``scheduler`` (e.g. a
    ``distributed.Client``) unless its call names one."""
    token = _GRAM_SCHEDULER.set(scheduler)
    try:
        yield
    finally:
        _GRAM_SCHEDULER.reset(token)


def _is_synchronous(compute_kwargs: dict[str, Any]) -> bool:
    """Whether ``dask.compute(**compute_kwargs)`` would run in this thread, one task at a time."""
    import dask

    sched = compute_kwargs.get("scheduler", dask.config.get("scheduler", None))
    return isinstance(sched, str) and sched in _SYNC_SCHEDULERS


def gram_tree(darr: Any, split_every: int = 4, backend: str | None = None, dtype: Any = None, r: Any = None) -> Any:
    """The lazy tree reduction of :func:`gram_dask`: a (1, 1) object dask array holding the
    :class:`GramStats`.

    One task per unit chunk reads the chunk and computes its partial statistics (the read and the
    partial are fused, so a chunk never outlives its task); ``dask.array.reduction`` combines the
    ``n x n`` partials ``split_every`` at a time (:func:`combine`: sums, and Chan's update of the
    unit-mean spread). On a distributed cluster the chunk tasks and the tree nodes run on every
    worker; a worker holds its running chunk tasks and at most a few partials. With ``r`` (the
    row pass's reference, NumPy (n,), or the pair pass's :class:`~neuroxr.kernels.gram_pairs.Pairs`)
    the tree of that pass's sums instead.
    """
    import dask.array as da
    import numpy as np

    _check_dask(darr, split_every)
    _check_backend(backend, dtype, "gram_tree", here=False)
    if len(darr.chunks[0]) > 1:
        darr = darr.rechunk({0: -1})
    meta = np.empty((0, 0), dtype=object)
    # backend, dtype and r go positionally: map_blocks' own ``dtype=`` is the output's (object)
    parts = darr.map_blocks(_boxed_partial, backend, dtype, r, dtype=object, meta=meta,
                            chunks=((1,), (1,) * len(darr.chunks[1])))
    return da.reduction(parts, chunk=_boxed_identity, combine=_boxed_combine, aggregate=_boxed_combine, axis=1,
                        keepdims=True, concatenate=False, split_every=split_every, dtype=object, meta=meta,
                        name="neuroxr-gram" + ("" if r is None else "-rows" if not isinstance(r, tuple) else "-pairs"))


def gram_stream(darr: Any, backend: str | None = None, dtype: Any = None, r: Any = None) -> Any:
    """:class:`GramStats` of a dask array, one unit chunk after another in this thread.

    Each chunk is computed alone (synchronous scheduler) and added into one ``n x n`` accumulator,
    so peak memory is one chunk, its centred copy and two ``n x n`` matrices, however many chunks
    the layer has (a tree would keep up to ``split_every - 1`` partials per level alive). With
    ``r`` (the row pass's reference, or the pair pass's pairs) that pass's sums instead.
    """
    _check_dask(darr, 2)
    _check_backend(backend, dtype, "gram_stream", here=True)
    if len(darr.chunks[0]) > 1:
        darr = darr.rechunk({0: -1})
    acc = None
    for block in darr.to_delayed(optimize_graph=True).ravel():
        acc = _accumulate(acc, _partial_block(block.compute(scheduler="sync"), backend, dtype, r))
    assert acc is not None  # a dask array has at least one chunk
    return acc


def _check_dask(darr: Any, split_every: int) -> None:
    import dask.array as da

    if not isinstance(darr, da.Array):
        raise LayoutError(f"gram_dask: expected a dask.array.Array; got {type(darr).__name__}. Use gram() for in-memory arrays.")
    if darr.ndim != 2:
        raise LayoutError(f"gram_dask: features must be 2-D (stimulus, unit); got shape {darr.shape}.")
    if split_every < 2:
        raise LayoutError(f"gram_dask: split_every must be at least 2; got {split_every}.")
    if 0 in darr.shape:
        raise LayoutError(f"gram_dask: features have no units or no stimuli (shape {darr.shape}).")


def gram_dask(
    darr: Any,
    split_every: int = 4,
    backend: str | None = None,
    dtype: Any = None,
    compute: bool = True,
    row_pass: bool = True,
    unit_ids: Any = None,
    name: str = "features",
    **compute_kwargs: Any,
) -> Any:
    """:class:`GramStats` of a dask array, reduced over its unit chunks.

    With a synchronous scheduler (``scheduler="sync"`` or the dask config's, as inside a sweep
    task) the chunks are streamed one at a time into one accumulator (:func:`gram_stream`:
    memory one chunk + two ``n x n``). Otherwise (threads, processes, a ``distributed.Client``)
    the statistics are a tree reduction over the unit chunks (:func:`gram_tree`): one fused
    read-and-partial task per chunk, partials combined ``split_every`` at a time, so the work
    spreads over the scheduler's workers and each holds a few chunks and ``n x n`` partials.
    Where correlation or cosine RDMs would lose precision (:mod:`neuroxr.kernels.gram_rows`), the
    chunks are read a second time, the same way, for the row pass (one more ``n x n`` alive); where
    Euclidean ones would (:mod:`neuroxr.kernels.gram_pairs`), once more for the pair pass.

    Parameters
    ----------
    darr : dask.array.Array, shape (n_stimuli, n_units)
        Features; chunks along the stimulus axis are merged first (each task needs whole columns).
    split_every : int, default 4
        Fan-in of the reduction tree (>= 2).
    backend : str, optional
        Move each chunk to this backend (``"numpy"``, ``"torch"``, ``"torch_cuda"``, ``"cupy"``)
        inside its task; default: keep the chunk's own type.
    dtype : str, optional
        ``"float32"`` or ``"float64"`` for the moved chunks (default float64 when ``backend`` is set).
    compute : bool
        If False, return the ``dask.delayed.Delayed`` of the result (the tree) to compose into a
        larger graph: the first pass only (the row pass depends on its values).
    row_pass : bool, default True
        Add the row and pair passes where they are needed; False for callers that use ``K`` only.
    unit_ids : array-like, optional
        The units' ids, to name those holding NaN or inf (default their positions).
    name : str, default "features"
        How the features are named in that refusal.
    **compute_kwargs
        Passed to ``dask.compute`` (e.g. ``scheduler="threads"``).

    Returns
    -------
    GramStats or dask.delayed.Delayed

    Raises
    ------
    LayoutError
        Features holding NaN or inf (lazy features are not checked value by value when they are
        validated): the message of the in-memory check
        (:func:`~neuroxr.validation.nonfinite_features_error`), counted within the chunk tasks.
    """
    import dask

    _check_dask(darr, split_every)
    if "scheduler" not in compute_kwargs and _GRAM_SCHEDULER.get() is not None:
        compute_kwargs["scheduler"] = _GRAM_SCHEDULER.get()
    sync = compute and _is_synchronous(compute_kwargs)
    _check_backend(backend, dtype, "gram_dask", here=sync)

    def reduce(r: Any = None) -> Any:  # one pass: streamed here, or a tree on the scheduler
        if sync:
            return gram_stream(darr, backend, dtype, r)
        tree = gram_tree(darr, split_every, backend, dtype, r)
        out = dask.delayed(_unbox, pure=True)(tree.to_delayed(optimize_graph=True)[0, 0])
        return out if not compute else dask.compute(out, **compute_kwargs)[0]

    res = reduce()
    if not compute:
        return res
    res = _finite(res, unit_ids, name)
    if row_pass and _rows.needs_row_pass(res):
        from ..backend import to_numpy

        r = _rows.row_means(res)
        rows = reduce(to_numpy(r))  # the reference travels to the chunk tasks as NumPy
        res = replace(res, Kr=rows.Kr, ar=rows.ar, r=r)
    if row_pass and res.D2 is None:  # as gram's: the pairs found once
        res = _pairs.pair_pass(res, reduce)
    return res


def _finite(stats: GramStats, unit_ids: Any = None, name: str = "features") -> GramStats:
    """``stats``, or a one-line error when lazy features held NaN or inf (never a NaN Gram passed on)."""
    if stats.nonfinite is not None:
        n, pos = stats.nonfinite
        raise nonfinite_features_error(n, pos if unit_ids is None else [unit_ids[i] for i in pos], name)
    xp = get_namespace(stats.K)
    if not bool(xp.all(xp.isfinite(stats.K))):
        raise LayoutError(f"{name}: the Gram of the features is not finite: values too large for its products; "
                          "rescale the features.")
    return stats
