"""Labeled helpers shared by the geometry modules: ids, labels, canonical stimulus order, splits.

Every seeded draw in :mod:`neuroxr.geometry` (train/test splits, cross-validation folds) is made
over the stimuli in their **canonical order** (``stimulus_id`` sorted as strings), so the numbers
depend on the stimulus ids and the seed, never on the order in which the stimuli are stored.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import align, canonical_order, columns_as_rows, stimulus_ids, to_canonical
from ..backend import get_namespace, to_numpy
from ..errors import LayoutError, ParameterError, shown, warn, where
from ..errors import code_name as _arg  # the argument part of a _named name, for code in messages
from ..kernels import rdm as _r
from ..kernels import shape as _s
from ..kernels.compare import _flat
from ..layouts import validate_neural
from ..sets import model_layer, set_label
from ..validation import _all_finite, check_int, compute_refusing_inf, refuse_inf

__all__ = ["RDM_DIMS", "canonical_order", "split_train_test"]

RDM_DIMS = ("stimulus", "stimulus_")


def split_train_test(ids: Any, test_size: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split of stimuli that depends only on their ids and ``seed``.

    ``numpy.random.default_rng(seed).permutation(n)`` is drawn over the canonical positions (see
    :func:`canonical_order`); the first ``round(n * test_size)`` form the test set.

    Parameters
    ----------
    ids : array-like of str, shape (n_stimuli,), an int, or a DataArray / Dataset with a ``stimulus_id`` coord
        Stimulus ids (a labeled array's ``stimulus_id``). An int ``n`` draws over positions
        ``0 .. n-1`` (the caller's order).
    test_size : float in (0, 1), default 0.5
    seed : int, default 0

    Returns
    -------
    (train, test) : int arrays
        Indices into ``ids`` in canonical order (so ``X.isel(stimulus=train)`` is the same array
        whatever the input order); each side holds at least 3 stimuli.
    """
    check_split(test_size, seed, "split_train_test")
    return _train_test(ids, test_size, seed, "split_train_test")


def check_split(test_size: Any, seed: Any, caller: str = "", seed_name: str = "seed") -> dict[str, Any]:
    """The parameters of :func:`split_train_test` checked before any data is read (a one-line
    :class:`~neuroxr.errors.ParameterError` starting with ``caller``, the public function called):
    ``test_size`` a number in (0, 1), ``seed`` (the caller's argument ``seed_name``) an int >= 0.
    Returns them as ``{"test_size": float, "seed": int}``."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ParameterError(f"{where(caller)}test_size must be a float in (0, 1); got {shown(test_size)}.")
    seed = check_int(seed, seed_name, 0, f"The split is numpy.random.default_rng({seed_name}).permutation; pass e.g. "
                     f"{seed_name}=0.", caller=caller)
    return {"test_size": float(test_size), "seed": seed}


def _train_test(ids: Any, test_size: float, seed: int, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_train_test` of checked parameters, its messages starting with ``caller``."""
    if isinstance(ids, (xr.DataArray, xr.Dataset)) and "stimulus_id" in ids.coords:
        ids = ids["stimulus_id"].values
    if np.ndim(ids) > 1:
        raise LayoutError(f"{caller}: ids must be stimulus ids (1-D), an int or an array with a stimulus_id coord; "
                          f"got an array of shape {np.shape(ids)}. Pass e.g. X.stimulus_id.")
    order = np.arange(int(ids)) if np.ndim(ids) == 0 else canonical_order(ids)
    n = order.size
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_size))
    if n_test < 3 or n - n_test < 3:
        fix = "; use more stimuli or a test_size nearer 0.5" if n >= 6 else " (6 stimuli in all); use more stimuli"
        raise LayoutError(
            f"{caller}: too few stimuli ({n}) for a train/test split with test_size={test_size}: each side needs at "
            f"least 3{fix}."
        )
    return order[np.sort(perm[n_test:])], order[np.sort(perm[:n_test])]


def _check_option(value: Any, allowed: Sequence[str], param: str, caller: str) -> str:
    return _r.check_option(value, tuple(allowed), param, caller)


