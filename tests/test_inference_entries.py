"""Inference results as store entries (issue 16): provenance, read-back, listing, store
validation and the ``neuroxr score ... --bootstrap N --permutations N`` options."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import neuroxr as nx
from neuroxr.attrs import decoded
from neuroxr.cli import main
from neuroxr.entries import compute
from neuroxr.entries.kinds import speaks_as
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.predictivity.inference import bootstrap
from neuroxr.schemas import validate_store


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


def test_bootstrap_entry_roundtrip(sweep_copy):
    path = sweep_copy()
    first = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=40, reps=2))
    assert first.computed and first.path.startswith("inference/forward_bootstrap/netA.layer3__animalA/")
    assert first.provenance["params"]["n_boot"] == 40 and first.provenance["params"]["seed"] == 0
    again = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=40, reps=2))
    assert not again.computed
    np.testing.assert_allclose(again.dataset["median_ev_boot"], first.dataset["median_ev_boot"])
    store = nx.open_store(path, mode="r")
    direct = bootstrap("forward", nx.read_set(store, nx.resolve(store, "netA.layer3")),
                       nx.read_set(store, nx.resolve(store, "animalA")), n_boot=40, reps=2)
    np.testing.assert_allclose(first.dataset["median_ev_ci"], direct["median_ev_ci"])
    other = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=41, reps=2))
    assert other.path != first.path
    listed = nx.list_entries(path)
    assert set(listed["kind"]) == {"forward_bootstrap"} and listed["current"].all()
    assert validate_store(path) == []
    with pytest.raises(ParameterError, match="n_perm"):
        compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_perm=3))


def test_cli_score_bootstrap_and_permutations(sweep_copy):
    path = str(sweep_copy())
    res = CliRunner().invoke(main, ["score", "forward", path, "netA.layer3", "animalA", "--reps", "2",
                                    "--bootstrap", "30", "--permutations", "19", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    lo, hi = out["median_ev_ci"]
    assert lo <= out["median_ev"] <= hi
    assert out["median_p"] == pytest.approx(1 / 20)
    kinds = set(nx.list_entries(path)["kind"])
    assert {"forward", "forward_bootstrap", "forward_permutation"} <= kinds
    info = CliRunner().invoke(main, ["info", path])
    assert "forward_permutation" in info.output
    ia = CliRunner().invoke(main, ["score", "inter-animal", path, "animalA", "animalB", "--reps", "2", "--bootstrap", "5"])
    assert ia.exit_code == 0, ia.output
    assert "inter_animal_bootstrap" in set(nx.list_entries(path)["kind"])
    bad = CliRunner().invoke(main, ["score", "forward", path, "netA.layer3", "animalA", "--max-n", "5", "--bootstrap", "5"])
    assert bad.exit_code != 0 and "--max-n" in bad.output


def test_sweep_inference_entries_and_config(sweep_copy, tmp_path):
    from neuroxr.errors import SweepConfigError
    from neuroxr.sweep import sweep
    from neuroxr.sweep.config import load_config

    path = sweep_copy()
    res = sweep(path, models="netA", neural="animalA", client="serial", progress=False, reps=2,
                inference={"bootstrap": 30, "permutations": 19})
    tab = res.inference_table
    assert set(tab["direction"]) == {"forward", "reverse"} and len(tab) == 4
    assert (tab["median_ev_low"] <= tab["median_ev"]).all() and (tab["median_ev"] <= tab["median_ev_high"]).all()
    fwd = tab[(tab["direction"] == "forward") & (tab["layer"] == "layer3")].iloc[0]
    direct = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=30, reps=2))
    assert not direct.computed and direct.path == fwd["bootstrap_path"]  # same entry: read back
    again = sweep(path, models="netA", neural="animalA", client="serial", progress=False, reps=2,
                  inference={"bootstrap": 30, "permutations": 19})
    assert list(again.inference_table["bootstrap_path"]) == list(tab["bootstrap_path"])
    _check_plots(tab)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("directions: [forward]\ninference: {bootstrap: 100, permutations: 50}\n")
    assert load_config(cfg)["inference"] == {"bootstrap": 100, "permutations": 50}
    cfg.write_text("inference: {bootstrap: -1}\n")
    with pytest.raises(SweepConfigError, match="inference"):
        load_config(cfg)


def test_sweep_inference_takes_the_score_arguments(sweep_copy):
    """A sweep's bootstrap and permutation entries use its n_components and min_reliability: their
    median is the score table's (over the included targets), never one of other settings."""
    from neuroxr.sweep import sweep

    path = sweep_copy()
    kw = dict(models="netA", layers="layer3", neural="animalA", directions=["forward"], client="serial",
              progress=False, reps=2, regressor="pls", n_components=2, min_reliability=0.5)
    res = sweep(path, inference={"bootstrap": 20, "permutations": 9}, **kw)
    row = res.inference_table.iloc[0]
    boot = nx.open_store(path).read_dataset(row["bootstrap_path"])
    assert boot.pipe(decoded).attrs["parameters"]["n_components"] == 2 and boot.pipe(decoded).attrs["parameters"]["min_reliability"] == 0.5
    score = nx.open_store(path).read_dataset(res.table.iloc[0]["path"])
    inc = score["included"].values
    assert 0 < inc.sum() < inc.size
    np.testing.assert_array_equal(boot["included"].values, inc)
    assert row["median_ev"] == pytest.approx(float(np.nanmedian(score["ev"].mean("rep").values[inc])), rel=1e-9)
    assert res.table.iloc[0]["median_ev"] == pytest.approx(row["median_ev"], rel=1e-9)


