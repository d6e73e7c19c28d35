"""The geometry analyses at the smallest sizes a user can give (2, 3, 4 stimuli and one fewer than each
function accepts; 1 unit, 1 neuroid, 1 repeat; 1 or 2 subjects or networks; float32; parameters past
what the data allow): each result equals a reference computed here (scipy, numpy, scikit-learn,
rsatoolbox / netrep where installed), or the call is refused by a neuroxr error naming the function,
never a NumPy / SciPy / xarray traceback."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from neuroxr import features, neural
from neuroxr import geometry as geo
from neuroxr.errors import NeuroxrError, NeuroxrWarning
from neuroxr.geometry.cka_inference import cka_bootstrap
from neuroxr.geometry.inference import crsa_bootstrap, ersa_bootstrap, rsa_bootstrap, rsa_permutation
from neuroxr.geometry.shape_inference import shape_bootstrap
from neuroxr.kernels import compare as kc
from neuroxr.kernels.cka_permute import permuted_cka
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.gram_measures import linear_cka

pytestmark = pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")


def _f(n, p, seed=0, dtype=np.float64):
    X = np.random.default_rng(seed).standard_normal((n, p)).astype(dtype)
    return features(X, stimulus_id=[f"s{i}" for i in range(n)], model="m", layer="l")


def _n(n, k, t, seed=1, dtype=np.float64):
    R = np.random.default_rng(seed).standard_normal((n, k, t)).astype(dtype)
    return neural(R, stimulus_id=[f"s{i}" for i in range(n)])


def _ut(D):
    D = np.asarray(D, dtype=np.float64)
    return D[np.triu_indices(D.shape[0], 1)]


def _corr(a, b, method):
    ok = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[ok], b[ok]
    if method == "spearman":
        a, b = stats.rankdata(a), stats.rankdata(b)
    if method == "kendall":  # tau-a (no ties here)
        return stats.kendalltau(a, b)[0]
    if method == "cosine":
        return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return stats.pearsonr(a, b)[0]


def _cka(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return np.linalg.norm(X.T @ Y) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def _outcome(fn):
    """The call's value, or the neuroxr error it raised; any other exception fails the test."""
    try:
        return fn()
    except NeuroxrError as e:
        assert "\n" not in str(e).strip(), f"a refusal spans several lines: {e}"
        return e


# ------------------------------------------------------------------ no traceback at any small size

def _calls(n):
    """Every analysis at ``n`` stimuli, on the smallest inputs (1 unit / neuroid / repeat among them)."""
    F, F1, R1, R2 = _f(n, 3), _f(n, 1, 3), _n(n, 1, 1), _n(n, 3, 2)
    m = geo.rdm(F) if n else None
    subs = [geo.rdm(_n(n, 3, 1, seed=s + 2)).rename(f"sub{s}") for s in range(2)] if n else []
    return {
        "rdm": lambda: geo.rdm(F1, "euclidean"),
        "rdm_neural": lambda: geo.rdm(R1),
        "split_half_rdms": lambda: geo.split_half_rdms(R2),
        "compare_rdms": lambda: geo.compare_rdms(m, subs[0]),
        "compare_rdms_many": lambda: geo.compare_rdms_many([m], subs),
        "rdm_noise_ceiling": lambda: geo.rdm_noise_ceiling(subs),
        "split_half_rdm_ceiling": lambda: geo.split_half_rdm_ceiling(R2, rdm_method="euclidean"),
        "crsa": lambda: geo.crsa(F, R2),
        "ersa": lambda: geo.ersa(F, R2, n_folds=2),
        "ereg": lambda: geo.ereg(F, R1, n_folds=2),
        "rsa_bootstrap": lambda: rsa_bootstrap(m, subs, n_boot=2),
        "rsa_bootstrap_subjects": lambda: rsa_bootstrap(m, subs[:1], n_boot=2, over="subjects"),
        "rsa_permutation": lambda: rsa_permutation(m, subs[:1], n_perm=1),
        "crsa_bootstrap": lambda: crsa_bootstrap(F, R1, n_boot=1),
        "ersa_bootstrap": lambda: ersa_bootstrap(F, R2, n_boot=1, n_perm=1),
        "cka": lambda: geo.cka(F1, R1),
        "cka_debiased": lambda: geo.cka(F, F1, debiased=True),
        "cka_bootstrap": lambda: cka_bootstrap(F, F1, n_boot=1, n_perm=1),
        "effective_dimensionality": lambda: geo.effective_dimensionality(R1),
        "linear_metric": lambda: geo.LinearMetric().fit_distance(F1, F),
        "linear_metric_uncentred": lambda: geo.LinearMetric(center_columns=False).fit_distance(F1, F),
        "pairwise_distances": lambda: geo.pairwise_distances([F, F1]),
        "split_distance": lambda: geo.split_distance(F, F1),
        "shape_bootstrap": lambda: shape_bootstrap(F, F1, n_boot=1, n_perm=1),
        "relative_features": lambda: geo.relative_features(F1, ["s0"]),
        "anchor_weights": lambda: geo.anchor_weights(geo.relative_features(F, ["s0"]), R1),
        "gram": lambda: geo.gram(F1, dtype="float32"),
        "procrustes_average": lambda: geo.procrustes_average([F, F1]),
    }


