"""The direction bootstraps' target split halves are ranked anew on every stimulus resample: each
resample's ceiling is what the direction computes on the resample's rows (scipy's Spearman of the
materialised halves, copies tied), with ties, missing trials and targets lacking stimuli."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as ss
import xarray as xr

import neuroxr as nx
from neuroxr.kernels import resample as rs
from neuroxr.kernels.resample_ranks import ResampledSpearman
from neuroxr.kernels.splits import SplitHalves, draw_permutation
from neuroxr.kernels.stats import rank_pairs, spearman_brown
from neuroxr.predictivity._parts import prepare
from neuroxr.predictivity.inference import bootstrap

N, K, T, REPS = 40, 5, 5, 3


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def data():
    """Sorted ids (the canonical order is the input's); integer trials (tied halves); missing trials;
    neuroid 1 without trials at three stimuli (scored on its others)."""
    rng = np.random.default_rng(11)
    Z = rng.normal(size=(N, 3))
    ids = np.array([f"s{i:03d}" for i in range(N)])
    F = nx.features(Z @ rng.normal(size=(3, 8)) + 0.5 * rng.normal(size=(N, 8)), ids, name="net")
    A = nx.neural((Z @ rng.normal(size=(3, 6)))[:, :, None] + rng.normal(size=(N, 6, T)), ids, name="a")
    R = np.round(2 * (Z @ rng.normal(size=(3, K)))[:, :, None] + 2 * rng.normal(size=(N, K, T)))
    miss = rng.uniform(size=R.shape) < 0.3
    miss[..., :2] = False  # two valid repeats at every stimulus...
    R[miss] = np.nan
    R[[4, 17, 30], 1] = np.nan  # ...but neuroid 1's three stimuli
    return dict(F=F, A=A, B=nx.neural(R, ids, name="b"))


def _halves(direction, R, split, seed):
    """The target's split halves (reps, n, k) as the direction draws them: forward draws the
    predictions' split then the target's per rep, inter-animal the target's first."""
    rng = np.random.default_rng(seed)
    perms = []
    for _ in range(REPS):
        first, second = draw_permutation(rng, R.sizes["repeat"]), draw_permutation(rng, R.sizes["repeat"])
        perms.append(second if direction == "forward" else first)
    return SplitHalves(R.values, split).means(np.stack(perms))


def _assert_scipy(got: np.ndarray, a: np.ndarray, b: np.ndarray, idx: np.ndarray, tag: str = "") -> None:
    """``got`` (B, k) is scipy's Spearman of each column pair on each materialised resample ``idx``
    (B, n), on the pairs complete in both; NaN with fewer than 3 distinct complete rows drawn."""
    for i, drawn in enumerate(idx):
        for j in range(a.shape[1]):
            x, y = a[drawn, j], b[drawn, j]
            ok = ~(np.isnan(x) | np.isnan(y))
            want = ss.spearmanr(x[ok], y[ok])[0] if np.unique(drawn[ok]).size >= 3 else np.nan
            np.testing.assert_allclose(got[i, j], want, atol=1e-13, err_msg=f"{tag}, {i}, {j}")


@pytest.mark.parametrize("split", ["valid", "slots"])
@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_each_resamples_ceiling_ranks_the_materialised_halves(data, direction, split):
    src = data["F"] if direction == "forward" else data["A"]
    B = data["B"]
    kw = dict(reps=REPS, seed=2, split=split)
    parts = prepare(direction, src, B, **kw)
    h1, h2 = _halves(direction, B, split, 2)
    own = np.isfinite(parts.Y)  # each target's stimuli
    assert not own[:, 1].all() and own[:, 0].all()
    # the reconstruction is the direction's: its ranks on the full sample are the parts' ranks
    for j in range(REPS):
        np.testing.assert_array_equal(np.asarray(rank_pairs(np.where(own, h1[j], np.nan), np.where(own, h2[j], np.nan))[0]),
                                      parts.s1[j])
    b = bootstrap(direction, src, B, n_boot=8, **kw)
    idx = b["boot_index"].values
    ref = np.full((idx.shape[0], K), np.nan)
    for i, drawn in enumerate(idx):
        for t in range(K):
            rows = drawn[own[drawn, t]]  # the resample's rows of the target, copies kept
            ceil = []
            for j in range(REPS):
                x, y = h1[j][rows, t], h2[j][rows, t]
                ok = ~(np.isnan(x) | np.isnan(y))  # the complete pairs, ranked among themselves
                rho = ss.spearmanr(x[ok], y[ok])[0]
                c = spearman_brown(ss.pearsonr(parts.P1[j][rows, t], parts.P2[j][rows, t])[0]) * spearman_brown(rho)
                ceil.append(c)
            ref[i, t] = np.nanmean(ceil)
    np.testing.assert_allclose(b["ceiling_boot"].values, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b["median_ceiling_boot"].values, np.nanmedian(ref, axis=1), rtol=1e-10)
    assert np.isfinite(ref).all()


def test_tied_copies_differ_from_the_full_sample_ranks(data):
    """The old approximation (the full sample's ranks correlated on the drawn rows) is not what the
    resamples hold: ranking anew changes the numbers."""
    parts = prepare("forward", data["F"], data["B"], reps=REPS, seed=2)
    W = rs.counts(rs.bootstrap_indices(N, 6, 0), N)
    j, t = 0, 0
    new = parts._resampled_rho(W, False)[:, j, t]
    old = rs.resampled_pearson(W, parts.s1[j], parts.s2[j], parts.mask)[:, t]
    assert not np.allclose(new, old, rtol=1e-6)


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_permuting_the_stimuli_of_the_inputs_changes_no_resample(data, direction):
    src = data["F"] if direction == "forward" else data["A"]

    def shuffle(da, seed):
        return da.isel(stimulus=np.random.default_rng(seed).permutation(da.sizes["stimulus"]))

    kw = dict(n_boot=12, reps=REPS, seed=1, split="slots", method="bca")
    a = bootstrap(direction, src, data["B"], **kw)
    b = bootstrap(direction, shuffle(src, 5), shuffle(data["B"], 6), **kw)
    xr.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block", [None, 60])
def test_the_kernel_is_scipys_spearman_of_the_materialised_resample(block, monkeypatch):
    """Ties, missing pairs, a column of 3 complete rows, a constant column, the jackknife, and a
    column pair equal to another's swap (computed once); in one block, or in blocks of a few
    resamples and columns (those without ties apart, with no tie in their blocks) and chunks of
    resamples."""
    if block is not None:
        monkeypatch.setattr("neuroxr.kernels.resample_ranks._ELEMS", block)
        monkeypatch.setattr("neuroxr.kernels.resample_ranks._SUMS", 50)
    rng = np.random.default_rng(0)
    n, k = 24, 7
    a = rng.integers(0, 5, size=(n, k)).astype(float)
    b = a + rng.integers(0, 4, size=(n, k))
    a[:, :2], b[:, :2] = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    a[3, 1], b[[5, 6], 2] = np.nan, np.nan
    a[3:, 3] = np.nan
    b[:, 4] = 2.0
    a[:, 6], b[:, 6] = b[:, 5], a[:, 5]
    kernel = ResampledSpearman(*rank_pairs(a, b))
    idx = rs.bootstrap_indices(n, 30, 1)
    got = kernel(rs.counts(idx, n))
    _assert_scipy(got, a, b, idx)
    jack = kernel(1.0 - np.eye(n))
    for i in (0, 3, 10):
        for j in range(k):
            x, y = np.delete(a[:, j], i), np.delete(b[:, j], i)
            ok = ~(np.isnan(x) | np.isnan(y))
            want = ss.spearmanr(x[ok], y[ok])[0] if ok.sum() >= 3 else np.nan
            np.testing.assert_allclose(jack[i, j], want, atol=1e-13)
    np.testing.assert_array_equal(got[:, 6], got[:, 5])
    untied = ResampledSpearman(*rank_pairs(a[:, :2], b[:, :2]))  # no tie in any column
    np.testing.assert_allclose(untied(rs.counts(idx, n)), got[:, :2], atol=1e-13)


@pytest.mark.parametrize("n", [15, 16, 17, 40])
def test_the_kernel_is_the_same_in_float32_and_float64(n, monkeypatch):
    """The cumulative weights by spans of 16 sorted rows (one span, a full one, a span and one row,
    several), with ties and missing pairs: float32 (exact integers) and float64 give the same bits,
    and scipy's Spearman of the materialised resample."""
    rng = np.random.default_rng(n)
    a = rng.integers(0, 6, size=(n, 4)).astype(float)
    b = a + rng.integers(0, 3, size=(n, 4))
    a[:, 0], b[:, 0] = rng.normal(size=n), rng.normal(size=n)
    a[2, 1], b[[4, 7], 2] = np.nan, np.nan
    idx = rs.bootstrap_indices(n, 9, 2)
    W = rs.counts(idx, n)
    got32 = ResampledSpearman(*rank_pairs(a, b))(W)
    monkeypatch.setattr("neuroxr.kernels.resample_ranks._EXACT32", 0)
    got64 = ResampledSpearman(*rank_pairs(a, b))(W)
    np.testing.assert_array_equal(got32, got64)
    for i, drawn in enumerate(idx):
        for j in range(4):
            x, y = a[drawn, j], b[drawn, j]
            ok = ~(np.isnan(x) | np.isnan(y))
            want = ss.spearmanr(x[ok], y[ok])[0] if np.unique(drawn[ok]).size >= 3 else np.nan
            np.testing.assert_allclose(got32[i, j], want, atol=1e-13, err_msg=f"{i}, {j}")


def test_a_side_without_ties_takes_no_tie_sums(monkeypatch):
    """Columns tied in ``a`` only, in ``b`` only, in both and in neither, in blocks of one, two (mixing
    the kinds) and all columns: scipy's Spearman of each materialised resample, and a block of one
    column sums ``w R^2`` (a float64 sum) only for a side on which the column ties."""
    rng = np.random.default_rng(4)
    n, k, B = 30, 8, 6
    x, y = rng.normal(size=(n, k)), rng.normal(size=(n, k))
    xi, yi = rng.integers(0, 5, size=(n, k)) / 2.0, rng.integers(0, 4, size=(n, k)).astype(float)
    a = np.where(np.arange(k) % 2 == 1, xi, x)  # ties in a: columns 1, 3, 5, 7
    b = np.where(np.arange(k) % 4 >= 2, yi + xi, y + x)  # ties in b: columns 2, 3, 6, 7
    a[4, 0], b[[1, 2], 5] = np.nan, np.nan
    ties = [sum(np.unique(z[~np.isnan(z)]).size < np.sum(~np.isnan(z)) for z in col) for col in zip(a.T, b.T)]
    assert ties == [0, 1, 1, 2, 0, 1, 1, 2]
    idx = rs.bootstrap_indices(n, B, 3)
    W = rs.counts(idx, n)
    calls, einsum = [], np.einsum
    monkeypatch.setattr("neuroxr.kernels.resample_ranks.np.einsum", lambda *s, **kw: calls.append(1) or einsum(*s, **kw))
    for width in (1, 2, k):
        monkeypatch.setattr("neuroxr.kernels.resample_ranks._ELEMS", 32 * B * width)  # 32 slots, all resamples
        calls.clear()
        got = ResampledSpearman(*rank_pairs(a, b))(W)
        if width == 1:  # sum w Ra Rb, and sum w R^2 of each tied side
            assert len(calls) == k + sum(ties)
        _assert_scipy(got, a, b, idx, f"{width}")


def _rho_of_weighted_ranks(a: np.ndarray, b: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The RSA bootstraps' kernel: each column's drawn complete rows ranked by ``weighted_ranks``,
    correlated with the draw counts as weights (B, k); NaN with fewer than 3 distinct rows drawn."""
    out = np.full((W.shape[0], a.shape[1]), np.nan)
    for j in range(a.shape[1]):
        ok = ~(np.isnan(a[:, j]) | np.isnan(b[:, j]))
        w = W * ok
        ra, rb = (rs.weighted_ranks(np.where(ok, x[:, j], np.nan), w) for x in (a, b))
        for i in range(W.shape[0]):
            m = w[i] > 0
            if m.sum() >= 3:
                x, y = ra[i, m] - w[i, m] @ ra[i, m] / w[i, m].sum(), rb[i, m] - w[i, m] @ rb[i, m] / w[i, m].sum()
                out[i, j] = (w[i, m] * x) @ y / np.sqrt(((w[i, m] * x) @ x) * ((w[i, m] * y) @ y))
    return out


def _rho_of_the_rule(a: np.ndarray, b: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The tie rule (``backend.rank``) on each materialised resample's complete rows (rows repeated
    by their counts), Pearson of the ranks (B, k); NaN with fewer than 3 distinct rows drawn."""
    out = np.full((W.shape[0], a.shape[1]), np.nan)
    for i, w in enumerate(W.astype(int)):
        for j in range(a.shape[1]):
            x, y = np.repeat(a[:, j], w), np.repeat(b[:, j], w)
            ok = ~(np.isnan(x) | np.isnan(y))
            if np.unique(np.repeat(np.arange(len(w)), w)[ok]).size >= 3:
                out[i, j] = ss.pearsonr(nx.backend.rank(x[ok]), nx.backend.rank(y[ok]))[0]
    return out


def test_both_kernels_rank_exact_ties_as_scipy_with_a_groups_smallest_value_not_drawn():
    """Exact ties whose group's smallest member (its first row, too) is drawn 0 times, with missing
    pairs: ``ResampledSpearman`` of the values, ``weighted_ranks`` and scipy's Spearman of the
    materialised resample (``np.repeat`` of the rows by their counts) agree."""
    rng = np.random.default_rng(7)
    n, k = 12, 3
    a = rng.integers(0, 4, size=(n, k)).astype(float)
    b = rng.integers(0, 3, size=(n, k)).astype(float) + a
    a[0], b[5, 1] = 0.0, np.nan  # row 0: the smallest of a's lowest group in every column
    W = rs.counts(rs.bootstrap_indices(n, 20, 3), n)
    W[:, 0] = 0.0
    W[:3, 1] += 2.0
    got = ResampledSpearman(a, b)(W)
    want = np.full(got.shape, np.nan)
    for i, w in enumerate(W.astype(int)):
        for j in range(k):
            x, y = np.repeat(a[:, j], w), np.repeat(b[:, j], w)
            ok = ~(np.isnan(x) | np.isnan(y))
            want[i, j] = ss.spearmanr(x[ok], y[ok])[0]
    np.testing.assert_allclose(got, want, atol=1e-13)
    np.testing.assert_allclose(_rho_of_weighted_ranks(a, b, W), want, atol=1e-13)
    np.testing.assert_allclose(ResampledSpearman(*rank_pairs(a, b))(W), want, atol=1e-13)  # ranks: the same


@pytest.mark.parametrize("block", [None, 40])
def test_near_ties_follow_the_tie_rule_on_each_resamples_rows(block, monkeypatch):
    """Values within the tie tolerance: a chain split on the full sample (``1, 1 + d, 1 + 2 d``, ``d``
    0.6 of the tolerance) whose smallest value a resample leaves out is one group there; a near tie
    (a gap of 20 ``TIE_RTOL``) that only the column's largest value (100) makes a tie is none on a
    resample without it. ``ResampledSpearman`` ranked as the full sample (tied) before; now it equals
    ``weighted_ranks`` and the rule on the materialised resample, in blocks and chunks too."""
    if block is not None:
        monkeypatch.setattr("neuroxr.kernels.resample_ranks._ELEMS", block)
        monkeypatch.setattr("neuroxr.kernels.resample_ranks._SUMS", 20)
    rtol = nx.backend.TIE_RTOL
    n = 10
    d = 0.6 * rtol * 9
    chain = np.array([1, 1 + d, 1 + 2 * d, 3, 4, 5, 6, 7, 8, 9.0])
    shrink = np.array([1, 1 + 20 * rtol, 3, 4, 5, 6, 7, 8, 9, 100.0])
    rng = np.random.default_rng(3)
    y = rng.permutation(n).astype(float)
    a = np.stack([chain, shrink, chain, y], axis=1)
    b = np.stack([y, y, shrink[::-1], chain], axis=1)
    b[4, 2] = np.nan
    W = np.ones((6, n))
    W[0, 0] = W[2, 9] = W[3, 9] = 0.0  # chain's smallest left out; shrink's 100 left out
    W[1, 1] = W[3, 2] = W[4, 3] = 3.0
    W = np.concatenate([W, rs.counts(rs.bootstrap_indices(n, 30, 1), n)])
    got = ResampledSpearman(a, b)(W)
    want = _rho_of_the_rule(a, b, W)
    np.testing.assert_allclose(_rho_of_weighted_ranks(a, b, W), want, atol=1e-13)
    np.testing.assert_allclose(got, want, atol=1e-13)
    full = ResampledSpearman(*rank_pairs(a, b))(W)  # the full sample's groups on every resample
    assert np.all(np.abs(full[[0, 2, 3], [0, 1, 1]] - want[[0, 2, 3], [0, 1, 1]]) > 1e-3)


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_each_resamples_ceiling_follows_the_tie_rule_on_near_ties_end_to_end(data, direction):
    """A target whose trial holds a chain of near ties (``1, 1 + d, 1 + 2 d``, ``d`` 0.6 of the
    tolerance; split 2 + 1 on the full sample): a resample without the chain's smallest value ties
    the other two. The bootstrap's ceiling kept the full sample's groups there; it is the tie rule
    on the resample's rows (``backend.rank`` of the materialised halves) now."""
    src = data["F"] if direction == "forward" else data["A"]
    ids = data["B"].stimulus_id.values
    rng = np.random.default_rng(4)
    top = 3.0 + N
    d = 0.6 * nx.backend.TIE_RTOL * top
    x = np.concatenate([[1, 1 + d, 1 + 2 * d], rng.permutation(np.linspace(3, top, N - 3))])
    R = np.stack([np.stack([x, x + rng.normal(size=N)], axis=1), rng.normal(size=(N, 2))], axis=1)  # (N, 2, 2)
    B = nx.neural(R, ids, name="b")
    kw = dict(reps=REPS, seed=2, split="valid")
    parts = prepare(direction, src, B, **kw)
    h1, h2 = _halves(direction, B, "valid", 2)
    b = bootstrap(direction, src, B, n_boot=24, **kw)
    idx = b["boot_index"].values
    regroups = [i for i, drawn in enumerate(idx) if 0 not in drawn and {1, 2} <= set(drawn)]
    assert regroups  # some resample ties 1 + d and 1 + 2 d
    ref = np.full((idx.shape[0], 2), np.nan)
    for i, drawn in enumerate(idx):
        for t in range(2):
            ceil = [spearman_brown(ss.pearsonr(parts.P1[j][drawn, t], parts.P2[j][drawn, t])[0])
                    * spearman_brown(ss.pearsonr(nx.backend.rank(h1[j][drawn, t]), nx.backend.rank(h2[j][drawn, t]))[0])
                    for j in range(REPS)]
            ref[i, t] = np.mean(ceil)
    np.testing.assert_allclose(b["ceiling_boot"].values, ref, rtol=1e-10, atol=1e-12)
