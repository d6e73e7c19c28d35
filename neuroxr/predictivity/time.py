"""Time-resolved responses: the directions over every ``time_bin`` at once, and temporal generalisation.

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

:func:`temporal_generalization` fits the mapping at bin ``t1`` and tests it at bin ``t2``
(King & Dehaene 2014's temporal-generalisation matrix) for the forward and inter-animal directions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import canonical_order, stimulus_ids
from ..errors import LayoutError, NeuroxrWarning, code_name, examples, warn, where
from ..kernels.folds import stimulus_folds
from ..kernels.ridge_rank import eps_trace_risk
from ..kernels.splits import nanmean_repeats
from ..kernels.stats import pearson
from ..layouts import TIME_BIN_COORDS, has_time, validate_features, validate_neural
from ..sets import set_label
from ..time_bins import check_distinct_bins
from . import _prepare as prep
from ._groups import _pattern_groups, scored_groups, warn_unscored
from ._result import target_coords

__all__ = ["has_time", "bin_slice", "stack_bins", "forward_bins", "by_bins", "temporal_generalization",
           "validate_generalization"]

#: joins a neuroid id and a bin position into a flattened forward target's id (as warnings name
#: them, e.g. ``n3@bin2``; unique since the added suffix is the last ``@bin`` followed by digits)
_SEP = "@bin"


def bin_slice(da: xr.DataArray, t: int) -> xr.DataArray:
    """Bin ``t`` of time-resolved responses as an ordinary ``stimulus x neuroid x repeat`` array."""
    return da.isel(time_bin=t).drop_vars([c for c in TIME_BIN_COORDS if c in da.coords])


def _bin_coords(da: xr.DataArray | xr.Dataset, prefix: str = "time_bin") -> dict[str, Any]:
    return {f"{prefix}_{k.split('_')[-1]}": (prefix, np.asarray(da.coords[k].values)) for k in TIME_BIN_COORDS}


#: variables over ``stimulus`` whose values are positions into the ``stimulus_id`` coord (a
#: bootstrap's drawn stimuli), renumbered when the bins are put on their common stimuli
_POSITIONS = ("boot_index",)


def stack_bins(results: list[xr.Dataset], bins: xr.DataArray) -> xr.Dataset:
    """Per-bin score datasets joined along a last dim ``time_bin`` carrying ``bins``' time coords.

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
            f"time_bin_end); select the common bins first, e.g. {code_name(names[1])}.sel(time_bin=...) so both hold "
            f"the same bins."
        )
    pos = {k: i for i, k in enumerate(key_b)}
    return b if key_a == key_b else b.isel(time_bin=[pos[k] for k in key_a])


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
    empty: prep.NothingToScore | None = None
    for t in range(first.sizes["time_bin"]):
        with warnings.catch_warnings(record=True) as caught:  # one warning per message, naming its bins
            warnings.simplefilter("always")
            try:
                out.append(fn(**rest, **{k: bin_slice(v, t) for k, v in arrays.items()}))
            except prep.NothingToScore as exc:  # a bin with no target to score: NaN there, as forward's one operator
                out.append(None)
                empty = exc
                seen.setdefault((f"{str(exc).rstrip('.')}: its numbers are NaN", NeuroxrWarning), []).append(t)
        for w in caught:
            seen.setdefault((str(w.message), w.category), []).append(t)
    scored = [r for r in out if r is not None]
    if not scored:
        raise empty  # type: ignore[misc]  (no bin scored: the static call's error)
    for (msg, category), bins in seen.items():
        shown = ", ".join(map(str, bins[:10])) + (", ..." if len(bins) > 10 else "")
        warn(f"{msg} (time bins {shown})", category)
    # min_reliability judges split-half reliabilities only of data with repeats (else every target counts)
    judged = "min_reliability" in scored[0].attrs and all(v.sizes["repeat"] >= 2 for v in arrays.values())
    return stack_bins([r if r is not None else _unscored(scored[0], judged) for r in out], first)


