"""Brain-Score assemblies <-> neuroxr (neuroxr.io.brainscore).

brainscore-core cannot be installed next to neuroxr (it pins numpy 1.x and xarray 2022), so the
assemblies are built exactly as ``brainio.DataAssembly.__init__`` builds them: a ``DataArray`` whose
coords are then gathered into one MultiIndex per dim (``gather_indexes`` = ``set_index(append=True)``).
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.io import from_brainscore, to_brainscore, to_brainscore_score
from neuroxr.layouts import validate_neural


def _assembly(values, stim, rep, neuroids, time_bins=None):
    """A NeuroidAssembly as brainio makes it: coords gathered into MultiIndexes on each dim."""
    k = len(neuroids)
    coords = {
        "stimulus_id": ("presentation", stim),
        "repetition": ("presentation", rep),
        "object_name": ("presentation", [f"obj{s[-1]}" for s in stim]),
        "neuroid_id": ("neuroid", neuroids),
        "region": ("neuroid", ["IT"] * (k - 1) + ["V4"]),
        "animal": ("neuroid", ["monkeyA"] * k),
    }
    dims = ["presentation", "neuroid"]
    index = {"presentation": ["stimulus_id", "repetition", "object_name"], "neuroid": ["neuroid_id", "region", "animal"]}
    if time_bins is not None:
        coords["time_bin_start"] = ("time_bin", [b[0] for b in time_bins])
        coords["time_bin_end"] = ("time_bin", [b[1] for b in time_bins])
        dims.append("time_bin")
        index["time_bin"] = ["time_bin_start", "time_bin_end"]
    da = xr.DataArray(values, coords=coords, dims=dims, attrs={"stimulus_set_identifier": "toy", "stimulus_set": object()})
    return da.set_index(append=True, **index)


@pytest.fixture
def trials():
    rng = np.random.default_rng(0)
    # stimulus s2 has one repetition fewer; presentations are shuffled, as in a recording
    stim = ["s0", "s1", "s2", "s0", "s1", "s2", "s0", "s1"]
    rep = [0, 0, 0, 1, 1, 1, 2, 2]
    order = rng.permutation(len(stim))
    stim, rep = [stim[i] for i in order], [rep[i] for i in order]
    return rng.normal(size=(len(stim), 4)), stim, rep, [f"n{i}" for i in range(4)]


def test_from_brainscore_places_every_presentation(trials):
    values, stim, rep, neuroids = trials
    out = from_brainscore(_assembly(values, stim, rep, neuroids))
    validate_neural(out)
    assert out.dims == ("stimulus", "neuroid", "repeat")
    assert sorted(out.stimulus_id.values.tolist()) == ["s0", "s1", "s2"]
    assert out.repeat.values.tolist() == [0, 1, 2]
    for row, (s, r) in enumerate(zip(stim, rep)):
        np.testing.assert_array_equal(out.sel(repeat=r).isel(stimulus=out.stimulus_id.values.tolist().index(s)).values, values[row])
    assert np.isnan(out.isel(stimulus=out.stimulus_id.values.tolist().index("s2")).sel(repeat=2)).all()
    assert int(np.isnan(out.values).sum()) == 4  # only the missing trial is padded
    assert out.region.values.tolist() == ["IT", "IT", "IT", "V4"]
    assert out.animal.values.tolist() == ["monkeyA"] * 4
    assert out.neuroid_id.values.tolist() == neuroids
    assert out.attrs["stimulus_set_identifier"] == "toy" and "stimulus_set" not in out.attrs


def test_from_brainscore_without_repetition_numbers_by_order():
    values = np.arange(12.0).reshape(6, 2)
    da = xr.DataArray(values, dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", list("abacba")), "neuroid_id": ("neuroid", ["x", "y"])})
    out = from_brainscore(da)
    assert out.stimulus_id.values.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(out.sel(neuroid=0).values[0], [0, 4, 10])  # rows 0, 2, 5 are stimulus a
    np.testing.assert_array_equal(out.sel(neuroid=0).values[2], [6, np.nan, np.nan])


def test_time_bins(trials):
    values, stim, rep, neuroids = trials
    rng = np.random.default_rng(1)
    bins = [(70, 170), (170, 270), (270, 370)]
    v3 = rng.normal(size=(len(stim), len(neuroids), 3))
    asm = _assembly(v3, stim, rep, neuroids, time_bins=bins)
    # time_bin=None keeps every bin: each bin equals the static conversion of that bin
    timed = from_brainscore(asm)
    assert timed.dims == ("stimulus", "neuroid", "repeat", "time_bin")
    np.testing.assert_array_equal(timed.time_bin_start.values, [70, 170, 270])
    for t in range(3):
        one = from_brainscore(asm, time_bin=t)
        np.testing.assert_array_equal(timed.isel(time_bin=t).values, one.values)
        np.testing.assert_array_equal(timed.stimulus_id.values, one.stimulus_id.values)
    assert list(timed.region.values) == list(one.region.values)
    window = from_brainscore(asm, time_bin=(70, 270))
    ref = from_brainscore(_assembly(v3[:, :, :2].mean(axis=2), stim, rep, neuroids))
    np.testing.assert_allclose(window.values, ref.values)
    assert (window.attrs["time_bin_start"], window.attrs["time_bin_end"]) == (70.0, 270.0)
    last = from_brainscore(asm, time_bin=-1)
    np.testing.assert_allclose(last.values, from_brainscore(_assembly(v3[:, :, 2], stim, rep, neuroids)).values)
    single = from_brainscore(_assembly(v3[:, :, :1], stim, rep, neuroids, time_bins=bins[:1]))
    np.testing.assert_allclose(single.values, from_brainscore(_assembly(v3[:, :, 0], stim, rep, neuroids)).values)
    squeezed = from_brainscore(_assembly(v3[:, :, :1], stim, rep, neuroids, time_bins=bins[:1]).squeeze("time_bin"))
    np.testing.assert_allclose(squeezed.values, single.values)
    assert (squeezed.attrs["time_bin_start"], squeezed.attrs["time_bin_end"]) == (70.0, 170.0)
    with pytest.raises(LayoutError, match=r"no bin .* inside \[400, 500\]"):
        from_brainscore(asm, time_bin=(400, 500))
    for flag in (True, np.bool_(False)):
        with pytest.raises(LayoutError, match="a bool, not an index"):
            from_brainscore(asm, time_bin=flag)


def test_a_trial_missing_a_bin_of_the_window_is_missing(trials):
    values, stim, rep, neuroids = trials
    v3 = np.stack([values, values + 1.0, values + 2.0], axis=2)
    v3[0, 1, 1] = np.nan  # presentation 0, neuroid n1: no value in the middle bin
    asm = _assembly(v3, stim, rep, neuroids, time_bins=[(0, 10), (10, 20), (20, 30)])
    window = from_brainscore(asm, time_bin=(0, 30))
    static = from_brainscore(_assembly(values, stim, rep, neuroids))
    at = (window.stimulus_id.values.tolist().index(stim[0]), 1, window.repeat.values.tolist().index(rep[0]))
    assert np.isnan(window.values[at])
    expected = static.values + 1.0
    expected[at] = np.nan
    np.testing.assert_allclose(window.values, expected)


@pytest.mark.parametrize(("bins", "said"), [([(0, 10), (10, 20), (20, 40)], "of unequal widths"),
                                           ([(0, 20), (10, 30), (20, 40)], "overlapping"),
                                           ([(0, 10), (20, 30), (30, 40)], "with gaps between them")])
def test_a_window_of_bins_that_are_no_equal_parts_of_it_is_warned_about(trials, bins, said):
    """A window over bins of unequal widths, overlapping (sliding windows) or with gaps was averaged with one
    weight per bin without a word, its attrs naming the whole span as if the mean were its response."""
    values, stim, rep, neuroids = trials
    v3 = np.random.default_rng(2).normal(size=(len(stim), len(neuroids), 3))
    asm = _assembly(v3, stim, rep, neuroids, time_bins=bins)
    with pytest.warns(NeuroxrWarning, match=rf"^assembly: time_bin=\(0, 40\) averages 3 bins {said} .*with equal weights: "
                                            r"not the response over 0-40 ms\."):
        window = from_brainscore(asm, time_bin=(0, 40))
    np.testing.assert_allclose(window.values, from_brainscore(_assembly(v3.mean(axis=2), stim, rep, neuroids)).values)
    equal = _assembly(v3, stim, rep, neuroids, time_bins=[(0, 10), (10, 20), (20, 30)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)  # equal, abutting parts of the span: said nothing
        from_brainscore(equal, time_bin=(0, 30))


def test_round_trip_through_brainscore(trials):
    values, stim, rep, neuroids = trials
    neural = from_brainscore(_assembly(values, stim, rep, neuroids))
    asm = to_brainscore(neural)
    assert asm.dims == ("presentation", "neuroid") and asm.sizes["presentation"] == len(stim)
    assert set(asm.indexes["presentation"].names) == {"stimulus_id", "repetition", "object_name"}
    back = from_brainscore(asm)
    xr.testing.assert_identical(back, neural)
    assert dict(zip(back.stimulus_id.values.tolist(), back.object_name.values.tolist())) == {
        "s0": "obj0", "s1": "obj1", "s2": "obj2"}


def test_stimulus_coords_and_attrs_survive_a_brainscore_round_trip():
    """Stimulus metadata go to the presentation dim (one value per trial) and come back as stimulus
    coords; attrs ride along; per-trial presentation coords are left out with a warning naming them."""
    R = np.random.default_rng(3).normal(size=(3, 2, 2))
    R[1, :, 1] = np.nan  # a missing trial: its presentation is dropped, its stimulus's coord stays
    neural = neuroxr.neural(R, ["a", "b", "c"], ["x", "y"], region="IT", attrs={"units": "Hz", "session": 2})
    neural = neural.assign_coords(category=("stimulus", ["face", "body", "face"]), size=("stimulus", [1.0, 2.0, 3.0]),
                                  repeat=[0, 1])
    asm = to_brainscore(neural)
    assert asm.sizes["presentation"] == 5 and asm.attrs == {"units": "Hz", "session": 2}
    assert asm.category.values.tolist() == ["face", "face", "body", "face", "face"]
    xr.testing.assert_identical(from_brainscore(asm), neural)
    trial_field = asm.reset_index("presentation").assign_coords(day=("presentation", [1, 2, 1, 1, 2]))
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"presentation coords \['day'\] vary within a stimulus"):
        back = from_brainscore(trial_field)
    assert "day" not in back.coords and back.category.values.tolist() == ["face", "body", "face"]


def test_bad_assemblies_raise_one_line_errors(trials):
    values, stim, rep, neuroids = trials
    cases = [
        (xr.DataArray(values, dims=("trial", "neuroid")), "presentation"),
        (xr.DataArray(values, dims=("presentation", "neuroid")), "stimulus_id"),
        (_assembly(values, stim, [0] * len(stim), neuroids), "repeat a"),
        (values, "DataArray"),
    ]
    for asm, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            from_brainscore(asm)
        assert "\n" not in str(err.value)


@pytest.fixture
def scores():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 6))
    R = (X @ rng.normal(size=(6, 5)))[:, :, None] + rng.normal(size=(40, 5, 4))
    neural = neuroxr.neural(R, [f"s{i}" for i in range(40)], [f"n{i}" for i in range(5)], region="IT")
    feats = neuroxr.features(X, [f"s{i}" for i in range(40)], model="toy", layer="l1")
    return neuroxr.forward(feats, neural, reps=3, seed=0)


def test_to_brainscore_score_summarises_scores(scores):
    s = to_brainscore_score(scores)
    ev = scores.ev.transpose("neuroid", "rep").values / 100
    assert s.ndim == 0
    assert float(s) == pytest.approx(np.median(ev.mean(axis=1)))
    # Brain-Score's error: the standard error of the mean over splits (here reps), std(ddof=0) / sqrt(n); it was the std
    assert s.attrs["error"] == pytest.approx(np.std(np.median(ev, axis=0)) / np.sqrt(ev.shape[1]))
    raw = s.attrs["raw"]
    assert raw.dims == ("split", "neuroid")
    np.testing.assert_allclose(raw.values, ev.T)
    assert raw.neuroid_id.values.tolist() == scores.neuroid_id.values.tolist()
    ceiling = s.attrs["ceiling"]
    assert float(ceiling) == pytest.approx(np.median(scores.target_shc.mean("rep").values))
    assert s.attrs["direction"] == "forward" and s.attrs["aggregation"] == "median"
    no_units = scores.copy()
    no_units["ev"].attrs.clear()
    assert float(to_brainscore_score(no_units)) == float(s)
    mean = to_brainscore_score(scores, aggregate="mean", variable="r")
    assert float(mean) == pytest.approx(scores.r.mean("rep").mean().item())
    with pytest.raises(LayoutError, match="aggregate"):
        to_brainscore_score(scores, aggregate="max")


def test_to_brainscore_score_of_a_metric_entry():
    ds = xr.Dataset({"score": ("split", [0.4, 0.3])}, coords={"split": ["train", "test"]},
                    attrs={"metric": "crsa", "source": "a", "target": "b"})
    neuroxr.validate_metric(ds)
    s = to_brainscore_score(ds)
    assert float(s) == pytest.approx(0.3) and s.attrs["raw"].values.tolist() == [0.4, 0.3]
    assert float(to_brainscore_score(ds, split="train")) == pytest.approx(0.4)


def _protocol_result(ceiling=True):
    """A small neuroxr.predictivity.brainscore result (features and repeats of a seeded linear model)."""
    from neuroxr.layouts import features as make_features
    from neuroxr.layouts import neural as make_neural
    from neuroxr.predictivity import brainscore

    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 6))
    R = (X @ rng.standard_normal((6, 5)))[:, :, None] + rng.standard_normal((40, 5, 4))
    ids = [f"s{i:02d}" for i in range(40)]
    return brainscore(make_features(X, ids), make_neural(R, ids, [f"n{j}" for j in range(5)]), n_components=2,
                      stratify_by=None, ceiling=ceiling)


def test_to_brainscore_score_of_a_brainscore_result_keeps_raw_ceiling_and_error():
    """A brainscore result gave Score(score) with its parameters only: the raw score, the ceiling and the
    error were dropped. Brain-Score's benchmarks (ceil_score) return the ceiled score with attrs raw (whose
    own raw holds the split x neuroid r) and ceiling, and the raw score's error."""
    ds = _protocol_result()
    s = to_brainscore_score(ds)
    assert float(s) == float(ds["score"]) and s.attrs["error"] == float(ds["error"])
    raw, ceiling = s.attrs["raw"], s.attrs["ceiling"]
    # the raw score is the mean over splits of the median over neuroids of the per-split r it carries
    per_split = raw.attrs["raw"]
    assert per_split.dims == ("split", "neuroid") and per_split["neuroid_id"].values.tolist() == [f"n{j}" for j in range(5)]
    np.testing.assert_array_equal(per_split.values, ds["r"].values)
    assert float(raw) == pytest.approx(np.median(per_split.values, axis=1).mean(), rel=1e-12)
    assert raw.attrs["error"] == pytest.approx(np.median(per_split.values, axis=1).std() / np.sqrt(10), rel=1e-12)
    np.testing.assert_array_equal(ceiling.attrs["raw"].values, ds["consistency"].values)
    assert float(ceiling) == pytest.approx(np.median(ceiling.attrs["raw"].values, axis=1).mean(), rel=1e-12)
    assert float(s) == pytest.approx(float(raw) / float(ceiling), rel=1e-12)
    assert ceiling.attrs["error"] == float(ds["ceiling_error"]) and s.attrs["protocol"] == "brainscore"
    # without a ceiling the raw Score (its score is NaN); the ceiled one is asked for in vain
    plain = to_brainscore_score(_protocol_result(ceiling=False))
    assert np.isfinite(float(plain)) and "ceiling" not in plain.attrs and plain.attrs["raw"].dims == ("split", "neuroid")
    with pytest.raises(LayoutError, match=r"^variable: this brainscore result has no ceiling .* variable='raw'"):
        to_brainscore_score(_protocol_result(ceiling=False), variable="score")
    with pytest.raises(neuroxr.errors.ParameterError, match=r"^to_brainscore_score: aggregate='mean' has no effect"):
        to_brainscore_score(ds, aggregate="mean")


