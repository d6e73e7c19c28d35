"""The report's tables as a user reads them: stable columns, the stored numbers, missing values shown missing."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import neuroxr as nx  # noqa: E402
from neuroxr.layouts import features, neural  # noqa: E402
from neuroxr.report import write_report  # noqa: E402
from neuroxr.report.inference import INFERENCE_COLUMNS, inference_table  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

STIM = [f"s{i:02d}" for i in range(30)]


def _study(path) -> StudyStore:
    """A neural set and two model layers sharing a latent."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(30, 4))
    store = StudyStore(path)
    store.write_neural("mA", neural((latent @ rng.normal(size=(4, 6)))[:, :, None] + rng.normal(size=(30, 6, 3)), STIM))
    store.write_features("net", "l1", features(latent @ rng.normal(size=(4, 8)) + rng.normal(size=(30, 8)), STIM))
    store.write_features("net", "l2", features(latent @ rng.normal(size=(4, 5)) + rng.normal(size=(30, 5)), STIM))
    return store


@pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")
def test_inference_csv_has_one_column_order_whatever_entries_the_store_holds(tmp_path):
    """The columns of inference.csv followed the order in which the entries' numbers were met: a store
    whose first entry was a permutation test put median_p and n_perm before median_ev, one with a
    bootstrap put n_boot after the ceiling, and time-bin columns came and went. Now every table has
    INFERENCE_COLUMNS in order, and each cell is the entry's own number."""
    store = _study(tmp_path / "s.zarr")
    perm = nx.compute(store, "forward_permutation", "net.l1", "mA", params={"n_perm": 9})
    first = inference_table(store)
    assert list(first.columns) == INFERENCE_COLUMNS
    assert first["median_p"].iloc[0] == float(perm.dataset["median_p"]) and pd.isna(first["median_ev"].iloc[0])
    out = tmp_path / "r1"
    write_report(store, out, "md", reliability=False, n_boot=10)
    assert list(pd.read_csv(out / "inference.csv").columns) == INFERENCE_COLUMNS
    boot = nx.compute(store, "forward_bootstrap", "net.l2", "mA", params={"reps": 2, "n_boot": 12})
    table = inference_table(store)
    assert list(table.columns) == INFERENCE_COLUMNS
    row = table[table["layer"] == "l2"].iloc[0]
    assert row["median_ev"] == float(boot.dataset["median_ev"]) and row["n_boot"] == 12
    assert (row["median_ev_low"], row["median_ev_high"]) == tuple(float(v) for v in boot.dataset["median_ev_ci"].values)
    assert pd.isna(row["median_p"]) and pd.isna(row["n_perm"]) and pd.isna(row["time_bin_start"])
    out = tmp_path / "r2"
    page = write_report(store, out, "md", reliability=False, n_boot=10).read_text()
    csv = pd.read_csv(out / "inference.csv", dtype=str, keep_default_na=False)
    assert list(csv.columns) == INFERENCE_COLUMNS
    assert set(csv["time_bin_start"]) == {""}  # static entries: empty cells
    assert "time_bin_start" not in page  # the page shows bins only where a row has them


def test_a_report_whose_targets_are_all_below_min_reliability_is_written(tmp_path):
    """Every target below min_reliability: the score table shows n_targets 0 and an empty median, and the
    report stopped with a traceback (forward_vs_reverse: the forward scores hold no finite value). Now the
    page is written, and a pair without an included target is left out of forward vs reverse, named in
    its caption."""
    from neuroxr.report import score_table
    from neuroxr.report.figures import forward_reverse_figures

    store = _study(tmp_path / "s.zarr")
    for layer in ("l1", "l2"):
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2, min_reliability=0.999)
        nx.score(store, "reverse", "mA", f"net.{layer}", reps=2, min_reliability=0.999)
    out = tmp_path / "r"
    page = write_report(store, out, "md", reliability=False, n_boot=10).read_text()
    scores = pd.read_csv(out / "scores.csv", dtype=str, keep_default_na=False)
    for r in scores.itertuples():
        ds = store.read_dataset(r.path)
        assert not ds["included"].values.any() and r.n_targets == "0" and r.median_ev == ""
    assert "Forward vs reverse" not in page and not (out / "forward_vs_reverse.png").exists()
    # one pair without an included target beside one with: the other is drawn, the empty one named
    table, by_pair = score_table(store)
    l2 = {k: ds.assign(included=ds["included"].copy(data=np.ones(ds["included"].shape, dtype=bool)))
          for k, ds in by_pair.items() if "net.l2" in k}
    table = table.assign(n_targets=[0 if r.layer == "l1" else 5 for r in table.itertuples()])
    [(caption, _, _)] = forward_reverse_figures(table, {**by_pair, **l2})
    assert "(1 pairs" in caption and "no included target with a finite EV in a direction: net/l1:mA" in caption


