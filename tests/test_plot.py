"""Figures of neuroxr.plot: what each returns, checked through its artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.spatial.distance import pdist, squareform  # noqa: E402

from neuroxr import plot  # noqa: E402
from neuroxr.errors import LayoutError  # noqa: E402


# ---------------------------------------------------------------------------- fixtures
def _scores(dim: str, n: int, reps: int = 3, seed: int = 0, regions: tuple[str, ...] | None = None, loc: float = 40.0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    ev = rng.normal(loc, 10.0, size=(n, reps))
    coords = {f"{dim}_id": (dim, [f"{dim}{i}" for i in range(n)]), "rep": np.arange(reps)}
    if regions is not None:
        coords["region"] = (dim, [regions[i % len(regions)] for i in range(n)])
    ds = xr.Dataset({"ev": ((dim, "rep"), ev), "r": ((dim, "rep"), ev / 100)}, coords=coords)
    ds["ev"].attrs["units"] = "percent"
    return ds


def _patch_heights(ax) -> list[float]:
    return [p.get_height() for p in ax.patches]


@pytest.fixture(autouse=True)
def _no_pyplot_figures():
    """The plot functions build Figures without pyplot: nothing may be left registered."""
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


# ---------------------------------------------------------------------------- forward vs reverse
def test_forward_vs_reverse_single_pair_different_targets_has_histograms_only():
    fwd, rev = _scores("neuroid", 30), _scores("unit", 20, seed=1)
    fig = plot.forward_vs_reverse(fwd, rev, bins=12)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * 12  # one bar per bin per direction
    assert sum(_patch_heights(ax)) == 30 + 20
    # the two dashed lines sit at the medians of the rep-averaged scores
    medians = sorted(line.get_xdata()[0] for line in ax.get_lines())
    expected = sorted([float(fwd.ev.mean("rep").median()), float(rev.ev.mean("rep").median())])
    np.testing.assert_allclose(medians, expected)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("per neuroid, n=30" in s for s in labels) and any("per unit, n=20" in s for s in labels)
    assert ax.get_xlabel().startswith("explained variance (%)")


def test_forward_vs_reverse_same_targets_scatters_per_target():
    fwd = _scores("neuroid", 25)
    other = _scores("neuroid", 25, seed=3).isel(neuroid=slice(None, None, -1))  # same ids, other order
    fig = plot.forward_vs_reverse(fwd, other)
    assert len(fig.axes) == 2
    scatter = [c for c in fig.axes[1].collections if isinstance(c, PathCollection)]
    assert len(scatter) == 1
    xy = scatter[0].get_offsets()
    assert len(xy) == 25
    # paired by id, not by position
    np.testing.assert_allclose(np.asarray(xy)[:, 0], fwd.ev.mean("rep").values)
    by_id = dict(zip(other.neuroid_id.values, other.ev.mean("rep").values))
    np.testing.assert_allclose(np.asarray(xy)[:, 1], [by_id[i] for i in fwd.neuroid_id.values])


def test_forward_vs_reverse_plain_arrays_of_equal_length_are_paired():
    fig = plot.forward_vs_reverse(np.arange(10.0), np.arange(10.0) * 2)
    assert len(fig.axes) == 2
    assert len(fig.axes[1].collections[0].get_offsets()) == 10


def test_forward_vs_reverse_mappings_scatter_one_point_per_pair():
    labels = ["netA/l1", "netA/l2", "netB/fc"]
    fwd = {k: _scores("neuroid", 20, seed=i, loc=10 * (i + 1)) for i, k in enumerate(labels)}
    rev = {k: _scores("unit", 15, seed=10 + i, loc=5 * (i + 1)) for i, k in enumerate(labels)}
    fig = plot.forward_vs_reverse(fwd, rev, stat="mean")
    assert len(fig.axes) == 2
    ax = fig.axes[1]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in points] == [2, 1]  # coloured by model: netA, netB
    xy = np.concatenate([np.asarray(c.get_offsets()) for c in points])
    assert xy.shape == (3, 2)
    np.testing.assert_allclose(xy[:, 0], [float(fwd[k].ev.mean("rep").mean()) for k in labels])
    np.testing.assert_allclose(xy[:, 1], [float(rev[k].ev.mean("rep").mean()) for k in labels])
    assert sorted(t.get_text() for t in ax.texts) == sorted(labels)
    assert "forward mean" in ax.get_xlabel() and "reverse mean" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["netA", "netB"]
    # pooled histograms: every target of every pair counted once
    assert sum(_patch_heights(fig.axes[0])) == 3 * 20 + 3 * 15
    # labels without a model prefix: one colour
    fig = plot.forward_vs_reverse({"a": fwd["netA/l1"], "b": fwd["netB/fc"]}, {"a": rev["netA/l1"], "b": rev["netB/fc"]})
    assert [len(c.get_offsets()) for c in fig.axes[1].collections if isinstance(c, PathCollection)] == [2]


def test_forward_vs_reverse_names_a_pair_without_a_value():
    """A pair whose forward scores are all NaN had no point, yet the title counted it among the
    pairs drawn and nothing named it."""
    fwd = {"a/l1": _scores("neuroid", 10, seed=1), "a/l2": _scores("neuroid", 10, seed=2) * np.nan}
    rev = {"a/l1": _scores("unit", 8, seed=3), "a/l2": _scores("unit", 8, seed=4)}
    ax = plot.forward_vs_reverse(fwd, rev).axes[1]
    assert ax.get_title() == "median per pair (1 pairs; bars: IQR)"
    notes = [t.get_text() for t in ax.texts if t.get_text().startswith("not drawn")]
    assert notes == ["not drawn, no value in a direction: a/l2"]
    points = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    expected = [np.median(fwd["a/l1"]["ev"].mean("rep")), np.median(rev["a/l1"]["ev"].mean("rep"))]
    np.testing.assert_allclose(points[np.isfinite(points).all(axis=1)], [expected])


def test_forward_vs_reverse_labels_points_only_when_few():
    many = {f"net/l{i}": _scores("neuroid", 5, seed=i) for i in range(13)}
    rev = {k: _scores("unit", 5, seed=50 + i) for i, k in enumerate(many)}
    assert len(plot.forward_vs_reverse(many, rev).axes[1].texts) == 0
    assert len(plot.forward_vs_reverse(many, rev, annotate=True).axes[1].texts) == 13


def test_forward_vs_reverse_keeps_outliers_out_of_the_histogram_axis():
    fwd = _scores("neuroid", 200)
    fwd["ev"][0, :] = 5000.0  # an unreliable neuroid: huge noise-corrected EV
    fig = plot.forward_vs_reverse(fwd, _scores("unit", 50))
    ax = fig.axes[0]
    assert ax.get_xlim()[1] < 200
    assert "1 value outside the axis" in ax.get_xlabel()


def test_forward_vs_reverse_errors():
    a, b = _scores("neuroid", 5), _scores("unit", 5)
    with pytest.raises(LayoutError, match="same labels"):
        plot.forward_vs_reverse({"x": a}, {"y": b})
    with pytest.raises(LayoutError, match="two mappings"):
        plot.forward_vs_reverse({"x": a}, b)
    with pytest.raises(LayoutError, match="no variable 'nope'"):
        plot.forward_vs_reverse(a, b, variable="nope")
    with pytest.raises(ValueError, match="stat"):
        plot.forward_vs_reverse(a, b, stat="mode")
    with pytest.raises(ValueError, match="no finite"):
        plot.forward_vs_reverse(a.ev * np.nan, b)


# ---------------------------------------------------------------------------- layer profiles
def _profile(layers=("l1", "l2", "l3", "l4"), n=24, regions=("V4", "IT")) -> xr.DataArray:
    per_layer = [_scores("neuroid", n, seed=i, regions=regions, loc=10.0 * (i + 1))["ev"] for i in range(len(layers))]
    return xr.concat(per_layer, dim=xr.Variable("layer", list(layers)))


def test_layer_profile_one_line_per_region_with_bands():
    da = _profile()
    fig = plot.layer_profile(da)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["IT", "V4"]  # sorted by label
    assert [t.get_text() for t in ax.get_xticklabels()] == ["l1", "l2", "l3", "l4"]
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
    v4 = da.mean("rep").where(da.region == "V4", drop=True).median("neuroid").values
    np.testing.assert_allclose(lines[1].get_ydata(), v4)
    assert ax.get_xlabel() == "layer"


def test_layer_profile_says_when_a_line_or_panel_has_no_value():
    """A region whose targets are all excluded (every one below min_reliability: NaN at every layer)
    drew an empty line under its legend entry, and a panel of such lines an empty axis around 0,
    read as an EV near 0; now the legend says "(no value)" and such a panel says so on its axes."""
    da = _profile()
    ds = xr.Dataset({"ev": da, "included": (da.region == "V4").broadcast_like(da.isel(rep=0, drop=True))})
    ax = plot.layer_profile(ds).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["IT (no value)", "V4"]
    v4 = da.mean("rep").where(da.region == "V4", drop=True).median("neuroid").values
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), v4)
    assert not ax.texts
    empty = plot.layer_profile(ds.assign(included=ds["included"] & False)).axes[0]
    assert [line.get_label() for line in empty.get_lines()] == ["IT (no value)", "V4 (no value)"]
    assert any("no value at any layer" in t.get_text() for t in empty.texts)


def test_layer_profile_by_other_coord_and_no_band():
    da = _profile().assign_coords(animal=("neuroid", ["a", "b", "c"] * 8))
    fig = plot.layer_profile(da, by="animal", band=False, stat="mean")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)


def test_layer_profile_of_summaries_and_best_marker():
    summary = xr.DataArray(
        np.array([[1.0, 3.0, 2.0], [2.0, 2.5, 4.0]]), dims=("region", "layer"),
        coords={"region": ["V4", "IT"], "layer": ["a", "b", "c"]},
    )
    fig = plot.layer_profile(summary, best={"IT": "c"})
    ax = fig.axes[0]
    lines = ax.get_lines()
    stars = [line for line in lines if line.get_marker() == "*"]
    assert len(lines) == 3 and len(stars) == 1
    assert stars[0].get_xdata()[0] == 2 and stars[0].get_ydata()[0] == 4.0
    np.testing.assert_allclose(lines[0].get_ydata(), [1.0, 3.0, 2.0])


def test_layer_profile_mapping_draws_one_panel_per_model():
    fig = plot.layer_profile({"netA": _profile(), "netB": _profile(layers=("c1", "fc"))}, best={"netB": "fc"})
    assert len(fig.axes) == 2
    assert [a.get_title() for a in fig.axes] == ["netA", "netB"]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["c1", "fc"]
    assert sum(line.get_marker() == "*" for line in fig.axes[1].get_lines()) == 2  # both regions
    assert sum(line.get_marker() == "*" for line in fig.axes[0].get_lines()) == 0


def test_layer_profile_errors():
    with pytest.raises(ValueError, match="'layer' dim"):
        plot.layer_profile(_scores("neuroid", 5))
    with pytest.raises(LayoutError, match="not among the layers"):
        plot.layer_profile(_profile(), best="nope")
    with pytest.raises(LayoutError, match="not a coord"):
        plot.layer_profile(_profile(), by="animal")


def test_layer_profile_draws_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.layer_profile(_profile(), ax=ax) is fig
    assert len(ax.get_lines()) == 2


# ---------------------------------------------------------------------------- RDMs
def _rdm(n: int = 12, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    D = squareform(pdist(rng.normal(size=(n, 4))))
    ids = [f"s{i:02d}" for i in range(n)]
    return xr.DataArray(D, dims=("stimulus", "stimulus_"), coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
                        attrs={"method": "euclidean", "label": "toy"})


def test_rdm_heatmap_image_and_colorbar():
    rdm = _rdm()
    fig = plot.rdm_heatmap(rdm)
    assert len(fig.axes) == 2  # heat map + colour bar
    ax = fig.axes[0]
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), rdm.values)
    assert ax.get_title() == "toy"
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["s00", "s01"]
    assert "euclidean" in fig.axes[1].get_ylabel()


def test_rdm_heatmap_orders_by_a_labeled_category():
    rdm = _rdm(12)
    cats = np.array(["b", "a", "c"] * 4)
    category = xr.DataArray(cats, dims="stimulus", coords={"stimulus_id": ("stimulus", rdm.stimulus_id.values)})
    category = category.isel(stimulus=np.random.default_rng(1).permutation(12))  # paired by id, not position
    fig = plot.rdm_heatmap(rdm, order_by=category, colorbar=False)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    order = np.argsort(cats, kind="stable")
    np.testing.assert_allclose(ax.images[0].get_array(), rdm.values[np.ix_(order, order)])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    # as a coord on the RDM it gives the same picture
    fig2 = plot.rdm_heatmap(rdm.assign_coords(category=("stimulus", cats)), order_by="category")
    np.testing.assert_allclose(fig2.axes[0].images[0].get_array(), ax.images[0].get_array())


def test_rdm_heatmap_errors():
    rdm = _rdm(6)
    with pytest.raises(LayoutError, match="not a coord"):
        plot.rdm_heatmap(rdm, order_by="category")
    short = xr.DataArray(["a"] * 3, dims="stimulus", coords={"stimulus_id": ("stimulus", rdm.stimulus_id.values[:3])})
    with pytest.raises(LayoutError, match="lacks 3"):
        plot.rdm_heatmap(rdm, order_by=short)
    with pytest.raises(ValueError, match="square"):
        plot.rdm_heatmap(rdm.isel(stimulus_=slice(0, 4)))
    with pytest.raises(LayoutError, match="DataArray"):
        plot.rdm_heatmap(rdm.values)


# ---------------------------------------------------------------------------- distance matrices and embeddings
def _networks_distance(points: np.ndarray, names: list[str]) -> xr.DataArray:
    return xr.DataArray(squareform(pdist(points)), dims=("network", "network_"), coords={"network": names, "network_": names}, name="distance")


NAMES = ["netA/l1", "netA/l2", "netA/l3", "netB/c1", "netB/fc"]


def test_distance_matrix_heatmap_labels_and_annotations():
    dist = _networks_distance(np.random.default_rng(0).normal(size=(5, 2)), NAMES)
    fig = plot.distance_matrix(dist)
    ax = fig.axes[0]
    assert len(ax.images) == 1 and len(fig.axes) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert len(ax.texts) == 25
    assert ax.texts[1].get_text() == f"{dist.values[0, 1]:.2f}"
    assert len(plot.distance_matrix(dist, annotate=False).axes[0].texts) == 0


def test_distance_matrix_from_a_train_test_dataset():
    d = _networks_distance(np.arange(10.0).reshape(5, 2), NAMES)
    ds = xr.Dataset({"train": d, "test": d * 2})
    fig = plot.distance_matrix(ds, variable="test")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), d.values * 2)
    with pytest.raises(LayoutError, match="no variable"):
        plot.distance_matrix(ds, variable="nope")


@pytest.mark.parametrize("method", ["classical", "mds"])
def test_embed_recovers_planar_configurations(method):
    pts = np.random.default_rng(2).normal(size=(6, 2))
    dist = _networks_distance(pts, [f"n{i}" for i in range(6)])
    emb = plot.embed(dist, method=method, seed=0)
    assert emb.dims == ("network", "component")
    assert list(emb.network.values) == [f"n{i}" for i in range(6)]
    # distances in the embedding reproduce the input distances (a 2-D configuration is exact)
    np.testing.assert_allclose(squareform(pdist(emb.values)), dist.values, atol=1e-3 if method == "mds" else 1e-8)


def test_embed_errors():
    dist = _networks_distance(np.random.default_rng(0).normal(size=(4, 2)), ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="method"):
        plot.embed(dist, method="tsne")
    with pytest.raises(ValueError, match="at least 3"):
        plot.embed(dist.isel(network=[0, 1], network_=[0, 1]))
    bad = dist.copy()
    bad[0, 1] = 9.0
    with pytest.raises(ValueError, match="symmetric"):
        plot.embed(bad)
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        plot.embed(bad)


def test_embedding_scatter_colours_models_and_labels_points():
    dist = _networks_distance(np.random.default_rng(0).normal(size=(5, 2)), NAMES)
    fig = plot.embedding(dist, method="classical")
    ax = fig.axes[0]
    groups = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(groups) == 2  # netA, netB
    assert sorted(len(c.get_offsets()) for c in groups) == [2, 3]
    assert [t.get_text() for t in ax.texts] == NAMES
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["netA", "netB"]
    assert fig.embedding.shape == (5, 2)
    fig = plot.embedding(dist.assign_coords(depth=("network", ["lo", "hi", "hi", "lo", "hi"])), hue="depth", labels=False)
    assert len(fig.axes[0].collections) == 2 and len(fig.axes[0].texts) == 0
    with pytest.raises(LayoutError, match="hue"):
        plot.embedding(dist, hue="depth")


# ---------------------------------------------------------------------------- reliability
def _reliability(n: int = 30) -> xr.Dataset:
    rng = np.random.default_rng(0)
    rel = np.clip(rng.normal(0.6, 0.2, size=(n, 4)), -0.2, 1.0)
    return xr.Dataset(
        {"reliability": (("neuroid", "rep"), rel)},
        coords={"neuroid_id": ("neuroid", [f"n{i}" for i in range(n)]), "region": ("neuroid", ["V4", "IT", "IT"] * (n // 3))},
    )


def test_reliability_histogram_groups_by_region():
    rel = _reliability()
    fig = plot.reliability_histogram(rel, bins=10)
    ax = fig.axes[0]
    assert len(ax.patches) == 2  # one step histogram per region
    medians = [line.get_xdata()[0] for line in ax.get_lines()]
    np.testing.assert_allclose(medians, [float(rel.reliability.mean("rep").where(rel.region == r, drop=True).median()) for r in ("IT", "V4")])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("IT (n=20)") and labels[1].startswith("V4 (n=10)")  # sorted by label
    assert ax.get_ylabel() == "neuroids"


def test_reliability_histogram_counts_units_of_a_reverse_score():
    """The y axis said "neuroids" whatever was counted: a reverse score's ``target_shc`` is per model unit."""
    rev = _scores("unit", 12).assign(target_shc=lambda d: d["r"])
    fig = plot.reliability_histogram(rev, variable="target_shc")
    assert fig.axes[0].get_ylabel() == "units"
    assert "n=12" in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert plot.reliability_histogram(np.linspace(0, 1, 5)).axes[0].get_ylabel() == "targets"


