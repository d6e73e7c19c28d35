"""Effective dimensionality of a labeled representation (participation ratio of its covariance spectrum)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..backend import to_numpy
from ..errors import NeuroxrWarning
from ..kernels import gram as _g
from ._common import _label, _one_bin
from .gram import _stats_and_ids

__all__ = ["effective_dimensionality"]


def effective_dimensionality(obj: xr.DataArray | xr.Dataset) -> float:
    """Effective dimensionality ``(sum l)^2 / sum l^2`` of the feature covariance eigenvalues ``l``.

    The participation ratio (e.g. Elmoznino & Bonner 2022); computed from the ``n x n``
    column-centred Gram, whose nonzero eigenvalues are those of the covariance up to a factor.

    Parameters
    ----------
    obj : features DataArray (stimulus, unit), neural DataArray (stimulus, neuroid, repeat) or Gram Dataset
        Neural data is trial-averaged first (NaN-mean over repeats), with a
        :class:`~neuroxr.errors.NeuroxrWarning`.

    Returns
    -------
    float
        Between 1 and ``min(n_stimuli - 1, n_units)``.
    """
    _one_bin(obj, "obj", "effective_dimensionality")
    if isinstance(obj, xr.DataArray) and "repeat" in obj.dims:
        warnings.warn(
            "effective_dimensionality: neural data (stimulus, neuroid, repeat); its repeats are averaged (NaN-mean) first.",
            NeuroxrWarning,
            stacklevel=2,
        )
    stats, _, _ = _stats_and_ids(obj, None, _label(obj, "obj"))
    return float(_g.effective_dimensionality(np.asarray(to_numpy(stats.K))))
