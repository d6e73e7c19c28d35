"""The model side (loading in :mod:`._loading`): module selection, the probe pass, hooks, input casting and pooling.

Every selected module gets a forward hook that hands its output to a callback *inside the hook*,
before any later in-place operation (an in-place ReLU, ``x += ...``) can change the tensor: the
values stored for a module are always that module's own output.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ExtractionError, NeuroxrError, shown, warn
from ._common import layer_name, model_layer_names, row_sums, rows_differ, torch_module
from ._common import reason as _reason
from ._loading import check_device, load_model, load_weights  # noqa: F401 (importable from here)
from .code import own_hook
from .stimuli import Stimuli, check_same_input


def select_modules(model: Any, layers: Any) -> tuple[list[str], str]:
    """Names of the candidate modules and how they were chosen: ``"default"`` (every leaf
    module), ``"filter"`` (a callable) or ``"list"`` (named by the user)."""
    named = dict(model.named_modules())
    if layers is None:
        leaves = [n for n, m in named.items() if not any(True for _ in m.children())]
        return leaves, "default"
    if callable(layers):
        chosen = []
        for n, m in named.items():
            try:
                if layers(n, m):
                    chosen.append(n)
            except Exception as exc:  # lambda name: ... (one argument), a bug in the filter
                raise ExtractionError(f"layers: the filter fails on module {n!r} ({_reason(exc)}); it is called as "
                                      f"f(name, module) for every module of the model and returns whether to extract "
                                      f"it.") from exc
        if not chosen:
            raise ExtractionError("the layers filter selected no module of the model.")
        return chosen, "filter"
    if isinstance(layers, (str, int)) and not isinstance(layers, bool):  # one module name ("fc", or 1 in a Sequential)
        layers = [layers]
    if not isinstance(layers, Iterable) or isinstance(layers, (bool, bytes, bytearray)):
        raise ExtractionError(f"layers must be module names (a list of str), a filter f(name, module) -> bool or None; "
                              f"got {shown(layers)}.")
    layers = list(layers)
    odd = [n for n in layers if not isinstance(n, (str, int, np.integer)) or isinstance(n, bool)]
    if odd:  # None was looked up as module 'None'
        raise ExtractionError(f"layers must be module names (str, e.g. 'fc'); got {shown(odd[0])} among them: pass each "
                              f"module's name (dict(model.named_modules())), or drop it.")
    if not layers:
        raise ExtractionError("layers=[] names no module; pass module names, a filter f(name, module) -> bool, or None "
                              "(every leaf module).")
    out = []
    names = model_layer_names(model)
    by_layer = {ln: n for n, ln in names.items()}
    for name in layers:
        name = str(name)
        if name in named:  # a module's own name: that module (no other module's layer name is it)
            out.append(name)
        elif name in by_layer:
            same = [n for n in named if layer_name(n) == name]
            if len(same) > 1:  # the store-safe form of several modules' names: which one was meant is a guess
                shown_names = ", ".join(f"{n!r} (layer {names[n]!r})" for n in same)
                raise ExtractionError(f"layers: {name!r} could mean several modules, whose names the store takes as "
                                      f"{name!r}: {shown_names}; pass the module's own name.")
            out.append(by_layer[name])
        elif (alias := _alias_of(model, named, name)) is not None:
            raise ExtractionError(
                f"layers: {name!r} is another name of module {alias!r} (the same module object, registered twice), "
                f"which the model's module names list once; pass layers=[{alias!r}] (--layer {alias})."
            )
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
    return out, "list"


def held_outside(model: Any) -> dict[str, str]:
    """Modules that the model's modules hold in plain containers (a list, tuple, set or dict attribute; not
    ``nn.ModuleList``/``nn.ModuleDict``), outside the module tree: ``{"<module>.<attribute>": "a list of 2"}``.
    Modules of the tree held there too (a list of references for convenience) are not counted."""
    torch = torch_module()
    tree = {id(m) for _, m in model.named_modules(remove_duplicate=False)}
    return _held(model, torch.nn.Module, tree)


def plain_tensors(model: Any) -> dict[str, str]:
    """Tensors that the model's modules hold as plain attributes (or in plain containers), not as parameters
    or buffers: ``{"<module>.<attribute>": "shape (3,)"}``; the model's own parameters and buffers held there
    too (an LSTM's ``_flat_weights``) are not counted."""
    torch = torch_module()
    tree = {id(t) for t in (*model.parameters(), *model.buffers())}
    return _held(model, torch.Tensor, tree)


def _held(model: Any, cls: type, tree: set[int]) -> dict[str, str]:
    """The ``cls`` objects not in ``tree`` (ids) held in the modules' plain attributes, by where they are held."""
    from .attrs import _torch_keys

    skip = _torch_keys()
    out: dict[str, str] = {}
    for name, m in model.named_modules():
        for attr, v in vars(m).items():
            if attr in skip:
                continue
            single = not isinstance(v, (dict, list, tuple, set, frozenset))  # set past __setattr__, or a tensor
            items = (v,) if single else v.values() if isinstance(v, dict) else v
            n = sum(1 for i in items if isinstance(i, cls) and id(i) not in tree)
            if n:
                what = (f"shape {tuple(v.shape)}" if hasattr(v, "shape") else f"a {cls.__name__.lower()}") if single else (
                    f"a {type(v).__name__} of {n}")
                out[f"{name}.{attr}" if name else attr] = what
    return out


def _alias_of(model: Any, named: dict[str, Any], name: str) -> str | None:
    """The name ``model.named_modules()`` gives the module registered under ``name`` too (``self.b =
    self.a``: ``'a'`` for ``'b'``), or ``None`` when ``name`` (or its store-safe form) is no such second name."""
    every = dict(model.named_modules(remove_duplicate=False))
    module = every.get(name)
    if module is None:
        module = next((m for n, m in every.items() if layer_name(n) == name), None)
    return next((n for n, m in named.items() if m is module), None) if module is not None else None


@dataclass
class ProbeInfo:
    """What the probe pass saw of one module."""

    calls: int = 0
    rank: int = -1
    leaf_calls_before: int = 0
    is_tensor: bool = False
    kind: str = ""
    """What a non-tensor output is (:func:`output_kind`), e.g. ``"a tuple (a Tensor, a tuple)"``."""
    batched: bool = True
    shape: tuple[int, ...] = ()
    dtype: str = ""
    alias_of: str | None = None
    shapes: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    """(stimuli in the probe's batch, full output shape) of each probe pass that called it."""
    rows: Any = None
    """Per stimulus of the first probe pass, the sum and the sum of magnitudes of a floating output (:func:`row_sums`)."""


def _a(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def output_kind(output: Any) -> str:
    """What a module's non-tensor output is, for a message: ``"a tuple (a Tensor, a tuple)"``, ``"a dict (keys
    ['a', 'b'])"``, ``"None"``."""
    if output is None:
        return "None"
    name = type(output).__name__
    if isinstance(output, Mapping):
        keys = list(output)
        return f"{_a(name)} (keys {keys[:4]}{' ...' if len(keys) > 4 else ''})"
    if isinstance(output, (tuple, list)):
        items = ", ".join(_a(type(v).__name__) if v is not None else "None" for v in output[:4])
        return f"{_a(name)} ({items}{', ...' if len(output) > 4 else ''})"
    return _a(name)


def batch_len(batch: Any) -> int:
    """Stimuli in a batch (a tensor or a dict of tensors)."""
    if isinstance(batch, Mapping):
        return int(next(iter(batch.values())).shape[0])
    return int(batch.shape[0])


def batch_mask(batch: Any) -> Any:
    """The batch's ``attention_mask`` (``(batch, tokens)``), or ``None``."""
    return batch.get("attention_mask") if isinstance(batch, Mapping) else None


def to_input(batch: Any, device: Any, in_dtype: Any) -> Any:
    """Move a batch to ``device``; cast floating and ``uint8`` tensors to ``in_dtype``.

    Integer tensors other than ``uint8`` (token ids, attention masks) keep their dtype.
    """
    torch = torch_module()
    if isinstance(batch, Mapping):
        return {k: to_input(v, device, in_dtype) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if not isinstance(batch, torch.Tensor):
        batch = torch.as_tensor(np.asarray(batch))
    if in_dtype is not None and batch.dtype != in_dtype and (batch.dtype.is_floating_point or batch.dtype == torch.uint8):
        batch = batch.to(dtype=in_dtype)
    return batch.to(device)


def unshared(batch: Any, loaded: Any) -> Any:
    """``batch`` (``to_input(loaded, ...)``) with every tensor that is one of ``loaded``'s own (no cast or
    move was needed) cloned, so that a model that changes its input in place (``x.sub_(mean)``, a first
    ``ReLU(inplace=True)``) leaves ``loaded`` as it was loaded, for the probe's comparison."""
    if isinstance(batch, Mapping):
        return {k: v.clone() if v is loaded.get(k) and hasattr(v, "clone") else v for k, v in batch.items()}
    return batch.clone() if batch is loaded else batch


def input_bytes(batch: Any) -> int:
    """Bytes of one stimulus of a batch as fed to the model."""
    if isinstance(batch, Mapping):
        return sum(input_bytes(v) for v in batch.values() if hasattr(v, "element_size"))
    return int(batch[0].numel() * batch.element_size())


def call_model(model: Any, batch: Any) -> Any:
    """``model(batch)``; a dict batch goes as keyword arguments, except to an ``nn.Sequential``
    (sentence-transformers models take the feature dict positionally)."""
    torch = torch_module()
    if isinstance(batch, Mapping) and not isinstance(model, torch.nn.Sequential):
        return model(**batch)
    return model(batch)


def input_dtype(model: Any) -> Any:
    """The dtype of the model's first floating parameter (float32 if none)."""
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch_module().float32


def np_dtype(torch_dtype_name: str) -> np.dtype:
    """The numpy dtype a torch dtype is stored as (bfloat16 and unknown dtypes: float32)."""
    if torch_dtype_name == "bfloat16":
        return np.dtype(np.float32)
    try:
        return np.dtype(torch_dtype_name)
    except TypeError:
        return np.dtype(np.float32)


def forward_error(model_name: str | None, stim: Stimuli, batch: Any, exc: BaseException) -> ExtractionError:
    """The one-line error of a forward pass that failed on its inputs (a shape mismatch, a wrong
    dtype ...): it names the model, the input shape, the reason and what to check."""
    if isinstance(batch, Mapping):
        shape = ", ".join(f"{k} {tuple(v.shape)}" for k, v in batch.items() if hasattr(v, "shape"))
    else:
        shape = str(tuple(batch.shape)) if hasattr(batch, "shape") else type(batch).__name__
    hint = {"folder": "the image size (image_size=, --image-size on the command line), the transform or the model's "
                      "own processor",
            "files": "the image size (image_size=, --image-size on the command line), the transform or the model's "
                     "own processor",
            "text": "the model's tokenizer or processor"}.get(stim.kind, "the shape and dtype of the stimuli")
    dims = tuple(batch.shape) if stim.kind in ("array", "tensor_dataset") and hasattr(batch, "shape") else ()
    if len(dims) == 4 and dims[-1] in (1, 3, 4) and dims[1] not in (1, 3, 4):  # images as numpy/PIL lay them out
        named = getattr(stim, "dims", None)  # a DataArray's transpose takes dim names
        how = (f"stimuli.transpose({', '.join(repr(d) for d in (named[0], named[3], named[1], named[2]))})"
               if named and len(named) == 4 else "x.transpose(0, 3, 1, 2)")
        hint += (f" (they look channels-last, (N, H, W, C), as numpy and PIL lay out images: torch models take (N, C, H, "
                 f"W), e.g. {how}, scaled and normalised as the model expects; or pass PIL images or image files, which "
                 f"get the image transform)")
    name = f"model {model_name!r}" if model_name else "the model"
    return ExtractionError(f"the forward pass of {name} failed on inputs of shape {shape} ({_reason(exc)}); check that "
                           f"the inputs fit the model: {hint}, or the model itself.")


def probe(model: Any, stim: Stimuli, candidates: list[str], device: Any, in_dtype: Any,
          model_name: str | None = None) -> tuple[dict[str, ProbeInfo], int, int]:
    """Run the first 2 stimuli with hooks on every module, then the first 3 (1 when there are only 2)
    with hooks on the candidates whose output looked batched.

    A module's output is ``batched`` (one row per stimulus) when its first dim is the number of
    stimuli in both passes and its shape per stimulus is the same: a leading dim that only happens
    to equal one batch size (a stacked pair ``(2, batch, d)``) is told apart by the other.
    Returns per-module info, the number of leaf-module calls and the bytes of one input stimulus.
    ``alias_of`` names an earlier candidate that returned the very same tensor object. A forward
    pass that fails is an :class:`ExtractionError` naming ``model_name`` (:func:`forward_error`).
    """
    torch = torch_module()
    named = dict(model.named_modules())
    leaves = {n for n, m in named.items() if not any(True for _ in m.children())}
    cand = set(candidates)
    info = {n: ProbeInfo() for n in named}
    state = {"rank": 0, "leaf_calls": 0, "b": 0}
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
            if not rec.is_tensor:
                rec.kind = output_kind(output)
            if rec.is_tensor:
                rec.shapes.append((state["b"], tuple(int(s) for s in output.shape)))
                rec.batched = output.ndim >= 1 and int(output.shape[0]) == state["b"]
                rec.shape = tuple(int(s) for s in output.shape[1:])
                rec.dtype = str(output.dtype).replace("torch.", "")
                if name in cand:
                    rec.rows = row_sums(output)
                    for other, ref in live:
                        if ref() is output:
                            rec.alias_of = other
                            break
                    live.append((name, weakref.ref(output)))

        return own_hook(hook)  # left out of the model's code digest

    try:
        for n, m in named.items():
            handles.append(m.register_forward_hook(make_hook(n)))
        first = stim.load(np.arange(min(2, stim.n)))
        batch = unshared(to_input(first, device, in_dtype), first)  # ``first`` is compared after this pass
        state["b"] = batch_len(batch)
        nbytes = input_bytes(batch)
        _probe_call(model, batch, model_name, stim)
    finally:
        for h in handles:
            h.remove()
    if stim.n >= 2:
        _check_batched(model, stim, [n for n in candidates if info[n].batched and info[n].calls == 1], info,
                       3 if stim.n >= 3 else 1, device, in_dtype, model_name, first)
    return info, state["leaf_calls"], nbytes


def _probe_call(model: Any, batch: Any, model_name: str | None, stim: Stimuli,
                ours: Callable[[], bool] = lambda: False) -> None:
    """``model(batch)`` without gradients (the probe's passes and the run's batches); stopped early by
    :class:`StopForward`; a failure of the model's own code is :func:`forward_error`, one that
    ``ours()`` says came from the hooks' own callbacks (writing, reducing) is raised as it is."""
    torch = torch_module()
    try:
        with torch.no_grad():
            call_model(model, batch)
    except StopForward:
        pass
    except NeuroxrError:
        raise
    except Exception as exc:  # the model's own code: its inputs do not fit it
        if ours():
            raise
        raise forward_error(model_name, stim, batch, exc) from exc


def _check_batched(model: Any, stim: Stimuli, names: list[str], info: dict[str, ProbeInfo], b: int, device: Any,
                   in_dtype: Any, model_name: str | None, first: Any = None) -> None:
    """The probe's second pass, over ``b`` stimuli: a module of ``names`` stays ``batched`` only when its
    first dim is ``b`` again and its shape per stimulus the same; the pass stops once all have run.
    A model that cannot run ``b`` stimuli (one that takes batches of exactly 2, or a batch statistic
    that needs 2) keeps the first pass's reading: the run's batches are checked against their
    stimulus counts (:func:`neuroxr.extract.write.activations`) all the same. ``first``, the first pass's
    loaded batch, must hold the same model input for the stimuli both passes load (:func:`check_same_input`)."""
    torch = torch_module()
    named = dict(model.named_modules())
    seen: set[str] = set()
    mixed: list[str] = []  # outputs of the stimuli both passes run that differ: batch statistics, random draws

    def make_hook(name: str) -> Callable:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if name in seen:
                return
            seen.add(name)
            rec = info[name]
            if isinstance(output, torch.Tensor):
                rec.shapes.append((b, tuple(int(s) for s in output.shape)))
                rec.batched = output.ndim >= 1 and int(output.shape[0]) == b and tuple(output.shape[1:]) == rec.shape
                if rec.batched and rows_differ(rec.rows, row_sums(output), output.dtype):
                    mixed.append(name)
            else:
                rec.batched = False
            if len(seen) == len(names):
                raise StopForward

        return own_hook(hook)

    if not names:
        return
    loaded = stim.load(np.arange(b))
    if first is not None:  # the stimuli both probe passes load must get the same model input both times
        check_same_input(stim, first, loaded)
    handles = [named[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        _probe_call(model, to_input(loaded, device, in_dtype), model_name, stim)
    except ExtractionError:  # the model's own code refused b stimuli: no second reading
        pass
    finally:
        for h in handles:
            h.remove()
    if mixed:
        warn(f"{len(mixed)} module(s) gave the first stimuli other outputs in a batch of {b} than in one of "
             f"{min(2, stim.n)}, e.g. {mixed[:3]}: the model mixes the stimuli of a batch (a BatchNorm without running "
             f"statistics, attention across the batch) or draws random numbers in its forward, so their features "
             f"depend on the batch size and on which stimuli share a batch, and a re-run would not reproduce them.")


class StopForward(BaseException):
    """Raised from the last hook of a pass: the rest of the forward pass is not needed."""


Callback = Callable[[int, Any, np.ndarray, Any], None]


class _LineProgress:
    """Progress as plain lines on stderr (``<desc>: 3/10 batches``, about every tenth batch and the
    last): no carriage returns, so logs and pipes stay readable."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n = int(total), desc, 0
        self.step = max(1, self.total // 10)

    def __enter__(self) -> _LineProgress:
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def update(self, k: int = 1) -> None:
        self.n += k
        if self.n % self.step == 0 or self.n == self.total:
            print(f"{self.desc}: {self.n}/{self.total} batches", file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str) -> Any:
    """A tqdm bar over ``total`` batches on a terminal; plain progress lines when stderr is not one
    (the rule of the command line's ``progress_for``)."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="batch", leave=False)
    return _LineProgress(total, desc)


def run_pass(
    model: Any,
    stim: Stimuli,
    parts: list[np.ndarray],
    callbacks: Mapping[str, Callback],
    device: Any,
    in_dtype: Any,
    desc: str,
    progress: bool,
    on_batch: Callable[[Any], None] | None = None,
    model_name: str | None = None,
) -> None:
    """One pass over the batches ``parts`` (stimulus indices).

    The hook of module ``name`` calls ``callbacks[name](start, output, ids, mask)`` inside the
    hook, ``start`` being the row of the batch's first stimulus within the concatenated
    ``parts`` and ``mask`` the batch's attention mask (or ``None``). The forward pass stops as
    soon as every hooked module has run. ``on_batch``, if given, is called with each batch as
    loaded (before it is moved to ``device``), in order. A failure of the model's own code is an
    :class:`ExtractionError` naming ``model_name`` (:func:`forward_error`); one of a callback passes unchanged.
    """
    named = dict(model.named_modules())
    state: dict[str, Any] = {"start": 0, "seen": 0, "ids": None, "mask": None, "in_callback": False}
    handles = []

    def make_hook(name: str, fn: Callable) -> Callable:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            state["in_callback"] = True
            if name in state["fired"]:  # its first call's rows would be overwritten by this one
                raise ExtractionError(
                    f"module {name!r} ran twice for one batch (stimuli {state['ids'][:3].tolist()}...), not in the "
                    f"probe; the model's forward pass differs from the probe's (data-dependent control flow is not "
                    f"supported): leave that module out (layers=, --layer).")
            state["fired"].add(name)
            fn(state["start"], output, state["ids"], state["mask"])
            state["in_callback"] = False
            state["seen"] += 1
            if state["seen"] == len(callbacks):
                raise StopForward

        return own_hook(hook)  # left out of the model's code digest

    try:
        for name, fn in callbacks.items():
            handles.append(named[name].register_forward_hook(make_hook(name, fn)))
        start = 0
        progress = progress and sys.stderr is not None  # started with stderr closed (2>&-): nowhere to show it
        bar = progress_bar(len(parts), desc) if progress else contextlib.nullcontext()
        with bar:
            for part in parts:
                batch = stim.load(part)
                if on_batch is not None:
                    on_batch(batch)
                batch = to_input(batch, device, in_dtype)
                state.update(start=start, seen=0, ids=stim.ids[part], mask=batch_mask(batch), fired=set())
                _probe_call(model, batch, model_name, stim, lambda: state["in_callback"])
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