def test_uses_brainscore_core_score_when_installed(monkeypatch, scores):
    class Score(xr.DataArray):
        __slots__ = ()

    pkg, mod = types.ModuleType("brainscore_core"), types.ModuleType("brainscore_core.metrics")
    mod.Score = Score
    monkeypatch.setitem(sys.modules, "brainscore_core", pkg)
    monkeypatch.setitem(sys.modules, "brainscore_core.metrics", mod)
    s = to_brainscore_score(scores)
    assert type(s) is Score and type(s.attrs["raw"]) is Score


def test_missing_ids_are_an_error_not_a_stimulus_called_nan():
    values = np.zeros((4, 2))
    stim = np.array(["a", None, "b", np.nan], dtype=object)
    da = xr.DataArray(values, dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", stim), "neuroid_id": ("neuroid", ["x", "y"])})
    no_neuroid = da.assign_coords(stimulus_id=("presentation", list("abab")),
                                  neuroid_id=("neuroid", np.array(["x", None], dtype=object)))
    for asm, match in ((da, r"'stimulus_id' has 2 missing ids .* trials \[1, 3\]"),
                       (no_neuroid, r"coord 'neuroid_id' has 1 missing ids .* neuroids \[1\]")):
        with pytest.raises(LayoutError, match=match) as err:
            from_brainscore(asm)
        assert "\n" not in str(err.value)


def test_a_repeat_coord_that_does_not_exist_is_an_error():
    da = xr.DataArray(np.array([[1.0], [2.0]]), dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", ["a", "a"]), "session": ("presentation", [2, 1]),
                              "neuroid_id": ("neuroid", ["x"])})
    with pytest.raises(LayoutError, match=r"repeat_coord: assembly has no coord 'sesion'.*'session'") as err:
        from_brainscore(da, repeat_coord="sesion")
    assert "\n" not in str(err.value)
    np.testing.assert_array_equal(from_brainscore(da, repeat_coord="session").values[0, 0], [2.0, 1.0])
    np.testing.assert_array_equal(from_brainscore(da).values[0, 0], [1.0, 2.0])  # no 'repetition': order


