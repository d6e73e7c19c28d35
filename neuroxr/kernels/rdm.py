"""Representational dissimilarity matrices and their comparison, as array-API kernels.

RDMs come from :class:`~neuroxr.kernels.gram.GramStats` (so a layer streamed chunk by chunk gives
the same RDM as one held in memory):

- ``correlation``: ``1 - pearson(F_i, F_j)`` across units (scipy ``pdist(metric="correlation")``,
  rsatoolbox ``calc_rdm(method="correlation")``);
- ``cosine``: ``1 - cos(F_i, F_j)`` (scipy ``pdist(metric="cosine")``);
- ``euclidean``: ``||F_i - F_j||`` (scipy ``pdist(metric="euclidean")``; rsatoolbox's
  ``"euclidean"`` is the squared distance divided by the number of channels);
- ``sqeuclidean``: ``||F_i - F_j||^2``.

Comparisons work on the upper triangle (``i < j``, row-major order as ``scipy.spatial.distance.squareform``):
``pearson``, ``spearman`` (Pearson of average ranks), ``kendall`` (Kendall's tau-a, no tie
correction: ``(concordant - discordant) / (P (P - 1) / 2)``), ``cosine``. Many-vs-many comparisons
are one batched operation: each RDM is centred/ranked once, then one matrix product.
:func:`compare_rdms` takes several methods at once; on NumPy arrays each vector is then sorted
once (an unstable SIMD sort; ties are averaged from the sorted values) and Spearman and tau-a
share the sorts, tau-a counting discordant pairs as inversions with vectorised NumPy passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..backend import get_namespace
from .gram import GramStats, centered_gram, gram, row_centered_gram, uncentered_gram

__all__ = [
    "RDM_METHODS",
    "COMPARE_METHODS",
    "rdm_from_gram",
    "rdm",
    "upper_tri",
    "n_from_n_pairs",
    "rank_vectors",
    "compare_rdms",
    "compare_rdms_many",
    "kendall_tau_a",
    "normalize_compare_methods",
]

RDM_METHODS = ("correlation", "cosine", "euclidean", "sqeuclidean")
COMPARE_METHODS = ("pearson", "spearman", "kendall", "cosine")
_COMPARE_ALIASES = {"corr": "pearson", "tau-a": "kendall", "kendall_tau_a": "kendall", "tau_a": "kendall"}


def check_option(value: Any, allowed: tuple[str, ...], param: str, caller: str) -> str:
    """Raise the sklearn-style error when ``value`` is not one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"The {param!r} parameter of {caller} must be one of {{{', '.join(repr(a) for a in allowed)}}}. "
            f"Got {value!r} instead."
        )
    return value


def _normalize_compare_method(method: Any, caller: str) -> str:
    if isinstance(method, str) and method in _COMPARE_ALIASES:
        method = _COMPARE_ALIASES[method]
    return check_option(method, COMPARE_METHODS, "method", caller)


def _diag(xp: Any, M: Any) -> Any:
    return xp.linalg.diagonal(M)


def _zero_diag(xp: Any, D: Any) -> Any:
    n = int(D.shape[-1])
    eye = xp.eye(n, dtype=xp.bool, device=getattr(D, "device", None))
    return xp.where(eye, xp.zeros_like(D), D)


def _normalized_distance(xp: Any, G: Any) -> Any:
    d = _diag(xp, G)
    s = xp.sqrt(xp.where(d > 0, d, xp.zeros_like(d)))
    den = s[:, None] * s[None, :]
    nan = xp.asarray(float("nan"), dtype=G.dtype, device=getattr(G, "device", None))
    R = xp.where(den > 0, G / xp.where(den > 0, den, xp.ones_like(den)), nan)
    R = xp.clip(R, -1.0, 1.0)
    return _zero_diag(xp, 1.0 - R)