def test_reliability_histogram_keeps_the_bulk_in_view_beside_one_outlier():
    """One Spearman-Brown value of -50 set the axis from -50 to 1: the other 29 values, between 0.4 and 0.9, fell
    in one or two of 20 bins. The axis keeps the bulk (forward_vs_reverse's fences) and counts the value outside."""
    vals = np.r_[np.linspace(0.4, 0.9, 29), -50.0]
    ax = plot.reliability_histogram(vals, bins=20).axes[0]
    lo, hi = ax.get_xlim()
    assert lo > -5 and hi == 1.0 and lo <= 0.0
    assert ax.get_xlabel().endswith("; 1 value outside the axis")
    plain = plot.reliability_histogram(vals[:-1], bins=20).axes[0]
    assert plain.get_xlim() == (0.0, 1.0) and "outside" not in plain.get_xlabel()


def test_reliability_histogram_mapping_and_variable():
    rel = _reliability()
    fig = plot.reliability_histogram({"animalA": rel, "animalB": rel.isel(neuroid=slice(0, 9))})
    assert len(fig.axes[0].patches) == 2
    fwd = _scores("neuroid", 12).rename({"ev": "target_shc"})
    fig = plot.reliability_histogram(fwd, variable="target_shc")
    assert len(fig.axes[0].patches) == 1
    with pytest.raises(LayoutError, match="no variable 'reliability'"):
        plot.reliability_histogram(fwd)


