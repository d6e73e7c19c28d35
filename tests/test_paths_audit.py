"""One path per result: the same request through the API, the store, the command line, a sweep's tables
and a report's tables gives the same numbers and the same labels."""

from __future__ import annotations

import warnings

import pytest
from conftest import cli_store


@pytest.fixture
def small_store(tmp_path):
    return cli_store(tmp_path / "s.zarr")


def test_sweep_inference_table_names_each_metric_bootstraps_interval(small_store):
    """The ``method`` of a metric bootstrap's row is its interval, as the report's ``interval`` says: cRSA's and
    eRSA's entries record their RDM comparison as ``method`` (``corr``, ``spearman``), which the row showed as if
    it were the interval."""
    from neuroxr.report.inference import metric_inference_table
    from neuroxr.sweep import sweep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(small_store, layers=["l1"], directions=["crsa", "ersa", "cka", "forward"], client="serial", progress=False,
                    reps=2, metric_options={"crsa": {"compare_method": "pearson"}, "ersa": {"n_folds": 3}},
                    inference={"bootstrap": 4, "cka_method": "percentile"})
    got = res.inference_table.set_index("direction")["method"].to_dict()
    assert got == {"crsa": "percentile", "ersa": "percentile", "cka": "percentile", "forward": "percentile"}
    report = metric_inference_table(small_store).set_index("metric")["interval"].to_dict()
    assert report == {k: v for k, v in got.items() if k != "forward"}


def test_demo_seed_reaches_every_score_that_takes_one(monkeypatch):
    """``neuroxr demo --seed N`` ("seed of the example study and its scores") reached the directions only: cRSA's
    ceiling halves and the shape metric's train/test split were drawn with seed 0."""
    import importlib

    import pandas as pd

    from neuroxr.cli.demo import _demo_scores

    calls = []

    def fake_sweep(store, **kw):
        calls.append(kw)
        return type("R", (), {"table": pd.DataFrame({"direction": []}), "metric_table": pd.DataFrame()})()

    monkeypatch.setattr(importlib.import_module("neuroxr.sweep"), "sweep", fake_sweep)
    _demo_scores(None, reps=3, seed=7, scheduler="serial", progress=False)
    kw = calls[0]
    assert kw["seed"] == 7 and kw["reps"] == 3
    assert kw["metric_options"]["rsa"] == {"variant": "crsa", "reps": 3, "seed": 7}
    assert kw["metric_options"]["shape"]["seed"] == 7
