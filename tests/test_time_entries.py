"""Temporal generalisation as an entry kind (issue 20): through the entry engine (provenance,
resumable, read back labeled), from ``neuroxr score temporal-generalization`` and from a sweep's
``temporal_generalization: true``."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TIME_BINS
from conftest import time_sets as _sets

import neuroxr as nx
from neuroxr.attrs import decoded
from neuroxr.cli import main
from neuroxr.entries import compute, list_entries
from neuroxr.errors import LayoutError, ParameterError, StoreError, SweepConfigError


@pytest.fixture
def tg_store(tmp_path):
    F, A, B = _sets()
    store = nx.open_store(tmp_path / "study.zarr")
    store.write_features("net", "l1", F)
    store.write_neural("animalA", A)
    store.write_neural("animalB", B)
    return store, F, A, B


def _same(entry, ref):
    np.testing.assert_allclose(entry["r"].values, ref["r"].values, atol=1e-12)
    for c in ("time_bin_train_start", "time_bin_train_end", "time_bin_test_start", "time_bin_test_end"):
        np.testing.assert_array_equal(entry[c].values, ref[c].values)


def test_entry_round_trip_forward_and_inter_animal(tg_store):
    store, F, A, B = tg_store
    for source, src, direction in (("net.l1", F, "forward"), ("animalA", A, "inter_animal")):
        res = compute(store, "temporal_generalization", source, "animalB", params={"alpha": 0.5, "n_folds": 4})
        assert res.computed and res.path.startswith(f"scores/temporal_generalization/{source}__animalB/")
        back = store.read_dataset(res.path).load()
        assert back["r"].dims == ("neuroid", "time_bin_train", "time_bin_test")
        assert back.attrs["direction"] == direction and back.pipe(decoded).attrs["neuroxr_provenance"]["params"]["alpha"] == 0.5
        _same(back, nx.temporal_generalization(src, B, alpha=0.5, n_folds=4))
        # asked again with the same parameters: read back, not recomputed
        again = compute(store, "temporal_generalization", source, "animalB", params={"alpha": 0.5, "n_folds": 4})
        assert not again.computed and again.path == res.path
    rows = list_entries(store)
    assert set(rows[rows.kind == "temporal_generalization"].source) == {"net.l1", "animalA"}


def test_other_parameters_and_stale_entries_are_not_reused(tg_store):
    store, F, A, B = tg_store
    first = compute(store, "temporal_generalization", "net.l1", "animalB", params={"alpha": 0.5})
    other = compute(store, "temporal_generalization", "net.l1", "animalB", params={"alpha": 2.0})
    assert other.computed and other.path != first.path
    _same(other.dataset, nx.temporal_generalization(F, B, alpha=2.0))
    with pytest.raises(StoreError, match="fold_seed"):
        compute(store, "temporal_generalization", "net.l1", "animalB", params={"alpha": 0.5, "fold_seed": 3},
                require_existing=True)
    # the target rewritten: the old entry is stale, a new one is computed from the new data
    B2 = B.copy(data=B.values[..., ::-1].copy())
    store.write_neural("animalB", B2)
    fresh = compute(store, "temporal_generalization", "net.l1", "animalB", params={"alpha": 0.5})
    assert fresh.computed and fresh.path != first.path
    _same(fresh.dataset, nx.temporal_generalization(F, B2, alpha=0.5))


def test_entry_errors(tg_store):
    store, F, A, B = tg_store
    store.write_neural("static", nx.predictivity.time.bin_slice(B, 0))
    with pytest.raises(LayoutError, match="time_bin"):
        compute(store, "temporal_generalization", "net.l1", "static")
    with pytest.raises(ParameterError, match="takes no options"):
        compute(store, "temporal_generalization", "net.l1", "animalB", params={"reps": 2})
    with pytest.raises(LayoutError, match="time_bin_train"):
        nx.predictivity.generalization.validate_generalization(nx.temporal_generalization(F, B).rename(time_bin_train="t"))


def test_cli_temporal_generalization(tg_store):
    store, F, A, B = tg_store
    args = ["score", "temporal-generalization", store.url, "animalA", "animalB", "--alpha", "1.0", "--n-folds", "5"]
    out = CliRunner().invoke(main, args + ["--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.output)
    ref = nx.temporal_generalization(A, B, alpha=1.0, n_folds=5)
    med = np.median(ref["r"].values, axis=0)
    assert rec["computed"] and rec["n_time_bins"] == 3 and rec["direction"] == "inter_animal"
    assert rec["median_r_diagonal"] == pytest.approx(np.mean(np.diagonal(med)))
    _same(store.read_dataset(rec["path"]), ref)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "already in the store" in again.output and "3 x 3 time bins" in again.output
    bad = CliRunner().invoke(main, args[:-4] + ["--require-existing", "--fold-seed", "2"])
    assert bad.exit_code != 0 and "--fold-seed" in bad.output  # the flag, as the command line spells it


def test_cli_temporal_generalization_says_its_summary_is_a_mean_of_medians(tg_store):
    """The summary read 'median r on the diagonal' for the mean over the diagonal's cells of the
    per-cell median over targets."""
    store, F, A, B = tg_store
    out = CliRunner().invoke(main, ["score", "temporal-generalization", store.url, "net.l1", "animalB"])
    assert out.exit_code == 0, out.output
    med = np.median(nx.temporal_generalization(F, B)["r"].values, axis=0)
    off = med[~np.eye(len(med), dtype=bool)]
    assert (f"median r over targets, averaged over the cells: on the diagonal {np.mean(np.diagonal(med)):.3f}"
            in out.output), out.output
    assert f"off it {np.mean(off):.3f}" in out.output


def test_an_animal_against_itself_warns_as_inter_animal(tg_store):
    """Temporal generalisation of a set against itself (each neuroid predicted from itself, r = 1)
    warns as the inter-animal direction does; two animals do not."""
    from neuroxr.errors import NeuroxrWarning

    store, F, A, B = tg_store
    with pytest.warns(NeuroxrWarning, match=r"^temporal_generalization: neural \(animalA\): 5 neuroids are also predictors in "
                                                   r"source \(animalA\) .* predicted from itself"):
        compute(store, "temporal_generalization", "animalA", "animalA")
    with pytest.warns(NeuroxrWarning, match=r"^temporal_generalization: neural( \(\w+\))?: 5 neuroids are also "
                                                   r"predictors"):  # the function itself
        nx.temporal_generalization(A, A, n_folds=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        compute(store, "temporal_generalization", "animalA", "animalB")
        compute(store, "temporal_generalization", "net.l1", "animalA")
    res = CliRunner().invoke(main, ["score", "temporal-generalization", store.url, "animalB", "animalB"])
    assert res.exit_code == 0, res.output
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("Warning: temporal-generalization: animalB: 4 neuroids are also predictors in "
                           "animalB") and "predicted from itself" in line  # the command and the set, as given


def test_sweep_option(tg_store):
    store, F, A, B = tg_store
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        res = nx.sweep(store, directions=("forward", "inter_animal"), client="serial", progress=False, reps=2,
                       alpha=0.5, temporal_generalization=True)
        found = {e.key: nx.lookup(store, "temporal_generalization", e.source_ref, e.target_ref, params={"alpha": 0.5})
                 for e in res.entries}
        assert all(found.values()) and len(found) == 4  # forward -> A and B, A -> B, B -> A
        e = next(e for e in res.entries if e.direction == "inter_animal" and e.source == "animalB")
        _same(store.read_dataset(found[e.key]), nx.temporal_generalization(B, A, alpha=0.5))
        # a re-run finds everything; a missing temporal-generalisation entry is computed again
        del store._root[found[e.key]]
        again = nx.sweep(store, directions=("forward", "inter_animal"), client="serial", progress=False, reps=2,
                         alpha=0.5, temporal_generalization=True)
    assert again.computed == [e.key] and len(again.skipped) == 3
    assert nx.lookup(store, "temporal_generalization", "animalB", "animalA", params={"alpha": 0.5}) is not None


def test_sweep_config_option(tmp_path):
    from neuroxr.sweep import load_config, validate_config

    path = tmp_path / "sweep.yaml"
    path.write_text("directions: [forward]\ntemporal_generalization: true\nalpha: 0.5\n")
    assert load_config(path)["temporal_generalization"] is True
    with pytest.raises(SweepConfigError, match="temporal_generalization must be true or false"):
        validate_config({"temporal_generalization": "yes"})
    with pytest.raises(SweepConfigError, match="regressor 'ridge'"):
        validate_config({"temporal_generalization": True, "regressor": "pls"})


def test_sweep_cli_config(tg_store, tmp_path):
    store, F, A, B = tg_store
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("directions: [inter_animal]\nneural: [animalA, animalB]\nreps: 2\nn_folds: 4\ntemporal_generalization: true\n")
    out = CliRunner().invoke(main, ["sweep", store.url, str(cfg), "--scheduler", "serial", "--quiet"])
    assert out.exit_code == 0, out.output
    path = nx.lookup(store, "temporal_generalization", "animalA", "animalB", params={"n_folds": 4})
    _same(store.read_dataset(path), nx.temporal_generalization(A, B, n_folds=4))


def test_store_with_generalization_entries_validates_and_lists(tg_store):
    from neuroxr.schemas import validate_store

    store, *_ = tg_store
    compute(store, "temporal_generalization", "net.l1", "animalB", params={"alpha": 0.5, "n_folds": 4})
    assert validate_store(store.url) == []
    out = CliRunner().invoke(main, ["info", str(store.url)])
    assert out.exit_code == 0, out.output
    assert "temporal_generalization" in out.output


@pytest.mark.parametrize("kind, source", [("cka", "net.l1"), ("crsa", "net.l1"), ("ersa", "net.l1"), ("ereg", "net.l1"),
                                          ("shape", "net.l1"), ("brainscore", "net.l1"), ("dimensionality", "animalB")])
def test_metric_entries_refuse_time_resolved_sets(tg_store, kind, source):
    """Metric kinds on a time-resolved neural set: a one-line LayoutError naming the set and how to select a bin."""
    store, *_ = tg_store
    target = None if kind == "dimensionality" else "animalB"
    with pytest.raises(LayoutError, match=r"time-resolved \(dim 'time_bin', 3 bins\).*isel\(time_bin=0\)") as e:
        compute(store, kind, source, target)
    assert "\n" not in str(e.value)


def test_time_resolved_inference_entries_are_summarised_per_bin(tg_store, tmp_path):
    """A sweep's inference on a time-resolved set gives one inference row per time bin, each equal to
    the direct bootstrap and permutation test at that bin; the report's inference table and
    `neuroxr score --bootstrap/--permutations` show the same per-bin values (they crashed on the
    per-bin medians)."""
    from neuroxr.predictivity.inference import bootstrap, permutation_test
    from neuroxr.report.inference import inference_table

    store, F, A, B = tg_store
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        res = nx.sweep(store, directions=("forward",), neural=["animalB"], client="serial", progress=False, reps=2,
                       alpha=0.5, inference={"bootstrap": 20, "permutations": 9})
        boot = bootstrap("forward", F, B, reps=2, alpha=0.5, n_boot=20)
        perm = permutation_test("forward", F, B, alpha=0.5, n_perm=9)
        table = res.inference_table
        assert len(table) == len(TIME_BINS)
        for t, (lo, hi) in enumerate(TIME_BINS):
            row = table[(table.time_bin_start == lo) & (table.time_bin_end == hi)].iloc[0]
            assert row.median_ev == pytest.approx(float(boot.median_ev.isel(time_bin=t)), rel=1e-10)
            assert [row.median_ev_low, row.median_ev_high] == pytest.approx(boot.median_ev_ci.isel(time_bin=t).values, rel=1e-10)
            assert row.median_p == pytest.approx(float(perm.median_p.isel(time_bin=t)))
        shown = inference_table(store)
        assert len(shown) == len(TIME_BINS) and not shown.in_figures.any()  # the layer figures draw static entries
        np.testing.assert_allclose(shown.sort_values("time_bin_start").median_ev.values,
                                   table.sort_values("time_bin_start").median_ev.values)
        out = CliRunner().invoke(main, ["score", "forward", store.url, "net.l1", "animalB", "--reps", "2", "--alpha", "0.5",
                                        "--bootstrap", "20", "--permutations", "9", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output.strip().splitlines()[-1])
    np.testing.assert_allclose([b["median_ev_ci"] for b in got["bootstrap_by_time_bin"]], boot.median_ev_ci.values.T, rtol=1e-10)
    assert [b["median_p"] for b in got["permutation_by_time_bin"]] == pytest.approx(perm.median_p.values.tolist())


def test_info_shows_a_time_resolved_inference_entry_per_bin(tg_store):
    from neuroxr.cli.info import store_summary
    from neuroxr.predictivity.inference import bootstrap

    store, F, A, B = tg_store
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        compute(store, "forward_bootstrap", "net.l1", "animalB", params={"reps": 2, "n_boot": 10})
        ref = bootstrap("forward", F, B, reps=2, n_boot=10)
    row = store_summary(store)["inference"][0]
    assert "error" not in row
    np.testing.assert_allclose(row["median_ev"], ref.median_ev.values, rtol=1e-10)
    out = CliRunner().invoke(main, ["info", store.url])
    assert out.exit_code == 0 and "(per time bin)" in out.output


def test_the_constant_target_fix_raises_temporal_generalization_once():
    """Targets constant in a bin are now NaN (they could hold a number from rounding): stored
    temporal-generalisation entries are one revision up, the directions' stand."""
    from neuroxr.entries import revisions

    at = 7  # the stop of this fix
    assert set(revisions.TG_CONSTANT_TARGET_KINDS) == {"temporal_generalization"} <= set(revisions.STOPS[at])
    before = revisions.raised_per_stop(revisions.REVISIONS_BEFORE_STOPS, revisions.STOPS[:at])
    after = revisions.raised_per_stop(revisions.REVISIONS_BEFORE_STOPS, revisions.STOPS[: at + 1])
    assert after["temporal_generalization"] == before["temporal_generalization"] + 1


