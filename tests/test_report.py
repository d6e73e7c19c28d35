"""The store report: tables, headline, figures, self-contained HTML / Markdown page and the ``report`` command."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import neuroxr as nx  # noqa: E402
from neuroxr.attrs import decoded  # noqa: E402
from neuroxr.cli import main as cli_main  # noqa: E402
from neuroxr.cli.report import report_command  # noqa: E402
from neuroxr.datasets.synthetic import write_example_study  # noqa: E402
from neuroxr.entries import score_metric  # noqa: E402
from neuroxr.errors import LayoutError, ParameterError  # noqa: E402
from neuroxr.layouts import features, neural  # noqa: E402
from neuroxr.report import (  # noqa: E402
    HEADLINE_COLUMNS,
    METRIC_COLUMNS,
    TABLE_COLUMNS,
    headline,
    metric_table,
    score_table,
    stack_layers,
    target_table,
    write_report,
)
from neuroxr.report.table import ev_summary  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402
from neuroxr.sweep import best_layers, target_halves  # noqa: E402

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
    for layer in ("layer1", "layer3"):
        score_metric(store, "cka", f"netA.{layer}", "animalA")
    score_metric(store, "dimensionality", "netA.layer1")
    return store


def _is_png(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == PNG_MAGIC


def test_score_table_summarises_every_entry(demo):
    table, scores = score_table(demo)
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 7 and table["current"].all()
    entries = nx.list_entries(demo)
    assert sorted(table["path"]) == sorted(entries[entries["kind"].isin(["forward", "reverse", "inter_animal", "model_to_model"])]["path"])
    assert (table["error"] == "").all()
    row = table[(table.direction == "forward") & (table.source == "netA.layer3")].iloc[0]
    ds = demo.read_dataset(nx.lookup(demo, "forward", "netA.layer3", "animalA", params={"reps": 2})).load()
    ev = ds.ev.mean("rep").values
    assert row.model == "netA" and row.layer == "layer3" and row.neural == "animalA" and row.region == "all"
    assert row.target_kind == "neuroid" and row.n_all == 12 and row.n_excluded == 0 and row.reps == 2
    assert row.n_targets == np.isfinite(ev).sum()
    assert row.median_ev == pytest.approx(np.nanmedian(ev))
    assert row.mean_ev == pytest.approx(np.nanmean(ev))
    assert row.q25_ev == pytest.approx(np.nanpercentile(ev, 25))
    rev = table[(table.direction == "reverse") & (table.target == "netA.layer1")].iloc[0]
    assert rev.model == "netA" and rev.layer == "layer1" and rev.neural == "animalA" and rev.target_kind == "unit" and rev.n_all == 30
    m2m = table[table.direction == "model_to_model"].iloc[0]
    assert m2m.model == "netA" and m2m.layer == "layer3" and m2m.reps == 1
    assert set(scores) == set(zip(table.direction, table.source, table.target))


def test_score_table_parses_region_subsets_and_dotted_names(tmp_path):
    store = StudyStore(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(6)]
    stim = [f"s{i}" for i in range(12)]
    store.write_neural("monkey.A", neural(rng.normal(size=(12, 6, 2)), stim, region=["IT"] * 3 + ["V4"] * 3))
    nx.score(store, "inter_animal", "monkey.A.IT", "monkey.A.V4", reps=2, n_folds=3)
    table, _ = score_table(store)
    assert table.loc[0, "neural"] == "monkey.A" and table.loc[0, "region"] == "V4"


def test_write_report_markdown(demo, tmp_path):
    out = tmp_path / "rep"
    path = write_report(demo, out, "md", reliability_reps=3)
    assert path == out / "report.md" and path.exists()
    text = path.read_text()
    for direction, source, target in zip(*(score_table(demo)[0][c] for c in ("direction", "source", "target"))):
        assert f"| {direction} | {source} | {target} |" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted([
        "reliability_animalA.png", "reliability_animalB.png",
        "layers_forward_netA__animalA.png", "layers_reverse_netA__animalA.png",  # netB has one layer scored: no profile
        "forward_vs_reverse.png", "headline.png", "metric_cka_netA.png",
    ])
    for name in pngs:
        assert f"]({name})" in text
        assert _is_png(out / name)
    csv = pd.read_csv(out / "scores.csv")
    assert len(csv) == 7 and list(csv.columns) == TABLE_COLUMNS


def test_write_report_html_is_self_contained(demo, tmp_path):
    path = write_report(demo, tmp_path, reliability=False)
    assert path.name == "report.html"
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table" in page
    assert not list(tmp_path.glob("*.png"))  # figures are embedded, not written
    srcs = re.findall(r'<img src="([^"]*)"', page)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for src in srcs:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    # the headline comes first, then profiles, forward vs reverse, metrics, scores, provenance
    order = [page.index(f'id="{i}"') for i in ("headline", "layers", "forward-reverse", "metrics", "scores", "provenance")]
    assert order == sorted(order)
    assert 'id="reliability"' not in page  # reliability=False


def test_headline_interval_does_not_depend_on_the_order_of_the_targets_or_rows(demo):
    # a neural set stored with its neuroids in another order gives the target table rows in that order
    table, scores = score_table(demo)
    targets = target_table(table, scores)
    group = targets.groupby(["direction", "model", "layer", "neural", "region"], sort=False).ngroup().to_numpy()
    mixed = np.lexsort((np.random.default_rng(0).permutation(len(targets)), group))  # targets shuffled inside each entry
    assert not np.array_equal(mixed, np.arange(len(targets)))
    shuffled = targets.iloc[mixed].reset_index(drop=True)
    cols = ["direction", "model", "neural", "region", "best_layer", "test_ev", "ci_low", "ci_high", "ceiling"]
    pd.testing.assert_frame_equal(headline(shuffled, seed=3, n_boot=200)[cols], headline(targets, seed=3, n_boot=200)[cols])
    # nor do the other rows: each row's draws are seeded by its key, not its position
    keys = ["direction", "model", "neural", "region"]
    full = headline(targets, seed=3, n_boot=200).set_index(keys)[cols[4:]]
    for k, row in full.iterrows():
        alone = headline(targets[(targets[keys] == k).all(axis=1)], seed=3, n_boot=200)
        pd.testing.assert_series_equal(alone.set_index(keys)[cols[4:]].loc[k], row)


def test_write_report_exports_figures_as_pdf(demo, tmp_path):
    path = write_report(demo, tmp_path, "html", figures="pdf", reliability=False)
    pdfs = sorted(p.name for p in tmp_path.glob("*.pdf"))
    assert pdfs == sorted(["headline.pdf", "layers_forward_netA__animalA.pdf", "layers_reverse_netA__animalA.pdf",
                           "forward_vs_reverse.pdf", "metric_cka_netA.pdf"])
    for name in pdfs:
        assert (tmp_path / name).read_bytes()[:5] == b"%PDF-"
        assert f'href="{name}"' in path.read_text()
    md = write_report(demo, tmp_path / "md", "md", figures="pdf", reliability=False)
    assert "](headline.pdf)" in md.read_text() and not list((tmp_path / "md").glob("*.png"))


def _scored_test_half(targets, model, region, ids, seed):
    """The test half of best_layers over ``ids``: target_halves of the ids scored (a finite EV,
    included) in some forward layer of the model and region."""
    g = targets[(targets.direction == "forward") & (targets.model == model) & (targets.region == region)]
    ok = np.isfinite(g.ev.to_numpy(dtype=float)) & (g.included.to_numpy(dtype=bool) if "included" in g else True)
    scored = np.unique(g.target_id.to_numpy().astype(str)[ok])
    return np.isin(ids, scored) & ~np.isin(ids, scored[target_halves(scored, f"forward/animalA/{region}", seed)])


def test_headline_is_the_held_out_best_layer_with_its_interval_and_ceiling(demo):
    table, scores = score_table(demo)
    targets = target_table(table, scores)
    best = headline(targets, seed=3, n_boot=200)
    assert list(best.columns) == HEADLINE_COLUMNS
    ref = best_layers(targets[["direction", "model", "layer", "neural", "region", "target_id", "ev"]], seed=3)
    # every column of best_layers but all_ev (the headline's interval is over the test half); n_unscored too
    pd.testing.assert_frame_equal(best[list(ref.columns.drop(["all_ev"]))].reset_index(drop=True),
                                  ref[list(ref.columns.drop(["all_ev"]))].reset_index(drop=True), check_dtype=False)
    row = best[(best.direction == "forward") & (best.model == "netA")].iloc[0]
    ds = scores[("forward", f"netA.{row.best_layer}", "animalA")]
    ids = ds.neuroid_id.values.astype(str)
    test = _scored_test_half(targets, "netA", "all", ids, 3)
    ev = ds.ev.mean("rep").values[test][np.argsort(ids[test])]  # drawn in the order of the target ids
    assert row.test_ev == pytest.approx(np.nanmedian(ev))
    assert row.ceiling == pytest.approx(np.nanmedian(ds.ceiling.mean("rep").values[test]))
    # the percentile bootstrap of the median over the test targets: scipy on the same draws
    # (kernels.resample.bootstrap_indices: default_rng([seed, stream]), stream = crc32 of the selection split's key)
    from scipy.stats import bootstrap

    stream = zlib.crc32(b"forward/animalA/all")
    ci = bootstrap((ev[np.isfinite(ev)],), np.median, n_resamples=200, method="percentile", vectorized=True,
                   rng=np.random.default_rng([3, stream])).confidence_interval
    assert row.ci_low == pytest.approx(ci.low, abs=1e-12) and row.ci_high == pytest.approx(ci.high, abs=1e-12)
    assert row.ci_low <= row.test_ev <= row.ci_high
    # the regions of the whole-set forward entries: each region's neuroids and halves
    regions = sorted(set(ds.region.values.astype(str)))
    assert len(regions) > 1
    for region in regions:
        rrow = best[(best.direction == "forward") & (best.model == "netA") & (best.region == region)].iloc[0]
        rds = scores[("forward", f"netA.{rrow.best_layer}", "animalA")]
        keep = rds.region.values.astype(str) == region
        rtest = _scored_test_half(targets, "netA", region, rds.neuroid_id.values.astype(str)[keep], 3)
        rev = rds.ev.mean("rep").values[keep][rtest]
        assert rrow.test_ev == pytest.approx(np.nanmedian(rev))
        assert rrow.n_test == np.isfinite(rev).sum()
    assert set(best[best.direction == "reverse"].region) == {"all"}
    # a layer seen by only one model: that model's best layer is it
    assert set(best[(best.direction == "forward") & (best.model == "netB")].best_layer) == {"conv1"}


def test_headline_splits_only_the_scored_targets(demo):
    """A target never scored (NaN EV in every layer) changes no headline number: the halves, the
    interval and the ceiling are those of the other targets."""
    table, scores = score_table(demo)
    targets = target_table(table, scores)
    fwd = targets[targets.direction == "forward"]
    first = sorted(fwd.target_id.astype(str))[0]
    holed = targets.copy()
    holed.loc[(holed.direction == "forward") & (holed.target_id.astype(str) == first), "ev"] = np.nan
    gone = targets[~((targets.direction == "forward") & (targets.target_id.astype(str) == first))]
    a, b = headline(holed, seed=3, n_boot=50), headline(gone, seed=3, n_boot=50)
    pd.testing.assert_frame_equal(a.drop(columns="n_unscored"), b.drop(columns="n_unscored"))
    extra = (a["n_unscored"] - b["n_unscored"]).to_numpy()  # the unscored target is counted where it lies
    assert set(extra) <= {0, 1} and extra.any()


def test_metric_and_provenance_tables(demo, tmp_path):
    metrics, dss = metric_table(demo)
    assert list(metrics.columns) == METRIC_COLUMNS and sorted(metrics.metric) == ["cka", "cka", "dimensionality"]
    row = metrics[(metrics.metric == "cka") & (metrics.layer == "layer3")].iloc[0]
    from neuroxr.geometry import cka

    ref = cka(demo.read_features("netA", "layer3").load(), demo.read_neural("animalA").load())
    assert row.value == pytest.approx(float(ref)) and row.model == "netA" and row.target == "animalA"
    assert metrics["in_figures"].all() and (metrics["parameters"] == "defaults").all()
    page = write_report(demo, tmp_path, reliability=False).read_text()
    for path in list(score_table(demo)[0].path) + list(metrics.path):
        assert path in page  # every entry's parameters are listed, with its status
        line, = [line for line in page.split("<tr>") if f"<td>{path}</td>" in line]
        assert "<td>current</td>" in line
    import numpy

    assert f"<td>{numpy.__version__}</td>" in page


def test_report_figures_draw_layers_in_depth_order(tmp_path):
    """Metric profiles (lines with their own layers) and inference profiles: one axis, depth order."""
    from neuroxr.report.figures import metric_figures
    from neuroxr.report.inference import inference_figures, inference_table

    models = {"net": [("conv", 16, 0.4, 2), ("block", 12, 0.7, 1), ("avgpool", 8, 1.0, 0)]}  # not alphabetical
    store = write_example_study(tmp_path / "s.zarr", seed=0, n_stimuli=40, animals={"A": 8, "B": 8}, n_repeats=(4, 4),
                                models=models, n_latent=4, true_model="net", true_layer="avgpool")
    depth = ["conv", "block", "avgpool"]
    for layer in depth:
        score_metric(store, "cka", f"net.{layer}", "B")
        nx.score(store, "forward_bootstrap", f"net.{layer}", "A", n_boot=20, reps=2, seed=0)
    for layer in depth[1:]:
        score_metric(store, "cka", f"net.{layer}", "A")
    metrics, _ = metric_table(store)
    (_, _, fig), = metric_figures(metrics, store)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == depth
    for line in ax.get_lines():
        rows = metrics[metrics.target == line.get_label()].set_index("layer")
        np.testing.assert_allclose(line.get_ydata(), rows["value"].reindex(depth).to_numpy(float))
    (_, _, fig), = inference_figures(inference_table(store), store)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == depth


def test_default_crsa_entries_share_one_parameter_set(tmp_path):
    """cRSA stores its automatic ceiling resolved (True: repeats, False: trial-averaged): both are the
    defaults, so one profile draws both targets; a ceiling asked off where one is possible is not."""
    from neuroxr.report.figures import metric_figures
    from neuroxr.report.table import selection_notes

    store = write_example_study(tmp_path / "s.zarr", seed=0, n_stimuli=40, animals={"A": 8}, n_repeats=(4,),
                                models=MODELS, n_latent=4)
    a = store.read_neural("A").load()
    store.write_neural("Aavg", neural(a.mean("repeat").values[:, :, None], a.stimulus_id.values, a.neuroid_id.values))
    for layer in ("layer1", "layer2", "layer3"):
        for target in ("A", "Aavg"):
            score_metric(store, "crsa", f"netA.{layer}", target)
    score_metric(store, "crsa", "netA.layer1", "A", noise_ceiling=False)
    metrics, _ = metric_table(store)
    default = metrics.parameters == "defaults"
    assert default.sum() == 6 and metrics.loc[~default, "parameters"].tolist() == ["noise_ceiling=False"]
    assert metrics.in_figures.tolist() == default.tolist()
    (_, _, fig), = metric_figures(metrics, store)
    assert sorted(line.get_label() for line in fig.axes[0].get_lines()) == ["A", "Aavg"]
    assert selection_notes(score_table(store)[0], {}, metrics) == [
        "crsa of netA: drawn with defaults (6 entries); left out: 1 current entry with other parameters "
        "(noise_ceiling=False)."]
    # `neuroxr info` names the parameters as the report does
    import json

    from click.testing import CliRunner

    from neuroxr.cli import main

    info = json.loads(CliRunner().invoke(main, ["info", "--json", str(tmp_path / "s.zarr")]).output)
    shown = sorted(json.dumps(e["parameters"]) for e in info["metrics"] if e["metric"] == "crsa")
    assert shown == sorted(["{}"] * 6 + ['{"noise_ceiling": false}'])


def test_write_report_of_a_store_without_scores(tmp_path):
    store = StudyStore(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    store.write_neural("avg", neural(rng.normal(size=(8, 3, 1)), stim))  # trial-averaged: no reliability
    path = write_report(store, tmp_path / "rep", "md")
    text = path.read_text()
    assert "No complete score entry." in text and "No forward or reverse score entry" in text
    assert "avg: trial-averaged" in text
    assert not list((tmp_path / "rep").glob("*.png"))



def test_a_report_removes_an_earlier_reports_files_it_does_not_write(demo, tmp_path):
    """A report written where an earlier one lay kept its figures and an inference.csv of entries since gone."""
    out = tmp_path / "rep"
    write_report(demo, out, "md", reliability=False)
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures
    (out / "inference.csv").write_text("kind\nforward_bootstrap\n")  # a report's from before the file list
    (out / "notes.txt").write_text("mine")
    store = StudyStore(tmp_path / "s.zarr")
    store.write_neural("avg", neural(np.random.default_rng(0).normal(size=(8, 3, 1)), [f"s{i}" for i in range(8)]))
    write_report(store, out, "html")
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted([".neuroxr-report-files.json", "headline.csv", "metrics.csv", "notes.txt", "report.html",
                           "scores.csv"]), left
    assert json.loads((out / ".neuroxr-report-files.json").read_text()) == ["headline.csv", "metrics.csv", "report.html",
                                                                            "scores.csv"]


def test_write_report_refuses_a_folder_inside_the_store_or_a_file(tmp_path):
    """The report's files never land among the store's groups; a file named as the folder is refused
    as such, before anything is read or written."""
    store = StudyStore(tmp_path / "s.zarr")
    store.write_neural("avg", neural(np.random.default_rng(0).normal(size=(8, 3, 1)), [f"s{i}" for i in range(8)]))
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "s.zarr").rglob("*"))
    (tmp_path / "f.txt").write_text("x")
    for out in (tmp_path / "s.zarr", tmp_path / "s.zarr" / "neural" / "rep"):
        with pytest.raises(ParameterError, match=r"^write_report: out_dir '.*' lies inside the study store .*; choose a folder outside it\.$"):
            write_report(store, out)
        result = CliRunner().invoke(cli_main, ["report", store.url, "--out", str(out), "--no-reliability"])
        assert result.exit_code == 2 and f"--out {str(out)!r} lies inside the study store" in result.stderr
    with pytest.raises(ParameterError, match=r"out_dir '.*f\.txt' is a file; pass a folder \(made if absent\)\.$"):
        write_report(store, tmp_path / "f.txt")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "s.zarr").rglob("*")) == before

def test_write_report_rejects_unknown_format(demo, tmp_path):
    with pytest.raises(ParameterError, match=r"^write_report: format must be one of \('html', 'md'\); got 'pdf'\.$"):
        write_report(demo, tmp_path, format="pdf")
    with pytest.raises(ParameterError, match="^write_report: figures must be one of"):
        write_report(demo, tmp_path, figures="svg")


@pytest.mark.parametrize("kwargs, says", [
    ({"reliability_reps": 0}, r"reliability_reps must be an integer >= 1; got 0\. "),
    ({"n_boot": 0}, r"n_boot must be an integer >= 1; got 0\. "),
    ({"n_boot": 2.5}, r"n_boot must be an integer >= 1; got 2\.5\. "),
    ({"dpi": 0}, r"dpi must be an integer >= 1; got 0\. "),
    ({"dpi": "100"}, r"dpi must be an integer >= 1; got '100'\. "),
    ({"seed": -1}, r"seed must be an integer >= 0; got -1\. "),
    ({"reliability": "no"}, r"reliability must be True or False; got 'no'\. "),
])
def test_write_report_checks_its_numbers_before_anything(demo, tmp_path, kwargs, says):
    """write_report's own check of its numbers (the CLI passes its flags to it as they are): one line
    starting with the function, before any figure is drawn or the folder is made."""
    with pytest.raises(ParameterError, match="^write_report: " + says) as info:
        write_report(demo, tmp_path / "r", **kwargs)
    assert "\n" not in str(info.value) and not (tmp_path / "r").exists()


def test_write_report_refuses_reliability_reps_without_the_reliability(demo, tmp_path, monkeypatch):
    """reliability_reps with reliability=False would change nothing: refused in one line (as the CLI refuses
    --reliability-reps with --no-reliability), before the folder is made; not given, the reliability draws
    RELIABILITY_REPS splits."""
    from neuroxr.report import figures
    from neuroxr.report.write import RELIABILITY_REPS

    with pytest.raises(ParameterError, match=r"^write_report: reliability_reps=3 has no effect with reliability=False "
                                             r"\(the reliability's random splits\); drop it or pass reliability=True\.$"):
        write_report(demo, tmp_path / "r", reliability=False, reliability_reps=3)
    assert not (tmp_path / "r").exists()
    seen, real = [], figures.reliability_figures

    def spy(store, reps, seed, damage=None):
        seen.append(reps)
        return real(store, reps, seed, damage)

    monkeypatch.setattr(figures, "reliability_figures", spy)
    write_report(demo, tmp_path / "a", "md")
    write_report(demo, tmp_path / "b", "md", reliability=False)
    assert seen == [RELIABILITY_REPS] == [10]
    from neuroxr.cli.report import report  # the CLI states the default without importing the report module
    opt = next(o for o in report.params if o.name == "reliability_reps")
    assert f"(default {RELIABILITY_REPS})" in opt.help


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
    with pytest.raises(LayoutError, match="one score Dataset per layer"):
        stack_layers([a], ["l1", "l2"])
    with pytest.raises(LayoutError, match="same target dim"):
        stack_layers([a, ds("unit", ["u0"], [1])], ["l1", "l2"])


# ---------------------------------------------------------------------------- the command
def test_report_command_writes_the_report(demo, tmp_path):
    out = tmp_path / "cli-report"
    result = CliRunner().invoke(report_command, [demo.url, "--out", str(out), "--format", "html", "--no-reliability"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output and "(7 score entries, 3 metric entries)" in result.output
    assert (out / "report.html").exists() and (out / "scores.csv").exists()


def test_report_command_default_folder(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(report_command, [demo.url, "--no-reliability"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "study-report" / "report.html").exists()
    result = CliRunner().invoke(report_command, [demo.url, "--no-reliability", "--format", "md", "--figures", "pdf", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"report": str(Path("study-report") / "report.md"), "folder": "study-report",
                                         "score_entries": 7, "metric_entries": 3}
    assert (tmp_path / "study-report" / "headline.pdf").exists()


def test_report_command_options_are_write_reports(demo, tmp_path, monkeypatch):
    """--reliability-reps, --n-boot and --dpi are write_report's keywords (defaults from its signature)."""
    import inspect

    import neuroxr.report
    from neuroxr.cli.report import DEFAULTS

    sig = inspect.signature(neuroxr.report.write_report).parameters
    assert DEFAULTS == {k: sig[k].default for k in DEFAULTS}
    seen, real = [], neuroxr.report.write_report

    def spy(*args, **kw):
        seen.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(neuroxr.report, "write_report", spy)
    out = tmp_path / "r"
    result = CliRunner().invoke(report_command, [demo.url, "--out", str(out), "--reliability-reps", "2", "--n-boot", "40",
                                                 "--dpi", "30", "--figures", "png"])
    assert result.exit_code == 0, result.output
    assert {k: seen[-1][k] for k in DEFAULTS} == {"reliability_reps": 2, "seed": 0, "n_boot": 40, "dpi": 30}
    assert "(40 resamples)" in (out / "report.html").read_text()
    from PIL import Image

    with Image.open(out / "headline.png") as small:  # 30 dpi: 0.3 of the default's pixels a side
        assert small.info["dpi"][0] == pytest.approx(30, abs=0.5)
    result = CliRunner().invoke(report_command, [demo.url, "--out", str(tmp_path / "d"), "--no-reliability"])
    assert result.exit_code == 0 and {k: seen[-1][k] for k in DEFAULTS} == DEFAULTS
    for flags, says in ((["--n-boot", "0"], "'--n-boot'"), (["--dpi", "0"], "'--dpi'"), (["--reliability-reps", "0"],
                        "'--reliability-reps'"), (["--no-reliability", "--reliability-reps", "3"], "no effect with --no-reliability")):
        result = CliRunner().invoke(report_command, [demo.url, "--out", str(tmp_path / "e"), *flags])
        assert result.exit_code == 2 and says in result.output and not (tmp_path / "e").exists(), result.output


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
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Boolean Series key")  # no pandas reindexing warning
        assert len(target_table(table, scores)) == 3  # the current entry's neuroids


