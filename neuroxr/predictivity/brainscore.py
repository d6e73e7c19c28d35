"""Brain-Score's regression-correlation score and internal-consistency ceiling, on neuroxr layouts.

Reproduces the definitions of Brain-Score (``brainscore_vision`` v2.1.0 metrics
``regression_correlation`` / ``internal_consistency`` and ``metric_helpers.transformations``):

- **raw**: ``PLSRegression(n_components=25, scale=False)`` fitted on 10 splits of 90 % train /
  10 % test stimuli (``StratifiedShuffleSplit`` stratified by an object coord when there is one,
  else ``ShuffleSplit``; ``random_state=1``); per split, Pearson r per neuroid between the
  held-out predictions and the trial-averaged responses, then the **median over neuroids**;
  ``raw`` is the **mean over splits** and ``error`` the standard error of that mean
  (``std(ddof=0) / sqrt(n_splits)``, Brain-Score's ``standard_error_of_the_mean``).
- **ceiling**: split-half internal consistency: 10 ``ShuffleSplit`` draws of half of the
  repetitions (``train_size=0.5`` over the sorted repetition indices, ``random_state=1``), each
  half averaged over its repetitions, Pearson r per neuroid between the halves across stimuli,
  Spearman-Brown corrected per neuroid (``2 r / (1 + r)``), median over neuroids, mean over splits.
- **score**: ``raw / ceiling`` (Brain-Score's ``ceil_score``); ``ceiling_mode`` also offers the
  explained-variance forms of Brain-Score's neural benchmarks.

Every draw is made over the stimuli sorted by ``stimulus_id`` (Brain-Score draws over the
target assembly's storage order; the two agree when that assembly is sorted by ``stimulus_id``),
and the PLS fits the neuroids in canonical order (sorted ``neuroid_id``): its NIPALS iteration
starts from the first target column, so a fit in the input's order would depend on it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import to_canonical
from ..attrs import encode_attrs
from ..errors import LayoutError, ParameterError, examples, no_effect, shown, too_few_stimuli, warn
from ..geometry._common import (
    _align,
    _canonical_any,
    _Checked,
    _checked_at,
    _drop_unusable,
    _is_dask,
    _named,
    _neural_mean,
    _one_bin,
    _plain,
    _usable,
    record_label,
)
from ..kernels.resample import nanmedian
from ..kernels.splits import nanmean_repeats, split_means
from ..kernels.stats import pearson, spearman_brown, standard_error_of_the_mean
from ..layouts import validate_features, validate_neural
from ..validation import check_bool, check_computed, check_int
from ._prepare import by_id, check_design, id_order, warn_constant_targets

__all__ = ["brainscore", "brainscore_ceiling", "brainscore_splits", "CEILING_MODES", "REFERENCE"]

CEILING_MODES = ("ratio", "squared_ratio", "r2_over_ceiling")
REFERENCE = "Brain-Score (brainscore_vision v2.1.0: CrossRegressedCorrelation, InternalConsistency; Schrimpf et al. 2018)"
_AUTO = "auto"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence NumPy's floating-point notes (constant columns): NaN results say it. ``np.errstate`` is
    per thread; a warning filter (``warnings.catch_warnings``) is process-wide and hid, or lost for good,
    the warnings of a sweep's other tasks running meanwhile. All-NaN medians: :func:`nanmedian`."""
    with np.errstate(all="ignore"):
        yield


def _sem(values: np.ndarray) -> float:
    """Brain-Score's ``standard_error_of_the_mean`` over the splits (``values``, 1-D)."""
    return float(standard_error_of_the_mean(values))


def _strat_values(neural: xr.DataArray, features: xr.DataArray | None, stratify_by: str | None) -> np.ndarray | None:
    if stratify_by is None:
        return None
    key = "object_name" if stratify_by == _AUTO else stratify_by
    for da in (neural, features):
        if da is not None and key in da.coords and da.coords[key].dims == ("stimulus",):
            # the labels as Brain-Score passes them (StratifiedShuffleSplit orders its classes by value: 2
            # before 10); text only for a mixed object coord, which has no order of its own
            values = np.asarray(da.coords[key].values)
            arg = "neural" if da is neural else "features"
            _check_labels(values, f"brainscore: coord {key!r} on dim 'stimulus' of {_named(da, arg)}", f"fill them first "
                          f"(e.g. {arg}.assign_coords({key}={arg}[{key!r}].fillna('unknown'))), or pass stratify_by=None",
                          np.asarray(da.coords["stimulus_id"].values).astype(str))
            return values.astype(str) if values.dtype == object else values
    if stratify_by == _AUTO:
        return None
    raise LayoutError(
        f"brainscore: stratify_by={stratify_by!r} is not a coord on the 'stimulus' dim of the neural data or the features; "
        "add it (e.g. neural.assign_coords(object_name=('stimulus', labels))) or pass stratify_by=None."
    )