def test_a_time_resolved_inference_entry_of_unpaired_bins_is_not_read_back(tg_store):
    """Each bin drew its resamples over its own stimuli (a bin lacking one paired none with the other
    bins'): the neural directions' inference entries of the stop before are stale and recomputed."""
    from dataclasses import replace

    from neuroxr.entries import kinds, lookup, revisions

    store, F, A, B = tg_store
    at = max(i for i, stop in enumerate(revisions.STOPS) if set(revisions.PAIRED_BINS_KINDS) <= stop)  # their stop
    assert "model_to_model_bootstrap" not in revisions.STOPS[at]
    before = revisions.raised_per_stop(revisions.REVISIONS_BEFORE_STOPS, revisions.STOPS[:at])
    after = revisions.raised_per_stop(revisions.REVISIONS_BEFORE_STOPS, revisions.STOPS[: at + 1])
    assert all(after[k] == before[k] + 1 <= revisions.REVISIONS[k] for k in revisions.PAIRED_BINS_KINDS)
    params = {"reps": 2, "n_boot": 10}
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as m:
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        m.setitem(kinds.KINDS, "forward_bootstrap", replace(kinds.KINDS["forward_bootstrap"],
                                                              revision=before["forward_bootstrap"]))
        old = compute(store, "forward_bootstrap", "net.l1", "animalB", params=params)  # as the stop before wrote it
        m.undo()
        assert lookup(store, "forward_bootstrap", "net.l1", "animalB", params=params) is None
        new = compute(store, "forward_bootstrap", "net.l1", "animalB", params=params)
    assert new.computed and new.path != old.path
