"""Array backends: NumPy vs torch (CPU) parity of the ridge kernels and directions; GPU backends; lazy imports."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import backend as B
from neuroxr.errors import BackendError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.ridge import oof_operator, oof_operator_from_gram, oof_predict_designs

TOL = {"float64": 1e-8, "float32": 1e-4}


def _has_cuda_torch() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _has_cupy_gpu() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


GPU_BACKENDS = [
    pytest.param("torch_cuda", marks=pytest.mark.skipif(not _has_cuda_torch(), reason="needs torch with a CUDA GPU")),
    pytest.param("cupy", marks=pytest.mark.skipif(not _has_cupy_gpu(), reason="needs CuPy and a CUDA GPU")),
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 60
    X_wide = rng.normal(size=(n, 90))   # more features than training stimuli: dual form
    X_tall = rng.normal(size=(n, 12))   # fewer: primal form
    Y = X_tall @ rng.normal(size=(12, 7)) + rng.normal(size=(n, 7))
    D = rng.normal(size=(5, n, 8))
    return {"X_wide": X_wide, "X_tall": X_tall, "Y": Y, "D": D, "folds": kfold_indices(n, 10, 0)}


def _close(a, b, dtype):
    a, b = B.to_numpy(a).astype(np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def _backends():
    pytest.importorskip("torch")
    return ["torch"]


# ------------------------------------------------------------------------------ kernels: numpy vs torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("which", ["X_wide", "X_tall"])
@pytest.mark.parametrize("alpha", [0.1, 0.0])
def test_oof_operator_torch_matches_numpy(data, dtype, which, alpha):
    _backends()
    X = data[which]
    ref = oof_operator(X, data["folds"], alpha)
    if alpha == 0.0 and which == "X_wide" and dtype == "float32":
        pytest.skip("minimum-norm least squares on an under-determined design is ill-conditioned in float32")
    got = oof_operator(B.asarray(X, "torch", dtype), data["folds"], alpha)
    assert type(got).__module__.startswith("torch") and str(got.dtype).endswith(dtype)
    _close(got @ B.asarray(data["Y"], "torch", dtype), ref @ data["Y"], dtype)
    if dtype == "float64":
        _close(got, ref, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_oof_operator_from_gram_torch_matches_numpy(data, dtype):
    _backends()
    Xc = data["X_wide"] - data["X_wide"].mean(axis=0)
    K = Xc @ Xc.T
    ref = oof_operator_from_gram(K, data["folds"], 0.1)
    got = oof_operator_from_gram(B.asarray(K, "torch", dtype), data["folds"], 0.1)
    _close(got @ B.asarray(data["Y"], "torch", dtype), ref @ data["Y"], dtype)
    # and the Gram route equals the design route
    np.testing.assert_allclose(ref, oof_operator(data["X_wide"], data["folds"], 0.1), atol=1e-9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_oof_predict_designs_torch_matches_numpy(data, dtype):
    _backends()
    ref = oof_predict_designs(data["D"], data["Y"], data["folds"], 0.1)
    got = oof_predict_designs(B.asarray(data["D"], "torch", dtype), B.asarray(data["Y"], "torch", dtype), data["folds"], 0.1)
    assert tuple(got.shape) == ref.shape
    _close(got, ref, dtype)


# ------------------------------------------------------------------------------ directions on torch
@pytest.fixture(scope="module")
def study():
    from neuroxr.datasets.synthetic import make_study

    return make_study(seed=0, n_stimuli=120, animals={"animalA": 20, "animalB": 16},
                      models={"netA": (("layer1", 60, 0.4, 8), ("layer3", 32, 1.0, 0))})


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_directions_torch_match_numpy(study, direction, dtype):
    _backends()
    from neuroxr import predictivity as directions

    F, R = study.features["netA"]["layer1"], study.neural["animalA"]
    fn = directions.forward if direction == "forward" else directions.reverse
    args = (F, R) if direction == "forward" else (R, F)
    ref = fn(*args, reps=2, seed=1)
    got = fn(*args, reps=2, seed=1, backend="torch", dtype=dtype)
    assert got.attrs["backend"] == "torch" and got.attrs["dtype"] == dtype
    for var in ("r", "prediction_shc"):
        _close(got[var].values, ref[var].values, dtype)
    # EV is a ratio of correlations: compare it on the percent scale with the same relative tolerance
    _close(got["ev"].values / 100, ref["ev"].values / 100, dtype)


def test_gram_dataset_metrics_run_on_the_global_torch_backend(study):
    """cka and effective_dimensionality of a Gram Dataset (the store's cached Gram) raised TypeError under
    nx.set_backend("torch"): the Gram's trace check read a torch tensor with NumPy."""
    _backends()
    from neuroxr import backend as B
    from neuroxr import geometry as geo

    F, G = study.features["netA"]["layer1"], study.features["netA"]["layer3"]
    g = geo.gram(F)
    ref = float(geo.cka(g, G)), float(geo.effective_dimensionality(g))
    with B.use_backend("torch"):
        got = float(geo.cka(g, G)), float(geo.effective_dimensionality(g))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("procedure", ["bootstrap", "permutation_test"])
def test_inference_records_the_fit_parameters_that_change_its_numbers(study, procedure):
    """bootstrap / permutation_test recorded neither dtype nor backend (nor n_components, alphas): a float32
    torch run and a float64 NumPy one, or PLS with 3 and 6 components, had identical attrs."""
    _backends()
    from neuroxr.predictivity import inference

    F, R = study.features["netA"]["layer1"], study.neural["animalA"]
    fn = getattr(inference, procedure)
    kw = {"n_boot": 5, "reps": 2} if procedure == "bootstrap" else {"n_perm": 5}
    got = fn("forward", F, R, backend="torch", dtype="float32", **kw).attrs
    assert (got["backend"], got["dtype"]) == ("torch", "float32")
    got = fn("forward", F, R, regressor="pls", n_components=3, **kw).attrs
    assert (got["backend"], got["dtype"], got["n_components"]) == ("numpy", "float64", 3)


# ------------------------------------------------------------------------------ GPU backends
@pytest.mark.parametrize("name", GPU_BACKENDS)
def test_gpu_backend_matches_numpy(data, name):
    ref = oof_predict_designs(data["D"], data["Y"], data["folds"], 0.1)
    got = oof_predict_designs(B.asarray(data["D"], name), B.asarray(data["Y"], name), data["folds"], 0.1)
    _close(got, ref, "float64")
    S = oof_operator(B.asarray(data["X_wide"], name, "float32"), data["folds"], 0.1)
    _close(S, oof_operator(data["X_wide"], data["folds"], 0.1), "float32")


def test_gpu_backend_without_gpu_is_a_clear_error():
    if not _has_cuda_torch():
        try:
            import torch  # noqa: F401
        except ImportError:
            match = "needs torch"
        else:
            match = "needs a CUDA GPU"
        with pytest.raises(B.BackendError, match=match):
            B.resolve_backend("torch_cuda")
        with pytest.raises(B.BackendError, match="torch_cuda"):
            B.asarray(np.zeros(3), "torch_cuda")
    if not _has_cupy_gpu():
        with pytest.raises(B.BackendError, match="cupy"):
            B.resolve_backend("cupy")
        with pytest.raises(B.BackendError, match="cupy"):
            B.set_backend("cupy")
        assert B.get_backend() == "numpy"  # a refused switch leaves the default alone
    if _has_cuda_torch() and _has_cupy_gpu():
        pytest.skip("this machine has a GPU for both backends")


def test_unknown_backend_and_dtype():
    with pytest.raises(B.BackendError, match=r"backend='jax' is not known; choose one of"):
        B.resolve_backend("jax")
    with pytest.raises(B.BackendError, match="float32"):
        B.resolve_dtype("int32")


def test_use_backend_restores_default():
    _backends()
    assert B.get_backend() == "numpy"
    with B.use_backend("torch") as name:
        assert name == "torch" and B.get_backend() == "torch"
        assert type(B.asarray([1.0, 2.0])).__module__.startswith("torch")
    assert B.get_backend() == "numpy"
    with pytest.raises(RuntimeError):
        with B.use_backend("torch"):
            raise RuntimeError("boom")
    assert B.get_backend() == "numpy"


def test_to_numpy_round_trip():
    torch = pytest.importorskip("torch")
    x = np.arange(6.0).reshape(2, 3)
    t = B.asarray(x, "torch", "float32")
    assert t.dtype == torch.float32
    back = B.to_numpy(t)
    assert isinstance(back, np.ndarray) and np.array_equal(back, x)
    assert B.to_numpy(x) is x


# ------------------------------------------------------------------------------ lazy imports
def test_import_neuroxr_does_not_import_gpu_libraries():
    """neuroxr imports neither torch nor cupy. Its required dependencies are imported first: zarr imports
    cupy itself where cupy is installed (for its GPU buffers), which is not neuroxr's doing."""
    code = (
        "import sys, numpy, scipy, xarray, dask.array, distributed, zarr\n"
        "before = set(sys.modules)\n"
        "import neuroxr, neuroxr.predictivity, neuroxr.sweep, neuroxr.geometry, neuroxr.backend, neuroxr.cli\n"
        "bad = [m for m in ('torch', 'cupy') if m in sys.modules and m not in before]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing neuroxr imported {out.stdout.strip()}"


# --- every NumPy fast path equals the generic array-API version of the same operation
def _spd(rng, n, batch=()):
    A = rng.standard_normal((*batch, n, n + 3))
    return A @ np.swapaxes(A, -1, -2) + np.eye(n)


def test_numpy_fast_paths_equal_the_generic_array_api_versions(monkeypatch):
    from neuroxr.backend import _array_api as G
    from neuroxr.backend import _numpy as N

    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 13))
    np.testing.assert_allclose(N.gram_matrix(X), G.gram_matrix(X), rtol=1e-12)
    np.testing.assert_array_equal(N.gram_matrix(X), N.gram_matrix(X).T)  # exactly symmetric
    np.testing.assert_allclose(N.gram_matrix(np.asfortranarray(X)), X @ X.T, rtol=1e-12)
    # the centred kernel: several blocks of columns (a large offset: centring each block first keeps
    # its precision), C-, F-ordered, strided, float32
    W = rng.standard_normal((7, 1300)) + 1e6
    Wc = W - W.mean(axis=0)
    for Y, limit in itertools.product((W, np.asfortranarray(W), W[:, ::2], W.astype(np.float32)), (2**20, 0)):
        monkeypatch.setattr(N, "NUMPY_GRAM_BYTES", limit)  # NumPy's product per block, or SciPy's syrk in place
        Yc = (Y - Y.mean(axis=0)).astype(np.float64)
        got = N.centred_gram(Y, block_bytes=1024)
        np.testing.assert_array_equal(got, got.T)
        np.testing.assert_allclose(got, Yc @ Yc.T, rtol=1e-4 if Y.dtype == np.float32 else 1e-10)
        np.testing.assert_allclose(G.centred_gram(Y, 1024), Yc @ Yc.T, rtol=1e-4 if Y.dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(N.centred_gram(W), Wc @ Wc.T, rtol=1e-10)
    monkeypatch.setattr(N, "NUMPY_GRAM_BYTES", 2**20)
    monkeypatch.setattr(N, "GRAM_BLOCK_COLUMNS", 300)  # NumPy's path by default: blocks of columns, not bytes
    got = N.centred_gram(W)
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_allclose(got, Wc @ Wc.T, rtol=1e-10)
    K = X @ X.T
    u, a = rng.standard_normal(9), rng.standard_normal(9)
    c = rng.standard_normal(9)
    np.testing.assert_allclose(N.shifted_gram(K, u, a, 13.0), G.shifted_gram(K, u, a, 13.0), rtol=1e-12)
    np.testing.assert_allclose(N.shifted_gram(K, u, a, 13.0, c), G.shifted_gram(K, u, a, 13.0) + np.outer(c, c), rtol=1e-12)
    for aa, cc in ((a, None), (None, None), (a, c)):
        Kp = K + 50 * np.eye(9)
        ref = G.normalized_dissimilarity(Kp, u, aa, 13.0, 1e-13, c=cc)
        np.testing.assert_allclose(N.normalized_dissimilarity(Kp.copy(), u, aa, 13.0, 1e-13, c=cc), ref, rtol=1e-12, atol=1e-14)
    D = rng.standard_normal((3, 6, 6))
    np.testing.assert_array_equal(N.upper_tri(D), G.upper_tri(D))
    np.testing.assert_array_equal(N.upper_tri(D[0]), G.upper_tri(D[0]))
    A, Bm = _spd(rng, 5), rng.standard_normal((5, 4))
    np.testing.assert_allclose(N.spd_solve(A, Bm), G.spd_solve(A, Bm), rtol=1e-10)
    np.testing.assert_allclose(N.spd_inverse(A.copy()), G.spd_inverse(A), rtol=1e-10)
    Ab, Xb = _spd(rng, 4, (3,)), rng.standard_normal((3, 7, 4))
    np.testing.assert_allclose(N.spd_solve_right(Xb, Ab), G.spd_solve_right(Xb, Ab), rtol=1e-10)
    np.testing.assert_allclose(N.spd_solve_right(Xb[:, :2], Ab), G.spd_solve_right(Xb[:, :2], Ab), rtol=1e-10)
    np.testing.assert_allclose(N.spd_shift(Ab.copy(), 0.5), G.spd_shift(Ab, 0.5), rtol=1e-14)
    a2, b2 = rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 6, 3))
    np.testing.assert_allclose(N.colsum_prod(a2, b2), G.colsum_prod(a2, b2), rtol=1e-12)
    out1, out2 = np.empty((6, 6)), np.empty((6, 6))
    np.testing.assert_allclose(N.matmul_into(a2[0], b2[0].T, out1), G.matmul_into(a2[0], b2[0].T, out2), rtol=1e-12)
    np.testing.assert_array_equal(N.subtract_into(a2, b2, out=np.empty_like(a2)), G.subtract_into(a2, b2, np.empty_like(a2)))
    np.testing.assert_allclose(N.axpy_into(a2, 0.3, b2, np.empty_like(a2)), G.axpy_into(a2, 0.3, b2, np.empty_like(a2)), rtol=1e-15)
    V = rng.integers(0, 4, (5, 40)).astype(float)
    np.testing.assert_array_equal(N.rank(V), G.rank(V))
    W = V / 0.3 + rng.integers(-3, 4, V.shape) * 4e-16 * V.max() / 0.3  # ties broken by rounding
    np.testing.assert_array_equal(N.rank(W), G.rank(W))
    np.testing.assert_array_equal(N.rank(W), N.rank(V))
    S = np.sort(W, axis=-1)
    np.testing.assert_array_equal(N.tie_links(S), G.tie_links(S))
    np.testing.assert_array_equal(N.sorted_ranks(N.tie_links(S)), G.sorted_ranks(G.tie_links(S)))
    perm = rng.permutation(100)
    assert N.count_inversions(perm) == G.count_inversions(perm)
    s = np.sort(V[0])
    assert N.tie_pairs(s) == G.tie_pairs(s)
    v1, v2 = rng.standard_normal(30), rng.standard_normal(30)
    for center in (True, False):
        assert N.pearson_vectors(v1, v2, center) == pytest.approx(G.pearson_vectors(v1, v2, center), rel=1e-12)


