"""Figures of time-resolved results (issue 20): score vs time with its interval (spread over reps,
or a bootstrap's) and the per-bin ceiling band; the heatmaps of temporal-generalisation entries."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from conftest import time_sets as _sets

import neuroxr as nx
from neuroxr.errors import LayoutError
from neuroxr.plot.time import score_vs_time, temporal_generalization_figures, temporal_generalization_heatmap
from neuroxr.predictivity.inference import bootstrap, permutation_test
from neuroxr.predictivity.time import bin_slice, by_bins


def _band(collection, x):
    """(low, high) per x of a fill_between band."""
    v = collection.get_paths()[0].vertices
    ys = [v[np.isclose(v[:, 0], xi), 1] for xi in x]
    return np.array([y.min() for y in ys]), np.array([y.max() for y in ys])


@pytest.fixture(scope="module")
def scored():
    F, A, B = _sets()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        ds = nx.forward(F, B, reps=6)
        # a time-resolved bootstrap: the bootstrap of each bin's scores, stacked along time_bin
        boot = bootstrap("forward", F, B, reps=6, n_boot=60)
    return F, B, ds, boot


def test_time_resolved_inference_equals_a_loop_over_bins(scored):
    F, B, ds, boot = scored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        loop = by_bins(partial(bootstrap, "forward", reps=6, n_boot=60), {"source": F, "target": B}, ("target",))
        perm = permutation_test("inter_animal", A := _sets()[1], B, n_perm=20)
        for t in range(B.sizes["time_bin"]):
            one = permutation_test("inter_animal", bin_slice(A, t), bin_slice(B, t), n_perm=20)
            np.testing.assert_allclose(perm["p"].isel(time_bin=t).values, one["p"].values)
    np.testing.assert_allclose(boot["median_ev_ci"].values, loop["median_ev_ci"].values)
    assert boot["ev_boot"].dims[-1] == "time_bin" and list(boot["time_bin_end"].values) == list(B["time_bin_end"].values)


def test_interval_over_reps_and_ceiling_band(scored):
    F, B, ds, _ = scored
    fig = score_vs_time(ds, interval=0.8)
    ax, cax = fig.axes
    x = ax.lines[0].get_xdata()
    per_rep = np.nanmedian(ds["ev"].where(ds["included"]).transpose("rep", "neuroid", "time_bin").values, axis=1)
    lo, hi = _band(ax.collections[0], x)
    np.testing.assert_allclose(lo, np.percentile(per_rep, 10, axis=0))
    np.testing.assert_allclose(hi, np.percentile(per_rep, 90, axis=0))
    ceil = ds["ceiling"].mean("rep").transpose("neuroid", "time_bin").values
    clo, chi = _band(cax.collections[0], x)
    np.testing.assert_allclose(clo, np.nanpercentile(ceil, 25, axis=0))
    np.testing.assert_allclose(chi, np.nanpercentile(ceil, 75, axis=0))
    np.testing.assert_allclose(cax.lines[0].get_ydata(), np.nanmedian(ceil, axis=0))


def test_excluded_targets_count_nowhere(scored):
    ds = scored[2].copy()
    inc = np.ones((ds.sizes["neuroid"], ds.sizes["time_bin"]), dtype=bool)
    inc[:3] = False
    ds["included"] = (("neuroid", "time_bin"), inc)
    ds["ceiling"][:3] = 0.001  # far off: counting the excluded targets would show
    ax, cax = score_vs_time(ds).axes
    kept = ds.isel(neuroid=slice(3, None))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), kept["ev"].mean("rep").median("neuroid"))
    np.testing.assert_allclose(cax.lines[0].get_ydata(), kept["ceiling"].mean("rep").median("neuroid"))


def test_bootstrap_interval(scored):
    F, B, ds, boot = scored
    assert boot["median_ev_ci"].dims == ("bound", "time_bin")
    fig = score_vs_time({"net": ds}, bootstrap={"net": boot})
    ax = fig.axes[0]
    lo, hi = _band(ax.collections[0], ax.lines[0].get_xdata())
    np.testing.assert_allclose(lo, boot["median_ev_ci"].sel(bound="low").values)
    np.testing.assert_allclose(hi, boot["median_ev_ci"].sel(bound="high").values)
    assert "bootstrap" in ax.get_title()
    with pytest.raises(LayoutError, match="stat='median'"):
        score_vs_time(ds, bootstrap=boot, stat="mean")
    with pytest.raises(LayoutError, match="name no entry"):
        score_vs_time({"net": ds}, bootstrap={"other": boot})
    with pytest.raises(LayoutError, match="time bins"):
        score_vs_time(ds, bootstrap=boot.assign_coords(time_bin_start=boot.time_bin_start + 1.0))


def test_a_bootstrap_of_other_scores_is_refused_never_drawn(scored):
    """The band was drawn wherever the bins' centres matched: a bootstrap of another animal, of other
    parameters or of wider bins around the same centres; one bootstrap with several entries banded the
    first entry."""
    F, A, B = _sets()
    _, _, ds, boot = scored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        other = nx.forward(F, A.rename("animalA"), reps=6)
    with pytest.raises(LayoutError, match=r"one bootstrap for 2 score entries \['a', 'b'\]; pass \{label: bootstrap\}"):
        score_vs_time({"a": ds, "b": ds}, bootstrap=boot)
    with pytest.raises(LayoutError, match="it is not of these scores: its target is"):
        score_vs_time(other, bootstrap=boot)
    with pytest.raises(LayoutError, match="it is not of these scores: its reps is 6, the scores' 4"):
        score_vs_time(ds.assign_attrs(reps=4), bootstrap=boot)
    wider = boot.assign_coords(time_bin_start=boot.time_bin_start - 5.0, time_bin_end=boot.time_bin_end + 5.0)
    with pytest.raises(LayoutError, match="time bins"):  # the same centres, other bins
        score_vs_time(ds, bootstrap=wider)


def test_temporal_generalization_figures(tmp_path):
    F, A, B = _sets()
    store = nx.open_store(tmp_path / "s.zarr")
    store.write_features("net", "l1", F)
    store.write_neural("animalA", A)
    store.write_neural("animalB", B)
    assert temporal_generalization_figures(store) == []
    nx.score(store, "temporal_generalization", "net.l1", "animalB")
    nx.score(store, "temporal_generalization", "net.l1", "animalB", alpha=3.0)  # a second entry of the pair
    nx.score(store, "temporal_generalization", "animalA", "animalB")
    figs = temporal_generalization_figures(store.url)
    # one figure per current entry: the pair with two parameter sets gets two, each named by its key
    assert len(figs) == 3 and sum(f[1].startswith("tg_net.l1__animalB__") for f in figs) == 2
    assert {"alpha 3.0", "alpha 0.1"} <= {c.split("(")[-1].split(",")[0] for c, _, _ in figs}
    store.write_neural("animalA", A.copy(data=2 * A.values))  # rewritten: its entry is stale and drawn no more
    assert {f[1] for f in temporal_generalization_figures(store.url)} == {f[1] for f in figs} - {"tg_animalA__animalB"}
    figs = [f for f in figs if not f[1].startswith("tg_net")]
    caption, _, fig = next(f for f in figs if f[1] == "tg_animalA__animalB")
    assert "inter-animal" in caption
    ref = nx.temporal_generalization(A, B)
    np.testing.assert_allclose(fig.axes[0].collections[0].get_array().reshape(3, 3), np.median(ref["r"].values, axis=0))


# ---------------------------------------------------------------------------- bins out of time order, unequal widths
def _rebinned(R, bins):
    return nx.neural(R.values, stimulus_id=R.stimulus_id.values, neuroid_id=R.neuroid_id.values, time_bins=bins)


def _cells(fig):
    """(x edges, y edges, cell values (train, test)) of the heatmap's mesh."""
    mesh = fig.axes[0].collections[0]
    xy = mesh.get_coordinates()
    return xy[0, :, 0], xy[:, 0, 1], np.ma.filled(mesh.get_array().reshape(xy.shape[0] - 1, xy.shape[1] - 1), np.nan)


