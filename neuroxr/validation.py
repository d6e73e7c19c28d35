"""Checks of common parameters, each a one-line :class:`~neuroxr.errors.ParameterError` naming the
argument, its allowed range and what to pass, after the public function called where given
(``"forward: reps must be an integer >= 1; got 0. ..."``, the form of every parameter error), and the
one check that an array-like holds real numbers (:func:`real_array`, a
:class:`~neuroxr.errors.LayoutError`), and the one refusal of non-finite values of neural responses
(:func:`refuse_inf`) and model features (:func:`refuse_nonfinite`): called on in-memory arrays when
they are validated, and on lazy (dask-backed) arrays where their values are computed
(:func:`check_computed`), so both refuse with the same message."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import LayoutError, ParameterError, examples, shown, where

__all__ = ["check_int", "check_alpha", "check_min_reliability", "check_bool", "check_mapping", "real_array", "unmasked",
           "tensor_values", "refuse_inf", "refuse_nonfinite", "nonfinite_features_error", "check_computed", "compute_refusing_inf",
           "lazy_nonfinite_error"]


def check_int(value: Any, name: str, minimum: int, hint: str = "", maximum: int | None = None, caller: str = "") -> int:
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
    caller : str, default ""
        The public function called, which starts the message (``"forward: reps must be ..."``).
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum
            or (maximum is not None and int(value) > maximum)):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ParameterError(f"{where(caller)}{name} must be an integer {bound}; got {shown(value)}. {hint}".rstrip())
    return int(value)


def check_alpha(alpha: Any, name: str = "alpha", caller: str = "") -> float:
    """A ridge penalty as a float, or a one-line :class:`ParameterError` (finite, >= 0) starting with ``caller``."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha < float("inf"):
        raise ParameterError(f"{where(caller)}{name} must be a finite non-negative number; got {shown(alpha)}. Pass e.g. {name}=0.1.")
    return float(alpha)


def check_min_reliability(value: Any, caller: str = "") -> float | None:
    """``min_reliability`` as a float in [0, 1], or ``None``; else a one-line :class:`ParameterError`
    starting with ``caller``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1):
        raise ParameterError(f"{where(caller)}min_reliability must be a number in [0, 1] or None; got {shown(value)}.")
    return None if value is None else float(value)


def check_bool(value: Any, name: str, hint: str = "", allow_callable: bool = False,
               caller: str = "") -> bool | Callable[..., Any]:
    """``value`` if it is a bool (``numpy.bool_`` too; a callable as well with ``allow_callable``),
    else a one-line :class:`ParameterError` starting with ``caller`` and naming ``name`` (a string
    such as ``"no"`` is never taken as true)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if allow_callable and callable(value):
        return value
    what = "True, False or a callable" if allow_callable else "True or False"
    raise ParameterError(f"{where(caller)}{name} must be {what}; got {shown(value)}. {hint}".rstrip())


