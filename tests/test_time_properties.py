"""Property tests of time-resolved data: permuting the order of the time bins permutes the result's
bins and changes no number; permuting stimuli, neuroids, units (and repeats where no split halves
are drawn) changes no number; per-bin numbers equal the direction on each bin's slice (and, for a
tiny case, scikit-learn's Ridge); the smallest and malformed inputs give a result or a one-line
neuroxr error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import derangement, permuted_repeats, permuted_stimuli, permuted_units, time_sets
from sklearn.linear_model import Ridge

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrError
from neuroxr.predictivity import inference as inf
from neuroxr.predictivity.time import bin_slice

N = 24
PERM = np.array([2, 0, 1])  # the order of the 3 bins of conftest.TIME_BINS


def _sets(missing: bool = True):
    """Features and two time-resolved animals (3 bins); with ``missing``: a missing trial, a stimulus
    without a valid trial for one neuroid in one bin, a stimulus missing for every neuroid of one
    bin, a neuroid all NaN in one bin (B), and a predictor neuroid of A all NaN in one bin."""
    F, A, B = time_sets(n=N, T=4)
    if missing:
        A, B = A.copy(), B.copy()
        B.values[2, 2, 0, 0] = np.nan
        B.values[5, 1, :, 2] = np.nan
        B.values[7, :, :, 1] = np.nan
        B.values[:, 3, :, 0] = np.nan
        A.values[:, 0, :, 1] = np.nan
    return {"F": F, "A": A, "B": B}


#: name -> call on the inputs (small reps / draws: the properties hold for any)
CALLS = {
    "forward": lambda d: nx.forward(d["F"], d["B"], reps=2, keep_predictions=True),
    "reverse": lambda d: nx.reverse(d["A"], d["F"], reps=2),
    "inter_animal": lambda d: nx.inter_animal(d["A"], d["B"], reps=2),
    "split_half_reliability": lambda d: nx.split_half_reliability(d["B"], reps=2),
    "tg_forward": lambda d: nx.temporal_generalization(d["F"], d["B"]),
    "tg_inter_animal": lambda d: nx.temporal_generalization(d["A"], d["B"]),
    "bootstrap_forward": lambda d: inf.bootstrap("forward", d["F"], d["B"], n_boot=8, reps=2),
    "bootstrap_inter_animal": lambda d: inf.bootstrap("inter_animal", d["A"], d["B"], n_boot=8, reps=2, over="both"),
    "permutation_inter_animal": lambda d: inf.permutation_test("inter_animal", d["A"], d["B"], n_perm=8),
}
#: the calls that draw no split halves (their numbers do not depend on the order of the repeats)
NO_HALVES = {
    "forward_no_ceiling": lambda d: nx.forward(d["F"], d["B"], noise_ceiling=False),
    "tg_forward": CALLS["tg_forward"],
    "tg_inter_animal": CALLS["tg_inter_animal"],
    "permutation_inter_animal": CALLS["permutation_inter_animal"],
}


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _bins_permuted(ds: xr.Dataset, perm: np.ndarray) -> xr.Dataset:
    """``ds`` with its bins in the order ``perm``: every time dim, and every per-bin list attr."""
    dims = {d: perm for d in ("time_bin", "time_bin_train", "time_bin_test") if d in ds.dims}
    out = ds.isel(dims)
    nt = len(perm)
    out.attrs = {k: ([v[i] for i in perm] if isinstance(v, list) and len(v) == nt and "time_bin" in ds.dims else v)
                 for k, v in ds.attrs.items()}
    return out


def _by_target_ids(ds: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """``ds`` with its targets in ``like``'s order (paired by ``<dim>_id``)."""
    for dim in ("neuroid", "unit"):
        if dim in like.dims and f"{dim}_id" in like.coords:
            pos = {v: i for i, v in enumerate(np.asarray(ds[f"{dim}_id"].values))}
            ds = ds.isel({dim: [pos[v] for v in np.asarray(like[f"{dim}_id"].values)]})
    return ds


