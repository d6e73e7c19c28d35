"""Generalized shape metrics (Williams et al. 2021) with a scikit-learn estimator API, labeled.

:class:`LinearMetric` keeps netrep's constructor (``LinearMetric(alpha, center_columns, zero_pad,
score_method)``) and its fitted attributes. Names say what they return: :meth:`LinearMetric.distance`
and :meth:`LinearMetric.fit_distance` return the distance (lower = more similar, as netrep's
``score``/``fit_score``); :meth:`LinearMetric.score` follows scikit-learn (higher is better) and
returns the **negative** distance, so ``cross_validate`` and model selection work unchanged.
The numerics live in :mod:`neuroxr.kernels.shape`.
The estimator and its warning are in :mod:`neuroxr.geometry.shape_metric` (importable from here);
this module holds the functions over labeled or many networks built on it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import align
from ..attrs import encode_attrs
from ..backend import asarray, resolve_backend, to_numpy
from ..errors import LayoutError
from ..kernels import procrustes as _p
from ..validation import check_alpha, check_bool, check_int
from ._common import (
    _canonical,
    _drop_unusable,
    _ids,
    _named,
    _refuse_constant_networks,
    _train_test,
    check_split,
    held_out_networks,
    input_labels,
)
from ._shape_inputs import (
    _as_network_list,
    _check_finite,
    _network_array,
    _shown,
    _trial_averaged,
    check_shape_stimuli,
    refuse_dataset,
    take_rows,
)
from .shape_metric import OUTSIDE_SPAN_RTOL, LinearMetric, _warn_whitened_whole, _whitened_whole, warn_undefined_shape  # noqa: F401 (OUTSIDE_SPAN_RTOL: importable from here)

__all__ = ["LinearMetric", "pairwise_distances", "procrustes_average", "split_distance"]


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
        Paired with ``train_data`` by dict key (a list by position) and, labeled, by ``unit_id``.
    alpha, center_columns, zero_pad, score_method : default 1.0, True, True, "angular"
        As :class:`LinearMetric`.
    client : distributed.Client, optional
    scheduler : str, optional

    Returns
    -------
    xarray.DataArray (network, network_) of distances when ``test_data`` is None, else a Dataset
    with ``train`` and ``test`` distance matrices. Fewer than 3 training stimuli (2 with
    ``center_columns=False``) are refused, as by :meth:`LinearMetric.fit`; networks are read as
    by :class:`LinearMetric` (NumPy bool, integer and float32 as float64). A constant network's
    row and column are NaN, its diagonal too (with a warning naming it).
    """
    import dask

    metric = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    metric._validate("pairwise_distances")
    caller = "pairwise_distances"
    Xs, names, _ = _as_network_list(train_data, "train_data", caller)
    shown_tr = _shown(train_data, "train_data")
    if Xs:
        check_shape_stimuli(int(np.shape(Xs[0])[0]), bool(center_columns), "train_data", caller)
    Ts, shown_te = None, []
    if test_data is not None:
        test_data = held_out_networks(train_data, test_data, caller)
        Ts, _, _ = _as_network_list(test_data, "test_data", caller)
        shown_te = _shown(test_data, "test_data")
        if len(Ts) != len(Xs):
            raise LayoutError(f"{caller}: {len(Xs)} train and {len(Ts)} test networks; give the same networks in test_data.")
        for nt, nx_, T, X in zip(shown_te, shown_tr, Ts, Xs):
            if int(T.shape[1]) != int(X.shape[1]):
                raise LayoutError(f"{caller}: {nt} has {int(T.shape[1])} units (columns, dim 'unit'), {nx_} {int(X.shape[1])}; "
                                  "give each network's held-out stimuli on the units it is fitted on.")
    m = len(Xs)
    pf = dask.delayed(metric.partial_fit, pure=True)
    caches: dict[tuple[int, int | None], Any] = {}

    def cache(i: int, width: int | None) -> Any:  # one partial fit per network and padded width
        if (i, width) not in caches:
            caches[i, width] = pf(Xs[i], width)
        return caches[i, width]

    def pair(ci: Any, cj: Any, i: int, j: int) -> tuple[float, float, tuple[bool, ...]]:
        est = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
        est.finalize_fit(ci, cj)
        tr, const = est._scored(Xs[i], Xs[j], training=True)
        te, const_te = est._scored(Ts[i], Ts[j], False, caller, (shown_te[i], shown_te[j])) if Ts is not None else (math.nan, (False, False))
        return tr, te, (*const, *const_te)  # which inputs are constant, for the one warning (not in a task's thread)

    tasks = {}
    for i in range(m):
        for j in range(i + 1, m):
            width = metric.pad_width(Xs[i].shape[1], Xs[j].shape[1], caller)
            tasks[i, j] = dask.delayed(pair, pure=True)(cache(i, width), cache(j, width), i, j)
    if client is not None:
        results = client.gather(client.compute(list(tasks.values())))
    else:
        results = dask.compute(*tasks.values(), scheduler=scheduler or "threads")
    Dtr, Dte = np.zeros((m, m)), np.zeros((m, m))
    undefined: dict[str, bool] = {}  # the constant networks with NaN distances, for one warning
    for (i, j), (tr, te, c) in zip(tasks, results):
        Dtr[i, j] = Dtr[j, i] = tr
        Dte[i, j] = Dte[j, i] = te
        named = [(shown_tr[i], tr), (shown_tr[j], tr), *([(shown_te[i], te), (shown_te[j], te)] if Ts is not None else [])]
        undefined.update({nm: True for (nm, value), flag in zip(named, c) if flag and math.isnan(value)})
        for k, flag in zip((i, j), c[:2]):
            if flag:  # a constant network's distance to itself is undefined too, not 0
                Dtr[k, k] = np.nan
    if Ts is not None:
        for i in range(m):
            est = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method).fit(Xs[i], Xs[i])
            Dte[i, i], c = est._scored(Ts[i], Ts[i], False, caller, (shown_te[i], shown_te[i]))
            undefined.update({shown_te[i]: True} if c[0] and math.isnan(Dte[i, i]) else {})
    warn_undefined_shape(caller, bool(undefined), undefined.items())
    if float(alpha) == 0.0:  # full whitening of a wide network: training distances blind to it
        _warn_whitened_whole([nm for nm, X in zip(shown_tr, Xs) if _whitened_whole(metric, X)], int(np.shape(Xs[0])[0]), caller)
    coords = {"network": names, "network_": names}
    attrs = {"alpha": float(alpha), "center_columns": int(center_columns), "zero_pad": int(zero_pad), "score_method": score_method}
    train = xr.DataArray(Dtr, dims=("network", "network_"), coords=coords, name="distance", attrs=attrs)
    if Ts is None:
        return train
    return xr.Dataset({"train": train, "test": (("network", "network_"), Dte)}, attrs=attrs)


