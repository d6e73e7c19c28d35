"""Which preprocessing turns a stimulus into model input, and its description for the store.

Resolution order (:func:`resolve_preprocessing`):

1. ``transform=`` given explicitly: a callable (PIL image or array item -> tensor), a torchvision
   weights enum member (its ``weights.transforms()`` is used), a timm data config dict (built
   with ``timm.data.create_transform``), or a Hugging Face tokenizer, image processor or
   processor (``AutoTokenizer`` / ``AutoImageProcessor`` / ``AutoProcessor`` objects).
2. The model's own: a ``tokenizer`` / ``processor`` / ``image_processor`` attribute (as
   sentence-transformers models carry), or timm's ``pretrained_cfg`` (through
   ``timm.data.resolve_data_config`` + ``create_transform``).
3. :func:`default_image_transform`: resize, centre crop and ImageNet normalisation, as
   torchvision's ``ImageClassification`` preset does.

Images reach torchvision's and timm's transforms and Hugging Face image processors as RGB
(:func:`rgb_image`, as those libraries' own image loaders convert them); texts are padded on the
right whatever the tokenizer's ``padding_side``.

The description (what was used, with its parameters) is written to every layer's attrs.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExtractionError, ExtractionParameterError, no_effect, shown, warn
from ._common import reason, torch_module

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: PIL modes with more than 8 bits per value (32-bit integers, 16-bit integers, 32-bit floats), which
#: ``Image.convert("RGB")`` clips to 0-255: refused by the default transform, never fed clipped.
WIDE_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})

DEFAULT_TRANSFORM_REVISION = 2
"""The revision of :func:`default_image_transform`'s arithmetic, in its description and in the
preprocessing digest of what it makes (:func:`identity_tag`): 2 truncates the resized long side and
rounds the crop offsets as torchvision does; 1 (no tag) rounded the long side and floored the offsets,
which gave other pixels for some image sizes (e.g. 335x200), so layers extracted with it are not
taken for this revision's."""


class _DefaultImageSize(int):
    """224, the default ``image_size`` of an extraction, told apart from a size the caller gives:
    a given size that no preprocessing uses is refused (:func:`resolve_preprocessing`), the default never."""


#: the default ``image_size`` of :func:`resolve_preprocessing` and the extraction (224)
DEFAULT_IMAGE_SIZE: int = _DefaultImageSize(224)


def image_size_given(image_size: Any) -> bool:
    """Whether ``image_size`` was given by the caller (anything but :data:`DEFAULT_IMAGE_SIZE`)."""
    return not isinstance(image_size, _DefaultImageSize)


def default_image_transform(
    image_size: int | tuple[int, int] | None = 224,
    *,
    crop_fraction: float = 0.875,
    mean: tuple[float, float, float] | None = IMAGENET_MEAN,
    std: tuple[float, float, float] | None = IMAGENET_STD,
) -> Callable[[Any], Any]:
    """The default PIL image -> tensor transform (torchvision's ImageNet evaluation preset).

    The image is converted to RGB, resized (bilinear, aspect ratio kept) so that it covers
    ``round(image_size / crop_fraction)``, centre-cropped to ``image_size``, scaled to ``[0, 1]`` and
    normalised per channel: ``(x - mean) / std``. For a square ``image_size`` this is pixel for pixel
    torchvision's ``Resize(round(image_size / crop_fraction))``, ``CenterCrop(image_size)`` on a PIL
    image (the resized long side truncated, the crop offsets ``int(round((resized - size) / 2))``).

    Parameters
    ----------
    image_size : int, (height, width) or None, default 224
        Output size; ``None`` keeps each image's own size (no resize, no crop).
    crop_fraction : float, default 0.875
        Fraction of the resized image kept by the centre crop (224 of 256, as torchvision).
        ``1.0`` resizes straight to the covering size and crops only the longer side.
    mean, std : 3 floats or None, default ImageNet's
        Per-channel normalisation; ``None`` for both leaves values in ``[0, 1]``.

    Returns
    -------
    callable
        ``f(image) -> torch.Tensor`` of shape ``(3, height, width)``, float32. Its ``repr``
        states the revision (:data:`DEFAULT_TRANSFORM_REVISION`) and the parameters (it is recorded
        in the store).
    """
    if not 0 < crop_fraction <= 1:
        raise ExtractionError(f"crop_fraction must be in (0, 1]; got {shown(crop_fraction)}.")
    size = _image_size(image_size)
    if (mean is None) != (std is None):
        raise ExtractionError("default_image_transform needs both mean and std, or neither (None, None).")
    return _ImageTransform(size, float(crop_fraction), mean, std)


