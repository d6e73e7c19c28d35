"""One-line errors for bad parameters and inputs; ceiling hygiene (ceiling, included, warnings)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import predictivity as pv
from neuroxr.errors import LayoutError, NeuroxrError, NeuroxrWarning, ParameterError, SweepConfigError


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(8)
    n = 40
    Z = rng.normal(size=(n, 2))
    F = nx.features(Z @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(n, 6)))
    # neuroids 0-2 driven by the stimuli, 3-5 pure noise (reliability ~0)
    R = np.concatenate([(Z @ rng.normal(size=(2, 3)))[:, :, None] + 0.5 * rng.normal(size=(n, 3, 6)),
                        rng.normal(size=(n, 3, 6))], axis=1)
    return F, nx.neural(R)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seed=None), r"seed must be an integer >= 0; got None\. .*seed=0"),
        (dict(reps=2.5), r"reps must be an integer >= 1; got 2\.5"),
        (dict(reps=0), r"reps must be an integer >= 1"),
        (dict(regressor="ridgecv", alphas=[]), r"alphas=\[\] must be one or more penalties, each finite and > 0, for regressor='ridgecv'"),
        (dict(regressor="ridgecv", alphas=[0.1, np.inf]), r"alphas=\[0\.1, inf\] must be one or more penalties, each finite and > 0"),
        # a number, text, or a grid holding text raised Python's TypeError / ValueError
        (dict(regressor="ridgecv", alphas=5), r"alphas=5 must be one or more penalties, each finite and > 0"),
        (dict(regressor="ridgecv", alphas=0.5), r"alphas=0\.5 must be one or more penalties"),
        (dict(regressor="ridgecv", alphas="123"), r"alphas='123' must be one or more penalties"),
        (dict(regressor="ridgecv", alphas=[1, "x"]), r"alphas=\[1, 'x'\] must be one or more penalties"),
        # a one-shot iterator was used up by the check: scikit-learn's traceback from RidgeCV(alphas=())
        (dict(regressor="ridgecv", alphas=iter([0.1, 1.0])), r"alphas is a one-shot iterator \(list_iterator\); pass a list"),
        (dict(regressor="ridgecv", alphas=(a for a in [0.1, 1.0])), r"alphas is a one-shot iterator \(generator\)"),
        # a repeated penalty was fitted and keyed once: never a grid other than the one asked for
        (dict(regressor="ridgecv", alphas=[1, 10, 1.0]), r"alphas=\[1, 10, 1\.0\] names the penalty 1 more than once; "
                                                        r"give each penalty once, e.g\. alphas=\(0\.1, 1\.0, 10\.0\)\.$"),
        (dict(alpha=np.inf), r"alpha must be a finite non-negative number; got inf"),
        (dict(fold_seed=2**33), r"fold_seed must be an integer in \[0, 4294967295\]"),
        (dict(regressor="pls", n_components=0), r"n_components must be an integer >= 1"),
        (dict(regressor="pls", n_components=2.5), r"n_components must be an integer >= 1"),
        (dict(regressor="svm"), r"regressor must be one of"),
        (dict(split="odd"), r"split must be one of"),
        (dict(max_n=0), r"max_n must be an integer >= 1"),
        (dict(alpha=-1.0), r"alpha must be a finite non-negative number"),
        (dict(n_folds=1), r"n_folds must be an integer >= 2"),
        (dict(noise_ceiling="yes"), r"noise_ceiling must be True, False or None"),
        (dict(min_reliability=2), r"min_reliability must be a number in \[0, 1\]"),
        (dict(progress=3), r"progress must be True, False or a callable; got 3\. Pass progress=True"),
        (dict(progress="no"), r"progress must be True, False or a callable; got 'no'"),
        (dict(keep_predictions="x"), r"keep_predictions must be True or False; got 'x'"),
    ],
)
@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal"])
def test_bad_parameters_one_line(small, direction, kwargs, message):
    F, R = small
    call = {"forward": lambda: pv.forward(F, R, **kwargs), "reverse": lambda: pv.reverse(R, F, **kwargs),
            "inter_animal": lambda: pv.inter_animal(R, R, **kwargs)}[direction]
    with pytest.raises(NeuroxrError, match=f"^{direction}: {message}") as info:  # the function called, first
        call()
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_model_to_model_checks_its_flags(small):
    F, _ = small
    with pytest.raises(NeuroxrError, match=r"^model_to_model: keep_predictions must be True or False; got 'x'"):
        pv.model_to_model(F, F, keep_predictions="x")
    with pytest.raises(NeuroxrError, match=r"^model_to_model: alphas is a one-shot iterator \(map\)"):
        pv.model_to_model(F, F, regressor="ridgecv", alphas=map(float, [0.1, 1.0]))
    with pytest.raises(NeuroxrError, match=r"^model_to_model: progress must be True, False or a callable; got 3"):
        pv.model_to_model(F, F, progress=3)


def test_a_dtype_that_is_no_dtype_is_a_neuroxr_error(small):
    F, R = small
    with pytest.raises(NeuroxrError, match=r"^forward: dtype='floatx' is not a dtype; use 'float32' or 'float64'"):
        pv.forward(F, R, dtype="floatx")


def test_pls_components_beyond_the_predictors_are_refused(small):
    F, R = small  # 6 units, 6 neuroids; PLS's default is 20 components
    with pytest.raises(NeuroxrError, match=r"^reverse: regressor='pls': n_components=20 but neural has 6 neuroids "
                                           r"\(the predictor columns; .*\); pass n_components <= 6\.$"):
        pv.reverse(R, F, reps=1, regressor="pls")
    ok = pv.reverse(R, F, reps=1, regressor="pls", n_components=6)
    assert np.isfinite(ok.ev.values).any()


@pytest.mark.parametrize("direction", ["forward", "reverse", "inter_animal", "model_to_model"])
def test_pls_components_beyond_max_n_name_the_input_and_max_n(small, direction):
    """A max_n subset of fewer columns than PLS's components: the fit's refusal said "the predictors have 4
    columns" of an input of 6, naming neither the input nor max_n (nor raising max_n as a way out)."""
    F, R = small
    source, target, arg, what = {"forward": (F, R, "features", "units"), "reverse": (R, F, "neural", "neuroids"),
                                 "inter_animal": (R, R.rename("B"), "neural_a \\(neural\\)", "neuroids"),
                                 "model_to_model": (F, F.rename("B"), "features_a \\(features\\)", "units")}[direction]
    kw = dict(reps=1, regressor="pls", n_components=5, max_n=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)  # a set against itself is told so, beside the point here
        with pytest.raises(ParameterError, match=rf"^{direction}: regressor='pls': n_components=5 but max_n=3 fits "
                                                 rf"3 of the 6 {what} of {arg} per rep .*; pass n_components <= 3, or max_n=5\.$"):
            getattr(pv, direction)(source, target, **kw)
        ok = getattr(pv, direction)(source, target, **{**kw, "max_n": 5})
    assert np.isfinite(ok.ev.values).any()