# ---------------------------------------------------------------------------- report summaries
def test_best_layer_intervals_draws_each_row_with_its_interval_and_ceiling():
    import pandas as pd

    head = pd.DataFrame({"direction": ["forward", "reverse"], "model": ["m", "m"], "neural": ["a", "a"],
                         "region": ["IT", "all"], "best_layer": ["l2", "l3"], "test_ev": [40.0, 55.0],
                         "ci_low": [30.0, 50.0], "ci_high": [47.0, 61.0], "ceiling": [0.6, np.nan]})
    fig = plot.best_layer_intervals(head)
    ax, axc = fig.axes[:2]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [40.0, 55.0])
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    assert [t for _, t in ticks] == ["forward m a IT l2", "reverse m a l3"]  # first row on top; "all" left out
    np.testing.assert_allclose(line.get_ydata(), [1, 0])
    segs = [s for c in ax.collections for s in c.get_segments()]
    spans = sorted((float(s[:, 0].min()), float(s[:, 0].max())) for s in segs)
    assert spans == [(30.0, 47.0), (50.0, 61.0)]
    bars = [(p.get_y() + p.get_height() / 2, p.get_width()) for p in axc.patches]
    assert bars == [(1.0, 0.6)]  # a NaN ceiling: no bar (not one of width 0) ...
    assert [(t.get_position()[1], t.get_text()) for t in axc.texts] == [(0, "n/a (no ceiling)")]  # ... marked missing


