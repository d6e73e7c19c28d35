"""Any scikit-learn estimator as ``regressor=``, and the ``univariate`` regressor, in every direction.

Out-of-fold predictions must equal ``sklearn.model_selection.cross_val_predict`` with the same
folds (computed here), and ``univariate`` a plain per-target loop; store entries are keyed by the
estimator's identity.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import predictivity as pv
from neuroxr.alignment import canonical_order
from neuroxr.errors import ParameterError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.regressors import regressor_identity, regressor_label
from neuroxr.kernels.stats import pearson

sklearn = pytest.importorskip("sklearn")
from sklearn.cross_decomposition import PLSRegression  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.model_selection import cross_val_predict  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

N = 60


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    Z = rng.normal(size=(N, 4))
    F = Z @ rng.normal(size=(4, 15)) + 0.5 * rng.normal(size=(N, 15))
    FB = Z @ rng.normal(size=(4, 6)) + 0.5 * rng.normal(size=(N, 6))
    R = (Z @ rng.normal(size=(4, 5)))[:, :, None] + rng.normal(size=(N, 5, 4))
    RB = (Z @ rng.normal(size=(4, 3)))[:, :, None] + rng.normal(size=(N, 3, 4))
    order = canonical_order([f"stimulus{i}" for i in range(N)])  # predictions come in this order
    return dict(F=F, FB=FB, R=R, RB=RB, order=order)


def _direction(name, d, regressor):
    """(labeled result with predictions, design X, target Y) in canonical order."""
    o = d["order"]
    kw = dict(reps=1, seed=0, regressor=regressor, keep_predictions=True)
    if name == "forward":
        ds = pv.forward(nx.features(d["F"]), nx.neural(d["R"]), noise_ceiling=False, **kw)
        return ds, d["F"][o], d["R"].mean(axis=2)[o]
    if name == "reverse":
        ds = pv.reverse(nx.neural(d["R"]), nx.features(d["F"]), noise_ceiling=False, **kw)
        return ds, d["R"].mean(axis=2)[o], d["F"][o]
    if name == "inter_animal":
        ds = pv.inter_animal(nx.neural(d["R"]), nx.neural(d["RB"]), noise_ceiling=False, **kw)
        return ds, d["R"].mean(axis=2)[o], d["RB"].mean(axis=2)[o]
    ds = pv.model_to_model(nx.features(d["F"]), nx.features(d["FB"]), **kw)
    return ds, d["F"][o], d["FB"][o]


DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")
ESTIMATORS = {
    "pca-linear": lambda: make_pipeline(PCA(3), LinearRegression()),
    "pls3": lambda: PLSRegression(3),
    "scaled-ridge": lambda: make_pipeline(StandardScaler(), Ridge(alpha=2.0)),
}


@pytest.mark.parametrize("est", list(ESTIMATORS))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_estimator_equals_cross_val_predict(data, direction, est):
    ds, X, Y = _direction(direction, data, ESTIMATORS[est]())
    folds = kfold_indices(N, 10, 0)
    ref = cross_val_predict(ESTIMATORS[est](), X, Y, cv=folds)
    np.testing.assert_allclose(ds.prediction.isel(rep=0).values, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ds.r.isel(rep=0).values, pearson(Y, ref), rtol=1e-9)
    ident = json.loads(ds.attrs["regressor"])  # the attrs record the estimator, as canonical JSON
    assert ident == regressor_identity(ESTIMATORS[est]())


def _univariate_loop(X, Y, folds):
    P = np.full(Y.shape, np.nan)
    for j in range(Y.shape[1]):
        for tr, te in folds:
            r = [abs(np.corrcoef(X[tr, u], Y[tr, j])[0, 1]) for u in range(X.shape[1])]
            u = int(np.argmax(r))
            lin = LinearRegression().fit(X[tr][:, [u]], Y[tr, j])
            P[te, j] = lin.predict(X[te][:, [u]])
    return P


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_univariate_equals_best_unit_loop(data, direction):
    ds, X, Y = _direction(direction, data, "univariate")
    ref = _univariate_loop(X, Y, kfold_indices(N, 10, 0))
    np.testing.assert_allclose(ds.prediction.isel(rep=0).values, ref, rtol=1e-9, atol=1e-12)
    assert ds.attrs["regressor"] == "univariate"


def test_univariate_with_ceiling_and_missing_trials(data):
    """The ceiling path (split halves as extra blocks) accepts the univariate regressor."""
    R = data["R"].copy()
    R[3, 1, 0] = np.nan
    ds = pv.forward(nx.features(data["F"]), nx.neural(R), reps=2, regressor="univariate")
    assert np.isfinite(ds.ev.values).all() and "ceiling" in ds


def test_estimator_identity_is_canonical():
    a = regressor_label(make_pipeline(PCA(3), LinearRegression()))
    assert a == regressor_label(make_pipeline(PCA(3), LinearRegression()))
    assert a != regressor_label(make_pipeline(PCA(4), LinearRegression()))
    ident = regressor_identity(PLSRegression(3))
    assert ident["class"] == "sklearn.cross_decomposition._pls.PLSRegression"
    assert ident["params"]["n_components"] == 3
    assert "0x" not in regressor_label(make_pipeline(PCA(3), LinearRegression()))  # never an address


def test_bad_regressor_is_one_line(data):
    with pytest.raises(ParameterError, match="^forward: regressor must be one of .* or a scikit-learn estimator"):
        pv.forward(nx.features(data["F"]), nx.neural(data["R"]), regressor=object())
    with pytest.raises(ParameterError, match="^forward: regressor must be one of"):
        pv.forward(nx.features(data["F"]), nx.neural(data["R"]), regressor="knn")


def test_estimators_key_store_entries(tmp_path, data):
    """The same pipeline -> one entry (read back); a different pipeline -> a second entry."""
    from neuroxr.entries import list_entries, lookup, score

    store = nx.open_store(tmp_path / "s.zarr")
    store.write_neural("monkey", nx.neural(data["R"]))
    store.write_features("net", "l1", nx.features(data["F"]))
    pipe = lambda k: make_pipeline(PCA(k), LinearRegression())  # noqa: E731
    a = score(store, "forward", "net.l1", "monkey", reps=1, regressor=pipe(3))
    b = score(store, "forward", "net.l1", "monkey", reps=1, regressor=pipe(3))
    assert len(list_entries(store)) == 1
    np.testing.assert_array_equal(a.ev.values, b.ev.values)
    assert lookup(store, "forward", "net.l1", "monkey", params=dict(reps=1, regressor=pipe(3))) is not None
    assert lookup(store, "forward", "net.l1", "monkey", params=dict(reps=1, regressor=pipe(4))) is None
    c = score(store, "forward", "net.l1", "monkey", reps=1, regressor=pipe(4))
    assert len(list_entries(store)) == 2
    assert c.attrs["provenance_key"] != a.attrs["provenance_key"]
    ref = pv.forward(nx.features(data["F"]), nx.neural(data["R"]), reps=1, regressor=pipe(4))
    np.testing.assert_allclose(c.ev.values, ref.ev.values, rtol=1e-12)


def test_an_estimators_number_spelling_keys_one_entry(tmp_path, data):
    """A parameter scikit-learn declares a real number alone keys one entry as an int, a float or a
    NumPy scalar (spelled as its default's type), and its predictions are the same; one whose int and
    float mean different things (max_features) keeps two identities."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import ElasticNet

    from neuroxr.entries import list_entries, lookup, score

    for a, b in [(Ridge(alpha=1), Ridge(alpha=1.0)), (Ridge(alpha=np.int64(2)), Ridge(alpha=2.0)),
                 (make_pipeline(PCA(3), Ridge(alpha=3)), make_pipeline(PCA(3), Ridge(alpha=3.0))),
                 (ElasticNet(l1_ratio=1), ElasticNet(l1_ratio=1.0)), (KernelRidge(alpha=1.0), KernelRidge())]:
        assert regressor_label(a) == regressor_label(b)
    assert regressor_identity(KernelRidge())["params"]["alpha"] == KernelRidge().alpha  # the default's spelling
    assert regressor_identity(Ridge())["params"]["alpha"] == 1.0
    assert regressor_label(RandomForestRegressor(max_features=1)) != regressor_label(RandomForestRegressor(max_features=1.0))
    assert regressor_label(PCA(1)) != regressor_label(PCA(1.0))  # an int counts components, a float a variance share

    store = nx.open_store(tmp_path / "s.zarr")
    store.write_neural("monkey", nx.neural(data["R"]))
    store.write_features("net", "l1", nx.features(data["F"]))
    first = score(store, "forward", "net.l1", "monkey", reps=1, regressor=Ridge(alpha=1.0))
    assert lookup(store, "forward", "net.l1", "monkey", params=dict(reps=1, regressor=Ridge(alpha=1))) is not None
    again = score(store, "forward", "net.l1", "monkey", reps=1, regressor=Ridge(alpha=np.int64(1)))
    assert len(list_entries(store)) == 1
    ref = pv.forward(nx.features(data["F"]), nx.neural(data["R"]), reps=1, regressor=Ridge(alpha=1))
    np.testing.assert_allclose(first.ev.values, ref.ev.values, rtol=1e-12)
    np.testing.assert_array_equal(again.ev.values, first.ev.values)


def _scaler(k):
    def f(x):
        return x * k
    return f


def test_functions_in_an_estimator_are_identified_by_content():
    """Two pipelines differing only in a function (lambdas, closures of one factory) never share an
    identity, so the store never hands one's entry to the other; equal ones do share it."""
    from sklearn.preprocessing import FunctionTransformer

    def pipe(fn):
        return make_pipeline(FunctionTransformer(fn), LinearRegression())

    assert regressor_identity(pipe(_scaler(1.0))) != regressor_identity(pipe(_scaler(0.0)))
    assert regressor_identity(pipe(_scaler(2.0))) == regressor_identity(pipe(_scaler(2.0)))
    assert regressor_identity(pipe(lambda x: x)) != regressor_identity(pipe(lambda x: -x))
    assert regressor_identity(pipe(np.log1p)) != regressor_identity(pipe(np.expm1))
    big = np.arange(1000.0)
    ident = regressor_identity(make_pipeline(FunctionTransformer(kw_args={"w": big}), LinearRegression()))
    assert "array_sha256" in json.dumps(ident)  # large arrays by hash, not by value
    assert "0x" not in regressor_label(pipe(lambda x: x))


def test_store_recomputes_for_a_pipeline_with_another_function(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    from neuroxr.entries import compute

    st, params = _small_store(tmp_path)
    a = compute(st, "forward", "net.l1", "mA",
                params={**params, "regressor": make_pipeline(FunctionTransformer(_scaler(1.0)), Ridge())})
    b = compute(st, "forward", "net.l1", "mA",
                params={**params, "regressor": make_pipeline(FunctionTransformer(_scaler(0.0)), Ridge())})
    assert b.computed and b.path != a.path
    assert np.isnan(b.dataset.ev.values).all() or not np.allclose(b.dataset.ev.values, a.dataset.ev.values)


def _estimator_class(scale, body="self.m_.predict(X)"):
    """A class named ``mylab.models.Shrunk`` whatever its code: ``scale`` is captured by ``predict``,
    ``body`` is its code."""
    from sklearn.base import BaseEstimator, RegressorMixin

    ns = {"Ridge": Ridge, "np": np, "scale": scale}
    exec("def predict(self, X):\n    return " + body + " + scale * np.sin(7 * X[:, :1])\n", ns)

    class Shrunk(BaseEstimator, RegressorMixin):
        def __init__(self, alpha=1.0):
            self.alpha = alpha

        def fit(self, X, y):
            self.m_ = Ridge(alpha=self.alpha).fit(X, y)
            return self

        predict = ns["predict"]

    Shrunk.__module__, Shrunk.__qualname__ = "mylab.models", "Shrunk"
    return Shrunk


def test_an_estimators_identity_covers_its_class_code_and_packages():
    """Same class path and parameters, other code (captured values, bytecode): other identities; an
    installed class records its distribution's version."""
    from importlib.metadata import version

    assert regressor_identity(_estimator_class(0.0)()) == regressor_identity(_estimator_class(0.0)())
    assert regressor_identity(_estimator_class(0.0)()) != regressor_identity(_estimator_class(3.0)())
    assert regressor_identity(_estimator_class(0.0)()) != regressor_identity(_estimator_class(0.0, "-self.m_.predict(X)")())
    assert regressor_identity(Ridge())["packages"] == [f"scikit-learn=={version('scikit-learn')}"]
    assert f"scikit-learn=={version('scikit-learn')}" in regressor_identity(_estimator_class(0.0)())["packages"]


def test_a_functions_identity_covers_what_it_calls():
    """A redefined module-level helper changes the identity of the function calling it; a function
    of an installed distribution is recorded by its package."""
    from importlib.metadata import version

    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils import check_array

    ns = {"check_array": check_array}
    exec("def helper(X):\n    return X\n\ndef f(X):\n    return helper(check_array(X))\n", ns)
    before = regressor_identity(FunctionTransformer(ns["f"]))
    exec("def helper(X):\n    return -X\n", ns)
    assert regressor_identity(FunctionTransformer(ns["f"])) != before
    called = regressor_identity(ns["f"])["globals"]["check_array"]
    assert called["package"] == f"scikit-learn=={version('scikit-learn')}" and "globals" not in called



def test_a_functions_identity_does_not_depend_on_a_set_literals_order():
    """``x in {...}`` compiles to a frozenset constant whose iteration order varies between processes
    (``PYTHONHASHSEED``): two functions differing only in that order have one identity; other
    members do not."""
    from neuroxr.identity import identity

    def f(x):
        return x in {1, 9}, (x, {17, 9, 1})

    def consts(*orders):
        it = iter(orders)
        return tuple(frozenset(next(it)) if isinstance(c, frozenset) else c for c in f.__code__.co_consts)

    g, h, k = (types.FunctionType(f.__code__.replace(co_consts=consts(*o)), f.__globals__, "f")
               for o in (([1, 9], [1, 17, 9]), ([9, 1], [17, 9, 1]), ([9, 2], [17, 9, 1])))
    assert [list(c) for c in g.__code__.co_consts if isinstance(c, frozenset)] != \
        [list(c) for c in h.__code__.co_consts if isinstance(c, frozenset)]  # the orders differ
    assert identity(g)["code"] == identity(h)["code"] != identity(k)["code"]


class _Power:
    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k

    def __call__(self, X):
        return np.sign(X) * np.abs(X) ** self.k


def test_slots_tensors_pandas_and_random_states_are_identified_by_their_values():
    from neuroxr.identity import identity

    assert identity(_Power(1.0)) != identity(_Power(3.0)) and identity(_Power(2.0)) == identity(_Power(2.0))
    torch = pytest.importorskip("torch")
    assert identity(torch.tensor([1.0])) != identity(torch.tensor([2.0]))
    assert identity(torch.tensor([1.0])) != identity(torch.tensor([1.0], dtype=torch.float64))
    assert identity(torch.arange(6.0).reshape(2, 3)) == identity(torch.arange(6.0).reshape(2, 3))
    pd = pytest.importorskip("pandas")
    assert identity(pd.Series([1.0, 2.0])) != identity(pd.Series([5.0, 6.0]))
    assert identity(pd.Series([1.0, 2.0])) != identity(pd.Series([1.0, 2.0], index=[5, 6]))
    assert identity(pd.DataFrame({"a": [1.0]})) != identity(pd.DataFrame({"b": [1.0]}))
    assert identity(pd.DataFrame({"a": [1.0]})) == identity(pd.DataFrame({"a": [1.0]}))
    for make in (np.random.RandomState, np.random.default_rng):
        assert identity(make(0)) == identity(make(0)) and identity(make(0)) != identity(make(1))
        assert "0x" not in json.dumps(identity(make(0)))


def test_a_value_it_cannot_read_is_never_matched(tmp_path):
    """A compiled object whose state identity cannot read (``operator.itemgetter``) is unidentified:
    a provenance holding it is untrusted, so its entry is computed every time and never handed back."""
    from operator import itemgetter

    from sklearn.preprocessing import FunctionTransformer

    from neuroxr.entries import compute, lookup
    from neuroxr.entries.provenance import is_trusted
    from neuroxr.identity import identified, identity

    assert not identified(identity(itemgetter(0))) and identified(identity(Ridge()))
    assert not is_trusted({"inputs": {"a": "t"}, "params": {"regressor": identity(itemgetter(0))}})
    assert is_trusted({"inputs": {"a": "t"}, "params": {"regressor": identity(Ridge())}})
    st, params = _small_store(tmp_path)

    def pipe(i):
        return make_pipeline(FunctionTransformer(_pick, kw_args={"get": itemgetter(i)}), Ridge())

    compute(st, "forward", "net.l1", "mA", params={**params, "regressor": pipe(slice(0, 2))})
    b = compute(st, "forward", "net.l1", "mA", params={**params, "regressor": pipe(slice(2, 4))})
    assert b.computed
    assert lookup(st, "forward", "net.l1", "mA", params={**params, "regressor": pipe(slice(2, 4))}) is None
    from neuroxr.errors import StoreError

    with pytest.raises(StoreError, match=r"regressor: holds a value whose state cannot be read .*never reused"):
        compute(st, "forward", "net.l1", "mA", params={**params, "regressor": pipe(slice(2, 4))}, require_existing=True)


def _pick(X, get):
    return np.asarray(X)[:, get(range(X.shape[1]))]


def _small_store(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    X = rng.normal(size=(30, 4))
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_features("net", "l1", nx.features(X, ids))
    st.write_neural("mA", nx.neural((X @ rng.normal(size=(4, 3)))[:, :, None] + rng.normal(size=(30, 3, 2)), ids))
    return st, dict(reps=1, noise_ceiling=False)


def _check_fresh(st, regressor, first, second):
    """``second`` was computed (not ``first``'s entry handed back) and equals a direct call."""
    assert second.computed and second.path != first.path
    f, n = st.read_features("net", "l1"), st.read_neural("mA")
    ref = pv.forward(f, n, reps=1, noise_ceiling=False, regressor=regressor)
    np.testing.assert_allclose(second.dataset.ev.values, ref.ev.values, rtol=1e-12)


def test_store_recomputes_for_an_estimator_class_with_other_code(tmp_path):
    from neuroxr.entries import compute

    st, params = _small_store(tmp_path)
    a = compute(st, "forward", "net.l1", "mA", params={**params, "regressor": _estimator_class(0.0)()})
    b = compute(st, "forward", "net.l1", "mA", params={**params, "regressor": _estimator_class(3.0)()})
    _check_fresh(st, _estimator_class(3.0)(), a, b)


class _Project:
    def __init__(self, W):
        self.W = W

    def __call__(self, X):
        return np.asarray(X) @ self.W.numpy()


def test_store_recomputes_for_a_tensor_with_other_values(tmp_path):
    torch = pytest.importorskip("torch")
    from sklearn.preprocessing import FunctionTransformer

    from neuroxr.entries import compute

    st, params = _small_store(tmp_path)
    rng = np.random.default_rng(1)
    W1, W2 = (torch.tensor(rng.normal(size=(4, 2))) for _ in range(2))

    def pipe(W):
        return make_pipeline(FunctionTransformer(_Project(W)), Ridge())

    a = compute(st, "forward", "net.l1", "mA", params={**params, "regressor": pipe(W1)})
    b = compute(st, "forward", "net.l1", "mA", params={**params, "regressor": pipe(W2)})
    _check_fresh(st, pipe(W2), a, b)


def test_numpy_functions_and_dtypes_are_identified():
    """NumPy's dispatched functions (np.mean, np.corrcoef, ...) are functions of an installed package,
    identified by path and version, and a dtype by its repr: neither is 'unidentified' (which would
    recompute an entry holding them on every request)."""
    import functools

    from sklearn.preprocessing import FunctionTransformer

    from neuroxr.identity import identified, identity

    for v in (np.mean, np.nanmean, np.corrcoef, np.linalg.norm, functools.partial(np.mean, axis=0),
              np.dtype("float32"), FunctionTransformer(np.nan_to_num)):
        assert identified(identity(v)), v
    assert identity(np.mean) != identity(np.median) and identity(np.dtype("float32")) != identity(np.dtype("float64"))
    assert identity(np.mean)["package"].startswith("numpy==")


def test_univariate_ignores_a_feature_constant_up_to_rounding_and_its_entries_are_revised():
    """A feature constant up to rounding could be univariate's best column (r moved by up to 0.3);
    the directions' univariate entries (alone) are one revision up for it."""
    from conftest import near_constant

    from neuroxr.entries import kinds, revisions

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(N, 2)), near_constant(N), rng.normal(size=(N, 1))])
    Y = rng.normal(size=(N, 40))
    ids = [f"s{j:03d}" for j in range(N)]
    got = pv.model_to_model(nx.features(X, ids), nx.features(Y, ids), regressor="univariate")
    ref = pv.model_to_model(nx.features(X[:, [0, 1, 3]], ids), nx.features(Y, ids), regressor="univariate")
    np.testing.assert_allclose(got.r.values, ref.r.values, rtol=1e-9, atol=1e-12)
    for name in (*kinds.DIRECTION_KINDS, *kinds.DIRECTION_INFERENCE_KINDS):
        kind = kinds.get_kind(name)
        base = revisions.entry_revision(name, kind.fill({}))
        assert revisions.entry_revision(name, kind.fill({"regressor": "univariate"})) == base + 1, name
        assert revisions.entry_revision(name, kind.fill({"regressor": "ridgecv"})) == base, name  # linear: LEAST_SQUARES_KINDS


