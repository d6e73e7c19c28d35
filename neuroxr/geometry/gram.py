"""Labeled Gram statistics of a feature array (in memory or dask-backed); no store access.

The numerics live in :mod:`neuroxr.kernels.gram`: the column-centred Gram ``K = Fc Fc^T`` with
the row sums and norms that RDMs, CKA, effective dimensionality and shape distances derive from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..alignment import input_order
from ..backend import asarray, get_namespace, resolve_backend, resolve_dtype, to_numpy
from ..errors import LayoutError
from ..kernels import gram as _g
from ..kernels.gram_measures import variance_totals
from ..kernels.gram_rows import check_range
from ..kernels.offsets import float32_cause, offset_columns, warn_offsets
from ..layouts import validate_features
from ..validation import check_int
from ._common import (
    RDM_DIMS,
    _canonical,
    _columns_as_rows,
    _ids,
    _is_dask,
    _is_neural,
    _named,
    _neural_mean,
    _one_bin,
)

__all__ = ["gram", "gram_stats", "stats_attrs", "stats_variables"]


def gram(
    features: xr.DataArray,
    backend: str | None = None,
    dtype: Any = "float64",
    chunk_size: int | None = None,
    **compute_kwargs: Any,
) -> xr.Dataset:
    """Gram statistics of a feature array, labeled (see :mod:`neuroxr.kernels.gram`).

    A dask-backed array (e.g. ``StudyStore.read_features``) is reduced over its unit chunks in a
    task tree (bounded memory); an in-memory one in one pass (or in ``chunk_size`` unit chunks).

    Parameters
    ----------
    features : xarray.DataArray, dims (stimulus, unit)
    backend : str, optional
        Array backend for the products (``"numpy"``, ``"torch"``, ``"torch_cuda"``, ``"cupy"``).
    dtype : {"float64", "float32"}, default "float64"
    chunk_size : int, optional
        Unit chunk size for in-memory arrays.
    **compute_kwargs
        Passed to ``dask.compute`` for dask-backed features (e.g. ``scheduler="threads"``).

    Returns
    -------
    xarray.Dataset
        ``K`` (stimulus, stimulus_): column-centred Gram; ``a``, ``v`` (stimulus); the constant
        units' squares and centred squares per stimulus ``q``, ``qc`` (stimulus); attrs
        ``n_units``, ``mu``, ``m2``, ``n_varying`` (the units that vary, each decided up to
        rounding on its own squares), ``trace`` (of ``K``), ``integral`` (1: integer features)
        and, where integral, ``max_abs``; ``stimulus_id`` on both stimulus dims. Where correlation / cosine RDMs need
        it (stimuli with large offsets, :mod:`neuroxr.kernels.gram_rows`), also the row pass:
        ``Kr`` (stimulus, stimulus_), ``ar`` and ``r`` (stimulus); where Euclidean RDMs need it
        (stimulus pairs close together against their distance from the mean,
        :mod:`neuroxr.kernels.gram_pairs`), the pair pass ``D2`` (stimulus, stimulus_): those
        pairs' squared distances, NaN for the others.
    """
    resolve_backend(backend, "gram")
    resolve_dtype(dtype, "gram")  # refused naming the function, before the data is read
    if chunk_size is not None:  # 2.5 failed deep inside with Python's TypeError
        chunk_size = check_int(chunk_size, "chunk_size", 1, "The units per chunk, e.g. chunk_size=4096, or None.", caller="gram")
    # computed in canonical stimulus order, handed back in the input's: permuting the stimuli changes no bit
    if _is_neural(features):  # (the layout check said to rename its dims)
        raise LayoutError(f"gram: {_named(features, 'features')}: dims {tuple(features.dims)} are neural data; the Gram takes features "
                          "(stimulus, unit): average the repeats first, e.g. nx.features(x.mean('repeat').values, "
                          "stimulus_id=x.stimulus_id.values), or pass the responses to cka / rdm, which average them.")
    canonical = _canonical(features)
    stats = _feature_stats(canonical, backend, dtype, chunk_size, name="gram: " + _named(features, "features"), **compute_kwargs)
    ids = _ids(canonical)
    ds = xr.Dataset(
        stats_variables(stats),
        coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
        attrs=stats_attrs(stats),
    )
    if (back := input_order(_ids(features))) is not None:
        ds = ds.isel(stimulus=back, stimulus_=back)
    for key in ("model", "layer"):
        if key in features.coords and features.coords[key].ndim == 0:
            ds.attrs[key] = str(features.coords[key].item())
    return ds


def _feature_stats(features: xr.DataArray, backend: str | None, dtype: Any = "float64", chunk_size: int | None = None,
                   row_pass: bool = True, name: str | None = None, **compute_kwargs: Any) -> _g.GramStats:
    """:class:`~neuroxr.kernels.gram.GramStats` of a feature array, checked (:func:`gram`'s
    statistics before they are labeled; a dask-backed array reduced over its unit chunks);
    ``row_pass=False`` for callers of ``K`` only; ``name`` names it in the errors (default:
    :func:`gram`'s argument, ``features``)."""
    name = name or _named(features, "features")
    validate_features(features, name=name)
    if _is_dask(features):
        stats = _g.gram_dask(features.data, backend=backend, dtype=dtype, row_pass=row_pass,
                             unit_ids=features.unit_id.values, name=name, **compute_kwargs)
    else:
        # C order: the products sum in the order and memory layout they are given, so features in Fortran
        # order (e.g. transposed from (unit, stimulus)) gave other last bits than the same values in C order
        stats = _g.gram(asarray(np.ascontiguousarray(features.values), backend=backend, dtype=dtype), chunk_size=chunk_size,
                        row_pass=row_pass)
    cause = float32_cause(features, dtype)
    if cause is not None:  # from the statistics' totals: no read of the features
        warn_offsets(name, offset_columns(*variance_totals(stats)), "units", cause)
    return stats


def stats_variables(stats: _g.GramStats) -> dict[str, Any]:
    """The arrays of ``stats`` as a Gram Dataset's variables: ``K``, ``a``, ``v``, the constant units'
    ``q``, ``qc`` (where known) and, where the row pass ran, ``Kr``, ``ar``, ``r``; where the pair
    pass did, ``D2``."""
    out = {"K": (RDM_DIMS, to_numpy(stats.K)), "a": (("stimulus",), to_numpy(stats.a)), "v": (("stimulus",), to_numpy(stats.v))}
    if stats.q is not None:
        out.update({"q": (("stimulus",), to_numpy(stats.q)), "qc": (("stimulus",), to_numpy(stats.qc))})
    if stats.Kr is not None:
        out.update({"Kr": (RDM_DIMS, to_numpy(stats.Kr)), "ar": (("stimulus",), to_numpy(stats.ar)),
                    "r": (("stimulus",), to_numpy(stats.r))})
    if stats.D2 is not None:
        out["D2"] = (RDM_DIMS, to_numpy(stats.D2))
    return out


def stats_attrs(stats: _g.GramStats) -> dict[str, Any]:
    """The scalar statistics of ``stats`` as a Gram Dataset's attrs (``max_abs`` only where the
    features are integral: an attribute is never inf; with it ``trace``, the trace of ``K``, so a
    Gram changed after it was made, e.g. scaled, which keeps its attrs, is not taken as integral;
    ``trace`` is written for every Gram, as the check of ``n_varying``, the units that vary)."""
    out: dict[str, Any] = {"n_units": int(stats.n_units), "mu": float(stats.mu), "m2": float(stats.m2), "kind": "gram",
                           "integral": int(bool(stats.integral))}
    xp = get_namespace(stats.K)
    out["trace"] = float(xp.sum(xp.linalg.diagonal(stats.K)))
    if stats.integral:
        out["max_abs"] = float(stats.max_abs)
    if stats.n_varying is not None:
        out["n_varying"] = int(stats.n_varying)
    return out


def gram_stats(ds: xr.Dataset, backend: str | None = None, dtype: Any = "float64", name: str = "gram_stats") -> _g.GramStats:
    """:class:`~neuroxr.kernels.gram.GramStats` of a Gram Dataset from :func:`gram`.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`gram` (variable ``K``, dims (stimulus, stimulus_)).
    backend : str, optional
    dtype : {"float64", "float32"}, default "float64"
        As in :func:`gram`.
    name : str, default "gram_stats"
        The caller and argument, as the refusals name them (e.g. ``"cka: a (G)"``).
    """
    resolve_backend(backend, "gram_stats")
    resolve_dtype(dtype, "gram_stats")
    if not isinstance(ds, xr.Dataset) or "K" not in ds:
        raise LayoutError(f"{name}: expected a Gram Dataset (from neuroxr.geometry.gram) with a variable 'K'.")
    lacks = [k for k in ("a", "v") if k not in ds] + [f"attr {k!r}" for k in ("n_units",) if k not in ds.attrs]
    if lacks:  # e.g. G[["K"]]: the kernel alone holds no unit means or variances
        raise LayoutError(f"{name}: the Gram Dataset lacks {', '.join(map(str, lacks))} (its unit means and variances); "
                          "pass the whole Dataset that neuroxr.geometry.gram returns, not a selection of its variables.")
    K = ds["K"].values
    # a Gram written without these attrs (before they existed) reads as not integral; one computed in
    # a lower precision than read carries that precision's rounding, which exact RDMs do not allow for
    integral = bool(ds.attrs.get("integral", 0)) and "max_abs" in ds.attrs and "trace" in ds.attrs
    if integral and np.dtype(K.dtype).itemsize < resolve_dtype(dtype).itemsize:
        integral = False
    if integral:  # K is the one the attrs describe (xarray keeps attrs through arithmetic on the Dataset)
        integral = _trace_matches(ds, K)
    rows = {k: asarray(ds[k].values, backend=backend, dtype=dtype) for k in ("Kr", "ar", "r")} if "Kr" in ds else {}
    if "D2" in ds:
        rows["D2"] = asarray(ds["D2"].values, backend=backend, dtype=dtype)
    # the units' constancy, where recorded for this K (a Gram changed or subset since keeps its attrs)
    if "n_varying" in ds.attrs and {"q", "qc"} <= set(ds) and "trace" in ds.attrs and _trace_matches(ds, K):
        rows.update(n_varying=int(ds.attrs["n_varying"]),
                    **{k: asarray(ds[k].values, backend=backend, dtype=dtype) for k in ("q", "qc")})
    return _g.GramStats(
        K=asarray(K, backend=backend, dtype=dtype),
        a=asarray(ds["a"].values, backend=backend, dtype=dtype),
        v=asarray(ds["v"].values, backend=backend, dtype=dtype),
        n_units=int(ds.attrs["n_units"]),
        mu=float(ds.attrs["mu"]),
        m2=float(ds.attrs["m2"]),
        max_abs=float(ds.attrs["max_abs"]) if integral else float("inf"),
        **rows,
    )


def _stats_and_ids(obj: Any, backend: str | None, name: str, row_pass: bool = True) -> tuple[_g.GramStats, np.ndarray, str]:
    """Gram statistics, stimulus ids and the input kind of features, neural data or a Gram Dataset
    (``row_pass=False``: no row pass for callers of ``K`` only, :func:`neuroxr.kernels.gram.gram`).

    Neural data ``(stimulus, neuroid, repeat)`` is NaN-averaged over repeats first (neuroids that
    lack a stimulus are dropped with a :class:`~neuroxr.errors.NeuroxrWarning`); time-resolved
    data (a ``time_bin`` dim) is refused with a ``LayoutError``, once on each path (neural data
    by :func:`~neuroxr.geometry._common._neural_mean`). Neural data a metric checked in this call
    (a :class:`~neuroxr.geometry._common._Checked`) is not checked again. Features whose squares leave
    the dtype's normal range are refused in one line (:func:`~neuroxr.kernels.gram_rows.check_range`).
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # out of range: refused in one line, not NumPy's notes
        stats, ids, kind = _stats_ids_kind(obj, backend, name, row_pass)
        check_range(stats, name)  # squares out of range: refused, as every measure of the Gram loses them
    return stats, ids, kind


def _stats_ids_kind(obj: Any, backend: str | None, name: str, row_pass: bool) -> tuple[_g.GramStats, np.ndarray, str]:
    if _is_neural(obj):
        m = _neural_mean(obj, name=name)
        F = np.ascontiguousarray(m.transpose("stimulus", "neuroid").values)  # one memory layout (as features above)
        stats, ids, kind = _g.gram(asarray(F, backend=backend), row_pass=row_pass), _ids(m), "neural"
    elif isinstance(obj, (xr.Dataset, xr.DataArray)):
        _one_bin(obj, name)
        if isinstance(obj, xr.Dataset):
            obj = _columns_as_rows(obj, name)  # a Gram reordered on one axis stays paired
            stats, ids, kind = gram_stats(obj, backend=backend, name=name), _ids(obj), "gram"
        else:
            if "stimulus_" in obj.dims:  # an RDM, or a Gram Dataset's K, read as features said to rename its dims
                raise LayoutError(
                    f"{name}: dims {tuple(obj.dims)} are an RDM or a Gram's K, not a representation; pass the features "
                    "(stimulus, unit) or responses (stimulus, neuroid, repeat) it was computed from, or the whole Gram "
                    "Dataset (nx.gram(features)); compare RDMs with compare_rdms."
                )
            if "neuroid" in obj.dims:  # neural data without its repeat dim
                raise LayoutError(
                    f"{name}: dims {tuple(obj.dims)} are neither features (stimulus, unit) nor neural data (stimulus, neuroid, "
                    "repeat); give trial-averaged responses their repeat dim (da.expand_dims('repeat', axis=-1) or "
                    "nx.neural(da)), or pass them as features (nx.features)."
                )
            # the statistics in hand, not via a Gram Dataset
            stats, ids, kind = _feature_stats(obj, backend, row_pass=row_pass, name=name), _ids(obj), "features"
    else:
        raise LayoutError(
            f"{name}: expected features (stimulus, unit), neural data (stimulus, neuroid, repeat) or a Gram Dataset; "
            f"got {type(obj).__name__}. Label an array first, e.g. nx.features(values, stimulus_id=...)."
        )
    return stats, ids, kind


def _trace_matches(ds: xr.Dataset, K: np.ndarray) -> bool:
    """Whether ``K`` is the Gram ds's attrs describe: its trace their ``trace`` (relative 1e-9,
    float32: 1e-4); a Gram changed or subset since keeps its attrs."""
    xp = get_namespace(K)  # K on any backend (the global one: torch, CuPy)
    rtol = 1e-9 if xp.isdtype(K.dtype, xp.float64) else 1e-4
    return bool(np.isclose(float(xp.sum(xp.linalg.diagonal(K))), float(ds.attrs["trace"]), rtol=rtol, atol=0.0))