def test_to_brainscore_score_counts_only_included_targets(scores):
    inc = np.array([True, False, True, True, False])
    flagged = scores.assign(included=("neuroid", inc))
    s = to_brainscore_score(flagged)
    ev = scores.ev.transpose("neuroid", "rep").values / 100
    assert float(s) == pytest.approx(np.median(ev[inc].mean(axis=1)))
    assert s.attrs["error"] == pytest.approx(np.std(np.median(ev[inc], axis=0)) / np.sqrt(ev.shape[1]))
    shc = scores.target_shc.transpose("neuroid", "rep").values
    assert float(s.attrs["ceiling"]) == pytest.approx(np.median(shc[inc].mean(axis=1)))
    raw = s.attrs["raw"]  # every target, flagged
    assert raw.sizes["neuroid"] == 5 and raw.included.values.tolist() == inc.tolist()


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")  # toy data: ceiling notes
def test_to_brainscore_score_of_time_resolved_scores_is_per_bin():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 4))
    R = (X @ rng.normal(size=(4, 4)))[:, :, None, None] * np.array([1.0, 0.3]) + rng.normal(size=(30, 4, 3, 2))
    ids = [f"s{i}" for i in range(30)]
    neural = neuroxr.neural(R, ids, time_bins=[(0, 50), (50, 100)])
    timed = neuroxr.forward(neuroxr.features(X, ids), neural, reps=2, seed=0)
    inc = np.array([[True, True], [False, True], [True, False], [True, True]])
    timed = timed.assign(included=(("neuroid", "time_bin"), inc))
    s = to_brainscore_score(timed)
    assert s.dims == ("time_bin",) and s.time_bin_start.values.tolist() == [0.0, 50.0]
    ev = timed.ev.transpose("neuroid", "rep", "time_bin").values / 100
    shc = timed.target_shc.transpose("neuroid", "rep", "time_bin").values
    for t in range(2):
        keep = inc[:, t]
        assert s.values[t] == pytest.approx(np.median(ev[keep, :, t].mean(axis=1)))
        assert s.attrs["error"].values[t] == pytest.approx(np.std(np.median(ev[keep, :, t], axis=0)) / np.sqrt(ev.shape[1]))
        assert s.attrs["ceiling"].values[t] == pytest.approx(np.median(shc[keep, :, t].mean(axis=1)))
    assert s.attrs["raw"].dims == ("split", "neuroid", "time_bin")
    np.testing.assert_allclose(s.attrs["raw"].values, ev.transpose(1, 0, 2))


