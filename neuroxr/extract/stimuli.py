"""Stimuli as batches of model input: image folders and files, arrays, torch Datasets, texts.

A batch is a tensor ``(batch, ...)`` passed positionally, or a dict of tensors passed as keyword
arguments (Hugging Face processors and tokenizers: ``pixel_values``; ``input_ids``,
``attention_mask``, ...). Texts are padded to the longest text of the whole set, so every batch
gives every layer the same number of tokens.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtractionError, NeuroxrError, missing_ids_error, shown
from ..layouts import missing_ids
from ._common import reason, torch_module
from .preprocess import Preprocessing, default_image_transform, rgb_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name.

    Recognised extensions: ``.png .jpg .jpeg .bmp .gif .tif .tiff .webp .ppm .pgm`` (any case).
    """
    folder = Path(folder).expanduser()
    if folder.is_file():  # one image, or a file of paths: not what a folder of images is
        raise ExtractionError(f"stimuli {str(folder)!r} is a file, not a folder of images; pass the folder, or a list "
                              f"of image files ([path, ...]).")
    if not folder.is_dir():
        pattern = any(c in folder.name for c in "*?[")  # 'imgs/*.png': a shell would have expanded it
        raise ExtractionError(f"stimuli folder {str(folder)!r} does not exist or is not a folder"
                              + ("; a pattern is not expanded: pass the files it matches, sorted(glob.glob(pattern))."
                                 if pattern else "."))
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ExtractionError(
            f"no image files in {str(folder)!r} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
            f"sub-folders are not searched."
        )
    return files


