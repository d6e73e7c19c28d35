"""Ridge kernels: every operator form and the prediction statistics against scikit-learn fits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.linear_model import LinearRegression, Ridge

from neuroxr.backend import centred_gram
from neuroxr.errors import NeuroxrWarning, ParameterError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.kernel_operator import KernelFoldOperator, oof_linear_operator_from_gram
from neuroxr.kernels.ridge import (
    FoldOperator,
    _cheapest_form,
    oof_linear_operator,
    oof_operator,
    oof_operator_from_gram,
    oof_pearson_designs,
    oof_predict,
    oof_predict_designs,
)
from neuroxr.kernels.stats import pearson, rank


def _sklearn_oof(X, Y, folds, alpha):
    P = np.empty(Y.shape)
    for train, test in folds:
        est = Ridge(alpha=alpha) if alpha > 0 else LinearRegression()
        P[test] = est.fit(X[train], Y[train]).predict(X[test])
    return P


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 70
    Z = rng.normal(size=(n, 6))
    X_tall = Z @ rng.normal(size=(6, 15)) + 0.3 * rng.normal(size=(n, 15))
    X_wide = Z @ rng.normal(size=(6, 100)) + 0.3 * rng.normal(size=(n, 100))
    Y = Z @ rng.normal(size=(6, 9)) + rng.normal(size=(n, 9)) + 5.0
    return {"X_tall": X_tall, "X_wide": X_wide, "Y": Y, "folds": kfold_indices(n, 7, 0)}


@pytest.mark.parametrize("which", ["X_tall", "X_wide"])
@pytest.mark.parametrize("form", ["hat", "primal", "dual", "auto"])
def test_every_operator_form_equals_sklearn_ridge(data, which, form):
    X, Y, folds = data[which], data["Y"], data["folds"]
    ref = _sklearn_oof(X, Y, folds, 0.1)
    got = oof_operator(X, folds, 0.1, form=form) @ Y
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-8 * np.abs(ref).max())


def test_hat_form_from_any_constant_centred_gram(data):
    X, Y, folds = data["X_wide"], data["Y"], data["folds"]
    shifted = X - X[0]  # centred by a constant that is not the column mean
    K = shifted @ shifted.T
    ref = _sklearn_oof(X, Y, folds, 0.5)
    for form in ("hat", "dual", "auto"):
        got = oof_operator_from_gram(K, folds, 0.5, form=form) @ Y
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-8 * np.abs(ref).max())


def test_hat_form_needs_a_penalty(data):
    """A bad ``form`` is a bad parameter value: a ParameterError (a ValueError) naming the kernel called."""
    K = data["X_tall"] @ data["X_tall"].T
    with pytest.raises(ParameterError, match="^oof_operator: form='hat' needs alpha > 0"):
        oof_operator(data["X_tall"], data["folds"], 0.0, form="hat")
    with pytest.raises(ParameterError, match="^oof_operator_from_gram: form='hat' needs alpha > 0"):
        oof_operator_from_gram(K, data["folds"], 0.0, form="hat")
    with pytest.raises(ParameterError, match=r"^oof_operator: form must be one of \('auto', 'hat', 'primal', 'dual'\); got 'qr'\.$"):
        oof_operator(data["X_tall"], data["folds"], 0.1, form="qr")
    with pytest.raises(ParameterError, match=r"^oof_operator_from_gram: form must be one of \('auto', 'hat', 'dual'\); got 'primal'\.$"):
        oof_operator_from_gram(K, data["folds"], 0.1, form="primal")
    assert issubclass(ParameterError, ValueError)
    # least squares never picks the hat form
    assert _cheapest_form(2560, 2048, 10, 0.0, True) != "hat"
    assert _cheapest_form(2560, 2048, 10, 0.1, False) != "hat"


@pytest.mark.parametrize("alpha", [-1, np.nan, np.inf, "x"])
def test_bad_alpha_names_the_kernel_called(data, alpha):
    """Each public ridge kernel refuses a bad penalty as the directions do, under its own name (also
    where it hands the penalty to another kernel first, e.g. oof_predict with few features)."""
    X, Y, folds = data["X_tall"], data["Y"], data["folds"]
    K = centred_gram(X)
    calls = [
        ("oof_predict", lambda: oof_predict(X, Y, folds, alpha)),
        ("oof_predict", lambda: oof_predict(X[:, :2], Y, folds, alpha)),
        ("oof_operator", lambda: oof_operator(X, folds, alpha)),
        ("oof_operator_from_gram", lambda: oof_operator_from_gram(K, folds, alpha)),
        ("oof_linear_operator", lambda: oof_linear_operator(X, folds, alpha)),
        ("oof_linear_operator_from_gram", lambda: oof_linear_operator_from_gram(K, folds, alpha)),
        ("FoldOperator", lambda: FoldOperator(X, folds, alpha)),
        ("KernelFoldOperator", lambda: KernelFoldOperator(K, folds, alpha)),
        ("oof_predict_designs", lambda: oof_predict_designs(X[None], Y, folds, alpha)),
        ("oof_pearson_designs", lambda: oof_pearson_designs(X[None], Y, folds, alpha)),
    ]
    for name, call in calls:
        with pytest.raises(ParameterError, match=rf"^{name}: alpha must be a finite non-negative number; got "):
            call()


def test_cheapest_form_follows_the_shapes():
    assert _cheapest_form(2560, 2048, 10, 0.1, True) == "hat"  # many features: one n x n inverse
    assert _cheapest_form(2560, 40, 10, 0.1, True) == "primal"  # few features: p x p systems


@pytest.mark.parametrize("k", [5, 80])  # primal blocks; more predictors than training stimuli (dual)
def test_oof_pearson_designs_equals_pearson_of_predictions(data, k):
    rng = np.random.default_rng(k)
    n = data["Y"].shape[0]
    D = rng.normal(size=(3, n, k)) + data["Y"][None, :, :1]
    Y = data["Y"]
    P = oof_predict_designs(D, Y, data["folds"], 0.1)
    r_t, r_p = oof_pearson_designs(D, Y, data["folds"], 0.1, pairs=[(1, 2), (0, 2)], with_target=[0, 2])
    np.testing.assert_allclose(r_t, np.stack([pearson(Y, P[0]), pearson(Y, P[2])]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r_p, np.stack([pearson(P[1], P[2]), pearson(P[0], P[2])]), rtol=1e-9, atol=1e-12)
    for i in range(3):  # and the predictions are scikit-learn's
        ref = _sklearn_oof(D[i], Y, data["folds"], 0.1)
        np.testing.assert_allclose(P[i], ref, rtol=1e-7, atol=1e-8 * np.abs(ref).max())


def test_oof_pearson_designs_constant_target_is_nan(data):
    rng = np.random.default_rng(0)
    Y = data["Y"].copy()
    Y[:, 3] = 2.7  # constant target column
    D = rng.normal(size=(2, Y.shape[0], 4))
    r_t, r_p = oof_pearson_designs(D, Y, data["folds"], 0.1, pairs=[(0, 1)])
    assert np.isnan(r_t[:, 3]).all() and np.isnan(r_p[:, 3]).all()
    assert np.isfinite(np.delete(r_t, 3, axis=1)).all()


def test_rank_matches_scipy_with_ties_and_nan():
    rng = np.random.default_rng(1)
    a = np.round(rng.normal(size=(200, 7, 3)) * 2) / 2  # many ties
    np.testing.assert_array_equal(rank(a), rankdata(a, axis=-2))
    b = rng.normal(size=(50, 4))
    b[7, 2] = np.nan
    r = rank(b)
    assert np.isnan(r[:, 2]).all()
    np.testing.assert_array_equal(np.delete(r, 2, axis=1), rankdata(np.delete(b, 2, axis=1), axis=0))
    np.testing.assert_array_equal(rank(np.ones((5, 2))), np.full((5, 2), 3.0))


@pytest.mark.parametrize("k", [6, 80])
@pytest.mark.parametrize("subset", [False, True])
def test_complement_design_equals_the_explicit_design(data, k, subset):
    """The second split half from the mean and the first: cross-products combined, not recomputed."""
    rng = np.random.default_rng(11)
    n, T = data["Y"].shape[0], 9
    R = rng.normal(size=(n, k + 3, T)) + data["Y"][:, :1, None]
    mean = R.mean(axis=-1)
    cols = np.sort(rng.choice(k + 3, k, replace=False)) if subset else None
    c1 = (T + 1) // 2
    h1 = R[:, :, :c1].mean(axis=-1)
    h2 = (T * mean - c1 * h1) / (T - c1)
    pick = (lambda a: a[:, cols]) if subset else (lambda a: a)
    Y, folds = data["Y"], data["folds"]
    explicit = oof_pearson_designs(np.stack([pick(mean), pick(h1), pick(h2)]), Y, folds, 0.1, pairs=[(1, 2)], with_target=[0, 2])
    from neuroxr.kernels.ridge import prepare_targets

    prepared = prepare_targets(Y, folds)
    for _ in range(2):  # the second call reuses the cached cross-products of the mean
        got = oof_pearson_designs(
            np.stack([pick(mean), pick(h1)]), prepared, folds, 0.1, pairs=[(1, 2)], with_target=[0, 2],
            complement=(mean, cols, T / (T - c1), -c1 / (T - c1)),
        )
        for a, b in zip(got, explicit):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_recomputed_fold_cross_products_equal_kept_ones(data, monkeypatch):
    """Large designs recompute each fold's cross-products instead of keeping them: same predictions."""
    from neuroxr.kernels import ridge_designs

    rng = np.random.default_rng(5)
    D = rng.normal(size=(2, data["Y"].shape[0], 7)) + data["Y"][None, :, :1]
    kept = oof_predict_designs(D, data["Y"], data["folds"], 0.1)
    monkeypatch.setattr(ridge_designs, "_KEEP_BYTES", 0)
    again = oof_predict_designs(D, data["Y"], data["folds"], 0.1)
    np.testing.assert_allclose(again, kept, rtol=1e-12, atol=1e-12)
    ref = _sklearn_oof(D[1], data["Y"], data["folds"], 0.1)
    np.testing.assert_allclose(again[1], ref, rtol=1e-7, atol=1e-8 * np.abs(ref).max())


