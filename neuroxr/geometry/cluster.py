"""Clustering and embedding of a cohort of networks: Procrustes k-means, hierarchical clusters, MDS.

- :func:`procrustes_kmeans`: k-means in the Procrustes shape-metric space with netrep's
  semantics (``netrep.kmeans.procrustes_kmeans``): k-means++ seeding from the pairwise distance
  matrix, centroids = Procrustes (Euclidean) averages of the members, assignment by the
  ``LinearMetric(alpha=1)`` distance (angular by default), stop when the labels no longer change.
- :func:`cluster_distances`: hierarchical (agglomerative) clusters of a cohort from any
  distance matrix (scipy ``linkage`` + ``fcluster``).
- :func:`embed_distances`: classical (Torgerson) multidimensional scaling of a distance matrix.

Distance matrices are ``DataArray`` objects ``(network, network_)`` as returned by
:func:`neuroxr.geometry.pairwise_distances`, or plain symmetric arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..attrs import encode_attrs
from ..backend import to_numpy
from ..errors import LayoutError, ParameterError, shown, warn
from ..kernels import shape as _s
from ..kernels.procrustes import procrustes_average as _procrustes_average
from ..validation import check_bool, check_int, real_array
from ._common import _refuse_constant_networks
from ._shape_inputs import _as_network_list, check_shape_stimuli
from .shape import LinearMetric, pairwise_distances

__all__ = ["procrustes_kmeans", "kmeans_plusplus_init", "cluster_distances", "embed_distances"]


def _distance_matrix(D: Any, names: Sequence[str] | None, caller: str, arg: str = "D") -> tuple[np.ndarray, list[str]]:
    """``D`` (the argument ``arg`` of ``caller``) as a float array, with its networks in the order of
    ``names`` when it is labeled (a labeled matrix is paired by its labels, never by position); one-line
    :class:`LayoutError` unless it is a distance matrix (:func:`_check_distances`)."""
    if isinstance(D, xr.Dataset):  # pairwise_distances(test_data=...): its train and test matrices
        raise LayoutError(f"{caller}: {arg} is a Dataset holding {sorted(map(str, D.data_vars))}; pass one distance matrix, "
                          f"e.g. {arg}['train'] of pairwise_distances(..., test_data=...).")
    if isinstance(D, xr.DataArray):
        if D.ndim != 2:
            raise LayoutError(f"{caller}: {arg} has dims {tuple(D.dims)}; pass a (network, network_) DataArray.")
        rows, cols = ([str(v) for v in D.coords[d].values] if d in D.coords else None for d in D.dims)
        if rows is not None:
            cols = rows if cols is None else cols
            for labels in (rows, cols):  # as names given twice: a label must name one network
                _refuse_twice(labels, f"{caller}: {arg} labels {{!r}} twice on its networks")
            want = list(names) if names is not None else rows
            if sorted(rows) != sorted(want) or sorted(cols) != sorted(want):
                raise LayoutError(f"{caller}: the networks of {arg} {rows[:5]} are not the networks given "
                                  f"{list(want)[:5]}; compute it with pairwise_distances of the same networks.")
            r, c = {n: i for i, n in enumerate(rows)}, {n: i for i, n in enumerate(cols)}
            D = np.asarray(D.values)[np.ix_([r[n] for n in want], [c[n] for n in want])]
            names = want
        else:
            D = D.values
    D = real_array(D, f"{caller}: {arg}", "a distance matrix")
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise LayoutError(f"{caller}: {arg} has shape {D.shape}; pass a square (network, network_) distance matrix.")
    _check_distances(D, f"{caller}: {arg}")
    m = D.shape[0]
    names = list(names) if names is not None else [f"network{i}" for i in range(m)]
    if len(names) != m:
        raise LayoutError(f"{caller}: {len(names)} network names for a {m} x {m} distance matrix.")
    _refuse_twice(names, f"{caller}: names holds {{!r}} twice")  # as a labeled matrix's: a label names one network
    return D, names


def _check_distances(D: np.ndarray, name: str) -> None:
    """One-line :class:`LayoutError` naming ``name`` and an entry unless the square ``D`` holds distances:
    finite, symmetric (``np.isclose`` with ``atol = 1e-10 max(1, max|D|)``), not negative and zero on
    the diagonal, up to rounding (``1e-6`` of the largest distance, or ``1e-7``: an angular distance of a network
    to itself keeps the square root of the rounding). A similarity matrix (ones on the diagonal) fails."""
    fix = "compute it with pairwise_distances (or pass 1 - similarity)"
    bad = np.argwhere(~np.isfinite(D))
    if bad.size:
        i, j = bad[0]
        raise LayoutError(f"{name}: the distance matrix holds {len(bad)} NaN or infinite values (e.g. [{i}, {j}] = {D[i, j]}); "
                          f"distances must be finite: {fix}.")
    top = float(np.abs(D).max(initial=0.0))
    bad = np.argwhere(~np.isclose(D, D.T, atol=1e-10 * max(1.0, top)))
    if bad.size:
        i, j = bad[0]
        raise LayoutError(f"{name}: the distance matrix must be symmetric, but [{i}, {j}] = {D[i, j]:.6g} and [{j}, {i}] = "
                          f"{D[j, i]:.6g}; {fix}.")
    diag_tol = max(1e-6 * top, 1e-7)  # arccos of a rounded 1 is about 1.5e-8
    bad = np.argwhere((D < -diag_tol) | (np.eye(D.shape[0], dtype=bool) & (np.abs(D) > diag_tol)))
    if bad.size:
        i, j = bad[0]
        if i == j and D[i, j] > 0 and not (D < -diag_tol).any() and not (np.diag(D) >= D.max(axis=1)).all():
            # held-out distances: a network's distance to itself on other stimuli is above 0 (docs/geometry.md)
            fix = ("held-out distances (pairwise_distances(..., test_data=...)['test']) are: a network's held-out distance "
                   "to itself is above 0; cluster and embed the 'train' distances")
        raise LayoutError(f"{name}: a distance matrix has no negative values and zeros on its diagonal, but [{i}, {j}] = "
                          f"{D[i, j]:.6g}; {fix}.")


def _check_n_clusters(n_clusters: Any, m: int, caller: str) -> None:
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or not 1 <= n_clusters <= m:
        raise ParameterError(f"{caller}: n_clusters must be an int between 1 and the number of networks ({m}); "
                          f"got {shown(n_clusters)}.")


def _reduce(X: np.ndarray, center: bool) -> np.ndarray:
    """``X`` (centred when ``center``) in at most ``n`` columns with the same Gram ``X X^T``.

    Procrustes (``alpha = 1``) distances and averages depend on a representation only through
    its Gram matrix, so a layer wider than the number of stimuli is replaced by ``U S`` of its
    SVD: exact, and each alignment then needs an ``n x n`` SVD instead of ``p x p``.
    """
    if center:
        X = X - X.mean(axis=0)
    if X.shape[1] <= X.shape[0]:
        return X
    U, S, _ = np.linalg.svd(X, full_matrices=False)
    return U * S


def kmeans_plusplus_init(dist_matrix: Any, n_clusters: int, random_state: Any = None) -> np.ndarray:
    """k-means++ seeding from a distance matrix, drawing as netrep does.

    The first centroid is ``rs.choice(m)``; each next one ``rs.choice(m, p=d2 / d2.sum())`` with
    ``d2`` the squared distance of every network to its nearest chosen centroid, where
    ``rs = sklearn.utils.check_random_state(random_state)``.

    Parameters
    ----------
    dist_matrix : array or DataArray, shape (m, m)
        A labeled matrix (``network`` coords, as :func:`~neuroxr.geometry.pairwise_distances` returns it) is
        drawn in the order of its names, as :func:`procrustes_kmeans` draws, so the order of its
        rows changes no seed; a plain array in its row order.
    n_clusters : int
    random_state : int, numpy.random.RandomState or None, optional

    Returns
    -------
    numpy.ndarray of int, shape (n_clusters,)
        Indices (rows of ``dist_matrix``) of the networks that seed the clusters.
    """
    D, names = _distance_matrix(dist_matrix, None, "kmeans_plusplus_init", "dist_matrix")
    rs = _random_state(random_state, "kmeans_plusplus_init")
    _check_n_clusters(n_clusters, D.shape[0], "kmeans_plusplus_init")
    order = _name_order(names)  # (a plain array's names are positions: its row order)
    return order[_kmeans_pp(D[np.ix_(order, order)], n_clusters, rs)]


def _refuse_twice(labels: list, said: str) -> None:
    """A one-line :class:`LayoutError` ``"<said with the first repeated name>; give each of the <m>
    networks its own name."`` when ``labels`` names a network twice."""
    if len(set(labels)) < len(labels):
        twice = next(nm for nm in labels if labels.count(nm) > 1)
        raise LayoutError(f"{said.format(twice)}; give each of the {len(labels)} networks its own name.")


