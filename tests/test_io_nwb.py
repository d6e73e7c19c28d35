"""NWB units + presentation intervals -> spike counts per presentation (neuroxr.io.nwb).

A small NWB file is written in the test with pynwb's NWBHDF5IO, read back by ``from_nwb`` and the
counts are checked against a direct count of each unit's spikes in each window.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroxr.errors import LayoutError
from neuroxr.io import from_nwb, spike_counts
from neuroxr.layouts import validate_neural

pynwb = pytest.importorskip("pynwb")

WINDOW = (0.05, 0.25)


@pytest.fixture
def session():
    """Presentations (stimulus c shown once less) and 4 units' spike times, some on window edges."""
    rng = np.random.default_rng(0)
    stim = ["a", "b", "c", "a", "b", "c", "a", "b"]
    starts = np.arange(len(stim)) * 0.5 + 1.0
    spikes = [np.sort(rng.uniform(0.5, 5.5, size=rng.integers(20, 60))) for _ in range(4)]
    spikes[0] = np.sort(np.r_[spikes[0], starts[0] + WINDOW[0], starts[1] + WINDOW[1]])  # one in, one out
    return stim, starts, spikes


def _write(path, stim, starts, spikes, table="presentations", electrodes=False):
    nwb = pynwb.NWBFile(
        session_description="toy", identifier="toy-session", session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        subject=pynwb.file.Subject(subject_id="monkeyA", species="Macaca mulatta"),
    )
    intervals = pynwb.epoch.TimeIntervals(name=table, description="stimulus presentations")
    intervals.add_column("stimulus_id", "which image was shown")
    for s, t in zip(stim, starts):
        intervals.add_interval(start_time=float(t), stop_time=float(t) + 0.2, stimulus_id=s)
    nwb.add_time_intervals(intervals)
    if electrodes:  # the brain area comes from each unit's electrode, as in extracellular recordings
        device = nwb.create_device(name="array")
        for i in range(len(spikes)):
            area = "IT" if i < 3 else "V4"
            group = nwb.create_electrode_group(name=f"shank{i}", description="probe", location=area, device=device)
            nwb.add_electrode(group=group, location=area)
        for i, st in enumerate(spikes):
            nwb.add_unit(spike_times=st, electrodes=[i])
    else:
        nwb.add_unit_column("region", "brain area")
        for i, st in enumerate(spikes):
            nwb.add_unit(spike_times=st, region="IT" if i < 3 else "V4")
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_from_nwb_counts_spikes_per_presentation(tmp_path, session):
    stim, starts, spikes = session
    path = _write(tmp_path / "toy.nwb", stim, starts, spikes)
    out = from_nwb(path, WINDOW, intervals="presentations")
    validate_neural(out)
    assert out.sizes == {"stimulus": 3, "neuroid": 4, "repeat": 3}
    assert out.stimulus_id.values.tolist() == ["a", "b", "c"]
    assert out.region.values.tolist() == ["IT", "IT", "IT", "V4"]
    assert out.animal.values.tolist() == ["monkeyA"] * 4
    seen: dict[str, int] = {}
    for s, t in zip(stim, starts):
        r = seen[s] = seen.get(s, -1) + 1
        expected = [np.sum((st >= t + WINDOW[0]) & (st < t + WINDOW[1])) for st in spikes]
        np.testing.assert_array_equal(out.sel(repeat=r).isel(stimulus=out.stimulus_id.values.tolist().index(s)).values, expected)
    assert np.isnan(out.isel(stimulus=2).sel(repeat=2)).all() and int(np.isnan(out.values).sum()) == 4
    assert out.attrs["units"] == "spikes" and out.attrs["window_start"] == WINDOW[0]
    rate = from_nwb(path, WINDOW, intervals="presentations", rate=True)
    np.testing.assert_allclose(rate.values, out.values / (WINDOW[1] - WINDOW[0]))


def test_an_nwb_file_under_the_home_folder_is_read_from_there(tmp_path, monkeypatch, session):
    stim, starts, spikes = session
    _write(tmp_path / "toy.nwb", stim, starts, spikes)
    monkeypatch.setenv("HOME", str(tmp_path))
    xr.testing.assert_identical(from_nwb("~/toy.nwb", WINDOW, intervals="presentations"),
                                from_nwb(tmp_path / "toy.nwb", WINDOW, intervals="presentations"))