def test_metric_profile_plots_values_in_layer_order():
    a = xr.DataArray([0.1, 0.3, 0.2], dims="layer", coords={"layer": ["c1", "c2", "fc"]})
    b = xr.DataArray([0.2, 0.4], dims="layer", coords={"layer": ["c1", "c2"]})
    fig = plot.metric_profile({"V4": a, "IT": b}, ylabel="CKA", lower_is_better=True)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.1, 0.3, 0.2])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.2, 0.4, np.nan])  # one axis: no value at fc
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["V4", "IT"]
    assert "lower = more similar" in ax.get_ylabel()
    two = xr.DataArray([[1.0, 2.0], [3.0, 4.0]], dims=("layer", "target"), coords={"layer": ["x", "y"], "target": ["t1", "t2"]})
    ax2 = plot.metric_profile(two).axes[0]
    np.testing.assert_allclose(ax2.lines[1].get_ydata(), [2.0, 4.0])
    with pytest.raises(ValueError, match="'layer' dim"):
        plot.metric_profile({"x": xr.DataArray([1.0], dims="unit")})


def test_metric_profile_puts_every_line_on_one_depth_ordered_axis():
    deep = xr.DataArray([0.3, 0.2], dims="layer", coords={"layer": ["c3", "fc"]})
    full = xr.DataArray([0.1, np.nan, 0.5, 0.4], dims="layer", coords={"layer": ["c1", "c2", "c3", "fc"]})
    for layers in (None, ["c1", "c2", "c3", "fc"]):  # merged keeping each line's order, or given
        ax = plot.metric_profile({"A": deep, "B": full}, layers=layers).axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["c1", "c2", "c3", "fc"]
        a, b = ax.lines
        np.testing.assert_allclose(a.get_ydata(), [np.nan, np.nan, 0.3, 0.2])  # missing: a gap, never 0
        np.testing.assert_allclose(b.get_ydata(), [0.1, np.nan, 0.5, 0.4])
        np.testing.assert_array_equal(a.get_xdata(), b.get_xdata())


