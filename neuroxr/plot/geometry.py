"""Figures of representational geometry: RDM heatmaps, distance matrices, 2-D embeddings."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import LayoutError, shown
from ._common import (
    _coord_labels,
    _one_axes,
)

__all__ = ["rdm_heatmap", "distance_matrix", "embed", "embedding"]


# ============================================================================ RDMs and distance matrices
def _square(da: Any, what: str, arg: str = "dist") -> xr.DataArray:
    """``da`` (the argument ``arg`` of ``what``), refused in one line unless it is one square matrix: a
    stack (e.g. one RDM per subject) names its other dims and how to select one matrix."""
    if not isinstance(da, xr.DataArray):
        raise LayoutError(f"{what}: {arg} must be a labeled 2-D xarray.DataArray; got {type(da).__name__}.")
    if da.ndim > 2 and all(da.sizes[d] == da.shape[-1] for d in da.dims[-2:]):
        extra = list(da.dims[:-2])
        mean = f", or their mean, e.g. {arg}.mean({extra[0]!r})" if len(extra) == 1 else ""
        raise LayoutError(f"{what}: {arg} holds a stack of matrices over {extra} (dims {da.dims}, shape {da.shape}); "
                          f"draw one, e.g. {arg}.isel({', '.join(f'{d}=0' for d in extra)}){mean}.")
    if da.ndim != 2 or da.shape[0] != da.shape[1]:
        raise LayoutError(f"{what}: {arg} must be a square 2-D matrix (the same stimuli or networks on both dims); got "
                          f"dims {da.dims} with shape {da.shape}.")
    return da


def _index_labels(da: xr.DataArray, dim: Any) -> list[str] | None:
    return [str(v) for v in np.asarray(da.coords[dim].values)] if dim in da.coords else None


def _aligned(dist: xr.DataArray, what: str) -> xr.DataArray:
    """``dist`` with its second dim in the order of its first, by their index coords where both
    have one (a symmetric matrix stays symmetric under its labels); a LayoutError when the two
    dims carry different labels."""
    rdim, cdim = dist.dims
    rows, cols = _index_labels(dist, rdim), _index_labels(dist, cdim)
    if rows is None or cols is None:
        return dist
    return _columns_by_rows(dist, rows, cols, "a label repeats", lambda detail: LayoutError(
        f"{what}: the {rdim!r} and {cdim!r} labels of dist differ ({detail}); pass a matrix with the same networks, "
        f"once each, on both dims."))


def _columns_by_rows(da: xr.DataArray, rows: list[str], cols: list[str], repeated: str, refused: Any) -> xr.DataArray:
    """``da`` with its second dim in the order of its first by their labels ``rows`` and ``cols``; ``refused(detail)``
    (the error raised) when they hold different labels or one twice (``repeated`` is its detail then)."""
    if rows == cols:
        return da
    if set(rows) != set(cols) or len(set(rows)) < len(rows) or len(set(cols)) < len(cols):
        only_r, only_c = sorted(set(rows) - set(cols)), sorted(set(cols) - set(rows))
        raise refused(f"rows only: {only_r[:5]}, columns only: {only_c[:5]}" if only_r or only_c else repeated)
    pos = {c: i for i, c in enumerate(cols)}
    return da.isel({da.dims[1]: [pos[r] for r in rows]})


def _id_labels(da: xr.DataArray, dim: Any, names: tuple[str, ...]) -> list[str] | None:
    """The first of the coords ``names`` that lies on ``dim`` alone, as text."""
    for name in names:
        if name in da.coords and da.coords[name].dims == (dim,):
            return [str(v) for v in np.asarray(da.coords[name].values)]
    return None


def _rdm_aligned(rdm: xr.DataArray) -> xr.DataArray:
    """``rdm`` with its columns in the order of its rows by ``stimulus_id`` (rows) and ``stimulus_id_``
    (columns, :func:`neuroxr.geometry.rdm`'s coords): an RDM whose rows alone were reordered (e.g.
    ``rdm.sortby("category")`` sorts the first dim only) was drawn with every cell off its stimuli;
    a LayoutError when the two dims hold different stimuli."""
    rdim, cdim = rdm.dims
    rows = _id_labels(rdm, rdim, ("stimulus_id",))
    cols = _id_labels(rdm, cdim, ("stimulus_id_", "stimulus_id"))
    if rows is None or cols is None:
        return _aligned(rdm, "rdm_heatmap")
    return _columns_by_rows(rdm, rows, cols, "an id repeats", lambda detail: LayoutError(
        f"rdm_heatmap: the stimulus ids of the rows ({rdim!r}) and columns ({cdim!r}) of rdm differ ({detail}); pass an "
        f"RDM of one set of stimuli, once each, on both dims."))


def _order_labels(rdm: xr.DataArray, order_by: Any) -> np.ndarray:
    dim = rdm.dims[0]
    if isinstance(order_by, str):
        if order_by not in rdm.coords or rdm.coords[order_by].dims != (dim,):
            raise LayoutError(
                f"rdm_heatmap: order_by={order_by!r} is not a coord on the {dim!r} dim of the RDM; coords there: "
                f"{sorted(str(n) for n, c in rdm.coords.items() if c.dims == (dim,))}. Pass a labeled DataArray "
                f"(e.g. neural.category) instead."
            )
        return np.asarray(rdm.coords[order_by].values).astype(str)
    if isinstance(order_by, xr.DataArray):
        if "stimulus_id" not in order_by.coords or "stimulus_id" not in rdm.coords:
            raise LayoutError("rdm_heatmap: to order by a DataArray, both it and the RDM need a 'stimulus_id' coord.")
        lookup = dict(zip(np.asarray(order_by.coords["stimulus_id"].values).astype(str), np.asarray(order_by.values).astype(str)))
        ids = np.asarray(rdm.coords["stimulus_id"].values).astype(str)
        missing = [s for s in ids if s not in lookup]
        if missing:
            raise LayoutError(f"rdm_heatmap: order_by lacks {len(missing)} of the RDM's stimuli, e.g. {missing[:5]}.")
        return np.array([lookup[s] for s in ids])
    arr = np.asarray(order_by).astype(str)
    if arr.shape != (rdm.shape[0],):
        raise LayoutError(f"rdm_heatmap: order_by needs one label per stimulus ({rdm.shape[0]}); got shape {arr.shape}.")
    return arr


def rdm_heatmap(
    rdm: xr.DataArray,
    *,
    order_by: str | xr.DataArray | Sequence[Any] | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Heat map of a representational dissimilarity matrix.

    Parameters
    ----------
    rdm : DataArray, dims (stimulus, stimulus_)
        As returned by :func:`neuroxr.geometry.rdm`. Its columns are put in the order of its rows by
        ``stimulus_id`` (rows) and ``stimulus_id_`` (columns) where it has them (an RDM whose rows alone
        were reordered, e.g. by ``rdm.sortby(...)``, is drawn right); ids that differ between the two
        dims are refused.
    order_by : str, DataArray or sequence, optional
        Sort the stimuli by a label, ties by ``stimulus_id`` when the RDM has it (else in the
        RDM's order), so the same data in another row order give the same image; draw the group
        boundaries, with the group names as tick labels. A str names a coord on the
        RDM's first dim; a DataArray with a ``stimulus_id`` coord (e.g. ``neural.category``) is
        paired with the RDM by ``stimulus_id``; a sequence gives one label per row.
    ax : matplotlib Axes, optional
    cmap, vmin, vmax : colour map and limits, default "viridis", None, None
    colorbar : bool, default True
        Add a colour bar (an extra Axes of the figure).
    title : str, optional
        Default: the RDM's ``method`` and ``label`` attrs.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        The heat map is ``ax.images[0]``.
    """
    rdm = _rdm_aligned(_square(rdm, "rdm_heatmap", "rdm"))  # columns in the order of the rows, by stimulus id
    values = np.asarray(rdm.values, dtype=float)
    n = values.shape[0]
    fig, ax = _one_axes(ax, figsize or (4.6, 4.0))
    labels = None
    if order_by is not None:
        labels = _order_labels(rdm, order_by)
        dim = rdm.dims[0]
        if "stimulus_id" in rdm.coords and rdm.coords["stimulus_id"].dims == (dim,):
            order = np.lexsort((np.asarray(rdm.coords["stimulus_id"].values).astype(str), labels))
        else:
            order = np.argsort(labels, kind="stable")
        values, labels = values[np.ix_(order, order)], labels[order]
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if labels is not None:
        cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        for c in cuts:
            ax.axhline(c - 0.5, color="w", linewidth=0.8)
            ax.axvline(c - 0.5, color="w", linewidth=0.8)
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [n]])
        centers = (starts + ends - 1) / 2
        names = [labels[s] for s in starts]
        ax.set_xticks(centers, names, rotation=90, fontsize="small")
        ax.set_yticks(centers, names, fontsize="small")
    elif n <= 30 and "stimulus_id" in rdm.coords:
        ids = np.asarray(rdm.coords["stimulus_id"].values).astype(str)
        ax.set_xticks(np.arange(n), ids, rotation=90, fontsize="x-small")
        ax.set_yticks(np.arange(n), ids, fontsize="x-small")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{n} stimuli")
    if colorbar:
        fig.colorbar(im, ax=ax, label="dissimilarity" + (f" ({rdm.attrs['method']})" if "method" in rdm.attrs else ""))
    if title is None:
        title = " ".join(str(rdm.attrs[k]) for k in ("label",) if k in rdm.attrs) or "RDM"
    ax.set_title(title, wrap=True)
    return fig


