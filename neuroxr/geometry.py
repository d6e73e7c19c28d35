"""Representational geometry on labeled arrays: Gram cache, RDMs, cRSA/eRSA/eReg, CKA, dimensionality, shape metrics.

Inputs follow neuroxr's layouts (features ``stimulus x unit``, neural ``stimulus x neuroid x
repeat``, see :mod:`neuroxr.layouts`); two objects are always paired by ``stimulus_id``. The
numerics live in :mod:`neuroxr.kernels.gram`, :mod:`neuroxr.kernels.rdm` and
:mod:`neuroxr.kernels.shape`; this module adds names, coordinates, alignment, parameters in
``attrs`` and the study-store cache.

RDMs are ``DataArray`` objects with dims ``(stimulus, stimulus_)``; the first dim carries
``stimulus_id``, the second ``stimulus_id_`` (the same ids).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator

from .backend import asarray, to_numpy
from .kernels import gram as _g
from .kernels import rdm as _r
from .kernels import shape as _s
from .layouts import LayoutError, align, validate_features, validate_neural

__all__ = [
    "RDM_DIMS",
    "gram",
    "gram_stats",
    "cached_gram",
    "rdm",
    "split_half_rdms",
    "compare_rdms",
    "compare_rdms_many",
    "rdm_noise_ceiling",
    "split_half_rdm_ceiling",
    "crsa",
    "ersa",
    "ereg",
    "cka",
    "effective_dimensionality",
    "store_cka",
    "store_dimensionality",
    "LinearMetric",
    "pairwise_distances",
    "procrustes_average",
]

RDM_DIMS = ("stimulus", "stimulus_")
GRAM_PATH = "cache/gram/{model}/{layer}"


# ============================================================================ helpers
def _check_option(value: Any, allowed: Sequence[str], param: str, caller: str) -> str:
    return _r.check_option(value, tuple(allowed), param, caller)


def _is_dask(da: xr.DataArray) -> bool:
    try:
        import dask.array as dska
    except ImportError:  # pragma: no cover
        return False
    return isinstance(da.data, dska.Array)


def _ids(da: xr.DataArray | xr.Dataset) -> np.ndarray:
    return np.asarray(da.coords["stimulus_id"].values).astype(str)


def _label(da: Any, default: str) -> str:
    if isinstance(da, (xr.DataArray, xr.Dataset)):
        model = da.coords["model"].item() if "model" in da.coords and da.coords["model"].ndim == 0 else da.attrs.get("model")
        layer = da.coords["layer"].item() if "layer" in da.coords and da.coords["layer"].ndim == 0 else da.attrs.get("layer")
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


def _neural_mean(neural: xr.DataArray, name: str = "neural") -> xr.DataArray:
    """NaN-mean over repeats as a ``stimulus x neuroid`` array; neuroids without data on some stimulus dropped."""
    validate_neural(neural, name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = neural.mean("repeat", skipna=True)
    m = m.compute() if _is_dask(m) else m
    bad = np.isnan(m.values).any(axis=0)
    if bad.all():
        raise LayoutError(f"{name}: every neuroid lacks trials for some stimulus; no trial average can be formed.")
    if bad.any():
        warnings.warn(
            f"{name}: {int(bad.sum())} neuroids have no trial for some stimulus and are left out of the RDM.",
            stacklevel=3,
        )
        m = m.isel(neuroid=~bad)
    return m


def _split_halves(neural: xr.DataArray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two split-half NaN-means ``(n, k)``: one permutation of the repeats, first ceil(T/2) vs the rest
    (the directions' ``split="slots"`` halves, from :mod:`neuroxr.kernels.splits`)."""
    from .kernels.splits import draw_permutation, split_means

    R = np.asarray(neural.values, dtype=np.float64)
    h1, h2 = split_means(R, draw_permutation(rng, R.shape[2])[None], "slots")
    return h1[0], h2[0]


def _require_repeats(neural: xr.DataArray, what: str) -> None:
    if neural.sizes["repeat"] < 2:
        raise LayoutError(
            f"{what}: the neural data has {neural.sizes['repeat']} repeat (trial-averaged data); a split-half "
            "noise ceiling needs at least 2 repeats per stimulus. Pass data with repeats, or ceiling=False."
        )