def test_the_sweep_inference_table_says_each_rows_resampling_parameters(sweep_copy):
    """The rows held no n_boot, level, method, over, n_perm or seed: two sweeps of other levels were told
    apart by the hashed entry path alone."""
    from neuroxr.sweep import sweep

    path = sweep_copy()
    kw = dict(models="netA", layers="layer3", neural="animalA", directions=["forward", "cka"], client="serial",
              progress=False, reps=2, seed=3)
    table = sweep(path, inference={"bootstrap": 6, "permutations": 5, "level": 0.9, "over": "targets"}, **kw).inference_table
    assert len(table) == 2
    for _, row in table.iterrows():
        boot = nx.open_store(path).read_dataset(row["bootstrap_path"]).attrs
        want = {"n_boot": 6, "level": 0.9, "n_perm": 5, "bootstrap_seed": 3, "permutation_seed": 3, "method": boot["method"]}
        assert {k: row[k] for k in want} == want, row
    assert table.set_index("direction").loc["forward", "over"] == "targets"


def test_sweep_inference_of_model_to_model_with_min_reliability(sweep_copy):
    """min_reliability (a ceiling option) reaches neither model_to_model's scores nor its inference."""
    from neuroxr.errors import SweepConfigError
    from neuroxr.sweep import sweep

    path = sweep_copy()
    with pytest.raises(SweepConfigError, match=r"^sweep: min_reliability has no effect with the sweep's directions"):
        sweep(path, directions=["model_to_model"], client="serial", progress=False,
              min_reliability=0.5, inference={"bootstrap": 5})
    res = sweep(path, models=["netA", "netB"], layers=["layer3", "fc"], neural="animalA",
                directions=["model_to_model", "forward"], client="serial",
                progress=False, reps=2, min_reliability=0.5, inference={"bootstrap": 5})
    tab = res.inference_table
    mm = tab[tab["direction"] == "model_to_model"]
    assert len(mm) and mm["median_ev"].notna().all()
    assert all("min_reliability" not in nx.open_store(path).read_dataset(p).pipe(decoded).attrs["parameters"] for p in mm["bootstrap_path"])


def _check_plots(tab):
    from neuroxr.plot import forward_vs_reverse_ci, layer_profile_ci

    fig = layer_profile_ci(tab, direction="forward", alpha=0.1)
    ax = fig.axes[0]
    fwd = tab[tab["direction"] == "forward"]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), fwd["median_ev"].to_numpy(float))
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    assert len(stars) == 1 and len(stars[0].get_xdata()) == int((fwd["median_p"] <= 0.1).sum())
    fig = forward_vs_reverse_ci(tab, alpha=0.1)
    from matplotlib.collections import PathCollection

    pts = np.concatenate([c.get_offsets() for c in fig.axes[0].collections if isinstance(c, PathCollection)])
    assert len(pts) == 2  # one point per layer with both directions
    with pytest.raises(LayoutError, match="median_ev_low"):
        layer_profile_ci(tab.drop(columns="median_ev_low"))


