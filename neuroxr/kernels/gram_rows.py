"""The row-centred and uncentred Grams of :class:`~neuroxr.kernels.gram.GramStats` (correlation
and cosine RDMs), and the row pass that keeps their digits.

The statistics give the row-centred Gram (correlation RDMs) and the uncentred Gram (cosine RDMs)
as shifts of the column-centred ``K`` (:mod:`neuroxr.kernels.gram`)::

    Fr Fr^T = K - a a^T / p + u 1^T + 1 u^T,     F F^T = K + u' 1^T + 1 u'^T

Exact algebra, but in floating point the terms cancel when the stimuli have large offsets (row
means large against each row's variation across units: ``K`` and ``a a^T / p`` then share their
leading digits) or when a stimulus' pattern is small against the others': the error is about
``kappa eps``, ``kappa`` the size of the terms against the result (:func:`shift_cancellation`, a
bound from the statistics alone; offsets of 1e6 against unit variation give ``kappa ~ 1e12``).

Where ``kappa`` exceeds :data:`ROW_PASS_KAPPA` a second pass over the units forms, with the
per-stimulus reference ``r = a / p + mu`` (the first pass's row means)::

    Kr = (F - r 1^T)(F - r 1^T)^T,    ar = (F - r 1^T) 1

and then, ``ar`` being of the order of the rounding of ``r`` only, every term is at most the
size of the result::

    Fr Fr^T = Kr - ar ar^T / p,    F F^T = Kr - ar ar^T / p + c c^T,    c = sqrt(p) (r + ar / p)

(:func:`gram_terms`). Streamed features are read twice then (:func:`neuroxr.kernels.gram.gram_dask`);
statistics with ``kappa`` below the bound take no second pass and give the numbers they always did.
This module imports nothing of :mod:`neuroxr.kernels.gram` (which imports it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..backend import get_namespace, gram_matrix, shifted_gram
from ..errors import LayoutError

if TYPE_CHECKING:
    from .gram import GramStats

__all__ = ["check_range", "uncentered_gram", "row_centered_gram", "uncentered_shift", "row_centered_shift", "gram_terms",
           "ROW_PASS_KAPPA", "RowSums", "row_means", "shift_cancellation", "needs_row_pass", "row_partial",
           "accumulate", "with_row_pass", "sum_chunks"]

#: Largest cancellation ``kappa`` (:func:`shift_cancellation`) taken without the row pass: the
#: shifted forms then lose at most about 10 bits, i.e. stay within about 1e-13 of the direct
#: computation in float64 (measured errors are 0.2 to 0.6 ``kappa eps`` where ``kappa`` is large).
ROW_PASS_KAPPA = 2.0**10


def uncentered_shift(stats: GramStats) -> Any:
    """``u = v + (p mu^2 + m2) / 2``, shape (n,): ``F F^T = K + u 1^T + 1 u^T``."""
    return stats.v + (stats.n_units * stats.mu * stats.mu + stats.m2) / 2


#: The way out of :func:`check_range`'s refusal of features, and what it leaves unchanged.
_GRAM_NOTE = ("(correlation and cosine RDMs, CKA and effective dimensionality do not change; Euclidean RDMs scale by "
              "the same factor)")


def check_range(stats: Any, name: str, *, what: str = "features", arg: str | None = None, note: str = _GRAM_NOTE,
                dtype: Any = None, axis: Any = None, count: int | None = None) -> None:
    """Refuse features or responses whose squares leave the normal range of their dtype (float64:
    values beyond about 1e+-154; float32: 1e+-19): a squared norm that overflowed (inf) or fell below
    the smallest normal number (its digits lost), where correlation and cosine RDMs became 0s and 2s
    or NaN, CKA, effective dimensionality and the predictivity directions' EVs wrong numbers or NaN
    (taken for constant features), shape metrics NaN, with NumPy's warning only. The one rule of
    every caller: one line naming ``name`` and the way out (divide by the largest magnitude).

    Parameters
    ----------
    stats : GramStats or array
        :class:`~neuroxr.kernels.gram.GramStats` (each stimulus's squared norm over the units, from
        the statistics), or the values themselves (a NumPy array, any shape): then one max/min pass
        bounds each column's squared norm by its largest magnitude ``m``, ``m^2 <= |x|^2 <= count m^2``:
        refused where ``count m^2`` overflows, or where the whole array's largest ``m^2`` is below the
        smallest normal number (every square subnormal or 0: dividing by the largest magnitude mends
        it; a column alone that small is not refused). NaN (missing values), zeros and all-zero
        columns pass.
    name : str
        The input as the message names it (``"forward: neural (V4)"``).
    what : str, default "features"
        What the values are, in the message (``"responses"``).
    arg : str, optional
        The argument in the message's example of the way out (default ``what``):
        ``arg / abs(arg).max()``.
    note : str
        What scaling leaves unchanged, in parentheses after the way out.
    dtype : dtype, optional
        The dtype the squares are taken in (default: the Gram's, or the values' where floating,
        else float64): a float32 fit is judged in float32.
    axis : int or tuple of int, optional
        Values only: the axes a column's values lie along (default: all, one column).
    count : int, optional
        Values only: the number of values a sum of squares may add (default ``stats.size``; a chunk
        of a larger array passes the whole array's).
    """
    if hasattr(stats, "K"):
        over, dt = _gram_out_of_range(stats, dtype)
    else:
        over, dt = _values_out_of_range(stats, dtype, axis, count)
    if over is None:
        return
    info = np.finfo(_np_dtype(dt))
    lo, hi = math.sqrt(float(info.tiny)), math.sqrt(float(info.max))
    raise LayoutError(
        f"{name}: the {what}' squared norms {'overflow' if over else 'fall below'} {dt}'s normal range "
        f"(values outside about {lo:.0e} .. {hi:.0e} in magnitude): scale them first, e.g. {arg or what} / abs({arg or what}).max() "
        f"{note}.")


def _gram_out_of_range(stats: GramStats, dtype: Any) -> tuple[bool | None, Any]:
    """Whether the statistics' squared norms overflow (True), fall below the normal range (False)
    or neither (None), and the dtype judged (:func:`check_range`)."""
    xp = get_namespace(stats.K)
    K = stats.K if xp.isdtype(stats.K.dtype, "real floating") else xp.astype(stats.K, xp.float64)
    d = xp.linalg.diagonal(K) + 2 * uncentered_shift(stats)  # every stimulus's squared norm ||F_i||^2
    info = xp.finfo(K.dtype if dtype is None else _np_dtype(dtype))
    wide = xp.astype(d, xp.float64)  # compared in float64: float64's bounds cast to a float32 d overflowed (a NumPy warning)
    over = bool(xp.any(xp.isinf(K))) or bool(xp.any(xp.isinf(d))) or bool(xp.any(wide > float(info.max)))
    # a norm squared to exactly 0 where the row's mean (unsquared: it does not underflow) is not 0 beyond the
    # rounding of a zero row's (-mu + mu): underflow, not a zero pattern; NaN: missing values, as the caller decides.
    # A row whose mean is at least sqrt(tiny) beyond that rounding holds a value whose square is normal: its 0 is the
    # cancellation of K_ii + 2 u_i (one stimulus far from the others), never underflow
    mean, scale = stats.a / stats.n_units + stats.mu, xp.abs(stats.a) / stats.n_units + abs(float(stats.mu))
    err = 64 * float(xp.finfo(K.dtype).eps) * scale
    flushed = (d == 0) & (xp.abs(mean) > err) & (xp.abs(mean) - err < math.sqrt(float(info.tiny)))
    under = bool(xp.any((wide > 0) & (wide < float(info.tiny)))) or bool(xp.any(flushed))
    return (True if over else False if under else None), (K.dtype if dtype is None else _np_dtype(dtype))


def _values_out_of_range(v: Any, dtype: Any, axis: Any, count: int | None) -> tuple[bool | None, Any]:
    """:func:`_gram_out_of_range` of the values ``v`` themselves: each column's largest magnitude
    from one max and one min reduction (NumPy: NaN ignored, an all-NaN column gives NaN and is never
    refused; other array-API arrays, finite, in their namespace)."""
    numpy = isinstance(v, np.ndarray) or not hasattr(v, "shape")
    v = np.asarray(v) if numpy else v
    xp = np if numpy else get_namespace(v)
    floating = xp.isdtype(v.dtype, "real floating")
    dt = _np_dtype(dtype if dtype is not None else v.dtype if floating else np.float64)
    size = math.prod(v.shape)
    if size == 0 or not (floating or xp.isdtype(v.dtype, "integral")):
        return None, dt
    axes = None if axis is None else tuple(int(a) % v.ndim for a in np.atleast_1d(axis))
    others = tuple(i for i in range(v.ndim) if axes is not None and i not in axes) or None
    if numpy and floating:
        top, bottom = np.fmax.reduce(v, axis=others), np.fmin.reduce(v, axis=others)
    else:
        top, bottom = xp.max(v, axis=others), xp.min(v, axis=others)
    top, bottom = (np.asarray(_to_host(x), dtype=np.float64) for x in (top, bottom))
    m = np.maximum(top, -bottom)  # NaN where a column is all NaN
    with np.errstate(invalid="ignore"):
        over = bool(np.any(m > math.sqrt(float(np.finfo(dt).max) / max(1, int(size if count is None else count)))))
    # below the range: the whole array (what dividing by its largest magnitude mends), not a column alone (a
    # softmax layer's unit near 1e-25 beside units near 1 is no reason to refuse the layer)
    top_all = float(np.nanmax(m)) if np.isfinite(m).any() else 0.0
    under = 0 < top_all < math.sqrt(float(np.finfo(dt).tiny))
    return (True if over else False if under else None), dt


def _to_host(x: Any) -> Any:
    """A reduction's result as a NumPy value (torch and CuPy arrays copied to the host)."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return x
    from ..backend import to_numpy

    return to_numpy(x)


def _np_dtype(dtype: Any) -> Any:
    """``dtype`` as a NumPy dtype (a torch or CuPy dtype by its name)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rpartition(".")[2])


def row_centered_shift(stats: GramStats) -> Any:
    """``u = v - mu a + m2 / 2``, shape (n,): ``Fr Fr^T = K - a a^T / p + u 1^T + 1 u^T``."""
    return (stats.v - stats.mu * stats.a) + stats.m2 / 2


def gram_terms(stats: GramStats, centred: bool) -> tuple[Any, Any, Any, Any]:
    """``(K, u, a, c)`` with ``G = K + u 1^T + 1 u^T - a a^T / p + c c^T`` (``a``, ``c`` may be None):
    the row-centred Gram (``centred``) or the uncentred one, from the row pass where ``stats``
    carry it, else the shifted forms above."""
    if stats.Kr is not None:
        u = get_namespace(stats.ar).zeros_like(stats.ar)
        if centred:
            return stats.Kr, u, stats.ar, None
        p = stats.n_units
        return stats.Kr, u, stats.ar, math.sqrt(p) * (stats.r + stats.ar / p)
    if centred:
        return stats.K, row_centered_shift(stats), stats.a, None
    return stats.K, uncentered_shift(stats), None, None


def uncentered_gram(stats: GramStats) -> Any:
    """Uncentred Gram ``F F^T``, shape (n, n) (from the row pass where ``stats`` carry it)."""
    K, u, a, c = gram_terms(stats, centred=False)  # every term symmetric elementwise: a symmetric K
    return shifted_gram(K, u, a, stats.n_units, c)   # gives an exactly symmetric result


def row_centered_gram(stats: GramStats) -> Any:
    """Gram ``Fr Fr^T`` of the features centred across units within each stimulus, shape (n, n)
    (from the row pass where ``stats`` carry it)."""
    K, u, a, c = gram_terms(stats, centred=True)  # every term symmetric elementwise, as above
    return shifted_gram(K, u, a, stats.n_units, c)


class RowSums(NamedTuple):
    """Partial sums of the row pass over a chunk of units: ``Kr`` (n, n) and ``ar`` (n,)."""

    Kr: Any
    ar: Any


def row_means(stats: GramStats) -> Any:
    """Row means of ``F``, ``a / p + mu``, shape (n,): the row pass's reference ``r``."""
    return stats.a / stats.n_units + stats.mu


def _kappa(xp: Any, d: Any, size: Any, x: Any, const: float) -> float:
    """``max_ij (sqrt(size_i size_j) + x_i + x_j + const) / sqrt(d_i d_j)``, bounded by per-row
    maxima: ``max(size / d) + (2 max(x / sqrt(d)) + const / sqrt(min d)) / sqrt(min d)``; inf
    where a squared norm ``d_i`` is not positive (a constant or zero row, or one that cancelled)."""
    if not bool(xp.all(d > 0)):
        return math.inf
    rd = xp.sqrt(d)
    lo = float(xp.min(rd))
    return float(xp.max(size / d)) + (2 * float(xp.max(x / rd)) + const / lo) / lo


def shift_cancellation(stats: GramStats, centred: bool | None = None) -> float:
    """Bound ``kappa`` on the cancellation of the shifted Grams of ``stats``.

    The shifted Gram's entry ``G_ij`` is a sum of terms of magnitude at most
    ``T_ij = sqrt(s_i s_j) + x_i + x_j + const`` (row-centred: ``s_i = K_ii + a_i^2 / p``,
    ``x_i = |v_i| + |mu a_i|``, ``const = m2``; uncentred: ``s_i = K_ii``, ``x_i = |v_i|``,
    ``const = p mu^2 + m2``), so its rounding error relative to ``sqrt(G_ii G_jj)`` is about
    ``eps T_ij / sqrt(G_ii G_jj) <= eps kappa``. O(n).

    Parameters
    ----------
    stats : GramStats
    centred : bool, optional
        The row-centred Gram (correlation) only, the uncentred one (cosine) only, or (None,
        default) the larger of the two.

    Returns
    -------
    float
        ``kappa >= 1``; inf when a row's squared norm is not positive.
    """
    xp = get_namespace(stats.K)
    p = float(stats.n_units)
    k, a, v, mu = xp.linalg.diagonal(stats.K), stats.a, stats.v, stats.mu
    out = []
    if centred is None or centred:
        aa = a * a / p
        d = k + 2 * row_centered_shift(stats) - aa
        out.append(_kappa(xp, d, k + aa, xp.abs(v) + abs(mu) * xp.abs(a), stats.m2))
    if not centred:
        d = k + 2 * uncentered_shift(stats)
        out.append(_kappa(xp, d, k, xp.abs(v), p * mu * mu + stats.m2))
    return max(out)


def needs_row_pass(stats: GramStats) -> bool:
    """Whether correlation or cosine RDMs from ``stats`` need the row pass: it is not there and
    :func:`shift_cancellation` exceeds :data:`ROW_PASS_KAPPA`."""
    return stats.Kr is None and shift_cancellation(stats) > ROW_PASS_KAPPA


def row_partial(F: Any, r: Any) -> RowSums:
    """:class:`RowSums` of one chunk of whole columns ``F`` (n, p_c) about the reference ``r`` (n,)
    (any namespace: moved to ``F``'s device)."""
    if len(F.shape) != 2 or F.shape[0] != r.shape[0]:
        raise LayoutError(f"row_partial: a chunk of shape {tuple(F.shape)} for a reference of {r.shape[0]} stimuli; "
                          "chunk the unit axis only (whole columns of every stimulus).")
    xp = get_namespace(F)
    A = F - xp.asarray(r, device=getattr(F, "device", None))[:, None]
    return RowSums(gram_matrix(A), xp.sum(A, axis=1))


def accumulate(acc: Any, s: Any) -> Any:
    """``acc + s``, field by field, written into ``acc``'s arrays (``acc`` is owned by the caller): the
    sums of a second pass (:class:`RowSums`, or the pair pass's ``PairSums``)."""
    if acc is None:
        return s
    for a, b in zip(acc, s):
        a += b
    return acc


def with_row_pass(stats: GramStats, chunks: Iterable[Any]) -> GramStats:
    """``stats`` with the row pass over ``chunks`` (the unit chunks ``stats`` were computed from, in
    any order): ``Kr``, ``ar`` and the reference ``r`` (:func:`row_means`) set.

    Parameters
    ----------
    stats : GramStats
        Of the features whose unit chunks ``chunks`` yields.
    chunks : iterable of arrays, shape (n_stimuli, n_units_chunk)

    Returns
    -------
    GramStats
    """
    r = row_means(stats)
    acc = sum_chunks(chunks, lambda c: row_partial(c, r), accumulate, stats.n_units, "with_row_pass")
    return replace(stats, Kr=acc.Kr, ar=acc.ar, r=r)


def sum_chunks(chunks: Iterable[Any], partial: Callable[[Any], Any], add: Callable[[Any, Any], Any], n_units: int,
               caller: str) -> Any:
    """The sums of a second pass over unit chunks (the row pass, the pair pass): ``partial`` of each
    chunk, added with ``add``; a one-line error naming ``caller`` when the chunks hold other than the
    statistics' ``n_units`` units."""
    acc, p = None, 0
    for c in chunks:
        acc = add(acc, partial(c))
        p += int(c.shape[1])
    if acc is None or p != n_units:
        raise LayoutError(f"{caller}: chunks of {p} units in all for statistics of {n_units} units; "
                          "pass the unit chunks the statistics were computed from.")
    return acc