# ---------------------------------------------------------------------------- noise-ceiling bands
def test_layer_profile_ceiling_band_from_the_spread_over_reps():
    rng = np.random.default_rng(4)
    per_layer = []
    for i in range(3):
        ds = _scores("neuroid", 12, reps=4, seed=i, regions=("V4", "IT"))
        ds["ceiling"] = (("neuroid", "rep"), rng.uniform(0.3, 0.6, size=(12, 4)))
        per_layer.append(ds)
    ds = xr.concat(per_layer, dim=xr.Variable("layer", ["l1", "l2", "l3"]))
    ax = plot.layer_profile(ds, band=False).axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert [c.get_label() for c in bands] == ["IT noise ceiling (spread over reps)", "V4 noise ceiling (spread over reps)"]
    c = ds["ceiling"].where(ds.region == "V4", drop=True).median("neuroid")  # (layer, rep)
    lo, hi = 100 * c.mean("rep") / c.max("rep"), 100 * c.mean("rep") / c.min("rep")
    ys = bands[1].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [float(lo.min()), float(hi.max())])
    ax = plot.layer_profile(ds, band=False, ceiling=False).axes[0]
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    ax = plot.layer_profile(ds, variable="r", band=False).axes[0]  # the band is in EV units only
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)


def test_score_figures_count_only_included_targets():
    """A score Dataset's targets with included false count nowhere: lines, bands, ceiling, n."""
    layers = []
    for i in range(3):
        ds = _scores("neuroid", 12, reps=4, seed=i)
        ds["ceiling"] = (("neuroid", "rep"), np.random.default_rng(i).uniform(0.3, 0.6, size=(12, 4)))
        ds["ev"][:4] = 500.0  # the excluded targets: far off, so counting them would show
        ds["ceiling"][:4] = 0.01
        layers.append(ds.assign(included=("neuroid", np.arange(12) >= 4)))
    stacked = xr.concat(layers, dim=xr.Variable("layer", ["l1", "l2", "l3"]))
    inc = stacked.isel(neuroid=slice(4, None))
    ax = plot.layer_profile(stacked).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), inc["ev"].mean("rep").median("neuroid"))
    c = inc["ceiling"].median("neuroid")
    band = next(b for b in ax.collections if "noise ceiling" in str(b.get_label()))
    ys = band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [float((100 * c.mean("rep") / c.max("rep")).min()),
                                                      float((100 * c.mean("rep") / c.min("rep")).max())])
    rev = {f"m/{k}": _scores("unit", 10, seed=7 + k) for k in range(3)}
    fig = plot.forward_vs_reverse({f"m/{k}": ds for k, ds in enumerate(layers)}, rev)
    pts = np.concatenate([c.get_offsets() for c in fig.axes[1].collections if isinstance(c, PathCollection)])
    np.testing.assert_allclose(pts[:, 0], [np.median(ds["ev"].mean("rep").values[4:]) for ds in layers])
    assert fig.axes[0].get_legend().get_texts()[0].get_text().startswith("forward (per neuroid, n=24)")


