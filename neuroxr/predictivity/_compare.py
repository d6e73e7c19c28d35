"""Paired comparisons of predictivity bootstraps: :func:`compare` (differences of the median EV of
several scores on the same resamples) and :func:`best_layer` (the best of several layers with its
selection uncertainty), from :func:`~neuroxr.predictivity.inference.bootstrap` results; re-exported
by :mod:`neuroxr.predictivity.inference`. Their resamples are paired by :mod:`neuroxr.predictivity._paired`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..errors import LayoutError, ParameterError, shown
from ..kernels import resample as rs
from ..kernels.rdm import check_option
from ..validation import check_bool
from ._paired import aligned_targets, bin_coords, boots_policy, same_bins, same_resamples, same_targets

__all__ = ["compare", "best_layer"]


def compare(boots: Mapping[str, xr.Dataset], *, level: float = 0.95, correction: str = "holm",
            across_bins: bool = False) -> xr.Dataset:
    """Paired comparisons of the median EV of several scores on the same resamples.

    Parameters
    ----------
    boots : mapping name -> Dataset
        :func:`bootstrap` results of two or more layers, models or directions with the same
        stimuli, ``seed``, ``n_boot`` and ``over`` (hence the same resamples). Over stimuli each
        median counts its own included targets; with ``over="targets"`` or ``"both"`` every
        result must draw among the same targets by id (the same ``<dim>_id`` where ``drawn``: a
        :class:`~neuroxr.errors.LayoutError` otherwise, e.g. for another animal's neuroids or a
        ``min_reliability`` that keeps other targets per layer), so each resample draws the same
        targets in every score.
    level : float, default 0.95
    correction : {"holm", "fdr", "none"}, default "holm"
        Multiple-comparison correction of the pairwise p-values.
    across_bins : bool, default False
        Time-resolved bootstraps are compared one bin at a time, selected by its edges in each result
        (``b.swap_dims(time_bin="time_bin_start").sel(time_bin_start=start)``); results of
        different bins (by their edges), or a bin beside a static result, are refused unless True.

    Returns
    -------
    xarray.Dataset over ``pair`` (``"A - B"``, every unordered pair in the given order)
        ``a``, ``b`` (names), ``diff`` (median EV of a minus that of b), ``diff_ci`` (pair, bound),
        ``p`` (two-sided bootstrap p-value of ``diff = 0``) and ``p_adjusted``; ``n_boot_undefined``
        (pair) counts the resamples whose difference is undefined, and the interval and ``p``
        follow the bootstraps' ``nan_policy`` (NaN by default where any is). With time bins, coords
        ``time_bin_start_a`` / ``time_bin_end_a`` (and ``_b``) give each pair's bins.
    """
    check_option(correction, ("holm", "fdr", "none"), "correction", "compare")
    rs._check_level(level, "compare")
    across_bins = check_bool(across_bins, "across_bins", caller="compare")
    same_resamples(boots, "compare")
    bins = same_bins(boots, across_bins, "compare")
    same_targets(boots)
    policy = boots_policy(boots, "compare")
    names = list(boots)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    diff = np.array([float(boots[a]["median_ev"]) - float(boots[b]["median_ev"]) for a, b in pairs])
    d_boot = np.stack([boots[a]["median_ev_boot"].values - boots[b]["median_ev_boot"].values for a, b in pairs], axis=1)
    p = rs.two_sided_pvalue(d_boot, policy)
    adj = rs.holm(p) if correction == "holm" else rs.fdr_bh(p) if correction == "fdr" else p
    undefined = rs.undefined_resamples(d_boot)
    rs.warn_undefined("compare", undefined, int(d_boot.shape[0]), "pairs", policy)
    return xr.Dataset(
        {
            "a": (("pair",), [a for a, _ in pairs]), "b": (("pair",), [b for _, b in pairs]),
            "diff": (("pair",), diff), "diff_ci": (("pair", "bound"), rs.percentile_interval(d_boot, level, policy).T),
            "p": (("pair",), p), "p_adjusted": (("pair",), adj), "n_boot_undefined": (("pair",), undefined),
        },
        coords={"pair": [f"{a} - {b}" for a, b in pairs], "bound": ["low", "high"],
                **bin_coords(bins, "pair", {"_a": [a for a, _ in pairs], "_b": [b for _, b in pairs]})},
        attrs={"level": float(level), "correction": correction, "n_boot": int(d_boot.shape[0]),
               **({} if policy == "propagate" else {"nan_policy": policy})},
    )


def best_layer(boots: Mapping[str, xr.Dataset], *, seed: int = 0, key: str = "best_layer", level: float = 0.95,
               across_bins: bool = False) -> xr.Dataset:
    """The best of several layers with its selection uncertainty over stimulus resamples.

    As :func:`neuroxr.sweep.best_layers`, the targets scored in some layer (a finite full-sample EV,
    ``included`` true) are split once into a selection and a test half
    (:func:`neuroxr.sweep.select.target_halves` of their ids with ``key`` and ``seed``; a target
    never scored takes no slot); the layer with the largest median EV over the selection half is
    chosen (ties: the first given) on the full sample and on every resample.

    Parameters
    ----------
    boots : mapping layer -> Dataset
        :func:`bootstrap` results (``over="stimuli"``) of the same targets (paired by ``<dim>_id``, in
        any order) on the same resamples, in depth order.
    across_bins : bool, default False
        As :func:`compare`: results of different time bins are refused unless True.

    Returns
    -------
    xarray.Dataset
        ``best`` (the chosen layer), ``frequency`` (layer: fraction of all resamples choosing it; a
        resample where no layer has a defined selection-half median chooses none, so the fractions
        then sum to less than 1), ``test_ev`` (median over the test half of the chosen layer) with
        ``test_ev_ci`` (the chosen-on-each-resample layer's test median, so the selection uncertainty
        is included; undefined where no layer is chosen or its test median is; the bootstraps'
        ``nan_policy`` rule, ``n_boot_undefined`` its count); attrs ``n_selection``
        and ``n_test`` (the chosen layer's targets with a finite, included EV in each half) and
        ``n_unscored`` (its other targets).
    """
    from ..sweep.select import target_halves

    rs._check_level(level, "best_layer")
    seed = rs._seed(seed, "best_layer")  # it splits the targets: never None, a float or a Generator
    if not isinstance(key, str):
        raise ParameterError(f"best_layer: key must be a string naming the group of targets (it seeds their split); "
                             f"got {shown(key)}. Pass e.g. key='best_layer'.")
    across_bins = check_bool(across_bins, "across_bins", caller="best_layer")
    same_resamples(boots, "best_layer")
    bins = same_bins(boots, across_bins, "best_layer")
    policy = boots_policy(boots, "best_layer")
    names = list(boots)
    first = boots[names[0]]
    dim = next(d for d in first["ev"].dims)
    boots = aligned_targets(boots, dim, "best_layer")  # per-target arrays paired by id
    ids = first[f"{dim}_id"].values if f"{dim}_id" in first.coords else np.arange(first.sizes[dim]).astype(str)
    if "ev_boot" not in first or first.attrs.get("over", "stimuli") != "stimuli":  # its draws over targets would be ignored
        got = "resamples of targets only" if "ev_boot" not in first else f"over={first.attrs['over']!r}, whose target draws it would ignore"
        raise ParameterError(f"best_layer: needs bootstraps over stimuli (over='stimuli'); got {got}.")
    # targets a layer's bootstrap marks included=False (min_reliability) count in no median, as in sweep.best_layers
    inc = np.stack([np.asarray(boots[m]["included"].values, dtype=bool) if "included" in boots[m]
                    else np.ones(first.sizes[dim], dtype=bool) for m in names])
    # NaN-medians silent where a slice holds no value (rs.nanmedian): a NaN says it
    ev0 = np.where(inc, np.stack([boots[m]["ev"].values for m in names]), np.nan)  # (layers, k)
    # only the targets scored in some layer are split (as sweep.select.scored_halves)
    scored = np.isfinite(ev0).any(axis=0)
    if scored.sum() == 1:  # the selection half takes it: no test half, whose NaN median was only warned of as undefined
        raise LayoutError(f"best_layer: selects the layer on one half of the targets and tests it on the other, but 1 "
                          f"target (dim {dim!r}) is scored in the bootstraps; pass more {dim}s, or compare the layers "
                          f"with compare(boots).")
    ids = np.asarray(ids).astype(str)
    sel = np.zeros(ids.size, dtype=bool)
    sel[scored] = target_halves(ids[scored], key, seed)
    test = scored & ~sel
    evb = np.where(inc[:, None, :], np.stack([boots[m]["ev_boot"].values for m in names]), np.nan)  # (layers, B, k)
    crit0 = rs.nanmedian(ev0[:, sel], axis=1)
    if not np.isfinite(crit0).any():
        raise LayoutError("best_layer: no layer has a finite median EV over the selection half of the targets; "
                          "check the scores (all NaN or every target excluded by min_reliability).")
    choose0 = int(np.nanargmax(crit0))
    crit = rs.nanmedian(evb[:, :, sel], axis=2)  # (layers, B)
    chosen = np.isfinite(crit).any(axis=0)  # a resample with no defined selection chooses no layer
    choice = np.argmax(np.where(np.isfinite(crit), crit, -np.inf), axis=0)
    test_b = np.where(chosen, rs.nanmedian(evb[choice, np.arange(evb.shape[1])][:, test], axis=1), np.nan)
    test0 = rs.nanmedian(ev0[choose0, test])
    freq = np.bincount(choice[chosen], minlength=len(names)) / choice.size
    n_sel, n_test = int(np.isfinite(ev0[choose0, sel]).sum()), int(np.isfinite(ev0[choose0, test]).sum())
    undefined = rs.undefined_resamples(test_b)
    rs.warn_undefined("best_layer", undefined, int(test_b.shape[0]), "test median", policy)
    return xr.Dataset(
        {"best": ((), names[choose0]), "frequency": (("layer",), freq), "test_ev": ((), test0),
         "test_ev_ci": (("bound",), rs.percentile_interval(test_b, level, policy)), "n_boot_undefined": ((), undefined)},
        coords={"layer": names, "bound": ["low", "high"], **bin_coords(bins, "layer", {"": names})},
        attrs={"seed": int(seed), "key": key, "level": float(level), "n_selection": n_sel, "n_test": n_test,
               "n_unscored": int(ids.size - n_sel - n_test), **({} if policy == "propagate" else {"nan_policy": policy})},
    )
