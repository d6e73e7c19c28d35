"""neuroxr.predictivity.brainscore against Brain-Score's definitions, re-implemented here with scikit-learn/scipy."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import scipy.stats
import xarray as xr
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from neuroxr.attrs import decoded
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.layouts import features as make_features
from neuroxr.layouts import neural as make_neural
from neuroxr.predictivity.brainscore import brainscore, brainscore_ceiling


def _data(n=60, p=30, k=8, reps=4, seed=0, objects=True, rank=None, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if rank is not None:  # features of that rank (centred: also at most n - 1)
        X = X[:, :rank] @ np.random.default_rng(seed + 1).standard_normal((rank, p))
    W = rng.standard_normal((p, k))
    signal = X @ W / np.sqrt(p)
    R = scale * (signal[:, :, None] + 0.8 * rng.standard_normal((n, k, reps)))
    ids = [f"img{i:03d}" for i in range(n)]
    obj = {"object_name": [f"obj{i % 4}" for i in range(n)]} if objects else {}
    perm = rng.permutation(n)  # stored out of id order: draws must not depend on it
    feats = make_features(X[perm], [ids[i] for i in perm], model="m", layer="l")
    neur = make_neural(R, ids, [f"n{j}" for j in range(k)])
    if objects:
        neur = neur.assign_coords(object_name=("stimulus", obj["object_name"]))
    return feats, neur, X, R, ids, obj.get("object_name")


def _reference(X, R, strata, n_components=25, seed=1):
    """Brain-Score's raw / error / ceiling, written from its definitions (stimuli already in sorted-id order)."""
    Y = R.mean(axis=2)
    kw = dict(n_splits=10, train_size=0.9, test_size=None, random_state=seed)
    splitter = StratifiedShuffleSplit(**kw) if strata is not None else ShuffleSplit(**kw)
    split_args = (np.zeros(len(X)), np.asarray(strata)) if strata is not None else (np.zeros(len(X)),)
    per_split = []
    for tr, te in splitter.split(*split_args):
        pred = PLSRegression(n_components=n_components, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        rs = [scipy.stats.pearsonr(pred[:, j], Y[te, j])[0] for j in range(Y.shape[1])]
        per_split.append(np.median(rs))
    per_split = np.array(per_split)
    raw, err = per_split.mean(), per_split.std() / math.sqrt(len(per_split))
    cs = []
    reps = np.arange(R.shape[2])
    for h1, h2 in ShuffleSplit(n_splits=10, train_size=0.5, random_state=seed).split(reps):
        a, b = R[:, :, h1].mean(axis=2), R[:, :, h2].mean(axis=2)
        r = np.array([scipy.stats.pearsonr(a[:, j], b[:, j])[0] for j in range(R.shape[1])])
        cs.append(np.median(2 * r / (1 + r)))
    return raw, err, float(np.mean(cs))


@pytest.mark.parametrize("objects", [True, False])
def test_brainscore_matches_reference(objects):
    feats, neur, X, R, ids, strata = _data(objects=objects)
    ds = brainscore(feats, neur, n_components=25)
    raw, err, ceil = _reference(X, R, strata)
    np.testing.assert_allclose(float(ds["raw"]), raw, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(float(ds["error"]), err, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(float(ds["ceiling"]), ceil, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(float(ds["score"]), raw / ceil, rtol=1e-7)
    assert decoded(ds).attrs["stratify_by"] == ("object_name" if objects else None)
    assert ds["r"].dims == ("split", "neuroid") and list(ds["neuroid_id"].values) == [f"n{j}" for j in range(8)]


def test_numeric_strata_stratify_in_their_own_order():
    """Integer category labels were stratified as text ('10' before '2'): other splits than Brain-Score's,
    whose StratifiedShuffleSplit takes the coord's values as they are."""
    feats, neur, X, R, ids, _ = _data(n=120, objects=False)
    category = np.arange(120) % 12
    ds = brainscore(feats, neur.assign_coords(category=("stimulus", category)), n_components=25, stratify_by="category")
    raw, _, _ = _reference(X, R, category)
    np.testing.assert_allclose(float(ds["raw"]), raw, rtol=1e-7, atol=1e-9)
    as_text, _, _ = _reference(X, R, category.astype(str))
    assert abs(as_text - raw) > 1e-6  # the two orders draw other splits here


def test_brainscore_ceiling_modes_and_odd_repeats():
    feats, neur, X, R, ids, strata = _data(reps=5, seed=3)
    base = brainscore(feats, neur, n_components=5)
    raw, _, ceil = _reference(X, R, strata, n_components=5)
    np.testing.assert_allclose(float(base["ceiling"]), ceil, rtol=1e-7)
    sq = brainscore(feats, neur, n_components=5, ceiling_mode="squared_ratio")
    r2 = brainscore(feats, neur, n_components=5, ceiling_mode="r2_over_ceiling")
    np.testing.assert_allclose(float(sq["score"]), (raw / ceil) ** 2, rtol=1e-7)
    np.testing.assert_allclose(float(r2["score"]), raw**2 / ceil, rtol=1e-7)


def test_brainscore_ceiling_standalone_and_seed():
    _, neur, _, R, _, _ = _data(seed=5)
    c1, c2 = brainscore_ceiling(neur, seed=1), brainscore_ceiling(neur, seed=2)
    assert c1["consistency"].shape == (10, 8)
    assert float(c1["ceiling"]) != float(c2["ceiling"])


def test_brainscore_errors():
    feats, neur, *_ = _data()
    with pytest.raises(LayoutError, match="n_components"):
        brainscore(feats, neur, n_components=31)
    with pytest.raises(LayoutError, match="stratify_by"):
        brainscore(feats, neur, n_components=5, stratify_by="category")
    with pytest.raises(LayoutError, match="ceiling_mode"):
        brainscore(feats, neur, n_components=5, ceiling_mode="ev")
    avg = neur.mean("repeat").expand_dims(repeat=1, axis=-1)
    with pytest.raises(LayoutError, match="repeat"):
        brainscore(feats, avg, n_components=5)
    ds = brainscore(feats, avg, n_components=5, ceiling=False)
    assert math.isnan(float(ds["score"])) and np.isfinite(float(ds["raw"]))
    few = feats.isel(stimulus=slice(0, 10))  # 9 training stimuli per split, 30 units: PLS takes at most 9 components
    few_neur = neur.sel(stimulus=neur.stimulus_id.isin(few.stimulus_id))
    with pytest.raises(LayoutError, match=r"n_components=25 but the training splits hold 9 stimuli \(train_size=0\.9 "
                                          r"of 10 on dim 'stimulus'\); pass n_components of at most 9\.") as err:
        brainscore(few, few_neur, ceiling=False, stratify_by=None)
    assert "\n" not in str(err.value)
    with pytest.raises(LayoutError, match=r"10 stimuli cannot be split stratified by their labels \(stratify_by\) with "
                                          r"train_size=0\.9 \(.*least populated class.*\); pass more stimuli or another "
                                          r"train_size, or stratify_by=None\.") as err:
        brainscore(few, few_neur, n_components=5, ceiling=False)  # 'obj3' has one stimulus of 10
    assert "\n" not in str(err.value)
    assert isinstance(ds, xr.Dataset)
    with pytest.raises(ParameterError, match=r"ceiling_mode='squared_ratio' has no effect with ceiling=False"):
        brainscore(feats, avg, n_components=5, ceiling=False, ceiling_mode="squared_ratio")


@pytest.mark.parametrize("stratify_by, recorded", [(None, None), ("auto", "object_name"), ("object_name", "object_name")])
def test_stratify_by_attr_records_the_stratification_and_is_storable(tmp_path, stratify_by, recorded):
    """The attr is the coord the splits were stratified by, None (the attrs' JSON text) when they were not,
    never the empty string; the result goes to netCDF3 as it is and reads back the same."""
    feats, neur, *_ = _data(n=40)
    ds = brainscore(feats, neur, n_components=3, n_splits=2, stratify_by=stratify_by)
    assert decoded(ds).attrs["stratify_by"] == recorded
    ds.to_netcdf(tmp_path / "bs.nc", format="NETCDF3_64BIT", engine="scipy")
    with xr.open_dataset(tmp_path / "bs.nc", engine="scipy") as back:
        assert decoded(back).attrs["stratify_by"] == recorded


def test_brainscore_does_not_depend_on_storage_order():
    feats, neur, *_ = _data(seed=8)
    perm = np.random.default_rng(1).permutation(neur.sizes["stimulus"])
    a = brainscore(feats, neur, n_components=5)
    b = brainscore(feats, neur.isel(stimulus=perm), n_components=5)
    for k in ("raw", "error", "ceiling", "score"):
        assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-10)


def test_a_dropped_neuroid_leaves_the_ceiling_of_the_kept_ones():
    """A neuroid without trials for one stimulus leaves the regression target; the ceiling and the
    consistencies are those of the kept neuroids (by id, not the first positions)."""
    feats, neur, X, R, ids, strata = _data(objects=False)
    R = R.copy()
    R[2, 1, :] = np.nan
    neur = make_neural(R, ids, [f"n{j}" for j in range(R.shape[1])])
    kept = [0] + list(range(2, R.shape[1]))
    ds = brainscore(feats, neur, n_components=5)
    assert ds["neuroid_id"].values.tolist() == [f"n{j}" for j in kept]
    ref = brainscore_ceiling(neur.isel(neuroid=kept))
    assert float(ds["ceiling"]) == pytest.approx(float(ref["ceiling"]), rel=1e-12)
    np.testing.assert_allclose(ds["consistency"].values, ref["consistency"].values, rtol=1e-12)
    assert float(ds["ceiling"]) == pytest.approx(_reference(X, R[:, kept], None, n_components=5)[2], rel=1e-7)


def test_brainscore_refuses_time_resolved_responses():
    """A one-line LayoutError naming 'neural' and how to select one time bin, not a raw xarray error."""
    from conftest import time_sets

    F, A, _ = time_sets()
    for call, who in ((lambda R: brainscore(F, R, n_components=3, n_splits=2), "brainscore"),
                      (lambda R: brainscore_ceiling(R, n_splits=2), "brainscore_ceiling")):
        with pytest.raises(LayoutError, match=rf"^{who}: neural is time-resolved .*neural\.isel\(time_bin=0\)") as e:
            call(A)
        assert "\n" not in str(e.value)
        call(A.isel(time_bin=0))


def test_brainscore_warns_on_a_ceiling_not_positive():
    """Pure-noise responses can have a negative internal consistency: Brain-Score's raw / ceiling is
    kept (parity) but said, since the sign of the score then flips."""
    import warnings

    import neuroxr as nx

    feats, _, X, _, ids, strata = _data(seed=0)
    rng = np.random.default_rng(11)
    for _ in range(40):  # a noise draw whose median split-half consistency is negative
        R = rng.standard_normal((60, 8, 4))
        _, _, ceil = _reference(X, R, strata, n_components=5)
        if ceil < 0:
            break
    assert ceil < 0
    neur = make_neural(R, ids, [f"n{j}" for j in range(8)]).assign_coords(object_name=("stimulus", strata))
    with pytest.warns(nx.NeuroxrWarning, match="not positive"):
        out = brainscore(feats, neur, n_components=5)
    np.testing.assert_allclose(float(out["ceiling"]), ceil, rtol=1e-7)
    np.testing.assert_allclose(float(out["score"]), float(out["raw"]) / ceil, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nx.NeuroxrWarning)
        brainscore(*_data(seed=3)[:2], n_components=5)  # a positive ceiling: no warning


def test_brainscore_refuses_a_dead_layer_as_the_directions():
    """Features constant across the stimuli: the directions' one-line LayoutError (prefixed
    brainscore), not scipy's SVD error from inside PLS."""
    import neuroxr as nx

    feats, neur, *_ = _data(objects=False)
    dead = feats.copy(data=np.full(feats.shape, 3.0))
    with pytest.raises(LayoutError) as fwd:
        nx.forward(dead, neur, reps=2)
    with pytest.raises(LayoutError, match=r"^brainscore: features \(m/l\): ") as err:
        brainscore(dead, neur, n_components=3)
    assert "\n" not in str(err.value)
    assert str(err.value).endswith(str(fwd.value).split(": ", 1)[1])  # the rule's message, one place


@pytest.mark.parametrize("n", [10, 11, 20])
def test_brainscore_refuses_test_splits_of_fewer_than_3_stimuli(n):
    """At train_size=0.9, 11 to 20 stimuli hold out 2 per split (every held-out r +-1), 10 or fewer
    hold out 1 (r undefined): refused in one line naming the count, the test size and the fewest
    stimuli / largest train_size that hold out 3, both of which then run."""
    feats, neur, X, R, ids, strata = _data(n=40, objects=False)
    few_ids = ids[:n]
    few, few_neur = feats.sel(stimulus=feats.stimulus_id.isin(few_ids)), neur.sel(stimulus=neur.stimulus_id.isin(few_ids))
    n_test = len(next(ShuffleSplit(n_splits=1, train_size=0.9, random_state=1).split(np.zeros(n)))[1])
    assert n_test < 3
    need = next(m for m in range(n, 100) if len(next(ShuffleSplit(1, train_size=0.9, random_state=1).split(np.zeros(m)))[1]) >= 3)
    with pytest.raises(LayoutError, match=rf"^brainscore: {n} stimuli on dim 'stimulus' with train_size=0\.9 leave {n_test} "
                                          rf"test stimul.* needs at least 3 .*Pass at least {need} stimuli, or "
                                          r"train_size=(0\.\d+) \(the largest that holds out 3\)\.$") as err:
        brainscore(few, few_neur, n_components=3, n_splits=2)
    assert "\n" not in str(err.value)
    ts = float(re.search(r"train_size=(0\.\d+) \(the largest", str(err.value)).group(1))
    assert len(next(ShuffleSplit(1, train_size=ts, random_state=1).split(np.zeros(n)))[1]) == 3
    assert len(next(ShuffleSplit(1, train_size=ts + 0.01, random_state=1).split(np.zeros(n)))[1]) < 3
    ok = brainscore(few, few_neur, n_components=3, n_splits=2, train_size=ts)  # the suggestions run
    assert np.isfinite(float(ok["raw"])) and (np.abs(ok["r"].values) < 1 - 1e-9).any()
    more = ids[:need]
    brainscore(feats.sel(stimulus=feats.stimulus_id.isin(more)), neur.sel(stimulus=neur.stimulus_id.isin(more)),
               n_components=3, n_splits=2)


@pytest.mark.parametrize("missing", [False, True])
def test_brainscore_ceiling_refuses_fewer_than_3_stimuli(missing):
    """A split-half r over 2 stimuli is +-1 (the ceiling read 1.0): refused in the shared one line
    (errors.too_few_stimuli) naming the argument and the dim, also when missing trials leave 2 of 3
    stimuli; 3 stimuli run."""
    rng = np.random.default_rng(0)
    R = rng.normal(size=(3, 4, 4))
    if missing:
        R[1, :, 1:] = np.nan  # one valid repeat left: the stimulus is left out
    neur = make_neural(R if missing else R[:2], [f"s{i}" for i in range(3 if missing else 2)], name="V4")
    with pytest.raises(LayoutError, match=r"^brainscore_ceiling: neural \(V4\): 2 stimuli on dim 'stimulus'; a split-half "
                                          r"consistency over stimuli with 2 valid repeats needs at least 3 \(with 2, every "
                                          r"split-half r is \+-1 or NaN\); pass responses to at least 3 stimuli\.$"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            brainscore_ceiling(neur, n_splits=2)
    c = brainscore_ceiling(make_neural(R if not missing else rng.normal(size=(3, 4, 4)), ["s0", "s1", "s2"]), n_splits=2)
    assert (np.abs(c["consistency"].values) < 1).any()


@pytest.mark.parametrize("k", [2, 8])
def test_a_neuroid_with_constant_trial_means_is_nan_in_the_consistency(k):
    """Trial means equal across the stimuli, noisy trials: the halves are 2c - h and h (r = -1,
    Spearman-Brown -inf or about 1e16). The directions' constant-target rule: NaN r and consistency,
    with their warning; the ceiling is the other neuroids' (with 2 neuroids it was -inf)."""
    import neuroxr as nx

    feats, _, X, R, ids, strata = _data(k=k, objects=False, seed=2)
    R = R.copy()
    R[:, 0, :] += 5.0 - R[:, 0, :].mean(axis=1, keepdims=True)
    neur = make_neural(R, ids, [f"n{j}" for j in range(k)])
    with pytest.warns(nx.NeuroxrWarning, match=r"^brainscore: neural: 1 neuroids are constant across stimuli .*\['n0'\]"):
        ds = brainscore(feats, neur, n_components=5)
    assert np.isnan(ds["consistency"].values[:, 0]).all() and np.isnan(ds["r"].values[:, 0]).all()
    others = brainscore(feats, neur.isel(neuroid=slice(1, None)), n_components=5)
    np.testing.assert_allclose(ds["consistency"].values[:, 1:], others["consistency"].values, rtol=1e-12)
    assert float(ds["ceiling"]) == pytest.approx(_reference(X, R[:, 1:], None, n_components=5)[2], rel=1e-7)
    with pytest.warns(nx.NeuroxrWarning, match=r"^brainscore_ceiling: neural: 1 neuroids are constant"):
        c = brainscore_ceiling(neur)
    np.testing.assert_allclose(c["consistency"].values, ds["consistency"].values, rtol=1e-12)



def _training_fits(X, R, strata, n_components):
    """Per Brain-Score training split: numpy's rank of the centred features and the components
    scikit-learn's PLS fits (it stops where the targets' residual vanishes)."""
    kw = dict(n_splits=10, train_size=0.9, test_size=None, random_state=1)
    out = []
    for tr, _ in StratifiedShuffleSplit(**kw).split(np.zeros(len(X)), strata):
        pls = PLSRegression(n_components=n_components, scale=False).fit(X[tr], R[tr].mean(axis=2))
        out.append((np.linalg.matrix_rank(X[tr] - X[tr].mean(axis=0)), len(pls.n_iter_)))
    return out


@pytest.mark.filterwarnings("ignore:y residual is constant")  # scikit-learn's stop, in the reference
@pytest.mark.parametrize("shape, n_components, short, stop", [
    (dict(rank=5), 8, True, False),  # low-rank features
    # more units than stimuli, n_components = n_train (rank n_train - 1), responses at firing-rate scale
    (dict(n=40, p=200, scale=50.0), 36, True, False),
    # the same at unit scale: scikit-learn's PLS stops at the rank, the targets' residual vanished there
    (dict(n=40, p=200), 36, False, True),
    (dict(), 25, False, False),  # full rank
    (dict(n=40, p=200), 25, False, False),  # Brain-Score's shapes: many units, n_components below n_train - 1
])
def test_pls_components_past_the_training_rank_warn_and_keep_brainscores_numbers(shape, n_components, short, stop):
    """PLS components fitted past the rank of the centred training features fit rounding errors:
    Brain-Score's numbers are kept (scikit-learn's PLS), with one warning naming the rank; where
    scikit-learn stops before n_components (its own "y residual is constant" warning), the same
    warning says so and scikit-learn's never reaches the user."""
    import warnings

    import neuroxr as nx

    feats, neur, X, R, ids, strata = _data(**shape)
    X = X[:, np.argsort(feats["unit_id"].values.astype(str))]  # the units in canonical id order, as fitted
    fits = _training_fits(X, R, strata, n_components)
    past = [rank for rank, fitted in fits if fitted > rank]
    stopped = [fitted for _, fitted in fits if fitted < n_components]
    assert (bool(past), bool(stopped)) == (short, stop)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = brainscore(feats, neur, n_components=n_components)
    assert [str(x.message) for x in w if not issubclass(x.category, nx.NeuroxrWarning)] == []
    msgs = [str(x.message) for x in w if issubclass(x.category, nx.NeuroxrWarning)]
    if short:
        lo, hi = min(past), max(past)
        assert len(msgs) == 1 and re.fullmatch(
            rf"brainscore: features \(m/l\): n_components={n_components} exceeds the rank of the centred features on the "
            rf"training stimuli of {len(past)} of 10 splits \(rank {lo}{'' if lo == hi else f' to {hi}'}\); .* "
            rf"pass n_components={lo} or fewer\.", msgs[0]), msgs
    elif stop:
        lo, hi = min(stopped), max(stopped)
        assert len(msgs) == 1 and re.fullmatch(
            rf"brainscore: features \(m/l\): n_components={n_components}: scikit-learn's PLS stopped at "
            rf"{lo}{'' if lo == hi else f' to {hi}'} components on {len(stopped)} of 10 splits, .*'y residual is constant'\)\. "
            rf"To fit the same components on every split, pass n_components={lo} or fewer\.", msgs[0]), msgs
    else:
        assert msgs == []
    raw, _, _ = _reference(X, R, strata, n_components)
    np.testing.assert_allclose(float(ds["raw"]), raw, rtol=1e-7, atol=1e-9)


def _nx_warnings(feats, neur, n_components):
    import warnings

    import neuroxr as nx

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        brainscore(feats, neur, n_components=n_components)
    return [str(x.message) for x in w if issubclass(x.category, nx.NeuroxrWarning)]


@pytest.mark.filterwarnings("ignore:y residual is constant")
@pytest.mark.parametrize("shape, n_components, short", [
    (dict(rank=5), 8, True),  # low-rank features: the rank is the columns'
    (dict(n=40, p=200, scale=50.0), 36, True),  # more units than stimuli: the rank of the sketch
    (dict(), 25, False),  # full rank
    (dict(n=40, p=200), 25, False),
])
@pytest.mark.parametrize("offset", [1e2, 1e4, 1e6])
def test_the_rank_check_does_not_count_the_rounding_of_centring_features_far_from_zero(shape, n_components, short, offset):
    """Features ``offset + X`` have the centred rank of ``X``: the rounding centring leaves (``eps
    |mean|`` per value) is not rank, so the warning is the one ``X`` gets, and none at full rank."""
    feats, neur, *_ = _data(**shape)
    plain = _nx_warnings(feats, neur, n_components)
    assert bool(plain) == short and all("exceeds the rank" in m for m in plain)
    assert _nx_warnings(feats + offset, neur, n_components) == plain


@pytest.mark.parametrize("kw, match", [
    (dict(n_splits=0), r"n_splits"), (dict(n_stimuli=-3), r"n_stimuli"), (dict(n_stimuli=10.5), r"n_stimuli"),
    (dict(seed="x"), r"seed"), (dict(train_size=1.5), r"train_size must lie in \(0, 1\)"),
    (dict(strata=["a"] * 5), r"strata must hold one label per stimulus, shape \(10,\); got shape \(5,\)"),
])
def test_brainscore_splits_checks_its_arguments_in_one_line(kw, match):
    """The public split helper passed its arguments to scikit-learn unchecked: n_splits=0 gave no split,
    a negative or fractional count a NumPy traceback, a bad seed or strata length scikit-learn's text."""
    from neuroxr.errors import NeuroxrError
    from neuroxr.predictivity.brainscore import brainscore_splits

    with pytest.raises(NeuroxrError, match=r"^brainscore_splits: .*" + match):
        brainscore_splits(**{"n_stimuli": 10, **kw})


def test_brainscore_splits_are_scikit_learns():
    from neuroxr.predictivity.brainscore import brainscore_splits

    strata = np.repeat(["a", "b"], 10)
    for got, ref in ((brainscore_splits(20, seed=3), ShuffleSplit(10, train_size=0.9, random_state=3).split(np.zeros(20))),
                     (brainscore_splits(20, strata, seed=3),
                      StratifiedShuffleSplit(10, train_size=0.9, random_state=3).split(np.zeros(20), strata))):
        for (tr, te), (rtr, rte) in zip(got, ref, strict=True):
            np.testing.assert_array_equal(tr, rtr)
            np.testing.assert_array_equal(te, rte)


def _scaled(feats, neur, which, scale):
    return (feats * scale if which in ("features", "both") else feats,
            neur * (1 / scale if which == "opposite" else scale) if which in ("neural", "both", "opposite") else neur)


@pytest.mark.parametrize("which", ["neural", "features", "both", "opposite"])
@pytest.mark.parametrize("scale", [1e-150, 1e-100, 1e-16, 1e100, 1e150])
def test_brainscore_of_tiny_or_huge_units_is_brainscores_score_of_the_units_near_1(which, scale):
    """scikit-learn's PLS takes targets below an absolute cutoff (10 eps) for constant: responses near
    1e-16 scored NaN with a warning that it stopped at 0 components; near 1e+-100 (features too) it
    crashed in scipy's pinv ('A has a NaN entry'). The score is a correlation of predictions with the
    targets: the features and the trial means are each scaled by a power of two first, and the numbers
    are scikit-learn's on the data as given at scale 1."""
    feats, neur, X, R, ids, strata = _data(n=40, p=10, k=7)
    raw, err, ceil = _reference(X, R, strata, n_components=5)
    f, n = _scaled(feats, neur, which, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = brainscore(f, n, n_components=5)
    np.testing.assert_allclose([float(ds[v]) for v in ("raw", "error", "ceiling")], [raw, err, ceil], rtol=1e-10)
    base = brainscore(feats, neur, n_components=5)
    np.testing.assert_allclose(ds["r"].values, base["r"].values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ds["consistency"].values, base["consistency"].values, rtol=1e-12, atol=1e-14)


def test_brainscore_fits_ordinary_units_as_given(monkeypatch):
    """Within PLS_RANGE the features and trial means reach scikit-learn's PLS unscaled (Brain-Score's
    numbers, bit for bit); beyond it, each is multiplied by one power of two (the neuroids together:
    scaling them apart would change the joint fit) into [0.5, 1)."""
    from neuroxr.predictivity.brainscore import PLS_RANGE

    feats, neur, X, R, ids, strata = _data(n=40, p=10, k=7, scale=50.0)
    Y = R.mean(axis=2)
    assert PLS_RANGE[0] < np.abs(X).max() < PLS_RANGE[1] and PLS_RANGE[0] < np.abs(Y).max() < PLS_RANGE[1]
    seen, fit = [], PLSRegression.fit
    monkeypatch.setattr(PLSRegression, "fit", lambda self, A, B: seen.append((A.copy(), B.copy())) or fit(self, A, B))
    kw = dict(n_splits=10, train_size=0.9, test_size=None, random_state=1)
    splits = list(StratifiedShuffleSplit(**kw).split(np.zeros(len(X)), strata))
    for f, n, factor in ((feats, neur, (1.0, 1.0)), (feats * 2.0**70, neur * 2.0**-30, (2.0**70, 2.0**-30))):
        seen.clear()
        brainscore(f, n, n_components=5)
        # the factor each reaches scikit-learn with: 1 at scale 1; 2^-e (its largest magnitude in [0.5, 1)) beyond
        sx, sy = (1.0 if f_ == 1 else f_ * math.ldexp(1.0, -math.frexp(top * f_)[1])
                  for f_, top in zip(factor, (np.abs(X).max(), np.abs(Y).max())))
        for (A, B), (tr, _) in zip(seen, splits, strict=True):
            np.testing.assert_array_equal(A, X[tr] * sx)
            np.testing.assert_allclose(B, Y[tr] * sy, rtol=1e-15)


@pytest.mark.parametrize("dask", [False, True])
@pytest.mark.parametrize("which, scale, verb", [
    ("neural", 1e-160, "fall below"), ("neural", 1e160, "overflow"), ("neural", 1e300, "overflow"),
    ("features", 1e-160, "fall below"), ("features", 1e160, "overflow"), ("features", 1e-300, "fall below"),
])
def test_brainscore_refuses_units_beyond_the_range_in_one_line(which, scale, verb, dask):
    """Values beyond about 1e+-154 are refused by the directions' range rule (kernels.gram_rows.check_range),
    naming the input: responses near 1e160 had a false warning of 7 constant neuroids and a traceback
    from scipy, features near 1e160 a false refusal as constant (a dead layer)."""
    feats, neur, *_ = _data(n=40, p=10, k=7)
    f, n = _scaled(feats, neur, which, scale)
    n = n.chunk({"neuroid": 3}) if dask else n
    arg, what = ("features", "features") if which == "features" else ("neural", "responses")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LayoutError, match=rf"^brainscore: {arg}[^:]*: the {what}' squared norms {verb} float64's normal "
                                              rf"range .* {arg} / abs\({arg}\)\.max\(\) \(raw, ceiling and score do not change\)\.$") as e:
            brainscore(f, n, n_components=5)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("scale, verb", [(1e-300, "fall below"), (1e-160, "fall below"), (1e160, "overflow"), (1e300, "overflow")])
def test_brainscore_ceiling_refuses_responses_beyond_the_range_in_one_line(scale, verb):
    """brainscore_ceiling of responses near 1e-160 lost digits (0.97358 for 0.97356) and near 1e160 or
    1e+-300 was NaN with a false warning of constant neuroids and NumPy's all-NaN warnings: refused in one
    line naming the input; within the range (1e+-150) the ceiling is that of scale 1."""
    _, neur, *_ = _data(n=40, p=10, k=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LayoutError, match=rf"^brainscore_ceiling: neural: the responses' squared norms {verb} .* "
                                              r"neural / abs\(neural\)\.max\(\) \(the ceiling does not change\)\.$"):
            brainscore_ceiling(neur * scale)
        base = brainscore_ceiling(neur)
        for ok in (1e-150, 1e150):
            np.testing.assert_allclose(brainscore_ceiling(neur * ok)["consistency"].values, base["consistency"].values, rtol=1e-12)


@pytest.mark.parametrize("factor, warned", [(1e-16, True), (1e-13, False)])
def test_a_neuroid_below_scikit_learns_pls_cutoff_is_left_out_of_the_median_with_a_warning(factor, warned):
    feats, neur, X, R, ids, _ = _data(n=60, k=6, reps=4, objects=False)
    R = R.copy()
    R[:, 2, :] *= factor  # varies, by the directions' relative rule, but below PLS's absolute cutoff at 1e-16
    neur = neur.copy(data=R)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        ds = brainscore(feats, neur, n_components=5, ceiling=False)
    said = [str(w.message) for w in got if "PLS cutoff" in str(w.message)]
    assert len(said) == (1 if warned else 0)
    if warned:
        assert "1 neuroids" in said[0] and "'n2'" in said[0] and "10 of 10 splits" in said[0]
    # scikit-learn's PLS on the same splits (stimuli in sorted-id order, as _data's ids): the neuroid's r is NaN
    Y = R.mean(axis=2)
    splits = ShuffleSplit(n_splits=10, train_size=0.9, test_size=None, random_state=1).split(np.zeros(len(X)))
    per_split = []
    for tr, te in splits:
        pred = PLSRegression(n_components=5, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rs = [scipy.stats.pearsonr(pred[:, j], Y[te, j])[0] for j in range(Y.shape[1])]
        per_split.append(np.nanmedian(rs))
    assert np.isnan(ds["r"].values[:, 2]).all() == warned
    np.testing.assert_allclose(float(ds["raw"]), np.mean(per_split), rtol=1e-10)


@pytest.mark.parametrize("labels", [
    np.array([None if i % 7 == 0 else f"obj{i % 3}" for i in range(60)], dtype=object),  # was a class 'None'
    np.where(np.arange(60) % 7 == 0, np.nan, np.arange(60) % 3),  # was scikit-learn's "Input y contains NaN"
])
def test_stratification_labels_with_missing_values_are_refused_naming_their_stimuli(labels):
    """Missing labels of the stratify_by coord stratified None as a class of its own (text 'None'), or
    failed in scikit-learn with advice about train_size: a one-line error naming the coord, its stimuli and the fix."""
    from neuroxr.predictivity.brainscore import brainscore_splits

    feats, neur, *_ = _data()
    with pytest.raises(LayoutError, match=r"^brainscore: coord 'category' on dim 'stimulus' of neural holds 9 missing "
                                          r"labels \(None or NaN\) of 60, at stimuli \['img000', 'img007', .*fillna.*"
                                          r"or pass stratify_by=None\.$"):
        brainscore(feats, neur.assign_coords(category=("stimulus", labels)), n_components=3, stratify_by="category")
    with pytest.raises(LayoutError, match=r"^brainscore_splits: strata holds 9 missing labels .*strata=None\.$"):
        brainscore_splits(60, strata=labels)
    # the split helper's own refusals name its own argument, strata (not brainscore's stratify_by)
    with pytest.raises(LayoutError, match=r"stratified by their labels \(strata\) .* or strata=None\.$"):
        brainscore_splits(10, strata=list("aabbccddee"))


@pytest.mark.parametrize("mode", ["squared_ratio", "r2_over_ceiling"])
def test_a_negative_raw_squared_by_the_ceiling_mode_is_said(mode):
    """The squared ceiling modes (Brain-Score's explained_variance) scored a negative raw (features unrelated to the
    responses) as the positive fraction of its opposite, silently: the score is kept, with one warning."""
    feats, neur, *_ = _data()
    noise = feats.copy(data=np.random.default_rng(0).standard_normal(feats.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = brainscore(noise, neur, n_components=3)  # ratio keeps the sign: nothing to say
    raw, ceiling = float(ref["raw"]), float(ref["ceiling"])
    assert raw < 0 < ceiling
    with pytest.warns(UserWarning, match=rf"^brainscore: raw is -0\.\d+ \(below 0.*ceiling_mode='{mode}' squares it .*"
                                         r"use ceiling_mode='ratio', which keeps the sign\.$"):
        ds = brainscore(noise, neur, n_components=3, ceiling_mode=mode)
    expected = (raw / ceiling) ** 2 if mode == "squared_ratio" else raw**2 / ceiling
    assert float(ds["score"]) == pytest.approx(expected, rel=1e-12) and float(ds["score"]) > 0