def _inference_table(ceiling=True):
    import pandas as pd

    rows = []
    for d, base in (("forward", 20.0), ("reverse", 30.0)):
        for i, layer in enumerate(("l1", "l2", "l3")):
            row = {"direction": d, "model": "net", "layer": layer, "neural": "A", "region": "all",
                   "median_ev": base + i, "median_ev_low": base + i - 2, "median_ev_high": base + i + 2, "median_p": 0.01}
            if ceiling:
                row.update(ceiling=0.5, ceiling_low=0.4 + 0.01 * i, ceiling_high=0.625)
            rows.append(row)
    return pd.DataFrame(rows)


def test_inference_plots_draw_ceiling_bands():
    from neuroxr.plot.inference import ceiling_band

    tab = _inference_table()
    ax = plot.layer_profile_ci(tab, direction="forward").axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1 and "noise ceiling" in bands[0].get_label()
    ys = bands[0].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [100 * 0.5 / 0.625, 100 * 0.5 / 0.4])
    lo, hi = ceiling_band(tab[tab["direction"] == "forward"])
    np.testing.assert_allclose(hi, [100 * 0.5 / (0.4 + 0.01 * i) for i in range(3)])
    assert ceiling_band(_inference_table(ceiling=False)) is None
    assert not any(isinstance(c, PolyCollection) for c in plot.layer_profile_ci(_inference_table(False)).axes[0].collections)
    ax = plot.forward_vs_reverse_ci(tab).axes[0]
    labels = [p.get_label() for p in ax.patches]
    assert "forward noise ceiling" in labels and "reverse noise ceiling" in labels


