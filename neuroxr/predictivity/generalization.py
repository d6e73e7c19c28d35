"""Temporal generalisation (King & Dehaene 2014): the ridge mapping fitted at time bin ``t1`` and
tested at bin ``t2``, for the forward (model -> brain) and inter-animal directions
(docs/time.md, "Temporal generalisation"). The directions over every bin at once are in
:mod:`neuroxr.predictivity.time`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import stimulus_ids
from ..errors import LayoutError, NoPredictor, examples, warn
from ..kernels.folds import stimulus_folds
from ..kernels.ridge_rank import eps_trace_risk
from ..kernels.splits import nanmean_repeats
from ..kernels.stats import pearson
from ..layouts import has_time, validate_features, validate_neural
from ..sets import set_label
from ..time_bins import TIME_BIN_COORDS, check_bin_edges
from . import _prepare as prep
from ._groups import _pattern_groups, scored_groups, split_constant, warn_constant_designs, warn_unscored
from ._result import target_coords
from .time import _bin_coords, _same_bins, merged_bins

__all__ = ["temporal_generalization", "validate_generalization", "check_generalization_params"]


def _ridge_fit(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge with an intercept (scikit-learn's ``Ridge(alpha)``): weights ``W`` (p, q) and intercept ``b`` (q,)."""
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - xm, Y - ym
    n, p = Xc.shape
    if alpha == 0:  # least squares: scikit-learn's minimum-norm solution where Xc is rank-deficient (p > n, equal units)
        W = np.linalg.lstsq(Xc, Yc, rcond=None)[0]
        return W, ym - xm @ W
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
        ``time_bin_test_start/end`` (and the target's other coords on ``time_bin``, renamed so). Uncorrected by a noise ceiling: the diagonal equals the
        directions' ``r`` (``noise_ceiling=False``); the per-bin ceilings come from the direction.

        Missing values (docs/time.md): a (neuroid, ``t1``, ``t2``) target is scored on the stimuli
        where the neuroid has a valid trial at both bins (and, inter-animal, every predictor
        neuroid of A has one at both), folds drawn over those; the other targets are unaffected,
        and the diagonal stays the directions' ``r``. A neuroid of B with no valid trial in a bin,
        or with trial means constant across its stimuli there (up to rounding), has NaN targets at
        that bin (as train or test bin), with one warning. Inter-animal, the
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
        own = source  # its bins as the user gave them: the messages name them so
        source = _same_bins(neural, source, (prep.named("", neural, "neural"), prep.named("", source, "source")), caller)
        src_pos = _positions(own, source)
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
        sets, D, no_predictor = _predictor_sets(X, np.asarray(source.neuroid_id.values)[used], sname, src_pos)
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
            try:
                prep.check_design(Xt[np.isfinite(Xt).all(axis=1)], f"{sname}, {_bin_name(source, t, src_pos)}")
            except NoPredictor as exc:  # both animals hold the same bins: drop it from both
                raise LayoutError(f"{exc} Or drop that bin from both animals, e.g. source.drop_isel(time_bin="
                                  f"{src_pos[t]}) and neural.drop_isel(time_bin={t}).") from None
    # a neuroid without any valid trial mean in a bin: its targets with that bin are NaN (as the
    # directions leave an all-NaN neuroid); the other incomplete targets are scored on their stimuli
    dead = _dead_bins(okB, nids, nname, "their targets with that bin (as train or test bin) are NaN")
    # a neuroid constant across its stimuli in a bin (the directions' rule, on its trial means there):
    # its targets with that bin are NaN, with one warning, as the directions leave that bin's target
    const = np.zeros(dead.shape, dtype=bool)
    if (~dead).any():
        labels = np.array([f"{nids[j]} (bin {t})" for j, t in zip(*np.nonzero(~dead))])
        const[~dead] = prep.warn_constant_targets(B[:, ~dead], labels, nname, "(neuroid, time bin) pairs")
    dead = dead[:, :, None] | dead[:, None, :] | no_predictor[None]
    complete = counts == B.shape[0]  # (neuroid, t1, t2) valid on every kept stimulus
    partial = ~complete & ~dead
    r = np.full(partial.shape, np.nan)
    unscored = np.zeros(partial.shape, dtype=bool)  # partial targets in a group with too few stimuli
    dead_design = np.zeros(partial.shape, dtype=bool)  # partial targets whose stimuli leave the design constant
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
            most = max(most, _partial_targets(r, unscored, todo, okB, D, B, XP, alpha, animal, n_folds, fold_seed, dead_design))
    warn_constant_designs(nname, prep.named("", source, "source"), _labels(nids, *np.nonzero(dead_design)),
                          "(neuroid, train bin, test bin) targets")
    if unscored.any():  # one warning for every pair (the direction's, per bin)
        warn_unscored(nname, int(unscored.sum()), most, examples(_labels(nids, *np.nonzero(unscored))), n_folds,
                      "(neuroid, train bin, test bin) targets")
    r[const[:, :, None] | const[:, None, :]] = np.nan  # never an r from rounding (up to it, pearson may give one)
    coords = target_coords(neural, "neuroid")  # the directions' one rule
    bins = merged_bins(neural, [source] if animal else [])  # the target's bin coords, and the source's it lacks
    for which in ("train", "test"):
        coords.update(_bin_coords(bins, f"time_bin_{which}"))
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


def _positions(own: xr.DataArray, reordered: xr.DataArray) -> list[int]:
    """The position in ``own`` (the user's array) of each bin of ``reordered`` (its bins in another
    order), paired by their edges."""
    keys = list(zip(*(np.asarray(own.coords[c].values, float) for c in TIME_BIN_COORDS)))
    return [keys.index(k) for k in zip(*(np.asarray(reordered.coords[c].values, float) for c in TIME_BIN_COORDS))]


def _bin_name(da: xr.DataArray, t: int, positions: list[int]) -> str:
    """Bin ``t`` of ``da`` as the messages name it: its position in the user's array and its edges."""
    start, end = (float(da.coords[c].values[t]) for c in TIME_BIN_COORDS)
    return f"time bin {positions[t]} ({start:g}-{end:g} ms)"


def _dead_bins(ok: np.ndarray, ids: np.ndarray, name: str, what: str, positions: list[int] | None = None) -> np.ndarray:
    """``(neuroid, bin)`` without any valid trial mean in ``ok`` (n, k, nt), with one warning
    naming them (e.g. ``n3 (bins 1, 2)``; ``positions``: each bin's position in the user's array)
    and ``what`` follows from it."""
    dead = ~ok.any(axis=0)
    rows = np.flatnonzero(dead.any(axis=1))
    if rows.size:
        pos = np.arange(dead.shape[1]) if positions is None else np.asarray(positions)
        named = [f"{ids[j]} (bins {', '.join(map(str, sorted(pos[dead[j]])))})" for j in rows]
        warn(f"{name}: {rows.size} neuroids have no valid trial mean in some time bins: "
                  f"{examples(named)}; {what}.")
    return dead


def _predictor_sets(X: np.ndarray, ids: np.ndarray, name: str,
                    positions: list[int]) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """The predictors of each (t1, t2) pair from A's trial means ``X`` (n, ka, nt): A's neuroids with
    a valid trial mean at both bins (the inter-animal direction leaves a neuroid without any at a bin
    out of that bin's predictor). Returns ``[(predictors (ka,), pairs (nt, nt)), ...]``, one per
    distinct set, and ``D`` (n, nt, nt): the stimuli where each pair's predictors all have a mean at
    both bins (a predictor's missing mean touches every target of the pair), and the (nt, nt) pairs
    without any predictor (their targets are NaN, never an intercept's ``r``). ``name``: the
    source as the messages name it; ``positions``: each bin's position in the user's source."""
    live = ~_dead_bins(np.isfinite(X), ids, name, "each is left out of the predictors of the (train bin, "
                      "test bin) pairs with that bin", positions)
    if not live.any(axis=0).all():
        empty = sorted(positions[t] for t in np.flatnonzero(~live.any(axis=0)))
        kept = np.flatnonzero(live.any(axis=0)).tolist()  # bins of the target's order (the source's at ``positions``)
        raise LayoutError(f"{name}: no neuroid has a valid trial mean in its time bins {empty}; select the other bins of "
                          f"both animals, e.g. source.isel(time_bin={[positions[t] for t in kept]}) and "
                          f"neural.isel(time_bin={kept}).")
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
                     constant: np.ndarray) -> int:
    """``r`` of the targets ``todo`` (neuroid, t1, t2), in place: each on the stimuli valid at both
    bins (``ok`` and, inter-animal, ``D`` of :func:`_valid_counts`; ``X`` holds the pairs'
    predictors), the targets of one (train bin, test bin) pair grouped by those stimuli over the
    stimuli the pair keeps (the directions' grouping, :func:`prep.target_groups`: one fit per group
    and fold, each pattern of usable stimuli its own group, so the diagonal pair ``(t, t)`` groups
    its targets as the direction groups bin ``t``). The targets of
    the groups :func:`~neuroxr.predictivity._groups.scored_groups` leaves out are marked in
    ``unscored`` (the caller warns once for every pair); returns their groups' most stimuli (0: none).
    A group whose design at the train bin is constant on its stimuli (it varies only where they miss) is
    NaN, marked in ``constant`` (never an r of the training folds' means)."""
    most = 0
    for t1, t2 in zip(*np.nonzero(todo.any(axis=0))):
        js = np.flatnonzero(todo[:, t1, t2])
        both = ok[:, :, t1] & ok[:, :, t2]  # (n, k): every neuroid's valid stimuli at the pair
        if D is not None:
            both &= D[:, t1, t2, None]
        kept = np.flatnonzero(both.any(axis=1))  # the stimuli the pair keeps (a call on bin t keeps, t1 = t2 = t)
        groups, small = scored_groups(_pattern_groups(both[np.ix_(kept, js)]), n_folds)
        for rows, cols in small:  # NaN, as the direction leaves such a group
            unscored[js[cols], t1, t2] = True
            most = max(most, int(rows.sum()))
        over = [(np.isin(np.arange(both.shape[0]), kept[rows]), cols) for rows, cols in groups]  # rows over every stimulus
        groups, dead = split_constant(over, lambda rows, t1=t1: X[rows, :, t1] if animal else X[rows])
        constant[js[dead], t1, t2] = True
        for rows, cols in groups:
            S, J = np.flatnonzero(rows), js[cols]

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
        check_bin_edges(ds[start].values, ds[end].values, name, dim)  # finite, start < end, none repeated
    if ds.attrs.get("direction") not in ("forward", "inter_animal"):
        raise LayoutError(f"{name}: attr 'direction' must be 'forward' or 'inter_animal'; found {ds.attrs.get('direction')!r}.")
    return ds