def _normalized_rdm_numpy(stats: GramStats, method: str, overwrite: bool = False) -> Any:
    """Correlation or cosine RDM from NumPy :class:`GramStats` in one blocked pass over ``K``.

    ``G = K + u 1^T + 1 u^T - a a^T / p`` (the row-centred Gram; for cosine the uncentred Gram,
    without the ``a`` term) and ``D = 1 - clip(G_ij / (s_i s_j), -1, 1)`` with ``s_i^2 = G_ii`` are
    formed a block of rows at a time, so the only n x n array written is ``D`` (the temporaries
    are a few rows and stay in cache). Every term is symmetric elementwise
    (``u_i + u_j``, ``a_i a_j``, ``(1/s_i)(1/s_j)``), so a symmetric ``K`` gives an exactly
    symmetric ``D``; NaN where a norm is 0, as the array-API path. ``overwrite=True`` writes ``D``
    over ``stats.K`` (each block of rows is read before it is written), for callers that own ``K``.
    """
    import numpy as np

    K = stats.K
    p = stats.n_units
    if method == "correlation":
        a = stats.a
        u = (stats.v - stats.mu * a) + stats.m2 / 2
    else:
        a = None
        u = stats.v + (p * stats.mu * stats.mu + stats.m2) / 2
    n = int(K.shape[0])
    d = (np.diagonal(K) + (u + u)) - (a * a / p if a is not None else 0.0)
    s = np.sqrt(np.where(d > 0, d, 0.0))
    with np.errstate(divide="ignore"):
        inv = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), np.nan)
    D = K if overwrite and K.flags.c_contiguous and K.flags.writeable else np.empty_like(K, order="C")
    rows = max(1, (1 << 16) // max(n, 1))  # ~512 KiB per temporary
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        G = np.add(u[i0:i1, None], u[None, :])
        G += K[i0:i1]
        if a is not None:
            T = np.multiply(a[i0:i1, None], a[None, :])
            T /= p
            G -= T
        G *= np.multiply(inv[i0:i1, None], inv[None, :])
        np.clip(G, -1.0, 1.0, out=G)
        np.subtract(1.0, G, out=D[i0:i1])
    np.fill_diagonal(D, 0.0)
    return D


def rdm_from_gram(stats: GramStats, method: str = "correlation") -> Any:
    """RDM of the stimuli from their :class:`GramStats`.

    Parameters
    ----------
    stats : GramStats
        From :func:`~neuroxr.kernels.gram.gram`, ``gram_chunks`` or ``gram_dask``.
    method : {"correlation", "cosine", "euclidean", "sqeuclidean"}

    Returns
    -------
    array, shape (n_stimuli, n_stimuli)
        Symmetric with a zero diagonal. A stimulus with constant features (correlation) or all-zero
        features (cosine) has NaN dissimilarities, as scipy gives.
    """
    check_option(method, RDM_METHODS, "method", "rdm_from_gram")
    return _rdm_from_gram(stats, method, overwrite=False)


def _rdm_from_gram(stats: GramStats, method: str, overwrite: bool) -> Any:
    """:func:`rdm_from_gram`; ``overwrite=True`` may reuse ``stats.K``'s memory for the RDM (NumPy)."""
    K = stats.K
    xp = get_namespace(K)
    if method in ("correlation", "cosine") and _is_numpy(K) and K.dtype.kind == "f":
        return _normalized_rdm_numpy(stats, method, overwrite=overwrite)
    if method == "correlation":
        return _normalized_distance(xp, row_centered_gram(stats))
    if method == "cosine":
        return _normalized_distance(xp, uncentered_gram(stats))
    K = centered_gram(stats)
    d = _diag(xp, K)
    sq = d[:, None] + d[None, :] - 2.0 * K
    sq = _zero_diag(xp, xp.where(sq > 0, sq, xp.zeros_like(sq)))
    return sq if method == "sqeuclidean" else xp.sqrt(sq)


def rdm(F: Any, method: str = "correlation") -> Any:
    """RDM of the rows of ``F`` (n_stimuli x n_units); see :func:`rdm_from_gram`."""
    check_option(method, RDM_METHODS, "method", "rdm")
    return _rdm_from_gram(gram(F), method, overwrite=True)  # the Gram is ours: its memory becomes the RDM


def n_from_n_pairs(n_pairs: int) -> int:
    """Number of stimuli ``n`` with ``n (n - 1) / 2 == n_pairs``."""
    n = int(round((1 + math.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"{n_pairs} is not the length of an RDM's upper triangle (n (n - 1) / 2 for some n).")
    return n


def _triu_index(xp: Any, n: int, device: Any) -> Any:
    i = xp.arange(n, device=device)
    mask = xp.reshape(i[:, None] < i[None, :], (-1,))
    return xp.nonzero(mask)[0]


def upper_tri(D: Any) -> Any:
    """Upper triangle (``i < j``, row-major) of one RDM or a stack of RDMs.

    Parameters
    ----------
    D : array, shape (n, n) or (m, n, n)

    Returns
    -------
    array, shape (n (n - 1) / 2,) or (m, n (n - 1) / 2)
    """
    xp = get_namespace(D)
    if len(D.shape) not in (2, 3) or D.shape[-1] != D.shape[-2]:
        raise ValueError(f"upper_tri: expected (n, n) or (m, n, n) RDMs; got shape {tuple(D.shape)}.")
    n = int(D.shape[-1])
    if _is_numpy(D):
        import numpy as np

        i = np.arange(n)
        mask = i[:, None] < i[None, :]  # boolean mask: row-major order, one gather
        return D[mask] if D.ndim == 2 else D[:, mask]  # (D[..., mask] takes a slower path)
    idx = _triu_index(xp, n, getattr(D, "device", None))
    flat = xp.reshape(D, (*D.shape[:-2], n * n))
    return xp.take(flat, idx, axis=-1)


def _as_vectors(x: Any, name: str) -> Any:
    """(m, P) stack of upper triangles from a vector, a square RDM or stacks of either."""
    xp = get_namespace(x)
    if len(x.shape) == 1:
        return x[None, :]
    if len(x.shape) == 2 and x.shape[0] == x.shape[1] and x.shape[0] > 1:
        # one square RDM (a stack of m vectors of length m would be ambiguous; require symmetry)
        if bool(xp.all(xp.abs(x - xp.permute_dims(x, (1, 0))) <= 1e-12 * (1 + xp.max(xp.abs(x))))) and bool(
            xp.all(_diag(xp, x) == 0)
        ):
            return upper_tri(x)[None, :]
        return x
    if len(x.shape) == 2:
        return x
    if len(x.shape) == 3:
        return upper_tri(x)
    raise ValueError(f"{name}: expected RDM vectors (P,) / (m, P) or square RDMs (n, n) / (m, n, n); got shape {tuple(x.shape)}.")


def _sort_for_ranks(xp: Any, x: Any) -> tuple[Any, Any]:
    """``(order, x[order])`` of a vector ``x`` (P,).

    Ties get their average rank from the sorted values, so the sort need not be stable (NumPy's
    default sort of float64 is a SIMD quicksort, several times faster than its stable sort). NaN
    sorts last; when there is one, the order is recomputed with a stable sort so that NaNs keep
    their ordinal ranks by position, as they always had.
    """
    order = xp.argsort(x, stable=False)
    s = xp.take(x, order)
    if int(x.shape[0]) and bool(xp.isnan(s[-1])):
        order = xp.argsort(x, stable=True)
        s = xp.take(x, order)
    return order, s


def rank_vectors(V: Any) -> Any:
    """Average ranks (1-based, ties share their mean rank) along the last axis, as ``scipy.stats.rankdata``.

    One sort per row; ties (detected on the sorted values) are averaged by binary search.

    Parameters
    ----------
    V : array, shape (m, P)

    Returns
    -------
    array, shape (m, P), floating
    """
    xp = get_namespace(V)
    rows = []
    P = int(V.shape[-1])
    dev = getattr(V, "device", None)
    for r in range(int(V.shape[0])):
        x = V[r, :]
        order, s = _sort_for_ranks(xp, x)
        if P > 1 and bool(xp.any(s[1:] == s[:-1])):
            lo = xp.searchsorted(s, x, side="left")
            hi = xp.searchsorted(s, x, side="right")
            rows.append(xp.astype(lo + hi + 1, V.dtype) / 2)
        else:
            rk = xp.empty_like(x)
            rk[order] = xp.arange(1, P + 1, dtype=V.dtype, device=dev)  # scatter (numpy, cupy, torch)
            rows.append(rk)
    return xp.stack(rows, axis=0)


def _center_normalize(xp: Any, V: Any, center: bool) -> Any:
    if center:
        V = V - xp.mean(V, axis=-1, keepdims=True)
    nrm = xp.sqrt(xp.sum(V * V, axis=-1, keepdims=True))
    nan = xp.asarray(float("nan"), dtype=V.dtype, device=getattr(V, "device", None))
    return xp.where(nrm > 0, V / xp.where(nrm > 0, nrm, xp.ones_like(nrm)), nan)


def _count_inversions(xp: Any, perm: Any) -> int:
    """Number of pairs ``i < j`` with ``perm[i] > perm[j]`` for a permutation of ``0..P-1``.

    Bit-serial (wavelet-tree) counting, most significant bit first: at bit ``k`` the sequence is
    stably grouped by ``perm >> (k+1)``; within a group every (earlier 1-bit, later 0-bit) pair is
    an inversion decided at this bit. ``O(P log P)`` with vector operations only.
    """
    P = int(perm.shape[0])
    if P < 2:
        return 0
    dev = getattr(perm, "device", None)
    bits = max(1, (P - 1).bit_length())
    seq = perm
    total = 0
    pos = xp.arange(P, dtype=perm.dtype, device=dev)
    for k in range(bits - 1, -1, -1):
        bit = xp.bitwise_and(xp.bitwise_right_shift(seq, k), 1)
        group_start = xp.bitwise_left_shift(xp.bitwise_right_shift(seq, k + 1), k + 1)
        ones_incl = xp.cumulative_sum(bit)
        ones_excl = ones_incl - bit
        ones_before_group = xp.take(ones_excl, group_start)
        ones_before = ones_excl - ones_before_group
        zero = bit == 0
        total += int(xp.sum(xp.where(zero, ones_before, xp.zeros_like(ones_before))))
        # stable partition of every group: zeros first, then ones
        idx_in_group = pos - group_start
        zeros_before = idx_in_group - ones_before
        n_zeros_group = xp.clip(P - group_start, 0, 1 << k)
        new_pos = group_start + xp.where(zero, zeros_before, n_zeros_group + ones_before)
        nxt = xp.empty_like(seq)
        nxt[new_pos] = seq  # scatter: supported by numpy, cupy and torch arrays
        seq = nxt
    return total


def _ordinal_rank(xp: Any, x: Any) -> Any:
    """0-based ordinal ranks of ``x`` (ties broken by position), as an int64 permutation."""
    order = xp.argsort(x, stable=True)
    r = xp.empty_like(order)
    r[order] = xp.arange(int(x.shape[0]), dtype=order.dtype, device=getattr(x, "device", None))
    return r


def _tie_pairs(xp: Any, s: Any) -> int:
    """Number of tied pairs in a sorted vector ``s``."""
    P = int(s.shape[0])
    if P < 2:
        return 0
    new = xp.concat([xp.asarray([True], device=getattr(s, "device", None)), s[1:] != s[:-1]])
    starts = xp.nonzero(new)[0]
    ends = xp.concat([starts[1:], xp.asarray([P], dtype=starts.dtype, device=getattr(s, "device", None))])
    c = ends - starts
    return int(xp.sum(c * (c - 1) // 2))


class _TauPrep:
    """What tau-a needs of one vector, computed once: order, ordinal ranks, tie counts."""

    def __init__(self, xp: Any, x: Any) -> None:
        self.x = x
        self.order = xp.argsort(x, stable=True)
        s = xp.take(x, self.order)
        self.ties = _tie_pairs(xp, s)
        self.rank = xp.empty_like(self.order)
        self.rank[self.order] = xp.arange(int(x.shape[0]), dtype=self.order.dtype, device=getattr(x, "device", None))


def _tau_a_prepped(xp: Any, A: _TauPrep, B: _TauPrep) -> float:
    P = int(A.x.shape[0])
    n0 = P * (P - 1) // 2
    if A.ties == 0 and B.ties == 0:
        seq = xp.take(B.rank, A.order)
        dis = _count_inversions(xp, seq)
        return (n0 - 2 * dis) / n0
    # ties: order by (a, b), rank b with ties broken by a, so tied pairs are never inversions
    o = xp.take(B.order, xp.argsort(xp.take(A.x, B.order), stable=True))  # sorted by a, then b
    ob = xp.take(A.order, xp.argsort(xp.take(B.x, A.order), stable=True))  # sorted by b, then a
    rb = xp.empty_like(ob)
    rb[ob] = xp.arange(P, dtype=ob.dtype, device=getattr(ob, "device", None))
    seq = xp.take(rb, o)
    dis = _count_inversions(xp, seq)
    sa = xp.take(A.x, o)
    sb = xp.take(B.x, o)
    new = xp.concat([xp.asarray([True], device=getattr(sa, "device", None)), (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])])
    starts = xp.nonzero(new)[0]
    ends = xp.concat([starts[1:], xp.asarray([P], dtype=starts.dtype, device=getattr(sa, "device", None))])
    c = ends - starts
    tab = int(xp.sum(c * (c - 1) // 2))
    return (n0 - A.ties - B.ties + tab - 2 * dis) / n0


def _tau_a_scipy(a: Any, b: Any) -> float:
    """tau-a on the host from scipy's compiled ``O(P log P)`` tau-b: ``tau_a = tau_b sqrt((N-Ta)(N-Tb)) / N``."""
    import numpy as np
    from scipy.stats import kendalltau

    a = np.asarray(a)
    b = np.asarray(b)
    P = a.shape[0]
    n0 = P * (P - 1) // 2

    def ties(x: Any) -> int:
        s = np.sort(x)
        if not (s[1:] == s[:-1]).any():
            return 0
        edges = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
        c = np.diff(edges)
        return int((c * (c - 1) // 2).sum())

    ta, tb = ties(a), ties(b)
    if ta == n0 or tb == n0:
        return 0.0
    tau_b = kendalltau(a, b, variant="b").statistic
    return float(tau_b * math.sqrt((n0 - ta) * (n0 - tb)) / n0)


def kendall_tau_a(a: Any, b: Any, algorithm: str = "auto") -> float:
    """Kendall's tau-a of two vectors: ``(concordant - discordant) / (P (P - 1) / 2)``.

    Parameters
    ----------
    a, b : array, shape (P,)
    algorithm : {"auto", "numpy", "array_api", "scipy"}
        ``"numpy"``: NumPy sorts plus a vectorised bit-serial inversion count on the host;
        ``"array_api"``: the same counting in the arrays' own namespace (runs on GPU arrays);
        ``"scipy"``: scipy's compiled tau-b on the host, converted to tau-a with the tie counts;
        ``"auto"``: NumPy for NumPy arrays, array API otherwise. All are ``O(P log P)`` and exact;
        NaN when a vector holds a NaN.

    Returns
    -------
    float
    """
    check_option(algorithm, ("auto", "numpy", "array_api", "scipy"), "algorithm", "kendall_tau_a")
    xp = get_namespace(a, b)
    if a.shape != b.shape or len(a.shape) != 1:
        raise ValueError(f"kendall_tau_a: expected two vectors of equal length; got shapes {tuple(a.shape)} and {tuple(b.shape)}.")
    if int(a.shape[0]) < 2:
        return math.nan
    from ..backend import to_numpy

    if algorithm == "scipy":
        return _tau_a_scipy(to_numpy(a), to_numpy(b))
    if algorithm == "numpy" or (algorithm == "auto" and _is_numpy(a) and _is_numpy(b)):
        a, b = to_numpy(a), to_numpy(b)
        a = a if a.dtype.kind == "f" else a.astype(float)
        b = b if b.dtype.kind == "f" else b.astype(float)
        return _tau_a_sorted(_SortedVector(a), _SortedVector(b))
    return _tau_a_prepped(xp, _TauPrep(xp, a), _TauPrep(xp, b))


def _is_numpy(x: Any) -> bool:
    return type(x).__module__ == "numpy"


# ---------------------------------------------------------------------------- NumPy fast path
def _count_inversions_numpy(perm: Any) -> int:
    """Number of pairs ``i < j`` with ``perm[i] > perm[j]`` for a NumPy permutation of ``0..P-1``.

    The bit-serial count of :func:`_count_inversions` arranged for NumPy: ``perm`` is padded with
    ``P..2^m - 1`` (larger than every entry and placed last, so they add no inversion) to a power
    of two ``N``. At bit ``k`` the sequence is a list of groups of ``2^(k+1)`` consecutive values
    (each group holds its values in their original relative order); a pair is decided at bit ``k``
    when both lie in one group and differ in that bit, and it is an inversion when the 1-bit
    comes first. A group of ``w = 2h`` entries has exactly ``h`` ones; with the ones at in-group
    positions ``i_1 < ... < i_h``, the zeros after the ``r``-th one number ``h - 1 + r - i_r``,
    i.e. ``(3 h^2 - h) / 2 - sum(i_r)`` per group: one sum of positions per bit. The stable partition (zeros, then ones) into the next bit's groups is two ``compress``
    calls; the order of the groups does not matter. Groups of at most 8 entries are finished by
    direct comparison. ``O(P log P)`` in int32 vector operations.
    """
    import numpy as np

    P = int(perm.shape[0])
    if P < 2:
        return 0
    m = (P - 1).bit_length()
    N = 1 << m
    dt = np.int32 if N <= 2**31 else np.int64
    S = np.empty(N, dtype=dt)
    S[:P] = perm
    S[P:] = np.arange(P, N, dtype=dt)
    buf = np.empty_like(S)
    half = N // 2
    total = 0
    k = m - 1
    while k >= 3:  # groups of w = 2^(k+1) >= 16 entries
        w = 1 << (k + 1)
        h = w // 2
        n_groups = N // w
        ones = (S & dt(1 << k)) != 0
        pos = np.flatnonzero(ones)  # flat positions; each group holds exactly h ones
        sum_in_group = int(pos.sum(dtype=np.int64)) - h * w * (n_groups * (n_groups - 1) // 2)
        total += n_groups * (h * h + h * (h - 1) // 2) - sum_in_group
        np.compress(~ones, S, out=buf[:half])
        np.take(S, pos, out=buf[half:])
        S, buf = buf, S
        k -= 1
    w = 1 << (k + 1)
    G = S.reshape(-1, w)
    for j in range(1, w):
        total += int(np.count_nonzero(G[:, : w - j] > G[:, j:]))
    return total


def _tie_pairs_sorted(s: Any) -> int:
    """Number of tied pairs in a sorted NumPy vector ``s`` (NaNs are never tied)."""
    import numpy as np

    if s.shape[0] < 2:
        return 0
    edges = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1], [True])))
    c = np.diff(edges)
    return int((c * (c - 1) // 2).sum())


class _SortedVector:
    """What Spearman and Kendall's tau-a need of one NumPy RDM vector, computed once and shared.

    Attributes
    ----------
    x : ndarray, shape (P,)
    order : ndarray of intp, shape (P,)
        ``argsort(x)`` (see :func:`_sort_for_ranks`).
    sorted : ndarray, shape (P,)
        ``x[order]``.
    has_nan, has_ties : bool
    """

    def __init__(self, x: Any) -> None:
        import numpy as np

        self.x = x
        self.order, self.sorted = _sort_for_ranks(np, x)
        P = int(x.shape[0])
        self.has_nan = bool(P and np.isnan(self.sorted[-1]))
        self.has_ties = bool(P > 1 and np.any(self.sorted[1:] == self.sorted[:-1]))
        self._ordinal: Any = None
        self._ranks: Any = None

    @property
    def ordinal(self) -> Any:
        """0-based ranks ``r`` with ``r[order] = 0..P-1`` (a permutation), int."""
        import numpy as np

        if self._ordinal is None:
            r = np.empty_like(self.order)
            r[self.order] = np.arange(self.order.shape[0], dtype=self.order.dtype)
            self._ordinal = r
        return self._ordinal

    @property
    def ranks(self) -> Any:
        """1-based average ranks (``scipy.stats.rankdata``), float64."""
        import numpy as np

        if self._ranks is None:
            if self.has_ties:
                lo = np.searchsorted(self.sorted, self.x, side="left")
                hi = np.searchsorted(self.sorted, self.x, side="right")
                self._ranks = (lo + hi + 1).astype(np.float64) / 2
            else:
                self._ranks = self.ordinal.astype(np.float64) + 1.0
        return self._ranks

    def dense(self) -> Any:
        """0-based dense ranks (tied values share one), int64."""
        import numpy as np

        d = np.empty(self.order.shape[0], dtype=np.int64)
        if d.shape[0]:
            d[self.order] = np.concatenate(([0], np.cumsum(self.sorted[1:] != self.sorted[:-1])))
        return d


def _pearson_numpy(a: Any, b: Any, center: bool = True) -> float:
    """Pearson correlation (``center``) or cosine similarity of two NumPy vectors, clipped to [-1, 1]."""
    import numpy as np

    if center:
        a = a - a.mean()
        b = b - b.mean()
    # pairwise-summed products: no BLAS call (a threaded ddot costs more than it saves at this size)
    na, nb = math.sqrt(float(np.add.reduce(a * a))), math.sqrt(float(np.add.reduce(b * b)))
    if not (na > 0 and nb > 0):
        return math.nan
    return min(1.0, max(-1.0, float(np.add.reduce(a * b)) / na / nb))


def _spearman_sorted(A: _SortedVector, B: _SortedVector) -> float:
    """Spearman's rho from two :class:`_SortedVector` (NumPy): Pearson of the average ranks.

    Without ties the ranks of each vector are a permutation of ``1..P``, and Pearson of two such
    permutations is exactly ``1 - 6 sum(d^2) / (P (P^2 - 1))``, ``d`` the rank differences,
    computed here from the integer differences (no centring or norms needed; the squares are
    summed pairwise in float64, as int64 could overflow for more than about 2e6 pairs).
    """
    import numpy as np

    P = int(A.x.shape[0])
    if A.has_ties or B.has_ties or P < 2:
        return _pearson_numpy(A.ranks, B.ranks)
    d = (A.ordinal - B.ordinal).astype(np.float64)
    sd2 = float(np.add.reduce(d * d))
    return min(1.0, max(-1.0, 1.0 - 6.0 * sd2 / (float(P) * (float(P) * P - 1.0))))


def _tau_a_sorted(A: _SortedVector, B: _SortedVector) -> float:
    """Kendall's tau-a from two :class:`_SortedVector` (NumPy), reusing their sorts.

    Without ties the discordant pairs are the inversions of ``B``'s ranks taken in ``A``'s order.
    With ties, both vectors are ordered lexicographically ((a, b) and (b, a), stable, on dense
    ranks), so that a pair tied in either is never an inversion; then
    ``concordant - discordant = N - T_a - T_b + T_ab - 2 D`` with ``N = P (P - 1) / 2`` and the
    tied pairs ``T_a``, ``T_b``, ``T_ab`` (tied in both). NaN when either vector holds a NaN
    (as ``scipy.stats.kendalltau``).
    """
    import numpy as np

    P = int(A.x.shape[0])
    if P < 2 or A.has_nan or B.has_nan:
        return math.nan
    n0 = P * (P - 1) // 2
    if not (A.has_ties or B.has_ties):
        dis = _count_inversions_numpy(np.take(B.ordinal, A.order))
        return (n0 - 2 * dis) / n0
    ta, tb = _tie_pairs_sorted(A.sorted), _tie_pairs_sorted(B.sorted)
    da, db = A.dense(), B.dense()
    o_ab = np.argsort(da * (int(db[B.order[-1]]) + 1) + db, kind="stable")  # by a, then b, then position
    k_ba = db * (int(da[A.order[-1]]) + 1) + da
    o_ba = np.argsort(k_ba, kind="stable")  # by b, then a, then position
    r_ba = np.empty_like(o_ba)
    r_ba[o_ba] = np.arange(P, dtype=o_ba.dtype)
    dis = _count_inversions_numpy(np.take(r_ba, o_ab))
    tab = _tie_pairs_sorted(np.take(k_ba, o_ba))  # equal (b, a) keys = pairs tied in both
    return (n0 - ta - tb + tab - 2 * dis) / n0


def _compare_numpy(va: Any, vb: Any, methods: tuple[str, ...]) -> dict[str, float]:
    """Several comparisons of two NumPy RDM vectors (P,), each vector sorted at most once."""
    out: dict[str, float] = {}
    prep: tuple[_SortedVector, _SortedVector] | None = None
    for method in methods:
        if method in ("pearson", "cosine"):
            out[method] = _pearson_numpy(va, vb, center=method == "pearson")
            continue
        if prep is None:
            prep = (_SortedVector(va), _SortedVector(vb))
        if method == "spearman":
            out[method] = _spearman_sorted(*prep)
        else:
            out[method] = _tau_a_sorted(*prep)
    return out


def compare_rdms_many(A: Any, B: Any, method: str = "spearman") -> Any:
    """Compare every RDM of ``A`` with every RDM of ``B`` on the upper triangle, in one batch.

    Parameters
    ----------
    A : array, shape (m_a, n, n), (m_a, P), (n, n) or (P,)
        RDMs (square, symmetric with a zero diagonal) or their upper triangles (``P = n (n-1)/2``).
    B : array, shape (m_b, n, n), (m_b, P), (n, n) or (P,)
        Same ``n``.
    method : {"pearson", "spearman", "kendall", "cosine"}
        ``kendall`` is tau-a (aliases ``"tau-a"``; ``"corr"`` means ``"pearson"``).

    Returns
    -------
    array, shape (m_a, m_b)
        Similarities (1 = identical ordering/shape); NaN when an RDM is constant.
    """
    method = _normalize_compare_method(method, "compare_rdms_many")
    xp = get_namespace(A, B)
    VA = _as_vectors(A, "compare_rdms_many: A")
    VB = _as_vectors(B, "compare_rdms_many: B")
    if VA.shape[-1] != VB.shape[-1]:
        raise ValueError(
            f"compare_rdms_many: RDMs of different sizes ({VA.shape[-1]} and {VB.shape[-1]} pairs); they must describe the same stimuli."
        )
    if not xp.isdtype(VA.dtype, "real floating"):
        VA = xp.astype(VA, xp.float64)
    if not xp.isdtype(VB.dtype, "real floating"):
        VB = xp.astype(VB, xp.float64)
    if method == "kendall":
        if _is_numpy(VA) and _is_numpy(VB):
            sa = [_SortedVector(VA[i, :]) for i in range(int(VA.shape[0]))]
            sb = sa if VB is VA else [_SortedVector(VB[j, :]) for j in range(int(VB.shape[0]))]
            return xp.asarray([[_tau_a_sorted(a, b) for b in sb] for a in sa], dtype=VA.dtype)
        pa = [_TauPrep(xp, VA[i, :]) for i in range(int(VA.shape[0]))]
        pb = [_TauPrep(xp, VB[j, :]) for j in range(int(VB.shape[0]))]
        vals = [[_tau_a_prepped(xp, a, b) for b in pb] for a in pa]
        return xp.asarray(vals, dtype=VA.dtype, device=getattr(VA, "device", None))
    if method == "spearman":
        VA, VB = rank_vectors(VA), rank_vectors(VB)
    center = method != "cosine"
    NA = _center_normalize(xp, VA, center)
    NB = _center_normalize(xp, VB, center)
    return xp.clip(xp.matmul(NA, xp.permute_dims(NB, (1, 0))), -1.0, 1.0)


def normalize_compare_methods(method: str | Sequence[str], caller: str) -> tuple[str, ...]:
    """Canonical names of one comparison method or a sequence of them (aliases resolved, duplicates dropped)."""
    if isinstance(method, str):
        return (_normalize_compare_method(method, caller),)
    try:
        items = list(method)
    except TypeError:
        items = [method]
    if not items:
        raise ValueError(f"{caller}: method is an empty sequence; give one of {COMPARE_METHODS} or a list of them.")
    return tuple(dict.fromkeys(_normalize_compare_method(m, caller) for m in items))


def compare_rdms(a: Any, b: Any, method: str | Sequence[str] = "spearman") -> float | dict[str, float]:
    """Similarity of two RDMs on their upper triangles, by one method or several at once.

    With several methods each triangle is extracted once and each vector sorted at most once:
    Spearman's ranks and Kendall's tau-a share the sorts (NumPy arrays; other backends go
    through :func:`compare_rdms_many` method by method).

    Parameters
    ----------
    a, b : array, shape (n, n) or (P,)
        Square RDMs or their upper triangles (``P = n (n - 1) / 2``, row-major ``i < j``).
    method : str or sequence of str
        ``"pearson"``, ``"spearman"`` (Pearson of average ranks), ``"kendall"`` (tau-a) or
        ``"cosine"``; aliases ``"corr"``, ``"tau-a"``.

    Returns
    -------
    float, or dict of str to float
        A float for one method given as a string; for a sequence, ``{method: similarity}`` keyed by
        the canonical names in the order given.
    """
    methods = normalize_compare_methods(method, "compare_rdms")
    for x, nm in ((a, "a"), (b, "b")):
        if len(x.shape) not in (1, 2):
            raise ValueError(f"compare_rdms: {nm} must be one RDM, (n, n) or (P,); got shape {tuple(x.shape)}. Use compare_rdms_many for stacks.")
    xp = get_namespace(a, b)
    va = upper_tri(a) if len(a.shape) == 2 else a
    vb = upper_tri(b) if len(b.shape) == 2 else b
    if va.shape != vb.shape:
        raise ValueError(
            f"compare_rdms: RDMs of different sizes ({va.shape[-1]} and {vb.shape[-1]} pairs); they must describe the same stimuli."
        )
    if _is_numpy(va) and _is_numpy(vb):
        if not xp.isdtype(va.dtype, "real floating"):
            va = xp.astype(va, xp.float64)
        if not xp.isdtype(vb.dtype, "real floating"):
            vb = xp.astype(vb, xp.float64)
        out = _compare_numpy(va, vb, methods)
    else:
        out = {m: float(compare_rdms_many(va[None, :], vb[None, :], m)[0, 0]) for m in methods}
    return out if not isinstance(method, str) else out[methods[0]]
