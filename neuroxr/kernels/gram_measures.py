"""Measures computed from :class:`~neuroxr.kernels.gram.GramStats` or a column-centred Gram:
covariance eigenvalues, whether the features vary (up to rounding), effective dimensionality and
linear CKA (biased and debiased HSIC). Re-exported by :mod:`neuroxr.kernels.gram`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import get_namespace
from ..errors import LayoutError, too_few_stimuli
from .gram_rows import uncentered_shift

if TYPE_CHECKING:
    from .gram import GramStats
from .stats import column_tol, no_variance, rounding_tol

__all__ = ["centered_gram", "double_center", "covariance_eigenvalues", "variance_totals", "constant_features",
           "effective_dimensionality", "linear_cka", "resampled_hsic_unbiased", "resampled_cka_debiased",
           "resampled_constant", "resampled_constant_rows", "resampled_cka_biased", "permuted_cka"]

#: a resample whose centred self-HSIC is at most this fraction of its uncentred one
#: (``w'(K * K)w``) is recomputed from its gathered Grams (:func:`resampled_cka_biased`): there the
#: closed form, a difference of terms of that size, would keep fewer than about 10 digits
_GATHER_BELOW = 2.0**-10
#: entries of one block of a Gram's columns, ``(n, _BLOCK // n)``, that the resampled closed forms
#: and :func:`permuted_cka` build at a time (float64: 16 MiB; debiased three at once, 48 MiB): their
#: memory beyond the inputs stays ``O(_BLOCK)``, not ``O(n^2)``; a Gram of at most 1448 stimuli is one block
_BLOCK = 2**21


def centered_gram(stats: GramStats) -> Any:
    """Column-centred Gram ``Fc Fc^T``, shape (n, n)."""
    return stats.K


def double_center(K: Any) -> Any:
    """``H K H`` with ``H = I - 1 1^T / n`` (centres a Gram as if its features were column-centred).

    Accepts a stack of Grams, shape (..., n, n).
    """
    xp = get_namespace(K)
    K = K - xp.mean(K, axis=-1, keepdims=True)
    return K - xp.mean(K, axis=-2, keepdims=True)


def _as_K(x: Any) -> Any:
    return x.K if isinstance(x, _gram.GramStats) else x


def covariance_eigenvalues(stats: GramStats | Any, ddof: int = 1) -> Any:
    """Non-zero spectrum of the feature covariance ``Fc^T Fc / (n - ddof)``, descending.

    The ``p x p`` covariance and the ``n x n`` Gram share their non-zero eigenvalues, so this costs
    one ``n x n`` eigendecomposition however many units there are.

    Parameters
    ----------
    stats : GramStats or array, shape (n, n)
        Statistics or a column-centred Gram.
    ddof : int
        Delta degrees of freedom of the covariance (1: unbiased, as ``numpy.cov``).

    Returns
    -------
    array, shape (n,)
        Eigenvalues clipped at 0, largest first (trailing zeros when ``p < n`` or from centring).
    """
    K = _as_K(stats)
    xp = get_namespace(K)
    n = int(K.shape[0])
    lam = xp.linalg.eigvalsh((K + xp.permute_dims(K, (1, 0))) / 2) / (n - ddof)
    lam = xp.flip(lam, axis=0)
    return xp.where(lam > 0, lam, xp.zeros_like(lam))


def variance_totals(stats: GramStats, rows: Any = None) -> tuple[float, float]:
    """``(centred, uncentred)`` sums of squares of the features over the stimuli ``rows`` (int
    positions; default all): ``tr K`` and ``tr F F^T = tr K + n (p mu^2 + m2)``; over a subset, its
    Gram centred again and ``sum_i (K_ii + 2 u_i)`` (:func:`uncentered_shift`)."""
    K = stats.K
    xp = get_namespace(K)
    if rows is None:
        tr = float(xp.sum(xp.linalg.diagonal(K)))
        return tr, tr + stats.n_stimuli * (stats.n_units * stats.mu * stats.mu + stats.m2)
    return _subset_totals(stats, rows)[1:]


def _subset_totals(stats: GramStats, rows: Any) -> tuple[float, float, float]:
    """``(tr K[S, S], centred, uncentred)`` over the stimuli ``rows`` (:func:`variance_totals`)."""
    K = stats.K
    xp = get_namespace(K)
    rows = xp.asarray(rows, device=getattr(K, "device", None))
    Kr = xp.take(xp.take(K, rows, axis=0), rows, axis=1)
    tr = float(xp.sum(xp.linalg.diagonal(Kr)))
    return tr, tr - float(xp.sum(Kr)) / int(rows.shape[0]), tr + 2 * float(xp.sum(xp.take(uncentered_shift(stats), rows, axis=0)))


def constant_features(stats: GramStats | Any, rows: Any = None) -> bool:
    """Whether the features have no variance across the stimuli (``rows``: see :func:`variance_totals`),
    up to rounding: whether every unit is constant, each decided on its own squares when the
    statistics were made (``GramStats.n_varying``, :func:`~neuroxr.kernels.stats.column_tol`), as
    :func:`~neuroxr.kernels.stats.constant_columns` decides a column: one large constant unit never
    hides the variance of the others.

    Over a subset of the stimuli the statistics hold sums over the units only: the varying units'
    centred squares there (the set's, less ``qc``, the constant units' squares about their means,
    which bound their share) are compared with their uncentred squares (less the constant units'
    ``q``; :func:`~neuroxr.kernels.stats.column_tol`) plus the rounding of centring ``K`` again on
    the subset (``rounding_tol`` of ``K``'s precision times their squares about the full means).
    Statistics without ``n_varying`` (stored before it existed) decide on the set's summed squares,
    :func:`~neuroxr.kernels.stats.no_variance` of :func:`variance_totals`. A bare Gram array has no
    uncentred magnitudes: constant when its trace is not positive."""
    if not isinstance(stats, _gram.GramStats):
        xp = get_namespace(stats)
        return not float(xp.sum(xp.linalg.diagonal(stats))) > 0
    xp = get_namespace(stats.K)
    tol = rounding_tol(xp, stats.K.dtype)
    if stats.n_varying is None:
        return bool(no_variance(*variance_totals(stats, rows), tol))
    if stats.n_varying == 0:
        return True
    if rows is None or len(rows) == stats.n_stimuli:  # every stimulus (in any order)
        return False
    tr, centred, raw = _subset_totals(stats, rows)
    idx = xp.asarray(rows, device=getattr(stats.K, "device", None))
    q, qc = (float(xp.sum(xp.take(x, idx, axis=0))) for x in (stats.q, stats.qc))
    return centred - qc <= column_tol(xp, stats.K.dtype) * (raw - q) + tol * (tr - qc)


def effective_dimensionality(stats: GramStats | Any) -> float:
    """Effective dimensionality (participation ratio) ``(sum l)^2 / sum l^2`` of the covariance spectrum.

    Needs no eigendecomposition: ``sum l = tr K`` and ``sum l^2 = ||K||_F^2`` (up to the common
    factor ``1/(n-1)``, which cancels).

    Parameters
    ----------
    stats : GramStats or array, shape (n, n)
        Statistics or a column-centred Gram.

    Returns
    -------
    float
        In ``[1, min(n - 1, p)]``; NaN for constant features, up to rounding (:func:`constant_features`).
    """
    if constant_features(stats):
        return math.nan
    K = _unit_scaled(_as_K(stats))  # exact: no overflow of K * K at any feature scale
    xp = get_namespace(K)
    tr = float(xp.sum(xp.linalg.diagonal(K)))
    fro2 = float(xp.sum(K * K))
    return tr * tr / fro2 if fro2 > 0 else math.nan


def _hsic_biased(Kc: Any, Lc: Any) -> Any:
    xp = get_namespace(Kc, Lc)
    return xp.sum(Kc * Lc, axis=(-2, -1))


def _hsic_biased_terms(Kc: Any, Lc: Any) -> tuple[float, float, float]:
    """``<Kc, Lc>_F``, ``<Kc, Kc>_F``, ``<Lc, Lc>_F`` of two ``(n, n)`` Grams, a block of rows at a time
    (:func:`_column_blocks`: the Grams are symmetric): ``O(_BLOCK)`` memory beyond the two Grams."""
    t = [0.0, 0.0, 0.0]
    for rows in _column_blocks(int(Kc.shape[0])):
        Kb, Lb = Kc[rows], Lc[rows]
        t[0] += float(_hsic_biased(Kb, Lb))
        t[1] += float(_hsic_biased(Kb, Kb))
        t[2] += float(_hsic_biased(Lb, Lb))
    return t[0], t[1], t[2]


def _unit_sums(t: Any, rr: Any, sK: Any, sL: Any) -> np.ndarray:
    """:func:`_hsic_sums` with every stimulus drawn once (Song et al.'s estimator itself), from
    ``t = sum K~ * L~``, ``rr = (K~1)'(L~1)``, ``sK = 1'K~1`` and ``sL = 1'L~1`` (``K~``, ``L~``: the
    Grams without their diagonal; scalars or arrays of one shape): shape (9, ...). At unit counts
    every weighted sum of :func:`_hsic_sums` is one of these four."""
    t, rr, sK, sL = (np.asarray(x, dtype=float) for x in (t, rr, sK, sL))
    return np.stack(np.broadcast_arrays(t, t, t, t, rr, sK, sL, rr, 2 * rr))


def _unit_weights(n: int) -> tuple[Any, ...]:
    """:func:`_weights` of one resample drawing each of ``n`` stimuli once, as :func:`_hsic_from` reads
    them (``W1 = P2 = n``, ``N4 = n (n-1) (n-2) (n-3)``)."""
    return (None, None, None, np.array([float(n)]), np.array([float(n)]), np.array([float(n * (n - 1) * (n - 2) * (n - 3))]))


def _hsic_unbiased_terms(Kc: np.ndarray, Lc: np.ndarray) -> tuple[float, float, float]:
    """Song et al.'s unbiased HSIC of ``(Kc, Lc)``, ``(Kc, Kc)`` and ``(Lc, Lc)`` (:func:`_hsic_from`
    at unit counts: one formula with the resamples'), from sums over ``K~``, ``L~`` (U-centred,
    :func:`_u_shift`) built a block of columns at a time (:func:`_column_blocks`, :func:`_off_diagonal`):
    ``O(_BLOCK)`` memory beyond the two Grams. The Grams are symmetric: a column's sum is its row's."""
    n = int(Kc.shape[0])
    t = np.zeros(3)
    rK, rL = np.empty(n), np.empty(n)
    fK, fL = _u_shift(Kc), _u_shift(Lc)
    for cols in _column_blocks(n):
        Kt, Lt = _off_diagonal(Kc, cols, fK), _off_diagonal(Lc, cols, fL)
        t += (float(np.sum(Kt * Lt)), float(np.sum(Kt * Kt)), float(np.sum(Lt * Lt)))
        rK[cols], rL[cols] = Kt.sum(axis=0), Lt.sum(axis=0)
        del Kt, Lt
    sK, sL = float(rK.sum()), float(rL.sum())
    rr = (float(rK @ rL), float(rK @ rK), float(rL @ rL))
    h = _hsic_from(_unit_sums(t, rr, (sK, sK, sL), (sL, sK, sL)), _unit_weights(n))
    return float(h[0]), float(h[1]), float(h[2])


def _n_distinct_quadruples(W: np.ndarray) -> np.ndarray:
    """``N4``: the sum of ``w_a w_b w_c w_d`` over ordered 4-tuples of distinct stimuli, ``24 e_4(w)``
    (the elementary symmetric polynomial of each row of ``W``), built one stimulus at a time (every
    term positive: no cancellation, whatever the counts); 0 for fewer than 4 stimuli drawn."""
    e1, e2, e3, e4 = (np.zeros(W.shape[0]) for _ in range(4))
    for w in W.T:
        e4, e3, e2, e1 = e4 + w * e3, e3 + w * e2, e2 + w * e1, e1 + w
    return 24 * e4


def _weights(W: Any) -> tuple[np.ndarray, ...]:
    """``(w, w^2, w^3, W1 = sum w, P2 = sum w^2, N4)`` of the counts ``W`` (B, n), for :func:`_hsic_from`."""
    W = np.asarray(W, dtype=float)
    W2 = W * W
    return W, W2, W2 * W, W.sum(axis=1), W2.sum(axis=1), _n_distinct_quadruples(W)


def _column_blocks(n: int) -> list[slice]:
    """Slices of the columns of an ``(n, n)`` Gram, ``_BLOCK // n`` (at least 1) at a time (one
    empty slice for ``n = 0``)."""
    step = max(1, _BLOCK // max(n, 1))
    return [slice(lo, min(lo + step, n)) for lo in range(0, max(n, 1), step)]


def _off_diagonal(K: np.ndarray, cols: slice, shift: np.ndarray | None = None) -> np.ndarray:
    """``K~[:, cols]`` in float64, a copy: the Gram's columns ``cols`` without its diagonal, less
    ``shift_a + shift_b`` (:func:`_u_shift`) where given."""
    Kt = np.array(K[:, cols], dtype=float)
    if shift is not None:
        Kt -= shift[:, None]
        Kt -= shift[cols][None, :]
    on = np.arange(cols.start, cols.stop)
    Kt[on, on - cols.start] = 0.0
    return Kt


def _u_shift(K: Any) -> np.ndarray:
    """``f`` (n,) such that ``K_ab - f_a - f_b`` off the diagonal is the U-centred Gram (Székely and
    Rizzo 2014): each of its rows sums to 0 there. Song et al.'s estimator, resampled or not, does not
    change (the Gram centred again, :func:`resampled_hsic_unbiased`), but its closed form's sums no
    longer cancel: a column-centred Gram whose entries share a large common part (one stimulus far
    from the others drags the column means) kept few digits there (an outlier 1e8 times the others:
    3 % of the CKA). Read a block of columns at a time (``n >= 4``)."""
    n = int(K.shape[0])
    r = np.empty(n)
    for cols in _column_blocks(n):
        r[cols] = _off_diagonal(K, cols).sum(axis=0)
    return r / (n - 2) - r.sum() / (2 * (n - 1) * (n - 2))


def _hsic_sums(k: tuple[np.ndarray, ...], l: tuple[np.ndarray, ...], wts: tuple[np.ndarray, ...]) -> np.ndarray:
    """The sums over the stimuli (columns) that :func:`_hsic_from` combines, of the columns of
    ``K~``, ``L~`` and their products with the counts in ``k = (K~, W K~, W^2 K~)``, ``l`` likewise,
    and of the counts ``wts[:3] = (w, w^2, w^3)`` there (``wts[3:] = (w, w^2)`` of every stimulus,
    for ``w'M``): shape (9, B)."""
    def dot(A: np.ndarray, B: np.ndarray) -> np.ndarray:  # sum_a A_ba B_ba, per resample b
        return np.einsum("ba,ba->b", A, B)

    (Kt, KW, KW2), (Lt, LW, LW2), (W, W2, W3) = k, l, wts[:3]
    M = Kt * Lt
    MW, MW2 = wts[3] @ M, wts[4] @ M  # all the counts against the columns: (w'M)_a, ((w^2)'M)_a
    P = KW * LW
    return np.stack([dot(MW, W), dot(MW, W2), dot(MW, W3), dot(MW2, W2), dot(P, W2), dot(KW, W), dot(LW, W),
                     dot(P, W), dot(KW2 * LW + KW * LW2, W)])


def _hsic_from(S: np.ndarray, wts: tuple[np.ndarray, ...]) -> np.ndarray:
    """:func:`resampled_hsic_unbiased` from the sums ``S`` (9, B) of :func:`_hsic_sums`."""
    m11, m21, m31, t2, pw2, kw, lw, pw, q = S  # w'Mw, (w^2)'Mw, (w^3)'Mw, T2, ...
    W1, P2, n4 = wts[3:]
    t3 = pw2 - t2  # also G(w^2, w, w)
    A = (W1 * W1 - P2) * m11 - 4 * W1 * m21 + 4 * m31 + 2 * t2
    B = kw * lw - 4 * t3 - 2 * t2
    C = W1 * (pw - m21) - t3 - (q - 2 * m31)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n4 > 0, (A + B - 2 * C) / np.where(n4 > 0, n4, 1.0), np.nan)


