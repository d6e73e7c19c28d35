"""Labeled RDMs: RDMs of features / neural data / Grams, split-half RDMs, comparisons (the noise
ceilings of RDMs are in :mod:`neuroxr.geometry.rdm_ceiling`, stacks of RDMs in :mod:`neuroxr.geometry.rdm_stack`).

RDMs are ``DataArray`` objects with dims ``(stimulus, stimulus_)``; the first dim carries ``stimulus_id``,
the second ``stimulus_id_`` (the same ids). Two RDMs are always paired by ``stimulus_id`` before they are
compared. Plain NumPy RDMs (square ``n x n`` or condensed upper-triangle vectors as
``scipy.spatial.distance.squareform`` makes them) and rsatoolbox ``RDMs`` objects are accepted where an
RDM is compared (see :func:`compare_rdms`); their forms are read and checked in
:mod:`neuroxr.geometry._rdm_values`.

NaN rule (as rsatoolbox and ``scipy.stats`` with ``nan_policy="omit"``): a comparison uses the stimulus
pairs whose dissimilarity is finite in both RDMs; the incomplete pairs are dropped and counted in one
:class:`~neuroxr.errors.NeuroxrWarning`. The numerics live in :mod:`neuroxr.kernels.rdm`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import align, input_order
from ..backend import asarray, get_namespace, resolve_backend, to_numpy
from ..errors import LayoutError, warn, where
from ..kernels import compare as _c
from ..kernels import rdm as _r
from ..layouts import validate_neural
from ..validation import check_computed, check_int, real_array
from ._common import (
    RDM_DIMS,
    _canonical,
    _canonical_any,
    _check_option,
    _Checked,
    _columns_as_rows,
    _drop_unusable,
    _ids,
    _is_dask,
    _is_neural,
    _named,
    _one_bin,
    _plain,
    _rdm_da,
    _require_repeats,
    _usable,
    record_label,
    warn_flat_rdms,
)
from ._rdm_values import (
    _RDM_FORM,
    _check_square,
    _is_rsatoolbox,
    _refuse_inf,
    _rsatoolbox_rdms,
    _square,
    _square_size,
    _stack_given,
)
from .gram import _stats_and_ids

__all__ = [
    "rdm",
    "as_rdm",
    "split_half_rdms",
    "compare_rdms",
]


# ============================================================================ RDMs
def rdm(obj: xr.DataArray | xr.Dataset, method: str = "correlation", backend: str | None = None) -> xr.DataArray:
    """Representational dissimilarity matrix of the stimuli.

    Parameters
    ----------
    obj : DataArray or Dataset
        Features ``(stimulus, unit)`` (dask-backed ones stream their unit chunks), neural data
        ``(stimulus, neuroid, repeat)`` (trial-averaged with a NaN-mean first; stimuli without a
        trial in any neuroid, then neuroids lacking a trial for some stimulus, are dropped with one
        warning and counted in the attrs), or a Gram Dataset from :func:`gram`.
        Time-resolved responses (a ``time_bin`` dim) are refused: select one bin first.
    method : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default "correlation"
        ``correlation`` = 1 - Pearson across units; see :mod:`neuroxr.kernels.rdm`.
    backend : str, optional

    Returns
    -------
    xarray.DataArray, dims (stimulus, stimulus_)
        In the input's stimulus order; coords ``stimulus_id`` / ``stimulus_id_``, and each other
        coord of the input along ``stimulus`` (e.g. ``category``) on both dims (``category`` /
        ``category_``) for the stimuli kept; attrs
        ``method``, ``source`` (the input's kind), ``label`` (its ``model.layer``, else its name:
        :func:`neuroxr.sets.set_label`; neural data: also ``n_excluded_stimuli``,
        ``n_excluded_neuroids``).
    """
    resolve_backend(backend, "rdm")  # refused naming the function, before the data is read
    name = "rdm: " + _named(obj, "obj")
    D = _rdm(obj, method, backend, name)  # its messages start with the function
    _warn_undefined_rows(D, method, name)
    return _with_stimulus_coords(D, obj)


def _warn_undefined_rows(D: xr.DataArray, method: str, name: str, arg: str = "method") -> None:
    """One warning when stimuli of the RDM ``D`` have no dissimilarity (every off-diagonal entry of
    their row NaN): a pattern constant across units (correlation) or all zero (cosine), whose pairs
    each comparison then leaves out and counts; ``arg``: the argument that chose ``method``."""
    xp = get_namespace(D.data)
    n = D.shape[0]
    if n < 2:
        return
    # per stimulus, its NaN dissimilarities (in the RDM's namespace: n counts come to the host, not the RDM)
    nan = xp.astype(xp.isnan(D.data), xp.int64)
    off = xp.sum(nan, axis=1) - xp.linalg.diagonal(nan)  # the NaN off the diagonal
    rows = np.flatnonzero(to_numpy(off) == n - 1)
    if rows.size:
        what = "constant across units" if method == "correlation" else "all zero"
        ids = np.asarray(D["stimulus_id"].values)[rows[:3]].tolist()
        warn(f"{name}: {rows.size} of {n} stimuli have a pattern {what} (e.g. {ids}), so their {method} dissimilarities "
             f"are undefined (NaN); comparisons leave their pairs out and count them. Use {arg}='euclidean' to keep them.")


def _with_stimulus_coords(D: xr.DataArray, obj: Any) -> xr.DataArray:
    """The RDM ``D`` with the other ``(stimulus,)`` coords of its input ``obj`` on both of its dims
    (``name`` / ``name_``), taken by ``stimulus_id`` (stimuli dropped for missing trials are not rows)."""
    if not isinstance(obj, (xr.DataArray, xr.Dataset)) or "stimulus_id" not in obj.coords:
        return D
    names = [c for c, v in obj.coords.items() if v.dims == ("stimulus",) and c not in ("stimulus", "stimulus_id")
             and f"{c}_" not in obj.coords and c not in D.coords]
    if not names:
        return D
    import pandas as pd

    at = pd.Index(np.asarray(obj["stimulus_id"].values).astype(str)).get_indexer(np.asarray(D["stimulus_id"].values).astype(str))
    values = {c: np.asarray(obj[c].values)[at] for c in names}
    return D.assign_coords({**{c: ("stimulus", v) for c, v in values.items()}, **{f"{c}_": ("stimulus_", v) for c, v in values.items()}})


def _rdm(obj: xr.DataArray | xr.Dataset | _Checked, method: str, backend: str | None, name: str) -> xr.DataArray:
    """:func:`rdm` of ``obj``, named ``name`` in its messages: the argument of the public function
    called (:func:`~neuroxr.geometry._common._named`), e.g. ``"features (net/l1)"`` from crsa; also of
    neural responses a metric checked in this call (a :class:`~neuroxr.geometry._common._Checked`:
    not checked again, a dask-backed one's trial means not read again)."""
    _check_option(method, _r.RDM_METHODS, "method", "rdm")
    counts = {}
    if _is_neural(obj):
        validate_neural(_plain(obj), name=name, check_values=False)  # the values: once, in _drop_unusable
        _one_bin(obj, name)
        (obj,), counts, _ = _drop_unusable([(obj, name)], None)
    # refuses time-resolved responses; no caller prefix: crsa and others reach here with their own argument.
    # Computed in canonical stimulus order, handed back in the input's: permuting the stimuli changes no bit
    stats, ids, kind = _stats_and_ids(_canonical_any(obj), backend, name)
    # a Gram computed here is not seen by the caller: the RDM may take over its memory
    D = _r._rdm_from_gram(stats, method, overwrite=kind != "gram", name=name)
    if (back := input_order(_ids(_plain(obj)))) is not None:
        xp = get_namespace(D)
        at = xp.asarray(back, device=getattr(D, "device", None))
        D, ids = xp.take(xp.take(D, at, axis=0), at, axis=1), ids[back]
    return _rdm_da(D, ids, "rdm", {"method": method, "source": kind, "label": record_label(obj, kind), **counts})


def _split_halves(neural: xr.DataArray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two split-half NaN-means ``(n, k)``: one permutation of the repeats; each (stimulus, neuroid)'s
    valid repeats in that order, first ceil(v/2) vs the rest (the directions' default
    ``split="valid"`` halves, from :mod:`neuroxr.kernels.splits`; first ceil(T/2) slots vs the rest
    on complete data)."""
    from ..kernels.splits import draw_permutation, split_means

    R = np.asarray(neural.transpose("stimulus", "neuroid", "repeat").values, dtype=np.float64)
    h1, h2 = split_means(R, draw_permutation(rng, R.shape[2])[None], "valid")
    return h1[0], h2[0]


def check_split_halves(seed: Any, reps: Any, caller: str = "") -> dict[str, int]:
    """The split-half draw's ``seed`` (int >= 0) and ``reps`` (int >= 1), checked before any data
    is read (a one-line :class:`~neuroxr.errors.ParameterError` starting with ``caller``); returned as ints."""
    return {"seed": check_int(seed, "seed", 0, "The repeat permutations come from numpy.random.default_rng(seed); pass e.g. seed=0.",
                              caller=caller),
            "reps": check_int(reps, "reps", 1, "Pass the number of split-half repetitions, e.g. reps=10.", caller=caller)}


def split_half_rdms(neural: xr.DataArray, method: str = "correlation", seed: int = 0, reps: int = 1) -> xr.DataArray:
    """RDMs of split halves of the repeats, ``reps`` independent splits.

    Each rep permutes the repeat axis with ``numpy.random.default_rng(seed)`` (one Generator for
    all reps); each (stimulus, neuroid)'s valid (non-NaN) repeats, in that order, are halved: the
    first ``ceil(v / 2)`` against the rest (the directions' ``split="valid"``; on complete data the
    first ``ceil(T / 2)`` repeats against the rest). A (stimulus, neuroid) needs 2 valid repeats:
    stimuli without them in any neuroid, then neuroids lacking them on some stimulus, are left out
    (one warning; counted in the attrs), so every rep's two RDMs use the same stimuli and neuroids.

    Parameters
    ----------
    neural : xarray.DataArray, dims (stimulus, neuroid, repeat), at least 2 repeats
    method : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default "correlation"
    seed : int, default 0
    reps : int, default 1

    Returns
    -------
    xarray.DataArray, dims (rep, half, stimulus, stimulus_)
        attrs ``method``, ``seed``, ``reps``, ``n_excluded_stimuli``, ``n_excluded_neuroids``.
    """
    return _split_half_rdms(neural, method, seed, reps)


def _split_half_rdms(neural: xr.DataArray | _Checked, method: str, seed: int, reps: int,
                     caller: str = "split_half_rdms", method_arg: str = "method") -> xr.DataArray:
    """:func:`split_half_rdms`, also of responses a metric checked in this call (a
    :class:`~neuroxr.geometry._common._Checked`: its valid repeats not counted again in memory);
    the messages start with ``caller``, the public function called (its RDM method argument ``method_arg``)."""
    _check_option(method, _r.RDM_METHODS, method_arg, caller)
    check_split_halves(seed, reps, caller)
    checked, neural = neural, _plain(neural)
    name = _named(neural, "neural")
    fresh = not isinstance(checked, _Checked)  # a checked input: its values not checked again
    validate_neural(neural, name=f"{caller}: {name}", check_values=fresh)
    _one_bin(neural, name, caller)
    _require_repeats(neural, name, caller, ", or noise_ceiling=False" if caller == "crsa" else "")
    if _is_dask(neural):  # the values in memory (a fresh input's inf refused as validate_neural refuses it there)
        neural = neural.compute()
        if fresh:
            check_computed(neural, neural.values, f"{caller}: {name}")
        checked = neural if fresh else _Checked(neural, checked.min_valid)
    neural, counts, _ = _usable(checked, name, 2, caller)
    back = input_order(_ids(neural))  # computed in canonical order (permuting the stimuli changes no bit)
    back = np.ix_(back, back) if back is not None else ...
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(reps):  # 2 valid repeats everywhere: no half is empty
        out.append([to_numpy(_r.rdm(h, method))[back] for h in _split_halves(_canonical(neural), rng)])
    ids = _ids(neural)
    return xr.DataArray(
        np.asarray(out),
        dims=("rep", "half", *RDM_DIMS),
        coords={"rep": np.arange(reps), "half": [1, 2], "stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
        name="split_half_rdms",
        attrs={"method": method, "seed": seed, "reps": int(reps), **counts},
    )


# ============================================================================ inputs: labeled, NumPy, rsatoolbox
def as_rdm(x: Any, name: str = "rdm", stimulus_id: Any = None) -> xr.DataArray:
    """One RDM as a labeled DataArray ``(stimulus, stimulus_)``.

    Parameters
    ----------
    x : DataArray, numpy array or rsatoolbox ``RDMs`` holding one RDM
        A labeled RDM is returned as is. A NumPy RDM is square ``(n, n)`` or a condensed vector of
        its upper triangle (``i < j``, row-major: ``scipy.spatial.distance.squareform``'s order).
        An rsatoolbox ``RDMs`` object is read through ``get_vectors()``; its pattern descriptor
        ``stimulus_id``, ``stimulus``, ``conds`` or ``condition`` (the first present, as
        :func:`neuroxr.io.from_rsatoolbox_rdms` reads it) labels the stimuli.
    name : str, default "rdm"
        Name used in error messages.
    stimulus_id : array-like of str, optional
        Ids of the rows of an unlabeled RDM; default ``"0" .. "n-1"`` (positions).

    Returns
    -------
    xarray.DataArray, dims (stimulus, stimulus_)
        A stack of RDMs (a 3-d DataArray or NumPy array) is refused with a one-line
        :class:`~neuroxr.errors.LayoutError` pointing to the functions that take stacks.
    """
    return _as_rdm(x, name, stimulus_id)


def _as_rdm(x: Any, name: str, stimulus_id: Any = None, label: str | None = None) -> xr.DataArray:
    """:func:`as_rdm`, its messages naming the RDM ``name`` (``"compare_rdms: a (net.l1)"``) and an
    unlabeled RDM labeled ``label`` (default ``name``: the RDM's label is never a message's name)."""
    if isinstance(x, xr.DataArray):
        if tuple(x.dims[-2:]) != RDM_DIMS:
            raise LayoutError(f"{name}: an RDM needs dims {RDM_DIMS} (last two); found {x.dims}.")
        if x.ndim > 2:
            raise _stack_given(name, x.dims, x.shape)
        _refuse_inf(x, name)
        x = _columns_as_rows(x, name)
        _check_square(real_array(x.values, name, _RDM_FORM), name)  # labeled too: whoever made it (one pass)
        return x
    ids = None
    if _is_rsatoolbox(x):
        if int(x.n_rdm) != 1:
            raise LayoutError(
                f"{name}: the rsatoolbox RDMs object holds {int(x.n_rdm)} RDMs; give one (e.g. rdms[0]) or use "
                "compare_rdms_many / rdm_noise_ceiling for several."
            )
        D, ids = _rsatoolbox_rdms(x, name)
        D = D[0]
    elif isinstance(x, (np.ndarray, list, tuple)):
        if np.ndim(x) == 3:
            raise _stack_given(name, None, np.shape(x))
        D = _square(x, name)
    else:
        raise LayoutError(
            f"{name}: expected an RDM DataArray (stimulus, stimulus_), a NumPy RDM or an rsatoolbox RDMs object; "
            f"got {type(x).__name__}."
        )
    n = D.shape[0]
    if ids is None:
        ids = np.arange(n).astype(str) if stimulus_id is None else np.asarray(stimulus_id).astype(str)
    if ids.shape != (n,):
        raise LayoutError(f"{name}: {n} stimuli in the RDM but {ids.size} stimulus ids; give one id per row.")
    label = name if label is None else label
    return _rdm_da(D, ids, label, {"label": label})


def _align_rdm(ref: xr.DataArray, other: xr.DataArray, names: tuple[str, str], caller: str | None = None) -> xr.DataArray:
    """``other`` (an RDM or a stack) paired with the RDM ``ref`` by ``stimulus_id`` on both axes;
    the messages name them ``names`` and start with ``caller``, the public function called."""
    for d, nm in ((ref, names[0]), (other, names[1])):
        if tuple(d.dims[-2:]) != RDM_DIMS:
            raise LayoutError(f"{where(caller)}{nm}: an RDM needs dims {RDM_DIMS} (last two); found {d.dims}.")
    _, o = align(ref, other, names=names, caller=caller)
    return _columns_as_rows(o, where(caller) + names[1])  # no reindexing copy when already paired


def _refuse_unpaired(ref_ids: Any, other_ids: Any, names: tuple[str, str], caller: str) -> None:
    """:func:`_align_rdm`'s pairing refusal of two inputs from their stimulus ids alone, before their
    RDMs are computed: the means of unpaired neural data are not judged and may hold NaN, which an RDM refuses."""
    ref_ids, other_ids = np.asarray(ref_ids).astype(str), np.asarray(other_ids).astype(str)
    if set(ref_ids.tolist()) != set(other_ids.tolist()):
        def ids(v: np.ndarray) -> xr.DataArray:
            return xr.DataArray(np.zeros(v.size), dims="stimulus", coords={"stimulus_id": ("stimulus", v)})
        align(ids(ref_ids), ids(other_ids), names=names, caller=caller)


def _own_ids(x: Any) -> np.ndarray | None:
    """Stimulus ids one RDM input carries (labeled DataArray or stack, rsatoolbox ``RDMs`` with a
    ``stimulus_id`` descriptor), else None."""
    if isinstance(x, xr.DataArray):
        return _ids(x) if "stimulus_id" in x.coords else None
    if _is_rsatoolbox(x):
        return _rsatoolbox_rdms(x, "rdms")[1]
    return None


def _labeled_ids(*named: tuple[str, Any]) -> tuple[np.ndarray | None, str]:
    """Ids and name of the first labeled RDM among the ``(name, input)`` pairs, each input one RDM
    or a list / stack of them; ``(None, "")`` when all are unlabeled.

    The one rule for unlabeled RDMs: they list the stimuli in this RDM's order.
    """
    for name, x in named:
        items = (list(enumerate(x)) if isinstance(x, (list, tuple))
                 else [(repr(k), v) for k, v in x.items()] if isinstance(x, Mapping) else [(None, x)])
        for i, it in items:
            ids = _own_ids(it)
            if ids is not None:
                return ids, name if i is None else f"{name}[{i}]"
    return None, ""


def _as_rdm_in(x: Any, name: str, ids: np.ndarray | None, ref: str, shown: str | None = None) -> xr.DataArray:
    """One RDM as a labeled array: by its own ids when it has them, else in the order ``ids`` of the
    labeled RDM ``ref`` (positions when ``ids`` is None); a size mismatch is refused. ``shown``: the
    RDM as the messages name it (default ``name``, which labels an unlabeled RDM)."""
    shown = name if shown is None else shown
    if ids is None or _own_ids(x) is not None or isinstance(x, xr.DataArray):
        return _as_rdm(x, shown, label=name)
    n = _square_size(x)
    if n is not None and n != ids.size:
        raise LayoutError(
            f"{shown}: an RDM without stimulus ids has {n} stimuli but {ref} has {ids.size}; an unlabeled "
            f"RDM must list the stimuli of {ref} in its order (or label it: geometry.as_rdm({name}, stimulus_id=...))."
        )
    return _as_rdm(x, shown, stimulus_id=ids, label=name)


def _rdm_named(x: Any, arg: str) -> str:
    """How a message names the RDM ``x`` given as argument ``arg``: with its label in parentheses
    where it has one that differs (its attr ``label``, e.g. ``"a (net.l1)"``; :func:`_named`)."""
    label = x.attrs.get("label") if isinstance(x, xr.DataArray) else None
    return _named(x, arg) if label is None else arg if str(label) == arg else f"{arg} ({label})"


def _pair_inputs(a: Any, b: Any, caller: str) -> tuple[xr.DataArray, xr.DataArray, tuple[str, str]]:
    """Two RDMs as labeled arrays (an unlabeled one taken in the stimulus order of the labeled one)
    and their names in messages (:func:`_rdm_named`), which start with ``caller``."""
    (na, nb) = names = _rdm_named(a, "a"), _rdm_named(b, "b")
    ids, ref = _labeled_ids((na, a), (nb, b))
    return (_as_rdm_in(a, "a", ids, ref, f"{caller}: {na}"), _as_rdm_in(b, "b", ids, ref, f"{caller}: {nb}"), names)


# ============================================================================ comparisons
def _nan_warning(caller: str, n_dropped: int, n_pairs: int) -> None:
    warn(
        f"{caller}: {n_dropped} of {n_pairs} stimulus pairs have a NaN dissimilarity and are left out of the comparison "
        "(e.g. constant patterns or missing trials).",
    )


def _check_stimuli(n: int, caller: str, what: str) -> None:
    """One-line :class:`LayoutError` when ``what`` holds fewer than 3 stimuli: their 0 or 1 pair has
    no correlation (a NaN from the NaN rule below is for pairs dropped, never for too small an RDM)."""
    if n < 3:
        p = n * (n - 1) // 2
        raise LayoutError(f"{caller}: {what} {n} stimuli ({p} pair{'' if p == 1 else 's'}); comparing RDMs needs at least 3 "
                          "stimuli (a correlation of one pair is undefined). Compare RDMs of more stimuli.")


def _compare_vectors(va: np.ndarray, vb: np.ndarray, methods: Sequence[str],
                     backend: str | None = "numpy") -> tuple[dict[str, float], int]:
    """Comparison of two RDM vectors on their complete pairs (ranked and correlated on ``backend``);
    also the number of pairs dropped."""
    ok = ~(np.isnan(va) | np.isnan(vb))
    dropped = int(ok.size - ok.sum())
    if dropped:
        va, vb = va[ok], vb[ok]
    if va.size < 3:
        return {m: math.nan for m in methods}, dropped
    if resolve_backend(backend) != "numpy":
        va, vb = asarray(va, backend), asarray(vb, backend)
    return _c.compare_rdms(va, vb, list(methods)), dropped


def compare_rdms(a: Any, b: Any, method: str | Sequence[str] = "spearman", backend: str | None = None) -> xr.DataArray:
    """Similarity of two RDMs on the upper triangle, after pairing them by ``stimulus_id``.

    Parameters
    ----------
    a, b : RDM DataArray (stimulus, stimulus_), NumPy RDM or rsatoolbox ``RDMs`` (one RDM)
        Labeled RDMs are paired by ``stimulus_id``. A NumPy RDM (square ``(n, n)`` or condensed
        upper-triangle vector, ``squareform`` order) carries no ids: it is **assumed to list the
        stimuli in the order of the other RDM** (or in the same order as the other NumPy RDM). An
        rsatoolbox ``RDMs`` object is paired by its ``stimulus_id`` pattern descriptor when it has
        one, else treated like a NumPy RDM. A stack of RDMs (e.g. dims ``(subject, stimulus,
        stimulus_)``) is refused: compare stacks with :func:`compare_rdms_many`.
    method : str or sequence of str, default "spearman"
        ``"pearson"``, ``"spearman"``, ``"kendall"`` (Kendall's tau-a; rsatoolbox's ``"kendall"`` is
        tau-b, which neuroxr does not compute) or ``"cosine"``. A sequence computes several in one
        call: the triangles are extracted once and Spearman and Kendall share one sort of each RDM.
    backend : str, optional
        Array backend of the ranking and the correlations (``"numpy"``, ``"torch"``,
        ``"torch_cuda"``, ``"cupy"``); default: the global one (:func:`neuroxr.set_backend`). The
        triangles are taken and paired on the host.

    Returns
    -------
    xarray.DataArray, named ``rdm_similarity``
        For one method given as a string, a 0-d float64 (``float(res)`` is the number) with attr
        ``method`` (its canonical name); for a sequence, dims ``(comparison,)`` with coord
        ``comparison`` = the canonical method names in the order given (select with
        ``res.sel(comparison="kendall")``; a dim named ``method`` would clash with ``sel``'s own
        ``method`` argument). Pairs with a NaN in either RDM are left out (one warning). Attrs
        ``source`` / ``target`` (the RDMs' labels: ``a`` / ``b`` for unlabeled ones),
        ``n_stimuli`` and ``n_pairs_dropped``.
    """
    return _compare_rdms(a, b, method, backend, "compare_rdms")


def _compare_rdms(a: Any, b: Any, method: str | Sequence[str], backend: str | None, caller: str,
                  names: tuple[str, str] | None = None) -> xr.DataArray:
    """:func:`compare_rdms`, its messages starting with ``caller``, the public function called (crsa and
    ersa compare their RDMs here), the RDMs named ``names`` in its warnings (default: as given)."""
    methods = _c.normalize_compare_methods(method, caller)
    resolve_backend(backend, caller)  # refused naming the function, before the data is read
    a, b, found = _pair_inputs(a, b, caller)
    names = found if names is None else names
    b = _align_rdm(a, b, names, caller)
    _check_stimuli(a.sizes["stimulus"], caller, "a and b share" if names is found else f"{names[0]} and {names[1]} share")
    a, b = _canonical(a), _canonical(b)  # one order of the pairs whatever the inputs' (sums round alike)
    va = np.asarray(to_numpy(_r.upper_tri(np.asarray(a.values, dtype=np.float64))))
    vb = np.asarray(to_numpy(_r.upper_tri(np.asarray(b.values, dtype=np.float64))))
    res, dropped = _compare_vectors(va, vb, methods, backend)
    if dropped:
        _nan_warning(caller, dropped, va.size)
    one = isinstance(method, str)
    values = np.asarray([res[m] for m in methods], dtype=np.float64)
    warn_flat_rdms(caller, np.nan if np.isnan(values).any() else 0.0, va[None], vb[None], [names[0]], [names[1]])
    return xr.DataArray(
        values[0] if one else values,
        dims=() if one else ("comparison",),
        coords={} if one else {"comparison": list(methods)},
        name="rdm_similarity",
        attrs={**({"method": methods[0]} if one else {}), "source": str(a.attrs.get("label", record_label(a, "a"))),
               "target": str(b.attrs.get("label", record_label(b, "b"))), "n_stimuli": int(a.sizes["stimulus"]),
               "n_pairs_dropped": dropped},
    )
