"""The pieces of a direction's score that inference resamples: targets, out-of-fold predictions
per rep and the ranked target split halves, all in the canonical stimulus order.

``ev`` of a rep is ``r(Y, P)^2 / (SB(rho_s(s1, s2)) * SB(r(P1, P2))) * 100``: the Pearson factors
on a stimulus resample follow from weighted sums (:mod:`neuroxr.kernels.resample`); the Spearman
factor ranks the target's halves anew on each resample, a stimulus drawn ``c`` times as ``c`` tied
copies (:class:`neuroxr.kernels.resample_ranks.ResampledSpearman`), as the direction ranks them.

Targets with missing stimuli are grouped as the directions group them
(:func:`neuroxr.predictivity._prepare.target_groups`): each :class:`Group` has its stimuli, its
folds and its operator; the stored columns are NaN outside a target's group stimuli and
:attr:`Parts.mask` marks the stimuli each target is scored on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError, ParameterError, shown, where
from ..geometry._common import input_labels
from ..kernels.permute import induced_permutations, permuted_oof_pearson
from ..kernels.regressors import DEFAULT_ALPHA, DEFAULT_N_COMPONENTS, DEFAULT_RIDGECV_ALPHAS, Regressor, fits_jointly
from ..kernels.resample import jackknife_pearson, resampled_pearson
from ..kernels.resample_ranks import ResampledSpearman
from ..kernels.splits import SplitHalves, draw_permutation, nanmean_repeats
from ..kernels.stats import pearson, rank_pairs, spearman_brown
from ..time_bins import has_time
from . import _prepare as prep
from ._gram import check_linear_design
from ._inputs import TRIAL_AVERAGED, resolve_ceiling
from ._result import ev, included_targets, warn_empty_halves, warn_hygiene

INFERENCE_DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")
#: The direction's arguments (source, target), as the messages of its inference name its inputs.
ARG_NAMES = {"forward": ("features", "neural"), "reverse": ("neural", "features"), "inter_animal": ("neural_a", "neural_b"),
             "model_to_model": ("features_a", "features_b")}
#: The target input's name when its DataArray has none, as the directions name it in their attrs and warnings.
_TARGET_NAMES = {d: names[1] for d, names in ARG_NAMES.items()}


@dataclass
class Group:
    """Targets scored on the same stimuli, as a direction fits them: ``rows`` (n,) bool their
    stimuli (positions of the canonical order), ``cols`` (m,) int their targets, ``reg`` the
    regressor with the folds drawn over the rows and ``S`` the out-of-fold operator of the rows'
    design (``None``: see :meth:`Parts.predict`)."""

    rows: np.ndarray
    cols: np.ndarray
    reg: Regressor
    S: Any


@dataclass
class Parts:
    """Everything a resample or a permutation needs, in the canonical stimulus order.

    ``Y`` (n, k) targets; ``P`` (n, k) their out-of-fold predictions; with a ceiling ``P1``,
    ``P2`` (reps, n, k) the predictions from the split halves and (forward) ``s1``, ``s2``
    (reps, n, k) the ranks of the target's split halves; ``X`` the design (every kept stimulus).
    ``groups``: the targets grouped by their stimuli as the direction groups them, each with its
    regressor and operator (:class:`Group`; reverse and model-to-model: one group, every target on
    every stimulus, :func:`_whole`). A joint fit (``pls``, an estimator) holds its targets,
    ``target`` included, in canonical id order; ``order`` (``None``: the input's) is that order,
    which :meth:`in_input_order` undoes on a result. ``caller``: the public function called (its
    name starts the messages, :attr:`target_name`).

    ``mask`` (n, k) bool: the stimuli each target is scored on (``None``: all), the stored
    columns NaN outside it; ``counts``: the attrs the direction reports of its targets' stimuli
    (:func:`~neuroxr.predictivity._prepare.target_counts`). ``constant`` (k,) bool, set by :func:`prepare`:
    the targets constant up to rounding, whose scores, ceilings and nulls are NaN as in the direction.
    ``labels``: the inputs' labels, as the attrs ``source`` and ``target`` record them. ``drawn_id``: the stimuli resamples and permutations are drawn over (canonical order; ``None``:
    ``stimulus_id``): forward and inter-animal, every stimulus the design has, also those no target is
    scored on (dropped), so that a target's draws never depend on another target's missing values.
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
    groups: list[Group]
    params: dict[str, Any]
    order: np.ndarray | None = None
    mask: np.ndarray | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    _reliabilities: list[np.ndarray] | None = field(default=None, repr=False)  # _shcs, once computed
    _spearman: ResampledSpearman | None = field(default=None, repr=False)  # the halves, sorted once
    halves: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # the ranks' values (reps, n, k)
    caller: str = ""
    drawn_id: np.ndarray | None = None
    labels: dict[str, str] = field(default_factory=dict)  # the inputs' labels (attrs source, target), set by prepare

    def __post_init__(self) -> None:
        self.constant = np.zeros(self.Y.shape[1], dtype=bool)  # set by prepare()

    @property
    def n(self) -> int:
        return self.Y.shape[0]

    @property
    def scored(self) -> np.ndarray:
        """``(k,)`` bool: the targets scored at all, in a group (all-NaN targets and those with too
        few stimuli are in none) and not constant; the others are NaN in every variable, as in the
        direction, and no target of a summary over targets."""
        grouped = np.ones(self.Y.shape[1], dtype=bool) if self.mask is None else self.mask.any(axis=0)
        return grouped & ~np.isnan(self.Y).all(axis=0) & ~self.constant

    @property
    def target_name(self) -> str:
        """The target input as the warnings name it: the function called, then the direction's
        argument with its label (``"bootstrap: neural (V4)"``, :func:`~neuroxr.predictivity._inputs.named`)."""
        return prep.named(self.caller, self.target, _TARGET_NAMES[self.direction])

    def predict(self, Y: np.ndarray, group: Group | None = None) -> np.ndarray:
        """Out-of-fold predictions of targets ``Y`` (n, m) from the fixed design (of ``group``'s
        stimuli, ``Y`` then on those rows; default the first group): ``S Y`` (``n^2 m`` flops), or
        for a narrow ridge design (``p < n / 4``, e.g. reverse's neuroids) fold by fold in the
        primal (about ``2 n p m + folds p^2 m``)."""
        g = self.groups[0] if group is None else group
        X = prep.take(self.X, g.rows)
        if g.reg.shared and 4 * X.shape[1] < X.shape[0]:
            return g.reg.predict_designs([X], Y)[0]
        return g.reg.predict_blocks(X, [Y], S=g.S)[0]

    def permuted_r(self, perms: np.ndarray, batch_bytes: int) -> tuple[np.ndarray, np.ndarray]:
        """``(r, null)``: the observed Pearson ``r`` of each target's out-of-fold predictions (k,)
        and its value under each permutation of the stimuli ``perms`` (B, n), shape (B, k).

        Group by group: a group permutes its own stimuli by the permutation each row of ``perms``
        induces on them (:func:`~neuroxr.kernels.permute.induced_permutations`; ``perms`` itself for
        the complete targets) and predicts from its own design, folds and factorisations. Ridge /
        linear: the exact null without refitting (:func:`~neuroxr.kernels.permute.permuted_oof_pearson`);
        other regressors refit a batch at a time, a joint fit (``pls``, an estimator) each
        permutation's targets on their own. Targets in no group (too few stimuli): NaN."""
        k = self.Y.shape[1]
        r0, null = np.full(k, np.nan), np.full((perms.shape[0], k), np.nan)
        for g in self.groups:
            X, Y = prep.take(self.X, g.rows), _sub(self.Y, g)
            pg = induced_permutations(perms, g.rows)
            r0[g.cols] = pearson(Y, _sub(self.P, g))
            if g.reg.shared:
                null[:, g.cols] = permuted_oof_pearson(X, Y, g.reg.folds, g.reg._fold_alpha, pg, S=g.S,
                                                       batch_bytes=batch_bytes)
                continue
            n, m = Y.shape
            batch = max(1, int(batch_bytes // (n * m * 8 * 3)))
            for lo in range(0, pg.shape[0], batch):
                sel = pg[lo : lo + batch]
                blocks = [Y[p] for p in sel]
                Yp = np.concatenate(blocks, axis=1)
                # a joint fit fits each permutation's targets on their own, as the direction fits them
                Pp = (np.concatenate(g.reg.predict_blocks(X, blocks), axis=1) if fits_jointly(g.reg.name)
                      else self.predict(Yp, g))
                null[lo : lo + len(sel), g.cols] = pearson(Yp, Pp).reshape(len(sel), m)
        r0[self.constant], null[:, self.constant] = np.nan, np.nan
        return r0, null

    def scores(self, W: np.ndarray | None = None, jackknife: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(ev, ceiling)`` per target averaged over reps, shape (B, k), on the resamples ``W``
        (B, n) (``None``: the full sample, B = 1; ``jackknife``: leave-one-stimulus-out, B = n).
        A target with missing stimuli uses the weights of its own stimuli (:attr:`mask`); its
        jackknife leaves out only those, NaN in the other rows (see :meth:`left_in`). The target's
        split-half Spearman is ranked anew on each resample and jackknife sample
        (:meth:`_resampled_rho`)."""

        def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # each target on its own stimuli (mask)
            if jackknife:
                return jackknife_pearson(a, b, self.mask)
            return resampled_pearson(np.ones((1, self.n)) if W is None else W, a, b, self.mask)

        r = np.where(self.constant, np.nan, corr(self.Y, self.P))  # NaN ev and ceiling for constant targets
        if self.P1 is None:
            return ev(r), np.full(r.shape, np.nan)
        ev_sum = np.zeros(r.shape)
        ev_cnt = np.zeros(r.shape)
        ceil_sum = np.zeros(r.shape)
        ceil_cnt = np.zeros(r.shape)
        full = W is None and not jackknife
        rho = None if full or self.s1 is None else self._resampled_rho(W, jackknife)  # (B, reps, k)
        rel: list[list[np.ndarray]] = [[], []]  # the full sample's reliabilities per rep: _shcs's, kept
        for j in range(self.P1.shape[0]):  # means over the reps with a value, as the directions' mean("rep")
            ceil = np.where(self.constant, np.nan, spearman_brown(corr(self.P1[j], self.P2[j])))
            if full:
                rel[0].append(ceil[0])
            if self.s1 is not None:
                target_rel = spearman_brown(corr(self.s1[j], self.s2[j]) if rho is None else rho[:, j])
                ceil = ceil * target_rel
                if full:
                    rel[1].append(target_rel[0])
            e = ev(r, ceil)
            fin = np.isfinite(e)
            ev_sum += np.where(fin, e, 0.0)
            ev_cnt += fin
            fin = np.isfinite(ceil)
            ceil_sum += np.where(fin, ceil, 0.0)
            ceil_cnt += fin
        if full and self._reliabilities is None:
            with np.errstate(invalid="ignore"):
                self._reliabilities = [np.where(self.constant[:, None], np.nan, np.stack(v, axis=1)) for v in rel if v]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ev_cnt > 0, ev_sum / ev_cnt, np.nan), np.where(ceil_cnt > 0, ceil_sum / ceil_cnt, np.nan)

    def _resampled_rho(self, W: np.ndarray | None, jackknife: bool) -> np.ndarray:
        """The Spearman correlation of each rep's target halves (B, reps, k) on the resamples ``W``
        (B, n) (``jackknife``: each stimulus left out, B = n; NaN in the rows of the stimuli a target
        is not scored on), each resample's halves ranked anew among its drawn complete pairs, ties
        by the one tie rule on those rows: what the direction computes on the resample's rows (the
        halves' columns are sorted once, :class:`ResampledSpearman`)."""
        reps, n, k = self.s1.shape
        if self._spearman is None:
            self._spearman = ResampledSpearman(*(np.moveaxis(s, 0, 1).reshape(n, reps * k) for s in self.halves))
        rho = self._spearman(1.0 - np.eye(n) if jackknife else W).reshape(-1, reps, k)
        return rho if not jackknife or self.mask is None else np.where(self.mask[:, None, :], rho, np.nan)

    def left_in(self, jack: np.ndarray, full: np.ndarray) -> np.ndarray:
        """A per-target jackknife ``jack`` (n, k) of :meth:`scores` with the full-sample value
        ``full`` (k,) in the rows of the stimuli a target is not scored on (leaving such a stimulus
        out leaves the target's score as it is): the jackknife of a statistic over targets."""
        return jack if self.mask is None else np.where(self.mask, jack, full)

    def in_input_order(self, ds: xr.Dataset) -> xr.Dataset:
        """A result over the targets (``dim``, labeled by :attr:`target`) in the caller's order."""
        return prep.in_input_order(ds, self.dim, self.order)

    def included(self, min_reliability: float | None) -> np.ndarray:
        """``(k,)`` bool: the targets a summary counts, by the directions' rule
        (:func:`~neuroxr.predictivity._result.included_targets`, with its warning when there is no
        ceiling) on the split-half reliabilities ``prediction_shc`` and, forward and inter-animal,
        ``target_shc`` (Spearman-Brown corrected, per rep, as the directions store them)."""
        return included_targets(min_reliability, self.Y.shape[1], self.target_name,
                                None if self.P1 is None else self._shcs)

    def warn_hygiene(self, ev: np.ndarray, included: np.ndarray, min_reliability: float | None) -> None:
        """The direction's warning on its ceiled scores (:func:`~neuroxr.predictivity._result.warn_hygiene`)
        for the EV ``ev`` (k,) (the mean over reps) and ``included``; none without a ceiling."""
        if self.P1 is not None:
            ids = self.target.coords.get(f"{self.dim}_id")  # the direction's warnings of NaN split-half reliabilities
            shcs = self._shcs()
            warn_empty_halves(self.direction, f"{self.caller}: {ARG_NAMES[self.direction][0]}", self.target_name,
                              self.dim, shcs[0], self.scored,
                              np.arange(self.Y.shape[1]) if ids is None else np.asarray(ids.values),
                              self.params.get("split") or "valid", shcs[1] if len(shcs) > 1 else None)
            warn_hygiene(self.target_name, self.dim, ev, self._shcs(), included,
                         min_reliability)

    def _shcs(self) -> list[np.ndarray]:
        if self._reliabilities is not None:  # from the full sample's scores
            return self._reliabilities
        pairs = [(self.P1, self.P2)] + ([(self.s1, self.s2)] if self.s1 is not None else [])
        ones = np.ones((1, self.n))
        with np.errstate(invalid="ignore"):  # (target, rep) reliabilities, as the directions store them
            return [np.where(self.constant[:, None], np.nan, np.stack(
                [spearman_brown(resampled_pearson(ones, a[j], b[j], self.mask)[0]) for j in range(a.shape[0])], axis=1))
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
    caller: str = "",
) -> Parts:
    """The :class:`Parts` of ``direction(source, target, ...)`` (same folds, splits and numbers:
    ``Parts.scores()`` equals the direction's ``ev.mean("rep")``).

    The parameters are the direction's and are checked as the direction checks them, except that
    ``seed`` is never refused as inert: the inference that calls this also draws its resamples or
    permutations with it. ``min_reliability`` is only checked here (the caller applies it:
    :meth:`Parts.included`). ``halves=False``: the caller, not the user, turns the ceiling off (a
    permutation test's statistic has none): no split halves are drawn, and the ceiling options are
    checked as the user gave them, against the user's ``noise_ceiling``. ``caller``: the public
    function called, whose name starts the messages about the inputs (named by the direction's
    arguments :data:`ARG_NAMES` and their labels).
    """
    if direction not in INFERENCE_DIRECTIONS:
        raise ParameterError(
            f"{where(caller)}direction must be one of {INFERENCE_DIRECTIONS} for inference; got {shown(direction)}."
        )
    for arg, obj in zip(ARG_NAMES[direction], (source, target)):
        # the inference functions run time-resolved responses bin by bin, each bin prepared alone (features have no
        # time bins: one with a time_bin dim is refused by the features' layout check below, as the direction refuses it)
        if has_time(obj) and arg.startswith("neural"):
            raise LayoutError(
                f"{where(caller) or 'prepare: '}{arg} is time-resolved (dim 'time_bin', {obj.sizes['time_bin']} bins); "
                f"prepare one bin at a time, e.g. {arg}.isel(time_bin=0), or pass the time-resolved inputs to "
                "bootstrap or permutation_test, which run bin by bin."
            )
    prep.check_params(
        reps=reps, seed=seed, split=split, regressor=regressor, max_n=None, backend=backend, dtype=dtype,
        alpha=alpha, alphas=alphas, n_folds=n_folds, fold_seed=fold_seed, noise_ceiling=noise_ceiling, n_components=n_components,
        min_reliability=min_reliability, seed_drawn=True, caller=caller,
    )
    from ..backend import resolve_dtype

    # every parameter that changes the numbers, as the directions record them (common_attrs)
    params = dict(reps=reps, seed=int(seed), regressor=regressor, alpha=alpha, n_folds=n_folds, fold_seed=fold_seed,
                  noise_ceiling=noise_ceiling, split=split, n_components=int(n_components),
                  alphas=[float(a) for a in alphas] if isinstance(regressor, str) and regressor == "ridgecv" else None,
                  backend=prep.fit_backend(regressor, backend), dtype=str(resolve_dtype(dtype)))
    opts = prep.regressor_options(alpha, n_components, alphas, backend, dtype)
    if direction == "model_to_model":
        parts = _model_to_model(source, target, n_folds, fold_seed, regressor, opts, params, caller)
    else:
        neural = [(arg, x) for arg, x in zip(ARG_NAMES[direction], (source, target))
                  if arg.startswith("neural") and isinstance(x, xr.DataArray) and "repeat" in x.dims]  # others: refused below
        if noise_ceiling is None and min_reliability is not None and not resolve_ceiling(None, neural)[0]:
            # trial-averaged: no ceiling is drawn, so min_reliability judges nothing (as the direction refuses it)
            prep.check_ceiling_options(False, min_reliability=min_reliability, keep=False, caller=caller,
                                       condition=TRIAL_AVERAGED)
        fn = {"forward": _forward, "reverse": _reverse, "inter_animal": _inter_animal}[direction]
        parts = fn(source, target, reps, seed, regressor, n_folds, fold_seed, noise_ceiling if halves else False, split,
                   opts, params, caller)
    parts.caller = caller
    parts.labels = input_labels(source=source, target=target)  # recorded by an inference given the Parts
    # the targets constant up to rounding (all-NaN ones aside) score NaN, with the direction's warning
    live = ~np.isnan(parts.Y).all(axis=0)
    parts.constant[live] = prep.warn_constant_targets(parts.Y[:, live], parts.target[f"{parts.dim}_id"].values[live],
                                                      parts.target_name, f"{parts.dim}s",
                                                      cause=prep.float32_cause(parts.target))
    return parts


#: Bytes of out-of-fold operators (about ``8 n^2`` each) the groups hold at once: with many patterns of
#: missing stimuli (one group each) the later groups' operators are built where they are used instead.
_HELD_BYTES = 2**30


def _groups(direction: str, valid: np.ndarray, ok: np.ndarray, ids: np.ndarray, n_folds: int, fold_seed: int,
            regressor: Any, opts: dict[str, Any], operator: Any, name: str, caller: str,
            counts: dict[str, int] | None = None, design: Any = None,
            source: str = "", excluded_by: str = "") -> tuple[list[Group], np.ndarray | None]:
    """The targets grouped by their usable stimuli ``valid`` (n, k_ok: the targets ``ok``, those
    with a valid trial) as the directions group them (:func:`~neuroxr.predictivity._prepare.target_groups`,
    with its warnings, naming the targets ``name``), each with its regressor
    (:func:`~neuroxr.predictivity._prepare.fold_regressor`, its error starting with ``caller``)
    and ``operator(reg, rows)`` (``None`` once the groups hold :data:`_HELD_BYTES` of them: built
    where used); and the mask of :class:`Parts` over all ``k`` targets (``None``: one
    group of every target on every stimulus). All-NaN targets are in no group: NaN, as the
    directions score them. ``counts``: the direction's counts of the stimuli (too few left by missing
    values: :class:`~neuroxr.errors.NothingToScore`, :func:`~neuroxr.predictivity._groups.too_few_left`).
    ``design(rows)``: a group's design; where it is constant its targets are in no group (NaN, with the
    directions' warning naming the predictors ``source``; ``excluded_by``: the inputs whose missing trials
    excluded stimuli, where not the targets, :func:`~neuroxr.predictivity._groups.too_few_left`)."""
    mask = np.zeros((valid.shape[0], ok.size), dtype=bool)
    groups, held = [], 0
    found = [(rows, np.flatnonzero(ok)[cols]) for rows, cols in prep.target_groups(valid, name, ids[ok], n_folds, fold_seed, counts=counts,
                                                                                 components=prep.pls_components(regressor, opts["n_components"]),
                                                                                 excluded_by=excluded_by)]
    for rows, cols in found if design is None else prep.varying_groups(found, design, name, source, ids):
        reg = prep.fold_regressor(direction, int(rows.sum()), regressor, n_folds, fold_seed, opts, caller)
        S = operator(reg, rows) if held < _HELD_BYTES else None  # past the budget: built where used
        held += 0 if S is None else 8 * int(np.prod(S.shape))
        groups.append(Group(rows, cols, reg, S))
        mask[np.ix_(rows, cols)] = True
    return groups, None if mask.all() else mask


def _whole(Y: np.ndarray, reg: Regressor, S: Any) -> list[Group]:
    """The one group of every target of ``Y`` (n, k) on every stimulus, fitted with ``reg`` and ``S``."""
    return [Group(np.ones(Y.shape[0], dtype=bool), np.arange(Y.shape[1]), reg, S)]


def _sub(A: np.ndarray, g: Group) -> np.ndarray:
    """The (..., rows, cols) block of an (..., n, k) array for group ``g`` (``A`` itself for every
    stimulus and target)."""
    if g.rows.all() and g.cols.size == A.shape[-1]:  # cols: sorted, distinct
        return A
    return A[..., g.rows, :][..., g.cols]


def _per_group(groups: list[Group], mask: np.ndarray | None, fn: Any) -> Any:
    """``fn(group)``, an array (or a tuple of arrays) over ``(..., rows, cols)``, of every group in
    one (..., n, k) array each, NaN outside the groups (``mask``; ``None``: the one group's own)."""
    if mask is None:
        return fn(groups[0])
    out: list[np.ndarray] = []
    single = False
    for g in groups:
        vals = fn(g)
        single = not isinstance(vals, tuple)
        vals = (vals,) if single else vals
        if not out:
            out = [np.full(v.shape[:-2] + mask.shape, np.nan) for v in vals]
        for o, v in zip(out, vals):
            o[..., np.flatnonzero(g.rows)[:, None], g.cols[None, :]] = v
    return out[0] if single else tuple(out)


def _masked(A: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return A if mask is None else np.where(mask, A, np.nan)


def _ranks(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The target halves' ranks among each column's complete pairs (Spearman with
    ``nan_policy='omit'``); a target in no group (every pair NaN) has none."""
    with np.errstate(invalid="ignore"):
        return tuple(np.asarray(x) for x in rank_pairs(a, b))


def _forward(features, neural, reps, seed, regressor, n_folds, fold_seed, noise_ceiling, split, opts, params,
             caller) -> Parts:
    features, neural, fname, nname, ceiling, note, _ = prep.inputs(caller, features, "features", neural, "neural", noise_ceiling)
    _note(params, note)
    features, neural, order = prep.order_by_id(features, "unit", neural, "neuroid", regressor)
    R = prep.load(neural, nname, opts["dtype"])
    ok = prep.nan_neuroids(R, neural.neuroid_id.values, nname)  # all-NaN targets: NaN, as in the direction
    keep, valid = prep.target_stimuli(prep.take(R, None, ok), nname, neural.stimulus_id.values,
                                      prep.needed_repeats(ceiling, split))
    R = prep.take(R, keep)
    F = prep.take(prep.load(features, fname, opts["dtype"]), keep)
    prep.check_design(F, fname, prep.float32_cause(features))
    check_linear_design(regressor, features, F, n_folds, fname)
    n, k, T = R.shape
    groups, mask = _groups("forward", valid, ok, neural.neuroid_id.values, n_folds, fold_seed, regressor, opts,
                           lambda reg, rows: reg.operator(prep.take(F, rows)) if reg.shared else None, nname, caller,
                           prep.target_counts(keep, valid), lambda rows: prep.take(F, rows), prep.named("", features, "features"))
    Y = _masked(nanmean_repeats(R), mask)
    P = _per_group(groups, mask, lambda g: g.reg.predict_blocks(prep.take(F, g.rows), [_sub(Y, g)], S=g.S)[0])
    P1 = P2 = s1 = s2 = None
    if ceiling:
        rng = np.random.default_rng(seed)
        perms_a, perms_b = [], []
        for _ in range(reps):  # forward's order per rep: the split for P1/P2, then the target's own split
            perms_a.append(draw_permutation(rng, T))
            perms_b.append(draw_permutation(rng, T))
        halves = SplitHalves(R, split)  # per (stimulus, neuroid): a group's halves are its block of these
        h1, h2 = halves.means(np.stack(perms_a))

        def half_predictions(g: Group) -> tuple[np.ndarray, np.ndarray]:
            Fg, a1, a2 = prep.take(F, g.rows), _sub(h1, g), _sub(h2, g)
            if g.reg.shared and not np.isnan(prep.take(R, g.rows, g.cols)).any():
                # a linear map of complete data: mean = (c1 h1 + c2 h2) / T, so P2 = (T P - c1 P1) / c2 (as forward)
                c1 = (T + 1) // 2
                P1g = np.stack(g.reg.predict_blocks(Fg, list(a1), S=g.S))
                return P1g, (T * _sub(P, g)[None] - c1 * P1g) / (T - c1)
            preds = g.reg.predict_blocks(Fg, [h for j in range(reps) for h in (a1[j], a2[j])], S=g.S)
            return np.stack(preds[0::2]), np.stack(preds[1::2])

        P1, P2 = _per_group(groups, mask, half_predictions)
        a, b = (_masked(h, mask) for h in halves.means(np.stack(perms_b)))  # each target ranked on its stimuli
        s1, s2 = _ranks(a, b)
    ids = neural.stimulus_id.values[keep]
    return Parts("forward", "neuroid", neural, ids, Y, P, P1, P2, s1, s2, F, groups, params, order, mask,
                 {**prep.target_counts(keep, valid), "n_units": int(features.sizes["unit"])},  # the direction's counts
                 halves=(a, b) if ceiling else None, drawn_id=neural.stimulus_id.values)


def _reverse(neural, features, reps, seed, regressor, n_folds, fold_seed, noise_ceiling, split, opts, params,
             caller) -> Parts:
    neural, features, nname, fname, ceiling, note, _ = prep.inputs(caller, neural, "neural", features, "features", noise_ceiling)
    _note(params, note)
    neural, features, order = prep.order_by_id(neural, "neuroid", features, "unit", regressor, source_always=True)
    R = prep.load(neural, nname, opts["dtype"])
    ok = prep.nan_neuroids(R, neural.neuroid_id.values, nname, predictor=True)
    R = prep.take(R, None, ok)
    keep = prep.predictor_stimuli(R, nname, neural.stimulus_id.values, prep.needed_repeats(ceiling, split))
    R = prep.take(R, keep)
    F = prep.take(prep.load(features, fname, opts["dtype"]), keep)
    n, _, T = R.shape
    reg = prep.fold_regressor("reverse", n, regressor, n_folds, fold_seed, opts, caller,
                              {"n_stimuli": int(n), "n_excluded_stimuli": int((~keep).sum()), "n_predictors": int(ok.sum())})
    X = nanmean_repeats(R)
    prep.check_design(X, nname, prep.float32_cause(neural), "neuroids")
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
    return Parts("reverse", "unit", features, ids, F, P, P1, P2, None, None, X, _whole(F, reg, S), params, order,
                 counts={"n_excluded_stimuli": int((~keep).sum()), "n_predictors": int(ok.sum())})  # the direction's counts


def _inter_animal(neural_a, neural_b, reps, seed, regressor, n_folds, fold_seed, noise_ceiling, split, opts, params,
                  caller) -> Parts:
    neural_a, neural_b, aname, bname, ceiling, note, _ = prep.inputs(caller, neural_a, "neural_a", neural_b, "neural_b",
                                                                noise_ceiling)
    _note(params, note)
    neural_a, neural_b, order = prep.order_by_id(neural_a, "neuroid", neural_b, "neuroid", regressor, source_always=True)
    ids = neural_a.stimulus_id.values
    RA, RB = prep.load(neural_a, aname, opts["dtype"]), prep.load(neural_b, bname, opts["dtype"])
    ok_a = prep.nan_neuroids(RA, neural_a.neuroid_id.values, aname, predictor=True)
    ok_b = prep.nan_neuroids(RB, neural_b.neuroid_id.values, bname)  # all-NaN targets: NaN, as in the direction
    RA = prep.take(RA, None, ok_a)
    need = prep.needed_repeats(ceiling, split)
    keep_a = prep.predictor_stimuli(RA, aname, ids, need)
    RA, RB = prep.take(RA, keep_a), prep.take(RB, keep_a)
    keep_b, valid = prep.target_stimuli(prep.take(RB, None, ok_b), bname, ids[keep_a], need)
    RA, RB = prep.take(RA, keep_b), prep.take(RB, keep_b)
    keep = keep_a.copy()
    keep[keep_a] = keep_b
    n, _, T = RA.shape
    X = nanmean_repeats(RA)
    prep.check_design(X, aname, prep.float32_cause(neural_a), "neuroids")
    label_a, label_b = prep.named("", neural_a, "neural_a"), prep.named("", neural_b, "neural_b")  # without the caller
    groups, mask = _groups("inter_animal", valid, ok_b, neural_b.neuroid_id.values, n_folds, fold_seed, regressor, opts,
                           lambda reg, rows: _operator(reg, prep.take(X, rows)), bname, caller,
                           prep.target_counts(keep, valid), lambda rows: prep.take(X, rows), label_a,
                           prep.excluded_by(((label_a, keep_a), (label_b, keep_b))))
    Y = _masked(nanmean_repeats(RB), mask)

    def predictions(g: Group) -> np.ndarray:
        Xg, Yg = prep.take(X, g.rows), _sub(Y, g)
        return g.reg.predict_designs([Xg], Yg)[0] if g.reg.shared and g.S is None else g.reg.predict_blocks(Xg, [Yg], S=g.S)[0]

    P = _per_group(groups, mask, predictions)
    P1 = P2 = s1 = s2 = None
    if ceiling:
        rng = np.random.default_rng(seed)
        perms_b, perms_a = [], []
        for _ in range(reps):  # inter_animal's order per rep: B's split, then the predictor's
            perms_b.append(draw_permutation(rng, RB.shape[2]))
            perms_a.append(draw_permutation(rng, T))
        h1, h2 = SplitHalves(RA, split).means(np.stack(perms_a))

        def half_predictions(g: Group) -> tuple[np.ndarray, np.ndarray]:
            designs = [prep.take(h, g.rows) for j in range(reps) for h in (h1[j], h2[j])]
            preds = g.reg.predict_designs(designs, _sub(Y, g))
            return np.stack(preds[0::2]), np.stack(preds[1::2])

        P1, P2 = _per_group(groups, mask, half_predictions)
        a, b = (_masked(h, mask) for h in SplitHalves(RB, split).means(np.stack(perms_b)))  # each target on its stimuli
        s1, s2 = _ranks(a, b)
    return Parts("inter_animal", "neuroid", neural_b, ids[keep], Y, P, P1, P2, s1, s2, X, groups, params, order, mask,
                 {**prep.target_counts(keep, valid), "n_predictors": int(ok_a.sum())}, halves=(a, b) if ceiling else None, drawn_id=ids[keep_a])


def _note(params: dict[str, Any], note: str | None) -> None:
    """The direction's note of a skipped ceiling (trial-averaged data), in ``params``: the attrs say it as
    the direction's do."""
    if note is not None:
        params["note"] = note


def _model_to_model(features_a, features_b, n_folds, fold_seed, regressor, opts, params, caller) -> Parts:
    features_a, features_b, aname, bname, *_ = prep.inputs(caller, features_a, "features_a", features_b, "features_b")
    features_a, features_b, order = prep.order_by_id(features_a, "unit", features_b, "unit", regressor)
    X, Y = prep.load(features_a, aname, opts["dtype"]), prep.load(features_b, bname, opts["dtype"])
    prep.check_design(X, aname, prep.float32_cause(features_a))
    reg = prep.fold_regressor("model_to_model", X.shape[0], regressor, n_folds, fold_seed, opts, caller)
    S = reg.operator(X) if reg.shared else None
    P = reg.predict_blocks(X, [Y], S=S)[0]
    params = dict(params, noise_ceiling=False, reps=1)  # its one fit (inference refuses reps other than 1, its default)
    return Parts("model_to_model", "unit", features_b, features_a.stimulus_id.values, Y, P, None, None, None, None,
                 X, _whole(Y, reg, S), params, order)
