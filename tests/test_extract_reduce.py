"""Tests of neuroxr.extract's write-time reductions (PCA, sparse random projection) against
scikit-learn fitted here, and their independence from the order the stimuli are given in; and of
the warning where float32 storage of float64 outputs far from zero keeps few of their digits."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import as_older_writer  # noqa: E402
from torch import nn  # noqa: E402

from neuroxr.extract import ExtractionError, extract_features  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

N = 24
IDS = np.array([f"s{i:02d}" for i in range(N)])


def net_and_stimuli(dtype=torch.float32, offset: float = 0.0):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 40)).to(dtype).eval()
    with torch.no_grad():
        net[1].bias += offset
    x = torch.randn(N, 3, 4, 4, generator=torch.Generator().manual_seed(1)).to(dtype)
    with torch.no_grad():
        return net, x, net(x).numpy().astype(np.float64)


def extracted(tmp_path, net, x, ids, reduction, name, **kw):
    """The reduced layer ``1`` as ``{stimulus_id: row}`` and its ``reduction`` attr."""
    store = StudyStore(tmp_path / f"{name}.zarr")
    extract_features(net, x, store, model_name="m", layers=["1"], stimulus_ids=list(ids), reduction=reduction,
                     progress=False, **kw)
    da = store.read_features("m", "1")
    return dict(zip(da.stimulus_id.values, da.values)), da.attrs["reduction"]


@pytest.mark.parametrize("reduction, kw", [
    ({"method": "pca", "n_components": 4, "fit_stimuli": 16, "seed": 0}, {}),  # a subset drawn
    ({"method": "pca", "n_components": 4}, {"batch_size": 8, "memory_limit": "2MiB"}),  # 3 partial_fit parts
    ({"method": "srp", "n_components": 8, "seed": 2}, {}),
], ids=["pca-subset", "pca-parts", "srp"])
def test_permuting_the_stimuli_changes_no_stimulus_features(tmp_path, reduction, kw):
    """The fit stimuli were drawn (and fed to partial_fit) by position: another order, other features."""
    net, x, _ = net_and_stimuli()
    perm = np.random.default_rng(5).permutation(N)
    a, red_a = extracted(tmp_path, net, x, IDS, reduction, "a", **kw)
    b, red_b = extracted(tmp_path, net, x[perm], IDS[perm], reduction, "b", **kw)
    np.testing.assert_allclose(np.stack([b[i] for i in IDS]), np.stack([a[i] for i in IDS]), rtol=1e-5, atol=1e-5)
    assert red_a.get("fit_stimulus_ids") == red_b.get("fit_stimulus_ids")  # PCA's (SRP is fitted on none)
    if "batch_size" in kw:
        assert red_a["fit_batches"] == 3
    if reduction["method"] == "pca":
        assert red_a["revision"] == 3 and red_a["fit_stimulus_ids"] == sorted(red_a["fit_stimulus_ids"])


def test_pca_of_float64_outputs_far_from_zero_matches_sklearn(tmp_path):
    """float64 outputs were fitted in float32 and projected as x @ W.T - (mean @ W.T in float32): 1e-2 off."""
    from sklearn.decomposition import PCA

    net, x, ref = net_and_stimuli(torch.float64, offset=1e4)
    got, red = extracted(tmp_path, net, x, IDS, {"method": "pca", "n_components": 3}, "d")
    expected = PCA(3, svd_solver="full").fit_transform(ref)
    got = np.stack([got[i] for i in IDS])
    signs = np.sign(np.sum(got * expected, axis=0))  # components are defined up to sign
    np.testing.assert_allclose(got * signs, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(red["explained_variance_ratio"], PCA(3).fit(ref).explained_variance_ratio_, rtol=1e-6)


def test_pca_layer_of_an_earlier_revision_is_refused_not_skipped(tmp_path):
    import zarr

    net, x, _ = net_and_stimuli()
    red = {"method": "pca", "n_components": 4}
    store = StudyStore(tmp_path / "s.zarr")
    extract_features(net, x, store, model_name="m", layers=["1"], stimulus_ids=list(IDS), reduction=red, progress=False)
    again = extract_features(net, x, store, model_name="m", layers=["1"], stimulus_ids=list(IDS), reduction=red,
                             progress=False)
    assert again.skipped == ["1"]
    group = zarr.open_group(store._zstore, path="features/m/1", mode="r+")
    attrs = dict(group.attrs["reduction"])
    del attrs["revision"]  # as neuroxr before PCA revision 2 wrote it
    group.attrs["reduction"] = attrs
    as_older_writer(group)  # which recorded no digests
    with pytest.raises(ExtractionError, match=r"is complete but its PCA is of revision 1, this neuroxr's is 3 "
                                              r"\(fit stimuli drawn in stimulus id order"):
        extract_features(net, x, store, model_name="m", layers=["1"], stimulus_ids=list(IDS), reduction=red,
                         progress=False)


def test_a_pca_of_every_stimulus_draws_nothing_with_its_seed(tmp_path):
    """Every stimulus fitted: the seed is recorded as None, one other than 0 is refused as having no effect,
    and a layer an earlier version stored with a seed is skipped on a re-run with another."""
    import zarr

    from neuroxr.errors import ExtractionParameterError

    net, x, _ = net_and_stimuli()
    store = StudyStore(tmp_path / "s.zarr")
    run = dict(model_name="m", layers=["1"], stimulus_ids=list(IDS), progress=False)
    with pytest.raises(ExtractionParameterError, match=r"^reduction seed=5 has no effect on a PCA fitted on every one of "
                                                       rf"the {N} stimuli .*drop it or pass fit_stimuli below {N}\.$"):
        extract_features(net, x, store, reduction={"method": "pca", "n_components": 4, "seed": 5}, **run)
    from neuroxr.errors import NeuroxrWarning

    # more fit stimuli than there are: every one is fitted, said so (the 29 asked were replaced by 24 without a word)
    with pytest.warns(NeuroxrWarning, match=rf"^reduction fit_stimuli={N + 5} is more than the {N} stimuli: the PCA is "
                                            rf"fitted on all {N} \(recorded as fit_stimuli={N}\)\.$"):
        extract_features(net, x, store, reduction={"method": "pca", "n_components": 4, "fit_stimuli": N + 5}, **run)
    assert store.read_features("m", "1").attrs["reduction"]["seed"] is None
    assert store.read_features("m", "1").attrs["reduction"]["fit_stimuli"] == N
    group = zarr.open_group(store._zstore, path="features/m/1", mode="r+")
    group.attrs["reduction"] = {**group.attrs["reduction"], "seed": 5}  # as earlier versions recorded a seed
    as_older_writer(group)  # which recorded no digests
    again = extract_features(net, x, store, reduction={"method": "pca", "n_components": 4}, **run)
    assert again.skipped == ["1"]
    drawn = {"method": "pca", "n_components": 4, "fit_stimuli": N - 2, "seed": 5}  # a subset: the seed draws it
    extract_features(net, x, store, reduction=drawn, **{**run, "model_name": "m2"})
    assert store.read_features("m2", "1").attrs["reduction"]["seed"] == 5


# ---------------------------------------------------------------------------- float32 storage far from zero
def _stored(tmp_path, name, net, x, **kw):
    """Layer ``1`` extracted into a fresh store, and the messages of the offset warnings."""
    import warnings

    store = StudyStore(tmp_path / f"{name}.zarr")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        extract_features(net, x, store, model_name="m", layers=["1"], stimulus_ids=list(IDS), progress=False, **kw)
    return store.read_features("m", "1").values, [str(m.message) for m in w if "significant digits" in str(m.message)]


def _n_flagged(values):
    """Columns with eps_32 |mean| / std > 1e-3, from numpy."""
    return int(np.sum(np.finfo(np.float32).eps * np.abs(values.mean(axis=0)) / values.std(axis=0) > 1e-3))


@pytest.mark.parametrize("batch_size", [64, 8], ids=["one-batch", "staged"])
def test_float64_outputs_stored_as_float32_far_from_zero_warn_with_the_values_unchanged(tmp_path, batch_size):
    net, x, ref = net_and_stimuli(torch.float64, offset=1e5)
    got, msgs = _stored(tmp_path, "far", net, x, dtype="float32", batch_size=batch_size, memory_limit="64MiB")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref.astype(np.float32))  # stored as before
    assert msgs == ["layer '1': 40 of 40 units have |mean| / std above 8.4e+03 across the stimuli (eps_32 |mean| / std "
                    "> 0.001); stored as float32 they keep fewer than about 3 significant digits of their variation. To "
                    "keep them, pass dtype='float64' to store them in full."]
    assert _stored(tmp_path, "full", net, x, dtype="float64", batch_size=batch_size)[1] == []


@pytest.mark.parametrize("offset", [0.0, 10.0])
def test_ordinary_float64_outputs_stored_as_float32_give_no_warning(tmp_path, offset):
    net, x, _ = net_and_stimuli(torch.float64, offset=offset)
    assert _stored(tmp_path, "o", net, x, dtype="float32")[1] == []


def test_float32_outputs_far_from_zero_are_stored_without_a_cast_or_a_warning(tmp_path):
    net, x, _ = net_and_stimuli(torch.float32, offset=1e5)  # the model's own float32: nothing lost by storing
    assert _stored(tmp_path, "o", net, x)[1] == []


def test_sparse_projection_of_float64_outputs_far_from_zero_warns(tmp_path):
    """SRP's float32 output (the default for reduced layers) of float64 outputs is a float32 cast too."""
    net, x, _ = net_and_stimuli(torch.float64, offset=1e5)
    got, msgs = _stored(tmp_path, "srp", net, x, reduction={"method": "srp", "n_components": 8, "seed": 2})
    k = _n_flagged(got.astype(np.float64))
    assert got.dtype == np.float32 and k > 0
    assert len(msgs) == 1 and msgs[0].startswith(f"layer '1': {k} of 8 units have |mean| / std above")


