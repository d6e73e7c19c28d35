"""Object stores: a group written in one batch and read while another process rewrites it.

A reader reads the group's document, then its chunks (one concurrent batch). A rewrite falling in
between (its old keys deleted, the new copy written under the same keys) must never hand back the
chunks of one version under the document (attrs, coords, token) of another, nor chunks of two
versions: the read reads the new copy consistently, or refuses in the store's words. The rewrite is
made deterministic by a hook on the batch read of the chunks.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import xarray as xr

from neuroxr.layouts import features
from neuroxr.store import StoreError, StudyStore, batch

PATH = "features/net/fc"
IDS = [f"img{i}" for i in range(8)]


def _layer(version: str) -> xr.DataArray:
    """Version ``"A"`` or ``"B"``: other values, other stored ids order, other attrs; same shape."""
    seed, ids = (0, IDS) if version == "A" else (1, IDS[::-1])
    rng = np.random.default_rng(seed)
    return features(rng.normal(size=(8, 12)), ids, model="net", layer="fc", attrs={"version": version})


@pytest.fixture
def url():
    url = f"memory://neuroxr-read-version-{uuid.uuid4().hex}/study.zarr"
    StudyStore(url).write_features("net", "fc", _layer("A"), unit_chunk=4)  # in one batch, three data chunks
    return url


def _expected(url: str) -> dict[str, xr.DataArray]:
    """Each version as a reader with nothing in its way reads it (written, then read back alone)."""
    out = {}
    for v in ("A", "B"):
        other = f"memory://neuroxr-read-version-{uuid.uuid4().hex}/study.zarr"
        st = StudyStore(other)
        st.write_features("net", "fc", _layer(v), unit_chunk=4)
        out[v] = st.read_features("net", "fc").load()
    return out


def _rewrite_during_chunk_reads(monkeypatch, url: str, arrays: tuple[str, ...], split: bool) -> dict[str, int]:
    """The first batch read of chunks of ``PATH``'s ``arrays`` meets a rewrite of the set (version B, by
    another store object): before any of them is read (``split=False``), or after half of them (``split``:
    the chunks of two versions)."""
    real, state = batch.get_many, {"fired": 0}

    def hook(zstore, keys):
        keys = list(keys)
        chunks = [k for k in keys if any(k.startswith(f"{PATH}/{a}/c") for a in arrays)]
        if not chunks or state["fired"]:
            return real(zstore, keys)
        state["fired"] += 1
        first = keys[: len(keys) // 2] if split else []
        got = real(zstore, first)
        StudyStore(url).write_features("net", "fc", _layer("B"), unit_chunk=4)  # another process's rewrite
        got.update(real(zstore, [k for k in keys if k not in got]))
        return got

    monkeypatch.setattr(batch, "get_many", hook)
    return state


def _one_version(got: xr.DataArray, expected: dict[str, xr.DataArray]) -> str:
    """The version ``got`` is wholly (values, coords, attrs); fails on a mix."""
    for v, exp in expected.items():
        try:
            xr.testing.assert_identical(got, exp)
            return v
        except AssertionError:
            continue
    raise AssertionError(f"a mix of two versions: attrs {got.attrs}, ids {got['stimulus_id'].values.tolist()}")


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("split", [False, True], ids=["all chunks new", "chunks of both"])
def test_a_batch_read_meeting_a_rewrite_reads_one_version(url, monkeypatch, cache, split):
    expected = _expected(url)
    reader = StudyStore(url, mode="r", cache=cache)
    if cache:
        assert reader.neural_sets() == [] and reader.layers("net") == ["fc"]  # documents the listing keeps
        reader.damaged()  # the whole-store scan keeps every document too (a report's)
    state = _rewrite_during_chunk_reads(monkeypatch, url, ("data", "stimulus_id", "unit_id"), split)
    try:
        got = reader.read_features("net", "fc").load()
    except StoreError as exc:  # refused in the store's words: never numbers of a mix
        assert "rewritten" in str(exc) and "read it again" in str(exc), exc
        return
    assert state["fired"] == 1
    assert _one_version(got, expected) == "B"
    if cache:  # what the cache keeps under a version token is that version's
        again = StudyStore(url, mode="r")
        xr.testing.assert_identical(reader.read_features("net", "fc").load(), again.read_features("net", "fc").load())
        assert reader.token(PATH) == again.token(PATH)


def test_an_entry_read_in_one_batch_meeting_a_rewrite_reads_one_version(monkeypatch):
    """An entry (its path is its key) read while rewritten: the new copy's arrays and attrs, never the old
    attrs over the new chunks."""
    url = f"memory://neuroxr-read-version-{uuid.uuid4().hex}/study.zarr"
    path = "scores/forward/a__b/0123456789abcdef"

    def entry(version: str) -> xr.Dataset:
        rng = np.random.default_rng(0)  # same numbers, as two computations of one key
        return xr.Dataset({"ev": (("neuroid",), rng.normal(size=6))}, coords={"neuroid": [f"n{i}" for i in range(6)]},
                          attrs={"written_by": version})

    StudyStore(url).write_dataset(path, entry("A"))
    reader = StudyStore(url, mode="r")
    real, state = batch.get_many, {"fired": 0}

    def hook(zstore, keys):
        keys = list(keys)
        if not state["fired"] and any(k.startswith(f"{path}/ev/c") for k in keys):
            state["fired"] += 1
            StudyStore(url).write_dataset(path, entry("B"))
        return real(zstore, keys)

    monkeypatch.setattr(batch, "get_many", hook)
    got = reader.read_dataset(path).load()
    assert state["fired"] == 1
    assert got.attrs["written_by"] == "B"  # the document the chunks belong to
    xr.testing.assert_identical(got, StudyStore(url, mode="r").read_dataset(path).load())


@pytest.mark.parametrize("layout", ["batched", "in place"])
def test_a_set_index_meeting_a_rewrite_is_one_version(url, monkeypatch, layout):
    """read_set_index: the ids read after the document are the ids of the version whose attrs it gives."""
    if layout == "in place":
        monkeypatch.setattr(batch, "BATCH_BYTES", 0)
        StudyStore(url).write_features("net", "fc", _layer("A"), unit_chunk=4)  # written in place by xarray
    reader = StudyStore(url, mode="r")
    state = _rewrite_during_chunk_reads(monkeypatch, url, ("stimulus_id",), split=False)
    try:
        index = reader.read_set_index(PATH)
    except StoreError as exc:
        assert "rewritten" in str(exc) and "read it again" in str(exc), exc
        return
    assert state["fired"] == 1
    ids = {"A": IDS, "B": IDS[::-1]}[index.attrs["version"]]
    assert index.stimulus_id.tolist() == ids, (index.attrs, index.stimulus_id.tolist())


def test_a_cached_document_of_a_set_rewritten_since_reads_the_new_copy(url):
    """The documents a cached store keeps from its scan and listings name the version they read: a set
    rewritten since is read as the new copy when its data are read (in one batch), never the new chunks
    under the kept document's attrs and coords."""
    expected = _expected(url)
    reader = StudyStore(url, mode="r", cache=True)
    assert reader.damaged() == [] and reader.layers("net") == ["fc"]  # every document kept
    StudyStore(url).write_features("net", "fc", _layer("B"), unit_chunk=4)  # another process
    assert _one_version(reader.read_features("net", "fc").load(), expected) == "B"


