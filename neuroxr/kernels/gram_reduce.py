"""The reduction of a dask array's unit-chunk partials (:func:`neuroxr.kernels.gram.gram_dask`).

Each unit chunk gives its partial :class:`~neuroxr.kernels.gram.GramStats` (or a second pass's
sums); the partials are combined (:func:`~neuroxr.kernels.gram.combine`: sums, and Chan's update
of the unit-mean spread) in one fixed order wherever they are reduced: consecutive chunks
``split_every`` at a time, level after level, as ``dask.array.reduction`` groups the blocks
(``partition_all`` of each level; the last group of a level short, the last level one group),
each node adding its partials left to right into a copy of its first. :func:`gram_tree` is that
tree on the scheduler's workers; :func:`gram_stream` evaluates the same tree depth first in this
thread, one open node per level, so a layer's Gram is the same to the bit on every scheduler
(the two orders differed by about ``1e-16`` of the largest value, more relative to small
entries, when the stream added every chunk into one accumulator).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LayoutError
from . import gram_pairs as _pairs
from . import gram_rows as _rows

if TYPE_CHECKING:
    from .gram import GramStats

__all__ = ["gram_stream", "gram_tree"]


def _partial_block(block: Any, backend: str | None, dtype: Any, r: Any = None) -> Any:
    """The first pass's :class:`GramStats` of one chunk, or its row pass's sums (``r`` a reference
    array) or its pair pass's (``r`` the :class:`~neuroxr.kernels.gram_pairs.Pairs`)."""
    from ..backend import asarray

    if backend is not None or dtype is not None:
        block = asarray(block, backend=backend, dtype=dtype if dtype is not None else "float64")
    if isinstance(block, np.ndarray):  # C order: sums run in the order of the memory layout (as gram's callers')
        block = np.ascontiguousarray(block)
    if r is None:
        return _g.gram_partial(block)
    return _pairs.partial(block, r) if isinstance(r, (_pairs.Pairs, _pairs.Reference)) else _rows.row_partial(block, r)


def _accumulate(acc: Any, s: Any) -> Any:
    """``combine(acc, s)`` written into ``acc``'s arrays (``acc`` is owned by the caller): one
    ``n x n`` accumulator, no new one per chunk. Row-pass and pair-pass sums are added."""
    if acc is None:
        return s
    if not isinstance(s, _g.GramStats):  # a second pass's sums
        return _rows.accumulate(acc, s)
    if acc.K.shape != s.K.shape:
        _g.combine(acc, s)  # raises the one-line shape error
    K, a, v = acc.K, acc.a, acc.v
    K += s.K
    a += s.a
    v += s.v
    p = acc.n_units + s.n_units
    delta = s.mu - acc.mu
    mu = acc.mu + delta * s.n_units / p
    m2 = acc.m2 + s.m2 + delta * delta * acc.n_units * s.n_units / p
    joined = _g._joined(acc, s, in_place=True)
    return _g.GramStats(K=K, a=a, v=v, n_units=p, mu=mu, m2=m2, **joined)


# Blocks of the reduction tree: each unit chunk's partial statistics, boxed in a (1, 1) object array
# so that they travel as one dask array block (the chunk read and its partial are fused into one task).
def _box(s: Any) -> Any:
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
    stats = _flatten(parts, [])
    return _box(_node(stats[0], stats[1:], copy=True))


def _node(first: Any, rest: Iterable[Any], copy: bool) -> Any:
    """One node of the reduction tree: the partials of consecutive unit chunks, ``first`` then
    ``rest`` left to right, added into ``first + 0`` (a copy, or in place into ``first`` where the
    caller owns it: the same bits, -0.0 made 0.0 either way)."""
    if isinstance(first, _g.GramStats):
        acc = replace(first, **{k: _g._add(getattr(first, k), 0, not copy) for k in ("K", "a", "v", "q", "qc")
                                if getattr(first, k) is not None})
    else:  # a second pass's sums
        acc = type(first)(*(_g._add(x, 0, not copy) for x in first))
    for s in rest:
        acc = _accumulate(acc, s)
    return acc


def _push(levels: list[Any], level: int, s: Any, split_every: int) -> None:
    """Add ``s`` to the open node of ``level`` of :func:`gram_stream`'s tree (``levels[level]``:
    ``[accumulator, partials in it]`` or None); a node of ``split_every`` closes into the next level."""
    if level == len(levels):
        levels.append(None)
    if levels[level] is None:
        levels[level] = [_node(s, (), copy=False), 0]
    else:
        levels[level][0] = _accumulate(levels[level][0], s)
    levels[level][1] += 1
    if levels[level][1] == split_every:
        node, levels[level] = levels[level][0], None
        _push(levels, level + 1, node, split_every)


def _unbox(block: Any) -> Any:
    return block[0, 0]


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

    _check_dask(darr, split_every)
    if len(darr.chunks[0]) > 1:
        darr = darr.rechunk({0: -1})
    meta = np.empty((0, 0), dtype=object)
    # backend, dtype and r go positionally: map_blocks' own ``dtype=`` is the output's (object)
    parts = darr.map_blocks(_boxed_partial, backend, dtype, r, dtype=object, meta=meta,
                            chunks=((1,), (1,) * len(darr.chunks[1])))
    return da.reduction(parts, chunk=_boxed_identity, combine=_boxed_combine, aggregate=_boxed_combine, axis=1,
                        keepdims=True, concatenate=False, split_every=split_every, dtype=object, meta=meta,
                        name="neuroxr-gram" + ("" if r is None else "-rows" if not isinstance(r, tuple) else "-pairs"))


def gram_stream(darr: Any, backend: str | None = None, dtype: Any = None, r: Any = None, split_every: int = 4) -> Any:
    """:class:`GramStats` of a dask array, one unit chunk after another in this thread.

    Each chunk is computed alone (synchronous scheduler) and the partials are combined in the
    order of :func:`gram_tree` with the same ``split_every`` (consecutive chunks ``split_every`` at
    a time, level after level, as ``dask.array.reduction`` groups them), evaluated depth first: one
    open ``n x n`` node per level of the tree, so the statistics are the tree's to the bit and peak
    memory is one chunk, its centred copy and ``ceil(log_split_every(chunks)) + 1`` ``n x n``
    matrices (4 for 64 chunks of fan-in 4), never one per chunk. With ``r`` (the row pass's
    reference, or the pair pass's pairs) that pass's sums instead.
    """
    _check_dask(darr, split_every)
    if len(darr.chunks[0]) > 1:
        darr = darr.rechunk({0: -1})
    levels: list[Any] = []
    for block in darr.to_delayed(optimize_graph=True).ravel():
        _push(levels, 0, _partial_block(block.compute(scheduler="sync"), backend, dtype, r), split_every)
    level = 0
    while level < len(levels) - 1:  # the last node of each level closes, bottom up (a short one)
        if levels[level] is not None:
            node, levels[level] = levels[level][0], None
            _push(levels, level + 1, node, split_every)
        level += 1
    return levels[-1][0]  # a dask array has at least one chunk


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


from . import gram as _g  # noqa: E402  (last: that module re-exports this one's names)
