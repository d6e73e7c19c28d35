"""Split-half reliability of neural responses (Spearman-Brown corrected), per neuroid and rep."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LayoutError, shown
from ..geometry._common import input_labels
from ..kernels.splits import SplitHalves, draw_permutation, nanmean_repeats, split_half_r
from ..kernels.stats import pearson, spearman, spearman_brown
from ..layouts import has_time, validate_neural
from . import _prepare as prep
from ._result import target_coords, version

__all__ = ["split_half_reliability"]

METHODS = ("spearman", "pearson")


def split_half_reliability(
    neural: xr.DataArray, *, reps: int = 20, seed: int = 0, split: str = "valid", method: str = "spearman"
) -> xr.Dataset:
    """Spearman-Brown-corrected split-half reliability per neuroid.

    Per rep the repeats are split in two halves (one permutation of the repeat slots per rep,
    drawn from ``numpy.random.default_rng(seed)``; the directions draw two per rep, after
    reverse_pred, so their ``target_shc`` comes from other splits of the same kind and equals this
    only in distribution), each half NaN-averaged, and the two half means are correlated across
    stimuli. Each neuroid uses its complete pairs: a stimulus where a half has no valid trial is
    left out for that neuroid only (never ranked as NaN). Stimuli without 2 valid repeats are
    counted and warned about as the directions count their targets' stimuli
    (:func:`neuroxr.predictivity._prepare.target_stimuli`): for every neuroid (excluded) or for some
    (partial neuroids); the numbers are those of each neuroid's complete pairs either way. Without
    any stimulus with 2 valid repeats (in a time bin), every reliability (of that bin) is NaN and
    ``n_stimuli`` 0, with the warning. A neuroid whose trial means are constant across those
    stimuli (up to rounding) is NaN (``reliability`` and ``r_half``), with the directions' warning,
    as :func:`~neuroxr.predictivity.forward` scores it (its halves would be exactly anti-correlated
    noise: Spearman-Brown of -1 is -inf).

    Parameters
    ----------
    neural : DataArray, dims (stimulus, neuroid, repeat) or (stimulus, neuroid, repeat, time_bin)
        At least 2 repeats. Time-resolved responses give a reliability per bin (last dim ``time_bin``).
    reps : int, default 20
    seed : int, default 0
    split : {"valid", "slots"}, default "valid"
        As in :func:`neuroxr.predictivity.forward`.
    method : {"spearman", "pearson"}, default "spearman"
        Correlation of the two half means across stimuli.

    Returns
    -------
    xarray.Dataset, dims (neuroid, rep)
        ``reliability`` (Spearman-Brown corrected) and ``r_half`` (uncorrected). Attrs ``reps``,
        ``seed``, ``split``, ``method`` and the directions' counts: ``n_stimuli`` (stimuli some
        neuroid has 2 valid repeats on), ``n_excluded_stimuli`` (the others) and
        ``n_partial_targets`` (neuroids with 2 valid repeats on fewer than ``n_stimuli``; all-NaN
        neuroids, whose reliability is NaN, are not counted). Time-resolved: lists, one int per bin.
    """
    if has_time(neural):  # per bin, the same split-half draws for every bin
        from .time import by_bins

        return by_bins(split_half_reliability, dict(neural=neural, reps=reps, seed=seed, split=split, method=method),
                       ("neural",), "split_half_reliability")
    if method not in METHODS:
        raise prep.ParameterError(f"split_half_reliability: method must be one of {METHODS}; got {shown(method)}.")
    prep.check_params(reps=reps, seed=seed, split=split, regressor="ridge", max_n=None, backend=None, dtype="float64",
                      caller="split_half_reliability")
    name = prep.named("split_half_reliability", neural, "neural")  # how the messages name the input
    neural = prep.sort_stimuli(validate_neural(neural, name=name))
    if neural.sizes["stimulus"] < 3:  # half means of 2 stimuli correlate +-1 (or not at all)
        raise LayoutError(
            f"{name}: {neural.sizes['stimulus']} stimuli on dim 'stimulus'; a split-half reliability correlates half means "
            f"across stimuli and needs at least 3 (with 2, every correlation is +-1). Pass responses to at least 3 stimuli."
        )
    if neural.sizes["repeat"] < 2:
        raise LayoutError(
            f"{name}: has {neural.sizes['repeat']} repeat per stimulus; a split-half reliability needs at least 2. "
            f"Pass the single-trial responses (dim 'repeat'), not their average."
        )
    R = prep.load(neural, name)
    ok = prep.nan_neuroids(R, neural.neuroid_id.values, name)
    R = prep.take(R, None, ok)
    # a stimulus with fewer than 2 valid repeats is never a complete pair of half means: counted, not
    # dropped; none with 2 (e.g. one time bin): every reliability is NaN, n_stimuli 0
    keep, valid = prep.target_stimuli(R, name, neural.stimulus_id.values, 2, folds=False, raise_empty=False)
    counts = prep.target_counts(keep, valid)
    rng = np.random.default_rng(seed)
    perms = np.stack([draw_permutation(rng, R.shape[2]) for _ in range(reps)])
    if counts["n_stimuli"]:
        r = split_half_r(SplitHalves(R, split), perms, spearman if method == "spearman" else pearson)  # (neuroid, rep)
        # forward's constant-target rule (its trial means over the same stimuli, those with 2 valid
        # repeats: prep.scored): NaN, with its warning;
        # the halves of such a neuroid are 2c - h and h, r = -1 and Spearman-Brown -inf
        const = prep.warn_constant_targets(prep.scored(nanmean_repeats(prep.take(R, keep)), valid), neural.neuroid_id.values[ok], name,
                                           "neuroids")
        r[const] = np.nan
    else:  # no complete pair anywhere: nothing to correlate
        r = np.full((R.shape[1], reps), np.nan)
    return xr.Dataset(
        {"reliability": (("neuroid", "rep"), prep.expand(spearman_brown(r), ok)),
         "r_half": (("neuroid", "rep"), prep.expand(r, ok))},
        coords={**target_coords(neural, "neuroid"), "rep": np.arange(reps)},
        attrs={"reps": int(reps), "seed": int(seed), "split": split, "method": method, **counts,
               **input_labels(source=neural), "neuroxr_version": version()},
    )
