"""StudyStore.damaged(): what Zarr hides (lost metadata, lost chunks, undecodable chunks, lost variables)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import xarray as xr
import zarr
from click.testing import CliRunner
from conftest import as_older_writer

from neuroxr.cli import main
from neuroxr.entries import provenance as _p
from neuroxr.layouts import features, neural
from neuroxr.store import COMPLETE_ATTR, VARS_ATTR, StoreError, StudyStore

PROV = _p.make("forward", "net.fc", "monkeyA", {"seed": 0}, {})
SCORE = f"scores/forward/net.fc__monkeyA/{_p.key(PROV)}"  # any group: damage is found by path (under its real key)


def _scores(k=6, reps=3):
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {"ev": (("neuroid", "rep"), rng.uniform(0, 100, size=(k, reps))), "r": (("neuroid",), rng.uniform(size=k))},
        coords={"neuroid_id": ("neuroid", [f"n{j}" for j in range(k)]), "rep": np.arange(reps)},
        attrs={"direction": "forward", "seed": 0, _p.PROVENANCE_ATTR: PROV, _p.KEY_ATTR: _p.key(PROV)},
    )


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    st = StudyStore(tmp_path / "study.zarr")
    ids = [f"img{i}" for i in range(8)]
    st.write_neural("monkeyA", neural(rng.normal(size=(8, 6, 3)), ids, [f"n{j}" for j in range(6)]))
    st.write_features("net", "fc", features(rng.normal(size=(8, 12)), ids, model="net", layer="fc"), unit_chunk=4)
    st.write_dataset(SCORE, _scores())
    return st


def _file(store, *parts):
    return os.path.join(store.url, *parts)


def test_clean_store_has_no_damage(store):
    assert store.damaged() == [] and store.damaged(values=True) == []
    g = zarr.open_group(store._zstore, path=SCORE, mode="r")
    assert g.attrs[COMPLETE_ATTR] and sorted(g.attrs[VARS_ATTR]) == sorted(["ev", "r", "neuroid_id", "rep"])


def test_missing_group_metadata(store):
    os.remove(_file(store, *SCORE.split("/"), "zarr.json"))
    assert SCORE not in [p for _, p, _ in store.entries()]  # Zarr no longer lists the entry ...
    (path, problem), = store.damaged()  # ... the scan does
    assert path == SCORE and "missing metadata document" in problem and "of a group" in problem


def test_missing_array_metadata(store):
    os.remove(_file(store, "features", "net", "fc", "data", "zarr.json"))
    problems = store.damaged()
    assert {p for p, _ in problems} == {"features/net/fc"} and len(problems) == 2
    text = "\n".join(p for _, p in problems)
    assert "missing metadata document features/net/fc/data/zarr.json of an array" in text
    assert "marked complete but its variables ['data'] are missing" in text


def test_missing_chunk_is_not_nan_fill(store):
    os.remove(_file(store, "features", "net", "fc", "data", "c", "0", "1"))
    lazy = store.read_features("net", "fc")  # opening is lazy and fine; the intact chunks read back
    np.testing.assert_array_equal(np.isnan(lazy[:, :4].values), False)
    with pytest.raises(StoreError, match=r"'features/net/fc' variable 'data' cannot be read: its chunk 0/1 is missing"
                                         r".*re-extract the layer or rewrite it") as info:
        lazy.load()  # Zarr alone would hand back NaN here
    assert "\n" not in str(info.value)
    (path, problem), = store.damaged()
    assert path == "features/net/fc" and "array 'data': 1 of 3 chunks missing (e.g. c/0/1)" in problem
    assert store.damaged(path="features/net/fc") == [(path, "array 'data': 1 of 3 chunks missing (e.g. c/0/1); "
                                                            "they would read as fill values (NaN)")]
    assert store.damaged(path="neural/monkeyA") == [] and store.damaged(path="nothing/here") == []


def test_lost_variable_or_coordinate_chunk_is_refused_when_opened(store):
    os.remove(_file(store, *SCORE.split("/"), "neuroid_id", "c", "0"))  # a coordinate: read when opened
    with pytest.raises(StoreError, match=f"entry '{SCORE}' is damaged \\(array 'neuroid_id': 1 of 1 chunks missing"):
        store.read_dataset(SCORE)
    shutil.rmtree(_file(store, "neural", "monkeyA", "data"))
    with pytest.raises(StoreError, match=r"the neural set 'monkeyA' \(neural/monkeyA\) is damaged \(marked complete "
                                         r"but its variables \['data'\] are missing\); rewrite the set"):
        store.read_neural("monkeyA")


def test_undecodable_chunk_needs_values(store):
    with open(_file(store, "neural", "monkeyA", "data", "c", "0", "0", "0"), "wb") as f:
        f.write(b"not a chunk")
    assert store.damaged() == []
    (path, problem), = store.damaged(values=True)
    assert path == "neural/monkeyA" and "array 'data': 1 chunks cannot be read" in problem
    assert problem.endswith("; rewrite the set")  # a set is written again, not "rewrite the entry"


def test_complete_entry_with_a_lost_variable(store):
    shutil.rmtree(_file(store, *SCORE.split("/"), "ev"))
    assert store.damaged() == [(SCORE, "marked complete but its variables ['ev'] are missing; rewrite the entry")]
    shutil.rmtree(_file(store, "features", "net", "fc", "data"))
    assert ("features/net/fc", "marked complete but its variables ['data'] are missing; rewrite the set") in store.damaged()


def test_chunks_absent_at_write_time_are_not_damage(store):
    # an in-place writer (zarr's default skips chunks equal to the fill value) marks its entry complete
    g = zarr.open_group(store._zstore, path="cache/thing", mode="w")
    a = g.create_array("x", shape=(4,), chunks=(2,), dtype="f8", fill_value=0.0)
    a[:] = [0.0, 0.0, 1.0, 2.0]
    store.mark_complete("cache/thing")
    assert not os.path.exists(_file(store, "cache", "thing", "x", "c", "0"))
    assert store.damaged() == []
    os.remove(_file(store, "cache", "thing", "x", "c", "1"))
    assert [p for p, _ in store.damaged()] == ["cache/thing"]


def _validate(store, *args):
    return CliRunner().invoke(main, ["validate", store.url, *args])


def test_validate_cli_flags_a_lost_variable(store):
    assert _validate(store).exit_code == 0
    shutil.rmtree(_file(store, *SCORE.split("/"), "ev"))
    res = _validate(store)
    assert res.exit_code == 1 and SCORE in res.output


@pytest.mark.parametrize("damage", ["group metadata", "chunk"])
def test_validate_cli_flags_what_zarr_hides(store, damage):
    if damage == "group metadata":
        os.remove(_file(store, *SCORE.split("/"), "zarr.json"))
        where = SCORE
    else:
        os.remove(_file(store, "features", "net", "fc", "data", "c", "0", "1"))
        where = "features/net/fc"
    res = _validate(store)
    assert res.exit_code == 1 and where in res.output


@pytest.mark.parametrize("edit", ["params", "inputs", "dropped"])
def test_validate_flags_an_entry_whose_provenance_was_edited(store, edit):
    import json

    from neuroxr.entries import compute, list_entries

    path = compute(store, "cka", "net.fc", "monkeyA").path
    assert _validate(store).exit_code == 0 and list_entries(store).set_index("path").loc[path, "current"]
    doc_file = _file(store, *path.split("/"), "zarr.json")
    doc = json.load(open(doc_file))
    prov = doc["attributes"]["neuroxr_provenance"]
    if edit == "params":  # the numbers shown under other parameters
        prov["params"]["debiased"] = not prov["params"]["debiased"]
    elif edit == "inputs":  # shown as computed from the current layer
        prov["inputs"]["features/net/fc"] = "another-token"
    else:  # a keyed entry without its provenance: nothing says what its numbers are
        del doc["attributes"]["neuroxr_provenance"]
    json.dump(doc, open(doc_file, "w"))
    res = _validate(store)
    assert res.exit_code == 1 and f"{path}: its provenance does not hash to its key" in res.output
    assert not list_entries(store).set_index("path").loc[path, "current"]  # the listing (info, report) agrees
    assert not list_entries(StudyStore(store.url, mode="r")).set_index("path").loc[path, "current"]  # from a fresh reader


@pytest.mark.parametrize("edit", ["params", "inputs"])
def test_an_entry_whose_provenance_was_edited_is_never_handed_back(store, edit):
    """Neither the request it was computed for nor the one its edited provenance shows reaches it:
    lookup finds nothing, compute computes the entry again (the numbers of a fresh store)."""
    import json

    from neuroxr.entries import compute, lookup

    kw = {"debiased": False}
    first = compute(store, "cka", "net.fc", "monkeyA", params=kw)
    doc_file = _file(store, *first.path.split("/"), "zarr.json")
    doc = json.load(open(doc_file))
    prov = doc["attributes"]["neuroxr_provenance"]
    if edit == "params":
        prov["params"]["debiased"] = True
    else:
        prov["inputs"]["features/net/fc"] = "another-token"
    json.dump(doc, open(doc_file, "w"))
    assert lookup(store, "cka", "net.fc", "monkeyA", params=kw) is None
    assert lookup(store, "cka", "net.fc", "monkeyA", params={"debiased": True}) is None
    again = compute(StudyStore(store.url), "cka", "net.fc", "monkeyA", params=kw)
    assert again.computed and again.path == first.path
    xr.testing.assert_identical(again.dataset, first.dataset)
    assert lookup(store, "cka", "net.fc", "monkeyA", params=kw) == first.path  # the recomputed entry matches again


def test_a_changed_byte_in_a_chunk_is_damage_never_other_numbers(store):
    """Chunks carry zstd's content checksum: a flipped byte (bit rot) fails to decode, so reads raise
    and damaged(values=True) names the chunk, instead of handing back other numbers."""
    from neuroxr.store import StoreError

    for group, chunk in (("neural/monkeyA", ("data", "c", "0", "0", "0")), ("features/net/fc", ("data", "c", "0", "1"))):
        path = _file(store, *group.split("/"), *chunk)
        raw = bytearray(open(path, "rb").read())
        raw[len(raw) // 2] ^= 0x01
        with open(path, "wb") as f:
            f.write(bytes(raw))
        (where, problem), = [d for d in store.damaged(values=True) if d[0] == group]
        assert "array 'data': 1 chunks cannot be read" in problem
    with pytest.raises(StoreError, match="cannot be read"):
        store.read_neural("monkeyA").load()
    with pytest.raises(StoreError, match="cannot be read"):
        store.read_features("net", "fc").load()


def _edit_attrs(store, path, **edits):
    import json

    doc_file = _file(store, *path.split("/"), "zarr.json")
    doc = json.load(open(doc_file))
    for k, v in edits.items():
        if v is None:
            del doc["attributes"][k]
        else:
            doc["attributes"][k] = v
    json.dump(doc, open(doc_file, "w"))


def test_a_gram_whose_statistics_were_edited_is_never_trusted(store):
    """The Gram's attrs (n_units, mu, m2, max_abs ...) feed later entries (here the effective
    dimensionality's unit count): edited after the write, the Gram is flagged, not current, never
    handed back, and computed again, so the later entry gets the layer's own statistics."""
    import warnings

    from neuroxr.entries import compute, list_entries, lookup

    gram = compute(store, "gram", "net.fc")
    _edit_attrs(store, gram.path, n_units=999)
    assert not list_entries(store).set_index("path").loc[gram.path, "current"]
    res = _validate(store)
    assert res.exit_code == 1 and f"{gram.path}: its attrs were edited after it was written" in res.output
    assert lookup(StudyStore(store.url), "gram", "net.fc") is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dim = compute(StudyStore(store.url), "dimensionality", "net.fc").dataset
    assert any("its attrs were edited after it was written" in str(w.message) for w in caught)
    assert dim.attrs["n_units"] == 12 == StudyStore(store.url).read_features("net", "fc").sizes["unit"]
    again = compute(StudyStore(store.url), "gram", "net.fc")
    assert not again.computed and again.dataset.attrs["n_units"] == 12 and _validate(store).exit_code == 0


