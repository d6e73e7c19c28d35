"""Audit of stale entries after an input set is rewritten (docs/entries.md, "Provenance and layout";
docs/store.md, "Entries, markers, tokens"): for every way a set can be written again through the
public API and every entry kind that reads it, the old entry is never returned by ``lookup``, listed as
current or reused by ``compute`` (nor its Gram by a streamed entry), and the entry computed again
equals the one a new store holding the new sets computes."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import latent_sets

import neuroxr as nx
from neuroxr.entries import compute, list_entries, lookup
from neuroxr.errors import NeuroxrError, StoreError

N = 20
REGIONS = ["IT"] * 4 + ["V4"] * 2


def _initial():
    f1, f2, neu = latent_sets(0, N, 6, regions=REGIONS)
    neu_b = latent_sets(1, N, 6, regions=REGIONS)[2]
    return {"mA": neu, "mB": neu_b, "net.l1": f1, "net.l2": f2}


def _write(store, name, da):
    if name.startswith("net."):
        store.write_features("net", name.split(".", 1)[1], da)
    else:
        store.write_neural(name, da)


def _new_store(path, sets):
    st = nx.open_store(path)
    for name, da in sets.items():
        _write(st, name, da)
    return st


# ------------------------------------------------------------------ rewrites of one set
def _relabel(da, dim, coord, values):
    return da.assign_coords({coord: (dim, list(values))})


def _values(da):
    rng = np.random.default_rng(11)
    return da.copy(data=rng.normal(size=da.shape))


def _order(da):  # the same values per stimulus id, in another row order
    return da.isel(stimulus=np.random.default_rng(3).permutation(da.sizes["stimulus"]))


def _stimuli(da):  # two stimuli fewer (every set of the store: see _rewrite)
    return da.isel(stimulus=slice(0, da.sizes["stimulus"] - 2))


def _unit_ids(da):
    dim = "unit" if "unit" in da.dims else "neuroid"
    return _relabel(da, dim, f"{dim}_id", [f"x{i}" for i in range(da.sizes[dim])][::-1])


def _regions(da):  # the region labels swapped
    return _relabel(da, "neuroid", "region", ["V4" if r == "IT" else "IT" for r in da["region"].values.astype(str)])


def _repeats(da):
    return da.isel(repeat=slice(0, 3))


def _dtype(da):
    return da.astype("float32")


def _attrs(da):  # a metadata-only change: the same values with another attr
    out = da.copy()
    out.attrs["note"] = "re-referenced"
    return out


#: rewrite -> (function, applies to features, applies to neural sets)
REWRITES = {
    "values": (_values, True, True),
    "same": (lambda da: da.copy(), True, True),  # nothing written: every entry is kept (below)
    "order": (_order, True, True),
    "stimuli": (_stimuli, True, True),
    "ids": (_unit_ids, True, True),
    "regions": (_regions, False, True),
    "repeats": (_repeats, False, True),
    "dtype": (_dtype, True, True),
    "attrs": (_attrs, True, True),
    "recreate": (lambda da: da.copy(), True, True),  # deleted, then written again
}

#: (kind, source, target, params): every entry kind, on small parameters
CASES = [
    ("forward", "net.l1", "mA", {"reps": 2}),  # streamed through the Gram entry
    ("forward", "net.l1", "mA.IT", {"reps": 2}),
    ("forward", "net.l1", "mA", {"reps": 2, "max_n": 10}),  # reads the features themselves
    ("reverse", "mA", "net.l1", {"reps": 2}),
    ("inter_animal", "mB", "mA", {"reps": 2}),
    ("model_to_model", "net.l2", "net.l1", {}),
    ("crsa", "net.l1", "mA", {}),
    ("crsa", "net.l1", "net.l2", {}),
    ("ersa", "net.l1", "mA", {}),
    ("ereg", "net.l1", "mA", {"n_folds": 2}),
    ("cka", "net.l1", "mA", {}),
    ("cka", "net.l1", "net.l2", {}),
    ("shape", "net.l1", "mA", {}),
    ("dimensionality", "net.l1", None, {}),
    ("dimensionality", "mA", None, {}),
    ("gram", "net.l1", None, {}),
    ("brainscore", "net.l1", "mA", {"n_components": 3, "train_size": 0.8}),
    ("forward_bootstrap", "net.l1", "mA", {"reps": 2, "n_boot": 20}),
    ("forward_permutation", "net.l1", "mA", {"n_perm": 20}),
    ("reverse_bootstrap", "mA", "net.l1", {"reps": 2, "n_boot": 20}),
    ("inter_animal_permutation", "mB", "mA", {"n_perm": 20}),
    ("model_to_model_bootstrap", "net.l2", "net.l1", {"n_boot": 20}),
    ("cka_bootstrap", "net.l1", "mA", {"n_boot": 20}),
    ("cka_permutation", "net.l1", "mA", {"n_perm": 20}),
    ("shape_bootstrap", "net.l1", "mA", {"n_boot": 20}),
    ("shape_permutation", "net.l1", "mA", {"n_perm": 20}),
    ("crsa_bootstrap", "net.l1", "mA", {"n_boot": 20}),
    ("ersa_permutation", "net.l1", "mA", {"n_perm": 20}),
]


#: entries that read neither mA nor net.l1 (or only one of them): never made stale by a rewrite of another set
BYSTANDERS = [("forward", "net.l2", "mB", {"reps": 2}), ("cka", "net.l2", "mB", {}), ("gram", "net.l2", None, {}),
              ("dimensionality", "mB", None, {})]


def _inputs(source, target):
    return [s.split(".")[0] if not s.startswith("net.") else s for s in (source, target) if s is not None]


def _reads(name, kinds=None):
    """The cases of CASES that read the set ``name`` (of ``kinds``, default all)."""
    return [c for c in CASES if name in _inputs(c[1], c[2]) and (kinds is None or c[0] in kinds)]


def _compute_or_error(store, kind, source, target, params):
    """``(EntryResult, None)``, or ``(None, error type)`` where the request is refused for the data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return compute(store, kind, source, target, params=params), None
        except NeuroxrError as exc:
            return None, type(exc)