def test_report_shows_inference(sweep_copy, tmp_path):
    from neuroxr.report import write_report

    path = sweep_copy()
    for layer in ("layer1", "layer3"):
        for kind in ("forward", "forward_bootstrap", "forward_permutation"):
            params = {**({"reps": 2} if not kind.endswith("permutation") else {}),
                      **({"n_boot": 30} if kind.endswith("bootstrap") else {}),
                      **({"n_perm": 19} if kind.endswith("permutation") else {})}
            compute(path, kind, f"netA.{layer}", "animalA", params=params)
    page = write_report(path, tmp_path / "rep", format="md", reliability=False, n_boot=50)
    text = page.read_text()
    assert "## Inference: intervals and permutation tests" in text and "inference_forward.png" in text
    import pandas as pd

    tab = pd.read_csv(tmp_path / "rep" / "inference.csv")
    assert len(tab) == 2 and (tab["median_ev_low"] <= tab["median_ev_high"]).all()
    assert set(tab["median_p"]) == {1 / 20}


def test_inference_entries_refuse_and_sweeps_drop_options_that_change_nothing(sweep_copy):
    """A permutation entry without min_reliability refuses reps / split / noise_ceiling (its
    statistic has no ceiling) and a model_to_model inference entry refuses reps, before any entry is
    looked up; a sweep passes them only where they apply, so its permutation entries are the ones
    computed without them (one key whatever the sweep's reps)."""
    from neuroxr.sweep import sweep

    path = sweep_copy()
    for kind, params in (("forward_permutation", dict(n_perm=9, reps=2)),
                         ("reverse_permutation", dict(n_perm=9, split="slots")),
                         ("forward_permutation", dict(n_perm=9, noise_ceiling=False)),
                         ("model_to_model_bootstrap", dict(n_boot=5, reps=3)),
                         ("model_to_model_permutation", dict(n_perm=9, reps=3))):
        src, tgt = ("netA.layer3", "netA.layer1") if kind.startswith("model") else (
            ("animalA", "netA.layer3") if kind.startswith("reverse") else ("netA.layer3", "animalA"))
        with pytest.raises(ParameterError, match=rf"^{speaks_as(kind)}: .* has no effect"):
            compute(path, kind, src, tgt, params=params)
        with pytest.raises(ParameterError, match=rf"^{speaks_as(kind)}: .* has no effect"):
            nx.lookup(path, kind, src, tgt, params=params)
    res = sweep(path, models="netA", layers="layer3", neural="animalA", directions=["forward"],
                client="serial", progress=False, reps=2, split="slots", inference={"bootstrap": 5, "permutations": 9})
    tab = res.inference_table
    store = nx.open_store(path)
    fwd = tab[tab["direction"] == "forward"].iloc[0]
    assert store.read_dataset(fwd["bootstrap_path"]).pipe(decoded).attrs["parameters"]["reps"] == 2
    perm = compute(path, "forward_permutation", "netA.layer3", "animalA", params=dict(n_perm=9))
    assert not perm.computed and perm.path == fwd["permutation_path"]
    mixed = sweep(path, models=["netA", "netB"], layers=["layer3", "fc"], neural="animalA",
                  directions=["model_to_model", "forward"], client="serial",
                  progress=False, reps=2, inference={"bootstrap": 5, "permutations": 9}).inference_table
    mm = mixed[mixed["direction"] == "model_to_model"]  # reps applies to forward, not to model_to_model
    assert len(mm) and all(store.read_dataset(p).pipe(decoded).attrs["parameters"]["reps"] == 1
                           for p in [*mm["bootstrap_path"], *mm["permutation_path"]])
    with_mr = sweep(path, models="netA", layers="layer3", neural="animalA", directions=["forward"], client="serial",
                    progress=False, reps=2, min_reliability=0.2, inference={"permutations": 9})
    p = store.read_dataset(with_mr.inference_table.iloc[0]["permutation_path"]).pipe(decoded).attrs["parameters"]
    assert (p["reps"], p["min_reliability"]) == (2, 0.2)  # with min_reliability the halves choose the targets


