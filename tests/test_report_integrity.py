"""Integrity of the report's numbers: intervals that exist, entries that cannot be read."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import neuroxr as nx  # noqa: E402
from neuroxr.layouts import features, neural  # noqa: E402
from neuroxr.plot import best_layer_intervals  # noqa: E402
from neuroxr.plot.time import temporal_generalization_figures  # noqa: E402
from neuroxr.report import headline, write_report  # noqa: E402
from neuroxr.report.inference import inference_table, metric_inference_table  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402
from neuroxr.sweep import best_layers  # noqa: E402


def _targets(n_targets: int, seed: int = 0) -> pd.DataFrame:
    """A target table (:func:`neuroxr.report.target_table`) of one forward comparison, 2 layers."""
    rng = np.random.default_rng(seed)
    rows = [{"direction": "forward", "model": "net", "layer": layer, "neural": "mA", "region": "all",
             "target_id": f"n{j}", "ev": float(rng.normal(50, 10)), "ceiling": 0.5, "included": True,
             "parameters": "defaults"} for layer in ("l1", "l2") for j in range(n_targets)]
    return pd.DataFrame(rows)


def test_headline_gives_no_interval_of_one_test_target():
    """One test target: every resample is that target, so a percentile interval would have zero width
    and claim no uncertainty (scipy.stats.bootstrap refuses one observation); the interval is NaN and
    the figure says so, while test_ev stays the best_layers value."""
    targets = _targets(2)
    best = headline(targets, seed=0, n_boot=100)
    ref = best_layers(targets, seed=0)
    assert (best["n_test"] == 1).all() and best["test_ev"].tolist() == ref["test_ev"].tolist()
    assert best[["ci_low", "ci_high"]].isna().all().all()
    fig = best_layer_intervals(best)
    assert "no interval" in [t.get_text() for t in fig.axes[0].texts]
    # two or more test targets: an interval of non-zero width around the test EV
    wide = headline(_targets(8), seed=0, n_boot=100).iloc[0]
    assert wide.n_test >= 2 and wide.ci_low < wide.ci_high and wide.ci_low <= wide.test_ev <= wide.ci_high
    assert "no interval" not in [t.get_text() for t in best_layer_intervals(headline(_targets(8), n_boot=100)).axes[0].texts]


def _lose_chunk(store, path: str, array: str) -> None:
    """Delete the chunk files of ``array`` of the entry ``path`` (a damaged entry: Zarr would read NaN)."""
    folder = Path(store.url.removeprefix("file://")) / path / array / "c"  # a file: the chunk of a scalar
    files = [folder] if folder.is_file() else [f for f in folder.rglob("*") if f.is_file()]
    assert files
    for f in files:
        f.unlink()


def _inference_store(path) -> StudyStore:
    """A neural set and a model layer sharing a latent, with a forward bootstrap and permutation test
    and a CKA bootstrap and permutation test."""
    rng = np.random.default_rng(0)
    stim = [f"s{i:02d}" for i in range(30)]
    latent = rng.normal(size=(30, 4))
    store = StudyStore(path)
    store.write_neural("mA", neural((latent @ rng.normal(size=(4, 6)))[:, :, None] + rng.normal(size=(30, 6, 3)), stim))
    store.write_features("net", "l1", features(latent @ rng.normal(size=(4, 8)) + rng.normal(size=(30, 8)), stim))
    store.write_features("net", "l2", features(rng.normal(size=(30, 5)), stim))
    for layer in ("l1", "l2"):
        nx.compute(store, "forward_bootstrap", f"net.{layer}", "mA", params={"reps": 2, "n_boot": 30})
    nx.compute(store, "forward_permutation", "net.l1", "mA", params={"n_perm": 20})
    nx.compute(store, "cka_bootstrap", "net.l1", "mA", params={"n_boot": 30})
    nx.compute(store, "cka_permutation", "net.l1", "mA", params={"n_perm": 20})
    return store


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_a_damaged_inference_entry_is_named_not_a_stopped_report(tmp_path):
    """A damaged bootstrap entry stops no report: its row keeps its labels, its numbers are empty, an
    ``error`` names it, and no figure draws it; the other rows keep their entries' numbers."""
    store = _inference_store(tmp_path / "s.zarr")
    intact = inference_table(store)
    entries = nx.list_entries(store).set_index("kind")
    damaged = entries.loc["forward_bootstrap"].path.iloc[0]
    layer = damaged.split("/")[2].split("__")[0].removeprefix("net.")
    _lose_chunk(store, damaged, "boot")
    _lose_chunk(store, entries.loc["cka_permutation"].path, "p")
    store = StudyStore(tmp_path / "s.zarr", mode="r")
    table = inference_table(store)
    bad = table[table["layer"] == layer].iloc[0]
    assert damaged in bad["error"] and "damaged" in bad["error"]
    assert np.isnan(bad["median_ev"]) and pd.isna(bad["n_boot"]) and not bad["in_figures"]
    good = table[table["layer"] != layer].iloc[0]
    ref = intact[intact["layer"] != layer].iloc[0]
    assert good["error"] == "" and good["median_ev"] == ref["median_ev"] and good["median_ev_low"] == ref["median_ev_low"]
    metrics = metric_inference_table(store)
    assert entries.loc["cka_permutation"].path in metrics["error"].iloc[0] and pd.isna(metrics["p"].iloc[0])
    boot = store.read_dataset(entries.loc["cka_bootstrap"].path)
    assert metrics["score"].iloc[0] == float(boot["score"]) and metrics["n_boot"].iloc[0] == boot.attrs["n_boot"]
    page = write_report(store, tmp_path / "out", format="md", reliability=False).read_text()
    assert damaged in page and "error" in pd.read_csv(tmp_path / "out" / "inference.csv").columns


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
@pytest.mark.parametrize("lost", ["forward_bootstrap", "forward_permutation"])
def test_a_damaged_inference_entry_of_a_time_resolved_score_marks_the_rows_of_its_bins(tmp_path, lost):
    """An unreadable entry's bins are unknown: its error went to a row of its own, without bins, and
    the bins' rows (filled by the score's other, readable entry) showed no error."""
    from conftest import time_sets

    store = StudyStore(tmp_path / "t.zarr")
    F, A, _ = time_sets()
    store.write_features("net", "l1", F)
    store.write_neural("mA", A)
    boot = nx.compute(store, "forward_bootstrap", "net.l1", "mA", params={"reps": 2, "n_boot": 20}).path
    perm = nx.compute(store, "forward_permutation", "net.l1", "mA", params={"n_perm": 19}).path
    intact = inference_table(store)
    assert len(intact) == 3 and (intact["error"] == "").all()
    damaged = boot if lost == "forward_bootstrap" else perm
    _lose_chunk(store, damaged, "median_ev_boot" if damaged == boot else "median_p")
    table = inference_table(StudyStore(tmp_path / "t.zarr", mode="r"))
    assert len(table) == 3 and table["time_bin_start"].tolist() == intact["time_bin_start"].tolist()
    assert all(damaged in e for e in table["error"]) and not table["in_figures"].any()
    lost_cols, kept_cols = (["median_ev", "median_ev_low"], ["median_p"]) if damaged == boot else (["median_p"], ["median_ev"])
    assert table[lost_cols].isna().all().all()
    for c in kept_cols:  # the other entry's numbers stay, per bin
        np.testing.assert_array_equal(table[c].to_numpy(float), intact[c].to_numpy(float))