def check_mapping(value: Any, name: str, caller: str = "") -> dict[str, Any]:
    """``value`` (a mapping, or None for none) as a dict, else a one-line :class:`ParameterError`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterError(f"{where(caller)}{name} must be a mapping (a dict of name: value) or None; "
                             f"got {type(value).__name__} {value!r}. Pass e.g. {name}={{'session': 1}}.")
    return dict(value)


def unmasked(x: Any) -> Any:
    """``x`` with the masked entries of a NumPy masked array as NaN (the one meaning of a missing
    value; integer and bool values as float64 then), a masked array without masked entries as its
    data; other objects as given. ``np.asarray`` drops the mask and reads the values under it."""
    if not np.ma.isMaskedArray(x):
        return x
    data, mask = np.ma.getdata(x), np.ma.getmaskarray(x)
    if not mask.any():
        return data
    out = np.array(data, dtype=np.float64 if data.dtype.kind in "biu" else data.dtype)  # a copy: x is left as it is
    if out.dtype.kind == "f":
        out[mask] = np.nan
    return out  # (text, complex or objects: refused by the caller's dtype check)


def tensor_values(data: Any) -> Any:
    """A torch tensor's values as a NumPy array (NumPy's own conversion refuses a tensor that
    requires grad or lies on a GPU, and bfloat16, which NumPy has no dtype for: read as float32,
    which holds every bfloat16 value exactly, as extraction stores it); other objects as given."""
    if not (type(data).__module__ or "").startswith("torch") or not hasattr(data, "detach"):
        return data
    import torch

    t = data.detach()
    return (t.to(torch.float32) if t.dtype == torch.bfloat16 else t).cpu().numpy()


def real_array(x: Any, name: str, expected: str, dtype: Any = np.float64) -> np.ndarray:
    """``x`` as a NumPy array of ``dtype`` (``None``: its own real dtype), else a one-line
    :class:`~neuroxr.errors.LayoutError` ``"<name>: expected <expected> of real numbers; got ..."``
    for text (an object array holding numeric text too), complex numbers, other objects or ragged
    rows (nothing is cast silently). An object array of numbers is read as float64, a ``None`` in it
    as NaN. The masked entries of a masked array are NaN (:func:`unmasked`)."""
    try:
        arr = np.asarray(unmasked(tensor_values(x)))
    except (ValueError, TypeError):  # rows of different lengths
        raise LayoutError(f"{name}: expected {expected} of real numbers; got a ragged {type(x).__name__} "
                          "(rows of different lengths). Give every row the same length.") from None
    if arr.dtype.kind == "O":
        try:  # not text: NumPy's cast would parse "1.5" as a number
            if not any(isinstance(v, (str, bytes)) for v in arr.flat):
                arr = np.asarray(arr, dtype=np.float64)
        except (ValueError, TypeError):
            pass
    if arr.dtype.kind not in "biuf":
        raise LayoutError(f"{name}: expected {expected} of real numbers; got {type(x).__name__} of dtype {arr.dtype}.")
    return arr if dtype is None else arr.astype(dtype, copy=False)


def _inf_error(n_values: int, name: str) -> LayoutError:
    return LayoutError(f"{name}: holds {int(n_values)} infinite values; missing trials must be NaN, not inf. "
                       "Replace them with NaN.")


def refuse_inf(v: Any, name: str) -> None:
    """A one-line :class:`~neuroxr.errors.LayoutError` when neural responses ``v`` (any shape) hold
    inf; NaN is a missing trial and passes."""
    v = np.asarray(v)
    if v.dtype.kind != "f":
        return
    # a finite sum has no inf (nor NaN) to look for: one reduction instead of a mask; a sum past the
    # dtype's range (float16 counts above 65504 in all) only sends it to the mask, without NumPy's warning
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(v)
    if not np.isfinite(total) and np.isinf(v).any():
        raise _inf_error(int(np.isinf(v).sum()), name)


def compute_refusing_inf(result: Any, neural: Any, name: str) -> Any:
    """The lazy ``result`` (e.g. the trial means of the lazy neural responses ``neural``, an
    ``xarray.DataArray``) computed, with :func:`refuse_inf`'s refusal of ``neural``'s inf: their
    count is reduced in the same ``dask.compute``, which reads each chunk of ``neural`` once."""
    import dask

    out, n_inf = dask.compute(result, np.isinf(neural.data).sum())
    if int(n_inf):
        raise _inf_error(int(n_inf), name)
    return out


def nonfinite_features_error(n_values: int, units: Any, name: str) -> LayoutError:
    """The refusal of features holding ``n_values`` NaN or inf values in the units ``units`` (ids)."""
    return LayoutError(f"{name}: holds {int(n_values)} non-finite values (NaN or inf) in {len(units)} units, "
                       f"e.g. {examples(units)}. Features must be finite: drop or impute those units.")


def lazy_nonfinite_error(darr: Any, unit_ids: Any, name: str) -> LayoutError:
    """:func:`nonfinite_features_error` of lazy features ``darr`` (a dask array, shape (n_stimuli,
    n_units)) found to hold NaN or inf, counted over all of them (one more read: the error path only)."""
    import dask.array as dska

    per_unit = np.asarray((~dska.isfinite(darr)).sum(axis=0).compute())
    ids = np.arange(per_unit.size) if unit_ids is None else np.asarray(unit_ids)
    return nonfinite_features_error(int(per_unit.sum()), ids[per_unit > 0], name)


def _all_finite(v: np.ndarray, block_bytes: int = 4 * 2**20) -> bool:
    """Whether every value is finite, a block of rows at a time (no array-sized mask)."""
    rows = max(1, block_bytes // max(1, v.itemsize * int(np.prod(v.shape[1:], dtype=np.int64))))
    return all(bool(np.isfinite(v[lo : lo + rows]).all()) for lo in range(0, v.shape[0], rows))


def refuse_nonfinite(v: Any, unit_ids: Any, name: str, unit_axis: int = 1) -> None:
    """:func:`nonfinite_features_error` raised when features ``v`` (units on ``unit_axis``, ids
    ``unit_ids``) hold NaN or inf; one pass over ``v`` when they are finite."""
    v = np.asarray(v)
    if v.dtype.kind != "f" or _all_finite(v):
        return
    bad = ~np.isfinite(v)
    per_unit = bad.any(axis=tuple(i for i in range(v.ndim) if i != unit_axis % v.ndim))
    raise nonfinite_features_error(int(bad.sum()), np.asarray(unit_ids)[per_unit], name)


def check_computed(da: Any, v: Any, name: str) -> Any:
    """``v``, the computed values of ``da`` (an ``xarray.DataArray`` in the neural or the feature
    layout, e.g. read lazily from a store), refused as the in-memory array is when validated:
    features (a ``unit`` dim) holding NaN or inf, neural responses holding inf
    (:func:`refuse_inf`, :func:`refuse_nonfinite`). One pass over ``v``, no read of ``da``."""
    if "unit" in da.dims:
        refuse_nonfinite(v, da["unit_id"].values, name, unit_axis=da.dims.index("unit"))
    else:
        refuse_inf(v, name)
    return v
