"""A study store on an S3-compatible server (moto on loopback): sweeps equal local disk, with few requests.

Skipped when moto or s3fs is not installed (``pip install "moto[server]" s3fs``, the ``test`` extra).
"""

from __future__ import annotations

import uuid

import numpy as np
import xarray as xr

from neuroxr.store import StudyStore

#: two models of two layers each (small): (layer, units, shared fraction with the latent, private dims)
_MODELS = {"netA": (("layer1", 40, 0.4, 6), ("layer3", 24, 1.0, 0)), "netB": (("conv1", 30, 0.5, 6), ("fc", 16, 0.6, 4))}
_STUDY = {"n_stimuli": 96, "animals": {"animalA": 16, "animalB": 12}, "models": _MODELS}
#: requests per computed entry a sweep may make (sets, lookup, write, gather included); 0.1.0 made ~600.
#: About 49.6 here, plus about 0.9 for the check before any work that each entry's two sets share a stimulus
#: (each set's ids read once: 6 sets for 16 entries)
_MAX_PER_ENTRY = 52


def _numbers(table):
    return table.sort_values(["direction", "model", "layer", "neural"]).select_dtypes("number").to_numpy(float)


def test_sweep_on_s3_equals_local_disk(s3_server, s3_study, tmp_path):
    from neuroxr.datasets.synthetic import write_example_study
    from neuroxr.sweep import sweep

    options, log = s3_server
    st = s3_study({}, layer=False)
    url = st.url
    write_example_study(tmp_path / "local.zarr", seed=3, unit_chunk=16, **_STUDY)
    write_example_study(st, seed=3, unit_chunk=16, **_STUDY)
    kw = dict(directions=["forward", "reverse"], client="serial", reps=2, seed=0, progress=False)
    local = sweep(tmp_path / "local.zarr", **kw)
    with log.counting() as got:
        remote = sweep(url, storage_options=options, **kw)
    per_entry = len(got) / len(remote.computed)
    assert len(remote.computed) == len(local.computed) == 16
    np.testing.assert_allclose(_numbers(remote.table), _numbers(local.table), rtol=1e-10, equal_nan=True)
    assert per_entry <= _MAX_PER_ENTRY, f"{per_entry:.0f} requests per entry"

    # read back: a re-run finds every entry (one listing of the inventory, entries read in batches)
    with log.counting() as got:
        again = sweep(url, storage_options=options, **kw)
    assert again.computed == [] and len(again.skipped) == 16
    np.testing.assert_allclose(_numbers(again.table), _numbers(local.table), rtol=1e-10, equal_nan=True)
    assert len(got) / 16 <= _MAX_PER_ENTRY / 2


def test_listing_is_one_listing_request(s3_server, s3_study):
    from neuroxr.datasets.synthetic import write_example_study

    options, log = s3_server
    writer = s3_study({}, layer=False)
    write_example_study(writer, seed=0, unit_chunk=16, **_STUDY)
    st = StudyStore(writer.url, mode="r", storage_options=options)
    with log.counting() as got:
        inv = st.inventory()
    lists = [r for r in got if r[0] == "GET" and "list-type" in r[2]]
    assert len(lists) == 1 and "inventory" in lists[0][2]  # one listing of the inventory documents, no walk
    walked = sorted(p for _, p, complete in st.entries() if complete)  # the hierarchy walked, for reference
    assert sorted([f"neural/{n}" for n in inv["neural"]]
                  + [f"features/{m}/{layer}" for m in inv["features"] for layer in inv["features"][m]]) == walked
    assert inv["features"]["netA"] == ["layer1", "layer3"]  # depth order kept


def test_batched_entry_roundtrip_and_requests(s3_server, s3_study, tmp_path):
    _, log = s3_server
    st = s3_study({}, layer=False)
    local = StudyStore(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {"ev": (("neuroid",), rng.normal(size=7)), "raw": (("rep", "neuroid"), rng.normal(size=(3, 7)))},
        coords={"neuroid": [f"n{i}" for i in range(7)], "region": ("neuroid", ["IT"] * 4 + ["V4"] * 3)},
        attrs={"direction": "forward", "params": {"reps": 3}},
    )
    with log.counting() as writes:
        st.write_dataset("scores/forward/a__b/0123456789abcdef", ds)
    # inventory records (pending, complete), one listing (an old copy), three new parent groups (read up to the
    # root, then written), a document and a chunk per array, the group document, the first write's journal
    # (written, read at the commit, deleted)
    assert len(writes) <= 2 + 1 + (4 + 3) + 2 * len(ds.variables) + 1 + 3, writes
    assert sum(1 for r in writes if "list-type" in r[2]) == 1
    local.write_dataset("scores/forward/a__b/0123456789abcdef", ds)
    with log.counting() as reads:
        got = st.read_dataset("scores/forward/a__b/0123456789abcdef").load()
    # the group document, one chunk per variable, the group document again (the chunks' version: a rewrite
    # keeps the keys, so a token changed since the first read means the chunks may be another version's)
    assert len(reads) <= 2 + len(ds.variables), reads
    assert sum(path.endswith("/zarr.json") for _, path, _ in reads) == 2
    xr.testing.assert_identical(got, local.read_dataset("scores/forward/a__b/0123456789abcdef").load())
    assert st.token("scores/forward/a__b/0123456789abcdef") and st.damaged() == []