def test_a_damaged_temporal_generalization_entry_is_named_not_a_stopped_report(tmp_path):
    from conftest import time_sets

    store = StudyStore(tmp_path / "t.zarr")
    F, A, _ = time_sets()
    store.write_features("net", "l1", F)
    store.write_neural("mA", A)
    path = nx.compute(store, "temporal_generalization", "net.l1", "mA", params={"n_folds": 3}).path
    _lose_chunk(store, path, "r")
    figs = temporal_generalization_figures(StudyStore(tmp_path / "t.zarr", mode="r"))
    assert len(figs) == 1 and path in figs[0][0] and "cannot be read" in figs[0][0]
    page = write_report(tmp_path / "t.zarr", tmp_path / "out", format="md", reliability=False).read_text()
    assert f"the entry {path} cannot be read" in page


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_forward_vs_reverse_captions_name_each_directions_parameters(tmp_path):
    """Forward and reverse choose their parameter sets apart: the forward-vs-reverse figures (scores
    and inference) name both, as the layer profiles name theirs."""
    from neuroxr.report import score_table
    from neuroxr.report.figures import forward_reverse_figures
    from neuroxr.report.inference import inference_figures

    store = _inference_store(tmp_path / "s.zarr")
    for layer in ("l1", "l2"):
        nx.compute(store, "reverse_bootstrap", "mA", f"net.{layer}", params={"reps": 3, "n_boot": 30})
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2)
        nx.score(store, "reverse", "mA", f"net.{layer}", reps=3)
    table, scores = score_table(store)
    [(caption, _, _)] = forward_reverse_figures(table, scores)
    assert "forward: reps=2" in caption and "reverse: reps=3" in caption
    captions = [c for c, _, _ in inference_figures(inference_table(store), store)]
    assert len(captions) == 3 and all("reps=" in c for c in captions)
    assert "forward: reps=2; reverse: reps=3" in captions[-1]


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_the_page_names_an_entry_lost_to_a_damaged_document(tmp_path):
    """An entry whose metadata document is garbled is in no table (Zarr cannot open it): the page names
    it under the headline, which now compares fewer layers, instead of leaving it out silently."""
    store = _inference_store(tmp_path / "s.zarr")
    for layer in ("l1", "l2"):
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2)
    paths = [nx.lookup(store, "forward", f"net.{layer}", "mA", params={"reps": 2}) for layer in ("l1", "l2")]
    (Path(store.url.removeprefix("file://")) / paths[0] / "zarr.json").write_text("{not json")
    page = write_report(tmp_path / "s.zarr", tmp_path / "out", format="md", reliability=False).read_text()
    above_tables = page.split("## Scores")[0]  # the notes under the headline
    assert [line for line in above_tables.splitlines() if line.startswith("- ") and paths[0] in line and "damaged" in line]
    assert paths[0] not in page.split("## Scores")[1]  # in no table
    best = pd.read_csv(tmp_path / "out" / "headline.csv")
    assert best["n_layers"].tolist() == [1]
    # the headline's row, which compares without it, names it (headline.csv and the page's table)
    assert paths[0] in best["error"].iloc[0] and [line for line in above_tables.splitlines()
                                                  if line.startswith("| forward") and paths[0] in line]


