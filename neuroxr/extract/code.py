"""The code a torch model runs, as a digest: part of the model's identity (:mod:`.identity`).

Weights and buffers do not say what ``forward`` does with them, so the model digest also covers:

- every class of the module tree and its bases (``type(m).__mro__``): a class of torch (module
  ``torch.*``) by its name and the torch version (its code changes only with torch); any other
  class by its name, its source (``inspect.getsource``, where there is one) and the bytecode of
  the functions it defines (``co_code``, ``co_consts``, ``co_names``, nested code objects), with
  the simple values among its class attributes;
- a ``forward`` assigned on an instance (``m.forward = ...``);
- the forward hooks and forward pre-hooks of every module and the global ones (torch's
  ``register_module_forward_hook``), in order, except the hooks neuroxr registers to capture
  outputs (marked by :func:`own_hook`);
- TorchScript and ``torch.fx`` modules' generated code (``m.code``).

A function counts by its source and its bytecode, its defaults, the values of its closure, and
the functions of its own module that it names (helpers it calls). The bytecode is what runs, so
a file edited after its import is not mistaken for the running code, and a class without source
(made with ``type(...)``, ``exec`` or in a notebook cell) is still covered; the bytecode is that
of the running Python, so another Python version gives another digest. Only immutable values
(numbers, strings, bytes, tuples of them) are hashed; other objects count by their class, and no
address or hook id is hashed: the same code gives the same digest in every process. This is the
code digest of identity version 2, kept as it is so that layers recorded with it can be compared.

Version 3 adds (:mod:`.attrs`) the modules' plain attributes, the hooks' flags, and the packages
of the code: while it hashes, the feeder notes the modules (by name, with the files of the
functions it saw) of every class and function it covers, of the values it counts by their class,
and of what a function it covers names among its globals (a function, a class or a module of
another module: one level deep).

Version 5 adds the values these functions read from their module's globals (a ``SCALE`` set from
the environment when the file ran, or by a notebook after its import), which the feeder collects
while it hashes (:func:`~neuroxr.extract.identity.globals_digest` hashes them).
"""

from __future__ import annotations

import dis
import functools
import hashlib
import inspect
import threading
import types
from typing import Any

from .._packages import top
from ._common import feed_text, torch_module

OWN_HOOK = "__neuroxr_capture__"
"""The attribute marking a hook that neuroxr registers to capture outputs (left out of the digest)."""

_SIMPLE = (type(None), bool, int, float, complex, str, bytes)
_DEPTH = 6  # how deep tuples and closures are followed


