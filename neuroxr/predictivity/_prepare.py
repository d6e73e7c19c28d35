"""The directions' parameter checks, NaN handling and designs.

Everything here runs before the kernels: it turns labeled arrays into plain arrays in the
canonical stimulus order (sorted ``stimulus_id``), decides which stimuli each target is scored on,
and refuses bad parameters with one line naming the argument and the fix. The inputs' preamble
(naming, validation, ceiling, pairing: :func:`~neuroxr.predictivity._inputs.inputs`) and their
values (``load``) live in :mod:`neuroxr.predictivity._inputs`, re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import canonical_order
from ..backend import resolve_backend, resolve_dtype
from ..errors import LayoutError, NoPredictor, NothingToScore, ParameterError, examples, no_effect, shown, warn, where
from ..kernels import offsets as _offsets
from ..kernels.folds import check_fold_params, stimulus_folds
from ..kernels.offsets import offset_columns, warn_offsets
from ..kernels.regressors import (
    DEFAULT_ALPHA,
    DEFAULT_N_COMPONENTS,
    DEFAULT_RIDGECV_ALPHAS,
    Regressor,
    check_options_used,
    check_regressor,
    fits_jointly,
    is_estimator,
    pls_components,  # noqa: F401 (the directions read prep.pls_components)
    shares_operator,
    with_regressor,
)
from ..kernels.resample import nanmean
from ..kernels.splits import SPLIT_MODES, complete_sums, valid_counts
from ..kernels.stats import ROUNDING_EPS, ROUNDING_SPREAD, column_squares, column_tol, no_variance, rounding_tol
from ..validation import check_alpha, check_bool, check_int, check_min_reliability
from ._alphas import check_alphas
from ._inputs import SCALE_NOTE, check_scale, inputs, is_lazy, load, named, pair, sort_stimuli  # noqa: F401 (the directions read prep.*)
from ._progress import check_progress


def float32_cause(values: Any) -> str | None:
    """How ``values`` meet float32 before the directions' kernels centre them (:func:`~neuroxr.kernels.offsets.float32_cause`):
    ``"float32"`` where they are float32, else None. A ``dtype='float32'`` fit is no cause: the kernels centre each
    column in float64 before the cast (:func:`~neuroxr.kernels.regressors.centred_cast`), so no offset rounds
    its variation away."""
    return _offsets.float32_cause(values)


# ---------------------------------------------------------------------------- parameters
def check_params(
    *, reps: Any, seed: Any, split: str, regressor: Any, max_n: Any, backend: str | None, dtype: Any,
    alpha: Any = DEFAULT_ALPHA, alphas: Any = DEFAULT_RIDGECV_ALPHAS, n_folds: Any = 10, fold_seed: Any = 0,
    noise_ceiling: Any = None, min_reliability: Any = None, n_components: Any = DEFAULT_N_COMPONENTS,
    ceiling_option: bool = True, seed_drawn: bool = False, keep_predictions: Any = False, progress: Any = False,
    caller: str = "",
) -> None:
    """One-line errors for every bad parameter of a direction, naming the argument and the fix,
    and for an option set away from its default that changes nothing (``ceiling_option=False``:
    a direction without a noise ceiling; ``seed_drawn``: as :func:`check_ceiling_options`);
    ``keep_predictions`` a bool, ``progress`` a bool or a callable (:func:`check_progress`). The
    messages start with ``caller``, the public function called (``"forward: reps must be ..."``)."""
    check_bool(keep_predictions, "keep_predictions", "Pass keep_predictions=True to return the out-of-fold predictions.",
               caller=caller)
    check_progress(progress, caller)
    check_int(reps, "reps", 1, "Pass the number of split-half repetitions, e.g. reps=20.", caller=caller)
    check_int(seed, "seed", 0, "It seeds numpy.random.default_rng, which draws the split halves (and a call's subsamples, resamples or "
              "permutations); pass e.g. seed=0.", caller=caller)
    check_fold_params(n_folds, fold_seed, caller)
    if split not in SPLIT_MODES:
        raise ParameterError(f"{where(caller)}split must be one of {SPLIT_MODES}; got {shown(split)}.")
    check_regressor(regressor, caller)
    if max_n is not None:
        check_int(max_n, "max_n", 1, "Pass a positive number of units/neuroids to subsample, or None.", caller=caller)
    check_alpha(alpha, caller=caller)
    check_alphas(alphas, regressor, caller)
    # an int whatever the regressor, as reps and seed: 20.0 is refused, never keyed apart from 20
    check_int(n_components, "n_components", 1, "Pass the number of PLS components, e.g. n_components=20.", caller=caller)
    check_options_used(regressor, alpha, alphas, n_components, caller)
    if noise_ceiling is not None and not isinstance(noise_ceiling, (bool, np.bool_)):
        raise ParameterError(f"{where(caller)}noise_ceiling must be True, False or None (automatic); got {shown(noise_ceiling)}.")
    check_min_reliability(min_reliability, caller)
    check_ceiling_options(noise_ceiling, split=split, seed=seed, max_n=max_n, min_reliability=min_reliability,
                          keep=ceiling_option, seed_drawn=seed_drawn, caller=caller)
    check_dtype(regressor, dtype, caller)
    resolved = resolve_backend(backend, caller)
    if backend is not None and fit_backend(regressor, resolved) != resolved:
        raise no_effect([f"backend={backend!r}"], with_regressor(regressor),
                        "it fits on NumPy; the array backends run ridge and linear", caller=caller)


def check_dtype(regressor: Any, dtype: Any, caller: str = "") -> np.dtype:
    """``dtype`` resolved (:func:`~neuroxr.backend.resolve_dtype`), refused in one line where the
    regressor cannot use float32: every regressor but ridge (it fits in float64; linear's least squares
    cannot resolve in it)."""
    dt = resolve_dtype(dtype, caller)
    if (is_estimator(regressor) or regressor not in ("ridge", "linear")) and dt != np.float64:
        raise no_effect(["dtype='float32'"], with_regressor(regressor),
                        "it fits in float64; float32 applies to ridge alone", caller=caller)
    if isinstance(regressor, str) and regressor == "linear" and dt != np.float64:
        raise ParameterError(f"{where(caller)}dtype='float32' cannot resolve least squares (regressor='linear': ridge's "
                             f"float32 bound at alpha = 0; a near-duplicate unit moves EV by points); use dtype='float64'.")
    return dt


def fit_backend(regressor: Any, backend: str | None) -> str:
    """The backend a fit of ``regressor`` runs on: ``backend`` (None: the global one) for ridge and
    linear, NumPy for the others (lasso, PLS, ridgecv, ..., estimators), whatever the global backend."""
    return resolve_backend(backend) if not is_estimator(regressor) and regressor in ("ridge", "linear") else "numpy"


def check_ceiling_options(
    noise_ceiling: Any, *, split: Any = "valid", seed: Any = 0, max_n: Any = None, min_reliability: Any = None,
    keep: bool = True, seed_drawn: bool = False, caller: str = "", condition: str = "without a noise ceiling",
) -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` for an option that ``noise_ceiling=False``
    (explicit; model-to-model always, ``keep=False``) makes inert: ``split`` and ``min_reliability``
    (they draw and judge the ceiling's halves) and, unless it also draws ``max_n``'s subsets or the
    caller's own draws (``seed_drawn``: inference's resamples and permutations), ``seed``. The
    automatic ceiling (``None``) keeps them: it may be on for some inputs. (``reps`` then repeats
    one fit; fewer reps are the natural choice, so it is not refused.)"""
    if noise_ceiling is None or noise_ceiling:
        return
    inert = [f"split={split!r}"] if split != "valid" else []
    inert += [f"min_reliability={min_reliability!r}"] if min_reliability is not None else []
    if max_n is None and not seed_drawn and seed != 0:
        inert += [f"seed={seed!r}"]
    if inert == [f"seed={seed!r}"] and not keep and condition == "without a noise ceiling":  # model-to-model: none to keep
        raise no_effect(inert, condition, "it draws max_n's subsets only; there are no split halves to draw", "pass max_n", caller)
    if inert:
        raise no_effect(inert, condition, "split, seed and min_reliability draw and judge its split "
                        "halves; seed also draws max_n's subsets", "keep the ceiling" if keep else "", caller)