def _is_dask(da: Any) -> bool:
    try:
        import dask.array as dska
    except ImportError:  # pragma: no cover
        return False
    return isinstance(getattr(da, "data", None), dska.Array)


_ids = stimulus_ids
_canonical = to_canonical  # the one canonical order lives in neuroxr.layouts


@dataclass(frozen=True, eq=False)
class _Checked:
    """Neural responses ``(stimulus, neuroid, repeat)`` that :func:`_drop_unusable` checked in this call.

    Every (stimulus, neuroid) of ``neural`` holds ``min_valid`` valid repeats and no value is
    infinite; ``mean`` holds the trial means of dask-backed responses, read with the counts
    (``None`` in memory). A metric passes it on to :func:`_neural_mean`, :func:`_usable`,
    :func:`_drop_unusable` and :func:`~neuroxr.geometry.rdm._rdm`, which do not check it again.
    """

    neural: xr.DataArray
    min_valid: int
    mean: xr.DataArray | None = None

    def isel(self, **indexers: Any) -> _Checked:
        """The record of ``neural.isel(**indexers)`` (stimulus / neuroid; a subset stays checked)."""
        return _Checked(self.neural.isel(indexers), self.min_valid, None if self.mean is None else self.mean.isel(indexers))


def _plain(obj: Any) -> Any:
    """The DataArray of a :class:`_Checked` input; any other input as given."""
    return obj.neural if isinstance(obj, _Checked) else obj


def _is_neural(obj: Any) -> bool:
    """Whether ``obj`` is neural responses (a DataArray with a ``repeat`` dim), checked or not."""
    obj = _plain(obj)
    return isinstance(obj, xr.DataArray) and "repeat" in obj.dims


def _checked_at(obj: Any, min_valid: int) -> bool:
    """Whether ``obj`` was checked in this call with at least ``min_valid`` valid repeats."""
    return isinstance(obj, _Checked) and obj.min_valid >= min_valid


def _canonical_any(obj: Any) -> Any:
    """:func:`~neuroxr.alignment.to_canonical` of any input, a :class:`_Checked` one with its trial means."""
    if not isinstance(obj, _Checked):
        return to_canonical(obj)
    order = canonical_order(_ids(obj.neural))
    return obj if np.array_equal(order, np.arange(order.size)) else obj.isel(stimulus=order)


def _align(a: xr.DataArray, b: Any, names: tuple[str, str], caller: str | None = None) -> tuple[xr.DataArray, Any]:
    """:func:`~neuroxr.alignment.align` of ``a`` and ``b`` (messages starting with ``caller``), a
    :class:`_Checked` ``b`` reordered with its trial means."""
    a, aligned = align(a, _plain(b), names=names, caller=caller)
    if not isinstance(b, _Checked):
        return a, aligned
    if aligned is b.neural:
        return a, b
    return a, b.isel(stimulus=pd.Index(_ids(b.neural)).get_indexer(_ids(a)))


def _label(da: Any, default: str) -> str:
    """How messages label an input: ``model/layer`` (:func:`neuroxr.sets.model_layer`), else its
    name, else ``default``; results record :func:`record_label` instead."""
    da = _plain(da)
    ml = model_layer(da)
    if ml is not None:
        return f"{ml[0]}/{ml[1]}"
    if isinstance(da, (xr.DataArray, xr.Dataset)) and getattr(da, "name", None):
        return str(da.name)
    return default


def record_label(obj: Any, default: str) -> str:
    """The label a result records for the input ``obj`` (:func:`neuroxr.sets.set_label`:
    ``model.layer``, else its name, else ``default``)."""
    return set_label(_plain(obj), default)


def input_labels(**inputs: Any) -> dict[str, str]:
    """The attrs naming a result's inputs, ``{"source": "alexnet.conv1", "target": "V4"}``: each
    input's :func:`record_label`, else its key (the labels the directions record too)."""
    return {key: record_label(obj, key) for key, obj in inputs.items()}


def _named(obj: Any, arg: str) -> str:
    """How a message names an input: the argument of the public function the user called and, when
    the input has a label of its own (:func:`_label`) that differs, that label in parentheses:
    ``"a (alexnet/conv1)"``, ``"neural (V4)"``, ``"neural"``."""
    label = _label(obj, arg)
    return arg if label == arg else f"{arg} ({label})"


