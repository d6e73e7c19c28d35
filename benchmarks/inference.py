"""Benchmark of statistical inference (issue 16): bootstrap and permutations vs the plain call.

Forward and reverse at the reference problem of ``benchmarks/directions.py`` (features 2560 x
2048, neural 2560 x 168 x 40, ridge alpha 0.1, 10 folds, reps=20): the plain direction call, then
the inference parts computed once (:func:`neuroxr.predictivity._parts.prepare`), ``n_boot``
bootstrap resamples of the stimuli and ``n_perm`` permutations on them. cRSA: the pattern
bootstrap (with rsatoolbox's noise ceiling) of a model RDM of 1000 stimuli x 2048 features against
two subjects' RDMs, neuroxr vs ``rsatoolbox.inference.eval_bootstrap_pattern`` (whose time is
measured on ``--rs-boot`` resamples and scaled linearly: its resamples are independent, equal in cost).

Usage::

    python benchmarks/inference.py              # reference size
    python benchmarks/inference.py --scale 0.25 # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from directions import emit, make_problem  # noqa: E402


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t, out


def bench_direction(direction: str, scale: float, reps: int, n_boot: int, n_perm: int, backend: str = "numpy") -> dict:
    import neuroxr as nx
    from neuroxr.kernels.permute import permutation_flops, permutation_form
    from neuroxr.predictivity._parts import prepare
    from neuroxr.predictivity.inference import bootstrap, permutation_test

    pb = make_problem(scale)
    n = pb["F"].shape[0]
    ids = [f"s{i:05d}" for i in range(n)]
    F = nx.features(pb["F"], stimulus_id=ids)
    R = nx.neural(pb["R"], stimulus_id=ids)
    src, tgt = (F, R) if direction == "forward" else (R, F)
    fn = nx.forward if direction == "forward" else nx.reverse
    if backend != "numpy":  # first-call costs (kernels compiled, memory pooled) out of the times
        fn(src, tgt, reps=1, backend=backend)
        permutation_test(direction, prepare(direction, src, tgt, reps=1, backend=backend), None, n_perm=2)
    t_plain, _ = _timed(fn, src, tgt, reps=reps, backend=backend)
    t_parts, parts = _timed(prepare, direction, src, tgt, reps=reps, backend=backend)
    t_boot, _ = _timed(bootstrap, direction, parts, None, n_boot=n_boot)
    _stage(direction, scale, f"plain call {t_plain:.2f} s, parts {t_parts:.2f} s, {n_boot} resamples {t_boot:.2f} s")
    t_perm, _ = _timed(permutation_test, direction, parts, None, n_perm=n_perm)
    _stage(direction, scale, f"{n_perm} permutations {t_perm:.2f} s")
    t_plain = (t_plain + _timed(fn, src, tgt, reps=reps, backend=backend)[0]) / 2  # before and after: the machine may be shared
    total = t_parts + t_boot + t_perm
    p, m = parts.X.shape[1], parts.Y.shape[1]
    folds = parts.groups[0].reg.folds  # complete data: one group, every target on every stimulus
    form = permutation_form(n, p, len(folds), folds)
    flops = n_perm * permutation_flops(n, p, m, len(folds), form)
    bound = n_perm * 2.0 * n * min(n, p) * m  # the one unavoidable product over stimuli per permutation
    return {"direction": direction, "plain": t_plain, "parts": t_parts, "boot": t_boot, "perm": t_perm,
            "total": total, "ratio": total / t_plain, "ratio_boot": (t_parts + t_boot) / t_plain,
            "form": form, "flops": flops, "bound": bound, "shape": (n, p, m)}


def _stage(direction: str, scale: float, text: str) -> None:
    """A stage's time as soon as it is known (a run stopped at its time limit keeps what it measured)."""
    print(f"[{direction}, scale {scale}] {text}", file=sys.stderr, flush=True)


def gemm_gflops(n: int = 2048, repeat: int = 3) -> float:
    """The machine's float64 matmul speed (GFLOP/s, best of ``repeat`` square ``n x n`` products)."""
    a = np.random.default_rng(0).normal(size=(n, n))
    a @ a
    best = min(_timed(np.matmul, a, a)[0] for _ in range(repeat))
    return 2.0 * n**3 / best / 1e9


