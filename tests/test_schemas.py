"""The JSON Schemas agree with the package validators; descriptors; store validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from jsonschema import Draft202012Validator

from neuroxr.layouts import (
    LayoutError,
    features,
    neural,
    validate_features,
    validate_metric,
    validate_neural,
    validate_scores,
)
from neuroxr.schemas import (
    SCHEMA_NAMES,
    describe,
    describe_store,
    load_schema,
    schema_violations,
    validate_against_schema,
    validate_store,
)
from neuroxr.store import StudyStore

REPO_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
PACKAGE_SCHEMAS = Path(__file__).resolve().parents[1] / "neuroxr" / "_schemas"


def _neural(n=6, k=4, t=3):
    rng = np.random.default_rng(0)
    return neural(rng.normal(size=(n, k, t)), [f"s{i}" for i in range(n)], [f"n{j}" for j in range(k)], animal="A")


def _features(n=6, p=5):
    rng = np.random.default_rng(0)
    return features(rng.normal(size=(n, p)), [f"s{i}" for i in range(n)], model="net", layer="fc", channel=np.arange(p))


def _scores(target="neuroid", k=4, reps=3):
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {"ev": ((target, "rep"), rng.uniform(0, 100, size=(k, reps)))},
        coords={f"{target}_id": (target, [f"{target}{j}" for j in range(k)]), "rep": np.arange(reps), "fold": 10},
        attrs={"seed": 0},
    )


def _metric(metric="shape", split=True):
    attrs = {"metric": metric, "source": "net.fc", "seed": 0, "parameters": {"alpha": 1.0}}
    if metric != "dimensionality":
        attrs["target"] = "monkeyA"
    if split:
        return xr.Dataset({"score": (("split",), [0.2, 0.3]), "stimulus_split": (("stimulus",), ["train", "test", "test"])},
                          coords={"split": ["train", "test"]}, attrs=attrs)
    return xr.Dataset({"score": ((), 0.4), "ceiling": ((), 0.8)}, attrs=attrs)


# ---------------------------------------------------------------------------- the documents
def test_top_level_schemas_are_the_packaged_ones():
    names = sorted(p.name for p in PACKAGE_SCHEMAS.glob("*.json"))
    assert names == sorted(f"{n}.schema.json" for n in SCHEMA_NAMES)
    for name in names:
        assert (REPO_SCHEMAS / name).read_bytes() == (PACKAGE_SCHEMAS / name).read_bytes(), name


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_are_valid_draft_2020_12(name):
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:neuroxr:schema:{name}"


def test_load_schema_returns_a_copy_and_refuses_unknown_names():
    load_schema("neural")["title"] = "changed"
    assert load_schema("neural")["title"] != "changed"
    with pytest.raises(ValueError, match="unknown schema 'rdm'"):
        load_schema("rdm")


# ---------------------------------------------------------------------------- agreement
def _set(da, i, value):
    da = da.copy()
    da[i] = value
    return da


VALIDATORS = {
    "neural": validate_neural,
    "features": validate_features,
    "scores": validate_scores,
    "metric": validate_metric,
}

CASES = [
    # (kind, id, builder, valid)
    ("neural", "valid", _neural, True),
    ("neural", "trial-averaged", lambda: _neural(t=1), True),
    ("neural", "nan-trials", lambda: _set(_neural(), (0, 0, 0), np.nan), True),
    ("neural", "extra-coords", lambda: _neural().assign_coords(region=("neuroid", list("abcd")), session=5), True),
    ("neural", "wrong-order", lambda: _neural().transpose("neuroid", "stimulus", "repeat"), False),
    ("neural", "no-repeat", lambda: _neural().isel(repeat=0), False),
    ("neural", "extra-dim", lambda: _neural().expand_dims(time=2, axis=-1), False),
    ("neural", "missing-ids", lambda: _neural().drop_vars("neuroid_id"), False),
    ("neural", "int-ids", lambda: _neural().assign_coords(stimulus_id=("stimulus", np.arange(6))), False),
    ("neural", "duplicate-ids", lambda: _neural().assign_coords(neuroid_id=("neuroid", list("aabc"))), False),
    ("neural", "ids-wrong-dim", lambda: _neural().drop_vars("neuroid_id").assign_coords(neuroid_id=("stimulus", list("abcdef"))), False),
    ("neural", "animal-on-stimulus", lambda: _neural().assign_coords(animal=("stimulus", list("abcdef"))), False),
    ("neural", "inf", lambda: _set(_neural(), (1, 1, 1), np.inf), False),
    ("neural", "bool-values", lambda: _neural().astype(bool), False),
    ("neural", "empty-repeat", lambda: _neural().isel(repeat=slice(0, 0)), False),
    ("neural", "a-dataset", lambda: _neural().to_dataset(name="data"), False),
    ("features", "valid", _features, True),
    ("features", "int-values", lambda: _features().astype(int), True),
    ("features", "wrong-dims", lambda: _features().rename(unit="neuroid"), False),
    ("features", "wrong-order", lambda: _features().T, False),
    ("features", "missing-unit-ids", lambda: _features().drop_vars("unit_id"), False),
    ("features", "duplicate-stimulus-ids", lambda: _features().assign_coords(stimulus_id=("stimulus", list("aabcde"))), False),
    ("features", "nan", lambda: _set(_features(), (0, 0), np.nan), False),
    ("features", "inf", lambda: _set(_features(), (0, 0), -np.inf), False),
    ("features", "model-per-unit", lambda: _features().assign_coords(model=("unit", list("abcde"))), False),
    ("features", "layer-not-string", lambda: _features().assign_coords(layer=3), False),
    ("features", "channel-on-stimulus", lambda: _features().assign_coords(channel=("stimulus", np.arange(6))), False),
    ("scores", "valid-neuroid", _scores, True),
    ("scores", "valid-unit", lambda: _scores("unit"), True),
    ("scores", "rep-first", lambda: _scores().transpose("rep", "neuroid"), True),
    ("scores", "missing-ev", lambda: _scores().rename(ev="r"), False),
    ("scores", "missing-target-ids", lambda: _scores().drop_vars("neuroid_id"), False),
    ("scores", "int-target-ids", lambda: _scores().assign_coords(neuroid_id=("neuroid", np.arange(4))), False),
    ("scores", "duplicate-target-ids", lambda: _scores().assign_coords(neuroid_id=("neuroid", list("aabb"))), False),
    ("scores", "missing-rep-dim", lambda: _scores().isel(rep=0, drop=True), False),
    ("scores", "missing-rep-coord", lambda: _scores().drop_vars("rep"), False),
    ("scores", "two-targets", lambda: _scores().assign(u=(("unit",), np.zeros(2))), False),
    ("scores", "no-target", lambda: _scores().rename(neuroid="cell"), False),
    ("scores", "ev-wrong-dims", lambda: _scores().assign(ev=_scores().ev.isel(rep=0)), False),
    ("scores", "ev-strings", lambda: _scores().assign(ev=_scores().ev.astype(str)), False),
    ("scores", "a-dataarray", lambda: _scores().ev, False),
    ("metric", "valid-split", _metric, True),
    ("metric", "valid-scalar", lambda: _metric("crsa", split=False), True),
    ("metric", "valid-dimensionality", lambda: _metric("dimensionality", split=False), True),
    ("metric", "int-score", lambda: _metric("cka", split=False).assign(score=((), 3)), True),
    ("metric", "missing-score", lambda: _metric().rename(score="distance"), False),
    ("metric", "string-score", lambda: _metric(split=False).assign(score=((), "x")), False),
    ("metric", "score-on-rep", lambda: _metric().rename(split="rep"), False),
    ("metric", "missing-split-coord", lambda: _metric().drop_vars("split"), False),
    ("metric", "int-split-coord", lambda: _metric().assign_coords(split=[0, 1]), False),
    ("metric", "duplicate-split", lambda: _metric().assign_coords(split=["test", "test"]), False),
    ("metric", "unknown-metric", lambda: _metric().assign_attrs(metric="rdm"), False),
    ("metric", "missing-metric-attr", lambda: _metric().drop_attrs(), False),
    ("metric", "pairwise-without-target", lambda: _metric("cka", split=False).assign_attrs(target=None), False),
    ("metric", "source-not-string", lambda: _metric().assign_attrs(source=3), False),
    ("metric", "a-dataarray", lambda: _metric().score, False),
]


@pytest.mark.parametrize("kind, builder, valid", [c[:1] + c[2:] for c in CASES], ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_schema_and_validator_agree(kind, builder, valid):
    obj = builder()
    problems = schema_violations(obj, kind) if not isinstance(obj, xr.DataArray) or kind not in ("scores", "metric") else None
    if problems is None:  # a DataArray given as scores: its descriptor has type DataArray
        problems = schema_violations(describe(obj), kind)
    python_error = None
    try:
        VALIDATORS[kind](obj)
    except LayoutError as exc:
        python_error = str(exc)
    if valid:
        assert problems == [], problems
        assert python_error is None, python_error
    else:
        assert problems, f"the {kind} schema accepts an invalid example"
        assert python_error is not None, f"validate_{kind} accepts an invalid example"


def test_violation_messages_say_where_and_what():
    problems = schema_violations(_neural().assign_coords(neuroid_id=("neuroid", list("aabc"))), "neural")
    assert problems == ["coords/neuroid_id/unique: ids must be unique (True was expected; found False)"]
    problems = schema_violations(_features().T, "features")
    assert problems[0].startswith("dims: dims must be exactly (stimulus, unit) in this order")
    assert "found ['unit', 'stimulus']" in problems[0]


# ---------------------------------------------------------------------------- descriptors
def test_describe_dataarray_is_json():
    d = describe(_neural())
    assert json.loads(json.dumps(d)) == d
    assert d["type"] == "DataArray"
    assert d["dims"] == ["stimulus", "neuroid", "repeat"]
    assert d["sizes"] == {"stimulus": 6, "neuroid": 4, "repeat": 3}
    assert d["kind"] == "float" and d["lazy"] is False
    assert d["coords"]["neuroid_id"] == {"dims": ["neuroid"], "dtype": "<U2", "size": 4, "kind": "string", "unique": True}
    assert d["coords"]["animal"]["unique"] is False
    assert d["values"] == {"n_nan": 0, "n_inf": 0}


def test_describe_lazy_computes_values_only_when_asked():
    da = _set(_features(), (0, 0), np.nan).chunk()
    assert "values" not in describe(da)
    assert describe(da)["lazy"] is True
    assert describe(da, values=True)["values"] == {"n_nan": 1, "n_inf": 0}
    assert "values" not in describe(_features(), values=False)


def test_describe_dataset():
    d = describe(_scores())
    assert d["type"] == "Dataset"
    assert d["data_vars"]["ev"]["dims"] == ["neuroid", "rep"]
    assert d["coords"]["fold"]["dims"] == []
    assert d["attrs"] == {"seed": 0}


def test_describe_refuses_other_objects():
    with pytest.raises(LayoutError, match="got ndarray"):
        describe(np.zeros(3))


def test_validate_against_schema():
    d = validate_against_schema(_features(), "features")
    assert d["type"] == "DataArray"
    with pytest.raises(LayoutError, match=r"features schema \(2 violations\)"):
        validate_against_schema(_features().drop_vars(["unit_id", "stimulus_id"]), "features")
    with pytest.raises(ValueError, match="unknown schema"):
        validate_against_schema(_features(), "feature")


# ---------------------------------------------------------------------------- stores
@pytest.fixture
def good_store(tmp_path):
    store = StudyStore(tmp_path / "study.zarr")
    store.write_neural("monkeyA", _neural())
    store.write_features("net", "fc", _features())
    store.write_dataset("scores/forward/net.fc__monkeyA", _scores())  # the 0.1.0 layout: the entry at the pair path
    store.write_dataset("cache/gram/net/fc", xr.Dataset({"K": (("a", "b"), np.eye(6))}))
    return store


def test_store_with_metric_entries(good_store):
    s = good_store
    s.write_dataset("metrics/shape/net.fc__monkeyA", _metric())  # 0.1.0 metric entries at their pair paths
    s.write_dataset("metrics/dimensionality/net.fc", _metric("dimensionality", split=False))
    assert validate_store(s) == []
    d = describe_store(s)
    assert schema_violations(d, "store") == []
    assert d["groups"] == ["cache", "features", "metrics", "neural", "scores"]
    assert d["metrics"]["shape"]["net.fc__monkeyA"]["dataset"]["data_vars"]["score"]["dims"] == ["split"]
    assert d["metrics"]["dimensionality"]["net.fc"]["complete"] is True
    # broken metric entries, written around the engine's checks, are reported by path
    s.write_dataset("metrics/cka/net.fc__monkeyA", _metric("cka", split=False).rename(score="value"))
    s.write_dataset("metrics/cka/lonely", _metric("cka", split=False))
    s.write_dataset("metrics/rdm/net.fc__monkeyA", _metric("cka", split=False))
    s.write_dataset("metrics/ersa/net.fc__monkeyA", _metric("shape"))
    problems = validate_store(s)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert any(p.startswith("metrics/cka/net.fc__monkeyA: missing variable 'score'") for p in problems)
    assert any(p.startswith("metrics/cka/lonely: pairwise metric entries are named <source>__<target>") for p in problems)
    assert any(p.startswith("(store): metrics/rdm: metric groups are crsa, ersa") for p in problems), text
    assert any(p.startswith("metrics/rdm/net.fc__monkeyA: attr 'metric' is 'cka'") for p in problems), text
    assert any(p.startswith("metrics/ersa/net.fc__monkeyA: attr 'metric' is 'shape'") for p in problems)


def test_valid_store(good_store):
    assert validate_store(good_store) == []
    assert validate_store(good_store.url) == []  # by URL, opened read-only
    d = describe_store(good_store)
    assert json.loads(json.dumps(d)) == d
    assert schema_violations(d, "store") == []
    assert d["neural"]["monkeyA"]["array"]["sizes"] == {"stimulus": 6, "neuroid": 4, "repeat": 3}
    assert d["features"]["net"]["fc"]["complete"] is True
    assert d["scores"]["forward"]["net.fc__monkeyA"]["dataset"]["data_vars"]["ev"]["dims"] == ["neuroid", "rep"]
    assert set(d["cache"]) == {"gram/net/fc"}
    assert d["groups"] == ["cache", "features", "neural", "scores"]


def test_store_violations_name_each_entry(good_store, monkeypatch):
    s = good_store
    # an entry that breaks its layout (written around the checks of write_neural)
    s.write_dataset("neural/broken", _neural().drop_vars("neuroid_id").rename(None).to_dataset(name="data"))
    # a badly named set, a badly named score entry, an unknown top-level group
    s.write_dataset("neural/bad name", _neural().rename(None).to_dataset(name="data"))
    s.write_dataset("scores/forward/lonely", _scores())
    s.write_dataset("extras/thing", xr.Dataset({"x": ("a", np.zeros(2))}))
    # a score entry whose write never finished
    monkeypatch.setattr(StudyStore, "mark_complete", lambda self, path: None)
    s.write_dataset("scores/reverse/monkeyA__net.fc", _scores("unit"))
    monkeypatch.undo()

    problems = validate_store(s)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert any(p.startswith("neural/broken: missing coord 'neuroid_id'") for p in problems)
    assert any(p.startswith("neural/bad name: names use letters") for p in problems)
    assert any(p.startswith("scores/forward/lonely: score entries are named <source>__<target>") for p in problems)
    assert any(p.startswith("(store): groups") and "'extras' is not one of" in p for p in problems)
    assert any(p.startswith("scores/reverse/monkeyA__net.fc: complete: the entry's write did not finish") for p in problems)


def test_store_value_check(good_store):
    bad = _features()
    bad[0, 0] = np.nan
    good_store.write_dataset("features/net/nan", bad.rename(None).to_dataset(name="data"))
    assert validate_store(good_store) == []  # values are only read when asked
    problems = validate_store(good_store, values=True)
    assert problems == ["features/net/nan: values/n_nan: features must be finite: drop or impute units with NaN (0 was expected; found 1)"]


def test_store_version_is_checked(good_store):
    zarr.open_group(good_store._zstore, mode="a").attrs["neuroxr_store_version"] = 2
    problems = validate_store(good_store)
    assert problems == ["(store): attrs/neuroxr_store_version: this neuroxr reads and checks store version 1 only; a store "
                        "of another version was written by another release: check it with that release (a newer version: "
                        "upgrade neuroxr) (1 was expected; found 2)"]


def test_unreadable_entry_is_reported(good_store):
    good_store.write_dataset("neural/novar", xr.Dataset({"x": ("a", np.zeros(2))}))
    problems = validate_store(good_store)
    assert len(problems) == 1
    assert problems[0].startswith("neural/novar: entry 'neural/novar' has no variable 'data'")
    assert describe_store(good_store)["neural"]["novar"]["error"].startswith("StoreError")


# ---------------------------------------------------------------------------- entries keyed by provenance
def _engine_store(tmp_path):
    import neuroxr as nx

    rng = np.random.default_rng(3)
    stim = [f"s{i:02d}" for i in range(24)]
    st = StudyStore(tmp_path / "keyed.zarr")
    st.write_neural("mA", neural(rng.normal(size=(24, 4, 3)), stim, region=["IT", "IT", "V4", "V4"]))
    st.write_features("net", "fc", features(rng.normal(size=(24, 6)), stim))
    nx.score(st, "forward", "net.fc", "mA.IT", reps=2)
    nx.score(st, "forward", "net.fc", "mA.IT", reps=3)
    nx.score(st, "cka", "net.fc", "mA")
    nx.score(st, "dimensionality", "mA")
    return st


def test_keyed_and_legacy_entries_validate(tmp_path):
    st = _engine_store(tmp_path)
    st.write_dataset("scores/forward/net.fc__mA", _scores())  # a 0.1.0 entry at the pair path
    assert validate_store(st) == []
    d = describe_store(st)
    keys = d["scores"]["forward"]["net.fc__mA.IT"]
    assert len(keys) == 2 and all(len(k) == 16 for k in keys)
    entry = next(iter(keys.values()))
    assert entry["complete"] and entry["dataset"]["attrs"]["neuroxr_provenance"]["params"]["reps"] in (2, 3)
    assert d["scores"]["forward"]["net.fc__mA"]["complete"]  # legacy: the entry itself
    assert list(d["metrics"]["dimensionality"]["mA"]) and list(d["cache"])[0].startswith("gram/net/fc/")


def test_damaged_keyed_entry_is_named(tmp_path):
    import neuroxr as nx

    st = _engine_store(tmp_path)
    path = nx.lookup(st, "cka", "net.fc", "mA")
    del st._root[path].attrs["neuroxr_complete"]
    problems = validate_store(st)
    assert problems and all(p.startswith(path) for p in problems), problems
    g = st._root[nx.lookup(st, "forward", "net.fc", "mA.IT", params={"reps": 2})]
    g.attrs["provenance_key"] = "not-a-key"
    problems = validate_store(st)
    assert any("provenance_key" in p and "scores/forward/net.fc__mA.IT/" in p for p in problems), problems


# ---------------------------------------------------------------------------- cost of a check
def _norm(d):
    """A descriptor as JSON, the order of a Dataset's dims and of its mappings aside (the order in which
    Zarr lists a group's arrays is not fixed)."""
    d = dict(d)
    if d.get("type") == "Dataset":
        d["dims"] = sorted(d["dims"])
    return json.dumps(d, sort_keys=True)


