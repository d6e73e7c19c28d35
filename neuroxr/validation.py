"""Checks of common parameters, each a one-line :class:`~neuroxr.errors.ParameterError` naming the
argument, its allowed range and what to pass (scikit-learn's ``validate_params`` style)."""

from __future__ import annotations

import numbers
from typing import Any

from .errors import ParameterError

__all__ = ["check_int", "check_alpha", "check_min_reliability"]


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