def bench_crsa(scale: float, n_boot: int, rs_boot: int, method: str = "corr") -> dict:
    import rsatoolbox as rt
    from rsatoolbox.inference import eval_bootstrap_pattern

    import neuroxr as nx
    from neuroxr.geometry.inference import rsa_bootstrap

    rng = np.random.default_rng(0)
    n, p = int(1000 * scale), int(2048 * scale)
    Z = rng.normal(size=(n, 32))
    F = Z @ rng.normal(size=(32, p)) + rng.normal(size=(n, p))
    ids = [f"s{i:05d}" for i in range(n)]
    model = nx.rdm(nx.features(F, stimulus_id=ids))
    subs = [nx.rdm(nx.features(Z @ rng.normal(size=(32, 100)) + 3 * rng.normal(size=(n, 100)), stimulus_id=ids))
            for _ in range(2)]
    t_ours, _ = _timed(rsa_bootstrap, model, subs, method=method, n_boot=n_boot)
    from scipy.spatial.distance import squareform

    data = rt.rdm.RDMs(np.stack([squareform(s.values, checks=False) for s in subs]))
    m = rt.model.ModelFixed("m", squareform(model.values, checks=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_rs, _ = _timed(eval_bootstrap_pattern, m, data, method=method, N=rs_boot)
    t_rs_scaled = t_rs * n_boot / rs_boot
    return {"n": n, "method": method, "ours": t_ours, "rsatoolbox": t_rs_scaled, "speedup": t_rs_scaled / t_ours}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the problem (1 = reference size)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=1000)
    ap.add_argument("--rs-boot", type=int, default=10, help="rsatoolbox resamples timed (scaled to --n-boot)")
    ap.add_argument("--no-rsa", action="store_true", help="skip the cRSA comparison with rsatoolbox")
    ap.add_argument("--rsa-method", default="corr", choices=("corr", "spearman", "cosine"),
                    help="the cRSA comparison's RDM comparison (both libraries; spearman re-ranks every resample)")
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--backend", default="numpy", help="the directions' array backend (numpy, torch, torch_cuda, cupy)")
    args = ap.parse_args()
    for d in ("forward", "reverse"):  # warm-up: imports and first-call costs stay out of the timings
        bench_direction(d, 0.05, 2, 10, 10, args.backend)
    gf0 = gemm_gflops()
    rows = [bench_direction(d, args.scale, args.reps, args.n_boot, args.n_perm, args.backend) for d in ("forward", "reverse")]
    gflops = max(gf0, gemm_gflops())  # before and after: the machine is shared
    rsa = bench_crsa(args.scale, args.n_boot, args.rs_boot, args.rsa_method) if not args.no_rsa else None
    load = os.getloadavg()
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) when the run ended.",
        f"Backend {args.backend}. Problem scale {args.scale} (1 = reference), reps={args.reps}, n_boot={args.n_boot}, n_perm={args.n_perm}; "
        f"float64 matmul {gflops:.1f} GFLOP/s (best 2048^3 product before/after).",
        "",
        "| direction | plain call (s, mean of before and after) | parts (s) | bootstrap (s) | permutations (s) | parts + bootstrap / plain | all / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['direction']} | {r['plain']:.2f} | {r['parts']:.2f} | {r['boot']:.2f} | {r['perm']:.2f} | "
                     f"{r['ratio_boot']:.2f}x | {r['ratio']:.2f}x |")
    lines += ["", "| direction | n, predictors, targets | null form | null GFLOP | at matmul speed (s) | "
              "lower bound 2 n min(n, p) m per permutation, GFLOP | permutations (s) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['direction']} | {' x '.join(map(str, r['shape']))} | {r['form']} | {r['flops'] / 1e9:.1f} | "
                     f"{r['flops'] / 1e9 / gflops:.1f} | {r['bound'] / 1e9:.1f} | {r['perm']:.2f} |")
    if rsa is not None:
        lines += [
            "",
            f"cRSA pattern bootstrap ({rsa['method']}) with noise ceiling, {rsa['n']} stimuli, 2 subjects, {args.n_boot} resamples: "
            f"neuroxr {rsa['ours']:.2f} s, rsatoolbox {rsa['rsatoolbox']:.1f} s (measured on {args.rs_boot} resamples, "
            f"scaled), speedup {rsa['speedup']:.0f}x.",
        ]
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
