"""The options of predictivity inference: which ones a procedure takes for a direction, and their
checks before any data is read (:mod:`neuroxr.predictivity.inference`, the store's inference entries
and sweeps share them)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ParameterError, no_effect, where
from ..kernels import resample as rs
from ..kernels.rdm import check_option
from ._parts import prepare

__all__ = ["BOOT_OVER", "BOOT_METHODS", "applicable_options", "check_options", "check_procedure_options"]

BOOT_OVER = ("stimuli", "targets", "both")
BOOT_METHODS = ("percentile", "bca")

#: The options that draw and judge a ceiling's split halves, with the directions' defaults.
_HALF_OPTIONS = {k: inspect.signature(prepare).parameters[k].default for k in ("reps", "split", "noise_ceiling", "min_reliability")}


def _inert(direction: str, procedure: str, options: Mapping[str, Any]) -> tuple[list[str], str, str]:
    """The names among ``options`` that cannot change ``procedure``'s numbers on ``direction``, the
    condition and the reason (for :func:`neuroxr.errors.no_effect`).

    Model-to-model has no ceiling (nor, without ``max_n``, anything that ``reps`` repeats); a
    permutation test's statistic ``r`` has none either, so there ``reps``, ``split`` and
    ``noise_ceiling`` only serve ``min_reliability`` (the halves that judge the targets).
    """
    if direction == "model_to_model":
        return ([k for k in _HALF_OPTIONS if k in options], "for model_to_model",
                "it has no noise ceiling, and without max_n every rep is the same fit")
    if procedure == "permutation" and options.get("min_reliability") is None:
        return ([k for k in ("reps", "split", "noise_ceiling") if k in options], "in a permutation test without min_reliability",
                "the statistic r has no ceiling: reps, split and noise_ceiling only draw the split halves that "
                "judge min_reliability")
    return [], "", ""


def applicable_options(direction: str, procedure: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (a direction's score arguments, e.g. a sweep's) without those that cannot change
    ``procedure``'s numbers (:func:`check_options` refuses them when given away from their default).

    Parameters
    ----------
    direction : {"forward", "reverse", "inter_animal", "model_to_model"}
    procedure : {"bootstrap", "permutation"}
    options : mapping
        Score arguments.

    Returns
    -------
    dict
        The options the inference entry or function takes for them.
    """
    drop = _inert(direction, procedure, options)[0]
    return {k: v for k, v in options.items() if k not in drop}


def _default(direction: str, name: str) -> Any:
    return 1 if direction == "model_to_model" and name == "reps" else _HALF_OPTIONS[name]


def check_options(direction: str, procedure: str, options: Mapping[str, Any], caller: str = "") -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` (:func:`neuroxr.errors.no_effect`) for an
    option given away from its default that cannot change ``procedure``'s numbers on ``direction``:
    model-to-model's ``reps`` (default 1), ``split``, ``noise_ceiling``, ``min_reliability``; a
    permutation test's ``reps``, ``split`` and ``noise_ceiling`` without ``min_reliability``.
    ``seed`` is never inert (it draws the resamples and permutations)."""
    names, condition, why = _inert(direction, procedure, options)
    given = [f"{k}={options[k]!r}" for k in names if not _same(options[k], _default(direction, k))]
    if given:
        instead = "give min_reliability too (the halves then choose the targets the medians count)" \
            if direction != "model_to_model" else ""
        raise no_effect(given, condition, why, instead, caller)


def check_procedure_options(procedure: str, *, n_boot: Any = 1000, level: Any = 0.95, method: Any = "percentile",
                            over: Any = "stimuli", nan_policy: Any = "propagate", n_perm: Any = 1000,
                            caller: str = "") -> None:
    """The options of :func:`bootstrap` (``n_boot``, ``level``, ``method``, ``over``, ``nan_policy``)
    or :func:`permutation_test` (``n_perm``) checked before any data is read (one-line
    :class:`~neuroxr.errors.ParameterError` starting with ``caller``; the store's inference entries
    check them so too)."""
    if procedure == "permutation":
        rs._positive(n_perm, "n_perm", "Pass the number of permutations, e.g. n_perm=1000.", caller)
        return
    check_option(method, BOOT_METHODS, "method", caller)
    check_option(over, BOOT_OVER, "over", caller)
    rs.check_nan_policy(nan_policy, caller)
    if method == "bca" and over == "both":
        raise ParameterError(f"{where(caller)}method='bca' needs one resampled axis; with over='both' "
                             "pass method='percentile'.")
    rs._check_level(level, caller)
    rs._positive(n_boot, "n_boot", "Pass the number of bootstrap resamples, e.g. n_boot=1000.", caller)


def _same(value: Any, default: Any) -> bool:
    """``value`` is ``default`` as spelled (``reps=20``, ``split="valid"``, ``None``)."""
    if default is None:
        return value is None
    if isinstance(default, str):
        return isinstance(value, str) and value == default
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and int(value) == default
