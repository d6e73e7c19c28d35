"""Lazy (dask-backed) neural responses and features are refused as the in-memory ones are
(neuroxr.validation's one check, where the analyses compute the lazy values), and the stimulus
counts of split-half reliability and of time-resolved results."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from conftest import linear_arrays

import neuroxr as nx
from neuroxr import geometry as geo
from neuroxr.errors import LayoutError
from neuroxr.kernels.gram import gram_dask

N, K, T, P = 24, 5, 4, 8
SID = [f"s{i:02d}" for i in range(N)]
NID = [f"n{j}" for j in range(K)]


def _data(seed=0):
    return linear_arrays(seed, N, K, T, P)


def _neural(R):
    return nx.neural(R, SID, NID)


def _features(F):
    return nx.features(F, SID, [f"u{i}" for i in range(F.shape[1])], model="m", layer="l")


def _lazy(x, values, chunks):
    return x.copy(data=da.from_array(values, chunks=chunks))


def _message(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LayoutError) as e:
            fn(*args, **kwargs)
    return str(e.value)


CALLS = {
    "split_half_reliability": lambda f, b: nx.split_half_reliability(b, reps=2),
    "forward": lambda f, b: nx.forward(f, b, reps=1),  # lazy features: streamed through the Gram
    "forward_max_n": lambda f, b: nx.forward(f, b, reps=1, max_n=4),  # lazy features: loaded
    "reverse": lambda f, b: nx.reverse(b, f, reps=1),  # lazy features: unit chunk by unit chunk
    "crsa": lambda f, b: nx.crsa(f, b, reps=2),
    "cka": lambda f, b: nx.cka(f, b),
    "ersa": lambda f, b: nx.ersa(f, b),
    "ereg": lambda f, b: nx.ereg(f, b),
    "brainscore_ceiling": lambda f, b: nx.predictivity.brainscore_ceiling(b, n_splits=2),
    "split_half_rdms": lambda f, b: geo.split_half_rdms(b),
    "split_half_rdm_ceiling": lambda f, b: geo.split_half_rdm_ceiling(b),
}
#: The calls that read no features.
NEURAL_ONLY = {"split_half_reliability", "brainscore_ceiling", "split_half_rdms", "split_half_rdm_ceiling"}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_lazy_neural_with_inf_is_refused_as_in_memory(name):
    F, R = _data()
    R[3, 0, 1] = np.inf
    eager = _message(CALLS[name], _features(F), _neural(np.where(np.isinf(R), 0.0, R)).copy(data=R))  # checked by the analysis
    lazy = _lazy(_neural(np.where(np.isinf(R), 0.0, R)), R, (12, 3, 4))
    assert _message(CALLS[name], _features(F), lazy) == eager
    # the constructor's refusal, naming the analysis's argument (cka's b), after the function called (geometry)
    assert eager.rsplit(": ", 1)[1] == _message(nx.neural, R, SID, NID).rsplit(": ", 1)[1]
    assert eager.startswith(f"{name.removesuffix('_max_n')}: ")


@pytest.mark.parametrize("name", sorted(set(CALLS) - NEURAL_ONLY))
def test_lazy_features_with_nan_or_inf_are_refused_as_in_memory(name):
    F, R = _data()
    F[3, 0], F[5, 6], F[7, 6] = np.nan, np.inf, -np.inf
    eager = _message(CALLS[name], _features(np.nan_to_num(F)).copy(data=F), _neural(R))  # checked by the analysis
    lazy = _lazy(_features(np.nan_to_num(F)), F, (N, 3))
    assert _message(CALLS[name], lazy, _neural(R)) == eager
    assert "holds 3 non-finite values (NaN or inf) in 2 units, e.g. ['u0', 'u6']" in eager


@pytest.mark.parametrize("fn, who", [(geo.gram, "gram: features"), (geo.effective_dimensionality, "effective_dimensionality: obj"),
                                     (lambda f: geo.rdm(f), "rdm: obj")])
def test_lazy_features_in_every_gram_path(fn, who):
    F, _ = _data()
    F[2, 7] = np.nan
    lazy = _lazy(_features(np.nan_to_num(F)), F, (N, 3))
    with pytest.raises(LayoutError, match=rf"^{who} \(m/l\): holds 1 non-finite values \(NaN or inf\) in 1 units, e.g. \['u7'\]"):
        fn(lazy)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_gram_dask_counts_nonfinite_values_within_its_chunks(scheduler):
    F, _ = _data()
    F[[1, 2], 1], F[4, 6] = np.nan, np.inf  # units 1 and 6, in the first and the third chunk
    darr = da.from_array(F, chunks=(N, 3))
    with pytest.raises(LayoutError, match=r"^x: holds 3 non-finite values .* in 2 units, e.g. \['b', 'g'\]"):
        gram_dask(darr, scheduler=scheduler, unit_ids=list("abcdefgh"), name="x")
    with pytest.raises(LayoutError, match=r"in 2 units, e.g. \[1, 6\]"):  # no ids: positions
        gram_dask(darr, scheduler=scheduler)
    assert gram_dask(da.from_array(np.nan_to_num(F, posinf=0.0), chunks=(N, 3)), scheduler=scheduler).nonfinite is None


def test_lazy_nan_in_neural_stays_a_missing_trial():
    F, R = _data()
    R[3, 0, 1] = np.nan
    lazy = _lazy(_neural(np.nan_to_num(R)), R, (12, 3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (CALLS["split_half_reliability"], CALLS["crsa"], CALLS["forward"]):
            a, b = call(_features(F), _neural(R)), call(_features(F), lazy)
            for v in a.data_vars:
                np.testing.assert_array_equal(a[v].values, b[v].values)


def _stored(path, F, R, array, at, value):
    """A store of ``F``/``R`` whose ``array`` (``"neural/mk"`` or ``"features/m/l"``) holds ``value``
    at ``at``, written behind the store's back (as a damaged chunk would read)."""
    zarr = pytest.importorskip("zarr")
    store = nx.open_store(str(path))
    store.write_features("m", "l", _features(F))
    store.write_neural("mk", _neural(R))
    z = zarr.open(str(path / array / "data"), mode="r+")
    v = z[...]
    v[at] = value
    z[...] = v
    return nx.open_store(str(path))


