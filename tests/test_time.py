"""Time-resolved responses (issue 20): the layout, every direction over all bins at once (equal to
a loop over bins), and temporal generalisation (against scikit-learn Ridge)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from sklearn.linear_model import Ridge

import neuroxr as nx
from neuroxr.errors import LayoutError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.predictivity.generalization import validate_generalization
from neuroxr.predictivity.time import bin_slice

BINS = [(0, 10), (10, 20), (20, 30), (30, 40)]


def _data(seed=0, n=50, k=6, T=4, p=10, nan=False):
    rng = np.random.default_rng(seed)
    F = nx.features(rng.normal(size=(n, p)), stimulus_id=[f"s{i:03d}" for i in rng.permutation(n)], name="net")
    gain = rng.normal(size=(p, k, len(BINS))) * np.linspace(0.2, 1.0, len(BINS))
    lat = np.einsum("np,pkt->nkt", F.values, gain)
    R = lat[:, :, None, :] + rng.normal(size=(n, k, T, len(BINS)))
    if nan:
        R[3, 1, :2, 2] = np.nan  # one neuroid, one bin: a missing trial
        R[7, 4, :, 1] = np.nan  # one neuroid, one bin: a stimulus with no valid trial
    R = nx.neural(R, stimulus_id=F.stimulus_id.values, time_bins=BINS, region="IT", name="monkey")
    return F, R


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        return fn(*args, **kw)


# ---------------------------------------------------------------------------- layout
def test_neural_time_bins_layout():
    F, R = _data()
    assert R.dims == ("stimulus", "neuroid", "repeat", "time_bin")
    np.testing.assert_array_equal(R.time_bin_start.values, [0, 10, 20, 30])
    np.testing.assert_array_equal(R.time_bin_end.values, [10, 20, 30, 40])
    # (stimulus, neuroid, time_bin, repeat) is normalised to the one order
    swapped = R.transpose("stimulus", "neuroid", "time_bin", "repeat")
    xr.testing.assert_identical(nx.neural(swapped, name="monkey"), R)
    # trial-averaged time-resolved data get a repeat of length 1
    avg = nx.neural(np.zeros((5, 2, 3)) + np.arange(3), time_bins=BINS[:3])
    assert avg.dims == ("stimulus", "neuroid", "repeat", "time_bin") and avg.sizes["repeat"] == 1


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda R: nx.neural(np.zeros((5, 2, 3, 4)), time_bins=BINS[:3]), "one \\(start, end\\) pair"),
        (lambda R: nx.validate_neural(R.drop_vars("time_bin_end")), "time_bin_end"),
        (lambda R: nx.validate_neural(R.assign_coords(time_bin_end=("time_bin", [10, 5, 30, 40]))), "start < "),
        (lambda R: nx.validate_neural(R.transpose("stimulus", "neuroid", "time_bin", "repeat")), "wrong order"),
    ],
)
def test_neural_time_bins_errors(make, match):
    _, R = _data()
    with pytest.raises(LayoutError, match=match):
        make(R)


def test_time_bins_that_fit_another_axis_say_how_to_build_the_array():
    """The single trials of one bin (stimulus, neuroid, repeat) with time_bins=[(0, 100)] were told that
    time_bins needs one pair per time bin (10), the repeats read as bins; a DataArray without a time_bin
    dim was told to 'rename or add dims'; an array (stimulus, neuroid, time_bin, repeat) and one pair
    not in a list were told only the count."""
    trials = np.random.default_rng(0).normal(size=(6, 3, 10))  # (stimulus, neuroid, repeat): one 100 ms bin
    with pytest.raises(LayoutError, match=r"per time bin \(10\).* got shape \(1, 2\)\. A 3-D array with time_bins is read as "
                                          r"trial averages \(stimulus, neuroid, time_bin\).* pass data\[\.\.\., None\]\.$"):
        nx.neural(trials, time_bins=[(0, 100)])
    one = nx.neural(trials[..., None], time_bins=[(0, 100)])
    assert one.dims == ("stimulus", "neuroid", "repeat", "time_bin") and one.sizes["repeat"] == 10
    with pytest.raises(LayoutError, match=r"missing \['time_bin'\].* or da\.expand_dims\('time_bin', axis=-1\) for one time bin\.$"):
        nx.neural(nx.neural(trials), time_bins=[(0, 100)])
    xr.testing.assert_identical(nx.neural(nx.neural(trials).expand_dims("time_bin", axis=-1), time_bins=[(0, 100)]),
                                nx.neural(trials[..., None], time_bins=[(0, 100)]))
    with pytest.raises(LayoutError, match=r"got shape \(2,\)\. For one bin pass a list of one pair, e.g\. time_bins=\[\(0, 100\)\]\.$"):
        nx.neural(trials[..., None], time_bins=(0, 100))
    swapped = np.random.default_rng(1).normal(size=(6, 3, 4, 10))  # (stimulus, neuroid, time_bin, repeat)
    with pytest.raises(LayoutError, match=r"Its 4 pairs fit axis 2 of the array \(shape \(6, 3, 4, 10\)\), its repeats.* pass "
                                          r"np\.swapaxes\(data, 2, 3\)\.$"):
        nx.neural(swapped, time_bins=BINS)
    assert nx.neural(np.swapaxes(swapped, 2, 3), time_bins=BINS).sizes["time_bin"] == 4


def test_repeated_time_bins_are_refused_everywhere_with_one_rule():
    """Two bins with the same (start, end) were accepted by nx.neural and forward, but inter_animal
    refused two animals with identical repeated bins saying 'their time bins differ'."""
    F, R = _data()
    dup = [BINS[0], BINS[0], BINS[2], BINS[3]]
    msg = r"bins 0 and 1 of dim 'time_bin' are both \(0, 10\) ms; give each bin its own \(start, end\)"
    with pytest.raises(LayoutError, match=msg):
        nx.neural(R.values, stimulus_id=R.stimulus_id.values, time_bins=dup)
    D = R.assign_coords(time_bin_start=("time_bin", [b[0] for b in dup]), time_bin_end=("time_bin", [b[1] for b in dup]))
    for call in (lambda: nx.validate_neural(D), lambda: nx.forward(F, D, reps=1), lambda: nx.inter_animal(D, D, reps=1),
                 lambda: nx.temporal_generalization(D, D), lambda: nx.temporal_generalization(F, D)):
        with pytest.raises(LayoutError, match=msg) as err:
            _quiet(call)
        assert "differ" not in str(err.value) and "\n" not in str(err.value)
    from neuroxr.plot import score_vs_time

    ds = _quiet(nx.forward, F, R, reps=1)
    with pytest.raises(LayoutError, match=msg):
        nx.validate_scores(ds.assign_coords(time_bin_start=D.time_bin_start, time_bin_end=D.time_bin_end))
    with pytest.raises(LayoutError, match=msg):  # a figure would draw the two at one time
        score_vs_time(ds.assign_coords(time_bin_start=D.time_bin_start, time_bin_end=D.time_bin_end))
    g = _quiet(nx.temporal_generalization, F, R)
    with pytest.raises(LayoutError, match="bins 0 and 1 of dim 'time_bin_test' are both"):
        validate_generalization(g.assign_coords(time_bin_test_start=("time_bin_test", [b[0] for b in dup]),
                                                   time_bin_test_end=("time_bin_test", [b[1] for b in dup])))


# ---------------------------------------------------------------------------- every bin at once
def _assert_loop_equal(ds, loop, names):
    assert ds["ev"].dims[-1] == "time_bin"
    np.testing.assert_array_equal(ds.time_bin_start.values, [b[0] for b in BINS])
    for t, d in enumerate(loop):
        for name in names:
            np.testing.assert_allclose(ds[name].isel(time_bin=t).values, d[name].values, rtol=1e-10, atol=1e-10,
                                       equal_nan=True, err_msg=f"{name} at bin {t}")


@pytest.mark.parametrize("nan", [False, True])
def test_forward_bins_equal_loop(nan):
    F, R = _data(nan=nan)
    ds = _quiet(nx.forward, F, R, reps=3, keep_predictions=not nan)
    nx.validate_scores(ds)
    assert ds["ev"].dims == ("neuroid", "rep", "time_bin") and ds["included"].dims == ("neuroid", "time_bin")
    assert list(ds.region.values) == ["IT"] * 6 and list(ds.neuroid_id.values) == list(R.neuroid_id.values)
    loop = [_quiet(nx.forward, F, bin_slice(R, t), reps=3, keep_predictions=not nan) for t in range(len(BINS))]
    names = ["ev", "r", "target_shc", "prediction_shc", "ceiling", "included"] + ([] if nan else ["prediction"])
    _assert_loop_equal(ds, loop, names)


def test_time_resolved_results_name_target_coords_as_the_static_direction():
    """A target coord named like a score variable (a ground-truth ``reliability``) is renamed alike
    by the static forward, the time-resolved one and temporal generalisation."""
    F, R = _data()
    R = R.assign_coords(reliability=("neuroid", np.linspace(0.1, 0.9, R.sizes["neuroid"])))
    static = _quiet(nx.forward, F, bin_slice(R, 0), reps=2)
    target = {name for name, c in static.coords.items() if c.dims == ("neuroid",)}
    assert "reliability_coord" in target and "reliability" not in static.coords
    for ds in (_quiet(nx.forward, F, R, reps=2), _quiet(nx.temporal_generalization, F, R)):
        assert {name for name, c in ds.coords.items() if c.dims == ("neuroid",)} == target
        np.testing.assert_array_equal(ds["reliability_coord"].values, R["reliability"].values)


def test_forward_bins_group_missing_stimuli_bin_by_bin():
    """Missing trials on different stimuli in different bins: many patterns of missing stimuli over
    all bins, few in each bin. Each bin's numbers equal the bin scored alone (grouped by its own
    patterns), and NaN in the other bins move none."""
    F, R = _data(n=50, k=6)
    vals = R.values.copy()
    s = 0
    for t in range(len(BINS)):
        for j in range(4 if t == 0 else 1 + t % 2):  # neuroid j lacks a stimulus of its own in bin t only
            vals[s, j, :, t] = np.nan
            s += 1
    vals[40, :, :, 3] = np.nan  # and bin 3 lacks one stimulus for every neuroid
    Rn = R.copy(data=vals)
    ds = _quiet(nx.forward, F, Rn, reps=2)
    loop = [_quiet(nx.forward, F, bin_slice(Rn, t), reps=2) for t in range(len(BINS))]
    _assert_loop_equal(ds, loop, ["ev", "r", "target_shc", "prediction_shc", "ceiling"])
    only0 = R.values.copy()
    only0[..., 0] = vals[..., 0]  # the same bin 0, the other bins complete
    alone = _quiet(nx.forward, F, R.copy(data=only0), reps=2)
    np.testing.assert_allclose(alone.ev.isel(time_bin=0), ds.ev.isel(time_bin=0), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("regressor", ["pls", "estimator"])
def test_joint_regressors_score_each_bin_on_its_own(regressor):
    """PLS and estimator objects fit their targets jointly: each bin is its own call, so a bin's
    numbers equal the bin scored alone and never move with another bin's data."""
    from sklearn.cross_decomposition import PLSRegression

    F, R = _data(n=40, k=3)
    reg = dict(regressor="pls", n_components=3) if regressor == "pls" else dict(regressor=PLSRegression(3))
    ds = _quiet(nx.forward, F, R, reps=2, **reg)
    _assert_loop_equal(ds, [_quiet(nx.forward, F, bin_slice(R, t), reps=2, **reg) for t in range(len(BINS))],
                       ["ev", "r", "ceiling"])
    other = R.copy(data=R.values.copy())
    other.values[..., 1] = np.random.default_rng(5).normal(size=other.values[..., 1].shape)
    moved = _quiet(nx.forward, F, other, reps=2, **reg)
    np.testing.assert_allclose(moved.ev.isel(time_bin=0), ds.ev.isel(time_bin=0), rtol=1e-12)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_per_bin_counts_of_stimuli(direction):
    """A stimulus missing in one bin only: the attrs count each bin's stimuli as a call on that bin
    would (a list, one value per bin), and equal values stay scalars."""
    F, R = _data(n=30, k=3)
    R = R.copy(data=R.values.copy())
    R.values[0, :, :, 2] = np.nan
    call = (lambda r: nx.forward(F, r, reps=2)) if direction == "forward" else (lambda r: nx.reverse(r, F, reps=2))
    ds = _quiet(call, R)
    alone = [_quiet(call, bin_slice(R, t)) for t in range(len(BINS))]
    for key in ("n_stimuli", "n_excluded_stimuli"):
        assert ds.attrs[key] == [a.attrs[key] for a in alone]
    assert ds.attrs["n_stimuli"] == [30, 30, 29, 30]
    assert ds.attrs["reps"] == 2  # equal in every bin: a scalar


