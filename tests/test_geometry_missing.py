"""Missing values in the geometry metrics and Brain-Score: infinite RDM values, ragged repeats,
one neuroid set for a score and its ceiling, stimuli without trials, and their counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import linear_arrays
from scipy import stats
from scipy.spatial.distance import pdist, squareform

import neuroxr as nx
from neuroxr import LayoutError
from neuroxr import geometry as geo
from neuroxr.errors import NeuroxrWarning
from neuroxr.geometry.inference import rsa_bootstrap, rsa_permutation
from neuroxr.predictivity import brainscore, brainscore_ceiling

N, K, T, P = 30, 6, 4, 8
SID = [f"s{i:02d}" for i in range(N)]
NID = [f"n{j}" for j in range(K)]


def _data(seed=0):
    return linear_arrays(seed, N, K, T, P)


def _feats(F, keep=slice(None)):
    return nx.features(F[keep], np.asarray(SID)[keep], [f"u{i}" for i in range(P)], model="m", layer="l")


def _neural(R, keep=slice(None), neuroids=slice(None)):
    return nx.neural(R[keep][:, neuroids], np.asarray(SID)[keep], np.asarray(NID)[neuroids])


def _ragged(R):
    R = R.copy()
    R[::3, :, 3] = np.nan  # some stimuli have 3 repeats, some 2 (NaN-padded, docs/io.md)
    R[::5, :, 2:] = np.nan
    return R


def _ut(D):
    return D[np.triu_indices(D.shape[0], 1)]


# ---------------------------------------------------------------- F1: infinite dissimilarities
def _rdms(value):
    rng = np.random.default_rng(1)
    A = squareform(pdist(rng.standard_normal((10, 4)), "correlation"))
    D = squareform(pdist(rng.standard_normal((10, 4)), "correlation"))
    D[2, 5] = D[5, 2] = value
    return A, D


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("call", [
    lambda A, D: geo.compare_rdms(A, D, "spearman"),
    lambda A, D: geo.compare_rdms(A, D, ["pearson", "spearman"]),
    lambda A, D: geo.compare_rdms(A, _ut(D)),
    lambda A, D: geo.compare_rdms(A, geo.as_rdm(A, "b").copy(data=D)),
    lambda A, D: geo.compare_rdms_many(A, np.stack([D, A])),
    lambda A, D: geo.compare_rdms_many([A], xr.concat([geo.as_rdm(A, "x").copy(data=D)], "rdm")),
    lambda A, D: geo.rdm_noise_ceiling(np.stack([A, D, A])),
    lambda A, D: geo.rdm_noise_ceiling(np.stack([_ut(A), _ut(D)])),
    lambda A, D: geo.rdm_noise_ceiling([A, D]),
    lambda A, D: rsa_bootstrap(A, [D, A], n_boot=5),
    lambda A, D: rsa_permutation(A, D, n_perm=5),
])
def test_an_infinite_dissimilarity_is_refused_naming_the_rdm(call, value):
    """inf in an RDM would be ranked as the largest value (Spearman) or make Pearson NaN: refused in
    one line naming the RDM, a pair and the fix, as infinite features and responses are."""
    A, D = _rdms(value)
    with pytest.raises(LayoutError, match=r"infinite values \(e\.g\. (\[2, 5\]|\[\d+, 2, 5\]|pair \(2, 5\)) = -?inf\).*NaN") as e:
        call(A, D)
    assert "\n" not in str(e.value)


def test_nan_dissimilarity_is_still_a_missing_pair():
    A, D = _rdms(np.nan)
    ok = ~np.isnan(_ut(D))
    with pytest.warns(NeuroxrWarning, match="1 of 45 stimulus pairs"):
        got = geo.compare_rdms(A, D, "spearman")
    assert got == pytest.approx(stats.spearmanr(_ut(A)[ok], _ut(D)[ok])[0], abs=1e-12)


# ---------------------------------------------------------------- F4: ragged repeats
def _split_half_reference(R, seed, reps, compare=lambda a, b: stats.spearmanr(a, b)[0]):
    """The split-half RDM ceiling by hand: per rep one permutation of the repeat slots; each
    (stimulus, neuroid)'s valid repeats in that order, the first ceil(v/2) against the rest."""
    rng = np.random.default_rng(seed)
    r = []
    for _ in range(reps):
        perm = rng.permutation(R.shape[2])
        H = np.empty((2, *R.shape[:2]))
        for i in range(R.shape[0]):
            for j in range(R.shape[1]):
                v = R[i, j, perm][~np.isnan(R[i, j, perm])]
                h = (v.size + 1) // 2
                H[0, i, j], H[1, i, j] = v[:h].mean(), v[h:].mean()
        c = compare(pdist(H[0], "correlation"), pdist(H[1], "correlation"))
        r.append(2 * c / (1 + c))
    return float(np.mean(r))