def _unscored(scored: xr.Dataset, judged: bool) -> xr.Dataset:
    """A bin without any target to score, laid out as another bin's result ``scored``: every number
    NaN (as forward's one operator leaves such a bin, and as an all-NaN target is scored), no
    stimulus kept, ``included`` as for a target without reliabilities (False where ``judged`` by
    ``min_reliability``), a bootstrap's resamples all undefined."""
    ds = scored.isel(stimulus=slice(0, 0)) if "stimulus" in scored.dims else scored.copy()
    for name, v in ds.data_vars.items():
        if name == "included":
            ds[name] = v.copy(data=np.full(v.shape, not judged))
        elif name == "n_boot_undefined":  # every resample of a target never scored is undefined
            ds[name] = v.copy(data=np.full(v.shape, ds.sizes["boot"]))
        elif name == "median_ev_n_targets":
            ds[name] = v.copy(data=np.zeros(v.shape, dtype=v.dtype))
        elif v.dtype.kind == "f":
            ds[name] = v.copy(data=np.full(v.shape, np.nan))
    total = int(scored.attrs.get("n_stimuli", 0)) + int(scored.attrs.get("n_excluded_stimuli", 0))
    counts = {"n_stimuli": 0, "n_excluded_stimuli": total, "n_partial_targets": 0}  # the direction's counts, none kept
    ds.attrs.update({k: v for k, v in counts.items() if k in ds.attrs})
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
    # each bin's targets grouped by their missing stimuli on their own (as a call on that bin)
    ds = fn(**{**args, "neural": flat}, bins=np.tile(np.arange(nt), k))
    ds = ds.drop_vars("neuroid_id")
    keep = target_coords(neural, "neuroid")  # named as the static forward names them
    per_bin = [ds.isel(neuroid=slice(t, None, nt)).assign_coords(keep) for t in range(nt)]
    # each bin's counts of its stimuli, as forward on that bin alone reports them: the one call
    # reports them per bin, as lists over the bins (the responses are read once)
    counts = {key: ds.attrs[key] for key in prep.TARGET_COUNTS}
    for t, b in enumerate(per_bin):
        b.attrs.update({key: v[t] for key, v in counts.items()})
    return stack_bins(per_bin, neural)