# ---------------------------------------------------------------------------- a real browser
#: appended to the page: writes into the DOM how many images loaded with a non-zero natural size
_PROBE = """<script>window.addEventListener('load', () => { const imgs = [...document.images];
const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0 && i.src.startsWith('data:image/png'));
document.body.setAttribute('data-images', imgs.length + '/' + ok.length); });</script>"""


def _chromium():
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium binary (apt-get install chromium)")
def test_report_renders_in_a_headless_browser(demo, tmp_path):
    path = write_report(demo, tmp_path / "rep", reliability=True, reliability_reps=2)
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text().replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files"]
    dom = subprocess.run([*args, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    n = len(re.findall(r"<img ", path.read_text()))
    assert n == 7 and f'data-images="{n}/{n}"' in dom, dom[:300]
    shot = tmp_path / "shot.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1200,1600", path.as_uri()], capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1200) and pixels.std() > 10  # not a blank page


def test_report_layer_profiles_show_the_noise_ceiling_band(demo):
    from matplotlib.collections import PolyCollection

    from neuroxr.report.figures import layer_figures

    table, scores = score_table(demo)
    figs = layer_figures(table, scores, demo)
    fwd = [fig for caption, _, fig in figs if "forward" in caption and "netA" in caption]
    assert fwd
    bands = [c for ax in fwd[0].axes for c in ax.collections
             if isinstance(c, PolyCollection) and "noise ceiling" in str(c.get_label())]
    assert bands
    # the band of the first panel's line: 100 mean(c) / max(c) .. 100 mean(c) / min(c) over reps
    ax = next(ax for ax in fwd[0].axes if any("noise ceiling" in str(c.get_label()) for c in ax.collections))
    band = next(c for c in ax.collections if "noise ceiling" in str(c.get_label()))
    label = band.get_label().replace(" noise ceiling (spread over reps)", "")
    rows = table[(table.direction == "forward") & (table.model == "netA") & (table.error == "")]
    layer3 = scores[("forward", "netA.layer3", "animalA")]
    ceil = layer3["ceiling"]
    if label not in ("all", "whole set") and "region" in ceil.coords:
        ceil = ceil.where(ceil.region == label, drop=True)
    c = ceil.median("neuroid")  # over targets, per rep
    ys = band.get_paths()[0].vertices[:, 1]
    expected = [100 * float(c.mean()) / float(c.max()), 100 * float(c.mean()) / float(c.min())]
    assert any(np.isclose(y, expected[0]) for y in ys) and any(np.isclose(y, expected[1]) for y in ys)
    assert len(rows) >= 2
    for fig in [f for _, _, f in figs]:
        fig.clf()


