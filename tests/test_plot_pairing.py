"""Figures of neuroxr.plot that pair rows or labels: the same data in another order give the same
figure (points, labels, colours), and what cannot be paired is refused in one line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from scipy.spatial.distance import pdist, squareform  # noqa: E402

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


def test_forward_vs_reverse_ci_labels_name_the_neural_set_and_region_where_they_differ():
    """Pairs of two neural sets (or regions) of one layer were both labelled ``net/l1``."""
    a = _table(params=("defaults",), layers=("l1",))
    b = a.assign(neural="b", median_ev=a["median_ev"] + 100)
    c = a.assign(region="V4", median_ev=a["median_ev"] + 200)
    _, labels = _points(plot.forward_vs_reverse_ci(pd.concat([a, b, c], ignore_index=True)))
    assert sorted(labels) == [("net/l1:a [IT]", (10.0, 15.0)), ("net/l1:a [V4]", (210.0, 215.0)),
                              ("net/l1:b [IT]", (110.0, 115.0))]
    _, labels = _points(plot.forward_vs_reverse_ci(pd.concat([a, b], ignore_index=True)))
    assert sorted(labels) == [("net/l1:a", (10.0, 15.0)), ("net/l1:b", (110.0, 115.0))]


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


# ---------------------------------------------------------------------------- group order and colours
def _profile(n: int = 24) -> xr.DataArray:
    rng = np.random.default_rng(0)
    return xr.DataArray(rng.normal(40, 10, size=(3, n, 2)), dims=("layer", "neuroid", "rep"),
                        coords={"layer": ["l1", "l2", "l3"], "neuroid_id": ("neuroid", [f"n{i}" for i in range(n)]),
                                "region": ("neuroid", ["V4", "IT", "V1"] * (n // 3))}, name="ev")


def _styled(ax) -> list[tuple[str, str]]:
    return [(str(ln.get_label()), str(ln.get_color())) for ln in ax.get_lines()]


def test_layer_profile_colours_groups_by_label_whatever_the_neuroid_order():
    da = _profile()
    lines = _styled(plot.layer_profile(da).axes[0])
    assert lines == [("IT", "C0"), ("V1", "C1"), ("V4", "C2")]
    perm = da.isel(neuroid=np.random.default_rng(1).permutation(da.sizes["neuroid"]))
    assert _styled(plot.layer_profile(perm).axes[0]) == lines


def test_reliability_histogram_orders_groups_by_label_whatever_the_neuroid_order():
    rel = _profile().isel(layer=0).rename("reliability") / 100
    perm = rel.isel(neuroid=np.random.default_rng(1).permutation(rel.sizes["neuroid"]))
    out = []
    for r in (rel, perm):
        ax = plot.reliability_histogram(r).axes[0]
        out.append(([t.get_text() for t in ax.get_legend().get_texts()], [str(p.get_edgecolor()) for p in ax.patches]))
    assert out[0] == out[1]
    assert [t.split(" ")[0] for t in out[0][0]] == ["IT", "V1", "V4"]


# ---------------------------------------------------------------------------- RDMs, distance matrices
def _rdm(n: int = 12) -> xr.DataArray:
    D = squareform(pdist(np.random.default_rng(0).normal(size=(n, 4))))
    ids = [f"s{i:02d}" for i in range(n)]
    return xr.DataArray(D, dims=("stimulus", "stimulus_"), coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)})


def test_rdm_heatmap_order_by_breaks_ties_by_stimulus_id():
    rdm = _rdm()
    cats = np.array(["b", "a"] * 6)
    p = np.random.default_rng(3).permutation(12)
    a = plot.rdm_heatmap(rdm, order_by=cats, colorbar=False).axes[0].images[0].get_array()
    b = plot.rdm_heatmap(rdm.isel(stimulus=p, stimulus_=p), order_by=cats[p], colorbar=False).axes[0].images[0].get_array()
    np.testing.assert_array_equal(a, b)


def _dist(n: int = 5) -> xr.DataArray:
    names = [f"m{i}/l" for i in range(n)]
    D = squareform(pdist(np.random.default_rng(0).normal(size=(n, 3))))
    return xr.DataArray(D, dims=("network", "network_"), coords={"network": names, "network_": names}, name="distance")


def test_distance_matrix_and_embed_pair_columns_with_rows_by_label():
    dist = _dist()
    q = [3, 0, 4, 1, 2]
    shuffled = dist.isel(network_=q)  # the same matrix, its columns in another order
    ax = plot.distance_matrix(shuffled).axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), dist.values)
    assert [t.get_text() for t in ax.get_xticklabels()] == [t.get_text() for t in ax.get_yticklabels()] == list(dist.network.values)
    np.testing.assert_allclose(plot.embed(shuffled, method="classical").values, plot.embed(dist, method="classical").values)
    other = dist.assign_coords(network_=["m0/l", "m1/l", "m2/l", "m3/l", "x/l"])
    for f in (plot.embed, plot.distance_matrix):
        with pytest.raises(LayoutError, match=r"labels of dist differ \(rows only: \['m4/l'\], columns only: \['x/l'\]\)"):
            f(other)


# ---------------------------------------------------------------------------- plain inputs
@pytest.mark.parametrize("bad", ["abc", None, ["a", "b"]])
def test_score_plots_refuse_non_numeric_plain_input_in_one_line(bad):
    with pytest.raises(LayoutError, match=r"^forward: expected a score Dataset, DataArray or 1-D numeric array; got "):
        plot.forward_vs_reverse(bad, np.array([1.0, 2.0]))


# ---------------------------------------------------------------------------- RDMs
def test_rdm_heatmap_pairs_columns_with_rows_by_stimulus_id():
    """``rdm.sortby("category")`` reorders the rows of an RDM (``stimulus_id``) but not its columns
    (``stimulus_id_``): the heat map drew its values by position, every cell off its stimuli (a
    non-zero diagonal). Now the columns follow the rows by id, so reordering the rows alone changes
    nothing drawn; ids differing between the dims are refused."""
    import neuroxr as nx

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(8)]
    rdm = nx.rdm(nx.features(rng.normal(size=(8, 5)), ids), method="euclidean")
    rdm = rdm.assign_coords(category=("stimulus", list("bababbaa")))
    drawn = lambda r, **kw: np.asarray(plot.rdm_heatmap(r, colorbar=False, **kw).axes[0].images[0].get_array())  # noqa: E731
    rows_only = rdm.sortby("category")  # the first dim only
    assert list(rows_only["stimulus_id"].values) != list(rows_only["stimulus_id_"].values)
    image = drawn(rows_only)
    order = [ids.index(s) for s in rows_only["stimulus_id"].values]
    np.testing.assert_allclose(image, rdm.values[np.ix_(order, order)])
    np.testing.assert_array_equal(np.diag(image), 0.0)
    np.testing.assert_allclose(drawn(rows_only, order_by="category"), drawn(rdm, order_by="category"))
    with pytest.raises(LayoutError, match="stimulus ids of the rows"):
        plot.rdm_heatmap(rdm.assign_coords(stimulus_id_=("stimulus_", [f"t{i}" for i in range(8)])))
