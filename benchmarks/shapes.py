"""Benchmark suite over shapes: neuroxr vs reverse_pred for every direction at many problem sizes.

Shapes span n 200-20,000 stimuli, k 20-10,000 neuroids (predictors in reverse), p 100-1,000,000
units, T 2-50 repeats, including the rows of issue 17 (Neuropixels-like reverse, fMRI-like
forward and reverse). The problems are :func:`directions.make_shape`'s (power-law features over
64 latent dims, neural = signal + noise); every measurement runs in its own subprocess
(:func:`directions.run_worker`), so peak memory is that run's own (peak RSS minus the RSS after
building the inputs and importing the library).

Per shape and direction it prints: neuroxr's time (``--reps`` reps), reverse_pred's time (one rep
measured, scaled linearly to ``--reps``; where one rep of the full problem would take minutes it
is measured on two subsets of the targets and extrapolated affinely in the number of targets,
marked ``~``), the ratio, whole-run GFLOP/s (the run's matrix-product flops, see
:func:`directions.flops`, over its time) against a plain float64 matmul of the dominant
product's size measured in the same run, peak memory of each, and parity (max |EV diff| at
reps=1 under the parity protocol, where reverse_pred ran the full problem).

``--load`` starts a competing process (a NumPy matmul loop on all cores) for the whole run, so
the ratios hold under a shared machine's load. ``--quick`` runs a small subset.

Usage::

    python benchmarks/shapes.py --quick
    python benchmarks/shapes.py --out /tmp/shapes.md [--load] [--only neuropixels fmri]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from directions import _rate, emit, flops, run_worker  # noqa: E402

# name, (n stimuli, p units, k neuroids, T repeats), directions, reverse_pred target subsets
# (None: the full problem; (m1, m2): extrapolated affinely in the targets from these two sizes)
SHAPES: list[tuple[str, dict[str, int], tuple[str, ...], dict[str, tuple[int, int]]]] = [
    ("tiny", dict(n=200, p=100, k=20, T=2), ("forward", "reverse", "inter_animal", "model_to_model"), {}),
    ("reference", dict(n=1280, p=1024, k=84, T=30), ("forward", "reverse", "inter_animal", "model_to_model"), {}),
    ("neuropixels", dict(n=2560, p=4096, k=200, T=20), ("reverse", "inter_animal"), {}),
    ("fmri", dict(n=1000, p=2048, k=3000, T=3), ("forward", "reverse"), {}),
    ("many-repeats", dict(n=500, p=1000, k=64, T=50), ("forward", "reverse", "inter_animal"), {}),
    ("many-neuroids", dict(n=1000, p=512, k=10000, T=4), ("forward", "inter_animal"), {"inter_animal": (500, 1000)}),
    ("wide-layer", dict(n=200, p=1_000_000, k=20, T=10), ("forward", "reverse"), {"reverse": (5000, 10000)}),
    ("many-stimuli", dict(n=20000, p=2048, k=100, T=10), ("forward",), {}),
]
QUICK = ("tiny", "reference")


# ---------------------------------------------------------------------------- load and reference rate
LOAD_CODE = "import numpy as np\na = np.random.rand(1500, 1500)\nwhile True:\n    a @ a\n"


def start_load() -> subprocess.Popen:
    """A competing BLAS-heavy process (matmul loop, default BLAS threads = all cores)."""
    return subprocess.Popen([sys.executable, "-c", LOAD_CODE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dominant_mkn(direction: str, shape: dict[str, int]) -> tuple[int, int, int]:
    """(M, K, N) of the direction's dominant product at ``shape`` (each capped at 4096)."""
    n, p, k = shape["n"], shape["p"], shape["k"]
    n_te = n // 10
    if direction == "forward":
        mkn = (n, min(n, p), 2 * k) if p < 0.9 * n else (n, n, 2 * k)
    elif direction in ("reverse", "inter_animal"):
        kk, m = (k, p) if direction == "reverse" else (k // 2, k // 2)
        mkn = (2 * n_te, kk + 1, m) if kk < 0.9 * n else (n, n, m)
    else:
        mkn = (p // 2, n_te, p // 2)
    return tuple(int(min(max(d, 1), 4096)) for d in mkn)


def plain_rate(mkn: tuple[int, int, int], repeats: int = 3) -> float:
    """GFLOP/s of a plain float64 matmul (M, K) @ (K, N), best of ``repeats``."""
    M, K, N = mkn
    rng = np.random.default_rng(0)
    x, y = rng.random((M, K)), rng.random((K, N))
    return _rate(lambda: x @ y, 2 * M * K * N, repeats)


# ---------------------------------------------------------------------------- one row
def reverse_pred_time(direction: str, shape: dict[str, int], subs: tuple[int, int] | None, timeout: float) -> tuple[float, dict | None, np.ndarray | None, str]:
    """reverse_pred's time of one rep (full problem, or extrapolated from two target subsets)."""
    if subs is None:
        info, ev = run_worker(direction, "reverse_pred", 1, 100, shape, timeout=timeout)
        return info["time"], info, ev, ""
    (m1, m2), times = subs, []
    for m in subs:
        info, _ = run_worker(direction, "reverse_pred", 1, 100, {**shape, "sub_targets": m}, timeout=timeout)
        times.append(info["time"])
    m_full = targets(direction, shape)
    slope = (times[1] - times[0]) / (m2 - m1)
    return times[1] + slope * (m_full - m2), None, None, f"~ ({m1}, {m2} targets: {times[0]:.1f}, {times[1]:.1f} s)"


def targets(direction: str, shape: dict[str, int]) -> int:
    return {"forward": shape["k"], "reverse": shape["p"], "inter_animal": shape["k"] - shape["k"] // 2,
            "model_to_model": shape["p"] // 2}[direction]


def run_row(name: str, shape: dict[str, int], direction: str, subs: tuple[int, int] | None, reps: int, timeout: float) -> dict:
    ours, _ = run_worker(direction, "neuroxr", reps if direction != "model_to_model" else 1, 0, shape, timeout=timeout)
    t_rp1, theirs, ev_rp, note = reverse_pred_time(direction, shape, subs, timeout)
    # reverse_pred's model_to_model repeats the identical fit every rep: scaled to --reps too
    t_rp = t_rp1 * reps
    t_ours = ours["time"]  # neuroxr's model_to_model fits once (every rep is identical without max_n)
    parity = float("nan")
    if ev_rp is not None:
        _, ev_ours = run_worker(direction, "neuroxr", 1, 100, shape, timeout=timeout)
        parity = float(np.nanmax(np.abs(ev_ours - ev_rp)))
    work = flops(direction, shape, reps)
    mkn = dominant_mkn(direction, shape)
    return {
        "shape": name, **shape, "direction": direction, "neuroxr_s": t_ours, "reverse_pred_s": t_rp,
        "ratio": t_rp / t_ours, "rp_note": note, "gflops": work / t_ours / 1e9, "plain_mkn": mkn,
        "plain_gflops": plain_rate(mkn), "neuroxr_peak_mb": ours["peak_over_inputs_mb"],
        "reverse_pred_peak_mb": theirs["peak_over_inputs_mb"] if theirs else float("nan"), "max_abs_ev_diff": parity,
    }


TARGETS = {"forward": 50, "reverse": 30, "inter_animal": 30, "model_to_model": 50}


def table(rows: list[dict], load: bool) -> str:
    floor = 20 if load else None
    head = (
        "| shape | n | p | k | T | direction | neuroxr (s) | reverse_pred (s) | ratio | target | whole-run GFLOP/s | "
        "plain matmul GFLOP/s (M,K,N) | neuroxr peak (MB) | reverse_pred peak (MB) | max abs EV diff |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        tgt = floor or TARGETS[r["direction"]]
        miss = "" if r["ratio"] >= tgt else " **miss**"
        rp = ("~" if r["rp_note"] else "") + f"{r['reverse_pred_s']:.1f}"
        mem_rp = "n/a" if np.isnan(r["reverse_pred_peak_mb"]) else f"{r['reverse_pred_peak_mb']:.0f}"
        mem_miss = "" if np.isnan(r["reverse_pred_peak_mb"]) or r["neuroxr_peak_mb"] <= max(r["reverse_pred_peak_mb"], 1) else " **>**"
        par = "n/a" if np.isnan(r["max_abs_ev_diff"]) else f"{r['max_abs_ev_diff']:.1e}"
        lines.append(
            f"| {r['shape']} | {r['n']} | {r['p']} | {r['k']} | {r['T']} | {r['direction']} | {r['neuroxr_s']:.2f} | {rp} | "
            f"{r['ratio']:.1f}x{miss} | {tgt}x | {r['gflops']:.1f} | {r['plain_gflops']:.1f} {tuple(r['plain_mkn'])} | "
            f"{r['neuroxr_peak_mb']:.0f}{mem_miss} | {mem_rp} | {par} |"
        )
    notes = [f"- {r['shape']} {r['direction']}: reverse_pred extrapolated {r['rp_note']}" for r in rows if r["rp_note"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help=f"only the shapes {QUICK}")
    ap.add_argument("--only", nargs="*", help="shape names to run")
    ap.add_argument("--directions", nargs="*", help="directions to run (default: each shape's)")
    ap.add_argument("--load", action="store_true", help="run everything next to a competing matmul process")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    ap.add_argument("--out", default=None, help="also write the Markdown table (and JSON rows next to it)")
    ap.add_argument("--unsorted-ids", action="store_true",
                    help="stimulus ids 'stimulus7' (not in sorted order: neuroxr pairs by id with a reordered copy) "
                         "instead of zero-padded ones already in canonical order")
    args = ap.parse_args()
    names = QUICK if args.quick else (args.only or [s[0] for s in SHAPES])
    load = start_load() if args.load else None
    rows: list[dict] = []
    try:
        if load is not None:
            time.sleep(2)
        for name, shape, dirs, subs in SHAPES:
            if name not in names:
                continue
            for direction in dirs:
                if args.directions and direction not in args.directions:
                    continue
                t0 = time.time()
                try:
                    sh = {**shape, "ids": "unsorted"} if args.unsorted_ids else shape
                    rows.append(run_row(name, sh, direction, subs.get(direction), args.reps, args.timeout))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:  # report it, keep going
                    print(f"FAILED {name} {direction}: {str(exc)[-1500:]}", file=sys.stderr, flush=True)
                    continue
                print(f"done {name} {direction} in {time.time() - t0:.0f} s: "
                      f"{json.dumps(rows[-1], default=str)}", file=sys.stderr, flush=True)
                if args.out:
                    with open(args.out + ".jsonl", "a") as fh:
                        fh.write(json.dumps(rows[-1], default=str) + "\n")
        ref = plain_rate((2048, 2048, 2048))
    finally:
        if load is not None:
            load.kill()
            load.wait()
    head = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}; plain float64 matmul 2048^3 in this run: {ref:.1f} GFLOP/s; "
        f"load: {'a competing matmul process on all cores' if args.load else 'no extra load started'}; "
        f"load average at the end: {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"stimulus ids {'unsorted (neuroxr reorders a copy)' if args.unsorted_ids else 'in canonical order (no reordering)'}.",
        f"neuroxr reps={args.reps}, one run each; reverse_pred one rep scaled to {args.reps} "
        "(`~`: extrapolated from two target subsets, see the notes). Target: the issue's ratio "
        "(forward 50x, reverse/inter-animal 30x; 20x under load); peak = peak RSS over the inputs' RSS "
        "(`**>**`: above reverse_pred's).",
        "",
    ]
    emit("\n".join(head) + table(rows, args.load), args.out)


if __name__ == "__main__":
    main()
