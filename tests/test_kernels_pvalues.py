"""P-value kernels on degenerate nulls: bootstrap p-values of a difference and max-T p-values."""

from __future__ import annotations

import warnings

import numpy as np

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
    # the undefined permutation exceeds no observed value (its count in B is kept)
    np.testing.assert_allclose(got, [(1 + np.sum(mx >= o)) / (1 + null.shape[0]) for o in obs])
