"""Loader for the macaque V4 recordings of Cowley et al. (2023), read from a local copy.

Cowley, B.R., Stan, P.L., Pillow, J.W. & Smith, M.A. (2023). Compact deep neural network models
of visual cortex. *bioRxiv*. Spike counts of single V4 units (one 100 ms bin per image
presentation) to 112 x 112 colour images; trial-level ("raw") files for some sessions,
repeat-averaged ("avg") files for others.

The data are **not** part of neuroxr (they are GPL-3.0 licensed): every function takes the
folder that holds the files, laid out as::

    root/responses_raw_<session>.npy     (neuron, image, repeat) float64, NaN-padded repeats
    root/responses_avg_<session>.npy     (neuron, image) float64, nanmean over repeats
    root/images_<session>.zip            imageNNNN.jpg (1-based, same order as the image axis)

File quirks handled here (each one is checked in the test suite):

- the arrays are stored **(neuron, image, repeat)**; neuroxr's layout is
  ``(stimulus, neuroid, repeat)``, so the loader transposes;
- spike counts are integers stored as float64; missing repeats are NaN and always trailing,
  with one NaN mask for all neurons (repeat ``k`` of image ``j`` is one presentation);
- the repeat-averaged files equal ``nanmean`` of the raw files; loaded as neural data they get
  a ``repeat`` dim of length 1 (no noise ceiling can be estimated from them);
- session 201016 has no images in the shared copy: its stimulus ids are made from the position
  (``"201016/image0001"`` ...), the same pattern as the image file names of the other sessions;
- in ``images_190923.zip`` the JPEGs sit in a sub-folder.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import DataNotFoundError, LayoutError, ParameterError, install_advice, shown
from ..layouts import neural
from ._files import data_folder, read_file

__all__ = [
    "COWLEY_SESSIONS",
    "COWLEY_CITATION",
    "CowleySession",
    "cowley_sessions",
    "load_cowley_v4",
    "load_cowley_images",
    "cowley_repeat_counts",
]

COWLEY_CITATION = (
    "Cowley, B.R., Stan, P.L., Pillow, J.W. and Smith, M.A. (2023). Compact deep neural network "
    "models of visual cortex. bioRxiv."
)


@dataclass(frozen=True)
class CowleySession:
    """What is known about one recording session (from the authors' data table; ``n_images`` from
    the files: the table lists 900 images for 201016, whose file and the table's own breakdown,
    300 normal + 300 "gaudy" images, hold 600).

    Attributes
    ----------
    session : str
        Session id, e.g. ``"210325"``.
    animal : str
        Monkey id (``"PE"``, ``"WE"`` or ``"RA"``).
    role : str
        The authors' use of the session (``"train"`` or ``"test"``).
    n_neurons, n_images : int
        Array sizes in the files.
    """

    session: str
    animal: str
    role: str
    n_neurons: int
    n_images: int


COWLEY_SESSIONS: dict[str, CowleySession] = {
    s.session: s
    for s in (
        CowleySession("210325", "PE", "test", 50, 640),
        CowleySession("201016", "PE", "train", 82, 600),
        CowleySession("190923", "WE", "test", 33, 1200),
        CowleySession("210621", "RA", "train", 51, 1200),
    )
}

_IMAGE_RE = re.compile(r"(?:^|/)(image\d+)\.jpe?g$", re.IGNORECASE)


def _session_animal(session: str, meta: CowleySession | None, animal: str | None) -> str:
    """The session's animal: the authors' table's, or ``animal`` for a session outside it."""
    if animal is not None and (not isinstance(animal, str) or not animal or "/" in animal):
        raise ParameterError(f"load_cowley_v4: animal must be a non-empty id without '/'; got {shown(animal)}.")
    if meta is None:
        if animal is None:
            raise ParameterError(
                f"load_cowley_v4: session {session!r} is not in the authors' table "
                f"({', '.join(sorted(COWLEY_SESSIONS))}); pass animal= to name its monkey."
            )
        return animal
    if animal is not None and animal != meta.animal:
        raise ParameterError(
            f"load_cowley_v4: session {session!r} was recorded in monkey {meta.animal!r} (the authors' "
            f"table); got animal={animal!r}. Leave animal unset for published sessions."
        )
    return meta.animal


def _root(root: str | Path, what: str) -> Path:
    """The folder of the files of Cowley et al. (2023) (:func:`~neuroxr.datasets._files.data_folder`)."""
    return data_folder(root, what, "<checkout>/shared/data/cowley2023_v4")


