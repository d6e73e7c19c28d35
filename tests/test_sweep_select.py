"""Layer selection on held-out targets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neuroxr.sweep import best_layers, target_halves


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