def _assert_computed_again(st, cases, first, fresh_store, computed=True):
    """Each case's entry in ``st`` is another path than ``first``'s (``computed``: computed anew) and equals the
    entry of ``fresh_store``, a new store of the new data."""
    for (k, s, t, p), old in zip(cases, first):
        again, fresh = _compute_or_error(st, k, s, t, p)[0], _compute_or_error(fresh_store, k, s, t, p)[0]
        assert (again.computed or not computed) and again.path != old
        assert_same_entry(again.dataset, fresh.dataset, k)


def assert_same_entry(got: xr.Dataset, want: xr.Dataset, what: str) -> None:
    """Every variable and coordinate of two entries equal (NaN where NaN)."""
    assert sorted(got.data_vars) == sorted(want.data_vars), what
    for name in list(want.data_vars) + list(want.coords):
        a, b = got[name].values, want[name].values
        if np.issubdtype(np.asarray(b).dtype, np.number):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=f"{what}: {name}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: {name}")


def _set_path(name):
    return f"features/net/{name.split('.', 1)[1]}" if name.startswith("net.") else f"neural/{name}"


def _rewrite(store, sets, name, rw):
    """``name`` rewritten by ``rw``; "stimuli": the other sets too, after it (sets are paired by id)."""
    new = {name: REWRITES[rw][0](sets[name])}
    if rw == "stimuli":
        new.update({other: _stimuli(da) for other, da in sets.items() if other != name})
    if rw == "recreate":
        store.invalidate(_set_path(name))
    for each, da in new.items():
        _write(store, each, da)
    return {**sets, **new}


