"""The benchmark scripts run against the library as it is (a tiny problem each; no timing is checked:
speed is measured by the scripts themselves, benchmarks/RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script, args", [
    ("inference.py", ["--scale", "0.05", "--no-rsa", "--n-boot", "5", "--n-perm", "5", "--reps", "2"]),
    ("time_bins.py", ["--scale", "0.05", "--bins", "3", "--reps", "2", "--repeats", "1"]),
    ("geometry.py", ["--n", "40", "--p", "20", "--repeats", "1", "--out", "{tmp}/geometry.md"]),
    ("shape_metrics.py", ["--sizes", "8x40", "--n-boot", "2", "--out", "{tmp}/shape.md"]),
    ("crsa_layers.py", ["--scales", "0.01", "--layers", "2", "--reps", "2"]),
    ("euclidean_rdm.py", ["--shapes", "30x20", "--repeats", "1"]),
])
def test_benchmark_script_runs(script, args, tmp_path):
    """A script that no longer matches the library's internals (an attribute renamed under it) fails
    here, not when someone next measures."""
    cmd = [sys.executable, str(BENCH / script), *(a.format(tmp=tmp_path) for a in args)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "|---" in done.stdout  # its table


@pytest.mark.parametrize("script, args", [
    ("gpu.py", ["--backend", "torch,numpy", "--dtype", "float64,float32", "--scale", "0.05", "--rdm-n", "60",
                "--reps", "2", "--numpy-reps", "1"]),
    ("gpu_sweep.py", ["--backend", "torch", "--client", "serial", "--layers", "2", "--scale", "0.05", "--reps", "2",
                      "--metrics", "--dir", "{tmp}"]),
    ("inference.py", ["--backend", "torch", "--scale", "0.05", "--no-rsa", "--n-boot", "5", "--n-perm", "5", "--reps", "2"]),
])
def test_gpu_benchmark_scripts_run_on_the_torch_cpu_backend(script, args, tmp_path):
    """The GPU run's scripts (benchmarks/gpu_check.sh), checked on the CPU through the torch backend."""
    pytest.importorskip("torch")
    test_benchmark_script_runs(script, args, tmp_path)