def test_ragged_repeats_score_crsa_with_its_ceiling():
    """NaN-padded repeats (2 or 3 of 4) used to refuse crsa's ceiling ("no neuroid has a trial for
    every stimulus in both halves"): each row's valid repeats are split in halves, as the directions'
    default split="valid"."""
    F, R = _data()
    R = _ragged(R)
    ds = geo.crsa(_feats(F), _neural(R), reps=3, seed=2)
    ref_score = stats.spearmanr(pdist(F, "correlation"), pdist(np.nanmean(R, axis=2), "correlation"))[0]
    ref_ceiling = _split_half_reference(R, 2, 3)
    assert float(ds.score) == pytest.approx(ref_score, abs=1e-10)
    assert float(ds.ceiling) == pytest.approx(ref_ceiling, abs=1e-10)
    assert float(ds.ceiled_score) == pytest.approx(ref_score / ref_ceiling, abs=1e-10)
    assert ds.attrs["n_excluded_stimuli"] == 0 and ds.attrs["n_excluded_neuroids"] == 0
    c = geo.split_half_rdm_ceiling(_neural(R), compare_method="pearson", seed=0, reps=4)
    assert float(c.ceiling) == pytest.approx(_split_half_reference(R, 0, 4, lambda a, b: stats.pearsonr(a, b)[0]), abs=1e-10)


def test_split_half_rdms_match_the_complete_data_halves():
    """On complete data the valid split is the first ceil(T/2) permuted repeats against the rest."""
    _, R = _data()
    H = geo.split_half_rdms(_neural(R), seed=5, reps=2)
    rng = np.random.default_rng(5)
    for rep in range(2):
        perm = rng.permutation(T)
        for half, sl in ((0, perm[:2]), (1, perm[2:])):
            np.testing.assert_allclose(H.values[rep, half], squareform(pdist(R[:, :, sl].mean(2), "correlation")), atol=1e-12)


def _brainscore_ceiling_reference(R, n_splits, seed):
    """Brain-Score's internal consistency by hand: ShuffleSplit of the repetitions (test = the first
    ceil(T/2) of its permutation); a row's valid repeats in that order, the first ceil(v/2) against the rest."""
    from sklearn.model_selection import ShuffleSplit

    per = []
    for tr, te in ShuffleSplit(n_splits=n_splits, train_size=0.5, test_size=None, random_state=seed).split(np.zeros(R.shape[2])):
        order = np.concatenate([te, tr])
        H = np.empty((2, *R.shape[:2]))
        for i in range(R.shape[0]):
            for j in range(R.shape[1]):
                v = R[i, j, order][~np.isnan(R[i, j, order])]
                h = (v.size + 1) // 2
                H[0, i, j], H[1, i, j] = v[:h].mean(), v[h:].mean()
        r = np.array([stats.pearsonr(H[0][:, j], H[1][:, j])[0] for j in range(R.shape[1])])
        per.append(np.median(2 * r / (1 + r)))
    return float(np.mean(per))


def test_ragged_repeats_give_brainscore_a_ceiling():
    """The halves of repetition slots left a half empty for a stimulus (ceiling NaN in 2 of 3 splits)."""
    _, R = _data()
    R = _ragged(R)
    c = brainscore_ceiling(_neural(R), n_splits=3)
    assert float(c.ceiling) == pytest.approx(_brainscore_ceiling_reference(R, 3, 1), abs=1e-10)
    _, Rc = _data()
    assert float(brainscore_ceiling(_neural(Rc), n_splits=3).ceiling) == pytest.approx(_brainscore_ceiling_reference(Rc, 3, 1), abs=1e-12)