def _check_rewrite(tmp_path, name, rw, kinds=None):
    """Every case reading ``name``: computed, ``name`` rewritten by ``rw``, then nothing stale is
    found, listed current or refused by require_existing, and computing again equals a new store's."""
    sets, cases = _initial(), _reads(name, kinds)
    st = _new_store(tmp_path / "s.zarr", sets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(st, kind, source, target, params=params) for kind, source, target, params in cases]
        others = [(c, compute(st, *c[:3], params=c[3]).path) for c in BYSTANDERS if name not in _inputs(c[1], c[2])]
    grams = set(list_entries(st).query(f"kind == 'gram' and source == '{name}'").path)
    sets = _rewrite(st, sets, name, rw)
    if rw == "same":
        return _assert_kept(st, cases, first, _new_store(tmp_path / "fresh.zarr", sets))

    if rw != "stimuli":  # entries of other sets only are still found (every set is rewritten for "stimuli")
        assert [lookup(st, *c[:3], params=c[3]) for c, _ in others] == [path for _, path in others]
    table = list_entries(st).set_index("path")
    for (kind, source, target, params), old in zip(cases, first):  # before any is computed again
        what = f"{kind} {source} -> {target}"
        assert lookup(st, kind, source, target, params=params) is None, what
        assert old.path not in table.index or not table.loc[old.path].current, what  # (a Gram is deleted)
        with pytest.raises(StoreError):
            compute(st, kind, source, target, params=params, require_existing=True)
    fresh_store = _new_store(tmp_path / "fresh.zarr", sets)
    for (kind, source, target, params), old in zip(cases, first):
        what = f"{kind} {source} -> {target}"
        fresh, fresh_err = _compute_or_error(fresh_store, kind, source, target, params)
        again, err = _compute_or_error(st, kind, source, target, params)
        assert err == fresh_err, what
        if fresh is None:
            continue
        assert again.path != old.path and (again.computed or kind == "gram"), what  # (a Gram: by an entry before)
        assert_same_entry(again.dataset, fresh.dataset, what)
        assert lookup(st, kind, source, target, params=params) == again.path, what
    table = list_entries(st).set_index("path")
    assert not table.reindex([old.path for old in first]).current.fillna(False).astype(bool).any()
    assert not grams & set(table.query("kind == 'gram' and current").index)  # no Gram of the old layer is current


def _assert_kept(st, cases, first, fresh_store):
    """A set written again with what it holds is not written: each case's entry is still found and current,
    read back (not computed) under ``require_existing``, and equals the entry of ``fresh_store``."""
    table = list_entries(st).set_index("path")
    for (kind, source, target, params), old in zip(cases, first):
        what = f"{kind} {source} -> {target}"
        assert lookup(st, kind, source, target, params=params) == old.path and table.loc[old.path].current, what
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = compute(st, kind, source, target, params=params, require_existing=True)
        assert again.path == old.path and not again.computed, what
        fresh, _ = _compute_or_error(fresh_store, kind, source, target, params)
        if fresh is not None:
            assert_same_entry(again.dataset, fresh.dataset, what)


FAST = [("net.l1", "values"), ("mA", "order"), ("mA", "same")]


@pytest.mark.parametrize("name, rw", FAST)
def test_a_rewritten_input_is_never_read_back(tmp_path, name, rw):
    _check_rewrite(tmp_path, name, rw, kinds=("forward", "reverse", "cka", "gram", "dimensionality", "cka_permutation"))


@pytest.mark.slow
@pytest.mark.parametrize("name, rw", [(n, rw) for n in ("net.l1", "mA", "net.l2", "mB") for rw, (_, f, u) in REWRITES.items()
                                      if (f if n.startswith("net.") else u)])
def test_every_rewrite_of_every_input_is_never_read_back(tmp_path, name, rw):
    _check_rewrite(tmp_path, name, rw)


# ------------------------------------------------------------------ time-resolved sets
def _time_sets(bins=((0, 10), (10, 20), (20, 30))):
    rng = np.random.default_rng(4)
    stim = [f"s{i:02d}" for i in range(N)]
    F = nx.features(rng.normal(size=(N, 6)), stimulus_id=stim, model="net", layer="l1")
    R = (F.values @ rng.normal(size=(6, 7)))[:, :, None, None] + rng.normal(size=(N, 7, 3, len(bins)))
    A = nx.neural(R[:, :4], stimulus_id=stim, time_bins=list(bins), region="IT")
    B = nx.neural(R[:, 4:], stimulus_id=stim, time_bins=list(bins), region="IT")
    return {"net.l1": F, "tA": A, "tB": B}


