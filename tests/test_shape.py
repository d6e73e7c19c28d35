"""Shape metrics vs independent references (scipy, netrep), metric axioms, invariances, the estimator API."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import near_constant
from scipy.linalg import orthogonal_procrustes, subspace_angles
from sklearn.exceptions import NotFittedError

from neuroxr import features
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.geometry import LinearMetric, pairwise_distances, procrustes_average, procrustes_kmeans
from neuroxr.kernels.gram import gram
from neuroxr.kernels.shape import shape_distance_from_gram


def _rand(n, p, seed):
    return np.random.default_rng(seed).standard_normal((n, p))


def _procrustes_angle_reference(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    p = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, p - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, p - Y.shape[1])))
    R, _ = orthogonal_procrustes(X, Y)
    return math.acos(np.sum((X @ R) * Y) / (np.linalg.norm(X) * np.linalg.norm(Y)))


@pytest.mark.parametrize("shapes", [((40, 6), (40, 6)), ((40, 5), (40, 9))])
def test_procrustes_matches_scipy_orthogonal_procrustes(shapes):
    X, Y = _rand(*shapes[0], 0), _rand(*shapes[1], 1)
    assert LinearMetric(alpha=1.0).fit_distance(X, Y) == pytest.approx(_procrustes_angle_reference(X, Y), rel=1e-10)


def test_cca_alpha0_is_mean_canonical_correlation():
    X, Y = _rand(50, 4, 2), _rand(50, 4, 3)
    Y = Y + X @ _rand(4, 4, 4)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    rho = np.cos(subspace_angles(Xc, Yc))  # canonical correlations (scipy, principal angles)
    assert LinearMetric(alpha=0.0).fit_distance(X, Y) == pytest.approx(math.acos(rho.mean()), rel=1e-8)


def test_torch_arrays_give_the_numpy_answer():
    torch = pytest.importorskip("torch")
    X, Y = _rand(30, 5, 5), _rand(30, 7, 6)
    ref = LinearMetric(alpha=0.5).fit_distance(X, Y)
    assert LinearMetric(alpha=0.5).fit_distance(torch.tensor(X), torch.tensor(Y)) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("score_method", ["angular", "euclidean"])
def test_gram_path_equals_estimator(alpha, score_method):
    X, Y = _rand(25, 6, 7), _rand(25, 4, 8)
    Y = Y + 0.5 * X[:, :4]
    est = LinearMetric(alpha=alpha, score_method=score_method).fit_distance(X, Y)
    got = shape_distance_from_gram(gram(X).K, gram(Y).K, alpha, score_method, n_units=(X.shape[1], Y.shape[1]))
    assert got == pytest.approx(est, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_metric_axioms(alpha):
    nets = [_rand(30, 5, s) for s in range(5)]
    D = pairwise_distances(nets, alpha=alpha, scheduler="sync").values
    np.testing.assert_allclose(D, D.T)
    assert LinearMetric(alpha=alpha).fit_distance(nets[0], nets[0]) == pytest.approx(0.0, abs=1e-6)
    for i in range(5):
        for j in range(5):
            for k in range(5):
                assert D[i, k] <= D[i, j] + D[j, k] + 1e-10
    assert (D[~np.eye(5, dtype=bool)] > 0.1).all()


def test_invariances():
    rng = np.random.default_rng(9)
    X, Y = _rand(40, 6, 10), _rand(40, 6, 11)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = rng.standard_normal((6, 6))  # invertible a.s.
    d1 = LinearMetric(alpha=1.0).fit_distance(X, Y)
    assert LinearMetric(alpha=1.0).fit_distance(X @ Q + 3.0, Y) == pytest.approx(d1, rel=1e-10)
    assert LinearMetric(alpha=1.0).fit_distance(X @ A, Y) != pytest.approx(d1, rel=1e-3)
    d0 = LinearMetric(alpha=0.0).fit_distance(X, Y)
    assert LinearMetric(alpha=0.0).fit_distance(X @ A, Y) == pytest.approx(d0, rel=1e-8)
    assert LinearMetric(alpha=0.0).fit_distance(X, X @ A) == pytest.approx(0.0, abs=1e-6)


def test_cross_validate_with_paired_X_y():
    from sklearn.model_selection import cross_validate

    X = _rand(60, 5, 12)
    Y = X @ _rand(5, 5, 13) + 0.1 * _rand(60, 5, 14)
    res = cross_validate(LinearMetric(alpha=0.0), X, Y, cv=3)
    assert res["test_score"].shape == (3,)
    # score = -distance (higher is better): a near-linear map has a small held-out distance
    assert np.all(res["test_score"] <= 0) and np.all(res["test_score"] > -0.3)
    res_rot = cross_validate(LinearMetric(alpha=1.0), X, _rand(60, 5, 15), cv=3)
    assert np.all(res_rot["test_score"] < res["test_score"].min())


def test_transform_and_validation():
    X, Y = _rand(20, 3, 16), _rand(20, 5, 17)
    m = LinearMetric().fit(X, Y)
    tX, tY = m.transform(X, Y)
    assert tX.shape == tY.shape == (20, 5)
    with pytest.raises(ValueError, match=r"^LinearMetric: alpha must be a float in \[0, 1\]"):
        LinearMetric(alpha=1.5).fit(X, Y)
    with pytest.raises(ValueError, match=r"^LinearMetric: score_method must be one of \('angular', 'euclidean'\)"):
        LinearMetric(score_method="cosine").fit(X, Y)
    with pytest.raises(ValueError, match="zero_pad=True"):
        LinearMetric(zero_pad=False).fit(X, Y)
    with pytest.raises(NotFittedError, match="not fitted"):
        LinearMetric().transform(X, Y)


def test_pairwise_distances_labeled_and_test_split():
    rng = np.random.default_rng(18)
    base = rng.standard_normal((30, 4))
    ids = [f"s{i}" for i in range(30)]
    nets = {}
    for k in range(3):
        Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
        F = base @ Q + 0.05 * rng.standard_normal((30, 4))
        order = rng.permutation(30)
        nets[f"net{k}"] = features(F[order], stimulus_id=np.array(ids)[order])
    D = pairwise_distances(nets, scheduler="sync")
    assert list(D.network.values) == ["net0", "net1", "net2"]
    assert float(D.max()) < 0.2  # stimuli were paired by id despite the shuffles
    train = [v.isel(stimulus=v.stimulus_id.isin(ids[:20]).values) for v in nets.values()]
    test = [v.isel(stimulus=v.stimulus_id.isin(ids[20:]).values) for v in nets.values()]
    out = pairwise_distances(train, test, alpha=1.0, scheduler="sync")
    assert set(out.data_vars) == {"train", "test"}
    assert np.isfinite(out["test"].values).all()


def test_held_out_networks_paired_by_key_and_unit_id():
    """pairwise_distances' test_data pairs networks with train_data by dict key and units by unit_id, and a
    LinearMetric fitted on labeled networks pairs the units it scores by unit_id: reordering either changes
    no distance (before: positions, so a dict in another key order or a unit order of the held-out set
    silently scored other networks / units). Other keys or ids are refused."""
    rng = np.random.default_rng(7)
    ids = [f"s{i:02d}" for i in range(40)]
    nets = {k: features(rng.standard_normal((40, p)), ids, [f"{k}u{j}" for j in range(p)]) for k, p in (("a", 6), ("b", 6), ("c", 4))}
    train = {k: v.isel(stimulus=slice(0, 28)) for k, v in nets.items()}
    test = {k: v.isel(stimulus=slice(28, None)) for k, v in nets.items()}
    ref = pairwise_distances(train, test, scheduler="sync")
    # reference: each pair fitted and scored by hand on the arrays in their stored order
    for i, j in (("a", "b"), ("a", "c"), ("b", "c")):
        m = LinearMetric().fit(train[i].values, train[j].values)
        assert float(ref["test"].sel(network=i, network_=j)) == pytest.approx(m.distance(test[i].values, test[j].values), abs=1e-12)
    shuffled = {k: test[k].isel(unit=rng.permutation(test[k].sizes["unit"])) for k in ("c", "b", "a")}
    got = pairwise_distances(train, shuffled, scheduler="sync")
    np.testing.assert_allclose(got["test"].values, ref["test"].values, atol=1e-12)
    got = pairwise_distances(list(train.values()), [shuffled[k] for k in train], scheduler="sync")
    np.testing.assert_allclose(got["test"].values, ref["test"].values, atol=1e-12)
    m = LinearMetric().fit(train["a"], train["b"])
    assert m.distance(shuffled["a"], shuffled["b"]) == pytest.approx(m.distance(test["a"].values, test["b"].values), abs=1e-12)
    with pytest.raises(LayoutError, match=r"^pairwise_distances: test_data has the networks \['x', 'b', 'c'\]"):
        pairwise_distances(train, {"x": test["a"], "b": test["b"], "c": test["c"]}, scheduler="sync")
    other = test["a"].assign_coords(unit_id=("unit", [f"z{j}" for j in range(6)]))
    with pytest.raises(LayoutError, match=r"^LinearMetric: X \(features\) has other unit_id values on dim 'unit' .*missing e\.g\. \['au0'"):
        m.distance(other, test["b"])


def test_pairwise_distances_with_distributed_client():
    distributed = pytest.importorskip("distributed")
    nets = [_rand(20, 3, s) for s in range(3)]
    ref = pairwise_distances(nets, scheduler="sync")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        got = pairwise_distances(nets, client=client)
    np.testing.assert_allclose(got.values, ref.values)


def test_procrustes_average_recovers_the_common_shape():
    rng = np.random.default_rng(19)
    X = rng.standard_normal((25, 4))
    X -= X.mean(0)
    rotated = [X @ np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(4)]
    M = procrustes_average(rotated)
    assert M.dims == ("stimulus", "unit")
    assert _procrustes_angle_reference(M.values, X) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(M.values), np.linalg.norm(X), rtol=1e-8)


def test_score_is_the_negative_distance():
    X, Y = _rand(30, 4, 20), _rand(30, 6, 21)
    m = LinearMetric(alpha=0.5).fit(X[:20], Y[:20])
    d = m.distance(X[20:], Y[20:])
    assert d > 0 and m.score(X[20:], Y[20:]) == -d
    assert LinearMetric(alpha=0.5).fit_distance(X, Y) == LinearMetric(alpha=0.5).fit(X, Y).distance(X, Y)


def test_nan_is_refused_naming_the_array():
    X, Y = _rand(20, 3, 22), _rand(20, 4, 23)
    Y[2, 1] = np.nan
    with pytest.raises(LayoutError, match=r"LinearMetric: Y holds 1 NaN or infinite values"):
        LinearMetric().fit(X, Y)
    ids = np.array([f"s{i}" for i in range(20)])
    Y[2, 1] = 0.0
    labeled = features(Y, stimulus_id=ids, model="net", layer="l2").copy()
    labeled[2, 1] = np.nan  # e.g. after a computation on a valid layer
    with pytest.raises(LayoutError, match=r"LinearMetric: Y \(net/l2\) holds 1 NaN or infinite values.*"
                                          r"dropna\('stimulus'\) for the stimuli holding one"):
        LinearMetric().fit(features(X, stimulus_id=ids, model="net", layer="l1"), labeled)


def test_infinite_and_empty_inputs_are_refused():
    from neuroxr.geometry import pairwise_distances

    X, Y = _rand(20, 3, 22), _rand(20, 4, 23)
    X[0, 0] = np.inf
    with pytest.raises(LayoutError, match=r"LinearMetric: X holds 1 NaN or infinite values"):
        LinearMetric().fit_distance(X, Y)
    with pytest.raises(LayoutError, match=r"holds 1 NaN or infinite values"):
        pairwise_distances([X, Y])
    with pytest.raises(LayoutError, match=r"LinearMetric: X has shape \(0, 3\); it needs at least one stimulus"):
        LinearMetric().fit_distance(X[:0], Y[:0])


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("score_method", ["angular", "euclidean"])
def test_linear_metric_matches_netrep(alpha, score_method):
    netrep = pytest.importorskip("netrep")
    from netrep.metrics import LinearMetric as NetrepLinearMetric

    X, Y = _rand(40, 5, 24), _rand(40, 7, 25)
    Y[:, :5] += X
    theirs = NetrepLinearMetric(alpha=alpha, score_method=score_method).fit(X[:30], Y[:30])
    ours = LinearMetric(alpha=alpha, score_method=score_method).fit(X[:30], Y[:30])
    assert netrep is not None
    assert ours.distance(X[:30], Y[:30]) == pytest.approx(theirs.score(X[:30], Y[:30]), rel=1e-8)
    assert ours.distance(X[30:], Y[30:]) == pytest.approx(theirs.score(X[30:], Y[30:]), rel=1e-8)
    assert ours.fit_distance(X, Y) == pytest.approx(
        NetrepLinearMetric(alpha=alpha, score_method=score_method).fit_score(X, Y), rel=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_representation_constant_up_to_rounding_scores_as_a_zero_one(alpha):
    """Exactly equal values whose float mean is not exact, and values constant but for rounding,
    are scored as a zero representation (netrep's numbers for zeros): angular NaN, Euclidean the
    other's norm; in the estimator, its test split and the bootstrap."""
    netrep = pytest.importorskip("netrep.metrics")
    from neuroxr.geometry.inference import shape_bootstrap

    Y = _rand(30, 5, 3)
    zero = np.zeros((30, 5))
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = {m: netrep.LinearMetric(alpha=alpha, score_method=m).fit_score(zero, Y) for m in ("angular", "euclidean")}
    assert math.isnan(ref["angular"]) and ref["euclidean"] > 0
    for X in (np.full((30, 5), 0.7), np.tile(near_constant(30)[:, None], (1, 5))):
        for m in ("angular", "euclidean"):
            est = LinearMetric(alpha=alpha, score_method=m)
            got = [est.fit_distance(X, Y), est.fit(X[:20], Y[:20]).distance(X[20:], Y[20:]),
                   float(shape_bootstrap(X, Y, alpha=alpha, score_method=m, n_boot=3, n_perm=3).distance)]
            split = LinearMetric(alpha=alpha, score_method=m).fit(zero[:20], Y[:20]).distance(zero[20:], Y[20:])
            np.testing.assert_allclose(got, [ref[m], split, ref[m]], rtol=1e-12)


def test_procrustes_kmeans_pairs_a_labeled_distance_matrix_by_network():
    from neuroxr.geometry.cluster import kmeans_plusplus_init

    rng = np.random.default_rng(1)
    nets = {}
    for g in "abc":
        Z = rng.standard_normal((20, 3))
        for i in range(3):
            nets[f"{g}{i}"] = Z @ rng.standard_normal((3, 4)) + 0.4 * rng.standard_normal((20, 4))
    D = pairwise_distances(nets)  # labeled, in the dict's order
    order = ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    shuffled = {k: nets[k] for k in order}
    for rs in range(5):
        own = procrustes_kmeans(shuffled, 3, random_state=rs, max_iter=1)
        given = procrustes_kmeans(shuffled, 3, dist_matrix=D, random_state=rs, max_iter=1)
        assert own.attrs["init"] == given.attrs["init"]
        np.testing.assert_array_equal(own["label"].values, given["label"].values)
    with pytest.raises(LayoutError, match="are not the networks given"):
        procrustes_kmeans({k: nets[k] for k in order[:8]} | {"z": nets["c2"]}, 3, dist_matrix=D)
    # identical networks (all distances 0) and bad cluster counts: no numpy traceback
    same = procrustes_kmeans([nets["a0"]] * 3, 2, random_state=0)
    assert set(same["label"].values) <= {0, 1}
    with pytest.raises(ParameterError, match="n_clusters must be an int between 1 and the number of networks"):
        kmeans_plusplus_init(D.values, 12)
    with pytest.raises(ParameterError, match="n_clusters must be an int"):
        kmeans_plusplus_init(D.values, 0)


def test_networks_of_different_stimulus_counts_are_refused():
    A, B = _rand(12, 4, 1), _rand(13, 4, 2)
    with pytest.raises(LayoutError, match="different numbers of stimuli"):
        pairwise_distances([A, B])


def test_linear_metric_refuses_text_complex_and_unfitted_scoring():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        LinearMetric().score(X, Y)
    with pytest.raises(LayoutError, match=r"^LinearMetric: X: expected .* of real numbers; got ndarray of dtype object\.$"):
        LinearMetric().fit_distance(np.array([["a"] * 3] * 30, dtype=object), Y)
    with pytest.raises(LayoutError, match=r"^LinearMetric: X: .* real numbers; got ndarray of dtype complex128\.$"):
        LinearMetric().fit_distance(X * 1j + 1, Y)
    # an object array of numbers is numbers: the same distance as the float array
    assert LinearMetric().fit_distance(X.astype(object), Y) == LinearMetric().fit_distance(X, Y)


def _null_space_pair(n=24, px=30, py=20, seed=30):
    """A representation with more units than its training stimuli (the first n // 2), and a partner."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 4))
    X = Z @ rng.standard_normal((4, px)) + 0.5 * rng.standard_normal((n, px))
    Y = Z @ rng.standard_normal((4, py)) + 0.5 * rng.standard_normal((n, py))
    return X, Y, n // 2


@pytest.mark.parametrize("alpha", [1.0, 0.5])
@pytest.mark.parametrize("score_method", ["angular", "euclidean"])
def test_held_out_distance_ignores_unit_order_and_rounding(alpha, score_method):
    """At least as many units as training stimuli: the held-out distance is the same for the units
    in any order and after a rescaling by 1 + 2e-13 (the arbitrary null-space rotation is gone)."""
    X, Y, k = _null_space_pair()
    perm = np.random.default_rng(31).permutation(X.shape[1])
    variants = [X, X[:, perm], X * (1 + 2e-13)]
    got = [LinearMetric(alpha=alpha, score_method=score_method).fit(V[:k], Y[:k]).distance(V[k:], Y[k:]) for V in variants]
    np.testing.assert_allclose(got, got[0], rtol=1e-10)
    # pairwise_distances' held-out matrix runs the same alignment
    out = pairwise_distances([X[:k], Y[:k]], [X[k:], Y[k:]], alpha=alpha, score_method=score_method, scheduler="sync")
    assert float(out["test"][0, 1]) == pytest.approx(got[0], rel=1e-10)


def test_held_out_inner_product_is_the_mean_over_null_space_rotations():
    """Every rotation that is optimal on the training data (any rotation of the null space) gives
    another held-out inner product; ours is their mean (Monte Carlo over uniform rotations)."""
    ortho_group = pytest.importorskip("scipy.stats").ortho_group
    X, Y, k = _null_space_pair(n=20, px=14, py=12, seed=32)
    p = max(X.shape[1], Y.shape[1])
    mx, my = X[:k].mean(0), Y[:k].mean(0)
    pad = [np.pad(A - m, ((0, 0), (0, p - A.shape[1]))) for A, m in ((X, mx), (Y, my))]
    U, s, Vt = np.linalg.svd(pad[0][:k].T @ pad[1][:k])
    r = int(np.sum(s > s[0] * 1e-10))
    assert r < p  # a null space: 10 training stimuli, 14 units
    Xte, Yte = pad[0][k:], pad[1][k:]
    qs = ortho_group.rvs(p - r, size=4000, random_state=33)
    inner = np.array([np.sum(Xte @ (U[:, :r] @ Vt[:r] + U[:, r:] @ Q @ Vt[r:]) * Yte) for Q in qs])
    tX, tY = LinearMetric(alpha=1.0).fit(X[:k], Y[:k]).transform(X[k:], Y[k:])
    assert np.sum(tX * tY) == pytest.approx(inner.mean(), abs=4 * inner.std() / np.sqrt(inner.size))
    assert inner.std() > 0.005 * abs(inner.mean())  # a single rotation's number depends on it
    np.testing.assert_allclose([np.linalg.norm(tX), np.linalg.norm(tY)], [np.linalg.norm(Xte), np.linalg.norm(Yte)], rtol=1e-12)


@pytest.mark.parametrize("shapes", [(60, 8, 8), (60, 5, 9), (60, 9, 5)])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_held_out_distance_equals_netrep_without_null_space(shapes, alpha):
    NetrepLinearMetric = pytest.importorskip("netrep.metrics").LinearMetric  # noqa: N806
    n, px, py = shapes
    X, Y = _rand(n, px, 34), _rand(n, py, 35)
    Y[:, : min(px, py)] += X[:, : min(px, py)]
    for score_method in ("angular", "euclidean"):
        ours = LinearMetric(alpha=alpha, score_method=score_method).fit(X[:40], Y[:40]).distance(X[40:], Y[40:])
        theirs = NetrepLinearMetric(alpha=alpha, score_method=score_method).fit(X[:40], Y[:40]).score(X[40:], Y[40:])
        assert ours == pytest.approx(theirs, rel=1e-10)


def test_alpha0_refuses_held_out_stimuli_outside_the_training_span():
    from neuroxr.errors import ParameterError
    from neuroxr.geometry import split_distance

    X, Y, k = _null_space_pair()
    m = LinearMetric(alpha=0.0).fit(X[:k], Y[:k])
    msg = r"^LinearMetric: alpha=0 .* X has 30 units, its 12 training stimuli span 11 directions .*alpha > 0\.$"
    with pytest.raises(ParameterError, match=msg):
        m.distance(X[k:], Y[k:])
    # the training stimuli (any order) lie in their span: scored as netrep scores them
    netrep = pytest.importorskip("netrep.metrics")
    ref = netrep.LinearMetric(alpha=0.0).fit_score(X[:k], Y[:k])
    assert m.distance(X[:k][::-1], Y[:k][::-1]) == pytest.approx(ref, abs=1e-6)
    ids = np.array([f"s{i:02d}" for i in range(X.shape[0])])
    with pytest.raises(ParameterError, match=r"alpha=0 .* X \(net/l1\) has 30 units, its 12 training stimuli span 11"):
        split_distance(features(X, stimulus_id=ids, model="net", layer="l1"), features(Y, stimulus_id=ids), alpha=0.0)
    with pytest.raises(ParameterError, match=r"alpha=0 .* has 30 units"):
        pairwise_distances([X[:k], Y[:k]], [X[k:], Y[k:]], alpha=0.0, scheduler="sync")
    # fewer units than training stimuli: defined, no refusal
    assert math.isfinite(LinearMetric(alpha=0.0).fit(X[:k, :5], Y[:k, :5]).distance(X[k:, :5], Y[k:, :5]))


def _unreduced(X, Y, Xs, Ys, alpha, center, zero_pad, score_method):
    """Distance of rows ``(Xs, Ys)`` under a fit on ``(X, Y)`` with no reduction: the full
    ``p x p`` whitening and SVD (kernels.shape.whiten / fit_alignment on the ``p``-wide data)."""
    from neuroxr.kernels.shape import centre, fit_alignment, shape_score, whiten

    width = max(X.shape[1], Y.shape[1]) if zero_pad and X.shape[1] != Y.shape[1] else None
    mx, my = (A.mean(0) if center else np.zeros(A.shape[1]) for A in (X, Y))
    (Xw, Zx), (Yw, Zy) = whiten(centre(X, mx), alpha, width), whiten(centre(Y, my), alpha, width)
    Wx, Wy = fit_alignment(Xw, Zx, Yw, Zy, zero_pad)
    return shape_score(centre(Xs, mx) @ Wx, centre(Ys, my) @ Wy, score_method)


def _same_distance(got, ref, score_method):
    """Equal to rounding: angles through their cosines (an angle near 0 is acos's rounding, ~1e-8)."""
    if score_method == "angular":
        assert math.cos(got) == pytest.approx(math.cos(ref), abs=1e-11)
    assert got == pytest.approx(ref, rel=1e-10, abs=1e-10 if score_method == "euclidean" else 1e-7)


@pytest.mark.parametrize("units", [(30, 6), (30, 25), (8, 30), (40, 40)])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("center, zero_pad", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("score_method", ["angular", "euclidean"])
def test_wide_representations_give_the_unreduced_distances(units, alpha, center, zero_pad, score_method):
    """More units than training stimuli: the fit in the training rows' span gives the full
    computation's distances (and netrep's on the training data) for every option, on the training
    rows, on held-out rows with parts outside the span, and on rows inside it."""
    px, py = units
    if not zero_pad:
        px = py = max(units)
    X, Y, k = _null_space_pair(n=24, px=px, py=py, seed=40 + px + py)
    est = LinearMetric(alpha=alpha, center_columns=center, zero_pad=zero_pad, score_method=score_method)
    _same_distance(est.fit_distance(X, Y), _unreduced(X, Y, X, Y, alpha, center, zero_pad, score_method), score_method)
    try:  # netrep, where installed (from its source tree): the training distance
        from netrep.metrics import LinearMetric as NetrepMetric
    except ImportError:
        pass
    else:
        ref = NetrepMetric(alpha=alpha, center_columns=center, zero_pad=zero_pad, score_method=score_method)
        _same_distance(est.fit_distance(X, Y), ref.fit_score(X, Y), score_method)
    est.fit(X[:k], Y[:k])
    mixed = np.random.default_rng(41).standard_normal((5, k))  # rows inside the training span
    inside = [(A[:k].mean(0) if center else 0) + mixed @ (A[:k] - (A[:k].mean(0) if center else 0)) for A in (X, Y)]
    for held_out, rows in ((False, (X[:k], Y[:k])), (False, inside), (True, (X[k:], Y[k:]))):
        want = _unreduced(X[:k], Y[:k], *rows, alpha, center, zero_pad, score_method)
        if alpha == 0.0 and held_out:  # parts outside the span: refused at alpha = 0, as before
            with pytest.raises(ParameterError, match="alpha=0"):
                est.distance(*rows)
            continue
        _same_distance(est.distance(*rows), want, score_method)


def test_wide_fits_decompose_no_unit_by_unit_matrix(monkeypatch):
    """200 and 150 units, 12 training stimuli: every eigen- or singular value decomposition in a fit,
    held-out scoring, pairwise_distances, split_distance and shape_bootstrap is at most 24 wide
    (the data's own rows), none 150 x 200: the cost grows as n^2 p, not p^3."""
    from neuroxr.geometry import split_distance
    from neuroxr.geometry.inference import shape_bootstrap

    X, Y, k = _null_space_pair(n=24, px=200, py=150, seed=43)
    widths = []
    for name in ("eigh", "eigvalsh", "svd"):
        orig = getattr(np.linalg, name)
        monkeypatch.setattr(np.linalg, name, lambda a, *args, _f=orig, **kw: widths.append(min(np.shape(a)[-2:])) or _f(a, *args, **kw))
    ids = np.array([f"s{i:02d}" for i in range(24)])
    for alpha in (0.5, 1.0):
        LinearMetric(alpha=alpha).fit(X[:k], Y[:k]).distance(X[k:], Y[k:])
        pairwise_distances([X[:k], Y[:k]], [X[k:], Y[k:]], alpha=alpha, scheduler="sync")
        split_distance(features(X, stimulus_id=ids), features(Y, stimulus_id=ids), alpha=alpha)
        shape_bootstrap(X, Y, alpha=alpha, n_boot=2, n_perm=2)
    assert widths and max(widths) <= 24


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_wide_fit_keeps_the_full_alignment_maps(alpha):
    """``Wx_``, ``Wy_`` of a wide fit (built on first use) score as transform does: ``(X - mx_) Wx_``,
    ``p_x + p_y - r`` wide as the unreduced maps."""
    from neuroxr.kernels.shape import shape_score

    X, Y, k = _null_space_pair(n=24, px=30, py=20, seed=44)
    est = LinearMetric(alpha=alpha, score_method="euclidean").fit(X[:k], Y[:k])
    tX, tY = (X[k:] - est.mx_) @ est.Wx_, (Y[k:] - est.my_) @ est.Wy_
    r = X.shape[1] + Y.shape[1] - est.Wx_.shape[1]
    assert r == np.linalg.matrix_rank(X[:k] - est.mx_) == 11  # paired: the training spans' common rank
    assert shape_score(tX, tY, "euclidean") == pytest.approx(est.distance(X[k:], Y[k:]), rel=1e-10)
    assert shape_score(tX, tY, "euclidean") == pytest.approx(_unreduced(X[:k], Y[:k], X[k:], Y[k:], alpha, True, True, "euclidean"),
                                                             rel=1e-10)


def test_wide_torch_arrays_give_the_numpy_answer():
    torch = pytest.importorskip("torch")
    X, Y, k = _null_space_pair(n=24, px=30, py=20, seed=45)
    for alpha in (0.0, 0.5):
        ref = LinearMetric(alpha=alpha).fit(X[:k], Y[:k])
        got = LinearMetric(alpha=alpha).fit(torch.tensor(X[:k]), torch.tensor(Y[:k]))
        assert got.distance(torch.tensor(X[:k]), torch.tensor(Y[:k])) == pytest.approx(ref.distance(X[:k], Y[:k]), abs=1e-7)
        if alpha:
            assert got.distance(torch.tensor(X[k:]), torch.tensor(Y[k:])) == pytest.approx(ref.distance(X[k:], Y[k:]), rel=1e-10)


# ---------------------------------------------------------------------------- edge cases
def _netrep_uncentred_angle(X, Y):
    """Procrustes angle of uncentred ``X``, ``Y`` (scipy): ``arccos(||X^T Y||_* / (|X| |Y|))``."""
    p = max(X.shape[1], Y.shape[1])
    X, Y = np.pad(X, ((0, 0), (0, p - X.shape[1]))), np.pad(Y, ((0, 0), (0, p - Y.shape[1])))
    R, _ = orthogonal_procrustes(X, Y)
    return math.acos(np.sum((X @ R) * Y) / (np.linalg.norm(X) * np.linalg.norm(Y)))


def test_shape_metrics_refuse_too_few_stimuli_for_a_shape():
    """2 centred stimuli lie on one line (every angular distance 0): refused by the fit, the
    pairwise distances and the bootstrap in one form; uncentred, 2 stimuli still have a shape."""
    from neuroxr.geometry.inference import shape_bootstrap

    X, Y = _rand(2, 5, 0), _rand(2, 4, 1)
    line = r"2 stimuli on dim 'stimulus'; a shape metric needs at least 3 \(with 2, the centred stimuli lie on one line"
    for call, start in ((lambda: LinearMetric().fit(X, Y), "LinearMetric: X and Y"),
                        (lambda: LinearMetric(score_method="euclidean").fit_distance(X, Y), "LinearMetric: X and Y"),
                        (lambda: pairwise_distances([X, Y], scheduler="sync"), "pairwise_distances: train_data"),
                        (lambda: shape_bootstrap(X, Y, n_boot=3), "shape_bootstrap: X and Y")):
        with pytest.raises(LayoutError, match=rf"^{start}: {line}.*; pass representations of at least 3 stimuli\.$"):
            call()
    got = LinearMetric(center_columns=False).fit_distance(X, Y)
    assert got == pytest.approx(_netrep_uncentred_angle(X, Y), rel=1e-10) and got > 0.01
    with pytest.raises(LayoutError, match=r"^LinearMetric: X and Y: 1 stimulus on dim 'stimulus'; a shape metric with "
                                          r"center_columns=False needs at least 2; "):
        LinearMetric(center_columns=False).fit(X[:1], Y[:1])


def test_procrustes_average_refuses_a_constant_network_naming_it():
    ids = [f"s{i}" for i in range(20)]
    good = features(_rand(20, 4, 2), stimulus_id=ids, model="net", layer="l1")
    for values in (np.full((20, 4), 0.7), np.tile(near_constant(20)[:, None], (1, 4))):
        const = features(values, stimulus_id=ids, model="net", layer="l2")
        with pytest.raises(LayoutError, match=r"^procrustes_average: data\[1\] \(net/l2\): no variance across the stimuli on "
                                              r"dim 'stimulus' \(constant up to rounding\); .*; drop it from data\.$"):
            procrustes_average([good, const])
        with pytest.raises(LayoutError, match=r"^procrustes_average: data\['b'\]: no variance"):
            procrustes_average({"a": good.values, "b": const.values})
    with pytest.raises(LayoutError, match=r"^procrustes_average: data\[0\]: no variance .* \(all zero\)"):
        procrustes_average([np.zeros((20, 4)), good.values], center_columns=False)
    ones = procrustes_average([np.ones((20, 4)), good.values], center_columns=False)  # uncentred: a shape
    assert np.isfinite(ones.values).all()
    rng = np.random.default_rng(1)  # procrustes_kmeans averages its clusters: it refuses the same network
    nets = {"a": good.values, "b": np.full((20, 4), 0.7), "c": rng.standard_normal((20, 4))}
    with pytest.raises(LayoutError, match=r"^procrustes_kmeans: Xs\['b'\]: no variance across the stimuli .*; drop it from Xs\.$"):
        procrustes_kmeans(nets, 2)


def test_procrustes_average_is_in_the_first_networks_basis():
    """Permuting the first network's units permutes the average's columns (labelled dim0..); for
    networks sharing a shape, another network first gives the same average up to a rotation."""
    nets = [_rand(25, 4, s) for s in range(3)]
    M = procrustes_average(nets)
    perm = [2, 0, 3, 1]
    Mp = procrustes_average([nets[0][:, perm], *nets[1:]])
    np.testing.assert_allclose(Mp.values, M.values[:, perm], atol=1e-8)
    assert list(Mp.unit_id.values) == ["dim0", "dim1", "dim2", "dim3"]
    rng = np.random.default_rng(19)
    X = rng.standard_normal((25, 4))
    noisy = [X @ np.linalg.qr(rng.standard_normal((4, 4)))[0] + 0.3 * rng.standard_normal((25, 4)) for _ in range(3)]
    M, other = procrustes_average(noisy).values, procrustes_average(noisy[::-1]).values
    R, _ = orthogonal_procrustes(other, M)
    np.testing.assert_allclose(other @ R, M, atol=1e-8)


def test_bool_features_are_read_as_numbers_by_every_shape_function():
    from neuroxr.geometry import split_distance

    rng = np.random.default_rng(5)
    ids = [f"s{i:02d}" for i in range(30)]
    B = rng.standard_normal((30, 6)) > 0
    Y = rng.standard_normal((30, 4))
    Xf, Yd = (features(v, stimulus_id=ids) for v in (B.astype(float), Y))
    Xb = Xf.copy(data=B)  # (features() reads bool as float64)
    np.testing.assert_array_equal(split_distance(Xb, Yd).distance.values, split_distance(Xf, Yd).distance.values)
    np.testing.assert_array_equal(pairwise_distances([B, Y], scheduler="sync").values,
                                  pairwise_distances([B.astype(float), Y], scheduler="sync").values)
    assert LinearMetric().fit_distance(B, Y) == LinearMetric().fit_distance(B.astype(float), Y)


@pytest.mark.parametrize("dtype", [bool, np.int64, np.float32])
def test_every_shape_function_reads_networks_by_one_rule(dtype):
    """LinearMetric and the network lists (pairwise_distances, procrustes_average) read a network
    through one function: NumPy bool, integer and float32 as float64, so each equals its float64
    copy exactly in both paths (pairwise_distances kept float32 and scored in float32)."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 5))
    Y = X @ rng.standard_normal((5, 4)) + 0.01 * rng.standard_normal((20, 4))
    Xd, Yd = (A > 0 if dtype is bool else (3 * A).astype(dtype) for A in (X, Y))
    X64, Y64 = Xd.astype(np.float64), Yd.astype(np.float64)
    ids = [f"s{i:02d}" for i in range(20)]
    for alpha in (1.0, 0.5):
        ref = LinearMetric(alpha=alpha).fit_distance(X64, Y64)
        assert LinearMetric(alpha=alpha).fit_distance(Xd, Yd) == ref
        assert LinearMetric(alpha=alpha).fit_distance(*(features(A, stimulus_id=ids) for A in (Xd, Yd))) == ref
        assert float(pairwise_distances([Xd, Yd], alpha=alpha, scheduler="sync").values[0, 1]) == ref
        labeled = pairwise_distances([features(Xd, stimulus_id=ids, model="a"), features(Yd, stimulus_id=ids, model="b")],
                                     alpha=alpha, scheduler="sync")
        assert float(labeled.values[0, 1]) == ref
    np.testing.assert_array_equal(procrustes_average([Xd, Yd]).values, procrustes_average([X64, Y64]).values)


@pytest.mark.requires_torch
def test_torch_networks_are_read_alike_by_linear_metric_and_pairwise_distances():
    """Torch networks keep their floating dtype in both paths (float32 scored in float32 alike) and
    bool ones are read as float64, as their float64 copy."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((20, 5)), rng.standard_normal((20, 4))
    X32, Y32 = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    assert float(pairwise_distances([X32, Y32], scheduler="sync").values[0, 1]) == LinearMetric().fit_distance(X32, Y32)
    B = torch.tensor(X > 0)
    ref = LinearMetric().fit_distance(torch.tensor(X > 0, dtype=torch.float64), torch.tensor(Y))
    assert LinearMetric().fit_distance(B, torch.tensor(Y)) == ref
    assert float(pairwise_distances([B, torch.tensor(Y)], scheduler="sync").values[0, 1]) == ref


def test_shape_bootstrap_reads_networks_as_the_other_shape_functions():
    """shape_bootstrap reads its inputs through the shape functions' one reader: text is refused in
    one line naming the argument (it raised NumPy's ValueError), bool as its float64 copy."""
    from neuroxr.geometry.shape_inference import shape_bootstrap

    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((12, 4)), rng.standard_normal((12, 3))
    with pytest.raises(LayoutError, match=r"^shape_bootstrap: X: expected a \(stimulus, unit\) array of real numbers; got ndarray"):
        shape_bootstrap(np.array([["a"] * 4] * 12), Y, n_boot=3)
    B = X > 0
    np.testing.assert_array_equal(shape_bootstrap(B, Y, n_boot=5).distance_boot.values,
                                  shape_bootstrap(B.astype(np.float64), Y, n_boot=5).distance_boot.values)


def test_geometry_modules_stay_under_600_lines_and_shape_keeps_its_helpers():
    """The project keeps modules under ~600 lines: shape's input helpers live in
    geometry._shape_inputs, and the names other modules import from shape are those objects."""
    import pathlib

    from neuroxr.geometry import _shape_inputs, shape

    root = pathlib.Path(shape.__file__).parent
    long = {p.name: n for p in root.glob("*.py") if (n := len(p.read_text().splitlines())) >= 600}
    assert long == {}
    for name in ("_as_network_list", "_check_finite", "_network_array", "_trial_averaged", "check_shape_stimuli"):
        assert getattr(shape, name) is getattr(_shape_inputs, name)


def _warned(record, prefix):
    return [str(w.message) for w in record if str(w.message).startswith(prefix)]


def test_a_constant_input_warns_naming_it_where_the_distance_is_nan():
    """LinearMetric, split_distance and pairwise_distances warn, as cka does (warn_constant), when a
    constant input makes the distance NaN; one warning per call, none for a number (Euclidean)."""
    import warnings

    from neuroxr.errors import NeuroxrWarning
    from neuroxr.geometry import split_distance

    ids = [f"s{i:02d}" for i in range(20)]
    A, B = features(_rand(20, 5, 1), ids, name="a"), features(np.full((20, 4), 0.3), ids, name="b")
    calls = {"LinearMetric": [lambda: LinearMetric().fit_distance(A, B), lambda: LinearMetric().fit(A, B).distance(A, B),
                              lambda: LinearMetric(alpha=0.5).fit(A[:12], B[:12]).distance(A[12:], B[12:])],
             "split_distance": [lambda: split_distance(A, B)["distance"].values],
             "pairwise_distances": [lambda: pairwise_distances({"a": A, "b": B}, test_data={"a": A, "b": B})["test"].values]}
    for caller, fns in calls.items():
        for fn in fns:
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                out = fn()
            assert np.isnan(out).any()
            got = _warned(rec, f"{caller}: ")
            assert len(got) == 1 and issubclass(rec[0].category, NeuroxrWarning), [str(w.message) for w in rec]
            named = "train_data['b'] and test_data['b'] have" if caller == "pairwise_distances" else "Y (b) has"
            assert got[0].startswith(f"{caller}: {named} constant features") and "shape distance is undefined" in got[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert LinearMetric(score_method="euclidean").fit_distance(A, B) > 0  # a number: no warning


def test_partial_whitening_is_documented_as_scale_dependent():
    """0 < alpha < 1 changes with the data's units at ordinary scales (not only below the 1e-7 floor); alpha 0 and 1 do not."""
    X, Y = _rand(40, 5, 1), _rand(40, 4, 2)
    for alpha, invariant in ((0.0, True), (0.5, False), (1.0, True)):
        d = [LinearMetric(alpha=alpha).fit_distance(X, c * Y) for c in (0.1, 1.0, 100.0)]
        assert np.allclose(d, d[1], rtol=1e-9) == invariant
    doc = " ".join(LinearMetric.__doc__.split())
    assert "for ``0 < alpha < 1`` the distance changes with the data's units at any scale" in doc


def test_unit_counts_and_network_lists_are_refused_in_one_line():
    """A different unit count than the fit (plain arrays), held-out networks on other units, a
    train_data that is not a list/dict, and zero_pad=False with unequal widths: one-line errors
    naming the function and what to do."""
    from neuroxr.geometry import split_distance

    X, Y = _rand(15, 5, 1), _rand(15, 4, 2)
    fitted = LinearMetric().fit(X, Y)
    for call in (lambda: fitted.distance(X[:, :3], Y), lambda: fitted.transform(X, Y[:, :2])):
        with pytest.raises(LayoutError, match=r"^LinearMetric: [XY] has [32] units \(columns, dim 'unit'\) but was fitted "
                                              r"with [54]; pass the units"):
            call()
    with pytest.raises(LayoutError, match=r"^pairwise_distances: test_data\[0\] has 2 units \(columns, dim 'unit'\), "
                                          r"train_data\[0\] 5; give each network's held-out stimuli"):
        pairwise_distances([X, Y], test_data=[X[:, :2], Y])
    for bad in (5, X):
        with pytest.raises(LayoutError, match=r"^pairwise_distances: train_data must be a list, tuple or dict of networks"):
            pairwise_distances(bad)
    ids = [f"s{i:02d}" for i in range(15)]
    for caller, call in (("LinearMetric", lambda: LinearMetric(zero_pad=False).fit(X, Y)),
                         ("pairwise_distances", lambda: pairwise_distances([X, Y], zero_pad=False)),
                         ("split_distance", lambda: split_distance(features(X, ids), features(Y, ids), zero_pad=False))):
        with pytest.raises(LayoutError, match=rf"^{caller}: the representations have 5 and 4 columns"):
            call()


def test_a_constant_networks_distance_to_itself_is_nan_in_pairwise_distances():
    """Its training distance to every other network was NaN but to itself 0 (as store_cka's diagonal
    was 1): a mean over the matrix counted an undefined network as identical to itself."""
    import warnings

    ids = [f"s{i:02d}" for i in range(20)]
    nets = {"a": features(_rand(20, 5, 1), ids, name="a"), "b": features(np.full((20, 4), 0.3), ids, name="b"),
            "c": features(_rand(20, 3, 2), ids, name="c")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = pairwise_distances(nets, scheduler="sync")
        both = pairwise_distances(nets, test_data=nets, scheduler="sync")
    for M in (D.values, both["train"].values, both["test"].values):
        assert np.isnan(M[1]).all() and np.isnan(M[:, 1]).all() and M[0, 0] == 0 and M[2, 2] == 0
    assert LinearMetric().fit_distance(nets["b"], nets["b"]) != LinearMetric().fit_distance(nets["b"], nets["b"])  # NaN too


# ---------------------------------------------------------------------------- feature scale
def _scale_pair():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5))
    return X, X @ rng.normal(size=(5, 4)) + 0.5 * rng.normal(size=(30, 4))


@pytest.mark.parametrize("scale, verb", [(1e160, "overflow"), (1e-160, "fall below"), (1e300, "overflow"), (1e-300, "fall below")])
def test_shape_metrics_refuse_networks_whose_squares_leave_the_range(scale, verb):
    """Networks beyond about 1e+-154 gave NaN distances with NumPy's overflow warning only: refused in
    one line naming the function, the network and the way out (kernels.gram_rows.check_range)."""
    from neuroxr.geometry import split_distance
    from neuroxr.geometry.shape_inference import shape_bootstrap

    X, Y = _scale_pair()
    pat = rf"the features' squared norms {verb} float64's normal range .* (X|train_data\[0\]) / abs\(\1\)\.max\(\)"
    for call, start in ((lambda: LinearMetric().fit(X * scale, Y), "LinearMetric: X"),
                        (lambda: LinearMetric().fit_distance(X * scale, Y), "LinearMetric: X"),
                        (lambda: pairwise_distances([X * scale, Y]), r"pairwise_distances: train_data\[0\]"),
                        (lambda: split_distance(features(X * scale), features(Y)), r"split_distance: X \(features\)"),
                        (lambda: shape_bootstrap(features(X * scale), features(Y), n_boot=5), r"shape_bootstrap: X \(features\)")):
        with pytest.raises(LayoutError, match=rf"^{start}: {pat}") as e:
            call()
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("scale", [1e-150, 1e-100, 1e100, 1e150])
def test_angular_shape_distances_are_scale_free_within_the_range(scale):
    X, Y = _scale_pair()
    d0 = LinearMetric().fit_distance(X, Y)
    assert LinearMetric().fit_distance(X * scale, Y) == pytest.approx(d0, rel=1e-12)
    assert float(pairwise_distances([X * scale, Y]).values.max()) == pytest.approx(d0, rel=1e-12)


def test_a_gram_in_split_distance_is_refused_as_by_the_other_shape_functions():
    """split_distance called a Gram Dataset "not a labeled DataArray" and pointed to LinearMetric for plain
    arrays, where the other shape functions say a Gram holds no representation to align."""
    from neuroxr.geometry import gram, split_distance

    ids = np.array([f"s{i:02d}" for i in range(14)])
    X = features(_rand(14, 3, 40), stimulus_id=ids, model="net", layer="l1")
    Y = features(_rand(14, 4, 41), stimulus_id=ids, model="net", layer="l2")
    with pytest.raises(LayoutError, match=r"^split_distance: Y \(net/l2\) is a Dataset \(a Gram\); the shape metrics align"):
        split_distance(X, gram(Y))
    with pytest.raises(LayoutError, match=r"^split_distance: X \(net/l1\) is a Dataset \(a Gram\)"):
        split_distance(gram(X), Y)


def test_procrustes_kmeans_refuses_too_few_stimuli_in_its_own_name():
    """Two stimuli were refused by the pairwise_distances procrustes_kmeans calls, the message naming that
    function and its train_data."""
    Xs = [_rand(2, 3, 50), _rand(2, 3, 51)]
    with pytest.raises(LayoutError, match=r"^procrustes_kmeans: Xs: 2 stimuli on dim 'stimulus'; a shape metric needs at least 3"):
        procrustes_kmeans(Xs, 1)
    assert procrustes_kmeans(Xs, 1, center_columns=False).label.values.tolist() == [0, 0]


def test_an_rdm_given_as_a_network_is_refused_by_every_shape_function():
    """A labeled RDM (stimulus, stimulus_) had its columns read as units: LinearMetric, pairwise_distances and
    shape_bootstrap returned a distance between RDMs without a word (split_distance failed on the pairing of its
    stimulus_id_). A 4-D array (images) was told it needs at least one stimulus and one unit."""
    from neuroxr.geometry import rdm, split_distance
    from neuroxr.geometry.shape_inference import shape_bootstrap

    ids = np.array([f"s{i:02d}" for i in range(12)])
    X = features(_rand(12, 3, 60), stimulus_id=ids, model="net", layer="l1")
    Y = features(_rand(12, 4, 61), stimulus_id=ids, model="net", layer="l2")
    D = rdm(Y).rename("rdm_l2")
    said = r"has dims \('stimulus', 'stimulus_'\), an RDM \(or similarity matrix\); the shape metrics align"
    calls = {"LinearMetric: Y": lambda: LinearMetric().fit(X, D), "LinearMetric: X": lambda: LinearMetric().fit_distance(D, Y),
             "pairwise_distances: train_data\\[1\\]": lambda: pairwise_distances([X, D]),
             "procrustes_average: data\\['b'\\]": lambda: procrustes_average({"a": X, "b": D}),
             "split_distance: Y": lambda: split_distance(X, D), "shape_bootstrap: X": lambda: shape_bootstrap(D, Y, n_boot=3)}
    for prefix, call in calls.items():
        with pytest.raises(LayoutError, match=rf"^{prefix}( \(rdm_l2\))? {said}"):
            call()
    fitted = LinearMetric().fit(X, Y)
    with pytest.raises(LayoutError, match=rf"^LinearMetric: Y \(rdm_l2\) {said}"):
        fitted.distance(X, D)
    with pytest.raises(LayoutError, match=r"^split_distance: X \(img\) has shape \(12, 2, 2, 3\); a shape metric compares 2-D "
                                          r"\(stimulus, unit\) representations: flatten the other dims into units first"):
        split_distance(xr.DataArray(_rand(12, 12, 62).reshape(12, 2, 2, 3), dims=("stimulus", "y", "x", "rgb"),
                                    coords={"stimulus_id": ("stimulus", ids)}, name="img"), Y)


def test_time_resolved_responses_are_told_to_select_a_bin_by_every_shape_metric():
    """LinearMetric, pairwise_distances and procrustes_average told time-resolved responses to flatten
    their other dims (repeats and bins) into units, and their trial averages (stimulus, neuroid,
    time_bin) to average their repeats: either gave a distance between bins mixed as units."""
    from neuroxr import neural

    ids = [f"s{i:02d}" for i in range(12)]
    X = features(_rand(12, 3, 80), stimulus_id=ids, model="net", layer="l1")
    R = neural(_rand(12, 4 * 3 * 2, 81).reshape(12, 4, 3, 2), stimulus_id=ids, time_bins=[(0, 50), (50, 100)], name="v4")
    said = r"\(v4\) is time-resolved \(dim 'time_bin', 2 bins\) but static responses .* select one bin, e\.g\. "
    for A in (R, R.mean("repeat")):  # trials, or their averages per bin
        calls = {"LinearMetric: Y": lambda A=A: LinearMetric().fit(X, A),
                 "LinearMetric: X": lambda A=A: LinearMetric().fit_distance(A, X),
                 "pairwise_distances: train_data\\[1\\]": lambda A=A: pairwise_distances([X, A]),
                 "procrustes_average: data\\[1\\]": lambda A=A: procrustes_average([X, A])}
        for prefix, call in calls.items():
            with pytest.raises(LayoutError, match=rf"^{prefix} {said}"):
                call()
    one = R.isel(time_bin=0, drop=True).mean("repeat").rename(neuroid="unit", neuroid_id="unit_id")
    assert np.isfinite(LinearMetric().fit_distance(X, one))  # the bin selected (and averaged): scored


def test_no_array_beside_a_labeled_network_is_refused_naming_what_it_got():
    """None (or a number) beside a labeled network was said to have -1 stimuli (rows)."""
    from neuroxr.geometry.shape_inference import shape_bootstrap

    Y = features(_rand(12, 4, 70), stimulus_id=[f"s{i:02d}" for i in range(12)], model="net", layer="l2")
    with pytest.raises(LayoutError, match=r"^shape_bootstrap: X: expected a \(stimulus, unit\) array or a labeled DataArray; got None\.$"):
        shape_bootstrap(None, Y, n_boot=3)
    with pytest.raises(LayoutError, match=r"^pairwise_distances: train_data\[1\]: expected a \(stimulus, unit\) array .*; got 3\.0\.$"):
        pairwise_distances([Y, 3.0])
    assert pairwise_distances([Y, Y.values]).values[0, 1] == pytest.approx(0.0, abs=1e-7)


def test_shape_bootstrap_scores_a_resample_constant_on_its_draws_as_a_constant_input():
    """A representation that varies at one stimulus only is constant on every resample without it: those
    resamples scored the rounding of its rotated rows as a shape (angles near 1.4, none undefined), where
    LinearMetric on the resampled data and cka_bootstrap's resamples are undefined."""
    import warnings

    from neuroxr.geometry.shape_inference import shape_bootstrap

    rng = np.random.default_rng(5)
    X = rng.standard_normal((10, 4))
    Y = np.ones((10, 14))  # wide: the resamples are fitted in its rotated row coordinates
    Y[0, 0] = 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = shape_bootstrap(X, Y, n_boot=40, seed=1)
        ref = np.array([LinearMetric().fit_distance(X[i], Y[i]) if np.unique(i).size >= 3 else np.nan
                        for i in res.boot_index.values])
        eu = shape_bootstrap(X, Y, n_boot=40, seed=1, score_method="euclidean")
    without = ~(res.boot_index.values == 0).any(axis=1)
    assert without.sum() > 3 and np.isnan(res.distance_boot.values[without]).all()
    np.testing.assert_allclose(res.distance_boot.values, ref, rtol=1e-9, atol=1e-7)  # NaN where the loop's is
    assert int(res.n_boot_undefined) == int(np.isnan(ref).sum())
    for b in np.flatnonzero(without):  # a constant input is scored as a zero one: Euclidean, the other's norm
        Xi = X[res.boot_index.values[b]]
        assert eu.distance_boot.values[b] == pytest.approx(np.linalg.norm(Xi - Xi.mean(axis=0)), rel=1e-10)


def test_linear_metric_names_the_network_with_repeats_or_other_rows():
    """LinearMetric given neural responses (stimulus, neuroid, repeat) said it 'needs two 2-D representations ...; got
    shapes (12, 4) and (12, 3, 2)', naming neither network nor the fix; now the refusal every shape function gives
    (average the repeats first), and unlabeled networks of other row counts are named with their counts.
    effective_dimensionality of time-resolved responses names them by their label, as cka does."""
    from neuroxr import neural
    from neuroxr.geometry import effective_dimensionality

    X, R = _rand(12, 4, 1), np.random.default_rng(2).standard_normal((12, 3, 2))
    with pytest.raises(LayoutError, match=r"^LinearMetric: Y has shape \(12, 3, 2\), neural responses with repeats; average them "
                                          r"first \(e\.g\. Y\.mean\('repeat'\)\)"):
        LinearMetric().fit_distance(X, R)
    with pytest.raises(LayoutError, match=r"^LinearMetric: X has 12 stimuli \(rows\) and Y 10; pass representations of the same "
                                          r"stimuli"):
        LinearMetric().fit(X, X[:10])
    with pytest.raises(LayoutError, match=r"^LinearMetric: X has 5 stimuli \(rows\) and Y 6;"):
        LinearMetric().fit(X, X).distance(X[:5], X[:6])
    T = neural(R, stimulus_id=[f"s{i}" for i in range(12)], name="v4").expand_dims(time_bin=2)
    with pytest.raises(LayoutError, match=r"^effective_dimensionality: obj \(v4\) is time-resolved"):
        effective_dimensionality(T.transpose("stimulus", "neuroid", "repeat", "time_bin"))
    from neuroxr.errors import NeuroxrWarning

    with pytest.warns(NeuroxrWarning, match=r"^effective_dimensionality: obj \(v4\) is neural data \(stimulus, neuroid, repeat\); "
                                            r"its repeats are averaged"):
        effective_dimensionality(T.isel(time_bin=0, drop=True))


def test_procrustes_average_says_when_it_stops_before_converging():
    """procrustes_average returned its last iterate without a word when max_iter ended the iteration with a change still
    above tol; it warns then, and not when the iteration converges."""
    from neuroxr.errors import NeuroxrWarning

    Xs = [_rand(25, 4, s) for s in (3, 4, 5)]  # unrelated networks: many iterations
    with pytest.warns(NeuroxrWarning, match=r"^procrustes_average: the Procrustes average did not converge in max_iter=2 "
                                            r"iterations \(its last relative change .* is above tol=1e-10\)"):
        short = procrustes_average(Xs, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = procrustes_average(Xs, max_iter=10_000)
    # the converged average: each network rotated onto it averages back to it (its fixed point)
    M = full.values
    rotated = [X - X.mean(0) for X in Xs]
    rotated = [R @ orthogonal_procrustes(R, M)[0] for R in rotated]
    np.testing.assert_allclose(np.mean(rotated, axis=0), M, atol=1e-8)
    assert not np.allclose(short.values @ short.values.T, M @ M.T, atol=1e-8)
    # procrustes_kmeans' centroids (100 iterations, no option of its own): told so, not to pass a max_iter
    rng = np.random.default_rng(0)
    nets = [rng.standard_normal((25, 4)) for _ in range(8)]
    with pytest.warns(NeuroxrWarning, match=r"^procrustes_kmeans: the Procrustes average did not converge .*the last iterate: "
                                            r"networks without a shared shape converge slowly\.$"):
        procrustes_kmeans(nets, 2, random_state=0)


def test_a_pandas_dataframe_is_read_as_its_values_by_every_shape_function():
    """A pandas DataFrame (stimulus rows, unit columns) failed in every shape function with array-API-compat's
    'DataFrame is not a supported array type'; it is read as its values, as a NumPy array is (beside a labeled
    network: in that network's stimulus order as given)."""
    pd = pytest.importorskip("pandas")
    from neuroxr.geometry.inference import shape_bootstrap

    X, Y = _rand(15, 4, 7), _rand(15, 3, 8)
    lab = features(X, stimulus_id=[f"s{i:02d}" for i in range(15)][::-1])  # ids in reverse: the canonical order differs
    frame = pd.DataFrame(Y, columns=["a", "b", "c"])
    assert LinearMetric().fit_distance(X, frame) == pytest.approx(LinearMetric().fit_distance(X, Y), rel=1e-12)
    want = pairwise_distances([lab, Y]).values
    np.testing.assert_allclose(pairwise_distances([lab, frame]).values, want, rtol=1e-12)
    np.testing.assert_allclose(pairwise_distances([pd.DataFrame(X), frame]).values, want, rtol=1e-12)
    boot = shape_bootstrap(lab, frame, n_boot=4, seed=1)
    np.testing.assert_allclose(boot["distance_boot"].values, shape_bootstrap(lab, Y, n_boot=4, seed=1)["distance_boot"].values,
                               rtol=1e-12)
    np.testing.assert_allclose(procrustes_average([lab, frame]).values, procrustes_average([lab, Y]).values, rtol=1e-12)
    assert list(procrustes_kmeans([lab, frame, Y], 2, random_state=0).label.values) == \
        list(procrustes_kmeans([lab, Y, Y], 2, random_state=0).label.values)


def _netrep_metrics():
    """netrep's metrics module where it is installed (from its source tree; CI has none), else None."""
    try:
        import netrep.metrics as nm
    except ImportError:
        return None
    return nm


def test_pairwise_distances_warns_when_alpha_0_whitens_a_network_to_every_direction_of_its_stimuli():
    """With alpha=0 a network of at least n - 1 units is whitened to every centred direction of its n training
    stimuli: its training distances depend on the other network alone, 0 between two such networks (netrep's too),
    which came without a word. pairwise_distances warns naming them; narrower networks and alpha > 0 say nothing."""
    from neuroxr.errors import NeuroxrWarning

    n = 10
    wide1, wide2, narrow = _rand(n, 12, 1), _rand(n, 9, 2), _rand(n, 3, 3)
    nm = _netrep_metrics()
    if nm is not None:  # netrep, where installed (from its source tree): the degenerate distances are its own
        assert nm.LinearMetric(alpha=0.0).fit_score(wide1, wide2) < 1e-6
        ref = nm.LinearMetric(alpha=0.0).fit_score(wide1, narrow)
        assert nm.LinearMetric(alpha=0.0).fit_score(wide2, narrow) == pytest.approx(ref, rel=1e-8)  # blind to the wide one
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LinearMetric(alpha=0.0).fit_distance(wide1, narrow)
        assert LinearMetric(alpha=0.0).fit(wide2, narrow).distance(wide2, narrow) == pytest.approx(ref, rel=1e-8)
    with pytest.warns(NeuroxrWarning, match=r"^pairwise_distances: with alpha=0 \(full whitening\) train_data\['w1'\], "
                                            r"train_data\['w2'\] span every direction of the 10 training stimuli"):
        D = pairwise_distances({"w1": wide1, "w2": wide2, "n": narrow}, alpha=0.0)
    assert D.sel(network="w1", network_="n").item() == pytest.approx(ref, rel=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairwise_distances({"n": narrow, "m": _rand(n, 4, 4)}, alpha=0.0)
        pairwise_distances({"w1": wide1, "w2": wide2}, alpha=0.5)


def test_fit_distance_warns_when_alpha_0_whitens_a_network_to_every_direction_of_its_stimuli():
    """pairwise_distances' warning, where LinearMetric.fit_distance came without a word: netrep's fit_score of
    two such networks is 0 and ours equals it; labeled networks are named by their labels; narrower networks and
    alpha > 0 say nothing. (split_distance refuses such a network: its test stimuli lie outside the span.)"""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.geometry import split_distance

    n = 10
    wide1, wide2, narrow = _rand(n, 12, 1), _rand(n, 9, 2), _rand(n, 3, 3)
    with pytest.warns(NeuroxrWarning, match=r"^LinearMetric: with alpha=0 \(full whitening\) X, Y span every direction "
                                            r"of the 10 training stimuli"):
        got = LinearMetric(alpha=0.0).fit_distance(wide1, wide2)
    nm = _netrep_metrics()
    assert got < 1e-6 and (nm is None or got == pytest.approx(nm.LinearMetric(alpha=0.0).fit_score(wide1, wide2), abs=1e-6))
    ids = [f"s{i:02d}" for i in range(n)]
    Xw, Xn = features(_rand(n, 14, 5), ids, name="wide"), features(_rand(n, 3, 6), ids, name="narrow")
    with pytest.warns(NeuroxrWarning, match=r"^LinearMetric: with alpha=0 \(full whitening\) X \(wide\) spans every"):
        LinearMetric(alpha=0.0).fit_distance(Xw, Xn)
    with pytest.raises(ParameterError, match=r"^split_distance: alpha=0 \(full whitening\) is undefined"):
        split_distance(features(_rand(2 * n, 14, 5), [f"t{i:02d}" for i in range(2 * n)]),
                       features(_rand(2 * n, 3, 6), [f"t{i:02d}" for i in range(2 * n)]), alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearMetric(alpha=0.0).fit_distance(narrow, _rand(n, 4, 4))
        LinearMetric(alpha=0.5).fit_distance(wide1, wide2)
