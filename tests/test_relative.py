"""Relative representations (neuroxr.geometry.relative) against direct NumPy / scikit-learn computations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.linear_model import Ridge

from neuroxr.errors import LayoutError
from neuroxr.geometry.relative import anchor_weights, relative_features
from neuroxr.layouts import features as make_features
from neuroxr.layouts import neural as make_neural
from neuroxr.layouts import validate_features


def _feats(n=20, p=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return make_features(X, [f"s{i:02d}" for i in range(n)], [f"u{j}" for j in range(p)], model="net", layer="conv"), X


def _cos(A, B):
    return (A / np.linalg.norm(A, axis=1, keepdims=True)) @ (B / np.linalg.norm(B, axis=1, keepdims=True)).T


def test_anchor_stimulus_subset_cosine_and_dot():
    F, X = _feats()
    ids = ["s03", "s11", "s07"]
    rows = [3, 11, 7]
    R = relative_features(F, ids)
    validate_features(R, name="relative")
    np.testing.assert_allclose(R.values, _cos(X, X[rows]), rtol=1e-12)
    assert list(R.unit_id.values) == ids and R.layer.item() == "conv_relative" and R.model.item() == "net"
    D = relative_features(F, ids, similarity="dot", layer="rel")
    np.testing.assert_allclose(D.values, X @ X[rows].T, rtol=1e-12)
    assert D.layer.item() == "rel"


def test_anchor_feature_set_matched_by_unit_id():
    F, X = _feats()
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 6))
    perm = [5, 0, 3, 1, 4, 2]  # anchors stored with their units in another order
    other = make_features(A[:, perm], [f"q{i}" for i in range(4)], [f"u{j}" for j in perm])
    R = relative_features(F, other)
    np.testing.assert_allclose(R.values, _cos(X, A), rtol=1e-12)
    assert list(R.unit_id.values) == ["q0", "q1", "q2", "q3"] and R.attrs["anchor_kind"] == "feature_set"


def test_anchor_embedding_matrix():
    F, X = _feats()
    E = np.random.default_rng(2).standard_normal((5, 6))
    R = relative_features(F, E, anchor_ids=list("abcde"))
    np.testing.assert_allclose(R.values, _cos(X, E), rtol=1e-12)
    emb = xr.DataArray(E, dims=("anchor", "unit"), coords={"anchor_id": ("anchor", list("vwxyz")), "unit_id": ("unit", [f"u{j}" for j in range(6)])})
    R2 = relative_features(F, emb, similarity="dot")
    np.testing.assert_allclose(R2.values, X @ E.T, rtol=1e-12)
    assert list(R2.unit_id.values) == list("vwxyz")


def test_relative_errors():
    F, _ = _feats()
    with pytest.raises(LayoutError, match="not stimulus ids"):
        relative_features(F, ["s01", "nope"])
    with pytest.raises(LayoutError, match=r"\(n_anchors, 6\)"):
        relative_features(F, np.ones((3, 5)))
    with pytest.raises(LayoutError, match="similarity"):
        relative_features(F, ["s01"], similarity="euclid")
    other = make_features(np.ones((2, 6)), ["a", "b"], [f"v{j}" for j in range(6)])
    with pytest.raises(LayoutError, match="units"):
        relative_features(F, other)


def test_anchor_weights_match_sklearn_ridge():
    F, X = _feats(n=30)
    R = relative_features(F, ["s01", "s05", "s09", "s13"])
    rng = np.random.default_rng(3)
    resp = rng.standard_normal((30, 3, 2))
    order = rng.permutation(30)  # neural stored in another stimulus order
    N = make_neural(resp[order], [f"s{i:02d}" for i in order], ["n0", "n1", "n2"])
    W = anchor_weights(R, N, alpha=0.5)
    ref = Ridge(alpha=0.5).fit(R.values, resp.mean(axis=2)).coef_.T
    np.testing.assert_allclose(W.values, ref, rtol=1e-8, atol=1e-12)
    assert W.dims == ("anchor", "neuroid") and list(W.anchor_id.values) == ["s01", "s05", "s09", "s13"]
    # more anchors than stimuli: the dual solve
    Rw = relative_features(F, np.random.default_rng(4).standard_normal((40, 6)))
    Ww = anchor_weights(Rw, N, alpha=2.0)
    np.testing.assert_allclose(Ww.values, Ridge(alpha=2.0).fit(Rw.values, resp.mean(axis=2)).coef_.T, rtol=1e-7, atol=1e-10)


def test_anchor_weights_record_what_the_missing_trial_rule_left_out():
    """A stimulus without trials and a neuroid lacking one are left out (with the warning) and
    counted in attrs, as crsa and cka count them; the weights are Ridge's on what is kept."""
    F, X = _feats(n=30)
    R = relative_features(F, ["s01", "s05", "s09", "s13"])
    resp = np.random.default_rng(5).standard_normal((30, 3, 2))
    resp[4] = np.nan  # s04: no trial in any neuroid
    resp[7, 1] = np.nan  # n1: no trial at s07
    N = make_neural(resp, [f"s{i:02d}" for i in range(30)], ["n0", "n1", "n2"])
    with pytest.warns(UserWarning, match="left out"):
        W = anchor_weights(R, N, alpha=0.5)
    assert (W.attrs["n_stimuli"], W.attrs["n_excluded_stimuli"], W.attrs["n_excluded_neuroids"]) == (29, 1, 1)
    rows = np.arange(30) != 4
    ref = Ridge(alpha=0.5).fit(R.values[rows], resp[rows][:, [0, 2]].mean(axis=2)).coef_.T
    np.testing.assert_allclose(W.values, ref, rtol=1e-8, atol=1e-12)
    assert list(W.neuroid_id.values) == ["n0", "n2"]
    clean = anchor_weights(R, make_neural(np.nan_to_num(resp), [f"s{i:02d}" for i in range(30)], ["n0", "n1", "n2"]))
    assert (clean.attrs["n_excluded_stimuli"], clean.attrs["n_excluded_neuroids"]) == (0, 0)


