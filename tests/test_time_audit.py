"""Time-resolved results against the per-bin calls: the bins' coords of every input carried to the
result (labels, units), whichever input gives them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx

BINS = [(0, 10), (10, 20), (20, 30)]
LABELS = np.array(["base", "early", "late"])


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        return fn(*args, **kw)


def _animals(n=30, k=3, T=4, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    F = nx.features(rng.normal(size=(n, 5)), stimulus_id=ids, name="net")
    lat = np.einsum("np,pkt->nkt", F.values, rng.normal(size=(5, k, len(BINS))))
    A = nx.neural(lat[:, :, None] + rng.normal(size=(n, k, T, len(BINS))), stimulus_id=ids, time_bins=BINS, name="A")
    B = nx.neural(lat[:, :, None] + rng.normal(size=(n, k, T, len(BINS))), stimulus_id=ids, time_bins=BINS, name="B")
    return F, A, B.assign_coords(neuroid_id=("neuroid", [f"b{j}" for j in range(k)]))


@pytest.mark.parametrize("call", ["inter_animal", "bootstrap", "temporal_generalization"])
def test_the_second_animals_bin_labels_are_carried(call):
    """inter_animal(A, B) with the bins labeled on B (the target) alone dropped the labels and any
    per-bin coord: the result took the bins' coords from the first animal only. Now each input's
    coords on time_bin that the first lacks are carried (in the first's bin order)."""
    from neuroxr.predictivity.inference import bootstrap

    _, A, B = _animals()
    epoch = np.array([0, 1, 1])
    LB = B.assign_coords(time_bin=LABELS, epoch=("time_bin", epoch)).isel(time_bin=[2, 0, 1])  # other order
    if call == "inter_animal":
        ds = _quiet(nx.inter_animal, A, LB, reps=1)
        dims = ["time_bin"]
    elif call == "bootstrap":
        ds = _quiet(bootstrap, "inter_animal", A, LB, reps=1, n_boot=3)
        dims = ["time_bin"]
    else:  # the target unlabeled, the source animal labeled
        ds = _quiet(nx.temporal_generalization, LB, A, n_folds=5)
        dims = ["time_bin_train", "time_bin_test"]
    for dim in dims:
        np.testing.assert_array_equal(ds[f"{dim}_start"].values, [b[0] for b in BINS])  # the first's order
        np.testing.assert_array_equal(ds[dim].values, LABELS)
        np.testing.assert_array_equal(ds["epoch" if dim == "time_bin" else f"{dim}_epoch"].values, epoch)


def test_the_first_inputs_labels_win_where_both_give_them():
    _, A, B = _animals()
    ds = _quiet(nx.inter_animal, A.assign_coords(time_bin=["a0", "a1", "a2"]), B.assign_coords(time_bin=LABELS), reps=1)
    np.testing.assert_array_equal(ds["time_bin"].values, ["a0", "a1", "a2"])


def test_the_bins_coord_attrs_are_carried():
    """The attrs of the bins' coords (their units) were dropped by every time-resolved result."""
    F, A, B = _animals()
    B = B.copy()
    B["time_bin_start"].attrs["units"] = "ms"
    B["time_bin_end"].attrs["units"] = "ms"
    for ds, dims in ((_quiet(nx.forward, F, B, reps=1), ["time_bin"]),
                     (_quiet(nx.inter_animal, A, B, reps=1), ["time_bin"]),
                     (_quiet(nx.temporal_generalization, F, B, n_folds=5), ["time_bin_train", "time_bin_test"])):
        for dim in dims:
            assert ds[f"{dim}_start"].attrs.get("units") == "ms" and ds[f"{dim}_end"].attrs.get("units") == "ms"


@pytest.mark.parametrize("call", ["inter_animal", "reverse", "pls", "bootstrap", "bootstrap_reverse"])
def test_a_bin_left_too_few_stimuli_by_missing_trials_is_nan(call):
    """A bin whose missing trials leave it fewer stimuli than n_folds (the others are complete): the
    per-bin calls refused the whole call (naming the bin), while forward's one operator gave that
    bin's targets NaN with a warning. Missing values have one meaning (docs/predictivity.md,
    "Missing values"; docs/time.md): every path gives that bin NaN, with a warning naming it, its
    stimulus counts those of forward's one operator, and scores the other bins as their own slices."""
    from neuroxr.predictivity.inference import bootstrap

    F, A, B = _animals()
    v = B.values.copy()
    v[8:, :, :, 2] = np.nan  # bin 2 keeps 8 stimuli
    B = B.copy(data=v)
    run = {"inter_animal": lambda b, a=A: nx.inter_animal(a, b, reps=1),
           "reverse": lambda b, a=A: nx.reverse(b, F, reps=1),
           "pls": lambda b, a=A: nx.forward(F, b, reps=1, regressor="pls", n_components=2),
           "bootstrap": lambda b, a=A: bootstrap("inter_animal", a, b, reps=1, n_boot=3),
           "bootstrap_reverse": lambda b, a=A: bootstrap("reverse", b, F, reps=1, n_boot=3)}[call]
    with pytest.warns(nx.NeuroxrWarning, match=r"too few stimuli for the folds: 8 stimuli .*its numbers are NaN \(time bin 2\)"):
        ds = run(B)
    var = "ev" if "ev" in ds else "median_ev"
    assert np.isnan(ds[var].isel(time_bin=2)).all()
    for t in (0, 1):  # the other bins: their own slices' numbers
        alone = _quiet(run, B.isel(time_bin=t), A.isel(time_bin=t))
        np.testing.assert_array_equal(ds[var].isel(time_bin=t).values, alone[var].values)
    assert ds.attrs["n_stimuli"] == [30, 30, 8] and ds.attrs["n_excluded_stimuli"] == [0, 0, 22]
    if call == "pls":  # forward's one operator (ridge) counts that bin alike
        assert _quiet(nx.forward, F, B, reps=1).attrs["n_stimuli"] == ds.attrs["n_stimuli"]


@pytest.mark.parametrize("call", ["reverse", "inter_animal", "bootstrap_reverse"])
def test_a_bin_left_too_few_stimuli_records_its_own_predictors(call):
    """The NaN bin's n_predictors is that bin's (one predictor neuroid without data there), not
    another bin's."""
    from neuroxr.predictivity.inference import bootstrap

    F, A, B = _animals()
    v = B.values.copy()
    v[8:, :, :, 2] = np.nan
    v[:, 0, :, 2] = np.nan  # bin 2: 8 stimuli, 2 predictor neuroids
    B = B.copy(data=v)
    run = {"reverse": lambda: nx.reverse(B, F, reps=1), "inter_animal": lambda: nx.inter_animal(B, A, reps=1),
           "bootstrap_reverse": lambda: bootstrap("reverse", B, F, reps=1, n_boot=3)}[call]
    ds = _quiet(run)
    assert ds.attrs["n_predictors"] == [3, 3, 2] and ds.attrs["n_stimuli"] == [30, 30, 8]


@pytest.mark.parametrize("call", ["reverse", "inter_animal"])
def test_a_bin_refused_alone_is_named(call):
    """A per-bin refusal of one bin other than missing values leaving too few stimuli (max_n at the
    number of predictor neuroids a bin keeps) names that bin and how to leave it out."""
    F, A, B = _animals()
    v = B.values.copy()
    v[:, 0, :, 2] = np.nan  # bin 2: one predictor neuroid without data, 2 left
    B = B.copy(data=v)
    run = {"reverse": lambda: nx.reverse(B, F, reps=2, max_n=2),
           "inter_animal": lambda: nx.inter_animal(B, A, reps=2, max_n=2)}[call]
    with pytest.raises(nx.errors.ParameterError, match=rf"^{call}: time bin 2 \(20-30 ms\): .*max_n=2 has no effect .* "
                                                        r"Or (select the other bins|drop that bin from both animals), e\.g\. "
                                                        r".*drop_isel\(time_bin=2\)") as err:
        _quiet(run)
    assert "\n" not in str(err.value)


def test_a_refusal_true_of_every_bin_keeps_the_static_message():
    _, A, B = _animals(n=8)
    with pytest.raises(nx.errors.LayoutError, match=r"^inter_animal: neural_b \(B\): too few stimuli for the folds: 8"):
        _quiet(nx.inter_animal, A, B, reps=1)


def test_differing_bins_are_named_and_float32_edges_are_said_to_be_rounding():
    """Two animals' bins that differ were refused without naming a bin, also where one recording stored
    its edges in float32 (0.1 ms as 0.10000000149...), which looks like the same bins to a user."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(30)]
    bins = [(0.1, 50.0), (50.0, 100.0)]
    A = nx.neural(rng.normal(size=(30, 4, 3, 2)), ids, time_bins=bins)
    B32 = nx.neural(rng.normal(size=(30, 5, 3, 2)), ids, time_bins=[tuple(float(np.float32(t)) for t in b) for b in bins])
    with pytest.raises(nx.errors.LayoutError, match=r"their time bins differ .* Bins of neural_a \(neural\) alone: "
                       r"\[\(0\.1, 50\.0\)\]; of neural_b \(neural\) alone: \[\(0\.1000000014\d*, 50\.0\)\] "
                       r"\(equal up to float32 rounding"):
        _quiet(nx.inter_animal, A, B32, reps=1)
    C = nx.neural(rng.normal(size=(30, 5, 3, 3)), ids, time_bins=[*bins, (100.0, 150.0)])
    with pytest.raises(nx.errors.LayoutError, match=r"Bins of neural_b \(neural\) alone: \[\(100\.0, 150\.0\)\]\.$"):
        _quiet(nx.inter_animal, A, C, reps=1)


def test_compare_at_a_bin_without_a_target_to_score_is_undefined_not_other_resamples():
    """A bin with no target to score holds NaN draws (``boot_index``): ``compare`` of two layers there said
    their resamples differed ("bootstrap every score with the same seed"); they are the same, all undefined."""
    from neuroxr.predictivity.inference import bootstrap, compare

    rng = np.random.default_rng(2)
    n, ids = 24, [f"s{i:02d}" for i in range(24)]
    Fv = rng.normal(size=(n, 5))
    R = (Fv @ rng.normal(size=(5, 3)))[:, :, None, None] + rng.normal(size=(n, 3, 4, 2))
    R[..., 1] = np.nan  # bin 1: no trial
    neural = nx.neural(R, ids, time_bins=[(0, 50), (50, 100)], name="m")
    boots = {}
    for name, units in (("a", 5), ("b", 2)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            boots[name] = bootstrap("forward", nx.features(Fv[:, :units], ids), neural, n_boot=20, reps=2)
    with pytest.warns(nx.NeuroxrWarning, match="undefined"):
        dead = compare({k: b.isel(time_bin=1) for k, b in boots.items()})
    assert np.isnan(dead["diff"].values).all() and np.isnan(dead["diff_ci"].values).all()
    assert int(dead["n_boot_undefined"][0]) == 20
    live = compare({k: b.isel(time_bin=0) for k, b in boots.items()})
    ref = boots["a"].median_ev_boot.isel(time_bin=0).values - boots["b"].median_ev_boot.isel(time_bin=0).values
    np.testing.assert_allclose(live["diff_ci"].values[0], np.quantile(ref, [0.025, 0.975]))


@pytest.mark.parametrize("call", ["bootstrap", "permutation_test"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "model_to_model"])
@pytest.mark.parametrize("timed_neural", [False, True])
def test_features_with_time_bins_are_refused_as_the_direction_refuses_them(call, direction, timed_neural):
    """Features have no time bins: a feature set with a ``time_bin`` dim was read as neural responses by
    the inference's per-bin path ("does not match the layout ('stimulus', 'neuroid', 'repeat', 'time_bin')
    (missing ['neuroid', 'repeat'], ...)") or told to prepare one bin at a time; the direction's own
    features message is given, naming the dim that does not belong."""
    from neuroxr.predictivity import inference

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(20)]
    edges = [(0, 50), (50, 100)]
    F = nx.features(rng.normal(size=(20, 4)), ids, name="net")
    Ft = F.expand_dims(time_bin=2, axis=-1).assign_coords(time_bin_start=("time_bin", [0, 50]),
                                                          time_bin_end=("time_bin", [50, 100]))
    R = nx.neural(rng.normal(size=(20, 3, 4, 2)), ids, time_bins=edges, name="m") if timed_neural \
        else nx.neural(rng.normal(size=(20, 3, 4)), ids, name="m")
    args = {"forward": (Ft, R), "reverse": (R, Ft), "model_to_model": (Ft, F)}[direction]
    size = {"n_boot": 5} if call == "bootstrap" else {"n_perm": 5}
    with pytest.raises(nx.LayoutError) as own:
        getattr(nx, direction)(*args)
    with pytest.raises(nx.LayoutError) as got:
        getattr(inference, call)(direction, *args, **size)
    assert "unexpected ['time_bin']" in str(own.value) and "neuroid" not in str(got.value)
    assert str(got.value) == str(own.value).replace(f"{direction}: ", f"{call}: ", 1)
