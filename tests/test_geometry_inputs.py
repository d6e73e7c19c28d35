"""The geometry functions' inputs and parameters: eReg's projection over unit ids, parameters that
would change nothing refused, trial-averaged responses as the store's entries read them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr import LayoutError, features, neural
from neuroxr import geometry as geo
from neuroxr.errors import ParameterError
from neuroxr.geometry import inference as gi


def _data(n=40, p=30, k=8, T=4, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, p))
    R = (F @ rng.standard_normal((p, k)) / np.sqrt(p))[:, :, None] + 0.5 * rng.standard_normal((n, k, T))
    ids = np.array([f"img{i:02d}" for i in range(n)])
    return features(F, stimulus_id=ids, model="net", layer="l1"), neural(R, stimulus_id=ids)


# ---------------------------------------------------------------------------- eReg
def test_ereg_projects_the_units_in_unit_id_order():
    """The random projection draws over the units sorted by id: permuting them changes no number."""
    from sklearn.random_projection import SparseRandomProjection

    F, R = _data()
    perm = np.random.default_rng(1).permutation(F.sizes["unit"])
    a = geo.ereg(F, R, n_components=10, seed=3)
    b = geo.ereg(F.isel(unit=perm), R, n_components=10, seed=3)
    np.testing.assert_array_equal(a["r"].values, b["r"].values)
    # unit ids "unit0", "unit1", "unit10", ...: the projection sees the columns in that (string) order
    order = np.argsort(F["unit_id"].values.astype(str), kind="stable")
    Xp = SparseRandomProjection(n_components=10, random_state=3).fit_transform(F.values[:, order])
    ref = geo.ereg(features(np.asarray(Xp.toarray() if hasattr(Xp, "toarray") else Xp), F["stimulus_id"].values), R)
    assert ref.attrs["projected"] == 0
    np.testing.assert_allclose(a["r"].values, ref["r"].values, rtol=1e-10)


def test_ereg_refuses_parameters_that_change_nothing():
    F, R = _data(p=20)
    wide = geo.ereg(F, R, n_components=50)  # at or above the units: no projection, and the attrs say so
    assert wide.attrs["projected"] == 0 and wide.attrs["n_components"] == 20
    np.testing.assert_array_equal(wide["r"].values, geo.ereg(F, R, n_components=20)["r"].values)
    with pytest.raises(ParameterError, match=r"^ereg: seed=5 has no effect .* n_components=50 draws only below the 20 units"):
        geo.ereg(F, R, n_components=50, seed=5)
    with pytest.raises(ParameterError, match=r"^ereg: seed=5 has no effect without a random projection, which "
                                             r"n_components='auto' draws only when its Johnson-Lindenstrauss dimension \(\d+ for 40 stimuli\)"):
        geo.ereg(F, R, seed=5)  # 'auto' asks for thousands of components: no projection of 20 units
    with pytest.raises(ParameterError, match=r"^ereg: seed=5 has no effect .* n_components=20 draws only below the 20 units; drop it\.$"):
        geo.ereg(F, R, n_components=20, seed=5)
    full = geo.ereg(F, R, n_components=20)
    assert full.attrs["projected"] == 0 and full.attrs["n_components"] == 20
    assert geo.ereg(F, R, n_components=19, seed=5).attrs["projected"] == 1


def test_ereg_refuses_an_eps_that_sizes_no_projection():
    """``eps`` sizes the projection of ``n_components='auto'``: where that dimension is not below
    the units (no projection) it is refused as ``seed`` is; with a projection it is taken. An
    ereg entry keeps it in its key and runs the default, as it does a seed (one option set for a
    sweep's layers of every width)."""
    from neuroxr.geometry.rsa import _ereg

    F, R = _data(p=20)
    with pytest.raises(ParameterError, match=r"^ereg: eps=0.9 has no effect without a random projection, which "
                                             r"n_components='auto' draws only when its Johnson-Lindenstrauss dimension \(\d+ for 40 stimuli\) "
                                             r"is below the number of units \(20\); drop it\.$"):
        geo.ereg(F, R, eps=0.9)
    with pytest.raises(ParameterError, match=r"^ereg: seed=5 and eps=0.9 have no effect without a random projection"):
        geo.ereg(F, R, eps=0.9, seed=5)
    assert geo.ereg(F, R, eps=0.1).attrs["projected"] == 0  # the default, spelled out
    entry = _ereg(F, R, "auto", 0.9, 0.1, 10, 0, 5, refuse_inert=False)
    np.testing.assert_array_equal(entry["r"].values, geo.ereg(F, R)["r"].values)
    wide, _ = _data(p=100)  # 'auto' at eps=0.9 draws ~91 dimensions of 100 units
    assert geo.ereg(wide, R, eps=0.9).attrs["projected"] == 1


# ---------------------------------------------------------------------------- cRSA's automatic ceiling
def test_crsa_ceiling_is_automatic_as_in_the_store(tmp_path):
    """``noise_ceiling=None`` (the default, as the directions and the store's crsa entries): a
    ceiling with repeats, none for trial-averaged data; asked for on one repeat it is refused."""
    F, R = _data()
    avg = nx.neural(R.mean("repeat"))  # one repeat
    ds = geo.crsa(F, avg)
    assert "ceiling" not in ds and ds.attrs["noise_ceiling"] == 0
    assert float(ds["score"]) == float(geo.crsa(F, avg, noise_ceiling=False)["score"])
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_features("net", "l1", F)
    st.write_neural("mA", avg)
    assert nx.metric_value(nx.score(st, "crsa", "net.l1", "mA")) == pytest.approx(float(ds["score"]), rel=1e-10)
    assert geo.crsa(F, R).attrs["noise_ceiling"] == 1 and "ceiling" in geo.crsa(F, R)
    assert "ceiling" not in geo.crsa(F, geo.gram(F))  # a feature (Gram) target: no ceiling
    with pytest.raises(LayoutError, match="1 repeat"):
        geo.crsa(F, avg, noise_ceiling=True)
    with pytest.raises(ParameterError, match=r"^crsa: seed=3 has no effect without a noise ceiling, which noise_ceiling=None "
                                             r"draws only for neural data with at least 2 repeats .*; drop it\.$"):
        geo.crsa(F, avg, seed=3)
    with pytest.raises(ParameterError, match=r"^crsa: reps=3 has no effect with noise_ceiling=False .*; drop it or keep the ceiling\.$"):
        geo.crsa(F, R, noise_ceiling=False, reps=3)
    with pytest.raises(ParameterError, match="noise_ceiling must be True, False or None"):
        geo.crsa(F, R, noise_ceiling="yes")


# ---------------------------------------------------------------------------- trial-averaged inputs
@pytest.mark.parametrize("call, who", [
    (lambda F, M: geo.cka(F, M), r"cka: b \(neural\)"), (lambda F, M: geo.rdm(M), r"rdm: obj \(neural\)"),
    (lambda F, M: geo.crsa(F, M), "crsa: neural"), (lambda F, M: geo.effective_dimensionality(M), r"effective_dimensionality: obj \(neural\)"),
], ids=["cka", "rdm", "crsa", "effective_dimensionality"])
def test_stimulus_by_neuroid_responses_are_refused_with_the_fix(call, who):
    """Named by the argument, with the array's own name ("neural", from nx.neural) where it differs."""
    F, R = _data()
    M = R.mean("repeat")  # (stimulus, neuroid): neither layout
    with pytest.raises(LayoutError, match=rf"^{who}: dims \('stimulus', 'neuroid'\) are neither features \(stimulus, unit\) nor "
                                          r"neural data \(stimulus, neuroid, repeat\); .*expand_dims\('repeat', axis=-1\).*nx\.features") as e:
        call(F, M)
    assert "\n" not in str(e.value)


def test_split_distance_averages_neural_responses_as_the_shape_entry(tmp_path):
    from neuroxr.entries.metrics import averaged_as_features

    F, R = _data()
    ref = geo.split_distance(F, averaged_as_features(R), seed=2)
    for args in ((F, R), (F, R.isel(repeat=[0]))):
        ds = geo.split_distance(*args, seed=2)
        assert ds["distance"].shape == (2,)
    np.testing.assert_array_equal(geo.split_distance(F, R, seed=2)["distance"].values, ref["distance"].values)
    np.testing.assert_array_equal(geo.split_distance(R, F, seed=2)["distance"].values,
                                  geo.split_distance(averaged_as_features(R), F, seed=2)["distance"].values)
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_features("net", "l1", F)
    st.write_neural("mA", R)
    np.testing.assert_allclose(nx.score(st, "shape", "net.l1", "mA", seed=2)["score"].values, ref["distance"].values, rtol=1e-10)


# ---------------------------------------------------------------------------- exact ties
def test_gram_dataset_carries_integrality_to_exact_rdms(tmp_path):
    """Integer features (spike counts): the labeled RDMs, from the features, their Gram Dataset or
    a stored lazy layer, equal scipy's pdist exactly and cRSA matches scipy on its vectors; a Gram
    Dataset without the integrality attrs (written before them) or computed in float32 and read in
    float64 gives the RDM of the Gram's formula, not rounded."""
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    ids = np.array([f"img{i:02d}" for i in range(40)])
    X, Y = (rng.integers(0, 4, size=(40, k)).astype(float) for k in (7, 5))
    F, G = features(X, stimulus_id=ids), features(Y, stimulus_id=ids)
    store = nx.open_store(tmp_path / "s.zarr")
    store.write_features("net", "l1", F, unit_chunk=2)
    g = geo.gram(F)
    assert g.attrs["integral"] == 1 and g.attrs["max_abs"] == 3.0
    for method in ("euclidean", "sqeuclidean"):
        ref = squareform(pdist(X, method))
        for obj in (F, g, store.read_features("net", "l1"), geo.gram(store.read_features("net", "l1"))):
            np.testing.assert_array_equal(geo.rdm(obj, method).values, ref)
        score = float(geo.crsa(g, G, rdm_method=method)["score"])
        assert abs(score - spearmanr(pdist(X, method), pdist(Y, method)).statistic) < 1e-12
    old = g.copy()
    del old.attrs["integral"], old.attrs["max_abs"]
    low = geo.gram(F, dtype="float32")
    assert low.attrs["integral"] == 1 and low["K"].dtype == np.float32
    for gr in (old, low):
        s = geo.gram_stats(gr)
        assert not s.integral
        K = s.K
        sq = np.diagonal(K)[:, None] + np.diagonal(K)[None, :] - 2.0 * K
        sq = np.where(sq > 0, sq, 0.0)
        np.fill_diagonal(sq, 0.0)
        np.testing.assert_array_equal(geo.rdm(gr, "sqeuclidean").values, sq)
    assert geo.gram_stats(low, dtype="float32").integral  # read in its own precision: exact again
    assert not geo.gram(features(X + 0.5, stimulus_id=ids)).attrs["integral"]
    assert "max_abs" not in geo.gram(features(X + 0.5, stimulus_id=ids)).attrs


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_neural_repeats_are_averaged_in_float64(dtype):
    """The geometry's trial average of float16 / float32 responses equals the float64 average of
    the same values (it was taken in the input's dtype)."""
    f, r = _data(n=30, p=12, k=6, T=7)
    low = r.astype(dtype)
    exact = low.astype(np.float64)
    for fn in (lambda x: nx.cka(f, x), lambda x: nx.crsa(f, x, noise_ceiling=False)):
        a, b = fn(low), fn(exact)
        a = float(getattr(a, "score", a)) if not isinstance(a, float) else a
        b = float(getattr(b, "score", b)) if not isinstance(b, float) else b
        assert a == pytest.approx(b, rel=1e-13, abs=1e-15)


def test_bool_neural_responses_are_refused_with_the_conversion():
    f, r = _data(n=10)
    with pytest.raises(LayoutError, match=r"astype\('float64'\)"):
        nx.cka(f, (r > 0))


def test_crsa_pairing_error_names_its_arguments():
    f, r = _data(n=20)
    with pytest.raises(LayoutError, match=r"^crsa: Cannot pair .* stimulus ids of neural are missing in features \(net/l1\)"):
        nx.crsa(f.isel(stimulus=slice(0, 15)), r)
    with pytest.raises(LayoutError, match=r"^crsa: Cannot pair .* stimulus ids of features \(net/l1\) are missing in neural,"):
        nx.crsa(f, r.isel(stimulus=slice(5, 20)))


# ---------------------------------------------------------------------------- constant features
@pytest.mark.parametrize("call", ["ereg", "ersa", "ersa_bootstrap"])
def test_ridge_metrics_refuse_constant_features_as_the_directions_do(call):
    """A dead layer (every unit constant across the stimuli): eReg gave r near -0.6 per neuroid
    (intercept-only out-of-fold predictions) and eRSA a finite train_score; now the directions'
    one-line refusal of such a design, starting with the function called."""
    from neuroxr.geometry.inference import ersa_bootstrap

    F, R = _data()
    dead = F.copy(data=np.full(F.shape, 3.0))
    with pytest.raises(LayoutError, match=r"^forward: |^features") as fwd:
        nx.forward(dead, R, reps=2)
    rule = str(fwd.value).split("every predictor column", 1)[1]
    fn = {"ereg": geo.ereg, "ersa": geo.ersa, "ersa_bootstrap": lambda f, r: ersa_bootstrap(f, r, n_boot=5)}[call]
    with pytest.raises(LayoutError, match=rf"^{call}: features \(net/l1\): every predictor column") as e:
        fn(dead, R)
    assert str(e.value).endswith(rule) and "\n" not in str(e.value)


@pytest.mark.parametrize("call", ["ersa", "ersa_bootstrap"])
def test_ersa_refuses_features_constant_on_its_training_stimuli(call):
    """Features that vary only on the test stimuli: every fit of eRSA sees a constant design."""
    from neuroxr.geometry._common import split_train_test
    from neuroxr.geometry.inference import ersa_bootstrap

    F, R = _data()
    tr, _ = split_train_test(F.stimulus_id.values, 0.5, 0)
    X = np.random.default_rng(1).standard_normal(F.shape)
    X[tr] = 1.0
    fn = {"ersa": geo.ersa, "ersa_bootstrap": lambda f, r: ersa_bootstrap(f, r, n_boot=5)}[call]
    with pytest.raises(LayoutError, match=rf"^{call}: features \(net/l1\) \(training stimuli\): every predictor column"):
        fn(F.copy(data=X), R)
    fn(F, R)  # varying features are scored


def test_constant_design_kinds_are_one_revision_up_at_this_stop():
    """Stored ereg / ersa entries of a dead layer held artefacts: their kinds are in that stop's set."""
    from neuroxr.entries import revisions

    assert set(revisions.CONSTANT_DESIGN_METRIC_KINDS) <= set(revisions.STOPS[3])  # the stop of this fix


def test_a_gram_dataset_records_its_varying_units():
    """A Gram Dataset keeps the units' constancy (``n_varying``, ``q``, ``qc``), so CKA from it decides
    per unit as the features do (one constant unit at 1e8 leaves the layer varying); a Gram changed
    since (scaled: its trace is not the recorded one) or written before decides on its summed squares."""
    rng = np.random.default_rng(6)
    ids = [f"s{i:02d}" for i in range(30)]
    F = rng.standard_normal((30, 14))
    F[:, 0] = 1e8
    a, b = features(F, stimulus_id=ids), features(rng.standard_normal((30, 5)), stimulus_id=ids)
    g = geo.gram(a)
    assert g.attrs["n_varying"] == 13 and geo.gram_stats(g).n_varying == 13
    np.testing.assert_allclose(g["q"].values, 1e16, rtol=1e-12)
    assert geo.cka(g, b) == pytest.approx(float(geo.cka(a, b)), rel=1e-9) and not np.isnan(geo.cka(a, b))
    assert geo.gram_stats(g * 2.0).n_varying is None
    old = g.drop_vars(["q", "qc"])
    del old.attrs["n_varying"]
    assert geo.gram_stats(old).n_varying is None


# ---------------------------------------------------------------------------- edge cases
def test_compare_rdms_refuses_a_stack_naming_the_argument_and_its_dims():
    f, _ = _data(n=12)
    rdms = [geo.rdm(f.isel(unit=slice(i, i + 10))) for i in range(3)]
    stack = xr.concat(rdms, "subject")
    one = r"expected one RDM \(dims \('stimulus', 'stimulus_'\)\); got a stack of 3 RDMs on its first dim "
    with pytest.raises(LayoutError, match=rf"^compare_rdms: b \(.*\): {one}\(dims \('subject', 'stimulus', 'stimulus_'\), "
                                          r"shape \(3, 12, 12\)\); pass one RDM \(e\.g\. b\.isel\(subject=0\)\), or compare "
                                          r"stacks with compare_rdms_many"):
        geo.compare_rdms(rdms[0], stack)
    with pytest.raises(LayoutError, match=rf"^compare_rdms: a .*: {one}"):
        geo.compare_rdms(stack, rdms[0])
    with pytest.raises(LayoutError, match=rf"^compare_rdms: b: {one}\(a NumPy array of shape \(3, 12, 12\)\); pass one RDM "
                                          r"\(e\.g\. b\[0\]\)"):
        geo.compare_rdms(rdms[0], stack.values)
    many = geo.compare_rdms_many([rdms[0]], stack)  # the function for stacks
    np.testing.assert_allclose(many.values[0], [float(geo.compare_rdms(rdms[0], r)) for r in rdms], rtol=1e-12)


def test_measures_trivial_with_2_stimuli_are_refused_in_one_form():
    from neuroxr.geometry.inference import cka_bootstrap, crsa_bootstrap, rsa_bootstrap, rsa_permutation

    f, n = _data(n=2)
    start = r"2 stimuli on dim 'stimulus'; "
    with pytest.raises(LayoutError, match=rf"^effective_dimensionality: obj \(net/l1\): {start}the participation ratio needs "
                                          r"at least 3 \(with 2, it is always 1\); pass a representation of at least 3 stimuli\.$"):
        geo.effective_dimensionality(f)
    with pytest.raises(LayoutError, match=rf"^cka: a \(net/l1\) and b \(net/l1\): {start}CKA needs at least 3 \(with 2, every "
                                          r"CKA is 1\); pass representations of at least 3 stimuli\.$"):
        geo.cka(f, f)
    with pytest.raises(LayoutError, match=rf"^cka_bootstrap: a \(net/l1\) and b \(net/l1\): {start}CKA needs at least 3"):
        cka_bootstrap(f, f, n_boot=3)
    rdm_f, rdm_n = geo.rdm(f), geo.rdm(n)
    for call, caller in ((lambda: rsa_bootstrap(rdm_f, [rdm_n, rdm_n], n_boot=3), "rsa_bootstrap"),
                         (lambda: rsa_permutation(rdm_f, rdm_n, n_perm=3), "rsa_permutation"),
                         (lambda: crsa_bootstrap(f, n, n_boot=3), "crsa_bootstrap")):
        with pytest.raises(LayoutError, match=rf"^{caller}: the RDMs share 2 stimuli \(1 pair\); comparing RDMs needs at least 3"):
            call()
    f3, _ = _data(n=3)
    assert 1 <= float(geo.effective_dimensionality(f3)) <= 2


def test_cka_checks_the_pairing_before_warning():
    """Inputs whose stimuli do not pair up get the one refusal: no warning (constant features,
    trial averaging) comes first, from cka, its debiased form or cka_bootstrap."""
    import warnings

    from neuroxr.geometry.inference import cka_bootstrap

    rng = np.random.default_rng(0)
    f = features(rng.standard_normal((12, 4)), stimulus_id=[f"s{i:02d}" for i in range(12)])
    other = [f"o{i:02d}" for i in range(12)]
    for b in (features(np.ones((12, 3)), stimulus_id=other), neural(np.ones((12, 2, 2)), stimulus_id=other)):
        for fn, kw in ((geo.cka, {}), (geo.cka, {"debiased": True}), (cka_bootstrap, {"n_boot": 3})):
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                with pytest.raises(LayoutError, match=r"Cannot pair by stimulus_id"):
                    fn(f, b, **kw)
            assert [str(w.message) for w in record] == []


def test_cka_of_a_gram_judges_constancy_on_the_stimuli_kept():
    """Features varying only at a stimulus the neural data lack are constant on the stimuli
    compared: NaN with the warning from a Gram Dataset, as from the features themselves."""
    rng = np.random.default_rng(3)
    ids = [f"s{i:02d}" for i in range(12)]
    F = np.full((12, 5), 2.5)
    F[0] += rng.standard_normal(5)
    f = features(F, stimulus_id=ids, model="net", layer="l1")
    R = rng.standard_normal((12, 6, 3))
    R[0] = np.nan
    resp = neural(R, stimulus_id=ids)
    for a in (f, geo.gram(f)):
        with pytest.warns(nx.NeuroxrWarning) as record:
            assert np.isnan(float(geo.cka(a, resp)))
        assert any("has constant features" in str(w.message) for w in record)
    F[1] += rng.standard_normal(5)  # varying on the kept stimuli too: the same number either way
    f = features(F, stimulus_id=ids, model="net", layer="l1")
    with pytest.warns(nx.NeuroxrWarning):
        got = [float(geo.cka(a, resp)) for a in (f, geo.gram(f))]
    assert np.isfinite(got[0]) and got[1] == pytest.approx(got[0], rel=1e-10)


# ---------------------------------------------------------------------------- rdm_noise_ceiling's NumPy stacks
def test_rdm_noise_ceiling_refuses_one_square_rdm_and_other_shapes_naming_rdms():
    """A square (n, n) NumPy RDM was read as n condensed RDMs (the comparison then failed with
    "RDMs of different sizes (45 and 10 pairs)"); other shapes failed in the kernels, unnamed."""
    from scipy.spatial.distance import pdist, squareform

    rng = np.random.default_rng(0)
    D = squareform(pdist(rng.random((10, 3))))
    cases = [(D, r"rdms is one RDM of 10 stimuli \(a square array\).*e\.g\. np\.stack\(rdms\)\.$"),
             (rng.random((3, 14)), r"rdms has 14 values per RDM on its last axis, which is not n \(n - 1\) / 2"),
             (squareform(D), r"rdms has shape \(45,\); pass a stack of subject RDMs"),
             (np.stack([D[None]] * 2), r"rdms has shape \(2, 1, 10, 10\); pass a stack"),
             (np.zeros((2, 3, 4)), r"rdms has shape \(2, 3, 4\); pass a stack")]  # not square: broadcast error
    for x, msg in cases:
        with pytest.raises(LayoutError, match="^rdm_noise_ceiling: " + msg):
            geo.rdm_noise_ceiling(x)
    # a stack of condensed RDMs as many as their pairs (6 RDMs of 4 stimuli, not symmetric) stays a stack
    V = rng.random((6, 6))
    ds = geo.rdm_noise_ceiling(V, "pearson")
    assert float(ds["upper"]) == pytest.approx(float(geo.rdm_noise_ceiling(np.stack([squareform(v) for v in V]), "pearson")["upper"]))


def _shape_pair(seed=24, n=40, p=40):
    rng = np.random.default_rng(seed)
    ids = [f"s{i:02d}" for i in range(n)]
    A = rng.normal(size=(n, p))
    B = A[:, :6] @ rng.normal(size=(6, p)) + rng.normal(size=(n, p))
    return features(A, ids, model="m", layer="a"), features(B, ids, model="m", layer="b")


def test_shape_metrics_read_a_unit_by_stimulus_network_with_stimuli_as_rows():
    """A labeled (unit, stimulus) network was read by position, units as stimuli: with as many units as
    stimuli a silently different distance (split_distance too), else a misleading error."""
    a, b = _shape_pair()
    bt = b.transpose("unit", "stimulus")
    want = geo.LinearMetric().fit_distance(a, b)
    netrep = pytest.importorskip("netrep.metrics")
    ref = netrep.LinearMetric(alpha=1.0, center_columns=True, score_method="angular").fit_score(a.values, b.values)
    assert want == pytest.approx(ref, rel=1e-9)
    assert geo.LinearMetric().fit_distance(a, bt) == pytest.approx(want, rel=1e-12)
    assert float(geo.pairwise_distances([a.transpose("unit", "stimulus"), bt])[0, 1]) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(geo.split_distance(a, bt).distance.values, geo.split_distance(a, b).distance.values, rtol=1e-12)
    avg = geo.procrustes_average([a.transpose("unit", "stimulus"), bt])
    np.testing.assert_allclose(avg.values, geo.procrustes_average([a, b]).values, rtol=1e-10, atol=1e-12)


def test_a_list_mixing_labeled_and_unlabeled_networks_pairs_the_labeled_ones_by_stimulus_id():
    """One unlabeled network in the list made every labeled one positional: a permuted labeled network
    moved the a-b distance (0.46 -> 1.26)."""
    a, b = _shape_pair(n=60, p=20)
    c = np.random.default_rng(5).normal(size=(60, 20))  # unlabeled: in a's order as given
    perm = np.random.default_rng(6).permutation(60)
    want = float(geo.pairwise_distances([a, b])[0, 1])
    for nets in ([a, b, c], [a, b.isel(stimulus=perm), c], [c, a, b.isel(stimulus=perm)]):
        D = geo.pairwise_distances(nets)
        i, j = (0, 1) if isinstance(nets[0], xr.DataArray) else (1, 2)
        assert float(D[i, j]) == pytest.approx(want, rel=1e-12)
    # the unlabeled network follows the first labeled one as given: a in another order moves c with it
    ref = float(geo.pairwise_distances([a, c])[0, 1])
    assert float(geo.pairwise_distances([a.isel(stimulus=perm), c[perm]])[0, 1]) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(LayoutError, match=r"^pairwise_distances: .*\(unlabeled\) has 59 stimuli \(rows\) and .* 60; .*label it"):
        geo.pairwise_distances([a, c[:59]])


@pytest.mark.parametrize("kwargs, says", [
    ({"center_columns": "0"}, r"center_columns must be True or False; got '0'"),
    ({"center_columns": 0.5}, r"center_columns must be True or False; got 0.5"),
    ({"max_iter": 0}, r"max_iter must be an integer >= 1; got 0"),
    ({"tol": -1.0}, r"tol must be a finite non-negative number; got -1.0"),
])
def test_procrustes_average_checks_its_options_before_the_data(kwargs, says):
    """center_columns='0' or 0.5 was computed centred and recorded as center_columns=0; 'false' failed after the
    work with a raw error; max_iter=0 returned the first network and tol=-1 was taken."""
    a, b = _shape_pair(n=20, p=8)
    with pytest.raises(ParameterError, match=rf"^procrustes_average: {says}") as err:
        geo.procrustes_average([a, b], **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("seed", [1.5, "3", -1, True])
def test_the_shape_and_cka_bootstraps_check_their_seed(seed):
    """seed=1.5 drew as seed=1 (recorded 1), "3" as 3, and -1 raised NumPy's error naming no function."""
    from neuroxr.geometry.cka_inference import cka_bootstrap
    from neuroxr.geometry.inference import shape_bootstrap

    a, b = _shape_pair(n=20, p=8)
    for fn in (cka_bootstrap, shape_bootstrap):
        with pytest.raises(ParameterError, match=rf"^{fn.__name__}: seed must be an integer >= 0; got "):
            fn(a, b, n_boot=5, seed=seed)


def test_geometry_input_errors_are_one_line_and_name_the_argument():
    """gram(chunk_size=2.5) raised Python's TypeError, effective_dimensionality(G[["K"]]) a raw KeyError,
    cka of a Gram cut on one axis named 'rdm', and a neural network in pairwise_distances was not
    told to average its repeats."""
    a, b = _shape_pair(n=20, p=8)
    with pytest.raises(ParameterError, match=r"^gram: chunk_size must be an integer >= 1; got 2.5"):
        geo.gram(a, chunk_size=2.5)
    G = geo.gram(a)
    with pytest.raises(LayoutError, match=r"^effective_dimensionality: obj \(m/a\): the Gram Dataset lacks a, v .*pass the whole Dataset"):
        geo.effective_dimensionality(G[["K"]])
    for args, shown in (((G, G[["K"]]), r"b \(m/a\)"), ((G[["K"]], G), r"a \(m/a\)")):  # the argument, not gram_stats
        with pytest.raises(LayoutError, match=rf"^cka: {shown}: the Gram Dataset lacks a, v "):
            geo.cka(*args)
    with pytest.raises(LayoutError, match=r"^gram_stats: the Gram Dataset lacks a, v "):
        geo.gram_stats(G[["K"]])
    one_axis = G.isel(stimulus_=np.r_[1, 0, 2:20])
    one_axis = one_axis.assign_coords(stimulus_id_=("stimulus_", np.r_[G.stimulus_id_.values[:19], ["other"]]))
    with pytest.raises(LayoutError, match=r"^cka: a \(m/a\): coords 'stimulus_id' and 'stimulus_id_' do not name the same stimuli "
                                          r"once each; a Gram's rows .*isel\(stimulus=idx, stimulus_=idx\)"):
        geo.cka(one_axis, b)
    R = neural(np.random.default_rng(0).normal(size=(20, 4, 3)), list(a.stimulus_id.values))
    with pytest.raises(LayoutError, match=r"^pairwise_distances: train_data\[1\] .*neural responses with repeats; average "
                                          r"them first \(e.g. train_data\[1\].mean\('repeat'\)\)"):
        geo.pairwise_distances([a, R])


@pytest.mark.parametrize("scale", [1e-100, 1e100, 1e150])
def test_cka_is_the_same_at_any_feature_scale(scale):
    """Biased CKA of features times 1e100 was 0.0 (the Grams' products overflowed); CKA is scale-free."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(80)]
    X = rng.normal(size=(80, 30))
    Y = X[:, :10] @ rng.normal(size=(10, 50)) + rng.normal(size=(80, 50))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    ref = (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())  # Kornblith et al.'s biased CKA
    a, b = features(X, ids), features(Y, ids)
    assert float(geo.cka(a, b)) == pytest.approx(ref, rel=1e-12)
    with np.errstate(over="ignore", under="ignore"):
        assert float(geo.cka(a, features(Y * scale, ids))) == pytest.approx(ref, rel=1e-12)
        assert float(geo.cka(a, features(Y * scale, ids), debiased=True)) == pytest.approx(float(geo.cka(a, b, debiased=True)),
                                                                                             rel=1e-12)


@pytest.mark.parametrize("scale", [1e-100, 1e100, 1e150])
def test_effective_dimensionality_is_the_same_at_any_feature_scale(scale):
    """The participation ratio of features times 1e+-100 was NaN with a "degenerate Gram" warning (K * K
    overflowed or underflowed); it is scale-free: (sum l)^2 / sum l^2 of numpy's covariance spectrum."""
    Y = np.random.default_rng(1).normal(size=(50, 12)) * np.arange(1, 13)
    lam = np.clip(np.linalg.eigvalsh(np.cov(Y.T)), 0, None)
    want = lam.sum() ** 2 / (lam ** 2).sum()
    ids = [f"s{i}" for i in range(50)]
    with np.errstate(over="ignore", under="ignore"):
        assert float(geo.effective_dimensionality(features(Y * scale, ids))) == pytest.approx(want, rel=1e-12)


def test_shape_permutation_p_of_identical_shapes_is_one_whatever_the_unit_order():
    """With alpha=0 and more units than stimuli every distance is 0 up to acos's rounding (~1.5e-8): the p-value
    read that rounding and moved with the unit order (0.48, 0.90, 0.52); every null angle is a tie, p = 1."""
    from neuroxr.geometry.inference import shape_bootstrap

    rng = np.random.default_rng(12)
    ids = [f"s{i:02d}" for i in range(60)]
    A = rng.normal(size=(60, 80))
    a, b = features(A, ids), features(A[:, :5] @ rng.normal(size=(5, 90)) + rng.normal(size=(60, 90)), ids)
    for bb in (b, b.isel(unit=rng.permutation(90)), b.isel(unit=rng.permutation(90))):
        r = shape_bootstrap(a, bb, alpha=0.0, n_boot=2, n_perm=20, seed=1)
        assert float(r.distance) < 1e-7 and float(r.p) == 1.0


@pytest.mark.parametrize("kwargs, says", [({"center_columns": "0"}, r"center_columns must be True or False; got '0'"),
                                          ({"max_iter": 0}, r"max_iter must be an integer >= 1; got 0")])
def test_procrustes_kmeans_checks_its_options_before_the_data(kwargs, says):
    """center_columns='0' was read by truthiness (centred) and max_iter was not checked."""
    a, b = _shape_pair(n=20, p=8)
    with pytest.raises(ParameterError, match=rf"^procrustes_kmeans: {says}"):
        geo.procrustes_kmeans([a, b, a], 2, **kwargs)


@pytest.mark.parametrize("call", ["cka", "crsa", "pairwise_distances", "cka_bootstrap"])
def test_dims_named_after_the_ids_are_refused_in_one_line(call):
    """A DataArray whose dims are the id names ((stimulus_id, unit_id), as xarray builds one from a table)
    raised xarray's "Dimensions {'stimulus'} do not exist" from the reordering; now the layout refusal
    naming the argument and the dims expected."""
    from neuroxr.geometry.inference import cka_bootstrap

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(12)]
    bad = xr.DataArray(rng.normal(size=(12, 5)), dims=("stimulus_id", "unit_id"),
                       coords={"stimulus_id": ids, "unit_id": [f"u{j}" for j in range(5)]})
    good, resp = features(rng.normal(size=(12, 4)), ids), neural(rng.normal(size=(12, 3, 4)), ids)
    f = {"cka": lambda: geo.cka(bad, good), "crsa": lambda: nx.crsa(bad, resp),
         "pairwise_distances": lambda: geo.pairwise_distances([bad, good]),
         "cka_bootstrap": lambda: cka_bootstrap(bad, good, n_boot=3)}[call]
    with pytest.raises(LayoutError, match=rf"^{call}: .*\('stimulus_id', 'unit_id'\)"):
        f()


def test_a_stack_of_rdms_in_different_stimulus_orders_is_paired_by_id():
    """xr.concat of RDMs listing their stimuli in different orders gives per-RDM ids (a 2-d coord):
    every RDM is paired by id, as the same RDMs in a list are."""
    from neuroxr.geometry import inference as gi

    rng = np.random.default_rng(0)
    n, ids = 8, [f"s{i}" for i in range(8)]

    def feats(name):
        return xr.DataArray(rng.normal(size=(n, 5)), dims=("stimulus", "unit"), name=name,
                            coords={"stimulus_id": ("stimulus", ids), "unit_id": ("unit", list("abcde"))})

    model, base = geo.rdm(feats("model")), feats("b")
    subs = [geo.rdm((base + 0.3 * feats("n")).rename(f"sub{i}")) for i in range(3)]
    q = rng.permutation(n)
    stack = xr.concat([subs[0], subs[1].isel(stimulus=q, stimulus_=q), subs[2]], "subject")
    stack = stack.assign_coords(subject=["x", "y", "z"])
    assert stack["stimulus_id"].ndim == 2
    want, got = geo.rdm_noise_ceiling(subs, "pearson"), geo.rdm_noise_ceiling(stack, "pearson")
    assert float(got.lower) == pytest.approx(float(want.lower), abs=1e-12)
    assert float(got.upper) == pytest.approx(float(want.upper), abs=1e-12)
    many = geo.compare_rdms_many(stack, [model], "pearson")
    np.testing.assert_allclose(many.values, geo.compare_rdms_many(subs, [model], "pearson").values, atol=1e-12)
    assert list(many["a"].values if "a" in many.coords else many[many.dims[0]].values) == ["x", "y", "z"]
    boot = gi.rsa_bootstrap(model, stack, n_boot=5)
    assert float(boot.score) == pytest.approx(float(gi.rsa_bootstrap(model, subs, n_boot=5).score), abs=1e-12)


@pytest.mark.parametrize("permuted", [False, True])
def test_a_stack_made_by_stacking_two_dims_is_read_with_text_labels(permuted):
    """RDMs over (subject, session) stacked as the stack refusal advises (``.stack(rdm=("subject",
    "session"))``, a MultiIndex) failed in rsa_bootstrap (IndexError) and compare_rdms_many (ValueError).
    They read as the same RDMs labeled "<subject>/<session>", the subjects drawn by those labels."""
    from neuroxr.geometry.rdm_stack import stack_labels

    rng = np.random.default_rng(1)
    n, ids = 9, [f"s{i}" for i in range(9)]

    def rdm_of(name):
        return geo.rdm(xr.DataArray(rng.normal(size=(n, 4)), dims=("stimulus", "unit"), name=name,
                                    coords={"stimulus_id": ("stimulus", ids), "unit_id": ("unit", list("abcd"))}))

    model = rdm_of("model")
    grid = xr.concat([xr.concat([rdm_of(f"{s}{k}") for k in (1, 2)], "session") for s in ("BE", "KO", "SN")], "subject")
    grid = grid.assign_coords(subject=["BE", "KO", "SN"], session=[1, 2])
    stacked = grid.stack(rdm=("subject", "session")).transpose("rdm", "stimulus", "stimulus_")
    if permuted:  # the subjects are drawn by their labels, whatever their order
        stacked = stacked.isel(rdm=[3, 0, 5, 1, 4, 2])
    labels = [f"{s}/{k}" for s in ("BE", "KO", "SN") for k in (1, 2)]
    flat = grid.stack(rdm=("subject", "session")).transpose("rdm", "stimulus", "stimulus_")
    flat = flat.drop_vars(["rdm", "subject", "session"]).assign_coords(rdm=labels)
    assert stack_labels(stacked) == ([labels[i] for i in [3, 0, 5, 1, 4, 2]] if permuted else labels)
    for over in ("stimuli", "subjects", "both"):
        got, want = gi.rsa_bootstrap(model, stacked, n_boot=20, over=over), gi.rsa_bootstrap(model, flat, n_boot=20, over=over)
        for name in ("score", "score_boot", "noise_lower", "noise_upper"):
            np.testing.assert_allclose(got[name].values, want[name].values, rtol=1e-12, err_msg=f"{over} {name}")
    many = geo.compare_rdms_many(stacked, [model], "pearson")
    assert list(many["rdm_a"].values) == stack_labels(stacked)
    np.testing.assert_allclose(many.values, geo.compare_rdms_many(flat, [model], "pearson").sel(rdm_a=many["rdm_a"]).values,
                               rtol=1e-12)
    ceiling = geo.rdm_noise_ceiling(stacked, "pearson")
    assert float(ceiling.lower) == pytest.approx(float(geo.rdm_noise_ceiling(flat, "pearson").lower), abs=1e-12)


def test_rdms_taken_from_a_stack_mix_with_numpy_rdms_in_a_list():
    """An RDM taken from a stack (``stack[0]``, with a 0-d ``rdm`` coord) beside a NumPy RDM in a list made
    rdm_noise_ceiling, compare_rdms_many and rsa_bootstrap fail in xr.concat ("coordinate 'rdm' not present
    in all datasets"), and a list of such RDMs warned of xarray's coming concat defaults. Both give the
    stack's numbers, without a warning."""
    rng = np.random.default_rng(2)
    n, ids = 9, [f"s{i}" for i in range(9)]

    def rdm_of(name):
        return geo.rdm(xr.DataArray(rng.normal(size=(n, 4)), dims=("stimulus", "unit"), name=name,
                                    coords={"stimulus_id": ("stimulus", ids), "unit_id": ("unit", list("abcd"))}))

    model = rdm_of("model")
    stack = xr.concat([rdm_of(f"sub{i}") for i in range(3)], "rdm").assign_coords(rdm=["x", "y", "z"])
    for items in ([stack[0], stack[1].values, stack[2]], [stack[0].values, stack[1], stack[2]], [stack[0], stack[1], stack[2]]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = geo.rdm_noise_ceiling(items, "pearson")
            many = geo.compare_rdms_many(items, [model], "pearson")
            boot = gi.rsa_bootstrap(model, items, n_boot=5)
        want = geo.rdm_noise_ceiling(stack, "pearson")
        np.testing.assert_allclose(got["lower_per_subject"].values, want["lower_per_subject"].values, rtol=1e-12)
        np.testing.assert_allclose(got["upper_per_subject"].values, want["upper_per_subject"].values, rtol=1e-12)
        ref = [float(geo.compare_rdms(stack[i], model, "pearson")) for i in range(3)]
        np.testing.assert_allclose(many.values[:, 0], ref, rtol=1e-12)
        assert float(boot.score) == pytest.approx(float(gi.rsa_bootstrap(model, stack, n_boot=5).score), rel=1e-12)


@pytest.mark.parametrize("bad, says", [
    ("similarity", "looks like a similarity matrix"),
    ("asymmetric", "an RDM is symmetric, but 1 of its 66 pairs differ from their mirror"),
    ("diagonal", "an RDM has a zero diagonal, but 1 of its 12 diagonal values are not"),
])
def test_a_labeled_rdm_is_checked_as_a_numpy_one_is(bad, says):
    """A labeled DataArray (stimulus, stimulus_) went unchecked: a similarity matrix, an asymmetric matrix or one with a
    diagonal was compared on its upper triangle as if it were an RDM. It is refused as the same NumPy matrix is, in
    every function that reads RDMs; RDMs of nx.rdm pass, in any column order."""
    f, neu = _data(n=12)
    ids = f["stimulus_id"].values
    model = geo.rdm(f)
    D = np.asarray(geo.rdm(neu).values).copy()
    if bad == "similarity":
        D = 1 - D
    elif bad == "asymmetric":
        D[2, 5] += 0.5
    else:
        D[3, 3] = 0.2
    labeled = xr.DataArray(D, dims=("stimulus", "stimulus_"), name="mine",
                           coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)})
    with pytest.raises(LayoutError, match=says):
        geo.compare_rdms(model, D)  # the NumPy matrix: refused before too
    for call in (lambda: geo.compare_rdms(model, labeled), lambda: geo.compare_rdms_many([model], [labeled]),
                 lambda: geo.compare_rdms_many([model], xr.concat([geo.rdm(neu), labeled], "subject")),
                 lambda: gi.rsa_bootstrap(model, [geo.rdm(neu), labeled], n_boot=5),
                 lambda: geo.rdm_noise_ceiling([geo.rdm(neu), labeled])):
        with pytest.raises(LayoutError, match=says):
            call()
    q = np.random.default_rng(0).permutation(12)
    for method in ("correlation", "euclidean", "cosine"):
        other = geo.rdm(neu, method=method).isel(stimulus_=q)  # columns in another order: paired by id, then checked
        assert np.isfinite(float(geo.compare_rdms(model, other)))


