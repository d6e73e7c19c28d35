"""Generalized shape metrics (Williams et al. 2021) as array-API kernels.

Two representations ``X`` (``n x p_x``) and ``Y`` (``n x p_y``) of the same ``n`` stimuli are
compared after aligning them with the best transformation of a group:

1. centre the columns (optional) and apply the partial whitening of Williams et al. (2021)::

       phi_alpha(X) = X (alpha I + (1 - alpha) (X^T X)^(-1/2))

   ``alpha = 1`` leaves ``X`` as is (the metric is then invariant to rotations/reflections only:
   Procrustes); ``alpha = 0`` whitens fully (invariant to any invertible linear map: CCA-like;
   the singular values below are then the canonical correlations), rescaled so that the total
   variance is kept (netrep's ``preserve_variance=True``). As netrep's ``whiten``, the
   eigenvalues of ``X^T X`` are floored at the absolute ``1e-7`` (``NETREP_EIG_FLOOR``) in the
   whitening and in the rescaling alike, so every ``alpha`` equals netrep at every scale; the
   price (netrep's too) is that at ``alpha = 0`` a representation whose variance along some
   direction is below ``1e-7`` (e.g. features of scale ``1e-5`` and below) is whitened less there
   than a larger copy of it. For ``0 < alpha < 1`` the distance depends on the data's scale at
   every scale (``alpha I`` scales with ``X``, ``(X^T X)^(-1/2)`` does not): only ``alpha = 1``
   and ``alpha = 0`` (above the floor) are scale invariant.
   Directions the data do not span (the null space of ``X^T X``: singular values of ``X`` at or
   below ``max(n, p) eps`` times the largest, rounding; taken from the SVD of ``X``, which resolves
   directions far smaller than the largest, where ``X^T X`` does not) have nothing to whiten: the whitening is
   ``alpha`` there (the Moore-Penrose ``(X^T X)^(+1/2)`` is zero), the same in every such
   direction, so held-out rows' components there count by a rule that no rounding can rotate;
2. zero-pad the narrower representation with zero columns to the same width;
3. rotate both onto each other: ``U S V^T = svd(Xw^T Yw)``, ``tX = Xw U``, ``tY = Yw V``, as a
   partial isometry: only the ``r`` singular directions above the rank tolerance
   (``max(S) max(p_x, p_y) eps``) are paired. Where ``r`` is below the width (a null space, e.g.
   at least as many units as training stimuli) the rotation of the rest is arbitrary (any is
   optimal); their components go to separate columns (``tX`` and ``tY`` are ``p_x + p_y - r``
   wide), so they add nothing to the inner product, the mean over every optimal rotation, and
   still count in the norms. Without a null space this is netrep's alignment;
4. score: angular distance ``arccos(<tX, tY>_F / (||tX||_F ||tY||_F))`` (in ``[0, pi/2]`` for
   fitted data) or Euclidean ``||tX - tY||_F`` (both as netrep's ``LinearMetric.score``).

Fitted on the same data they score, both depend on each representation only through its
column-centred Gram ``K = Xc Xc^T``: :func:`shape_distance_from_gram` computes the distance from
two Grams (one ``n x n`` eigendecomposition each), which is what pairwise distances between many
large layers use.

Wide data (more units ``p`` than training stimuli ``n``, typical of DNN layers): :func:`fit_parts`
replaces the centred ``X`` by ``n`` coordinates in an orthonormal basis ``Q`` of its rows' span
(:func:`row_basis`) and whitens there, counting the other ``p - n`` directions as null (the
whitening is ``Q Z Q^T + beta (I - Q Q^T)``); held-out rows are projected on ``Q``, their part
outside it whitened by ``beta`` and unpaired (:func:`project`, :func:`aligned`). Same distances, to
rounding, at ``O(n^2 p)`` instead of ``O(p^3)`` time and ``O(n p)`` instead of ``O(p^2)`` memory.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..backend import get_namespace
from ..errors import LayoutError, ParameterError, shown
from .stats import constant_units

__all__ = [
    "SCORE_METHODS",
    "null_rtol",
    "whiten",
    "centre",
    "row_basis",
    "Whitening",
    "PartialFit",
    "fit_parts",
    "partial_fit",
    "row_span",
    "pairing",
    "fit_alignment",
    "aligned",
    "unit_scaled",
    "angular_distance",
    "euclidean_distance",
    "shape_score",
    "shape_distance_from_gram",
]

SCORE_METHODS = ("angular", "euclidean")
EIG_TOL = 1e-10
NETREP_EIG_FLOOR = 1e-7  # netrep's whiten(eigval_tol=1e-7): covariance eigenvalues floored here
#: eigenvalues of ``X^T X`` below this fraction of the largest (rounding of about ``eps`` times the
#: largest: relative errors above ``1e-8``) make :func:`whiten` take them from the SVD of ``X`` instead
RESOLVED_EIG = 2.0**-26


def _t(xp: Any, M: Any) -> Any:
    return xp.permute_dims(M, (1, 0))


def _eye(xp: Any, n: int, like: Any) -> Any:
    return xp.eye(n, dtype=like.dtype, device=getattr(like, "device", None))


def null_rtol(n: int, p: int, like: Any) -> float:
    """Relative size below which a singular value of ``X`` (shape ``(n, p)``), taken from its SVD, is
    rounding: ``max(n, p) eps`` of ``like``'s dtype (:func:`row_span` keeps its square root of the
    singular values of the whitened data)."""
    return max(int(n), int(p), 1) * float(get_namespace(like).finfo(like.dtype).eps)


def _variance_scale(xp: Any, lam: Any, alpha: float, extra_zeros: int) -> float:
    """netrep's ``preserve_variance`` factor: ``sqrt(sum(lam) / sum((alpha sqrt(lam) + 1 - alpha)^2))``.

    ``lam`` are the covariance eigenvalues, floored at ``NETREP_EIG_FLOOR`` as netrep's ``whiten``
    does; ``extra_zeros`` more zero eigenvalues (zero-padded columns, or covariance directions past
    the Gram's size) count as the floor too. The partially whitened data then keep the total
    variance ``tr(X^T X)``.
    """
    lam_c = xp.where(lam > NETREP_EIG_FLOOR, lam, xp.full_like(lam, NETREP_EIG_FLOOR))
    floor_term = (alpha * math.sqrt(NETREP_EIG_FLOOR) + (1.0 - alpha)) ** 2
    total = float(xp.sum(lam_c)) + extra_zeros * NETREP_EIG_FLOOR
    new_var = float(xp.sum((alpha * xp.sqrt(lam_c) + (1.0 - alpha)) ** 2)) + extra_zeros * floor_term
    return math.sqrt(total / new_var)


def _whiten(X: Any, alpha: float, n_columns: int | None, n_units: int | None,
            offset_sq: float = 0.0, deficient: bool = False) -> tuple[Any, Any, float]:
    """:func:`whiten`, and ``beta``: its factor on the directions without variance (``c alpha``; 1 when
    ``alpha > 1 - 1e-7``), including the ``n_units - k`` ones outside ``X``'s ``k`` coordinates.
    ``offset_sq``: ``n ||mean||^2`` of the columns ``X`` was centred from (:func:`fit_parts`): the
    centring rounds to ``eps`` of the uncentred values, whose squared norm is ``||X||_F^2 + offset_sq``,
    so a singular value below :func:`null_rtol` of that norm is rounding too. ``deficient``: ``X``'s
    rank is below ``k`` by construction (centred rows, no more of them than columns; as are more
    columns than rows): ``X^T X`` has an eigenvalue at rounding level, so the SVD route is taken
    without the eigendecomposition that would only have said so (the same numbers, bit for bit)."""
    xp = get_namespace(X)
    n, k = int(X.shape[0]), int(X.shape[1])
    p = k if n_units is None else int(n_units)
    if alpha > 1.0 - NETREP_EIG_FLOOR:
        return X, _eye(xp, k, X), 1.0
    zero = xp.all(X == 0, axis=0)
    n_zero = int(xp.sum(xp.astype(zero, xp.int64)))
    if 0 < n_zero < k:
        # columns exactly zero (dead units, once centred) are null directions, whitened by c alpha like
        # the n_units - k outside X: the others are whitened without them (their spectrum picks the
        # route: a tall layer with dead units keeps the eigendecomposition) and the columns put back
        order = xp.argsort(xp.astype(zero, xp.int8), stable=True)
        inv = xp.argsort(order, stable=True)
        kk = k - n_zero
        Xw, Z, beta = _whiten(xp.take(X, order[:kk], axis=1), alpha, n_columns, p, offset_sq, deficient and kk >= n)
        Zb = xp.concat([xp.concat([Z, _zeros(xp, kk, n_zero, Z)], axis=1),
                        xp.concat([_zeros(xp, n_zero, kk, Z), _eye(xp, n_zero, Z) * beta], axis=1)], axis=0)
        Xw = xp.take(xp.concat([Xw, _zeros(xp, n, n_zero, Xw)], axis=1), inv, axis=1)
        return Xw, xp.take(xp.take(Zb, inv, axis=0), inv, axis=1), beta
    # (no null eigenvalue of X^T X is computed above RESOLVED_EIG of the largest: its rounding is
    # O(max(n, k) eps) of it, below 2^-26 for any size whose k x k eigenproblem is feasible)
    svd_route = (deficient or k > n) and k > 0 and float(xp.sum(X * X)) > 0
    if not svd_route:
        C = xp.matmul(_t(xp, X), X)
        lam, V = xp.linalg.eigh((C + _t(xp, C)) / 2)
        top = max(float(xp.max(lam)), 0.0) if k else 0.0
        svd_route = top > 0 and float(xp.min(lam)) < RESOLVED_EIG * top
    U = None
    if svd_route:
        # eigenvalues of X^T X carry rounding of about eps times the largest: those below
        # RESOLVED_EIG of it (a unit 1e8 times the others, a null space) are taken from the SVD of X,
        # which resolves its singular values to eps times the largest; thin: the k - m directions
        # past its m = min(n, k) are null, whitened by one factor, and need no basis (V: (k, m))
        U, sv, Vh = xp.linalg.svd(X, full_matrices=False)
        m = int(sv.shape[0])
        pad = xp.zeros((k - m,), dtype=sv.dtype, device=getattr(sv, "device", None))
        sv = xp.concat([sv, pad]) if k > m else sv
        # no variance: rounding of X, or of its centring, which rounds to eps of the uncentred values
        raw = math.sqrt(float(xp.sum(sv * sv)) + max(float(offset_sq), 0.0))
        null = sv <= max(float(sv[0]), raw) * null_rtol(X.shape[0], p, X)
        lam, V = sv * sv, _t(xp, Vh)
    else:
        null = lam <= top * null_rtol(X.shape[0], p, X)
    lam = xp.where(null, xp.zeros_like(lam), lam)
    lam_c = xp.where(lam > NETREP_EIG_FLOOR, lam, xp.full_like(lam, NETREP_EIG_FLOOR))
    extra = (p - k) + max(0, (p if n_columns is None else int(n_columns)) - p)
    scale = _variance_scale(xp, lam, alpha, extra)
    d = xp.where(null, xp.full_like(lam, alpha), alpha + (1.0 - alpha) / xp.sqrt(lam_c))
    d = d * scale
    if U is None:
        Z = xp.matmul(V * d[None, :], _t(xp, V))
        return xp.matmul(X, Z), Z, alpha * scale
    m = min(k, n)
    if k > m:  # V_m diag(d_m) V_m^T + (c alpha) (I - V_m V_m^T): the null directions past V's m columns
        Z = xp.matmul(V * (d[:m] - alpha * scale)[None, :], _t(xp, V)) + _eye(xp, k, X) * (alpha * scale)
    else:
        Z = xp.matmul(V * d[None, :], _t(xp, V))
    # from the factors, U diag(s d) V^T: the product X Z rounds X's large columns against Z's small entries
    Xw = xp.matmul(U[:, :m] * (xp.sqrt(lam[:m]) * d[:m])[None, :], _t(xp, V[:, :m]))
    return Xw, Z, alpha * scale


def whiten(X: Any, alpha: float, n_columns: int | None = None, n_units: int | None = None) -> tuple[Any, Any]:
    """Partial whitening ``Xw = X Z`` with ``Z = c (alpha I + (1 - alpha) (X^T X)^(-1/2))``: netrep's
    ``whiten(X, alpha, preserve_variance=True)``.

    The eigenvalues ``lam`` of ``X^T X`` are floored at ``NETREP_EIG_FLOOR = 1e-7`` (absolute, as
    netrep's ``eigval_tol``) in ``(X^T X)^(-1/2)`` and in ``c``, which keeps the total variance
    ``sum max(lam, 1e-7)``: ``||Xw||_F = ||X||_F`` exactly when no eigenvalue, or every one, is
    below the floor, up to the floored part otherwise. For ``alpha`` above ``1 - 1e-7`` ``X`` is
    returned as is (netrep's early return). The eigenvalues are the squared singular values of ``X``
    (its SVD: a unit ``1e8`` times the others keeps the others' directions, which the eigenvalues of
    ``X^T X`` lose below ``eps`` times the largest). The null space (singular values at or below
    :func:`null_rtol` times the largest, or on the SVD route times the uncentred data's norm where
    :func:`fit_parts` gives it, set to 0) is whitened by ``c alpha`` alone (netrep: by its
    rounding, floored), which changes nothing on ``X`` itself, only rows outside its span.

    Parameters
    ----------
    X : array, shape (n, k)
        (Centred) representation.
    alpha : float in [0, 1]
        1: no whitening; 0: full whitening.
    n_columns : int, optional
        Width the representation is zero-padded to before alignment (default its ``n_units``);
        each padded column counts in ``c`` as netrep, which pads before whitening, counts it.
    n_units : int, optional
        ``X``'s own width when its ``k`` columns are coordinates in an orthonormal basis of a
        subspace holding its rows (:func:`row_basis`); default ``k``. The other ``n_units - k``
        directions count as null ones (in :func:`null_rtol` and ``c``): ``Z`` is then the
        whitening of the ``n_units``-wide data restricted to the basis, the same distances.

    Returns
    -------
    Xw : array, shape (n, k)
    Z : array, shape (k, k)
    """
    Xw, Z, _ = _whiten(X, alpha, n_columns, n_units)
    return Xw, Z


def centre(X: Any, mx: Any) -> Any:
    """``X - mx`` (``mx``: (p,) column means, or zeros), or zeros when it has no variance up to
    rounding (every column constant: :func:`neuroxr.kernels.stats.no_variance` of its squares and
    ``X``'s with :func:`~neuroxr.kernels.stats.column_tol`, each column on its own, so one large constant column never hides the others'
    variance): a representation constant up to rounding is scored as an exactly constant one
    (angular: NaN)."""
    xp = get_namespace(X)
    Xc = X - mx[None, :]
    # (NumPy: no n x p product)
    const = constant_units(Xc, X)
    return xp.zeros_like(Xc) if bool(xp.all(const)) else Xc


def row_basis(X: Any) -> tuple[Any, Any]:
    """``(Q, Xr)``: an orthonormal basis ``Q`` (``p x n``) of a space holding the rows of ``X``
    (``n x p``, ``p > n``) and ``Xr = X Q`` (``n x n``, the same Gram ``X X^T``), from the QR of
    ``X^T`` (``Xr = R^T``); ``(None, X)`` when ``p <= n``."""
    xp = get_namespace(X)
    if int(X.shape[1]) <= int(X.shape[0]):
        return None, X
    Q, R = xp.linalg.qr(_t(xp, X))
    return Q, _t(xp, R)


class Whitening(NamedTuple):
    """A partial fit's whitening, factored: ``Z_full = Q Z Q^T + beta (I - Q Q^T)`` (``Q = basis``);
    without a basis ``Z`` is the whitening itself."""

    Z: Any
    """(k, k): the whitening in the basis's coordinates."""
    basis: Any
    """(p, k) orthonormal, holding the training rows (wide data: ``p`` units above ``n`` stimuli), or None."""
    beta: float
    """The whitening of the directions outside the basis (no training variance: ``c alpha``, or 1)."""


class PartialFit(NamedTuple):
    """What a fit needs of one representation (:func:`fit_parts`)."""

    mean: Any
    """(p,) column means (zeros without centring)."""
    Xw: Any
    """(n, k) centred, partially whitened data, in the basis's coordinates when there is one."""
    whitening: Whitening


def fit_parts(X: Any, alpha: float, center_columns: bool = True, n_columns: int | None = None,
              n_units: int | None = None, centred_rows: bool = False) -> PartialFit:
    """One representation's part of a fit, computed once, reduced when it is wide.

    With more units than stimuli (``p > n``) the metric depends on ``X`` only through its rows'
    span: ``X`` is replaced by ``n`` coordinates in an orthonormal basis of it (:func:`row_basis`)
    and whitened there, the other ``p - n`` directions counted as null ones (``n_units``), so the
    cost is ``O(n^2 p)`` instead of ``O(p^3)``. Every distance is the same (to rounding): on the
    basis the whitening is the full one's; outside it, held-out rows are whitened by ``beta``.

    Parameters
    ----------
    X : array, shape (n, p)
    alpha : float in [0, 1]
    center_columns : bool
    n_columns : int, optional
        Width both representations are zero-padded to (``max(p_x, p_y)``); see :func:`whiten`.
    n_units : int, optional
        ``X``'s width when its columns are already coordinates in a basis (see :func:`whiten`).
    centred_rows : bool, default False
        The caller centred the rows already (``center_columns=False``), possibly weighted
        (``sqrt(w_i) (x_i - mean_w)``, a bootstrap resample's distinct stimuli): they are linearly
        dependent, so with no more rows than columns the whitening takes the SVD route directly, as
        :func:`fit_parts`' own centring does (the same numbers, one factorisation instead of two).

    Returns
    -------
    PartialFit
        ``(mean, Xw, whitening)``.
    """
    xp = get_namespace(X)
    mx = xp.mean(X, axis=0) if center_columns else xp.zeros_like(X[0, :])
    Q, Xr = row_basis(centre(X, mx))
    units = int(X.shape[1]) if n_units is None else int(n_units)
    offset_sq = float(X.shape[0]) * float(xp.sum(mx * mx))  # the centring's rounding scale (_whiten)
    # centred rows sum to zero (weighted ones: a combination is zero; so do those of Xr = Xc Q): rank below
    # n, below k when k >= n
    deficient = (bool(center_columns) or bool(centred_rows)) and int(Xr.shape[1]) >= int(Xr.shape[0])
    Xw, Z, beta = _whiten(Xr, alpha, n_columns, units, offset_sq, deficient)
    return PartialFit(mx, Xw, Whitening(Z, Q, beta))


def partial_fit(X: Any, alpha: float, center_columns: bool = True, n_columns: int | None = None,
                n_units: int | None = None, centred_rows: bool = False) -> tuple[Any, Any, Any]:
    """What a fit of ``X`` by itself needs, computed once: ``(mean, Xw, Z)`` with ``(X - mean) Z = Xw``.

    Parameters
    ----------
    X, alpha, center_columns, n_columns, n_units, centred_rows
        As in :func:`fit_parts`.

    Returns
    -------
    mx : array, shape (p,)
        Column means (zeros when ``center_columns`` is False).
    Xw : array, shape (n, k)
        Centred (:func:`centre`), partially whitened representation; ``k = p``, or ``n`` coordinates
        in a basis of its rows' span when ``p > n`` (:func:`fit_parts`).
    Z : array, shape (p, k)
        Whitening matrix (``p > n``: restricted to the rows' span, in the basis's coordinates; it
        maps the fitted rows, not rows outside their span: :func:`fit_parts` keeps what those need).
    """
    mx, Xw, w = fit_parts(X, alpha, center_columns, n_columns, n_units, centred_rows)
    return mx, Xw, (w.Z if w.basis is None else get_namespace(X).matmul(w.basis, w.Z))


def _zeros(xp: Any, rows: int, cols: int, like: Any) -> Any:
    return xp.zeros((rows, cols), dtype=like.dtype, device=getattr(like, "device", None))


def _pad_cols(xp: Any, M: Any, p: int) -> Any:
    extra = p - int(M.shape[1])
    if extra == 0:
        return M
    return xp.concat([M, _zeros(xp, int(M.shape[0]), extra, M)], axis=1)


def pairing(Xw: Any, Yw: Any, n_units: tuple[int, int], zero_pad: bool = True) -> tuple[Any, Any, int]:
    """``(U, Vh, r)``: the full SVD ``U S Vh = svd(Xw^T Yw)`` and the number ``r`` of singular values
    above ``max(S) max(p_x, p_y) eps``, ``n_units = (p_x, p_y)`` the representations' own widths."""
    xp = get_namespace(Xw, Yw)
    px, py = int(n_units[0]), int(n_units[1])
    if px != py and not zero_pad:
        raise LayoutError(
            f"the representations have {px} and {py} columns; set zero_pad=True to pad the narrower one "
            "with zero columns, or reduce both to the same width first."
        )
    U, S, Vh = xp.linalg.svd(xp.matmul(_t(xp, Xw), Yw), full_matrices=True)
    top = float(S[0]) if int(S.shape[0]) else 0.0
    r = int(xp.sum(xp.astype(S > top * max(px, py) * float(xp.finfo(S.dtype).eps), xp.int64))) if top > 0 else 0
    return U, Vh, r


def _maps(Ax: Any, Ay: Any, r: int) -> tuple[Any, Any]:
    """``[Ax_r, Ax_rest, 0]`` and ``[Ay_r, 0, Ay_rest]``: the first ``r`` columns paired."""
    xp = get_namespace(Ax, Ay)
    kx, ky = int(Ax.shape[1]), int(Ay.shape[1])
    Wx = _pad_cols(xp, Ax, kx + ky - r)
    Wy = xp.concat([Ay[:, :r], _zeros(xp, int(Ay.shape[0]), kx - r, Ay), Ay[:, r:]], axis=1)
    return Wx, Wy


def fit_alignment(Xw: Any, Zx: Any, Yw: Any, Zy: Any, zero_pad: bool = True,
                  n_units: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """Alignment maps ``(Wx, Wy)`` such that ``tX = (X - mx) Wx`` and ``tY = (Y - my) Wy``.

    ``U S V^T = svd(Xw^T Yw)`` (full ``U``, ``V``); the ``r`` singular values above
    ``max(S) max(p_x, p_y) eps`` pair ``U_r`` with ``V_r`` (:func:`pairing`). The other directions
    (the training data's null spaces, where every rotation is optimal) get separate columns,
    ``Wx = Zx [U_r, U_rest, 0]`` and ``Wy = Zy [V_r, 0, V_rest]``: the aligned inner product is
    that of the partial isometry ``V_r U_r^T`` (the mean over all optimal rotations), the norms
    are kept. Without a null space (``r = min(p_x, p_y)``, e.g. more training stimuli than units)
    this is netrep's zero-padded alignment, ``max(p_x, p_y)`` columns wide.

    Parameters
    ----------
    Xw, Yw : array, shapes (n, k_x), (n, k_y)
        Outputs of :func:`partial_fit`.
    Zx, Zy : array, shapes (p_x, k_x), (p_y, k_y)
        Whitening matrices from :func:`partial_fit` (``k = p``, or the reduced width of wide data:
        the maps then align the fitted rows, not rows outside their span).
    zero_pad : bool
        Pad the narrower representation with zero columns; if False, ``p_x`` must equal ``p_y``.
    n_units : (int, int), optional
        The representations' widths ``(p_x, p_y)``, for data given in coordinates of a basis
        (:func:`partial_fit`'s ``n_units``); default the rows of ``Zx``, ``Zy``.

    Returns
    -------
    Wx : array, shape (p_x, k_x + k_y - r)
    Wy : array, shape (p_y, k_x + k_y - r)
    """
    xp = get_namespace(Xw, Yw)
    units = (int(Zx.shape[0]), int(Zy.shape[0])) if n_units is None else n_units
    U, Vh, r = pairing(Xw, Yw, units, zero_pad)
    return _maps(xp.matmul(Zx, U), xp.matmul(Zy, _t(xp, Vh)), r)


def project(Xc: Any, whitening: Whitening, A: Any) -> tuple[Any, Any]:
    """Centred rows ``Xc`` (``m x p``) under a fitted map ``A`` (``k x k``) of ``whitening``'s
    coordinates: ``(Xc Q A, e)`` with ``e`` the norms of their whitened parts outside the basis
    (``beta ||Xc - Xc Q Q^T||`` per row), None without a basis (then ``Xc A``)."""
    xp = get_namespace(Xc)
    Q = whitening.basis
    if Q is None:
        return xp.matmul(Xc, A), None
    C = xp.matmul(Xc, Q)
    R = Xc - xp.matmul(C, _t(xp, Q))
    return xp.matmul(C, A), whitening.beta * xp.sqrt(xp.sum(R * R, axis=1))


def aligned(Px: Any, Py: Any, r: int, ex: Any = None, ey: Any = None) -> tuple[Any, Any]:
    """Aligned ``(tX, tY)`` from :func:`project`'s outputs: ``tX = [Px_r, Px_rest, ex, 0]``,
    ``tY = [Py_r, 0, Py_rest, ey]`` (only the first ``r`` columns paired; ``ex``/``ey`` left out when None)."""
    xp = get_namespace(Px, Py)
    Ex = Px[:, r:] if ex is None else xp.concat([Px[:, r:], ex[:, None]], axis=1)
    Ey = Py[:, r:] if ey is None else xp.concat([Py[:, r:], ey[:, None]], axis=1)
    return _maps(xp.concat([Px[:, :r], Ex], axis=1), xp.concat([Py[:, :r], Ey], axis=1), r)


def row_span(X: Any, n_units: int | None = None) -> Any:
    """Orthonormal basis ``(k, r)`` of the span of the rows of ``X`` (shape ``(n, k)``): the right
    singular vectors whose singular values exceed ``sqrt(null_rtol)`` times the largest (the
    directions :func:`whiten` does not count as null; ``n_units`` as there)."""
    xp = get_namespace(X)
    _, s, Vh = xp.linalg.svd(X, full_matrices=False)
    top = float(s[0]) if int(s.shape[0]) else 0.0
    p = int(X.shape[1]) if n_units is None else int(n_units)
    keep = s > top * math.sqrt(null_rtol(X.shape[0], p, X)) if top > 0 else s < 0
    return _t(xp, Vh[keep, :])


def unit_scaled(xp: Any, M: Any) -> Any:
    """``M`` times the power of two that brings its largest magnitude into ``[0.5, 1)`` (exact: no
    rounding), so that its squares and products with another such array stay in the normal range;
    ``M`` itself when it is all zero."""
    top = float(xp.max(xp.abs(M))) if math.prod(M.shape) else 0.0
    if not 0.0 < top < math.inf:
        return M
    e = math.frexp(top)[1]
    if abs(e) <= 60:  # one factor (any float dtype holds 2^+-60); else two, each within float32's range
        return M * math.ldexp(1.0, -e)
    return (M * math.ldexp(1.0, -(e // 2))) * math.ldexp(1.0, e // 2 - e)


def angular_distance(tX: Any, tY: Any) -> float:
    """``arccos(<tX, tY>_F / (||tX||_F ||tY||_F))``; 0 for identical shapes, NaN for a zero
    representation (a constant one, up to rounding, is zero once centred: :func:`centre`). Each is
    first scaled by a power of two to a largest magnitude near 1 (exact): the angle does not depend
    on either's scale, and the product of the two squared norms overflowed (``pi/2`` for data near
    ``1e150``) or underflowed (NaN near ``1e-150``)."""
    xp = get_namespace(tX, tY)
    tX, tY = unit_scaled(xp, tX), unit_scaled(xp, tY)
    num = float(xp.sum(tX * tY))
    den = math.sqrt(float(xp.sum(tX * tX)) * float(xp.sum(tY * tY)))
    if den == 0:
        return math.nan
    return math.acos(min(1.0, max(-1.0, num / den)))


def euclidean_distance(tX: Any, tY: Any) -> float:
    """``||tX - tY||_F``: Euclidean (Frobenius) distance of the aligned representations (netrep's)."""
    xp = get_namespace(tX, tY)
    D = tX - tY
    return math.sqrt(float(xp.sum(D * D)))


def shape_score(tX: Any, tY: Any, score_method: str = "angular") -> float:
    """Distance between aligned representations (``"angular"`` or ``"euclidean"``)."""
    if score_method == "angular":
        return angular_distance(tX, tY)
    if score_method == "euclidean":
        return euclidean_distance(tX, tY)
    raise LayoutError(
        f"shape_score: score_method must be one of ('angular', 'euclidean'); got {shown(score_method)}."
    )


def _whitened_root(K: Any, alpha: float, eig_tol: float, width: int | None) -> tuple[Any, float]:
    """``Kw^(1/2)`` and ``tr Kw`` of the partially whitened representation, from its Gram ``K``.

    ``width``: the (zero-padded) number of columns, for netrep's variance-preserving factor
    (the covariance has the Gram's eigenvalues plus ``width - n`` zeros, or its top ``width``);
    ``None``: the Gram's numerical rank.
    """
    xp = get_namespace(K)
    n = int(K.shape[0])
    lam, P = xp.linalg.eigh((K + _t(xp, K)) / 2)
    top = float(xp.max(lam))
    keep = lam > eig_tol * max(top, 0.0)
    sig = xp.sqrt(xp.where(keep, lam, xp.zeros_like(lam)))
    if alpha > 1.0 - NETREP_EIG_FLOOR:
        d = sig
    else:  # sig * (alpha + (1 - alpha) / sqrt(max(lam, floor))): netrep's floored whitening, seen from the Gram
        floor = math.sqrt(NETREP_EIG_FLOOR)
        d = alpha * sig + (1.0 - alpha) * xp.where(sig > floor, xp.ones_like(sig), sig / floor)
        if width is None:  # the numerical rank: the number of units when p < n
            width = int(xp.sum(xp.astype(keep, xp.int64)))
        lam_cov = xp.flip(xp.where(lam > 0, lam, xp.zeros_like(lam)), axis=0)[: min(n, width)]
        d = d * _variance_scale(xp, lam_cov, alpha, max(0, width - n))
    root = xp.matmul(P * d[None, :], _t(xp, P))
    return root, float(xp.sum(d * d))


def shape_distance_from_gram(
    Kx: Any,
    Ky: Any,
    alpha: float = 1.0,
    score_method: str = "angular",
    eig_tol: float = EIG_TOL,
    n_units: tuple[int, int] | None = None,
) -> float:
    """Shape distance of two representations fitted and scored on the same stimuli, from their Grams.

    Equal to ``LinearMetric(alpha, center_columns=True, zero_pad=True).fit_score(X, Y)`` when
    ``Kx``, ``Ky`` are the column-centred Grams of ``X`` and ``Y``: with ``X = P S V^T``, the
    partially whitened ``Xw`` has Gram ``P (alpha S + (1 - alpha))^2 P^T`` and the aligned inner
    product is the nuclear norm of ``Kwx^(1/2) Kwy^(1/2)``.

    Parameters
    ----------
    Kx, Ky : array, shape (n, n)
        Column-centred Grams (``Xc Xc^T``), e.g. ``GramStats.K``.
    alpha : float in [0, 1], default 1.0
    score_method : {"angular", "euclidean"}, default "angular"
    eig_tol : float, default 1e-10
        Gram eigenvalues below ``eig_tol`` times the largest count as zero (round-off: their
        directions are left out, and the numerical rank counts the others); the whitening floors
        the eigenvalues at the absolute ``1e-7`` as :func:`whiten` (netrep) does.
    n_units : (int, int), optional
        Numbers of units ``(p_x, p_y)`` (e.g. ``GramStats.n_units``). Given, both are treated as
        zero-padded to ``max(p_x, p_y)`` columns, as netrep's ``LinearMetric(zero_pad=True)``
        does before whitening (this matters for ``"euclidean"`` with ``alpha < 1`` only). Default:
        each representation's width is its Gram's numerical rank, which is its number of units
        when ``p < n`` (as :func:`partial_fit` without ``n_columns``).

    Returns
    -------
    float
    """
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"shape_distance_from_gram: alpha must lie in [0, 1]; got {alpha}.")
    if score_method not in SCORE_METHODS:
        raise ParameterError(
            f"shape_distance_from_gram: score_method must be one of ('angular', 'euclidean'); got {shown(score_method)}."
        )
    xp = get_namespace(Kx, Ky)
    width = None if n_units is None else max(int(n_units[0]), int(n_units[1]))
    Rx, tx = _whitened_root(Kx, alpha, eig_tol, width)
    Ry, ty = _whitened_root(Ky, alpha, eig_tol, width)
    nuc = float(xp.sum(xp.linalg.svdvals(xp.matmul(Rx, Ry))))
    if score_method == "angular":  # each root separately: the product of the traces over- or underflowed
        den = math.sqrt(tx) * math.sqrt(ty)
        return math.acos(min(1.0, max(-1.0, nuc / den))) if den > 0 else math.nan
    return math.sqrt(max(tx + ty - 2 * nuc, 0.0))