def test_duplicate_presentations_and_neuroids_name_the_real_argument():
    values = np.arange(8.0).reshape(4, 2)
    for rep, shown in ((["r0", "r0", "r1", "r0"], "'r0'"), ([0, 0, 1, 0], "0")):
        da = _assembly(values, ["s0", "s0", "s0", "s1"], rep, ["n0", "n1"])
        with pytest.raises(LayoutError, match=rf"1 trials repeat a \(stimulus_id, repetition\) pair, e\.g\. \[\('s0', {shown}\)\]"
                           r".*pass repeat_coord=None to number") as err:
            from_brainscore(da)
        assert "\n" not in str(err.value) and "repetition=None" not in str(err.value)
    da = _assembly(values, ["s0", "s0", "s1", "s1"], [0, 1, 0, 1], ["n0", "n0"])
    with pytest.raises(LayoutError, match=r"assembly: coord 'neuroid_id' has 1 duplicate ids, e\.g\. \['n0'\]"):
        from_brainscore(da)


def test_scalar_coords_cross_to_the_assembly():
    """Scalar coords (a session, one bin's edges) stay scalar coords of the assembly, with or
    without the MultiIndex; a scalar coord named as the presentation's own coords is refused."""
    rng = np.random.default_rng(0)
    T = neuroxr.neural(rng.normal(size=(4, 3, 2, 2)), [f"s{i}" for i in range(4)], time_bins=[(0, 10), (10, 20)])
    da = T.isel(time_bin=1).assign_coords(session="d1")
    for multiindex in (True, False):
        out = to_brainscore(da, multiindex=multiindex)
        assert {c: out[c].item() for c in ("session", "time_bin_start", "time_bin_end")} == \
            {"session": "d1", "time_bin_start": 10.0, "time_bin_end": 20.0}
        assert all(out[c].ndim == 0 for c in ("session", "time_bin_start", "time_bin_end"))
    with pytest.raises(LayoutError, match="scalar coord 'repetition'"):
        to_brainscore(da.assign_coords(repetition=1))