def test_operations_dispatch_on_the_array_type():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    A = _spd(rng, 4)
    Bm = rng.standard_normal((4, 2))
    got = B.spd_solve(torch.tensor(A), torch.tensor(Bm))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), np.linalg.solve(A, Bm), rtol=1e-10)
    V = rng.integers(0, 3, (2, 9)).astype(float)
    r = B.rank(torch.tensor(V))
    assert isinstance(r, torch.Tensor)
    np.testing.assert_array_equal(r.numpy(), B.rank(V))


# --- BLAS thread policy (issue 17)
def _blas_now():
    """NumPy's BLAS threads (the library that holds a direction's threads)."""
    from neuroxr.backend import _threads

    return _threads._current_limit(_threads._get_controller())


def test_other_blas_libraries_run_on_one_thread_inside_a_direction():
    """pip wheels of NumPy and SciPy bundle two OpenBLAS builds: inside the policy SciPy's runs on
    one thread (its idle threads would spin beside NumPy's), and every count is restored after."""
    from neuroxr.backend import _threads, blas_threads

    ctl = _threads._get_controller()
    mine, others = _threads._blas_libs(ctl)
    before = [lib.num_threads for lib in mine + others]
    with blas_threads(2) as n:
        assert all(lib.num_threads == n for lib in mine) and all(lib.num_threads == 1 for lib in others)
    assert [lib.num_threads for lib in mine + others] == before


