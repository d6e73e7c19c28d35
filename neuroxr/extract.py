"""Feature extraction from torch models into the study store, within a memory budget.

The flow::

    stimuli (image folder | tensor/array | torch Dataset)
      -> probe: one small batch through the model with hooks on every module
         (output shapes, execution order, aliases such as in-place ReLUs)
      -> plan: per layer bytes, batch size and layer groups that fit ``memory_limit``
      -> one pass over the stimuli per group; a forward hook streams each batch of each
         layer straight to Zarr (optionally reduced by random projection or PCA)
      -> per layer: rechunk to the store layout (whole stimulus axis, units chunked),
         then write the completion marker last.

torch is imported only inside the functions that need it: ``import neuroxr.extract`` does not
import torch.

Memory model
------------
What the extraction itself holds while a batch of ``b`` stimuli goes through one layer with
``p`` raw units (``q`` stored units, ``q = p`` unless reduced) is counted as::

    in_flight(b) = b * (input_bytes + p * raw_itemsize + 2 * q * itemsize)  # input batch, activations,
                                                                           # stored values, encoded chunks
                 + b * p * raw_itemsize                                    # (reduced layers: projection copy)
    state        = reducer parameters of every reduced layer of the group (PCA: k x p, SRP: sparse k x p)

plus a fixed reserve of ``RESERVE_BYTES`` (256 KiB) for Zarr's per-chunk bookkeeping (each write
call covers at most 16 chunks). Layers are written from inside their hook, one at a time, so a
group fits the budget when ``RESERVE_BYTES + sum(state) + max(in_flight) <= memory_limit``.
After a pass, each layer is rechunked one stored chunk (``n_stimuli x unit_chunk`` values) at a
time, with ``unit_chunk`` chosen so that four such chunks fit the budget. Unit coords are
written in blocks too. The model's own activations and parameters (held by torch) are not part
of the budget.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import math
import os
import re
import sys
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
import zarr

from .store import DATA_VAR, StoreError, StudyStore, _check_name, _jsonable

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "ExtractionError",
    "ExtractionPlan",
    "ExtractionResult",
    "LayerPlan",
    "default_image_transform",
    "extract_command",
    "extract_features",
    "image_files",
    "load_model",
    "parse_memory",
    "plan_extraction",
]

RESERVE_BYTES = 256 * 1024
_CHUNKS_PER_WRITE = 16
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


from .errors import ExtractionError  # noqa: E402


# ---------------------------------------------------------------------------- small helpers
def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "neuroxr.extract needs torch. Install it with `pip install neuroxr[torch]` "
            "(or see https://pytorch.org for a CUDA build)."
        ) from exc
    return torch


_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_memory(value: int | float | str) -> int:
    """A number of bytes from ``value``.

    Parameters
    ----------
    value : int, float or str
        Bytes as a number, or a string such as ``"512MB"``, ``"1.5 GiB"``, ``"64kib"``
        (decimal ``kB/MB/GB/TB`` and binary ``KiB/MiB/GiB/TiB`` units).

    Returns
    -------
    int
        The number of bytes (at least 1).
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = int(value)
    elif isinstance(value, (float, np.floating)):
        out = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise ExtractionError(
                f"memory_limit {value!r} is not understood; use bytes (e.g. 500000000) or a string "
                f"such as '500MB' or '2GiB'."
            )
        out = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise ExtractionError(f"memory_limit must be an int or a string like '2GiB'; got {type(value).__name__}.")
    if out < 1:
        raise ExtractionError(f"memory_limit must be positive; got {value!r}.")
    return out


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _layer_name(module_name: str) -> str:
    """A store-safe layer name for the module ``module_name`` (``""`` is the whole model)."""
    if module_name == "":
        return "output"
    name = re.sub(r"[^A-Za-z0-9._\-]", "_", module_name)
    name = re.sub(r"_{2,}", "_", name)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)
    return name or "layer"


# ---------------------------------------------------------------------------- stimuli
def default_image_transform(image_size: int | tuple[int, int] | None = 224) -> Callable[[Any], torch.Tensor]:
    """The default PIL image -> tensor transform.

    Parameters
    ----------
    image_size : int, (height, width) or None
        Size the image is resized to (bilinear; an int gives a square image, the aspect ratio is
        not kept). ``None`` keeps each image's own size.

    Returns
    -------
    callable
        ``f(image) -> torch.Tensor`` of shape ``(3, height, width)``, float32 in ``[0, 1]``
        (the image is converted to RGB first).
    """
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else image_size

    def transform(image: Any) -> torch.Tensor:
        torch = _torch()
        from PIL import Image

        img = image.convert("RGB")
        if size is not None:
            img = img.resize((int(size[1]), int(size[0])), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    transform.image_size = size  # type: ignore[attr-defined]
    return transform


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name.

    Recognised extensions: ``.png .jpg .jpeg .bmp .gif .tif .tiff .webp .ppm .pgm`` (any case).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ExtractionError(f"stimuli folder {str(folder)!r} does not exist or is not a folder.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ExtractionError(
            f"no image files in {str(folder)!r} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
            f"sub-folders are not searched."
        )
    return files


class _Stimuli:
    """Random access to a batch of stimuli as one tensor ``(batch, ...)``."""

    def __init__(self, n: int, ids: np.ndarray, loader: Callable[[np.ndarray], Any], kind: str) -> None:
        self.n = n
        self.ids = ids
        self._loader = loader
        self.kind = kind

    def load(self, index: np.ndarray) -> torch.Tensor:
        return self._loader(np.asarray(index))


def _check_ids(ids: Any, n: int, default: Sequence[str] | None) -> np.ndarray:
    if ids is None:
        arr = np.array(list(default) if default is not None else [f"stimulus{i}" for i in range(n)], dtype=str)
    else:
        arr = np.asarray(ids).astype(str)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ExtractionError(f"stimulus_ids has shape {arr.shape}; pass one id per stimulus ({n}).")
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5].tolist()
        raise ExtractionError(
            f"stimulus ids must be unique; {int((counts > 1).sum())} are repeated, e.g. {dup}. "
            f"Pass stimulus_ids=... explicitly (file names are used without their extension)."
        )
    return arr


