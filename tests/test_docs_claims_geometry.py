"""Promises of docs/geometry.md that no other test checked, each run against a reference computed here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.geometry import cka, effective_dimensionality, rdm


def _ids(n: int) -> list[str]:
    return [f"s{i:02d}" for i in range(n)]


def _cka_reference(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of Kornblith et al. 2019 in feature space: ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return float(np.linalg.norm(Xc.T @ Yc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)))


@pytest.mark.parametrize("far", [1e10, 1e13])
def test_one_stimulus_far_from_the_others_is_not_refused_as_underflow(far):
    """docs/geometry.md, "Feature scale" and "RDMs": features whose values all lie well inside
    1e-154 .. 1e154 are computed, and Euclidean RDMs of one stimulus far from the rest are within about
    1e-13 of pdist. A stimulus 1e10 times the others made the Gram's reconstruction of the small stimuli's
    squared norms cancel to 0, which was refused as 'squared norms fall below float64's normal range'."""
    rng = np.random.default_rng(1)
    n = 8
    X = rng.normal(size=(n, 5))
    X[0] *= far
    Y = rng.normal(size=(n, 3))
    F, G = nx.features(X, _ids(n)), nx.features(Y, _ids(n))
    off = ~np.eye(n, dtype=bool)
    for method in ("euclidean", "sqeuclidean", "correlation", "cosine"):
        want = squareform(pdist(X, method))
        got = rdm(F, method).values
        assert np.max(np.abs(got - want)[off] / want[off]) < 1e-13, method
    assert float(cka(F, G)) == pytest.approx(_cka_reference(X, Y), rel=1e-10)
    assert np.isfinite(float(effective_dimensionality(F)))
    # offsets: stimuli near 1e-4 apart beside one at 1e8
    Z = rng.normal(size=(n, 5)) * 1e-4
    Z[0] += 1e8
    want = squareform(pdist(Z, "euclidean"))
    got = rdm(nx.features(Z, _ids(n)), "euclidean").values
    assert np.max(np.abs(got - want)[off] / want[off]) < 1e-13


def test_features_whose_squares_underflow_are_still_refused():
    """docs/geometry.md, "Feature scale": squared norms below the normal range are refused in one line."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 4)) * 1e-170
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        with pytest.raises(LayoutError, match=r"^rdm: obj \(features\): the features' squared norms fall below"):
            rdm(nx.features(X, _ids(6)))


def test_alpha_0_outside_the_training_span_is_refused_naming_the_function_and_network():
    """docs/geometry.md, "Held-out stimuli and null spaces": alpha = 0 scoring stimuli outside the training
    span raises a one-line ParameterError; split_distance and pairwise_distances(test_data=...) refuse alike.
    Their messages began 'LinearMetric:' and named 'X' (pairwise_distances has neither), not the network."""
    from neuroxr.errors import ParameterError
    from neuroxr.geometry import pairwise_distances, split_distance

    rng = np.random.default_rng(0)
    n = 20
    X = rng.normal(size=(n, 50))
    Y = X[:, :30] @ rng.normal(size=(30, 40)) + rng.normal(size=(n, 40))
    FX, FY = nx.features(X, _ids(n), model="netA", layer="l"), nx.features(Y, _ids(n), model="netB", layer="l")
    tail = r"alpha=0 \(full whitening\) is undefined for these stimuli: "
    with pytest.raises(ParameterError, match=rf"^split_distance: {tail}X \(netA/l\) has 50 units, its 10 training"):
        split_distance(FX, FY, alpha=0)
    train = {"a": FX.isel(stimulus=slice(0, 14)), "b": FY.isel(stimulus=slice(0, 14))}
    test = {"a": FX.isel(stimulus=slice(14, n)), "b": FY.isel(stimulus=slice(14, n))}
    with pytest.raises(ParameterError, match=rf"^pairwise_distances: {tail}test_data\['a'\] has 50 units, its 14 training"):
        pairwise_distances(train, test_data=test, alpha=0)
    # the training distances are still scored at alpha = 0, and alpha > 0 scores the held-out ones
    assert np.isfinite(pairwise_distances(train, alpha=0).values).all()
    assert np.isfinite(pairwise_distances(train, test_data=test, alpha=0.5)["test"].values).all()


def test_scalar_results_are_labeled_float64_and_store_to_netcdf(tmp_path):
    """docs/geometry.md, "Scalar results are labeled too": cka, effective_dimensionality and compare_rdms with
    one method return a 0-d float64 DataArray named cka / effective_dimensionality / rdm_similarity, attrs
    recording the inputs' labels (model.layer), and res.to_netcdf(path) stores it."""
    import xarray as xr

    from neuroxr.geometry import compare_rdms

    rng = np.random.default_rng(4)
    n = 9
    F = nx.features(rng.normal(size=(n, 5)), _ids(n), model="net", layer="conv1")
    G = nx.features(rng.normal(size=(n, 3)), _ids(n), model="net", layer="fc")
    results = {"cka": cka(F, G), "effective_dimensionality": effective_dimensionality(F),
               "rdm_similarity": compare_rdms(rdm(F), rdm(G), "pearson")}
    for name, res in results.items():
        assert res.name == name and res.ndim == 0 and res.dtype == np.float64
        assert res.attrs["source"] == "net.conv1"
        res.to_netcdf(tmp_path / f"{name}.nc")
        with xr.open_dataarray(tmp_path / f"{name}.nc") as back:
            assert float(back) == float(res) and back.attrs["source"] == "net.conv1"
    assert results["cka"].attrs["target"] == "net.fc"
    assert float(results["cka"]) == pytest.approx(_cka_reference(F.values, G.values), rel=1e-12)


