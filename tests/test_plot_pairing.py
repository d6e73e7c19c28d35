"""Figures of neuroxr.plot that pair rows or labels: the same data in another order give the same
figure (points, labels, colours), and what cannot be paired is refused in one line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from neuroxr import plot  # noqa: E402
from neuroxr.errors import LayoutError  # noqa: E402


# ---------------------------------------------------------------------------- inference tables
def _table(params=("defaults", "regressor=linear"), layers=("l1", "l2"), bins=None) -> pd.DataFrame:
    """Forward EV 10 * (layer + 1) + 30 * (parameter set) + bin; reverse the same + 5."""
    rows = []
    for j, p in enumerate(params):
        for d in ("forward", "reverse"):
            for i, layer in enumerate(layers):
                for b in bins or [None]:
                    m = 10.0 * (i + 1) + 30.0 * j + (5.0 if d == "reverse" else 0.0) + (b or 0.0)
                    row = {"direction": d, "model": "net", "layer": layer, "neural": "a", "region": "IT", "median_ev": m,
                           "median_ev_low": m - 2, "median_ev_high": m + 2, "median_p": 0.01, "parameters": p}
                    if bins is not None:
                        row.update(time_bin_start=float(b), time_bin_end=float(b) + 50.0)
                    rows.append(row)
    return pd.DataFrame(rows)


def _points(fig) -> tuple[list[tuple[float, float]], list[tuple[str, tuple[float, float]]]]:
    ax = fig.axes[0]
    pts = [tuple(map(float, p)) for c in ax.collections if isinstance(c, PathCollection) for p in c.get_offsets()]
    labels = [(t.get_text(), tuple(map(float, t.xy))) for t in ax.texts]
    return pts, labels


def test_forward_vs_reverse_ci_pairs_parameter_sets_by_key_not_position():
    tab = _table()
    pts, labels = _points(plot.forward_vs_reverse_ci(tab))
    assert sorted(pts) == [(10.0, 15.0), (20.0, 25.0), (40.0, 45.0), (50.0, 55.0)]  # each forward with its own reverse
    assert sorted(labels) == [("net/l1 (defaults)", (10.0, 15.0)), ("net/l1 (regressor=linear)", (40.0, 45.0)),
                              ("net/l2 (defaults)", (20.0, 25.0)), ("net/l2 (regressor=linear)", (50.0, 55.0))]
    rng = np.random.default_rng(0)
    for _ in range(3):  # permuting the rows changes nothing drawn
        assert _points(plot.forward_vs_reverse_ci(tab.iloc[rng.permutation(len(tab))])) == (pts, labels)


def test_forward_vs_reverse_ci_pairs_time_bins():
    tab = _table(params=("defaults",), layers=("l1",), bins=[0.0, 100.0])
    pts, labels = _points(plot.forward_vs_reverse_ci(tab.iloc[::-1]))
    assert sorted(pts) == [(10.0, 15.0), (110.0, 115.0)]
    assert ("net/l1 time_bin_start=100.0 time_bin_end=150.0", (110.0, 115.0)) in labels


def test_forward_vs_reverse_ci_one_row_per_key_pairs_across_parameter_sets():
    """The report's ``in_figures`` rows: one parameter set per direction, not the same in both."""
    tab = _table()
    tab = tab[(tab["direction"] == "forward") == (tab["parameters"] == "defaults")]
    pts, labels = _points(plot.forward_vs_reverse_ci(tab.iloc[::-1]))
    assert sorted(pts) == [(10.0, 45.0), (20.0, 55.0)]
    assert sorted(labels) == [("net/l1", (10.0, 45.0)), ("net/l2", (20.0, 55.0))]


def test_forward_vs_reverse_ci_refuses_rows_that_do_not_pair_one_to_one():
    tab = _table()
    uneven = tab[~((tab["direction"] == "reverse") & (tab["parameters"] == "regressor=linear"))]
    with pytest.raises(LayoutError, match=r"forward_vs_reverse_ci: table has 2 forward and 1 reverse rows for \(model='net', "
                                          r"layer='l1'.*in_figures") as err:
        plot.forward_vs_reverse_ci(uneven)
    assert "\n" not in str(err.value)
    with pytest.raises(LayoutError, match="in_figures"):  # no column tells the rows apart
        plot.forward_vs_reverse_ci(tab.drop(columns="parameters"))


def test_layer_profile_ci_refuses_several_rows_per_layer_in_one_line():
    with pytest.raises(LayoutError, match=r"layer_profile_ci: table has 2 forward rows for \(model='net', neural='a', "
                                          r"region='IT', layer='l1'\), which differ in parameters \['defaults', "
                                          r"'regressor=linear'\].*in_figures") as err:
        plot.layer_profile_ci(_table())
    assert "\n" not in str(err.value)
    with pytest.raises(LayoutError, match="time_bin_start"):
        plot.layer_profile_ci(_table(params=("defaults",), bins=[0.0, 100.0]))
    plot.layer_profile_ci(_table(params=("defaults",)))  # one row per layer: drawn
