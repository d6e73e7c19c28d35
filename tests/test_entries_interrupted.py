"""An input set whose rewrite was cut (an object store: the old copy deleted, the new one not complete,
the journal naming the kept copy) is refused by the entry engine as an interrupted rewrite, saying what to
do, not as a set the store does not hold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from urllib.parse import quote

import numpy as np
import pytest
import xarray as xr
from conftest import latent_study

import neuroxr as nx
from neuroxr.entries import compute, lookup, score
from neuroxr.errors import StoreError
from neuroxr.sets import feature_ref
from neuroxr.store import StudyStore, atomic, batch
from neuroxr.store._zarr import list_keys, read_json

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
PARAMS = {"reps": 2}
SETS = {"features/net/l1": ("feature set 'net.l1'", "source"), "neural/mA": ("neural set 'mA'", "target")}


def _study(url: str, storage_options=None) -> tuple[str, str]:
    """A store holding mA, net.l1 and l1's forward entry on mA; returns ``(url, entry path)``."""
    st = latent_study(url, 0, 24, 5, storage_options=storage_options)[0]
    return url, compute(st, "forward", "net.l1", "mA", params=PARAMS).path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _cut_rewrite(url: str, path: str, pid: int | None) -> None:
    """A rewrite of ``path`` whose writer stopped after deleting the old copy, a partial new copy written
    (its journal names ``pid``; ``None``: this process, which runs on)."""
    st = StudyStore(url)
    staging = st.begin_write(path)
    xr.Dataset({"data": (("unit",), np.arange(4.0))}).to_zarr(st._zstore, group=path, mode="w", consolidated=False)
    st._rewriting.pop(staging)  # nothing of the writer finishes the write
    if pid is not None:
        (key,) = list_keys(st._zstore, ".neuroxr/rewrites/")
        batch.put_many(st._zstore, {key: json.dumps({**read_json(st._zstore, key), "pid": pid}).encode()})


def _says_interrupted(err: pytest.ExceptionInfo, url: str, path: str) -> None:
    what, role = SETS[path]
    msg = str(err.value)
    assert "\n" not in msg and url in msg and f"the {what} (the {role})" in msg, msg
    assert "holds no" not in msg and "rewrite was interrupted" in msg and "open the store for writing" in msg, msg
    assert "wait for the writer" in msg, msg


@pytest.fixture
def memory_study():
    return _study(f"memory://neuroxr-interrupted-{uuid.uuid4().hex}/s.zarr")


@pytest.mark.parametrize("path", list(SETS))
def test_a_read_only_lookup_names_the_interrupted_rewrite_of_an_input(memory_study, path):
    """It said "holds no feature set 'net.l1'": the set is there, its rewrite was cut. The advice holds: a
    writable open (its writer is dead) puts the previous copy back, and the same lookup finds the entry."""
    url, entry = memory_study
    _cut_rewrite(url, path, _dead_pid())
    ro = StudyStore(url, mode="r")
    for ask in (lambda: lookup(ro, "forward", "net.l1", "mA", params=PARAMS),
                lambda: nx.lookup(ro, "forward", "net.l1", "mA", params=PARAMS),
                lambda: score(ro, "forward", "net.l1", "mA", params=PARAMS, require_existing=True)):
        with pytest.raises(StoreError) as err:
            ask()
        _says_interrupted(err, url, path)
    StudyStore(url)  # a writable open: the writer is gone, the previous copy comes back (with a fresh token,
    ro = StudyStore(url, mode="r")  # so the entry computed from it is no longer a match)
    assert ro.is_complete(path) and lookup(ro, "forward", "net.l1", "mA", params=PARAMS) is None
    assert compute(StudyStore(url), "forward", "net.l1", "mA", params=PARAMS).path != entry


def test_a_running_rewrite_is_named_to_a_writable_store_too(memory_study):
    """A writer still running (its journal names this live process) is not rolled back by a writable open:
    the set is named as being rewritten there as well, and a reference is refused alike."""
    url, _ = memory_study
    _cut_rewrite(url, "features/net/l1", None)
    st = StudyStore(url)
    with pytest.raises(StoreError) as err:
        compute(st, "forward", feature_ref("net", "l1"), "mA", params=PARAMS, require_existing=True)
    _says_interrupted(err, url, "features/net/l1")


