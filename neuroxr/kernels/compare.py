"""Comparisons of RDMs on their upper triangles: Pearson, Spearman, Kendall's tau-a, cosine.

The upper triangle is taken in row-major ``i < j`` order (as ``scipy.spatial.distance.squareform``).
``spearman`` is Pearson of average ranks; ``kendall`` is Kendall's tau-a without tie correction,
``(concordant - discordant) / (P (P - 1) / 2)`` (rsatoolbox's ``"tau-a"``).

Missing dissimilarities: pairs that are NaN in either RDM are dropped before any method (as
rsatoolbox's ``compare`` and scipy's ``nan_policy="omit"``), with one
:class:`~neuroxr.errors.NeuroxrWarning` saying how many; ranks are never computed over NaN. Fewer
than 3 complete pairs compare as NaN with every method.

:func:`compare_rdms` takes several methods at once: each vector is sorted at most once and
Spearman and tau-a share the sort (:class:`~neuroxr.kernels.stats.SortedVector`).
:func:`compare_rdms_many` compares stacks in one batch (centre/rank each RDM once, one matrix
product; tau-a pair by pair from the shared sorts). All the arithmetic is in
:mod:`neuroxr.kernels.stats` and :mod:`neuroxr.backend`; it runs in the inputs' namespace.

Constant RDMs: an RDM whose dissimilarities are equal up to rounding (their spread at most
:data:`~neuroxr.backend.TIE_RTOL` times their largest magnitude, the threshold of the tie rule that
makes its ranks one tie) has no Pearson or Spearman correlation: NaN, as scipy's ``pearsonr`` gives
for a constant input (a Pearson correlation of the rounding of ``0.4`` averaged over 15 pairs
read about ``1e-16``). Cosine is NaN for an all-zero RDM only; Kendall's tau-a of a constant RDM is 0.
The rule is :func:`flat_ends`, one place for every caller (the RSA bootstrap's resamples judge the
values each draws by it). Correlation and cosine RDMs, whose rounding is absolute (about ``1e-16``)
rather than relative to their largest value, are made constant where they are computed when all their
values are equal up to rounding on the measure's own scale (:func:`neuroxr.kernels.rdm.tie_bounded`):
the RDM of affine copies of one pattern is then flat, not rounding read as variation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..backend import TIE_RTOL, get_namespace, pearson_vectors, pow2_scaled
from ..errors import LayoutError, warn
from .rdm import _diag, check_option, upper_tri
from .stats import MIN_COMPLETE, SortedVector, kendall_tau_a_sorted, rank, spearman_sorted

__all__ = [
    "COMPARE_METHODS",
    "compare_rdms",
    "compare_rdms_many",
    "kendall_tau_a",
    "normalize_compare_methods",
    "rank_vectors",
]

COMPARE_METHODS = ("pearson", "spearman", "kendall", "cosine")
_COMPARE_ALIASES = {"corr": "pearson", "tau-a": "kendall", "kendall_tau_a": "kendall", "tau_a": "kendall"}


def _normalize_compare_method(method: Any, caller: str, param: str = "method") -> str:
    """``method`` (``caller``'s argument ``param``) by its canonical name, or the one-line parameter error."""
    if isinstance(method, str) and method in _COMPARE_ALIASES:
        method = _COMPARE_ALIASES[method]
    return check_option(method, COMPARE_METHODS, param, caller)


def normalize_compare_methods(method: str | Sequence[str], caller: str) -> tuple[str, ...]:
    """Canonical names of one comparison method or a sequence of them (aliases resolved, duplicates dropped)."""
    if isinstance(method, str):
        return (_normalize_compare_method(method, caller),)
    try:
        items = list(method)
    except TypeError:
        items = [method]
    if not items:
        raise LayoutError(f"{caller}: method is an empty sequence; give one of {COMPARE_METHODS} or a list of them.")
    return tuple(dict.fromkeys(_normalize_compare_method(m, caller) for m in items))


def rank_vectors(V: Any) -> Any:
    """Average ranks (1-based, ties share their mean rank) along the last axis, as ``scipy.stats.rankdata``.

    Parameters
    ----------
    V : array, shape (m, P)

    Returns
    -------
    array, shape (m, P), floating
        A row holding a NaN is all NaN (see :func:`neuroxr.kernels.stats.rank`).
    """
    return rank(V, axis=-1)


def _float(xp: Any, v: Any) -> Any:
    return v if xp.isdtype(v.dtype, "real floating") else xp.astype(v, xp.float64)


def _drop_nan_pairs(xp: Any, va: Any, vb: Any, caller: str) -> tuple[Any, Any]:
    """``va``, ``vb`` without the pairs that are NaN in either; warns once with the count."""
    if not math.isnan(float(xp.sum(va)) + float(xp.sum(vb))):  # one pass each, no mask: no NaN
        return va, vb
    bad = xp.isnan(va) | xp.isnan(vb)
    n_bad = int(xp.sum(xp.astype(bad, xp.int64)))
    if n_bad == 0:
        return va, vb
    warn(
        f"{caller}: dropped {n_bad} of {int(va.shape[0])} dissimilarity pairs that are NaN in either RDM "
        "(as rsatoolbox and scipy nan_policy='omit'); the similarity uses the remaining pairs.",
    )
    keep = ~bad
    return va[keep], vb[keep]


def _compare_vectors(va: Any, vb: Any, methods: tuple[str, ...]) -> dict[str, float]:
    """Several comparisons of two NaN-free vectors (P,), each vector sorted at most once; NaN for
    fewer than :data:`~neuroxr.kernels.stats.MIN_COMPLETE` pairs (a correlation of 2 is +-1)."""
    out: dict[str, float] = {}
    prep: tuple[SortedVector, SortedVector] | None = None
    for method in methods:
        if int(va.shape[0]) < MIN_COMPLETE:
            out[method] = math.nan
            continue
        if method in ("pearson", "cosine"):
            flat = method == "pearson" and bool(_any_flat(va, vb))
            out[method] = math.nan if flat else pearson_vectors(va, vb, center=method == "pearson")
            continue
        if prep is None:
            prep = (SortedVector(va), SortedVector(vb))
        out[method] = spearman_sorted(*prep) if method == "spearman" else kendall_tau_a_sorted(*prep)
    return out


def kendall_tau_a(a: Any, b: Any) -> float:
    """Kendall's tau-a of two vectors: ``(concordant - discordant) / (P (P - 1) / 2)``.

    ``O(P log P)`` and exact (discordant pairs counted as inversions); pairs with a NaN are
    dropped with a :class:`~neuroxr.errors.NeuroxrWarning`.

    Parameters
    ----------
    a, b : array, shape (P,)

    Returns
    -------
    float
        NaN with fewer than 2 complete pairs (a statistic of two vectors: :func:`compare_rdms`
        asks for 3 pairs of two RDMs).
    """
    if a.shape != b.shape or len(a.shape) != 1:
        raise LayoutError(f"kendall_tau_a: expected two vectors of equal length; got shapes {tuple(a.shape)} and {tuple(b.shape)}.")
    xp = get_namespace(a, b)
    va, vb = _drop_nan_pairs(xp, _float(xp, a), _float(xp, b), "kendall_tau_a")
    return kendall_tau_a_sorted(SortedVector(va), SortedVector(vb)) if int(va.shape[0]) >= 2 else math.nan


def _as_vectors(x: Any, name: str) -> Any:
    """(m, P) stack of upper triangles from a vector, a square RDM or stacks of either."""
    xp = get_namespace(x)
    if len(x.shape) == 1:
        return x[None, :]
    if len(x.shape) == 2 and x.shape[0] == x.shape[1] and x.shape[0] > 1:
        # one square RDM (a stack of m vectors of length m would be ambiguous; require symmetry)
        sym = xp.abs(x - xp.permute_dims(x, (1, 0))) <= 1e-12 * (1 + xp.max(xp.abs(x)))
        if bool(xp.all(sym | (xp.isnan(x) & xp.isnan(xp.permute_dims(x, (1, 0)))))) and bool(xp.all(_diag(xp, x) == 0)):
            return upper_tri(x)[None, :]
        return x
    if len(x.shape) == 2:
        return x
    if len(x.shape) == 3:
        return upper_tri(x)
    raise LayoutError(f"{name}: expected RDM vectors (P,) / (m, P) or square RDMs (n, n) / (m, n, n); got shape {tuple(x.shape)}.")


def _flat(xp: Any, V: Any) -> Any:
    """Whether each vector (last axis) of ``V`` is constant up to rounding: its spread at most
    :data:`~neuroxr.backend.TIE_RTOL` times its largest magnitude (the tie rule's threshold), shape
    ``V.shape[:-1] + (1,)``; :func:`flat_ends` of its smallest and largest values."""
    return flat_ends(xp, xp.min(V, axis=-1, keepdims=True), xp.max(V, axis=-1, keepdims=True))


def flat_ends(xp: Any, lo: Any, hi: Any) -> Any:
    """The one rule of an RDM constant up to rounding, from its smallest and largest values ``lo``,
    ``hi`` (arrays of one shape, e.g. (B,) for resamples): ``hi - lo <= TIE_RTOL * max(|lo|, |hi|)``,
    its spread within the tie rule's threshold of its largest magnitude. NaN ends: False.

    A correlation or cosine RDM whose values are all equal up to rounding on the measure's own scale
    is made constant where it is computed (:func:`neuroxr.kernels.rdm.tie_bounded`), so the rule
    relative to the largest magnitude also judges an RDM of rounding around 0 flat."""
    return hi - lo <= TIE_RTOL * xp.maximum(xp.abs(lo), xp.abs(hi))


def _any_flat(a: Any, b: Any) -> bool:
    """Whether either of the vectors ``a``, ``b`` (P,) is constant up to rounding (:func:`_flat`)."""
    xp = get_namespace(a, b)
    return bool(_flat(xp, a)[0]) or bool(_flat(xp, b)[0])


def _center_normalize(xp: Any, V: Any, center: bool) -> Any:
    V = pow2_scaled(V)  # squares within floating range at any scale of the RDM values
    flat = _flat(xp, V) if center else None  # constant up to rounding: no correlation (NaN)
    if center:
        V = V - xp.mean(V, axis=-1, keepdims=True)
    nrm = xp.sqrt(xp.sum(V * V, axis=-1, keepdims=True))
    if center:
        nrm = xp.where(flat, xp.zeros_like(nrm), nrm)
    nan = xp.asarray(float("nan"), dtype=V.dtype, device=getattr(V, "device", None))
    return xp.where(nrm > 0, V / xp.where(nrm > 0, nrm, xp.ones_like(nrm)), nan)


def compare_rdms_many(A: Any, B: Any, method: str = "spearman") -> Any:
    """Compare every RDM of ``A`` with every RDM of ``B`` on the upper triangle, in one batch.

    Parameters
    ----------
    A : array, shape (m_a, n, n), (m_a, P), (n, n) or (P,)
        RDMs (square, symmetric with a zero diagonal) or their upper triangles (``P = n (n-1)/2``).
    B : array, shape (m_b, n, n), (m_b, P), (n, n) or (P,)
        Same ``n``.
    method : {"pearson", "spearman", "kendall", "cosine"}, default "spearman"
        ``kendall`` is tau-a (aliases ``"tau-a"``; ``"corr"`` means ``"pearson"``).

    Returns
    -------
    array, shape (m_a, m_b)
        Similarities (1 = identical ordering/shape); NaN when an RDM is constant, and throughout
        for fewer than 3 pairs (RDMs of 1 or 2 stimuli), as :func:`compare_rdms` gives. With NaN
        dissimilarities each pair of RDMs uses its own complete pairs (one warning), NaN where fewer
        than 3 are complete.
    """
    method = _normalize_compare_method(method, "compare_rdms_many")
    xp = get_namespace(A, B)
    VA = _float(xp, _as_vectors(A, "compare_rdms_many: A"))
    VB = _float(xp, _as_vectors(B, "compare_rdms_many: B"))
    if VA.shape[-1] != VB.shape[-1]:
        raise LayoutError(
            f"compare_rdms_many: RDMs of different sizes ({VA.shape[-1]} and {VB.shape[-1]} pairs); they must describe the same stimuli."
        )
    dev = getattr(VA, "device", None)
    ma, mb = int(VA.shape[0]), int(VB.shape[0])
    if int(VA.shape[-1]) < MIN_COMPLETE:  # compare_rdms's rule (RDMs of 1 or 2 stimuli): NaN for every method
        return xp.full((ma, mb), math.nan, dtype=VA.dtype, device=dev)
    nan_a, nan_b = xp.any(xp.isnan(VA), axis=-1), xp.any(xp.isnan(VB), axis=-1)
    if bool(xp.any(nan_a)) or bool(xp.any(nan_b)):
        # complete pairs differ from one pair of RDMs to the next: compare them one pair at a time, counted
        # here (no warning filter: it is process-wide, and recorded a sweep's other threads' warnings)
        vals, dropped = [], 0
        for i in range(ma):
            row = []
            for j in range(mb):
                keep = ~(xp.isnan(VA[i, :]) | xp.isnan(VB[j, :]))
                dropped += int(not bool(xp.all(keep)))
                row.append(_compare_vectors(VA[i, :][keep], VB[j, :][keep], (method,))[method])
            vals.append(row)
        if dropped:
            warn(
                f"compare_rdms_many: {dropped} of {ma * mb} comparisons dropped dissimilarity pairs that are NaN "
                "in either RDM (as rsatoolbox and scipy nan_policy='omit').",
            )
        return xp.asarray(vals, dtype=VA.dtype, device=dev)
    if method == "kendall":
        sa = [SortedVector(VA[i, :]) for i in range(ma)]
        sb = sa if VB is VA else [SortedVector(VB[j, :]) for j in range(mb)]
        vals = [[kendall_tau_a_sorted(a, b) for b in sb] for a in sa]
        return xp.asarray(vals, dtype=VA.dtype, device=dev)
    if method == "spearman":
        VA, VB = rank_vectors(VA), rank_vectors(VB)
    center = method != "cosine"
    NA = _center_normalize(xp, VA, center)
    NB = _center_normalize(xp, VB, center)
    return xp.clip(xp.matmul(NA, xp.permute_dims(NB, (1, 0))), -1.0, 1.0)


def compare_rdms(a: Any, b: Any, method: str | Sequence[str] = "spearman") -> float | dict[str, float]:
    """Similarity of two RDMs on their upper triangles, by one method or several at once.

    With several methods each triangle is extracted once and each vector sorted at most once
    (Spearman's ranks and Kendall's tau-a share the sorts). Pairs that are NaN in either RDM are
    dropped first, with one :class:`~neuroxr.errors.NeuroxrWarning` giving their number.

    Parameters
    ----------
    a, b : array, shape (n, n) or (P,)
        Square RDMs or their upper triangles (``P = n (n - 1) / 2``, row-major ``i < j``).
    method : str or sequence of str, default "spearman"
        ``"pearson"``, ``"spearman"`` (Pearson of average ranks), ``"kendall"`` (tau-a) or
        ``"cosine"``; aliases ``"corr"``, ``"tau-a"``.

    Returns
    -------
    float, or dict of str to float
        A float for one method given as a string; for a sequence, ``{method: similarity}`` keyed by
        the canonical names in the order given. NaN for a constant RDM or fewer than 3 complete pairs
        (a correlation of 2 pairs is +-1 whatever the RDMs; geometry's rule).
    """
    methods = normalize_compare_methods(method, "compare_rdms")
    for x, nm in ((a, "a"), (b, "b")):
        if len(x.shape) not in (1, 2):
            raise LayoutError(
                f"compare_rdms: {nm} must be one RDM, (n, n) or (P,); got shape {tuple(x.shape)}. Use compare_rdms_many for stacks."
            )
    xp = get_namespace(a, b)
    va = upper_tri(a) if len(a.shape) == 2 else a
    vb = upper_tri(b) if len(b.shape) == 2 else b
    if va.shape != vb.shape:
        raise LayoutError(
            f"compare_rdms: RDMs of different sizes ({va.shape[-1]} and {vb.shape[-1]} pairs); they must describe the same stimuli."
        )
    va, vb = _drop_nan_pairs(xp, _float(xp, va), _float(xp, vb), "compare_rdms")
    out = _compare_vectors(va, vb, methods)
    return out if not isinstance(method, str) else out[methods[0]]