def own_hook(fn: Any) -> Any:
    """``fn`` as a hook neuroxr registers to capture outputs, marked so that :func:`code_digest` leaves it
    out, and acting on the forward passes of the thread that makes it only: another extraction of the
    same model object in another thread (a thread pool) registers hooks on the same
    modules, which its forward passes must not run (they handed its outputs to this extraction's writer
    as this extraction's rows, and stopped its pass)."""
    owner = threading.get_ident()

    @functools.wraps(fn)
    def hook(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != owner:
            return None
        return fn(*args, **kwargs)

    setattr(hook, OWN_HOOK, True)
    return hook


def _rebound(co: types.CodeType) -> set[str]:
    """The global names ``co`` (and the code objects nested in it) assigns or deletes (``global X``)."""
    names = {i.argval for i in dis.get_instructions(co) if i.opname in ("STORE_GLOBAL", "DELETE_GLOBAL")}
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            names |= _rebound(c)
    return names


def _code_names(co: types.CodeType) -> list[str]:
    """The global and attribute names of ``co`` and of the code objects nested in it."""
    names = list(co.co_names)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            names += _code_names(c)
    return names


class _Feeder:
    """A SHA-256 fed with classes, functions and values, each class and function once."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.torch_version = str(torch_module().__version__)
        self._classes: set[type] = set()
        self._active: set[int] = set()  # ids of the callables being fed (a cycle guard; never hashed)
        self.modules: dict[str, set[str]] = {}  # module name: the files its code was seen in (not hashed)
        self.globals: dict[str, Any] = {}  # "module.name": a value a covered function reads (not hashed: version 5)
        self.rebound: set[str] = set()  # "module.name": a global a covered function assigns (state, not a setting)

    def note(self, module: Any, filename: str | None = None) -> None:
        """Note a module the covered code comes from (and a file its functions were compiled from)."""
        if isinstance(module, str) and module:
            files = self.modules.setdefault(module, set())
            if filename:
                files.add(filename)

    def text(self, text: str) -> None:
        feed_text(self.h, text)

    def value(self, v: Any, depth: int = 0) -> None:
        """An immutable value by its contents; anything else by its class."""
        if isinstance(v, _SIMPLE):
            self.text(f"{type(v).__name__} {v!r}")
        elif isinstance(v, (tuple, frozenset)) and depth < _DEPTH:
            items = list(v) if isinstance(v, tuple) else sorted(v, key=repr)  # a frozenset's order varies by process
            self.text(f"{type(v).__name__} {len(items)}")
            for x in items:
                self.value(x, depth + 1)
        elif isinstance(v, types.CodeType):
            self.code(v)
        elif isinstance(v, type):
            self.note(v.__module__)
            self.text(f"class {v.__module__}.{v.__qualname__}")
        elif isinstance(v, (types.FunctionType, types.MethodType, functools.partial)) and depth < _DEPTH:
            self.callable(v, depth + 1)
        elif isinstance(v, types.BuiltinFunctionType):  # torch.relu, math.exp: by name
            self.note(getattr(v, "__module__", None))
            self.text(f"builtin {getattr(v, '__module__', None)}.{v.__qualname__}")
        else:
            self.note(type(v).__module__)
            self.text(f"object {type(v).__module__}.{type(v).__qualname__}")

    def code(self, co: types.CodeType) -> None:
        """A code object's bytecode, names and constants (nested code objects too), not its line numbers."""
        self.text(f"code {co.co_name} {co.co_argcount} {co.co_posonlyargcount} {co.co_kwonlyargcount} {co.co_flags}")
        feed_text(self.h, co.co_code.hex())
        for names in (co.co_names, co.co_varnames, co.co_freevars, co.co_cellvars):
            self.text(" ".join(names))
        table = getattr(co, "co_exceptiontable", None)  # Python >= 3.11
        if table is not None:
            self.text(table.hex())
        self.text(f"consts {len(co.co_consts)}")
        for c in co.co_consts:
            self.value(c)

    def function(self, fn: types.FunctionType, depth: int) -> None:
        """A Python function: source, bytecode, defaults, closure and the helpers of its module it names."""
        module = getattr(fn, "__module__", None)
        self.text(f"function {module}.{fn.__qualname__}")
        if top(module) == "torch":
            self.text(f"torch {self.torch_version}")
            return
        self.note(module, fn.__code__.co_filename)
        try:
            self.text(inspect.getsource(fn.__code__))  # this function's own lines (a wrapper's, not the wrapped)
        except (OSError, TypeError):
            self.text("no source")
        self.code(fn.__code__)
        self.value(fn.__defaults__, depth)
        self.value(tuple(sorted((fn.__kwdefaults__ or {}).items())), depth)
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            self.text(f"closure {name}")
            try:
                self.value(cell.cell_contents, depth)
            except ValueError:  # an empty cell
                self.text("empty")
        self.rebound.update(f"{module}.{name}" for name in _rebound(fn.__code__))
        for name in dict.fromkeys(_code_names(fn.__code__)):
            if name not in fn.__globals__:  # a builtin or an attribute name
                continue
            g = fn.__globals__[name]
            if isinstance(g, types.FunctionType) and g.__module__ == module and depth < _DEPTH:
                self.text(f"global {name}")
                self.callable(g, depth + 1)
            elif isinstance(g, types.ModuleType):  # np.exp, timm.layers.f: the module's package counts
                self.note(g.__name__, getattr(g, "__file__", None))
            elif isinstance(g, types.FunctionType):  # another module's function: its module, not its code
                self.note(g.__module__, g.__code__.co_filename)
            elif isinstance(g, (type, types.BuiltinFunctionType)):
                self.note(getattr(g, "__module__", None))
            else:  # a value (SCALE = 2.0, set when the file ran or later): identity version 5 counts it
                self.globals.setdefault(f"{module}.{name}", g)

    def callable(self, fn: Any, depth: int = 0) -> None:
        """A hook, a ``forward`` or a class attribute: functions, methods, partials, callable objects."""
        if id(fn) in self._active:
            self.text("recursion")
            return
        self._active.add(id(fn))
        try:
            if isinstance(fn, (functools.partial, functools.partialmethod)):
                self.text("partial")
                self.callable(fn.func, depth)
                self.value(tuple(fn.args), depth)
                self.value(tuple(sorted(fn.keywords.items())), depth)
            elif isinstance(fn, types.MethodType):  # bound: its function (the instance counts by its class)
                self.text(f"method of {type(fn.__self__).__qualname__}")
                self.callable(fn.__func__, depth)
            elif isinstance(fn, types.FunctionType):
                self.function(fn, depth)
            elif isinstance(fn, (staticmethod, classmethod)):
                self.text(type(fn).__name__)
                self.callable(fn.__func__, depth)
            elif isinstance(fn, property):
                for part in (fn.fget, fn.fset, fn.fdel):
                    if part is not None:
                        self.callable(part, depth)
            elif isinstance(fn, type):
                self.note(fn.__module__)
                self.text(f"class {fn.__module__}.{fn.__qualname__}")
            elif isinstance(fn, (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodWrapperType)):
                self.note(getattr(fn, "__module__", None))
                self.text(f"builtin {getattr(fn, '__module__', None)}.{getattr(fn, '__qualname__', type(fn).__qualname__)}")
            else:  # a callable object: its class's code
                self.text("object")
                self.cls(type(fn))
        finally:
            self._active.discard(id(fn))

    def cls(self, cls: type) -> None:
        """A class and its bases, each once (see the module docstring)."""
        for k in cls.__mro__:
            if k is object or k in self._classes:
                continue
            self._classes.add(k)
            self.note(k.__module__)
            self.text(f"class {k.__module__}.{k.__qualname__}")
            if top(k.__module__) == "torch":
                self.text(f"torch {self.torch_version}")
                continue
            if k.__module__ == "builtins":
                continue
            try:
                self.text(inspect.getsource(k))
            except (OSError, TypeError):  # built-in, or made by type(...), exec or a notebook cell
                self.text("no source")
            for name, v in sorted(vars(k).items()):
                if isinstance(v, (types.FunctionType, staticmethod, classmethod, property, functools.partialmethod)):
                    self.text(f"attr {name}")
                    self.callable(v)
                elif not name.startswith("__") and isinstance(v, (*_SIMPLE, tuple, frozenset)):
                    self.text(f"attr {name}")
                    self.value(v)


def kept_hooks(hooks: Any) -> list[tuple[Any, Any]]:
    """The ``(id, hook)`` items of an ordered dict of hooks, in order, without neuroxr's own.

    Taken from a snapshot of the dict (copied at once): another extraction of the same model in another
    thread registers and removes its capture hooks on these modules while this one is walked."""
    return [(hid, fn) for hid, fn in tuple((hooks or {}).items()) if not getattr(fn, OWN_HOOK, False)]


def _hooks(hooks: Any) -> list[Any]:
    return [fn for _, fn in kept_hooks(hooks)]


def code_digest(model: Any) -> str:
    """SHA-256 of the code ``model`` runs: its modules' classes, instance ``forward`` overrides,
    forward hooks and pre-hooks (but neuroxr's own), generated code (see the module docstring)."""
    return code_parts(model)[0]


def code_parts(model: Any) -> tuple[str, dict[str, set[str]], dict[str, Any], set[str]]:
    """:func:`code_digest`, the modules its code comes from (name: the files seen of it), the values
    its functions read from their module's globals (``"module.name"``: value) and the globals they
    assign (``global X; X = ...``: a cache or a counter, not a setting)."""
    torch = torch_module()
    f = _Feeder()
    from torch.nn.modules import module as torch_module_mod

    for kind in ("_global_forward_pre_hooks", "_global_forward_hooks"):
        hooks = _hooks(getattr(torch_module_mod, kind, None))
        f.text(f"{kind} {len(hooks)}")
        for fn in hooks:
            f.callable(fn)
    generated = (torch.jit.ScriptModule, torch.fx.GraphModule)
    for name, m in model.named_modules():
        f.text(f"module {name}")
        f.cls(type(m))
        if isinstance(m, generated):
            try:
                f.text(f"generated {m.code}")
            except Exception:  # a scripted module without a forward
                f.text("generated ?")
        forward = vars(m).get("forward")
        if forward is not None:
            f.text("instance forward")
            f.callable(forward)
        for kind in ("_forward_pre_hooks", "_forward_hooks"):
            hooks = _hooks(getattr(m, kind, None))
            f.text(f"{kind} {len(hooks)}")
            for fn in hooks:
                f.callable(fn)
    return f.h.hexdigest(), f.modules, f.globals, f.rebound
