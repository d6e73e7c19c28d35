"""The promises of docs/inference.md and docs/time.md that no other test checks, each run on small
arrays (references computed here with scipy)."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
from conftest import time_sets

import neuroxr as nx
from neuroxr.errors import LayoutError, ParameterError
from neuroxr.predictivity.generalization import validate_generalization
from neuroxr.predictivity.inference import best_layer, bootstrap, compare, permutation_test

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


@pytest.fixture(scope="module")
def timed():
    return time_sets(n=30)


# ---------------------------------------------------------------------------- docs/time.md: the layout
BAD_EDGES = {"infinite": ([0, 10, 20], [10, 20, np.inf]), "reversed": ([0, 20, 25], [10, 10, 30]),
             "NaN": ([0, np.nan, 20], [10, 20, 30])}


@pytest.mark.parametrize("edges", list(BAD_EDGES))
def test_bad_bin_edges_are_refused_by_the_figures_and_validate_generalization(timed, edges):
    """"finite start < end; an infinite edge is refused": one rule for every reader of the edges. The
    figures drew such bins (score_vs_time silently, at no place or a wrong one; the heatmap raised
    matplotlib's ValueError traceback for an infinite edge) and validate_generalization took infinite
    edges."""
    import matplotlib.pyplot as plt

    F, _, B = timed
    start, end = BAD_EDGES[edges]
    scores = nx.forward(F, B, reps=2).assign_coords(time_bin_start=("time_bin", start), time_bin_end=("time_bin", end))
    tg = nx.temporal_generalization(F, B).assign_coords(time_bin_test_start=("time_bin_test", start),
                                                        time_bin_test_end=("time_bin_test", end))
    for call, what in ((lambda: nx.plot.score_vs_time(scores), "time_bin_start < time_bin_end"),
                       (lambda: nx.plot.temporal_generalization_heatmap(tg), "time_bin_test_start < time_bin_test_end"),
                       (lambda: validate_generalization(tg), "time_bin_test_start < time_bin_test_end")):
        with pytest.raises(LayoutError, match=f"finite {what}") as e:
            call()
        assert "\n" not in str(e.value)
    plt.close("all")



def test_the_figures_options_are_refused_in_one_line(timed):
    """`score_vs_time(scores, variable="ev", stat="median", interval=0.95, ceiling=True, ...)`: an interval
    that is not a number and a variable the scores lack were TypeError / KeyError tracebacks (the heatmap's
    variable too), and ceiling="no" drew the ceiling."""
    import matplotlib.pyplot as plt

    F, _, B = timed
    scores = nx.forward(F, B, reps=2)
    for kw, err, match in (({"interval": "0.9"}, ParameterError, "interval must be a number in"),
                           ({"interval": None}, ParameterError, "interval must be a number in"),
                           ({"interval": 1.5}, ParameterError, "interval must be a number in"),
                           ({"variable": "evv"}, LayoutError, "has no variable 'evv'"),
                           ({"ceiling": "no"}, ParameterError, "ceiling must be True or False")):
        with pytest.raises(err, match=f"score_vs_time: .*{match}") as e:
            nx.plot.score_vs_time(scores, **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(LayoutError, match="temporal_generalization_heatmap: result has no variable 'x'"):
        nx.plot.temporal_generalization_heatmap(nx.temporal_generalization(F, B), variable="x")
    plt.close("all")


# ---------------------------------------------------------------------------- docs/inference.md: paired comparisons
@pytest.fixture(scope="module")
def static():
    from conftest import latent_sets

    f1, f2, R = latent_sets(0, n_stimuli=30, n_neuroids=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        boots = {name: bootstrap("forward", f, R, n_boot=40, seed=3, reps=2) for name, f in (("l1", f1), ("l2", f2))}
    return f1, f2, R, boots


def test_compare_and_best_layer_refuse_what_is_not_a_mapping_of_bootstraps_in_one_line(static):
    """`compare(boots)` / `best_layer(boots)` take bootstrap results by name: a list of them, the
    direction's scores or a permutation test were KeyError / TypeError tracebacks (best_layer called
    scores "resamples of targets only")."""
    f1, f2, R, boots = static
    scores = {"l1": nx.forward(f1, R, reps=2), "l2": nx.forward(f2, R, reps=2)}
    perms = {"l1": permutation_test("forward", f1, R, n_perm=5), "l2": permutation_test("forward", f2, R, n_perm=5)}
    for fn in (compare, best_layer):
        for bad, match in ((list(boots.values()), "must be a mapping name -> bootstrap result"),
                           (scores, r"boots\['l1'\] is not a bootstrap result"),
                           (perms, r"boots\['l1'\] is not a bootstrap result"),
                           ({k: b["ev"] for k, b in boots.items()}, "got DataArray")):
            with pytest.raises(ParameterError, match=f"{fn.__name__}: .*{match}") as e:
                fn(bad)
            assert "\n" not in str(e.value)


def test_compare_p_values_and_corrections_are_the_documented_formulas(static):
    """"a two-sided bootstrap p-value `min(1, 2 min(P(d <= 0), P(d >= 0)))` (counts `+1`), Holm-adjusted
    (or BH)", every unordered pair in the given order."""
    import scipy.stats as ss

    f1, f2, R, boots = static
    boots = dict(boots, sub=bootstrap("forward", f2, R.isel(neuroid=[0, 1, 2]), n_boot=40, seed=3, reps=2))
    names = list(boots)
    holm, fdr = compare(boots), compare(boots, correction="fdr")
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    assert list(holm.pair.values) == [f"{a} - {b}" for a, b in pairs]
    p = []
    for a, b in pairs:
        d = boots[a]["median_ev_boot"].values - boots[b]["median_ev_boot"].values
        p.append(min(1.0, 2 * min((1 + np.sum(d <= 0)) / 41, (1 + np.sum(d >= 0)) / 41)))
    np.testing.assert_allclose(holm["p"], p)
    order = np.argsort(p)
    ref = np.empty(3)
    ref[order] = np.minimum(1, np.maximum.accumulate(np.asarray(p)[order] * (3 - np.arange(3))))
    np.testing.assert_allclose(holm["p_adjusted"], ref)
    np.testing.assert_allclose(fdr["p_adjusted"], ss.false_discovery_control(p))
    np.testing.assert_allclose(compare(boots, correction="none")["p_adjusted"], p)


