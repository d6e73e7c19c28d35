"""Time-resolved responses: the directions over every ``time_bin`` at once.

Neural data with a last dim ``time_bin`` (``stimulus x neuroid x repeat x time_bin``, coords
``time_bin_start``/``time_bin_end`` in ms) are scored bin by bin in one call; the result carries
``time_bin`` as its last dim, with the bins' coords:

- **forward**: the design (the features) is the same for every bin, so ``neuroid x time_bin`` are
  the targets of the ONE out-of-fold operator (one factorisation for all bins);
- **reverse / inter-animal**: the design is the neural population of a bin, so there is one
  design per bin; the folds (a function of the number of stimuli and ``fold_seed``) and the
  split-half draws (a function of ``seed`` and the number of repeats) are the same for every bin.

Seeds: every bin uses the same split-half draws (the generator ``default_rng(seed)`` restarted
per bin, the forward direction's single call draws once for all targets), so the per-bin numbers
equal a loop calling the direction on each bin's slice.

Temporal generalisation (fit at bin ``t1``, test at bin ``t2``) is in
:mod:`neuroxr.predictivity.generalization`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import canonical_order, stimulus_ids
from ..errors import (
    LayoutError,
    NeuroxrError,
    NeuroxrWarning,
    NoPredictor,
    NothingToScore,
    ParameterError,
    code_name,
    examples,
    holding,
    warn,
    where,
)
from ..layouts import TIME_BIN_COORDS, has_time, validate_neural
from . import _prepare as prep
from ._result import target_coords

__all__ = ["has_time", "bin_slice", "stack_bins", "forward_bins", "by_bins", "by_bins_drawn"]

#: temporal generalisation, now in :mod:`neuroxr.predictivity.generalization`, still importable from here
_MOVED = ("temporal_generalization", "validate_generalization", "check_generalization_params")


def __getattr__(name: str) -> Any:
    if name in _MOVED:  # imported on use: generalization imports this module
        from . import generalization

        return getattr(generalization, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: joins a neuroid id and a bin position into a flattened forward target's id (as warnings name
#: them, e.g. ``n3@bin2``; unique since the added suffix is the last ``@bin`` followed by digits)
_SEP = "@bin"


#: a count of neuroids in forward's messages, which count the flattened (neuroid, time bin) targets
_COUNTED = re.compile(r"\b(\d+) neuroids\b")


def _as_bin_targets(message: str) -> str:
    """A message of forward on the flattened ``neuroid x time_bin`` targets (named ``n3@bin2``) with
    its counts of "neuroids" said as what they count, ``(neuroid, time bin) targets`` (6 of 3 neuroids
    x 3 bins were "6 neuroids")."""
    return _COUNTED.sub(r"\1 (neuroid, time bin) targets", message).replace("the other neuroids", "the other targets")


def bin_slice(da: xr.DataArray, t: int) -> xr.DataArray:
    """Bin ``t`` of time-resolved responses as an ordinary ``stimulus x neuroid x repeat`` array."""
    return da.isel(time_bin=t).drop_vars([c for c in TIME_BIN_COORDS if c in da.coords])


def _bin_coords(da: xr.DataArray | xr.Dataset, prefix: str = "time_bin") -> dict[str, Any]:
    """Every coord of ``da`` on ``time_bin`` alone (the bins' edges, and any the user gave: the
    index's labels, another per-bin coord) for a dim ``prefix``, renamed for it unless it is
    ``time_bin`` (``time_bin_start`` -> ``<prefix>_start``, ``time_bin`` -> ``<prefix>``, ``epoch`` ->
    ``<prefix>_epoch``)."""
    out = {}
    for name, c in da.coords.items():
        if c.dims == ("time_bin",):
            name = str(name)
            if prefix != "time_bin":
                name = prefix + name[len("time_bin"):] if name.startswith("time_bin") else f"{prefix}_{name}"
            out[name] = (prefix, np.asarray(c.values), dict(c.attrs))  # its attrs (units) too
    return out


def merged_bins(first: xr.DataArray, others: list[xr.DataArray]) -> xr.DataArray:
    """``first`` with the coords on ``time_bin`` alone of ``others`` (the other time-resolved inputs,
    their bins already in ``first``'s order) that ``first`` lacks: a label or per-bin coord given on
    any input is carried to the result; ``first``'s own values and attrs win where both give one
    (the others' attrs, e.g. units, are added where ``first``'s coord lacks them)."""
    extra: dict[str, Any] = {}
    for other in others:
        for name, c in other.coords.items():
            if c.dims != ("time_bin",):
                continue
            name = str(name)
            if name in first.coords and name not in extra and c.attrs.keys() <= first.coords[name].attrs.keys():
                continue  # nothing to add
            base = extra.get(name) or (("time_bin", np.asarray(first.coords[name].values), dict(first.coords[name].attrs))
                                       if name in first.coords else ("time_bin", np.asarray(c.values), {}))
            extra[name] = (*base[:2], {**dict(c.attrs), **base[2]})
    return first.assign_coords(extra) if extra else first


#: variables over ``stimulus`` whose values are positions into the ``stimulus_id`` coord (a
#: bootstrap's drawn stimuli), renumbered when the bins are put on their common stimuli
_POSITIONS = ("boot_index",)


def stack_bins(results: list[xr.Dataset], bins: xr.DataArray) -> xr.Dataset:
    """Per-bin score datasets joined along a last dim ``time_bin`` carrying ``bins``' coords on
    ``time_bin`` (the edges, and the user's labels or other per-bin coords, never dropped).

    The stimulus counts (:data:`~neuroxr.predictivity._prepare.TARGET_COUNTS`: ``n_stimuli``,
    ``n_excluded_stimuli``, ``n_partial_targets``) are always lists with one int per bin; any other
    attr equal in every bin stays a scalar, one that differs becomes a list. Variables over ``stimulus`` (predictions,
    a bootstrap's ``boot_index``) are paired by ``stimulus_id``: when the bins keep different
    stimuli, the result has every stimulus some bin kept (canonical order) and NaN where a bin
    lacks one (see :func:`_on_common_stimuli`).
    """
    results = _on_common_stimuli(results)
    ds = xr.concat(results, dim="time_bin", coords="minimal", compat="override", combine_attrs="drop")
    attrs = dict(results[0].attrs)
    for key in attrs:
        values = [r.attrs.get(key) for r in results]
        if key in prep.TARGET_COUNTS or any(not _same_attr(v, values[0]) for v in values[1:]):
            attrs[key] = values
    ds.attrs = attrs
    return ds.assign_coords(_bin_coords(bins)).transpose(..., "time_bin")


def _on_common_stimuli(results: list[xr.Dataset]) -> list[xr.Dataset]:
    """The per-bin datasets on one ``stimulus`` axis: the union of their ``stimulus_id`` values in
    the canonical order (sorted), each bin's variables placed by id and NaN at the stimuli it lacks.

    Unchanged when every bin has the same ids in the same order. The values of :data:`_POSITIONS`
    (positions of the drawn stimuli in the bin's own ``stimulus_id``) become positions in the
    union, so ``stimulus_id[boot_index]`` names the drawn stimuli in every bin.
    """
    keyed = [r for r in results if "stimulus" in r.dims]
    if not keyed:
        return results
    if len(keyed) != len(results) or any("stimulus_id" not in r.coords or r["stimulus_id"].dims != ("stimulus",)
                                         for r in results):
        raise LayoutError("time_bin: the per-bin results do not all carry 'stimulus_id' on dim 'stimulus'; they "
                          "cannot be paired by stimulus. Score the bins one at a time (bin_slice).")
    ids = [stimulus_ids(r) for r in results]
    if all(np.array_equal(i, ids[0]) for i in ids[1:]):
        return results
    union = np.unique(np.concatenate(ids))  # sorted strings: the canonical order
    out = []
    for r, own in zip(results, ids):
        pos = pd.Index(union).get_indexer(own)  # the bin's stimuli in the union
        data = {}
        for name, v in r.data_vars.items():
            if "stimulus" not in v.dims:
                data[name] = v
                continue
            axis = v.dims.index("stimulus")
            values = np.asarray(v.values)
            if name in _POSITIONS:
                values = pos[values]
            full = np.full(v.shape[:axis] + (union.size,) + v.shape[axis + 1:], np.nan)
            full[(slice(None),) * axis + (pos,)] = values
            data[name] = xr.Variable(v.dims, full, v.attrs)
        coords = {k: c for k, c in r.coords.items() if "stimulus" not in c.dims}
        coords["stimulus_id"] = ("stimulus", union)
        out.append(xr.Dataset(data, coords=coords, attrs=r.attrs))
    return out


def by_bins_drawn(prepare: Callable[..., tuple[np.ndarray, Any]], draw: Callable[[Any, np.ndarray], xr.Dataset],
                  args: dict[str, Any], timed: tuple[str, ...], caller: str = "",
                  names: dict[str, str] | None = None) -> xr.Dataset:
    """A resampling procedure on each bin of time-resolved inputs, **the same draws in every bin**.

    Bins may keep different stimuli (a stimulus without a valid trial in one bin), and draws made
    on positions of each bin's own stimuli would then pair other stimuli in that bin. So every bin
    is prepared first (``prepare(**slices)`` returns the bin's kept ``stimulus_id`` in the canonical
    order and its state), then ``draw(state, union)`` draws over ``union``, every stimulus some bin
    keeps (canonical order), and uses the draws that fall on the bin's own stimuli. Both passes
    run through :func:`by_bins` (its checks, its per-bin errors and warnings, each said once).
    """
    prepared: list[Any] = []

    def first(**kw: Any) -> xr.Dataset:
        try:
            ids, state = prepare(**kw)
        except Exception as exc:  # the second pass raises it again at that bin, as by_bins expects
            prepared.append(exc)
            raise
        prepared.append(state)
        return xr.Dataset(coords={"stimulus_id": ("stimulus", np.asarray(ids))})

    with holding() as caught:  # this thread's warnings alone (no process-wide recorder)
        union = np.asarray(by_bins(first, args, timed, caller, names)["stimulus_id"].values)
        pending = iter(prepared)

        def second(**kw: Any) -> xr.Dataset:
            state = next(pending)
            if isinstance(state, Exception):
                raise state
            return draw(state, union)

        out = by_bins(second, args, timed, caller, names)
    for message, category in dict.fromkeys(caught):  # a bin's error said once
        warn(message, category)
    return out


def _same_attr(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(a, b)) if isinstance(a, (list, tuple, np.ndarray)) else bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _same_bins(a: xr.DataArray, b: xr.DataArray, names: tuple[str, str] = ("neural_a", "neural_b"),
               caller: str = "") -> xr.DataArray:
    """``b`` with its time bins in ``a``'s order (bins are paired by their start and end, not by
    position; both validated, so no bin is repeated); a one-line :class:`~neuroxr.errors.LayoutError`
    when the two hold other bins, starting with the function called ``caller`` and naming the inputs
    ``names`` (argument and label)."""
    key_a, key_b = ([tuple(map(float, t)) for t in zip(*(x.coords[c].values for c in TIME_BIN_COORDS))] for x in (a, b))
    if len(key_a) != len(key_b) or sorted(key_a) != sorted(key_b):
        raise LayoutError(
            f"{where(caller)}{names[0]}, {names[1]}: their time bins differ (time_bin_start/"
            f"time_bin_end); {_common_bins(key_a, key_b, names)} {_bins_apart(key_a, key_b, names)}"
        )
    pos = {k: i for i, k in enumerate(key_b)}
    return b if key_a == key_b else b.isel(time_bin=[pos[k] for k in key_a])


def _common_bins(key_a: list[tuple[float, float]], key_b: list[tuple[float, float]], names: tuple[str, str]) -> str:
    """How to give both inputs the bins they share, for :func:`_same_bins`' message: the positions to
    keep (``isel``; arrays built by ``nx.neural`` have no index on ``time_bin`` to ``sel`` by) of each
    input holding bins the other lacks."""
    shared = set(key_a) & set(key_b)
    if not shared:
        return "they share no bin (start and end); pass responses of the same time bins."
    keeps = [f"{code_name(nm)}.isel(time_bin={_positions_text([i for i, k in enumerate(key) if k in shared])})"
             for nm, key in zip(names, (key_a, key_b)) if set(key) - shared]
    return f"select the common bins first, e.g. {' and '.join(keeps)} so both hold the same bins."


def _positions_text(pos: list[int]) -> str:
    """Positions along ``time_bin`` as an ``isel`` argument: ``slice(a, b)`` for a run of more than 3, else the list."""
    return f"slice({pos[0]}, {pos[-1] + 1})" if len(pos) > 3 and pos == list(range(pos[0], pos[-1] + 1)) else str(pos)


def _bins_apart(key_a: list[tuple[float, float]], key_b: list[tuple[float, float]], names: tuple[str, str]) -> str:
    """Which (start, end) bins each input holds alone, for :func:`_same_bins`' message, and whether
    they pair up to float32 rounding (edges written in float32 by one recording, float64 by the other)."""
    only = [[k for k in x if k not in set(y)] for x, y in ((key_a, key_b), (key_b, key_a))]
    text = "Bins of " + "; of ".join(f"{nm} alone: {examples(o)}" for nm, o in zip(names, only) if o)
    close = len(only[0]) == len(only[1]) > 0 and np.allclose(sorted(only[0]), sorted(only[1]), rtol=2**-23, atol=0)
    return text + (" (equal up to float32 rounding: one input's edges were stored in float32; give both the same edges)."
                   if close else ".")


def by_bins(fn: Callable[..., xr.Dataset], args: dict[str, Any], timed: tuple[str, ...], caller: str = "",
            names: dict[str, str] | None = None) -> xr.Dataset:
    """Call direction ``fn`` on each bin's slice of the time-resolved inputs named in ``timed``.

    The inputs without ``time_bin`` are shared by every bin. Folds and split-half draws depend only
    on the seeds and sizes, so every bin gets the same ones. The messages start with the public
    function called, ``caller``, and name each input by its argument (``names``: the argument of
    each key of ``args``, where it differs) and label.
    """
    shown = {k: prep.named("", args[k], (names or {}).get(k, k)) for k in timed}
    arrays = {k: validate_neural(args[k], name=where(caller) + shown[k], check_values=False)
              for k in timed if has_time(args[k])}
    first_key = next(iter(arrays))
    first = arrays[first_key]
    arrays = {k: v if v is first else _same_bins(first, v, (shown[first_key], shown[k]), caller) for k, v in arrays.items()}
    rest = {k: v for k, v in args.items() if k not in arrays}
    out: list[xr.Dataset | None] = []
    seen: dict[tuple[str, type], list[int]] = {}
    empty: NothingToScore | None = None
    left: dict[int, dict[str, int]] = {}  # a bin's counts where missing values left too few stimuli (too_few_left)
    failed: list[tuple[int, NeuroxrError]] = []  # bins refused before any bin was scored
    for t in range(first.sizes["time_bin"]):
        with holding() as caught:  # one warning per message, naming its bins (this thread's alone)
            try:
                out.append(fn(**rest, **{k: bin_slice(v, t) for k, v in arrays.items()}))
            except NoPredictor as exc:  # this bin's design (a time-resolved input) is dead: name the bin
                raise _bin_error(exc, args, arrays, shown, t, caller) from None
            except NothingToScore as exc:  # a bin with no target to score: NaN there, as forward's one operator
                out.append(None)
                empty = exc
                left[t] = {**_predictors(arrays, timed, t), **(getattr(exc, "counts", None) or {})}
                seen.setdefault((f"{str(exc).rstrip('.')}: its numbers are NaN", NeuroxrWarning), []).append(t)
            except (LayoutError, ParameterError) as exc:  # refused at this bin: of this bin alone if another scores
                out.append(None)
                failed.append((t, exc))
        for said in caught:
            seen.setdefault(said, []).append(t)
        if failed and any(r is not None for r in out):  # a bin scores, another is refused: name the refused one
            _warn_seen(seen)  # the refused bin's warnings say why (e.g. the stimuli it excluded)
            raise _refused_bin(failed[0][1], args, arrays, shown, failed[0][0], caller) from None
    if failed:  # no bin scored: the static call's error, true of every bin
        raise failed[0][1]
    scored = [r for r in out if r is not None]
    if not scored:
        raise empty  # type: ignore[misc]  (no bin scored: the static call's error)
    _warn_seen(seen)
    # min_reliability judges split-half reliabilities only of data with repeats (else every target counts)
    judged = "min_reliability" in scored[0].attrs and all(v.sizes["repeat"] >= 2 for v in arrays.values())
    bins = merged_bins(first, [v for v in arrays.values() if v is not first])  # every input's bin labels
    return stack_bins([r if r is not None else _unscored(scored[0], judged, left.get(t)) for t, r in enumerate(out)], bins)


def _predictors(arrays: dict[str, xr.DataArray], timed: tuple[str, ...], t: int) -> dict[str, int]:
    """``n_predictors`` of bin ``t`` where the design (the first of ``timed``: reverse's ``neural``,
    inter-animal's ``neural_a``) is time-resolved: its neuroids with some valid trial there, as the
    direction counts them. A bin without any target to score has no result of its own to say it
    (another bin's count was shown)."""
    if timed[0] not in arrays:
        return {}
    return {"n_predictors": int(bin_slice(arrays[timed[0]], t).notnull().any(dim=["stimulus", "repeat"]).sum())}


def _warn_seen(seen: dict[tuple[str, type], list[int]]) -> None:
    """Each per-bin warning once, naming the bins it occurred in."""
    for (msg, category), bins in seen.items():
        shown = ", ".join(map(str, bins[:10])) + (", ..." if len(bins) > 10 else "")
        warn(f"{msg} (time bin{'s' if len(bins) > 1 else ''} {shown})", category)


def _refused_bin(exc: NeuroxrError, args: dict[str, Any], arrays: dict[str, xr.DataArray], shown: dict[str, str],
                 t: int, caller: str) -> NeuroxrError:
    """``exc``, raised by the direction on bin ``t`` alone while another bin is scored (e.g. a bin
    keeping fewer stimuli than ``n_folds``), naming that bin and how to drop it from every
    time-resolved input (its position in each user's array): the static message named no bin."""
    edges = tuple(float(arrays[next(iter(arrays))].coords[c].values[t]) for c in TIME_BIN_COORDS)
    drops = []
    for k in arrays:
        keys = list(zip(*(np.asarray(args[k].coords[c].values, float) for c in TIME_BIN_COORDS)))
        drops.append(f"{code_name(shown[k])}.drop_isel(time_bin={keys.index(edges)})")
    msg, head = str(exc), where(caller)
    body = msg[len(head):] if msg.startswith(head) else msg
    fix = (f"Or select the other bins, e.g. {drops[0]}" if len(drops) == 1 else  # the wording the command line rewords
           f"Or drop that bin from both animals, e.g. {' and '.join(drops)}")
    text = f"{head}time bin {t} ({edges[0]:g}-{edges[1]:g} ms): {body.rstrip()} {fix}."
    try:
        return type(exc)(text)
    except TypeError:  # an error class taking other arguments
        return LayoutError(text)


def _bin_error(exc: NoPredictor, args: dict[str, Any], arrays: dict[str, xr.DataArray], shown: dict[str, str],
               t: int, caller: str) -> LayoutError:
    """``exc``, raised by the direction on bin ``t`` of the time-resolved design ``arrays[k]``,
    naming that bin and the bins to keep (positions in the user's ``args[k]``); ``exc`` itself
    when it is about another input, or when no bin of the design has data (true of the whole array)."""
    msg = str(exc)
    for k, da in arrays.items():
        head = f"{where(caller)}{shown[k]}: "
        if not msg.startswith(head):
            continue
        edges = [float(da.coords[c].values[t]) for c in TIME_BIN_COORDS]
        own = args[k]  # the bins in the order the user gave them (arrays[k] may be reordered)
        keys = list(zip(*(np.asarray(own.coords[c].values, float) for c in TIME_BIN_COORDS)))
        pos = keys.index(tuple(edges))
        # the other time-resolved input (inter-animal's other animal) holds the same bins: selected alike, or
        # the two would then differ in their bins
        others = [(code_name(shown[o]), list(zip(*(np.asarray(args[o].coords[c].values, float) for c in TIME_BIN_COORDS))))
                  for o in arrays if o != k]
        if exc.no_data:  # the bins where some neuroid has a trial
            keep = np.flatnonzero(np.asarray(own.notnull().any(dim=["stimulus", "neuroid", "repeat"]).values))
            if not keep.size:
                return exc
            fix = f"Select the bins where it has data, e.g. {code_name(shown[k])}.isel(time_bin={keep.tolist()})" + "".join(
                f" and {o}.isel(time_bin={[ok.index(keys[i]) for i in keep]})" for o, ok in others)
        elif others:
            fix = (f"Or drop that bin from both animals, e.g. {code_name(shown[k])}.drop_isel(time_bin={pos})" + "".join(
                f" and {o}.drop_isel(time_bin={ok.index(keys[pos])})" for o, ok in others))
        else:
            fix = f"Or select the other bins, e.g. {code_name(shown[k])}.drop_isel(time_bin={pos})"
        return LayoutError(f"{head[:-2]}, time bin {pos} ({edges[0]:g}-{edges[1]:g} ms): {msg[len(head):]} {fix}.")
    return exc


def _unscored(scored: xr.Dataset, judged: bool, counts: dict[str, int] | None = None) -> xr.Dataset:
    """A bin without any target to score, laid out as another bin's result ``scored``: every number
    NaN (as forward's one operator leaves such a bin, and as an all-NaN target is scored), no
    stimulus kept (or ``counts``, the bin's own, where missing values left it fewer stimuli than the
    folds need: as forward's one operator counts that bin), ``included`` as for a target without
    reliabilities (False where ``judged`` by ``min_reliability``), a bootstrap's resamples all undefined."""
    ds = scored.isel(stimulus=slice(0, 0)) if "stimulus" in scored.dims else scored.copy()
    for name, v in ds.data_vars.items():
        if name == "included":
            ds[name] = v.copy(data=np.full(v.shape, not judged))
        elif name == "drawn":  # no target scored: none drawn among
            ds[name] = v.copy(data=np.zeros(v.shape, dtype=bool))
        elif name == "n_boot_undefined":  # every resample of a target never scored is undefined
            ds[name] = v.copy(data=np.full(v.shape, ds.sizes["boot"]))
        elif name == "median_ev_n_targets":
            ds[name] = v.copy(data=np.zeros(v.shape, dtype=v.dtype))
        elif v.dtype.kind == "f":
            ds[name] = v.copy(data=np.full(v.shape, np.nan))
    total = int(scored.attrs.get("n_stimuli", 0)) + int(scored.attrs.get("n_excluded_stimuli", 0))
    kept = {"n_stimuli": 0, "n_excluded_stimuli": total, "n_partial_targets": 0}  # the direction's counts, none kept
    ds.attrs.update({k: int(v) for k, v in {**kept, **(counts or {})}.items() if k in ds.attrs})
    return ds


def forward_bins(fn: Callable[..., xr.Dataset], args: dict[str, Any]) -> xr.Dataset:
    """Forward predictivity of time-resolved ``neural``: ``neuroid x time_bin`` are the targets of
    one out-of-fold operator (one design factorisation for every bin), then unflattened.

    ``fn`` is the static forward taking ``bins`` (the bin of each flattened target), which groups
    each bin's targets by their missing stimuli as a call on that bin alone would.
    """
    # the layout and time coords here; the values are checked once, by forward, on the flat copy
    neural = validate_neural(args["neural"], name=prep.named("forward", args["neural"], "neural"), check_values=False)
    k, nt = neural.sizes["neuroid"], neural.sizes["time_bin"]
    ids = np.asarray(neural.neuroid_id.values).astype(str)
    flat_ids = np.char.add(np.repeat(ids, nt), np.tile(np.array([f"{_SEP}{t}" for t in range(nt)]), k))
    n, T = neural.sizes["stimulus"], neural.sizes["repeat"]
    # the stimuli in the features' canonical order, flattened in one copy (forward then finds them
    # paired and in order; target j = neuroid j // nt, bin j % nt)
    order = np.arange(n)
    feats = args["features"]
    if isinstance(feats, xr.DataArray) and "stimulus_id" in feats.coords and feats.sizes.get("stimulus") == n:
        want = np.asarray(feats.stimulus_id.values).astype(str)[canonical_order(stimulus_ids(feats))]
        idx = pd.Index(stimulus_ids(neural)).get_indexer(want)
        if (idx >= 0).all():
            order = idx
    data = neural.data
    if isinstance(data, np.ndarray):
        values = np.empty((n, k, nt, T), dtype=data.dtype)
        for i, j in enumerate(order):  # one copy, C order, a stimulus at a time (cache-friendly)
            values[i] = data[j].transpose(0, 2, 1)
        values = values.reshape(n, k * nt, T)
    else:  # lazy (dask): the same, computed by forward
        values = data[order].transpose(0, 1, 3, 2).reshape(n, k * nt, T)
    flat = xr.DataArray(
        values, dims=("stimulus", "neuroid", "repeat"), name=neural.name,
        coords={"stimulus_id": ("stimulus", stimulus_ids(neural)[order]), "neuroid_id": ("neuroid", flat_ids)},
    )
    # each bin's targets grouped by their missing stimuli on their own (as a call on that bin); its
    # warnings count the flattened targets: said as (neuroid, time bin) targets, never as neuroids
    try:
        with holding() as caught:  # this thread's warnings alone
            ds = fn(**{**args, "neural": flat}, bins=np.tile(np.arange(nt), k))
    finally:  # said even where forward then refused the call
        for message, category in caught:
            warn(_as_bin_targets(message), category)
    ds = ds.drop_vars("neuroid_id")
    keep = target_coords(neural, "neuroid")  # named as the static forward names them
    per_bin = [ds.isel(neuroid=slice(t, None, nt)).assign_coords(keep) for t in range(nt)]
    # each bin's counts of its stimuli, as forward on that bin alone reports them: the one call
    # reports them per bin, as lists over the bins (the responses are read once)
    counts = {key: ds.attrs[key] for key in prep.TARGET_COUNTS}
    for t, b in enumerate(per_bin):
        b.attrs.update({key: v[t] for key, v in counts.items()})
    return stack_bins(per_bin, neural)
