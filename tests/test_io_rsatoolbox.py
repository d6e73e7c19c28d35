"""rsatoolbox Dataset / RDMs <-> neuroxr (neuroxr.io.rsa), checked against rsatoolbox and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist, squareform

import neuroxr
from neuroxr.errors import LayoutError
from neuroxr.io import from_rsatoolbox, from_rsatoolbox_rdms, to_rsatoolbox, to_rsatoolbox_rdms
from neuroxr.layouts import validate_neural

rsatoolbox = pytest.importorskip("rsatoolbox")


@pytest.fixture
def dataset():
    """Observations = presentations (3 runs, run 2 lacks stimulus c), channels = neuroids."""
    rng = np.random.default_rng(0)
    stim = ["a", "b", "c", "d"] * 3
    run = [0] * 4 + [1] * 4 + [2] * 4
    keep = [i for i in range(12) if not (stim[i] == "c" and run[i] == 2)]
    order = rng.permutation(keep)
    X = rng.normal(size=(len(order), 5))
    return rsatoolbox.data.Dataset(
        X,
        descriptors={"session": "s1"},
        obs_descriptors={"stimulus": [stim[i] for i in order], "run": [run[i] for i in order]},
        channel_descriptors={"name": [f"ch{j}" for j in range(5)], "region": ["V1"] * 3 + ["V2"] * 2},
    )


def _one_line_errors(cases):
    """Each ``(call, match)``: ``call()`` raises a one-line LayoutError matching ``match``."""
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def test_from_rsatoolbox_places_every_observation(dataset):
    out = from_rsatoolbox(dataset, repeat="run")
    validate_neural(out)
    assert out.sizes == {"stimulus": 4, "neuroid": 5, "repeat": 3}
    assert out.neuroid_id.values.tolist() == [f"ch{j}" for j in range(5)]
    assert out.region.values.tolist() == ["V1"] * 3 + ["V2"] * 2
    ids = out.stimulus_id.values.tolist()
    for row, (s, r) in enumerate(zip(dataset.obs_descriptors["stimulus"], dataset.obs_descriptors["run"])):
        np.testing.assert_array_equal(out.isel(stimulus=ids.index(s)).sel(repeat=r).values, dataset.measurements[row])
    assert np.isnan(out.isel(stimulus=ids.index("c")).sel(repeat=2)).all()
    assert int(np.isnan(out.values).sum()) == 5
    assert out.attrs == {"session": "s1"} and out.name == "neural"


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # inside rsatoolbox
def test_round_trip_and_rdm_matches_rsatoolbox_and_scipy(dataset):
    neural = from_rsatoolbox(dataset, repeat="run")
    back = to_rsatoolbox(neural)
    assert back.n_obs == dataset.n_obs
    xr.testing.assert_identical(from_rsatoolbox(back, repeat="repeat", neuroid="neuroid_id"), neural)
    # rsatoolbox averages the observations of each stimulus, as neuroxr's NaN-mean over repeats
    rdms = rsatoolbox.rdm.calc_rdm(back, method="correlation", descriptor="stimulus")
    da = from_rsatoolbox_rdms(rdms)
    assert da.dims == ("stimulus", "stimulus_") and da.attrs["method"] == "correlation"
    mean = neural.mean("repeat", skipna=True)
    ref = squareform(pdist(mean.sel(stimulus=[neural.stimulus_id.values.tolist().index(s) for s in da.stimulus_id.values]).values, "correlation"))
    np.testing.assert_allclose(da.values, ref, atol=1e-10)
    ours = neuroxr.rdm(neural, method="correlation")
    np.testing.assert_allclose(da.sel(stimulus=[da.stimulus_id.values.tolist().index(s) for s in ours.stimulus_id.values]).values
                               [:, [da.stimulus_id.values.tolist().index(s) for s in ours.stimulus_id.values]], ours.values, atol=1e-10)


def test_to_rsatoolbox_rdms_orders_and_names_stimuli():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 10))
    ids = [f"s{i}" for i in range(6)]
    D = squareform(pdist(X, "euclidean"))
    a = xr.DataArray(D, dims=("stimulus", "stimulus_"), coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
                     attrs={"method": "euclidean"})
    perm = rng.permutation(6)
    b = a.isel(stimulus=perm, stimulus_=perm[::-1])  # same RDM, other stimulus orders
    rdms = to_rsatoolbox_rdms([a, b])
    assert rdms.n_rdm == 2 and rdms.dissimilarity_measure == "euclidean (neuroxr, unnormalised)"
    assert list(rdms.pattern_descriptors["stimulus_id"]) == ids
    np.testing.assert_allclose(rdms.get_matrices()[0], D)
    np.testing.assert_allclose(rdms.get_matrices()[1], D)
    ref = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus_id": ids}), method="euclidean")
    # rsatoolbox's "euclidean" is the squared distance divided by the channel count
    np.testing.assert_allclose(ref.get_matrices()[0], D**2 / X.shape[1], atol=1e-10)
    assert "method" not in from_rsatoolbox_rdms(ref).attrs  # a different quantity than neuroxr's euclidean
    stacked = from_rsatoolbox_rdms(rdms)
    assert stacked.dims == ("rdm", "stimulus", "stimulus_") and stacked.attrs["method"] == "euclidean"
    np.testing.assert_allclose(stacked.values, np.stack([D, D]))
    np.testing.assert_allclose(to_rsatoolbox_rdms(stacked).get_matrices(), rdms.get_matrices())


def test_bad_inputs_raise_one_line_errors(dataset):
    cases = [
        (lambda: from_rsatoolbox(dataset, stimulus="image"), "descriptor 'image'"),
        (lambda: from_rsatoolbox(dataset, repeat="session"), "descriptor 'session'"),
        (lambda: from_rsatoolbox(np.zeros((3, 3))), "rsatoolbox Dataset"),
        (lambda: from_rsatoolbox(rsatoolbox.data.Dataset(np.zeros((2, 2)), obs_descriptors={"image": ["a", "b"]})), "none of"),
        (lambda: from_rsatoolbox_rdms(np.zeros((3, 3))), "RDMs"),
        (lambda: to_rsatoolbox_rdms(xr.DataArray(np.zeros((3, 3)))), "stimulus, stimulus_"),
    ]
    dup = rsatoolbox.data.Dataset(np.zeros((2, 2)), obs_descriptors={"stimulus": ["a", "a"], "run": [0, 0]})
    cases.append((lambda: from_rsatoolbox(dup, repeat="run"), "repeat a"))
    timed = neuroxr.neural(np.zeros((2, 2, 1, 3)), ["a", "b"], time_bins=[(0, 10), (10, 20), (20, 30)])
    cases.append((lambda: to_rsatoolbox(timed), r"dim 'time_bin' \(3 bins\).*isel\(time_bin=i\)"))
    _one_line_errors(cases)


def test_missing_ids_are_an_error_not_a_stimulus_called_none():
    X = np.zeros((4, 2))
    ds = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": np.array(["a", None, "b", np.nan], dtype=object)})
    chans = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "b", "c", "d"]},
                                    channel_descriptors={"name": np.array(["x", None], dtype=object)})
    rdms = rsatoolbox.rdm.RDMs(np.zeros((1, 3)), pattern_descriptors={"stimulus": np.array(["a", None, "c"], dtype=object)})
    cases = [
        (lambda: from_rsatoolbox(ds), r"'stimulus' has 2 missing ids .* trials \[1, 3\]"),
        (lambda: from_rsatoolbox(chans), r"channel descriptor 'name' has 1 missing ids .* channels \[1\]"),
        (lambda: from_rsatoolbox_rdms(rdms), r"pattern descriptor 'stimulus' has 1 missing ids"),
    ]
    _one_line_errors(cases)



def test_descriptor_lists_keep_their_missing_ids_and_types():
    """rsatoolbox keeps descriptors as the lists given; numpy read ``["a", nan]`` as the ids ``"a"``,
    ``"nan"`` and ``[1, "1"]`` as one stimulus ``"1"`` (4 repeats of it), both silently."""
    X = np.arange(8.0).reshape(4, 2)
    nan_stim = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", np.nan, "a", "b"]})
    mixed = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": [1, "1", 1, "1"]})
    nan_rep = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "a", "b", "b"], "run": ["x", np.nan, "x", "y"]})
    nan_chan = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "b", "c", "d"]},
                                       channel_descriptors={"name": ["x", np.nan]})
    rdms = rsatoolbox.rdm.RDMs(np.zeros((1, 3)), pattern_descriptors={"stimulus": ["a", np.nan, "c"]})
    cases = [
        (lambda: from_rsatoolbox(nan_stim), r"'stimulus' has 1 missing ids .* trials \[1\]"),
        (lambda: from_rsatoolbox(mixed), r"'stimulus' holds values of different types that read the same as text"),
        (lambda: from_rsatoolbox(nan_rep, repeat="run"), r"'run' holds 1 missing values \(trials at positions \[1\]\); "
                                                           r"give every trial a repeat label, or pass repeat=False to number"),
        (lambda: from_rsatoolbox(nan_chan), r"channel descriptor 'name' has 1 missing ids .* channels \[1\]"),
        (lambda: from_rsatoolbox_rdms(rdms), r"pattern descriptor 'stimulus' has 1 missing ids .* patterns \[1\]"),
    ]
    _one_line_errors(cases)
    plain = from_rsatoolbox(rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "a", "b", "b"], "run": [0, 1, 0, 1]}),
                            repeat="run")
    assert plain.stimulus_id.values.tolist() == ["a", "b"] and plain.repeat.values.tolist() == [0, 1]
    assert plain.repeat.dtype.kind == "i"
    np.testing.assert_array_equal(plain.values, X.reshape(2, 2, 2).transpose(0, 2, 1))

def _rdm(ids, scale=1.0):
    n = len(ids)
    D = scale * squareform(pdist(np.arange(n * 3, dtype=float).reshape(n, 3) ** 1.5))
    return xr.DataArray(D, dims=("stimulus", "stimulus_"), coords={"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)},
                        attrs={"method": "euclidean"})


def test_rdm_coords_travel_as_rdm_descriptors():
    ids = ["a", "b", "c", "d"]
    stack = xr.concat([_rdm(ids), _rdm(ids, 2.0)], dim="rdm").assign_coords(subject=("rdm", ["s1", "s2"]), rdm=[10, 11])
    rdms = to_rsatoolbox_rdms(stack)
    assert list(rdms.rdm_descriptors["subject"]) == ["s1", "s2"] and list(rdms.rdm_descriptors["index"]) == [10, 11]
    back = from_rsatoolbox_rdms(rdms)
    assert back.subject.values.tolist() == ["s1", "s2"] and back.rdm.values.tolist() == [10, 11]
    np.testing.assert_allclose(back.values, stack.values)
    # a list of single RDMs: their scalar coords, one value per RDM; a single RDM keeps them as scalars
    listed = to_rsatoolbox_rdms([stack.isel(rdm=1), stack.isel(rdm=0)])
    assert list(listed.rdm_descriptors["subject"]) == ["s2", "s1"]
    one = from_rsatoolbox_rdms(to_rsatoolbox_rdms(stack.isel(rdm=0)))
    assert one.dims == ("stimulus", "stimulus_") and one.subject.item() == "s1"
    with pytest.raises(LayoutError, match=r"rdm\[1\]: lacks the coords \['subject'\]") as err:
        to_rsatoolbox_rdms([stack.isel(rdm=0), _rdm(ids)])
    assert "\n" not in str(err.value)


def test_duplicate_or_mismatched_rdm_ids_are_named():
    dup = _rdm(["a", "a", "c", "d"])
    half = _rdm(["a", "b", "c", "d"]).assign_coords(stimulus_id_=("stimulus_", ["a", "b", "c", "e"]))
    cases = [
        (lambda: to_rsatoolbox_rdms(dup), r"coord 'stimulus_id' has duplicate stimulus ids, e.g. \['a'\]"),
        (lambda: to_rsatoolbox_rdms(half), r"'stimulus_id' and 'stimulus_id_' name different stimuli, e.g. \['d', 'e'\]"),
    ]
    _one_line_errors(cases)


def test_to_rsatoolbox_rdms_refuses_rdms_of_different_methods():
    f = neuroxr.features(np.random.default_rng(0).normal(size=(5, 10)), [f"s{i}" for i in range(5)])
    r_corr, r_euc = neuroxr.rdm(f, method="correlation"), neuroxr.rdm(f, method="euclidean")
    with pytest.raises(LayoutError, match=r"rdm\[1\]: its method 'euclidean \(neuroxr, unnormalised\)' differs from "
                                          r"rdm\[0\]'s 'correlation'.*convert RDMs of each method separately"):
        to_rsatoolbox_rdms([r_corr, r_euc])
    both = to_rsatoolbox_rdms([r_corr, neuroxr.rdm(f * 2, method="correlation")])
    assert both.dissimilarity_measure == "correlation" and both.n_rdm == 2


def test_to_rsatoolbox_rdms_refuses_asymmetric_rdms_and_a_non_zero_diagonal():
    f = neuroxr.features(np.random.default_rng(0).normal(size=(4, 10)), ["a", "b", "c", "d"])
    rdm = neuroxr.rdm(f, method="correlation")
    asym = rdm.copy()
    asym[1, 0] = 9.0
    with pytest.raises(LayoutError, match=r"^rdm: is not symmetric \(entry \[0, 1\] is .*, \[1, 0\] is 9.0\)"):
        to_rsatoolbox_rdms(asym)
    diag = rdm.copy()
    diag[2, 2] = 0.5
    with pytest.raises(LayoutError, match=r"^rdm: its diagonal is not zero \(entry \[2, 2\] is 0.5\)"):
        to_rsatoolbox_rdms(diag)
    stack = xr.concat([rdm, asym], dim="rdm")
    with pytest.raises(LayoutError, match=r"^rdm\[1\]: is not symmetric"):
        to_rsatoolbox_rdms(stack)
    with pytest.raises(LayoutError, match=r"^rdm\[1\]: its diagonal is not zero"):
        to_rsatoolbox_rdms([rdm, diag])
    back = from_rsatoolbox_rdms(to_rsatoolbox_rdms(rdm))  # a symmetric RDM round-trips
    np.testing.assert_allclose(back.values, rdm.values, atol=1e-12)


def test_rdms_on_a_small_scale_are_checked_against_their_own_largest_value():
    # rsatoolbox keeps the upper triangle: the symmetry and the zero diagonal are judged within 1e-6 of each
    # RDM's largest value, not of 1 (a squared distance of features on the scale of 1e-6 is about 1e-11)
    rng = np.random.default_rng(3)
    X = 1e-6 * rng.normal(size=(5, 8))
    f = neuroxr.features(X, [f"s{i}" for i in range(5)])
    rdm = neuroxr.rdm(f, method="sqeuclidean")
    np.testing.assert_allclose(rdm.values, squareform(pdist(X, "sqeuclidean")), rtol=1e-9, atol=0)
    back = from_rsatoolbox_rdms(to_rsatoolbox_rdms(rdm))  # exact: it round-trips
    np.testing.assert_allclose(back.values, rdm.values, rtol=1e-12, atol=0)
    asym = rdm.copy()
    asym[1, 0] = 3 * float(rdm[0, 1])
    diag = rdm.copy()
    diag[2, 2] = float(rdm.max()) / 2
    _one_line_errors([(lambda: to_rsatoolbox_rdms(asym), r"^rdm: is not symmetric \(entry \[0, 1\]"),
                      (lambda: to_rsatoolbox_rdms(diag), r"^rdm: its diagonal is not zero \(entry \[2, 2\]"),
                      # each RDM of a stack against its own largest value, not the stack's
                      (lambda: to_rsatoolbox_rdms(xr.concat([rdm * 1e12, asym], dim="rdm")), r"^rdm\[1\]: is not symmetric")])


def test_repeat_labels_round_trip_through_to_and_from_rsatoolbox():
    rng = np.random.default_rng(0)
    da = neuroxr.neural(rng.normal(size=(2, 3, 2)), ["s1", "s2"], ["u1", "u2", "u3"]).assign_coords(repeat=[3, 9])
    da[1, :, 0] = np.nan  # s2 was not shown in repeat 3
    back = from_rsatoolbox(to_rsatoolbox(da))
    assert back.repeat.values.tolist() == [3, 9]
    np.testing.assert_array_equal(back.transpose(*da.dims).values, da.values)
    # another descriptor name is used only when asked for; without 'repeat' repeats are numbered by order
    ds = to_rsatoolbox(da, repeat="run")
    assert from_rsatoolbox(ds, repeat="run").repeat.values.tolist() == [3, 9]
    assert from_rsatoolbox(ds).repeat.values.tolist() == [0, 1]


def test_from_rsatoolbox_keeps_numpy_scalar_descriptors():
    ds = rsatoolbox.data.Dataset(
        np.arange(8.0).reshape(4, 2),
        descriptors={"subj": 3, "session": np.int64(2), "tr": np.float32(2.5), "roi": np.str_("V1"), "ok": np.bool_(True)},
        obs_descriptors={"stimulus": np.array(["a", "b", "a", "b"])},
    )
    attrs = from_rsatoolbox(ds).attrs
    assert attrs == {"subj": 3, "session": 2, "tr": 2.5, "roi": "V1", "ok": True}
    assert all(type(attrs[k]) in (int, float, str, bool) for k in ("session", "tr", "roi", "ok"))


def test_stimulus_coords_attrs_and_name_survive_an_rsatoolbox_round_trip():
    """Stimulus coords go to observation descriptors, attrs and the name to descriptors, and come back;
    per-trial observation descriptors are left out with a warning naming them."""
    R = np.random.default_rng(4).normal(size=(3, 2, 2))
    R[2, :, 0] = np.nan
    neural = neuroxr.neural(R, ["a", "b", "c"], ["x", "y"], region="IT", name="v4", attrs={"units": "Hz", "session": 2})
    neural = neural.assign_coords(category=("stimulus", ["face", "body", "face"]), size=("stimulus", [1.0, 2.0, 3.0]),
                                  repeat=[0, 1])
    ds = to_rsatoolbox(neural)
    assert ds.descriptors == {"units": "Hz", "session": 2, "name": "v4"}
    assert ds.obs_descriptors["category"].tolist() == ["face", "face", "body", "body", "face"]
    xr.testing.assert_identical(from_rsatoolbox(ds, neuroid="neuroid_id"), neural)
    ds.obs_descriptors["run"] = np.array([0, 1, 0, 1, 1])
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"observation descriptors \['run'\] vary within a stimulus.*repeat="):
        back = from_rsatoolbox(ds, neuroid="neuroid_id")
    assert "run" not in back.coords and back.category.values.tolist() == ["face", "body", "face"]
    _one_line_errors([(lambda: to_rsatoolbox(neural.assign_coords(repeat_=("stimulus", [1, 2, 3])), repeat="repeat_"),
                       r"neural: stimulus coord 'repeat_' has the name of the 'repeat_' descriptor")])


def test_duplicate_trials_and_ids_are_named_where_they_come_from():
    X = np.arange(6.0).reshape(3, 2)
    runs = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "a", "b"], "run": ["r1", "r1", "r1"]})
    chans = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "b", "c"]}, channel_descriptors={"name": ["c", "c"]})
    _one_line_errors([
        (lambda: from_rsatoolbox(runs, repeat="run"), r"1 trials repeat a \(stimulus, run\) pair, e\.g\. \[\('a', 'r1'\)\].*repeat=False"),
        (lambda: from_rsatoolbox(chans), r"dataset: channel descriptor 'name' has 1 duplicate ids, e\.g\. \['c'\]; .*neuroid="),
    ])


def test_repeat_false_numbers_by_order_past_a_repeat_descriptor():
    X = np.arange(6.0).reshape(3, 2)
    ds = rsatoolbox.data.Dataset(X, obs_descriptors={"stimulus": ["a", "a", "b"], "repeat": [0, 0, 0]})
    for kw in ({}, {"repeat": None}):  # the repeat descriptor is used by default: the advice must lead out
        with pytest.raises(LayoutError, match=r"pass repeat=False to number repeats by presentation order"):
            from_rsatoolbox(ds, **kw)
    out = from_rsatoolbox(ds, repeat=False)
    assert out.repeat.values.tolist() == [0, 1] and out.stimulus_id.values.tolist() == ["a", "b"]
    np.testing.assert_array_equal(out.values[0], X[:2].T)
    np.testing.assert_array_equal(out.values[1], np.c_[X[2], [np.nan, np.nan]])


def test_an_rdm_descriptor_named_like_the_stimulus_ids_is_refused():
    rdms = rsatoolbox.rdm.RDMs(np.arange(6.0).reshape(2, 3) + 1, dissimilarity_measure="correlation",
                               pattern_descriptors={"stimulus_id": ["a", "b", "c"]}, rdm_descriptors={"stimulus_id": ["x", "y"]})
    _one_line_errors([
        (lambda: from_rsatoolbox_rdms(rdms), r"rdms: rdm descriptors \['stimulus_id'\] have the names .* rename them"),
        (lambda: from_rsatoolbox_rdms(rdms[0]), r"rdm descriptors \['stimulus_id'\]"),
    ])


def test_scalar_coords_become_dataset_descriptors():
    """A neural array's scalar coords are dataset-level descriptors (read back as attrs); one
    that differs from an attr of its name is refused."""
    rng = np.random.default_rng(0)
    da = neuroxr.neural(rng.normal(size=(4, 3, 2)), [f"s{i}" for i in range(4)]).assign_coords(session="d1", day=3)
    ds = to_rsatoolbox(da)
    assert ds.descriptors["session"] == "d1" and ds.descriptors["day"] == 3
    assert from_rsatoolbox(ds).attrs == {"session": "d1", "day": 3}
    with pytest.raises(LayoutError, match="scalar coord 'session'"):
        to_rsatoolbox(da.assign_attrs(session="d2"))


def test_missing_descriptor_values_stay_missing():
    """NaN / None among string descriptors (observation, channel) stay missing, never 'nan'."""
    ds = rsatoolbox.data.Dataset(np.zeros((3, 2)), obs_descriptors={"stimulus": ["a", "b", "c"], "category": ["face", np.nan, "body"]},
                                 channel_descriptors={"area": ["V4", np.nan]})
    da = from_rsatoolbox(ds)
    cat, area = list(da["category"].values), list(da["area"].values)
    assert cat[0] == "face" and cat[2] == "body" and _missing(cat[1]) and area[0] == "V4" and _missing(area[1])
    assert "nan" not in [str(v) for v in cat if isinstance(v, str)] + [v for v in area if isinstance(v, str)]


def _missing(v):
    return v is None or (isinstance(v, float) and np.isnan(v))


@pytest.mark.parametrize("dim, values", [("stimulus", [10, 20]), ("neuroid", [7, 8, 9])])
def test_to_rsatoolbox_refuses_a_coord_named_as_its_index_descriptor(dim, values):
    """Written as rsatoolbox's own 'index' descriptor and dropped on the way back, without a word."""
    pytest.importorskip("rsatoolbox")
    x = neuroxr.neural(np.arange(12.0).reshape(2, 3, 2), ["s0", "s1"], ["n0", "n1", "n2"]).assign_coords(index=(dim, values))
    with pytest.raises(LayoutError, match=r"^neural: coord 'index' has the name of rsatoolbox's own 'index' descriptor"):
        to_rsatoolbox(x)