# ---------------------------------------------------------------------------- agreement with the sweep
def _quiet_sweep(path, **kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nx.sweep(path, client="serial", progress=False, **kw)


def test_report_counts_only_included_targets_as_the_sweep(sweep_copy):
    """min_reliability: the score table's n_targets/median_ev/mean_ev and the headline are the sweep's."""
    path = sweep_copy()
    res = _quiet_sweep(path, directions=["forward", "reverse"], neural=["animalA"], reps=2, min_reliability=0.9)
    assert (~res.target_table["included"]).any()
    table, scores = score_table(path)
    both = res.table.merge(table, on=["direction", "source", "target"], suffixes=("_sweep", ""))
    assert len(both) == len(res.table) == len(table)
    np.testing.assert_array_equal(both["n_targets"], both["n_targets_sweep"])
    np.testing.assert_allclose(both["median_ev"], both["median_ev_sweep"], equal_nan=True)
    np.testing.assert_allclose(both["mean_ev"], both["mean_ev_sweep"], equal_nan=True)
    assert (both["n_excluded"] > 0).any() and (both["n_targets"] + both["n_excluded"] <= both["n_all"]).all()
    assert both.loc[both["n_targets"] == 0, "median_ev"].isna().all() and (both["n_targets"] == 0).any()
    targets = target_table(table, scores)
    best = headline(targets, seed=0, n_boot=50)
    cols = ["direction", "model", "neural", "region", "best_layer", "selection_ev", "test_ev", "n_selection", "n_test",
            "n_layers"]
    whole = best[best.region == "all"]  # the sweep scored no region subsets
    pd.testing.assert_frame_equal(whole[cols].reset_index(drop=True), res.best_layers[cols].reset_index(drop=True),
                                  check_dtype=False)
    # the interval and the ceiling are over the same (included) test targets
    row = best[(best.direction == "forward") & (best.model == "netA") & (best.region == "all")].iloc[0]
    ds = scores[("forward", f"netA.{row.best_layer}", "animalA")]
    test = _scored_test_half(targets, "netA", "all", ds.neuroid_id.values.astype(str), 0)
    assert test.sum() == row.n_test and not (test & ~ds.included.values).any()
    assert row.ceiling == pytest.approx(np.nanmedian(ds.ceiling.mean("rep").values[test]))


def test_report_figures_count_only_included_targets(sweep_copy):
    """Layer profiles and forward vs reverse draw the tables' medians (included targets only)."""
    from neuroxr.report.figures import forward_reverse_figures, layer_figures

    path = sweep_copy()
    _quiet_sweep(path, directions=["forward", "reverse"], models="netA", neural=["animalA"], reps=2, min_reliability=0.9)
    store = StudyStore(path, mode="r")
    table, scores = score_table(store)
    assert (table["n_excluded"] > 0).any()
    for (_, stem, fig) in layer_figures(table, scores, store):
        direction = stem.split("_")[1]
        rows = table[table.direction == direction].set_index("layer").loc[store.layers("netA")]
        for ax in fig.axes:
            for line in (ln for ln in ax.get_lines() if not ln.get_label().startswith("_")):
                want = []
                for r in rows.itertuples():
                    ds = scores[(direction, r.source, r.target)]
                    if line.get_label() != "all":
                        ds = ds.isel(neuroid=ds.region.values == line.get_label())
                    want.append(ev_summary(ds)["median_ev"])
                np.testing.assert_allclose(line.get_ydata(), want)
    (_, _, fig), = forward_reverse_figures(table, scores)
    points = {t.get_text(): t.xy for t in fig.axes[1].texts}
    for label, (x, y) in points.items():
        layer = label.split("/")[1].split(":")[0]
        f, r = (table[(table.direction == d) & (table.layer == layer)].iloc[0] for d in ("forward", "reverse"))
        np.testing.assert_allclose([x, y], [f.median_ev, r.median_ev])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"n={table[table.direction == 'forward'].n_targets.sum()})" in legend[0]
    assert f"n={table[table.direction == 'reverse'].n_targets.sum()})" in legend[1]


def _two_parameter_sets(path):
    """layer1 and layer3 at reps=2 (a sweep), layer3 also at reps=4, seed=7."""
    kw = dict(directions=["forward"], models="netA", neural="animalA")
    first = _quiet_sweep(path, reps=2, seed=0, **kw)
    _quiet_sweep(path, reps=4, seed=7, layers=["layer3"], **kw)
    return first, kw


def test_report_draws_one_parameter_set_per_comparison(sweep_copy, tmp_path):
    import warnings

    path = sweep_copy()
    first, _ = _two_parameter_sets(path)
    table, scores = score_table(path)
    assert len(table) == 3 and table["current"].all()
    drawn = table[table["in_figures"]]
    assert sorted(drawn.layer) == ["layer1", "layer3"] and set(drawn.parameters) == {"reps=2"}
    assert table.loc[~table["in_figures"], "parameters"].tolist() == ["reps=4, seed=7"]
    assert all(int(scores[k].sizes["rep"]) == 2 for k in scores)
    best = headline(target_table(table, scores), seed=0, n_boot=50)
    assert (best["parameters"] == "reps=2").all()
    ref = first.best_layers.iloc[0]  # the sweep at reps=2 (whole set)
    row = best[best.region == "all"].iloc[0]
    assert row.best_layer == ref.best_layer and row.test_ev == pytest.approx(ref.test_ev) and row.n_layers == 2
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Boolean Series key")  # no pandas reindexing warning
        page = write_report(path, tmp_path / "rep", "md", reliability=False, n_boot=50).read_text()
    assert "Layer profile, forward, netA and animalA (reps=2)" in page
    assert ("forward netA -> animalA: drawn with reps=2 (2 entries); left out: 1 current entry with other parameters "
            "(reps=4, seed=7).") in page
    assert "| parameters | status | in_figures |" in page
    assert "| reps=4, seed=7 | current |  |" in page and "| reps=2 | current | yes |" in page


def test_report_never_draws_stale_entries(sweep_copy, tmp_path):
    path = sweep_copy()
    _, kw = _two_parameter_sets(path)
    store = StudyStore(path, mode="a")
    store.write_neural("animalA", store.read_neural("animalA").load() * 2.0 + 1.0)  # every entry is stale now
    again = _quiet_sweep(path, reps=2, seed=0, layers=["layer1"], **kw)
    table, scores = score_table(path)
    assert table["current"].sum() == 1
    assert table.loc[table["in_figures"], "path"].tolist() == again.table["path"].tolist()
    best = headline(target_table(table, scores), seed=0, n_boot=50)
    assert (best["best_layer"] == "layer1").all() and (best["n_layers"] == 1).all()
    page = write_report(path, tmp_path / "rep", "md", reliability=False, n_boot=50).read_text()
    assert ("forward netA -> animalA: drawn with reps=2 (1 entry); left out: 3 stale entries (input sets rewritten "
            "since, or an older revision); not drawn, no current entry (compute again): netA.layer3 -> animalA.") in page
    assert page.count("| stale |  |") == 3
    assert "layers_forward_netA__animalA.png" not in page  # one current layer: no profile
    # the parameters table says which entry is stale, as the score table does: layer1's stale entry
    # and the current one have the same parameters and versions
    assert "| path | kind | status | parameters | versions |" in page
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in page.splitlines()
                                              if line.startswith("| scores/"))}
    assert {p: r[1] for p, r in rows.items()} == {r.path: "current" if r.current else "stale" for r in table.itertuples()}
    (new,), (old,) = again.table["path"], table.loc[(table["layer"] == "layer1") & ~table["current"], "path"]
    assert rows[new][2:] == rows[old][2:] and (rows[new][1], rows[old][1]) == ("current", "stale")


