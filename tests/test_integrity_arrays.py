"""The arrays' digest of a complete group: its arrays' metadata documents, whole, edited after the write.

An array's ``zarr.json`` says how its chunks read as values (data type, fill value, codecs, shape,
dimension names, attrs): one edited after the write is damage, on a local store and on an object
store (written in one batch, its documents consolidated into the group document, or in place).
"""

from __future__ import annotations

import json
import uuid
import warnings

import pytest
import xarray as xr
from click.testing import CliRunner
from conftest import small_features, small_neural

from neuroxr.cli import main
from neuroxr.store import StoreError, StudyStore, batch

#: edits of an array document that reads would not notice: (key, new value)
EDITS = {"data_type": ("data_type", "int64"), "fill_value": ("fill_value", 7.0),
         "dimension_names": ("dimension_names", None), "codecs": ("codecs", None)}


@pytest.fixture(params=["local", "batch", "in place"])
def study(request, tmp_path, monkeypatch):
    """A store with the neural set ``monkeyA`` and the feature set ``net.fc``: on a local folder, or
    on memory:// written in one batch per group (consolidated) or in place (as a set over the batch size)."""
    if request.param == "in place":
        monkeypatch.setattr(batch, "BATCH_BYTES", 0)
    url = str(tmp_path / "s.zarr") if request.param == "local" else f"memory://arrays-{uuid.uuid4().hex}/s.zarr"
    st = StudyStore(url)
    st.write_neural("monkeyA", small_neural())
    st.write_features("net", "fc", small_features())
    return st


def _edit(store, path, name, key, value=None):
    """Edit ``key`` of the metadata document of array ``name`` of group ``path`` where readers read it:
    the array's ``zarr.json``, and its copy in the group document when that consolidates it.
    ``value=None``: the dimension names reversed, or the zstd checksum dropped from the codecs."""
    zstore = store._zstore
    doc = json.loads(batch.get_many(zstore, [f"{path}/{name}/zarr.json"])[f"{path}/{name}/zarr.json"])

    def changed(meta):
        if value is not None:
            return {**meta, key: value}
        if key == "dimension_names":
            return {**meta, key: meta[key][::-1]}
        return {**meta, key: [{**c, "configuration": {**c.get("configuration", {}), "checksum": False}}
                              if c["name"] == "zstd" else c for c in meta[key]]}

    items = {f"{path}/{name}/zarr.json": json.dumps(changed(doc)).encode()}
    group = json.loads(batch.get_many(zstore, [f"{path}/zarr.json"])[f"{path}/zarr.json"])
    if batch.is_consolidated(group):
        group["consolidated_metadata"]["metadata"][name] = changed(group["consolidated_metadata"]["metadata"][name])
        items[f"{path}/zarr.json"] = json.dumps(group).encode()
    batch.put_many(zstore, items)


def test_a_freshly_written_group_reads_back_to_its_arrays_digest(study):
    """What the completion marker hashes is what every reader reads back (the arrays' own documents,
    the group document's consolidated copy): nothing damaged, an entry found again, not recomputed."""
    from neuroxr.entries import compute, lookup

    first = compute(study, "rsa", "net.fc", "monkeyA")
    fresh = StudyStore(study.url, mode="r")
    assert fresh.damaged() == [] and fresh.damaged(values=True) == []
    fresh.read_neural("monkeyA").load()
    assert lookup(fresh, "rsa", "net.fc", "monkeyA") == first.path


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("path", ["neural/monkeyA", "features/net/fc"])
def test_a_set_whose_array_metadata_was_edited_is_refused(study, path, edit):
    """``data_type`` float64 -> int64 (same item size: every value other numbers), another
    ``fill_value`` (lost chunks read as it), dimension names swapped, codecs changed: the set is
    damaged, reads refuse it in one line and ``damaged()`` names it."""
    _edit(study, path, "data", *EDITS[edit])
    fresh = StudyStore(study.url, mode="r")
    read = (lambda: fresh.read_neural("monkeyA")) if path.startswith("neural") else (lambda: fresh.read_features("net", "fc"))
    with pytest.raises(StoreError, match=r"set .* is damaged \(its arrays' metadata \(data type") as err:
        read()
    assert "\n" not in str(err.value)
    assert any(p == path and "arrays' metadata" in m for p, m in fresh.damaged())


@pytest.mark.parametrize("edit", ["data_type", "fill_value"])
def test_an_entry_whose_array_metadata_was_edited_is_computed_again(study, edit):
    from neuroxr.entries import compute, lookup

    first = compute(study, "rsa", "net.fc", "monkeyA")
    name = sorted(first.dataset.data_vars)[0]
    _edit(study, first.path, name, *EDITS[edit])
    assert any(p == first.path and "arrays' metadata" in m for p, m in StudyStore(study.url, mode="r").damaged())
    assert lookup(StudyStore(study.url), "rsa", "net.fc", "monkeyA") is None
    # info calls it damaged, not current (a listing reads no array document)
    summary = json.loads(CliRunner().invoke(main, ["info", "--json", study.url]).output)
    assert [e["status"] for e in summary["metrics"] if e["path"] == first.path] == ["damaged (see below)"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute(StudyStore(study.url), "rsa", "net.fc", "monkeyA")
    assert again.computed and any("arrays' metadata" in str(w.message) for w in caught)
    xr.testing.assert_identical(again.dataset, first.dataset)
    fresh = StudyStore(study.url, mode="r")
    assert fresh.damaged() == []
    xr.testing.assert_identical(fresh.read_dataset(first.path).load(), first.dataset)


def test_validate_names_a_set_whose_data_type_was_edited(tmp_path):
    st = StudyStore(tmp_path / "s.zarr")
    st.write_features("net", "fc", small_features())
    _edit(st, "features/net/fc", "data", *EDITS["data_type"])
    res = CliRunner().invoke(main, ["validate", st.url])
    assert res.exit_code == 1 and "features/net/fc: damaged: its arrays' metadata" in res.output


def test_a_local_copy_of_a_batch_written_store_checks_the_documents_its_readers_read(tmp_path):
    """A group written in one batch carries copies of its arrays' documents; readers of a local copy
    of the store open the arrays' own documents: one edited there is damage, not read as other numbers."""
    from zarr.storage import LocalStore

    from neuroxr.store._zarr import list_keys

    st = StudyStore(f"memory://copied-{uuid.uuid4().hex}/s.zarr")
    st.write_features("net", "fc", small_features())
    keys = list_keys(st._zstore)
    local = StudyStore(tmp_path / "s.zarr")
    batch.put_many(LocalStore(tmp_path / "s.zarr"), {k: v for k, v in batch.get_many(st._zstore, keys).items()})
    assert batch.is_consolidated(json.loads((tmp_path / "s.zarr" / "features" / "net" / "fc" / "zarr.json").read_text()))
    assert (StudyStore(local.url, mode="r").read_features("net", "fc").values == small_features().values).all()
    doc_file = tmp_path / "s.zarr" / "features" / "net" / "fc" / "data" / "zarr.json"
    doc = json.loads(doc_file.read_text())
    doc["attributes"].pop("_FillValue")
    doc_file.write_text(json.dumps({**doc, "data_type": "int64", "fill_value": 0}))  # the copy left as it was
    with pytest.raises(StoreError, match=r"feature set 'net.fc' .* is damaged \(its arrays' metadata"):
        StudyStore(local.url, mode="r").read_features("net", "fc")