@pytest.mark.parametrize("given", ["name", "estimator"])
@pytest.mark.parametrize("direction", ["forward", "model_to_model"])
def test_pls_predicts_the_training_mean_on_a_fold_whose_predictors_are_constant(direction, given):
    """A unit varying at one stimulus only is constant on the training stimuli of that stimulus' fold:
    PLS's weights are 0 / 0 there, and scipy raised 'A has a NaN entry' through 13 frames. That fold
    predicts the training mean, as least squares does; the others equal sklearn's PLS on their folds.
    The same whether PLS is named (regressor="pls") or given as an estimator object."""
    kw = dict(regressor="pls", n_components=1) if given == "name" else dict(regressor=PLSRegression(n_components=1))
    rng = np.random.default_rng(0)
    n = 40
    X = np.zeros((n, 1))
    X[5, 0] = 1.0
    Y = rng.normal(size=(n, 2))
    ids = [f"s{i:02d}" for i in range(n)]
    feats = nx.features(X, ids)
    if direction == "forward":
        R = Y[:, :, None] + rng.normal(size=(n, 2, 4))
        ds = pv.forward(feats, nx.neural(R, ids), **kw, keep_predictions=True, noise_ceiling=False)
        Y = R.mean(axis=2)
    else:
        ds = pv.model_to_model(feats, nx.features(Y, ids), **kw, keep_predictions=True)
    ref = np.full(Y.shape, np.nan)
    for train, test in kfold_indices(n, 10, 0):
        if np.ptp(X[train, 0]) == 0:
            ref[test] = Y[train].mean(axis=0)
        else:
            ref[test] = PLSRegression(1).fit(X[train], Y[train]).predict(X[test])
    assert any(np.ptp(X[tr, 0]) == 0 for tr, _ in kfold_indices(n, 10, 0))
    np.testing.assert_allclose(ds.prediction.isel(rep=0).values, ref, rtol=1e-9, atol=1e-12)


