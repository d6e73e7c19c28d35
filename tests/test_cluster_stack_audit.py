"""Audit of cohort clustering / MDS (neuroxr.geometry.cluster): the order of named networks, ties, tiny cohorts."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from neuroxr.attrs import decode_attrs
from neuroxr.errors import LayoutError, NeuroxrWarning, ParameterError
from neuroxr.geometry.cluster import cluster_distances, embed_distances, kmeans_plusplus_init, procrustes_kmeans


def _labeled(D, names):
    return xr.DataArray(np.asarray(D, dtype=float), dims=("network", "network_"),
                        coords={"network": list(names), "network_": list(names)})


def _partition(labels: xr.DataArray) -> set[frozenset[str]]:
    nets = [str(v) for v in labels["network"].values]
    return {frozenset(n for n, lb in zip(nets, labels.values) if lb == c) for c in set(labels.values.tolist())}


# tied distances: average linkage merges (a, d) or (a, e) first, depending on the rows' order, and
# the two trees cut into other pairs of clusters
TIED = [[0, 2, 2, 1, 1], [2, 0, 1, 1, 3], [2, 1, 0, 2, 3], [1, 1, 2, 0, 3], [1, 3, 3, 3, 0]]


def test_cluster_distances_of_a_reordered_labeled_matrix_gives_the_same_partition_with_tied_merges():
    names = list("abcde")
    D = _labeled(TIED, names)
    base = cluster_distances(D, 2)
    parts = {frozenset(_partition(cluster_distances(D.isel(network=list(p), network_=list(p)), 2)))
             for p in itertools.permutations(range(5))}
    assert parts == {frozenset(_partition(base))}
    # scipy on the rows in name order, labels carried on their networks
    ref = fcluster(linkage(squareform(np.asarray(TIED, float)), "average"), 2, criterion="maxclust")
    assert _partition(base) == {frozenset(n for n, c in zip(names, ref) if c == k) for k in set(ref)}


def test_cluster_distances_linkage_names_the_rows_as_given():
    P = np.random.default_rng(0).standard_normal((6, 2))
    D = squareform(np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1)), checks=False)
    Dm = squareform(D)
    names = ["f", "b", "e", "a", "d", "c"]  # not in name order
    out = cluster_distances(_labeled(Dm, names), 3)
    Z = np.asarray(out.attrs["linkage"]).reshape(-1, 4)
    np.testing.assert_allclose(Z, linkage(D, "average"))  # no ties: scipy's own tree, leaves as given
    ref = fcluster(linkage(D, "average"), 3, criterion="maxclust")
    assert _partition(out) == {frozenset(n for n, c in zip(names, ref) if c == k) for k in set(ref)}


def test_cluster_distances_of_one_network_is_one_cluster():
    out = cluster_distances(np.zeros((1, 1)), 1, names=["only"])
    assert out.values.tolist() == [0] and out["network"].values.tolist() == ["only"]


@pytest.mark.parametrize("perm", [[1, 0], [0, 1]])
def test_embed_distances_of_reordered_named_networks_gives_the_same_coordinates(perm):
    """Two networks sit at +-d/2: the sign fixed by the largest magnitude tied, and took the first row's."""
    D = _labeled([[0, 1.0], [1.0, 0]], ["a", "b"])
    base = embed_distances(D, 1)
    other = embed_distances(D.isel(network=perm, network_=perm), 1)
    np.testing.assert_array_equal(other.sel(network=["a", "b"]).values, base.sel(network=["a", "b"]).values)


def test_embed_distances_of_equidistant_networks_ignores_their_order():
    """A repeated eigenvalue: its eigenvectors followed the rows' order."""
    names = list("abcd")
    D = _labeled(np.ones((4, 4)) - np.eye(4), names)
    base = embed_distances(D, 2).sel(network=names).values
    for p in ([3, 2, 1, 0], [1, 3, 0, 2]):
        got = embed_distances(D.isel(network=p, network_=p), 2).sel(network=names).values
        np.testing.assert_array_equal(got, base)


