"""GPU sweep benchmark: a multi-layer sweep at the reference size on a GPU backend, extrapolated to
1,000 layers.

A study store holds one animal (2560 stimuli x 168 neuroids x 40 repeats) and ``--layers`` layers
of 2560 stimuli x 2048 units. The sweep scores forward and reverse (reps=20) for every layer, plus
the metric tasks (cRSA, CKA, effective dimensionality, shape) with ``--metrics``, on ``--backend`` (cupy or
torch_cuda) and ``--client``: ``cuda`` (the sweep's embedded dask-cuda ``LocalCUDACluster``, one
worker per GPU) or ``serial`` (this process). The first layer is a warm-up sweep (kernels compiled,
memory pooled) in its own store; the timed sweep's seconds per layer times 1,000 is the
extrapolated 1,000-layer plan. The EVs of one layer are checked against a NumPy forward/reverse.

Usage::

    python benchmarks/gpu_sweep.py --backend cupy --layers 8 --client cuda
    python benchmarks/gpu_sweep.py --backend torch --layers 2 --scale 0.1 --client serial   # a CPU check
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from directions import make_problem  # noqa: E402  (the reference problem)


def write_store(path: str, prob: dict, n_layers: int, seed: int = 1) -> None:
    import neuroxr as nx
    from neuroxr.store import StudyStore

    n = prob["F"].shape[0]
    ids = [f"s{i:05d}" for i in range(n)]
    store = StudyStore(path)
    store.write_neural("animalA", nx.neural(prob["R"], stimulus_id=ids))
    rng = np.random.default_rng(seed)
    F = prob["F"]
    for i in range(n_layers):  # distinct layers: the reference layer, mixed with fresh noise
        G = F + (0.1 * i) * rng.standard_normal(F.shape)
        store.write_features("net", f"layer{i:04d}", nx.features(G, stimulus_id=ids))


def run_sweep(path: str, backend: str, client: str, metrics: bool, reps: int) -> tuple[float, object]:
    from neuroxr.sweep import sweep

    directions = ["forward", "reverse"] + (["crsa", "cka", "dimensionality", "shape"] if metrics else [])
    t0 = time.perf_counter()
    res = sweep(path, directions=directions, reps=reps, backend=backend, progress=False,
                client="serial" if client == "serial" else None)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cupy", choices=["cupy", "torch_cuda", "torch", "numpy"])
    ap.add_argument("--client", default="cuda", choices=["cuda", "serial"])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--metrics", action="store_true", help="also cRSA, CKA, effective dimensionality and the shape metric per layer")
    ap.add_argument("--dir", default=None, help="where the stores go (default: a temporary folder)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # the synthetic ceilings' notes

    import neuroxr as nx

    prob = make_problem(args.scale)
    tmp = args.dir or tempfile.mkdtemp(prefix="gpu_sweep_")
    warm, timed = os.path.join(tmp, "warm.zarr"), os.path.join(tmp, "timed.zarr")
    t0 = time.perf_counter()
    write_store(warm, prob, 1)
    write_store(timed, prob, args.layers)
    t_write = time.perf_counter() - t0
    # each stage as it ends (a run stopped at its limit keeps what it measured)
    print(f"stores written in {t_write:.1f} s", file=sys.stderr, flush=True)
    t_warm, _ = run_sweep(warm, args.backend, args.client, args.metrics, args.reps)  # warm-up
    print(f"warm-up sweep of one layer (its cluster started too) {t_warm:.1f} s", file=sys.stderr, flush=True)
    secs, res = run_sweep(timed, args.backend, args.client, args.metrics, args.reps)
    per_layer = secs / args.layers
    print(f"backend {args.backend}, client {args.client}; {prob['F'].shape[0]} stimuli x {prob['F'].shape[1]} units, "
          f"{prob['R'].shape[1]} neuroids x {prob['R'].shape[2]} repeats; reps={args.reps}; metrics={args.metrics}; "
          f"stores written in {t_write:.1f} s")
    print("| layers | sweep (s) | per layer (s) | 1,000 layers, extrapolated (min) |")
    print("|---|---|---|---|")
    print(f"| {args.layers} | {secs:.2f} | {per_layer:.3f} | {1000 * per_layer / 60:.1f} |")

    # parity of one layer with NumPy, through the store the sweep wrote
    from neuroxr.store import StudyStore

    store = StudyStore(timed, mode="r")
    F, R = store.read_features("net", "layer0000"), store.read_neural("animalA")
    ref = nx.forward(F, R, reps=args.reps, seed=0)
    print(f"NumPy forward median EV of layer0000: {float(ref.ev.median()):.4f}")
    got = nx.score(store, "forward", "net.layer0000", "animalA", reps=args.reps, require_existing=True)
    diff = float(np.nanmax(np.abs(np.asarray(got.ev.values) - np.asarray(ref.ev.values))))
    print(f"max |EV difference| of the swept layer0000 forward against NumPy: {diff:.2e}")
    if args.dir is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