@pytest.mark.parametrize("value", [0.5, "no", 1])
def test_split_half_rdm_ceiling_takes_spearman_brown_as_a_bool_only(value):
    """0.5 applied the correction and recorded spearman_brown=0; "no" failed after the computation."""
    _, R = _data(n=12, k=6)
    with pytest.raises(ParameterError, match=r"^split_half_rdm_ceiling: spearman_brown must be True or False") as e:
        geo.split_half_rdm_ceiling(R, reps=2, spearman_brown=value)
    assert "\n" not in str(e.value)


def _rsa_inputs():
    F, R = _data(n=12, k=5)
    return F, R, geo.rdm(F)


@pytest.mark.parametrize(("call", "match"), [
    (lambda F, R, A: geo.rdm_noise_ceiling(None), r"^rdm_noise_ceiling: rdms: no RDMs given \(got NoneType\)"),
    (lambda F, R, A: gi.rsa_bootstrap(A, 5), r"^rsa_bootstrap: data_rdms: no RDMs given \(got int\)"),
    (lambda F, R, A: gi.crsa_bootstrap(F, R, rdm_method="foo", n_boot=3),
     r"^crsa_bootstrap: rdm_method must be one of"),
    (lambda F, R, A: gi.crsa_bootstrap(F, [], n_boot=3), r"^crsa_bootstrap: neural: no neural sets given"),
    (lambda F, R, A: gi.ersa_bootstrap(F, R, rdm_method="foo", n_boot=3),
     r"^ersa_bootstrap: rdm_method must be one of"),
    (lambda F, R, A: gi.ersa_bootstrap(F, R, n_boot=3, n_perm=3, indices=np.zeros((3, 6), dtype=int), seed=1.7),
     r"^ersa_bootstrap: seed must be an integer >= 0; got 1.7"),
    (lambda F, R, A: gi.ersa_bootstrap(F, R, n_boot=3, seed="x"), r"^ersa_bootstrap: seed must be an integer"),
])
def test_rsa_inference_arguments_are_refused_in_one_line_naming_the_function(call, match):
    """A raw TypeError (no RDMs), 'rdm: method ...' for crsa/ersa_bootstrap's rdm_method, data_rdms named for
    crsa_bootstrap's neural sets, and a seed of 1.7 drawn as 1 by ersa_bootstrap's permutations."""
    with pytest.raises((LayoutError, ParameterError), match=match) as e:
        call(*_rsa_inputs())
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_rdms_of_features_whose_squares_leave_float64_are_refused_not_wrong(method):
    """Features beyond about 1e+-154 (their squares leave float64's normal range) gave correlation and
    cosine RDMs of 0s and 2s (tiny) or NaN (huge), a wrong crsa score, and a raw OverflowError for
    Euclidean ones; now one line naming the input, also where the squares flush to exactly 0 (1e-200:
    NaN RDMs, as zero patterns, without a word). Just inside the range the RDMs match scipy; a pattern
    of zeros among others is still a zero pattern (NaN correlation and cosine distances), not refused."""
    from scipy.spatial.distance import pdist, squareform

    rng = np.random.default_rng(0)
    F, Y = rng.normal(size=(8, 5)), rng.normal(size=(8, 4, 2))
    for scale in (1e-150, 1e150):
        ref = squareform(pdist(F * scale, method))
        got = geo.rdm(nx.features(F * scale), method=method).values
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * ref.max())
    for scale, how in ((1e-155, "fall below"), (1e-200, "fall below"), (1e-300, "fall below"), (1e160, "overflow")):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # the refusal alone: NumPy's overflow notes came first
            with pytest.raises(LayoutError, match=rf"^rdm: obj \(features\): the features' squared norms {how} float64's "
                               r"normal range .*features / abs\(features\)\.max\(\)"):
                geo.rdm(nx.features(F * scale), method=method)
            with pytest.raises(LayoutError, match=rf"^crsa: features: the features' squared norms {how}"):
                geo.crsa(nx.features(F * scale), nx.neural(Y), rdm_method=method)
    Z = F + 0.37
    Z[3] = 0.0
    D = geo.rdm(nx.features(Z), method=method).values
    ref = squareform(pdist(Z, method)) if method not in ("correlation", "cosine") else None
    if ref is not None:
        np.testing.assert_allclose(D, ref, rtol=1e-12, atol=1e-12)
    else:
        assert np.isnan(D[3, [i for i in range(8) if i != 3]]).all() and np.isfinite(np.delete(np.delete(D, 3, 0), 3, 1)).all()