def _session(session: str | int, what: str) -> str:
    """A session id (``"210325"``; an int is its digits), else a one-line :class:`ParameterError`:
    ``str(None)`` or a list's text named a session file that cannot exist."""
    if isinstance(session, bool) or not isinstance(session, (str, int, np.integer)) or not str(session).strip():
        raise ParameterError(f"{what}: session must be a session id such as '210325'; got {shown(session)}. "
                             f"Published sessions: {', '.join(sorted(COWLEY_SESSIONS))}.")
    return str(session)


def cowley_sessions(root: str | Path) -> dict[str, dict[str, bool]]:
    """List which files exist per session in ``root``.

    Parameters
    ----------
    root : str or Path
        Folder with the ``responses_*`` and ``images_*`` files.

    Returns
    -------
    dict
        ``{session: {"raw": bool, "avg": bool, "images": bool}}`` for every session that has
        at least one file, sorted by session id.
    """
    p = _root(root, "cowley_sessions")
    found: dict[str, dict[str, bool]] = {}
    for f in p.iterdir():
        m = re.fullmatch(r"responses_(raw|avg)_(\d+)\.npy|images_(\d+)\.zip", f.name)
        if not m:
            continue
        if m.group(1):
            found.setdefault(m.group(2), {"raw": False, "avg": False, "images": False})[m.group(1)] = True
        else:
            found.setdefault(m.group(3), {"raw": False, "avg": False, "images": False})["images"] = True
    return dict(sorted(found.items()))


def _image_names(zpath: Path, caller: str = "load_cowley_images") -> list[tuple[str, str]]:
    """(member name, stem) of every JPEG in the zip, in the order of their numbers, which must be
    1..n: the number is the image's position on the responses' image axis (``image10`` follows
    ``image9``, whatever the zero-padding; a name order would put it before ``image2``)."""
    with read_file(zipfile.ZipFile, zpath, caller, "a zip of JPEG images") as z:
        out = []
        for name in z.namelist():
            m = _IMAGE_RE.search(name)
            if m:
                out.append((name, m.group(1)))
    out.sort(key=lambda t: int(t[1][len("image"):]))
    numbers = [int(stem[len("image"):]) for _, stem in out]
    bad = next((j for j, k in enumerate(numbers) if k != j + 1), None)
    if bad is not None:  # a number missing, repeated (two folders, image1 and image0001) or not 1-based
        raise LayoutError(
            f"{zpath.name}: its {len(out)} images are not numbered 1..{len(out)} (number {bad + 1} in order is "
            f"{out[bad][0]!r}); the number is the image's position on the responses' image axis, so the pairing "
            f"cannot be read: restore the session's published zip."
        )
    return out


def _position_ids(session: str, n: int) -> np.ndarray:
    return np.array([f"{session}/image{j + 1:04d}" for j in range(n)])


def load_cowley_images(root: str | Path, session: str = "210325") -> tuple[np.ndarray, np.ndarray]:
    """Decode the images of one session.

    Parameters
    ----------
    root : str or Path
        Folder with ``images_<session>.zip``.
    session : str, default "210325"
        Session id; images exist for 210325, 190923 and 210621 (not for 201016 in the shared copy).

    Returns
    -------
    images : numpy.ndarray, shape (n_images, 112, 112, 3), uint8
        RGB images in the order of their file numbers (imageNNNN, 1-based), the order of the image
        axis of the responses.
    stimulus_id : numpy.ndarray of str, shape (n_images,)
        ``"<session>/imageNNNN"``, the ids :func:`load_cowley_v4` gives the same stimuli.

    Raises
    ------
    FileNotFoundError
        When the zip is missing (the message lists the sessions that have images).
    ImportError
        When Pillow is not installed (it decodes the JPEGs).
    """
    session = _session(session, "load_cowley_images")
    p = _root(root, "load_cowley_images")
    zpath = p / f"images_{session}.zip"
    if not zpath.is_file():
        have = [s for s, v in cowley_sessions(p).items() if v["images"]]
        raise DataNotFoundError(
            f"load_cowley_images: {zpath.name} not found in {str(p)!r}; sessions with images there: {have}. "
            + ("Session 201016 has no images in the shared copy; its responses still load by position."
               if session == "201016" else "Pick one of those sessions.")
        )
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"load_cowley_images needs Pillow to decode the JPEGs: {install_advice('PIL')}.") from e
    names = _image_names(zpath)
    if not names:
        raise LayoutError(f"load_cowley_images: {zpath} holds no imageNNNN.jpg files.")
    imgs = []
    with read_file(zipfile.ZipFile, zpath, "load_cowley_images", "a zip of JPEG images") as z:
        for member, _stem in names:
            with Image.open(io.BytesIO(z.read(member))) as im:
                imgs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    shapes = {a.shape for a in imgs}
    if len(shapes) != 1:
        raise LayoutError(f"load_cowley_images: {zpath.name} holds images of several shapes {sorted(shapes)}.")
    ids = np.array([f"{session}/{stem}" for _, stem in names])
    return np.stack(imgs), ids