def _check_labels(values: np.ndarray, where: str, fix: str, ids: np.ndarray | None = None) -> None:
    """A one-line ``LayoutError`` (``where``, ``fix``) for stratification labels holding missing values
    (None, NaN, NaT), naming their stimuli (``ids``, else positions): as text, None and NaN were a class
    of their own (``'None'``, ``'nan'``), and a numeric NaN was scikit-learn's refusal."""
    import pandas as pd

    missing = np.asarray(pd.isna(values), dtype=bool).reshape(-1)
    if missing.any():
        at = f"stimuli {examples(np.asarray(ids)[missing].tolist())}" if ids is not None else \
            f"positions {examples(np.flatnonzero(missing).tolist())}"
        raise LayoutError(f"{where} holds {int(missing.sum())} missing labels (None or NaN) of {missing.size}, at {at}; "
                          f"the splits stratify by every label, so {fix}.")


def brainscore_splits(
    n_stimuli: int, strata: Any = None, n_splits: int = 10, train_size: float = 0.9, seed: int = 1
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's cross-validation splits over stimuli in canonical (sorted ``stimulus_id``) order.

    Parameters
    ----------
    n_stimuli : int
    strata : array-like of str, shape (n_stimuli,), optional
        Object / category label per stimulus: ``StratifiedShuffleSplit`` when given, else ``ShuffleSplit``.
    n_splits : int, default 10
    train_size : float, default 0.9
    seed : int, default 1
        ``random_state`` (Brain-Score's default is 1).

    Returns
    -------
    list of (train, test) int arrays, positions in canonical order.

    Raises
    ------
    ParameterError, LayoutError
        A count, ``train_size``, ``seed`` or ``strata`` that cannot make the splits (one line naming it).
    """
    caller = "brainscore_splits"
    n_stimuli = check_int(n_stimuli, "n_stimuli", 2, "The number of stimuli to split.", caller=caller)
    n_splits = check_int(n_splits, "n_splits", 1, "The stimulus splits, e.g. n_splits=10.", caller=caller)
    seed = check_int(seed, "seed", 0, "The random_state of the splits, e.g. seed=1.", 2**32 - 1, caller)
    if isinstance(train_size, bool) or not isinstance(train_size, numbers.Real) or not 0 < train_size < 1:
        raise ParameterError(f"{caller}: train_size must lie in (0, 1); got {shown(train_size)}.")
    if strata is not None and np.shape(strata) != (n_stimuli,):
        raise LayoutError(f"{caller}: strata must hold one label per stimulus, shape ({n_stimuli},); got shape "
                          f"{np.shape(strata)}. Pass the labels in canonical (sorted stimulus_id) order, or strata=None.")
    if strata is not None:
        _check_labels(np.asarray(strata, dtype=object), f"{caller}: strata", "fill them first, or pass strata=None")
    return _splits(n_stimuli, strata, n_splits, float(train_size), seed, caller)


def _splits(n_stimuli: int, strata: Any, n_splits: int, train_size: float, seed: int,
            caller: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`brainscore_splits` of checked arguments; ``caller`` names the function in the messages."""
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    kw = dict(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
    splitter = StratifiedShuffleSplit(**kw) if strata is not None else ShuffleSplit(**kw)
    args = (np.zeros(n_stimuli),) + ((np.asarray(strata),) if strata is not None else ())
    try:
        return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(*args)]
    except ValueError as exc:  # scikit-learn's: a class too small to stratify, a train_size leaving no test stimulus
        arg = "strata" if caller == "brainscore_splits" else "stratify_by"
        how, alt = (f"stratified by their labels ({arg}) ", f", or {arg}=None") if strata is not None else ("", "")
        raise LayoutError(f"{caller}: {n_stimuli} stimuli cannot be split {how}with train_size={train_size} "
                          f"({' '.join(str(exc).split())}); pass more stimuli or another train_size{alt}.") from None


def brainscore_ceiling(neural: xr.DataArray, n_splits: int = 10, seed: int = 1) -> xr.Dataset:
    """Brain-Score's split-half internal-consistency ceiling (``InternalConsistency``).

    Parameters
    ----------
    neural : DataArray (stimulus, neuroid, repeat)
        At least 2 repeats; values beyond about ``1e+-154`` are refused in one line (the directions'
        range rule, :func:`~neuroxr.kernels.gram_rows.check_range`). Missing trials (NaN): each
        (stimulus, neuroid)'s valid repeats are halved in the split's order (the first ``ceil(v / 2)`` against the rest, the directions'
        ``split="valid"``; Brain-Score's halves on complete rows), so a (stimulus, neuroid) needs
        2 valid repeats: stimuli without them in any neuroid, then neuroids lacking them on some
        stimulus, are left out with one warning (attrs ``n_excluded_stimuli``,
        ``n_excluded_neuroids``).
    n_splits : int, default 10
    seed : int, default 1
        ``random_state`` of the ``ShuffleSplit`` over repetition indices.

    Returns
    -------
    xarray.Dataset
        ``ceiling`` (scalar, mean over splits), ``error`` (SEM over splits), ``ceiling_split``
        (split,), ``consistency`` (split, neuroid): Spearman-Brown corrected split-half r; NaN for a
        neuroid whose trial means are constant across the stimuli (up to rounding; its halves are
        exactly anti-correlated, Spearman-Brown -inf), with the directions' warning.
    """
    check_int(n_splits, "n_splits", 1, "The repetition splits, e.g. n_splits=10.", caller="brainscore_ceiling")
    check_int(seed, "seed", 0, "The random_state of the repetition splits, e.g. seed=1.", 2**32 - 1, "brainscore_ceiling")
    label = f"brainscore_ceiling: {_named(neural, 'neural')}"  # messages start with the function called
    validate_neural(neural, name=label, check_values=False)
    _one_bin(neural, _named(neural, "neural"), "brainscore_ceiling")
    _need_repeats(neural, "brainscore_ceiling")
    if _is_dask(neural):  # every value is needed in memory: read once, then counted and checked there
        neural = neural.compute()
    validate_neural(neural, name=label)
    return _ceiling(neural, n_splits, seed, "brainscore_ceiling")


def _need_repeats(neural: xr.DataArray, caller: str) -> None:
    """A one-line ``LayoutError`` (prefixed ``caller``) for responses without 2 repeats."""
    n_rep = neural.sizes["repeat"]
    if n_rep < 2:
        raise LayoutError(
            f"{caller}: {_named(neural, 'neural')} has {n_rep} repeat on dim 'repeat'; the internal-consistency ceiling needs at "
            "least 2 repetitions per stimulus. Pass data with repeats, or ceiling=False."
        )


def _ceiling(neural: xr.DataArray | _Checked, n_splits: int, seed: int, caller: str,
             const: np.ndarray | None = None) -> xr.Dataset:
    """:func:`brainscore_ceiling` of responses with 2 repeats, also of responses a metric checked in
    this call with 2 valid repeats (a :class:`~neuroxr.geometry._common._Checked`: its valid
    repeats not counted, its values not checked again; a dask-backed one read once, for the halves).
    ``const``: the neuroids whose trial means are constant across the stimuli, found (and warned
    about) by the caller; else found here, with the directions' warning."""
    from sklearn.model_selection import ShuffleSplit

    checked, name = _checked_at(neural, 2), _named(neural, "neural")
    neural, counts, _ = _usable(_canonical_any(neural), name, 2, caller)
    n = neural.sizes["stimulus"]
    if n < 3:  # as the directions: no target has 3 stimuli for its split-half r
        raise too_few_stimuli(caller, name, n, "a split-half consistency over stimuli with 2 valid repeats",
                              "every split-half r is +-1 or NaN" if n == 2 else "", fix="pass responses to at least {need} stimuli.")
    neural = neural.transpose("stimulus", "neuroid", "repeat")
    V = np.asarray(neural.values, dtype=np.float64)
    if not checked:
        check_computed(neural, V, f"{caller}: {name}")  # inf refused
    # before the constancy rule, which squares them too
    _check_range(V, f"{caller}: {name}", "responses", _SCALE_NOTE if caller == "brainscore" else "(the ceiling does not change)")
    if const is None:  # the directions' constant-target rule: halves of such a neuroid are anti-correlated noise
        const = warn_constant_targets(nanmean_repeats(V), np.asarray(neural.coords["neuroid_id"].values), f"{caller}: {name}",
                                      "neuroids")
    n_rep = neural.sizes["repeat"]
    splitter = ShuffleSplit(n_splits=n_splits, train_size=0.5, test_size=None, random_state=seed)
    # ShuffleSplit's permutation is (test, train) with ceil(T/2) test repeats: as split="valid" reads
    # it, complete rows get Brain-Score's halves and each row's valid repeats are halved in that order
    perms = np.stack([np.concatenate([te, tr]) for tr, te in splitter.split(np.zeros(n_rep))])
    H1, H2 = split_means(V, perms, "valid")
    cons = np.empty((n_splits, V.shape[1]))
    with np.errstate(invalid="ignore"), _quiet():
        for s in range(n_splits):
            cons[s] = spearman_brown(pearson(np.asarray(H2[s]), np.asarray(H1[s])))
    cons[:, const] = np.nan  # their halves (2c - h and h) gave r = -1, Spearman-Brown -inf
    with _quiet():  # an all-NaN split is said once below, not by NumPy per split
        per_split = nanmedian(cons, axis=1)
    if np.isnan(per_split).any():
        warn(f"{caller}: the internal-consistency ceiling is NaN: in {int(np.isnan(per_split).sum())} of {n_splits} "
             "repetition splits every neuroid's split-half r is undefined (halves constant across stimuli)"
             + ("; score is NaN; read raw instead." if caller == "brainscore" else "."))
    return xr.Dataset(
        {
            "ceiling": ((), float(per_split.mean())),
            "error": ((), _sem(per_split)),
            "ceiling_split": (("split",), per_split),
            "consistency": (("split", "neuroid"), cons),
        },
        coords={"split": np.arange(n_splits), "neuroid_id": ("neuroid", np.asarray(neural.coords["neuroid_id"].values).astype(str))},
        attrs={"n_splits": n_splits, "seed": seed, "correction": "spearman_brown", **counts, "reference": REFERENCE,
               "source": record_label(neural, "neural")},
    )


#: What scaling the inputs leaves unchanged (:func:`_check_range`'s way out).
_SCALE_NOTE = "(raw, ceiling and score do not change)"


def _check_range(values: np.ndarray, name: str, what: str, note: str = _SCALE_NOTE) -> None:
    """The one range rule (:func:`~neuroxr.kernels.gram_rows.check_range`, as the directions): a
    one-line ``LayoutError`` naming ``name`` where ``values`` (stimulus, column[, repeat]: a unit, a
    neuroid) hold a column whose squares overflow float64, or where every square falls below its
    normal range (values beyond about ``1e+-154``): the ceiling's split-half r lost its digits or was
    NaN with a false warning of constant neuroids."""
    from ..kernels.gram_rows import check_range

    check_range(values, name, what=what, arg=name.rpartition(": ")[2].partition(" (")[0], note=note, axis=1)


#: Largest magnitudes of the features and of the trial means that PLS fits as given (Brain-Score's
#: numbers, bit for bit); outside, each is first multiplied by the power of two that brings it into
#: ``[0.5, 1)``. scikit-learn's PLS compares the values with absolute cutoffs (targets below ``10 eps``
#: taken for constant: 0 components and NaN at ``1e-16``) and overflows past about ``1e100``; the
#: score is a correlation of predictions with targets, which an exact power of two leaves unchanged.
PLS_RANGE = (2.0**-20, 2.0**60)


def _pls_scaled(M: np.ndarray) -> np.ndarray:
    """``M`` as given where its largest magnitude lies in :data:`PLS_RANGE` (or it is all zero),
    else :func:`~neuroxr.kernels.shape.unit_scaled` (one power of two for the whole array: PLS fits
    the neuroids jointly, so scaling them apart would change the fit)."""
    from ..kernels.shape import unit_scaled

    top = float(np.max(np.abs(M))) if M.size else 0.0
    return M if top == 0 or PLS_RANGE[0] <= top <= PLS_RANGE[1] else unit_scaled(np, M)


#: Columns of the rank sketch beyond ``n_components`` (:func:`_training_ranks`).
RANK_OVERSAMPLE = 10


def _training_ranks(X: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], n_components: int) -> np.ndarray:
    """Per split, the rank of the centred features ``X`` (n, p) on its training stimuli (what PLS
    centres and fits), exact up to ``n_components + RANK_OVERSAMPLE`` and capped there: numpy's
    ``matrix_rank`` rule (singular values above ``max(n_train, p) eps`` times the largest) on a
    seeded Gaussian sketch ``X Omega`` of that many columns (``X`` itself when it has no more),
    whose rank is ``min(rank(X), columns)``: one product for every split, no SVD of the features.

    The largest singular value the rule scales is the uncentred one's (at least the centred one's):
    centring features far from zero leaves rounding of ``eps |mean|`` in every value, which the
    centred scale would count as rank (the rank of ``1e4 + X`` is that of ``X``)."""
    p, k = X.shape[1], n_components + RANK_OVERSAMPLE
    S = X if p <= k else X @ np.random.default_rng(0).standard_normal((p, k))
    ranks = []
    for tr, _ in splits:
        sv = np.linalg.svd(S[tr] - S[tr].mean(axis=0), compute_uv=False)
        scale = max(float(sv[0]), float(np.linalg.norm(S[tr], 2)))
        ranks.append(int(np.sum(sv > scale * max(len(tr), p) * np.finfo(np.float64).eps)))
    return np.array(ranks)


def _warn_rank(ranks: np.ndarray, fitted: np.ndarray, n_components: int, fname: str) -> None:
    """One warning when, on some split's training stimuli, PLS fitted more components than the
    features' rank (``ranks``, :func:`_training_ranks`; ``fitted``, the components scikit-learn fitted
    per split) or stopped before ``n_components`` where the targets' residual vanished (scikit-learn's
    own ``"y residual is constant"`` warning, silenced for this one: e.g. ``n_components=n_train``
    with more units than stimuli stops at the rank ``n_train - 1`` on some splits and fits past it on
    the others). The components past the rank fit rounding errors, and raw with them (Brain-Score's
    numbers, kept)."""
    past, stopped = fitted > ranks, fitted < n_components
    if not (past.any() or stopped.any()):
        return

    def span(v: np.ndarray) -> str:
        return f"{int(v.min())}" if v.min() == v.max() else f"{int(v.min())} to {int(v.max())}"

    n, parts = len(ranks), []
    if past.any():
        parts.append(f"exceeds the rank of the centred features on the training stimuli of {int(past.sum())} of {n} splits "
                     f"(rank {span(ranks[past])}); the components fitted past it fit rounding errors and raw depends on "
                     "them (Brain-Score's numbers, kept)")
    if stopped.any():
        parts.append(f"scikit-learn's PLS stopped at {span(fitted[stopped])} components on {int(stopped.sum())} of {n} "
                     "splits, where the targets' residual on the training stimuli vanished (its 'y residual is constant')")
    lo = int(min(np.concatenate([ranks[past], fitted[stopped]])))
    fix = (f"pass n_components={lo} or fewer" if lo else
           "pass features that vary across the training stimuli" if past.any() else "pass responses that vary across the stimuli")
    what = "To fit none" if past.any() else "To fit the same components on every split"
    warn(f"brainscore: {fname}: n_components={n_components}{' ' if past.any() else ': '}" + "; ".join(parts) + f". {what}, {fix}.")


#: Fewest held-out stimuli per split: a Pearson r over 2 is +-1, over 1 undefined (the directions' rule).
MIN_TEST = 3


def _warn_cutoff(Y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], const: np.ndarray, ids: np.ndarray,
                 nname: str) -> None:
    """One warning naming the neuroids (columns of the (n, k) trial means ``Y``, as fitted) that
    scikit-learn's PLS treats as constant on some split's training stimuli: every centred value
    below its absolute cutoff (10 eps), though the directions' relative rule (``const``) finds them
    varying. PLS then predicts their mean, so their r is NaN and Brain-Score's median leaves them out."""
    cutoff = 10 * np.finfo(np.float64).eps  # scikit-learn's NIPALS: columns all below it are zeroed
    hit = np.zeros(Y.shape[1], dtype=int)
    for tr, _ in splits:
        Yt = Y[tr]
        hit += np.all(np.abs(Yt - Yt.mean(axis=0)) < cutoff, axis=0)
    hit[const] = 0
    if hit.any():
        warn(f"brainscore: {nname}: {int((hit > 0).sum())} neuroids vary by less than scikit-learn's PLS cutoff (10 eps about "
             f"their mean) on the training stimuli of up to {int(hit.max())} of {len(splits)} splits, far less than the "
             f"largest neuroid: {examples(ids[hit > 0])}. PLS fits them as constant there, so their r is NaN and the "
             "median leaves them out (as in Brain-Score); give such neuroids in their own set, or in a unit closer to "
             "the others'.")