def test_validate_store_opens_each_entry_once_and_reads_no_data(tmp_path, monkeypatch):
    from neuroxr.schemas import _entry_object, _store_entries

    st = _engine_store(tmp_path)
    st.write_dataset("scores/forward/net.fc__mA", _scores())  # a 0.1.0 entry too
    complete = [(k, p) for k, p, c in _store_entries(st) if c]
    assert {k for k, _ in complete} == {"neural", "features", "scores", "metrics", "cache"}
    d = describe_store(st)
    for kind, path in complete:  # the descriptor is describe() of the entry as read_dataset reads it
        entry = d[kind]
        for part in ["/".join(path.split("/")[1:])] if kind == "cache" else path.split("/")[1:]:
            entry = entry[part]
        ref = describe(_entry_object(st, kind, path), values=False if kind in ("neural", "features") else None)
        assert _norm(entry.get("array", entry.get("dataset"))) == _norm(ref), path

    # one open per complete entry (shared by the descriptor and the package validators), and no guarded
    # reading of data that a layout check never reads
    opened = []
    real = StudyStore._opened
    monkeypatch.setattr(StudyStore, "_opened", lambda self, found: opened.append(found.path) or real(self, found))
    monkeypatch.setattr(StudyStore, "read_dataset", lambda self, path: pytest.fail("read_dataset called"))
    assert validate_store(st) == []
    assert sorted(opened) == sorted(p for _, p in complete)


