"""The directions and their inference against what docs/predictivity.md, docs/targets.md,
docs/inference.md, docs/kernels.md and docs/time.md say of them, statement by statement."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr import predictivity as pv

N = 40


def _ids(n=N):
    return [f"s{i:02d}" for i in range(n)]


def _data(seed=0, n=N, k=4, p=6, t=3):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, p))
    R = F[:, :k, None] + rng.normal(size=(n, k, t))
    return F, R


def _messages(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught]


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_a_target_without_a_scored_stimulus_is_not_called_constant(direction):
    # docs/predictivity.md, "Missing values": a target with fewer usable stimuli than n_folds is NaN
    # with a warning naming it; it is not "constant across stimuli" (it has no scored stimulus at all)
    F, R = _data()
    R[:, 1, 1:] = np.nan  # neuroid1: one valid repeat at every stimulus, the ceiling needs 2
    neural = nx.neural(R, _ids())
    if direction == "forward":
        call = lambda: pv.forward(nx.features(F, _ids()), neural, reps=2)  # noqa: E731
    else:
        A = F[:, :, None] + np.random.default_rng(1).normal(size=(N, F.shape[1], 3))
        call = lambda: pv.inter_animal(nx.neural(A, _ids()), neural, reps=2)  # noqa: E731
    ds, msgs = _messages(call)
    assert np.isnan(ds.ev.isel(neuroid=1)).all()
    assert any("fewer usable stimuli" in m and "neuroid1" in m for m in msgs)
    assert not any("constant across stimuli" in m for m in msgs), msgs


def test_an_all_zero_target_is_still_called_constant():
    F, R = _data()
    R[:, 2] = 0.0
    ds, msgs = _messages(lambda: pv.forward(nx.features(F, _ids()), nx.neural(R, _ids()), reps=2))
    assert np.isnan(ds.ev.isel(neuroid=2)).all()
    assert any("1 neuroids are constant across stimuli" in m and "neuroid2" in m for m in msgs)


def test_split_half_reliability_judges_constancy_on_the_stimuli_it_counts():
    # docs/predictivity.md, "Constant inputs": split_half_reliability applies forward's rule, trial
    # means over the stimuli it counts (2 valid repeats): a neuroid constant there has anti-correlated
    # halves, Spearman-Brown -inf; it is NaN with the warning, as forward scores it NaN
    rng = np.random.default_rng(0)
    R = rng.normal(size=(30, 3, 2))
    R[:, 1, 0] = 5 + rng.normal(size=30)
    R[:, 1, 1] = 10 - R[:, 1, 0]  # trial mean 5 at every stimulus with both repeats
    R[:5, 1, 1] = np.nan  # 5 stimuli with one repeat (not counted): their means are not 5
    neural = nx.neural(R, _ids(30))
    ds, msgs = _messages(lambda: pv.split_half_reliability(neural, reps=2))
    fw, fmsgs = _messages(lambda: pv.forward(nx.features(rng.normal(size=(30, 4)), _ids(30)), neural, reps=2, n_folds=5))
    assert np.isnan(fw.ev.isel(neuroid=1)).all() and any("constant across stimuli" in m for m in fmsgs)
    assert np.isnan(ds.reliability.isel(neuroid=1)).all() and np.isnan(ds.r_half.isel(neuroid=1)).all()
    assert any("1 neuroids are constant across stimuli" in m and "neuroid1" in m for m in msgs)
    assert np.isfinite(ds.reliability.isel(neuroid=[0, 2])).all()


@pytest.mark.parametrize("call", ["forward", "bootstrap"])
def test_a_target_whose_slot_halves_are_empty_in_every_rep_is_named(call):
    # docs/predictivity.md, "Missing values": split="slots" keeps a stimulus with one usable repeat,
    # so a half can be empty there; with one valid trial of 4 one half is empty in every rep: the
    # target's prediction_shc, ceiling and ev are NaN in every rep (r is not), and a warning says so
    # (it was silent: no other warning counts a target with a finite r)
    from neuroxr.predictivity.inference import bootstrap

    F, R = _data(seed=2, t=4)
    R[3, 1, 1:] = np.nan  # neuroid1: one valid trial at stimulus 3
    feats, neural = nx.features(F, _ids()), nx.neural(R, _ids())
    run = {"forward": lambda: pv.forward(feats, neural, reps=4, split="slots"),
           "bootstrap": lambda: bootstrap("forward", feats, neural, reps=4, split="slots", n_boot=10)}[call]
    ds, msgs = _messages(run)
    assert np.isnan(ds.ev.isel(neuroid=1)).all() and np.isfinite(ds.ev.isel(neuroid=[0, 2, 3])).all()
    if "r" in ds:
        assert np.isfinite(ds.r.isel(neuroid=1)).all()
    assert any("1 neuroids have prediction_shc, ceiling and ev NaN in every rep: ['neuroid1']" in m
               and "split='valid'" in m for m in msgs), msgs


@pytest.mark.parametrize("call", ["forward", "bootstrap"])
def test_every_target_whose_slot_halves_are_empty_is_named(call):
    # the same when every target has a stimulus with one valid trial (one neuroid; or two repeats
    # with the second missing at some stimuli): every rep then lost every target's prediction_shc,
    # which the warning took for the predictor halves that forward does not have, and said nothing
    from neuroxr.predictivity.inference import bootstrap

    F, R = _data(seed=2, t=2)
    R[3, :, 1] = np.nan
    feats = nx.features(F, _ids())
    for neural in (nx.neural(R, _ids()), nx.neural(R[:, :1], _ids())):
        run = {"forward": lambda neural=neural: pv.forward(feats, neural, reps=3, split="slots"),
               "bootstrap": lambda neural=neural: bootstrap("forward", feats, neural, reps=3, split="slots",
                                                            n_boot=10)}[call]
        ds, msgs = _messages(run)
        k = neural.sizes["neuroid"]
        assert np.isnan(ds.ev).all()
        assert any(f"{k} neuroids have prediction_shc, ceiling and ev NaN in every rep" in m
                   and "split='valid'" in m for m in msgs), msgs


@pytest.mark.parametrize("call", ["forward", "bootstrap"])
@pytest.mark.parametrize("split", ["valid", "slots"])
def test_a_target_whose_half_is_constant_in_every_rep_is_named_for_that(call, split):
    # a neuroid silent but for one trial (every trial valid): its trial means vary, but in every rep
    # one split half is all zeros, whose predictions have no correlation: prediction_shc, ceiling and
    # ev NaN in every rep. split='valid' said nothing; 'slots' blamed too few valid trials
    from neuroxr.predictivity.inference import bootstrap

    F, R = _data(seed=2, t=4)
    R[:, 1] = 0.0
    R[7, 1, 0] = 1.0
    feats, neural = nx.features(F, _ids()), nx.neural(R, _ids())
    run = {"forward": lambda: pv.forward(feats, neural, reps=3, split=split),
           "bootstrap": lambda: bootstrap("forward", feats, neural, reps=3, split=split, n_boot=10)}[call]
    ds, msgs = _messages(run)
    assert np.isnan(ds.ev.isel(neuroid=1)).all() and np.isfinite(ds.ev.isel(neuroid=[0, 2, 3])).all()
    said = [m for m in msgs if "1 neuroids have prediction_shc, ceiling and ev NaN in every rep: ['neuroid1']" in m]
    assert len(said) == 1 and "a split half constant across the stimuli in every rep" in said[0], msgs
    assert ("too few valid trials" in said[0]) == (split == "slots")


@pytest.mark.parametrize("call", ["inter_animal", "bootstrap"])
@pytest.mark.parametrize("split", ["valid", "slots"])
def test_an_inter_animal_target_whose_own_halves_have_no_reliability_is_named(call, split):
    # B's halves enter target_shc alone: a B neuroid silent but for one trial has a constant half in
    # every rep, and under split='slots' B with one valid trial per stimulus has no complete pair of
    # halves; target_shc, ceiling and ev were NaN in every rep without a word
    from neuroxr.predictivity.inference import bootstrap

    _, RA = _data(seed=5, t=4)
    _, RB = _data(seed=6, t=4)
    RB[:, 1] = 0.0
    RB[7, 1, 0] = 1.0
    cases = [(RB, 1, "a split half constant across the stimuli")]
    if split == "slots":
        one = RB.copy()
        one[:, :, 1:] = np.nan
        cases.append((one, 4, "fewer than 3 stimuli with a valid trial in both split halves"))
    a = nx.neural(RA, _ids())
    for B, count, cause in cases:
        b = nx.neural(B, _ids(), [f"b{j}" for j in range(B.shape[1])])
        run = {"inter_animal": lambda b=b: pv.inter_animal(a, b, reps=3, split=split),
               "bootstrap": lambda b=b: bootstrap("inter_animal", a, b, reps=3, split=split, n_boot=10)}[call]
        ds, msgs = _messages(run)
        assert np.isnan(ds.ev.isel(neuroid=1)).all()
        said = [m for m in msgs if f"{count} neuroids have target_shc, ceiling and ev NaN in every rep: ['b" in m]
        assert len(said) == 1 and cause in said[0], msgs


def test_the_lost_reps_warning_names_the_inter_animal_predictor_argument():
    # the inter-animal direction's warning of a predictor's empty slot halves named it `neural`
    _, RA = _data(seed=5, t=4)
    _, RB = _data(seed=6, t=4)
    RA[3, 1, 1:] = np.nan
    _, msgs = _messages(lambda: pv.inter_animal(nx.neural(RA, _ids()), nx.neural(RB, _ids(), list("abcd")), reps=2,
                                                split="slots"))
    assert any(m.startswith("inter_animal: neural_a (") and "in 2 of 2 reps" in m for m in msgs), msgs


def test_a_reverse_bootstrap_says_why_its_slot_halves_predict_nothing():
    # the direction warns that a predictor neuroid's empty slot half left every rep's ceiling NaN;
    # its bootstrap said only that the median was undefined in every resample
    from neuroxr.predictivity.inference import bootstrap

    F, R = _data(seed=2, t=4)
    R[3, 1, 1:] = np.nan
    ds, msgs = _messages(lambda: bootstrap("reverse", nx.neural(R, _ids()), nx.features(F, _ids()), reps=4,
                                           split="slots", n_boot=10))
    assert np.isnan(ds.ev).all()
    assert any("in 4 of 4 reps every target's prediction_shc, ceiling and ev are NaN" in m for m in msgs), msgs


def test_model_to_model_inference_records_its_one_rep():
    # docs/inference.md: model-to-model inference refuses reps other than its default 1 (every rep is the
    # same fit); its attrs recorded reps=20 (prepare's default) when reps was not given, 1 when it was
    from neuroxr.predictivity.inference import bootstrap, permutation_test

    rng = np.random.default_rng(0)
    A, B = nx.features(rng.normal(size=(N, 5)), _ids()), nx.features(rng.normal(size=(N, 4)), _ids())
    assert pv.model_to_model(A, B).attrs["reps"] == 1
    for fn, kw in ((bootstrap, {"n_boot": 5}), (permutation_test, {"n_perm": 5})):
        assert fn("model_to_model", A, B, **kw).attrs["reps"] == 1
        assert fn("model_to_model", A, B, reps=1, **kw).attrs == fn("model_to_model", A, B, **kw).attrs


def test_values_varying_only_about_a_large_baseline_are_told_to_subtract_it():
    # docs/kernels.md: a genuine spread below 2.4e-7 of the values' magnitude counts as constant, and
    # the messages say the way out; the directions' refusal said "a dead layer" and their targets'
    # warning said nothing. Values equal up to rounding (trial means of 0.1, 0.2, 0.3 summed in two
    # orders) and exactly equal ones keep the old messages.
    from neuroxr.errors import NoPredictor
    from neuroxr.kernels.splits import nanmean_repeats

    F, R = _data(seed=4)
    ids = _ids()
    neural = nx.neural(R, ids)
    for design, expect in ((F + 1e9, "subtract the baseline first"), (0 * F + 0.7, "a dead layer")):
        with pytest.raises(NoPredictor, match="every predictor column is constant across stimuli") as err:
            _messages(lambda design=design: pv.forward(nx.features(design, ids), neural, reps=2))
        assert expect in str(err.value) and ("baseline" in str(err.value)) == (expect != "a dead layer")
    with pytest.raises(NoPredictor, match="neural.*subtract the baseline first"):
        _messages(lambda: pv.reverse(nx.neural(R + 1e9, ids), nx.features(F, ids), reps=2))
    Rt = R.copy()
    Rt[:, 0] += 1e10  # varies about a large baseline
    Rt[::2, 1], Rt[1::2, 1] = [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]  # trial mean 0.2 up to rounding
    assert np.ptp(nanmean_repeats(Rt[:, 1:2])) > 0  # the case: rounding, not equal values
    ds, msgs = _messages(lambda: pv.forward(nx.features(F, ids), nx.neural(Rt, ids), reps=2))
    assert np.isnan(ds.ev.isel(neuroid=[0, 1])).all() and np.isfinite(ds.ev.isel(neuroid=[2, 3])).all()
    said = [m for m in msgs if "2 neuroids are constant across stimuli" in m]
    assert len(said) == 1 and "1 of them vary by less than that about a large baseline: subtract it first" in said[0], msgs