def test_a_one_value_ridgecv_grid_is_that_ridge(small):
    F, R = small
    a = pv.forward(F, R, reps=1, regressor="ridgecv", alphas=(0.3,))
    b = pv.forward(F, R, reps=1, regressor="ridge", alpha=0.3)
    np.testing.assert_allclose(a.ev.values, b.ev.values, rtol=1e-8)


def test_model_to_model_and_reliability_check_parameters(small):
    F, R = small
    with pytest.raises(NeuroxrError, match="^model_to_model: seed must be an integer"):
        pv.model_to_model(F, F, seed=None)
    with pytest.raises(NeuroxrError, match="^split_half_reliability: reps must be an integer"):
        pv.split_half_reliability(R, reps=1.5)
    with pytest.raises(NeuroxrError, match=r"^split_half_reliability: method must be one of \('spearman', 'pearson'\); got 'kendall'\.$"):
        pv.split_half_reliability(R, method="kendall")
    with pytest.raises(LayoutError, match="at least 2"):
        pv.split_half_reliability(R.isel(repeat=[0]))


def test_plain_arrays_are_refused_naming_the_constructor(small):
    F, R = small
    with pytest.raises(LayoutError, match=r"^forward: features: expected an xarray.DataArray, got ndarray; .*nx\.features\("):
        pv.forward(F.values, R)
    with pytest.raises(LayoutError, match=r"^reverse: neural: expected an xarray.DataArray, got ndarray; .*nx\.neural\("):
        pv.reverse(R.values, F)


def test_rsatoolbox_dataset_is_refused_with_the_converter():
    rsd = pytest.importorskip("rsatoolbox.data")
    ds = rsd.Dataset(np.random.default_rng(0).normal(size=(6, 3)))
    with pytest.raises(LayoutError, match=r"^neural: an rsatoolbox Dataset converts with neuroxr\.io\.from_rsatoolbox\("):
        nx.neural(ds)
    with pytest.raises(LayoutError, match="rsatoolbox Dataset") as info:
        pv.forward(nx.features(np.ones((6, 2))), ds)
    said = str(info.value)  # one "got", one closing period
    assert said.count("got") == 1 and said.endswith("ids).") and not said.endswith(".."), said


