"""Resampling kernels: bootstrap draws, resampled Pearson correlations, intervals (the p-values and
their corrections are in :mod:`neuroxr.kernels.pvalues`).

Every draw is made on positions of the canonical stimulus order (sorted ``stimulus_id``,
:func:`neuroxr.alignment.canonical_order`) with ``numpy.random.default_rng``, so the resamples are a
function of the ids and the seed only (the same on every backend and for every input order).

The Pearson correlation of two columns on a resample with counts ``w`` (``sum w = n``) needs
only the weighted sums of ``a``, ``b``, ``a b``, ``a^2``, ``b^2``: for ``B`` resamples these are
one product of the ``B x n`` count matrix with the stacked ``n x 5k`` columns
(:func:`resampled_pearson`). A column scored on some of the stimuli only (a validity ``mask``)
uses the weights restricted to its stimuli: the stacked columns are zero elsewhere and the
total weight is ``W @ mask``, so every column still comes from the one product.

Every bootstrap interval follows one rule for resamples whose statistic is undefined (NaN, e.g.
fewer than 3 distinct stimuli drawn, or a ceiling <= 0): :data:`NAN_POLICIES`, applied by
:func:`percentile_interval` and :func:`bca_interval` (hence :func:`basic_interval` and
:func:`centred_interval`), counted by :func:`undefined_resamples` and reported by
:func:`warn_undefined`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ..backend import TIE_RTOL, lane_tolerance, may_chain, split_long_groups
from ..errors import ParameterError, shown, warn, where
from ..validation import check_int
from .pvalues import fdr_bh, holm, maxt_pvalues, permutation_pvalues  # noqa: F401 (callers read rs.*)
from .stats import MIN_COMPLETE, centre_columns, check_nan_policy, pearson_from_sums
from .stats import NAN_POLICIES as _stats_nan_policies

#: What a bootstrap interval does with a resample whose statistic is undefined (NaN), the
#: correlations' ``nan_policy`` values (:data:`neuroxr.kernels.stats.NAN_POLICIES`): ``"propagate"``
#: (default, as ``scipy.stats.bootstrap``): the interval is NaN; ``"omit"``: it is computed from the
#: defined resamples only (conditional on the statistic being defined).
NAN_POLICIES = _stats_nan_policies

__all__ = [
    "bootstrap_indices",
    "permutation_indices",
    "counts",
    "resampled_pearson",
    "weighted_ranks",
    "jackknife_pearson",
    "percentile_interval",
    "basic_interval",
    "centred_interval",
    "bootstrap_bias",
    "bias_interval",
    "check_bias_boot_method",
    "BIAS_BOOT_METHODS",
    "BIAS_BOOT_DEFAULT",
    "bca_interval",
    "check_nan_policy",
    "undefined_resamples",
    "warn_undefined",
    "NAN_POLICIES",
    "two_sided_pvalue",
]


def _positive(value: Any, name: str, hint: str, caller: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ParameterError(f"{where(caller)}{name} must be a positive integer; got {shown(value)}. {hint}")
    return int(value)


def check_n_perm(n_perm: Any, caller: str) -> int:
    """An optional permutation count (0: none) as an int >= 0; ``None``, a bool or a float: one line naming ``caller``."""
    return check_int(n_perm, "n_perm", 0, "Pass the number of permutations, e.g. n_perm=1000, or n_perm=0 for none.",
                     caller=caller)


def _seed(seed: Any, caller: str) -> int:
    """The seed of a draw, an integer >= 0 (1.5 was truncated to 1, "3" read as 3); else one line naming ``caller``."""
    return check_int(seed, "seed", 0, "The seed of the draws, e.g. seed=0.", caller=caller)


def bootstrap_indices(n: int, n_boot: int, seed: int, stream: int = 0, caller: str = "") -> np.ndarray:
    """Bootstrap draws (with replacement) of ``n`` positions of the canonical order.

    Parameters
    ----------
    n : int
        Number of items (stimuli in canonical order, or targets).
    n_boot : int
        Number of resamples.
    seed : int
        Seed; the generator is ``numpy.random.default_rng([seed, stream])``.
    stream : int, default 0
        Independent stream (0: stimuli, 1: targets, 2: permutations).
    caller : str, default ""
        The public function called, which starts the message refusing ``n_boot``.

    Returns
    -------
    ndarray of int, shape (n_boot, n)
    """
    _positive(n_boot, "n_boot", "Pass the number of bootstrap resamples, e.g. n_boot=1000.", caller)
    return np.random.default_rng([_seed(seed, caller), stream]).integers(0, n, size=(int(n_boot), int(n)))


def permutation_indices(n: int, n_perm: int, seed: int, caller: str = "") -> np.ndarray:
    """Permutations of ``n`` positions of the canonical order, shape ``(n_perm, n)``
    (``numpy.random.default_rng([seed, 2]).permutation`` per row); a bad ``n_perm`` is refused in a
    message starting with ``caller``."""
    _positive(n_perm, "n_perm", "Pass the number of permutations, e.g. n_perm=1000.", caller)
    rng = np.random.default_rng([_seed(seed, caller), 2])
    return np.stack([rng.permutation(n) for _ in range(int(n_perm))])


def distinct_draws(idx: np.ndarray) -> np.ndarray:
    """The number of distinct positions each resample (row of ``idx``, (B, m)) draws, shape (B,)."""
    s = np.sort(np.asarray(idx), axis=1)
    return (s.shape[1] > 0) + (np.diff(s, axis=1) != 0).sum(axis=1)


def counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Count matrix ``W`` (``B x n``, float64): ``W[b, i]`` = times position ``i`` is drawn in resample ``b``."""
    B = idx.shape[0]
    W = np.zeros((B, n))
    np.add.at(W, (np.repeat(np.arange(B), idx.shape[1]), idx.ravel()), 1.0)
    return W


