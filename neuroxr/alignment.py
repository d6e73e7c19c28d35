"""Pairing by ``stimulus_id``: the canonical stimulus order every seeded draw uses, and alignment.

Objects are paired by ``stimulus_id``, never by position. Every draw over stimuli (folds, train/test
splits, split halves, bootstrap resamples) is made on the canonical order (stimulus ids sorted as
strings), so permuting the rows of an input never changes a number.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import LayoutError, shown, where
from .layouts import _check_ids, _examples

__all__ = ["stimulus_ids", "as_str", "canonical_order", "input_order", "to_canonical", "columns_as_rows", "align",
           "for_store_sets"]


def stimulus_ids(da: xr.DataArray | xr.Dataset) -> np.ndarray:
    """The ``stimulus_id`` values of ``da`` as a string array."""
    return as_str(da.coords["stimulus_id"].values)


def as_str(ids: Any) -> np.ndarray:
    """``ids`` as a NumPy string array (``astype(str)``; NumPy's variable-width ``StringDType``
    strings, which cast to ``str`` only through objects, too)."""
    arr = np.asarray(ids)
    return (arr.astype(object) if arr.dtype.kind == "T" else arr).astype(str)


def canonical_order(ids: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    """Index array that puts stimuli in neuroxr's canonical order: sorted ``stimulus_id``.

    Every direction pairs its inputs by id and reorders them with this before drawing folds and
    split halves, so permuting the stimuli of the inputs never changes a number.

    Parameters
    ----------
    ids : sequence of str, length n_stimuli
        Stimulus ids (compared as strings, lexicographically).

    Returns
    -------
    ndarray of int, shape (n_stimuli,)
        ``ids[order]`` is sorted; ties (duplicate ids) keep their input order.
    """
    return np.argsort(as_str(ids), kind="stable")


def input_order(ids: Sequence[Hashable] | np.ndarray) -> np.ndarray | None:
    """Positions that take a result computed in canonical order back to the order of ``ids``.

    The inverse permutation of :func:`canonical_order`: ``result[input_order(ids)]`` is in the order
    of ``ids`` where ``result`` is in ``ids[canonical_order(ids)]``'s.

    Parameters
    ----------
    ids : sequence of str, length n_stimuli
        Stimulus ids (compared as strings).

    Returns
    -------
    ndarray of int, shape (n_stimuli,), or None
        None where ``ids`` already are in canonical order (nothing to undo).
    """
    back = np.argsort(canonical_order(ids), kind="stable")
    return None if np.array_equal(back, np.arange(back.size)) else back


def to_canonical(obj: Any) -> Any:
    """``obj`` with its stimuli in canonical order (:func:`canonical_order`); no copy when already there.

    Parameters
    ----------
    obj : DataArray with a ``stimulus_id`` coord, Gram ``Dataset`` over ``(stimulus, stimulus_)``, or other
        Other objects (plain arrays) are returned as they are.

    Returns
    -------
    The same kind of object, reordered along ``stimulus`` and, for an RDM or a Gram, along
    ``stimulus_`` (paired with the rows by its own ``stimulus_id_`` coord, :func:`columns_as_rows`).
    """
    if not isinstance(obj, (xr.DataArray, xr.Dataset)) or "stimulus_id" not in obj.coords or "stimulus" not in obj.dims:
        return obj  # (no stimulus dim, e.g. dims named after the ids: the caller's layout check names it)
    if "stimulus_" in obj.dims:
        obj = columns_as_rows(obj, str(getattr(obj, "name", None) or "rdm"))
    order = canonical_order(stimulus_ids(obj))
    if np.array_equal(order, np.arange(order.size)):
        return obj
    return obj.isel(stimulus=order, stimulus_=order) if "stimulus_" in obj.dims else obj.isel(stimulus=order)


def columns_as_rows(x: Any, name: str) -> Any:
    """A labeled RDM (or stack, or Gram Dataset) with its columns (``stimulus_``) in the order of its rows, by id
    (e.g. after ``rdm.isel(stimulus=...)`` or ``rdm.sortby("stimulus_id")``); the one place that
    pairs an RDM's two axes."""
    if "stimulus_id" not in x.coords or "stimulus_id_" not in x.coords:
        return x
    rows, cols = as_str(x["stimulus_id"].values), as_str(x["stimulus_id_"].values)
    if np.array_equal(rows, cols):
        return x
    pos = {s: i for i, s in enumerate(cols)}
    if len(pos) != cols.size or set(pos) != set(rows.tolist()) or len(set(rows.tolist())) != rows.size:
        what = "a Gram's" if isinstance(x, xr.Dataset) else "an RDM's"
        raise LayoutError(f"{name}: coords 'stimulus_id' and 'stimulus_id_' do not name the same stimuli once each; "
                          f"{what} rows and columns are the same stimuli (select both axes alike, e.g. "
                          f"x.isel(stimulus=idx, stimulus_=idx)).")
    return x.isel(stimulus_=[pos[s] for s in rows])