def test_lazy_features_with_nan_name_the_cause(small):
    import dask.array as da

    F, R = small
    values = F.values.copy()
    values[3, 2] = np.nan  # e.g. a chunk missing from the store, read back as NaN
    lazy = F.copy(data=da.from_array(values, chunks=(values.shape[0], 3)))
    said = r"^(forward|reverse): features( \(\w+\))?: holds 1 non-finite values \(NaN or inf\) in 1 units, e.g. \[.unit2.\]"  # as in memory
    with pytest.raises(LayoutError, match=said):
        pv.forward(lazy, R, reps=1)  # streamed through the Gram
    with pytest.raises(LayoutError, match=said):
        pv.forward(lazy, R, reps=1, max_n=4)  # loaded
    with pytest.raises(LayoutError, match=said):
        pv.reverse(R, lazy, reps=1)  # unit chunk by unit chunk


# ---------------------------------------------------------------------------- ceiling hygiene
def test_a_negative_reliability_counts_in_the_low_reliability_warning():
    """A target whose mean split-half reliability was negative (ev NaN in every rep) was left out of
    the low-reliability count, in the direction and its bootstrap: its NaN had no stated reason."""
    from neuroxr.predictivity.inference import bootstrap

    rng = np.random.default_rng(1)
    n, ids = 100, [f"s{i:03d}" for i in range(100)]
    Z = rng.normal(size=(n, 3))
    Fv = Z @ rng.normal(size=(3, 20)) + 0.5 * rng.normal(size=(n, 20))
    R = (Z @ rng.normal(size=(3, 6)))[:, :, None] + rng.normal(size=(n, 6, 4))
    R[:, 5] = rng.normal(size=(n, 4))  # an unresponsive neuroid
    F, B = nx.features(Fv, ids), nx.neural(R, ids)
    said = {}
    for name, fn in (("forward", lambda: pv.forward(F, B, reps=5)), ("bootstrap", lambda: bootstrap("forward", F, B, reps=5, n_boot=20))):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = fn()
        said[name] = [str(x.message) for x in w]
        if name == "forward":
            ds = out
    means = [ds[v].mean("rep").values for v in ("target_shc", "prediction_shc")]
    low = (means[0] < 0.1) | (means[1] < 0.1)
    assert (low & np.isnan(ds.ev.values).all(axis=1)).any()  # the case: a low target NaN in every rep
    for name, messages in said.items():
        assert any(m.startswith(f"{name}: ") and f"{int(low.sum())} neuroids have a split-half reliability below 0.1" in m
                   for m in messages), (name, messages)


