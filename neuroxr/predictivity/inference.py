"""Statistical inference for predictivity scores: bootstrap intervals, permutation tests and
paired comparisons (issue 16).

The out-of-fold predictions of a direction are computed once (the operator stays fixed); the
inference then only resamples stored columns:

- **bootstrap over stimuli**: the held-out stimuli of the predictions and of every split half
  are resampled together, the same resamples for every target and rep. Each correlation of a
  resample follows from one product of the ``B x n`` count matrix with the stacked
  ``[a, b, ab, a^2, b^2]`` columns (:func:`neuroxr.kernels.resample.resampled_pearson`). The
  target's split-half Spearman ranks the halves anew on each resample, a stimulus drawn ``c``
  times as ``c`` tied copies (:class:`neuroxr.kernels.resample_ranks.ResampledSpearman`): what the
  direction computes on the resample's rows.
- **bootstrap over targets** (neuroids / units) of the median over targets, and **both**.
- **permutation test**: the stimulus labels of the targets are permuted, the design and its
  factorisations stay; the statistic is ``r(Y[perm], P_perm)`` from per-target sums of
  cross-products (:mod:`neuroxr.kernels.permute`: primal per-fold systems for few predictors,
  the ``n x n`` operator for many; predictions are never formed) (the ceiling is a
  property of the data, not of the pairing, and does not enter the test).

Targets with missing stimuli (forward, inter-animal) are grouped as the directions group them:
a resample's statistic of a target uses the draws on its own stimuli, a permutation permutes
each group's stimuli by the permutation it induces on them (docs/inference.md).

Resamples and permutations are drawn on positions of the canonical stimulus order with
``numpy.random.default_rng([seed, stream])``: a function of the ``stimulus_id`` values and the
seed, identical on every backend.

The paired comparisons of bootstrap results (:func:`compare`, :func:`best_layer`) are in
:mod:`neuroxr.predictivity._compare`, importable from here.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import canonical_order
from ..attrs import encode_attrs
from ..errors import ParameterError, warn
from ..geometry._common import _named, input_labels
from ..kernels import resample as rs
from ..kernels.permute import induced_permutations
from ..kernels.rdm import check_option
from ..validation import check_bool, check_min_reliability
from ._compare import best_layer, compare
from ._options import BOOT_METHODS, BOOT_OVER, applicable_options, check_options, check_procedure_options
from ._parts import ARG_NAMES, INFERENCE_DIRECTIONS, Parts, prepare
from ._result import target_coords, version

__all__ = ["bootstrap", "permutation_test", "compare", "best_layer", "applicable_options", "check_options",
           "check_procedure_options", "BOOT_OVER", "BOOT_METHODS"]

_BOOT_BATCH = 1024  # at most this many resamples per count-matrix product (the moments are formed once per batch)
_BOOT_BYTES = 512 * 2**20  # bound on the resampled sums of one batch (B x 5k per column pair)
_PERM_BYTES = 256 * 2**20  # permuted targets held at once


#: the arguments of each direction that are neural responses, the inputs that may have time bins (features have
#: none: a feature set with a ``time_bin`` dim is refused by the direction's own check, not read as responses)
_NEURAL_ARGS = {"forward": ("target",), "reverse": ("source",), "inter_animal": ("source", "target"), "model_to_model": ()}


def _timed(direction: str, source: Any, target: Any) -> tuple[str, ...]:
    """The time-resolved neural inputs of the call (``()``: a static call)."""
    from ..layouts import has_time

    if isinstance(source, Parts):
        return ()
    args = {"source": source, "target": target}
    return tuple(k for k in _neural_args(direction) if has_time(args[k]))


def _neural_args(direction: Any) -> tuple[str, ...]:
    """:data:`_NEURAL_ARGS` of ``direction``; both inputs for one that is not a direction (refused later, by name)."""
    return _NEURAL_ARGS.get(direction, ("source", "target")) if isinstance(direction, str) else ("source", "target")


def _check_parts_call(direction: Any, source: Any, target: Any, caller: str) -> None:
    """``direction`` one of :data:`INFERENCE_DIRECTIONS`; a :class:`Parts` source holds its direction and target: another ``direction`` or any ``target``
    (e.g. a time-resolved one) was ignored without a word; a one-line :class:`ParameterError` instead."""
    if not isinstance(source, Parts):
        check_option(direction, INFERENCE_DIRECTIONS, "direction", caller)  # first: a list named nothing (unhashable)
        return
    if direction != source.direction:
        raise ParameterError(f"{caller}: direction={direction!r} but the Parts given as source were prepared for "
                             f"{source.direction!r}; pass direction={source.direction!r}.")
    if target is not None:
        raise ParameterError(f"{caller}: target must be None when the Parts are the source (they hold their target, "
                             f"prepared with them); got {type(target).__name__}. Pass target=None, or the direction's "
                             f"inputs instead of the Parts.")


def _per_bin(core: Any, caller: str, direction: str, source: Any, target: Any, kwargs: dict[str, Any],
             seed: int, min_reliability: float | None, halves: bool = True) -> xr.Dataset:
    """``core(parts, labels, union)`` on each time bin, stacked along ``time_bin``, the same draws in
    every bin (:func:`neuroxr.predictivity.time.by_bins_drawn`: drawn over ``union``, every stimulus
    of some bin's design); the messages name ``caller`` and the inputs by the direction's arguments."""
    from .time import by_bins_drawn

    def prepare(source: Any, target: Any) -> tuple[np.ndarray, Any]:
        parts = _parts(direction, source, target, dict(kwargs, seed=seed), min_reliability, caller, halves=halves)
        return _drawn_ids(parts), (parts, input_labels(source=source, target=target))

    names = dict(zip(("source", "target"), ARG_NAMES.get(direction, ("source", "target"))))
    return by_bins_drawn(prepare, lambda state, union: core(*state, union), {"source": source, "target": target},
                         _neural_args(direction), caller, names)


def _labels(parts: Parts, source: Any, target: Any) -> dict[str, str]:
    """The attrs ``source`` and ``target``: the inputs' labels, those the Parts given as ``source`` were prepared from."""
    return dict(parts.labels) if isinstance(source, Parts) and parts.labels else input_labels(source=source, target=target)


def _drawn_ids(parts: Parts) -> np.ndarray:
    """The stimuli a call's draws are made over: every stimulus of the design (``Parts.drawn_id``), also
    those no target is scored on, so that a target's draws never depend on another target's missing values."""
    return parts.stimulus_id if parts.drawn_id is None else parts.drawn_id


def _drawn_columns(parts: Parts, union: np.ndarray | None) -> tuple[int, np.ndarray | None]:
    """The number of stimuli draws are made over and the positions of ``parts``' stimuli among them
    (``None``: its own stimuli, ``union`` absent or the same)."""
    if union is None or np.array_equal(union, parts.stimulus_id):
        return parts.n, None
    return union.size, pd.Index(union).get_indexer(parts.stimulus_id)


#: why the inference takes no such option of the direction (the reason its refusal gives; any other
#: name is not an option of the direction's score, e.g. a misspelt one)
_NOT_TAKEN = {"max_n": "it resamples every target on every kept stimulus, without max_n subsets",
              "gram": "it fits the feature values, never a precomputed Gram",
              "keep_predictions": "it returns intervals or p-values, not the predictions",
              "progress": "it reports no progress"}


def _parts(direction: str, source: Any, target: Any, kwargs: dict[str, Any], min_reliability: float | None,
           caller: str, halves: bool = True) -> Parts:
    """The :class:`Parts` of the call (``source`` itself when it is one), its parameters checked as
    the direction checks them; ``halves``: as :func:`prepare`'s; ``caller``: the public function
    called, whose name starts the messages (those of a given ``Parts`` too)."""
    if isinstance(source, Parts):
        extra = sorted(k for k in kwargs if k != "seed")
        if extra:
            raise ParameterError(f"{caller}: {extra}: the Parts given as source were prepared with their own options; drop "
                                 f"{'it' if len(extra) == 1 else 'them'} or pass the direction's inputs instead.")
        check_min_reliability(min_reliability, caller)
        rs._seed(kwargs.get("seed", 0), caller)  # it draws the resamples (the Parts drew its split halves)
        source = copy.copy(source)  # the given Parts unchanged: its messages name this call
        source.caller = caller
        return source
    check_option(direction, INFERENCE_DIRECTIONS, "direction", caller)
    accepted = [k for k in inspect.signature(prepare).parameters
                if k not in ("direction", "source", "target", "halves", "caller")]
    bad = sorted(set(kwargs) - set(accepted))
    if bad:
        why = "; ".join(dict.fromkeys(_NOT_TAKEN.get(k, "not an option of the direction's score") for k in bad))
        raise ParameterError(f"{caller}: {direction} inference takes no {bad} ({why}); it accepts {accepted}: drop "
                             f"{'it' if len(bad) == 1 else 'them'}.")
    return prepare(direction, source, target, **kwargs, min_reliability=min_reliability, halves=halves, caller=caller)


def bootstrap(
    direction: str,
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    method: str = "percentile",
    over: str = "stimuli",
    min_reliability: float | None = None,
    nan_policy: str = "propagate",
    **kwargs: Any,
) -> xr.Dataset:
    """Bootstrap confidence intervals of a direction's scores.

    Parameters
    ----------
    direction : {"forward", "reverse", "inter_animal", "model_to_model"}
        ``forward(features, neural)``, ``reverse(neural, features)``, ``inter_animal(neural_a,
        neural_b)`` or ``model_to_model(features_a, features_b)``; or the :class:`Parts` of
        :func:`neuroxr.predictivity._parts.prepare` as ``source`` (computed once, reused; with its own
        direction and ``target=None``, anything else refused).
    source, target : DataArray
        The direction's inputs, in its argument order.
    n_boot : int, default 1000
        Number of resamples.
    seed : int, default 0
        Seed of the direction's split halves (as in the direction) and of the resamples
        (``default_rng([seed, 0])`` for stimuli, ``[seed, 1]`` for targets). A :class:`Parts` given
        as ``source`` drew its split halves already: ``seed`` draws the resamples, attrs ``seed``
        records it and ``split_seed`` the Parts' seed where that differs.
    level : float, default 0.95
        Confidence level.
    method : {"percentile", "bca"}, default "percentile"
        Interval: percentile, or bias-corrected and accelerated (acceleration from the
        leave-one-stimulus-out jackknife; over targets, leave-one-target-out). Not with ``over="both"``.
    over : {"stimuli", "targets", "both"}, default "stimuli"
        What is resampled: the held-out stimuli (every target's EV, its ceiling and the median
        over targets), the targets (the median over targets), or both (stimuli and targets drawn
        independently per resample).
    min_reliability : float, optional
        As in the directions: the medians over targets count only the ``included`` targets (every
        split-half reliability, on the full sample, at least this); ``over="targets"`` draws among them.
    nan_policy : {"propagate", "omit"}, default "propagate"
        A resample whose statistic is undefined (EV NaN: a ceiling <= 0 in every rep, or fewer
        than 3 distinct stimuli of the target drawn): ``"propagate"`` makes the interval of that
        target (or median) NaN, as ``scipy.stats.bootstrap``; ``"omit"`` computes it from the
        defined resamples (conditional on the EV being defined). Either way ``n_boot_undefined``
        counts them and one warning names how many targets have any.
    **kwargs
        The direction's parameters (``reps``, ``regressor``, ``alpha``, ``n_folds``, ``fold_seed``,
        ``noise_ceiling``, ``split``, ``backend``, ``dtype``).

    Returns
    -------
    xarray.Dataset
        Over ``(target dim, boot, bound)`` with ``bound = ["low", "high"]``: ``ev`` (the
        direction's ``ev.mean("rep")``), ``median_ev`` (NaN-median over targets), their resamples
        ``ev_boot`` (boot, target; not with ``over="targets"``) and ``median_ev_boot`` (boot) and
        intervals ``ev_ci``, ``median_ev_ci``; with a ceiling also ``ceiling`` (mean over reps),
        ``ceiling_boot`` and ``ceiling_ci``, and ``median_ceiling`` (NaN-median over targets) with
        ``median_ceiling_boot``, ``median_ceiling_ci`` (resampled as ``median_ev``); ``boot_index`` (boot, stimulus) the drawn positions of
        the canonical order (labeled by ``stimulus_id``) when stimuli are resampled, with
        ``n_boot_undefined`` (target: resamples whose EV is undefined). A resample's median is the
        NaN-median over the targets it defines (the point estimate's rule): ``median_ev_n_targets``
        (boot) counts them. With ``over="targets"`` or ``"both"``, ``drawn`` (target) marks the targets the
        resamples draw among (scored and ``included``). Attrs:
        the direction's parameters, ``source`` / ``target`` (the inputs' labels), ``n_boot``, ``seed``, ``level``, ``method``, ``over`` (``nan_policy`` when "omit") and
        (forward, inter-animal) the direction's counts of its targets' stimuli.

    Notes
    -----
    A target lacking usable trials at some stimuli is scored on its own stimuli, as the
    direction scores it: its correlations on a resample use the draws that fall on those, its
    jackknife (BCa) leaves out those alone, and other targets' numbers do not depend on it. The
    draws are made over every stimulus of the design (forward: every paired stimulus; inter-animal:
    those the predictor keeps), also one that no target is scored on, so adding, removing or
    NaN-filling a target changes no other target's resamples. Time-resolved inputs: each bin's
    bootstrap stacked along a last dim ``time_bin``, the same resamples in every bin: drawn over every
    stimulus of some bin's design (``stimulus_id``, and ``boot_index`` positions in it, the same in
    every bin), each bin using the draws on its own stimuli (docs/time.md).
    """
    _check_parts_call(direction, source, target, "bootstrap")
    if not isinstance(source, Parts):
        check_options(direction, "bootstrap", dict(kwargs, min_reliability=min_reliability), "bootstrap")
    check_procedure_options("bootstrap", n_boot=n_boot, level=level, method=method, over=over, nan_policy=nan_policy,
                            caller="bootstrap")
    _check_targets_drawn(over, direction, source, target)
    options = dict(n_boot=n_boot, seed=seed, level=level, method=method, over=over, nan_policy=nan_policy,
                   min_reliability=min_reliability)
    if _timed(direction, source, target):  # time-resolved: each bin on its own, the same draws for every bin
        return _per_bin(lambda parts, labels, union: _bootstrap(parts, labels, union, **options), "bootstrap",
                        direction, source, target, kwargs, seed, min_reliability)
    parts = _parts(direction, source, target, dict(kwargs, seed=seed), min_reliability, "bootstrap")
    return _bootstrap(parts, _labels(parts, source, target), _drawn_ids(parts), **options)


# why drawing among one target is refused, by ``over`` (an input of one target, or one left to draw)
_ONE_TARGET = {"targets": "a median over one target has no spread to resample (its interval would have zero width)",
               "both": "drawing among one target changes nothing (the numbers of over='stimuli')"}


def _check_targets_drawn(over: str, direction: str, source: Any, target: Any) -> None:
    """A one-line :class:`ParameterError` for ``over="targets"`` / ``"both"`` with a target input of one
    target: drawing among one target gives a median without spread (a zero-width interval, as if certain)
    or the ``over="stimuli"`` numbers under another name."""
    if over == "stimuli":
        return
    if isinstance(source, Parts):
        k, dim, name = source.Y.shape[1], source.dim, source.target_name
    elif isinstance(target, xr.DataArray) and direction in ARG_NAMES:
        dim = "unit" if "unit" in target.dims else "neuroid"
        k, name = target.sizes.get(dim, 2), _named(target, ARG_NAMES[direction][1])
    else:
        return  # refused by the direction's own checks
    if k < 2:
        raise ParameterError(f"bootstrap: over={over!r} resamples the targets, but {name} holds {k} {dim} (dim {dim!r}): "
                             f"{_ONE_TARGET[over]}. Pass over='stimuli', or more {dim}s.")


def _one_drawn(parts: Parts, over: str, min_reliability: float | None) -> None:
    """A one-line :class:`ParameterError`: ``over`` draws among the scored and included targets, and one is left
    (the others never scored or below ``min_reliability``); every resample would draw it, as for an input of one."""
    k, dim = parts.Y.shape[1], parts.dim
    fix = "" if min_reliability is None else f", or a min_reliability below {min_reliability:g}"
    judged = "" if min_reliability is None else f" (min_reliability={min_reliability:g})"
    raise ParameterError(f"{parts.target_name}: over={over!r} resamples the targets the median counts, but 1 of its {k} "
                         f"{dim}s is scored and included{judged}: {_ONE_TARGET[over]}. Pass over='stimuli'{fix}.")


def _bootstrap(parts: Parts, labels: dict[str, str], union: np.ndarray | None, *, n_boot: int, seed: int, level: float,
               method: str, over: str, nan_policy: str, min_reliability: float | None) -> xr.Dataset:
    """:func:`bootstrap` of prepared ``parts`` (inputs named by ``labels``), the stimuli drawn over
    ``union`` (every stimulus of the design, :func:`_drawn_ids`, or a time bin's call: of some bin; ``None``: the call's own)."""
    n, k = parts.Y.shape
    inc = parts.included(min_reliability)
    # the targets the medians count and over="targets" draws: included and scored (a target never scored,
    # all-NaN, constant or with too few stimuli, drawn would only shrink a resample of the others)
    pos = np.flatnonzero(inc & parts.scored)
    ev0, ceil0 = (v[0] for v in parts.scores())
    parts.warn_hygiene(ev0, inc, min_reliability)  # the direction's warning on the same scores
    if over != "stimuli" and pos.size == 1:  # _check_targets_drawn's rule, for one target left to draw
        _one_drawn(parts, over, min_reliability)
    med0 = rs.nanmedian(ev0[pos])
    dim = parts.dim
    out: dict[str, Any] = {"ev": ((dim,), ev0), "median_ev": ((), med0), "included": ((dim,), inc)}
    has_ceiling = parts.P1 is not None
    if has_ceiling:
        out["ceiling"] = ((dim,), ceil0)
        medc0 = rs.nanmedian(ceil0[pos])
        out["median_ceiling"] = ((), medc0)
    coords: dict[str, Any] = {**target_coords(parts.target, dim), "bound": ["low", "high"]}

    def interval(theta: np.ndarray, boot: np.ndarray, jack: Any) -> np.ndarray:  # jack: a callable, for BCa only
        if method == "bca":
            return rs.bca_interval(np.asarray(theta), boot, jack(), level, nan_policy)
        return rs.percentile_interval(boot, level, nan_policy)

    def median(values: np.ndarray) -> np.ndarray:  # (boot, targets) -> NaN-median over each row's defined targets
        return rs.nanmedian(values, axis=1)  # NaN, silently, where a row defines no target

    if over != "stimuli":  # drawn over the included targets in the order of their ids, never their input order
        tid = parts.target.coords.get(f"{dim}_id")
        ranked = pos if tid is None else pos[canonical_order(np.asarray(tid.values)[pos])]
        tidx = ranked[rs.bootstrap_indices(pos.size, n_boot, seed, stream=1, caller="bootstrap")]
        out["drawn"] = ((dim,), np.isin(np.arange(k), pos))  # the targets drawn among (compare pairs them by id)
    else:
        tidx = None
    if over == "targets":
        ev_b = ceil_b = None
        drawn_ev = ev0[tidx]
        drawn_ceil = ceil0[tidx] if has_ceiling else None

        def jack(i: int) -> np.ndarray:  # the median over targets, each included target left out (none: no row)
            v = (ev0 if i == 0 else ceil0)[pos]
            return median(np.broadcast_to(v, (pos.size, pos.size))[~np.eye(pos.size, dtype=bool)].reshape(pos.size, max(pos.size - 1, 0)))
    else:
        drawn, cols = _drawn_columns(parts, union)
        idx = rs.bootstrap_indices(drawn, n_boot, seed, stream=0, caller="bootstrap")
        ev_b = np.empty((n_boot, k))
        ceil_b = np.empty((n_boot, k))
        step = int(max(32, min(_BOOT_BATCH, _BOOT_BYTES // (8 * 5 * k * 2))))
        for lo in range(0, n_boot, step):
            W = rs.counts(idx[lo : lo + step], drawn)
            ev_b[lo : lo + step], ceil_b[lo : lo + step] = parts.scores(W if cols is None else W[:, cols])
        drawn_ev = ev_b[:, pos] if tidx is None else np.take_along_axis(ev_b, tidx, axis=1)
        drawn_ceil = ceil_b[:, pos] if tidx is None else np.take_along_axis(ceil_b, tidx, axis=1)
        jk: dict[str, np.ndarray] = {}

        def jackknife(i: int) -> np.ndarray:  # parts.scores(jackknife=True), computed once
            if not jk:
                jk["ev"], jk["ceiling"] = parts.scores(jackknife=True)
            return jk["ev" if i == 0 else "ceiling"]

        def jack(i: int) -> np.ndarray:  # the median over targets; a stimulus left out moves only the targets scored on it
            return median(parts.left_in(jackknife(i), ev0 if i == 0 else ceil0)[:, pos])
        out.update(ev_boot=(("boot", dim), ev_b), ev_ci=(("bound", dim), interval(ev0, ev_b, lambda: jackknife(0))),
                   n_boot_undefined=((dim,), rs.undefined_resamples(ev_b)))
        if has_ceiling:
            out["ceiling_boot"] = (("boot", dim), ceil_b)
            out["ceiling_ci"] = (("bound", dim), interval(ceil0, ceil_b, lambda: jackknife(1)))
        out["boot_index"] = (("boot", "stimulus"), idx)
        coords["stimulus_id"] = ("stimulus", parts.stimulus_id if cols is None else union)
    med_b = median(drawn_ev)
    out.update(median_ev_boot=(("boot",), med_b), median_ev_ci=(("bound",), interval(med0, med_b, lambda: jack(0))),
               median_ev_n_targets=(("boot",), np.sum(np.isfinite(drawn_ev), axis=1)))
    if has_ceiling:
        medc_b = median(drawn_ceil)
        out.update(median_ceiling_boot=(("boot",), medc_b),
                   median_ceiling_ci=(("bound",), interval(medc0, medc_b, lambda: jack(1))))
    _warn_undefined(parts, ev0, ev_b, med_b, int(n_boot), nan_policy)
    if method == "bca":
        _warn_degenerate(parts, out, nan_policy)
    attrs = _attrs(parts, seed, **labels, n_boot=int(n_boot), level=float(level), method=method, over=over,
                   **({} if min_reliability is None else {"min_reliability": float(min_reliability)}),
                   **({} if nan_policy == "propagate" else {"nan_policy": nan_policy}))
    ds = xr.Dataset(out, coords=coords, attrs=attrs)
    if "boot" in ds.dims:
        ds = ds.assign_coords(boot=np.arange(ds.sizes["boot"]))
    return parts.in_input_order(ds)


def _warn_undefined(parts: Parts, ev0: np.ndarray, ev_b: np.ndarray | None, med_b: np.ndarray, n_boot: int,
                    nan_policy: str) -> None:
    """The one warning of :func:`bootstrap` for undefined resamples (:func:`~neuroxr.kernels.resample.warn_undefined`):
    the targets scored on the full sample with some undefined EV resample (a ceiling undefined in
    every rep leaves the EV undefined too), and the median's."""
    n_ev = np.zeros(ev0.shape, dtype=int) if ev_b is None else rs.undefined_resamples(ev_b)
    n_ev = np.where(np.isfinite(ev0), n_ev, 0)  # a target never scored has the direction's warning
    n_med = int(rs.undefined_resamples(med_b))
    also = f"the median over targets is undefined in {n_med} of {n_boot} resamples" if n_med else ""
    rs.warn_undefined(parts.target_name, n_ev, n_boot, f"{parts.dim}s", nan_policy, also)


def _degenerate(theta: Any, boot: np.ndarray, ci: np.ndarray, nan_policy: str) -> np.ndarray:
    """Where a BCa interval ``ci`` (bound, ...) is NaN although its estimate ``theta`` and the resamples
    ``boot`` (boot, ...) it uses are defined (every one, or with ``"omit"`` some)."""
    ok = np.isfinite(boot)
    used = ok.all(axis=0) if nan_policy == "propagate" else ok.any(axis=0)
    return np.isnan(ci).any(axis=0) & np.isfinite(theta) & used


def _warn_degenerate(parts: Parts, out: dict[str, Any], nan_policy: str) -> None:
    """One warning where ``method='bca'`` left an interval NaN on defined resamples (the targets', their
    ceilings' and the medians'): every resample lies on one side of the estimate (ties counted half; the
    bias correction is infinite) or the jackknife has no spread (the acceleration is 0 / 0), as
    ``scipy.stats.bootstrap`` gives NaN with its ``DegenerateDataWarning``. Undefined resamples have
    their own warning."""
    hits = [_degenerate(out[v][1], out[f"{v}_boot"][1], out[f"{v}_ci"][1], nan_policy)
            for v in ("ev", "ceiling") if f"{v}_boot" in out]
    k = int(np.sum(np.any(hits, axis=0))) if hits else 0
    med = any(bool(_degenerate(out[v][1], out[f"{v}_boot"][1], out[f"{v}_ci"][1], nan_policy))
              for v in ("median_ev", "median_ceiling") if f"{v}_ci" in out)
    if not (k or med):
        return
    n = parts.Y.shape[1]
    which = " and ".join(([f"{k} of {n} {parts.dim}s"] if k else []) + (["the median over targets"] if med else []))
    warn(f"{parts.target_name}: method='bca' gives no interval for {which}: every resample lies on one side of the "
         f"estimate (its bias correction is infinite) or the jackknife has no spread (its acceleration is undefined), "
         f"so the interval is NaN, as scipy.stats.bootstrap gives. Pass method='percentile' for these.")


def _attrs(parts: Parts, seed: int, **extra: Any) -> dict[str, Any]:
    """The result's attrs: the direction's parameters, ``seed`` the resamples' or permutations' and,
    where a :class:`Parts` given as source drew its split halves with another, that one as ``split_seed``."""
    from ..kernels.regressors import regressor_label

    given = parts.params
    p = {**given, "seed": int(seed), "regressor": regressor_label(given["regressor"]), "noise_ceiling": parts.P1 is not None}
    if parts.P1 is None:  # no split halves drawn: split drew no number
        p.pop("split", None)
    elif int(given["seed"]) != int(seed):
        p["split_seed"] = int(given["seed"])
    return encode_attrs({"direction": parts.direction, **p, **extra, "n_stimuli": int(parts.n), **parts.counts,
                         "stimulus_order": "sorted stimulus_id", "neuroxr_version": version()})


def permutation_test(
    direction: str,
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    n_perm: int = 1000,
    seed: int = 0,
    keep_null: bool = False,
    min_reliability: float | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Permutation test of each target's predictivity and of the median over targets.

    The stimulus labels of the targets are permuted (``default_rng([seed, 2])``, on positions of
    the canonical order) and predicted again from the unchanged design. For ridge / linear the
    null is exact without refitting: :func:`neuroxr.kernels.permute.permuted_oof_pearson` (per-fold
    systems factorised once, one cross-product GEMM per batch of permutations, or the ``n x n``
    operator when the design has more predictors than stimuli); other regressors refit per
    batch, a joint fit (``pls``, an estimator) each permutation's targets on their own. The
    statistic is the Pearson ``r`` of the out-of-fold predictions (one-sided: larger is better).
    Targets with missing stimuli: each group of targets sharing their stimuli is permuted within
    them, by the permutation each draw induces there, from its own design rows and folds (the
    complete targets by the draws themselves).

    Parameters
    ----------
    direction, source, target, **kwargs
        As in :func:`bootstrap`.
    n_perm : int, default 1000
        Number of permutations.
    seed : int, default 0
        Seed of the direction's split halves and of the permutations (a :class:`Parts` source:
        of the permutations, its split halves' in attrs ``split_seed`` where that differs, as in
        :func:`bootstrap`).
    keep_null : bool, default False
        Also return the null ``r_null`` (perm, target).
    min_reliability : float, optional
        ``median_r`` and ``median_p`` count only the ``included`` targets, as in :func:`bootstrap`
        (the split halves are then computed to find them).

    Returns
    -------
    xarray.Dataset over the target dim
        ``r`` (observed), ``p`` (per target, ``(1 + #{r_perm >= r}) / (1 + n_perm)``),
        ``p_maxt`` (Westfall-Young max-statistic, family-wise), ``p_fdr`` (Benjamini-Hochberg of
        ``p``), ``median_r`` and ``median_p`` (the median over targets against its own null).
    """
    _check_parts_call(direction, source, target, "permutation_test")
    if not isinstance(source, Parts):
        check_options(direction, "permutation", dict(kwargs, min_reliability=min_reliability), "permutation_test")
    check_procedure_options("permutation", n_perm=n_perm, caller="permutation_test")
    keep_null = check_bool(keep_null, "keep_null", "Pass keep_null=True to return the null r_null.", caller="permutation_test")
    options = dict(n_perm=n_perm, seed=seed, keep_null=keep_null, min_reliability=min_reliability)
    # the statistic r has no ceiling: split halves are drawn only to find the included targets
    halves = min_reliability is not None
    if _timed(direction, source, target):  # each bin on its own, the same permutations for every bin
        return _per_bin(lambda parts, labels, union: _permutation_test(parts, labels, union, **options),
                        "permutation_test", direction, source, target, kwargs, seed, min_reliability, halves)
    parts = _parts(direction, source, target, dict(kwargs, seed=seed), min_reliability, "permutation_test", halves=halves)
    return _permutation_test(parts, _labels(parts, source, target), _drawn_ids(parts), **options)


def _permutation_test(parts: Parts, labels: dict[str, str], union: np.ndarray | None, *, n_perm: int, seed: int,
                      keep_null: bool, min_reliability: float | None) -> xr.Dataset:
    """:func:`permutation_test` of prepared ``parts`` (inputs named by ``labels``), the permutations
    drawn over ``union`` (as in :func:`_bootstrap`) and those they induce on the call's stimuli."""
    included = parts.included(min_reliability)
    if min_reliability is not None:  # the direction's word on the targets left out of median_r / median_p (else NaN silently)
        parts.warn_hygiene(np.full(included.shape, np.nan), included, min_reliability)
    pos = np.flatnonzero(included)
    drawn, cols = _drawn_columns(parts, union)
    perms = rs.permutation_indices(drawn, n_perm, seed, "permutation_test")
    if cols is not None:
        perms = induced_permutations(perms, np.isin(np.arange(drawn), cols))
    # each group of targets permuted within its own stimuli (the permutation each draw induces there)
    r0, null = parts.permuted_r(perms, _PERM_BYTES)
    med0 = rs.nanmedian(r0[pos])  # NaN, silently, where no target is included
    med_null = rs.nanmedian(null[:, pos], axis=1)
    p = rs.permutation_pvalues(r0, null)
    dim = parts.dim
    out = {
        "r": ((dim,), r0), "p": ((dim,), p), "p_maxt": ((dim,), rs.maxt_pvalues(r0, null)),
        "p_fdr": ((dim,), rs.fdr_bh(p)), "median_r": ((), med0),
        "median_p": ((), float(rs.permutation_pvalues(np.asarray([med0]), med_null[:, None])[0])),
    }
    out["included"] = ((dim,), included)
    if keep_null:
        out["r_null"] = (("perm", dim), null)
    attrs = _attrs(parts, seed, **labels, n_perm=int(n_perm), **({} if min_reliability is None else {"min_reliability": float(min_reliability)}))
    attrs["noise_ceiling"] = 0  # the statistic r carries no ceiling; the halves only chose the targets
    if min_reliability is None:  # no halves chose the targets: reps and split drew nothing (model_to_model: its one fit)
        attrs = {k: v for k, v in attrs.items() if k != "split" and (k != "reps" or parts.direction == "model_to_model")}
    return parts.in_input_order(xr.Dataset(out, coords=target_coords(parts.target, dim), attrs=attrs))