# the fewest stimuli each analysis accepts where it is not 3: a train/test split (3 a side), the debiased
# estimator; the RDMs' and the metrics' rules where they accept fewer; the subjects' bootstrap of one subject never
_MIN = {"ersa": 6, "split_distance": 6, "ersa_bootstrap": 6, "cka_debiased": 4, "rsa_bootstrap_subjects": math.inf,
        "rdm": 1, "rdm_neural": 1, "split_half_rdms": 1, "gram": 1, "relative_features": 1, "anchor_weights": 1,
        "linear_metric_uncentred": 2, "procrustes_average": 2}
_CALLER = {"rdm_neural": "rdm", "rsa_bootstrap_subjects": "rsa_bootstrap", "cka_debiased": "cka",
           "linear_metric": "LinearMetric", "linear_metric_uncentred": "LinearMetric"}


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_analysis_answers_or_refuses_in_one_line_at_small_sizes(n):
    for name, fn in _calls(n).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _outcome(fn)
        if not isinstance(out, NeuroxrError):  # answered: at or above its minimum
            assert n >= _MIN.get(name, 3), (name, n, out)
        if isinstance(out, NeuroxrError):  # refused below the documented minimum only, naming the function called
            assert n < _MIN.get(name, 3), (name, n, str(out))
            assert str(out).startswith(_CALLER.get(name, name)), str(out)


def test_ereg_of_one_stimulus_is_refused_before_the_projection():
    """One stimulus sized a Johnson-Lindenstrauss projection of 0 components: scikit-learn's
    InvalidParameterError came out of SparseRandomProjection instead of ereg's refusal of the folds."""
    with pytest.raises(NeuroxrError, match=r"^ereg: neural/features: too few stimuli for the folds: 1 stimuli"):
        geo.ereg(_f(1, 3), _n(1, 2, 1), n_folds=2)


@pytest.mark.parametrize("n_clusters", [0, 1, 2, 3])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_clustering_and_embedding_of_one_to_three_networks(m, n_clusters):
    D = squareform(pdist(np.random.default_rng(m).standard_normal((m, 2)))) if m > 1 else np.zeros((1, 1))
    if not 1 <= n_clusters <= m:
        for fn in (geo.cluster_distances, geo.embed_distances, geo.kmeans_plusplus_init):
            with pytest.raises(NeuroxrError, match=fn.__name__):
                fn(D, n_clusters)
        return
    got = geo.cluster_distances(D, n_clusters).values
    if m > 1:  # the same partition as scipy's
        ref = fcluster(linkage(squareform(D), "average"), n_clusters, "maxclust")
        assert len(set(zip(got, ref))) == len(set(got)) == len(set(ref))
    E = geo.embed_distances(D, n_clusters).values
    if n_clusters >= m - 1:  # Euclidean distances of m points: reproduced exactly by m - 1 axes
        np.testing.assert_allclose(squareform(pdist(E)) if m > 1 else 0.0, D, atol=1e-9)


# ------------------------------------------------------------------ values against references

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("p", [1, 2])
def test_rdm_of_few_stimuli_and_units_is_scipys(n, p, dtype):
    for method in ("euclidean", "sqeuclidean", "cosine", "correlation"):
        X = _f(n, p, dtype=dtype)
        D = geo.rdm(X, method).values
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = squareform(pdist(np.asarray(X.values, dtype=np.float64), method))
        if method == "correlation" and p == 1:  # every pattern constant across one unit: undefined
            ref[~np.eye(n, dtype=bool)] = np.nan
        tol = 1e-5 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(D, ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [3, 4])
def test_comparisons_of_three_and_four_stimuli_are_scipys(n, dtype):
    a, b = geo.rdm(_f(n, 3, dtype=dtype)), geo.rdm(_f(n, 3, seed=5, dtype=dtype), "euclidean")
    for method in ("pearson", "spearman", "kendall", "cosine"):
        ref = _corr(_ut(a.values), _ut(b.values), method)
        assert float(geo.compare_rdms(a, b, method)) == pytest.approx(ref, abs=1e-6)
        assert float(geo.compare_rdms_many([a], [b], method)[0, 0]) == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("n_pairs", [0, 1])
