"""The permutation null of linear CKA (biased and debiased): one Gram's stimuli permuted against the
other's, from the estimate's centred Grams (:mod:`neuroxr.kernels.gram_measures`). Re-exported by
:mod:`neuroxr.kernels.gram_measures` and :mod:`neuroxr.kernels.gram`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["permuted_cka"]


def permuted_cka(K: Any, L: Any, perms: Any, debiased: bool = False) -> Any:
    """:func:`linear_cka` of ``K`` against ``L`` with its stimuli permuted, ``L[p][:, p]``, for each
    permutation ``p``: what changes with ``p`` is the cross term alone.

    Biased: ``<Kc, P Lc P'>`` (``Kc``, ``Lc`` centred once; centring commutes with ``P``). Debiased
    (Song et al.'s unbiased HSIC in :func:`resampled_hsic_unbiased`'s form at unit counts,
    :func:`_unit_sums`): with ``K~``, ``L~`` the centred Grams without their diagonal, it needs
    ``tr(K~ P L~ P')``, ``1'K~1``, ``1'L~1`` (invariant) and ``(K~1)'P(L~1)`` (an ``O(n)`` gather). The self-HSICs do not change (those of
    :func:`linear_cka`, whose centred Grams are reused: the diagonals masked in place). One
    ``n x n`` gather and dot product per permutation, a block of rows at a time (:data:`_BLOCK`):
    the memory beyond the inputs is :func:`linear_cka`'s. Computed in float64 (the Grams
    :func:`~neuroxr.geometry.cka_inference.cka_bootstrap` passes are). The values agree with a loop over
    :func:`linear_cka` to rounding (it centres each permuted Gram anew and sums in another order;
    permutation p-values count such ties, :func:`~neuroxr.kernels.pvalues.permutation_pvalues`).

    Parameters
    ----------
    K, L : ndarray, shape (n, n)
        Grams of the same ``n`` stimuli, as :func:`linear_cka` takes them.
    perms : ndarray of int, shape (P, n)
        Permutations of ``range(n)``.
    debiased : bool, default False
        Song et al.'s unbiased HSIC.

    Returns
    -------
    ndarray, shape (P,)
        NaN throughout when either representation is constant (:func:`linear_cka`'s rule); refusals
        (shapes, too few stimuli) as :func:`linear_cka`'s.
    """
    # (here: gram_measures re-exports this function, so this module imports nothing of it at load)
    from .gram_measures import (
        _as_K,
        _cka_terms,
        _column_blocks,
        _hsic_from,
        _ratio,
        _u_shift,
        _unit_sums,
        _unit_weights,
        constant_features,
    )

    perms = np.asarray(perms, dtype=np.intp)
    nan = np.full(perms.shape[0], math.nan)
    const = constant_features(K) or constant_features(L)  # of the inputs as given (statistics: their rule)
    terms = _cka_terms(np.asarray(_as_K(K), dtype=float), np.asarray(_as_K(L), dtype=float), debiased, const)
    if terms is None or math.isnan(_ratio(*terms[:3])):  # constant (invariant under p); refused in _cka_terms
        return nan
    _, kk, ll, Kc, Lc = terms  # the centred Grams: this function's own copies
    n = Kc.shape[0]
    if debiased:  # K~, L~ in place, U-centred (:func:`_u_shift`)
        for G in (Kc, Lc):
            f = _u_shift(G)
            G -= f[:, None]
            G -= f[None, :]
            np.fill_diagonal(G, 0.0)
        rK, rL = np.sum(Kc, axis=-1), np.sum(Lc, axis=-1)
    rows = _column_blocks(n)  # as many rows at a time (n^2 <= _BLOCK: the whole Gram)
    Kf, out = [Kc[r].ravel() for r in rows], np.empty(perms.shape[0])
    for i, p in enumerate(perms):  # one permutation at a time: its rows of L~ gathered a block at a time
        out[i] = sum(float(np.dot(k, Lc.take(p[r], axis=0).take(p, axis=1).ravel())) for k, r in zip(Kf, rows))
    if debiased:  # the unbiased HSIC's one formula (:func:`_hsic_from`), with (K~1)'P(L~1) an O(n) gather
        out = _hsic_from(_unit_sums(out, rL[perms] @ rK, rK.sum(), rL.sum()), _unit_weights(n))
    return out / math.sqrt(kk * ll)
