"""Generic array-API versions of the backend operations (any namespace: NumPy, torch, CuPy).

:mod:`neuroxr.backend` uses these for arrays whose backend module (``_numpy``, ``_torch``,
``_cupy``) has no faster version. Everything stays in the arrays' own namespace and device:
no host round trip.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _xp(*arrays: Any) -> Any:
    from array_api_compat import array_namespace

    return array_namespace(*arrays)


def _dev(x: Any) -> Any:
    return getattr(x, "device", None)


def _T(xp: Any, a: Any) -> Any:
    nd = len(a.shape)
    return xp.permute_dims(a, (*range(nd - 2), nd - 1, nd - 2))


# ---------------------------------------------------------------------------- Grams and linear algebra


def gram_matrix(X: Any) -> Any:
    """``X X^T`` (n, n), exactly symmetric (the product symmetrised by averaging with its transpose)."""
    xp = _xp(X)
    K = xp.matmul(X, _T(xp, X))
    return (K + _T(xp, K)) / 2


def shifted_gram(K: Any, u: Any, a: Any = None, p: float = 1.0, c: Any = None) -> Any:
    """``(u_i + u_j) + K_ij - a_i a_j / p + c_i c_j``; every term symmetric elementwise."""
    G = (u[:, None] + u[None, :]) + K
    if a is not None:
        G = G - (a[:, None] * a[None, :]) / p
    if c is not None:
        G = G + c[:, None] * c[None, :]
    return G


def degenerate_rows(d: Any, K: Any, u: Any, a: Any, p: float, rel_tol: float, c: Any = None) -> Any:
    """Rows whose squared norm ``d_i = K_ii + 2 u_i - a_i^2 / p + c_i^2`` is zero up to rounding.

    ``d_i`` is a difference of terms that cancel for a constant (correlation) or all-zero (cosine)
    row, so it is compared with the size of those terms, ``|K_ii| + 2 |u_i| + a_i^2 / p + c_i^2``,
    times ``rel_tol`` (a few hundred machine epsilons), not with exact zero.
    """
    xp = _xp(d)
    scale = xp.abs(xp.linalg.diagonal(K)) + 2 * xp.abs(u)
    if a is not None:
        scale = scale + a * a / p
    if c is not None:
        scale = scale + c * c
    return d <= rel_tol * scale


def normalized_dissimilarity(K: Any, u: Any, a: Any, p: float, rel_tol: float, overwrite: bool = False,
                             c: Any = None) -> Any:
    """``1 - clip(G_ij / (s_i s_j), -1, 1)``, ``G = shifted_gram(K, u, a, p, c)``, ``s_i^2 = G_ii``;
    NaN rows/columns for degenerate rows (see :func:`degenerate_rows`), zero diagonal."""
    xp = _xp(K)
    G = shifted_gram(K, u, a, p, c)
    d = xp.linalg.diagonal(G)
    bad = degenerate_rows(d, K, u, a, p, rel_tol, c)
    nan = xp.asarray(float("nan"), dtype=G.dtype, device=_dev(G))
    inv = xp.where(bad, nan, 1.0 / xp.sqrt(xp.where(bad, xp.ones_like(d), d)))
    R = xp.clip(G * (inv[:, None] * inv[None, :]), -1.0, 1.0)
    n = int(K.shape[0])
    eye = xp.eye(n, dtype=xp.bool, device=_dev(K))
    return xp.where(eye, xp.zeros_like(R), 1.0 - R)


def upper_tri(D: Any) -> Any:
    """Upper triangle (``i < j``, row-major) of (n, n) or (m, n, n)."""
    xp = _xp(D)
    n = int(D.shape[-1])
    i = xp.arange(n, device=_dev(D))
    idx = xp.nonzero(xp.reshape(i[:, None] < i[None, :], (-1,)))[0]
    flat = xp.reshape(D, (*D.shape[:-2], n * n))
    return xp.take(flat, idx, axis=-1)


def spd_solve(A: Any, B: Any, overwrite: bool = False) -> Any:
    """``A^{-1} B`` for symmetric positive-definite ``A`` (batched over leading dims)."""
    xp = _xp(A, B)
    return xp.linalg.solve(A, B)


def spd_solve_right(X: Any, A: Any) -> Any:
    """``X A^{-1}`` for symmetric positive-definite ``A`` (batched)."""
    xp = _xp(X, A)
    return _T(xp, spd_solve(A, _T(xp, X)))


def spd_shift(M: Any, v: float) -> Any:
    """``M + v I`` (batched), symmetrised: solvers that read one triangle then see the same matrix."""
    xp = _xp(M)
    eye = xp.eye(int(M.shape[-1]), dtype=M.dtype, device=_dev(M))
    return (M + _T(xp, M)) / 2 + v * eye


def subtract_into(a: Any, b: Any, out: Any) -> Any:
    """``out[...] = a - b``."""
    out[...] = a - b
    return out


def axpy_into(a: Any, w: float, b: Any, out: Any) -> Any:
    """``out[...] = a + w b``."""
    out[...] = a + w * b
    return out


def outer_update_into(A: Any, w: float, u: Any, v: Any) -> Any:
    """``A[...] = A + w u v^T``."""
    A[...] = A + w * (u[:, None] * v[None, :])
    return A


def centred_gram(X: Any, block_bytes: int = 32 * 2**20) -> Any:
    """``Xc Xc^T`` of the column-centred ``X``, centring a block of columns at a time (no full copy)."""
    xp = _xp(X)
    n, p = X.shape
    block = max(512, block_bytes // (8 * max(1, int(n))))
    K = xp.zeros((n, n), dtype=X.dtype, device=_dev(X))
    for lo in range(0, p, block):
        Xb = X[:, lo : lo + block]
        A = Xb - xp.mean(Xb, axis=0, keepdims=True)
        K += xp.matmul(A, xp.permute_dims(A, (1, 0)))
    return K


def centred_triangle(X: Any, block_bytes: int = 32 * 2**20) -> Any:
    """``R^T`` (n, n) of the QR factorisation ``Xc^T = Q R`` of the column-centred ``X`` (n, p),
    ``p > n``: ``R^T Q^T = Xc``, so ``R^T`` is ``Xc`` rotated within the units (same kernel, same
    ridge fits). Blocks of columns one at a time (the ``R`` of ``[R; block^T]``): no full copy."""
    xp = _xp(X)
    n, p = X.shape
    block = max(4 * int(n), block_bytes // (8 * max(1, int(n))))
    R = None
    for lo in range(0, p, block):
        Xb = X[:, lo : lo + block]
        A = _T(xp, Xb - xp.mean(Xb, axis=0, keepdims=True))
        R = xp.linalg.qr(A if R is None else xp.concat([R, A], axis=0))[1]
    return _T(xp, R)


def submatrix(K: Any, rows: Any, cols: Any) -> Any:
    """``K[rows][:, cols]``, a copy."""
    xp = _xp(K)
    return xp.take(xp.take(K, rows, axis=0), cols, axis=1)


def spd_inverse(A: Any, overwrite: bool = False) -> Any:
    """Inverse of a symmetric positive-definite matrix."""
    xp = _xp(A)
    return xp.linalg.inv(A)


def psd_pinv_solve(A: Any, B: Any, rcond: float | None = None, scale: Any = 0.0) -> Any:
    """Minimum-norm solution of ``A X = B`` for symmetric positive semi-definite ``A``.

    Eigenvalues below ``rcond * max(eigenvalue, scale)`` (default ``rcond``: machine epsilon times
    the size) count as zero, as a least-squares solver treats singular values. ``scale`` (a number,
    or one per matrix of a stack, shape (..., 1)): the size of the values ``A`` was computed from
    (a fold's system down-dated from a larger Gram), whose rounding its own eigenvalues do not show.
    """
    xp = _xp(A, B)
    w, V = xp.linalg.eigh(A)
    if rcond is None:
        rcond = float(np.finfo(np.float64 if w.dtype == xp.float64 else np.float32).eps) * A.shape[-1]
    top = xp.max(w, axis=-1, keepdims=True)
    cutoff = rcond * xp.maximum(top, xp.asarray(scale, dtype=w.dtype, device=getattr(w, "device", None)))
    inv = xp.where(w > cutoff, 1.0 / xp.where(w > cutoff, w, xp.ones_like(w)), xp.zeros_like(w))
    return xp.matmul(V, inv[..., :, None] * xp.matmul(_T(xp, V), B))


def sum_last(x: Any) -> Any:
    """Sums over the last axis."""
    return _xp(x).sum(x, axis=-1)


def colsum_prod(a: Any, b: Any) -> Any:
    """Sums over axis -2 of ``a * b``."""
    xp = _xp(a, b)
    return xp.sum(a * b, axis=-2)


def matmul_into(a: Any, b: Any, out: Any) -> Any:
    """``out[...] = a @ b``."""
    xp = _xp(a, b)
    out[...] = xp.matmul(a, b)
    return out


# ---------------------------------------------------------------------------- ranks, ties, inversions


def argsort(x: Any) -> Any:
    """``argsort`` along the last axis (stability not required)."""
    xp = _xp(x)
    return xp.argsort(x, axis=-1, stable=False)


#: Ties up to rounding (docs/kernels.md, "Ties up to rounding"): neighbours of a sorted lane closer
#: than this times the lane's largest magnitude are tied (256 ulps of it in float64, as
#: ``kernels.stats.rounding_tol``).
TIE_RTOL = 2.0**-44


def tie_links(s: Any) -> Any:
    """Whether each value of sorted lanes ties with the one before it: the one tie rule of the ranks.

    Parameters
    ----------
    s : array, shape (..., n), floating
        Sorted along the last axis (NaN, where present, last).

    Returns
    -------
    bool array, shape (..., n - 1)
        ``s[..., i + 1] - s[..., i] <= TIE_RTOL * max|s|`` of the lane, except where a chain of such
        links reaches more than that above its smallest value: it is split into groups spanning that
        much at most (:func:`split_long_groups`). Equal values (infinities too) always tie; a lane
        with an infinite or NaN value ties equal values only.
    """
    xp = _xp(s)
    gaps = s[..., 1:] - s[..., :-1]
    links = tied_gaps(xp, gaps, s)
    if not may_chain(xp, links, gaps):
        return links
    # a chain of links spanning more than the tolerance splits (rare: checked here, split on the host)
    lanes = xp.reshape(s, (-1, int(s.shape[-1])))
    new = xp.concat([xp.ones((int(lanes.shape[0]), 1), dtype=xp.bool, device=_dev(s)),
                     ~xp.reshape(links, (int(lanes.shape[0]), -1))], axis=-1)
    flat, starts = xp.reshape(lanes, (-1,)), xp.nonzero(xp.reshape(new, (-1,)))[0]
    first = xp.take(flat, xp.take(starts, xp.cumulative_sum(xp.astype(xp.reshape(new, (-1,)), xp.int64)) - 1))
    if not bool(xp.any(xp.reshape(flat - first, lanes.shape) > lane_tolerance(xp, lanes))):
        return links
    from . import to_numpy

    new = split_long_groups(to_numpy(lanes), to_numpy(new), to_numpy(lane_tolerance(xp, lanes)))
    return xp.reshape(xp.asarray(~new[:, 1:], device=_dev(s)), links.shape)


def lane_tolerance(xp: Any, s: Any) -> Any:
    """The tie rule's tolerance of sorted lanes ``s`` (..., n): ``TIE_RTOL * max|s|`` of each lane,
    shape (..., 1); 0 for a lane with an infinite or NaN value (equal values alone tie there)."""
    tol = TIE_RTOL * xp.maximum(xp.abs(s[..., :1]), xp.abs(s[..., -1:]))  # sorted: the ends hold max|s|
    return xp.where(xp.isfinite(tol), tol, xp.zeros_like(tol))


def tied_gaps(xp: Any, gaps: Any, s: Any) -> Any:
    """The links of neighbours of sorted lanes ``s`` whose ``gaps`` (``s[..., i + 1] - s[..., i]``,
    broadcasting against ``s``'s lanes) are at most :func:`lane_tolerance`, before
    :func:`split_long_groups` (the part of :func:`tie_links` that looks at neighbours alone)."""
    return ~(gaps > lane_tolerance(xp, s))  # inf - inf is NaN: equal infinities tie


def may_chain(xp: Any, links: Any, gaps: Any) -> bool:
    """Whether a tie group of sorted lanes with neighbour ``links`` and ``gaps`` (both (..., n - 1))
    may span more than the tolerance (:func:`split_long_groups` needed): only through 2 links of
    unequal values, so never with exact ties alone (the check that spares the common case)."""
    with np.errstate(invalid="ignore"):
        return int(xp.sum(xp.astype(links & (gaps > 0), xp.int64))) >= 2


def split_long_groups(s: np.ndarray, new: np.ndarray, tol: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Tie groups of sorted rows that span at most the tolerance: the rule's second half.

    Neighbours within ``tol`` link, and links chain, so a group of values each close to the next can
    span far more than ``tol`` (values ``4e-11`` apart over ``2.6e-9``, with ``tol = 5.7e-11``: one
    group, so a Spearman correlation read NaN where Pearson's flatness rule, on the span, scored
    them). A group whose values reach more than ``tol`` above its first value is split greedily: each
    group takes the values within ``tol`` of its smallest, the next group starts at the first beyond.
    Groups spanning at most ``tol`` (every group of equal values) are kept as they are.

    Parameters
    ----------
    s : ndarray (rows, n)
        Sorted rows (each row's present values ascending; absent ones anywhere, e.g. ``inf`` last).
    new : bool ndarray (rows, n)
        Where a group starts (each row's first entry does); not modified.
    tol : ndarray (rows, 1)
        Each row's tolerance.
    present : bool ndarray (rows, n), optional
        The entries grouped (default: all); the others keep their flags.

    Returns
    -------
    bool ndarray (rows, n)
        ``new``, or a copy with the long groups split.
    """
    rows, n = s.shape
    flat_new = new.reshape(-1)
    if present is not None:
        flat_new = flat_new & present.reshape(-1)  # an absent entry starts no group of present values
    pos = np.where(flat_new, np.arange(rows * n), 0)
    first = s.reshape(-1)[np.maximum.accumulate(pos)].reshape(rows, n)  # each entry's group's first value
    with np.errstate(invalid="ignore"):
        bad = (s - first) > tol
    if present is not None:
        bad &= present
    if not bad.any():
        return new
    out = new.copy()
    for r in np.flatnonzero(bad.any(axis=1)):
        p = np.arange(n) if present is None else np.flatnonzero(present[r])
        v = s[r, p]
        out[r, p] = False
        i = 0
        while i < v.size:
            out[r, p[i]] = True
            i = int(np.searchsorted(v, v[i] + tol[r, 0], side="right"))
        out[r, 0] |= new[r, 0]
    return out


def tie_groups(links: Any) -> Any:
    """0-based tie-group labels of sorted lanes from their :func:`tie_links` (..., n - 1), ``n >= 1``:
    int64, shape (..., n), non-decreasing along each lane."""
    xp = _xp(links)
    first = xp.zeros(links.shape[:-1] + (1,), dtype=xp.int64, device=_dev(links))
    return xp.concat([first, xp.cumulative_sum(xp.astype(~links, xp.int64), axis=-1)], axis=-1)


def sorted_ranks(links: Any) -> Any:
    """1-based average ranks, in sorted order, of sorted lanes with :func:`tie_links` ``links``
    (..., n - 1), ``n >= 1``: float64, shape (..., n). A value's rank is ``(lo + hi + 1) / 2`` with
    ``lo``/``hi`` the left/right insertion points of its group label (:func:`tie_groups`)."""
    xp = _xp(links)
    g = tie_groups(links)
    shape = g.shape
    rows = xp.reshape(g, (-1, int(shape[-1])))
    out = []
    for r in range(int(rows.shape[0])):
        lo = xp.searchsorted(rows[r, :], rows[r, :], side="left")
        hi = xp.searchsorted(rows[r, :], rows[r, :], side="right")
        out.append(xp.astype(lo + hi + 1, xp.float64) / 2)
    res = xp.stack(out, axis=0) if out else xp.zeros(rows.shape, dtype=xp.float64, device=_dev(links))
    return xp.reshape(res, shape)


#: the longest lane whose average ranks (multiples of 1/2 up to n) float32 holds exactly
EXACT_FLOAT32_RANKS = 2**23


def rank_dtype(xp: Any, dtype: Any, n: int) -> Any:
    """The dtype of the ranks of lanes of ``n`` values of real floating ``dtype``: ``dtype``, or
    float64 where ``dtype`` cannot hold every average rank exactly (float32 past
    :data:`EXACT_FLOAT32_RANKS` values: a tie's half rank, then whole ranks, are rounded)."""
    return xp.float64 if dtype != xp.float64 and n > EXACT_FLOAT32_RANKS else dtype


def rank(x: Any) -> Any:
    """Average ranks (1-based, ties share their mean rank) along the last axis, in ``x``'s floating
    dtype (float64 for other dtypes, and where :func:`rank_dtype` says float32 cannot hold them).

    One sort per row; ties by :func:`tie_links` (equal up to rounding), the sorted values' ranks
    from :func:`sorted_ranks`, taken back to the row's order. ``x`` must hold no NaN (callers drop
    or mask it).
    """
    xp = _xp(x)
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, xp.float64)
    shape = x.shape
    n = int(shape[-1])
    dtype = rank_dtype(xp, x.dtype, n)
    rows = xp.reshape(x, (math.prod(shape[:-1]), n))  # not -1: lanes of no values leave it undefined
    out = []
    for r in range(int(rows.shape[0]) if n else 0):
        order = xp.argsort(rows[r, :], stable=False)
        ranks = xp.astype(sorted_ranks(tie_links(xp.take(rows[r, :], order))), dtype)
        out.append(xp.take(ranks, xp.argsort(order)))  # back to the row's order
    res = xp.stack(out, axis=0) if out else xp.zeros(rows.shape, dtype=dtype, device=_dev(x))
    return xp.reshape(res, shape)


def tie_pairs(s: Any) -> int:
    """Number of pairs of equal values in a sorted vector ``s`` (exact equality: floating values
    pass their :func:`tie_groups` labels)."""
    xp = _xp(s)
    P = int(s.shape[0])
    if P < 2:
        return 0
    new = xp.concat([xp.asarray([True], device=_dev(s)), s[1:] != s[:-1]])
    starts = xp.nonzero(new)[0]
    ends = xp.concat([starts[1:], xp.asarray([P], dtype=starts.dtype, device=_dev(s))])
    c = ends - starts
    return int(xp.sum(c * (c - 1) // 2))


def count_inversions(perm: Any) -> int:
    """Number of pairs ``i < j`` with ``perm[i] > perm[j]`` for a permutation of ``0..P-1``.

    Bit-serial (wavelet-tree) counting, most significant bit first: at bit ``k`` the sequence is
    stably grouped by ``perm >> (k+1)``; within a group every (earlier 1-bit, later 0-bit) pair is
    an inversion decided at this bit. ``O(P log P)`` with vector operations only.
    """
    xp = _xp(perm)
    P = int(perm.shape[0])
    if P < 2:
        return 0
    bits = max(1, (P - 1).bit_length())
    seq = perm
    total = 0
    pos = xp.arange(P, dtype=perm.dtype, device=_dev(perm))
    for k in range(bits - 1, -1, -1):
        bit = xp.bitwise_and(xp.bitwise_right_shift(seq, k), 1)
        group_start = xp.bitwise_left_shift(xp.bitwise_right_shift(seq, k + 1), k + 1)
        ones_excl = xp.cumulative_sum(bit) - bit
        ones_before = ones_excl - xp.take(ones_excl, group_start)
        zero = bit == 0
        total += int(xp.sum(xp.where(zero, ones_before, xp.zeros_like(ones_before))))
        # stable partition of every group: zeros first, then ones
        zeros_before = (pos - group_start) - ones_before
        n_zeros_group = xp.clip(P - group_start, 0, 1 << k)
        new_pos = group_start + xp.where(zero, zeros_before, n_zeros_group + ones_before)
        nxt = xp.empty_like(seq)
        nxt[new_pos] = seq  # scatter: supported by numpy, cupy and torch arrays
        seq = nxt
    return total


def pearson_vectors(a: Any, b: Any, center: bool = True) -> float:
    """Pearson correlation (``center``) or cosine of two vectors, clipped to [-1, 1]; NaN if a norm is 0."""
    xp = _xp(a, b)
    a, b = pow2_scaled(a), pow2_scaled(b)  # squares within the dtype's range at any scale
    if center:
        a = a - xp.mean(a)
        b = b - xp.mean(b)
    na, nb = math.sqrt(float(xp.sum(a * a))), math.sqrt(float(xp.sum(b * b)))
    if not (0 < na < math.inf and 0 < nb < math.inf):  # a zero or non-finite norm (an inf entry): NaN
        return math.nan
    return min(1.0, max(-1.0, float(xp.sum(a * b)) / na / nb))


def pow2_scaled(x: Any) -> Any:
    """``x`` times a power of two per lane (last axis), each lane's largest finite magnitude then about 1
    (within [0.5, 2): the exponent from ``log2``), so that its squares stay within the dtype's range;
    lanes without a finite non-zero value are unchanged."""
    xp = _xp(x)
    if x.shape[-1] == 0 or not xp.isdtype(x.dtype, "real floating"):
        return x
    a = xp.abs(x)
    top = xp.max(xp.where(xp.isfinite(a), a, xp.zeros_like(a)), axis=-1, keepdims=True)
    some = top > 0
    e = xp.where(some, xp.floor(xp.log2(xp.where(some, top, xp.ones_like(top)))) + 1, xp.zeros_like(top))
    limit = float(math.floor(math.log2(xp.finfo(x.dtype).max)) - 1)  # 2**-e stays finite
    two = xp.asarray(2.0, dtype=x.dtype, device=_dev(x))
    return x * xp.pow(two, xp.minimum(xp.maximum(-e, xp.asarray(-limit, dtype=x.dtype, device=_dev(x))),
                                      xp.asarray(limit, dtype=x.dtype, device=_dev(x))))
