"""Permutation p-values and their multiple-comparison corrections: one-sided permutation p-values
with ties up to rounding counted, Westfall-Young max-T, Benjamini-Hochberg FDR and Holm (each NaN
p-value left out of its family)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["permutation_pvalues", "maxt_pvalues", "fdr_bh", "holm"]


def _family(p: np.ndarray, adjust: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``adjust`` of the finite entries of ``p`` as one family, given in ascending order (its result in
    that order, capped at 1); NaN p-values stay NaN and are not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q = p[ok]
        order = np.argsort(q)
        adj = np.empty(q.size)
        adj[order] = np.minimum(adjust(q[order]), 1.0)
        out[ok] = adj
    return out


def fdr_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of every entry of ``p`` as one family
    (``scipy.stats.false_discovery_control`` of the flattened array; NaN p-values stay NaN and are
    not counted)."""
    return _family(p, lambda s: np.minimum.accumulate((s * s.size / np.arange(1, s.size + 1))[::-1])[::-1])


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone; NaN stay NaN)."""
    return _family(p, lambda s: np.maximum.accumulate(s * (s.size - np.arange(s.size))))


def maxt_pvalues(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Westfall-Young single-step max-statistic adjusted p-values (one-sided, larger is more extreme).

    Parameters
    ----------
    observed : ndarray, shape (k,)
    null : ndarray, shape (B, k)
        The statistic of every target under each permutation.

    Returns
    -------
    ndarray, shape (k,)
        ``(1 + #{b : max_j null[b, j] >= observed[i]}) / (1 + B)`` (ties up to rounding counted, as
        :func:`permutation_pvalues`); controls the family-wise error. ``B`` counts the permutations
        with a defined statistic (some target finite): one with none is left out of the count and of
        ``B``, as :func:`permutation_pvalues` leaves out an undefined null value (counted in ``B``
        alone, each made p smaller); NaN where no permutation has one. The max is over the finite
        targets: an infinite statistic is undefined here as in every interval and p-value.
    """
    null = np.asarray(null, dtype=np.float64)
    fin = np.isfinite(null)
    defined = fin.any(axis=1)  # (no target: none defined)
    # the max over each defined permutation's finite targets, without np.nanmax's "All-NaN slice" warning
    mx = np.max(np.where(fin[defined], null[defined], -np.inf), axis=1, initial=-np.inf)
    with np.errstate(invalid="ignore"):
        ge = (mx[:, None] >= _tie_floor(observed)[None, :]).sum(axis=0)
    n_def = int(defined.sum())
    out = (1.0 + ge) / (1.0 + n_def) if n_def else np.full(np.shape(observed), np.nan)
    return np.where(np.isfinite(observed), out, np.nan)


def permutation_pvalues(observed: np.ndarray, null: np.ndarray, atol: float = 0.0) -> np.ndarray:
    """One-sided permutation p-values ``(1 + #{null >= observed}) / (1 + B)`` over axis 0 of ``null``,
    ``B`` the number of defined (finite) null values of each column.

    A null value equal to the observed one up to rounding counts as at least as extreme (a permutation
    that leaves a target unchanged, e.g. a sparse one, recomputes its statistic with other rounding):
    ``null >= observed - 100 eps |observed| - atol``, as ``scipy.stats.permutation_test`` compares;
    ``atol`` (default 0) the statistic's own rounding where it is absolute (an angle from ``acos``).
    An undefined (NaN or infinite) null value, a permutation whose statistic does not exist (an RSA
    permutation moving NaN pairs so that a subject keeps fewer than 3), is left out of the count and of
    ``B``: counted in ``B`` alone (as scipy's comparison does), every undefined permutation made p
    smaller. Callers record how many there were (:func:`undefined_resamples`). A column without a
    defined null value has no p: NaN (it was 1)."""
    fin = np.isfinite(null)
    with np.errstate(invalid="ignore"):
        ge = (fin & (null >= (_tie_floor(observed) - atol)[None])).sum(axis=0)
    n_def = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n_def > 0, (1.0 + ge) / (1.0 + n_def), np.nan)
    return np.where(np.isfinite(observed), out, np.nan)


def _tie_floor(observed: np.ndarray) -> np.ndarray:
    """``observed - 100 eps |observed|``: the least null value counted as a tie of ``observed``."""
    observed = np.asarray(observed, dtype=np.float64)
    return observed - 100 * np.finfo(np.float64).eps * np.abs(observed)
