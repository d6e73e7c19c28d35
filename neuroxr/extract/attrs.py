"""What else sets what a torch model computes, as a digest: the part identity version 3 adds (:mod:`.identity`).

The state digest covers the modules' tensors and the code digest (:mod:`.code`) their code; this
one covers, in the same order of modules:

- every module's plain attributes (its ``__dict__`` but torch's bookkeeping), by name and value:
  ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, numpy scalars, enum
  members, ``torch.dtype``, ``torch.device``, ``torch.layout``, ``torch.memory_format``, functions,
  methods, classes and builtins (by their code, as :mod:`.code` counts a hook), and tuples
  (``torch.Size`` too), lists, dicts, sets and frozensets of those (a set by its sorted items),
  nested up to 6 deep. Any other value counts by its class only, its state unseen: a tensor that is
  not a buffer (register it with ``register_buffer(..., persistent=False)`` to have it counted), an
  object (a transformers ``config``), a module held outside the module tree, and a container
  holding any of them. Left out as torch's bookkeeping: the names a fresh ``torch.nn.Module()``
  has in its ``__dict__`` (``training``, the hooks and their flags, ``_parameters``, ``_buffers``,
  ``_modules``...), the private names ``torch.nn.Module`` defines on its class
  (``_compiled_call_impl``...), and ``forward`` (the code digest covers it). ``training`` needs
  no digest: extraction runs the model in eval mode (``model.eval()`` in :mod:`.run`), so every
  module sees ``training=False`` unless its class overrides ``train``, which is code;
- the flags of every module's forward hooks and pre-hooks and of torch's global ones, in hook
  order (``with_kwargs``, ``always_call``), but of the hooks neuroxr registers to capture outputs;
- the packages of the code: every module the code digest and the attributes above saw (of a class,
  a function, a value's class, a module or function that a covered function names among its
  globals), outside torch and the standard library, by its distribution's name and version
  (``importlib.metadata``) when the module's file is one that distribution installed (its RECORD)
  and not as an editable install; otherwise (a local package, an editable install, a checkout on
  ``sys.path``) by the SHA-256 of its file's bytes, or as having no file (``exec``, a notebook)
  (:mod:`neuroxr._packages`, shared with the identity of parameter values).

Limits: a function that another module's function calls (two modules away from the code covered)
counts only when its module is seen otherwise; the state of objects counted by their class; a file
or an install changed after its import counts as it is now, not as it was imported (re-import,
or restart the process, after editing a module).
"""

from __future__ import annotations

import enum
import functools
import sys
import types
from typing import Any

import numpy as np

from .._packages import Packages, top
from ._common import torch_module
from .code import _DEPTH, _SIMPLE, _Feeder, kept_hooks

_CALLABLE = (types.FunctionType, types.MethodType, functools.partial, types.BuiltinFunctionType, type)


@functools.cache
def _torch_keys() -> frozenset[str]:
    """The instance attributes that are torch's bookkeeping (see the module docstring)."""
    module = torch_module().nn.Module
    private = {k for k in vars(module) if k.startswith("_")}
    return frozenset(vars(module())) | frozenset(private) | {"forward"}


def _scalar(v: Any) -> bool:
    torch = torch_module()
    return isinstance(v, (*_SIMPLE, enum.Enum, torch.dtype, torch.device, torch.layout, torch.memory_format)) or (
        isinstance(v, np.generic) and not v.dtype.hasobject
    )


def _plain(v: Any, depth: int = 0) -> bool:
    """Whether ``v`` counts by its value (see the module docstring)."""
    if _scalar(v) or isinstance(v, _CALLABLE):
        return True
    if depth >= _DEPTH:
        return False
    if isinstance(v, (tuple, list)):
        return all(_plain(x, depth + 1) for x in v)
    if isinstance(v, (set, frozenset)):
        return all(_scalar(x) for x in v)
    if isinstance(v, dict):
        return all(_scalar(k) and _plain(x, depth + 1) for k, x in v.items())
    return False


def immutable(v: Any, depth: int = 0) -> bool:
    """Whether ``v`` is a scalar (:func:`_plain`'s) or a tuple or frozenset of them, nested up to 6 deep."""
    if _scalar(v):
        return True
    return isinstance(v, (tuple, frozenset)) and depth < _DEPTH and all(immutable(x, depth + 1) for x in v)


def _sort_key(v: Any) -> tuple[str, str]:
    return type(v).__qualname__, repr(v)  # scalars only: no address in their repr


