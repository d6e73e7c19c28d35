"""Reverse predictivity (brain -> model) and inter-animal consistency (animal A -> animal B).

Both predict their targets from a neural population, so they share one engine: per rep the
designs are the population mean and the two split halves of its repeats (reverse_pred's
``monkey_to_model`` and ``monkey_to_monkey``):

- reverse: ``ev = (r(F, P) / sqrt(SB(r(P1, P2))))^2 * 100`` per unit;
- inter-animal: ``ev = (r(mean RB, P) / sqrt(SB(rho_s(Bh1, Bh2)) * SB(r(P1, P2))))^2 * 100``
  per neuroid of B.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import xarray as xr

from ..backend import (
    HostWrites,
    cpu_threads,
    in_background,
    one_blas_thread,
    resolve_backend,
    resolve_dtype,
    sum_last,
    thread_map,
    with_blas_threads,
)
from ..kernels import splits as _splits
from ..kernels.gram_rows import check_range
from ..kernels.offsets import offset_columns, warn_offset_columns
from ..kernels.regressors import DEFAULT_ALPHA, DEFAULT_N_COMPONENTS, DEFAULT_RIDGECV_ALPHAS, Regressor, fits_jointly
from ..kernels.splits import SplitHalves, distinct_splits, draw_permutation, nanmean_repeats, split_half_r
from ..kernels.stats import column_squares, no_variance, pearson, rounding_tol, spearman_brown
from ..layouts import has_time
from ..sets import set_label
from ..validation import lazy_nonfinite_error
from . import _prepare as prep
from ._draws import draw_group as _draw_group
from ._draws import score_draw_group as _score_draw_group
from ._progress import RepProgress, TargetProgress
from ._result import common_attrs, dataset, finish_reps
from ._slot_regime import score_from_slot_kernels as _score_from_slot_kernels
from ._slot_regime import use_slot_kernels as _use_slot_kernels

__all__ = ["reverse", "inter_animal"]

_HALVES_BYTES = 2 * 2**20  # split halves computed per batch of reps (peak memory)
_TARGET_BLOCK_BYTES = 256 * 2**20  # in-memory targets scored a block of units at a time
_RANK_BYTES = 2**18  # target halves ranked per batch of reps (ranking holds a few copies, beside the tiny draws' too)


@with_blas_threads
def reverse(
    neural: xr.DataArray,
    features: xr.DataArray,
    *,
    reps: int = 20,
    seed: int = 0,
    regressor: Any = "ridge",
    alpha: float = DEFAULT_ALPHA,
    n_components: int = DEFAULT_N_COMPONENTS,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    max_n: int | None = None,
    noise_ceiling: bool | None = None,
    split: str = "valid",
    min_reliability: float | None = None,
    backend: str | None = None,
    dtype: Any = "float64",
    keep_predictions: bool = False,
    progress: bool | Callable = False,
) -> xr.Dataset:
    """Reverse predictivity (brain -> model): predict each model unit from the neural population.

    Parameters are those of :func:`neuroxr.predictivity.forward`; ``max_n`` draws a fresh subset
    of predictor neuroids every rep (over the neuroids in canonical order, sorted ``neuroid_id``;
    refused at or above the number of usable predictor neuroids); the ceiling is the split-half reliability of the predictions
    from the two halves of the predictor repeats. A dask-backed ``features`` is scored unit chunk
    by unit chunk.

    Returns
    -------
    xarray.Dataset, dims (unit, rep)
        ``ev``, ``r``, ``included``; with the ceiling also ``prediction_shc`` and ``ceiling``;
        the units' coords, in the input's unit order.

    Notes
    -----
    The predictor neuroids are used in canonical order (sorted ``neuroid_id``) and a joint fit
    (``pls``, an estimator) fits the units in canonical order (sorted ``unit_id``), so permuting
    either input's neuroids or units changes no number.

    A missing value in the predictor touches every target, so a stimulus where some predictor
    neuroid lacks valid repeats (2 with ``split="valid"`` and a ceiling, else 1) is dropped for
    all units, with a warning that counts them. All-NaN neuroids are left out of the predictor.

    Time-resolved ``neural``: one design per bin (same folds and split-half draws for every bin);
    the variables gain a last dim ``time_bin``, equal to calling reverse on each bin's slice.
    """
    if has_time(neural):
        from .time import by_bins

        return by_bins(reverse, {k: v for k, v in locals().items() if k != "by_bins"}, ("neural",), "reverse")
    prep.check_params(
        reps=reps, seed=seed, split=split, regressor=regressor, max_n=max_n, backend=backend, dtype=dtype,
        alpha=alpha, alphas=alphas, n_folds=n_folds, fold_seed=fold_seed, noise_ceiling=noise_ceiling,
        min_reliability=min_reliability, n_components=n_components, keep_predictions=keep_predictions, progress=progress,
        caller="reverse",
    )
    caller = "reverse"  # the messages start with it and name the inputs with their labels (prep.inputs)
    neural, features, nname, fname, ceiling, note, _ = prep.inputs(caller, neural, "neural", features, "features",
                                                                   noise_ceiling, dict(split=split, seed=seed, max_n=max_n,
                                                                                          min_reliability=min_reliability))
    # by id, never by position: the predictor neuroids (max_n's subsets, the fits' columns: the
    # designs' columns, cols) and, for a joint fit (pls, an estimator), the target units in canonical id order
    neural, features, targets_order = prep.order_by_id(neural, "neuroid", features, "unit", regressor)
    R = R0 = prep.load(neural, nname, dtype)
    total = sum_last(R)  # the repeat sums, once: the NaN checks' (finite: none), the trial means', the halves'
    ok = prep.nan_neuroids(R, neural.neuroid_id.values, nname, predictor=True, total=total)
    R = prep.take(R, None, ok)
    cols = prep.columns_by_id(neural.neuroid_id.values[ok])
    need = prep.needed_repeats(ceiling, split)
    keep = prep.predictor_stimuli(R, nname, neural.stimulus_id.values, need, total=total if R is R0 else None)
    R = prep.take(R, keep)
    total = total if R is R0 else sum_last(R)  # a dropped neuroid or stimulus: the sums of what is left
    mean = nanmean_repeats(R, total)  # the trial means, once: the designs' and the float32 offset check's
    warn_offset_columns(mean, nname, "neuroids", prep.float32_cause(neural))
    n = R.shape[0]
    # scored unit chunk by unit chunk, never loaded whole, where each target is fitted on its own
    # (a joint multi-output fit, pls or an estimator, needs every unit at once)
    lazy = prep.is_lazy(features) and not fits_jointly(regressor)
    F, keep_rows = (features.data, keep) if lazy else (prep.take(prep.load(features, fname, dtype), keep), None)
    cause = prep.float32_cause(features)
    const = (np.zeros(F.shape[1], dtype=bool) if lazy else
             prep.warn_constant_targets(F, features.unit_id.values, fname, "units", cause=cause))
    offset = np.zeros(F.shape[1], dtype=bool) if lazy and cause is not None else None
    reg = prep.fold_regressor("reverse", n, regressor, n_folds, fold_seed,
                              prep.regressor_options(alpha, n_components, alphas, backend, dtype), caller,
                              {"n_stimuli": int(n), "n_excluded_stimuli": int((~keep).sum()), "n_predictors": int(ok.sum())})
    out, preds = _from_neural_predictor(
        "reverse", R, mean, F, reg, reps, seed, max_n, ceiling, split, None, keep_predictions, progress, keep_rows, const if lazy else None,
        features.unit_id.values, offset, (nname, fname), cols, (total, None))
    if lazy:  # the lazy targets' constant units (and float32 offsets), found as their chunks were read
        prep.warn_constant_targets(None, features.unit_id.values, fname, "units", const, cause, offset)
    attrs = common_attrs(
        "reverse", set_label(neural, "neural"), set_label(features, "features"),
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=bool(ceiling), split=split, n_stimuli=int(n),
        n_excluded_stimuli=int((~keep).sum()), n_predictors=int(ok.sum()), note=note,
    )
    stim = neural.stimulus_id.values[keep] if preds is not None else None
    ds = dataset(features, "unit", prep.nan_targets(out, const), attrs, preds, stim, min_reliability, name=fname)
    return prep.in_input_order(ds, "unit", targets_order)


@with_blas_threads
def inter_animal(
    neural_a: xr.DataArray,
    neural_b: xr.DataArray,
    *,
    reps: int = 20,
    seed: int = 0,
    regressor: Any = "ridge",
    alpha: float = DEFAULT_ALPHA,
    n_components: int = DEFAULT_N_COMPONENTS,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    max_n: int | None = None,
    noise_ceiling: bool | None = None,
    split: str = "valid",
    min_reliability: float | None = None,
    backend: str | None = None,
    dtype: Any = "float64",
    keep_predictions: bool = False,
    progress: bool | Callable = False,
) -> xr.Dataset:
    """Inter-animal consistency (animal A -> animal B): predict each neuroid of B from A.

    Parameters are those of :func:`neuroxr.predictivity.forward`, with ``neural_a`` (predictors) and
    ``neural_b`` (targets), dims (stimulus, neuroid, repeat); ``max_n`` subsamples A's
    neuroids every rep (over them in canonical order, sorted ``neuroid_id``). The ceiling needs at least 2 repeats in both animals.

    Returns
    -------
    xarray.Dataset, dims (neuroid, rep)
        ``ev``, ``r``, ``included``; with the ceiling also ``target_shc`` (B's split-half
        reliability), ``prediction_shc`` and ``ceiling``; B's neuroid coords.

    Notes
    -----
    A's neuroids are used in canonical order (sorted ``neuroid_id``), and B's too by a joint fit
    (``pls``, an estimator), so permuting either animal's neuroids changes no number.

    Missing values in A (the predictor) drop the stimulus for every target, with a warning; a
    neuroid of B lacking valid repeats at a stimulus is scored without that stimulus (its folds
    drawn over its own stimuli), the other neuroids unaffected.

    Time-resolved inputs (either or both with the same ``time_bin``): one design per bin (same
    folds and split-half draws for every bin); the variables gain a last dim ``time_bin``, equal
    to calling inter_animal on each bin's slice.
    """
    if has_time(neural_a) or has_time(neural_b):
        from .time import by_bins

        args = {k: v for k, v in locals().items() if k != "by_bins"}
        return by_bins(inter_animal, args, ("neural_a", "neural_b"), "inter_animal")
    prep.check_params(
        reps=reps, seed=seed, split=split, regressor=regressor, max_n=max_n, backend=backend, dtype=dtype,
        alpha=alpha, alphas=alphas, n_folds=n_folds, fold_seed=fold_seed, noise_ceiling=noise_ceiling,
        min_reliability=min_reliability, n_components=n_components, keep_predictions=keep_predictions, progress=progress,
        caller="inter_animal",
    )
    caller = "inter_animal"  # the messages start with it and name the inputs with their labels (prep.inputs)
    neural_a, neural_b, aname, bname, ceiling, note, _ = prep.inputs(caller, neural_a, "neural_a", neural_b, "neural_b",
                                                                     noise_ceiling, dict(split=split, seed=seed, max_n=max_n,
                                                                                          min_reliability=min_reliability))
    # by id, never by position: A's neuroids (max_n's subsets, the fits' columns: the designs'
    # columns, cols) and, for a joint fit (pls, an estimator), B's in canonical id order
    neural_a, neural_b, targets_order = prep.order_by_id(neural_a, "neuroid", neural_b, "neuroid", regressor)
    ids = neural_a.stimulus_id.values
    RA, RB = prep.load(neural_a, aname, dtype), prep.load(neural_b, bname, dtype)
    prep.warn_shared_recordings(RA, RB, neural_a.neuroid_id.values, neural_b.neuroid_id.values,
                                (prep.named("", neural_a, "neural_a"), bname))
    RA0, RB0, total_a, total_b = RA, RB, sum_last(RA), sum_last(RB)  # as reverse's: the NaN checks', means', halves'
    ok_a = prep.nan_neuroids(RA, neural_a.neuroid_id.values, aname, predictor=True, total=total_a)
    ok_b = prep.nan_neuroids(RB, neural_b.neuroid_id.values, bname, total=total_b)
    RA, RB = prep.take(RA, None, ok_a), prep.take(RB, None, ok_b)
    cols_a = prep.columns_by_id(neural_a.neuroid_id.values[ok_a])
    need = prep.needed_repeats(ceiling, split)
    keep_a = prep.predictor_stimuli(RA, aname, ids, need, total=total_a if RA is RA0 else None)
    RA, RB = prep.take(RA, keep_a), prep.take(RB, keep_a)
    keep_b, valid = prep.target_stimuli(RB, bname, ids[keep_a], need, total=total_b if RB is RB0 else None)
    RA, RB = prep.take(RA, keep_b), prep.take(RB, keep_b)
    keep = keep_a.copy()
    keep[keep_a] = keep_b
    n, kb = RA.shape[0], RB.shape[1]
    total_a, total_b = (t if X is X0 else sum_last(X) for t, X, X0 in ((total_a, RA, RA0), (total_b, RB, RB0)))  # as reverse's
    mean_a = nanmean_repeats(RA, total_a)  # A's trial means, once: the float32 offset check's and each group's designs (its rows)
    warn_offset_columns(mean_a, aname, "neuroids", prep.float32_cause(neural_a))
    mean_b = nanmean_repeats(RB, total_b)  # a group's targets are its rows and columns of these means
    const = prep.warn_constant_targets(prep.scored(mean_b, valid), neural_b.neuroid_id.values[ok_b], bname, "neuroids",
                                       cause=prep.float32_cause(neural_b))
    opts = prep.regressor_options(alpha, n_components, alphas, backend, dtype)
    out: dict[str, np.ndarray] = {}
    preds = np.full((reps, n, kb), np.nan) if keep_predictions else None
    label_a, label_b = prep.named("", neural_a, "neural_a"), prep.named("", neural_b, "neural_b")  # without the caller
    groups = prep.target_groups(valid, bname, neural_b.neuroid_id.values[ok_b], n_folds, fold_seed,
                                counts={**prep.target_counts(keep, valid), "n_predictors": int(ok_a.sum())},
                                components=prep.pls_components(regressor, n_components),
                                excluded_by=prep.excluded_by(((label_a, keep_a), (label_b, keep_b))))
    # targets whose stimuli leave A's trial means constant: NaN (never an r of the training folds' means)
    groups = prep.varying_groups(groups, lambda rows: prep.take(mean_a, rows), bname, label_a, neural_b.neuroid_id.values[ok_b])
    bar, done = TargetProgress(reps, progress, "inter_animal", sum(cols.size for _, cols in groups)), 0
    for rows, cols in groups:
        reg = prep.fold_regressor("inter_animal", int(rows.sum()), regressor, n_folds, fold_seed, opts, caller)
        RBg = prep.take(RB, rows, cols)
        res, pg = _from_neural_predictor(
            "inter_animal", prep.take(RA, rows), prep.take(mean_a, rows), prep.take(mean_b, rows, cols), reg, reps, seed, max_n, ceiling, split,
            RBg if ceiling else None, keep_predictions, bar.part(cols.size), shown=(aname, bname), cols=cols_a,
            totals=(prep.take(total_a, rows), prep.take(total_b, rows, cols)),
        )
        done += cols.size
        bar.reach(done)
        for name, v in res.items():
            out.setdefault(name, np.full((kb, reps), np.nan))[cols] = v
        if preds is not None:
            preds[:, np.flatnonzero(rows)[:, None], cols[None, :]] = pg
    attrs = common_attrs(
        "inter_animal", set_label(neural_a, "neural_a"), set_label(neural_b, "neural_b"),
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=bool(ceiling), split=split, n_stimuli=int(n), n_excluded_stimuli=int((~keep).sum()),
        n_partial_targets=int((~valid.all(axis=0)).sum()), n_predictors=int(ok_a.sum()), note=note,
    )
    full = {name: prep.expand(v, ok_b) for name, v in prep.nan_targets(out, const).items()}
    stim = ids[keep] if preds is not None else None
    ds = dataset(neural_b, "neuroid", full, attrs, prep.expand_pred(preds, ok_b), stim, min_reliability, name=bname)
    return prep.in_input_order(ds, "neuroid", targets_order)


# ---------------------------------------------------------------------------- the shared engine
def _from_neural_predictor(
    direction: str,
    Rp: np.ndarray,
    mean_p: np.ndarray,
    Y: Any,
    reg: Regressor,
    reps: int,
    seed: int,
    max_n: int | None,
    ceiling: bool,
    split: str,
    target_R: np.ndarray | None,
    keep_predictions: bool,
    progress: Any,
    keep: np.ndarray | None = None,
    constant: np.ndarray | None = None,
    unit_ids: np.ndarray | None = None,
    offset: np.ndarray | None = None,
    shown: tuple[str, str] = ("neural", "features"),
    cols: np.ndarray | None = None,
    totals: tuple[Any, Any] = (None, None),
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Shared engine of reverse (targets = features) and inter-animal (targets = mean of B); ``shown``:
    the predictor and the targets as the messages name them (after the function called). ``mean_p`` (n, k):
    the trial means of ``Rp`` (:func:`nanmean_repeats`), computed once by the caller (its float32 offset
    check reads them too). ``Y`` is an in-memory (n, m) array or a lazy (dask) feature array whose unit chunks are
    loaded and scored one at a time (same designs, same splits for every chunk); ``constant``
    (m,) bool, for a lazy ``Y``: filled with its constant targets as the chunks are read; ``offset``
    likewise with the targets that float32 rounds past use (:func:`~neuroxr.kernels.offsets.offset_columns`).
    ``cols``: the predictor's columns in canonical id order (:func:`~._prepare.columns_by_id`; None: as
    given), the order of every design's columns (its trial means, its split halves: computed column
    by column on ``Rp`` as given, then put in that order, the same numbers as on a reordered ``Rp``).
    ``totals``: the repeat sums (``sum_last``) of ``Rp`` and ``target_R`` where the caller has them (not summed again).
    """
    n, k, T = Rp.shape
    prep.check_max_n(max_n, k, shown[0], "neuroids")  # before any draw or fit
    prep.check_pls_predictors(reg.name, reg.n_components, k, max_n, shown[0], "neuroids", reg.caller)
    if cols is not None:
        mean_p = np.take(mean_p, cols, axis=1)
    m = Y.shape[1]
    rng = np.random.default_rng(seed)
    sub_rng = np.random.default_rng([seed, 1])
    # every random draw first, in reverse_pred's order per rep: [B's split], the predictor split
    perms_b, perms_a, subsets = [], [], []
    for _ in range(reps):
        if ceiling and target_R is not None:
            perms_b.append(draw_permutation(rng, target_R.shape[2]))
        subsets.append(prep.subset(sub_rng, k, max_n))
        if ceiling:
            perms_a.append(draw_permutation(rng, T))
    names = ["ev", "r"] + (["prediction_shc"] if ceiling else []) + (["target_shc"] if ceiling and target_R is not None else [])
    out = {name: np.full((m, reps), np.nan) for name in names}

    def target_reliability(copy: bool = True) -> None:
        if "target_shc" in out:
            halves = _splits.target_halves(target_R, split, totals[1], reg.backend, copy=copy)  # on the backend
            out["target_shc"][:] = spearman_brown(split_half_r(halves, np.stack(perms_b), block_bytes=_RANK_BYTES))

    slots = _use_slot_kernels(reg, Rp, reps, max_n, keep_predictions, totals[0])
    # designs per rep: the (sub)population mean and the predictor's two halves (one rep's held at a time)
    halves = SplitHalves(Rp, split, total=totals[0]) if ceiling and not slots else None
    # without subsets, reps that share a split (halves set by the slots alone) share its fits
    share = ceiling and not slots and halves.by_set and all(c is None for c in subsets)
    # small shared draws may be fitted a group at a time (one call's overhead for several)
    grouped = share and reg.shared and not keep_predictions
    # tiny draws hold the GIL in small calls: the targets' ranks (which release it) run beside them
    beside = (grouped and "target_shc" in out and _draw_group(n, k, m) > 1 and cpu_threads() > 1
              and resolve_backend(reg.backend) == "numpy")  # a device's ranks run there, before the draws
    if not beside:
        with one_blas_thread():  # ranks on the CPU threads; a BLAS thread spinning between calls slows them
            target_reliability()
    if slots:
        blocks = len(Y.chunks[1]) if hasattr(Y, "dask") else -(-m * n * 8 // _TARGET_BLOCK_BYTES)  # as _unit_chunks
        _score_from_slot_kernels(reg, Rp, cols, _unit_chunks(Y, keep, constant, unit_ids, offset, shown[1], reg.dtype),
                                 m, blocks, reps, perms_a, ceiling, target_R is not None, out, progress, direction)
        return out, None
    designs_mean = [mean_p if c is None else mean_p[:, c] for c in subsets]
    preds = np.full((reps, n, m), np.nan) if keep_predictions else None
    rep_batch = max(1, int(_HALVES_BYTES // (2 * n * k * 8)))
    draws, inverse = distinct_splits(np.stack(perms_a), symmetric=True) if share else (perms_a, np.arange(reps))
    dest = {"prediction_shc": np.full((m, len(draws)), np.nan)} if share else out
    n_draws = len(draws) if share else reps

    def run(Yc: Any, lo: int, hi: int, done: RepProgress, group: int, batch: int, P: Any, r_mean: Any,
            idx: range) -> tuple[Any, Any]:
        """Draws ``idx`` in turn against targets ``lo:hi``, ``group`` draws per fit (their halves
        ``batch`` at a time); P, r_mean: the mean design's so far."""
        split_halves = _batched_halves(halves, [draws[i] for i in idx], batch, cols) if ceiling else None
        writes = HostWrites()  # a device backend's per-draw vectors come back once, after the loop
        idx = list(idx)
        for g in range(0, len(idx), group):
            chunk = idx[g : g + group]
            hs = [next(split_halves) for _ in chunk] if ceiling else [(None, None)] * len(chunk)
            if len(chunk) > 1 and r_mean is not None and not any(np.isnan(h).any() for pair in hs for h in pair):
                _score_draw_group(reg, hs, Yc, dest, lo, hi, chunk, shown[0], writes)
                for i in chunk:
                    done.draw(i)
                continue
            for i, (h1, h2) in zip(chunk, hs):
                c = None if share else subsets[i]
                fresh = c is not None or r_mean is None
                designs = [designs_mean[i]] if fresh else []
                if ceiling:
                    designs += [h1 if c is None else h1[:, c], h2 if c is None else h2[:, c]]
                if designs:
                    P, r_mean = _score_designs(reg, designs, Yc, fresh, ceiling, halves, mean_p, c, T,
                                               preds is not None, dest, lo, hi, i, P, r_mean, shown[0], writes)
                if not share:
                    writes.put(out["r"], (slice(lo, hi), i), r_mean)
                    if preds is not None:
                        preds[i, :, lo:hi] = P
                done.draw(i)
        writes.flush()
        return P, r_mean

    # beside the ranks, every BLAS call on one thread (the draws' products are small)
    with one_blas_thread() if beside else contextlib.nullcontext():
        # (no copy of a strided target array: the ranks' memory adds to the fits')
        wait = in_background(functools.partial(target_reliability, copy=False)) if beside else None
        bar = TargetProgress(reps, progress, direction, m)
        for lo, hi, Yc in _unit_chunks(Y, keep, constant, unit_ids, offset, shown[1], reg.dtype):
            done = RepProgress(reps, inverse, bar.part(hi - lo), direction)
            # the first draw alone (it fills the regressor's caches of the targets), the others on
            # several threads where they are independent fits
            P, r_mean = run(Yc, lo, hi, done, 1, rep_batch, None, None, range(min(1, n_draws)))
            rest = range(min(1, n_draws), n_draws)
            group = _draw_group(n, k, Yc.shape[1]) if grouped else 1
            # (groups run on one thread: a second would hold a second group's copies)
            threads = _draw_threads(reg, len(rest) if group == 1 and (ceiling or not share) else 0)
            if threads > 1:
                runs = [rest[len(rest) * t // threads : len(rest) * (t + 1) // threads] for t in range(threads)]
                with one_blas_thread():  # one BLAS thread per draw: its small products run at full speed
                    thread_map(functools.partial(run, Yc, lo, hi, done, group, max(1, rep_batch // threads), P, r_mean),
                               runs, threads)
            else:
                run(Yc, lo, hi, done, group, rep_batch, P, r_mean, rest)
            done.close()
            bar.reach(hi)
            if share:
                out["prediction_shc"][lo:hi] = dest["prediction_shc"][lo:hi][:, inverse]
                if beside:
                    wait()  # the targets' reliabilities
                if preds is not None:
                    preds[:, :, lo:hi] = P
            finish_reps(out, lo, hi, r_mean if share else None, ceiling, target_R is not None)
    return out, preds


def _draw_threads(reg: Regressor, draws: int) -> int:
    """Threads for ``draws`` independent draws: the CPU threads in force for the shared NumPy
    regressors (their kernels release the GIL), else 1."""
    if draws < 2 or not reg.shared or resolve_backend(reg.backend) != "numpy":
        return 1
    return min(draws, cpu_threads())


def _score_designs(
    reg: Regressor, designs: list[np.ndarray], Yc: np.ndarray, fresh: bool, ceiling: bool, halves: Any,
    mean_p: np.ndarray, c: np.ndarray | None, T: int, materialise: bool, out: dict[str, np.ndarray],
    lo: int, hi: int, i: int, P: Any, r_mean: Any, name: str, writes: HostWrites,
) -> tuple[Any, Any]:
    """One rep's designs against targets: the mean's r (when fresh), the halves' SB(r(P1, P2)); ``name``: the predictor."""
    has_nan = any(np.isnan(D).any() for D in designs)
    if not has_nan:
        for D in designs:
            prep.check_design(D, name, drawn=c is not None)
    if reg.shared and not has_nan and not materialise:
        # correlations reduced fold by fold: no prediction is materialised
        pairs = [(len(designs) - 2, len(designs) - 1)] if ceiling else []
        complement = None
        if ceiling and halves._complete:
            # complete trials: h2 = (T mean - c1 h1) / c2, so its cross-products with the
            # targets follow from the mean's (computed once) and h1's
            c1 = (T + 1) // 2
            designs.pop()
            complement = (mean_p, c, T / (T - c1), -c1 / (T - c1))
        r_t, r_p = reg.pearson_designs(designs, Yc, pairs=pairs, with_target=[0] if fresh else [], complement=complement,
                                       host=False)  # left on the device: brought back with the other draws'
        if fresh:
            r_mean = r_t[0]
        if ceiling:
            writes.put(out["prediction_shc"], (slice(lo, hi), i), r_p[0], spearman_brown)
        return P, r_mean
    res = [_nan_safe(reg, D, Yc) for D in designs] if has_nan else reg.predict_designs(designs, Yc)
    if fresh:
        P = res.pop(0)
        r_mean = pearson(Yc, P)
    if ceiling:
        writes.put(out["prediction_shc"], (slice(lo, hi), i), pearson(res[0], res[1]), spearman_brown)
    return P, r_mean


def _batched_halves(halves: SplitHalves, perms: list[np.ndarray], batch: int,
                    cols: np.ndarray | None = None) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """``(h1, h2)`` of each permutation, ``batch`` at a time, columns in the order ``cols`` (None: as given)."""
    for start in range(0, len(perms), batch):
        h1, h2 = halves.means(np.stack(perms[start : start + batch]))
        if cols is not None:
            h1, h2 = np.take(h1, cols, axis=2), np.take(h2, cols, axis=2)
        for j in range(h1.shape[0]):
            yield h1[j], h2[j]


def _unit_chunks(Y: Any, keep: np.ndarray | None, constant: np.ndarray | None = None,
                 unit_ids: Any = None, offset: np.ndarray | None = None,
                 name: str = "features", dtype: Any = None) -> Iterable[tuple[int, int, np.ndarray]]:
    """(start, stop, block) over the unit chunks of a lazy array (``constant``: their constant
    columns, :func:`~neuroxr.kernels.stats.constant_columns`, and ``offset``: those float32 rounds
    past use, :func:`~neuroxr.kernels.offsets.offset_columns`, from the same sums, written as read;
    NaN/inf refused as in memory, naming ``name`` and ``unit_ids``, and units whose squares leave the
    normal range of the fit's ``dtype``, :func:`~neuroxr.kernels.gram_rows.check_range` as
    :func:`~neuroxr.predictivity._inputs.load` applies it), or the whole in-memory array."""
    if not hasattr(Y, "dask"):  # in memory: blocks of at most _TARGET_BLOCK_BYTES (peak memory)
        step = max(1, int(_TARGET_BLOCK_BYTES // (8 * max(1, Y.shape[0]))))
        for lo in range(0, Y.shape[1], step):
            yield lo, min(Y.shape[1], lo + step), Y[:, lo : lo + step]
        return
    start = 0
    for size in Y.chunks[1]:
        block = np.asarray(Y[:, start : start + size].compute(), dtype=np.float64)
        if not np.isfinite(block).all():  # every stimulus, every chunk counted, as the in-memory check does
            raise lazy_nonfinite_error(Y, unit_ids, name)
        check_range(block, name, arg=name.rpartition(": ")[2].partition(" (")[0] or "features", note=prep.SCALE_NOTE,
                    dtype=resolve_dtype(dtype), axis=1, count=int(Y.shape[0]) * int(Y.shape[1]))
        if keep is not None:
            block = block[keep]
        if constant is not None:
            c, r = column_squares(block)
            constant[start : start + size] = no_variance(c, r, rounding_tol(np, np.float64))
            if offset is not None:
                offset[start : start + size] = offset_columns(c, r)
        yield start, start + size, block
        start += size


def _nan_safe(reg: Regressor, D: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A design with NaN (an all-NaN split half under split='slots') predicts NaN everywhere."""
    return np.full(Y.shape, np.nan) if np.isnan(D).any() else reg.predict_designs([D], Y)[0]
