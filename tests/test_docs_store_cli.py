"""What docs/store.md, docs/entries.md and docs/cli.md promise of the store's listings and the command line,
checked on a small synthetic store."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
from click.testing import CliRunner
from conftest import two_animal_store

import neuroxr as nx
from neuroxr.cli import main


@pytest.fixture
def store(tmp_path):
    return two_animal_store(tmp_path / "s.zarr")


def _info(path):
    res = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_an_entry_moved_to_another_pair_is_not_listed_as_that_pairs_current_entry(store, tmp_path):
    """An entry folder copied by hand under another pair kept a provenance that hashes to its key, so it was
    listed (info, list_entries, the report) as a current entry of the pair it lies under, with another pair's
    numbers; now it is not current, info calls it moved and validate names it (exit status 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nx.compute(store, "forward", "net.l1", "mA", params={"reps": 2})
    root = tmp_path / "s.zarr" / "scores" / "forward"
    (root / "net.l1__mB").mkdir()
    shutil.copy(root / "net.l1__mA" / "zarr.json", root / "net.l1__mB" / "zarr.json")
    shutil.copytree(root / "net.l1__mA" / res.path.rpartition("/")[2], root / "net.l1__mB" / res.path.rpartition("/")[2])
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(tmp_path / "s.zarr"), "--rebuild-inventory"]).exit_code == 0
    df = nx.list_entries(str(tmp_path / "s.zarr"))
    rows = df[df.kind == "forward"].set_index("target")
    assert bool(rows.loc["mA", "current"]) and not bool(rows.loc["mB", "current"])
    status = {r["target"]: r["status"] for r in _info(tmp_path / "s.zarr")["scores"]}
    assert status == {"mA": "current", "mB": "moved (its provenance names another pair)"}
    out = runner.invoke(main, ["validate", str(tmp_path / "s.zarr")])
    assert out.exit_code == 1 and "scores/forward/net.l1__mB/" in out.output
    assert "lies under another pair than its provenance names (forward net.l1 -> mA)" in out.output
    assert nx.lookup(store, "forward", "net.l1", "mB", params={"reps": 2}) is None


@pytest.mark.parametrize("args", [["score", "shape", "{s}", "net.l1", "mA", "--center-columns", "--no-center-columns"],
                                  ["sweep", "{s}", "--gram-spread", "--no-gram-spread"]])
def test_both_halves_of_a_flag_are_a_usage_error(store, tmp_path, args):
    """docs/cli.md: both halves of a flag are a usage error naming them (exit status 2)."""
    res = CliRunner().invoke(main, [a.format(s=tmp_path / "s.zarr") for a in args])
    assert res.exit_code == 2 and "contradict or repeat each other" in res.output