@pytest.mark.parametrize("descriptor", ["stimulus", "conds", "condition"])
def test_geometry_reads_an_rsatoolbox_rdms_stimuli_as_the_converter_does(descriptor):
    """rsatoolbox's calc_rdm sorts the patterns: an RDM labeled by any descriptor that names the
    stimulus is paired with neuroxr's RDM by id, directly as through from_rsatoolbox_rdms."""
    rng = np.random.default_rng(0)
    ids = ["s3", "s1", "s4", "s2", "s0"]
    N = neuroxr.neural(rng.normal(size=(5, 8, 2)), ids, [f"n{i}" for i in range(8)])
    ds = to_rsatoolbox(N)
    ds = rsatoolbox.data.Dataset(ds.measurements, channel_descriptors=ds.channel_descriptors,
                                 obs_descriptors={descriptor: ds.obs_descriptors["stimulus"]})
    R = rsatoolbox.rdm.calc_rdm(ds, method="correlation", descriptor=descriptor)
    ours = neuroxr.rdm(N, method="correlation")
    assert float(neuroxr.compare_rdms(ours, R, method="pearson")) == pytest.approx(1.0, abs=1e-12)
    assert float(neuroxr.compare_rdms(ours, from_rsatoolbox_rdms(R), method="pearson")) == pytest.approx(1.0, abs=1e-12)


