"""The command line run as a real process (``python -m neuroxr``): exit statuses, one-line messages on
stderr and results on stdout, checked where an in-process test of ``main()`` could hide a process's
state (imports, signal handlers, warning filters)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import cli_store

from neuroxr.layouts import features
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
    return cli_store(tmp_path / "s.zarr", layers=("l1",))


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


def _read_only(path) -> None:
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o555 if name in dirs else 0o444)
    os.chmod(path, 0o555)


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
def test_a_store_this_user_cannot_write_is_read_and_nothing_is_computed_for_nothing(store, tmp_path):
    """A read-only store: a stored entry is read back; a missing one, --overwrite, relative, a sweep (which
    computed every entry and lost each at its write) and --rebuild-inventory are one line saying the store is read-only, before any work (no progress line),
    never Python's advice (mode='r') or a bare OS error."""
    from neuroxr.entries import compute

    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: without the capability that lets it
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file capabilities")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    compute(store, "forward", "net.l1", "mA", params={"reps": 2})
    ids = tmp_path / "ids.txt"
    ids.write_text("s00\ns01\n")
    _read_only(store.url)
    try:
        def run_ro(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*prefix, sys.executable, "-m", "neuroxr", *args], capture_output=True, text=True,
                                  timeout=120)

        proc = run_ro("score", "forward", store.url, "net.l1", "mA", "--reps", "2")
        assert proc.returncode == 0 and "already in the store" in proc.stdout, proc.stderr
        for args, says in ((["score", "forward", store.url, "net.l1", "mA", "--reps", "3"], "fix its permissions to compute"),
                           (["score", "forward", store.url, "net.l1", "mA", "--reps", "2", "--overwrite"], "--overwrite"),
                           (["relative", store.url, "net.l1", "--anchors", str(ids)], "writing the layer"),
                           (["validate", store.url, "--rebuild-inventory"], "--rebuild-inventory"),
                           (["sweep", store.url, "--scheduler", "serial"], "neuroxr sweep")):
            line = one_line_error(run_ro(*args), 1)
            assert "read-only for this user" in line and says in line and "mode=" not in line, line
    finally:
        for root, dirs, _ in os.walk(store.url):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        os.chmod(store.url, 0o755)


def test_a_command_started_without_stderr_still_runs(store):
    """Started with stderr closed (``2>&-``, a daemon's job): Python has no sys.stderr, so no progress line
    (nowhere to show it), never an internal error from asking whether stderr is a terminal."""
    proc = subprocess.run([sys.executable, "-m", "neuroxr", "score", "forward", store.url, "net.l1", "mA", "--reps", "2"],
                          stdout=subprocess.PIPE, text=True, timeout=120, preexec_fn=lambda: os.close(2))
    assert proc.returncode == 0 and proc.stdout.startswith("scores/forward/net.l1__mA/"), proc.stdout


def test_an_extraction_started_without_stderr_still_runs(tmp_path):
    """neuroxr extract with stderr closed asked the missing stderr whether it is a terminal for its batches'
    progress: 'internal error, AttributeError'. It extracts, without progress."""
    pytest.importorskip("torch")
    from PIL import Image

    (tmp_path / "m.py").write_text("import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
                                   "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())\n")
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "imgs" / f"im{i}.png")
    path = tmp_path / "s.zarr"
    proc = subprocess.run([sys.executable, "-m", "neuroxr", "extract", str(path), "--model", f"{tmp_path / 'm.py'}:build",
                           "--images", str(tmp_path / "imgs"), "--model-name", "m", "--layer", "0", "--image-size", "8"],
                          stdout=subprocess.PIPE, text=True, timeout=120, preexec_fn=lambda: os.close(2))
    assert proc.returncode == 0, proc.stdout
    assert StudyStore(path, mode="r").layers("m") == ["0"]


_BATCH_MODEL = '''
import os
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        with open(os.environ["BATCHES_FILE"], "a") as f:  # the size of every batch run through the model
            f.write(f"{x.shape[0]}\\n")
        return self.fc(x.flatten(1))


def make():
    return Net()
'''


def test_extract_into_a_store_this_user_cannot_write_is_refused_before_its_passes(tmp_path):
    """neuroxr extract into a read-only store ran its passes (the whole model over every stimulus) and lost
    each layer at its write, as score and relative did before they refused such a store first. A layer to
    write is refused before any pass; a re-run whose layers are all complete still only reads them."""
    pytest.importorskip("torch")
    from PIL import Image

    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: without the capability that lets it
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file capabilities")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    (tmp_path / "imgs").mkdir()
    for i in range(4):
        pixels = (np.random.default_rng(i).random((8, 8, 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(tmp_path / "imgs" / f"s{i}.png")
    (tmp_path / "m.py").write_text(_BATCH_MODEL)
    batches = tmp_path / "batches.txt"
    env = {**{k: v for k, v in os.environ.items() if k != "NEUROXR_DEBUG"}, "BATCHES_FILE": str(batches)}
    urls = {name: str(tmp_path / f"{name}.zarr") for name in ("ro", "done")}
    StudyStore(urls["ro"]).write_features("other", "l", features(np.zeros((4, 2)), [f"s{i}" for i in range(4)]))

    def extract(url: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "neuroxr", "extract", url, "--model",
                               f"{tmp_path / 'm.py'}:make", "--images", str(tmp_path / "imgs"), "--model-name", "net",
                               "--image-size", "8", "--no-progress", *extra], capture_output=True, text=True,
                              timeout=120, env=env)

    assert extract(urls["done"]).returncode == 0
    for url in urls.values():
        _read_only(url)
    try:
        batches.unlink()
        line = one_line_error(extract(urls["ro"]), 1)
        assert "read-only for this user" in line and "writing layer(s) fc" in line and "--dry-run" in line, line
        assert "4" not in batches.read_text().split(), "a pass over the 4 stimuli ran before the refusal"
        proc = extract(urls["done"])  # every layer complete: nothing to write, read as before
        assert proc.returncode == 0 and "1 already complete" in proc.stdout, proc.stderr
        line = one_line_error(extract(urls["done"], "--overwrite"), 1)
        assert "read-only for this user" in line and "writing layer(s) fc" in line, line
    finally:
        for url in urls.values():
            for root, dirs, _ in os.walk(url):
                for name in dirs:
                    os.chmod(os.path.join(root, name), 0o755)
            os.chmod(url, 0o755)
