"""Layer selection on held-out targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroxr.errors import LayoutError, ParameterError
from neuroxr.sweep import best_layers, target_halves
from neuroxr.sweep.select import scored_halves


def test_target_halves_deterministic_and_order_free():
    ids = [f"n{i:03d}" for i in range(21)]
    a = target_halves(ids, "forward/animalA/IT", seed=0)
    b = target_halves(ids[::-1], "forward/animalA/IT", seed=0)[::-1]
    assert a.sum() == 11 and np.array_equal(a, b)
    assert not np.array_equal(a, target_halves(ids, "forward/animalB/IT", seed=0))
    assert not np.array_equal(a, target_halves(ids, "forward/animalA/IT", seed=1))


def test_best_layer_is_chosen_on_selection_targets_only():
    ids = [f"n{i:02d}" for i in range(10)]
    sel = target_halves(ids, "forward/animalA/all", seed=0)
    rows = []
    # layer "early" wins on the selection half, layer "late" wins (by far) on the test half
    for layer, on_sel, on_test in (("early", 50.0, 10.0), ("late", 40.0, 90.0)):
        for i, s in zip(ids, sel):
            rows.append({"direction": "forward", "model": "net", "layer": layer, "neural": "animalA", "region": "all",
                         "target_id": i, "ev": on_sel if s else on_test})
    out = best_layers(pd.DataFrame(rows), seed=0)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["best_layer"] == "early"
    assert row["selection_ev"] == 50.0 and row["test_ev"] == 10.0  # reported on held-out targets
    assert row["n_selection"] == 5 and row["n_test"] == 5 and row["n_layers"] == 2
    # another seed splits differently but still never looks at the test half
    other = best_layers(pd.DataFrame(rows), seed=1).iloc[0]
    assert other["n_selection"] + other["n_test"] == 10


@pytest.mark.parametrize("seed", [-1, "a", 1.5, True])
def test_best_layers_refuses_a_seed_that_is_no_count(seed):
    """A negative, text, fractional or bool seed was NumPy's ValueError or silently truncated (1.5 -> 1)."""
    table = _table("forward", [f"n{i:02d}" for i in range(6)], ["a", "b"])
    with pytest.raises(ParameterError, match=r"^best_layers: seed must be an integer >= 0; got "):
        best_layers(table, seed=seed)


def test_best_layers_refuses_an_ev_column_of_text():
    table = _table("forward", [f"n{i:02d}" for i in range(6)], ["a", "b"]).astype({"ev": object})
    table.loc[3, "ev"] = "x"
    with pytest.raises(LayoutError, match=r"^best_layers: target_table's column 'ev' must hold numbers .* got 'x'"):
        best_layers(table)


def _table(direction, ids, layers, seed=0):
    """A target table whose EVs differ per target and layer (no ties)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"direction": direction, "model": "net", "layer": layer, "neural": "animalA", "region": "all",
                          "target_id": i, "ev": float(rng.normal(30, 10)), "included": True}
                         for layer in layers for i in ids])


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_targets_never_scored_take_no_slot_in_the_halves(direction):
    """An all-NaN target and one below min_reliability (in every layer) change no choice and no
    number: only the scored targets are split, so the halves are those of the scored ids alone."""
    ids = [f"t{i:02d}" for i in range(11)]
    layers = ["l1", "l2", "l3"]
    plain = _table(direction, ids, layers)
    ref = best_layers(plain, seed=2)
    extra = []
    for layer in layers:  # ids sorting among the scored ones, so they would move them between halves
        extra += [{**plain.iloc[0].to_dict(), "layer": layer, "target_id": "t00a", "ev": np.nan},
                  {**plain.iloc[0].to_dict(), "layer": layer, "target_id": "t05a", "ev": 50.0, "included": False}]
    got = best_layers(pd.concat([plain, pd.DataFrame(extra)], ignore_index=True), seed=2)
    cols = ["best_layer", "selection_ev", "test_ev", "all_ev", "n_selection", "n_test", "n_layers"]
    pd.testing.assert_frame_equal(got[cols], ref[cols])
    assert ref["n_unscored"].iloc[0] == 0 and got["n_unscored"].iloc[0] == 2
    assert ref["n_selection"].iloc[0] == 6 and ref["n_test"].iloc[0] == 5
    # the reference: target_halves of the scored ids, medians over the halves
    g = plain[plain.layer == ref["best_layer"].iloc[0]]
    key = "forward/animalA/all" if direction == "forward" else f"reverse/net/{ref['best_layer'].iloc[0]}"
    half = target_halves(g.target_id.to_numpy(), key, 2)
    assert ref["test_ev"].iloc[0] == pytest.approx(np.median(g.ev.to_numpy()[~half]))


def test_forward_splits_the_targets_scored_in_some_layer_once():
    """A forward target scored in one layer only is split with the others (one split for every
    layer); in the layer where it is NaN it counts in no median and among n_unscored."""
    ids = [f"t{i:02d}" for i in range(9)]
    t = _table("forward", ids, ["l1", "l2"], seed=4)
    t.loc[(t.layer == "l1") & (t.target_id == "t03"), "ev"] = np.nan
    sel, test = scored_halves(t, "forward/animalA/all", 0)
    half = target_halves(ids, "forward/animalA/all", 0)
    for layer in ("l1", "l2"):
        at = (t.layer == layer).to_numpy()
        np.testing.assert_array_equal(sel[at], half)
        np.testing.assert_array_equal(test[at], ~half)
    out = best_layers(t).iloc[0]
    assert out["n_selection"] + out["n_test"] + out["n_unscored"] == 9
    assert out["n_unscored"] == (1 if out["best_layer"] == "l1" else 0)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_no_layer_is_chosen_where_no_layer_scored_a_selection_target(direction):
    """A group whose layers scored no target (a constant layer, all NaN) had its first layer named
    best, with every number NaN: nothing chooses it, so no layer is named."""
    ids = [f"t{i:02d}" for i in range(8)]
    t = _table(direction, ids, ["l1", "l2"])
    t["ev"] = np.nan
    row = best_layers(t, seed=0).iloc[0]
    assert row["best_layer"] is None and np.isnan(row["selection_ev"]) and np.isnan(row["test_ev"])
    assert row["n_layers"] == 2
    t.loc[t["layer"] == "l2", "ev"] = 10.0  # one layer scored: it is chosen
    assert best_layers(t, seed=0).iloc[0]["best_layer"] == "l2"


def test_a_group_of_one_scored_target_warns_that_its_choice_is_untested():
    """One scored neuroid selects the layer and leaves no test half: test_ev NaN and n_test 0 came with
    no word, as if the choice had been tested; one warning now names such groups."""
    from neuroxr.errors import NeuroxrWarning

    one = _table("forward", ["n00"], ["a", "b"])
    two = _table("forward", ["n00", "n01", "n02"], ["a", "b"]).assign(neural="other")
    with pytest.warns(NeuroxrWarning, match=r"^best_layers: 1 groups have a chosen layer but no scored target in the test "
                                            r"half .*'forward net -> animalA'"):
        out = best_layers(pd.concat([one, two], ignore_index=True))
    row = out.set_index("neural").loc["animalA"]
    assert row["best_layer"] in ("a", "b") and row["n_test"] == 0 and np.isnan(row["test_ev"])
    assert out.set_index("neural").loc["other", "n_test"] > 0