def test_lazy_forward_bins_read_the_responses_once():
    """A time-resolved forward reads each response once: the per-bin stimulus counts come from the
    one pass (the counts of a bin equal a call on that bin alone, all-NaN neuroids left out)."""
    import dask.array as dsk

    class Counting:  # a chunk source that counts the values read from it
        def __init__(self, a):
            self.a, self.shape, self.dtype, self.ndim, self.read = a, a.shape, a.dtype, a.ndim, 0

        def __getitem__(self, key):
            out = self.a[key]
            self.read += out.size
            return out

    F, R = _data(n=30, k=6, nan=True)
    vals = R.values.copy()
    vals[:, 2, :, 3] = np.nan  # neuroid 2 has no trial in bin 3: left out of that bin
    R = R.copy(data=vals)
    src = Counting(vals)
    lazy = R.copy(data=dsk.from_array(src, chunks=(10, 3, 4, 2), meta=np.empty((0, 0, 0, 0))))
    ds = _quiet(nx.forward, F, lazy, reps=2)
    assert src.read == vals.size
    np.testing.assert_allclose(ds.ev, _quiet(nx.forward, F, R, reps=2).ev)
    alone = [_quiet(nx.forward, F, bin_slice(R, t), reps=2) for t in range(len(BINS))]
    for key in ("n_stimuli", "n_excluded_stimuli", "n_partial_targets"):
        got = ds.attrs[key] if isinstance(ds.attrs[key], list) else [ds.attrs[key]] * len(BINS)
        assert got == [a.attrs[key] for a in alone], key
    assert ds.attrs["n_partial_targets"] == [0, 1, 0, 0]  # bin 3 counts no all-NaN neuroid