def _check_test_size(n_test: int, n: int, train_size: float, n_components: int) -> None:
    """A one-line ``LayoutError`` when the splits hold out fewer than :data:`MIN_TEST` of the ``n``
    stimuli, naming the fewest stimuli that ``train_size`` needs and the largest ``train_size`` (in
    hundredths, with at least ``n_components`` training stimuli) that ``n`` allows."""
    if n_test >= MIN_TEST:
        return
    # scikit-learn's ShuffleSplit: floor(train_size * n) training stimuli, the rest held out; that
    # is more than m (1 - train_size), less than one above: 3 held out once m (1 - train_size) > 2
    need = next(m for m in range(max(n, int((MIN_TEST - 1) / (1 - train_size))), 2**62)
                if m - math.floor(train_size * m) >= MIN_TEST)
    fits = [k / 100 for k in range(99, 0, -1)
            if n - math.floor(k / 100 * n) >= MIN_TEST and math.floor(k / 100 * n) >= n_components]
    alt = f", or train_size={fits[0]} (the largest that holds out {MIN_TEST})" if fits else ""
    raise LayoutError(
        f"brainscore: {n} stimuli on dim 'stimulus' with train_size={train_size} leave {n_test} test stimul{'us' if n_test == 1 else 'i'} per split; "
        f"a held-out Pearson r needs at least {MIN_TEST} (over 2 it is +-1, over 1 undefined). "
        f"Pass at least {need} stimuli{alt}."
    )


