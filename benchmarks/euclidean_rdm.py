"""Benchmark: Euclidean RDMs, neuroxr (``neuroxr.kernels.rdm.rdm``) vs scipy (``pdist``), at many shapes.

Each row is one feature matrix (``n`` stimuli x ``p`` units, float64) in one of three layouts:

- ``plain``: standard normal features (no pair cancels: the Gram alone, as before the pair pass);
- ``far``: the same with one stimulus scaled by 1e6 (every other pair cancels in the column-centred
  Gram: the pair pass's Gram about a typical stimulus resolves them);
- ``clusters``: two tight clusters, spread 1e-8 (the pair pass takes a Gram about a stimulus of each).

Both run in the same process, interleaved, median of ``--repeats`` runs. The table gives both
times, the ratio (scipy / neuroxr), the whole run's GFLOP/s (the Gram's ``n^2 p`` multiply-adds,
twice for ``far``, three times for ``clusters``, over neuroxr's time) against a plain float64 matmul of the
Gram's size in the same run, neuroxr's peak traced memory over its input (tracemalloc, a separate
run) and the largest relative difference from ``pdist``.

    python benchmarks/euclidean_rdm.py [--shapes 500x1000,2000x4000] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np


def _features(layout: str, n: int, p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if layout == "clusters":
        return np.repeat(rng.standard_normal((2, p)), [n // 2, n - n // 2], axis=0) + 1e-8 * rng.standard_normal((n, p))
    F = rng.standard_normal((n, p))
    if layout == "far":
        F[n // 3] *= 1e6
    return F


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _plain_gflops(n: int, p: int, repeats: int) -> float:
    A = np.random.default_rng(1).standard_normal((n, p))
    t = min(_median_time(lambda: A @ A.T, 1) for _ in range(repeats))
    return 2.0 * n * n * p / t / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="200x500,1000x2000,2000x4000,4000x1000")
    ap.add_argument("--layouts", default="plain,far,clusters")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args()

    from scipy.spatial.distance import pdist

    from neuroxr.kernels.rdm import rdm, upper_tri

    rows = []
    for shape in args.shapes.split(","):
        n, p = (int(x) for x in shape.split("x"))
        plain = _plain_gflops(n, p, args.repeats)
        for layout in args.layouts.split(","):
            F = _features(layout, n, p)
            ours = np.asarray(upper_tri(rdm(F, "euclidean")))
            ref = pdist(F)
            diff = float(np.max(np.abs(ours - ref) / np.where(ref > 0, ref, 1.0)))
            t_ours = _median_time(lambda F=F: rdm(F, "euclidean"), args.repeats)
            t_ref = _median_time(lambda F=F: pdist(F), args.repeats)
            passes = {"plain": 1, "far": 2}.get(layout, 3)
            rows.append((layout, n, p, t_ours, t_ref, t_ref / t_ours, passes * 2.0 * n * n * p / t_ours / 1e9, plain,
                         _peak_mb(lambda F=F: rdm(F, "euclidean")) - F.nbytes / 2**20, diff))
    lines = ["| layout | n | p | neuroxr (s) | scipy pdist (s) | ratio | whole-run GFLOP/s | plain matmul GFLOP/s | "
             "neuroxr peak over input (MB) | max rel. diff |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.1f}x | {r[6]:.1f} | {r[7]:.1f} | {r[8]:.0f} | "
              f"{r[9]:.1e} |" for r in rows]
    cpu = platform.processor() or platform.machine()
    table = "\n".join(lines) + f"\n\n{os.cpu_count()} cores ({cpu}), numpy {np.__version__}, float64, median of {args.repeats}.\n"
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(table)


if __name__ == "__main__":
    main()