def test_a_batch_read_meeting_a_rewrite_in_progress_asks_to_read_again(url, monkeypatch):
    """The chunks read while a rewrite has deleted the old copy and not yet written the new one are not
    damage (the store's words for a lost chunk, "rewrite the set"): the read asks to read again."""
    real, state = batch.get_many, {"fired": 0}
    reader = StudyStore(url, mode="r")

    def hook(zstore, keys):
        keys = list(keys)
        if not state["fired"] and any(k.startswith(f"{PATH}/data/c") for k in keys):
            state["fired"] += 1
            batch.delete_prefix(StudyStore(url)._zstore, PATH)  # what a rewrite does first (its document first)
        return real(zstore, keys)

    monkeypatch.setattr(batch, "get_many", hook)
    with pytest.raises(StoreError, match=r"'features/net/fc' cannot be read: it was being rewritten by another "
                                         r"process while it was read; read it again"):
        reader.read_features("net", "fc")
    assert state["fired"] == 1


@pytest.mark.parametrize("reader", ["read_features", "read_set_index"])
def test_a_set_rewritten_under_every_read_is_refused_in_the_stores_words(monkeypatch, url, reader):
    """A rewrite met by every batch read of the chunks: after its retries the reader gives up with the
    store's one-line StoreError naming the set (it raised a TypeError, or advised rewriting healthy data)."""
    real, n, busy = batch.get_many, [0], [False]

    def hook(zstore, keys):
        keys = list(keys)
        got = real(zstore, keys)
        if not busy[0] and any(k.startswith(f"{PATH}/") and "/c" in k[len(PATH):] for k in keys):
            n[0] += 1
            busy[0] = True  # the rewrite's own reads (the writer compares the copy it replaces) are not the reader's
            try:
                StudyStore(url).write_features("net", "fc", _layer("AB"[n[0] % 2]), unit_chunk=4)
            finally:
                busy[0] = False
        return got

    monkeypatch.setattr(batch, "get_many", hook)
    st = StudyStore(url, mode="r")
    with pytest.raises(StoreError, match=r"the feature set 'net.fc' \(features/net/fc\) is being rewritten by another "
                                         r"process \(replaced while it was read\); read it again\.$"):
        st.read_features("net", "fc").load() if reader == "read_features" else st.read_set_index(PATH)
    assert 2 <= n[0] <= 4  # bounded retries