def test_report_parameters_table_shows_each_entry_its_own(sweep_copy, tmp_path):
    path = sweep_copy()
    _two_parameter_sets(path)
    page = write_report(path, tmp_path / "rep", "md", reliability=False, n_boot=50).read_text()
    store = StudyStore(path, mode="r")
    rows = [line for line in page.splitlines() if line.startswith("| scores/")]
    assert len(rows) == 3
    for line in rows:
        entry = line.split("|")[1].strip()
        params = store.read_dataset(entry).pipe(decoded).attrs["neuroxr_provenance"]["params"]
        assert f"reps={params['reps']}," in line and f"seed={params['seed']}," in line


def test_inference_tables_keep_parameter_sets_apart_and_leave_stale_entries_out(sweep_copy):
    from neuroxr.entries import compute
    from neuroxr.report.inference import inference_table, metric_inference_table

    path = sweep_copy()
    a = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=20, reps=2))
    b = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=20, reps=3))
    compute(path, "forward_permutation", "netA.layer3", "animalA", params=dict(n_perm=9))  # takes no reps
    compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10))
    store = StudyStore(path, mode="r")
    t = inference_table(store).set_index("parameters")
    assert sorted(t.index) == ["reps=2", "reps=3"]
    assert t.loc["reps=2", "median_ev"] == pytest.approx(float(a.dataset["median_ev"]))
    assert t.loc["reps=3", "median_ev"] == pytest.approx(float(b.dataset["median_ev"]))
    assert np.isfinite(t.loc["reps=2", "median_p"]) and np.isfinite(t.loc["reps=3", "median_p"])  # one test serves both
    assert t["in_figures"].sum() == 1
    assert len(metric_inference_table(store)) == 1
    # a second permutation test of the same score, more permutations, written first or last: the row shows it
    big = compute(path, "forward_permutation", "netA.layer3", "animalA", params=dict(n_perm=19))
    compute(path, "forward_permutation", "netA.layer3", "animalA", params=dict(n_perm=4))
    t = inference_table(StudyStore(path, mode="r")).set_index("parameters")
    assert (t["n_perm"] == 19).all() and (t["median_p"] == float(big.dataset["median_p"])).all()
    # another interval level of one score: a row of its own, joined to the same permutation test
    half = compute(path, "forward_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=20, reps=2, level=0.5))
    t = inference_table(StudyStore(path, mode="r")).set_index("parameters")
    assert sorted(t.index) == ["reps=2", "reps=2, level=0.5", "reps=3"]
    lo, hi = (float(v) for v in half.dataset["median_ev_ci"].values)
    assert (t.loc["reps=2, level=0.5", "median_ev_low"], t.loc["reps=2, level=0.5", "median_ev_high"]) == (lo, hi)
    assert t.loc["reps=2", "median_ev_low"] == pytest.approx(float(a.dataset["median_ev_ci"][0]))
    assert (t["n_perm"] == 19).all()
    st = StudyStore(path)
    again = st.read_neural("animalA").load()
    st.write_neural("animalA", again.copy(data=2 * again.values))  # rewritten: every entry above is stale
    assert inference_table(StudyStore(path, mode="r")).empty and metric_inference_table(StudyStore(path, mode="r")).empty


def test_every_csv_writes_its_counts_as_integers(tmp_path):
    """A permutation test beside a bootstrap-only row leaves n_perm empty there: every CSV the report
    writes keeps its counts (n_*, reps) and seed integers (5, never 5.0) and the empty cell empty."""
    from neuroxr.entries import compute

    path = tmp_path / "s.zarr"
    store = write_example_study(path, seed=0, n_stimuli=40, animals={"animalA": 8}, n_repeats=(4,),
                                models={"netA": MODELS["netA"][::2]}, n_latent=6)
    nx.score(store, "forward", "netA.layer3", "animalA", reps=2)
    for layer in ("layer1", "layer3"):
        compute(path, "forward_bootstrap", f"netA.{layer}", "animalA", params=dict(n_boot=5, reps=2))
        compute(path, "cka_bootstrap", f"netA.{layer}", "animalA", params=dict(n_boot=5))
    compute(path, "forward_permutation", "netA.layer3", "animalA", params=dict(n_perm=5))
    compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=5))
    out = write_report(path, tmp_path / "r", "md", reliability=False).parent
    written = sorted(p.name for p in out.glob("*.csv"))
    assert written == ["headline.csv", "inference.csv", "metric_inference.csv", "metrics.csv", "scores.csv"]
    # the page links every table written (the inference tables were never linked)
    assert "Full tables: [scores.csv](scores.csv), [metrics.csv](metrics.csv), [headline.csv](headline.csv), " \
           "[inference.csv](inference.csv), [metric_inference.csv](metric_inference.csv)" in (out / "report.md").read_text()
    for name in written:
        as_text, parsed = pd.read_csv(out / name, dtype=str, keep_default_na=False), pd.read_csv(out / name)
        counts = [c for c in as_text.columns if c.startswith("n_") or c in ("reps", "seed")]
        for c in counts:
            assert as_text[c].str.fullmatch(r"\d*").all(), (name, c, list(as_text[c]))
            assert (parsed[c].dropna() % 1 == 0).all()
    for name in ("inference.csv", "metric_inference.csv"):
        t = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        assert sorted(t["n_perm"]) == ["", "5"] and set(t["n_boot"]) == {"5"}, name