def _image_size(image_size: Any) -> tuple[int, int] | None:
    """``image_size`` as ``(height, width)`` of positive ints, or ``None``; a one-line error naming it otherwise."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (isinstance(image_size, (tuple, list)) and len(image_size) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in image_size)):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        size = (0, 0)
    if min(size) < 1:
        raise ExtractionError(
            f"image_size must be a positive int, (height, width) of positive ints, or None (each image's own "
            f"size); got {shown(image_size)}."
        )
    return size


def rgb_image(image: Any, user: str) -> Any:
    """The PIL ``image`` converted to RGB, as ``user`` (the preprocessing, named in the error) takes it.

    Grayscale, palette, RGBA or CMYK images become 3-channel RGB, as torchvision's and timm's image
    loaders make them. Modes of more than 8 bits per value (:data:`WIDE_MODES`) are refused, never
    clipped to 0-255.
    """
    if image.mode in WIDE_MODES:  # convert("RGB") clips them to 8 bits (a float image in 0-1 turns black)
        raise ExtractionError(
            f"image mode {image.mode!r} holds more than 8 bits per value, which {user} would clip "
            f"to 0-255; convert the images to 8-bit yourself (scaled to 0-255) or pass your own transform=."
        )
    return image.convert("RGB")


class _RGBFirst:
    """A torchvision or timm image transform fed RGB images (:func:`rgb_image`), as their own image
    loaders feed them: a grayscale or RGBA image is converted, not refused by the transform's
    3-channel normalisation, and a YCbCr or HSV one is not read as RGB. Array items (tensors) are
    passed as they are."""

    def __init__(self, transform: Callable[[Any], Any], user: str) -> None:
        self.transform = transform
        self.user = user

    def __call__(self, image: Any) -> Any:
        if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
            image = rgb_image(image, self.user)
        return self.transform(image)

    def __repr__(self) -> str:
        return f"convert('RGB'), then {self.transform!r}"


class _ImageTransform:
    """:func:`default_image_transform`'s transform; :data:`DEFAULT_TRANSFORM_REVISION` names its arithmetic."""

    def __init__(self, size: tuple[int, int] | None, crop_fraction: float, mean: Any, std: Any) -> None:
        self.image_size = size
        self.crop_fraction = crop_fraction
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = None if std is None else np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
        self._norm = "none" if mean is None else f"mean={_floats(mean)}, std={_floats(std)}"

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` an image of that size is resized to before the centre crop.

        The side with the larger ratio to its covering size ``round(side / crop_fraction)`` is
        resized to that size and the other side to ``int(covering * other / side)``, truncated: the
        arithmetic of torchvision's ``resize`` for a smaller-edge size (``_compute_resized_output_size``),
        which the two sides of a square ``image_size`` reproduce exactly.
        """
        h, w = self.image_size
        th, tw = round(h / self.crop_fraction), round(w / self.crop_fraction)
        if th * width >= tw * height:  # the height has the larger ratio (th / height >= tw / width)
            return th, max(tw, int(th * width / height))
        return max(th, int(tw * height / width)), tw

    def __call__(self, image: Any) -> Any:
        torch = torch_module()
        from PIL import Image

        img = rgb_image(image, "the default transform")
        if self.image_size is not None:
            h, w = self.image_size
            rh, rw = self.resized_size(img.height, img.width)
            if (rh, rw) != (img.height, img.width):
                img = img.resize((rw, rh), Image.BILINEAR)
            top, left = int(round((rh - h) / 2.0)), int(round((rw - w) / 2.0))  # torchvision's center_crop
            img = img.crop((left, top, left + w, top + h))
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        if self.mean is not None:
            arr = (arr - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))

    def __repr__(self) -> str:
        return (
            f"default_image_transform(revision={DEFAULT_TRANSFORM_REVISION}, "
            f"image_size={list(self.image_size) if self.image_size else None}, "
            f"crop_fraction={self.crop_fraction}, resize=bilinear, normalize={self._norm})"
        )


def _floats(values: Any) -> list[float]:
    """``values`` as Python floats rounded to 6 decimals (0.485, not float32's 0.48500001430511475)."""
    return [round(float(v), 6) for v in values]


@dataclass
class Preprocessing:
    """How stimuli become model input.

    Attributes
    ----------
    source : str
        ``"explicit transform"``, ``"torchvision weights"``, ``"timm data config"``,
        ``"huggingface tokenizer"``, ``"huggingface image processor"``, ``"huggingface processor"``
        or ``"default"``.
    description : str
        What was used, with its parameters (stored in each layer's attrs ``transform``).
    image : callable or None, optional
        PIL image (or array item) -> tensor ``(C, H, W)``; ``None`` when images go through
        ``image_processor``.
    image_processor : callable or None, optional
        ``f(list of PIL images) -> dict of tensors`` (Hugging Face image processors).
    tokenizer : callable or None, optional
        ``f(list of str, max_length) -> dict of tensors`` for text; ``None`` when the model takes no text.
    explicit : bool, default False
        Whether the user passed it (``transform=``).
    max_tokens : int or None, optional
        The most tokens a text may have (the tokenizer's ``model_max_length``, the model's
        position embeddings), with what sets it in ``max_tokens_by``: longer texts are refused,
        never truncated.
    token_lengths : callable or None, optional
        ``f(list of str) -> list of int``: token counts of texts, checked against ``max_tokens``.
    max_tokens_by : str, default ""
        What sets ``max_tokens`` (``""`` when there is no limit).
    """

    source: str
    description: str
    image: Callable[[Any], Any] | None = None
    image_processor: Callable[[list[Any]], dict[str, Any]] | None = None
    tokenizer: Callable[..., dict[str, Any]] | None = None
    token_lengths: Callable[[list[str]], list[int]] | None = None
    explicit: bool = False
    max_tokens: int | None = None
    max_tokens_by: str = ""


FED_AS_IS = {"array": "array", "tensor_dataset": "Dataset of tensors"}
"""The kinds of stimuli fed to the model as they are unless ``transform=`` is given, as attrs name them."""


def transform_used(prep: Preprocessing, kind: str) -> bool:
    """Whether ``prep`` makes the model input of stimuli of ``kind``: always, except for an array or a
    Dataset of tensors fed as is (no ``transform=`` given, or one that has no per-item ``image``
    callable: a Hugging Face tokenizer or processor, which :func:`~neuroxr.extract.stimuli.as_stimuli`
    refuses for them; never recorded as used)."""
    return kind not in FED_AS_IS or (prep.explicit and prep.image is not None)


def identity_tag(prep: Preprocessing, kind: str) -> str | None:
    """The text the preprocessing digest adds for ``prep`` (:class:`~neuroxr.extract.identity.Identity`):
    the revision of :func:`default_image_transform` when it is used on stimuli of ``kind``, so that a
    layer made by an earlier revision is not taken for this one; ``None`` (nothing added) otherwise."""
    default = isinstance(prep.image, _ImageTransform) or (
        prep.image is None and prep.image_processor is None and kind != "text")  # images without a transform
    if default and transform_used(prep, "dataset" if kind == "tensor_dataset" else kind):
        # a Dataset of tensors keeps the tag its layers were stored with when it was not told from one of images
        return f"default_image_transform revision {DEFAULT_TRANSFORM_REVISION}"
    return None


def _is_hf(obj: Any, *class_names: str) -> bool:
    return any(c.__name__ in class_names for c in type(obj).__mro__) and type(obj).__module__.startswith("transformers")


_TOKENIZING = threading.Lock()
"""Held by every call neuroxr makes to a Hugging Face tokenizer or processor on texts: extractions in threads
of one process share a model's tokenizer, whose ``padding_side`` each call sets for itself and puts back (one
putting 'left' back while another was in its call had that one pad on the left), and whose Rust backend refuses
a second thread while one encodes (``RuntimeError: Already borrowed``)."""


def _hf_text(tok: Any, call: Callable[..., Any]) -> tuple[Callable[..., dict[str, Any]], Callable[[list[str]], list[int]]]:
    """``(tokenize, lengths)`` of a Hugging Face tokenizer (or processor) ``call``.

    Texts are padded on the right whatever the tokenizer's ``padding_side``: left padding shifts
    the position of every token of a shorter text, so its features would depend on the longest
    text of the set (pooling reads the attention mask either way)."""

    def tokenize(texts: list[str], max_length: int) -> dict[str, Any]:
        with _TOKENIZING:  # the side found is the caller's, not another thread's for its own call
            side = getattr(tok, "padding_side", "right")  # set for the call (transformers < 4.45 has no padding_side=)
            try:
                tok.padding_side = "right"
                out = call(list(texts), padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
            except Exception as exc:  # e.g. no padding token: texts of different lengths cannot be padded
                raise ExtractionError(
                    f"the tokenizer {type(tok).__name__} fails on the texts ({reason(exc)}); fix the tokenizer passed as "
                    f"transform= (or the model's own), e.g. give it a padding token: tokenizer.pad_token = tokenizer.eos_token."
                ) from exc
            finally:
                tok.padding_side = side
        return dict(out)

    def lengths(texts: list[str]) -> list[int]:
        with _TOKENIZING:
            enc = call(list(texts), truncation=False)  # a text longer than the limit is refused, not cut
        return [len(ids) for ids in enc["input_ids"]]

    return tokenize, lengths


def _token_limit(tok: Any, model: Any = None) -> dict[str, Any]:
    """``max_tokens`` / ``max_tokens_by`` of :class:`Preprocessing`: the tokenizer's
    ``model_max_length`` (tokenizers without one say 1e30) and, with ``model``, its config's
    ``max_position_embeddings`` / ``n_positions``, the smaller; ``{}`` where neither is known."""
    found = []
    if tok is not None and isinstance(getattr(tok, "model_max_length", None), int) and tok.model_max_length < 10**9:
        found.append((tok.model_max_length, f"the tokenizer's model_max_length ({tok.model_max_length})"))
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            found.append((value, f"the model's config.{key} ({value})"))
            break
    if not found:
        return {}
    limit, by = min(found)
    return {"max_tokens": limit, "max_tokens_by": by}


def _hf_images(proc: Any) -> Callable[[list[Any]], dict[str, Any]]:
    def process(images: list[Any]) -> dict[str, Any]:
        return dict(proc(images=list(images), return_tensors="pt"))  # RGB already (the loader converts each, named)

    return process


def _timm_transform(config: dict[str, Any]) -> Callable[[Any], Any]:
    """``timm.data.create_transform(**config)`` for evaluation; a one-line error naming ``transform``
    for keys ``create_transform`` does not take (a model's whole ``pretrained_cfg``), or ``is_training``
    (random augmentation), or timm missing."""
    try:
        from timm.data import create_transform
    except ImportError as exc:
        raise ExtractionError(f"transform is a timm data config, which needs timm ({reason(exc)}); pip install timm.") from None
    unknown = sorted(set(config) - set(inspect.signature(create_transform).parameters))
    if unknown or config.get("is_training"):
        what = f"keys {unknown} that timm.data.create_transform does not take" if unknown else "is_training=True"
        raise ExtractionError(
            f"transform: the timm data config has {what}; pass the data config for evaluation, "
            f"timm.data.resolve_data_config(pretrained_cfg=model.pretrained_cfg), or transform=None for a timm model's own."
        )
    return create_transform(**{k: v for k, v in config.items() if k != "is_training"})


def _from_object(obj: Any, explicit: bool) -> Preprocessing | None:
    """Preprocessing from a transform-like object, or ``None`` if ``obj`` is not one."""
    if _is_hf(obj, "ProcessorMixin"):
        tok = getattr(obj, "tokenizer", None)
        img = getattr(obj, "image_processor", None)
        text = _hf_text(tok, lambda t, **kw: obj(text=t, **kw)) if tok is not None else (None, None)
        return Preprocessing("huggingface processor", repr(obj), image_processor=_hf_images(img) if img is not None else None,
                             tokenizer=text[0], token_lengths=text[1], explicit=explicit, **_token_limit(tok))
    if _is_hf(obj, "PreTrainedTokenizerBase"):
        tokenize, lengths = _hf_text(obj, obj)
        desc = f"{type(obj).__name__}(name_or_path={obj.name_or_path!r}, vocab_size={obj.vocab_size})"
        return Preprocessing("huggingface tokenizer", desc, tokenizer=tokenize, token_lengths=lengths, explicit=explicit,
                             **_token_limit(obj))
    if _is_hf(obj, "ImageProcessingMixin", "BaseImageProcessor"):
        return Preprocessing("huggingface image processor", repr(obj), image_processor=_hf_images(obj), explicit=explicit)
    if isinstance(obj, dict) and {"input_size", "mean", "std"} <= set(obj):
        tf = _RGBFirst(_timm_transform(obj), "the timm transform")
        return Preprocessing("timm data config", f"timm.data.create_transform({obj}) = {tf!r}", image=tf, explicit=explicit)
    transforms = getattr(obj, "transforms", None)
    if callable(transforms) and not callable(obj) and hasattr(obj, "meta"):  # a torchvision Weights member
        name = f"{type(obj).__name__}.{getattr(obj, 'name', '?')}"
        tf = _RGBFirst(transforms(), f"{name}.transforms()")
        return Preprocessing("torchvision weights", f"{name}.transforms() = {tf!r}", image=tf, explicit=explicit)
    if callable(obj):
        desc = getattr(obj, "__qualname__", None) or repr(obj)
        return Preprocessing("explicit transform", desc, image=obj, explicit=explicit)
    return None


def _model_limit(prep: Preprocessing, model: Any) -> Preprocessing:
    """``prep`` with its ``max_tokens`` lowered to the model's position embeddings (texts only)."""
    limit = _token_limit(None, model) if prep.tokenizer is not None else {}
    if limit and (prep.max_tokens is None or limit["max_tokens"] < prep.max_tokens):
        prep.max_tokens, prep.max_tokens_by = limit["max_tokens"], limit["max_tokens_by"]
    return prep


def _unused_size(image_size: Any, by: str, fix: str) -> None:
    """Refuse an ``image_size`` the caller gave that the chosen preprocessing does not use."""
    if image_size_given(image_size):
        raise no_effect([f"image_size={image_size!r} (--image-size)"], f"when {by} sizes the inputs", instead=fix,
                        error=ExtractionParameterError)


def _carried_preprocessing(model: Any, attr: str, obj: Any) -> bool:
    """Whether ``model.<attr>`` (``processor``, ``tokenizer``, ``image_processor``) is preprocessing the
    model carries: an object set on it (a Hugging Face tokenizer or processor, a transform), not a
    method of the model's class that happens to have that name, nor a submodule (it has a ``forward``)."""
    if obj is None or callable(getattr(obj, "forward", None)):
        return False
    if inspect.ismethod(obj) and obj.__self__ in (model, type(model)):  # a method or classmethod of the model
        return False
    return not (inspect.isfunction(obj) and attr not in getattr(model, "__dict__", {}))  # a staticmethod of its class


def resolve_preprocessing(model: Any, transform: Any = None,
                          image_size: int | tuple[int, int] | None = DEFAULT_IMAGE_SIZE) -> Preprocessing:
    """The preprocessing for ``model``: ``transform`` if given, else the model's own, else the default.

    Parameters
    ----------
    model : torch.nn.Module
    transform : callable, torchvision weights, timm data config, Hugging Face tokenizer/processor, or None, optional
        See the module docstring.
    image_size : int, (height, width) or None, default 224
        Size of :func:`default_image_transform` when it is used. Given (anything but the default)
        with a transform or a model that carries its own preprocessing, it is refused: it would
        have no effect.

    Returns
    -------
    Preprocessing

    Raises
    ------
    ExtractionError
        A transform not understood, or an ``image_size`` given that no preprocessing uses.
    """
    if transform is not None:
        prep = _from_object(transform, explicit=True)
        if prep is None and isinstance(transform, dict):  # "pass a timm data config dict" was said to one
            lacks = sorted({"input_size", "mean", "std"} - set(transform))
            raise ExtractionError(f"transform: a dict is read as a timm data config, which needs 'input_size', 'mean' and "
                                  f"'std', and this one lacks {lacks}; pass timm.data.resolve_data_config(model=model), "
                                  f"or a callable.")
        if prep is None:
            raise ExtractionError(
                f"transform of type {type(transform).__name__} is not understood; pass a callable, a torchvision "
                f"weights enum member, a timm data config dict, or a Hugging Face tokenizer/processor."
            )
        _unused_size(image_size, "the transform given (transform=)", "build the transform with that size")
        return _model_limit(prep, model)
    for attr in ("processor", "tokenizer", "image_processor"):
        obj = getattr(model, attr, None)
        if _carried_preprocessing(model, attr, obj):
            prep = _from_object(obj, explicit=False)
            if prep is not None:
                _unused_size(image_size, f"the model's own preprocessing (model.{attr})",
                             "pass transform= to replace the model's preprocessing")
                prep.description = f"model.{attr}: {prep.description}"
                return _model_limit(prep, model)
    if getattr(model, "pretrained_cfg", None) is not None and type(model).__module__.startswith("timm"):
        from timm.data import create_transform, resolve_data_config

        _unused_size(image_size, "the model's own preprocessing (timm data config)",
                     "pass transform= to replace the model's preprocessing")
        cfg = resolve_data_config({}, model=model)
        tf = _RGBFirst(create_transform(**cfg), "the timm transform")
        return Preprocessing("timm data config", f"timm.data.resolve_data_config(model) = {cfg}: {tf!r}", image=tf)
    tf = default_image_transform(image_size)
    return Preprocessing("default", repr(tf), image=tf)


def warn_default_for_hf(model: Any, prep: Preprocessing, stimuli_kind: str) -> None:
    """Warn when image files reach a Hugging Face model through :func:`default_image_transform`: the
    model carries no preprocessing, and its checkpoint's image processor (a ViT's mean and std of
    0.5, CLIP's own) may differ from ImageNet's; the extraction goes on with the default."""
    if prep.source != "default" or stimuli_kind not in ("folder", "files") or not type(model).__module__.startswith("transformers"):
        return
    name = getattr(getattr(model, "config", None), "_name_or_path", "") or "<its checkpoint>"
    warn(f"model is a Hugging Face {type(model).__name__} without transform=: its images get the default ImageNet "
         f"transform ({prep.description}), which may not be its checkpoint's preprocessing; pass "
         f"transform=AutoImageProcessor.from_pretrained({name!r}) to use the checkpoint's own.")