def test_permuting_the_stimuli_changes_no_bit_of_rdms_comparisons_or_ceilings():
    """RDMs, split-half RDMs, comparisons and noise ceilings summed in the inputs' stimulus order, so a
    permutation moved them in the last bits (up to 5.6e-16); they are computed in canonical order now."""
    import dask.array as dsa

    rng = np.random.default_rng(1)
    n = 30
    F = nx.features(rng.normal(size=(n, 200)) * 3 + 1)
    R = nx.neural(rng.normal(size=(n, 12, 4)) + rng.normal(size=(n, 12, 1)))
    perm = rng.permutation(n)
    back = np.argsort(perm)

    def same_rdm(x, y):  # y of the permuted input, labeled in its order
        assert np.array_equal(y.stimulus_id.values, x.stimulus_id.values[perm])
        np.testing.assert_array_equal(y.values[np.ix_(back, back)], x.values)

    for method in ("correlation", "cosine", "euclidean"):
        same_rdm(geo.rdm(F, method=method), geo.rdm(F.isel(stimulus=perm), method=method))
        same_rdm(geo.rdm(R, method=method), geo.rdm(R.isel(stimulus=perm), method=method))
    lazy = F.copy(data=dsa.from_array(F.values, chunks=(n, 64)))
    same_rdm(geo.rdm(lazy), geo.rdm(lazy.isel(stimulus=perm)))
    same_rdm(geo.rdm(geo.gram(F)), geo.rdm(geo.gram(F.isel(stimulus=perm))))
    halves, halves_p = geo.split_half_rdms(R, seed=2, reps=2), geo.split_half_rdms(R.isel(stimulus=perm), seed=2, reps=2)
    np.testing.assert_array_equal(halves_p.values[:, :, back][:, :, :, back], halves.values)
    subjects = [geo.rdm(R.isel(neuroid=slice(i, i + 4))) for i in (0, 4, 8)]
    shuffled = [s.isel(stimulus=perm, stimulus_=perm) for s in subjects]
    methods = ["pearson", "spearman", "kendall", "cosine"]
    a, b = geo.rdm(F), subjects[0]
    np.testing.assert_array_equal(geo.compare_rdms(a.isel(stimulus=perm, stimulus_=perm), b, methods).values,
                                  geo.compare_rdms(a, b, methods).values)
    for method in methods:
        np.testing.assert_array_equal(geo.compare_rdms_many(shuffled, [a], method).values,
                                      geo.compare_rdms_many(subjects, [a], method).values)
        assert geo.rdm_noise_ceiling(shuffled, method).equals(geo.rdm_noise_ceiling(subjects, method))


