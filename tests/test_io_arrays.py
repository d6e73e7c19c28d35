"""HDF5 / NPZ / NPY arrays with ids -> neuroxr layouts (neuroxr.io.read_array)."""

from __future__ import annotations

import numpy as np
import pytest

from neuroxr.errors import LayoutError
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
    cases = [
        (lambda: read_array(tmp_path / "data.npz"), "holds 2 arrays"),
        (lambda: read_array(tmp_path / "data.npz", "spikes"), "no array 'spikes'"),
        (lambda: read_array(tmp_path / "data.npz", "responses", ids=stim[:4]), "stimulus_id"),
        (lambda: read_array(tmp_path / "feats.npy"), "layout="),
        (lambda: read_array(tmp_path / "feats.npy", layout="model"), "layout: must be one of"),
        (lambda: read_array(tmp_path / "feats.npy", layout="features", ids="stimuli"), "list of ids"),
        (lambda: read_array(tmp_path / "data.npz", "stimuli", layout="features"), "numeric"),
        (lambda: read_array(tmp_path / "data.csv"), "unknown file type"),
        (lambda: read_array(tmp_path / "nothing.h5"), "no file"),
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