def _relabel_bins(da):  # the same values, other time bins
    return nx.neural(da.values, stimulus_id=da["stimulus_id"].values, neuroid_id=da["neuroid_id"].values,
                     time_bins=[(5, 15), (15, 25), (25, 35)], region="IT")


TIME_CASES = [
    ("forward", "net.l1", "tB", {"reps": 2}),
    ("inter_animal", "tA", "tB", {"reps": 2}),
    ("temporal_generalization", "net.l1", "tB", {"n_folds": 3}),
    ("temporal_generalization", "tA", "tB", {"n_folds": 3}),
    ("forward_bootstrap", "net.l1", "tB", {"reps": 2, "n_boot": 10}),
]


@pytest.mark.parametrize("rewrite", [_relabel_bins, lambda da: da.isel(time_bin=slice(0, 2)), _values],
                         ids=["bins relabeled", "a bin dropped", "values"])
def test_a_rewritten_time_resolved_set_is_never_read_back(tmp_path, rewrite):
    sets = _time_sets()
    st = _new_store(tmp_path / "s.zarr", sets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(st, k, s, t, params=p) for k, s, t, p in TIME_CASES]
    sets = {**sets, "tB": rewrite(sets["tB"])}
    _write(st, "tB", sets["tB"])
    table = list_entries(st).set_index("path")
    fresh_store = _new_store(tmp_path / "fresh.zarr", sets)
    for (k, s, t, p), old in zip(TIME_CASES, first):
        assert lookup(st, k, s, t, params=p) is None and not table.loc[old.path].current, k
        again, err = _compute_or_error(st, k, s, t, p)
        fresh, fresh_err = _compute_or_error(fresh_store, k, s, t, p)
        assert err == fresh_err, k  # (tA's bins are not tB's relabeled ones: inter-animal is refused)
        if fresh is not None:
            assert again.computed and again.path != old.path, k
            assert_same_entry(again.dataset, fresh.dataset, k)


# ------------------------------------------------------------------ the command line
def test_neuroxr_score_and_info_after_a_rewrite(tmp_path):
    import json

    from click.testing import CliRunner

    from neuroxr.cli import main

    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    args = ["score", "forward", st.url, "net.l1", "mA.IT", "--reps", "2", "--json"]
    run = CliRunner().invoke
    first = json.loads(run(main, args).stdout)
    sets = _rewrite(st, sets, "mA", "regions")  # the IT neuroids are others now
    res = run(main, [*args, "--require-existing"])
    assert res.exit_code == 1 and "neural/mA" in res.output
    info = json.loads(run(main, ["info", st.url, "--json"]).stdout)
    assert [e["status"] for e in info["scores"]] == ["stale (input rewritten)"]
    res = run(main, args)
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    fresh = compute(_new_store(tmp_path / "fresh.zarr", sets), "forward", "net.l1", "mA.IT", params={"reps": 2})
    assert again["computed"] and again["path"] != first["path"]
    assert again["mean_ev"] != first["mean_ev"]
    np.testing.assert_allclose(again["mean_ev"], float(fresh.dataset.ev.mean()), rtol=1e-9)


