"""Sweep benchmarks: strong scaling on a LocalCluster and an out-of-core forward run.

(a) Strong scaling: the same CPU-bound sweep (forward + reverse over every layer of the default
    synthetic study x both animals: 44 entries) serially in this process (``client="serial"``, one
    BLAS thread) and on the sweep's embedded LocalCluster with 1 and 2 single-threaded workers, each
    time on a fresh copy of the store, in ``--rounds`` interleaved rounds. The cluster is started
    before the clock starts; "task phase" is the sweep's ``seconds``, "total" adds gathering.
(b) A layer ``--oc-factor`` (5) times a worker's ``--memory-limit-mib`` (300 MiB) is written to a
    Zarr store with units chunked and scored (forward + CKA) by a sweep on the embedded cluster
    with ``--oc-workers`` (2) workers of that limit: the Gram is reduced across the workers (a tree
    over the unit chunks). Reported: the workers' idle and peak RSS (VmHWM), and the EVs against
    the same forward from a Gram accumulated chunk by chunk in this process.
(c) Worker settings: allocation-heavy NumPy code in a fresh process with glibc's defaults (what
    the embedded cluster's workers get) and with dask's nanny default ``MALLOC_TRIM_THRESHOLD_=65536``;
    and the time and peak RSS of ``import neuroxr`` in a fresh process (a worker's import footprint).

Usage::

    python benchmarks/sweep.py [--quick] [--only scaling|ooc|worker] [--rounds 2] [--out benchmarks/RESULTS_sweep.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time

import numpy as np


def machine() -> str:
    import dask
    import distributed

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return (f"{cpu}; {cores} cores; {mem:.0f} GiB RAM; Python {platform.python_version()}; numpy {np.__version__}; "
            f"dask {dask.__version__}; distributed {distributed.__version__}; load average at start {load:.1f}")


def scaling(tmp: str, quick: bool, rounds: int = 1) -> list[list[str]]:
    """Serial (``client="serial"``, this process, one BLAS thread) against the sweep's embedded
    LocalCluster with 1 and 2 single-threaded workers, on fresh copies of one store; ``rounds``
    interleaved rounds (serial, 1 worker, 2 workers, serial, ...), best time of each reported."""
    from distributed import Client

    from neuroxr.datasets.synthetic import write_example_study
    from neuroxr.store import StudyStore
    from neuroxr.sweep import sweep
    from neuroxr.sweep.cluster import embedded_cluster

    base = os.path.join(tmp, "scaling.zarr")
    kw = {"n_stimuli": 200, "animals": {"animalA": 60, "animalB": 40}} if quick else {}
    write_example_study(base, seed=0, **kw)
    reps = 4 if quick else 20
    import neuroxr.predictivity  # noqa: F401  (imports before the clock, as the workers below)

    runs = {"serial": [], "1": [], "2": []}
    loads = []
    results = {}
    for r in range(rounds):
        for mode in runs:
            path = os.path.join(tmp, f"scaling-{mode}-{r}.zarr")
            shutil.copytree(base, path)
            loads.append(os.getloadavg()[0])
            if mode == "serial":
                t0 = time.perf_counter()
                res = sweep(path, directions=["forward", "reverse"], client="serial", reps=reps, seed=0, progress=False)
                total = time.perf_counter() - t0
            else:
                # the sweep's own embedded cluster (its worker settings: one BLAS thread, no forced malloc trimming)
                with embedded_cluster(int(mode), gpu=False, memory_limit=None) as cluster, Client(cluster) as client:
                    client.run(lambda: bool(__import__("neuroxr.predictivity")))  # imports before the clock
                    t0 = time.perf_counter()
                    res = sweep(path, directions=["forward", "reverse"], client=client, reps=reps, seed=0, progress=False)
                    total = time.perf_counter() - t0
            runs[mode].append((res.seconds, total, sum(v["seconds"] for v in res.task_info.values())))
            results[mode] = (path, res)
            print(f"round {r}: {mode}: task phase {res.seconds:.1f} s (load {loads[-1]:.1f})", flush=True)
    ref_path, ref = results["serial"]
    a = StudyStore(ref_path, mode="r")
    pa = ref.table.set_index("key")["path"]
    rows = []
    best_serial = min(x[0] for x in runs["serial"])
    for mode, label in (("serial", "serial (client='serial', 1 BLAS thread)"), ("1", "1 worker x 1 thread"),
                        ("2", "2 workers x 1 thread")):
        best = min(runs[mode], key=lambda x: x[0])
        path, res = results[mode]
        b = StudyStore(path, mode="r")
        pb = res.table.set_index("key")["path"]
        diff = max(float(np.nanmax(np.abs(a.read_dataset(pa[k])["ev"].values - b.read_dataset(pb[k])["ev"].values)))
                   for k in pa.index)
        workers = 1 if mode == "serial" else int(mode)
        rows.append([label, str(len(res.computed)), f"{best[2]:.1f}", " / ".join(f"{x[0]:.1f}" for x in runs[mode]),
                     f"{best[1]:.1f}", f"{best_serial / best[0]:.2f}", f"{best[2] / (workers * best[0]):.2f}",
                     "-" if mode == "serial" else f"{diff:.1e}"])
    rows.append(["load average (1 min) at the start of each run", "", "", " ".join(f"{x:.1f}" for x in loads), "", "", "",
                 ""])
    return rows


_MALLOC_PROBE = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal((500, 1000))  # 4 MB
t = time.perf_counter()
for i in range(400):
    b = a * 2.0 + 1.0  # fresh 4 MB temporaries, freed each iteration
    c = np.sqrt(np.abs(b))
    s = c.sum()
print(time.perf_counter() - t)
"""

