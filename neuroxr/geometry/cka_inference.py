"""Statistical inference for linear CKA: a stimulus bootstrap (its interval centred on the estimate
by default, docs/inference.md "CKA") and a permutation null, of the biased or the debiased
estimator; resamples drawn as :mod:`neuroxr.geometry.inference` draws them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from ..kernels import resample as rs
from ..kernels.gram import linear_cka
from ..kernels.gram_measures import permuted_cka, resampled_cka_biased, resampled_cka_debiased
from ._common import _named, _one_bin, input_labels
from .cka import _paired_grams
from .dimensionality import _check_debiased, warn_constant

__all__ = ["cka_bootstrap", "check_cka_boot_method", "CKA_BOOT_METHODS", "CKA_BOOT_DEFAULT"]

#: intervals of :func:`cka_bootstrap` (``method``) and its default: the shape metrics' too
#: (:data:`neuroxr.kernels.resample.BIAS_BOOT_METHODS`)
CKA_BOOT_METHODS = rs.BIAS_BOOT_METHODS
CKA_BOOT_DEFAULT = rs.BIAS_BOOT_DEFAULT
_BATCH = 256  # resamples per block (debiased: ten (B, n) @ (n, n) products a block, biased five, each over
# blocks of the Grams' columns: kernels.gram_measures._BLOCK)


def check_cka_boot_method(method: Any) -> str:
    """:func:`cka_bootstrap`'s interval ``method`` checked (one-line :class:`~neuroxr.errors.ParameterError`;
    ``"bca"`` refused with the reason), before any data is read."""
    return rs.check_bias_boot_method(method, "cka_bootstrap", "resampled biased CKA runs above the estimate, often nearly "
                                     "always, which makes BCa's bias correction large or infinite")


def _biased_boot(Ka: np.ndarray, Kb: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The biased CKA of each resample, that of the Grams restricted to the draws ``K[idx][:, idx]``
    centred again, in closed form from the draw counts
    (:func:`~neuroxr.kernels.gram_measures.resampled_cka_biased`), in blocks."""
    n = Ka.shape[0]
    return np.concatenate([resampled_cka_biased(Ka, Kb, rs.counts(idx[lo : lo + _BATCH], n))
                           for lo in range(0, idx.shape[0], _BATCH)])