def _hsic_unbiased_exact(X: np.ndarray, Y: np.ndarray):
    """Song et al. 2012's unbiased HSIC of linear kernels, in exact rational arithmetic."""
    from fractions import Fraction

    n = X.shape[0]
    Xf, Yf = [[Fraction(v) for v in r] for r in X], [[Fraction(v) for v in r] for r in Y]
    K = [[sum(a * b for a, b in zip(Xf[i], Xf[j])) if i != j else Fraction(0) for j in range(n)] for i in range(n)]
    L = [[sum(a * b for a, b in zip(Yf[i], Yf[j])) if i != j else Fraction(0) for j in range(n)] for i in range(n)]
    trace = sum(K[i][j] * L[j][i] for i in range(n) for j in range(n))
    cK, cL = [sum(row) for row in K], [sum(row) for row in L]
    return (trace + sum(cK) * sum(cL) / ((n - 1) * (n - 2)) - 2 * sum(a * b for a, b in zip(cK, cL)) / (n - 2)) / (n * (n - 3))


@pytest.mark.parametrize("far", [1.0, 1e8])
def test_debiased_cka_is_song_et_al_unbiased_hsic_also_with_one_stimulus_far_away(far):
    """docs/geometry.md, "CKA": debiased=True is the debiased HSIC of Song et al. 2012; with one stimulus
    far from the others (features 1e8 times theirs) it keeps its digits (3 % off before)."""
    rng = np.random.default_rng(5)
    n = 8
    X, Y = rng.normal(size=(n, 5)), rng.normal(size=(n, 3))
    X[0] *= far
    xy, xx, yy = (_hsic_unbiased_exact(A, B) for A, B in ((X, Y), (X, X), (Y, Y)))
    want = float(xy) / np.sqrt(float(xx) * float(yy))
    got = float(cka(nx.features(X, _ids(n)), nx.features(Y, _ids(n)), debiased=True))
    assert got == pytest.approx(want, rel=1e-12 if far == 1.0 else 1e-7)


def test_a_cut_gram_dataset_gives_the_kept_stimuli_numbers_and_nan_when_they_are_constant():
    """docs/geometry.md: a Gram Dataset cut to some of its stimuli is centred again over the stimuli kept:
    cka and effective_dimensionality give the kept stimuli's numbers; features constant on them make both
    NaN with the constant-input warning."""
    from neuroxr.geometry import gram

    rng = np.random.default_rng(6)
    n = 12
    X, Y = rng.normal(size=(n, 7)), rng.normal(size=(n, 5))
    keep = [0, 2, 3, 5, 7, 8, 11]
    G = gram(nx.features(X, _ids(n))).isel(stimulus=keep, stimulus_=keep)
    Yk = nx.features(Y[keep], np.array(_ids(n))[keep])
    assert float(cka(G, Yk)) == pytest.approx(_cka_reference(X[keep], Y[keep]), rel=1e-12)
    ev = np.linalg.eigvalsh(np.cov(X[keep].T))
    assert float(effective_dimensionality(G)) == pytest.approx(ev.sum() ** 2 / (ev**2).sum(), rel=1e-12)
    Z = np.full((n, 4), 3.0)
    Z[0] = rng.normal(size=4)  # varies only at the stimulus cut away
    Gz = gram(nx.features(Z, _ids(n))).isel(stimulus=keep[1:], stimulus_=keep[1:])
    with pytest.warns(NeuroxrWarning, match="^cka: a has constant features"):
        assert np.isnan(float(cka(Gz, Yk.isel(stimulus=slice(1, None)))))
    with pytest.warns(NeuroxrWarning, match="^effective_dimensionality: obj has constant features"):
        assert np.isnan(float(effective_dimensionality(Gz)))


