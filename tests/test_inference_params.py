"""Edges of the inference parameters: each value gives the right number (a reference computed here)
or a one-line neuroxr error naming the argument, never a traceback from numpy or a value taken
silently (a bool as an int, ``None`` as 0)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr.datasets import make_study
from neuroxr.errors import ParameterError
from neuroxr.predictivity.inference import best_layer, bootstrap

MODELS = {"m": [("true", 16, 1.0, 0)], "o": [("mixed", 18, 0.3, 2)]}


@pytest.fixture(scope="module")
def study():
    return make_study(seed=3, n_stimuli=40, animals={"a": 6}, n_repeats=4, models=MODELS, true_model="m",
                      true_layer="true")


@pytest.fixture(scope="module")
def boots(study):
    R = study.neural["a"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        return {"a": bootstrap("forward", study.features["m"]["true"], R, n_boot=20, reps=2),
                "b": bootstrap("forward", study.features["o"]["mixed"], R, n_boot=20, reps=2)}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------------------- best_layer's seed and key
@pytest.mark.parametrize("seed", [None, -1, 1.5, True, np.random.default_rng(0), "1"])
def test_best_layer_refuses_a_seed_that_is_not_a_non_negative_integer(boots, seed):
    """The seed splits the targets: None, a Generator, a negative seed, a float (truncated) or a bool
    (taken as 1) is a one-line error naming seed, not a TypeError from int() or a silent substitute."""
    with pytest.raises(ParameterError, match=r"^best_layer: seed must be an integer >= 0") as exc:
        best_layer(boots, seed=seed)
    _one_line(exc)


def test_best_layer_numpy_integer_seed_is_the_int(boots):
    xr.testing.assert_identical(best_layer(boots, seed=np.int64(3)), best_layer(boots, seed=3))


@pytest.mark.parametrize("key", [1, None, b"best_layer"])
def test_best_layer_refuses_a_key_that_is_not_a_string(boots, key):
    with pytest.raises(ParameterError, match=r"^best_layer: key must be a string") as exc:
        best_layer(boots, key=key)
    _one_line(exc)


# ---------------------------------------------------------------------------- the metrics' n_perm / n_boot
def _features(n: int, p: int, seed: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.normal(size=(n, p)), dims=("stimulus", "unit"), name=f"f{seed}",
                        coords={"stimulus_id": ("stimulus", [f"s{i:02d}" for i in range(n)]),
                                "unit_id": ("unit", [f"u{j}" for j in range(p)])})


def _metric_calls():
    from neuroxr.geometry.inference import cka_bootstrap, ersa_bootstrap, shape_bootstrap

    X, Y = _features(12, 5, 1), _features(12, 4, 2)
    return {"cka_bootstrap": lambda **kw: cka_bootstrap(X, Y, n_boot=5, **kw),
            "shape_bootstrap": lambda **kw: shape_bootstrap(X, Y, n_boot=5, **kw),
            "ersa_bootstrap": lambda **kw: ersa_bootstrap(X, Y.rename(unit="neuroid", unit_id="neuroid_id").expand_dims("repeat", axis=-1), n_boot=5, **kw)}


@pytest.mark.parametrize("name", ["cka_bootstrap", "shape_bootstrap", "ersa_bootstrap"])
@pytest.mark.parametrize("n_perm", [None, False, 0.0, 2.0, -1, "3"])
def test_metric_n_perm_must_be_a_count(name, n_perm):
    """n_perm=None was a TypeError from int() after the whole bootstrap; False and 0.0 ran as n_perm=0
    (a bool taken as an int); each is now the one-line error naming n_perm."""
    with pytest.raises(ParameterError, match=rf"^{name}: n_perm must be an integer >= 0") as exc:
        _metric_calls()[name](n_perm=n_perm)
    _one_line(exc)


@pytest.mark.parametrize("name", ["cka_bootstrap", "shape_bootstrap", "ersa_bootstrap"])
def test_metric_numpy_integer_n_perm_is_the_int(name):
    call = _metric_calls()[name]
    a, b = call(n_perm=np.int64(4)), call(n_perm=4)
    xr.testing.assert_identical(a, b)
    assert type(a.attrs["n_perm"]) is int


@pytest.mark.parametrize("n_boot", [True, 1.0])
def test_rsa_bootstrap_n_boot_beside_indices_is_a_count(n_boot):
    """With indices of one row, n_boot=True or 1.0 was taken as 1 (it equals the rows); a bool or a
    float is refused as without indices."""
    from neuroxr.geometry.inference import rsa_bootstrap

    M, D = nx.rdm(_features(8, 5, 1)), nx.rdm(_features(8, 5, 2))
    idx = np.random.default_rng(0).integers(0, 8, size=(1, 8))
    with pytest.raises(ParameterError, match=r"^rsa_bootstrap: n_boot must be a positive integer") as exc:
        rsa_bootstrap(M, D, indices=idx, n_boot=n_boot)
    _one_line(exc)
    assert rsa_bootstrap(M, D, indices=idx, n_boot=np.int64(1)).attrs["n_boot"] == 1


# ---------------------------------------------------------------------------- resamples of too few distinct stimuli
def _linear_cka(A: np.ndarray, B: np.ndarray) -> float:
    A, B = A - A.mean(axis=0), B - B.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.linalg.norm(B.T @ A) ** 2 / (np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B)))


@pytest.mark.parametrize("n", [3, 4])
def test_cka_resample_of_two_distinct_stimuli_is_undefined(n):
    """The full sample refuses 2 stimuli (every CKA is 1); a resample drawing 2 distinct stimuli scored
    that 1 as if measured. It is undefined now (NaN, counted), the others the CKA of X[idx], Y[idx]."""
    from neuroxr.geometry.inference import cka_bootstrap

    X, Y = _features(n, 3, 5), _features(n, 3, 6)
    res = cka_bootstrap(X, Y, n_boot=200, nan_policy="omit")
    idx = res["boot_index"].values
    distinct = np.array([np.unique(i).size for i in idx])
    assert (distinct == 2).any() and (distinct >= 3).any()
    ref = np.array([_linear_cka(X.values[i], Y.values[i]) if np.unique(i).size >= 3 else np.nan for i in idx])
    np.testing.assert_allclose(res["cka_boot"].values, ref, rtol=1e-10)
    assert int(res["n_boot_undefined"]) == int((distinct < 3).sum())
    lo, hi = np.quantile(ref[np.isfinite(ref)] - np.nanmean(ref), [0.025, 0.975]) + float(res["cka"])
    np.testing.assert_allclose(res["cka_ci"].values, [lo, hi], rtol=1e-10)


@pytest.mark.parametrize("center", [True, False])
def test_shape_resample_of_too_few_distinct_stimuli_is_undefined(center):
    """Centred, 2 distinct stimuli lie on a line (distance 0 whatever the data; the full sample refuses
    fewer than 3); uncentred, one stimulus (fewer than 2). Such resamples are undefined (NaN, counted)."""
    from neuroxr.geometry import LinearMetric
    from neuroxr.geometry.inference import shape_bootstrap

    X, Y = _features(4, 3, 5), _features(4, 3, 6)
    need = 3 if center else 2
    idx = np.array([[0, 0, 1, 1], [2, 2, 2, 2], [0, 1, 2, 2], [3, 1, 0, 2], [3, 3, 1, 3]])
    res = shape_bootstrap(X, Y, indices=idx, center_columns=center, nan_policy="omit")
    metric = LinearMetric(alpha=1.0, center_columns=center)
    ref = [metric.fit_distance(X.values[i], Y.values[i]) if np.unique(i).size >= need else np.nan for i in idx]
    np.testing.assert_allclose(res["distance_boot"].values, ref, atol=1e-8)
    assert int(res["n_boot_undefined"]) == sum(np.unique(i).size < need for i in idx)


# ---------------------------------------------------------------------------- a prepared Parts as source
@pytest.mark.parametrize("call", ["bootstrap", "permutation_test"])
@pytest.mark.parametrize("seed", [None, 1.5, -2, True])
def test_parts_source_seed_is_refused_naming_the_function(study, call, seed):
    """With a Parts source the seed draws only the resamples; a bad one was refused without naming the
    function called ("seed must be ..."), after the Parts were copied; now "bootstrap: seed ..." first."""
    from neuroxr.predictivity import inference
    from neuroxr.predictivity._parts import prepare

    parts = prepare("forward", study.features["m"]["true"], study.neural["a"], reps=2, seed=0)
    n = {"bootstrap": {"n_boot": 5}, "permutation_test": {"n_perm": 5}}[call]
    with pytest.raises(ParameterError, match=rf"^{call}: seed must be an integer >= 0") as exc:
        getattr(inference, call)("forward", parts, None, seed=seed, **n)
    _one_line(exc)
    with pytest.raises(ParameterError, match=r"It seeds numpy\.random\.default_rng, which draws the split halves \(and "
                                             r"a call's subsamples, resamples or permutations\)") as exc:
        getattr(inference, call)("forward", study.features["m"]["true"], study.neural["a"], seed=seed, **n)
    assert "The split halves come from" not in str(exc.value)


def test_parts_source_bootstrap_draws_with_its_seed(study):
    """The draws of a Parts source are default_rng([seed, 0]) on the canonical order, as documented."""
    from neuroxr.predictivity._parts import prepare

    parts = prepare("forward", study.features["m"]["true"], study.neural["a"], reps=2, seed=0)
    res = bootstrap("forward", parts, None, n_boot=5, seed=np.int64(4))
    ref = np.random.default_rng([4, 0]).integers(0, parts.n, size=(5, parts.n))
    np.testing.assert_array_equal(res["boot_index"].values, ref)
    assert res.attrs["seed"] == 4 and res.attrs["split_seed"] == 0


@pytest.mark.parametrize("keep_null", ["no", 1, None])
def test_permutation_test_keep_null_must_be_a_bool(study, keep_null):
    """``keep_null="no"`` (truthy) returned the null; every non-bool is refused in one line naming it."""
    from neuroxr.predictivity.inference import permutation_test

    F, R = study.features["m"]["true"], study.neural["a"]
    with pytest.raises(ParameterError, match=r"^permutation_test: keep_null must be True or False; got"):
        permutation_test("forward", F, R, n_perm=5, keep_null=keep_null)
    out = permutation_test("forward", F, R, n_perm=5, keep_null=np.bool_(False))
    assert "r_null" not in out


@pytest.mark.parametrize("call", ["bootstrap", "permutation_test"])
def test_parts_source_refuses_another_direction_or_a_target(study, call):
    """The Parts hold their direction and target: ``bootstrap("reverse", forward_parts, None)`` ran the
    forward inference, and a target beside them (a time-resolved one too) was ignored, without a word."""
    from neuroxr.predictivity import inference
    from neuroxr.predictivity._parts import prepare

    F, R = study.features["m"]["true"], study.neural["a"]
    parts = prepare("forward", F, R, reps=2, seed=0)
    fn = getattr(inference, call)
    size = {"n_boot": 5} if call == "bootstrap" else {"n_perm": 5}
    with pytest.raises(ParameterError, match=rf"^{call}: direction='reverse' but the Parts .* prepared for 'forward'"):
        fn("reverse", parts, None, **size)
    timed = R.expand_dims(time_bin=2, axis=-1).assign_coords(time_bin_start=("time_bin", [0, 50]),
                                                             time_bin_end=("time_bin", [50, 100]))
    for target in (R, timed):
        with pytest.raises(ParameterError, match=rf"^{call}: target must be None when the Parts are the source"):
            fn("forward", parts, target, **size)
    ref = fn("forward", F, R, **({"reps": 2} if call == "bootstrap" else {}), seed=0, **size)
    out = fn("forward", parts, None, **size)
    name = "median_ev_boot" if call == "bootstrap" else "r"
    np.testing.assert_array_equal(out[name].values, ref[name].values)


def test_permutation_test_says_which_targets_min_reliability_leaves_out(study):
    """With every target below ``min_reliability``, ``median_r`` and ``median_p`` were NaN without a word;
    the permutation test now gives the direction's warning on the targets it marks included=False."""
    import re

    from neuroxr.predictivity.inference import permutation_test

    F, R = study.features["m"]["true"], study.neural["a"]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        fwd = nx.forward(F, R, reps=3, seed=1, min_reliability=0.999)
    clause = re.compile(r"(\d+ neuroids have a split-half reliability below 0\.999)\. (\d+ neuroids .* included=False\.)")
    want = next(clause.search(str(w.message)).groups() for w in said if clause.search(str(w.message)))
    assert not fwd.included.any()
    with pytest.warns(nx.NeuroxrWarning, match=r"^permutation_test: ") as got:
        out = permutation_test("forward", F, R, n_perm=9, reps=3, seed=1, min_reliability=0.999)
    assert [clause.search(str(w.message)).groups() for w in got if clause.search(str(w.message))] == [want]
    assert not out.included.any() and np.isnan(float(out.median_r)) and np.isnan(float(out.median_p))