def test_damage_scan_reads_the_documents_in_one_batch(good_store, monkeypatch):
    import zarr.core.sync

    from neuroxr.store import integrity

    for i in range(12):  # many documents: one request each would cost a round trip each
        good_store.write_dataset(f"scores/forward/net.fc__m{i}", _scores())
    n_docs = sum(k.endswith("zarr.json") for k in integrity.list_keys(good_store._zstore))
    assert n_docs > 12 * 4
    calls = []
    real = zarr.core.sync.sync
    monkeypatch.setattr(zarr.core.sync, "sync", lambda *a, **k: calls.append(1) or real(*a, **k))
    docs: dict = {}
    assert integrity.scan(good_store._zstore, docs=docs) == []
    assert len(calls) <= 3, len(calls)  # one listing and one batch of document reads
    assert len(docs) == n_docs and docs["scores/forward/net.fc__m3"]["attributes"]["neuroxr_complete"] is True


def test_validate_store_opens_entries_concurrently(tmp_path, monkeypatch):
    import threading
    import time

    st = _engine_store(tmp_path)
    threads, real = set(), StudyStore._opened

    def opened(self, found):  # each open waits on the store (latency), not on the others
        threads.add(threading.get_ident())
        time.sleep(0.05)
        return real(self, found)

    monkeypatch.setattr(StudyStore, "_opened", opened)
    assert validate_store(st) == []
    assert len(threads) > 1


