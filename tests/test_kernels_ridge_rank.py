"""Ridge on features of nearly low numerical rank (kernels.ridge_rank): the principal axes of the
features in memory against scikit-learn's SVD solution."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import PredefinedSplit, cross_val_predict

from neuroxr.backend import _numpy as numpy_backend
from neuroxr.backend import centred_gram, centred_triangle
from neuroxr.errors import NeuroxrWarning, ParameterError
from neuroxr.kernels import ridge, ridge_rank
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.ridge import oof_linear_operator, oof_operator, oof_predict, oof_predict_designs

#: Relative precision on out-of-fold predictions (docs/kernels.md, "Ridge precision").
_PRECISION = {"float64": 1e-8, "float32": 1e-3}


def _sklearn_svd_oof(X, Y, folds, alpha=0.1):
    """scikit-learn's out-of-fold predictions (``Ridge(solver="svd")``), on float64 values."""
    test_fold = np.empty(X.shape[0], dtype=int)
    for f, (_, te) in enumerate(folds):
        test_fold[te] = f
    return cross_val_predict(Ridge(alpha=alpha, solver="svd"), X.astype(np.float64), Y, cv=PredefinedSplit(test_fold))


def _nearly_low_rank(scale, p=150, eta=1e-7, n=120, rank=18):
    """Rank 18 plus a full-rank part ``eta`` its size (the audit's case), 10 folds."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(n, rank))
    X0 = Z @ rng.normal(size=(rank, p))
    X = scale * (X0 + eta * X0.std() * rng.normal(size=(n, p)))
    Y = Z[:, :6] @ rng.normal(size=(6, 4)) + 1.5 * rng.normal(size=(n, 4)) + 3.0
    return X, Y, kfold_indices(n, 10, 0)


def _power_law(scale, n=120, p=150, latent=64):
    """Features over ``latent`` dims of power-law variance plus a small power-law part (the benchmarks')."""
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(n, latent)) * np.arange(1, latent + 1) ** -0.5
    X = Z @ rng.normal(size=(latent, p)) + 0.05 * rng.normal(size=(n, p)) * np.arange(1, p + 1) ** -0.5
    Y = Z[:, :8] @ rng.normal(size=(8, 4)) + rng.normal(size=(n, 4))
    return scale * X, Y, kfold_indices(n, 10, 0)


def _assert_close(got, ref, dtype, name):
    tol = _PRECISION[dtype] * np.abs(ref).max()
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), ref, rtol=0, atol=tol, err_msg=name)


@pytest.mark.parametrize("p", [60, 150])
@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_nearly_low_rank_features_match_sklearn(scale, p, monkeypatch):
    """The Gram of these features cannot resolve the small part (its eigenvalues lie below
    ``eps lambda_max``, and ``X^T X`` loses it alike): every in-memory path, fewer or more units
    than stimuli, runs on the principal axes and equals scikit-learn's SVD solution to 1e-8."""
    X, Y, folds = _nearly_low_rank(scale, p)
    ref = _sklearn_svd_oof(X, Y, folds)
    got = {form: oof_operator(X, folds, 0.1, form=form) @ Y for form in ("auto", "primal", "dual", "hat")}
    got["oof_linear_operator"] = oof_linear_operator(X, folds, 0.1, 4) @ Y
    got["oof_predict"] = oof_predict(X, Y, folds, 0.1)
    got["oof_predict_designs"] = oof_predict_designs(X[None], Y, folds, 0.1)[0]
    monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", 1)  # fold by fold: FoldOperator on the axes
    S = oof_linear_operator(X, folds, 0.1, 4)
    assert isinstance(S, ridge.FoldOperator)
    got["FoldOperator"] = S @ Y
    for name, P in got.items():
        _assert_close(P, ref, "float64", name)


