"""Image features that need no trained weights: pixels, Gabor energy, a fixed random-weight CNN.

No pretrained network can be downloaded in every setting where neuroxr runs (CI, air-gapped
clusters), yet the forward and reverse directions on real recordings need *some* image-computable
model. These three are deterministic functions of the images and a seed:

- :func:`pixel_features` - area-downsampled grayscale (or RGB) pixels;
- :func:`gabor_energy_features` - a V1-like bank of Gabor quadrature pairs at a few wavelengths
  and orientations; energy = quadrature-pair magnitude ``sqrt(even**2 + odd**2)`` (the classic
  complex-cell energy model), average-pooled on a coarse spatial grid;
- :func:`random_cnn_features` - a small convolutional network with fixed random (untrained)
  He-normal weights drawn from ``numpy.random.default_rng(seed)``, run with torch.

Each returns labeled features (dims ``stimulus x unit``) whose scalar coords ``model`` and
``layer`` say what they are (``model="pixels"``, ``"gabor_energy"``, ``"random_cnn"``): they are
baselines, not models of the ventral stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError, ParameterError, missing_ids_error, shown
from ..layouts import features, missing_ids
from ..validation import check_bool, check_int

__all__ = [
    "to_grayscale",
    "resize_area",
    "pixel_features",
    "gabor_kernels",
    "gabor_energy_features",
    "random_cnn_features",
]


def _as_float_images(images: Any, name: str) -> np.ndarray:
    """Images as float64 in [0, 1] with shape (n, H, W, C); uint8 is divided by 255."""
    if isinstance(images, tuple) and len(images) == 2 and np.ndim(images[1]) == 1 and np.ndim(images[0]) in (3, 4):
        raise LayoutError(  # e.g. load_cowley_images' (images, stimulus_id) passed as one argument
            f"{name}: images is a pair (images, stimulus_id); pass them apart, e.g. images, ids = "
            f"load_cowley_images(...); {name}(images, ids)."
        )
    try:
        arr = np.asarray(images)
    except ValueError:  # images of different sizes (a ragged list)
        raise LayoutError(
            f"{name}: images are not one array (images of different sizes?); pass an array of shape (n, H, W) or "
            "(n, H, W, 3), resizing them to one size first."
        ) from None
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise LayoutError(
            f"{name}: images must have shape (n, H, W), (n, H, W, 1) or (n, H, W, 3); got {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise LayoutError(f"{name}: got 0 images.")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if arr.dtype.kind in "iu":  # another integer range (12, 16 bits, ...) is not known here: never guessed
        raise LayoutError(
            f"{name}: images have dtype {arr.dtype}; pass uint8 (0-255) or float in [0, 1], e.g. images / 65535 for "
            "16-bit images."
        )
    if arr.dtype.kind != "f":
        raise LayoutError(f"{name}: images must be numeric (uint8 0-255 or float 0-1); got dtype {arr.dtype}.")
    out = arr.astype(np.float64, copy=False)
    if not np.isfinite(out).all():
        raise LayoutError(f"{name}: images hold non-finite values.")
    lo, hi = float(out.min()), float(out.max())
    if lo < -1e-6 or hi > 1 + 1e-6:  # e.g. float 0-255 pixels: features 255x too large, never rescaled silently
        raise LayoutError(
            f"{name}: float images must lie in [0, 1]; got values in [{lo:g}, {hi:g}]. Pass images / 255 for "
            "0-255 pixels, or uint8."
        )
    return out


def _ids(stimulus_id: Sequence[str] | None, n: int, name: str) -> np.ndarray:
    if stimulus_id is None:
        return np.array([f"stimulus{i}" for i in range(n)])
    ids = np.asarray(stimulus_id)
    if ids.shape != (n,):
        raise LayoutError(f"{name}: stimulus_id has shape {ids.shape}; pass one id per image ({n}).")
    miss = missing_ids(stimulus_id)  # the sequence itself: numpy reads None as 'None', a NaN among strings as 'nan'
    if miss.size:
        raise missing_ids_error(f"{name}: stimulus_id", miss, "give every image an id.")
    return ids.astype(str)


def _size(size: Any, caller: str, pair: bool = False) -> Any:
    """``size`` as an int >= 1 (or, with ``pair``, an ``(height, width)`` pair of them); else a one-line
    :class:`ParameterError` (a float was truncated, 0 or a negative one reached NumPy's or torch's own error)."""
    if pair and isinstance(size, (tuple, list)) and len(size) == 2:
        return tuple(check_int(s, "size", 1, "Pass an image side in pixels, or an (height, width) pair of them.",
                               caller=caller) for s in size)
    return check_int(size, "size", 1, "Pass an image side in pixels" + (", or an (height, width) pair of them."
                                                                       if pair else "."), caller=caller)


def _counts(values: Any, name: str, caller: str, example: str) -> list[int]:
    """``values``: a non-empty sequence of ints >= 1 (one per block), else a one-line :class:`ParameterError`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) or not len(values):
        raise ParameterError(f"{caller}: {name} must be a non-empty sequence of integers >= 1; got {shown(values)}. "
                             f"Pass e.g. {name}={example}.")
    return [check_int(v, f"{name}[{i}]", 1, caller=caller) for i, v in enumerate(values)]


