"""GPU benchmark: the four directions and large RDMs on one backend, against NumPy in the same run.

Prepared for a machine with an NVIDIA GPU (``--backend cupy`` or ``torch_cuda``); it also runs on the
CPU (``--backend torch`` or ``numpy``) at a small ``--scale`` to check the script itself. For each
direction it prints the backend's time (after one warm-up call, the device synchronised), the NumPy
time at the same shape (``--numpy-reps`` reps, scaled linearly to ``--reps``), the ratio, and the max
|EV difference| between the two (float64: expected <= 1e-8 relative; float32: <= 1e-4). Then the
correlation RDM and a Spearman comparison of ``--rdm-n`` stimuli.

Reference size (``--scale 1``): features 2560 stimuli x 2048 units, neural 2560 x 168 neuroids x 40
repeats, reps=20 (the targets: forward under 1 s on one GPU, aim 0.2 s); RDMs of 10,000 stimuli.

Usage::

    python benchmarks/gpu.py --backend cupy,torch_cuda --dtype float64,float32   # on a GPU machine
    python benchmarks/gpu.py --backend torch --scale 0.1 --rdm-n 500 --numpy-reps 2   # a CPU check
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from directions import make_problem  # the same problem as the CPU benchmark

DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")


def _sync(backend: str) -> None:
    if backend == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()
    elif backend == "torch_cuda":
        import torch

        torch.cuda.synchronize()


def _run(nx, direction: str, prob: dict, reps: int, backend: str, dtype: str):
    F, R, FA, FB = prob["F"], prob["R"], prob["FA"], prob["FB"]
    half = R.shape[1] // 2
    kw = dict(reps=reps, seed=0, backend=backend, dtype=dtype)
    if direction == "forward":
        return nx.forward(nx.features(F), nx.neural(R), **kw)
    if direction == "reverse":
        return nx.reverse(nx.neural(R), nx.features(F), **kw)
    if direction == "inter_animal":
        return nx.inter_animal(nx.neural(R[:, :half]), nx.neural(R[:, half:]), **kw)
    return nx.model_to_model(nx.features(FA), nx.features(FB), **kw)


def _timed(fn, backend: str) -> tuple[float, object]:
    _sync(backend)
    t0 = time.perf_counter()
    out = fn()
    _sync(backend)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cupy", help="one or several of cupy, torch_cuda, torch, numpy (comma-separated)")
    ap.add_argument("--dtype", default="float64", help="float64, float32 or both (comma-separated)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--numpy-reps", type=int, default=2, help="reps of the NumPy reference (scaled to --reps)")
    ap.add_argument("--rdm-n", type=int, default=10_000)
    ap.add_argument("--rdm-only", action="store_true", help="only the RDM and its comparison (no direction table)")
    args = ap.parse_args()
    backends, dtypes = args.backend.split(","), args.dtype.split(",")

    import neuroxr as nx

    prob = make_problem(args.scale)
    print(f"machine: {platform.machine()} {platform.processor() or ''}; {_device()}; scale {args.scale} "
          f"({prob['F'].shape[0]} stimuli x {prob['F'].shape[1]} units, {prob['R'].shape[1]} neuroids x "
          f"{prob['R'].shape[2]} repeats), reps={args.reps}")
    refs = {}
    directions = () if args.rdm_only else DIRECTIONS
    for direction in directions:  # NumPy once per direction, the reference of every backend and dtype
        _run(nx, direction, prob, 1, "numpy", "float64")  # warm-up (first-call costs)
        t_np, ref = _timed(lambda d=direction: _run(nx, d, prob, args.numpy_reps, "numpy", "float64"), "numpy")
        refs[direction] = (t_np * args.reps / args.numpy_reps, np.asarray(ref.ev.values))
    if directions:
        print("| direction | backend | dtype | backend (s) | NumPy (s, scaled) | speedup | max rel EV diff (NumPy reps) |")
        print("|---|---|---|---|---|---|---|")
    for backend, dtype in [(b, d) for b in backends for d in dtypes]:
        for direction in directions:
            _run(nx, direction, prob, 1, backend, dtype)  # warm-up: kernels compiled, memory pooled
            t_dev, ds = _timed(lambda d=direction, b=backend, t=dtype: _run(nx, d, prob, args.reps, b, t), backend)
            t_np, ev_ref = refs[direction]
            ev = np.asarray(ds.ev.isel(rep=slice(0, args.numpy_reps)).values)
            diff = float(np.nanmax(np.abs(ev - ev_ref)) / max(np.nanmax(np.abs(ev_ref)), 1e-300))
            print(f"| {direction} | {backend} | {dtype} | {t_dev:.3f} | {t_np:.2f} | {t_np / t_dev:.1f}x | {diff:.1e} |",
                  flush=True)

    rng = np.random.default_rng(0)
    F = nx.features(rng.normal(size=(args.rdm_n, 512)))
    t_np, D_ref = _timed(lambda: nx.rdm(F, "correlation"), "numpy")
    t_cmp_np, r_ref = _timed(lambda: nx.compare_rdms(D_ref, D_ref, "spearman", backend="numpy"), "numpy")
    print(f"\ncorrelation RDM of {args.rdm_n} stimuli x 512 units, NumPy: {t_np:.3f} s; Spearman comparison with itself "
          f"{t_cmp_np:.3f} s")
    for backend in backends:
        # the first call at this size (kernels compiled for paths a small problem does not take, e.g. the
        # row pass; memory pooled), then the timed one
        t_first, _ = _timed(lambda b=backend: nx.rdm(F, "correlation", backend=b), backend)
        t_rdm, D = _timed(lambda b=backend: nx.rdm(F, "correlation", backend=b), backend)
        diff = float(np.abs(D.values - D_ref.values).max())
        t_cmp_first, _ = _timed(lambda D=D, b=backend: nx.compare_rdms(D, D, "spearman", backend=b), backend)
        t_cmp, r = _timed(lambda D=D, b=backend: nx.compare_rdms(D, D, "spearman", backend=b), backend)
        print(f"{backend}: RDM {t_rdm:.3f} s ({t_np / t_rdm:.1f}x; first call {t_first:.3f} s; max |difference| from NumPy "
              f"{diff:.1e}); Spearman comparison with itself {t_cmp:.3f} s ({t_cmp_np / t_cmp:.1f}x; first call "
              f"{t_cmp_first:.3f} s; difference {abs(float(r) - float(r_ref)):.1e})", flush=True)


def _device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    except ImportError:
        pass
    return "no CUDA GPU seen by torch"


if __name__ == "__main__":
    main()