def test_forward_on_nearly_low_rank_features_matches_sklearn():
    """The forward direction on those features in memory (scale 1e4: the Gram path erred by 9e-3)."""
    import neuroxr as nx

    X, Y, folds = _nearly_low_rank(1e4)
    ids = np.array([f"s{i:03d}" for i in range(X.shape[0])])  # sorted ids: the folds of kfold_indices
    out = nx.forward(nx.features(X, ids), nx.neural(Y[:, :, None], ids), reps=1, noise_ceiling=False, keep_predictions=True)
    _assert_close(out.prediction.isel(rep=0).values, _sklearn_svd_oof(X, Y, folds), "float64", "forward")


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e2])
def test_float32_power_law_features_match_sklearn(scale):
    """float32 on features of a power-law spectrum (the benchmarks'): the float32 Gram errs by up to
    0.9 here; the principal axes keep 1e-3 of scikit-learn's float64 fit on the same values."""
    X, Y, folds = _power_law(scale)
    X32 = X.astype(np.float32)
    ref = _sklearn_svd_oof(X32, Y, folds)
    _assert_close(oof_operator(X32, folds, 0.1).astype(np.float64) @ Y, ref, "float32", "oof_operator")
    _assert_close(oof_linear_operator(X32, folds, 0.1, 4) @ Y.astype(np.float32), ref, "float32", "oof_linear_operator")


def test_strong_full_rank_features_keep_the_gram_path(monkeypatch):
    """Full rank with every axis far above alpha (scale 1e4, latent dims beyond the training size):
    the primal form's fold null space would amplify rounding, so the bound fires, the eigenvalues
    pick the Gram's form and the operator is bit-identical to the one with the bound forced off."""
    X, Y, folds = _power_law(1e4, latent=150)
    assert ridge_rank.rank_risk(centred_gram(X), 0.1)
    picked = []
    real = ridge_rank.primal_first
    monkeypatch.setattr(ridge_rank, "primal_first", lambda *a: picked.append(real(*a)) or picked[-1])
    S = oof_operator(X, folds, 0.1)
    assert picked == [False]
    _assert_close(S @ Y, _sklearn_svd_oof(X, Y, folds), "float64", "gram path")
    monkeypatch.setattr(ridge_rank, "rank_risk", lambda *a: False)
    np.testing.assert_array_equal(S, oof_operator(X, folds, 0.1))


def test_principal_axes_rotate_the_features():
    """``F F^T`` is the centred kernel, ``F``'s columns are orthogonal, the blocked QR of the units
    gives the same kernel as one block, and an exactly low-rank design keeps its rank's axes."""
    X, _, _ = _nearly_low_rank(1e2)
    K = centred_gram(X)
    for block in (None, 1):  # one block; the least block (4 n units each)
        D = centred_triangle(X) if block is None else numpy_backend.centred_triangle(X, block)
        np.testing.assert_allclose(D @ D.T, K, rtol=0, atol=1e-12 * np.abs(K).max())
    F = ridge_rank.feature_factor(X, 0.1)
    np.testing.assert_allclose(F @ F.T, K, rtol=0, atol=1e-12 * np.abs(K).max())
    size = np.sqrt((F * F).sum(axis=0))
    G = F.T @ F
    np.testing.assert_allclose(G - np.diag(np.diag(G)), 0.0, atol=1e-12 * size.max() ** 2)
    X, _, _ = _nearly_low_rank(1e2, eta=0.0)
    assert ridge_rank.feature_factor(X, 0.1).shape[1] == 18  # exactly low rank: the null axes dropped


def test_torch_matches_numpy_on_nearly_low_rank_features():
    """The principal axes in torch (array-API QR and eigh) equal NumPy's predictions."""
    torch = pytest.importorskip("torch")
    from neuroxr.backend import asarray

    X, Y, folds = _nearly_low_rank(1e4)
    ref = _sklearn_svd_oof(X, Y, folds)
    got = oof_operator(asarray(X, "torch", np.float64), folds, 0.1) @ torch.as_tensor(Y)
    _assert_close(got.numpy(), ref, "float64", "torch")


_REFUSED = r"^{}: dtype='float32' cannot resolve this ridge fit \(.+\): eps(\^2)? trace\(K\) / alpha = \S+ > \S+ .*use dtype='float64' .*or a larger alpha\.$"
_EPS32 = float(np.finfo(np.float32).eps)


def _trace(X):
    Xc = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0, dtype=np.float64)
    return float(np.sum(Xc * Xc))


