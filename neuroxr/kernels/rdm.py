"""Representational dissimilarity matrices (RDMs) from Gram statistics, as array-API kernels.

RDMs come from :class:`~neuroxr.kernels.gram.GramStats` (so a layer streamed chunk by chunk gives
the same RDM as one held in memory):

- ``correlation``: ``1 - pearson(F_i, F_j)`` across units (scipy ``pdist(metric="correlation")``,
  rsatoolbox ``calc_rdm(method="correlation")``);
- ``cosine``: ``1 - cos(F_i, F_j)`` (scipy ``pdist(metric="cosine")``);
- ``euclidean``: ``||F_i - F_j||`` (scipy ``pdist(metric="euclidean")``; rsatoolbox's
  ``"euclidean"`` is the squared distance divided by the number of channels);
- ``sqeuclidean``: ``||F_i - F_j||^2``.

Squared distances ``d_i + d_j - 2 K_ij`` from the centred Gram carry rounding of about 1e-13
relative; on integer features (spike counts) the true squared distances are integers, so they are
rounded to the nearest integer where the rounding error is provably far below 1/2
(:func:`exact_squares`): pairs at equal distances then stay exactly equal, as in scipy's ``pdist``,
and rank comparisons average their ranks.

Correlation and cosine RDMs normalise a shifted Gram ``G = K + u 1^T + 1 u^T - a a^T / p``
(:func:`neuroxr.backend.normalized_dissimilarity`; on NumPy one blocked pass written over the
Gram's memory), or, where those terms would cancel (stimuli with large offsets), the Gram of the
row pass (:mod:`neuroxr.kernels.gram_rows`), so they stay within about 1e-13 of scipy's. The
comparisons of RDMs live in :mod:`neuroxr.kernels.compare` and are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..backend import TIE_RTOL, get_namespace, may_chain, normalized_dissimilarity, tie_groups, tie_links, to_numpy
from ..backend import upper_tri as _upper_tri
from ..errors import LayoutError, ParameterError, shown, warn, where
from .gram import GramStats, constant_features, gram, variance_totals
from .gram_pairs import cancelled_pairs
from .gram_rows import ROW_PASS_KAPPA, check_range, gram_terms, shift_cancellation
from .stats import no_variance, rounding_tol

__all__ = [
    "RDM_METHODS",
    "rdm_from_gram",
    "exact_squares",
    "tie_squares",
    "tie_bounded",
    "rdm",
    "upper_tri",
    "n_from_n_pairs",
    "check_option",
]

RDM_METHODS = ("correlation", "cosine", "euclidean", "sqeuclidean")


def check_option(value: Any, allowed: tuple[str, ...], param: str, caller: str) -> str:
    """``value``, or the one-line parameter error (a :class:`~neuroxr.errors.ParameterError`, a
    ``ValueError``) starting with ``caller``, the public function called, when it is not one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(f"{where(caller)}{param} must be one of {tuple(allowed)}; got {shown(value)}.")
    return value


def _diag(xp: Any, M: Any) -> Any:
    return xp.linalg.diagonal(M)


def _scaled_links(xp: Any, sq: Any, direct: Any) -> Any:
    """The tie links of :func:`tie_squares` over ``sq``'s sorted upper triangle (NaN left out) when
    some values come from the pair pass: neighbours within ``TIE_RTOL`` times the larger of their
    scales (a pair-pass value: itself; a value from the Gram: the largest of those), a chain of links
    reaching further split greedily (each group the values within that of its first value)."""
    v, dv = _upper_tri(sq), _upper_tri(direct)
    gram_scale = xp.max(xp.where(dv, xp.zeros_like(v), xp.abs(v)))
    order = xp.argsort(v, stable=True)  # NaN last, as sort
    s, scale = xp.take(v, order), xp.take(xp.where(dv, xp.abs(v), gram_scale), order)
    k = int(xp.sum(xp.astype(~xp.isnan(s), xp.int64)))
    s, scale = s[:k], scale[:k]
    gaps = s[1:] - s[:-1]
    links = gaps <= TIE_RTOL * xp.maximum(scale[1:], scale[:-1])
    if not may_chain(xp, links, gaps):
        return links
    # a chain of links reaching further splits, as the rule's (split_long_groups): each group takes the
    # values within TIE_RTOL times the larger of its first value's scale and theirs of that first value
    sh, ch, new = to_numpy(s), to_numpy(scale), np.concatenate([[True], ~to_numpy(links)])
    start = np.flatnonzero(new)
    first = np.maximum.accumulate(np.where(new, np.arange(k), 0))
    bad = sh - sh[first] > TIE_RTOL * np.maximum(ch[first], ch)
    if not bad.any():
        return links
    for g in np.unique(first[bad]):  # the groups spanning too far, split greedily
        stop = start[np.searchsorted(start, g, side="right")] if g < start[-1] else k
        f = g
        for i in range(g + 1, stop):
            if sh[i] - sh[f] > TIE_RTOL * max(ch[f], ch[i]):
                new[i], f = True, i
    return xp.asarray(~new[1:], device=getattr(s, "device", None))