# ---------------------------------------------------------------------------- docs/inference.md: draws, intervals, p-values
def test_stimulus_draws_are_the_documented_generator_on_canonical_positions(static):
    """"Draws are `default_rng([seed, 0]).integers(0, n, (n_boot, n))` on positions of the canonical
    order (sorted `stimulus_id`)", whatever the input order."""
    f1, _, R, boots = static
    perm = np.random.default_rng(1).permutation(R.sizes["stimulus"])
    shuffled = bootstrap("forward", f1.isel(stimulus=perm), R.isel(stimulus=perm[::-1]), n_boot=40, seed=3, reps=2)
    expected = np.random.default_rng([3, 0]).integers(0, 30, (40, 30))
    for b in (boots["l1"], shuffled):
        np.testing.assert_array_equal(b["boot_index"].values, expected)
        np.testing.assert_array_equal(b["stimulus_id"].values, np.sort(R["stimulus_id"].values))
    assert boots["l1"].attrs["seed"] == 3 and "nan_policy" not in boots["l1"].attrs


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_model_to_model_intervals_are_scipys_bootstrap_of_the_ev(static, method):
    """"percentile ... and BCa (Efron 1987) exactly as `scipy.stats.bootstrap` computes them", end to end:
    each unit's EV (`100 r^2`, no ceiling) of the stored out-of-fold predictions on the same draws, and
    over targets the median of the EVs drawn with `default_rng([seed, 1])`."""
    import scipy.stats as ss

    from neuroxr.predictivity._parts import prepare

    f1, f2, _, _ = static
    parts = prepare("model_to_model", f1, f2)
    b = bootstrap("model_to_model", f1, f2, n_boot=200, seed=2, method=method, level=0.9)

    def ev(y, p, axis=-1):
        yc, pc = y - y.mean(axis, keepdims=True), p - p.mean(axis, keepdims=True)
        return 100 * ((yc * pc).sum(axis) / np.sqrt((yc**2).sum(axis) * (pc**2).sum(axis))) ** 2

    kind = "BCa" if method == "bca" else method
    for j in (0, 4):
        ref = ss.bootstrap((parts.Y[:, j], parts.P[:, j]), ev, paired=True, vectorized=True, n_resamples=200,
                           method=kind, confidence_level=0.9, rng=np.random.default_rng([2, 0]))
        np.testing.assert_allclose(b["ev_ci"].values[:, j], [ref.confidence_interval.low, ref.confidence_interval.high],
                                   rtol=1e-9)
    bt = bootstrap("model_to_model", f1, f2, n_boot=200, seed=2, method=method, level=0.9, over="targets")
    ref = ss.bootstrap((bt["ev"].values,), np.median, n_resamples=200, method=kind, confidence_level=0.9,
                       rng=np.random.default_rng([2, 1]))
    np.testing.assert_allclose(bt["median_ev_ci"], [ref.confidence_interval.low, ref.confidence_interval.high], rtol=1e-9)