def check_brainscore_params(n_components: Any, n_splits: Any, train_size: Any, stratify_by: Any, seed: Any,
                            ceiling: Any, ceiling_mode: Any) -> dict[str, Any]:
    """:func:`brainscore`'s parameters checked before any data is read (a one-line error naming the
    parameter; the bounds that need the data, such as ``n_components`` at most the units, are
    checked with it); returned spelled once (ints, ``train_size`` a float, ``ceiling`` a bool)."""
    if ceiling_mode not in CEILING_MODES:
        raise LayoutError(f"brainscore: ceiling_mode must be one of {CEILING_MODES}; got {shown(ceiling_mode)}.")
    ceiling = bool(check_bool(ceiling, "ceiling", "Pass ceiling=False for the raw score only.", caller="brainscore"))
    if not ceiling and ceiling_mode != "ratio":
        raise no_effect([f"ceiling_mode={ceiling_mode!r}"], "with ceiling=False",
                        "score is NaN without a ceiling; raw is uncorrected", caller="brainscore")
    if isinstance(train_size, bool) or not isinstance(train_size, numbers.Real) or not 0 < train_size < 1:
        raise LayoutError(f"brainscore: train_size must lie in (0, 1); got {shown(train_size)}.")
    if stratify_by is not None and not isinstance(stratify_by, str):
        raise ParameterError(f"brainscore: stratify_by must be a stimulus coord name, 'auto' or None; got {shown(stratify_by)}.")
    return {"n_components": check_int(n_components, "n_components", 1, "The PLS components, e.g. n_components=25.",
                                      caller="brainscore"),
            "n_splits": check_int(n_splits, "n_splits", 1, "The stimulus splits, e.g. n_splits=10.", caller="brainscore"),
            "train_size": float(train_size), "stratify_by": stratify_by,
            "seed": check_int(seed, "seed", 0, "The random_state of the splits, e.g. seed=1.", 2**32 - 1, "brainscore"),
            "ceiling": ceiling, "ceiling_mode": ceiling_mode}