def _assert_same(got: xr.Dataset, want: xr.Dataset) -> None:
    xr.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert set(got.attrs) == set(want.attrs)
    for k, v in want.attrs.items():
        np.testing.assert_equal(np.asarray(got.attrs[k], dtype=object), np.asarray(v, dtype=object), err_msg=k)


# ---------------------------------------------------------------------------- (1) the order of the bins
@pytest.mark.parametrize("name", list(CALLS))
def test_permuting_the_bins_permutes_the_result_and_changes_no_number(name):
    d = _sets()
    base = _quiet(CALLS[name], d)
    got = _quiet(CALLS[name], {k: (v.isel(time_bin=PERM) if "time_bin" in v.dims else v) for k, v in d.items()})
    _assert_same(got, _bins_permuted(base, PERM))


@pytest.mark.parametrize("name", ["inter_animal", "tg_inter_animal", "bootstrap_inter_animal"])
def test_two_animals_with_their_bins_in_other_orders_are_paired_by_edges(name):
    """The result follows the first animal's bin order (temporal generalisation: the target's)."""
    d = _sets()
    base = _quiet(CALLS[name], d)
    only_b = _quiet(CALLS[name], {**d, "B": d["B"].isel(time_bin=PERM)})
    only_a = _quiet(CALLS[name], {**d, "A": d["A"].isel(time_bin=PERM)})
    if name.startswith("tg"):
        _assert_same(only_b, _bins_permuted(base, PERM))
        _assert_same(only_a, base)
    else:
        _assert_same(only_b, base)
        _assert_same(only_a, _bins_permuted(base, PERM))


# ---------------------------------------------------------------------------- (2) stimuli, targets, repeats
@pytest.mark.parametrize("name", list(CALLS))
def test_permuting_stimuli_and_targets_changes_no_number(name):
    d = _sets()
    base = _quiet(CALLS[name], d)
    _assert_same(_quiet(CALLS[name], permuted_stimuli(("F", "A", "B"))(d)), base)
    _assert_same(_by_target_ids(_quiet(CALLS[name], permuted_units(d)), base), base)


@pytest.mark.parametrize("name", list(NO_HALVES))
def test_permuting_repeats_changes_no_number_where_no_halves_are_drawn(name):
    d = _sets()
    _assert_same(_quiet(NO_HALVES[name], permuted_repeats(d)), _quiet(NO_HALVES[name], d))


# ---------------------------------------------------------------------------- (3) per-bin numbers
@pytest.mark.parametrize("bins", [[1], [0, 2], [0, 1, 2]])
@pytest.mark.parametrize("name", ["forward", "reverse", "inter_animal", "split_half_reliability",
                                  "permutation_inter_animal"])
def test_per_bin_numbers_equal_the_direction_on_each_bins_slice(name, bins):
    """1, 2 and 3 bins, with missing trials, a stimulus missing in one bin and all-NaN neuroids in a bin."""
    d = {k: (v.isel(time_bin=bins) if "time_bin" in v.dims else v) for k, v in _sets().items()}
    res = _quiet(CALLS[name], d)
    assert res.sizes["time_bin"] == len(bins)
    for t in range(len(bins)):
        if name.startswith("permutation") and bins[t] == 1 and len(bins) > 1:
            continue  # bin 1 lacks stimulus 7: its permutations are those drawn over every bin's stimuli (docs/time.md)
        alone = _quiet(CALLS[name], {k: (bin_slice(v, t) if "time_bin" in v.dims else v) for k, v in d.items()})
        got = res.isel(time_bin=t).drop_vars([c for c in res.coords if "time_bin" in res[c].dims or
                                              c.startswith("time_bin")])
        if "stimulus" in got.dims:  # predictions: on every stimulus some bin kept, NaN where this bin lacks one
            got = got.sel(stimulus=np.isin(got.stimulus_id.values, alone.stimulus_id.values))
        got.attrs = {k: (v[t] if isinstance(v, list) and len(v) == len(bins) else v) for k, v in res.attrs.items()}
        _assert_same(got, alone)


