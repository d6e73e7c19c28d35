"""``neuroxr relative``: a stored layer's relative representation written as a new layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import latent_study

import neuroxr as nx
from neuroxr.cli import main
from neuroxr.geometry import relative_features

ANCHORS = ["s03", "s10", "s07", "s21", "s30"]


@pytest.fixture
def study(tmp_path):
    st, f1, _, neu = latent_study(tmp_path / "s.zarr", 0, 36, 8, layers=("l1", "l2"))
    ids = tmp_path / "anchors.txt"
    ids.write_text("# anchors\n" + "\n".join(ANCHORS) + "\n\n")
    return st, f1, neu, ids


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_relative_layer_equals_relative_features(study, similarity):
    st, f1, _, ids = study
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--similarity", similarity, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["path"] == "features/net/l1_relative" and out["n_anchors"] == len(ANCHORS)
    got = nx.open_store(st.url).read_features("net", "l1_relative").load()
    ref = relative_features(f1, ANCHORS, similarity=similarity)
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-12)
    assert got["unit_id"].values.tolist() == ANCHORS
    assert got["stimulus_id"].values.tolist() == ref["stimulus_id"].values.tolist()
    assert got.attrs["similarity"] == similarity and got.attrs["source_layer"] == "l1"


def test_named_layer_is_swept_and_scored(study):
    st, f1, neu, ids = study
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--name", "rel"])
    assert res.exit_code == 0 and "net.rel" in res.stdout, res.output
    st = nx.open_store(st.url)
    assert set(st.layers("net")) == {"l1", "l2", "rel"}
    sw = nx.sweep(st, directions=["cka"], progress=False, client="serial")
    assert set(sw.metric_table.layer) == {"l1", "l2", "rel"}
    row = sw.metric_table.query("layer == 'rel'").iloc[0]
    m = neu.mean("repeat").transpose("stimulus", "neuroid")
    expected = nx.geometry.cka(relative_features(f1, ANCHORS), nx.features(m.values, m["stimulus_id"].values))
    assert row.value == pytest.approx(float(expected), rel=1e-9)
    # the same command again finds the layer and computes nothing (it exited 1 'already exists'); other
    # anchors, another similarity or a rewritten source are refused without --overwrite, replaced with it
    before = nx.open_store(st.url).token("features/net/rel")
    again = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--name", "rel", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["computed"] is False, again.output
    assert nx.open_store(st.url).token("features/net/rel") == before
    fewer = ids.parent / "fewer.txt"
    fewer.write_text("\n".join(ANCHORS[:-1]) + "\n")
    for anchors, similarity in ((ids, "dot"), (fewer, "cosine")):
        again = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(anchors), "--name", "rel",
                                          "--similarity", similarity])
        assert again.exit_code == 1 and "computed from other anchors" in again.output and "--overwrite" in again.output
    st.write_features("net", "l1", f1 * 2)  # a new copy of the source
    again = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--name", "rel"])
    assert again.exit_code == 1 and "--overwrite" in again.output
    st.write_features("net", "l1", f1)
    again = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--name", "rel",
                                      "--similarity", "dot", "--overwrite", "--quiet"])
    assert again.exit_code == 0 and again.stdout == ""
    np.testing.assert_allclose(nx.open_store(st.url).read_features("net", "rel").values,
                               relative_features(f1, ANCHORS, similarity="dot").values, rtol=1e-12)


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_the_source_layer_is_never_overwritten(study, extra):
    """Before: --name l1 --overwrite replaced net.l1 by its own relative representation."""
    st, f1, _, ids = study
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--name", "l1", *extra])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert "--name: 'l1' is the layer net.l1 itself; choose another name for the new layer." in res.stderr
    np.testing.assert_array_equal(nx.open_store(st.url).read_features("net", "l1").values, f1.values)


def test_bad_anchors_are_one_line_errors(study, tmp_path):
    st, _, _, _ = study
    bad = tmp_path / "bad.txt"
    bad.write_text("s01\nnope\n")
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(bad)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert f"--anchors: 1 id(s) of {str(bad)!r} are not stimulus ids of net.l1 (e.g. ['nope'])" in res.output  # no Python names
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(empty)])
    assert res.exit_code == 2 and "lists no stimulus ids" in res.output
    res = CliRunner().invoke(main, ["relative", st.url, "mA", "--anchors", str(bad)])
    assert res.exit_code == 1 and "mA" in res.output
    twice = tmp_path / "twice.txt"
    twice.write_text("s01\ns02\ns01\n")  # named as the file's, not as relative_features' anchor_ids
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(twice)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert f"--anchors: {str(twice)!r} lists 1 id(s) more than once (e.g. 's01'); list each anchor once." in res.stderr
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfes01\n")  # not UTF-8: named, with what to do
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(binary)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert f"--anchors: {str(binary)!r} is not UTF-8 text (byte 0: invalid start byte); write the ids as UTF-8" in res.stderr


def test_an_anchor_file_with_a_byte_order_mark_reads_the_same_ids(study, tmp_path):
    """A file saved by a Windows editor starts with a UTF-8 byte-order mark: it was read into the first id
    ('\\ufeffs03', "not stimulus ids"); the mark is not part of the text."""
    st, f1, _, ids = study
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + ids.read_bytes())
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(bom), "--json"])
    assert res.exit_code == 0, res.output
    got = nx.open_store(st.url).read_features("net", "l1_relative").load()
    assert got["unit_id"].values.tolist() == ANCHORS


def test_a_relative_layer_whose_source_changed_is_named_by_validate_and_info(study):
    """The relative layer records its source layer's version token: after the source is rewritten (or
    deleted) validate warns and info lists it (it was silently kept as that layer's relative representation)."""
    import warnings

    st, f1, _, ids = study
    assert CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids)]).exit_code == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", nx.NeuroxrWarning)
        assert nx.validate_store(st.url) == []  # just computed: no note
    info = json.loads(CliRunner().invoke(main, ["info", st.url, "--json"]).stdout)
    assert info["stale_source"] == []
    st = nx.open_store(st.url)
    st.write_features("net", "l1", f1 * 2.0 + 1.0)  # the source rewritten
    with pytest.warns(nx.NeuroxrWarning, match=r"^features/net/l1_relative: its source layer net\.l1 was rewritten after "
                                               r"it was computed.*--name l1_relative --overwrite"):
        assert nx.validate_store(st.url) == []  # a note, not a violation
    res = CliRunner().invoke(main, ["validate", st.url, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["stale_source"][0].startswith("features/net/l1_relative:")
    info = json.loads(CliRunner().invoke(main, ["info", st.url, "--json"]).stdout)
    assert [d["path"] for d in info["stale_source"]] == ["features/net/l1_relative"]
    # computed again from the new source: no note
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert json.loads(CliRunner().invoke(main, ["info", st.url, "--json"]).stdout)["stale_source"] == []
    nx.open_store(st.url, mode="a").invalidate("features/net/l1")  # the source deleted
    with pytest.warns(nx.NeuroxrWarning, match=r"^features/net/l1_relative: its source layer net\.l1 is gone"):
        nx.validate_store(st.url)


def test_an_unfinished_relative_layer_draws_no_stale_source_note(study):
    """A relative layer whose write did not finish is listed as incomplete, a layer no sweep reads:
    neuroxr info and the report leave it out of their stale-source notes, and validate_store noted it
    all the same (from the attrs of the unfinished group)."""
    import os
    import warnings

    import zarr

    st, f1, _, ids = study
    assert CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids)]).exit_code == 0
    nx.open_store(st.url).write_features("net", "l1", f1 * 2.0 + 1.0)  # the source rewritten
    group = zarr.open_group(os.path.join(st.url, "features", "net", "l1_relative"), mode="r+")
    group.attrs.put({**group.attrs, "neuroxr_complete": False})  # and the relative layer left unfinished
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        problems = nx.validate_store(st.url)
    assert [p for p in problems if "l1_relative" in p]  # the unfinished layer draws its own violation
    assert not [w for w in got if "its source layer" in str(w.message)]
    info = json.loads(CliRunner().invoke(main, ["info", st.url, "--json"]).stdout)
    assert info["stale_source"] == []


def test_a_name_differing_in_case_only_is_refused_before_the_computation(study, monkeypatch):
    """`--name L2` beside layer `l2` was refused at the write, after the layer was read and its
    representation computed."""
    st, _, _, ids = study
    calls = []
    monkeypatch.setattr(nx.geometry, "relative_features", lambda *a, **k: calls.append(a))
    res = CliRunner().invoke(main, ["relative", st.url, "net.l1", "--anchors", str(ids), "--name", "L2"])
    assert res.exit_code == 1 and "l2" in res.output and "Traceback" not in res.output, res.output
    assert calls == [] and set(nx.open_store(st.url).layers("net")) == {"l1", "l2"}
