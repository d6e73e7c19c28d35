"""The pair pass of :class:`~neuroxr.kernels.gram.GramStats`: squared Euclidean distances taken
directly where the column-centred Gram cancels.

Euclidean RDMs come from the column-centred Gram ``K`` (:mod:`neuroxr.kernels.gram`)::

    ||F_i - F_j||^2 = K_ii + K_jj - 2 K_ij

Exact algebra, but in floating point the three terms are of the size of the stimuli's squared
distances from the column means, so the result errs by about ``eps (K_ii + K_jj)``: stimuli close
together against their distance from the mean (one stimulus far from the others moves the mean away
from them all; tight clusters) lose their distances' digits, up to all of them.
:func:`cancelled_pairs` finds the pairs whose terms exceed their result by more than
:data:`PAIR_KAPPA` (the row pass's bound, :data:`~neuroxr.kernels.gram_rows.ROW_PASS_KAPPA`: at most
about 10 bits lost). A second pass over the units forms the Gram of the stimuli of those pairs about
a typical one of them ``m`` (the median of their squared distances from the mean),
``(F - 1 F_m)(F - 1 F_m)^T``, one product: the pairs near ``m`` keep their digits there (when one
stimulus is far from the rest, every pair). The pairs that cancel there too (another tight cluster)
take another such pass over their own stimuli, up to :data:`_REFERENCES` passes, and those left are
summed directly, as scipy's ``pdist`` does (:func:`pair_pass`). The statistics then
carry ``D2``, shape (n, n): the flagged pairs' squared distances, NaN for every other pair. Statistics whose pairs all keep their digits take
no second pass and give the numbers they always did. A Gram Dataset holds ``D2`` as a matrix over its
stimuli, so selecting or reordering them keeps it. This module imports nothing of
:mod:`neuroxr.kernels.gram` (which imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..backend import get_namespace, gram_matrix, to_numpy
from ..errors import LayoutError
from .gram_rows import ROW_PASS_KAPPA, accumulate, sum_chunks

if TYPE_CHECKING:
    from .gram import GramStats

__all__ = ["PAIR_KAPPA", "Pairs", "PairSums", "Reference", "ReferenceSums", "cancelled_pairs", "needs_pair_pass",
           "partial", "pair_pass", "with_pair_pass"]

#: Largest ratio of ``K_ii + K_jj`` to a pair's squared distance from the Gram taken without the
#: pair pass (about 10 bits lost: within about 1e-13 of the direct sum in float64).
PAIR_KAPPA = ROW_PASS_KAPPA

#: Elements of one batch of pair differences (pairs x units of a chunk), bounding the pass's memory.
_BATCH = 2**22
#: Reference passes at most (each one Gram of the stimuli of the pairs left, about a typical one of
#: them: one per tight cluster) before the pairs left are summed directly.
_REFERENCES = 4


class Pairs(NamedTuple):
    """The pairs of the pair pass: row indices ``i < j``, NumPy int64 arrays of shape (m,)."""

    i: Any
    j: Any


class PairSums(NamedTuple):
    """Partial sums of the direct pass over a chunk of units: ``sq`` (m,), one per pair."""

    sq: Any


class Reference(NamedTuple):
    """A reference pass: the Gram of the stimuli ``rows`` (sorted NumPy int64 positions) less the
    pattern of stimulus ``m``."""

    m: int
    rows: Any


class ReferenceSums(NamedTuple):
    """Partial sums of a reference pass over a chunk of units: ``K`` (len(rows), len(rows))."""

    K: Any


def cancelled_pairs(stats: GramStats) -> Pairs:
    """The pairs ``i < j`` whose squared distance from the Gram of ``stats`` cancels:
    ``K_ii + K_jj > PAIR_KAPPA * (K_ii + K_jj - 2 K_ij)`` (a distance that cancelled to 0 or
    below, where the terms are not all 0, counts). O(n^2) on the Gram's device, in blocks of rows
    (a few temporaries of :data:`_BATCH` entries, never of the Gram's size)."""
    xp = get_namespace(stats.K)
    K = stats.K if xp.isdtype(stats.K.dtype, "real floating") else xp.astype(stats.K, xp.float64)
    d = xp.linalg.diagonal(K)
    n = int(K.shape[0])
    step = max(1, _BATCH // max(1, n))
    found_i, found_j = [], []
    for s in range(0, n, step):
        terms = d[s : s + step, None] + d[None, :]
        flagged = to_numpy(terms > PAIR_KAPPA * (terms - 2.0 * K[s : s + step, :]))
        i, j = np.nonzero(np.triu(flagged, s + 1))  # j > i + s: the upper triangle
        found_i.append(i + s)
        found_j.append(j)
    return Pairs(np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64))


def needs_pair_pass(stats: GramStats) -> bool:
    """Whether Euclidean RDMs from ``stats`` need the pair pass: it is not there and some pair
    cancels (:func:`cancelled_pairs`)."""
    return stats.D2 is None and int(cancelled_pairs(stats).i.shape[0]) > 0


def partial(F: Any, spec: Pairs | Reference) -> PairSums | ReferenceSums:
    """The sums of one chunk of whole columns ``F`` (n, p_c) for a pass: with :class:`Pairs` each
    pair's sum of squared differences over the chunk's units (in batches of pairs bounding the
    temporary differences); with a :class:`Reference` the Gram of the chunk less stimulus ``m``'s values."""
    if len(F.shape) != 2:
        raise LayoutError(f"pair pass: a chunk of shape {tuple(F.shape)}; chunk the unit axis only (whole columns of every stimulus).")
    xp = get_namespace(F)
    dev = getattr(F, "device", None)
    if not xp.isdtype(F.dtype, "real floating") or F.dtype == xp.float16:  # differences and squares in the Gram's dtype
        F = xp.astype(F, xp.float32 if F.dtype == xp.float16 else xp.float64)
    if isinstance(spec, Reference):
        return ReferenceSums(gram_matrix(xp.take(F, xp.asarray(spec.rows, device=dev), axis=0) - F[spec.m : spec.m + 1, :]))
    m, step = int(spec.i.shape[0]), max(1, _BATCH // max(1, int(F.shape[1])))
    parts = []
    for s in range(0, m, step):
        i = xp.asarray(spec.i[s : s + step], device=dev)
        j = xp.asarray(spec.j[s : s + step], device=dev)
        diff = xp.take(F, i, axis=0) - xp.take(F, j, axis=0)
        parts.append(xp.sum(diff * diff, axis=1))
    return PairSums(xp.concat(parts) if parts else xp.zeros((0,), dtype=F.dtype, device=dev))


def pair_pass(stats: GramStats, run: Callable[[Pairs | Reference], Any]) -> GramStats:
    """``stats`` with ``D2`` set where some pair cancels (:func:`cancelled_pairs`), else ``stats`` itself.

    Parameters
    ----------
    stats : GramStats
    run : callable
        ``run(spec)``: the sums of :func:`partial` over every unit chunk of the features ``stats``
        were computed from, for a :class:`Reference` (then :class:`ReferenceSums`) or :class:`Pairs`
        (:class:`PairSums`); called once per pass (at most :data:`_REFERENCES` reference passes, then
        one direct pass for the pairs left).

    Returns
    -------
    GramStats
    """
    pairs = cancelled_pairs(stats)
    if int(pairs.i.shape[0]) == 0:
        return stats
    d = to_numpy(get_namespace(stats.K).linalg.diagonal(stats.K)).astype(np.float64)
    sq = np.empty(pairs.i.shape[0])
    todo = np.arange(pairs.i.shape[0])  # the pairs not resolved yet
    for _ in range(_REFERENCES):
        rows = np.unique(np.concatenate([pairs.i[todo], pairs.j[todo]]))
        typical = int(rows[np.argsort(d[rows], kind="stable")[(rows.shape[0] - 1) // 2]])  # their median distance from the mean
        K = to_numpy(run(Reference(typical, rows)).K).astype(np.float64)
        i, j = np.searchsorted(rows, pairs.i[todo]), np.searchsorted(rows, pairs.j[todo])
        terms = np.diagonal(K)[i] + np.diagonal(K)[j]
        s = terms - 2.0 * K[i, j]
        ok = terms <= PAIR_KAPPA * s  # resolved about the typical stimulus
        sq[todo[ok]] = s[ok]
        todo = todo[~ok]
        if todo.shape[0] == 0 or not ok.any():
            break
    if todo.shape[0]:  # cancelling about every reference: summed directly
        sq[todo] = to_numpy(run(Pairs(pairs.i[todo], pairs.j[todo])).sq)
    xp = get_namespace(stats.K)
    dtype = stats.K.dtype if xp.isdtype(stats.K.dtype, "real floating") else xp.float64
    n = int(stats.K.shape[0])
    D2 = np.full((n, n), np.nan)
    D2[pairs.i, pairs.j] = sq
    D2[pairs.j, pairs.i] = sq
    return replace(stats, D2=xp.astype(xp.asarray(D2, device=getattr(stats.K, "device", None)), dtype))


def with_pair_pass(stats: GramStats, chunks: Callable[[], Iterable[Any]]) -> GramStats:
    """:func:`pair_pass` over ``chunks()``, the unit chunks (n_stimuli, n_units_chunk) of the features
    ``stats`` were computed from, in any order (a function giving them anew: read once per pass)."""
    return pair_pass(stats, lambda spec: sum_chunks(chunks(), lambda c: partial(c, spec), accumulate, stats.n_units,
                                                    "with_pair_pass"))
