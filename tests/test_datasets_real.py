"""Real recorded data: loaders, file quirks, weight-free features and end-to-end analyses.

Data: ``shared/data`` beside the repository (CI clones the repository with ``shared/`` next to
it) or the folder named by ``NEUROXR_SHARED_DATA``. Tests skip, saying so, when it is absent.

- Cowley et al. (2023): macaque V4 spike counts, ``cowley2023_v4/``.
- Kriegeskorte et al. (2008) / Kiani et al. (2007): 92-image RDMs, ``kriegeskorte2008_92images/``,
  as distributed with the RSA toolbox (Nili et al. 2014).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import K92, V4, needs_k92, needs_v4

import neuroxr as nx

pytestmark = pytest.mark.real_data


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def raw210325() -> np.ndarray:
    return np.load(V4 / "responses_raw_210325.npy")


@pytest.fixture(scope="module")
def raw201016() -> np.ndarray:
    return np.load(V4 / "responses_raw_201016.npy")


@pytest.fixture(scope="module")
def v4_210325():
    from neuroxr.datasets.cowley import load_cowley_v4

    return load_cowley_v4(V4, "210325", "raw")


@pytest.fixture(scope="module")
def v4_201016():
    from neuroxr.datasets.cowley import load_cowley_v4

    return load_cowley_v4(V4, "201016", "raw")


@pytest.fixture(scope="module")
def images210325():
    pytest.importorskip("PIL", reason="Pillow decodes the JPEGs")
    from neuroxr.datasets.cowley import load_cowley_images

    return load_cowley_images(V4, "210325")


@pytest.fixture(scope="module")
def gabor210325(images210325):
    from neuroxr.datasets.imagefeatures import gabor_energy_features

    imgs, ids = images210325
    return gabor_energy_features(imgs, ids, size=48, wavelengths=(4.0, 8.0), n_orientations=4, grid=3)


@pytest.fixture(scope="module")
def k92():
    from neuroxr.datasets.kriegeskorte import load_kriegeskorte_92

    return load_kriegeskorte_92(K92)


# ----------------------------------------------------------------------------- V4 file quirks

@needs_v4
def test_v4_raw_file_axis_order_is_neuron_image_repeat(raw210325, raw201016, v4_210325):
    # the authors' table: 50 neurons / 640 images (210325), 82 / 600 (201016), 10 repeat slots
    assert raw210325.shape == (50, 640, 10)
    assert raw201016.shape == (82, 600, 10)
    # the loader transposes to (stimulus, neuroid, repeat) without reordering anything
    assert v4_210325.dims == ("stimulus", "neuroid", "repeat")
    assert v4_210325.shape == (640, 50, 10)
    np.testing.assert_array_equal(v4_210325.values, np.transpose(raw210325, (1, 0, 2)))
    np.testing.assert_array_equal(v4_210325.isel(stimulus=3, neuroid=7).values, raw210325[7, 3])


@needs_v4
@pytest.mark.parametrize("session", ["210325", "201016"])
def test_v4_raw_nan_only_trailing_and_shared_by_all_neurons(session):
    from neuroxr.datasets.cowley import cowley_repeat_counts

    raw = np.load(V4 / f"responses_raw_{session}.npy")
    valid = ~np.isnan(raw)
    assert (valid == valid[:1]).all(), "NaN mask differs between neurons"
    n = valid[0].sum(axis=1)
    np.testing.assert_array_equal(valid[0], np.arange(raw.shape[2])[None, :] < n[:, None])
    np.testing.assert_array_equal(cowley_repeat_counts(raw), n)
    # the check catches a non-trailing NaN and a mask that differs between neurons
    bad = raw.copy()
    bad[:, 0, 0] = np.nan
    with pytest.raises(ValueError, match="not all trailing"):
        cowley_repeat_counts(bad)
    bad = raw.copy()
    bad[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="differs between neurons"):
        cowley_repeat_counts(bad)


@needs_v4
@pytest.mark.parametrize("session", ["210325", "201016"])
def test_v4_raw_integer_counts_stored_as_float(session):
    raw = np.load(V4 / f"responses_raw_{session}.npy")
    assert raw.dtype == np.float64
    v = raw[~np.isnan(raw)]
    assert v.size > 0 and (v >= 0).all()
    np.testing.assert_array_equal(v, np.round(v))


@needs_v4
@pytest.mark.parametrize("session", ["210325", "201016"])
def test_v4_avg_equals_nanmean_of_raw(session):
    from neuroxr.datasets.cowley import load_cowley_v4

    raw = np.load(V4 / f"responses_raw_{session}.npy")
    avg = np.load(V4 / f"responses_avg_{session}.npy")
    assert avg.shape == raw.shape[:2] and not np.isnan(avg).any()
    np.testing.assert_allclose(np.nanmean(raw, axis=2), avg, rtol=0, atol=1e-12)
    # loaded: repeat dim of length 1, the same numbers as the NaN-mean of the raw load
    a = load_cowley_v4(V4, session, "avg")
    r = load_cowley_v4(V4, session, "raw")
    assert a.sizes["repeat"] == 1
    np.testing.assert_array_equal(a.stimulus_id.values, r.stimulus_id.values)
    np.testing.assert_allclose(a.isel(repeat=0).values, r.mean("repeat", skipna=True).values, atol=1e-12)


@needs_v4
@pytest.mark.parametrize("session, lo, hi, median", [("210325", 6, 10, 8), ("201016", 5, 9, 6)])
def test_v4_repeats_per_image(session, lo, hi, median):
    from neuroxr.datasets.cowley import load_cowley_v4

    da = load_cowley_v4(V4, session, "raw")
    n = da.n_repeats.values
    assert n.min() == lo and n.max() == hi and np.median(n) == median
    np.testing.assert_array_equal(n, da.notnull().sum("repeat").isel(neuroid=0).values)


@needs_v4
def test_v4_image_count_matches_image_axis(v4_210325, images210325):
    imgs, ids = images210325
    assert imgs.shape == (640, 112, 112, 3) and imgs.dtype == np.uint8
    with zipfile.ZipFile(V4 / "images_210325.zip") as z:
        assert len([n for n in z.namelist() if n.endswith(".jpg")]) == 640
    np.testing.assert_array_equal(ids, v4_210325.stimulus_id.values)
    assert ids[0] == "210325/image0001" and ids[-1] == "210325/image0640"


@needs_v4
def test_v4_image_subfolder_in_zip_of_session_190923():
    pytest.importorskip("PIL")
    from neuroxr.datasets.cowley import load_cowley_images, load_cowley_v4

    imgs, ids = load_cowley_images(V4, "190923")
    assert imgs.shape == (1200, 112, 112, 3)
    avg = load_cowley_v4(V4, "190923", "avg")
    assert avg.shape == (1200, 33, 1)
    np.testing.assert_array_equal(ids, avg.stimulus_id.values)


@needs_v4
def test_v4_loader_coords_and_session_without_images(v4_210325, v4_201016):
    from neuroxr.datasets.cowley import load_cowley_images, load_cowley_v4

    assert set(v4_210325.animal.values) == {"PE"} and set(v4_210325.region.values) == {"V4"}
    assert set(v4_210325.session.values) == {"210325"}
    assert v4_210325.neuroid_id.values[0] == "PE/210325/n01"
    assert "image file names" in v4_210325.attrs["stimulus_id_source"]
    # 201016: no images in the shared copy, ids by position, documented in the attrs
    assert v4_201016.shape == (600, 82, 10)
    assert v4_201016.stimulus_id.values[0] == "201016/image0001"
    assert v4_201016.stimulus_id.values[-1] == "201016/image0600"
    assert "position" in v4_201016.attrs["stimulus_id_source"]
    with pytest.raises(FileNotFoundError, match="201016") as info:
        load_cowley_images(V4, "201016")
    assert isinstance(info.value, nx.NeuroxrError)  # every error neuroxr raises derives from it
    with pytest.raises(FileNotFoundError, match="kind='avg'"):
        load_cowley_v4(V4, "190923", "raw")
    with pytest.raises(nx.LayoutError, match="kind"):
        load_cowley_v4(V4, "210325", "mean")
    assert load_cowley_v4(V4, "210621", "avg").animal.values[0] == "RA"


# ----------------------------------------------------------------------------- 92-image quirks

@needs_k92
def test_k92_brain_rdms_symmetric_zero_diagonal_float32(k92):
    from scipy.io import loadmat

    b = loadmat(K92 / "92_brainRDMs.mat")["RDMs"]
    assert b.shape == (1, 4, 2)
    for s in range(4):
        for k in range(2):
            m = b[0, s, k]["RDM"]
            assert m.dtype == np.float32 and m.shape == (92, 92)
            np.testing.assert_array_equal(m, m.T)
            assert (np.diag(m) == 0).all()
            assert 0 <= m.min() and m.max() < 2  # correlation distance
    assert k92.hIT.dtype == np.float32
    assert k92.hIT.shape == (4, 2, 92, 92)
    assert list(k92.subject.values) == ["BE", "KO", "SN", "TI"]
    for v in ("mIT", "hIT_mean", "model_rdm", "behaviour"):
        a = k92[v].values.reshape(-1, 92, 92)
        np.testing.assert_array_equal(a, np.swapaxes(a, 1, 2))
        assert (np.diagonal(a, axis1=1, axis2=2) == 0).all()


@needs_k92
def test_k92_condensed_mit_vector_squareform(k92):
    from scipy.io import loadmat
    from scipy.spatial.distance import squareform

    fig1 = loadmat(K92 / "Kriegeskorte_Neuron2008_supplementalData.mat")["RDMs_mIT_hIT_fig1"][0]
    vec = fig1[0]["RDM"]
    assert str(fig1[0]["name"][0]) == "mIT_674neurons"
    assert vec.shape == (1, 92 * 91 // 2)
    np.testing.assert_array_equal(squareform(k92.mIT.values), vec.ravel())
    iu = np.triu_indices(92, 1)  # squareform order = row-major upper triangle
    np.testing.assert_array_equal(k92.mIT.values[iu], vec.ravel())
    # the mIT RDM of the figure is the monkeyIT entry of the model file
    np.testing.assert_array_equal(k92.model_rdm.sel(model="monkeyIT").values, k92.mIT.values)


@needs_k92
def test_k92_hit_mean_equals_supplementary_hit(k92):
    iu = np.triu_indices(92, 1)
    mean = k92.hIT.astype(np.float64).mean(("subject", "session")).values
    r = np.corrcoef(mean[iu], k92.hIT_mean.values[iu])[0, 1]
    assert round(r, 3) == 1.000
    np.testing.assert_allclose(mean, k92.hIT_mean.values, atol=1e-7)


@needs_k92
def test_k92_stimulus_labels_and_images(k92):
    cats, counts = np.unique(k92.category.values, return_counts=True)
    assert dict(zip(cats, counts)) == {
        "artificial inanimate": 21, "natural inanimate": 23, "human bodypart": 12,
        "human face": 12, "nonhuman bodypart": 12, "nonhuman face": 12,
    }
    assert (k92.face.values == np.char.endswith(k92.category.values.astype(str), "face")).all()
    assert (k92.animal.values == ~np.char.endswith(k92.category.values.astype(str), "inanimate")).all()
    assert k92.images.shape == (92, 175, 175, 3) and k92.images.dtype == np.uint8
    assert k92.category_vectors.shape == (92, 12)
    # the 'animate' indicator is the animal flag
    np.testing.assert_array_equal(k92.category_vectors.sel(category_label="animate").values.astype(bool),
                                  k92.animal.values)


# ----------------------------------------------------------------------------- weight-free features

def test_resize_area_is_exact_block_mean():
    from neuroxr.datasets.imagefeatures import resize_area

    x = np.random.default_rng(0).random((3, 12, 12))
    blocks = x.reshape(3, 4, 3, 4, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(resize_area(x, 4), blocks, atol=1e-12)
    # non-integer factor keeps the mean
    np.testing.assert_allclose(resize_area(x, 5).mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-12)


def test_gabor_energy_prefers_matching_orientation_and_matches_direct_convolution():
    from scipy.signal import fftconvolve

    from neuroxr.datasets.imagefeatures import gabor_energy_features, gabor_kernels, resize_area, to_grayscale

    yy, xx = np.mgrid[0:64, 0:64]
    vertical = 0.5 + 0.4 * np.cos(2 * np.pi * xx / 8.0)      # wave vector along x: orientation 0
    horizontal = 0.5 + 0.4 * np.cos(2 * np.pi * yy / 8.0)    # orientation 90
    imgs = np.stack([vertical, horizontal])
    f = gabor_energy_features(imgs, ["v", "h"], size=64, wavelengths=(8.0,), n_orientations=4, grid=2, log=False)
    assert f.model.item() == "gabor_energy" and f.shape == (2, 16)
    by_or = f.groupby("orientation").mean().values  # (2 stimuli, 4 orientations)
    assert by_or[0].argmax() == 0 and by_or[1].argmax() == 2
    # the FFT path equals a direct same-size convolution with the quadrature pair
    rng = np.random.default_rng(1)
    rand = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    f = gabor_energy_features(rand, size=40, wavelengths=(5.0,), n_orientations=3, grid=4, log=False)
    g = to_grayscale(rand)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    e, o = gabor_kernels(5.0, 60.0)
    energy = np.hypot(fftconvolve(g, e[None], mode="same", axes=(1, 2)),
                      fftconvolve(g, o[None], mode="same", axes=(1, 2)))
    np.testing.assert_allclose(f.values[:, f.orientation.values == 60.0],
                               resize_area(energy, 4).reshape(3, -1), rtol=1e-9, atol=1e-12)


def test_pixel_features_labels():
    from neuroxr.datasets.imagefeatures import pixel_features

    imgs = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    f = pixel_features(imgs, ["a", "b", "c", "d"], size=8)
    assert f.dims == ("stimulus", "unit") and f.shape == (4, 64)
    assert f.model.item() == "pixels" and f.layer.item() == "gray8"
    rgb = pixel_features(imgs, ["a", "b", "c", "d"], size=4, grayscale=False)
    assert rgb.shape == (4, 48)
    np.testing.assert_allclose(rgb.sel(unit=rgb.channel == "r").values[0, 0], imgs[0, :8, :8, 0].mean() / 255)
    with pytest.raises(nx.LayoutError, match="one id per image"):
        pixel_features(imgs, ["a"], size=8)
    with pytest.raises(nx.LayoutError, match=r"images have dtype uint16; pass uint8 \(0-255\) or float in \[0, 1\]"):
        pixel_features(imgs.astype(np.uint16) * 257, ["a", "b", "c", "d"], size=8)
    # float 0-255 pixels (what some loaders return) would give features 255x too large: refused
    with pytest.raises(nx.LayoutError, match=r"float images must lie in \[0, 1\]; got values in \[0, 255\]"):
        pixel_features(imgs.astype(np.float64), ["a", "b", "c", "d"], size=8)
    np.testing.assert_allclose(pixel_features(imgs / 255.0, ["a", "b", "c", "d"], size=8).values, f.values)


def test_random_cnn_is_seeded_and_labeled():
    pytest.importorskip("torch", reason="random_cnn_features runs on torch")
    from neuroxr.datasets.imagefeatures import random_cnn_features

    imgs = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    a = random_cnn_features(imgs, list("abcde"), seed=3, channels=(4, 8), pool=2)
    b = random_cnn_features(imgs, list("abcde"), seed=3, channels=(4, 8), pool=2)
    c = random_cnn_features(imgs, list("abcde"), seed=4, channels=(4, 8), pool=2)
    assert list(a) == ["conv1", "conv2"]
    assert a["conv2"].shape == (5, 8 * 4) and a["conv2"].model.item() == "random_cnn"
    assert a["conv2"].layer.item() == "conv2" and a["conv2"].attrs["seed"] == 3
    np.testing.assert_array_equal(a["conv2"].values, b["conv2"].values)
    assert not np.allclose(a["conv2"].values, c["conv2"].values)
    assert (a["conv1"].values >= 0).all()  # pooled ReLU outputs



@pytest.mark.parametrize("ids", [["a", None, "c"], ["a", np.nan, "c"], [1.0, np.nan, 3.0]])
def test_image_features_refuse_missing_ids_rather_than_naming_a_stimulus_nan(ids):
    """The weight-free features turned a missing id into the stimulus 'None' or 'nan'."""
    from neuroxr.datasets.imagefeatures import gabor_energy_features, pixel_features

    imgs = np.random.default_rng(0).random((3, 16, 16))
    for f in (pixel_features, gabor_energy_features):
        with pytest.raises(nx.LayoutError, match=rf"^{f.__name__}: stimulus_id has 1 missing ids \(None/NaN\), at positions \[1\]"):
            f(imgs, ids)


def test_random_cnn_records_its_resize_and_pooling():
    """Two random-CNN feature sets that differ only in the resize (``size``) held the same attrs."""
    pytest.importorskip("torch", reason="random_cnn_features runs on torch")
    from neuroxr.datasets.imagefeatures import random_cnn_features

    imgs = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    native = random_cnn_features(imgs, list("abc"), channels=(4,), pool=2)["conv1"]
    small = random_cnn_features(imgs, list("abc"), channels=(4,), pool=2, size=16)["conv1"]
    wide = random_cnn_features(imgs, list("abc"), channels=(4,), pool=2, size=(16, 24))["conv1"]
    assert native.shape == small.shape and not np.allclose(native.values, small.values)
    assert (native.attrs["size"], small.attrs["size"], wide.attrs["size"]) == (None, [16, 16], [16, 24])
    assert native.attrs["pool"] == 2

# ----------------------------------------------------------------------------- 92 images: RSA end to end

@needs_k92
def test_k92_rdm_dims_are_those_of_geometry(k92):
    from neuroxr import geometry
    from neuroxr.datasets.kriegeskorte import RDM_DIMS

    assert RDM_DIMS == tuple(geometry.RDM_DIMS)
    assert k92.mIT.dims == tuple(geometry.RDM_DIMS)
    np.testing.assert_array_equal(k92.stimulus_id.values, k92.stimulus_id_.values)


@needs_k92
def test_k92_monkey_it_vs_mean_human_it(k92):
    from neuroxr.geometry import compare_rdms

    iu = np.triu_indices(92, 1)
    r = compare_rdms(k92.mIT, k92.hIT_mean, method="pearson")
    np.testing.assert_allclose(r, np.corrcoef(k92.mIT.values[iu], k92.hIT_mean.values[iu])[0, 1], atol=1e-12)
    assert round(float(r), 2) == 0.49  # Kriegeskorte et al. 2008, the figure-1 RDMs
    # pairing is by stimulus_id, not position: a shuffled copy gives the same value
    perm = np.random.default_rng(0).permutation(92)
    shuffled = k92.hIT_mean.isel(stimulus=perm, stimulus_=perm)
    np.testing.assert_allclose(compare_rdms(k92.mIT, shuffled, method="pearson"), r, atol=1e-12)


@needs_k92
@pytest.mark.parametrize("method, rsa_method", [("pearson", "corr"), ("spearman", "spearman"), ("kendall", "tau-a")])
def test_k92_between_subject_noise_ceiling_matches_rsatoolbox(k92, method, rsa_method):
    rsa = pytest.importorskip("rsatoolbox")
    import warnings

    from rsatoolbox.rdm import compare
    from rsatoolbox.util.inference_util import pool_rdm

    from neuroxr.geometry import rdm_noise_ceiling

    subj = k92.hIT.astype(np.float64).mean("session")  # 4 session-averaged subject RDMs
    nc = rdm_noise_ceiling(subj, method=method)
    iu = np.triu_indices(92, 1)
    R = rsa.rdm.RDMs(np.stack([s[iu] for s in subj.values]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rsatoolbox: tau ceiling from averaged ranks
        upper = np.mean(compare(R, pool_rdm(R, method=rsa_method), method=rsa_method))
        lower = np.mean([compare(R[i], pool_rdm(R[[j for j in range(4) if j != i]], method=rsa_method),
                                 method=rsa_method) for i in range(4)])
    np.testing.assert_allclose([float(nc.lower), float(nc.upper)], [lower, upper], atol=1e-10)
    assert 0.25 < float(nc.lower) < float(nc.upper) < 0.7
    # the mean between-subject correlation of SOURCE.md (6 pairs) lies below the lower bound
    if method == "pearson":
        c = np.corrcoef(np.stack([s[iu] for s in subj.values]))[np.triu_indices(4, 1)]
        assert round(c.mean(), 2) == 0.28 and c.mean() < float(nc.lower)


@needs_k92
def test_k92_model_rdms_ranked_against_human_it(k92):
    from neuroxr.geometry import compare_rdms_many, rdm_noise_ceiling

    subj = k92.hIT.astype(np.float64).mean("session")
    for method in ("pearson", "spearman", "kendall"):
        sim = compare_rdms_many(k92.model_rdm, subj, method=method).mean("rdm_b")
        assert sim.sizes["rdm_a"] == 8
        ranked = [str(m) for m in sim.sortby(sim, ascending=False).rdm_a.values]
        # the categorical animacy RDM and the real monkey IT RDM explain human IT best; the
        # low-level image models (V1, RADON) least
        assert set(ranked[:2]) == {"animacy", "monkeyIT"}, ranked
        assert set(ranked[-2:]) == {"V1", "RADON"}, ranked
        lower = float(rdm_noise_ceiling(subj, method=method).lower)
        if method == "spearman":
            # Spearman rewards the tied values of a categorical RDM: animacy passes the lower
            # bound, which is why Nili et al. 2014 compare categorical models by Kendall tau-a
            assert float(sim.sel(rdm_a="animacy")) > lower > float(sim.drop_sel(rdm_a="animacy").max())
        else:
            # no model reaches the lower bound of the between-subject noise ceiling
            assert float(sim.max()) < lower


@needs_k92
def test_k92_gabor_energy_rdm_tracks_low_level_models(k92):
    from neuroxr.datasets.imagefeatures import gabor_energy_features
    from neuroxr.geometry import compare_rdms, rdm

    f = gabor_energy_features(k92.images.values, k92.stimulus_id.values, size=64)
    R = rdm(f, method="correlation")
    assert R.dims == k92.mIT.dims
    sil = compare_rdms(R, k92.model_rdm.sel(model="Silhouette"), method="spearman")
    anim = compare_rdms(R, k92.model_rdm.sel(model="animacy"), method="spearman")
    assert sil > 0.5 and sil > anim + 0.3


# ----------------------------------------------------------------------------- V4: the four directions end to end

def _odd_even_reliability(R: np.ndarray) -> np.ndarray:
    """Spearman-Brown Pearson reliability per neuroid from odd vs even repeats (SOURCE.md's check)."""
    a, b = np.nanmean(R[:, :, 0::2], axis=2), np.nanmean(R[:, :, 1::2], axis=2)
    a, b = a - a.mean(0), b - b.mean(0)
    r = (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))
    return 2 * r / (1 + r)