# ---------------------------------------------------------------- F5: one neuroid set for score and ceiling
def test_crsa_scores_and_ceils_the_same_neuroids():
    """A neuroid with one valid repeat on some stimuli cannot enter the ceiling: it is left out of the
    score too (counted, one warning), so ceiled_score is one set over the same set."""
    F, R = _data()
    R[0:5, 0, 1:] = np.nan
    with pytest.warns(NeuroxrWarning, match=r"crsa: .*1 of 6 neuroids lacking 2 trials for some stimulus \(e\.g\. 'n0'\)"):
        ds = geo.crsa(_feats(F), _neural(R), reps=3)
    ref = stats.spearmanr(pdist(F, "correlation"), pdist(R[:, 1:].mean(2), "correlation"))[0]
    assert float(ds.score) == pytest.approx(ref, abs=1e-10)
    assert float(ds.ceiling) == pytest.approx(_split_half_reference(R[:, 1:], 0, 3), abs=1e-10)
    assert ds.attrs["n_excluded_neuroids"] == 1 and ds.attrs["n_stimuli"] == N
    # without a ceiling the neuroid has a trial mean on every stimulus and is scored
    free = geo.crsa(_feats(F), _neural(R), noise_ceiling=False)
    assert float(free.score) == pytest.approx(
        stats.spearmanr(pdist(F, "correlation"), pdist(np.nanmean(R, 2), "correlation"))[0], abs=1e-10)
    assert free.attrs["n_excluded_neuroids"] == 0
    with pytest.warns(NeuroxrWarning, match="1 of 6 neuroids"):
        c = geo.split_half_rdm_ceiling(_neural(R), reps=3)
    assert c.attrs["n_excluded_neuroids"] == 1 and float(c.ceiling) == pytest.approx(float(ds.ceiling), abs=1e-12)


def test_brainscore_raw_and_ceiling_use_the_same_neuroids():
    F, R = _data()
    R[0:5, 0, 1:] = np.nan
    with pytest.warns(NeuroxrWarning, match=r"brainscore: .*1 of 6 neuroids lacking 2 trials"):
        got = brainscore(_feats(F), _neural(R), n_components=5, n_splits=3)
    ref = brainscore(_feats(F), _neural(R, neuroids=slice(1, None)), n_components=5, n_splits=3)
    assert list(got.neuroid_id.values) == NID[1:]
    assert float(got.raw) == pytest.approx(float(ref.raw), abs=1e-12)
    assert float(got.ceiling) == pytest.approx(_brainscore_ceiling_reference(R[:, 1:], 3, 1), abs=1e-10)
    assert got.attrs["n_excluded_neuroids"] == 1
    raw_only = brainscore(_feats(F), _neural(R), n_components=5, n_splits=3, ceiling=False)
    assert raw_only.sizes["neuroid"] == K and raw_only.attrs["n_excluded_neuroids"] == 0


