"""Relative representations (Moschella et al. 2023): features re-expressed as similarities to anchors.

A stimulus's relative representation is its vector of similarities to a fixed set of anchors:
``R[i, a] = sim(x_i, e_a)`` with ``sim`` the cosine (``x . e / (|x| |e|)``) or the dot product.
The anchors live in the same unit space as the features: a subset of the stimuli themselves
(by ``stimulus_id``), another feature set of the same units (other items run through the same
layer), or any embedding matrix ``(anchor, unit)`` (e.g. text queries embedded by a language
model whose space the features share, as in DeepJuice's tutorial).

:func:`relative_features` returns a regular neuroxr feature layout (``stimulus x unit`` with
``unit_id`` = anchor ids), so it can be scored, written to a store as a layer or swept like any
other layer. :func:`anchor_weights` gives the per-anchor ridge coefficients of a forward fit
(relative features -> trial-averaged responses) for interpretation.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..backend import pow2_scaled
from ..errors import LayoutError, ParameterError, examples, shown
from ..kernels.gram_rows import check_range
from ..layouts import validate_features
from ..validation import check_computed, real_array, tensor_values
from ._common import _align, _canonical_any, _drop_unusable, _ids, _is_dask, _named, _neural_mean, canonical_order

__all__ = ["SIMILARITIES", "relative_features", "anchor_weights", "SOURCE_TOKEN_ATTR", "stale_source_problem"]

#: attr of a stored relative layer: the version token of the layer it was computed from, as read then
SOURCE_TOKEN_ATTR = "source_token"

SIMILARITIES = ("cosine", "dot")


def _unit_ids(da: xr.DataArray) -> np.ndarray | None:
    return np.asarray(da.coords["unit_id"].values).astype(str) if "unit_id" in da.coords else None


def _validated(x: xr.DataArray, name: str) -> xr.DataArray:
    """The feature set ``x`` checked as in-memory features are (a lazy one computed, once, and refused alike
    when it holds NaN or inf: its values are all read anyway)."""
    validate_features(x, name=name)
    if _is_dask(x):
        x = x.compute()
        check_computed(x, x.values, name)
    return x


def _anchor_matrix(features: xr.DataArray, anchors: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """Anchor embeddings ``(n_anchors, n_units)`` in the unit order of ``features``, their ids (those
    found in ``anchors``, else ``anchor0...``) and kind."""
    units = _unit_ids(features)
    p = features.sizes["unit"]
    if isinstance(anchors, xr.DataArray):
        if "unit" not in anchors.dims or anchors.ndim != 2:
            raise LayoutError(
                f"relative_features: anchors has dims {tuple(anchors.dims)}; pass a (stimulus, unit) feature set or an "
                "(anchor, unit) embedding matrix with the features' units."
            )
        row = next(d for d in anchors.dims if d != "unit")
        a_units = _unit_ids(anchors)
        if a_units is not None and units is not None:
            if set(a_units) != set(units) or a_units.size != units.size:
                raise LayoutError(
                    "relative_features: anchors and features do not share their units (unit_id differs on dim 'unit'); "
                    "anchors must be embedded in the same unit space (same layer / embedding model)."
                )
            anchors = anchors.isel(unit=pd.Index(a_units).get_indexer(units))
        elif units is not None and a_units is None:  # by position it would silently follow the anchors' storage order
            raise LayoutError(
                "relative_features: anchors has no unit_id coord on dim 'unit', so its units cannot be paired with the "
                "features' by id; assign them (anchors.assign_coords(unit_id=('unit', ids))), or pass anchors.values, "
                "an embedding matrix in the features' unit order."
            )
        elif anchors.sizes["unit"] != p:
            raise LayoutError(f"relative_features: anchors has {anchors.sizes['unit']} units on dim 'unit', features {p}; they must match.")
        idc = f"{row}_id"
        ids = (np.asarray(anchors.coords[idc].values).astype(str) if idc in anchors.coords
               else np.array([f"anchor{i}" for i in range(anchors.sizes[row])]))
        kind = "feature_set" if row == "stimulus" else "embedding"
        values = real_array(anchors.transpose(row, "unit").values, "relative_features: anchors", "an embedding")
        return values, ids, kind
    arr = np.asarray(tensor_values(anchors))  # a torch tensor (bfloat16, requiring grad) by its values
    if arr.ndim == 1 and arr.dtype.kind in "USO":
        want = arr.astype(str)
        have = _ids(features)
        pos = {s: i for i, s in enumerate(have)}
        missing = [s for s in want if s not in pos]
        if missing:
            raise LayoutError(
                f"relative_features: {len(missing)} anchor ids are not stimulus ids of features (e.g. {examples(missing, 3)}); "
                "pass ids from features.stimulus_id, or an embedding matrix."
            )
        rows = np.array([pos[s] for s in want], dtype=int)
        return np.asarray(features.transpose("stimulus", "unit").values[rows], dtype=np.float64), want, "stimulus_subset"
    if arr.ndim == 0 and arr.dtype.kind in "USO":  # one id was told it is an embedding matrix of shape ()
        raise LayoutError(f"relative_features: anchors is one stimulus id ({shown(anchors)}); pass a list of them, "
                          f"e.g. [{shown(anchors)}], or an embedding matrix (n_anchors, {p}).")
    if arr.ndim == 1 and arr.dtype.kind in "iu" and arr.shape[0] != p:  # positions, where ids are asked for
        raise LayoutError(f"relative_features: anchors holds {arr.shape[0]} integers; anchors are stimulus ids (text), not "
                          f"positions: pass e.g. features.stimulus_id.values[{shown(arr.tolist())}], or an embedding "
                          f"matrix (n_anchors, {p}).")
    if arr.ndim != 2 or arr.shape[1] != p:
        raise LayoutError(
            f"relative_features: anchors has shape {arr.shape}; an embedding matrix must be (n_anchors, {p}) "
            "with the features' units as columns."
        )
    arr = real_array(arr, "relative_features: anchors", "an embedding matrix")  # complex parts were dropped, text a bare error
    return arr, np.array([f"anchor{i}" for i in range(arr.shape[0])]), "embedding"


def relative_features(
    features: xr.DataArray,
    anchors: Any,
    similarity: str = "cosine",
    anchor_ids: Sequence[str] | None = None,
    layer: str | None = None,
) -> xr.DataArray:
    """Re-express ``features`` as similarities to anchors (a relative representation).

    Parameters
    ----------
    features : DataArray (stimulus, unit)
        Feature set to transform (a lazy, dask-backed one is read once and refused, as an
        in-memory one, when it holds NaN or inf).
    anchors : sequence of str, DataArray or array
        - stimulus ids of ``features`` (the anchors are those stimuli's features);
        - a feature set ``(stimulus, unit)`` of other items with the same ``unit_id``s
          (matched by ``unit_id``; anchor ids = its ``stimulus_id``);
        - an embedding matrix: DataArray ``(anchor, unit)`` (ids from ``anchor_id``; units matched by
          ``unit_id``) or array ``(n_anchors, n_units)`` in the features' unit order.
        A DataArray without ``unit_id`` is refused (its units would pair by position): pass its
        ``.values`` for the features' unit order. Real numbers only (complex and text refused).
    similarity : {"cosine", "dot"}, default "cosine"
        A cosine is scale-free: the same at every finite scale of features and anchors. Dot
        products of values beyond about ``1e+-154`` leave float64's range: refused in one line
        naming the input (:func:`neuroxr.kernels.gram_rows.check_range`).
    anchor_ids : sequence of str, optional
        Ids of the anchors, one per anchor (overrides those found in ``anchors``, whatever their
        kind: stimulus ids, ``stimulus_id`` or ``anchor_id``); default ``anchor0...``.
    layer : str, optional
        ``layer`` coord of the result; default ``"<layer>_relative"`` (``"relative"`` without one).

    Returns
    -------
    DataArray (stimulus, unit), shape (n_stimuli, n_anchors)
        A feature layout: ``unit_id`` = anchor ids, ``stimulus_id`` and ``model`` from
        ``features``; attrs ``transform="relative"``, ``similarity``, ``anchor_kind``,
        ``source_layer``. A zero feature or anchor vector gives cosine 0. Every sum runs over the
        units in canonical order (sorted ``unit_id``), for the stimuli and anchors in theirs, so
        permuting units, stimuli or anchors changes no number.
    """
    if similarity not in SIMILARITIES:
        raise LayoutError(f"relative_features: similarity must be one of {SIMILARITIES}; got {shown(similarity)}.")
    features = _validated(features, "relative_features: " + _named(features, "features"))
    E, ids, kind = _anchor_matrix(features, anchors)
    if E.shape[0] == 0:
        raise LayoutError("relative_features: no anchors given; pass anchor stimulus ids or an embedding matrix with rows.")
    if anchor_ids is not None:  # overrides the ids found in anchors, whatever their kind
        given = np.asarray(anchor_ids).astype(str)
        if given.shape != (E.shape[0],):
            raise LayoutError(f"relative_features: anchor_ids gives {given.size} ids for {E.shape[0]} anchors (the rows of "
                              "anchors); give one id per anchor, or leave anchor_ids out.")
        ids = given
    if not np.isfinite(E).all():
        bad = ids[~np.isfinite(E).all(axis=1)]
        raise LayoutError(f"relative_features: {bad.size} anchors hold NaN or inf values, e.g. {examples(bad, 3)}; "
                          "anchors must be finite: drop or impute them.")
    if len(set(ids)) < ids.size:
        raise LayoutError("relative_features: anchor ids are not unique; pass distinct anchor_ids.")
    X = np.asarray(features.transpose("stimulus", "unit").values, dtype=np.float64)
    if similarity == "dot":  # products of values beyond about 1e+-154 overflowed (inf) or lost their digits: refused
        for M, who, arg in ((X, _named(features, "features"), "features"), (E, "anchors", "anchors")):
            check_range(M, f"relative_features: {who}", arg=arg, axis=1,
                        note="(cosine similarities do not change; dot products scale by its square)")
    # every sum in canonical order (stimuli, anchors and units sorted by id), so permuting any of them
    # changes no number (BLAS's sums follow the order and shape of what it is given)
    so, ao, uo = canonical_order(_ids(features)), canonical_order(ids), canonical_order(_unit_ids(features))
    X, E = X[np.ix_(so, uo)], np.asarray(E, dtype=np.float64)[np.ix_(ao, uo)]
    if similarity == "cosine":  # each row scaled by a power of two first (exact): a cosine is scale-free, and the
        # norms' squares underflowed (cosines above 1 near 1e-160) or overflowed (0 near 1e160)
        X, E = pow2_scaled(X), pow2_scaled(E)
        nx = np.linalg.norm(X, axis=1, keepdims=True)
        ne = np.linalg.norm(E, axis=1, keepdims=True)
        X = np.divide(X, nx, out=np.zeros_like(X), where=nx > 0)
        E = np.divide(E, ne, out=np.zeros_like(E), where=ne > 0)
    R = np.empty((X.shape[0], E.shape[0]))
    R[np.ix_(so, ao)] = X @ E.T
    coords: dict[str, Any] = {"stimulus_id": ("stimulus", _ids(features)), "unit_id": ("unit", ids)}
    src_layer = features.coords["layer"].item() if "layer" in features.coords else features.attrs.get("layer")
    if "model" in features.coords:
        coords["model"] = features.coords["model"].item()
    elif "model" in features.attrs:
        coords["model"] = features.attrs["model"]
    coords["layer"] = layer if layer is not None else (f"{src_layer}_relative" if src_layer is not None else "relative")
    return xr.DataArray(
        R,
        dims=("stimulus", "unit"),
        coords=coords,
        name=features.name,
        attrs={"transform": "relative", "similarity": similarity, "anchor_kind": kind,
               "source_layer": "" if src_layer is None else str(src_layer), "reference": "Moschella et al. 2023"},
    )


def anchor_weights(relative: xr.DataArray, neural: xr.DataArray, alpha: float = 0.1) -> xr.DataArray:
    """Per-anchor ridge weights of a forward fit from relative features to the trial-averaged responses.

    The coefficients of ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)`` fitted on all
    paired stimuli, one column per neuroid, indexed by anchor id: a large positive weight says
    the neuroid responds to stimuli similar to that anchor. The fit sums over the stimuli in their
    canonical order (``stimulus_id`` sorted) and solves for the anchors and neuroids in theirs
    (sorted ids; the result keeps the inputs' orders), so their order in the inputs changes no number.

    Parameters
    ----------
    relative : DataArray (stimulus, unit)
        Output of :func:`relative_features` (any feature set works; ``unit_id`` names the rows;
        a lazy one is read once and refused when it holds NaN or inf, as an in-memory one is).
    neural : DataArray (stimulus, neuroid, repeat) or (stimulus, neuroid)
        Responses, paired by ``stimulus_id``; averaged over repeats.
    alpha : float, default 0.1
        Ridge penalty (scikit-learn's convention, finite and > 0).

    Returns
    -------
    DataArray (anchor, neuroid)
        Coords ``anchor_id`` and ``neuroid_id``; attrs ``alpha``, ``similarity``, ``n_stimuli``
        (fitted on) and, as :func:`~neuroxr.geometry.crsa` records them, ``n_excluded_stimuli`` and
        ``n_excluded_neuroids`` (left out under the missing-trial rule, with the warning).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < float("inf"):
        raise ParameterError(f"anchor_weights: alpha must be a finite number > 0 (the ridge penalty); got {shown(alpha)}. "
                             "Pass e.g. alpha=0.1.")
    relative = _validated(relative, "anchor_weights: " + _named(relative, "relative"))
    if not isinstance(neural, xr.DataArray):  # its dims are read below (an array's AttributeError named nothing)
        raise LayoutError(f"anchor_weights: neural must be a labeled DataArray (stimulus, neuroid, repeat) or (stimulus, "
                          f"neuroid), paired with relative by stimulus_id; got {shown(neural)}. Label it first with "
                          "nx.neural(values, stimulus_id=..., neuroid_id=...).")
    if "repeat" not in neural.dims:
        neural = neural.expand_dims("repeat", axis=-1)
    (neural, relative), counts, _ = _drop_unusable([(neural, _named(neural, "neural")), (relative, _named(relative, "relative"))],
                                              "anchor_weights")
    relative, neural = _align(relative, neural, names=(_named(relative, "relative"), _named(neural, "neural")),
                              caller="anchor_weights")
    # the sums over the stimuli in canonical order: permuting the stimuli changes no number
    relative, neural = _canonical_any(relative), _canonical_any(neural)
    Y = _neural_mean(neural).transpose("stimulus", "neuroid")
    # anchors and neuroids in canonical order too (sorted ids), put back after the solve: their order
    # changes no number either
    ao = canonical_order(np.asarray(relative.coords["unit_id"].values).astype(str))
    no = canonical_order(np.asarray(Y.coords["neuroid_id"].values).astype(str))
    relative, Y = relative.isel(unit=ao), Y.isel(neuroid=no)
    X = np.asarray(relative.transpose("stimulus", "unit").values, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    Yc = np.asarray(Y.values, dtype=np.float64)
    Yc = Yc - Yc.mean(axis=0)
    n, p = Xc.shape
    if p <= n:
        W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(p), Xc.T @ Yc)
    else:
        W = Xc.T @ np.linalg.solve(Xc @ Xc.T + alpha * np.eye(n), Yc)
    return xr.DataArray(
        W,
        dims=("anchor", "neuroid"),
        coords={"anchor_id": ("anchor", np.asarray(relative.coords["unit_id"].values).astype(str)),
                "neuroid_id": ("neuroid", np.asarray(Y.coords["neuroid_id"].values).astype(str))},
        name="anchor_weight",
        attrs={"alpha": float(alpha), "similarity": relative.attrs.get("similarity", ""), "fit": "ridge, all stimuli",
               "n_stimuli": int(n), **counts},
    ).isel(anchor=np.argsort(ao), neuroid=np.argsort(no))  # back in the inputs' orders


def stale_source_problem(store: Any, path: str, attrs: dict[str, Any]) -> str | None:
    """Why the stored relative layer ``path`` (``features/<model>/<layer>``, attrs ``attrs``) no longer
    is the relative representation of its source layer, or ``None``: the source layer was rewritten after
    it was computed (its version token is not the one recorded in :data:`SOURCE_TOKEN_ATTR`), or is
    gone. A layer without the record (another transform, or written before it existed) is not judged.
    What was computed on the layer is right for its values; a note, not a violation."""
    recorded = attrs.get(SOURCE_TOKEN_ATTR)
    if attrs.get("transform") != "relative" or not recorded or not attrs.get("source_layer"):
        return None
    model, layer = path.split("/")[1], path.split("/")[-1]
    source = f"{model}.{attrs['source_layer']}"
    now = store.token(f"features/{model}/{attrs['source_layer']}")
    if now == str(recorded):
        return None
    how = "was rewritten after it was computed" if now else "is gone (deleted, or its write did not finish)"
    return (f"{path}: its source layer {source} {how}, so it is not that layer's relative representation; "
            f"compute it again (neuroxr relative STORE {source} --anchors FILE --name {layer} --overwrite) or delete it.")