def _hsic_sums_of(grams: tuple[Any, ...], pairs: list[tuple[int, int]], wts: tuple[np.ndarray, ...],
                  shifts: list[np.ndarray]) -> np.ndarray:
    """:func:`_hsic_sums` of each pair ``(i, j)`` of the ``grams`` (n, n), U-centred (their ``shifts``,
    :func:`_u_shift`), shape (pairs, 9, B), built a block of columns at a time (:func:`_column_blocks`:
    three ``(n, cols)`` arrays at once, the Grams' blocks and a product's); one block (``n^2 <= _BLOCK``)
    is the whole Gram."""
    W, W2 = wts[:2]
    total = None
    for cols in _column_blocks(int(np.shape(grams[0])[0])):
        sides = [(Gt, W @ Gt, W2 @ Gt) for Gt in (_off_diagonal(G, cols, f) for G, f in zip(grams, shifts))]
        counts = tuple(x[:, cols] for x in wts[:3]) + (W, W2)
        block = np.stack([_hsic_sums(sides[i], sides[j], counts) for i, j in pairs])
        total = block if total is None else total + block
        del sides  # before the next block's
    return total


def resampled_hsic_unbiased(K: Any, L: Any, W: Any) -> Any:
    """The unbiased HSIC (Song et al. 2012) of bootstrap resamples: the U-statistic over the tuples of
    draws of *distinct* stimuli.

    A resample with counts ``w`` (stimulus ``a`` drawn ``w_a`` times) repeats stimuli; two copies of
    one stimulus are not two samples, so its HSIC is the average of Song et al.'s kernel over the
    resample's ordered index 4-tuples whose four stimuli are distinct, i.e. over the ordered tuples
    ``(a, b, c, d)`` of distinct stimuli weighted by ``w_a w_b w_c w_d`` ::

        HSIC = sum w_a w_b w_c w_d (K_ab L_ab + K_ab L_cd - 2 K_ab L_ac) / N4,   N4 = 24 e_4(w)

    With every ``w = 1`` this is Song et al.'s estimator, which :func:`linear_cka` and
    :func:`permuted_cka` compute with this function's formula (:func:`_hsic_from` of :func:`_unit_sums`). Summed over the 24 orders of each set of 4 stimuli (which share a weight)
    the term does not change when a Gram is centred again (``K_ab + f_a + f_b + c``), so neither
    does the result: the sums are taken of the U-centred Grams (:func:`_u_shift`), whose terms do
    not cancel where the column means sit far from most stimuli.
    In closed form, with ``K~``, ``L~`` the Grams without their diagonal, ``M = K~ * L~``,
    ``W1 = sum w``, ``P2 = sum w^2`` and the sums over ordered tuples of distinct stimuli ::

        A = sum w_a w_b w_c w_d K_ab L_ab = (W1^2 - P2) w'Mw - 4 W1 (w^2)'Mw + 4 (w^3)'Mw + 2 T2
        B = sum w_a w_b w_c w_d K_ab L_cd = (w'K~w)(w'L~w) - 4 T3 - 2 T2
        C = sum w_a w_b w_c w_d K_ab L_ac = W1 G(w, w, w) - G(w^2, w, w) - G(w, w^2, w) - G(w, w, w^2)
        G(x, y, z) = sum_{a,b,c} x_a y_b z_c K_ab L_ac = sum_a x_a (K~y)_a (L~z)_a - x' M (y * z)
        T2 = (w^2)' M (w^2),  T3 = G(w^2, w, w) = sum_a w_a^2 (K~w)_a (L~w)_a - T2

    and ``HSIC = (A + B - 2 C) / N4`` (docs/inference.md "CKA" derives each line). NumPy arrays;
    ``O(n^2)`` per resample (six ``(B, n) @ (n, n)`` products), ``K~``, ``L~`` and ``M`` built a
    block of columns at a time (:data:`_BLOCK`: about 48 MiB beyond the inputs and ``O(B n)``, not
    ``O(n^2)``; float32 Grams read in float64 a block at a time).

    Parameters
    ----------
    K, L : ndarray, shape (n, n)
        Symmetric Grams of the ``n`` stimuli (their diagonals are not read).
    W : ndarray, shape (B, n)
        Counts of each stimulus in each of ``B`` resamples (0: not drawn).

    Returns
    -------
    ndarray, shape (B,)
        NaN for a resample of fewer than 4 distinct stimuli (no tuple of 4: undefined).
    """
    wts = _weights(W)
    grams = (K,) if L is K else (K, L)
    return _hsic_from(_hsic_sums_of(grams, [(0, 0) if L is K else (0, 1)], wts, [_u_shift(G) for G in grams])[0], wts)