# ---------------------------------------------------------------------------- SRP stored as float64
def _srp_reference(p: int, k: int, seed: int, dtype):
    """scikit-learn's sparse components (k x p) of ``seed``, drawn for ``dtype`` inputs."""
    import scipy.sparse as sp
    from sklearn.random_projection import SparseRandomProjection

    return SparseRandomProjection(k, random_state=seed).fit(sp.csr_matrix((N, p), dtype=dtype)).components_


def test_srp_draws_one_matrix_for_float32_and_float64_storage():
    from neuroxr.extract.reduce import SRP

    c32, c64 = SRP(40, 8, 2, "float32").components, SRP(40, 8, 2, "float64").components
    assert c32.dtype == np.float32 and c64.dtype == np.float64
    np.testing.assert_array_equal(c64.toarray(), _srp_reference(40, 8, 2, np.float64).toarray())
    np.testing.assert_array_equal(c32.toarray(), c64.toarray().astype(np.float32))  # the same draw, rounded
    assert (c64.toarray() != 0).sum() == c64.nnz > 0
    assert SRP(40, 8, 2, "float32").info["components_sha256"] == SRP(40, 8, 2, "float64").info["components_sha256"]


@pytest.mark.parametrize("model_dtype", [torch.float64, torch.float32], ids=["float64-model", "float32-model"])
def test_srp_stored_as_float64_is_computed_in_float64(tmp_path, model_dtype):
    """A layer stored as float64 held float32 values (float32 components, float32 output)."""
    net, x, ref = net_and_stimuli(model_dtype, offset=3.0)
    red = {"method": "srp", "n_components": 8, "seed": 2}
    got, attrs = extracted(tmp_path, net, x, IDS, red, "f64", dtype="float64")
    got = np.stack([got[i] for i in IDS])
    expected = ref @ _srp_reference(40, 8, 2, np.float64).toarray().T  # X @ R in float64
    assert got.dtype == np.float64 and attrs["revision"] == 2
    assert not np.array_equal(got, got.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_srp_stored_as_float32_keeps_its_float32_projection(tmp_path):
    net, x, ref = net_and_stimuli(torch.float64, offset=3.0)
    got, attrs = extracted(tmp_path, net, x, IDS, {"method": "srp", "n_components": 8, "seed": 2}, "f32")
    c32 = _srp_reference(40, 8, 2, np.float32)
    assert attrs["revision"] == 2
    np.testing.assert_array_equal(np.stack([got[i] for i in IDS]), np.asarray((c32 @ ref.T).T, dtype=np.float32))


def test_srp_layer_stored_as_float64_of_revision_1_is_refused_not_skipped(tmp_path):
    import zarr

    net, x, ref = net_and_stimuli(torch.float64)
    store = StudyStore(tmp_path / "s.zarr")

    def run(dtype, **kw):
        return extract_features(net, x, store, model_name=dtype, layers=["1"], stimulus_ids=list(IDS), dtype=dtype,
                                reduction={"method": "srp", "n_components": 8, "seed": 2}, progress=False, **kw)

    def as_revision_1(dtype):  # as neuroxr before SRP revision 2 wrote it (no revision)
        group = zarr.open_group(store._zstore, path=f"features/{dtype}/1", mode="r+")
        attrs = dict(group.attrs["reduction"])
        del attrs["revision"]
        group.attrs["reduction"] = attrs
        as_older_writer(group)  # which recorded no digests

    for dtype in ("float64", "float32"):
        run(dtype)
        assert run(dtype).skipped == ["1"]
        as_revision_1(dtype)
    with pytest.raises(ExtractionError, match=r"is complete but its sparse random projection is of revision 1, this "
                                              r"neuroxr's is 2 \(a layer stored as float64.*overwrite=True"):
        run("float64")
    assert run("float32").skipped == ["1"]  # float32 layers are the same under both revisions, bit for bit
    assert run("float64", overwrite=True).written == ["1"]
    redone = store.read_features("float64", "1")
    assert redone.attrs["reduction"]["revision"] == 2
    expected = ref @ _srp_reference(40, 8, 2, np.float64).toarray().T
    np.testing.assert_allclose(redone.values, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


# ---------------------------------------------------------------------------- PCA stored as float64
def _ipca_reference(outputs: np.ndarray, k: int, parts: int, dtype):
    """scikit-learn's IncrementalPCA fitted in ``dtype`` on ``parts`` consecutive parts of ``outputs``
    (rows in id order, as extraction feeds them), and ``(outputs - mean) @ W.T`` in ``dtype`` (the mean,
    which scikit-learn keeps in float64, rounded to it)."""
    from sklearn.decomposition import IncrementalPCA

    x = outputs.astype(dtype)
    ipca = IncrementalPCA(k)
    for rows in np.array_split(np.arange(len(x)), parts):
        ipca.partial_fit(x[rows])
    assert ipca.components_.dtype == dtype
    return (x - ipca.mean_.astype(dtype)) @ ipca.components_.T, ipca.explained_variance_ratio_


@pytest.mark.parametrize("kw, parts", [({}, 1), ({"batch_size": 8, "memory_limit": "2MiB"}, 3)], ids=["one", "parts"])
@pytest.mark.parametrize("model_dtype", [torch.float32, torch.float64], ids=["float32-model", "float64-model"])
def test_pca_stored_as_float64_is_fitted_and_projected_in_float64(tmp_path, model_dtype, kw, parts):
    """float32 outputs stored as float64 were fitted and projected in float32: float32 values in a float64 layer."""
    net, x, ref = net_and_stimuli(model_dtype, offset=3.0)
    got, attrs = extracted(tmp_path, net, x, IDS, {"method": "pca", "n_components": 4}, "f64", dtype="float64", **kw)
    got = np.stack([got[i] for i in IDS])
    expected, ratio = _ipca_reference(ref, 4, parts, np.float64)
    assert got.dtype == np.float64 and attrs["revision"] == 3 and attrs["fit_batches"] == parts
    assert not np.array_equal(got, got.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    np.testing.assert_allclose(attrs["explained_variance_ratio"], ratio, rtol=1e-10)


def test_pca_of_float32_outputs_stored_as_float32_keeps_its_float32_fit(tmp_path):
    net, x, ref = net_and_stimuli(torch.float32, offset=3.0)
    got, attrs = extracted(tmp_path, net, x, IDS, {"method": "pca", "n_components": 4}, "f32")
    expected, _ = _ipca_reference(ref, 4, 1, np.float32)
    assert attrs["revision"] == 3
    np.testing.assert_array_equal(np.stack([got[i] for i in IDS]), expected)


@pytest.mark.parametrize("method", ["pca", "srp"])
@pytest.mark.parametrize("dtype", [None, "float16", "float64"], ids=["default", "f16", "f64"])
@pytest.mark.parametrize("model_dtype", [torch.float16, torch.float32, torch.float64], ids=["m16", "m32", "m64"])
def test_the_plan_counts_the_copies_the_projection_makes(model_dtype, dtype, method):
    """The projection's copy was counted at the outputs' width: float16 outputs (copied to float32), SRP's copy
    of the transpose for scipy's product (a float64 layer of float32 outputs holds 16 bytes a unit) went uncounted."""
    import tracemalloc
    from dataclasses import replace

    from neuroxr.extract import plan_extraction
    from neuroxr.extract.reduce import PCA, SRP

    torch.manual_seed(0)
    p, k = 8000, 4
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, p)).to(model_dtype).eval()
    x = torch.randn(N, 3, 4, 4).to(model_dtype)
    lp = plan_extraction(net, x, layers=["1"], dtype=dtype, reduction={"method": method, "n_components": k}).layers[0]
    counted = lp.in_flight(N) - replace(lp, reduction=None).in_flight(N)  # the projection's copies of N stimuli
    with torch.no_grad():
        outputs = net(x).numpy()
    if method == "pca":
        reducer = PCA(k, lp.dtype)
        reducer.partial_fit(outputs)
        reducer.finish()
    else:
        reducer = SRP(p, k, 0, lp.dtype)
    tracemalloc.start()
    reducer(outputs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    slack = 2 * N * k * 8 + 2 * 8 * np.getbufsize() + 4096  # the (N, k) result; numpy's buffers of PCA's subtraction
    assert counted <= peak <= counted + slack


def test_pca_layer_stored_as_float64_of_revision_2_is_refused_where_its_values_change(tmp_path):
    import zarr

    store = StudyStore(tmp_path / "s.zarr")
    nets = {torch.float32: net_and_stimuli(torch.float32), torch.float64: net_and_stimuli(torch.float64)}

    def run(name, model_dtype, dtype, **kw):
        net, x, _ = nets[model_dtype]
        return extract_features(net, x, store, model_name=name, layers=["1"], stimulus_ids=list(IDS), dtype=dtype,
                                reduction={"method": "pca", "n_components": 4}, progress=False, **kw)

    cases = {"f32-f64": (torch.float32, "float64"), "f32-f32": (torch.float32, "float32"),
             "f64-f64": (torch.float64, "float64")}
    for name, (model_dtype, dtype) in cases.items():
        run(name, model_dtype, dtype)
        assert run(name, model_dtype, dtype).skipped == ["1"]
        group = zarr.open_group(store._zstore, path=f"features/{name}/1", mode="r+")
        group.attrs["reduction"] = dict(group.attrs["reduction"], revision=2)  # as PCA revision 2 wrote it
        as_older_writer(group)  # which recorded no digests
    with pytest.raises(ExtractionError, match=r"is complete but its PCA is of revision 2, this neuroxr's is 3 \(a layer "
                                              r"stored as float64 is fitted and projected in float64; revision 2 did so "
                                              r"in its outputs' dtype, float32\).*overwrite=True"):
        run("f32-f64", torch.float32, "float64")
    # float32 layers and float64 layers of float64 outputs are the same under both revisions, bit for bit
    assert run("f32-f32", torch.float32, "float32").skipped == ["1"]
    assert run("f64-f64", torch.float64, "float64").skipped == ["1"]
    assert run("f32-f64", torch.float32, "float64", overwrite=True).written == ["1"]
    redone = store.read_features("f32-f64", "1")
    expected, _ = _ipca_reference(nets[torch.float32][2], 4, 1, np.float64)
    assert redone.attrs["reduction"]["revision"] == 3
    np.testing.assert_allclose(redone.values, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


# ---------------------------------------------------------------------------- info and validate
def test_info_and_validate_flag_exactly_the_layers_a_rerun_refuses_for_their_revision(tmp_path, runner):
    """A float64 layer of an earlier revision (float32 values) went unnoticed until extraction was run again."""
    import json
    import warnings

    import zarr

    from neuroxr.cli import main, store_summary
    from neuroxr.cli._common import cli_advice
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.schemas import validate_store

    store = StudyStore(tmp_path / "s.zarr")
    nets = {torch.float32: net_and_stimuli(torch.float32), torch.float64: net_and_stimuli(torch.float64)}
    cases = {  # model name: model dtype, stored dtype, method, the revision written into its attrs (None: current)
        "srp64-r1": (torch.float64, "float64", "srp", 1), "srp32-r1": (torch.float64, "float32", "srp", 1),
        "pca64-r2": (torch.float32, "float64", "pca", 2), "pca32-r2": (torch.float32, "float32", "pca", 2),
        "pca64-f64-r2": (torch.float64, "float64", "pca", 2), "srp64": (torch.float64, "float64", "srp", None),
        "pca64": (torch.float32, "float64", "pca", None),
    }

    def run(name, **kw):
        model_dtype, dtype, method, _ = cases[name]
        net, x, _ = nets[model_dtype]
        return extract_features(net, x, store, model_name=name, layers=["1"], stimulus_ids=list(IDS), dtype=dtype,
                                reduction={"method": method, "n_components": 4}, progress=False, **kw)

    for name, (_, _, _, revision) in cases.items():
        run(name)
        if revision is not None:  # as that revision wrote it (revision 1 recorded none)
            group = zarr.open_group(store._zstore, path=f"features/{name}/1", mode="r+")
            attrs = {k: v for k, v in group.attrs["reduction"].items() if k != "revision"}
            group.attrs["reduction"] = attrs if revision == 1 else dict(attrs, revision=revision)
            as_older_writer(group)  # which recorded no digests
    refused = set()
    for name in cases:  # the layers a re-run refuses for their revision: the ones to flag
        try:
            assert run(name).skipped == ["1"]
        except ExtractionError as exc:
            assert "revision" in str(exc)
            refused.add(f"features/{name}/1")
    assert refused == {"features/srp64-r1/1", "features/pca64-r2/1"}

    summary = store_summary(store)  # the command line's: how to recompute is neuroxr extract's, never a Python call
    flagged = {e["path"]: e["problem"] for e in summary["earlier_revision"]}
    assert set(flagged) == refused
    srp = flagged["features/srp64-r1/1"]
    assert srp.startswith("features/srp64-r1/1: its sparse random projection is of revision 1, this neuroxr's is 2")
    assert srp.endswith("Recompute it with neuroxr extract ... --model-name srp64-r1 --layer 1 --overwrite")
    assert "extract_features" not in srp and "overwrite=True" not in srp
    assert "its PCA is of revision 2, this neuroxr's is 3" in flagged["features/pca64-r2/1"]
    res = runner.invoke(main, ["info", store.url])
    assert res.exit_code == 0 and "Layers reduced by an earlier revision (2)" in res.output
    assert f"  {srp}" in res.output.splitlines()

    with warnings.catch_warnings(record=True) as caught:  # the Python API: valid, one warning a layer, in Python
        warnings.simplefilter("always")
        assert validate_store(store) == []
    python = sorted(str(w.message) for w in caught if w.category is NeuroxrWarning)
    assert [cli_advice(m) for m in python] == sorted(flagged.values())
    assert "model_name='srp64-r1', layers=['1'], overwrite=True" in python[-1]
    res = runner.invoke(main, ["validate", store.url])  # a warning, as an entry of an older revision: status 0
    assert res.exit_code == 0, res.output
    assert "valid study store" in res.stdout and f"Warning: {srp}" in res.stderr.splitlines()
    res = runner.invoke(main, ["validate", "--json", store.url])
    assert res.exit_code == 0 and sorted(json.loads(res.stdout)["earlier_revision"]) == sorted(flagged.values())
    res = runner.invoke(main, ["validate", "-q", store.url])
    assert res.exit_code == 0 and res.output == ""

    assert run("srp64-r1", overwrite=True).written == ["1"]  # recomputed: no longer flagged
    assert [e["path"] for e in store_summary(store)["earlier_revision"]] == ["features/pca64-r2/1"]


def test_counting_the_float16_copy_in_full_keeps_the_pca_fit_partition(tmp_path, monkeypatch):
    """The copy counted in full lowers a float16 layer's batch below a size that changes its fit partition:
    a re-run over the layer written before must be skipped (not refused for its fit_batches), with the same features."""
    from neuroxr.extract import RESERVE_BYTES, plan_extraction
    from neuroxr.extract import plan as plan_module
    from neuroxr.extract.reduce import reduced_dtype

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 40)).to(torch.float16).eval()  # (tokens, 40) per stimulus, pooled
    n = 116
    x = torch.randn(n, 50, 1).to(torch.float16)
    ids = [f"t{i:03d}" for i in range(n)]
    kw = dict(layers=["0"], pooling="mean", stimulus_ids=ids, batch_size=128, reduction={"method": "pca", "n_components": 4})
    lp = plan_extraction(net, x, **kw).layers[0]
    limit = RESERVE_BYTES + lp.state_bytes + 60 * lp.in_flight(1, partition=True)  # 60 stimuli as counted before
    store = StudyStore(tmp_path / "s.zarr")
    with monkeypatch.context() as m:  # as the plan counted the copy before: at the outputs' width, 2 bytes a unit
        m.setattr(plan_module, "projection_copy_bytes", lambda method, outputs, dtype: reduced_dtype(outputs, dtype).itemsize)
        before = plan_extraction(net, x, memory_limit=limit, **kw).layers[0]
        extract_features(net, x, store, model_name="m", memory_limit=limit, progress=False, **kw)
    written = store.read_features("m", "0")
    now = plan_extraction(net, x, memory_limit=limit, **kw).layers[0]
    assert before.batch_size == 60 and now.batch_size < 60  # the pass: counted in full, within the budget
    assert now.in_flight_bytes + now.state_bytes + RESERVE_BYTES <= limit
    assert written.attrs["reduction"]["fit_batches"] == now.fit_batches == 1  # as fitted before (not 116 // 58 parts)
    assert len(np.array_split(np.arange(n), n // now.batch_size)) != now.fit_batches  # the pass's batch would change it
    assert extract_features(net, x, store, model_name="m", memory_limit=limit, progress=False, **kw).skipped == ["0"]
    fresh = StudyStore(tmp_path / "fresh.zarr")
    extract_features(net, x, fresh, model_name="m", memory_limit=limit, progress=False, **kw)
    np.testing.assert_array_equal(fresh.read_features("m", "0").values, written.values)  # the same features


class _NaNUnit(nn.Module):
    """Unit 0 NaN for every stimulus (a log of a negative, 0/0 in a norm)."""

    def forward(self, x):
        x = x.clone()
        x[:, 0] = float("nan")
        return x


@pytest.mark.parametrize("reduction", [None, {"method": "srp", "n_components": 8, "seed": 0},
                                       {"method": "pca", "n_components": 2, "seed": 0}])
def test_non_finite_outputs_are_refused_whatever_the_reduction(tmp_path, reduction):
    """A sparse projection never read most units (SRP stored finite features of a NaN unit) and PCA's fit
    raised scikit-learn's error: the outputs are checked before any reduction, with one message."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 400), _NaNUnit(), nn.Linear(400, 3)).eval()
    x = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    store = StudyStore(tmp_path / "s.zarr")
    with pytest.raises(ExtractionError, match=r"^layer '2': non-finite values \(NaN or inf\) for 6 stimuli") as e:
        extract_features(net, x, store, model_name="m", layers=["2"], reduction=reduction, progress=False)
    assert "\n" not in str(e.value)
    assert store.layers("m") == []  # nothing stored


@pytest.mark.parametrize("method", ["srp", "pca"])
def test_a_reduction_another_scikit_learn_would_not_reproduce_is_refused_not_skipped(tmp_path, monkeypatch, method):
    """The reduction's scikit-learn was not recorded, so a layer drawn or fitted by another release was
    skipped on a re-run. SRP: the stored draw's digest is compared with this release's draw (another
    release drawing the same is accepted); PCA: scikit-learn's version is compared."""
    import sklearn
    import sklearn.random_projection as rp

    from neuroxr.extract import reduce

    net, x, _ = net_and_stimuli()
    store = StudyStore(tmp_path / "s.zarr")
    red = {"method": method, "n_components": 4, **({"seed": 3} if method == "srp" else {})}  # a PCA of every stimulus draws none
    run = {"model_name": "m", "layers": ["1"], "reduction": red, "progress": False}
    extract_features(net, x, store, **run)
    stored = store.read_features("m", "1").attrs["reduction"]
    assert stored["sklearn"] == sklearn.__version__
    assert (len(stored.get("components_sha256", "")) == 64) == (method == "srp")
    monkeypatch.setattr(sklearn, "__version__", "0.0.1")  # a release that draws the same: SRP accepted
    if method == "srp":
        assert extract_features(net, x, store, **run).skipped == ["1"]
        draw = rp.SparseRandomProjection._make_random_matrix
        monkeypatch.setattr(rp.SparseRandomProjection, "_make_random_matrix",
                            lambda self, k, p: -draw(self, k, p))  # a release drawing other signs
        reduce._draw_srp.cache_clear()  # such a release runs in a new process: nothing drawn yet
        match = r"its sparse random projection was drawn by scikit-learn \S+, whose components differ"
    else:
        match = rf"its PCA was fitted by scikit-learn {stored['sklearn']}, this is scikit-learn 0\.0\.1"
    with pytest.raises(ExtractionError, match=match):
        extract_features(net, x, store, **run)
    assert extract_features(net, x, store, overwrite=True, **run).written == ["1"]
    assert reduce.sklearn_version() == "0.0.1"


def test_a_rerun_draws_the_stored_sparse_projection_once(tmp_path, monkeypatch):
    """A re-run compared a stored layer's projection with a fresh draw, and the pass that followed drew
    the same projection (same units, components, seed) again for a new layer; one draw now serves both."""
    import sklearn.random_projection as rp

    from neuroxr.extract import reduce

    _, x, _ = net_and_stimuli()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 40), nn.Tanh()).eval()  # layers "1" and "2": 40 units each
    store = StudyStore(tmp_path / "s.zarr")
    run = {"model_name": "m", "reduction": {"method": "srp", "n_components": 4, "seed": 5}, "progress": False}
    extract_features(net, x, store, layers=["1"], **run)
    reduce._draw_srp.cache_clear()  # as in a new process
    draws = []
    fit = rp.SparseRandomProjection.fit
    monkeypatch.setattr(rp.SparseRandomProjection, "fit", lambda self, X, y=None: draws.append(X.shape) or fit(self, X))
    got = extract_features(net, x, store, layers=["1", "2"], **run)
    assert (got.skipped, got.written, draws) == (["1"], ["2"], [(1, 40)])
    with torch.no_grad():
        expected = (_srp_reference(40, 4, 5, np.float64) @ net(x).numpy().astype(np.float64).T).T
    np.testing.assert_allclose(store.read_features("m", "2").values, expected, rtol=1e-5, atol=1e-6)
