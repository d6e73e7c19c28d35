"""Process-wide state touched from threads.

A sweep's Dask workers may run several entry tasks on threads of one process, validate and a sweep's
gathering read entries on 8 threads. Warning filters (``warnings.catch_warnings``) are process-wide
until Python 3.14: a task that set them "for a while" hid, recorded as its own, or (its restore
racing another's) lost for good the warnings of the tasks running beside it. NaN-reductions are
silent on all-NaN slices without any filter; NumPy's floating-point notes use ``np.errstate`` (per
thread).
"""

from __future__ import annotations

import importlib
import threading
import warnings

import numpy as np
import pytest
import xarray as xr

from neuroxr.errors import NeuroxrWarning
from neuroxr.layouts import neural as make_neural

# modules by name (the packages' attributes of the same names are their public functions)
compare_mod = importlib.import_module("neuroxr.kernels.compare")
brainscore_mod = importlib.import_module("neuroxr.predictivity.brainscore")
resample = importlib.import_module("neuroxr.kernels.resample")
plot_common = importlib.import_module("neuroxr.plot._common")
headline = importlib.import_module("neuroxr.report.headline")
table = importlib.import_module("neuroxr.report.table")
_util = importlib.import_module("neuroxr.sweep._util")


def _with_nans(seed=0):
    x = np.random.default_rng(seed).standard_normal((6, 4))
    x[:, 1] = np.nan  # an all-NaN column: NaN, silently
    x[2, 2] = np.nan
    return x


