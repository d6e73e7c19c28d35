"""Requests per command on an S3-compatible server (moto on loopback): a command fetches nothing twice that
nothing it wrote could have changed. The bounds are the counts measured; a regression fails.

Each command runs as in a new process (no shard of the inventory known beforehand). Skipped when moto or s3fs
is not installed.
"""

from __future__ import annotations

import json
import urllib.parse
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import as_in_a_new_process, cli_store

import neuroxr.store.inventory as inventory
from neuroxr.cli import main
from neuroxr.layouts import neural
from neuroxr.store import StudyStore

#: requests of each read-back command (every entry already stored); before: cka 52, forward 63, sweep 36,
#: report 145 (each read every inventory shard at each of its listings); then cka 38, forward 53, sweep 30,
#: report 135 (a store that is not cached read the inventory and the documents again at each call nested in
#: one command, and a cached twin read the root document and listed the rewrite journals again); then sweep 27
#: (its plan listed the inventory at each listing of models, layers and neural sets)
BOUNDS = {"cka": 24, "forward": 43, "sweep": 24, "report": 134}


@pytest.fixture(scope="module")
def study(s3_server, s3_study, tmp_path_factory):
    """``(url, options, log, argv)``: a store of neural set mA and layer net.l1 on the moto server, and the
    read-back commands (argv) of :data:`BOUNDS`, each run once to store its entries."""
    options, log = s3_server
    tmp_path = tmp_path_factory.mktemp("requests")
    url = s3_study().url
    so = [f"--storage-option={k}={v}" for k, v in options.items()]
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [net]\nlayers: [l1]\nneural: [mA]\ndirections: [forward]\nreps: 2\n")
    argv = {"cka": ["score", "cka", url, "net.l1", "mA", "--bootstrap", "3", *so],
            "forward": ["score", "forward", url, "net.l1", "mA", "--reps", "2", "--bootstrap", "3", *so],
            "sweep": ["sweep", url, str(cfg), "--scheduler", "serial", "--no-progress", *so],
            "report": ["report", url, "--out", str(tmp_path / "out"), "--format", "md", "--n-boot", "20",
                       "--reliability-reps", "2", *so]}
    for name in ("cka", "forward", "sweep"):
        _run(argv[name], log)
    return url, options, log, argv


def _run(argv, log):
    """The requests of one command (exit code 0), run as in a new process (no inventory shard known)."""
    with log.counting(new_process=True) as got, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CliRunner().invoke(main, argv)
    assert res.exit_code == 0, res.output
    return got


def _shard_reads(requests):
    return [p for m, p, q in requests if m == "GET" and "list-type" not in q and "/.neuroxr/inventory/" in p]


def _inventory_listings(requests):
    return [q for _, _, q in requests if "list-type" in q and "inventory" in urllib.parse.unquote(q)]


@pytest.mark.parametrize("name", list(BOUNDS))
def test_a_read_back_command_reads_each_inventory_shard_once(study, name):
    """Every listing of the inventory lists it afresh; a shard listed unchanged since this process read it is not
    fetched again (it was at each listing: 8 listings of 2 shards in ``score cka``)."""
    url, options, log, argv = study
    got = _run(argv[name], log)
    n_shards = len(inventory.read(StudyStore(url, mode="r", storage_options=options)._zstore))
    listings = _inventory_listings(got)
    assert len(listings) >= 1 and len(_shard_reads(got)) == n_shards, (len(listings), _shard_reads(got))
    assert len(got) <= BOUNDS[name], len(got)


def test_a_shard_rewritten_since_it_was_read_is_read_again(s3_server, s3_study):
    """The listing is made at every read; a shard whose bytes changed under the same key (another writer's
    record) is fetched again, the others are not."""
    import s3fs

    options, log = s3_server
    st = s3_study({}, layer=False)
    url = st.url
    st.write_neural("mA", neural(np.zeros((4, 2, 2)), list("abcd")))
    docs = inventory.read(st._zstore)
    assert len(docs) >= 2
    with log.counting() as got:
        assert inventory.read(st._zstore) == docs
    assert len(got) == 1 and _inventory_listings(got)  # the listing alone
    key = sorted(docs)[0]
    other = {**docs[key], "records": {**docs[key]["records"], "neural/mB": [1, "pending", None, 99]}}
    s3fs.S3FileSystem(**options).pipe(f"{url[len('s3://'):]}/{key}", json.dumps(other).encode())
    with log.counting() as got:
        again = inventory.read(st._zstore)
    assert again[key] == other and {k: again[k] for k in docs if k != key} == {k: docs[k] for k in docs if k != key}
    assert len(got) == 2 and _shard_reads(got) == [f"/bucket/{url[len('s3://bucket/'):]}/{key}"]
    assert "neural/mB" in inventory.merge(again.values())


