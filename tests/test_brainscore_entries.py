"""Brain-Score's protocol as an entry kind: the engine, ``nx.score``, ``neuroxr score brainscore`` and sweeps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import latent_sets, latent_study

import neuroxr as nx
from neuroxr.cli import main
from neuroxr.entries import list_entries, lookup
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.predictivity import brainscore

N = 40


@pytest.fixture
def study(tmp_path):
    f1, f2, neu = latent_sets(0, N, 8, regions=["IT"] * 5 + ["V4"] * 3)
    neu = neu.assign_coords(object_name=("stimulus", np.array(["a", "b", "c", "d"] * (N // 4))))
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    st.write_features("net", "l1", f1)
    st.write_features("net", "l2", f2)
    return st, f1, f2, neu


def _region(neu, region):
    return neu.isel(neuroid=np.flatnonzero(neu["region"].values == region))


def test_entry_equals_the_protocol_and_keys_its_parameters(study):
    st, f1, _, neu = study
    ds = nx.score(st, "brainscore", "net.l1", "mA", n_components=3)
    ref = brainscore(f1, neu, n_components=3)
    for v in ("raw", "ceiling", "score", "error"):
        assert float(ds[v]) == pytest.approx(float(ref[v]), rel=1e-12), v
    np.testing.assert_allclose(ds["r"].values, ref["r"].values, rtol=1e-12)
    assert ds.attrs["metric"] == "brainscore" and ds.attrs["stratify_by"] == "object_name"
    path = lookup(st, "brainscore", "net.l1", "mA", params={"n_components": 3})
    assert path is not None and path.startswith("metrics/brainscore/net.l1__mA/")
    # other parameters: a new entry beside the old one, equal to the protocol with them
    ds2 = nx.score(st, "brainscore", "net.l1", "mA", n_components=3, stratify_by=None, ceiling_mode="squared_ratio")
    ref2 = brainscore(f1, neu, n_components=3, stratify_by=None, ceiling_mode="squared_ratio")
    assert float(ds2["score"]) == pytest.approx(float(ref2["score"]), rel=1e-12)
    assert float(ds2["score"]) != pytest.approx(float(ds["score"]))
    rows = list_entries(st).query("kind == 'brainscore'")
    assert len(rows) == 2 and path in set(rows.path)
    # defaults given equal defaults omitted
    assert lookup(st, "brainscore", "net.l1", "mA", params={"n_components": 3, "seed": 1, "n_splits": 10}) == path
    assert nx.validate_store(st) == []


def test_auto_strata_without_object_names_is_the_entry_of_no_strata(tmp_path, monkeypatch):
    """``stratify_by='auto'`` on sets without an ``object_name`` coord splits as ``stratify_by=None``: one entry,
    keyed by the resolved value (they were two entries of the same numbers); with the coord, ``'auto'``
    keeps its key. An entry keyed ``'auto'`` before is recomputed beside, never handed back for the other."""
    from neuroxr.attrs import decoded
    from neuroxr.entries import engine

    f1, _, neu = latent_sets(0, N, 8)
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    st.write_features("net", "l1", f1)
    monkeypatch.setattr(engine._m, "resolve_strata", lambda params, *a, **kw: dict(params), raising=False)  # as before
    old = nx.score(st, "brainscore", "net.l1", "mA", n_components=3)
    monkeypatch.undo()
    ds = nx.score(st, "brainscore", "net.l1", "mA", n_components=3)  # "auto", the default
    none = lookup(st, "brainscore", "net.l1", "mA", params={"n_components": 3, "stratify_by": None})
    assert lookup(st, "brainscore", "net.l1", "mA", params={"n_components": 3}) == none is not None
    assert ds.pipe(decoded).attrs["neuroxr_provenance"]["params"]["stratify_by"] is None
    assert old.pipe(decoded).attrs["neuroxr_provenance"]["params"]["stratify_by"] == "auto"  # beside it
    assert len(list_entries(st).query("kind == 'brainscore'")) == 2
    ref = brainscore(f1, neu, n_components=3, stratify_by=None)
    for v in ("raw", "ceiling", "score"):
        assert float(ds[v]) == pytest.approx(float(ref[v]), rel=1e-12) == float(old[v]), v
    # with object names (on the features here), "auto" stratifies by them and keeps its key
    st.write_features("net", "l1", f1.assign_coords(object_name=("stimulus", np.array(["a", "b"] * (N // 2)))))
    ds = nx.score(st, "brainscore", "net.l1", "mA", n_components=3)
    assert ds.pipe(decoded).attrs["neuroxr_provenance"]["params"]["stratify_by"] == "auto"
    assert ds.attrs["stratify_by"] == "object_name"


def test_region_subset_target_and_errors(study):
    st, _, f2, neu = study
    ds = nx.score(st, "brainscore", "net.l2", "mA.V4", n_components=2)
    assert float(ds["score"]) == pytest.approx(float(brainscore(f2, _region(neu, "V4"), n_components=2)["score"]), rel=1e-12)
    with pytest.raises(ParameterError, match="takes no options"):
        nx.score(st, "brainscore", "net.l1", "mA", reps=3)
    with pytest.raises(LayoutError, match="target"):
        nx.score(st, "brainscore", "net.l1", "net.l2")


def test_cli_score_brainscore(study):
    st, f1, _, neu = study
    args = ["score", "brainscore", str(st.url), "net.l1", "mA.IT", "--n-components", "2", "--stratify-by", "object_name",
            "--ceiling-mode", "r2_over_ceiling"]
    res = CliRunner().invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = brainscore(f1, _region(neu, "IT"), n_components=2, stratify_by="object_name", ceiling_mode="r2_over_ceiling")
    assert out["kind"] == "brainscore" and out["computed"] is True
    assert out["value"] == pytest.approx(float(ref["score"]), rel=1e-12)
    assert out["raw"] == pytest.approx(float(ref["raw"]), rel=1e-12)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "brainscore" in res.stdout and "already in the store" in res.stdout
    assert CliRunner().invoke(main, [*args, "--quiet"]).stdout == ""
    bad = CliRunner().invoke(main, [*args[:-2], "--ceiling-mode", "nope"])
    assert bad.exit_code == 2


def test_an_entry_of_too_few_held_out_stimuli_is_refused_and_the_kind_raised(tmp_path):
    """20 stimuli at train_size=0.9 hold out 2 per split (every held-out r +-1): the entry, nx.score
    and ``neuroxr score brainscore`` refuse it in one line (the flag spelled as the command's), a
    smaller train_size computes it; brainscore is one revision up at the stop that refuses it."""
    from neuroxr.entries import revisions

    st, f1, _, neu = latent_study(tmp_path / "s.zarr", 0, 20, 6)
    with pytest.raises(LayoutError, match=r"^brainscore: 20 stimuli .* leave 2 test stimuli per split;"):
        nx.score(st, "brainscore", "net.l1", "mA", n_components=2)
    args = ["score", "brainscore", str(st.url), "net.l1", "mA", "--n-components", "2"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "20 stimuli on dim 'stimulus' with --train-size 0.9 leave 2 test stimuli" in lines[0], res.stderr
    assert lines[0].endswith("Pass at least 21 stimuli, or --train-size 0.89 (the largest that holds out 3).") and "train_size" not in lines[0]
    res = CliRunner().invoke(main, [*args, "--train-size", "0.89", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["raw"] == pytest.approx(float(brainscore(f1, neu, n_components=2, train_size=0.89)["raw"]),
                                                         rel=1e-12)
    assert set(revisions.BRAINSCORE_FEW_KINDS) <= revisions.STOPS[3] and set(revisions.ALL_NAN_RDM_KINDS) <= revisions.STOPS[3]  # their stop


def test_sweep_gathers_brainscore_in_the_metric_table(study):
    st, f1, f2, neu = study
    res = nx.sweep(st, directions=["cka", "brainscore"], metric_options={"brainscore": {"n_components": 2}},
                   progress=False, client="serial")
    table = res.metric_table
    assert sorted(table.query("metric == 'brainscore'").layer) == ["l1", "l2"]
    row = table.query("metric == 'brainscore' and layer == 'l2'").iloc[0]
    assert row.value == pytest.approx(float(brainscore(f2, neu, n_components=2)["score"]), rel=1e-12)
    assert row.ceiling == pytest.approx(float(brainscore(f2, neu, n_components=2)["ceiling"]), rel=1e-12)
    # the report lists the entries too
    from neuroxr.report import metric_table

    rt, _ = metric_table(st)
    bs = rt.query("metric == 'brainscore'")
    assert sorted(bs.layer) == ["l1", "l2"] and (bs.error == "").all()
    assert bs.value.tolist() == pytest.approx(table.query("metric == 'brainscore'").set_index("layer").loc[bs.layer].value.tolist())


def test_cli_sweep_config_with_brainscore(study, tmp_path):
    import pandas as pd

    st, f1, _, neu = study
    yml = tmp_path / "bs.yaml"
    yml.write_text("models: [net]\nlayers: [l1]\nneural: [mA]\ndirections: [brainscore]\nregions: each\n"
                   "metric_options:\n  brainscore: {n_components: 2, ceiling_mode: squared_ratio}\n")
    res = CliRunner().invoke(main, ["sweep", st.url, str(yml), "--scheduler", "serial", "--no-progress",
                                    "--table", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "t.metrics.csv").set_index("region")
    assert sorted(table.index) == ["IT", "V4"]
    ref = brainscore(f1, _region(neu, "V4"), n_components=2, ceiling_mode="squared_ratio")
    assert table.at["V4", "value"] == pytest.approx(float(ref["score"]), rel=1e-9)
    assert table.at["V4", "ceiling_mode"] == "squared_ratio"