def open_image(path: Path) -> Any:
    """The image at ``path``, fully read; a one-line :class:`ExtractionError` naming the file if it cannot be."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExtractionError(
            f"image file {str(path)!r} cannot be read ({reason}); replace or remove it, or pass the other files."
        ) from None


class Stimuli:
    """Random access to batches of stimuli.

    Attributes
    ----------
    n : int
    ids : numpy.ndarray of str, shape (n,)
    kind : str
        ``"folder"``, ``"files"``, ``"array"``, ``"dataset"`` or ``"text"``.
    n_tokens : int or None
        Tokens per text (padding included) for text stimuli.
    source : list of Path, list of str, array, tensor or None
        The stimuli as given, for hashing their contents (:mod:`neuroxr.extract.identity`): the
        image files, the texts, the array; ``None`` for a Dataset (its items are hashed as loaded).
    dims : tuple of str or None
        The dims of a labeled array of stimuli (an xarray DataArray), ``stimulus`` first, as its values are
        fed; ``None`` for other stimuli.
    """

    def __init__(self, n: int, ids: np.ndarray, loader: Callable[[np.ndarray], Any], kind: str,
                 n_tokens: int | None = None, source: Any = None, dims: tuple[str, ...] | None = None) -> None:
        self.n = n
        self.ids = ids
        self._loader = loader
        self.kind = kind
        self.n_tokens = n_tokens
        self.source = source
        self.dims = dims

    def load(self, index: np.ndarray) -> Any:
        """The batch of stimuli ``index``: a tensor ``(batch, ...)`` or a dict of such tensors."""
        return self._loader(np.asarray(index))

    def reordered(self, order: np.ndarray) -> Stimuli:
        """The same stimuli in the order ``order`` (positions into these), each still paired with its
        own id: stimulus ``i`` of the result is stimulus ``order[i]`` of these. An array's ``source``
        is copied in that order (its digest is that of the array given in that order)."""
        order = np.asarray(order, dtype=np.int64)
        loader = self._loader

        def load_reordered(index: np.ndarray) -> Any:
            return loader(order[np.asarray(index, dtype=np.int64)])

        source = self.source
        if isinstance(source, (list, tuple)):
            source = [source[int(i)] for i in order]
        elif source is not None:  # an array or a tensor
            torch = torch_module()
            source = source[torch.as_tensor(order, device=source.device)] if isinstance(source, torch.Tensor) else source[order]
        return Stimuli(self.n, self.ids[order], load_reordered, self.kind, n_tokens=self.n_tokens, source=source,
                       dims=self.dims)


def check_ids(ids: Any, n: int, default: Sequence[str] | None, source: str = "") -> np.ndarray:
    """Stimulus ids as a unique str array of length ``n``: ``ids``, else ``default`` (a Dataset's
    ``stimulus_ids``, named ``source`` in errors, checked as ``ids`` are), else ``stimulus0, ...``.
    A missing id (None, NaN, also among strings of a list) is an error, never the string ``"nan"``."""
    arg, given = "stimulus_ids", ids is not None
    if ids is None and default is not None:
        ids, arg = (default if hasattr(default, "__len__") else list(default)), source or "stimulus_ids"
    if ids is None:
        arr = np.array([f"stimulus{i}" for i in range(n)], dtype=str)
    else:
        raw = np.asarray(ids)
        if raw.ndim == 0:  # a string, a set or a generator: no ids by position
            raise ExtractionError(f"{arg} must be a sequence of ids, one per stimulus ({n}); got {shown(ids)}.")
        if raw.ndim != 1 or raw.shape[0] != n:
            fix = "" if arg == "stimulus_ids" else " (or pass stimulus_ids=)"
            raise ExtractionError(f"{arg} has shape {raw.shape}; pass one id per stimulus ({n}){fix}.")
        miss = missing_ids(ids)  # the sequence itself: numpy reads a NaN among strings as 'nan'
        if miss.size:
            raise missing_ids_error(arg, miss, "give every stimulus an id.", error=ExtractionError)
        arr = raw.astype(str)
        empty = np.flatnonzero(arr == "")
        if empty.size:  # an id that names nothing: the stored layer would be invalid (the layouts' rule)
            raise ExtractionError(f"{arg} has {empty.size} empty ids ('') at positions {empty[:5].tolist()}; give every "
                                  f"stimulus a non-empty id.")
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5].tolist()
        fix = ("give each stimulus its own id." if given or default is None else
               "Pass stimulus_ids=... explicitly (file names are used without their extension)." if not source else
               "give each item its own id, or pass stimulus_ids=.")  # the file stems' advice the CLI rewords
        raise ExtractionError(f"{'stimulus ids' if arg == 'stimulus_ids' else arg} must be unique; "
                              f"{int((counts > 1).sum())} are repeated, e.g. {dup}. {fix[0].upper() + fix[1:]}")
    return arr


def check_same_input(stim: Stimuli, a: Any, b: Any) -> None:
    """Refuse preprocessing that gives a stimulus other model input on another load: ``a`` and ``b``,
    two loaded batches (tensors, or dicts of tensors) that start with the same stimuli, must agree
    on their common rows (NaN equal to NaN). A random augmentation (``RandomResizedCrop``, a random
    flip), a Dataset that draws its items, or padding that depends on the batch would store features
    of one draw, which another run, or another pass over the stimuli, would not reproduce."""
    torch = torch_module()
    k = min(len(a[next(iter(a))]) if isinstance(a, Mapping) else len(a),
            len(b[next(iter(b))]) if isinstance(b, Mapping) else len(b))
    pairs = [(a[key], b.get(key)) for key in a] if isinstance(a, Mapping) and isinstance(b, Mapping) else [(a, b)]
    for x, y in pairs:
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            continue
        x, y = x[:k], y[:k]
        same = x.shape == y.shape and x.dtype == y.dtype and (
            bool(((x == y) | (torch.isnan(x) & torch.isnan(y))).all()) if x.is_floating_point() else torch.equal(x, y))
        if not same:
            raise ExtractionError(
                f"the preprocessing gave the first stimuli ({', '.join(map(repr, stim.ids[:k].tolist()))}) other model "
                f"input on a second load: a random augmentation (RandomResizedCrop, RandomHorizontalFlip, ...), a Dataset "
                f"that draws its items, or padding that depends on the batch; the features would be of one random draw. "
                f"Pass a deterministic (evaluation) transform, e.g. transform=weights.transforms()."
            )


#: What a caller does whose transform or Dataset gives something other than numbers, by ``_stack``'s ``what``
_NOT_NUMBERS_FIX = {
    "dataset items": "return a tensor, an array or a PIL image from __getitem__ (or a tuple whose first item is one)",
}


def _as_tensor(x: Any, sid: Any, what: str) -> Any:
    """``x`` (a tensor, an array, nested lists of numbers) as a tensor; anything else (a dict, ``None``, a
    string) is a one-line :class:`ExtractionError` naming the stimulus ``sid``, never torch's own error."""
    torch = torch_module()
    if isinstance(x, torch.Tensor):
        return x
    try:
        arr = np.asarray(x)
    except Exception:  # a ragged list: numpy's own error names no stimulus
        arr = None
    if arr is None or arr.dtype.kind not in "biufc":
        got = "None" if x is None else f"an array of dtype {x.dtype}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        fix = _NOT_NUMBERS_FIX.get(what, "pass transform= a callable that returns the model input as a tensor "
                                         "(e.g. (C, H, W) for an image)")
        raise ExtractionError(f"{what}: stimulus {str(sid)!r} gives {got}, not a tensor or array of numbers; {fix}.")
    return torch.as_tensor(arr)