def test_a_zero_ceiling_gives_nan_as_a_negative_one_and_as_the_bootstrap():
    """12 stimuli, 2 repeats: a neuroid whose split halves have a Spearman correlation of exactly 0
    in every rep (ranks are integers) has a ceiling of 0; its EV was inf (its mean over reps too)
    where the bootstrap's point EV, leaving such reps out, was NaN. Both are NaN now; the other
    neuroids are unchanged."""
    from neuroxr.predictivity.inference import bootstrap

    rng = np.random.default_rng(93)
    n, k, T, p = 12, 6, 2, 5
    Z = rng.normal(size=(n, 4))
    F = Z @ rng.normal(size=(4, p)) + 0.5 * rng.normal(size=(n, p))
    rng.normal(size=(4, 7)), rng.normal(size=(n, 7))  # the draws of a second set
    R = (Z @ rng.normal(size=(4, k)))[:, :, None] + rng.normal(size=(n, k, T))
    ids = [f"s{i:03d}" for i in range(n)]
    feats, neu = nx.features(F, ids), nx.neural(R, ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        ds = pv.forward(feats, neu, reps=5, seed=0)
        boot = bootstrap("forward", feats, neu, n_boot=5, reps=5, seed=0)
    zero = (ds.ceiling.values == 0).all(axis=1)
    assert zero.sum() == 1 and (ds.target_shc.values[zero] == 0).all() and (ds.r.values[zero] > 0.5).all()
    assert np.isnan(ds.ev.values[zero]).all() and np.isnan(ds.ev.mean("rep").values[zero]).all()
    np.testing.assert_allclose(ds.ev.mean("rep").values, boot.ev.values, rtol=1e-10)  # NaN where NaN
    pos = ds.ceiling.values > 0
    np.testing.assert_allclose(ds.ev.values[pos], 100 * ds.r.values[pos] ** 2 / ds.ceiling.values[pos])


def test_ceiling_variables_and_min_reliability(small):
    F, R = small
    with pytest.warns(NeuroxrWarning, match="have a split-half reliability below 0.1.*Pass min_reliability="):
        ds = pv.forward(F, R, reps=4, seed=0)
    # the ceiling is the product of the two Spearman-Brown reliabilities, per rep
    np.testing.assert_allclose(ds.ceiling.values, ds.target_shc.values * ds.prediction_shc.values)
    pos = ds.ceiling.values > 0
    np.testing.assert_allclose(ds.ev.values[pos], 100 * ds.r.values[pos] ** 2 / ds.ceiling.values[pos])
    assert np.isnan(ds.ev.values[~pos]).all()  # a negative ceiling has no square root (as in reverse_pred)
    assert ds.included.dtype == bool and ds.included.values.all()
    with pytest.warns(NeuroxrWarning, match="marked included=False"):
        strict = pv.forward(F, R, reps=4, seed=0, min_reliability=0.3)
    expected = (strict.target_shc.mean("rep").values >= 0.3) & (strict.prediction_shc.mean("rep").values >= 0.3)
    np.testing.assert_array_equal(strict.included.values, expected)
    assert expected[:3].all() and not expected[3:].any()  # the noise neuroids are excluded
    assert strict.attrs["min_reliability"] == 0.3
    np.testing.assert_array_equal(strict.ev.values, ds.ev.values)  # marking never changes a score


def test_min_reliability_counts_unscored_targets_apart(small):
    """The warning's count of targets below min_reliability leaves out those never scored (no reliability
    at all): they are excluded too, and counted as such."""
    F, R = small
    vals = R.values.copy()
    vals[:, 5, :] = np.nan  # one noise neuroid all NaN: no reliability
    with pytest.warns(NeuroxrWarning) as rec:
        ds = pv.forward(F, R.copy(data=vals), reps=4, seed=0, min_reliability=0.3)
    msg = next(str(w.message) for w in rec if "marked included=False" in str(w.message))
    low = (ds.target_shc.mean("rep") < 0.3) | (ds.prediction_shc.mean("rep") < 0.3)
    assert int(low.sum()) == 2 and not bool(ds.included.values[5])
    assert "2 neuroids with a reliability below min_reliability=0.3 and 1 without one are marked included=False." in msg


def test_ev_above_100_is_counted(small):
    F, R = small
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = pv.forward(F, R, reps=4, seed=0)
    over = int((np.nanmean(ds.ev.values, axis=1) > 100).sum())
    msgs = [str(w.message) for w in rec if issubclass(w.category, NeuroxrWarning)]
    assert over > 0 and any(f"{over} neuroids have a ceiling-corrected EV above 100 %" in m for m in msgs)


def test_reverse_ceiling_is_the_prediction_reliability(small):
    F, R = small
    ds = pv.reverse(R, F, reps=2, seed=0)
    np.testing.assert_allclose(ds.ceiling.values, ds.prediction_shc.values)
    # without a ceiling min_reliability judges nothing: refused when the ceiling is turned off, and when
    # the automatic ceiling is off for these data (one repeat: trial-averaged); without it every target counts
    with pytest.raises(ParameterError, match=r"^forward: min_reliability=0.5 has no effect without a noise ceiling"):
        pv.forward(F, R, reps=1, noise_ceiling=False, min_reliability=0.5)
    with pytest.raises(ParameterError, match=r"^forward: min_reliability=0.5 has no effect without a noise ceiling "
                                             r"\(trial-averaged data"):
        pv.forward(F, R.isel(repeat=[0]), reps=1, min_reliability=0.5)
    assert pv.forward(F, R.isel(repeat=[0]), reps=1).included.values.all()


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(regressor="linear", alpha=1.0), r"^forward: alpha has no effect with regressor='linear' \(alpha is the penalty of ridge"),
    (dict(regressor="ridgecv", alpha=2.0), r"^forward: alpha has no effect with regressor='ridgecv'"),
    (dict(regressor="ridge", alphas=(1.0, 10.0)), r"^forward: alphas has no effect with regressor='ridge'"),
    (dict(regressor="ridge", n_components=5), r"^forward: n_components has no effect with regressor='ridge'"),
    (dict(regressor="pls", alpha=3.0, alphas=(1.0,)), r"^forward: alpha and alphas have no effect with regressor='pls'"),
    (dict(regressor="pls", dtype="float32"), r"^forward: dtype='float32' has no effect with regressor='pls'"),
    (dict(regressor="univariate", dtype="float32"), r"^forward: dtype='float32' has no effect"),
    (dict(noise_ceiling=False, split="slots"), r"^forward: split='slots' has no effect without a noise ceiling"),
    (dict(noise_ceiling=False, seed=3), r"^forward: seed=3 has no effect without a noise ceiling"),
    # one wording for every such refusal (neuroxr.errors.no_effect)
    (dict(noise_ceiling=False, split="slots", seed=3),
     r"^forward: split='slots' and seed=3 have no effect without a noise ceiling \(.*\); drop them or keep the ceiling\.$"),
    (dict(regressor="pls", alpha=3.0, alphas=(1.0,), n_components=3),
     r"^forward: alpha and alphas have no effect with regressor='pls' \(.*\); drop them or choose a regressor that reads them\.$"),
    (dict(regressor="univariate", dtype="float32"),
     r"^forward: dtype='float32' has no effect with regressor='univariate' \(it fits in float64; .*\); drop it\.$"),
])
def test_options_that_change_nothing_are_refused(small, kwargs, message):
    """An option set away from its default that the call would ignore is an error, never a new entry
    with the same numbers; the defaults themselves are accepted with every regressor."""
    F, R = small
    with pytest.raises(ParameterError, match=message):
        pv.forward(F, R, reps=1, **kwargs)
    pv.forward(F, R, reps=1, regressor="linear", alpha=0.1, n_components=20)  # the defaults, spelled out
    pv.forward(F, R, reps=2, noise_ceiling=False, seed=3, max_n=4)  # the seed draws max_n's subsets
    # model-to-model has no ceiling to keep: the way out is max_n, which the seed draws (it was told of split halves)
    with pytest.raises(ParameterError, match=r"^model_to_model: seed=2 has no effect without a noise ceiling \(it draws "
                                             r"max_n's subsets only; there are no split halves to draw\); drop it or pass max_n\.$"):
        pv.model_to_model(F, F, seed=2)
    from sklearn.linear_model import Ridge

    with pytest.raises(ParameterError, match=r"^forward: alpha has no effect with an estimator object as regressor"):
        pv.forward(F, R, reps=1, regressor=Ridge(1.0), alpha=1.0)


