"""Split halves of the repeat axis, NaN-aware, for every rep at once.

Two modes (``split=``):

``"valid"`` (default)
    Per rep one random permutation of the repeat slots (drawn exactly as ``reverse_pred`` draws
    it). For each (stimulus, neuroid) the *valid* (non-NaN) repeats, taken in permuted order,
    are halved: the first ``ceil(v/2)`` go to half 1, the rest to half 2. Halves are balanced per
    stimulus and never empty when ``v >= 2``. When no trial is missing this is identical to
    ``"slots"``, so parity with ``reverse_pred`` holds on complete data.
``"slots"``
    ``reverse_pred``'s split: the first ``ceil(T/2)`` permuted slots form half 1, NaN slots
    included. With unequal repeat counts a half can be all-NaN for some stimuli (its mean is
    then NaN) and halves are unbalanced.

Everything but the draw of the permutations runs in the responses' own array namespace (NumPy,
torch, CuPy): the permutations are drawn on the host with a NumPy Generator, in
``reverse_pred``'s order, and turned into one small selection matrix on the device; the means
of every rep are then one matrix product there (no per-rep host round trip).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import asarray, get_namespace, resolve_backend, sum_last, to_numpy
from ..errors import LayoutError, shown
from .stats import spearman

__all__ = [
    "SPLIT_MODES", "SplitHalves", "distinct_splits", "draw_permutation", "first_half", "split_half_r", "split_means",
    "nanmean_repeats", "valid_counts", "complete_sums", "mean_over_reps",
]

SPLIT_MODES = ("valid", "slots")


def draw_permutation(rng: np.random.Generator, n_repeats: int) -> np.ndarray:
    """One permutation of ``n_repeats`` slots; consumes the same random numbers as
    ``rng.shuffle`` of a ``(n_repeats, ...)`` array along axis 0 (``reverse_pred``'s draw)."""
    return rng.permutation(n_repeats)


def first_half(perms: np.ndarray) -> np.ndarray:
    """Which slots each rep's half 1 holds (its first ``ceil(T/2)`` permuted slots), bool (n_reps, n_repeats)."""
    perms = np.atleast_2d(np.asarray(perms))
    reps, T = perms.shape
    mask = np.zeros((reps, T), dtype=bool)
    mask[np.arange(reps)[:, None], perms[:, : (T + 1) // 2]] = True
    return mask


def distinct_splits(perms: np.ndarray, symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The distinct splits among the reps' permutations, for halves that depend on the set of slots.

    Half 1 of a rep is the set of its first ``ceil(T/2)`` permuted slots, so with few repeats many
    reps share a split (``T = 4``: 6 sets, 3 partitions). A statistic of the halves computed once
    per distinct split and indexed by ``inverse`` equals the per-rep one. Valid where the halves
    depend on the set alone: complete data, or ``split="slots"`` (see :attr:`SplitHalves.by_set`).

    Parameters
    ----------
    perms : int array, shape (n_reps, n_repeats)
    symmetric : bool, default False
        The statistic is symmetric in the two halves (a correlation of ``h1`` with ``h2``): with
        an even ``T`` a split and its swap count as one.

    Returns
    -------
    distinct : int array, shape (n_distinct, n_repeats)
        One representative permutation per distinct split.
    inverse : int array, shape (n_reps,)
        ``distinct[inverse[i]]`` splits like ``perms[i]``.
    """
    perms = np.atleast_2d(np.asarray(perms))
    T = perms.shape[1]
    sets = first_half(perms)
    if symmetric and T % 2 == 0 and T:
        sets[~sets[:, 0]] ^= True  # the half holding slot 0 names the partition
    _, index, inverse = np.unique(sets, axis=0, return_index=True, return_inverse=True)
    return perms[index], np.asarray(inverse).reshape(-1)


def _dev(x: Any) -> Any:
    return getattr(x, "device", None)


def nanmean_repeats(R: Any, total: Any = None) -> Any:
    """NaN-mean over the last (repeat) axis without warnings; all-NaN gives NaN.

    Parameters
    ----------
    R : array, shape (n_stimuli, n_neuroids, n_repeats)
        Any array-API namespace.
    total : array, shape (n_stimuli, n_neuroids), optional
        ``sum_last(R)`` (:func:`~neuroxr.backend.sum_last`) where the caller has it (the split
        halves read it too): R is then read again only when it holds NaN (without it, R is first
        checked for NaN, then summed).

    Returns
    -------
    array, shape (n_stimuli, n_neuroids)
    """
    xp = get_namespace(R)
    if total is not None and complete_sums(R, total, "nanmean_repeats"):
        return total / R.shape[-1]  # no NaN among the repeats (it would be in its sum): no mask of R
    valid = ~xp.isnan(R)
    if bool(xp.all(valid)):
        return (sum_last(R) if total is None else total) / R.shape[-1]
    count = sum_last(xp.astype(valid, R.dtype))
    total = sum_last(xp.where(valid, R, xp.zeros_like(R)))
    nan = xp.asarray(float("nan"), dtype=R.dtype, device=_dev(R))
    return xp.where(count > 0, total / xp.where(count > 0, count, xp.ones_like(count)), nan)


def complete_sums(R: Any, total: Any, caller: str) -> bool:
    """Whether the repeat sums ``total`` of ``R`` (shape (n_stimuli, n_neuroids), checked) are all
    finite: no repeat of ``R`` is NaN (it would be in its sum; inf is refused upstream). Non-finite
    sums (a NaN, or an overflow) decide nothing: the caller reads ``R``."""
    xp = get_namespace(R)
    total = _repeat_sums(R, total, caller)
    # one sum, no mask: NaN or inf among the sums makes it non-finite (finite sums that overflow it
    # only send the caller to R, without a warning)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(xp.isfinite(xp.sum(total)))


def _repeat_sums(R: Any, total: Any, caller: str) -> Any:
    """``sum_last(R)``, shape (n_stimuli, n_neuroids), or the caller's ``total`` of it (its shape checked)."""
    if total is None:
        return sum_last(R)
    if tuple(total.shape) != tuple(R.shape[:-1]):
        raise LayoutError(f"{caller}: total must be the repeat sums of the responses, shape {tuple(R.shape[:-1])}; "
                          f"got shape {tuple(total.shape)}.")
    return total


def valid_counts(R: Any) -> Any:
    """Valid (non-NaN) repeats per (stimulus, neuroid), shape (n_stimuli, n_neuroids), integer."""
    xp = get_namespace(R)
    nan = xp.isnan(R)
    if not bool(xp.any(nan)):  # complete data (the common case): no int64 copy of R
        return xp.full(R.shape[:-1], R.shape[-1], dtype=xp.int64, device=_dev(R))
    return xp.sum(xp.astype(~nan, xp.int64), axis=-1)


_FLAT_COPY_BYTES = 64 * 2**20  # strided responses up to this size are copied once into a flat array


def _flat_view(xp: Any, R: Any, shape: tuple[int, int]) -> Any:
    """``R`` reshaped to ``shape`` without a copy, or None when that needs a copy (a strided view)."""
    try:
        return xp.reshape(R, shape, copy=False)
    except (ValueError, TypeError, RuntimeError, AttributeError):
        return None


class SplitHalves:
    """Split-half means of one response array for many permutations, NaN-aware.

    Precomputes the zero-filled responses and the valid mask once; :meth:`means` then gives the
    halves of a batch of reps. Rows (stimulus, neuroid) with every repeat valid go through one
    matrix product with a ``T x 2 reps`` selection matrix; only rows with missing trials need
    the per-row ranking of ``split="valid"``.

    Parameters
    ----------
    R : array, shape (n_stimuli, n_neuroids, n_repeats)
        Any array-API namespace; the means are computed and returned there.
    mode : {"valid", "slots"}, default "valid"
    copy : bool, default True
        Copy strided complete responses (up to 64 MiB) once into a flat array, for one product
        per batch of reps; ``False`` keeps memory at the halves' size (a product per stimulus,
        or per block of stimuli).
    total : array, shape (n_stimuli, n_neuroids), optional
        ``sum_last(R)`` (:func:`~neuroxr.backend.sum_last`) where the caller has it (e.g. from the
        trial means, :func:`nanmean_repeats`): complete responses are then not summed again.
    """

    def __init__(self, R: Any, mode: str = "valid", copy: bool = True, total: Any = None) -> None:
        if mode not in SPLIT_MODES:
            raise LayoutError(f"SplitHalves: mode must be one of {SPLIT_MODES}; got {shown(mode)}.")
        if len(R.shape) != 3:
            raise LayoutError(f"SplitHalves: responses must be 3-D (stimulus, neuroid, repeat); got shape {tuple(R.shape)}.")
        xp = get_namespace(R)
        if not xp.isdtype(R.dtype, "real floating"):
            R = xp.astype(R, xp.float64)
        self.xp = xp
        self.shape = tuple(int(d) for d in R.shape)
        self.mode = mode
        n, k, T = self.shape
        # given repeat sums are finite where no repeat is NaN (inf is refused upstream): no NaN mask of R
        given = total is not None and complete_sums(R, total, "SplitHalves")
        isnan = None if given else xp.isnan(R)
        self._complete = given or not bool(xp.any(isnan))
        if self._complete:
            # no zero-filled copy: R itself; a strided view is copied once when small (every
            # batch of reps reads it), unless ``copy=False``
            self._R = R
            self._R0 = _flat_view(xp, R, (n * k, T))
            if self._R0 is None and copy and n * k * T * 8 <= _FLAT_COPY_BYTES:
                self._R0 = xp.reshape(R, (n * k, T), copy=True)
            self._total = xp.reshape(sum_last(R) if total is None else total, (n * k,))
            self._valid = self._validf = self._count = None
            self._rows = np.zeros(0, dtype=np.intp)
            return
        valid = ~isnan
        zero = xp.asarray(0.0, dtype=R.dtype, device=_dev(R))
        self._R0 = xp.reshape(xp.where(valid, R, zero), (n * k, T))
        self._valid = xp.reshape(valid, (n * k, T))
        self._validf = xp.astype(self._valid, R.dtype)
        self._total = xp.sum(self._R0, axis=1)
        self._count = xp.astype(xp.sum(self._valid, axis=1), R.dtype)
        incomplete = ~xp.all(self._valid, axis=1)
        self._rows = xp.nonzero(incomplete)[0] if mode == "valid" else None

    @property
    def by_set(self) -> bool:
        """Whether a rep's halves depend only on the set of its first slots (complete data, or
        ``split="slots"``), so reps may share them (:func:`distinct_splits`)."""
        return self._complete or self.mode == "slots"

    def _half_sums(self, M: Any) -> Any:
        """``M @ R0^T``, shape (reps, n*k): from the flat view, or a block of stimuli at a time."""
        xp = self.xp
        if self._R0 is not None:
            return xp.matmul(M, xp.permute_dims(self._R0, (1, 0)))
        n, k, T = self.shape
        out = xp.empty((int(M.shape[0]), n * k), dtype=M.dtype, device=_dev(M))
        step = max(1, (4 * 2**20) // max(1, k * T * 8))  # ~4 MiB copied per block
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            block = xp.reshape(self._R[lo:hi, ...], ((hi - lo) * k, T))
            out[:, lo * k : hi * k] = xp.matmul(M, xp.permute_dims(block, (1, 0)))
        return out

    def means(self, perms: Any) -> tuple[Any, Any]:
        """Half means for each permutation.

        Parameters
        ----------
        perms : array-like of int, shape (n_reps, n_repeats)
            Host (NumPy) permutations, e.g. from :func:`draw_permutation`.

        Returns
        -------
        h1, h2 : array, shape (n_reps, n_stimuli, n_neuroids)
            In the responses' namespace.
        """
        xp = self.xp
        perms = np.atleast_2d(np.asarray(perms))
        n, k, T = self.shape
        n_reps = perms.shape[0]
        # one reps x T selection matrix for half 1 (built on the host, one transfer); half 2 is the
        # total minus half 1. Products with R0^T come out as (reps, n*k), contiguous per rep.
        M = xp.asarray(first_half(perms), dtype=self._total.dtype, device=_dev(self._total))
        s1 = self._half_sums(M)
        s2 = self._total[None, :] - s1
        c1 = c2 = None
        if not self._complete:
            c1 = xp.matmul(M, xp.permute_dims(self._validf, (1, 0)))
            c2 = self._count[None, :] - c1
        # the shared tail works target-major: on transposed views, written in place
        self._finish(perms, *(None if v is None else xp.permute_dims(v, (1, 0)) for v in (s1, s2, c1, c2)))
        return xp.reshape(s1, (n_reps, n, k)), xp.reshape(s2, (n_reps, n, k))

    def target_means(self, perms: Any) -> tuple[Any, Any]:
        """Half means of a batch of reps in one pass over the responses, target-major.

        Same values as :meth:`means`, laid out ``(n_stimuli, n_neuroids, n_reps)``: one product
        ``R0 (n*k, T) @ M^T (T, reps)`` for every rep at once, so ``h1.reshape(n, k * reps)`` is a
        contiguous target block (columns ordered neuroid-major, rep-minor) for ``S @ Y``.

        Parameters
        ----------
        perms : array-like of int, shape (n_reps, n_repeats)

        Returns
        -------
        h1, h2 : array, shape (n_stimuli, n_neuroids, n_reps)
        """
        xp = self.xp
        perms = np.atleast_2d(np.asarray(perms))
        n, k, T = self.shape
        n_reps = perms.shape[0]
        M = xp.asarray(first_half(perms).T, dtype=self._total.dtype, device=_dev(self._total))
        if self._R0 is not None:
            s1 = xp.matmul(self._R0, M)  # (n*k, reps)
        else:  # a strided view: one product per stimulus, no copy of the responses
            s1 = xp.reshape(xp.matmul(self._R, M), (n * k, n_reps))
        s2 = self._total[:, None] - s1
        c1 = c2 = None
        if not self._complete:
            c1 = xp.matmul(self._validf, M)
            c2 = self._count[:, None] - c1
        self._finish(perms, s1, s2, c1, c2)
        return xp.reshape(s1, (n, k, n_reps)), xp.reshape(s2, (n, k, n_reps))

    def _finish(self, perms: np.ndarray, s1: Any, s2: Any, c1: Any, c2: Any) -> None:
        """Half sums ``s1``, ``s2`` (and valid counts ``c1``, ``c2``; ``None`` with complete trials),
        each ``(n*k, reps)``, turned into half means in place: the rows with missing trials take
        their exact split (the first ``ceil(valid / 2)`` valid values in permuted order), then every
        sum is divided by its count (an empty half gives NaN)."""
        xp = self.xp
        dt = self._total.dtype
        dev = _dev(self._total)
        n_reps = perms.shape[0]
        T = self.shape[2]
        first = (T + 1) // 2
        rows = self._rows
        if rows is not None and int(rows.shape[0]):
            Rr = xp.take(self._R0, rows, axis=0)
            valid = xp.take(self._valid, rows, axis=0)
            limit = (xp.sum(valid, axis=1) + 1) // 2
            perms_dev = xp.asarray(perms, device=dev)  # one transfer for every rep
            for i in range(n_reps):
                pidx = perms_dev[i, :]
                vp = xp.take(valid, pidx, axis=1)
                in1 = vp & (xp.cumulative_sum(xp.astype(vp, limit.dtype), axis=1) <= limit[:, None])
                in2 = vp & ~in1
                Rp = xp.take(Rr, pidx, axis=1)
                s1[rows, i] = xp.sum(Rp * in1, axis=1)  # float times bool: the valid values of the half
                s2[rows, i] = xp.sum(Rp * in2, axis=1)
                c1[rows, i] = xp.astype(xp.sum(in1, axis=1), dt)
                c2[rows, i] = xp.astype(xp.sum(in2, axis=1), dt)
        if c1 is None:  # every half holds first / T - first values
            s1 /= float(first)
            s2 /= float(T - first) if T > first else float("nan")
        else:
            nan = xp.asarray(float("nan"), dtype=dt, device=dev)
            s1 /= xp.where(c1 > 0, c1, nan)
            s2 /= xp.where(c2 > 0, c2, nan)


def split_means(R: Any, perms: Any, mode: str = "valid") -> tuple[Any, Any]:
    """Means of both split halves for every permutation (see :class:`SplitHalves`).

    Parameters
    ----------
    R : array, shape (n_stimuli, n_neuroids, n_repeats)
        Responses with NaN for missing trials, any array-API namespace.
    perms : array-like of int, shape (n_reps, n_repeats)
        One permutation of the repeat slots per rep (host NumPy).
    mode : {"valid", "slots"}, default "valid"
        See the module docstring.

    Returns
    -------
    h1, h2 : array, shape (n_reps, n_stimuli, n_neuroids)
        NaN-means of half 1 and half 2 (NaN where a half holds no valid trial).
    """
    return SplitHalves(R, mode).means(perms)


def target_halves(R: Any, split: str, total: Any = None, backend: str | None = "numpy", copy: bool = True) -> SplitHalves:
    """:class:`SplitHalves` of targets ``R`` (n, k, T) whose reliabilities :func:`split_half_r` ranks:
    on a device ``backend``, of a float64 copy of ``R`` (and ``total``) there (ranks and their
    correlations exact, as NumPy's); on NumPy of ``R`` itself (``copy`` as :class:`SplitHalves`)."""
    if resolve_backend(backend) == "numpy":
        return SplitHalves(R, split, copy=copy, total=total)
    return SplitHalves(asarray(R, backend), split, total=None if total is None else asarray(total, backend))


def split_half_r(halves: SplitHalves, perms: Any, corr: Any = spearman, block_bytes: int = 2**20) -> np.ndarray:
    """Correlation across stimuli of each neuroid's two half means, per rep: the one split-half
    statistic of the directions' target reliabilities and of :func:`~neuroxr.predictivity.split_half_reliability`.

    Each neuroid uses its complete pairs (``nan_policy="omit"``). Where the halves depend on the set
    of slots alone (:attr:`SplitHalves.by_set`), reps that share a split share its correlation
    (:func:`distinct_splits`; the correlation is symmetric in the halves).

    Parameters
    ----------
    halves : SplitHalves
        Of responses (n_stimuli, n_neuroids, n_repeats).
    perms : array-like of int, shape (n_reps, n_repeats)
    corr : callable, default :func:`~neuroxr.kernels.stats.spearman`
        ``corr(a, b, nan_policy="omit")`` per column (e.g. ``pearson``).
    block_bytes : int, default 1 MiB
        Half means of as many splits as fit are correlated per pass (ranking holds a few copies).

    Returns
    -------
    ndarray, shape (n_neuroids, n_reps)
        Uncorrected (apply :func:`~neuroxr.kernels.stats.spearman_brown` for the reliability).
    """
    perms = np.atleast_2d(np.asarray(perms))
    draws, inverse = distinct_splits(perms, symmetric=True) if halves.by_set else (perms, np.arange(perms.shape[0]))
    n, k, _ = halves.shape
    r = np.empty((k, draws.shape[0]))
    step = max(1, int(block_bytes // (n * k * 8)))
    for lo in range(0, draws.shape[0], step):
        s1, s2 = halves.target_means(draws[lo : lo + step])  # (n, k, splits): columns neuroid-major
        r[:, lo : lo + step] = to_numpy(corr(halves.xp.reshape(s1, (n, -1)), halves.xp.reshape(s2, (n, -1)),
                                             nan_policy="omit")).reshape(k, -1)
        del s1, s2
    return r[:, inverse]


def mean_over_reps(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """The one mean over reps of split-half reliabilities (Spearman-Brown corrected): over the non-NaN
    values along ``axis``, NaN where there is none. ``-inf`` (a split-half correlation of -1) counts, so
    one such rep makes the mean ``-inf``, below any threshold; it is not a missing value.

    Parameters
    ----------
    v : ndarray
        Reliabilities, reps along ``axis``.
    axis : int, default -1

    Returns
    -------
    ndarray
        ``v`` reduced over ``axis`` (a 0-d array for a 1-d ``v``).
    """
    v = np.asarray(v)  # no cast: the sums the directions judged before
    present = ~np.isnan(v)
    count = present.sum(axis=axis)
    total = np.where(present, v, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
