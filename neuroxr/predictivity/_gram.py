"""The Gram input of the streamed forward direction: a given or reduced Gram in the canonical
stimulus order, checked against the features, with the design's constancy decided from its statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..alignment import stimulus_ids, to_canonical
from ..backend import resolve_dtype
from ..errors import LayoutError, ParameterError, where
from ..kernels.offsets import check_least_squares, design_eigenvalues, offset_columns, warn_offsets
from ..validation import real_array
from ._inputs import SCALE_NOTE, is_lazy
from ._prepare import float32_cause

__all__ = ["gram_matrix", "check_gram", "check_linear_design"]


def gram_matrix(features: xr.DataArray, gram: Any, order: np.ndarray, keep: np.ndarray,
                caller: str = "", name: str = "features", dtype: Any = None, regressor: Any = None,
                n_folds: int = 10) -> tuple[np.ndarray, bool, Any]:
    """The column-centred Gram of the features (given in the features' own stimulus order, or
    reduced over unit chunks), in the canonical order, kept stimuli only, and whether the features
    are constant there up to rounding (:func:`~neuroxr.kernels.gram.constant_features`). Reduced
    here (lazy features) from the kept stimuli only, so decided per unit as :func:`~neuroxr.predictivity._prepare.check_design`
    decides it in memory; from a given Gram over a subset of its stimuli, by its sums over the units
    (one large unit that varies only at a dropped stimulus can hide the others' variance there: the
    design is then refused where the in-memory one is scored); a bare Gram array: when its trace is
    not positive); and ``constant_on(rows)``, the same rule over a group's stimuli (bool over the kept ones:
    its targets are scored NaN, as :func:`~neuroxr.predictivity._groups.constant_design` decides in memory).
    A given ``gram`` is checked against the features (:func:`check_gram`). The messages start with
    the function called, ``caller``, and name the features ``name``
    (:func:`~neuroxr.predictivity._inputs.named`, with the caller).
    ``regressor='linear'`` on float32 features is refused where it would fit their rounding, from the Gram's
    eigenvalues and statistics (:func:`check_linear_design`; a bare Gram array has no statistics: not judged),
    and so is ``'linear'`` from a Gram held in float32 (its null space is float32's rounding).
    Features whose squares leave the normal range of the fit's ``dtype`` are refused from the Gram's
    statistics (reduced here, or given with them: :func:`~neuroxr.kernels.gram_rows.check_range`, as
    :func:`~neuroxr.predictivity._inputs.load` refuses in-memory features), before any fit."""
    from ..backend import to_numpy
    from ..geometry.gram import gram_stats
    from ..kernels.gram import GramStats, constant_features, gram_dask
    from ..kernels.gram_measures import variance_totals
    from ..kernels.gram_rows import check_range

    n = features.sizes["stimulus"]
    n_units = stats = None
    arg = where(caller) + "gram"
    if gram is None:
        # the features are already in canonical order (float64 as in memory); the statistics of the
        # kept stimuli only, so their constancy is decided per unit there, as check_design decides it
        rows = np.arange(n)[keep]
        data = features.data if rows.size == n else features.data[rows]
        stats = gram_dask(data, dtype="float64", row_pass=False, unit_ids=features.unit_id.values, name=name)
        K, n = stats.K, rows.size
        order, keep = np.arange(n), np.ones(n, dtype=bool)
    elif isinstance(gram, xr.Dataset):  # a labeled Gram (neuroxr.geometry.gram): paired by stimulus_id
        if "K" not in gram or "stimulus_id" not in gram.coords:
            raise LayoutError(f"{arg}: a Gram Dataset needs a variable 'K' and stimulus_id coords (neuroxr.geometry.gram).")
        g = to_canonical(gram)
        if not np.array_equal(stimulus_ids(g), stimulus_ids(features)):
            raise LayoutError(f"{arg}: its stimulus ids are not the features'; compute it from these features "
                              "(neuroxr.geometry.gram(features)).")
        K, order, n_units = g["K"].values, np.arange(n), g.attrs.get("n_units")
        if {"a", "v"} <= set(g) and {"n_units", "mu", "m2"} <= set(g.attrs):
            stats = gram_stats(g)
    else:
        K, n_units = (gram.K, gram.n_units) if isinstance(gram, GramStats) else (gram, None)
        stats = gram if isinstance(gram, GramStats) else None
    K = real_array(to_numpy(K) if hasattr(K, "shape") else K, arg,
                   f"a Gram Dataset (neuroxr.geometry.gram(features)), GramStats or an ({n}, {n}) array", dtype=None)
    exact = K.dtype.kind == "f" and K.dtype.itemsize == 8  # float64 in either byte order ('>f8' != np.float64)
    if not exact and _least_squares(regressor):  # its null space's eigenvalues are its rounding: inverted
        raise ParameterError(
            f"{arg}: it is held in {K.dtype}, whose rounding (about 1e-7 of its largest eigenvalue) regressor='linear' "
            f"would fit along the features' null space (least squares has no penalty to damp it). Pass a float64 Gram "
            f"(gram_dask(..., dtype='float64'), neuroxr.geometry.gram) or regressor='ridge'.")
    K = K.astype(np.float64, copy=False)
    if K.shape != (n, n):
        raise LayoutError(f"{arg}: has shape {K.shape}; the features have {n} stimuli, so it must be ({n}, {n}).")
    if stats is not None:  # squares out of range: the Gram lost them, as every fit on it would
        check_range(stats, name, arg=name.rpartition(": ")[2].partition(" (")[0] or "features", note=SCALE_NOTE,
                    dtype=resolve_dtype(dtype))
    if not np.isfinite(K).all() and gram is not None:
        raise LayoutError(f"{arg}: holds NaN/inf; compute it from finite features (neuroxr.geometry.gram(features)).")
    if not np.isfinite(K).all():
        raise LayoutError(
            f"{name}: the Gram of the (lazy) features is not finite: the features hold NaN/inf or a chunk "
            "missing from the store. Re-extract the layer or drop the bad units."
        )
    if gram is not None:
        check_gram(features, np.diagonal(K)[order], n_units, rtol=1e-6 if exact else 1e-3, name=arg)
    idx = order[keep]
    K = K[np.ix_(idx, idx)]
    if stats is not None and float32_cause(features) is not None:  # the Gram's totals: no read of the features
        totals = variance_totals(stats, rows=idx)
        warn_offsets(name, offset_columns(*totals), "units", "float32")
        if _least_squares_on_float32(regressor, features) and not stats.integral:
            check_least_squares(np.linalg.eigvalsh(K), totals[1], _n_used(idx.size, n_folds, stats.n_units), name)
    def constant_on(rows: np.ndarray) -> bool:
        if stats is None:  # a bare Gram: its trace centred again on the rows
            Ks = K[np.ix_(rows, rows)]
            return not float(np.trace(Ks) - Ks.sum() / Ks.shape[0]) > 0
        return constant_features(stats, rows=idx[rows])

    return K, constant_features(K) if stats is None else constant_features(stats, rows=idx), constant_on


def check_gram(features: xr.DataArray, diag: np.ndarray, n_units: Any = None, rtol: float = 1e-6,
               block_bytes: int = 64 * 2**20, name: str = "gram") -> None:
    """One-line :class:`~neuroxr.errors.LayoutError` unless a given Gram belongs to ``features``:
    its unit count (``n_units``, where the Gram records it) is theirs and, for in-memory features,
    its diagonal ``diag`` (canonical stimulus order) is their column-centred rows' sums of squares
    within ``rtol`` of its largest value (one pass over the features, ``block_bytes`` of units at
    a time). Lazy features are checked by their unit count only: reading them would undo what a
    precomputed Gram saves. ``name``: the Gram as the messages name it (``"forward: gram"``)."""
    p = int(features.sizes["unit"])
    fix = "compute it from these features (neuroxr.geometry.gram(features))"
    if n_units is not None and int(n_units) != p:
        raise LayoutError(f"{name}: it was computed from {int(n_units)} units but the features have {p}; {fix}.")
    if is_lazy(features):
        return
    F = np.asarray(features.transpose("stimulus", "unit").values)
    n = F.shape[0]
    ss = np.zeros(n)
    step = max(1, int(block_bytes // (8 * max(n, 1))))
    for lo in range(0, p, step):
        B = np.asarray(F[:, lo : lo + step], dtype=np.float64)
        B = B - B.mean(axis=0)
        ss += np.einsum("ij,ij->i", B, B)
    scale = max(float(np.max(np.abs(diag), initial=0.0)), float(np.max(ss, initial=0.0)))
    worst = float(np.max(np.abs(ss - diag), initial=0.0))
    if worst > rtol * scale:
        raise LayoutError(
            f"{name}: its diagonal is not the column-centred features' row sums of squares (off by up to "
            f"{worst / scale:.2g} of the largest), so it was computed from other features; {fix}."
        )


def _least_squares(regressor: Any) -> bool:
    return isinstance(regressor, str) and regressor == "linear"


def _least_squares_on_float32(regressor: Any, features: xr.DataArray) -> bool:
    return _least_squares(regressor) and float32_cause(features) == "float32"


def _n_used(n: int, n_folds: int, p: int) -> int:
    """The axes least squares relies on in the smallest training fold of ``n`` stimuli (``n_folds`` folds): its
    centred rank, at most ``n - ceil(n / n_folds) - 1`` and ``p``."""
    return max(0, min(n - -(-n // max(1, int(n_folds))) - 1, int(p)))


def check_linear_design(regressor: Any, features: xr.DataArray, F: np.ndarray, n_folds: int, name: str) -> None:
    """Refuse ``regressor='linear'`` on float32 ``features`` whose design ``F`` (their values in memory, float64,
    the kept stimuli; ``name`` as the messages name them) has axes no larger than float32's rounding (:func:`~neuroxr.kernels.offsets.check_least_squares`;
    the streamed Gram's rule, :func:`gram_matrix`). float32 integers are exact: never refused."""
    if not _least_squares_on_float32(regressor, features) or np.array_equal(F, np.rint(F)):
        return
    check_least_squares(design_eigenvalues(F), float(np.sum(F * F)), _n_used(F.shape[0], n_folds, F.shape[1]), name)
