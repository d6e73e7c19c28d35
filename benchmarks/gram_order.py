"""Benchmark: a lazy layer's Gram reduced in one summation order on every scheduler, or not.

``current``: what ``gram_dask`` runs, the stream under the synchronous scheduler and a tree
(``dask.array.reduction``, fan-in 4) on threads or a cluster, whose sums run in another order, so a
Gram's last bits depend on the scheduler. ``in order``: the stream, else one task per chunk in
parallel and a chain of tasks folding the partials in the stream's order (4 per fold task).
``chain``: a two-level chain (consecutive groups of ``g = ceil(sqrt(chunks))`` chunks each streamed
by one task, the groups' sums folded in order by a chain of tasks; the same two levels in this
thread under the synchronous scheduler).

Each row is one layer (``n`` stimuli x ``p`` units, float64 standard normal, generated chunk by chunk
by ``dask.array.random``, so nothing but the working set is in memory) reduced by each path on each
scheduler: wall time (fastest of ``--repeats``, paths interleaved) and peak traced memory
(tracemalloc, in units of one ``n x n`` float64; in-process schedulers only: threads, a 2-worker
``LocalCluster(processes=False)``), one BLAS thread per task. The last column says whether the
chain's and the in-order fold's ``K`` are bit-equal across the synchronous scheduler, threads and
the cluster (and the current paths' ``K`` largest difference between schedulers, relative to max |K|).

    python benchmarks/gram_order.py [--shapes 500x4096:512,2000x50000:4096] [--repeats 3]
        [--schedulers sync,threads,cluster] [--paths "current,chain,in order"] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
import tracemalloc
from typing import Any

import numpy as np


class _Opaque:
    """Holds a dask array as a plain argument (not a dependency computed before the task)."""

    def __init__(self, darr: Any) -> None:
        self.darr = darr


def _group(sub: _Opaque, backend: Any = None, dtype: Any = None, r: Any = None) -> Any:
    from neuroxr.kernels.gram_reduce import gram_stream

    return gram_stream(sub.darr, backend, dtype, r)


def _fold(total: Any, part: Any) -> Any:
    from neuroxr.kernels.gram_reduce import _accumulate

    return _accumulate(total, part)  # in place: the running total has no other consumer


def _groups(darr: Any) -> list[Any]:
    sizes = darr.chunks[1]
    g = math.ceil(math.sqrt(len(sizes)))
    edges = np.concatenate([[0], np.cumsum(sizes)])[:: g].tolist() + [darr.shape[1]]
    return [darr[:, a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]


def gram_chain(darr: Any, scheduler: Any) -> Any:
    """The first pass's :class:`GramStats`, summed in the chain's one order on ``scheduler``."""
    import dask

    subs = _groups(darr)
    if scheduler == "sync":
        total = None
        for sub in subs:
            total = _fold(total, _group(_Opaque(sub)))
        return total
    total = dask.delayed(_group, pure=False)(_Opaque(subs[0]))
    for sub in subs[1:]:
        total = dask.delayed(_fold, pure=False)(total, dask.delayed(_group, pure=False)(_Opaque(sub)))
    return dask.compute(total, scheduler=scheduler)[0]


def tree(darr: Any, scheduler: Any) -> Any:
    """What ``gram_dask`` ran before: the stream under the synchronous scheduler, else the tree."""
    import dask

    from neuroxr.kernels.gram_reduce import _unbox, gram_stream, gram_tree

    if scheduler == "sync":
        return gram_stream(darr)
    return _unbox(dask.compute(gram_tree(darr, 4), scheduler=scheduler)[0])


def _fold_in(total: Any, *boxes: Any) -> Any:
    from neuroxr.kernels.gram_reduce import _accumulate, _unbox

    for box in boxes:
        total = _accumulate(total, _unbox(box))  # in place: each partial and total has one consumer
    return total


def in_order(darr: Any, scheduler: Any, k: int = 4) -> Any:
    """The stream under the synchronous scheduler, else one fused read-and-partial task per chunk
    (in parallel, as the tree's) and a chain of tasks folding the partials in the chunks' order,
    ``k`` per task: the stream's order, so its bits, for any ``k``."""
    import dask

    from neuroxr.kernels.gram_reduce import _boxed_partial, gram_stream

    if scheduler == "sync":
        return gram_stream(darr)
    parts = darr.map_blocks(_boxed_partial, dtype=object, meta=np.empty((0, 0), dtype=object),
                            chunks=((1,), (1,) * len(darr.chunks[1])))
    blocks = parts.to_delayed(optimize_graph=True).ravel().tolist()
    total = None
    for i in range(0, len(blocks), k):
        total = dask.delayed(_fold_in, pure=False)(total, *blocks[i : i + k])
    return dask.compute(total, scheduler=scheduler)[0]


def _layer(n: int, p: int, chunk: int) -> Any:
    import dask.array as da

    return da.random.RandomState(0).standard_normal((n, p), chunks=(n, chunk))


def _run(fn: Any, darr: Any, scheduler: Any) -> tuple[float, int, Any]:
    tracemalloc.start()
    t0 = time.perf_counter()
    s = fn(darr, scheduler)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return dt, peak, s.K


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="500x4096:512,500x50000:4096,2000x4096:512,2000x50000:4096,5000x4096:512,5000x50000:4096")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--schedulers", default="sync,threads,cluster", help="of sync, threads, cluster")
    ap.add_argument("--paths", default="current,chain,in order", help="of current, chain, in order")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import distributed
    from threadpoolctl import threadpool_limits

    rows = [f"machine: {platform.node()}, {os.cpu_count()} cores, load average at start "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            "| n x p (chunk, chunks, g) | scheduler | current: time, peak | chain: time, peak | in order: time, peak | "
            "chain, in order / current time | bit-equal across schedulers: chain, in order (current: max rel. diff) |",
            "|---|---|---|---|---|---|---|"]
    with threadpool_limits(1), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                                          dashboard_address=":0", memory_limit=0) as cluster, \
            distributed.Client(cluster) as client:
        for shape in args.shapes.split(","):
            nxp, chunk = shape.split(":")
            n, p = (int(x) for x in nxp.split("x"))
            darr = _layer(n, p, int(chunk))
            nn = n * n * 8
            n_chunks = len(darr.chunks[1])
            g = math.ceil(math.sqrt(n_chunks))
            Ks: dict[tuple[str, str], Any] = {}
            cells = []
            named = {"sync": ("sync", "synchronous"), "threads": ("threads", "threads"), "cluster": (client, "LocalCluster 2x1")}
            for sched, label in (named[k] for k in args.schedulers.split(",")):
                times: dict[str, list[float]] = {"current": [], "chain": [], "in order": []}
                peaks: dict[str, int] = {}
                for _ in range(args.repeats):
                    paths = {"current": tree, "chain": gram_chain, "in order": in_order}
                    for name in args.paths.split(","):
                        fn = paths[name]
                        dt, peak, K = _run(fn, darr, sched)
                        times[name].append(dt)
                        peaks[name] = max(peaks.get(name, 0), peak)
                        Ks[(name, label)] = K
                tc, tq, to = (min(times[k] or [math.nan]) for k in ("current", "chain", "in order"))
                cells.append((label, tc, peaks.get("current", 0) / nn, tq, peaks.get("chain", 0) / nn, to,
                              peaks.get("in order", 0) / nn))
            labels = [c[0] for c in cells]
            eq = {k: "-" if (k, labels[0]) not in Ks else "yes" if all(
                np.array_equal(Ks[(k, labels[0])], Ks[(k, lb)]) for lb in labels[1:]) else "NO" for k in ("chain", "in order")}
            Kc = [Ks[("current", lb)] for lb in labels if ("current", lb) in Ks]
            diff = max([float(np.abs(a - b).max() / np.abs(b).max()) for a in Kc for b in Kc] + [0.0])
            for i, (label, tc, pc, tq, pq, to, po) in enumerate(cells):
                head = f"{n} x {p} ({chunk}, {n_chunks}, {g})" if i == 0 else ""
                tail = f"{eq['chain']}, {eq['in order']} ({diff:.1e})" if i == 0 else ""
                rows.append(f"| {head} | {label} | {tc:.2f} s, {pc:.1f} | {tq:.2f} s, {pq:.1f} | {to:.2f} s, {po:.1f} | "
                            f"{tq / tc:.2f}, {to / tc:.2f} | {tail} |")
            print("\n".join(rows[-3:]), flush=True)
    text = "\n".join(rows)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
