"""The entry engine (neuroxr.entries): provenance keys, never the old numbers, every stale case of
issue 14, legacy entries, region subsets everywhere, one engine for every kind."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import latent_sets

import neuroxr as nx
from neuroxr import geometry as geo
from neuroxr import predictivity as d
from neuroxr.attrs import decoded
from neuroxr.entries import compute, layout, list_entries, lookup
from neuroxr.errors import LayoutError, ParameterError, StoreError
from neuroxr.sets import feature_ref, neural_ref
from neuroxr.store import StudyStore
from neuroxr.store._zarr import list_keys
from neuroxr.store.batch import delete_keys

N = 36
STIM = [f"s{i:02d}" for i in range(N)]


def _sets(seed=0):
    return latent_sets(seed, N, 8, regions=["IT"] * 5 + ["V4"] * 3)


@pytest.fixture
def study(tmp_path):
    f1, f2, neu = _sets()
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    st.write_neural("mB", _sets(1)[2])
    st.write_features("net", "l1", f1, unit_chunk=5)
    st.write_features("net", "l2", f2)
    return st, f1, f2, neu


def _region(neu, region):
    return neu.isel(neuroid=np.flatnonzero(neu["region"].values == region))


def _avg(neu):
    m = neu.mean("repeat").transpose("stimulus", "neuroid")
    return nx.features(m.values, m["stimulus_id"].values)


# ---------------------------------------------------------------- provenance
def test_other_parameters_compute_a_new_entry_beside_the_old(study):
    st, f1, _, neu = study
    a = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert a.computed and a.path.startswith("scores/forward/net.l1__mA/")
    np.testing.assert_allclose(a.dataset.ev.values, d.forward(f1, neu, reps=2).ev.values, rtol=1e-9)
    again = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert not again.computed and again.path == a.path
    np.testing.assert_allclose(again.dataset.ev.values, a.dataset.ev.values)
    # reps=7 with the linear regressor: new numbers, a new entry beside the old one
    b = nx.score(st, "forward", "net.l1", "mA", reps=7, regressor="linear")
    np.testing.assert_allclose(b.ev.values, d.forward(f1, neu, reps=7, regressor="linear").ev.values, rtol=1e-9)
    assert b.sizes["rep"] == 7 and lookup(st, "forward", "net.l1", "mA", params={"reps": 2}) == a.path
    table = list_entries(st)
    rows = table[table.kind == "forward"]
    assert sorted(rows.reps) == [2, 7] and set(rows.regressor) == {"ridge", "linear"} and rows.current.all()
    # the seed too
    c = nx.score(st, "forward", "net.l1", "mA", reps=2, seed=3)
    np.testing.assert_allclose(c.ev.values, d.forward(f1, neu, reps=2, seed=3).ev.values, rtol=1e-9)
    assert not np.allclose(c.ev.values, a.dataset.ev.values)


def test_defaults_given_equal_defaults_omitted(study):
    st, *_ = study
    a = compute(st, "model_to_model", "net.l1", "net.l2")
    b = compute(st, "model_to_model", "net.l1", "net.l2", params={"reps": 1, "alpha": 0.1, "regressor": "ridge"}, dtype="float64")
    assert a.path == b.path and not b.computed
    c = compute(st, "crsa", "net.l1", "mA", params={"noise_ceiling": True})  # None means True for a neural target with repeats
    assert compute(st, "crsa", "net.l1", "mA").path == c.path


def test_require_existing_names_each_differing_parameter(study):
    st, *_ = study
    compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    with pytest.raises(StoreError, match=r"differs in regressor: 'ridge' \(existing\) != 'linear' \(asked\); reps: 2 \(existing\) != 7 \(asked\)"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 7, "regressor": "linear"}, require_existing=True)
    with pytest.raises(StoreError, match=r"\(asked\)\. Ask with the existing parameters, or compute a new entry"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 7}, require_existing=True)
    with pytest.raises(StoreError, match="holds no entry cka net.l1 -> mA"):
        nx.score(st, "cka", "net.l1", "mA", require_existing=True)
    assert len(list_entries(st).query("kind == 'forward'")) == 1


@pytest.mark.parametrize("kind, first, second, reference", [
    ("cka", {"debiased": False}, {"debiased": True},
     lambda f1, neu, p: float(geo.cka(f1, _avg(neu), **p))),
    ("crsa", {"compare_method": "spearman"}, {"compare_method": "pearson"},
     lambda f1, neu, p: float(geo.crsa(f1, neu, **p)["score"])),
    ("shape", {"alpha": 1.0}, {"alpha": 0.3}, None),
])
def test_metric_parameter_changes_never_return_the_old_value(study, kind, first, second, reference):
    st, f1, _, neu = study
    v1 = nx.metric_value(nx.score(st, kind, "net.l1", "mA", **first))
    ds = nx.score(st, kind, "net.l1", "mA", **second)
    v2 = nx.metric_value(ds)
    assert v1 != pytest.approx(v2)
    for k, v in second.items():
        assert ds.pipe(decoded).attrs["parameters"][k] == v
    if reference is not None:
        assert v2 == pytest.approx(reference(f1, neu, second), rel=1e-9)
        assert v1 == pytest.approx(reference(f1, neu, first), rel=1e-9)
    assert len(list_entries(st).query(f"kind == '{kind}'")) == 2


def test_rewritten_feature_layer_changes_the_scores_and_the_gram(study):
    st, f1, f2, neu = study
    before = nx.score(st, "forward", "net.l1", "mA", reps=2)
    assert before.attrs["streamed"]  # through the Gram entry
    gram_before = list_entries(st).query("kind == 'gram' and source == 'net.l1'").path.tolist()
    noise = nx.features(np.random.default_rng(9).normal(size=(N, 14)), STIM)
    st.write_features("net", "l1", noise)
    after = nx.score(st, "forward", "net.l1", "mA", reps=2)
    np.testing.assert_allclose(after.ev.values, d.forward(noise, neu, reps=2).ev.values, rtol=1e-9)
    assert not np.allclose(after.ev.values, before.ev.values)
    gram_after = list_entries(st).query("kind == 'gram' and source == 'net.l1'").path.tolist()
    assert gram_after and set(gram_after).isdisjoint(gram_before)
    assert nx.metric_value(nx.score(st, "cka", "net.l1", "mA")) == pytest.approx(float(geo.cka(noise, _avg(neu))), rel=1e-9)
    old = list_entries(st).query("kind == 'forward' and not current")
    assert len(old) == 1  # the entry of the old layer is listed as not current


def test_rewritten_neural_set_is_recomputed(study):
    st, f1, _, neu = study
    a = compute(st, "reverse", "mA", "net.l1", params={"reps": 2})
    new = _sets(5)[2]
    st.write_neural("mA", new)
    b = compute(st, "reverse", "mA", "net.l1", params={"reps": 2})
    assert b.computed and b.path != a.path
    np.testing.assert_allclose(b.dataset.ev.values, d.reverse(new, f1, reps=2).ev.values, rtol=1e-9)


def test_sets_without_a_token_never_match(study):
    st, *_ = study
    del st._root["neural/mA"].attrs["neuroxr_token"]  # as written by 0.1.0
    assert st.token("neural/mA") is None
    a = compute(st, "inter_animal", "mB", "mA", params={"reps": 2})
    b = compute(st, "inter_animal", "mB", "mA", params={"reps": 2})
    assert a.computed and b.computed and lookup(st, "inter_animal", "mB", "mA", params={"reps": 2}) is None


def test_legacy_entries_are_listed_and_never_a_match(study):
    st, f1, _, neu = study
    old = d.forward(f1, neu, reps=2).drop_vars("stimulus_id", errors="ignore")
    old["ev"] = old["ev"] * 0 + 123.0  # numbers a match would wrongly return
    st.write_dataset("scores/forward/net.l1__mA", old)  # the 0.1.0 layout: the entry at the pair path
    table = list_entries(st)
    assert table.query("kind == 'forward'").legacy.tolist() == [True]
    assert lookup(st, "forward", "net.l1", "mA", params={"reps": 2}) is None
    with pytest.raises(StoreError, match="written by neuroxr 0.1.0"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 2}, require_existing=True)
    # a keyed entry computed now lands inside the legacy group, and both are listed
    new = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert new.computed and new.path.startswith("scores/forward/net.l1__mA/")
    rows = list_entries(st).query("kind == 'forward'")
    assert sorted(rows.legacy.tolist()) == [False, True] and new.path in set(rows.path)
    assert lookup(st, "forward", "net.l1", "mA", params={"reps": 2}) == new.path


# ---------------------------------------------------------------- one engine, every kind, region subsets
def test_region_subsets_everywhere(study):
    st, f1, f2, neu = study
    ds = nx.score(st, "forward", "net.l1", "mA.IT", reps=2)
    np.testing.assert_allclose(ds.ev.values, d.forward(f1, _region(neu, "IT"), reps=2).ev.values, rtol=1e-9)
    assert ds.attrs["target_region"] == "IT"
    ds = nx.score(st, "reverse", "mA.V4", "net.l2", reps=2)
    np.testing.assert_allclose(ds.ev.values, d.reverse(_region(neu, "V4"), f2, reps=2).ev.values, rtol=1e-9)
    b = st.read_neural("mB").load()
    ds = nx.score(st, "inter_animal", "mA.IT", "mB", reps=2)
    np.testing.assert_allclose(ds.ev.values, d.inter_animal(_region(neu, "IT"), b, reps=2).ev.values, rtol=1e-9)
    ds = nx.score(st, "ereg", "net.l1", "mA.V4", n_components=6)
    assert float(ds.score) == pytest.approx(float(geo.ereg(f1, _region(neu, "V4"), n_components=6)["score"]), rel=1e-9)


def test_a_region_that_cannot_name_an_entry_is_refused(study, monkeypatch):
    st, _, _, neu = study
    import neuroxr.store.set_writers as _writers

    monkeypatch.setattr(_writers, "_check_region", lambda value, neural: value)  # written before the check
    st.write_neural("mC", neu.assign_coords(region=("neuroid", ["V1/V2"] * 5 + ["V4"] * 3)))
    with pytest.raises(StoreError, match="invalid region 'V1/V2' of neural set 'mC'.*write the set again"):
        compute(st, "cka", "net.l1", "mC.V1/V2")
    for call in (lambda: lookup(st, "forward", "net.l1", "mC.V1/V2"), lambda: nx.score(st, "reverse", "mC.V1/V2", "net.l1"),
                 lambda: layout.pair_path("scores", "forward", feature_ref("net", "l1"), neural_ref("mC", "V1/V2"))):
        with pytest.raises(StoreError, match="invalid region 'V1/V2' of neural set 'mC'") as info:
            call()  # wherever the region would become part of an entry path
        assert "\n" not in str(info.value)
    assert not any("V1" in p for p in list_entries(st).path)


# ---------------------------------------------------------------- damaged entries and sets
def _lose_a_chunk(st, path, var):
    import glob
    import os

    chunk = sorted(c for c in glob.glob(os.path.join(st.url, *path.split("/"), var, "c", "**"), recursive=True)
                   if os.path.isfile(c))[0]
    os.remove(chunk)


def test_a_damaged_entry_is_computed_again_never_handed_back(study):
    st, *_ = study
    first = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    _lose_a_chunk(st, first.path, "ev")
    assert lookup(st, "forward", "net.l1", "mA", params={"reps": 2}) is None  # a sweep computes it again
    with pytest.raises(StoreError, match="matches the request but is damaged .*'ev'.*require_existing=False"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 2}, require_existing=True)
    with pytest.warns(nx.NeuroxrWarning, match="is damaged .*computing it again"):
        again = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert again.computed and again.path == first.path and not np.isnan(again.dataset.ev.values).any()
    np.testing.assert_allclose(again.dataset.ev.values, first.dataset.ev.values)
    assert st.damaged() == [] and lookup(st, "forward", "net.l1", "mA", params={"reps": 2}) == first.path


def _garble_a_chunk(st, path, var):
    """Truncate a chunk file of ``var``: bytes changed since the write (bit rot, a partial copy), which no
    metadata shows; the chunk no longer decodes."""
    import glob
    import os

    chunk = sorted(c for c in glob.glob(os.path.join(st.url, *path.split("/"), var, "c", "**"), recursive=True)
                   if os.path.isfile(c))[0]
    with open(chunk, "rb") as f:
        data = f.read()
    with open(chunk, "wb") as f:
        f.write(data[: len(data) // 2])


def test_an_entry_whose_chunk_no_longer_decodes_is_computed_again(study):
    """It was handed to every caller as the match (its metadata intact) and every read failed; compute
    raised instead of replacing it, and a sweep counted it as done, then failed on every re-run."""
    from neuroxr.sweep import sweep

    st, *_ = study
    first = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    _garble_a_chunk(st, first.path, "ev")
    with pytest.raises(StoreError, match=r"matches the request but is damaged \(a chunk of it cannot be decoded .*"
                                         r"require_existing=False"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 2}, require_existing=True)
    with pytest.warns(nx.NeuroxrWarning, match=r"is damaged \(a chunk of it cannot be decoded .*computing it again"):
        again = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert again.computed and again.path == first.path
    np.testing.assert_allclose(again.dataset.ev.values, first.dataset.ev.values)
    kw = dict(client="serial", directions=["forward"], models=["net"], layers=["l1"], neural=["mA"], reps=2, progress=False)
    run = sweep(st.url, **kw)
    assert run.skipped == [e.key for e in run.entries] and run.failed == {}
    _garble_a_chunk(st, first.path, "ev")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        rerun = sweep(st.url, **kw)  # the damaged entry computed again, not counted as done
    assert len(rerun.computed) == 1 and rerun.failed == {}
    np.testing.assert_allclose(rerun.dataset.ev.values, run.dataset.ev.values)
    assert sweep(st.url, **kw).computed == []


def test_a_damaged_gram_is_computed_again(study):
    st, *_ = study
    cka = compute(st, "cka", "net.l1", "mA")
    gram = list_entries(st).query("kind == 'gram'").path.tolist()
    _lose_a_chunk(st, gram[0], "K")
    with pytest.warns(nx.NeuroxrWarning, match="cache/gram/net/l1/.* is damaged"):
        again = compute(st, "cka", "net.l1", "mA", overwrite=True)
    assert float(again.dataset.score) == pytest.approx(float(cka.dataset.score), rel=1e-12)
    assert st.damaged() == [] and list_entries(st).query("kind == 'gram'").path.tolist() == gram
    dim = compute(st, "dimensionality", "net.l1")
    assert np.isfinite(float(dim.dataset.score))


def _count_requests(st, path):
    """Count the reads of the group document of ``path`` and the listings below it (wraps the
    store's Zarr store)."""
    import collections

    z, counts = st._zstore, collections.Counter()
    get, list_prefix = z.get, z.list_prefix

    async def counted_get(key, *args, **kwargs):
        counts["doc"] += key == f"{path}/zarr.json"
        return await get(key, *args, **kwargs)

    def counted_list(prefix):
        counts["list"] += prefix.startswith(path)
        return list_prefix(prefix)

    z.get, z.list_prefix = counted_get, counted_list
    return counts


@pytest.mark.parametrize("where", ["local", "memory"])
def test_a_hit_reads_the_entry_document_once(tmp_path, where):
    import uuid

    f1, _, neu = _sets()
    url = str(tmp_path / "s.zarr") if where == "local" else f"memory://neuroxr-hit-{uuid.uuid4().hex}/s.zarr"
    st = nx.open_store(url)
    st.write_neural("mA", neu)
    st.write_features("net", "l1", f1)
    with pytest.warns(nx.NeuroxrWarning):  # the small test set's ceiling
        first = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    fresh = StudyStore(url, create=False)  # uncached, as `neuroxr score` opens it
    counts = _count_requests(fresh, first.path)
    hit = compute(fresh, "forward", "net.l1", "mA", params={"reps": 2})
    assert not hit.computed and hit.path == first.path
    xr.testing.assert_identical(hit.dataset, first.dataset.drop_vars(["prediction", "stimulus_id"], errors="ignore"))
    # one read of its document; one listing of its keys on a local store (none on an object store: the
    # batch that reads it tells which keys are stored, and its document is read once more after the chunks,
    # to confirm their version: a rewrite keeps the keys)
    assert counts == {"doc": 1 + int(where == "memory"), "list": int(where == "local")}
    counts.clear()
    assert lookup(fresh, "forward", "net.l1", "mA", params={"reps": 2}) == first.path
    assert counts == {"doc": 1, "list": 1}
    # the same reading still never hands back a damaged entry
    if where == "local":
        _lose_a_chunk(st, first.path, "ev")
    else:
        delete_keys(st._zstore, [k for k in list_keys(st._zstore, first.path + "/ev/") if "/c" in k][:1])
    assert lookup(fresh, "forward", "net.l1", "mA", params={"reps": 2}) is None
    with pytest.raises(StoreError, match="matches the request but is damaged .*'ev'"):
        compute(fresh, "forward", "net.l1", "mA", params={"reps": 2}, require_existing=True)
    with pytest.warns(nx.NeuroxrWarning, match="is damaged .*computing it again"):
        again = compute(fresh, "forward", "net.l1", "mA", params={"reps": 2})
    assert again.computed and not np.isnan(again.dataset.ev.values).any()


@pytest.mark.parametrize("kind, source, target, where", [
    ("cka", "net.l1", "mA", "the feature set 'net.l1' \\(features/net/l1\\) is damaged.*re-extract the layer"),
    ("forward", "net.l2", "mA", "entry 'neural/mA' variable 'data' cannot be read: its chunk .* is missing.*rewrite the set"),
])
def test_a_damaged_input_set_is_refused(study, kind, source, target, where):
    st, *_ = study
    _lose_a_chunk(st, "features/net/l1" if source == "net.l1" else "neural/mA", "data")
    with pytest.raises(StoreError, match=where) as info:
        compute(st, kind, source, target, params={"reps": 2} if kind == "forward" else None)
    assert "\n" not in str(info.value)
    assert list_entries(st).query(f"kind == '{kind}'").empty  # nothing computed from NaN was stored


def test_streaming_rule_and_options(study):
    st, f1, _, neu = study
    ds = nx.score(st, "forward", "net.l1", "mA", reps=2, max_n=5)  # unit subsets: no Gram
    assert not ds.attrs["streamed"]
    np.testing.assert_allclose(ds.ev.values, d.forward(f1, neu, reps=2, max_n=5).ev.values, rtol=1e-9)
    assert nx.entries.streams("forward", {"regressor": "linear", "max_n": None})
    assert not nx.entries.streams("forward", {"regressor": "pls", "max_n": None})
    p = nx.score(st, "forward", "net.l1", "mA", reps=2, keep_predictions=True)
    assert "prediction" in p
    back = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert not back.computed and "prediction" not in back.dataset
    f32 = compute(st, "model_to_model", "net.l1", "net.l2", dtype="float32")
    assert f32.provenance["params"]["dtype"] == "float32"
    assert f32.path != compute(st, "model_to_model", "net.l1", "net.l2").path
    # float32 past the Gram's rank bound (a stored layer streams its Gram): the operator is built in
    # float64 (no warning), so the float32 entry equals the float64 one up to float32's rounding
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r32 = compute(st, "forward", "net.l1", "mA", params={"alpha": 1e-12, "reps": 2}, dtype="float32")
    assert not [w for w in caught if "may not resolve" in str(w.message)]
    r64 = compute(st, "forward", "net.l1", "mA", params={"alpha": 1e-12, "reps": 2})
    assert r64.computed
    np.testing.assert_allclose(r32.dataset.r.values, r64.dataset.r.values, rtol=0, atol=1e-6)
    # its revision: three above the float64 entry's (the operator from a Gram was built in float32;
    # float32 correlations' denominators underflowed for tiny values; columns were cast before centring)
    assert r32.provenance["revision"] == r64.provenance["revision"] + 3
    assert f32.provenance["revision"] == compute(st, "model_to_model", "net.l1", "net.l2").provenance["revision"] + 2


def test_a_dtype_is_refused_by_lookup_and_compute_as_the_function_refuses_it(study):
    """The store took any NumPy dtype into the key: lookup answered "no entry" for dtype='int32'
    or for float32 with PLS (which compute refused), and compute took '' / 0 / False for float64.
    Each is now the function's own one-line refusal, whether the entry is looked up or computed."""
    from neuroxr.errors import BackendError, ParameterError

    st, *_ = study
    compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    for dtype, err, match in (("int32", BackendError, r"^forward: dtype='int32' is not supported"),
                              ("float16", BackendError, r"^forward: dtype='float16' is not supported"),
                              ("", BackendError, r"^forward: dtype='' is not a dtype"),
                              (0, BackendError, r"^forward: dtype=0 is not a dtype"),
                              (False, BackendError, r"^forward: dtype=False is not a dtype")):
        for call in (nx.lookup, compute):
            with pytest.raises(err, match=match):
                call(st, "forward", "net.l1", "mA", params={"reps": 2}, dtype=dtype)
        with pytest.raises(err, match=match):  # the function called directly: the same refusal
            nx.forward(nx.read_set(st, nx.resolve(st, "net.l1")), nx.read_set(st, nx.resolve(st, "mA")), reps=2, dtype=dtype)
    for call in (nx.lookup, compute):
        with pytest.raises(ParameterError, match=r"^forward: dtype='float32' has no effect with regressor='pls'"):
            call(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": "pls"}, dtype="float32")
        with pytest.raises(ParameterError, match=r"^bootstrap: dtype='float32' has no effect with regressor='lasso'"):
            call(st, "forward_bootstrap", "net.l1", "mA", params={"reps": 2, "regressor": "lasso"}, dtype="float32")
    assert nx.lookup(st, "forward", "net.l1", "mA", params={"reps": 2}, dtype=np.float64) is not None


def test_errors_are_one_line_and_name_the_fix(study, tmp_path):
    st, *_ = study
    with pytest.raises(ParameterError, match=r"kind 'forward' takes no options \['rep'\]; it accepts"):
        nx.score(st, "forward", "net.l1", "mA", rep=2)
    with pytest.raises(LayoutError, match="'cka' computes in float64 only"):
        nx.score(st, "cka", "net.l1", "mA", dtype="float32")
    with pytest.raises(ParameterError, match="unknown entry kind 'backward'"):
        nx.score(st, "backward", "net.l1", "mA")
    with pytest.raises(LayoutError, match=r"holds no feature set .* named 'mA' \(the source\)"):
        nx.score(st, "forward", "mA", "net.l1")
    with pytest.raises(StoreError, match="no study store at .*does not exist"):
        nx.score(str(tmp_path / "typo.zarr"), "forward", "net.l1", "mA")
    assert not (tmp_path / "typo.zarr").exists()
    assert list_entries(st).empty


def test_store_tables_from_entries(study):
    st, f1, f2, _ = study
    C = nx.entries.store_cka(st)
    assert C["cka"].sel(network="net/l1", network_="net/l2") == pytest.approx(float(geo.cka(f1, f2)), rel=1e-9)
    assert C["cka"].sel(network="net/l2", network_="net/l1") == C["cka"].sel(network="net/l1", network_="net/l2")
    D = nx.entries.store_dimensionality(st)
    np.testing.assert_allclose(D["effective_dimensionality"].values,
                               [geo.effective_dimensionality(f1), geo.effective_dimensionality(f2)], rtol=1e-9)
    assert D["n_units"].values.tolist() == [14, 9]
    assert set(list_entries(st).kind) == {"cka", "dimensionality", "gram"}


# ---------------------------------------------------------------- stored order, revisions
_ORDER_KINDS = [("shape", {}), ("crsa", {}), ("ersa", {}), ("ereg", {"n_components": 4}), ("cka", {}),
                ("brainscore", {"n_components": 3, "n_splits": 3}),
                ("crsa_bootstrap", {"n_boot": 8}), ("crsa_permutation", {"n_perm": 8}),
                ("ersa_bootstrap", {"n_boot": 8}), ("ersa_permutation", {"n_perm": 8}),
                ("cka_bootstrap", {"n_boot": 8}), ("cka_permutation", {"n_perm": 8}),
                ("shape_bootstrap", {"n_boot": 4}), ("shape_permutation", {"n_perm": 4})]


@pytest.mark.parametrize("kind, params", _ORDER_KINDS, ids=[k for k, _ in _ORDER_KINDS])
def test_metric_entries_ignore_the_stored_stimulus_order(tmp_path, kind, params):
    """Sets stored with their stimuli permuted (and differently from each other) give every metric
    entry the numbers of the sets stored in sorted order (the shape split and the Mantel test once
    depended on it)."""
    f1, _, neu = _sets()
    rng = np.random.default_rng(4)
    values = []
    for name, (pf, pn) in {"sorted": (np.arange(N), np.arange(N)),
                           "permuted": (rng.permutation(N), rng.permutation(N))}.items():
        st = nx.open_store(tmp_path / f"{name}.zarr")
        st.write_features("net", "l1", f1.isel(stimulus=pf))
        st.write_neural("mA", neu.isel(stimulus=pn))
        ds = nx.score(st, kind, "net.l1", "mA", **params)
        values.append({v: np.asarray(ds[v].values, dtype=float) for v in ds.data_vars if ds[v].dtype.kind == "f"
                       and "stimulus" not in ds[v].dims})
    assert values[0].keys() == values[1].keys() and values[0]
    for v in values[0]:
        np.testing.assert_allclose(values[1][v], values[0][v], rtol=1e-9, atol=1e-12, err_msg=v)


def test_shape_entry_is_split_distance(tmp_path):
    f1, _, neu = _sets()
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_features("net", "l1", f1)
    st.write_neural("mA", neu.isel(stimulus=np.random.default_rng(2).permutation(N)))
    ds = nx.score(st, "shape", "net.l1", "mA", alpha=0.5, seed=3)
    ref = geo.split_distance(f1, _avg(neu), alpha=0.5, seed=3)
    np.testing.assert_allclose(ds["score"].values, ref["distance"].values, rtol=1e-10)
    assert ds["stimulus_split"].values.tolist() == ref["stimulus_split"].values.tolist()


def test_a_revision_difference_says_which_release_computed_the_entry():
    """One wording of a revision difference, whichever side is older: an entry of an earlier release
    was computed before the fix, one of a later release after it; the same parameters differ alike."""
    from neuroxr.entries.provenance import differences

    fix = "a fix that changed this kind's numbers, so it must be recomputed"
    assert differences({"revision": 1}, {}) == [f"revision: 0 (existing) != 1 (asked): computed by an earlier release of "
                                                f"neuroxr, before {fix}"]
    assert differences({"revision": 1}, {"revision": 2}) == [f"revision: 2 (existing) != 1 (asked): computed by a later "
                                                             f"release of neuroxr, after {fix}"]
    assert differences({"revision": 1, "params": {"reps": 7}}, {"revision": 1, "params": {"reps": 5}}) == [
        "reps: 5 (existing) != 7 (asked)"]



def test_a_revision_that_follows_from_other_parameters_is_no_other_release(study):
    """An entry of this release whose parameters carry another revision (a PLS fit's) differs from
    a ridge request in its parameters only: the refusal names them, never "another release", and
    says that asking with them reaches it."""
    from neuroxr.entries.kinds import entry_revision
    from neuroxr.errors import StoreError

    st, *_ = study
    params = {"regressor": "pls", "n_components": 2, "reps": 1}
    pls = compute(st, "forward", "net.l1", "mA", params=params)
    assert pls.provenance["revision"] == entry_revision("forward", pls.provenance["params"])  # computed now
    assert pls.provenance["revision"] != entry_revision("forward", {**pls.provenance["params"], "regressor": "ridge"})
    with pytest.raises(StoreError) as info:
        compute(st, "forward", "net.l1", "mA", params={"reps": 1}, require_existing=True)
    msg = str(info.value).split("matches the request: ")[1]  # (the temporary path names this test)
    assert "release" not in msg and "revision" not in msg and "regressor: 'pls' (existing) != 'ridge' (asked)" in msg
    assert "n_components" not in msg and "packages" not in msg  # PLS's own: no part of a ridge fit, nor the asked one's
    assert msg.endswith("Ask with the existing parameters, or compute a new entry (require_existing=False).")
    assert compute(st, "forward", "net.l1", "mA", params=params, require_existing=True).path == pls.path

def test_entries_of_an_older_revision_are_stale(study, monkeypatch):
    from dataclasses import replace

    from neuroxr.cli.info import store_summary
    from neuroxr.entries import kinds

    st, *_ = study
    monkeypatch.setitem(kinds.KINDS, "shape", replace(kinds.KINDS["shape"], revision=0))  # as before the fix
    old = compute(st, "shape", "net.l1", "mA")
    assert "revision" not in old.provenance and list_entries(st).query("kind == 'shape'").current.all()
    monkeypatch.setitem(kinds.KINDS, "shape", replace(kinds.KINDS["shape"], revision=1))
    assert lookup(st, "shape", "net.l1", "mA") is None
    # only the revision differs: no parameters reach the old entry, so the refusal says to recompute
    with pytest.raises(StoreError) as info:
        compute(st, "shape", "net.l1", "mA", require_existing=True)
    msg = str(info.value)
    revision = ("revision: 0 (existing) != 1 (asked): computed by an earlier release of neuroxr, before a fix that "
                "changed this kind's numbers, so it must be recomputed")  # one wording, wherever a revision differs
    assert (f"{old.path} differs in {revision}. No parameters reach it: compute the entry anew (require_existing=False; "
            "on the command line, leave out --require-existing).") in msg
    assert "Ask with the existing parameters" not in msg and msg.count("\n") == 0
    # the revision and a parameter: each named, and asking with the old parameters would not reach it either
    with pytest.raises(StoreError) as info:
        compute(st, "shape", "net.l1", "mA", params={"alpha": 0.5}, require_existing=True)
    assert f"{old.path} differs in {revision}; alpha: " in str(info.value) and "No parameters reach it" in str(info.value)
    new = compute(st, "shape", "net.l1", "mA")
    assert new.computed and new.path != old.path and new.provenance["revision"] == 1
    rows = list_entries(st).query("kind == 'shape'").set_index("path")
    assert rows.loc[old.path, ["current", "revision"]].tolist() == [False, 0]
    assert rows.loc[new.path, ["current", "revision"]].tolist() == [True, 1]
    status = {e["path"]: e["status"] for e in store_summary(st)["metrics"]}
    assert status == {old.path: "stale (older revision)", new.path: "current"}
    # a kind no fix has changed keeps its key: no revision in its provenance
    monkeypatch.setitem(kinds.KINDS, "cka", replace(kinds.KINDS["cka"], revision=0))
    assert "revision" not in compute(st, "cka", "net.l1", "mA").provenance


def test_ereg_seed_without_a_projection_runs_as_the_default(study):
    """A seed draws eReg's projection only where the layer is wider than the projection: there the
    entry runs eReg with the default seed (a warning, no refusal) and keeps the requested one in its key, so
    one seed serves a sweep's layers and the report lists them as one parameter set."""
    from neuroxr.report.table import metric_table

    st, f1, f2, neu = study
    wide = compute(st, "ereg", "net.l1", "mA", params={"n_components": 12, "seed": 3})  # below l1's 14 units
    assert wide.dataset.attrs["projected"] == 1 and wide.dataset.attrs["seed"] == 3
    with pytest.warns(nx.NeuroxrWarning, match=r"^ereg: seed=3 has no effect without a random projection.*the entry is "
                                            r"computed without one \(attrs projected = 0, seed = 0\)\.$"):  # said, never silent
        narrow = compute(st, "ereg", "net.l2", "mA", params={"n_components": 12, "seed": 3})  # 12 >= l2's 9 units
    assert narrow.dataset.attrs["projected"] == 0 and narrow.dataset.attrs["seed"] == 0
    assert narrow.provenance["params"]["seed"] == 3
    np.testing.assert_array_equal(narrow.dataset["r"].values, geo.ereg(f2, neu, n_components=12)["r"].values)
    t, _ = metric_table(st)
    t = t[t["metric"] == "ereg"]
    assert len(t) == 2 and t["parameters"].nunique() == 1 and t["in_figures"].all()
    with pytest.raises(ParameterError, match=r"^ereg: seed=3 has no effect"):  # the function itself still refuses it
        geo.ereg(f2, neu, n_components=12, seed=3)
    with pytest.raises(ValueError, match=r"seed"):  # checked on every layer, projected or not
        compute(st, "ereg", "net.l2", "mA", params={"n_components": 12, "seed": -1})


def test_ereg_entries_before_the_unit_order_fix_are_stale(study, monkeypatch):
    """eReg's projection draws over the units in unit_id order since revision 1: an entry computed
    before (drawn over the stored unit order) is listed stale and never read back."""
    from dataclasses import replace

    from neuroxr.entries import kinds, revisions

    st, f1, *_ = study
    # 1 the unit order, 2 the low-rank ridge kernels, 3 float64 trial means, 4 constant features refused,
    # 5 constancy decided per unit, 6 constant neuroids NaN and counted, 7 fits in canonical unit and neuroid order
    rev = kinds.KINDS["ereg"].revision
    assert revisions.entry_revision("ereg", {"n_components": 4}) == rev == 7
    monkeypatch.setitem(kinds.KINDS, "ereg", replace(kinds.KINDS["ereg"], revision=0))  # as before the fix
    old = compute(st, "ereg", "net.l1", "mA", params={"n_components": 4})
    monkeypatch.undo()
    assert lookup(st, "ereg", "net.l1", "mA", params={"n_components": 4}) is None
    new = compute(st, "ereg", "net.l1", "mA", params={"n_components": 4})
    assert new.computed and new.path != old.path and new.provenance["revision"] == rev
    rows = list_entries(st).query("kind == 'ereg'").set_index("path")
    assert rows.loc[old.path, ["current", "revision"]].tolist() == [False, 0]
    assert rows.loc[new.path, ["current", "revision"]].tolist() == [True, rev]


def test_forward_entries_of_a_joint_regressor_have_a_revision(tmp_path):
    """Forward with PLS or an estimator mixed the time bins of time-resolved responses before
    revision 1, and every forward grouped the bins' missing stimuli together before revision 2: its
    entries carry the revision (older ones are never read back)."""
    from conftest import time_sets
    from sklearn.cross_decomposition import PLSRegression

    from neuroxr.predictivity.time import bin_slice

    F, A, _ = time_sets()
    st = nx.open_store(tmp_path / "t.zarr")
    st.write_features("net", "l1", F)
    st.write_neural("mA", A)
    pls = compute(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": "pls", "n_components": 3})
    est = compute(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": PLSRegression(3)})
    ridge = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    # forward's revision 10 (2, the low-rank ridge kernels, targets constant up to rounding, ties up to
    # rounding, constancy judged on the scored stimuli, each missing pattern on its own, the half
    # prediction reliability's range, halves ranked among their complete pairs by the rule, a -inf
    # reliability judged and a group's constant design scored NaN, an infinite ceiling's EV NaN), and one
    # more for fitting the targets in canonical id order (not for ridge)
    assert pls.provenance["revision"] == est.provenance["revision"] == 11 and ridge.provenance["revision"] == 10
    assert list_entries(st).query("kind == 'forward'").current.all()
    for t in range(A.sizes["time_bin"]):
        ref = d.forward(F, bin_slice(A, t), reps=2, regressor="pls", n_components=3)
        np.testing.assert_allclose(pls.dataset.ev.isel(time_bin=t).values, ref.ev.values, rtol=1e-9)


def _revision_before_ordering_by_id(kind, params):
    """``entry_revision`` before the fits and max_n's subsets read units and neuroids by id."""
    from collections.abc import Mapping

    from neuroxr.entries.kinds import get_kind
    from neuroxr.kernels.regressors import fits_jointly

    rev, reg = get_kind(kind).revision, params.get("regressor")
    if get_kind(kind).name == "brainscore":  # revision 2 read the neuroids, 3 also the units, by id
        rev -= 1
    if get_kind(kind).name == "forward" and (isinstance(reg, Mapping) or fits_jointly(reg)):
        rev = max(rev, 1)
    if reg == "univariate":  # a later fix (UNIVARIATE_CONSTANT_KINDS), not this one
        rev += 1
    if reg == "linear":  # a later fix (LEAST_SQUARES_KINDS), not this one
        rev += 1
    return rev


def test_entries_whose_fits_now_read_units_and_neuroids_by_id_are_stale(study, monkeypatch):
    """Joint fits (PLS, estimators), lasso/elasticnet, max_n subsets and brainscore's PLS once
    depended on the order of units/neuroids, in the directions and their inference: their entries
    of the older revision are stale, the others' (ridge or univariate without max_n, every other
    metric) stay current."""
    from sklearn.cross_decomposition import PLSRegression

    from neuroxr.entries import engine, kinds, revisions

    st, *_ = study
    changed = {"pls": ("forward", "net.l1", "mA", {"reps": 1, "regressor": "pls", "n_components": 3}),
               "estimator": ("inter_animal", "mA", "mB", {"reps": 1, "regressor": PLSRegression(2)}),
               "lasso": ("model_to_model", "net.l1", "net.l2", {"regressor": "lasso"}),
               "max_n": ("reverse", "mA", "net.l1", {"reps": 1, "max_n": 3}),
               "max_n and pls": ("forward", "net.l1", "mA", {"reps": 1, "max_n": 4, "regressor": "pls", "n_components": 3}),
               "brainscore": ("brainscore", "net.l1", "mA", {"n_components": 3, "n_splits": 2}),
               # inference entries of the same fits, now also by id
               "pls bootstrap": ("forward_bootstrap", "net.l1", "mA", {"reps": 1, "regressor": "pls", "n_components": 3, "n_boot": 4}),
               "estimator permutation": ("inter_animal_permutation", "mA", "mB", {"regressor": PLSRegression(2), "n_perm": 4}),
               "lasso permutation": ("reverse_permutation", "mA", "net.l1", {"regressor": "lasso", "n_perm": 4}),
               "pls model_to_model": ("model_to_model_bootstrap", "net.l1", "net.l2", {"regressor": "pls", "n_components": 2, "n_boot": 4})}
    kept = {"ridge": ("forward", "net.l1", "mA", {"reps": 1}), "linear": ("reverse", "mA", "net.l1", {"reps": 1, "regressor": "linear"}),
            "ridgecv": ("model_to_model", "net.l1", "net.l2", {"regressor": "ridgecv"}), "cka": ("cka", "net.l1", "mA", {}),
            "ridge bootstrap": ("inter_animal_bootstrap", "mA", "mB", {"reps": 1, "n_boot": 4}),
            "ridge permutation": ("forward_permutation", "net.l1", "mA", {"n_perm": 4}),
            "univariate permutation": ("model_to_model_permutation", "net.l1", "net.l2", {"regressor": "univariate", "n_perm": 4})}
    monkeypatch.setattr(engine, "entry_revision", _revision_before_ordering_by_id)
    monkeypatch.setattr(revisions, "entry_revision", _revision_before_ordering_by_id)
    old = {name: compute(st, *case[:3], params=case[3]) for name, case in {**changed, **kept}.items()}
    assert list_entries(st).current.all()
    monkeypatch.undo()
    rows = list_entries(st).set_index("path")
    for name, entry in old.items():
        kind, src, tgt, params = {**changed, **kept}[name]
        now = revisions.entry_revision(kind, kinds.get_kind(kind).fill(params))
        if name in changed:
            assert now == entry.provenance.get("revision", 0) + (2 if name == "max_n and pls" else 1), name
            assert not rows.loc[entry.path, "current"] and lookup(st, kind, src, tgt, params=params) is None, name
        else:
            assert now == entry.provenance.get("revision", 0), name
            assert rows.loc[entry.path, "current"] and lookup(st, kind, src, tgt, params=params) == entry.path, name
    from neuroxr.cli.info import store_summary  # info says why: the revision their parameters get now

    status = {e["path"]: e["status"] for e in store_summary(st)["scores"]}
    assert status[old["max_n"].path] == status[old["max_n and pls"].path] == "stale (older revision)"
    assert status[old["ridge"].path] == "current"


def test_rsa_entries_of_euclidean_rdms_before_exact_ties_are_stale(tmp_path, monkeypatch):
    """Euclidean RDMs of integer features keep their exact ties since RSA entries with a Euclidean
    rdm_method got one more revision (and Gram entries, which now record integrality, revision 1):
    older ones are stale, and the new cRSA matches scipy on pdist; other RSA entries keep their key."""
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    from neuroxr.entries import engine, kinds, revisions

    rng = np.random.default_rng(5)
    X, Y = (rng.integers(0, 4, size=(N, k)).astype(float) for k in (6, 5))  # counts: many tied distances
    st = nx.open_store(tmp_path / "t.zarr")
    st.write_features("net", "l1", nx.features(X, STIM), unit_chunk=2)
    st.write_features("net", "l2", nx.features(Y, STIM))
    now = revisions.entry_revision

    def before(kind, params):  # the revisions before exact ties (the row pass's are kept: see the next test)
        euclidean = params.get("rdm_method") in ("euclidean", "sqeuclidean")
        return now(kind, params) - (kinds.get_kind(kind).name == "gram" or euclidean)

    changed = {"crsa": {"rdm_method": "euclidean"}, "ersa": {"rdm_method": "sqeuclidean"},
               "crsa_permutation": {"rdm_method": "euclidean", "n_perm": 4},
               "crsa_bootstrap": {"rdm_method": "sqeuclidean", "n_boot": 4},
               "ersa_permutation": {"rdm_method": "euclidean", "n_perm": 4},
               "ersa_bootstrap": {"rdm_method": "euclidean", "n_boot": 4}}
    kept = {"crsa": {"rdm_method": "correlation"}, "ersa_bootstrap": {"rdm_method": "cosine", "n_boot": 4}}
    monkeypatch.setattr(engine, "entry_revision", before)
    monkeypatch.setattr(revisions, "entry_revision", before)
    old = [(k, p, compute(st, k, "net.l1", "net.l2", params=p)) for cases in (changed, kept) for k, p in cases.items()]
    old_gram = lookup(st, "gram", "net.l1")
    assert old_gram is not None and list_entries(st).current.all()
    monkeypatch.undo()
    assert revisions.entry_revision("gram", {}) == before("gram", {}) + 1 and lookup(st, "gram", "net.l1") is None
    for kind, params, entry in old:
        rev = revisions.entry_revision(kind, kinds.get_kind(kind).fill(params))
        stale = params["rdm_method"] in ("euclidean", "sqeuclidean")
        assert rev == entry.provenance.get("revision", 0) + stale, (kind, params)
        assert (lookup(st, kind, "net.l1", "net.l2", params=params) is None) == stale, (kind, params)
    new = compute(st, "crsa", "net.l1", "net.l2", params={"rdm_method": "euclidean"})
    # crsa 1 (a stop), exact ties, its Spearman (ties up to rounding), ties of small Euclidean distances,
    # a ceiling <= 0 (a stop), the ceiling's valid split and neuroid set (a stop), constancy per unit (a stop),
    # the pair pass (distances summed directly where the Gram cancels), tie groups spanning one tolerance (a stop),
    # the pair pass's near-tie chains split (a stop), a ceiling whose every rep is -inf (a stop)
    assert new.computed and new.provenance["revision"] == 11
    ref = spearmanr(pdist(X, "euclidean"), pdist(Y, "euclidean")).statistic
    assert abs(float(new.dataset["score"]) - ref) < 1e-12
    assert compute(st, "gram", "net.l1").dataset.attrs["integral"] == 1


def test_rsa_entries_of_correlation_and_cosine_rdms_before_the_row_pass_are_stale(tmp_path, monkeypatch):
    """Correlation and cosine RDMs of stimuli with large offsets keep their digits since the Gram
    entry holds the row pass (Gram revision 2) and RSA entries with those rdm_methods got one more
    revision: older ones are stale, Euclidean ones keep their key, and a new cRSA matches scipy."""
    from scipy.spatial.distance import pdist

    from neuroxr.entries import engine, kinds, revisions

    rng = np.random.default_rng(6)
    X, Y = (rng.standard_normal((N, k)) + 1e6 * rng.uniform(1, 2, (N, 1)) for k in (12, 7))
    st = nx.open_store(tmp_path / "t.zarr")
    st.write_features("net", "l1", nx.features(X, STIM), unit_chunk=5)
    st.write_features("net", "l2", nx.features(Y, STIM))
    now = revisions.entry_revision

    def before(kind, params):
        row_pass = params.get("rdm_method") in ("correlation", "cosine")
        return now(kind, params) - (kinds.get_kind(kind).name == "gram" or row_pass)

    cases = {"crsa": {"rdm_method": "correlation", "compare_method": "pearson"},
             "crsa_permutation": {"rdm_method": "cosine", "n_perm": 4},
             "ersa_bootstrap": {"rdm_method": "correlation", "n_boot": 4},
             "ersa": {"rdm_method": "euclidean"}}
    monkeypatch.setattr(engine, "entry_revision", before)
    monkeypatch.setattr(revisions, "entry_revision", before)
    old = [(k, p, compute(st, k, "net.l1", "net.l2", params=p)) for k, p in cases.items()]
    monkeypatch.undo()
    # gram: 1 integral, 2 the row pass, 3 its varying units (a stop), 4 the pair pass (a stop)
    assert revisions.entry_revision("gram", {}) == 4 and lookup(st, "gram", "net.l1") is None
    for kind, params, entry in old:
        stale = params["rdm_method"] != "euclidean"
        assert revisions.entry_revision(kind, kinds.get_kind(kind).fill(params)) == entry.provenance.get("revision", 0) + stale
        assert (lookup(st, kind, "net.l1", "net.l2", params=params) is None) == stale, (kind, params)
    new = compute(st, "crsa", "net.l1", "net.l2", params=cases["crsa"])
    assert new.computed and {"Kr", "ar", "r"} <= set(compute(st, "gram", "net.l1").dataset.data_vars)
    ref = np.corrcoef(pdist(X, "correlation"), pdist(Y, "correlation"))[0, 1]
    assert abs(float(new.dataset["score"]) - ref) < 1e-12


@pytest.mark.parametrize(("kind", "target", "a", "b"), [
    ("forward", "mA", {"alpha": np.int64(1)}, {"alpha": 1.0}),
    ("forward", "mA", {"regressor": "ridgecv", "alphas": np.array([1.0, 10.0])}, {"regressor": "ridgecv", "alphas": (1.0, 10.0)}),
    ("forward", "mA", {"regressor": "ridgecv", "alphas": [np.int64(1), 10]}, {"regressor": "ridgecv", "alphas": [1.0, 10.0]}),
    ("forward", "mA", {"regressor": "ridgecv", "alphas": range(1, 3)}, {"regressor": "ridgecv", "alphas": [1.0, 2.0]}),
    ("forward", "mA", {"regressor": "ridgecv", "alphas": {10.0, 1}}, {"regressor": "ridgecv", "alphas": [1.0, 10.0]}),
    ("forward", "mA", {"min_reliability": 0}, {"min_reliability": 0.0}),
    ("cka", "mA", {"debiased": 0}, {"debiased": False}),
])
def test_one_value_spelled_two_ways_is_one_entry(study, kind, target, a, b):
    """NumPy scalars and arrays, ints for floats and 0/1 for flags name the same entry as the plain
    spelling: the second request finds the first's entry instead of computing a duplicate."""
    st = study[0]
    first = compute(st, kind, "net.l1", target, params={"reps": 2, **a} if kind == "forward" else a)
    again = compute(st, kind, "net.l1", target, params={"reps": 2, **b} if kind == "forward" else b)
    assert first.computed and not again.computed and again.path == first.path


def test_each_stop_raises_the_kinds_its_fixes_changed():
    """A kind whose numbers two stops' fixes changed is one revision up per stop (entries written by
    the previous stop's code must be stale; one set of all stops' kinds raised the bootstraps once),
    and once per stop however many of that stop's fixes changed it."""
    from neuroxr.entries import kinds, revisions

    assert revisions.raised_per_stop({"a": 1}, [("a", "a", "b"), ("a",)]) == {"a": 3, "b": 1}
    for name, kind in kinds.KINDS.items():
        n = sum(name in stop for stop in revisions.STOPS)
        assert kind.revision == revisions.REVISIONS_BEFORE_STOPS.get(name, 0) + n, name
    assert sum("forward_bootstrap" in stop for stop in revisions.STOPS) == 10  # the last: a jackknife of 3 stimuli
    assert set(revisions.STOPS[-6]) == {"forward", "reverse", "inter_animal", "temporal_generalization",
                                        *(k for k in kinds.DIRECTION_INFERENCE_KINDS if not k.startswith("model_to_model")),
                                        "model_to_model_permutation"}  # a -inf reliability, a constant group design, the null's scale
    assert set(revisions.STOPS[-5]) == {"forward", "inter_animal", "forward_bootstrap", "inter_animal_bootstrap",
                                        "cka_bootstrap", "shape_bootstrap"}  # an infinite ceiling; resamples of too few stimuli
    assert set(revisions.STOPS[-4]) == {"forward_bootstrap", "forward_permutation", "inter_animal_bootstrap",
                                        "inter_animal_permutation", "shape", "shape_bootstrap", "shape_permutation",
                                        "reverse", "inter_animal"}  # draws over the design's stimuli; SVD whitening; slot kernels
    assert set(revisions.STOPS[-3]) == {"shape_bootstrap"}  # a resample on which a representation is constant
    assert set(revisions.STOPS[-2]) == {k for k in kinds.KINDS if k.endswith("_permutation")} == {  # nulls without a defined value
        "forward_permutation", "reverse_permutation", "inter_animal_permutation", "model_to_model_permutation",
        "crsa_permutation", "ersa_permutation", "cka_permutation", "shape_permutation"}
    assert set(revisions.STOPS[-1]) == {"forward_bootstrap", "reverse_bootstrap", "inter_animal_bootstrap",
                                        "model_to_model_bootstrap",  # a BCa acceleration of 3 stimuli
                                        "crsa"}  # a split-half ceiling whose every rep is -inf
    assert sum("cka_bootstrap" in stop for stop in revisions.STOPS) == 7  # the last: resamples of fewer than 3 distinct stimuli
    assert sum("crsa" in stop for stop in revisions.STOPS) == 7  # the last: a ceiling whose every rep is -inf


def test_the_last_stop_raises_the_kinds_whose_numbers_it_changed_and_no_direction():
    """Constancy decided per unit (CKA, dimensionality, shape were NaN), exactly constant RDMs of
    features constant up to rounding (RSA), the Gram's varying units, temporal generalisation's
    refused constant source bin and Brain-Score's refused ceiling of 2 stimuli change the numbers of
    these kinds: each is in the last stop. The directions only refuse fewer designs: their stored
    entries stand (not raised)."""
    from neuroxr.entries import kinds, revisions

    want = {"gram", "temporal_generalization", "crsa", "ersa", "ereg", "cka", "dimensionality", "shape", "brainscore",
            "crsa_bootstrap", "cka_permutation", "shape_bootstrap", "ersa_permutation"}
    assert set(revisions.STOP_18_KINDS) == set(revisions.STOPS[4])
    assert want <= set(revisions.STOPS[4])
    assert not set(revisions.STOPS[4]) & {*kinds.DIRECTION_KINDS, *kinds.DIRECTION_INFERENCE_KINDS}


def test_the_spearman_resample_stop_raises_the_rsa_bootstraps_and_no_permutation():
    """The RSA bootstraps' Spearman resamples ranked anew (crsa_bootstrap's and ersa_bootstrap's
    default comparison) change their stored score_boot and score_ci: exactly these kinds are in the
    last stop; the permutation kinds (ranks permuted exactly) and the point-score kinds are not."""
    from neuroxr.entries import revisions

    assert set(revisions.STOP_19_KINDS) == set(revisions.STOPS[5]) == {"crsa_bootstrap", "ersa_bootstrap"}
    assert not set(revisions.STOPS[5]) & {"crsa", "ersa", "crsa_permutation", "ersa_permutation"}


def test_the_cka_closed_form_stop_raises_the_cka_inference_kinds_and_not_the_point_kind():
    """The biased CKA bootstrap in closed form (rounding), its constant resamples NaN, and the
    permutation nulls of Grams centred once (rounding): both CKA inference kinds are in the stop
    after STOP_19_KINDS's, and the cka point kind is not (its numbers stand)."""
    from neuroxr.entries import revisions

    assert set(revisions.CKA_CLOSED_FORM_KINDS) == {"cka_bootstrap", "cka_permutation"} <= set(revisions.STOPS[6])
    assert "cka" not in revisions.STOPS[6]


def test_the_reranked_halves_stop_raises_the_direction_bootstraps_that_rank_halves():
    """Forward's and inter-animal's bootstraps rank their target's split halves anew on each
    resample: their stored resamples and intervals change, so they are in their stop (the 7th); reverse's
    and model-to-model's bootstraps (no ranked halves), the permutations and the point scores stand."""
    from neuroxr.entries import revisions

    assert set(revisions.RERANKED_HALVES_KINDS) == {"forward_bootstrap", "inter_animal_bootstrap"}
    assert set(revisions.RERANKED_HALVES_KINDS) <= set(revisions.STOPS[6])
    assert not set(revisions.RERANKED_HALVES_KINDS) & {"forward", "inter_animal", "reverse_bootstrap",
                                                   "model_to_model_bootstrap", "forward_permutation",
                                                   "inter_animal_permutation"}


def test_a_misspelled_backend_is_refused_whether_or_not_the_entry_is_found(study):
    """A found entry was handed back whatever backend was asked: a typo passed until an entry had to
    be computed, hours into a run. One that cannot run here (no CuPy) still reads stored entries."""
    from neuroxr.errors import BackendError

    st = study[0]
    stored = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    with pytest.raises(BackendError, match=r"^forward: backend='Torch' is not known; choose one of"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 2}, backend="Torch")
    try:
        import cupy  # noqa: F401
    except ImportError:
        again = compute(st, "forward", "net.l1", "mA", params={"reps": 2}, backend="cupy")
        assert not again.computed and again.path == stored.path
        with pytest.raises(BackendError, match=r"needs CuPy"):
            compute(st, "forward", "net.l1", "mA", params={"reps": 3}, backend="cupy")


def test_a_backend_that_cannot_run_is_refused_though_a_cached_gram_spares_it(study):
    """cka and dimensionality use the backend for the layer's Gram alone: with the Gram cached, or of a
    neural set, a new entry was computed on NumPy with backend='cupy' (no CuPy) and no word."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed: the backend can run")
    from neuroxr.errors import BackendError

    st = study[0]
    compute(st, "cka", "net.l1", "mA")  # caches the layer's Gram
    for kind, source, target, params in (("cka", "net.l1", "mA", {"debiased": True}), ("dimensionality", "net.l1", None, {}),
                                         ("dimensionality", "mA", None, {})):
        with pytest.raises(BackendError, match=rf"^{kind}: backend='cupy' needs CuPy"):
            compute(st, kind, source, target, params=params, backend="cupy")


def test_store_cka_checks_debiased_before_computing_and_labels_the_checked_value(constant_layer_study):
    """store_cka refuses a debiased that is not a bool (as cka does) before any entry is written: "no" computed
    debiased entries and then failed, 0.5 computed debiased CKA labeled debiased=0."""
    st = constant_layer_study
    for bad in ("no", 0.5):
        with pytest.raises(ParameterError, match=r"^store_cka: debiased must be True or False"):
            nx.entries.store_cka(st, debiased=bad)
    assert list_entries(st).empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        for flag in (False, True):
            C = nx.entries.store_cka(st, debiased=flag)
            assert C.attrs["debiased"] == int(flag)
            one = compute(st, "cka", "net.l1", "net.l2", params={"debiased": flag}, require_existing=True)
            assert float(C["cka"].sel(network="net/l1", network_="net/l2")) == float(one.dataset["score"])


def test_store_cka_diagonal_is_nan_for_a_constant_layer(constant_layer_study):
    """A constant layer's CKA with itself is undefined (NaN, as cka gives it), not 1; other layers keep 1."""
    with pytest.warns(nx.NeuroxrWarning, match="constant features"):
        C = nx.entries.store_cka(constant_layer_study)
    diag = dict(zip(C["network"].values, np.diag(C["cka"].values)))
    assert np.isnan(diag["net/const"]) and diag["net/l1"] == pytest.approx(1.0) and diag["net/l2"] == pytest.approx(1.0)
    assert np.isnan(C["cka"].sel(network="net/const").values).all()


def test_a_lookup_to_read_reads_the_entry_once_on_a_cached_object_store(s3_server, s3_study):
    """``lookup(..., then_read=True)`` on a cached object store reads a matching entry in one batch (its document, its chunks, its
    document again) and finds its damage from the keys read, no listing; the read that follows takes the batch
    from the cache (no request). An entry that lost a chunk never matches; a store that keeps nothing lists."""
    import urllib.parse

    import s3fs

    options, log = s3_server
    st = s3_study({}, layer=False)
    url = st.url
    F, _, A = _sets()
    st.write_features("net", "l1", F)
    st.write_neural("mA", A)
    args, params = ("cka", "net.l1", "mA"), {"debiased": True}
    path = compute(st, *args, params=params).path
    cached = StudyStore(url, storage_options=options, cache=True)
    with log.counting() as got:
        assert lookup(cached, *args, params=params, then_read=True) == path
    listed = [q for _, _, q in got if "list-type" in q and "/.neuroxr/" not in urllib.parse.unquote(q)]  # not the inventory
    assert not listed, listed
    assert [p for _, p, _ in got].count(f"/{url[5:]}/{path}/zarr.json") == 2, got
    with log.counting() as got:
        read = cached.read_dataset(path).load()
    assert got == []
    xr.testing.assert_identical(read, compute(st, *args, params=params).dataset)
    plain = StudyStore(url, storage_options=options)
    with log.counting() as got:
        assert lookup(plain, *args, params=params, then_read=True) == path
    assert [q for _, _, q in got if "list-type" in q and f"/{path}/" in urllib.parse.unquote(q)]  # its keys
    fs = s3fs.S3FileSystem(**options)
    var = next(iter(read.data_vars))
    fs.rm(sorted(fs.find(f"{url[5:]}/{path}/{var}/c"))[0])
    assert lookup(StudyStore(url, storage_options=options, cache=True), *args, params=params, then_read=True) is None
    assert lookup(st, *args, params=params) is None


def test_least_squares_entries_are_one_revision_up():
    """Least squares through the shared kernels (regressor='linear', or alpha 0) inverted the rounding of the
    Gram a fold's system is down-dated from: those entries (the directions, their inference, eRSA and eReg)
    are one revision up alone (revisions.LEAST_SQUARES_KINDS); ridge's and the other regressors' stand."""
    from neuroxr.entries import kinds, revisions

    def rev(kind, **params):
        return revisions.entry_revision(kind, kinds.get_kind(kind).fill(params))

    for kind in ("forward", "reverse_bootstrap", "model_to_model_permutation"):
        assert rev(kind, regressor="linear") == rev(kind) + 1 == rev(kind, alpha=0.0) == rev(kind, regressor="ridge", alpha=0), kind
        assert rev(kind, regressor="lasso", alpha=0.5) == rev(kind, regressor="lasso"), kind
    for kind in ("ersa", "ereg", "ersa_bootstrap"):
        assert rev(kind, alpha=0.0) == rev(kind) + 1, kind
    assert rev("cka") == kinds.get_kind("cka").revision
