"""The permutation-null kernel (neuroxr.kernels.permute) against scikit-learn refitted fold by
fold on the same permuted targets, and against the direction's own predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from neuroxr.errors import ParameterError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.permute import (
    PrimalPermutation,
    induced_permutations,
    permutation_flops,
    permutation_form,
    permuted_oof_pearson,
)
from neuroxr.kernels.stats import pearson


def _sklearn_null(X, Y, folds, alpha, perms):
    out = []
    for perm in perms:
        Yp = Y[perm]
        P = np.empty_like(Yp)
        for tr, te in folds:
            est = Ridge(alpha=alpha) if alpha > 0 else LinearRegression()
            P[te] = est.fit(X[tr], Yp[tr]).predict(X[te])
        out.append(pearson(Yp, P))
    return np.array(out)


@pytest.mark.parametrize(
    "n, p, m, alpha, form",
    [
        (60, 7, 5, 0.1, "primal"),  # reverse-like: few predictors
        (60, 7, 5, 0.0, "primal"),  # LinearRegression
        (50, 3, 3, 10.0, "operator"),
        (40, 60, 4, 1.0, "operator"),  # forward-like: more predictors than stimuli
        (40, 60, 4, 1.0, "auto"),
    ],
)
def test_null_equals_sklearn_refit_on_the_same_permutations(n, p, m, alpha, form):
    rng = np.random.default_rng(n + p)
    X = rng.normal(size=(n, p)) + 3.0
    Y = X[:, :2] @ rng.normal(size=(2, m)) + rng.normal(size=(n, m)) + 5.0
    folds = kfold_indices(n, 5, seed=1)
    perms = np.stack([rng.permutation(n) for _ in range(7)])
    got = permuted_oof_pearson(X, Y, folds, alpha, perms, form=form, batch_bytes=8 * m * 200)  # several batches
    np.testing.assert_allclose(got, _sklearn_null(X, Y, folds, alpha, perms), atol=1e-10)


def test_primal_and_operator_forms_agree_and_operator_may_be_given():
    from neuroxr.kernels.ridge import oof_operator

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(80, 12)), rng.normal(size=(80, 9))
    folds = kfold_indices(80, 10, seed=0)
    perms = np.stack([rng.permutation(80) for _ in range(5)])
    a = permuted_oof_pearson(X, Y, folds, 0.5, perms, form="primal")
    b = permuted_oof_pearson(None, Y, folds, 0.5, perms, S=oof_operator(X, folds, 0.5))
    np.testing.assert_allclose(a, b, atol=1e-10)
    # the identity permutation is the plain out-of-fold correlation
    ident = permuted_oof_pearson(X, Y, folds, 0.5, np.arange(80)[None])
    np.testing.assert_allclose(ident[0], pearson(Y, oof_operator(X, folds, 0.5) @ Y), atol=1e-12)


def test_form_choice_and_flops():
    folds = kfold_indices(100, 10)
    assert permutation_form(100, 5, 10, folds) == "primal"
    assert permutation_form(100, 95, 10, folds) == "operator"  # rank-deficient primal systems
    assert permutation_flops(100, 5, 3, 10, "primal") == 2 * 100 * 5 * 3 + 10 * 2 * 12 * 5 * 3
    assert permutation_flops(100, 5, 3, 10, "operator") == 2 * 100 * 100 * 3
    assert PrimalPermutation(np.random.default_rng(0).normal(size=(100, 5)), folds, 0.1).flops(3) == permutation_flops(
        100, 5, 3, 10, "primal")


def test_bad_input_raises_one_line():
    folds = kfold_indices(20, 4)
    X, Y = np.ones((20, 30)), np.ones((20, 2))
    with pytest.raises(ParameterError, match="primal form"):
        PrimalPermutation(X, folds, 0.1)
    with pytest.raises(ParameterError, match="form"):
        permuted_oof_pearson(X, Y, folds, 0.1, np.arange(20)[None], form="dual")
    with pytest.raises(ParameterError, match="perms"):
        permuted_oof_pearson(X, Y, folds, 0.1, np.arange(19)[None])


@pytest.mark.parametrize("batch_bytes", [2**30, 1024])  # dense copy of the operator, or applied per fold
def test_operator_form_takes_the_factored_fold_operator(batch_bytes):
    from neuroxr.kernels.ridge import FoldOperator

    rng = np.random.default_rng(3)
    n, p, m = 50, 6, 4
    X, Y = rng.normal(size=(n, p)), rng.normal(size=(n, m))
    folds = kfold_indices(n, 5, seed=0)
    perms = np.stack([rng.permutation(n) for _ in range(6)])
    null = permuted_oof_pearson(X, Y, folds, 0.5, perms, S=FoldOperator(X, folds, 0.5), form="operator",
                                batch_bytes=batch_bytes)
    np.testing.assert_allclose(null, _sklearn_null(X, Y, folds, 0.5, perms), atol=1e-10)


def test_induced_permutations_order_a_subset_as_the_draw_does():
    """A subset's permutation is its members in the order the full permutation puts them (as
    positions within the subset): the draw itself for every position, uniform on the subset."""
    rng = np.random.default_rng(0)
    perms = np.stack([rng.permutation(7) for _ in range(6000)])
    rows = np.array([True, False, True, True, False, False, False])
    got = induced_permutations(perms, rows)
    members = np.flatnonzero(rows)
    for perm, g in zip(perms[:20], got[:20]):
        np.testing.assert_array_equal(members[g], [s for s in perm if rows[s]])
    assert induced_permutations(perms, np.ones(7, dtype=bool)) is perms
    orders, counts = np.unique(got, axis=0, return_counts=True)
    assert len(orders) == 6 and np.all(np.abs(counts - 1000) < 150)  # 3! orders, each about 1/6 (sd 29)


@pytest.mark.parametrize("form", ["primal", "operator"])
@pytest.mark.parametrize("scale", [1e-200, 1e-155, 1e-150, 1e150, 1e200])
def test_null_is_scale_free_in_the_targets(form, scale):
    """r is scale-free, but the null read targets near 1e-150 as r = inf (their sums of squares
    underflowed; a permutation test then reported p-values above 1), near 1e-160 as constant (an
    absolute floor of 1e-300 on the predictions' squares) and near 1e150 as wrong numbers with
    NumPy's overflow warning; a target constant up to rounding gave an r of its rounding."""
    from conftest import near_constant

    rng = np.random.default_rng(4)
    n, p, m = 40, 5, 3
    X = rng.normal(size=(n, p))
    Y = X[:, :2] @ rng.normal(size=(2, m)) + rng.normal(size=(n, m))
    folds = kfold_indices(n, 5, seed=1)
    perms = np.stack([rng.permutation(n) for _ in range(6)])
    base = permuted_oof_pearson(X, Y, folds, 0.1, perms, form=form)
    np.testing.assert_allclose(base, _sklearn_null(X, Y, folds, 0.1, perms), atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = permuted_oof_pearson(X, Y * scale, folds, 0.1, perms, form=form)
    np.testing.assert_allclose(got, base, rtol=1e-12, atol=1e-14)
    Yc = np.column_stack([Y[:, 0], near_constant(n, 3.0)])
    assert np.isnan(permuted_oof_pearson(X, Yc, folds, 0.1, perms, form=form)[:, 1]).all()


@pytest.mark.parametrize("form", ["primal", "operator"])
def test_perms_that_are_no_permutations_are_refused_in_one_line(form):
    """Rows with a position out of range or repeated, and float rows, were indexed as given (an
    IndexError, a TypeError, or a null of targets that were no permutation of the data)."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(9, 2)), rng.normal(size=(9, 3))
    folds = [(np.setdiff1d(np.arange(9), te), te) for te in np.array_split(np.arange(9), 3)]
    good = np.stack([rng.permutation(9) for _ in range(3)])
    assert permuted_oof_pearson(X, Y, folds, 0.5, good, form=form).shape == (3, 3)
    repeated = good.copy()
    repeated[1, 0] = repeated[1, 1]
    for bad in (repeated, np.full((2, 9), 9), good.astype(float), good[:, :-1]):
        with pytest.raises(ParameterError, match=r"^permuted_oof_pearson: perms must be an int array \(n_perm, 9\), each row a permutation"):
            permuted_oof_pearson(X, Y, folds, 0.5, bad, form=form)