def test_float32_beyond_its_resolution_is_refused_in_memory():
    """In memory float32 resolves the fit where eps^2 trace(K) / alpha <= 1e-3 (docs/kernels.md):
    beyond it every in-memory path refuses it (one line naming the ratio, the bound, what to do);
    float64 on the same values is unaffected and within 1e-8 of scikit-learn."""
    X, Y, folds = _power_law(1e4)
    X32 = X.astype(np.float32)
    assert _EPS32**2 * _trace(X32) / 0.1 > ridge_rank.FLOAT32_RESOLVED
    calls = {f"oof_operator {form}": (lambda form=form: oof_operator(X32, folds, 0.1, form=form)) for form in ("auto", "primal", "dual", "hat")}
    calls["oof_linear_operator"] = lambda: oof_linear_operator(X32, folds, 0.1, 4)
    calls["oof_predict"] = lambda: oof_predict(X32, Y.astype(np.float32), folds, 0.1)
    calls["oof_predict_designs"] = lambda: oof_predict_designs(X32[None], Y.astype(np.float32), folds, 0.1)
    for name, call in calls.items():  # each kernel called directly speaks as itself
        with pytest.raises(ParameterError, match=_REFUSED.format(name.split()[0])):
            call()
    _assert_close(oof_operator(X, folds, 0.1) @ Y, _sklearn_svd_oof(X, Y, folds), "float64", "float64")


def test_float32_designs_as_given_use_the_gram_bound():
    """The many-designs kernel with a complement (reverse, inter-animal) runs on the designs as
    given, not on their principal axes: float32 is flagged above the rank bound (eps trace(K) /
    alpha > 1e-2: a warning, the trace cannot tell nearly low-rank designs from resolved ones), and
    within it matches float64."""
    X, Y, folds = _power_law(1.0)
    D = np.stack([X[:, :20], X[:, 20:40]]).astype(np.float32)
    R = X[:, :20].astype(np.float32)
    assert _EPS32 * _trace(D[0]) / 0.1 > ridge_rank.RISK_TOLERANCE * ridge_rank.PRECISION["float32"]
    with pytest.warns(NeuroxrWarning, match=r"^oof_pearson_designs: dtype='float32' may not resolve this ridge fit from a Gram alone"):
        ridge.oof_pearson_designs(D, Y.astype(np.float32), folds, 0.1, with_target=[0, 1, 2], complement=(R, None, 2.0, -1.0))
    small = 1e-3  # eps trace / alpha ~ 1e-7: within the bound
    got = ridge.oof_pearson_designs(small * D, Y.astype(np.float32), folds, 0.1, with_target=[0, 1, 2],
                                    complement=(small * R, None, 2.0, -1.0))[0]
    ref = ridge.oof_pearson_designs(small * D.astype(np.float64), Y, folds, 0.1, with_target=[0, 1, 2],
                                    complement=(small * R.astype(np.float64), None, 2.0, -1.0))[0]
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), ref, rtol=0, atol=1e-3)


def test_forward_float32_is_refused_beyond_its_resolution():
    """The forward direction with dtype='float32' in memory (bound eps^2 trace(K) / alpha <= 1e-3):
    refused beyond, within 1e-3 of scikit-learn's float64 fit on the same values within; float64 runs."""
    import neuroxr as nx

    ids = np.array([f"s{i:03d}" for i in range(120)])  # sorted ids: the folds of kfold_indices
    for scale in (1e4, 1e2):
        X, Y, folds = _power_law(scale)
        X32 = X.astype(np.float32)
        R, F = nx.neural(Y[:, :, None], ids), nx.features(X32, ids)
        if scale == 1e4:
            with pytest.raises(ParameterError, match=_REFUSED.format("forward")):
                nx.forward(F, R, reps=1, noise_ceiling=False, dtype="float32")
            out = nx.forward(F, R, reps=1, noise_ceiling=False, keep_predictions=True)  # float64: runs
            _assert_close(out.prediction.isel(rep=0).values, _sklearn_svd_oof(X32, Y, folds), "float64", "float64")
            continue
        out = nx.forward(F, R, reps=1, noise_ceiling=False, keep_predictions=True, dtype="float32")
        _assert_close(out.prediction.isel(rep=0).values, _sklearn_svd_oof(X32, Y, folds), "float32", "float32")


def _streamed(X32, Y, **kw):
    """The forward direction's out-of-fold predictions from lazy features (streamed: from their Gram),
    and the messages of the warnings it gave."""
    import warnings

    import neuroxr as nx

    ids = np.array([f"s{i:03d}" for i in range(X32.shape[0])])  # sorted ids: the folds of kfold_indices
    F = nx.features(X32, ids).chunk({"unit": 50})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = nx.forward(F, nx.neural(Y[:, :, None], ids), reps=1, noise_ceiling=False, keep_predictions=True, **kw)
    assert out.attrs["streamed"]
    return out.prediction.isel(rep=0).values, [str(w.message) for w in caught]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize(("family", "scale", "p"), [("power_law", 1.0, 150), ("power_law", 1e4, 150),
                                                     ("power_law", 1.0, 60), ("nearly_low_rank", 1e2, 150)])
