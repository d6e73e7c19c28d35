"""Benchmark of the shape metrics (``LinearMetric``, Williams et al. 2021) on wide layers: more units than stimuli.

Per size ``n x p`` (stimuli x units) two layers are compared, ``X`` (``n x p``) and ``Y``
(``n x p/2``), sharing 8 latent dimensions (plus noise), as a user calls the library; ``--dead F``
makes a fraction ``F`` of each layer's units constant (dead ReLU units: after centring a null space,
so tall layers take the whitening's SVD route too, as wide ones always do):

- ``split_distance``: fit on half the stimuli, training and held-out distances;
- ``fit_distance``: ``LinearMetric(alpha).fit_distance(X, Y)`` on every stimulus;
- ``shape_bootstrap``: ``--n-boot`` resamples (each one fit on ~0.63 n stimuli), no permutations.

Each measurement runs in its own subprocess with a time limit (``--timeout``): a run that exceeds
it is reported as ``> limit``. The distances are printed so that two runs (e.g. the library before
and after a change, through ``PYTHONPATH``) can be checked to agree (``--json FILE``: every
distance, each bootstrap resample's too). Each call also counts the eigendecompositions (``eigh``)
and SVDs (``svd``) of the array namespace's ``linalg`` it runs: the whitening's route per fit.

Usage::

    python benchmarks/shape_metrics.py                       # 12x3000 12x12000 92x4096 500x20000
    python benchmarks/shape_metrics.py --sizes 92x4096 --alpha 0.5 --n-boot 20
    python benchmarks/shape_metrics.py --sizes 1000x512 --alpha 0.5 --dead 0.1

``alpha = 1`` (the default) leaves the data unwhitened: the whitening's eigen/SVD route is not run,
so a change to it is measured at ``alpha < 1``. Set ``OPENBLAS_NUM_THREADS=1`` (or the like) on a
loaded machine: oversubscribed BLAS threads make times vary tenfold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

OPS = ("split_distance", "fit_distance", "shape_bootstrap")
SIZES = ("12x3000", "12x12000", "92x4096", "500x20000")


def _problem(n: int, p: int, seed: int = 0, dead: float = 0.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 8))
    X = Z @ rng.standard_normal((8, p)) + rng.standard_normal((n, p))
    Y = Z @ rng.standard_normal((8, p // 2)) + rng.standard_normal((n, p // 2))
    for A in (X, Y):  # dead units: constant (0.5, not 0: the centring rounds)
        A[:, rng.permutation(A.shape[1])[: int(dead * A.shape[1])]] = 0.5
    return X, Y


def worker(op: str, n: int, p: int, alpha: float, n_boot: int, dead: float = 0.0) -> dict:
    """One timed call (inputs built and the library imported first); its time and distances."""
    import warnings

    import numpy as np

    import neuroxr as nx
    from neuroxr.backend import get_namespace
    from neuroxr.geometry import LinearMetric, split_distance
    from neuroxr.geometry.inference import shape_bootstrap

    warnings.simplefilter("ignore")
    X, Y = _problem(n, p, dead=dead)
    calls = {"eigh": 0, "svd": 0}
    linalg = get_namespace(X).linalg
    for name in calls:  # counted, not replaced: the same calls
        def spy(*a, _real=getattr(linalg, name), _name=name, **kw):
            calls[_name] += 1
            return _real(*a, **kw)
        setattr(linalg, name, spy)
    ids = np.array([f"s{i:05d}" for i in range(n)])
    fx, fy = nx.features(X, stimulus_id=ids, layer="x"), nx.features(Y, stimulus_id=ids, layer="y")
    t, cpu = time.perf_counter(), time.process_time()
    if op == "split_distance":
        out = [float(v) for v in split_distance(fx, fy, alpha=alpha).distance.values]
    elif op == "fit_distance":
        out = [float(LinearMetric(alpha=alpha).fit_distance(X, Y))]
    else:
        b = shape_bootstrap(fx, fy, alpha=alpha, n_boot=n_boot)
        out = [float(b.distance), *map(float, b.distance_boot.values)]
    # CPU seconds too: on a shared machine the wall time is mostly the load (with one BLAS thread, CPU time is the work)
    return {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - cpu, "distances": out, **calls}


def measure(op: str, n: int, p: int, alpha: float, n_boot: int, timeout: float, dead: float = 0.0) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", op, f"{n}x{p}", "--alpha", str(alpha),
           "--n-boot", str(n_boot), "--dead", str(dead)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), help="n x p (stimuli x units of X; Y has p/2)")
    ap.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--n-boot", type=int, default=10)
    ap.add_argument("--dead", type=float, default=0.0, help="fraction of each layer's units made constant")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    ap.add_argument("--worker", nargs=2, metavar=("OP", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--json", default=None, help="also append every result (all distances, calls) to this JSON-lines file")
    args = ap.parse_args()
    if args.worker:
        n, p = map(int, args.worker[1].split("x"))
        print(json.dumps(worker(args.worker[0], n, p, args.alpha, args.n_boot, args.dead)))
        return
    import neuroxr

    lines = [f"neuroxr from {os.path.dirname(neuroxr.__file__)}; alpha={args.alpha}, n_boot={args.n_boot}, "
             f"dead={args.dead}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
             "", "| stimuli x units (X; Y half) | call | wall (CPU) time (s) | eigh / svd calls | distances |", "|---|---|---:|---:|---|"]
    for line in lines:
        print(line, flush=True)
    for size in args.sizes:
        n, p = map(int, size.split("x"))
        for op in args.ops:
            res = measure(op, n, p, args.alpha, args.n_boot, args.timeout, args.dead)
            cell = f"> {args.timeout:.0f}" if res is None else f"{res['seconds']:.2f} (CPU {res['cpu_seconds']:.2f})"
            dist = "" if res is None else ", ".join(f"{d:.10f}" for d in res["distances"][:3])
            count = "" if res is None else f"{res['eigh']} / {res['svd']}"
            lines.append(f"| {n} x {p} | {op} | {cell} | {count} | {dist} |")
            if args.json and res is not None:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps({"size": size, "op": op, "alpha": args.alpha, "n_boot": args.n_boot,
                                         "dead": args.dead, "neuroxr": os.path.dirname(neuroxr.__file__), **res}) + "\n")
            print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