def test_scalar_coords_of_an_assembly_are_kept(trials):
    """An assembly's scalar coords other than one bin's edges (a session, a subject) were dropped without a word."""
    values, stim, rep, neuroids = trials
    da = _assembly(values, stim, rep, neuroids).assign_coords(session="d1", subject_age=7, stimulus_set=object(),
                                                              date=np.datetime64("2020-01-01", "ns"))
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^assembly: scalar coords \['stimulus_set', 'date'\] hold no "
                                                           r"string or number and are left out"):
        out = from_brainscore(da)
    assert {c: out[c].item() for c in ("session", "subject_age")} == {"session": "d1", "subject_age": 7}
    assert out["session"].ndim == 0 and "stimulus_set" not in out.coords and "date" not in out.coords
    back = from_brainscore(to_brainscore(out.drop_vars("subject_age")))  # and back, with or without a time dim
    assert back["session"].item() == "d1"
    bins = [(0, 10), (10, 20)]
    timed = _assembly(np.stack([values, 2 * values], axis=-1), stim, rep, neuroids, time_bins=bins).assign_coords(session="d1")
    for out in (from_brainscore(timed), from_brainscore(timed, time_bin=1), from_brainscore(timed.isel(time_bin=0))):
        assert out["session"].ndim == 0 and out["session"].item() == "d1"
        assert "time_bin" not in out.coords or out["time_bin"].ndim == 1
    assert from_brainscore(timed.isel(time_bin=0)).attrs["time_bin_end"] == 10.0
    with pytest.raises(LayoutError, match=r"^assembly: scalar coord 'repeat' is a name the neural array gives its own "
                                          r"coord; rename it") as err:
        from_brainscore(_assembly(values, stim, rep, neuroids).assign_coords(repeat=3))
    assert "\n" not in str(err.value)


def test_an_assembly_of_text_or_complex_values_is_a_one_line_error(trials):
    """Text values failed in numpy's float cast; complex ones lost their imaginary part."""
    values, stim, rep, neuroids = trials
    for bad in (values.astype(str), values + 1j):
        with pytest.raises(LayoutError, match=rf"^assembly: values must be real numbers; found dtype {bad.dtype}") as err:
            from_brainscore(_assembly(bad, stim, rep, neuroids))
        assert "\n" not in str(err.value)


def test_to_brainscore_takes_a_neural_array_with_a_neuroid_dimension_coord():
    """A dimension coord (positions) entered the neuroid MultiIndex: a multi-line xarray ValueError."""
    x = neuroxr.neural(np.arange(12.0).reshape(2, 3, 2), ["s0", "s1"], ["n0", "n1", "n2"]).assign_coords(neuroid=[0, 1, 2])
    back = from_brainscore(to_brainscore(x))
    np.testing.assert_array_equal(back.transpose("stimulus", "neuroid", "repeat").values, x.values)
    assert back.neuroid_id.values.tolist() == ["n0", "n1", "n2"]


def test_to_brainscore_refuses_a_neuroid_coord_named_as_a_presentation_field():
    """A neuroid coord 'repetition' replaced the trials' repetition labels without a word."""
    x = neuroxr.neural(np.arange(12.0).reshape(2, 3, 2), ["s0", "s1"], ["n0", "n1", "n2"])
    with pytest.raises(LayoutError, match=r"^neural: neuroid coord 'repetition' is a name Brain-Score's presentation dim "
                                          r"uses; rename it\.$"):
        to_brainscore(x.assign_coords(repetition=("neuroid", [1, 2, 3])), multiindex=False)


def test_to_brainscore_score_of_a_metric_entry_names_a_missing_variable():
    ds = xr.Dataset({"score": (("split",), [0.4, 0.6])}, coords={"split": ["train", "test"]})
    with pytest.raises(LayoutError, match=r"^variable: scores have no variable 'scores'; found \['score'\]\.$"):
        to_brainscore_score(ds, variable="scores")


def test_from_brainscore_without_neuroid_ids_says_they_are_named_by_position():
    def asm(order):
        el = np.array(["e7", "e3", "e5"])[order]
        a = xr.DataArray(np.arange(6.0).reshape(2, 3)[:, order], dims=("presentation", "neuroid"),
                         coords={"stimulus_id": ("presentation", ["a", "b"]), "repetition": ("presentation", [0, 0]),
                                 "electrode": ("neuroid", el), "region": ("neuroid", ["IT"] * 3)})
        return a.set_index(presentation=["stimulus_id", "repetition"], neuroid=["electrode", "region"])

    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^assembly: has no 'neuroid_id' coord; its neuroids are named "
                                                          r"neuroid0, neuroid1, \.\.\. by position"):
        x = from_brainscore(asm([0, 1, 2]))
    assert x.neuroid_id.values.tolist() == ["neuroid0", "neuroid1", "neuroid2"]


def test_a_repeated_bin_is_refused_for_a_window_or_an_index_and_a_bare_index_is_recorded(trials):
    """Two bins with the same (start, end): a window averaged that period twice, an index picked one of
    the two with the same attrs either way (every bin at once was refused already). Without edges, the
    index kept was recorded nowhere."""
    values, stim, rep, neuroids = trials
    v3 = np.random.default_rng(2).normal(size=(len(stim), len(neuroids), 3))
    twice = _assembly(v3, stim, rep, neuroids, time_bins=[(70, 90), (70, 90), (90, 110)])
    for time_bin in ((70, 110), 0, 1, None):
        with pytest.raises(LayoutError, match=r"bins 0 and 1 of dim 'time_bin' are both \(70, 90\) ms"):
            from_brainscore(twice, time_bin=time_bin)
    bare = xr.DataArray(v3, dims=("presentation", "neuroid", "time_bin"),
                        coords={"stimulus_id": ("presentation", stim), "repetition": ("presentation", rep),
                                "neuroid_id": ("neuroid", neuroids)})
    assert from_brainscore(bare, time_bin=2).attrs["time_bin_index"] == 2
    assert from_brainscore(bare, time_bin=-3).attrs["time_bin_index"] == 0