@needs_v4
def test_v4_split_half_reliability_210325(v4_210325):
    from neuroxr.predictivity import split_half_reliability

    odd_even = _odd_even_reliability(v4_210325.values)
    assert round(float(np.median(odd_even)), 2) == 0.77
    assert (odd_even > 0.5).all()
    for split in ("valid", "slots"):
        rel = split_half_reliability(v4_210325, reps=5, seed=0, split=split, method="pearson")
        assert rel.reliability.dims == ("neuroid", "rep") and rel.sizes["neuroid"] == 50
        med = float(rel.reliability.mean("rep").median())
        assert abs(med - np.median(odd_even)) < 0.03, (split, med)
        # per neuroid, random splits agree with odd/even up to split noise
        assert np.corrcoef(rel.reliability.mean("rep").values, odd_even)[0, 1] > 0.9
    spear = split_half_reliability(v4_210325, reps=5, seed=0, method="spearman")
    assert 0.65 < float(spear.reliability.mean("rep").median()) < 0.8


@needs_v4
def test_v4_forward_and_reverse_from_gabor_energy_210325(v4_210325, gabor210325):
    from neuroxr.predictivity import forward, reverse

    fw = forward(gabor210325, v4_210325, reps=2, seed=0)
    rv = reverse(v4_210325, gabor210325, reps=2, seed=0)
    assert fw.ev.dims == ("neuroid", "rep") and fw.sizes["neuroid"] == 50
    assert rv.ev.dims == ("unit", "rep") and rv.sizes["unit"] == gabor210325.sizes["unit"]
    for ds in (fw, rv):
        assert np.isfinite(ds.ev.values).all()
    # forward EV is r^2 over the two split-half ceilings (docs/design.md, section 2)
    np.testing.assert_allclose(fw.ev.values, 100 * fw.r**2 / (fw.target_shc * fw.prediction_shc), rtol=1e-10)
    # a V1-like model explains a real but partial share of V4 (and V4 of it)
    assert 5 < float(fw.ev.mean("rep").median()) < 60
    assert 5 < float(rv.ev.mean("rep").median()) < 60
    assert (fw.r.isel(rep=0) > 0).mean() > 0.9


