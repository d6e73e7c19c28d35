"""The pieces of a direction's score that inference resamples: targets, out-of-fold predictions
per rep and the ranked target split halves, all in the canonical stimulus order.

``ev`` of a rep is ``r(Y, P)^2 / (SB(rho_s(s1, s2)) * SB(r(P1, P2))) * 100``: every factor is a
Pearson correlation of two stored columns (Spearman = Pearson of ranks), so its value on a
stimulus resample follows from weighted sums (:mod:`neuroxr.kernels.resample`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..backend import resolve_dtype
from ..errors import LayoutError, ParameterError
from ..kernels.folds import stimulus_folds
from ..kernels.regressors import DEFAULT_ALPHA, DEFAULT_N_COMPONENTS, DEFAULT_RIDGECV_ALPHAS, Regressor
from ..kernels.resample import jackknife_pearson, resampled_pearson
from ..kernels.splits import SplitHalves, draw_permutation, nanmean_repeats
from ..kernels.stats import rank_pairs, spearman_brown
from ..layouts import validate_features, validate_neural
from . import _prepare as prep
from ._result import ev, included_targets

INFERENCE_DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")
#: The target input's name when its DataArray has none, as the directions name it in their attrs and warnings.
_TARGET_NAMES = {"forward": "neural", "reverse": "features", "inter_animal": "neural_b", "model_to_model": "features_b"}


@dataclass
class Parts:
    """Everything a resample or a permutation needs, in the canonical stimulus order.

    ``Y`` (n, k) targets; ``P`` (n, k) their out-of-fold predictions; with a ceiling ``P1``,
    ``P2`` (reps, n, k) the predictions from the split halves and (forward) ``s1``, ``s2``
    (reps, n, k) the ranks of the target's split halves; ``X`` the design, ``S`` its
    out-of-fold operator (ridge/linear; ``None`` for a narrow neural design, see :meth:`predict`)
    and ``reg`` the regressor. A joint fit (``pls``, an estimator) holds its targets, ``target``
    included, in canonical id order; ``order`` (``None``: the input's) is that order, which
    :meth:`in_input_order` undoes on a result.
    """

    direction: str
    dim: str
    target: xr.DataArray
    stimulus_id: np.ndarray
    Y: np.ndarray
    P: np.ndarray
    P1: np.ndarray | None
    P2: np.ndarray | None
    s1: np.ndarray | None
    s2: np.ndarray | None
    X: np.ndarray
    S: Any
    reg: Regressor
    params: dict[str, Any]
    order: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.Y.shape[0]

    def predict(self, Y: np.ndarray) -> np.ndarray:
        """Out-of-fold predictions of targets ``Y`` (n, m) from the fixed design: ``S Y`` (``n^2 m``
        flops), or for a narrow ridge design (``p < n / 4``, e.g. reverse's neuroids) fold by fold
        in the primal (about ``2 n p m + folds p^2 m``)."""
        if self.reg.shared and 4 * self.X.shape[1] < self.X.shape[0]:
            return self.reg.predict_designs([self.X], Y)[0]
        return self.reg.predict_blocks(self.X, [Y], S=self.S)[0]

    def scores(self, W: np.ndarray | None = None, jackknife: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(ev, ceiling)`` per target averaged over reps, shape (B, k), on the resamples ``W``
        (B, n) (``None``: the full sample, B = 1; ``jackknife``: leave-one-stimulus-out, B = n)."""

        def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            if jackknife:
                return jackknife_pearson(a, b)
            return resampled_pearson(np.ones((1, self.n)) if W is None else W, a, b)

        r = corr(self.Y, self.P)
        if self.P1 is None:
            return ev(r), np.full(r.shape, np.nan)
        ev_sum = np.zeros(r.shape)
        ev_cnt = np.zeros(r.shape)
        ceil_sum = np.zeros(r.shape)
        ceil_cnt = np.zeros(r.shape)
        for j in range(self.P1.shape[0]):  # means over the reps with a value, as the directions' mean("rep")
            ceil = spearman_brown(corr(self.P1[j], self.P2[j]))
            if self.s1 is not None:
                ceil = ceil * spearman_brown(corr(self.s1[j], self.s2[j]))
            e = ev(r, ceil)
            fin = np.isfinite(e)
            ev_sum += np.where(fin, e, 0.0)
            ev_cnt += fin
            fin = np.isfinite(ceil)
            ceil_sum += np.where(fin, ceil, 0.0)
            ceil_cnt += fin
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ev_cnt > 0, ev_sum / ev_cnt, np.nan), np.where(ceil_cnt > 0, ceil_sum / ceil_cnt, np.nan)


    def in_input_order(self, ds: xr.Dataset) -> xr.Dataset:
        """A result over the targets (``dim``, labeled by :attr:`target`) in the caller's order."""
        return prep.in_input_order(ds, self.dim, self.order)

    def included(self, min_reliability: float | None) -> np.ndarray:
        """``(k,)`` bool: the targets a summary counts, by the directions' rule
        (:func:`~neuroxr.predictivity._result.included_targets`, with its warning when there is no
        ceiling) on the split-half reliabilities ``prediction_shc`` and, forward and inter-animal,
        ``target_shc`` (Spearman-Brown corrected, per rep, as the directions store them)."""
        return included_targets(min_reliability, self.Y.shape[1], str(self.target.name or _TARGET_NAMES[self.direction]),
                                None if self.P1 is None else self._shcs)

    def _shcs(self) -> list[np.ndarray]:
        pairs = [(self.P1, self.P2)] + ([(self.s1, self.s2)] if self.s1 is not None else [])
        ones = np.ones((1, self.n))
        with np.errstate(invalid="ignore"):  # (target, rep) reliabilities, as the directions store them
            return [np.stack([spearman_brown(resampled_pearson(ones, a[j], b[j])[0]) for j in range(a.shape[0])], axis=1)
                    for a, b in pairs]


def _operator(reg: Regressor, X: np.ndarray) -> Any:
    """The ``n x n`` out-of-fold operator of a neural design, or ``None`` when the design is narrow
    (``p < n / 4``: predictions and permutation nulls run fold by fold in the primal, cheaper)."""
    if not reg.shared or 4 * X.shape[1] < X.shape[0]:
        return None
    return reg.operator(X)


def prepare(
    direction: str,
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    reps: int = 20,
    seed: int = 0,
    regressor: Any = "ridge",
    alpha: float = DEFAULT_ALPHA,
    n_components: int = DEFAULT_N_COMPONENTS,
    alphas: Iterable[float] = DEFAULT_RIDGECV_ALPHAS,
    n_folds: int = 10,
    fold_seed: int = 0,
    noise_ceiling: bool | None = None,
    split: str = "valid",
    backend: str | None = None,
    dtype: Any = "float64",
    min_reliability: float | None = None,
    halves: bool = True,
) -> Parts:
    """The :class:`Parts` of ``direction(source, target, ...)`` (same folds, splits and numbers:
    ``Parts.scores()`` equals the direction's ``ev.mean("rep")``).

    The parameters are the direction's and are checked as the direction checks them, except that
    ``seed`` is never refused as inert: the inference that calls this also draws its resamples or
    permutations with it. ``min_reliability`` is only checked here (the caller applies it:
    :meth:`Parts.included`). ``halves=False``: the caller, not the user, turns the ceiling off (a
    permutation test's statistic has none): no split halves are drawn, and the ceiling options are
    checked as the user gave them, against the user's ``noise_ceiling``.
    """
    if direction not in INFERENCE_DIRECTIONS:
        raise ParameterError(
            f"direction must be one of {INFERENCE_DIRECTIONS} for inference; got {direction!r}."
        )
    prep.check_params(
        reps=reps, seed=seed, split=split, regressor=regressor, max_n=None, backend=backend, dtype=dtype,
        alpha=alpha, alphas=alphas, n_folds=n_folds, fold_seed=fold_seed, noise_ceiling=noise_ceiling, n_components=n_components,
        min_reliability=min_reliability, seed_drawn=True,
    )
    params = dict(reps=reps, seed=int(seed), regressor=regressor, alpha=alpha, n_folds=n_folds, fold_seed=fold_seed,
                  noise_ceiling=noise_ceiling, split=split)
    opts = dict(alpha=alpha, n_components=n_components, alphas=tuple(alphas), backend=backend, dtype=resolve_dtype(dtype))
    if direction == "model_to_model":
        return _model_to_model(source, target, n_folds, fold_seed, regressor, opts, params)
    fn = {"forward": _forward, "reverse": _reverse, "inter_animal": _inter_animal}[direction]
    return fn(source, target, reps, seed, regressor, n_folds, fold_seed, noise_ceiling if halves else False, split,
              opts, params)


def _forward(features, neural, reps, seed, regressor, n_folds, fold_seed, noise_ceiling, split, opts, params) -> Parts:
    features = validate_features(features, name="features")
    neural = validate_neural(neural, name="neural")
    ceiling, _ = prep.resolve_ceiling(noise_ceiling, [("neural", neural)])
    features, neural, _ = prep.pair(features, neural, ("features", "neural"))
    features, neural, order = prep.order_by_id(features, "unit", neural, "neuroid", regressor)
    R = prep.load(neural)
    ok = prep.nan_neuroids(R, neural.neuroid_id.values, "neural")
    if not ok.all():
        raise LayoutError(f"neural: {int((~ok).sum())} all-NaN neuroids along 'neuroid'; drop them before inference.")
    keep, valid = prep.target_stimuli(R, "neural", neural.stimulus_id.values, prep.needed_repeats(ceiling, split))
    if not valid.all():  # valid is over the kept stimuli already
        raise LayoutError(
            "neural: some neuroids lack valid repeats at some stimuli (dim 'stimulus'); inference resamples "
            "stimuli shared by every target: select the complete neuroids or stimuli first."
        )
    R = prep.take(R, keep)
    F = prep.take(prep.load_features(features, "features"), keep)
    prep.check_design(F, "features")
    n, k, T = R.shape
    reg = Regressor(regressor, stimulus_folds(n, n_folds, fold_seed, "neural/features"), **opts)
    S = reg.operator(F) if reg.shared else None
    Y = nanmean_repeats(R)
    P = reg.predict_blocks(F, [Y], S=S)[0]
    P1 = P2 = s1 = s2 = None
    if ceiling:
        rng = np.random.default_rng(seed)
        perms_a, perms_b = [], []
        for _ in range(reps):  # forward's order per rep: the split for P1/P2, then the target's own split
            perms_a.append(draw_permutation(rng, T))
            perms_b.append(draw_permutation(rng, T))
        halves = SplitHalves(R, split)
        h1, h2 = halves.means(np.stack(perms_a))
        if reg.shared and halves._complete:
            # a linear map of complete data: mean = (c1 h1 + c2 h2) / T, so P2 = (T P - c1 P1) / c2 (as forward)
            c1 = (T + 1) // 2
            P1 = np.stack(reg.predict_blocks(F, list(h1), S=S))
            P2 = (T * P[None] - c1 * P1) / (T - c1)
        else:
            preds = reg.predict_blocks(F, [h for j in range(reps) for h in (h1[j], h2[j])], S=S)
            P1, P2 = np.stack(preds[0::2]), np.stack(preds[1::2])
        a, b = halves.means(np.stack(perms_b))
        s1, s2 = (np.asarray(x) for x in rank_pairs(a, b))  # Spearman with nan_policy='omit'
    ids = neural.stimulus_id.values[keep]
    return Parts("forward", "neuroid", neural, ids, Y, P, P1, P2, s1, s2, F, S, reg, params, order)


def _reverse(neural, features, reps, seed, regressor, n_folds, fold_seed, noise_ceiling, split, opts, params) -> Parts:
    neural = validate_neural(neural, name="neural")
    features = validate_features(features, name="features")
    ceiling, _ = prep.resolve_ceiling(noise_ceiling, [("neural", neural)])
    neural, features, _ = prep.pair(neural, features, ("neural", "features"))
    neural, features, order = prep.order_by_id(neural, "neuroid", features, "unit", regressor, source_always=True)
    R = prep.load(neural)
    ok = prep.nan_neuroids(R, neural.neuroid_id.values, "neural", predictor=True)
    R = prep.take(R, None, ok)
    keep = prep.predictor_stimuli(R, "neural", neural.stimulus_id.values, prep.needed_repeats(ceiling, split))
    R = prep.take(R, keep)
    F = prep.take(prep.load(features), keep)
    n, _, T = R.shape
    reg = Regressor(regressor, stimulus_folds(n, n_folds, fold_seed, "neural/features"), **opts)
    X = nanmean_repeats(R)
    prep.check_design(X, "neural (predictor)")
    S = _operator(reg, X)
    P = reg.predict_designs([X], F)[0] if reg.shared and S is None else reg.predict_blocks(X, [F], S=S)[0]
    P1 = P2 = None
    if ceiling:
        rng = np.random.default_rng(seed)
        perms = [draw_permutation(rng, T) for _ in range(reps)]
        h1, h2 = SplitHalves(R, split).means(np.stack(perms))
        preds = reg.predict_designs([h for j in range(reps) for h in (h1[j], h2[j])], F)
        P1, P2 = np.stack(preds[0::2]), np.stack(preds[1::2])
    ids = neural.stimulus_id.values[keep]
    return Parts("reverse", "unit", features, ids, F, P, P1, P2, None, None, X, S, reg, params, order)


def _inter_animal(neural_a, neural_b, reps, seed, regressor, n_folds, fold_seed, noise_ceiling, split, opts, params) -> Parts:
    neural_a = validate_neural(neural_a, name="neural_a")
    neural_b = validate_neural(neural_b, name="neural_b")
    ceiling, _ = prep.resolve_ceiling(noise_ceiling, [("neural_a", neural_a), ("neural_b", neural_b)])
    neural_a, neural_b, _ = prep.pair(neural_a, neural_b, ("neural_a", "neural_b"))
    neural_a, neural_b, order = prep.order_by_id(neural_a, "neuroid", neural_b, "neuroid", regressor, source_always=True)
    ids = neural_a.stimulus_id.values
    RA, RB = prep.load(neural_a), prep.load(neural_b)
    ok_a = prep.nan_neuroids(RA, neural_a.neuroid_id.values, "neural_a", predictor=True)
    ok_b = prep.nan_neuroids(RB, neural_b.neuroid_id.values, "neural_b")
    if not ok_b.all():
        raise LayoutError(f"neural_b: {int((~ok_b).sum())} all-NaN neuroids along 'neuroid'; drop them before inference.")
    RA = prep.take(RA, None, ok_a)
    need = prep.needed_repeats(ceiling, split)
    keep_a = prep.predictor_stimuli(RA, "neural_a", ids, need)
    RA, RB = prep.take(RA, keep_a), prep.take(RB, keep_a)
    keep_b, valid = prep.target_stimuli(RB, "neural_b", ids[keep_a], need)
    if not valid.all():  # valid is over the kept stimuli already
        raise LayoutError(
            "neural_b: some neuroids lack valid repeats at some stimuli (dim 'stimulus'); inference resamples "
            "stimuli shared by every target: select the complete neuroids or stimuli first."
        )
    RA, RB = prep.take(RA, keep_b), prep.take(RB, keep_b)
    n, _, T = RA.shape
    reg = Regressor(regressor, stimulus_folds(n, n_folds, fold_seed, "neural_a/neural_b"), **opts)
    X = nanmean_repeats(RA)
    prep.check_design(X, "neural_a (predictor)")
    Y = nanmean_repeats(RB)
    S = _operator(reg, X)
    P = reg.predict_designs([X], Y)[0] if reg.shared and S is None else reg.predict_blocks(X, [Y], S=S)[0]
    P1 = P2 = s1 = s2 = None
    if ceiling:
        rng = np.random.default_rng(seed)
        perms_b, perms_a = [], []
        for _ in range(reps):  # inter_animal's order per rep: B's split, then the predictor's
            perms_b.append(draw_permutation(rng, RB.shape[2]))
            perms_a.append(draw_permutation(rng, T))
        h1, h2 = SplitHalves(RA, split).means(np.stack(perms_a))
        preds = reg.predict_designs([h for j in range(reps) for h in (h1[j], h2[j])], Y)
        P1, P2 = np.stack(preds[0::2]), np.stack(preds[1::2])
        a, b = SplitHalves(RB, split).means(np.stack(perms_b))
        s1, s2 = (np.asarray(x) for x in rank_pairs(a, b))  # Spearman with nan_policy='omit'
    ids = ids[keep_a][keep_b]
    return Parts("inter_animal", "neuroid", neural_b, ids, Y, P, P1, P2, s1, s2, X, S, reg, params, order)


def _model_to_model(features_a, features_b, n_folds, fold_seed, regressor, opts, params) -> Parts:
    features_a = validate_features(features_a, name="features_a")
    features_b = validate_features(features_b, name="features_b")
    features_a, features_b, _ = prep.pair(features_a, features_b, ("features_a", "features_b"))
    features_a, features_b, order = prep.order_by_id(features_a, "unit", features_b, "unit", regressor)
    X = prep.load_features(features_a, "features_a")
    Y = prep.load_features(features_b, "features_b")
    prep.check_design(X, "features_a")
    reg = Regressor(regressor, stimulus_folds(X.shape[0], n_folds, fold_seed, "features_a/features_b"), **opts)
    S = reg.operator(X) if reg.shared else None
    P = reg.predict_blocks(X, [Y], S=S)[0]
    params = dict(params, noise_ceiling=False)
    return Parts("model_to_model", "unit", features_b, features_a.stimulus_id.values, Y, P, None, None, None, None,
                 X, S, reg, params, order)