# ------------------------------------------------------------------ extraction re-run into the same layer
def test_an_extraction_rerun_keeps_or_replaces_the_layer_and_its_entries(tmp_path):
    """Run again with the same model and stimuli: the layer is skipped, its token and every entry on it
    stay current (nothing invalidated); with other weights (``overwrite=True``) the entries are stale
    and the new ones equal a new store's."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from neuroxr.extract import extract_features

    def net(scale):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(scale)
        return m

    x = torch.from_numpy(np.random.default_rng(0).random((N, 3, 8, 8), dtype=np.float32))
    ids = [f"s{i:02d}" for i in range(N)]
    kw = dict(model_name="tiny", layers=["3"], stimulus_ids=ids, batch_size=8, progress=False)
    neu = latent_sets(0, N, 6)[2]
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    extract_features(net(1.0), x, st, **kw)
    cases = [("forward", "tiny.3", "mA", {"reps": 2}), ("cka", "tiny.3", "mA", {}), ("dimensionality", "tiny.3", None, {})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(st, k, s, t, params=p) for k, s, t, p in cases]
    token = st.token("features/tiny/3")

    extract_features(net(1.0), x, st, **kw)  # the same extraction: skipped
    assert st.token("features/tiny/3") == token
    assert [lookup(st, k, s, t, params=p) for k, s, t, p in cases] == [r.path for r in first]

    extract_features(net(-2.0), x, st, overwrite=True, **kw)  # other weights into the same layer
    assert st.token("features/tiny/3") != token
    assert [lookup(st, k, s, t, params=p) for k, s, t, p in cases] == [None] * 3
    assert not list_entries(st).set_index("path").loc[[r.path for r in first]].current.any()
    fresh = nx.open_store(tmp_path / "fresh.zarr")
    fresh.write_neural("mA", neu)
    fresh.write_features("tiny", "3", st.read_features("tiny", "3").load())
    for (k, s, t, p), old in zip(cases, first):
        again, want = _compute_or_error(st, k, s, t, p)[0], _compute_or_error(fresh, k, s, t, p)[0]
        assert again.computed and again.path != old.path
        assert_same_entry(again.dataset, want.dataset, k)


# ------------------------------------------------------------------ relative layers
def test_entries_of_a_relative_layer_follow_its_own_version(tmp_path):
    """Entries computed on a ``neuroxr relative`` layer stay current when its source is rewritten (the
    relative layer is listed stale_source: docs/analyses.md) and are stale once it is written again."""
    import json

    from click.testing import CliRunner

    from neuroxr.cli import main
    from neuroxr.geometry import relative_features

    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    anchors = tmp_path / "anchors.txt"
    anchors.write_text("\n".join(f"s{i:02d}" for i in range(5)) + "\n")
    run = CliRunner().invoke
    assert run(main, ["relative", st.url, "net.l1", "--anchors", str(anchors)]).exit_code == 0
    first = compute(st, "cka", "net.l1_relative", "mA")
    sets = _rewrite(st, sets, "net.l1", "values")
    assert lookup(st, "cka", "net.l1_relative", "mA") == first.path  # its own input is unchanged
    info = json.loads(run(main, ["info", st.url, "--json"]).stdout)
    assert [d["path"] for d in info["stale_source"]] == ["features/net/l1_relative"]
    res = run(main, ["relative", st.url, "net.l1", "--anchors", str(anchors), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert lookup(st, "cka", "net.l1_relative", "mA") is None
    again = compute(st, "cka", "net.l1_relative", "mA")
    rel = relative_features(sets["net.l1"], [f"s{i:02d}" for i in range(5)], layer="l1_relative")
    fresh = compute(_new_store(tmp_path / "fresh.zarr", {"mA": sets["mA"], "net.l1_relative": rel}), "cka",
                    "net.l1_relative", "mA")
    assert again.computed and again.path != first.path
    assert_same_entry(again.dataset, fresh.dataset, "cka")


# ------------------------------------------------------------------ stores copied or moved, sets copied by hand
def test_a_copied_or_moved_store_keeps_its_entries_and_a_rewrite_touches_one_copy(tmp_path):
    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    cases = [("forward", "net.l1", "mA", {"reps": 2}), ("cka", "net.l1", "mA", {}), ("inter_animal", "mB", "mA", {"reps": 2})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(st, k, s, t, params=p).path for k, s, t, p in cases]
    shutil.copytree(tmp_path / "s.zarr", tmp_path / "copy.zarr")
    (tmp_path / "s.zarr").rename(tmp_path / "moved.zarr")
    moved, copy = nx.open_store(tmp_path / "moved.zarr"), nx.open_store(tmp_path / "copy.zarr")
    for store in (moved, copy):  # a copy holds the same sets: its entries are found, nothing computed
        assert [lookup(store, k, s, t, params=p) for k, s, t, p in cases] == first
        assert list_entries(store).query("kind != 'gram'").current.all()
    _rewrite(copy, sets, "mA", "values")
    assert [lookup(copy, k, s, t, params=p) for k, s, t, p in cases] == [None] * 3
    assert [lookup(moved, k, s, t, params=p) for k, s, t, p in cases] == first  # the other copy is untouched


def test_a_set_copied_in_by_hand_from_another_store_makes_the_entries_stale(tmp_path):
    """``neural/mA`` replaced by hand with the folder of another store's rewritten copy (a restore, a
    sync): the entries on the old one are neither found nor current, and the new ones equal a new store's."""
    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    shutil.copytree(tmp_path / "s.zarr", tmp_path / "other.zarr")
    other = nx.open_store(tmp_path / "other.zarr")
    new = _rewrite(other, sets, "mA", "values")
    cases = [("forward", "net.l1", "mA", {"reps": 2}), ("cka", "net.l1", "mA", {}), ("dimensionality", "mA", None, {})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(st, k, s, t, params=p).path for k, s, t, p in cases]
    shutil.rmtree(tmp_path / "s.zarr" / "neural" / "mA")
    shutil.copytree(tmp_path / "other.zarr" / "neural" / "mA", tmp_path / "s.zarr" / "neural" / "mA")
    st = nx.open_store(tmp_path / "s.zarr")
    assert [lookup(st, k, s, t, params=p) for k, s, t, p in cases] == [None] * 3
    assert not list_entries(st).set_index("path").loc[first].current.any()
    _assert_computed_again(st, cases, first, _new_store(tmp_path / "fresh.zarr", new))


