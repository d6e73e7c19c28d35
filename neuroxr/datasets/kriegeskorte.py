"""Loader for the 92-image RDMs of Kriegeskorte et al. (2008), read from a local copy.

The RSA toolbox (Nili et al., 2014) distributes these MATLAB files as demo data:

- ``92_brainRDMs.mat``: human IT fMRI RDMs, 4 subjects x 2 sessions (Kriegeskorte, Mur, Ruff,
  Kiani, Bodurka, Esteky, Tanaka & Bandettini 2008, *Neuron* 60:1126);
- ``Kriegeskorte_Neuron2008_supplementalData.mat``: the monkey IT RDM of 674 neurons (Kiani,
  Esteky, Mirpour & Tanaka 2007, *J Neurophysiol* 97:4296) and the subject-averaged human IT
  RDM as condensed vectors, the 92 images and their category labels;
- ``92_modelRDMs.mat``: categorical and computational model RDMs (``monkeyIT`` among them);
- ``92_behavRDMs.mat``: 16 human similarity-judgment RDMs (Mur et al. 2013).

Quirks handled here: the figure-1 RDMs are **condensed** upper-triangle vectors (4186 =
92*91/2 entries; :func:`scipy.spatial.distance.squareform` order); the brain RDMs are float32,
model RDMs come as uint8, float32 or float64 (all converted to float64 here except the brain
RDMs, which keep their stored float32); every RDM is symmetric with a zero diagonal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataNotFoundError, LayoutError
from ..validation import check_bool
from ._files import data_folder, read_file

__all__ = ["KRIEGESKORTE_CITATIONS", "KRIEGESKORTE_LICENSE", "RDM_DIMS", "load_kriegeskorte_92", "kriegeskorte_stimulus_ids"]

KRIEGESKORTE_CITATIONS = (
    "Kriegeskorte N, Mur M, Ruff DA, Kiani R, Bodurka J, Esteky H, Tanaka K, Bandettini PA (2008). "
    "Matching categorical object representations in inferior temporal cortex of man and monkey. "
    "Neuron 60(6):1126-1141.",
    "Kiani R, Esteky H, Mirpour K, Tanaka K (2007). Object category structure in response patterns "
    "of neuronal population in monkey inferior temporal cortex. J Neurophysiol 97:4296-4309.",
    "Nili H, Wingfield C, Walther A, Su L, Marslen-Wilson W, Kriegeskorte N (2014). A toolbox for "
    "representational similarity analysis. PLoS Comput Biol 10(4):e1003553.",
    "Mur M, Meys M, Bodurka J, Goebel R, Bandettini PA, Kriegeskorte N (2013). Human object-similarity "
    "judgments reflect and transcend the primate-IT object representation. Front Psychol 4:128.",
)

#: the licence of the files (the RSA toolbox repository's; no separate data-use statement)
KRIEGESKORTE_LICENSE = "MIT (rsagroup/rsatoolbox, Copyright (c) 2019 rsatoolbox authors; files not redistributed with neuroxr)"

#: the two stimulus dims of an RDM (the same as ``neuroxr.geometry.rdm`` returns)
RDM_DIMS = ("stimulus", "stimulus_")

_FILES = {
    "brain": "92_brainRDMs.mat",
    "supplement": "Kriegeskorte_Neuron2008_supplementalData.mat",
    "models": "92_modelRDMs.mat",
    "behaviour": "92_behavRDMs.mat",
}
N_STIMULI = 92


def kriegeskorte_stimulus_ids(n: int = N_STIMULI) -> np.ndarray:
    """Stimulus ids ``"obj01"``..``"obj92"`` (1-based position in the authors' order)."""
    return np.array([f"obj{j + 1:02d}" for j in range(n)])


def _str(x: Any) -> str:
    """A MATLAB char array (as loadmat returns it) as a Python str."""
    a = np.asarray(x)
    return str(a.ravel()[0]) if a.size else ""


def _square(rdm: Any, what: str, path: Path) -> np.ndarray:
    from scipy.spatial.distance import squareform

    a = np.asarray(rdm)
    if a.ndim == 2 and 1 in a.shape and a.size == N_STIMULI * (N_STIMULI - 1) // 2:
        a = squareform(a.ravel().astype(np.float64), checks=False)
    if a.shape != (N_STIMULI, N_STIMULI):
        raise LayoutError(
            f"load_kriegeskorte_92: {what} in {path.name} has shape {a.shape}; expected "
            f"({N_STIMULI}, {N_STIMULI}) or a condensed vector of {N_STIMULI * (N_STIMULI - 1) // 2}."
        )
    if not np.array_equal(a, a.T) or np.any(np.diag(a) != 0):
        raise LayoutError(f"load_kriegeskorte_92: {what} in {path.name} is not symmetric with a zero diagonal.")
    return a


def _mat(loadmat: Any, path: Path) -> dict[str, Any]:
    """``loadmat(path)``, a damaged file refused in one line (:func:`~neuroxr.datasets._files.read_file`)."""
    return read_file(loadmat, path, "load_kriegeskorte_92", "a MATLAB .mat file")


def load_kriegeskorte_92(root: str | Path, images: bool = True) -> xr.Dataset:
    """Load the 92-image RDMs, stimulus labels and images as one labeled Dataset.

    Parameters
    ----------
    root : str or Path
        Folder with the four ``.mat`` files (see the module docstring).
    images : bool, default True
        Include the 92 stimulus images (175 x 175 x 3 uint8).

    Returns
    -------
    xarray.Dataset
        Stimulus dims ``RDM_DIMS`` (92 each); coords ``stimulus_id`` (``"obj01"``...),
        ``category`` (str), ``human``, ``face``, ``animal``, ``natural`` (bool) on the first
        stimulus dim, and the same ids as ``stimulus_id_`` on the second (the layout of
        :func:`neuroxr.geometry.rdm`, so each RDM variable goes straight into
        :func:`neuroxr.geometry.compare_rdms`). Variables:

        ``hIT`` : (subject, session, *RDM_DIMS), float32
            Human IT fMRI RDMs (1 - Pearson r); ``subject`` = BE, KO, SN, TI; ``session`` = 1, 2.
        ``hIT_mean`` : (*RDM_DIMS), float64
            Subject- and session-averaged human IT RDM of the paper's figure 1 (316 voxels).
        ``mIT`` : (*RDM_DIMS), float64
            Monkey IT RDM, 674 neurons (Kiani et al. 2007).
        ``model_rdm`` : (model, *RDM_DIMS), float64
            The eight RDMs of ``92_modelRDMs.mat`` (``model`` = animacy, FaceBodyManmadeNatobj,
            monkeyIT, EVA, HMAX, V1, Silhouette, RADON).
        ``behaviour`` : (judge, *RDM_DIMS), float64
            16 human similarity-judgment RDMs (``judge`` = subject1 ... subject16).
        ``category_vectors`` : (stimulus, category_label), uint8
            The 12 binary category indicators of the paper.
        ``images`` : (stimulus, y, x, rgb), uint8 (when ``images=True``)

        Attrs: ``source``, ``citations`` (the four papers; each variable's own in its ``citation``
        attr) and ``license`` (MIT, the RSA toolbox's).

    Raises
    ------
    FileNotFoundError
        When a file is missing (the message names it and the folder).
    ValueError
        When an RDM is not 92 x 92 (or condensed), not symmetric or has a non-zero diagonal.
    """
    from scipy.io import loadmat

    images = check_bool(images, "images", "True: include the 92 images; False: leave them out.", caller="load_kriegeskorte_92")
    p = data_folder(root, "load_kriegeskorte_92", "<checkout>/shared/data/kriegeskorte2008_92images")
    paths = {k: p / v for k, v in _FILES.items()}
    missing = [v.name for v in paths.values() if not v.is_file()]
    if missing:
        raise DataNotFoundError(
            f"load_kriegeskorte_92: {missing} not found in {str(p)!r}. Pass the folder with the 92-image "
            f"files of the RSA toolbox (e.g. '<checkout>/shared/data/kriegeskorte2008_92images')."
        )
    da, db = RDM_DIMS

    brain = _mat(loadmat, paths["brain"])["RDMs"]
    if brain.shape != (1, 4, 2):
        raise LayoutError(f"load_kriegeskorte_92: RDMs in {paths['brain'].name} has shape {brain.shape}; expected (1, 4, 2).")
    hit = np.stack([[_square(brain[0, s, k]["RDM"], f"RDMs[0, {s}, {k}]", paths["brain"]) for k in range(2)]
                    for s in range(4)])
    names = [[_str(brain[0, s, k]["name"]) for k in range(2)] for s in range(4)]
    subjects = [n[0].split("|")[1].strip() for n in names]

    sup = _mat(loadmat, paths["supplement"])
    fig1 = sup["RDMs_mIT_hIT_fig1"][0]
    fig1_names = [_str(e["name"]) for e in fig1]
    mit = _square(fig1[fig1_names.index("mIT_674neurons")]["RDM"], "mIT_674neurons", paths["supplement"])
    hit_mean = _square(fig1[fig1_names.index("hITvisStim_316vx")]["RDM"], "hITvisStim_316vx", paths["supplement"])
    stim = sup["stimuli_92objs"][0]
    if stim.shape[0] != N_STIMULI:
        raise LayoutError(f"load_kriegeskorte_92: stimuli_92objs has {stim.shape[0]} entries; expected {N_STIMULI}.")
    category = np.array([_str(e["category"]) for e in stim])
    flags = {f: np.array([bool(np.asarray(e[f]).ravel()[0]) for e in stim]) for f in ("human", "face", "animal", "natural")}
    labels = [_str(x) for x in sup["categoryLabels"].ravel()]

    models = _mat(loadmat, paths["models"])["Models"][0]
    model_names = [_str(e["name"]) for e in models]
    model_dtypes = [str(np.asarray(e["RDM"]).dtype) for e in models]
    model_rdm = np.stack([_square(e["RDM"], f"Models[{i}] ({model_names[i]})", paths["models"]).astype(np.float64)
                          for i, e in enumerate(models)])

    beh = _mat(loadmat, paths["behaviour"])["rdms_behav_92"][0]
    judges = [_str(e["name"]).split("|")[-1].strip() for e in beh]
    behaviour = np.stack([_square(e["RDM"], f"rdms_behav_92[{i}]", paths["behaviour"]).astype(np.float64)
                          for i, e in enumerate(beh)])

    ids = kriegeskorte_stimulus_ids()
    coords: dict[str, Any] = {
        "stimulus_id": (da, ids),
        "category": (da, category),
        **{k: (da, v) for k, v in flags.items()},
        "stimulus_id_": (db, ids),
        "subject": ("subject", np.array(subjects)),
        "session": ("session", np.array([1, 2])),
        "model": ("model", np.array(model_names)),
        "judge": ("judge", np.array(judges)),
        "category_label": ("category_label", np.array(labels)),
    }
    data_vars: dict[str, Any] = {
        "hIT": (("subject", "session", da, db), hit, {
            "description": "human IT fMRI RDMs, 1 - Pearson r", "citation": KRIEGESKORTE_CITATIONS[0],
            "names": [n for row in names for n in row]}),
        "hIT_mean": ((da, db), hit_mean.astype(np.float64), {
            "description": "human IT RDM of figure 1 (hITvisStim_316vx), mean of the 8 hIT RDMs",
            "citation": KRIEGESKORTE_CITATIONS[0]}),
        "mIT": ((da, db), mit.astype(np.float64), {
            "description": "monkey IT RDM, 674 neurons (mIT_674neurons)", "citation": KRIEGESKORTE_CITATIONS[1]}),
        "model_rdm": (("model", da, db), model_rdm, {
            "description": "RDMs of 92_modelRDMs.mat (categorical and computational models; monkeyIT = mIT)",
            "stored_dtypes": model_dtypes, "citation": KRIEGESKORTE_CITATIONS[2]}),
        "behaviour": (("judge", da, db), behaviour, {
            "description": "human similarity-judgment RDMs (Mur et al. 2013)", "citation": KRIEGESKORTE_CITATIONS[3]}),
        "category_vectors": ((da, "category_label"), np.asarray(sup["categoryVectors"], dtype=np.uint8), {}),
    }
    if images:
        imgs = np.stack([np.asarray(e["image"], dtype=np.uint8) for e in stim])
        data_vars["images"] = ((da, "y", "x", "rgb"), imgs, {"description": "the 92 stimulus images"})
    return xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "source": "rsagroup/rsatoolbox demos/92imageData (MIT licence)",
            "citations": list(KRIEGESKORTE_CITATIONS),
            "license": KRIEGESKORTE_LICENSE,
            "rdm_dims": list(RDM_DIMS),
        },
    )