def test_max_n_not_below_the_predictor_count_is_refused(small):
    """max_n at or above the number of predictors was silently ignored (every rep fitted all of them,
    recorded max_n under a new key, and let an inert seed or reps through)."""
    F, R = small  # 6 units, 6 neuroids
    R_nan = R.copy(data=R.values.copy())
    R_nan.values[:, 5] = np.nan  # an all-NaN neuroid is left out of the predictor: 5 usable
    calls = {"forward": (lambda m: pv.forward(F, R, reps=1, max_n=m), "units", "features", 6),
             "reverse": (lambda m: pv.reverse(R_nan, F, reps=1, max_n=m), "neuroids", "neural", 5),
             "inter_animal": (lambda m: pv.inter_animal(R_nan, R, reps=1, max_n=m), "neuroids", "neural_a", 5),
             "model_to_model": (lambda m: pv.model_to_model(F, F, reps=2, seed=7, max_n=m), "units", "features_a", 6)}
    for caller, (call, what, name, size) in calls.items():
        for m in (size, 500):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NeuroxrWarning)
                with pytest.raises(ParameterError, match=rf"^{caller}: {name}( \(\w+\))?: max_n={m} has no effect on its {size} {what} \(.*\); "
                                                         rf"drop it or pass max_n below {size}\.$"):
                    call(m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NeuroxrWarning)
            assert call(size - 1).attrs["max_n"] == size - 1  # a true subset: taken


def test_keep_predictions_must_be_a_bool():
    from neuroxr.predictivity._prepare import check_params

    args = dict(reps=2, seed=0, split="valid", regressor="ridge", max_n=None, backend=None, dtype=None)
    with pytest.raises(ParameterError, match=r"^keep_predictions must be True or False; got 'x'\. Pass keep_predictions=True"):
        check_params(**args, keep_predictions="x")
    with pytest.raises(ParameterError, match=r"^progress must be True, False or a callable; got 3"):
        check_params(**args, progress=3)
    check_params(**args, keep_predictions=np.bool_(True), progress=lambda it: it)


@pytest.mark.parametrize("gram, message", [
    ("bogus", r"^forward: gram: expected a Gram Dataset .*, GramStats or an \(40, 40\) array of real numbers; got str of dtype <U5\.$"),
    (np.ones((40, 40)) * 1j, r"^forward: gram: expected .* of real numbers; got ndarray of dtype complex128\.$"),
    ([[1.0, 2.0], [3.0]], r"^forward: gram: expected .* of real numbers; got a ragged list"),
    (np.eye(3), r"^forward: gram: has shape \(3, 3\); the features have 40 stimuli"),
])
def test_a_gram_that_is_no_gram_is_refused_in_one_line(small, gram, message):
    F, R = small
    with pytest.raises(LayoutError, match=message):
        pv.forward(F, R, reps=2, gram=gram)