def test_an_estimator_drawing_from_numpys_global_random_state_is_refused(tmp_path):
    """An estimator whose fit depends on draws from NumPy's global random state (random_state=None)
    gave other numbers on each call, and a repeated store request returned the first entry's: it is
    refused in one line saying to fix its random_state; with one, repeated calls agree, and an
    estimator whose random_state=None is never drawn from (Ridge's default solver), or whose draws
    change nothing (Lasso's cyclic selection), is unaffected."""
    from sklearn.linear_model import ElasticNet, Lasso

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    F, G = nx.features(rng.normal(size=(30, 8)), ids), nx.features(rng.normal(size=(30, 3)), ids)
    drawing = (make_pipeline(PCA(2, svd_solver="randomized"), LinearRegression()), Lasso(alpha=0.01, selection="random"))
    for est in drawing:
        with pytest.raises(ParameterError, match=rf"^model_to_model: regressor={type(est).__name__}\(\.\.\.\) draws from "
                                                 r"NumPy's global random state .* Give it a fixed random_state \(e\.g\. "
                                                 r"random_state=0\)\.$"):
            pv.model_to_model(F, G, regressor=est)
    store = nx.StudyStore(tmp_path / "s.zarr")
    store.write_features("a", "l1", F)
    store.write_features("b", "l1", G)
    with pytest.raises(ParameterError, match="draws from NumPy's global random state"):
        nx.score(store, "model_to_model", "a.l1", "b.l1", regressor=drawing[0])
    # Lasso and ElasticNet draw a seed from the global state in every fit, which cyclic selection never
    # uses: their predictions do not depend on it, so they are fitted (cross_val_predict's numbers), and the
    # check (a refit from another state) leaves the global state as the fits alone leave it
    for est in (Lasso(alpha=0.01), ElasticNet(alpha=0.01)):
        np.random.seed(3)
        got = pv.model_to_model(F, G, regressor=est, keep_predictions=True).prediction.isel(rep=0).values
        after = np.random.get_state()[1].copy()
        np.random.seed(3)
        ref = cross_val_predict(est, F.values, G.values, cv=list(kfold_indices(30, 10, 0)))
        np.testing.assert_array_equal(np.random.get_state()[1], after)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    fixed = make_pipeline(PCA(2, svd_solver="randomized", random_state=0), LinearRegression())
    for est in (fixed, Ridge()):
        np.testing.assert_array_equal(pv.model_to_model(F, G, regressor=est).ev.values,
                                      pv.model_to_model(F, G, regressor=est).ev.values)
    ref = cross_val_predict(fixed, F.values, G.values, cv=list(kfold_indices(30, 10, 0)))
    got = pv.model_to_model(F, G, regressor=fixed, keep_predictions=True).prediction.isel(rep=0)
    np.testing.assert_allclose(got.values, ref, rtol=1e-9, atol=1e-12)