def _debiased_boot(Ka: np.ndarray, Kb: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The debiased CKA of each resample over its 4-tuples of distinct stimuli
    (:func:`~neuroxr.kernels.gram_measures.resampled_cka_debiased` of the draw counts), in blocks."""
    n = Ka.shape[0]
    return np.concatenate([resampled_cka_debiased(Ka, Kb, rs.counts(idx[lo : lo + _BATCH], n))
                           for lo in range(0, idx.shape[0], _BATCH)])


def cka_bootstrap(
    a: Any, b: Any, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95, method: str = CKA_BOOT_DEFAULT,
    debiased: bool = False, n_perm: int = 0, nan_policy: str = "propagate",
) -> xr.Dataset:
    """Bootstrap over stimuli (and optionally a permutation null) of linear CKA.

    Biased CKA (``debiased=False``): a resample's CKA is that of the resampled representations, the
    centred Grams restricted to the drawn stimuli (``K[idx][:, idx]``, centred again), computed in
    closed form from the draw counts (:func:`~neuroxr.kernels.gram_measures.resampled_cka_biased`,
    ``O(n^2)`` per resample). The copies
    of a stimulus agree in both Grams, so resampled biased CKA runs above the estimate: hence the
    interval centred on it by default (``method``). Debiased CKA (``debiased=True``, Song et al.'s
    unbiased HSIC, :func:`~neuroxr.geometry.cka`'s ``debiased``): a resample's HSIC is the
    U-statistic over its index 4-tuples of *distinct* stimuli (two copies of one stimulus are not
    two samples), the stimuli drawn weighted by their counts; it does not change when the Grams are
    centred again, so it is that of the resampled representations centred on their own mean
    (:func:`~neuroxr.kernels.gram_measures.resampled_hsic_unbiased`, ``O(n^2)`` per resample); with
    no copies it is the estimate's. The permutation null permutes the stimulus
    labels of ``b`` (``default_rng([seed, 2])``), the same estimator on each permuted Gram
    (:func:`~neuroxr.kernels.gram_measures.permuted_cka`: its cross term alone per permutation);
    ``p = (1 + #{null >= cka}) / (1 + n_perm)``.

    Parameters
    ----------
    a, b : features DataArray (stimulus, unit), neural DataArray (stimulus, neuroid, repeat) or Gram Dataset
        Paired by ``stimulus_id`` and resampled in the canonical order, as :func:`~neuroxr.geometry.cka`
        reads them. At least 3 shared stimuli (4 debiased).
    n_boot, seed, level
        Resamples, their seed (``default_rng([seed, 0])``), the interval's level.
    method : {"centred", "percentile", "basic"}, default "centred"
        Interval of ``cka_boot``, as :func:`~neuroxr.geometry.inference.shape_bootstrap`'s:
        ``"centred"`` ``cka + quantiles(boot - mean(boot))`` (the spread around the estimate);
        ``"percentile"`` the plain quantiles; ``"basic"`` ``2 cka - quantiles``. ``"bca"`` is refused.
    debiased : bool, default False
        Resample (and permute) the debiased estimator.
    n_perm : int, default 0
        Permutations of the null (0: none).
    nan_policy : {"propagate", "omit"}, default "propagate"
        As :func:`~neuroxr.geometry.inference.rsa_bootstrap`: an undefined resample (a constant
        representation: drawn stimuli equal up to rounding,
        :func:`~neuroxr.kernels.gram_measures.resampled_constant`; fewer than 3 distinct stimuli
        drawn, as the full sample needs, whose CKA is 1 whatever the data; debiased fewer than 4,
        or a resampled HSIC of a
        representation with itself not above 0) makes the interval NaN, or is left out (``"omit"``);
        counted and warned about either way.

    Returns
    -------
    xarray.Dataset
        ``cka``, ``cka_boot`` (boot), ``cka_ci`` (bound; ``method``'s interval), ``cka_bias``
        (``mean(cka_boot) - cka`` over the defined resamples), ``n_boot_undefined``, ``boot_index``
        (boot, stimulus); with ``n_perm`` also ``p`` and ``cka_null`` (perm). Attrs ``method``,
        ``debiased`` (0 / 1), ``n_stimuli`` and, as :func:`~neuroxr.geometry.cka` counts them,
        ``n_excluded_stimuli`` and ``n_excluded_neuroids``.
    """
    rs._positive(n_boot, "n_boot", "Pass the number of bootstrap resamples, e.g. n_boot=1000.", "cka_bootstrap")  # (0: _cka_resampled's)
    return _cka_resampled(a, b, n_boot=n_boot, seed=seed, level=level, method=method, debiased=debiased, n_perm=n_perm,
                          nan_policy=nan_policy)


def _cka_resampled(a: Any, b: Any, *, n_boot: int, seed: int, level: float, method: str, debiased: bool, n_perm: int,
                   nan_policy: str) -> xr.Dataset:
    """:func:`cka_bootstrap`; ``n_boot=0`` (a permutation entry): ``cka`` and the permutation null
    alone, no resample and so no warning about resamples; a NaN CKA warned about as
    :func:`~neuroxr.geometry.cka` warns."""
    from .inference import _undefined  # (that module re-exports this one's names)

    caller = "cka_bootstrap"
    rs._check_level(level, caller)
    rs.check_nan_policy(nan_policy, caller)
    n_perm = rs.check_n_perm(n_perm, caller)
    check_cka_boot_method(method)
    debiased = _check_debiased(debiased, caller)
    _one_bin(a, _named(a, "a"), caller)
    _one_bin(b, _named(b, "b"), caller)
    Ka, Kb, ia, const, counts = _paired_grams(a, b, caller, 3 + int(debiased))
    n = Ka.shape[0]
    theta = float(linear_cka(Ka, Kb, debiased=debiased, centred=True))
    out: dict[str, Any] = {"cka": ((), theta)}
    if n_boot:
        idx = rs.bootstrap_indices(n, n_boot, seed, caller=caller)
        boot = (_debiased_boot if debiased else _biased_boot)(Ka, Kb, idx)
        # the full sample's rule: fewer than 3 distinct stimuli (4 debiased) score nothing (2 give CKA 1 whatever the data)
        boot = np.where(rs.distinct_draws(idx) >= 3 + int(debiased), boot, np.nan)
        out.update({
            "cka_boot": (("boot",), boot),
            "cka_ci": (("bound",), rs.bias_interval(method, np.asarray(theta), boot, level, nan_policy)),
            "cka_bias": ((), float(rs.bootstrap_bias(np.asarray(theta), boot))), "boot_index": (("boot", "stimulus"), idx),
        })
        _undefined(out, {"cka": boot}, caller, nan_policy)
    elif math.isnan(theta) and not any(const):  # (a constant input: _paired_grams warned)
        warn_constant(caller, [(_named(a, "a"), False), (_named(b, "b"), False)], "CKA")
    if n_perm:
        perms = rs.permutation_indices(n, n_perm, seed, caller)
        null = permuted_cka(Ka, Kb, perms, debiased=debiased)
        out["cka_null"] = (("perm",), null)
        out["p"] = ((), float(rs.permutation_pvalues(np.asarray([theta]), null[:, None])[0]))
    return xr.Dataset(out, coords={"bound": ["low", "high"], "stimulus_id": ("stimulus", ia)},
                      attrs={"n_boot": int(n_boot), "seed": int(seed), "level": float(level), "method": method,
                             "debiased": int(debiased), "n_perm": int(n_perm), "nan_policy": nan_policy, "n_stimuli": int(n),
                             **counts, **input_labels(source=a, target=b)})