def _zero_diag(xp: Any, D: Any) -> Any:
    n = int(D.shape[-1])
    eye = xp.eye(n, dtype=xp.bool, device=getattr(D, "device", None))
    return xp.where(eye, xp.zeros_like(D), D)


def exact_squares(stats: GramStats, dtype: Any) -> bool:
    """Whether the squared distances from ``stats``, computed in ``dtype``, round to the exact ones.

    True when the features are integers (:attr:`GramStats.integral`) and
    ``p^2 (2 max|F|)^2 eps <= 2^-6`` (``eps`` of ``dtype``). Each centred value is at most
    ``2 max|F|``, so every Gram entry sums at most ``S = p (2 max|F|)^2`` in absolute value, with
    a worst-case rounding error of about ``p eps S`` (the products, their sum, the chunks' sum);
    ``d_i + d_j - 2 K_ij`` then errs by less than ``24 p eps S <= 3/8``, under the 1/2 that
    rounding to the nearest integer tolerates. Float64: ``p (2 max|F|) <= 2^23`` (e.g. 10^4 units
    of counts up to 400); float32: ``p (2 max|F|) <= 362``.
    """
    if not stats.integral:
        return False
    eps = float(get_namespace(stats.K).finfo(dtype).eps)
    p, M = float(stats.n_units), float(stats.max_abs)
    return p * (2 * M) <= math.sqrt(2.0**-6 / eps)  # p^2 (2M)^2 eps <= 2^-6, without overflowing for huge M


def tie_squares(sq: Any, direct: Any = None) -> Any:
    """Squared distances equal up to rounding made equal, so that their square roots are.

    The values of the upper triangle that the one tie rule ties (``neuroxr.backend.tie_links``:
    sorted neighbours at most ``TIE_RTOL`` times the largest squared distance apart) take their
    group's smallest value. A squared distance from the centred Gram errs by rounding relative to
    the largest one, which the rule covers; its square root ``d`` errs by that over ``2 d``, far
    beyond the rule for distances small against the largest (docs/kernels.md, "Ties up to rounding").
    Squared distances of the pair pass (:mod:`neuroxr.kernels.gram_pairs`) err by rounding relative
    to themselves: neighbours tie within ``TIE_RTOL`` times the larger of their scales, a pair-pass
    value's own, the Gram's values' the largest of those.

    Parameters
    ----------
    sq : array, shape (n, n)
        Squared distances, symmetric with a zero diagonal.
    direct : bool array, shape (n, n), optional
        The squared distances of the pair pass (default: none).

    Returns
    -------
    array, shape (n, n)
        ``sq`` itself where no tied values differ; else a copy with the values that move changed
        in both triangles.
    """
    xp = get_namespace(sq)
    v = _upper_tri(sq)
    s = xp.sort(v, stable=False)  # NaN last
    s = s[: int(xp.sum(xp.astype(~xp.isnan(s), xp.int64)))]
    if int(s.shape[0]) < 2:
        return sq
    links = tie_links(s) if direct is None or not bool(xp.any(direct)) else _scaled_links(xp, sq, direct)
    if not bool(xp.any(links & (s[1:] != s[:-1]))):
        return sq
    dev = getattr(sq, "device", None)
    starts = xp.nonzero(xp.concat([xp.ones((1,), dtype=xp.bool, device=dev), ~links]))[0]
    low = xp.take(xp.take(s, starts), tie_groups(links))  # each sorted value's group's smallest
    moved = low != s
    keys, vals = s[moved], low[moved]  # the values that move (sorted) and where to
    at = xp.clip(xp.searchsorted(keys, v), 0, int(keys.shape[0]) - 1)
    hit = xp.nonzero(xp.take(keys, at) == v)[0]  # their places in the triangle (never a NaN)
    i, j = _tri_rows_cols(xp, hit, int(sq.shape[-1]))
    out = xp.asarray(sq, copy=True)
    out[i, j] = out[j, i] = xp.take(vals, xp.take(at, hit))  # only the values that move, both triangles
    return out


