"""The store report: summary table, figures, Markdown/HTML page and the ``report`` command."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import neuroxr as nx  # noqa: E402
from neuroxr.cli.report import report_command  # noqa: E402
from neuroxr.datasets.synthetic import write_example_study  # noqa: E402
from neuroxr.layouts import features, neural  # noqa: E402
from neuroxr.report import TABLE_COLUMNS, score_table, stack_layers, write_report  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

MODELS = {"netA": [("layer1", 30, 0.4, 4), ("layer2", 20, 0.7, 2), ("layer3", 12, 1.0, 0)], "netB": [("conv1", 24, 0.3, 4)]}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small example study with forward and reverse scores on two layers, plus the other directions."""
    path = tmp_path_factory.mktemp("report") / "study.zarr"
    store = write_example_study(path, seed=0, n_stimuli=50, animals={"animalA": 12, "animalB": 9}, n_repeats=(4, 5),
                                models=MODELS, n_latent=6)
    for layer in ("layer1", "layer3"):
        nx.score(store, "forward", f"netA.{layer}", "animalA", reps=2)
        nx.score(store, "reverse", "animalA", f"netA.{layer}", reps=2)
    nx.score(store, "forward", "netB.conv1", "animalA", reps=2)  # one layer only: no profile
    nx.score(store, "inter_animal", "animalB", "animalA", reps=2)
    nx.score(store, "model_to_model", "netA.layer3", "netB.conv1")
    return store