def test_ev_summary_of_a_time_resolved_entry_counts_target_bin_pairs():
    """A time-resolved entry pools its (target, time bin) values: n_targets, n_excluded and n_all all
    count (target, time bin) pairs."""
    import warnings

    from conftest import time_sets

    from neuroxr.report.table import ev_summary

    F, A, _ = time_sets()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ds = nx.forward(F, A, reps=2, min_reliability=0.9)
    inc = ds["included"].values
    assert inc.shape == (5, 3) and 0 < (~inc).sum() < inc.size
    s = ev_summary(ds)
    assert s["n_all"] == inc.size == 15
    assert s["n_excluded"] == int((~inc).sum())
    assert s["n_targets"] == int((inc & np.isfinite(ds.ev.mean("rep").values)).sum())
    assert s["n_targets"] + s["n_excluded"] <= s["n_all"]
    assert s["median_ev"] == pytest.approx(np.median(ds.ev.mean("rep").values[inc]))


def test_p_values_are_not_rounded_across_the_threshold():
    """The page's tables show p-values to 3 significant digits (0.0476 is not "0.05"); other
    numbers keep 2 decimals."""
    import pandas as pd

    from neuroxr.report.write import _rows

    got = _rows(pd.DataFrame({"median_ev": [12.3456], "median_p": [0.0476], "p": [0.0244], "p_maxt": [0.5]}))
    assert got["rows"] == [["12.35", "0.0476", "0.0244", "0.5"]]