def _numbers(x: Any) -> bool:
    """Whether ``x`` is a number or a (nested) list of numbers: part of a stimulus, never a whole one."""
    while isinstance(x, list) and x:
        x = x[0]
    return isinstance(x, (int, float, np.number))


def _stack(items: list[Any], what: str, ids: Any) -> Any:
    """``items`` (the model input of the stimuli ``ids``) stacked into one batch tensor."""
    torch = torch_module()
    ts = [_as_tensor(t, sid, what) for t, sid in zip(items, ids)]
    odd = next((i for i, t in enumerate(ts) if t.shape != ts[0].shape), None)
    if odd is not None:  # (image_size is no way out: it sizes the default transform, which makes one shape)
        first, other = (f"{str(ids[i])!r} {tuple(ts[i].shape)}" for i in (0, odd))
        raise ExtractionError(
            f"{what} have different shapes, e.g. stimulus {first} and {other}; stimuli are stacked into batches: "
            f"give them the same shape (resize, crop or pad them), or pass transform= a callable that does."
        )
    return torch.stack(ts)


def _transform_error(prep: Preprocessing, where: str, what: str, exc: Exception) -> ExtractionError:
    """The one-line error of a transform that fails on stimuli: it names them, the transform and the reason."""
    desc = prep.description if len(prep.description) <= 100 else prep.description[:100] + "..."
    images = ("; an image transform (default_image_transform, torchvision's) takes PIL images: pass "
              "[PIL.Image.fromarray(a) for a in images] (uint8, (H, W, C) each) with stimulus_ids=" if what == "an array item"
              else "")  # an array of images given to a transform of PIL images
    return ExtractionError(f"the transform ({desc}) fails on {where} ({reason(exc)}); pass transform= a callable that "
                           f"takes {what} and returns the model input (a tensor){images}.")


def _transformed(tf: Callable[[Any], Any], items: list[Any], ids: Any, prep: Preprocessing, what: str) -> list[Any]:
    """``[tf(x) for x in items]``; a transform failing on a stimulus is a one-line :class:`ExtractionError`
    naming the stimulus (its id in ``ids``), the transform and the reason."""
    out = []
    for x, sid in zip(items, ids):
        try:
            out.append(tf(x))
        except ExtractionError as exc:  # neuroxr's own transform refusing this stimulus: name it
            raise ExtractionError(f"stimulus {str(sid)!r}: {exc}") from None
        except NeuroxrError:
            raise
        except Exception as exc:  # the transform's own code
            raise _transform_error(prep, f"stimulus {str(sid)!r}", what, exc) from exc
    return out


def _images_to_batch(images: list[Any], ids: Any, prep: Preprocessing) -> Any:
    if prep.image_processor is not None:
        # RGB first, each stimulus on its own: one the conversion refuses is named
        images = _transformed(lambda im: rgb_image(im, "the image processor"), images, ids, prep, "a PIL image")
        try:
            return prep.image_processor(images)
        except NeuroxrError:
            raise
        except Exception as exc:
            raise _transform_error(prep, f"the stimuli {[str(i) for i in ids[:3]]}{', ...' if len(ids) > 3 else ''}",
                                   "a list of PIL images", exc) from exc
    tf = prep.image if prep.image is not None else default_image_transform()
    return _stack(_transformed(tf, images, ids, prep, "a PIL image"), "images after the transform", ids)


