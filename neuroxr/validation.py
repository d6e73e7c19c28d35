"""Checks of common parameters, each a one-line :class:`~neuroxr.errors.ParameterError` naming the
argument, its allowed range and what to pass (scikit-learn's ``validate_params`` style), and the
one check that an array-like holds real numbers (:func:`real_array`, a
:class:`~neuroxr.errors.LayoutError`)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import LayoutError, ParameterError

__all__ = ["check_int", "check_alpha", "check_min_reliability", "check_bool", "check_mapping", "real_array"]


def check_int(value: Any, name: str, minimum: int, hint: str = "", maximum: int | None = None) -> int:
    """``value`` as an int, or a one-line :class:`ParameterError` naming ``name``, its range and ``hint``.

    Parameters
    ----------
    value : Any
        The argument (``bool`` is refused).
    name : str
        The argument's name in the message.
    minimum, maximum : int
        The inclusive range (``maximum=None``: unbounded).
    hint : str, default ""
        What to pass instead, appended to the message.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum
            or (maximum is not None and int(value) > maximum)):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ParameterError(f"{name} must be an integer {bound}; got {value!r}. {hint}".rstrip())
    return int(value)


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """A ridge penalty as a float, or a one-line :class:`ParameterError` (finite, >= 0)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha < float("inf"):
        raise ParameterError(f"{name} must be a finite non-negative number; got {alpha!r}. Pass e.g. {name}=0.1.")
    return float(alpha)


def check_min_reliability(value: Any) -> float | None:
    """``min_reliability`` as a float in [0, 1], or ``None``; else a one-line :class:`ParameterError`."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1):
        raise ParameterError(f"min_reliability must be a number in [0, 1] or None; got {value!r}.")
    return None if value is None else float(value)


def check_bool(value: Any, name: str, hint: str = "", allow_callable: bool = False) -> bool | Callable[..., Any]:
    """``value`` if it is a bool (``numpy.bool_`` too; a callable as well with ``allow_callable``),
    else a one-line :class:`ParameterError` naming ``name`` (a string such as ``"no"`` is never
    taken as true)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if allow_callable and callable(value):
        return value
    what = "True, False or a callable" if allow_callable else "True or False"
    raise ParameterError(f"{name} must be {what}; got {value!r}. {hint}".rstrip())


def check_mapping(value: Any, name: str, caller: str = "") -> dict[str, Any]:
    """``value`` (a mapping, or None for none) as a dict, else a one-line :class:`ParameterError`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterError(f"{caller + ': ' if caller else ''}{name} must be a mapping (a dict of name: value) or None; "
                             f"got {type(value).__name__} {value!r}. Pass e.g. {name}={{'session': 1}}.")
    return dict(value)


def real_array(x: Any, name: str, expected: str, dtype: Any = np.float64) -> np.ndarray:
    """``x`` as a NumPy array of ``dtype`` (``None``: its own real dtype), else a one-line
    :class:`~neuroxr.errors.LayoutError` ``"<name>: expected <expected> of real numbers; got ..."``
    for text, complex numbers, other objects or ragged rows (nothing is cast silently)."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):  # rows of different lengths
        raise LayoutError(f"{name}: expected {expected} of real numbers; got a ragged {type(x).__name__} "
                          "(rows of different lengths). Give every row the same length.") from None
    if arr.dtype.kind == "O":
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (ValueError, TypeError):
            pass
    if arr.dtype.kind not in "biuf":
        raise LayoutError(f"{name}: expected {expected} of real numbers; got {type(x).__name__} of dtype {arr.dtype}.")
    return arr if dtype is None else arr.astype(dtype, copy=False)