# ---------------------------------------------------------------------------- temporal generalisation
def _ridge_fit(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge with an intercept (scikit-learn's ``Ridge(alpha)``): weights ``W`` (p, q) and intercept ``b`` (q,)."""
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - xm, Y - ym
    n, p = Xc.shape
    if eps_trace_risk(float(np.sum(Xc * Xc)), alpha):
        # rounding of a (numerically) rank-deficient Gram would be amplified by 1 / alpha
        # (kernels.ridge_rank): scikit-learn's SVD solution, whose null space is exactly zero
        U, sv, Vt = np.linalg.svd(Xc, full_matrices=False)
        d = np.where(sv > 1e-15, sv / (sv * sv + alpha), 0.0)
        W = Vt.T @ (d[:, None] * (U.T @ Yc))
    elif p <= n:
        W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(p), Xc.T @ Yc)
    else:  # dual form, same solution
        W = Xc.T @ np.linalg.solve(Xc @ Xc.T + alpha * np.eye(n), Yc)
    return W, ym - xm @ W


def _trial_means(da: xr.DataArray, values: np.ndarray) -> np.ndarray:
    """``stimulus x neuroid x time_bin`` means over the valid repeats of ``values`` (``da`` loaded);
    NaN where a (stimulus, neuroid, bin) has none."""
    M = nanmean_repeats(np.moveaxis(values, 3, 2).reshape(da.sizes["stimulus"], -1, da.sizes["repeat"]))
    return M.reshape(da.sizes["stimulus"], da.sizes["neuroid"], da.sizes["time_bin"])


def check_generalization_params(alpha: Any, n_folds: Any, fold_seed: Any, caller: str = "") -> None:
    """:func:`temporal_generalization`'s parameters checked before any data is read (one-line
    :class:`~neuroxr.errors.ParameterError` starting with ``caller``, as the directions check them)."""
    prep.check_params(reps=1, seed=0, split="valid", regressor="ridge", max_n=None, backend=None,
                      dtype="float64", alpha=alpha, n_folds=n_folds, fold_seed=fold_seed, caller=caller)


def temporal_generalization(
    source: xr.DataArray,
    neural: xr.DataArray,
    *,
    alpha: float = 0.1,
    n_folds: int = 10,
    fold_seed: int = 0,
) -> xr.Dataset:
    """Temporal generalisation: fit the ridge mapping at bin ``t1``, test it at bin ``t2``.

    Parameters
    ----------
    source : DataArray
        The design: model features ``(stimulus, unit)`` (model -> brain, the forward direction) or
        time-resolved responses of animal A ``(stimulus, neuroid, repeat, time_bin)``
        (inter-animal), with the same time bins as ``neural``.
    neural : DataArray, dims (stimulus, neuroid, repeat, time_bin)
        The targets (animal B), paired with ``source`` by ``stimulus_id``.
    alpha : float, default 0.1
        Ridge penalty (with an intercept, scikit-learn's ``Ridge(alpha)``).
    n_folds, fold_seed : int, default 10 and 0
        The directions' folds over the canonical stimulus order (sorted ``stimulus_id``).

    Returns
    -------
    xarray.Dataset, dims (neuroid, time_bin_train, time_bin_test)
        ``r``: Pearson r over stimuli between the out-of-fold predictions and the trial-mean
        responses at ``t2`` of a ridge fitted on the training folds at ``t1`` (forward: the
        predictions from the features; inter-animal: the weights fitted on A's and B's bin ``t1``
        applied to A's bin ``t2``). Coords: ``neuroid``'s coords, ``time_bin_train_start/end``,
        ``time_bin_test_start/end``. Uncorrected by a noise ceiling: the diagonal equals the
        directions' ``r`` (``noise_ceiling=False``); the per-bin ceilings come from the direction.

        Missing values (docs/time.md): a (neuroid, ``t1``, ``t2``) target is scored on the stimuli
        where the neuroid has a valid trial at both bins (and, inter-animal, every predictor
        neuroid of A has one at both), folds drawn over those; the other targets are unaffected,
        and the diagonal stays the directions' ``r``. A neuroid of B with no valid trial in a bin
        has NaN targets at that bin (as train or test bin), with one warning. Inter-animal, the
        predictors of a pair are A's neuroids with a valid trial at both bins: one without any in
        a bin is left out of that bin's pairs only (as the direction leaves it out of that bin).
        Attrs ``n_stimuli`` (stimuli some target keeps), ``n_excluded_stimuli`` (the others) and
        ``n_partial_targets`` (targets on fewer than ``n_stimuli``, as the directions count them) count them.
    """
    check_generalization_params(alpha, n_folds, fold_seed, "temporal_generalization")
    caller = "temporal_generalization"  # the messages start with it and name the inputs with their labels
    nname, sname = prep.named(caller, neural, "neural"), prep.named(caller, source, "source")
    if not has_time(neural):
        raise LayoutError(f"{nname}: temporal generalisation needs a 'time_bin' dim; build it with "
                          f"nx.neural(..., time_bins=...).")
    neural = validate_neural(neural, name=nname)
    animal = isinstance(source, xr.DataArray) and "neuroid" in source.dims
    if animal:
        if not has_time(source):
            raise LayoutError(f"{sname}: neural responses without 'time_bin'; inter-animal generalisation needs both "
                              f"animals time-resolved.")
        source = validate_neural(source, name=sname)
        source = _same_bins(neural, source, (prep.named("", neural, "neural"), prep.named("", source, "source")), caller)
    else:
        source = validate_features(source, name=sname)
    neural, source, _ = prep.pair(neural, source, ("neural", "source"), caller)
    RB = prep.load(neural, nname)
    B = _trial_means(neural, RB)  # (n, k, nt)
    okB = np.isfinite(B)
    nids = np.asarray(neural.neuroid_id.values)
    nt = B.shape[2]
    if animal:  # as inter-animal: a target neuroid among the predictors with its own responses
        RA = prep.load(source, sname)
        prep.warn_shared_recordings(RA, RB, source.neuroid_id.values, nids, (prep.named("", source, "source"), nname))
        used = prep.nan_neuroids(RA.reshape(RA.shape[0], RA.shape[1], -1), source.neuroid_id.values, sname,
                                 predictor=True)
        X = _trial_means(source, RA)[:, used]  # (n, ka, nt)
        sets, D, no_predictor = _predictor_sets(X, np.asarray(source.neuroid_id.values)[used], sname)
    else:
        X = prep.load(source, sname)
        sets, D, no_predictor = [(None, np.ones((nt, nt), dtype=bool))], None, np.zeros((nt, nt), dtype=bool)
    counts, keep = _valid_counts(okB, D)
    ids = stimulus_ids(neural)
    if not keep.any():
        raise LayoutError(f"{nname}: no stimulus has a valid trial mean for any (neuroid, time bin); nothing to score.")
    if not keep.all():
        warn(f"{nname}: excluding {int((~keep).sum())} of {keep.size} stimuli without a valid trial mean for any "
                  f"(neuroid, time bin), e.g. {examples(ids[~keep])}.")
        B, X, okB, D = B[keep], X[keep], okB[keep], None if D is None else D[keep]
    if not animal:
        prep.check_design(X, sname, prep.float32_cause(source))  # fitted in float64
    else:  # A's trial means at each bin are a design: the direction refuses a constant one (never an intercept's r)
        for t in range(nt):
            live = np.isfinite(X[:, :, t]).any(axis=0)
            Xt = X[:, live, t]
            prep.check_design(Xt[np.isfinite(Xt).all(axis=1)], f"{sname}, time bin {t}")
    # a neuroid without any valid trial mean in a bin: its targets with that bin are NaN (as the
    # directions leave an all-NaN neuroid); the other incomplete targets are scored on their stimuli
    dead = _dead_bins(okB, nids, nname, "their targets with that bin (as train or test bin) are NaN")
    dead = dead[:, :, None] | dead[:, None, :] | no_predictor[None]
    complete = counts == B.shape[0]  # (neuroid, t1, t2) valid on every kept stimulus
    partial = ~complete & ~dead
    r = np.full(partial.shape, np.nan)
    unscored = np.zeros(partial.shape, dtype=bool)  # partial targets in a group with too few stimuli
    most = 0  # the most stimuli of such a group
    if partial.any():
        warn(f"{nname}: {int(partial.sum())} (neuroid, train bin, test bin) targets of "
                  f"{int(partial.any(axis=(1, 2)).sum())} neuroids lack a valid trial mean (of the neuroid"
                  f"{', or of a source neuroid' if animal else ''}) on some stimuli at those bins; each is scored "
                  f"on the stimuli valid at both bins (folds drawn over those), the other targets are unaffected.")
    Bf = B if okB.all() else np.where(okB, B, 0.0)  # the complete targets' values are finite
    for P, pairs in sets:  # the (t1, t2) pairs sharing a predictor set (one set when forward)
        XP = X if P is None else X[:, P]
        done = complete & pairs
        if done.any():
            folds = stimulus_folds(B.shape[0], n_folds, fold_seed, f"{caller}: source/neural")
            train = np.flatnonzero(done.any(axis=(0, 2)))
            r[done] = _generalize(Bf, np.nan_to_num(XP) if animal else XP, folds, alpha, animal, train)[done]
        todo = partial & pairs
        if todo.any():
            most = max(most, _partial_targets(r, unscored, todo, okB, D, B, XP, alpha, animal, n_folds, fold_seed, nname))
    if unscored.any():  # one warning for every pair (the direction's, per bin)
        warn_unscored(nname, int(unscored.sum()), most, examples(_labels(nids, *np.nonzero(unscored))), n_folds,
                      "(neuroid, train bin, test bin) targets")
    coords = target_coords(neural, "neuroid")  # the directions' one rule
    for which in ("train", "test"):
        coords.update(_bin_coords(neural, f"time_bin_{which}"))
    ds = xr.Dataset({"r": (("neuroid", "time_bin_train", "time_bin_test"), r)}, coords=coords)
    ds["r"].attrs.update(long_name="Pearson r of predictions from a fit at time_bin_train with responses at time_bin_test")
    ds.attrs.update(
        direction="inter_animal" if animal else "forward", analysis="temporal_generalization",
        source=set_label(source, "source"), target=set_label(neural, "neural"), alpha=float(alpha),
        n_folds=int(n_folds), fold_seed=int(fold_seed), stimulus_order="sorted stimulus_id",
        n_stimuli=int(keep.sum()), n_excluded_stimuli=int((~keep).sum()), n_partial_targets=int(partial.sum()),
    )
    return ds


def _labels(nids: np.ndarray, j: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> list[str]:
    """Targets named as in the warnings: ``n3 (0->2)`` (neuroid, train bin -> test bin)."""
    return [f"{nids[a]} ({b}->{c})" for a, b, c in zip(j, t1, t2)]


def _dead_bins(ok: np.ndarray, ids: np.ndarray, name: str, what: str) -> np.ndarray:
    """``(neuroid, bin)`` without any valid trial mean in ``ok`` (n, k, nt), with one warning
    naming them (e.g. ``n3 (bins 1, 2)``) and ``what`` follows from it."""
    dead = ~ok.any(axis=0)
    rows = np.flatnonzero(dead.any(axis=1))
    if rows.size:
        named = [f"{ids[j]} (bins {', '.join(map(str, np.flatnonzero(dead[j])))})" for j in rows]
        warn(f"{name}: {rows.size} neuroids have no valid trial mean in some time bins: "
                  f"{examples(named)}; {what}.")
    return dead


def _predictor_sets(X: np.ndarray, ids: np.ndarray, name: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """The predictors of each (t1, t2) pair from A's trial means ``X`` (n, ka, nt): A's neuroids with
    a valid trial mean at both bins (the inter-animal direction leaves a neuroid without any at a bin
    out of that bin's predictor). Returns ``[(predictors (ka,), pairs (nt, nt)), ...]``, one per
    distinct set, and ``D`` (n, nt, nt): the stimuli where each pair's predictors all have a mean at
    both bins (a predictor's missing mean touches every target of the pair), and the (nt, nt) pairs
    without any predictor (their targets are NaN, never an intercept's ``r``). ``name``: the
    source as the messages name it."""
    live = ~_dead_bins(np.isfinite(X), ids, name, "each is left out of the predictors of the (train bin, "
                      "test bin) pairs with that bin")
    if not live.any(axis=0).all():
        raise LayoutError(f"{name}: no neuroid has a valid trial mean in time bins "
                          f"{np.flatnonzero(~live.any(axis=0)).tolist()}; select the other bins of both animals.")
    n, ka, nt = X.shape
    per_pair = (live[:, :, None] & live[:, None, :]).reshape(ka, -1).T  # (nt * nt, ka)
    patterns, inverse = np.unique(per_pair, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    D = np.empty((n, nt * nt), dtype=bool)
    none = np.zeros(nt * nt, dtype=bool)
    sets = []
    for g, P in enumerate(patterns):
        pairs = inverse == g
        if not P.any():  # no neuroid of A has data at both bins: nothing to fit
            empty = [(int(i) // nt, int(i) % nt) for i in np.flatnonzero(pairs)]
            warn(f"{name}: no neuroid has a valid trial mean at both bins of the (train bin, test bin) "
                 f"pairs {empty}; their targets are NaN.")
            D[:, pairs], none[pairs] = False, True  # no stimulus serves them: the pairs are dead
            continue
        f = np.isfinite(X[:, P]).all(axis=1)  # (n, nt)
        D[:, pairs] = (f[:, :, None] & f[:, None, :]).reshape(n, -1)[:, pairs]
        sets.append((P, pairs.reshape(nt, nt)))
    return sets, D.reshape(n, nt, nt), none.reshape(nt, nt)


def _valid_counts(ok: np.ndarray, D: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per (neuroid, t1, t2) the number of stimuli valid at both bins (``ok`` (n, k, nt): a trial
    mean; ``D`` (n, nt, nt): the predictors', inter-animal), and the stimuli some target keeps."""
    n, k, nt = ok.shape
    if ok.all() and (D is None or D.all()):  # complete data: no pass over the targets
        return np.full((k, nt, nt), n, dtype=np.int64), np.ones(n, dtype=bool)
    counts = np.empty((k, nt, nt), dtype=np.int64)
    keep = np.zeros(n, dtype=bool)
    for t1 in range(nt):
        v = ok[:, :, t1, None] & ok
        if D is not None:
            v &= D[:, None, t1, :]
        counts[:, t1] = v.sum(axis=0)
        keep |= v.any(axis=(1, 2))
    return counts, keep


def _fold_predictions(n: int, folds: Any, alpha: float, fit_rows: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                      apply: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """The one ridge fold loop of temporal generalisation: per fold ``(train, test)`` of the ``n``
    stimuli a ridge fitted on ``fit_rows(train)`` (design and targets at the training bin), and
    ``apply(test, W, b)`` the predictions of the test stimuli (at the test bins). Returns them,
    ``(n, ...)`` in stimulus order."""
    P = None
    for train, test in folds:
        W, b = _ridge_fit(*fit_rows(train), alpha)
        out = apply(test, W, b)
        if P is None:
            P = np.empty((n, *out.shape[1:]))
        P[test] = out
    return P


def _generalize(B: np.ndarray, X: np.ndarray, folds: Any, alpha: float, animal: bool, train: np.ndarray) -> np.ndarray:
    """``r`` (k, nt, nt) of every target on every stimulus of ``B`` (n, k, nt) from the design ``X``
    (features (n, p), or A's trial means (n, ka, nt)), for the training bins ``train`` (NaN at the others)."""
    n, k, nt = B.shape
    r = np.full((k, nt, nt), np.nan)
    if animal:
        for t1 in train:  # A's weights at t1 applied to A at every t2
            P = _fold_predictions(n, folds, alpha, lambda tr, t1=t1: (X[tr, :, t1], B[tr, :, t1]),
                                  lambda test, W, b: np.einsum("sat,ak->skt", X[test], W) + b[None, :, None])
            r[:, t1, :] = pearson(P.reshape(n, -1), B.reshape(n, -1)).reshape(k, nt)  # P[:, :, t2] vs B[:, :, t2]
        return r
    Y = B.reshape(n, k * nt)
    P = _fold_predictions(n, folds, alpha, lambda tr: (X[tr], Y[tr]), lambda test, W, b: X[test] @ W + b).reshape(n, k, nt)
    for t1 in train:  # the predictions fitted at t1 against the responses at every t2
        Pt = np.broadcast_to(P[:, :, t1, None], (n, k, nt)).reshape(n, -1)
        r[:, t1, :] = pearson(Pt, B.reshape(n, -1)).reshape(k, nt)
    return r


def _partial_targets(r: np.ndarray, unscored: np.ndarray, todo: np.ndarray, ok: np.ndarray, D: np.ndarray | None,
                     B: np.ndarray, X: np.ndarray, alpha: float, animal: bool, n_folds: int, fold_seed: int,
                     name: str = "neural") -> int:
    """``r`` of the targets ``todo`` (neuroid, t1, t2), in place: each on the stimuli valid at both
    bins (``ok`` and, inter-animal, ``D`` of :func:`_valid_counts`; ``X`` holds the pairs'
    predictors), the targets of one (train bin, test bin) pair grouped by those stimuli over the
    stimuli the pair keeps (the directions' grouping, :func:`prep.target_groups`: one fit per group
    and fold, the :data:`~neuroxr.predictivity._groups.MAX_GROUPS` limit and fallback counted per
    pair over ALL its incomplete targets, those with fewer stimuli than folds included, so the
    diagonal pair ``(t, t)`` groups its targets as the direction groups bin ``t``). The targets of
    the groups :func:`~neuroxr.predictivity._groups.scored_groups` leaves out are marked in
    ``unscored`` (the caller warns once for every pair); returns their groups' most stimuli (0: none).
    ``name``: the responses as the messages name them (after the function called)."""
    nt = B.shape[2]
    most = 0
    for t1, t2 in zip(*np.nonzero(todo.any(axis=0))):
        js = np.flatnonzero(todo[:, t1, t2])
        both = ok[:, :, t1] & ok[:, :, t2]  # (n, k): every neuroid's valid stimuli at the pair
        if D is not None:
            both &= D[:, t1, t2, None]
        kept = np.flatnonzero(both.any(axis=1))  # the stimuli the pair keeps (a call on bin t keeps, t1 = t2 = t)
        shown = f"{name} (train time bin {t1}, test time bin {t2})" if nt > 1 else name
        groups, small = scored_groups(_pattern_groups(both[np.ix_(kept, js)], shown), n_folds)
        for rows, cols in small:  # NaN, as the direction leaves such a group
            unscored[js[cols], t1, t2] = True
            most = max(most, int(rows.sum()))
        for rows, cols in groups:
            S, J = kept[rows], js[cols]

            def fit_rows(tr, S=S, J=J, t1=t1):
                return X[S[tr], :, t1] if animal else X[S[tr]], B[S[tr]][:, J, t1]

            def apply(test, W, b, S=S, t2=t2):  # fitted at t1, applied to the design at t2 (inter-animal)
                return (X[S[test]][:, :, t2] if animal else X[S[test]]) @ W + b

            P = _fold_predictions(S.size, stimulus_folds(S.size, n_folds, fold_seed,
                                                                        "temporal_generalization: source/neural"), alpha, fit_rows, apply)
            r[J, t1, t2] = pearson(P, B[S][:, J, t2])
    return most


_TG_DIMS = ("time_bin_train", "time_bin_test")


def validate_generalization(ds: xr.Dataset, name: str = "temporal generalisation") -> xr.Dataset:
    """Check the layout of a temporal-generalisation result (:func:`temporal_generalization`) and return it.

    A Dataset with a numeric variable ``r`` over ``(neuroid, time_bin_train, time_bin_test)``,
    the coords ``time_bin_train_start/end`` and ``time_bin_test_start/end`` (ms, start < end, no
    bin repeated) and the attr ``direction`` (``"forward"`` or ``"inter_animal"``).
    """
    if not isinstance(ds, xr.Dataset) or "r" not in ds.data_vars:
        found = sorted(map(str, ds.data_vars)) if isinstance(ds, xr.Dataset) else type(ds).__name__
        raise LayoutError(f"{name}: expected a Dataset with a variable 'r'; found {found}. Compute it with "
                          f"nx.temporal_generalization.")
    r = ds["r"]
    if r.dims != ("neuroid", *_TG_DIMS) or r.dtype.kind != "f":
        raise LayoutError(f"{name}: variable 'r' must be float over ('neuroid', {_TG_DIMS[0]!r}, {_TG_DIMS[1]!r}); "
                          f"found dims {r.dims} and dtype {r.dtype}.")
    for dim in _TG_DIMS:
        start, end = f"{dim}_start", f"{dim}_end"
        if start not in ds.coords or end not in ds.coords or ds[start].dims != (dim,) or ds[end].dims != (dim,):
            raise LayoutError(f"{name}: dim {dim!r} needs the coords {start!r} and {end!r} (ms) on it.")
        if not (np.asarray(ds[start].values, float) < np.asarray(ds[end].values, float)).all():
            raise LayoutError(f"{name}: coords {start!r} < {end!r} must hold for every bin.")
        check_distinct_bins(ds[start].values, ds[end].values, name, dim)
    if ds.attrs.get("direction") not in ("forward", "inter_animal"):
        raise LayoutError(f"{name}: attr 'direction' must be 'forward' or 'inter_animal'; found {ds.attrs.get('direction')!r}.")
    return ds