def _is_png(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == PNG_MAGIC


def test_score_table_summarises_every_entry(demo):
    table, scores = score_table(demo)
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 7 and table["current"].all()
    assert sorted(table["path"]) == sorted(nx.list_entries(demo).query("kind != 'gram'")["path"])
    assert (table["error"] == "").all()
    row = table[(table.direction == "forward") & (table.source == "netA.layer3")].iloc[0]
    ds = demo.read_dataset(nx.lookup(demo, "forward", "netA.layer3", "animalA", params={"reps": 2})).load()
    ev = ds.ev.mean("rep").values
    assert row.model == "netA" and row.layer == "layer3" and row.neural == "animalA" and row.region == "all"
    assert row.target_kind == "neuroid" and row.n_targets == 12 and row.reps == 2
    assert row.n_finite == np.isfinite(ev).sum()
    assert row.median_ev == pytest.approx(np.nanmedian(ev))
    assert row.mean_ev == pytest.approx(np.nanmean(ev))
    assert row.q25_ev == pytest.approx(np.nanpercentile(ev, 25))
    rev = table[(table.direction == "reverse") & (table.target == "netA.layer1")].iloc[0]
    assert rev.model == "netA" and rev.layer == "layer1" and rev.neural == "animalA" and rev.target_kind == "unit" and rev.n_targets == 30
    m2m = table[table.direction == "model_to_model"].iloc[0]
    assert m2m.model == "netA" and m2m.layer == "layer3" and m2m.reps == 1
    assert set(scores) == set(zip(table.direction, table.source, table.target))


def test_score_table_parses_region_subsets_and_dotted_names(tmp_path):
    store = StudyStore(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(6)]
    store.write_neural("monkey.A", neural(rng.normal(size=(6, 4, 2)), stim, region="IT"))
    ds = xr.Dataset({"ev": (("neuroid", "rep"), rng.normal(50, 5, size=(4, 2)))},
                    coords={"neuroid_id": ("neuroid", [f"n{i}" for i in range(4)]), "rep": [0, 1]})
    store.write_scores("inter_animal", "monkey.A.IT", "monkey.A.V4", ds)
    table, _ = score_table(store)
    assert table.loc[0, "neural"] == "monkey.A" and table.loc[0, "region"] == "V4"


def test_write_report_markdown(demo, tmp_path):
    out = tmp_path / "rep"
    path = write_report(demo, out, reliability_reps=3)
    assert path == out / "report.md" and path.exists()
    text = path.read_text()
    for direction, source, target in zip(*(score_table(demo)[0][c] for c in ("direction", "source", "target"))):
        assert f"| {direction} | {source} | {target} |" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted([
        "reliability_animalA.png", "reliability_animalB.png",
        "layers_forward_netA__animalA.png", "layers_reverse_netA__animalA.png",  # netB has one layer scored: no profile
        "forward_vs_reverse.png",
    ])
    for name in pngs:
        assert f"]({name})" in text
        assert _is_png(out / name)
    csv = pd.read_csv(out / "scores.csv")
    assert len(csv) == 7 and list(csv.columns) == TABLE_COLUMNS


def test_write_report_html_without_reliability(demo, tmp_path):
    path = write_report(demo, tmp_path, format="html", reliability=False)
    assert path.name == "report.html"
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table" in page
    imgs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert not any(n.startswith("reliability_") for n in imgs)
    assert len(imgs) == 3
    for name in imgs:
        assert f'<img src="{name}"' in page


def test_write_report_of_a_store_without_scores(tmp_path):
    store = StudyStore(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    store.write_neural("avg", neural(rng.normal(size=(8, 3, 1)), stim))  # trial-averaged: no reliability
    path = write_report(store, tmp_path / "rep")
    text = path.read_text()
    assert "No complete score entry." in text
    assert "avg: trial-averaged" in text
    assert not list((tmp_path / "rep").glob("*.png"))


def test_write_report_rejects_unknown_format(demo, tmp_path):
    with pytest.raises(ValueError, match="'format'"):
        write_report(demo, tmp_path, format="pdf")


def test_stack_layers_pairs_neuroids_by_id_and_pads_units():
    def ds(dim, ids, values, **coords):
        return xr.Dataset({"ev": ((dim, "rep"), np.repeat(np.asarray(values, float)[:, None], 2, axis=1))},
                          coords={f"{dim}_id": (dim, ids), "rep": [0, 1], **{k: (dim, v) for k, v in coords.items()}})

    a = ds("neuroid", ["n0", "n1", "n2"], [1, 2, 3], region=["V4", "IT", "IT"])
    b = ds("neuroid", ["n2", "n0", "n1"], [30, 10, 20], region=["IT", "V4", "IT"])
    da = stack_layers([a, b], ["l1", "l2"])
    assert da.dims == ("layer", "neuroid") and list(da.layer.values) == ["l1", "l2"]
    np.testing.assert_allclose(da.values, [[1, 2, 3], [10, 20, 30]])
    assert list(da.region.values) == ["V4", "IT", "IT"]
    u = stack_layers([ds("unit", ["u0", "u1", "u2"], [1, 2, 3]), ds("unit", ["v0"], [5])], ["l1", "l2"])
    np.testing.assert_allclose(u.values, [[1, 2, 3], [5, np.nan, np.nan]])
    with pytest.raises(ValueError, match="one score Dataset per layer"):
        stack_layers([a], ["l1", "l2"])
    with pytest.raises(ValueError, match="same target dim"):
        stack_layers([a, ds("unit", ["u0"], [1])], ["l1", "l2"])


# ---------------------------------------------------------------------------- the command
def test_report_command_writes_the_report(demo, tmp_path):
    out = tmp_path / "cli-report"
    result = CliRunner().invoke(report_command, [demo.url, "--out", str(out), "--format", "html", "--no-reliability"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output and "7 score entries" in result.output
    assert (out / "report.html").exists() and (out / "scores.csv").exists()


def test_report_command_default_folder(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(report_command, [demo.url, "--no-reliability"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "study-report" / "report.md").exists()


def test_report_command_errors(tmp_path, demo):
    result = CliRunner().invoke(report_command, [str(tmp_path / "missing.zarr")])
    assert result.exit_code != 0
    assert "no study store" in result.output
    result = CliRunner().invoke(report_command, [demo.url, "--format", "pdf"])
    assert result.exit_code != 0 and "pdf" in result.output


def test_score_table_lists_every_entry_of_a_pair_current_first(tmp_path):
    rng = np.random.default_rng(2)
    stim = [f"s{i}" for i in range(20)]
    store = StudyStore(tmp_path / "two.zarr")
    store.write_neural("mA", neural(rng.normal(size=(20, 3, 2)), stim))
    store.write_features("net", "l.1", features(rng.normal(size=(20, 4)), stim))
    old = nx.score(store, "forward", "net.l.1", "mA", reps=2)
    store.write_features("net", "l.1", features(rng.normal(size=(20, 4)), stim))  # the old entry is stale now
    new = nx.score(store, "forward", "net.l.1", "mA", reps=2)
    table, scores = score_table(store)
    assert table["current"].tolist() == [True, False]
    assert (table.model == "net").all() and (table.layer == "l.1").all() and (table.neural == "mA").all()
    assert table.median_ev.iloc[0] == pytest.approx(float(np.nanmedian(new.ev.mean("rep"))))
    assert table.median_ev.iloc[1] == pytest.approx(float(np.nanmedian(old.ev.mean("rep"))))
    np.testing.assert_allclose(scores[("forward", "net.l.1", "mA")].ev.values, new.ev.values)
