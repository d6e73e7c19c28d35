"""Figures of neuroxr.plot as a user reads them: every row given is drawn, at its own value."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from neuroxr import plot  # noqa: E402


def _rows(region=np.nan) -> pd.DataFrame:
    return pd.DataFrame([{"direction": "forward", "model": "net", "neural": "mA", "region": region, "layer": layer,
                          "median_ev": ev, "median_ev_low": ev - 1, "median_ev_high": ev + 1}
                         for layer, ev in (("l1", 10.0), ("l2", 20.0), ("l3", 30.0))])


def _lines(fig) -> dict[str, dict[str, float]]:
    """label -> {layer: median EV} of the lines drawn (the x ticks name the layers)."""
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    return {line.get_label(): {ticks[int(x)]: float(y) for x, y in zip(line.get_xdata(), line.get_ydata())}
            for line in ax.lines if line.get_marker() == "o"}


def test_layer_profile_ci_draws_every_row_of_the_table():
    """A row without a region label (NaN, e.g. a table assembled from several sources) fell out of
    pandas' groupby and nothing was drawn; a layer missing from ``layers=`` was dropped from its line.
    Now both are drawn at their table values: missing labels leave the line's label, missing layers
    come after the given ones."""
    table = _rows()
    assert _lines(plot.layer_profile_ci(table)) == {"net mA": {"l1": 10.0, "l2": 20.0, "l3": 30.0}}
    drawn = _lines(plot.layer_profile_ci(_rows("all"), layers=["l2", "l1"]))
    assert drawn == {"net mA": {"l2": 20.0, "l1": 10.0, "l3": 30.0}}
    ticks = [t.get_text() for t in plot.layer_profile_ci(_rows("all"), layers=["l2", "l1"]).axes[0].get_xticklabels()]
    assert ticks == ["l2", "l1", "l3"]