def _rdm_da(D: Any, ids: np.ndarray, name: str, attrs: Mapping[str, Any]) -> xr.DataArray:
    return xr.DataArray(
        to_numpy(D),
        dims=RDM_DIMS,
        coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
        name=name,
        attrs=dict(attrs),
    )


def warn_flat_rdms(caller: str, r: Any, VA: np.ndarray, VB: np.ndarray, names_a: Sequence[str],
                   names_b: Sequence[str], total: int | None = None) -> None:
    """The one :class:`~neuroxr.errors.NeuroxrWarning` for comparisons of RDMs that are NaN although 3
    complete pairs remain (the NaN rule's NaN is for fewer): an RDM without variance on the pairs
    compared (every dissimilarity equal up to rounding, :mod:`neuroxr.kernels.compare`: the RDM of
    constant features or trial means; all zero, for cosine), whose correlation is undefined.

    ``r`` (k,) holds the results of comparing the rows ``VA[i]`` and ``VB[i]`` (``(k, P)``, or ``(1, P)``
    for one RDM compared with every row of the other; NaN: a missing pair), named ``names_a[i]`` and
    ``names_b[i]`` in the message (one name with a ``(1, P)``); ``total``: the number of comparisons the
    message counts them among (default ``k``)."""
    r = np.atleast_1d(np.asarray(r, dtype=np.float64))
    nan = np.flatnonzero(np.isnan(r))
    if not nan.size:  # nothing to look at (no pass over the RDMs)
        return
    VA, VB = (V[nan if len(V) > 1 else np.zeros(nan.size, dtype=int)] for V in (VA, VB))
    ok = ~(np.isnan(VA) | np.isnan(VB))
    undefined = np.flatnonzero(ok.sum(axis=1) >= 3)  # positions in nan
    if not undefined.size:
        return
    flat: list[str] = []
    for i in undefined:
        for V, names in ((VA, names_a), (VB, names_b)):
            v, name = V[i][ok[i]], names[min(int(nan[i]), len(names) - 1)]
            if bool(_flat(np, v)[0]) and name not in flat:  # equal up to rounding, as the comparison decides it
                flat.append(name)
    who = (", ".join(flat[:3]) + (f" and {len(flat) - 3} more" if len(flat) > 3 else "")) or "an RDM"
    total = r.size if total is None else total
    some = "" if total == 1 else f"{undefined.size} of {total} comparisons are NaN: "
    warn(f"{caller}: {some}{who} {'has' if len(flat) <= 1 else 'have'} no variance on the pairs compared (every dissimilarity "
         "equal, e.g. the RDM of constant features or trial means), so a comparison with "
         f"{'it' if len(flat) <= 1 else 'them'} is undefined: the result is NaN.")


def _one_bin(obj: Any, name: str, caller: str | None = None) -> None:
    """A one-line ``LayoutError`` for time-resolved responses (a ``time_bin`` dim) where one bin is expected.

    The geometry metrics and Brain-Score's score compare static responses; a time-resolved array
    must not be averaged or flattened over its bins behind the caller's back.
    """
    obj = _plain(obj)
    if isinstance(obj, (xr.DataArray, xr.Dataset)) and "time_bin" in obj.dims:
        k, arg = obj.sizes["time_bin"], _arg(name)
        what = (f"{k} bins) but static responses (no 'time_bin' dim) are expected; select one bin, e.g. "
                f"{arg}.isel(time_bin=0), and score the bins one at a time" if k > 1 else
                f"1 bin) but static responses (no 'time_bin' dim) are expected; drop the dim with {arg}.isel(time_bin=0), "
                "or pass the responses without time_bins")
        raise LayoutError(f"{where(caller)}{name} is time-resolved (dim 'time_bin', {what}.")


