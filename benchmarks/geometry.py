"""Benchmark: two correlation RDMs (1000 stimuli x 2048 units) and four RDM comparisons, neuroxr vs rsatoolbox.

Both libraries run in the same process, interleaved (neuroxr, rsatoolbox, neuroxr, ...), on the
same float64 data; the table reports the median wall time over ``--repeats`` runs, the ratio
(rsatoolbox / neuroxr) and the peak traced memory of one run (tracemalloc, measured in a separate
run so that tracing does not slow the timed ones). Results agree to 1e-8 (checked).

    python benchmarks/geometry.py [--n 1000] [--p 2048] [--repeats 5] [--out benchmarks/RESULTS_geometry.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "RESULTS_geometry.md"))
    args = ap.parse_args()

    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare

    from neuroxr.kernels.rdm import compare_rdms, rdm

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.p))
    Y = 0.5 * X + rng.standard_normal((args.n, args.p))

    ours = {}
    theirs = {}

    def nx_rdms():
        ours["rdms"] = (rdm(X, "correlation"), rdm(Y, "correlation"))

    def rs_rdms():
        theirs["rdms"] = (calc_rdm(Dataset(X), method="correlation"), calc_rdm(Dataset(Y), method="correlation"))

    nx_rdms()
    rs_rdms()
    comparisons = [("pearson", "corr"), ("spearman", "spearman"), ("kendall tau-a", "tau-a"), ("cosine", "cosine")]

    def nx_cmp(m):
        return lambda: ours.__setitem__(m, compare_rdms(*ours["rdms"], method=m.split()[0] if m != "kendall tau-a" else "kendall"))

    def rs_cmp(m):
        return lambda: theirs.__setitem__(m, float(compare(*theirs["rdms"], method=m)[0, 0]))

    tasks = [("2 correlation RDMs", nx_rdms, rs_rdms)] + [(f"compare: {a}", nx_cmp(a), rs_cmp(b)) for a, b in comparisons]

    times = {name: ([], []) for name, _, _ in tasks}
    for _ in range(args.repeats):
        for name, f_nx, f_rs in tasks:
            for f, store in ((f_nx, times[name][0]), (f_rs, times[name][1])):
                t = time.perf_counter()
                f()
                store.append(time.perf_counter() - t)

    # agreement
    np.testing.assert_allclose(ours["rdms"][0], theirs["rdms"][0].get_matrices()[0], atol=1e-8)
    for a, b in comparisons:
        assert abs(ours[a] - theirs[b]) < 1e-8, (a, ours[a], theirs[b])

    peaks = {}
    for name, f_nx, f_rs in tasks:
        pk = []
        for f in (f_nx, f_rs):
            tracemalloc.start()
            f()
            pk.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
        peaks[name] = pk

    rows = []
    tot_nx = tot_rs = 0.0
    for name, _, _ in tasks:
        t_nx, t_rs = statistics.median(times[name][0]), statistics.median(times[name][1])
        tot_nx += t_nx
        tot_rs += t_rs
        rows.append((name, t_nx, t_rs, t_rs / t_nx, *peaks[name]))
    rows.append(("total", tot_nx, tot_rs, tot_rs / tot_nx, max(r[4] for r in rows), max(r[5] for r in rows)))

    lines = [
        "# Geometry benchmark: neuroxr vs rsatoolbox",
        "",
        f"Two correlation RDMs of {args.n} stimuli x {args.p} units (float64) and four comparisons of them "
        f"(upper triangle, {args.n * (args.n - 1) // 2} pairs). Median of {args.repeats} interleaved runs in one process; "
        "peak = tracemalloc peak of one separate run. Results agree to 1e-8.",
        "",
        f"Machine: {_cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}; "
        f"load average at the end {os.getloadavg()[0]:.1f} (other jobs share the cores when it exceeds the core count).",
        "",
        "| step | neuroxr (s) | rsatoolbox (s) | speed-up | neuroxr peak (MiB) | rsatoolbox peak (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, a, b, r, pa, pb in rows:
        lines.append(f"| {name} | {a:.4f} | {b:.4f} | {r:.1f}x | {pa:.0f} | {pb:.0f} |")
    lines += [
        "",
        "Notes: neuroxr computes each RDM from the Gram matrix of the features (one BLAS product); "
        "Kendall's tau-a on NumPy arrays uses scipy's compiled O(P log P) tau-b converted with the tie counts "
        "(on torch/CuPy arrays an array-API bit-serial inversion count), which is the same algorithm rsatoolbox uses, "
        "so that row shows no speed-up. "
        "Spearman is dominated by sorting the 499,500 dissimilarities (both libraries sort once per RDM). "
        "The RDM step is where the Gram formulation pays; the comparisons are bound by sorting, so the total "
        "speed-up stays below the RDM step's. For many-vs-many comparisons use compare_rdms_many: ranks once "
        "per RDM and one matrix product for all pairs.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
