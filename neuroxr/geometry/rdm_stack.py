"""Stacks of RDMs: many RDMs paired by ``stimulus_id`` to one order, and compared many-to-many in
one batched operation (the single RDMs and their pairing rules are in :mod:`neuroxr.geometry.rdm`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..backend import to_numpy
from ..errors import LayoutError, where
from ..kernels import compare as _c
from ..kernels import rdm as _r
from ..validation import real_array
from ._common import RDM_DIMS, _canonical, _columns_as_rows, _ids, warn_flat_rdms
from ._rdm_values import _check_square, _is_rsatoolbox, _refuse_inf, _rsatoolbox_rdms
from .rdm import _align_rdm, _as_rdm, _as_rdm_in, _check_stimuli, _compare_vectors, _labeled_ids, _nan_warning

__all__ = ["compare_rdms_many", "rsatoolbox_subjects", "stack_labels"]


def stack_labels(x: xr.DataArray) -> list[str] | None:
    """The labels of the RDMs of a stack along its first dim, as text: that dim's coord, where
    ``.stack(rdm=("subject", "session"))`` made it a MultiIndex its levels' values joined by ``"/"``
    (``"BE/1"``); ``None`` without a coord."""
    dim = x.dims[0]
    if dim not in x.coords:
        return None
    index = x.indexes.get(dim)
    if isinstance(index, pd.MultiIndex):
        return ["/".join(str(v) for v in values) for values in index]
    return [str(v) for v in np.asarray(x[dim].values).tolist()]


def _text_labels(x: xr.DataArray) -> xr.DataArray:
    """The stack ``x`` with its first dim's MultiIndex (from ``.stack``) replaced by :func:`stack_labels`."""
    dim = x.dims[0]
    index = x.indexes.get(dim)
    if not isinstance(index, pd.MultiIndex):
        return x
    return x.drop_vars([dim, *[str(n) for n in index.names]]).assign_coords({dim: stack_labels(x)})