def cowley_repeat_counts(raw: np.ndarray | xr.DataArray) -> np.ndarray:
    """Valid repeats per image of a raw file, checking the trailing, shared NaN mask.

    Parameters
    ----------
    raw : numpy.ndarray, shape (n_neurons, n_images, max_repeats), or xarray.DataArray
        A ``responses_raw_*`` array in the file's axis order, or a neural DataArray (dims
        ``stimulus``, ``neuroid``, ``repeat``, e.g. from :func:`load_cowley_v4`), read by its dims.

    Returns
    -------
    numpy.ndarray of int, shape (n_images,)
        Number of valid (non-NaN) repeats of each image (of each stimulus of a DataArray, in its order).

    Raises
    ------
    ValueError
        When the array is not 3-D (a repeat-averaged file has no repeats to count), the NaN mask
        differs between neurons (e.g. an array in another axis order) or NaNs are not trailing
        (one-line :class:`~neuroxr.errors.LayoutError`).
    """
    return _repeat_counts(raw, "cowley_repeat_counts: raw")


def _repeat_counts(raw: np.ndarray | xr.DataArray, name: str) -> np.ndarray:
    """:func:`cowley_repeat_counts`, the messages starting with ``name`` (the caller and the array or file)."""
    if isinstance(raw, xr.DataArray):
        dims = ("neuroid", "stimulus", "repeat")
        if set(raw.dims) != set(dims):
            raise LayoutError(f"{name}: a DataArray needs dims {dims[1]}, {dims[0]}, {dims[2]} (a neural array of trials); "
                              f"got dims {tuple(map(str, raw.dims))}.")
        raw = raw.transpose(*dims).values
    raw = np.asarray(raw)
    if raw.ndim != 3 or raw.dtype.kind not in "fiub":
        raise LayoutError(f"{name}: expected a numeric 3-D array (neuron, image, repeat), as responses_raw_*.npy holds; got "
                          f"shape {raw.shape}, dtype {raw.dtype} (a repeat-averaged file has no repeats to count).")
    valid = ~np.isnan(raw) if raw.dtype.kind == "f" else np.ones(raw.shape, dtype=bool)
    if not (valid == valid[:1]).all():
        bad = np.flatnonzero((valid != valid[:1]).any(axis=(0, 2)))
        raise LayoutError(
            f"{name}: the NaN mask differs between neurons (axis 0) for {bad.size} of {raw.shape[1]} images (axis 1) "
            f"(e.g. image index {bad[:5].tolist()}); expected one mask shared by all neurons, in the file's axis order "
            f"(neuron, image, repeat): an array in neuroxr's (stimulus, neuroid, repeat) order is read by its dims as a DataArray."
        )
    v0 = valid[0]
    n = v0.sum(axis=1)
    trailing = v0 == (np.arange(raw.shape[2])[None, :] < n[:, None])
    if not trailing.all():
        bad = np.flatnonzero(~trailing.all(axis=1))
        raise LayoutError(
            f"{name}: missing repeats are not all trailing for {bad.size} images "
            f"(e.g. image index {bad[:5].tolist()})."
        )
    return n.astype(int)