@pytest.mark.parametrize("call", [
    lambda g, f: gi.shape_bootstrap(g, f, n_boot=3),
    lambda g, f: gi.shape_bootstrap(f, g, n_boot=3),
    lambda g, f: geo.pairwise_distances({"a": g, "b": f}),
    lambda g, f: geo.procrustes_average([f, g]),
    lambda g, f: geo.LinearMetric().fit_distance(g, f),
], ids=["bootstrap-X", "bootstrap-Y", "pairwise", "average", "metric"])
def test_shape_metrics_refuse_a_gram_dataset_in_one_line_naming_it(call):
    """cka, rdm and effective_dimensionality read a Gram Dataset; the shape metrics cannot (they align
    the representations). They raised xarray's TypeError, or called it a ragged array."""
    f = features(np.random.default_rng(0).normal(size=(20, 6)), [f"s{i:02d}" for i in range(20)])
    with pytest.raises(LayoutError, match=r"is a Dataset \(a Gram\); the shape metrics align") as e:
        call(geo.gram(f), f)
    assert "\n" not in str(e.value)


def test_rdm_lists_read_a_dict_labeled_by_its_keys():
    """A dict of data RDMs was read as its keys ('data_rdms[0]: expected an RDM ...; got str'); it is
    read as pairwise_distances reads a dict of networks: the values, labeled by the keys."""
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(12)]
    model = geo.rdm(features(rng.normal(size=(12, 6)), ids))
    e1, e2 = (geo.rdm(features(rng.normal(size=(12, 6)), ids)) for _ in range(2))
    e2 = e2.isel(stimulus=slice(None, None, -1))  # another stimulus order: paired by id
    as_dict, as_list = {"x": e1, "y": e2}, [e1, e2]
    many = geo.compare_rdms_many(model, as_dict)
    assert list(many["rdm_b"].values) == ["x", "y"]
    np.testing.assert_array_equal(many.values, geo.compare_rdms_many(model, as_list).values)
    for got, ref in ((gi.rsa_bootstrap(model, as_dict, n_boot=5, seed=1), gi.rsa_bootstrap(model, as_list, n_boot=5, seed=1)),
                     (gi.rsa_permutation(model, as_dict, n_perm=5, seed=1), gi.rsa_permutation(model, as_list, n_perm=5, seed=1))):
        xr.testing.assert_identical(got, ref)
    with pytest.raises(LayoutError, match=r"data_rdms\['y'\]: an RDM without stimulus ids has 3 stimuli"):
        gi.rsa_bootstrap(model, {"x": e1, "y": np.ones((3, 3))}, n_boot=5)