def _lacking(R, lacks):
    """``R`` where bin ``t`` has no valid trial at the stimuli (positions) ``lacks[t]``, for every neuroid."""
    vals = R.values.copy()
    for t, rows in enumerate(lacks):
        vals[rows, :, :, t] = np.nan
    return R.copy(data=vals)


@pytest.mark.parametrize("direction", ["forward_pls", "reverse"])
def test_predictions_of_bins_keeping_different_stimuli_are_paired_by_stimulus_id(direction):
    """Bins that keep different stimuli (and different numbers of them): each bin's predictions sit
    at its own stimulus ids, NaN at the stimuli it lacks, equal to the bin scored alone."""
    F, R = _data(n=40, k=4)
    R = _lacking(R, [[5], [7], [5, 9], []])
    if direction == "reverse":
        def call(r):
            return _quiet(nx.reverse, r, F, reps=2, keep_predictions=True)
    else:
        def call(r):
            return _quiet(nx.forward, F, r, reps=2, regressor="pls", n_components=3, keep_predictions=True)
    ds = call(R)
    ids = np.sort(R.stimulus_id.values.astype(str))
    np.testing.assert_array_equal(ds.stimulus_id.values, ids)  # every stimulus some bin kept
    assert ds.attrs["n_stimuli"] == [39, 39, 38, 40]
    for t in range(len(BINS)):
        alone = call(bin_slice(R, t))
        got = ds.prediction.isel(time_bin=t)
        own = np.isin(ids, alone.stimulus_id.values.astype(str))
        np.testing.assert_array_equal(ids[own], alone.stimulus_id.values)
        np.testing.assert_allclose(got.values[:, own], alone.prediction.values, rtol=1e-12, atol=1e-12)
        assert np.isnan(got.values[:, ~own]).all()
        np.testing.assert_allclose(ds.ev.isel(time_bin=t), alone.ev, rtol=1e-12)


def test_bins_keeping_different_stimuli_are_resampled_and_permuted_with_the_same_draws():
    """A time-resolved bootstrap (and permutation test) whose bins keep different stimuli: every bin
    draws over every stimulus some bin keeps and uses the draws that fall on its own stimuli, so a
    resample is the same stimuli in every bin (each bin drew over its own positions: a bin lacking
    one stimulus paired none of its 6 resamples with the other bins'), and a bin keeping them all
    equals that bin alone. ``compare`` takes one bin of two such bootstraps (NaN slots in
    ``boot_index`` made it refuse them as different resamples)."""
    from neuroxr.kernels import resample as rs
    from neuroxr.kernels.permute import induced_permutations
    from neuroxr.predictivity._parts import prepare
    from neuroxr.predictivity.inference import bootstrap, compare, permutation_test

    F, R = _data(n=40, k=4)
    R = _lacking(R, [[5], [7], [5, 9], []])
    b = _quiet(bootstrap, "reverse", R, F, n_boot=6, reps=2)
    p = _quiet(permutation_test, "reverse", R, F, n_perm=7, keep_null=True)
    ids = b.stimulus_id.values
    assert ids.size == 40 and b["boot_index"].dims == ("boot", "stimulus", "time_bin")
    drawn = b["boot_index"].values
    assert drawn.dtype.kind == "i" and all(np.array_equal(drawn[..., t], drawn[..., 0]) for t in range(len(BINS)))
    W = rs.counts(rs.bootstrap_indices(40, 6, 0, stream=0), 40)
    perms = rs.permutation_indices(40, 7, 0)
    for t in range(len(BINS)):
        parts = _quiet(prepare, "reverse", bin_slice(R, t), F, reps=2, seed=0)
        own = np.isin(ids, parts.stimulus_id)
        np.testing.assert_allclose(b.ev_boot.isel(time_bin=t), parts.scores(W[:, own])[0], rtol=1e-12)
        bare = _quiet(prepare, "reverse", bin_slice(R, t), F, seed=0, halves=False)
        np.testing.assert_allclose(p.r_null.isel(time_bin=t), bare.permuted_r(induced_permutations(perms, own), 2**28)[1],
                                   rtol=1e-12)
    alone = _quiet(bootstrap, "reverse", bin_slice(R, 3), F, n_boot=6, reps=2)
    np.testing.assert_allclose(b.median_ev_boot.isel(time_bin=3), alone.median_ev_boot, rtol=1e-12)
    other = _quiet(bootstrap, "reverse", R, F * 2.0 + 1.0, n_boot=6, reps=2)
    assert np.isfinite(compare({"a": b.isel(time_bin=2), "b": other.isel(time_bin=2)})["p"]).all()


def test_time_bins_without_edges_fail_before_any_work():
    F, R = _data(n=20, k=3)
    bare = R.drop_vars(["time_bin_start", "time_bin_end"])
    for call in (lambda: nx.reverse(bare, F, reps=1), lambda: nx.inter_animal(bare, bare, reps=1),
                 lambda: nx.split_half_reliability(bare, reps=1)):
        with pytest.raises(LayoutError, match="missing coord 'time_bin_start' on dim 'time_bin'"):
            call()