def _as_stimuli(
    stimuli: Any,
    stimulus_ids: Sequence[str] | None,
    transform: Callable[[Any], Any] | None,
    image_size: int | tuple[int, int] | None,
) -> _Stimuli:
    torch = _torch()
    if isinstance(stimuli, _Stimuli):
        return stimuli

    def stack(items: list[Any], what: str) -> torch.Tensor:
        ts = [torch.as_tensor(np.asarray(t)) if not isinstance(t, torch.Tensor) else t for t in items]
        shapes = {tuple(t.shape) for t in ts}
        if len(shapes) > 1:
            raise ExtractionError(
                f"{what} have different shapes {sorted(shapes)[:3]}; give a transform or image_size "
                f"that makes every stimulus the same shape."
            )
        return torch.stack(ts)

    # a folder of images, or a list of image files
    if isinstance(stimuli, (str, os.PathLike)) or (
        isinstance(stimuli, (list, tuple)) and stimuli and all(isinstance(s, (str, os.PathLike)) for s in stimuli)
    ):
        files = image_files(stimuli) if isinstance(stimuli, (str, os.PathLike)) else [Path(s) for s in stimuli]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ExtractionError(f"{len(missing)} image files do not exist, e.g. {missing[:3]}.")
        tf = transform if transform is not None else default_image_transform(image_size)
        ids = _check_ids(stimulus_ids, len(files), [f.stem for f in files])

        def load_files(index: np.ndarray) -> torch.Tensor:
            from PIL import Image

            items = []
            for i in index:
                with Image.open(files[int(i)]) as img:
                    img.load()
                    items.append(tf(img))
            return stack(items, "images after the transform")

        return _Stimuli(len(files), ids, load_files, "folder")

    # an in-memory array (N, C, H, W) or (N, ...)
    if isinstance(stimuli, (np.ndarray, torch.Tensor)):
        data = stimuli
        if data.ndim < 2:
            raise ExtractionError(f"a stimulus array needs shape (n_stimuli, ...), e.g. (N, C, H, W); got {tuple(data.shape)}.")
        n = int(data.shape[0])
        ids = _check_ids(stimulus_ids, n, None)

        def load_array(index: np.ndarray) -> torch.Tensor:
            if isinstance(data, np.ndarray):
                batch = torch.from_numpy(np.ascontiguousarray(data[index]))
            else:
                batch = data[torch.as_tensor(index, dtype=torch.long, device=data.device)]
            if transform is not None:
                return stack([transform(x) for x in batch], "stimuli after the transform")
            return batch

        return _Stimuli(n, ids, load_array, "array")

    # a torch Dataset (map-style: __len__ and __getitem__)
    if isinstance(stimuli, torch.utils.data.Dataset) or (hasattr(stimuli, "__getitem__") and hasattr(stimuli, "__len__")):
        ds = stimuli
        n = len(ds)
        ids = _check_ids(stimulus_ids, n, getattr(ds, "stimulus_ids", None))

        def item(i: int) -> Any:
            x = ds[i]
            if isinstance(x, (tuple, list)):
                x = x[0]
            elif isinstance(x, Mapping):
                key = next((k for k in ("image", "stimulus", "input", "x") if k in x), None)
                if key is None:
                    raise ExtractionError(
                        f"dataset items are dicts with keys {sorted(x)[:5]}; expected one of "
                        f"'image', 'stimulus', 'input', 'x' (or return a tensor/tuple)."
                    )
                x = x[key]
            if transform is not None:
                return transform(x)
            if hasattr(x, "convert") and hasattr(x, "size"):  # a PIL image
                return default_image_transform(image_size)(x)
            return x

        def load_dataset(index: np.ndarray) -> torch.Tensor:
            return stack([item(int(i)) for i in index], "dataset items")

        return _Stimuli(n, ids, load_dataset, "dataset")

    raise ExtractionError(
        f"stimuli of type {type(stimuli).__name__} are not supported; pass a folder of images, a list "
        f"of image files, an array/tensor of shape (N, C, H, W) or a torch Dataset."
    )


# ---------------------------------------------------------------------------- reduction
_REDUCTION_KEYS = {"method", "n_components", "fit_stimuli", "seed"}


def _reduction_spec(reduction: Mapping[str, Any] | None, n: int) -> dict[str, Any] | None:
    if reduction is None:
        return None
    if not isinstance(reduction, Mapping):
        raise ExtractionError(
            "reduction must be a dict such as {'method': 'srp', 'n_components': 1000, 'fit_stimuli': 500, 'seed': 0}."
        )
    unknown = set(reduction) - _REDUCTION_KEYS
    if unknown:
        raise ExtractionError(f"reduction has unknown keys {sorted(unknown)}; allowed: {sorted(_REDUCTION_KEYS)}.")
    method = str(reduction.get("method", "")).lower()
    if method not in ("srp", "pca"):
        raise ExtractionError(f"reduction method must be 'srp' or 'pca'; got {reduction.get('method')!r}.")
    k = reduction.get("n_components")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ExtractionError(f"reduction n_components must be a positive int; got {k!r}.")
    m = reduction.get("fit_stimuli", n)
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 1:
        raise ExtractionError(f"reduction fit_stimuli must be a positive int; got {m!r}.")
    m = min(int(m), n)
    if method == "pca" and m < k:
        raise ExtractionError(
            f"PCA with n_components={k} needs at least {k} fit stimuli; fit_stimuli is {m} "
            f"(there are {n} stimuli). Lower n_components or raise fit_stimuli."
        )
    seed = int(reduction.get("seed", 0))
    return {"method": method, "n_components": int(k), "fit_stimuli": m, "seed": seed}


def _fit_index(spec: Mapping[str, Any], n: int) -> np.ndarray:
    m = spec["fit_stimuli"]
    if m >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(spec["seed"]).choice(n, size=m, replace=False))