def test_bad_anchors_are_refused():
    rng = np.random.default_rng(0)
    F = make_features(rng.normal(size=(10, 4)), [f"s{i}" for i in range(10)])
    E = rng.normal(size=(3, 4))
    E[1, 2] = np.nan
    with pytest.raises(LayoutError, match="1 anchors hold NaN or inf values"):
        relative_features(F, E)
    with pytest.raises(LayoutError, match="no anchors given"):
        relative_features(F, np.array([], dtype=str))


def test_unknown_anchor_ids_are_listed_as_plain_strings():
    rng = np.random.default_rng(0)
    f = make_features(rng.standard_normal((6, 4)), [f"s{i}" for i in range(6)])
    with pytest.raises(LayoutError, match=r"\(e\.g\. \['zz1', 'zz2'\]\)") as err:
        relative_features(f, np.array(["zz1", "zz2"]))
    assert "np.str_" not in str(err.value)


def test_lazy_features_with_a_nan_are_refused_as_in_memory_ones():
    """A NaN in a dask-backed feature set is refused with the in-memory message (it gave cosine 0 to
    that stimulus, silently); finite lazy features give the in-memory numbers."""
    da = pytest.importorskip("dask.array")
    F, X = _feats()
    Xn = X.copy()
    Xn[12, 2] = np.nan  # not an anchor
    for data in (da.from_array(Xn, chunks=(5, 3)), Xn):
        with pytest.raises(LayoutError, match=r"^relative_features: features \(net/conv\): holds 1 non-finite values .*'u2'"):
            relative_features(F.copy(data=data), ["s01", "s05"])
    lazy = relative_features(F.copy(data=da.from_array(X, chunks=(5, 3))), ["s01", "s05"])
    np.testing.assert_array_equal(lazy.values, relative_features(F, ["s01", "s05"]).values)
    N = make_neural(np.random.default_rng(1).standard_normal((20, 2, 2)), [f"s{i:02d}" for i in range(20)], ["n0", "n1"])
    R = relative_features(F, ["s01", "s05"])
    with pytest.raises(LayoutError, match=r"^anchor_weights: relative .*holds 2 non-finite values"):
        anchor_weights(R.copy(data=da.from_array(np.where(np.arange(20)[:, None] == 3, np.nan, R.values), chunks=(5, 2))), N)


def test_anchor_ids_name_every_kind_of_anchors_one_per_anchor():
    F, X = _feats()
    R = relative_features(F, ["s03", "s11"], anchor_ids=["a", "b"])  # stimulus ids: were kept, anchor_ids ignored
    assert list(R.unit_id.values) == ["a", "b"]
    np.testing.assert_allclose(R.values, _cos(X, X[[3, 11]]), rtol=1e-12)
    emb = xr.DataArray(np.random.default_rng(2).standard_normal((5, 6)), dims=("anchor", "unit"),
                       coords={"unit_id": ("unit", [f"u{j}" for j in range(6)])})
    assert list(relative_features(F, emb, anchor_ids=list("vwxyz")).unit_id.values) == list("vwxyz")
    for anchors in (emb, emb.values, ["s03", "s11"]):
        with pytest.raises(LayoutError, match=r"^relative_features: anchor_ids gives 3 ids for \d anchors"):
            relative_features(F, anchors, anchor_ids=["p", "q", "r"])


