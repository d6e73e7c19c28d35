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