def _refuse_unapplied(prep: Preprocessing, what: str) -> None:
    """Refuse an explicit Hugging Face tokenizer, image processor or processor (``transform=``) for
    ``what`` (an array, a Dataset of tensors), which it would not preprocess: it takes texts and PIL
    images. Its guesses on arrays (channels first or last, values in 0-255 or 0-1 for ``do_rescale``)
    are not made for the caller; a transform that is not applied is never recorded as used."""
    if not prep.explicit or prep.image is not None:
        return
    fix = ("preprocess them first, e.g. x = processor(images=list(images), return_tensors='pt')['pixel_values'], and "
           "leave transform= out, or pass the images as files or PIL images" if prep.image_processor is not None
           else "a tokenizer takes texts: pass a list of strings, or leave transform= out")
    raise ExtractionError(f"transform: the {prep.source} given is not applied to {what}, which are fed to the model as "
                          f"they are; {fix}.")


def _is_text_list(stimuli: Any) -> bool:
    return isinstance(stimuli, (list, tuple)) and bool(stimuli) and all(isinstance(s, str) for s in stimuli)


def _is_file(s: str) -> bool:
    try:
        return Path(s).is_file()
    except (OSError, ValueError):  # a text too long, or with a NUL, for a path
        return False


#: What a caller without a tokenizer does to extract texts (the Python API's wording).
TOKENIZER_FIX = ("pass transform=<a Hugging Face tokenizer or processor>, or a model that carries one "
                 "(a tokenizer or processor attribute)")


def require_tokenizer(prep: Preprocessing, fix: str = TOKENIZER_FIX) -> None:
    """The one rule of texts: they need a tokenizer or processor (``prep.tokenizer``); else a
    one-line :class:`ExtractionError` ending with ``fix`` (what the caller passes instead)."""
    if prep.tokenizer is None:
        has = "the model carries none" if prep.source == "default" else f"the preprocessing ({prep.source}) has none"
        raise ExtractionError(f"texts need a tokenizer or processor to become model input, and {has}: {fix}.")


def _texts_or_files(stimuli: Any, prep: Preprocessing, texts: bool | None) -> bool:
    """Whether ``stimuli`` are texts: ``texts`` when given (True: a list of strings, refused without a
    tokenizer); ``None``: a list of strings with a tokenizer, refused when each is an existing file
    (texts or image files? say which with texts=)."""
    if texts is not None and not isinstance(texts, (bool, np.bool_)):
        raise ExtractionError(f"texts must be True, False or None (automatic); got {shown(texts)}.")
    if texts:
        if not _is_text_list(stimuli):
            raise ExtractionError(f"texts=True needs stimuli as a list of strings, one text each; got {type(stimuli).__name__}.")
        require_tokenizer(prep)
        return True
    if texts is not None or not _is_text_list(stimuli) or prep.tokenizer is None:
        return False
    if all(_is_file(s) for s in stimuli):
        raise ExtractionError(f"stimuli are strings that name existing files (e.g. {stimuli[0]!r}), and the model has a "
                              f"tokenizer: pass texts=True to tokenize them as texts or texts=False to read them as image files.")
    return True


def _labeled(stimuli: Any, stimulus_ids: Any) -> tuple[Any, Any, tuple[str, ...] | None]:
    """A labeled array of stimuli (an xarray DataArray with a ``stimulus`` dim, as the datasets give
    images) as its values with ``stimulus`` moved first (the other dims in their order), and its
    ``stimulus_id`` coord as the ids unless ``stimulus_ids`` is given, and its dims in that order (``None``
    for other stimuli). Taken item by item as a Dataset before, it got ids ``stimulus0, ...``."""
    import xarray as xr

    if not isinstance(stimuli, xr.DataArray):
        return stimuli, stimulus_ids, None
    if "stimulus" not in stimuli.dims:
        raise ExtractionError(f"stimuli: a DataArray of stimuli needs a 'stimulus' dim; got dims {tuple(map(str, stimuli.dims))}: "
                              f"rename the stimuli's dim to 'stimulus' (da.rename({{old: 'stimulus'}})).")
    if stimulus_ids is None and "stimulus_id" in stimuli.coords and stimuli["stimulus_id"].dims == ("stimulus",):
        stimulus_ids = stimuli["stimulus_id"].values
    first = stimuli.transpose("stimulus", ...)
    return first.values, stimulus_ids, tuple(map(str, first.dims))