def test_reverse_and_inter_animal_bins_equal_loop():
    F, R = _data()
    _, R2 = _data(seed=1)
    R2 = R2.assign_coords(stimulus_id=R.stimulus_id)
    rev = _quiet(nx.reverse, R, F, reps=2)
    nx.validate_scores(rev)
    assert rev["ev"].dims == ("unit", "rep", "time_bin")
    _assert_loop_equal(rev, [_quiet(nx.reverse, bin_slice(R, t), F, reps=2) for t in range(len(BINS))],
                       ["ev", "r", "prediction_shc"])
    ia = _quiet(nx.inter_animal, R, R2, reps=2)
    _assert_loop_equal(ia, [_quiet(nx.inter_animal, bin_slice(R, t), bin_slice(R2, t), reps=2)
                            for t in range(len(BINS))], ["ev", "r", "target_shc", "prediction_shc"])
    # a static predictor animal with a time-resolved target animal
    static = bin_slice(R, 0)
    ia = _quiet(nx.inter_animal, static, R2, reps=2)
    _assert_loop_equal(ia, [_quiet(nx.inter_animal, static, bin_slice(R2, t), reps=2) for t in range(len(BINS))],
                       ["ev", "r"])
    rel = nx.split_half_reliability(R, reps=3)
    for t in range(len(BINS)):
        np.testing.assert_allclose(rel.reliability.isel(time_bin=t), nx.split_half_reliability(bin_slice(R, t), reps=3).reliability)


def test_inter_animal_bins_must_match():
    _, R = _data()
    with pytest.raises(LayoutError, match="time bins differ"):
        nx.inter_animal(R, R.isel(time_bin=[0, 1, 3]), reps=1)


def test_animals_with_other_bins_are_told_the_positions_of_the_common_ones():
    """Two animals with other bins were told to select them with neural_b.sel(time_bin=...), which an array
    of nx.neural cannot do (no index on time_bin), even when neural_a held the extra bin."""
    F, R = _data()
    A = R.isel(neuroid=[0, 1]).assign_coords(neuroid_id=("neuroid", ["a0", "a1"]))
    B = R.isel(neuroid=[2, 3, 4], time_bin=[3, 1, 2])  # bins 3, 1, 2 of A's, in another order
    calls = {"inter_animal": lambda a, b: nx.inter_animal(a, b, reps=1), "temporal_generalization": nx.temporal_generalization}
    for caller, call in calls.items():
        keep = "neural_a" if caller == "inter_animal" else "source"
        with pytest.raises(LayoutError, match=rf"^{caller}: .*their time bins differ .*select the common bins first, e\.g\. "
                                              rf"{keep}\.isel\(time_bin=\[1, 2, 3\]\) so both hold the same bins\."):
            call(A, B)
        _quiet(call, A.isel(time_bin=[1, 2, 3]), B)  # as told: scored
    other = B.assign_coords(time_bin_start=B.time_bin_start + 5, time_bin_end=B.time_bin_end + 5)
    with pytest.raises(LayoutError, match=r"time bins differ .*; they share no bin \(start and end\); pass responses of the "
                                          r"same time bins\."):
        nx.inter_animal(A, other, reps=1)
    many = nx.neural(np.zeros((3, 1, 1, 6)) + np.arange(6), stimulus_id=["a", "b", "c"], time_bins=[(t, t + 1) for t in range(6)])
    with pytest.raises(LayoutError, match=r"e\.g\. neural_b\.isel\(time_bin=slice\(1, 6\)\) so both"):
        nx.inter_animal(many.isel(time_bin=slice(1, None)), many.assign_coords(neuroid_id=("neuroid", ["m"])), reps=1)


def test_two_animals_pair_their_time_bins_by_start_and_end():
    """The same bins stored in another order are paired by their start and end (they were refused)."""
    _, R = _data()
    _, R2 = _data(seed=1)
    R2 = R2.assign_coords(stimulus_id=R.stimulus_id, neuroid_id=("neuroid", [f"b{i}" for i in range(R2.sizes["neuroid"])]))
    back = R2.isel(time_bin=slice(None, None, -1))
    a, b = _quiet(nx.inter_animal, R, R2, reps=2), _quiet(nx.inter_animal, R, back, reps=2)
    np.testing.assert_array_equal(a.time_bin_start.values, b.time_bin_start.values)
    np.testing.assert_array_equal(a.ev.values, b.ev.values)
    g1 = _quiet(nx.temporal_generalization, R, R2)
    g2 = _quiet(nx.temporal_generalization, R, back)  # its bins in the target's (reversed) order
    o1, o2 = (np.argsort(g2[f"time_bin_{ax}_start"].values) for ax in ("train", "test"))
    np.testing.assert_array_equal(g1.r.values, g2.r.values[:, o1][:, :, o2])


def test_a_users_time_bin_coords_are_kept_in_every_result():
    """Every time-resolved result dropped the user's coords on time_bin (the index's bin labels, a
    per-bin coord): only time_bin_start / time_bin_end came back."""
    from neuroxr.predictivity.inference import bootstrap

    F, R = _data(n=30, k=3)
    _, A = _data(seed=1, n=30, k=3)
    labels, epoch = np.array(["baseline", "early", "late", "offset"]), np.array([0, 1, 1, 2])
    L = R.assign_coords(time_bin=labels, epoch=("time_bin", epoch))
    LA = A.assign_coords(stimulus_id=R.stimulus_id, time_bin=labels, epoch=("time_bin", epoch))
    back = LA.isel(time_bin=[3, 1, 0, 2])  # the second animal's bins in another order: the first's labels
    for ds in (_quiet(nx.forward, F, L, reps=1), _quiet(nx.forward, F, L, reps=1, regressor="pls", n_components=2),
               _quiet(nx.reverse, L, F, reps=1), _quiet(nx.inter_animal, L, back, reps=1),
               _quiet(nx.split_half_reliability, L, reps=1), _quiet(bootstrap, "forward", F, L, reps=1, n_boot=3)):
        np.testing.assert_array_equal(ds["time_bin"].values, labels)
        np.testing.assert_array_equal(ds["epoch"].values, epoch)
        np.testing.assert_array_equal(ds["time_bin_start"].values, L.time_bin_start.values)
    g = _quiet(nx.temporal_generalization, F, L.isel(time_bin=[2, 0, 3, 1]))  # the target's order
    for which in ("train", "test"):
        np.testing.assert_array_equal(g[f"time_bin_{which}"].values, labels[[2, 0, 3, 1]])
        np.testing.assert_array_equal(g[f"time_bin_{which}_epoch"].values, epoch[[2, 0, 3, 1]])
    table = nx.io.to_dataframe(_quiet(nx.forward, F, L, reps=1))  # the labels are a column of the table
    np.testing.assert_array_equal(table.groupby("time_bin_start")["time_bin"].first().values, labels)