def test_complement_with_recomputed_fold_cross_products(data, monkeypatch):
    from neuroxr.kernels import ridge_designs

    rng = np.random.default_rng(2)
    n, T = data["Y"].shape[0], 6
    R = rng.normal(size=(n, 5, T)) + data["Y"][:, :1, None]
    mean, h1 = R.mean(-1), R[:, :, :3].mean(-1)
    h2 = (T * mean - 3 * h1) / 3
    ref = oof_pearson_designs(np.stack([h1, h2]), data["Y"], data["folds"], 0.1, pairs=[(0, 1)])
    monkeypatch.setattr(ridge_designs, "_KEEP_BYTES", 0)
    got = oof_pearson_designs(h1[None], data["Y"], data["folds"], 0.1, pairs=[(0, 1)], complement=(mean, None, 2.0, -1.0))
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_hat_form_near_interpolation_and_its_fallback(monkeypatch):
    """Kernel eigenvalues far above alpha: the hat form (constant direction removed before the
    inverse) still equals scikit-learn; when its one-fold check fails it falls back to one
    factorisation per fold, with the same predictions."""
    from neuroxr.kernels import ridge

    rng = np.random.default_rng(4)
    n = 60
    X = 100.0 * rng.normal(size=(n, 400))  # many large features: near interpolation
    Y = rng.normal(size=(n, 3))
    folds = kfold_indices(n, 6, 0)
    ref = np.empty(Y.shape)
    for train, test in folds:
        ref[test] = Ridge(alpha=0.1, solver="svd").fit(X[train], Y[train]).predict(X[test])
    got = oof_operator(X, folds, 0.1, form="hat") @ Y
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())
    calls = []
    monkeypatch.setattr(ridge, "_HAT_BACKWARD", -1.0)  # the check fails: the per-fold dual form takes over
    real = ridge._dual_fold_rows
    monkeypatch.setattr(ridge, "_dual_fold_rows", lambda *a: calls.append(1) or real(*a))
    again = oof_operator(X, folds, 0.1, form="hat") @ Y
    assert len(calls) == len(folds)
    np.testing.assert_allclose(again, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


def _exact_fold_rows(X, tr, te, alpha):
    """Operator rows ``S[te, :]`` of one fold to full float64 accuracy: the fold's dual system built
    in extended precision and solved by iterative refinement (residuals in extended precision)."""
    ld = np.longdouble
    Xtr = X[tr].astype(ld)
    mu = Xtr.mean(axis=0)
    Xc = Xtr - mu
    A = Xc @ Xc.T + ld(alpha) * np.eye(len(tr), dtype=ld)
    B = ((X[te].astype(ld) - mu) @ Xc.T).T
    A64 = A.astype(np.float64)
    W = np.linalg.solve(A64, B.astype(np.float64))
    for _ in range(6):
        W = W + np.linalg.solve(A64, (B - A @ W.astype(ld)).astype(np.float64))
    rows = np.zeros((len(te), X.shape[0]))
    rows[:, tr] = W.T + 1.0 / len(tr)
    return rows


def _fold_errors(X, S, folds, alpha):
    return [np.abs(S[te] - (e := _exact_fold_rows(X, tr, te, alpha))).max() / np.abs(e).max() for tr, te in folds]


def test_hat_check_keeps_a_hat_form_as_accurate_as_the_folds_own_factorisations(monkeypatch):
    """An ill-conditioned kernel (rank-20 features at a large scale): the hat and per-fold forms
    differ by ~1e-7 relative, each as far from the exact rows as the conditioning makes any float64
    solver. The check measures the hat rows' backward error in the fold's own system (about 1, as
    the Cholesky solve's), so the hat form is kept, and its rows are as close to exact as the
    per-fold form's on every fold."""
    from neuroxr.kernels import ridge

    rng = np.random.default_rng(0)
    n, alpha = 120, 0.1
    X = 30.0 * rng.normal(size=(n, 20)) @ rng.normal(size=(20, 200))
    folds = kfold_indices(n, 10, 0)
    K = centred_gram(X)
    calls = []
    real = ridge._dual_fold_rows
    monkeypatch.setattr(ridge, "_dual_fold_rows", lambda *a: calls.append(1) or real(*a))
    S = oof_operator_from_gram(K, folds, alpha)
    assert not calls  # the hat form was kept
    monkeypatch.undo()
    S_dual = ridge._dual_operator(K, folds, alpha)
    assert np.abs(S - S_dual).max() > 1e-9 * np.abs(S_dual).max()  # a relative comparison would reject it
    for (_, te), e_hat, e_dual in zip(folds, _fold_errors(X, S, folds, alpha), _fold_errors(X, S_dual, folds, alpha)):
        assert e_hat <= 3.0 * e_dual + 1e-14
        assert ridge.fold_backward_error(K, S[np.asarray(te)], np.asarray(te), alpha) <= ridge._HAT_BACKWARD
        assert ridge.fold_backward_error(K, S_dual[np.asarray(te)], np.asarray(te), alpha) <= 3.0


def test_hat_check_rejects_an_inaccurate_hat_form(monkeypatch):
    """Features just above the training size at a large scale: the hat form's fold systems
    amplify rounding far beyond the per-fold factorisations'. The check sees a backward error of
    thousands of eps, and the operator is the per-fold form's, exactly."""
    from neuroxr.kernels import ridge

    rng = np.random.default_rng(4)
    n, alpha = 60, 0.1
    X = 1e4 * rng.normal(size=(n, 55))
    folds = kfold_indices(n, 6, 0)  # 50 training stimuli
    K = centred_gram(X)
    monkeypatch.setattr(ridge, "_HAT_BACKWARD", np.inf)
    raw = oof_operator_from_gram(K, folds, alpha, form="hat")
    monkeypatch.undo()
    S_dual = ridge._dual_operator(K, folds, alpha)
    te = np.asarray(folds[0][1])
    assert ridge.fold_backward_error(K, raw[te], te, alpha) > 1e3
    assert max(_fold_errors(X, raw, folds, alpha)) > 100 * max(_fold_errors(X, S_dual, folds, alpha))
    np.testing.assert_array_equal(oof_operator_from_gram(K, folds, alpha, form="hat"), S_dual)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e2, 1e4])