def test_inference_figures_keep_a_layer_whose_interval_is_undefined():
    """A layer whose bootstrap interval is NaN (undefined resamples) keeps its median and its
    significance star in the inference layer profile (a point without a bar), never vanishing from
    the layer axis as if it had not been scored."""
    from neuroxr.report.inference import inference_figures

    rows = [{"direction": "forward", "source": f"net.{layer}", "target": "mA", "model": "net", "layer": layer,
             "neural": "mA", "region": "all", "parameters": "defaults", "median_ev": ev, "median_ev_low": lo,
             "median_ev_high": hi, "median_p": 0.01, "in_figures": True, "error": ""}
            for layer, ev, lo, hi in (("l1", 10.0, 5.0, 15.0), ("l2", 20.0, np.nan, np.nan), ("l3", 30.0, 25.0, 35.0))]
    [(caption, _, fig)] = inference_figures(pd.DataFrame(rows))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["l1", "l2", "l3"]
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1 and np.isfinite(stars[0].get_ydata()).sum() == 3


def test_inference_figures_draw_the_medians_when_every_interval_is_undefined():
    """The layer rule held for one NaN interval among others, but a table whose intervals were all NaN
    (every entry with undefined resamples) got no inference figure at all: the medians and their
    significance vanished from the page. Now they are drawn without bars; a table without any median
    (permutation entries alone) still gets none."""
    from neuroxr.report.inference import inference_figures

    rows = pd.DataFrame([{"direction": "forward", "source": f"net.{layer}", "target": "mA", "model": "net",
                          "layer": layer, "neural": "mA", "region": "all", "parameters": "defaults", "median_ev": ev,
                          "median_ev_low": np.nan, "median_ev_high": np.nan, "median_p": 0.01, "in_figures": True,
                          "error": ""} for layer, ev in (("l1", 10.0), ("l2", 20.0))])
    [(_, _, fig)] = inference_figures(rows)
    line = next(line for line in fig.axes[0].get_lines() if line.get_marker() == "o")
    np.testing.assert_allclose(line.get_ydata(), rows["median_ev"])
    assert inference_figures(rows.assign(median_ev=np.nan)) == []