def _numpy(name, *args, **kwargs):
    """NumPy's own value (its all-NaN notes silenced here, in the test's thread)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return getattr(np, name)(*args, **kwargs)


def _watching(real, seen, outer):
    """``real`` recording in ``seen`` whether the warning filters, when it is called, are ``outer``."""
    def call(*args, **kwargs):
        seen.append(list(warnings.filters) == outer)
        return real(*args, **kwargs)
    return call


_CALLS = {
    "sweep nanmedian": (lambda x: _util.nanmedian(x, axis=0), lambda x: _numpy("nanmedian", x, axis=0)),
    "sweep nanmean": (lambda x: _util.nanmean(x, axis=0), lambda x: _numpy("nanmean", x, axis=0)),
    "sweep nanstd": (lambda x: _util.nanstd(x, axis=0), lambda x: _numpy("nanstd", x, axis=0)),
    "sweep included_summary": (lambda x: _util.included_summary(x[:, 2], np.ones(6, bool))["median_ev"],
                               lambda x: _numpy("nanmedian", x[:, 2])),
    "percentile_interval": (lambda x: resample.percentile_interval(x, 0.9, nan_policy="omit"),
                            lambda x: np.stack([_numpy("nanquantile", x, 0.05, axis=0),
                                                _numpy("nanquantile", x, 0.95, axis=0)])),
    "bootstrap_bias": (lambda x: resample.bootstrap_bias(np.zeros(4), x), lambda x: _numpy("nanmean", x, axis=0)),
    "plot _reduce": (lambda x: plot_common._reduce(x, "median", axis=0), lambda x: _numpy("nanmedian", x, axis=0)),
    "plot _quantiles": (lambda x: np.stack(plot_common._quantiles(x, axis=0)),
                        lambda x: np.stack([_numpy("nanpercentile", x, 25, axis=0), _numpy("nanpercentile", x, 75, axis=0)])),
    "report table _rep_mean": (lambda x: table._rep_mean(xr.Dataset({"ev": (("rep", "neuroid"), x)})).values,
                               lambda x: _numpy("nanmean", x, axis=0)),
    "report headline _rep_mean": (lambda x: headline._rep_mean(xr.Dataset({"ev": (("rep", "neuroid"), x)}), "ev", "neuroid"),
                                  lambda x: _numpy("nanmean", x, axis=0)),
}


@pytest.mark.parametrize("name", list(_CALLS))
def test_nan_reductions_leave_the_process_warning_filters_alone(monkeypatch, name):
    """Each swapped in an "ignore RuntimeWarning" filter for a while (process-wide): another task's
    RuntimeWarnings meanwhile were lost. Inside, the filters are the caller's; the numbers are NumPy's
    and no warning is issued."""
    seen, outer = [], []  # outer: the filters set below

    for fn in ("nanmedian", "nanmean", "nanstd", "nanquantile", "nanpercentile"):
        monkeypatch.setattr(np, fn, _watching(getattr(np, fn), seen, outer))
    x = _with_nans()
    call, reference = _CALLS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outer[:] = warnings.filters
        got = call(x)
    assert seen and all(seen)
    assert [str(w.message) for w in caught] == []
    np.testing.assert_array_equal(got, reference(x))


def test_bca_interval_leaves_the_process_warning_filters_alone(monkeypatch):
    outer, seen = list(warnings.filters), []
    monkeypatch.setattr(np, "nanmean", _watching(np.nanmean, seen, outer))
    rng = np.random.default_rng(1)
    boot, jack = rng.standard_normal((50, 3)), rng.standard_normal((10, 3))
    boot[:, 1] = jack[:, 1] = np.nan
    resample.bca_interval(np.zeros(3), boot, jack)
    assert seen and all(seen)


def test_brainscore_ceiling_leaves_the_process_warning_filters_alone(monkeypatch):
    """Its NumPy notes are silenced per thread (np.errstate), not by a process-wide filter."""
    outer, seen = list(warnings.filters), []
    monkeypatch.setattr(brainscore_mod, "spearman_brown", _watching(brainscore_mod.spearman_brown, seen, outer))
    rng = np.random.default_rng(0)
    neur = make_neural(rng.standard_normal((12, 3, 4)), [f"img{i:02d}" for i in range(12)], ["n0", "n1", "n2"])
    brainscore_mod.brainscore_ceiling(neur, n_splits=2)
    assert seen and all(seen)


def test_a_gathering_thread_loses_no_runtime_warning_of_another():
    """A gathering thread's median (included_summary) hid, while it ran, the RuntimeWarnings of the
    process's other threads: a user's overflow warned meanwhile was lost."""
    inside, warned = threading.Event(), threading.Event()
    real = np.nanmedian

    def slow(*args, **kwargs):
        inside.set()
        warned.wait(10)
        return real(*args, **kwargs)

    np.nanmedian = slow
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = threading.Thread(target=lambda: _util.nanmedian(np.arange(4.0)))
            t.start()
            assert inside.wait(10)
            warnings.warn("the other task's overflow", RuntimeWarning, stacklevel=1)
            warned.set()
            t.join(10)
    finally:
        np.nanmedian = real
    assert [str(w.message) for w in caught] == ["the other task's overflow"]


def test_compare_rdms_many_neither_takes_nor_counts_another_threads_warning(monkeypatch):
    """With NaN dissimilarities it recorded every warning issued while it compared (warnings.catch_warnings
    with record=True, process-wide): another task's warning meanwhile was lost to its caller and counted
    as one more comparison with NaN pairs."""
    inside, warned = threading.Event(), threading.Event()
    real = compare_mod._compare_vectors

    def slow(*args, **kwargs):
        inside.set()
        warned.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_mod, "_compare_vectors", slow)
    rng = np.random.default_rng(0)
    A, B = rng.random((2, 10)), rng.random((2, 10))
    A[0, 3] = np.nan  # row 0 of A: both of its comparisons drop a pair
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = threading.Thread(target=lambda: out.setdefault("value", compare_mod.compare_rdms_many(A, B, "spearman")))
        t.start()
        assert inside.wait(10)
        warnings.warn("the other task's warning", NeuroxrWarning, stacklevel=1)
        warned.set()
        t.join(10)
    said = [str(w.message) for w in caught]
    assert "the other task's warning" in said
    assert [s for s in said if s.startswith("compare_rdms_many:")] == [
        "compare_rdms_many: 2 of 4 comparisons dropped dissimilarity pairs that are NaN in either RDM "
        "(as rsatoolbox and scipy nan_policy='omit')."]
    want = [[compare_mod.compare_rdms(A[i], B[j]) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(out["value"], want, rtol=1e-12)


def test_a_time_resolved_call_neither_takes_nor_loses_another_threads_warning():
    """Scoring bin by bin held each bin's warnings in a process-wide recorder (``catch_warnings(record=
    True)``): a warning another thread issued meanwhile was taken as this call's, issued again with this
    call's time bins appended, and lost to its own caller. Each call now holds its own thread's warnings
    only (:func:`neuroxr.errors.holding`)."""
    from conftest import time_sets

    import neuroxr as nx
    from neuroxr.errors import warn
    from neuroxr.predictivity.time import by_bins

    F, A, _ = time_sets()
    inside, warned = threading.Event(), threading.Event()

    def direction(features, neural):
        if not inside.is_set():  # bin 0: the other thread warns while this bin is scored
            inside.set()
            warned.wait(10)
        warn("a note of this call's bins")
        return nx.forward(features, neural, reps=2, noise_ceiling=False)

    got = []
    worker = threading.Thread(target=lambda: got.append(by_bins(direction, {"features": F, "neural": A}, ("neural",))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        worker.start()
        assert inside.wait(10)
        warnings.warn("the other thread's own warning", NeuroxrWarning, stacklevel=1)
        warned.set()
        worker.join(10)
    said = [str(w.message) for w in caught]
    assert got and got[0].sizes["time_bin"] == 3
    assert said.count("the other thread's own warning") == 1 and not any("own warning (time bin" in s for s in said)
    assert said.count("a note of this call's bins (time bins 0, 1, 2)") == 1


def test_holding_keeps_nested_blocks_and_recorders_apart():
    """Held warnings go to the innermost block of this thread; a recorder opened inside the block sees
    them at once, one opened outside when the owner issues them (never twice)."""
    from neuroxr.errors import holding, recording, warn

    with recording() as outer_said, holding() as outer:
        with holding() as inner, recording() as inner_said:
            warn("held inside")
        assert inner == inner_said == [("held inside", NeuroxrWarning)] and outer == [] and outer_said == []
        warn("held outside")
    assert outer == [("held outside", NeuroxrWarning)] and outer_said == []
    with recording() as a, recording() as b:  # two empty recorders are equal lists: each closes itself
        pass
    with recording() as c:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            warn("said")
    assert a == b == [] and c == [("said", NeuroxrWarning)]


def test_checking_a_sweep_config_hides_no_other_threads_warning(monkeypatch, sweep_copy):
    """validate_config checks the plan quietly (the sweep says what it leaves out); it did so by ignoring
    NeuroxrWarning in the whole process for a while, so another thread's warning was lost."""
    from neuroxr.errors import warn
    from neuroxr.sweep import checks
    from neuroxr.sweep.config import validate_config

    inside, warned = threading.Event(), threading.Event()

    def check_plan(*args, **kwargs):
        inside.set()
        warned.wait(10)
        warn("the plan leaves something out")  # said by the sweep, not by the check

    monkeypatch.setattr(checks, "check_plan", check_plan)
    path = sweep_copy()
    worker = threading.Thread(target=validate_config, args=({"directions": ["forward"]},), kwargs={"store": str(path)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        worker.start()
        assert inside.wait(10)
        warnings.warn("the other thread's own warning", NeuroxrWarning, stacklevel=1)
        warned.set()
        worker.join(10)
    assert [str(w.message) for w in caught] == ["the other thread's own warning"]


def test_reading_a_temporal_assembly_hides_no_other_threads_warning(monkeypatch):
    """from_brainscore says what it leaves out of a temporal assembly once, at its first bin; it silenced
    the later bins by ignoring NeuroxrWarning in the whole process, so another thread's warning was lost."""
    from neuroxr.io import brainscore as io_brainscore

    rng = np.random.default_rng(0)
    stim, bins = ["s0", "s1", "s2", "s0", "s1", "s2"], [(0, 10), (10, 20)]
    asm = xr.DataArray(rng.normal(size=(6, 3, 2)), dims=("presentation", "neuroid", "time_bin"),
                       coords={"stimulus_id": ("presentation", stim), "repetition": ("presentation", [0, 0, 0, 1, 1, 1]),
                               "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
                               "time_bin_start": ("time_bin", [b[0] for b in bins]),
                               "time_bin_end": ("time_bin", [b[1] for b in bins])},
                       attrs={"grid": [1, 2]})  # left out, with a warning, in each bin
    real, calls, inside, warned = io_brainscore.from_brainscore, [], threading.Event(), threading.Event()

    def per_bin(one, **kw):  # the second bin's reading: the other thread warns meanwhile
        calls.append(1)
        if len(calls) == 2:
            inside.set()
            warned.wait(10)
        return real(one, **kw)

    monkeypatch.setattr(io_brainscore, "from_brainscore", per_bin)
    got = []
    worker = threading.Thread(target=lambda: got.append(real(asm)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        worker.start()
        assert inside.wait(10)
        warnings.warn("the other thread's own warning", NeuroxrWarning, stacklevel=1)
        warned.set()
        worker.join(10)
    said = [str(w.message) for w in caught]
    assert got and got[0].sizes["time_bin"] == 2 and "the other thread's own warning" in said
    assert sum("['grid']" in s for s in said) == 1  # what is left out: said once


class _MeetingSession(str):
    """A sweep's session id whose comparisons with older sessions wait (up to 1 s) for a second task to
    compare too: two tasks opening the sweep's store at once, as on a worker with several threads."""

    arrived = 0
    both = threading.Event()

    def __ne__(self, other):
        type(self).arrived += 1
        if type(self).arrived == 2:
            type(self).both.set()
        type(self).both.wait(1)
        return str.__ne__(self, other)

    __hash__ = str.__hash__


def test_tasks_opening_their_sweeps_store_at_once_share_one(tmp_path, monkeypatch):
    """Each worker keeps one cached store per sweep and drops the earlier sweeps'. Two tasks of a new sweep
    opening it at once on one worker's threads both dropped the earlier store (the second: KeyError) and
    made a store each."""
    from conftest import two_animal_store

    from neuroxr.sweep import tasks

    url = two_animal_store(tmp_path / "s.zarr").url
    monkeypatch.setattr(tasks, "_SESSIONS", {})
    tasks._open(url, None, session="earlier")
    session, got, errors = _MeetingSession("new"), [], []

    def task():
        try:
            got.append(tasks._open(url, None, session=session))
        except Exception as exc:  # noqa: BLE001 (what a task would die of)
            errors.append(exc)

    threads = [threading.Thread(target=task) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and len(got) == 2 and got[0] is got[1]
    assert [k[0] for k in tasks._SESSIONS] == ["new"]


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_geometry_nan_paths_leave_the_process_warning_filters_alone(monkeypatch, method):
    """The RDM noise ceiling's pooling of RDMs with NaN pairs and the trial counts of responses with a
    missing trial each swapped in an "ignore RuntimeWarning" filter for a while (process-wide)."""
    import neuroxr.geometry as geo

    outer, seen = list(warnings.filters), []

    rng = np.random.default_rng(0)
    rdms = np.abs(rng.standard_normal((3, 15)))
    rdms[0, 2] = rdms[1, 2] = rdms[2, 2] = np.nan  # one pair NaN in every subject: NaN in the pool
    with monkeypatch.context() as patched:
        patched.setattr(np, "nanmean", _watching(np.nanmean, seen, outer))
        geo.rdm_noise_ceiling(rdms, method=method)  # (its note of the dropped pairs is pytest's to catch)
    monkeypatch.setattr(xr.DataArray, "notnull", _watching(xr.DataArray.notnull, seen, outer))  # (xarray's own means set filters)
    values = rng.standard_normal((8, 5, 4))
    values[0, 0, 1] = np.nan  # a missing trial
    ids = [f"s{i}" for i in range(8)]
    feats = xr.DataArray(rng.standard_normal((8, 3)), dims=("stimulus", "unit"), coords={"stimulus_id": ("stimulus", ids)})
    from neuroxr.layouts import features
    geo.crsa(features(feats.values, ids), make_neural(values, ids))
    assert len(seen) >= 2 and all(seen)


def test_a_larger_thread_pool_leaves_the_one_another_thread_submits_to_working(monkeypatch):
    """thread_map takes the backend's pool and then submits its runs to it. Another thread asking for
    more threads than the pool has replaced the pool and shut the old one down, so the first thread's
    next submission raised 'cannot schedule new futures after shutdown'."""
    from neuroxr.backend import _threads

    monkeypatch.setattr(_threads, "_pool", None)
    first = _threads._executor(1)  # what one thread_map holds while it submits
    _threads._executor(_threads._cores() + 2)  # another thread's larger request
    assert first.submit(lambda: 7).result() == 7
    assert _threads._executor(1) is not first  # the larger pool serves later requests


class _EvictedAfterTheCheck(dict):
    """A region cache whose key is evicted by "another thread" right after a caller checks it is there."""

    def __contains__(self, key):
        found = dict.__contains__(self, key)
        self.pop(key, None)
        return found


def test_a_region_lookup_survives_another_thread_evicting_its_key(tmp_path, monkeypatch):
    """A set's regions are kept per version token (at most 1024). A lookup checked its key was kept and
    then read it; another thread evicting that key in between made the lookup a KeyError."""
    from conftest import two_animal_store

    from neuroxr import sets

    st = two_animal_store(tmp_path / "s.zarr", regions=["IT", "IT", "V4", "V4"])
    monkeypatch.setattr(sets, "_REGION_CACHE", _EvictedAfterTheCheck())
    assert sets._regions(st, "mA") == ["IT", "V4"]  # read, then kept
    assert sets._regions(st, "mA") == ["IT", "V4"]  # kept: found, though evicted right after a check
