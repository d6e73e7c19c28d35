"""The RSA pattern bootstrap's evaluation of resamples (:func:`neuroxr.geometry.inference.rsa_bootstrap`).

A resample with draw counts ``c`` keeps every pair of *distinct* draws, so pair ``(i, j)`` enters
with weight ``c_i c_j`` and a weighted sum of an RDM-shaped ``V`` (symmetric, zero diagonal) is the
quadratic form ``c^T V c / 2`` (:func:`qform`). Missing values follow the plain calls: each
subject's comparison with the model uses the pairs complete in *its* RDM and the model's
(:func:`~neuroxr.geometry.compare_rdms`), and the noise ceiling pools each subject's RDM on its own
finite pairs, a pair's pool averaging the subjects that have it, and compares on the pairs complete
in the subject and the pool (:func:`~neuroxr.geometry.rdm_noise_ceiling`). A NaN in one subject's
RDM never changes another subject's comparison. Spearman re-ranks on every resample, as the plain
calls rank the resampled RDMs: the model and each subject on their complete pairs (:func:`_score_ranked`)
and, for the ceiling, the subjects and their pools (:func:`_ceiling_ranked`). An RDM without
variance on a resample is judged as :func:`~neuroxr.geometry.compare_rdms` judges the resampled RDM,
by :func:`~neuroxr.kernels.compare.flat_ends` of the values drawn (:class:`Range`), not by the rounding
of its moments, so the point score and the resamples agree on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..backend import pow2_scaled
from ..kernels.compare import flat_ends
from ..kernels.resample import weighted_ranks
from ..kernels.stats import rank
from .rdm import _nan_warning

MIN_PAIRS = 3  # complete pairs a comparison needs (compare_rdms's rule: a correlation of 2 pairs is +-1)
# a variance from one-pass moments at most this fraction of its mean square: computed pair by pair
# instead (its relative error, about eps over this, would exceed 1e-12)
UNRESOLVED = 2.0**-10


def vector(v: np.ndarray, method: str) -> np.ndarray:
    """An RDM's upper-triangle vector prepared for ``method``: ranked for ``"spearman"``."""
    if method != "spearman" or v.size == 0:
        return np.asarray(v, dtype=float)
    return np.asarray(rank(v[:, None], axis=0))[:, 0]


@dataclass
class Prepared:
    """RDMs prepared for ``method`` (symmetric, zero diagonal, 0 at left-out pairs; for ``"spearman"``
    the stacks hold the values unranked and only ``raw`` and the orders are read).

    ``groups``: per set of subjects sharing their complete pairs with the model, their positions,
    the model prepared on those pairs and their weights ``W`` (``None``: every pair); ``bs``
    ``(S, n, n)`` the subjects prepared on the pairs complete with the model; ``ceil`` ``(S, n, n)``
    the subjects prepared on their own finite pairs and ``finite`` ``(S, pairs)`` those pairs
    (``None``: all); ``dropped`` ``(S,)`` the pairs each comparison with the model leaves out;
    ``raw`` ``(S, pairs)`` for ``"spearman"``: the subjects' upper triangles as given (NaN kept), which
    the resamples rank, ``raw_model`` (pairs,) the model's, ``orders`` (S, pairs) and ``model_order``
    (pairs,) their sort orders, computed once (``None`` otherwise). For ``"corr"`` the values are
    shifted by their mean on the pairs each RDM is compared on (no change to a correlation; no digits
    lost to the mean in the moments), and ``ranges`` holds per group the model's and its subjects'
    :class:`Range` (their values as given, on the group's pairs: whether a resample is flat) and
    ``ceil_ranges`` the subjects' on the pairs of the noise ceiling (``None`` both: other methods).
    """

    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]
    bs: np.ndarray
    ceil: np.ndarray
    finite: np.ndarray | None
    dropped: np.ndarray
    raw: np.ndarray | None = None
    raw_model: np.ndarray | None = None
    orders: np.ndarray | None = None
    model_order: np.ndarray | None = None
    ranges: list[tuple[Range, list[Range]]] | None = None
    ceil_ranges: list[Range] | None = None