def test_rdm_carries_the_inputs_stimulus_coords_on_both_dims():
    """Labeled in, labeled out: a stimulus coord (category) was dropped from the RDM."""
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(6)]
    cat = ("stimulus", list("aabbcc"))
    f = features(rng.normal(size=(6, 4)), ids).assign_coords(category=cat)
    D = geo.rdm(f.isel(stimulus=[3, 0, 5, 1, 4, 2]))
    assert list(D["category"].values) == list(D["category_"].values) == list("bacacb")
    values = rng.normal(size=(6, 3, 2))
    values[1] = np.nan  # a stimulus without trials: dropped, and its label with it
    with pytest.warns(nx.NeuroxrWarning):
        N = geo.rdm(neural(values, ids).assign_coords(category=cat))
    assert list(N["stimulus_id"].values) == ["s00"] + ids[2:]
    assert list(N["category_"].values) == list("abbcc")



@pytest.mark.parametrize("scale", [1e-162, 1e-200, 1e200])
def test_cka_and_dimensionality_refuse_features_whose_squares_leave_the_range(scale):
    """Features beyond about 1e+-154 square out of float64's normal range: CKA and effective
    dimensionality gave a wrong number without a warning (1e-162: 0.31 for 0.42, 7.0 for 14.3) or NaN
    blamed on constant features; they are refused in one line naming the argument, as RDMs are."""
    a, b = _shape_pair(n=20, p=8)
    small = a * scale
    calls = {"cka": lambda: geo.cka(small, b), "effective_dimensionality": lambda: geo.effective_dimensionality(small),
             "cka_bootstrap": lambda: gi.cka_bootstrap(b, small, n_boot=5), "rdm": lambda: geo.rdm(small)}
    for caller, call in calls.items():
        arg = "b" if caller == "cka_bootstrap" else ("a" if caller == "cka" else "obj")
        with warnings.catch_warnings(), pytest.raises(LayoutError, match=rf"^{caller}: {arg}\b.*squared norms (fall below|overflow) float64's normal range"):
            warnings.simplefilter("error", RuntimeWarning)  # one line, without NumPy's overflow notes before it
            call()
    assert float(geo.cka(a * 1e-150, b)) == pytest.approx(float(geo.cka(a, b)), rel=1e-12)  # within range: scale-free


