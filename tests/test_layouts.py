"""Constructors, validators and alignment of the labeled layouts (neuroxr.layouts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroxr.alignment import align, canonical_order
from neuroxr.layouts import (
    LayoutError,
    features,
    neural,
    validate_features,
    validate_neural,
    validate_scores,
)

RNG_SEED = 0


def _neural(n=6, k=4, t=3, seed=RNG_SEED, **kw):
    rng = np.random.default_rng(seed)
    return neural(
        rng.normal(size=(n, k, t)),
        [f"s{i}" for i in range(n)],
        [f"n{j}" for j in range(k)],
        **kw,
    )


def _features(n=6, p=5, seed=RNG_SEED, **kw):
    rng = np.random.default_rng(seed)
    return features(rng.normal(size=(n, p)), [f"s{i}" for i in range(n)], **kw)


def _scores(k=4, reps=3, target="neuroid"):
    rng = np.random.default_rng(RNG_SEED)
    return xr.Dataset(
        {"ev": ((target, "rep"), rng.uniform(0, 100, size=(k, reps)))},
        coords={f"{target}_id": (target, [f"{target}{j}" for j in range(k)]), "rep": np.arange(reps)},
    )


# ---------------------------------------------------------------------------- constructors
def test_neural_builds_labeled_array_with_extra_coords():
    da = _neural(animal=["a", "a", "b", "b"], region="IT", attrs={"source": "test"})
    assert da.dims == ("stimulus", "neuroid", "repeat")
    assert da.shape == (6, 4, 3)
    assert list(da.stimulus_id.values) == [f"s{i}" for i in range(6)]
    assert list(da.animal.values) == ["a", "a", "b", "b"]
    assert list(da.region.values) == ["IT"] * 4  # a scalar is repeated per neuroid
    assert da.attrs["source"] == "test"


def test_neural_2d_is_trial_averaged_and_ints_become_float():
    da = neural(np.arange(6).reshape(3, 2))
    assert da.dims == ("stimulus", "neuroid", "repeat")
    assert da.sizes["repeat"] == 1
    assert da.dtype == np.float64
    assert list(da.neuroid_id.values) == ["neuroid0", "neuroid1"]
    assert list(da.stimulus_id.values) == ["stimulus0", "stimulus1", "stimulus2"]


def test_neural_accepts_dataarray_without_repeat():
    raw = xr.DataArray(np.ones((3, 2)), dims=("stimulus", "neuroid"))
    da = neural(raw, ["a", "b", "c"], ["x", "y"])
    assert da.dims == ("stimulus", "neuroid", "repeat")
    assert list(da.stimulus_id.values) == ["a", "b", "c"]


def test_neural_ids_are_strings_even_when_given_ints():
    da = neural(np.zeros((2, 2, 1)), [10, 11], [1, 2])
    assert list(da.stimulus_id.values) == ["10", "11"]
    assert da.stimulus_id.dtype.kind == "U"


def test_features_from_dataframe_takes_index_and_columns():
    df = pd.DataFrame(
        np.arange(6, dtype=float).reshape(3, 2), index=["img1", "img2", "img3"], columns=["u_a", "u_b"]
    )
    da = features(df, model="net", layer="fc")
    assert da.dims == ("stimulus", "unit")
    assert list(da.stimulus_id.values) == ["img1", "img2", "img3"]
    assert list(da.unit_id.values) == ["u_a", "u_b"]
    assert da.coords["model"].item() == "net" and da.coords["layer"].item() == "fc"
    np.testing.assert_array_equal(da.values, df.to_numpy())


def test_features_from_dataframe_of_nullable_dtypes():
    """Int64 / Float64 / boolean columns (whose to_numpy() is an object array) are read as float64 with
    pd.NA as NaN: without NA they are features like any others; with NA the NaN check names the units."""
    index = ["img1", "img2", "img3"]
    full = pd.DataFrame({"u_a": pd.array([1, 2, 3], dtype="Int64"), "u_b": pd.array([0.5, 1.5, None], dtype="Float64")},
                        index=index).fillna({"u_b": 2.5})
    full["u_c"] = pd.array([True, False, True], dtype="boolean")
    da = features(full)
    assert da.dtype == np.float64
    np.testing.assert_array_equal(da.values, [[1, 0.5, 1], [2, 1.5, 0], [3, 2.5, 1]])
    assert list(da.unit_id.values) == ["u_a", "u_b", "u_c"]
    gaps = pd.DataFrame({"u_a": pd.array([1, None, 3], dtype="Int64"), "u_b": pd.array([0.5, 1.5, 2.5], dtype="Float64"),
                         "u_c": pd.array([None, 1.0, 2.0], dtype="Float64")}, index=index)
    with pytest.raises(LayoutError, match=r"2 non-finite values .* in 2 units, e.g. \['u_a', 'u_c'\]"):
        features(gaps)
    with pytest.raises(LayoutError, match="must be numeric"):  # text columns are still refused
        features(pd.DataFrame({"u_a": pd.array(["x", None, "z"], dtype="string")}, index=index))


def test_features_unit_coords():
    da = _features(p=4, channel=[0, 0, 1, 1])
    assert list(da.channel.values) == [0, 0, 1, 1]


# ---------------------------------------------------------------------------- validation errors
def test_wrong_dims_names_missing_and_unexpected():
    bad = xr.DataArray(np.zeros((2, 3)), dims=("stimulus", "cell"))
    with pytest.raises(LayoutError, match=r"missing \['unit'\], unexpected \['cell'\]"):
        validate_features(bad)


def test_wrong_dim_order_says_how_to_fix():
    da = _neural().transpose("neuroid", "stimulus", "repeat")
    with pytest.raises(LayoutError, match="wrong order.*transpose"):
        validate_neural(da)


def test_wrong_ndim_in_constructor():
    with pytest.raises(LayoutError, match="got 4 dims"):
        neural(np.zeros((2, 2, 2, 2)))
    with pytest.raises(LayoutError, match="Flatten the unit axes"):
        features(np.zeros((2, 2, 2)))


def test_missing_ids_coord():
    da = _neural().drop_vars("neuroid_id")
    with pytest.raises(LayoutError, match="missing coord 'neuroid_id' on dim 'neuroid'"):
        validate_neural(da, name="V4")


def test_error_names_the_array():
    da = _neural().drop_vars("neuroid_id")
    with pytest.raises(LayoutError, match="^V4: "):
        validate_neural(da, name="V4")


def test_duplicate_ids():
    da = _features().assign_coords(unit_id=("unit", ["u0", "u1", "u1", "u2", "u2"]))
    with pytest.raises(LayoutError, match=r"'unit_id' has 2 duplicate ids, e.g. \['u1', 'u2'\]"):
        validate_features(da)


@pytest.mark.parametrize("ids", [["u3", "u1", "u0", "u1", "u2"], ["u0", "u1", "u1", "u2", "u3"],
                                 ["u8", "u9", "u1", "u10", "u1"], ["u8", "u9", "u10", "u10", "u1"]])
@pytest.mark.parametrize("kind", [str, object])
def test_duplicate_ids_in_any_order(ids, kind):
    """Sorted, in natural order or neither, fixed-width or object strings: a repeated id is found
    (and distinct ids pass)."""
    da = _features().assign_coords(unit_id=("unit", np.array(ids, dtype=kind)))
    dup = [i for i in ids if ids.count(i) > 1][0]
    with pytest.raises(LayoutError, match=rf"'unit_id' has 1 duplicate ids, e.g. \['{dup}'\]"):
        validate_features(da)
    natural = sorted(set(ids), key=lambda i: (len(i), i))
    for distinct in (sorted(set(ids)) + ["u99"], ["u99"] + sorted(set(ids))[::-1], natural + ["u99"]):
        validate_features(_features().assign_coords(unit_id=("unit", np.array(distinct, dtype=kind))))


@pytest.mark.parametrize("kind", [str, object])
def test_empty_ids_are_refused_where_they_enter(kind, tmp_path):
    """An empty id ('', e.g. a padded HDF5 string or a blank cell) passed as an id: it names nothing, and a store
    reads a missing text back as ''. Refused in one line naming the coord and where, by every layout check."""
    import neuroxr as nx

    neu = _neural().assign_coords(stimulus_id=("stimulus", np.array(["s0", "", "s2", "s3", "", "s5"], dtype=kind)))
    with pytest.raises(LayoutError, match=r"^neural: coord 'stimulus_id' has 2 empty ids \(''\) at positions \[1, 4\]; "
                                          r"give every stimulus a non-empty id\.$"):
        validate_neural(neu)
    with pytest.raises(LayoutError, match=r"coord 'unit_id' has 1 empty ids \(''\) at positions \[0\]"):
        validate_features(_features().assign_coords(unit_id=("unit", np.array(["", "u1", "u2", "u3", "u4"], dtype=kind))))
    with pytest.raises(LayoutError, match=r"coord 'stimulus_id' has 2 empty ids"):
        nx.open_store(tmp_path / "s.zarr").write_neural("A", neu)
    with pytest.raises(LayoutError, match=r"coord 'stimulus_id' has 1 empty ids"):
        nx.neural(np.zeros((3, 2, 2)), ["a", "", "c"])


def test_non_string_ids():
    da = _neural().assign_coords(stimulus_id=("stimulus", np.arange(6)))
    with pytest.raises(LayoutError, match="'stimulus_id' must hold strings; found dtype int64"):
        validate_neural(da)


def test_id_length_mismatch_in_constructor():
    with pytest.raises(LayoutError, match="coord 'neuroid_id' on dim 'neuroid' has shape \\(3,\\)"):
        neural(np.zeros((2, 2, 1)), ["a", "b"], ["x", "y", "z"])


def test_non_finite_features_name_the_units():
    da = _features()
    da[2, 3] = np.nan
    da[0, 1] = np.inf
    with pytest.raises(LayoutError, match=r"2 non-finite values .* in 2 units, e.g. \['unit1', 'unit3'\]"):
        validate_features(da)


def test_neural_nan_is_fine_but_inf_is_not():
    da = _neural()
    da[0, 0, 0] = np.nan
    validate_neural(da)
    da[1, 1, 1] = np.inf
    with pytest.raises(LayoutError, match="1 infinite values"):
        validate_neural(da)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_neural_inf_is_found_beside_nan_and_huge_values_are_not_inf(dtype):
    """The refusal counts the inf values whatever else the array holds: NaN trials (whose sum is
    NaN) and finite values whose sum overflows are not inf."""
    da = _neural().astype(dtype)
    da[0, 0, 0] = np.nan
    da[1, 1, 1] = np.inf
    da[2, 0, 0] = -np.inf
    with pytest.raises(LayoutError, match="2 infinite values"):
        validate_neural(da)
    big = _neural().astype(dtype)
    big[...] = np.finfo(dtype).max / 2
    validate_neural(big)  # the sum overflows; no value is inf


def test_empty_dim():
    with pytest.raises(LayoutError, match="dim 'neuroid' is empty"):
        neural(np.zeros((3, 0, 1)))


def test_non_numeric_values():
    da = _neural().astype(bool)
    with pytest.raises(LayoutError, match="must be numeric; found dtype bool"):
        validate_neural(da)


def test_optional_coords_must_lie_on_their_dim():
    da = _neural().assign_coords(animal=("stimulus", list("abcdef")))
    with pytest.raises(LayoutError, match="coord 'animal' must be on dim 'neuroid'"):
        validate_neural(da)
    feats = _features().assign_coords(model=("unit", list("abcde")))
    with pytest.raises(LayoutError, match="coord 'model' must be scalar"):
        validate_features(feats)
    with pytest.raises(LayoutError, match="scalar coord 'layer' must be a string"):
        validate_features(_features().assign_coords(layer=3))


def test_lazy_arrays_skip_value_checks():
    da = _features()
    da[0, 0] = np.nan
    validate_features(da.chunk())  # values of dask-backed arrays are checked when computed
    with pytest.raises(LayoutError, match="non-finite"):
        validate_features(da)


def test_not_a_dataarray():
    with pytest.raises(LayoutError, match="expected an xarray.DataArray, got ndarray"):
        validate_neural(np.zeros((2, 2, 2)))


# ---------------------------------------------------------------------------- scores
def test_valid_scores_both_targets():
    validate_scores(_scores())
    validate_scores(_scores(target="unit"))
    validate_scores(_scores().assign(included=lambda ds: ds.ev.isel(rep=0, drop=True) > 50.0))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda ds: ds.drop_vars("ev").assign(r=ds.ev), "missing variable 'ev'"),
        (lambda ds: ds.drop_vars("neuroid_id"), "missing coord 'neuroid_id'"),
        (lambda ds: ds.drop_vars("rep"), "missing coord 'rep'"),
        (lambda ds: ds.isel(rep=0, drop=True), "missing dim 'rep'"),
        (lambda ds: ds.assign(u=(("unit",), np.zeros(2))), "exactly one target dim"),
        (lambda ds: ds.assign(ev=ds.ev.astype(str)), "'ev' must be numeric"),
        (lambda ds: ds.assign(included=ds.ev.isel(rep=0) > 50.0).assign(included=lambda d: d.included.astype(int)),
         "'included' must be boolean"),
        (lambda ds: ds.assign(included=ds.ev > 50.0), "'included' must be boolean on dim"),
    ],
)
def test_invalid_scores(mutate, message):
    with pytest.raises(LayoutError, match=message):
        validate_scores(mutate(_scores()))


# ---------------------------------------------------------------------------- alignment
def test_align_reorders_by_stimulus_id():
    a = _neural(n=8)
    rng = np.random.default_rng(1)
    order = rng.permutation(8)
    b = _features(n=8).isel(stimulus=order)
    assert not np.array_equal(b.stimulus_id.values, a.stimulus_id.values)
    a2, b2 = align(a, b)
    np.testing.assert_array_equal(b2.stimulus_id.values, a.stimulus_id.values)
    np.testing.assert_array_equal(b2.values, _features(n=8).values)  # rows back in a's order
    assert a2 is a


def test_align_same_order_is_identity():
    a, b = _neural(), _features()
    _, b2 = align(a, b)
    assert b2 is b


def test_align_mismatched_stimuli_counts_and_examples():
    a = _neural(n=6)
    b = _features(n=6).assign_coords(stimulus_id=("stimulus", ["s0", "s1", "s2", "s3", "x1", "x2"]))
    with pytest.raises(LayoutError) as info:
        align(a, b, names=("V4", "alexnet"))
    msg = str(info.value)
    assert "2 stimulus ids of V4 are missing in alexnet, e.g. ['s4', 's5']" in msg
    assert "2 stimulus ids of alexnet are missing in V4, e.g. ['x1', 'x2']" in msg


@pytest.mark.parametrize("extra", ["a", "b", "both"])
def test_align_advice_selects_from_the_side_with_extra_stimuli_and_works(extra):
    a, b = _neural(n=8), _features(n=8)
    if extra in ("a", "both"):
        b = b.isel(stimulus=slice(0, 6))
    if extra in ("b", "both"):
        a = a.isel(stimulus=slice(1, 8))
    with pytest.raises(LayoutError) as info:
        align(a, b, names=("a", "b"))
    advice = str(info.value).split("Select the common stimuli first, e.g. ", 1)[1].rstrip(".")
    fixed = dict(a=a, b=b)
    for step in advice.split(" and "):  # each suggested selection, run as written
        fixed[step[0]] = eval(step, {}, dict(a=a, b=b))
    assert (extra in ("a", "both")) == ("a.isel" in advice) and (extra in ("b", "both")) == ("b.isel" in advice)
    a2, b2 = align(fixed["a"], fixed["b"])
    np.testing.assert_array_equal(a2.stimulus_id.values, b2.stimulus_id.values)


def test_align_requires_stimulus_dim():
    with pytest.raises(LayoutError, match="has no 'stimulus' dim"):
        align(_neural(), xr.DataArray(np.zeros(3), dims=("unit",)))


@pytest.mark.parametrize("given", [np.zeros((10, 3)), None, [1, 2, 3]])
def test_align_refuses_what_is_not_labeled_naming_the_argument(given):
    with pytest.raises(LayoutError, match=r"^V4: must be a labeled xarray DataArray .*; got ") as info:
        align(given, _features(), names=("V4", "alexnet"))
    assert "\n" not in str(info.value)


def test_canonical_order_sorts_ids_as_strings():
    """The order every direction draws its folds over: ids sorted as strings, stable on ties."""
    ids = ["b", "a10", "a2", "c", "a1"]
    order = canonical_order(ids)
    assert [ids[i] for i in order] == sorted(ids)
    np.testing.assert_array_equal(canonical_order(np.array([3, 10, 2])), [1, 2, 0])  # "10" < "2" < "3"
    np.testing.assert_array_equal(canonical_order(["b", "a", "b", "a"]), [1, 3, 0, 2])


def test_plain_arrays_and_other_tools_objects_say_how_to_convert():
    with pytest.raises(LayoutError, match=r"got ndarray; label it first with nx\.neural\("):
        validate_neural(np.zeros((2, 2, 2)))
    with pytest.raises(LayoutError, match=r"got ndarray; label it first with nx\.features\("):
        validate_features(np.zeros((2, 2)))
    with pytest.raises(LayoutError, match="got a dict object, not an array"):
        neural({"a": 1})
    tidy = pd.DataFrame({"stimulus_id": ["s0", "s1"], "neuroid_id": ["n0", "n0"], "repeat": [0, 0], "value": [1.0, 2.0]})
    with pytest.raises(LayoutError, match=r"got DataFrame; .*neuroxr\.io\.from_dataframe\(df\)"):
        validate_neural(tidy)
    assembly = xr.DataArray(np.zeros((4, 3, 1)), dims=("presentation", "neuroid", "time_bin"))
    with pytest.raises(LayoutError, match=r"Brain-Score assembly .* neuroxr\.io\.from_brainscore\(assembly\)"):
        validate_neural(assembly)


@pytest.mark.parametrize("ids", [["a", None, "c"], [1.0, np.nan, 3.0], pd.Series(["a", "b", pd.NA], dtype=object)])
def test_missing_ids_are_refused_not_turned_into_strings(ids):
    rng = np.random.default_rng(0)
    with pytest.raises(LayoutError, match=r"stimulus_id has 1 missing ids \(None/NaN\), at positions \[\d\]; give every stimulus"):
        features(rng.normal(size=(3, 2)), ids)
    with pytest.raises(LayoutError, match=r"stimulus_id has 1 missing ids"):
        neural(rng.normal(size=(3, 2)), ids)
    with pytest.raises(LayoutError, match=r"neuroid_id has 1 missing ids .*give every neuroid an id"):
        neural(rng.normal(size=(2, 3)), ["s1", "s2"], ids)
    with pytest.raises(LayoutError, match=r"unit_id has 1 missing ids"):
        features(rng.normal(size=(2, 3)), ["s1", "s2"], unit_id=ids)
    assert features(rng.normal(size=(3, 2)), [1.0, 2.0, 3.0]).stimulus_id.values.tolist() == ["1.0", "2.0", "3.0"]


def test_missing_ids_have_one_wording_in_layouts_extraction_and_converters():
    """The layouts, feature extraction and the converters refuse missing ids with one message
    (errors.missing_ids_error): the count, the first five positions and how many more."""
    from neuroxr.errors import ExtractionError
    from neuroxr.extract.stimuli import check_ids
    from neuroxr.io._trials import ids_str

    ids = [None] * 7 + ["a"]
    tail = r" has 7 missing ids \(None/NaN\), at positions \[0, 1, 2, 3, 4, \.\.\. \(2 more\)\]; "
    with pytest.raises(LayoutError, match=r"^features: stimulus_id" + tail + "give every stimulus an id"):
        features(np.zeros((8, 2)), ids, name="features")
    with pytest.raises(ExtractionError, match=r"^stimulus_ids" + tail + "give every stimulus an id"):
        check_ids(ids, 8, None)
    with pytest.raises(LayoutError, match=r"^table: column 'stimulus_id'" + tail + "give each an id"):
        ids_str(ids, name="table", what="column 'stimulus_id'")


@pytest.mark.parametrize("make, n", [(features, 2), (neural, 3)])
@pytest.mark.parametrize("missing", [float("nan"), np.nan, None, pd.NA])
def test_a_missing_id_among_strings_is_refused_not_turned_into_nan(make, n, missing):
    data = np.ones((3, 2, 2)) if make is neural else np.ones((3, 2))
    with pytest.raises(LayoutError, match=r"stimulus_id has 1 missing ids \(None/NaN\), at positions \[1\]"):
        make(data, ["a", missing, "b"])
    with pytest.raises(LayoutError, match=r"has 1 missing ids"):
        make(data, None, ["u", missing])


def test_ragged_data_time_bins_and_attrs_get_one_line_errors():
    from neuroxr.errors import ParameterError

    with pytest.raises(LayoutError, match=r"^features: got a ragged list \(rows of different lengths\)"):
        features([[1, 2], [3]])
    with pytest.raises(LayoutError, match=r"^neural: got a ragged list"):
        neural([[[1, 2], [3]]])
    for bad in ([(0, 10, 3), (1,)], "ab"):
        with pytest.raises(LayoutError, match=r"^neural: time_bins: expected one \(start, end\) pair in ms per time bin \(2\)"):
            neural(np.ones((5, 3, 2, 2)), time_bins=bad)
    with pytest.raises(LayoutError, match=r"^neural: time_bins needs one \(start, end\) pair .*; got shape \(2, 3\)\.$"):
        neural(np.ones((5, 3, 2, 2)), time_bins=[(0, 1, 2), (3, 4, 5)])
    for make, data in ((neural, np.ones((3, 2, 2))), (features, np.ones((3, 2)))):
        with pytest.raises(ParameterError, match=r"attrs must be a mapping .*; got list \[1, 2\]"):
            make(data, attrs=[1, 2])
        with pytest.raises(ParameterError, match=r"attrs must be a mapping"):
            make(xr.DataArray(data, dims=("stimulus", "neuroid", "repeat")[: data.ndim] if make is neural
                              else ("stimulus", "unit")), attrs="x")
        assert make(data, attrs={"session": 1}).attrs["session"] == 1


def test_a_dims_error_advises_what_fits_the_extra_or_missing_dim():
    """Features with a time_bin dim are told to select a bin (they were told to add a repeat dim, the
    trial-averaged neural fix); the repeat advice is given where repeat is what is missing."""
    f = features(np.random.default_rng(RNG_SEED).normal(size=(6, 4)), [f"s{i}" for i in range(6)])
    with pytest.raises(LayoutError, match=r"unexpected \['time_bin'\]\); features have no time bins: select one, "
                                          r"e\.g\. da\.isel\(time_bin=0\)\.$") as exc:
        validate_features(f.expand_dims(time_bin=2, axis=-1))
    assert "repeat" not in str(exc.value)
    with pytest.raises(LayoutError, match=r"e\.g\. da\.rename\(\.\.\.\)\.$"):
        validate_features(f.rename(unit="u"))
    with pytest.raises(LayoutError, match=r"da\.expand_dims\('repeat', axis=-1\) for trial-averaged data\.$"):
        validate_neural(_neural().isel(repeat=0))


def test_an_extra_dim_is_told_how_to_drop_or_select_it():
    """Dims that are the layout's plus extra ones were told to 'rename or add dims'; one of size 1 is told
    to squeeze it, a longer one to select an entry (or, on neural data, to name it 'time_bin'), and the
    advice given works."""
    da = _neural()
    with pytest.raises(LayoutError, match=r"drop the extra dims of size 1, e\.g\. da\.squeeze\(\['time'\]\)\.$") as one:
        validate_neural(da.expand_dims("time"))
    assert "rename or add" not in str(one.value)
    validate_neural(da.expand_dims("time").squeeze(["time"]))
    with pytest.raises(LayoutError, match=r"da\.isel\(time=0\), or name a time dim 'time_bin' .*rename\(time='time_bin'\)"):
        validate_neural(da.expand_dims(time=3))
    validate_neural(da.expand_dims(time=3).isel(time=0))
    feats = features(np.ones((6, 2)) * np.arange(2), [f"s{i}" for i in range(6)])
    with pytest.raises(LayoutError, match=r"select one entry of the extra dims, e\.g\. da\.isel\(layer=0\)\.$"):
        validate_features(feats.expand_dims(layer=2))


def test_ids_held_as_the_dims_index_coord_are_told_how_to_copy():
    """Stimulus ids given as the index coord 'stimulus' were told to add ``ids``; the advice names that coord's
    values and, followed, gives the array the layout reads."""
    da = _neural()
    bare = xr.DataArray(da.values, dims=da.dims, coords={"stimulus": da.stimulus_id.values,
                                                         "neuroid_id": ("neuroid", da.neuroid_id.values)})
    with pytest.raises(LayoutError, match=r"da\.assign_coords\(stimulus_id=\('stimulus', da\['stimulus'\]\.values\)\)"):
        validate_neural(bare)
    fixed = validate_neural(bare.assign_coords(stimulus_id=("stimulus", bare["stimulus"].values)))
    assert list(fixed.stimulus_id.values) == list(da.stimulus_id.values)