@pytest.mark.parametrize("D, k", [(np.ones((4, 4)) - np.eye(4), 2),
                                  (np.kron(np.ones((2, 2)) - np.eye(2), np.ones((2, 2))), 3)])
def test_cluster_distances_warns_when_tied_merges_form_fewer_clusters_than_asked(D, k):
    """scipy's maxclust cuts no tie: equidistant networks formed 1 cluster for n_clusters=2, two pairs of
    identical networks 2 for n_clusters=3, without a word."""
    ref = fcluster(linkage(squareform(D), "average"), k, criterion="maxclust")
    with pytest.warns(NeuroxrWarning, match=rf"n_clusters={k} but D's tree forms {len(set(ref))} cluster"):
        out = cluster_distances(D, k)
    assert len(set(out.values.tolist())) == len(set(ref)) < k


def test_cluster_distances_says_nothing_when_it_forms_the_clusters_asked():
    P = np.random.default_rng(0).standard_normal((6, 2))
    D = squareform(np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1)), checks=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(set(cluster_distances(squareform(D), 3).values.tolist())) == 3


def _two_networks():
    rng = np.random.default_rng(0)
    return {"a": rng.standard_normal((10, 3)), "b": rng.standard_normal((10, 3))}


@pytest.mark.parametrize("init", [[0, 1.5], [True, False], "ab", 1])
def test_procrustes_kmeans_refuses_an_init_that_is_no_list_of_indices_or_names(init):
    """[0, 1.5] seeded network 1 (int(1.5)), [True, False] networks 1 and 0, "ab" its letters, 1 a TypeError."""
    with pytest.raises(ParameterError, match=r"procrustes_kmeans: init must be a list of 2 network indices \(ints\) or names"):
        procrustes_kmeans(_two_networks(), 2, init=init)


def test_procrustes_kmeans_takes_numpy_indices_and_names_as_init():
    out = procrustes_kmeans(_two_networks(), 2, init=[np.int64(1), "a"])
    assert decode_attrs(out.attrs)["init"] == ["b", "a"]


@pytest.mark.parametrize("call", [lambda rs: procrustes_kmeans(_two_networks(), 2, random_state=rs),
                                  lambda rs: kmeans_plusplus_init(np.ones((2, 2)) - np.eye(2), 2, random_state=rs)])
def test_a_random_state_that_seeds_nothing_is_refused_in_one_line_naming_it(call):
    with pytest.raises(ParameterError, match=r"random_state must be an int, a numpy.random.RandomState or None"):
        call("x")
    with pytest.raises(ParameterError, match="random_state"):
        call(np.random.default_rng(0))  # a Generator: scikit-learn's check_random_state refuses it


