"""The check of ``alphas``, the penalty grid of ``regressor="ridgecv"`` (the penalty chosen per target by
inner cross-validation over it), shared by every direction's parameter checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError, where


def check_alphas(alphas: Any, regressor: Any, caller: str = "") -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` (starting with ``caller``, the function called) for
    ``alphas`` given as a one-shot iterator (whatever the regressor: it would reach the fit and the attrs used
    up), and, with ``regressor="ridgecv"``, for a grid that is not one or more penalties, each finite and > 0,
    or that names a penalty more than once (refused, never fitted and keyed as the grid without the repeat)."""
    if _one_shot(alphas):  # checked here, it would reach the fit (and the attrs) used up
        raise ParameterError(f"{where(caller)}alphas is a one-shot iterator ({type(alphas).__name__}); pass a list, "
                             f"tuple or array of penalties, e.g. alphas=(0.1, 1.0, 10.0).")
    if isinstance(regressor, str) and regressor == "ridgecv":
        try:  # a number, text or a grid holding text: refused below (the CLI spells alphas=<value> as --alphas 0.5,-1)
            grid = np.asarray(list(alphas) if not isinstance(alphas, str) else [], dtype=float)
        except (TypeError, ValueError):
            grid = np.empty(0)
        if grid.ndim != 1 or grid.size == 0 or not np.all((grid > 0) & np.isfinite(grid)):
            raise ParameterError(
                f"{where(caller)}alphas={alphas!r} must be one or more penalties, each finite and > 0, for regressor='ridgecv'. "
                f"Pass e.g. alphas=(0.1, 1.0, 10.0)."
            )
        values, counts = np.unique(grid, return_counts=True)
        if (counts > 1).any():  # the grid is a set (one fit, one key per penalty): never another grid than asked
            twice = values[counts > 1]
            raise ParameterError(
                f"{where(caller)}alphas={alphas!r} names the penalt{'y' if twice.size == 1 else 'ies'} "
                f"{', '.join(f'{v:g}' for v in twice)} more than once; give each penalty once, e.g. alphas=(0.1, 1.0, 10.0)."
            )


def _one_shot(x: Any) -> bool:
    """Whether ``x`` is an iterator (a generator, ``iter(...)``, ``map(...)``): read once, it is empty after."""
    try:
        return iter(x) is x
    except TypeError:
        return False
