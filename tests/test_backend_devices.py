"""Every score on every array backend equals NumPy: the four directions, the split-half ceilings,
inference, RDMs and their comparison, cRSA, CKA, effective dimensionality and the rank kernels, in
float64 (1e-8) and float32 (1e-4); and no host round trip inside the rep loop.

``torch`` runs on the CPU wherever torch is installed (CI); ``torch_cuda`` and ``cupy`` run only on a
machine with a CUDA GPU (``benchmarks/gpu.py`` records where they were last run).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import backend as B

TOL = {"float64": 1e-8, "float32": 1e-4}


def _has(name: str) -> bool:
    try:
        B.resolve_backend(name)
    except B.BackendError:
        return False
    return True


BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(not _has(name), reason=f"backend {name!r} is not available here"))
            for name in ("torch", "torch_cuda", "cupy")]
DTYPES = ["float64", "float32"]


def _close(got, ref, dtype, what=""):
    got, ref = np.asarray(B.to_numpy(got), dtype=np.float64), np.asarray(B.to_numpy(ref), dtype=np.float64)
    scale = max(1.0, float(np.nanmax(np.abs(ref)))) if np.isfinite(ref).any() else 1.0
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN in other places")
    np.testing.assert_allclose(got, ref, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


@pytest.fixture(scope="module")
def study():
    from neuroxr.datasets.synthetic import make_study

    return make_study(seed=3, n_stimuli=90, animals={"animalA": 14, "animalB": 11},
                      models={"netA": (("layer1", 40, 0.4, 8), ("layer3", 24, 1.0, 0))})


def _call(direction, study, **kw):
    F, G = study.features["netA"]["layer1"], study.features["netA"]["layer3"]
    A, Bn = study.neural["animalA"], study.neural["animalB"]
    if direction == "forward":
        return nx.forward(F, A, **kw)
    if direction == "reverse":
        return nx.reverse(A, F, **kw)
    if direction == "inter_animal":
        return nx.inter_animal(A, Bn, **kw)
    kw.pop("reps", None), kw.pop("seed", None)  # one fit: no split halves to draw
    return nx.model_to_model(F, G, **kw)


# ------------------------------------------------------------------------------ the four directions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal", "model_to_model"])
@pytest.mark.parametrize("name", BACKENDS)
def test_every_direction_equals_numpy(study, name, direction, dtype):
    ref = _call(direction, study, reps=3, seed=2)
    got = _call(direction, study, reps=3, seed=2, backend=name, dtype=dtype)
    assert got.attrs["backend"] == name and got.attrs["dtype"] == dtype
    for var in ref.data_vars:
        if np.issubdtype(ref[var].dtype, np.floating):
            # EV is in percent: compare it on the fraction scale, with the same relative tolerance
            div = 100.0 if var.startswith("ev") or "ceiling" in var and ref[var].attrs.get("units") == "percent" else 1.0
            _close(got[var].values / div, ref[var].values / div, dtype, f"{direction} {var}")


@pytest.mark.parametrize(("direction", "max_n"), [("forward", None), ("forward", 20), ("inter_animal", None)])
@pytest.mark.parametrize("name", BACKENDS)
def test_targets_halves_are_ranked_on_the_backend(study, name, direction, max_n, monkeypatch):
    """The targets' split-half reliabilities (their ranks and correlations) are computed on the
    requested backend: forward's two paths (chunked by targets; reps batched, with max_n) and
    inter-animal's target animal."""
    import importlib

    module = importlib.import_module(f"neuroxr.predictivity.{'forward' if direction == 'forward' else 'reverse'}")
    seen, orig = [], module.split_half_r
    monkeypatch.setattr(module, "split_half_r", lambda halves, *a, **k: seen.append(halves.xp.__name__) or orig(halves, *a, **k))
    _call(direction, study, reps=2, seed=0, max_n=max_n)
    assert seen and all("numpy" in m for m in seen), seen
    seen.clear()
    _call(direction, study, reps=2, seed=0, max_n=max_n, backend=name)
    assert seen and all(name.split("_")[0] in m for m in seen), seen


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BACKENDS)
def test_time_binned_forward_equals_numpy(name, dtype):
    rng = np.random.default_rng(4)
    n, p, k, T, bins = 60, 20, 5, 4, 3
    F = nx.features(rng.normal(size=(n, p)))
    R = nx.neural(F.values[:, :k, None, None] + rng.normal(size=(n, k, T, bins)),
                  time_bins=[(10.0 * t, 10.0 * (t + 1)) for t in range(bins)])
    ref = nx.forward(F, R, reps=2, seed=0)
    got = nx.forward(F, R, reps=2, seed=0, backend=name, dtype=dtype)
    assert "time_bin" in got.ev.dims
    _close(got.ev.values / 100, ref.ev.values / 100, dtype, "ev")
    _close(got.r.values, ref.r.values, dtype, "r")