def _usable(neural: xr.DataArray | _Checked, name: str = "neural", min_valid: int = 1,
            caller: str | None = None, paired: bool = False) -> tuple[xr.DataArray, dict[str, int], np.ndarray]:
    """The stimuli and neuroids of ``neural`` that a geometry metric can use, the directions' rule.

    A (stimulus, neuroid) is usable with ``min_valid`` valid (non-NaN) repeats: 1 for a trial
    average, 2 for a split-half ceiling (a trial in both halves). A stimulus usable for no neuroid
    is dropped (as the directions drop it); then a neuroid not usable on every remaining stimulus is
    dropped (a geometry compares the stimuli over one set of neuroids). One
    :class:`~neuroxr.errors.NeuroxrWarning` names and counts what is dropped. An input that
    :func:`_drop_unusable` returned in this call (a :class:`_Checked`) is not checked again.

    Parameters
    ----------
    neural : DataArray (stimulus, neuroid, repeat) or _Checked
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
    if _checked_at(neural, min_valid):
        return neural.neural, {"n_excluded_stimuli": 0, "n_excluded_neuroids": 0}, np.empty(0, dtype=str)
    neural = _plain(neural)
    ok, _ = _valid(neural, name, min_valid, caller, first=False)
    sids = _ids(neural)
    stim_bad = ~ok.any(axis=1)
    neu_bad = _judge(ok, sids, neural, name, min_valid, caller, paired, stim_bad)
    counts = {"n_excluded_stimuli": int(stim_bad.sum()), "n_excluded_neuroids": int(neu_bad.sum())}
    if stim_bad.any() or neu_bad.any():
        neural = neural.isel(stimulus=np.flatnonzero(~stim_bad), neuroid=np.flatnonzero(~neu_bad))
    return neural, counts, sids[stim_bad]


#: The option of a function that scores without the ceiling its 2 trials are for.
_NO_CEILING = {"crsa": "noise_ceiling=False", "brainscore": "ceiling=False"}


def _need(min_valid: int, caller: str | None = None) -> tuple[str, str]:
    """What a (stimulus, neuroid) needs with ``min_valid`` and the fix the errors add for a ceiling:
    ``caller``'s option that scores without it, where it has one (a ceiling itself has none)."""
    if min_valid == 1:
        return "a trial", ""
    option = _NO_CEILING.get(caller or "")
    return (f"{min_valid} trials (a split-half ceiling needs a trial in both halves)",
            f" or score without a ceiling ({option})" if option else "")


def _trial_mean(neural: xr.DataArray) -> xr.DataArray:
    """The NaN-mean over repeats (lazy for dask-backed responses), in float64 (float16 / float32
    repeats rounded before the analyses' float64 otherwise)."""
    return neural.astype(np.float64).mean("repeat", skipna=True)  # an all-NaN slice: NaN (xarray says nothing)


def _valid(neural: xr.DataArray, name: str, min_valid: int, caller: str | None,
           first: bool) -> tuple[np.ndarray, xr.DataArray | None]:
    """Which (stimulus, neuroid) hold ``min_valid`` valid repeats (bool, stimulus x neuroid), a
    one-line ``LayoutError`` when no stimulus does. ``first`` (the values not checked yet): inf
    refused as :func:`~neuroxr.layouts.validate_neural` does, and dask-backed responses' trial
    means (:func:`_trial_mean`) computed with the counts, from one read of the chunks."""
    mean, label = None, where(caller) + name
    if not _is_dask(neural) and _all_finite(v := np.asarray(neural.values)):  # no NaN: every repeat valid
        ok = np.full((neural.sizes["stimulus"], neural.sizes["neuroid"]), neural.sizes["repeat"] >= min_valid)
    else:
        if first and not _is_dask(neural):
            refuse_inf(v, label)
        count = neural.notnull().sum("repeat").transpose("stimulus", "neuroid")
        if first and _is_dask(neural):  # named as the in-memory path names it (refuse_inf above)
            count, mean = compute_refusing_inf((count, _trial_mean(neural)), neural, label)
        ok = np.asarray(count.values) >= min_valid
    if not ok.any():
        need, fix = _need(min_valid, caller)
        raise LayoutError(f"{where(caller)}{name}: no stimulus has {need} in any neuroid "
                          f"(dim 'repeat'); pass responses with trials{fix}.")
    return ok, mean


