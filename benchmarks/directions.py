"""Benchmark of the four directions: neuroxr vs reverse_pred on the same problem, in one run.

Problem (the reference size of docs/design.md): features 2560 stimuli x 2048 units with a power-law
spectrum; neural 2560 x 168 neuroids x 40 repeats; inter-animal 84 -> 84 neuroids;
model-to-model 1024 -> 1024 units; ridge alpha 0.1, 10 folds, float64.

Every measurement runs in its own subprocess (so peak memory is that run's own), neuroxr and
reverse_pred interleaved, the median of ``--repeats`` runs reported. neuroxr runs ``--reps``
(20) reps; reverse_pred runs ``--rp-reps`` and its time is scaled linearly to ``--reps`` (its
reps are independent, identical in cost). The max |EV difference| is measured under the
parity protocol (reverse_pred's split generator seeded, ``split="slots"``) at ``--rp-reps``.

Usage::

    python benchmarks/directions.py                 # full size, prints a Markdown table
    python benchmarks/directions.py --scale 0.25    # a quick, smaller run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")


# ---------------------------------------------------------------------------- the problem
def reference_shape(scale: float = 1.0) -> dict[str, int]:
    """The reference problem's sizes at ``scale``: stimuli ``n``, units ``p``, neuroids ``k``, repeats ``T``."""
    return {"n": int(2560 * scale), "p": int(2048 * scale), "k": int(168 * scale) // 2 * 2, "T": 40}


def make_shape(n: int, p: int, k: int, T: int, seed: int = 0, latent: int = 64) -> dict[str, np.ndarray]:
    """A synthetic problem of any size: features ``F`` (n, p) with a power-law spectrum over
    ``latent`` shared dims, neural ``R`` (n, k, T) = signal + noise, and two half-size layers
    ``FA``/``FB`` (n, p // 2) for model-to-model (built lazily by :func:`model_layers`)."""
    rng = np.random.default_rng(seed)
    latent = min(latent, n)
    Z = rng.normal(size=(n, latent)) * (np.arange(1, latent + 1) ** -0.5)
    F = _layer(rng, Z, p)
    signal = Z @ rng.normal(size=(latent, k))
    signal /= signal.std(axis=0)
    R = signal[:, :, None] + 2.0 * rng.normal(size=(n, k, T))
    return {"F": F, "R": R, "Z": Z, "rng": rng}


def _layer(rng: np.random.Generator, Z: np.ndarray, units: int, block: int = 65536) -> np.ndarray:
    n, latent = Z.shape
    X = np.empty((n, units))
    for lo in range(0, units, block):  # a block of units at a time: bounded temporaries for wide layers
        hi = min(units, lo + block)
        X[:, lo:hi] = Z @ rng.normal(size=(latent, hi - lo))
        X[:, lo:hi] += 0.05 * rng.normal(size=(n, hi - lo)) * (np.arange(lo + 1, hi + 1) ** -0.5)
    return X


def model_layers(prob: dict[str, np.ndarray], p: int) -> tuple[np.ndarray, np.ndarray]:
    """Two layers of ``p // 2`` units from the problem's latent space (model-to-model)."""
    return _layer(prob["rng"], prob["Z"], p // 2), _layer(prob["rng"], prob["Z"], p // 2)


def make_problem(scale: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    """The reference problem (docs/design.md) at ``scale``: ``F``, ``R``, ``FA``, ``FB``."""
    shape = reference_shape(scale)
    prob = make_shape(**shape, seed=seed)
    FA, FB = model_layers(prob, shape["p"])
    return {"F": prob["F"], "R": prob["R"], "FA": FA, "FB": FB}


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux ``VmHWM``) so the peak counts from here on."""
    import gc

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    """Peak RSS (MiB) since the last :func:`_reset_peak` (``VmHWM``), else of the whole process."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------------------- one measurement
def stimulus_names(n: int, kind: str = "sorted") -> list[str]:
    """Stimulus ids of a benchmark problem. ``"sorted"`` (the default): zero-padded
    (``"stimulus00007"``), so the rows are already in neuroxr's canonical order (sorted ids), as
    reverse_pred's inputs are, and neither tool reorders. ``"unsorted"``: ``"stimulus7"``, whose
    string order is not the numeric one, so neuroxr pairs by id with one reordered copy of the inputs
    (reverse_pred is given them reordered, outside its timing)."""
    width = len(str(max(n - 1, 0))) if kind == "sorted" else 0
    return [f"stimulus{i:0{width}d}" for i in range(n)]


def worker(direction: str, impl: str, reps: int, seed: int, shape: dict[str, int], out: str) -> None:
    """Run one direction once (neuroxr or reverse_pred) on ``shape`` and print time and peak memory as JSON.

    ``shape`` holds ``n, p, k, T`` and optionally ``sub_targets``: score only the first that many
    targets (units in reverse, neuroids of B in inter-animal, units of B in model-to-model,
    neuroids in forward), for reverse_pred's extrapolated runs."""
    prob = make_shape(shape["n"], shape["p"], shape["k"], shape["T"])
    F, R = prob["F"], prob["R"]
    FA = FB = None
    if direction == "model_to_model":
        FA, FB = model_layers(prob, shape["p"])
    half = R.shape[1] // 2
    ids = stimulus_names(shape["n"], shape.get("ids", "sorted"))
    sub = shape.get("sub_targets")
    if sub:
        if direction == "forward":
            R = R[:, :sub]
        elif direction == "reverse":
            F = F[:, :sub]
        elif direction == "inter_animal":
            R = np.concatenate([R[:, :half], R[:, half : half + sub]], axis=1)
        else:
            FB = FB[:, :sub]
    del prob
    # libraries load before the baseline: the peak counts what the computation itself holds
    if impl == "neuroxr":
        import neuroxr as nx

        # lazy imports (the directions, xarray's duck-array modules, scipy.stats) happen here, as
        # reverse_pred's imports do, not in the timing: one call on a tiny problem
        tiny = np.random.default_rng(1).normal(size=(30, 4, 4))
        nx.forward(nx.features(tiny[:, :, 0]), nx.neural(tiny), reps=1)
        nx.inter_animal(nx.neural(tiny[:, :2]), nx.neural(tiny[:, 2:]), reps=1)
    else:
        import reverse_pred.correlation_metrics  # noqa: F401  (imports scikit-learn and scipy)
        import sklearn.linear_model  # noqa: F401
    _reset_peak()  # the inputs' construction (temporaries) must not count
    base = _rss_now_mb()
    if impl == "neuroxr":
        t0 = time.perf_counter()
        if direction == "forward":
            ds = nx.forward(nx.features(F, stimulus_id=ids), nx.neural(R, stimulus_id=ids), reps=reps, seed=seed, split="slots")
        elif direction == "reverse":
            ds = nx.reverse(nx.neural(R, stimulus_id=ids), nx.features(F, stimulus_id=ids), reps=reps, seed=seed, split="slots")
        elif direction == "inter_animal":
            ds = nx.inter_animal(nx.neural(R[:, :half], stimulus_id=ids), nx.neural(R[:, half:], stimulus_id=ids),
                                 reps=reps, seed=seed, split="slots")
        else:
            ds = nx.model_to_model(nx.features(FA, stimulus_id=ids), nx.features(FB, stimulus_id=ids), reps=1)
        elapsed = time.perf_counter() - t0
        ev = ds.ev.mean("rep").values
    else:
        import reverse_pred.correlation_metrics as cm

        gen = np.random.default_rng(seed)
        cm.np.random.default_rng = lambda *a, **k: gen  # the parity protocol
        from reverse_pred.model_to_model import compute_model_to_model
        from reverse_pred.model_to_monkey import compute_model_to_monkey
        from reverse_pred.monkey_to_model import compute_monkey_to_model
        from reverse_pred.monkey_to_monkey import compute_monkey_to_monkey

        # reverse_pred pairs stimuli by position: give it neuroxr's canonical order (sorted ids;
        # the identity for the default zero-padded ids)
        order = np.array(sorted(range(F.shape[0]), key=lambda i: ids[i]))
        F, R = F[order], R[order]
        if FA is not None:
            FA, FB = FA[order], FB[order]
        d = tempfile.mkdtemp()
        t0 = time.perf_counter()
        if direction == "forward":
            compute_model_to_monkey(F, R, d, reps=reps)
            name = "forward_ev.npy"
        elif direction == "reverse":
            compute_monkey_to_model(F, R, d, reps=reps)
            name = "reverse_ev.npy"
        elif direction == "inter_animal":
            compute_monkey_to_monkey(R[:, :half], R[:, half:], d, reps=reps)
            name = "monkey1_to_monkey2_ev.npy"
        else:
            compute_model_to_model(FA, FB, d, reps=reps)
            name = "model1_to_model2_ev.npy"
        elapsed = time.perf_counter() - t0
        ev = np.load(os.path.join(d, name))
    peak = _peak_mb()
    np.save(out, ev)
    print(json.dumps({"time": elapsed, "peak_mb": peak, "peak_over_inputs_mb": peak - base}))


def run_worker(direction: str, impl: str, reps: int, seed: int, shape: dict[str, int] | float,
               timeout: float | None = None) -> tuple[dict, np.ndarray]:
    """:func:`worker` in its own subprocess (``shape``: a dict of sizes or a reference scale).
    Returns its JSON report (``time``, ``peak_mb``, ``peak_over_inputs_mb``) and the EV array."""
    if not isinstance(shape, dict):
        shape = reference_shape(float(shape))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ev.npy")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", direction, impl, str(reps), str(seed), json.dumps(shape), out]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{impl} {direction} failed:\n{res.stderr[-3000:]}")
        info = json.loads(res.stdout.strip().splitlines()[-1])
        return info, np.load(out)


# ---------------------------------------------------------------------------- GEMM reference
def gemm_rate(n: int = 2048, repeats: int = 3) -> float:
    a, b = np.random.rand(n, n), np.random.rand(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _sizes(shape: dict[str, int] | float) -> tuple[int, int, int, int]:
    sh = shape if isinstance(shape, dict) else reference_shape(float(shape))
    return sh["n"], sh["p"], sh["k"], 10


def distinct_splits_drawn(direction: str, T: int, reps: int, seed: int = 0) -> int:
    """Distinct predictor splits among the ``reps`` drawn with ``seed`` (the draws' order of the
    direction, complete data), as :func:`neuroxr.kernels.splits.distinct_splits` counts them."""
    from neuroxr.kernels.splits import distinct_splits, draw_permutation

    rng = np.random.default_rng(seed)
    drawn = []
    for _ in range(reps):
        if direction == "inter_animal":
            draw_permutation(rng, T)  # the target animal's split comes first
        drawn.append(draw_permutation(rng, T))
    return len(distinct_splits(np.stack(drawn), symmetric=True)[0])


def flops(direction: str, shape: dict[str, int] | float, reps: int) -> float:
    """Floating-point operations of neuroxr's matrix products for one direction (whole run) on
    ``shape`` (sizes or a reference scale), following the forms neuroxr picks at that shape."""
    from neuroxr.kernels.ridge import _form_costs, operator_form

    n, p, k, folds = _sizes(shape)
    T = shape["T"] if isinstance(shape, dict) else 40
    n_te = n / folds
    n_tr = n - n_te
    hat_from_kernel = n**3 + folds * (n_te**3 / 3 + 2 * n_te * n_te * n)
    if direction == "forward":
        # complete data: the mean and half 1 per rep (half 2 follows linearly), or with fewer
        # repeats than reps every repeat and each target's T x T Gram of their predictions
        m = k * (1 + min(reps, T))
        grams = 2 * n * T * T * k if T < reps else 0
        form = operator_form(n, p, folds, 0.1, True, m)
        if form == "factored":  # Gram, per fold a down-date, a Cholesky solve; then 4 n p per column
            return 4 * n * p * p + folds * (p**3 / 3 + 2 * n_te * p * p) + 4 * n * (p + 1) * m + grams
        # the kernel X X^T is one triangle (syrk, backend.centred_gram): n^2 p, not the 2 n^2 p of _form_costs
        kernel = n * n * p if form in ("hat", "dual") else 0
        return _form_costs(n, p, folds, 0.1, True)[form] - kernel + 2 * n * n * m + grams
    if direction in ("reverse", "inter_animal"):
        kk, m = (k, p) if direction == "reverse" else (k // 2, k - k // 2)
        reps = distinct_splits_drawn(direction, T, reps)  # reps sharing a split share its fits
        if kk >= n_tr:  # slot kernels once; per design a hat operator from its kernel and S @ Y
            # the T kernels K_ss are one triangle each (syrk, n^2 kk), the T (T - 1) / 2 K_st full
            # products (2 n^2 kk): T^2 n^2 kk in all
            return T * T * n * n * kk + (1 + 2 * reps) * (hat_from_kernel + 2 * n * n * m)
        cross, block, gram = 2 * n * kk * m, 2 * n * (kk + 1) * m, 2 * n * kk * kk
        # the mean's cross-products (once, also the complement's reference); per rep half 1's
        # cross-products and the blocks of both halves (the folds' cross-products kept)
        return 2 * cross + block + gram + reps * (cross + 2 * (block + gram))
    half = p // 2  # model-to-model: one design, fold cross-products recomputed in the second pass
    return 2 * (2 * n * half * half + 2 * n * half * half) + folds * (half**3 / 3 + 2 * half * half * n_te) + 2 * n * (half + 1) * half


def kernel_rate(direction: str, shape: dict[str, int] | float, repeats: int = 5) -> tuple[float, float]:
    """GFLOP/s of the direction's dominant product, timed alone at the shape neuroxr runs it, and of
    a plain 2-D matmul of the same (M, K, N)."""
    n, p, k, folds = _sizes(shape)
    n_te = n // folds
    rng = np.random.default_rng(0)
    if direction == "forward":  # S @ [mean, half 1 of 4 reps]
        a, b = rng.random((n, n)), rng.random((n, 5 * k))
        fn, mkn = (lambda: a @ b), (n, n, 5 * k)
    elif direction in ("reverse", "inter_animal"):  # per fold: [Z, u] @ [B; y_mu] for both halves
        kk, m = (k, p) if direction == "reverse" else (k // 2, k // 2)
        a, b = rng.random((2, n_te, kk + 1)), rng.random((2, kk + 1, m))
        fn, mkn = (lambda: a @ b), (2 * n_te, kk + 1, m)
    else:  # per fold: the test cross-products D_te^T Y_te
        half = p // 2
        a, b = rng.random((n_te, half)), rng.random((n_te, half))
        fn, mkn = (lambda: a.T @ b), (half, n_te, half)
    M, K, N = mkn
    x, y = rng.random((M, K)), rng.random((K, N))
    return _rate(fn, 2 * M * K * N, repeats), _rate(lambda: x @ y, 2 * M * K * N, repeats)


def _rate(fn, work: float, repeats: int) -> float:
    """Best GFLOP/s of ``fn`` over ``repeats`` timings, each of enough calls to last ~0.2 s."""
    fn()
    calls = max(1, int(0.2 / max(_timed(fn), 1e-6)))
    best = min(_timed(lambda: [fn() for _ in range(calls)]) for _ in range(repeats))
    return work * calls / best / 1e9


def emit(text: str, out: str | None) -> None:
    """Print a benchmark's Markdown and, with ``--out``, write it there too."""
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--rp-reps", type=int, default=2, help="reps of the reverse_pred runs (time scaled to --reps)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--rp-repeats", type=int, default=2, help="runs of reverse_pred per direction (median)")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the problem (1 = reference size)")
    ap.add_argument("--directions", nargs="*", default=list(DIRECTIONS))
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        direction, impl, reps, seed, shape, out = args.worker
        worker(direction, impl, int(reps), int(seed), json.loads(shape), out)
        return

    rows = []
    for direction in args.directions:
        ours, theirs = [], []
        rp_reps = 1 if direction == "model_to_model" else args.rp_reps
        for i in range(max(args.repeats, args.rp_repeats)):  # interleaved
            if i < args.repeats:
                ours.append(run_worker(direction, "neuroxr", args.reps, i, args.scale)[0])
            if i < args.rp_repeats:
                theirs.append(run_worker(direction, "reverse_pred", rp_reps, i, args.scale)[0])
        # parity at reverse_pred's reps, same seed
        _, ev_ours = run_worker(direction, "neuroxr", rp_reps, 100, args.scale)
        _, ev_rp = run_worker(direction, "reverse_pred", rp_reps, 100, args.scale)
        t_ours = float(np.median([r["time"] for r in ours]))
        scale_to = (1 if direction == "model_to_model" else args.reps) / rp_reps
        # reverse_pred's model_to_model repeats the identical fit every rep: scale to --reps too
        if direction == "model_to_model":
            scale_to = args.reps
        t_rp = float(np.median([r["time"] for r in theirs])) * scale_to
        gflops = flops(direction, args.scale, args.reps) / t_ours / 1e9
        kernel, plain = kernel_rate(direction, args.scale)
        rows.append({
            "direction": direction,
            "neuroxr_s": t_ours,
            "reverse_pred_s": t_rp,
            "speedup": t_rp / t_ours,
            "neuroxr_peak_mb": float(np.median([r["peak_over_inputs_mb"] for r in ours])),
            "reverse_pred_peak_mb": float(np.median([r["peak_over_inputs_mb"] for r in theirs])),
            "gflops": gflops,
            "kernel_gflops": kernel,
            "plain_gflops": plain,
            "max_abs_ev_diff": float(np.nanmax(np.abs(ev_ours - ev_rp))),
            "max_rel_ev_diff": float(np.nanmax(np.abs(ev_ours - ev_rp) / np.abs(ev_rp))),
        })
        print(f"done {direction}: {rows[-1]}", file=sys.stderr, flush=True)
    rate = gemm_rate()
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}; plain float64 matmul 2048^3: {rate:.1f} GFLOP/s.",
        f"Problem scale {args.scale} (1 = reference), neuroxr reps={args.reps} (median of {args.repeats} runs), "
        f"reverse_pred reps={args.rp_reps} scaled linearly to {args.reps} (median of {args.rp_repeats} runs).",
        "Peak memory = peak RSS of the run's own process (reset after building the inputs and importing the "
        "library) minus its RSS then.",
        "",
        "Whole-run GFLOP/s = the run's matrix-product flops / its time (everything else included); dominant product = "
        "that direction's main product timed alone at the shape neuroxr runs it; same-size matmul = a plain 2-D "
        "matmul of the same (M, K, N).",
        "",
        "| direction | neuroxr (s) | reverse_pred (s) | speedup | neuroxr peak (MB) | reverse_pred peak (MB) | whole-run GFLOP/s | dominant product GFLOP/s | same-size matmul GFLOP/s | max abs EV diff | max rel EV diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['direction']} | {r['neuroxr_s']:.2f} | {r['reverse_pred_s']:.1f} | {r['speedup']:.1f}x | "
            f"{r['neuroxr_peak_mb']:.0f} | {r['reverse_pred_peak_mb']:.0f} | {r['gflops']:.1f} | {r['kernel_gflops']:.1f} | {r['plain_gflops']:.1f} | "
            f"{r['max_abs_ev_diff']:.1e} | {r['max_rel_ev_diff']:.1e} |"
        )
    text = "\n".join(lines)
    emit(text, args.out)


if __name__ == "__main__":
    main()
