"""Converters, relative representations and identities: defects found by an audit, each pinned by a test."""

from __future__ import annotations

import hashlib
import json
import operator
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neuroxr
from neuroxr.errors import LayoutError
from neuroxr.io import from_dataframe, to_dataframe


def _neural(n_stim=3, n_neuroid=2, n_rep=2, seed=0):
    R = np.random.default_rng(seed).normal(size=(n_stim, n_neuroid, n_rep))
    return neuroxr.neural(R, [f"s{i}" for i in range(n_stim)], [f"n{j}" for j in range(n_neuroid)])


@pytest.mark.parametrize("bad, match", [
    (lambda da: xr.DataArray(da.values, dims=da.dims), "missing coord 'stimulus_id'"),
    (lambda da: da.assign_coords(stimulus_id=("stimulus", ["s0", "s0", "s2"])), "duplicate ids"),
    (lambda da: da.assign_coords(neuroid_id=("neuroid", ["n0", "n0"])), "duplicate ids"),
    (lambda da: da.assign_coords(stimulus_id=("stimulus", [1, 2, 3])), "must hold strings"),
])
def test_to_dataframe_refuses_a_neural_array_whose_ids_a_table_cannot_pair(bad, match):
    """A neural array without ids raised a bare KeyError; one with duplicate ids gave a table whose rows
    of two stimuli (or neuroids) share an id, pooled by any groupby: a one-line error instead."""
    with pytest.raises(LayoutError, match=match) as info:
        to_dataframe(bad(_neural()))
    assert "\n" not in str(info.value) and str(info.value).startswith("obj: ")


def test_to_dataframe_of_a_transposed_array_is_still_read_back():
    neural = _neural()
    back = from_dataframe(to_dataframe(neural.transpose("repeat", "neuroid", "stimulus")))
    xr.testing.assert_equal(back, neural.assign_coords(repeat=[0, 1]))


@pytest.mark.parametrize("coord, dims", [("session", ("repeat",)), ("depth", ("neuroid", "repeat"))])
def test_to_dataframe_names_the_coords_a_table_has_no_place_for(coord, dims):
    """A per-repeat coord (or one over several dims) was dropped from the table without a word."""
    neural = _neural()
    neural = neural.assign_coords({coord: (dims, np.zeros([neural.sizes[d] for d in dims]))})
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=f"coords {{'{coord}'") as said:
        df = to_dataframe(neural)
    assert coord not in df.columns and len(said) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coords a table keeps say nothing
        to_dataframe(neural.drop_vars(coord).assign_coords(category=("stimulus", list("abc")), session="x"))


def test_relative_representations_do_not_change_when_stimuli_units_anchors_or_neuroids_are_permuted():
    """Permuting the units (or stimuli, anchors, neuroids) changed relative features and anchor weights in
    their last bits: BLAS sums in the order and shape it is given. Sums run in canonical id order now."""
    from neuroxr.geometry import anchor_weights, relative_features

    rng = np.random.default_rng(0)
    n, p, k = 37, 513, 9
    feats = neuroxr.features(rng.normal(size=(n, p)), [f"s{i:02d}" for i in range(n)], [f"u{j:03d}" for j in range(p)])
    anchors = [f"s{i:02d}" for i in (30, 3, 17, 8, 21, 11, 5)]
    su, ss, sa = rng.permutation(p), rng.permutation(n), rng.permutation(len(anchors))
    for similarity in ("cosine", "dot"):
        ref = relative_features(feats, anchors, similarity)
        shuffled = relative_features(feats.isel(unit=su, stimulus=ss), [anchors[i] for i in sa], similarity)
        back = shuffled.isel(stimulus=np.argsort(ss), unit=np.argsort(sa))
        np.testing.assert_array_equal(back.values, ref.values)
        assert back.unit_id.values.tolist() == anchors
    rel = relative_features(feats, anchors)
    resp = neuroxr.neural(rng.normal(size=(n, k, 2)), [f"s{i:02d}" for i in range(n)], [f"n{j}" for j in range(k)])
    ref = anchor_weights(rel, resp)
    sr, sn = rng.permutation(len(anchors)), rng.permutation(k)
    other = anchor_weights(rel.isel(unit=sr), resp.isel(neuroid=sn))
    assert other.anchor_id.values.tolist() == rel.unit_id.values[sr].tolist()  # the inputs' orders
    assert other.neuroid_id.values.tolist() == resp.neuroid_id.values[sn].tolist()
    np.testing.assert_array_equal(other.isel(anchor=np.argsort(sr), neuroid=np.argsort(sn)).values, ref.values)