@pytest.mark.parametrize("direction, inputs", [("forward", "neural/features"), ("reverse", "neural/features"),
                                               ("inter_animal", "neural_a/neural_b"),
                                               ("model_to_model", "features_a/features_b")])
def test_a_directions_regressor_draws_its_folds_over_its_stimuli(direction, inputs):
    """Every direction, and inference, fits a group of targets (or all of them) with one regressor:
    folds over the group's stimuli with the call's n_folds and fold_seed, the call's options, and
    the folds' error naming the direction's inputs."""
    from neuroxr.kernels.folds import kfold_indices
    from neuroxr.predictivity import _prepare as prep

    opts = prep.regressor_options(0.5, 3, [0.1, 1.0], None, "float32")
    reg = prep.fold_regressor(direction, 12, "ridge", 4, 2, opts)
    assert [[t.tolist() for t in f] for f in reg.folds] == [[t.tolist() for t in f] for f in kfold_indices(12, 4, 2)]
    assert (reg.alpha, reg.n_components, reg.alphas, reg.dtype) == (0.5, 3, (0.1, 1.0), np.float32)
    with pytest.raises(LayoutError, match=rf"^{inputs}: too few stimuli for the folds: 3 stimuli cannot be split"):
        prep.fold_regressor(direction, 3, "ridge", 4, 2, opts)


def test_two_stimuli_are_refused_an_out_of_fold_r_over_two_is_always_one():
    """Pearson r over 2 stimuli is +-1 whatever the data: every fit needs at least 3 stimuli."""
    rng = np.random.default_rng(0)
    ids = np.array(["a", "b"])
    F = nx.features(rng.standard_normal((2, 5)), stimulus_id=ids, model="m", layer="l")
    G = nx.features(rng.standard_normal((2, 3)), stimulus_id=ids, model="m2", layer="l")
    R = nx.neural(rng.standard_normal((2, 3, 4)), stimulus_id=ids)
    for call in (lambda: pv.forward(F, R, n_folds=2, reps=1, noise_ceiling=False),
                 lambda: pv.model_to_model(F, G, n_folds=2),
                 lambda: nx.ereg(F, R, n_folds=2)):
        with pytest.raises(LayoutError, match="at least 3"):
            call()


def test_targets_with_two_usable_stimuli_are_nan_not_minus_one():
    rng = np.random.default_rng(1)
    n = 12
    ids = np.array([f"s{i:02d}" for i in range(n)])
    F = nx.features(rng.standard_normal((n, 6)), stimulus_id=ids, model="m", layer="l")
    X = rng.standard_normal((n, 3, 4))
    X[2:, 0, :] = np.nan  # neuroid 0 has 2 stimuli
    R = nx.neural(X, stimulus_id=ids)
    with pytest.warns(NeuroxrWarning, match="fewer usable stimuli"):
        out = pv.forward(F, R, n_folds=2, reps=1, noise_ceiling=False)
    r = out.r.squeeze().values
    assert np.isnan(r[0]) and np.isfinite(r[1:]).all()


@pytest.mark.parametrize("direction", ["forward", "reverse", "model_to_model"])
def test_float32_least_squares_is_refused(small, direction):
    """Least squares in float32 squares the design's condition number: with one near-duplicate unit
    (condition about 2.5e3) its EV moved by points, unflagged, where ridge's float32 bound refuses
    small penalties; it is refused as that bound is at alpha = 0, in the functions and in a sweep."""
    from neuroxr.sweep.config import validate_config

    F, R = small
    args = {"forward": (F, R), "reverse": (R, F), "model_to_model": (F, F)}[direction]
    with pytest.raises(ParameterError, match=rf"^{direction}: dtype='float32' cannot resolve least squares \(regressor='linear'"):
        getattr(pv, direction)(*args, regressor="linear", dtype="float32")
    with pytest.raises(SweepConfigError, match=r"dtype='float32' cannot resolve least squares"):
        validate_config({"regressor": "linear", "dtype": "float32"})


# ---------------------------------------------------------------------------- feature and response scale
def _scaled_call(direction, F, R, s, which, **kw):
    """``direction`` on the fixture's data with its ``which`` input (``"target"``/``"predictor"``) times ``s``."""
    f, r = (F * s, R) if (which == "predictor") == (direction in ("forward", "model_to_model")) else (F, R * s)
    RB = R[:, ::-1] + 0.3 * np.random.default_rng(1).normal(size=R.shape)
    rb = RB * s if which == "target" else RB
    calls = {
        "forward": lambda: nx.forward(nx.features(f), nx.neural(r), reps=2, **kw),
        "reverse": lambda: nx.reverse(nx.neural(r), nx.features(f), reps=2, **kw),
        "inter_animal": lambda: nx.inter_animal(nx.neural(R * s if which == "predictor" else R), nx.neural(rb), reps=2, **kw),
        "model_to_model": lambda: nx.model_to_model(nx.features(f), nx.features(F[:, ::-1] ** 2 * (s if which == "target" else 1)),
                                                    **kw),
    }
    return calls[direction]()


