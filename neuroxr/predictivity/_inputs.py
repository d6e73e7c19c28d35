"""The directions' labeled inputs: how the messages name them, their validation, the noise
ceiling their repeats allow, their pairing by ``stimulus_id`` in the canonical order, and their
values (a lazy array checked once computed). :func:`inputs` is the one preamble of every
direction and its parts; re-exported by :mod:`neuroxr.predictivity._prepare`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from ..alignment import align, canonical_order, stimulus_ids, to_canonical
from ..errors import LayoutError, where
from ..layouts import validate_features, validate_neural
from ..validation import check_computed

#: the validation of an input, by its argument's kind (``features_a`` -> ``features``)
_VALIDATE = {"features": validate_features, "neural": validate_neural}


class Inputs(NamedTuple):
    """Two validated inputs, ``b`` paired with ``a`` (in the canonical stimulus order), as
    :func:`inputs` returns them."""

    a: xr.DataArray
    b: xr.DataArray
    name_a: str  # how the messages name them (:func:`named`, with the caller)
    name_b: str
    ceiling: bool  # whether to estimate the split-half ceiling (:func:`resolve_ceiling`)
    note: str | None  # the attrs' note where it is skipped
    order: np.ndarray  # ``a``'s canonical stimulus order (:func:`pair`)


#: The condition of a refused option where the automatic ceiling is off (:func:`inputs`, and inference's ``prepare``).
TRIAL_AVERAGED = "without a noise ceiling (trial-averaged data: the default noise ceiling draws no split halves)"


def inputs(caller: str, a: Any, arg_a: str, b: Any, arg_b: str, noise_ceiling: bool | None = None,
           halves: Mapping[str, Any] | None = None) -> Inputs:
    """The preamble of a direction ``caller`` called with ``a`` (argument ``arg_a``: the predictors)
    and ``b`` (``arg_b``: the targets): each input named (:func:`named`) and validated as its
    argument's kind (``neural*``: responses, ``features*``: model features), in that order; the
    ceiling resolved over the neural inputs (:func:`resolve_ceiling`; none without one); then the
    two paired (:func:`pair`). Every refusal starts with ``caller`` and names the input.

    ``halves``: the direction's ``split``, ``seed``, ``max_n`` and ``min_reliability``; where the
    automatic ceiling (``noise_ceiling=None``) is off (trial-averaged data), a ``split``, ``seed`` or
    ``min_reliability`` given away from its default draws or judges nothing and is refused as with
    ``noise_ceiling=False`` (:func:`~neuroxr.predictivity._prepare.check_ceiling_options`): it wrote
    an entry under a new key with the same numbers, recording options that were never used."""
    name_a, name_b = named(caller, a, arg_a), named(caller, b, arg_b)
    a = _VALIDATE[arg_a.partition("_")[0]](a, name=name_a)
    b = _VALIDATE[arg_b.partition("_")[0]](b, name=name_b)
    neural = [(arg, da) for arg, da in ((arg_a, a), (arg_b, b)) if arg.startswith("neural")]
    ceiling, note = resolve_ceiling(noise_ceiling, neural, caller) if neural else (False, None)
    if noise_ceiling is None and not ceiling and halves is not None:
        from ._prepare import check_ceiling_options

        check_ceiling_options(False, **halves, keep=False, caller=caller, condition=TRIAL_AVERAGED)
    a, b, order = pair(a, b, (arg_a, arg_b), caller)
    return Inputs(a, b, name_a, name_b, ceiling, note, order)


def resolve_ceiling(noise_ceiling: bool | None, arrays: Iterable[tuple[str, xr.DataArray]],
                    caller: str = "") -> tuple[bool, str | None]:
    """Whether to estimate the split-half ceiling, and a note for the attrs when it is skipped.

    ``None`` (the default) means: with a ceiling when every neural input has at least 2 repeats.
    Trial-averaged data (``repeat`` of length 1) score without a ceiling; asking for one
    explicitly (``True``) is refused, as ``crsa`` refuses it (an option that cannot be honoured is
    never ignored), in a message starting with ``caller`` and naming the inputs by their argument
    and label (:func:`named`); the note names them by their argument.
    """
    if noise_ceiling is not None and not noise_ceiling:
        return False, None
    single = [(name, da) for name, da in arrays if da.sizes["repeat"] < 2]
    if not single:
        return True, None
    note = (
        f"{', '.join(name for name, _ in single)}: one repeat per stimulus (trial-averaged); no split-half noise "
        f"ceiling can be estimated, so ev is the raw r^2 * 100."
    )
    if noise_ceiling:
        shown = ", ".join(named("", da, name) for name, da in single)
        raise LayoutError(
            f"{where(caller)}noise_ceiling=True: {shown} has one repeat per stimulus (trial-averaged, "
            f"dim 'repeat'); a split-half noise ceiling needs at least 2 repeats. Pass data with repeats, or "
            f"noise_ceiling=None (automatic) or False."
        )
    return False, note


def named(caller: str, da: Any, arg: str) -> str:
    """How a direction's messages name its input ``da``, the argument ``arg`` of the public function
    ``caller`` the user called (a direction, its inference, ...): ``"forward: neural (V4)"``, the
    label in parentheses where it has one that differs (:func:`~neuroxr.geometry._common._named`);
    without ``caller``, ``"neural (V4)"``."""
    from ..geometry._common import _named

    return where(caller) + _named(da, arg)


def pair(a: xr.DataArray, b: xr.DataArray, names: tuple[str, str],
         caller: str | None = None) -> tuple[xr.DataArray, xr.DataArray, np.ndarray]:
    """Put ``a`` in the canonical stimulus order (sorted ``stimulus_id``) and pair ``b`` with it.

    Returns ``(a_sorted, b_aligned, order)`` with ``a_sorted = a.isel(stimulus=order)``. Every fold
    and split half is drawn over positions of this order, so permuting the stimuli of the inputs
    gives identical numbers. The errors start with ``caller`` and name the inputs by their
    arguments ``names`` and labels (:func:`named`; :func:`~neuroxr.alignment.align`).
    """
    names = (named("", a, names[0]), named("", b, names[1]))
    order = canonical_order(stimulus_ids(a))
    if not np.array_equal(order, np.arange(order.size)):
        a = a.isel(stimulus=order)
    a, b = align(a, b, names=names, caller=caller)
    return a, b, order


def sort_stimuli(a: xr.DataArray) -> xr.DataArray:
    return to_canonical(a)


def is_lazy(da: xr.DataArray) -> bool:
    return hasattr(da.data, "dask")


def load(da: xr.DataArray, name: str, dtype: Any = None) -> np.ndarray:
    """The values of ``da`` as float64; a lazy array's computed values are refused as the in-memory
    array is when validated (:func:`~neuroxr.validation.check_computed`: features NaN/inf, neural
    inf), named ``name`` (how the caller's messages name the input, :func:`named`), and any array
    whose squares leave the normal range of the fit's ``dtype`` (float64, or float32 with
    ``dtype="float32"``) is refused too (:func:`check_scale`), on the values read here."""
    v = np.asarray(da.values, dtype=np.float64)
    if is_lazy(da):
        check_computed(da, v, name)
    check_scale(v, da, name, dtype)
    return v


#: What a direction's inputs keep when scaled (:func:`check_scale`'s refusal).
SCALE_NOTE = ("(a target's EV does not change; a predictor's scale sets how much ridge's alpha regularises, so divide "
              "alpha by the factor squared to keep its fit)")


def check_scale(v: Any, da: xr.DataArray, name: str, dtype: Any = None, count: int | None = None) -> None:
    """One-line :class:`~neuroxr.errors.LayoutError` (:func:`~neuroxr.kernels.gram_rows.check_range`,
    the rule of RDMs, CKA and the shape metrics) where the values ``v`` of the input ``da`` (its
    layout's dims; ``v`` may be a chunk of its units, ``count`` the values of the whole) hold a column
    (a unit, a neuroid; per time bin) whose squares leave the normal range of ``dtype`` (float64
    unless ``"float32"``: the dtype its fit squares them in): values beyond about ``1e+-154`` gave no
    finite EV with a false warning of constant neuroids, or wrong numbers. Each column judged on its
    own squares, as the constancy rule judges it; NaN (missing trials), zeros and all-zero columns pass."""
    from ..backend import resolve_dtype
    from ..kernels.gram_rows import check_range

    neural = "unit" not in da.dims
    axes = tuple(i for i, d in enumerate(da.dims) if d not in ("stimulus", "repeat"))
    arg = name.rpartition(": ")[2].partition(" (")[0] or ("neural" if neural else "features")
    check_range(v, name, what="responses" if neural else "features", arg=arg, note=SCALE_NOTE,
                dtype=resolve_dtype(dtype), axis=axes, count=count)
