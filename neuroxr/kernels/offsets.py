"""Columns that float32 rounds past use: a mean far from zero relative to the spread.

float32 keeps each value to a relative ``eps_32 / 2`` (``eps_32 = 2^-23``, about 1.2e-7, some 7
significant digits), so a column with mean ``m`` and standard deviation ``s`` over the stimuli is
rounded by up to ``eps_32 |m| / 2`` per value: ``eps_32 |m| / s`` relative to its centred signal,
whatever is done afterwards (centring, float64 kernels). Where that exceeds :data:`OFFSET_LOSS`
(``|m| / s`` above :data:`OFFSET_RATIO`, about 8.4e3), fewer than about 3 significant digits of
the column's variation across the stimuli are left, and results can differ from float64 data's
by more than float32's ``1e-3`` (docs/kernels.md, "Ridge precision").

The check reads sums the callers compute anyway (each column's centred and uncentred sums of
squares, :func:`~neuroxr.kernels.stats.column_squares`, or a Gram's totals): it never reads the
values again. It warns; it never changes a value (centring before the cast would change the
stored features and drop their means).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import resolve_dtype
from ..errors import ParameterError, warn
from .stats import ROUNDING_EPS, column_squares

__all__ = ["OFFSET_LOSS", "OFFSET_RATIO", "EPS32", "offset_columns", "float32_cause", "offset_count", "warn_offset_columns", "warn_offsets",
           "design_eigenvalues", "rounding_axes", "check_least_squares"]

#: float32's machine epsilon, ``2^-23``.
EPS32 = float(np.finfo(np.float32).eps)

#: Largest relative rounding of a column's centred values by float32 (``eps_32 |mean| / std``)
#: that passes without a warning: about 3 significant digits of its variation kept.
OFFSET_LOSS = 1e-3

#: The ``|mean| / std`` at which :data:`OFFSET_LOSS` is reached (about 8.4e3).
OFFSET_RATIO = OFFSET_LOSS / EPS32


def offset_columns(centred: Any, uncentred: Any) -> np.ndarray:
    """Columns whose float32 rounding exceeds :data:`OFFSET_LOSS` of their centred signal.

    Parameters
    ----------
    centred, uncentred : float or array
        Each column's sum of squared deviations from its mean and of its values over the same
        rows (``uncentred - centred = n mean^2``), in float64 or float32; or a set's totals
        (the criterion on root-mean-square means and spreads).

    Returns
    -------
    bool array, the shape of ``centred``
        ``eps_32 |mean| / std > OFFSET_LOSS``. Columns constant up to float64 rounding (and
        all-NaN ones) are not flagged: they have no variation to lose, and are reported as constant.
    """
    c = np.asarray(centred, dtype=np.float64)
    u = np.asarray(uncentred, dtype=np.float64)
    varies = c > ROUNDING_EPS * float(np.finfo(np.float64).eps) * u
    with np.errstate(invalid="ignore", over="ignore"):
        return varies & (EPS32 * EPS32 * (u - c) > OFFSET_LOSS * OFFSET_LOSS * c)


def float32_cause(values: Any, dtype: Any = "float64") -> str | None:
    """How ``values`` (anything with a ``dtype``) meet float32 before a kernel centres them, for
    :func:`warn_offsets`: ``"float32"`` (they are float32), ``"dtype"`` (the call's computing
    ``dtype='float32'`` casts them), or None (neither: nothing to check)."""
    if np.dtype(values.dtype) == np.float32:
        return "float32"
    return "dtype" if resolve_dtype(dtype) == np.float32 else None


def _flagged(X: Any, block_bytes: int) -> np.ndarray:
    """:func:`offset_columns` of every column of ``X`` (n, m; NaN: missing) from their
    :func:`~neuroxr.kernels.stats.column_squares` in float64, a copy of a block of columns (about
    ``block_bytes``) at a time."""
    step = max(1, int(block_bytes) // (8 * max(1, int(X.shape[0]))))
    flags = [offset_columns(*column_squares(np.asarray(X[:, lo : lo + step], dtype=np.float64)))
             for lo in range(0, int(X.shape[1]), step)]
    return np.concatenate(flags or [np.zeros(0, dtype=bool)])


def offset_count(y: np.ndarray, block_bytes: int = 2**20) -> int:
    """How many columns of ``y`` (n, m) :func:`offset_columns` flags (a block of columns at a time)."""
    return int(_flagged(y, block_bytes).sum())


def warn_offset_columns(X: np.ndarray, name: str, what: str, cause: str | None, block_bytes: int = 2**23) -> None:
    """:func:`warn_offsets` of the columns ``what`` of ``X`` (n, m; NaN: missing) where a ``cause``
    (:func:`float32_cause`) rounds them to float32: one pass over ``X``, a block of columns at a
    time, only then; for inputs that no other check reads column by column."""
    if cause is not None:
        warn_offsets(name, _flagged(X, block_bytes), what, cause)


def warn_offsets(name: str, flagged: Any, what: str, cause: str, n_columns: int | None = None) -> None:
    """One :class:`~neuroxr.errors.NeuroxrWarning` when any column of ``name`` is flagged
    (:func:`offset_columns`), naming how many of how many ``what`` (e.g. ``"units"``), the bound and
    what to do; nothing otherwise.

    Parameters
    ----------
    name : str
        The array, as the messages name it (``"features"``, ``"layer 'fc'"``).
    flagged : bool array, bool or int
        Per column, or one value for a set's totals (a Gram's: all columns together), or with
        ``n_columns`` the number of columns flagged.
    what : str
        The columns, plural (``"units"``, ``"neuroids"``).
    cause : {"float32", "dtype", "store"}
        How the values meet float32: they are float32 (rounded before the analysis), the call's
        ``dtype='float32'`` rounds them before centring, or they are being stored as float32.
    n_columns : int, optional
        The number of columns, where ``flagged`` counts them.
    """
    flagged = np.asarray(flagged)
    k = int(flagged) if n_columns is not None else int(flagged.sum())
    if not k:
        return
    ratio, crit = f"{OFFSET_RATIO:.2g}", f"across the stimuli (eps_32 |mean| / std > {OFFSET_LOSS:g})"
    if n_columns is None and not flagged.ndim:
        which = f"the root-mean-square mean of its {what} is above {ratio} times their root-mean-square std {crit}"
    else:
        which = f"{k} of {flagged.size if n_columns is None else int(n_columns)} {what} have |mean| / std above {ratio} {crit}"
    lost = "fewer than about 3 significant digits of their variation"
    says = {
        "float32": (f"as float32 values they kept {lost}, lost before the analysis",
                    "store them as float64, or centre each column (subtract its mean) before converting to float32"),
        "dtype": (f"dtype='float32' rounds them before centring, keeping {lost}",
                  "use dtype='float64' (the default), or centre each column (subtract its mean) first"),
        "store": (f"stored as float32 they keep {lost}", "pass dtype='float64' to store them in full"),
    }[cause]
    warn(f"{name}: {which}; {says[0]}. To keep them, {says[1]}.")


def design_eigenvalues(X: np.ndarray) -> np.ndarray:
    """The eigenvalues of the column-centred design ``X`` (n, p; float64) times its transpose: of
    ``Xc^T Xc`` (p < n) or ``Xc Xc^T``, the squared singular values of ``Xc`` (with zeros)."""
    Xc = X - X.mean(axis=0)
    return np.linalg.eigvalsh(Xc.T @ Xc if X.shape[1] < X.shape[0] else Xc @ Xc.T)


def rounding_axes(lam: Any, uncentred: float, n_used: int) -> int:
    """How many axes a least-squares fit relies on that float32's rounding of the values can have made.

    Values stored in float32 are each rounded by up to ``eps_32 / 2`` of their magnitude: a perturbation
    ``E`` with ``||E||^2 <= (eps_32 / 2)^2 uncentred`` (``uncentred``: the values' sum of squares). An
    axis of the centred design (eigenvalue ``lam`` of its Gram) at most that large may be rounding alone,
    yet least squares (no penalty) uses every axis above its pseudo-inverse's cutoff ``m eps_64 max(lam)``
    (``m`` eigenvalues): those among the ``n_used`` largest (a training fold's rank) are counted. Exactly
    low-rank float32 features (no offset, whose rounding lies below that cutoff) count none."""
    s = np.sort(np.asarray(lam, dtype=np.float64))[::-1]
    if not s.size or not s[0] > 0:
        return 0
    low = s.size * float(np.finfo(np.float64).eps) * float(s[0])
    high = EPS32 * EPS32 / 4 * float(uncentred)
    used = s[: max(0, int(n_used))]
    return int(np.sum((used > low) & (used <= high)))


def check_least_squares(lam: Any, uncentred: float, n_used: int, name: str) -> None:
    """A one-line :class:`~neuroxr.errors.ParameterError` where least squares (``regressor='linear'``) on
    float32 features ``name`` (as the messages name them, starting with the function called) would fit axes their rounding can have made (:func:`rounding_axes`): its
    numbers would follow that rounding (and the order of the sums: a streamed Gram and the features in
    memory gave EVs tens of points apart)."""
    m = rounding_axes(lam, uncentred, n_used)
    if m:
        raise ParameterError(
            f"{name}: regressor='linear' would fit {m} axes of the features no larger than float32's rounding of its values "
            f"(eigenvalues of the centred design at most (eps_32 / 2)^2 times its sum of squares): least squares fits that "
            f"rounding, and its numbers depend on the order of the sums. Pass regressor='ridge', or features computed "
            f"and stored in float64.")