def test_heatmap_draws_bins_at_their_times():
    """Bins listed out of time order are drawn at their own times; unequal widths at their widths."""
    F, A, B = _sets()
    R = _rebinned(B, [(20, 200), (0, 10), (10, 20)])  # out of order, the last (in time) 180 ms wide
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        tg = nx.temporal_generalization(F, R)
    xe, ye, C = _cells(temporal_generalization_heatmap(tg))
    np.testing.assert_array_equal(xe, [0, 10, 20, 200])
    np.testing.assert_array_equal(ye, [0, 10, 20, 200])
    med = np.median(tg["r"].values, axis=0)  # (train, test) in the result's bin order
    order = [1, 2, 0]  # the result's bins in time order
    np.testing.assert_allclose(C, med[np.ix_(order, order)])
    # the same cells whatever the bins' order in the input
    tg2 = tg.isel(time_bin_train=order, time_bin_test=[2, 0, 1])
    xe2, ye2, C2 = _cells(temporal_generalization_heatmap(tg2))
    np.testing.assert_array_equal(xe2, xe)
    np.testing.assert_allclose(C2, C)
    # a gap between bins is an empty cell; overlapping windows meet at the middle of their overlap
    xg, _, Cg = _cells(temporal_generalization_heatmap(tg.assign_coords(time_bin_test_start=("time_bin_test", [60, 0, 10]),
                                                                         time_bin_test_end=("time_bin_test", [80, 10, 20]))))
    np.testing.assert_array_equal(xg, [0, 10, 20, 60, 80])
    assert np.isnan(Cg[:, 2]).all()
    np.testing.assert_allclose(Cg[:, [0, 1, 3]], med[np.ix_(order, order)])
    xo, _, _ = _cells(temporal_generalization_heatmap(tg.assign_coords(time_bin_test_start=("time_bin_test", [50, 0, 25]),
                                                                        time_bin_test_end=("time_bin_test", [100, 50, 75]))))
    np.testing.assert_array_equal(xo, [0, 37.5, 62.5, 100])