@pytest.mark.parametrize("p", [8, 70])
def test_every_path_matches_sklearn_to_1e8_over_feature_scales(scale, p):
    """Fixed alpha: hat / primal / dual from features in memory and hat / dual from a Gram streamed
    over unit chunks all equal scikit-learn's Ridge fold by fold (p < n and p > n)."""
    import dask.array as da

    from neuroxr.kernels.gram import gram_chunks, gram_dask

    rng = np.random.default_rng(int(p + np.log10(scale) + 10))
    n = 40
    X = scale * (rng.normal(size=(n, p)) + 3.0 * rng.normal(size=p))  # large column means too
    Y = rng.normal(size=(n, 3)) + X[:, :3] / scale + 2.0
    folds = kfold_indices(n, 10, 0)
    ref = _sklearn_oof(X, Y, folds, 0.1)
    tol = 1e-8 * np.abs(ref).max()
    for form in ("hat", "primal", "dual", "auto"):
        np.testing.assert_allclose(oof_operator(X, folds, 0.1, form=form) @ Y, ref, rtol=0, atol=tol, err_msg=form)
    streamed = gram_chunks(X[:, i : i + 1] for i in range(p))
    dasked = gram_dask(da.from_array(X, chunks=(n, 1)), scheduler="sync")
    for stats in (streamed, dasked):
        for form in ("hat", "dual", "auto"):
            S = oof_operator_from_gram(stats, folds, 0.1, form=form)  # GramStats: n_features from n_units
            np.testing.assert_allclose(S @ Y, ref, rtol=0, atol=tol, err_msg=f"gram {form}")


