"""Inputs that differ from a float64 C-ordered NumPy reference only in representation (integer
counts, float32 / float16, big-endian, Fortran order, strided views, read-only, dask-backed,
masked arrays, extra coords and attrs) give the reference's numbers, or a one-line error; no public
function changes its inputs."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx

pytestmark = pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")

N_STIM, N_NEUROIDS, N_REPEATS, N_UNITS = 24, 5, 4, 9


def _counts(seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Integer-valued features and spike counts (exact in every dtype below), sharing a latent."""
    rng = np.random.default_rng(seed)
    stim = [f"s{i:02d}" for i in range(N_STIM)]
    lat = rng.normal(size=(N_STIM, 3))
    F = np.clip(np.round(120 + 40 * (lat @ rng.normal(size=(3, N_UNITS))) + 8 * rng.normal(size=(N_STIM, N_UNITS))), 0, 255)
    R = np.clip(np.round(100 + 30 * (lat @ rng.normal(size=(3, N_NEUROIDS)))[:, :, None]
                         + 10 * rng.normal(size=(N_STIM, N_NEUROIDS, N_REPEATS))), 0, 255)
    return (nx.features(F, stim, model="net", layer="l1"),
            nx.neural(R, stim, [f"n{j}" for j in range(N_NEUROIDS)], region="IT"))


def _as(da: xr.DataArray, kind: str) -> xr.DataArray:
    """``da`` (float64, integer-valued in [0, 255]) in another representation of the same values."""
    v = da.values
    if kind in ("int16", "int32", "int64", "uint8", "float32", "float16", ">f8"):
        return da.copy(data=v.astype(kind))
    if kind == "fortran":
        return da.copy(data=np.asfortranarray(v))
    if kind == "strided":
        view = np.repeat(v, 2, axis=1)[:, ::2]
        assert not view.flags.c_contiguous and not view.flags.f_contiguous
        return da.copy(data=view)
    if kind == "readonly":
        w = v.copy()
        w.flags.writeable = False
        return da.copy(data=w)
    if kind == "dask":
        return da.chunk({"stimulus": 7})
    if kind == "extra":
        return da.assign_coords(batch=("stimulus", np.arange(da.sizes["stimulus"]))).assign_attrs(session=[1, 2], note="x")
    if kind == "object_ids":
        return da.assign_coords(stimulus_id=("stimulus", np.array(list(da.stimulus_id.values), dtype=object)))
    raise KeyError(kind)


KINDS = ["int16", "int32", "int64", "uint8", "float32", "float16", ">f8", "fortran", "strided", "readonly", "dask", "extra",
         "object_ids"]


def _numbers(out) -> dict[str, np.ndarray]:
    if isinstance(out, xr.Dataset):
        return {k: np.asarray(out[k].values, dtype=float) for k in out.data_vars if out[k].dtype.kind in "fiub"}
    return {"value": np.asarray(out.values if isinstance(out, xr.DataArray) else out, dtype=float)}


def _same_numbers(got, want) -> None:
    g, w = _numbers(got), _numbers(want)
    assert g.keys() == w.keys()
    for k in w:
        np.testing.assert_allclose(g[k], w[k], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=k)


ANALYSES = {
    "forward": lambda f, n: nx.forward(f, n, reps=2),
    "reverse": lambda f, n: nx.reverse(n, f, reps=2),
    "split_half_reliability": lambda f, n: nx.split_half_reliability(n, reps=2),
    "rdm_features": lambda f, n: nx.rdm(f),
    "rdm_neural_euclidean": lambda f, n: nx.rdm(n, method="euclidean"),
    "crsa": lambda f, n: nx.crsa(f, n, reps=2),
    "cka": lambda f, n: nx.cka(f, n.mean("repeat").rename(neuroid="unit", neuroid_id="unit_id"), debiased=True),
    "effective_dimensionality": lambda f, n: nx.effective_dimensionality(f),
    "linear_metric": lambda f, n: nx.LinearMetric().fit(f, n.mean("repeat")).score(f, n.mean("repeat")),
}


@pytest.mark.parametrize("analysis", sorted(ANALYSES))
@pytest.mark.parametrize("which", ["features", "neural"])
def test_representations_give_the_reference_numbers_and_leave_inputs_alone(analysis, which):
    fn = ANALYSES[analysis]
    feats, neu = _counts()
    want = fn(feats, neu)
    for kind in KINDS:
        f, n = (_as(feats, kind), neu) if which == "features" else (feats, _as(neu, kind))
        before = copy.deepcopy((f, n))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no NumPy warning from inside the analysis
            got = fn(f, n)
        _same_numbers(got, want)
        for arg, old in zip((f, n), before):
            assert arg.identical(old) and arg.dtype == old.dtype, (analysis, kind)


@pytest.mark.parametrize("fn", [lambda n: nx.split_half_reliability(n, reps=2),
                                lambda n: nx.forward(_counts()[0], n, reps=2)], ids=["reliability", "forward"])