def _random_state(random_state: Any, caller: str) -> Any:
    """``sklearn.utils.check_random_state(random_state)``, or a one-line :class:`ParameterError` naming
    ``random_state`` (scikit-learn's ``ValueError`` names neither the argument nor what to pass)."""
    from sklearn.utils import check_random_state

    try:
        return check_random_state(random_state)
    except ValueError:
        raise ParameterError(f"{caller}: random_state must be an int, a numpy.random.RandomState or None (netrep's "
                             f"convention); got {shown(random_state)}.") from None


def _name_order(names: Sequence[str]) -> np.ndarray:
    """Positions that sort named networks by name (every seeded draw over them is in that order);
    positional names (:func:`_positional`) in their own order."""
    return np.arange(len(names)) if _positional(names) else np.argsort(np.asarray(names, dtype=str), kind="stable")


def _kmeans_pp(D: np.ndarray, n_clusters: int, rs: Any) -> np.ndarray:
    """:func:`kmeans_plusplus_init`'s draws (netrep's) over the rows of the checked ``D`` in their order."""
    m = D.shape[0]
    idx = [int(rs.choice(m))]
    d2 = D[idx[0]] ** 2
    for _ in range(1, n_clusters):
        total = d2.sum()
        if total > 0:
            idx.append(int(rs.choice(m, p=d2 / total)))
        else:  # every network sits on a chosen seed (identical networks): any unchosen one
            idx.append(int(rs.choice(np.setdiff1d(np.arange(m), idx))))
        d2 = np.minimum(d2, D[idx[-1]] ** 2)
    return np.array(idx)


