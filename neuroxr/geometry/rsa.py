"""Representational similarity analysis on labeled arrays: classical RSA, encoding RSA, encoding regression.

Every function pairs its inputs by ``stimulus_id`` and puts them into the canonical stimulus order
(``stimulus_id`` sorted, :func:`neuroxr.geometry.canonical_order`) before any seeded draw, so
permuting the stimuli of the inputs gives identical numbers. Ridge fits use the one ridge solver
:func:`neuroxr.kernels.ridge.oof_predict` (equal to scikit-learn's ``Ridge(alpha,
fit_intercept=True)`` per fold) with :func:`neuroxr.kernels.folds.kfold_indices` folds.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import align, canonical_order
from ..backend import asarray, resolve_backend, to_numpy
from ..errors import LayoutError, ParameterError, no_effect, shown, warn
from ..kernels import compare as _c
from ..kernels import rdm as _r
from ..kernels.folds import check_fold_params, stimulus_folds
from ..kernels.offsets import float32_cause, warn_offset_columns
from ..kernels.ridge import oof_predict
from ..layouts import validate_features
from ..validation import check_alpha, check_computed, check_int
from ._common import (
    _canonical,
    _canonical_any,
    _check_option,
    _Checked,
    _drop_unusable,
    _ids,
    _named,
    _neural_mean,
    _plain,
    _require_repeats,
    _score_ds,
    _train_test,
    _without,
    check_split,
    record_label,
)
from .rdm import _align_rdm, _check_stimuli, _compare_rdms, _rdm, _refuse_unpaired, _warn_undefined_rows, check_split_halves
from .rdm_ceiling import _split_half_rdm_ceiling

#: How cRSA and eRSA compare RDMs unless told (their bootstraps and store entries take it too).
COMPARE_DEFAULT = "spearman"

__all__ = ["crsa", "ersa", "ereg"]


def crsa(
    features: xr.DataArray | xr.Dataset,
    neural: xr.DataArray,
    rdm_method: str = "correlation",
    compare_method: str = COMPARE_DEFAULT,
    noise_ceiling: bool | None = None,
    seed: int = 0,
    reps: int = 10,
    backend: str | None = None,
) -> xr.Dataset:
    """Classical RSA: the model RDM compared with the neural RDM (trial-averaged).

    Parameters
    ----------
    features : features DataArray (stimulus, unit) or a Gram Dataset
    neural : DataArray (stimulus, neuroid, repeat)
        Paired with ``features`` by ``stimulus_id``. A (stimulus, neuroid) needs a valid trial (2
        with a ceiling, one in each half); stimuli without them in any neuroid are dropped from
        both inputs, then neuroids lacking them on some stimulus, with one warning, so that the
        score and its ceiling use the same stimuli and neuroids (counted in the attrs).
    rdm_method : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default "correlation"
    compare_method : {"pearson", "spearman", "kendall", "cosine"}, default "spearman"
    noise_ceiling : bool or None, default None
        Also report the split-half ceiling of the neural RDM and the ceiled score
        ``score / ceiling``. ``None`` (as the directions and the store's ``crsa`` entries): with a
        ceiling when ``neural`` is neural data with at least 2 repeats, without one for
        trial-averaged data (one repeat) or a feature / Gram target. ``True`` on data without
        repeats is refused.
    seed, reps : int, default 0, 10
        Split halves of the ceiling (drawn over the repeats); refused when no ceiling is drawn.
    backend : str, optional
        Array backend of the RDMs and of their comparisons (the score's and the ceiling's ranks
        and correlations); default: the global one. Not a parameter of the numbers.

    Returns
    -------
    xarray.Dataset
        Scalars ``score`` (and ``ceiling``, ``ceiled_score``: NaN, with a warning, for a ceiling <= 0,
        as the directions' EV); attrs record every parameter, ``n_stimuli``,
        ``n_excluded_stimuli`` and ``n_excluded_neuroids``.
    """
    compare_method = check_crsa_params(rdm_method, compare_method, noise_ceiling, seed, reps)["compare_method"]
    resolve_backend(backend, "crsa")  # before the inputs are validated and averaged
    if noise_ceiling is None:  # automatic: a ceiling when the neural data hold repeats
        noise_ceiling = draws_ceiling(neural)
        if not noise_ceiling:
            _refuse_inert_ceiling(seed, reps, "without a noise ceiling, which noise_ceiling=None draws only for neural "
                                              "data with at least 2 repeats", "")
    source, target = record_label(features, "model"), record_label(neural, "neural")
    fname, nname = _named(features, "features"), _named(neural, "neural")
    features, neural = _canonical_any(features), _canonical_any(neural)
    # one set of stimuli and neuroids for the score and its ceiling (2 valid repeats with a ceiling)
    if noise_ceiling and isinstance(neural, xr.DataArray) and "repeat" in neural.dims:
        _require_repeats(neural, nname, "crsa", ", or noise_ceiling=False")
    (neural,), counts, dropped = _drop_unusable([(neural, nname)], "crsa", 2 if noise_ceiling else 1, paired=True,
                                                pair_with=(features,))
    model_rdm = _without(_rdm(features, rdm_method, backend, "crsa: " + fname), dropped)
    _refuse_unpaired(_ids(_plain(neural)), _ids(model_rdm), (nname, fname), "crsa")  # before the neural RDM
    neural_rdm = _rdm(neural, rdm_method, backend, "crsa: " + nname)  # checked above: not checked again
    model_rdm = _align_rdm(neural_rdm, model_rdm, (nname, fname), "crsa")  # a pairing error names the arguments
    _check_stimuli(neural_rdm.sizes["stimulus"], "crsa", f"{fname} and {nname} share")  # named as crsa's arguments
    for D, arg in ((model_rdm, fname), (neural_rdm, nname)):  # a pattern with no dissimilarity: rdm's reason
        _warn_undefined_rows(D, rdm_method, "crsa: " + arg, "rdm_method")
    score = float(_compare_rdms(neural_rdm, model_rdm, compare_method, backend, "crsa",
                                (f"the RDM of {nname}", f"the RDM of {fname}")))
    values: dict[str, Any] = {"score": score}
    if noise_ceiling:
        c = _split_half_rdm_ceiling(neural, rdm_method, compare_method, seed, reps, caller="crsa", backend=backend)
        values["ceiling"] = float(c["ceiling"])
        values["ceiled_score"] = ceiled(score, float(c["ceiling"]), "crsa")
    attrs = {
        "direction": "crsa", "rdm_method": rdm_method, "compare_method": compare_method, "noise_ceiling": int(noise_ceiling),
        "seed": seed, "reps": reps, "n_stimuli": int(neural_rdm.sizes["stimulus"]), **counts,
        "source": source, "target": target,
    }
    return _score_ds(values, attrs)


def draws_ceiling(neural: Any = None, *, n_repeats: int | None = None) -> bool:
    """Whether :func:`crsa`'s default (``noise_ceiling=None``) draws a split-half ceiling: for neural
    data with at least 2 repeats (``neural`` itself, or a neural target's ``n_repeats`` read from
    its metadata; ``None`` for a feature set). Its score then uses the neuroids with 2 valid
    repeats on every kept stimulus, and so do the crsa bootstrap and permutation entries (one set of
    neuroids for a score, its ceiling and its inference)."""
    if neural is not None:
        n_repeats = neural.sizes["repeat"] if isinstance(neural, xr.DataArray) and "repeat" in neural.dims else None
    return (n_repeats or 0) >= 2


def ceiled(score: float, ceiling: float, caller: str) -> float:
    """``score / ceiling``, NaN with one warning when the ceiling is not positive (split halves
    that do not agree: dividing would flip the sign or blow up the score), as the directions'
    EV is NaN for a ceiling <= 0 (-inf too: halves of opposite orders, r = -1)."""
    if ceiling > 0:
        return score / ceiling
    if not np.isnan(ceiling):
        warn(f"{caller}: the split-half noise ceiling of the neural RDM is {ceiling:.3g} <= 0 (its halves do not agree); "
             f"ceiled_score is NaN, as a direction's EV for a ceiling <= 0. Use more repeats or stimuli.")
    return float("nan")


def _refuse_inert_ceiling(seed: Any, reps: Any, condition: str, instead: str) -> None:
    """crsa's ``seed`` and ``reps`` away from their defaults when no ceiling is drawn: refused."""
    inert = [f"{k}={v!r}" for k, v, d in (("seed", seed, 0), ("reps", reps, 10)) if v != d]
    if inert:
        raise no_effect(inert, condition, "seed and reps draw the split halves of the ceiling", instead, caller="crsa")


def check_crsa_params(rdm_method: Any, compare_method: Any, noise_ceiling: Any, seed: Any, reps: Any) -> dict[str, Any]:
    """:func:`crsa`'s parameters checked before any data is read (one-line :class:`~neuroxr.errors.ParameterError`).

    ``noise_ceiling=False`` with a ceiling's ``seed`` or ``reps`` is refused here; with ``None``
    the data decide whether a ceiling is drawn (:func:`crsa` refuses them then).

    Returns
    -------
    dict
        The parameters, the comparison by its canonical name (``"corr"`` -> ``"pearson"``), the
        ceiling flag a bool (or None), ``seed`` and ``reps`` ints.
    """
    _check_option(rdm_method, _r.RDM_METHODS, "rdm_method", "crsa")
    compare_method = _c._normalize_compare_method(compare_method, "crsa", "compare_method")
    if noise_ceiling is not None and not isinstance(noise_ceiling, (bool, np.bool_)):
        raise ParameterError(f"crsa: noise_ceiling must be True, False or None (automatic); got {shown(noise_ceiling)}.")
    halves = check_split_halves(seed, reps, "crsa")
    if noise_ceiling is not None and not noise_ceiling:
        _refuse_inert_ceiling(seed, reps, "with noise_ceiling=False", "keep the ceiling")
    return {"rdm_method": rdm_method, "compare_method": compare_method,
            "noise_ceiling": None if noise_ceiling is None else bool(noise_ceiling), **halves}


def _paired_arrays(features: xr.DataArray, neural: xr.DataArray | _Checked,
                   caller: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features ``(n, p)``, trial-averaged responses ``(n, k)`` (of ``neural`` as
    :func:`~neuroxr.geometry._common._drop_unusable` returned it), stimulus ids and neuroid ids,
    paired and in canonical order (stimuli by ``stimulus_id``, units by ``unit_id``, neuroids by
    ``neuroid_id``), C-contiguous: BLAS sums in the order and memory layout it is given, so the
    order of the units or neuroids in the inputs changes no bit. Features
    without variance across the stimuli (a dead layer) are refused as the directions refuse such a
    design (:func:`check_design`, one-line ``LayoutError`` starting with ``caller``): a ridge fit
    of them predicts the training means, whose out-of-fold correlations are an artefact."""
    fname, nname = _named(features, "features"), _named(neural, "neural")
    if isinstance(features, xr.Dataset) and "K" in features.data_vars:  # a Gram: the fits need the units themselves
        raise LayoutError(f"{caller}: features is a Dataset (a Gram); {caller} fits ridge encoding models on the "
                          "(stimulus, unit) features themselves: pass the features DataArray (e.g. "
                          "store.read_features(model, layer)) or its array.")
    validate_features(features, name=f"{caller}: {fname}")
    m = _canonical(_neural_mean(neural, name=f"{caller}: {nname}"))
    m, f = align(m, features, names=(nname, fname), caller=caller)
    units = canonical_order(f["unit_id"].values)  # sorted unit ids: eReg's projection draws over these positions
    if not np.array_equal(units, np.arange(units.size)):
        f = f.isel(unit=units)
    neuroids = canonical_order(np.asarray(m["neuroid_id"].values).astype(str))
    if not np.array_equal(neuroids, np.arange(neuroids.size)):
        m = m.isel(neuroid=neuroids)
    # C order whatever the selections left (a unit selection is Fortran-ordered): the fits' sums then
    # round alike for every order of the units and neuroids given
    Y = np.ascontiguousarray(m.transpose("stimulus", "neuroid").values, dtype=np.float64)
    X = np.ascontiguousarray(check_computed(f, np.asarray(f.values, dtype=np.float64), f"{caller}: {fname}"))
    warn_offset_columns(X, f"{caller}: {fname}", "units", float32_cause(f))  # fitted in float64: float32 inputs only
    check_design(X, f"{caller}: {fname}")
    return X, Y, _ids(m), np.asarray(m["neuroid_id"].values).astype(str)


def check_design(X: np.ndarray, name: str) -> None:
    """The directions' refusal of a design without variance across the stimuli, up to rounding
    (:func:`neuroxr.predictivity._prepare.check_design`: one rule for every ridge fit)."""
    from ..predictivity._prepare import check_design as _check_design  # imported here: predictivity imports geometry

    _check_design(X, name)


def _check_ridge(alpha: Any, n_folds: Any, fold_seed: Any, caller: str) -> dict[str, Any]:
    """The ridge fit's parameters, checked before any data is read (the directions' one fold check;
    the messages start with ``caller``)."""
    check_fold_params(n_folds, fold_seed, caller)
    return {"alpha": check_alpha(alpha, caller=caller), "n_folds": int(n_folds), "fold_seed": int(fold_seed)}


def check_ersa_params(rdm_method: Any, compare_method: Any, alpha: Any, n_folds: Any, fold_seed: Any,
                      test_size: Any, seed: Any) -> dict[str, Any]:
    """:func:`ersa`'s parameters checked before any data is read (one-line :class:`~neuroxr.errors.ParameterError`);
    returned with the comparison by its canonical name and the numbers as floats and ints."""
    _check_option(rdm_method, _r.RDM_METHODS, "rdm_method", "ersa")
    compare_method = _c._normalize_compare_method(compare_method, "ersa", "compare_method")
    return {"rdm_method": rdm_method, "compare_method": compare_method, **_check_ridge(alpha, n_folds, fold_seed, "ersa"),
            **check_split(test_size, seed, "ersa")}


def _oof(X: np.ndarray, Y: np.ndarray, alpha: float, n_folds: int, fold_seed: int, name: str,
         backend: str | None = None, shrunk: str = "") -> np.ndarray:
    """Out-of-fold ridge predictions over ``kfold_indices(n, n_folds, fold_seed)`` on ``backend``
    (float64), as host NumPy; ``name`` names the stimuli in the one-line error when they are fewer than the folds.
    ``shrunk``: the warning's start (``"ereg"``, ...) for an ``alpha`` that shrinks the fits to the training
    means (:func:`_warn_shrunk`); none when empty."""
    folds = stimulus_folds(X.shape[0], n_folds, fold_seed, name)
    P = np.asarray(to_numpy(oof_predict(asarray(X, backend), asarray(Y, backend), folds, alpha=alpha)))
    if shrunk:
        _warn_shrunk(P, Y, folds, alpha, shrunk)
    return P


def _warn_shrunk(P: np.ndarray, Y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], alpha: float, what: str) -> None:
    """One warning when ``alpha`` shrinks the out-of-fold ridge fits of ``Y`` (n, k) towards their training
    means: on the median neuroid, the predictions ``P`` vary less across the stimuli with the features (``P``
    less each fold's training mean) than with those means. A stimulus's training mean leaves out its own
    response, so it correlates negatively with it: such a score measures the folds, not the features (at
    ``alpha=1e4`` on Cowley V4 pixels, an eReg r of -0.2 for the real and for random features alike)."""
    means = np.empty_like(Y)
    for tr, te in folds:
        means[te] = Y[tr].mean(axis=0)
    spread, by_folds = (P - means).std(axis=0), means.std(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = spread / by_folds
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size and float(np.median(ratio)) < 1:
        warn(f"{what}: alpha={alpha:g} shrinks the ridge fits towards the training means: on the median neuroid the "
             f"out-of-fold predictions vary {float(np.median(ratio)):.2g} times as much with the features as with the "
             "folds' training means, which leave out each stimulus's own response (an out-of-fold correlation below "
             "0 by construction); the score measures the folds more than the features. Pass a smaller alpha.")


def ersa(
    features: xr.DataArray,
    neural: xr.DataArray,
    rdm_method: str = "correlation",
    compare_method: str = COMPARE_DEFAULT,
    alpha: float = 0.1,
    n_folds: int = 10,
    fold_seed: int = 0,
    test_size: float = 0.5,
    seed: int = 0,
    backend: str | None = None,
) -> xr.Dataset:
    """Encoding RSA (feature-reweighted RSA): RDM of encoding-model predictions vs the neural RDM.

    The stimuli, in canonical order, are split into train and test sets
    (:func:`neuroxr.geometry.split_train_test` with ``seed`` and ``test_size``). A ridge encoding
    model (scikit-learn-equivalent ``Ridge(alpha)``) maps features to the trial-averaged responses
    of every neuroid:

    - **train**: predictions are out-of-fold within the training stimuli (``n_folds`` folds,
      ``fold_seed``), so no training stimulus is predicted by a model that saw it;
    - **test**: the model fitted on all training stimuli predicts the held-out test stimuli.

    On each set, the RDM of the predicted responses is compared with the neural RDM of the same
    stimuli. Layer selection should use ``train_score`` (never ``test_score``).

    Parameters
    ----------
    features : DataArray (stimulus, unit)
    neural : DataArray (stimulus, neuroid, repeat)
    rdm_method : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default "correlation"
    compare_method : {"pearson", "spearman", "kendall", "cosine"}, default "spearman"
    alpha : float, default 0.1
    n_folds, fold_seed : int, default 10, 0
    test_size : float in (0, 1), default 0.5
    seed : int, default 0
    backend : str, optional
        Array backend of the ridge fits (default: the global one; float64). Not a parameter of the
        numbers: every backend gives NumPy's to rounding.

    Returns
    -------
    xarray.Dataset
        Scalars ``train_score``, ``test_score``; ``split`` per stimulus (canonical order, coord
        ``stimulus_id``); attrs with all parameters.
    """
    compare_method = check_ersa_params(rdm_method, compare_method, alpha, n_folds, fold_seed, test_size, seed)["compare_method"]
    resolve_backend(backend, "ersa")  # refused naming the function, before the data is read
    source, target = record_label(features, "model"), record_label(neural, "neural")
    (neural, features), counts, _ = _drop_unusable([(neural, _named(neural, "neural")), (features, _named(features, "features"))],
                                                   "ersa")
    X, Y, ids, _ = _paired_arrays(_plain(features), neural, "ersa")
    tr, te = _train_test(X.shape[0], test_size, seed, "ersa")  # positions of the canonical order
    check_design(X[tr], f"ersa: {_named(features, 'features')} (training stimuli)")  # the design of every fit
    # the model fitted on the training stimuli predicts the test stimuli: fold (tr -> te) of the one
    # ridge solver (its second fold, te -> tr, is not used)
    P_te = np.asarray(to_numpy(oof_predict(asarray(X, backend), asarray(Y, backend), [(tr, te), (te, tr)], alpha=alpha)))[te]
    P_tr = _oof(X[tr], Y[tr], alpha, n_folds, fold_seed, "ersa: neural/features (training stimuli)", backend,
                "ersa (train_score)")
    s_tr, s_te = (float(_compare_rdms(_r.rdm(P, rdm_method), _r.rdm(Y[s], rdm_method), compare_method, None, "ersa",
                                      (f"the RDM of the {side} predictions", f"the neural RDM of the {side} stimuli")))
                  for P, s, side in ((P_tr, tr, "training"), (P_te, te, "test")))
    split = np.full(X.shape[0], "train", dtype=object)
    split[te] = "test"
    attrs = {
        "direction": "ersa", "rdm_method": rdm_method, "compare_method": compare_method, "regressor": "ridge",
        "alpha": alpha, "n_folds": n_folds, "fold_seed": fold_seed, "test_size": test_size, "seed": seed,
        "n_train": int(tr.size), "n_test": int(te.size), **counts, "source": source, "target": target,
    }
    return _score_ds(
        {"train_score": s_tr, "test_score": s_te, "split": (("stimulus",), split.astype(str))},
        attrs,
        coords={"stimulus_id": ("stimulus", ids)},
    )


def projection_dim(n: int, p: int, n_components: Any = "auto", eps: Any = 0.1) -> tuple[int, bool]:
    """eReg's projection dimension ``k`` for ``n`` stimuli and ``p`` units, and whether a projection
    is drawn (``k < p``): ``johnson_lindenstrauss_min_dim(n, eps)`` for ``"auto"``, else
    ``n_components``. One-line errors for bad values and for an ``eps`` that sizes nothing."""
    from sklearn.random_projection import johnson_lindenstrauss_min_dim

    _check_projection(n_components, eps)
    k = int(johnson_lindenstrauss_min_dim(n, eps=eps)) if n_components == "auto" else int(n_components)
    return k, k < p


def _check_projection(n_components: Any, eps: Any) -> dict[str, Any]:
    """eReg's ``n_components`` ("auto" or an int >= 1) and ``eps`` (in (0, 1), read by "auto" only)."""
    if n_components != "auto" and (isinstance(eps, bool) or eps != 0.1):
        raise no_effect([f"eps={eps!r}"], f"with n_components={n_components!r}",
                        "it sets the Johnson-Lindenstrauss dimension of n_components='auto'", caller="ereg")
    if n_components == "auto":
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < 1:
            raise ParameterError(f"ereg: eps must be a float in (0, 1); got {shown(eps)}.")
    elif not (isinstance(n_components, (int, np.integer)) and not isinstance(n_components, bool) and n_components > 0):
        raise ParameterError(f"ereg: n_components must be 'auto' or a positive int; got {shown(n_components)}.")
    return {"n_components": n_components if n_components == "auto" else int(n_components), "eps": float(eps)}


def check_ereg_params(n_components: Any, eps: Any, alpha: Any, n_folds: Any, fold_seed: Any, seed: Any) -> dict[str, Any]:
    """:func:`ereg`'s parameters checked before any data is read (one-line :class:`~neuroxr.errors.ParameterError`).
    Whether a non-default ``seed`` draws anything depends on the data (see :func:`ereg`)."""
    return {**_check_projection(n_components, eps), **_check_ridge(alpha, n_folds, fold_seed, "ereg"),
            "seed": check_int(seed, "seed", 0, "The projection's random_state; pass e.g. seed=0.", 2**32 - 1, "ereg")}


def ereg(
    features: xr.DataArray,
    neural: xr.DataArray,
    n_components: int | str = "auto",
    eps: float = 0.1,
    alpha: float = 0.1,
    n_folds: int = 10,
    fold_seed: int = 0,
    seed: int = 0,
    backend: str | None = None,
) -> xr.Dataset:
    """Encoding regression after a sparse random projection of the features (Johnson-Lindenstrauss).

    Features are projected with ``sklearn.random_projection.SparseRandomProjection`` to
    ``n_components`` dimensions (``"auto"``: ``johnson_lindenstrauss_min_dim(n_stimuli, eps=eps)``;
    no projection when that is not smaller than the number of units), then out-of-fold ridge
    predictions (``alpha``, ``n_folds``, ``fold_seed``; folds over the canonical stimulus order)
    of the trial-averaged responses are scored per neuroid by Pearson ``r``. The projection is
    drawn over the units in canonical order (``unit_id`` sorted as strings), so permuting the
    units of ``features`` changes no number.

    Parameters
    ----------
    features : DataArray (stimulus, unit)
    neural : DataArray (stimulus, neuroid, repeat)
    n_components : int or "auto", default "auto"
        An int at or above the number of units ``p`` means no projection (the attrs record
        ``n_components = p``, ``projected = 0``), so one value serves layers of any width.
    eps : float, default 0.1
    alpha : float, default 0.1
    n_folds, fold_seed : int, default 10, 0
    seed : int, default 0
        ``random_state`` of the projection (a draw over units, not stimuli). A non-default seed,
        or a non-default ``eps``, is refused when no projection is drawn.
    backend : str, optional
        Array backend of the ridge fits, as in :func:`ersa`.

    Returns
    -------
    xarray.Dataset
        ``r`` (neuroid), ``score`` = mean ``r``; attrs with the parameters and the dimension used.
    """
    return _ereg(features, neural, n_components, eps, alpha, n_folds, fold_seed, seed, refuse_inert=True, backend=backend)


def _ereg(
    features: xr.DataArray, neural: xr.DataArray, n_components: int | str, eps: float, alpha: float,
    n_folds: int, fold_seed: int, seed: int, *, refuse_inert: bool, backend: str | None = None,
) -> xr.Dataset:
    """:func:`ereg` with its one rule for a seed, or an ``eps`` of ``n_components="auto"``, that
    draws nothing (no projection): refused (``refuse_inert=True``, the public function) or run as
    the default seed 0 with a warning (``refuse_inert=False``: an ``ereg`` entry, which keeps the
    requested seed and eps in its key so one option set serves a sweep's layers of every width; the
    attrs say ``projected = 0``, ``seed = 0``). They are checked either way."""
    from sklearn.random_projection import SparseRandomProjection

    from ..kernels.stats import pearson

    check_ereg_params(n_components, eps, alpha, n_folds, fold_seed, seed)
    resolve_backend(backend, "ereg")
    source, target = record_label(features, "model"), record_label(neural, "neural")
    (neural, features), counts, _ = _drop_unusable([(neural, _named(neural, "neural")), (features, _named(features, "features"))],
                                                   "ereg")
    X, Y, _, keep_ids = _paired_arrays(_plain(features), neural, "ereg")  # neuroids in canonical order
    given = np.asarray(_plain(neural)["neuroid_id"].values).astype(str)  # r is returned in this order
    n, p = X.shape
    # too few stimuli for the folds, refused before the projection is sized (1 stimulus: a dimension of 0)
    stimulus_folds(n, n_folds, fold_seed, "ereg: neural/features")
    k, projected = projection_dim(n, p, n_components, eps)
    # eps other than 0.1 with an int n_components is refused by projection_dim; with "auto" it sizes a projection
    inert = [f"{name}={v!r}" for name, v, d in (("seed", seed, 0), ("eps", eps, 0.1)) if v != d] if not projected else []
    if inert:
        when = (f"n_components='auto' draws only when its Johnson-Lindenstrauss dimension ({k} for {n} stimuli) is "
                f"below the number of units ({p})" if n_components == "auto" else f"n_components={k} draws only below the {p} units")
        refusal = no_effect(inert, f"without a random projection, which {when}", caller="ereg")
        if refuse_inert:
            raise refusal
        # an entry: computed as the default (the attrs say seed = 0), and said, never silently
        warn(f"{str(refusal).removesuffix('.')}: the entry is computed without one (attrs projected = 0, seed = 0).")
        seed = 0
    if projected:
        X = SparseRandomProjection(n_components=k, random_state=seed).fit_transform(X)
        X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    from ..predictivity._prepare import warn_constant_targets  # imported here: predictivity imports geometry

    # the directions' rule: a neuroid constant across the stimuli (up to rounding) has no correlation, NaN and named
    const = warn_constant_targets(Y, np.asarray(keep_ids), f"ereg: {_named(neural, 'neural')}", "neuroids")
    P = _oof(X, Y, alpha, n_folds, fold_seed, "ereg: neural/features", backend, "ereg")
    r = np.where(const, np.nan, to_numpy(pearson(P, Y)))
    score = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")  # the mean of the neuroids with an r
    back = pd.Index(keep_ids).get_indexer(given)  # the neuroids in the order of the input (the mean summed in canonical order)
    r, keep_ids = r[back], keep_ids[back]
    attrs = {
        "direction": "ereg", "n_components": int(k if projected else p), "projected": int(projected), "eps": eps,
        "alpha": alpha, "n_folds": n_folds, "fold_seed": fold_seed, "seed": seed, "n_units": int(p),
        "n_stimuli": int(n), **counts, "n_constant_neuroids": int(const.sum()), "source": source, "target": target,
    }
    return _score_ds({"r": (("neuroid",), r), "score": score}, attrs, coords={"neuroid_id": ("neuroid", keep_ids)})
