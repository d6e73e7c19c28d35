"""Labeled result datasets of the directions: variables, coords, attrs and ceiling hygiene."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..attrs import encode_attrs
from ..backend import to_numpy
from ..errors import examples, warn
from ..kernels.splits import mean_over_reps

#: Targets whose mean ceiling is below this are counted in the low-reliability warning when no
#: ``min_reliability`` is given.
LOW_RELIABILITY = 0.1

_SCORE_VARS = {
    "ev", "r", "target_shc", "prediction_shc", "ceiling", "included", "prediction", "reliability", "r_half",
}


def version() -> str:
    from .. import __version__

    return __version__


def ev(r: np.ndarray, *ceilings: np.ndarray) -> np.ndarray:
    """``(r / sqrt(prod ceilings))^2 * 100``; NaN where the product is not positive (a split-half
    Spearman of exactly 0, easily met with few stimuli, gave ``inf``, which ``mean("rep")`` kept
    while the inference's means over reps left it out; ``reverse_pred`` gives ``inf`` there) and
    where it is infinite: a split-half Spearman of -1 (Spearman-Brown ``-inf``) times a negative
    reliability made ``+inf``, whose EV of exactly 0 ``mean("rep")`` averaged in (``reverse_pred``
    gives 0 there), while the same ``-inf`` beside a positive reliability was NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.ones_like(r)
        for c in ceilings:
            den = den * c
        return np.where((den > 0) & np.isfinite(den), (r / np.sqrt(den)) ** 2 * 100, np.nan)


def finish_reps(out: dict[str, np.ndarray], lo: int, hi: int, r_mean: Any, ceiling: bool, has_target_shc: bool) -> None:
    """Every rep's ``ev`` for targets ``lo:hi``, and their ``r``: ``r_mean`` (any backend) for every
    rep, or (None) as the reps filled it."""
    if r_mean is not None:
        out["r"][lo:hi] = to_numpy(r_mean)[:, None]
    ceil = []
    if ceiling:
        ceil.append(out["prediction_shc"][lo:hi])
        if has_target_shc:
            ceil.append(out["target_shc"][lo:hi])
    out["ev"][lo:hi] = ev(out["r"][lo:hi], *ceil)


def target_coords(da: xr.DataArray, dim: str) -> dict[str, Any]:
    """Coords of the target dim to carry into the scores (a coord named like a score variable,
    e.g. a ground-truth ``reliability``, is kept under ``<name>_coord``)."""
    out = {}
    for name, c in da.coords.items():
        if c.dims == (dim,):
            out[f"{name}_coord" if name in _SCORE_VARS else name] = c.variable
    return out


def common_attrs(
    direction: str, source: Any, target: Any, *, reps: int, seed: int, regressor: Any, alpha: float,
    n_components: int, alphas: Iterable[float], n_folds: int, fold_seed: int, max_n: int | None,
    backend: str | None, dtype: Any, **extra: Any,
) -> dict[str, Any]:
    """Every parameter of a direction call, normalised for the score attrs. Without a noise ceiling
    (``noise_ceiling=False``, trial-averaged data, model-to-model) ``split`` is left out and so is
    ``seed`` unless ``max_n`` draws subsets with it: the attrs name only what drew the numbers."""
    from ..backend import resolve_dtype
    from ..kernels.regressors import regressor_label
    from ._prepare import fit_backend

    out = {
        "direction": direction, "source": str(source), "target": str(target), "reps": int(reps), "seed": int(seed),
        "regressor": regressor_label(regressor), "alpha": float(alpha), "n_components": int(n_components),
        "alphas": [float(a) for a in alphas] if isinstance(regressor, str) and regressor == "ridgecv" else None, "n_folds": int(n_folds),
        "fold_seed": int(fold_seed), "max_n": max_n, "backend": fit_backend(regressor, backend),
        "dtype": str(resolve_dtype(dtype)), "stimulus_order": "sorted stimulus_id",
    }
    for k, v in extra.items():
        out[k] = list(v) if isinstance(v, (list, tuple)) else v
    if out.get("noise_ceiling") is False:  # no split halves drawn: split names nothing, seed at most max_n's subsets
        out.pop("split", None)
        if max_n is None:
            out.pop("seed")
    return out


def dataset(
    target: xr.DataArray,
    dim: str,
    variables: dict[str, np.ndarray],
    attrs: dict[str, Any],
    predictions: np.ndarray | None = None,
    stimulus_id: np.ndarray | None = None,
    min_reliability: float | None = None,
    *,
    name: str,
) -> xr.Dataset:
    """The score dataset over ``(dim, rep)``, with the ceiling-hygiene variables and warnings.

    Predictions (``rep x stimulus x dim``) come in the canonical stimulus order, labeled by
    ``stimulus_id``; the target dim keeps the order of the target input. ``name``: ``target`` as
    the warnings name it, after the function called (``"forward: neural (V4)"``,
    :func:`~neuroxr.predictivity._inputs.named`).
    """
    reps = next(iter(variables.values())).shape[1]
    variables = dict(variables)
    ceiling = _ceiling(variables)
    if ceiling is not None:
        variables["ceiling"] = ceiling
    ds = xr.Dataset(
        {name: ((dim, "rep"), v) for name, v in variables.items()},
        coords={**target_coords(target, dim), "rep": np.arange(reps)},
        attrs=encode_attrs({k: v for k, v in attrs.items() if v is not None} | {"neuroxr_version": version()}),
    )
    if predictions is not None:
        ds["prediction"] = (("rep", "stimulus", dim), predictions)
        ds = ds.assign_coords(stimulus_id=("stimulus", stimulus_id))
    ds["ev"].attrs.update(units="percent", long_name="noise-corrected explained variance" if ceiling is not None
                          else "explained variance without a noise ceiling (r² × 100)")
    return _hygiene(ds, dim, min_reliability, name)


def _ceiling(variables: dict[str, np.ndarray]) -> np.ndarray | None:
    """The product of the Spearman-Brown split-half reliabilities ``ev`` is divided by."""
    parts = [variables[k] for k in ("target_shc", "prediction_shc") if k in variables]
    if not parts:
        return None
    out = parts[0].copy()
    for p in parts[1:]:
        out = out * p
    return out


def _hygiene(ds: xr.Dataset, dim: str, min_reliability: float | None, name: str) -> xr.Dataset:
    """Add ``included`` and warn about ceiling-corrected EV above 100 % or unreliable targets
    (the warnings name the target input ``name``)."""
    # every reliability the ceiling multiplies is judged (two negative ones would make a positive product)
    shcs = [ds[key].values for key in ("target_shc", "prediction_shc") if key in ds] if "ceiling" in ds else None
    included = included_targets(min_reliability, ds.sizes[dim], name, shcs)
    if shcs is not None:
        _warn_empty_predictor_halves(ds, dim, name)
        warn_hygiene(name, dim, mean_over_reps(ds["ev"].values, axis=1), shcs, included, min_reliability)
        ds["ceiling"].attrs.update(
            long_name="noise ceiling: product of the Spearman-Brown split-half reliabilities ev is divided by"
        )
    ds["included"] = ((dim,), included)
    ds["included"].attrs.update(long_name="counted in summaries (every mean split-half reliability >= min_reliability)")
    if min_reliability is not None:
        ds.attrs["min_reliability"] = float(min_reliability)
    return ds


def _warn_empty_predictor_halves(ds: xr.Dataset, dim: str, name: str) -> None:
    """:func:`warn_empty_halves` of a direction's result (its scored targets: those with a finite ``r``;
    ``name``: the target input as the warnings name it)."""
    shc, r = ds["prediction_shc"].transpose(dim, "rep").values, ds["r"].transpose(dim, "rep").values
    own = ds["target_shc"].transpose(dim, "rep").values if "target_shc" in ds else None
    direction = ds.attrs["direction"]
    predictor = "neural_a" if direction == "inter_animal" else "neural"  # the neural predictor's argument
    warn_empty_halves(direction, f"{direction}: {predictor} ({ds.attrs.get('source')})",
                      name, dim, shc, np.isfinite(r).any(axis=1), ds[f"{dim}_id"].values
                      if f"{dim}_id" in ds.coords else np.arange(ds.sizes[dim]), ds.attrs.get("split", "valid"), own)


def warn_empty_halves(direction: str, source: str, target: str, dim: str, shc: np.ndarray, scored: np.ndarray,
                      ids: np.ndarray, split: str = "slots", target_shc: np.ndarray | None = None) -> None:
    """The warnings of split halves that leave a reliability NaN (the directions' and their
    bootstrap's): ``shc`` (target, rep) the predictions' split-half reliabilities, ``target_shc`` the
    targets' own (forward, inter-animal), ``scored`` (target,) the targets scored at all (the others
    have their own warnings), ``source`` / ``target`` the inputs as the messages name them, ``split``
    the split mode.

    A neural predictor (reverse, inter-animal) with an empty ``split='slots'`` half at some (stimulus,
    neuroid) in a rep leaves a missing value in that rep's split-half designs, which predicts no
    target: every target's ``prediction_shc``, ceiling and ev are NaN there while ``r`` is not. A
    forward target (whose half means the split-half predictions predict) whose prediction_shc is NaN
    in every rep is named (it has a finite ``r``, so no other warning says it): under ``'slots'`` a
    stimulus with too few valid trials for both halves (one, of any number of slots) leaves a half
    empty in every rep, and under either split a half can be constant across the stimuli in every rep
    (a neuroid silent but for one trial: its trial means vary, one half is all zeros), whose
    predictions have no correlation. A target whose own ``target_shc`` alone is NaN in every rep is
    named too: its halves' Spearman correlation, over their complete pairs, needs 3 of them (under
    ``'slots'`` a stimulus with one valid trial is no pair) and halves that vary (inter-animal
    predicts from A's halves, so B's enter ``target_shc`` alone)."""
    if not scored.any():
        return
    lost = np.isnan(shc[scored]).all(axis=0)  # reps where no target has a reliability: the predictor's halves
    if direction in ("reverse", "inter_animal") and split == "slots" and lost.any():
        warn(f"{source}: in {int(lost.sum())} of {lost.size} reps every target's "
             f"prediction_shc, ceiling and ev are NaN: under split='slots' a predictor neuroid with few valid trials at "
             f"some stimuli had an empty split half there, and a design with a missing value predicts no target. Pass "
             f"split='valid' (such stimuli are dropped, with a warning), or leave that neuroid out.")
    constant = (f"a split half constant across the stimuli in every rep (e.g. a {dim} silent but for one trial), "
                f"whose split-half reliability is undefined")

    def because(slots: str) -> str:  # why a reliability is NaN in every rep: a constant half, or under 'slots' ``slots``
        return f"Each has {constant}." if split != "slots" else f"Under split='slots' each has{slots}, or {constant}."
    dead = scored & np.isnan(shc).all(axis=1) if direction == "forward" else np.zeros_like(scored)
    if dead.any():  # forward has no predictor halves: every target may lose them
        why = because(f" a stimulus with too few valid trials for both split halves (an empty half there in every rep: "
                      f"pass split='valid', which leaves such a stimulus out for that {dim} alone, with a warning)")
        warn(f"{target}: {int(dead.sum())} {dim}s have prediction_shc, ceiling and ev NaN in every rep: "
             f"{examples(np.asarray(ids)[dead])}. {why}")
    own = scored & ~dead & np.isnan(target_shc).all(axis=1) if target_shc is not None else np.zeros_like(scored)
    if own.any():
        why = because(f", in every rep, fewer than 3 stimuli with a valid trial in both split halves (a stimulus with one "
                      f"valid trial has an empty half: pass split='valid', which leaves such a stimulus out for that {dim} "
                      f"alone, with a warning)")
        warn(f"{target}: {int(own.sum())} {dim}s have target_shc, ceiling and ev NaN in every rep: "
             f"{examples(np.asarray(ids)[own])}. {why}")


def warn_hygiene(name: str, dim: str, mean_ev: np.ndarray, shcs: Sequence[np.ndarray], included: np.ndarray,
                 min_reliability: float | None) -> None:
    """The directions' one warning on ceiled scores (their bootstrap gives it too): targets with a
    ceiling-corrected EV above 100 % (``mean_ev``, the mean over reps) and targets whose split-half
    reliabilities ``shcs`` ((target, rep) arrays), averaged over reps, fall below ``min_reliability``
    (or, without it, :data:`LOW_RELIABILITY`), whatever their EV (a negative ceiling makes it NaN);
    ``included`` as :func:`included_targets` gives it."""
    over = int(np.sum(mean_ev > 100))
    threshold = LOW_RELIABILITY if min_reliability is None else float(min_reliability)
    # a defined mean reliability below the threshold, whatever the EV (a negative one makes it NaN);
    # targets without one (all-NaN, constant, too few stimuli) are reported elsewhere
    low = np.zeros(len(mean_ev), dtype=bool)
    for v in shcs:
        low |= mean_over_reps(v, axis=1) < threshold
    parts = []
    if over:
        parts.append(f"{over} {dim}s have a ceiling-corrected EV above 100 % (the ceiling is underestimated)")
    if low.any():
        parts.append(f"{int(low.sum())} {dim}s have a split-half reliability below {threshold:g}")
    if parts:
        if min_reliability is None:
            action = " Pass min_reliability= to mark unreliable targets included=False."
        elif (~included).any():
            # those without a reliability (all NaN, constant, too few stimuli) are excluded too, counted apart
            n_low, n_none = int((~included & low).sum()), int((~included & ~low).sum())
            action = (f" {n_low} {dim}s with a reliability below min_reliability={threshold:g}"
                      + (f" and {n_none} without one" if n_none else "") + " are marked included=False.")
        else:
            action = ""
        warn(f"{name}: " + "; ".join(parts) + f".{action}")


def included_targets(
    min_reliability: float | None, k: int, name: str,
    shcs: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]] | None,
) -> np.ndarray:
    """The one rule of ``included``: which of ``k`` targets a summary counts.

    Every target without ``min_reliability``; with it, those passing :func:`reliable_targets`.
    Scores without a noise ceiling (``shcs=None``) have nothing to judge: every target counts, and
    a :class:`~neuroxr.errors.NeuroxrWarning` says ``min_reliability`` is ignored.

    Parameters
    ----------
    min_reliability : float or None
        The threshold (already checked).
    k : int
        Number of targets.
    name : str
        The target input's name, prefixed to the warning.
    shcs : sequence of (target, rep) arrays, a callable returning them, or None
        Every split-half reliability the ceiling multiplies; a callable is called only when they
        are judged; ``None`` when the scores have no ceiling.
    """
    if min_reliability is not None and shcs is None:
        warn(f"{name}: min_reliability={min_reliability:g} is ignored: these scores have no noise ceiling.")
    if min_reliability is None or shcs is None:
        return np.ones(k, dtype=bool)
    return reliable_targets(shcs() if callable(shcs) else shcs, float(min_reliability))


def reliable_targets(shcs: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """Per target, every split-half reliability (``(target, rep)`` arrays, Spearman-Brown
    corrected) averaged over reps is at least ``threshold``."""
    ok = np.ones(shcs[0].shape[0], dtype=bool) if shcs else np.ones(0, dtype=bool)
    for v in shcs:
        ok &= mean_over_reps(v, axis=1) >= threshold
    return ok
