"""HDF5 / NPZ / NPY arrays with ids -> neuroxr layouts (neuroxr.io.read_array)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.io import read_array
from neuroxr.layouts import validate_features, validate_neural

h5py = pytest.importorskip("h5py")


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(5, 3, 2))
    R[1, :, 1] = np.nan
    return R, rng.normal(size=(5, 7)), [f"img{i}.png" for i in range(5)], ["e1", "e2", "e3"]


def test_hdf5_with_ids_in_the_file(tmp_path, arrays):
    R, X, stim, neu = arrays
    path = tmp_path / "session.h5"
    with h5py.File(path, "w") as f:
        f["recording/responses"] = R
        f["recording/stimulus_ids"] = np.array(stim, dtype="S")  # bytes, as many HDF5 writers store them
        f["recording/neuroid_ids"] = np.array(neu, dtype=h5py.string_dtype())
        f["recording/region"] = np.array(["IT", "IT", "V4"], dtype="S")
        f["model/layer4"] = X
    out = read_array(path, "recording/responses", ids="recording/stimulus_ids", target_ids="recording/neuroid_ids",
                     region="recording/region")
    validate_neural(out)
    np.testing.assert_array_equal(out.values, R)
    assert out.stimulus_id.values.tolist() == stim and out.neuroid_id.values.tolist() == neu
    assert out.region.values.tolist() == ["IT", "IT", "V4"] and out.name == "responses"
    feats = read_array(path, "model/layer4", layout="features", ids="recording/stimulus_ids", model="net", layer="layer4")
    validate_features(feats)
    np.testing.assert_array_equal(feats.values, X)
    assert feats.model.item() == "net" and feats.unit_id.values.tolist() == [f"unit{i}" for i in range(7)]


def test_npz_and_npy(tmp_path, arrays):
    R, X, stim, neu = arrays
    np.savez(tmp_path / "data.npz", responses=R, stimuli=np.array(stim), features=X)
    out = read_array(tmp_path / "data.npz", "responses", ids="stimuli", target_ids=neu)
    np.testing.assert_array_equal(out.values, R)
    assert out.stimulus_id.values.tolist() == stim and out.neuroid_id.values.tolist() == neu
    avg = np.nanmean(R, axis=2)
    np.save(tmp_path / "avg.npy", avg)
    trial_avg = read_array(tmp_path / "avg.npy", layout="neural", ids=stim)
    assert trial_avg.sizes == {"stimulus": 5, "neuroid": 3, "repeat": 1}
    np.testing.assert_array_equal(trial_avg.values[:, :, 0], avg)
    np.save(tmp_path / "feats.npy", X)
    np.testing.assert_array_equal(read_array(tmp_path / "feats.npy", layout="features", ids=stim).values, X)


def test_bad_files_raise_one_line_errors(tmp_path, arrays):
    R, X, stim, neu = arrays
    np.savez(tmp_path / "data.npz", responses=R, stimuli=np.array(stim))
    np.save(tmp_path / "feats.npy", X)
    (tmp_path / "data.csv").write_text("1,2\n")
    # object arrays (ids with a None, as np.asarray(list) makes them) are stored pickled: a raw ValueError before
    np.savez(tmp_path / "objects.npz", responses=R, stimuli=np.array([*stim[:4], None], dtype=object))
    np.save(tmp_path / "objects.npy", X.astype(object))
    cases = [
        (lambda: read_array(tmp_path / "data.npz"), "holds 2 arrays"),
        (lambda: read_array(tmp_path / "data.npz", "spikes"), "no array 'spikes'"),
        (lambda: read_array(tmp_path / "data.npz", "responses", ids=stim[:4]), r"^ids: has shape \(4,\); pass one per stimulus"),
        (lambda: read_array(tmp_path / "feats.npy"), "layout="),
        (lambda: read_array(tmp_path / "feats.npy", layout="model"), "layout: must be one of"),
        (lambda: read_array(tmp_path / "feats.npy", layout="features", ids="stimuli"), "list of ids"),
        (lambda: read_array(tmp_path / "data.npz", "stimuli", layout="features"), "numeric"),
        (lambda: read_array(tmp_path / "data.csv"), "unknown file type"),
        (lambda: read_array(tmp_path / "nothing.h5"), "no file"),
        (lambda: read_array(tmp_path / "objects.npz", "responses", ids="stimuli"),
         r"^path: array 'stimuli' of objects.npz holds Python objects .* ids as strings"),
        (lambda: read_array(tmp_path / "objects.npy", layout="features"), r"^path: objects.npy holds Python objects"),
    ]
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def test_missing_ids_are_an_error(tmp_path, arrays):
    R, X, stim, neu = arrays
    np.savez(tmp_path / "data.npz", responses=R)
    with pytest.raises(LayoutError, match=r"ids: the list has 1 missing ids .* \[2\]") as err:
        read_array(tmp_path / "data.npz", "responses", ids=["a", "b", None, "d", "e"])
    assert "\n" not in str(err.value)


def test_keyword_names_of_the_layouts(tmp_path, arrays):
    R, X, stim, neu = arrays
    np.savez(tmp_path / "data.npz", responses=R, stimuli=np.array(stim), bins=np.array([[0.0, 50.0], [50.0, 100.0]]))
    path = tmp_path / "data.npz"
    out = read_array(path, "responses", ids="stimuli", attrs={"session": "s1"})
    assert out.attrs == {"file": "data.npz", "session": "s1"}
    timed = read_array(path, "responses", ids="stimuli", time_bins="bins")  # (stimulus, neuroid, time_bin)
    assert timed.dims == ("stimulus", "neuroid", "repeat", "time_bin") and timed.time_bin_end.values.tolist() == [50.0, 100.0]
    np.testing.assert_array_equal(timed.values[:, :, 0, :], R)
    cases = [
        (dict(stimulus_id="stimuli"), "stimulus_id: read_array takes the stimulus ids as ids="),
        (dict(neuroid_id=neu), "neuroid_id: .* as target_ids="),
        (dict(unit_id=neu), "unit_id: .* as target_ids="),
        (dict(repeat=[0, 1]), "repeat: is a dim"),
        (dict(layout="features", time_bins="bins"), "time_bins: feature arrays have no time"),
    ]
    for kw, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            read_array(path, "responses", **kw)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_a_file_of_another_kind_is_a_one_line_error(tmp_path, suffix):
    """A text file under an .npz or .h5 name failed with numpy's pickle refusal or h5py's OSError."""
    path = tmp_path / f"notes{suffix}"
    path.write_text("not an array file")
    with pytest.raises(LayoutError, match=rf"^path: '{path}' cannot be read as a \{suffix} file \(.*\); pass an HDF5, "
                                          r"NPZ or NPY file\.$") as err:
        read_array(path, layout="features")
    assert "\n" not in str(err.value)
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    with pytest.raises(LayoutError, match=r"^attrs: expected a mapping of names to values; got list\.$"):
        read_array(tmp_path / "x.npy", layout="features", attrs=[("a", 1)])


def test_absolute_hdf5_paths_and_a_path_of_another_type(tmp_path, arrays):
    """h5py names arrays by absolute paths too ("/recording/responses"); read_array takes them for the
    data, the ids and the coords (they were "no array '/recording/responses'"). A path that is no
    str or PathLike is a one-line error (it was Path's bare TypeError)."""
    R, _, stim, neu = arrays
    path = tmp_path / "session.h5"
    with h5py.File(path, "w") as f:
        f["recording/responses"] = R
        f["recording/stimulus_ids"] = np.array(stim, dtype="S")
        f["recording/region"] = np.array(["IT", "IT", "V4"], dtype="S")
    out = read_array(path, "/recording/responses", ids="/recording/stimulus_ids", target_ids=neu,
                     region="/recording/region")
    np.testing.assert_array_equal(out.values, R)
    assert out.stimulus_id.values.tolist() == stim and out.region.values.tolist() == ["IT", "IT", "V4"]
    assert out.name == "responses"
    with pytest.raises(LayoutError, match=r"^path: expected a file path \(str or os.PathLike\); got int\.$"):
        read_array(3)


def test_ids_that_fit_another_axis_name_the_axis_order(tmp_path, arrays):
    """A file laid out (neuroid, stimulus, repeat), as many recordings are, with ids that fit its axis
    1: the error says the axes are in another order and how to transpose (it said to pass one id
    per stimulus, as if the ids were wrong); target_ids the same way, and features too."""
    R, X, stim, neu = arrays
    np.save(tmp_path / "raw.npy", R.transpose(1, 0, 2))
    with pytest.raises(LayoutError, match=r"^ids: 5 ids fit axis 1 .* not axis 0, its stimulus axis: .*"
                                          r"\(stimulus, neuroid\[, repeat\]\)\. If the file's axes are in another "
                                          r"order, transpose .*; else pass one id per stimulus\.$") as e:
        read_array(tmp_path / "raw.npy", ids=stim, target_ids=neu)
    assert "\n" not in str(e.value)
    with pytest.raises(LayoutError, match=r"^target_ids: 3 ids fit axis 0 .* not axis 1, its neuroid axis"):
        read_array(tmp_path / "raw.npy", target_ids=neu)
    np.save(tmp_path / "feats.npy", X.T)
    with pytest.raises(LayoutError, match=r"^ids: 5 ids fit axis 1 .*\(stimulus, unit\)"):
        read_array(tmp_path / "feats.npy", layout="features", ids=stim)
    out = read_array(tmp_path / "raw.npy", ids=neu, target_ids=stim)  # ids fitting the axes as given: read so
    assert out.sizes["stimulus"] == 3 and out.sizes["neuroid"] == 5
    with pytest.raises(LayoutError, match=r"^ids: has shape \(\); pass one per stimulus of array 'raw.npy' \(3\)"):
        read_array(tmp_path / "raw.npy", ids=5)  # no ids of another axis: named as the argument, not a TypeError


def test_a_name_model_or_layer_that_is_no_str_is_a_one_line_error(tmp_path, arrays):
    """``layer=["conv1"]`` was stored as the text "['conv1']" and ``model=3`` as "3"; such values (and a
    name that is no str) are refused naming the argument."""
    _, X, stim, _ = arrays
    np.save(tmp_path / "feats.npy", X)
    for arg, value in (("model", 3), ("layer", ["conv1"]), ("name", 3)):
        with pytest.raises(LayoutError, match=rf"^{arg}: expected a str or None; got"):
            read_array(tmp_path / "feats.npy", layout="features", ids=stim, **{arg: value})
    out = read_array(tmp_path / "feats.npy", layout="features", ids=stim, model="net", layer="conv1")
    assert out.model.item() == "net" and out.layer.item() == "conv1"


def test_a_path_under_the_home_folder_is_read_from_there(tmp_path, monkeypatch, arrays):
    """``~`` is the user's home folder, as pandas and the shell read it, not a folder named '~'."""
    R, X, stim, neu = arrays
    monkeypatch.setenv("HOME", str(tmp_path))
    np.save(tmp_path / "feats.npy", X)
    np.testing.assert_array_equal(read_array("~/feats.npy", layout="features", ids=stim).values, X)
    with pytest.raises(LayoutError, match=f"no file at '{tmp_path}/none.npy'"):
        read_array("~/none.npy", layout="features", ids=stim)


def test_a_folder_a_matlab_file_and_duplicate_or_colliding_ids_are_named(tmp_path, arrays):
    """A folder was an 'unknown file type' ''; a .mat file one too, though a v7.3 one read as HDF5 would
    reverse every array's axes; duplicate ids were named under the file's stem ('R: coord ...'), and
    ids 1 and '1' of a list were read as two equal strings."""
    R, _, stim, neu = arrays
    np.save(tmp_path / "R.npy", R)
    (tmp_path / "session.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    cases = [
        (lambda: read_array(tmp_path), r"^path: '.*' is a folder; pass the HDF5, NPZ or NPY file in it\.$"),
        (lambda: read_array(tmp_path / "session.mat"), r"^path: a MATLAB \.mat file is not read here: .*axes in reverse "
                                                        r"order\. Load it with scipy\.io\.loadmat"),
        (lambda: read_array(tmp_path / "R.npy", ids=["a", "b", "a", "c", "d"]),
         r"^ids: the list has 1 duplicate ids, e\.g\. \['a'\]; each stimulus"),
        (lambda: read_array(tmp_path / "R.npy", target_ids=[1, "1", 2]),
         r"^target_ids: the list holds values of different types that read the same as text, e\.g\. \[1, '1'\]"),
    ]
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    assert read_array(tmp_path / "R.npy", ids=stim, target_ids=neu).stimulus_id.values.tolist() == stim


def test_byte_strings_that_are_no_utf8_text_are_a_one_line_error(tmp_path, arrays):
    """HDF5 byte strings of another encoding (b'caf\\xe9', latin-1) raised numpy's bare UnicodeDecodeError."""
    R, _, _, neu = arrays
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["R"] = R
        f["ids"] = np.array([b"caf\xe9", b"b", b"c", b"d", b"e"])
        f["area"] = np.array([b"V1", b"V\xe94", b"IT"])
    path = tmp_path / "s.h5"
    cases = [(lambda: read_array(path, "R", ids="ids"), r"^path: array 'ids' \(ids\) holds byte strings that are not "
                                                       r"UTF-8 text, e\.g\. b'caf\\xe9'; decode them with their encoding"),
             (lambda: read_array(path, "R", region="area"), r"^region: holds byte strings that are not UTF-8 text, "
                                                           r"e\.g\. b'V\\xe94'")]
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    ids = [b.decode("latin-1") for b in [b"caf\xe9", b"b", b"c", b"d", b"e"]]  # decoded as the message says
    assert read_array(path, "R", ids=ids, target_ids=neu).stimulus_id.values.tolist()[0] == "caf\xe9"


def test_ids_and_coords_of_another_shape_name_their_argument(tmp_path, arrays):
    """Ids saved as a column (n, 1), as MATLAB keeps them, or of the wrong length were refused under the
    array's name ('R: coord 'stimulus_id' ...'), not the argument that gave them."""
    R, _, stim, neu = arrays
    np.savez(tmp_path / "d.npz", R=R, ids=np.array(stim)[:, None], nids=np.array(neu)[None, :],
             area=np.array(["V1", "V1", "IT"])[:, None])
    path = tmp_path / "d.npz"
    cases = [(lambda: read_array(path, "R", ids="ids"), r"^ids: has shape \(5, 1\); pass one per stimulus of array 'R' "
                                                       r"\(5\), a 1-D array: np\.ravel\(\) a column saved as \(n, 1\)"),
             (lambda: read_array(path, "R", target_ids="nids"), r"^target_ids: has shape \(1, 3\); pass one per neuroid "
                                                               r"of array 'R' \(3\), a 1-D array"),
             (lambda: read_array(path, "R", region="area"), r"^region: has shape \(3, 1\); pass one per neuroid"),
             (lambda: read_array(path, "R", region=["V1", "IT"]), r"^region: has shape \(2,\); pass one per neuroid of "
                                                                 r"array 'R' \(3\)\.$"),
             (lambda: read_array(path, "R", ids=stim[:4]), r"^ids: has shape \(4,\); pass one per stimulus")]
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    out = read_array(path, "R", ids=np.ravel(np.load(path)["ids"]), region=["V1", "V1", "IT"])
    assert out.stimulus_id.values.tolist() == stim and out.region.values.tolist() == ["V1", "V1", "IT"]


def test_an_hdf5_arrays_own_attributes_become_attrs(tmp_path, arrays):
    """The HDF5 dataset's attributes (its units, a sampling window) were dropped without a word."""
    R, _, stim, neu = arrays
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["R"] = R
        f["R"].attrs.update({"units": "spikes/s", "label": np.bytes_(b"V4 rates"), "window_ms": np.float32(100.0),
                             "n_units": np.int64(3), "channel_map": np.arange(3), "file": "raw.bin"})
    with pytest.warns(NeuroxrWarning, match=r"^key: array 'R' of s\.h5 has attributes \['channel_map'\] that hold no "
                                            r"string or number; they are left out") as rec:
        out = read_array(tmp_path / "s.h5", "R", ids=stim, target_ids=neu, attrs={"session": "s1"})
    assert len(rec) == 1
    with h5py.File(tmp_path / "s.h5", "r") as f:  # h5py's own reading of them
        ref = {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v)
               for k, v in f["R"].attrs.items() if k != "channel_map"}
    ref["file"] = "s.h5"  # the file read: its name wins over an attribute of that name, as attrs= wins over both
    assert out.attrs == {**ref, "session": "s1"}
    assert type(out.attrs["window_ms"]) is float and type(out.attrs["n_units"]) is int
    with pytest.warns(NeuroxrWarning, match="channel_map"):
        assert read_array(tmp_path / "s.h5", "R", attrs={"units": "Hz"}).attrs["units"] == "Hz"
    out.attrs.pop("file")
    validate_neural(out)