def test_sweep_and_report_count_the_undefined_resamples(tmp_path):
    """On 5 stimuli some resamples draw fewer than 3 distinct ones: their statistic is undefined and
    the interval NaN. The sweep's inference table, its text summary and the report's tables carry
    n_boot_undefined next to the interval (the median EV's: resamples where every target's EV is NaN)."""
    import pandas as pd

    from neuroxr.cli.sweep import sweep_command
    from neuroxr.report import write_report
    from neuroxr.store import StudyStore
    from neuroxr.sweep import sweep

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(5)]
    X = rng.normal(size=(5, 4))
    path = tmp_path / "few.zarr"
    store = StudyStore(path)
    store.write_features("net", "l1", nx.features(X, stimulus_id=ids))
    store.write_neural("A", nx.neural(X[:, :3, None] + rng.normal(size=(5, 3, 4)), stimulus_id=ids))
    res = sweep(path, models="net", neural="A", directions=["forward", "crsa", "cka"], client="serial", progress=False,
                reps=1, n_folds=3, inference={"bootstrap": 30})
    tab = res.inference_table.set_index("direction")
    read = nx.open_store(path, mode="r")
    ev_boot = read.read_dataset(tab.loc["forward", "bootstrap_path"])["ev_boot"].values  # (boot, neuroid)
    assert tab.loc["forward", "n_boot_undefined"] == np.isnan(ev_boot).all(axis=1).sum() > 0
    assert np.isnan(tab.loc["forward", ["median_ev_low", "median_ev_high", "ceiling_low", "ceiling_high"]].astype(float)).all()
    for metric in ("crsa", "cka"):
        ds = read.read_dataset(tab.loc[metric, "bootstrap_path"])
        assert tab.loc[metric, "n_boot_undefined"] == np.isnan(ds["score_boot"].values).sum()
        assert np.isnan(tab.loc[metric, "score_low"]) == (tab.loc[metric, "n_boot_undefined"] > 0)
    # both have resamples of fewer than 3 distinct stimuli (CKA's were scored 1 whatever the data, before)
    assert tab.loc["crsa", "n_boot_undefined"] > 0 and tab.loc["cka", "n_boot_undefined"] > 0
    # the report: a column in both inference tables (html, md and the csv files)
    page = write_report(path, tmp_path / "rep", format="md", reliability=False, n_boot=20).read_text()
    for section in ("## Inference: intervals", "## Inference of the metrics"):
        part = page[page.index(section):]
        header = next(line for line in part.splitlines() if line.startswith("| "))
        assert "| n_boot | n_boot_undefined |" in header and "n_boot_undefined: of the n_boot resamples" in part
    n_fwd = int(tab.loc["forward", "n_boot_undefined"])
    assert f"| 30 | {n_fwd} |" in page
    for name, rows in (("inference.csv", ["forward"]), ("metric_inference.csv", ["crsa", "cka"])):
        csv = pd.read_csv(tmp_path / "rep" / name).set_index("direction" if name == "inference.csv" else "metric")
        assert (csv.loc[rows, "n_boot_undefined"] == tab.loc[rows, "n_boot_undefined"]).all()
    html = write_report(path, tmp_path / "rep_html", format="html", reliability=False, n_boot=20).read_text()
    assert html.count("<th>n_boot_undefined</th>") == 2
    # the sweep command's text summary names the count when there is one
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("models: [net]\nneural: [A]\ndirections: [forward]\nreps: 1\nn_folds: 3\ninference: {bootstrap: 30}\n")
    out = CliRunner().invoke(sweep_command, [str(path), str(cfg), "--scheduler", "serial", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "n_boot_undefined: resamples with an undefined statistic" in out.output
    # neuroxr score's bootstrap lines and --json: the count beside the NaN interval
    for args, key in ((["forward", str(path), "net.l1", "A", "--reps", "1", "--n-folds", "3"], "forward"),
                      (["rsa", str(path), "net.l1", "A"], "crsa")):
        res = CliRunner().invoke(main, ["score", *args, "--bootstrap", "30"])
        assert res.exit_code == 0, res.output
        want = int(tab.loc[key, "n_boot_undefined"])
        assert f"(30 resamples of the stimuli; {want} with an undefined statistic, so no interval)" in res.output, res.output
        res = CliRunner().invoke(main, ["score", *args, "--bootstrap", "30", "--json"])
        assert json.loads(res.output.strip().splitlines()[-1])["n_boot_undefined"] == want, res.output
    # a count column with empty cells (a permutation-only row) shows integers
    from neuroxr.report.write import _rows

    assert _rows(pd.DataFrame({"n_boot": [30, None], "median_ev": [1.0, 2.0]}))["rows"] == [["30", "1.00"], ["", "2.00"]]