@needs_v4
def test_v4_forward_from_random_cnn_210325(v4_210325, images210325):
    pytest.importorskip("torch", reason="random_cnn_features runs on torch")
    from neuroxr.datasets.imagefeatures import random_cnn_features
    from neuroxr.predictivity import forward

    imgs, ids = images210325
    layers = random_cnn_features(imgs, ids, seed=0, channels=(8, 16), pool=3, size=40)
    fw = forward(layers["conv2"], v4_210325, reps=2, seed=0)
    assert fw.attrs["source"] and np.isfinite(fw.ev.values).all()
    assert 5 < float(fw.ev.mean("rep").median()) < 60


@needs_v4
def test_v4_inter_animal_style_consistency_between_neuron_halves(v4_210325):
    from neuroxr.predictivity import inter_animal

    a = v4_210325.isel(neuroid=slice(0, 25))
    b = v4_210325.isel(neuroid=slice(25, 50))
    ab = inter_animal(a, b, reps=2, seed=0)
    assert list(ab.neuroid_id.values) == list(b.neuroid_id.values)
    assert np.isfinite(ab.ev.values).all()
    # neurons of one array predict each other well, but not perfectly
    assert 10 < float(ab.ev.mean("rep").median()) < 90


@needs_v4
def test_v4_201016_all_four_directions_with_valid_split(v4_201016):
    import warnings

    from neuroxr.layouts import features
    from neuroxr.predictivity import forward, inter_animal, model_to_model, reverse

    a = v4_201016.isel(neuroid=slice(0, 41))
    b = v4_201016.isel(neuroid=slice(41, 82))
    # no images for this session: the "model" is the repeat-averaged first half of the neurons
    # (and a fixed random projection of it for model -> model)
    fa = features(a.mean("repeat").values, a.stimulus_id.values, [f"u{i}" for i in range(41)],
                  model="v4_201016_first_half", layer="mean")
    proj = np.random.default_rng(0).standard_normal((41, 10))
    fb = features(fa.values @ proj, fa.stimulus_id.values, [f"p{i}" for i in range(10)], model="projection", layer="p")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to exclude or warn about: every stimulus has >= 5 repeats
        out = {
            "forward": forward(fa, b, reps=2, seed=41),
            "reverse": reverse(b, fa, reps=2, seed=41),
            "inter_animal": inter_animal(a, b, reps=2, seed=41),
            "model_to_model": model_to_model(fa, fb, reps=2),
        }
    for name, ds in out.items():
        assert np.isfinite(ds.ev.values).all(), name
        assert float(ds.ev.mean("rep").median()) > 10, name
    assert out["forward"].attrs["n_excluded_stimuli"] == 0