def check_max_n(max_n: int | None, size: int, name: str, what: str) -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` for a ``max_n`` at or above the ``size``
    predictors (``what``) of the input ``name`` (as the messages name it, after the function called):
    it would fit all of them every rep, the numbers of ``max_n=None`` under another key (and, with
    it, an inert ``seed`` or ``reps``)."""
    if max_n is not None and max_n >= size:
        raise no_effect([f"max_n={max_n!r}"], f"on its {size} {what}", "it fits a random subset of max_n of them every rep",
                        f"pass max_n below {size}", name)


def check_pls_predictors(regressor: Any, n_components: int, size: int, max_n: int | None, name: str, what: str,
                         caller: str = "") -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` for PLS components (``pls``, a PLS estimator) past
    the predictor columns a fit sees: the ``size`` predictors ``what`` of the input ``name`` (:func:`named`
    with the function called, ``caller``), or the ``max_n`` of them a rep draws; it starts with ``caller`` and the
    argument, as every parameter error, then names that input and,
    where ``max_n`` made them too few, ``max_n`` (the fit's own refusal said "the predictors have 4
    columns" of an input of 8 neuroids). Run after :func:`check_max_n`."""
    m = pls_components(regressor, n_components)
    drawn = max_n is not None and max_n < size
    cols = int(max_n) if drawn else int(size)
    if m is None or m <= cols:
        return
    arg = (f"regressor='pls': n_components={m}" if isinstance(regressor, str)
           else f"regressor={type(regressor).__name__}(n_components={m})")
    head, inp = where(caller) + arg, name.removeprefix(where(caller))
    if drawn:
        more = "" if m >= size else f", or max_n={m}" if m == size - 1 else f", or max_n of {m} to {size - 1}"
        raise ParameterError(f"{head} but max_n={max_n} fits {max_n} of the {size} {what} of {inp} per rep (PLS fits no "
                             f"more components than predictor columns); pass n_components <= {max_n}{more}.")
    raise ParameterError(f"{head} but {inp} has {size} {what} (the predictor columns; PLS fits no more components "
                         f"than them); pass n_components <= {size}.")


def subset(rng: np.random.Generator, size: int, max_n: int | None, order: np.ndarray | None = None) -> np.ndarray | None:
    """A random subset of ``max_n`` of ``size`` predictors (``None``: all of them, when ``max_n`` is
    ``None``; the directions refuse one not below ``size``, :func:`check_max_n`), drawn over the predictors in canonical id order: ``order`` the
    positions that sort their ids (:func:`id_order`; ``None``: they are sorted already). Returns
    the drawn positions in canonical order, so permuting the predictors draws the same ones by id."""
    if max_n is None or size <= max_n:
        return None
    pick = np.sort(rng.choice(size, int(max_n), replace=False))
    return pick if order is None else order[pick]


#: the id coord of each dim whose members a direction fits or scores
_ID_COORDS = {"unit": "unit_id", "neuroid": "neuroid_id"}


def id_order(da: xr.DataArray, dim: str) -> np.ndarray:
    """Positions that put the units or neuroids (``dim``) of ``da`` in canonical order: sorted ids
    compared as strings, as :func:`neuroxr.alignment.canonical_order` sorts stimuli."""
    return canonical_order(np.asarray(da[_ID_COORDS[dim]].values))


def by_id(da: xr.DataArray, dim: str) -> tuple[xr.DataArray, np.ndarray | None]:
    """``da`` with its ``dim`` in canonical id order (:func:`id_order`), and that order (``None``
    when it is the input's): what a fit that depends on the order of its columns (a joint fit of
    all targets, a coordinate-descent fit of the predictors) reads, so that permuting them changes
    no number. :func:`in_input_order` puts a result over ``dim`` back."""
    order = columns_by_id(da[_ID_COORDS[dim]].values)
    if order is None:
        return da, None
    if not isinstance(da.variable._data, np.ndarray):  # lazy (dask) or another array library
        return da.isel({dim: order}), order
    # one C-ordered copy (np.take): xarray's take of a middle dim lays its copy out dim-first, which
    # every later pass over the responses read strided or copied again
    coords = {name: c.isel({dim: order}) if dim in c.dims else c for name, c in da.coords.items()}
    return xr.DataArray(np.take(da.values, order, axis=da.get_axis_num(dim)), coords=coords, dims=da.dims,
                        name=da.name, attrs=da.attrs), order


def columns_by_id(ids: np.ndarray) -> np.ndarray | None:
    """Positions that put a predictor's columns (their ``ids``) in canonical order (:func:`id_order`'s
    rule), or ``None`` when they are in it: the order of a neural predictor's design columns, taken
    from its trial means and split halves rather than from a reordered copy of its responses."""
    order = canonical_order(np.asarray(ids))
    return None if np.array_equal(order, np.arange(order.size)) else order


def order_by_id(source: xr.DataArray, sdim: str, target: xr.DataArray, tdim: str, regressor: Any,
                source_always: bool = False) -> tuple[xr.DataArray, xr.DataArray, np.ndarray | None]:
    """The one rule of the directions and their inference: a joint fit (``pls``, an estimator) reads
    the targets, a fit other than ridge/linear (or any, ``source_always``: a neural predictor) the
    predictors, in canonical id order (:func:`by_id`). Returns both and the targets' order (for
    :func:`in_input_order`; ``None``: the input's)."""
    order = None
    if fits_jointly(regressor):
        target, order = by_id(target, tdim)
    if source_always or not shares_operator(regressor):
        source, _ = by_id(source, sdim)
    return source, target, order


def in_input_order(ds: xr.Dataset, dim: str, order: np.ndarray | None) -> xr.Dataset:
    """A result over ``dim`` computed on :func:`by_id`'s ``da.isel({dim: order})``, back in the
    input's order."""
    return ds if order is None else ds.isel({dim: np.argsort(order)})


# ---------------------------------------------------------------------------- values: missing, designs, Gram
def neuroid_nan(R: np.ndarray, every: bool = False, total: np.ndarray | None = None) -> np.ndarray:
    """Per neuroid (axis 1 of ``R``, shape (n_stimuli, n_neuroids, n_repeats)): whether any trial is
    NaN, or with ``every=True`` whether every trial is. One flat check first: complete responses
    (the common case) skip the reduction over the strided stimulus and repeat axes. ``total``:
    ``R``'s repeat sums (``sum_last``) where the caller has them; finite sums
    (:func:`~neuroxr.kernels.splits.complete_sums`) answer without reading ``R``."""
    if total is not None and complete_sums(R, total, "neuroid_nan"):
        return np.zeros(R.shape[1], dtype=bool)
    isnan = np.isnan(R)
    if not isnan.any():
        return np.zeros(R.shape[1], dtype=bool)
    return isnan.all(axis=(0, 2)) if every else isnan.any(axis=(0, 2))


def nan_neuroids(R: np.ndarray, ids: np.ndarray, name: str, predictor: bool = False,
                 total: np.ndarray | None = None) -> np.ndarray:
    """Mask of neuroids with at least one valid trial; warn naming the NaN-only ones (``total``: as
    :func:`neuroid_nan`'s)."""
    ok = ~neuroid_nan(R, every=True, total=total)
    if not ok.all():
        what = "They are left out of the predictor." if predictor else "Their scores are NaN."
        warn(f"{name}: {int((~ok).sum())} neuroids have no valid trial (all NaN): {examples(ids[~ok])}. {what}")
    if not ok.any():
        msg = f"{name}: every neuroid is all NaN; there is nothing to score."
        raise NoPredictor(msg, no_data=True) if predictor else NothingToScore(msg)
    return ok


def warn_shared_recordings(RA: np.ndarray, RB: np.ndarray, ids_a: np.ndarray, ids_b: np.ndarray,
                           names: tuple[str, str] = ("neural_a", "neural_b"),
                           what: tuple[str, str, str] = ("neuroids", "an inter-animal score",
                                                         "two animals (or two disjoint sets of neuroids)")) -> None:
    """Warn when target neuroids of ``neural_b`` are also predictors in ``neural_a`` with the same
    responses (e.g. an animal against itself): each such target is among its own predictors.
    The same responses are the same trial means (NaN-mean over the repeats, axis 2 of 3-D or 4-D
    responses, one column at a time; 2-D features as they are) at every stimulus, up to float32 rounding (a float32 copy), NaN matching NaN: the
    design sees only those, so one recording given once trial by trial and once trial-averaged (a
    repeat-averaged file), or with its repeats in another order, is predicted from itself too.
    Constant columns (a neuroid silent at every stimulus) are no one recording: the directions score
    them NaN with their own warning. ``names``: the two inputs as the message names them
    (:func:`named`; the first with the caller); ``what``: the targets, the score and what to pass
    instead (model-to-model: units of one layer)."""
    def stim_bins(R: np.ndarray) -> tuple[int, ...]:  # the shape of one column's trial means
        return R.shape[:1] + R.shape[3:] if R.ndim > 2 else R.shape[:1]

    if not RA.shape[1] or not RB.shape[1] or stim_bins(RA) != stim_bins(RB):
        return  # other stimuli (or time bins): no neuroid holds the same responses

    # a neuroid equal in both has an equal digest of its trial means rounded to 8 significant bits (a
    # float32 copy, or means summed in another order, differ far below that, so only a value within
    # that rounding of a bin's edge can part them), whatever its id (one recording stored twice under
    # other ids): only those candidates are compared whole, up to float32 rounding
    def key(col: np.ndarray) -> bytes:  # NaN equal to NaN (inf is refused before), -0.0 to 0.0
        with np.errstate(over="ignore"):  # beyond float32: inf, the candidates still compared whole
            bits = np.where(np.isnan(col), np.inf, col + 0.0).astype(np.float32).view(np.uint32)
        return hashlib.blake2b(((bits + np.uint32(0x4000)) & np.uint32(0xFFFF8000)).tobytes(), digest_size=16).digest()

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        nan = np.isnan(a)
        if not np.array_equal(nan, np.isnan(b)) or nan.all():
            return False
        a, b = a[~nan], b[~nan]
        scale = max(float(np.abs(a).max()), float(np.abs(b).max()))
        # float32 rounding of the scale (a float32 copy of the other): 2**-22, four times a float32 value's
        return a.max() > a.min() and bool((np.abs(a - b) <= 2.0**-22 * scale).all())  # constant: no one recording

    digests: dict[bytes, list[int]] = {}
    for i in range(RA.shape[1]):  # a column at a time: no copy of the responses
        digests.setdefault(key(_trial_means(RA[:, i])), []).append(i)
    a_ids, b_ids = np.asarray(ids_a).astype(str), np.asarray(ids_b).astype(str)
    found = []
    for j in range(RB.shape[1]):
        mb = _trial_means(RB[:, j])
        i = next((i for i in digests.get(key(mb), []) if same(_trial_means(RA[:, i]), mb)), None)
        if i is not None:
            found.append(b_ids[j] if a_ids[i] == b_ids[j] else f"{b_ids[j]} (= {a_ids[i]})")
    if found:
        warn(f"{names[1]}: {len(found)} {what[0]} are also predictors in {names[0]} with the same responses (trial means), "
             f"e.g. {examples(found)}; each is predicted from itself, so its score is not {what[1]}. Pass {what[2]}.")


def _trial_means(col: np.ndarray) -> np.ndarray:
    """NaN-means over the repeats (axis 1) of one neuroid's responses (stimulus, repeat[, time_bin]); a
    feature column (1-D) as it is."""
    return col if col.ndim < 2 else nanmean(col, axis=1)  # the one silent NaN-mean (NaN where no repeat)


def needed_repeats(ceiling: bool, split: str) -> int:
    """Valid repeats a (stimulus, neuroid) needs: 2 for split='valid' halves, else 1 (a defined mean)."""
    return 2 if ceiling and split == "valid" else 1


def predictor_stimuli(R: np.ndarray, name: str, ids: np.ndarray, need: int,
                      total: np.ndarray | None = None) -> np.ndarray:
    """Stimuli usable as design rows: every predictor neuroid has ``need`` valid repeats there.

    A missing value in a predictor touches every target, so such a stimulus is dropped for all
    targets, with a warning that counts them. ``total``: ``R``'s repeat sums where the caller has
    them (:func:`enough_repeats`).
    """
    enough = enough_repeats(R, need, total)
    keep = enough.all(axis=1)
    if not keep.any():
        raise LayoutError(
            f"{name}: no stimulus has {need} valid repeat(s) for every predictor neuroid; "
            + (f"pass {_ceiling_fix(enough)}." if need == 2 else "drop the neuroids with missing values.")
        )
    if not keep.all():
        warn(
            f"{name}: excluding {int((~keep).sum())} of {len(keep)} stimuli where a predictor neuroid has fewer "
            f"than {need} valid repeat(s), e.g. {examples(ids[~keep])}."
        )
    return keep


def _ceiling_fix(enough: np.ndarray) -> str:
    """The way to score responses whose (stimulus, neuroid)s ``enough`` (n, k) with 2 valid repeats are too
    few for split='valid': split='slots' only where some has 2 (with at most one valid repeat everywhere
    every slot split leaves a half empty, and every ceiling and ev NaN)."""
    return ("noise_ceiling=False or split='slots'" if enough.any() else
            "noise_ceiling=False: with at most one valid repeat at every stimulus no split half can be drawn")


def usable_stimuli(R: Any, need: int, total: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, valid)`` of target responses ``R`` (n, k, T): ``valid[s, j]`` when neuroid ``j`` has
    ``need`` valid repeats at stimulus ``s``, ``keep[s]`` when some neuroid does (``total``: ``R``'s
    repeat sums where the caller has them, :func:`enough_repeats`)."""
    valid = enough_repeats(R, need, total)
    return valid.any(axis=1), valid


def enough_repeats(R: Any, need: int, total: Any = None) -> np.ndarray:
    """Whether each (stimulus, neuroid) of ``R`` (n, k, T) has ``need`` valid repeats, bool (n, k).
    ``total``: ``R``'s repeat sums (``sum_last``) where the caller has them; finite sums
    (:func:`~neuroxr.kernels.splits.complete_sums`) answer without reading ``R`` or counting."""
    if total is not None and complete_sums(R, total, "enough_repeats"):
        return np.full(tuple(R.shape[:2]), int(R.shape[-1]) >= need)
    return np.asarray(valid_counts(R)) >= need


def target_stimuli(R: np.ndarray, name: str, ids: np.ndarray, need: int,
                   folds: bool = True, raise_empty: bool = True, total: np.ndarray | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-target usable stimuli of a neural target: ``(keep, valid)``.

    ``valid[s, j]``: neuroid ``j`` has ``need`` valid repeats at stimulus ``s``. A stimulus missing
    for every target is dropped (``keep`` False, with the warning that counts them); a stimulus
    missing for some targets is dropped for those targets only. No stimulus kept: a
    :class:`NothingToScore`, or with ``raise_empty=False`` the warning and an all-False ``keep``.
    ``total``: ``R``'s repeat sums where the caller has them (:func:`usable_stimuli`).
    """
    keep, valid = usable_stimuli(R, need, total)
    if raise_empty and not keep.any():
        raise NothingToScore(f"{name}: no stimulus has {need} valid repeat(s) for any neuroid"
                             + (f" (pass {_ceiling_fix(valid)})" if need == 2 else "") + "; nothing to score.")
    if not keep.all():
        warn(
            f"{name}: excluding {int((~keep).sum())} of {len(keep)} stimuli with fewer than {need} valid "
            f"repeat(s) for every neuroid, e.g. {examples(ids[~keep])}."
        )
    partial = ~valid[keep].all(axis=0)
    if partial.any():
        how = f"each is scored on its own stimuli{' (folds drawn over those)' * folds}, the other neuroids are unaffected"
        sets = len(np.unique(valid[keep][:, partial].T, axis=0)) if folds else 1  # one fit each: the cost grows with them
        how += f"; {sets} different sets of stimuli, one fit each" if sets > 1 else ""
        warn(f"{name}: {int(partial.sum())} neuroids lack {need} valid repeat(s) on some stimuli "
             f"({int((~valid[keep][:, partial]).sum())} stimulus-neuroid pairs); {how}.")
    return keep, valid[keep]


#: The inputs a direction's folds name in their errors (:func:`~neuroxr.kernels.folds.stimulus_folds`).
FOLD_NAMES = {"forward": "neural/features", "reverse": "neural/features", "inter_animal": "neural_a/neural_b",
              "model_to_model": "features_a/features_b"}


def regressor_options(alpha: float, n_components: int, alphas: Iterable[float], backend: str | None,
                      dtype: Any) -> dict[str, Any]:
    """The call's options of a :class:`~neuroxr.kernels.regressors.Regressor` (``alphas`` as a tuple,
    ``dtype`` resolved), as :func:`fold_regressor` takes them."""
    return dict(alpha=alpha, n_components=n_components, alphas=tuple(alphas), backend=backend, dtype=resolve_dtype(dtype))


def fold_regressor(direction: str, n: int, regressor: Any, n_folds: int, fold_seed: int,
                   opts: dict[str, Any], caller: str = "", counts: dict[str, int] | None = None) -> Regressor:
    """The regressor of ``direction`` on ``n`` stimuli (a group's of targets sharing their usable
    stimuli, or every kept one): its folds drawn over them with the call's ``n_folds`` and
    ``fold_seed`` (too few stimuli: the folds' error, starting with the function called
    ``caller`` and naming the direction's inputs :data:`FOLD_NAMES`; a :class:`NothingToScore`
    where ``counts``, the direction's :func:`target_counts`, say missing values excluded stimuli,
    :func:`~neuroxr.predictivity._groups.too_few_left`) and the call's options ``opts``
    (:func:`regressor_options`)."""
    name = where(caller) + FOLD_NAMES[direction]
    try:
        folds = stimulus_folds(n, n_folds, fold_seed, name)
    except LayoutError as exc:
        raise too_few_left(exc, counts) from None
    return Regressor(regressor, folds, **opts, caller=caller)


def _column_blocks(X: np.ndarray, block_bytes: int = 2**23) -> Iterable[np.ndarray]:
    step = max(1, int(block_bytes // (8 * max(1, X.shape[0]))))
    return (X[:, lo : lo + step] for lo in range(0, X.shape[1], step))


def check_design(X: np.ndarray, name: str, cause: str | None = None, what: str = "units", drawn: bool = False) -> None:
    """A :class:`LayoutError` when the design ``X`` (n, p) has no variance across the stimuli, up to rounding: when
    every column is constant, each decided on its own centred and uncentred squares (:func:`~neuroxr.kernels.stats.no_variance`,
    :func:`~neuroxr.kernels.stats.column_tol`, by blocks; one large constant column never hides the others' variance), as the streamed forward direction decides
    it from the Gram's statistics (:func:`~neuroxr.predictivity._gram.gram_matrix`). With a ``cause`` (:func:`float32_cause`), the same sums flag
    the columns ``what`` whose float32 rounding costs their variation its digits (:func:`~neuroxr.kernels.offsets.warn_offsets`).
    ``drawn``: ``X`` is a rep's ``max_n`` subset (the message says so). A design over fewer than 2 stimuli has
    no variance to judge: the folds that follow refuse its count (too few stimuli, never a dead layer)."""
    if X.shape[0] < 2:
        return
    if cause is None and X.shape[1] > 1 and not bool(np.all(no_variance(*column_squares(X[:, :1]), column_tol(np, X.dtype)))):
        return  # its first column varies: so does the design (the common case, decided on one column)
    varying = False
    offset = []
    for B in _column_blocks(X):
        c, r = column_squares(B)
        varying = varying or not bool(np.all(no_variance(c, r, column_tol(np, X.dtype))))
        if cause is None and varying:
            return  # no offset warning to make: the rest of the design need not be read
        if cause is not None:
            offset.append(offset_columns(c, r))
    if not varying:
        design_error(name, X.shape[1] if drawn else None, bool(np.any(_beyond_rounding(X))))
    if cause is not None:
        warn_offsets(name, np.concatenate(offset), what, cause)


def _beyond_rounding(X: np.ndarray) -> np.ndarray:
    """(p,) bool: columns (of values constant up to rounding, NaN: missing) whose spread exceeds 256 ulps
    of their magnitude: a genuine variation about a large baseline, not the rounding of equal values."""
    hi, lo = np.nanmax(X, axis=0), np.nanmin(X, axis=0)
    eps = np.finfo(X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64).eps  # the values' own rounding
    return (hi - lo) > ROUNDING_EPS * eps * np.maximum(np.abs(hi), np.abs(lo))


def design_error(name: str, max_n: int | None = None, varies: bool = False) -> None:
    """The one refusal of a design without variance; ``max_n``: it is a rep's subset of that many columns;
    ``varies``: some column's values are not all equal (a spread below the rounding bound about a large
    baseline), which subtracting the baseline would score, so the message says that, not a dead layer."""
    cols, fix = ((f"one of the max_n={max_n} columns drawn for a rep", "Drop the constant columns first, or raise max_n.")
                 if max_n is not None else ("predictor column", "Check the features/responses (e.g. a dead layer)."))
    if varies:
        fix = (f"Its values do vary, by less than {ROUNDING_SPREAD} of their magnitude (a large baseline): subtract "
               f"the baseline first (e.g. each column's mean over the stimuli).")
    raise NoPredictor(f"{name}: every {cols} is constant across stimuli (up to rounding); nothing can be predicted from it. {fix}")


def warn_constant_targets(Y: np.ndarray | None, ids: np.ndarray, name: str, what: str, const: np.ndarray | None = None,
                          cause: str | None = None, offset: np.ndarray | None = None) -> np.ndarray:
    """(m,) bool: the targets (columns of ``Y``, NaN: missing) constant across their stimuli up to
    rounding (:func:`~neuroxr.kernels.stats.constant_columns`; all-NaN ones too, left out of the
    warning: a target without a scored stimulus is named by the warning of too few stimuli; ``const``:
    found already), with a warning naming them; the directions score them NaN (:func:`nan_targets`).
    With a ``cause`` (:func:`float32_cause`), the same sums flag the targets whose float32 rounding
    costs their variation its digits (``offset``: flagged already, with ``const``), with
    :func:`~neuroxr.kernels.offsets.warn_offsets`."""
    if const is None:  # constant_columns (decided in float64), and the offsets from the same sums
        const, offset = np.zeros(Y.shape[1], dtype=bool), np.zeros(Y.shape[1], dtype=bool)
        lo = 0
        for B in _column_blocks(Y):
            c, r = column_squares(B if B.dtype == np.float64 else B.astype(np.float64))
            const[lo : lo + B.shape[1]] = no_variance(c, r, rounding_tol(np, np.float64))
            if cause is not None:
                offset[lo : lo + B.shape[1]] = offset_columns(c, r)
            lo += B.shape[1]
    if cause is not None and offset is not None:
        warn_offsets(name, offset, what, cause)
    said = const.copy()
    if Y is not None and const.any():  # a target without a scored stimulus has its own warning (too few stimuli)
        said[const] = ~np.isnan(Y[:, const]).all(axis=0)
    if said.any():
        varies = 0
        if Y is not None:  # values not all equal (said: each has one): a spread below the bound about a large baseline
            varies = int(np.sum(_beyond_rounding(Y[:, said])))
        fix = (f" {varies} of them vary by less than that about a large baseline: subtract it first (e.g. each "
               f"one's mean over the stimuli) to score them." if varies else "")
        warn(
            f"{name}: {int(said.sum())} {what} are constant across stimuli (up to rounding: a spread below {ROUNDING_SPREAD} "
            f"of their magnitude): {examples(ids[said])}. Their correlation is undefined, so their scores are NaN.{fix}"
        )
    return const


def scored(mean: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The trial means ``mean`` (n, k) on the stimuli each target is scored on (``valid``, as
    :func:`target_stimuli` gives it), NaN elsewhere: what :func:`warn_constant_targets` judges, as
    inference does (a mean from 1 valid repeat where the ceiling needs 2 is not scored)."""
    return mean if valid.all() else np.where(valid, mean, np.nan)


def nan_targets(out: dict[str, np.ndarray], const: np.ndarray) -> dict[str, np.ndarray]:
    """``out`` (per-target arrays, targets first) with every number of the targets ``const`` NaN."""
    for v in out.values():
        v[const] = np.nan
    return out


def take(R: np.ndarray, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> np.ndarray:
    """``R[rows][:, cols]`` without copies when nothing is dropped (bool or int selectors)."""
    if rows is not None and not (rows.dtype == bool and rows.all()):
        R = R[rows]
    if cols is not None and not (cols.dtype == bool and cols.all()) and not (
        cols.dtype != bool and cols.size == R.shape[1] and np.array_equal(cols, np.arange(R.shape[1]))
    ):
        R = R[:, cols]
    return R


def expand(v: np.ndarray, ok: np.ndarray) -> np.ndarray:
    full = np.full((ok.shape[0],) + v.shape[1:], np.nan)
    full[ok] = v
    return full


def expand_pred(preds: np.ndarray | None, ok: np.ndarray) -> np.ndarray | None:
    if preds is None:
        return None
    full = np.full(preds.shape[:2] + (ok.shape[0],), np.nan)
    full[:, :, ok] = preds
    return full


# the targets' grouping by their usable stimuli, importable from here
from ._groups import (  # noqa: E402, F401
    TARGET_COUNTS,
    bin_counts,
    excluded_by,
    target_counts,
    target_groups,
    too_few_left,
    varying_groups,
)