@pytest.mark.parametrize("method,row", [("correlation", 5.0), ("cosine", 0.0)])
def test_rdm_names_stimuli_whose_dissimilarities_are_undefined(method, row):
    """A stimulus whose pattern is constant (correlation) or all zero (cosine: a ReLU layer silent for
    one image) has a row of NaN: said once at the RDM, not only at a later comparison."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 5)) + 3
    X[3] = row
    f = features(X, stimulus_id=[f"s{i}" for i in range(8)], model="net", layer="relu")
    with pytest.warns(nx.NeuroxrWarning, match=r"^rdm: .*1 of 8 stimuli have a pattern .* \(e\.g\. \['s3'\]\), so their "
                                               rf"{method} dissimilarities are undefined"):
        D = nx.rdm(f, method=method)
    assert np.isnan(D.values[3, [0, 1, 2, 4]]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every pattern varies: no warning
        nx.rdm(features(rng.normal(size=(8, 5)), stimulus_id=[f"s{i}" for i in range(8)]), method=method)


def test_ereg_names_and_counts_neuroids_constant_up_to_rounding():
    """A neuroid constant across the stimuli up to rounding has no correlation: NaN with the directions'
    warning and counted (its out-of-fold r was one of rounding, or it was left out without a word);
    the score is the mean of the others, NaN without NumPy's empty-mean warning when none is left."""
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(24)]
    F = features(rng.normal(size=(24, 6)), stimulus_id=ids, model="net", layer="l1")
    R = (F.values @ rng.normal(size=(6, 5)))[:, :, None] + rng.normal(size=(24, 5, 4))
    R[:, 0, :] = 1.0 + 1e-12 * rng.normal(size=(24, 4))  # rounding around 1
    with pytest.warns(nx.NeuroxrWarning, match=r"^ereg: neural: 1 neuroids are constant across stimuli .*\['neuroid0'\]"):
        out = geo.ereg(F, neural(R, stimulus_id=ids), n_folds=3)
    assert np.isnan(out.r.values[0]) and np.isfinite(out.r.values[1:]).all()
    assert out.attrs["n_constant_neuroids"] == 1 and float(out.score) == pytest.approx(out.r.values[1:].mean())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(nx.NeuroxrWarning, match=r"5 neuroids are constant"):
            flat = geo.ereg(F, neural(np.ones((24, 5, 4)), stimulus_id=ids), n_folds=3)
    assert np.isnan(float(flat.score)) and flat.attrs["n_constant_neuroids"] == 5


