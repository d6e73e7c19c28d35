"""Temporal generalisation with missing values: each (neuroid, train bin, test bin) target is
scored on the stimuli valid at both bins (the directions' rule), the other targets unaffected."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge

import neuroxr as nx
from neuroxr.kernels.folds import kfold_indices

BINS = [(0, 10), (10, 20), (20, 30), (30, 40)]


def _sets(seed=0, n=40, k=4, p=6, T=3):
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:03d}" for i in rng.permutation(n)])
    F = nx.features(rng.normal(size=(n, p)), stimulus_id=ids, name="net")
    gain = rng.normal(size=(p, k, len(BINS)))
    R = np.einsum("np,pkt->nkt", F.values, gain)[:, :, None, :] + rng.normal(size=(n, k, T, len(BINS)))
    return F, R, ids


def _neural(R, ids, name="monkey"):
    return nx.neural(R, stimulus_id=ids, time_bins=BINS, name=name)


def _by_hand(design, B, ok, alpha, n_folds):
    """scikit-learn Ridge per (neuroid, t1, t2) on the stimuli ``ok`` at both bins (canonical order)."""
    k, nt = B.shape[1:]
    r = np.full((k, nt, nt), np.nan)
    for j in range(k):
        for t1 in range(nt):
            for t2 in range(nt):
                S = np.flatnonzero(ok[:, j, t1] & ok[:, j, t2])
                P = np.empty(S.size)
                for train, test in kfold_indices(S.size, n_folds, 0):
                    m = Ridge(alpha=alpha).fit(design(t1)[S[train]], B[S[train], j, t1])
                    P[test] = m.predict(design(t2)[S[test]])
                r[j, t1, t2] = np.corrcoef(P, B[S, j, t2])[0, 1]
    return r


def _means(R):
    """NaN-mean over repeats (NaN, silently, where none is valid)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(R, axis=2)


