"""Generalized Procrustes average of several representations of the same stimuli (the centroid
of the Procrustes shape metric, :mod:`neuroxr.kernels.shape`)."""

from __future__ import annotations

import math
from typing import Any

from ..backend import get_namespace
from ..errors import LayoutError, warn
from .shape import _pad_cols, _t

__all__ = ["procrustes_average"]


def procrustes_average(
    Xs: list[Any], center_columns: bool = True, max_iter: int = 100, tol: float = 1e-10, caller: str = "procrustes_average"
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
    caller : str, default "procrustes_average"
        The public function called, which starts the warning below.

    Returns
    -------
    array, shape (n, max p_i)
        The last iterate; where ``max_iter`` iterations end with a change still above ``tol``, with a
        :class:`~neuroxr.errors.NeuroxrWarning` saying so (it was returned without a word).
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
    # the average is equivariant to one common scale: all inputs are scaled by one power of two to
    # magnitudes near 1 (exact) and the average scaled back, so products of inputs near 1e-160 do
    # not underflow (an average 5e-5 off: the change read as 0) nor near 1e160 overflow (SVD crash)
    top = max((float(xp.max(xp.abs(X))) if math.prod(X.shape) else 0.0) for X in cs)
    e = math.frexp(top)[1] if 0.0 < top < math.inf else 0
    cs = [X * math.ldexp(1.0, -e) for X in cs] if e else cs
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
    else:
        fix = "pass a larger max_iter" if caller == "procrustes_average" else "networks without a shared shape converge slowly"
        warn(f"{caller}: the Procrustes average did not converge in max_iter={max_iter} iterations (its last relative "
             f"change {change / max(scale, 1e-300):.3g} is above tol={tol:g}); it is the last iterate: {fix}.")
    return M * math.ldexp(1.0, e) if e else M