def test_forward_vs_reverse_ci_draws_no_ceiling_band_without_an_upper_end():
    """Ceiling intervals whose low bound is at or below 0 give the band no upper end (EV at the ceiling unbounded):
    the band of that direction is left out, never drawn to a NaN edge with NumPy's "All-NaN slice encountered"
    warning (which ``neuroxr report`` printed as it was); the other direction's band stays."""
    import warnings

    tab = _inference_table()
    tab.loc[tab["direction"] == "forward", "ceiling_low"] = -0.1
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ax = plot.forward_vs_reverse_ci(tab).axes[0]
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in seen]
    labels = [p.get_label() for p in ax.patches]
    assert "forward noise ceiling" not in labels and "reverse noise ceiling" in labels


def _spans(ax, axis):
    """(position, low, high) of each interval segment drawn on ``ax`` (``axis`` 0: horizontal, 1: vertical)."""
    segs = [s for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()]
    return sorted((float(s[0, 1 - axis]), float(s[:, axis].min()), float(s[:, axis].max()))
                  for s in segs if np.isclose(s[0, 1 - axis], s[-1, 1 - axis]) and not np.isclose(s[0, axis], s[-1, axis]))


def test_an_interval_that_excludes_its_point_is_drawn_from_its_own_bounds():
    """A percentile interval of a median (or an IQR around a mean) need not contain its point: each
    bar spans the stored bounds, never offsets from the point mirrored to its other side."""
    import pandas as pd

    tab = _inference_table(ceiling=False)
    tab.loc[0, ["median_ev", "median_ev_low", "median_ev_high"]] = [1.11, 1.83, 18.69]  # forward l1: above the point
    tab.loc[3, ["median_ev", "median_ev_low", "median_ev_high"]] = [30.0, 22.0, 26.0]  # reverse l1: below it
    ax = plot.layer_profile_ci(tab, direction="forward").axes[0]
    assert _spans(ax, 1) == [(0.0, 1.83, 18.69), (1.0, 19.0, 23.0), (2.0, 20.0, 24.0)]
    ax = plot.forward_vs_reverse_ci(tab).axes[0]
    assert (30.0, 1.83, 18.69) in _spans(ax, 0) and (1.11, 22.0, 26.0) in _spans(ax, 1)
    head = pd.DataFrame({"direction": ["forward"], "model": ["m"], "neural": ["a"], "region": ["all"], "best_layer": ["l2"],
                         "test_ev": [10.0], "ci_low": [12.0], "ci_high": [20.0], "ceiling": [np.nan]})
    assert _spans(plot.best_layer_intervals(head).axes[0], 0) == [(0.0, 12.0, 20.0)]
    skewed = np.array([1.0, 2.0, 3.0, 4.0, 200.0])  # mean 42, IQR [2, 4]
    fig = plot.forward_vs_reverse({"n/l1": skewed}, {"n/l1": skewed + 1}, stat="mean")
    assert _spans(fig.axes[1], 0) == [(43.0, 2.0, 4.0)] and _spans(fig.axes[1], 1) == [(42.0, 3.0, 5.0)]