# ---------------------------------------------------------------- F6 / F7: a stimulus without trials
def _cka_reference(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return np.linalg.norm(X.T @ Y) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def test_a_stimulus_without_trials_is_dropped_and_counted():
    """All trials of s03 missing: the directions drop the stimulus; every geometry metric refused
    ("every neuroid lacks trials for some stimulus"). It is now dropped from both inputs (paired by
    stimulus_id), with one warning, and counted."""
    F, R = _data()
    R[3] = np.nan
    keep = np.arange(N) != 3
    f, b = _feats(F), _neural(R)
    Rk, Fk = R[keep], F[keep]
    with pytest.warns(NeuroxrWarning, match=r"1 of 30 stimuli without 2 trials in any neuroid \(e\.g\. 's03'; also dropped"):
        ds = geo.crsa(f, b, reps=2)
    assert float(ds.score) == pytest.approx(stats.spearmanr(pdist(Fk, "correlation"), pdist(Rk.mean(2), "correlation"))[0], abs=1e-10)
    assert float(ds.ceiling) == pytest.approx(_split_half_reference(Rk, 0, 2), abs=1e-10)
    assert (ds.attrs["n_stimuli"], ds.attrs["n_excluded_stimuli"], ds.attrs["n_excluded_neuroids"]) == (N - 1, 1, 0)
    with pytest.warns(NeuroxrWarning, match="1 of 30 stimuli"):
        assert geo.cka(f, b) == pytest.approx(_cka_reference(Fk, Rk.mean(2)), abs=1e-10)
        assert geo.cka(geo.gram(f), b) == pytest.approx(_cka_reference(Fk, Rk.mean(2)), abs=1e-10)
        D = geo.rdm(b)
    np.testing.assert_allclose(D.values, squareform(pdist(Rk.mean(2), "correlation")), atol=1e-12)
    assert D.attrs["n_excluded_stimuli"] == 1
    fk, bk = _feats(F, keep), _neural(R, keep)
    with pytest.warns(NeuroxrWarning, match="1 of 30 stimuli"):
        pairs = [(geo.ersa(f, b), geo.ersa(fk, bk), ("train_score", "test_score")),
                 (geo.ereg(f, b, n_components=4), geo.ereg(fk, bk, n_components=4), ("score",)),
                 (geo.split_distance(f, b), geo.split_distance(fk, bk), ("distance",)),
                 (brainscore(f, b, n_components=5, n_splits=3), brainscore(fk, bk, n_components=5, n_splits=3), ("raw", "ceiling"))]
        dim = geo.effective_dimensionality(b)
    for got, ref, names in pairs:
        for v in names:
            np.testing.assert_allclose(got[v].values, ref[v].values, atol=1e-12)
        assert got.attrs["n_excluded_stimuli"] == 1
    ev = np.linalg.eigvalsh(np.cov(Rk.mean(2), rowvar=False))
    assert dim == pytest.approx(ev.sum() ** 2 / (ev**2).sum(), rel=1e-10)


def test_no_usable_neuroid_names_the_dim_and_the_fix():
    F, R = _data()
    for j in range(K):  # neuroid j has one trial of stimulus j: none has 2 trials everywhere
        R[j, j, 1:] = np.nan
    with pytest.raises(LayoutError, match=r"split_half_rdm_ceiling: neural: every neuroid lacks 2 trials .*dim 'repeat'") as e:
        geo.split_half_rdm_ceiling(_neural(R))
    assert "\n" not in str(e.value) and "=False" not in str(e.value)  # a ceiling has no option to drop it
    with pytest.raises(LayoutError, match=r"^crsa: neural: every neuroid lacks 2 trials .*\(noise_ceiling=False\)\.$"):
        geo.crsa(_feats(F), _neural(R))
    R[:, :, 1:] = np.nan
    with pytest.raises(LayoutError, match=r"no stimulus has 2 trials .* in any neuroid \(dim 'repeat'\)"):
        geo.split_half_rdms(_neural(R))


def test_crsa_inference_scores_the_neuroids_of_crsa(tmp_path):
    """crsa's bootstrap and permutation (functions and entries) resample the score crsa's default
    reports: a neuroid with one valid repeat on some stimuli is left out of all of them."""
    from neuroxr.geometry.inference import crsa_bootstrap
    from neuroxr.store import StudyStore

    F, R = _data()
    R[0:5, 0, 1:] = np.nan
    ref = stats.spearmanr(pdist(F, "correlation"), pdist(R[:, 1:].mean(2), "correlation"))[0]
    store = StudyStore(tmp_path / "s.zarr")
    store.write_features("m", "l", _feats(F))
    store.write_neural("mk", _neural(R))
    with pytest.warns(NeuroxrWarning, match="1 of 6 neuroids"):
        crsa = nx.score(store, "crsa", "m.l", "mk", reps=2)
        boot = crsa_bootstrap(_feats(F), _neural(R), n_boot=5)
        stored = [nx.score(store, kind, "m.l", "mk", **p) for kind, p in
                  (("crsa_bootstrap", {"n_boot": 5}), ("crsa_permutation", {"n_perm": 5}))]
    for ds in (crsa, boot, *stored):
        assert float(ds["score"]) == pytest.approx(ref, abs=1e-10)
    assert boot.attrs["n_excluded_neuroids"] == 1
    one = crsa_bootstrap(_feats(F), _neural(R[:, :, :1]), n_boot=5)  # one repeat: no ceiling, every neuroid
    assert float(one["score"]) == pytest.approx(
        stats.spearmanr(pdist(F, "correlation"), pdist(R[:, :, 0], "correlation"))[0], abs=1e-10)


def test_metric_entries_store_the_counts(tmp_path):
    """Stored crsa / brainscore / cka / dimensionality entries of ragged data with a stimulus without
    trials score (crsa refused the ragged data) and carry the counts."""
    from neuroxr.store import StudyStore

    F, R = _data()
    R = _ragged(R)
    R[3] = np.nan
    store = StudyStore(tmp_path / "s.zarr")
    store.write_features("m", "l", _feats(F))
    store.write_neural("mk", _neural(R))
    keep = np.arange(N) != 3
    with pytest.warns(NeuroxrWarning, match="1 of 30 stimuli"):
        crsa = nx.score(store, "crsa", "m.l", "mk", reps=2)
        ref = geo.crsa(_feats(F, keep), _neural(R, keep), reps=2)
        cka = nx.score(store, "cka", "m.l", "mk")
        dim = nx.score(store, "dimensionality", "mk", None)
    for v in ("score", "ceiling"):
        assert float(crsa[v]) == pytest.approx(float(ref[v]), abs=1e-12)
    assert float(cka["score"]) == pytest.approx(_cka_reference(F[keep], np.nanmean(R[keep], 2)), abs=1e-10)
    for ds in (crsa, cka, dim):
        assert ds.attrs["n_excluded_stimuli"] == 1 and ds.attrs["n_excluded_neuroids"] == 0
    assert not math.isnan(float(crsa["ceiled_score"]))


# ---------------------------------------------------------------- review 15: merged drops, one check per input
def test_neuroids_are_judged_on_the_stimuli_kept_in_every_input():
    """Neuroid a0 lacks only s05, which b has no trial on (dropped from both): a0 is kept; a1 lacks
    s07, which both keep: a1 is dropped. The stimuli are merged across inputs before the neuroids."""
    rng = np.random.default_rng(3)
    RA, RB = rng.standard_normal((N, K, T)), rng.standard_normal((N, K, T))
    RA[5, 0, :] = np.nan
    RA[7, 1, :] = np.nan
    RB[5] = np.nan
    a = nx.neural(RA, SID, [f"a{j}" for j in range(K)])
    b = nx.neural(RB, SID, [f"b{j}" for j in range(K)])
    keep = np.arange(N) != 5
    ma, mb = RA[keep][:, [0, *range(2, K)]].mean(2), RB[keep].mean(2)
    with pytest.warns(NeuroxrWarning) as rec:
        got = geo.cka(a, b)
        ds = geo.split_distance(a, b)
    assert got == pytest.approx(_cka_reference(ma, mb), abs=1e-12)
    messages = [str(w.message) for w in rec]
    assert not any("'a0'" in m for m in messages) and any("neuroids lacking a trial for some stimulus (e.g. 'a1')" in m
                                                          for m in messages)
    assert (ds.attrs["n_excluded_stimuli"], ds.attrs["n_excluded_neuroids"]) == (1, 1)


def _bootstrap(metric, f, b):
    """``neuroxr.geometry.inference.<metric>_bootstrap`` of ``f`` and ``b``, 3 resamples."""
    from neuroxr.geometry import inference as gi

    return getattr(gi, f"{metric}_bootstrap")(f, b, n_boot=3)


class _Reads:
    """A NumPy array that counts the values read from it (dask reads it chunk by chunk)."""

    def __init__(self, values):
        self.values, self.shape, self.dtype, self.ndim, self.read = values, values.shape, values.dtype, values.ndim, 0

    def __getitem__(self, key):
        out = self.values[key]
        self.read += out.size
        return out


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("call, passes", [
    (lambda f, b: geo.cka(f, b), 1),
    (lambda f, b: geo.crsa(f, b, noise_ceiling=False), 1),
    (lambda f, b: geo.rdm(b), 1),
    (lambda f, b: geo.effective_dimensionality(b), 1),
    (lambda f, b: geo.crsa(f, b, reps=2), 2),  # the split halves read the responses once more
    (lambda f, b: geo.ersa(f, b, n_folds=3), 1),
    (lambda f, b: geo.ereg(f, b, n_folds=3), 1),
    (lambda f, b: geo.split_distance(f, b), 1),
    (lambda f, b: geo.anchor_weights(f, b), 1),
    (lambda f, b: _bootstrap("crsa", f, b), 1),
    (lambda f, b: _bootstrap("ersa", f, b), 1),
    (lambda f, b: _bootstrap("cka", f, b), 1),
    (lambda f, b: _bootstrap("shape", f, b), 1),
    (lambda f, b: brainscore(f, b, ceiling=False, n_components=2, n_splits=2), 1),
    (lambda f, b: brainscore(f, b, n_components=2, n_splits=2), 2),  # the split halves read the responses once more
    (lambda f, b: brainscore_ceiling(b, n_splits=2), 1),  # alone: read into memory once, then counted there
    (lambda f, b: geo.split_half_rdms(b, reps=2), 1),
    (lambda f, b: geo.split_half_rdm_ceiling(b, reps=2), 1),
])
def test_lazy_responses_are_read_once_for_counts_means_and_inf(call, passes, shuffled):
    """The valid-repeat counts, the trial means and the refusal of inf share one read of each chunk
    (they were one read more), with the numbers of the in-memory responses: every metric passes the
    responses it checked on, also where it reorders them (``shuffled``: the stimuli stored out of
    canonical order, which cka and its bootstrap sort and anchor_weights pairs with the features)."""
    import dask.array as dska

    F, R = _data()
    R[3, 0, 1:] = np.nan
    keep = np.random.default_rng(0).permutation(N) if shuffled else slice(None)
    src = _Reads(R[keep])
    lazy = _neural(R, keep).copy(data=dska.from_array(src, chunks=(12, 3, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, ref = call(_feats(F), lazy), call(_feats(F), _neural(R, keep))
    assert src.read == passes * R.size
    for x, y in ([(got[v], ref[v]) for v in got.data_vars] if isinstance(got, xr.Dataset) else [(got, ref)]):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_metric_bootstraps_and_their_entries_count_what_the_plain_calls_count(tmp_path):
    """A stimulus without trials and a neuroid lacking one: every metric bootstrap (and permutation
    entry) reports the counts of its plain call (``n_excluded_stimuli``, ``n_excluded_neuroids``)."""
    from neuroxr.entries import compute
    from neuroxr.geometry.inference import cka_bootstrap, crsa_bootstrap, shape_bootstrap
    from neuroxr.store import StudyStore

    F, R = _data()
    R[3] = np.nan  # a stimulus without trials: dropped
    R[7, 2] = np.nan  # a neuroid without trials at s07: left out
    f, b = _feats(F), _neural(R)
    keys = ("n_excluded_stimuli", "n_excluded_neuroids")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        pairs = [(cka_bootstrap(f, b, n_boot=5), geo.cka(f, b)), (shape_bootstrap(f, b, n_boot=3), geo.split_distance(f, b)),
                 (crsa_bootstrap(f, b, n_boot=5), geo.crsa(f, b, reps=2))]
        store = StudyStore(tmp_path / "s.zarr")
        store.write_features("m", "l", f)
        store.write_neural("mk", b)
        for metric in ("cka", "crsa", "shape"):
            plain = compute(store, metric, "m.l", "mk").dataset
            for kind, params in ((f"{metric}_bootstrap", {"n_boot": 3}), (f"{metric}_permutation", {"n_perm": 3})):
                pairs.append((compute(store, kind, "m.l", "mk", params=params).dataset, plain))
    for got, ref in pairs:
        assert {k: ref.attrs[k] for k in keys} == {k: got.attrs.get(k) for k in keys} == {
            "n_excluded_stimuli": 1, "n_excluded_neuroids": 1}


@pytest.mark.parametrize("call", [
    lambda f, b: geo.cka(f, b),
    lambda f, b: geo.crsa(f, b),
    lambda f, b: geo.ersa(f, b),
    lambda f, b: geo.ereg(f, b),
    lambda f, b: geo.split_distance(f, b),
    lambda f, b: geo.anchor_weights(geo.relative_features(f, list(f.stimulus_id.values[:3])), b),
    lambda f, b: _bootstrap("crsa", f, b),
    lambda f, b: brainscore(f, b, ceiling=False, n_components=2, n_splits=2),
])
def test_unpaired_inputs_get_the_pairing_refusal_alone(call):
    """Neural data whose stimuli do not pair with the features (a stimulus without trials, a
    neuroid lacking one): the one 'Cannot pair' refusal, no 'left out' warning before it."""
    rng = np.random.default_rng(0)
    f = nx.features(rng.standard_normal((12, 4)), [f"s{i:02d}" for i in range(12)])
    R = rng.standard_normal((12, 3, 2))
    R[0], R[3, 1] = np.nan, np.nan
    b = nx.neural(R, [f"o{i:02d}" for i in range(12)])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(LayoutError, match="Cannot pair by stimulus_id"):
            call(f, b)
    assert [str(w.message) for w in record] == []


@pytest.mark.parametrize("metric", ["cka", "crsa", "shape"])
def test_store_entries_of_unpaired_inputs_get_the_pairing_refusal_alone(tmp_path, metric):
    """The same from the store's entries (cka's reads its source through the Gram): a neural target
    with a stimulus without trials, whose stimuli do not pair with the features, is refused with no
    'left out' warning first."""
    from neuroxr.store import StudyStore

    store = StudyStore(str(tmp_path / "s.zarr"))
    rng = np.random.default_rng(0)
    store.write_features("net", "l1", nx.features(rng.standard_normal((24, 10)), [f"s{i:02d}" for i in range(24)]))
    R = rng.standard_normal((24, 3, 2))
    R[0] = np.nan
    store.write_neural("mB", nx.neural(R, [f"o{i:02d}" for i in range(24)]))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(LayoutError, match="Cannot pair by stimulus_id"):
            nx.score(store, metric, "net.l1", "mB")
    assert [str(w.message) for w in record] == []


@pytest.mark.parametrize(("ours", "theirs"), [("spearman", "spearman"), ("pearson", "corr"), ("kendall", "tau-a")])
def test_an_all_nan_subject_rdm_has_nan_bounds_and_leaves_the_others_unchanged(ours, theirs):
    """A subject RDM with no finite pair (the correlation RDM of one neuroid) crashed the noise ceiling
    (ranking an empty vector); it has NaN bounds, adds nothing to the pools, and the other subjects'
    bounds are those of the stack without it (rsatoolbox's ceiling of the others)."""
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    from rsatoolbox.inference import boot_noise_ceiling

    rng = np.random.default_rng(3)
    V = rng.random(15) + 0.5 * rng.random((5, 15))
    W = V.copy()
    W[2] = np.nan
    with pytest.warns(NeuroxrWarning, match="15 of 75 stimulus pairs have a NaN"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Noise ceiling for tau")  # rsatoolbox's note
        ds = geo.rdm_noise_ceiling(W, ours)
        lo, up = boot_noise_ceiling(rsa_rdm.RDMs(np.delete(V, 2, 0)), method=theirs)
    assert np.isnan(ds["lower_per_subject"][2]) and np.isnan(ds["upper_per_subject"][2]) and np.isnan(ds["lower"])
    rest = np.arange(5) != 2
    assert float(ds["lower_per_subject"][rest].mean()) == pytest.approx(lo, rel=1e-10)
    assert float(ds["upper_per_subject"][rest].mean()) == pytest.approx(up, rel=1e-10)


@pytest.mark.parametrize("kept", [1, 2])
@pytest.mark.parametrize(("ours", "theirs"), [("spearman", "spearman"), ("pearson", "corr"), ("kendall", "tau-a"),
                                              ("cosine", "cosine")])
def test_a_subject_rdm_with_fewer_than_3_finite_pairs_adds_nothing_to_the_others_pools(ours, theirs, kept):
    """The same rule for 1 or 2 finite pairs, as documented (fewer than 3 complete pairs: NaN bounds,
    nothing added to the pools); those values entered the others' pools, moving their bounds (by
    about 0.01 for Spearman's lower bound)."""
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    from rsatoolbox.inference import boot_noise_ceiling

    rng = np.random.default_rng(3)
    V = rng.random(15) + 0.5 * rng.random((5, 15))
    W = V.copy()
    W[2, kept:] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = geo.rdm_noise_ceiling(W, ours)
        lo, up = boot_noise_ceiling(rsa_rdm.RDMs(np.delete(V, 2, 0)), method=theirs)
        alone = geo.rdm_noise_ceiling(np.delete(V, 2, 0), ours)
    assert np.isnan(ds["lower_per_subject"][2]) and np.isnan(ds["upper_per_subject"][2])
    rest = np.arange(5) != 2
    np.testing.assert_allclose(ds["lower_per_subject"][rest], alone["lower_per_subject"], rtol=1e-12)
    np.testing.assert_allclose(ds["upper_per_subject"][rest], alone["upper_per_subject"], rtol=1e-12)
    assert float(ds["lower_per_subject"][rest].mean()) == pytest.approx(lo, rel=1e-10)
    assert float(ds["upper_per_subject"][rest].mean()) == pytest.approx(up, rel=1e-10)


def test_a_comparison_with_an_rdm_without_variance_is_nan_with_one_warning_naming_it():
    """An RDM whose dissimilarities are all equal (the RDM of constant features or trial means) has no
    correlation with anything: NaN, as scipy's, now with a warning naming it (it was silent), in
    compare_rdms (and so crsa), compare_rdms_many, rdm_noise_ceiling and split_half_rdm_ceiling.
    Kendall's tau-a of a constant RDM is 0 (defined): no warning."""
    rng = np.random.default_rng(4)
    v, flat = rng.random(15), np.full(15, 0.4)
    assert np.isnan(stats.spearmanr(v, flat)[0])  # the reference: undefined
    with pytest.warns(NeuroxrWarning, match=r"^compare_rdms: b has no variance on the pairs compared .* the result is NaN\.$"):
        assert np.isnan(float(geo.compare_rdms(v, flat)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(geo.compare_rdms(v, flat, "kendall")) == 0.0
    with pytest.warns(NeuroxrWarning, match=r"^compare_rdms_many: 2 of 4 comparisons are NaN: a\[1\] has no variance"):
        M = geo.compare_rdms_many(np.stack([v, flat]), np.stack([v, v + rng.random(15)]), "pearson")
    assert np.isnan(M.values[1]).all() and np.isfinite(M.values[0]).all()
    V = rng.random(15) + 0.5 * rng.random((4, 15))
    V[2] = 0.4
    with pytest.warns(NeuroxrWarning, match=r"^rdm_noise_ceiling: 1 of 4 comparisons are NaN: rdms\[2\] has no variance"):
        ds = geo.rdm_noise_ceiling(V)
    assert np.isnan(ds["upper_per_subject"][2]) and np.isfinite(ds["upper_per_subject"][[0, 1, 3]]).all()
    F = nx.features(np.tile(rng.random(5), (N, 1)), SID, model="net", layer="dead")  # every stimulus the same pattern
    R = nx.neural(np.tile(rng.random((1, K, 1)), (N, 1, T)), SID, NID)  # every neuroid constant
    with pytest.warns(NeuroxrWarning, match=r"^crsa: the RDM of features \(net.dead\) has no variance"):
        assert np.isnan(float(geo.crsa(F, nx.neural(rng.standard_normal((N, K, 1)), SID, NID))["score"]))
    with pytest.warns(NeuroxrWarning, match=r"^split_half_rdm_ceiling: 2 of 2 comparisons are NaN: the split-half RDMs of "
                                            r"neural have no variance|^split_half_rdm_ceiling: 2 of 2 .*has no variance"):
        assert np.isnan(float(geo.split_half_rdm_ceiling(R, reps=2)["ceiling"]))


def test_a_pearson_comparison_of_an_rdm_constant_up_to_rounding_is_nan_as_spearman_is():
    """An RDM whose dissimilarities are equal but for rounding (0.4 + 1e-15 noise; the Euclidean RDM
    of stimuli equally far apart) had a Pearson correlation of that rounding; it is NaN,
    as scipy's pearsonr of the exactly constant RDM and the Spearman comparison (whose ranks tie it)
    are, so an entry comparing by Pearson is one revision up."""
    from conftest import near_constant

    from neuroxr.entries import revisions

    rng = np.random.default_rng(5)
    v, flat = rng.random(15), near_constant(15, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(stats.pearsonr(np.full(15, 0.4), v)[0])
    for method in ("pearson", "spearman"):
        with pytest.warns(NeuroxrWarning, match="^compare_rdms: a has no variance"):
            assert np.isnan(float(geo.compare_rdms(flat, v, method)))
        with pytest.warns(NeuroxrWarning, match=r"^compare_rdms_many: 1 of 2 comparisons are NaN: a\[0\] has no variance"):
            M = geo.compare_rdms_many(np.stack([flat, v]), v, method).values[:, 0]
        assert np.isnan(M[0]) and M[1] == pytest.approx(1.0)
    simplex = 0.1 * np.eye(N)  # stimuli equally far apart: a Euclidean RDM equal up to rounding
    F = nx.features(simplex, SID, model="net", layer="simplex")
    R = nx.neural(rng.standard_normal((N, K, 1)), SID, NID)
    with pytest.warns(NeuroxrWarning, match=r"^crsa: the RDM of features \(net.simplex\) has no variance"):
        assert np.isnan(float(geo.crsa(F, R, rdm_method="euclidean", compare_method="pearson")["score"]))
    assert revisions.entry_revision("crsa", {"compare_method": "pearson"}) == revisions.entry_revision("crsa", {"compare_method": "cosine"}) + 1


@pytest.mark.parametrize("method", ["corr", "spearman"])
def test_rsa_inference_of_a_model_rdm_equal_up_to_rounding_is_nan_as_compare_rdms(method):
    """The Pearson resamples and permutations of a model RDM equal up to rounding correlated its
    rounding (score_boot of about 3e-8, or inf; a permutation score of -0.03 and a p-value); every
    one is NaN now, as compare_rdms (the point score) gives."""
    from conftest import near_constant

    rng = np.random.default_rng(6)
    v = rng.random(15)
    data, flat = np.stack([v, v + rng.random(15)]), near_constant(15, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        assert np.isnan(float(geo.compare_rdms(flat, v, "pearson" if method == "corr" else method)))
        boot = rsa_bootstrap(flat, data, method=method, n_boot=20)
        perm = rsa_permutation(flat, data, method=method, n_perm=20)
    assert np.isnan(boot["score"]) and np.isnan(boot["score_boot"]).all()
    assert np.isnan(perm["score"]) and np.isnan(perm["score_null"]).all() and np.isnan(perm["p"])
