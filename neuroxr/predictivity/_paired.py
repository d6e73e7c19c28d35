"""Checks that several bootstrap results share their resamples, so :func:`~neuroxr.predictivity.inference.compare`
and :func:`~neuroxr.predictivity.inference.best_layer` may pair them resample by resample.

Resamples are paired by id, never by position: stimuli by the drawn positions of the canonical
``stimulus_id`` order (``boot_index``), targets (``over="targets"`` or ``"both"``) by the scored,
included targets' ids (``drawn``), among which each resample draws in the order of their ids.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LayoutError, ParameterError, examples

__all__ = ["same_resamples", "same_bins", "bin_coords", "same_targets", "aligned_targets", "boots_policy"]


def _bootstraps(boots: object, caller: str) -> list:
    """The names of ``boots``, a mapping name -> :func:`~neuroxr.predictivity.inference.bootstrap` result
    (a Dataset with ``median_ev_boot`` or ``ev_boot``); a one-line :class:`ParameterError` naming ``caller`` otherwise
    (a list of results, the direction's scores or a permutation test)."""
    if not isinstance(boots, Mapping):
        raise ParameterError(f"{caller}: boots must be a mapping name -> bootstrap result (a dict), which names each "
                             f"result in the output; got {type(boots).__name__}. Pass e.g. {{'conv3': b3, 'fc': bfc}}.")
    for name, b in boots.items():
        if not isinstance(b, xr.Dataset) or not {"median_ev_boot", "ev_boot"} & set(b.data_vars):
            got = (f"a Dataset without resamples ('median_ev_boot', 'ev_boot'; variables "
                   f"{examples(sorted(map(str, b.data_vars)), 4)})"
                   if isinstance(b, xr.Dataset) else type(b).__name__)
            raise ParameterError(f"{caller}: boots[{name!r}] is not a bootstrap result: got {got}; pass the results of "
                                 f"neuroxr.predictivity.inference.bootstrap() (not the direction's scores or a "
                                 f"permutation test).")
    return list(boots)


def same_resamples(boots: Mapping[str, xr.Dataset], caller: str = "compare") -> None:
    """One-line error (naming ``caller``) unless ``boots`` maps names to two or more static bootstraps
    with the same ``seed``, ``n_boot``, ``over`` and stimulus draws (``boot_index``, ``stimulus_id``)."""
    names = _bootstraps(boots, caller)
    if len(names) < 2:
        raise ParameterError(f"{caller}: boots must hold at least two bootstrap results; got {len(names)}.")
    first = boots[names[0]]
    for name in names:
        if "time_bin" in boots[name].dims:
            starts = boots[name]["time_bin_start"].values if "time_bin_start" in boots[name].coords else None
            at = "" if starts is None else f", {starts.size} bins starting at {examples([float(v) for v in starts], 4)} ms"
            start = "START" if starts is None or not starts.size else f"{starts[0]:g}"
            raise LayoutError(
                f"{caller}: boots[{name!r}] is time-resolved (dim 'time_bin'{at}); compare one bin at a time, the same "
                f"bin by its edges in each result (results may hold other bins or another order), e.g. "
                f"{{k: b.swap_dims(time_bin='time_bin_start').sel(time_bin_start={start}) for k, b in boots.items()}}."
            )
    for name in names[1:]:
        b = boots[name]
        for key in ("seed", "n_boot", "over"):
            if b.attrs.get(key) != first.attrs.get(key):
                raise LayoutError(
                    f"{caller}: boots[{name!r}]: {key}={b.attrs.get(key)!r} but boots[{names[0]!r}] has {first.attrs.get(key)!r}; "
                    f"bootstrap every score with the same seed, n_boot and over so their resamples are paired."
                )
        for key in ("boot_index", "stimulus_id"):  # NaN draws: a time bin without a target to score (its resamples undefined)
            if (key in first) != (key in b) or (key in first and not _same_values(first[key].values, b[key].values)):
                raise LayoutError(
                    f"{caller}: boots[{name!r}]: its resamples (dim 'boot') differ from boots[{names[0]!r}]'s; bootstrap "
                    f"every score with the same seed, n_boot and stimuli."
                )


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` and ``b`` hold the same values, NaN equal to NaN where both are floats."""
    nan = a.dtype.kind == "f" and b.dtype.kind == "f"
    return bool(np.array_equal(a, b, equal_nan=nan))


def _edges(b: xr.Dataset) -> tuple[float, float] | None:
    """The time bin ``(start, end)`` in ms of a bootstrap of one bin (the scalar edges a
    ``.isel(time_bin=t)`` keeps), ``None`` for a static one."""
    if all(c in b.coords and b[c].ndim == 0 for c in ("time_bin_start", "time_bin_end")):
        return float(b["time_bin_start"]), float(b["time_bin_end"])
    return None


def same_bins(boots: Mapping[str, xr.Dataset], across_bins: bool, caller: str) -> dict[str, tuple[float, float] | None]:
    """Each result's time bin (:func:`_edges`). One-line :class:`LayoutError` where they differ (a bin
    picked by position from bins in another order, or a bin beside a static result), unless
    ``across_bins``: the resamples are paired across bins too, so comparing bins is asked for by name."""
    bins = {name: _edges(b) for name, b in boots.items()}
    names = list(boots)

    def said(e: tuple[float, float] | None) -> str:
        return "static (no time bin)" if e is None else f"the time bin {e[0]:g}-{e[1]:g} ms"

    for name in names[1:]:
        if bins[name] != bins[names[0]] and not across_bins:
            raise LayoutError(
                f"{caller}: boots[{name!r}] is {said(bins[name])} but boots[{names[0]!r}] is {said(bins[names[0]])} "
                f"(dim 'time_bin'); select the same bin in each by its edges (b.swap_dims(time_bin='time_bin_start')"
                f".sel(time_bin_start=...)), or pass across_bins=True to compare different bins on purpose."
            )
    return bins


def bin_coords(bins: Mapping[str, tuple[float, float] | None], dim: str,
               sides: Mapping[str, list[str]]) -> dict[str, tuple[str, list[float]]]:
    """The coords on ``dim`` recording the time bin of each result named in ``sides`` (suffix ->
    names along ``dim``; NaN for a static one), none when every result is static."""
    if all(e is None for e in bins.values()):
        return {}
    out = {}
    for suffix, names in sides.items():
        for i, edge in enumerate(("start", "end")):
            out[f"time_bin_{edge}{suffix}"] = (dim, [np.nan if bins[n] is None else bins[n][i] for n in names])
    return out


def _drawn(name: str, b: xr.Dataset) -> tuple[str, np.ndarray | None, np.ndarray]:
    """The target dim of ``boots[name]``, its ids as strings (None without a ``<dim>_id`` coord) and
    its ``included`` mask (every target when absent)."""
    if "ev" not in b or b["ev"].ndim != 1:
        raise LayoutError(f"compare: boots[{name!r}] has no per-target 'ev' (one target dim), so the targets its resamples "
                          f"draw cannot be paired; pass the results of bootstrap() as they are.")
    dim = b["ev"].dims[0]
    ids = np.asarray(b[f"{dim}_id"].values).astype(str) if f"{dim}_id" in b.coords else None
    # the targets its resamples draw among (scored and included; results without ``drawn``: the included ones)
    key = "drawn" if "drawn" in b else "included"
    inc = np.asarray(b[key].values, dtype=bool) if key in b else np.ones(b.sizes[dim], dtype=bool)
    return dim, ids, inc


def same_targets(boots: Mapping[str, xr.Dataset]) -> None:
    """With resamples of targets (``over="targets"`` or ``"both"``): one-line :class:`LayoutError`
    unless every bootstrap draws among the same targets by id (the same dim, the same set of ``<dim>_id``
    where ``drawn``: scored and ``included``), so each resample draws the same targets in every score. Without ids
    (positions only) the targets must agree by position. Nothing to check over stimuli alone."""
    names = list(boots)
    first = boots[names[0]]
    if first.attrs.get("over") not in ("targets", "both"):
        return
    fix = ("with over='targets' or 'both' each resample draws among the scored, included targets by id, so bootstrap "
           "every score on the same targets with the same scored and included ones (e.g. select the targets every "
           "score scores and includes, and drop min_reliability), or bootstrap over='stimuli'.")
    dim0, ids0, inc0 = _drawn(names[0], first)
    for name in names[1:]:
        dim, ids, inc = _drawn(name, boots[name])
        head = f"compare: boots[{name!r}]: its resampled targets (dim {dim!r})"
        if dim != dim0:
            raise LayoutError(f"{head} are not boots[{names[0]!r}]'s (dim {dim0!r}); {fix}")
        if (ids is None) != (ids0 is None):
            raise LayoutError(f"{head} {'lack' if ids is None else 'have'} ids ({dim}_id) but boots[{names[0]!r}]'s "
                              f"{'have' if ids is None else 'lack'} them; {fix}")
        if ids is None:  # positions only: the same count and the same included positions
            same = inc.size == inc0.size and np.array_equal(inc, inc0)
            if not same:
                raise LayoutError(f"{head} differ by position from boots[{names[0]!r}]'s ({int(inc.sum())} of "
                                  f"{inc.size} drawn among against {int(inc0.sum())} of {inc0.size}); {fix}")
            continue
        a, b = set(ids0[inc0]), set(ids[inc])
        if a != b:
            diff = [f"{len(only)} {where} {examples(only, 3)}" for only, where in
                    ((sorted(b - a), "only here"), (sorted(a - b), f"only in boots[{names[0]!r}]")) if only]
            raise LayoutError(f"{head} differ from boots[{names[0]!r}]'s by id: {len(b)} drawn among against {len(a)}, "
                              f"{', '.join(diff)}; {fix}")


def aligned_targets(boots: Mapping[str, xr.Dataset], dim: str, caller: str) -> dict[str, xr.Dataset]:
    """``boots`` with every result's targets (dim ``dim``) in the first's order of ``<dim>_id``, so
    per-target arrays pair by id; one-line :class:`LayoutError` unless all hold the same ids (or all
    lack ids and hold as many targets, then paired by position)."""
    names, key = list(boots), f"{dim}_id"
    first = boots[names[0]]
    ids0 = np.asarray(first[key].values).astype(str) if key in first.coords else None
    out = {names[0]: first}
    for name in names[1:]:
        b = boots[name]
        ids = np.asarray(b[key].values).astype(str) if key in b.coords else None
        head = f"{caller}: boots[{name!r}]: its targets (dim {dim!r})"
        if (ids is None) != (ids0 is None):
            raise LayoutError(f"{head} {'lack' if ids is None else 'have'} ids ({key}) but boots[{names[0]!r}]'s "
                              f"{'have' if ids is None else 'lack'} them; pass the results of bootstrap() as they are.")
        if ids is None:
            if b.sizes[dim] != first.sizes[dim]:
                raise LayoutError(f"{head}: {b.sizes[dim]} against {first.sizes[dim]} in boots[{names[0]!r}]; "
                                  f"compare layers on the same targets.")
        elif ids.size != ids0.size or set(ids) != set(ids0):
            diff = sorted(set(ids) ^ set(ids0))
            raise LayoutError(f"{head} differ from boots[{names[0]!r}]'s by id ({ids.size} against {ids0.size}, "
                              f"{len(diff)} in one only, e.g. {examples(diff, 3)}); compare layers on the same targets.")
        else:
            b = b.isel({dim: pd.Index(ids).get_indexer(ids0)})  # the first's order: paired by id
        out[name] = b
    return out


def boots_policy(boots: Mapping[str, xr.Dataset], caller: str = "compare") -> str:
    """The bootstraps' one ``nan_policy`` (attr, absent: ``"propagate"``), which the statistics
    derived from their resamples follow; bootstraps with different policies are refused."""
    policies = {name: b.attrs.get("nan_policy", "propagate") for name, b in boots.items()}
    if len(set(policies.values())) > 1:
        raise LayoutError(f"{caller}: boots were bootstrapped with different nan_policy {policies}, which decides what "
                          f"their undefined resamples count for; bootstrap every score with the same nan_policy.")
    return next(iter(policies.values()))
