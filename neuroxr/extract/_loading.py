"""Loading a model for the extraction: a device checked, a model built from a spec, a state dict loaded."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._packages import file_digest
from ..errors import ExtractionError
from ._common import reason as _reason
from ._common import torch_module


def check_device(device: Any) -> Any:
    """``device`` as a ``torch.device``, after checking that a tensor can be made there.

    Raises
    ------
    ExtractionError
        One line naming ``device``: not a device string torch knows, ``"meta"`` (no values), or not
        available on this machine (e.g. ``"cuda"`` without a CUDA build, a driver or that GPU).
    """
    torch = torch_module()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ExtractionError(
            f"device {device!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:<index>' or 'mps'."
        ) from None
    if dev.type == "meta":  # the model moved there lost its weights (in place), and its outputs have no values
        raise ExtractionError(f"device {device!r} holds shapes without values (the model moved there would lose its "
                              f"weights); use 'cpu', 'cuda', 'cuda:<index>' or 'mps'.")
    try:
        torch.empty(1, device=dev)
    except Exception as exc:  # AssertionError (torch built without CUDA), RuntimeError (no driver, no such GPU)
        raise ExtractionError(
            f"device {device!r} is not available on this machine ({_reason(exc)}); use device 'cpu' or one "
            f"this torch build can reach (torch.cuda.is_available(), torch.cuda.device_count())."
        ) from None
    return dev


def _fix(exc: BaseException) -> str:
    """What to do about a model file (or module) that fails or exits as it runs."""
    if isinstance(exc, SystemExit):
        return "put its script part (argument parsing, sys.exit) under if __name__ == '__main__':"
    return "fix the file"


@contextlib.contextmanager
def _beside(path: Path | None) -> Iterator[None]:
    """The folder of the file ``path`` first on ``sys.path`` meanwhile (nothing for ``None``), then ``sys.path``
    as it was."""
    if path is None:
        yield
        return
    saved = list(sys.path)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        yield
    finally:
        sys.path[:] = saved


def load_model(spec: str, weights: str | os.PathLike | None = None) -> Any:
    """A torch model from ``"package.module:name"`` or ``"path/to/file.py:name"``.

    ``name`` is an ``nn.Module`` object or a callable that returns one when called with no
    arguments. ``weights``, if given, is a state dict loaded with :func:`load_weights`. A file's folder
    is on ``sys.path`` while the file runs and ``name`` is called (as ``runpy.run_path`` has it), so it
    may import the files beside it.

    Raises
    ------
    ExtractionError
        One line naming the spec: malformed, a module that cannot be imported, a file that fails to
        run, a missing name, a factory that fails or returns no ``nn.Module``, any of them exiting
        (``sys.exit``, an ``argparse`` at module level), and :func:`load_weights`'s errors.
    """
    torch = torch_module()
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ExtractionError(
            f"model spec {spec!r} must look like 'package.module:factory' or 'path/to/file.py:factory'."
        )
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target).expanduser()
        if not path.is_file():
            raise ExtractionError(f"model file {target!r} does not exist; pass 'path/to/file.py:factory'.")
        # named by the file's content, never its path or hash(): the name enters the code digest
        mod_name = f"_neuroxr_model_{(file_digest(str(path)) or 'unread')[:16]}"
        spec_ = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec_)  # type: ignore[arg-type]
        sys.modules[mod_name] = module
        try:
            with _beside(path):  # the files beside it importable, as runpy.run_path has it
                spec_.loader.exec_module(module)  # type: ignore[union-attr]
        except (Exception, SystemExit) as exc:  # the user's file: a syntax error, a failed import, sys.exit, ...
            sys.modules.pop(mod_name, None)
            how = "exits when it runs" if isinstance(exc, SystemExit) else "fails to run"
            raise ExtractionError(f"model file {target!r} {how} ({_reason(exc)}); {_fix(exc)}.") from exc
    else:
        path = None
        try:
            module = importlib.import_module(target)
        except ImportError as exc:  # ModuleNotFoundError included
            raise ExtractionError(
                f"model spec {spec!r}: module {target!r} cannot be imported ({_reason(exc)}); install it, add its "
                f"folder to PYTHONPATH, or pass 'path/to/file.py:{attr}'."
            ) from exc
        except (Exception, SystemExit) as exc:  # its own code fails or exits as it is imported
            how = "exits when imported" if isinstance(exc, SystemExit) else "fails when imported"
            raise ExtractionError(f"model spec {spec!r}: module {target!r} {how} ({_reason(exc)}); {_fix(exc)}.") from exc
    if not hasattr(module, attr):
        raise ExtractionError(f"model spec {spec!r}: {target!r} has no attribute {attr!r}.")
    obj = getattr(module, attr)
    if isinstance(obj, torch.nn.Module):
        model = obj
    elif callable(obj):
        try:
            with _beside(path):
                model = obj()
        except (Exception, SystemExit) as exc:
            how = "exits" if isinstance(exc, SystemExit) else "fails"
            raise ExtractionError(
                f"model spec {spec!r}: calling {attr}() {how} ({_reason(exc)}); it must build the model with no arguments."
            ) from exc
    else:
        model = obj
    if not isinstance(model, torch.nn.Module):
        raise ExtractionError(
            f"model spec {spec!r} gave a {type(model).__name__}, not a torch.nn.Module; name an nn.Module or a "
            f"factory returning one."
        )
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model: Any, weights: str | os.PathLike) -> Any:
    """Load the state dict in the file ``weights`` into ``model`` (``torch.load(weights_only=True)``).

    Every key must fit (``load_state_dict(strict=True)``); nothing is renamed or left out. A model built on the
    meta device (no values) takes the file's tensors themselves (``assign=True``).

    Returns
    -------
    torch.nn.Module
        ``model``, with the weights loaded.

    Raises
    ------
    ExtractionError
        One line naming the file: unreadable, not a state dict, or not fitting the model (the
        missing, unexpected and differently shaped keys).
    """
    torch = torch_module()
    where = str(weights)
    try:
        state = torch.load(os.path.expanduser(weights), map_location="cpu", weights_only=True)
    except OSError as exc:
        raise ExtractionError(f"weights file {where!r} cannot be read ({_reason(exc)}).") from None
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip/pickle file), EOFError, ...
        raise ExtractionError(
            f"weights file {where!r} is not a state dict torch.load(weights_only=True) can read ({_reason(exc)}); "
            f"pass a file saved with torch.save(model.state_dict(), path)."
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        what = type(state).__name__ if not isinstance(state, Mapping) else f"dict with keys {list(state)[:5]}"
        raise ExtractionError(
            f"weights file {where!r} holds a {what}, not a state dict of tensors; save the model's own "
            f"state dict (torch.save(model.state_dict(), path)), e.g. the 'state_dict' entry of a checkpoint."
        )
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(v)} {what}, e.g. {v[:3]}" for v, what in
                 ((missing, "missing keys"), (unexpected, "unexpected keys"), (shapes, "shape mismatches (file vs model)")) if v]
        raise ExtractionError(
            f"weights file {where!r} does not fit the model: " + "; ".join(parts) + ". Pass the state dict saved "
            "from this architecture."
        )
    # a model built on the meta device (no memory, no init) takes the file's tensors themselves: copied onto its
    # meta tensors, they were a no-op and the model kept no values
    meta = any(t.is_meta for t in (*model.parameters(), *model.buffers()))
    try:
        model.load_state_dict(state, assign=meta)
    except RuntimeError as exc:
        raise ExtractionError(f"weights file {where!r} cannot be loaded into the model ({_reason(exc)}).") from None
    return model