#: the argument each direction's (target, predictor) input is
_SCALED_ARG = {"forward": ("neural", "features"), "reverse": ("features", "neural"),
               "inter_animal": ("neural_b", "neural_a"), "model_to_model": ("features_b", "features_a")}


@pytest.fixture(scope="module")
def plain(small):
    F, N = small
    return np.asarray(F.values), np.asarray(N.values)


@pytest.mark.parametrize("scale, verb", [(1e160, "overflow"), (1e-160, "fall below"), (1e300, "overflow"), (1e-300, "fall below")])
@pytest.mark.parametrize("which", ["target", "predictor"])
@pytest.mark.parametrize("direction", list(_SCALED_ARG))
def test_directions_refuse_values_whose_squares_leave_the_range(plain, direction, which, scale, verb):
    """Responses or features beyond about 1e+-154 square out of float64's normal range: forward gave
    no finite EV with a false "5 neuroids are constant" warning, reverse and the others NaN or wrong
    numbers. Refused in one line naming the direction, the argument and the way out (check_range)."""
    arg = _SCALED_ARG[direction][which == "predictor"]
    with pytest.raises(LayoutError, match=rf"^{direction}: {arg}( \([^)]*\))?: the (responses|features)' squared norms {verb} "
                                          rf"float64's normal range .*{arg} / abs\({arg}\)\.max\(\)") as e:
        _scaled_call(direction, *plain, scale, which)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("scale", [1e-150, 1e-100, 1e100, 1e150])
@pytest.mark.parametrize("direction", list(_SCALED_ARG))
def test_directions_are_scale_free_within_the_range(plain, direction, scale):
    """Within the range every EV is the same at any scale of the targets (forward's split-half
    prediction reliability multiplied two squared norms, NaN beyond 1e+-77), and of the predictors
    with linear regression (ridge: with alpha scaled by the square)."""
    for which, kw in (("target", {}), ("predictor", dict(regressor="linear"))):
        base, out = (_scaled_call(direction, *plain, s, which, **kw) for s in (1.0, scale))
        np.testing.assert_allclose(out.ev.values, base.ev.values, rtol=1e-7, atol=1e-9, err_msg=which)
        assert np.isfinite(out.ev.values).sum() == np.isfinite(base.ev.values).sum() > 0


def test_directions_refuse_out_of_float32_range_for_a_float32_fit(plain):
    """dtype='float32' squares in float32 (range about 1e+-19): refused where float64's range holds."""
    F, R = plain
    nx.forward(nx.features(F), nx.neural(R * 1e25), reps=1)  # float64: fine
    with pytest.raises(LayoutError, match=r"^forward: neural: the responses' squared norms overflow float32's normal range"):
        nx.forward(nx.features(F), nx.neural(R * 1e25), reps=1, dtype="float32")
    with pytest.raises(LayoutError, match=r"^reverse: features: the features' squared norms fall below float32's"):
        nx.reverse(nx.neural(R), nx.features(F * 1e-25), reps=1, dtype="float32")


def test_the_scale_check_passes_zeros_missing_trials_and_dead_neuroids(plain):
    """Zeros, NaN trials, all-NaN and all-zero neuroids are not out of range (NaN and constant rules apply)."""
    F, R = plain
    R = R.copy()
    R[:3, 0, :2] = np.nan  # missing trials
    R[:, 1] = 0.0  # an all-zero neuroid: constant, scored NaN with the warning
    R[:, 2] = np.nan  # all-NaN: left out
    R[5, 3] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        out = nx.forward(nx.features(np.where(np.abs(F) < 0.2, 0.0, F)), nx.neural(R), reps=2)
        assert np.isfinite(out.ev.values[0]).all() and np.isnan(out.ev.values[[1, 2]]).all()
        nx.split_half_reliability(nx.neural(R), reps=2)


