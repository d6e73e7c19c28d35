"""cRSA of one neural set against several layers, as a sweep scores them: the split-half ceiling of
the neural RDM is the same for every layer and is computed once per process
(``neuroxr.geometry.rdm_ceiling._CEILINGS``). Prints each layer's time with the ceilings kept and,
in the same run, with them cleared before each layer (every layer computing its ceiling).

Usage::

    python benchmarks/crsa_layers.py                    # 640, 1280 and 2560 stimuli, 3 layers each
    python benchmarks/crsa_layers.py --scales 0.1 --layers 1   # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings

import numpy as np


def _gemm_gflops(n: int, p: int) -> float:
    """A plain float64 matmul's rate at the RDMs' size: (n x p) @ (p x n), best of 3."""
    a = np.random.default_rng(1).normal(size=(n, p))
    best = min(_timed(lambda: a @ a.T)[0] for _ in range(3))
    return 2.0 * n * n * p / best / 1e9


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="0.25,0.5,1", help="stimuli as fractions of 2560, comma-separated")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10, help="split halves of the ceiling (crsa's default 10)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # random data: flat-RDM and ceiling notes

    import neuroxr as nx
    from neuroxr import geometry as geo
    from neuroxr.geometry import rdm_ceiling

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}; 512 units, 168 neuroids x 40 "
          f"repeats, reps={args.reps}; GFLOP/s = the RDMs' products (model, neural mean, 2 x reps halves) / time")
    print("| stimuli | layer | ceiling computed anew (s) | ceiling kept (s) | ratio | GFLOP/s anew / kept / plain matmul "
          "| same score and ceiling |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for scale in (float(x) for x in args.scales.split(",")):
        n = max(16, int(2560 * scale))
        ids = [f"s{i:05d}" for i in range(n)]
        R = nx.neural(rng.normal(size=(n, 168, 40)), stimulus_id=ids)
        gemm = _gemm_gflops(n, 512)
        for i in range(args.layers):
            F = nx.features(rng.normal(size=(n, 512)), stimulus_id=ids)
            rdm_ceiling._CEILINGS.clear()
            t_fresh, fresh = _timed(lambda F=F, R=R: geo.crsa(F, R, reps=args.reps))
            t_kept, kept = _timed(lambda F=F, R=R: geo.crsa(F, R, reps=args.reps))  # the ceiling of the call above is kept
            flops = 2.0 * n * n * (512 + 168 * (1 + 2 * args.reps))
            print(f"| {n} | {i} | {t_fresh:.2f} | {t_kept:.2f} | {t_fresh / t_kept:.1f}x | {flops / t_fresh / 1e9:.1f} / "
                  f"{2.0 * n * n * (512 + 168) / t_kept / 1e9:.1f} / {gemm:.1f} | {bool(kept.identical(fresh))} |", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