def align(
    a: xr.DataArray,
    b: xr.DataArray,
    names: tuple[str, str] = ("a", "b"),
    caller: str | None = None,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Pair two labeled arrays by ``stimulus_id``, reordering ``b`` to ``a``'s stimulus order.

    Parameters
    ----------
    a, b : xarray.DataArray
        Arrays with a ``stimulus`` dim and a ``stimulus_id`` coord.
    names : (str, str), default ("a", "b")
        Names of ``a`` and ``b`` used in error messages (an argument, optionally followed by the
        array's label in parentheses: ``"neural (V4)"``; the code suggested uses the argument).
    caller : str, optional
        The public function the user called; its name starts every message (``"crsa: Cannot pair
        by stimulus_id: ..."``; ``"forward: ..."``, ``"bootstrap: ..."`` from the directions and their inference).

    Returns
    -------
    (a, b_aligned) : tuple of DataArray
        ``b_aligned.stimulus_id`` equals ``a.stimulus_id`` element by element.

    Raises
    ------
    LayoutError
        When the two objects do not hold the same set of stimulus ids; the message says how many
        ids are missing on each side and shows a few.
    """
    for da, nm in ((a, names[0]), (b, names[1])):
        if not isinstance(da, (xr.DataArray, xr.Dataset)):
            raise LayoutError(f"{where(caller)}{nm}: must be a labeled xarray DataArray with a 'stimulus' dim and a "
                              f"stimulus_id coord; got {shown(da)}. Build one with neuroxr.neural or neuroxr.features.")
        if "stimulus" not in da.dims:
            raise LayoutError(f"{where(caller)}{nm}: has no 'stimulus' dim (dims {tuple(da.dims)}); cannot pair by stimulus_id.")
        _check_ids(da, "stimulus_id", "stimulus", where(caller) + nm)
    ia, ib = pd.Index(stimulus_ids(a)), pd.Index(stimulus_ids(b))
    if ia.equals(ib):
        return a, b
    only_a = ia.difference(ib, sort=False)
    only_b = ib.difference(ia, sort=False)
    if len(only_a) or len(only_b):
        parts = []
        if len(only_a):
            parts.append(f"{len(only_a)} stimulus ids of {names[0]} are missing in {names[1]}, e.g. {_examples(only_a)}")
        if len(only_b):
            parts.append(f"{len(only_b)} stimulus ids of {names[1]} are missing in {names[0]}, e.g. {_examples(only_b)}")
        va, vb = (nm.split(" (", 1)[0] for nm in names)  # the arguments of "neural (V4)"-style names, as code
        # the side holding ids the other lacks is the one to select from (both, where each has extras)
        fixes = [f"{x}.isel(stimulus={x}.stimulus_id.isin({y}.stimulus_id))"
                 for x, y, extra in ((va, vb, only_a), (vb, va, only_b)) if len(extra)]
        raise LayoutError(
            f"{where(caller)}Cannot pair by stimulus_id: " + "; ".join(parts) + ". Select the common stimuli first, e.g. "
            + " and ".join(fixes) + "."
        )
    order = ib.get_indexer(ia)
    return a, b.isel(stimulus=order)


#: the selections that the stimulus messages advise (``, e.g. b.isel(stimulus=b.stimulus_id.isin(a.stimulus_id))``,
#: for one side or both; ``(neural.sel(stimulus=...))``) and what a caller naming store sets does instead
STORE_ADVICE = [(re.compile(pattern), text) for pattern, text in (
    (r", e\.g\. (\w+)\.isel\(stimulus=\1\.stimulus_id\.isin\(\w+\.stimulus_id\)\)"
     r"(?: and (\w+)\.isel\(stimulus=\2\.stimulus_id\.isin\(\w+\.stimulus_id\)\))?",
     " (write sets of the same stimuli to the store)"),
    (r" \(\w+\.sel\(stimulus=\.\.\.\)\)", " (write a set of those stimuli to the store)"),
)]


def for_store_sets(exc: Exception) -> Exception:
    """``exc`` of a computation on store sets (named, never passed as arrays) with the advice to select
    stimuli of an array (``neural_a.isel(...)``, which a caller naming sets cannot run) as what such a
    caller does: write sets of the same stimuli to the store. Its type and attributes are kept; ``exc``
    itself where it gives no such advice."""
    if not isinstance(exc, LayoutError):
        return exc
    text = str(exc)
    for pattern, repl in STORE_ADVICE:
        text = pattern.sub(repl, text)
    if text == str(exc):
        return exc
    new = type(exc)(text)
    new.__dict__.update(exc.__dict__)
    return new.with_traceback(exc.__traceback__)