@pytest.mark.parametrize("n", [1, 2])
def test_split_half_measures_refuse_fewer_than_3_stimuli(n):
    """Half means of 2 stimuli correlate +-1 and an RDM of 2 has one pair: every value was NaN, without
    a word (or blamed on constant neuroids)."""
    ids = [f"s{i}" for i in range(n)]
    N = neural(np.random.default_rng(0).normal(size=(n, 4, 6)), stimulus_id=ids)
    with pytest.raises(LayoutError, match=rf"^split_half_reliability: neural: {n} stimuli on dim 'stimulus'; .* at least 3"):
        nx.split_half_reliability(N, reps=3)
    with pytest.raises(LayoutError, match=rf"^split_half_rdm_ceiling: the split-half RDMs of neural hold {n} stimuli .*at least 3"):
        nx.split_half_rdm_ceiling(N, reps=3)


def test_trial_averaged_responses_are_not_said_to_be_averaged_and_dimensionality_counts_what_it_drops():
    """cka and effective_dimensionality said 'its repeats are averaged (NaN-mean) first' of responses with one
    repeat (a repeat-averaged file), where nothing is averaged; effective_dimensionality recorded no count of
    the stimuli and neuroids it dropped for missing trials, which rdm and cka record."""
    rng = np.random.default_rng(0)
    ids = np.array([f"s{i:02d}" for i in range(12)])
    one = neural(rng.normal(size=(12, 5, 1)), stimulus_id=ids)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        geo.cka(one, one)
        geo.effective_dimensionality(one)
    assert not [x for x in w if "averaged" in str(x.message)]
    R = rng.normal(size=(12, 5, 3))
    R[:, 2, :], R[4] = np.nan, np.nan  # a neuroid without trials, a stimulus without trials
    three = neural(R, stimulus_id=ids)
    with pytest.warns(nx.NeuroxrWarning, match="repeats are averaged"):
        ed = geo.effective_dimensionality(three)
    counts = {k: geo.rdm(three).attrs[k] for k in ("n_excluded_stimuli", "n_excluded_neuroids")}
    assert counts == {"n_excluded_stimuli": 1, "n_excluded_neuroids": 1}
    assert {k: ed.attrs[k] for k in counts} == counts and ed.attrs["n_stimuli"] == 11 and ed.attrs["n_units"] == 4
    kept = features(np.nanmean(np.delete(np.delete(R, 4, 0), 2, 1), axis=2), stimulus_id=np.delete(ids, 4))
    assert float(ed) == pytest.approx(float(geo.effective_dimensionality(kept)), rel=1e-12)