@needs_v4
def test_v4_201016_slots_split_gives_all_nan_halves_reverse_pred_fails(v4_201016):
    import warnings
    from unittest import mock

    rp_cm = pytest.importorskip("reverse_pred.correlation_metrics")
    from reverse_pred import prediction_utils as pu

    from neuroxr.layouts import features
    from neuroxr.predictivity import forward

    five = v4_201016.n_repeats.values == 5
    assert five.sum() == 124
    # seed 41: the first permutation of the 10 repeat slots puts the 5 NaN slots (5..9) in one half
    perm = np.arange(10)
    np.random.default_rng(41).shuffle(perm)
    assert set(perm[:5]) == {5, 6, 7, 8, 9} or set(perm[5:]) == {5, 6, 7, 8, 9}
    b = v4_201016.isel(neuroid=slice(0, 5))
    f = features(v4_201016.isel(neuroid=slice(5, 25)).mean("repeat").values, b.stimulus_id.values,
                 [f"u{i}" for i in range(20)], model="v4_201016_other_neurons", layer="mean")
    # neuroxr, split="slots": that rep's split-half prediction ceiling is NaN for every neuroid
    slots = forward(f, b, reps=2, seed=41, split="slots")
    assert slots.prediction_shc.isel(rep=0).isnull().all() and slots.ev.isel(rep=0).isnull().all()
    assert np.isfinite(slots.ev.isel(rep=1).values).all()
    valid = forward(f, b, reps=2, seed=41, split="valid")
    assert np.isfinite(valid.ev.values).all()
    # reverse_pred with the same draws: the all-NaN half reaches the regression and it fails
    gen = np.random.default_rng(41)
    with mock.patch.object(rp_cm.np.random, "default_rng", lambda *a, **k: gen), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="NaN"):
            pu.get_model_neural_splithalfcorr(b.values, f.values)