@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall", "cosine"])
def test_kernel_compare_many_of_fewer_than_two_pairs_is_nan_as_compare_rdms(n_pairs, method):
    """RDMs of 1 or 2 stimuli (0 or 1 pair) have no comparison: compare_rdms says NaN; the batched kernel
    raised NumPy's reshape / reduction errors for 0 pairs and gave cosine 0 (0 pairs) or 1 (1 pair)."""
    a, b = np.arange(1.0, n_pairs + 1)[None], np.arange(2.0, n_pairs + 2)[None]
    assert math.isnan(kc.compare_rdms(a[0], b[0], method))
    M = kc.compare_rdms_many(np.vstack([a, 2 * a]), b, method)
    assert M.shape == (2, 1) and np.isnan(M).all()


@pytest.mark.parametrize("n_missing", [0, 1, 2])
def test_rdm_with_all_but_a_few_pairs_missing(n_missing):
    """n_missing pairs kept complete of 6 (4 stimuli): fewer than 3 complete pairs compare as NaN."""
    a, b = geo.rdm(_f(4, 3)), geo.rdm(_f(4, 3, seed=5))
    v = a.values.copy()
    iu = np.triu_indices(4, 1)
    for i, j in list(zip(*iu))[n_missing:]:
        v[i, j] = v[j, i] = np.nan
    a = a.copy(data=v)
    for method in ("pearson", "spearman", "kendall", "cosine"):
        assert np.isnan(float(geo.compare_rdms(a, b, method)))
    M = geo.compare_rdms_many([a, b], [b], "pearson").values
    assert np.isnan(M[0, 0]) and M[1, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("n", [3, 4])
def test_cka_and_dimensionality_of_three_and_four_stimuli(n):
    for dtype in (np.float64, np.float32):
        A, B = _f(n, 2, dtype=dtype), _f(n, 1, seed=4, dtype=dtype)
        assert float(geo.cka(A, B)) == pytest.approx(_cka(A.values.astype(float), B.values.astype(float)), abs=1e-6)
        Xc = A.values.astype(float) - A.values.astype(float).mean(0)
        ev = np.linalg.eigvalsh(Xc.T @ Xc)
        assert float(geo.effective_dimensionality(A)) == pytest.approx(ev.sum() ** 2 / (ev ** 2).sum(), abs=1e-6)
        assert float(geo.effective_dimensionality(B)) == pytest.approx(1.0)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("n", [3, 4])
def test_permuted_cka_of_few_stimuli_is_a_loop_over_permutations(n, debiased):
    if debiased and n < 4:
        pytest.skip("the debiased estimator needs 4 stimuli")
    X, Y = np.random.default_rng(n).standard_normal((n, 2)), np.random.default_rng(n + 9).standard_normal((n, 1))
    K, L = X @ X.T, Y @ Y.T
    perms = np.array(list(itertools.permutations(range(n))))
    ref = [float(linear_cka(K, L[np.ix_(p, p)], debiased=debiased)) for p in perms]
    np.testing.assert_allclose(permuted_cka(K, L, perms, debiased=debiased), ref, atol=1e-12)
    np.testing.assert_allclose(permuted_cka(K, L, perms[:1], debiased=debiased), ref[:1], atol=1e-12)


@pytest.mark.parametrize("n", [3, 4])
def test_shape_metric_and_its_null_at_three_and_four_stimuli(n):
    netrep = pytest.importorskip("netrep.metrics")
    X, Y = _f(n, 1), _f(n, 3, seed=3)
    for alpha in (0.0, 1.0):
        ref = netrep.LinearMetric(alpha=alpha).fit_score(np.hstack([X.values, np.zeros((n, 2))]), Y.values)
        assert geo.LinearMetric(alpha=alpha).fit_distance(X, Y) == pytest.approx(ref, abs=1e-9)
    ds = shape_bootstrap(X, Y, n_boot=2, n_perm=3)
    every = [geo.LinearMetric().fit_distance(X.values, Y.values[list(p)]) for p in itertools.permutations(range(n))]
    for v in ds["distance_null"].values:
        assert min(abs(v - e) for e in every) < 1e-9


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("n_subjects", [2, 3])
def test_noise_ceiling_of_few_stimuli_and_subjects_is_rsatoolboxs(n, n_subjects):
    rdms_mod = pytest.importorskip("rsatoolbox.rdm")
    inference = pytest.importorskip("rsatoolbox.inference")
    subs = [geo.rdm(_n(n, 3, 1, seed=s + 1)) for s in range(n_subjects)]
    R = rdms_mod.RDMs(np.stack([_ut(s.values) for s in subs]))
    for ours, theirs in (("pearson", "corr"), ("spearman", "spearman"), ("cosine", "cosine")):
        lo, up = inference.boot_noise_ceiling(R, method=theirs)
        got = geo.rdm_noise_ceiling(subs, method=ours)
        assert float(got["lower"]) == pytest.approx(lo, abs=1e-9)
        assert float(got["upper"]) == pytest.approx(up, abs=1e-9)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_rsa_bootstrap_resamples_of_few_stimuli(n):
    """A resample's score: the subjects' mean comparison over the drawn pairs of distinct stimuli (copies
    kept), NaN with fewer than 3 distinct complete pairs."""
    m = geo.rdm(_f(n, 3))
    subs = [geo.rdm(_n(n, 3, 1, seed=s + 1)).rename(f"s{s}") for s in range(2)]
    idx = np.random.default_rng(n).integers(0, n, size=(6, n))
    for method, ref_method in (("corr", "pearson"), ("spearman", "spearman"), ("cosine", "cosine")):
        got = rsa_bootstrap(m, subs, method=method, indices=idx, noise_ceiling=False)["score_boot"].values
        for row, g in zip(idx, got):
            iu = np.triu_indices(n, 1)
            keep = row[iu[0]] != row[iu[1]]
            if len({tuple(sorted(x)) for x in zip(row[iu[0]][keep], row[iu[1]][keep])}) < 3:
                assert np.isnan(g)
                continue
            ref = np.mean([_corr(s.values[np.ix_(row, row)][iu][keep], m.values[np.ix_(row, row)][iu][keep], ref_method)
                           for s in subs])
            assert g == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("n", [3, 4])
def test_rsa_permutation_of_one_permutation_and_one_subject(n):
    m, d = geo.rdm(_f(n, 3)), geo.rdm(_n(n, 3, 1, seed=2))
    ds = rsa_permutation(m, [d], n_perm=1)
    assert float(ds["score"]) == pytest.approx(_corr(_ut(m.values), _ut(d.values), "pearson"), abs=1e-12)
    null = float(ds["score_null"][0])
    every = [_corr(_ut(m.values[np.ix_(p, p)]), _ut(d.values), "pearson") for p in itertools.permutations(range(n))]
    assert min(abs(null - e) for e in every) < 1e-12
    assert float(ds["p"]) == (2.0 if null >= float(ds["score"]) else 1.0) / 2


@pytest.mark.parametrize("n,n_folds", [(3, 2), (3, 3), (4, 4)])
def test_ereg_of_three_and_four_stimuli_one_neuroid_is_sklearns(n, n_folds):
    from sklearn.linear_model import Ridge

    F, R = _f(n, 3), _n(n, 1, 1)
    X, y = F.values, R.values[:, 0, 0]
    P = np.zeros_like(y)
    for tr, te in kfold_indices(n, n_folds, 0):
        P[te] = Ridge(alpha=0.1).fit(X[tr], y[tr]).predict(X[te])
    assert float(geo.ereg(F, R, n_folds=n_folds)["r"][0]) == pytest.approx(np.corrcoef(P, y)[0, 1], abs=1e-10)
    with pytest.raises(NeuroxrError, match=r"ereg: .*folds"):
        geo.ereg(F, R, n_folds=n + 1)


@pytest.mark.parametrize("n", [2, 3])
def test_anchor_weights_of_two_and_three_stimuli_are_sklearns(n):
    from sklearn.linear_model import Ridge

    rel, R = geo.relative_features(_f(n, 3), ["s0", "s1"]), _n(n, 1, 1)
    ref = Ridge(alpha=0.1).fit(rel.values, R.values[:, 0, 0]).coef_
    np.testing.assert_allclose(geo.anchor_weights(rel, R).values[:, 0], ref, atol=1e-12)


def test_a_stimulus_with_one_valid_repeat_leaves_the_ceiling_only():
    """A stimulus missing in all repeats but one: the score without a ceiling keeps it, the ceiling
    (2 valid repeats) drops it from both, and crsa_bootstrap's score is the mean of the plain calls."""
    R = _n(5, 3, 3).copy()
    R[0, :, 1:] = np.nan
    F = _f(5, 3)
    plain = float(geo.crsa(F, R, noise_ceiling=False)["score"])
    ref = _corr(_ut(geo.rdm(F).values), _ut(squareform(pdist(np.nanmean(R.values, -1), "correlation"))), "spearman")
    assert plain == pytest.approx(ref, abs=1e-12)
    ceiled = geo.crsa(F, R)
    keep = slice(1, None)
    ref = _corr(_ut(geo.rdm(F.isel(stimulus=keep)).values),
                _ut(squareform(pdist(np.nanmean(R.values[keep], -1), "correlation"))), "spearman")
    assert float(ceiled["score"]) == pytest.approx(ref, abs=1e-12) and ceiled.attrs["n_excluded_stimuli"] == 1
    R2 = _n(5, 3, 2, seed=7)
    both = float(crsa_bootstrap(F, [R.rename("a"), R2.rename("b")], n_boot=1)["score"])
    assert both == pytest.approx(np.mean([float(geo.crsa(F, x)["score"]) for x in (R, R2)]), abs=1e-12)


def test_trial_averaged_data_without_a_repeat_dim_is_refused_naming_the_dim():
    da = xr.DataArray(np.random.default_rng(0).standard_normal((4, 2)), dims=("stimulus", "neuroid"),
                      coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(4)])})
    for fn in (lambda: geo.rdm(da), lambda: geo.crsa(_f(4, 3), da), lambda: geo.cka(_f(4, 3), da),
               lambda: geo.split_half_rdm_ceiling(da), lambda: geo.ereg(_f(4, 3), da, n_folds=2)):
        with pytest.raises(NeuroxrError, match="repeat"):
            fn()


