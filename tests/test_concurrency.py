"""Real `neuroxr sweep` processes on one store: killed with -9 at random times, or two at once.

Every final entry must equal a clean run's. The tests drive the CLI only (``python -m neuroxr.cli``)
and compare every complete group under ``scores/`` and ``metrics/`` generically, so they do not
depend on the entry layout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
import zarr
from click.testing import CliRunner

from neuroxr.cli import main
from neuroxr.datasets.synthetic import write_example_study
from neuroxr.store import COMPLETE_ATTR, StudyStore

pytestmark = pytest.mark.slow

MODELS = {"netA": (("layer1", 40, 0.4, 8), ("layer3", 24, 1.0, 0)), "netB": (("fc", 20, 0.6, 4),)}
CONFIG = "directions: [forward, reverse, inter_animal, model_to_model]\nreps: 2\nseed: 3\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny study and the entries of one clean sweep over it."""
    root = tmp_path_factory.mktemp("conc")
    base = root / "base.zarr"
    write_example_study(base, seed=0, n_stimuli=48, animals={"animalA": 10, "animalB": 8}, models=MODELS, unit_chunk=16)
    cfg = root / "sweep.yaml"
    cfg.write_text(CONFIG)
    clean = root / "clean.zarr"
    shutil.copytree(base, clean)
    res = CliRunner().invoke(main, ["sweep", str(clean), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert res.exit_code == 0, res.output
    ref = _results(clean)
    assert len(ref) >= 10
    return {"base": base, "cfg": cfg, "ref": ref}


def _results(path):
    """Every complete group with arrays under scores/ and metrics/, loaded: ``{path: Dataset}``."""
    out = {}
    root = zarr.open_group(str(path), mode="r")
    stack = [name for name in ("scores", "metrics") if name in root]
    while stack:
        p = stack.pop()
        g = root[p]
        if g.attrs.get(COMPLETE_ATTR):
            out[p] = xr.open_zarr(str(path), group=p, consolidated=False).load()
            continue
        stack.extend(f"{p}/{n}" for n, _ in g.groups())
    return out


def _same_as_clean(path, ref):
    st = StudyStore(path, mode="r")
    assert st.incomplete_entries() == [] and st.damaged() == []
    got = _results(path)
    assert sorted(got) == sorted(ref)
    for p, ds in ref.items():
        xr.testing.assert_allclose(got[p], ds, rtol=1e-12, atol=0)


def _sweep_cmd(path, cfg):
    return [sys.executable, "-m", "neuroxr.cli", "sweep", str(path), str(cfg), "--scheduler", "serial", "--no-progress"]


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}


def test_kill9_sweep_loop_resumes_to_the_clean_result(study, tmp_path):
    path = tmp_path / "killed.zarr"
    shutil.copytree(study["base"], path)
    rng = np.random.default_rng(1)
    for _ in range(3):
        proc = subprocess.Popen(_sweep_cmd(path, study["cfg"]), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 3.5))
        proc.kill()
        proc.wait()
    done = subprocess.run(_sweep_cmd(path, study["cfg"]), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _same_as_clean(path, study["ref"])


def test_two_concurrent_sweeps_on_one_store(study, tmp_path):
    path = tmp_path / "shared.zarr"
    shutil.copytree(study["base"], path)
    procs = [subprocess.Popen(_sweep_cmd(path, study["cfg"]), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, (out + err)[-2000:]
        assert "Traceback" not in err
    _same_as_clean(path, study["ref"])