def test_an_object_array_of_arrays_is_identified_by_every_value():
    """A ragged object array was hashed by its repr, which elides the middle of a nested array past
    1000 items: two such arrays differing there shared one identity (one provenance key)."""
    from neuroxr.identity import identified, identity

    def ragged(x):
        out = np.empty(2, dtype=object)
        out[0], out[1] = np.zeros(2000), np.zeros(1999)
        out[0][1000] = x
        return out

    assert identity(ragged(0.0)) == identity(ragged(0.0))
    assert identity(ragged(0.0)) != identity(ragged(5.0))
    plain = np.array(["a", 1, None, 2.5], dtype=object)  # plain items keep the identity they had
    assert identity(plain)["array_sha256"] == hashlib.sha256(repr(plain.tolist()).encode()).hexdigest()[:16]

    class Opaque:
        __slots__ = ()

        def __repr__(self):
            return "same"

    compiled = np.array([operator.itemgetter(0), 1], dtype=object)
    assert not identified(identity(compiled))  # an unidentified item leaves the array unidentified
    assert identified(identity(np.array([Opaque(), 1], dtype=object)))


def test_a_categorical_is_identified_by_its_categories_order():
    """Two categoricals of the same values with their categories in another order (other codes, other
    dummy columns) shared one identity: pandas hashes a categorical's values, not its codes."""
    from neuroxr.identity import identity

    def cat(categories, ordered=False):
        return pd.Series(pd.Categorical(["a", "b", "a"], categories=categories, ordered=ordered))

    assert identity(cat(["a", "b"])) == identity(cat(["a", "b"]))
    assert identity(cat(["a", "b"])) != identity(cat(["b", "a"]))
    assert identity(cat(["a", "b"])) != identity(cat(["a", "b"], ordered=True))
    assert identity(cat(["a", "b"])) != identity(cat(["a", "b", "c"]))
    assert identity(pd.DataFrame({"c": cat(["a", "b"])})) != identity(pd.DataFrame({"c": cat(["b", "a"])}))
    assert identity(pd.Series([1.0, 2.0]))["dtypes"] == ["float64"]  # other dtypes keep their identity


def test_dict_keys_of_other_types_are_other_keys():
    """{1: a} and {"1": a} shared one identity (keys were taken as text), and {1: a, "1": b} lost a
    value: a function reading d[1] computes other numbers on each."""
    from neuroxr.identity import identity

    assert identity({1: 0.5}) != identity({"1": 0.5})
    assert identity({1: 0.5, "1": 2.0}) != identity({1: 0.5, "1": 3.0})
    assert identity({1: 0.5, 2: 1.0}) == identity({2: 1.0, 1: 0.5})  # the order of items is no part of it
    assert json.dumps(identity({True: 1})) != json.dumps(identity({1: 1}))  # as keys hash them
    assert identity({"a": 1, "b": [1, 2]}) == {"a": 1, "b": [1, 2]}  # string keys: as before


@pytest.mark.parametrize("a, b", [([1, "x"], ["1", "x"]), ([1.5, None], ["1.5", None]), ([True, "x"], ["True", "x"]),
                                  ([b"x", "x"], ["x", "x"])])