@pytest.mark.parametrize("procedure", ["bootstrap", "permutation_test"])
@pytest.mark.parametrize("name", BACKENDS)
def test_inference_equals_numpy(study, name, procedure):
    from neuroxr.predictivity import inference

    F, R = study.features["netA"]["layer1"], study.neural["animalA"]
    fn = getattr(inference, procedure)
    kw = {"n_boot": 20, "reps": 2} if procedure == "bootstrap" else {"n_perm": 20}
    ref = fn("forward", F, R, seed=5, **kw)
    got = fn("forward", F, R, seed=5, backend=name, **kw)
    assert got.attrs["backend"] == name
    for var in ref.data_vars:
        if np.issubdtype(ref[var].dtype, np.floating):
            _close(got[var].values / 100, ref[var].values / 100, "float64", f"{procedure} {var}")


# ------------------------------------------------------------------------------ geometry and ranks
@pytest.mark.parametrize("name", BACKENDS)
def test_geometry_equals_numpy(study, name, monkeypatch):
    from neuroxr import geometry as geo
    from neuroxr.kernels import compare as _c

    F, G = study.features["netA"]["layer1"], study.features["netA"]["layer3"]
    A = study.neural["animalA"]
    ref = {m: geo.rdm(F, m) for m in ("correlation", "euclidean", "cosine")}
    for m, D in ref.items():
        _close(geo.rdm(F, m, backend=name).values, D.values, "float64", f"rdm {m}")
    Dg = geo.rdm(G)
    seen, orig = [], _c.compare_rdms
    monkeypatch.setattr(_c, "compare_rdms", lambda va, vb, *a, **k: seen.append(type(va).__module__) or orig(va, vb, *a, **k))
    for method in ("spearman", "kendall", "pearson"):
        seen.clear()
        want = geo.compare_rdms(ref["correlation"], Dg, method)
        assert seen == ["numpy"]
        _close(geo.compare_rdms(ref["correlation"], Dg, method, backend=name).values, want.values, "float64", method)
        with B.use_backend(name):  # the global backend is the default
            _close(geo.compare_rdms(ref["correlation"], Dg, method).values, want.values, "float64", method)
        assert [m.split(".")[0] for m in seen[1:]] == [name.split("_")[0]] * 2, f"{method}: compared on {seen[1:]}"
    seen.clear()
    want = geo.crsa(F, A, reps=2, seed=1)
    assert seen == ["numpy"] * 3  # the score and the ceiling's two reps
    seen.clear()
    got = geo.crsa(F, A, reps=2, seed=1, backend=name)
    assert [m.split(".")[0] for m in seen] == [name.split("_")[0]] * 3, f"crsa compared on {seen}"
    for var in want.data_vars:
        _close(got[var].values, want[var].values, "float64", f"crsa {var}")
    want = float(geo.cka(F, G)), float(geo.effective_dimensionality(F))
    with B.use_backend(name):
        got = float(geo.cka(F, G)), float(geo.effective_dimensionality(F))
    _close(np.array(got), np.array(want), "float64", "cka, effective dimensionality")


@pytest.mark.parametrize("name", BACKENDS)
def test_split_distance_fits_on_the_backend(study, name, monkeypatch):
    """The shape metric's fit and distances (split_distance, the store's shape entries) run on the
    backend and give NumPy's numbers."""
    from neuroxr import geometry as geo
    from neuroxr.kernels import shape as ks

    F, A = study.features["netA"]["layer1"], study.neural["animalA"]
    seen, orig = [], ks.fit_parts
    monkeypatch.setattr(ks, "fit_parts", lambda X, *a, **k: seen.append(type(X).__module__) or orig(X, *a, **k))
    for alpha in (1.0, 0.5):
        want = geo.split_distance(F, A, alpha=alpha)
        got = geo.split_distance(F, A, alpha=alpha, backend=name)
        _close(got["distance"].values, want["distance"].values, "float64", f"split_distance alpha={alpha}")
        assert (got["stimulus_split"].values == want["stimulus_split"].values).all()
    assert {m.split(".")[0] for m in seen} == {"numpy", name.split("_")[0]}, seen


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BACKENDS)
def test_rank_and_tie_kernels_equal_numpy(name, dtype):
    from scipy.stats import kendalltau, rankdata

    rng = np.random.default_rng(0)
    x = rng.integers(0, 9, size=400).astype(float)  # many ties
    y = x + rng.integers(0, 3, size=400)
    xd = B.asarray(x, name, dtype)
    _close(B.rank(xd), rankdata(x), dtype, "rank")
    assert B.tie_pairs(B.asarray(np.sort(x), name, dtype)) == B.tie_pairs(np.sort(x))
    z = rng.normal(size=50)
    order = B.argsort(B.asarray(z, name, dtype))
    np.testing.assert_array_equal(B.to_numpy(order), np.argsort(z, kind="stable"))
    assert B.count_inversions(order) == B.count_inversions(np.argsort(z, kind="stable"))
    from neuroxr.kernels.compare import kendall_tau_a

    want = kendalltau(x, y, variant="b")  # a reference computed here; tau-a compared with our NumPy path
    assert np.isfinite(want.statistic)
    _close(np.array(kendall_tau_a(B.asarray(x, name, dtype), B.asarray(y, name, dtype))),
           np.array(kendall_tau_a(x, y)), dtype, "kendall tau-a")