def _stack_rdms(x: Any, name: str, ids: np.ndarray | None = None, ref: str = "", caller: str | None = None) -> xr.DataArray:
    """A stack ``(rdm, stimulus, stimulus_)`` of RDMs paired by ``stimulus_id`` to the first one.
    Unlabeled inputs (NumPy ``(m, n, n)`` / ``(m, P)``, rsatoolbox ``RDMs`` without stimulus ids)
    take ``ids``, the order of the labeled RDM ``ref``; without ``ids``, the order of the first labeled
    RDM of ``x`` (else positions). Labeled RDMs (a stack's too) are paired by their ids whatever their
    order (the messages start with ``caller``)."""
    shown = where(caller) + name
    keys = None
    if isinstance(x, xr.Dataset) and any(tuple(v.dims) != RDM_DIMS for v in x.data_vars.values()):  # (a Mapping of its variables)
        other = [str(k) for k, v in x.data_vars.items() if tuple(v.dims) != RDM_DIMS]
        raise LayoutError(f"{shown}: a Dataset whose variables {other[:5]} are not single RDMs {RDM_DIMS}; pass one stack of "
                          f"RDMs (rdm, {', '.join(RDM_DIMS)}), e.g. {name}[{other[0]!r}] (several stacked dims stacked into one "
                          "first), or a dict of RDMs.")
    if isinstance(x, Mapping):  # labeled by its keys, as pairwise_distances reads a dict of networks
        keys, x = [str(k) for k in x], list(x.values())
    if isinstance(x, xr.DataArray) and x.ndim > 3 and tuple(x.dims[-2:]) == RDM_DIMS:  # e.g. (subject, session, ...)
        lead = tuple(str(d) for d in x.dims[:-2])
        raise LayoutError(f"{shown}: a stack of RDMs over {len(lead)} dims {lead} (dims {x.dims}); stack them into one first, "
                          f"e.g. {name}.stack(rdm={lead}).transpose('rdm', {', '.join(repr(d) for d in RDM_DIMS)}).")
    if isinstance(x, xr.DataArray) and x.ndim == 3:
        if tuple(x.dims[1:]) != RDM_DIMS:
            raise LayoutError(f"{shown}: a stack of RDMs needs dims (rdm, {', '.join(RDM_DIMS)}), the stack's "
                              f"dim first; found {x.dims}. Stack RDMs of nx.rdm with xr.concat(rdms, 'rdm').")
        _refuse_inf(x, shown)
        x = _text_labels(x)  # one label per RDM (a stack of stacked dims: its levels' values)
        if all(c not in x.coords or x[c].ndim == 1 for c in ("stimulus_id", "stimulus_id_")):
            x = _columns_as_rows(x, shown)
            labels = stack_labels(x) or [str(i) for i in range(x.sizes[x.dims[0]])]
            for lb, D in zip(labels, real_array(x.values, shown, "a stack of RDMs")):
                _check_square(D, f"{shown}[{lb!r}]")
            return x
        labels = stack_labels(x) or [str(i) for i in range(x.sizes[x.dims[0]])]
        x = [r.drop_vars(x.dims[0], errors="ignore").assign_attrs(label=lb)
             for lb, r in zip(labels, x)]  # RDMs in different stimulus orders stacked by xr.concat: each paired by id
    if _is_rsatoolbox(x):
        D, rids = _rsatoolbox_rdms(x, shown)
        labels = rsatoolbox_subjects(x) or [f"{name}[{i}]" for i in range(len(D))]  # (as without ids: positions)
        x = list(D) if rids is None else [_as_rdm(d, shown, rids, label=lb) for d, lb in zip(D, labels)]
    elif isinstance(x, np.ndarray) and x.ndim in (2, 3) and not (x.ndim == 2 and x.shape[0] == x.shape[1] and not _condensed(x)):
        x = list(x)
    if isinstance(x, (xr.DataArray, np.ndarray)):
        x = [x]
    items = list(x) if hasattr(x, "__iter__") and not isinstance(x, str) else None
    if not items:
        got = "" if items is not None else f" (got {type(x).__name__})"
        raise LayoutError(f"{shown}: no RDMs given{got}; pass a list of RDMs or a stacked DataArray (rdm, stimulus, stimulus_).")
    if ids is None:
        ids, ref = _labeled_ids((name, items))
    at = [repr(k) for k in keys] if keys is not None else [str(i) for i in range(len(items))]
    items = [_as_rdm_in(it, f"{name}[{k}]", ids, ref, f"{shown}[{k}]") for k, it in zip(at, items)]
    rows = [ref_rdm := items[0]] + [_align_rdm(ref_rdm, it, (f"{name}[{at[0]}]", f"{name}[{k}]"), caller)
                                    for k, it in zip(at[1:], items[1:])]
    labels = keys or [str(it.attrs.get("label", it.name if it.name else i)) for i, it in enumerate(items)]
    if len(set(labels)) < len(labels):
        labels = [f"{lb}#{i}" for i, lb in enumerate(labels)]
    return xr.concat(_without_own_scalars(rows), dim="rdm", coords="different", compat="equals").assign_coords(rdm=labels)


def _without_own_scalars(rows: list[xr.DataArray]) -> list[xr.DataArray]:
    """``rows`` (single RDMs) without their attrs and the 0-d coords that not every row holds, or that
    name the stack's dim ``rdm`` (an RDM taken from a stack, ``stack[0]``): the labels say which RDM is
    which, and ``xr.concat`` refused a list mixing such an RDM with a NumPy one (``coordinate 'rdm'
    not present in all datasets``)."""
    scalars = [{c for c in r.coords if r[c].ndim == 0} for r in rows]
    shared = set.intersection(*scalars) - {"rdm"}
    return [(r.drop_attrs() if hasattr(r, "drop_attrs") else r).drop_vars(sorted(s - shared)) for r, s in zip(rows, scalars)]


def _condensed(x: np.ndarray) -> bool:
    """Whether the square NumPy array ``x`` (m, m) is ``m`` condensed RDMs of ``m = n (n - 1) / 2`` pairs each, as
    :func:`~neuroxr.geometry.rdm_noise_ceiling` reads such a stack, rather than one matrix: its width is a number of
    pairs and it is not symmetric (an RDM or a similarity matrix is: read as one, checked and refused as such)."""
    try:
        _r.n_from_n_pairs(x.shape[1])
    except LayoutError:
        return False
    with np.errstate(invalid="ignore"):
        V = np.asarray(x, dtype=np.float64) if x.dtype.kind in "biuf" else None
        return V is not None and not np.allclose(V, V.T, rtol=1e-5, atol=0.0, equal_nan=True)