def _judge(ok: np.ndarray, sids: np.ndarray, neural: xr.DataArray, name: str, min_valid: int,
           caller: str | None, paired: bool, stim_bad: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """The neuroids of ``neural`` (``ok`` from :func:`_valid`) not usable on every stimulus of
    ``rows`` (bool; default: those not in ``stim_bad``, its own unusable stimuli), with the one
    warning on its dropped stimuli and neuroids; a ``LayoutError`` when that is every neuroid."""
    need, fix = _need(min_valid, caller)
    rows = ~stim_bad if rows is None else rows
    nids = np.asarray(neural["neuroid_id"].values).astype(str)
    neu_bad = ~ok[rows].all(axis=0)
    if neu_bad.all():
        i = int(np.flatnonzero(~ok[rows][:, 0])[0])
        raise LayoutError(
            f"{where(caller)}{name}: every neuroid lacks {need} for some stimulus (e.g. neuroid {str(nids[0])!r} at stimulus "
            f"{str(sids[rows][i])!r}; dim 'repeat'), so no neuroid spans all stimuli; select the stimuli they share "
            f"({_arg(name)}.sel(stimulus=...)){fix}."
        )
    if stim_bad.any() or neu_bad.any():
        parts = []
        if stim_bad.any():
            parts.append(f"{int(stim_bad.sum())} of {stim_bad.size} stimuli without {need.split(' (')[0]} in any neuroid "
                         f"(e.g. {', '.join(repr(str(x)) for x in sids[stim_bad][:3])}{'; also dropped from the other input' if paired else ''})")
        if neu_bad.any():
            parts.append(f"{int(neu_bad.sum())} of {neu_bad.size} neuroids lacking {need.split(' (')[0]} for some stimulus "
                         f"(e.g. {', '.join(repr(str(x)) for x in nids[neu_bad][:3])})")
        warn(f"{where(caller)}{name}: " + " and ".join(parts) + " are left out.")
    return neu_bad


def _drop_unusable(inputs: Sequence[tuple[Any, str]], caller: str | None, min_valid: int = 1,
                   paired: bool = False, pair_with: Sequence[Any] = ()) -> tuple[list[Any], dict[str, int], np.ndarray]:
    """Several inputs of one metric, the stimuli and neuroids that :func:`_usable`'s rule keeps.

    Each neural input (``(stimulus, neuroid, repeat)``) is validated and its valid repeats counted
    once; the stimuli no neuroid of some neural input can use are dropped from every input (by id,
    :func:`_without`; Gram Datasets are left to the caller, and so is another input not given when
    ``paired``); then each neural input's neuroids are judged on the stimuli that remain (not when
    the stimuli of the inputs and of the labeled ``pair_with`` (other inputs the caller pairs them
    with), those dropped aside, differ: the caller refuses the pair, with no warning first). A
    :class:`_Checked` input checked with at least ``min_valid`` is not checked again.

    Returns
    -------
    (inputs, counts, dropped_ids)
        The inputs, each neural one as a :class:`_Checked` (pass it on, so that :func:`_usable`,
        :func:`_neural_mean` and :func:`~neuroxr.geometry.rdm._rdm` do not check it again in the
        call; dask-backed ones with their trial means, read with the counts);
        ``n_excluded_stimuli`` (the dropped stimuli) and ``n_excluded_neuroids`` (summed over the
        neural inputs), and the dropped stimulus ids.
    """
    paired = paired or len(inputs) > 1
    seen: dict[int, tuple[np.ndarray | None, xr.DataArray | None, int]] = {}
    for i, (obj, name) in enumerate(inputs):
        da = _plain(obj)
        if _checked_at(obj, min_valid):
            seen[i] = (None, obj.mean, obj.min_valid)
        elif _is_neural(da):
            _one_bin(da, name, caller)  # one time bin, named by the function called
            # the values: in _valid, with the counts
            validate_neural(da, name=where(caller) + name, check_values=False)
            seen[i] = (*_valid(da, name, min_valid, caller, first=True), min_valid)
    own = {i: ~ok.any(axis=1) for i, (ok, _, _) in seen.items() if ok is not None}
    dropped_ids = np.unique(np.concatenate([np.empty(0, dtype=str)] + [_ids(_plain(inputs[i][0]))[b] for i, b in own.items()]))
    counts = {"n_excluded_stimuli": int(dropped_ids.size), "n_excluded_neuroids": 0}
    # inputs whose stimuli will not pair up: the caller's pairing refusal comes alone (no warning first)
    gone = set(dropped_ids.astype(str))
    kept = [set(_ids(o)) - gone for o in map(_plain, [*(x for x, _ in inputs), *pair_with])
            if isinstance(o, (xr.DataArray, xr.Dataset)) and "stimulus_id" in o.coords]
    unpaired = any(k != kept[0] for k in kept[1:])
    out = []
    for i, (obj, name) in enumerate(inputs):
        obj = _plain(obj)
        if i not in seen:
            out.append(obj if isinstance(obj, xr.Dataset) else _without(obj, dropped_ids))
            continue
        ok, mean, level = seen[i]
        sids = _ids(obj)
        rows = ~np.isin(sids, dropped_ids)
        neu_bad = np.zeros(obj.sizes["neuroid"], bool) if ok is None or unpaired else \
            _judge(ok, sids, obj, name, min_valid, caller, paired, own[i], rows)
        counts["n_excluded_neuroids"] += int(neu_bad.sum())
        if not rows.all() or neu_bad.any():
            sel = {"stimulus": np.flatnonzero(rows), "neuroid": np.flatnonzero(~neu_bad)}
            obj, mean = obj.isel(sel), None if mean is None else mean.isel(sel)
        out.append(_Checked(obj, level, mean))
    return out, counts, dropped_ids


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


def _neural_mean(neural: xr.DataArray | _Checked, name: str = "neural", min_valid: int = 1) -> xr.DataArray:
    """NaN-mean over repeats as a ``stimulus x neuroid`` array, over the stimuli and neuroids that
    :func:`_usable` keeps (dropped with one warning); attrs ``n_excluded_stimuli`` and
    ``n_excluded_neuroids`` count them. An input :func:`_drop_unusable` returned (a
    :class:`_Checked`) is not checked again.

    Time-resolved responses (a ``time_bin`` dim) are refused (:func:`_one_bin`)."""
    counts = {"n_excluded_stimuli": 0, "n_excluded_neuroids": 0}
    if not _checked_at(neural, min_valid):
        neural = _plain(neural)
        validate_neural(neural, name=name, check_values=False)  # the values: once, in _drop_unusable
        _one_bin(neural, name)
        (neural,), counts, _ = _drop_unusable([(neural, name)], None, min_valid)
    # dask: the means computed with the counts and the refusal of inf
    m = _trial_mean(neural.neural) if neural.mean is None else neural.mean.copy(deep=False)
    m.attrs.update(counts)
    return m


def _require_repeats(neural: xr.DataArray, name: str, caller: str, fix: str = "") -> None:
    """A one-line ``LayoutError`` (``caller: name ...``, then ``fix``) for responses without 2 repeats."""
    if neural.sizes["repeat"] < 2:
        raise LayoutError(
            f"{caller}: {name} has {neural.sizes['repeat']} repeat on dim 'repeat' (trial-averaged data); a split-half "
            f"noise ceiling needs at least 2 repeats per stimulus. Pass responses with repeats{fix}."
        )


def _score_ds(values: Mapping[str, Any], attrs: Mapping[str, Any], coords: Mapping[str, Any] | None = None) -> xr.Dataset:
    from .. import __version__

    ds = xr.Dataset({k: v if isinstance(v, tuple) else ((), float(v)) for k, v in values.items()}, coords=coords or {})
    ds.attrs.update({**attrs, "neuroxr_version": __version__})
    return ds


def _scalar_da(value: float, name: str, attrs: Mapping[str, Any]) -> xr.DataArray:
    """A labeled scalar result: a 0-d float64 DataArray ``name`` with ``attrs`` (``float(x)``,
    comparisons and arithmetic read it as the number)."""
    return xr.DataArray(np.float64(value), name=name, attrs=dict(attrs))


_columns_as_rows = columns_as_rows


def _refuse_constant_networks(data: Any, Xs: Sequence[Any], center_columns: bool, caller: str, arg: str) -> None:
    """A one-line :class:`LayoutError` naming the first network of ``data`` (argument ``arg``; its
    values ``Xs``) without variance across the stimuli (constant up to rounding, as the shape metrics
    decide it; ``center_columns=False``: all zero): its shape is undefined and it would be averaged as zero."""
    for i, X in enumerate(Xs):
        xp = get_namespace(X)
        if not bool(xp.any(_s.centre(X, xp.mean(X, axis=0)) if center_columns else X)):
            label = f"{arg}[{list(data)[i]!r}]" if isinstance(data, Mapping) else _named(list(data)[i], f"{arg}[{i}]")
            raise LayoutError(f"{caller}: {label}: no variance across the stimuli on dim 'stimulus' "
                              f"({'constant up to rounding' if center_columns else 'all zero'}); its shape is undefined and "
                              f"it would enter the average as zero; drop it from {arg}.")


def unit_ids(net: Any) -> np.ndarray | None:
    """The ids of a labeled network's columns (``<dim>_id`` on its dim other than ``stimulus``:
    ``unit_id``), else None."""
    if not isinstance(net, xr.DataArray) or net.ndim != 2 or "stimulus" not in net.dims:
        return None
    dim = next(d for d in net.dims if d != "stimulus")
    coord = net.coords.get(f"{dim}_id")
    return None if coord is None or coord.dims != (dim,) else np.asarray(coord.values)


def in_unit_order(net: Any, ids: np.ndarray | None, name: str, caller: str) -> Any:
    """``net`` with its columns paired by id with a fitted network's (``ids``, from
    :func:`unit_ids`), never by position; ``net`` itself when either is unlabeled. Other ids are a
    one-line :class:`~neuroxr.errors.LayoutError` naming ``name``."""
    own = unit_ids(net)
    if ids is None or own is None:
        return net
    dim = next(d for d in net.dims if d != "stimulus")
    for which, labels in ((name, own), ("the network fitted", ids)):  # an id named twice pairs no column
        dup = pd.Index(labels)[pd.Index(labels).duplicated()]
        if dup.size:
            raise LayoutError(f"{caller}: {which} has {dup.size} duplicate {dim}_id values on dim {dim!r}, e.g. "
                              f"{[str(i) for i in pd.unique(dup)[:3]]}; held-out {dim}s are paired with the fitted ones "
                              f"by {dim}_id: give each {dim} a unique id, or pass arrays to pair them by position.")
    if np.array_equal(own, ids):
        return net
    pos = pd.Index(own).get_indexer(ids)
    if len(own) != len(ids) or (pos < 0).any():
        missing = [str(i) for i in np.asarray(ids)[pos < 0][:3]] or ["(a duplicate)"]
        raise LayoutError(f"{caller}: {name} has other {dim}_id values on dim {dim!r} than the network fitted ({len(own)} "
                          f"{dim}s against {len(ids)}; missing e.g. {missing}); pass the fitted {dim}s (paired by {dim}_id).")
    return net.isel({dim: pos})


def held_out_networks(train: Any, test: Any, caller: str) -> Any:
    """``test`` (held-out stimuli of the networks ``train``) paired with ``train``: a dict's
    networks by key (other keys: one-line :class:`~neuroxr.errors.LayoutError`), each labeled
    network's units by id (:func:`in_unit_order`); lists by position."""
    if isinstance(train, Mapping) and isinstance(test, Mapping):
        if set(map(str, train)) != set(map(str, test)) or len(train) != len(test):
            raise LayoutError(f"{caller}: test_data has the networks {[str(k) for k in test]}, train_data "
                              f"{[str(k) for k in train]}; give test_data the same keys.")
        by_key = {str(k): v for k, v in test.items()}
        return {k: in_unit_order(by_key[str(k)], unit_ids(v), _named(by_key[str(k)], f"test_data[{k!r}]"), caller) for k, v in train.items()}
    if isinstance(train, Mapping) or isinstance(test, Mapping):
        return test
    train, test = list(train), list(test)
    if len(train) != len(test):
        return test  # refused with the counts by the caller
    return [in_unit_order(t, unit_ids(x), _named(t, f"test_data[{i}]"), caller) for i, (x, t) in enumerate(zip(train, test))]