def _as_older_entry(store, path: str) -> None:
    """Make the entry ``path`` look written by a neuroxr that recorded neither its arrays nor digests
    (its token without the digests' mark): only a scan of the whole store then sees a lost chunk."""
    import json

    doc_path = Path(store.url.removeprefix("file://")) / path / "zarr.json"
    doc = json.loads(doc_path.read_text())
    for name in ("neuroxr_vars", "neuroxr_absent_chunks", "neuroxr_attrs_digest", "neuroxr_marks_digest",
                 "neuroxr_arrays_digest"):
        doc["attributes"].pop(name)
    doc["attributes"]["neuroxr_token"] = "0123456789abcdef0123456789abcdef"
    doc_path.write_text(json.dumps(doc))


def _md_rows(page: str, text: str) -> list[str]:
    """The Markdown table rows of ``page`` holding ``text``."""
    return [line for line in page.splitlines() if line.startswith("| ") and text in line]


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_damage_in_arrays_the_inference_tables_do_not_read_marks_their_rows(tmp_path):
    """A lost chunk of an array the inference tables never read (a CKA bootstrap's boot_index, a
    permutation test's included) or an edited array document leaves no number of that entry shown
    unmarked: its row names it in error, its numbers are empty, no figure draws it, in the tables,
    the CSVs and the page alike."""
    import json

    store = _inference_store(tmp_path / "s.zarr")
    entries = nx.list_entries(store)
    path = {(k, s): p for k, s, p in zip(entries["kind"], entries["source"], entries["path"])}
    lost = {path["cka_bootstrap", "net.l1"]: "boot_index", path["forward_permutation", "net.l1"]: "included"}
    for p, array in lost.items():
        _lose_chunk(store, p, array)
    edited = Path(store.url.removeprefix("file://")) / path["forward_bootstrap", "net.l2"] / "boot_index" / "zarr.json"
    doc = json.loads(edited.read_text())
    doc["attributes"]["note"] = "edited by hand"
    edited.write_text(json.dumps(doc))
    store = StudyStore(tmp_path / "s.zarr", mode="r")
    named = {p for p, _ in store.damaged()}
    assert named == {*lost, path["forward_bootstrap", "net.l2"]}  # what the store names damaged
    table = inference_table(store).set_index("layer")
    assert path["forward_permutation", "net.l1"] in table.loc["l1", "error"] and pd.isna(table.loc["l1", "median_p"])
    assert path["forward_bootstrap", "net.l2"] in table.loc["l2", "error"] and pd.isna(table.loc["l2", "median_ev"])
    assert not table["in_figures"].any()
    metrics = metric_inference_table(store).iloc[0]
    assert path["cka_bootstrap", "net.l1"] in metrics["error"] and pd.isna(metrics["score_low"]) and pd.isna(metrics["n_boot"])
    page = write_report(store, tmp_path / "out", format="md", reliability=False).read_text()
    csv = pd.read_csv(tmp_path / "out" / "inference.csv", keep_default_na=False).set_index("layer")
    assert path["forward_permutation", "net.l1"] in csv.loc["l1", "error"] and csv.loc["l1", "median_p"] == ""
    assert path["cka_bootstrap", "net.l1"] in pd.read_csv(tmp_path / "out" / "metric_inference.csv")["error"].iloc[0]
    inference_section = page.split("## Inference: intervals")[1].split("## Metric entries")[0]
    for p in named:  # the page's rows, not only the damage notes under the headline
        assert _md_rows(inference_section, p)
    assert "inference_forward" not in page  # no row drawn: no inference figure


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_an_entry_only_the_store_scan_names_damaged_is_marked_in_scores_metrics_and_headline(tmp_path):
    """An entry written before neuroxr recorded its arrays reads a lost chunk as NaN unawares; the
    store's scan names it, so its row in scores.csv / metrics.csv carries an error with its numbers
    empty, no figure draws it, and the headline row it was left out of names it (headline.csv, page,
    caption) while keeping the numbers of the layers compared."""
    store = _inference_store(tmp_path / "s.zarr")
    for layer in ("l1", "l2"):
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2)
        nx.score(store, "cka", f"net.{layer}", "mA")
    score = nx.lookup(store, "forward", "net.l1", "mA", params={"reps": 2})
    metric = nx.lookup(store, "cka", "net.l1", "mA")
    for p, array in ((score, "ev"), (metric, "score")):
        _as_older_entry(store, p)
        _lose_chunk(store, p, array)
    store = StudyStore(tmp_path / "s.zarr", mode="r")
    assert {p for p, _ in store.damaged()} == {score, metric} and not store.damaged(path=score)
    out = tmp_path / "out"
    page = write_report(store, out, format="md", reliability=False).read_text()
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False).set_index("path")
    assert score in scores.loc[score, "error"] and scores.loc[score, "median_ev"] == ""
    assert not scores.loc[score, "in_figures"]
    metrics = pd.read_csv(out / "metrics.csv", keep_default_na=False).set_index("path")
    assert metric in metrics.loc[metric, "error"] and metrics.loc[metric, "value"] == ""
    assert not metrics.loc[metric, "in_figures"]
    best = pd.read_csv(out / "headline.csv", keep_default_na=False)
    assert best["n_layers"].tolist() == [1] and best["best_layer"].tolist() == ["l2"]
    assert score in best["error"].iloc[0] and best["test_ev"].iloc[0] != ""
    headline_section = page.split("## Scores")[0]
    assert _md_rows(headline_section, score)  # the headline table's row
    assert [line for line in headline_section.splitlines() if line.startswith("### Best layer") and "l2" in line
            and "damaged" in line]  # the headline figure's caption
    assert _md_rows(page.split("## Scores")[1], score) and _md_rows(page.split("## Metric entries")[1], metric)


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_a_temporal_generalization_entry_the_scan_names_damaged_is_not_drawn(tmp_path):
    from conftest import time_sets

    store = StudyStore(tmp_path / "t.zarr")
    F, A, _ = time_sets()
    store.write_features("net", "l1", F)
    store.write_neural("mA", A)
    path = nx.compute(store, "temporal_generalization", "net.l1", "mA", params={"n_folds": 3}).path
    _as_older_entry(store, path)
    _lose_chunk(store, path, "r")
    page = write_report(tmp_path / "t.zarr", tmp_path / "out", format="md", reliability=False).read_text()
    assert f"the entry {path} cannot be read" in page


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_the_headline_says_when_an_interval_rests_on_too_few_targets(tmp_path):
    """With n test targets a percentile bootstrap interval of their median lies within their range, which
    holds the median of all such targets at most 1 - 2^(1-n) of the time (below 95 % up to 5 targets):
    the page and the headline figure's caption say so for those rows, and for no row with more."""
    from itertools import product

    store = _inference_store(tmp_path / "s.zarr")  # 6 neuroids: 3 test targets
    for layer in ("l1", "l2"):
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2)
    page = write_report(store, tmp_path / "out", format="md", reliability=False).read_text()
    best = pd.read_csv(tmp_path / "out" / "headline.csv")
    n = int(best["n_test"].iloc[0])
    assert n == 3 and best["ci_low"].iloc[0] < best["ci_high"].iloc[0]
    # the bound by brute force: the sign patterns of n draws about the median not all alike
    signs = list(product((-1, 1), repeat=n))
    bound = sum(len(set(s)) == 2 for s in signs) / len(signs)
    text = f"n_test {n}: at most {100 * bound:g} %"
    headline_section = page.split("## Layer profiles")[0]
    notes = [line for line in headline_section.splitlines() if text in line and "rough range" in line]
    assert notes[0].startswith("Per direction") and [line for line in notes if line.startswith("### Best layer")]
    # the interval does lie within the range of the test targets' EVs (those of headline's test half)
    from neuroxr.report import score_table, target_table
    from neuroxr.sweep.select import scored_halves

    targets = target_table(*score_table(store))
    at = (targets["layer"] == best["best_layer"].iloc[0]).to_numpy()
    test = targets["ev"].to_numpy()[at][scored_halves(targets, "forward/mA/all", 0)[1][at]]
    assert len(test) == n and test.min() <= best["ci_low"].iloc[0] and best["ci_high"].iloc[0] <= test.max()
    from neuroxr.report.headline import coarse_note

    assert coarse_note(headline(_targets(16), n_boot=100)) == ""  # 8 test targets: no note


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_on_an_object_store_damage_is_marked_with_each_entry_read_once(tmp_path, monkeypatch):
    """On an object store an entry written in one batch is read in one batch of requests; the report
    marks a lost chunk of an array its tables do not read from the keys that batch found, fetching no
    entry twice and listing none."""
    import uuid
    from collections import Counter

    import fsspec

    import neuroxr.store.integrity as integrity
    from neuroxr.store import batch

    url = f"memory://neuroxr-test-{uuid.uuid4().hex}/s.zarr"
    store = _inference_store(url)
    nx.score(store, "forward", "net.l1", "mA", reps=2)
    cka = nx.list_entries(store).set_index("kind").loc["cka_bootstrap", "path"]
    fsspec.filesystem("memory").rm(f"{url.removeprefix('memory://')}/{cka}/boot_index/c/0/0")
    fetched, listed = Counter(), Counter()
    fetch, list_keys = batch.fetch, integrity.list_keys
    monkeypatch.setattr(batch, "fetch", lambda z, path, doc: fetched.update([path]) or fetch(z, path, doc))
    monkeypatch.setattr(integrity, "list_keys", lambda z, prefix="": listed.update([prefix]) or list_keys(z, prefix))
    write_report(StudyStore(url, mode="r"), tmp_path / "out", format="md", reliability=False)
    assert cka in pd.read_csv(tmp_path / "out" / "metric_inference.csv")["error"].iloc[0]
    listing = nx.list_entries(StudyStore(url, mode="r"))
    entries = set(listing.loc[~listing["path"].str.startswith("cache/"), "path"])  # the report reads no Gram
    # every other entry, each once; the damaged one, named by the store's scan, not at all
    assert set(fetched) == entries - {cka} and set(fetched.values()) == {1}
    assert not [p for p in listed if p.rstrip("/") in entries]  # no entry's keys listed besides


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_a_neural_set_the_scan_names_damaged_gets_no_reliability_figure(tmp_path):
    """A neural set written before neuroxr recorded its arrays reads a lost chunk as NaN unawares; the
    store's scan names it, so the report draws no reliability histogram of it and a note says why."""
    from neuroxr.store._zarr import DATA_VAR

    store = _inference_store(tmp_path / "s.zarr")
    _as_older_entry(store, "neural/mA")
    _lose_chunk(store, "neural/mA", DATA_VAR)
    assert [p for p, _ in StudyStore(tmp_path / "s.zarr", mode="r").damaged()] == ["neural/mA"]
    page = write_report(tmp_path / "s.zarr", tmp_path / "out", format="md").read_text()
    assert "Reliability of mA" not in page
    assert [line for line in page.split("## Notes")[1].splitlines() if line.startswith("- mA: no reliability figure")
            and "damaged" in line]