# ============================================================================ Gram
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
    dtype : {"float64", "float32"}
    chunk_size : int, optional
        Unit chunk size for in-memory arrays.
    **compute_kwargs
        Passed to ``dask.compute`` for dask-backed features (e.g. ``scheduler="threads"``).

    Returns
    -------
    xarray.Dataset
        ``K`` (stimulus, stimulus_): column-centred Gram; ``a``, ``v`` (stimulus); attrs
        ``n_units``, ``mu``, ``m2``; ``stimulus_id`` on both stimulus dims.
    """
    validate_features(features, name=_label(features, "features"))
    if _is_dask(features):
        stats = _g.gram_dask(features.data, backend=backend, dtype=dtype, **compute_kwargs)
    else:
        stats = _g.gram(asarray(features.values, backend=backend, dtype=dtype), chunk_size=chunk_size)
    ids = _ids(features)
    ds = xr.Dataset(
        {
            "K": (RDM_DIMS, to_numpy(stats.K)),
            "a": (("stimulus",), to_numpy(stats.a)),
            "v": (("stimulus",), to_numpy(stats.v)),
        },
        coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
        attrs={"n_units": int(stats.n_units), "mu": float(stats.mu), "m2": float(stats.m2), "kind": "gram"},
    )
    for key in ("model", "layer"):
        if key in features.coords and features.coords[key].ndim == 0:
            ds.attrs[key] = str(features.coords[key].item())
    return ds


def gram_stats(ds: xr.Dataset, backend: str | None = None, dtype: Any = "float64") -> _g.GramStats:
    """:class:`~neuroxr.kernels.gram.GramStats` from a Gram Dataset (:func:`gram`, :func:`cached_gram`)."""
    if not isinstance(ds, xr.Dataset) or "K" not in ds:
        raise LayoutError("expected a Gram Dataset (from neuroxr.geometry.gram or cached_gram) with a variable 'K'.")
    return _g.GramStats(
        K=asarray(ds["K"].values, backend=backend, dtype=dtype),
        a=asarray(ds["a"].values, backend=backend, dtype=dtype),
        v=asarray(ds["v"].values, backend=backend, dtype=dtype),
        n_units=int(ds.attrs["n_units"]),
        mu=float(ds.attrs["mu"]),
        m2=float(ds.attrs["m2"]),
    )


def cached_gram(store: Any, model: str, layer: str, recompute: bool = False, **kwargs: Any) -> xr.Dataset:
    """The Gram of ``(model, layer)`` from the store's cache, computing and caching it if absent.

    The entry ``cache/gram/<model>/<layer>`` is written atomically (data, then completion marker);
    rewriting the layer's features invalidates it.

    Parameters
    ----------
    store : neuroxr.StudyStore
    model, layer : str
    recompute : bool
        Ignore (and overwrite) a cached entry.
    **kwargs
        Passed to :func:`gram` (backend, dtype, dask compute options).

    Returns
    -------
    xarray.Dataset (loaded into memory)
    """
    path = GRAM_PATH.format(model=model, layer=layer)
    if not recompute and store.is_complete(path):
        return store.read_dataset(path).load()
    ds = gram(store.read_features(model, layer), **kwargs)
    ds.attrs.update({"model": str(model), "layer": str(layer)})
    if store.mode != "r":
        store.write_dataset(path, ds)
    return ds


def _stats_and_ids(obj: Any, backend: str | None, name: str) -> tuple[_g.GramStats, np.ndarray, str]:
    if isinstance(obj, xr.Dataset):
        return gram_stats(obj, backend=backend), _ids(obj), "gram"
    if isinstance(obj, xr.DataArray):
        if "repeat" in obj.dims:
            m = _neural_mean(obj, name=name)
            F = m.transpose("stimulus", "neuroid").values
            return _g.gram(asarray(F, backend=backend)), _ids(m), "neural"
        return gram_stats(gram(obj, backend=backend), backend=backend), _ids(obj), "features"
    raise LayoutError(
        f"{name}: expected features (stimulus, unit), neural data (stimulus, neuroid, repeat) or a Gram Dataset; "
        f"got {type(obj).__name__}."
    )


# ============================================================================ RDMs
def rdm(obj: xr.DataArray | xr.Dataset, method: str = "correlation", backend: str | None = None) -> xr.DataArray:
    """Representational dissimilarity matrix of the stimuli.

    Parameters
    ----------
    obj : DataArray or Dataset
        Features ``(stimulus, unit)`` (dask-backed ones stream their unit chunks), neural data
        ``(stimulus, neuroid, repeat)`` (trial-averaged with a NaN-mean first; neuroids lacking
        any stimulus are dropped with a warning), or a Gram Dataset from :func:`gram`.
    method : {"correlation", "cosine", "euclidean", "sqeuclidean"}
        ``correlation`` = 1 - Pearson across units; see :mod:`neuroxr.kernels.rdm`.
    backend : str, optional

    Returns
    -------
    xarray.DataArray, dims (stimulus, stimulus_)
        Coords ``stimulus_id`` / ``stimulus_id_``; attrs ``method``, ``source``.
    """
    _check_option(method, _r.RDM_METHODS, "method", "rdm")
    stats, ids, kind = _stats_and_ids(obj, backend, _label(obj, "rdm input"))
    # a Gram computed here is not seen by the caller: the RDM may take over its memory
    D = _r._rdm_from_gram(stats, method, overwrite=kind != "gram")
    return _rdm_da(D, ids, "rdm", {"method": method, "source": kind, "label": _label(obj, kind)})


def split_half_rdms(
    neural: xr.DataArray, method: str = "correlation", seed: int = 0, n_reps: int = 1
) -> xr.DataArray:
    """RDMs of split halves of the repeats, ``n_reps`` independent splits.

    Each rep permutes the repeat axis with ``numpy.random.default_rng(seed)`` (one Generator for
    all reps) and NaN-averages the first ``ceil(T/2)`` and the remaining repeats.

    Returns
    -------
    xarray.DataArray, dims (rep, half, stimulus, stimulus_)
    """
    _check_option(method, _r.RDM_METHODS, "method", "split_half_rdms")
    validate_neural(neural)
    _require_repeats(neural, "split_half_rdms")
    neural = neural.compute() if _is_dask(neural) else neural
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_reps):
        h1, h2 = _split_halves(neural, rng)
        ok = ~(np.isnan(h1).any(0) | np.isnan(h2).any(0))
        if not ok.any():
            raise LayoutError("split_half_rdms: no neuroid has a trial for every stimulus in both halves.")
        out.append([to_numpy(_r.rdm(h[:, ok], method)) for h in (h1, h2)])
    ids = _ids(neural)
    return xr.DataArray(
        np.asarray(out),
        dims=("rep", "half", *RDM_DIMS),
        coords={"rep": np.arange(n_reps), "half": [1, 2], "stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
        name="split_half_rdms",
        attrs={"method": method, "seed": seed},
    )


def _align_rdm(ref: xr.DataArray, other: xr.DataArray, names: tuple[str, str]) -> xr.DataArray:
    for d, nm in ((ref, names[0]), (other, names[1])):
        if tuple(d.dims[-2:]) != RDM_DIMS:
            raise LayoutError(f"{nm}: an RDM needs dims {RDM_DIMS} (last two); found {d.dims}.")
    _, o = align(ref, other, names=names)
    order = np.asarray(o["stimulus_id"].values).astype(str)
    cols = np.asarray(o["stimulus_id_"].values).astype(str)
    if np.array_equal(cols, order):  # already paired: no reindexing copy
        return o
    idx = {s: i for i, s in enumerate(cols)}
    return o.isel(stimulus_=[idx[s] for s in order])


def compare_rdms(
    a: xr.DataArray, b: xr.DataArray, method: str | Sequence[str] = "spearman"
) -> float | xr.DataArray:
    """Similarity of two labeled RDMs on the upper triangle, after pairing them by ``stimulus_id``.

    Parameters
    ----------
    a, b : xarray.DataArray, dims (stimulus, stimulus_)
    method : str or sequence of str
        ``"pearson"``, ``"spearman"``, ``"kendall"`` (Kendall's tau-a) or ``"cosine"``. A sequence
        computes several in one call: the triangles are extracted once and Spearman and Kendall
        share one sort of each RDM.

    Returns
    -------
    float, or xarray.DataArray, dims (comparison,)
        A float for one method given as a string; for a sequence, the similarities with coord
        ``comparison`` = the canonical method names in the order given (select with
        ``res.sel(comparison="kendall")``; a dim named ``method`` would clash with ``sel``'s own
        ``method`` argument).
    """
    methods = _r.normalize_compare_methods(method, "compare_rdms")
    b = _align_rdm(a, b, ("a", "b"))
    res = _r.compare_rdms(np.asarray(a.values), np.asarray(b.values), list(methods))
    if isinstance(method, str):
        return res[methods[0]]
    return xr.DataArray(
        np.asarray([res[m] for m in methods], dtype=float),
        dims=("comparison",),
        coords={"comparison": list(methods)},
        name="rdm_similarity",
        attrs={"a": str(a.attrs.get("label", _label(a, "a"))), "b": str(b.attrs.get("label", _label(b, "b")))},
    )


def _stack_rdms(x: Any, name: str) -> xr.DataArray:
    if isinstance(x, xr.DataArray) and x.ndim == 3:
        return x
    if isinstance(x, xr.DataArray):
        x = [x]
    items = list(x)
    if not items:
        raise ValueError(f"{name}: no RDMs given.")
    ref = items[0]
    rows = [ref] + [_align_rdm(ref, it, (f"{name}[0]", f"{name}[{i}]")) for i, it in enumerate(items[1:], 1)]
    labels = [str(it.attrs.get("label", it.name if it.name else i)) for i, it in enumerate(items)]
    if len(set(labels)) < len(labels):
        labels = [f"{lb}#{i}" for i, lb in enumerate(labels)]
    return xr.concat([r.drop_attrs() if hasattr(r, "drop_attrs") else r for r in rows], dim="rdm").assign_coords(rdm=labels)


def compare_rdms_many(a: Any, b: Any, method: str = "spearman") -> xr.DataArray:
    """Compare many RDMs with many RDMs in one batched operation.

    Parameters
    ----------
    a, b : list of RDM DataArrays, or a stacked DataArray (rdm, stimulus, stimulus_)
        All paired by ``stimulus_id`` to the first RDM of ``a``.
    method : {"pearson", "spearman", "kendall", "cosine"}

    Returns
    -------
    xarray.DataArray, dims (rdm_a, rdm_b)
    """
    method = _r._normalize_compare_method(method, "compare_rdms_many")
    A = _stack_rdms(a, "a")
    B = _stack_rdms(b, "b")
    ref = A.isel({A.dims[0]: 0})
    B = _align_rdm(ref, B.transpose(B.dims[0], *RDM_DIMS), ("a", "b"))
    M = _r.compare_rdms_many(np.asarray(A.values), np.asarray(B.values), method)
    return xr.DataArray(
        to_numpy(M),
        dims=("rdm_a", "rdm_b"),
        coords={"rdm_a": A[A.dims[0]].values, "rdm_b": B[B.dims[0]].values},
        name="rdm_similarity",
        attrs={"method": method},
    )


def _pool(V: np.ndarray, method: str) -> np.ndarray:
    """Average of RDM vectors after the transform that ``method`` ignores (Nili et al. 2014).

    Ranks for Spearman/Kendall (their plain mean, so that tied means stay exactly tied), z-scores
    for Pearson, unit norm for cosine.
    """
    if method in ("spearman", "kendall"):
        return to_numpy(_r.rank_vectors(V)).mean(0)
    if method == "pearson":
        V = V - V.mean(1, keepdims=True)
    nrm = np.linalg.norm(V, axis=1, keepdims=True)
    return (V / np.where(nrm > 0, nrm, 1)).mean(0)


def rdm_noise_ceiling(rdms: Any, method: str = "spearman") -> xr.Dataset:
    """Lower and upper bounds of the noise ceiling of a set of subject RDMs (Nili et al. 2014).

    Upper bound: each subject's RDM vs the average of all subjects' RDMs; lower bound: each vs the
    average of the others (leave one subject out). Averages are taken after the transform that
    the comparison ignores (ranks for Spearman/Kendall, z-scores for Pearson, unit norm for
    cosine), as rsatoolbox does.

    Parameters
    ----------
    rdms : list of RDM DataArrays, stacked DataArray (subject, stimulus, stimulus_), or array (m, n, n) / (m, P)
    method : {"pearson", "spearman", "kendall", "cosine"}

    Returns
    -------
    xarray.Dataset
        ``lower``, ``upper`` (scalars, means over subjects) and ``lower_per_subject``,
        ``upper_per_subject`` (subject).
    """
    method = _r._normalize_compare_method(method, "rdm_noise_ceiling")
    if isinstance(rdms, np.ndarray):
        V = rdms if rdms.ndim == 2 else to_numpy(_r.upper_tri(rdms))
        labels = np.arange(V.shape[0])
    else:
        S = _stack_rdms(rdms, "rdms")
        V = to_numpy(_r.upper_tri(np.asarray(S.values)))
        labels = S[S.dims[0]].values
    m = V.shape[0]
    if m < 2:
        raise ValueError(f"rdm_noise_ceiling needs at least 2 subject RDMs; got {m}.")
    upper = to_numpy(_r.compare_rdms_many(V, _pool(V, method)[None, :], method))[:, 0]
    lower = np.array(
        [float(to_numpy(_r.compare_rdms_many(V[i : i + 1], _pool(np.delete(V, i, 0), method)[None, :], method))[0, 0]) for i in range(m)]
    )
    return xr.Dataset(
        {
            "lower": ((), float(np.mean(lower))),
            "upper": ((), float(np.mean(upper))),
            "lower_per_subject": (("subject",), lower),
            "upper_per_subject": (("subject",), upper),
        },
        coords={"subject": labels},
        attrs={"method": method, "reference": "Nili et al. 2014"},
    )


def split_half_rdm_ceiling(
    neural: xr.DataArray,
    rdm_method: str = "correlation",
    compare_method: str = "spearman",
    seed: int = 0,
    n_reps: int = 10,
    spearman_brown: bool = True,
) -> xr.Dataset:
    """Reliability of the neural RDM from split halves of the repeats.

    Per rep: RDM of half 1 vs RDM of half 2 (``compare_method``), Spearman-Brown corrected
    (``2 r / (1 + r)``) to the full number of repeats when ``spearman_brown``; the ceiling is the
    mean over reps.

    Returns
    -------
    xarray.Dataset
        ``ceiling`` (scalar) and ``ceiling_per_rep`` (rep), attrs with all parameters.
    """
    compare_method = _r._normalize_compare_method(compare_method, "split_half_rdm_ceiling")
    H = split_half_rdms(neural, rdm_method, seed=seed, n_reps=n_reps)
    r = np.array(
        [_r.compare_rdms(H.values[i, 0], H.values[i, 1], compare_method) for i in range(n_reps)], dtype=float
    )
    if spearman_brown:
        r = 2 * r / (1 + r)
    return xr.Dataset(
        {"ceiling": ((), float(np.nanmean(r))), "ceiling_per_rep": (("rep",), r)},
        coords={"rep": np.arange(n_reps)},
        attrs={"rdm_method": rdm_method, "compare_method": compare_method, "seed": seed, "n_reps": n_reps, "spearman_brown": int(spearman_brown)},
    )


# ============================================================================ cRSA / eRSA / eReg
def _score_ds(values: Mapping[str, Any], attrs: Mapping[str, Any], coords: Mapping[str, Any] | None = None) -> xr.Dataset:
    from . import __version__

    ds = xr.Dataset({k: v if isinstance(v, tuple) else ((), float(v)) for k, v in values.items()}, coords=coords or {})
    ds.attrs.update({**attrs, "neuroxr_version": __version__})
    return ds


def crsa(
    features: xr.DataArray | xr.Dataset,
    neural: xr.DataArray,
    rdm_method: str = "correlation",
    compare_method: str = "spearman",
    ceiling: bool = True,
    seed: int = 0,
    n_reps: int = 10,
    backend: str | None = None,
) -> xr.Dataset:
    """Classical RSA: the model RDM compared with the neural RDM (trial-averaged).

    Parameters
    ----------
    features : features DataArray (stimulus, unit) or a Gram Dataset
    neural : DataArray (stimulus, neuroid, repeat)
        Paired with ``features`` by ``stimulus_id``.
    rdm_method : {"correlation", "cosine", "euclidean", "sqeuclidean"}
    compare_method : {"pearson", "spearman", "kendall", "cosine"}
    ceiling : bool
        Also report the split-half ceiling of the neural RDM (needs >= 2 repeats) and the
        ceiled score ``score / ceiling``.
    seed, n_reps : int
        Split halves of the ceiling.

    Returns
    -------
    xarray.Dataset
        ``score`` (and ``ceiling``, ``ceiled_score``); attrs record every parameter.
    """
    _check_option(rdm_method, _r.RDM_METHODS, "rdm_method", "crsa")
    compare_method = _r._normalize_compare_method(compare_method, "crsa")
    model_rdm = rdm(features, rdm_method, backend=backend)
    neural_rdm = rdm(neural, rdm_method, backend=backend)
    score = compare_rdms(neural_rdm, model_rdm, compare_method)
    values: dict[str, Any] = {"score": score}
    if ceiling:
        c = split_half_rdm_ceiling(neural, rdm_method, compare_method, seed=seed, n_reps=n_reps)
        values["ceiling"] = float(c["ceiling"])
        values["ceiled_score"] = score / float(c["ceiling"])
    attrs = {
        "direction": "crsa", "rdm_method": rdm_method, "compare_method": compare_method, "ceiling": int(ceiling),
        "seed": seed, "n_reps": n_reps, "n_stimuli": int(neural_rdm.sizes["stimulus"]),
        "source": _label(features, "model"), "target": _label(neural, "neural"),
    }
    return _score_ds(values, attrs)


def _ridge_fit_predict(Xtr: np.ndarray, Ytr: np.ndarray, Xte: np.ndarray, alpha: float) -> np.ndarray:
    """sklearn ``Ridge(alpha, fit_intercept=True)`` fitted on ``(Xtr, Ytr)``, predicting ``Xte``."""
    mx, my = Xtr.mean(0), Ytr.mean(0)
    Xc, Yc = Xtr - mx, Ytr - my
    n, p = Xc.shape
    if p <= n:
        W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(p), Xc.T @ Yc)
        return (Xte - mx) @ W + my
    A = np.linalg.solve(Xc @ Xc.T + alpha * np.eye(n), Yc)
    return (Xte - mx) @ (Xc.T @ A) + my


def _oof(X: np.ndarray, Y: np.ndarray, alpha: float, n_folds: int, fold_seed: int) -> np.ndarray:
    from .kernels.folds import kfold_indices
    from .kernels.ridge import oof_predict

    folds = kfold_indices(X.shape[0], n_folds=n_folds, seed=fold_seed)
    return to_numpy(oof_predict(X, Y, folds, alpha=alpha))


def _paired_arrays(features: xr.DataArray, neural: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    validate_features(features, name=_label(features, "features"))
    m = _neural_mean(neural, name=_label(neural, "neural"))
    m, f = align(m, features, names=("neural", "features"))
    return np.asarray(f.values, dtype=np.float64), np.asarray(m.transpose("stimulus", "neuroid").values, dtype=np.float64), _ids(m)


def _train_test(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must lie in (0, 1); got {test_size}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_size))
    if n_test < 3 or n - n_test < 3:
        raise ValueError(f"too few stimuli ({n}) for a train/test split with test_size={test_size}: each side needs at least 3.")
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def ersa(
    features: xr.DataArray,
    neural: xr.DataArray,
    rdm_method: str = "correlation",
    compare_method: str = "spearman",
    alpha: float = 0.1,
    n_folds: int = 10,
    fold_seed: int = 0,
    test_size: float = 0.5,
    seed: int = 0,
) -> xr.Dataset:
    """Encoding RSA (feature-reweighted RSA): RDM of encoding-model predictions vs the neural RDM.

    The stimuli are split into train and test sets (``default_rng(seed)``, ``test_size``). A ridge
    encoding model (sklearn-equivalent ``Ridge(alpha)``) maps features to the trial-averaged
    responses of every neuroid:

    - **train**: predictions are out-of-fold within the training stimuli (``n_folds`` folds,
      ``fold_seed``), so no training stimulus is predicted by a model that saw it;
    - **test**: the model fitted on all training stimuli predicts the held-out test stimuli.

    On each set, the RDM of the predicted responses is compared with the neural RDM of the same
    stimuli. Layer selection should use ``train_score`` (never ``test_score``).

    Returns
    -------
    xarray.Dataset
        ``train_score``, ``test_score``; ``split`` coord per stimulus; attrs with all parameters.
    """
    _check_option(rdm_method, _r.RDM_METHODS, "rdm_method", "ersa")
    compare_method = _r._normalize_compare_method(compare_method, "ersa")
    X, Y, ids = _paired_arrays(features, neural)
    tr, te = _train_test(X.shape[0], test_size, seed)
    P_tr = _oof(X[tr], Y[tr], alpha, n_folds, fold_seed)
    P_te = _ridge_fit_predict(X[tr], Y[tr], X[te], alpha)
    s_tr = _r.compare_rdms(_r.rdm(P_tr, rdm_method), _r.rdm(Y[tr], rdm_method), compare_method)
    s_te = _r.compare_rdms(_r.rdm(P_te, rdm_method), _r.rdm(Y[te], rdm_method), compare_method)
    split = np.full(X.shape[0], "train", dtype=object)
    split[te] = "test"
    attrs = {
        "direction": "ersa", "rdm_method": rdm_method, "compare_method": compare_method, "regressor": "ridge",
        "alpha": alpha, "n_folds": n_folds, "fold_seed": fold_seed, "test_size": test_size, "seed": seed,
        "n_train": int(tr.size), "n_test": int(te.size), "source": _label(features, "model"), "target": _label(neural, "neural"),
    }
    return _score_ds(
        {"train_score": s_tr, "test_score": s_te, "split": (("stimulus",), split.astype(str))},
        attrs,
        coords={"stimulus_id": ("stimulus", ids)},
    )


def ereg(
    features: xr.DataArray,
    neural: xr.DataArray,
    n_components: int | str = "auto",
    eps: float = 0.1,
    alpha: float = 0.1,
    n_folds: int = 10,
    fold_seed: int = 0,
    seed: int = 0,
) -> xr.Dataset:
    """Encoding regression after a sparse random projection of the features (Johnson-Lindenstrauss).

    Features are projected with ``sklearn.random_projection.SparseRandomProjection`` to
    ``n_components`` dimensions (``"auto"``: ``johnson_lindenstrauss_min_dim(n_stimuli, eps=eps)``,
    capped at the number of units; no projection when that is not smaller), then out-of-fold ridge
    predictions (``alpha``, ``n_folds``, ``fold_seed``) of the trial-averaged responses are scored
    per neuroid by Pearson ``r``.

    Returns
    -------
    xarray.Dataset
        ``r`` (neuroid), ``score`` = mean ``r``; attrs with the parameters and the dimension used.
    """
    from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

    from .kernels.stats import pearson

    X, Y, _ = _paired_arrays(features, neural)
    n, p = X.shape
    if n_components == "auto":
        k = int(johnson_lindenstrauss_min_dim(n, eps=eps))
    elif isinstance(n_components, (int, np.integer)) and n_components > 0:
        k = int(n_components)
    else:
        raise ValueError(f"The 'n_components' parameter of ereg must be 'auto' or a positive int. Got {n_components!r} instead.")
    projected = k < p
    if projected:
        X = SparseRandomProjection(n_components=k, random_state=seed).fit_transform(X)
        X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    P = _oof(X, Y, alpha, n_folds, fold_seed)
    r = to_numpy(pearson(P, Y))
    m = _neural_mean(neural)
    keep_ids = np.asarray(m["neuroid_id"].values).astype(str)
    attrs = {
        "direction": "ereg", "n_components": int(k if projected else p), "projected": int(projected), "eps": eps,
        "alpha": alpha, "n_folds": n_folds, "fold_seed": fold_seed, "seed": seed, "n_units": int(p),
        "source": _label(features, "model"), "target": _label(neural, "neural"),
    }
    return _score_ds({"r": (("neuroid",), r), "score": float(np.nanmean(r))}, attrs, coords={"neuroid_id": ("neuroid", keep_ids)})


# ============================================================================ CKA / dimensionality
def _K(obj: Any, backend: str | None = None) -> tuple[Any, np.ndarray]:
    if isinstance(obj, xr.Dataset):
        return gram_stats(obj, backend=backend).K, _ids(obj)
    if isinstance(obj, xr.DataArray):
        return gram_stats(gram(obj, backend=backend), backend=backend).K, _ids(obj)
    raise LayoutError(f"expected features (stimulus, unit) or a Gram Dataset; got {type(obj).__name__}.")


def cka(a: xr.DataArray | xr.Dataset, b: xr.DataArray | xr.Dataset, debiased: bool = False) -> float:
    """Linear CKA (Kornblith et al. 2019) between two labeled representations, paired by ``stimulus_id``.

    ``a``, ``b``: features ``(stimulus, unit)`` or Gram Datasets.
    """
    Ka, ia = _K(a)
    Kb, ib = _K(b)
    Ka, Kb = np.asarray(to_numpy(Ka)), np.asarray(to_numpy(Kb))
    if not np.array_equal(ia, ib):
        da = xr.DataArray(Kb, dims=RDM_DIMS, coords={"stimulus_id": ("stimulus", ib), "stimulus_id_": ("stimulus_", ib)})
        ref = xr.DataArray(Ka, dims=RDM_DIMS, coords={"stimulus_id": ("stimulus", ia), "stimulus_id_": ("stimulus_", ia)})
        Kb = _align_rdm(ref, da, ("a", "b")).values
    return _g.linear_cka(Ka, Kb, debiased=debiased)


def effective_dimensionality(obj: xr.DataArray | xr.Dataset) -> float:
    """Effective dimensionality ``(sum l)^2 / sum l^2`` of the feature covariance spectrum.

    ``obj``: features ``(stimulus, unit)`` or a Gram Dataset.
    """
    K, _ = _K(obj)
    return _g.effective_dimensionality(K)


def _store_layers(store: Any, models: Sequence[str] | None) -> list[tuple[str, str]]:
    models = list(store.models()) if models is None else list(models)
    return [(m, layer) for m in models for layer in store.layers(m)]


def store_dimensionality(store: Any, models: Sequence[str] | None = None, **gram_kwargs: Any) -> xr.Dataset:
    """Effective dimensionality of every (model, layer) of a study store, from the cached Grams.

    Returns
    -------
    xarray.Dataset
        ``effective_dimensionality`` over dim ``network`` (coords ``model``, ``layer``), plus
        ``n_units`` and ``n_stimuli``.
    """
    pairs = _store_layers(store, models)
    ed, nu, ns = [], [], []
    for m, layer in pairs:
        g = cached_gram(store, m, layer, **gram_kwargs)
        ed.append(_g.effective_dimensionality(np.asarray(g["K"].values)))
        nu.append(int(g.attrs["n_units"]))
        ns.append(int(g.sizes["stimulus"]))
    coords = {"network": [f"{m}/{layer}" for m, layer in pairs], "model": ("network", [m for m, _ in pairs]), "layer": ("network", [layer for _, layer in pairs])}
    return xr.Dataset(
        {"effective_dimensionality": ("network", np.asarray(ed, dtype=float)), "n_units": ("network", np.asarray(nu)), "n_stimuli": ("network", np.asarray(ns))},
        coords=coords,
        attrs={"definition": "(sum lambda)^2 / sum lambda^2 of the feature covariance eigenvalues"},
    )


def store_cka(store: Any, models: Sequence[str] | None = None, debiased: bool = False, **gram_kwargs: Any) -> xr.Dataset:
    """Linear CKA between every pair of (model, layer) in a study store, from the cached Grams.

    All layers must hold the same stimuli (paired by ``stimulus_id``).

    Returns
    -------
    xarray.Dataset
        ``cka`` (network, network_), coords ``model``/``layer`` and ``model_``/``layer_``.
    """
    pairs = _store_layers(store, models)
    grams = [cached_gram(store, m, layer, **gram_kwargs) for m, layer in pairs]
    Ks = []
    for g in grams:
        ref = grams[0]["K"]
        Ks.append(np.asarray(_align_rdm(ref, g["K"], ("first layer", "layer")).values) if g is not grams[0] else np.asarray(ref.values))
    m = len(Ks)
    C = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            C[i, j] = C[j, i] = _g.linear_cka(Ks[i], Ks[j], debiased=debiased)
    names = [f"{a}/{b}" for a, b in pairs]
    return xr.Dataset(
        {"cka": (("network", "network_"), C)},
        coords={
            "network": names, "network_": names,
            "model": ("network", [a for a, _ in pairs]), "layer": ("network", [b for _, b in pairs]),
            "model_": ("network_", [a for a, _ in pairs]), "layer_": ("network_", [b for _, b in pairs]),
        },
        attrs={"debiased": int(debiased), "reference": "Kornblith et al. 2019"},
    )


# ============================================================================ shape metrics
class LinearMetric(BaseEstimator):
    """Generalized shape metric between two representations (Williams et al. 2021), sklearn-style.

    ``alpha = 1``: Procrustes (invariant to rotations/reflections); ``alpha = 0``: CCA-like
    (invariant to invertible linear maps); in between, partial whitening. ``fit(X, Y)`` learns
    the alignment on paired rows, ``score(X, Y)`` returns the distance (lower = more similar) of
    new paired rows under that alignment.

    Parameters
    ----------
    alpha : float in [0, 1]
    center_columns : bool
        Subtract the (training) column means.
    zero_pad : bool
        Pad the narrower representation with zero columns (else widths must match).
    score_method : {"angular", "euclidean"}

    Attributes
    ----------
    mx_, my_ : array, shapes (p_x,), (p_y,)
        Training column means.
    Wx_, Wy_ : array, shapes (p_x, p), (p_y, p)
        Alignment maps: ``tX = (X - mx_) Wx_``.

    Notes
    -----
    Cross-validation: pass the two representations as ``X`` and ``y``, row-paired (same stimuli
    in the same order), e.g. ``sklearn.model_selection.cross_validate(LinearMetric(), X, Y, cv=5)``;
    the folds split the stimuli and each test score is the held-out distance. Note that scikit-learn
    treats larger scores as better: use ``-score`` for model selection.
    Arrays of any array-API namespace (NumPy, torch, CuPy) work; labeled DataArrays are paired by
    ``stimulus_id``.
    """

    def __init__(self, alpha: float = 1.0, center_columns: bool = True, zero_pad: bool = True, score_method: str = "angular") -> None:
        self.alpha = alpha
        self.center_columns = center_columns
        self.zero_pad = zero_pad
        self.score_method = score_method

    def _validate(self) -> None:
        if not isinstance(self.alpha, (int, float, np.floating)) or not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"The 'alpha' parameter of LinearMetric must be a float in the range [0, 1]. Got {self.alpha!r} instead.")
        _check_option(self.score_method, _s.SCORE_METHODS, "score_method", "LinearMetric")

    @staticmethod
    def _arrays(X: Any, Y: Any) -> tuple[Any, Any]:
        if isinstance(X, xr.DataArray) and isinstance(Y, xr.DataArray):
            X, Y = align(X, Y, names=("X", "Y"))
        X = X.values if isinstance(X, xr.DataArray) else X
        Y = Y.values if isinstance(Y, xr.DataArray) else Y
        if isinstance(X, np.ndarray) or not hasattr(X, "shape"):
            X = np.asarray(X, dtype=np.float64)
        if isinstance(Y, np.ndarray) or not hasattr(Y, "shape"):
            Y = np.asarray(Y, dtype=np.float64)
        if len(X.shape) != 2 or len(Y.shape) != 2 or X.shape[0] != Y.shape[0]:
            raise ValueError(
                f"LinearMetric needs two 2-D representations of the same stimuli (rows); got shapes {tuple(X.shape)} and {tuple(Y.shape)}."
            )
        return X, Y

    def partial_fit(self, X: Any) -> tuple[Any, Any, Any]:
        """Per-representation part of the fit, reusable across pairs: ``(mean, Xw, Z)``."""
        self._validate()
        return _s.partial_fit(X, float(self.alpha), self.center_columns)

    def finalize_fit(self, cache_X: tuple[Any, Any, Any], cache_Y: tuple[Any, Any, Any]) -> LinearMetric:
        """Finish the fit from two :meth:`partial_fit` results."""
        self.mx_, Xw, Zx = cache_X
        self.my_, Yw, Zy = cache_Y
        self.Wx_, self.Wy_ = _s.fit_alignment(Xw, Zx, Yw, Zy, zero_pad=self.zero_pad)
        return self

    def fit(self, X: Any, Y: Any) -> LinearMetric:
        """Learn the alignment of ``X`` (n, p_x) and ``Y`` (n, p_y)."""
        X, Y = self._arrays(X, Y)
        return self.finalize_fit(self.partial_fit(X), self.partial_fit(Y))

    def transform(self, X: Any, Y: Any) -> tuple[Any, Any]:
        """Aligned ``(tX, tY)``, each (n, max(p_x, p_y))."""
        if not hasattr(self, "Wx_"):
            raise RuntimeError("This LinearMetric instance is not fitted yet; call fit(X, Y) first.")
        X, Y = self._arrays(X, Y)
        return (X - self.mx_[None, :]) @ self.Wx_, (Y - self.my_[None, :]) @ self.Wy_

    def score(self, X: Any, Y: Any) -> float:
        """Distance between ``X`` and ``Y`` under the fitted alignment (``score_method``)."""
        tX, tY = self.transform(X, Y)
        return _s.shape_score(tX, tY, self.score_method)

    def fit_score(self, X: Any, Y: Any) -> float:
        """Fit on ``(X, Y)`` and score the same data."""
        return self.fit(X, Y).score(X, Y)


def _as_network_list(data: Any) -> tuple[list[Any], list[str], np.ndarray | None]:
    if isinstance(data, Mapping):
        names, items = [str(k) for k in data], list(data.values())
    else:
        items = list(data)
        names = [_label(it, f"network{i}") for i, it in enumerate(items)]
    if len(set(names)) < len(names):
        names = [f"{nm}#{i}" for i, nm in enumerate(names)]
    ids = None
    if items and all(isinstance(it, xr.DataArray) for it in items):
        ref = items[0]
        items = [ref] + [align(ref, it, names=(names[0], names[i]))[1] for i, it in enumerate(items[1:], 1)]
        ids = _ids(ref)
        items = [np.asarray(it.values, dtype=np.float64) for it in items]
    else:
        items = [it.values if isinstance(it, xr.DataArray) else it for it in items]
    return items, names, ids


def pairwise_distances(
    train_data: Any,
    test_data: Any = None,
    alpha: float = 1.0,
    center_columns: bool = True,
    zero_pad: bool = True,
    score_method: str = "angular",
    client: Any = None,
    scheduler: str | None = None,
) -> xr.DataArray | xr.Dataset:
    """Shape distances between every pair of networks, in parallel.

    The per-network part of the fit (centring, partial whitening) runs once per network; each pair
    then needs one SVD. Tasks are ``dask.delayed`` calls computed on ``client`` (a
    ``distributed.Client``) when given, else with ``scheduler`` (default threads).

    Parameters
    ----------
    train_data : list or dict of arrays / feature DataArrays (stimulus, unit)
        One representation per network (DataArrays are paired by ``stimulus_id``; names from the
        dict keys, ``model``/``layer`` coords or the array name).
    test_data : same, optional
        Held-out stimuli of the same networks: the alignment fitted on ``train_data`` is scored here too.
    alpha, center_columns, zero_pad, score_method
        As :class:`LinearMetric`.

    Returns
    -------
    xarray.DataArray (network, network_) when ``test_data`` is None, else a Dataset with
    ``train`` and ``test`` distance matrices.
    """
    import dask

    metric = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    metric._validate()
    Xs, names, _ = _as_network_list(train_data)
    Ts = None
    if test_data is not None:
        Ts, _, _ = _as_network_list(test_data)
        if len(Ts) != len(Xs):
            raise ValueError(f"pairwise_distances: {len(Xs)} train and {len(Ts)} test networks; give the same networks.")
    m = len(Xs)
    pf = dask.delayed(metric.partial_fit, pure=True)
    caches = [pf(X) for X in Xs]

    def pair(ci: Any, cj: Any, i: int, j: int) -> tuple[float, float]:
        est = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
        est.finalize_fit(ci, cj)
        tr = est.score(Xs[i], Xs[j])
        te = est.score(Ts[i], Ts[j]) if Ts is not None else math.nan
        return tr, te

    tasks = {(i, j): dask.delayed(pair, pure=True)(caches[i], caches[j], i, j) for i in range(m) for j in range(i + 1, m)}
    if client is not None:
        results = client.gather(client.compute(list(tasks.values())))
    else:
        results = dask.compute(*tasks.values(), scheduler=scheduler or "threads")
    Dtr, Dte = np.zeros((m, m)), np.zeros((m, m))
    for (i, j), (tr, te) in zip(tasks, results):
        Dtr[i, j] = Dtr[j, i] = tr
        Dte[i, j] = Dte[j, i] = te
    if Ts is not None:
        for i in range(m):
            est = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method).fit(Xs[i], Xs[i])
            Dte[i, i] = est.score(Ts[i], Ts[i])
    coords = {"network": names, "network_": names}
    attrs = {"alpha": float(alpha), "center_columns": int(center_columns), "zero_pad": int(zero_pad), "score_method": score_method}
    train = xr.DataArray(Dtr, dims=("network", "network_"), coords=coords, name="distance", attrs=attrs)
    if Ts is None:
        return train
    return xr.Dataset({"train": train, "test": (("network", "network_"), Dte)}, attrs=attrs)


def procrustes_average(data: Any, center_columns: bool = True, max_iter: int = 100, tol: float = 1e-10) -> xr.DataArray:
    """Generalized Procrustes average of several representations (see :func:`neuroxr.kernels.shape.procrustes_average`).

    Returns
    -------
    xarray.DataArray, dims (stimulus, unit)
        ``stimulus_id`` from the inputs when they are labeled.
    """
    Xs, names, ids = _as_network_list(data)
    M = to_numpy(_s.procrustes_average(Xs, center_columns=center_columns, max_iter=max_iter, tol=tol))
    n, p = M.shape
    ids = ids if ids is not None else np.array([f"stimulus{i}" for i in range(n)])
    return xr.DataArray(
        M,
        dims=("stimulus", "unit"),
        coords={"stimulus_id": ("stimulus", ids), "unit_id": ("unit", np.array([f"dim{i}" for i in range(p)]))},
        name="procrustes_average",
        attrs={"networks": list(names)},
    )
