"""Labeled geometry API: RDMs by stimulus_id, lazy Grams, cRSA/eRSA/eReg, ceilings, CKA, dimensionality,
NumPy / rsatoolbox RDM inputs, NaN rules and invariance to the stimulus order."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
import xarray as xr
from conftest import near_constant
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata, spearmanr

from neuroxr import LayoutError, StudyStore, features, neural
from neuroxr import geometry as geo
from neuroxr.errors import NeuroxrWarning, ParameterError
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.splits import draw_permutation, split_means


def _data(n=24, p=40, k=10, T=4, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, p))
    W = rng.standard_normal((p, k)) / np.sqrt(p)
    R = (F @ W)[:, :, None] + 0.5 * rng.standard_normal((n, k, T))
    ids = np.array([f"img{i:02d}" for i in range(n)])
    return features(F, stimulus_id=ids, model="net", layer="l1"), neural(R, stimulus_id=ids)


def _sklearn_oof(X, Y, alpha=0.1, n_folds=10, seed=0):
    from sklearn.linear_model import Ridge

    P = np.zeros_like(Y)
    for tr, te in kfold_indices(X.shape[0], n_folds, seed):
        P[te] = Ridge(alpha=alpha).fit(X[tr], Y[tr]).predict(X[te])
    return P


def test_rdm_is_labeled_and_matches_pdist():
    F, R = _data()
    D = geo.rdm(F, "correlation")
    assert D.dims == geo.RDM_DIMS
    np.testing.assert_array_equal(D.stimulus_id.values, F.stimulus_id.values)
    np.testing.assert_array_equal(D.stimulus_id_.values, F.stimulus_id.values)
    np.testing.assert_allclose(D.values, squareform(pdist(F.values, "correlation")), atol=1e-12)
    Dn = geo.rdm(R, "euclidean")
    np.testing.assert_allclose(Dn.values, squareform(pdist(R.mean("repeat").values, "euclidean")), atol=1e-12)


def test_rdm_of_neural_drops_neuroids_without_data():
    F, R = _data()
    R = R.copy()
    R[3, 2, :] = np.nan
    with pytest.warns(NeuroxrWarning, match="1 of 10 neuroids"):
        D = geo.rdm(R)
    ref = squareform(pdist(np.delete(R.mean("repeat").values, 2, axis=1), "correlation"))
    np.testing.assert_allclose(D.values, ref, atol=1e-12)


def test_compare_rdms_pairs_by_stimulus_id():
    F, R = _data()
    a = geo.rdm(F)
    b = geo.rdm(R)
    shuffled = geo.rdm(R.isel(stimulus=np.random.default_rng(1).permutation(R.sizes["stimulus"])))
    ref = spearmanr(squareform(a.values, checks=False), squareform(b.values, checks=False))[0]
    assert geo.compare_rdms(a, shuffled, "spearman") == pytest.approx(ref, rel=1e-12)
    with pytest.raises(LayoutError, match="missing"):
        geo.compare_rdms(a, b.isel(stimulus=slice(1, None), stimulus_=slice(1, None)))


def test_compare_rdms_many_labeled():
    F, R = _data()
    A = [geo.rdm(F, m) for m in ("correlation", "cosine")]
    B = [geo.rdm(R), geo.rdm(R, "euclidean")]
    M = geo.compare_rdms_many(A, B, "pearson")
    assert M.dims == ("rdm_a", "rdm_b") and M.shape == (2, 2)
    assert float(M[1, 0]) == pytest.approx(float(geo.compare_rdms(A[1], B[0], "pearson")), rel=1e-12)


def test_streaming_gram_from_store_equals_in_memory(tmp_path):
    store = StudyStore(tmp_path / "s.zarr")
    rng = np.random.default_rng(2)
    ids = np.array([f"s{i}" for i in range(15)])
    wide = features(rng.standard_normal((15, 70)) + 1.0, stimulus_id=ids)
    narrow = features(rng.standard_normal((15, 6)), stimulus_id=ids)
    store.write_features("net", "wide", wide, unit_chunk=16)
    store.write_features("net", "narrow", narrow, unit_chunk=4)
    for layer, F in (("wide", wide), ("narrow", narrow)):
        lazy = store.read_features("net", layer)
        assert lazy.chunks is not None
        for method in ("correlation", "cosine", "euclidean"):
            np.testing.assert_allclose(geo.rdm(lazy, method).values, geo.rdm(F, method).values, atol=1e-10)
        g = geo.gram(lazy)
        np.testing.assert_allclose(g["K"].values, geo.gram(F)["K"].values, atol=1e-10)
        np.testing.assert_allclose(geo.rdm(g, "correlation").values, geo.rdm(F, "correlation").values, atol=1e-10)


def test_geometry_has_no_store_functions():
    assert not {"cached_gram", "store_cka", "store_dimensionality"} & set(geo.__all__)


def test_cka_and_dimensionality_against_definitions():
    rng = np.random.default_rng(3)
    ids = np.array([f"s{i}" for i in range(20)])
    A = rng.standard_normal((20, 8))
    B = A @ rng.standard_normal((8, 5)) + 0.3 * rng.standard_normal((20, 5))
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    ref = np.linalg.norm(Ac.T @ Bc) ** 2 / (np.linalg.norm(Ac.T @ Ac) * np.linalg.norm(Bc.T @ Bc))
    # the second representation in another stimulus order: paired by stimulus_id
    assert geo.cka(features(A, stimulus_id=ids), features(B[::-1], stimulus_id=ids[::-1])) == pytest.approx(ref, rel=1e-10)
    assert geo.cka(geo.gram(features(A, stimulus_id=ids)), features(B, stimulus_id=ids)) == pytest.approx(ref, rel=1e-10)
    lam = np.linalg.eigvalsh(np.cov(A, rowvar=False))
    assert geo.effective_dimensionality(features(A, stimulus_id=ids)) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-10)


def test_crsa_score_and_ceiling():
    F, R = _data(T=6)
    ds = geo.crsa(F, R, "correlation", "spearman", reps=4, seed=3)
    model = pdist(F.values, "correlation")
    brain = pdist(R.mean("repeat").values, "correlation")
    assert float(ds["score"]) == pytest.approx(spearmanr(model, brain)[0], rel=1e-12)
    # the ceiling: split halves drawn from default_rng(seed), Spearman-Brown corrected
    rng = np.random.default_rng(3)
    rs = []
    for _ in range(4):
        perm = np.arange(6)
        rng.shuffle(perm)
        h1 = R.values[:, :, perm[:3]].mean(2)
        h2 = R.values[:, :, perm[3:]].mean(2)
        r = spearmanr(pdist(h1, "correlation"), pdist(h2, "correlation"))[0]
        rs.append(2 * r / (1 + r))
    assert float(ds["ceiling"]) == pytest.approx(np.mean(rs), rel=1e-12)
    assert ds.attrs["rdm_method"] == "correlation" and ds.attrs["seed"] == 3
    with pytest.raises(LayoutError, match="trial-averaged"):
        geo.crsa(F, R.isel(repeat=[0]), noise_ceiling=True)
    assert "ceiling" not in geo.crsa(F, R.isel(repeat=[0]), noise_ceiling=False)
    assert "ceiling" not in geo.crsa(F, R.isel(repeat=[0]))  # the automatic ceiling needs 2 repeats


def test_a_split_half_ceiling_is_computed_once_per_responses_and_parameters(monkeypatch):
    """cRSA of one neural set against several layers (a sweep's entries) draws the same split halves
    each time: the ceiling is computed once, with the same numbers and warnings; other values, another
    label, seed or method compute it anew."""
    from neuroxr.geometry import rdm_ceiling

    monkeypatch.setattr(rdm_ceiling, "_CEILINGS", type(rdm_ceiling._CEILINGS)())
    calls, real = [], rdm_ceiling._split_half_rdms
    monkeypatch.setattr(rdm_ceiling, "_split_half_rdms", lambda *a, **k: calls.append(1) or real(*a, **k))
    F, R = _data(T=6)
    G = F.copy(data=np.random.default_rng(9).normal(size=F.shape))
    R = R.copy(data=R.values.copy())
    a, b = geo.crsa(F, R, reps=3, seed=1), geo.crsa(G, R, reps=3, seed=1)
    assert len(calls) == 1
    assert float(a["ceiling"]) == float(b["ceiling"]) and float(a["score"]) != float(b["score"])
    fresh = geo.split_half_rdm_ceiling(R, reps=3, seed=1)
    assert len(calls) == 2 and float(fresh["ceiling"]) == pytest.approx(float(a["ceiling"]), rel=1e-12)  # another caller
    flat = R.copy(data=R.values.copy())
    flat.values[0] = 1.0  # stimulus 0 the same on every neuroid: its pairs are NaN, a warning each time
    with pytest.warns(NeuroxrWarning, match="stimulus pairs have a NaN dissimilarity"):
        geo.split_half_rdm_ceiling(flat, reps=3, seed=1)
    with pytest.warns(NeuroxrWarning, match="stimulus pairs have a NaN dissimilarity"):
        geo.split_half_rdm_ceiling(flat, reps=3, seed=1)
    assert len(calls) == 3
    R2 = R.copy(data=R.values.copy())
    R2.values[1, 1, 1] += 1.0
    geo.crsa(F, R2, reps=3, seed=1)
    geo.crsa(F, R, reps=3, seed=2)
    geo.crsa(F, R, reps=3, seed=1, rdm_method="euclidean")
    geo.crsa(F, R.rename("other"), reps=3, seed=1)
    assert len(calls) == 7
    again = geo.crsa(G, R, reps=3, seed=1)
    assert len(calls) == 7 and again.identical(b)


def test_crsa_ceiled_score_is_nan_for_a_ceiling_not_positive():
    rng = np.random.default_rng(0)  # pure noise: the neural RDM's split halves disagree
    F, R = features(rng.normal(size=(10, 3))), neural(rng.normal(size=(10, 2, 3)))
    with pytest.warns(NeuroxrWarning, match="ceiled_score is NaN"):
        ds = geo.crsa(F, R, compare_method="pearson")
    halves = geo.split_half_rdms(R, "correlation", seed=0, reps=10)
    r = [np.corrcoef(squareform(h[0], checks=False), squareform(h[1], checks=False))[0, 1] for h in halves.values]
    assert float(ds["ceiling"]) == pytest.approx(np.mean([2 * x / (1 + x) for x in r]), rel=1e-10) and float(ds["ceiling"]) < 0
    assert np.isnan(float(ds["ceiled_score"]))  # score / ceiling would flip the sign of the score
    F, R = _data(T=6)  # a positive ceiling divides as before
    ds = geo.crsa(F, R, "correlation", "spearman", reps=4, seed=3)
    assert float(ds["ceiled_score"]) == float(ds["score"]) / float(ds["ceiling"])


def test_crsa_says_ceiled_score_is_nan_for_a_ceiling_of_minus_infinity():
    """Split halves that rank their 3 pairs in opposite orders (r = -1) give the Spearman-Brown ceiling
    -inf, whose NaN ceiled_score was said for a finite ceiling <= 0 only."""
    rng = np.random.default_rng(4)  # 3 stimuli, 1 neuroid: some reps' halves rank the pairs oppositely
    R, F = neural(rng.standard_normal((3, 1, 4))), features(rng.standard_normal((3, 4)))
    halves = geo.split_half_rdms(R, "euclidean", seed=0, reps=4).values
    r = np.array([spearmanr(squareform(h[0], checks=False), squareform(h[1], checks=False))[0] for h in halves])
    assert (r == -1).any() and (r > -1).any()
    with pytest.warns(NeuroxrWarning, match=r"^crsa: the split-half noise ceiling of the neural RDM is -inf <= 0 .*ceiled_score is NaN"):
        ds = geo.crsa(F, R, "euclidean", reps=4)
    assert float(ds["ceiling"]) == -np.inf and np.isnan(float(ds["ceiled_score"]))


def test_split_half_rdm_ceiling_is_minus_infinity_when_every_rep_is():
    """The mean over reps follows the directions' rule for their reliabilities (-inf counts, NaN reps are
    left out): halves ranking the pairs oppositely in every rep gave a NaN ceiling, in some reps -inf."""
    from neuroxr.predictivity._result import reliable_targets

    rng = np.random.default_rng(6)  # 3 stimuli, 1 neuroid: every rep's halves rank the 3 pairs oppositely
    R, F = neural(rng.standard_normal((3, 1, 4))), features(rng.standard_normal((3, 4)))
    halves = geo.split_half_rdms(R, "euclidean", seed=0, reps=3).values
    r = np.array([spearmanr(squareform(h[0], checks=False), squareform(h[1], checks=False))[0] for h in halves])
    assert (r == -1).all()
    ds = geo.split_half_rdm_ceiling(R, "euclidean", reps=3)
    assert (ds["ceiling_per_rep"].values == -np.inf).all() and float(ds["ceiling"]) == -np.inf
    # the directions judge a target with these reliabilities by the same mean: below any threshold
    assert not reliable_targets([ds["ceiling_per_rep"].values[None]], -1e300)[0]
    with pytest.warns(NeuroxrWarning, match=r"^crsa: the split-half noise ceiling of the neural RDM is -inf <= 0"):
        out = geo.crsa(F, R, "euclidean", reps=3)
    assert float(out["ceiling"]) == -np.inf and np.isnan(float(out["ceiled_score"]))


def test_rdm_noise_ceiling_nili_bounds():
    rng = np.random.default_rng(4)
    base = rng.random(45)
    V = np.stack([base + 0.3 * rng.random(45) for _ in range(5)])
    ds = geo.rdm_noise_ceiling(V, "spearman")
    ranks = np.stack([rankdata(v) for v in V])
    upper = [spearmanr(V[i], ranks.mean(0))[0] for i in range(5)]
    lower = [spearmanr(V[i], np.delete(ranks, i, 0).mean(0))[0] for i in range(5)]
    assert float(ds["upper"]) == pytest.approx(np.mean(upper), rel=1e-12)
    assert float(ds["lower"]) == pytest.approx(np.mean(lower), rel=1e-12)
    assert float(ds["lower"]) < float(ds["upper"])
    z = (V - V.mean(1, keepdims=True)) / V.std(1, keepdims=True)
    dp = geo.rdm_noise_ceiling(V, "pearson")
    assert float(dp["upper"]) == pytest.approx(np.mean([np.corrcoef(V[i], z.mean(0))[0, 1] for i in range(5)]), rel=1e-12)
    # labeled RDMs, one of them in a different stimulus order
    ids = np.array([f"s{i}" for i in range(10)])
    rdms = [xr.DataArray(squareform(v), dims=geo.RDM_DIMS, coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)}) for v in V]
    rdms[2] = rdms[2].isel(stimulus=slice(None, None, -1), stimulus_=slice(None, None, -1))
    dl = geo.rdm_noise_ceiling(rdms, "spearman")
    assert float(dl["lower"]) == pytest.approx(float(ds["lower"]), rel=1e-12)


def test_ersa_train_and_test_scores():
    pytest.importorskip("neuroxr.kernels.ridge")
    from sklearn.linear_model import Ridge

    F, R = _data(n=40)
    ds = geo.ersa(F, R, n_folds=5, seed=1)
    X, Y = F.values, R.mean("repeat").values
    perm = np.random.default_rng(1).permutation(40)
    te, tr = np.sort(perm[:20]), np.sort(perm[20:])
    P_tr = _sklearn_oof(X[tr], Y[tr], n_folds=5)
    P_te = Ridge(alpha=0.1).fit(X[tr], Y[tr]).predict(X[te])
    ref_tr = spearmanr(pdist(P_tr, "correlation"), pdist(Y[tr], "correlation"))[0]
    ref_te = spearmanr(pdist(P_te, "correlation"), pdist(Y[te], "correlation"))[0]
    assert float(ds["train_score"]) == pytest.approx(ref_tr, rel=1e-8)
    assert float(ds["test_score"]) == pytest.approx(ref_te, rel=1e-8)
    assert (ds["split"].values == "test").sum() == 20


def test_ereg_projects_then_scores():
    pytest.importorskip("neuroxr.kernels.ridge")
    from sklearn.random_projection import SparseRandomProjection

    F, R = _data(n=30, p=200)
    ds = geo.ereg(F, R, n_components=20, seed=2)
    units = np.argsort(F["unit_id"].values.astype(str), kind="stable")  # the projection reads the units by id
    Xp = SparseRandomProjection(n_components=20, random_state=2).fit_transform(F.values[:, units])
    Y = R.mean("repeat").values
    P = _sklearn_oof(Xp, Y)
    r = [np.corrcoef(P[:, j], Y[:, j])[0, 1] for j in range(Y.shape[1])]
    np.testing.assert_allclose(ds["r"].values, r, rtol=1e-8)
    assert ds.attrs["n_components"] == 20 and ds.attrs["projected"] == 1
    with pytest.raises(ValueError, match="n_components"):
        geo.ereg(F, R, n_components=-3)
    with pytest.raises(ParameterError, match=r"^ereg: eps=0.3 has no effect with n_components=20 \(it sets the Johnson-Lindenstrauss dimension"):
        geo.ereg(F, R, n_components=20, eps=0.3)  # eps only sizes n_components='auto'


@pytest.mark.parametrize("fn", ["ereg", "ersa"])
def test_an_alpha_that_shrinks_the_fits_to_the_training_means_is_said(fn):
    """eReg's r and eRSA's train_score at an alpha far above the features' scale measured the folds' training
    means (each leaving out the stimulus's own response), silently: with features unrelated to the responses,
    eReg's mean r was well below 0. One warning says so; an ordinary alpha says nothing."""
    import warnings

    F, R = _data(n=60)
    noise = F.copy(data=np.random.default_rng(9).standard_normal(F.shape))  # features unrelated to the responses
    call = getattr(geo, fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        call(F, R, alpha=0.1)
    with pytest.warns(NeuroxrWarning, match=rf"^{fn}( \(train_score\))?: alpha=1e\+06 shrinks the ridge fits towards "
                                            r"the training means: .* Pass a smaller alpha\.$"):
        ds = call(noise, R, alpha=1e6)
    if fn == "ereg":  # the artefact the warning names: scikit-learn's out-of-fold ridge gives the same negative r
        Y = R.mean("repeat").values
        P = _sklearn_oof(noise.values, Y, alpha=1e6)
        r = [np.corrcoef(P[:, j], Y[:, j])[0, 1] for j in range(Y.shape[1])]
        np.testing.assert_allclose(ds["r"].values, r, rtol=1e-6)
        assert np.mean(r) < -0.1


def test_rdm_method_validation_in_labeled_api():
    F, R = _data()
    with pytest.raises(ValueError, match=r"^rdm: method must be one of"):
        geo.rdm(F, "mahalanobis")
    with pytest.raises(ValueError, match=r"^crsa: compare_method must be one of \('pearson', 'spearman', 'kendall', 'cosine'\)"):
        geo.crsa(F, R, compare_method="tau-b")


_BAD_PARAMS = [
    (lambda F, R: geo.crsa(F, R, reps=0), "reps must be an integer >= 1"),
    (lambda F, R: geo.crsa(F, R, seed=-1), "seed must be an integer >= 0"),
    (lambda F, R: geo.split_half_rdm_ceiling(R, reps=0), "reps must be an integer >= 1"),
    (lambda F, R: geo.ersa(F, R, test_size=1.0), "^ersa: test_size must be a float in \\(0, 1\\)"),
    (lambda F, R: geo.ersa(F, R, fold_seed=2**33), r"fold_seed must be an integer in \[0, 4294967295\]"),
    (lambda F, R: geo.ereg(F, R, n_components=0), "^ereg: n_components must be 'auto' or a positive int"),
    (lambda F, R: geo.ersa(F, R, alpha=np.inf), "alpha must be a finite non-negative number; got inf"),
    (lambda F, R: geo.ereg(F, R, alpha=-1.0), "alpha must be a finite non-negative number"),
    (lambda F, R: geo.ereg(F, R, eps=2.0), "^ereg: eps must be a float in"),
    (lambda F, R: geo.crsa(F, R.isel(repeat=[0]), noise_ceiling=True), "or noise_ceiling=False"),
]


@pytest.mark.parametrize("call, message", _BAD_PARAMS)
def test_bad_geometry_parameters_are_one_line_errors(call, message):
    from neuroxr.errors import NeuroxrError

    F, R = _data()
    with pytest.raises(NeuroxrError, match=message):
        call(F, R)


@pytest.mark.parametrize("bad", [dict(n_folds=1), dict(n_folds=2.5), dict(fold_seed=-1), dict(fold_seed=2**33)])
def test_fold_parameters_are_refused_as_the_directions_refuse_them(bad):
    """eRSA, eReg and the predictivity directions share one fold check: the same one-line message."""
    from neuroxr.errors import NeuroxrError
    from neuroxr.predictivity import forward

    F, R = _data()
    with pytest.raises(NeuroxrError) as want:
        forward(F, R, **bad)
    for call in (geo.ersa, geo.ereg):
        with pytest.raises(NeuroxrError) as got:
            call(F, R, **bad)
        # the same message after the function called
        assert str(got.value).removeprefix(f"{call.__name__}: ") == str(want.value).removeprefix("forward: ")
        assert str(got.value).startswith(f"{call.__name__}: ")


def test_fewer_stimuli_than_folds_names_the_inputs():
    F, R = _data(n=16)
    with pytest.raises(LayoutError, match=r"^ereg: neural/features: too few stimuli for the folds: 16 stimuli cannot be "
                       r"split into n_folds=20 folds\. Use fewer folds or more stimuli\.$"):
        geo.ereg(F, R, n_folds=20)
    with pytest.raises(LayoutError, match=r"^ersa: neural/features \(training stimuli\): too few stimuli for the folds: "
                       r"8 stimuli cannot be split into n_folds=10 folds\."):
        geo.ersa(F, R)


def test_too_few_stimuli_for_a_split_is_a_layout_error():
    F, R = _data(n=5)
    with pytest.raises(LayoutError, match=r"^ersa: too few stimuli \(5\) for a train/test split"):
        geo.ersa(F, R)


def test_compare_rdms_several_methods_labeled():
    F, R = _data()
    a = geo.rdm(F)
    b = geo.rdm(R.isel(stimulus=np.random.default_rng(2).permutation(R.sizes["stimulus"])))
    res = geo.compare_rdms(a, b, ["pearson", "spearman", "tau-a", "cosine"])
    assert isinstance(res, xr.DataArray) and res.dims == ("comparison",)
    assert list(res["comparison"].values) == ["pearson", "spearman", "kendall", "cosine"]
    for m in ("pearson", "spearman", "kendall", "cosine"):
        assert float(res.sel(comparison=m)) == pytest.approx(float(geo.compare_rdms(a, b, m)), rel=1e-12)
    # pairing by stimulus_id also holds when only the columns are permuted
    cols = b.isel(stimulus_=np.random.default_rng(3).permutation(b.sizes["stimulus_"]))
    assert geo.compare_rdms(a, cols, "kendall") == pytest.approx(float(res.sel(comparison="kendall")), rel=1e-12)


def test_rdm_of_a_gram_dataset_leaves_it_untouched():
    F, _ = _data()
    g = geo.gram(F)
    K = g["K"].values.copy()
    D = geo.rdm(g)
    np.testing.assert_array_equal(g["K"].values, K)
    np.testing.assert_allclose(D.values, geo.rdm(F).values, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ stimulus order: every draw by stimulus_id
def _shuffled(da, seed):
    return da.isel(stimulus=np.random.default_rng(seed).permutation(da.sizes["stimulus"]))


def test_canonical_order_and_split_depend_on_ids_only():
    ids = np.array([f"img{i:02d}" for i in range(20)])
    perm = np.random.default_rng(0).permutation(20)
    np.testing.assert_array_equal(ids[perm][geo.canonical_order(ids[perm])], np.sort(ids))
    tr, te = geo.split_train_test(ids, 0.3, seed=4)
    tr_p, te_p = geo.split_train_test(ids[perm], 0.3, seed=4)
    np.testing.assert_array_equal(ids[perm][tr_p], ids[tr])  # the same stimuli, in canonical order
    np.testing.assert_array_equal(ids[perm][te_p], ids[te])
    assert te.size == 6 and np.intersect1d(tr, te).size == 0
    # an int draws over the caller's positions (default_rng(seed).permutation)
    p = np.random.default_rng(4).permutation(20)
    np.testing.assert_array_equal(geo.split_train_test(20, 0.3, seed=4)[1], np.sort(p[:6]))
    with pytest.raises(ValueError, match="test_size"):
        geo.split_train_test(ids, 1.5)


def test_permuted_stimuli_give_identical_numbers():
    F, R = _data(n=40, T=4)
    F2, R2 = _shuffled(F, 1), _shuffled(R, 2)
    for name, fn in (
        ("crsa", lambda f, r: geo.crsa(f, r, reps=3)),
        ("crsa_gram", lambda f, r: geo.crsa(geo.gram(f), r, noise_ceiling=False)),
        ("ersa", lambda f, r: geo.ersa(f, r, n_folds=4, seed=3)),
        ("ereg", lambda f, r: geo.ereg(f, r, n_components=12, n_folds=4, fold_seed=2)),
    ):
        a, b = fn(F, R), fn(F2, R2)
        for var in a.data_vars:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=f"{name}: {var}")
    with pytest.warns(NeuroxrWarning, match="repeats are averaged"):
        assert geo.cka(F, R) == geo.cka(F2, R2)
    # effective dimensionality summed its Gram in the input's row order (last bits: 3.6e-15)
    wide = F * np.linspace(0.1, 10, F.sizes["unit"]) + 30.0
    for k in range(8):
        assert geo.effective_dimensionality(_shuffled(wide, k)) == geo.effective_dimensionality(wide), k
    M = R.mean("repeat").rename(neuroid="unit", neuroid_id="unit_id")
    for alpha in (0.5, 1.0):  # (alpha=0 with more units than training stimuli is refused)
        a = geo.split_distance(F, M, seed=5, alpha=alpha)
        b = geo.split_distance(F2, _shuffled(M, 3), seed=5, alpha=alpha)
        np.testing.assert_array_equal(a["distance"].values, b["distance"].values)
        np.testing.assert_array_equal(a["stimulus_split"].values, b["stimulus_split"].values)


def test_split_distance_fits_on_train_only():
    F, R = _data(n=30)
    M = R.mean("repeat").rename(neuroid="unit", neuroid_id="unit_id")
    ds = geo.split_distance(F, M, test_size=0.4, seed=1, alpha=0.5)
    tr, te = geo.split_train_test(F.stimulus_id.values, 0.4, 1)
    est = geo.LinearMetric(alpha=0.5).fit(F.values[tr], M.values[tr])
    assert float(ds["distance"].sel(split="test")) == pytest.approx(est.distance(F.values[te], M.values[te]), rel=1e-10)
    assert float(ds["distance"].sel(split="train")) == pytest.approx(est.distance(F.values[tr], M.values[tr]), rel=1e-10)
    assert (ds["stimulus_split"].values == "test").sum() == 12 and ds.attrs["lower_is_better"] == 1


# ------------------------------------------------------------------ NumPy and rsatoolbox RDMs
def test_compare_rdms_accepts_numpy_rdms():
    F, R = _data()
    a, b = geo.rdm(F), geo.rdm(R)
    ref = spearmanr(squareform(a.values, checks=False), squareform(b.values, checks=False))[0]
    # square and condensed NumPy RDMs are taken in the stimulus order of the labeled one
    assert geo.compare_rdms(a, b.values) == pytest.approx(ref, rel=1e-12)
    assert geo.compare_rdms(a.values, squareform(b.values, checks=False)) == pytest.approx(ref, rel=1e-12)
    assert geo.compare_rdms(squareform(a.values, checks=False), b) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(LayoutError, match="n \\(n - 1\\) / 2"):
        geo.compare_rdms(a, np.ones(7))
    with pytest.raises(LayoutError, match=r"^compare_rdms: b: an RDM without stimulus ids has 5 stimuli but a \(net\.l1\) has 24"):
        geo.compare_rdms(a, b.values[:5, :5])


def test_compare_rdms_accepts_rsatoolbox_rdms():
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    F, R = _data()
    a, b = geo.rdm(F), geo.rdm(R)
    va, vb = squareform(a.values, checks=False), squareform(b.values, checks=False)
    ref = float(rsa_rdm.compare(rsa_rdm.RDMs(va[None]), rsa_rdm.RDMs(vb[None]), method="spearman")[0, 0])
    # with a stimulus_id pattern descriptor: paired by id, even in another order
    perm = np.random.default_rng(0).permutation(a.sizes["stimulus"])
    bp = b.isel(stimulus=perm, stimulus_=perm)
    labeled = rsa_rdm.RDMs(squareform(bp.values, checks=False)[None], pattern_descriptors={"stimulus_id": list(bp.stimulus_id.values)})
    assert geo.compare_rdms(a, labeled) == pytest.approx(ref, rel=1e-10)
    # without one: the order of the other RDM is assumed
    assert geo.compare_rdms(rsa_rdm.RDMs(va[None]), b) == pytest.approx(ref, rel=1e-10)
    two = rsa_rdm.RDMs(np.stack([va, vb]))
    with pytest.raises(LayoutError, match="holds 2 RDMs"):
        geo.compare_rdms(a, two)
    M = geo.compare_rdms_many(two, [a, b], "pearson")
    assert float(M[0, 1]) == pytest.approx(float(geo.compare_rdms(a, b, "pearson")), rel=1e-12)


# ------------------------------------------------------------------ NaN rules
def test_compare_rdms_drops_incomplete_pairs():
    from scipy.stats import kendalltau, pearsonr

    rng = np.random.default_rng(7)
    va, vb = rng.random(45), rng.random(45)
    va[[3, 10]] = np.nan
    vb[20] = np.nan
    ok = ~(np.isnan(va) | np.isnan(vb))
    with pytest.warns(NeuroxrWarning, match="3 of 45 stimulus pairs"):
        res = geo.compare_rdms(va, vb, ["spearman", "pearson", "kendall"])
    assert float(res.sel(comparison="spearman")) == pytest.approx(spearmanr(va[ok], vb[ok])[0], rel=1e-12)
    assert float(res.sel(comparison="pearson")) == pytest.approx(pearsonr(va[ok], vb[ok])[0], rel=1e-12)
    n = ok.sum()
    tau_b = kendalltau(va[ok], vb[ok])[0]  # no ties: tau-a = tau-b
    assert float(res.sel(comparison="kendall")) == pytest.approx(tau_b * 1.0, rel=1e-12) and n == 42
    assert res.attrs["n_pairs_dropped"] == 3
    # the same pairs missing in both: rsatoolbox's procedure
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    vb2 = vb.copy()
    vb2[20] = rng.random()
    vb2[[3, 10]] = np.nan
    ref = float(rsa_rdm.compare(rsa_rdm.RDMs(va[None]), rsa_rdm.RDMs(vb2[None]), method="spearman")[0, 0])
    with pytest.warns(NeuroxrWarning):
        assert geo.compare_rdms(va, vb2) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize(("ours", "theirs"), [("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine")])
def test_rdm_noise_ceiling_matches_rsatoolbox_with_and_without_nan(ours, theirs):
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    from rsatoolbox.inference import boot_noise_ceiling

    rng = np.random.default_rng(8)
    base = rng.random(45)
    V = np.stack([base + 0.4 * rng.random(45) for _ in range(6)])
    for missing in ([], [4, 30]):
        W = V.copy()
        W[:, missing] = np.nan  # a pair missing in every subject (rsatoolbox's NaN procedure)
        lo, up = boot_noise_ceiling(rsa_rdm.RDMs(W), method=theirs)
        if missing:
            with pytest.warns(NeuroxrWarning):
                ds = geo.rdm_noise_ceiling(W, ours)
        else:
            ds = geo.rdm_noise_ceiling(W, ours)
        assert float(ds["lower"]) == pytest.approx(lo, rel=1e-10)
        assert float(ds["upper"]) == pytest.approx(up, rel=1e-10)


def test_cka_averages_the_repeats_of_neural_data():
    F, R = _data(T=5)
    R = R.copy()
    R[2, 1, 0] = np.nan  # a missing trial: the NaN-mean uses the others
    with pytest.warns(NeuroxrWarning, match="repeats are averaged"):
        value = geo.cka(F, R)
    M = R.mean("repeat", skipna=True).rename(neuroid="unit", neuroid_id="unit_id")
    assert value == pytest.approx(float(geo.cka(F, M)), rel=1e-12)
    with pytest.warns(NeuroxrWarning):
        assert geo.effective_dimensionality(R) == pytest.approx(float(geo.effective_dimensionality(M)), rel=1e-12)


def test_an_rdm_or_gram_with_columns_in_another_order_is_paired_by_id():
    """``rdm.isel(stimulus=perm)`` or ``sortby("stimulus_id")`` reorder one axis only: the columns are
    paired with the rows by their ids, never by position, in every comparison."""
    F, R = _data(n=20)
    G = features(F.values[:, :7] ** 2, stimulus_id=F.stimulus_id.values)
    r0, r1 = geo.rdm(F), geo.rdm(R)
    perm = np.random.default_rng(1).permutation(20)
    rows_only = r0.isel(stimulus=perm)
    ref = float(geo.compare_rdms(r0, r1, "pearson"))
    for a in (rows_only, r0.sortby("stimulus_id", ascending=False)):
        assert geo.compare_rdms(a, r1, "pearson") == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(geo.compare_rdms_many([rows_only, geo.rdm(G)], [r1], "spearman").values,
                               geo.compare_rdms_many([r0, geo.rdm(G)], [r1], "spearman").values, rtol=1e-12)
    assert float(geo.rdm_noise_ceiling([rows_only, r1, geo.rdm(G)])["lower"]) == pytest.approx(
        float(geo.rdm_noise_ceiling([r0, r1, geo.rdm(G)])["lower"]), rel=1e-12)
    g = geo.gram(F)
    assert geo.effective_dimensionality(g.isel(stimulus=perm)) == pytest.approx(float(geo.effective_dimensionality(F)), rel=1e-12)
    with pytest.raises(LayoutError, match="'stimulus_id' and 'stimulus_id_' do not name the same stimuli"):
        geo.compare_rdms(r0.assign_coords(stimulus_id_=("stimulus_", [f"x{i}" for i in range(20)])), r1)


@pytest.mark.parametrize("call, who", [
    (lambda F, R: geo.rdm(R), "rdm: obj"),
    (lambda F, R: geo.crsa(F, R, reps=2), "crsa: neural"),
    (lambda F, R: geo.ersa(F, R), "ersa: neural"),
    (lambda F, R: geo.ereg(F, R, n_components=3), "ereg: neural"),
    (lambda F, R: geo.cka(F, R), "cka: b"),
    (lambda F, R: geo.cka(R, F, debiased=True), "cka: a"),
    (lambda F, R: geo.effective_dimensionality(R), "effective_dimensionality: obj"),
    (lambda F, R: geo.split_half_rdm_ceiling(R, reps=2), "split_half_rdm_ceiling: neural"),
    (lambda F, R: geo.split_half_rdms(R, reps=2), "split_half_rdms: neural"),
    (lambda F, R: geo.split_distance(F, R), "split_distance: Y"),
    (lambda F, R: geo.anchor_weights(geo.relative_features(F, list(F.stimulus_id.values[:4])), R), "anchor_weights: neural"),
])
def test_geometry_refuses_time_resolved_responses(call, who):
    """Time-resolved responses (stimulus, neuroid, repeat, time_bin): a one-line LayoutError naming the
    array and how to select one bin, never a raw xarray error."""
    from conftest import time_sets

    F, A, _ = time_sets()
    with pytest.raises(LayoutError, match=rf"^{who}\b.*time-resolved \(dim 'time_bin', 3 bins\).*isel\(time_bin=0\)") as e:
        call(F, A)
    assert "\n" not in str(e.value)
    with pytest.warns() if who.startswith(("cka", "effective")) else nullcontext():  # "repeats are averaged"
        call(F, A.isel(time_bin=0))  # one bin: computed


@pytest.mark.parametrize("call, who", [
    (lambda F, R: geo.rdm(R), "rdm: obj"),
    (lambda F, R: geo.crsa(F, R, reps=2), "crsa: neural"),
    (lambda F, R: geo.cka(F, R), "cka: b"),
    (lambda F, R: geo.effective_dimensionality(R), "effective_dimensionality: obj"),
])
def test_geometry_refusing_one_time_bin_says_to_drop_the_dim(call, who):
    """A time-resolved array of one bin: the message says to drop the dim (it said "1 bins but one
    time bin is expected")."""
    from conftest import time_sets

    F, A, _ = time_sets()
    arg = who.rsplit(" ", 1)[-1]
    with pytest.raises(LayoutError, match=rf"^{who}\b.*time-resolved \(dim 'time_bin', 1 bin\) but static responses "
                       rf"\(no 'time_bin' dim\) are expected; drop the dim with {arg}\.isel\(time_bin=0\)") as e:
        call(F, A.isel(time_bin=[0]))
    assert "\n" not in str(e.value)


def _rdm_pair(n=30, p=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return rng, X, geo.rdm(features(X, [f"s{i:02d}" for i in range(n)]))


def test_a_square_array_is_checked_as_an_rdm_where_it_enters():
    rng, X, r = _rdm_pair()
    D = squareform(pdist(X, "correlation"))
    assert geo.compare_rdms(r, D) == pytest.approx(spearmanr(squareform(D), squareform(r.values, checks=False))[0])
    for bad, msg in [
        (np.corrcoef(X), r"^compare_rdms: b: looks like a similarity matrix .*; an RDM holds dissimilarities: pass 1 - similarity\.$"),
        (rng.standard_normal((30, 30)), r"^compare_rdms: b: an RDM is symmetric, but \d+ of its 435 pairs differ from their mirror"),
        (D + np.eye(30) * 0.5 * D.min(where=D > 0, initial=1), r"^compare_rdms: b: an RDM has a zero diagonal, but 30 of its 30"),
        (np.ones(435) * 1j, r"^compare_rdms: b: expected an RDM .* of real numbers; got ndarray of dtype complex128\.$"),
        (np.array(["a"] * 435), r"^compare_rdms: b: expected an RDM .* of real numbers; got ndarray of dtype <U1\.$"),
    ]:
        with pytest.raises(LayoutError, match=msg):
            geo.compare_rdms(r, bad)
    with pytest.raises(LayoutError, match="similarity matrix"):
        geo.as_rdm(np.corrcoef(X), "model")
    with pytest.raises(LayoutError, match=r"^rdm_noise_ceiling: rdms\[1\]: an RDM is symmetric"):
        geo.rdm_noise_ceiling(np.stack([D, D + np.triu(np.ones((30, 30)), 1)]))
    # rounding is not asymmetry; NaN at mirrored pairs and on the diagonal is missing, not wrong
    E = D * (1 + 1e-12 * np.triu(np.ones((30, 30)), 1))
    E[3, :] = E[:, 3] = np.nan
    with pytest.warns(NeuroxrWarning, match="left out of the comparison"):
        assert np.isfinite(geo.compare_rdms(r, E))
    E[3, 4] = 0.5
    with pytest.raises(LayoutError, match=r"pairs differ from their mirror .*\[3, 4\] = 0\.5, \[4, 3\] = nan"):
        geo.compare_rdms(r, E)


def test_rdms_computed_elsewhere_in_float32_or_by_the_gram_formula_are_rdms():
    """Rounding of RDMs made by other tools is not asymmetry or a non-zero diagonal: float32
    distances (as torch.cdist or 1 - corrcoef in float32 give them, here up to float32 rounding on
    each side) and Euclidean distances from the Gram formula, whose diagonal keeps sqrt(eps)."""
    rng, X, r = _rdm_pair()
    D = squareform(pdist(X, "euclidean")).astype(np.float32)
    D32 = (D * (1 + np.float32(1.2e-7) * np.sign(rng.standard_normal(D.shape)).astype(np.float32))).astype(np.float32)
    np.fill_diagonal(D32, np.float32(3e-7) * D32.max())  # 1 - z z^T in float32 leaves ~eps on the diagonal
    assert np.abs(D32 - D32.T).max() > 1e-8 * D32.max()  # the old tolerance refused it
    sq = (X * X).sum(axis=1)
    G = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0))
    for ok in (D32, D32.astype(np.float64), G):
        ref = spearmanr(squareform(r.values, checks=False), np.triu(ok, 1)[np.triu_indices(30, 1)])[0]
        assert geo.compare_rdms(r, ok) == pytest.approx(ref, abs=1e-6)


def test_comparisons_refuse_fewer_than_3_stimuli():
    f = features(np.random.default_rng(0).standard_normal((2, 5)), ["a", "b"])
    for call in (lambda: geo.compare_rdms(geo.rdm(f), geo.rdm(f)), lambda: geo.compare_rdms_many([geo.rdm(f)], [geo.rdm(f)]),
                 lambda: geo.rdm_noise_ceiling(np.ones((3, 1)))):
        with pytest.raises(LayoutError, match=r"2 stimuli \(1 pair\); comparing RDMs needs at least 3 stimuli"):
            call()


def test_cka_and_dimensionality_of_constant_inputs_warn_nan_and_degenerate_cka_is_refused():
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    const, f = features(np.ones((30, 8)), ids), features(rng.standard_normal((30, 8)), ids, model="net", layer="l1")
    with pytest.warns(NeuroxrWarning, match=r"^cka: a \(features\) has constant features .* the result is NaN"):
        assert np.isnan(geo.cka(const, f))
    with pytest.warns(NeuroxrWarning, match=r"^effective_dimensionality: obj \(features\) has constant features"):
        assert np.isnan(geo.effective_dimensionality(const))
    two = features(rng.standard_normal((2, 8)), ids[:2])
    with pytest.raises(LayoutError, match=r"^cka: a \(features\) and b \(features\): 2 stimuli on dim .stimulus.; CKA needs at least 3 \(with 2, every CKA is 1\)"):
        geo.cka(two, two)
    with pytest.raises(ParameterError, match=r"^cka: debiased must be True or False; got 'no'\."):
        geo.cka(f, f, debiased="no")
    assert geo.cka(f, f, debiased=np.bool_(True)) == geo.cka(f, f, debiased=True)


def _offset_sets(n=20, p=48, k=12, T=4, seed=6):
    """Features with per-stimulus offsets ~1e6 and neural responses with baselines ~1e4 (raw fMRI
    values): both large against the variation across units / neuroids."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    F = rng.standard_normal((n, p)) + 1e6 * rng.uniform(1, 2, (n, 1))
    R = rng.standard_normal((n, k, T)) + 1e4 * rng.uniform(1, 2, (n, 1, 1))
    return features(F, stimulus_id=ids, model="net", layer="l1"), neural(R, stimulus_id=ids)


def test_rdms_of_stimuli_with_large_offsets_match_scipy_on_every_path(tmp_path):
    """In memory, streamed from the store by unit chunks, through a Gram Dataset (of either, and
    read back from a store), and of trial-averaged neural data: within 1e-12 of scipy (correlation
    RDMs of such features were 4e-4 off before the row pass)."""
    F, R = _offset_sets()
    store = StudyStore(tmp_path / "s.zarr")
    store.write_features("net", "l1", F, unit_chunk=16)
    lazy = store.read_features("net", "l1")
    g = geo.gram(lazy)
    assert {"Kr", "ar", "r"} <= set(g.data_vars)
    g.to_zarr(tmp_path / "g.zarr")
    for method in ("correlation", "cosine"):
        ref = squareform(pdist(F.values, method))
        for how, obj in {"memory": F, "lazy": lazy, "gram": geo.gram(F), "lazy gram": g,
                         "gram read back": xr.open_zarr(tmp_path / "g.zarr").load()}.items():
            np.testing.assert_allclose(geo.rdm(obj, method).values, ref, rtol=0, atol=1e-12, err_msg=f"{method} {how}")
        np.testing.assert_allclose(geo.rdm(R, method).values, squareform(pdist(R.values.mean(2), method)), rtol=0, atol=1e-12)
    with pytest.warns(NeuroxrWarning, match="no row pass"):  # a Gram written before the row pass existed
        geo.rdm(g.drop_vars(["Kr", "ar", "r"]))


def test_crsa_and_split_half_rdms_with_large_offsets_match_scipy():
    F, R = _offset_sets()
    ds = geo.crsa(F, R, "correlation", "pearson", reps=2, seed=3)
    model, brain = pdist(F.values, "correlation"), pdist(R.values.mean(2), "correlation")
    assert float(ds["score"]) == pytest.approx(np.corrcoef(model, brain)[0, 1], rel=1e-12, abs=1e-13)
    H = geo.split_half_rdms(R, "correlation", seed=3, reps=2)
    rng = np.random.default_rng(3)  # the halves split_half_rdms averages (their rounding is the input's)
    for rep in range(2):
        halves = split_means(R.values, draw_permutation(rng, 4)[None], "slots")
        for half in (0, 1):
            ref = squareform(pdist(halves[half][0], "correlation"))
            np.testing.assert_allclose(H.values[rep, half], ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("form", ["memory", "lazy", "gram"])
def test_features_constant_up_to_rounding_are_constant_features(form):
    """Units constant but for rounding (exactly equal values whose float mean is not, values that
    differ by rounding) give NaN with the constant-features warning, as exactly constant ones do: in
    memory, streamed over unit chunks and from a Gram Dataset. Scale does not decide: tiny features vary."""
    from neuroxr.geometry.inference import cka_bootstrap

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    F = np.full((30, 20), 0.7)
    F[:, 10:] = near_constant(30)[:, None]
    f = features(rng.standard_normal((30, 8)), ids)
    as_form = {"memory": lambda x: x, "lazy": lambda x: x.chunk({"unit": 7}), "gram": geo.gram}[form]
    c = as_form(features(F, ids))
    why = r"( \(.*\))? has constant features \(no variance across the stimuli, up to rounding: .*\), so"
    with pytest.warns(NeuroxrWarning, match="^effective_dimensionality: obj" + why):
        assert np.isnan(geo.effective_dimensionality(c))
    for debiased in (False, True):
        with pytest.warns(NeuroxrWarning, match="^cka: b" + why):
            assert np.isnan(geo.cka(f, c, debiased=debiased))
    with pytest.warns(NeuroxrWarning, match="^cka_bootstrap: a" + why):
        res = cka_bootstrap(c, f, n_boot=5, n_perm=3)
    assert np.isnan(res.cka) and np.isnan(res.cka_boot).all() and np.isnan(res.cka_null).all()
    tiny = as_form(features(1e-60 * f.values, ids))
    assert geo.effective_dimensionality(tiny) == pytest.approx(float(geo.effective_dimensionality(f)), rel=1e-12)
    assert geo.cka(tiny, f) == pytest.approx(1.0, rel=1e-12)


def test_split_train_test_takes_a_labeled_array_and_names_itself():
    """A labeled array's stimulus ids are split (the same split as its ``stimulus_id``); a 2-D array
    of values is refused in one line naming the function, not an IndexError."""
    F, _ = _data()
    tr, te = geo.split_train_test(F, 0.3, seed=2)
    tr2, te2 = geo.split_train_test(F.stimulus_id.values, 0.3, seed=2)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(te, te2)
    with pytest.raises(LayoutError, match=r"^split_train_test: ids must be stimulus ids \(1-D\)"):
        geo.split_train_test(F.values)
    with pytest.raises(LayoutError, match=r"^split_train_test: too few stimuli \(5\)"):
        geo.split_train_test(5)


def test_one_large_constant_unit_is_left_out_not_the_layer():
    """A layer is constant when every unit is (each on its own squares): one constant unit at 1e8
    leaves CKA, effective dimensionality, the linear shape metric and RSA those of the layer without it
    (its centred column is zero), where it made the whole layer constant (NaN)."""
    rng = np.random.default_rng(4)
    ids = [f"s{i:02d}" for i in range(30)]
    f1, f2 = rng.standard_normal((30, 14)), rng.standard_normal((30, 9)) + rng.standard_normal((30, 14))[:, :9]
    big = f1.copy()
    big[:, 0] = 1e8
    a, b, ref = features(big, ids), features(f2, ids), features(f1[:, 1:], ids)
    assert geo.cka(a, b) == pytest.approx(float(geo.cka(ref, b)), rel=1e-9)
    assert geo.effective_dimensionality(a) == pytest.approx(float(geo.effective_dimensionality(ref)), rel=1e-9)
    assert geo.LinearMetric().fit(a, b).distance(a, b) == pytest.approx(geo.LinearMetric().fit(ref, b).distance(ref, b), rel=1e-6)
    assert geo.rdm(a, "euclidean").values == pytest.approx(geo.rdm(ref, "euclidean").values, rel=1e-6, abs=1e-6)


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")
@pytest.mark.parametrize("method", ["euclidean", "sqeuclidean", "cosine", "correlation"])
def test_rsa_of_features_or_trial_means_constant_up_to_rounding_is_nan(method):
    """Features or trial means constant up to rounding give exactly constant RDMs (every stimulus the
    mean pattern, here varying over the units), so their RSA scores are NaN, as CKA's: not
    comparisons of rounding noise."""
    rng = np.random.default_rng(5)
    n, ids = 30, [f"s{i:02d}" for i in range(30)]
    pattern = np.linspace(1.0, 2.0, 14)
    F = features(near_constant(n)[:, None] * pattern[None, :], ids)
    R = neural(rng.standard_normal((n, 6, 4)) + rng.standard_normal((n, 6))[:, :, None], ids)
    N = neural(np.broadcast_to((near_constant(n)[:, None] * pattern[None, :6])[:, :, None], (n, 6, 4)).copy(), ids)
    with np.errstate(invalid="ignore"):
        assert np.isnan(float(geo.crsa(F, R, rdm_method=method, noise_ceiling=False).score))
        assert np.isnan(float(geo.ersa(features(rng.standard_normal((n, 14)), ids), N, rdm_method=method).test_score))


def test_effective_dimensionality_of_a_cut_gram_is_that_of_the_kept_stimuli():
    """A Gram Dataset cut to some of its stimuli was centred over all of them; the participation
    ratio is that of the kept stimuli's features (numpy's covariance spectrum), as cka re-centres."""
    rng = np.random.default_rng(12)
    F = rng.normal(size=(20, 6)) * np.arange(1, 7) + 3
    ids = np.array([f"s{i:02d}" for i in range(20)])
    g = geo.gram(features(F, stimulus_id=ids))
    keep = rng.permutation(20)[:10]
    lam = np.clip(np.linalg.eigvalsh(np.cov(F[keep].T)), 0, None)
    expected = lam.sum() ** 2 / (lam ** 2).sum()
    cut = g.isel(stimulus=keep, stimulus_=keep)
    assert float(geo.effective_dimensionality(cut)) == pytest.approx(expected, rel=1e-10)
    assert float(geo.effective_dimensionality(features(F[keep], stimulus_id=ids[keep]))) == pytest.approx(expected, rel=1e-10)
    # the whole Gram is left as it is (already centred): the same bits as before
    assert float(geo.effective_dimensionality(g)) == float(geo.effective_dimensionality(features(F, stimulus_id=ids)))


def test_cka_of_a_cut_gram_constant_on_the_kept_stimuli_is_undefined():
    """A Gram cut to stimuli where the features are constant was judged on the uncentred cut: cka scored
    rounding (-0.07, no warning) and cka_bootstrap gave it a p-value; the features themselves give NaN."""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.geometry.cka_inference import cka_bootstrap

    rng = np.random.default_rng(9)
    ids = np.array([f"s{i:02d}" for i in range(30)])
    F = np.tile(rng.normal(size=10) * 5 + 3, (30, 1))
    F[0] += rng.normal(size=10)  # varies only at s00
    keep = np.arange(1, 30)
    cut = geo.gram(features(F, stimulus_id=ids)).isel(stimulus=keep, stimulus_=keep)
    other = features(rng.normal(size=(29, 12)), stimulus_id=ids[keep])
    with pytest.warns(NeuroxrWarning, match="constant features"):
        assert np.isnan(float(geo.cka(features(F[keep], stimulus_id=ids[keep]), other)))
    with pytest.warns(NeuroxrWarning, match="constant features"):
        assert np.isnan(float(geo.cka(cut, other)))
    with pytest.warns(NeuroxrWarning, match="constant features"):
        res = cka_bootstrap(cut, other, n_boot=20, n_perm=20, seed=0)
    assert np.isnan(float(res.cka)) and np.isnan(float(res.p))
    # a cut that varies: the kept stimuli's CKA, as their features give
    G = rng.normal(size=(30, 8))
    cut = geo.gram(features(G, stimulus_id=ids)).isel(stimulus=keep, stimulus_=keep)
    assert float(geo.cka(cut, other)) == pytest.approx(float(geo.cka(features(G[keep], stimulus_id=ids[keep]), other)),
                                                       rel=1e-12)


def test_the_cut_gram_check_reads_the_gram_in_row_blocks(monkeypatch):
    """Whether a Gram is centred over its rows is decided a block of rows at a time (no copy of the
    Gram: a 20,000-stimulus Gram is 3.2 GB); a whole Gram as written is known by its trace and not
    read at all; a cut one is found in any block."""
    import tracemalloc

    from neuroxr.geometry import dimensionality as dim

    rng = np.random.default_rng(3)
    F = rng.normal(size=(1200, 40))
    g = geo.gram(features(F, stimulus_id=[f"s{i:04d}" for i in range(1200)]))
    K = g["K"].values
    monkeypatch.setattr(dim, "_ROW_BLOCK", 2**16)  # 54 rows at a time
    tracemalloc.start()
    assert dim._centred_over_rows(K)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * K.nbytes
    keep = np.r_[0:1100, 1150:1200]
    assert not dim._centred_over_rows(K[np.ix_(keep, keep)])
    monkeypatch.setattr(dim, "_centred_over_rows", lambda K: pytest.fail("a whole Gram needs no check"))
    assert float(geo.effective_dimensionality(g)) > 1


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_holds_about_three_grams_at_its_peak(debiased, monkeypatch):
    """cka peaked at five n x n Grams (the two centred Grams, a second centring of each, a product); the
    Grams it builds are centred already and the Frobenius products are summed a block of rows at a time."""
    import tracemalloc

    from neuroxr.kernels import gram_measures

    monkeypatch.setattr(gram_measures, "_BLOCK", 2**15)  # blocks of 46 rows, as a large Gram's

    rng = np.random.default_rng(0)
    n = 700
    ids = [f"s{i:03d}" for i in range(n)]
    a, b = features(rng.normal(size=(n, 20)), ids), features(rng.normal(size=(n, 30)), ids)
    X, Y = a.values - a.values.mean(0), b.values - b.values.mean(0)
    K, L = X @ X.T, Y @ Y.T
    ref = (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())
    tracemalloc.start()
    value = float(geo.cka(a, b, debiased=debiased))
    peak = tracemalloc.get_traced_memory()[1] / (n * n * 8)
    tracemalloc.stop()
    assert peak < 3.5, peak
    if not debiased:
        assert value == pytest.approx(ref, rel=1e-12)


def test_the_constant_warning_says_what_up_to_rounding_means():
    """Features at a baseline of 1e7 with unit spread are constant under the one rule (a spread below
    2.4e-7 of the magnitude, about two float32 roundings): CKA is NaN. The warning said only that they
    had no variance; it says the bound and the way out (numpy on the same values gives a number)."""
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 4))
    with pytest.warns(NeuroxrWarning, match=r"up to rounding: a spread below about 2\.4e-7 of the values' magnitude in "
                                               r"float64; subtract a large baseline first if they vary\)"):
        assert np.isnan(float(geo.cka(features(X + 1e7, ids), features(Y, ids))))
    assert np.isfinite(float(geo.cka(features(X + 1e7 - 1e7, ids), features(Y, ids))))


@pytest.mark.parametrize("rdm_method", ["correlation", "euclidean"])
def test_crsa_of_unpaired_inputs_with_missing_trials_is_the_pairing_refusal(rdm_method):
    """Unpaired inputs' neuroids are not judged, so their means may hold NaN, which an RDM refuses: crsa and
    crsa_bootstrap refuse the pairing (naming their arguments) before the neural RDM is computed."""
    from neuroxr.geometry.inference import crsa_bootstrap

    rng = np.random.default_rng(2)
    ids = [f"s{i}" for i in range(7)]
    F = features(rng.standard_normal((6, 4)), stimulus_id=ids[:6])
    R = rng.standard_normal((7, 3, 2))
    R[2, 1, :] = np.nan  # a neuroid without a trial on one stimulus
    N = neural(R, stimulus_id=ids)
    pairing = r"Cannot pair by stimulus_id: 1 stimulus ids of {} are missing in features, e\.g\. \['s6'\]"
    with pytest.raises(LayoutError, match="^crsa: " + pairing.format("neural")):
        geo.crsa(F, N, rdm_method, noise_ceiling=False)
    with pytest.raises(LayoutError, match=r"^crsa_bootstrap: " + pairing.format(r"neural\[0\] \(neural\)")):
        crsa_bootstrap(F, [N, N.isel(neuroid=[0, 2])], rdm_method=rdm_method, n_boot=5)