def test_pandas_objects_with_mixed_items_are_identified_by_their_items(a, b):
    """pandas hashes an object column of mixed items as their text, so [1.5, None] and ["1.5", None]
    (a column, a Series, an index or a DataFrame's column labels) shared one identity."""
    from neuroxr.identity import identity

    assert identity(pd.Series(a, dtype=object)) != identity(pd.Series(b, dtype=object))
    assert identity(pd.DataFrame({"c": pd.Series(a, dtype=object)})) != identity(pd.DataFrame({"c": pd.Series(b, dtype=object)}))
    assert identity(pd.Index(a, dtype=object)) != identity(pd.Index(b, dtype=object))
    assert identity(pd.Series([0, 1], index=pd.Index(a, dtype=object))) != identity(pd.Series([0, 1], index=pd.Index(b, dtype=object)))
    assert identity(pd.DataFrame([[0, 1]], columns=pd.Index(a, dtype=object))) != identity(pd.DataFrame([[0, 1]], columns=pd.Index(b, dtype=object)))
    assert identity(pd.Series(a, dtype=object)) == identity(pd.Series(list(a), dtype=object))
    assert "objects" not in identity(pd.DataFrame({"c": ["x", None]}, dtype=object))  # text columns: as before


def test_empty_arrays_of_other_shapes_have_other_identities():
    """np.zeros((0, 2)) and np.zeros((0, 3)) were both {"array": []}: one identity for other shapes."""
    from neuroxr.identity import identity

    assert identity(np.zeros((0, 2))) != identity(np.zeros((0, 3)))
    assert identity(np.zeros((0, 2))) == identity(np.zeros((0, 2)))
    assert identity(np.zeros(2)) == {"array": [0.0, 0.0], "dtype": "float64"}  # non-empty: as before


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_onsets_or_spike_times_as_durations_or_dates_are_refused_not_read_in_their_own_unit(unit):
    """Onsets given as timedelta64 were cast in their own unit (1 s in ms read as 1000 s), a table's
    as nanoseconds, and dates as counts since 1970: every count silently 0 (or another window's)."""
    from neuroxr.io import from_nwb, spike_counts

    spikes = [np.arange(0.0, 5.0, 0.1)]
    onsets = (np.array([1, 2]) * (1 if unit == "s" else 1000)).astype(f"timedelta64[{unit}]")  # 1 s and 2 s
    for starts, arg in ((onsets, "starts"), (onsets.astype("datetime64[s]"), "starts")):
        with pytest.raises(LayoutError, match=f"^{arg}: .*timedelta|^{arg}: .*datetime"):
            spike_counts(spikes, starts, (0.0, 0.5))
    with pytest.raises(LayoutError, match=r"^spike_times\[0\]: .*timedelta"):
        spike_counts([onsets], np.array([0.0]), (0.0, 0.5))

    class Units:  # the least of an NWB file from_nwb reads
        def __len__(self):
            return 1

        def to_dataframe(self, index=True):
            return pd.DataFrame({"spike_times": [spikes[0]]})

    class File:
        units = Units()

    table = pd.DataFrame({"start_time": pd.to_timedelta(onsets), "stimulus_id": ["a", "b"]})
    with pytest.raises(LayoutError, match=r"^intervals: column 'start_time' holds timedelta") as info:
        from_nwb(File(), (0.0, 0.5), intervals=table)
    assert "\n" not in str(info.value)
    seconds = table.assign(start_time=table["start_time"].dt.total_seconds())
    assert from_nwb(File(), (0.0, 0.5), intervals=seconds).values.ravel().tolist() == [5.0, 5.0]


@pytest.mark.parametrize("values", [pd.to_timedelta([1, 2], unit="s"), pd.to_datetime(["2020-01-01", "2020-01-02"])])
def test_a_table_of_durations_or_dates_is_refused_not_read_as_counts_of_its_unit(values):
    """A value column of durations became counts of its own unit (1 s read as 1e6, microseconds)."""
    df = pd.DataFrame({"stimulus_id": ["a", "b"], "neuroid_id": ["x", "x"], "value": values})
    with pytest.raises(LayoutError, match=r"^df: column 'value' holds (timedelta|datetime)") as info:
        from_dataframe(df)
    assert "\n" not in str(info.value)
