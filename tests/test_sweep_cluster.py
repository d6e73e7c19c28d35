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


@pytest.mark.parametrize("named", ["command", "nothing", "missing"])
def test_worker_preload_shows_warnings_as_the_program_that_started_it_names(named):
    """A worker's preload installs the ``warnings.showwarning`` that the starting program names
    (``neuroxr sweep``: its one ``Warning: ...`` line, sets spelled as it spells them); unset, or naming
    nothing importable, Python's own display stays."""
    code = ("import os, warnings\n"
            "from neuroxr.cli.sweep import _quiet_workers\n"
            "from neuroxr.errors import NeuroxrWarning\n"
            "from neuroxr.sweep.cluster import WORKER_WARNINGS_ENV, dask_setup\n"
            f"named = {named!r}\n"
            "with _quiet_workers(False):\n"
            "    if named == 'missing':\n"
            "        os.environ[WORKER_WARNINGS_ENV] = 'neuroxr.cli.sweep:no_such_function'\n"
            "    elif named == 'nothing':\n"
            "        del os.environ[WORKER_WARNINGS_ENV]\n"
            "    dask_setup(None)\n"
            "warnings.warn('forward: features (net/l1) has\\n constant units', NeuroxrWarning)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stderr
    if named == "command":
        assert err == "Warning: forward: net.l1 has constant units\n"
    else:
        assert "NeuroxrWarning: forward: features (net/l1) has" in err and "Warning: forward: net.l1" not in err


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
    assert keeps_malloc_trim(300 * 2**20) and not keeps_malloc_trim("4GiB")
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


def test_the_trim_rule_reads_a_memory_limit_as_dask_does():
    """A fraction of the machine's memory and "auto" are per-worker sizes too (0.01 of it was taken for
    no limit, so a 241 MiB worker lost dask's trimming)."""
    from distributed.system import MEMORY_LIMIT

    from neuroxr.sweep.cluster import TRIM_BELOW_BYTES, keeps_malloc_trim, machine_cores

    assert keeps_malloc_trim(0.01) == (0.01 * MEMORY_LIMIT < TRIM_BELOW_BYTES)
    assert keeps_malloc_trim(2 * 2**30 / MEMORY_LIMIT / 2) and not keeps_malloc_trim(0.99 if MEMORY_LIMIT > 4 * 2**30 else 0)
    assert keeps_malloc_trim("auto") == (MEMORY_LIMIT / machine_cores() < TRIM_BELOW_BYTES)


def test_a_trim_value_an_earlier_nanny_left_in_this_process_is_not_inherited(monkeypatch):
    """Dask's nanny writes its pre-spawn variables into its parent's environment: after a small-worker
    sweep or a user's LocalCluster, every later embedded cluster's workers inherited 65536. A value the
    user set otherwise stays."""
    from neuroxr.sweep.cluster import _drop_nanny_leftovers, embedded_cluster

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as a nanny leaves it
    cluster = embedded_cluster(1, gpu=False, memory_limit="4GiB")
    try:
        with distributed.Client(cluster) as client:
            seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    finally:
        cluster.close()
    assert list(seen.values()) == [None] and "MALLOC_TRIM_THRESHOLD_" not in os.environ
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own
    _drop_nanny_leftovers()
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "131072"


def test_a_closed_client_or_cluster_is_refused_in_one_line(sweep_copy):
    """A closed Client raised dask's ClosedClientError, a closed cluster a RuntimeError."""
    from neuroxr.errors import SweepConfigError

    path = sweep_copy()
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    client = distributed.Client(cluster)
    client.close()
    with pytest.raises(SweepConfigError, match=r"^sweep: client Client is closed; pass an open Client"):
        sweep(path, client=client, progress=False, **KW)
    cluster.close()
    with pytest.raises(SweepConfigError, match=r"^sweep: client LocalCluster is closed; "):
        sweep(path, client=cluster, progress=False, **KW)


def test_a_task_whose_workers_died_says_memory_and_what_to_do():
    """dask's KilledWorker said to inspect the worker logs, and the sweep's line to re-run (which fails
    the same way)."""
    from distributed.scheduler import KilledWorker

    from neuroxr.sweep.cluster import failure_text

    text = failure_text(KilledWorker("neuroxr-reverse", "tcp://127.0.0.1:1", 3), "300MiB")
    assert text.startswith("KilledWorker: every worker that ran it died, most often for lack of memory (memory_limit='300MiB')")
    assert "--memory-limit" in text and "\n" not in text
    assert failure_text(ValueError("x")) == "ValueError: x"


def test_a_failed_entry_on_the_embedded_cluster_is_one_line(sweep_copy, tmp_path):
    """A worker logged "Compute Failed" with the task's traceback on the command's stderr (with --quiet
    too); the sweep names the failed entry in its one line."""
    path = sweep_copy()
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [netA]\nlayers: [layer3]\nneural: [animalA]\ndirections: [forward]\nreps: 2\n")
    env = {**os.environ, "NEUROXR_SWEEP_FAIL": "forward/*"}
    for extra in ([], ["--quiet"]):
        proc = subprocess.run([sys.executable, "-m", "neuroxr.cli", "sweep", str(path), str(cfg), "--workers", "1",
                               "--no-progress", *extra], capture_output=True, text=True, env=env, timeout=300)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
        assert "injected failure" in lines[0]


def test_a_warning_on_the_embedded_cluster_is_the_commands_one_line(tmp_path):
    """A task's warning on the embedded cluster's workers printed as Python's two lines, naming a file of dask's
    and the library's spelling of the set (``features (net/l1)``), where the serial run prints the command's
    ``Warning: ...`` line; the workers of ``neuroxr sweep`` now print that same line."""
    from conftest import latent_sets

    from neuroxr.store import StudyStore

    f1, _, neu = latent_sets(n_stimuli=20, n_neuroids=4)
    values = f1.values.copy()
    values[:, 0] = 3.0  # a constant unit: the reverse direction warns of it
    store = StudyStore(tmp_path / "study.zarr")
    store.write_features("net", "l1", f1.copy(data=values))
    store.write_neural("mA", neu)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("directions: [reverse]\nreps: 2\n")

    def warned(*flags):
        proc = subprocess.run([sys.executable, "-m", "neuroxr.cli", "sweep", store.url, str(cfg), "--no-progress", "--json",
                               "--overwrite", *flags], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return [ln for ln in proc.stderr.splitlines() if ln.strip()]

    serial = warned("--scheduler", "serial")
    assert len(serial) == 1 and serial[0].startswith("Warning: reverse: net.l1: 1 units are constant"), serial
    assert warned("--workers", "1") == serial