def _sklearn_r(F: xr.DataArray, B: xr.DataArray, j: int, t: int, n_folds: int = 10) -> float:
    """Out-of-fold Pearson r of target ``j`` at bin ``t``: Ridge(alpha=0.1) on the stimuli where it
    has a trial mean, in sorted stimulus_id order, folds RandomState(0)-shuffled and array_split."""
    F = F.isel(stimulus=np.argsort(F.stimulus_id.values.astype(str)))
    y = B.isel(neuroid=j, time_bin=t).mean("repeat", skipna=True)
    pos = {s: i for i, s in enumerate(y.stimulus_id.values)}
    y = y.values[[pos[s] for s in F.stimulus_id.values]]
    keep = np.isfinite(y)
    if not keep.any():  # a neuroid without data in this bin: NaN, as the directions leave it
        return np.nan
    X, Y = F.values[keep], y[keep]
    inds = np.arange(Y.size)
    np.random.RandomState(0).shuffle(inds)
    P = np.empty_like(Y)
    for test in np.array_split(inds, n_folds):
        train = np.setdiff1d(inds, test)
        P[test] = Ridge(alpha=0.1).fit(X[train], Y[train]).predict(X[test])
    return float(np.corrcoef(P, Y)[0, 1])


@pytest.mark.parametrize("bins", [[1], [2, 0]])
def test_forward_r_per_bin_equals_sklearn_ridge(bins):
    d = _sets()
    F, B = d["F"], d["B"].isel(time_bin=bins)
    want = np.array([[_sklearn_r(F, B, j, t) for t in range(len(bins))] for j in range(B.sizes["neuroid"])])
    for neural in (B, B.isel(stimulus=derangement(N, 3))):  # paired by stimulus_id
        r = _quiet(nx.forward, F, neural, noise_ceiling=False)["r"]
        np.testing.assert_allclose(r.isel(rep=0).transpose("neuroid", "time_bin").values, want, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- (4) smallest and malformed inputs
def test_a_neuroid_all_nan_in_one_bin_is_nan_there_and_changes_no_other_number():
    d = _sets(missing=False)
    base = _quiet(CALLS["forward"], d)
    B = d["B"].copy()
    B.values[:, 3, :, 0] = np.nan
    got = _quiet(CALLS["forward"], {**d, "B": B})
    assert np.isnan(got["ev"].isel(neuroid=3, time_bin=0)).all()
    mask = xr.ones_like(got["ev"], dtype=bool)
    mask[dict(neuroid=3, time_bin=0)] = False
    xr.testing.assert_allclose(got["ev"].where(mask), base["ev"].where(mask))


def _edges(da: xr.DataArray, start, end) -> xr.DataArray:
    return da.assign_coords(time_bin_start=("time_bin", np.asarray(start)), time_bin_end=("time_bin", np.asarray(end)))


@pytest.mark.parametrize("edges, match", [
    (([0, 0, 10], [10, 10, 20]), "bins 0 and 1 of dim 'time_bin' are both"),
    ((["0", "10", "20"], [10, 20, 30]), "must be numeric"),
    ((np.array([0, 10, 20], "timedelta64[ms]"), [10, 20, 30]), "must be numeric"),
    (([0, np.nan, 20], [10, 20, 30]), "finite time_bin_start < time_bin_end"),
    (([0, 10, 20], [10, 20, np.inf]), "finite time_bin_start < time_bin_end"),
    (([-np.inf, 10, 20], [10, 20, 30]), "finite time_bin_start < time_bin_end"),
    (([0, 20, 20], [10, 10, 30]), "finite time_bin_start < time_bin_end"),
])
@pytest.mark.parametrize("name", ["forward", "inter_animal", "tg_forward", "bootstrap_forward"])
def test_malformed_bin_edges_are_one_line_errors(name, edges, match):
    d = _sets(missing=False)
    d = {k: (_edges(v, *edges) if "time_bin" in v.dims else v) for k, v in d.items()}
    with pytest.raises(LayoutError, match=match) as e:
        _quiet(CALLS[name], d)
    assert "\n" not in str(e.value) and "time_bin" in str(e.value)


def test_an_infinite_bin_edge_is_a_one_line_error_in_nx_neural():
    with pytest.raises(LayoutError, match=r"neural: time bins must have finite .* bin 1 = \(10.0, inf\)"):
        nx.neural(np.zeros((5, 2, 3, 2)), time_bins=[(0, 10), (10, np.inf)])


@pytest.mark.parametrize("name", ["forward", "reverse", "inter_animal", "tg_forward", "tg_inter_animal"])
def test_unsorted_and_overlapping_bins_are_scored_as_given(name):
    """Sliding windows (overlapping bins) in any order: each bin is its own slice."""
    d = _sets(missing=False)
    d = {k: (_edges(v, [20, 0, 10], [40, 20, 30]) if "time_bin" in v.dims else v) for k, v in d.items()}
    res = _quiet(CALLS[name], d)
    dim = "time_bin_train" if name.startswith("tg") else "time_bin"
    np.testing.assert_array_equal(res[f"{dim}_start"].values, [20, 0, 10])
    np.testing.assert_array_equal(res[f"{dim}_end"].values, [40, 20, 30])


def test_time_resolved_features_and_animals_with_other_bins_are_refused():
    d = _sets(missing=False)
    F = d["F"]
    Ft = xr.concat([F, 2 * F], "time_bin").transpose(..., "time_bin")
    Ft = _edges(Ft, [0, 10], [10, 20])
    for call in (lambda: nx.forward(Ft, d["B"]), lambda: nx.temporal_generalization(Ft, d["B"])):
        with pytest.raises(LayoutError, match="unexpected \\['time_bin'\\]"):
            _quiet(call)
    with pytest.raises(LayoutError, match="their time bins differ") as e:
        _quiet(nx.inter_animal, d["A"].isel(time_bin=[0, 1]), d["B"])
    assert "(20.0, 30.0)" in str(e.value)
    with pytest.raises(LayoutError, match="their time bins differ"):
        _quiet(nx.temporal_generalization, d["A"], _edges(d["B"], [0, 10, 25], [10, 20, 30]))


def test_a_static_animal_is_used_at_every_bin():
    d = _sets(missing=False)
    static_a = bin_slice(d["A"], 1)
    res = _quiet(nx.inter_animal, static_a, d["B"], reps=2)
    for t in range(3):
        alone = _quiet(nx.inter_animal, static_a, bin_slice(d["B"], t), reps=2)
        xr.testing.assert_allclose(res["ev"].isel(time_bin=t, drop=True).drop_vars(
            ["time_bin_start", "time_bin_end"], errors="ignore"), alone["ev"])


# ---------------------------------------------------------------------------- (5) inference over bins
def test_compare_refuses_bootstraps_of_time_resolved_data():
    d = _sets(missing=False)
    a = _quiet(CALLS["bootstrap_forward"], d)
    with pytest.raises(LayoutError, match="^compare: boots\\['a'\\] is time-resolved .*sel\\(time_bin_start="):
        inf.compare({"a": a, "b": a})
    with pytest.raises(LayoutError, match="^best_layer: boots\\['a'\\] is time-resolved"):
        inf.best_layer({"a": a, "b": a})


@pytest.mark.parametrize("fn", [inf.compare, inf.best_layer])
def test_compare_refuses_one_bin_slices_of_different_bins(fn):
    d = _sets(missing=False)
    F2 = d["F"].copy(data=np.random.default_rng(5).normal(size=d["F"].shape))
    a = _quiet(CALLS["bootstrap_forward"], d)
    b = _quiet(CALLS["bootstrap_forward"], {**d, "F": F2, "B": d["B"].isel(time_bin=PERM)})
    with pytest.raises(LayoutError, match="the time bin 0-10 ms but .* the time bin 10-20 ms"):  # position 1 in each
        _quiet(fn, {"a": a.isel(time_bin=1), "b": b.isel(time_bin=1)})
    picked = {"a": a.isel(time_bin=1), "b": b.sel(time_bin=b.time_bin_start == a.time_bin_start[1]).squeeze("time_bin")}
    assert _quiet(fn, picked) is not None  # the same bin, picked by its edges


# ---------------------------------------------------------------------------- figures
def test_score_vs_time_draws_the_same_figure_whatever_the_bins_order():
    import matplotlib

    matplotlib.use("Agg")
    from neuroxr.plot.time import score_vs_time, temporal_generalization_heatmap

    d = _sets(missing=False)
    s, b = _quiet(CALLS["forward"], d), _quiet(CALLS["bootstrap_forward"], d)

    def drawn(fig):
        ax = fig.axes[0]
        return [ln.get_xydata() for a in fig.axes for ln in a.lines] + [c.get_paths()[0].vertices for c in ax.collections]

    want = drawn(score_vs_time(s, bootstrap=b, ceiling=True))
    for ss, bb in ((s.isel(time_bin=PERM), b), (s, b.isel(time_bin=PERM))):
        for x, y in zip(drawn(score_vs_time(ss, bootstrap=bb, ceiling=True)), want, strict=True):
            np.testing.assert_allclose(x, y)
    tg = _quiet(CALLS["tg_forward"], d)
    m0 = temporal_generalization_heatmap(tg).axes[0].collections[0]
    m1 = temporal_generalization_heatmap(tg.isel(time_bin_train=PERM, time_bin_test=PERM)).axes[0].collections[0]
    np.testing.assert_allclose(np.ma.filled(m0.get_array(), np.nan), np.ma.filled(m1.get_array(), np.nan))


@pytest.mark.parametrize("case", ["score_vs_time", "score_vs_time_mapping", "score_vs_time_dataarray", "heatmap",
                                  "heatmap_both", "score_vs_time_2d_edges"])
def test_figures_of_a_selected_bin_are_one_line_errors(case):
    """A bin selected with .isel(time_bin=t) keeps its edges as scalar coords but has no time axis:
    before, a TypeError traceback ('iteration over a 0-d array')."""
    import matplotlib

    matplotlib.use("Agg")
    from neuroxr.plot.time import score_vs_time, temporal_generalization_heatmap

    d = _sets(missing=False)
    s = _quiet(CALLS["forward"], d)
    tg = _quiet(CALLS["tg_forward"], d)
    call, match = {
        "score_vs_time": (lambda: score_vs_time(s.isel(time_bin=0)), "scores: no dim 'time_bin'.*isel\\(time_bin=\\[t\\]\\)"),
        "score_vs_time_mapping": (lambda: score_vs_time({"a": s, "b": s.isel(time_bin=0)}), "scores\\['b'\\]: no dim"),
        "score_vs_time_dataarray": (lambda: score_vs_time(s["ev"].isel(time_bin=0)), "scores: no dim 'time_bin'"),
        "heatmap": (lambda: temporal_generalization_heatmap(tg.isel(time_bin_train=0)), "result: no dim 'time_bin_train'"),
        "heatmap_both": (lambda: temporal_generalization_heatmap(tg.isel(time_bin_train=0, time_bin_test=1)),
                         "result: no dim 'time_bin_train'"),
        "score_vs_time_2d_edges": (lambda: score_vs_time(s.assign_coords(
            time_bin_start=(("neuroid", "time_bin"), np.zeros((s.sizes["neuroid"], 3))))), "must be numeric .* alone"),
    }[case]
    with pytest.raises(NeuroxrError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