def test_inference_plots_mark_a_p_value_of_exact_size_alpha():
    """With p = (1 + b) / (1 + n_perm) the test of size alpha rejects at p <= alpha: a p-value
    equal to alpha is marked (a star; a filled point), one just above is not."""
    from neuroxr.kernels import resample as rs

    null = np.arange(99, dtype=float)[:, None]  # n_perm = 99
    p_at = float(rs.permutation_pvalues(np.array([94.5]), null)[0])  # b = 4: p = 5 / 100
    p_above = float(rs.permutation_pvalues(np.array([93.5]), null)[0])  # b = 5
    assert p_at == 0.05 < p_above  # the case: a p-value equal to alpha
    tab = _inference_table(ceiling=False)
    tab["median_p"] = [p_at, p_above, p_at, p_at, p_at, p_above]
    ax = plot.layer_profile_ci(tab, direction="forward", alpha=0.05).axes[0]
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    assert len(stars) == 1
    np.testing.assert_array_equal(stars[0].get_xdata(), [0, 2])
    ax = plot.forward_vs_reverse_ci(tab, alpha=0.05).axes[0]
    filled = next(c for c in ax.collections if isinstance(c, PathCollection) and c.get_label().startswith("both p"))
    np.testing.assert_allclose(filled.get_offsets()[:, 0], [20.0])  # l1: both at alpha; l2 forward, l3 reverse above