def test_numeric_descriptors_survive_rsatoolboxs_hdf5_files(tmp_path):
    """rsatoolbox's ``load_dataset`` reads numeric descriptors from HDF5 as 0-d arrays, which were dropped
    from the attrs without a word; a descriptor that cannot be an attr is left out with a warning naming it."""
    neural = neuroxr.neural(np.random.default_rng(0).normal(size=(4, 3, 2)), [f"s{i}" for i in range(4)], name="v4",
                            attrs={"session": "a", "fs": 1000, "window_ms": 150.5, "ok": True})
    path = str(tmp_path / "d.hdf5")
    to_rsatoolbox(neural).save(path, file_type="hdf5")
    loaded = rsatoolbox.data.load_dataset(path, file_type="hdf5")
    assert isinstance(loaded.descriptors["fs"], np.ndarray)  # what the fix unwraps
    back = from_rsatoolbox(loaded, neuroid="neuroid_id")
    assert back.attrs == {"session": "a", "fs": 1000, "window_ms": 150.5, "ok": True} and back.name == "v4"
    assert [type(back.attrs[k]) for k in ("fs", "window_ms", "ok")] == [int, float, bool]
    loaded.descriptors["picks"] = [1, 2]
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^dataset: descriptors \['picks'\] hold no string or number"):
        assert "picks" not in from_rsatoolbox(loaded).attrs