# ---------------------------------------------------------------------------- temporal generalisation
def _sk_generalization(X_bins, B, alpha, folds):
    """Direct loop: scikit-learn Ridge fitted at t1 on the training folds, predicting the test folds at t2."""
    n, k, nt = B.shape
    r = np.empty((k, nt, nt))
    for t1 in range(nt):
        for t2 in range(nt):
            P = np.empty((n, k))
            for train, test in folds:
                m = Ridge(alpha=alpha).fit(X_bins(t1)[train], B[train, :, t1])
                P[test] = m.predict(X_bins(t2)[test])
            for j in range(k):
                r[j, t1, t2] = np.corrcoef(P[:, j], B[:, j, t2])[0, 1]
    return r


def test_temporal_generalization_forward_matches_sklearn():
    F, R = _data()
    g = nx.temporal_generalization(F, R, alpha=0.5, n_folds=5)
    assert g["r"].dims == ("neuroid", "time_bin_train", "time_bin_test")
    np.testing.assert_array_equal(g.time_bin_test_end.values, [b[1] for b in BINS])
    order = np.argsort(R.stimulus_id.values)
    B = R.values[order].mean(axis=2)
    Fs = F.sel(stimulus=np.argsort(F.stimulus_id.values)).values
    ref = _sk_generalization(lambda t: Fs, B, 0.5, kfold_indices(len(order), 5, 0))
    np.testing.assert_allclose(g["r"].values, ref, atol=1e-10)
    # the diagonal is the forward direction's r at each bin
    fw = _quiet(nx.forward, F, R, reps=1, alpha=0.5, n_folds=5)
    np.testing.assert_allclose(np.diagonal(g["r"].values, axis1=1, axis2=2), fw["r"].isel(rep=0).values, atol=1e-10)


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_temporal_generalization_on_low_rank_features_keeps_ridge_precision(scale):
    """80 units of rank 5 on 60 stimuli at a large scale: the fit's Gram is numerically
    rank-deficient, whose rounding alpha = 0.1 would amplify; the weights are scikit-learn's SVD
    solution (3e-6 in r at scale 1e4 before)."""
    rng = np.random.default_rng(4)
    n, k = 60, 3
    ids = [f"s{i:02d}" for i in range(n)]
    Z = rng.normal(size=(n, 5))
    F = nx.features(scale * Z @ rng.normal(size=(5, 80)), ids)
    R = (Z @ rng.normal(size=(5, k)))[:, :, None, None] + rng.normal(size=(n, k, 3, len(BINS)))
    g = nx.temporal_generalization(F, nx.neural(R, ids, time_bins=BINS), alpha=0.1)
    B = R.mean(axis=2)
    r = np.empty((k, len(BINS), len(BINS)))
    for t1 in range(len(BINS)):
        P = np.empty((n, k))
        for train, test in kfold_indices(n, 10, 0):
            P[test] = Ridge(alpha=0.1, solver="svd").fit(F.values[train], B[train, :, t1]).predict(F.values[test])
        for t2 in range(len(BINS)):
            r[:, t1, t2] = [np.corrcoef(P[:, j], B[:, j, t2])[0, 1] for j in range(k)]
    np.testing.assert_allclose(g["r"].values, r, atol=1e-10)


def test_temporal_generalization_inter_animal_matches_sklearn():
    _, RA = _data(seed=2, k=5)
    _, RB = _data(seed=3, k=4)
    RB = RB.assign_coords(stimulus_id=RA.stimulus_id)
    g = nx.temporal_generalization(RA, RB, alpha=2.0, n_folds=4)
    assert g.attrs["direction"] == "inter_animal"
    order = np.argsort(RA.stimulus_id.values)
    A, B = RA.values[order].mean(axis=2), RB.values[order].mean(axis=2)
    ref = _sk_generalization(lambda t: A[:, :, t], B, 2.0, kfold_indices(len(order), 4, 0))
    np.testing.assert_allclose(g["r"].values, ref, atol=1e-10)


def test_temporal_generalization_errors():
    F, R = _data()
    with pytest.raises(LayoutError, match="time_bin"):
        nx.temporal_generalization(F, bin_slice(R, 0))
    with pytest.raises(LayoutError, match="time bins differ"):
        nx.temporal_generalization(R, R.isel(time_bin=[0, 1]))


def test_temporal_generalization_refuses_a_source_animal_constant_at_a_bin():
    """A's trial means constant at a bin are a dead design, refused as inter_animal refuses that bin;
    they scored an out-of-fold intercept's r (the training folds' means), a finite number."""
    _, RA = _data(seed=2, k=5)
    _, RB = _data(seed=3, k=4)
    RB = RB.assign_coords(stimulus_id=RA.stimulus_id)
    RA = RA.copy(data=RA.values.copy())
    RA.values[..., 1] = 2.5
    with pytest.raises(LayoutError, match="neural_a.*every predictor column is constant"):
        _quiet(nx.inter_animal, RA, RB, reps=2)
    with pytest.raises(LayoutError, match=r"source \(monkey\), time bin 1 \(10-20 ms\): every predictor column is constant"):
        _quiet(nx.temporal_generalization, RA, RB)