def _rdm(seed, ids, order, n_nan=0):
    """A labeled Euclidean RDM with tied values (rounded), its stimuli in ``order``, ``n_nan`` missing pairs."""
    from neuroxr.geometry import as_rdm

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((len(ids), 4))
    D = np.round(np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1)), 1)
    for i, j in rng.choice(len(ids), size=(n_nan, 2), replace=False):
        D[i, j] = D[j, i] = np.nan
    return as_rdm(D[np.ix_(order, order)], stimulus_id=np.asarray(ids)[order])


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall", "cosine"])
@pytest.mark.parametrize("n_nan", [0, 2])
def test_compare_rdms_many_equals_compare_rdms_per_pair_and_counts_the_dropped_pairs(method, n_nan):
    """Every entry is compare_rdms of that pair alone, whatever order each RDM lists its stimuli in;
    attrs['n_pairs_dropped'] (the NaN rule's count, absent before) sums compare_rdms' counts."""
    from neuroxr.geometry import compare_rdms, compare_rdms_many

    ids = [f"s{i:02d}" for i in range(12)]
    rng = np.random.default_rng(7)
    a = [_rdm(1, ids, np.arange(12)), _rdm(2, ids, rng.permutation(12), n_nan)]
    b = {"x": _rdm(3, ids, rng.permutation(12)), "y": _rdm(4, ids, rng.permutation(12), n_nan), "z": _rdm(5, ids, np.arange(12))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        M = compare_rdms_many(a, b, method=method)
        single = [[compare_rdms(x, y, method=method) for y in b.values()] for x in a]
    np.testing.assert_allclose(M.values, [[float(s) for s in row] for row in single], rtol=0, atol=1e-15)
    assert M["rdm_b"].values.tolist() == ["x", "y", "z"]
    assert M.attrs["n_pairs_dropped"] == sum(s.attrs["n_pairs_dropped"] for row in single for s in row)
    assert M.attrs["n_stimuli"] == 12


def test_brainscore_with_missing_trials_and_permuted_inputs_equals_its_definition():
    """Guard: missing trials halved in the ShuffleSplit's order (each row's valid repeats, the first
    ceil(v/2) against the rest), a neuroid lacking 2 on a stimulus left out, PLS / ShuffleSplit /
    Pearson / median / Spearman-Brown from scikit-learn and scipy; stimuli and neuroids permuted."""
    import math

    import scipy.stats
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import ShuffleSplit

    from neuroxr.layouts import features as make_features
    from neuroxr.layouts import neural as make_neural
    from neuroxr.predictivity.brainscore import brainscore

    rng = np.random.default_rng(2)
    n, p, k, T = 40, 12, 6, 5
    X = rng.standard_normal((n, p))
    R = (X @ rng.standard_normal((p, k)) / 4)[:, :, None] + rng.standard_normal((n, k, T))
    R[rng.random(R.shape) < 0.15] = np.nan
    R[0, 4, 1:] = np.nan  # neuroid n4: 1 valid repeat on s00, left out
    ids, nids = [f"s{i:02d}" for i in range(n)], [f"n{j}" for j in range(k)]
    ps, pk = rng.permutation(n), rng.permutation(k)
    feats = make_features(X[ps], [ids[i] for i in ps], model="m", layer="l")
    neur = make_neural(R, ids, nids).isel(stimulus=rng.permutation(n), neuroid=pk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        ds = brainscore(feats, neur, n_components=4)
    valid = ~np.isnan(R)
    keep = np.flatnonzero((valid.sum(2) >= 2).all(0))
    assert sorted(ds["neuroid_id"].values.tolist()) == [nids[j] for j in keep]
    Y = np.nanmean(R[:, keep], axis=2)
    raw = np.mean([np.median([scipy.stats.pearsonr(pred[:, j], Y[te, j])[0] for j in range(len(keep))])
                   for tr, te in ShuffleSplit(10, train_size=0.9, test_size=None, random_state=1).split(X)
                   for pred in [PLSRegression(n_components=4, scale=False).fit(X[tr], Y[tr]).predict(X[te])]])
    cons = []
    for tr, te in ShuffleSplit(10, train_size=0.5, test_size=None, random_state=1).split(np.arange(T)):
        rs = []
        for j in keep:
            halves = [[t for t in np.concatenate([te, tr]) if valid[s, j, t]] for s in range(n)]
            h1 = [np.mean(R[s, j, v[: math.ceil(len(v) / 2)]]) for s, v in enumerate(halves)]
            h2 = [np.mean(R[s, j, v[math.ceil(len(v) / 2):]]) for s, v in enumerate(halves)]
            rs.append(scipy.stats.pearsonr(h1, h2)[0])
        cons.append(np.median([2 * r / (1 + r) for r in rs]))
    np.testing.assert_allclose([float(ds["raw"]), float(ds["ceiling"])], [raw, np.mean(cons)], rtol=1e-9)


@pytest.mark.parametrize("call", [lambda D: cluster_distances(D, 2, names=["a", "a", "b"]),
                                  lambda D: embed_distances(D, names=["a", "b", "a"])])
def test_names_naming_a_network_twice_are_refused(call):
    """A plain matrix with names ['a', 'a', 'b'] was labeled so (a labeled matrix's duplicates are refused)."""
    D = np.array([[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]])
    with pytest.raises(LayoutError, match="names holds 'a' twice"):
        call(D)