def test_descriptors_named_like_a_dim_are_its_coord_and_group_nothing():
    # an observation descriptor 'stimulus' beside 'stimulus_id' took the place of the ids the other descriptors were
    # grouped by (they came back all NaN) and was dropped, as was a channel descriptor 'neuroid', without a word
    rng = np.random.default_rng(1)
    stim = ["a", "b", "c"] * 2
    order = rng.permutation(6)
    X = rng.normal(size=(6, 3))
    files = {"a": "fa.png", "b": "fb.png", "c": "fc.png"}
    cat = {"a": "car", "b": "dog", "c": "cat"}
    ds = rsatoolbox.data.Dataset(
        X[order], obs_descriptors={"stimulus_id": [stim[i] for i in order], "stimulus": [files[stim[i]] for i in order],
                                   "category": [cat[stim[i]] for i in order]},
        channel_descriptors={"neuroid_id": ["n0", "n1", "n2"], "neuroid": ["e0", "e1", "e2"]})
    out = from_rsatoolbox(ds)
    ids = out.stimulus_id.values.tolist()
    assert out["category"].values.tolist() == [cat[s] for s in ids]
    assert out["stimulus"].values.tolist() == [files[s] for s in ids]
    assert out["neuroid"].values.tolist() == ["e0", "e1", "e2"]
    for s in ids:  # every observation in its place
        rows = X[[i for i in order if stim[i] == s]]  # repeats in observation order
        np.testing.assert_array_equal(out.sel(stimulus=files[s]).transpose("repeat", "neuroid").values, rows)
    # and back: the dims' coords travel as descriptors of their names
    back = from_rsatoolbox(to_rsatoolbox(out, stimulus="stimulus_id"))
    xr.testing.assert_identical(back.drop_attrs(), out.drop_attrs())