def _feed(f: _Feeder, v: Any, depth: int = 0) -> None:
    """Feed a plain value (:func:`_plain`) by its contents."""
    kind = f"{type(v).__module__}.{type(v).__qualname__}"
    if isinstance(v, enum.Enum):
        f.note(type(v).__module__)
        f.text(f"enum {kind}.{v.name}")
        f.value(v.value)
    elif isinstance(v, np.generic):
        f.text(f"numpy {v.dtype.str} {v.tobytes().hex()}")
    elif isinstance(v, _SIMPLE) or isinstance(v, _CALLABLE):
        f.value(v)
    elif _scalar(v):  # torch.dtype, device, layout, memory_format
        f.text(f"{kind} {v}")
    elif isinstance(v, (tuple, list, set, frozenset)):
        items = sorted(v, key=_sort_key) if isinstance(v, (set, frozenset)) else list(v)
        f.text(f"{kind} {len(items)}")
        for x in items:
            _feed(f, x, depth + 1)
    else:  # a dict, in its order
        f.text(f"{kind} {len(v)}")
        for k, x in v.items():
            _feed(f, k, depth + 1)
            _feed(f, x, depth + 1)


def _attrs(f: _Feeder, m: Any) -> None:
    """A module's plain attributes by value, any other by its class (see the module docstring)."""
    skip = _torch_keys()
    for name, v in sorted(vars(m).items()):
        if name in skip:
            continue
        f.text(f"attr {name}")
        feed_value(f, v)


def feed_value(f: _Feeder, v: Any, plain: Any = _plain) -> None:
    """Feed a value by its contents where ``plain(v)`` (by default a plain value, see the module
    docstring), any other by its class."""
    if plain(v):
        _feed(f, v)
    else:
        f.note(type(v).__module__)
        f.text(f"object {type(v).__module__}.{type(v).__qualname__}")


def _flags(f: _Feeder, owner: Any, hooks: str, with_kwargs: str | None, always_call: str | None) -> None:
    """The ``with_kwargs`` and ``always_call`` flags of the hooks in ``owner.<hooks>``, in order."""
    kw = (getattr(owner, with_kwargs, None) or {}) if with_kwargs else {}
    always = (getattr(owner, always_call, None) or {}) if always_call else {}
    flags = [f"{int(bool(kw.get(hid)))}{int(bool(always.get(hid)))}" for hid, _ in kept_hooks(getattr(owner, hooks, None))]
    f.text(f"{hooks} flags {' '.join(flags)}")


def _line(packages: Packages, module: str, files: set[str]) -> str | None:
    """The line of ``module`` (its files: ``__file__`` when imported, else those its functions
    were compiled from); ``None`` for torch and the standard library."""
    name = top(module)
    if name in ("", "torch") or name in sys.stdlib_module_names:
        return None
    return f"module {module} {packages.describe(module, files)}"


def package_lines(modules: dict[str, set[str]]) -> list[str]:
    """One line per module outside torch and the standard library (``modules``: name: the files its
    functions were compiled from): its distribution's name and version, or the digests of its
    files (see the module docstring); sorted by module."""
    packages = Packages()
    return [line for name in sorted(modules) if (line := _line(packages, name, modules[name])) is not None]


def setup_digest(model: Any, modules: dict[str, set[str]], globals_seen: dict[str, Any] | None = None,
                 rebound: set[str] | None = None) -> str:
    """SHA-256 of the modules' plain attributes, the hooks' flags and the packages of the code
    (``modules``: :func:`~neuroxr.extract.code.code_parts`'s); see the module docstring. The globals
    that functions held in attributes read and assign are added to ``globals_seen`` and ``rebound``
    (not hashed here)."""
    from torch.nn.modules import module as torch_module_mod

    f = _Feeder()
    f.modules = {name: set(files) for name, files in modules.items()}
    _flags(f, torch_module_mod, "_global_forward_pre_hooks", None, None)
    _flags(f, torch_module_mod, "_global_forward_hooks", "_global_forward_hooks_with_kwargs",
           "_global_forward_hooks_always_called")
    for name, m in model.named_modules():
        f.text(f"module {name}")
        _attrs(f, m)
        _flags(f, m, "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", None)
        _flags(f, m, "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called")
    for line in package_lines(f.modules):
        f.text(line)
    if globals_seen is not None:
        for name, v in f.globals.items():
            globals_seen.setdefault(name, v)
    if rebound is not None:
        rebound |= f.rebound
    return f.h.hexdigest()