@pytest.mark.parametrize("how", ["cached", "open handle"])
def test_a_store_opened_before_another_handle_rewrites_finds_nothing_stale(tmp_path, how):
    """A store object (cached, or plain) opened before another handle (another process) rewrites a set."""
    sets = _initial()
    _new_store(tmp_path / "s.zarr", sets)
    mine = nx.StudyStore(tmp_path / "s.zarr", cache=how == "cached")
    cases = [("forward", "net.l1", "mA", {"reps": 2}), ("gram", "net.l1", None, {}), ("cka", "net.l1", "mA", {})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(mine, k, s, t, params=p).path for k, s, t, p in cases]
    new = _rewrite(nx.open_store(tmp_path / "s.zarr"), sets, "net.l1", "values")
    assert [lookup(mine, k, s, t, params=p) for k, s, t, p in cases] == [None] * 3
    assert not list_entries(mine).set_index("path").reindex(first).current.fillna(False).astype(bool).any()
    _assert_computed_again(mine, cases, first, _new_store(tmp_path / "fresh.zarr", new), computed=False)


@pytest.mark.slow
@pytest.mark.parametrize("cache", [True, False], ids=["cached", "plain"])
def test_an_object_store_rewritten_by_another_handle_finds_nothing_stale(s3_server, s3_study, tmp_path, cache):
    """On an object store (sets and entries read in batches, kept by version token), a set rewritten
    by another handle: nothing stale is found by the handle that computed the entries."""
    options, _ = s3_server
    sets = _initial()
    writer = s3_study({}, layer=False)
    url = writer.url
    for name, da in sets.items():
        _write(writer, name, da)
    mine = nx.StudyStore(url, storage_options=options, cache=cache)
    cases = [("forward", "net.l1", "mA", {"reps": 2}), ("cka", "net.l1", "mA", {}), ("dimensionality", "mA", None, {})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(mine, k, s, t, params=p).path for k, s, t, p in cases]
    other = nx.StudyStore(url, storage_options=options)
    new = _rewrite(other, _rewrite(other, sets, "net.l1", "values"), "mA", "attrs")
    assert [lookup(mine, k, s, t, params=p) for k, s, t, p in cases] == [None] * 3
    assert not list_entries(mine).set_index("path").loc[first].current.any()
    _assert_computed_again(mine, cases, first, _new_store(tmp_path / "fresh.zarr", new))


# ------------------------------------------------------------------ a resumed sweep and the report
def _numbers(table):
    cols = [c for c in table.columns if not c.endswith(("key", "path"))]  # a path holds its store's tokens
    return table[cols].sort_values([c for c in cols if table[c].dtype == object]).reset_index(drop=True)