def test_descriptors_named_like_another_dim_or_the_ids_are_refused():
    X = np.arange(12.0).reshape(4, 3)
    obs = {"stimulus": ["a", "b", "a", "b"], "run": [0, 0, 1, 1]}
    chans = {"name": ["n0", "n1", "n2"]}
    cases = [  # they were dropped without a word
        ({**obs, "repeat": ["x", "y", "x", "y"]}, chans, "repeat", "obs_descriptors", "run"),
        ({**obs, "neuroid_id": ["x", "y", "x", "y"]}, chans, "neuroid_id", "obs_descriptors", "run"),
        (obs, {**chans, "repeat": [1, 2, 3]}, "repeat", "channel_descriptors", "run"),
        (obs, {**chans, "stimulus": [1, 2, 3]}, "stimulus", "channel_descriptors", "run"),
        (obs, {**chans, "neuroid_id": ["x", "y", "z"]}, "neuroid_id", "channel_descriptors", "run"),
    ]
    for o, c, key, where, run in cases:
        ds = rsatoolbox.data.Dataset(X, obs_descriptors=o, channel_descriptors=c)
        kw = {"neuroid": "name"} if key == "neuroid_id" and where == "channel_descriptors" else {}
        with pytest.raises(LayoutError, match=rf"dataset: \w+ descriptor '{key}' is named like the array's own .*"
                           rf"dataset.{where}\['{key}_2'\] = dataset.{where}.pop\('{key}'\)") as err:
            from_rsatoolbox(ds, repeat=run, **kw)
        assert "\n" not in str(err.value)


