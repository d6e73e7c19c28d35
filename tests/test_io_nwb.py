"""NWB units + presentation intervals -> spike counts per presentation (neuroxr.io.nwb).

A small NWB file is written in the test with pynwb's NWBHDF5IO, read back by ``from_nwb`` and the
counts are checked against a direct count of each unit's spikes in each window.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

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