def tie_bounded(D: Any) -> Any:
    """A correlation or cosine RDM whose distances are all equal up to rounding on the measure's own
    scale made exactly constant.

    ``1 - r`` errs by rounding relative to its operands (``|r| <= 1``, and 1), about ``1e-16``
    absolute, not relative to the RDM's largest value. Where the finite values of the upper triangle
    span at most ``TIE_RTOL`` (about ``5.7e-14``; ``TIE_RTOL`` times the largest magnitude where it
    exceeds 1, the tie rule's threshold, :data:`neuroxr.backend.TIE_RTOL`), every one is set to the
    smallest: the RDM of affine copies of one pattern (``x_i = a_i x + b_i``, ``a_i > 0``; cosine:
    ``b_i = 0``), whose exact distances are 0 and which read rounding up to about ``1e-15``, is then
    constant, so flat to every comparison (docs/kernels.md, "Ties up to rounding"). Any other RDM is
    kept as computed: its small distances (e.g. ``1e-12`` between highly correlated patterns) carry
    their digits above the ``1e-16`` rounding, which a tie rule chaining neighbours ``5.7e-14`` apart
    would merge. NaN pairs (degenerate stimuli) stay.

    Parameters
    ----------
    D : array, shape (n, n)
        Correlation or cosine distances, symmetric with a zero diagonal.

    Returns
    -------
    array, shape (n, n)
        ``D`` itself unless it is flat as above and not yet constant; else a copy whose finite
        off-diagonal values are the smallest one.
    """
    xp = get_namespace(D)
    v = _upper_tri(D)
    v = v[~xp.isnan(v)]
    if int(v.shape[0]) < 2:
        return D
    lo, hi = float(xp.min(v)), float(xp.max(v))
    if lo == hi or not hi - lo <= TIE_RTOL * max(1.0, abs(lo), abs(hi)):
        return D
    n = int(D.shape[-1])
    off = ~xp.eye(n, dtype=xp.bool, device=getattr(D, "device", None))
    return xp.where(off & ~xp.isnan(D), xp.asarray(lo, dtype=D.dtype), D)


def _tri_rows_cols(xp: Any, k: Any, n: int) -> tuple[Any, Any]:
    """Rows and columns of positions ``k`` (int) of the row-major upper triangle (``i < j``) of an
    ``n x n`` matrix: row ``i`` starts at ``i (2 n - i - 1) / 2`` (the float root, corrected by one)."""
    kf = xp.astype(k, xp.float64)
    i = xp.astype(xp.floor(((2 * n - 1) - xp.sqrt((2.0 * n - 1) ** 2 - 8 * kf)) / 2), xp.int64)
    start = lambda r: r * (2 * n - r - 1) // 2  # noqa: E731
    i = xp.where(start(i + 1) <= k, i + 1, i)
    i = xp.where(start(i) > k, i - 1, i)
    return i, k - start(i) + i + 1


def rdm_from_gram(stats: GramStats, method: str = "correlation") -> Any:
    """RDM of the stimuli from their :class:`GramStats`.

    Parameters
    ----------
    stats : GramStats
        From :func:`~neuroxr.kernels.gram.gram`, ``gram_chunks`` or ``gram_dask``.
    method : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default "correlation"

    Returns
    -------
    array, shape (n_stimuli, n_stimuli)
        Symmetric with a zero diagonal. A stimulus with constant features (correlation) or all-zero
        features (cosine) has NaN dissimilarities, as scipy's ``pdist`` and rsatoolbox give; its
        squared norm counts as zero when it is below 256 epsilons times the terms it is computed
        from (the Gram's diagonal and row sums), not only when it is exactly 0
        (:func:`~neuroxr.kernels.stats.rounding_tol`, the one rule of "constant up to rounding").
        Features constant across the stimuli up to rounding
        (:func:`~neuroxr.kernels.gram.constant_features`) whose spread is also within 256 ulps of
        their values (what the centred Gram cannot resolve) give the RDM of exactly constant ones:
        every stimulus is their mean pattern (zero distances; NaN where that pattern is all zero,
        cosine, or constant over the units, correlation), never distances between rounding errors
        (decided where the statistics record their varying units, ``GramStats.n_varying``).
        Euclidean and squared Euclidean RDMs of integer features are exact where
        :func:`exact_squares` holds (ties kept, as scipy's ``pdist``); other Euclidean RDMs are the
        square roots of squared distances with their ties up to rounding made exact
        (:func:`tie_squares`). A correlation or cosine RDM whose values all lie within about
        ``5.7e-14`` of each other (``1 - r`` errs by rounding of 1) is made constant
        (:func:`tie_bounded`): the RDM of affine copies of one pattern is flat, not rounding that a
        comparison would correlate. Correlation and cosine RDMs
        from statistics whose shifted Gram cancels (:mod:`neuroxr.kernels.gram_rows`) and that lack
        the row pass (``gram_chunks``; a Gram Dataset written before it existed) warn
        (:class:`~neuroxr.errors.NeuroxrWarning`) with the precision lost.
    """
    check_option(method, RDM_METHODS, "method", "rdm_from_gram")
    return _rdm_from_gram(stats, method, overwrite=False, name="rdm_from_gram")


