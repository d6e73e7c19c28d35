"""Gram statistics of a feature matrix, in one pass over chunks of units.

Everything in neuroxr's geometry (correlation / cosine / Euclidean RDMs, linear CKA, effective
dimensionality, shape metrics fitted on the whole data set) depends on the features ``F``
(``n`` stimuli x ``p`` units) only through a handful of statistics that are *sums over units*.
:class:`GramStats` holds them; :func:`gram` computes them for an in-memory array,
:func:`gram_chunks` accumulates them over an iterable of unit chunks, and :func:`gram_dask` reduces
the unit chunks of a dask array (:mod:`neuroxr.kernels.gram_reduce`, re-exported here): streamed
into one accumulator with a synchronous scheduler (:func:`gram_stream`), else a tree reduction
whose tasks spread over the scheduler's workers (:func:`gram_tree`); either way a few ``n x n``
partials are alive at once, whatever the number of units.

Statistics (``m`` = column means of ``F``, ``Fc = F - 1 m^T`` the column-centred features)::

    K   = Fc Fc^T                  (n, n)  column-centred Gram
    a   = Fc 1                      (n,)    row sums of Fc
    v   = Fc m                      (n,)
    p                                        number of units
    mu  = mean(m)                            mean of the column means
    m2  = sum_k (m_k - mu)^2                 spread of the column means
    integral, max_abs                        every value a finite integer; max |F| (exact RDMs)
    n_varying, q, qc                         units that vary (per column, up to rounding); the
                                             constant units' squares and centred squares per stimulus

They are exact for chunks of whole columns (each chunk centres its own columns; ``mu``/``m2`` are
combined with Chan's parallel-variance update), and from them, without cancellation between large
terms when the units have large means::

    uncentred Gram      G  = F F^T = K + v 1^T + 1 v^T + (p mu^2 + m2) 1 1^T
    row-centred Gram    Fr Fr^T    = K - a a^T / p + w 1^T + 1 w^T + m2 1 1^T,   w = v - mu a
    column-centred Gram K          (CKA, effective dimensionality, squared Euclidean distances)

where ``Fr`` is ``F`` centred across units within each stimulus (what a correlation RDM needs).
Where those shifted forms would cancel (stimuli with large offsets), :func:`gram` and
:func:`gram_dask` add a second pass about the row means (:mod:`neuroxr.kernels.gram_rows`); where
the squared distances ``K_ii + K_jj - 2 K_ij`` would, one over the pairs concerned
(:mod:`neuroxr.kernels.gram_pairs`).
The kernels are written against the array API: ``F`` may be a NumPy, CuPy or torch array.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..backend import get_namespace, gram_matrix
from ..errors import LayoutError
from . import gram_pairs as _pairs
from . import gram_rows as _rows
from .gram_rows import row_centered_gram, row_centered_shift, uncentered_gram, uncentered_shift
from .stats import constant_units

__all__ = [
    "GramStats",
    "gram",
    "gram_partial",
    "combine",
    "gram_chunks",
    "gram_dask",
    "gram_stream",
    "gram_tree",
    "centered_gram",
    "uncentered_gram",
    "row_centered_gram",
    "uncentered_shift",
    "row_centered_shift",
    "double_center",
    "covariance_eigenvalues",
    "variance_totals",
    "constant_features",
    "effective_dimensionality",
    "linear_cka",
]


@dataclass(frozen=True)
class GramStats:
    """Sufficient statistics of a feature matrix ``F`` (``n`` stimuli x ``p`` units) over units.

    Attributes
    ----------
    K : array, shape (n, n)
        ``Fc Fc^T`` with ``Fc`` the column-centred features.
    a : array, shape (n,)
        Row sums of ``Fc``.
    v : array, shape (n,)
        ``Fc m`` with ``m`` the column means of ``F``.
    n_units : int
        ``p``.
    mu : float
        Mean of the column means.
    m2 : float
        Sum of squared deviations of the column means from ``mu``.
    max_abs : float, default inf
        Largest ``|F|`` value where every value of ``F`` is a finite integer (inf: not so, or not
        known); :attr:`integral` is whether it is finite.
    Kr : array, shape (n, n), optional
        The row pass (:mod:`neuroxr.kernels.gram_rows`): ``(F - r 1^T)(F - r 1^T)^T``; None where
        it was not needed (:func:`~neuroxr.kernels.gram_rows.needs_row_pass`) or not run.
    ar : array, shape (n,), optional
        With ``Kr``: the row sums of ``F - r 1^T``.
    r : array, shape (n,), optional
        With ``Kr``: the reference, the row means ``a / p + mu`` of the first pass.
    D2 : array, shape (n, n), optional
        The pair pass (:mod:`neuroxr.kernels.gram_pairs`): the squared distances of the pairs whose
        distance from ``K`` cancels, taken about a typical stimulus or summed directly; NaN for
        every other pair. None where no pair cancels or the pass did not run.
    nonfinite : tuple, optional
        ``(n_values, units)`` where ``F`` holds NaN or inf: their number and the positions of the
        units holding them (NumPy ints); None where every value is finite. Found within each
        chunk from its column means (a chunk's values are scanned only when a mean is not finite).
    n_varying : int, optional
        Units with variance across the stimuli, decided per unit up to rounding
        (:func:`~neuroxr.kernels.stats.no_variance` of its centred and uncentred squares with
        :func:`~neuroxr.kernels.stats.column_tol` of the chunk's precision; in float64 as
        :func:`~neuroxr.kernels.stats.constant_columns` decides a column):
        the features are constant when none varies (:func:`~neuroxr.kernels.gram.constant_features`).
        None: not known (statistics stored before it existed).
    q, qc : array, shape (n,), optional
        With ``n_varying``: each stimulus' sum of squares over the constant units, of their values
        and of their centred values, so a subset of the stimuli leaves those units out of its totals.
    """

    K: Any
    a: Any
    v: Any
    n_units: int
    mu: float
    m2: float
    max_abs: float = math.inf
    Kr: Any = None
    ar: Any = None
    r: Any = None
    D2: Any = None
    nonfinite: Any = None
    n_varying: int | None = None
    q: Any = None
    qc: Any = None

    @property
    def integral(self) -> bool:
        """Whether every value of ``F`` is a finite integer (False: not, or not known)."""
        return math.isfinite(self.max_abs)

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli ``n``."""
        return int(self.K.shape[0])


def _check_2d(F: Any, caller: str) -> None:
    if len(F.shape) != 2:
        raise LayoutError(f"{caller}: features must be 2-D (stimulus, unit); got shape {tuple(F.shape)}.")
    if F.shape[1] == 0:
        raise LayoutError(f"{caller}: features have no units (shape {tuple(F.shape)}).")


def _integral(xp: Any, F: Any) -> float:
    """``max_abs`` of a chunk: the largest ``|value|`` where every value is a finite integer, else inf."""
    if 0 in F.shape:
        return math.inf
    if not xp.isdtype(F.dtype, "integral"):
        row = F[0, :]  # real-valued features fail on their first row, without a copy of the chunk
        if not bool(xp.all(row == xp.round(row))) or not bool(xp.all(F == xp.round(F))):  # NaN fails too
            return math.inf
    return max(abs(float(xp.max(F))), abs(float(xp.min(F))))  # in Python floats: abs of a signed int's minimum overflows


def _nonfinite(xp: Any, F: Any, m: Any) -> Any:
    """A chunk's ``nonfinite`` (:class:`GramStats`) from its column means ``m``: None where they are
    finite (no scan of the chunk), else the NaN/inf values' count and their units' positions."""
    if bool(xp.all(xp.isfinite(m))):
        return None
    import numpy as np

    from ..backend import to_numpy

    bad = ~xp.isfinite(F)
    n = int(xp.sum(xp.astype(bad, xp.int64)))
    return (n, np.flatnonzero(to_numpy(xp.any(bad, axis=0)))) if n else None  # n == 0: the means overflowed


def _joined(s1: GramStats, s2: GramStats, in_place: bool = False) -> dict[str, Any]:
    """The ``max_abs`` of two chunks together (inf, not integral, when their Grams were computed in
    different precisions: the exactness bound holds for one ``eps``) and their ``nonfinite`` (the
    second chunk's units follow the first's), and their units' constancy (``n_varying``, ``q``, ``qc``:
    summed, into ``s1``'s arrays with ``in_place``; None where either's is not known)."""
    import numpy as np

    bad = [b for b in (s1.nonfinite, s2.nonfinite and (s2.nonfinite[0], s2.nonfinite[1] + s1.n_units)) if b]
    known = s1.n_varying is not None and s2.n_varying is not None
    return {"max_abs": max(s1.max_abs, s2.max_abs) if s1.K.dtype == s2.K.dtype else math.inf,
            "nonfinite": (sum(b[0] for b in bad), np.concatenate([b[1] for b in bad])) if bad else None,
            "n_varying": s1.n_varying + s2.n_varying if known else None,
            "q": _add(s1.q, s2.q, in_place) if known else None, "qc": _add(s1.qc, s2.qc, in_place) if known else None}


def _add(x: Any, y: Any, in_place: bool) -> Any:
    if not in_place:
        return x + y
    x += y
    return x


def gram_partial(F: Any) -> GramStats:
    """:class:`GramStats` of one chunk of whole columns ``F`` (``n x p_chunk``).

    Parameters
    ----------
    F : array, shape (n_stimuli, n_units_chunk)
        Any array-API array; the statistics keep its namespace, device and dtype (float16: float32).
    """
    _check_2d(F, "gram_partial")
    xp = get_namespace(F)
    if F.dtype == xp.float16:  # its Gram's rounding (256 eps: 0.25) would read patterns as constant; float32 holds it exactly
        F = xp.astype(F, xp.float32)
    p = int(F.shape[1])
    max_abs = _integral(xp, F)  # before Fc: its temporary is freed first
    m = xp.mean(F, axis=0)
    Fc = F - m[None, :]
    K = gram_matrix(Fc)  # exactly symmetric (NumPy: BLAS syrk, one triangle mirrored in place)
    av = xp.matmul(Fc, xp.stack([xp.ones_like(m), m], axis=1))  # a and v in one pass over Fc
    a, v = av[:, 0], av[:, 1]
    mu = float(xp.mean(m))
    m2 = float(xp.sum((m - mu) ** 2))
    n_varying, q, qc = _constant_units(xp, F, Fc)
    return GramStats(K=K, a=a, v=v, n_units=p, mu=mu, m2=m2, max_abs=max_abs, nonfinite=_nonfinite(xp, F, m),
                     n_varying=n_varying, q=q, qc=qc)


def _constant_units(xp: Any, F: Any, Fc: Any) -> tuple[int, Any, Any]:
    """``(n_varying, q, qc)`` of a chunk ``F`` with centred columns ``Fc`` (:class:`GramStats`): each
    column decided on its own squares (:func:`~neuroxr.kernels.stats.no_variance` with
    :func:`~neuroxr.kernels.stats.column_tol` of ``K``'s precision), so one large constant unit
    never hides the variance of the others."""
    F = F if F.dtype == Fc.dtype else xp.astype(F, Fc.dtype)
    const = constant_units(Fc, F)
    zero = xp.zeros(F.shape[:1], dtype=Fc.dtype, device=getattr(Fc, "device", None))
    idx = xp.nonzero(const)[0]
    if not int(idx.shape[0]):
        return int(F.shape[1]), zero, zero + 0
    C, Cc = xp.take(F, idx, axis=1), xp.take(Fc, idx, axis=1)  # the constant columns only (usually few)
    return int(F.shape[1]) - int(idx.shape[0]), xp.sum(C * C, axis=1), xp.sum(Cc * Cc, axis=1)


def combine(s1: GramStats, s2: GramStats) -> GramStats:
    """Statistics of the column-wise concatenation ``[F1, F2]`` from those of ``F1`` and ``F2``
    (first pass only: a row pass is run on the combined statistics, never combined)."""
    if s1.K.shape != s2.K.shape:
        raise LayoutError(
            f"combine: chunks have different numbers of stimuli ({s1.K.shape[0]} and {s2.K.shape[0]}); "
            "chunk the unit axis only."
        )
    p = s1.n_units + s2.n_units
    delta = s2.mu - s1.mu
    mu = s1.mu + delta * s2.n_units / p
    m2 = s1.m2 + s2.m2 + delta * delta * s1.n_units * s2.n_units / p
    return GramStats(K=s1.K + s2.K, a=s1.a + s2.a, v=s1.v + s2.v, n_units=p, mu=mu, m2=m2, **_joined(s1, s2))


def combine_many(parts: Iterable[GramStats]) -> GramStats:
    """Fold :func:`combine` over a non-empty iterable of partial statistics."""
    it = iter(parts)
    try:
        out = next(it)
    except StopIteration:
        raise LayoutError("combine_many: no chunks given; a feature matrix needs at least one unit.") from None
    for s in it:
        out = combine(out, s)
    return out


def gram(F: Any, chunk_size: int | None = None, row_pass: bool = True) -> GramStats:
    """:class:`GramStats` of an in-memory feature matrix.

    Parameters
    ----------
    F : array, shape (n_stimuli, n_units)
        Features, any array-API namespace.
    chunk_size : int, optional
        Process the units in chunks of this many columns (bounds the temporary copy of the
        centred chunk); default all at once.
    row_pass : bool, default True
        Add the row pass (a second product over the units) where correlation or cosine RDMs
        from the first would lose precision (:func:`~neuroxr.kernels.gram_rows.needs_row_pass`),
        and the pair pass where Euclidean ones would (:func:`~neuroxr.kernels.gram_pairs.needs_pair_pass`);
        False for callers that use ``K`` only (CKA, ridge, effective dimensionality).

    Returns
    -------
    GramStats
    """
    _check_2d(F, "gram")
    p = int(F.shape[1])
    if chunk_size is not None and chunk_size < 1:
        raise LayoutError(f"gram: chunk_size must be a positive int; got {chunk_size}.")
    step = p if chunk_size is None else min(chunk_size, p)
    s = gram_partial(F) if step == p else gram_chunks(F[:, i : i + step] for i in range(0, p, step))
    if row_pass and _rows.needs_row_pass(s):
        s = _rows.with_row_pass(s, (F[:, i : i + step] for i in range(0, p, step)))
    if row_pass and s.D2 is None:  # the pass finds its pairs once (none flagged: s as it is)
        s = _pairs.with_pair_pass(s, lambda: (F[:, i : i + step] for i in range(0, p, step)))
    return s


def gram_chunks(chunks: Iterable[Any]) -> GramStats:
    """Accumulate :class:`GramStats` over an iterable of unit chunks (each ``n x p_c``).

    Only one chunk and one ``n x n`` accumulator are alive at a time, so a layer read chunk by
    chunk from disk needs memory for ``n^2`` plus one chunk. One pass: where it is needed, add the
    row pass with :func:`~neuroxr.kernels.gram_rows.with_row_pass` over the same chunks.
    """
    out: GramStats | None = None
    for c in chunks:
        s = gram_partial(c)
        out = s if out is None else combine(out, s)
    if out is None:
        raise LayoutError("gram_chunks: no chunks given; a feature matrix needs at least one unit.")
    return out


# ---------------------------------------------------------------------------- derived Grams


# the measures computed from the statistics, importable from here
from .gram_measures import (  # noqa: E402
    centered_gram,
    constant_features,
    covariance_eigenvalues,
    double_center,
    effective_dimensionality,
    linear_cka,
    variance_totals,
)

# the reduction of dask arrays (:mod:`neuroxr.kernels.gram_reduce`), importable from here
from .gram_reduce import gram_dask, gram_scheduler, gram_stream, gram_tree  # noqa: E402, F401