def check_split_distance_params(test_size: Any, seed: Any, alpha: Any, center_columns: Any, zero_pad: Any,
                                score_method: Any) -> dict[str, Any]:
    """:func:`split_distance`'s parameters checked before any data is read (one-line
    :class:`~neuroxr.errors.ParameterError`: the split's and :class:`LinearMetric`'s own checks);
    returned spelled once (``alpha`` and ``test_size`` floats, the flags bools)."""
    return {**check_split(test_size, seed, "split_distance"),
            **LinearMetric(alpha, center_columns, zero_pad, score_method)._validate("split_distance")}


def split_distance(
    X: xr.DataArray,
    Y: xr.DataArray,
    test_size: float = 0.5,
    seed: int = 0,
    alpha: float = 1.0,
    center_columns: bool = True,
    zero_pad: bool = True,
    score_method: str = "angular",
    backend: str | None = "numpy",
) -> xr.Dataset:
    """Shape distance fitted on training stimuli and evaluated on training and held-out stimuli.

    ``X`` and ``Y`` are paired by ``stimulus_id`` and put into canonical order; the split is
    :func:`neuroxr.geometry.split_train_test` (``seed``, ``test_size``), so it depends on the
    stimulus ids only, never on their storage order.

    Parameters
    ----------
    X, Y : DataArray (stimulus, unit) or neural DataArray (stimulus, neuroid, repeat)
        Two representations; neural responses are averaged over repeats (NaN-mean, neuroids
        lacking a stimulus dropped with a warning), as the store's ``shape`` entries average them.
        Bool and integer features are read as float64, as by :class:`LinearMetric`.
    test_size : float in (0, 1), default 0.5
    seed : int, default 0
    alpha, center_columns, zero_pad, score_method : default 1.0, True, True, "angular"
        As :class:`LinearMetric`.
    backend : str, default "numpy"
        Array backend of the fit and the distances (float64; ``None``: the global one); NumPy's numbers to rounding.

    Returns
    -------
    xarray.Dataset
        ``distance`` (split: train, test; lower = more similar), ``stimulus_split`` (stimulus,
        canonical order with ``stimulus_id``); attrs with every parameter, ``n_train``, ``n_test``.
    """
    for arr, nm in ((X, "X"), (Y, "Y")):
        refuse_dataset(arr, _named(arr, nm), "split_distance")  # a Gram holds no representation to align
        if not isinstance(arr, xr.DataArray) or "stimulus" not in arr.dims:
            raise LayoutError(f"split_distance: {nm} must be a labeled DataArray (stimulus, unit); use LinearMetric for plain arrays.")
    check_split_distance_params(test_size, seed, alpha, center_columns, zero_pad, score_method)
    resolve_backend(backend, "split_distance")
    names = _named(X, "X"), _named(Y, "Y")
    (X, Y), counts, _ = _drop_unusable([(X, names[0]), (Y, names[1])], "split_distance")  # crsa's rule for missing trials
    X, Y = (_trial_averaged(A).transpose("stimulus", ...) for A in (X, Y))  # stimuli as rows, whatever the dims' order
    X, Y = align(_canonical(X), Y, names=names, caller="split_distance")
    X, Y = X.compute(), Y.compute()  # read once (the fit and the distances read them again), checked as split_distance's
    X, Y = (A.copy(data=_network_array(A, nm, "split_distance")) for A, nm in ((X, names[0]), (Y, names[1])))
    for A, name in ((X, names[0]), (Y, names[1])):  # (read as LinearMetric reads them: float64)
        _check_finite(A.values, name, "split_distance")
    ids = _ids(X)
    tr, te = _train_test(ids, test_size, seed, "split_distance")
    metric = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    metric.pad_width(X.shape[1], Y.shape[1], "split_distance")  # unequal widths without zero_pad: refused as split_distance's
    device = resolve_backend(backend) != "numpy"  # paired and checked above: plain arrays there, their rows taken
    Xa, Ya = (asarray(A.values, backend) for A in (X, Y)) if device else (X, Y)
    rows = take_rows if device else (lambda A, s: A.isel(stimulus=s))
    metric.fit(rows(Xa, tr), rows(Ya, tr))
    (d_tr, c_tr), (d_te, c_te) = (metric._scored(rows(Xa, s), rows(Ya, s), s is tr, "split_distance", names) for s in (tr, te))
    warn_undefined_shape("split_distance", math.isnan(d_tr) or math.isnan(d_te), zip(names, (c_tr[0] or c_te[0], c_tr[1] or c_te[1])))
    split = np.full(ids.size, "train", dtype=object)
    split[te] = "test"
    return xr.Dataset(
        {"distance": (("split",), np.array([d_tr, d_te])), "stimulus_split": (("stimulus",), split.astype(str))},
        coords={"split": ["train", "test"], "stimulus_id": ("stimulus", ids)},
        attrs={"alpha": float(alpha), "center_columns": int(center_columns), "zero_pad": int(zero_pad),
               "score_method": score_method, "test_size": test_size, "seed": seed, "n_train": int(tr.size),
               "n_test": int(te.size), **counts, "lower_is_better": 1, "reference": "Williams et al. 2021",
               **input_labels(source=X, target=Y)},
    )