def rsatoolbox_subjects(x: Any) -> list[str] | None:
    """The labels of the RDMs of an rsatoolbox ``RDMs``: its ``subject`` rdm descriptor where every
    RDM has a distinct one, else ``None`` (rsatoolbox's own ``index`` numbers them by position)."""
    values = (getattr(x, "rdm_descriptors", None) or {}).get("subject")
    if values is None or np.shape(values) != (x.n_rdm,):
        return None
    labels = [str(v) for v in np.asarray(values).tolist()]
    return labels if len(set(labels)) == len(labels) else None


def compare_rdms_many(a: Any, b: Any, method: str = "spearman") -> xr.DataArray:
    """Compare many RDMs with many RDMs in one batched operation.

    Parameters
    ----------
    a, b : list or dict of RDMs (the keys label them), stacked DataArray (rdm, stimulus, stimulus_), NumPy stack (m, n, n) / (m, P) or rsatoolbox ``RDMs``
        All paired by ``stimulus_id`` to the first RDM of ``a``; unlabeled RDMs are assumed to be
        in the stimulus order of the first labeled RDM, looking at ``a`` first, then ``b``
        (see :func:`compare_rdms`). A square NumPy ``(m, m)`` array is one RDM unless ``m`` is a
        number of pairs ``n (n - 1) / 2`` and it is not symmetric: then ``m`` condensed RDMs, as
        :func:`~neuroxr.geometry.rdm_noise_ceiling` reads it.
    method : {"pearson", "spearman", "kendall", "cosine"}, default "spearman"

    Returns
    -------
    xarray.DataArray, dims (rdm_a, rdm_b)
        Pairs with a NaN in either RDM are left out of that comparison (one warning in all); attrs
        ``method``, ``n_stimuli`` and ``n_pairs_dropped``, the pairs left out summed over the comparisons.
    """
    method = _c._normalize_compare_method(method, "compare_rdms_many")
    ids, ref_name = _labeled_ids(("a", a), ("b", b))
    A = _stack_rdms(a, "a", ids, ref_name, "compare_rdms_many")
    ref = A.isel({A.dims[0]: 0})
    B = _stack_rdms(b, "b", _ids(ref), ref_name or "a[0]", "compare_rdms_many")
    B = _align_rdm(ref, B.transpose(B.dims[0], *RDM_DIMS), ("a", "b"), "compare_rdms_many")
    _check_stimuli(ref.sizes["stimulus"], "compare_rdms_many", "a and b share")
    A, B = _canonical(A), _canonical(B)  # one order of the pairs whatever the inputs' (sums round alike)
    VA = np.asarray(to_numpy(_r.upper_tri(np.asarray(A.values, dtype=np.float64))))
    VB = np.asarray(to_numpy(_r.upper_tri(np.asarray(B.values, dtype=np.float64))))
    dropped = 0
    if np.isnan(VA).any() or np.isnan(VB).any():
        M = np.empty((VA.shape[0], VB.shape[0]))
        for i in range(VA.shape[0]):
            for j in range(VB.shape[0]):
                res, d = _compare_vectors(VA[i], VB[j], (method,))
                M[i, j], dropped = res[method], dropped + d
        _nan_warning("compare_rdms_many", dropped, VA.shape[1] * VA.shape[0] * VB.shape[0])
    else:
        M = to_numpy(_c.compare_rdms_many(VA, VB, method))
    nan = np.argwhere(np.isnan(M))  # the pairs of RDMs to look at: few
    la, lb = (np.asarray(X[X.dims[0]].values).astype(str) for X in (A, B))
    warn_flat_rdms("compare_rdms_many", M[nan[:, 0], nan[:, 1]], VA[nan[:, 0]], VB[nan[:, 1]],
                   [str(la[i]) for i in nan[:, 0]], [str(lb[j]) for j in nan[:, 1]], total=M.size)
    return xr.DataArray(
        M,
        dims=("rdm_a", "rdm_b"),
        coords={"rdm_a": A[A.dims[0]].values, "rdm_b": B[B.dims[0]].values},
        name="rdm_similarity",
        # the NaN rule's count (docs/geometry.md), summed over the comparisons as the RSA inference sums it
        attrs={"method": method, "n_stimuli": int(ref.sizes["stimulus"]), "n_pairs_dropped": int(dropped)},
    )