@needs_v4
def test_v4_slots_split_matches_reverse_pred_210325(v4_210325, images210325, tmp_path):
    """Parity protocol (docs/design.md): reverse_pred's unseeded generator patched to one seeded one."""
    import warnings
    from unittest import mock

    rp_cm = pytest.importorskip("reverse_pred.correlation_metrics")
    from reverse_pred.model_to_monkey import compute_model_to_monkey
    from reverse_pred.monkey_to_model import compute_monkey_to_model
    from reverse_pred.monkey_to_monkey import compute_monkey_to_monkey

    from neuroxr.datasets.imagefeatures import gabor_energy_features
    from neuroxr.predictivity import forward, inter_animal, reverse

    imgs, ids = images210325
    v = v4_210325.isel(stimulus=slice(0, 200))
    assert (v.n_repeats.values < 10).any()  # missing trials in the subset: 'slots' != 'valid' here
    f = gabor_energy_features(imgs[:200], ids[:200], size=32, wavelengths=(4.0, 8.0), n_orientations=4, grid=2)
    a, b = v.isel(neuroid=slice(0, 6)), v.isel(neuroid=slice(6, 12))
    seed, reps = 3, 2

    def reference(fn, *args, out_name):
        gen = np.random.default_rng(seed)
        out = tmp_path / out_name
        with mock.patch.object(rp_cm.np.random, "default_rng", lambda *a, **k: gen), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args, str(out), reps=reps)
        return np.load(next(out.glob("*_ev.npy")))

    ref = {
        "forward": reference(compute_model_to_monkey, f.values, b.values, out_name="fwd"),
        "reverse": reference(compute_monkey_to_model, f.values, a.values, out_name="rev"),
        "inter_animal": reference(compute_monkey_to_monkey, a.values, b.values, out_name="ia"),
    }
    ours = {
        "forward": forward(f, b, reps=reps, seed=seed, split="slots"),
        "reverse": reverse(a, f, reps=reps, seed=seed, split="slots"),
        "inter_animal": inter_animal(a, b, reps=reps, seed=seed, split="slots"),
    }
    for name, ds in ours.items():
        np.testing.assert_allclose(ds.ev.mean("rep").values, ref[name], rtol=1e-9, atol=1e-9, err_msg=name)
    # with missing trials the balanced 'valid' halves are a different (documented) estimator
    valid = forward(f, b, reps=reps, seed=seed, split="valid")
    assert not np.allclose(valid.ev.mean("rep").values, ref["forward"])