def procrustes_average(data: Any, center_columns: bool = True, max_iter: int = 100, tol: float = 1e-10) -> xr.DataArray:
    """Generalized Procrustes average of several representations (see :func:`neuroxr.kernels.procrustes.procrustes_average`).

    Parameters
    ----------
    data : list or dict of arrays / feature DataArrays (stimulus, unit)
    center_columns : bool, default True
    max_iter : int, default 100
    tol : float, default 1e-10

    Returns
    -------
    xarray.DataArray, dims (stimulus, unit)
        ``stimulus_id`` from the inputs when they are labeled (canonical order). The average is defined up to an
        orthogonal transform of its columns; this one is in the basis of the first network (``data[0]``,
        zero-padded to the widest): the iteration starts from it, so permuting (or rotating) its units permutes
        (rotates) the columns. Networks that share a shape give the same average up to a rotation in any order;
        for unrelated networks the iteration can stop at a local optimum that depends on which comes first. The
        columns are therefore labelled ``unit_id`` ``dim0, dim1, ...``, not by any network's units: compare
        averages by their geometry (:func:`neuroxr.geometry.rdm`, :func:`neuroxr.geometry.cka`, a shape metric),
        not column by column.

    Raises
    ------
    LayoutError
        When a network has no variance across the stimuli (constant up to rounding, as the shape
        metrics decide it; with ``center_columns=False``: all zero): its shape is undefined and it
        would enter the average as zero.
    """
    center_columns = check_bool(center_columns, "center_columns", "Pass center_columns=False to average uncentred networks.",
                                caller="procrustes_average")
    max_iter = check_int(max_iter, "max_iter", 1, "The iterations of the average, e.g. max_iter=100.", caller="procrustes_average")
    tol = check_alpha(tol, "tol", caller="procrustes_average")  # a finite number >= 0
    Xs, names, ids = _as_network_list(data, "data", "procrustes_average")
    _refuse_constant_networks(data, Xs, center_columns, "procrustes_average", "data")
    M = to_numpy(_p.procrustes_average(Xs, center_columns=center_columns, max_iter=max_iter, tol=tol))
    n, p = M.shape
    ids = ids if ids is not None else np.array([f"stimulus{i}" for i in range(n)])
    return xr.DataArray(
        M,
        dims=("stimulus", "unit"),
        coords={"stimulus_id": ("stimulus", ids), "unit_id": ("unit", np.array([f"dim{i}" for i in range(p)]))},
        name="procrustes_average",
        attrs=encode_attrs({"networks": list(names), "center_columns": int(center_columns), "max_iter": int(max_iter),
                            "tol": float(tol)}),
    )
