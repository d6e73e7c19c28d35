"""The command line run as a real process (``python -m neuroxr``): exit statuses, one-line messages on
stderr and results on stdout, checked where an in-process test of ``main()`` could hide a process's
state (imports, signal handlers, warning filters)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore


def run(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NEUROXR_DEBUG"}
    return subprocess.run([sys.executable, "-m", "neuroxr", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env)


def one_line_error(proc: subprocess.CompletedProcess, status: int) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(3)
    stim = [f"s{i:02d}" for i in range(16)]
    st = StudyStore(tmp_path / "s.zarr")
    st.write_neural("mA", neural(rng.normal(size=(16, 5, 2)), stim, region=["IT"] * 3 + ["V4"] * 2))
    st.write_features("net", "l1", features(rng.normal(size=(16, 6)), stim))
    return st


def test_relative_refuses_a_bad_name_as_a_usage_error_before_reading(store, tmp_path):
    """--name that no layer can have: a usage error naming --name (exit 2), nothing written."""
    ids = tmp_path / "ids.txt"
    ids.write_text("s00\ns01\n")
    for name in ("a b", "x__y"):
        line = one_line_error(run("relative", store.url, "net.l1", "--anchors", str(ids), "--name", name), 2)
        assert "--name" in line and repr(name) in line and "relative --help" in line
    assert StudyStore(store.url).layers("net") == ["l1"]


def test_report_default_folder_is_named_after_the_store_folder(tmp_path, monkeypatch):
    """--out left out: <store name>-report, the store's folder name however its path is spelled ('d.zarr/.',
    '..'), never a hidden folder '.-report'."""
    from neuroxr.cli.report import _default_out

    (tmp_path / "d.zarr" / "scores").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "d.zarr" / "scores")
    for spelled in ("../../d.zarr", "../../d.zarr/", "../../d.zarr/.", "..", f"file://{tmp_path}/d.zarr/"):
        assert _default_out(spelled) == "d-report", spelled
    assert _default_out("s3://bucket/study.zarr") == "study-report"