def _moments(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Stacked ``[a, b, a b, a^2, b^2]`` of column-centred ``a``, ``b`` (``n x k`` each) -> ``n x 5k``;
    with ``valid`` (float mask), centred on the complete rows and zero elsewhere
    (:func:`~neuroxr.kernels.stats.centre_columns`)."""
    a, b, _ = centre_columns(a, b, None if valid is None else valid > 0)
    return np.concatenate([a, b, a * b, a * a, b * b], axis=1)


def _pearson_of_moments(S: np.ndarray, total: np.ndarray | float, k: int) -> np.ndarray:
    """:func:`~neuroxr.kernels.stats.pearson_from_sums` of the ``[a, b, ab, a^2, b^2]`` sums ``S``."""
    sa, sb, sab, saa, sbb = (S[..., i * k : (i + 1) * k] for i in range(5))
    return pearson_from_sums(total, sa, sb, saa, sbb, sab)


def resampled_pearson(W: np.ndarray, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pearson ``r`` of each column pair of ``a``, ``b`` on each resample of ``W``.

    Parameters
    ----------
    W : ndarray, shape (B, n)
        Counts (or any non-negative weights) per resample.
    a, b : ndarray, shape (n, k)
    mask : bool ndarray, shape (n, k), optional
        The rows each column is scored on (a target's valid stimuli): column ``j`` is the weighted
        Pearson of its rows, the weights ``W[:, mask[:, j]]``. ``None``: every row.

    Returns
    -------
    ndarray, shape (B, k)
        ``W = ones((1, n))`` gives the plain Pearson correlation of each column pair. Rows NaN in
        ``a`` or ``b`` are left out of their column as rows outside ``mask`` are; fewer than
        :data:`~neuroxr.kernels.stats.MIN_COMPLETE` distinct rows of non-zero weight: NaN (a
        resample drawing only 2 distinct rows of a column, however often, would give ``+-1``).
    """
    k = a.shape[1]
    valid = _complete(a, b, mask)
    drawn = W > 0
    if valid is None:
        S = W @ _moments(a, b)
        distinct = drawn.sum(axis=1, keepdims=True)  # the same for every column
        with np.errstate(invalid="ignore", divide="ignore"):
            r = _pearson_of_moments(S, W.sum(axis=1, keepdims=True), k)
        return r if distinct.min() >= MIN_COMPLETE else _masked(r, distinct)
    with np.errstate(invalid="ignore", divide="ignore"):  # a column without complete rows: NaN
        return _masked(_pearson_of_moments(W @ _moments(a, b, valid), W @ valid, k), drawn @ valid)


def weighted_ranks(x: np.ndarray, w: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Average ranks of each row's entries drawn ``w`` times (``w > 0``; the others are absent):
    the ranks that ``rank`` gives the vector holding every entry ``w`` times, one value per entry.

    An entry's rank is ``before + (g + 1) / 2``, with ``before`` the weight of the smaller values and
    ``g`` that of its tie group; ties follow the one tie rule (:func:`neuroxr.backend.tie_links`) on
    the present entries (sorted neighbours at most ``TIE_RTOL`` times the row's largest magnitude
    apart; equal values only in a row with an infinite present value). One vector ``x`` is sorted
    once, not per row: without ties (then none on any set of its entries) its ranks are the
    cumulative weights in that order; with ties each row's groups are found among its present
    entries along that order. One vector per row: each row is sorted.

    Parameters
    ----------
    x : array (P,) or (B, P)
        Values; an absent entry (``w == 0``) may be NaN.
    w : array (B, P)
        Non-negative integer weights (draw counts), one row per resample.
    order : int array (P,), optional
        ``numpy.argsort(x)`` of a vector ``x`` when already known.

    Returns
    -------
    ndarray (B, P)
        The ranks; 0 at absent entries.
    """
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    B, P = w.shape
    if x.ndim == 1:
        order = np.argsort(x) if order is None else np.asarray(order)
        xs = x[order]
        xs = xs[~np.isnan(xs)]
        ws = w[:, order]
        out = np.empty((B, P))
        # no neighbours within the largest tolerance of any set of the entries (TIE_RTOL x the largest finite magnitude): no ties on any set
        finite = np.abs(xs[np.isfinite(xs)])
        with np.errstate(invalid="ignore"):  # equal infinities (inf - inf) tie
            gaps = np.diff(xs)
            near = ~(gaps > TIE_RTOL * (finite.max() if finite.size else 0.0))
        if not near.any():  # no ties: each entry's rank is its cumulative weight less (w - 1) / 2
            out[:, order] = np.where(ws > 0, np.cumsum(ws, axis=1) - (ws - 1) / 2, 0.0)
            return out
        out[:, order] = _ranks_in_order(x[order], ws, may_chain(np, near, gaps))
        return out
    xm = np.where(w > 0, x, np.inf)  # absent entries sort last (a present inf ties them: no weight)
    flat = (np.argsort(xm, axis=-1) + np.arange(0, B * P, P)[:, None]).ravel()
    s, ws = xm.ravel()[flat].reshape(B, P), w.ravel()[flat]
    n_present = (ws > 0).reshape(B, P).sum(axis=1)
    ends = np.abs(np.take_along_axis(s, np.stack([np.zeros(B, dtype=int), (n_present - 1).clip(0)], axis=1), 1))
    new = np.ones((B, P), dtype=bool)  # a tie group starts: a row's first entry, or a gap above the tolerance
    tol = lane_tolerance(np, ends)  # the tie rule's: 0 where a present value is infinite
    with np.errstate(invalid="ignore"):  # absent entries (inf - inf) join the row's last group, with no weight
        gaps = np.diff(s, axis=1)
        np.greater(gaps, tol, out=new[:, 1:])
    if may_chain(np, ~new[:, 1:], gaps):
        new = split_long_groups(s, new, tol, np.arange(P) < n_present[:, None])
    out = np.empty(B * P)
    out[flat] = np.where(ws > 0, _group_ranks(new, ws), 0.0)
    return out.reshape(B, P)


def _ranks_in_order(xs: np.ndarray, ws: np.ndarray, chains: bool = True) -> np.ndarray:
    """:func:`weighted_ranks` of a sorted vector ``xs`` (P,; NaN last) with weights ``ws`` (B, P), no sort:
    a tie group starts at each present entry more than ``TIE_RTOL`` times the row's largest present
    magnitude above the present entry before it (absent entries join a group with no weight), a
    longer chain split (``chains``: whether ``xs``'s can be long, :func:`~neuroxr.backend.may_chain`,
    without which no row's can)."""
    B, P = ws.shape
    present = ws > 0
    before_pos = np.maximum.accumulate(np.where(present, np.arange(P), -1), axis=1)
    before_pos = np.concatenate([np.full((B, 1), -1), before_pos[:, :-1]], axis=1)  # the present entry before each
    tol = lane_tolerance(np, np.where(present, np.abs(xs), 0.0).max(axis=1, keepdims=True))  # 0 where one is infinite
    with np.errstate(invalid="ignore"):  # NaN at absent entries
        new = present & ((before_pos < 0) | (xs - xs[before_pos.clip(0)] > tol))
    new[:, 0] = True  # every row starts a group (of no weight if its first entry is absent)
    if chains:
        new = split_long_groups(np.broadcast_to(xs, ws.shape), new, tol, present)
    return np.where(present, _group_ranks(new, ws.ravel()).reshape(B, P), 0.0)


def _group_ranks(new: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each entry's average rank in its row, flat (B * P,): rows of sorted entries with weights ``w``
    (flat), a tie group starting where ``new`` (B, P) is True (every row's first entry)."""
    P = new.shape[1]
    starts = np.flatnonzero(new)
    before = np.cumsum(w) - w  # integer counts: exact across rows
    rank_g = before[starts] - before[starts - starts % P] + (np.add.reduceat(w, starts) + 1) / 2
    return np.repeat(rank_g, np.diff(np.append(starts, w.size)))


def jackknife_pearson(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Leave-one-out Pearson ``r`` of each column pair, shape ``(n, k)`` (row ``i``: item ``i`` left out),
    from the total sums minus each row (no ``n x n`` product).

    ``mask`` (n, k) bool, optional: as in :func:`resampled_pearson`, the rows each column is scored
    on; only those are left out, the others give NaN (a column's jackknife is over its own items,
    so the acceleration of :func:`bca_interval`, NaN-skipping, counts those alone). A row NaN in
    ``a`` or ``b`` but inside ``mask`` is an item of the column whose pair is incomplete: leaving
    it out gives the full-sample value, as without a mask. Under MIN_COMPLETE rows left in: NaN, mask or not."""
    n, k = a.shape
    valid = _complete(a, b, mask)
    M = _moments(a, b, valid)
    S = M.sum(axis=0)[None, :] - M
    if valid is None:  # n - 1 rows each: fewer than MIN_COMPLETE (n = 3) give NaN, as the masked path
        return _masked(_pearson_of_moments(S, n - 1.0, k), n - 1)
    total = valid.sum(axis=0)[None, :] - valid
    with np.errstate(invalid="ignore", divide="ignore"):
        r = _masked(_pearson_of_moments(S, total, k), total)
    return r if mask is None else np.where(mask, r, np.nan)


def _complete(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
    """Float mask (n, k) of the rows where neither column is NaN (and, with ``mask``, inside it);
    ``None`` when every row is complete. Each column's correlation then uses its complete rows
    only (``nan_policy="omit"``)."""
    bad = np.isnan(a) | np.isnan(b)
    if mask is not None:
        bad |= ~np.asarray(mask, dtype=bool)
    return None if not bad.any() else (~bad).astype(float)


def _masked(r: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """NaN where a column has fewer than :data:`~neuroxr.kernels.stats.MIN_COMPLETE` distinct
    complete rows of non-zero weight (``distinct``, broadcast against ``r``)."""
    return np.where(distinct >= MIN_COMPLETE, r, np.nan)


def _check_level(level: float, caller: str = "") -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < level < 1:
        raise ParameterError(f"{where(caller)}level must be a number in (0, 1); got {shown(level)}. Pass e.g. level=0.95.")
    return float(level)


def undefined_resamples(boot: np.ndarray) -> np.ndarray:
    """Per trailing position of ``boot`` (B, ...), the number of resamples whose statistic is
    undefined (not finite), shape ``boot.shape[1:]``."""
    return np.sum(~np.isfinite(boot), axis=0)


def _apply_policy(ci: np.ndarray, boot: np.ndarray, nan_policy: str) -> np.ndarray:
    """The one rule of every bootstrap interval (:data:`NAN_POLICIES`): with ``"propagate"`` the
    bounds ``ci`` (2, ...) are NaN wherever a resample of ``boot`` is undefined."""
    if check_nan_policy(nan_policy) == "omit":
        return ci
    return np.where(undefined_resamples(boot)[None] > 0, np.nan, ci)


def warn_undefined(caller: str, n_undefined: np.ndarray, n_boot: int, what: str, nan_policy: str,
                   also: str = "") -> None:
    """The one warning of a bootstrap with undefined resamples (none when every count is 0).

    Parameters
    ----------
    caller : str
        Prefix of the message (the function or input name).
    n_undefined : ndarray of int
        :func:`undefined_resamples` of the statistic (a scalar, or one count per target).
    n_boot : int
        Number of resamples.
    what : str
        The statistic (scalar counts, e.g. ``"score"``) or the targets (e.g. ``"neuroids"``).
    nan_policy : {"propagate", "omit"}
    also : str
        A further clause (e.g. the medians' count), appended as given.
    """
    n_undefined = np.asarray(n_undefined)
    if not n_undefined.any() and not also:
        return
    if n_undefined.ndim:
        hit = int(np.sum(n_undefined > 0))
        head = (f"{hit} {what} have resamples with an undefined statistic (up to {int(n_undefined.max())} of {n_boot})"
                if hit else "")
    else:
        head = f"{int(n_undefined)} of {n_boot} resamples have an undefined {what}" if n_undefined else ""
    their = "their intervals" if n_undefined.ndim else "its interval"
    rule = (f"{their} NaN, as scipy.stats.bootstrap gives (the Python functions' nan_policy='omit' takes the "
            f"defined resamples only)"
            if nan_policy == "propagate" else
            f"{their} from the defined resamples only (nan_policy='omit'), conditional on the statistic being defined")
    counted = "; n_boot_undefined counts them" if head else ""
    warn(f"{caller}: " + "; ".join(x for x in (head and f"{head}: {rule}{counted}", also) if x) + ".")


def percentile_interval(boot: np.ndarray, level: float = 0.95, nan_policy: str = "propagate") -> np.ndarray:
    """Percentile interval over axis 0 of ``boot``.

    Parameters
    ----------
    boot : ndarray, shape (B, ...)
        The statistic on each resample.
    level : float, default 0.95
    nan_policy : {"propagate", "omit"}, default "propagate"
        A position with an undefined (NaN) resample: NaN bounds (as ``scipy.stats.bootstrap``),
        or (``"omit"``) the bounds of its defined resamples (:data:`NAN_POLICIES`).

    Returns
    -------
    ndarray, shape (2, ...)
        Lower and upper bounds, the quantiles at ``(1 -+ level) / 2`` (linear interpolation,
        as ``scipy.stats.bootstrap(method="percentile")``).
    """
    level = _check_level(level, "percentile_interval")
    alpha = (1 - level) / 2
    # a column without a finite resample (a target never scored): NaN, silently (no process-wide filter);
    # an infinite resample is undefined (undefined_resamples) like a NaN one: "omit" leaves it out too
    finite = np.where(np.isfinite(boot), boot, np.nan)
    ci = np.stack([nanquantile(finite, alpha, axis=0), nanquantile(finite, 1 - alpha, axis=0)])
    return _apply_policy(ci, boot, nan_policy)


def basic_interval(theta: np.ndarray, boot: np.ndarray, level: float = 0.95, nan_policy: str = "propagate") -> np.ndarray:
    """Basic (reverse percentile) interval ``2 theta - (high, low)`` of the percentile bounds, as
    ``scipy.stats.bootstrap(method="basic")``: the percentile interval reflected about ``theta``,
    an interval for the quantity ``theta`` estimates when ``theta`` errs from it as ``boot`` errs
    from ``theta`` (bias included).

    Parameters
    ----------
    theta : ndarray, shape (...)
        The statistic on the full sample.
    boot : ndarray, shape (B, ...)
        The statistic on each resample.
    level : float, default 0.95
    nan_policy : {"propagate", "omit"}, default "propagate"
        As :func:`percentile_interval`.

    Returns
    -------
    ndarray, shape (2, ...)
    """
    lo, hi = percentile_interval(boot, _check_level(level, "basic_interval"), nan_policy)
    return np.stack([2 * np.asarray(theta) - hi, 2 * np.asarray(theta) - lo])


def bootstrap_bias(theta: np.ndarray, boot: np.ndarray) -> np.ndarray:
    """Bootstrap estimate of a statistic's bias: the NaN-mean of ``boot`` over axis 0 minus ``theta``
    (Efron & Tibshirani 1993, ch. 10); NaN where no resample is finite."""
    return nanmean(boot, axis=0) - np.asarray(theta)


def centred_interval(theta: np.ndarray, boot: np.ndarray, level: float = 0.95, nan_policy: str = "propagate") -> np.ndarray:
    """Percentile interval of the resamples centred on the estimate: the percentile bounds of
    ``boot - bias`` (:func:`bootstrap_bias`), i.e. ``theta + quantiles(boot - mean(boot))``. The
    spread of the resamples around ``theta``, without their bias (a statistic whose resamples are
    all below ``theta`` still gets an interval around it).

    Parameters
    ----------
    theta : ndarray, shape (...)
    boot : ndarray, shape (B, ...)
        As :func:`basic_interval`.
    level : float, default 0.95
    nan_policy : {"propagate", "omit"}, default "propagate"
        As :func:`percentile_interval` (the bias is the mean of the defined resamples).

    Returns
    -------
    ndarray, shape (2, ...)
    """
    return percentile_interval(boot, _check_level(level, "centred_interval"), nan_policy) - bootstrap_bias(theta, boot)[None]


#: Intervals of a bootstrap whose resamples are biased against the estimate (the shape metrics' fit
#: distance, CKA): ``method`` of :func:`bias_interval`, default ``"centred"`` (docs/inference.md)
BIAS_BOOT_METHODS = ("centred", "percentile", "basic")
BIAS_BOOT_DEFAULT = "centred"


def check_bias_boot_method(method: Any, caller: str, why_not_bca: str) -> str:
    """``method`` of :func:`bias_interval` checked: one of :data:`BIAS_BOOT_METHODS`, or a one-line
    :class:`~neuroxr.errors.ParameterError` starting with ``caller`` (``"bca"``: refused, saying
    ``why_not_bca``)."""
    if method == "bca":
        raise ParameterError(f"{caller}: method='bca' is not offered: {why_not_bca}; pass method='centred' or 'basic'.")
    if method not in BIAS_BOOT_METHODS:
        raise ParameterError(f"{caller}: method must be one of {BIAS_BOOT_METHODS}; got {shown(method)}.")
    return method


def bias_interval(method: str, theta: np.ndarray, boot: np.ndarray, level: float = 0.95,
                  nan_policy: str = "propagate") -> np.ndarray:
    """The interval ``method`` (:data:`BIAS_BOOT_METHODS`) of ``boot`` around ``theta``:
    :func:`centred_interval`, :func:`percentile_interval` or :func:`basic_interval`, shape (2, ...)."""
    if method == "percentile":
        return percentile_interval(boot, level, nan_policy)
    return {"centred": centred_interval, "basic": basic_interval}[method](theta, boot, level, nan_policy)


def bca_interval(theta: np.ndarray, boot: np.ndarray, jack: np.ndarray, level: float = 0.95,
                 nan_policy: str = "propagate") -> np.ndarray:
    """Bias-corrected and accelerated (BCa) interval (Efron 1987), as ``scipy.stats.bootstrap(method="BCa")``.

    Parameters
    ----------
    theta : ndarray, shape (...)
        The statistic on the full sample.
    boot : ndarray, shape (B, ...)
        The statistic on each resample.
    jack : ndarray, shape (n, ...)
        The statistic with each item left out (acceleration); NaN entries are not items of that
        position (a target's jackknife is over its own stimuli) and are skipped.
    level : float, default 0.95
    nan_policy : {"propagate", "omit"}, default "propagate"
        As :func:`percentile_interval`: with ``"omit"`` ``z0`` and the quantiles use the defined
        resamples only.

    Returns
    -------
    ndarray, shape (2, ...)
        ``z0 = Phi^-1((#(boot < theta) + #(boot <= theta)) / 2B)``, ``a = sum(d^3) / (6 sum(d^2)^1.5)`` with
        ``d = mean(jack) - jack``; the bounds are the percentiles
        ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` of ``boot`` for ``z = Phi^-1((1 -+ level) / 2)``.
    """
    level = _check_level(level, "bca_interval")
    alpha = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):  # a column without a finite value: NaN
        valid = np.isfinite(boot)  # scipy's percentile of score, kind "mean"
        frac = (np.sum((boot < theta) & valid, axis=0) + np.sum((boot <= theta) & valid, axis=0)) / (2 * np.sum(valid, axis=0))
        z0 = ndtri(frac)
        d = nanmean(jack, axis=0) - jack
        acc = np.nansum(d**3, axis=0) / (6 * np.nansum(d**2, axis=0) ** 1.5)
        out = []
        for z in (ndtri(alpha), ndtri(1 - alpha)):
            q = ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z)))
            q = np.where(np.isfinite(q), q, np.nan)
            out.append(_nanquantile_per(boot, q))
    return _apply_policy(np.stack(out), boot, nan_policy)


def _nanquantile_per(boot: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``nanquantile(boot[:, j], q[j])`` for every trailing position ``j`` (linear interpolation)."""
    flat = boot.reshape(boot.shape[0], -1)
    qf = np.broadcast_to(q, boot.shape[1:]).ravel()
    out = np.full(flat.shape[1], np.nan)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        col = col[np.isfinite(col)]
        if col.size and np.isfinite(qf[j]):
            out[j] = np.quantile(col, qf[j])
    return out.reshape(boot.shape[1:])


def two_sided_pvalue(boot_diff: np.ndarray, nan_policy: str = "propagate") -> np.ndarray:
    """Bootstrap p-value of a difference being 0: ``min(1, 2 min(P(d <= 0), P(d >= 0)))`` over axis 0,
    each fraction counted as ``(1 + count) / (1 + B)`` over the defined resamples; an undefined
    resample makes it NaN unless ``nan_policy="omit"`` (the intervals' rule, :data:`NAN_POLICIES`),
    and so does a position without any defined resample (no resample to count: 1 was returned)."""
    ok = np.isfinite(boot_diff)  # an infinite difference is undefined, as a NaN one: counted in neither
    B = np.sum(ok, axis=0)
    le = (1.0 + np.sum((boot_diff <= 0) & ok, axis=0)) / (1.0 + B)
    ge = (1.0 + np.sum((boot_diff >= 0) & ok, axis=0)) / (1.0 + B)
    p = np.where(B > 0, np.minimum(1.0, 2 * np.minimum(le, ge)), np.nan)
    return _apply_policy(p[None], boot_diff, nan_policy)[0]


# NaN-reductions silent on slices without a value (NaN there), for every module
def _quietly(fn: Any, x: Any, axis: Any, least: int = 1, **kw: Any) -> Any:
    """``fn(x, axis=axis, **kw)`` (a NumPy NaN-reduction) with NaN, silently, where a slice holds fewer
    than ``least`` non-NaN values. No warning filter is touched: those are process-wide (a window of
    ``warnings.catch_warnings`` on one of a sweep's threads hid, and could lose for good, the others'
    warnings); floating-point notes are silenced by ``np.errstate``, which is per thread."""
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = x.astype(float)
    n = np.sum(~np.isnan(x), axis=axis)
    dead = n < least
    with np.errstate(all="ignore"):
        if not np.any(dead):
            return fn(x, axis=axis, **kw)
        if x.size == 0 or np.all(dead):
            out = np.full((np.shape(kw["q"]) if "q" in kw else ()) + np.shape(n), np.nan)
        else:
            filled = np.where(dead if axis is None else np.expand_dims(dead, axis), 0.0, x)
            out = np.where(dead, np.nan, fn(filled, axis=axis, **kw))
    return out[()] if out.ndim == 0 else out


def nanmedian(x: np.ndarray, axis: int | None = None) -> Any:
    return _quietly(np.nanmedian, x, axis)


def nanmean(x: np.ndarray, axis: int | None = None) -> Any:
    return _quietly(np.nanmean, x, axis)


def nanstd(x: np.ndarray, axis: int | None = None, ddof: int = 0) -> Any:
    return _quietly(np.nanstd, x, axis, least=ddof + 1, ddof=ddof)


def nanquantile(x: np.ndarray, q: Any, axis: int | None = None) -> Any:
    return _quietly(np.nanquantile, x, axis, q=q)


def nanpercentile(x: np.ndarray, q: Any, axis: int | None = None) -> Any:
    return _quietly(np.nanpercentile, x, axis, q=q)


def nanmin(x: np.ndarray, axis: int | None = None) -> Any:
    return _quietly(np.nanmin, x, axis)


def nanmax(x: np.ndarray, axis: int | None = None) -> Any:
    return _quietly(np.nanmax, x, axis)


def nanmean_over(da: Any, dim: str, keep_attrs: bool = False) -> Any:
    """The NaN-mean of DataArray ``da`` over ``dim`` (NaN where no value; ``dim``'s coords dropped), as
    ``da.mean(dim, skipna=True)`` without xarray's reduction, which sets a warning filter for a while."""
    out = da.isel({dim: 0}, drop=True).copy(data=nanmean(da.values, axis=da.get_axis_num(dim)))
    if not keep_attrs:
        out.attrs = {}
    return out