def resampled_cka_debiased(K: Any, L: Any, W: Any) -> Any:
    """Debiased linear CKA of bootstrap resamples, ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` of
    :func:`resampled_hsic_unbiased`; NaN where that is undefined or the denominator is not positive,
    as :func:`linear_cka`. Shapes as :func:`resampled_hsic_unbiased`; returns (B,)."""
    wts = _weights(W)
    K, L = _unit_scaled(np.asarray(K)), _unit_scaled(np.asarray(L))  # scale-free: no overflow at any feature scale
    shifts = [_u_shift(K), _u_shift(L)]
    S = _hsic_sums_of((K, L), [(0, 1), (0, 0), (1, 1)], wts, shifts)
    kl, kk, ll = (_hsic_from(s, wts) for s in S)
    den = kk * ll
    # w'Kw: S[., 5] is w'K~w of the U-centred K~, which lacks 2 sum_{a != b} w_a w_b f_a
    wKw, wLw = (S[i, 5] + 2 * (wts[3] * (wts[0] @ f) - wts[1] @ f) + wts[1] @ np.diagonal(G)
                for i, G, f in ((1, K, shifts[0]), (2, L, shifts[1])))
    const = _constant_of(K, wts[0], wKw) | _constant_of(L, wts[0], wLw)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((den > 0) & ~const, kl / np.sqrt(np.where(den > 0, den, 1.0)), np.nan)