def _tg(*args, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        g = nx.temporal_generalization(*args, **kw)
    return g, [str(w.message) for w in rec if issubclass(w.category, nx.NeuroxrWarning)]


def test_a_missing_trial_mean_drops_the_stimulus_only_for_the_targets_it_touches():
    F, R, ids = _sets()
    clean, _ = _tg(F, _neural(R, ids), alpha=0.5, n_folds=5)
    R = R.copy()
    R[7, 2, :, 1] = np.nan  # neuroid 2 has no valid trial at stimulus 7 in bin 1
    R[3, 0, :2, 3] = np.nan  # a missing trial, the mean still defined
    g, said = _tg(F, _neural(R, ids), alpha=0.5, n_folds=5)
    partial = np.zeros((4, 4, 4), dtype=bool)
    partial[2, 1, :] = partial[2, :, 1] = True
    assert g.attrs["n_partial_targets"] == 7 and (g.attrs["n_stimuli"], g.attrs["n_excluded_stimuli"]) == (40, 0)
    assert len(said) == 1 and said[0].startswith(
        "temporal_generalization: neural (monkey): 7 (neuroid, train bin, test bin) targets of 1 neuroids")
    # every other target is the complete-data call's (the missing trial of neuroid 0 changes its mean only)
    np.testing.assert_allclose(g["r"].values[[1, 3]], clean["r"].values[[1, 3]], atol=1e-12)
    np.testing.assert_allclose(g["r"].values[2][~partial[2]], clean["r"].values[2][~partial[2]], atol=1e-12)
    # neuroid 2 at bin 1: the call without stimulus 7, and scikit-learn on its valid stimuli
    drop = np.arange(40) != 7
    alone, _ = _tg(F.isel(stimulus=drop), _neural(R[drop], ids[drop]), alpha=0.5, n_folds=5)
    np.testing.assert_allclose(g["r"].values[2][partial[2]], alone["r"].values[2][partial[2]], atol=1e-12)
    order = np.argsort(ids)
    B = _means(R[order])
    ref = _by_hand(lambda t: F.values[order], B, np.isfinite(B), 0.5, 5)
    np.testing.assert_allclose(g["r"].values, ref, atol=1e-10)
    # the diagonal is still the forward direction's r (without a ceiling: one valid trial suffices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        fw = nx.forward(F, _neural(R, ids), reps=1, alpha=0.5, n_folds=5, noise_ceiling=False)
    np.testing.assert_allclose(np.diagonal(g["r"].values, axis1=1, axis2=2), fw["r"].isel(rep=0).values, atol=1e-10)


def test_inter_animal_missing_predictor_means_touch_their_bins_only():
    F, RA, ids = _sets(seed=1, k=5)
    _, RB, _ = _sets(seed=2, k=3)
    RA, RB = RA.copy(), RB.copy()
    RA[5, 1, :, 2] = np.nan  # a predictor neuroid without a trial at stimulus 5, bin 2: every target of bin 2
    RB[9, 0, :, 0] = np.nan  # target neuroid 0 without a trial at stimulus 9, bin 0
    RA[11, :, :, :] = RB[11, :, :, :] = np.nan  # stimulus 11 missing everywhere: excluded, counted
    g, said = _tg(_neural(RA, ids, "a"), _neural(RB, ids, "b"), alpha=2.0, n_folds=4)
    order = np.argsort(ids)
    A, B = _means(RA[order]), _means(RB[order])
    ok = np.isfinite(B) & np.isfinite(A).all(axis=1)[:, None, :]
    ref = _by_hand(lambda t: A[:, :, t], B, ok, 2.0, 4)
    np.testing.assert_allclose(g["r"].values, ref, atol=1e-10)
    assert (g.attrs["n_stimuli"], g.attrs["n_excluded_stimuli"]) == (39, 1)
    assert g.attrs["n_partial_targets"] == 3 * 7 + 5  # bin 2 for every neuroid, bin 0 (not with 2) for neuroid 0
    assert any("excluding 1 of 40 stimuli" in m for m in said)


def test_complete_data_are_unchanged_and_counted():
    F, R, ids = _sets(seed=3)
    g, said = _tg(F, _neural(R, ids), alpha=0.5, n_folds=5)
    assert not said and g.attrs["n_partial_targets"] == 0 and g.attrs["n_excluded_stimuli"] == 0
    order = np.argsort(ids)
    B = R[order].mean(axis=2)
    np.testing.assert_allclose(g["r"].values, _by_hand(lambda t: F.values[order], B, np.isfinite(B), 0.5, 5), atol=1e-10)


def test_a_target_with_too_few_stimuli_is_nan_with_a_warning():
    F, R, ids = _sets(seed=4, n=12)
    R = R.copy()
    R[:9, 1, :, 3] = np.nan  # neuroid 1 keeps 3 stimuli at bin 3: fewer than the 5 folds
    g, said = _tg(F, _neural(R, ids), alpha=0.5, n_folds=5)
    r = g["r"].values
    assert np.isnan(r[1, 3, :]).all() and np.isnan(r[1, :, 3]).all() and np.isfinite(np.delete(r, 1, axis=0)).all()
    # the directions' wording (one helper, _groups.warn_unscored)
    assert any("7 (neuroid, train bin, test bin) targets have fewer usable stimuli (3 at most) than n_folds=5 and "
               "are scored NaN: ['neuroid1 (0->3)'" in m and m.endswith("Use fewer folds to score them.") for m in said)
    with pytest.raises(nx.errors.LayoutError, match="no stimulus has a valid trial mean"):
        nx.temporal_generalization(F, _neural(np.full_like(R, np.nan), ids))


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        return fn(*args, **kw)


def _diagonal(g):
    return np.diagonal(g["r"].values, axis1=1, axis2=2)


@pytest.mark.parametrize("all_bins", [False, True])
def test_a_neuroid_without_data_in_a_bin_is_nan_at_that_bin_only(all_bins):
    F, R, ids = _sets(seed=5, k=3)
    clean, _ = _tg(F, _neural(R, ids), alpha=0.5, n_folds=5)
    R = R.copy()
    R[:, 2, :, slice(None) if all_bins else 1] = np.nan  # neuroid 2 has no valid trial in bin 1 (or at all)
    R[:4, 0, :, 1] = np.nan  # neuroid 0 misses 4 stimuli in bin 1: partial, scored
    g, said = _tg(F, _neural(R, ids), alpha=0.5, n_folds=5)
    r = g["r"].values
    dead = np.zeros((4, 4), dtype=bool)
    dead[:] = all_bins
    dead[1, :] = dead[:, 1] = True
    assert np.isnan(r[2][dead]).all()
    np.testing.assert_allclose(r[2][~dead], clean["r"].values[2][~dead], atol=1e-12)
    np.testing.assert_allclose(r[1], clean["r"].values[1], atol=1e-12)
    assert np.isfinite(r[0]).all() and g.attrs["n_partial_targets"] == 7
    named = [m for m in said if "no valid trial mean in some time bins" in m]
    assert len(named) == 1 and f"neuroid2 (bins {'0, 1, 2, 3' if all_bins else '1'})" in named[0]
    assert not any("fewer usable stimuli" in m or "n_folds=1" in m for m in said)
    fw = _quiet(nx.forward, F, _neural(R, ids), reps=1, alpha=0.5, n_folds=5, noise_ceiling=False)
    np.testing.assert_allclose(_diagonal(g), fw["r"].isel(rep=0).values, atol=1e-10)


def _inter_by_hand(A, B, alpha, n_folds):
    """scikit-learn Ridge per (neuroid, t1, t2): the predictors with a mean at both bins somewhere,
    the stimuli where the target and those predictors have a mean at both bins (NaN without any)."""
    k, nt = B.shape[1:]
    live = np.isfinite(A).any(axis=0)
    r = np.full((k, nt, nt), np.nan)
    for t1 in range(nt):
        for t2 in range(nt):
            P = live[:, t1] & live[:, t2]
            a1, a2 = A[:, P, t1], A[:, P, t2]
            for j in range(k):
                S = np.flatnonzero(np.isfinite(B[:, j, t1]) & np.isfinite(B[:, j, t2])
                                   & np.isfinite(a1).all(axis=1) & np.isfinite(a2).all(axis=1))
                if S.size < n_folds:  # a target without data in a bin: NaN
                    continue
                pred = np.empty(S.size)
                for train, test in kfold_indices(S.size, n_folds, 0):
                    pred[test] = Ridge(alpha=alpha).fit(a1[S[train]], B[S[train], j, t1]).predict(a2[S[test]])
                r[j, t1, t2] = np.corrcoef(pred, B[S, j, t2])[0, 1]
    return r


@pytest.mark.parametrize("case", ["trial_mean", "target_bin", "predictor_bin"])
def test_the_diagonal_is_the_directions_r_with_missing_data(case):
    """The documented diagonal (the direction's r per bin, noise_ceiling=False) with (a) a missing
    trial mean, (b) a target neuroid without data in a bin, (c) a predictor of A without data in a bin."""
    F, RA, ids = _sets(seed=6, k=5)
    _, RB, _ = _sets(seed=7, k=3)
    RA, RB = RA.copy(), RB.copy()
    RA[3, 0, :, 0] = np.nan  # a predictor's missing mean (drops stimulus 3 at bin 0 for every target)
    RB[8, 1, :, 2] = np.nan  # a target's missing mean
    if case == "target_bin":
        RB[:, 2, :, 1] = np.nan
    if case == "predictor_bin":
        RA[:, 4, :, 3] = np.nan  # predictor 4 has no trial in bin 3: left out of the pairs with bin 3 only
    A, B = _neural(RA, ids, "a"), _neural(RB, ids, "b")
    g = _quiet(nx.temporal_generalization, A, B, alpha=2.0, n_folds=4)
    ia = _quiet(nx.inter_animal, A, B, reps=1, alpha=2.0, n_folds=4, noise_ceiling=False)
    np.testing.assert_allclose(_diagonal(g), ia["r"].isel(rep=0).values, atol=1e-10)
    assert np.isfinite(_diagonal(g)).sum() == 12 - (case == "target_bin")
    order = np.argsort(ids)
    np.testing.assert_allclose(g["r"].values, _inter_by_hand(_means(RA[order]), _means(RB[order]), 2.0, 4),
                               atol=1e-10)
    # forward, the same target data
    gf = _quiet(nx.temporal_generalization, F, B, alpha=0.5, n_folds=4)
    fw = _quiet(nx.forward, F, B, reps=1, alpha=0.5, n_folds=4, noise_ceiling=False)
    np.testing.assert_allclose(_diagonal(gf), fw["r"].isel(rep=0).values, atol=1e-10)


def test_a_predictor_without_data_in_a_bin_is_left_out_of_that_bins_pairs():
    F, RA, ids = _sets(seed=8, k=5)
    _, RB, _ = _sets(seed=9, k=3)
    RA = RA.copy()
    RA[:, 1, :, 2] = np.nan  # predictor 1: no trial in bin 2
    RA[6, 1, :, 0] = np.nan  # ... and a missing mean at bin 0: touches the pairs with bin 0 that use it
    g, said = _tg(_neural(RA, ids, "a"), _neural(RB, ids, "b"), alpha=2.0, n_folds=4)
    assert np.isfinite(g["r"].values).all()
    named = [m for m in said if m.startswith("temporal_generalization: source (a): 1 neuroids have no valid trial mean")]
    assert len(named) == 1 and "neuroid1 (bins 2)" in named[0]
    # the pairs with bin 2 use predictors 0, 2, 3, 4 and every stimulus: the call without predictor 1
    without = _quiet(nx.temporal_generalization, _neural(np.delete(RA, 1, axis=1), ids, "a"), _neural(RB, ids, "b"),
                     alpha=2.0, n_folds=4)
    pairs = np.zeros((4, 4), dtype=bool)
    pairs[2, :] = pairs[:, 2] = True
    np.testing.assert_allclose(g["r"].values[:, pairs], without["r"].values[:, pairs], atol=1e-12)
    # the pairs (0, t) with t != 2 keep predictor 1 and drop stimulus 6: partial
    assert g.attrs["n_partial_targets"] == 3 * 5  # (0, 0), (0, 1), (0, 3), (1, 0), (3, 0) for every neuroid


def test_a_pair_of_bins_without_any_predictor_is_nan():
    """Inter-animal: where no neuroid of A has data at both bins of a (train bin, test bin) pair,
    nothing is fitted: its targets are NaN with one warning (never the r of an intercept-only
    prediction), and the other pairs are scored as before."""
    F, R, ids = _sets(k=3)
    RA = R.copy()
    RA[:, 0, :, 1:] = np.nan  # neuroid 0 of A: data at bin 0 only
    RA[:, 1:, :, 0] = np.nan  # the others: none at bin 0
    A, B = _neural(RA, ids, "A"), _neural(R, ids, "B")
    with pytest.warns(nx.NeuroxrWarning, match=r"no neuroid has a valid trial mean at both bins of the \(train bin, "
                                               r"test bin\) pairs \[\(0, 1\), \(0, 2\), \(0, 3\), \(1, 0\)"):
        g = nx.temporal_generalization(A, B, n_folds=5)
    r = g["r"].values
    nt = len(BINS)
    empty = np.zeros((nt, nt), dtype=bool)
    empty[0, 1:] = empty[1:, 0] = True
    assert np.isnan(r[:, empty]).all() and np.isfinite(r[:, ~empty]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        rest = nx.temporal_generalization(A.isel(time_bin=[1, 2, 3], neuroid=[1, 2]), B.isel(time_bin=[1, 2, 3]), n_folds=5)
    np.testing.assert_allclose(r[:, 1:, 1:], rest["r"].values, rtol=1e-10)


def test_the_diagonal_groups_each_bin_as_the_direction_with_many_patterns_over_the_bins():
    """Each bin alone has 4 patterns of missing stimuli, the training bins 12 over all test bins:
    the targets are grouped per (train bin, test bin) pair, so the diagonal is the direction's r
    per bin."""
    rng = np.random.default_rng(5)
    n, k, nt = 40, 12, 3
    ids = [f"s{i:02d}" for i in range(n)]
    X = rng.normal(size=(n, 4))
    R = (X @ rng.normal(size=(4, k)))[:, :, None, None] + rng.normal(size=(n, k, 2, nt))
    for j in range(k):
        R[j, j, :, j % nt] = np.nan  # neuroid j lacks stimulus j at bin j % 3
    F = nx.features(X, stimulus_id=ids)
    B = nx.neural(R, stimulus_id=ids, time_bins=BINS[:nt])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        g = nx.temporal_generalization(F, B, n_folds=5)
        d = nx.forward(F, B, noise_ceiling=False, n_folds=5, reps=1)
    diag = np.stack([g.r.values[:, t, t] for t in range(nt)], axis=1)
    np.testing.assert_allclose(diag, d.r.isel(rep=0).values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", ["exact", "many"])
def test_the_diagonal_groups_targets_with_too_few_stimuli_as_the_direction(case):
    """A target with fewer usable stimuli than folds is NaN on the diagonal as in the direction, and
    the other patterns of missing stimuli are each scored on their own stimuli: (exact) 9 patterns
    and a 10th target with 4 stimuli; (many) 9 patterns, the 9th target keeping 7 stimuli, fewer
    than the 8 folds (beyond 8 patterns the targets were once scored together on the 7 stimuli
    they all shared: every incomplete target of the bin NaN)."""
    rng = np.random.default_rng(1)
    n, k, n_folds = (40, 11, 5) if case == "exact" else (14, 10, 8)
    ids = [f"s{i:02d}" for i in range(n)]
    X = rng.normal(size=(n, 4))
    R = (X @ rng.normal(size=(4, k)))[:, :, None, None] + rng.normal(size=(n, k, 2, 2))
    if case == "exact":
        for j in range(9):
            R[j, j, :, 0] = np.nan  # neuroid j lacks stimulus j at bin 0
        R[4:, 9, :, 0] = np.nan  # neuroid 9 keeps 4 stimuli at bin 0
    else:
        for j in range(7):
            R[7 + j, j, :, 0] = np.nan  # neuroid j lacks stimulus 7 + j at bin 0
        R[7:9, 7, :, 0] = np.nan
        R[7:, 8, :, 0] = np.nan  # neuroid 8 keeps 7 stimuli at bin 0
    F = nx.features(X, stimulus_id=ids)
    B = nx.neural(R, stimulus_id=ids, time_bins=BINS[:2])
    g, said = _tg(F, B, n_folds=n_folds)
    for t in range(2):
        d = _quiet(nx.forward, F, B.isel(time_bin=t), noise_ceiling=False, n_folds=n_folds, reps=1)
        np.testing.assert_allclose(g.r.values[:, t, t], d.r.isel(rep=0).values, rtol=0, atol=1e-12)
    nan = np.isnan(g.r.values[:, 0, 0])
    assert nan.sum() == 1 and np.isfinite(g.r.values[:, 1, 1]).all()
    assert sum("fewer usable stimuli" in m for m in said) == 1
    # inter-animal: the same grouping of B's targets
    A = nx.neural((X @ rng.normal(size=(4, 6)))[:, :, None, None] + rng.normal(size=(n, 6, 2, 2)), stimulus_id=ids,
                  time_bins=BINS[:2], name="a")
    ga = _quiet(nx.temporal_generalization, A, B, alpha=2.0, n_folds=n_folds)
    ia = _quiet(nx.inter_animal, A, B, reps=1, alpha=2.0, n_folds=n_folds, noise_ceiling=False)
    np.testing.assert_allclose(_diagonal(ga), ia.r.isel(rep=0).values, rtol=0, atol=1e-12)


def test_a_target_constant_in_a_bin_is_nan_there_with_a_warning():
    """A neuroid constant across stimuli (up to rounding) in a bin gave NaN without a warning or,
    where out-of-fold ridge spread the rounding, a number (the direction: NaN with a warning)."""
    rng = np.random.default_rng(0)
    n, p = 30, 27  # nearly as many features as stimuli: ridge spreads the target's rounding
    ids = np.array([f"s{i:02d}" for i in range(n)])
    F = nx.features(rng.normal(size=(n, p)), stimulus_id=ids, name="net")
    R = rng.normal(size=(n, 3, 1, len(BINS)))
    noise = rng.normal(size=n)
    noise -= noise.mean()
    tol = 256 * np.finfo(float).eps  # constant: centred squares within tol of the uncentred ones
    R[:, 0, 0, 0] = 100.0 + np.sqrt(0.5 * tol * n * 100.0 ** 2 / (noise @ noise)) * noise
    R[:, 1, 0, 2] = 3.0  # exactly constant
    for j, t in ((0, 0), (1, 2)):
        m = R[:, j, 0, t]
        assert np.sum((m - m.mean()) ** 2) <= tol * np.sum(m * m)
    neural = _neural(R, ids)
    g, warned = _tg(F, neural, alpha=1e-3, n_folds=10)
    const = [w for w in warned if "constant across stimuli" in w]
    assert len(const) == 1 and "'neuroid0 (bin 0)', 'neuroid1 (bin 2)'" in const[0], warned
    r = g["r"].values
    for j, t in ((0, 0), (1, 2)):
        assert np.isnan(r[j, t, :]).all() and np.isnan(r[j, :, t]).all()
    others = np.ones(r.shape, dtype=bool)
    others[0, 0, :] = others[0, :, 0] = others[1, 2, :] = others[1, :, 2] = False
    assert np.isfinite(r[others]).all()
    # every other target as scikit-learn's Ridge scores it
    with np.errstate(invalid="ignore"), warnings.catch_warnings():  # np.corrcoef of the constant ones
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = _by_hand(lambda t: F.values, R[:, :, 0], np.ones((n, 3, len(BINS)), dtype=bool), 1e-3, 10)
    np.testing.assert_allclose(r[others], ref[others], atol=1e-8)