def test_temporal_generalization_names_a_source_bin_by_its_own_position():
    """The source's bins are paired with neural's by their edges; a bad bin of the source is named
    by its position in the source as given (and its edges), not by its position in neural's order,
    which named a good bin to drop."""
    _, RA = _data(seed=2, k=5)
    _, RB = _data(seed=3, k=4)
    RA = RA.assign_coords(stimulus_id=RB.stimulus_id).isel(time_bin=[3, 2, 1, 0])  # A's position 2 is 10-20 ms
    flat, empty = RA.copy(data=RA.values.copy()), RA.copy(data=RA.values.copy())
    flat.values[..., 2], empty.values[..., 2] = 2.5, np.nan
    with pytest.raises(LayoutError, match=r"source \(monkey\), time bin 2 \(10-20 ms\): every predictor column is constant.*"
                                          r"source\.drop_isel\(time_bin=2\) and neural\.drop_isel\(time_bin=1\)\.$"):
        _quiet(nx.temporal_generalization, flat, RB)
    with pytest.raises(LayoutError, match=r"source \(monkey\): no neuroid has a valid trial mean in its time bins \[2\];"):
        _quiet(nx.temporal_generalization, empty, RB)
    with pytest.warns(nx.NeuroxrWarning, match=r"source \(monkey\): 1 neuroids have no valid trial mean in some time bins: "
                                               r"\['neuroid1 \(bins 0, 2\)'\]"):
        part = RA.copy(data=RA.values.copy())
        part.values[:, 1, :, [0, 2]] = np.nan  # A's neuroid 1 at its positions 0 (30-40 ms) and 2 (10-20 ms)
        nx.temporal_generalization(part, RB)
    # the advice works: both animals without that bin
    keep = [0, 2, 3]
    ds = _quiet(nx.temporal_generalization, flat.drop_isel(time_bin=2), RB.isel(time_bin=keep))
    np.testing.assert_array_equal(ds.r.values, _quiet(nx.temporal_generalization, RA.drop_isel(time_bin=2),
                                                       RB.isel(time_bin=keep)).r.values)


def test_a_dead_predictor_bin_is_named_with_the_bins_to_keep():
    """reverse / inter_animal refused a design dead in one bin with the static message ('every
    neuroid is all NaN'), false of the array, naming neither the bin nor the bins to keep."""
    from neuroxr.predictivity.inference import bootstrap

    F, R = _data(n=30, k=4)
    _, A = _data(seed=1, n=30, k=3)
    A = A.assign_coords(stimulus_id=R.stimulus_id)
    dead = R.copy(data=R.values.copy())
    dead.values[..., 2] = np.nan
    have = [t for t in range(len(BINS)) if t != 2]
    nan = rf"time bin 2 \(20-30 ms\): every neuroid is all NaN; .* e\.g\. %s\.isel\(time_bin=\{have}\)%s\."
    both = rf" and neural_b\.isel\(time_bin=\{have}\)"  # the other animal's same bins
    for call, arg, tail in ((lambda: nx.reverse(dead, F, reps=1), "neural", ""),
                            (lambda: nx.inter_animal(dead, A, reps=1), "neural_a", both),
                            (lambda: bootstrap("reverse", dead, F, reps=1, n_boot=3), "neural", "")):
        with pytest.raises(LayoutError, match=rf"{arg} \(monkey\), " + nan % (arg, tail)) as err:
            _quiet(call)
        assert "\n" not in str(err.value)
    # the bins it names are the ones that work: their scores are those of the data without the dead bin
    np.testing.assert_array_equal(_quiet(nx.reverse, dead.isel(time_bin=have), F, reps=1).ev.values,
                                  _quiet(nx.reverse, R.isel(time_bin=have), F, reps=1).ev.values)
    flat = R.copy(data=R.values.copy())
    flat.values[..., 1] = 2.5
    with pytest.raises(LayoutError, match=r"reverse: neural \(monkey\), time bin 1 \(10-20 ms\): every predictor "
                                          r"column is constant.* e\.g\. neural\.drop_isel\(time_bin=1\)\."):
        _quiet(nx.reverse, flat, F, reps=1)
    with pytest.raises(LayoutError, match=r"inter_animal: neural_a \(monkey\), time bin 1 \(10-20 ms\): every predictor"):
        _quiet(nx.inter_animal, flat, A, reps=1)
    with pytest.raises(LayoutError, match=r"reverse: neural \(monkey\): every neuroid is all NaN"):  # true of every bin
        _quiet(nx.reverse, R.copy(data=np.full(R.shape, np.nan)), F, reps=1)


def test_a_dead_or_constant_bin_of_one_animal_is_dropped_from_both_as_told():
    """A bin of neural_a without data (or constant) was told to be selected away from neural_a alone
    ('neural_a.isel(time_bin=[0, 1, 3])'), after which the two animals' bins differ; temporal
    generalisation said 'select the other bins of both animals' without naming them."""
    _, R = _data(n=30, k=4)
    _, A = _data(seed=1, n=30, k=3)
    A = A.assign_coords(stimulus_id=R.stimulus_id, neuroid_id=("neuroid", ["a0", "a1", "a2"]))
    B = R.isel(time_bin=[3, 0, 2, 1])  # B lists the bins in another order
    dead, flat = A.copy(data=A.values.copy()), A.copy(data=A.values.copy())
    dead.values[..., 2], flat.values[..., 2] = np.nan, 2.5  # bin 2 (20-30 ms): B's position 2
    with pytest.raises(LayoutError, match=r"e\.g\. neural_a\.isel\(time_bin=\[0, 1, 3\]\) and neural_b\.isel\(time_bin=\[1, 3, 0\]\)\.$"):
        _quiet(nx.inter_animal, dead, B, reps=1)
    ref = _quiet(nx.inter_animal, A.isel(time_bin=[0, 1, 3]), B.isel(time_bin=[1, 3, 0]), reps=1)
    np.testing.assert_array_equal(_quiet(nx.inter_animal, dead.isel(time_bin=[0, 1, 3]), B.isel(time_bin=[1, 3, 0]), reps=1).ev, ref.ev)
    with pytest.raises(LayoutError, match=r"Or drop that bin from both animals, e\.g\. neural_a\.drop_isel\(time_bin=2\) and "
                                          r"neural_b\.drop_isel\(time_bin=2\)\.$"):
        _quiet(nx.inter_animal, flat, B, reps=1)
    np.testing.assert_array_equal(_quiet(nx.inter_animal, flat.drop_isel(time_bin=2), B.drop_isel(time_bin=2), reps=1).ev,
                                  _quiet(nx.inter_animal, A.drop_isel(time_bin=2), B.drop_isel(time_bin=2), reps=1).ev)
    with pytest.raises(LayoutError, match=r"source \(monkey\): no neuroid has a valid trial mean in its time bins \[2\]; select "
                                          r"the other bins of both animals, e\.g\. source\.isel\(time_bin=\[3, 0, 1\]\) and "
                                          r"neural\.isel\(time_bin=\[0, 1, 3\]\)\.$"):
        _quiet(nx.temporal_generalization, dead, B)
    np.testing.assert_array_equal(_quiet(nx.temporal_generalization, dead.isel(time_bin=[3, 0, 1]), B.isel(time_bin=[0, 1, 3])).r,
                                  _quiet(nx.temporal_generalization, A.isel(time_bin=[3, 0, 1]), B.isel(time_bin=[0, 1, 3])).r)


