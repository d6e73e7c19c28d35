"""Noise ceilings of RDMs: across subjects (Nili et al. 2014; rsatoolbox's ``boot_noise_ceiling``)
and from split halves of the repeats (Spearman-Brown corrected)."""

from __future__ import annotations

import collections
import hashlib
import threading
from typing import Any

import numpy as np
import xarray as xr

from ..backend import pow2_scaled, to_numpy
from ..errors import LayoutError, recording, warn
from ..identity import feed_values
from ..kernels import compare as _c
from ..kernels import rdm as _r
from ..kernels.resample import nanmean
from ..kernels.splits import mean_over_reps
from ..kernels.stats import spearman_brown as _spearman_brown
from ..validation import check_bool, real_array
from ._common import _canonical, _Checked, _named, _plain, input_labels, warn_flat_rdms
from ._rdm_values import _check_square, _refuse_inf
from .rdm import _check_stimuli, _compare_vectors, _nan_warning, _split_half_rdms
from .rdm_stack import _stack_rdms
from .rsa_resample import MIN_PAIRS

__all__ = ["rdm_noise_ceiling", "split_half_rdm_ceiling"]


def _nan_rank(V: np.ndarray) -> np.ndarray:
    """Ranks of each row's finite entries among themselves (the one rank rule), NaN where NaN."""
    out = np.full(V.shape, np.nan)
    for i, v in enumerate(V):
        ok = ~np.isnan(v)
        if ok.any():  # an all-NaN RDM has no ranks: it stays NaN, out of the pool
            out[i, ok] = to_numpy(_c.rank_vectors(v[ok]))
    return out


def _pool(V: np.ndarray, method: str) -> np.ndarray:
    """Average of RDM vectors after the transform that ``method`` ignores (rsatoolbox's ``pool_rdm``).

    Ranks for Spearman/Kendall (their plain mean, so that tied means stay exactly tied), z-scores
    for Pearson, division by the root mean square for cosine. NaN entries stay NaN through the
    transform and are left out of the mean.
    """
    has_nan = bool(np.isnan(V).any())
    mean = nanmean if has_nan else np.mean  # all-NaN pairs stay NaN, silently (no process-wide warning filter)
    if method in ("spearman", "kendall"):
        return mean(_nan_rank(V) if has_nan else to_numpy(_c.rank_vectors(V)), axis=0)
    V = pow2_scaled(V)  # squares within float64's range at any scale (no change to the z-scores)
    if method == "pearson":
        V = V - mean(V, axis=1)[:, None]
    scale = np.sqrt(mean(V * V, axis=1))[:, None]
    return mean(V / np.where(scale > 0, scale, 1), axis=0)


def _is_rdm(D: np.ndarray) -> bool:
    try:
        _check_square(D, "rdms")
    except LayoutError:
        return False
    return True


def _check_stack_shape(R: np.ndarray) -> None:
    """One-line :class:`LayoutError` unless the NumPy ``rdms`` of :func:`rdm_noise_ceiling` is a stack
    ``(m, n, n)`` or ``(m, P)`` (``P = n (n - 1) / 2``) of several RDMs: a square ``(n, n)`` array
    that is an RDM (symmetric with a zero diagonal, :func:`~neuroxr.geometry._rdm_values._check_square`) is one
    RDM, not ``n`` condensed ones; any other square array is ``m`` condensed RDMs of ``m`` pairs each,
    as :func:`neuroxr.kernels.compare.compare_rdms_many` reads them."""
    stack = "pass a stack of subject RDMs, (m, n, n) or condensed (m, n (n - 1) / 2)"
    if R.ndim not in (2, 3) or (R.ndim == 3 and R.shape[1] != R.shape[2]):
        raise LayoutError(f"rdm_noise_ceiling: rdms has shape {R.shape}; {stack}.")
    if R.ndim == 2 and R.shape[0] == R.shape[1] and _is_rdm(R):
        raise LayoutError(f"rdm_noise_ceiling: rdms is one RDM of {R.shape[0]} stimuli (a square array); the noise ceiling "
                          f"compares subjects: {stack}, e.g. np.stack(rdms).")
    if R.ndim == 2:
        try:
            _r.n_from_n_pairs(R.shape[1])
        except LayoutError:
            raise LayoutError(f"rdm_noise_ceiling: rdms has {R.shape[1]} values per RDM on its last axis, which is not "
                              f"n (n - 1) / 2 for any n; {stack}.") from None