@needs_v4
def test_cowley_animal_named_for_sessions_outside_the_table(tmp_path):
    """A session outside the authors' table needs its monkey named: two such sessions once both got
    animal "unknown", one label for neuroids of two animals."""
    from neuroxr.datasets.cowley import load_cowley_v4

    rng = np.random.default_rng(0)
    np.save(tmp_path / "responses_avg_999999.npy", rng.poisson(3.0, size=(5, 12)).astype(float))
    with pytest.raises(nx.ParameterError, match="animal="):
        load_cowley_v4(tmp_path, "999999", "avg")
    da = load_cowley_v4(tmp_path, "999999", "avg", animal="XY")
    assert set(da.animal.values) == {"XY"}
    assert da.neuroid_id.values[0] == "XY/999999/n01"
    # published sessions keep the table's monkey; a contradicting one is refused
    assert load_cowley_v4(V4, "210621", "avg", animal="RA").animal.values[0] == "RA"
    with pytest.raises(nx.ParameterError, match="'RA'"):
        load_cowley_v4(V4, "210621", "avg", animal="PE")
    with pytest.raises(nx.ParameterError, match="animal"):
        load_cowley_v4(V4, "210621", "avg", animal="a/b")


def test_cowley_images_pair_by_their_number_not_their_name_order(tmp_path):
    """A copy whose files are named without zero-padding (image1 ... image12) was read in name order:
    image10 took the second row of the responses, so every id after image1 named another image's
    responses. A number missing or repeated is refused."""
    pytest.importorskip("PIL", reason="Pillow decodes the JPEGs")
    from PIL import Image

    from neuroxr.datasets.cowley import load_cowley_images, load_cowley_v4

    n = 12
    resp = np.arange(3.0 * n).reshape(3, n)  # (neuron, image): image j's responses are j, n + j, 2n + j
    np.save(tmp_path / "responses_avg_999999.npy", resp)

    def write_zip(stems):
        with zipfile.ZipFile(tmp_path / "images_999999.zip", "w") as z:
            for stem in stems:
                buf = io.BytesIO()
                Image.fromarray(np.full((4, 4, 3), 10 * int(stem[5:]), dtype=np.uint8)).save(buf, format="JPEG", quality=100)
                z.writestr(f"{stem}.jpg", buf.getvalue())

    write_zip([f"image{k}" for k in range(1, n + 1)])
    da = load_cowley_v4(tmp_path, "999999", "avg", animal="XY")
    imgs, ids = load_cowley_images(tmp_path, "999999")
    want = [f"999999/image{k}" for k in range(1, n + 1)]
    assert da.stimulus_id.values.tolist() == want and ids.tolist() == want
    np.testing.assert_array_equal(da.values[:, 0, 0], resp[0])
    assert np.abs(imgs[:, 0, 0, 0].astype(int) - 10 * np.arange(1, n + 1)).max() <= 2  # JPEG rounding
    plain = [f"image{k}" for k in range(1, n)]
    for stems in ([*plain, f"image{n + 1}"], [*plain, "image01"], [f"image{k}" for k in range(n)]):  # gap, repeat, 0-based
        write_zip(stems)
        with pytest.raises(nx.LayoutError, match=rf"^images_999999.zip: its {n} images are not numbered 1..{n}"):
            load_cowley_v4(tmp_path, "999999", "avg", animal="XY")


