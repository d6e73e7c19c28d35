"""Requests of ``neuroxr sweep`` on an S3-compatible server (moto on loopback), on a fresh study and resumed
(every entry stored): the command plans its config in one call of the store, so the inventory is listed once
for the plan (it was listed at each listing of models, layers and neural sets: 3 times) and each set's
document read once; each entry it reuses is read once, in one batch (its lookup's, its damage check from it).
The bounds are the counts measured; a regression fails.

Each command runs as in a new process (no shard of the inventory known beforehand). Skipped when moto or s3fs
is not installed.
"""

from __future__ import annotations

import collections
import importlib
import json
import urllib.parse
import warnings

import pytest
from click.testing import CliRunner

from neuroxr.cli import main

sweep_run = importlib.import_module("neuroxr.sweep.run")  # neuroxr.sweep is also the name of the function

#: inventory listings of a whole ``neuroxr sweep`` (fresh or resumed): one for the plan, one for the sweep's
#: twin (before: 4, the plan listing it at each of models(), layers() and neural_sets())
LISTINGS = 2
#: requests the command makes before the sweep starts (opening the store, planning the config); before: 11
BEFORE_SWEEP = 8
#: requests of the resumed sweep in all (one entry stored); before: 27, then 24 (the entry's lookup listed its keys,
#: then the sweep read it in one batch anyway)
RESUMED = 23
#: requests of the resumed sweep of 7 entries (:func:`many`); before: 67 (a listing per reused entry)
RESUMED_MANY = 60


def _run_twice(s3_server, s3_study, tmp_path_factory, config, neural_sets, computed):
    """``{"fresh": (requests before the sweep, all requests), "resumed": (...)}`` of one ``neuroxr sweep`` of
    ``config`` over layer net.l1 and ``neural_sets`` (name -> regions, 12 stimuli, 2 repeats), run twice on
    a new study on the moto server (:func:`conftest.s3_study`); the fresh run computes ``computed`` entries, the
    resumed run none."""
    options, log = s3_server
    url = s3_study(neural_sets).url
    cfg = tmp_path_factory.mktemp("sweep_requests") / "sweep.yaml"
    cfg.write_text(config)
    argv = ["sweep", url, str(cfg), "--scheduler", "serial", "--no-progress", "--json",
            *(f"--storage-option={k}={v}" for k, v in options.items())]
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        started: list[int] = []
        real = sweep_run.sweep

        def counted(*args, **kwargs):  # the CLI imports sweep() from its module when it runs
            started.append(len(got))
            return real(*args, **kwargs)

        mp.setattr(sweep_run, "sweep", counted)
        for name, n_computed in (("fresh", computed), ("resumed", 0)):
            started.clear()
            with log.counting(new_process=True) as got, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = CliRunner().invoke(main, argv)
            assert res.exit_code == 0, res.output
            assert len(json.loads(res.stdout)["computed"]) == n_computed
            out[name] = (got[:started[-1]], got)
    return out


@pytest.fixture(scope="module")
def runs(s3_server, s3_study, tmp_path_factory):
    """:func:`_run_twice` of layer net.l1 x neural set mA (forward, 2 reps): one entry."""
    return _run_twice(s3_server, s3_study, tmp_path_factory, "models: [net]\nlayers: [l1]\nneural: [mA]\ndirections: [forward]\nreps: 2\n",
                      {"mA": None}, 1)


def _listings(requests):
    return [q for _, _, q in requests if "list-type" in q and "/.neuroxr/inventory/" in urllib.parse.unquote(q)]


def _documents(requests):
    return [p for m, p, q in requests if m == "GET" and "list-type" not in q and p.endswith("/zarr.json")]


@pytest.mark.parametrize("name", ["fresh", "resumed"])
def test_the_plan_lists_the_inventory_once_and_reads_each_document_once(runs, name):
    """The command plans its config in one call of the store: one listing of the inventory, no set's
    document read twice (the plan listed the inventory at each of models(), layers() and neural_sets(), and
    read the layer's document at two of them)."""
    plan, _ = runs[name]
    assert len(_listings(plan)) == 1, _listings(plan)
    twice = [p for p, k in collections.Counter(_documents(plan)).items() if k > 1]
    assert not twice, twice
    assert len(plan) <= BEFORE_SWEEP, len(plan)


@pytest.mark.parametrize("name", ["fresh", "resumed"])
def test_a_sweep_lists_the_inventory_twice_at_most(runs, name):
    """The plan's listing and the sweep's own (its held twin reads the store afresh, as every call does)."""
    _, requests = runs[name]
    assert len(_listings(requests)) <= LISTINGS, len(_listings(requests))


def test_a_resumed_sweep_makes_the_requests_measured(runs):
    """Every entry stored: the plan, the sweep's plan, the entry's lookup (its one batch read), the sets' tokens
    read afresh."""
    _, requests = runs["resumed"]
    assert len(requests) <= RESUMED, len(requests)


@pytest.fixture(scope="module")
def many(s3_server, s3_study, tmp_path_factory):
    """:func:`_run_twice` of layer net.l1 x neural set mA with regions IT and V4 (forward, cka, dimensionality of
    each region and of the layer): 7 entries."""
    config = "models: [net]\nlayers: [l1]\nneural: [mA]\ndirections: [forward, cka, dimensionality]\nregions: each\nreps: 2\n"
    return _run_twice(s3_server, s3_study, tmp_path_factory, config, {"mA": ["IT", "IT", "V4", "V4"]}, 7)


def test_a_resumed_sweep_reads_each_reused_entry_once(many):
    """Every entry stored: each reused entry is read in one batch (its document, its chunks, its document again),
    its damage check from that batch; no listing of an entry's keys (its lookup listed them, then the sweep read
    it in a batch anyway)."""
    _, requests = many["resumed"]
    listed = [urllib.parse.unquote(q) for _, _, q in requests if "list-type" in q and "/.neuroxr/" not in urllib.parse.unquote(q)]
    assert not listed, listed
    assert len(requests) <= RESUMED_MANY, len(requests)


def test_a_config_checked_against_the_store_reads_each_document_once(s3_server, s3_study):
    """``validate_config(config, store)`` plans and checks in one call of the store: the inventory listed once,
    each document read once (outside the plan, the time bins of each entry's sets for temporal_generalization
    read a neural set's document again)."""
    from conftest import time_sets

    from neuroxr.sweep import validate_config

    _, log = s3_server
    st = s3_study({}, layer=False)
    F, A, B = time_sets()
    st.write_features("net", "l1", F)
    st.write_neural("mA", A)
    st.write_neural("mB", B)
    config = {"directions": ["forward", "inter_animal"], "temporal_generalization": True, "reps": 2}
    with log.counting() as got:
        assert validate_config(config, st) == config
    twice = [p for p, k in collections.Counter(_documents(got)).items() if k > 1]
    assert len(_listings(got)) == 1 and _documents(got) and not twice, (len(_listings(got)), twice)