def test_float16_responses_whose_sum_overflows_float16_warn_nothing(fn):
    """float16 counts summing above 65504 (the check for infinite values sums them): the float64
    numbers, without NumPy's 'overflow encountered in reduce'."""
    _, neu = _counts()
    neu = neu * 4  # integers up to 1020: exact in float16
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(neu.values.astype(np.float16)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = fn(neu.copy(data=neu.values.astype(np.float16)))
    _same_numbers(got, fn(neu))


def test_float16_responses_with_inf_are_still_refused():
    _, neu = _counts()
    v = neu.values.astype(np.float16)
    v[0, 0, 0] = np.inf
    with pytest.raises(nx.LayoutError, match="1 infinite values"):
        nx.split_half_reliability(neu.copy(data=v))


# --- masked arrays: the mask is a missing value (NaN), never the value under it
def _masked_trial() -> tuple[np.ma.MaskedArray, np.ndarray, list[str]]:
    _, neu = _counts()
    R = neu.values
    mask = np.zeros(R.shape, dtype=bool)
    mask[2, 1, 0] = mask[5, 3, 2] = True
    with_nan = R.copy()
    with_nan[mask] = np.nan
    return np.ma.array(R, mask=mask), with_nan, list(neu.stimulus_id.values)


@pytest.mark.parametrize("dtype", ["float64", "int16"])
def test_masked_responses_are_missing_trials(dtype):
    masked, with_nan, stim = _masked_trial()
    neu = nx.neural(masked.astype(dtype), stim)
    ref = nx.neural(with_nan, stim)
    assert neu.identical(ref)
    _same_numbers(nx.forward(_counts()[0], neu, reps=2), nx.forward(_counts()[0], ref, reps=2))
    assert np.ma.getmaskarray(masked).sum() == 2  # the input keeps its mask and values
    assert not np.isnan(np.ma.getdata(masked)).any()


def test_masked_array_without_masked_entries_is_its_data():
    _, neu = _counts()
    got = nx.neural(np.ma.array(neu.values.astype(np.int32)), list(neu.stimulus_id.values))
    assert got.dtype == np.float64 and np.array_equal(got.values, neu.values)


def test_masked_features_are_refused_as_missing():
    feats, _ = _counts()
    mask = np.zeros(feats.shape, dtype=bool)
    mask[3, 4] = True
    with pytest.raises(nx.LayoutError, match=r"features: holds 1 non-finite values .* \['unit4'\]"):
        nx.features(np.ma.array(feats.values, mask=mask), list(feats.stimulus_id.values))


def test_masked_rdm_entries_are_left_out_as_nan():
    feats, neu = _counts()
    A, B = nx.rdm(feats).values, nx.rdm(neu).values
    mask = np.zeros(A.shape, dtype=bool)
    mask[0, 1] = mask[1, 0] = True
    with_nan = A.copy()
    with_nan[mask] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)  # the pair left out
        got = float(nx.compare_rdms(np.ma.array(A, mask=mask), B))
        want = float(nx.compare_rdms(with_nan, B))
    assert got == want != float(nx.compare_rdms(A, B))


def test_masked_shape_network_is_refused():
    feats, neu = _counts()
    X = feats.values
    mask = np.zeros(X.shape, dtype=bool)
    mask[0, 0] = True
    with pytest.raises(nx.LayoutError, match="LinearMetric: X holds 1 NaN or infinite values"):
        nx.LinearMetric().fit(np.ma.array(X, mask=mask), neu.mean("repeat").values)


# --- the Gram kernel's in-place accumulation (syrk) on a big-endian array
@pytest.mark.parametrize("dtype", [">f8", ">f4"])
def test_centred_gram_of_big_endian_values_keeps_their_precision(monkeypatch, dtype):
    from neuroxr.backend import _numpy

    monkeypatch.setattr(_numpy, "NUMPY_GRAM_BYTES", 0)  # SciPy's syrk path at any size
    X = np.random.default_rng(0).normal(size=(40, 600))
    want = nx.backend.centred_gram(X.astype(dtype[1:]))
    got = nx.backend.centred_gram(X.astype(dtype))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# --- NumPy's variable-width strings (StringDType, numpy >= 2) as ids
needs_stringdtype = pytest.mark.skipif(not hasattr(np.dtypes, "StringDType"), reason="NumPy without StringDType")


def _string_dtype(values) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=np.dtypes.StringDType())


@needs_stringdtype
@pytest.mark.parametrize("analysis", ["forward", "rdm", "pairwise_distances", "compare_rdms", "align"])
def test_stringdtype_ids_of_a_dataarray_are_refused_in_one_line(analysis):
    feats, neu = _counts()
    f = feats.assign_coords(stimulus_id=("stimulus", _string_dtype(feats.stimulus_id.values)))
    r = nx.rdm(feats)
    calls = {
        "forward": lambda: nx.forward(f, neu, reps=2),
        "rdm": lambda: nx.rdm(f),
        "pairwise_distances": lambda: nx.pairwise_distances([f, feats]),
        "compare_rdms": lambda: nx.compare_rdms(r.assign_coords(stimulus_id=("stimulus", _string_dtype(r.stimulus_id.values)),
                                                                stimulus_id_=("stimulus_", _string_dtype(r.stimulus_id_.values))), r),
        "align": lambda: nx.align(f, neu),
    }
    with pytest.raises(nx.LayoutError, match=r"coord 'stimulus_id' holds NumPy StringDType strings .*\.astype\(object\)\)\)\.$"):
        calls[analysis]()
    fixed = f.assign_coords(stimulus_id=("stimulus", f["stimulus_id"].values.astype(object)))  # the conversion the message gives
    assert float(nx.cka(fixed, feats)) == float(nx.cka(feats, feats))


@needs_stringdtype
def test_stringdtype_ids_given_to_the_builders_are_strings():
    feats, neu = _counts()
    stim = _string_dtype(feats.stimulus_id.values)
    f = nx.features(feats.values, stim, _string_dtype(feats.unit_id.values))
    n = nx.neural(neu.values, stim, _string_dtype(neu.neuroid_id.values))
    assert f.stimulus_id.dtype.kind == n.neuroid_id.dtype.kind == "U"
    assert np.array_equal(f.stimulus_id.values, feats.stimulus_id.values)
    _same_numbers(nx.forward(f, n, reps=2), nx.forward(feats, neu, reps=2))