def test_inference_parts_of_a_time_resolved_input_are_refused_in_one_line():
    """``prepare`` (the Parts that bootstrap and permutation_test take as ``source``) builds one
    bin's parts; a time-resolved input raised an IndexError or ValueError from inside it."""
    from neuroxr.predictivity._parts import prepare

    F, R = _data(n=20, k=3)
    _, A = _data(seed=1, n=20, k=3)
    A = A.assign_coords(stimulus_id=R.stimulus_id)
    for direction, source, target, arg in (("forward", F, R, "neural"), ("reverse", R, F, "neural"),
                                           ("inter_animal", A, R, "neural_a")):
        with pytest.raises(LayoutError, match=rf"^prepare: {arg} is time-resolved \(dim 'time_bin', 4 bins\); prepare one "
                                              rf"bin at a time, e.g. {arg}\.isel\(time_bin=0\), or pass"):
            prepare(direction, source, target, reps=1)
    parts = _quiet(prepare, "forward", F, R.isel(time_bin=1), reps=2)  # the advice works, and equals the direction's bin
    np.testing.assert_allclose(parts.scores()[0][0], _quiet(nx.forward, F, R, reps=2).ev.isel(time_bin=1).mean("rep").values)


# ---------------------------------------------------------------------------- figures
def test_score_vs_time_and_heatmap():
    from neuroxr.plot import score_vs_time, temporal_generalization_heatmap

    F, R = _data()
    ds = _quiet(nx.forward, F, R, reps=4)
    fig = score_vs_time({"net": ds}, interval=0.5)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, [5, 15, 25, 35])
    ref = np.nanmedian(ds["ev"].where(ds["included"]).mean("rep").values, axis=0)
    np.testing.assert_allclose(y, ref)
    assert len(fig.axes) == 2  # the ceiling band's axis
    g = nx.temporal_generalization(F, R)
    fig = temporal_generalization_heatmap(g)
    np.testing.assert_allclose(fig.axes[0].collections[0].get_array().reshape(4, 4), np.median(g["r"].values, axis=0))
    with pytest.raises(ValueError, match="time_bin"):
        score_vs_time(_quiet(nx.forward, F, bin_slice(R, 0), reps=2))


# ---------------------------------------------------------------------------- store, entries, sweep, report
@pytest.mark.slow
def test_time_resolved_study(tmp_path):
    """A time-resolved neural set goes through the store (region subsets keep time_bin), the entry
    engine (an ordinary entry, found again by its parameters), a sweep's tables (one row per bin)
    and the report (a score-vs-time figure)."""
    from neuroxr.report import write_report

    F, R = _data()
    R = R.assign_coords(region=("neuroid", ["IT"] * 4 + ["V4"] * 2))
    store = nx.open_store(tmp_path / "study.zarr")
    store.write_neural("monkey", R)
    store.write_features("net", "l1", F)
    store.write_features("net", "l2", F * 2.0)
    back = store.read_neural("monkey")
    assert back.dims == R.dims and back.encoding["chunks"][3] == len(BINS)
    sub = nx.read_set(store, nx.resolve(store, "monkey.IT"))
    np.testing.assert_array_equal(sub.values, R.values[:, :4])
    assert sub.dims == R.dims and list(sub.time_bin_end.values) == [10, 20, 30, 40]
    ds = _quiet(nx.score, store, "forward", "net.l1", "monkey.IT", reps=2)
    ref = _quiet(nx.forward, F, R.isel(neuroid=slice(0, 4)), reps=2)
    np.testing.assert_allclose(ds["ev"].values, ref["ev"].values, equal_nan=True)
    assert nx.lookup(store, "forward", "net.l1", "monkey.IT", params={"reps": 2}) is not None
    res = _quiet(nx.sweep, store, directions=("forward",), regions=["IT"], client="serial", progress=False, reps=2)
    table = res.table
    assert len(table) == 2 * len(BINS)
    assert res.best_layers.empty  # time-resolved entries choose no layer
    row = table[(table.layer == "l1") & (table.time_bin_start == 10)].iloc[0]
    assert row.median_ev == pytest.approx(np.nanmedian(ref["ev"].isel(time_bin=1).mean("rep").values))
    from click.testing import CliRunner

    from neuroxr.cli import main

    out = CliRunner().invoke(main, ["score", "forward", str(tmp_path / "study.zarr"), "net.l2", "monkey.V4", "--reps", "2"])
    assert out.exit_code == 0, out.output
    assert "2 targets x 4 time bins" in out.output
    _quiet(nx.score, store, "temporal_generalization", "net.l1", "monkey.IT", n_folds=4)
    page = write_report(store, tmp_path / "report", format="md", reliability=True, reliability_reps=2)
    text = page.read_text()
    assert "Scores over time" in text and "time_forward_monkey.IT" in text and "time-resolved" in text
    assert "Temporal generalisation (model -> brain) net.l1 -> monkey.IT" in text and "tg_net.l1__monkey.IT" in text


def test_time_resolved_schemas_agree_with_validators():
    F, R = _data()
    ds = _quiet(nx.forward, F, R, reps=2)
    nx.validate_against_schema(R, "neural")
    nx.validate_against_schema(ds, "scores")
    for bad, kind in ((R.drop_vars("time_bin_start"), "neural"), (ds.drop_vars("time_bin_end"), "scores")):
        with pytest.raises(nx.NeuroxrError):
            nx.validate_against_schema(bad, kind)
        with pytest.raises(LayoutError):
            (nx.validate_neural if kind == "neural" else nx.validate_scores)(bad)


def test_brainscore_temporal_round_trip():
    from neuroxr.io import from_brainscore, to_brainscore

    _, R = _data(nan=True)
    asm = to_brainscore(R)
    assert asm.dims == ("presentation", "neuroid", "time_bin")
    back = from_brainscore(asm, name="monkey")
    order = np.argsort(R.stimulus_id.values)
    np.testing.assert_array_equal(back.sortby("stimulus_id").values, R.values[order])
    np.testing.assert_array_equal(back.time_bin_start.values, R.time_bin_start.values)


def test_per_bin_warnings_name_their_bins():
    F, R = _data()
    R = R.copy()
    R[:, 2, :, 1] = np.nan  # neuroid 2 has no valid trial at bin 1 only
    with pytest.warns(nx.NeuroxrWarning, match=r"no valid trial.*\(time bin 1\)$"):
        nx.reverse(R, F, reps=1)