def test_a_gram_written_without_the_attrs_digest_is_computed_once_more(store):
    """A Gram of an earlier neuroxr has no digest: its statistics cannot be checked, so it is computed
    again, silently (once: the new copy has the digest)."""
    import warnings

    from neuroxr.entries import compute, lookup

    path = compute(store, "gram", "net.fc").path
    _edit_attrs(store, path, n_units=999)
    as_older_writer(zarr.open_group(store._zstore, path=path, mode="r+"))
    assert lookup(StudyStore(store.url), "gram", "net.fc") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = compute(StudyStore(store.url), "gram", "net.fc")
    assert again.computed and again.dataset.attrs["n_units"] == 12
    assert not compute(StudyStore(store.url), "gram", "net.fc").computed


def test_an_entry_whose_counts_were_edited_is_computed_again(store):
    """Any attr of an entry counts, not only a Gram's: a cka entry whose count of left-out stimuli
    was edited is not handed back; it is computed again, as it was first written."""
    import warnings

    from neuroxr.entries import compute

    first = compute(store, "cka", "net.fc", "monkeyA")
    _edit_attrs(store, first.path, n_excluded_stimuli=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute(StudyStore(store.url), "cka", "net.fc", "monkeyA")
    assert again.computed and any("its attrs were edited" in str(w.message) for w in caught)
    xr.testing.assert_identical(again.dataset, first.dataset)
    assert StudyStore(store.url).read_dataset(first.path).attrs["n_excluded_stimuli"] == 0


@pytest.mark.parametrize("edit", ["provenance", "attrs"])
def test_info_names_an_edited_entry(store, edit):
    """neuroxr info says an entry was edited, not that its inputs were rewritten."""
    import json

    from neuroxr.entries import compute

    path = compute(store, "cka", "net.fc", "monkeyA").path
    if edit == "provenance":
        prov = StudyStore(store.url).examine(path).attrs["neuroxr_provenance"]
        _edit_attrs(store, path, neuroxr_provenance={**prov, "params": {"debiased": True}})
    else:
        _edit_attrs(store, path, n_stimuli=7)
    summary = json.loads(CliRunner().invoke(main, ["info", "--json", store.url]).output)
    (entry,) = [e for e in summary["metrics"] if e["path"] == path]
    assert entry["status"] == "edited (attrs changed after the write)"


def _hide_loss(store, path, edit):
    """Lose data of the complete group ``path`` and edit its completion records to hide it: a chunk
    of its first data variable deleted and listed absent (``"absent"``), or that variable deleted
    and dropped from the list of arrays (``"vars"``)."""
    import json

    from neuroxr.store.integrity import chunk_keys

    name = sorted(xr.open_zarr(store._zstore, group=path, consolidated=False).data_vars)[0]
    folder = _file(store, *path.split("/"), name)
    if edit == "absent":
        chunk = chunk_keys(json.load(open(os.path.join(folder, "zarr.json"))))[-1]
        os.remove(os.path.join(folder, *chunk.split("/")))
        _edit_attrs(store, path, neuroxr_absent_chunks={name: [chunk]})
    else:
        shutil.rmtree(folder)
        recorded = zarr.open_group(store._zstore, path=path, mode="r").attrs[VARS_ATTR]
        _edit_attrs(store, path, neuroxr_vars=[v for v in recorded if v != name])


@pytest.mark.parametrize("edit", ["absent", "vars"])
def test_a_loss_hidden_in_the_completion_records_is_damage(store, edit):
    """A lost chunk listed in neuroxr_absent_chunks after the write, or a lost array dropped from
    neuroxr_vars, no longer hash to the digest written with the completion flag: damaged() and
    validate name the set, a read refuses it (never NaN fill or a dataset short of a variable)."""
    path = "features/net/fc"
    _hide_loss(store, path, edit)
    fresh = StudyStore(store.url, mode="r")
    assert any(p == path and "were edited after the write" in m for p, m in fresh.damaged())
    (where, problem), *_ = fresh.damaged(path=path)
    assert where == path and "neuroxr_absent_chunks" in problem
    res = _validate(store)
    assert res.exit_code == 1 and f"{path}: damaged: its records of arrays and absent chunks" in res.output
    assert f"- {path}: store " not in res.output  # said by the scan, not once more by the reader it stopped
    with pytest.raises(StoreError, match="feature set 'net.fc' .* is damaged .*edited after the write"):
        fresh.read_features("net", "fc").load()


@pytest.mark.parametrize("edit", ["absent", "vars"])
def test_an_entry_whose_completion_records_were_edited_is_computed_again(store, edit):
    import warnings

    from neuroxr.entries import compute, lookup

    first = compute(store, "rsa", "net.fc", "monkeyA")
    _hide_loss(store, first.path, edit)
    res = _validate(store)
    assert res.exit_code == 1 and f"{first.path}: damaged: its records of arrays and absent chunks" in res.output
    assert f"- {first.path}: store " not in res.output  # said by the scan, not once more by the reader it stopped
    assert lookup(StudyStore(store.url), "rsa", "net.fc", "monkeyA") is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute(StudyStore(store.url), "rsa", "net.fc", "monkeyA")
    assert again.computed and any("edited after the write" in str(w.message) for w in caught)
    xr.testing.assert_identical(again.dataset, first.dataset)
    assert StudyStore(store.url).damaged() == []


def test_a_group_completed_without_the_records_digest_reads_as_before(store):
    """Sets and entries completed by an earlier neuroxr have no neuroxr_marks_digest: they read,
    list as current and are handed back as before (their records are trusted, not recomputed)."""
    from neuroxr.entries import compute, list_entries, lookup
    from neuroxr.store._zarr import DIGEST_ATTR, MARKS_ATTR

    def as_older(path):  # one that recorded the attrs digest alone
        group = zarr.open_group(store._zstore, path=path, mode="r+")
        assert MARKS_ATTR in group.attrs
        as_older_writer(group, keep=[DIGEST_ATTR])

    as_older("features/net/fc")
    as_older("neural/monkeyA")
    entry = compute(StudyStore(store.url), "rsa", "net.fc", "monkeyA")
    as_older(entry.path)
    fresh = StudyStore(store.url, mode="r")
    assert fresh.damaged() == [] and _validate(store).exit_code == 0
    np.testing.assert_array_equal(fresh.read_features("net", "fc").values, store.read_features("net", "fc").values)
    assert MARKS_ATTR not in fresh.read_dataset(entry.path).attrs
    assert list_entries(fresh).set_index("path").loc[entry.path, "current"]
    assert lookup(fresh, "rsa", "net.fc", "monkeyA") == entry.path
    again = compute(StudyStore(store.url), "rsa", "net.fc", "monkeyA")
    assert not again.computed
    xr.testing.assert_identical(again.dataset, entry.dataset)


# ---------------------------------------------------------------------------- digests a writer says it recorded
def test_an_entry_whose_writer_recorded_digests_is_never_trusted_without_them(store):
    """Deleting both digests of an edited entry does not make it pass for an older writer's: its token
    says its writer records them. Not current, not handed back, computed again (or refused), named by validate."""
    import warnings

    from neuroxr.entries import compute, list_entries, lookup
    from neuroxr.store._zarr import DIGEST_ATTR, MARKS_ATTR, attrs_edited, marks_edited

    first = compute(store, "cka", "net.fc", "monkeyA")
    _edit_attrs(store, first.path, n_excluded_stimuli=3, **{DIGEST_ATTR: None, MARKS_ATTR: None})
    fresh = StudyStore(store.url, mode="r")
    assert not list_entries(fresh).set_index("path").loc[first.path, "current"]
    assert lookup(fresh, "cka", "net.fc", "monkeyA") is None
    attrs = fresh.group_attrs(first.path)
    assert attrs_edited(attrs) and marks_edited(attrs)
    res = _validate(store)
    assert res.exit_code == 1 and first.path in res.output and "which its writer records, is gone" in res.output
    assert any(p == first.path and "edited after the write" in m for p, m in fresh.damaged())
    with pytest.raises(StoreError, match="matches the request but is damaged .*the digest its writer recorded then is gone"):
        compute(StudyStore(store.url), "cka", "net.fc", "monkeyA", require_existing=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute(StudyStore(store.url), "cka", "net.fc", "monkeyA")
    assert again.computed and any("the digest its writer recorded then is gone" in str(w.message) for w in caught)
    xr.testing.assert_identical(again.dataset, first.dataset)
    assert _validate(store).exit_code == 0


def test_an_entry_whose_token_and_digests_were_deleted_is_never_trusted(store):
    """Every neuroxr that keyed entries gave each a version token: a keyed entry without one (its
    digests deleted too, so nothing else tells the edit) is edited, not an older writer's."""
    import json
    import warnings

    from neuroxr.entries import compute, list_entries, lookup
    from neuroxr.store._zarr import DIGEST_ATTR, MARKS_ATTR, TOKEN_ATTR

    first = compute(store, "cka", "net.fc", "monkeyA")
    _edit_attrs(store, first.path, n_excluded_stimuli=3, **{DIGEST_ATTR: None, MARKS_ATTR: None, TOKEN_ATTR: None})
    fresh = StudyStore(store.url, mode="r")
    assert not list_entries(fresh).set_index("path").loc[first.path, "current"]
    assert lookup(fresh, "cka", "net.fc", "monkeyA") is None
    summary = json.loads(CliRunner().invoke(main, ["info", "--json", store.url]).output)
    (entry,) = [e for e in summary["metrics"] if e["path"] == first.path]
    assert entry["status"] == "edited (attrs changed after the write)"
    res = _validate(store)  # says what is gone, not that the attrs fail to hash to a digest
    assert res.exit_code == 1 and first.path in res.output and "or that digest or its version token" in res.output
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute(StudyStore(store.url), "cka", "net.fc", "monkeyA")
    assert again.computed and any("its version token was removed" in str(w.message) for w in caught)
    xr.testing.assert_identical(again.dataset, first.dataset)


def test_an_older_writers_entry_without_digests_is_trusted_as_before(store):
    """The same entry as a neuroxr that recorded no digests wrote it (its token without their mark)
    reads, lists as current and is handed back."""
    from neuroxr.entries import compute, list_entries, lookup

    entry = compute(store, "cka", "net.fc", "monkeyA")
    as_older_writer(zarr.open_group(store._zstore, path=entry.path, mode="r+"))
    fresh = StudyStore(store.url, mode="r")
    assert fresh.damaged() == [] and _validate(store).exit_code == 0
    assert list_entries(fresh).set_index("path").loc[entry.path, "current"]
    assert lookup(fresh, "cka", "net.fc", "monkeyA") == entry.path
    assert not compute(StudyStore(store.url), "cka", "net.fc", "monkeyA").computed


def _staged_layer(store, path, attrs):
    """A layer written as extraction writes it: begin_write, the group written by hand, commit_write."""
    url = store.begin_write(path)
    rng = np.random.default_rng(1)
    da = features(rng.normal(size=(8, 5)), [f"img{i}" for i in range(8)], model="net", layer="x")
    ds = da.rename(None).to_dataset(name="data")
    ds = ds.assign_coords({k: c.astype(object) for k, c in ds.coords.items() if c.dtype.kind == "U"})
    ds.attrs = dict(attrs)
    target = url if store._local is not None else store._zstore
    ds.to_zarr(target, mode="w", consolidated=False, **({} if store._local is not None else {"group": path}))
    store.commit_write(path, url)


@pytest.mark.parametrize("how", ["write_neural", "write_features", "staged"])
def test_every_set_write_records_the_attrs_digest(store, how):
    """Neural sets, feature sets and layers written through begin_write / commit_write (extraction's
    path) all record the digest of their attrs, which hashes the attrs as stored."""
    from neuroxr.store._zarr import DIGEST_ATTR, attrs_digest, attrs_edited

    rng = np.random.default_rng(0)
    ids = [f"img{i}" for i in range(8)]
    if how == "write_neural":
        da = neural(rng.normal(size=(8, 6, 3)), ids, [f"n{j}" for j in range(6)])
        da.attrs["units"] = "spikes/s"
        store.write_neural("monkeyB", da)
        path = "neural/monkeyB"
    elif how == "write_features":
        da = features(rng.normal(size=(8, 12)), ids, model="net", layer="fc2")
        da.attrs["reduction"] = {"method": "pca", "n_components": 4}
        store.write_features("net", "fc2", da)
        path = "features/net/fc2"
    else:
        path = "features/net/x"
        _staged_layer(store, path, {"module_name": "x", "reduction": {"method": "pca", "n_components": 4}})
    attrs = StudyStore(store.url, mode="r").group_attrs(path)
    assert attrs.get(DIGEST_ATTR) == attrs_digest(attrs) and not attrs_edited(attrs)


@pytest.mark.parametrize("path", ["neural/monkeyA", "features/net/fc", "features/net/x"])
def test_a_set_whose_attrs_were_edited_feeds_no_computation(store, path):
    """A set's attrs describe its data (a layer's reduction and identity, units): edited after the
    write, the set is refused with one line naming it and the fix, is damage for damaged() and
    validate, and the entries computed from it are no longer current."""
    from neuroxr.entries import compute, list_entries

    if path == "features/net/x":
        _staged_layer(store, path, {"module_name": "x"})
    source = "net." + path.rpartition("/")[2] if path.startswith("features") else "net.fc"
    target = "monkeyA"
    entry = compute(store, "cka", source, target)
    _edit_attrs(store, path, module_name="y", units="mV")
    fresh = StudyStore(store.url, mode="r")
    fix = "rewrite the set" if path.startswith("neural") else "re-extract the layer"
    with pytest.raises(StoreError, match=rf"{path}\) is damaged \(its attrs were edited after the write.*; {fix}") as info:
        fresh.read_dataset(path)
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match="its attrs were edited after the write"):
        compute(StudyStore(store.url), "rsa", source, target)
    with pytest.raises(StoreError, match="its attrs were edited after the write"):
        fresh.check_intact(path)
    assert any(p == path and "its attrs were edited" in m for p, m in fresh.damaged())
    assert any(p == path and "its attrs were edited" in m for p, m in fresh.damaged(values=True))
    res = _validate(store)
    assert res.exit_code == 1 and f"{path}: damaged: its attrs were edited after the write" in res.output
    assert not list_entries(fresh).set_index("path").loc[entry.path, "current"]
    # info says so: the set is damaged (not an unnamed read error), its entry stale by that damage
    summary = json.loads(CliRunner().invoke(main, ["info", "--json", store.url]).output)
    (row,) = [e for e in summary["metrics"] if e["path"] == entry.path]
    assert row["status"] == "stale (input damaged)"
    sets = summary["neural"] if path.startswith("neural") else summary["features"]
    assert [e["dtype"] for e in sets if path.endswith("/" + e.get("name", e.get("layer")))] == ["damaged (see below)"]


def test_an_older_writers_set_without_the_digest_still_computes(store):
    """A set written before the digest (none at all, its token without the mark) cannot be checked:
    it reads and computes as before, whatever its attrs say."""
    from neuroxr.entries import compute, list_entries

    _edit_attrs(store, "features/net/fc", units="a.u.")
    as_older_writer(zarr.open_group(store._zstore, path="features/net/fc", mode="r+"))
    fresh = StudyStore(store.url)
    assert fresh.damaged() == [] and fresh.read_features("net", "fc").attrs["units"] == "a.u."
    entry = compute(fresh, "cka", "net.fc", "monkeyA")
    assert list_entries(fresh).set_index("path").loc[entry.path, "current"]


def _edit_array_attrs(store, path, name, **edits):
    import json

    doc_file = _file(store, *path.split("/"), name, "zarr.json")
    doc = json.load(open(doc_file))
    doc.setdefault("attributes", {}).update(edits)
    json.dump(doc, open(doc_file, "w"))


def test_a_set_whose_arrays_attrs_were_edited_never_reads_transformed_values(store):
    """xarray decodes an array's scale_factor: added after the write, every value would read doubled.
    The completion marker records the digest of the arrays' attrs, so the set is damage: refused."""
    _edit_array_attrs(store, "features/net/fc", "data", scale_factor=2.0)
    fresh = StudyStore(store.url, mode="r")
    with pytest.raises(StoreError, match=r"feature set 'net.fc' .* is damaged \(its arrays' metadata \(data type"):
        fresh.read_features("net", "fc")
    assert any(p == "features/net/fc" and "arrays' metadata" in m for p, m in fresh.damaged())
    res = _validate(store)
    assert res.exit_code == 1 and "features/net/fc: damaged: its arrays' metadata" in res.output
    as_older_writer(zarr.open_group(store._zstore, path="features/net/fc", mode="r+"))  # no digest: as before
    assert StudyStore(store.url, mode="r").damaged() == []


def test_an_entry_whose_arrays_attrs_were_edited_is_computed_again(store):
    import warnings

    from neuroxr.entries import compute, lookup

    first = compute(store, "rsa", "net.fc", "monkeyA")
    name = sorted(first.dataset.data_vars)[0]
    _edit_array_attrs(store, first.path, name, scale_factor=2.0, add_offset=1.0)
    assert lookup(StudyStore(store.url), "rsa", "net.fc", "monkeyA") is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute(StudyStore(store.url), "rsa", "net.fc", "monkeyA")
    assert again.computed and any("arrays' metadata" in str(w.message) for w in caught)
    xr.testing.assert_identical(again.dataset, first.dataset)
    xr.testing.assert_identical(StudyStore(store.url).read_dataset(first.path).load(), first.dataset)


def test_an_entry_whose_completion_records_were_edited_is_not_current(store):
    """list_entries' current looks at what the entry's document tells without a listing of its
    chunks: completion records edited after the write (a lost chunk listed absent) are not current."""
    from neuroxr.entries import compute, list_entries

    entry = compute(store, "rsa", "net.fc", "monkeyA")
    assert list_entries(StudyStore(store.url, mode="r")).set_index("path").loc[entry.path, "current"]
    _hide_loss(store, entry.path, "absent")
    assert not list_entries(StudyStore(store.url, mode="r")).set_index("path").loc[entry.path, "current"]


def test_keys_and_digests_are_hashed_as_before(store):
    """Provenance keys and the store's digests share one formula now; existing stores' values are
    unchanged: recomputed here with the formulas each module had."""
    import hashlib
    import json

    from neuroxr.entries import compute
    from neuroxr.store._zarr import ARRAYS_ATTR, MARKED_ATTRS, STORE_ATTRS, attrs_digest, marks_digest

    def old_key(prov):
        text = json.dumps(prov, sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def old_hash(body):
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    entry = compute(store, "shape", "net.fc", "monkeyA", params={"alpha": 0.5})
    attrs = StudyStore(store.url, mode="r").group_attrs(entry.path)
    prov = attrs[_p.PROVENANCE_ATTR]
    assert _p.key(prov) == old_key(prov) == entry.path.rpartition("/")[2]
    odd = _p.make("forward", "a.b", "c", {"x": float("nan"), "y": [1, None, "z"]}, {"neural/c": "t"})
    assert _p.key(odd) == old_key(odd)
    with pytest.raises(TypeError):  # a provenance holds JSON values only, as before
        _p.key({"x": object()})
    assert attrs_digest(attrs) == old_hash({k: v for k, v in attrs.items() if k not in STORE_ATTRS})
    before = {k: v for k, v in attrs.items() if k != ARRAYS_ATTR}  # a group completed before that digest
    assert marks_digest(before) == old_hash({k: attrs.get(k) for k in MARKED_ATTRS})
    assert attrs_digest({"x": np.float32(1.5), "y": object}) == old_hash({"x": np.float32(1.5), "y": object})


@pytest.mark.parametrize("damage", [None, "attrs", "data_meta", "ids_doc", "ids_chunk", "data_chunk", "unfinished", "absent"])
def test_a_sets_ids_are_read_with_every_reads_checks(store, damage):
    """StudyStore.read_set_index: a complete set's ids, attrs, data shape and dtype without its data, as
    read_features gives them; a set that is absent, unfinished or damaged raises as its read does (a lost chunk
    of data, which a lazy read meets only when it is touched, as check_intact)."""
    path = "features/net/fc"
    if damage is None:
        got, da = store.read_set_index(path), store.read_features("net", "fc")
        assert got.stimulus_id.tolist() == da["stimulus_id"].values.tolist() and got.stimulus_id.dtype.kind == "U"
        assert got.attrs == da.attrs and got.shape == da.shape and got.dtype == da.dtype
        assert store.read_set_index("neural/monkeyA").stimulus_id.tolist() == store.read_neural("monkeyA")["stimulus_id"].values.tolist()
        return
    if damage == "attrs":
        _edit_attrs(store, path, note="edited")
    elif damage == "data_meta":
        _edit_array_attrs(store, path, "data", scale_factor=2.0)
    elif damage == "ids_doc":
        with open(_file(store, *path.split("/"), "stimulus_id", "zarr.json"), "w") as f:
            f.write("{not json")
    elif damage in ("ids_chunk", "data_chunk"):
        os.remove(_file(store, *path.split("/"), *(("stimulus_id", "c", "0") if damage == "ids_chunk" else ("data", "c", "0", "1"))))
    elif damage == "unfinished":
        zarr.open_group(store._zstore, path=path, mode="r+").attrs[COMPLETE_ATTR] = False
    else:
        path = "features/net/nothing"
    with pytest.raises(StoreError) as err:
        StudyStore(store.url, mode="r").read_set_index(path)
    with pytest.raises(StoreError) as ref:
        fresh = StudyStore(store.url, mode="r")
        fresh.check_intact(path) if damage == "data_chunk" else fresh.read_dataset(path)
    assert str(err.value) == str(ref.value) and "\n" not in str(err.value)


@pytest.mark.filterwarnings("ignore:The data type")  # Zarr's note on fixed-width strings
def test_a_write_that_did_not_finish_is_incomplete_not_damaged(store, runner):
    """A writer killed mid-write on an object store (an extraction's first pass) leaves its group in place with
    chunks unwritten and no completion marker: validate and info listed it as incomplete and also as damaged,
    'chunks missing (or never written: this group predates neuroxr's chunk records)'. It is incomplete only."""
    path = "features/net/killed"
    ds = features(np.ones((8, 6)), [f"img{i}" for i in range(8)]).to_dataset(name="data")
    ds.to_zarr(store._zstore, group=path, mode="w", consolidated=False, zarr_format=3)  # no completion marker
    os.remove(_file(store, *path.split("/"), "data", "c", "0", "0"))  # its data not written yet
    assert store.incomplete_entries() == [path] and store.damaged() == []
    res = _validate(store)
    assert res.exit_code == 1 and f"{path}: complete: the entry's write did not finish" in res.output
    assert "damaged" not in res.output and "predates" not in res.output
    res = runner.invoke(main, ["info", store.url])
    assert f"Incomplete entries (1)\n  {path}" in res.output and "Damaged entries" not in res.output
    # a complete group that lost a chunk is still damage
    os.remove(_file(store, "features", "net", "fc", "data", "c", "0", "1"))
    assert [p for p, _ in store.damaged()] == ["features/net/fc"]


def test_an_entry_whose_input_lost_a_chunk_is_not_called_current(store):
    """The listing reads no chunk, so an entry whose input set later lost one stayed 'current' in
    neuroxr info while the set was listed as damaged; it is 'stale (input damaged)'."""
    from pathlib import Path

    from neuroxr.entries import compute

    entry = compute(store, "cka", "net.fc", "monkeyA")
    chunks = [p for p in (Path(store.url) / "neural" / "monkeyA" / "data").rglob("*") if p.is_file() and "c" in p.parts]
    assert chunks
    chunks[0].unlink()
    summary = json.loads(CliRunner().invoke(main, ["info", "--json", store.url]).output)
    assert any(d["path"] == "neural/monkeyA" for d in summary["damaged"])
    (row,) = [e for e in summary["metrics"] if e["path"] == entry.path]
    assert row["status"] == "stale (input damaged)"


def test_info_lists_a_crsa_entry_whose_target_set_has_a_damaged_document(store):
    """Before: info exited 1 ('the neural set ..., the source ..., is damaged') as it resolved the
    crsa entry's target for its parameters; the set is named among the damaged, the entry stale."""
    from neuroxr.entries import compute

    entry = compute(store, "crsa", "net.fc", "monkeyA")
    with open(_file(store, "neural", "monkeyA", "zarr.json"), "w") as f:
        f.write("{broken")
    res = CliRunner().invoke(main, ["info", "--json", store.url])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert any(d["path"] == "neural/monkeyA" for d in summary["damaged"])
    (row,) = [e for e in summary["metrics"] if e["path"] == entry.path]
    assert row["status"] == "stale (input damaged)"


@pytest.mark.parametrize("attrs, want", [
    ({"neuroxr_provenance": {"inputs": {"neural/mA": "t1", "features/net/l1": "t2"}}}, {"neural/mA": "t1", "features/net/l1": "t2"}),
    ({"neuroxr_provenance": {"inputs": ["neural/mA"]}}, {}),  # edited by hand
    ({"neuroxr_provenance": ["inputs"]}, {}),
    ({"neuroxr_provenance": None}, {}),
    ({}, {}),  # an entry of 0.1.0
    (None, {}),
])
def test_the_inputs_an_entry_names_whatever_its_attrs_hold(attrs, want):
    from neuroxr.entries.provenance import PROVENANCE_ATTR, inputs

    assert PROVENANCE_ATTR == "neuroxr_provenance"
    assert inputs(attrs) == want