def test_rdm_stimulus_coords_travel_as_pattern_descriptors_both_ways():
    """to_rsatoolbox_rdms dropped an RDM's stimulus coords (the 92 images' categories) without a word; they are
    pattern descriptors in the first RDM's stimulus order, and from_rsatoolbox_rdms brings them back on both dims."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(6)]
    f = neuroxr.features(rng.normal(size=(6, 4)), stimulus_id=ids).assign_coords(category=("stimulus", list("aabbcc")))
    r = neuroxr.rdm(f)
    perm = [3, 1, 5, 0, 2, 4]
    rr = to_rsatoolbox_rdms([r, r.isel(stimulus=perm, stimulus_=perm)])
    assert list(rr.pattern_descriptors["category"]) == list("aabbcc")
    sub = rr.subset_pattern("category", "b")  # rsatoolbox's own selection by the descriptor
    np.testing.assert_allclose(sub.get_matrices()[1], r.isel(stimulus=[2, 3], stimulus_=[2, 3]).values)
    back = from_rsatoolbox_rdms(rr)
    assert list(back["category"].values) == list("aabbcc") and list(back["category_"].values) == list("aabbcc")
    other = r.assign_coords(category=("stimulus", list("xxbbcc")))
    with pytest.raises(LayoutError, match=r"^rdm\[1\]: its stimulus coord 'category' differs from rdm\[0\]'s"):
        to_rsatoolbox_rdms([r, other])
    assert isinstance(rr, rsatoolbox.rdm.RDMs)


def test_an_rdm_stack_with_its_dims_in_another_order_names_the_transpose():
    """xarray's stack puts the new dim last, (stimulus, stimulus_, rdm): the error names the transpose
    that makes it a stack rsatoolbox takes (it gave none), and that transpose converts it."""
    ids = ["a", "b", "c", "d"]
    stack = xr.concat([_rdm(ids), _rdm(ids, 2.0)], dim="subject").assign_coords(subject=["s1", "s2"])
    last = stack.transpose("stimulus", "stimulus_", "subject")
    _one_line_errors([
        (lambda: to_rsatoolbox_rdms(last), r"got dims \('stimulus', 'stimulus_', 'subject'\), e\.g\. "
                                           r"rdm\.transpose\('subject', 'stimulus', 'stimulus_'\)\.$"),
        (lambda: to_rsatoolbox_rdms(_rdm(ids).T), r"e\.g\. rdm\.transpose\('stimulus', 'stimulus_'\)\.$"),
    ])
    back = from_rsatoolbox_rdms(to_rsatoolbox_rdms(last.transpose("subject", "stimulus", "stimulus_")))
    np.testing.assert_allclose(back.values, stack.values)
    assert back.subject.values.tolist() == ["s1", "s2"]


def test_name_arguments_that_are_no_str_are_one_line_errors(dataset):
    """A descriptor named by a list (stimulus=["stimulus"]) was Python's bare "unhashable type"
    TypeError in every rsatoolbox converter; each is refused naming its argument."""
    neural = from_rsatoolbox(dataset, repeat="run")
    rdms = to_rsatoolbox_rdms(_rdm(["a", "b", "c", "d"]))
    _one_line_errors([
        (lambda: from_rsatoolbox(dataset, stimulus=["stimulus"]), r"^stimulus: expected one name \(a str\) or None"),
        (lambda: from_rsatoolbox(dataset, neuroid=["name"]), r"^neuroid: expected one name \(a str\) or None"),
        (lambda: from_rsatoolbox(dataset, repeat=["run"]), r"^repeat: expected the name of an observation descriptor "
                                                           r"\(a str\), None or False"),
        (lambda: to_rsatoolbox(neural, stimulus=["s"]), r"^stimulus: expected one name \(a str\); got"),
        (lambda: from_rsatoolbox_rdms(rdms, pattern=["stimulus_id"]), r"^pattern: expected one name \(a str\) or None"),
        (lambda: from_rsatoolbox_rdms(rdms, name=3), r"^name: expected one name \(a str\) or None; got 3"),
        (lambda: to_rsatoolbox_rdms(_rdm(["a", "b"]), pattern=["stimulus_id"]), r"^pattern: expected one name"),
    ])
    assert from_rsatoolbox(dataset, stimulus="stimulus", repeat=False).sizes["repeat"] == 3


def test_an_rdms_attrs_and_text_coords_survive_an_rsatoolbox_round_trip():
    """An RDM's attrs (label, source, counts of excluded entries) travel as the RDMs' descriptors and
    come back; they were dropped. Text stimulus and rdm coords come back as text, not Python objects."""
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.geometry import rdm

    rng = np.random.default_rng(3)
    neural = neuroxr.neural(rng.normal(size=(5, 6, 2)), [f"s{i}" for i in range(5)], [f"n{j}" for j in range(6)],
                            name="v4", attrs={"session": "d1"})
    neural = neural.assign_coords(category=("stimulus", ["x", "y", "x", "y", "x"]))
    r = rdm(neural)
    assert {"source", "label"} <= set(r.attrs)
    rdms = to_rsatoolbox_rdms(r)
    assert rdms.descriptors == {k: v for k, v in r.attrs.items() if k != "method"}
    back = from_rsatoolbox_rdms(rdms)
    xr.testing.assert_identical(back, r.assign_attrs(dissimilarity_measure="correlation"))
    stack = from_rsatoolbox_rdms(to_rsatoolbox_rdms(xr.concat([r, r * 2], "rdm").assign_coords(subject=("rdm", ["A", "B"]))))
    assert stack.subject.dtype.kind == "U" and stack.category.dtype.kind == "U" and stack.attrs["label"] == r.attrs["label"]
    with pytest.warns(NeuroxrWarning, match=r"rdm: attrs \['label', 'source'\] differ between the RDMs of the list"):
        listed = to_rsatoolbox_rdms([r, r.assign_attrs(label="other", source="other")])
    assert "label" not in listed.descriptors and listed.descriptors["n_excluded_stimuli"] == r.attrs["n_excluded_stimuli"]


def test_one_descriptor_named_for_stimulus_and_repeat_and_an_empty_list_are_refused():
    """``to_rsatoolbox(neural, repeat="stimulus")`` wrote the repeat labels over the stimulus ids (one
    descriptor for both), read back as the stimuli; an empty list of RDMs reached an IndexError."""
    neural = neuroxr.neural(np.random.default_rng(0).normal(size=(3, 2, 2)), ["a", "b", "c"], ["n0", "n1"])
    _one_line_errors([
        (lambda: to_rsatoolbox(neural, repeat="stimulus"), r"^repeat: names the descriptor 'stimulus', which stimulus= "
                                                            r"names too"),
        (lambda: to_rsatoolbox(neural, stimulus="run", repeat="run"), r"^repeat: names the descriptor 'run'"),
        (lambda: to_rsatoolbox_rdms([]), r"^rdm: got an empty list"),
    ])
    ds = to_rsatoolbox(neural, stimulus="image", repeat="run")
    assert list(ds.obs_descriptors) == ["image", "run"]
    xr.testing.assert_identical(from_rsatoolbox(ds, stimulus="image", repeat="run"), neural.assign_coords(repeat=[0, 1]))


def test_a_pattern_descriptor_named_like_a_stimulus_coord_is_refused():
    """``pattern="category"`` gave the ids that descriptor and dropped the RDM's category coord without a word."""
    from neuroxr.geometry import rdm

    neural = neuroxr.neural(np.random.default_rng(0).normal(size=(4, 5, 2)), list("abcd"), [f"n{i}" for i in range(5)])
    r = rdm(neural.assign_coords(category=("stimulus", ["x", "y", "x", "y"])))
    _one_line_errors([(lambda: to_rsatoolbox_rdms(r, pattern="category"),
                       r"^pattern: names 'category', a stimulus coord of rdm, whose values the stimulus ids would replace")])
    back = from_rsatoolbox_rdms(to_rsatoolbox_rdms(r, pattern="image"), pattern="image")
    assert back.stimulus_id.values.tolist() == list("abcd") and back.category.values.tolist() == ["x", "y", "x", "y"]


