"""Figures of neuroxr.plot as a user reads them: every row given is drawn, at its own value."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

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


def test_wrong_inputs_are_refused_in_one_line_naming_the_argument():
    """A headline that is no DataFrame (or lacks its columns), time-resolved scores that are no xarray
    object and a histogram's ``bins`` that is no integer raised pandas', xarray's or numpy's own errors
    (AttributeError, TypeError, ValueError) from deep inside the plot."""
    from neuroxr.errors import LayoutError, ParameterError

    cases = [
        (lambda: plot.best_layer_intervals("headline.csv"), LayoutError, "headline must be a pandas DataFrame"),
        (lambda: plot.best_layer_intervals(None), LayoutError, "got NoneType"),
        (lambda: plot.best_layer_intervals(pd.DataFrame({"test_ev": [1.0]})), LayoutError, "lacks the columns"),
        (lambda: plot.score_vs_time(None), LayoutError, "score_vs_time: scores: expected"),
        (lambda: plot.score_vs_time({"net": "scores.nc"}), LayoutError, "scores['net']: expected"),
        (lambda: plot.temporal_generalization_heatmap("tg.nc"), LayoutError, "result: expected"),
        (lambda: plot.reliability_histogram(np.ones(5), bins="x"), ParameterError, "bins must be an integer"),
    ]
    for call, error, says in cases:
        with pytest.raises(error) as info:
            call()
        assert says in str(info.value) and "\n" not in str(info.value)
    plot.best_layer_intervals(pd.DataFrame({"test_ev": [1.0], "ci_low": [0.0], "ci_high": [2.0], "ceiling": [0.5],
                                            "label": ["x"]}), label_columns=["label"])  # its own labels: drawn


@pytest.mark.parametrize("draw", [lambda bins: plot.reliability_histogram(np.linspace(0, 1, 9), bins=bins),
                                  lambda bins: plot.forward_vs_reverse(np.arange(9.0), np.arange(7.0), bins=bins)])
def test_zero_histogram_bins_are_refused_not_drawn_empty(draw):
    """``bins=0`` made one bin edge: every value fell outside it and the figure showed empty
    histograms (legends still saying n=9) without a word."""
    from neuroxr.errors import ParameterError

    fig = draw(3)
    assert fig.axes[0].patches  # drawn with a positive number of bins
    with pytest.raises(ParameterError, match="bins must be an integer >= 1; got 0"):
        draw(0)


def test_metric_profile_refuses_a_layer_given_twice():
    """A line naming one layer twice put both values in one slot of the axis: the first was
    overwritten and never drawn."""
    import xarray as xr

    from neuroxr.errors import LayoutError

    values = xr.DataArray([0.1, 0.2, 0.3], dims="layer", coords={"layer": ["l1", "l2", "l1"]})
    with pytest.raises(LayoutError, match=r"layers \['l1'\] more than once"):
        plot.metric_profile({"cka": values})
    fig = plot.metric_profile({"cka": values.isel(layer=[0, 1])})
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.1, 0.2]


def test_best_layer_intervals_shows_a_ceiling_outside_0_to_1_on_its_axis():
    """The ceiling (a product of two Spearman-Brown reliabilities) is negative where one of them is,
    and above 1 where both are; the axis was fixed at [0, 1], so a negative ceiling's bar lay
    outside it (read as no ceiling) and one of 1.3 was cut at 1."""
    rows = pd.DataFrame({"direction": "forward", "model": ["a", "b", "c"], "neural": "m", "region": "all",
                         "best_layer": "l", "test_ev": [15.0, 20.0, 30.0], "ci_low": [12.0, 5.0, 10.0],
                         "ci_high": [17.0, 25.0, 40.0], "ceiling": [-0.2, 1.3, 0.5]})
    axc = plot.best_layer_intervals(rows).axes[1]
    lo, hi = axc.get_xlim()
    widths = sorted(p.get_width() for p in axc.patches)
    assert widths == sorted(rows["ceiling"])
    assert lo <= -0.2 and hi >= 1.3
    assert plot.best_layer_intervals(rows.assign(ceiling=[0.2, 0.9, np.nan])).axes[1].get_xlim() == (0.0, 1.0)


def test_best_layer_intervals_keeps_a_row_without_a_value_on_its_axis():
    """A first or last row with no test EV and no ceiling (no included target) has no point or bar:
    the axis ended at the neighbouring row, so the row's label was cut off and its "no value" note
    lay on the x axis."""
    rows = pd.DataFrame({"direction": ["forward", "forward", "reverse"], "model": ["a", "b", "c"], "neural": "m",
                         "region": "all", "best_layer": ["l1", "l2", np.nan], "test_ev": [np.nan, 20.0, np.nan],
                         "ci_low": [np.nan, 15.0, np.nan], "ci_high": [np.nan, 25.0, np.nan],
                         "ceiling": [np.nan, 0.5, np.nan]})
    fig = plot.best_layer_intervals(rows)
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = sorted(ax.get_ylim())
    shown = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert set(shown) == {"forward a m l1", "forward b m l2", "reverse c m"}
    assert all(lo < y < hi for y in shown.values())


def test_inference_profiles_say_when_the_median_ev_has_no_noise_ceiling():
    """Rows without a ceiling (an entry of a trial-averaged target) hold r² × 100, which the axes called
    "median EV (%)" as if noise-corrected."""
    rows = _rows("all").assign(ceiling=np.nan, ceiling_low=np.nan, ceiling_high=np.nan)
    assert plot.layer_profile_ci(rows).axes[0].get_ylabel() == "forward median r² × 100 (%; no noise ceiling)"
    ceiled = rows.assign(ceiling=0.8, ceiling_low=0.7, ceiling_high=0.9)
    assert plot.layer_profile_ci(ceiled).axes[0].get_ylabel() == "forward median EV (%)"
    both = pd.concat([ceiled, rows.assign(direction="reverse")], ignore_index=True)
    ax = plot.forward_vs_reverse_ci(both).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("forward median EV (%)", "reverse median r² × 100 (%; no noise ceiling)")


def test_forward_vs_reverse_ci_names_a_pair_without_a_median():
    """A pair whose median EV is NaN in a direction had no point, and its label was placed at NaN: the pair
    vanished without a word."""
    rows = pd.concat([_rows("all"), _rows("all").assign(direction="reverse")], ignore_index=True)
    rows.loc[1, "median_ev"] = np.nan  # forward l2
    ax = plot.forward_vs_reverse_ci(rows).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "not drawn, no median EV in a direction: net/l2" in texts and "net/l2" not in texts
    assert {"net/l1", "net/l3"} <= set(texts)


def _overlapping_ticks(fig) -> int:
    """How many neighbouring x tick labels of the first axes overlap once drawn."""
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    return sum(a.x1 > b.x0 + 0.5 for a, b in zip(boxes, boxes[1:]))


def test_fifty_layers_get_readable_tick_labels():
    """With 50 layers the layer names were written side by side, slanted, on a 4-inch axis: every
    label overlapped its neighbours into an unreadable band (layer profiles, metric profiles, the
    inference profile). Now the default width grows with the layers and the names stand upright."""
    import xarray as xr

    layers = [f"block{k:02d}" for k in range(50)]
    rng = np.random.default_rng(0)
    ev = xr.DataArray(rng.normal(50, 10, size=(50, 6)), dims=("layer", "neuroid"), coords={"layer": layers})
    table = pd.DataFrame({"direction": "forward", "model": "net", "neural": "mA", "region": "all", "layer": layers,
                          "median_ev": 10.0, "median_ev_low": 5.0, "median_ev_high": 15.0})
    figures = [plot.layer_profile(ev), plot.layer_profile({"a": ev, "b": ev}),
               plot.metric_profile(ev.isel(neuroid=0, drop=True)), plot.layer_profile_ci(table)]
    for fig in figures:
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == layers
        assert _overlapping_ticks(fig) == 0
    few = plot.layer_profile(ev.isel(layer=slice(0, 3)))
    assert few.get_figwidth() == 4.2 and _overlapping_ticks(few) == 0


def test_a_long_title_is_wrapped_inside_the_figure():
    """A title naming a long model and neural set (the report's layer profiles) ran past both edges of the
    figure, the neural set's name cut off; so did the inference profiles' own titles."""
    import xarray as xr

    ev = xr.DataArray(np.arange(18.0).reshape(3, 6), dims=("layer", "neuroid"), coords={"layer": ["a", "b", "c"]})
    title = "forward: a-very-long-model-name-for-testing -> monkeyA.IT-region"
    both = pd.concat([_rows("all"), _rows("all").assign(direction="reverse")], ignore_index=True)
    for fig in (plot.layer_profile(ev, title=title), plot.metric_profile(ev.isel(neuroid=0, drop=True), title=title),
                plot.layer_profile_ci(_rows("all"), figsize=(3.0, 3.0)), plot.forward_vs_reverse_ci(both, figsize=(3.0, 3.0))):
        fig.canvas.draw()
        box = fig.axes[0].title.get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width
    assert plot.layer_profile(ev, title=title).axes[0].get_title() == title


def test_embed_names_the_networks_without_a_distance_and_how_to_leave_them_out():
    """A shape distance matrix with a dead layer (no variance: NaN distances) was refused with "the
    distance matrix holds NaN or infinite values", naming no network; the message names the pairs and
    the networks to leave out, and the call it gives then embeds."""
    import re

    import xarray as xr

    from neuroxr.errors import LayoutError
    from neuroxr.plot import embed

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 2))
    names = ["a/l1", "a/l2", "b/l1", "b/dead", "c/l1"]
    D = np.full((5, 5), np.nan)
    live = [0, 1, 2, 4]
    D[np.ix_(live, live)] = np.linalg.norm(X[:, None] - X[None], axis=-1)
    dist = xr.DataArray(D, dims=("network", "network_"), coords={"network": names, "network_": names})
    with pytest.raises(LayoutError) as info:
        embed(dist, method="classical")
    text = str(info.value)
    assert "\n" not in text and "('a/l1', 'b/dead')" in text and "leave out ['b/dead']" in text
    call = re.search(r"e\.g\. (dist\.drop_sel\(.*\))\.$", text).group(1)
    assert embed(eval(call, {"dist": dist}), method="classical").sizes["network"] == 4
    plain = xr.DataArray(D, dims=("network", "network_"))  # no labels: positions
    with pytest.raises(LayoutError, match=r"leave out \['3'\], e\.g\. dist\.isel\(network=\[0, 1, 2, 4\], network_=\[0, 1, 2, 4\]\)\.$"):
        embed(plain, method="classical")


def test_a_stack_of_matrices_is_refused_naming_its_dims_and_how_to_draw_one():
    """An RDM per subject and session (the 92-image set's hIT) given to rdm_heatmap was refused with
    "expected a square 2-D array", naming no argument and not what to do; the message names the stack's
    dims and the selection that draws one matrix, which then draws."""
    import re

    import xarray as xr

    from neuroxr.errors import LayoutError

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(6)]
    stack = xr.DataArray(rng.random((3, 2, 6, 6)), dims=("subject", "session", "stimulus", "stimulus_"),
                         coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)})
    with pytest.raises(LayoutError) as info:
        plot.rdm_heatmap(stack)
    text = str(info.value)
    assert text.startswith("rdm_heatmap: rdm holds a stack of matrices over ['subject', 'session']") and "\n" not in text
    call = re.search(r"e\.g\. (rdm\.isel\(.*\))\.$", text).group(1)
    assert plot.rdm_heatmap(eval(call, {"rdm": stack})).axes[0].images
    with pytest.raises(LayoutError, match=r"e\.g\. dist\.isel\(subject=0\), or their mean, e\.g\. dist\.mean\('subject'\)\.$"):
        plot.distance_matrix(stack.isel(session=0))
    with pytest.raises(LayoutError, match=r"^embed: dist must be a square 2-D matrix .* shape \(6, 4\)\.$"):
        plot.embed(stack.isel(subject=0, session=0, stimulus_=slice(0, 4)))


@pytest.mark.parametrize("bad", [(100, 0), (5, 5), (0, np.nan), (0,), (0, 50, 100), "0,100", None])
def test_forward_vs_reverse_refuses_a_histogram_range_it_cannot_draw(bad):
    """hist_range=(100, 0) (reversed) was drawn as the axis (100, 101), holding none of the values; a range
    of one or three numbers failed with an unpacking traceback. Each is refused in one line naming it."""
    from neuroxr.errors import ParameterError

    rng = np.random.default_rng(0)
    fwd, rev = rng.normal(50, 20, size=30), rng.normal(40, 20, size=25)
    if bad is None:  # left out: the default range holds the values
        ax = plot.forward_vs_reverse(fwd, rev).axes[0]
        assert ax.get_xlim()[0] <= min(fwd.min(), rev.min()) and ax.get_xlim()[1] >= max(fwd.max(), rev.max())
        return
    with pytest.raises(ParameterError, match=r"^forward_vs_reverse: hist_range must be two finite numbers \(low, high\) "
                                             r"with low < high; got .*hist_range=\(0, 100\)"):
        plot.forward_vs_reverse(fwd, rev, hist_range=bad)
    ax = plot.forward_vs_reverse(fwd, rev, hist_range=(0, 100)).axes[0]
    assert ax.get_xlim() == (0.0, 100.0)