def _positional(names: Sequence[str]) -> bool:
    """Whether ``names`` are positions (``network0, network1, ...`` or duplicates numbered ``name#i``)."""
    return list(names) == [f"network{i}" for i in range(len(names))] or any("#" in nm for nm in names)


def procrustes_kmeans(
    Xs: Any,
    n_clusters: int,
    dist_matrix: Any = None,
    max_iter: int = 100,
    random_state: Any = 0,
    init: Sequence[int | str] | None = None,
    center_columns: bool = True,
    score_method: str = "angular",
) -> xr.Dataset:
    """k-means clustering of networks in the Procrustes metric space (netrep's ``procrustes_kmeans``).

    Seeds with :func:`kmeans_plusplus_init` on ``dist_matrix`` (or takes ``init``), assigns each
    network to its nearest seed, then alternates: each centroid becomes the generalized
    Procrustes average of its members (:func:`neuroxr.kernels.procrustes.procrustes_average`), each
    network is re-assigned to its nearest centroid under ``LinearMetric(alpha=1)``; stops when
    the labels no longer change or after ``max_iter`` rounds.

    Parameters
    ----------
    Xs : list or dict of arrays / feature DataArrays (stimulus, unit)
        The networks (DataArrays paired by ``stimulus_id``; names from the dict keys,
        ``model``/``layer`` coords or the array name). Narrower ones are zero-padded.
    n_clusters : int
        Between 1 and the number of networks.
    dist_matrix : array or DataArray (network, network_), optional
        Pairwise Procrustes distances used for the seeding; computed with
        :func:`~neuroxr.geometry.pairwise_distances` (``alpha=1``) when None.
    max_iter : int, default 100
    random_state : int, numpy.random.RandomState or None, default 0
        Seeds the k-means++ draws (netrep's convention), fixed by default as every seeded draw of
        neuroxr is (None draws from NumPy's global state, netrep's default). Named networks (dict keys, labeled
        DataArrays) are drawn, and averaged into each centroid, in the order of their names, so
        their order in ``Xs`` changes nothing; unnamed ones in their order in ``Xs``, as netrep
        draws and averages them.
    init : sequence of int or str, optional
        Seed networks (indices or names), one per cluster, instead of k-means++.
    center_columns : bool, default True
        Centre columns in the distances and the averages.
    score_method : {"angular", "euclidean"}, default "angular"
        Distance used for the assignment (netrep's ``LinearMetric`` default is angular).

    Returns
    -------
    xarray.Dataset
        ``centroid`` (cluster, stimulus, unit), ``label`` (network,) int, ``distance``
        (cluster, network) from every centroid to every network (netrep's ``cent_dists``),
        ``objective`` (sum over networks of the squared distance to their centroid); coords
        ``network`` names and ``stimulus_id`` when labeled; attrs ``init`` (seed names),
        ``n_iter``, ``converged`` and the parameters. An emptied cluster keeps its centroid.
        Centroids are defined up to a rotation; networks wider than the number of stimuli are
        first replaced by ``U S`` of their (centred) SVD (same distances), so the centroids'
        ``unit`` axis is ``dim0...``, at most ``max(n_stimuli, narrowest widths)`` wide.

    Raises
    ------
    LayoutError
        When a network has no variance across the stimuli, as :func:`procrustes_average` refuses it
        (it would enter its cluster's average as zero).
    """
    center_columns = check_bool(center_columns, "center_columns", "Pass center_columns=False to cluster uncentred networks.",
                                caller="procrustes_kmeans")  # "0" was read as True (truthiness)
    max_iter = check_int(max_iter, "max_iter", 1, "The k-means rounds, e.g. max_iter=100.", caller="procrustes_kmeans")
    _random_state(random_state, "procrustes_kmeans")  # checked before any data is read
    items, names, ids = _as_network_list(Xs, "Xs", "procrustes_kmeans")
    if items:  # refused as procrustes_kmeans's, not as the pairwise_distances it calls
        check_shape_stimuli(int(np.shape(items[0])[0]), center_columns, "Xs", "procrustes_kmeans")
    _refuse_constant_networks(Xs, items, center_columns, "procrustes_kmeans", "Xs")
    m = len(items)
    _check_n_clusters(n_clusters, m, "procrustes_kmeans")
    if score_method not in _s.SCORE_METHODS:
        raise ParameterError(f"procrustes_kmeans: score_method must be one of {tuple(_s.SCORE_METHODS)}; got {shown(score_method)}.")
    metric = LinearMetric(alpha=1.0, center_columns=center_columns, zero_pad=True, score_method=score_method)
    items = [_reduce(np.asarray(to_numpy(X), dtype=np.float64), center_columns) for X in items]
    if dist_matrix is None:
        dist_matrix = pairwise_distances(dict(zip(names, items)), alpha=1.0, center_columns=center_columns,
                                         score_method=score_method)
    D, _ = _distance_matrix(dist_matrix, names, "procrustes_kmeans", "dist_matrix")
    if D.shape[0] != m:
        raise LayoutError(f"procrustes_kmeans: dist_matrix is {D.shape[0]} x {D.shape[0]} for {m} networks; pass one row per network.")
    # named networks in name order (the draws, each centroid's members), so their order in Xs changes nothing
    order = _name_order(names)
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    if init is None:
        seeds = order[kmeans_plusplus_init(D[np.ix_(order, order)], n_clusters, random_state)]
    else:
        pos = {nm: i for i, nm in enumerate(names)}
        if isinstance(init, str) or not hasattr(init, "__iter__") or not all(isinstance(s, (str, np.integer)) or (isinstance(s, int) and not isinstance(s, bool))
                                            for s in init):  # int(1.5) seeded network 1; a string seeded its letters
            raise ParameterError(f"procrustes_kmeans: init must be a list of {n_clusters} network indices (ints) or names; got "
                              f"{shown(list(init) if hasattr(init, '__iter__') and not isinstance(init, str) else init)}.")
        try:
            seeds = np.array([pos[s] if isinstance(s, str) else int(s) for s in init], dtype=np.int64)
        except KeyError as err:
            raise ParameterError(f"procrustes_kmeans: init names an unknown network {err}; use indices or names from {names[:5]}.") from None
        if seeds.size != n_clusters or seeds.min() < 0 or seeds.max() >= m:
            raise ParameterError(f"procrustes_kmeans: init must give {n_clusters} network indices in [0, {m}); got {shown(list(init))}.")
        if np.unique(seeds).size < seeds.size:
            twice = next(names[i] for i in seeds if np.sum(seeds == i) > 1)
            raise ParameterError(f"procrustes_kmeans: init seeds two clusters with the same network {twice!r} (got "
                              f"{shown(list(init))}); give {n_clusters} different networks, one per cluster.")
    p = max(X.shape[1] for X in items)
    pad = [np.pad(X, ((0, 0), (0, p - X.shape[1]))) for X in items]
    centroids = [pad[i].copy() for i in seeds]
    labels = np.array([int(np.argmin(D[j][seeds])) for j in range(m)])
    caches = [metric.partial_fit(X) for X in items]
    dists = np.zeros((n_clusters, m))
    converged, n_iter = False, 0
    for it in range(1, max_iter + 1):
        n_iter = it
        for k in range(n_clusters):
            idx = np.flatnonzero(labels == k)
            members = [pad[j] for j in idx[np.argsort(rank[idx], kind="stable")]]  # the average follows its members' order
            if members:
                centroids[k] = np.asarray(to_numpy(_procrustes_average(members, center_columns=center_columns, caller="procrustes_kmeans")))
        for k, C in enumerate(centroids):
            ck = metric.partial_fit(C)
            for j in range(m):
                est = LinearMetric(alpha=1.0, center_columns=center_columns, zero_pad=True, score_method=score_method)
                dists[k, j] = est.finalize_fit(caches[j], ck).distance(items[j], C)
        new = np.argmin(dists, axis=0)
        converged = bool(np.array_equal(new, labels))
        labels = new
        if converged:
            break
    n = items[0].shape[0]
    stim = ids if ids is not None else np.array([f"stimulus{i}" for i in range(n)])
    objective = float(np.sum(dists[labels, np.arange(m)] ** 2))
    return xr.Dataset(
        {
            "centroid": (("cluster", "stimulus", "unit"), np.stack(centroids)),
            "label": (("network",), labels.astype(np.int64)),
            "distance": (("cluster", "network"), dists.copy()),
            "objective": ((), objective),
        },
        coords={"cluster": np.arange(n_clusters), "network": names, "stimulus_id": ("stimulus", stim),
                "unit_id": ("unit", np.array([f"dim{i}" for i in range(p)]))},
        # a RandomState instance is recorded by its type: its state is not a parameter one can pass again
        attrs=encode_attrs({"init": [names[i] for i in seeds], "n_iter": n_iter, "converged": int(converged),
                            "n_clusters": int(n_clusters), "max_iter": max_iter, "center_columns": int(center_columns),
                            "score_method": score_method,
                            "random_state": (int(random_state) if isinstance(random_state, (int, np.integer)) else
                                             None if random_state is None else type(random_state).__name__),
                            "reference": "netrep procrustes_kmeans (Williams et al. 2021)"}),
    )