def test_a_damaged_data_file_is_a_one_line_error_naming_it(tmp_path):
    """Damaged files raised the readers' own errors (NumPy's asked to allow pickles, zipfile's and loadmat's named
    no file), and a file passed as the folder was said not to exist."""
    from neuroxr.datasets.cowley import load_cowley_images, load_cowley_v4
    from neuroxr.datasets.kriegeskorte import load_kriegeskorte_92
    from neuroxr.errors import DataNotFoundError

    (tmp_path / "responses_raw_201016.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(nx.LayoutError, match=r"^load_cowley_v4: responses_raw_201016.npy in .* cannot be read as a \.npy "
                                             r"array \(.*\); the file is damaged") as err:
        load_cowley_v4(tmp_path, "201016", kind="raw")
    assert "allow_pickle" not in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "images_210325.zip").write_bytes(b"not a zip")
    with pytest.raises(nx.LayoutError, match=r"^load_cowley_images: images_210325.zip in .* cannot be read as a zip of JPEG"):
        load_cowley_images(tmp_path, "210325")
    with pytest.raises(DataNotFoundError, match=r"is a file, not a folder"):
        load_cowley_v4(tmp_path / "images_210325.zip", "210325")
    for name in ("92_brainRDMs.mat", "Kriegeskorte_Neuron2008_supplementalData.mat", "92_modelRDMs.mat", "92_behavRDMs.mat"):
        (tmp_path / name).write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    with pytest.raises(nx.LayoutError, match=r"^load_kriegeskorte_92: .*\.mat in .* cannot be read as a MATLAB \.mat file"):
        load_kriegeskorte_92(tmp_path)


def test_image_features_name_an_images_argument_that_is_not_one_array():
    """(images, ids) passed as one argument (as load_cowley_images returns them), or images of several sizes,
    gave NumPy's ValueError; gabor_energy_features' messages named to_grayscale."""
    from neuroxr.datasets.imagefeatures import gabor_energy_features, pixel_features, to_grayscale

    imgs = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    ids = np.array(["a", "b", "c"])
    ragged = [imgs[0], imgs[1, :8, :8]]
    for f in (pixel_features, gabor_energy_features, to_grayscale):
        with pytest.raises(nx.LayoutError, match=rf"^{f.__name__}: images is a pair \(images, stimulus_id\); pass them apart"):
            f((imgs, ids))
        with pytest.raises(nx.LayoutError, match=rf"^{f.__name__}: images are not one array \(images of different sizes\?\)"):
            f(ragged)
    with pytest.raises(nx.LayoutError, match=r"^gabor_energy_features: images have dtype uint16"):
        gabor_energy_features(imgs.astype(np.uint16), ids)
    assert pixel_features(imgs, ids).sizes["stimulus"] == 3  # the images themselves still pass
