"""The forms of one RDM given as data, before it is labeled: a square ``(n, n)`` array or a condensed
upper-triangle vector read into a square one, checked to be a dissimilarity matrix (symmetric, zero
diagonal, finite), and rsatoolbox ``RDMs`` read through ``get_vectors()``. The labeled RDMs and their
pairing by ``stimulus_id`` are in :mod:`neuroxr.geometry.rdm`."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError
from ..errors import code_name as _arg
from ..io.rsa import stimulus_descriptor
from ..kernels import rdm as _r
from ..validation import real_array
from ._common import RDM_DIMS


def _is_rsatoolbox(x: Any) -> bool:
    return type(x).__module__.startswith("rsatoolbox") and hasattr(x, "get_vectors")


_RDM_FORM = "an RDM (a square (n, n) array or a condensed upper-triangle vector)"
_SYM_RTOL, _DIAG_RTOL = 1e-5, 1e-4  # rounding of float32 RDMs, sqrt(eps) of Gram-formula distances (docs/geometry.md)


def _square(x: Any, name: str) -> np.ndarray:
    """A square RDM from a square one (checked: :func:`_check_square`) or a condensed upper-triangle
    vector (scipy's squareform order); text or complex values are refused."""
    x = real_array(x, name, _RDM_FORM)
    if x.ndim in (1, 2):
        _refuse_inf(x, name)
    if x.ndim == 2 and x.shape[0] == x.shape[1]:
        _check_square(x, name)
        return x
    if x.ndim == 1:
        try:
            n = _r.n_from_n_pairs(x.shape[0])
        except ValueError as err:
            raise LayoutError(f"{name}: a condensed RDM of {x.shape[0]} values is not n (n - 1) / 2 for any n; {err}") from None
        D = np.zeros((n, n))
        i, j = np.triu_indices(n, 1)
        D[i, j] = D[j, i] = x
        return D
    raise LayoutError(
        f"{name}: an RDM must be a labeled DataArray (stimulus, stimulus_), a square (n, n) array or a condensed "
        f"vector (n (n - 1) / 2,); got an array of shape {x.shape}."
    )


def _check_square(D: np.ndarray, name: str, tile: int = 256) -> None:
    """One-line :class:`LayoutError` unless the square ``D`` is a dissimilarity matrix: symmetric
    (``|D - D^T| <= 1e-5 max|D|``, NaN at mirrored pairs) with a zero diagonal (``|d_ii| <= 1e-4``
    times the largest off-diagonal magnitude; NaN allowed), read in ``tile x tile`` blocks."""
    n, diag = D.shape[0], np.diagonal(D)
    diag_max = float(np.max(np.abs(diag), where=np.isfinite(diag), initial=0.0))
    top = max(abs(float(D.max(initial=0.0))), abs(float(D.min(initial=0.0))))  # two passes, no copy; NaN if any
    finite = np.isfinite(top)
    if finite and top > diag_max:  # the largest magnitude lies off the diagonal
        off_max = top
    else:  # NaN pairs, or a diagonal as large as the rest: the off-diagonal magnitudes alone
        mags = np.abs(D)
        np.fill_diagonal(mags, 0.0)
        off_max = float(np.max(mags, where=np.isfinite(mags), initial=0.0))
    tol = _SYM_RTOL * max(off_max, diag_max)
    bad = []
    for lo in range(0, n, tile):  # square tiles on and right of the diagonal against their mirrors (cache-sized)
        for at in range(lo, n, tile):
            A, B = D[lo : lo + tile, at : at + tile], D[at : at + tile, lo : lo + tile].T
            differ = A - B
            differ = np.abs(differ, out=differ) > tol
            if not finite:
                differ |= np.isnan(A) != np.isnan(B)
            if differ.any():  # on a diagonal tile, the mirrored pairs below it differ alike; the diagonal never does
                bad.append(np.argwhere(np.triu(differ, 1) if at == lo else differ) + [lo, at])
    if bad:
        bad = np.concatenate(bad)
        i, j = bad[np.lexsort((bad[:, 1], bad[:, 0]))[0]]  # the first in row order
        raise LayoutError(
            f"{name}: an RDM is symmetric, but {len(bad)} of its {n * (n - 1) // 2} pairs differ from their mirror by more "
            f"than rounding (e.g. [{i}, {j}] = {D[i, j]:.6g}, [{j}, {i}] = {D[j, i]:.6g}); pass a dissimilarity "
            "matrix (stimulus x stimulus), not a data matrix."
        )
    bad = np.flatnonzero(np.abs(diag) > _DIAG_RTOL * off_max)  # NaN passes: the diagonal is never compared
    if not bad.size:
        return
    off = np.where(np.isfinite(D), D, np.nan)  # a diagonal off: is it a similarity matrix?
    np.fill_diagonal(off, np.nan)
    if float(np.min(diag[bad])) >= float(np.nanmax(off, initial=-np.inf)):
        raise LayoutError(f"{name}: looks like a similarity matrix (its diagonal holds its largest values, e.g. "
                          f"{diag[bad[0]]:.6g}); an RDM holds dissimilarities: pass 1 - similarity.")
    raise LayoutError(f"{name}: an RDM has a zero diagonal, but {bad.size} of its {n} diagonal values are not "
                      f"(e.g. [{bad[0]}, {bad[0]}] = {diag[bad[0]]:.6g}); pass dissimilarities with zeros on the diagonal.")


def _refuse_inf(D: Any, name: str) -> None:
    """One-line :class:`LayoutError` when the RDM (square ``(n, n)``), the stack of RDMs ``(m, n, n)``
    or the condensed RDMs ``(P,)`` / ``(m, P)`` ``D`` hold an infinite value: a comparison would rank
    it as the largest dissimilarity (or make Pearson NaN), as infinite features and responses are
    refused. NaN is a missing pair (the NaN rule)."""
    V = np.asarray(D.values if isinstance(D, xr.DataArray) else D)
    if not np.issubdtype(V.dtype, np.floating):
        return
    inf = np.isinf(V)
    if not inf.any():
        return
    at = np.argwhere(inf)[0]
    if V.ndim >= 2 and V.shape[-1] == V.shape[-2]:
        at_value = f"[{', '.join(map(str, at))}] = {V[tuple(at)]}"
    else:  # condensed: the pair (i, j) of scipy's squareform order
        try:
            i, j = (x[at[-1]] for x in np.triu_indices(_r.n_from_n_pairs(V.shape[-1]), 1))
            at_value = f"pair ({i}, {j}) = {V[tuple(at)]}"
        except LayoutError:  # not a condensed RDM: refused by the caller's shape check after this
            at_value = f"value {tuple(int(a) for a in at)} = {V[tuple(at)]}"
    raise LayoutError(f"{name}: the RDM holds {int(inf.sum())} infinite values (e.g. {at_value}); dissimilarities must be "
                      "finite: replace them with NaN (a missing pair, left out of comparisons) or fix their computation.")


def _rsatoolbox_rdms(x: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Square RDMs ``(m, n, n)`` and the stimulus ids (or None) of rsatoolbox ``RDMs``: the pattern
    descriptor :func:`neuroxr.io.rsa.stimulus_descriptor` names."""
    V = real_array(x.get_vectors(), name, _RDM_FORM)
    D = np.stack([_square(v, name) for v in V])
    desc = dict(getattr(x, "pattern_descriptors", None) or {})
    key = stimulus_descriptor(desc)  # the descriptors io.from_rsatoolbox_rdms reads (to_rsatoolbox writes "stimulus")
    return D, (None if key is None else np.asarray(desc[key]).astype(str))


def _stack_given(name: str, dims: tuple[Any, ...] | None, shape: tuple[int, ...]) -> LayoutError:
    """The refusal of a stack of RDMs (a labeled ``(subject, stimulus, stimulus_)`` or a NumPy
    ``(m, n, n)`` array) where one RDM is expected, pointing to the functions that take stacks."""
    lead = dims[0] if dims else None
    found = f"dims {dims}, shape {tuple(shape)}" if dims else f"a NumPy array of shape {tuple(shape)}"
    one = f"{_arg(name)}.isel({lead}=0)" if lead else f"{_arg(name)}[0]"
    return LayoutError(f"{name}: expected one RDM (dims {RDM_DIMS}); got a stack of {shape[0]} RDMs on its first dim "
                       f"({found}); pass one RDM (e.g. {one}), or compare stacks with compare_rdms_many "
                       "(or rdm_noise_ceiling / rsa_bootstrap's data_rdms).")


def _square_size(x: Any) -> int | None:
    if _is_rsatoolbox(x):
        return int(x.n_cond)
    try:
        shape = np.shape(x)
    except Exception:  # noqa: BLE001 - anything without a shape is refused later by as_rdm
        return None
    if len(shape) == 2:
        return int(shape[0])
    if len(shape) == 1:
        try:
            return int(_r.n_from_n_pairs(int(shape[0])))
        except ValueError:  # not a condensed RDM: as_rdm says so
            return None
    return None