# --- the factored (fold-by-fold primal) operator and the one cost model (issue 17)
@pytest.mark.parametrize("keep_fold_grams", [True, False])
@pytest.mark.parametrize("alpha", [0.1, 0.0])
def test_fold_operator_equals_dense_operator_and_sklearn(data, alpha, keep_fold_grams, monkeypatch):
    import neuroxr.kernels.ridge as ridge
    from neuroxr.kernels.ridge import FoldOperator

    if not keep_fold_grams:
        monkeypatch.setattr(ridge, "_FOLD_GRAM_BYTES", 0)
    X, Y, folds = data["X_tall"], data["Y"], data["folds"]
    S = FoldOperator(X, folds, alpha)
    dense = oof_operator(X, folds, alpha, form="primal")
    np.testing.assert_allclose(S.dense(), dense, rtol=1e-9, atol=1e-11 * np.abs(dense).max())
    ref = _sklearn_oof(X, Y, folds, alpha)
    np.testing.assert_allclose(S @ Y, ref, rtol=1e-7, atol=1e-8 * np.abs(ref).max())


def test_operator_form_picks_factored_when_dense_is_large_or_costly(monkeypatch):
    import neuroxr.kernels.ridge as ridge

    # many stimuli, few features: the n x n operator (3.2 GB) is never built
    assert ridge.operator_form(20000, 2048, 10, 0.1, True, n_targets=100) == "factored"
    # features outnumber training stimuli: a dense form whatever the size
    assert ridge.operator_form(1000, 2048, 10, 0.1, True, n_targets=63000) in ("hat", "dual")
    # a small operator applied to many columns: dense when p is near n, factored when p << n
    assert ridge.operator_form(1280, 1024, 10, 0.1, True, n_targets=1764) == "hat"
    assert ridge.operator_form(1280, 40, 10, 0.1, True, n_targets=1764) == "factored"
    # the memory cap alone switches forms (a blocked path at a small n equals the dense one)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(60, 40)), rng.normal(size=(60, 3))
    folds = kfold_indices(60, 5, 0)
    dense = ridge.oof_linear_operator(X, folds, 0.1, n_targets=1)
    monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", 60 * 60 * 8 - 1)
    blocked = ridge.oof_linear_operator(X, folds, 0.1, n_targets=1)
    assert isinstance(dense, np.ndarray) and isinstance(blocked, ridge.FoldOperator)
    np.testing.assert_allclose(blocked @ Y, dense @ Y, rtol=1e-10, atol=1e-12)