def test_a_scalar_region_subject_or_animal_goes_on_neuroid(trials, tmp_path):
    """``assembly.sel(region='IT')`` leaves ``region`` a scalar coord (and an assembly of one subject has a
    scalar ``subject``): the result kept them scalar, failing validate_neural and write_neural."""
    values, stim, rep, neuroids = trials
    bins = [(0, 10), (10, 20)]
    static = _assembly(values, stim, rep, neuroids).assign_coords(subject="m1")
    timed = _assembly(np.stack([values, 2 * values], axis=-1), stim, rep, neuroids, time_bins=bins)
    for da in (static.sel(region="IT"), timed.sel(region="IT"), timed.sel(region="IT").isel(time_bin=0)):
        out = from_brainscore(da)
        validate_neural(out)
        assert out["region"].dims == ("neuroid",) and set(out["region"].values.tolist()) == {"IT"}
        assert out.sizes["neuroid"] == 3 and out["animal"].dims == ("neuroid",)
    out = from_brainscore(static.sel(region="IT"))
    assert out["subject"].dims == ("neuroid",) and out["subject"].values.tolist() == ["m1"] * 3
    neuroxr.open_store(tmp_path / "s.zarr").write_neural("m1", out)
    back = from_brainscore(to_brainscore(out))
    assert back["region"].values.tolist() == ["IT"] * 3 and back["subject"].values.tolist() == ["m1"] * 3


def test_to_brainscore_carries_per_trial_coords_onto_presentation():
    """A coord on repeat (a session per repeat) or on stimulus x repeat was dropped without a word: each
    presentation now carries its trial's value; one over stimulus x neuroid is named in one warning."""
    rng = np.random.default_rng(0)
    x = neuroxr.neural(rng.normal(size=(3, 2, 2)), ["a", "b", "c"], ["n0", "n1"])
    x[1, :, 1] = np.nan  # a missing trial: its presentation is dropped with its values
    x = x.assign_coords(session=("repeat", ["d1", "d2"]), rt=(("repeat", "stimulus"), [[0.1, 0.2, 0.3], [1.1, 1.2, 1.3]]))
    for multiindex in (True, False):
        out = to_brainscore(x, multiindex=multiindex)
        stim, rep = out["stimulus_id"].values.tolist(), out["repetition"].values.tolist()
        assert out["session"].dims == ("presentation",) and out["rt"].dims == ("presentation",)
        assert out["session"].values.tolist() == [str(x["session"].values[r]) for r in rep]
        assert out["rt"].values.tolist() == [float(x["rt"].sel(repeat=r).values[["abc".index(s)]][0]) for s, r in zip(stim, rep)]
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"presentation coords \['repetition'\] vary within a stimulus"):
        back = from_brainscore(to_brainscore(x.drop_vars("rt")), repeat_coord="session")  # the session labels the repeats
    assert back["repeat"].values.tolist() == ["d1", "d2"]
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^neural: coords \{'w': \('stimulus', 'neuroid'\)\} lie on no "
                                                           r"dim of a Brain-Score assembly") as rec:
        out = to_brainscore(x.assign_coords(w=(("stimulus", "neuroid"), np.ones((3, 2)))))
    assert len(rec) == 1 and "w" not in out.coords
    with pytest.raises(LayoutError, match=r"^neural: repeat coord 'repetition' is a name Brain-Score's presentation dim"):
        to_brainscore(x.assign_coords(repetition=("repeat", [5, 6])))
    T = neuroxr.neural(rng.normal(size=(3, 2, 2, 2)), ["a", "b", "c"], time_bins=[(0, 10), (10, 20)])
    out = to_brainscore(T.assign_coords(label=("time_bin", ["early", "late"]), session=("repeat", ["d1", "d2"])))
    assert out["label"].values.tolist() == ["early", "late"] and out["session"].dims == ("presentation",)
    assert list(out.indexes["time_bin"].names) == ["time_bin_start", "time_bin_end", "label"]


def test_a_temporal_assemblys_per_bin_coords_stay_on_time_bin():
    """A coord on time_bin besides the edges (a label per bin) came back as a scalar: the first bin's label for every bin."""
    rng = np.random.default_rng(0)
    T = neuroxr.neural(rng.normal(size=(3, 2, 2, 2)), ["a", "b", "c"], time_bins=[(0, 10), (10, 20)])
    T = T.assign_coords(label=("time_bin", ["early", "late"]))
    for multiindex in (True, False):
        back = from_brainscore(to_brainscore(T, multiindex=multiindex))
        assert back["label"].dims == ("time_bin",) and back["label"].values.tolist() == ["early", "late"]
        np.testing.assert_array_equal(back.values, T.values)


def _labelled_bins(trials):
    values, stim, rep, neuroids = trials
    v3 = np.stack([values, 2 * values, 3 * values], axis=-1)
    asm = _assembly(v3, stim, rep, neuroids, time_bins=[(70, 170), (170, 270), (270, 370)])
    # a label per bin, as a level of the time_bin MultiIndex (as brainio gathers it) and as a plain coord
    asm = asm.reset_index("time_bin").assign_coords(epoch=("time_bin", ["early", "early", "late"]),
                                                    time_bin_label=("time_bin", ["a", "b", "c"]),
                                                    gain=("time_bin", [1.0, 1.0, 2.0]))
    return asm.set_index(time_bin=["time_bin_start", "time_bin_end", "epoch"])


def test_one_bin_kept_records_its_labels_in_the_attrs(trials):
    import warnings

    asm = _labelled_bins(trials)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = from_brainscore(asm, time_bin=2)
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"\['time_bin_label'\]"):
        early = from_brainscore(asm, time_bin=(70, 270))  # a window whose bins share epoch and gain, not the label
    assert {k: one.attrs[k] for k in ("epoch", "time_bin_label", "gain")} == {"epoch": "late", "time_bin_label": "c", "gain": 2.0}
    assert type(one.attrs["epoch"]) is str and (one.attrs["time_bin_start"], one.attrs["time_bin_end"]) == (270.0, 370.0)
    assert (early.attrs["epoch"], early.attrs["gain"]) == ("early", 1.0) and "time_bin_label" not in early.attrs