def rdm_noise_ceiling(rdms: Any, method: str = "spearman") -> xr.Dataset:
    """Lower and upper bounds of the noise ceiling of a set of subject RDMs (Nili et al. 2014).

    Upper bound: each subject's RDM vs the average of all subjects' RDMs; lower bound: each vs the
    average of the others (leave one subject out). Averages are taken after the transform that
    the comparison ignores (ranks for Spearman/Kendall, z-scores for Pearson, root-mean-square
    scaling for cosine), as rsatoolbox's ``boot_noise_ceiling`` does. NaN dissimilarities are left
    out of the averages and of each comparison (incomplete pairs dropped, one warning).

    Parameters
    ----------
    rdms : list or dict of RDMs (the keys label them), stacked DataArray (subject, stimulus, stimulus_), array (m, n, n) / (m, P) or rsatoolbox ``RDMs``
        At least 2 RDMs (a square ``(n, n)`` array is one RDM, refused). A subject RDM with fewer
        than 3 complete pairs (e.g. all NaN: the correlation RDM of one neuroid) has NaN bounds and
        adds nothing to the others' pools; a constant one (every dissimilarity equal) has the
        bounds :func:`~neuroxr.geometry.compare_rdms` gives it (NaN for Pearson and Spearman). A NaN
        bound makes ``lower`` / ``upper``, the means over subjects, NaN.
    method : {"pearson", "spearman", "kendall", "cosine"}, default "spearman"

    Returns
    -------
    xarray.Dataset
        ``lower``, ``upper`` (scalars, means over subjects) and ``lower_per_subject``,
        ``upper_per_subject`` (subject); attrs ``method``, ``n_stimuli`` and ``n_pairs_dropped`` (the
        pairs left out of the subjects' comparisons with the pool of all, summed over the subjects).
    """
    method = _c._normalize_compare_method(method, "rdm_noise_ceiling")
    if isinstance(rdms, np.ndarray):
        R = real_array(rdms, "rdm_noise_ceiling: rdms", "a stack of RDMs")
        _refuse_inf(R, "rdm_noise_ceiling: rdms")
        _check_stack_shape(R)
        if R.ndim == 3:
            for i, D in enumerate(R):
                _check_square(D, f"rdm_noise_ceiling: rdms[{i}]")
        V = R if R.ndim == 2 else to_numpy(_r.upper_tri(R))
        labels = np.arange(V.shape[0])
    else:
        S = _canonical(_stack_rdms(rdms, "rdms", caller="rdm_noise_ceiling"))  # pairs in one order, whatever the inputs'
        V = to_numpy(_r.upper_tri(np.asarray(S.values, dtype=np.float64)))
        labels = S[S.dims[0]].values
    V = np.asarray(V)
    m, n_stimuli = V.shape[0], int(_r.n_from_n_pairs(V.shape[1]))
    if m < 2:
        raise LayoutError(f"rdm_noise_ceiling: needs at least 2 subject RDMs in 'rdms'; got {m}.")
    _check_stimuli(n_stimuli, "rdm_noise_ceiling", "the RDMs hold")
    dropped = 0
    # a subject with fewer than 3 finite pairs has no comparison (NaN bounds) and adds nothing to the pools
    pooled = np.where((np.isfinite(V).sum(axis=1) < MIN_PAIRS)[:, None], np.nan, V)
    full = _pool(pooled, method)
    if not np.isnan(V).any():
        upper = to_numpy(_c.compare_rdms_many(V, full[None, :], method))[:, 0]
        lower = np.array(
            [float(to_numpy(_c.compare_rdms_many(V[i : i + 1], _pool(np.delete(V, i, 0), method)[None, :], method))[0, 0]) for i in range(m)]
        )
    else:
        up, lo = [], []
        for i in range(m):
            r_up, d_up = _compare_vectors(V[i], full, (method,))
            r_lo, d_lo = _compare_vectors(V[i], _pool(np.delete(pooled, i, 0), method), (method,))
            up.append(r_up[method])
            lo.append(r_lo[method])
            dropped += d_up
        upper, lower = np.asarray(up), np.asarray(lo)
        _nan_warning("rdm_noise_ceiling", dropped, V.size)
    warn_flat_rdms("rdm_noise_ceiling", upper + lower, V, full[None], [f"rdms[{lb!r}]" for lb in labels.tolist()],
                   ["the subjects' mean RDM"])
    return xr.Dataset(
        {
            "lower": ((), float(np.mean(lower))),
            "upper": ((), float(np.mean(upper))),
            "lower_per_subject": (("subject",), lower),
            "upper_per_subject": (("subject",), upper),
        },
        coords={"subject": labels},
        # the NaN rule's count (docs/geometry.md): the pairs each subject leaves out against the pool, summed
        attrs={"method": method, "n_stimuli": n_stimuli, "n_pairs_dropped": int(dropped), "reference": "Nili et al. 2014"},
    )