def test_score_vs_time_joins_points_in_time_order(scored):
    F, B, ds, boot = scored
    order = [2, 0, 1]
    ax = score_vs_time(ds.isel(time_bin=order), bootstrap=boot.isel(time_bin=order)).axes[0]
    ref = score_vs_time(ds, bootstrap=boot).axes[0]
    x = ax.lines[0].get_xdata()
    assert list(x) == sorted(x)
    np.testing.assert_array_equal(x, ref.lines[0].get_xdata())
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ref.lines[0].get_ydata())
    np.testing.assert_allclose(_band(ax.collections[0], x), _band(ref.collections[0], x))


def test_heatmap_keeps_a_gap_after_overlapping_windows_and_refuses_repeated_bins():
    """Once two bins overlapped, every cell edge was a midpoint: the gap after sliding windows was
    shared out between the bins around it, and a repeated bin was drawn at made-up times."""
    F, A, B = _sets()
    bins = [(10, 30), (50, 60), (0, 20)]  # two sliding windows, then a later epoch (out of order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        tg = nx.temporal_generalization(F, _rebinned(B, bins))
    xe, ye, C = _cells(temporal_generalization_heatmap(tg))
    overlap = (bins[0][0] + bins[2][1]) / 2  # where the two windows meet
    want = [bins[2][0], overlap, bins[0][1], bins[1][0], bins[1][1]]  # the 30-50 ms gap is its own cell
    np.testing.assert_array_equal(xe, want)
    np.testing.assert_array_equal(ye, want)
    med = np.median(tg["r"].values, axis=0)
    order = [2, 0, 1]  # the result's bins in time order
    full = np.full((4, 4), np.nan)
    cells = [0, 1, 3]  # the cells of the bins; cell 2 is the gap
    full[np.ix_(cells, cells)] = med[np.ix_(order, order)]
    np.testing.assert_allclose(C, full)
    dup = tg.assign_coords(time_bin_test_start=("time_bin_test", [10, 50, 10]),
                           time_bin_test_end=("time_bin_test", [30, 60, 30]))
    with pytest.raises(LayoutError, match="result: bins 0 and 2 of dim 'time_bin_test' are both \\(10, 30\\) ms"):
        temporal_generalization_heatmap(dup)
    with pytest.raises(LayoutError, match="lies inside another bin"):
        temporal_generalization_heatmap(tg.assign_coords(time_bin_test_start=("time_bin_test", [10, 50, 0]),
                                                         time_bin_test_end=("time_bin_test", [20, 60, 30])))


def test_each_entrys_ceiling_is_drawn_in_its_lines_colour(scored):
    """A forward entry's ceiling holds its predictions' reliability, so two sources of one target have
    two ceilings; both were drawn in one grey, and the figure did not say which was whose."""
    ds = scored[2]
    other = ds.assign(ceiling=ds["ceiling"] * 0.5)
    ax, cax = score_vs_time({"net.l1": ds, "net.l2": other}).axes
    drawn = {line.get_label(): line.get_color() for line in ax.lines}
    assert drawn["net.l1"] != drawn["net.l2"]
    for line, entry in zip(cax.lines, (ds, other)):  # each ceiling, by its values, in its entry's colour
        median = entry["ceiling"].mean("rep").median("neuroid").values
        np.testing.assert_allclose(line.get_ydata(), median)
        label = "net.l1" if entry is ds else "net.l2"
        assert line.get_color() == drawn[label] and line.get_linestyle() == "--"


def test_a_temporal_generalization_entry_of_nested_bins_is_named_not_a_stopped_report(tmp_path):
    """Cumulative windows ((0, 50), (0, 100), (0, 150)) are valid bins of a set and of its temporal
    generalisation entry, but its heatmap refuses bins that contain each other: the report stopped
    with that LayoutError. Its figure is now a panel saying so; the other entries are drawn."""
    from neuroxr.report import write_report

    F, A, B = _sets()
    nested = nx.neural(A.values, stimulus_id=A.stimulus_id.values, neuroid_id=A.neuroid_id.values,
                       time_bins=[(0, 50), (0, 100), (0, 150)])
    store = nx.open_store(tmp_path / "s.zarr")
    store.write_features("net", "l1", F)
    store.write_neural("nested", nested)
    store.write_neural("animalB", B)
    nx.score(store, "temporal_generalization", "net.l1", "nested")
    nx.score(store, "temporal_generalization", "net.l1", "animalB")
    figs = {stem: caption for caption, stem, _ in temporal_generalization_figures(store)}
    assert set(figs) == {"tg_net.l1__nested", "tg_net.l1__animalB"}
    assert "not drawn as a heatmap (time bins: bin (0, 100) ms lies inside another bin" in figs["tg_net.l1__nested"]
    assert "not drawn" not in figs["tg_net.l1__animalB"]
    page = write_report(store, tmp_path / "report", "md", reliability=False).read_text()
    assert "tg_net.l1__nested.png" in page and "tg_net.l1__animalB.png" in page