def as_stimuli(stimuli: Any, stimulus_ids: Sequence[str] | None, prep: Preprocessing, texts: bool | None = None) -> Stimuli:
    """Wrap ``stimuli`` (see :func:`neuroxr.extract.extract_features`, also for ``texts``) for batch access."""
    torch = torch_module()
    if isinstance(stimuli, Stimuli):
        return stimuli
    stimuli, stimulus_ids, dims = _labeled(stimuli, stimulus_ids)
    if (isinstance(stimuli, np.ndarray) and stimuli.ndim == 1 and stimuli.dtype.kind in "USO") or (
            type(stimuli).__module__.startswith("pandas") and getattr(stimuli, "ndim", 0) == 1):
        stimuli = stimuli.tolist()  # a column of paths or texts (df["path"], an array of str): as their list
    if isinstance(stimuli, (list, tuple)) and not stimuli:
        raise ExtractionError("stimuli is an empty list; pass at least one stimulus.")

    # texts: a list of strings, tokenized (texts=True, or a tokenizer and texts=None)
    if _texts_or_files(stimuli, prep, texts):
        items = list(stimuli)
        ids = check_ids(stimulus_ids, len(items), None)
        counts = np.asarray(prep.token_lengths(items))
        n_tokens = int(counts.max())
        if prep.max_tokens is not None and n_tokens > prep.max_tokens:
            long = np.flatnonzero(counts > prep.max_tokens)
            raise ExtractionError(
                f"{long.size} texts have more tokens than {prep.max_tokens_by}, e.g. stimuli "
                f"{[f'{ids[i]} ({counts[i]} tokens)' for i in long[:3]]}; they are not truncated (the features would be "
                f"those of a shorter text): shorten them, or pass a model and tokenizer that take {n_tokens} tokens."
            )
        tokenize = prep.tokenizer

        def load_texts(index: np.ndarray) -> Any:
            return tokenize([items[int(i)] for i in index], n_tokens)

        return Stimuli(len(items), ids, load_texts, "text", n_tokens=n_tokens, source=items)

    # a folder of images, or a list of image files
    if isinstance(stimuli, (str, os.PathLike)) or (
        isinstance(stimuli, (list, tuple)) and stimuli and all(isinstance(s, (str, os.PathLike)) for s in stimuli)
    ):
        folder = isinstance(stimuli, (str, os.PathLike))
        files = image_files(stimuli) if folder else [Path(s).expanduser() for s in stimuli]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ExtractionError(
                f"{len(missing)} image files do not exist, e.g. {missing[:3]}. If these are texts, pass texts=True; "
                f"the model then needs a tokenizer: {TOKENIZER_FIX}."
            )
        stems = [f.stem for f in files]
        ids = check_ids(stimulus_ids, len(files), stems)
        # an id naming a file by its stem, its name or its path as given ('im2', 'im2.png', 'dir/im2.png')
        elsewhere: dict[str, set[int]] = {}
        for j, f in enumerate(files):
            for key in (f.stem, f.name, str(f)) + (() if folder else (os.fspath(stimuli[j]),)):  # '~/a.png' as given
                elsewhere.setdefault(key, set()).add(j)
        moved = [i for i, s in enumerate(ids.tolist()) if i not in elsewhere.get(s, {i})]
        if moved:  # an id naming another file: given in another order than the files (img10 before img2 by name)
            i = moved[0]
            raise ExtractionError(
                f"stimulus_ids: {len(moved)} ids name another image file than the one at their position, e.g. "
                f"{str(ids[i])!r} is given for {files[i].name!r} (the {'folder' if folder else 'list'}'s files "
                f"{'sorted by name' if folder else 'as listed'}); ids pair with the files by position: give them in that "
                f"order, or leave stimulus_ids out (the ids are then the file names)."
            )

        def load_files(index: np.ndarray) -> Any:
            return _images_to_batch([open_image(files[int(i)]) for i in index], ids[index], prep)

        return Stimuli(len(files), ids, load_files, "folder" if folder else "files", source=files)

    # an in-memory array (N, C, H, W) or (N, ...): fed as is unless a transform is given explicitly
    if isinstance(stimuli, (np.ndarray, torch.Tensor)):
        data = stimuli
        if data.ndim < 2:
            raise ExtractionError(f"a stimulus array needs shape (n_stimuli, ...), e.g. (N, C, H, W); got {tuple(data.shape)}.")
        n = int(data.shape[0])
        if n == 0:
            raise ExtractionError(f"stimuli is an empty array (shape {tuple(data.shape)}); pass at least one stimulus.")
        if isinstance(data, np.ndarray) and data.dtype.kind not in "biufc":  # torch.from_numpy's TypeError named nothing
            raise ExtractionError(
                f"stimuli is an array of dtype {data.dtype} (shape {data.shape}), not of numbers; pass image files or "
                f"texts as a list of strings (e.g. df['path'].tolist()), or the stimuli as numbers (N, C, H, W).")
        ids = check_ids(stimulus_ids, n, None)
        _refuse_unapplied(prep, "an array of stimuli")
        tf = prep.image if prep.explicit else None

        def load_array(index: np.ndarray) -> Any:
            if isinstance(data, np.ndarray):
                batch = torch.from_numpy(np.ascontiguousarray(data[index]))
            else:
                batch = data[torch.as_tensor(index, dtype=torch.long, device=data.device)]
            if tf is not None:
                return _stack(_transformed(tf, list(batch), ids[index], prep, "an array item"), "stimuli after the transform",
                              ids[index])
            return batch

        return Stimuli(n, ids, load_array, "array", source=data, dims=dims)

    if isinstance(stimuli, Mapping):  # has __getitem__ and __len__, but no items by position
        raise ExtractionError(f"stimuli is a {type(stimuli).__name__} (keys {list(stimuli)[:3]}), which has no items by "
                              f"position; pass its values (e.g. stimuli=list(d.values()), stimulus_ids=list(d)).")
    # a torch Dataset (map-style: __len__ and __getitem__)
    if isinstance(stimuli, torch.utils.data.Dataset) or (hasattr(stimuli, "__getitem__") and hasattr(stimuli, "__len__")):
        ds = stimuli
        n = len(ds)
        if n == 0:
            raise ExtractionError(f"stimuli is an empty {type(ds).__name__} (no items); pass at least one stimulus.")
        ids = check_ids(stimulus_ids, n, getattr(ds, "stimulus_ids", None), f"stimuli.stimulus_ids ({type(ds).__name__})")

        def item(i: int) -> Any:
            x = ds[i]
            if isinstance(x, (tuple, list)) and x and not (isinstance(x, list) and _numbers(x[0])):
                x = x[0]  # (input, label); a list of numbers is the input itself, not its first number or row
            elif isinstance(x, Mapping):
                key = next((k for k in ("image", "stimulus", "input", "x") if k in x), None)
                if key is None:
                    raise ExtractionError(
                        f"dataset items are dicts with keys {sorted(x)[:5]}; expected one of "
                        f"'image', 'stimulus', 'input', 'x' (or return a tensor/tuple)."
                    )
                x = x[key]
            return x

        def is_image(x: Any) -> bool:  # a PIL image
            return hasattr(x, "convert") and hasattr(x, "size")

        # PIL items get the image transform; other items (tensors) are fed as is unless transform= is given:
        # decided once, from the first item, so that the recorded transform is the one every item got
        images = is_image(item(0))
        if not images:
            _refuse_unapplied(prep, f"the items of a Dataset of tensors ({type(ds).__name__})")

        def load_dataset(index: np.ndarray) -> Any:
            items = [item(int(i)) for i in index]
            odd = [str(s) for s, x in zip(ids[index], items) if is_image(x) != images]
            if odd:
                first, other = ("a PIL image", "not") if images else ("not a PIL image", "PIL images")
                raise ExtractionError(
                    f"stimuli: the {type(ds).__name__}'s first item ({str(ids[0])!r}) is {first} but {len(odd)} items of a "
                    f"batch are {other}, e.g. {odd[:3]}; the first item's kind decides whether items are transformed or "
                    f"fed as is: return one kind of item.")
            if images:
                return _images_to_batch(items, ids[index], prep)
            if prep.explicit and prep.image is not None:
                items = _transformed(prep.image, items, ids[index], prep, "a dataset item")
                return _stack(items, "dataset items after the transform", ids[index])
            return _stack(items, "dataset items", ids[index])

        return Stimuli(n, ids, load_dataset, "dataset" if images else "tensor_dataset")

    raise ExtractionError(
        f"stimuli of type {type(stimuli).__name__} are not supported; pass a folder of images, a list "
        f"of image files, a list of texts (with a tokenizer), an array/tensor of shape (N, C, H, W) or a torch Dataset."
    )