def test_a_window_over_bins_with_other_labels_says_which_coords_it_leaves_out(trials):
    asm = _labelled_bins(trials)
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match="time_bin_label") as rec:
        window = from_brainscore(asm, time_bin=(70, 370))
    assert "epoch" in str(rec[0].message) and "gain" in str(rec[0].message)
    assert not {"epoch", "gain", "time_bin_label"} & (set(window.attrs) | set(window.coords))


def test_every_bin_kept_keeps_labels_named_time_bin_something(trials):
    timed = from_brainscore(_labelled_bins(trials))
    assert timed.time_bin_label.values.tolist() == ["a", "b", "c"] and timed.epoch.values.tolist() == ["early", "early", "late"]
    assert timed.time_bin_label.dims == ("time_bin",)


def test_a_coord_over_neuroids_and_bins_is_not_one_bins_value(trials):
    values, stim, rep, neuroids = trials
    asm = _assembly(np.stack([values, values], axis=-1), stim, rep, neuroids, time_bins=[(0, 10), (10, 20)])
    asm = asm.assign_coords(latency=(("neuroid", "time_bin"), np.arange(8.0).reshape(4, 2)))
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match="latency"):
        timed = from_brainscore(asm)
    assert "latency" not in timed.coords
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match="latency"):
        one = from_brainscore(asm, time_bin=0)
    assert "latency" not in one.coords and "latency" not in one.attrs


def test_presentation_coord_named_stimulus_is_the_stimulus_coord_and_groups_nothing(trials):
    # a coord 'stimulus' (e.g. a file name) beside stimulus_id took the place of the ids the fields were grouped by:
    # object_name came back all NaN and 'stimulus' was dropped without a word
    values, stim, rep, neuroids = trials
    files = {s: f"img_{s}.png" for s in set(stim)}
    asm = _assembly(values, stim, rep, neuroids).assign_coords(stimulus=("presentation", [files[s] for s in stim]))
    out = from_brainscore(asm)
    ids = out.stimulus_id.values.tolist()
    assert out["object_name"].values.tolist() == [f"obj{s[-1]}" for s in ids]
    assert out["stimulus"].dims == ("stimulus",) and out["stimulus"].values.tolist() == [files[s] for s in ids]
    # presentation order changes nothing
    back = from_brainscore(asm.isel(presentation=np.arange(len(stim))[::-1]))
    xr.testing.assert_identical(back.sel(stimulus=out.stimulus.values), out)


def test_coords_named_like_the_layouts_own_dims_or_ids_are_refused(trials):
    values, stim, rep, neuroids = trials
    asm = _assembly(values, stim, rep, neuroids)
    k = len(neuroids)
    cases = [
        (asm.assign_coords(repeat=("neuroid", np.arange(k))), "repeat"),
        (asm.assign_coords(stimulus=("neuroid", np.arange(k))), "stimulus"),
        (asm.assign_coords(repeat=("presentation", [s[-1] for s in stim])), "repeat"),  # one per stimulus
    ]
    for a, coord in cases:  # they were dropped without a word
        with pytest.raises(LayoutError, match=rf"assembly: \w+ coord '{coord}' is named like the array's own .*"
                           rf"assembly.rename\(\{{'{coord}': '{coord}_2'\}}\)") as err:
            from_brainscore(a)
        assert "\n" not in str(err.value)
    # stimulus ids read from another coord: a coord 'stimulus_id' is refused, not dropped
    other = asm.reset_index("presentation").assign_coords(image=("presentation", stim))
    with pytest.raises(LayoutError, match="presentation coord 'stimulus_id' is named like the array's own stimulus ids"):
        from_brainscore(other, stimulus_coord="image")


def test_plain_neuroid_coord_beside_the_ids_is_the_neuroid_coord(trials):
    values, stim, rep, neuroids = trials
    asm = _assembly(values, stim, rep, neuroids).reset_index("neuroid").assign_coords(neuroid=[f"e{i}" for i in range(4)])
    out = from_brainscore(asm)
    assert out.neuroid_id.values.tolist() == neuroids
    assert out["neuroid"].values.tolist() == ["e0", "e1", "e2", "e3"]


def test_dims_own_coords_cross_to_brainscore_and_back():
    # to_brainscore dropped a coord 'stimulus' / 'neuroid' (the dims' own, as tidy tables read them back) without a word
    rng = np.random.default_rng(3)
    neural = neuroxr.neural(rng.normal(size=(3, 2, 2)), ["a", "b", "c"], ["n0", "n1"])
    neural = neural.assign_coords(stimulus=["fa", "fb", "fc"], neuroid=["e0", "e1"])
    back = from_brainscore(to_brainscore(neural, multiindex=False))
    xr.testing.assert_identical(back, neural.assign_coords(repeat=[0, 1]).rename("neural"))
    with pytest.warns(neuroxr.NeuroxrWarning, match="coord 'neuroid' .* is left out of the assembly.*multiindex=False"):
        asm = to_brainscore(neural)
    assert asm["stimulus"].values.tolist() == ["fa", "fa", "fb", "fb", "fc", "fc"]
    back = from_brainscore(asm)
    assert back["stimulus"].values.tolist() == ["fa", "fb", "fc"] and "neuroid" not in back.coords


def test_a_scalar_coord_named_like_a_dim_is_a_one_line_error(trials):
    # xarray's "dimension 'stimulus' already exists as a scalar variable", with a traceback
    values, stim, rep, neuroids = trials
    with pytest.raises(LayoutError, match="^assembly: scalar coord 'stimulus' is a name the neural array gives") as err:
        from_brainscore(_assembly(values, stim, rep, neuroids).assign_coords(stimulus="set1"))
    assert "\n" not in str(err.value)


