"""The four directions: forward, reverse, inter-animal and model-to-model predictivity.

Labeled in, labeled out. Each function validates and pairs its inputs by ``stimulus_id``, runs
the shared-factorisation kernels, and returns an ``xarray.Dataset`` over the target dim
(``neuroid`` or ``unit``) and ``rep`` with

- ``ev``: explained variance in percent per target and rep, noise-ceiled exactly as
  ``reverse_pred`` defines it (``ev.mean("rep")`` is the score ``reverse_pred`` reports);
- ``r``: Pearson r between the targets and their out-of-fold prediction;
- ``target_shc``: Spearman-Brown-corrected Spearman split-half correlation of the targets
  (forward, inter-animal);
- ``prediction_shc``: Spearman-Brown-corrected Pearson correlation of the predictions from the
  two split halves (forward, reverse, inter-animal);
- attrs recording every parameter, the seed and the package version.

Definitions (DESIGN.md section 2; Muzellec & Kar 2025):

=============  ==========================  =====================================================
direction      design -> targets           EV per target and rep
=============  ==========================  =====================================================
forward        F -> mean(R)                (r / sqrt(SB(rho_s(h1,h2)) * SB(r(P1,P2))))^2 * 100
reverse        mean(R) -> F                (r / sqrt(SB(r(P1,P2))))^2 * 100
inter_animal   mean(RA) -> mean(RB)        (r / sqrt(SB(rho_s(Bh1,Bh2)) * SB(r(P1,P2))))^2 * 100
model_to_model F_A -> F_B                  r^2 * 100
=============  ==========================  =====================================================

Random numbers: every split half comes from one ``numpy.random.default_rng(seed)`` in
``reverse_pred``'s order (forward: the target split for P1/P2, then the target split for its
own split-half correlation; reverse: one predictor split; inter-animal: the split of B, then the
split of A). ``max_n`` subsets come from a separate stream (``default_rng([seed, 1])``) so they
never shift the split halves. Folds are ``RandomState(fold_seed)`` shuffles (``fold_seed=0``
is ``reverse_pred``'s).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import xarray as xr

from .backend import resolve_backend, resolve_dtype
from .kernels.folds import kfold_indices
from .kernels.regressors import DEFAULT_RIDGECV_ALPHAS, REGRESSORS, Regressor
from .kernels.splits import SPLIT_MODES, SplitHalves, draw_permutation, nanmean_repeats, split_means, valid_counts
from .kernels.stats import pearson, spearman, spearman_brown
from .layouts import LayoutError, align, validate_features, validate_neural

__all__ = [
    "DIRECTIONS",
    "forward",
    "reverse",
    "inter_animal",
    "model_to_model",
    "split_half_reliability",
    "score",
]

DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")


from .errors import NeuroxrWarning  # noqa: E402


def _version() -> str:
    from . import __version__

    return __version__


def _warn(msg: str) -> None:
    warnings.warn(msg, NeuroxrWarning, stacklevel=3)


def _examples(ids: Iterable[Any], k: int = 5) -> str:
    ids = [str(i) for i in ids]
    return ", ".join(ids[:k]) + (f", ... ({len(ids) - k} more)" if len(ids) > k else "")


# ---------------------------------------------------------------------------- input handling
def _load(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64)


def _prep_neural(da: xr.DataArray, name: str, ceiling: bool, split: str) -> xr.DataArray:
    validate_neural(da, name=name)
    if ceiling and da.sizes["repeat"] < 2:
        raise LayoutError(
            f"{name}: has one repeat (dim 'repeat' of length {da.sizes['repeat']}); a split-half noise "
            f"ceiling needs at least 2 repeats per stimulus. Pass noise_ceiling=False for trial-averaged data."
        )
    return da


def _nan_neuroids(R: np.ndarray, ids: np.ndarray, name: str) -> np.ndarray:
    """Mask of neuroids with at least one valid trial; warn naming the NaN-only ones."""
    ok = ~np.all(np.isnan(R), axis=(0, 2))
    if not ok.all():
        _warn(
            f"{name}: {int((~ok).sum())} neuroids have no valid trial (all NaN): {_examples(ids[~ok])}. "
            f"Their scores are NaN."
        )
    if not ok.any():
        raise LayoutError(f"{name}: every neuroid is all NaN; there is nothing to score.")
    return ok


def _stimuli_with_repeats(R: np.ndarray, ok: np.ndarray, name: str, ids: np.ndarray, ceiling: bool, split: str) -> np.ndarray:
    """Stimuli to keep: with the ceiling in 'valid' mode, those with >= 2 valid repeats for every neuroid."""
    keep = np.ones(R.shape[0], dtype=bool)
    if ceiling and split == "valid":
        counts = valid_counts(R[:, ok, :]).min(axis=1)
        keep = counts >= 2
        if not keep.any():
            raise LayoutError(
                f"{name}: no stimulus has at least 2 valid repeats for every neuroid; a split-half ceiling "
                f"cannot be estimated. Pass noise_ceiling=False."
            )
        if not keep.all():
            _warn(
                f"{name}: excluding {int((~keep).sum())} of {len(keep)} stimuli with fewer than 2 valid repeats "
                f"(split='valid' needs both halves non-empty), e.g. {_examples(ids[~keep])}."
            )
    return keep


def _check_design(X: np.ndarray, name: str) -> None:
    if not np.any(X.max(axis=0) > X.min(axis=0)):  # no column varies (no temporary copy of X)
        raise LayoutError(
            f"{name}: every predictor column is constant across stimuli; nothing can be predicted from it. "
            f"Check the features/responses (e.g. a dead layer)."
        )


def _warn_constant_targets(Y: np.ndarray, ids: np.ndarray, name: str, what: str) -> None:
    with warnings.catch_warnings():  # all-NaN columns count as constant
        warnings.simplefilter("ignore", RuntimeWarning)
        const = ~(np.nanmax(Y, axis=0) > np.nanmin(Y, axis=0))
    if const.any():
        _warn(
            f"{name}: {int(const.sum())} {what} are constant across stimuli: {_examples(ids[const])}. "
            f"Their correlation is undefined, so their scores are NaN."
        )


def _folds(n: int, n_folds: int, fold_seed: int, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    if n < n_folds:
        raise LayoutError(
            f"{name}: too few stimuli for the folds: {n} stimuli cannot be split into n_folds={n_folds} folds. "
            f"Use fewer folds or more stimuli."
        )
    return kfold_indices(n, n_folds, fold_seed)


def _check_params(reps: int, split: str, regressor: str, max_n: int | None, backend: str | None, dtype: Any) -> None:
    if int(reps) < 1:
        raise ValueError(f"reps must be at least 1; got {reps!r}.")
    if split not in SPLIT_MODES:
        raise ValueError(f"The 'split' parameter must be one of {SPLIT_MODES}. Got {split!r} instead.")
    if regressor not in REGRESSORS:
        raise ValueError(f"The 'regressor' parameter must be one of {REGRESSORS}. Got {regressor!r} instead.")
    if max_n is not None and int(max_n) < 1:
        raise ValueError(f"max_n must be a positive integer or None; got {max_n!r}.")
    resolve_backend(backend)
    resolve_dtype(dtype)


def _ev(r: np.ndarray, *ceilings: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.ones_like(r)
        for c in ceilings:
            den = den * c
        return (r / np.sqrt(den)) ** 2 * 100


def _subset(rng: np.random.Generator | None, size: int, max_n: int | None) -> np.ndarray | None:
    if max_n is None or size <= max_n:
        return None
    return np.sort(rng.choice(size, int(max_n), replace=False))


def _progress(reps: int, progress: bool | Callable[[Iterable[int]], Iterable[int]], desc: str) -> Iterable[int]:
    if callable(progress):
        return progress(range(reps))
    if progress:
        from tqdm.auto import tqdm

        return tqdm(range(reps), desc=desc, unit="rep")
    return range(reps)


_SCORE_VARS = {"ev", "r", "target_shc", "prediction_shc", "prediction", "reliability", "r_half"}


def _target_coords(da: xr.DataArray, dim: str) -> dict[str, Any]:
    """Coords of the target dim to carry into the scores (a coord named like a score variable,
    e.g. a ground-truth ``reliability``, is kept under ``<name>_coord``)."""
    out = {}
    for name, c in da.coords.items():
        if c.dims == (dim,):
            out[f"{name}_coord" if name in _SCORE_VARS else name] = c.variable
    return out


def _dataset(
    target: xr.DataArray,
    dim: str,
    variables: dict[str, np.ndarray],
    attrs: dict[str, Any],
    predictions: np.ndarray | None = None,
    stimulus_id: np.ndarray | None = None,
) -> xr.Dataset:
    reps = next(iter(variables.values())).shape[1]
    ds = xr.Dataset(
        {name: ((dim, "rep"), v) for name, v in variables.items()},
        coords={**_target_coords(target, dim), "rep": np.arange(reps)},
        attrs={k: v for k, v in attrs.items() if v is not None} | {"neuroxr_version": _version()},
    )
    if predictions is not None:
        ds["prediction"] = (("rep", "stimulus", dim), predictions)
        ds = ds.assign_coords(stimulus_id=("stimulus", stimulus_id))
    ds["ev"].attrs.update(units="percent", long_name="noise-corrected explained variance")
    return ds


def _common_attrs(
    direction: str, source: Any, target: Any, *, reps: int, seed: int, regressor: str, alpha: float,
    n_components: int, alphas: Iterable[float], n_folds: int, fold_seed: int, max_n: int | None,
    backend: str | None, dtype: Any, **extra: Any,
) -> dict[str, Any]:
    """Every parameter of a direction call, normalised for the score attrs."""
    out = {
        "direction": direction, "source": str(source), "target": str(target), "reps": int(reps), "seed": int(seed),
        "regressor": regressor, "alpha": float(alpha), "n_components": int(n_components),
        "alphas": [float(a) for a in alphas] if regressor == "ridgecv" else None, "n_folds": int(n_folds),
        "fold_seed": int(fold_seed), "max_n": max_n, "backend": resolve_backend(backend),
        "dtype": str(resolve_dtype(dtype)),
    }
    for k, v in extra.items():
        out[k] = list(v) if isinstance(v, (list, tuple)) else v
    return out


# ---------------------------------------------------------------------------- forward
def forward(
    features: xr.DataArray,
    neural: xr.DataArray,
    *,
    reps: int = 20,
    seed: int = 0,
    regressor: str = "ridge",
    alpha: float = 0.1,
    n_components: int = 20,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    max_n: int | None = None,
    noise_ceiling: bool = True,
    split: str = "valid",
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
        Model features (the design).
    neural : DataArray, dims (stimulus, neuroid, repeat)
        Neural responses (the targets); NaN marks missing trials.
    reps : int
        Repetitions of the random split halves (and ``max_n`` subsets).
    seed : int
        Seed of the split-half generator ``numpy.random.default_rng(seed)``.
    regressor : {"ridge", "linear", "lasso", "elasticnet", "pls", "ridgecv"}
        The mapping. ``ridge`` (alpha 0.1) is ``reverse_pred``'s default.
    alpha : float
        Penalty of ridge / lasso / elasticnet.
    n_components : int
        PLS components.
    alphas : iterable of float
        Grid of ``ridgecv`` (alpha chosen per target by inner leave-one-out CV).
    n_folds, fold_seed : int
        Cross-validation folds (``RandomState(fold_seed)`` shuffle; 10 and 0 in ``reverse_pred``).
    max_n : int, optional
        Use a fresh random subset of ``max_n`` feature units every rep.
    noise_ceiling : bool
        Divide by the split-half ceilings; needs at least 2 repeats.
    split : {"valid", "slots"}
        Split-half mode, see :mod:`neuroxr.kernels.splits`. ``"valid"`` (default) halves each
        stimulus's valid repeats (balanced, never empty) and equals ``"slots"`` (``reverse_pred``'s
        split) whenever no trial is missing.
    backend : {"numpy", "torch", "torch_cuda", "cupy"}, optional
        Where the ridge kernels run (default: the global backend).
    dtype : {"float64", "float32"}
        Kernel precision.
    keep_predictions : bool
        Also return the out-of-fold predictions (``prediction``: rep x stimulus x neuroid).
    progress : bool or callable
        Show a progress bar over reps (tqdm), or wrap the rep iterable with the callable.
    gram : array or GramStats, optional
        Precomputed Gram ``Fc Fc^T`` of the features (e.g. ``geometry.cached_gram``), in the
        features' stimulus order. With ridge/linear and no ``max_n``, the forward direction then
        needs no feature values at all; a dask-backed (lazy) ``features`` is streamed the same way,
        its Gram reduced over unit chunks, so a layer larger than memory scores in bounded memory.

    Returns
    -------
    xarray.Dataset, dims (neuroid, rep)
        ``ev``, ``r``, ``target_shc`` and ``prediction_shc`` (with the ceiling), coords of the neuroids.
    """
    _check_params(reps, split, regressor, max_n, backend, dtype)
    features = validate_features(features, name="features")
    neural = _prep_neural(neural, "neural", noise_ceiling, split)
    features, neural = align(features, neural, names=("features", "neural"))
    R = _load(neural)
    nids = neural.neuroid_id.values
    ok = _nan_neuroids(R, nids, "neural")
    keep = _stimuli_with_repeats(R, ok, "neural", neural.stimulus_id.values, noise_ceiling, split)
    R = _take(R, keep, ok)
    n, k, T = R.shape
    folds = _folds(n, n_folds, fold_seed, "neural/features")
    reg = Regressor(regressor, folds, alpha=alpha, n_components=n_components, alphas=tuple(alphas), backend=backend, dtype=resolve_dtype(dtype))
    # the design: the operator S from a (streamed or cached) Gram when features stay lazy
    stream = reg.shared and max_n is None and (gram is not None or _is_lazy(features))
    F = None
    if stream:
        K = _gram_matrix(features, gram, keep)
        if not float(np.trace(K)) > 0:
            _check_design(np.zeros((n, 1)), "features")
        S_fixed = reg.operator_from_gram(K)
    else:
        F = _load(features)
        F = F if keep.all() else F[keep]
        _check_design(F, "features")
        S_fixed = None
    mean = nanmean_repeats(R)
    _warn_constant_targets(mean, nids[ok], "neural", "neuroids")
    rng = np.random.default_rng(seed)
    sub_rng = np.random.default_rng([seed, 1])
    perms_a, perms_b = [], []
    if noise_ceiling:  # reverse_pred's order per rep: the split for P1/P2, then the target's own split
        for _ in range(reps):
            perms_a.append(draw_permutation(rng, T))
            perms_b.append(draw_permutation(rng, T))
    halves = SplitHalves(R, split) if noise_ceiling else None
    out = {name: np.full((k, reps), np.nan) for name in ("ev", "r", "target_shc", "prediction_shc")}
    preds = np.full((reps, n, k), np.nan) if keep_predictions else None
    n_units = features.sizes["unit"]
    batch = 1 if max_n is not None else max(1, int(_BATCH_BYTES // (n * k * 8 * 6)))
    S, P = S_fixed, None
    reps_iter = iter(_progress(reps, progress, "forward"))
    for start in range(0, reps, batch):
        idx = list(range(start, min(reps, start + batch)))
        cols = _subset(sub_rng, n_units, max_n)
        X = None
        if not stream:
            X = F if cols is None else F[:, cols]
            if cols is not None or S is None:
                S = reg.operator(X) if reg.shared else None
                P = None
        blocks = [] if P is not None else [mean]
        # a linear map of complete data: mean = (c1 h1 + c2 h2) / T, so P2 = (T P - c1 P1) / c2
        linear_halves = noise_ceiling and reg.shared and halves._complete
        if noise_ceiling:
            h1, h2 = halves.means(np.stack([perms_a[i] for i in idx]))
            s1, s2 = halves.means(np.stack([perms_b[i] for i in idx]))
            target_shc = spearman_brown(spearman(s1, s2))  # the batch's reps ranked in one pass
            del s1, s2
            for j in range(len(idx)):
                blocks += [h1[j]] if linear_halves else [h1[j], h2[j]]
        res = reg.predict_blocks(X, blocks, S=S) if blocks else []
        if P is None:
            P = res.pop(0)
        per = 1 if linear_halves else 2
        c1 = (T + 1) // 2
        for j, i in enumerate(idx):
            next(reps_iter, None)
            out["r"][:, i] = pearson(mean, P)
            if noise_ceiling:
                P1 = res[per * j]
                P2 = (T * P - c1 * P1) / (T - c1) if linear_halves else res[per * j + 1]
                out["target_shc"][:, i] = target_shc[j]
                out["prediction_shc"][:, i] = spearman_brown(pearson(P1, P2))
                out["ev"][:, i] = _ev(out["r"][:, i], out["target_shc"][:, i], out["prediction_shc"][:, i])
            else:
                out["ev"][:, i] = _ev(out["r"][:, i])
            if preds is not None:
                preds[i] = P
    if not noise_ceiling:
        del out["target_shc"], out["prediction_shc"]
    full = {name: _expand(v, ok) for name, v in out.items()}
    attrs = _common_attrs(
        "forward", features.name or "features", neural.name or "neural",
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=bool(noise_ceiling), split=split, n_stimuli=int(n),
        n_excluded_stimuli=int((~keep).sum()), n_units=int(n_units), streamed=bool(stream),
    )
    return _dataset(neural, "neuroid", full, attrs, _expand_pred(preds, ok), neural.stimulus_id.values[keep] if preds is not None else None)


_BATCH_BYTES = 96 * 2**20


def _is_lazy(da: xr.DataArray) -> bool:
    return hasattr(da.data, "dask")


def _gram_matrix(features: xr.DataArray, gram: Any, keep: np.ndarray) -> np.ndarray:
    """The column-centred Gram of the features (given, or reduced over unit chunks), kept stimuli only."""
    from .backend import to_numpy
    from .kernels.gram import GramStats, gram_dask

    if gram is None:
        gram = gram_dask(features.data)
    K = gram.K if isinstance(gram, GramStats) else gram
    K = np.asarray(to_numpy(K), dtype=np.float64)
    n = features.sizes["stimulus"]
    if K.shape != (n, n):
        raise LayoutError(f"gram: has shape {K.shape}; the features have {n} stimuli, so it must be ({n}, {n}).")
    return K[np.ix_(keep, keep)]


def _take(R: np.ndarray, keep: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``R[keep][:, ok]`` without copies when nothing is dropped."""
    if not keep.all():
        R = R[keep]
    if not ok.all():
        R = R[:, ok]
    return R


def _expand(v: np.ndarray, ok: np.ndarray) -> np.ndarray:
    full = np.full((ok.shape[0],) + v.shape[1:], np.nan)
    full[ok] = v
    return full


def _expand_pred(preds: np.ndarray | None, ok: np.ndarray) -> np.ndarray | None:
    if preds is None:
        return None
    full = np.full(preds.shape[:2] + (ok.shape[0],), np.nan)
    full[:, :, ok] = preds
    return full


# ---------------------------------------------------------------------------- reverse / inter-animal
def _from_neural_predictor(
    direction: str,
    Rp: np.ndarray,
    Y: Any,
    reg: Regressor,
    reps: int,
    seed: int,
    max_n: int | None,
    noise_ceiling: bool,
    split: str,
    target_R: np.ndarray | None,
    keep_predictions: bool,
    progress: Any,
    keep: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Shared engine of reverse (targets = features) and inter-animal (targets = mean of B).

    ``Y`` is an in-memory (n, m) array or a lazy (dask) feature array whose unit chunks are
    loaded and scored one at a time (same designs, same splits for every chunk).
    """
    n, k, T = Rp.shape
    m = Y.shape[1]
    rng = np.random.default_rng(seed)
    sub_rng = np.random.default_rng([seed, 1])
    # every random draw first, in reverse_pred's order per rep: [B's split], the predictor split
    perms_b, perms_a, subsets = [], [], []
    for _ in range(reps):
        if noise_ceiling and target_R is not None:
            perms_b.append(draw_permutation(rng, target_R.shape[2]))
        subsets.append(_subset(sub_rng, k, max_n))
        if noise_ceiling:
            perms_a.append(draw_permutation(rng, T))
    names = ["ev", "r"] + (["prediction_shc"] if noise_ceiling else []) + (["target_shc"] if noise_ceiling and target_R is not None else [])
    out = {name: np.full((m, reps), np.nan) for name in names}
    if "target_shc" in out:
        target_halves = SplitHalves(target_R, split)
        nb, kb = target_R.shape[:2]
        step = max(1, int(_RANK_BYTES // (nb * kb * 8)))
        for lo in range(0, reps, step):  # a few reps' halves ranked per pass, in bounded memory
            b1, b2 = target_halves.means(np.stack(perms_b[lo : lo + step]))
            out["target_shc"][:, lo : lo + step] = spearman_brown(spearman(b1, b2)).T
            del b1, b2
    mean_p = nanmean_repeats(Rp)
    # designs per rep: the (sub)population mean and the two halves of the predictor repeats
    # (computed per rep, so only one rep's halves are held at a time)
    halves = SplitHalves(Rp, split) if noise_ceiling else None
    designs_mean = [mean_p if c is None else mean_p[:, c] for c in subsets]
    preds = np.full((reps, n, m), np.nan) if keep_predictions else None
    # split halves of a few reps at a time: one product per batch, bounded memory
    rep_batch = max(1, int(_HALVES_BYTES // (2 * n * k * 8)))
    for lo, hi, Yc in _unit_chunks(Y, keep):
        split_halves = _batched_halves(halves, perms_a, rep_batch) if noise_ceiling else None
        P = r_mean = None  # the mean design's predictions and their r, refitted only with max_n
        for i in _progress(reps, progress if lo == 0 else False, direction):
            c = subsets[i]
            fresh = c is not None or r_mean is None
            designs = [designs_mean[i]] if fresh else []
            if noise_ceiling:
                h1, h2 = next(split_halves)
                designs += [h1 if c is None else h1[:, c], h2 if c is None else h2[:, c]]
            has_nan = any(np.isnan(D).any() for D in designs)
            if not has_nan:
                for D in designs:
                    _check_design(D, "neural (predictor)")
            if reg.shared and not has_nan and preds is None:
                # correlations reduced fold by fold: no prediction is materialised
                pairs = [(len(designs) - 2, len(designs) - 1)] if noise_ceiling else []
                complement = None
                if noise_ceiling and halves._complete:
                    # complete trials: h2 = (T mean - c1 h1) / c2, so its cross-products with the
                    # targets follow from the mean's (computed once) and h1's
                    c1 = (T + 1) // 2
                    designs.pop()
                    complement = (mean_p, c, T / (T - c1), -c1 / (T - c1))
                r_t, r_p = reg.pearson_designs(designs, Yc, pairs=pairs, with_target=[0] if fresh else [], complement=complement)
                if fresh:
                    r_mean = r_t[0]
                out["r"][lo:hi, i] = r_mean
                if noise_ceiling:
                    out["prediction_shc"][lo:hi, i] = spearman_brown(r_p[0])
            else:
                res = [_nan_safe(reg, D, Yc) for D in designs] if has_nan else reg.predict_designs(designs, Yc)
                if fresh:
                    P = res.pop(0)
                    r_mean = pearson(Yc, P)
                out["r"][lo:hi, i] = r_mean
                if noise_ceiling:
                    out["prediction_shc"][lo:hi, i] = spearman_brown(pearson(res[0], res[1]))
            ceil = []
            if noise_ceiling:
                ceil.append(out["prediction_shc"][lo:hi, i])
                if target_R is not None:
                    ceil.append(out["target_shc"][lo:hi, i])
            out["ev"][lo:hi, i] = _ev(out["r"][lo:hi, i], *ceil)
            if preds is not None:
                preds[i, :, lo:hi] = P
    return out, preds


_HALVES_BYTES = 32 * 2**20  # split halves computed per batch of reps
_RANK_BYTES = 8 * 2**20  # target halves ranked per batch of reps (ranking holds a few copies)


def _batched_halves(halves: SplitHalves, perms: list[np.ndarray], batch: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """``(h1, h2)`` of each permutation in turn, computed ``batch`` permutations at a time."""
    for start in range(0, len(perms), batch):
        h1, h2 = halves.means(np.stack(perms[start : start + batch]))
        for j in range(h1.shape[0]):
            yield h1[j], h2[j]


def _unit_chunks(Y: Any, keep: np.ndarray | None) -> Iterable[tuple[int, int, np.ndarray]]:
    """(start, stop, block) over the unit chunks of a lazy array, or the whole in-memory array."""
    if not hasattr(Y, "dask"):
        yield 0, Y.shape[1], Y
        return
    start = 0
    for size in Y.chunks[1]:
        block = np.asarray(Y[:, start : start + size].compute(), dtype=np.float64)
        if keep is not None:
            block = block[keep]
        _check_finite(block, start)
        yield start, start + size, block
        start += size


def _check_finite(block: np.ndarray, start: int) -> None:
    if not np.isfinite(block).all():
        raise LayoutError(
            f"features: non-finite values in the unit chunk starting at unit {start}; features must be finite."
        )


def _nan_safe(reg: Regressor, D: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A design with NaN (an all-NaN split half under split='slots') predicts NaN everywhere."""
    if np.isnan(D).any():
        return np.full(Y.shape, np.nan)
    return reg.predict_designs([D], Y)[0]


def reverse(
    neural: xr.DataArray,
    features: xr.DataArray,
    *,
    reps: int = 20,
    seed: int = 0,
    regressor: str = "ridge",
    alpha: float = 0.1,
    n_components: int = 20,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    max_n: int | None = None,
    noise_ceiling: bool = True,
    split: str = "valid",
    backend: str | None = None,
    dtype: Any = "float64",
    keep_predictions: bool = False,
    progress: bool | Callable = False,
) -> xr.Dataset:
    """Reverse predictivity (brain -> model): predict each model unit from the neural population.

    Parameters are those of :func:`forward`; ``max_n`` draws a fresh subset of predictor
    neuroids every rep; the ceiling is the split-half reliability of the predictions from the
    two halves of the predictor repeats.

    Returns
    -------
    xarray.Dataset, dims (unit, rep)
        ``ev``, ``r``, ``prediction_shc``; coords of the units.
    """
    _check_params(reps, split, regressor, max_n, backend, dtype)
    features = validate_features(features, name="features")
    neural = _prep_neural(neural, "neural", noise_ceiling, split)
    features, neural = align(features, neural, names=("features", "neural"))
    R = _load(neural)
    ok = _nan_neuroids(R, neural.neuroid_id.values, "neural")
    keep = _stimuli_with_repeats(R, ok, "neural", neural.stimulus_id.values, noise_ceiling, split)
    R = _take(R, keep, ok)
    n = R.shape[0]
    folds = _folds(n, n_folds, fold_seed, "neural/features")
    if _is_lazy(features):  # scored unit chunk by unit chunk, never loaded whole
        F, keep_rows = features.data, keep
    else:
        F, keep_rows = _load(features), None
        F = F if keep.all() else F[keep]
        _warn_constant_targets(F, features.unit_id.values, "features", "units")
    reg = Regressor(regressor, folds, alpha=alpha, n_components=n_components, alphas=tuple(alphas), backend=backend, dtype=resolve_dtype(dtype))
    out, preds = _from_neural_predictor(
        "reverse", R, F, reg, reps, seed, max_n, noise_ceiling, split, None, keep_predictions, progress, keep_rows
    )
    attrs = _common_attrs(
        "reverse", neural.name or "neural", features.name or "features",
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=bool(noise_ceiling), split=split, n_stimuli=int(n),
        n_excluded_stimuli=int((~keep).sum()), n_predictors=int(ok.sum()),
    )
    return _dataset(features, "unit", out, attrs, preds, neural.stimulus_id.values[keep] if preds is not None else None)


def inter_animal(
    neural_a: xr.DataArray,
    neural_b: xr.DataArray,
    *,
    reps: int = 20,
    seed: int = 0,
    regressor: str = "ridge",
    alpha: float = 0.1,
    n_components: int = 20,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    max_n: int | None = None,
    noise_ceiling: bool = True,
    split: str = "valid",
    backend: str | None = None,
    dtype: Any = "float64",
    keep_predictions: bool = False,
    progress: bool | Callable = False,
) -> xr.Dataset:
    """Inter-animal consistency (animal A -> animal B): predict each neuroid of B from A.

    Parameters are those of :func:`forward`; ``max_n`` subsamples A's neuroids every rep.

    Returns
    -------
    xarray.Dataset, dims (neuroid, rep)
        ``ev``, ``r``, ``target_shc`` (B's split-half reliability) and ``prediction_shc``.
    """
    _check_params(reps, split, regressor, max_n, backend, dtype)
    neural_a = _prep_neural(neural_a, "neural_a", noise_ceiling, split)
    neural_b = _prep_neural(neural_b, "neural_b", noise_ceiling, split)
    neural_a, neural_b = align(neural_a, neural_b, names=("neural_a", "neural_b"))
    RA, RB = _load(neural_a), _load(neural_b)
    ok_a = _nan_neuroids(RA, neural_a.neuroid_id.values, "neural_a")
    ok_b = _nan_neuroids(RB, neural_b.neuroid_id.values, "neural_b")
    keep = _stimuli_with_repeats(RA, ok_a, "neural_a", neural_a.stimulus_id.values, noise_ceiling, split)
    keep &= _stimuli_with_repeats(RB, ok_b, "neural_b", neural_b.stimulus_id.values, noise_ceiling, split)
    RA, RB = _take(RA, keep, ok_a), _take(RB, keep, ok_b)
    n = RA.shape[0]
    folds = _folds(n, n_folds, fold_seed, "neural_a/neural_b")
    mean_b = nanmean_repeats(RB)
    _warn_constant_targets(mean_b, neural_b.neuroid_id.values[ok_b], "neural_b", "neuroids")
    reg = Regressor(regressor, folds, alpha=alpha, n_components=n_components, alphas=tuple(alphas), backend=backend, dtype=resolve_dtype(dtype))
    out, preds = _from_neural_predictor(
        "inter_animal", RA, mean_b, reg, reps, seed, max_n, noise_ceiling, split, RB if noise_ceiling else None, keep_predictions, progress
    )
    full = {name: _expand(v, ok_b) for name, v in out.items()}
    attrs = _common_attrs(
        "inter_animal", neural_a.name or "neural_a", neural_b.name or "neural_b",
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=bool(noise_ceiling), split=split, n_stimuli=int(n),
        n_excluded_stimuli=int((~keep).sum()), n_predictors=int(ok_a.sum()),
    )
    return _dataset(neural_b, "neuroid", full, attrs, _expand_pred(preds, ok_b), neural_b.stimulus_id.values[keep] if preds is not None else None)


def model_to_model(
    features_a: xr.DataArray,
    features_b: xr.DataArray,
    *,
    reps: int = 1,
    seed: int = 0,
    regressor: str = "ridge",
    alpha: float = 0.1,
    n_components: int = 20,
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

    Without ``max_n`` every rep is identical (nothing is random), so ``reps`` defaults to 1;
    with ``max_n`` each rep uses a fresh subset of A's units.

    Returns
    -------
    xarray.Dataset, dims (unit, rep)
        ``ev`` and ``r``; coords of B's units.
    """
    _check_params(reps, "valid", regressor, max_n, backend, dtype)
    features_a = validate_features(features_a, name="features_a")
    features_b = validate_features(features_b, name="features_b")
    features_a, features_b = align(features_a, features_b, names=("features_a", "features_b"))
    FA, FB = _load(features_a), _load(features_b)
    n = FA.shape[0]
    folds = _folds(n, n_folds, fold_seed, "features_a/features_b")
    _check_design(FA, "features_a")
    _warn_constant_targets(FB, features_b.unit_id.values, "features_b", "units")
    reg = Regressor(regressor, folds, alpha=alpha, n_components=n_components, alphas=tuple(alphas), backend=backend, dtype=resolve_dtype(dtype))
    sub_rng = np.random.default_rng([seed, 1])
    m = FB.shape[1]
    out = {"ev": np.full((m, reps), np.nan), "r": np.full((m, reps), np.nan)}
    preds = np.full((reps, n, m), np.nan) if keep_predictions else None
    P = r = None
    for i in _progress(reps, progress, "model_to_model"):
        cols = _subset(sub_rng, FA.shape[1], max_n)
        if cols is not None or r is None:
            X = FA if cols is None else FA[:, cols]
            if reg.shared and preds is None and X.shape[1] < n:
                r = reg.pearson_designs([X], FB, with_target=[0])[0][0]  # no prediction materialised
            else:
                P = reg.predict_designs([X], FB)[0] if X.shape[1] < n else reg.predict_blocks(X, [FB])[0]
                r = pearson(FB, P)
        out["r"][:, i] = r
        out["ev"][:, i] = _ev(out["r"][:, i])
        if preds is not None:
            preds[i] = P
    attrs = _common_attrs(
        "model_to_model", features_a.name or "features_a", features_b.name or "features_b",
        reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_components=n_components, alphas=alphas,
        n_folds=n_folds, fold_seed=fold_seed, max_n=max_n, backend=backend, dtype=dtype,
        noise_ceiling=False, n_stimuli=int(n), n_units=int(FA.shape[1]),
    )
    return _dataset(features_b, "unit", out, attrs, preds, features_b.stimulus_id.values if preds is not None else None)


# ---------------------------------------------------------------------------- reliability
def split_half_reliability(neural: xr.DataArray, *, reps: int = 20, seed: int = 0, split: str = "valid", method: str = "spearman") -> xr.Dataset:
    """Spearman-Brown-corrected split-half reliability per neuroid.

    Parameters
    ----------
    neural : DataArray, dims (stimulus, neuroid, repeat)
    reps, seed, split
        As in :func:`forward`.
    method : {"spearman", "pearson"}
        Correlation of the two half means across stimuli.

    Returns
    -------
    xarray.Dataset, dims (neuroid, rep)
        ``reliability`` (Spearman-Brown corrected) and ``r_half`` (uncorrected).
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"The 'method' parameter must be one of ('spearman', 'pearson'). Got {method!r} instead.")
    _check_params(reps, split, "ridge", None, None, "float64")
    neural = _prep_neural(neural, "neural", True, split)
    R = _load(neural)
    ok = _nan_neuroids(R, neural.neuroid_id.values, "neural")
    keep = _stimuli_with_repeats(R, ok, "neural", neural.stimulus_id.values, True, split)
    R = _take(R, keep, ok)
    rng = np.random.default_rng(seed)
    perms = np.stack([draw_permutation(rng, R.shape[2]) for _ in range(reps)])
    h1, h2 = split_means(R, perms, split)
    corr = spearman if method == "spearman" else pearson
    r = np.stack([corr(h1[i], h2[i]) for i in range(reps)], axis=1)
    ds = xr.Dataset(
        {"reliability": (("neuroid", "rep"), _expand(spearman_brown(r), ok)), "r_half": (("neuroid", "rep"), _expand(r, ok))},
        coords={**_target_coords(neural, "neuroid"), "rep": np.arange(reps)},
        attrs={"reps": int(reps), "seed": int(seed), "split": split, "method": method, "neuroxr_version": _version()},
    )
    return ds


# ---------------------------------------------------------------------------- store-level scoring
def score(
    store: Any,
    direction: str,
    source: str,
    target: str,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Score one direction between two entries of a study store and write the result.

    Parameters
    ----------
    store : StudyStore or str
        The study store (or its path/URL).
    direction : {"forward", "reverse", "inter_animal", "model_to_model"}
    source, target : str
        Entry names: a neural set ``"<name>"`` or a feature set ``"<model>.<layer>"``
        (forward: features -> neural; reverse: neural -> features; inter_animal: neural -> neural;
        model_to_model: features -> features).
    overwrite : bool
        Recompute even when a complete entry exists (otherwise it is read back).
    **kwargs
        Passed to the direction function (reps, seed, regressor, ...).

    Returns
    -------
    xarray.Dataset
        The scores, as written to ``scores/<direction>/<source>__<target>``.
    """
    from .store import StudyStore

    if not isinstance(store, StudyStore):
        store = StudyStore(store)
    direction = direction.replace("-", "_")
    if direction not in DIRECTIONS:
        raise ValueError(f"The 'direction' parameter must be one of {DIRECTIONS}. Got {direction!r} instead.")
    if not overwrite and store.has_scores(direction, source, target):
        return store.read_scores(direction, source, target)
    kinds = {"forward": ("features", "neural"), "reverse": ("neural", "features"),
             "inter_animal": ("neural", "neural"), "model_to_model": ("features", "features")}[direction]
    fn = {"forward": forward, "reverse": reverse, "inter_animal": inter_animal, "model_to_model": model_to_model}[direction]
    shared = kwargs.get("regressor", "ridge") in ("ridge", "linear") and kwargs.get("max_n") is None
    if direction == "forward" and shared:
        # the layer's Gram, cached in the store, is all the forward direction needs of the features
        from .geometry import cached_gram, gram_stats

        feats = _read_entry(store, "features", source, load=False)
        gram = gram_stats(cached_gram(store, *_feature_key(store, source)).load())
        ds = forward(feats, _read_entry(store, "neural", target), gram=gram, **kwargs)
    else:
        a, b = (_read_entry(store, kind, name) for kind, name in zip(kinds, (source, target)))
        ds = fn(a, b, **kwargs)
    ds.attrs.update(source=source, target=target)
    store.write_scores(direction, source, target, ds.drop_vars("prediction", errors="ignore").drop_vars("stimulus_id", errors="ignore"))
    return ds


def _feature_key(store: Any, name: str) -> tuple[str, str]:
    """``"<model>.<layer>"`` -> (model, layer) as held by the store (names may hold dots)."""
    parts = name.split(".")
    for cut in range(1, len(parts)):
        model, layer = ".".join(parts[:cut]), ".".join(parts[cut:])
        if model in store.models() and layer in store.layers(model):
            return model, layer
    if len(parts) < 2:
        raise LayoutError(f"feature set {name!r} must be named '<model>.<layer>'.")
    raise LayoutError(
        f"store {store.url!r} holds no feature set {name!r}; models and layers: "
        f"{ {m: store.layers(m) for m in store.models()} }."
    )


def _read_entry(store: Any, kind: str, name: str, load: bool = True) -> xr.DataArray:
    if kind == "neural":
        if name not in store.neural_sets():
            raise LayoutError(f"store {store.url!r} holds no neural set {name!r}; it holds {store.neural_sets()}.")
        da = store.read_neural(name)
    else:
        da = store.read_features(*_feature_key(store, name))
    da = da.load() if load else da
    da.name = name
    return da
