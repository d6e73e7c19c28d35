"""Randomised parity with the reference packages at shapes the fixed-shape parity tests do not reach.

Each seed draws a small configuration (stimuli 5-60, units/neuroids 1-80, repeats 2-7; wide
designs ``p > n``, ``n`` barely above the fold count, one unit, one neuroid, odd repeat counts for
split halves, integer counts with ties, columns at very different scales, a few NaN trials) and
compares neuroxr with the reference computed here: scikit-learn ``Ridge`` / ``KFold`` (out-of-fold
predictions, docs/kernels.md "Ridge precision"), reverse_pred (the directions, DESIGN.md "parity
protocol"), scipy ``pdist`` / ``pearsonr`` / ``spearmanr`` and rsatoolbox ``compare`` (RDMs and
their comparisons, docs/geometry.md), Kornblith et al. (2019)'s CKA code and the participation
ratio written out here, and netrep ``LinearMetric`` (shape metrics at alpha 0, 0.5, 1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

import neuroxr as nx
from neuroxr.kernels.compare import compare_rdms
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.gram import gram
from neuroxr.kernels.gram_measures import effective_dimensionality, linear_cka
from neuroxr.kernels.rdm import RDM_METHODS, rdm

SEEDS = range(30)
KINDS = ("gaussian", "wide", "one_unit", "counts", "scales", "barely")


def _config(seed: int) -> dict:
    """One drawn configuration; ``seed % 6`` fixes the kind so every kind is drawn 5 times."""
    rng = np.random.default_rng([seed, 2026])
    kind = KINDS[seed % len(KINDS)]
    n_folds = int(rng.choice([2, 3, 5, 10]))
    n = int(rng.integers(max(n_folds, 5), 61))
    p = int(rng.integers(1, 81))
    if kind == "wide":
        n = int(rng.integers(max(n_folds, 5), 25))
        p = int(rng.integers(n + 1, 81))
    elif kind == "one_unit":
        p = 1
    elif kind == "barely":
        n_folds = int(rng.choice([5, 10]))
        n = n_folds + int(rng.integers(0, 3))
    return dict(kind=kind, rng=rng, n=n, p=p, n_folds=n_folds, alpha=float(rng.choice([1e-3, 0.1, 1.0, 10.0])),
                fold_seed=int(rng.integers(0, 1000)))


def _features(c: dict, n: int | None = None, p: int | None = None) -> np.ndarray:
    """Features of the configuration's kind: Gaussian with shared latents, Poisson counts with ties, or
    columns at scales 1e-3 ... 1e3."""
    rng, n, p = c["rng"], n or c["n"], p or c["p"]
    if c["kind"] == "counts":
        return rng.poisson(2.0, size=(n, p)).astype(float)
    Z = rng.normal(size=(n, 3))
    F = Z @ rng.normal(size=(3, p)) + 0.7 * rng.normal(size=(n, p))
    if c["kind"] == "scales":
        F = F * 10.0 ** rng.uniform(-3, 3, size=p)
    return F


def _ids(n: int) -> list[str]:
    return [f"s{i:03d}" for i in range(n)]  # canonical order = position, as reverse_pred pairs them


# --------------------------------------------------------------------------- ridge vs scikit-learn


def _sklearn_oof(X, Y, n_folds, fold_seed, alpha):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    P = np.full(Y.shape, np.nan)
    for tr, te in KFold(n_folds, shuffle=True, random_state=fold_seed).split(X):
        P[te] = Ridge(alpha=alpha, solver="svd").fit(X[tr], Y[tr]).predict(X[te]).reshape(len(te), -1)
    return P


@pytest.mark.parametrize("seed", SEEDS)
def test_folds_are_sklearn_kfold(seed):
    """docs/kernels.md: the folds are a RandomState(seed) shuffle cut by array_split, which is
    scikit-learn's KFold(shuffle=True, random_state=seed): the same test sets in the same order."""
    from sklearn.model_selection import KFold

    c = _config(seed)
    ours = kfold_indices(c["n"], c["n_folds"], c["fold_seed"])
    ref = list(KFold(c["n_folds"], shuffle=True, random_state=c["fold_seed"]).split(np.zeros(c["n"])))
    assert len(ours) == len(ref)
    for (tr, te), (rtr, rte) in zip(ours, ref):
        assert np.array_equal(np.sort(te), np.sort(rte)) and np.array_equal(np.sort(tr), rtr)


