"""The Gram entry reads its feature set's stimulus ids through the store: its checks, one read of each."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from zarr.storage import LocalStore

from neuroxr.entries import compute
from neuroxr.errors import StoreError
from neuroxr.layouts import features
from neuroxr.store import StudyStore

_IDS = [f"s{i}" for i in range(10)]


def _layer(tmp_path) -> tuple[StudyStore, np.ndarray]:
    values = np.random.default_rng(0).normal(size=(10, 6))
    store = StudyStore(tmp_path / "s.zarr")
    store.write_features("net", "l1", features(values, _IDS))
    return store, values


def test_a_gram_reads_the_layers_ids_once_through_the_store(tmp_path, monkeypatch):
    """The Gram read the ids with Zarr straight after the store's damage check: their document twice (the
    check, then Zarr's open). The store's reader reads them from the one reading whose damage it checks."""
    store, values = _layer(tmp_path)
    counts: Counter[str] = Counter()
    get = LocalStore.get

    async def counted(self, key, *args, **kwargs):
        if key.startswith("features/net/l1/stimulus_id/"):
            counts[key] += 1
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(LocalStore, "get", counted)
    gram = compute(store, "gram", "net.l1").dataset
    assert counts == {"features/net/l1/stimulus_id/zarr.json": 1, "features/net/l1/stimulus_id/c/0": 1}
    assert gram.stimulus_id.values.tolist() == _IDS and gram.stimulus_id.dtype.kind == "U"
    centred = values - values.mean(axis=0)
    np.testing.assert_allclose(gram["K"].values, centred @ centred.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("how, problem", [
    ("undecodable", r"its stimulus ids cannot be read \(.*\)"),  # main: the labeled read's "cannot be opened"
    ("lost", r"array 'stimulus_id': 1 of 1 chunks missing .*"),  # main: the damage check, in the same words
])
def test_a_damaged_id_array_is_refused_in_the_stores_words(tmp_path, how, problem):
    """Ids whose chunk cannot be decoded failed Zarr's direct read, and the Gram fell back to the labeled
    read, whose error named no damage and no fix for a set ("cannot be opened ...; rewrite it"). The store's
    reader names the set, the damage and the fix, as every read of a damaged set does."""
    store, _ = _layer(tmp_path)
    chunk = Path(store.url) / "features" / "net" / "l1" / "stimulus_id" / "c" / "0"
    if how == "lost":
        chunk.unlink()
    else:  # a flipped byte: the chunk is there, its checksum fails
        raw = bytearray(chunk.read_bytes())
        raw[-6] ^= 0xFF
        chunk.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match=r"the feature set 'net\.l1' \(features/net/l1\) is damaged \(" + problem
                       + r"\); re-extract the layer or rewrite it") as err:
        compute(store, "gram", "net.l1")
    assert "\n" not in str(err.value) and not re.search(r"cannot be opened", str(err.value))


def test_input_order_takes_canonical_results_back_to_the_ids_order():
    """``alignment.input_order`` (public, beside ``canonical_order``): the inverse permutation of the
    canonical order, None where the ids already are in it; ids compare as strings, ties keep their order."""
    from neuroxr import alignment

    assert "input_order" in alignment.__all__
    ids = np.array(["s9", "s10", "a", "s9", "b1"])
    back = alignment.input_order(ids)
    order = alignment.canonical_order(ids)
    assert back is not None and np.array_equal(order[back], np.arange(ids.size))
    assert np.array_equal(ids[order][back], ids)
    assert alignment.input_order(ids[order]) is None and alignment.input_order(np.array(["x"])) is None
    assert np.array_equal(alignment.input_order([3, 20, 100]), alignment.input_order(np.array(["3", "20", "100"])))


def test_a_gram_of_a_layer_stored_out_of_canonical_order_is_in_its_order(tmp_path):
    """The entry reduces the layer in canonical order and hands the Gram back in the stored order
    (``alignment.input_order``): a permuted layer's Gram is the permuted Gram, to the bit."""
    values = np.random.default_rng(1).normal(size=(10, 6))
    perm = np.random.default_rng(2).permutation(10)
    grams = []
    for name, order in (("canonical", np.arange(10)), ("permuted", perm)):
        store = StudyStore(tmp_path / f"{name}.zarr")
        store.write_features("net", "l1", features(values[order], [_IDS[i] for i in order]))
        grams.append(compute(store, "gram", "net.l1").dataset)
    canonical, permuted = grams
    assert permuted.stimulus_id.values.tolist() == [_IDS[i] for i in perm]
    expected = canonical.isel(stimulus=perm, stimulus_=perm)
    assert permuted["K"].values.tobytes() == expected["K"].values.tobytes()


@pytest.mark.parametrize("where", ["local", "memory"])
def test_a_layer_rewritten_through_begin_write_drops_its_cached_gram(tmp_path, where):
    """A layer written through ``begin_write``/``commit_write`` (not ``write_features``, not extraction) left its
    old Gram folder in place, never read again; every rewrite of a layer now drops it, and the next Gram is
    computed afresh, equal to a new store's."""
    import uuid

    from neuroxr.store import DATA_VAR

    url = str(tmp_path / "s.zarr") if where == "local" else f"memory://neuroxr-gram-{uuid.uuid4().hex}/s.zarr"
    store = StudyStore(url)
    store.write_features("net", "l1", features(np.random.default_rng(0).normal(size=(10, 6)), _IDS))
    first = compute(store, "gram", "net.l1")
    assert first.computed and store.listing("cache/gram/net/l1") == [first.path]
    new = np.random.default_rng(1).normal(size=(10, 6))
    da = features(new, _IDS).assign_coords(model="net", layer="l1")
    staging = store.begin_write("features/net/l1")
    da.rename(None).to_dataset(name=DATA_VAR).to_zarr(staging, mode="w", consolidated=False)
    store.commit_write("features/net/l1", staging)
    assert store.listing("cache/gram") == [] and not store.is_complete(first.path)
    if where == "local":
        assert not (Path(store.url) / "cache" / "gram" / "net" / "l1").exists()
    again = compute(store, "gram", "net.l1")
    fresh = StudyStore(tmp_path / "fresh.zarr")
    fresh.write_features("net", "l1", features(new, _IDS))
    expected = compute(fresh, "gram", "net.l1")
    assert again.computed and again.path != first.path and store.listing("cache/gram") == [again.path]
    np.testing.assert_allclose(again.dataset["K"].values, expected.dataset["K"].values, rtol=1e-12, atol=1e-12)
    centred = new - new.mean(axis=0)
    np.testing.assert_allclose(again.dataset["K"].values, centred @ centred.T, rtol=1e-10, atol=1e-10)


def test_a_layers_gram_group_has_one_spelling(tmp_path):
    """``cache/gram/<model>/<layer>`` was spelled by the entry layout, the sweep and the store: ``gram_group``
    owns it. The Gram entry lies below it, the listings find it there, and it is the group a rewrite of the
    layer drops."""
    from neuroxr.entries.layout import GRAM_GROUP, gram_group, list_entries
    from neuroxr.store.staged import _derived

    store, _ = _layer(tmp_path)
    got = compute(store, "gram", "net.l1")
    assert got.path.rpartition("/")[0] == gram_group("net", "l1") == f"{GRAM_GROUP}/net/l1"
    assert store.listing(GRAM_GROUP) == [got.path]
    rows = list_entries(store)
    assert rows[["kind", "source", "path"]].values.tolist() == [["gram", "net.l1", got.path]]
    assert _derived("features/net/l1") == gram_group("net", "l1") and _derived("neural/mA") is None