def test_region_from_the_units_electrodes(tmp_path, session):
    stim, starts, spikes = session
    with_columns = from_nwb(_write(tmp_path / "a.nwb", stim, starts, spikes), WINDOW, intervals="presentations")
    with_electrodes = from_nwb(_write(tmp_path / "b.nwb", stim, starts, spikes, electrodes=True), WINDOW,
                               intervals="presentations")
    assert with_electrodes.region.values.tolist() == ["IT", "IT", "IT", "V4"]
    np.testing.assert_array_equal(with_electrodes.values, with_columns.values)


def test_spike_counts_window_is_half_open():
    counts = spike_counts([np.array([1.0, 1.1, 1.2, 2.0])], np.array([1.0, 1.9]), (0.0, 0.2))
    np.testing.assert_array_equal(counts[:, 0], [2, 1])  # 1.2 falls on the first window's end


def test_from_nwb_errors(tmp_path, session):
    stim, starts, spikes = session
    path = _write(tmp_path / "toy.nwb", stim, starts, spikes)
    cases = [
        (lambda: from_nwb(path, WINDOW), "no TimeIntervals table 'trials'"),
        (lambda: from_nwb(path, (0.2, 0.1), intervals="presentations"), "t0 < t1"),
        (lambda: from_nwb(path, WINDOW, intervals="presentations", stimulus_column="image"), "no column 'image'"),
        (lambda: from_nwb(tmp_path / "missing.nwb", WINDOW), "no NWB file"),
        (lambda: from_nwb(object(), WINDOW), "pynwb.NWBFile"),
    ]
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def _in_memory(spikes):
    """An open NWBFile with one unit per spike train (no presentation table: tests pass a DataFrame)."""
    nwb = pynwb.NWBFile(session_description="toy", identifier="toy", session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    for st in spikes:
        nwb.add_unit(spike_times=st)
    return nwb


def test_missing_stimulus_ids_are_an_error_not_a_stimulus_called_nan():
    nwb = _in_memory([np.array([0.1, 1.1, 2.1, 3.1])])
    table = pd.DataFrame({"start_time": [0.0, 1.0, 2.0, 3.0], "stimulus_id": ["a", np.nan, "b", None]})
    with pytest.raises(LayoutError, match=r"column 'stimulus_id' has 2 missing ids .* rows \[1, 3\]") as err:
        from_nwb(nwb, WINDOW, intervals=table)
    assert "\n" not in str(err.value)


def test_a_nan_onset_is_a_missing_trial_not_zero_spikes():
    counts = spike_counts([np.array([0.1, 0.2, 1.1])], np.array([0.0, np.nan]), (0.0, 0.5))
    np.testing.assert_array_equal(counts[:, 0], [2.0, np.nan])
    nwb = _in_memory([np.array([0.1, 0.2, 1.1, 2.1, 3.1, 3.2])])
    table = pd.DataFrame({"start_time": [0.0, np.nan, 2.0, 3.0], "stimulus_id": ["a", "a", "b", "b"]})
    out = from_nwb(nwb, (0.0, 0.5), intervals=table)
    np.testing.assert_array_equal(out.values[:, 0, :], [[2.0, np.nan], [1.0, 2.0]])


def test_trials_of_an_nwbfile_built_in_memory_are_found_by_name(session):
    """``add_trial`` on an NWBFile in memory sets ``nwbfile.trials``, not an entry of ``nwbfile.intervals``."""
    stim, starts, spikes = session
    nwb = pynwb.NWBFile(session_description="toy", identifier="mem", session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_trial_column("stimulus_id", "which image was shown")
    for s, t in zip(stim, starts):
        nwb.add_trial(start_time=float(t), stop_time=float(t) + 0.2, stimulus_id=s)
    for st in spikes:
        nwb.add_unit(spike_times=st)
    assert "trials" not in dict(nwb.intervals or {})
    got = from_nwb(nwb, WINDOW)  # intervals="trials", the default
    expected = from_nwb(nwb, WINDOW, intervals=nwb.trials)
    assert got.identical(expected)
    direct = spike_counts(spikes, np.asarray(starts), WINDOW)
    assert np.nansum(got.values) == direct.sum() and got.sizes["neuroid"] == len(spikes)
    with pytest.raises(LayoutError, match=r"no TimeIntervals table 'epochs'; found \['trials'\]"):
        from_nwb(nwb, WINDOW, intervals="epochs")


def test_a_duplicated_trial_row_is_refused():
    nwb = _in_memory([np.array([0.1, 1.1, 1.2])])
    table = pd.DataFrame({"start_time": [0.0, 1.0, 0.0, np.nan, np.nan], "stimulus_id": ["a", "b", "a", "a", "a"]})
    with pytest.raises(LayoutError, match=r"intervals: 1 presentations repeat .* stimulus 'a' at 0 s .*drop_duplicates") as err:
        from_nwb(nwb, (0.0, 0.5), intervals=table)
    assert "\n" not in str(err.value)
    out = from_nwb(nwb, (0.0, 0.5), intervals=table.drop_duplicates())  # two NaN onsets are two missing trials, not copies
    np.testing.assert_array_equal(out.values[:, 0, :], [[1.0, np.nan], [2.0, np.nan]])


def _hand_count(spikes, starts, window, observed, invalid):
    """Expected counts by a plain loop: NaN outside a unit's observation intervals or overlapping invalid times."""
    out = np.full((len(starts), len(spikes)), np.nan)
    for i, s in enumerate(starts):
        lo, hi = s + window[0], s + window[1]
        if any(lo < b and a < hi for a, b in invalid):
            continue
        for j, st in enumerate(spikes):
            if any(a <= lo and hi <= b for a, b in observed[j]):
                out[i, j] = sum(lo <= t < hi for t in st)
    return out


def test_windows_outside_obs_intervals_or_inside_invalid_times_are_missing_trials(tmp_path):
    stim, starts = ["a", "a", "b", "b", "a", "b"], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    spikes = [np.array([0.1, 0.2, 1.1, 1.3, 2.2, 4.1]), np.array([0.1, 1.1, 2.1, 3.1, 3.2, 4.4, 5.1]), np.array([5.2, 0.3])]
    observed = [[[0.0, 1.5], [3.9, 6.0]], [[0.0, 6.0]], [[0.0, 6.0]]]  # unit 0 was lost between 1.5 s and 3.9 s
    invalid = [(2.9, 3.05)]  # overlaps the window of the trial at 3 s only
    nwb = pynwb.NWBFile(session_description="toy", identifier="obs", session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_trial_column("stimulus_id", "which image was shown")
    for s, t in zip(stim, starts):
        nwb.add_trial(start_time=t, stop_time=t + 0.5, stimulus_id=s)
    for st, obs in zip(spikes, observed):
        nwb.add_unit(spike_times=st, obs_intervals=obs)
    for a, b in invalid:
        nwb.add_invalid_time_interval(start_time=a, stop_time=b)
    with pynwb.NWBHDF5IO(str(tmp_path / "obs.nwb"), "w") as io:
        io.write(nwb)
    expected = _hand_count(spikes, starts, (0.0, 0.5), observed, invalid)
    assert np.isnan(expected[2:4, 0]).all() and np.isnan(expected[3]).all() and not np.isnan(expected[4]).any()
    for source in (nwb, tmp_path / "obs.nwb"):
        out = from_nwb(source, (0.0, 0.5))
        for i, s in enumerate(stim):  # trial i is repeat stim[:i].count(s) of its stimulus
            got = out.isel(stimulus=out.stimulus_id.values.tolist().index(s), repeat=stim[:i].count(s)).values
            np.testing.assert_array_equal(got, expected[i])


def test_overlapping_windows_are_warned_and_count_a_spike_in_each():
    """Windows longer than the onset spacing count a spike in every window it falls in; this went unsaid."""
    from neuroxr.errors import NeuroxrWarning

    starts = np.array([0.0, 0.3, 0.6, 2.0, np.nan])  # the first three overlap with a 0.4 s window, 2.0 alone
    spikes = [np.array([0.35, 0.5, 2.1])]
    with pytest.warns(NeuroxrWarning, match=r"^window=\(0, 0\.4\): the windows of 3 of 4 presentations overlap another's "
                                            r"\(onsets 0\.3 s apart at the closest, the window is 0\.4 s long\)") as rec:
        counts = spike_counts(spikes, starts, (0.0, 0.4))
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    expected = [np.sum((spikes[0] >= t) & (spikes[0] < t + 0.4)) if np.isfinite(t) else np.nan for t in starts]
    np.testing.assert_array_equal(counts[:, 0], expected)  # kept: 0.35 counts in the first two windows
    nwb = _in_memory(spikes)
    table = pd.DataFrame({"start_time": starts[:4], "stimulus_id": ["a", "b", "c", "d"]})
    with pytest.warns(NeuroxrWarning, match=r"window=\(0, 0\.4\): the windows of 3 of 4"):
        from_nwb(nwb, (0.0, 0.4), intervals=table)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        spike_counts(spikes, starts, (0.1, 0.4))  # 0.3 s windows 0.3 s apart touch, never overlap


@pytest.mark.parametrize("args, match", [
    (([np.array([1.0])], np.array(["a"]), (0, 1)), r"^starts: expected presentation onsets in seconds.*\(numbers\)"),
    (([np.array([1.0])], np.zeros((2, 2)), (0, 1)), r"^starts: .*a 1-D array; got shape \(2, 2\)\.$"),
    (([np.zeros((2, 2))], np.array([0.0]), (0, 1)), r"^spike_times\[0\]: expected the unit's spike times.*got shape \(2, 2\)"),
    ((np.array([0.5, 0.7]), np.array([0.0]), (0, 1)), r"^spike_times: expected one array of spike times per unit .*pass "
                                                      r"\[spike_times\] for one unit\.$"),
])
def test_spike_counts_of_malformed_input_are_one_line_errors(args, match):
    """These failed with numpy's broadcast, conversion or axis errors."""
    with pytest.raises(LayoutError, match=match) as err:
        spike_counts(*args)
    assert "\n" not in str(err.value)


def test_a_file_that_is_no_nwb_file_is_a_one_line_error(tmp_path):
    """A folder or a file of another kind failed with h5py's multi-line OSError."""
    (tmp_path / "notes.nwb").write_text("not hdf5")
    for source in (tmp_path, tmp_path / "notes.nwb"):
        with pytest.raises(LayoutError, match=rf"^source: '{source}' cannot be read as an NWB file \(.*\); pass the path "
                                              r"of an NWB \(HDF5\) file\.$") as err:
            from_nwb(source, WINDOW)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_presentation_without_a_finite_onset_sorts_last_whatever_its_sign(bad):
    """-inf sorted first, taking repeat 0 and moving every timed trial of its stimulus up one slot
    (what split='slots' reads); NaN and +inf sorted last, as documented."""
    from datetime import datetime, timezone

    from pynwb import NWBFile

    nwb = NWBFile("s", "id", datetime(2020, 1, 1, tzinfo=timezone.utc))
    nwb.add_unit(spike_times=[1.1, 2.1, 2.2], id=0)
    table = pd.DataFrame({"start_time": [1.0, bad, 2.0], "stimulus_id": ["a", "a", "a"]})
    got = from_nwb(nwb, (0, 0.5), intervals=table).values[0, 0]
    np.testing.assert_array_equal(got, [1.0, 2.0, np.nan])


def test_a_window_across_touching_obs_intervals_is_observed():
    """A unit observed over [0, 2) and [2, 4) was recorded throughout: the window [1.8, 2.3) has a count
    (it was NaN: the window lay inside neither interval alone); a gap between intervals stays NaN."""
    spikes = [np.array([1.9, 2.1, 2.2, 4.5])]
    observed = [[[2.0, 4.0], [0.0, 2.0], [4.1, 6.0]]]  # out of order; a 0.1 s gap at 4 s
    out = spike_counts(spikes, np.array([1.8, 3.8, 0.0]), (0.0, 0.5), observed=observed)
    np.testing.assert_array_equal(out[:, 0], [3.0, np.nan, 0.0])
    overlapping = spike_counts(spikes, np.array([1.8]), (0.0, 0.5), observed=[[[0.0, 2.1], [1.9, 2.5]]])
    np.testing.assert_array_equal(overlapping, [[3.0]])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_spike_without_a_finite_time_is_refused(bad):
    """A NaN spike time was never counted: every window's count silently left it out."""
    with pytest.raises(LayoutError, match=r"^spike_times\[1\]: 1 of 3 spike times are not finite") as err:
        spike_counts([np.array([0.1]), np.array([0.2, bad, 0.3])], np.array([0.0]), (0.0, 0.5))
    assert "\n" not in str(err.value)


def test_rate_is_a_bool_and_the_window_finite(tmp_path, session):
    """rate="no" returned spikes/s; window=(0, inf) with rate=True returned all-zero rates."""
    from neuroxr.errors import ParameterError

    stim, starts, spikes = session
    path = _write(tmp_path / "toy.nwb", stim, starts, spikes)
    with pytest.raises(ParameterError, match=r"^from_nwb: rate must be True or False; got 'no'") as e:
        from_nwb(path, WINDOW, intervals="presentations", rate="no")
    assert "\n" not in str(e.value)
    for window in ((0.0, np.inf), (-np.inf, 0.5)):
        with pytest.raises(LayoutError, match=r"^window: needs finite times in seconds"):
            from_nwb(path, window, intervals="presentations", rate=True)
    with pytest.raises(LayoutError, match=r"^window: needs finite times"):
        spike_counts([np.array([0.1])], np.array([0.0]), (0.0, np.inf))


def test_onsets_that_are_not_numbers_are_a_one_line_error():
    """A text start_time raised NumPy's 'could not convert string to float'."""
    nwb = _in_memory([np.array([0.1, 0.2])])
    table = pd.DataFrame({"start_time": ["x", 1.0], "stimulus_id": ["a", "b"]})
    with pytest.raises(LayoutError, match=r"^intervals: column 'start_time' holds values that are not numbers") as e:
        from_nwb(nwb, (0.0, 0.5), intervals=table)
    assert "\n" not in str(e.value)


def test_spike_times_not_a_list_of_trains_are_one_line_errors():
    """spike_times that are no list of per-unit arrays: None (a bare TypeError), a dict keyed by unit
    (its keys were read as spike times) and one unit's times as a flat list (each time read as a unit)
    are one-line errors naming the fix; the dict's values are the counts a list gives."""
    trains = {"u1": np.array([0.1, 0.2, 0.5]), "u2": np.array([0.3])}
    starts, window = np.array([0.0, 0.4]), (0.0, 0.3)
    cases = [(None, r"got None\.$"), (trains, r"got a dict keyed by unit: pass list\(spike_times\.values\(\)\)\.$"),
             ([0.1, 0.2, 0.5], r"got a list of numbers: pass \[spike_times\] for one unit\.$")]
    for given, says in cases:
        with pytest.raises(LayoutError, match=r"^spike_times: expected one array of spike times per unit .*" + says) as e:
            spike_counts(given, starts, window)
        assert "\n" not in str(e.value)
    expected = [[((t >= s) & (t < s + 0.3)).sum() for t in trains.values()] for s in starts]
    np.testing.assert_array_equal(spike_counts(list(trains.values()), starts, window), expected)
    np.testing.assert_array_equal(spike_counts(tuple(trains.values()), starts, window), expected)


def test_column_arguments_that_are_no_name_are_one_line_errors(tmp_path, session):
    """stimulus_column=["stimulus_id"] (a list, as pandas takes column lists) was pandas' bare
    "unhashable type" TypeError; it and neuroid_column are refused naming the argument."""
    path = _write(tmp_path / "toy.nwb", *session)
    for kw, says in (({"stimulus_column": ["stimulus_id"]}, r"^stimulus_column: expected one name \(a str\); got"),
                     ({"neuroid_column": ["id"]}, r"^neuroid_column: expected one name \(a str\) or None; got")):
        with pytest.raises(LayoutError, match=says):
            from_nwb(path, WINDOW, intervals="presentations", **kw)
    assert from_nwb(path, WINDOW, intervals="presentations", stimulus_column="stimulus_id").sizes["stimulus"] == 3


def test_windows_count_from_the_onset_column_given(session):
    """A photodiode-corrected onset column, not ``start_time``, sets the windows when named; an absent or
    non-numeric one is a one-line error naming ``onset_column``."""
    stim, starts, spikes = session
    delay = np.array([0.02, 0.03, 0.05, 0.01, 0.04, 0.02, 0.03, 0.06])
    table = pd.DataFrame({"start_time": starts, "onset": starts + delay, "stimulus_id": stim})
    out = from_nwb(_in_memory(spikes), WINDOW, intervals=table, onset_column="onset")
    assert out.attrs["onset_column"] == "onset"
    seen: dict[str, int] = {}
    for s, t in zip(stim, starts + delay):
        r = seen[s] = seen.get(s, -1) + 1
        expected = [np.sum((st >= t + WINDOW[0]) & (st < t + WINDOW[1])) for st in spikes]
        np.testing.assert_array_equal(out.sel(repeat=r).isel(stimulus=out.stimulus_id.values.tolist().index(s)).values, expected)
    assert not np.array_equal(np.nan_to_num(out.values), np.nan_to_num(from_nwb(_in_memory(spikes), WINDOW, intervals=table).values))
    with pytest.raises(LayoutError, match="no column 'photodiode'.*Pass onset_column="):
        from_nwb(_in_memory(spikes), WINDOW, intervals=table, onset_column="photodiode")
    with pytest.raises(LayoutError, match="onset_column: expected one name"):
        from_nwb(_in_memory(spikes), WINDOW, intervals=table, onset_column=["onset"])


def test_a_stimulus_column_of_lists_is_refused_not_read_as_their_text(session):
    """NWB epochs name their stimuli in ``tags``, a list per row: the ids were the text "['a']"."""
    stim, starts, spikes = session
    nwb = pynwb.NWBFile(session_description="toy", identifier="tags", session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    for s, t in zip(stim, starts):
        nwb.add_epoch(start_time=float(t), stop_time=float(t) + 0.2, tags=[s])
    for st in spikes:
        nwb.add_unit(spike_times=st)
    with pytest.raises(LayoutError, match=r"^intervals: column 'tags' holds lists or arrays, not one id per entry, at rows "
                                          r"\[0, 1, 2, 3, 4, \.\.\. \(3 more\)\]; give each entry one id.*str\[0\]") as err:
        from_nwb(nwb, WINDOW, intervals="epochs", stimulus_column="tags")
    assert "\n" not in str(err.value)
    table = nwb.epochs.to_dataframe()
    out = from_nwb(nwb, WINDOW, intervals=table.assign(stimulus_id=table["tags"].str[0]))  # the way out it names
    assert out.stimulus_id.values.tolist() == ["a", "b", "c"]


def test_neuroid_column_id_names_the_units_own_ids(tmp_path, session):
    """The units' ids are the table's 'id' (its index), which neuroid_column='id' was refused as a missing column."""
    stim, starts, spikes = session
    path = _write(tmp_path / "toy.nwb", stim, starts, spikes)
    with pynwb.NWBHDF5IO(str(path), "r") as io:  # pynwb's own ids of the units
        ids = [str(i) for i in io.read().units.id[:]]
    out = from_nwb(path, WINDOW, intervals="presentations", neuroid_column="id")
    assert out.neuroid_id.values.tolist() == ids
    xr.testing.assert_identical(out, from_nwb(path, WINDOW, intervals="presentations"))
    with pytest.raises(LayoutError, match=r"^neuroid_column: the units table has no column 'unit_name'; found "
                                          r"\[.*'spike_times'.*\] \(and the units' own 'id'\)\.$"):
        from_nwb(path, WINDOW, intervals="presentations", neuroid_column="unit_name")


def test_missing_stimulus_ids_in_a_files_table_name_how_to_drop_those_rows(tmp_path, session):
    """'drop those rows first' named no way to do so for a table read from the file (intervals='trials')."""
    stim, starts, spikes = session
    stim = list(stim)
    stim[2] = ""  # e.g. a fixation trial: no image
    path = _write(tmp_path / "toy.nwb", stim, starts, spikes)
    with pytest.raises(LayoutError, match=r"^intervals: column 'stimulus_id' has 1 empty ids \(''\) at rows \[2\]; every "
                                          r"presentation needs a stimulus id: pass intervals= the table without those "
                                          r"rows, e\.g\. intervals=nwbfile\.intervals\['presentations'\]\.to_dataframe\(\)"
                                          r"\.drop\(index=<those rows>\)\.$") as err:
        from_nwb(path, WINDOW, intervals="presentations")
    assert "\n" not in str(err.value)
    with pynwb.NWBHDF5IO(str(path), "r") as io:  # the way the message names
        table = io.read().intervals["presentations"].to_dataframe()
    out = from_nwb(path, WINDOW, intervals=table.drop(index=[2]))
    assert out.stimulus_id.values.tolist() == ["a", "b", "c"] and out.sizes["repeat"] == 3