def to_grayscale(images: Any) -> np.ndarray:
    """Luminance of RGB images (ITU-R BT.601 weights).

    Parameters
    ----------
    images : array, shape (n, H, W, 3) or (n, H, W[, 1])
        uint8 (0-255) or float (0-1) images.

    Returns
    -------
    numpy.ndarray, shape (n, H, W), float64 in [0, 1] for inputs in range
    """
    x = _as_float_images(images, "to_grayscale")
    if x.shape[-1] == 1:
        return x[..., 0]
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix whose rows average the input pixels each output pixel covers."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize_area(x: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resample by area averaging (exact box filter, no aliasing when shrinking).

    Parameters
    ----------
    x : numpy.ndarray, shape (n, H, W) or (n, H, W, C)
    size : int or (int, int)
        Output height and width.

    Returns
    -------
    numpy.ndarray, shape (n, h, w) or (n, h, w, C), float64
    """
    h, w = (size, size) if np.isscalar(size) else size
    if h < 1 or w < 1:
        raise LayoutError(f"resize_area: size must be positive; got {size}.")
    a, b = _area_matrix(x.shape[1], int(h)), _area_matrix(x.shape[2], int(w))
    if x.ndim == 3:
        return np.einsum("ih,nhw,jw->nij", a, x, b, optimize=True)
    return np.einsum("ih,nhwc,jw->nijc", a, x, b, optimize=True)


def pixel_features(
    images: Any,
    stimulus_id: Sequence[str] | None = None,
    size: int = 16,
    grayscale: bool = True,
) -> xr.DataArray:
    """Downsampled pixels as features.

    Parameters
    ----------
    images : array, shape (n, H, W, 3) or (n, H, W)
        uint8 (0-255) or float (0-1) images.
    stimulus_id : sequence of str, optional
        One id per image (default ``"stimulus0"...``).
    size : int, default 16
        Images are area-averaged to ``size x size``.
    grayscale : bool, default True
        Luminance only (``size**2`` units) or RGB (``3 * size**2`` units).

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, unit)``
        ``model="pixels"``, ``layer="gray<size>"`` or ``"rgb<size>"``; unit coords ``y``,
        ``x`` and ``channel``.
    """
    size = _size(size, "pixel_features")
    grayscale = check_bool(grayscale, "grayscale", "True: luminance; False: RGB.", caller="pixel_features")
    x = _as_float_images(images, "pixel_features")
    ids = _ids(stimulus_id, x.shape[0], "pixel_features")
    if grayscale:
        x = to_grayscale(x)[..., None]
        chans = ["gray"]
    else:
        if x.shape[-1] != 3:
            raise LayoutError("pixel_features: grayscale=False needs RGB images (n, H, W, 3).")
        chans = ["r", "g", "b"]
    small = resize_area(x, size)  # (n, s, s, c)
    n, s1, s2, c = small.shape
    yy, xx, cc = np.meshgrid(np.arange(s1), np.arange(s2), np.arange(c), indexing="ij")
    chan = np.asarray(chans)[cc.ravel()]
    unit_id = [f"{ch}/y{y}x{x_}" for ch, y, x_ in zip(chan, yy.ravel(), xx.ravel())]
    return features(
        small.reshape(n, -1),
        stimulus_id=ids,
        unit_id=unit_id,
        model="pixels",
        layer=f"{'gray' if grayscale else 'rgb'}{size}",
        name="pixel_features",
        attrs={"description": f"area-averaged {'grayscale' if grayscale else 'RGB'} pixels, {size}x{size}"},
        y=yy.ravel(),
        x=xx.ravel(),
        channel=chan,
    )


def gabor_kernels(wavelength: float, orientation_deg: float, sigma_per_wavelength: float = 0.56,
                  aspect: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """An even (cosine) and odd (sine) Gabor filter, a quadrature pair.

    Parameters
    ----------
    wavelength : float
        Carrier wavelength in pixels.
    orientation_deg : float
        Orientation of the carrier's wave vector, degrees.
    sigma_per_wavelength : float
        Gaussian envelope sigma as a fraction of the wavelength (0.56 gives about one octave
        of spatial-frequency bandwidth).
    aspect : float
        Envelope aspect ratio (sigma along the bars over sigma across them).

    Returns
    -------
    even, odd : numpy.ndarray, shape (k, k)
        Zero-mean, unit-L2-norm kernels with ``k = 2 * ceil(3 * sigma) + 1``.
    """
    sigma = sigma_per_wavelength * wavelength
    half = int(np.ceil(3 * sigma))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
    th = np.deg2rad(orientation_deg)
    u = xx * np.cos(th) + yy * np.sin(th)
    v = -xx * np.sin(th) + yy * np.cos(th)
    env = np.exp(-(u**2 + (v / aspect) ** 2) / (2 * sigma**2))
    out = []
    for carrier in (np.cos(2 * np.pi * u / wavelength), np.sin(2 * np.pi * u / wavelength)):
        k = env * carrier
        k = k - env * (k.sum() / env.sum())  # remove the DC response (matters for the even kernel)
        out.append(k / np.linalg.norm(k))
    return out[0], out[1]


def gabor_energy_features(
    images: Any,
    stimulus_id: Sequence[str] | None = None,
    size: int = 64,
    wavelengths: Sequence[float] = (4.0, 8.0, 16.0),
    n_orientations: int = 4,
    grid: int = 4,
    log: bool = True,
) -> xr.DataArray:
    """Gabor-energy (complex-cell) features pooled on a coarse grid.

    Each image is converted to luminance, area-resized to ``size x size`` and its mean
    removed; it is convolved (zero-padded linear convolution through ``scipy.fft``, same-size
    output) with an even
    and an odd Gabor filter per (wavelength, orientation); the energy
    ``sqrt(even**2 + odd**2)`` is average-pooled on a ``grid x grid`` grid.

    Parameters
    ----------
    images : array, shape (n, H, W, 3) or (n, H, W)
        uint8 (0-255) or float (0-1) images.
    stimulus_id : sequence of str, optional
        One id per image.
    size : int, default 64
        Working resolution in pixels (wavelengths are in pixels of this resolution).
    wavelengths : sequence of float, default (4.0, 8.0, 16.0)
        Carrier wavelengths (pixels).
    n_orientations : int, default 4
        Orientations evenly spaced over 0-180 degrees.
    grid : int, default 4
        Pooling grid per side.
    log : bool, default True
        Return ``log(energy + 1e-3)`` (compresses the heavy tail of energies; better suited to
        linear read-outs).

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, unit)``
        ``len(wavelengths) * n_orientations * grid**2`` units; ``model="gabor_energy"``,
        ``layer="grid<grid>"``; unit coords ``wavelength``, ``orientation`` (deg), ``y``, ``x``.
    """
    from scipy import fft as sfft

    caller = "gabor_energy_features"
    size, n_orientations, grid = (check_int(v, k, 1, caller=caller) for k, v in
                                  (("size", size), ("n_orientations", n_orientations), ("grid", grid)))
    log = check_bool(log, "log", "True: log(energy + 1e-3); False: the energy.", caller=caller)
    wl = np.asarray(wavelengths, dtype=object) if not isinstance(wavelengths, (str, bytes)) else np.asarray(None)
    if wl.ndim != 1 or not wl.size or not all(isinstance(w, (int, float, np.integer, np.floating)) and not isinstance(w, bool)
                                            and 0 < w < np.inf for w in wl.tolist()):
        raise ParameterError(f"{caller}: wavelengths must be a non-empty sequence of positive finite numbers (pixels); "
                             f"got {shown(wavelengths)}. Pass e.g. wavelengths=(4.0, 8.0, 16.0).")
    g = to_grayscale(_as_float_images(images, "gabor_energy_features"))  # its messages name this function
    ids = _ids(stimulus_id, g.shape[0], "gabor_energy_features")
    g = resize_area(g, size)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    orients = np.arange(n_orientations) * 180.0 / n_orientations
    base = float(min(wavelengths))
    blocks, wl_c, or_c, y_c, x_c = [], [], [], [], []
    yy, xx = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    for wl in map(float, wavelengths):
        # pyramid: a coarser wavelength is filtered on an image shrunk by base / wl, with the
        # kernel of the finest wavelength (same filter in image coordinates, far cheaper)
        res = max(grid, int(round(size * base / wl)))
        img = g if res == size else resize_area(g, res)
        kwl = wl * res / size
        kernels = [gabor_kernels(kwl, float(th)) for th in orients]
        kmax = max(k[0].shape[0] for k in kernels)
        # zero-padded linear convolution through one FFT of the image stack; the complex kernel
        # even + 1j * odd gives both quadrature responses at once, its modulus is the energy
        shape = [sfft.next_fast_len(res + kmax - 1)] * 2
        G = sfft.fft2(img, s=shape, axes=(1, 2), workers=-1)
        for th, (even, odd) in zip(orients, kernels):
            half = even.shape[0] // 2
            Kf = sfft.fft2(even + 1j * odd, s=shape)
            resp = sfft.ifft2(G * Kf[None], axes=(1, 2), workers=-1)[:, half:half + res, half:half + res]
            blocks.append(resize_area(np.abs(resp), grid).reshape(g.shape[0], -1))
            wl_c.append(np.full(grid * grid, wl))
            or_c.append(np.full(grid * grid, float(th)))
            y_c.append(yy.ravel())
            x_c.append(xx.ravel())
    data = np.concatenate(blocks, axis=1)
    if log:
        data = np.log(data + 1e-3)
    wl_c, or_c, y_c, x_c = (np.concatenate(v) for v in (wl_c, or_c, y_c, x_c))
    unit_id = [f"w{w:g}/o{o:g}/y{y}x{x}" for w, o, y, x in zip(wl_c, or_c, y_c, x_c)]
    return features(
        data,
        stimulus_id=ids,
        unit_id=unit_id,
        model="gabor_energy",
        layer=f"grid{grid}",
        name="gabor_energy_features",
        attrs={
            "description": "Gabor quadrature-pair energy, average-pooled; weight-free V1-like baseline",
            "size": size,
            "wavelengths": list(map(float, wavelengths)),
            "n_orientations": n_orientations,
            "log": int(log),
        },
        wavelength=wl_c,
        orientation=or_c,
        y=y_c,
        x=x_c,
    )


def random_cnn_features(
    images: Any,
    stimulus_id: Sequence[str] | None = None,
    seed: int = 0,
    channels: Sequence[int] = (16, 32, 64),
    pool: int = 4,
    size: int | None = None,
    batch_size: int = 64,
) -> dict[str, xr.DataArray]:
    """Features of a small CNN with fixed random (untrained) weights.

    Architecture: blocks of ``conv (5x5 first, 3x3 after, padding 'same', zero bias) -> ReLU ->
    2x2 max-pool``, one block per entry of ``channels``. Weights are He-normal
    (``std = sqrt(2 / fan_in)``) drawn from ``numpy.random.default_rng(seed)``, so they are
    the same on every platform and torch version. Input: RGB in [0, 1], centred and scaled as
    ``(x - 0.5) / 0.25``. Each block's output is average-pooled to ``pool x pool``.

    Parameters
    ----------
    images : array, shape (n, H, W, 3) or (n, H, W)
        uint8 (0-255) or float (0-1) images (grayscale is repeated to 3 channels).
    stimulus_id : sequence of str, optional
        One id per image.
    seed : int, default 0
        Seed of the weights, a non-negative int (None, which would draw other weights on every
        call, is refused).
    channels : sequence of int, default (16, 32, 64)
        Output channels per block.
    pool : int, default 4
        Spatial pooling grid per side of each returned layer.
    size : int, optional
        Resize (area) the images to ``size x size`` first.
    batch_size : int, default 64
        Images per forward pass (bounds memory).

    Returns
    -------
    dict of str -> xarray.DataArray
        ``{"conv1": ..., "conv2": ..., ...}``, each dims ``(stimulus, unit)`` with
        ``channels[i] * pool**2`` units, ``model="random_cnn"``, ``layer="conv<i+1>"``, unit
        coords ``channel``, ``y``, ``x`` and attrs ``seed``, ``channels``, ``pool`` and ``size``
        (``[height, width]`` of the resize, None without one): what made the features.

    Raises
    ------
    ImportError
        When torch is not installed.
    """
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "random_cnn_features needs torch (pip install '.[torch]' from the neuroxr repository); "
            "use pixel_features or gabor_energy_features without it."
        ) from e
    caller = "random_cnn_features"
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ParameterError(f"random_cnn_features: seed must be a non-negative int (it determines the weights); got {seed!r}.")
    channels = _counts(channels, "channels", caller, "(16, 32, 64)")
    pool, batch_size = check_int(pool, "pool", 1, caller=caller), check_int(batch_size, "batch_size", 1, caller=caller)
    size = None if size is None else _size(size, caller, pair=True)
    x = _as_float_images(images, "random_cnn_features")
    ids = _ids(stimulus_id, x.shape[0], "random_cnn_features")
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if size is not None:
        x = resize_area(x, size)
    if min(x.shape[1:3]) < 2 ** len(channels):  # each block halves the image: torch's own error named no argument
        raise ParameterError(f"{caller}: images of {x.shape[1]} x {x.shape[2]} pixels are too small for {len(channels)} "
                             f"blocks, each of which halves them (at least {2 ** len(channels)} pixels a side); pass fewer "
                             f"channels or a larger size=.")
    rng = np.random.default_rng(seed)
    weights = []
    c_in = 3
    for i, c_out in enumerate(channels):
        k = 5 if i == 0 else 3
        fan_in = c_in * k * k
        w = rng.standard_normal((int(c_out), c_in, k, k)) * np.sqrt(2.0 / fan_in)
        weights.append(torch.from_numpy(w.astype(np.float32)))
        c_in = int(c_out)
    outs: list[list[np.ndarray]] = [[] for _ in channels]
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = torch.from_numpy(((x[start:start + batch_size] - 0.5) / 0.25).astype(np.float32))
            h = xb.permute(0, 3, 1, 2).contiguous()
            for i, w in enumerate(weights):
                h = F.conv2d(h, w, padding=w.shape[-1] // 2)
                h = F.max_pool2d(F.relu(h), 2)
                outs[i].append(F.adaptive_avg_pool2d(h, pool).reshape(h.shape[0], -1).numpy().astype(np.float64))
    result: dict[str, xr.DataArray] = {}
    for i, c_out in enumerate(channels):
        cc, yy, xx = np.meshgrid(np.arange(c_out), np.arange(pool), np.arange(pool), indexing="ij")
        layer = f"conv{i + 1}"
        result[layer] = features(
            np.concatenate(outs[i], axis=0),
            stimulus_id=ids,
            unit_id=[f"{layer}/c{c}/y{y}x{x_}" for c, y, x_ in zip(cc.ravel(), yy.ravel(), xx.ravel())],
            model="random_cnn",
            layer=layer,
            name="random_cnn_features",
            attrs={
                "description": "untrained CNN, fixed random He-normal weights (numpy default_rng(seed)); baseline",
                "seed": int(seed),
                "channels": [int(c) for c in channels],
                "pool": int(pool),
                "size": None if size is None else np.broadcast_to(np.asarray(size, dtype=int), (2,)).tolist(),
            },
            channel=cc.ravel(),
            y=yy.ravel(),
            x=xx.ravel(),
        )
    return result
