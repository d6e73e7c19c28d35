"""Regressor choices: out-of-fold predictions vs scikit-learn estimators fitted fold by fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge, RidgeCV

from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.gram import gram
from neuroxr.kernels.regressors import REGRESSORS, Regressor
from neuroxr.kernels.stats import pearson


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 50
    Z = rng.standard_normal((n, 4))
    X = Z @ rng.standard_normal((4, 12)) + 0.5 * rng.standard_normal((n, 12))
    Y = Z @ rng.standard_normal((4, 5)) + rng.standard_normal((n, 5)) + 2.0
    return X, Y, kfold_indices(n, 5, 0)


def _oof(est_factory, X, Y, folds):
    P = np.empty(Y.shape)
    for tr, te in folds:
        P[te] = np.asarray(est_factory().fit(X[tr], Y[tr]).predict(X[te])).reshape(len(te), -1)
    return P


class _BestUnit:
    """Reference of ``univariate``, target by target: the column of largest |r| (np.corrcoef) on
    the training rows, then a LinearRegression on that column alone."""

    def fit(self, X, Y):
        self.fits_ = []
        for j in range(Y.shape[1]):
            u = int(np.argmax([abs(np.corrcoef(X[:, c], Y[:, j])[0, 1]) for c in range(X.shape[1])]))
            self.fits_.append((u, LinearRegression().fit(X[:, [u]], Y[:, j])))
        return self

    def predict(self, X):
        return np.stack([lin.predict(X[:, [u]]) for u, lin in self.fits_], axis=1)


REFERENCES = {
    "univariate": _BestUnit,
    "ridge": lambda: Ridge(alpha=0.1),
    "linear": LinearRegression,
    "lasso": lambda: Lasso(alpha=0.1),
    "elasticnet": lambda: ElasticNet(alpha=0.1),
    "pls": lambda: PLSRegression(n_components=3),
    "ridgecv": lambda: RidgeCV(alphas=(0.1, 1.0, 10.0), alpha_per_target=True),
}


@pytest.mark.parametrize("name", REGRESSORS)
def test_predict_blocks_equal_sklearn_fold_by_fold(data, name):
    X, Y, folds = data
    reg = Regressor(name, folds, alpha=0.1, n_components=3, alphas=(0.1, 1.0, 10.0))
    assert reg.shared == (name in ("ridge", "linear"))
    got = reg.predict_blocks(X, [Y[:, :2], Y[:, 2:]])
    if name == "pls":  # one joint PLS fit per block
        ref = np.concatenate([_oof(REFERENCES[name], X, Y[:, :2], folds), _oof(REFERENCES[name], X, Y[:, 2:], folds)], axis=1)
    else:
        ref = _oof(REFERENCES[name], X, Y, folds)
    np.testing.assert_allclose(np.concatenate(got, axis=1), ref, rtol=1e-8, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("name", ["ridge", "linear"])
def test_designs_and_gram_paths_equal_the_operator(data, name):
    X, Y, folds = data
    reg = Regressor(name, folds, alpha=0.1)
    ref = _oof(REFERENCES[name], X, Y, folds)
    designs = [X[:, :6], X[:, 6:]]
    for D, P in zip(designs, reg.predict_designs(designs, Y)):
        np.testing.assert_allclose(P, _oof(REFERENCES[name], D, Y, folds), rtol=1e-8, atol=1e-9)
    stats = gram(X)
    for S in (reg.operator_from_gram(stats.K, n_features=stats.n_units), reg.operator_from_gram(stats)):
        np.testing.assert_allclose(S @ Y, ref, rtol=1e-8, atol=1e-9 * np.abs(ref).max())
    r_t, r_p = reg.pearson_designs(designs, Y, pairs=[(0, 1)], with_target=[0, 1])
    P0, P1 = reg.predict_designs(designs, Y)
    np.testing.assert_allclose(r_t, np.stack([pearson(Y, P0), pearson(Y, P1)]), rtol=1e-9)
    np.testing.assert_allclose(r_p[0], pearson(P0, P1), rtol=1e-9)


def test_torch_backend_gives_the_numpy_predictions(data):
    pytest.importorskip("torch")
    X, Y, folds = data
    ref = Regressor("ridge", folds).predict_blocks(X, [Y])[0]
    got = Regressor("ridge", folds, backend="torch").predict_blocks(X, [Y])[0]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_unknown_regressor_is_refused(data):
    with pytest.raises(ValueError, match="^regressor must be one of"):
        Regressor("svr", data[2])


def test_an_estimator_class_a_classifier_or_a_clusterer_is_refused_as_regressor():
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neuroxr.errors import ParameterError
    from neuroxr.kernels.regressors import check_regressor

    with pytest.raises(ParameterError, match=r"not the class Ridge; pass an instance, e\.g\. Ridge\(\)\.$"):
        check_regressor(Ridge)
    for est, kind in ((KMeans(2), "clusterer"), (make_pipeline(StandardScaler(), KMeans(2)), "clusterer"),
                      (LogisticRegression(), "classifier")):
        with pytest.raises(ParameterError, match=rf"is a scikit-learn {kind}, whose predictions are labels\. Pass a regressor"):
            check_regressor(est)

    class Duck:  # fit/predict without scikit-learn tags: accepted as before
        def fit(self, X, y):
            return self

        def predict(self, X):
            return X

    for ok in (Ridge(), make_pipeline(StandardScaler(), Ridge()), Duck(), "ridge"):
        check_regressor(ok)


def test_univariate_never_picks_a_column_constant_up_to_rounding():
    """univariate chose a column constant up to rounding (its |r| with a target was rounding noise)
    and predicted its rounding scaled by a huge slope."""
    from conftest import near_constant

    from neuroxr.kernels.stats import constant_columns

    rng = np.random.default_rng(0)
    n = 60
    X = rng.standard_normal((n, 4))
    X[:, 1] = near_constant(n)
    assert constant_columns(X[:, 1:2])[0]
    Y = rng.standard_normal((n, 40))
    folds = kfold_indices(n, 10, 0)
    got = Regressor("univariate", folds).predict_blocks(X, [Y])[0]
    np.testing.assert_allclose(got, _oof(_BestUnit, X[:, [0, 2, 3]], Y, folds), rtol=1e-9, atol=1e-12)
