"""The real-data loaders against the raw files, value by value, and the records they carry.

Each check opens the published file itself (numpy, zipfile, scipy.io) and compares what the loader
returns, paired by the loader's labels (stimulus id, neuroid id, repeat), never by position.
Data located by ``conftest.SHARED``: ``shared/data`` beside the repository or ``NEUROXR_SHARED_DATA``.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import K92, V4, needs_k92, needs_v4

pytestmark = pytest.mark.real_data


# ----------------------------------------------------------------------------- Cowley V4

@needs_v4
@pytest.mark.parametrize("session", ["210325", "201016"])
def test_v4_raw_values_sit_at_their_stimulus_neuroid_and_repeat(session):
    from neuroxr.datasets import load_cowley_v4

    raw = np.load(V4 / f"responses_raw_{session}.npy")  # (neuron, image, repeat) in the file
    da = load_cowley_v4(V4, session, "raw")
    stim = {s: i for i, s in enumerate(da.stimulus_id.values.tolist())}
    neur = {s: i for i, s in enumerate(da.neuroid_id.values.tolist())}
    rep = {int(r): i for i, r in enumerate(da.repeat.values.tolist())}
    rng = np.random.default_rng(1)
    for _ in range(300):
        i, j, k = (int(rng.integers(s)) for s in raw.shape)
        got = da.values[stim[f"{session}/image{j + 1:04d}"], neur[f"PE/{session}/n{i + 1:02d}"], rep[k]]
        np.testing.assert_equal(got, raw[i, j, k])  # NaN where the file is NaN
    # every value once: the same multiset of counts, NaN exactly where the file has NaN, never 0 for a missing trial
    back = np.transpose(raw, (1, 0, 2))
    order = np.argsort(da.stimulus_id.values)
    np.testing.assert_array_equal(np.isnan(da.values[order]), np.isnan(back))
    np.testing.assert_array_equal(da.values[order], back)
    assert da.n_repeats.values[order].tolist() == (~np.isnan(raw[0])).sum(1).tolist()
    counts = da.values[~np.isnan(da.values)]
    assert da.attrs["units"] == "spike count per 100 ms bin" and (counts == np.round(counts)).all() and counts.min() >= 0


@needs_v4
@pytest.mark.parametrize("session,animal", [("210325", "PE"), ("201016", "PE"), ("190923", "WE"), ("210621", "RA")])
def test_v4_avg_values_and_records(session, animal):
    from neuroxr.datasets import load_cowley_v4

    avg = np.load(V4 / f"responses_avg_{session}.npy")
    da = load_cowley_v4(V4, session, "avg")
    assert da.sizes["repeat"] == 1 and not np.isnan(da.values).any()
    for j in (0, 7, avg.shape[1] - 1):
        for i in (0, avg.shape[0] // 2, avg.shape[0] - 1):
            sel = da.where((da.stimulus_id == f"{session}/image{j + 1:04d}") & (da.neuroid_id == f"{animal}/{session}/n{i + 1:02d}"),
                           drop=True)
            assert sel.values.ravel().tolist() == [avg[i, j]]
    assert set(da.animal.values) == {animal} and set(da.region.values) == {"V4"}
    assert "GPL-3.0" in da.attrs["license"] and "Cowley" in da.attrs["citation"]
    assert da.stimulus_id.to_index().is_unique and da.neuroid_id.to_index().is_unique


@needs_v4
def test_v4_images_pair_with_the_responses_by_file_number():
    pytest.importorskip("PIL")
    from PIL import Image

    from neuroxr.datasets import load_cowley_images, load_cowley_v4

    imgs, ids = load_cowley_images(V4, "210325")
    da = load_cowley_v4(V4, "210325", "avg")
    assert ids.tolist() == da.stimulus_id.values.tolist()
    with zipfile.ZipFile(V4 / "images_210325.zip") as z:
        for j in (0, 9, 639):
            with Image.open(io.BytesIO(z.read(f"image{j + 1:04d}.jpg"))) as im:
                np.testing.assert_array_equal(imgs[ids.tolist().index(f"210325/image{j + 1:04d}")], np.asarray(im.convert("RGB")))


# ----------------------------------------------------------------------------- Kriegeskorte 92 images

@pytest.fixture(scope="module")
def k92():
    from neuroxr.datasets import load_kriegeskorte_92

    return load_kriegeskorte_92(K92, images=False)


@needs_k92
def test_k92_rdms_equal_the_files_and_are_symmetric_with_zero_diagonal(k92):
    from scipy.io import loadmat
    from scipy.spatial.distance import squareform

    brain = loadmat(K92 / "92_brainRDMs.mat")["RDMs"]
    for s, subject in enumerate(("BE", "KO", "SN", "TI")):
        for k, session in enumerate((1, 2)):
            assert str(brain[0, s, k]["name"][0]) == f"hIT | {subject} | Session: {session}"
            np.testing.assert_array_equal(k92.hIT.sel(subject=subject, session=session).values, brain[0, s, k]["RDM"])
    fig1 = loadmat(K92 / "Kriegeskorte_Neuron2008_supplementalData.mat")["RDMs_mIT_hIT_fig1"][0]
    np.testing.assert_array_equal(k92.mIT.values, squareform(fig1[0]["RDM"].ravel()))
    np.testing.assert_array_equal(k92.hIT_mean.values, squareform(fig1[1]["RDM"].ravel()))
    behav = loadmat(K92 / "92_behavRDMs.mat")["rdms_behav_92"][0]
    for i in (0, 15):
        np.testing.assert_array_equal(k92.behaviour.sel(judge=f"subject{i + 1}").values, behav[i]["RDM"])
    for v in ("hIT", "hIT_mean", "mIT", "model_rdm", "behaviour"):
        a = k92[v].values
        np.testing.assert_array_equal(a, np.swapaxes(a, -1, -2))
        assert not np.diagonal(a, axis1=-2, axis2=-1).any()
    assert k92.stimulus_id.values.tolist() == k92.stimulus_id_.values.tolist() == [f"obj{j:02d}" for j in range(1, 93)]


@needs_k92
def test_k92_labels_follow_the_stimulus_order(k92):
    from scipy.io import loadmat

    stim = loadmat(K92 / "Kriegeskorte_Neuron2008_supplementalData.mat")["stimuli_92objs"][0]
    for j in (0, 12, 24, 36, 48, 91):
        row = k92.sel(stimulus=j)
        assert row.category.item() == str(stim[j]["category"][0])
        assert [bool(row[f].item()) for f in ("human", "face", "animal", "natural")] == \
            [bool(stim[j][f].ravel()[0]) for f in ("human", "face", "animal", "natural")]


@needs_k92
def test_k92_records_licence_and_every_source_paper(k92):
    """The licence and the citation of the similarity judgments (Mur et al. 2013) were missing."""
    assert k92.attrs["license"].startswith("MIT")
    assert any("Mur M" in c and "2013" in c for c in k92.attrs["citations"])
    assert "Mur M" in k92.behaviour.attrs["citation"]
    for v in ("hIT", "hIT_mean", "mIT", "model_rdm", "behaviour"):
        assert k92[v].attrs["citation"] in k92.attrs["citations"]


# ----------------------------------------------------------------------------- weight-free features

@pytest.mark.parametrize("seed", [None, -1, 0.5])
def test_random_cnn_seed_must_determine_the_weights(seed):
    pytest.importorskip("torch")
    from neuroxr.datasets import random_cnn_features
    from neuroxr.errors import ParameterError

    with pytest.raises(ParameterError, match="seed must be a non-negative int"):
        random_cnn_features(np.zeros((2, 8, 8, 3), np.uint8), ["a", "b"], seed=seed, channels=(2,), pool=1)