def test_blas_threads_limits_restores_and_never_raises():
    from threadpoolctl import threadpool_limits

    from neuroxr.backend import blas_threads, idle_cores

    before = _blas_now()
    with blas_threads(1) as n:
        assert n == 1 and _blas_now() == 1
    assert _blas_now() == before
    with threadpool_limits(1, user_api="blas"):  # a limit already in force (e.g. a sweep task)
        with blas_threads(8) as n:
            assert n == 1 and _blas_now() == 1
        with blas_threads("auto") as n:
            assert n == 1
    assert 0 <= idle_cores() <= os.cpu_count()


def test_blas_threads_policy_applies_to_directions(monkeypatch):
    import neuroxr.backend._threads as th
    from neuroxr.backend import get_blas_threads, use_blas_threads

    seen = []
    real = th.blas_threads

    def spy(value=...):
        seen.append(th._setting if value is ... else value)
        return real(value)

    monkeypatch.setattr(th, "blas_threads", spy)
    import neuroxr.backend as be

    monkeypatch.setattr(be, "blas_threads", spy)
    rng = np.random.default_rng(0)
    F, R = rng.normal(size=(40, 6)), rng.normal(size=(40, 3, 4))
    policy = get_blas_threads()
    with use_blas_threads(1):
        nx.forward(nx.features(F), nx.neural(R), reps=1)
        nx.reverse(nx.neural(R), nx.features(F), reps=1)
    assert seen == [1, 1] and get_blas_threads() == policy
    with pytest.raises(BackendError, match="blas_threads"):
        th.set_blas_threads(0)