# --- more features than training stimuli at large n: the dual form fold by fold (issue 17, part 5)
@pytest.mark.parametrize("alpha", [0.1, 0.0])
def test_kernel_fold_operator_equals_dense_dual_and_sklearn(alpha):
    from neuroxr.kernels.kernel_operator import KernelFoldOperator

    rng = np.random.default_rng(11)
    n = 50
    X = 3.0 * rng.normal(size=(n, 80)) + rng.normal(size=80)  # p > n, column means too
    Y = rng.normal(size=(n, 4)) + X[:, :4]
    folds = kfold_indices(n, 5, 0)
    S = KernelFoldOperator(centred_gram(X), folds, alpha)
    dense = oof_operator(X, folds, alpha, form="dual")
    np.testing.assert_allclose(S.dense(), dense, rtol=1e-9, atol=1e-10 * np.abs(dense).max())
    ref = _sklearn_oof(X, Y, folds, alpha)
    np.testing.assert_allclose(S @ Y, ref, rtol=1e-7, atol=1e-8 * np.abs(ref).max())


def test_large_full_rank_operators_are_applied_fold_by_fold(monkeypatch):
    """Above the dense-operator cap, more features than training stimuli give the fold-by-fold
    dual form (from the features and from a Gram); below it not, and fewer features give the
    primal fold-by-fold form on the kernel's low-rank factor."""
    import neuroxr.kernels.ridge as ridge
    from neuroxr.kernels.gram import gram_chunks
    from neuroxr.kernels.kernel_operator import KernelFoldOperator, oof_linear_operator_from_gram

    rng = np.random.default_rng(12)
    n = 40
    X, Y = rng.normal(size=(n, 70)), rng.normal(size=(n, 3))
    folds = kfold_indices(n, 4, 0)
    dense = ridge.oof_linear_operator(X, folds, 0.1)
    monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", n * n * 8 - 1)
    assert ridge.operator_form(n, 70, 4, 0.1) == "kernel_folds"
    lean = ridge.oof_linear_operator(X, folds, 0.1)
    stats = gram_chunks(X[:, i : i + 10] for i in range(0, 70, 10))
    from_gram = oof_linear_operator_from_gram(stats, folds, 0.1)
    assert isinstance(dense, np.ndarray)
    assert isinstance(lean, KernelFoldOperator) and isinstance(from_gram, KernelFoldOperator)
    for S in (lean, from_gram):
        np.testing.assert_allclose(S @ Y, dense @ Y, rtol=1e-9, atol=1e-12)
    narrow = oof_linear_operator_from_gram(gram_chunks([X[:, :5]]), folds, 0.1)  # rank 5: not full rank
    assert isinstance(narrow, ridge.FoldOperator)
    np.testing.assert_allclose(narrow @ Y, oof_operator(X[:, :5], folds, 0.1) @ Y, rtol=1e-9, atol=1e-12)