# ------------------------------------------------------------------------------ host round trips
def _count_host_reads(monkeypatch):
    """Count every read of a tensor's value on the host (to NumPy, item, bool/float/int, tolist) and
    every call of a torch.linalg function that reads its error status back on a CUDA device."""
    torch = pytest.importorskip("torch")
    counts = collections.Counter()

    def count(owner, name, label):
        orig = getattr(owner, name)

        def wrapped(*a, _orig=orig, **kw):
            counts[label] += 1
            return _orig(*a, **kw)

        monkeypatch.setattr(owner, name, wrapped)

    for meth in ("numpy", "item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        count(torch.Tensor, meth, meth)
    for fn in ("solve", "inv", "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "lstsq", "det", "slogdet"):
        count(torch.linalg, fn, f"linalg.{fn}")
    return counts


@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal"])
def test_no_host_round_trip_inside_the_rep_loop(study, monkeypatch, direction):
    """The number of host reads of device arrays does not grow with reps: each rep's split halves,
    predictions, correlations and ceilings stay on the device until the final transfer."""
    _call(direction, study, reps=1, seed=0, backend="torch")  # first-call costs out of the count
    counts = _count_host_reads(monkeypatch)
    seen = []
    for reps in (2, 6):
        counts.clear()
        _call(direction, study, reps=reps, seed=0, backend="torch")
        seen.append(dict(counts))
    assert seen[0] == seen[1], f"{direction}: host reads grow with reps: {seen[0]} at reps=2, {seen[1]} at reps=6"


def test_no_device_to_host_copy_inside_the_rep_loop_on_the_gpu(study):
    """On a CUDA GPU, counted by the CUDA profiler: the device-to-host copies of a forward, a reverse and
    an inter-animal call do not grow with reps."""
    if not _has("torch_cuda"):
        pytest.skip("needs torch with a CUDA GPU")
    import torch
    from torch.profiler import ProfilerActivity, profile

    def copies(direction, reps):
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            _call(direction, study, reps=reps, seed=0, backend="torch_cuda")
            torch.cuda.synchronize()
        return sum(1 for e in prof.events() if "Memcpy DtoH" in e.name)

    for direction in ("forward", "reverse", "inter_animal"):
        copies(direction, 1)
        few, many = copies(direction, 2), copies(direction, 6)
        assert few > 0, "the profiler saw no copy at all (the final result must come back)"
        assert few == many, f"{direction}: {few} device-to-host copies at reps=2, {many} at reps=6"


@pytest.mark.parametrize("name", BACKENDS)
def test_ersa_and_ereg_equal_numpy(study, name):
    from neuroxr import geometry as geo

    F, A = study.features["netA"]["layer1"], study.neural["animalA"]
    for fn, kw in ((geo.ersa, {}), (geo.ereg, {"n_components": 12, "seed": 1})):
        want, got = fn(F, A, **kw), fn(F, A, **kw, backend=name)
        for var in want.data_vars:
            if np.issubdtype(want[var].dtype, np.floating):
                _close(got[var].values, want[var].values, "float64", f"{fn.__name__} {var}")


def test_store_rsa_entries_fit_on_the_requested_backend(sweep_copy, monkeypatch):
    """ersa / ereg entries received no backend: their ridge fits ran on NumPy whatever the store's
    compute (or a sweep) asked for."""
    pytest.importorskip("torch")
    from neuroxr.entries import score
    from neuroxr.geometry import rsa

    path = str(sweep_copy())
    seen = []
    orig = rsa.oof_predict
    monkeypatch.setattr(rsa, "oof_predict", lambda X, *a, **k: seen.append(type(X).__module__) or orig(X, *a, **k))
    for kind, params in (("ersa", {}), ("ereg", {"n_components": 8})):
        seen.clear()
        want = score(path, kind, "netB.fc", "animalA", **params)
        got = score(path, kind, "netB.fc", "animalA", overwrite=True, backend="torch", **params)
        assert seen and all(m.startswith("numpy") for m in seen[: len(seen) // 2])
        assert all(m.startswith("torch") for m in seen[len(seen) // 2:]), f"{kind}: {seen}"
        for var in want.data_vars:
            if np.issubdtype(want[var].dtype, np.floating):
                _close(got[var].values, want[var].values, "float64", f"{kind} {var}")