# ------------------------------------------------------------ what entries dropped for missing trials
def _md_table(text, column):
    """The rows (dicts) of the Markdown table whose header names ``column``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ") and f" {column} |" in line)
    cols = [c.strip() for c in lines[start].strip().strip("|").split(" | ")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(cols, [c.strip() for c in line.strip().strip("|").split(" | ")])))
    return rows


def _html_table(text, column):
    """The rows (dicts) of the HTML table whose header names ``column``."""
    table = next(t for t in re.findall(r"<table>.*?</table>", text, flags=re.S) if f"<th>{column}</th>" in t)
    cols = re.findall(r"<th>(.*?)</th>", table)
    return [dict(zip(cols, re.findall(r"<td>(.*?)</td>", row, flags=re.S)))
            for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], flags=re.S)]


def _cell(attrs, name):
    """What a table shows of an entry's count: the integer, empty when the entry has none."""
    return str(int(attrs[name])) if name in attrs else ""


def test_tables_count_what_entries_dropped_for_missing_trials(tmp_path, capsys):
    """A stimulus without trials and a neuroid with one valid repeat on a stimulus: the sweep's tables
    and the report's (csv, Markdown, HTML) show each entry's n_excluded_stimuli / n_excluded_neuroids
    as integers, equal to its attrs, and an empty cell where an entry has none (a feature set's
    dimensionality)."""
    from conftest import latent_sets

    f1, _, neu = latent_sets(seed=3, n_stimuli=30, n_neuroids=8)
    neu = neu.copy(data=neu.values.copy())
    neu.values[5] = np.nan  # s05: no trial in any neuroid
    neu.values[10, 3, 1:] = np.nan  # n3: one valid repeat on s10
    path = tmp_path / "s.zarr"
    store = StudyStore(path)
    store.write_features("net", "l1", f1)
    store.write_neural("mk", neu)
    res = _quiet_sweep(path, directions=["forward", "reverse", "rsa", "cka", "dimensionality"], reps=2)
    assert len(res.table) == 2 and len(res.metric_table) == 4  # crsa, cka, two dimensionalities
    for r in res.table.itertuples():  # forward drops s05; reverse also s10 (its predictors' halves)
        attrs = store.read_dataset(r.path).attrs
        assert r.n_excluded_stimuli == attrs["n_excluded_stimuli"] == {"forward": 1, "reverse": 2}[r.direction]
    assert str(res.table["n_excluded_stimuli"].dtype) == "Int64"
    mt = res.metric_table.set_index("metric", drop=False)
    for r in res.metric_table.itertuples():
        attrs = store.read_dataset(r.path).attrs
        for name in ("n_excluded_stimuli", "n_excluded_neuroids"):
            got = getattr(r, name)
            assert (got is pd.NA and name not in attrs) or got == attrs[name], (r.key, name)
    assert mt.at["crsa", "n_excluded_stimuli"] == 1 and mt.at["crsa", "n_excluded_neuroids"] == 1  # the ceiling's 2 repeats
    assert mt.at["cka", "n_excluded_stimuli"] == 1 and mt.at["cka", "n_excluded_neuroids"] == 0
    assert res.metric_table["n_excluded_neuroids"].isna().sum() == 1  # the layer's dimensionality has no count
    # neuroxr sweep's printed summary shows the counts (they are above 0 here)
    from neuroxr.cli.sweep import _print_text

    capsys.readouterr()
    _print_text(res)
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert "n_excluded_stimuli" in lines[1] and "left out for missing trials" in printed, printed
    metric_header = lines[lines.index("Metrics (value: the test split where there is one):") + 1]
    assert metric_header.split()[-2:] == ["n_excluded_stimuli", "n_excluded_neuroids"], printed
    # the report: scores.csv, metrics.csv and both pages
    pages = {fmt: write_report(path, tmp_path / fmt, fmt, reliability=False) for fmt in ("md", "html")}
    out = pages["md"].parent
    scores, metrics = pd.read_csv(out / "scores.csv"), pd.read_csv(out / "metrics.csv")
    rows = {"scores": {r["path"]: r for r in scores.to_dict("records")},
            "metrics": {r["path"]: r for r in metrics.to_dict("records")}}
    text = {fmt: p.read_text(encoding="utf-8") for fmt, p in pages.items()}
    for tab, names, only in (("scores", ["n_excluded_stimuli"], "n_excluded"),  # a column only that table has
                             ("metrics", ["n_excluded_stimuli", "n_excluded_neuroids"], "n_excluded_neuroids")):
        shown = {"md": _md_table(text["md"], only), "html": _html_table(text["html"], only)}
        for path_, row in rows[tab].items():
            attrs = store.read_dataset(path_).attrs
            for name in names:
                cell = _cell(attrs, name)
                csv = row[name]
                assert (cell == "" and np.isnan(csv)) or (csv == int(cell)), (path_, name)
                # the page's row of the entry
                for fmt in ("md", "html"):
                    page_rows = [r for r in shown[fmt] if r["source"] == row["source"]
                                 and r.get("target", "") == ("" if pd.isna(row["target"]) else row["target"])
                                 and r.get("direction", r.get("metric")) == row.get("direction", row.get("metric"))]
                    assert len(page_rows) == 1 and page_rows[0][name] == cell, (fmt, path_, name)
        csv_text = (out / f"{tab}.csv").read_text()
        header = csv_text.splitlines()[0].split(",")
        for line in csv_text.splitlines()[1:]:
            for name in names:  # integers in the file, never "1.0"
                assert "." not in line.split(",")[header.index(name)]
    assert "n_excluded_stimuli: the stimuli on which no target" in text["md"]
    assert "n_excluded_neuroids: what the entry dropped" in text["html"]