def test_cpu_threads_follow_the_policy_and_thread_map_keeps_order():
    import threading

    from neuroxr.backend import blas_threads, cpu_threads, one_blas_thread, thread_map

    with blas_threads(1):
        assert cpu_threads() == 1
    before = _blas_now()
    with blas_threads(2) as n:
        assert cpu_threads() == n
        with one_blas_thread():  # BLAS on one thread, the direction's threads unchanged
            assert _blas_now() == 1 and cpu_threads() == n
        assert _blas_now() == n
    assert _blas_now() == before
    both = threading.Barrier(2, timeout=10)  # the two runs (items 0-2, 3-6) start side by side

    def f(i):
        own = threading.get_ident()
        if i in (0, 3):
            both.wait()
        return i, own, thread_map(lambda j: threading.get_ident(), [0, 1], 2)  # nested: runs in place

    out = thread_map(f, list(range(7)), 2)
    assert [o[0] for o in out] == list(range(7)) and len({o[1] for o in out}) == 2
    assert all(inner == [own, own] for _, own, inner in out)
    assert thread_map(lambda i: threading.get_ident(), [0, 1], 1) == [threading.get_ident()] * 2
    with pytest.raises(ValueError, match="boom"):
        thread_map(lambda i: (_ for _ in ()).throw(ValueError("boom")) if i == 5 else i, list(range(7)), 3)