@pytest.mark.slow
def test_a_resumed_sweep_and_the_report_after_a_region_relabel(tmp_path):
    """mA's region labels swapped (same values): the resumed sweep computes again every entry that reads
    mA (directions, metrics, their inference, whole set and region), reads back the others, and its
    tables equal a sweep of a new store; the report draws the new entries, never the stale ones."""
    import pandas as pd

    from neuroxr.report import score_table, write_report
    from neuroxr.sweep import sweep

    kw = dict(layers={"net": ["l1"]}, neural=["mA", "mB"], regions=["all", "IT"], reps=2, seed=1,
              directions=["forward", "inter_animal", "cka", "rsa", "dimensionality"], progress=False,
              inference={"bootstrap": 5, "permutations": 3}, client="serial")
    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = sweep(st.url, **kw)
        sets = _rewrite(st, sets, "mA", "regions")
        after = sweep(st.url, **kw)
        fresh = sweep(_new_store(tmp_path / "fresh.zarr", sets).url, **kw)
    reads = {k for k in first.computed if "mA" in k}
    assert reads and sorted(after.computed) == sorted(reads)
    assert sorted(after.skipped) == sorted(set(first.computed) - reads)
    assert all("mA" not in p for p in after.inference_skipped) and any("mA" in p for p in after.inference_computed)
    for name in ("table", "metric_table", "inference_table"):
        pd.testing.assert_frame_equal(_numbers(getattr(after, name)), _numbers(getattr(fresh, name)), rtol=1e-9,
                                      obj=name)
    current = list_entries(st).set_index("path").current
    assert current[after.table.path].all() and current[after.inference_computed].all()
    table, _ = score_table(st.url)  # the report draws the resumed sweep's entries, never the stale ones
    drawn = set(table.loc[table["in_figures"], "path"])
    assert {p for p in after.table.path if p.startswith("scores/forward/")} <= drawn <= set(after.table.path)
    stale = set(table.loc[~table["current"], "path"])
    assert stale == {p for p in first.table.path if "mA" in p}
    page = write_report(st.url, tmp_path / "rep", "md", reliability=False, n_boot=20).read_text()
    assert all(f"| {p} | {p.split('/')[1]} | stale |" in page for p in stale)


@pytest.mark.parametrize("name", ["mA", "net.l1"])
def test_a_set_rewritten_from_its_own_lazy_read_is_the_new_values(tmp_path, name):
    """``write_*(name, 2 * read(name) + 1)`` with the read lazy (its chunks read while the new copy is
    written): the entries computed again equal a new store's holding the loaded new values."""
    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    cases = _reads(name, ("forward", "reverse", "cka", "dimensionality"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = [compute(st, k, s, t, params=p).path for k, s, t, p in cases]
    lazy = st.read_neural(name) if not name.startswith("net.") else st.read_features("net", name.split(".", 1)[1])
    assert lazy.chunks is not None
    _write(st, name, lazy * 2.0 + 1.0)
    new = {**sets, name: sets[name] * 2.0 + 1.0}
    fresh_store = _new_store(tmp_path / "fresh.zarr", new)
    np.testing.assert_array_equal(_new_store(tmp_path / "x.zarr", {name: new[name]}).read_dataset(_set_path(name))["data"],
                                  st.read_dataset(_set_path(name))["data"])
    for (k, s, t, p), old in zip(cases, first):
        assert lookup(st, k, s, t, params=p) is None
        again, fresh = _compute_or_error(st, k, s, t, p)[0], _compute_or_error(fresh_store, k, s, t, p)[0]
        assert again.computed and again.path != old
        assert_same_entry(again.dataset, fresh.dataset, k)


def test_the_store_tables_after_a_rewritten_layer(tmp_path):
    """store_cka and store_dimensionality read their entries back (nothing computed twice) and, after a
    layer is rewritten, equal the tables of a new store holding the new sets."""
    from neuroxr.entries import store_cka, store_dimensionality

    sets = _initial()
    st = _new_store(tmp_path / "s.zarr", sets)
    store_cka(st), store_dimensionality(st)
    n = len(list_entries(st))
    store_cka(st), store_dimensionality(st)
    assert len(list_entries(st)) == n
    sets = _rewrite(st, sets, "net.l2", "values")
    fresh = _new_store(tmp_path / "fresh.zarr", sets)
    xr.testing.assert_allclose(store_cka(st), store_cka(fresh), rtol=1e-9)
    xr.testing.assert_allclose(store_dimensionality(st), store_dimensionality(fresh), rtol=1e-9)
