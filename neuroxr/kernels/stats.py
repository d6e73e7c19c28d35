"""Correlation statistics written once: Pearson, Spearman, Kendall's tau-a, ranks, tie counts.

Column-wise (targets): :func:`pearson` and :func:`spearman` correlate each column of ``a`` with
the same column of ``b`` (axis -2 holds the samples), vectorised over columns and any leading
batch axes; ``nan_policy="omit"`` gives every column its own complete rows (as
``scipy.stats.pearsonr/spearmanr(nan_policy="omit")`` per column).

Vectors (RDM comparisons): :class:`SortedVector` sorts a vector once; :func:`spearman_sorted`
and :func:`kendall_tau_a_sorted` share that sort. This module holds the one rank routine
(:func:`rank`, tie-aware average ranks as ``scipy.stats.rankdata``), the one tie count
(``neuroxr.backend.tie_pairs``) and the one Kendall tau-a; backend fast paths live in
:mod:`neuroxr.backend`. Every function stays in its inputs' array namespace and device.

Ties are values equal up to rounding (``neuroxr.backend.tie_links``: sorted neighbours at most
``TIE_RTOL = 2^-44`` times the largest magnitude of their column apart), so the same data in
another unit (spike counts or rates) gets the same ranks; docs/kernels.md, "Ties up to rounding".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import (
    argsort,
    colsum_prod,
    count_inversions,
    cpu_threads,
    get_namespace,
    pearson_vectors,
    rank_dtype,
    sorted_ranks,
    thread_map,
    tie_groups,
    tie_links,
    tie_pairs,
)
from ..backend import rank as _rank_last
from ..errors import ParameterError, shown, where

__all__ = [
    "NAN_POLICIES", "standard_error_of_the_mean", "ROUNDING_EPS", "ROUNDING_SPREAD", "rounding_tol", "column_tol",
    "constant_units", "root_product", "no_variance", "column_squares", "constant_columns", "pearson",
    "pearson_from_sums", "centre_columns", "spearman", "spearman_brown", "rank", "rank_pairs", "SortedVector",
    "spearman_sorted", "kendall_tau_a_sorted", "pearson_vectors",
]

NAN_POLICIES = ("propagate", "omit")
MIN_COMPLETE = 3  # a column with fewer complete rows has no correlation under nan_policy="omit"
_SPEARMAN_BLOCK = 2**17  # values ranked per block by the NumPy Spearman (sorts and scatters stay in cache)
_THREAD_VALUES = 2**14  # ... and at least this many per thread (a thread's start costs about one block's sort)
_EXACT_N = 2**16  # rank sums of products are exact in float64 below this many samples


#: The one rule for "no variance across the stimuli, up to rounding": a sum of squares that is the
#: difference of larger terms (a centred variance, an RDM row's squared norm) counts as zero when it
#: is at most ``ROUNDING_EPS`` machine epsilons of the working precision times the size of those
#: terms (:func:`no_variance`). For a variance against its uncentred sum of squares this is a
#: spread below ``sqrt(ROUNDING_EPS eps)`` of the values' magnitude: 2.4e-7 relative in float64
#: (about two float32 roundings, so float32 features that are constant up to their rounding count as
#: constant when analysed in float64), 5.5e-3 in float32.
ROUNDING_EPS = 256
#: That relative spread in float64, ``sqrt(ROUNDING_EPS eps)``, as the warnings state it ("2.4e-7").
ROUNDING_SPREAD = f"{math.sqrt(ROUNDING_EPS * float(np.finfo(np.float64).eps)):.2g}".replace("e-0", "e-")


def rounding_tol(xp: Any, dtype: Any) -> float:
    """``ROUNDING_EPS`` machine epsilons of the floating ``dtype`` of namespace ``xp`` (integers: float64's)."""
    return ROUNDING_EPS * float(xp.finfo(dtype if xp.isdtype(dtype, "real floating") else xp.float64).eps)


def column_tol(xp: Any, dtype: Any) -> float:
    """The tolerance of :func:`no_variance` for a column centred by a second pass in the precision
    ``dtype`` (namespace ``xp``): float64's :func:`rounding_tol`, the rule as the targets decide it
    (:func:`constant_columns`), or, in a lower precision, the square of its own where that is larger
    (a spread within 256 ulps of the values: the two-pass squares err by the square of the rounding).
    A set of columns is constant when every column is, each decided on its own squares: summed, one
    large constant column's squares would hide the others' variance."""
    return max(rounding_tol(xp, xp.float64), rounding_tol(xp, dtype) ** 2)


def constant_units(Xc: Any, X: Any) -> Any:
    """(p,) bool: the columns of ``X`` (n, p) constant up to rounding, each decided on its own squares
    (:func:`no_variance` with :func:`column_tol` of ``Xc``'s precision), ``Xc`` its columns centred
    by a second pass (same dtype)."""
    xp = get_namespace(Xc)
    return no_variance(colsum_prod(Xc, Xc), colsum_prod(X, X), column_tol(xp, Xc.dtype))


def no_variance(centred: Any, uncentred: Any, tol: float) -> Any:
    """Whether a centred sum of squares ``centred`` is zero up to rounding: ``centred <= tol * uncentred``.

    Parameters
    ----------
    centred : float or array
        Sum of squared deviations from the mean (of a column over the stimuli, or summed over a set's columns).
    uncentred : float or array, same shape
        The sum of squares of the values themselves (``centred + n mean^2`` per column): the size of
        the terms the centred sum was computed from.
    tol : float
        :func:`rounding_tol` of the precision the sums were computed in.

    Returns
    -------
    bool or bool array
        True where there is no variance (all-zero and all-NaN columns included).
    """
    return centred <= tol * uncentred


def column_squares(a: Any) -> tuple[Any, Any]:
    """``(centred, uncentred)``: each column's sum of squared deviations from its mean and of its
    values, over its non-NaN rows (``a``: (..., n_samples, n_columns); results (..., n_columns))."""
    xp = get_namespace(a)
    valid = ~xp.isnan(a)
    if bool(xp.all(valid)):
        c = centre_columns(a, a)[0]
    else:
        c = centre_columns(a, a, valid)[0]
        a = xp.where(valid, a, xp.zeros_like(a))
    return colsum_prod(c, c), colsum_prod(a, a)


def constant_columns(a: Any) -> Any:
    """Columns of ``a`` (..., n_samples, n_columns) with no variance across the samples, up to
    rounding: :func:`no_variance` of their :func:`column_squares` (an all-NaN column counts as constant).

    Decided in float64 whatever the precision of ``a``, as the directions load their targets: a
    relative spread below ``sqrt(256 eps)`` of float64 (2.4e-7, about two float32 roundings) is
    constant. In float32 the one-pass tolerance would call a spread below 5.5e-3 constant, which the
    two-pass centring resolves (a baseline of 1000 with a spread of 4).

    Returns
    -------
    bool array, shape (..., n_columns)
    """
    xp = get_namespace(a)
    a = a if a.dtype == xp.float64 else xp.astype(a, xp.float64)
    return no_variance(*column_squares(a), rounding_tol(xp, xp.float64))


def _nan(xp: Any, like: Any) -> Any:
    return xp.asarray(float("nan"), dtype=like.dtype, device=getattr(like, "device", None))


def check_nan_policy(nan_policy: Any, caller: str | None = None) -> str:
    """``nan_policy`` checked against :data:`NAN_POLICIES` (one-line :class:`~neuroxr.errors.ParameterError`;
    the correlations' and the bootstrap intervals' one check, starting with ``caller``, the function called)."""
    if not isinstance(nan_policy, str) or nan_policy not in NAN_POLICIES:
        raise ParameterError(f"{where(caller)}nan_policy must be one of {NAN_POLICIES}; got {shown(nan_policy)}.")
    return nan_policy


def pearson_from_sums(n: Any, sa: Any, sb: Any, saa: Any, sbb: Any, sab: Any) -> Any:
    """Pearson ``r`` from sums over ``n`` (possibly weighted) samples, broadcasting.

    Parameters
    ----------
    n : float or array
        Number of samples (or sum of the weights), broadcast against the sums.
    sa, sb, saa, sbb, sab : array
        ``sum a``, ``sum b``, ``sum a^2``, ``sum b^2``, ``sum a b``, same shape.

    Returns
    -------
    array
        ``r`` within ``[-1, 1]`` (as ``scipy.stats.pearsonr`` clips it); NaN where a column is constant
        up to rounding (as :func:`pearson`, :func:`no_variance` of the one-pass variance against the raw
        sum of squares).
    """
    xp = get_namespace(sab)
    cov = sab - sa * sb / n
    va = saa - sa * sa / n
    vb = sbb - sb * sb / n
    tol = rounding_tol(xp, cov.dtype)
    ok = ~(no_variance(va, saa, tol) | no_variance(vb, sbb, tol))
    one = xp.ones_like(va)
    return xp.where(ok, _unit(xp, cov / root_product(xp, xp.where(ok, va, one), xp.where(ok, vb, one))), _nan(xp, cov))


def root_product(xp: Any, a: Any, b: Any) -> Any:
    """``sqrt(a b)`` of non-negative arrays (namespace ``xp``), without the product's underflow or
    overflow: ``sqrt(a) sqrt(b)`` where ``a b`` is not a normal number of the dtype (float32
    variances of values near 1e-12 multiply to below its range), bit-equal to ``sqrt(a b)``
    elsewhere. The denominators of the correlations here."""
    with np.errstate(over="ignore", under="ignore"):  # out of range: the other form, below (NumPy warned)
        prod = a * b
    info = xp.finfo(prod.dtype)
    normal = (prod >= info.smallest_normal) & (prod <= info.max)
    return xp.where(normal, xp.sqrt(prod), xp.sqrt(a) * xp.sqrt(b))


def pearson(a: Any, b: Any, nan_policy: str = "propagate", overwrite: bool = False) -> Any:
    """Pearson correlation of each column of ``a`` with the same column of ``b``.

    Parameters
    ----------
    a, b : array, shape (n_samples, n_columns) (or (..., n_samples, n_columns))
        Same shape, any array-API namespace.
    nan_policy : {"propagate", "omit"}, default "propagate"
        ``"propagate"``: NaN anywhere in a column gives NaN for it. ``"omit"``: each column uses
        the rows complete in both ``a`` and ``b`` (fewer than 3 complete rows: NaN).
    overwrite : bool, default False
        ``a`` and ``b`` are the caller's temporaries (e.g. predictions): complete columns are
        centred in their memory, no copy of either (the same numbers).

    Returns
    -------
    array, shape (n_columns,) (or (..., n_columns))
        NaN for a column constant up to rounding (:func:`no_variance`; ``scipy.stats.pearsonr``
        gives NaN for exactly equal values only, and a number from rounding when their mean is
        inexact).
    """
    check_nan_policy(nan_policy, "pearson")
    xp = get_namespace(a, b)
    if int(a.shape[-2]) == 0:  # no samples: NaN per column (NumPy warned "Mean of empty slice")
        return _no_samples(xp, a)
    if nan_policy == "omit":
        valid = ~(xp.isnan(a) | xp.isnan(b))
        if not bool(xp.all(valid)) or int(a.shape[-2]) < MIN_COMPLETE:
            return _pearson_masked(xp, a, b, valid)
    a, b = (x if xp.isdtype(x.dtype, "real floating") else xp.astype(x, xp.float64) for x in (a, b))
    raw_a, raw_b = colsum_prod(a, a), colsum_prod(b, b)
    a, b, _ = centre_columns(a, b, overwrite=overwrite)
    return _pearson_centred(xp, a, b, raw_a, raw_b, None)


def _unit(xp: Any, r: Any) -> Any:  # a correlation within [-1, 1] (rounding put collinear columns 1e-14 beyond; as scipy clips)
    return xp.minimum(xp.maximum(r, -xp.ones_like(r)), xp.ones_like(r))


def _no_samples(xp: Any, a: Any) -> Any:  # the correlation of columns without samples: NaN, (..., n_columns)
    dtype = a.dtype if xp.isdtype(a.dtype, "real floating") else xp.float64
    return xp.full((*map(int, a.shape[:-2]), int(a.shape[-1])), math.nan, dtype=dtype, device=getattr(a, "device", None))


def _pearson_centred(xp: Any, a: Any, b: Any, raw_a: Any, raw_b: Any, n: Any) -> Any:
    """Pearson of centred columns ``a``, ``b`` whose values had the sums of squares ``raw_a``,
    ``raw_b``: NaN where either has no variance up to rounding (:func:`no_variance` with the square
    of :func:`rounding_tol`: a spread within 256 ulps of the values, as the two-pass centring
    resolves it) or, with ``n``
    (valid rows per column), fewer than :data:`MIN_COMPLETE` rows."""
    num = colsum_prod(a, b)
    va, vb = colsum_prod(a, a), colsum_prod(b, b)
    # centred by a second pass, a column's squares err by (its rounding x its size)^2, not by
    # rounding x its squares as a one-pass or Gram-shift sum does: spread within 256 ulps of the values
    tol = rounding_tol(xp, a.dtype) ** 2
    ok = ~(no_variance(va, raw_a, tol) | no_variance(vb, raw_b, tol))
    if n is not None:
        ok = ok & (n[..., 0, :] >= MIN_COMPLETE)
    den = root_product(xp, va, vb)
    return xp.where(ok, _unit(xp, num / xp.where(ok, den, xp.ones_like(den))), _nan(xp, num))


def centre_columns(a: Any, b: Any, valid: Any = None, overwrite: bool = False) -> tuple[Any, Any, Any]:
    """``a`` and ``b`` centred per column: the one centring of the correlations here and of the
    resampled moments (:mod:`neuroxr.kernels.resample`).

    Parameters
    ----------
    a, b : array, shape (..., n_samples, n_columns)
        Any array-API namespace (the result stays there).
    valid : bool array, same shape, optional
        Rows each column uses: centred on the mean of its valid rows and zero on the others
        (values there, NaN included, are never read).
    overwrite : bool, default False
        Without ``valid``: centre ``a`` and ``b`` in their own memory (the same numbers, no copies).

    Returns
    -------
    a, b : array
        The centred columns.
    n : array or int
        Valid rows per column, shape (..., 1, n_columns) (without ``valid``: ``n_samples``).
    """
    same = b is a  # one array (its own squares): centred once, returned twice
    if valid is None:
        xp = get_namespace(a, b)
        if overwrite:
            a -= xp.mean(a, axis=-2, keepdims=True)
            if not same:
                b -= xp.mean(b, axis=-2, keepdims=True)
            return a, b, int(a.shape[-2])
        ca = a - xp.mean(a, axis=-2, keepdims=True)
        return ca, (ca if same else b - xp.mean(b, axis=-2, keepdims=True)), int(a.shape[-2])
    xp = get_namespace(a, b, valid)
    w = xp.astype(valid, a.dtype)
    zero = xp.zeros_like(a)
    n = xp.sum(w, axis=-2, keepdims=True)
    safe_n = xp.where(n > 0, n, xp.ones_like(n))

    def centred(x: Any) -> Any:
        x = xp.where(valid, x, zero)
        return (x - xp.sum(x, axis=-2, keepdims=True) / safe_n) * w

    ca = centred(a)
    return ca, (ca if same else centred(b)), n


def _pearson_masked(xp: Any, a: Any, b: Any, valid: Any) -> Any:
    """Pearson per column over the rows where ``valid`` (same shape as ``a``) is True."""
    zero = xp.zeros_like(a)
    a0, b0 = xp.where(valid, a, zero), xp.where(valid, b, zero)
    a, b, n = centre_columns(a, b, valid)
    return _pearson_centred(xp, a, b, colsum_prod(a0, a0), colsum_prod(b0, b0), n)


def rank(a: Any, axis: int = -2) -> Any:
    """Average ranks (1-based; ties share their mean rank) along ``axis``, as ``scipy.stats.rankdata``
    with values equal up to rounding tied (``neuroxr.backend.tie_links``).

    Parameters
    ----------
    a : array, any shape
        Any array-API namespace; the ranks stay there (NumPy: one sort per column on contiguous
        copies, tie groups in one flat pass; torch: one batched sort and ``searchsorted``).
    axis : int, default -2
        Axis along which to rank (default: down the columns of a (..., n_samples, n_columns) array).

    Returns
    -------
    array, same shape as ``a``, floating
        A lane holding a NaN is all NaN (NaN is never ranked).
    """
    xp = get_namespace(a)
    if not xp.isdtype(a.dtype, "real floating"):
        a = xp.astype(a, xp.float64)
    x = xp.moveaxis(a, axis, -1)
    if int(x.shape[-1]) == 0:  # empty lanes: nothing to rank (the sort's reshape raised a ValueError)
        return a
    nan = xp.isnan(x)
    bad = xp.any(nan, axis=-1, keepdims=True)
    has_nan = bool(xp.any(bad))
    r = _rank_last(xp.where(nan, xp.zeros_like(x), x) if has_nan else x)
    if has_nan:
        r = xp.where(bad, _nan(xp, r), r)
    return xp.moveaxis(r, -1, axis)


def _rank_complete(xp: Any, x: Any, valid: Any) -> Any:
    """Ranks along axis -2 among the ``valid`` entries of each column, by the one tie rule on those
    alone (the others' ranks are meaningless). The others are copies of the column's largest valid
    value, so its largest magnitude, which sets the tie tolerance, is that of its valid values (a
    fill above them raised it: near ties, or every value of a column of tiny values, tied); the
    copies join that value's group, whose valid entries then lose half their count. An infinite
    largest value is copied too (the copies tie it exactly; a finite fill sat among the values)."""
    hi = xp.max(xp.where(valid, x, xp.full_like(x, -math.inf)), axis=-2, keepdims=True)
    hi = xp.where(xp.any(valid, axis=-2, keepdims=True), hi, xp.zeros_like(hi))  # all-invalid column: any value
    r = rank(xp.where(valid, x, hi), axis=-2)
    filled = xp.sum(xp.astype(~valid, r.dtype), axis=-2, keepdims=True)
    return xp.where(valid & (r == xp.max(r, axis=-2, keepdims=True)), r - filled / 2, r)


def rank_pairs(a: Any, b: Any) -> tuple[Any, Any]:
    """Ranks of ``a`` and ``b`` along axis -2 among each column's complete pairs (rows where
    neither is NaN), NaN elsewhere: the Pearson correlation of the two over their complete rows is
    ``spearman(a, b, nan_policy="omit")``."""
    xp = get_namespace(a, b)
    valid = ~(xp.isnan(a) | xp.isnan(b))
    if bool(xp.all(valid)):
        return rank(a, axis=-2), rank(b, axis=-2)
    nan = xp.full_like(a, math.nan)
    return (xp.where(valid, _rank_complete(xp, a, valid), nan), xp.where(valid, _rank_complete(xp, b, valid), nan))


def spearman(a: Any, b: Any, nan_policy: str = "propagate") -> Any:
    """Spearman rank correlation per column (Pearson of average ranks), as ``scipy.stats.spearmanr``.

    Parameters
    ----------
    a, b : array, shape (n_samples, n_columns) (or (..., n_samples, n_columns))
    nan_policy : {"propagate", "omit"}, default "propagate"
        ``"omit"``: each column is ranked and correlated on its own complete rows (those without
        NaN in ``a`` or ``b``); fewer than 3 complete rows gives NaN.

    Returns
    -------
    array, shape (n_columns,) (or (..., n_columns)); same namespace as the inputs.
    """
    check_nan_policy(nan_policy, "spearman")
    xp = get_namespace(a, b)
    if int(a.shape[-2]) == 0:  # no samples: NaN per column (the rank raised a ValueError)
        return _no_samples(xp, a)
    if nan_policy == "omit":
        valid = ~(xp.isnan(a) | xp.isnan(b))
        if not bool(xp.all(valid)) or int(a.shape[-2]) < MIN_COMPLETE:
            return _pearson_masked(xp, _rank_complete(xp, a, valid), _rank_complete(xp, b, valid), valid)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and 2 <= int(a.shape[-2]) < _EXACT_N:
        return _spearman_numpy(a, b)
    return pearson(rank(a), rank(b))


def _spearman_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy Spearman per column, a cache-sized block of columns (every leading index) at a time.

    Blocks run on :func:`~neuroxr.backend.cpu_threads` threads, each copying its columns into
    contiguous rows of that thread's two buffers. Each column is sorted once (all columns of a block
    in one ``argsort``) and given the ranks ``1..n`` by one scatter; a column with a tie (equal up
    to rounding, ``neuroxr.backend.tie_links``) gets its average ranks from the same sort
    (``neuroxr.backend.sorted_ranks``), a column with NaN gives NaN. Ranks are integers or halves, so
    ``sum(ra rb)`` and ``sum(r^2)`` are exact in float64 (``n < 2^16``) and the uncentred moments
    lose nothing:
    ``rho = (sum(ra rb) - n m^2) / sqrt((sum(ra^2) - n m^2)(sum(rb^2) - n m^2))`` with
    ``m = (n + 1) / 2``; a tie-free column has ``sum(r^2) - n m^2 = n (n^2 - 1) / 12``.
    """
    shape = np.broadcast_shapes(a.shape, b.shape)
    n = int(shape[-2])
    # samples first, columns (every leading index) second: views of 2-D inputs
    ca, cb = (np.moveaxis(np.broadcast_to(v, shape), -2, 0).reshape(n, -1) for v in (a, b))
    rows = ca.shape[1]
    out = np.empty(rows)
    if rows == 0:
        return out.reshape(shape[:-2] + shape[-1:])
    m2 = n * ((n + 1) / 2) ** 2
    var = n * (n * n - 1) / 12.0
    threads = min(cpu_threads(), -(-rows * n // _THREAD_VALUES))  # sorts release the GIL
    step = max(1, min(_SPEARMAN_BLOCK // n, -(-rows // threads)))
    ramp = np.tile(np.arange(1.0, n + 1.0), min(step, rows))  # the ranks of a full block, sorted

    def blocks(starts: range) -> None:
        # each block's columns as rows of this thread's buffers, ranked in place (reused: fresh
        # megabyte arrays per block would be paged in again and again)
        buf = np.empty((2, min(step, rows), n))
        for lo in starts:
            cnt = min(step, rows - lo)
            x, y = buf[0, :cnt], buf[1, :cnt]
            np.copyto(x, ca[:, lo : lo + cnt].T, casting="unsafe")
            np.copyto(y, cb[:, lo : lo + cnt].T, casting="unsafe")
            ties_x, ties_y = _rank_block(x, ramp), _rank_block(y, ramp)
            sxy = np.einsum("ij,ij->i", x, y)
            sxx = np.where(ties_x, np.einsum("ij,ij->i", x, x) - m2, var)
            syy = np.where(ties_y, np.einsum("ij,ij->i", y, y) - m2, var)
            den = np.sqrt(sxx * syy)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(den > 0, (sxy - m2) / np.where(den > 0, den, 1.0), np.nan)
            out[lo : lo + cnt] = np.clip(r, -1.0, 1.0)  # NaN stays NaN

    starts = range(0, rows, step)
    thread_map(blocks, [starts[t::threads] for t in range(threads)], threads)
    return out.reshape(shape[:-2] + shape[-1:])


def _rank_block(x: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """Replace each row of ``x`` (2-D, C order) by its average ranks in place; a row with NaN becomes
    all NaN. ``ramp``: ``1..n`` repeated for at least as many rows. Returns the rows needing the
    tie-aware moments (a tie or NaN), bool (rows,)."""
    rows, n = x.shape
    gidx = np.argsort(x, axis=-1)
    gidx += np.arange(0, rows * n, n)[:, None]  # flat positions, row after row
    flat = x.reshape(-1)
    s = flat[gidx.ravel()].reshape(rows, n)
    links = tie_links(s)
    tied = links.any(axis=1)
    nan = np.isnan(s[:, -1])  # NaN sorts last
    flat[gidx.ravel()] = ramp[: rows * n]
    special = tied | nan
    if not special.any():
        return special
    with_ties = np.flatnonzero(tied & ~nan)
    if with_ties.size:  # their average ranks from the same sort
        flat[gidx[with_ties].ravel()] = sorted_ranks(links[with_ties]).reshape(-1)
    x[nan] = np.nan
    return special


def spearman_brown(r: Any) -> Any:
    """Spearman-Brown prophecy for doubling the data: ``2 r / (1 + r)`` (``-inf`` at ``r = -1``,
    a reliability no ceiling takes)."""
    with np.errstate(divide="ignore"):
        return 2 * r / (1 + r)


def standard_error_of_the_mean(values: Any, axis: int = 0) -> Any:
    """Brain-Score's ``standard_error_of_the_mean`` along ``axis`` (its splits; neuroxr's reps):
    the population std (``ddof=0``) over ``sqrt(n)``."""
    values = np.asarray(values, dtype=float)
    return np.std(values, axis=axis) / np.sqrt(values.shape[axis])


# ---------------------------------------------------------------------------- vectors, sorted once


class SortedVector:
    """What Spearman and Kendall's tau-a need of one vector (NaN-free), computed once and shared.

    Attributes
    ----------
    x : array, shape (P,)
    order : int array, shape (P,)
        Indices sorting ``x`` (not necessarily stable: ties are handled from the sorted values).
    sorted : array, shape (P,)
        ``x[order]``.
    groups : int array, shape (P,)
        Tie-group labels of ``sorted`` (``neuroxr.backend.tie_groups``: equal up to rounding).
    has_ties : bool
    """

    def __init__(self, x: Any) -> None:
        xp = get_namespace(x)
        self.xp = xp
        self.x = x
        self.order = argsort(x)
        self.sorted = xp.take(x, self.order)
        self.size = int(x.shape[0])
        self._links = tie_links(self.sorted)
        self.groups = tie_groups(self._links)  # the sorted values' tie-group labels
        self.has_ties = bool(self.size > 1 and int(self.groups[-1]) < self.size - 1)
        self._ordinal: Any = None

    @property
    def ordinal(self) -> Any:
        """0-based ranks ``r`` with ``r[order] = 0..P-1`` (a permutation), int."""
        if self._ordinal is None:
            xp = self.xp
            r = xp.empty_like(self.order)
            r[self.order] = xp.arange(self.size, dtype=self.order.dtype, device=getattr(self.order, "device", None))
            self._ordinal = r
        return self._ordinal

    def ranks(self) -> Any:
        """1-based average ranks (``scipy.stats.rankdata``), floating."""
        xp = self.xp
        dtype = rank_dtype(xp, self.x.dtype, self.size)  # float64 where float32 cannot hold every rank
        if self.has_ties:
            r = xp.empty(self.x.shape, dtype=dtype, device=getattr(self.x, "device", None))
            r[self.order] = xp.astype(sorted_ranks(self._links), dtype)
            return r
        return xp.astype(self.ordinal, dtype) + 1.0

    def dense(self) -> Any:
        """0-based dense ranks (tied values share one), int64."""
        xp = self.xp
        d = xp.empty((self.size,), dtype=xp.int64, device=getattr(self.x, "device", None))
        if self.size:
            d[self.order] = self.groups
        return d

    def tie_pairs(self) -> int:
        """Number of tied pairs."""
        return tie_pairs(self.groups) if self.has_ties else 0


def spearman_sorted(A: SortedVector, B: SortedVector) -> float:
    """Spearman's rho of two :class:`SortedVector`: Pearson of their average ranks.

    Without ties the ranks are permutations of ``1..P``, whose Pearson correlation is exactly
    ``1 - 6 sum(d^2) / (P (P^2 - 1))`` (``d`` the integer rank differences, squared in floating
    point: int64 could overflow beyond about 2e6 pairs).
    """
    xp = A.xp
    P = A.size
    if A.has_ties or B.has_ties or P < 2:
        return pearson_vectors(A.ranks(), B.ranks())
    d = xp.astype(A.ordinal - B.ordinal, xp.float64)  # exact integers: float32 rounds them past 2**24
    sd2 = float(xp.sum(d * d))
    return min(1.0, max(-1.0, 1.0 - 6.0 * sd2 / (float(P) * (float(P) * P - 1.0))))


def kendall_tau_a_sorted(A: SortedVector, B: SortedVector) -> float:
    """Kendall's tau-a of two :class:`SortedVector`: ``(concordant - discordant) / (P (P - 1) / 2)``.

    Without ties the discordant pairs are the inversions of ``B``'s ranks taken in ``A``'s order.
    With ties both vectors are ordered lexicographically ((a, b) and (b, a), stable, on dense
    ranks), so that a pair tied in either is never an inversion, and
    ``concordant - discordant = N - T_a - T_b + T_ab - 2 D`` with ``N = P (P - 1) / 2``, the tied
    pairs ``T_a``, ``T_b``, ``T_ab`` (tied in both) and ``D`` the inversions. ``O(P log P)``.
    """
    xp = A.xp
    P = A.size
    if P < 2:
        return math.nan
    n0 = P * (P - 1) // 2
    if not (A.has_ties or B.has_ties):
        return (n0 - 2 * count_inversions(xp.take(B.ordinal, A.order))) / n0
    da, db = A.dense(), B.dense()
    nb = int(db[B.order[-1]]) + 1
    na = int(da[A.order[-1]]) + 1
    o_ab = xp.argsort(da * nb + db, stable=True)  # by a, then b, then position
    k_ba = db * na + da
    o_ba = xp.argsort(k_ba, stable=True)  # by b, then a, then position
    r_ba = xp.empty_like(o_ba)
    r_ba[o_ba] = xp.arange(P, dtype=o_ba.dtype, device=getattr(o_ba, "device", None))
    dis = count_inversions(xp.take(r_ba, o_ab))
    tab = tie_pairs(xp.take(k_ba, o_ba))  # equal (b, a) keys = pairs tied in both
    return (n0 - A.tie_pairs() - B.tie_pairs() + tab - 2 * dis) / n0