def test_in_background_runs_beside_the_caller_or_in_line(monkeypatch):
    import threading

    from neuroxr.backend import _threads, in_background

    started = threading.Event()

    def work():
        started.set()
        return threading.get_ident(), _threads.cpu_threads()

    monkeypatch.setattr(_threads, "cpu_threads", lambda: 2)
    result = in_background(work)
    assert started.wait(10)  # started before its result is asked for
    own, inner = result()
    assert own != threading.get_ident() and inner == 2  # (the patched count; unpatched it is 1 there)
    failing = in_background(lambda: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        failing()
    monkeypatch.setattr(_threads, "cpu_threads", lambda: 1)
    started.clear()
    result = in_background(work)
    assert started.is_set() and result()[0] == threading.get_ident()  # one thread: run at once, in line


def test_large_syrk_calls_run_on_one_blas_thread(monkeypatch):
    """Above THREADED_SYRK_MAX the syrk-based NumPy paths (Gram, Cholesky solve and inverse) run
    on one BLAS thread (the bundled OpenBLAS faults in threaded syrk at large orders); same numbers."""
    import neuroxr.backend._numpy as bnp

    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 8))
    A = X @ X.T + 30 * np.eye(30)
    B = rng.normal(size=(30, 2))
    ref = (bnp.gram_matrix(X), bnp.spd_solve(A.copy(), B), bnp.spd_inverse(A.copy()))
    seen = []

    def spy():
        seen.append(_blas_now())

    real = bnp._syrk_threads

    @contextlib.contextmanager
    def watched(n):
        with real(n):
            spy()
            yield

    monkeypatch.setattr(bnp, "THREADED_SYRK_MAX", 10)
    monkeypatch.setattr(bnp, "_syrk_threads", watched)
    got = (bnp.gram_matrix(X), bnp.spd_solve(A.copy(), B), bnp.spd_solve(A.copy(), B, overwrite=True), bnp.spd_inverse(A.copy()))
    assert seen == [1, 1, 1, 1]
    for g, r in zip(got, (ref[0], ref[1], ref[1], ref[2])):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block", [2**15, 50])  # one block, or blocks of 4 stimuli (30 = 7 x 4 + 2)
@pytest.mark.parametrize("T", [1, 2, 3, 7, 8, 20])
def test_sum_last_equals_numpy_sum_bit_for_bit(monkeypatch, T, block):
    """The repeats' sums (short last axis, slice by slice, blocks of stimuli) are NumPy's own sums,
    NaN, views and 2-D arrays included."""
    import neuroxr.backend._numpy as bnp
    from neuroxr.backend import sum_last

    monkeypatch.setattr(bnp, "_SUM_BLOCK", block)
    rng = np.random.default_rng(T)
    R = rng.normal(size=(30, 12, T)) * 10.0 ** rng.uniform(-6, 6, size=(30, 12, T))
    R[0, 0, 0] = np.nan
    for x in (R, R[:, ::3], R.transpose(1, 0, 2), R[:, 0], R.astype(np.float32), (R > 0).astype(np.int64),
              R[:0], R[:, :0]):  # no stimuli, no neuroids
        np.testing.assert_array_equal(sum_last(x), np.sum(x, axis=-1))


def test_a_backend_the_regressor_does_not_run_on_is_refused_or_recorded_as_numpy(study):
    """backend='torch' with lasso (or PLS, ridgecv, an estimator) ran on NumPy and was recorded as torch; dtype
    is refused there as having no effect, and so is backend now; the global backend is recorded as the fit ran."""
    _backends()
    from neuroxr import backend as B
    from neuroxr.errors import ParameterError

    F, R = study.features["netA"]["layer1"], study.neural["animalA"]
    with pytest.raises(ParameterError, match=r"^forward: backend='torch' has no effect with regressor='lasso' .*drop it"):
        nx.forward(F, R, reps=2, regressor="lasso", backend="torch")
    with B.use_backend("torch"):
        assert nx.forward(F, R, reps=2, regressor="pls", n_components=3).attrs["backend"] == "numpy"
        assert nx.forward(F, R, reps=2).attrs["backend"] == "torch"