def test_coord_arguments_that_are_no_name_and_a_multiindex_that_is_no_bool_are_one_line_errors(trials):
    """stimulus_coord / repeat_coord given as lists were xarray's bare "unhashable type" TypeError;
    to_brainscore(multiindex="no") was truthy and gathered MultiIndexes. Each is refused naming it."""
    values, stim, rep, neuroids = trials
    asm = _assembly(values, stim, rep, neuroids)
    for kw, says in (({"stimulus_coord": ["stimulus_id"]}, r"^stimulus_coord: expected one name \(a str\); got"),
                     ({"repeat_coord": ["repetition"]}, r"^repeat_coord: expected one name \(a str\) or None; got")):
        with pytest.raises(LayoutError, match=says):
            from_brainscore(asm, **kw)
    neural = from_brainscore(asm)
    with pytest.raises(neuroxr.ParameterError, match=r"multiindex must be True or False; got 'no'"):
        to_brainscore(neural, multiindex="no")
    flat = to_brainscore(neural, multiindex=False)
    assert not any(hasattr(flat.indexes.get(d), "levels") for d in flat.dims)  # no MultiIndex
    assert any(hasattr(to_brainscore(neural).indexes.get(d), "levels") for d in ("presentation", "neuroid"))


def test_selecting_one_level_value_of_a_two_level_index_is_read_as_the_assembly_it_was():
    """xarray names a dim after the one level left of its MultiIndex: sel(region='IT') on an index of neuroid_id
    and region gave dim 'neuroid_id' and sel(repetition=0) dim 'stimulus_id', both refused as foreign dims, and the
    scalar repetition (or stimulus_id) left by a selection was refused as having one value, not one per trial."""
    rng = np.random.default_rng(0)
    neural = neuroxr.neural(rng.normal(size=(3, 4, 2)), ["s0", "s1", "s2"], [f"n{i}" for i in range(4)])
    neural = neural.assign_coords(repeat=[0, 1], region=("neuroid", ["IT", "IT", "V4", "IT"]))
    assembly = to_brainscore(neural)
    full = from_brainscore(assembly)
    it = assembly.sel(region="IT")
    assert it.dims == ("presentation", "neuroid_id")  # xarray's doing
    xr.testing.assert_identical(from_brainscore(it), full.isel(neuroid=[0, 1, 3]))
    one = assembly.sel(repetition=0)
    assert one.dims == ("stimulus_id", "neuroid") and one["repetition"].ndim == 0
    xr.testing.assert_identical(from_brainscore(one), full.sel(repeat=[0]))
    s1 = assembly.sel(stimulus_id="s1")
    assert s1.dims == ("repetition", "neuroid") and s1["stimulus_id"].ndim == 0
    xr.testing.assert_identical(from_brainscore(s1), full.isel(stimulus=[1]))


def test_selecting_bins_by_one_edge_is_read_as_the_bins_selected():
    """sel(time_bin_start=...) on the (start, end) index leaves one level, after which xarray names the dim
    'time_bin_end' (and the start a scalar): refused as a foreign dim."""
    rng = np.random.default_rng(0)
    bins = [(0, 50), (50, 100), (100, 150)]
    neural = neuroxr.neural(rng.normal(size=(3, 2, 2, 3)), ["s0", "s1", "s2"], ["n0", "n1"], time_bins=bins)
    assembly = to_brainscore(neural.assign_coords(repeat=[0, 1]))
    full = from_brainscore(assembly)
    picked = assembly.sel(time_bin_start=50)
    assert picked.dims == ("presentation", "neuroid", "time_bin_end")  # xarray's doing
    # one bin: the static layout, its edges in the attrs (as for any single-bin assembly)
    expected = full.isel(time_bin=1).drop_vars(["time_bin_start", "time_bin_end"]).assign_attrs(
        time_bin_start=50.0, time_bin_end=100.0)
    xr.testing.assert_identical(from_brainscore(picked), expected)
    xr.testing.assert_identical(from_brainscore(assembly.isel(time_bin=[1])), expected)


def test_the_arrays_name_survives_a_brainscore_round_trip():
    """to_brainscore names the assembly after the array; from_brainscore named every result 'neural', so a
    round trip of an array named 'v4' did not give it back (the docs' from_X(to_X(neural)) is neural)."""
    rng = np.random.default_rng(0)
    bins = [(0, 50), (50, 100)]
    static = neuroxr.neural(rng.normal(size=(3, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"], name="v4").assign_coords(
        repeat=[0, 1])
    timed = neuroxr.neural(rng.normal(size=(3, 2, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"], name="v4",
                           time_bins=bins).assign_coords(repeat=[0, 1])
    for neural in (static, timed):
        assert to_brainscore(neural).name == "v4"
        xr.testing.assert_identical(from_brainscore(to_brainscore(neural)), neural)
        assert from_brainscore(to_brainscore(neural), name="it").name == "it"  # name= overrides it
    assert from_brainscore(to_brainscore(static).rename(None)).name == "neural"  # an unnamed assembly


def test_a_coord_over_presentations_and_neuroids_is_named_when_left_out():
    """A coord over presentation x neuroid (a per-trial, per-electrode flag) was dropped without a word, static or
    time-resolved (the layout has no place for it)."""
    rng = np.random.default_rng(0)
    static = neuroxr.neural(rng.normal(size=(3, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"]).assign_coords(repeat=[0, 1])
    timed = neuroxr.neural(rng.normal(size=(3, 2, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"],
                           time_bins=[(0, 50), (50, 100)]).assign_coords(repeat=[0, 1])
    for neural in (static, timed):
        assembly = to_brainscore(neural)
        flagged = assembly.assign_coords(good=(("presentation", "neuroid"), rng.random(assembly.shape[:2]) > 0.5))
        with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^assembly: coords \['good'\] span presentation and "
                                                               r"neuroid; .*left out") as rec:
            out = from_brainscore(flagged)
        assert len(rec) == 1
        xr.testing.assert_identical(out, from_brainscore(assembly))
