"""One path per result: the same request through the API, the store, the command line, a sweep's tables
and a report's tables gives the same numbers and the same labels."""

from __future__ import annotations

import warnings

import pytest
from conftest import cli_store


@pytest.fixture
def small_store(tmp_path):
    return cli_store(tmp_path / "s.zarr")


def _averaged_store(tmp_path):
    """A store of trial-averaged responses (one repeat) 'avg' and a layer net.l1, 20 stimuli."""
    import numpy as np

    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(20)]
    st = StudyStore(tmp_path / "avg.zarr")
    st.write_neural("avg", neural(rng.normal(size=(20, 4, 1)), ids, [f"n{j}" for j in range(4)]))
    st.write_features("net", "l1", features(rng.normal(size=(20, 6)), ids))
    return st


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


def test_model_to_model_seed_draws_its_inference_resamples_on_every_route(small_store, runner):
    """A model_to_model score without max_n takes no seed, but its bootstrap and permutation entries do (it draws
    their resamples): a mixed sweep passed it on, while a sweep of model_to_model alone and ``neuroxr score
    model-to-model --seed N --bootstrap M`` refused it as having no effect, so neither could ask for those entries."""
    import json

    import numpy as np

    from neuroxr import score
    from neuroxr.cli import main
    from neuroxr.layouts import features
    from neuroxr.sweep import sweep

    small_store.write_features("net2", "l1", features(np.random.default_rng(1).normal(size=(16, 5)),
                                                      [f"s{i:02d}" for i in range(16)]))
    inference = {"bootstrap": 4, "permutations": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(small_store, models=["net", "net2"], layers={"net": ["l1"]}, directions=["model_to_model"],
                    client="serial", progress=False, seed=5, inference=inference)
    rows = res.inference_table.set_index("source")
    assert rows.loc["net.l1", "bootstrap_seed"] == 5 and rows.loc["net.l1", "permutation_seed"] == 5
    want = score(small_store, "model_to_model_bootstrap", "net.l1", "net2.l1", n_boot=4, seed=5)
    got = small_store.read_dataset(rows.loc["net.l1", "bootstrap_path"])
    np.testing.assert_array_equal(got["median_ev_boot"].values, want["median_ev_boot"].values)
    out = runner.invoke(main, ["score", "model-to-model", str(small_store.url), "net.l1", "net2.l1", "--seed", "5",
                               "--bootstrap", "4", "--permutations", "3", "--require-existing", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert got["path"] == res.table.set_index("source").loc["net.l1", "path"]
    assert (got["bootstrap_path"], got["permutation_path"]) == tuple(rows.loc["net.l1", ["bootstrap_path", "permutation_path"]])


def test_trial_averaged_seed_draws_only_the_inference_resamples_on_the_command_line(tmp_path, runner):
    """On trial-averaged data (one repeat) the score draws no split halves and takes no seed, but its bootstrap
    does: a sweep keys the score without it and the bootstrap with it, while ``neuroxr score forward --seed N
    --bootstrap M`` refused the seed, so the sweep's bootstrap entry had no command line."""
    import json

    from neuroxr.cli import main
    from neuroxr.sweep import sweep

    st = _averaged_store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(st, directions=["forward"], client="serial", progress=False, seed=5, reps=2,
                    inference={"bootstrap": 4})
    row = res.inference_table.iloc[0]
    assert row["bootstrap_seed"] == 5
    out = runner.invoke(main, ["score", "forward", str(st.url), "net.l1", "avg", "--seed", "5", "--reps", "2",
                               "--bootstrap", "4", "--require-existing", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert (got["path"], got["bootstrap_path"]) == (res.table["path"].iloc[0], row["bootstrap_path"])
    plain = runner.invoke(main, ["score", "forward", str(st.url), "net.l1", "avg", "--seed", "5", "--reps", "2"])
    assert plain.exit_code == 2 and "--seed 5 has no effect" in plain.output  # without inference it still reads nothing


def test_no_ceiling_seed_draws_only_the_inference_resamples_on_every_route(small_store, runner):
    """Without a noise ceiling (and without max_n) a direction's score takes no seed, but its bootstrap and
    permutation entries do (it draws their resamples): ``sweep(noise_ceiling=False, seed=N, inference=...)`` and
    ``neuroxr score forward --no-ceiling --seed N --bootstrap M`` refused the seed as having no effect, as the
    Python API's ``bootstrap(..., noise_ceiling=False, seed=N)`` does not. Both now key the score as without the
    seed and give the inference entries the seed; without inference it is still refused."""
    import json

    import numpy as np

    from neuroxr import score
    from neuroxr.cli import main
    from neuroxr.errors import SweepConfigError
    from neuroxr.sweep import sweep
    from neuroxr.sweep.config import validate_config

    args = dict(layers=["l1"], directions=["forward", "inter_animal"], noise_ceiling=False, seed=5, reps=2)
    validate_config({**args, "inference": {"bootstrap": 4}}, small_store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(small_store, client="serial", progress=False, inference={"bootstrap": 4, "permutations": 3}, **args)
    rows = res.inference_table.set_index("direction")
    assert (rows["bootstrap_seed"] == 5).all() and (rows["permutation_seed"] == 5).all()
    want = score(small_store, "forward_bootstrap", "net.l1", "mA", n_boot=4, seed=5, reps=2, noise_ceiling=False)
    got = small_store.read_dataset(rows.loc["forward", "bootstrap_path"])
    np.testing.assert_array_equal(got["median_ev_boot"].values, want["median_ev_boot"].values)
    plain = score(small_store, "forward", "net.l1", "mA", reps=2, noise_ceiling=False)  # the score: no seed
    np.testing.assert_array_equal(small_store.read_dataset(res.table.set_index("direction").loc["forward", "path"])["ev"],
                                  plain["ev"])
    out = runner.invoke(main, ["score", "forward", str(small_store.url), "net.l1", "mA", "--no-ceiling", "--seed", "5",
                               "--reps", "2", "--bootstrap", "4", "--permutations", "3", "--require-existing", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert got["path"] == res.table.set_index("direction").loc["forward", "path"]
    assert (got["bootstrap_path"], got["permutation_path"]) == tuple(rows.loc["forward", ["bootstrap_path", "permutation_path"]])
    with pytest.raises(SweepConfigError, match="seed=5 has no effect without a noise ceiling"):
        sweep(small_store, client="serial", progress=False, **args)  # without inference it still reads nothing
    plain = runner.invoke(main, ["score", "forward", str(small_store.url), "net.l1", "mA", "--no-ceiling", "--seed", "5"])
    assert plain.exit_code == 2 and "--seed 5 has no effect" in plain.output


def test_permutation_entry_attrs_name_only_what_it_was_computed_with(small_store):
    """A permutation test without min_reliability draws no split halves: reps and split change none of its
    numbers (its entry is keyed without them), yet its attrs said ``reps: 20`` and ``split`` of a sweep asked with
    ``reps=3``. They are left out; with min_reliability (the halves choose the targets) they are the ones asked."""
    import json

    from neuroxr.entries import compute
    from neuroxr.predictivity.inference import permutation_test
    from neuroxr.sweep import sweep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(small_store, layers=["l1"], directions=["forward"], client="serial", progress=False, reps=3,
                    inference={"permutations": 3})
        path = res.inference_table["permutation_path"].iloc[0]
        attrs = small_store.read_dataset(path).attrs
        assert "reps" not in attrs and "split" not in attrs and attrs["noise_ceiling"] == 0
        assert json.loads(attrs["parameters"])["reps"] == 20  # its key: unchanged
        assert path == compute(small_store, "forward_permutation", "net.l1", "mA", params={"n_perm": 3}).path
        F, R = small_store.read_features("net", "l1"), small_store.read_neural("mA")
        assert "reps" not in permutation_test("forward", F, R, n_perm=3).attrs
        kept = permutation_test("forward", F, R, n_perm=3, reps=3, split="slots", min_reliability=0.0).attrs
        assert (kept["reps"], kept["split"], kept["noise_ceiling"]) == (3, "slots", 0)


def test_sweep_inference_table_says_what_every_bootstrap_resampled(small_store):
    """Every metric bootstrap resamples the stimuli, but the sweep's inference table read ``over`` from the entry's
    attrs, which cRSA's and eRSA's record and CKA's and shape's do not: their rows had ``over`` empty. A
    direction's row says its own (``over="targets"`` here)."""
    from neuroxr.sweep import sweep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(small_store, layers=["l1"], directions=["crsa", "cka", "shape", "forward"], client="serial",
                    progress=False, reps=2, inference={"bootstrap": 3, "over": "targets"})
    got = res.inference_table.set_index("direction")["over"].to_dict()
    assert got == {"crsa": "stimuli", "cka": "stimuli", "shape": "stimuli", "forward": "targets"}


def test_trial_averaged_split_is_left_out_of_the_inference_entries_as_out_of_the_score(tmp_path, runner):
    """On trial-averaged data split draws nothing: a sweep keyed the score without it but its bootstrap
    with it (split="slots": another entry of the same numbers, which ``neuroxr score forward --split slots
    --bootstrap M`` refuses to name). The bootstrap is now keyed as the default split's."""
    import json

    from neuroxr.cli import main
    from neuroxr.sweep import sweep

    st = _averaged_store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(st, directions=["forward"], client="serial", progress=False, split="slots",
                    inference={"bootstrap": 4})
    path = res.inference_table.iloc[0]["bootstrap_path"]
    out = runner.invoke(main, ["score", "forward", str(st.url), "net.l1", "avg", "--bootstrap", "4",
                               "--require-existing", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["bootstrap_path"] == path