def test_backend_refusals_start_with_the_function_called():
    """rdm, crsa, gram and gram_stats refused a backend without their name (crsa after reading its inputs), and
    every 'needs a GPU' message lacked the caller's name."""
    from neuroxr import geometry as geo
    from neuroxr.errors import BackendError

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(12)]
    F = nx.features(rng.normal(size=(12, 5)), ids)
    R = nx.neural(rng.normal(size=(12, 4, 3)), ids)
    for fn, call in (("rdm", lambda b: geo.rdm(F, backend=b)), ("crsa", lambda b: geo.crsa(F, R, backend=b)),
                     ("gram", lambda b: geo.gram(F, backend=b)), ("gram_stats", lambda b: geo.gram_stats(geo.gram(F), backend=b)),
                     ("forward", lambda b: nx.forward(F, R, backend=b))):
        with pytest.raises(BackendError, match=rf"^{fn}: backend='jax' is not known"):
            call("jax")
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match=r"^forward: backend='torch_cuda' needs a CUDA GPU"):
            nx.forward(F, R, backend="torch_cuda")


def test_shape_metrics_refuse_networks_of_two_array_libraries():
    """A NumPy and a torch network raised array-api-compat's 'Multiple namespaces' TypeError; half-precision
    tensors torch's 'not implemented for Half' (NumPy's float16 is read as float64, and so is torch's now)."""
    torch = pytest.importorskip("torch")
    from neuroxr import geometry as geo
    from neuroxr.errors import LayoutError

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 6)), rng.normal(size=(30, 7))
    with pytest.raises(LayoutError, match=r"^LinearMetric: the networks are arrays of different libraries \(X: numpy, Y: torch\)"):
        geo.LinearMetric().fit_distance(X, torch.as_tensor(Y))
    with pytest.raises(LayoutError, match=r"^pairwise_distances: the networks are arrays of different libraries"):
        geo.pairwise_distances([X, torch.as_tensor(Y)])
    half = geo.LinearMetric().fit_distance(torch.as_tensor(X).half(), torch.as_tensor(Y).half())
    assert half == pytest.approx(geo.LinearMetric().fit_distance(X.astype(np.float16), Y.astype(np.float16)), rel=1e-10)



def _check_float32_ranks(n: int) -> None:
    """Ranks of a float32 lane of ``n`` values with a tie at the top, in every backend and SortedVector,
    against scipy's: float64 past :data:`~neuroxr.backend._array_api.EXACT_FLOAT32_RANKS`, float32 up to it."""
    torch = pytest.importorskip("torch")
    from scipy.stats import rankdata

    from neuroxr.backend import _array_api as G
    from neuroxr.kernels.stats import SortedVector

    x = np.random.default_rng(0).permutation(n).astype(np.float32)
    x[x == n - 1] = n - 2  # a tie at the top: both ranked n - 0.5
    ref = rankdata(x)
    want = np.float64 if n > G.EXACT_FLOAT32_RANKS else np.float32
    for got in (B.rank(torch.from_numpy(x)), G.rank(x), SortedVector(torch.from_numpy(x)).ranks()):
        got = got.numpy() if isinstance(got, torch.Tensor) else got
        assert got.dtype == want
        np.testing.assert_array_equal(got, ref)
    fast = B.rank(x)  # NumPy's fast path: float64 ranks of the same values (docs/kernels.md)
    assert fast.dtype == np.float64
    np.testing.assert_array_equal(fast, ref)


def test_float32_ranks_switch_to_float64_past_the_exact_length(monkeypatch):
    """float32 holds every average rank (multiples of 1/2) up to 2**23 values and not one more; past
    that length the ranks are float64 (here with the limit lowered, so the lanes stay short)."""
    from neuroxr.backend import _array_api as G

    lim = G.EXACT_FLOAT32_RANKS
    assert float(np.float32(lim - 0.5)) == lim - 0.5 and float(np.float32(lim + 0.5)) != lim + 0.5
    _check_float32_ranks(40)
    monkeypatch.setattr(G, "EXACT_FLOAT32_RANKS", 32)
    _check_float32_ranks(40)
    _check_float32_ranks(32)


class _FakeLibrary:
    """A thread-limited library (threadpoolctl's interface) that records its count."""

    def __init__(self, n):
        self.num_threads = n

    def set_num_threads(self, n):
        self.num_threads = n


def test_blocks_of_two_threads_ending_out_of_order_restore_the_counts():
    """The limits are process-wide: two direction calls overlapping on two threads (a thread pool, a
    threaded scheduler) each restored the count it found at entry, so the one that ended last put
    the other's limit back and every later call of the process ran on one BLAS thread."""
    import threading

    from neuroxr.backend import _threads

    lib = _FakeLibrary(8)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with _threads._set_threads([(lib, 1)]):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with _threads._set_threads([(lib, 2)]):
            b_in.set()
            a_out.wait(5)
            seen["b alone"] = lib.num_threads  # A ended: B's own count, not A's entry count
        seen["after"] = lib.num_threads

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"b alone": 2, "after": 8} and lib.num_threads == 8
    with _threads._set_threads([(lib, 4)]):  # nested in one thread: the innermost block's count
        with _threads._set_threads([(lib, 1)]):
            assert lib.num_threads == 1
        assert lib.num_threads == 4
    assert lib.num_threads == 8