def _small_study(url) -> StudyStore:
    """A neural set, two model layers, a forward score and a CKA (with its Gram) per layer."""
    rng = np.random.default_rng(0)
    stim = [f"s{i:02d}" for i in range(20)]
    latent = rng.normal(size=(20, 3))
    store = StudyStore(url)
    store.write_neural("mA", neural((latent @ rng.normal(size=(3, 5)))[:, :, None] + rng.normal(size=(20, 5, 3)), stim))
    store.write_features("net", "l1", features(latent @ rng.normal(size=(3, 6)), stim))
    store.write_features("net", "l2", features(rng.normal(size=(20, 4)), stim))
    for layer in ("l1", "l2"):
        nx.compute(store, "forward", f"net.{layer}", "mA", params={"reps": 2})
        nx.compute(store, "cka", f"net.{layer}", "mA")
    return store


def _documents_read(monkeypatch, cls, others: list[str] | None = None) -> Counter[str]:
    """Count the reads of every metadata document through the Zarr store class ``cls``, by node path
    (``others`` gets the other keys read)."""
    counts: Counter[str] = Counter()
    get = cls.get

    async def counted(self, key, *args, **kwargs):
        if key.endswith("/zarr.json"):
            counts[key[: -len("/zarr.json")]] += 1
        elif others is not None:
            others.append(key)
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(cls, "get", counted)
    return counts


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_a_report_reads_each_entry_document_once(tmp_path, monkeypatch):
    """The report's whole-store scan read every group's document, then its listings and reads read each
    set's and entry's document again: the scan's documents now fill the cached store's document cache. On an
    object store (read in one batch per entry) each is read once in the whole report, figures included, and
    once more after the chunks of a group whose data it reads (their version: a rewrite keeps the keys, so a
    token changed since the scan means the chunks may be another version's)."""
    import uuid

    from zarr.storage import FsspecStore

    url = f"memory://neuroxr-report-reads-{uuid.uuid4().hex}/s.zarr"
    complete = sorted(p for _, p, done in _small_study(url).entries() if done)
    assert len(complete) == 2 + 1 + 2 + 2 + 2  # the sets, the scores, the metrics and the Grams
    chunks: list[str] = []
    counts = _documents_read(monkeypatch, FsspecStore, chunks)
    write_report(url, tmp_path / "out", format="md")
    fetched = {p for p in complete if any(k.startswith(f"{p}/") for k in chunks)}
    assert fetched and {p: counts[p] for p in complete} == {p: 1 + (p in fetched) for p in complete}


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_the_scan_serves_the_documents_a_cached_store_reads_next_and_a_rewrite_is_still_seen(tmp_path, monkeypatch):
    """After the scan of a cached store, its listings and readings read no set's or entry's document again
    (they are its documents as the scan read them, complete groups only). A set rewritten after the scan is
    still caught: a read that opens another copy than its cached document names reads the new copy (its
    attrs, coords and data, not the cached document's), and the next call (a session) reads the documents
    afresh."""
    from zarr.storage import LocalStore

    store = _small_study(tmp_path / "s.zarr")
    complete = sorted(p for _, p, done in store.entries() if done)
    cached = store.cached()
    assert cached.damaged() == []
    counts = _documents_read(monkeypatch, LocalStore)
    listed = sorted(nx.list_entries(cached).path)
    assert all(cached.examine(p).attrs is not None for p in complete)
    assert set(listed) < set(complete) and {p: counts[p] for p in complete} == dict.fromkeys(complete, 0)

    path = "features/net/l2"
    before = cached.token(path)
    store.write_features("net", "l2", features(np.ones((20, 4)), [f"s{i:02d}" for i in range(20)]))
    got = cached.read_features("net", "l2").load()
    np.testing.assert_array_equal(got.values, 1.0)
    assert got.shape == (20, 4)
    with cached.session():
        assert cached.token(path) == store.token(path) != before
        np.testing.assert_array_equal(cached.read_features("net", "l2").values, 1.0)


