"""NumPy fast paths of the backend operations (BLAS/LAPACK through SciPy, in-place updates).

Every function here has a generic array-API twin in :mod:`neuroxr.backend._array_api` with the
same signature and the same result (up to rounding); :mod:`neuroxr.backend` picks this one for
NumPy arrays. They exist for speed and memory only: one triangle of a Gram from ``syrk``,
mirroring in place, Cholesky solves/inverses without condition estimates, blocked passes that
write one ``n x n`` array instead of several temporaries, integer inversion counting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from . import _array_api

#: Largest order of a symmetric rank-k update (``syrk``, also inside Cholesky's ``potrf``) run on
#: several BLAS threads: the bundled OpenBLAS (0.3.31) writes out of bounds in threaded ``syrk``
#: from about 18,000 (a segfault, measured at 18,000 on 2 threads; 17,000 was fine), so above
#: this these calls run on one thread.
THREADED_SYRK_MAX = 16384


def _syrk_threads(n: int) -> contextlib.AbstractContextManager[None]:
    """One BLAS thread for ``syrk``-based calls of order ``n`` above :data:`THREADED_SYRK_MAX`."""
    if n <= THREADED_SYRK_MAX:
        return contextlib.nullcontext()
    from ._threads import one_blas_thread

    return one_blas_thread()

# ---------------------------------------------------------------------------- Grams and linear algebra


def mirror_upper(M: np.ndarray, block: int = 128) -> np.ndarray:
    """Copy the upper triangle of square ``M`` onto its lower one, in place, a block at a time.

    Source (above the diagonal) and destination (below) never overlap, so no ``n x n`` temporary
    is allocated. Returns ``M``.
    """
    n = int(M.shape[0])
    for j0 in range(0, n, block):
        j1 = min(n, j0 + block)
        M[j1:, j0:j1] = M[j0:j1, j1:].T
        B = M[j0:j1, j0:j1]
        low = np.tril_indices(j1 - j0, -1)
        B[low] = B.T[low]
    return M


def gram_matrix(X: np.ndarray) -> np.ndarray:
    """``X X^T`` (n, n), exactly symmetric: NumPy's own ``syrk`` (``X @ X.T`` is detected as one,
    both triangles filled), on NumPy's BLAS, which holds the direction's threads."""
    if X.dtype.char not in "fd" or X.ndim != 2:
        return _array_api.gram_matrix(X)
    with _syrk_threads(int(X.shape[0])):
        return X @ X.T


#: Largest kernel (bytes) accumulated through NumPy's BLAS with an ``n x n`` temporary per block;
#: larger ones are accumulated in place by SciPy's ``syrk``.
NUMPY_GRAM_BYTES = 64 * 2**20
#: Columns per block on NumPy's path: enough to amortise the ``n x n`` product and addition of each
#: block, few enough that a small-``n`` block stays in cache between its centring and its product.
GRAM_BLOCK_COLUMNS = 4096
#: Bytes per block on SciPy's path (at least 512 columns).
GRAM_BLOCK_BYTES = 32 * 2**20
#: Columns per panel of the blocked QR (:func:`centred_triangle`) for up to 256 stimuli, and above:
#: the fastest of 32-200 on the development machine (docs/kernels.md).
QR_INNER_BLOCK = (32, 64)


def centred_gram(X: np.ndarray, block_bytes: int | None = None) -> np.ndarray:
    """``Xc Xc^T`` of the column-centred ``X`` (n, p): blocks of columns centred one at a time and
    accumulated by ``syrk`` (half a product's flops); exactly symmetric, no copy of ``X``. Up to
    :data:`NUMPY_GRAM_BYTES` each block (:data:`GRAM_BLOCK_COLUMNS` columns) gives its ``A A^T`` by
    NumPy (into a reused temporary, added to the kernel); above it blocks of :data:`GRAM_BLOCK_BYTES`
    are accumulated by SciPy's ``syrk`` into one triangle in place (every BLAS library on
    the direction's threads), mirrored once. ``block_bytes`` sets the block size instead (at least
    512 columns)."""
    if X.dtype.char not in "fd" or X.ndim != 2:
        return _array_api.centred_gram(X, block_bytes or GRAM_BLOCK_BYTES)
    n, p = (int(d) for d in X.shape)
    small = n * n * X.itemsize <= NUMPY_GRAM_BYTES  # (an order well below THREADED_SYRK_MAX)
    if block_bytes is None and small:
        block = GRAM_BLOCK_COLUMNS
    else:
        block = max(512, (block_bytes or GRAM_BLOCK_BYTES) // (X.itemsize * max(1, n)))

    def blocks() -> Iterator[np.ndarray]:
        for lo in range(0, p, block):
            Xb = X[:, lo : lo + block]
            yield np.subtract(Xb, Xb.mean(axis=0, keepdims=True), order="C")  # (n, b): A.T is Fortran-ordered

    if small:
        K = tmp = None
        for A in blocks():
            if K is None:
                K = np.matmul(A, A.T)
            else:
                tmp = np.empty_like(K) if tmp is None else tmp
                K += np.matmul(A, A.T, out=tmp)
        return np.zeros((n, n), dtype=X.dtype) if K is None else K
    from scipy.linalg import blas

    from ._threads import every_blas_thread

    # by the type, not the dtype: a big-endian float64 ('>f8', != np.float64) is float64 too (ssyrk rounded it to float32)
    syrk = blas.dsyrk if X.dtype.char == "d" else blas.ssyrk
    C = np.zeros((n, n), dtype=X.dtype.char, order="F")
    with every_blas_thread(), _syrk_threads(n):
        for A in blocks():
            C = syrk(1.0, A.T, beta=1.0, c=C, trans=1, lower=0, overwrite_c=1)  # upper triangle += A A^T
    mirror_upper(C)
    return C.T  # the same (exactly symmetric) matrix, C-contiguous


def centred_triangle(X: np.ndarray, block_bytes: int | None = None) -> np.ndarray:
    """``R^T`` (n, n) of the QR factorisation ``Xc^T = Q R`` of the column-centred ``X`` (n, p),
    ``p > n``, as :func:`neuroxr.backend._array_api.centred_triangle`, without forming ``Q``: blocks of
    :data:`GRAM_BLOCK_BYTES` (at least ``4 n`` columns), the first factorised by LAPACK ``geqrt`` and
    each next one folded into ``R`` by ``tpqrt`` (the QR of ``[R; block^T]`` with ``R`` triangular,
    in place: no stacked copy), both with :data:`QR_INNER_BLOCK` columns per panel, on every BLAS
    library's threads: 2-8x faster than ``geqrf`` of the stacked blocks."""
    if X.dtype.char not in "fd" or X.ndim != 2:
        return _array_api.centred_triangle(X, block_bytes or GRAM_BLOCK_BYTES)
    from scipy.linalg import lapack

    from ._threads import every_blas_thread

    n, p = (int(d) for d in X.shape)
    block = max(4 * n, (block_bytes or GRAM_BLOCK_BYTES) // (X.itemsize * max(1, n)))
    nb = max(1, min(QR_INNER_BLOCK[n > 256], n))
    geqrt, tpqrt = lapack.get_lapack_funcs(("geqrt", "tpqrt"), dtype=X.dtype)
    R = None
    with every_blas_thread():
        for lo in range(0, p, block):
            Xb = X[:, lo : lo + block]
            A = np.subtract(Xb, Xb.mean(axis=0, keepdims=True), order="C").T  # (b, n), Fortran-ordered
            if R is None:
                a, _, info = geqrt(min(nb, A.shape[0]), A, overwrite_a=1)
                R = np.asfortranarray(np.triu(a[:n]))  # b >= 4 n rows: R is n x n
            else:  # R's strict lower triangle stays zero (tpqrt reads and writes the upper one only)
                R, _, _, info = tpqrt(0, nb, R, A, overwrite_a=1, overwrite_b=1)
            if info != 0:  # pragma: no cover - LAPACK argument errors only
                raise RuntimeError(f"centred_triangle: LAPACK QR failed (info={info}).")
    return np.ascontiguousarray(R.T)


def shifted_gram(K: np.ndarray, u: np.ndarray, a: np.ndarray | None = None, p: float = 1.0,
                 c: np.ndarray | None = None) -> np.ndarray:
    """``(u_i + u_j) + K_ij - a_i a_j / p + c_i c_j`` as one fresh matrix (two ``n x n`` arrays at most).

    Every term is symmetric elementwise, so a symmetric ``K`` gives an exactly symmetric result.
    """
    G = np.add.outer(u, u)
    G += K
    if a is not None:
        T = np.multiply.outer(a, a)
        T /= p
        G -= T
    if c is not None:
        G += np.multiply.outer(c, c)
    return G


def normalized_dissimilarity(
    K: np.ndarray, u: np.ndarray, a: np.ndarray | None, p: float, rel_tol: float, overwrite: bool = False,
    c: np.ndarray | None = None,
) -> np.ndarray:
    """``D = 1 - clip(G_ij / (s_i s_j), -1, 1)`` with ``G = shifted_gram(K, u, a, p, c)``, ``s_i^2 = G_ii``.

    Formed a block of rows at a time, so the only ``n x n`` array written is ``D`` (``overwrite``:
    over ``K``'s memory when it is C-contiguous and writeable). Rows whose norm ``s_i^2`` is at most
    ``rel_tol`` times their scale (see :func:`neuroxr.backend._array_api.degenerate_rows`) are NaN;
    the diagonal is 0.
    """
    n = int(K.shape[0])
    d = np.diagonal(K) + (u + u)
    if a is not None:
        d = d - a * a / p
    if c is not None:
        d = d + c * c
    bad = _array_api.degenerate_rows(d, K, u, a, p, rel_tol, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(bad, np.nan, 1.0 / np.sqrt(np.where(bad, 1.0, d)))
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
        if c is not None:
            G += np.multiply(c[i0:i1, None], c[None, :])
        G *= np.multiply(inv[i0:i1, None], inv[None, :])
        np.clip(G, -1.0, 1.0, out=G)
        np.subtract(1.0, G, out=D[i0:i1])
    np.fill_diagonal(D, 0.0)
    return D


def upper_tri(D: np.ndarray) -> np.ndarray:
    """Upper triangle (``i < j``, row-major) of (n, n) or (m, n, n): one boolean-mask gather."""
    i = np.arange(int(D.shape[-1]))
    mask = i[:, None] < i[None, :]
    return D[mask] if D.ndim == 2 else D[:, mask]  # (D[..., mask] takes a slower path)


def spd_solve(A: np.ndarray, B: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """``A^{-1} B`` for SPD ``A``: LAPACK potrf/potrs (no condition estimate); batched: gesv.
    ``overwrite=True`` (2-D, C-ordered): factorised in ``A``'s memory, reading its lower triangle; a
    matrix that is not numerically positive definite then raises ``numpy.linalg.LinAlgError``."""
    if A.ndim == 2:
        import scipy.linalg

        if overwrite and A.T.flags.f_contiguous:
            # A.T is Fortran-ordered: LAPACK works in place on it (its upper triangle is A's lower)
            with _syrk_threads(A.shape[0]):
                c = scipy.linalg.cho_factor(A.T, lower=False, overwrite_a=True, check_finite=False)
            return scipy.linalg.cho_solve(c, B, check_finite=False)
        try:
            with _syrk_threads(A.shape[0]):
                c = scipy.linalg.cho_factor(A, check_finite=False)
            return scipy.linalg.cho_solve(c, B, check_finite=False)
        except np.linalg.LinAlgError:
            return np.linalg.solve(A, B)
    return np.linalg.solve(A, B)  # batched LAPACK gesv over the leading dims


def spd_solve_right(X: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``X A^{-1}`` for SPD ``A`` (batched). With more rows in ``X`` than ``A`` has, one explicit
    inverse and one product (they beat LAPACK's batched solve for small systems)."""
    if X.shape[-2] > A.shape[-1]:
        return np.matmul(X, np.linalg.inv(A))
    if A.ndim == 2:  # one Cholesky factorisation (half an LU's flops): A symmetric, so X A^-1 = (A^-1 X^T)^T
        return spd_solve(A, X.T).T
    return np.swapaxes(np.linalg.solve(A, np.swapaxes(X, -1, -2)), -1, -2)


def spd_shift(M: np.ndarray, v: float) -> np.ndarray:
    """``M + v I`` in place (batched over leading dims); LAPACK's SPD routines read one triangle."""
    if M.ndim == 2:
        M.flat[:: M.shape[0] + 1] += v
    else:
        np.einsum("...ii->...i", M)[...] += v
    return M


def subtract_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = a - b`` without a temporary (``out`` may be ``a`` or ``b``)."""
    return np.subtract(a, b, out=out)


def outer_update_into(A: np.ndarray, w: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A += w u v^T`` in place, a cache-sized block of rows at a time (no ``A``-sized temporary)."""
    step = max(1, 2**19 // max(1, A.shape[1]))
    for lo in range(0, A.shape[0], step):
        A[lo : lo + step] += np.multiply.outer(w * u[lo : lo + step], v)
    return A


def axpy_into(a: np.ndarray, w: float, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = a + w b`` without a temporary (``out`` must not overlap ``a``)."""
    np.multiply(b, w, out=out)
    out += a
    return out


def submatrix(K: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``K[rows][:, cols]`` in one copy (``np.ix_``)."""
    return K[np.ix_(rows, cols)]


def spd_inverse(A: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """Inverse of SPD ``A`` (2-D) from LAPACK potrf + potri (only the upper triangle is read).

    ``overwrite=True`` lets it work in ``A``'s memory; then a matrix that is not numerically
    positive definite raises ``numpy.linalg.LinAlgError`` (its values are gone), else it falls
    back to a general inverse.
    """
    from scipy.linalg import lapack

    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (A,))
    # LAPACK works on the Fortran-ordered transpose of a C-ordered A: its "lower" triangle is A's
    # upper one; the result is symmetric, so reading it back transposed is the same
    At = A.T
    with _syrk_threads(A.shape[0]):
        c, info = potrf(At, lower=True, clean=False, overwrite_a=overwrite and At.flags.f_contiguous)
        if info == 0:
            inv, info = potri(c, lower=True, overwrite_c=True)
    if info != 0:
        if overwrite and At.flags.f_contiguous:
            raise np.linalg.LinAlgError("spd_inverse: the matrix is not positive definite.")
        return np.linalg.inv(np.triu(A) + np.triu(A, 1).T)
    out = inv.T  # C-ordered; its upper triangle holds the inverse
    return mirror_upper(out, block=256)


_SUM_BLOCK = 2**15  # values per block of sum_last's slice-by-slice additions (256 KiB of float64)


def sum_last(x: np.ndarray) -> np.ndarray:
    """Sums over the last axis. A short last axis (the repeats) is added slice by slice in index
    order, as ``np.sum`` adds fewer than 8 values (the same numbers), faster than a reduction over
    a short strided axis; a cache-sized block of the first axis at a time, so the values are read
    from memory once."""
    T = x.shape[-1]
    if T >= 8 or T < 2 or x.dtype.kind != "f" or x.ndim < 2:
        return np.sum(x, axis=-1)
    out = np.empty(x.shape[:-1], dtype=x.dtype)
    step = max(1, _SUM_BLOCK // max(1, int(np.prod(x.shape[1:-1])) * T))  # stimuli per block
    for lo in range(0, x.shape[0], step):
        b, o = x[lo : lo + step], out[lo : lo + step]
        np.add(b[..., 0], b[..., 1], out=o)
        for t in range(2, T):
            o += b[..., t]
    return out


def colsum_prod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sums over axis -2 of ``a * b`` without materialising the product (einsum)."""
    return np.einsum("...ij,...ij->...j", a, b)


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = a @ b`` without a temporary."""
    return np.matmul(a, b, out=out)


# ---------------------------------------------------------------------------- ranks, ties, inversions

_RANK_BLOCK = 2**17  # values ranked per block (1 MiB of float64: gathers and scatters stay in cache)


def argsort(x: np.ndarray) -> np.ndarray:
    """``argsort`` along the last axis with NumPy's (unstable, SIMD) default sort."""
    return np.argsort(x, axis=-1)


def rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) along the last axis, float64.

    One sort per row on contiguous copies, tie groups (:func:`tie_links`:
    equal up to rounding) found in one flat pass, a cache-sized block of rows at a time. ``x`` must
    hold no NaN (callers drop or mask it).
    """
    x = np.asarray(x, dtype=np.float64)
    n = int(x.shape[-1])
    out = np.array(x, dtype=np.float64, order="C", copy=True)
    if out.size == 0:  # lanes of no values, or none (reshape(-1, 0) cannot infer the rows)
        return out
    flat = out.reshape(-1, n)
    step = max(1, _RANK_BLOCK // n)
    for lo in range(0, flat.shape[0], step):
        flat[lo : lo + step] = _rank_rows(flat[lo : lo + step])
    return out


def tie_links(s: np.ndarray) -> np.ndarray:
    """:func:`~neuroxr.backend._array_api.tie_links` with the differences taken over the lanes laid end
    to end (one contiguous pass; each lane's first difference, across lanes, is dropped), and no
    warning for equal infinities (``inf - inf``); groups spanning more than the tolerance split
    (:func:`~neuroxr.backend._array_api.split_long_groups`)."""
    s = np.ascontiguousarray(s)
    n = int(s.shape[-1]) if s.ndim else 0
    if n < 2 or s.size == 0:
        return np.ones(s.shape[:-1] + (max(n - 1, 0),), dtype=bool)
    flat = s.reshape(-1)
    gaps = np.empty_like(flat)
    gaps[0] = 0.0
    with np.errstate(invalid="ignore"):
        np.subtract(flat[1:], flat[:-1], out=gaps[1:])
        links = _array_api.tied_gaps(np, gaps.reshape(s.shape), s)
    if not _array_api.may_chain(np, links[..., 1:], gaps.reshape(s.shape)[..., 1:]):
        return links[..., 1:]
    lanes = s.reshape(-1, n)
    new = ~links.reshape(lanes.shape)
    new[:, 0] = True
    return ~_array_api.split_long_groups(lanes, new, _array_api.lane_tolerance(np, lanes))[:, 1:].reshape(links[..., 1:].shape)


def sorted_ranks(links: np.ndarray) -> np.ndarray:
    """1-based average ranks, in sorted order, of sorted lanes with tie links ``links`` (..., n - 1):
    float64 (..., n), every group's mean position in one flat pass (tie starts, sizes, ``repeat``)."""
    shape = links.shape[:-1] + (int(links.shape[-1]) + 1,)
    rows, n = int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]
    new = np.empty((rows, n), dtype=bool)  # a value starting a group
    new[:, 0] = True  # a lane's first value does
    np.logical_not(links.reshape(rows, n - 1), out=new[:, 1:])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, new.size))
    return np.repeat(starts % n + (sizes + 1) / 2, sizes).reshape(shape)


def _rank_rows(block: np.ndarray) -> np.ndarray:
    """Average ranks along each row of a 2-D NaN-free block."""
    rows, n = block.shape
    order = np.argsort(block, axis=-1)  # ties are averaged below, so the sort need not be stable
    gidx = order.ravel()
    gidx += np.repeat(np.arange(0, rows * n, n), n)
    s = block.ravel()[gidx]  # every row sorted, one after the other
    links = tie_links(s.reshape(rows, n))
    ranks = np.empty(s.shape[0])
    if not links.any():  # no ties: ranks 1..n in sorted order
        ranks[gidx] = np.tile(np.arange(1.0, n + 1.0), rows)
    else:
        ranks[gidx] = sorted_ranks(links).reshape(-1)
    return ranks.reshape(rows, n)


def tie_pairs(s: np.ndarray) -> int:
    """Number of pairs of equal values in a sorted vector ``s`` (exact equality: floating values
    pass their ``tie_groups`` labels)."""
    if s.shape[0] < 2:
        return 0
    edges = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1], [True])))
    c = np.diff(edges)
    return int((c * (c - 1) // 2).sum())


def count_inversions(perm: np.ndarray) -> int:
    """Number of pairs ``i < j`` with ``perm[i] > perm[j]`` for a permutation of ``0..P-1``.

    Bit-serial count (most significant bit first) on ``perm`` padded with ``P..2^m - 1`` (larger
    than every entry and placed last: no inversion added) to ``N = 2^m``. At bit ``k`` the sequence
    is a list of groups of ``2^(k+1)`` consecutive values (original relative order kept); a pair
    decided at bit ``k`` is an inversion when its 1-bit comes first. A group of ``w = 2h`` entries
    holds exactly ``h`` ones; with the ones at in-group positions ``i_1 < ... < i_h`` the zeros
    after the ``r``-th one number ``h - 1 + r - i_r``, i.e. ``(3 h^2 - h) / 2 - sum(i_r)`` per
    group: one sum of positions per bit. The stable partition into the next bit's groups is two
    ``compress`` calls; groups of at most 8 entries are finished by direct comparison.
    ``O(P log P)`` int32 vector operations.
    """
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


def pearson_vectors(a: np.ndarray, b: np.ndarray, center: bool = True) -> float:
    """Pearson correlation (``center``) or cosine of two vectors, clipped to [-1, 1]; NaN if a norm is 0.

    Pairwise-summed products (``np.add.reduce``): no BLAS call, whose threading costs more than it
    saves at RDM-vector sizes.
    """
    import math

    a, b = pow2_scaled(a), pow2_scaled(b)  # squares within float64's range at any scale
    if center:
        a = a - a.mean()
        b = b - b.mean()
    na, nb = math.sqrt(float(np.add.reduce(a * a))), math.sqrt(float(np.add.reduce(b * b)))
    if not (0 < na < math.inf and 0 < nb < math.inf):  # a zero or non-finite norm (an inf entry): NaN
        return math.nan
    return min(1.0, max(-1.0, float(np.add.reduce(a * b)) / na / nb))


def pow2_scaled(x: np.ndarray) -> np.ndarray:
    """``x`` times a power of two per lane (last axis): each lane's largest finite magnitude in [0.5, 1)
    (``np.ldexp``: exact, no rounding); lanes without a finite non-zero value are unchanged."""
    if x.shape[-1] == 0:
        return x
    a = np.abs(x)
    with np.errstate(invalid="ignore"):
        top = np.max(np.where(np.isfinite(a), a, 0.0), axis=-1, keepdims=True)
    return np.ldexp(x, -np.frexp(top)[1])