def _quad(KW: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``w'Kw`` per resample from ``KW = W K`` (B, n)."""
    return np.einsum("ba,ba->b", KW, W)


def _constant_of(K: Any, W: np.ndarray, wKw: np.ndarray) -> np.ndarray:
    """:func:`resampled_constant` from the counts ``W`` (B, n, float) and ``w'Kw`` (B,)."""
    K = np.asarray(K)
    return _constant_from(np.diagonal(K), K.dtype, W, wKw)


def _constant_from(diag: np.ndarray, dtype: Any, W: np.ndarray, wKw: np.ndarray) -> np.ndarray:
    """:func:`resampled_constant` from the Gram's diagonal ``K_aa`` (n,), its precision ``dtype``, the
    counts ``W`` (B, n, float) and ``w'Kw`` (B,)."""
    tr = W @ np.asarray(diag, dtype=float)
    m = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(no_variance(tr - wKw / m, tr, rounding_tol(np, dtype))) | ~(m > 0)


def resampled_constant(K: Any, W: Any) -> Any:
    """Whether the representation of each bootstrap resample is constant up to rounding: the rule of
    :func:`~neuroxr.kernels.stats.no_variance` on the resample's sum of squares about its own mean,
    ``tr(H_w K_w) = sum_a w_a K_aa - w'Kw / m`` (``m = sum w``), against its squares about the
    Gram's origin, ``sum_a w_a K_aa`` (the full sample's mean where ``K`` is centred), with
    :func:`~neuroxr.kernels.stats.rounding_tol` of ``K``'s precision: drawn stimuli whose features
    agree to about ``2.4e-7`` (float64) of their distance from that origin count as one, as copies
    of one stimulus do.

    Parameters
    ----------
    K : ndarray, shape (n, n)
        Symmetric positive semi-definite Gram (a linear kernel) of the ``n`` stimuli.
    W : ndarray, shape (B, n)
        Counts of each stimulus in each of ``B`` resamples.

    Returns
    -------
    ndarray of bool, shape (B,)
        True for a resample of one stimulus, of stimuli with equal features (up to rounding), or of
        a zero Gram; also for one that draws nothing.
    """
    W = np.asarray(W, dtype=float)
    return _constant_of(K, W, _quad(W @ np.asarray(K, dtype=float), W))


def resampled_constant_rows(A: np.ndarray, W: Any, block: int = 2**22) -> np.ndarray:
    """:func:`resampled_constant` of the linear Gram ``A A^T`` from the rows ``A`` (n, p) themselves,
    never forming it: ``K_aa = |a_a|^2`` and ``w'Kw = |w'A|^2``, the resamples ``block / p`` at a time
    (memory ``O(block)``, not ``n^2``)."""
    A, W = np.asarray(A, dtype=float), np.asarray(W, dtype=float)
    step = max(1, block // max(A.shape[1], 1))
    wKw = np.concatenate([np.einsum("bj,bj->b", P, P) for P in (W[lo : lo + step] @ A for lo in range(0, W.shape[0], step))]
                         ) if W.shape[0] else np.zeros(0)
    return _constant_from(np.einsum("aj,aj->a", A, A), A.dtype, W, wKw)


def _biased_cka_gathered(K: np.ndarray, L: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The biased CKA of each resample (counts ``W``) from its gathered Grams ``K[idx][:, idx]``,
    centred again (:func:`double_center`): ``O(m^2)`` per resample, the stimuli in index order."""
    out = np.empty(W.shape[0])
    for b, w in enumerate(W):
        idx = np.repeat(np.arange(w.shape[0]), w.astype(np.int64))
        Kc, Lc = (double_center(np.asarray(G[np.ix_(idx, idx)], dtype=float)) for G in (K, L))
        out[b] = _ratio(float(np.sum(Kc * Lc)), float(np.sum(Kc * Kc)), float(np.sum(Lc * Lc)))
    return out


def resampled_cka_biased(K: Any, L: Any, W: Any) -> Any:
    """Biased linear CKA of bootstrap resamples: the CKA of the resampled representations, both
    Grams restricted to the draws and centred again, in closed form from the counts.

    A resample drawing stimulus ``a`` ``w_a`` times (``m = sum w`` draws) has the gathered Gram
    ``K_w = K[idx][:, idx]`` (m, m) and, with ``H`` the centring matrix of ``m`` draws, the
    centred inner product ::

        S(K, L) = <H K_w H, H L_w H> = tr(K_w L_w) - (2 / m) 1'K_w L_w 1 + (1'K_w 1)(1'L_w 1) / m^2
                = w'(K * L)w - (2 / m) sum_a w_a (Kw)_a (Lw)_a + (w'Kw)(w'Lw) / m^2

    and ``CKA = S(K, L) / sqrt(S(K, K) S(L, L))`` (the normalisation ``1 / m^2`` of the HSIC
    cancels), ``O(n^2)`` per resample (five ``(B, n) @ (n, n)`` products, the Grams' products a
    block of columns at a time, :data:`_BLOCK`: about 16 MiB beyond the inputs and ``O(B n)``)
    instead of ``O(m^2)`` gathered. NaN where either resampled representation is constant up to rounding
    (:func:`resampled_constant`), as :func:`linear_cka` of the resampled representations gives. A
    resample whose ``S(K, K)`` (or ``S(L, L)``) is at most ``2^-10`` of its uncentred ``w'(K * K)w``
    (its drawn stimuli nearly equal against their distance from the Gram's origin: the closed form's
    terms cancel to that fraction) is computed from its gathered Grams instead.

    Parameters
    ----------
    K, L : ndarray, shape (n, n)
        Symmetric positive semi-definite Grams of the ``n`` stimuli (centred or not).
    W : ndarray, shape (B, n)
        Integer counts of each stimulus in each of ``B`` resamples (0: not drawn).

    Returns
    -------
    ndarray, shape (B,)
    """
    W = np.asarray(W, dtype=float)
    K, L = _unit_scaled(np.asarray(K)), _unit_scaled(np.asarray(L))  # scale-free: no overflow at any feature scale
    m = W.sum(axis=1)
    S = None
    for cols in _column_blocks(K.shape[0]):  # float32 Grams cast a block at a time
        Kb, Lb, Wb = K[:, cols], L[:, cols], W[:, cols]
        KW, LW = W @ Kb, W @ Lb
        raw = [_quad(W @ np.multiply(A, B, dtype=float), Wb) for A, B in ((Kb, Lb), (Kb, Kb), (Lb, Lb))]
        cross = [np.einsum("ba,ba,ba->b", Wb, A, B) for A, B in ((KW, LW), (KW, KW), (LW, LW))]
        block = np.stack([*raw, *cross, _quad(KW, Wb), _quad(LW, Wb)])
        S = block if S is None else S + block
    ukl, uk, ul, xkl, xkk, xll, wKw, wLw = S  # w'(K * L)w, ..., sum_a w_a (Kw)_a (Lw)_a, ..., w'Kw, w'Lw

    def centred(raw: np.ndarray, cross: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return raw - 2 / m * cross + a * b / (m * m)

    with np.errstate(invalid="ignore", divide="ignore"):
        kl, kk, ll = centred(ukl, xkl, wKw, wLw), centred(uk, xkk, wKw, wKw), centred(ul, xll, wLw, wLw)
        const = _constant_of(K, W, wKw) | _constant_of(L, W, wLw)
        out = np.where(const, np.nan, kl / np.sqrt(np.where(const, 1.0, kk * ll)))
    gather = ~const & ((kk <= _GATHER_BELOW * uk) | (ll <= _GATHER_BELOW * ul))
    if gather.any():
        out[gather] = _biased_cka_gathered(K, L, W[gather])
    return out


def linear_cka(K: GramStats | Any, L: GramStats | Any, debiased: bool = False, centred: bool = False) -> float:
    """Linear CKA (Kornblith et al. 2019) between two representations of the same stimuli.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear kernels ``K = Fc Fc^T``; the
    biased estimator is ``<Kc, Lc>_F / (||Kc||_F ||Lc||_F)``. ``debiased=True`` uses the unbiased
    HSIC estimator of Song et al. (2012), as in Kornblith et al. (needs ``n >= 4``).

    Parameters
    ----------
    K, L : GramStats or array, shape (n, n)
        Statistics or column-centred Grams (an uncentred Gram is centred here).
    debiased : bool
        Use the unbiased HSIC estimator.
    centred : bool, default False
        ``K`` and ``L`` are column-centred Grams already (``Xc Xc^T``): used as they are, without a
        second centring or a copy (the Frobenius products summed a block of rows at a time).

    Returns
    -------
    float
        NaN when either representation is constant, up to rounding (:func:`constant_features`).
        Fewer than 3 stimuli (4 debiased) are refused.
    """
    terms = _cka_terms(K, L, debiased, centred=centred)
    return math.nan if terms is None else _ratio(*terms[:3])


def _unit_scaled(M: Any, own: bool = False) -> Any:
    """``M`` times the power of 2 that brings its largest magnitude into ``[0.5, 1)`` when that lies
    outside ``2^-256 .. 2^256``: exact (no digit changes), so that products and squares of Grams neither
    overflow nor underflow whatever the features' scale (CKA and the participation ratio are scale-free:
    features times 1e100 gave 0.0 and NaN). Within that range ``M`` as it is: no copy, the same bits.
    ``own``: ``M`` is the caller's own array, scaled in place."""
    xp = get_namespace(M)
    m = max(float(xp.max(M)), -float(xp.min(M))) if M.shape[0] else 0.0  # no |M| temporary
    if not (m > 0 and math.isfinite(m)):
        return M
    e = math.frexp(m)[1]
    if -256 <= e <= 256:
        return M
    a, b = 2.0 ** -(e // 2), 2.0 ** -(e - e // 2)  # two steps: each factor a normal number
    if own and isinstance(M, np.ndarray) and M.flags.writeable:
        M *= a
        M *= b
        return M
    return (M * a) * b


def _ratio(kl: float, kk: float, ll: float) -> float:
    """``kl / sqrt(kk ll)``; NaN where ``kk ll`` is not positive."""
    den = kk * ll
    return kl / math.sqrt(den) if den > 0 else math.nan


def _cka_terms(K: GramStats | Any, L: GramStats | Any, debiased: bool, const: bool | None = None,
               centred: bool = False) -> tuple[Any, ...] | None:
    """:func:`linear_cka`'s refusals, then ``None`` where either representation is constant (``const``;
    default :func:`constant_features` of each), else ``(HSIC(K, L), HSIC(K, K), HSIC(L, L), Kc, Lc)``:
    floats and the centred Grams (``centred``: ``K`` and ``L`` as given, read only; else new arrays)."""
    if const is None:
        const = constant_features(K) or constant_features(L)
    K, L = _as_K(K), _as_K(L)
    if K.shape != L.shape:
        raise LayoutError(f"linear_cka: Grams of different shapes {tuple(K.shape)} and {tuple(L.shape)}; align the stimuli first.")
    n, need = int(K.shape[0]), 3 + bool(debiased)
    if n < need:  # the shared line of nx.cka's refusal (geometry.cka), naming what it was given: Grams
        raise too_few_stimuli("linear_cka", "K and L", n, "the debiased estimator" if debiased else "CKA",
                              "every CKA is 1" if n == 2 and not debiased else "", need, "pass Grams of at least {need} stimuli.",
                              on="as the Grams' rows and columns")
    if const:
        return None
    if centred:  # column-centred Grams (nx.cka's): no second centring, no copy but where scaled
        Kc, Lc = _unit_scaled(K), _unit_scaled(L)
    else:
        Kc, Lc = _unit_scaled(double_center(K), own=True), _unit_scaled(double_center(L), own=True)
    if debiased:  # NumPy (the callers' Grams are)
        Kc, Lc = np.asarray(Kc, dtype=float), np.asarray(Lc, dtype=float)
        return (*_hsic_unbiased_terms(Kc, Lc), Kc, Lc)
    return (*_hsic_biased_terms(Kc, Lc), Kc, Lc)


from . import gram as _gram  # noqa: E402  (last: that module re-exports this one's names)
from .cka_permute import permuted_cka  # noqa: E402  (last: it reads this module's names)