def test_a_local_entry_swapped_under_every_open_is_refused_in_the_stores_words(monkeypatch, tmp_path):
    """On a local store, an entry swapped by another process during every open of it: the reader gives
    up after its retries with the store's one-line StoreError."""
    import neuroxr.store.reading as reading

    path = "scores/forward/a__b/0123456789abcdef"
    ds = xr.Dataset({"ev": (("neuroid",), np.arange(6.0))}, coords={"neuroid": [f"n{i}" for i in range(6)]})
    url = str(tmp_path / "study.zarr")
    StudyStore(url).write_dataset(path, ds)
    real, n = reading.xr.open_zarr, [0]

    def hook(*args, **kwargs):
        out = real(*args, **kwargs)
        n[0] += 1
        StudyStore(url).write_dataset(path, ds)  # a new copy swapped in while this one opens
        return out

    monkeypatch.setattr(reading.xr, "open_zarr", hook)
    with pytest.raises(StoreError, match=rf"entry '{path}' is being rewritten by another process \(replaced while it "
                                         r"was opened\); read it again\.$"):
        StudyStore(url, mode="r").read_dataset(path)
    assert n[0] == 3


@pytest.fixture
def local(tmp_path):
    url = str(tmp_path / "study.zarr")
    StudyStore(url).write_features("net", "fc", _layer("A"), unit_chunk=4)
    return url