def test_entries_of_a_deleted_set_keep_their_labels_in_the_report_and_info(tmp_path):
    """An entry whose feature set was deleted lost its model and layer in scores.csv and metrics.csv (the
    fallback read attrs the engine never writes), and info called it "stale (input rewritten)"."""
    from neuroxr.cli.info import store_summary
    from neuroxr.entries import score_metric

    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(30)]
    store = StudyStore(tmp_path / "s.zarr")
    store.write_neural("animalA", neural(rng.normal(size=(30, 4, 3)), stim))
    store.write_features("netA", "layer1", features(rng.normal(size=(30, 6)), stim))
    nx.score(store, "forward", "netA.layer1", "animalA", reps=2)
    score_metric(store, "cka", "netA.layer1", "animalA")
    store.invalidate("features/netA/layer1")
    write_report(store, tmp_path / "rep", "md", reliability=False)
    for name in ("scores.csv", "metrics.csv"):
        row = pd.read_csv(tmp_path / "rep" / name).iloc[0]
        assert (row["model"], row["layer"]) == ("netA", "layer1"), name
    assert pd.read_csv(tmp_path / "rep" / "scores.csv").iloc[0]["neural"] == "animalA"
    summary = store_summary(StudyStore(tmp_path / "s.zarr", mode="r"))
    statuses = [r["status"] for r in summary["scores"] + summary["metrics"]]
    assert statuses == ["stale (input deleted)"] * 2, statuses


def test_a_report_interrupted_while_writing_keeps_the_earlier_files_whole(tmp_path, monkeypatch):
    """Each table, page and figure was written in place: a report killed or interrupted midway left a
    truncated scores.csv that read as a complete (shorter) table. Each file is now written beside and
    renamed over the earlier one."""
    store = _inference_store(tmp_path / "s.zarr")
    out = tmp_path / "out"
    write_report(store, out, format="md", reliability=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(self, path_or_buf=None, *args, **kwargs):
        target = open(path_or_buf, "w") if isinstance(path_or_buf, (str, Path)) else path_or_buf
        target.write("direction,model\nforward,")
        target.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(store, out, format="md", reliability=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
