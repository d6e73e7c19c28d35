"""Writers killed, interrupted or racing in real separate processes (``python -c``), never in pytest's
warm process alone: a killed writer leaves the old or the new complete copy, a re-run in a fresh
process reads back the same numbers, and a set rewritten by another process while an entry is
computed from it is named as the cause, whatever the reads that met it raised."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.entries import compute, lookup
from neuroxr.errors import StoreError
from neuroxr.store import StudyStore

pytestmark = pytest.mark.filterwarnings("ignore:.*split-half reliability below")

IDS = [f"s{i:02d}" for i in range(24)]


def _study(path) -> StudyStore:
    """A store with one layer ``net.l1`` (12 units in chunks of 4) and one animal ``mA``."""
    rng = np.random.default_rng(0)
    st = StudyStore(path)
    st.write_neural("mA", nx.neural(rng.normal(size=(24, 5, 3)), IDS, [f"n{j}" for j in range(5)]))
    st.write_features("net", "l1", nx.features(rng.normal(size=(24, 12)), IDS), unit_chunk=4)
    return st


def _python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` run by a fresh Python process (this checkout first on its path) with ``args``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=full,
                          timeout=120)


def test_a_layer_rewritten_by_another_process_during_a_gram_read_is_named_as_the_cause(tmp_path, monkeypatch):
    """Another process rewrites the layer (new values, other unit chunks) after this computation opened
    its array: the chunks then read fail to decode as the opened array's (a reshape ValueError, before).
    The error is the engine's one line naming the rewritten set, and nothing is stored."""
    import neuroxr.entries.gram as gram

    path = tmp_path / "s.zarr"
    st = _study(path)
    opened = gram.raw_features

    def rewritten_after_open(store, src):
        raw = opened(store, src)
        done = _python(f"""
            from neuroxr.store import StudyStore
            st = StudyStore({str(path)!r})
            da = st.read_features("net", "l1").load()
            da.attrs = {{}}
            st.write_features("net", "l1", da + 1.0, unit_chunk=6)
        """)
        assert done.returncode == 0, done.stderr
        return raw

    monkeypatch.setattr(gram, "raw_features", rewritten_after_open)
    with pytest.raises(StoreError, match=r"set 'features/net/l1' was rewritten while entry .* was computed") as err:
        compute(st, "forward", "net.l1", "mA", params={"reps": 1})
    assert "\n" not in str(err.value)
    assert StudyStore(path, mode="r").listing("scores") == []
    monkeypatch.undo()  # the entry computed afresh is the new layer's
    fresh = compute(StudyStore(path), "forward", "net.l1", "mA", params={"reps": 1})
    assert fresh.computed and fresh.provenance["inputs"]["features/net/l1"] == StudyStore(path, mode="r").token("features/net/l1")


_KILL_BETWEEN_RENAMES = """
    import os, sys
    import neuroxr.store.atomic as atomic
    rename = os.rename
    def dies_between_the_renames(src, dst):
        rename(src, dst)
        if os.environ.get("KILL") and "/scores/" in src and "/.neuroxr/trash/" in dst:  # old copy aside, new not in place
            os._exit(9)
    atomic.os.rename = dies_between_the_renames
    from neuroxr.entries import compute
    from neuroxr.store import StudyStore
    r = compute(StudyStore(sys.argv[1]), "forward", "net.l1", "mA", params={"reps": 2}, overwrite=True)
    print(r.path)
"""


def test_an_overwrite_killed_between_its_renames_reads_back_whole_in_a_fresh_process(tmp_path):
    path = tmp_path / "s.zarr"
    st = _study(path)
    first = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    ref = first.dataset
    code = _KILL_BETWEEN_RENAMES.replace("sys.argv[1]", repr(str(path)))
    killed = _python(code, KILL="1")
    assert killed.returncode == 9, killed.stderr
    assert not os.path.isdir(path / first.path)  # killed between the renames: the entry folder is absent
    check = _python(f"""
        from neuroxr.store import StudyStore
        st = StudyStore({str(path)!r}, mode="r")
        print(st.damaged(), st.incomplete_entries(), st.listing("scores"))
    """)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"[] [] [{first.path!r}]"  # the swap finished by the fresh reader
    again = lookup(StudyStore(path, mode="r"), "forward", "net.l1", "mA", params={"reps": 2})
    assert again is not None
    got = StudyStore(path, mode="r").read_dataset(first.path).load()
    for name in ref.data_vars:
        np.testing.assert_array_equal(got[name].values, ref[name].values)
    rerun = _python(code)  # a second overwrite, uninterrupted, in a fresh process
    assert rerun.returncode == 0 and rerun.stdout.strip() == first.path, rerun.stderr
    assert StudyStore(path, mode="r").damaged() == []


_KILLED_WRITING_TABLE = """
    import os, sys
    import pandas as pd
    to_csv = pd.DataFrame.to_csv
    def dies_half_way(self, target, *args, **kwargs):
        text = to_csv(self, None, *args, **kwargs)
        if hasattr(target, "write"):
            target.write(text[: len(text) // 2]); target.flush()
        else:
            with open(target, "w") as f:
                f.write(text[: len(text) // 2])
        os._exit(9)
    pd.DataFrame.to_csv = dies_half_way
    from neuroxr.cli import main
    main(sys.argv[1:], prog_name="neuroxr")
"""


def test_a_sweep_killed_while_writing_its_table_leaves_no_truncated_table(tmp_path):
    """``neuroxr sweep --table FILE`` killed half way through writing FILE: FILE is still the earlier run's
    whole table (before: half of the new one, which reads as a table with fewer rows)."""
    import pandas as pd
    from click.testing import CliRunner

    from neuroxr.cli import main

    path = tmp_path / "s.zarr"
    _study(path)
    table = tmp_path / "t.csv"
    args = ["sweep", str(path), "--scheduler", "serial", "--no-progress", "-q", "--table", str(table)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    before = table.read_text()
    assert len(pd.read_csv(table)) >= 2
    killed = _python(_KILLED_WRITING_TABLE, *args)
    assert killed.returncode == 9, killed.stderr
    assert table.read_text() == before  # the earlier run's whole table
