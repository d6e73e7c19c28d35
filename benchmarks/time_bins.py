"""Benchmark: forward predictivity over many time bins vs one bin (issue 20).

Problem (reference size): features 2560 stimuli x 2048 units (power-law spectrum), neural
2560 x 168 neuroids x 40 repeats x ``--bins`` (100) time bins, ridge alpha 0.1, 10 folds,
``--reps`` (20) split-half reps, float64. Forward scores every bin in one call (``neuroid x
time_bin`` are the targets of the one out-of-fold operator); the one-bin run is the same call on
the first bin. Both are timed with and without the split-half noise ceiling (the ceiling needs
the operator applied to one split half per rep and target, so its cost grows with the targets;
without it the predictions are computed once for all reps).

At the reference size the 100-bin neural array alone is 13.7 GB (float64); ``--scale`` shrinks
stimuli, units and neuroids (not repeats, bins or reps).

Usage::

    python benchmarks/time_bins.py               # reference size (needs ~50 GB of memory)
    python benchmarks/time_bins.py --scale 0.2   # a quick run
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np


def make_problem(scale: float, bins: int, seed: int = 0) -> tuple:
    import neuroxr as nx

    rng = np.random.default_rng(seed)
    n, p, k, T, latent = int(2560 * scale), int(2048 * scale), max(2, int(168 * scale)), 40, 64
    Z = rng.normal(size=(n, latent)) * (np.arange(1, latent + 1) ** -0.5)
    F = Z @ rng.normal(size=(latent, p)) + 0.05 * rng.normal(size=(n, p))
    gain = np.sin(np.linspace(0, np.pi, bins))  # signal rising and falling over time
    signal = Z @ rng.normal(size=(latent, k))
    signal /= signal.std(axis=0)
    R = np.empty((n, k, T, bins))
    for t in range(bins):  # filled bin by bin (no full-size temporary)
        R[:, :, :, t] = gain[t] * signal[:, :, None] + 2.0 * rng.normal(size=(n, k, T))
    edges = [(10.0 * t, 10.0 * (t + 1)) for t in range(bins)]
    return nx.features(F), nx.neural(R, time_bins=edges)


def run(scale: float, bins: int, reps: int, repeats: int) -> None:
    import neuroxr as nx
    from neuroxr.predictivity.time import bin_slice

    F, R = make_problem(scale, bins)
    one = bin_slice(R, 0)
    print(f"machine: {platform.processor() or platform.machine()}; {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()[0]:.1f}; numpy {np.__version__}")
    print(f"problem: {F.sizes['stimulus']} stimuli x {F.sizes['unit']} units; neural {R.sizes['neuroid']} neuroids x "
          f"{R.sizes['repeat']} repeats x {bins} bins; reps={reps}; scale={scale}")
    print(f"| noise ceiling | 1 bin (s, min / median) | {bins} bins (s, min / median) | ratio of mins | ratio of medians |")
    print("|---|---|---|---|---|")
    for ceiling in (True, False):
        times: dict[str, list[float]] = {"one": [], "all": []}
        for _ in range(repeats):  # interleaved, so a change of load hits both
            for label, data in (("one", one), ("all", R)):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    nx.forward(F, data, reps=reps, noise_ceiling=ceiling)
                times[label].append(time.perf_counter() - t0)
        lo = {k: min(v) for k, v in times.items()}
        med = {k: float(np.median(v)) for k, v in times.items()}
        print(f"| {ceiling} | {lo['one']:.2f} / {med['one']:.2f} | {lo['all']:.2f} / {med['all']:.2f} | "
              f"{lo['all'] / lo['one']:.1f} | {med['all'] / med['one']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="shrink stimuli, units and neuroids (default 1.0)")
    ap.add_argument("--bins", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (min and median reported)")
    a = ap.parse_args()
    run(a.scale, a.bins, a.reps, a.repeats)


if __name__ == "__main__":
    main()