def _fit_batches(m: int, b_fit: int) -> list[np.ndarray]:
    """Split ``arange(m)`` into consecutive parts of at least ``b_fit`` rows (one part if ``m < 2 b_fit``)."""
    parts = max(1, m // b_fit)
    return np.array_split(np.arange(m), parts)


class _SRP:
    """A fitted sparse random projection ``x -> x @ C.T`` (C: sparse ``k x p``, float32)."""

    def __init__(self, p: int, k: int, n_fit: int, seed: int) -> None:
        import scipy.sparse as sp
        from sklearn.random_projection import SparseRandomProjection

        est = SparseRandomProjection(n_components=k, random_state=seed, dense_output=False)
        est.fit(sp.csr_matrix((n_fit, p), dtype=np.float32))  # SRP only needs the shape
        self.components = sp.csr_matrix(est.components_, dtype=np.float32)
        self.info = {"estimator": "sklearn.random_projection.SparseRandomProjection", "density": float(est.density_)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((self.components @ x.T).T, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        c = self.components
        return int(c.data.nbytes + c.indices.nbytes + c.indptr.nbytes)


class _PCA:
    """An incrementally fitted PCA ``x -> (x - mean) @ W.T`` (float32)."""

    def __init__(self, k: int) -> None:
        from sklearn.decomposition import IncrementalPCA

        self._ipca: Any = IncrementalPCA(n_components=k)
        self.components: np.ndarray | None = None
        self.info: dict[str, Any] = {}

    def partial_fit(self, x: np.ndarray) -> None:
        self._ipca.partial_fit(np.array(x, dtype=np.float32))

    def finish(self) -> None:
        ipca = self._ipca
        self.components = np.ascontiguousarray(ipca.components_, dtype=np.float32)
        self.offset = (ipca.mean_ @ ipca.components_.T).astype(np.float32)
        self.info = {
            "estimator": "sklearn.decomposition.IncrementalPCA",
            "explained_variance_ratio": ipca.explained_variance_ratio_.astype(float).tolist(),
        }
        self._ipca = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # (x - mean) @ W.T without a centred copy of x
        y = x @ self.components.T
        y -= self.offset
        return y

    @property
    def nbytes(self) -> int:
        return 0 if self.components is None else int(self.components.nbytes + self.offset.nbytes)


def _reducer_state_bytes(method: str, p: int, k: int) -> int:
    if method == "srp":
        nnz = k * math.sqrt(p) * 1.25  # density 1/sqrt(p), with a margin for the draw
        return int(nnz * 8 + (k + 1) * 8)
    return int(k * p * 8 + 2 * p * 8)  # IncrementalPCA holds float64 components, mean and variance


def _pca_fit_transient(p: int, k: int, rows: int) -> int:
    # partial_fit: a float32 copy, float64 column statistics, the stacked (k + rows) x p matrix
    # (float64) and its SVD (U, Vt and LAPACK's copy of the input).
    return int(rows * p * (4 + 16) + 3 * (k + rows + 1) * p * 8)


# ---------------------------------------------------------------------------- plan
@dataclass
class LayerPlan:
    """What one layer's extraction produces and needs.

    Attributes
    ----------
    name : str
        Layer name in the store (``features/<model>/<name>``).
    module_name : str
        The module's name in ``model.named_modules()`` (``""`` is the whole model).
    module_type : str
        The module's class name, e.g. ``"Conv2d"``.
    output_shape : tuple of int
        Output shape of one stimulus before flattening, e.g. ``(C, H, W)``.
    n_units : int
        Units stored per stimulus (``prod(output_shape)``, or ``n_components`` when reduced).
    dtype : str
        Stored dtype.
    nbytes : int
        Uncompressed bytes of the stored array: ``n_stimuli * n_units * itemsize``.
    raw_nbytes : int
        Bytes of the layer's full output before any reduction:
        ``n_stimuli * prod(output_shape) * itemsize`` (equals ``nbytes`` without reduction).
    depth_index : int
        Rank of the module's output in the model's execution order (all modules counted).
    relative_depth : float
        Position in ``[0, 1]`` among the model's leaf-module calls (0 first, 1 last).
    batch_size : int
        Stimuli per batch in this layer's pass.
    group : int
        The pass (0-based) in which this layer is extracted; ``-1`` if it is already complete.
    in_flight_bytes : int
        What the extraction holds for this layer per batch (see the module docstring).
    input_bytes : int
        Bytes of one stimulus as fed to the model.
    state_bytes : int
        Bytes of the fitted reducer kept during the pass (0 without reduction).
    unit_chunk : int
        Units per stored chunk (each chunk spans the whole stimulus axis).
    reduction : dict or None
        The reduction applied to this layer (``None``: stored as is).
    status : str
        ``"todo"`` or ``"complete"`` (already in the store).
    """

    name: str
    module_name: str
    module_type: str
    output_shape: tuple[int, ...]
    n_raw_units: int
    n_units: int
    raw_dtype: str
    dtype: str
    nbytes: int
    raw_nbytes: int
    depth_index: int
    relative_depth: float
    batch_size: int = 0
    group: int = -1
    in_flight_bytes: int = 0
    state_bytes: int = 0
    input_bytes: int = 0
    unit_chunk: int = 0
    reduction: dict[str, Any] | None = None
    status: str = "todo"

    def in_flight(self, b: int) -> int:
        raw = self.n_raw_units * np.dtype(self.raw_dtype).itemsize
        out = self.n_units * np.dtype(self.dtype).itemsize
        extra = raw if self.reduction is not None else 0
        return int(b * (self.input_bytes + raw + 2 * out + extra))


@dataclass
class ExtractionPlan:
    """The result of a dry run: every layer's shape, bytes, batch size and pass.

    Attributes
    ----------
    model_name : str
    n_stimuli : int
    stimulus_ids : numpy.ndarray of str, shape (n_stimuli,)
    memory_limit : int
        The budget in bytes.
    layers : list of LayerPlan
        In execution order.
    groups : list of list of str
        Layer names per pass over the stimuli (only layers still to do).
    skipped : dict
        Modules left out and why (aliases, modules called several times, non-tensor outputs).
    aliases : dict
        ``{module_name: earlier_module_name}`` for modules that return the very tensor object an
        earlier selected module returned (in-place activations, ``Identity``, ``Dropout`` in eval).
    """

    model_name: str
    n_stimuli: int
    stimulus_ids: np.ndarray = field(repr=False)
    memory_limit: int
    batch_size: int
    layers: list[LayerPlan]
    groups: list[list[str]]
    skipped: dict[str, str]
    aliases: dict[str, str]

    @property
    def nbytes(self) -> int:
        """Uncompressed bytes of all planned layers as stored."""
        return sum(layer.nbytes for layer in self.layers)

    @property
    def todo(self) -> list[LayerPlan]:
        """Layers not yet complete in the store."""
        return [layer for layer in self.layers if layer.status == "todo"]

    def layer(self, name: str) -> LayerPlan:
        """The plan of the layer called ``name`` (store name or module name)."""
        for layer in self.layers:
            if name in (layer.name, layer.module_name):
                return layer
        raise KeyError(f"no layer {name!r} in the plan; planned: {[l.name for l in self.layers]}.")

    def to_dataframe(self) -> Any:
        """The per-layer table as a pandas DataFrame (index: layer name)."""
        import pandas as pd

        rows = [
            {
                "module": l.module_name, "type": l.module_type, "output_shape": l.output_shape,
                "units": l.n_units, "nbytes": l.nbytes, "batch_size": l.batch_size, "group": l.group,
                "in_flight_bytes": l.in_flight_bytes, "depth_index": l.depth_index,
                "relative_depth": l.relative_depth, "status": l.status,
            }
            for l in self.layers
        ]
        return pd.DataFrame(rows, index=pd.Index([l.name for l in self.layers], name="layer"))

    def __str__(self) -> str:
        head = (
            f"Extraction plan for {self.model_name!r}: {self.n_stimuli} stimuli, {len(self.layers)} layers, "
            f"{_fmt_bytes(self.nbytes)} stored, {len(self.groups)} pass(es), memory limit {_fmt_bytes(self.memory_limit)}"
        )
        w = max([len(l.name) for l in self.layers] + [5])
        lines = [head, f"  {'layer':<{w}}  {'type':<14} {'output shape':<18} {'units':>9} {'stored':>11} {'batch':>6} {'pass':>5}  status"]
        for l in self.layers:
            lines.append(
                f"  {l.name:<{w}}  {l.module_type[:14]:<14} {str(l.output_shape):<18} {l.n_units:>9} "
                f"{_fmt_bytes(l.nbytes):>11} {l.batch_size:>6} {l.group if l.group >= 0 else '-':>5}  {l.status}"
            )
        for name, why in self.skipped.items():
            lines.append(f"  skipped {name or '<model>'}: {why}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # pragma: no cover - IPython display
        p.text(str(self))


@dataclass
class ExtractionResult:
    """What :func:`extract_features` did.

    Attributes
    ----------
    plan : ExtractionPlan
    written : list of str
        Layers written by this call, in order.
    skipped : list of str
        Layers already complete in the store (not recomputed).
    paths : dict
        ``{layer: "features/<model>/<layer>"}`` for every planned layer.
    n_passes : int
        Passes over the stimuli made (PCA fits add one short pass per group).
    largest_buffer_bytes : int
        The largest activation/feature array the extraction held at once (numpy ``nbytes``).
    """

    plan: ExtractionPlan
    written: list[str]
    skipped: list[str]
    paths: dict[str, str]
    n_passes: int
    largest_buffer_bytes: int


def _select_modules(model: Any, layers: Any) -> tuple[list[str], bool]:
    """Names of the candidate modules and whether the user named them explicitly."""
    named = dict(model.named_modules())
    if layers is None:
        leaves = [n for n, m in named.items() if not any(True for _ in m.children())]
        return leaves, False
    if callable(layers):
        chosen = [n for n, m in named.items() if layers(n, m)]
        if not chosen:
            raise ExtractionError("the layers filter selected no module of the model.")
        return chosen, False
    if isinstance(layers, str):
        layers = [layers]
    out = []
    by_store_name = {_layer_name(n): n for n in named}
    for name in layers:
        name = str(name)
        if name in named:
            out.append(name)
        elif name in by_store_name:
            out.append(by_store_name[name])
        else:
            close = difflib.get_close_matches(name, list(named), n=5)
            listed = ", ".join(repr(n) for n in list(named)[1:8])
            raise ExtractionError(
                f"the model has no module {name!r}"
                + (f"; did you mean {close}?" if close else f"; module names look like {listed}, ...")
                + " See dict(model.named_modules()) for all names."
            )
    if len(set(out)) != len(out):
        raise ExtractionError(f"layers lists a module twice: {out}.")
    return out, True


@dataclass
class _ProbeInfo:
    calls: int = 0
    rank: int = -1
    leaf_calls_before: int = 0
    is_tensor: bool = False
    shape: tuple[int, ...] = ()
    dtype: str = ""
    alias_of: str | None = None


def _probe(model: Any, stim: _Stimuli, candidates: list[str], device: Any, in_dtype: Any) -> tuple[dict[str, _ProbeInfo], int, int]:
    """Run 1-2 stimuli with hooks on every module.

    Returns per-module info, the number of leaf-module calls and the bytes of one input stimulus.
    """
    torch = _torch()
    named = dict(model.named_modules())
    leaves = {n for n, m in named.items() if not any(True for _ in m.children())}
    cand = set(candidates)
    info = {n: _ProbeInfo() for n in named}
    state = {"rank": 0, "leaf_calls": 0}
    live: list[tuple[str, Any]] = []  # (name, weakref to its output) of candidate modules seen so far
    handles = []

    def make_hook(name: str) -> Callable:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            rec = info[name]
            rec.calls += 1
            if name in leaves:
                state["leaf_calls"] += 1
            if rec.calls > 1:
                return
            rec.rank = state["rank"]
            state["rank"] += 1
            rec.leaf_calls_before = state["leaf_calls"]
            rec.is_tensor = isinstance(output, torch.Tensor)
            if rec.is_tensor:
                rec.shape = tuple(int(s) for s in output.shape[1:])
                rec.dtype = str(output.dtype).replace("torch.", "")
                if name in cand:
                    for other, ref in live:
                        if ref() is output:
                            rec.alias_of = other
                            break
                    live.append((name, weakref.ref(output)))

        return hook

    try:
        for n, m in named.items():
            handles.append(m.register_forward_hook(make_hook(n)))
        batch = stim.load(np.arange(min(2, stim.n)))
        batch = _to_input(batch, device, in_dtype)
        input_bytes = int(batch[0].numel() * batch.element_size())
        with torch.no_grad():
            model(batch)
    finally:
        for h in handles:
            h.remove()
    return info, state["leaf_calls"], input_bytes


def _to_input(batch: Any, device: Any, in_dtype: Any) -> torch.Tensor:
    torch = _torch()
    if not isinstance(batch, torch.Tensor):
        batch = torch.as_tensor(np.asarray(batch))
    if in_dtype is not None and batch.dtype != in_dtype and not batch.dtype.is_complex:
        batch = batch.to(dtype=in_dtype)
    return batch.to(device)


def _input_dtype(model: Any) -> Any:
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return _torch().float32


def _np_dtype(torch_dtype_name: str) -> np.dtype:
    if torch_dtype_name == "bfloat16":
        return np.dtype(np.float32)
    try:
        return np.dtype(torch_dtype_name)
    except TypeError:
        return np.dtype(np.float32)


def _unit_chunk(n: int, q: int, itemsize: int, budget: int, unit_chunk: int) -> int:
    by_memory = budget // (4 * n * itemsize)
    return int(max(1, min(q, unit_chunk, by_memory)))


def _build_plan(
    model: Any,
    stim: _Stimuli,
    *,
    model_name: str,
    layers: Any,
    memory_limit: int,
    batch_size: int,
    device: Any,
    flatten: bool,
    reduction: dict[str, Any] | None,
    dtype: Any,
    unit_chunk: int,
    store: StudyStore | None,
    deduplicate: bool,
    overwrite: bool,
) -> ExtractionPlan:
    candidates, explicit = _select_modules(model, layers)
    info, n_leaf_calls, input_bytes = _probe(model, stim, candidates, device, _input_dtype(model))
    named = dict(model.named_modules())
    skipped: dict[str, str] = {}
    aliases: dict[str, str] = {}
    kept: list[str] = []
    for name in candidates:
        rec = info[name]
        label = name or "<model>"
        why = None
        if rec.calls == 0:
            why = "not called in the forward pass"
        elif rec.calls > 1:
            why = f"called {rec.calls} times per forward pass (a shared module); its outputs are ambiguous"
        elif not rec.is_tensor:
            why = "its output is not a tensor (a tuple or dict); hook a submodule instead"
        elif len(rec.shape) == 0:
            why = "its output has no unit axis (one number per stimulus)"
        elif not flatten and len(rec.shape) > 1:
            why = f"its output has shape {rec.shape} per stimulus and flatten=False; pass flatten=True"
        if why is not None:
            if explicit:
                raise ExtractionError(f"cannot extract module {label!r}: {why}.")
            skipped[name] = why
            continue
        if deduplicate and rec.alias_of is not None:
            aliases[name] = rec.alias_of
            skipped[name] = f"returns the same tensor object as {rec.alias_of!r} (in-place op or pass-through)"
            continue
        kept.append(name)
    if not kept:
        raise ExtractionError(f"no layer of the model can be extracted; reasons: {skipped}.")
    kept.sort(key=lambda n: info[n].rank)

    # store names
    names: dict[str, str] = {}
    for mod in kept:
        ln = _layer_name(mod)
        if ln in names.values():
            i = 1
            while f"{ln}-{i}" in names.values():
                i += 1
            ln = f"{ln}-{i}"
        names[mod] = _check_name(ln, "layer")

    n = stim.n
    avail = memory_limit - RESERVE_BYTES
    if avail <= 0:
        raise ExtractionError(
            f"memory_limit {_fmt_bytes(memory_limit)} is below the {_fmt_bytes(RESERVE_BYTES)} reserved for "
            f"Zarr's bookkeeping; raise it (a few MiB at least)."
        )
    store_dtype = np.dtype(dtype) if dtype is not None else None
    plans: list[LayerPlan] = []
    for mod in kept:
        rec = info[mod]
        raw_dtype = _np_dtype(rec.dtype)
        out_dtype = store_dtype or (raw_dtype if raw_dtype.kind == "f" else np.dtype(np.float32))
        p = int(np.prod(rec.shape))
        red = None
        q = p
        if reduction is not None and p > reduction["n_components"]:
            red = dict(reduction)
            q = reduction["n_components"]
            out_dtype = np.dtype(np.float32) if store_dtype is None else store_dtype
        rel = 0.0 if n_leaf_calls <= 1 else (max(rec.leaf_calls_before, 1) - 1) / (n_leaf_calls - 1)
        lp = LayerPlan(
            name=names[mod], module_name=mod, module_type=type(named[mod]).__name__,
            output_shape=rec.shape, n_raw_units=p, n_units=q, raw_dtype=str(raw_dtype), dtype=str(out_dtype),
            nbytes=int(n * q * out_dtype.itemsize), raw_nbytes=int(n * p * (store_dtype or raw_dtype).itemsize),
            depth_index=rec.rank, relative_depth=float(min(max(rel, 0.0), 1.0)),
            reduction=red,
        )
        lp.state_bytes = _reducer_state_bytes(red["method"], p, q) if red else 0
        lp.input_bytes = input_bytes
        lp.unit_chunk = _unit_chunk(n, q, out_dtype.itemsize, avail, unit_chunk)
        if 4 * n * out_dtype.itemsize > avail:
            raise ExtractionError(
                f"memory_limit {_fmt_bytes(memory_limit)} cannot hold four columns of {n} stimuli "
                f"({_fmt_bytes(4 * n * out_dtype.itemsize)}) besides the {_fmt_bytes(RESERVE_BYTES)} reserve, "
                f"which rechunking to the store layout needs. Raise memory_limit."
            )
        plans.append(lp)

    # what is already in the store
    if store is not None:
        for lp in plans:
            path = f"features/{model_name}/{lp.name}"
            if store.is_complete(path) and not overwrite:
                _check_compatible(store, path, lp, stim.ids)
                lp.status = "complete"

    # batch sizes and groups
    todo = [lp for lp in plans if lp.status == "todo"]
    for lp in todo:
        per = lp.in_flight(1)
        b = (avail - lp.state_bytes) // per if avail > lp.state_bytes else 0
        if b < 1:
            need = per + lp.state_bytes + RESERVE_BYTES
            raise ExtractionError(
                f"layer {lp.name!r} ({lp.module_type}, {lp.n_raw_units} units per stimulus) needs "
                f"{_fmt_bytes(need)} for a single stimulus"
                + (f" including {_fmt_bytes(lp.state_bytes)} of {lp.reduction['method']} parameters" if lp.reduction else "")
                + f", more than memory_limit {_fmt_bytes(memory_limit)}. Raise memory_limit"
                + (", lower n_components" if lp.reduction else ", use a reduction")
                + " or leave this layer out (layers=...)."
            )
        lp.batch_size = int(min(batch_size, b, n))
        if lp.reduction and lp.reduction["method"] == "pca":
            k = lp.reduction["n_components"]
            rows = max(_fit_batches(lp.reduction["fit_stimuli"], max(lp.batch_size, k)), key=len).size
            need = lp.state_bytes + _pca_fit_transient(lp.n_raw_units, k, rows) + rows * input_bytes
            if need > avail:
                raise ExtractionError(
                    f"fitting PCA with n_components={k} on layer {lp.name!r} ({lp.n_raw_units} units) needs about "
                    f"{_fmt_bytes(need)}, more than memory_limit {_fmt_bytes(memory_limit)}. Lower n_components, "
                    f"use method 'srp', or raise memory_limit."
                )
    groups: list[list[LayerPlan]] = []
    full = [lp for lp in todo if lp.batch_size >= min(batch_size, n)]
    small = [lp for lp in todo if lp.batch_size < min(batch_size, n)]
    for cls in (full, small):
        current: list[LayerPlan] = []
        for lp in cls:
            trial = current + [lp]
            b = min(x.batch_size for x in trial)
            need = sum(x.state_bytes for x in trial) + max(x.in_flight(b) for x in trial)
            if current and need > avail:
                groups.append(current)
                trial = [lp]
            current = trial
        if current:
            groups.append(current)
    groups.sort(key=lambda g: g[0].depth_index)
    for gi, g in enumerate(groups):
        b = min(x.batch_size for x in g)
        for lp in g:
            lp.batch_size = b
            lp.group = gi
            lp.in_flight_bytes = lp.in_flight(b)
    return ExtractionPlan(
        model_name=model_name, n_stimuli=n, stimulus_ids=stim.ids, memory_limit=memory_limit,
        batch_size=batch_size, layers=plans, groups=[[lp.name for lp in g] for g in groups],
        skipped=skipped, aliases=aliases,
    )


def _check_compatible(store: StudyStore, path: str, lp: LayerPlan, ids: np.ndarray) -> None:
    """A complete stored layer must match this extraction, or the caller must overwrite it."""
    g = zarr.open_group(store.url, path=path, mode="r")
    stored_red = g.attrs.get("reduction")
    problems = []
    try:
        arr = g[DATA_VAR]
        shape = tuple(arr.shape)
    except KeyError:
        shape = None
    if shape != (len(ids), lp.n_units):
        problems.append(f"it has shape {shape}, this extraction gives {(len(ids), lp.n_units)}")
    else:
        stored_ids = np.array(np.asarray(g["stimulus_id"][:]).tolist(), dtype=str)
        if not np.array_equal(stored_ids, ids):
            problems.append("its stimulus ids differ from these stimuli")
    stored_spec = {k: stored_red.get(k) for k in _REDUCTION_KEYS} if stored_red else None
    if stored_spec != lp.reduction:
        problems.append(f"its reduction {stored_spec} differs from {lp.reduction}")
    if problems:
        raise ExtractionError(
            f"store {store.url!r}: layer {path!r} is complete but " + "; ".join(problems) + ". Pass "
            "overwrite=True to replace it, or extract under another model_name."
        )


def plan_extraction(
    model: Any,
    stimuli: Any,
    store: StudyStore | str | os.PathLike | None = None,
    *,
    model_name: str = "model",
    layers: Sequence[str] | Callable[[str, Any], bool] | None = None,
    memory_limit: int | str = "1GiB",
    batch_size: int = 32,
    device: Any = "cpu",
    flatten: bool = True,
    stimulus_ids: Sequence[str] | None = None,
    transform: Callable[[Any], Any] | None = None,
    image_size: int | tuple[int, int] | None = 224,
    reduction: Mapping[str, Any] | None = None,
    dtype: Any = None,
    unit_chunk: int = 4096,
    deduplicate: bool = True,
    overwrite: bool = False,
) -> ExtractionPlan:
    """Dry run: every layer's output shape and bytes, and the passes that fit ``memory_limit``.

    Runs one batch of (at most) two stimuli through the model; writes nothing. The parameters
    are those of :func:`extract_features`.

    Returns
    -------
    ExtractionPlan
        Per layer: ``output_shape`` (one stimulus, before flattening), ``nbytes``
        (``n_stimuli * n_units * itemsize``, what the store will hold uncompressed), batch size
        and pass; ``print(plan)`` shows the table.
    """
    torch = _torch()
    st = _open(store) if store is not None else None
    model_name = _check_name(model_name, "model")
    stim = _as_stimuli(stimuli, stimulus_ids, transform, image_size)
    spec = _reduction_spec(reduction, stim.n)
    limit = parse_memory(memory_limit)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ExtractionError(f"batch_size must be a positive int; got {batch_size!r}.")
    was_training = model.training
    model.eval()
    try:
        model.to(device)
        with torch.no_grad():
            return _build_plan(
                model, stim, model_name=model_name, layers=layers, memory_limit=limit, batch_size=int(batch_size),
                device=device, flatten=flatten, reduction=spec, dtype=dtype, unit_chunk=int(unit_chunk),
                store=st, deduplicate=deduplicate, overwrite=overwrite,
            )
    finally:
        model.train(was_training)


def _open(store: StudyStore | str | os.PathLike) -> StudyStore:
    if isinstance(store, StudyStore):
        st = store
    else:
        st = StudyStore(store)
    return st


# ---------------------------------------------------------------------------- writing
class _LayerWriter:
    """Streams one layer's batches to its entry; rechunks and marks it complete at the end.

    With one batch for all stimuli the batch goes straight into the entry's ``data`` array.
    Otherwise batches of rows are appended to a raw staging file (one sequential write per
    batch: Zarr chunks spanning the whole stimulus axis cannot be written row block by row
    block without rewriting them), which :meth:`finish` reads back one stored chunk of columns
    at a time through a memory map.
    """

    def __init__(
        self, store: StudyStore, model_name: str, lp: LayerPlan, plan: ExtractionPlan, reducer: Any,
        attrs: Mapping[str, Any], staging_dir: str,
    ) -> None:
        self.store = store
        self.lp = lp
        self.path = f"features/{model_name}/{lp.name}"
        self.reducer = reducer
        self.dtype = np.dtype(lp.dtype)
        self.largest = 0
        n, q = plan.n_stimuli, lp.n_units
        store.invalidate(self.path)
        store.invalidate(f"cache/gram/{model_name}/{lp.name}")
        _write_template(store, self.path, model_name, lp, plan.stimulus_ids, attrs, plan.memory_limit)
        self.direct = lp.batch_size >= n
        group = zarr.open_group(store.url, path=self.path, mode="r+")
        self.target = group[DATA_VAR]
        self.shape = (n, q)
        self.staging: str | None = None
        if not self.direct:
            self.staging = os.path.join(staging_dir, f"{lp.name}.bin")
            with open(self.staging, "wb") as f:
                f.truncate(n * q * self.dtype.itemsize)

    def write(self, start: int, output: Any, ids: np.ndarray) -> None:
        torch = _torch()
        t = output.detach()
        expected = (t.shape[0],) + tuple(self.lp.output_shape)
        if tuple(t.shape) != expected:
            raise ExtractionError(
                f"layer {self.lp.name!r}: output shape {tuple(t.shape)} differs from the probed {expected}; "
                f"every stimulus must give the same output shape (resize the stimuli to one size)."
            )
        if t.device.type != "cpu":
            t = t.to("cpu")
        if t.dtype == torch.bfloat16:
            t = t.float()
        x = t.reshape(t.shape[0], -1).numpy()  # a view of the activations on CPU: written before any in-place op runs
        y = self.reducer(x) if self.reducer is not None else x
        y = y.astype(self.dtype, copy=False)
        self.largest = max(self.largest, x.nbytes, y.nbytes)
        total = np.sum(y, dtype=np.float64)
        if not np.isfinite(total):
            bad_rows = ~np.isfinite(y).all(axis=1)
            raise ExtractionError(
                f"layer {self.lp.name!r}: non-finite values (NaN or inf) for {int(bad_rows.sum())} stimuli, e.g. "
                f"{ids[bad_rows][:3].tolist()}; stored features must be finite. Check the stimuli and the model."
            )
        if self.staging is not None:
            with open(self.staging, "r+b") as f:
                f.seek(start * y.shape[1] * self.dtype.itemsize)
                np.ascontiguousarray(y).tofile(f)
            return
        step = self.target.chunks[1] * _CHUNKS_PER_WRITE
        for j0 in range(0, y.shape[1], step):
            self.target[start : start + y.shape[0], j0 : j0 + step] = y[:, j0 : j0 + step]

    def finish(self) -> None:
        """Rechunk the staging array into the store layout, then write the completion marker."""
        if self.staging is not None:
            (n, q), uc = self.shape, self.lp.unit_chunk
            block = np.empty((n, min(uc, q)), dtype=self.dtype)
            for j0 in range(0, q, uc):
                j1 = min(j0 + uc, q)
                out = block[:, : j1 - j0]
                staged = np.memmap(self.staging, dtype=self.dtype, mode="r", shape=(n, q))
                out[...] = staged[:, j0:j1]
                del staged  # unmap: only one chunk's pages are mapped at a time
                self.target[:, j0:j1] = out
            del block, out
            os.remove(self.staging)
            self.staging = None
        self.store.mark_complete(self.path)

    def discard(self) -> None:
        """Remove the staging file (the entry stays incomplete and is rewritten by the next run)."""
        if self.staging is not None and os.path.exists(self.staging):
            os.remove(self.staging)


def _write_template(store: StudyStore, path: str, model_name: str, lp: LayerPlan, ids: np.ndarray, attrs: Mapping[str, Any], memory_limit: int) -> None:
    """Create the entry's group: coords, attrs and an unwritten ``data`` array (no marker).

    The unit coords (``unit_id``; ``channel``, ``y``, ``x`` for flattened ``(C, H, W)`` outputs)
    are written block by block, so a layer with millions of units never has them all in memory.
    """
    import dask.array as da

    n, q = len(ids), lp.n_units
    coords: dict[str, Any] = {
        "stimulus_id": ("stimulus", np.asarray(ids, dtype=object)),
        "model": np.array(model_name, dtype=object),
        "layer": np.array(lp.name, dtype=object),
    }
    data = da.zeros((n, q), chunks=(n, lp.unit_chunk), dtype=lp.dtype)
    ds = xr.Dataset({DATA_VAR: (("stimulus", "unit"), data)}, coords=coords)
    ds.attrs = _jsonable({k: v for k, v in attrs.items() if v is not None})
    ds.to_zarr(
        store.url, group=path, mode="w", compute=False, consolidated=False,
        encoding={DATA_VAR: {"chunks": (n, lp.unit_chunk)}},
    )
    group = zarr.open_group(store.url, path=path, mode="r+")
    if lp.reduction is not None:
        prefix = "pc" if lp.reduction["method"] == "pca" else "rp"
    else:
        prefix = "unit"
    unit_coords: dict[str, tuple[Any, Callable[[np.ndarray], np.ndarray]]] = {
        "unit_id": (str, lambda i: np.char.add(prefix, i.astype(str)).astype(object)),
    }
    if lp.reduction is None and len(lp.output_shape) == 3:
        for axis, name in enumerate(("channel", "y", "x")):
            unit_coords[name] = (
                np.int32, lambda i, axis=axis: np.unravel_index(i, lp.output_shape)[axis].astype(np.int32)
            )
    block = int(max(1024, min(q, 65536, (memory_limit - RESERVE_BYTES) // 600)))  # ~150 B per id string
    for name, (dtype, values) in unit_coords.items():
        arr = group.create_array(
            name, shape=(q,), chunks=(block,), dtype=dtype, dimension_names=("unit",),
            fill_value="" if dtype is str else 0,
        )
        for j0 in range(0, q, block):
            arr[j0 : j0 + block] = values(np.arange(j0, min(j0 + block, q)))
    group[DATA_VAR].attrs["coordinates"] = " ".join(sorted([*coords, *unit_coords]))


class _StopForward(BaseException):
    """Raised from the last hook of a pass: the rest of the forward pass is not needed."""


def _run_pass(
    model: Any,
    stim: _Stimuli,
    parts: list[np.ndarray],
    callbacks: Mapping[str, Callable[[int, Any, np.ndarray], None]],
    device: Any,
    in_dtype: Any,
    desc: str,
    progress: bool,
) -> None:
    """One pass over the batches ``parts`` (stimulus indices).

    The hook of module ``name`` calls ``callbacks[name](start, output, ids)``, ``start`` being the
    row of the batch's first stimulus within the concatenated ``parts``. The forward pass stops as
    soon as every hooked module has run.
    """
    torch = _torch()
    named = dict(model.named_modules())
    state: dict[str, Any] = {"start": 0, "seen": 0, "ids": None}
    handles = []

    def make_hook(fn: Callable) -> Callable:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            fn(state["start"], output, state["ids"])
            state["seen"] += 1
            if state["seen"] == len(callbacks):
                raise _StopForward

        return hook

    try:
        for name, fn in callbacks.items():
            handles.append(named[name].register_forward_hook(make_hook(fn)))
        start = 0
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(parts), desc=desc, unit="batch", leave=False)
        else:
            bar = contextlib.nullcontext()
        with bar:
            for part in parts:
                state.update(start=start, seen=0, ids=stim.ids[part])
                batch = _to_input(stim.load(part), device, in_dtype)
                try:
                    with torch.no_grad():
                        model(batch)
                except _StopForward:
                    pass
                del batch
                if state["seen"] != len(callbacks):
                    raise ExtractionError(
                        f"only {state['seen']} of {len(callbacks)} hooked modules ran for a batch; the model's "
                        f"forward pass differs from the probe's (data-dependent control flow is not supported)."
                    )
                start += len(part)
                if progress:
                    bar.update(1)
    finally:
        for h in handles:
            h.remove()


def extract_features(
    model: Any,
    stimuli: Any,
    store: StudyStore | str | os.PathLike,
    *,
    model_name: str,
    layers: Sequence[str] | Callable[[str, Any], bool] | None = None,
    memory_limit: int | str = "1GiB",
    batch_size: int = 32,
    device: Any = "cpu",
    flatten: bool = True,
    stimulus_ids: Sequence[str] | None = None,
    transform: Callable[[Any], Any] | None = None,
    image_size: int | tuple[int, int] | None = 224,
    reduction: Mapping[str, Any] | None = None,
    dtype: Any = None,
    unit_chunk: int = 4096,
    deduplicate: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    dry_run: bool = False,
    on_layer_complete: Callable[[str], None] | None = None,
    staging_dir: str | os.PathLike | None = None,
) -> ExtractionResult | ExtractionPlan:
    """Extract a torch model's layer activations into ``features/<model_name>/<layer>``.

    Each layer is written chunk by chunk as batches of stimuli come through (a layer is never
    held whole in memory), then rechunked to the store layout (whole stimulus axis, units
    chunked) and marked complete last. Re-running after an interruption skips complete layers
    and rewrites the others from scratch.

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode for the extraction (its training flag is restored afterwards) and moved
        to ``device`` (in place).
    stimuli : str or PathLike, list of image paths, array or tensor (N, C, H, W), or torch Dataset
        A folder of images (files directly inside it, sorted by name; ``stimulus_id`` is the file
        name without extension); an in-memory array; or a map-style Dataset whose items are
        tensors, PIL images, or tuples/lists whose first element is one. Inputs are cast to the
        dtype of the model's floating parameters.
    store : StudyStore or str
        The study store (or its URL).
    model_name : str
        The ``<model>`` part of the entry path.
    layers : list of str, callable or None
        Module names (as in ``model.named_modules()``; the store-safe names are accepted too), a
        filter ``f(name, module) -> bool``, or ``None`` for every leaf module. Modules returning
        the very tensor object an earlier selected module returned (in-place ReLU, ``Identity``,
        ``Dropout`` in eval) are left out when ``deduplicate`` (see ``plan.aliases``); the earlier
        module's stored output is its own, taken before any in-place op. Default selections also
        leave out modules called more than once per forward pass and non-tensor outputs.
    memory_limit : int or str
        Budget in bytes for what the extraction holds (``"2GiB"`` works); see the module docstring.
        Layers are grouped into passes over the stimuli, and batch sizes lowered, to fit it.
    batch_size : int
        Largest number of stimuli per forward pass.
    device : str or torch.device
    flatten : bool
        Flatten each output to ``(stimulus, unit)``; conv outputs ``(C, H, W)`` get ``channel``,
        ``y``, ``x`` coords on ``unit``. With ``False`` only outputs that already are
        ``(batch, units)`` can be stored (the store layout is 2-D).
    stimulus_ids : sequence of str, optional
        Overrides the ids (default: file stems, a Dataset's ``stimulus_ids`` attribute, or
        ``"stimulus0", ...``).
    transform : callable, optional
        Applied to each stimulus as loaded (PIL image -> tensor for folders). Default for images:
        :func:`default_image_transform` with ``image_size``.
    image_size : int, (height, width) or None
        Size of the default image transform.
    reduction : dict, optional
        ``{"method": "srp" | "pca", "n_components": k, "fit_stimuli": m, "seed": s}``: reduce each
        layer with more than ``k`` units to ``k`` at write time. ``srp``: sparse random projection
        (``sklearn.random_projection.SparseRandomProjection``, seeded by ``s``); ``pca``:
        ``sklearn.decomposition.IncrementalPCA`` fitted on ``m`` stimuli drawn with
        ``default_rng(s)`` (all stimuli by default) in a preliminary pass. Recorded in the entry
        attrs ``reduction`` (with the fit stimulus ids and, for PCA, the explained variance ratio).
    dtype : numpy dtype, optional
        Stored dtype (default: the output dtype; float32 for reduced layers).
    unit_chunk : int
        Largest number of units per stored chunk (lowered to fit the memory budget).
    deduplicate : bool
        Leave out aliased modules (see ``layers``).
    overwrite : bool
        Recompute layers that are already complete.
    progress : bool
        Show a tqdm progress bar over batches.
    dry_run : bool
        Only plan: return the :class:`ExtractionPlan` and write nothing.
    on_layer_complete : callable, optional
        Called with the layer name after each layer is marked complete.
    staging_dir : str, optional
        Local folder for the raw staging files of one pass (default: the system temp folder). It
        needs the uncompressed size of the pass's layers (``plan.layers[i].nbytes``) when there
        is more than one batch; the files are removed as each layer is rechunked into the store.

    Returns
    -------
    ExtractionResult
        (an :class:`ExtractionPlan` when ``dry_run``). Read a layer back with
        ``store.read_features(model_name, layer)``: a DataArray ``(stimulus, unit)`` with attrs
        ``module_name``, ``module_type``, ``output_shape``, ``depth_index``, ``relative_depth``.

    Raises
    ------
    ExtractionError
        Unknown layers, a budget too small for one stimulus of some layer, stimuli of different
        shapes, non-finite activations, or a complete stored layer that does not match.

    Examples
    --------
    >>> plan = extract_features(net, "images/", store, model_name="net", dry_run=True)  # doctest: +SKIP
    >>> print(plan)                                                                      # doctest: +SKIP
    >>> extract_features(net, "images/", store, model_name="net", memory_limit="4GiB")   # doctest: +SKIP
    """
    _torch()
    st = _open(store)
    if not dry_run:
        st._require_write()
    model_name = _check_name(model_name, "model")
    stim = _as_stimuli(stimuli, stimulus_ids, transform, image_size)
    spec = _reduction_spec(reduction, stim.n)
    limit = parse_memory(memory_limit)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ExtractionError(f"batch_size must be a positive int; got {batch_size!r}.")
    was_training = model.training
    model.eval()
    try:
        model.to(device)
        plan = _build_plan(
            model, stim, model_name=model_name, layers=layers, memory_limit=limit, batch_size=int(batch_size),
            device=device, flatten=flatten, reduction=spec, dtype=dtype, unit_chunk=int(unit_chunk),
            store=st, deduplicate=deduplicate, overwrite=overwrite,
        )
        if dry_run:
            return plan
        return _execute(model, stim, st, plan, device=device, progress=progress, on_layer_complete=on_layer_complete,
                        image_size=image_size, transform=transform, flatten=flatten, staging_dir=staging_dir)
    finally:
        model.train(was_training)


def _execute(
    model: Any, stim: _Stimuli, store: StudyStore, plan: ExtractionPlan, *, device: Any, progress: bool,
    on_layer_complete: Callable[[str], None] | None, image_size: Any, transform: Any, flatten: bool,
    staging_dir: str | None,
) -> ExtractionResult:
    from . import __version__

    in_dtype = _input_dtype(model)
    by_name = {lp.name: lp for lp in plan.layers}
    written: list[str] = []
    largest = 0
    n_passes = 0
    n_groups = len(plan.groups)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="neuroxr-extract-", dir=staging_dir) as staging:
        for gi, names in enumerate(plan.groups):
            group = [by_name[n] for n in names]
            b = group[0].batch_size
            reducers: dict[str, Any] = {}
            # reducers: SRP needs only the shape; PCA is fitted in a preliminary pass
            pca_layers = [lp for lp in group if lp.reduction and lp.reduction["method"] == "pca"]
            for lp in group:
                if lp.reduction and lp.reduction["method"] == "srp":
                    reducers[lp.name] = _SRP(lp.n_raw_units, lp.n_units, lp.reduction["fit_stimuli"], lp.reduction["seed"])
            if pca_layers:
                spec = pca_layers[0].reduction
                fit_index = _fit_index(spec, plan.n_stimuli)
                k = spec["n_components"]
                fit_parts = [fit_index[p] for p in _fit_batches(len(fit_index), max(b, k))]
                pcas = {lp.name: _PCA(k) for lp in pca_layers}

                def fitter(pca: _PCA) -> Callable:
                    def fn(start: int, output: Any, ids: np.ndarray) -> None:
                        t = output.detach().to("cpu")
                        pca.partial_fit(t.reshape(t.shape[0], -1).float().numpy())

                    return fn

                _run_pass(
                    model, stim, fit_parts, {lp.module_name: fitter(pcas[lp.name]) for lp in pca_layers},
                    device, in_dtype, f"{plan.model_name}: fit PCA (pass {gi + 1}/{n_groups})", progress,
                )
                n_passes += 1
                for lp in pca_layers:
                    pcas[lp.name].finish()
                    reducers[lp.name] = pcas[lp.name]
            writers: dict[str, _LayerWriter] = {}
            for lp in group:
                red_attr = None
                if lp.reduction is not None:
                    fit_ids = plan.stimulus_ids[_fit_index(lp.reduction, plan.n_stimuli)]
                    red_attr = dict(lp.reduction, input_units=lp.n_raw_units, fit_stimulus_ids=fit_ids.tolist(),
                                    **reducers[lp.name].info)
                attrs = {
                    "module_name": lp.module_name,
                    "module_type": lp.module_type,
                    "output_shape": list(lp.output_shape),
                    "depth_index": lp.depth_index,
                    "relative_depth": lp.relative_depth,
                    "flatten": bool(flatten),
                    "source_dtype": lp.raw_dtype,
                    "stimuli": stim.kind,
                    "image_size": (list(image_size) if isinstance(image_size, tuple) else image_size)
                    if stim.kind != "array" and transform is None else None,
                    "transform": None if transform is None else getattr(transform, "__qualname__", repr(transform)),
                    "reduction": red_attr,
                    "extracted_by": f"neuroxr {__version__} extract_features",
                }
                writers[lp.name] = _LayerWriter(store, plan.model_name, lp, plan, reducers.get(lp.name), attrs, staging)
            callbacks = {lp.module_name: writers[lp.name].write for lp in group}
            parts = [np.arange(i, min(i + b, plan.n_stimuli)) for i in range(0, plan.n_stimuli, b)]
            _run_pass(
                model, stim, parts, callbacks, device, in_dtype,
                f"{plan.model_name}: pass {gi + 1}/{n_groups}", progress,
            )
            n_passes += 1
            reducers.clear()
            for lp in group:
                w = writers.pop(lp.name)
                largest = max(largest, w.largest)
                w.finish()
                written.append(lp.name)
                if on_layer_complete is not None:
                    on_layer_complete(lp.name)
    return ExtractionResult(
        plan=plan,
        written=written,
        skipped=[lp.name for lp in plan.layers if lp.status == "complete"],
        paths={lp.name: f"features/{plan.model_name}/{lp.name}" for lp in plan.layers},
        n_passes=n_passes,
        largest_buffer_bytes=largest,
    )


# ---------------------------------------------------------------------------- command line
def load_model(spec: str, weights: str | os.PathLike | None = None) -> Any:
    """A torch model from ``"package.module:name"`` or ``"path/to/file.py:name"``.

    ``name`` is an ``nn.Module`` object or a callable that returns one when called with no
    arguments. ``weights``, if given, is a state dict loaded with ``torch.load(weights_only=True)``.
    """
    torch = _torch()
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ExtractionError(
            f"model spec {spec!r} must look like 'package.module:factory' or 'path/to/file.py:factory'."
        )
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise ExtractionError(f"model file {target!r} does not exist.")
        mod_name = f"_neuroxr_model_{abs(hash(str(path.resolve())))}"
        spec_ = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec_)  # type: ignore[arg-type]
        sys.modules[mod_name] = module
        spec_.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        raise ExtractionError(f"{target!r} has no attribute {attr!r}.")
    obj = getattr(module, attr)
    model = obj if isinstance(obj, torch.nn.Module) else obj()
    if not isinstance(model, torch.nn.Module):
        raise ExtractionError(f"{spec!r} gave a {type(model).__name__}, not a torch.nn.Module.")
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    return model


def _make_extract_command() -> Any:
    import click

    @click.command("extract")
    @click.argument("store")
    @click.option("--model", "model_spec", required=True,
                  help="'package.module:factory' or 'path/to/file.py:factory' (a factory returning an nn.Module, or the module object).")
    @click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="A state dict to load into the model (torch.load with weights_only=True).")
    @click.option("--images", required=True, type=click.Path(exists=True, file_okay=False),
                  help="Folder of images; stimulus ids are the file names without extension.")
    @click.option("--model-name", required=True, help="Name of the model in the store: features/<model-name>/<layer>.")
    @click.option("--layer", "layers", multiple=True, help="Module name to extract (repeatable; default: every leaf module).")
    @click.option("--memory-limit", default="1GiB", show_default=True, help="Budget for what the extraction holds, e.g. 4GiB.")
    @click.option("--batch-size", default=32, show_default=True, type=int)
    @click.option("--device", default="cpu", show_default=True)
    @click.option("--image-size", default=224, show_default=True, type=int, help="Images are resized to this square size.")
    @click.option("--reduction", type=click.Choice(["none", "srp", "pca"]), default="none", show_default=True)
    @click.option("--n-components", type=int, default=None, help="Components of the reduction.")
    @click.option("--fit-stimuli", type=int, default=None, help="Stimuli the reduction is fitted on (default: all).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the reduction.")
    @click.option("--overwrite", is_flag=True, help="Recompute layers that are already complete.")
    @click.option("--dry-run", is_flag=True, help="Print the plan (shapes, bytes, passes) and write nothing.")
    @click.option("--progress/--no-progress", default=True, show_default=True)
    def extract_command(
        store: str, model_spec: str, weights: str | None, images: str, model_name: str, layers: tuple[str, ...],
        memory_limit: str, batch_size: int, device: str, image_size: int, reduction: str,
        n_components: int | None, fit_stimuli: int | None, seed: int, overwrite: bool, dry_run: bool, progress: bool,
    ) -> None:
        """Extract a torch model's layer activations for a folder of images into the study STORE.

        Each layer goes to features/<model-name>/<layer> in bounded memory; re-running after an
        interruption skips the layers already complete.
        """
        red = None
        if reduction != "none":
            if n_components is None:
                raise click.UsageError("--reduction needs --n-components.")
            red = {"method": reduction, "n_components": n_components, "seed": seed}
            if fit_stimuli is not None:
                red["fit_stimuli"] = fit_stimuli
        try:
            model = load_model(model_spec, weights)
            out = extract_features(
                model, images, store, model_name=model_name, layers=list(layers) or None,
                memory_limit=memory_limit, batch_size=batch_size, device=device, image_size=image_size,
                reduction=red, overwrite=overwrite, progress=progress, dry_run=dry_run,
            )
        except (ExtractionError, StoreError) as exc:
            raise click.ClickException(str(exc)) from exc
        if dry_run:
            click.echo(str(out))
            return
        click.echo(str(out.plan))
        click.echo(
            f"wrote {len(out.written)} layer(s) to {store} in {out.n_passes} pass(es); "
            f"{len(out.skipped)} already complete."
        )

    return extract_command


extract_command = _make_extract_command()