@pytest.mark.parametrize("which", ["model", "subject"])
def test_rsa_inference_says_why_a_score_of_a_flat_rdm_is_nan(which):
    """A model or subject RDM without variance (every dissimilarity equal: 3 equidistant stimuli, a
    one-category model) has no correlation; compare_rdms says so, but rsa_permutation returned a NaN
    score and p without a word and rsa_bootstrap blamed the resamples only."""
    m, d = geo.rdm(_f(3, 3)), geo.rdm(_n(3, 3, 1, seed=2))
    flat = m.copy(data=1.0 - np.eye(3))
    model, subs = (flat, [d]) if which == "model" else (m, [flat, d])
    with pytest.warns(NeuroxrWarning, match="no variance on the pairs compared"):
        geo.compare_rdms(model, subs[0])
    for fn in (lambda: rsa_permutation(model, subs, n_perm=2), lambda: rsa_bootstrap(model, subs, n_boot=2)):
        with pytest.warns(NeuroxrWarning, match=("model_rdm" if which == "model" else r"data_rdms\[") +
                          ".* no variance on the pairs compared"):
            assert np.isnan(float(fn()["score"]))


def test_crsa_and_ersa_name_themselves_and_their_rdms_when_a_comparison_is_undefined():
    """crsa's and ersa's warnings of a NaN comparison started with 'compare_rdms:' and named RDMs 'a' / 'b',
    neither the function called nor its arguments."""
    simplex = features(0.1 * np.eye(4), stimulus_id=[f"s{i}" for i in range(4)], model="net", layer="simplex")
    with pytest.warns(NeuroxrWarning, match=r"^crsa: the RDM of features \(net/simplex\) has no variance") as rec:
        assert np.isnan(float(geo.crsa(simplex, _n(4, 3, 1), rdm_method="euclidean", compare_method="pearson")["score"]))
    assert not any(str(w.message).startswith("compare_rdms") for w in rec)
    with pytest.warns(NeuroxrWarning, match=r"^ersa: 3 of 3 stimulus pairs have a NaN") as rec:
        ds = geo.ersa(_f(6, 3), _n(6, 1, 2), n_folds=2)  # one neuroid: correlation RDMs undefined
    assert np.isnan(float(ds["train_score"])) and not any(str(w.message).startswith("compare_rdms") for w in rec)


def test_crsa_of_one_neuroid_names_the_constant_patterns_and_rdm_method():
    """cRSA of one neuroid with correlation RDMs: every pattern is constant across its one unit. crsa said only
    that all pairs were NaN ('e.g. constant patterns or missing trials'), where rdm names the stimuli and the way
    out; it now gives rdm's reason, naming crsa's own argument rdm_method."""
    with pytest.warns(NeuroxrWarning) as rec:
        assert np.isnan(float(geo.crsa(_f(6, 3), _n(6, 1, 2), noise_ceiling=False)["score"]))
    said = [str(w.message) for w in rec]
    assert any(m.startswith("crsa: neural: 6 of 6 stimuli have a pattern constant across units") and
               m.endswith("Use rdm_method='euclidean' to keep them.") for m in said), said
    assert not any("rdm_method" in m for m in said if m.startswith("crsa: features")), said