def test_forward_vs_reverse_labels_tell_a_set_named_with_a_dot_from_a_region(tmp_path):
    """A set ``mA.x`` and the set ``mA`` with region ``x`` were both labelled ``net/l1:mA.x``, so one of
    the two pairs overwrote the other and the figure drew one point for two pairs."""
    from matplotlib.collections import PathCollection

    from neuroxr.report import score_table
    from neuroxr.report.figures import forward_reverse_figures

    store = _study(tmp_path / "s.zarr")
    for layer in ("l1", "l2"):
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2)
        nx.score(store, "reverse", "mA", f"net.{layer}", reps=2)
    table, scores = score_table(store)
    # the l2 pair stands for the set mA.x (entries of both made before the name became ambiguous)
    table = table.assign(neural=["mA.x" if r.layer == "l2" else "mA" for r in table.itertuples()],
                         region=["x" if r.layer == "l1" else "all" for r in table.itertuples()],
                         layer="l1")
    [(caption, _, fig)] = forward_reverse_figures(table, scores)
    assert "(2 pairs" in caption
    ax = fig.axes[1]  # the scatter, one point per pair
    points = [p for c in ax.collections if isinstance(c, PathCollection) for p in c.get_offsets()]
    assert len(points) == 2 and sorted(t.get_text() for t in ax.texts) == ["net/l1:mA [x]", "net/l1:mA.x"]


def test_a_headline_row_without_a_best_layer_names_its_entries_and_says_it_has_no_value(tmp_path):
    """Every target below min_reliability: best_layers chooses no layer. The headline row showed empty
    parameters (the entries were compared all the same) and the figure labelled it "forward net mA nan"
    with nothing beside it; now the row names the entries' parameters and the figure says there is no value."""
    from neuroxr.plot import best_layer_intervals
    from neuroxr.report import headline, score_table, target_table

    store = _study(tmp_path / "s.zarr")
    for layer in ("l1", "l2"):
        nx.score(store, "forward", f"net.{layer}", "mA", reps=2, min_reliability=0.999)
    table, scores = score_table(store)
    best = headline(target_table(table, scores), n_boot=10)
    assert len(best) == 1 and pd.isna(best["best_layer"].iloc[0]) and pd.isna(best["test_ev"].iloc[0])
    assert best["parameters"].iloc[0] == table["parameters"].iloc[0] == "min_reliability=0.999, reps=2"
    ax = best_layer_intervals(best).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["forward net mA"]
    assert "no value (no included target)" in [t.get_text() for t in ax.texts]


def test_a_store_of_incomplete_entries_says_so(tmp_path):
    """Entries whose write did not finish were left out of the page without a word ("score entries: 0",
    "No complete score entry."); the inventory now counts and names them, as neuroxr info does."""
    import json

    store = _study(tmp_path / "s.zarr")
    nx.score(store, "forward", "net.l1", "mA", reps=2)
    for path in nx.list_entries(store)["path"]:  # as a killed write leaves them: no completion marker
        doc = tmp_path / "s.zarr" / path / "zarr.json"
        meta = json.loads(doc.read_text())
        meta["attributes"].pop("neuroxr_complete")
        doc.write_text(json.dumps(meta))
    entries = nx.list_entries(StudyStore(tmp_path / "s.zarr", mode="r"))
    assert len(entries) and not entries["complete"].any()
    page = write_report(tmp_path / "s.zarr", tmp_path / "r", "md", reliability=False).read_text()
    assert "No complete score entry." in page
    line = next(line for line in page.splitlines() if "incomplete entries" in line)
    assert f": {len(entries)} (" in line and all(p in line for p in entries["path"])


def test_report_functions_refuse_wrong_inputs_in_one_line(tmp_path):
    """``write_report(store, None)`` (the folder forgotten), ``target_table`` given the wrong objects and
    ``provenance_table(None)`` raised Python's own TypeError or AttributeError from inside pathlib or
    pandas; now each is a neuroxr error naming the argument."""
    from neuroxr.errors import LayoutError, ParameterError
    from neuroxr.report import provenance_table, target_table

    store = _study(tmp_path / "s.zarr")
    cases = [(lambda: write_report(store, None), ParameterError, "write_report: out_dir must be a folder path"),
             (lambda: write_report(store, 3), ParameterError, "got 3"),
             (lambda: target_table("scores.csv", {}), LayoutError, "target_table: expected score_table"),
             (lambda: provenance_table(None), LayoutError, "provenance_table: datasets must be a mapping")]
    for call, error, says in cases:
        with pytest.raises(error) as info:
            call()
        assert says in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "None").exists()