def test_lazy_inputs_and_inference_refuse_out_of_range_values(plain):
    """Lazy inputs are judged where their values are read (the streamed Gram's statistics, reverse's unit
    chunks, a lazy neural array's load), and inference and split-half reliability by the same rule."""
    import dask.array as dska

    from neuroxr.predictivity import inference as pi

    F, R = plain

    def lazy(x):
        return x.copy(data=dska.from_array(x.values, chunks=(x.shape[0], 2) + x.shape[2:]))

    pat = r"squared norms (overflow|fall below) float64's normal range"
    with pytest.raises(LayoutError, match=rf"^forward: features: the features' {pat}"):  # streamed Gram's statistics
        nx.forward(lazy(nx.features(F * 1e-160)), nx.neural(R), reps=1)
    with pytest.raises(LayoutError, match=r"^forward: features: the Gram of the features is not finite: values too large"):
        nx.forward(lazy(nx.features(F * 1e160)), nx.neural(R), reps=1)  # refused by the Gram's reduction itself
    with pytest.raises(LayoutError, match=rf"^reverse: features: the features' {pat}"):  # unit chunks
        nx.reverse(nx.neural(R), lazy(nx.features(F * 1e-160)), reps=1)
    with pytest.raises(LayoutError, match=rf"^forward: neural: the responses' {pat}"):
        nx.forward(nx.features(F), lazy(nx.neural(R * 1e-170)), reps=1)
    with pytest.raises(LayoutError, match=rf"^split_half_reliability: neural: the responses' {pat}"):
        nx.split_half_reliability(nx.neural(R * 1e170), reps=2)
    with pytest.raises(LayoutError, match=rf"neural: the responses' {pat}"):
        pi.bootstrap("forward", nx.features(F), nx.neural(R * 1e200), n_boot=5, reps=2)
    with pytest.raises(LayoutError, match=rf"features: the features' {pat}"):
        pi.permutation_test("reverse", nx.neural(R), nx.features(F * 1e-200), n_perm=5)


def test_time_resolved_directions_refuse_out_of_range_responses(plain):
    """Time-resolved forward and temporal generalisation read their responses through the same load."""
    import xarray as xr

    F, R = plain
    n = nx.neural(R * 1e-170)
    timed = xr.concat([n, n * 1.1], dim="time_bin").transpose("stimulus", "neuroid", "repeat", "time_bin")
    timed = timed.assign_coords(time_bin_start=("time_bin", [0, 10]), time_bin_end=("time_bin", [10, 20]))
    pat = r"neural: the responses' squared norms fall below float64's normal range"
    with pytest.raises(LayoutError, match=rf"^forward: {pat}"):
        nx.forward(nx.features(F), timed, reps=1)
    with pytest.raises(LayoutError, match=rf"^temporal_generalization: {pat}"):
        nx.temporal_generalization(nx.features(F), timed)


def test_ev_is_labelled_noise_corrected_only_with_a_ceiling(small):
    """``ev``'s long_name said noise-corrected also where no ceiling divides it (noise_ceiling=False, a
    trial-averaged target, model-to-model): there it is r squared x 100."""
    F, R = small
    corrected = "noise-corrected explained variance"
    raw = "explained variance without a noise ceiling (r² × 100)"
    assert nx.forward(F, R, reps=2).ev.attrs["long_name"] == corrected
    assert nx.reverse(R, F, reps=2).ev.attrs["long_name"] == corrected
    assert nx.forward(F, R, reps=2, noise_ceiling=False).ev.attrs["long_name"] == raw
    assert nx.forward(F, R.mean("repeat").expand_dims(repeat=1, axis=-1)).ev.attrs["long_name"] == raw
    assert nx.model_to_model(F, F.copy()).ev.attrs["long_name"] == raw


def test_trial_averaged_data_say_why_a_split_option_has_no_effect():
    """The refusal's reason names no parameter value the command line would spell as a flag."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(30)]
    F, R = nx.features(rng.normal(size=(30, 5)), ids), nx.neural(rng.normal(size=(30, 4)), ids)
    with pytest.raises(ParameterError, match=r"^forward: split='slots' has no effect without a noise ceiling "
                                             r"\(trial-averaged data: the default noise ceiling draws no split halves\)"):
        nx.forward(F, R, split="slots")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_numpy_integer_parameters_give_the_python_integers_numbers(small, dtype):
    """reps, n_folds and max_n given as NumPy integers of a narrow dtype (as read from an array) are their
    values: forward's cost model multiplied reps in int8 and raised OverflowError ('Python integer 800 out of
    bounds for int8'), and the same call through the kernels is equal to the one with Python ints."""
    F, R = small
    want = pv.forward(F, R, reps=2, n_folds=5, seed=1)
    got = pv.forward(F, R, reps=dtype(2), n_folds=dtype(5), seed=dtype(1))
    for v in want.data_vars:
        np.testing.assert_array_equal(got[v].values, want[v].values, err_msg=v)
    assert got.attrs["reps"] == 2 and type(got.attrs["reps"]) is int
    k = pv.forward(F, R, reps=2, max_n=4, n_folds=5)
    np.testing.assert_array_equal(pv.forward(F, R, reps=dtype(2), max_n=dtype(4), n_folds=5).ev.values, k.ev.values)