def test_permutation_p_values_are_the_documented_formulas_of_the_null(static):
    """"`p = (1 + #{r_perm >= r}) / (1 + n_perm)`; `p_maxt` the Westfall-Young single-step max-statistic
    p-value; `p_fdr` `scipy.stats.false_discovery_control`; `median_p` the median against its own null"."""
    import scipy.stats as ss

    f1, _, R, _ = static
    p = permutation_test("forward", f1, R, n_perm=49, seed=4, keep_null=True)
    null, r = p["r_null"].values, p["r"].values
    np.testing.assert_allclose(p["p"], (1 + (null >= r).sum(0)) / 50)
    np.testing.assert_allclose(p["p_maxt"], (1 + (null.max(1)[:, None] >= r).sum(0)) / 50)
    np.testing.assert_allclose(p["p_fdr"], ss.false_discovery_control(p["p"].values))
    assert float(p["median_p"]) == (1 + np.sum(np.median(null, axis=1) >= float(p["median_r"]))) / 50
    assert p.attrs["seed"] == 4 and p.attrs["n_perm"] == 49 and p.attrs["noise_ceiling"] == 0


# ---------------------------------------------------------------------------- docs/time.md
def test_time_resolved_layout_order_and_per_bin_counts(timed):
    """"a DataArray in either order is transposed to the one canonical order; `validate_neural` accepts only
    the canonical order"; the stimulus counts are lists with one int per bin (the inference's too), and a
    time-resolved bootstrap's `boot_index` is one integer array, the same in every bin."""
    F, A, B = timed
    swapped = B.transpose("stimulus", "neuroid", "time_bin", "repeat")
    assert nx.neural(swapped).dims == ("stimulus", "neuroid", "repeat", "time_bin")
    with pytest.raises(LayoutError, match="wrong order"):
        nx.validate_neural(swapped)
    b = bootstrap("forward", F, B, n_boot=8, reps=2)
    p = permutation_test("inter_animal", A, B, n_perm=5)
    rev = nx.reverse(B, F, reps=2)
    for res, keys in ((b, ("n_stimuli", "n_excluded_stimuli", "n_partial_targets")),
                      (p, ("n_stimuli", "n_excluded_stimuli", "n_partial_targets")),
                      (rev, ("n_stimuli", "n_excluded_stimuli"))):
        for key in keys:
            assert res.attrs[key] == ([30] * 3 if key == "n_stimuli" else [0] * 3), key
    assert rev.attrs["n_predictors"] == 4  # the same in every bin: a scalar
    idx = b["boot_index"]
    assert idx.dims == ("boot", "stimulus", "time_bin") and idx.dtype.kind == "i"
    assert all(np.array_equal(idx.values[..., 0], idx.values[..., t]) for t in range(3))
