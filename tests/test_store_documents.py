"""A metadata document ``zarr.json`` that is not valid JSON: the group is damage, never the rest of the store."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import xarray as xr

from neuroxr.cli import main
from neuroxr.entries import list_entries
from neuroxr.entries import provenance as _p
from neuroxr.layouts import features, neural
from neuroxr.store import StoreError, StudyStore

PROV = _p.make("forward", "net.l1", "mA", {"seed": 0}, {})
SCORE = f"scores/forward/net.l1__mA/{_p.key(PROV)}"


@pytest.fixture
def store(tmp_path):
    """Two layers of one model, a neural set and a score entry (all intact)."""
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    st = StudyStore(tmp_path / "study.zarr")
    st.write_features("net", "l1", features(rng.normal(size=(8, 4)), stim, model="net", layer="l1"))
    st.write_features("net", "l2", features(rng.normal(size=(8, 4)), stim, model="net", layer="l2"))
    st.write_neural("mA", neural(rng.normal(size=(8, 3, 2)), stim, [f"n{j}" for j in range(3)]))
    ev = xr.Dataset({"ev": (("neuroid",), rng.uniform(size=3))}, coords={"neuroid_id": ("neuroid", ["n0", "n1", "n2"])},
                    attrs={"direction": "forward", _p.PROVENANCE_ATTR: PROV, _p.KEY_ATTR: _p.key(PROV)})
    st.write_dataset(SCORE, ev)
    return st


def _corrupt(store, path, text=b"garbage\n"):
    with open(os.path.join(store.url, *path.split("/"), "zarr.json"), "wb") as f:
        f.write(text)


def _no_inventory(store):
    shutil.rmtree(os.path.join(store.url, ".neuroxr", "inventory"))


@pytest.mark.parametrize("inventory", [True, False], ids=["inventory", "walk"])
@pytest.mark.parametrize("text", [b"garbage\n", b'{"attributes": {"neuroxr_comp'], ids=["garbage", "truncated"])
def test_a_set_whose_document_is_not_json_hides_nothing_else(store, inventory, text):
    _corrupt(store, "features/net/l2", text)
    if not inventory:
        _no_inventory(store)
    for st in (store, StudyStore(store.url, mode="r")):
        assert st.inventory() == {"neural": ["mA"], "features": {"net": ["l1"]}}
        assert [p for _, p, _ in st.entries()] == ["features/net/l1", "neural/mA", SCORE]
        assert list(list_entries(st)["path"]) == [SCORE]
        (path, problem), = st.damaged()
        assert path == "features/net/l2" and "features/net/l2/zarr.json is not valid JSON" in problem
        assert "delete the set" in problem
        assert st.read_features("net", "l1").shape == (8, 4)  # the intact sets read as before
        with pytest.raises(StoreError, match=r"features/net/l2.*is damaged.*features/net/l2/zarr.json is not valid JSON"):
            st.read_features("net", "l2")


def test_a_group_above_sets_whose_document_is_not_json_hides_none_of_them(store):
    _corrupt(store, "features/net")
    _no_inventory(store)
    st = StudyStore(store.url, mode="r")
    assert st.inventory() == {"neural": ["mA"], "features": {"net": ["l1", "l2"]}}
    (path, problem), = st.damaged()
    assert path == "features/net" and "rewrite it as an empty group" in problem
    json.loads(problem.partition("rewrite it as an empty group: ")[2])  # the advice is a document to paste


def test_an_entry_whose_document_is_not_json_is_damage_and_listed_entries_stay(store):
    _corrupt(store, "scores/forward")  # a group above entries
    _corrupt(store, SCORE.rpartition("/")[0])  # the pair group
    _no_inventory(store)
    assert list(list_entries(StudyStore(store.url, mode="r"))["path"]) == [SCORE]
    _corrupt(store, SCORE)
    assert list(list_entries(StudyStore(store.url, mode="r"))["path"]) == []
    assert SCORE in [p for p, _ in store.damaged()]


def test_an_array_document_that_is_not_json_is_the_damage_of_its_group(store):
    _corrupt(store, "features/net/l2/data")
    problems = store.damaged()
    assert ("features/net/l2", problems[0][1]) == problems[0]
    assert "features/net/l2/data/zarr.json is not valid JSON" in problems[0][1]
    assert not any("missing metadata document" in p for _, p in problems)


def test_cli_info_and_validate_name_the_damaged_set_and_list_the_rest(store, runner):
    _corrupt(store, "features/net/l2")
    res = runner.invoke(main, ["info", store.url])
    assert res.exit_code == 0, res.output
    assert "features/net/l2/zarr.json is not valid JSON" in res.output and "Expecting value" not in res.output
    assert "l1" in res.output and "mA" in res.output
    res = runner.invoke(main, ["validate", store.url])
    assert res.exit_code == 1 and "features/net/l2: damaged: its metadata document features/net/l2/zarr.json" in res.output
    assert "inventory lists a group" not in res.output  # the damage line says it all
    # one fix, the command line's: no Python call, no second generic advice after it
    (line,) = [x for x in res.output.splitlines() if "features/net/l2: damaged" in x]
    assert line.endswith("write the set again (a layer: neuroxr extract --overwrite), or delete its folder"), line
    assert "StudyStore" not in res.output and "recompute or rewrite it" not in res.output


def test_cli_scores_intact_sets_and_refuses_the_damaged_one_in_one_line(store, runner):
    _corrupt(store, "features/net/l2")
    args = ["--reps", "2", "--n-folds", "2"]
    res = runner.invoke(main, ["score", "forward", store.url, "net.l1", "mA", *args])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["score", "forward", store.url, "net.l2", "mA", *args])
    assert res.exit_code != 0 and "Traceback" not in res.output
    error = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "features/net/l2" in error[0] and "zarr.json is not valid JSON" in error[0], res.output


def test_cli_computes_an_entry_whose_document_is_not_json_again(store, runner):
    res = runner.invoke(main, ["score", "forward", store.url, "net.l1", "mA", "--reps", "2", "--n-folds", "2"])
    assert res.exit_code == 0, res.output
    path = StudyStore(store.url, mode="r").listing("scores/forward/net.l1__mA")
    path = [p for p in path if p != SCORE]
    assert len(path) == 1
    before = StudyStore(store.url, mode="r").read_dataset(path[0]).ev.values  # as computed
    _corrupt(store, path[0])
    res = runner.invoke(main, ["score", "forward", store.url, "net.l1", "mA", "--reps", "2", "--n-folds", "2"])
    assert res.exit_code == 0, res.output
    st = StudyStore(store.url, mode="r")
    assert st.damaged() == [] and st.is_complete(path[0])
    np.testing.assert_array_equal(st.read_dataset(path[0]).ev.values, before)


def test_a_root_document_that_is_not_json_is_one_line_naming_it(store, runner):
    _corrupt(store, "")
    for cmd in (["info", store.url], ["validate", store.url], ["score", "forward", store.url, "net.l1", "mA"]):
        res = runner.invoke(main, cmd)
        assert res.exit_code != 0 and "Traceback" not in res.output
        (line,) = [x for x in res.output.splitlines() if x.strip()]
        assert "is damaged: its root zarr.json is not valid JSON; restore it from a copy" in line and store.url in line
        assert "JSONDecodeError" not in line and line.endswith(
            'write it back as {"zarr_format": 3, "node_type": "group", "attributes": {"neuroxr_store_version": 1}}.')
    with open(os.path.join(store.url, "zarr.json"), "rb") as f:
        assert f.read() == b"garbage\n"  # never written over, by a writer either


def test_cli_json_outputs_with_a_top_group_whose_document_is_not_json(store, runner):
    from neuroxr.schemas import describe_store

    _corrupt(store, "features")
    assert describe_store(store)["groups"] == ["features", "neural", "scores"]
    res = runner.invoke(main, ["validate", store.url, "--json"])
    out = json.loads(res.output)
    assert not out["valid"] and any(p.startswith("features: damaged: its metadata document features/zarr.json")
                                    for p in out["problems"])
    res = runner.invoke(main, ["info", store.url, "--json"])
    assert json.loads(res.output)["features"][0]["layer"] == "l1"


@pytest.mark.parametrize("path,config", [("features/net/l2", "directions: [rsa]\nlayers: [l2]\n"),
                                         ("neural/mA", "directions: [rsa]\nneural: [mA]\n"),
                                         ("features/solo/only", "directions: [rsa]\nmodels: [solo]\n")])
def test_cli_sweep_asking_for_a_damaged_set_names_it(store, runner, tmp_path, path, config):
    """A model whose only layer is damaged was 'no models ['solo']', without the damage."""
    if path.startswith("features/solo"):
        store.write_features("solo", "only", store.read_features("net", "l1").load())
    _corrupt(store, path)
    (tmp_path / "sweep.yaml").write_text(config)
    res = runner.invoke(main, ["sweep", store.url, str(tmp_path / "sweep.yaml"), "--scheduler", "serial"])
    assert res.exit_code != 0 and f"{path}/zarr.json: not valid JSON, a damaged set" in res.output, res.output
    assert "StudyStore" not in res.output and "or delete its folder" in res.output