@pytest.mark.parametrize("seed", SEEDS)
def test_oof_ridge_equals_sklearn(seed):
    """Out-of-fold predictions equal scikit-learn's Ridge fold by fold within 1e-8 of their largest
    magnitude (docs/kernels.md "What is guaranteed", features in memory, float64), and the pooled
    out-of-fold Pearson r of each target equals scipy's on scikit-learn's predictions."""
    from neuroxr.kernels.ridge import oof_predict

    c = _config(seed)
    X = _features(c)
    k = int(c["rng"].integers(1, 6))
    Y = X[:, : min(3, X.shape[1])] @ c["rng"].normal(size=(min(3, X.shape[1]), k)) + c["rng"].normal(size=(c["n"], k))
    folds = kfold_indices(c["n"], c["n_folds"], c["fold_seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P = np.asarray(oof_predict(X, Y, folds, c["alpha"]))
    ref = _sklearn_oof(X, Y, c["n_folds"], c["fold_seed"], c["alpha"])
    scale = np.abs(ref).max()
    assert np.abs(P - ref).max() <= 1e-8 * scale, (c["kind"], c["n"], c["p"], c["alpha"])
    r_ours = [stats.pearsonr(P[:, j], Y[:, j])[0] for j in range(k)]
    r_ref = [stats.pearsonr(ref[:, j], Y[:, j])[0] for j in range(k)]
    np.testing.assert_allclose(r_ours, r_ref, atol=1e-8)


@pytest.mark.parametrize("form", ["auto", "dual"])
@pytest.mark.parametrize("seed", SEEDS)
def test_oof_ridge_from_gram_equals_sklearn(seed, form):
    """From a Gram alone (GramStats, as streamed layers): within 1e-8 of scikit-learn's out-of-fold
    predictions on well-conditioned features (docs/kernels.md "What is guaranteed"), and, where the
    Gram cannot resolve the fit, a warning says so (mixed column scales are not well-conditioned)."""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.kernels.ridge import oof_operator_from_gram

    c = _config(seed)
    X = _features(c)
    Y = c["rng"].normal(size=(c["n"], 2)) + X[:, :1] / np.abs(X[:, :1]).max()
    folds = kfold_indices(c["n"], c["n_folds"], c["fold_seed"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        P = np.asarray(oof_operator_from_gram(gram(X), folds, c["alpha"], form=form)) @ Y
    flagged = any(issubclass(w.category, NeuroxrWarning) and "precision" in str(w.message).lower() for w in caught)
    ref = _sklearn_oof(X, Y, c["n_folds"], c["fold_seed"], c["alpha"])
    err = np.abs(P - ref).max() / np.abs(ref).max()
    assert flagged or err <= 1e-8, (c["kind"], c["n"], c["p"], c["alpha"], err)


# --------------------------------------------------------------------------- RDMs vs scipy pdist


_PDIST = {"correlation": "correlation", "cosine": "cosine", "euclidean": "euclidean", "sqeuclidean": "sqeuclidean"}


@pytest.mark.parametrize("seed", SEEDS)
def test_rdm_every_method_equals_pdist(seed):
    """docs/geometry.md: RDMs are within about 1e-13 of scipy's pdist (relative to the largest
    value); integer counts' Euclidean RDMs are exact; NaN where pdist has no value."""
    c = _config(seed)
    F = _features(c)
    for method in RDM_METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = np.asarray(rdm(F, method))
            ref = squareform(pdist(F, _PDIST[method]))
        assert ours.shape == ref.shape
        assert np.array_equal(np.isnan(ours), np.isnan(ref)), (method, c["kind"])
        ok = ~np.isnan(ref)
        if ok.any():
            tol = 1e-12 * max(np.abs(ref[ok]).max(), 1e-300)
            assert np.abs(ours[ok] - ref[ok]).max() <= tol, (method, c["kind"], c["n"], c["p"])
        if c["kind"] == "counts" and method in ("euclidean", "sqeuclidean"):
            assert np.array_equal(ours, ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_rdm_with_offsets_equals_pdist(seed):
    """docs/geometry.md: correlation and cosine RDMs are within about 1e-13 of pdist also with large
    offsets (stimulus baselines 1e2-1e4; or a shared pattern 1e4 times the variation, which puts every
    distance near 1e-8: both err by ``1e-16`` absolute there, the measure's own rounding, so the bound
    is absolute); Euclidean ones relative to the largest."""
    c = _config(seed)
    rng = c["rng"]
    F = _features(c)
    rows = F + 10.0 ** rng.uniform(2, 4) * rng.uniform(0.5, 1.5, size=(c["n"], 1))
    cols = F + 1e4 * rng.normal(size=(1, c["p"]))
    for G in (rows, cols):
        for method in RDM_METHODS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = np.asarray(rdm(G, method))
                ref = squareform(pdist(G, _PDIST[method]))
            assert np.array_equal(np.isnan(ours), np.isnan(ref)), (method, c["kind"])
            ok = ~np.isnan(ref)
            if ok.any():
                tol = 1e-13 if method in ("correlation", "cosine") else 1e-12 * np.abs(ref[ok]).max()
                assert np.abs(ours[ok] - ref[ok]).max() <= tol, (method, c["kind"], c["n"], c["p"])


def _responses(c: dict, k: int, T: int, nan_frac: float = 0.05, halves_valid: bool = False) -> np.ndarray:
    """Trials ``(n, k, T)`` with a few NaN; ``halves_valid``: every split half keeps a trial (reverse_pred
    fits its halves' means with scikit-learn, which refuses NaN)."""
    rng = c["rng"]
    Z = rng.normal(size=(c["n"], 3))
    R = (Z @ rng.normal(size=(3, k)))[:, :, None] + rng.normal(size=(c["n"], k, T))
    if c["kind"] == "counts":
        R = rng.poisson(np.exp(R / 3)).astype(float)
    if halves_valid:  # fewer NaN than the smaller split half holds, in every (stimulus, neuroid)
        miss = rng.random(R.shape) < nan_frac
        miss &= np.cumsum(miss, axis=2) < T // 2
    else:
        miss = rng.random(R.shape) < nan_frac
        miss[:, :, 0] = False  # every stimulus keeps a trial
    R[miss] = np.nan
    return R


@pytest.mark.parametrize("seed", SEEDS)
def test_rdm_of_neural_data_with_nan_trials_equals_pdist_of_nanmean(seed):
    """docs/geometry.md: neural data are NaN-averaged over repeats before the RDM."""
    from neuroxr.geometry import rdm as geo_rdm

    c = _config(seed)
    k = 1 if c["kind"] == "one_unit" else min(c["p"], 40)
    T = int(c["rng"].integers(2, 8))
    R = _responses(c, k, T)
    M = np.nanmean(R, axis=2)
    for method in RDM_METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = geo_rdm(nx.neural(R, stimulus_id=_ids(c["n"])), method).values
            ref = squareform(pdist(M, _PDIST[method]))
        assert np.array_equal(np.isnan(ours), np.isnan(ref)), (method, c["kind"])
        ok = ~np.isnan(ref)
        if ok.any():
            assert np.abs(ours[ok] - ref[ok]).max() <= 1e-12 * np.abs(ref[ok]).max(), (method, c["kind"])


# --------------------------------------------------------------------------- RDM comparisons


def _tau_a(a, b):
    """Kendall's tau-a, (C - D) / (P (P - 1) / 2), by its definition over all pairs."""
    s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    P = a.size
    return s[np.triu_indices(P, 1)].sum() / (P * (P - 1) / 2)


def _rdm_pair(c: dict):
    """Two RDM vectors of the configuration: a data RDM and a model RDM (categorical for counts,
    so with heavy ties; another representation otherwise)."""
    F = _features(c)
    a = pdist(F, "euclidean") if c["kind"] == "counts" else pdist(F, "correlation" if c["p"] > 1 else "euclidean")
    if c["kind"] == "counts":
        labels = c["rng"].integers(0, 3, size=c["n"])
        b = pdist(labels[:, None].astype(float), lambda u, v: float(u[0] != v[0]))
    else:
        b = pdist(F[:, ::-1] + c["rng"].normal(size=F.shape), "euclidean")
    return a, b


@pytest.mark.parametrize("seed", SEEDS)
def test_compare_rdms_equals_scipy_and_rsatoolbox(seed):
    """docs/geometry.md: pearson, spearman (Pearson of average ranks), kendall = tau-a; scipy's
    pearsonr / spearmanr, tau-a by its definition, and rsatoolbox's corr / spearman / tau-a."""
    rsatoolbox = pytest.importorskip("rsatoolbox")
    c = _config(seed)
    a, b = _rdm_pair(c)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        pytest.skip("a constant RDM has no correlation")
    ours = compare_rdms(a, b, ["pearson", "spearman", "kendall", "cosine"])
    assert abs(ours["pearson"] - stats.pearsonr(a, b)[0]) <= 1e-12
    assert abs(ours["spearman"] - stats.spearmanr(a, b)[0]) <= 1e-12
    assert abs(ours["kendall"] - _tau_a(a, b)) <= 1e-12
    assert abs(ours["cosine"] - a @ b / np.linalg.norm(a) / np.linalg.norm(b)) <= 1e-12
    ra, rb = rsatoolbox.rdm.RDMs(a[None]), rsatoolbox.rdm.RDMs(b[None])
    for ours_name, rsa_name in (("pearson", "corr"), ("spearman", "spearman"), ("kendall", "tau-a"),
                                ("cosine", "cosine")):
        ref = float(rsatoolbox.rdm.compare(ra, rb, method=rsa_name)[0, 0])
        assert abs(ours[ours_name] - ref) <= 1e-10, (ours_name, c["kind"])
    if c["kind"] != "counts":  # without ties tau-a is tau-b (scipy's kendalltau, rsatoolbox's "kendall")
        assert abs(ours["kendall"] - stats.kendalltau(a, b)[0]) <= 1e-12


@pytest.mark.parametrize("seed", SEEDS)
def test_compare_rdms_drops_nan_pairs_as_scipy_omit(seed):
    c = _config(seed)
    a, b = _rdm_pair(c)
    a = a.copy()
    a[c["rng"].random(a.size) < 0.1] = np.nan
    ok = ~np.isnan(a)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        pytest.skip("too few or constant complete pairs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = compare_rdms(a, b, ["pearson", "spearman", "kendall"])
    assert abs(ours["pearson"] - stats.pearsonr(a[ok], b[ok])[0]) <= 1e-12
    assert abs(ours["spearman"] - stats.spearmanr(a, b, nan_policy="omit")[0]) <= 1e-12
    assert abs(ours["kendall"] - _tau_a(a[ok], b[ok])) <= 1e-12


# --------------------------------------------------------------------------- CKA and dimensionality


def _center_gram(G, unbiased):
    """Kornblith et al. (2019)'s ``center_gram`` (their published CKA code)."""
    G = G.copy()
    n = G.shape[0]
    if unbiased:
        np.fill_diagonal(G, 0)
        means = G.sum(0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        G -= means[:, None]
        G -= means[None, :]
        np.fill_diagonal(G, 0)
    else:
        means = G.mean(0)
        means -= means.mean() / 2
        G -= means[:, None]
        G -= means[None, :]
    return G


def _kornblith_cka(X, Y, debiased):
    Kx, Ky = _center_gram(X @ X.T, debiased), _center_gram(Y @ Y.T, debiased)
    return Kx.ravel() @ Ky.ravel() / (np.linalg.norm(Kx) * np.linalg.norm(Ky))


@pytest.mark.parametrize("debiased", [False, True], ids=["biased", "debiased"])
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_cka_equals_kornblith(seed, debiased):
    c = _config(seed)
    X = _features(c)
    Y = _features(c, p=int(c["rng"].integers(1, 81)))
    ours = linear_cka(gram(X), gram(Y), debiased=debiased)
    ref = _kornblith_cka(X, Y, debiased)
    assert abs(ours - ref) <= 1e-10, (c["kind"], c["n"], c["p"], Y.shape[1])


@pytest.mark.parametrize("seed", SEEDS)
def test_effective_dimensionality_equals_participation_ratio(seed):
    c = _config(seed)
    X = _features(c)
    lam = np.linalg.svd(X - X.mean(0), compute_uv=False) ** 2
    ref = lam.sum() ** 2 / (lam**2).sum()
    assert abs(effective_dimensionality(gram(X)) - ref) <= 1e-10 * ref, (c["kind"], c["n"], c["p"])


@pytest.mark.parametrize("seed", SEEDS)
def test_labeled_cka_and_dimensionality_of_neural_data_with_nan_trials(seed):
    """docs/geometry.md: neural data are NaN-averaged over repeats, then CKA and the participation
    ratio are those of the trial means (one neuroid, odd repeat counts, counts with ties)."""
    from neuroxr.geometry import cka
    from neuroxr.geometry import effective_dimensionality as geo_ed

    c = _config(seed)
    if c["n"] < 4:
        pytest.skip("the debiased estimator needs 4 stimuli")
    k = 1 if c["kind"] == "one_unit" else int(c["rng"].integers(1, 41))
    R = _responses(c, k, int(c["rng"].integers(2, 8)))
    F = _features(c)
    ids = _ids(c["n"])
    M = np.nanmean(R, axis=2)
    neural, feats = nx.neural(R, stimulus_id=ids), nx.features(F, stimulus_id=ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for debiased in (False, True):
            got = float(cka(neural, feats, debiased=debiased))
            assert abs(got - _kornblith_cka(M, F, debiased)) <= 1e-10, (c["kind"], M.shape, F.shape, debiased)
        got = float(geo_ed(neural))
    lam = _spectrum(M)
    assert abs(got - lam.sum() ** 2 / (lam**2).sum()) <= 1e-10 * got, (c["kind"], M.shape)


# --------------------------------------------------------------------------- shape metrics vs netrep


def _spectrum(A):
    """The covariance eigenvalues (unnormalised) of ``A``'s centred columns that are not null by
    construction (the top ``min(n - 1, p)``), from the SVD."""
    s = np.linalg.svd(A - A.mean(0), compute_uv=False)
    return s[: min(A.shape[0] - 1, A.shape[1])] ** 2


def _cca_distances(X, Y):
    """Exact alpha = 0 (CCA) distances with netrep's zero padding and variance-preserving scale:
    ``Xw = c_x Q_x V_x^T`` with ``c_x^2 = ||X_c||_F^2 / max(p_x, p_y)``, so ``cos = ||Q_x^T Q_y||_* /
    sqrt(r_x r_y)`` and ``d^2 = c_x^2 r_x + c_y^2 r_y - 2 c_x c_y ||Q_x^T Q_y||_*``. The bases come from
    column-standardised data (CCA does not see column scales), so no spectrum is lost to rounding."""
    width = max(X.shape[1], Y.shape[1])
    Q, c2 = [], []
    for A in (X, Y):
        Ac = A - A.mean(0)
        U, s, _ = np.linalg.svd(Ac / Ac.std(0), full_matrices=False)
        Q.append(U[:, s > s[0] * 1e-10])
        c2.append((Ac**2).sum() / width)
    nuc = np.linalg.svd(Q[0].T @ Q[1], compute_uv=False).sum()
    rx, ry = Q[0].shape[1], Q[1].shape[1]
    angular = np.arccos(min(1.0, nuc / np.sqrt(rx * ry)))
    return angular, np.sqrt(c2[0] * rx + c2[1] * ry - 2 * np.sqrt(c2[0] * c2[1]) * nuc)


def _partial_cos(X, Y, alpha):
    """Exact cosine of netrep's angular distance at ``0 < alpha < 1`` from the SVDs ``A_c = U S V^T``: its
    partial whitening ``d(l) = alpha + (1 - alpha) l^-1/2`` of the eigenvalues ``l = s^2`` gives ``A_c Z = U
    diag(alpha s + 1 - alpha) V^T`` (up to a scale the cosine does not see), and ``V`` leaves the nuclear
    norm of ``Xw^T Yw`` unchanged: no eigenvalue of ``X^T X`` resolved to ``eps`` of the largest only."""
    M = []
    for A in (X, Y):
        U, s, _ = np.linalg.svd(A - A.mean(0), full_matrices=False)
        keep = s > s[0] * 1e-12
        M.append(U[:, keep] * (alpha * s[keep] + 1 - alpha))
    nuc = np.linalg.svd(M[0].T @ M[1], compute_uv=False).sum()
    return nuc / (np.linalg.norm(M[0]) * np.linalg.norm(M[1]))


def _assert_distance(ours, ref, score_method, what):
    if score_method == "angular":  # acos near 0 and pi/2 amplifies rounding: compare cosines too
        assert abs(np.cos(ours) - np.cos(ref)) <= 1e-10 and abs(ours - ref) <= 1e-6, what
    else:
        assert abs(ours - ref) <= 1e-8 * max(1.0, abs(ref)), what


@pytest.mark.parametrize("score_method", ["angular", "euclidean"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_shape_metric_equals_netrep(seed, alpha, score_method):
    """docs/geometry.md: training distances equal netrep's LinearMetric (fit_score) at every alpha.
    At alpha = 0 the whitening needs the covariance's eigenvalues: netrep takes them from ``X^T X``,
    which resolves them to ``eps`` of the largest only, and neuroxr from the SVD where they spread
    beyond ``2^-26`` (docs/kernels.md "Shape metrics"): there the exact CCA distance is the reference,
    and so is the exact partial whitening's cosine at ``0 < alpha < 1`` (netrep's was 1e-10 off)."""
    netrep_metrics = pytest.importorskip("netrep.metrics")
    from neuroxr.geometry import LinearMetric

    c = _config(seed)
    X = _features(c)
    Y = _features(c, p=int(c["rng"].integers(1, 81)))
    what = (c["kind"], X.shape, Y.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = LinearMetric(alpha=alpha, score_method=score_method).fit_distance(X, Y)
        ref = netrep_metrics.LinearMetric(alpha=alpha, score_method=score_method).fit_score(X, Y)
    lams = [_spectrum(A) for A in (X, Y)]
    resolved = all(lam.min() >= 2.0**-26 * lam.max() for lam in lams)
    if 0 < alpha < 1 and not resolved and score_method == "angular":  # netrep's eigh errs by eps * condition
        assert abs(np.cos(ours) - _partial_cos(X, Y, alpha)) <= 1e-12, what
    elif alpha > 0 or resolved:
        _assert_distance(ours, ref, score_method, what)
    if alpha == 0 and all(lam.min() > 1e-5 for lam in lams):  # above netrep's eigenvalue floor (1e-7)
        exact = _cca_distances(X, Y)[score_method == "euclidean"]
        _assert_distance(ours, exact, score_method, what)


# --------------------------------------------------------------------------- directions vs reverse_pred


def _direction_config(seed: int) -> dict:
    """A configuration for the directions: reverse_pred's 10 folds need n >= 10 (n = 10 or 11 drawn
    a third of the time); one neuroid, one unit, wide features, odd repeat counts, counts with ties."""
    c = _config(seed)
    rng = c["rng"]
    c["n"] = int(rng.integers(10, 12)) if seed % 3 == 0 else int(rng.integers(12, 61))
    c["k"] = 1 if seed % 4 == 1 else int(rng.integers(2, 21))
    c["T"] = int(rng.integers(2, 8))
    if c["kind"] == "wide":
        c["p"] = int(rng.integers(c["n"] + 1, 81))
    return c


@pytest.fixture
def seeded_reverse_pred(monkeypatch):
    """DESIGN.md's parity protocol: reverse_pred's unseeded default_rng() returns one seeded Generator."""
    rp_cm = pytest.importorskip("reverse_pred.correlation_metrics")

    make = np.random.default_rng  # not the patched one: a second seed() makes a fresh Generator

    def seed(s):
        gen = make(s)
        monkeypatch.setattr(rp_cm.np.random, "default_rng", lambda *a, **k: gen)

    return seed


def _assert_ev(got, ref, what):
    assert np.array_equal(np.isnan(got), np.isnan(ref)), what
    ok = ~np.isnan(ref)
    assert np.all(np.abs(got[ok] - ref[ok]) <= 1e-6 * np.maximum(np.abs(ref[ok]), 1e-3)), what


@pytest.mark.parametrize("seed", range(24))
def test_forward_and_reverse_equal_reverse_pred(seed, seeded_reverse_pred, tmp_path):
    from reverse_pred.model_to_monkey import compute_model_to_monkey
    from reverse_pred.monkey_to_model import compute_monkey_to_model

    from neuroxr import predictivity as d

    c = _direction_config(seed)
    F = _features(c)
    R = _responses(c, c["k"], c["T"], halves_valid=True)
    # reverse_pred cannot fit one target (its fold predictions lose their column): hand it the one
    # target twice; every target is fitted on its own and the split draws are over trials, so the
    # first column's EV is the one target's
    R_rp = np.repeat(R, 2, axis=1) if c["k"] == 1 else R
    F_rp = np.repeat(F, 2, axis=1) if c["p"] == 1 else F
    feats, resp = nx.features(F, stimulus_id=_ids(c["n"])), nx.neural(R, stimulus_id=_ids(c["n"]))
    what = (c["kind"], c["n"], c["p"], c["k"], c["T"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwd = d.forward(feats, resp, reps=2, seed=seed, split="slots").ev.mean("rep").values
        rev = d.reverse(resp, feats, reps=2, seed=seed, split="slots").ev.mean("rep").values
        # the protocol patches numpy's default_rng itself: neuroxr runs before it
        seeded_reverse_pred(seed)
        compute_model_to_monkey(F, R_rp, str(tmp_path), reps=2)
        _assert_ev(fwd, np.load(tmp_path / "forward_ev.npy")[: c["k"]], ("forward",) + what)
        seeded_reverse_pred(seed)
        compute_monkey_to_model(F_rp, R, str(tmp_path), reps=2)
        _assert_ev(rev, np.load(tmp_path / "reverse_ev.npy")[: c["p"]], ("reverse",) + what)


@pytest.mark.parametrize("regressor", ["linear", "lasso", "elasticnet"])
@pytest.mark.parametrize("seed", range(12))
def test_other_regressors_equal_reverse_pred(seed, regressor, seeded_reverse_pred, tmp_path):
    """docs/predictivity.md: reverse_pred's regressors, with the predictors in canonical id order (here
    their position: lasso's and elasticnet's coordinate descent depend on the column order). Least
    squares with more predictors than training stimuli is scikit-learn's minimum-norm solution."""
    from reverse_pred.model_to_monkey import compute_model_to_monkey
    from reverse_pred.monkey_to_model import compute_monkey_to_model

    from neuroxr import predictivity as d

    c = _direction_config(seed)
    F = _features(c)
    R = _responses(c, c["k"], c["T"], halves_valid=True)
    R_rp = np.repeat(R, 2, axis=1) if c["k"] == 1 else R  # one target: see the test above
    F_rp = np.repeat(F, 2, axis=1) if c["p"] == 1 else F
    ids = _ids(c["n"])
    feats = nx.features(F, stimulus_id=ids, unit_id=[f"u{j:03d}" for j in range(c["p"])])
    resp = nx.neural(R, stimulus_id=ids, neuroid_id=[f"n{j:03d}" for j in range(c["k"])])
    what = (regressor, c["kind"], c["n"], c["p"], c["k"], c["T"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwd = d.forward(feats, resp, reps=2, seed=seed, split="slots", regressor=regressor).ev.mean("rep").values
        rev = d.reverse(resp, feats, reps=2, seed=seed, split="slots", regressor=regressor).ev.mean("rep").values
        seeded_reverse_pred(seed)
        compute_model_to_monkey(F, R_rp, str(tmp_path), reps=2, model_type=regressor)
        _assert_ev(fwd, np.load(tmp_path / "forward_ev.npy")[: c["k"]], ("forward",) + what)
        seeded_reverse_pred(seed)
        compute_monkey_to_model(F_rp, R, str(tmp_path), reps=2, model_type=regressor)
        _assert_ev(rev, np.load(tmp_path / "reverse_ev.npy")[: c["p"]], ("reverse",) + what)


@pytest.mark.parametrize("seed", range(24))
def test_inter_animal_equals_reverse_pred(seed, seeded_reverse_pred, tmp_path):
    from reverse_pred.monkey_to_monkey import compute_monkey_to_monkey

    from neuroxr import predictivity as d

    c = _direction_config(seed)
    RA = _responses(c, c["k"], c["T"], halves_valid=True)
    RB = _responses(c, int(c["rng"].integers(1, 15)), int(c["rng"].integers(2, 8)), halves_valid=True)
    RB_rp = np.repeat(RB, 2, axis=1) if RB.shape[1] == 1 else RB  # one target: see the forward test
    ids = _ids(c["n"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = d.inter_animal(nx.neural(RA, stimulus_id=ids), nx.neural(RB, stimulus_id=ids), reps=2, seed=seed,
                              split="slots").ev.mean("rep").values
        seeded_reverse_pred(seed)
        compute_monkey_to_monkey(RA, RB_rp, str(tmp_path), reps=2)
    ref = np.load(tmp_path / "monkey1_to_monkey2_ev.npy")[: RB.shape[1]]
    _assert_ev(ours, ref, (c["kind"], c["n"], RA.shape, RB.shape))


@pytest.mark.parametrize("seed", range(24))
def test_model_to_model_equals_reverse_pred(seed, tmp_path):
    from reverse_pred.model_to_model import compute_model_to_model

    from neuroxr import predictivity as d

    c = _direction_config(seed)
    F = _features(c)
    q = int(c["rng"].integers(1, 30))
    F2 = _features(c, p=q)
    ids = _ids(c["n"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = d.model_to_model(nx.features(F, stimulus_id=ids), nx.features(F2, stimulus_id=ids)).ev.mean("rep").values
        compute_model_to_model(F, np.repeat(F2, 2, axis=1) if q == 1 else F2, str(tmp_path), reps=1)  # one target: see above
    _assert_ev(ours, np.load(tmp_path / "model1_to_model2_ev.npy")[:q], (c["kind"], F.shape, F2.shape))