def test_a_time_resolved_entry_shows_its_largest_count_over_the_bins():
    """The report's row pools a time-resolved entry's bins: n_excluded_stimuli is the largest of the
    per-bin counts; the sweep's row of a bin shows that bin's; an entry without the count gives None."""
    import warnings

    from conftest import time_sets

    from neuroxr.report.table import ev_summary
    from neuroxr.sweep._util import excluded_counts

    F, A, _ = time_sets()
    A = A.copy(data=A.values.copy())
    A.values[3, :, :, 2] = np.nan  # a stimulus without trials in the last bin
    A.values[7, :, :, 1:] = np.nan  # and one in the last two
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ds = nx.forward(F, A, reps=2)
    assert list(ds.attrs["n_excluded_stimuli"]) == [0, 1, 2]
    assert ev_summary(ds)["n_excluded_stimuli"] == 2
    assert [excluded_counts(ds.attrs, ["n_excluded_stimuli"], t)["n_excluded_stimuli"] for t in range(3)] == [0, 1, 2]
    assert excluded_counts({}, ["n_excluded_stimuli"]) == {"n_excluded_stimuli": None}


def test_a_stale_time_resolved_entry_leaves_the_current_static_one_among_the_layers(tmp_path):
    """A neural set rewritten static after a time-resolved entry: the stale entry made its pair a
    'time' comparison, so the current static entry chose its parameter set alone, drawn beside
    layers with another one."""
    import warnings

    from neuroxr.entries import compute

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    F = features(rng.normal(size=(30, 6)), stimulus_id=ids)
    R = F.values @ rng.normal(size=(6, 3))
    R = R[:, :, None, None] + rng.normal(size=(30, 3, 3, 2))
    store = StudyStore(tmp_path / "s.zarr")
    for layer, scale in (("l1", 1.0), ("l2", 2.0), ("l3", 3.0)):
        store.write_features("net", layer, F * scale + scale)
    store.write_neural("monkey", neural(R, stimulus_id=ids, time_bins=[(0, 10), (10, 20)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        compute(store, "forward", "net.l1", "monkey", params={"reps": 2})  # time-resolved, then stale
        store.write_neural("monkey", neural(R.mean(axis=3), stimulus_id=ids))
        compute(store, "forward", "net.l1", "monkey", params={"reps": 2})
        for layer in ("l2", "l3"):
            compute(store, "forward", f"net.{layer}", "monkey", params={"reps": 3})
        table, scores = score_table(store)
    now = table[table["current"]].set_index("source")
    assert list(now.loc[["net.l1", "net.l2", "net.l3"], "in_figures"]) == [False, True, True]  # one parameter set
    assert "time_bin" not in scores[("forward", "net.l1", "monkey")].dims  # the current entry, not the stale one