@pytest.mark.parametrize("alpha", ["0.1", None, True, float("inf")])
def test_anchor_weights_refuses_an_unusable_alpha_in_one_line(alpha):
    from neuroxr.errors import ParameterError

    F, _ = _feats()
    N = make_neural(np.ones((20, 1, 1)), [f"s{i:02d}" for i in range(20)], ["n0"])
    with pytest.raises(ParameterError, match=r"^anchor_weights: alpha must be a finite number > 0 .*Pass e\.g\. alpha=0\.1\.$"):
        anchor_weights(relative_features(F, ["s01"]), N, alpha=alpha)


def test_anchor_weights_do_not_depend_on_the_stimulus_or_neuroid_order():
    F, _ = _feats(n=30)
    R = relative_features(F, ["s01", "s05", "s09", "s13"])
    rng = np.random.default_rng(6)
    resp = rng.standard_normal((30, 3, 2))
    ids = np.array([f"s{i:02d}" for i in range(30)])
    W = anchor_weights(R, make_neural(resp, ids, ["n0", "n1", "n2"]), alpha=0.5)
    order, neu = rng.permutation(30), [2, 0, 1]
    Wp = anchor_weights(R.isel(stimulus=rng.permutation(30)),
                        make_neural(resp[order][:, neu], ids[order], [f"n{j}" for j in neu]), alpha=0.5)
    np.testing.assert_array_equal(Wp.sortby("neuroid_id").values, W.values)


def test_anchors_without_unit_ids_or_of_complex_numbers_are_refused():
    """A labeled anchors DataArray without unit_id was paired with the features' units by position (its storage
    order silently changed the numbers); a complex embedding lost its imaginary part with only NumPy's warning."""
    rng = np.random.default_rng(0)
    feats = make_features(rng.normal(size=(10, 6)), [f"s{i}" for i in range(10)])
    emb = xr.DataArray(rng.normal(size=(3, 6)), dims=("anchor", "unit"))
    with pytest.raises(LayoutError, match=r"^relative_features: anchors has no unit_id coord on dim 'unit'.*anchors\.values"):
        relative_features(feats, emb)
    got = relative_features(feats, emb.assign_coords(unit_id=("unit", feats.unit_id.values)))
    np.testing.assert_allclose(got.values, relative_features(feats, emb.values).values, rtol=1e-12)
    with pytest.raises(LayoutError, match=r"^relative_features: anchors: expected an embedding matrix of real numbers"):
        relative_features(feats, emb.values + 1j)
    with pytest.raises(LayoutError, match=r"^relative_features: anchors: expected an embedding matrix of real numbers"):
        relative_features(feats, np.full((2, 6), "x"))


def test_anchor_weights_refuse_unlabeled_responses_in_one_line():
    """Responses as a plain array raised NumPy's AttributeError ('no attribute dims')."""
    F, _ = _feats(n=6)
    R = relative_features(F, ["s01", "s03"])
    resp = np.random.default_rng(3).standard_normal((6, 2, 2))
    ids = [f"s{i:02d}" for i in range(6)]
    with pytest.raises(LayoutError, match=r"^anchor_weights: neural must be a labeled DataArray .*got an array of shape "
                                          r"\(6, 2, 2\)\. Label it first with nx\.neural"):
        anchor_weights(R, resp)
    N = make_neural(resp, ids, ["n0", "n1"])
    two = anchor_weights(R.isel(stimulus=[1, 4]), N.isel(stimulus=[1, 4]), alpha=0.5)
    ref = Ridge(alpha=0.5).fit(R.values[[1, 4]], resp[[1, 4]].mean(axis=2)).coef_.T
    np.testing.assert_allclose(two.values, ref, rtol=1e-10, atol=1e-14)


def test_one_anchor_id_or_anchor_positions_are_refused_saying_what_anchors_are():
    """One stimulus id (a str) was refused as an embedding matrix "of shape ()", and a list of positions
    as one of the wrong width: both now say anchors are a list of stimulus ids."""
    F, X = _feats(n=8, p=5)
    with pytest.raises(LayoutError, match=r"^relative_features: anchors is one stimulus id \('s03'\); pass a list of them, "
                                          r"e\.g\. \['s03'\], or an embedding matrix \(n_anchors, 5\)\.$"):
        relative_features(F, "s03")
    with pytest.raises(LayoutError, match=r"^relative_features: anchors holds 2 integers; anchors are stimulus ids \(text\), "
                                          r"not positions: pass e\.g\. features\.stimulus_id\.values\[\[1, 3\]\]"):
        relative_features(F, [1, 3])
    np.testing.assert_allclose(relative_features(F, ["s03"]).values, _cos(X, X[[3]]), rtol=1e-12)
    np.testing.assert_allclose(relative_features(F, X[[2]]).values, _cos(X, X[[2]]), rtol=1e-12)