def test_forward_warnings_count_the_neuroid_bin_targets_they_count():
    """Forward's one operator scores every (neuroid, time bin) as a target; its warnings counted them as
    neuroids: '8 neuroids have no valid trial' of 6 neuroids."""
    F, R = _data()
    vals = R.values.copy()
    gone = [(j, t) for j in (0, 3) for t in range(4)]  # neuroids 0 and 3 at every bin: 8 targets of 6 neuroids
    for j, t in gone:
        vals[:, j, :, t] = np.nan
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = nx.forward(F, R.copy(data=vals), reps=1)
    lines = [str(w.message) for w in said if "no valid trial" in str(w.message)]
    assert len(lines) == 1 and lines[0].startswith(f"forward: neural (monkey): {len(gone)} (neuroid, time bin) targets have no "
                                                   "valid trial (all NaN)")
    assert not any(f"{len(gone)} neuroids" in str(w.message) for w in said)
    assert int(out["ev"].isnull().all("rep").sum()) == len(gone)


def test_a_bin_without_targets_counts_its_own_predictors():
    """A bin of neural_b without data (NaN numbers) took n_predictors from the first scored bin: 2 where
    neural_a has 3 neuroids with data in that bin."""
    from neuroxr.predictivity.inference import bootstrap

    _, R = _data(n=30, k=4)
    _, A = _data(seed=1, n=30, k=3)
    A = A.assign_coords(stimulus_id=R.stimulus_id, neuroid_id=("neuroid", ["a0", "a1", "a2"]))
    a, b = A.values.copy(), R.values.copy()
    a[:, 0, :, 0] = np.nan  # A's neuroid a0 without data in bin 0 only
    b[..., 1] = np.nan  # B has no data in bin 1: its numbers are NaN
    A, B = A.copy(data=a), R.copy(data=b)
    own = [int(np.isfinite(a[..., t]).any(axis=(0, 2)).sum()) for t in range(len(BINS))]  # A's neuroids with data per bin
    assert own == [2, 3, 3, 3]
    got = _quiet(nx.inter_animal, A, B, reps=1)
    assert got.attrs["n_predictors"] == own and got.attrs["n_stimuli"][1] == 0
    assert np.isnan(got["ev"].isel(time_bin=1)).all()
    assert _quiet(bootstrap, "inter_animal", A, B, reps=1, n_boot=3).attrs["n_predictors"] == own  # the direction's count
    for t in (0, 2):  # the scored bins: the static call's count
        assert _quiet(nx.inter_animal, bin_slice(A, t), bin_slice(B, t), reps=1).attrs["n_predictors"] == own[t]


def _one_unscored_bin(how):
    """``_data`` whose bin 2 has no target to score: one valid repeat only, or no trial at all."""
    F, R = _data(seed=3, n=30, k=4)
    vals = R.values.copy()
    vals[:, :, 1 if how == "one_repeat" else 0:, 2] = np.nan
    return F, R.copy(data=vals)


# split_half_reliability of a bin recorded once is NaN by its own rule (no split): not this case
@pytest.mark.parametrize(("how", "call"), [(h, c) for h in ("one_repeat", "all_nan")
                                           for c in ("bootstrap", "permutation", "pls", "reliability")
                                           if (h, c) != ("one_repeat", "reliability")])
def test_a_bin_without_any_target_to_score_is_nan_as_in_forwards_one_operator(how, call):
    # forward's one operator leaves such a bin NaN; every per-bin call scores the other bins the same way
    from neuroxr.predictivity.inference import bootstrap, permutation_test

    F, R = _one_unscored_bin(how)
    fn = {"bootstrap": lambda X: bootstrap("forward", F, X, n_boot=20, reps=2),
          "permutation": lambda X: permutation_test("forward", F, X, n_perm=19, reps=2, min_reliability=0.0),
          "pls": lambda X: nx.forward(F, X, reps=2, regressor="pls", n_components=2),
          "reliability": lambda X: nx.split_half_reliability(X, reps=2)}[call]
    with pytest.warns(nx.NeuroxrWarning, match=r"nothing to score: its numbers are NaN \(time bin 2\)$"):
        ds = fn(R)
    for t in (0, 1, 3):
        alone = _quiet(fn, bin_slice(R, t))
        for name, v in alone.data_vars.items():
            np.testing.assert_array_equal(ds[name].isel(time_bin=t).values, v.values, err_msg=name)
    empty = ds.isel(time_bin=2)
    for name, v in empty.data_vars.items():
        if v.dtype.kind == "f" and name != "boot_index":
            assert np.isnan(v.values).all(), name
    if "included" in ds:
        assert not empty["included"].any() if call == "permutation" else empty["included"].all()
    if call == "bootstrap":
        assert (empty["n_boot_undefined"] == 20).all() and (empty["median_ev_n_targets"] == 0).all()
    plain = _quiet(nx.forward, F, R, reps=2)  # the one operator's counts of the bin
    assert ds.attrs["n_stimuli"] == plain.attrs["n_stimuli"] and plain.attrs["n_stimuli"][2] == 0
    assert ds.attrs["n_excluded_stimuli"] == plain.attrs["n_excluded_stimuli"]


def test_a_time_resolved_input_without_any_target_to_score_is_refused():
    F, R = _data(seed=3, n=30, k=4)
    with pytest.raises(LayoutError, match="every neuroid is all NaN"):
        _quiet(nx.split_half_reliability, R.copy(data=np.full(R.shape, np.nan)))


@pytest.mark.parametrize("repeats", [1, 4])
def test_an_unscored_bins_included_follows_forwards_one_operator(repeats):
    # min_reliability judges reliabilities only of data with repeats; trial-averaged targets all count
    from neuroxr.predictivity.inference import bootstrap

    F, R = _one_unscored_bin("all_nan")
    if repeats == 1:
        R = nx.neural(R.mean("repeat").transpose("stimulus", "neuroid", "time_bin").values,
                      stimulus_id=R.stimulus_id.values, time_bins=BINS, name="monkey")
    mr = {"min_reliability": 0.1} if repeats > 1 else {}  # trial-averaged: refused, it would judge nothing
    if repeats == 1:
        with pytest.raises(nx.errors.ParameterError, match="min_reliability=0.1 has no effect without a noise ceiling"):
            _quiet(nx.forward, F, R, min_reliability=0.1)
    want = _quiet(nx.forward, F, R, **mr).included.isel(time_bin=2).values
    assert want.all() == (repeats == 1) and not want.any() == (repeats > 1)
    for got in (_quiet(nx.forward, F, R, **mr, regressor="pls", n_components=2),
                _quiet(bootstrap, "forward", F, R, n_boot=5, **mr)):
        np.testing.assert_array_equal(got.included.isel(time_bin=2).values, want)