def test_streamed_float32_is_fitted_in_float64(family, scale, p, dense, backend, monkeypatch):
    """Streamed float32 features: the Gram is accumulated and the operator built in float64 (only its
    application runs in float32), so no warning, and the predictions equal the streamed float64 fit's
    up to float32's rounding of the operator and targets (1e-6 relative; with the operator built in
    float32 they erred by 4e-2 at unit scale and 0.6 at 1e4, power-law features). Where float64
    resolves the fit this is within 1e-6 of scikit-learn's float64 fit on the same values; nearly
    low-rank features keep the Gram's documented limit, as float64 does. Dense and fold-by-fold
    operators (FoldOperator with fewer units than training stimuli, else KernelFoldOperator)."""
    if backend == "torch":
        pytest.importorskip("torch")
    if not dense:
        monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", 1)
    X, Y, folds = _power_law(scale, p=p) if family == "power_law" else _nearly_low_rank(scale, p)
    X32 = X.astype(np.float32)
    got, flagged = _streamed(X32, Y, dtype="float32", backend=backend)
    assert not [m for m in flagged if "may not resolve" in m]
    ref64, _ = _streamed(X32, Y, backend=backend)
    np.testing.assert_allclose(got, ref64, rtol=0, atol=1e-6 * np.abs(ref64).max())
    if family == "power_law":
        np.testing.assert_allclose(got, _sklearn_svd_oof(X32, Y, folds), rtol=0, atol=1e-6 * np.abs(ref64).max())


def test_the_float32_warning_points_at_the_users_call():
    """The warning past the Gram's bound (designs combined as given) is attributed to the caller's
    line, not to the kernel."""
    import warnings

    import neuroxr as nx

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    F = nx.features(rng.normal(size=(30, 5)), ids)
    R = nx.neural(10 * rng.normal(size=(30, 10, 4)), ids)  # the reverse direction's split halves: designs as given
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nx.reverse(R, F, dtype="float32", alpha=1e-3, reps=2)
    flagged = [w for w in caught if "may not resolve" in str(w.message)]
    assert flagged and all(w.filename == __file__ for w in flagged)
    assert all(str(w.message).startswith("reverse: dtype='float32' may not resolve") for w in flagged)  # the function called


@pytest.mark.parametrize("n, p, block", [(1, 5, None), (3, 13, 1), (40, 170, 1), (300, 1300, 1), (20, 90, None)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_qr_triangle_matches_the_stacked_qr(n, p, block, dtype):
    """The in-place QR (geqrt, then tpqrt per block; both panel widths, ragged last blocks, one unit
    more than 4 n per block) gives a lower-triangular ``R^T`` whose kernel is the centred Gram, as
    NumPy's QR of all the centred units at once does (up to the signs of ``R``'s rows)."""
    X = (np.random.default_rng(n).standard_normal((n, p)) * np.logspace(0, -4, p)).astype(dtype)
    D = numpy_backend.centred_triangle(X, block)
    assert D.shape == (n, n) and D.dtype == dtype and not np.triu(D, 1).any()
    ref = np.linalg.qr((X.astype(float) - X.astype(float).mean(axis=0)).T, mode="r").T
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(np.abs(D), np.abs(ref), rtol=0, atol=tol * np.abs(ref).max())


def test_torch_blocked_qr_triangle_matches_numpys():
    """torch's triangle (``qr(mode="r")``: no Q formed) equals NumPy's up to the signs of R's rows."""
    torch = pytest.importorskip("torch")
    from neuroxr.backend import _torch

    X = np.random.default_rng(3).standard_normal((40, 1300)) * np.logspace(0, -4, 1300)
    for block in (1, 32 * 2**20):  # the least blocks (4 n units each), one block
        D = _torch.centred_triangle(torch.as_tensor(X), block).numpy()
        ref = numpy_backend.centred_triangle(X)
        assert not np.triu(D, 1).any()
        np.testing.assert_allclose(np.abs(D), np.abs(ref), rtol=0, atol=1e-12 * np.abs(ref).max())
