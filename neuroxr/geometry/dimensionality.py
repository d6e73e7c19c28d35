"""Effective dimensionality of a labeled representation (participation ratio of its covariance spectrum)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import too_few_stimuli, warn
from ..kernels import gram as _g
from ..kernels.stats import ROUNDING_SPREAD
from ..validation import check_bool
from ._common import _canonical_any, _drop_unusable, _is_neural, _named, _one_bin, _plain, _scalar_da, input_labels
from .gram import _stats_and_ids, _trace_matches

__all__ = ["effective_dimensionality"]

#: entries of a Gram read at a time by the check for a cut Gram (float64: 16 MiB)
_ROW_BLOCK = 2**21


def effective_dimensionality(obj: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """Effective dimensionality ``(sum l)^2 / sum l^2`` of the feature covariance eigenvalues ``l``.

    The participation ratio (e.g. Elmoznino & Bonner 2022); computed from the ``n x n``
    column-centred Gram, whose nonzero eigenvalues are those of the covariance up to a factor.

    Parameters
    ----------
    obj : features DataArray (stimulus, unit), neural DataArray (stimulus, neuroid, repeat) or Gram Dataset
        Neural data is trial-averaged first (NaN-mean over repeats; with a
        :class:`~neuroxr.errors.NeuroxrWarning` where it has more than one repeat). A Gram Dataset cut to some of its stimuli
        (``G.isel(stimulus=idx, stimulus_=idx)``) is centred again over the stimuli kept, as
        :func:`~neuroxr.geometry.cka` does: the result is that of the kept stimuli's features.

    Returns
    -------
    xarray.DataArray, 0-d float64, named ``effective_dimensionality``
        Between 1 and ``min(n_stimuli - 1, n_units)``; NaN (undefined) for constant features, no
        variance across the stimuli up to rounding (every unit constant, each judged on its own
        squares: :func:`neuroxr.kernels.gram.constant_features`),
        with a :class:`~neuroxr.errors.NeuroxrWarning`. Fewer than 3 stimuli are refused (with 2,
        it is always 1). ``float(res)`` is the number; attrs
        ``n_stimuli``, ``n_units`` (units or neuroids used) and ``source`` (the label of ``obj``,
        :func:`neuroxr.sets.set_label`: ``model.layer``, else its name); neural data: also
        ``n_excluded_stimuli`` and ``n_excluded_neuroids``, as :func:`~neuroxr.geometry.rdm` and
        :func:`~neuroxr.geometry.cka` count them.
    """
    _one_bin(obj, _named(obj, "obj"), "effective_dimensionality")
    name, counts = _named(obj, "obj"), {}
    if _is_neural(obj):  # the stimuli and neuroids rdm and cka keep, counted as they count them
        if obj.sizes["repeat"] > 1:  # a repeat dim of one (trial-averaged responses): nothing is averaged
            warn(f"effective_dimensionality: {name} is neural data (stimulus, neuroid, repeat); its repeats are averaged "
                 "(NaN-mean) first.")  # (named as cka names its inputs)
        (obj,), counts, _ = _drop_unusable([(obj, name)], "effective_dimensionality")
    obj = _canonical_any(obj)  # sums in one order of the stimuli, whatever the input's (as cka)
    stats, ids, kind = _stats_and_ids(obj, None, "effective_dimensionality: " + name, row_pass=False)
    stats = centred_over_kept(obj, stats, kind)
    if ids.size < 3:  # with 2 stimuli the centred features have rank 1 (or 0)
        raise too_few_stimuli("effective_dimensionality", _named(obj, "obj"), int(ids.size), "the participation ratio",
                              "it is always 1" if ids.size == 2 else "")
    value = float(_g.effective_dimensionality(stats))
    if math.isnan(value):
        warn_constant("effective_dimensionality", [(_named(obj, "obj"), _g.constant_features(stats))], "the participation ratio")
    return _scalar_da(value, "effective_dimensionality",
                      {"n_stimuli": int(ids.size), "n_units": int(stats.n_units), **counts, **input_labels(source=_plain(obj))})


def centred_over_kept(obj: Any, stats: _g.GramStats, kind: str) -> _g.GramStats:
    """``stats`` of ``obj`` (its input ``kind``, :func:`~neuroxr.geometry.gram._stats_and_ids`), a Gram
    Dataset cut to some of its stimuli centred again over those kept (``H K[S, S] H``: the Gram of the
    column-centred subset), so that what is judged constant and measured is the kept stimuli's; the
    Gram as written and other inputs as they are."""
    whole = kind == "gram" and "trace" in obj.attrs and _trace_matches(obj, stats.K)  # the Gram as written
    if kind == "gram" and not whole and not _centred_over_rows(stats.K):
        return dataclasses.replace(stats, K=_g.double_center(stats.K))
    return stats


def _centred_over_rows(K: np.ndarray) -> bool:
    """Whether the Gram ``K`` (n, n) is centred over its own stimuli: every row sums to zero up to
    rounding (``1e-8`` of the row's absolute sum; ``1e-3`` in float32). A Gram Dataset cut to some of
    its stimuli is centred over all of them, not over those kept. Read a block of rows at a time
    (about 16 MiB): no copy of the Gram."""
    K = np.asarray(K)
    tol = 1e-8 if K.dtype.itemsize >= 8 else 1e-3
    step = max(1, _ROW_BLOCK // max(K.shape[1], 1))
    for lo in range(0, K.shape[0], step):
        rows = K[lo:lo + step]
        if not np.all(np.abs(rows.sum(axis=1)) <= tol * np.abs(rows).sum(axis=1)):
            return False
    return True


def warn_constant(caller: str, inputs: Sequence[tuple[str, bool]], what: str) -> None:
    """The one :class:`~neuroxr.errors.NeuroxrWarning` for a NaN ``what`` of ``caller``: names the
    inputs of ``(name, constant)`` with no variance across the stimuli, up to rounding
    (:func:`neuroxr.kernels.gram.constant_features`)."""
    const = [name for name, c in inputs if c]
    who = " and ".join(const) or " or ".join(n for n, _ in inputs)
    why = (f"constant features (no variance across the stimuli, up to rounding: a spread below about {ROUNDING_SPREAD} "
           "of the values' magnitude in float64; subtract a large baseline first if they vary)" if const
           else "a degenerate Gram (no positive variance term)")
    warn(f"{caller}: {who} {'has' if len(const) <= 1 else 'have'} {why}, so {what} is undefined: the result is "
                  "NaN. Drop constant units / inputs first.")


def _check_debiased(debiased: object, caller: str = "") -> bool:
    return bool(check_bool(debiased, "debiased", "Pass debiased=True for the unbiased HSIC estimator (Song et al. 2012).",
                           caller=caller))