def test_the_thread_policy_limits_torch_threads():
    """A torch direction under blas_threads=1 ran on every core: threadpoolctl sets the BLAS
    libraries, not torch's intra-op pool."""
    torch = pytest.importorskip("torch")
    from neuroxr.backend import blas_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with blas_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_bad_thread_setting_in_the_environment_names_the_variable(monkeypatch):
    from neuroxr.backend import _threads

    monkeypatch.setenv("NEUROXR_BLAS_THREADS", "foo")
    with pytest.raises(BackendError, match=r"^environment variable NEUROXR_BLAS_THREADS='foo' must be 'auto', 'none' or an "
                                           r"integer >= 1; fix or unset it\.$"):
        _threads._from_environment()


@pytest.mark.parametrize("name", [np.array(["torch"]), np.array("torch"), b"torch"])
def test_a_backend_that_is_not_a_name_is_refused(name):
    """An array holding a name passed the membership test elementwise (and was recorded as a list),
    or raised a TypeError from the attrs encoding."""
    with pytest.raises(BackendError, match=r"^forward: backend=.* is not known; choose one of"):
        B.resolve_backend(name, "forward")


def test_host_writes_bring_device_vectors_back_in_one_transfer_per_shape(monkeypatch):
    torch = pytest.importorskip("torch")
    reads = []
    orig = torch.Tensor.numpy
    monkeypatch.setattr(torch.Tensor, "numpy", lambda self, *a, **k: reads.append(tuple(self.shape)) or orig(self, *a, **k))
    dest, other = np.zeros((4, 3)), np.zeros(5)
    w = B.HostWrites()
    w.put(dest, (slice(0, 4), 0), np.arange(4.0))  # NumPy: written at once
    assert dest[:, 0].tolist() == [0, 1, 2, 3] and not reads
    for j in (1, 2):
        w.put(dest, (slice(0, 4), j), B.asarray(np.full(4, float(j)), "torch"))
    w.put(other, slice(None), B.asarray(np.arange(5.0), "torch"))
    assert dest[:, 1:].sum() == 0  # kept until the flush
    w.flush()
    assert dest[:, 1].tolist() == [1.0] * 4 and dest[:, 2].tolist() == [2.0] * 4 and other.tolist() == list(range(5))
    assert sorted(reads) == [(1, 5), (2, 4)]  # one stacked transfer per vector shape
    w.flush()  # nothing kept: nothing read
    assert len(reads) == 2


@pytest.mark.parametrize("fn", ["set_backend", "use_backend", "asarray"])
@pytest.mark.parametrize("name", ["jax", "cupy"])
def test_the_backend_functions_refusals_start_with_their_name(fn, name):
    """set_backend, use_backend and asarray refused a backend in a message naming no function, where every
    other public function's refusal starts with its name; the default backend is left as it was."""
    if name == "cupy" and _has_cupy_gpu():
        pytest.skip("CuPy can run here")
    call = {"set_backend": lambda: B.set_backend(name), "use_backend": lambda: B.use_backend(name).__enter__(),
            "asarray": lambda: B.asarray([1.0], backend=name)}[fn]
    with pytest.raises(BackendError, match=rf"^{fn}: backend='{name}' (is not known|needs CuPy)"):
        call()
    assert B.get_backend() == "numpy"


def test_asarray_refuses_a_dtype_in_its_name():
    with pytest.raises(BackendError, match=r"^asarray: dtype='int8' is not supported; use 'float32' or 'float64'\.$"):
        B.asarray([1.0], dtype="int8")