# --- numerically low-rank kernels: more features than training stimuli, rank far below them
def _low_rank_problem(scale, n=120, p=150, rank=18):
    """The audit's case: features of rank 18 over 150 units and 120 stimuli, 10 folds."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(n, rank))
    X = scale * (Z @ rng.normal(size=(rank, p)))
    Y = Z @ rng.normal(size=(rank, 4)) + 2.0 * rng.normal(size=(n, 4))
    folds = kfold_indices(n, 10, 0)
    return X, Y, folds


def _sklearn_svd_oof(X, Y, folds, alpha=0.1):
    """scikit-learn's out-of-fold predictions (``Ridge(solver="svd")``, the most accurate solver)."""
    from sklearn.model_selection import PredefinedSplit, cross_val_predict

    test_fold = np.empty(X.shape[0], dtype=int)
    for f, (_, te) in enumerate(folds):
        test_fold[te] = f
    return cross_val_predict(Ridge(alpha=alpha, solver="svd"), X, Y, cv=PredefinedSplit(test_fold))


#: Relative precision on out-of-fold predictions (docs/kernels.md, "Ridge precision").
_PRECISION = {"float64": 1e-8, "float32": 1e-3}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
def test_numerically_low_rank_kernel_matches_sklearn(scale, dtype):
    """Rank 18 < 150 features, 120 stimuli: the kernel's null space holds rounding errors that
    1 / alpha would amplify; every path from features or Gram (n_features or not, streamed) runs on
    its low-rank factor and equals scikit-learn's SVD solution to the dtype's precision."""
    import dask.array as da

    from neuroxr.kernels.gram import gram_dask

    X, Y, folds = _low_rank_problem(scale)
    ref = _sklearn_svd_oof(X, Y, folds)
    tol = _PRECISION[dtype] * np.abs(ref).max()
    Xd = X.astype(dtype)
    K = centred_gram(Xd)
    stats = gram_dask(da.from_array(Xd, chunks=(X.shape[0], 50)), scheduler="sync")
    Xc = X - X.mean(axis=0)
    if dtype == "float32" and np.finfo(np.float32).eps ** 2 * np.sum(Xc * Xc) / 0.1 > 1e-3:  # beyond float32's resolution
        for form in ("auto", "dual"):
            with pytest.raises(ParameterError, match="^oof_operator: dtype='float32' cannot resolve"):
                oof_operator(Xd, folds, 0.1, form=form)
        got = {}
    else:
        got = {
            "features": oof_operator(Xd, folds, 0.1),
            "features dual": oof_operator(Xd, folds, 0.1, form="dual"),
        }
    grams = {"gram": (K,), "gram n_features": (K, X.shape[1]), "streamed gram": (stats,)}
    for name, args in grams.items():
        with warnings.catch_warnings(record=True) as caught:  # float32 past the Gram's bound: flagged
            warnings.simplefilter("always")
            got[name] = oof_operator_from_gram(args[0], folds, 0.1, n_features=args[1] if len(args) > 1 else None)
        assert dtype == "float32" or not [w for w in caught if "may not resolve" in str(w.message)], name
    for name, S in got.items():
        assert S.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(S.astype(np.float64) @ Y, ref, rtol=0, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
def test_forward_on_numerically_low_rank_features_matches_sklearn(scale, dtype):
    """The forward direction on those features, in memory and streamed (Dask-chunked units)."""
    import neuroxr as nx

    X, Y, folds = _low_rank_problem(scale)
    rng = np.random.default_rng(1)
    ids = np.array([f"s{i:03d}" for i in range(X.shape[0])])  # sorted ids: the folds of kfold_indices
    R = nx.neural(Y[:, :, None] + rng.normal(size=(*Y.shape, 3)), ids)
    ref = _sklearn_svd_oof(X, R.values.mean(axis=2), folds)
    for chunks in (None, {"unit": 50}):
        F = nx.features(X, ids)
        F = F if chunks is None else F.chunk(chunks)
        Xc = X - X.mean(axis=0)
        in_memory_bound = np.finfo(np.float32).eps ** 2 * np.sum(Xc * Xc) / 0.1 > 1e-3
        if dtype == "float32" and chunks is None and in_memory_bound:  # beyond float32's resolution: refused
            with pytest.raises(ParameterError, match="^forward: dtype='float32' cannot resolve"):
                nx.forward(F, R, reps=1, noise_ceiling=False, dtype=dtype)
            continue
        out = nx.forward(F, R, reps=1, noise_ceiling=False, keep_predictions=True, dtype=dtype)
        P = out.prediction.isel(rep=0).values
        np.testing.assert_allclose(P, ref, rtol=0, atol=_PRECISION[dtype] * np.abs(ref).max(), err_msg=str(chunks))


def test_well_regularised_full_rank_kernel_pays_no_eigendecomposition(monkeypatch):
    """float64, full-rank features, alpha far above the rounding level: the trace trigger stays
    off, so no eigendecomposition runs and the operator is the hat form as before."""
    from neuroxr.kernels import ridge_rank

    rng = np.random.default_rng(2)
    X = 10.0 * rng.normal(size=(120, 150))
    folds = kfold_indices(120, 10, 0)
    assert not ridge_rank.rank_risk(centred_gram(X), 0.1)
    monkeypatch.setattr(ridge_rank, "_centred", lambda *a: pytest.fail("eigendecomposition"))
    monkeypatch.setattr(ridge_rank, "feature_factor", lambda *a: pytest.fail("principal axes"))
    S = oof_operator(X, folds, 0.1)
    from neuroxr.kernels import ridge

    np.testing.assert_array_equal(S, ridge._oof_operator_hat(centred_gram(X), folds, 0.1))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_rank_kernel_past_the_trigger_is_unchanged(dtype, monkeypatch):
    """Full-rank features where the trigger fires (small alpha, every axis far above it): the
    eigenvalues find full rank (and, for the features, the Gram's form the more accurate) and the
    operator is bit-identical to the one with the trigger forced off."""
    from neuroxr.kernels import ridge_rank

    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 150)).astype(dtype)
    folds = kfold_indices(120, 10, 0)
    alpha = 1e-9 if dtype == "float64" else 1e-3
    K = centred_gram(X)
    assert ridge_rank.rank_risk(K, alpha)
    ranks = []
    real = ridge_rank._numerical_rank
    monkeypatch.setattr(ridge_rank, "_numerical_rank", lambda *a: ranks.append(real(*a)) or ranks[-1])
    monkeypatch.setattr(ridge_rank, "feature_factor", lambda *a: pytest.fail("principal axes"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)  # float32 from a Gram past the trigger: flagged
        fired = {"features": oof_operator(X, folds, alpha), "gram": oof_operator_from_gram(K, folds, alpha)}
    assert ranks == [119, 119]  # full rank found, both times
    monkeypatch.setattr(ridge_rank, "rank_risk", lambda *a: False)
    for name, S in fired.items():
        ref = oof_operator(X, folds, alpha) if name == "features" else oof_operator_from_gram(K, folds, alpha)
        np.testing.assert_array_equal(S, ref, err_msg=name)


def test_large_numerically_low_rank_operator_is_factored(monkeypatch):
    """Above the dense-operator cap a numerically low-rank kernel gives the primal fold-by-fold
    operator on its factor (not the dual one on the kernel), with scikit-learn's predictions."""
    import neuroxr.kernels.ridge as ridge
    from neuroxr.kernels.kernel_operator import oof_linear_operator_from_gram

    X, Y, folds = _low_rank_problem(1e4)
    n = X.shape[0]
    monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", n * n * 8 - 1)
    ref = _sklearn_svd_oof(X, Y, folds)
    for S in (ridge.oof_linear_operator(X, folds, 0.1), oof_linear_operator_from_gram(centred_gram(X), folds, 0.1)):
        assert isinstance(S, ridge.FoldOperator)
        np.testing.assert_allclose(S @ Y, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


def test_design_sumsq_given_by_the_host_equals_the_kernels_own():
    """oof_pearson_designs reads the designs' centred sums of squares (its float32 checks) from the
    device unless a host caller gives them: both give the same correlations, and the same refusal."""
    from neuroxr.kernels.ridge_designs import design_sumsq, oof_pearson_designs

    rng = np.random.default_rng(0)
    n, k = 40, 6
    D = rng.normal(size=(2, n, k)) + 5.0
    R = rng.normal(size=(n, k + 2))
    Y = rng.normal(size=(n, 3))
    folds = kfold_indices(n, 5, 0)
    comp = (R, np.arange(k), 1.5, -0.5)
    Dc = D - D.mean(axis=1, keepdims=True)
    extra = 1.5 * (R[:, :k] - R[:, :k].mean(axis=0)) + -0.5 * Dc[-1]
    np.testing.assert_allclose(design_sumsq(D, comp), [*(Dc**2).sum(axis=(1, 2)), (extra**2).sum()], rtol=1e-12)
    for complement in (None, comp):
        ss = design_sumsq(D, complement)
        want = oof_pearson_designs(D, Y, folds, 0.1, pairs=[(0, 1)], complement=complement)
        got = oof_pearson_designs(D, Y, folds, 0.1, pairs=[(0, 1)], complement=complement, sumsq=ss)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    big = (D * 1e6).astype(np.float32)  # float32 cannot resolve alpha against this trace: refused either way
    with pytest.raises(ParameterError) as own:
        oof_pearson_designs(big, Y.astype(np.float32), folds, 1e-3)
    with pytest.raises(ParameterError) as given:
        oof_pearson_designs(big, Y.astype(np.float32), folds, 1e-3, sumsq=design_sumsq(big))
    assert str(own.value) == str(given.value)


def _rank_one_with_outlier(n: int, p: int, seed: int):
    """A design of rank 1 (every unit a multiple of one vector) whose stimulus 0 is 40 times the others:
    a fold holding it out trains on a kernel far smaller than the Gram it is down-dated from."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=n)
    b[0] = 40.0
    return np.repeat(b[:, None], p, axis=1) * rng.uniform(0.5, 2, size=p), rng.normal(size=(n, 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_least_squares_drops_the_rounding_of_the_gram_a_fold_is_down_dated_from(seed):
    """alpha=0 (least squares) takes the pseudo-inverse of each fold's system, whose eigenvalues below a
    cutoff are zero. The cutoff was relative to the fold's own largest eigenvalue, but the fold's system is
    down-dated from the full Gram and carries its rounding: a rank-1 design with one large stimulus held out
    inverted that rounding and predicted garbage (off by 10). Every form now equals LinearRegression."""
    n, p = 13, 60
    X, Y = _rank_one_with_outlier(n, p, seed)
    folds = kfold_indices(n, 2, 0)
    want = _sklearn_oof(X, Y, folds, 0.0)
    got = {"predict": oof_predict(X, Y, folds, 0.0), "linear": oof_linear_operator(X, folds, 0.0) @ Y,
           "gram": oof_linear_operator_from_gram(centred_gram(X), folds, 0.0, n_features=p) @ Y}
    got.update({form: oof_operator(X, folds, 0.0, form=form) @ Y for form in ("primal", "dual")})
    got["designs"] = oof_predict_designs(np.stack([2 * X + 1, X]), Y, folds, 0.0)[1]  # a stack of designs
    for what, P in got.items():
        np.testing.assert_allclose(P, want, atol=1e-8 * np.abs(want).max(), err_msg=what)


def test_forward_linear_and_its_permutation_null_on_a_rank_one_design_equal_scikit_learn():
    """The direction and the permutation nulls (primal: per-fold pseudo-inverses; the operator of the wide
    design above) on such designs: r per target equals LinearRegression's out-of-fold r (off by 1e-3, and 0.2)."""
    import neuroxr as nx
    from neuroxr.kernels.permute import permuted_oof_pearson

    X, Y = _rank_one_with_outlier(40, 6, 0)
    folds = kfold_indices(40, 2, 0)
    want = pearson(Y, _sklearn_oof(X, Y, folds, 0.0))
    ids = [f"s{i:02d}" for i in range(40)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        out = nx.forward(nx.features(X, ids), nx.neural(Y[:, :, None], ids), regressor="linear", n_folds=2)
    np.testing.assert_allclose(out.r.values[:, 0], want, atol=1e-8)
    perms = np.stack([np.arange(40), np.random.default_rng(0).permutation(40)])
    null = permuted_oof_pearson(X, Y, folds, 0.0, perms)
    for i, pm in enumerate(perms):
        np.testing.assert_allclose(null[i], pearson(Y[pm], _sklearn_oof(X, Y[pm], folds, 0.0)), atol=1e-8)
    X, Y = _rank_one_with_outlier(13, 60, 0)
    folds = kfold_indices(13, 2, 0)
    perms = np.stack([np.arange(13), np.random.default_rng(0).permutation(13)])
    null = permuted_oof_pearson(X, Y, folds, 0.0, perms)
    for i, pm in enumerate(perms):
        np.testing.assert_allclose(null[i], pearson(Y[pm], _sklearn_oof(X, Y[pm], folds, 0.0)), atol=1e-8)