def split_half_rdm_ceiling(
    neural: xr.DataArray,
    rdm_method: str = "correlation",
    compare_method: str = "spearman",
    seed: int = 0,
    reps: int = 10,
    spearman_brown: bool = True,
) -> xr.Dataset:
    """Reliability of the neural RDM from split halves of the repeats.

    Per rep: RDM of half 1 vs RDM of half 2 (``compare_method``, on the pairs finite in both),
    Spearman-Brown corrected (``2 r / (1 + r)``) to the full number of repeats when
    ``spearman_brown``; the ceiling is the mean over the reps whose comparison is defined (NaN
    without one), the directions' mean of their reliabilities: a rep whose halves correlate at
    ``r = -1`` (Spearman-Brown ``-inf``) makes it ``-inf``. The halves are those of
    :func:`~neuroxr.geometry.split_half_rdms`: each (stimulus, neuroid)'s valid repeats halved
    (the directions' ``split="valid"``), over the stimuli and neuroids with 2 valid repeats
    (the others left out with one warning and counted).

    Parameters
    ----------
    neural : xarray.DataArray, dims (stimulus, neuroid, repeat), at least 2 repeats
    rdm_method : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default "correlation"
    compare_method : {"pearson", "spearman", "kendall", "cosine"}, default "spearman"
    seed, reps : int, default 0, 10
        ``numpy.random.default_rng(seed)`` draws the repeat permutations of all reps.
    spearman_brown : bool, default True

    Returns
    -------
    xarray.Dataset
        ``ceiling`` (scalar) and ``ceiling_per_rep`` (rep), attrs with all parameters,
        ``n_stimuli``, ``n_pairs_dropped`` (the pairs left out of the halves' comparisons, summed over
        the reps), ``n_excluded_stimuli`` and ``n_excluded_neuroids``.
    """
    return _split_half_rdm_ceiling(neural, rdm_method, compare_method, seed, reps, spearman_brown)


#: split-half ceilings computed in this process, by :func:`_ceiling_key`: a sweep's cRSA entries of one
#: neural set against every layer draw the same halves of the same responses (the ceiling is most of
#: a cRSA's time), so each is computed once; with the warnings its computation gave, shown again
_CEILINGS: collections.OrderedDict[str, tuple[xr.Dataset, list[tuple[str, type[Warning]]]]] = collections.OrderedDict()
_CEILINGS_KEPT = 16
_CEILINGS_LOCK = threading.Lock()


def _ceiling_key(neural: xr.DataArray | _Checked, params: tuple) -> str | None:
    """A digest of everything a split-half ceiling is computed from: the responses' values, dims,
    stimulus and neuroid ids and labels (a :class:`_Checked`'s ``min_valid`` too) and ``params``;
    ``None`` for dask-backed responses (not read twice)."""
    da = _plain(neural)
    if not isinstance(da, xr.DataArray) or hasattr(da.data, "dask") or not np.issubdtype(da.dtype, np.number) \
            or not {"stimulus_id", "neuroid_id"} <= set(da.coords):
        return None  # not read twice, or refused by the computation's own checks
    h = hashlib.sha256(repr((params, da.dims, da.shape, str(da.dtype), getattr(neural, "min_valid", None),
                             sorted(input_labels(source=neural).items()), _named(da, "neural"))).encode())
    for coord in ("stimulus_id", "neuroid_id"):
        h.update("\x1f".join(map(str, np.asarray(da[coord].values).tolist())).encode() + b"\x1e")
    feed_values(h, np.asarray(da.values))
    return h.hexdigest()


