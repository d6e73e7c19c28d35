"""Cohort clustering and embedding (neuroxr.geometry.cluster) against netrep, scipy and scikit-learn."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import pathlib
import re

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group

from neuroxr.attrs import decode_attrs
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.geometry.cluster import cluster_distances, embed_distances, kmeans_plusplus_init, procrustes_kmeans
from neuroxr.layouts import features as make_features


def _cohort(n=25, p=5, groups=3, per=4, noise=0.15, seed=0):
    """``groups`` families of ``per`` networks: one shape each, randomly rotated, plus noise."""
    rng = np.random.default_rng(seed)
    Xs = []
    for _ in range(groups):
        B = rng.standard_normal((n, p))
        for _ in range(per):
            Q = ortho_group.rvs(p, random_state=int(rng.integers(1 << 30)))
            X = (B + noise * rng.standard_normal((n, p))) @ Q
            Xs.append(X - X.mean(axis=0))
    return Xs


def _netrep_kmeans():
    """netrep's own ``procrustes_kmeans`` source, with the three defects of its released file patched.

    The file imports a module that no longer exists (``netrep.barycenter``: the function is now
    ``netrep.multiset.frechet_mean``), lacks three imports, and names its seed list ``idx``
    where it defines ``init_centroid_idx``. Nothing else is changed.
    """
    netrep = pytest.importorskip("netrep")
    path = pathlib.Path(importlib.util.find_spec(netrep.__name__).submodule_search_locations[0]) / "kmeans.py"
    src = path.read_text()
    if "def procrustes_kmeans" not in src:
        pytest.skip("netrep has no kmeans.procrustes_kmeans")
    src = src.replace(
        "from netrep.barycenter import barycenter",
        "import numpy as np\nfrom sklearn.utils.validation import check_array, check_random_state\n"
        "from netrep.multiset import frechet_mean as barycenter, pairwise_distances",
    )
    src = re.sub(r"\bidx\b", "init_centroid_idx", src)
    ns: dict = {}
    exec(compile(src, str(path), "exec"), ns)
    return ns["procrustes_kmeans"]


@pytest.mark.parametrize("seed", [3, 7])
def test_procrustes_kmeans_matches_netrep(seed):
    netrep_kmeans = _netrep_kmeans()
    from netrep.metrics import LinearMetric as NRMetric
    from netrep.multiset import frechet_mean
    from netrep.multiset import pairwise_distances as nr_pairwise

    Xs = _cohort()
    D = nr_pairwise(NRMetric(alpha=1.0), Xs, verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):  # netrep's streaming barycenter prints shapes
        _, nr_labels, nr_dists = netrep_kmeans(np.array(Xs), 3, dist_matrix=D, random_state=seed)
    ds = procrustes_kmeans(Xs, 3, dist_matrix=D, random_state=seed)
    # same k-means++ draws -> same seeds -> same cluster numbering and partition
    np.testing.assert_array_equal(ds["label"].values, nr_labels)
    # netrep's centroid is a 10-step streaming estimate of the Procrustes mean: close, not equal
    np.testing.assert_allclose(ds["distance"].values, nr_dists, atol=0.02)
    # with netrep's exact (full-batch, converged) mean of the final members the distances agree tightly
    for k in range(3):
        members = [Xs[j] for j in np.flatnonzero(ds["label"].values == k)]
        M = frechet_mean(members, method="full_batch", warmstart=members[0].copy(), tol=1e-13, max_iter=5000)
        for j in range(len(Xs)):
            d = NRMetric(alpha=1.0).fit(Xs[j], M).score(Xs[j], M)
            np.testing.assert_allclose(ds["distance"].values[k, j], d, atol=1e-6)
    assert ds.attrs["converged"] == 1


def test_kmeans_plusplus_draws_like_netrep():
    D = squareform(pdist(np.random.default_rng(1).standard_normal((9, 2))))
    rs = np.random.RandomState(5)
    first = rs.choice(9)
    d2 = D[first] ** 2
    expect = [first, rs.choice(9, p=d2 / d2.sum())]
    np.testing.assert_array_equal(kmeans_plusplus_init(D, 2, random_state=5), expect)


def test_procrustes_kmeans_labeled_init_and_errors():
    Xs = _cohort(groups=2, per=3, seed=4)
    ids = [f"s{i:02d}" for i in range(25)]
    rng = np.random.default_rng(0)
    named = {}
    for i, X in enumerate(Xs):
        perm = rng.permutation(25)  # each network stored in its own stimulus order
        named[f"net{i}"] = make_features(X[perm], [ids[k] for k in perm])
    ds = procrustes_kmeans(named, 2, init=["net0", "net3"])
    assert list(ds["network"].values) == list(named) and decode_attrs(ds.attrs)["init"] == ["net0", "net3"]
    np.testing.assert_array_equal(ds["label"].values, [0, 0, 0, 1, 1, 1])
    assert list(ds["stimulus_id"].values) == ids
    plain = procrustes_kmeans(Xs, 2, init=[0, 3])
    np.testing.assert_allclose(ds["distance"].values, plain["distance"].values, atol=1e-10)
    assert float(ds["objective"]) == pytest.approx(float(np.sum(ds["distance"].values.min(axis=0) ** 2)))
    with pytest.raises(ParameterError, match="n_clusters"):
        procrustes_kmeans(Xs, 7)
    with pytest.raises(ParameterError, match="init"):
        procrustes_kmeans(named, 2, init=["net0", "nope"])
    with pytest.raises(ParameterError, match="score_method"):
        procrustes_kmeans(Xs, 2, score_method="cosine")


def test_cluster_distances_against_sklearn_agglomerative():
    from sklearn.cluster import AgglomerativeClustering

    rng = np.random.default_rng(2)
    P = np.concatenate([rng.standard_normal((5, 3)) + 6 * c for c in range(3)])
    D = squareform(pdist(P))
    for method in ("average", "complete", "single"):
        ours = cluster_distances(D, 3, method=method).values
        ref = AgglomerativeClustering(n_clusters=3, metric="precomputed", linkage=method).fit_predict(D)
        # same partition up to label permutation
        assert len({(a, b) for a, b in zip(ours, ref)}) == 3
    assert list(cluster_distances(D, 3).values[:5]) == [0] * 5
    with pytest.raises(LayoutError, match="symmetric"):
        cluster_distances(D + np.triu(np.ones_like(D)), 2)


def test_embed_distances_reproduces_euclidean_distances():
    P = np.random.default_rng(3).standard_normal((8, 2))
    D = squareform(pdist(P))
    Y = embed_distances(D, n_components=2, names=[f"n{i}" for i in range(8)])
    np.testing.assert_allclose(squareform(pdist(Y.values)), D, atol=1e-10)
    assert Y.attrs["explained"] == pytest.approx(1.0)
    Y1 = embed_distances(D, n_components=1)
    assert Y1.dims == ("network", "component") and Y1.shape == (8, 1)
    with pytest.raises(ParameterError, match="n_components"):
        embed_distances(D, n_components=0)


def test_procrustes_kmeans_wide_layers_reduced_exactly():
    rng = np.random.default_rng(6)
    Xs = [rng.standard_normal((10, 30)) for _ in range(4)]  # wider than the number of stimuli
    ds = procrustes_kmeans(Xs, 2, init=[0, 1])
    from neuroxr.geometry import LinearMetric

    for k in range(2):
        C = ds["centroid"].values[k]
        for j, X in enumerate(Xs):
            np.testing.assert_allclose(ds["distance"].values[k, j], LinearMetric().fit_distance(X, C), atol=1e-6)  # arccos near 0: ~1e-8 rounding
    assert ds.sizes["unit"] == 10


def test_procrustes_kmeans_of_named_networks_ignores_their_order():
    """k-means++ draws over named networks in name order: a dict in another order gives the same
    seeds and partition (the draws followed the positions)."""
    Xs = _cohort(groups=2, per=3, seed=4)
    named = {f"net{i}": X for i, X in enumerate(Xs)}
    rev = dict(reversed(list(named.items())))
    for rs in range(4):
        a, b = procrustes_kmeans(named, 2, random_state=rs), procrustes_kmeans(rev, 2, random_state=rs)
        assert a.attrs["init"] == b.attrs["init"]
        la, lb = dict(zip(a.network.values, a.label.values)), dict(zip(b.network.values, b.label.values))
        assert la == lb


def test_procrustes_kmeans_of_named_networks_gives_the_same_centroids_in_any_order():
    """Each centroid averages its members in name order (the Procrustes average depends on the order
    of its inputs), so a dict in another order gives the same distances and objective, not only the
    same seeds and labels."""
    rng = np.random.default_rng(0)
    named = {f"n{i}": rng.normal(size=(20, 4)) + (i % 2) * rng.normal(size=(20, 4)) * 3 for i in range(6)}
    rev = dict(reversed(list(named.items())))
    a, b = procrustes_kmeans(named, 2, random_state=3), procrustes_kmeans(rev, 2, random_state=3)
    np.testing.assert_array_equal(a.label.values, b.label.sel(network=a.network).values)
    np.testing.assert_allclose(b.distance.sel(network=a.network).values, a.distance.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(b.objective), float(a.objective), rtol=1e-12)


def test_procrustes_kmeans_is_seeded_by_default_and_storable(tmp_path):
    """Without ``random_state`` the k-means++ draws are fixed (seed 0, as every seeded draw of the
    project), whatever NumPy's global state; the result, its seeds' names and its seed included,
    goes to netCDF as it is returned."""
    Xs = _cohort(groups=3, per=3, seed=7)
    expect = procrustes_kmeans(Xs, 3, random_state=0)
    for g in range(5):
        np.random.seed(g)
        ds = procrustes_kmeans(Xs, 3)
        assert ds.attrs["init"] == expect.attrs["init"]
        np.testing.assert_array_equal(ds.label.values, expect.label.values)
    ds.to_netcdf(tmp_path / "k.nc")
    back = xr.open_dataset(tmp_path / "k.nc").load()
    attrs = decode_attrs(back.attrs)
    assert attrs["init"] == decode_attrs(ds.attrs)["init"] and len(attrs["init"]) == 3
    assert attrs["random_state"] == 0
    assert decode_attrs(procrustes_kmeans(Xs, 3, random_state=None).attrs)["random_state"] is None


def test_a_matrix_that_holds_no_distances_is_refused_naming_the_argument_and_an_entry():
    """A similarity matrix (ones on the diagonal) or negative values were clustered and embedded as
    distances; the refusals name the argument (D, dist_matrix) and an entry."""
    rng = np.random.default_rng(0)
    P = rng.standard_normal((6, 3))
    S = np.corrcoef(P)  # a similarity matrix
    neg = squareform(pdist(P))
    neg[1, 4] = neg[4, 1] = -0.5
    nan = squareform(pdist(P))
    nan[0, 3] = nan[3, 0] = np.nan
    for f in (lambda D: cluster_distances(D, 2), lambda D: embed_distances(D)):
        with pytest.raises(LayoutError, match=r": D: a distance matrix has no negative values and zeros on its diagonal, but "
                                              r"\[0, 0\] = 1; .*1 - similarity"):
            f(S)
        with pytest.raises(LayoutError, match=r": D: a distance matrix has no negative .* but \[1, 4\] = -0\.5;"):
            f(neg)
        with pytest.raises(LayoutError, match=r": D: the distance matrix holds 2 NaN or infinite values \(e\.g\. \[0, 3\] = nan\)"):
            f(nan)
    with pytest.raises(LayoutError, match=r"^kmeans_plusplus_init: dist_matrix: a distance matrix has no negative"):
        kmeans_plusplus_init(S, 2)
    assert cluster_distances(1 - S, 2).shape == (6,)  # 1 - similarity is a distance matrix


def test_embed_distances_takes_an_int_of_components_and_warns_on_identical_networks():
    from neuroxr.errors import NeuroxrWarning

    D = squareform(pdist(np.random.default_rng(1).standard_normal((5, 2))))
    with pytest.raises(ParameterError, match=r"n_components must be an int between 1 and 5; got True"):
        embed_distances(D, n_components=True)
    with pytest.warns(NeuroxrWarning, match=r"^embed_distances: every distance in D is 0 .*explained'\] is NaN"):
        Y = embed_distances(np.zeros((4, 4)))
    assert np.isnan(Y.attrs["explained"]) and not Y.values.any()


def test_kmeans_plusplus_on_a_labeled_matrix_draws_in_name_order():
    """A labeled distance matrix is drawn in the order of its names, as procrustes_kmeans draws, so
    reordering its networks seeds the same networks; the indices are rows of the matrix as given."""
    D = squareform(pdist(np.random.default_rng(1).standard_normal((6, 2))))
    names = [f"n{i}" for i in range(6)]
    lab = xr.DataArray(D, dims=("network", "network_"), coords={"network": names, "network_": names})
    seeds = {}
    for order in (np.arange(6), np.array([4, 2, 0, 5, 1, 3]), np.arange(6)[::-1]):
        shuffled = lab.isel(network=order, network_=order)
        idx = kmeans_plusplus_init(shuffled, 3, random_state=0)
        seeds[tuple(order)] = [str(shuffled["network"].values[i]) for i in idx]
    assert len(set(map(tuple, seeds.values()))) == 1, seeds
    assert next(iter(seeds.values())) == [names[i] for i in kmeans_plusplus_init(D, 3, random_state=0)]


def test_procrustes_kmeans_refuses_a_network_seeding_two_clusters():
    Xs = dict(zip("abc", _cohort(groups=1, per=3, seed=2)))
    for init in ([0, 0], ["a", 0], ["b", "b"]):
        with pytest.raises(ParameterError, match=r"^procrustes_kmeans: init seeds two clusters with the same network '[ab]'"):
            procrustes_kmeans(Xs, 2, init=init)


def test_the_train_and_test_distances_of_pairwise_distances_are_refused_saying_what_to_pass():
    """pairwise_distances(..., test_data=...) returns a Dataset (train, test): given to cluster_distances /
    embed_distances it was called 'a ragged Dataset (rows of different lengths)'; its held-out matrix (a
    network's held-out distance to itself above 0) was told to be computed with pairwise_distances, which
    made it. Both refusals now say what to pass; a similarity matrix keeps its advice."""
    from neuroxr.geometry import pairwise_distances

    Xs = {f"n{i}": X for i, X in enumerate(_cohort(n=24, p=20, groups=2, per=2, seed=3))}
    D = pairwise_distances({k: X[:12] for k, X in Xs.items()}, test_data={k: X[12:] for k, X in Xs.items()})
    assert (np.diag(D["test"].values) > 1e-3).all()
    for f in (lambda M: cluster_distances(M, 2), lambda M: embed_distances(M)):
        with pytest.raises(LayoutError, match=r"^(cluster|embed)_distances: D is a Dataset holding \['test', 'train'\]; pass one "
                                              r"distance matrix, e.g. D\['train'\]"):
            f(D)
        with pytest.raises(LayoutError, match=r"zeros on its diagonal, but \[0, 0\] = .*held-out distances .*cluster and embed "
                                              r"the 'train' distances\.$"):
            f(D["test"])
        with pytest.raises(LayoutError, match=r"1 - similarity"):
            f(1 - D["train"].values / D["train"].values.max())
    assert cluster_distances(D["train"], 2).shape == (4,)
