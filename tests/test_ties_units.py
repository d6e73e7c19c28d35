"""Rank statistics do not depend on the unit of the data: spike counts and the same counts as rates
(``counts / 0.3``, whose split-half means and distances keep the counts' ties only up to rounding)
give the same reliabilities, EVs and cRSA scores, equal to the exact values' (scipy on exact means)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

import neuroxr as nx
from neuroxr import predictivity as d

WINDOW = 0.3  # a 300 ms window: rates = counts / 0.3, not exact in binary
# EV above 100 % or low reliabilities on a few of these small neuroids: not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")


@pytest.fixture(scope="module")
def counts():
    """Poisson spike counts (stimulus, neuroid, repeat) driven by a latent, and features of it."""
    rng = np.random.default_rng(0)
    n, k, T, p = 80, 10, 7, 30
    Z = rng.normal(size=(n, 4))
    rate = np.exp(0.3 * Z @ rng.normal(size=(4, k)) + 1.0)
    C = rng.poisson(rate[:, :, None], size=(n, k, T)).astype(float)
    F = Z @ rng.normal(size=(4, p)) + 0.5 * rng.normal(size=(n, p))
    return C, F


def test_split_half_reliability_is_the_same_for_counts_and_rates(counts):
    C, _ = counts
    got = [d.split_half_reliability(nx.neural(R), reps=6, seed=0).reliability.values for R in (C, C / WINDOW)]
    np.testing.assert_allclose(got[1], got[0], rtol=0, atol=1e-14)


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_ev_is_the_same_for_counts_and_rates(counts, direction):
    """The targets' split-half Spearman (their ceiling) ranks the rates' half means as the counts'."""
    C, F = counts
    source = nx.features(F) if direction == "forward" else nx.neural(C[:, :5])
    fn = getattr(d, direction)
    got = [fn(source, nx.neural(R[:, 5:]), reps=6, seed=0) for R in (C, C / WINDOW)]
    np.testing.assert_allclose(got[1].target_shc.values, got[0].target_shc.values, rtol=0, atol=1e-14)
    np.testing.assert_allclose(got[1].ev.values, got[0].ev.values, rtol=1e-10)


@pytest.mark.parametrize("compare_method", ["spearman", "kendall"])
@pytest.mark.parametrize("rdm_method", ["euclidean", "sqeuclidean"])
def test_crsa_of_trial_averaged_counts_equals_scipy_on_exact_means(rdm_method, compare_method):
    """With 4 repeats the trial means of counts are exact (k / 4) and scipy's ``pdist`` keeps every
    tie; neuroxr's RDMs of the means (and of the rates' means) carry rounding, which ties again."""
    rng = np.random.default_rng(1)
    n, k, T = 40, 15, 4
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, 30))
    C = rng.poisson(2, size=(n, k, T)).astype(float)
    va, vb = pdist(C.mean(2), rdm_method), pdist(X, rdm_method)
    if compare_method == "spearman":
        want = spearmanr(va, vb).statistic
    else:  # tau-a by hand
        s = np.sign(va[:, None] - va[None, :]) * np.sign(vb[:, None] - vb[None, :])
        want = s[np.triu_indices(len(va), 1)].sum() / (len(va) * (len(va) - 1) / 2)
    for R in (C, C / WINDOW):
        got = nx.crsa(nx.features(X), nx.neural(R), rdm_method=rdm_method, compare_method=compare_method, reps=3)
        assert float(got.score) == pytest.approx(want, abs=1e-12)
        if R is C:
            ceiling = float(got.ceiling)
        else:  # the split-half ceiling too
            assert float(got.ceiling) == pytest.approx(ceiling, abs=1e-12)


@pytest.mark.requires_torch
def test_torch_and_numpy_rank_rates_alike(counts):
    pytest.importorskip("torch")
    C, F = counts
    R = C / WINDOW
    kw = dict(rdm_method="euclidean", compare_method="spearman", reps=3)
    by = {b: nx.crsa(nx.features(F), nx.neural(R), backend=b, **kw) for b in ("numpy", "torch")}
    assert float(by["torch"].score) == pytest.approx(float(by["numpy"].score), abs=1e-12)
    assert float(by["torch"].ceiling) == pytest.approx(float(by["numpy"].ceiling), abs=1e-12)
    fw = {b: d.forward(nx.features(F), nx.neural(R), reps=4, seed=0, backend=b) for b in ("numpy", "torch")}
    np.testing.assert_allclose(fw["torch"].target_shc.values, fw["numpy"].target_shc.values, rtol=0, atol=1e-13)
    np.testing.assert_allclose(fw["torch"].ev.values, fw["numpy"].ev.values, rtol=1e-9)


def test_entries_that_rank_are_one_revision_up_for_ties_up_to_rounding():
    """Ranks tie values equal up to rounding: the kinds that always rank (forward and inter-animal's
    ceilings and their bootstrap) are one revision up, RSA entries comparing by ranks and permutation
    entries judging targets by min_reliability one more than their siblings; the others keep theirs."""
    from neuroxr.entries import kinds, revisions

    def rev(kind, **params):
        return revisions.entry_revision(kind, kinds.get_kind(kind).fill(params))

    assert set(revisions.RANK_KINDS) == {"forward", "inter_animal", "forward_bootstrap", "inter_animal_bootstrap"}
    for kind in ("crsa", "ersa", "crsa_bootstrap", "ersa_permutation"):
        # cosine (and Pearson) caught up by a later fix: RDM values out of float64's range (tests/test_rdm_rounding.py)
        assert rev(kind, compare_method="spearman") == rev(kind, compare_method="cosine")
        # Pearson too, by another fix: an RDM equal up to rounding is NaN (tests/test_geometry_missing.py);
        # the bootstraps' once more: one rule of no variance in every resample (tests/test_rdm_rounding.py)
        assert rev(kind, compare_method="pearson") == rev(kind, compare_method="cosine") + 1 + (kind in revisions.FLAT_RESAMPLE_KINDS)
    assert rev("crsa", compare_method="kendall") == rev("crsa") == rev("crsa", compare_method="cosine")
    for kind in ("forward_permutation", "inter_animal_permutation"):
        assert rev(kind, min_reliability=0.1) == rev(kind) + 1
    assert rev("reverse_permutation", min_reliability=0.1) == rev("reverse_permutation")