def test_a_set_the_store_never_held_is_still_absent(memory_study):
    url, _ = memory_study
    _cut_rewrite(url, "features/net/l1", _dead_pid())
    with pytest.raises(nx.LayoutError, match="holds no feature set .* named 'net.l2'"):
        lookup(StudyStore(url, mode="r"), "forward", "net.l2", "mA", params=PARAMS)


_KILLED = """
    import os, sys
    import zarr.storage
    from neuroxr.store import StudyStore
    set_key = zarr.storage.FsspecStore.set
    async def dies(self, key, value, *args, **kwargs):
        if key.startswith("features/net/l1/"):  # the old copy kept and deleted: the first key of the new one
            os._exit(9)
        return await set_key(self, key, value, *args, **kwargs)
    zarr.storage.FsspecStore.set = dies
    st = StudyStore(sys.argv[1], storage_options={options!r})
    st.write_features("net", "l1", st.read_features("net", "l1").load() + 1.0)
"""


def test_a_writer_killed_mid_rewrite_on_s3(s3_server, s3_study):
    """A real writer killed by the operating system on an S3 server between the deletion of the old copy and
    the first key of the new one."""
    options, _ = s3_server
    url, entry = _study(s3_study({}, layer=False).url, storage_options=options)
    code = textwrap.dedent(_KILLED.format(options=options))
    killed = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=120)
    assert killed.returncode == 9, killed.stderr
    with pytest.raises(StoreError) as err:
        lookup(StudyStore(url, mode="r", storage_options=options), "forward", "net.l1", "mA", params=PARAMS)
    _says_interrupted(err, url, "features/net/l1")
    st = StudyStore(url, storage_options=options)  # a writable open puts the previous copy back
    assert st.is_complete("features/net/l1") and lookup(st, "forward", "net.l1", "mA", params=PARAMS) is None


def test_a_local_swap_cut_between_its_renames_is_read_from_its_new_copy(tmp_path, monkeypatch):
    """A local store swaps by renames: a writer killed between them leaves the set's folder absent, but a
    reader that cannot finish the swap (a read-only folder) reads the complete new copy where it lies, so
    the set is never missing there and the lookup finds the entry."""
    url, entry = _study(str(tmp_path / "s.zarr"))
    path = "features/net/l1"
    sid, trash = f"{quote(atomic._HOST, safe='')}~{_dead_pid()}~{uuid.uuid4().hex}", uuid.uuid4().hex
    shutil.copytree(os.path.join(url, path), atomic.staging_dir(url, sid))  # the complete new copy, staged
    os.makedirs(os.path.dirname(atomic.journal_file(url, path)), exist_ok=True)
    with open(atomic.journal_file(url, path), "w") as f:
        json.dump({"staging": sid, "trash": trash}, f)
    os.makedirs(os.path.join(url, ".neuroxr", "trash"), exist_ok=True)
    os.rename(os.path.join(url, path), os.path.join(url, ".neuroxr", "trash", trash))  # the first rename only

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(atomic, "_roll_forward", read_only)
    assert lookup(StudyStore(url, mode="r"), "forward", "net.l1", "mA", params=PARAMS) == entry
    assert not os.path.isdir(os.path.join(url, path))


@pytest.mark.parametrize("path", list(SETS))
def test_a_read_of_the_interrupted_set_itself_names_the_interruption(memory_study, path):
    """``read_features`` / ``read_neural`` (and ``read_dataset``) said "its write did not finish (a killed
    job?); rewrite it": the previous copy is kept, and a writable open puts it back."""
    url, _ = memory_study
    _cut_rewrite(url, path, _dead_pid())
    ro = StudyStore(url, mode="r")
    reads = [lambda: ro.read_dataset(path)]
    reads.append((lambda: ro.read_features("net", "l1")) if path.startswith("features") else (lambda: ro.read_neural("mA")))
    for read in reads:
        with pytest.raises(StoreError) as err:
            read()
        msg = str(err.value)
        assert "\n" not in msg and url in msg and "rewrite was interrupted" in msg and "open the store for writing" in msg, msg
    StudyStore(url)
    assert StudyStore(url, mode="r").read_dataset(path) is not None