@pytest.mark.parametrize("over", ["targets", "both"])
@pytest.mark.parametrize("left", ["all_nan", "min_reliability"])
def test_resampling_one_target_left_to_draw_is_refused_as_one_target_input(over, left):
    """``over="targets"`` draws among the scored, included targets; with one left (another all NaN, or
    below min_reliability) every resample drew it: a zero-width interval (targets) or the over="stimuli"
    numbers (both), without a word, where an input of one target is refused."""
    from neuroxr.predictivity.inference import bootstrap

    rng = np.random.default_rng(1)
    ids = [f"s{i:02d}" for i in range(30)]
    Fv = rng.normal(size=(30, 4))
    R = np.concatenate([(Fv @ rng.normal(size=(4, 1)))[:, :, None] + 0.3 * rng.normal(size=(30, 1, 4)),
                        rng.normal(size=(30, 1, 4))], axis=1)  # n0 reliable, n1 noise
    if left == "all_nan":
        R[:, 1] = np.nan
    F, B = nx.features(Fv, ids), nx.neural(R, ids, name="m")
    mr = {"min_reliability": 0.5} if left == "min_reliability" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stim = bootstrap("forward", F, B, n_boot=30, reps=2, **mr)
        assert int(np.sum(stim.included.values & np.isfinite(stim.ev.values))) == 1
        with pytest.raises(ParameterError, match=rf"^bootstrap: neural \(m\): over='{over}' resamples the targets the "
                                                 r"median counts, but 1 of its 2 neuroids is scored and included"):
            bootstrap("forward", F, B, n_boot=30, reps=2, over=over, **mr)
        two = bootstrap("forward", F, nx.neural(np.concatenate([R[:, :1], R[:, :1] + 1.0], axis=1), ids, name="m"),
                        n_boot=30, reps=2, over=over)  # two targets left: drawn as before
    assert two.median_ev_ci.values[1] >= two.median_ev_ci.values[0]


@pytest.mark.parametrize("call", ["bootstrap", "permutation_test"])
@pytest.mark.parametrize("timed", [False, True])
def test_a_direction_that_is_no_name_is_refused_in_one_line(study, call, timed):
    """``bootstrap(["forward"], ...)`` raised a bare 'unhashable type' TypeError (time-resolved inputs
    too); it is the one-line refusal of any other unknown direction."""
    from neuroxr.predictivity import inference

    F, R = study.features["m"]["true"], study.neural["a"]
    if timed:
        R = R.expand_dims(time_bin=2, axis=-1).assign_coords(time_bin_start=("time_bin", [0, 50]),
                                                             time_bin_end=("time_bin", [50, 100]))
    for direction in (["forward"], {"forward": 1}, "Forward"):
        with pytest.raises(ParameterError, match=rf"^{call}: direction must be one of \('forward', 'reverse', "
                                                 rf"'inter_animal', 'model_to_model'\); got "):
            getattr(inference, call)(direction, F, R)
