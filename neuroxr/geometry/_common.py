"""Labeled helpers shared by the geometry modules: ids, labels, canonical stimulus order, splits.

Every seeded draw in :mod:`neuroxr.geometry` (train/test splits, cross-validation folds) is made
over the stimuli in their **canonical order** (``stimulus_id`` sorted as strings), so the numbers
depend on the stimulus ids and the seed, never on the order in which the stimuli are stored.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import canonical_order, columns_as_rows, stimulus_ids, to_canonical
from ..backend import to_numpy
from ..errors import LayoutError, ParameterError, warn
from ..kernels import rdm as _r
from ..layouts import validate_neural
from ..validation import check_int, compute_refusing_inf

__all__ = ["RDM_DIMS", "canonical_order", "split_train_test"]

RDM_DIMS = ("stimulus", "stimulus_")


def split_train_test(ids: Any, test_size: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split of stimuli that depends only on their ids and ``seed``.

    ``numpy.random.default_rng(seed).permutation(n)`` is drawn over the canonical positions (see
    :func:`canonical_order`); the first ``round(n * test_size)`` form the test set.

    Parameters
    ----------
    ids : array-like of str, shape (n_stimuli,), or int
        Stimulus ids. An int ``n`` draws over positions ``0 .. n-1`` (the caller's order).
    test_size : float in (0, 1)
    seed : int

    Returns
    -------
    (train, test) : int arrays
        Indices into ``ids`` in canonical order (so ``X.isel(stimulus=train)`` is the same array
        whatever the input order); each side holds at least 3 stimuli.
    """
    check_split(test_size, seed)
    order = np.arange(int(ids)) if np.ndim(ids) == 0 else canonical_order(ids)
    n = order.size
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_size))
    if n_test < 3 or n - n_test < 3:
        raise LayoutError(
            f"too few stimuli ({n}) for a train/test split with test_size={test_size}: each side needs at least 3; "
            "use more stimuli or a test_size nearer 0.5."
        )
    return order[np.sort(perm[n_test:])], order[np.sort(perm[:n_test])]


def check_split(test_size: Any, seed: Any) -> dict[str, Any]:
    """The parameters of :func:`split_train_test` checked before any data is read (a one-line
    :class:`~neuroxr.errors.ParameterError`): ``test_size`` a number in (0, 1), ``seed`` an int >= 0.
    Returns them as ``{"test_size": float, "seed": int}``."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ParameterError(f"The 'test_size' parameter must be a float in (0, 1). Got {test_size!r} instead.")
    seed = check_int(seed, "seed", 0, "The split is numpy.random.default_rng(seed).permutation; pass e.g. seed=0.")
    return {"test_size": float(test_size), "seed": seed}


def _train_test(n_or_ids: Any, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Alias of :func:`split_train_test` (positional for an int, canonical for ids)."""
    return split_train_test(n_or_ids, test_size, seed)


def _check_option(value: Any, allowed: Sequence[str], param: str, caller: str) -> str:
    return _r.check_option(value, tuple(allowed), param, caller)


def _is_dask(da: Any) -> bool:
    try:
        import dask.array as dska
    except ImportError:  # pragma: no cover
        return False
    return isinstance(getattr(da, "data", None), dska.Array)


_ids = stimulus_ids
_canonical = _canonical_any = to_canonical  # the one canonical order lives in neuroxr.layouts


def _label(da: Any, default: str) -> str:
    if isinstance(da, (xr.DataArray, xr.Dataset)):
        def scalar(key: str) -> Any:
            if key in da.coords and da.coords[key].ndim == 0:
                return da.coords[key].item()
            return da.attrs.get(key)

        model, layer = scalar("model"), scalar("layer")
        if model is not None and layer is not None:
            return f"{model}/{layer}"
        if getattr(da, "name", None):
            return str(da.name)
    return default


def _rdm_da(D: Any, ids: np.ndarray, name: str, attrs: Mapping[str, Any]) -> xr.DataArray:
    return xr.DataArray(
        to_numpy(D),
        dims=RDM_DIMS,
        coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
        name=name,
        attrs=dict(attrs),
    )


def _one_bin(obj: Any, name: str, caller: str | None = None) -> None:
    """A one-line ``LayoutError`` for time-resolved responses (a ``time_bin`` dim) where one bin is expected.

    The geometry metrics and Brain-Score's score compare static responses; a time-resolved array
    must not be averaged or flattened over its bins behind the caller's back.
    """
    if isinstance(obj, (xr.DataArray, xr.Dataset)) and "time_bin" in obj.dims:
        where = f"{caller}: " if caller else ""
        raise LayoutError(
            f"{where}{name} is time-resolved (dim 'time_bin', {obj.sizes['time_bin']} bins) but one time bin is expected; "
            f"select one first, e.g. {name}.isel(time_bin=0)."
        )


def _neural_mean(neural: xr.DataArray, name: str = "neural") -> xr.DataArray:
    """NaN-mean over repeats as a ``stimulus x neuroid`` array; neuroids without data on some stimulus dropped.

    Time-resolved responses (a ``time_bin`` dim) are refused (:func:`_one_bin`)."""
    validate_neural(neural, name=name)
    _one_bin(neural, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # averaged in float64 (float16 / float32 repeats rounded before the analyses' float64 otherwise)
        m = neural.astype(np.float64).mean("repeat", skipna=True)
    m = compute_refusing_inf(m, neural, name) if _is_dask(m) else m  # lazy inf refused as validate_neural does
    bad = np.isnan(m.values).any(axis=0)
    if bad.all():
        raise LayoutError(f"{name}: every neuroid lacks trials for some stimulus; no trial average can be formed.")
    if bad.any():
        warn(f"{name}: {int(bad.sum())} neuroids have no trial for some stimulus and are left out.")
        m = m.isel(neuroid=~bad)
    return m


def _require_repeats(neural: xr.DataArray, what: str) -> None:
    if neural.sizes["repeat"] < 2:
        raise LayoutError(
            f"{what}: the neural data has {neural.sizes['repeat']} repeat (trial-averaged data); a split-half "
            "noise ceiling needs at least 2 repeats per stimulus. Pass data with repeats, or noise_ceiling=False (crsa)."
        )


def _score_ds(values: Mapping[str, Any], attrs: Mapping[str, Any], coords: Mapping[str, Any] | None = None) -> xr.Dataset:
    from .. import __version__

    ds = xr.Dataset({k: v if isinstance(v, tuple) else ((), float(v)) for k, v in values.items()}, coords=coords or {})
    ds.attrs.update({**attrs, "neuroxr_version": __version__})
    return ds


_columns_as_rows = columns_as_rows
