"""Forward predictivity (model -> brain): predict each neuroid from the model features.

``ev = (r(mean R, P) / sqrt(SB(rho_s(h1, h2)) * SB(r(P1, P2))))^2 * 100`` per neuroid and rep,
``P = oof(F -> mean R)``, ``P1, P2 = oof(F -> h1), oof(F -> h2)`` (reverse_pred's
``model_to_monkey``). The design is shared by every target, half and rep: one out-of-fold
operator ``S`` (from the features or their Gram) is applied to all of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import xarray as xr

from ..backend import get_namespace, one_blas_thread, resolve_backend, sum_last, to_numpy, with_blas_threads
from ..errors import no_effect
from ..kernels.kernel_operator import FOLD_OPERATORS
from ..kernels.regressors import (
    DEFAULT_ALPHA,
    DEFAULT_N_COMPONENTS,
    DEFAULT_RIDGECV_ALPHAS,
    Regressor,
    fits_jointly,
    pls_components,
    shares_operator,
    with_regressor,
)
from ..kernels.splits import (
    SplitHalves,
    distinct_splits,
    draw_permutation,
    first_half,
    nanmean_repeats,
    split_half_r,
    target_halves,
)
from ..kernels.stats import pearson, root_product, spearman_brown
from ..layouts import has_time
from ..sets import set_label
from . import _prepare as prep
from ._gram import check_linear_design, gram_matrix
from ._progress import TargetProgress, progress_iter
from ._result import common_attrs, dataset, ev

__all__ = ["forward"]

_RANK_BYTES = 2**18  # target halves ranked per pass
_BATCH_BYTES = 16 * 2**20  # split halves and predictions of a batch of reps held at once (peak memory)
_CHUNK_BYTES = 64 * 2**20  # target-chunked path: halves, predictions and ranks of a chunk of targets


@with_blas_threads
def forward(
    features: xr.DataArray,
    neural: xr.DataArray,
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
    gram: Any = None,
) -> xr.Dataset:
    """Forward predictivity (model -> brain): predict each neuroid from the model features.

    Parameters
    ----------
    features : DataArray, dims (stimulus, unit)
        Model features (the design), e.g. from :func:`neuroxr.features`.
    neural : DataArray, dims (stimulus, neuroid, repeat)
        Neural responses (the targets), e.g. from :func:`neuroxr.neural`; NaN marks missing trials.
        Paired with ``features`` by ``stimulus_id``.
    reps : int, default 20
        Repetitions of the random split halves (and ``max_n`` subsets).
    seed : int, default 0
        Seed of the split-half generator ``numpy.random.default_rng(seed)``.
    regressor : {"ridge", "linear", "lasso", "elasticnet", "pls", "ridgecv", "univariate"} or estimator, default "ridge"
        The mapping. ``ridge`` (alpha 0.1) is ``reverse_pred``'s default; ``univariate`` predicts
        each target from its single best unit (largest absolute correlation on the training
        folds). Any scikit-learn estimator or ``Pipeline`` is cloned and fitted per fold, giving
        the predictions of ``cross_val_predict`` with the same folds (see
        :mod:`neuroxr.kernels.regressors`); the attrs record it as canonical JSON.
    alpha : float, default 0.1
        Penalty of ridge / lasso / elasticnet.
    n_components : int, default 20
        PLS components.
    alphas : sequence of float (a list, tuple or array), default ``numpy.logspace(-3, 5, 9)``
        Grid of ``ridgecv`` (alpha chosen per target by inner leave-one-out CV).
        Each of ``alpha``, ``n_components`` and ``alphas`` set away from its default with a
        regressor that does not read it is a :class:`~neuroxr.errors.ParameterError`, never ignored.
    n_folds, fold_seed : int, default 10 and 0
        Cross-validation folds: a ``RandomState(fold_seed)`` shuffle of the positions of the
        canonical stimulus order (sorted ``stimulus_id``); 10 and 0 are ``reverse_pred``'s.
    max_n : int, optional
        Use a fresh random subset of ``max_n`` feature units every rep, drawn over the units in
        canonical order (sorted ``unit_id``), so the subsets are the same units however the
        features' units are ordered. It must be below the number of units: one at or above it
        would fit all of them every rep and is refused (one-line ``ParameterError``).
    noise_ceiling : bool or None, default None
        Divide by the split-half ceilings. ``None``: with a ceiling when the neural data have at
        least 2 repeats; trial-averaged data (one repeat) score without one (noted in the attrs;
        ``True`` then is refused: a one-line ``LayoutError``).
    split : {"valid", "slots"}, default "valid"
        Split-half mode, see :mod:`neuroxr.kernels.splits`. ``"valid"`` halves each stimulus's
        valid repeats (balanced, never empty) and equals ``"slots"`` (``reverse_pred``'s split)
        whenever no trial is missing.
    min_reliability : float, optional
        Mark ``included=False`` the targets whose split-half reliabilities (``target_shc`` and
        ``prediction_shc``, each averaged over reps) are not all at least this, so summaries leave
        them out; the scores themselves are unchanged.
    backend : {"numpy", "torch", "torch_cuda", "cupy"}, optional
        Where the ridge kernels run (default: the global backend).
    dtype : {"float64", "float32"}, default "float64"
        Kernel precision.
    keep_predictions : bool, default False
        Also return the out-of-fold predictions (``prediction``: rep x stimulus x neuroid, in the
        canonical stimulus order, labeled by ``stimulus_id``).
    progress : bool or callable, default False
        Show a progress bar over reps (tqdm), or wrap the rep iterable with the callable.
    gram : Gram Dataset, array or GramStats, optional
        Precomputed Gram ``Fc Fc^T`` of the features: a labeled one (:func:`neuroxr.geometry.gram`)
        is paired by ``stimulus_id``; an array or ``GramStats`` must be in the features' own stimulus order. With
        ridge/linear and no ``max_n``, the forward direction then needs no feature values; a
        dask-backed (lazy) ``features`` is streamed the same way (Gram reduced over unit chunks).
        Other regressors and ``max_n`` fit the feature values, so ``gram`` with them is a
        :class:`~neuroxr.errors.ParameterError`. A Gram of other features is a
        :class:`~neuroxr.errors.LayoutError`: its unit count (where it records one) and, for
        in-memory features, its diagonal (the centred rows' sums of squares) must be theirs.

    Returns
    -------
    xarray.Dataset, dims (neuroid, rep)
        ``ev``, ``r``, ``included``; with the ceiling also ``target_shc``, ``prediction_shc``
        and ``ceiling``; the neuroids' coords, in the input's neuroid order.

    Notes
    -----
    Order: a joint fit (``pls``, an estimator) fits the neuroids in canonical order (sorted
    ``neuroid_id``) and a regressor other than ridge/linear sees the units in canonical order
    (sorted ``unit_id``; lasso's coordinate descent and univariate's ties depend on it), so
    permuting the units or neuroids of the inputs changes no number.

    Missing values: a neuroid lacking valid repeats at a stimulus (2 with ``split="valid"`` and a
    ceiling, else 1) is scored without that stimulus, its folds drawn over its own stimuli; the
    other neuroids are unaffected. A stimulus missing for every neuroid is dropped, with a warning.

    Time-resolved ``neural`` (``stimulus x neuroid x repeat x time_bin``): ``neuroid x time_bin``
    are the targets of the one out-of-fold operator; every variable gains a last dim ``time_bin``
    (with ``time_bin_start``/``time_bin_end``), equal to calling forward on each bin's slice
    (each bin's targets grouped by their missing stimuli on their own, so missing values in one
    bin never change another bin's numbers).
    """
    if has_time(neural):
        from .time import by_bins, forward_bins

        args = {k: v for k, v in locals().items() if k not in ("forward_bins", "by_bins")}
        if fits_jointly(regressor):  # a joint fit (PLS, an estimator) would mix the bins: one call per bin
            return by_bins(forward, args, ("neural",), "forward")
        return forward_bins(_forward, args)
    return _forward(**locals())


def _forward(
    features: xr.DataArray, neural: xr.DataArray, *, reps: int, seed: int, regressor: Any, alpha: float,
    n_components: int, alphas: Iterable[float], n_folds: int, fold_seed: int, max_n: int | None,
    noise_ceiling: bool | None, split: str, min_reliability: float | None, backend: str | None, dtype: Any,
    keep_predictions: bool, progress: bool | Callable, gram: Any, bins: np.ndarray | None = None,
) -> xr.Dataset:
    """:func:`forward` of static ``neural``; ``bins`` (one per neuroid) marks the flattened
    ``neuroid x time_bin`` targets of :func:`neuroxr.predictivity.time.forward_bins` with their
    bin, so each bin's targets are grouped by their missing stimuli as a call on that bin alone
    groups them (:func:`neuroxr.predictivity._prepare.target_groups`) and the stimulus counts
    (``n_stimuli``, ``n_excluded_stimuli``, ``n_partial_targets``) are lists over the sorted bins,
    each as that call counts them (:func:`neuroxr.predictivity._prepare.bin_counts`). Its messages
    start with ``forward`` and name the inputs by their arguments and labels
    (:func:`neuroxr.predictivity._inputs.named`)."""
    caller = "forward"
    prep.check_params(
        reps=reps, seed=seed, split=split, regressor=regressor, max_n=max_n, backend=backend, dtype=dtype,
        alpha=alpha, alphas=alphas, n_folds=n_folds, fold_seed=fold_seed, noise_ceiling=noise_ceiling,
        min_reliability=min_reliability, n_components=n_components, keep_predictions=keep_predictions, progress=progress,
        caller="forward",
    )
    # NumPy integers (an int8 reps overflowed in the cost model's products) as the Python ints they hold
    reps, seed, n_folds, fold_seed = int(reps), int(seed), int(n_folds), int(fold_seed)
    max_n = None if max_n is None else int(max_n)
    shared = shares_operator(regressor)
    if gram is not None and not (shared and max_n is None):
        raise no_effect(["gram"], f"with max_n={max_n!r}" if shared else with_regressor(regressor),
                        "a precomputed Gram serves ridge and linear on every unit",
                        "leave max_n unset" if shared else "pass regressor='ridge' or 'linear'", caller)
    features, neural, fname, nname, ceiling, note, order = prep.inputs(caller, features, "features", neural, "neural",
                                                                       noise_ceiling, dict(split=split, seed=seed, max_n=max_n,
                                                                                            min_reliability=min_reliability))
    prep.check_max_n(max_n, features.sizes["unit"], fname, "units")
    prep.check_pls_predictors(regressor, n_components, features.sizes["unit"], max_n, fname, "units", caller)
    # by id, never by position: a joint fit (pls, an estimator) sees the neuroids, a fit that is not
    # ridge/linear the units, in canonical id order; max_n's subsets are drawn over that order
    features, neural, targets_order = prep.order_by_id(features, "unit", neural, "neuroid", regressor)  # joint fits: never with bins
    unit_order = prep.id_order(features, "unit") if max_n is not None else None
    nids = neural.neuroid_id.values
    R = R0 = prep.load(neural, nname, dtype)
    # the repeat sums, once: finite, no repeat is missing (the NaN checks read no response), and
    # unless a neuroid or stimulus is dropped, the trial means' and the split halves'
    total = sum_last(R)
    ok = prep.nan_neuroids(R, nids, nname, total=total)
    R = prep.take(R, None, ok)
    keep, valid = prep.target_stimuli(R, nname, neural.stimulus_id.values, prep.needed_repeats(ceiling, split),
                                      total=total if R is R0 else None)
    R = prep.take(R, keep)
    total = total if R is R0 else None
    n, k, _ = R.shape
    # the stimuli each target keeps are counted before the design is judged: a design over the one
    # stimulus missing values leave is "too few stimuli" (NothingToScore: a time bin left so is NaN), not a dead layer
    groups = prep.target_groups(valid, nname, nids[ok], n_folds, fold_seed, None if bins is None else bins[ok],
                                prep.target_counts(keep, valid), pls_components(regressor, n_components))
    stream = shared and max_n is None and (gram is not None or prep.is_lazy(features))
    if stream:
        F, (K, const, constant_on) = None, gram_matrix(features, gram, order, keep, caller, fname, dtype, regressor, n_folds)
        if const:
            prep.design_error(fname)
    else:
        F, K, constant_on = prep.take(prep.load(features, fname, dtype), keep), None, None
        prep.check_design(F, fname, prep.float32_cause(features))
        check_linear_design(regressor, features, F, n_folds, fname)
    mean_all = nanmean_repeats(R, total)  # the trial means, once
    const = prep.warn_constant_targets(prep.scored(mean_all, valid), nids[ok], nname, "neuroids", cause=prep.float32_cause(neural))
    # targets whose stimuli leave the features constant: NaN (never an r of the training folds' means)
    groups = prep.varying_groups(groups, constant_on if F is None else (lambda rows: prep.take(F, rows)), nname,
                                 prep.named("", features, "features"), nids[ok])
    names = ("ev", "r", "target_shc", "prediction_shc") if ceiling else ("ev", "r")
    out = {name: np.full((k, reps), np.nan) for name in names}
    preds = np.full((reps, n, k), np.nan) if keep_predictions else None
    opts = prep.regressor_options(alpha, n_components, alphas, backend, dtype)
    bar, done = TargetProgress(reps, progress, "forward", sum(cols.size for _, cols in groups)), 0
    for rows, cols in groups:
        Fg = None if F is None else prep.take(F, rows)
        reg = prep.fold_regressor("forward", int(rows.sum()), regressor, n_folds, fold_seed, opts, caller)
        Kg = None if K is None else (K if rows.all() else K[np.ix_(rows, rows)])
        whole = rows.all() and cols.size == k
        mean_g = mean_all if whole else mean_all[np.ix_(rows, cols)]
        core = _forward_chunked if (reg.shared and max_n is None and ceiling) else _forward_core
        res, pg = core(
            Fg, Kg, prep.take(R, rows, cols), reg, reps, seed, max_n, ceiling, split,
            keep_predictions, bar.part(cols.size), features.sizes["unit"], mean_g,
            **({"unit_order": unit_order, "name": fname} if core is _forward_core else {}), total=total if whole else None,
        )
        done += cols.size
        bar.reach(done)
        for name in names:
            out[name][cols] = res[name]
        if preds is not None:
            preds[:, np.flatnonzero(rows)[:, None], cols[None, :]] = pg
    attrs = common_attrs(
        "forward", set_label(features, "features"), set_label(neural, "neural"),
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=bool(ceiling), split=split,
        # with bins each count is a list over the bins (time.forward_bins gives each bin its own)
        **(prep.target_counts(keep, valid) if bins is None else prep.bin_counts(keep, valid, bins[ok], np.unique(bins))),
        n_units=int(features.sizes["unit"]), streamed=bool(stream), note=note,
    )
    full = {name: prep.expand(v, ok) for name, v in prep.nan_targets(out, const).items()}
    stim = neural.stimulus_id.values[keep] if preds is not None else None
    ds = dataset(neural, "neuroid", full, attrs, prep.expand_pred(preds, ok), stim, min_reliability, name=nname)
    return prep.in_input_order(ds, "neuroid", targets_order)


def _forward_core(
    F: np.ndarray | None, K: np.ndarray | None, R: np.ndarray, reg: Regressor, reps: int, seed: int,
    max_n: int | None, ceiling: bool, split: str, keep_predictions: bool, progress: Any, n_units: int,
    mean: np.ndarray | None = None, unit_order: np.ndarray | None = None, total: np.ndarray | None = None,
    name: str = "features",
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Scores of one group of targets sharing their stimuli: ``R`` (n, k, T) and design ``F`` (n, p)
    or its Gram ``K`` (n, n). Returns per-target arrays (k, reps) and the predictions (reps, n, k).
    ``unit_order``: the units in canonical id order, over which ``max_n``'s subsets are drawn;
    ``total``: ``R``'s repeat sums (``sum_last``) where the caller has them (not summed again);
    ``name``: the features, in the message refusing a subset whose units are all constant."""
    n, k, T = R.shape
    S_fixed = reg.operator_from_gram(K, n_features=n_units) if K is not None else None
    mean = nanmean_repeats(R) if mean is None else mean
    rng = np.random.default_rng(seed)
    sub_rng = np.random.default_rng([seed, 1])
    perms_a, perms_b = [], []
    if ceiling:  # reverse_pred's order per rep: the split for P1/P2, then the target's own split
        for _ in range(reps):
            perms_a.append(draw_permutation(rng, T))
            perms_b.append(draw_permutation(rng, T))
    halves = SplitHalves(R, split, total=total) if ceiling else None
    # the targets' own halves, ranked for their reliabilities: on a device backend, a copy there
    ranked = halves if not ceiling or resolve_backend(reg.backend) == "numpy" else target_halves(R, split, total, reg.backend)
    names = ("ev", "r", "target_shc", "prediction_shc") if ceiling else ("ev", "r")
    out = {name: np.full((k, reps), np.nan) for name in names}
    preds = np.full((reps, n, k), np.nan) if keep_predictions else None
    budget = min(_BATCH_BYTES, max(n * k * T * 8, 2**20))  # no more than the responses themselves
    batch = 1 if max_n is not None else max(1, int(budget // (n * k * 8 * 6)))
    S, P = S_fixed, None
    reps_iter = iter(progress_iter(reps, progress, "forward"))
    # a linear map of complete data: mean = (c1 h1 + c2 h2) / T, so P2 = (T P - c1 P1) / c2
    linear_halves = ceiling and reg.shared and halves._complete
    c1 = (T + 1) // 2
    for start in range(0, reps, batch):
        idx = list(range(start, min(reps, start + batch)))
        cols = prep.subset(sub_rng, n_units, max_n, unit_order)
        X = None
        if K is None:
            X = F if cols is None else F[:, cols]
            if cols is not None:  # a subset of constant units predicts nothing, as reverse refuses it
                prep.check_design(X, name, drawn=True)
            if cols is not None or S is None:
                # the operator meets the mean and half 1 of every rep (k columns each)
                S = reg.operator(X, k * (1 + (reps if cols is None else 1))) if reg.shared else None
                P = None
        blocks = [] if P is not None else [mean]
        if ceiling:
            h1, h2 = halves.means(np.stack([perms_a[i] for i in idx]))
            target_shc = spearman_brown(split_half_r(ranked, np.stack([perms_b[i] for i in idx]), block_bytes=_RANK_BYTES)).T
            for j in range(len(idx)):
                blocks += [h1[j]] if linear_halves else [h1[j], h2[j]]
        res = reg.predict_blocks(X, blocks, S=S) if blocks else []
        if P is None:
            P = res.pop(0)
            r = pearson(mean, P)
        per = 1 if linear_halves else 2
        for j, i in enumerate(idx):
            next(reps_iter, None)
            out["r"][:, i] = r
            if ceiling:
                P1 = res[per * j]
                P2 = (T * P - c1 * P1) / (T - c1) if linear_halves else res[per * j + 1]
                out["target_shc"][:, i] = target_shc[j]
                out["prediction_shc"][:, i] = spearman_brown(pearson(P1, P2))
                out["ev"][:, i] = ev(r, target_shc[j], out["prediction_shc"][:, i])
            else:
                out["ev"][:, i] = ev(r)
            if preds is not None:
                preds[i] = P
    return out, preds


def _apply(reg: Regressor, S: Any, Y: np.ndarray) -> np.ndarray:
    """``S @ Y`` on the regressor's backend, without copying ``Y`` first (NumPy float64: none; float32:
    ``Y`` centred in float64 before the cast, its means added back, :meth:`Regressor.cast_targets`)."""
    Yd, shift = reg.cast_targets(Y)
    P = S @ Yd if isinstance(S, FOLD_OPERATORS) else get_namespace(S).matmul(S, Yd)
    P = to_numpy(P).astype(np.float64, copy=False)
    return P if shift is None else P + shift


def _pearson_linear_half(P1: np.ndarray, P: np.ndarray, T: int, c1: int) -> np.ndarray:
    """Pearson of ``P1`` (n, k, reps) with ``P2 = (T P - c1 P1) / c2`` per (target, rep), from the
    moments of ``P1`` and ``P`` (n, k) alone (``P2`` never formed). Returns shape (k * reps,)."""
    A = P1 - P1.mean(axis=0, keepdims=True)
    B = P - P.mean(axis=0, keepdims=True)
    aa = np.einsum("nkr,nkr->kr", A, A)
    ab = np.einsum("nkr,nk->kr", A, B)
    bb = np.einsum("nk,nk->k", B, B)[:, None]
    return _half_r(aa, ab, bb, T, c1).reshape(-1)


def _repeat_half_r(Q: np.ndarray, W: np.ndarray, T: int, c1: int) -> np.ndarray:
    """:func:`_pearson_linear_half` from the predictions of single repeats: ``Q`` (n, k, T) is ``S``
    applied to every repeat of each target and ``W`` (reps, T) weighs half 1's slots by ``1 / c1``,
    so ``P1 = Q W^T`` and ``P = Q 1 / T``. Every moment comes from the ``T x T`` Gram of each
    target's centred ``Q``: ``T`` products per target instead of one per rep. Returns (k, reps)."""
    Qc = np.moveaxis(Q - Q.mean(axis=0, keepdims=True), 0, 1)  # (k, n, T)
    G = np.matmul(np.swapaxes(Qc, 1, 2), Qc)  # (k, T, T)
    GW = G @ W.T  # (k, T, reps)
    aa = np.einsum("rt,ktr->kr", W, GW)
    ab = GW.sum(axis=1) / T
    bb = G.sum(axis=(1, 2))[:, None] / (T * T)
    return _half_r(aa, ab, bb, T, c1)


def _half_r(aa: np.ndarray, ab: np.ndarray, bb: np.ndarray, T: int, c1: int) -> np.ndarray:
    """Pearson of ``P1`` with ``P2 = (T P - c1 P1) / c2`` from ``aa = |A|^2``, ``ab = <A, B>`` and
    ``bb = |B|^2`` (``A``, ``B``: centred ``P1``, ``P``):
    ``r = (T ab - c1 aa) / sqrt(aa (T^2 bb - 2 T c1 ab + c1^2 aa))``; NaN where either is constant."""
    var2 = T * T * bb - 2.0 * T * c1 * ab + c1 * c1 * aa
    # sqrt(aa var2) without the product's overflow or underflow (targets near 1e+-77 and beyond)
    den = root_product(np, aa, np.maximum(var2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (T * ab - c1 * aa) / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def _forward_chunked(
    F: np.ndarray | None, K: np.ndarray | None, R: np.ndarray, reg: Regressor, reps: int, seed: int,
    max_n: int | None, ceiling: bool, split: str, keep_predictions: bool, progress: Any, n_units: int,
    mean: np.ndarray, total: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """:func:`_forward_core` for a shared operator with the ceiling, chunked by targets.

    Every rep of a chunk of targets at once: the split-half means of all reps in one product over
    the chunk's responses (:meth:`SplitHalves.target_means`, target-major so the halves are the
    ``S @ Y`` block as they are), the target reliabilities ranked for all reps in one call, and the
    predictions of half 1 of all reps in one product. Where the halves depend only on the set of
    slots (:attr:`SplitHalves.by_set`), reps sharing a split share its ranks
    (:func:`distinct_splits`); with complete data and fewer repeats than reps, the prediction
    reliabilities come from ``S`` applied to each repeat (:func:`_repeat_half_r`). Same numbers as
    the rep-batched path.
    """
    n, k, T = R.shape
    rng = np.random.default_rng(seed)
    perms_a, perms_b = [], []
    for _ in range(reps):  # reverse_pred's order per rep: the split for P1/P2, then the target's own
        perms_a.append(draw_permutation(rng, T))
        perms_b.append(draw_permutation(rng, T))
    perms_a, perms_b = np.stack(perms_a), np.stack(perms_b)
    c1 = (T + 1) // 2
    W = first_half(perms_a) / c1  # half 1's weights per rep
    S = reg.operator_from_gram(K, n_features=n_units) if K is not None else reg.operator(F, k * (1 + min(T, reps)))
    # an operator applied fold by fold from the kernel re-factorises on every application: one
    # chunk of targets, and with complete trials one application for the mean and every repeat
    one_pass = bool(getattr(S, "one_pass", False))
    pre = None
    complete = ~prep.neuroid_nan(R, total=total)  # per target: every trial present
    # a chunk's repeat sums are its columns of total where R's repeats are contiguous (each row summed
    # alone, as in the chunk's contiguous copy)
    chunk_sums = total is not None and R.strides[-1] == R.itemsize
    if one_pass and T < reps and complete.all():
        both = _apply(reg, S, np.concatenate([mean, np.reshape(R, (n, k * T))], axis=1))
        P, pre = both[:, :k], both[:, k:].reshape(n, k, T)
    else:
        P = _apply(reg, S, mean)
    r = pearson(mean, P)
    out = {name: np.full((k, reps), np.nan) for name in ("ev", "r", "target_shc", "prediction_shc")}
    out["r"][:] = r[:, None]
    # per target: its responses (a contiguous copy), the product columns (each repeat, or the
    # halves of each rep) with their predictions; the ranks of the distinct splits in sub-chunks
    cols = T if T < reps else reps
    budget = min(_CHUNK_BYTES, max(R.nbytes // 2, 4 * 2**20))  # and never above half the responses
    step = k if one_pass else max(1, min(k, int(budget // (8 * n * (T + 4 * cols)))))
    rank_step = max(1, int(budget // (8 * n * 6 * len(distinct_splits(perms_b, symmetric=True)[0]))))
    # the ranks first: on the CPU threads, with no BLAS thread spinning beside them (a device backend's on the device)
    with one_blas_thread() if resolve_backend(reg.backend) == "numpy" else contextlib.nullcontext():
        for lo in range(0, k, rank_step):  # the distinct splits' ranks of a sub-chunk of targets at once
            halves = target_halves(np.ascontiguousarray(R[:, lo : lo + rank_step]), split,
                                   total[:, lo : lo + rank_step] if chunk_sums else None, reg.backend)
            out["target_shc"][lo : lo + rank_step] = spearman_brown(split_half_r(halves, perms_b, block_bytes=budget))
    reps_iter, done = iter(progress_iter(reps, progress, "forward")), 0
    for lo in range(0, k, step):
        hi = min(k, lo + step)
        kc = hi - lo
        linear = bool(complete[lo:hi].all())  # mean = (c1 h1 + c2 h2) / T, so P2 = (T P - c1 P1) / c2
        if linear and T < reps:
            # a view of C-ordered responses (rows strided, BLAS reads them in place); reshape copies otherwise
            Q = pre[:, lo:hi] if pre is not None else _apply(reg, S, R[:, lo:hi].reshape(n, kc * T)).reshape(n, kc, T)
            r12 = _repeat_half_r(Q, W, T, c1)
        else:
            h1, h2 = SplitHalves(np.ascontiguousarray(R[:, lo:hi]), split).target_means(perms_a)  # (n, kc, reps)
            P1 = _apply(reg, S, h1.reshape(n, kc * reps))
            if linear:
                r12 = _pearson_linear_half(P1.reshape(n, kc, reps), P[:, lo:hi], T, c1)
            else:
                r12 = pearson(P1, _apply(reg, S, h2.reshape(n, kc * reps)))
            del h1, h2, P1
        out["prediction_shc"][lo:hi] = spearman_brown(r12).reshape(kc, reps)
        for _ in range(reps * hi // k - done):  # progress in reps' worth of targets
            next(reps_iter, None)
        done = reps * hi // k
    out["ev"] = ev(out["r"], out["target_shc"], out["prediction_shc"])
    preds = np.broadcast_to(P, (reps, n, k)).copy() if keep_predictions else None
    return out, preds
