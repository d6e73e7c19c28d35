"""Metamorphic relations over units, neuroids and targets (audit).

Each test computes both sides: a transformed input (a target added, removed or NaN-filled; features
rotated, offset or given a constant unit; the two inputs swapped) against the untransformed one, and
checks the documented effect: per-target numbers of the other targets unchanged, aggregates
unchanged where the method is invariant. References (scipy) are computed here where one exists.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group

import neuroxr as nx
from neuroxr.geometry import LinearMetric, cka, crsa, effective_dimensionality, pairwise_distances, rdm, split_distance
from neuroxr.geometry.cka_inference import cka_bootstrap
from neuroxr.geometry.shape_inference import shape_bootstrap
from neuroxr.predictivity import forward, inter_animal, model_to_model, reverse
from neuroxr.predictivity.inference import bootstrap, permutation_test

N, P, K, T = 24, 6, 4, 4
STIM = [f"s{i:02d}" for i in range(N)]
IDS = [f"n{j}" for j in range(K)]


def _arrays(seed: int = 0, signal: float = 1.0):
    rng = np.random.default_rng(seed)
    lat = rng.normal(size=(N, 3))
    F = lat @ rng.normal(size=(3, P)) + 0.5 * rng.normal(size=(N, P))
    R = signal * (lat @ rng.normal(size=(3, K)))[:, :, None] + rng.normal(size=(N, K, T))
    RA = (lat @ rng.normal(size=(3, K)))[:, :, None] + rng.normal(size=(N, K, T))
    return rng, F, R, RA


def _feat(X, tag="u", layer="l"):
    return nx.features(X, STIM, [f"{tag}{j}" for j in range(X.shape[1])], model="m", layer=layer)


def _neu(X, ids=None, name="neural", **kw):
    return nx.neural(X, STIM, ids or [f"n{j}" for j in range(X.shape[1])], name=name, **kw)


def _same(a, b, rtol=1e-9, atol=1e-10):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- independence of targets in the inference: a target's draws never depend on another target's
# missing values (docs/inference.md), also where no other target is scored on some stimulus


def _with_extra_target(R, rng, nan_at_s00: bool):
    """R with stimulus s00 missing for every target, plus a target 'x' that has s00 or not."""
    R = R.copy()
    R[0] = np.nan
    x = rng.normal(size=(N, 1, T))
    if nan_at_s00:
        x[0] = np.nan
    return np.concatenate([R, x], axis=1)


@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_a_targets_resamples_do_not_depend_on_whether_another_target_has_a_stimulus_no_other_has(direction):
    rng, F, R, RA = _arrays(1, signal=0.3)
    ids = IDS + ["x"]
    with_s00, without = (_with_extra_target(R, np.random.default_rng(5), flag) for flag in (False, True))
    source = _feat(F) if direction == "forward" else _neu(RA, name="A")
    kw = dict(reps=2)
    a = bootstrap(direction, source, _neu(with_s00, ids), n_boot=40, **kw)
    b = bootstrap(direction, source, _neu(without, ids), n_boot=40, **kw)
    first = dict(neuroid=slice(0, K))
    for v in ("ev", "ev_boot", "ev_ci", "ceiling_boot", "ceiling_ci", "n_boot_undefined"):
        _same(a[v].isel(first), b[v].isel(first))
    pa = permutation_test(direction, source, _neu(with_s00, ids), n_perm=40, keep_null=True)
    pb = permutation_test(direction, source, _neu(without, ids), n_perm=40, keep_null=True)
    for v in ("r", "r_null", "p"):
        _same(pa[v].isel(first), pb[v].isel(first))
    # and the targets' numbers are those of the call without the extra target
    c = bootstrap(direction, source, _neu(without[:, :K]), n_boot=40, **kw)
    for v in ("ev_boot", "ev_ci"):
        _same(a[v].isel(first), c[v])


def test_time_resolved_resamples_do_not_depend_on_a_target_that_alone_has_a_stimulus():
    rng, F, R, _ = _arrays(2, signal=0.3)
    bins = [(0, 10), (10, 20)]
    ids = IDS + ["x"]
    stack = lambda X: np.stack([X, 0.5 * X + 0.1 * np.tanh(X)], axis=-1)  # noqa: E731 (two bins, s00 missing in both)
    with_s00 = stack(_with_extra_target(R, np.random.default_rng(7), False))
    without = stack(_with_extra_target(R, np.random.default_rng(7), True))
    a = bootstrap("forward", _feat(F), _neu(with_s00, ids, time_bins=bins), n_boot=30, reps=2)
    b = bootstrap("forward", _feat(F), _neu(without, ids, time_bins=bins), n_boot=30, reps=2)
    for v in ("ev_boot", "ev_ci"):
        _same(a[v].isel(neuroid=slice(0, K)), b[v].isel(neuroid=slice(0, K)))


def test_complete_inputs_draw_as_before():
    """Nothing dropped: the draws are over the kept stimuli, as they always were (boot_index over them)."""
    _, F, R, _ = _arrays(3)
    res = bootstrap("forward", _feat(F), _neu(R), n_boot=20, reps=2)
    assert list(res.stimulus_id.values) == STIM
    assert res.boot_index.shape == (20, N)


# --- independence of targets in the directions


@pytest.mark.parametrize("extra", ["constant", "all_nan", "partial_nan"])
@pytest.mark.parametrize("direction", ["forward", "inter_animal"])
def test_adding_a_constant_or_missing_target_leaves_the_others(direction, extra):
    rng, F, R, RA = _arrays(4)
    x = {"constant": np.full((N, 1, T), 3.0), "all_nan": np.full((N, 1, T), np.nan),
         "partial_nan": np.where(np.arange(N)[:, None, None] < 8, np.nan, rng.normal(size=(N, 1, T)))}[extra]
    fn = forward if direction == "forward" else inter_animal
    source = _feat(F) if direction == "forward" else _neu(RA, name="A")
    a = fn(source, _neu(R), reps=3)
    b = fn(source, _neu(np.concatenate([R, x], 1), IDS + ["x"]), reps=3)
    for v in ("ev", "r", "target_shc", "prediction_shc", "ceiling"):
        _same(a[v], b[v].isel(neuroid=slice(0, K)))
    assert np.isnan(b.ev.isel(neuroid=K).values).all() or extra == "partial_nan"


def test_reverse_and_model_to_model_targets_are_independent_of_an_added_unit():
    _, F, R, _ = _arrays(5)
    Fc = np.concatenate([F, np.full((N, 1), 2.0), 1e3 * F[:, :1]], 1)
    a, b = reverse(_neu(R), _feat(F), reps=3), reverse(_neu(R), _feat(Fc), reps=3)
    for v in ("ev", "r", "prediction_shc", "ceiling"):
        _same(a[v], b[v].isel(unit=slice(0, P)))
    G = np.tanh(F)
    a = model_to_model(_feat(G, "v", "b"), _feat(F))
    b = model_to_model(_feat(G, "v", "b"), _feat(Fc))
    _same(a.ev, b.ev.isel(unit=slice(0, P)))


# --- rotation, offset and constant units


@pytest.mark.parametrize("regressor", ["ridge", "linear"])
def test_forward_is_invariant_to_rotating_or_offsetting_the_features(regressor):
    rng, F, R, _ = _arrays(6)
    Q = ortho_group.rvs(P, random_state=0)
    a = forward(_feat(F), _neu(R), regressor=regressor, reps=3)
    for G in (F @ Q, F + 100 * rng.normal(size=P), np.concatenate([F, np.full((N, 1), 7.0)], 1)):
        _same(forward(_feat(G), _neu(R), regressor=regressor, reps=3).ev, a.ev, rtol=1e-7)
    _same(forward(_feat(F @ Q).chunk({"unit": 4}), _neu(R), regressor=regressor, reps=3).ev, a.ev, rtol=1e-7)


def test_rdms_cka_and_dimensionality_under_rotation_and_a_constant_unit():
    rng, F, R, _ = _arrays(7)
    Q = ortho_group.rvs(P, random_state=1)
    G = np.tanh(F[:, :4]) + 0.3 * rng.normal(size=(N, 4))
    for method in ("euclidean", "sqeuclidean", "cosine"):
        ref = squareform(pdist(F, method))
        _same(rdm(_feat(F @ Q), method).values, ref, rtol=1e-9, atol=1e-12)
    _same(rdm(_feat(3 * F + 5), "correlation").values, squareform(pdist(F, "correlation")), atol=1e-12)
    Fc = np.concatenate([F, np.full((N, 1), 4.0)], 1)
    for debiased in (False, True):
        ref = float(cka(_feat(F), _feat(G, "v", "b"), debiased=debiased))
        for X in (F @ Q, 2.5 * F + 1.0, Fc):
            _same(float(cka(_feat(X), _feat(G, "v", "b"), debiased=debiased)), ref)
        _same(float(cka(_feat(G, "v", "b"), _feat(F), debiased=debiased)), ref)
    ed = float(effective_dimensionality(_feat(F)))
    _same(float(effective_dimensionality(_feat(F @ Q))), ed)
    _same(float(effective_dimensionality(_feat(Fc))), ed)


def test_cka_bootstrap_is_symmetric_and_rotation_invariant():
    rng, F, _, _ = _arrays(8)
    G = np.tanh(F[:, :4]) + 0.3 * rng.normal(size=(N, 4))
    Q = ortho_group.rvs(P, random_state=2)
    a = cka_bootstrap(_feat(F), _feat(G, "v", "b"), n_boot=20, n_perm=10)
    for b in (cka_bootstrap(_feat(G, "v", "b"), _feat(F), n_boot=20, n_perm=10),
              cka_bootstrap(_feat(F @ Q), _feat(G, "v", "b"), n_boot=20, n_perm=10)):
        for v in ("cka", "cka_boot", "cka_ci"):
            _same(a[v], b[v])


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_angular_shape_distances_are_symmetric_and_rotation_invariant(alpha):
    rng, F, _, _ = _arrays(9)
    G = np.tanh(F[:, :5]) + 0.4 * rng.normal(size=(N, 5))
    Q = ortho_group.rvs(P, random_state=3)
    d = LinearMetric(alpha=alpha).fit_distance(F, G)
    _same(LinearMetric(alpha=alpha).fit_distance(G, F), d)
    _same(LinearMetric(alpha=alpha).fit_distance(F @ Q, G), d, rtol=1e-8)
    _same(LinearMetric(alpha=alpha).fit_distance(np.concatenate([F, np.full((N, 1), 3.0)], 1), G), d, rtol=1e-8)
    s = split_distance(_feat(F), _feat(G, "v", "b"), alpha=alpha)
    _same(split_distance(_feat(G, "v", "b"), _feat(F), alpha=alpha).distance, s.distance, rtol=1e-8)
    b = shape_bootstrap(_feat(F), _feat(G, "v", "b"), alpha=alpha, n_boot=15)
    _same(shape_bootstrap(_feat(F @ Q), _feat(G, "v", "b"), alpha=alpha, n_boot=15).distance_boot, b.distance_boot,
          rtol=1e-7)


def test_crsa_euclidean_ignores_a_constant_neuroid_and_an_all_nan_one():
    _, F, R, _ = _arrays(10)
    base = crsa(_feat(F), _neu(R), "euclidean")
    for x in (np.full((N, 1, T), 5.0), np.full((N, 1, T), np.nan)):
        other = crsa(_feat(F), _neu(np.concatenate([R, x], 1), IDS + ["x"]), "euclidean")
        for v in ("score", "ceiling", "ceiled_score"):
            _same(other[v], base[v])


# --- held-out units are paired by id: a unit id named twice pairs nothing


def _two_units_named_u0():
    rng, F, _, _ = _arrays(11)
    X = _feat(np.concatenate([F, rng.normal(size=(N, 1))], 1))
    X = X.assign_coords(unit_id=("unit", [f"u{j}" for j in range(P)] + ["u0"]))  # two different units named u0
    Y = _feat(np.tanh(F[:, :4]) + 0.3 * rng.normal(size=(N, 4)), "v", "b")
    return X, Y


def test_held_out_units_with_a_duplicate_id_are_refused_in_one_line_not_paired_silently():
    X, Y = _two_units_named_u0()
    tr, te = dict(stimulus=slice(0, 16)), dict(stimulus=slice(16, N))
    metric = LinearMetric().fit(X.isel(tr), Y.isel(tr))
    swapped = X.isel(te).isel(unit=[P] + list(range(1, P)) + [0])  # the two u0 columns exchanged: the same ids
    reordered = X.isel(te).isel(unit=[1, 0] + list(range(2, P + 1)))
    for held_out in (swapped, reordered, X.isel(te)):
        with pytest.raises(nx.LayoutError, match=r"^LinearMetric: X \(m/l\) has 1 duplicate unit_id values .*'u0'.*unique id") as e:
            metric.distance(held_out, Y.isel(te))
        assert "\n" not in str(e.value)
    with pytest.raises(nx.LayoutError, match=r"^pairwise_distances: test_data\['a'\] \(m/l\) has 1 duplicate unit_id"):
        pairwise_distances({"a": X.isel(tr), "b": Y.isel(tr)}, test_data={"a": swapped, "b": Y.isel(te)})
    # arrays pair by position, and unique ids still pair by id
    np.testing.assert_allclose(metric.distance(X.isel(te).values, Y.isel(te).values), metric.distance(X.isel(te).values, Y.isel(te).values))
    Z = X.assign_coords(unit_id=("unit", [f"u{j}" for j in range(P + 1)]))
    fitted = LinearMetric().fit(Z.isel(tr), Y.isel(tr))
    perm = np.random.default_rng(0).permutation(P + 1)
    _same(fitted.distance(Z.isel(te).isel(unit=perm), Y.isel(te)), fitted.distance(Z.isel(te), Y.isel(te)), rtol=1e-10)