def test_a_local_set_index_never_pairs_one_versions_attrs_with_anothers_ids(monkeypatch, local):
    """A local swap after the reading's document (here right after its damage check) and before the ids:
    the index is one version's attrs and ids (the attrs were A's, the ids B's)."""
    from neuroxr.store import reading

    real, fired = reading.Reading._damage, []

    def hook(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        if not fired:
            fired.append(1)
            StudyStore(local).write_features("net", "fc", _layer("B"), unit_chunk=4)  # another process's swap
        return out

    monkeypatch.setattr(reading.Reading, "_damage", hook)
    ix = StudyStore(local, mode="r").read_set_index(PATH)
    assert fired and ix.attrs["version"] == "B" and ix.stimulus_id.tolist() == IDS[::-1]


def test_a_cached_local_store_reads_a_set_another_process_rewrote(local):
    """A cached store that read version A, then another process's rewrite: the set's index and data are
    B's (the index paired A's cached attrs with B's ids; the data was refused on every read again)."""
    st = StudyStore(local, mode="r", cache=True)
    assert st.read_set_index(PATH).attrs["version"] == "A" and st.read_features("net", "fc").load().attrs["version"] == "A"
    StudyStore(local).write_features("net", "fc", _layer("B"), unit_chunk=4)
    fresh = StudyStore(local, mode="r").read_features("net", "fc").load()
    got = st.read_features("net", "fc").load()
    xr.testing.assert_identical(got, fresh)
    ix = st.read_set_index(PATH)
    assert ix.attrs["version"] == "B" and ix.stimulus_id.tolist() == IDS[::-1]


def test_a_failed_re_read_of_the_document_is_a_read_failure_not_a_rewrite(url, monkeypatch):
    """The document read again after the chunks fails (a dropped connection): the error says the set
    could not be read and why, not that another process is rewriting it."""
    from neuroxr.store import examined

    real = examined.read_json

    def flaky(zstore, key):
        if key == f"{PATH}/zarr.json":
            raise ConnectionResetError(104, "Connection reset by peer")
        return real(zstore, key)

    monkeypatch.setattr(examined, "read_json", flaky)
    with pytest.raises(StoreError, match=r"^store .*the feature set 'net\.fc' .*could not be read \(connection reset by peer") as err:
        StudyStore(url).read_features("net", "fc").load()
    assert "rewritten" not in str(err.value) and isinstance(err.value.__cause__, ConnectionResetError)


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied"), TimeoutError("read timed out")])
def test_a_document_that_cannot_be_read_is_not_taken_for_an_absent_set(url, monkeypatch, exc):
    """A failed read of a group's document is refused in one line naming the reason; it never reads as
    'does not exist' (which a sweep would take as work to do)."""
    from neuroxr.store import reading

    real = reading.read_json

    def failing(zstore, key):
        if key == f"{PATH}/zarr.json":
            raise exc
        return real(zstore, key)

    monkeypatch.setattr(reading, "read_json", failing)
    with pytest.raises(StoreError, match=r"^store .*the feature set 'net\.fc' .*could not be read \(") as err:
        StudyStore(url).read_features("net", "fc")
    assert "does not exist" not in str(err.value)


def test_a_listing_that_fails_is_not_an_empty_store(url, monkeypatch):
    """A failed listing of a group's folder is refused in one line, never read as 'no layers'."""
    from neuroxr.store import listing

    real = listing.batch.get_many

    def failing(zstore, keys):
        keys = list(keys)
        if any(k.startswith("features/net/") for k in keys):
            raise PermissionError(13, "Permission denied")
        return real(zstore, keys)

    st = StudyStore(url)
    assert st.layers("net") == ["fc"]
    monkeypatch.setattr(listing.batch, "get_many", failing)
    monkeypatch.setattr(st, "_listed", lambda *a: None)  # no inventory: the walk lists the folder
    with pytest.raises(StoreError, match=r"^store .*the group 'features/net' could not be listed \(permission denied"):
        st.layers("net")


@pytest.mark.parametrize("reader", ["examine", "batch"])
def test_a_document_read_before_this_objects_rewrite_is_not_kept_after_it(url, monkeypatch, reader):
    """Threads sharing one cached store: one reads a set's document while another rewrites the set
    through the same object. The document read before the rewrite must not be kept over the new
    copy's (a later read in the session would then take the old version for the current one). The
    interleaving is made deterministic: the rewrite runs inside the first reader's document read."""
    from neuroxr.store import listing, reading

    st = StudyStore(url, cache=True)
    state = {"fired": False}

    def rewrite_once():
        if not state["fired"]:
            state["fired"] = True
            st.write_features("net", "fc", _layer("B"), unit_chunk=4)

    if reader == "examine":
        real = reading.read_json

        def hook(zstore, key):
            doc = real(zstore, key)  # the old copy's document, read before the rewrite
            if key == f"{PATH}/zarr.json":
                rewrite_once()
            return doc

        monkeypatch.setattr(reading, "read_json", hook)
        with st.session():
            st.examine(PATH)
            monkeypatch.setattr(reading, "read_json", real)
            assert st.token(PATH) == st.token(PATH, fresh=True)
            assert st.read_features("net", "fc").attrs["version"] == "B"
    else:
        real_many = listing.batch.get_many

        def hook_many(zstore, keys):
            got = real_many(zstore, keys)
            if f"{PATH}/zarr.json" in got:
                rewrite_once()
            return got

        monkeypatch.setattr(listing.batch, "get_many", hook_many)
        with st.session():
            st._confirmed([PATH])
            monkeypatch.setattr(listing.batch, "get_many", real_many)
            assert st.token(PATH) == st.token(PATH, fresh=True)
            assert st.read_features("net", "fc").attrs["version"] == "B"
    assert state["fired"]


@pytest.mark.parametrize("changed, kept", [("neural/monkey", True), ("features/net", False), (PATH, False)])
def test_a_write_of_another_group_during_a_read_leaves_the_document_cached(url, monkeypatch, changed, kept):
    """The rule above is per group: a change of another set through the same object (its write or
    deletion drops what the cache holds of it) while a document is read does not keep that document
    out of the cache (one fewer read later in the call); a change of the group or of one above it does."""
    from neuroxr.store import reading

    st = StudyStore(url, cache=True)
    real = reading.read_json

    def hook(zstore, key):
        doc = real(zstore, key)
        if key == f"{PATH}/zarr.json":
            st._forget(changed)  # what every write or deletion through this object does (of a group and below)
        return doc

    monkeypatch.setattr(reading, "read_json", hook)
    with st.session():
        st.examine(PATH)
        assert (PATH in st._docs) is kept
        monkeypatch.setattr(reading, "read_json", real)
        assert st.token(PATH) == st.token(PATH, fresh=True)