_IMPORT_PROBE = """
import sys, time
import distributed
t = time.perf_counter()
import {module}
hwm = [int(x.split()[1]) / 1024 for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
print(time.perf_counter() - t, hwm, len(sys.modules))
"""


def worker_settings(quick: bool) -> list[list[str]]:
    """(c) What a worker pays: the nanny's MALLOC_TRIM_THRESHOLD_=65536 on allocation-heavy NumPy
    code (fresh processes, one BLAS thread), and the cost of ``import neuroxr`` in a fresh process."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    runs = 1 if quick else 3

    def best(code: str, extra: dict[str, str]) -> list[float]:
        outs = [subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                               check=True).stdout.split() for _ in range(runs)]
        return [min(float(o[i]) for o in outs) for i in range(len(outs[0]))]

    plain = best(_MALLOC_PROBE, {})[0]
    trim = best(_MALLOC_PROBE, {"MALLOC_TRIM_THRESHOLD_": "65536"})[0]
    rows = [
        ["elementwise work on fresh 4 MB arrays, glibc defaults (the embedded cluster)", f"{plain:.2f} s"],
        ["same with MALLOC_TRIM_THRESHOLD_=65536 (dask's nanny default)", f"{trim:.2f} s ({trim / plain:.1f}x)"],
    ]
    for module, what in (("neuroxr", "import neuroxr"),
                         ("neuroxr.sweep.tasks", "import neuroxr.sweep.tasks (what a worker imports to unpickle a task)"),
                         ("neuroxr.kernels.gram, zarr, dask.array", "the chunk tasks of a spread Gram (kernels.gram, zarr, dask.array)")):
        seconds, rss, modules = best(_IMPORT_PROBE.format(module=module), {})
        rows.append([f"{what}, after distributed, fresh process",
                     f"{seconds:.2f} s, peak RSS {rss:.0f} MiB (distributed alone ~60), {modules:.0f} modules"])
    return rows


def _structured_block(block_info=None, n: int = 0, p_chunk: int = 0, latent: np.ndarray | None = None) -> np.ndarray:
    loc = block_info[None]["chunk-location"][1]
    rng = np.random.default_rng([7, loc])
    width = block_info[None]["chunk-shape"][1]
    A = rng.normal(size=(latent.shape[1], width))
    return latent @ A + 2.0 * rng.normal(size=(latent.shape[0], width))


def _vm_hwm_mib() -> float:
    """Peak RSS of this process (Linux VmHWM, reset at exec; ru_maxrss keeps the parent's peak)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _vm_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def out_of_core(tmp: str, quick: bool, factor: float, memory_limit_mib: int, n_workers: int = 2
                ) -> tuple[list[list[str]], dict]:
    import dask.array as da
    import xarray as xr
    from distributed import Client

    from neuroxr.datasets.synthetic import make_study
    from neuroxr.kernels.gram import gram_chunks
    from neuroxr.predictivity import forward
    from neuroxr.store import StudyStore
    from neuroxr.sweep import sweep
    from neuroxr.sweep.cluster import embedded_cluster, keeps_malloc_trim

    n = 400 if quick else 1000
    study = make_study(seed=0, n_stimuli=n, animals={"animalA": 60}, n_repeats=24, models={"netA": (("layer3", 64, 1.0, 0),)})
    latent = np.asarray(study.features["netA"]["layer3"].values)
    limit = memory_limit_mib * 2**20
    p = int(factor * limit / (8 * n))
    unit_chunk = max(256, int(16 * 2**20 / (8 * n)))
    path = os.path.join(tmp, "ooc.zarr")
    store = StudyStore(path)
    store.write_neural("animalA", study.neural["animalA"])
    darr = da.map_blocks(_structured_block, dtype=np.float64, chunks=((n,), tuple(
        min(unit_chunk, p - s) for s in range(0, p, unit_chunk))), latent=latent)
    feats = xr.DataArray(darr, dims=("stimulus", "unit"), coords={
        "stimulus_id": ("stimulus", study.neural["animalA"].stimulus_id.values),
        "unit_id": ("unit", np.char.add("u", np.arange(p).astype(str)))})
    t0 = time.perf_counter()
    import dask

    with dask.config.set(scheduler="threads"):
        store.write_features("big", "layer", feats, unit_chunk=unit_chunk)
    t_write = time.perf_counter() - t0
    nbytes = n * p * 8
    del feats, darr
    # the sweep's own embedded cluster with that memory limit (Gram spread over the workers: the layer is
    # more than a quarter of a worker's limit)
    with embedded_cluster(n_workers, gpu=False, memory_limit=limit) as cluster, Client(cluster) as client:
        idle = client.run(_vm_rss_mib)
        t0 = time.perf_counter()
        res = sweep(path, directions=["forward", "cka"], client=client, reps=4, seed=0, progress=False)
        t_sweep = time.perf_counter() - t0
        peaks = client.run(_vm_hwm_mib)
        restarted = len(peaks) != n_workers
    streamed = StudyStore(path, mode="r").read_dataset(res.table.set_index("key").at["forward/big.layer__animalA", "path"]).load()
    # the same forward in this process from a Gram accumulated here chunk by chunk (exact reference)
    t0 = time.perf_counter()
    lazy = store.read_features("big", "layer")
    ref_gram = gram_chunks(lazy.data[:, s: s + unit_chunk].compute(scheduler="sync") for s in range(0, p, unit_chunk))
    ref = forward(lazy, study.neural["animalA"], reps=4, seed=0, gram=ref_gram)
    t_mem = time.perf_counter() - t0
    diff = float(np.nanmax(np.abs(streamed["ev"].values - ref["ev"].values)))
    rows = [
        ["features", f"{n} stimuli x {p} units float64 = {nbytes / 2**30:.2f} GiB, chunks of {unit_chunk} units "
                     f"({n * unit_chunk * 8 / 2**20:.1f} MiB)"],
        ["workers", f"{n_workers} x 1 thread, memory_limit {memory_limit_mib} MiB each (features = {nbytes / limit:.1f}x "
                    f"the limit); malloc trimming kept: {keeps_malloc_trim(limit)}"],
        ["write to Zarr", f"{t_write:.1f} s"],
        ["sweep: Gram spread over the workers + forward + CKA", f"{t_sweep:.1f} s, {len(res.computed)} entries, "
                                                                f"failed {len(res.failed)}, worker restarted: {restarted}"],
        ["worker RSS idle (after start)", ", ".join(f"{v:.0f}" for v in idle.values()) + " MiB"],
        ["worker peak RSS (VmHWM)", ", ".join(f"{v:.0f}" for v in peaks.values()) + f" MiB (pause at 80 % = "
                                                                                   f"{0.8 * memory_limit_mib:.0f} MiB)"],
        ["reference: Gram streamed chunk by chunk in this process + forward", f"{t_mem:.1f} s"],
        ["max |EV sweep - EV reference|", f"{diff:.2e} (percent points); median EV {float(np.nanmedian(ref['ev'].mean('rep'))):.2f}"],
    ]
    return rows, {"diff": diff}


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--out", default=None, help="write the results as Markdown here")
    ap.add_argument("--oc-factor", type=float, default=5.0, help="feature bytes / worker memory limit")
    ap.add_argument("--memory-limit-mib", type=int, default=300, help="worker memory limit of the out-of-core run")
    ap.add_argument("--oc-workers", type=int, default=2, help="workers of the out-of-core run")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the scaling runs")
    ap.add_argument("--skip", choices=["scaling", "ooc"], default=None)
    ap.add_argument("--only", choices=["scaling", "ooc", "worker"], default=None, help="run one part only")
    args = ap.parse_args()
    desc = machine()
    print(desc)
    parts = [f"# Sweep benchmarks\n\nMachine: {desc}\n\nCommand: `python benchmarks/sweep.py{' --quick' if args.quick else ''}`\n"]
    with tempfile.TemporaryDirectory(prefix="neuroxr-bench-") as tmp:
        run = (lambda part: args.only == part) if args.only else (lambda part: args.skip != part)
        if run("scaling"):
            rows = scaling(tmp, args.quick, args.rounds)
            t = table(["run", "entries", "task seconds (sum)", "task phase s (each round)", "total s (best)",
                       "speed-up vs serial (best)", "busy (task s / (workers x phase))", "max |EV diff| vs serial"],
                      rows)
            print(t)
            parts.append("## (a) Strong scaling: forward + reverse, every layer x both animals\n\n"
                         + ("reps=4, 200 stimuli" if args.quick else "reps=20, 400 stimuli, 11 layers x 2 animals x 2 directions = 44 entries")
                         + "; the speed-up is on the task phase (the cluster is started before the clock), against the "
                         "serial run in this process; runs interleaved, best of the rounds.\n\n" + t + "\n")
        if run("ooc"):
            rows, _ = out_of_core(tmp, args.quick, args.oc_factor, args.memory_limit_mib, args.oc_workers)
            t = table(["out-of-core forward", "value"], rows)
            print(t)
            parts.append("## (b) A layer 5x a worker's memory limit: Gram reduced across the workers, forward + CKA\n\n" + t + "\n")
        if run("worker"):
            t = table(["worker settings", "time"], worker_settings(args.quick))
            print(t)
            parts.append("## (c) Worker settings: malloc trimming and the import footprint\n\n" + t + "\n")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(parts))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