def _rdm_from_gram(stats: GramStats, method: str, overwrite: bool, name: str = "rdm") -> Any:
    """:func:`rdm_from_gram`; ``overwrite=True`` may reuse the Gram's memory for the RDM (NumPy);
    ``name``: the input, in the refusals of NaN and of features out of range (:func:`check_range`)."""
    xp = get_namespace(stats.K)
    if bool(xp.any(xp.isnan(stats.K))):  # centring spreads a NaN feature to every stimulus: no pair is defined
        raise LayoutError(f"{name}: the Gram statistics hold NaN (features with NaN values, which the centring spreads to "
                          "every stimulus), so no dissimilarity is defined; compute them from finite features: drop or "
                          "impute the NaN first (neuroxr.geometry.rdm drops neural stimuli and neuroids without trials).")
    check_range(stats, name)
    # where the statistics record their varying units (a Gram Dataset stored before: as computed)
    constant = stats.n_varying is not None and constant_features(stats) and _unresolved(xp, stats)
    if constant:  # no variance across the stimuli up to rounding: every stimulus is the mean pattern
        stats = _mean_pattern(xp, stats)
    if method in ("correlation", "cosine"):
        centred = method == "correlation"
        if stats.Kr is None and not constant:
            _check_cancellation(xp, stats, method, centred)
        G, u, a, c = gram_terms(stats, centred)  # the row pass's Gram where stats carry it
        G = _as_float(xp, G)
        # 1 - r errs by rounding on its own scale, not the RDM's largest value: ties on that scale
        return tie_bounded(normalized_dissimilarity(G, u, a, stats.n_units, rounding_tol(xp, G.dtype), overwrite, c))
    K = _as_float(xp, stats.K)
    d = _diag(xp, K)
    sq = d[:, None] + d[None, :] - 2.0 * K
    exact = exact_squares(stats, K.dtype)
    if exact:
        sq = xp.round(sq)  # integer features: the true squared distances are integers
    direct = None
    if stats.D2 is not None:  # the pair pass: the pairs whose distance from K cancels, taken otherwise
        direct = ~xp.isnan(stats.D2)
        sq = xp.where(direct, xp.astype(stats.D2, sq.dtype), sq)
    elif not exact and not constant:
        _check_pairs(stats, name)
    sq = _zero_diag(xp, xp.where(sq > 0, sq, xp.zeros_like(sq)))
    if method == "sqeuclidean":
        return sq
    return xp.sqrt(sq if exact else tie_squares(sq, direct))  # the square root would part ties of small distances


def _unresolved(xp: Any, stats: GramStats) -> bool:
    """Whether the centred Gram cannot resolve the features' variation: their centred squares within
    ``rounding_tol ** 2`` of their uncentred ones (a spread within 256 ulps of their values, the
    error of two-pass centring). Features constant up to rounding by the per-unit rule but spread
    more (float64: a relative spread between about 6e-14 and 2.4e-7) keep the RDM their Gram gives,
    which resolves it."""
    return bool(no_variance(*variance_totals(stats), rounding_tol(xp, stats.K.dtype) ** 2))


def _mean_pattern(xp: Any, stats: GramStats) -> GramStats:
    """The statistics of features whose every stimulus is the mean pattern of ``stats`` (features
    constant up to rounding, :func:`~neuroxr.kernels.gram.constant_features`): their RDM is exactly
    constant, as that of exactly constant features (Euclidean: zero; cosine: zero, NaN for an
    all-zero pattern; correlation: zero, NaN for a pattern constant over the units up to rounding)."""
    K = _as_float(xp, stats.K)
    zero = xp.zeros(K.shape[:1], dtype=K.dtype, device=getattr(K, "device", None))
    p, mu, m2 = stats.n_units, stats.mu, stats.m2
    if no_variance(m2, p * mu * mu + m2, rounding_tol(xp, K.dtype)):
        m2 = 0.0  # the pattern varies over the units by rounding only
    return replace(stats, K=xp.zeros_like(K), a=zero, v=zero + 0, m2=m2, Kr=None, ar=None, r=None, D2=None)


