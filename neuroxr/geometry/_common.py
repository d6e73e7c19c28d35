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


def _usable(neural: xr.DataArray, name: str = "neural", min_valid: int = 1,
            caller: str | None = None, paired: bool = False) -> tuple[xr.DataArray, dict[str, int], np.ndarray]:
    """The stimuli and neuroids of ``neural`` that a geometry metric can use, the directions' rule.

    A (stimulus, neuroid) is usable with ``min_valid`` valid (non-NaN) repeats: 1 for a trial
    average, 2 for a split-half ceiling (a trial in both halves). A stimulus usable for no neuroid
    is dropped (as the directions drop it); then a neuroid not usable on every remaining stimulus is
    dropped (a geometry compares the stimuli over one set of neuroids). One
    :class:`~neuroxr.errors.NeuroxrWarning` names and counts what is dropped.

    Parameters
    ----------
    neural : DataArray (stimulus, neuroid, repeat)
    name : str
        The argument named in the warning and errors.
    min_valid : {1, 2}, default 1
    caller : str, optional
        Prefix of the messages.
    paired : bool, default False
        Whether the caller drops the stimuli from another input too (the warning says so).

    Returns
    -------
    (neural, counts, dropped_ids)
        ``neural`` without the dropped stimuli and neuroids (the same object when none is dropped),
        ``{"n_excluded_stimuli": int, "n_excluded_neuroids": int}`` and the dropped stimulus ids
        (pair the other input of a metric by dropping them there: :func:`_without`).
    """
    where = f"{caller}: " if caller else ""
    need = "a trial" if min_valid == 1 else f"{min_valid} trials (a split-half ceiling needs a trial in both halves)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        count = neural.notnull().sum("repeat").transpose("stimulus", "neuroid")
    ok = np.asarray(count.values) >= min_valid
    sids, nids = _ids(neural), np.asarray(neural["neuroid_id"].values).astype(str)
    stim_bad = ~ok.any(axis=1)
    fix = "" if min_valid == 1 else " or score without a ceiling (noise_ceiling=False / ceiling=False)"
    if stim_bad.all():
        raise LayoutError(f"{where}{name}: no stimulus has {need} in any neuroid (dim 'repeat'); pass responses with "
                          f"trials{fix}.")
    neu_bad = ~ok[~stim_bad].all(axis=0)
    if neu_bad.all():
        j = 0
        i = int(np.flatnonzero(~ok[~stim_bad][:, j])[0])
        raise LayoutError(
            f"{where}{name}: every neuroid lacks {need} for some stimulus (e.g. neuroid {nids[j]!r} at stimulus "
            f"{sids[~stim_bad][i]!r}; dim 'repeat'), so no neuroid spans all stimuli; select the stimuli they share "
            f"(neural.sel(stimulus=...)){fix}."
        )
    counts = {"n_excluded_stimuli": int(stim_bad.sum()), "n_excluded_neuroids": int(neu_bad.sum())}
    if stim_bad.any() or neu_bad.any():
        parts = []
        if stim_bad.any():
            parts.append(f"{counts['n_excluded_stimuli']} stimuli without {need.split(' (')[0]} in any neuroid "
                         f"(e.g. {', '.join(repr(str(x)) for x in sids[stim_bad][:3])}{'; also dropped from the other input' if paired else ''})")
        if neu_bad.any():
            parts.append(f"{counts['n_excluded_neuroids']} neuroids lacking {need.split(' (')[0]} for some stimulus "
                         f"(e.g. {', '.join(repr(str(x)) for x in nids[neu_bad][:3])})")
        warn(f"{where}{name}: " + " and ".join(parts) + " are left out.")
        neural = neural.isel(stimulus=np.flatnonzero(~stim_bad), neuroid=np.flatnonzero(~neu_bad))
    return neural, counts, sids[stim_bad]


def _drop_unusable(inputs: Sequence[tuple[Any, str]], caller: str, min_valid: int = 1,
                   paired: bool = False) -> tuple[list[Any], dict[str, int], np.ndarray]:
    """Several inputs of one metric, each neural one (``(stimulus, neuroid, repeat)``) reduced to
    what :func:`_usable` keeps, and the stimuli dropped from any of them dropped from all (by id,
    :func:`_without`; Gram Datasets are left to the caller, and so is another input not given when
    ``paired``). Returns the inputs, the counts summed over the neural inputs and the dropped
    stimulus ids."""
    out, counts, dropped = [], {"n_excluded_stimuli": 0, "n_excluded_neuroids": 0}, []
    for obj, name in inputs:
        if isinstance(obj, xr.DataArray) and "repeat" in obj.dims and "time_bin" not in obj.dims:  # callers refuse bins
            validate_neural(obj, name=name)
            obj, c, ids = _usable(obj, name, min_valid, caller, paired=paired or len(inputs) > 1)
            counts["n_excluded_neuroids"] += c["n_excluded_neuroids"]
            dropped.extend(ids)
        out.append(obj)
    dropped_ids = np.unique(np.asarray(dropped, dtype=str))
    counts["n_excluded_stimuli"] = int(dropped_ids.size)
    return [o if isinstance(o, xr.Dataset) else _without(o, dropped_ids) for o in out], counts, dropped_ids


def _without(obj: Any, ids: Any) -> Any:
    """``obj`` (a labeled DataArray or Dataset with a ``stimulus`` dim, RDMs and Grams on both
    stimulus dims) without the stimuli ``ids`` (the ones :func:`_usable` dropped from the other
    input), so that the two are then paired by ``stimulus_id``; ``obj`` itself when none is there."""
    if len(ids) == 0 or not isinstance(obj, (xr.DataArray, xr.Dataset)):
        return obj
    sel = {}
    for dim, coord in (("stimulus", "stimulus_id"), ("stimulus_", "stimulus_id_")):
        if dim in obj.dims and coord in obj.coords:
            keep = ~np.isin(np.asarray(obj[coord].values).astype(str), np.asarray(ids).astype(str))
            if not keep.all():
                sel[dim] = np.flatnonzero(keep)
    return obj.isel(sel) if sel else obj


def _neural_mean(neural: xr.DataArray, name: str = "neural", min_valid: int = 1) -> xr.DataArray:
    """NaN-mean over repeats as a ``stimulus x neuroid`` array, over the stimuli and neuroids that
    :func:`_usable` keeps (dropped with one warning); attrs ``n_excluded_stimuli`` and
    ``n_excluded_neuroids`` count them.

    Time-resolved responses (a ``time_bin`` dim) are refused (:func:`_one_bin`)."""
    validate_neural(neural, name=name)
    _one_bin(neural, name)
    neural, counts, _ = _usable(neural, name, min_valid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # averaged in float64 (float16 / float32 repeats rounded before the analyses' float64 otherwise)
        m = neural.astype(np.float64).mean("repeat", skipna=True)
    m = compute_refusing_inf(m, neural, name) if _is_dask(m) else m  # lazy inf refused as validate_neural does
    m.attrs.update(counts)
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