def test_a_temporal_dataset_is_told_how_to_convert_one_time_point():
    """A TemporalDataset's 3-D measurements were refused without a way out."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3, 4))
    td = rsatoolbox.data.TemporalDataset(X, obs_descriptors={"stimulus": ["a", "b", "c"] * 2},
                                         time_descriptors={"time": np.arange(4) * 0.01})
    with pytest.raises(LayoutError, match=r"^dataset: measurements must be \(n_obs, n_channels\); got shape \(6, 3, 4\), "
                                          r"an rsatoolbox TemporalDataset .*one time point at a time") as err:
        from_rsatoolbox(td)
    assert "\n" not in str(err.value)
    t = 2  # the way the message names
    one = from_rsatoolbox(rsatoolbox.data.Dataset(td.measurements[:, :, t], descriptors=td.descriptors,
                                                  obs_descriptors=td.obs_descriptors,
                                                  channel_descriptors=td.channel_descriptors))
    np.testing.assert_array_equal(one.values[:, :, 1], X[3:, :, t])


def test_descriptors_of_more_than_one_value_per_entry_are_named_when_left_out():
    """A channel descriptor (k, 2) (electrode positions) or an observation descriptor (n, 2) was dropped without a word."""
    rng = np.random.default_rng(0)
    pos, gaze = rng.normal(size=(3, 2)), rng.normal(size=(4, 2))
    ds = rsatoolbox.data.Dataset(rng.normal(size=(4, 3)), obs_descriptors={"stimulus": ["a", "b", "a", "b"], "gaze": gaze},
                                 channel_descriptors={"name": ["x", "y", "z"], "pos": pos})
    assert ds.channel_descriptors["pos"].shape == (3, 2)  # rsatoolbox keeps them
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^dataset: descriptors \['gaze', 'pos'\] hold more than one "
                                                           r"value per observation or channel .*left out; split them") as rec:
        out = from_rsatoolbox(ds)
    assert len(rec) == 1 and "pos" not in out.coords and "gaze" not in out.coords
    ds.channel_descriptors.update(pos_x=pos[:, 0], pos_y=pos[:, 1])  # the way the message names
    del ds.channel_descriptors["pos"], ds.obs_descriptors["gaze"]
    np.testing.assert_array_equal(from_rsatoolbox(ds)["pos_y"].values, pos[:, 1])


def test_per_trial_coords_become_observation_descriptors_and_others_are_named():
    """Coords on repeat (a session per repeat) or on stimulus x repeat (a reaction time per trial) were dropped by
    to_rsatoolbox without a word, though each observation is one trial; now each observation holds its trial's
    value (as to_brainscore's presentations do), and a coord over stimulus x neuroid is left out with one warning."""
    rng = np.random.default_rng(0)
    R = rng.normal(size=(3, 2, 2))
    R[1, :, 0] = np.nan  # a trial without data: no observation
    rt = rng.normal(size=(3, 2))
    neural = neuroxr.neural(R, ["s0", "s1", "s2"], ["n0", "n1"]).assign_coords(
        repeat=[0, 1], session=("repeat", ["d1", "d2"]), rt=(("stimulus", "repeat"), rt))
    ds = to_rsatoolbox(neural)
    trials = [(0, 0), (0, 1), (1, 1), (2, 0), (2, 1)]  # (stimulus, repeat) of each observation, stimulus-major
    assert ds.obs_descriptors["session"].tolist() == [["d1", "d2"][r] for _, r in trials]
    np.testing.assert_array_equal(ds.obs_descriptors["rt"], [rt[s, r] for s, r in trials])
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"observation descriptors \['session', 'rt'\] vary within a "
                                                           r"stimulus"):
        back = from_rsatoolbox(ds)  # per-trial fields: left out with a warning, as from_brainscore does
    xr.testing.assert_identical(back, neural.drop_vars(["session", "rt"]))
    snr = neural.assign_coords(snr=(("stimulus", "neuroid"), rng.normal(size=(3, 2))))
    with pytest.warns(neuroxr.errors.NeuroxrWarning, match=r"^neural: coords \{'snr': \('stimulus', 'neuroid'\)\} lie on "
                                                           r"no dim of an rsatoolbox Dataset") as rec:
        to_rsatoolbox(snr)
    assert len(rec) == 1
    with pytest.raises(LayoutError, match=r"^neural: trial coord 'repeat_2' has the name of the 'repeat_2' descriptor"):
        to_rsatoolbox(neural.assign_coords(repeat_2=("repeat", [5, 6])), repeat="repeat_2")