def load_cowley_v4(
    root: str | Path,
    session: str = "210325",
    kind: Literal["raw", "avg"] = "raw",
    animal: str | None = None,
) -> xr.DataArray:
    """Load one V4 session as a neural array ``stimulus x neuroid x repeat``.

    Parameters
    ----------
    root : str or Path
        Folder with the files (see the module docstring).
    session : str, default "210325"
        ``"210325"`` or ``"201016"`` (raw and avg), ``"190923"`` or ``"210621"`` (avg only).
    kind : {"raw", "avg"}, default "raw"
        ``"raw"``: single trials, missing trials NaN. ``"avg"``: the authors' repeat-averaged
        responses, returned with a ``repeat`` dim of length 1.
    animal : str, optional
        The monkey's id. Known sessions take it from the authors' table (a different value is
        refused); a session outside the table (a file laid out like the published ones) needs it:
        neuroids of two animals must never share one label.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, neuroid, repeat)``, float64
        Spike counts per 100 ms. Coords: ``stimulus_id`` (``"<session>/imageNNNN"``, from the
        image file names when the images exist, else from the position),
        ``image_index`` (1-based) and, for raw data, ``n_repeats`` on ``stimulus``;
        ``neuroid_id`` (``"<animal>/<session>/n<NN>"``, numbered from 1: ``n01`` is the file's
        row 0, the authors' ``neuron0``), ``animal``, ``session`` and ``region`` (``"V4"``) on
        ``neuroid``. Attrs name the source, citation and licence. Session 210621 shows two
        pictures twice under two ids each (``image0101`` = ``image0536``, ``image0425`` =
        ``image0697``, byte-identical files): keep one of each pair where repeated stimuli would
        leak between folds.

    Raises
    ------
    FileNotFoundError
        When the file is missing (the message lists what the folder holds).
    ValueError
        When ``kind`` is unknown, or the array does not have the shape or NaN structure the
        authors describe (e.g. the axes were saved in another order).
    ParameterError
        When ``animal`` is missing for a session outside the authors' table, or contradicts it.
    """
    session = _session(session, "load_cowley_v4")
    if kind not in ("raw", "avg"):
        raise LayoutError(f"load_cowley_v4: kind must be 'raw' or 'avg'; got {shown(kind)}.")
    meta = COWLEY_SESSIONS.get(session)
    animal = _session_animal(session, meta, animal)
    p = _root(root, "load_cowley_v4")
    path = p / f"responses_{kind}_{session}.npy"
    if not path.is_file():
        have = {s: [k for k, v in d.items() if v] for s, d in cowley_sessions(p).items()}
        raise DataNotFoundError(
            f"load_cowley_v4: {path.name} not found in {str(p)!r}. Files there per session: {have}. "
            f"Trial-level ('raw') files exist only for 210325 and 201016 in the shared copy; use "
            f"kind='avg' for the others."
        )
    arr = read_file(np.load, path, "load_cowley_v4", "a .npy array")
    want_ndim = 3 if kind == "raw" else 2
    if arr.ndim != want_ndim:
        raise LayoutError(
            f"load_cowley_v4: {path.name} has shape {arr.shape}; expected {want_ndim} axes "
            f"(neuron, image{', repeat' if kind == 'raw' else ''})."
        )
    if meta is not None and arr.shape[:2] != (meta.n_neurons, meta.n_images):
        raise LayoutError(
            f"load_cowley_v4: {path.name} has shape {arr.shape}; the session's published files have "
            f"(neuron={meta.n_neurons}, image={meta.n_images}{', repeat' if kind == 'raw' else ''}). "
            f"Is the file stored in another axis order?"
        )
    n_neurons, n_images = arr.shape[:2]

    zpath = p / f"images_{session}.zip"
    if zpath.is_file():
        stems = [stem for _, stem in _image_names(zpath, "load_cowley_v4")]
        if len(stems) != n_images:
            raise LayoutError(
                f"load_cowley_v4: {zpath.name} holds {len(stems)} images but {path.name} has "
                f"{n_images} along its image axis (axis 1)."
            )
        stim_ids = np.array([f"{session}/{s}" for s in stems])
        stim_source = f"image file names in {zpath.name}"
    else:
        stim_ids = _position_ids(session, n_images)
        stim_source = "position along the image axis (no images in this folder)"

    neuroid_ids = [f"{animal}/{session}/n{i + 1:02d}" for i in range(n_neurons)]
    if kind == "raw":
        n_rep = _repeat_counts(arr, f"load_cowley_v4: {path.name}")
        data = np.ascontiguousarray(np.transpose(arr, (1, 0, 2)), dtype=np.float64)
    else:
        n_rep = None
        data = np.ascontiguousarray(arr.T, dtype=np.float64)[:, :, None]
    attrs = {
        "source": "Cowley et al. (2023), github.com/cowleygroup/V4_compact_models",
        "citation": COWLEY_CITATION,
        "license": "GPL-3.0 (data files; not redistributed with neuroxr)",
        "session": session,
        "kind": kind,
        "units": "spike count per 100 ms bin",
        "stimulus_id_source": stim_source,
        "file": path.name,
    }
    if meta is not None:
        attrs["role"] = meta.role
    try:
        da = neural(
            data,
            stimulus_id=stim_ids,
            neuroid_id=neuroid_ids,
            name=f"cowley_v4_{session}_{kind}",
            attrs=attrs,
            animal=np.full(n_neurons, animal),
            session=np.full(n_neurons, session),
            region=np.full(n_neurons, "V4"),
        )
    except LayoutError as e:  # pragma: no cover - the file content would be broken
        raise LayoutError(f"load_cowley_v4: {path.name} does not give a valid neural array: {e}") from e
    da = da.assign_coords(image_index=("stimulus", np.arange(1, n_images + 1)))
    if n_rep is not None:
        da = da.assign_coords(n_repeats=("stimulus", n_rep))
    return da
