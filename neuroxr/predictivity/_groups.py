"""The directions' targets grouped by their pattern of usable stimuli (each group one sub-problem
with its own folds and operator), and the counts of their stimuli the results report; re-exported
by :mod:`neuroxr.predictivity._prepare`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import LayoutError, NothingToScore, examples, warn
from ..kernels.folds import min_stimuli, stimulus_folds
from ..kernels.stats import column_squares, column_tol, no_variance

__all__ = ["TARGET_COUNTS", "bin_counts", "constant_design", "excluded_by", "scored_groups", "split_constant", "target_counts",
           "target_groups", "too_few_left", "varying_groups", "warn_constant_designs", "warn_unscored"]


def target_groups(valid: np.ndarray, name: str = "neural", ids: np.ndarray | None = None,
                  n_folds: int = 1, fold_seed: int = 0, bins: np.ndarray | None = None,
                  counts: dict[str, int] | None = None, components: int | None = None,
                  excluded_by: str = "") -> list[tuple[np.ndarray, np.ndarray]]:
    """Targets grouped by their pattern of usable stimuli: ``[(rows, cols), ...]``.

    ``valid`` is ``(n_stimuli, n_targets)`` bool. Complete targets form one group (the common case:
    a single group, no copies); each other pattern is its own sub-problem (its own folds and design
    factorisation), exact per target however many patterns there are: a target's numbers never
    depend on another target's missing stimuli. A group with fewer usable stimuli than ``n_folds`` (or than 3) is left out (its targets
    stay NaN) with a warning naming its targets (``ids``); when every group is, the folds' error
    (a :class:`~neuroxr.errors.NothingToScore` where missing values left the stimuli too few,
    :func:`too_few_left`: ``counts``, the direction's :func:`target_counts`; ``excluded_by``, the inputs whose
    missing trials excluded stimuli where those are not the targets ``name``).

    ``bins`` (n_targets,), optional: the time bin of each target (the flattened ``neuroid x
    time_bin`` targets of a time-resolved forward call). Each bin's targets are then grouped on
    their own, as a call on that bin alone groups them (over the stimuli that bin keeps), and groups of different bins with the same stimuli share one
    operator: missing values in one bin never change another bin's groups.

    ``components``: the PLS components of the call's regressor (``None``: not PLS,
    :func:`~neuroxr.kernels.regressors.pls_components`). A group whose smallest training fold holds
    fewer stimuli is left out too, with a warning naming its targets, unless every group is (the fit
    then refuses the call's ``n_components``).
    """
    groups = _pattern_groups(valid) if bins is None or valid.all() else _bin_groups(valid, bins)
    groups, small = scored_groups(groups, n_folds)
    if components is not None and groups:
        groups = _fitting_groups(groups, components, n_folds, fold_seed, name, ids)
    if not small:
        return groups
    if not groups:
        try:
            stimulus_folds(min(int(g[0].sum()) for g in small), n_folds, fold_seed, name)  # raises
        except LayoutError as exc:
            raise too_few_left(exc, counts, excluded_by) from None
    cols = np.concatenate([c for _, c in small])
    warn_unscored(name, cols.size, max(int(g[0].sum()) for g in small),
                  examples(ids[cols]) if ids is not None else f"{cols.size} targets", n_folds)
    return groups


def _fitting_groups(groups: list[tuple[np.ndarray, np.ndarray]], components: int, n_folds: int, fold_seed: int,
                    name: str, ids: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The groups whose every training fold holds at least ``components`` stimuli (PLS's bound), in
    the order given; every group where none does (the fit refuses the call)."""
    train = [min(len(tr) for tr, _ in stimulus_folds(int(rows.sum()), n_folds, fold_seed, name)) for rows, _ in groups]
    fit = [g for g, t in zip(groups, train) if t >= components]
    if not fit or len(fit) == len(groups):
        return groups
    cols = np.concatenate([c for (_, c), t in zip(groups, train) if t < components])
    most = max(t for t in train if t < components)
    warn(f"{name}: {cols.size} targets are scored NaN: the stimuli they are valid at leave a training fold of "
         f"{most} stimuli at most, fewer than n_components={components} (PLS fits no more components than a training fold "
         f"has stimuli): "
         f"{examples(ids[cols]) if ids is not None else f'{cols.size} targets'}. Pass n_components <= {most} to score them.")
    return fit


def too_few_left(exc: LayoutError, counts: dict[str, int] | None, excluded_by: str = "") -> LayoutError:
    """The folds' error ``exc`` (fewer stimuli than ``n_folds``, or than 3) of a call whose stimuli
    were made too few by missing values (``counts``, :func:`target_counts`: some stimulus excluded or
    some target partial) as a :class:`~neuroxr.errors.NothingToScore` carrying ``counts``, its message
    saying so (the input that lost them may be the predictors, not the targets it names): no target can be scored, as when none has the repeats it needs, so a time bin
    raising it is NaN with a warning naming it (:func:`~neuroxr.predictivity.time.by_bins`), as
    forward's one operator leaves such a bin. ``exc`` itself for an input holding too few stimuli.
    ``excluded_by`` (optional): the inputs whose missing trials excluded the stimuli, named in the message
    (the predictors of inter_animal, which the folds' error, naming the targets, does not name)."""
    if not counts or not (counts.get("n_excluded_stimuli") or counts.get("n_partial_targets")):
        return exc
    excluded = int(counts.get("n_excluded_stimuli") or 0)  # the input missing them is named by its warning
    err = NothingToScore(f"{exc} Missing trials left them: " + (
        f"{excluded} of {excluded + int(counts.get('n_stimuli') or 0)} stimuli were excluded "
        + (f"by missing trials of {excluded_by} (the warning before names them)." if excluded_by
           else "(the warning before names the input).")
        if excluded else "each target lacks some stimuli."))
    err.counts = dict(counts)  # type: ignore[attr-defined]  (the bin's counts, by_bins)
    return err


def excluded_by(inputs: Iterable[tuple[str, np.ndarray]]) -> str:
    """The names of ``inputs`` (``(name, keep)`` pairs: the stimuli each input's missing trials kept) that
    excluded some stimulus, for :func:`too_few_left`'s message."""
    return " and ".join(name for name, keep in inputs if not np.all(keep))


def scored_groups(groups: list[tuple[np.ndarray, np.ndarray]],
                  n_folds: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    """``(scored, small)``: the groups ``[(rows, cols), ...]`` with at least
    :func:`~neuroxr.kernels.folds.min_stimuli` usable stimuli, and the others (their targets stay
    NaN; :func:`warn_unscored`), each in the order given."""
    need = min_stimuli(n_folds)
    return [g for g in groups if int(g[0].sum()) >= need], [g for g in groups if int(g[0].sum()) < need]


def warn_unscored(name: str, n_targets: int, most: int, names: str, n_folds: int, what: str = "targets") -> None:
    """The one warning for the ``n_targets`` targets (``names``) of :func:`scored_groups`' small
    groups (``most`` usable stimuli at most), scored NaN."""
    folds_ok = n_folds >= min_stimuli(n_folds)
    warn(
        f"{name}: {n_targets} {what} have fewer usable stimuli ({most} at most) than "
        f"{f'n_folds={n_folds}' if folds_ok else f'{min_stimuli(n_folds)} (an r over 2 is always +-1)'} and are "
        f"scored NaN: {names}. {'Use fewer folds to score them.' if folds_ok else 'They cannot be scored.'}"
    )


def constant_design(X: np.ndarray) -> bool:
    """Whether every column of a group's design ``X`` (its rows: the stimuli its targets are scored on) is
    constant up to rounding, the rule of :func:`~neuroxr.predictivity._prepare.check_design` (each column
    on its own squares). Such a group's fit predicts the training folds' means, whose negative r squares
    to a positive EV: its targets are scored NaN (:func:`warn_constant_designs`)."""
    c, r = column_squares(X)
    return bool(np.all(no_variance(c, r, column_tol(np, X.dtype))))


def split_constant(groups: list[tuple[np.ndarray, np.ndarray]],
                   design: Callable[[np.ndarray], Any]) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """``(live, dead)``: the groups ``[(rows, cols), ...]`` (``rows`` over every stimulus) whose design
    varies on their stimuli, in the order given, and the columns (int, sorted) of the others.
    ``design(rows)`` is a group's design, judged by :func:`constant_design`, or whether it is constant
    (a bool: the Gram statistics' rule of a streamed design). A group on every stimulus is not judged:
    its design is the whole input's, which ``check_design`` judged before."""
    live, dead = [], []
    for rows, cols in groups:
        if rows.all():
            live.append((rows, cols))
            continue
        judged = design(rows)
        (dead if (bool(judged) if isinstance(judged, (bool, np.bool_)) else constant_design(judged)) else live).append((rows, cols))
    return live, np.sort(np.concatenate([c for _, c in dead])) if dead else np.zeros(0, dtype=int)


def varying_groups(groups: list[tuple[np.ndarray, np.ndarray]], design: Callable[[np.ndarray], Any], name: str,
                   source: str, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The groups of :func:`split_constant` whose design varies; the targets of the others (``ids``:
    each column's id) are left out (NaN), with one warning naming them and the predictors ``source``
    (:func:`warn_constant_designs`)."""
    live, dead = split_constant(groups, design)
    warn_constant_designs(name, source, ids[dead])
    return live


def warn_constant_designs(name: str, source: str, ids: np.ndarray, what: str = "neuroids") -> None:
    """The one warning for the targets ``ids`` (of ``name``) scored NaN because the predictors ``source`` are
    constant on every stimulus they are valid at (the design varies only where they miss)."""
    if len(ids):
        warn(f"{name}: {len(ids)} {what} are scored NaN: on the stimuli where they are valid, every predictor column of "
             f"{source} is constant (it varies only at stimuli they lack), so nothing predicts them, e.g. {examples(ids)}.")


def _bin_groups(valid: np.ndarray, bins: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`_pattern_groups` of each bin's targets over the stimuli that bin keeps, the groups
    with the same stimuli merged across bins."""
    merged: dict[bytes, tuple[np.ndarray, list[np.ndarray]]] = {}
    for b in np.unique(bins):
        cols = np.flatnonzero(bins == b)
        kept = np.flatnonzero(valid[:, cols].any(axis=1))  # the stimuli a call on this bin keeps
        parts = (_pattern_groups(valid[np.ix_(kept, cols)]) if kept.size
                 else [(np.zeros(0, dtype=bool), np.arange(cols.size))])
        for rows, c in parts:
            full = np.zeros(valid.shape[0], dtype=bool)
            full[kept[rows]] = True
            merged.setdefault(full.tobytes(), (full, []))[1].append(cols[c])
    return [(rows, np.sort(np.concatenate(cs))) for rows, cs in merged.values()]


def _pattern_groups(valid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The targets of ``valid`` (stimuli x targets) grouped by their pattern of usable stimuli:
    the complete ones first, then one group per other pattern."""
    complete = valid.all(axis=0)
    if complete.all():
        return [(np.ones(valid.shape[0], dtype=bool), np.arange(valid.shape[1]))]
    groups = []
    if complete.any():
        groups.append((np.ones(valid.shape[0], dtype=bool), np.flatnonzero(complete)))
    rest = np.flatnonzero(~complete)
    patterns, inverse = np.unique(valid[:, rest].T, axis=0, return_inverse=True)
    for g, rows in enumerate(patterns):
        groups.append((rows, rest[np.asarray(inverse).ravel() == g]))
    return groups


#: The attrs of :func:`target_counts`.
TARGET_COUNTS = ("n_stimuli", "n_excluded_stimuli", "n_partial_targets")


def target_counts(keep: np.ndarray, valid: np.ndarray) -> dict[str, int]:
    """The attrs a direction reports of its targets' stimuli (``valid`` over the kept stimuli)."""
    values = (int(keep.sum()), int((~keep).sum()), int((~valid.all(axis=0)).sum()))
    return dict(zip(TARGET_COUNTS, values))


def bin_counts(keep: np.ndarray, valid: np.ndarray, bins: np.ndarray, labels: Iterable[Any]) -> dict[str, list[int]]:
    """:func:`target_counts` of each bin's targets (``bins``: the bin of each column of ``valid``,
    over the kept stimuli ``keep``) as a call on that bin alone counts them, as lists over ``labels``
    (a time-resolved forward's flattened ``neuroid x time_bin`` targets, counted from the one
    reading of the responses)."""
    full = np.zeros((keep.size, valid.shape[1]), dtype=bool)
    full[keep] = valid  # the stimuli no target keeps are valid for none
    per = []
    for b in labels:
        v = full[:, bins == b]
        keep_b = v.any(axis=1)
        per.append(target_counts(keep_b, v[keep_b]))
    return {key: [c[key] for c in per] for key in per[0]} if per else {}
