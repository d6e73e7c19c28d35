"""Interval and p-value kernels on degenerate resamples: bootstrap p-values of a difference, max-T
p-values, and percentile intervals under nan_policy="omit"."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroxr.kernels import pvalues as pv
from neuroxr.kernels import resample as rs


def _two_sided(d: np.ndarray) -> float:
    """The documented formula on the defined resamples of one column (NaN without any)."""
    d = d[np.isfinite(d)]
    if not d.size:
        return float("nan")
    le, ge = (1 + np.sum(d <= 0)) / (1 + d.size), (1 + np.sum(d >= 0)) / (1 + d.size)
    return min(1.0, 2 * min(le, ge))


def test_two_sided_pvalue_without_a_defined_resample_is_nan_under_omit():
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1.0, size=(9, 3))
    d[:, 1] = np.nan  # a pair no resample defines
    d[[2, 5], 2] = np.nan
    got = rs.two_sided_pvalue(d, "omit")
    np.testing.assert_allclose(got, [_two_sided(d[:, j]) for j in range(3)])
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2]]).all()
    assert np.isnan(rs.two_sided_pvalue(d, "propagate")[1:]).all()


def test_maxt_pvalues_of_an_undefined_permutation_give_no_numpy_warning():
    rng = np.random.default_rng(1)
    obs = np.array([0.4, 0.1])
    null = rng.normal(0.0, 0.3, size=(7, 2))
    null[3] = np.nan  # a permutation defining no target
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pv.maxt_pvalues(obs, null)
    mx = np.array([row.max() for row in null if np.isfinite(row).any()])
    # the undefined permutation is left out of the count and of B (counted in B, it made p smaller)
    np.testing.assert_allclose(got, [(1 + np.sum(mx >= o)) / (1 + mx.size) for o in obs])
    np.testing.assert_allclose(got, pv.maxt_pvalues(obs, np.delete(null, 3, axis=0)))
    assert np.isnan(pv.maxt_pvalues(obs, np.full((4, 2), np.nan))).all()  # no defined permutation: no p


def test_a_permutation_p_without_a_defined_null_value_is_nan():
    """p was (1 + 0) / (1 + 0) = 1 for a column none of whose permutations had a defined statistic; it is NaN,
    and the other columns keep the formula over their defined null values."""
    rng = np.random.default_rng(2)
    obs = np.array([0.5, 0.2, 0.3])
    null = rng.normal(0.0, 0.3, size=(8, 3))
    null[:, 1] = np.nan
    null[[0, 4], 2] = np.nan
    got = pv.permutation_pvalues(obs, null)
    for j in (0, 2):
        col = null[np.isfinite(null[:, j]), j]
        assert got[j] == (1 + np.sum(col >= obs[j])) / (1 + col.size)
    assert np.isnan(got[1])


def test_rsa_permutation_without_a_defined_permutation_has_no_p():
    """NaN pairs that every permutation moves so that the model keeps fewer than 3 complete pairs with the data:
    p was 1.0 with a warning that it was over the 0 defined permutations; it is NaN, said so."""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.geometry.inference import rsa_permutation
    from neuroxr.geometry.rdm import as_rdm

    rng = np.random.default_rng(0)
    n, ids = 5, [f"s{i}" for i in range(5)]
    X, Y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    A, B = (((Z[:, None] - Z[None]) ** 2).sum(-1) for Z in (X, Y))
    for (i, j) in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2)]:
        A[i, j] = A[j, i] = np.nan
    for (i, j) in [(0, 1), (0, 2), (0, 3), (0, 4), (3, 4)]:
        B[i, j] = B[j, i] = np.nan
    with pytest.warns(NeuroxrWarning, match=r"2 of 2 permutations leave a subject fewer than 3 complete pairs.*p is NaN"):
        out = rsa_permutation(as_rdm(A, "m", ids), as_rdm(B, "d", ids), n_perm=2, seed=1)
    assert np.isfinite(float(out.score)) and np.isnan(out.score_null.values).all() and np.isnan(float(out.p))


def test_omit_leaves_infinite_resamples_out_as_it_leaves_nan_ones():
    """An infinite resample is undefined (undefined_resamples counts it): under "omit" the percentile
    interval and the two-sided p-value are those of the finite resamples, as NaN ones are left out
    (the interval was shifted with a NaN bound, the p-value counted inf in its numerators alone)."""
    rng = np.random.default_rng(2)
    boot = rng.normal(size=(12, 2))
    boot[[3, 7], 0] = np.inf, -np.inf
    assert rs.undefined_resamples(boot).tolist() == [2, 0]
    for policy in ("omit", "propagate"):
        nan = boot.copy()
        nan[~np.isfinite(nan)] = np.nan
        np.testing.assert_array_equal(rs.percentile_interval(boot, 0.9, policy), rs.percentile_interval(nan, 0.9, policy))
        np.testing.assert_array_equal(rs.two_sided_pvalue(boot, policy), rs.two_sided_pvalue(nan, policy))
    fin = boot[np.isfinite(boot[:, 0]), 0]
    np.testing.assert_allclose(rs.percentile_interval(boot, 0.9, "omit")[:, 0], np.quantile(fin, [0.05, 0.95]))
    assert rs.two_sided_pvalue(boot, "omit")[0] == _two_sided(boot[:, 0])


def test_an_infinite_null_value_is_undefined_in_both_p_values():
    """An infinite null value is undefined, as in every interval (``undefined_resamples``): it was counted
    as at least as extreme but not in ``B`` (p could pass 1), and max-T took it as every permutation's max."""
    rng = np.random.default_rng(3)
    obs = np.array([0.5, 0.2])
    null = rng.normal(0.0, 0.3, size=(6, 2))
    null[[1, 4], 0] = np.inf
    null[2, 1] = -np.inf
    fin = np.where(np.isfinite(null), null, np.nan)
    np.testing.assert_array_equal(pv.permutation_pvalues(obs, null), pv.permutation_pvalues(obs, fin))
    col = null[np.isfinite(null[:, 0]), 0]
    assert pv.permutation_pvalues(obs, null)[0] == (1 + np.sum(col >= obs[0])) / (1 + col.size)
    np.testing.assert_array_equal(pv.maxt_pvalues(obs, null), pv.maxt_pvalues(obs, fin))
    assert np.isnan(pv.permutation_pvalues(obs, np.full((4, 2), np.inf))).all()  # no defined null value: no p
    assert np.isnan(pv.maxt_pvalues(obs, np.full((4, 2), np.inf))).all()
