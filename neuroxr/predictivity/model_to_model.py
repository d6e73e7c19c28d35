"""Model-to-model predictivity (features A -> features B): ``ev = r(F_B, P)^2 * 100``, no ceiling."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import xarray as xr

from ..backend import with_blas_threads
from ..kernels.regressors import DEFAULT_ALPHA, DEFAULT_N_COMPONENTS, DEFAULT_RIDGECV_ALPHAS
from ..kernels.stats import pearson
from ..sets import set_label
from . import _prepare as prep
from ._progress import progress_iter
from ._result import common_attrs, dataset, ev

__all__ = ["model_to_model"]


@with_blas_threads
def model_to_model(
    features_a: xr.DataArray,
    features_b: xr.DataArray,
    *,
    reps: int = 1,
    seed: int = 0,
    regressor: Any = "ridge",
    alpha: float = DEFAULT_ALPHA,
    n_components: int = DEFAULT_N_COMPONENTS,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    max_n: int | None = None,
    backend: str | None = None,
    dtype: Any = "float64",
    keep_predictions: bool = False,
    progress: bool | Callable = False,
) -> xr.Dataset:
    """Model-to-model predictivity (features A -> features B), ``r^2 * 100`` with no ceiling.

    Parameters are those of :func:`neuroxr.predictivity.forward` (no ceiling options), with
    ``features_a`` (predictors) and ``features_b`` (targets), dims (stimulus, unit). Without
    ``max_n`` every rep is identical (nothing is random), so ``reps`` defaults to 1; with
    ``max_n`` (below A's unit count, refused otherwise) each rep uses a fresh subset of A's units,
    drawn over them in canonical order (sorted ``unit_id``). A joint fit (``pls``, an estimator) fits B's units in canonical order,
    and a regressor other than ridge/linear sees A's in it, so permuting either input's units
    changes no fit: each unit of B gets the same prediction up to rounding (the products over B's
    columns, and ridge/linear's over A's, round by their position: about ``1e-14`` of EV, measured);
    permuting the stimuli of either input changes no bit.

    Returns
    -------
    xarray.Dataset, dims (unit, rep)
        ``ev``, ``r`` and ``included`` (all True); B's unit coords.
    """
    prep.check_params(
        reps=reps, seed=seed, split="valid", regressor=regressor, max_n=max_n, backend=backend, dtype=dtype,
        alpha=alpha, alphas=alphas, n_folds=n_folds, fold_seed=fold_seed, n_components=n_components,
        noise_ceiling=False, ceiling_option=False, keep_predictions=keep_predictions, progress=progress,
        caller="model_to_model",
    )
    caller = "model_to_model"  # the messages start with it and name the inputs with their labels
    features_a, features_b, aname, bname, *_ = prep.inputs(caller, features_a, "features_a", features_b, "features_b")
    prep.check_max_n(max_n, features_a.sizes["unit"], aname, "units")
    prep.check_pls_predictors(regressor, n_components, features_a.sizes["unit"], max_n, aname, "units", caller)
    # by id, never by position: A's units for a fit other than ridge/linear, B's for a joint fit
    # (pls, an estimator), in canonical id order; max_n's subsets are drawn over A's in that order
    features_a, features_b, targets_order = prep.order_by_id(features_a, "unit", features_b, "unit", regressor)
    unit_order = prep.id_order(features_a, "unit") if max_n is not None else None
    FA, FB = prep.load(features_a, aname, dtype), prep.load(features_b, bname, dtype)
    prep.warn_shared_recordings(FA, FB, features_a.unit_id.values, features_b.unit_id.values,
                                (prep.named("", features_a, "features_a"), bname),
                                ("units", "a model-to-model score", "two layers (or two disjoint sets of units)"))
    n = FA.shape[0]
    reg = prep.fold_regressor("model_to_model", n, regressor, n_folds, fold_seed,
                              prep.regressor_options(alpha, n_components, alphas, backend, dtype), caller)
    prep.check_design(FA, aname, prep.float32_cause(features_a))
    const = prep.warn_constant_targets(FB, features_b.unit_id.values, bname, "units",
                                       cause=prep.float32_cause(features_b))
    sub_rng = np.random.default_rng([seed, 1])
    m = FB.shape[1]
    out = {"ev": np.full((m, reps), np.nan), "r": np.full((m, reps), np.nan)}
    preds = np.full((reps, n, m), np.nan) if keep_predictions else None
    P = r = None
    for i in progress_iter(reps, progress, "model_to_model"):
        cols = prep.subset(sub_rng, FA.shape[1], max_n, unit_order)
        if cols is not None or r is None:
            X = FA if cols is None else FA[:, cols]
            if cols is not None:  # a subset of constant units predicts nothing, as reverse refuses it
                prep.check_design(X, aname, drawn=True)
            if reg.shared and preds is None and X.shape[1] < n:
                r = reg.pearson_designs([X], FB, with_target=[0])[0][0]  # no prediction materialised
            else:
                P = reg.predict_designs([X], FB)[0] if X.shape[1] < n else reg.predict_blocks(X, [FB])[0]
                r = pearson(FB, P)
        out["r"][:, i] = r
        out["ev"][:, i] = ev(out["r"][:, i])
        if preds is not None:
            preds[i] = P
    attrs = common_attrs(
        "model_to_model", set_label(features_a, "features_a"), set_label(features_b, "features_b"),
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=False, n_stimuli=int(n), n_units=int(FA.shape[1]),
    )
    stim = features_a.stimulus_id.values if preds is not None else None
    return prep.in_input_order(dataset(features_b, "unit", prep.nan_targets(out, const), attrs, preds, stim,
                                       name=bname), "unit",
                               targets_order)