def prepare(model: xr.DataArray, stack: xr.DataArray, method: str, caller: str) -> Prepared:
    """The model RDM and the subject RDMs ``stack`` (rdm, stimulus, stimulus_) prepared for ``method``.

    A pair NaN in the model's or a subject's RDM is left out of that subject's comparison (one
    warning counts the pairs left out over all comparisons, as :func:`~neuroxr.geometry.compare_rdms_many`);
    a comparison with fewer than 3 complete pairs is NaN, as :func:`~neuroxr.geometry.compare_rdms` gives.
    """
    A = np.asarray(model.values, dtype=float)
    Bs = np.asarray(stack.values, dtype=float)
    n, S = A.shape[0], Bs.shape[0]
    iu = np.triu_indices(n, 1)
    # each RDM scaled by a power of two (exact; no change to a correlation, cosine or rank), so that its
    # moments' squares stay within float64's range at any scale of its values
    va, vb = pow2_scaled(A[iu]), pow2_scaled(Bs[:, iu[0], iu[1]])

    def square(v: np.ndarray) -> np.ndarray:
        M = np.zeros((n, n))
        M[iu] = v
        return M + M.T

    # spearman ranks every resample from ``raw`` (its stacks below keep the values, which it never reads)
    as_ = "corr" if method == "spearman" else method

    def full(v: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros(v.size)
        at = slice(None) if keep is None else keep
        x = vector(v[at], as_)
        out[at] = x - x.mean() if as_ == "corr" and x.size else x  # shifted: no digits lost to the mean
        return square(out)

    ranked: tuple = (vb, va, np.argsort(vb, axis=1), np.argsort(va)) if method == "spearman" else ()  # NaN last

    def ranges(groups: list[tuple[np.ndarray, np.ndarray | None]], ceil: bool) -> dict:
        """Prepared's ``ranges`` of the ``(members, complete pairs)`` groups, and ``ceil_ranges`` (``ceil``:
        on every pair; else on each subject's finite pairs)."""
        if method != "corr":
            return {}
        out = [(Range(va, iu, k), [Range(vb[s], iu, k) for s in members]) for members, k in groups]
        return {"ranges": out, "ceil_ranges": [Range(v, iu, None if ceil else ~np.isnan(v)) for v in vb]}

    missing_b = np.isnan(vb)
    if not np.isnan(va).any() and not missing_b.any():
        bs = np.stack([full(v) for v in vb])
        groups = [(np.arange(S), full(va), None)]
        return Prepared(groups, bs, bs, None, np.zeros(S, dtype=int), *ranked, **ranges([(np.arange(S), None)], True))
    keep = ~np.isnan(va) & ~missing_b  # (S, pairs): each subject's comparison on its own complete pairs
    dropped = keep.shape[1] - keep.sum(axis=1)
    _nan_warning(caller, int(dropped.sum()), int(keep.size))
    keep[keep.sum(axis=1) < MIN_PAIRS] = False  # compare_rdms's rule: no comparison (every resample NaN)
    patterns, which = np.unique(keep, axis=0, return_inverse=True)
    which = np.asarray(which).ravel()
    members = [np.flatnonzero(which == g) for g in range(len(patterns))]
    groups = [(m, full(va, k), square(k.astype(float))) for m, k in zip(members, patterns)]
    bs = np.stack([full(v, k) for v, k in zip(vb, keep)])
    rg = ranges(list(zip(members, patterns)), ceil=not missing_b.any())
    if not missing_b.any():  # only the model has NaN pairs: the ceiling (no model in it) uses every pair
        return Prepared(groups, bs, np.stack([full(v) for v in vb]), None, dropped, *ranked, **rg)
    return Prepared(groups, bs, np.stack([full(v, ~m) for v, m in zip(vb, missing_b)]), ~missing_b, dropped, *ranked, **rg)


class Range:
    """The pairs ``keep`` (pairs,) bool, ``None``: all) of an RDM's upper triangle ``v`` (pairs,) in
    value order, for the smallest and largest value each resample draws (:meth:`flat`)."""

    def __init__(self, v: np.ndarray, iu: tuple[np.ndarray, np.ndarray], keep: np.ndarray | None) -> None:
        at = np.arange(v.size) if keep is None else np.flatnonzero(keep)
        at = at[np.argsort(v[at], kind="stable")]
        self.s, self.i, self.j = v[at], iu[0][at], iu[1][at]

    def _first(self, drawn: np.ndarray, s: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Per resample (rows of ``drawn`` (B, n) bool) the first of the values ``s`` whose pair's
        stimuli ``i``, ``j`` are both drawn (NaN: none); a few leading pairs answer most resamples."""
        out = np.full(drawn.shape[0], np.nan)
        todo, lo, step = np.arange(drawn.shape[0]), 0, 16
        while todo.size and lo < s.size:
            at = slice(lo, lo + step)
            d = drawn[todo]
            hit = d[:, i[at]] & d[:, j[at]]
            found = hit.any(axis=1)
            out[todo[found]] = s[at][hit[found].argmax(axis=1)]
            todo, lo, step = todo[~found], lo + step, step * 4
        return out

    def flat(self, C: np.ndarray) -> np.ndarray:
        """Whether each resample (rows of the draw counts ``C``) draws values of this RDM that are
        equal up to rounding: :func:`~neuroxr.kernels.compare.flat_ends` of their smallest and largest,
        the rule by which :func:`~neuroxr.geometry.compare_rdms` judges the resampled RDM (B,)."""
        drawn = C > 0
        lo = self._first(drawn, self.s, self.i, self.j)
        hi = self._first(drawn, self.s[::-1], self.i[::-1], self.j[::-1])
        with np.errstate(invalid="ignore"):
            return flat_ends(np, lo, hi)


def qform(C: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``c_b^T V c_b / 2`` for each row ``c_b`` of ``C``: the pair-weighted sum of ``V``."""
    return 0.5 * np.einsum("bi,bi->b", C @ V, C)


class _Moments:
    """Pair-weighted means and (co)variances of RDMs ``mats`` on resamples ``C`` (the ``pairs`` of them
    asked for), over the pairs of weight ``W`` (``None``: every pair)."""

    def __init__(self, C: np.ndarray, mats: Sequence[np.ndarray], pairs: Sequence[tuple[int, int]], centred: bool,
                 W: np.ndarray | None = None) -> None:
        drawn = (C > 0).astype(float)
        if W is None:  # every pair of distinct draws
            tot = C.sum(axis=1)
            self.N = 0.5 * (tot**2 - (C**2).sum(axis=1))
            k = drawn.sum(axis=1)
            distinct = 0.5 * k * (k - 1)
        else:  # the complete pairs among them
            self.N = qform(C, W)
            distinct = qform(drawn, W)
        # compare_rdms's rule: fewer than 3 distinct complete pairs compare nothing (NaN; a cosine of
        # one pair drawn many times is 1), whatever their draw counts
        self.N = np.where(distinct < MIN_PAIRS, np.nan, self.N)
        self.cov: dict[tuple[int, int], np.ndarray] = {}
        self.sq: dict[int, np.ndarray] = {}  # mean squares, against which a variance is rounding
        with np.errstate(invalid="ignore", divide="ignore"):  # no complete pair drawn (N = 0): NaN
            mean = np.stack([qform(C, M) / self.N for M in mats], axis=1) if centred else np.zeros((C.shape[0], len(mats)))
            for i, j in pairs:
                e = qform(C, mats[i] * mats[j]) / self.N
                self.cov[(i, j)] = self.cov[(j, i)] = e - mean[:, i] * mean[:, j]
                if i == j:
                    self.sq[i] = e

    def corr(self, i: int, j: int, flat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Correlation (cosine when not centred) of RDMs ``i`` and ``j`` and where one-pass moments do not
        resolve it (B,) bool: NaN where ``flat`` (B,) (either RDM constant up to rounding on the resample,
        :meth:`Range.flat`, :func:`~neuroxr.geometry.compare_rdms`'s rule; ``None``: either all zero, the
        cosine's) and, not flat, where a variance is at most ``UNRESOLVED`` of its mean square
        (values clustered on the resample: the difference of moments lost its digits), which the
        caller computes pair by pair (:func:`_exact_corr`)."""
        var_i, var_j = self.cov[(i, i)], self.cov[(j, j)]
        if flat is None:
            flat = (self.sq[i] == 0) | (self.sq[j] == 0)
        lost = ~flat & ((var_i <= UNRESOLVED * self.sq[i]) | (var_j <= UNRESOLVED * self.sq[j]))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(flat | lost, np.nan, self.cov[(i, j)] / np.sqrt(var_i * var_j)), lost & ~np.isnan(self.N)

    def pooled_corr(self, s: int, members: Sequence[int], flat: np.ndarray | None = None) -> np.ndarray:
        """Correlation of RDM ``s`` with the mean of the normalised RDMs of ``members``; NaN where RDM
        ``s`` is constant up to rounding on the resample (``flat`` (B,), :meth:`Range.flat`)."""
        sd = {t: np.sqrt(self.cov[(t, t)]) for t in members}
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = sum(self.cov[(s, t)] / sd[t] for t in members)
            var = sum(self.cov[(t, u)] / (sd[t] * sd[u]) for t in members for u in members)
            r = cov / np.sqrt(self.cov[(s, s)] * var)
        return r if flat is None else np.where(flat, np.nan, r)


def _exact_corr(c: np.ndarray, X: np.ndarray, Y: np.ndarray, W: np.ndarray | None, centred: bool) -> float:
    """The pair-weighted correlation (cosine when not ``centred``) of RDMs ``X``, ``Y`` (n, n) on one
    resample (draw counts ``c`` (n,); pairs of weight ``W``, ``None``: all), centred pair by pair
    (two passes, as :func:`~neuroxr.geometry.compare_rdms` of the resampled RDMs)."""
    iu = np.triu_indices(c.size, 1)
    w = c[iu[0]] * c[iu[1]] * (1.0 if W is None else W[iu])
    x, y = X[iu], Y[iu]
    if centred:
        x, y = x - w @ x / w.sum(), y - w @ y / w.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(w @ (x * y) / np.sqrt((w @ (x * x)) * (w @ (y * y))))


def evaluate(C: np.ndarray, p: Prepared, centred: bool, ceiling: bool) -> dict[str, np.ndarray]:
    """Per resample (rows of the draw counts ``C``): ``score`` (B, S) model vs each subject; with
    ``ceiling`` the noise bounds (B,), rsatoolbox's ``boot_noise_ceiling``."""
    S = p.bs.shape[0]
    if p.raw is not None:  # spearman: every resample re-ranked, as the plain calls rank the resampled RDMs
        out = {"score": _score_ranked(C, p)}
        if ceiling:
            out["noise_upper"], out["noise_lower"] = _ceiling_ranked(C, p.raw, p.finite, p.orders)
        return out
    score = np.empty((C.shape[0], S))
    for g, (members, a, W) in enumerate(p.groups):  # the subjects sharing their complete pairs: one set of moments
        m = len(members) + 1
        mo = _Moments(C, [a, *p.bs[members]], [(0, j) for j in range(m)] + [(j, j) for j in range(1, m)], centred, W)
        if p.ranges is not None:  # flat by compare_rdms's rule on the values each resample draws
            ra, rb = p.ranges[g]
            fa = ra.flat(C)
        for j, s in enumerate(members, start=1):
            r, lost = mo.corr(0, j, None if p.ranges is None else fa | rb[j - 1].flat(C))
            for b in np.flatnonzero(lost):
                r[b] = _exact_corr(C[b], a, p.bs[s], W, centred)
            score[:, s] = r
    out = {"score": score}
    if not ceiling:
        return out
    flats = [None] * S if p.ceil_ranges is None else [r.flat(C) for r in p.ceil_ranges]  # compare_rdms's rule
    if p.finite is None:
        mo = _Moments(C, list(p.ceil), [(i, j) for i in range(S) for j in range(i, S)], centred)
        out["noise_upper"] = np.mean([mo.pooled_corr(s, range(S), flats[s]) for s in range(S)], axis=0)
        out["noise_lower"] = np.mean([mo.pooled_corr(s, [t for t in range(S) if t != s], flats[s]) for s in range(S)],
                                     axis=0)
    else:
        out["noise_upper"], out["noise_lower"] = _ceiling_missing(C, p.ceil, p.finite, centred,
                                                                  None if p.ceil_ranges is None else np.stack(flats, axis=1))
    return out


def _blocks(C: np.ndarray, S: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Blocks of resamples ``C`` (their ``(block, pairs)`` arrays, for ``S`` subjects: a few hundred MB),
    each as ``(rows, w)``: its rows of the output and its pair weights ``c_i c_j`` (block, pairs)."""
    iu = np.triu_indices(C.shape[1], 1)
    step = max(1, 2**24 // (iu[0].size * (S + 8)))
    for lo in range(0, C.shape[0], step):
        c = C[lo : lo + step]
        yield slice(lo, lo + step), c[:, iu[0]] * c[:, iu[1]]


def _score_ranked(C: np.ndarray, p: Prepared) -> np.ndarray:
    """Spearman's score (B, S) on resamples ``C``: :func:`~neuroxr.geometry.compare_rdms` of the resampled
    model and subject RDMs, each subject with the model on the pairs complete in the two, both ranked
    there on every resample (:func:`~neuroxr.kernels.resample.weighted_ranks`, the sort orders of
    ``p``: no sort per resample) and correlated with the pair weights (:class:`_Ranked`)."""
    S, P = p.raw.shape
    score = np.empty((C.shape[0], S))
    keeps = [np.ones(P) if W is None else W[np.triu_indices(W.shape[0], 1)] for _, _, W in p.groups]
    for rows, w in _blocks(C, S):
        for (members, _, _), keep in zip(p.groups, keeps):  # the subjects sharing their complete pairs
            wk = w * keep
            x = _Ranked(weighted_ranks(p.raw_model, wk, p.model_order), wk)
            for s in members:
                score[rows, s] = x.corr(weighted_ranks(p.raw[s], wk, p.orders[s]))
    return score


def _ceiling_ranked(C: np.ndarray, raw: np.ndarray, finite: np.ndarray | None,
                    orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Spearman noise bounds (upper, lower) on resamples ``C``: :func:`~neuroxr.geometry.rdm_noise_ceiling`
    of the resampled subject RDMs ``raw`` (S, pairs; finite at ``finite``, ``None``: everywhere).

    On each resample (pair weights ``c_i c_j``): every subject ranked on its drawn finite pairs, a
    pair's pool the mean rank over the subjects that have it (upper bound: all, lower bound: the
    others), and each subject compared with the pool re-ranked, both on the pairs complete in the
    two (:func:`~neuroxr.kernels.resample.weighted_ranks`: the ranks of the resampled vectors; the
    subjects' sort orders ``orders`` (S, pairs), computed once).
    """
    S, P = raw.shape
    F = np.ones((S, P), dtype=bool) if finite is None else finite
    k = F.sum(axis=0)
    upper, lower = np.empty((C.shape[0], S)), np.empty((C.shape[0], S))
    for rows, w in _blocks(C, S):
        # each resample's drawn pairs first (padded with weight 0): the pools are ranked on those only
        drawn = np.argsort(w == 0, axis=1, kind="stable")[:, : max(1, int((w > 0).sum(axis=1).max()))]
        W, Fd, kd = np.take_along_axis(w, drawn, 1), F[:, drawn], k[drawn]
        R = np.stack([np.take_along_axis(weighted_ranks(raw[s], w * F[s], orders[s]), drawn, 1) for s in range(S)])
        T = R.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            pool = T / kd
        ranked = {}
        for s in range(S):
            ws = W * Fd[s]
            key = F[s].tobytes()  # the pool ranked once per set of pairs (each row sorted there)
            if key not in ranked:
                ranked[key] = weighted_ranks(pool, ws)
            x = _Ranked(R[s], ws)
            upper[rows, s] = x.corr(ranked[key])
            m = F[s] & (k > F[s])  # the pairs some other subject has
            md = m[drawn]
            if not np.array_equal(m, F[s]):
                ws = W * md
                x = _Ranked(np.take_along_axis(weighted_ranks(raw[s], w * m, orders[s]), drawn, 1), ws)
            with np.errstate(invalid="ignore", divide="ignore"):
                others = np.where(md, (T - R[s]) / (kd - Fd[s]), np.nan)
            lower[rows, s] = x.corr(weighted_ranks(others, ws))
    return upper.mean(axis=1), lower.mean(axis=1)


class _Ranked:
    """Ranks ``r`` (B, pairs) of resampled vectors with pair weights ``w``, centred once for their
    weighted Pearson correlations with other ranks on the same pairs (:meth:`corr`)."""

    def __init__(self, r: np.ndarray, w: np.ndarray) -> None:
        self.w, N = w, w.sum(axis=1)
        self.mean = (N[:, None] + 1) / 2  # the mean of any ranks of N values
        self.wc = w * (r - self.mean)
        self.var = np.einsum("bp,bp->b", self.wc, r - self.mean)
        self.defined = (w > 0).sum(axis=1) >= MIN_PAIRS  # compare_rdms's rule: 3 distinct pairs

    def corr(self, y: np.ndarray) -> np.ndarray:
        """Row-wise weighted Pearson correlation with ranks ``y`` (B, pairs) on the same pairs and weights."""
        yc = y - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.einsum("bp,bp->b", self.wc, yc) / np.sqrt(self.var * np.einsum("bp,bp->b", self.w * yc, yc))
        return np.where(self.defined, r, np.nan)


def _ceiling_missing(C: np.ndarray, ceil: np.ndarray, finite: np.ndarray, centred: bool,
                     flat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The noise bounds (upper, lower) on resamples ``C`` of subject RDMs with missing pairs:
    :func:`~neuroxr.geometry.rdm_noise_ceiling`'s rule on the resampled pairs.

    ``ceil`` (S, n, n) the subjects prepared on their finite pairs ``finite`` (S, pairs). Each
    subject is normalised on its own drawn finite pairs (``z = a v - c``: centred and scaled to unit
    standard deviation, or unit root mean square for cosine; a subject constant there contributes
    zeros, as ``_pool`` scales it by 1), a pair's pool is the mean over the ``k`` subjects that have
    it, and each subject is compared with the pool of all (upper bound: ``Z / k``, ``Z`` the sum of
    the ``z``) and of the others (lower bound: ``(Z - z_s) / (k - 1)``, where ``k > 1``) on the
    pairs complete in both. The weighted sums over the pairs complete in every subject are
    quadratic forms (``k = S`` there: second moments of the subjects, as without missing pairs);
    those over the others are taken pair by pair (weights ``c_i c_j``), for all subjects at once.
    A subject without variance on a resample (``flat`` (B, S), :meth:`Range.flat`) has NaN bounds there.
    """
    S, n = ceil.shape[:2]
    iu = np.triu_indices(n, 1)
    V, M = ceil[:, iu[0], iu[1]], finite.astype(float)
    if centred:  # shift each subject by its full-sample mean (no change to a correlation; fewer lost digits)
        V = (V - (V.sum(axis=1) / M.sum(axis=1).clip(1))[:, None]) * M
    inc = ~finite.all(axis=0)  # the pairs some subject lacks

    def square(v: np.ndarray) -> np.ndarray:
        Q = np.zeros((n, n))
        Q[iu] = np.where(inc, 0.0, v)
        return Q + Q.T

    drawn = (C > 0).astype(float)
    Wc, Vc = square(np.ones(iu[0].size)), [square(v) for v in V]
    Nc, Dc = qform(C, Wc), qform(drawn, Wc)
    Lx = np.stack([qform(C, v) for v in Vc], axis=1)  # (B, S): sums over the complete pairs
    G = np.empty((C.shape[0], S, S))
    for t in range(S):
        for u in range(t, S):
            G[:, t, u] = G[:, u, t] = qform(C, Vc[t] * Vc[u])
    Lxx = np.einsum("btt->bt", G)
    Vi, Mi = V[:, inc], M[:, inc]
    V2i = Vi * Vi
    w = C[:, iu[0][inc]] * C[:, iu[1][inc]]  # (B, incomplete pairs): a pair's weight c_i c_j
    d = drawn[:, iu[0][inc]] * drawn[:, iu[1][inc]]  # drawn (distinct pairs)
    n_t, sx, sxx = Nc[:, None] + w @ Mi.T, Lx + w @ Vi.T, Lxx + w @ V2i.T
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = sx / n_t if centred else np.zeros_like(n_t)
        sd = np.sqrt(sxx / n_t - mu**2)
        a = np.where(sd > 0, 1 / sd, 0.0)  # a subject none of whose pairs is drawn, or constant: zeros
    c = a * np.where(np.isfinite(mu), mu, 0.0)
    cs, aLx = c.sum(axis=1), (a * Lx).sum(axis=1)
    SZ = aLx - cs * Nc  # complete pairs: sum of w Z, of w v_s Z, of w Z^2
    SxZ = np.einsum("bst,bt->bs", G, a) - Lx * cs[:, None]
    SZ2 = np.einsum("bt,btu,bu->b", a, G, a) - 2 * aLx * cs + cs**2 * Nc
    Z = a @ Vi - c @ Mi  # incomplete pairs: pair by pair
    wZ, wZ2 = w * Z, w * Z * Z
    k = Mi.sum(axis=0)
    q = Mi / np.maximum(k, 1)  # upper bound: y = Z / k on the subject's pairs
    upper = _corr(n_t, Dc[:, None] + d @ Mi.T, sx, SZ[:, None] / S + wZ @ q.T, SxZ / S + wZ @ (q * Vi).T, sxx,
                  SZ2[:, None] / S**2 + wZ2 @ (q * q).T, centred)
    m = Mi * (k > 1)  # lower bound: y = r (Z - a v_s + c), r = 1 / (k - 1), on the pairs the others have
    R = m / np.maximum(k - 1, 1)
    Rr = R / np.maximum(k - 1, 1)
    wR, wRV, wRV2, wRr, wRrV = w @ R.T, w @ (R * Vi).T, w @ (R * V2i).T, w @ Rr.T, w @ (Rr * Vi).T
    r = 1.0 / (S - 1)  # the complete pairs: k - 1 = S - 1
    SZz = a * SxZ - c * SZ[:, None]  # complete pairs: sum of w Z z_s, and of w z_s^2
    Sz2 = a * a * Lxx - 2 * a * c * Lx + c * c * Nc[:, None]
    sy = (SZ[:, None] - a * Lx + c * Nc[:, None]) * r + wZ @ R.T - a * wRV + c * wR
    sxy = (SxZ - a * Lxx + c * Lx) * r + wZ @ (R * Vi).T - a * wRV2 + c * wRV
    syy = ((SZ2[:, None] - 2 * SZz + Sz2) * r * r + wZ2 @ Rr.T - 2 * a * (wZ @ (Rr * Vi).T) + 2 * c * (wZ @ Rr.T)
           + a * a * (w @ (Rr * V2i).T) - 2 * a * c * wRrV + c * c * wRr)
    lower = _corr(Nc[:, None] + w @ m.T, Dc[:, None] + d @ m.T, Lx + w @ (m * Vi).T, sy, sxy, Lxx + w @ (m * V2i).T,
                  syy, centred)
    if flat is not None:
        upper, lower = np.where(flat, np.nan, upper), np.where(flat, np.nan, lower)
    return upper.mean(axis=1), lower.mean(axis=1)


def _corr(N: np.ndarray, distinct: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxy: np.ndarray, sxx: np.ndarray,
          syy: np.ndarray, centred: bool) -> np.ndarray:
    """The weighted Pearson correlation (cosine when not ``centred``) from the weighted sums over the
    pairs (total weight ``N``); NaN with fewer than 3 ``distinct`` pairs, compare_rdms's rule."""
    with np.errstate(invalid="ignore", divide="ignore"):
        N = np.where(distinct < MIN_PAIRS, np.nan, N)
        ex, ey, exy, exx, eyy = sx / N, sy / N, sxy / N, sxx / N, syy / N
        if centred:
            exy, exx, eyy = exy - ex * ey, exx - ex**2, eyy - ey**2
        return exy / np.sqrt(exx * eyy)