@pytest.mark.parametrize("call", ["sweep", "write_report"])
def test_a_path_given_to_sweep_or_write_report_is_opened_once(tmp_path, monkeypatch, call):
    """``sweep(path)`` and ``write_report(path)`` open the store once, as their cached store (they opened it, then
    a cached twin of it: on S3 the root document read twice, and a writable open's journals listed twice)."""
    import matplotlib

    matplotlib.use("Agg")
    import neuroxr.store.study as study_mod
    from neuroxr.report import write_report
    from neuroxr.sweep import sweep

    path = str(cli_store(tmp_path / "s.zarr", layers=("l1",)).url)
    opened: list[tuple[str, bool]] = []
    real = study_mod.StudyStore.__init__

    def counted(self, url, mode="a", *args, **kwargs):
        opened.append((mode, bool(kwargs.get("cache"))))
        real(self, url, mode, *args, **kwargs)

    monkeypatch.setattr(study_mod.StudyStore, "__init__", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if call == "sweep":
            res = sweep(path, client="serial", progress=False, models=["net"], layers=["l1"], neural=["mA"],
                        directions=["forward"], reps=2)
            assert len(res.computed) == 1
        else:
            write_report(path, tmp_path / "out", format="md", reliability=False, n_boot=20)
    assert opened == [("a" if call == "sweep" else "r", True)], opened


def test_the_shards_kept_are_bounded_by_their_bytes(s3_server, s3_study, monkeypatch):
    """A process reading many stores keeps at most ``KNOWN_BYTES`` of their shards, the least recently used dropped
    first (it kept every store's shards for its life); a dropped shard is fetched again, the same document."""
    _, log = s3_server
    as_in_a_new_process(monkeypatch)
    stores = []
    for _ in range(3):
        st = s3_study({}, layer=False)
        st.write_neural("mA", neural(np.zeros((4, 2, 2)), list("abcd")))
        stores.append((st, inventory.read(st._zstore)))
    sizes = [v[2] for v in inventory._KNOWN.values()]
    assert inventory._known_bytes == sum(sizes) and len(sizes) >= 6
    monkeypatch.setattr(inventory, "KNOWN_BYTES", sum(sizes) - 1)  # one shard too many
    first = inventory.read(stores[0][0]._zstore)  # from memory (a lower bound drops nothing until the next keep)
    st, docs = stores[1]
    with log.counting() as got:
        assert inventory.read(st._zstore) == docs  # from memory: the listing alone
    assert len(got) == 1
    inventory._remember(st._zstore, "x.json", b"{}")  # a keep past the bound drops the least recently used
    assert inventory._known_bytes <= inventory.KNOWN_BYTES == sum(sizes) - 1
    assert len(inventory._KNOWN) == len(sizes)  # one in, one out: the third store's first shard, used least recently
    with log.counting() as got:
        assert inventory.read(stores[2][0]._zstore) == stores[2][1]  # its oldest shard went: fetched again, the same
    assert len(got) == 2 and first == stores[0][1]


def test_a_cached_twin_is_made_without_a_request(s3_server, s3_study):
    """``cached()`` makes its twin from the open object: the store is not opened again (a writable open read the root
    document and listed the rewrite journals and kept copies: three requests), and the twin reads and writes."""
    _, log = s3_server
    st = s3_study({}, layer=False)
    st.write_neural("mA", neural(np.zeros((4, 2, 2)), list("abcd")))
    with log.counting() as got:
        twin = st.cached()
    assert got == [] and twin is not st and twin._cache and twin._docs == {}
    assert (twin.url, twin.mode, twin.storage_options) == (st.url, st.mode, st.storage_options)
    twin.write_neural("mB", neural(np.ones((4, 2, 2)), list("abcd")))
    assert twin.neural_sets() == st.neural_sets() == ["mA", "mB"] and twin.token("neural/mB") == st.token("neural/mB")


def test_a_counting_block_lists_the_requests_made_in_it(s3_server, s3_study):
    """The request log's ``counting()``: each block, nested ones too, lists the requests made in it, in order, and
    its list stops at the block's end; ``new_process`` forgets the inventory shards known in its block only."""
    _, log = s3_server
    st = s3_study({}, layer=False)
    known, n0 = inventory._KNOWN, len(log.requests)
    with log.counting() as outer:
        st.neural_sets()
        n1 = len(log.requests)
        with log.counting(new_process=True) as inner:
            assert inventory._KNOWN is not known and not inventory._KNOWN
            st.neural_sets()
        assert inventory._KNOWN is known
    st.neural_sets()
    assert n0 < n1 < n0 + len(outer) < len(log.requests)
    assert outer == log.requests[n0:n0 + len(outer)] and inner == log.requests[n1:n0 + len(outer)]