def _scores(seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset({"ev": (("neuroid",), rng.normal(size=5))}, coords={"neuroid": [f"n{i}" for i in range(5)]})


def test_cached_store_reads_back_what_it_wrote_by_version(s3_server):
    """A cached store (a sweep's) reads an entry it wrote from memory, under the version token of that
    write: a rewrite is read as the new data, and a group dropped from the byte budget is fetched again."""
    options, log = s3_server
    url = f"s3://bucket/{uuid.uuid4().hex[:8]}/study.zarr"  # a store of its own, made by the cached handle
    st = StudyStore(url, storage_options=options, cache=True)
    path = "scores/forward/a__b/0123456789abcdef"
    st.write_dataset(path, _scores(0))
    with log.counting() as got:
        xr.testing.assert_identical(st.read_dataset(path).load(), _scores(0))
    assert got == []  # the document and the data this object just wrote
    st.write_dataset(path, _scores(1))  # a rewrite: a new token, never the old copy
    xr.testing.assert_identical(st.read_dataset(path).load(), _scores(1))
    fresh = StudyStore(url, mode="r", storage_options=options)
    xr.testing.assert_identical(fresh.read_dataset(path).load(), _scores(1))  # what the store holds

    # a budget of one entry: writing a second drops the first (least recently used), which is fetched again
    small = StudyStore(url, storage_options=options, cache=True, cache_bytes=st._data._groups[path, st.token(path)][1])
    other = "scores/forward/a__b/fedcba9876543210"
    small.write_dataset(path, _scores(2))
    small.write_dataset(other, _scores(3))
    with log.counting() as got:
        xr.testing.assert_identical(small.read_dataset(other).load(), _scores(3))
    assert got == []
    with log.counting() as got:
        xr.testing.assert_identical(small.read_dataset(path).load(), _scores(2))
    assert got


def test_inventory_disagreeing_falls_back(s3_server, s3_study):
    """A group deleted behind the inventory's back (an older writer) is not listed; the store rebuilds it."""
    import s3fs

    from neuroxr.datasets.synthetic import write_example_study

    options, _ = s3_server
    writer = s3_study({}, layer=False)
    url = writer.url
    write_example_study(writer, seed=0, unit_chunk=16, **_STUDY)
    fs = s3fs.S3FileSystem(**options)
    fs.rm(url[len("s3://"):] + "/neural/animalB", recursive=True)
    st = StudyStore(url, mode="r", storage_options=options)
    assert st.neural_sets() == ["animalA"]
    assert st.inventory_problems() == [("neural/animalB", "inventory lists a group that is absent or incomplete")]
    StudyStore(url, storage_options=options).neural_sets()  # a writer rebuilds on disagreement
    assert st.inventory_problems() == []


def test_a_sets_ids_are_read_without_its_data(s3_server, s3_study, monkeypatch):
    """StudyStore.read_set_index on an object store: its document, one listing of its keys (the damage
    check), its arrays' documents in one batch where its document does not carry them, and the chunk of its
    ids; never a chunk of its data."""
    from neuroxr.layouts import features
    from neuroxr.store import batch

    options, log = s3_server
    rng = np.random.default_rng(0)
    ids = [f"img{i}" for i in range(8)]
    st = s3_study({}, layer=False)
    st.write_features("net", "small", features(rng.normal(size=(8, 12)), ids), unit_chunk=4)  # in one batch
    monkeypatch.setattr(batch, "BATCH_BYTES", 0)
    st.write_features("net", "large", features(rng.normal(size=(8, 12)), ids), unit_chunk=4)  # in place, as extraction
    fresh = StudyStore(st.url, mode="r", storage_options=options)
    for layer in ("small", "large"):
        with log.counting() as reads:
            got = fresh.read_set_index(f"features/net/{layer}")
        assert got.stimulus_id.tolist() == ids and got.shape == (8, 12) and got.dtype == np.float64
        assert not any("/data/c" in path for _, path, _ in reads), reads
        assert sum("list-type" in query for _, _, query in reads) == 1
        n_arrays = len(fresh.group_attrs(f"features/net/{layer}")["neuroxr_vars"])
        # the document, the listing, the arrays' documents (none in one batch), the ids' chunk, the document again
        # (the ids' version: a rewrite keeps the keys, so another token means they may be another version's)
        assert len(reads) <= 4 + (n_arrays if layer == "large" else 0), reads


def test_a_report_reads_each_set_and_entry_document_once(s3_server, s3_study, tmp_path):
    """A report's whole-store scan reads every group's document; the listings and reads that follow take them
    from there (the report's cached store) instead of asking for each set's and entry's document again; a read
    of a group's data reads its document once more, after the chunks, to confirm their version."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import neuroxr as nx
    from neuroxr.report import write_report

    options, log = s3_server
    st = s3_study()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        nx.compute(st, "forward", "net.l1", "mA", params={"reps": 2})
        nx.compute(st, "cka", "net.l1", "mA")
    complete = sorted(p for _, p, done in st.entries() if done)
    assert len(complete) == 5  # two sets, a score, a metric, a Gram
    with warnings.catch_warnings(), log.counting() as got:
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        write_report(StudyStore(st.url, mode="r", storage_options=options), tmp_path / "out", format="md")
    reads = [path for method, path, _ in got if method == "GET"]
    # once by the scan, and once more after the chunks of a group whose data it reads (their version: a
    # rewrite keeps the keys, so a token changed since the scan means the chunks may be another version's)
    fetched = {p for p in complete if any(f"/{p}/" in r and not r.endswith("/zarr.json") for r in reads)}
    assert fetched and {p: sum(r.endswith(f"/{p}/zarr.json") for r in reads) for p in complete} == {
        p: 1 + (p in fetched) for p in complete}