def test_hdf5_dimension_scales_are_no_attrs_and_no_warning(tmp_path, arrays):
    """h5py's dimension scales (dims[i].attach_scale, .label) store references and labels as the array's
    attributes DIMENSION_LIST / DIMENSION_LABELS: the file's own structure, warned about as metadata left out."""
    R, _, stim, _ = arrays
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["R"], f["ids"] = R, np.array(stim, dtype="S")
        f["R"].attrs["units"] = "spikes"
        f["ids"].make_scale("stimulus")
        f["R"].dims[0].attach_scale(f["ids"])
        f["R"].dims[0].label = "stimulus"
        assert {"DIMENSION_LIST", "DIMENSION_LABELS"} <= set(f["R"].attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = read_array(tmp_path / "s.h5", "R", ids="ids")
    assert out.attrs == {"units": "spikes", "file": "s.h5"} and out.stimulus_id.values.tolist() == stim


def test_pytables_system_attributes_are_no_attrs(tmp_path, arrays):
    """An array PyTables wrote (pandas' to_hdf, tables.create_array) carries its system attributes CLASS, VERSION,
    TITLE and FLAVOR (the PyTables file format's own); they came back as attrs of the data."""
    R, _, stim, _ = arrays
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["R"] = R
        f["R"].attrs.update({"CLASS": np.bytes_(b"ARRAY"), "VERSION": np.bytes_(b"2.4"), "TITLE": np.bytes_(b""),
                             "FLAVOR": np.bytes_(b"numpy"), "units": "Hz"})
        f["plain"] = R
        f["plain"].attrs.update({"VERSION": "v3", "TITLE": "session 1"})  # no CLASS: a user's own attributes
    assert read_array(tmp_path / "t.h5", "R", ids=stim).attrs == {"units": "Hz", "file": "t.h5"}
    assert read_array(tmp_path / "t.h5", "plain").attrs == {"VERSION": "v3", "TITLE": "session 1", "file": "t.h5"}
