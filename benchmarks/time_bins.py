"""Benchmark: forward predictivity over many time bins vs one bin (issue 20).

Problem (reference size): features 2560 stimuli x 2048 units (power-law spectrum), neural
2560 x 168 neuroids x 40 repeats x ``--bins`` (100) time bins, ridge alpha 0.1, 10 folds,
``--reps`` (20) split-half reps, float64. Forward scores every bin in one call (``neuroid x
time_bin`` are the targets of the one out-of-fold operator); the one-bin run is the same call on
the first bin. Both are timed with and without the split-half noise ceiling (the ceiling needs
the operator applied to one split half per rep and target, so its cost grows with the targets;
without it the predictions are computed once for all reps).

Besides the times, it prints the floor: the flops of the dense out-of-fold operator applied to what
no exact implementation avoids (:func:`floor_flops`), turned into seconds with this machine's
float64 matmul rate measured in the same run on the same product shape. ``floor / 1 bin`` is a
lower bound of the ratio for the protocol (reverse_pred's split-half ceiling).

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


def matmul_gflops(n: int, m: int, repeats: int = 3) -> float:
    """This machine's float64 GFLOP/s on the product the ceiling repeats: (n x n) @ (n x m)."""
    rng = np.random.default_rng(1)
    S, Y = rng.normal(size=(n, n)), rng.normal(size=(n, m))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        S @ Y
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n * n * m / best / 1e9


def floor_flops(n: int, targets: int, reps: int, ceiling: bool) -> float:
    """The flops no exact implementation avoids: the dense out-of-fold operator S (n x n) applied to the
    trial means of every target (once) and, with the ceiling, to one split half of every target per rep
    (the other half's predictions follow from the mean's). The span of what S must be applied to per
    target is that of the reps' half-selection vectors and the mean (min(reps + 1, repeats) vectors)."""
    return 2.0 * n * n * targets * ((reps + 1) if ceiling else 1)


def _forward(F, data, reps: int, ceiling: bool, backend: str = "numpy") -> float:
    import neuroxr as nx

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nx.forward(F, data, reps=reps, noise_ceiling=ceiling, backend=backend)
    return time.perf_counter() - t0


def run(scale: float, bins: int, reps: int, repeats: int, profile: bool = False, backend: str = "numpy") -> None:
    from neuroxr.predictivity.time import bin_slice

    F, R = make_problem(scale, bins)
    one = bin_slice(R, 0)
    n, k = R.sizes["stimulus"], R.sizes["neuroid"]
    print(f"machine: {platform.processor() or platform.machine()}; {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()[0]:.1f}; numpy {np.__version__}")
    print(f"problem: {n} stimuli x {F.sizes['unit']} units; neural {k} neuroids x "
          f"{R.sizes['repeat']} repeats x {bins} bins ({R.nbytes / 1e9:.2f} GB); reps={reps}; scale={scale}; backend {backend}")
    _forward(F, one, 1, True, backend)  # warm-up (imports, first-call costs)
    print("| noise ceiling | 1 bin (s, min / median) | "
          f"{bins} bins (s, min / median) | ratio of mins | ratio of medians | matmul GFLOP/s | "
          f"floor of {bins} bins (s) | floor / 1 bin (lower bound of the ratio) |")
    print("|---|---|---|---|---|---|---|---|")
    for ceiling in (True, False):
        times: dict[str, list[float]] = {"one": [], "all": []}
        rates = []
        for _ in range(repeats):  # interleaved, so a change of load hits both (and the GFLOP/s)
            times["one"].append(_forward(F, one, reps, ceiling, backend))
            times["all"].append(_forward(F, R, reps, ceiling, backend))
            rates.append(matmul_gflops(n, min(k * bins, 4096)))
        lo = {key: min(v) for key, v in times.items()}
        med = {key: float(np.median(v)) for key, v in times.items()}
        gf = max(rates)
        floor = floor_flops(n, k * bins, reps, ceiling) / (gf * 1e9)
        print(f"| {ceiling} | {lo['one']:.2f} / {med['one']:.2f} | {lo['all']:.2f} / {med['all']:.2f} | "
              f"{lo['all'] / lo['one']:.1f} | {med['all'] / med['one']:.1f} | {gf:.0f} | {floor:.2f} | "
              f"{floor / lo['one']:.1f} |")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if profile:  # where the time of one call over every bin goes (with the ceiling)
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        _forward(F, R, reps, True)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="shrink stimuli, units and neuroids (default 1.0)")
    ap.add_argument("--bins", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (min and median reported)")
    ap.add_argument("--profile", action="store_true", help="also print where the time of one call over every bin goes")
    ap.add_argument("--backend", default="numpy", help="the array backend (numpy, torch, torch_cuda, cupy)")
    a = ap.parse_args()
    run(a.scale, a.bins, a.reps, a.repeats, a.profile, a.backend)


if __name__ == "__main__":
    main()