def _identity_store(tmp_path, damage=None):
    """Model ``m``: layers ``a`` and ``c`` record one extraction, ``b`` another network's (its model
    digest differs); ``damage`` is done to ``b``."""
    import os
    import shutil

    st = StudyStore(tmp_path / "s.zarr")
    for layer, net in (("a", "x"), ("b", "y"), ("c", "x")):
        identity = {"version": 5, "hash": "sha256", "model": net, "preprocessing": "p", "stimuli": "s", "inputs": "i",
                    "stimuli_given": "array"}
        st.write_features("m", layer, _features().assign_attrs(extraction_identity=identity))
    folder = os.path.join(st.url, "features", "m", "b")
    if damage == "unfinished":
        group = zarr.open_group(folder, mode="r+")
        group.attrs.put({**group.attrs, "neuroxr_complete": False})
    elif damage == "lost_chunks":
        shutil.rmtree(os.path.join(folder, "data", "c"))
    elif damage == "identity_edited":
        group = zarr.open_group(folder, mode="r+")
        group.attrs.put({**group.attrs, "extraction_identity": {**group.attrs["extraction_identity"], "stimuli": "t"}})
    return st


@pytest.mark.parametrize("damage", ["unfinished", "lost_chunks", "identity_edited"])
def test_validate_store_compares_the_identities_of_complete_intact_layers_only(tmp_path, damage):
    """An unfinished or damaged layer is not one a sweep reads, and its identity cannot be trusted: it
    draws its own violation, never a note that the model's layers record different extractions (as
    neuroxr info and an extraction's overwrite say, neuroxr.extract.identity.layer_identities)."""
    import warnings

    from neuroxr.errors import NeuroxrWarning

    with pytest.warns(NeuroxrWarning, match=r"features/m: its layers record different extractions: the model differs"):
        assert validate_store(_identity_store(tmp_path / "intact")) == []
    st = _identity_store(tmp_path, damage)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        problems = validate_store(st)
    assert [p for p in problems if p.startswith("features/m/b")], problems
    assert not [w for w in got if "record different extractions" in str(w.message)]
