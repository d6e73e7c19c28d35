"""Object-store benchmark: the same small sweep on local disk and on an S3-compatible server.

A moto S3 server runs on loopback (``moto.server.ThreadedMotoServer``, a free port); the example
study (``--n-stimuli`` stimuli, default 400: 2 animals, 11 layers, i.e. 44 forward + reverse
entries) is written to a local folder and to ``s3://bench/study.zarr``; then the sweep
(``client="serial"``, ``--reps`` split-half repetitions) runs on each, interleaved
``--repeats`` times (local, s3, local, s3 ...) on fresh copies, and prints the times, the ratio
s3 / local (target <= 2) and the requests the server answered per entry (counted by a WSGI
middleware around the server). The tables of both runs must be equal.

Usage::

    python benchmarks/objstore.py [--n-stimuli 400] [--reps 2] [--repeats 2]

Needs ``moto[server]`` and ``s3fs`` (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import platform
import shutil
import tempfile
import time

import numpy as np


class RequestLog:
    def __init__(self, app):
        self.app, self.requests = app, []

    def __call__(self, environ, start_response):
        self.requests.append(environ["REQUEST_METHOD"])
        return self.app(environ, start_response)


def machine() -> str:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import fsspec
    import s3fs
    import zarr

    return (f"{cpu}; {cores} cores; Python {platform.python_version()}; zarr {zarr.__version__}; "
            f"fsspec {fsspec.__version__}; s3fs {s3fs.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-stimuli", type=int, default=400)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    log = RequestLog(srv._server.app)
    srv._server.app = log
    host, port = srv.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "bench", "secret": "bench"}
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    fs.mkdir("bench")

    from neuroxr.datasets.synthetic import write_example_study
    from neuroxr.store import StudyStore
    from neuroxr.sweep import sweep

    print(f"machine: {machine()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    tmp = tempfile.mkdtemp()
    base = os.path.join(tmp, "base.zarr")
    write_example_study(base, seed=0, n_stimuli=args.n_stimuli)
    n0 = len(log.requests)
    t0 = time.perf_counter()
    write_example_study(StudyStore("s3://bench/base.zarr", storage_options=options), seed=0, n_stimuli=args.n_stimuli)
    print(f"writing the sets to s3: {time.perf_counter() - t0:.1f} s, {len(log.requests) - n0} requests")
    kw = dict(directions=["forward", "reverse"], client="serial", reps=args.reps, seed=0, progress=False)
    times: dict[str, list[float]] = {"local": [], "s3": []}
    per_entry, methods, tables = [], collections.Counter(), {}
    for i in range(args.repeats):
        local = os.path.join(tmp, f"local{i}.zarr")
        shutil.copytree(base, local)
        t0 = time.perf_counter()
        res = sweep(local, **kw)
        times["local"].append(time.perf_counter() - t0)
        tables["local"] = res.table
        url = f"s3://bench/run{i}.zarr"
        fs.copy("bench/base.zarr", f"bench/run{i}.zarr", recursive=True)
        n0 = len(log.requests)
        t0 = time.perf_counter()
        res = sweep(url, storage_options=options, **kw)
        times["s3"].append(time.perf_counter() - t0)
        tables["s3"] = res.table
        per_entry.append((len(log.requests) - n0) / len(res.computed))
        methods.update(log.requests[n0:])
        print(f"repeat {i}: local {times['local'][-1]:.1f} s, s3 {times['s3'][-1]:.1f} s, "
              f"{per_entry[-1]:.1f} requests per entry ({len(res.computed)} entries)")
    a, b = (tables[k].sort_values(["direction", "model", "layer", "neural"]).select_dtypes("number").to_numpy(float)
            for k in ("local", "s3"))
    equal = np.allclose(a, b, rtol=1e-10, equal_nan=True)
    tl, ts = min(times["local"]), min(times["s3"])
    print(f"best of {args.repeats}: local {tl:.1f} s, s3 {ts:.1f} s, ratio {ts / tl:.2f} (target <= 2); "
          f"requests per entry {np.mean(per_entry):.1f} ({dict(methods)}); tables equal: {equal}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