@pytest.mark.parametrize("cuda", [None, "12.4"])
def test_torch_cuda_without_a_gpu_says_what_to_install(monkeypatch, cuda):
    """backend='torch_cuda' on a CPU-only build of torch said 'torch sees no GPU' without saying that this torch
    cannot use one; it names the build and what to install. A CUDA build without a GPU keeps its message."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", cuda)
    with pytest.raises(BackendError) as info:
        B.resolve_backend("torch_cuda", "forward")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("forward: backend='torch_cuda' needs a CUDA GPU")
    if cuda is None:
        assert f"torch {torch.__version__} is a CPU-only build" in msg and "pip install '.[torch]'" in msg
        assert "CUDA wheel" in msg and msg.endswith("or use 'torch' or 'numpy'.")
    else:
        assert "torch sees none here; use 'torch' or 'numpy'." in msg and "CPU-only" not in msg


@pytest.mark.parametrize("shape", [(0,), (3, 0), (2, 0, 4), (0, 5)])
def test_rank_of_empty_lanes_is_empty_on_every_backend(shape):
    """NumPy's rank of lanes of no values raised reshape's ValueError ('cannot reshape array of size 0 into shape
    (0)') where the array-API and torch versions return the empty ranks."""
    from neuroxr.backend import _array_api

    x = np.zeros(shape)
    got = B.rank(x)
    assert isinstance(got, np.ndarray) and got.shape == shape and got.dtype == np.float64
    assert _array_api.rank(x).shape == shape
    try:
        import torch
    except ImportError:
        return
    assert tuple(B.rank(torch.zeros(shape, dtype=torch.float64)).shape) == shape


@pytest.mark.parametrize("name", ["torch", "torch_cuda", "cupy"])
def test_a_library_that_fails_to_load_is_a_one_line_refusal(monkeypatch, name):
    """torch or CuPy installed but failing to load (a missing shared library: OSError) escaped as a traceback of
    the import; it is refused in one line naming the backend, the failure and what to do."""
    real = B.importlib.import_module

    def broken(mod, *args, **kwargs):
        if mod in ("torch", "cupy"):
            raise OSError(f"lib{mod}_cuda.so: cannot open shared object file: No such file or directory")
        return real(mod, *args, **kwargs)

    monkeypatch.setattr(B.importlib, "import_module", broken)
    with pytest.raises(BackendError) as info:
        B.resolve_backend(name, "forward")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"forward: backend='{name}' needs ")
    assert "failed to load" in msg and "cannot open shared object file" in msg
    assert "pip install '.[torch]'" in msg if name.startswith("torch") else "pip install '.[gpu]'" in msg


@pytest.mark.parametrize("name", ["torch", "cupy"])
def test_a_library_not_installed_is_named_as_such(monkeypatch, name):
    """Not installed (its module not found) keeps the install advice; a module it needs that is missing is a
    failure to load."""
    real = B.importlib.import_module
    module = {"torch": "torch", "cupy": "cupy"}[name]

    def absent(mod, *args, **kwargs):
        if mod == module:
            raise ModuleNotFoundError(f"No module named '{mod}'", name=mod)
        return real(mod, *args, **kwargs)

    monkeypatch.setattr(B.importlib, "import_module", absent)
    with pytest.raises(BackendError, match=rf"^forward: backend='{name}' needs (torch, which is not installed|CuPy: pip)"):
        B.resolve_backend(name, "forward")

    def dependency(mod, *args, **kwargs):
        if mod == module:
            raise ModuleNotFoundError("No module named 'fastrlock'", name="fastrlock")
        return real(mod, *args, **kwargs)

    monkeypatch.setattr(B.importlib, "import_module", dependency)
    with pytest.raises(BackendError, match=r"installed but failed to load \(ModuleNotFoundError: No module named 'fastrlock'\)"):
        B.resolve_backend(name, "forward")


def test_to_numpy_reads_bfloat16_tensors_as_float32():
    """A bfloat16 tensor (a model's activations) raised torch's 'Got unsupported ScalarType BFloat16' in to_numpy
    and asarray(..., 'numpy'): NumPy has no bfloat16; its values are float32's exactly."""
    torch = pytest.importorskip("torch")
    t = torch.tensor([[1.5, -2.25], [3.0e30, 1e-30]]).to(torch.bfloat16)
    got = B.to_numpy(t)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, t.float().numpy())
    np.testing.assert_array_equal(B.asarray(t, "numpy"), t.double().numpy())


def test_cupy_without_a_driver_is_refused_on_one_line(monkeypatch):
    """CuPy installed on a machine without a CUDA driver: the driver's multi-line error went into the refusal
    as it was."""
    import types

    real = B.importlib.import_module

    def count():
        raise RuntimeError("CUDA driver library could not be found.\n  (libcuda.so.1: cannot open shared object file)")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=count)))
    monkeypatch.setattr(B.importlib, "import_module", lambda mod, *a, **k: fake if mod == "cupy" else real(mod, *a, **k))
    with pytest.raises(BackendError) as info:
        B.resolve_backend("cupy", "rdm")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("rdm: backend='cupy' needs a CUDA GPU; CuPy found none (RuntimeError: CUDA driver")


def test_torch_imported_inside_a_thread_limit_follows_it(monkeypatch):
    """A process's first torch call imports torch inside the direction's thread limit, which had looked for
    torch at its start and not found it: that call ran on every core (blas_threads=1 ignored), the later
    ones on one. torch now takes the open limit when a torch backend first loads it, and gets its count back after."""
    import sys

    torch = pytest.importorskip("torch")
    from neuroxr.backend import _threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.delitem(sys.modules, "torch")  # as before the first import
        with B.blas_threads(1) as n:
            if n is None:
                pytest.skip("no BLAS library to limit here")
            assert _threads._TORCH not in _threads._before
            monkeypatch.setitem(sys.modules, "torch", torch)  # the torch backend's import
            B.resolve_backend("torch")
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
