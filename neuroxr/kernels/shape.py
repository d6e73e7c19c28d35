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
   price (netrep's too) is that for ``alpha < 1`` a representation whose variance along some
   direction is below ``1e-7`` (e.g. features of scale ``1e-5`` and below) is whitened less there
   than a larger copy of it: the distance is not invariant to the scale of such data.
   Directions the data do not span (the null space of ``X^T X``: eigenvalues at or below
   ``max(n, p) eps`` times the largest, rounding) have nothing to whiten: the whitening is
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
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import colsum_prod, get_namespace
from ..errors import LayoutError
from .stats import no_variance, rounding_tol

__all__ = [
    "SCORE_METHODS",
    "null_rtol",
    "whiten",
    "centre",
    "partial_fit",
    "row_span",
    "fit_alignment",
    "angular_distance",
    "euclidean_distance",
    "shape_score",
    "shape_distance_from_gram",
    "procrustes_average",
]

SCORE_METHODS = ("angular", "euclidean")
EIG_TOL = 1e-10
NETREP_EIG_FLOOR = 1e-7  # netrep's whiten(eigval_tol=1e-7): covariance eigenvalues floored here


def _t(xp: Any, M: Any) -> Any:
    return xp.permute_dims(M, (1, 0))


def _eye(xp: Any, n: int, like: Any) -> Any:
    return xp.eye(n, dtype=like.dtype, device=getattr(like, "device", None))


def null_rtol(n: int, p: int, like: Any) -> float:
    """Relative size below which an eigenvalue of ``X^T X`` (``X`` of shape ``(n, p)``) is rounding:
    ``max(n, p) eps`` of ``like``'s dtype (its square root for a singular value of ``X``)."""
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


def whiten(X: Any, alpha: float, n_columns: int | None = None) -> tuple[Any, Any]:
    """Partial whitening ``Xw = X Z`` with ``Z = c (alpha I + (1 - alpha) (X^T X)^(-1/2))``: netrep's
    ``whiten(X, alpha, preserve_variance=True)``.

    The eigenvalues ``lam`` of ``X^T X`` are floored at ``NETREP_EIG_FLOOR = 1e-7`` (absolute, as
    netrep's ``eigval_tol``) in ``(X^T X)^(-1/2)`` and in ``c``, which keeps the total variance
    ``sum max(lam, 1e-7)``: ``||Xw||_F = ||X||_F`` exactly when no eigenvalue, or every one, is
    below the floor, up to the floored part otherwise. For ``alpha`` above ``1 - 1e-7`` ``X`` is
    returned as is (netrep's early return). The null space (eigenvalues at or below
    :func:`null_rtol` times the largest, set to 0) is whitened by ``c alpha`` alone (netrep: by its
    rounding, floored), which changes nothing on ``X`` itself, only rows outside its span.

    Parameters
    ----------
    X : array, shape (n, p)
        (Centred) representation.
    alpha : float in [0, 1]
        1: no whitening; 0: full whitening.
    n_columns : int, optional
        Width the representation is zero-padded to before alignment (default ``p``); each padded
        column counts in ``c`` as netrep, which pads before whitening, counts it.

    Returns
    -------
    Xw : array, shape (n, p)
    Z : array, shape (p, p)
    """
    xp = get_namespace(X)
    p = int(X.shape[1])
    if alpha > 1.0 - NETREP_EIG_FLOOR:
        return X, _eye(xp, p, X)
    C = xp.matmul(_t(xp, X), X)
    lam, V = xp.linalg.eigh((C + _t(xp, C)) / 2)
    null = lam <= max(float(xp.max(lam)), 0.0) * null_rtol(X.shape[0], p, X)  # no variance: rounding
    lam = xp.where(null, xp.zeros_like(lam), lam)
    lam_c = xp.where(lam > NETREP_EIG_FLOOR, lam, xp.full_like(lam, NETREP_EIG_FLOOR))
    extra = max(0, (p if n_columns is None else int(n_columns)) - p)
    d = xp.where(null, xp.full_like(lam, alpha), alpha + (1.0 - alpha) / xp.sqrt(lam_c))
    d = d * _variance_scale(xp, lam, alpha, extra)
    Z = xp.matmul(V * d[None, :], _t(xp, V))
    return xp.matmul(X, Z), Z


def centre(X: Any, mx: Any) -> Any:
    """``X - mx`` (``mx``: (p,) column means, or zeros), or zeros when it has no variance up to
    rounding (:func:`neuroxr.kernels.stats.no_variance` of its squares and ``X``'s, summed): a
    representation constant up to rounding is scored as an exactly constant one (angular: NaN)."""
    xp = get_namespace(X)
    Xc = X - mx[None, :]
    centred, raw = (float(xp.sum(colsum_prod(A, A))) for A in (Xc, X))  # (NumPy: no n x p product)
    return xp.zeros_like(Xc) if no_variance(centred, raw, rounding_tol(xp, X.dtype)) else Xc


def partial_fit(X: Any, alpha: float, center_columns: bool = True, n_columns: int | None = None) -> tuple[Any, Any, Any]:
    """What a fit needs of one representation, computed once: ``(mean, Xw, Z)``.

    Parameters
    ----------
    X : array, shape (n, p)
    alpha : float in [0, 1]
    center_columns : bool
    n_columns : int, optional
        Width both representations are zero-padded to (``max(p_x, p_y)``); see :func:`whiten`.

    Returns
    -------
    mx : array, shape (p,)
        Column means (zeros when ``center_columns`` is False).
    Xw : array, shape (n, p)
        Centred (:func:`centre`), partially whitened representation.
    Z : array, shape (p, p)
        Whitening matrix.
    """
    xp = get_namespace(X)
    mx = xp.mean(X, axis=0) if center_columns else xp.zeros_like(X[0, :])
    Xw, Z = whiten(centre(X, mx), alpha, n_columns=n_columns)
    return mx, Xw, Z


def _zeros(xp: Any, rows: int, cols: int, like: Any) -> Any:
    return xp.zeros((rows, cols), dtype=like.dtype, device=getattr(like, "device", None))


def _pad_cols(xp: Any, M: Any, p: int) -> Any:
    extra = p - int(M.shape[1])
    if extra == 0:
        return M
    return xp.concat([M, _zeros(xp, int(M.shape[0]), extra, M)], axis=1)


def fit_alignment(Xw: Any, Zx: Any, Yw: Any, Zy: Any, zero_pad: bool = True) -> tuple[Any, Any]:
    """Alignment maps ``(Wx, Wy)`` such that ``tX = (X - mx) Wx`` and ``tY = (Y - my) Wy``.

    ``U S V^T = svd(Xw^T Yw)`` (full ``U``, ``V``); the ``r`` singular values above
    ``max(S) max(p_x, p_y) eps`` pair ``U_r`` with ``V_r``. The other directions (the training
    data's null spaces, where every rotation is optimal) get separate columns,
    ``Wx = Zx [U_r, U_rest, 0]`` and ``Wy = Zy [V_r, 0, V_rest]``: the aligned inner product is
    that of the partial isometry ``V_r U_r^T`` (the mean over all optimal rotations), the norms
    are kept. Without a null space (``r = min(p_x, p_y)``, e.g. more training stimuli than units)
    this is netrep's zero-padded alignment, ``max(p_x, p_y)`` columns wide.

    Parameters
    ----------
    Xw, Yw : array, shapes (n, p_x), (n, p_y)
        Outputs of :func:`partial_fit`.
    Zx, Zy : array, shapes (p_x, p_x), (p_y, p_y)
        Whitening matrices from :func:`partial_fit`.
    zero_pad : bool
        Pad the narrower representation with zero columns; if False, ``p_x`` must equal ``p_y``.

    Returns
    -------
    Wx : array, shape (p_x, p_x + p_y - r)
    Wy : array, shape (p_y, p_x + p_y - r)
    """
    xp = get_namespace(Xw, Yw)
    px, py = int(Xw.shape[1]), int(Yw.shape[1])
    if px != py and not zero_pad:
        raise LayoutError(
            f"the representations have {px} and {py} columns; set zero_pad=True to pad the narrower one "
            "with zero columns, or reduce both to the same width first."
        )
    U, S, Vh = xp.linalg.svd(xp.matmul(_t(xp, Xw), Yw), full_matrices=True)
    top = float(S[0]) if int(S.shape[0]) else 0.0
    r = int(xp.sum(xp.astype(S > top * max(px, py) * float(xp.finfo(S.dtype).eps), xp.int64))) if top > 0 else 0
    ZyV = xp.matmul(Zy, _t(xp, Vh))
    Wx = _pad_cols(xp, xp.matmul(Zx, U), px + py - r)  # [Zx U_r, Zx U_rest, 0]
    Wy = xp.concat([ZyV[:, :r], _zeros(xp, py, px - r, ZyV), ZyV[:, r:]], axis=1)  # [Zy V_r, 0, Zy V_rest]
    return Wx, Wy


def row_span(X: Any) -> Any:
    """Orthonormal basis ``(p, r)`` of the span of the rows of ``X`` (shape ``(n, p)``): the right
    singular vectors whose singular values exceed ``sqrt(null_rtol)`` times the largest (the
    directions :func:`whiten` does not count as null)."""
    xp = get_namespace(X)
    _, s, Vh = xp.linalg.svd(X, full_matrices=False)
    top = float(s[0]) if int(s.shape[0]) else 0.0
    keep = s > top * math.sqrt(null_rtol(X.shape[0], X.shape[1], X)) if top > 0 else s < 0
    return _t(xp, Vh[keep, :])


def angular_distance(tX: Any, tY: Any) -> float:
    """``arccos(<tX, tY>_F / (||tX||_F ||tY||_F))``; 0 for identical shapes, NaN for a zero
    representation (a constant one, up to rounding, is zero once centred: :func:`centre`)."""
    xp = get_namespace(tX, tY)
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
        f"The 'score_method' parameter of shape_score must be one of {{'angular', 'euclidean'}}. Got {score_method!r} instead."
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
        raise LayoutError(f"shape_distance_from_gram: alpha must lie in [0, 1]; got {alpha}.")
    if score_method not in SCORE_METHODS:
        raise LayoutError(
            f"The 'score_method' parameter of shape_distance_from_gram must be one of {{'angular', 'euclidean'}}. Got {score_method!r} instead."
        )
    xp = get_namespace(Kx, Ky)
    width = None if n_units is None else max(int(n_units[0]), int(n_units[1]))
    Rx, tx = _whitened_root(Kx, alpha, eig_tol, width)
    Ry, ty = _whitened_root(Ky, alpha, eig_tol, width)
    nuc = float(xp.sum(xp.linalg.svdvals(xp.matmul(Rx, Ry))))
    if score_method == "angular":
        den = math.sqrt(tx * ty)
        return math.acos(min(1.0, max(-1.0, nuc / den))) if den > 0 else math.nan
    return math.sqrt(max(tx + ty - 2 * nuc, 0.0))


def procrustes_average(
    Xs: list[Any], center_columns: bool = True, max_iter: int = 100, tol: float = 1e-10
) -> Any:
    """Generalized Procrustes average of several representations of the same stimuli.

    Each representation is centred (optional) and zero-padded to the widest; then, iteratively,
    each one is rotated onto the current average (orthogonal Procrustes) and the average is the
    mean of the rotated representations, until the average changes by less than ``tol``
    (relative Frobenius norm). The result minimises the summed squared Procrustes (Euclidean)
    distances to the inputs (up to a rotation of the average itself).

    Parameters
    ----------
    Xs : list of array, shapes (n, p_i)
    center_columns : bool
    max_iter : int
    tol : float

    Returns
    -------
    array, shape (n, max p_i)
    """
    if len(Xs) == 0:
        raise LayoutError("procrustes_average: no representations given.")
    xp = get_namespace(*Xs)
    n = int(Xs[0].shape[0])
    for i, X in enumerate(Xs):
        if len(X.shape) != 2 or int(X.shape[0]) != n:
            raise LayoutError(f"procrustes_average: representation {i} has shape {tuple(X.shape)}; all need {n} rows (stimuli).")
    p = max(int(X.shape[1]) for X in Xs)
    cs = []
    for X in Xs:
        if center_columns:
            X = X - xp.mean(X, axis=0, keepdims=True)
        cs.append(_pad_cols(xp, X, p))
    M = cs[0]
    for _ in range(max_iter):
        aligned = []
        for X in cs:
            U, _, Vh = xp.linalg.svd(xp.matmul(_t(xp, X), M), full_matrices=False)
            aligned.append(xp.matmul(X, xp.matmul(U, Vh)))
        new = sum(aligned[1:], aligned[0]) / len(aligned)
        change = float(xp.sqrt(xp.sum((new - M) ** 2)))
        scale = float(xp.sqrt(xp.sum(new * new)))
        M = new
        if change <= tol * max(scale, 1e-300):
            break
    return M