def test_a_stack_of_rdms_over_two_dims_is_refused_saying_how_to_stack_it():
    """rdm_noise_ceiling given RDMs over (subject, session) (the 92-image loader's hIT) said 'rdms[0]: expected one
    RDM ... or compare stacks with ... rdm_noise_ceiling', pointing back to itself; now one line saying how to stack
    the dims into one, and that stack gives the ceiling of the eight RDMs listed one by one."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(6)]
    rdms = [geo.rdm(features(rng.normal(size=(6, 4)), stimulus_id=ids)) for _ in range(8)]
    four = xr.concat(rdms, "rdm").data.reshape(4, 2, 6, 6)
    stack = xr.DataArray(four, dims=("subject", "session", "stimulus", "stimulus_"),
                         coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)})
    fix = r"stack them into one first, e.g. rdms\.stack\(rdm=\('subject', 'session'\)\)\.transpose\('rdm', 'stimulus', 'stimulus_'\)\.$"
    with pytest.raises(LayoutError, match=r"^rdm_noise_ceiling: rdms: a stack of RDMs over 2 dims .*" + fix):
        geo.rdm_noise_ceiling(stack)
    with pytest.raises(LayoutError, match=r"^compare_rdms_many: b: a stack of RDMs over 2 dims"):
        geo.compare_rdms_many(rdms[0], stack)
    got = geo.rdm_noise_ceiling(stack.stack(rdm=("subject", "session")).transpose("rdm", "stimulus", "stimulus_"))
    ref = geo.rdm_noise_ceiling(rdms)
    assert float(got["lower"]) == pytest.approx(float(ref["lower"]), rel=1e-12)
    assert float(got["upper"]) == pytest.approx(float(ref["upper"]), rel=1e-12)


def test_an_rdm_a_grams_k_or_neural_data_given_as_features_is_told_what_to_pass():
    """A labeled RDM or a Gram Dataset's K given to cka / effective_dimensionality, and neural responses given to gram,
    were told to rename their dims ('missing ['unit'] ... e.g. da.rename(...)'); an unlabeled array was refused without
    the fix. Each refusal now says what to pass."""
    F, R = _data(n=12)
    G = geo.gram(F)
    for call, arg in ((lambda x: geo.cka(x, F), "a"), (lambda x: geo.effective_dimensionality(x), "obj")):
        for x in (G["K"], geo.rdm(F)):
            with pytest.raises(LayoutError, match=rf": {arg} \(.*\): dims \('stimulus', 'stimulus_'\) are an RDM or a Gram's K, "
                                                  r"not a representation; pass the features .*nx\.gram\(features\)"):
                call(x)
        with pytest.raises(LayoutError, match=rf": {arg}: expected features .*got ndarray\. Label an array first, e\.g\. "
                                              r"nx\.features\(values, stimulus_id=\.\.\.\)\.$"):
            call(F.values)
    with pytest.raises(LayoutError, match=r"^gram: features \(v4\): dims \('stimulus', 'neuroid', 'repeat'\) are neural data; .*average "
                                          r"the repeats first"):
        geo.gram(R.rename("v4"))
    x = R  # the recipe the message gives
    assert geo.gram(features(x.mean("repeat").values, stimulus_id=x.stimulus_id.values)).sizes["stimulus"] == 12


def test_a_dataset_of_stacks_given_as_rdms_is_refused_naming_its_variables():
    """A Dataset (a Mapping of its variables: the 92-image loader's) given as the RDMs was read as a dict of RDMs, and the
    first stack among its variables was told to 'compare stacks with compare_rdms_many (or rdm_noise_ceiling)', the
    functions called. It is refused naming the variables that are not single RDMs; a Dataset of single RDMs is still a
    dict of them."""
    F, R = _data(n=10)
    one = geo.rdm(F)
    stack = xr.concat([geo.rdm(R), one], "rdm")
    ds = xr.Dataset({"subjects": stack, "mean": stack.mean("rdm")})
    for call in (lambda: geo.rdm_noise_ceiling(ds), lambda: geo.compare_rdms_many([one], ds),
                 lambda: gi.rsa_bootstrap(one, ds, n_boot=3)):
        with pytest.raises(LayoutError, match=r": (rdms|b|data_rdms): a Dataset whose variables \['subjects'\] are not single "
                                              r"RDMs .*e\.g\. (rdms|b|data_rdms)\['subjects'\]"):
            call()
    singles = xr.Dataset({"x": geo.rdm(R), "y": one})
    got = geo.rdm_noise_ceiling(singles, "pearson")
    assert list(got["subject"].values) == ["x", "y"]
    assert float(got.lower) == pytest.approx(float(geo.compare_rdms(geo.rdm(R), one, "pearson")), rel=1e-12)


def test_a_square_numpy_stack_of_condensed_rdms_is_read_as_rdm_noise_ceiling_reads_it():
    """m condensed RDMs of m = n (n - 1) / 2 pairs each (6 RDMs of 4 stimuli: a (6, 6) array) were read by
    compare_rdms_many as one square RDM and refused as asymmetric, where rdm_noise_ceiling reads them as 6 RDMs.
    Both read them as 6 RDMs now; a symmetric square array is still one matrix (a similarity matrix refused)."""
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import pearsonr

    rng = np.random.default_rng(4)
    V = np.array([pdist(rng.standard_normal((4, 3))) for _ in range(6)])
    got = geo.compare_rdms_many(V, V[:2], "pearson")
    ref = [[pearsonr(u, v)[0] for v in V[:2]] for u in V]
    np.testing.assert_allclose(got.values, ref, rtol=1e-12)
    np.testing.assert_allclose(geo.compare_rdms_many(V[:2], V, "pearson").values, np.transpose(ref), rtol=1e-12)
    assert float(geo.rdm_noise_ceiling(V, "pearson").lower) == pytest.approx(
        float(geo.rdm_noise_ceiling(list(V), "pearson").lower), rel=1e-12)
    S = np.corrcoef(rng.standard_normal((6, 3)))  # symmetric: one matrix, a similarity one
    with pytest.raises(LayoutError, match=r"looks like a similarity matrix"):
        geo.compare_rdms_many(S, [squareform(V[0])])


def test_an_rsatoolbox_stack_is_labeled_by_position_with_or_without_stimulus_ids():
    """The RDMs of an rsatoolbox RDMs without a subject descriptor were labeled 'rdms[0]', 'rdms[1]', ... but
    'rdms#0', 'rdms#1', ... once a stimulus_id descriptor paired them by id; both are labeled by position alike."""
    rsr = pytest.importorskip("rsatoolbox.rdm")
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(5)
    n, ids = 7, [f"s{i}" for i in range(7)]
    V = np.array([pdist(rng.standard_normal((n, 3))) for _ in range(3)])
    plain = geo.rdm_noise_ceiling(rsr.RDMs(V), "pearson")
    labeled = geo.rdm_noise_ceiling(rsr.RDMs(V, pattern_descriptors={"stimulus_id": ids}), "pearson")
    assert list(plain["subject"].values) == list(labeled["subject"].values) == ["rdms[0]", "rdms[1]", "rdms[2]"]
    np.testing.assert_allclose(labeled["lower_per_subject"].values, plain["lower_per_subject"].values, rtol=1e-12)
    many = geo.compare_rdms_many(rsr.RDMs(V, pattern_descriptors={"stimulus_id": ids}), V[:1], "pearson")
    assert list(many["rdm_a"].values) == ["a[0]", "a[1]", "a[2]"]


@pytest.mark.parametrize("n", [4, 5])
def test_a_split_of_too_few_stimuli_for_any_test_size_asks_for_more_stimuli_only(n):
    """With fewer than 6 stimuli no test_size gives each side 3: the refusal said to use 'a test_size nearer
    0.5' also at test_size=0.5; it says 6 stimuli are needed. Where another test_size would do, it says so."""
    from neuroxr.geometry import split_train_test

    for test_size in (0.5, 0.3, 0.7):
        with pytest.raises(LayoutError, match=rf"too few stimuli \({n}\) .*at least 3 \(6 stimuli in all\); use more stimuli\.$") as got:
            split_train_test(n, test_size=test_size)
        assert "test_size nearer" not in str(got.value)
    with pytest.raises(LayoutError, match=r"use more stimuli or a test_size nearer 0\.5\.$"):
        split_train_test(8, test_size=0.2)
    train, test = split_train_test(8, test_size=0.5)  # the advice followed
    assert train.size == test.size == 4


def test_held_out_networks_are_named_by_their_label_in_a_refusal():
    """A held-out network's duplicate unit ids were named 'test_data[0]' alone; the network's label follows."""
    rng = np.random.default_rng(0)
    ids, held = [f"s{i}" for i in range(20)], [f"t{i}" for i in range(10)]
    A = features(rng.normal(size=(20, 4)), ids, name="netA")
    B = features(rng.normal(size=(20, 4)), ids, name="netB")
    At = features(rng.normal(size=(10, 4)), held, name="netA").assign_coords(unit_id=("unit", ["u0", "u0", "u1", "u2"]))
    Bt = features(rng.normal(size=(10, 4)), held, name="netB")
    with pytest.raises(LayoutError, match=r"^pairwise_distances: test_data\[0\] \(netA\) has 1 duplicate unit_id"):
        geo.pairwise_distances([A, B], test_data=[At, Bt])
    with pytest.raises(LayoutError, match=r"^pairwise_distances: test_data\['a'\] \(netA\) has 1 duplicate unit_id"):
        geo.pairwise_distances({"a": A, "b": B}, test_data={"a": At, "b": Bt})


@pytest.mark.parametrize("call", ["ersa", "ereg", "ersa_bootstrap"])
def test_encoding_rsa_names_a_gram_given_as_features(call):
    """eRSA, eReg and eRSA's bootstrap fit ridge models on the units, which a Gram Dataset does not hold: the
    one-line error says it is a Gram and to pass the features, not to label a Dataset with nx.features."""
    F, N = _data()
    fn = getattr(gi, call) if call == "ersa_bootstrap" else getattr(geo, call)
    kwargs = {"n_boot": 5} if call == "ersa_bootstrap" else {}
    with pytest.raises(LayoutError) as err:
        fn(geo.gram(F), N, **kwargs)
    msg = str(err.value)
    assert msg.startswith(f"{call}: features is a Dataset (a Gram)") and "nx.features" not in msg and "\n" not in msg
    assert "store.read_features(model, layer)" in msg