def test_linear_metric_follows_the_scikit_learn_estimator_protocol():
    """docs/geometry.md, "Shape metrics": score = -distance; get_params / set_params; netrep's defaults."""
    from neuroxr.geometry import LinearMetric

    rng = np.random.default_rng(7)
    X = rng.normal(size=(15, 4))
    Y = X @ rng.normal(size=(4, 6)) + 0.3 * rng.normal(size=(15, 6))
    m = LinearMetric()
    assert m.get_params() == {"alpha": 1.0, "center_columns": True, "zero_pad": True, "score_method": "angular"}
    m.fit(X, Y)
    assert m.score(X, Y) == -m.distance(X, Y)
    assert m.set_params(alpha=0.5) is m and m.get_params()["alpha"] == 0.5


def test_the_comparisons_of_several_rdms_sum_the_pairs_they_drop():
    """docs/geometry.md, "NaN rule": compare_rdms_many sums n_pairs_dropped over its comparisons, and
    rdm_noise_ceiling over each subject against the pool of all (NaN left out of the pool's mean)."""
    from neuroxr.geometry import as_rdm, compare_rdms, compare_rdms_many, rdm_noise_ceiling

    rng = np.random.default_rng(8)
    n = 7

    def with_holes(holes):
        v = rng.random(n * (n - 1) // 2)
        v[holes] = np.nan
        return as_rdm(v, stimulus_id=_ids(n))

    A1, A2, B1, B2 = with_holes([0]), with_holes([]), with_holes([]), with_holes([5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        each = [compare_rdms(a, b).attrs["n_pairs_dropped"] for a in (A1, A2) for b in (B1, B2)]
        assert each == [1, 2, 0, 1]
        assert compare_rdms_many([A1, A2], [B1, B2]).attrs["n_pairs_dropped"] == sum(each)
        assert rdm_noise_ceiling([A1, A2, B2]).attrs["n_pairs_dropped"] == 2


def test_reordering_named_networks_changes_no_cluster_label():
    """Stimulus/network order never changes a number: cluster_distances merged named networks in name
    order (no partition changed) but numbered the clusters by first appearance in the rows as given, so
    reordering a labeled distance matrix renamed the clusters (procrustes_kmeans' labels did not change)."""
    import xarray as xr
    from scipy.cluster.hierarchy import fcluster, linkage

    from neuroxr.geometry import cluster_distances

    rng = np.random.default_rng(1)
    m = 7
    D = squareform(pdist(rng.normal(size=(m, 3))))
    names = [f"net{i}" for i in range(m)]
    Dl = xr.DataArray(D, dims=("network", "network_"), coords={"network": names, "network_": names})
    ref = cluster_distances(Dl, 3)
    # the partition is scipy's; numbered by first appearance in name order
    want = fcluster(linkage(squareform(D), "average"), 3, "maxclust")
    first = {c: i for i, c in enumerate(dict.fromkeys(want))}
    np.testing.assert_array_equal(ref.values, [first[c] for c in want])
    for seed in range(4):
        p = np.random.default_rng(seed).permutation(m)
        got = cluster_distances(Dl.isel(network=p, network_=p), 3)
        assert got["network"].values.tolist() == [names[i] for i in p]
        np.testing.assert_array_equal(got.sortby("network").values, ref.values)
        np.testing.assert_array_equal(cluster_distances(D[np.ix_(p, p)], 3, names=[names[i] for i in p]).sortby("network").values,
                                      ref.values)
