"""Clusters: a scheduler lost mid-sweep ends in one line and a re-run resumes; Ctrl-C on the
embedded cluster is one line; the embedded cluster's worker settings (no forced malloc trimming,
one BLAS thread)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
from click.testing import CliRunner

from neuroxr.cli.sweep import sweep_command
from neuroxr.entries import list_entries
from neuroxr.sweep import SweepError, sweep

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

KW = dict(models=["netA"], layers=["layer3"], directions=["forward", "reverse"], reps=2)  # 4 entries


def _written(path):
    df = list_entries(path)
    df = df[df["complete"] & df["path"].str.startswith("scores/")]
    return {f"{r.kind}/{r.source}__{r.target}" for r in df.itertuples()}


def test_lost_scheduler_is_one_line_and_a_rerun_resumes(sweep_copy):
    path = sweep_copy()
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
        address = cluster.scheduler_address
        finished = []

        def close_after_first(key):
            finished.append(key)
            if len(finished) == 1:
                cluster.close()

        with pytest.raises(SweepError) as info:
            sweep(path, client=address, progress=close_after_first, **KW)
    err = info.value
    msg = str(err)
    assert "\n" not in msg and msg.startswith(f"lost the Dask scheduler at {address!r}") and "a re-run resumes" in msg
    assert err.computed == finished[:1] and len(err.failed) == 3 and not set(err.failed) & set(finished)
    written = _written(path)  # what this run saw finish, and maybe a task that finished as the scheduler went
    assert set(err.computed) <= written and written <= set(err.computed) | set(err.failed)
    again = sweep(path, client="serial", progress=False, **KW)
    assert sorted(again.computed) == sorted(set(err.failed) - written) and sorted(again.skipped) == sorted(written)


def test_cli_lost_scheduler_exits_1_with_one_line(sweep_copy, tmp_path, monkeypatch):
    from neuroxr.sweep import run

    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer3]\ndirections: [forward, reverse]\nreps: 2\n")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
        update = run._Progress.update

        def close_after_first(self, key, failed):
            update(self, key, failed)
            if self.done == 1:
                cluster.close()

        monkeypatch.setattr(run._Progress, "update", close_after_first)
        res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", cluster.scheduler_address,
                                                 "--no-progress"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert lines[0].startswith("Error: lost the Dask scheduler at") and "re-run resumes" in lines[0]
    monkeypatch.undo()
    res = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0 and "4 entries: " in res.output and "0 computed" not in res.output, res.output
    assert len(_written(path)) == 4


def _interrupt(proc, ready, poll: float, group: bool, delay: float = 0.0, sig: int = signal.SIGINT) -> str:
    """Send SIGINT to the command ``proc`` (``group``: its whole process group, as a terminal's
    Ctrl-C) once ``ready()`` holds (checked every ``poll`` s, at most 120 s) and ``delay`` s more;
    its stderr once it exits (killed if it hangs)."""
    kill = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(poll)
        time.sleep(delay)
        kill(sig)
        return proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            kill(signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("group, sig", [(False, signal.SIGINT), (True, signal.SIGINT), (False, signal.SIGTERM)],
                         ids=["command", "process-group", "sigterm"])
def test_ctrl_c_on_the_embedded_cluster_is_one_line(sweep_copy, tmp_path, group, sig):
    """Ctrl-C while the embedded cluster runs tasks: exit status 130 and neuroxr's one line, never the
    log lines or tracebacks of the closing cluster and its workers, whether SIGINT reaches the command
    only (kill -INT) or, as a terminal's Ctrl-C, its whole process group (the workers too). SIGTERM (a
    batch system's time limit) the same, with its status (143); before, the command died silently."""
    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nneural: [animalA, animalB]\ndirections: [forward, reverse]\nreps: 400\n")
    proc = subprocess.Popen([sys.executable, "-m", "neuroxr.cli", "sweep", str(path), str(cfg), "--workers", "2",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    # once the cluster runs tasks: the first entry is written, the others still run
    err = _interrupt(proc, lambda: _written(path), 0.2, group, sig=sig)
    said, status = ("Terminated (SIGTERM)", 143) if sig == signal.SIGTERM else ("Interrupted (Ctrl-C)", 130)
    assert proc.returncode == status, err
    assert err.splitlines() == [f"{said}; complete entries and sets are kept: run the command again to go on."], err
    assert 0 < len(_written(path)) < 8


def test_ctrl_c_while_the_embedded_cluster_starts_is_one_line(sweep_copy, tmp_path):
    """Ctrl-C as the embedded cluster's first worker process starts: neuroxr's one line, never the
    traceback of dask's exit hook closing the half-started cluster."""
    psutil = pytest.importorskip("psutil")
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n")
    proc = subprocess.Popen([sys.executable, "-m", "neuroxr.cli", "sweep", str(sweep_copy()), str(cfg), "--workers", "2",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    me = psutil.Process(proc.pid)
    err = _interrupt(proc, lambda: [c for c in me.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())],
                     0.02, group=False)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["Interrupted (Ctrl-C); complete entries and sets are kept: run the command again to go on."], err


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.1, 0.5], ids=["first-imports", "dask-imports"])
def test_ctrl_c_while_the_workers_import_is_one_line(sweep_copy, tmp_path, delay):
    """A terminal's Ctrl-C (SIGINT to the whole process group) while the embedded cluster's worker
    processes still start their interpreter or import dask: exit status 130 and neuroxr's one line,
    never a worker's KeyboardInterrupt traceback from inside its imports."""
    psutil = pytest.importorskip("psutil")
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n")
    proc = subprocess.Popen([sys.executable, "-m", "neuroxr.cli", "sweep", str(sweep_copy()), str(cfg), "--workers", "2",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    me = psutil.Process(proc.pid)
    err = _interrupt(proc, lambda: [c for c in me.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())],
                     0.01, group=True, delay=delay)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["Interrupted (Ctrl-C); complete entries and sets are kept: run the command again to go on."], err


def _blocks_sigint() -> bool:
    """Whether the calling thread has SIGINT blocked."""
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_gpu_cluster_gets_the_quiet_ctrl_c_preload(monkeypatch):
    """dask-cuda's cluster (one worker per GPU) starts with the same preload (Ctrl-C mutes a worker),
    worker environment and SIGINT-blocking event loop as the CPU cluster: checked on its
    construction arguments, without a GPU."""
    import types

    from neuroxr.sweep import cluster as cl

    made = {}

    def fake(kind):
        def construct(**kw):
            made[kind] = dict(kw, environ=dict(dask.config.get("distributed.nanny.pre-spawn-environ")),
                              loop_blocks=distributed.utils.sync(kw["loop"], _async(_blocks_sigint)) if "loop" in kw else None)
            return kind
        return construct

    monkeypatch.setitem(sys.modules, "dask_cuda", types.SimpleNamespace(LocalCUDACluster=fake("gpu")))
    monkeypatch.setattr(distributed, "LocalCluster", fake("cpu"))
    assert cl.embedded_cluster(None, gpu=True, memory_limit="4GiB") == "gpu"
    assert cl.embedded_cluster(2, gpu=False, memory_limit="4GiB") == "cpu"
    gpu, cpu = made["gpu"], made["cpu"]
    assert cpu["preload"][-1] == "neuroxr.sweep.cluster" and gpu["preload"] == cpu["preload"]
    assert gpu["environ"] == cpu["environ"] and gpu["threads_per_worker"] == 1 and "n_workers" not in gpu  # one per GPU
    assert gpu["loop_blocks"] is cpu["loop_blocks"] is (hasattr(signal, "pthread_sigmask") or None)


def _async(fn):
    async def run():
        return fn()
    return run


def test_embedded_cluster_worker_settings():
    from neuroxr.sweep.cluster import _pre_spawn_environ, embedded_cluster, keeps_malloc_trim
    from neuroxr.sweep.tasks import _TaskEnv

    assert "MALLOC_TRIM_THRESHOLD_" in dask.config.get("distributed.nanny.pre-spawn-environ")  # dask's default
    assert "MALLOC_TRIM_THRESHOLD_" not in _pre_spawn_environ()
    # small workers keep dask's trimming (memory matters more than speed there)
    assert _pre_spawn_environ("300MiB")["MALLOC_TRIM_THRESHOLD_"] == 65536
    assert keeps_malloc_trim(300 * 2**20) and not keeps_malloc_trim("4GiB") and not keeps_malloc_trim("auto")
    assert not keeps_malloc_trim(None) and not keeps_malloc_trim(0)
    parent = os.environ.get("MALLOC_TRIM_THRESHOLD_")

    def in_task():
        from threadpoolctl import threadpool_info

        with _TaskEnv(1):
            threads = {p["num_threads"] for p in threadpool_info()}
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS"), threads

    cluster = embedded_cluster(1, gpu=False, memory_limit="4GiB")
    try:
        # the thread that spawns the workers blocks SIGINT (they start with it blocked); their preload unblocks it
        loop_blocks = distributed.utils.sync(cluster.loop, _async(_blocks_sigint))
        with distributed.Client(cluster) as client:
            trim, omp, threads = client.submit(in_task, pure=False).result()
            sigint = client.run(lambda: getattr(signal.getsignal(signal.SIGINT), "__name__", None))
            worker_blocks = client.run(_blocks_sigint)
    finally:
        cluster.close()
    assert list(sigint.values()) == ["mute_logs"]  # Ctrl-C reaching a worker mutes it (the sweep closes it)
    assert loop_blocks and list(worker_blocks.values()) == [False] and not _blocks_sigint()
    assert trim == parent  # inherited, never forced to dask's 65536
    assert omp == "1" and threads <= {1}


def test_worker_store_cache_is_a_quarter_of_its_memory_limit():
    """A worker's cached store (object stores: small groups in memory) stays within a quarter of the
    worker's memory limit; outside a worker the store's default applies."""
    from neuroxr.sweep.tasks import _worker_cache_bytes

    assert _worker_cache_bytes() is None
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                       memory_limit="400MiB")
    with cluster, distributed.Client(cluster) as client:
        assert client.submit(_worker_cache_bytes, pure=False).result() == 100 * 2**20  # in a task, as _open runs


def test_workers_started_by_hand_that_share_a_gpu_are_named(monkeypatch):
    """Workers started by hand on one machine all ran a GPU backend's tasks on GPU 0, silently."""
    import distributed

    from neuroxr.errors import NeuroxrWarning
    from neuroxr.sweep import cluster as C

    seen = {}

    def probe(devices):  # each worker's (host, GPU, GPUs seen): GPU by the worker's rank
        def fake(dask_worker):  # (client.run passes the worker to a function that takes it)
            rank = sorted(seen).index(dask_worker.address)
            return "node1", str(devices[rank]), 4
        return fake

    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=False, dashboard_address=":0") as lc, \
            distributed.Client(lc) as client:
        seen.update(client.scheduler_info()["workers"])
        assert C.gpu_probe()[1:] == (os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0], C.gpu_probe()[2])
        monkeypatch.setattr(C, "gpu_probe", probe([0, 0, 1]))
        with pytest.warns(NeuroxrWarning, match=r"sweep: 2 workers on node1 \(.+, .+\) all run on its GPU 0, though they see 4; "
                                                r"start them with `dask cuda worker`"):
            C.connect(client, None, True, None)
        monkeypatch.setattr(C, "gpu_probe", probe([0, 1, 2]))  # one GPU each: nothing to say
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            C.connect(client, None, True, None)
            C.connect(client, None, False, None)  # a CPU backend: not asked
