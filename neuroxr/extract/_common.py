"""Helpers shared by the extraction stages: the lazy torch import, byte formatting, layer names, hashing texts,
short reasons of exceptions, a stored layer read once per extraction, a model's eval mode shared by the
extractions that run it at once."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

RESERVE_BYTES = 256 * 1024
"""Bytes set aside for Zarr's per-chunk bookkeeping in every memory budget."""

CHUNKS_PER_WRITE = 16
"""Stored chunks covered by one write call (bounds Zarr's encoding buffers)."""


def torch_module() -> Any:
    """``torch``, imported on first use with an install hint when it is missing."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "neuroxr.extract needs torch. Install it with `pip install '.[torch]' from the neuroxr repository` "
            "(or see https://pytorch.org for a CUDA build)."
        ) from exc
    return torch


def fmt_bytes(n: float) -> str:
    """``n`` bytes as a short human string (``"1.5 MiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def layer_name(module_name: str) -> str:
    """A store-safe layer name for the module ``module_name`` (``""`` is the whole model)."""
    if module_name == "":
        return "output"
    name = re.sub(r"[^A-Za-z0-9._\-]", "_", module_name)
    name = re.sub(r"_{2,}", "_", name)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name).rstrip("_.")  # a store name ends in no "_" (nor a bare ".")
    return name or "layer"


def layer_names(modules: Iterable[str], other_names: Iterable[str] = ()) -> dict[str, str]:
    """The layer name of every module of a model: ``{module name: layer name}``.

    ``modules``: all the model's module names in registration order (``named_modules()``'s, ``""``
    the whole model); ``other_names``: further names its modules are registered under (second names,
    ``named_modules(remove_duplicate=False)``). A module whose own name the store takes keeps exactly
    it. Another gets :func:`layer_name` of its name, or that with the first suffix ``-1``, ``-2``, ...
    that is no module's own name (of the whole model) nor claimed by an earlier module, in any case
    (``_fc`` is ``fc-1`` beside a module ``Fc``: the store refuses layers differing in case only). So a module's
    layer name depends on the model only, never on which modules are extracted, and a module's own
    name is never another module's layer name (layer ``fc`` holds module ``fc``).
    """
    from ..store import NAME_PATTERN  # the store's own rule for a set name

    valid = re.compile(NAME_PATTERN).match
    modules = list(modules)
    # compared in any case: a case-insensitive file system (macOS, Windows) holds 'fc' and 'Fc' as one folder, and
    # the store refuses such a pair of layers, which a name made here could never be renamed out of
    taken = {n.casefold() for n in (*modules, *other_names) if valid(n)}
    out: dict[str, str] = {}
    for module in modules:
        if valid(module):
            out[module] = module
            continue
        base = name = layer_name(module)
        i = 0
        while name.casefold() in taken:
            i += 1
            name = f"{base}-{i}"
        taken.add(name.casefold())
        out[module] = name
    return out


def model_layer_names(model: Any) -> dict[str, str]:
    """:func:`layer_names` of the torch module ``model``: ``{module name: layer name}`` of every module."""
    return layer_names(dict(model.named_modules()), (n for n, _ in model.named_modules(remove_duplicate=False)))


def feed_text(h: Any, text: str) -> None:
    """Feed ``text`` to the hash ``h``, length-prefixed (so no two sequences of texts hash alike)."""
    b = text.encode("utf-8")
    h.update(len(b).to_bytes(8, "little"))
    h.update(b)


def reason(exc: BaseException, limit: int = 160) -> str:
    """``exc`` as a short reason: its type and the first sentence of its first line."""
    text = " ".join(str(exc).split("\n", 1)[0].split())
    if len(text) > limit:
        cut = text.find(". ")
        text = text[: cut + 1] if 0 < cut < limit else text[:limit] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def stored_index(store: Any, path: str, read: dict[str, Any] | None = None) -> Any:
    """:meth:`~neuroxr.StudyStore.read_set_index` of the stored layer ``path``, once per extraction.

    Parameters
    ----------
    store : StudyStore
    path : str
        ``"features/<model>/<layer>"``.
    read : dict, optional
        ``path -> SetIndex`` of the layers this extraction read: one in it is not read again, one read
        now is added. A read that raised is not kept (a layer damaged or rewritten meanwhile is read
        again where it is asked for again). ``None``: read it.

    Raises
    ------
    StoreError
        As :meth:`~neuroxr.StudyStore.read_set_index`: absent, unfinished, damaged or rewritten meanwhile.
    """
    if read is None:
        return store.read_set_index(path)
    if path not in read:
        read[path] = store.read_set_index(path)
    return read[path]


_MODES_LOCK = threading.Lock()
_IN_EVAL: dict[int, list[Any]] = {}  # id(module) -> [extractions running it, its training flag before, module]


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """``model`` in eval mode for an extraction; each module's own training flag back when it ends.

    ``model.train(flag)`` would set every module's flag (a model trained with a frozen, eval-mode batch
    norm came back with it unfrozen), so each module's is put back. Extractions running a module at once
    (threads: one model object, or a model and a submodule of it) share its eval mode: its flag is the one
    from before the first began, put back when the last ends (the first to end put the flags back under
    the others, whose passes then ran in training mode: dropout, batch statistics).
    """
    modules = list(model.modules())
    with _MODES_LOCK:
        for module in modules:
            entry = _IN_EVAL.setdefault(id(module), [0, module.training, module])
            entry[0] += 1
        model.eval()
    try:
        yield
    finally:
        with _MODES_LOCK:
            for module in modules:
                entry = _IN_EVAL[id(module)]
                entry[0] -= 1
                if entry[0] == 0:
                    del _IN_EVAL[id(module)]
                    module.training = entry[1]


def row_sums(output: Any) -> Any:
    """``(stimuli, 2)`` float64 on the CPU: each row's sum and sum of magnitudes, of a floating tensor
    ``(stimuli, ...)``; ``None`` for another (integer ids, no stimulus axis)."""
    if output.ndim < 1 or not output.is_floating_point():
        return None
    try:
        flat = output.detach().reshape(output.shape[0], -1).double()
    except Exception:  # a sparse or nested tensor: nothing to compare (its own checks say what it is)
        return None
    return torch_module().stack([flat.sum(1), flat.abs().sum(1)], 1).cpu()


def rows_differ(a: Any, b: Any, dtype: Any) -> bool:
    """Whether the rows both :func:`row_sums` ``a`` and ``b`` hold differ by more than rounding: the sums
    beyond ``1e-4`` (float16, bfloat16: 50 eps) of the magnitudes (batches of other sizes round otherwise)."""
    if a is None or b is None:
        return False
    k = min(len(a), len(b))
    tol = max(1e-4, 50 * torch_module().finfo(dtype).eps)
    return bool(((a[:k, 0] - b[:k, 0]).abs() > tol * (a[:k, 1] + b[:k, 1]) + 1e-30).any())