def _as_float(xp: Any, M: Any) -> Any:
    return M if xp.isdtype(M.dtype, "real floating") else xp.astype(M, xp.float64)


def _check_pairs(stats: GramStats, name: str) -> None:
    """One :class:`~neuroxr.errors.NeuroxrWarning` when some pair's squared distance from the Gram
    of ``stats`` cancels (:func:`~neuroxr.kernels.gram_pairs.cancelled_pairs`) and the statistics
    lack the pair pass."""
    pairs = cancelled_pairs(stats)
    m = int(pairs.i.shape[0])
    if m:
        warn(f"{name}: the Gram statistics have no pair pass and the Euclidean distances of {m} stimulus pair(s) cancel "
             f"(stimuli close together against their distance from the mean): those distances may have lost most digits. "
             "Compute the Gram from the features again (neuroxr.geometry.gram, or kernels.gram.gram / gram_dask; "
             "after gram_chunks, kernels.gram_pairs.with_pair_pass).")


def _check_cancellation(xp: Any, stats: GramStats, method: str, centred: bool) -> None:
    """One :class:`~neuroxr.errors.NeuroxrWarning` when the shifted Gram of ``stats`` (no row pass)
    cancels beyond :data:`~neuroxr.kernels.gram_rows.ROW_PASS_KAPPA`."""
    kappa = shift_cancellation(stats, centred)
    if kappa > ROW_PASS_KAPPA:
        eps = float(xp.finfo(stats.K.dtype if xp.isdtype(stats.K.dtype, "real floating") else xp.float64).eps)
        warn(
            f"rdm: the Gram statistics have no row pass and their {method} terms cancel (kappa {kappa:.3g}): "
            f"the RDM may be off by about {min(kappa * eps, 1.0):.1g}. Compute the Gram from the features again "
            "(neuroxr.geometry.gram, or kernels.gram.gram / gram_dask; after gram_chunks, kernels.gram_rows.with_row_pass).")


def rdm(F: Any, method: str = "correlation") -> Any:
    """RDM of the rows of ``F`` (n_stimuli x n_units); see :func:`rdm_from_gram`. NaN in ``F`` is refused
    (a one-line :class:`~neuroxr.errors.LayoutError`): scipy's ``pdist`` gives NaN at their stimuli's
    pairs, the centred Gram would spread them to every pair."""
    check_option(method, RDM_METHODS, "method", "rdm")
    xp = get_namespace(F)
    if xp.isdtype(F.dtype, "real floating") and bool(xp.any(nan := xp.isnan(F))):
        at = np.argwhere(np.asarray(to_numpy(nan)))
        raise LayoutError(f"rdm: F holds {at.shape[0]} NaN value{'s' if at.shape[0] > 1 else ''} (e.g. F[{at[0, 0]}, {at[0, 1]}]); "
                          "the centred Gram would spread them to every stimulus pair, so drop or impute them first "
                          "(rows are stimuli, columns units).")
    return _rdm_from_gram(gram(F), method, overwrite=True)  # the Gram is ours: its memory becomes the RDM


def n_from_n_pairs(n_pairs: int) -> int:
    """Number of stimuli ``n`` with ``n (n - 1) / 2 == n_pairs``."""
    n = int(round((1 + math.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise LayoutError(f"n_from_n_pairs: {n_pairs} is not the length of an RDM's upper triangle (n (n - 1) / 2 for some n).")
    return n


def upper_tri(D: Any) -> Any:
    """Upper triangle (``i < j``, row-major) of one RDM or a stack of RDMs.

    Parameters
    ----------
    D : array, shape (n, n) or (m, n, n)

    Returns
    -------
    array, shape (n (n - 1) / 2,) or (m, n (n - 1) / 2)
    """
    if len(D.shape) not in (2, 3) or D.shape[-1] != D.shape[-2]:
        raise LayoutError(f"upper_tri: expected (n, n) or (m, n, n) RDMs; got shape {tuple(D.shape)}.")
    return _upper_tri(D)