def distance_matrix(
    dist: xr.DataArray | xr.Dataset,
    *,
    variable: str = "train",
    ax: Axes | None = None,
    cmap: str = "magma",
    annotate: bool | None = None,
    colorbar: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Heat map of a labeled distance (or similarity) matrix between networks.

    Parameters
    ----------
    dist : DataArray (network, network_) or Dataset
        E.g. :func:`neuroxr.geometry.pairwise_distances` (a Dataset with ``train``/``test`` when
        it was given test data: ``variable`` picks one) or a CKA matrix. Tick labels come from
        the index coord of each dim (else its first 1-D coord). Where both dims have an index
        coord, the columns are put in the order of the rows by label (so the diagonal is drawn on
        the diagonal); labels that differ between the two dims are refused (LayoutError).
    variable : str, default "train"
        Variable of a Dataset.
    ax : matplotlib Axes, optional
    cmap : str, default "magma"
    annotate : bool, optional
        Write the values in the cells (default: when there are at most 12 networks).
    colorbar : bool, default True
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        The heat map is ``ax.images[0]``; annotations are ``ax.texts``.
    """
    if isinstance(dist, xr.Dataset):
        if variable not in dist.data_vars:
            raise LayoutError(f"distance_matrix: the Dataset has no variable {variable!r}; it has {sorted(map(str, dist.data_vars))}.")
        dist = dist[variable]
    dist = _aligned(_square(dist, "distance_matrix"), "distance_matrix")
    m = dist.shape[0]
    rows, cols = _coord_labels(dist, dist.dims[0]), _coord_labels(dist, dist.dims[1])
    fig, ax = _one_axes(ax, figsize or (max(4.0, 0.45 * m + 2.5), max(3.4, 0.45 * m + 1.8)))
    values = np.asarray(dist.values, dtype=float)
    im = ax.imshow(values, cmap=cmap, interpolation="nearest")
    ax.set_xticks(np.arange(m), cols, rotation=90, fontsize="small")
    ax.set_yticks(np.arange(m), rows, fontsize="small")
    if annotate is None:
        annotate = m <= 12
    if annotate:
        finite = values[np.isfinite(values)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(m):
            for j in range(m):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize="x-small",
                            color="k" if values[i, j] > mid else "w")
    if colorbar:
        fig.colorbar(im, ax=ax, label=str(dist.name or "distance"))
    ax.set_title(title if title is not None else str(dist.name or "distance"), wrap=True)
    return fig


# ============================================================================ embeddings
def _mds(D: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    if "metric_mds" in params:  # scikit-learn >= 1.8
        est = MDS(n_components=2, metric="precomputed", metric_mds=True, init="classical_mds", random_state=seed)
    else:
        kw: dict[str, Any] = {"n_components": 2, "dissimilarity": "precomputed", "random_state": seed, "n_init": 4}
        if "normalized_stress" in params:
            kw["normalized_stress"] = "auto"
        est = MDS(**kw)
    return np.asarray(est.fit_transform(D), dtype=float)


def _classical_mds(D: np.ndarray) -> np.ndarray:
    m = D.shape[0]
    J = np.eye(m) - 1.0 / m
    B = -0.5 * J @ (D**2) @ J
    w, V = np.linalg.eigh((B + B.T) / 2)
    order = np.argsort(w)[::-1][:2]
    w, V = np.clip(w[order], 0, None), V[:, order]
    X = V * np.sqrt(w)
    signs = np.sign(X[np.argmax(np.abs(X), axis=0), np.arange(X.shape[1])])  # deterministic orientation
    X = X * np.where(signs == 0, 1, signs)
    if X.shape[1] < 2:
        X = np.pad(X, ((0, 0), (0, 2 - X.shape[1])))
    return X


def embed(dist: xr.DataArray, method: str = "mds", seed: int = 0) -> xr.DataArray:
    """Two-dimensional embedding of a labeled distance matrix.

    Parameters
    ----------
    dist : DataArray (network, network_)
        A symmetric distance matrix with zeros on the diagonal (e.g.
        :func:`neuroxr.geometry.pairwise_distances`). Where both dims have an index coord, the
        columns are paired with the rows by label first (symmetric under its labels is enough);
        labels that differ between the two dims are refused (LayoutError).
    method : {"mds", "classical"}, default "mds"
        ``"mds"``: metric MDS (:class:`sklearn.manifold.MDS` on the precomputed dissimilarities,
        ``random_state=seed``); ``"classical"``: classical (Torgerson) MDS from the top two
        eigenvectors of the double-centred squared distances (deterministic).
    seed : int, default 0

    Returns
    -------
    xarray.DataArray, dims (<first dim>, component)
        The coordinates, with the coords of the first dim of ``dist`` and ``component`` = [0, 1].
    """
    if method not in ("mds", "classical"):
        raise LayoutError(f"embed: method must be one of ('mds', 'classical'); got {shown(method)}.")
    dist = _aligned(_square(dist, "embed"), "embed")
    D = np.asarray(dist.values, dtype=float)
    if not np.isfinite(D).all():
        raise LayoutError(_nonfinite(dist, D))
    if D.shape[0] < 3:
        raise LayoutError(f"embed: a 2-D embedding needs at least 3 networks; got {D.shape[0]}.")
    if not np.allclose(D, D.T, atol=1e-8 * max(1.0, float(np.abs(D).max()))):
        raise LayoutError("embed: the distance matrix is not symmetric.")
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    X = _mds(D, seed) if method == "mds" else _classical_mds(D)
    dim = dist.dims[0]
    coords = {name: c for name, c in dist.coords.items() if c.dims == (dim,)}
    return xr.DataArray(X, dims=(dim, "component"), coords={**coords, "component": [0, 1]}, name=f"{method}_embedding", attrs={"method": method, "seed": seed})


def _nonfinite(dist: xr.DataArray, D: np.ndarray) -> str:
    """The refusal of a distance matrix with NaN or infinite values: its pairs without a distance and the
    networks to leave out (dropped one at a time, the one in the most such pairs first) for none to remain."""
    names = _coord_labels(dist, dist.dims[0])
    pairs = [(names[i], names[j]) for i, j in zip(*np.nonzero(~np.isfinite(D))) if i <= j]
    bad, drop = ~np.isfinite(D), []
    while bad.any():
        k = int(np.argmax(bad.sum(axis=0) + bad.sum(axis=1)))
        drop.append(names[k])
        bad[k, :] = bad[:, k] = False
    shown_ = ", ".join(f"({a!r}, {b!r})" for a, b in pairs[:5]) + (f" and {len(pairs) - 5} more" if len(pairs) > 5 else "")
    rdim, cdim = dist.dims
    keep = [i for i, n in enumerate(names) if n not in drop]
    how = (f"dist.drop_sel({rdim}={drop}, {cdim}={drop})" if rdim in dist.coords and cdim in dist.coords
           else f"dist.isel({rdim}={keep}, {cdim}={keep})")
    return (f"embed: the distance matrix holds NaN or infinite values at {len(pairs)} pair{'s' if len(pairs) != 1 else ''} "
            f"{shown_} (e.g. a layer without variance has no distance); leave out {drop}, e.g. {how}.")


def _groups(dist: xr.DataArray, names: list[str], hue: str | Sequence[Any] | None) -> list[str]:
    dim = dist.dims[0]
    if hue is None:
        if "model" in dist.coords and dist.coords["model"].dims == (dim,):
            return [str(v) for v in np.asarray(dist.coords["model"].values)]
        if all("/" in s for s in names):
            return [s.split("/", 1)[0] for s in names]
        return names
    if isinstance(hue, str):
        if hue not in dist.coords or dist.coords[hue].dims != (dim,):
            raise LayoutError(f"embedding: hue={hue!r} is not a coord on the {dim!r} dim; coords there: "
                           f"{sorted(str(n) for n, c in dist.coords.items() if c.dims == (dim,))}.")
        return [str(v) for v in np.asarray(dist.coords[hue].values)]
    out = [str(v) for v in hue]
    if len(out) != len(names):
        raise LayoutError(f"embedding: hue needs one label per network ({len(names)}); got {len(out)}.")
    return out


def embedding(
    dist: xr.DataArray | xr.Dataset,
    *,
    method: str = "mds",
    seed: int = 0,
    variable: str = "train",
    hue: str | Sequence[Any] | None = None,
    labels: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """2-D scatter of networks embedded from their distance matrix (see :func:`embed`).

    Parameters
    ----------
    dist : DataArray (network, network_) or Dataset (``variable`` picks one)
    method : {"mds", "classical"}, default "mds"
    seed : int, default 0
    variable : str, default "train"
    hue : str or sequence, optional
        Colour groups: a coord on the network dim, or one label per network. Default: the
        ``model`` coord when present, else the part before ``/`` of ``"model/layer"`` names,
        else one colour per network; colours go to the groups in the sorted order of their labels.
    labels : bool, default True
        Write each network's name next to its point.
    ax : matplotlib Axes, optional
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One scatter (``PathCollection``) per colour group; the embedding is in ``fig.embedding``.
    """
    if isinstance(dist, xr.Dataset):
        if variable not in dist.data_vars:
            raise LayoutError(f"embedding: the Dataset has no variable {variable!r}; it has {sorted(map(str, dist.data_vars))}.")
        dist = dist[variable]
    coords = embed(dist, method=method, seed=seed)
    names = _coord_labels(dist, dist.dims[0])
    groups = _groups(dist, names, hue)
    fig, ax = _one_axes(ax, figsize or (4.6, 4.0))
    X = np.asarray(coords.values)
    for i, g in enumerate(sorted(set(groups))):  # by label, whatever the order of the networks
        sel = np.array([x == g for x in groups])
        ax.scatter(X[sel, 0], X[sel, 1], color=f"C{i % 10}", label=g, s=36)
    if labels:
        for (x, y), name in zip(X, names):
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize="x-small")
    if len(set(groups)) < len(groups) or hue is not None:
        ax.legend(fontsize="small")
    ax.set_xlabel(f"{method.upper() if method == 'mds' else 'classical MDS'} 1")
    ax.set_ylabel(f"{method.upper() if method == 'mds' else 'classical MDS'} 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title if title is not None else f"{method} embedding of {len(names)} networks", wrap=True)
    fig.embedding = coords  # type: ignore[attr-defined]
    return fig