def brainscore(
    features: xr.DataArray,
    neural: xr.DataArray,
    n_components: int = 25,
    n_splits: int = 10,
    train_size: float = 0.9,
    stratify_by: str | None = _AUTO,
    seed: int = 1,
    ceiling: bool = True,
    ceiling_mode: str = "ratio",
) -> xr.Dataset:
    """Brain-Score's PLS regression-correlation score of ``features`` on ``neural``, ceiled.

    Parameters
    ----------
    features : DataArray (stimulus, unit)
        Model features; paired with ``neural`` by ``stimulus_id``. Features with no variance across
        the stimuli (a dead layer) are refused as by the directions (a one-line ``LayoutError``), and
        so are features or responses beyond about ``1e+-154`` (the directions' range rule,
        :func:`~neuroxr.kernels.gram_rows.check_range`). Within it, features and trial means whose
        largest magnitude lies outside :data:`PLS_RANGE` are each multiplied by one power of two before
        PLS (scikit-learn's absolute cutoffs took targets near ``1e-16`` for constant), which leaves the
        score unchanged; inside it they are fitted as given (Brain-Score's numbers, bit for bit).
    neural : DataArray (stimulus, neuroid, repeat)
        Responses; the regression target is the trial average. A (stimulus, neuroid) needs a valid
        trial (2 with ``ceiling``, one in each half): stimuli without them in any neuroid are
        dropped from both inputs, then neuroids lacking them on some stimulus, with one warning, so
        that ``raw`` and ``ceiling`` use the same stimuli and neuroids (attrs ``n_excluded_stimuli``,
        ``n_excluded_neuroids``). A neuroid whose trial means are constant across the stimuli (up to
        rounding) has NaN ``r`` and ``consistency``, with the directions' warning.
    n_components : int, default 25
        PLS components (``PLSRegression(n_components, scale=False)``); at most the number of units.
        Above the rank of the centred features on a split's training stimuli (e.g. ``n_train``
        with more units than stimuli, whose rank is ``n_train - 1``) the components past it that
        scikit-learn fits (it stops where the targets' residual vanishes) fit rounding errors:
        Brain-Score's numbers are kept, with a warning naming the rank.
    n_splits : int, default 10
    train_size : float, default 0.9
        Must hold out at least 3 stimuli per split (``n - floor(train_size n)``; 21 stimuli at 0.9):
        a held-out r over 2 is +-1, over 1 undefined, so fewer is a ``LayoutError``.
    stratify_by : str or None, default "auto"
        Stimulus coord to stratify the splits by; ``"auto"`` uses ``object_name`` when present
        (Brain-Score's default), None never stratifies. The attr ``stratify_by`` is the coord the
        splits were stratified by, or None (JSON text, :func:`neuroxr.attrs.decoded`) when they were not.
    seed : int, default 1
        ``random_state`` of the stimulus splits and of the repetition splits.
    ceiling : bool, default True
        Compute the internal-consistency ceiling (needs >= 2 repeats); else ``ceiling`` and
        ``score`` are NaN.
    ceiling_mode : {"ratio", "squared_ratio", "r2_over_ceiling"}, default "ratio"
        ``score = raw / ceiling`` (Brain-Score's ``ceil_score``), ``(raw / ceiling) ** 2``
        (``explained_variance`` of brainscore_vision v2.0-v2.3 neural benchmarks) or
        ``raw ** 2 / ceiling`` (``explained_variance`` since brainscore_vision PR #2169, 2026). The
        squared forms score a negative ``raw`` as its opposite would score (Brain-Score's formula,
        kept): said in one warning.

    Returns
    -------
    xarray.Dataset
        Scalars ``raw``, ``error`` (SEM of raw over splits, Brain-Score's ``error``),
        ``ceiling``, ``ceiling_error``, ``score``; ``raw_split`` (split,), ``r`` (split, neuroid)
        held-out Pearson r per neuroid, ``consistency`` (split_half, neuroid); coords
        ``neuroid_id``; attrs with every parameter, ``n_stimuli``, ``n_excluded_stimuli``,
        ``n_excluded_neuroids`` and ``reference``.
    """
    from sklearn.cross_decomposition import PLSRegression

    check_brainscore_params(n_components, n_splits, train_size, stratify_by, seed, ceiling, ceiling_mode)
    fname, nname = _named(features, "features"), _named(neural, "neural")
    validate_features(features, name=f"brainscore: {fname}")
    validate_neural(neural, name=f"brainscore: {nname}", check_values=False)  # the values: once, in _drop_unusable
    _one_bin(neural, nname, "brainscore")
    if ceiling:
        _need_repeats(neural, "brainscore")
    # one set of stimuli and neuroids for raw and ceiling (2 valid repeats with a ceiling, as the directions);
    # in canonical order, the features' order after _align below
    (neural, features), counts, _ = _drop_unusable([(to_canonical(neural), _named(neural, "neural")),
                                                    (features, _named(features, "features"))], "brainscore", 2 if ceiling else 1)
    features, checked = _align(to_canonical(features), neural, names=(fname, nname), caller="brainscore")
    Y = _neural_mean(checked)  # checked above: not checked (a dask-backed one read) again
    neural = _plain(checked)
    # PLS components past the features' rank fit rounding errors, which depend on the column order:
    # the units in canonical id order too (as the neuroids below)
    features, _ = by_id(features, "unit")
    X = np.asarray(features.transpose("stimulus", "unit").values, dtype=np.float64)
    Yv = np.asarray(Y.transpose("stimulus", "neuroid").values, dtype=np.float64)
    # values beyond about 1e+-154: the directions' one-line refusal, before any rule squares them (in memory: the
    # responses themselves; dask-backed: the trial means read with the counts, the values checked with the ceiling)
    _check_range(X, f"brainscore: {fname}", "features")
    plain = neural.transpose("stimulus", "neuroid", "repeat")
    _check_range(Yv if _is_dask(plain) else np.asarray(plain.values, dtype=np.float64), f"brainscore: {nname}", "responses")
    check_design(X, f"brainscore: {fname}")  # a dead layer: the directions' one-line refusal (not scipy's SVD error)
    if not 1 <= n_components <= X.shape[1]:
        raise LayoutError(
            f"brainscore: n_components={n_components} but {fname} has {X.shape[1]} units on dim 'unit'; "
            "pass n_components between 1 and the number of units."
        )
    strata = _strat_values(neural, features, stratify_by)
    splits = _splits(X.shape[0], strata, n_splits, train_size, seed, "brainscore")
    n_train = min(len(tr) for tr, _ in splits)
    if n_components > n_train:  # PLS takes at most as many components as training stimuli
        raise LayoutError(
            f"brainscore: n_components={n_components} but the training splits hold {n_train} stimuli (train_size="
            f"{train_size} of {X.shape[0]} on dim 'stimulus'); pass n_components of at most {n_train}."
        )
    _check_test_size(min(len(te) for _, te in splits), X.shape[0], train_size, n_components)
    # PLS of tiny or huge units (scikit-learn's absolute cutoffs): each scaled by a power of two, exactly
    X, Yv = _pls_scaled(X), _pls_scaled(Yv)
    ranks = _training_ranks(X, splits, n_components)
    # the directions' constant-target rule: constant trial means score NaN (r and consistency), said once
    const = warn_constant_targets(Yv, np.asarray(Y.coords["neuroid_id"].values).astype(str), f"brainscore: {nname}", "neuroids")
    r = np.empty((n_splits, Yv.shape[1]))
    # PLS fits the neuroids jointly (NIPALS starts from the first): in canonical id order, by id
    order = id_order(Y, "neuroid")
    back = np.argsort(order)
    Y_by_id = Yv[:, order]  # once, not per split
    fitted = np.empty(n_splits, dtype=int)
    with _quiet(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y residual is constant", UserWarning)  # said by _warn_rank, in the project's form
        for s, (tr, te) in enumerate(splits):
            pls = PLSRegression(n_components=n_components, scale=False).fit(X[tr], Y_by_id[tr])
            fitted[s] = len(pls.n_iter_)  # scikit-learn stops where the targets' residual vanished
            r[s] = pearson(pls.predict(X[te])[:, back], Yv[te])
        r[:, const] = np.nan
        per_split = nanmedian(r, axis=1)
    _warn_rank(ranks, fitted, n_components, fname)
    _warn_cutoff(Y_by_id, splits, const[order], np.asarray(Y.coords["neuroid_id"].values).astype(str)[order], nname)
    raw = float(per_split.mean())
    data: dict[str, Any] = {
        "raw": ((), raw),
        "error": ((), _sem(per_split)),
        "raw_split": (("split",), per_split),
        "r": (("split", "neuroid"), r),
    }
    if ceiling:
        c = _ceiling(checked, n_splits, seed, "brainscore", const)  # not checked (a dask-backed one read once more for its halves)
        cval = float(c["ceiling"])  # a NaN one is said by _ceiling
        if not (math.isnan(cval) or cval > 0):  # Brain-Score's formula kept (parity), but a sign flip must not pass unnoticed
            warn(f"brainscore: the internal-consistency ceiling is {cval:.3g} (not positive): score = raw / ceiling "
                 f"(Brain-Score's formula) is not a fraction of a reachable maximum here; read raw instead.")
        score = {"ratio": raw / cval, "squared_ratio": (raw / cval) ** 2, "r2_over_ceiling": raw**2 / cval}[ceiling_mode]
        if ceiling_mode != "ratio" and raw < 0:  # Brain-Score's square kept (parity), but not its lost sign
            warn(f"brainscore: raw is {raw:.3g} (below 0: the held-out predictions anti-correlate with the responses on "
                 f"the median neuroid); ceiling_mode={ceiling_mode!r} squares it (Brain-Score's formula), so score "
                 f"{score:.3g} is what a raw of {-raw:.3g} scores. Read raw, or use ceiling_mode='ratio', which keeps the sign.")
        data.update(ceiling=((), cval), ceiling_error=((), float(c["error"])), score=((), score),
                    consistency=(("split_half", "neuroid"), c["consistency"].values))
    else:
        data.update(ceiling=((), math.nan), ceiling_error=((), math.nan), score=((), math.nan))
    from .. import __version__

    return xr.Dataset(
        data,
        coords={"split": np.arange(n_splits), "neuroid_id": ("neuroid", np.asarray(Y.coords["neuroid_id"].values).astype(str)),
                **({"split_half": np.arange(n_splits)} if ceiling else {})},
        attrs=encode_attrs({"protocol": "brainscore", "regression": f"PLSRegression(n_components={n_components}, scale=False)",
                           "n_components": n_components, "n_splits": n_splits, "train_size": train_size,
                           # the coord the splits were stratified by; None (JSON text) when they were not
                           "stratify_by": None if strata is None else ("object_name" if stratify_by == _AUTO else str(stratify_by)),
                           "seed": seed, "ceiling_mode": ceiling_mode, "n_stimuli": int(X.shape[0]), **counts,
                           "source": record_label(features, "features"), "target": record_label(neural, "neural"), "reference": REFERENCE,
                           "neuroxr_version": __version__}),
    )
