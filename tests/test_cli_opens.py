"""A command opens its store once: a command that writes opens it for writing at once (a missing store refused in
the line a read-only open gives, never created), and ``neuroxr score rsa|cka|shape`` reads and writes the metric and
its bootstrap and permutation entries through that one open store."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import cli_store

import neuroxr.store.study as study
from neuroxr.cli import main
from neuroxr.cli._common import _MAKE_ADVICE
from neuroxr.errors import StoreError
from neuroxr.store import StudyStore

#: metric commands with inference entries (argv after the store): the metric, a bootstrap and a permutation entry
METRICS = [["cka", "net.l1", "mA"], ["rsa", "net.l1", "mA"], ["shape", "net.l1", "mA", "--test-size", "0.5"]]


@pytest.fixture
def opens(monkeypatch):
    """The modes of every :class:`StudyStore` opened (a physical open: the store's documents are read each time)."""
    got: list[str] = []
    real = study.StudyStore.__init__

    def counted(self, url, mode="a", *args, **kwargs):
        got.append(mode)
        real(self, url, mode, *args, **kwargs)

    monkeypatch.setattr(study.StudyStore, "__init__", counted)
    return got


def _invoke(runner, argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return runner.invoke(main, argv)


@pytest.mark.parametrize("args", METRICS, ids=lambda a: a[0])
def test_a_metric_command_opens_its_store_once(runner, tmp_path, opens, args):
    """The metric, its bootstrap and its permutation entry: one open for writing, computed or read back (it opened
    the store twice per entry: read-only, then for writing); --require-existing one read-only open."""
    url = cli_store(tmp_path / "s.zarr").url
    argv = ["score", args[0], url, *args[1:], "--bootstrap", "2", "--permutations", "2", "--json"]
    for run in ("computed", "read back"):
        opens.clear()
        res = _invoke(runner, argv)
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)
        assert got["computed"] is (run == "computed") and got["bootstrap_path"] and got["permutation_path"]
        assert opens == ["a"], run
    opens.clear()
    assert _invoke(runner, [*argv, "--require-existing"]).exit_code == 0
    assert opens == ["r"]


@pytest.mark.parametrize("argv", [["score", "forward", "S", "net.l1", "mA", "--reps", "2", "--bootstrap", "2"],
                                  ["score", "dimensionality", "S", "net.l1"],
                                  ["relative", "S", "net.l1", "--anchors", "ANCHORS"],
                                  ["validate", "S", "--rebuild-inventory"]], ids=lambda a: "-".join(a[:2]))
def test_a_command_that_writes_opens_its_store_once(runner, tmp_path, opens, argv):
    """Opened for writing at once, not read-only first and then again for writing."""
    url = cli_store(tmp_path / "s.zarr").url
    (tmp_path / "anchors.txt").write_text("s00\ns01\ns02\n")
    opens.clear()
    res = _invoke(runner, [{"S": url, "ANCHORS": str(tmp_path / "anchors.txt")}.get(a, a) for a in argv])
    assert res.exit_code == 0, res.output
    assert opens == ["a"]


def _not_a_store(kind, path):
    """A path where no study store is: ``missing`` (no folder), ``empty`` (a folder without a Zarr group),
    ``group`` (a Zarr group neuroxr never wrote)."""
    if kind == "empty":
        path.mkdir()
    elif kind == "group":
        import zarr

        zarr.open_group(str(path), mode="w", zarr_format=3)
    return str(path)


@pytest.mark.parametrize("kind", ["missing", "empty", "group"])
@pytest.mark.parametrize("argv", [["score", "forward", "S", "net.l1", "mA"], ["score", "cka", "S", "net.l1", "mA", "--bootstrap", "2"],
                                  ["relative", "S", "net.l1", "--anchors", "ANCHORS"], ["validate", "S", "--rebuild-inventory"],
                                  ["info", "S"]], ids=lambda a: "-".join(a[:2]))
def test_a_missing_store_is_refused_as_a_read_only_open_refuses_it(runner, tmp_path, kind, argv):
    """The line of the store's read-only open, without its Python advice on making one (``create=True``), exit
    status 1; nothing is made there."""
    url = _not_a_store(kind, tmp_path / "s.zarr")
    with pytest.raises(StoreError) as refused:
        StudyStore(url, mode="r")
    (tmp_path / "anchors.txt").write_text("s00\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = _invoke(runner, [{"S": url, "ANCHORS": str(tmp_path / "anchors.txt")}.get(a, a) for a in argv])
    said = _MAKE_ADVICE.sub("", " ".join(str(refused.value).split()))
    assert res.exit_code == 1 and res.stderr == f"Error: {said}\n", res.output
    assert "create=True" not in res.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_on_an_object_store_a_metric_command_reads_the_root_once(runner, s3_server, s3_study):
    """``score cka --bootstrap 3`` on S3: the store's root document is read and its journals of interrupted rewrites
    listed once (an open each), where the command read the root four times and listed the journals twice."""
    options, log = s3_server
    url = s3_study().url
    key = url[len("s3://bucket/"):]
    argv = ["score", "cka", url, "net.l1", "mA", "--bootstrap", "3", *[f"--storage-option={k}={v}" for k, v in options.items()]]
    for _ in range(2):  # computed, then read back
        with log.counting() as got:
            res = _invoke(runner, argv)
        assert res.exit_code == 0, res.output
        assert sum(m == "GET" and p == f"/bucket/{key}/zarr.json" for m, p, _ in got) == 1
        assert sum("study.zarr%2F.neuroxr%2Fprevious%2F" in q for _, _, q in got) == 1