def _split_half_rdm_ceiling(neural: xr.DataArray | _Checked, rdm_method: str, compare_method: str, seed: int, reps: int,
                            spearman_brown: bool = True, caller: str = "split_half_rdm_ceiling",
                            backend: str | None = "numpy") -> xr.Dataset:
    """:func:`split_half_rdm_ceiling`, also of responses a metric checked in this call (a
    :class:`~neuroxr.geometry._common._Checked`, passed on to :func:`~neuroxr.geometry.rdm._split_half_rdms`);
    the messages start with ``caller``, the public function called; the halves' RDMs compared on ``backend``.
    The same responses and parameters again in this process: the ceiling computed then (:data:`_CEILINGS`)."""
    key = _ceiling_key(neural, (rdm_method, compare_method, seed, reps, spearman_brown, caller, backend))
    with _CEILINGS_LOCK:
        kept = _CEILINGS.get(key) if key is not None else None
    if kept is not None:
        for msg, category in kept[1]:  # the warnings its computation gave (this thread's: recording())
            warn(msg, category)
        return kept[0].copy(deep=True)
    with recording() as said:
        ds = _ceiling_of(neural, rdm_method, compare_method, seed, reps, spearman_brown, caller, backend)
    if key is not None:
        with _CEILINGS_LOCK:
            _CEILINGS[key] = (ds.copy(deep=True), said)
            while len(_CEILINGS) > _CEILINGS_KEPT:
                _CEILINGS.popitem(last=False)
    return ds


def _ceiling_of(neural: xr.DataArray | _Checked, rdm_method: str, compare_method: str, seed: int, reps: int,
                spearman_brown: bool, caller: str, backend: str | None) -> xr.Dataset:
    """:func:`_split_half_rdm_ceiling` computed."""
    compare_method = _c._normalize_compare_method(compare_method, caller, "compare_method")
    spearman_brown = check_bool(spearman_brown, "spearman_brown", caller=caller)  # recorded as applied
    H = _split_half_rdms(neural, rdm_method, seed, reps, caller, "rdm_method")
    _check_stimuli(H.shape[-1], caller, f"the split-half RDMs of {_named(_plain(neural), 'neural')} hold")
    V = np.asarray(to_numpy(_r.upper_tri(np.asarray(H.values.reshape(-1, *H.shape[-2:]))))).reshape(reps, 2, -1)
    r, dropped = np.empty(reps), 0
    for i in range(reps):
        res, d = _compare_vectors(V[i, 0], V[i, 1], (compare_method,), backend)
        r[i], dropped = res[compare_method], dropped + d
    if dropped:
        _nan_warning(caller, dropped, V[:, 0].size)
    warn_flat_rdms(caller, r, V[:, 0], V[:, 1], [f"the split-half RDMs of {_named(_plain(neural), 'neural')}"] * 2,
                   [f"the split-half RDMs of {_named(_plain(neural), 'neural')}"])
    if spearman_brown:
        r = _spearman_brown(r)
    return xr.Dataset(
        # the directions' mean over reps of their reliabilities: -inf (halves of opposite orders) counts
        {"ceiling": ((), float(mean_over_reps(r))), "ceiling_per_rep": (("rep",), r)},
        coords={"rep": np.arange(reps)},
        attrs={"rdm_method": rdm_method, "compare_method": compare_method, "seed": seed, "reps": reps,
               "spearman_brown": int(spearman_brown), **input_labels(source=neural),
               "n_stimuli": int(H.shape[-1]), "n_pairs_dropped": int(dropped),
               **{k: H.attrs[k] for k in ("n_excluded_stimuli", "n_excluded_neuroids")}},
    )