def cluster_distances(D: Any, n_clusters: int, method: str = "average", names: Sequence[str] | None = None) -> xr.DataArray:
    """Hierarchical clusters of a cohort from its distance matrix (scipy ``linkage`` + ``fcluster``).

    Parameters
    ----------
    D : array or DataArray (network, network_)
        Symmetric distances with a zero diagonal (e.g. :func:`neuroxr.geometry.pairwise_distances`).
    n_clusters : int
        Number of flat clusters (``criterion="maxclust"``): at most, fewer with a
        :class:`~neuroxr.errors.NeuroxrWarning` where merges tie at the cut (scipy's ``maxclust``
        splits no tie; scikit-learn's ``AgglomerativeClustering`` breaks it by position).
    method : {"average", "complete", "single", "weighted"}, default "average"
        Linkage; these accept any dissimilarity (centroid/median/ward need Euclidean data).
    names : sequence of str, optional
        Network names when ``D`` is a plain array.

    Returns
    -------
    DataArray (network,) of int cluster labels, 0-based, numbered in order of first appearance (named
    networks: in name order);
    attrs ``method`` and ``linkage`` (the scipy linkage matrix, flattened, shape (m - 1) x 4, its
    leaves the rows of ``D`` as given). Named networks (a labeled ``D``, ``names``) are merged in the
    order of their names, so reordering them changes no partition and no label also where merges tie (scipy
    takes a tie in row order); one network is one cluster.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if method not in ("average", "complete", "single", "weighted"):
        raise ParameterError(f"cluster_distances: method must be one of 'average', 'complete', 'single', 'weighted'; got {shown(method)}.")
    Dm, nm = _distance_matrix(D, names, "cluster_distances")
    m = Dm.shape[0]
    _check_n_clusters(n_clusters, m, "cluster_distances")
    if m == 1:  # scipy's linkage cannot count the networks of an empty condensed matrix
        return xr.DataArray(np.zeros(1, dtype=np.int64), dims=("network",), coords={"network": nm}, name="cluster",
                            attrs={"method": method, "n_clusters": int(n_clusters), "linkage": []})
    # named networks merged in name order (a tie between merges is taken in the order of the rows), so
    # the order of a labeled matrix's networks changes no partition; the linkage names the rows as given
    order = _name_order(nm)
    Zo = linkage(squareform(Dm[np.ix_(order, order)], checks=False), method=method)
    raw = np.empty(m, dtype=np.int64)
    raw[order] = fcluster(Zo, n_clusters, criterion="maxclust")
    Z = Zo.copy()  # the linkage names the networks by their rows as given
    Z[:, :2] = np.sort(np.where(Zo[:, :2] < m, order[np.minimum(Zo[:, :2], m - 1).astype(np.int64)], Zo[:, :2]), axis=1)
    _, first = np.unique(raw, return_index=True)
    if first.size < n_clusters:  # maxclust: at most n_clusters, fewer where merges tie at the cut
        warn(f"cluster_distances: n_clusters={int(n_clusters)} but D's tree forms {first.size} cluster"
             f"{'' if first.size == 1 else 's'}: merges tie at the height of the cut (equal distances, identical networks), "
             "and scipy's fcluster(criterion='maxclust') splits none of them; attrs['n_clusters'] is the number asked for. "
             "Pass another n_clusters, or read the tree in attrs['linkage'].")
    # numbered in order of first appearance among the networks in name order (positional ones: as given), so
    # reordering named networks changes no label either
    seen = raw[order]
    number = {c: i for i, c in enumerate(seen[np.sort(np.unique(seen, return_index=True)[1])])}
    labels = np.array([number[c] for c in raw], dtype=np.int64)
    return xr.DataArray(labels, dims=("network",), coords={"network": nm}, name="cluster",
                        attrs={"method": method, "n_clusters": int(n_clusters), "linkage": Z.ravel().tolist()})


def embed_distances(D: Any, n_components: int = 2, names: Sequence[str] | None = None) -> xr.DataArray:
    """Classical (Torgerson) multidimensional scaling of a distance matrix.

    ``B = -1/2 J D**2 J`` (``J`` the centring matrix); the embedding is ``V_k sqrt(lambda_k)``
    for the ``k`` largest eigenvalues of ``B`` (negative ones clipped to 0). Euclidean distances
    are reproduced exactly when ``n_components`` covers their dimension.

    Parameters
    ----------
    D : array or DataArray (network, network_)
    n_components : int, default 2
    names : sequence of str, optional

    Returns
    -------
    DataArray (network, component)
        Coordinates (sign of each axis fixed so its largest-magnitude entry is positive, the first
        by name among equal ones: named networks are embedded in name order, so reordering them
        changes no coordinate);
        attrs ``eigenvalues`` (all, descending) and ``explained`` (share of the positive
        eigenvalues on the kept axes; NaN, with a :class:`~neuroxr.errors.NeuroxrWarning`, when
        every distance is 0).
    """
    Dm, nm = _distance_matrix(D, names, "embed_distances")
    m = Dm.shape[0]
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or not 1 <= n_components <= m:
        raise ParameterError(f"embed_distances: n_components must be an int between 1 and {m}; got {shown(n_components)}.")
    # named networks in name order (the eigenvectors of a repeated eigenvalue and the sign of an axis
    # whose largest magnitudes tie follow the rows' order), so their order in D changes no coordinate
    order = _name_order(nm)
    J = np.eye(m) - 1.0 / m
    B = -0.5 * J @ (Dm[np.ix_(order, order)] ** 2) @ J
    lam, V = np.linalg.eigh((B + B.T) / 2)
    lam, V = lam[::-1], V[:, ::-1]
    Y = V[:, :n_components] * np.sqrt(np.clip(lam[:n_components], 0, None))
    sign = np.sign(Y[np.argmax(np.abs(Y), axis=0), np.arange(n_components)])
    Y = np.empty_like(Y)
    Y[order] = V[:, :n_components] * np.sqrt(np.clip(lam[:n_components], 0, None)) * np.where(sign == 0, 1.0, sign)
    pos = np.clip(lam, 0, None)
    if not pos.sum() > 0:
        warn("embed_distances: every distance in D is 0 (the networks are identical), so the share of the distances the "
             "axes explain is undefined: attrs['explained'] is NaN, the coordinates 0.")
    return xr.DataArray(
        Y, dims=("network", "component"), coords={"network": nm, "component": np.arange(n_components)}, name="mds",
        attrs={"method": "classical MDS (Torgerson 1952)", "eigenvalues": lam.tolist(),
               "explained": float(pos[:n_components].sum() / pos.sum()) if pos.sum() > 0 else float("nan")},
    )