def test_stored_sets_with_nan_or_inf_are_refused(tmp_path):
    F, R = _data()
    store = _stored(tmp_path / "a.zarr", F, R, "neural/mk", (3, 0, 1), np.inf)
    for kind in ("forward", "crsa", "ereg", "cka"):
        assert "holds 1 infinite values; missing trials must be NaN" in _message(nx.score, store, kind, "m.l", "mk")
    store = _stored(tmp_path / "b.zarr", F, R, "features/m/l", (3, 0), np.nan)
    for kind in ("forward", "crsa", "ersa", "ereg", "cka"):
        assert "holds 1 non-finite values (NaN or inf) in 1 units" in _message(nx.score, store, kind, "m.l", "mk")


# ---------------------------------------------------------------------------- stimulus counts
def test_split_half_reliability_counts_and_warns_like_the_directions():
    F, R = _data()
    R[3, 0, 1:] = np.nan  # n0 has one valid repeat on s03: partial
    R[5] = np.nan  # s05 has no trial: excluded
    with pytest.warns(nx.NeuroxrWarning) as caught:
        out = nx.split_half_reliability(_neural(R), reps=3)
    said = " ".join(str(w.message) for w in caught)
    assert "excluding 1 of 24 stimuli" in said and "1 neuroids lack 2 valid repeat(s)" in said
    assert "folds" not in said
    assert (out.attrs["n_stimuli"], out.attrs["n_excluded_stimuli"], out.attrs["n_partial_targets"]) == (23, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwd = nx.forward(_features(F), _neural(R), reps=1)
    assert {k: out.attrs[k] for k in ("n_stimuli", "n_excluded_stimuli", "n_partial_targets")} == \
        {k: fwd.attrs[k] for k in ("n_stimuli", "n_excluded_stimuli", "n_partial_targets")}
    complete = nx.split_half_reliability(_neural(np.nan_to_num(R)), reps=3)  # the counts change no number
    assert complete.attrs["n_stimuli"] == 24 and complete.attrs["n_partial_targets"] == 0


def test_time_resolved_counts_are_one_int_per_bin():
    F, R = _data()
    Rt = np.stack([R, R, R], axis=-1)
    Rt[4, 1, :, 2] = np.nan  # n1 lacks s04 in bin 2 only
    b = nx.neural(Rt, SID, NID, time_bins=[(0, 10), (10, 20), (20, 30)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {"forward": nx.forward(_features(F), b, reps=1),
                   "reverse": nx.reverse(b, _features(F), reps=1),
                   "split_half_reliability": nx.split_half_reliability(b, reps=1)}
    want = {"n_stimuli": [24, 24, 24], "n_excluded_stimuli": [0, 0, 0], "n_partial_targets": [0, 0, 1]}
    for name in ("forward", "split_half_reliability"):  # the same value in two bins: a list still
        assert {k: results[name].attrs[k] for k in want} == want, name
    assert results["reverse"].attrs["n_excluded_stimuli"] == [0, 0, 1]  # a predictor stimulus dropped in bin 2


def test_split_half_reliability_of_a_bin_without_repeats_is_nan_and_counted():
    """A time bin where no stimulus has 2 valid repeats: that bin's reliabilities are NaN and its
    n_stimuli 0 (as the directions leave such a bin); the other bins are those of a call on them alone."""
    _, R = _data()
    Rt = np.stack([R, R[::-1], R[:, ::-1]], axis=-1)
    Rt[:, :, 1:, 0] = np.nan  # bin 0: one valid trial per stimulus
    b = nx.neural(Rt, SID, NID, time_bins=[(0, 10), (10, 20), (20, 30)])
    with pytest.warns(nx.NeuroxrWarning, match="excluding 24 of 24 stimuli with fewer than 2 valid repeat"):
        out = nx.split_half_reliability(b, reps=2)
    assert np.isnan(out.reliability.isel(time_bin=0).values).all()
    assert (out.attrs["n_stimuli"], out.attrs["n_excluded_stimuli"]) == ([0, 24, 24], [24, 0, 0])
    for t in (1, 2):
        alone = nx.split_half_reliability(b.isel(time_bin=t), reps=2)
        np.testing.assert_array_equal(out.reliability.isel(time_bin=t).values, alone.reliability.values)
    with pytest.warns(nx.NeuroxrWarning, match="excluding 24 of 24"):  # untimed: NaN, not an error
        one = nx.split_half_reliability(b.isel(time_bin=0), reps=2)
    assert np.isnan(one.reliability.values).all() and one.attrs["n_stimuli"] == 0
