"""The extraction plan: which layers, their shapes and bytes, and passes that fit the memory budget.

Memory model
------------
What the extraction itself holds while a batch of ``b`` stimuli goes through one layer with
``o`` output units, ``p`` units to store before reduction (``p = o`` unless tokens are pooled)
and ``q`` stored units (``q = p`` unless reduced) is counted as::

    in_flight(b) = b * (input_bytes + o * raw_itemsize + 2 * q * itemsize)  # input, activations,
                                                                           # stored values, encoded chunks
                 + b * p * raw_itemsize    (pooled layers: the pooled copy)
                 + b * p * copy_bytes      (reduced layers: the projection's copies of the batch,
                                            ``reduce.projection_copy_bytes``: PCA one centred copy, float32
                                            at least (float16 outputs) and float64 for layers stored as
                                            float64; SRP the widened outputs, scipy's copy of their
                                            transpose and its float32 cast for float16 outputs)
    state        = reducer parameters of every reduced layer of the group (PCA: k x p, SRP: sparse k x p)

plus a fixed reserve of ``RESERVE_BYTES`` (256 KiB) for Zarr's per-chunk bookkeeping. Layers are
written from inside their hook, one at a time, so a group fits the budget when
``RESERVE_BYTES + sum(state) + max(in_flight) <= memory_limit``. After a pass, each layer is
rechunked one stored chunk (``n_stimuli x unit_chunk`` values) at a time, with ``unit_chunk``
chosen so that four such chunks fit the budget. The model's own activations and parameters
(held by torch) are not part of the budget.

A PCA layer's fit partition (``fit_batches``) follows from its own batch size as the plan counted it
before the projection's copies were counted in full (at the outputs' width as the reduction takes
them, ``reduce.reduced_dtype``: 2 bytes a unit for float16 outputs, where PCA copies 4): the
partition sets the fitted components, so the same arguments keep the same partition and features,
and a re-run over an earlier layer is not refused for a partition only the plan's arithmetic
changed. The fit is checked against the budget on its own (``reduce.pca_fit_transient``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ExtractionError, ExtractionParameterError, shown, warn
from ..sets import check_new_feature_sets
from ..store import StudyStore, _check_name
from ._common import RESERVE_BYTES, fmt_bytes, model_layer_names
from ._compat import check_compatible
from .identity import Identity
from .models import held_outside, input_dtype, np_dtype, plain_tensors, probe, select_modules
from .reduce import (
    fit_batches,
    pca_fit_transient,
    projection_copy_bytes,
    reduced_dtype,
    reducer_state_bytes,
)
from .stimuli import Stimuli


def parse_memory(value: int | float | str) -> int:
    """A number of bytes from ``value``.

    Parameters
    ----------
    value : int, float or str
        Bytes as a number, or a string such as ``"512MB"``, ``"1.5 GiB"``, ``"64kib"``
        (decimal ``kB/MB/GB/TB`` and binary ``KiB/MiB/GiB/TiB`` units, parsed by
        ``dask.utils.parse_bytes``).

    Returns
    -------
    int
        The number of bytes (at least 1).
    """
    from dask.utils import parse_bytes

    if isinstance(value, bool):
        raise ExtractionError("memory_limit must be an int or a string like '2GiB'; got a bool.")
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        raise ExtractionError(f"memory_limit must be a finite number of bytes or a string like '2GiB'; got {shown(value)}.")
    if isinstance(value, (int, np.integer, float, np.floating)):
        out = int(value)
    elif isinstance(value, str):
        try:
            out = int(parse_bytes(value.strip()))
        except (ValueError, TypeError, OverflowError):  # "1e400": an infinite float
            raise ExtractionError(f"memory_limit {value!r} is not understood; use bytes (e.g. 500000000) or a "
                                  f"string such as '500MB' or '2GiB'.") from None
    else:
        raise ExtractionError(f"memory_limit must be an int or a string like '2GiB'; got {type(value).__name__}.")
    if out < 1:
        raise ExtractionError(f"memory_limit must be positive; got {shown(value)}.")
    return out


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
        Output shape of one stimulus as the module returns it, e.g. ``(C, H, W)`` or ``(tokens, dim)``.
    n_raw_units : int
        Units per stimulus before reduction (after token pooling).
    n_units : int
        Units stored per stimulus (``n_raw_units``, or ``n_components`` when reduced).
    raw_dtype : str
        Dtype of the module's output (before any reduction; bfloat16 is stored as float32).
    dtype : str
        Stored dtype.
    nbytes : int
        Uncompressed bytes of the stored array: ``n_stimuli * n_units * itemsize``.
    raw_nbytes : int
        Bytes of the layer's output before any reduction: ``n_stimuli * n_raw_units * itemsize``.
    depth_index : int
        Rank of the module's output in the model's execution order (all modules counted).
    relative_depth : float
        Position in ``[0, 1]`` among the model's leaf-module calls (0 first, 1 last).
    pooling : str or None, optional
        Token pooling applied to a ``(tokens, dim)`` output (``"mean"``, ``"cls"``, ``"last"``).
    batch_size : int, default 0
        Stimuli per batch in this layer's pass.
    group : int, default -1
        The pass (0-based) in which this layer is extracted; ``-1`` if it is already complete.
    in_flight_bytes : int, default 0
        What the extraction holds for this layer per batch (see the module docstring).
    input_bytes : int, default 0
        Bytes of one stimulus as fed to the model.
    state_bytes : int, default 0
        Bytes of the fitted reducer kept during the pass (0 without reduction).
    unit_chunk : int, default 0
        Units per stored chunk (each chunk spans the whole stimulus axis).
    reduction : dict or None, optional
        The reduction applied to this layer (``None``: stored as is).
    fit_batches : int, default 0
        PCA only: the number of consecutive parts (``numpy.array_split``) of the fit stimuli fed to
        ``IncrementalPCA.partial_fit``; it follows from ``fit_stimuli``, ``n_components`` and the
        layer's own batch size (``batch_size`` capped by ``memory_limit``, with the projection's copy
        counted at the width of the outputs as the reduction takes them: ``in_flight(b, partition=True)``,
        see the module docstring), and the fitted components depend on it (0 without PCA).
    status : str, default "todo"
        ``"todo"`` or ``"complete"`` (already in the store).
    half : bool, default False
        The module's outputs are float16 or bfloat16 (their masked mean is summed in float32).
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
    pooling: str | None = None
    batch_size: int = 0
    group: int = -1
    in_flight_bytes: int = 0
    state_bytes: int = 0
    input_bytes: int = 0
    unit_chunk: int = 0
    reduction: dict[str, Any] | None = None
    fit_batches: int = 0
    status: str = "todo"
    half: bool = False

    def in_flight(self, b: int, partition: bool = False) -> int:
        """Bytes held for a batch of ``b`` stimuli (see the module docstring); ``partition``: as counted
        for the PCA fit partition, the projection's copy at the width the reduction takes the outputs in."""
        it = np.dtype(self.raw_dtype).itemsize
        raw = int(np.prod(self.output_shape)) * it
        out = self.n_units * np.dtype(self.dtype).itemsize
        proj = 0
        if self.reduction:
            proj = (reduced_dtype(self.raw_dtype, self.dtype).itemsize if partition
                    else projection_copy_bytes(self.reduction["method"], self.raw_dtype, self.dtype))
        extra = (self.n_raw_units * it if self.pooling else 0) + self.n_raw_units * proj
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
    batch_size : int
        The requested stimuli per batch (each layer's own is ``LayerPlan.batch_size``).
    layers : list of LayerPlan
        In execution order.
    groups : list of list of str
        Layer names per pass over the stimuli (only layers still to do).
    skipped : dict
        Modules of the default selection left out and why (aliases, modules called several
        times, non-tensor outputs).
    aliases : dict
        ``{module_name: earlier_module_name}`` for modules left out of the default selection
        because they return the very tensor object an earlier module returned (in-place
        activations, ``Identity``, ``Dropout`` in eval). Requested modules are never left out.
    preprocessing : str, default ""
        What turns stimuli into model input (recorded in each layer's attrs ``transform``).
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
    preprocessing: str = ""

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
        raise KeyError(f"no layer {name!r} in the plan; planned: {[lp.name for lp in self.layers]}.")

    def to_dataframe(self) -> Any:
        """The per-layer table as a pandas DataFrame (index: layer name)."""
        import pandas as pd

        rows = [
            {
                "module": lp.module_name, "type": lp.module_type, "output_shape": lp.output_shape,
                "pooling": lp.pooling, "units": lp.n_units, "nbytes": lp.nbytes, "batch_size": lp.batch_size,
                "group": lp.group, "in_flight_bytes": lp.in_flight_bytes, "depth_index": lp.depth_index,
                "relative_depth": lp.relative_depth, "status": lp.status,
            }
            for lp in self.layers
        ]
        return pd.DataFrame(rows, index=pd.Index([lp.name for lp in self.layers], name="layer"))

    def __str__(self) -> str:
        head = (
            f"Extraction plan for {self.model_name!r}: {self.n_stimuli} stimuli, {len(self.layers)} layers, "
            f"{fmt_bytes(self.nbytes)} stored, {len(self.groups)} pass(es), memory limit {fmt_bytes(self.memory_limit)}"
        )
        # a layer named other than its module shows the module it holds: `fc-1 <- _fc`
        label = {lp.name: lp.name if lp.name == (lp.module_name or "output") else f"{lp.name} <- {lp.module_name or '<model>'}"
                 for lp in self.layers}
        w = max([len(v) for v in label.values()] + [5])
        lines = [head, f"  {'layer':<{w}}  {'type':<14} {'output shape':<18} {'units':>9} {'stored':>11} {'batch':>6} {'pass':>5}  status"]
        for lp in self.layers:
            shape = str(lp.output_shape) + (f" {lp.pooling}" if lp.pooling else "")
            lines.append(
                f"  {label[lp.name]:<{w}}  {lp.module_type[:14]:<14} {shape:<18} {lp.n_units:>9} "
                f"{fmt_bytes(lp.nbytes):>11} {lp.batch_size:>6} {lp.group if lp.group >= 0 else '-':>5}  {lp.status}"
            )
        for name, why in self.skipped.items():
            lines.append(f"  skipped {name or '<model>'}: {why}")
        if self.preprocessing:
            lines.append(f"  preprocessing: {self.preprocessing}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # pragma: no cover - IPython display
        p.text(str(self))


def _unit_chunk(n: int, q: int, itemsize: int, budget: int, unit_chunk: int) -> int:
    by_memory = budget // (4 * n * itemsize)
    return int(max(1, min(q, unit_chunk, by_memory)))


def storage_dtype(dtype: Any) -> np.dtype | None:
    """The stored dtype asked for (``None``: the layer's own floating dtype, else float32).

    Only floating dtypes are accepted: an integer or bool dtype would truncate every feature.
    """
    if dtype is None:
        return None
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise ExtractionError(
            f"dtype {dtype!r} is not a numpy dtype; pass a floating dtype such as 'float32' or 'float64', or None "
            f"(the layer's own floating dtype)."
        ) from None
    if out.kind != "f":
        raise ExtractionError(
            f"dtype {dtype!r} is not a floating dtype ({out}), so stored features would be truncated; pass "
            f"'float16', 'float32' or 'float64', or None (the layer's own floating dtype)."
        )
    return out


def _why_not(rec: Any, flatten: bool, pooled: bool) -> str | None:
    if rec.calls == 0:
        return "not called in the forward pass"
    if rec.calls > 1:
        return f"called {rec.calls} times per forward pass (a shared module); its outputs are ambiguous"
    if not rec.is_tensor:
        return (f"its output is {rec.kind or 'something else'}, not a tensor; hook a submodule that returns a tensor, or "
                f"pass the tensor to store through a module of its own (self.out = nn.Identity() in __init__, "
                f"x = self.out(x) in forward)")
    if not rec.batched:
        shapes = ", ".join(f"{shape} for {b} stimuli" for b, shape in rec.shapes)
        return (f"its output has no stimulus axis (one row per stimulus): its first dim is not the batch ({shapes}); "
                f"hook a submodule whose output has one, or make the module put the batch first (e.g. "
                f"torch.stack(..., dim=1))")
    if len(rec.shape) == 0:
        return "its output has no unit axis (one number per stimulus)"
    if 0 in tuple(rec.shape):  # a layer of no units: the store holds it as an invalid entry (validate: 'unit' is empty)
        return f"its output has no values ({tuple(rec.shape)} per stimulus); a stored layer needs at least one unit"
    if str(rec.dtype).startswith("complex"):
        return (f"its output is complex ({rec.dtype}), and features are real; hook a module that returns a real view "
                f"(e.g. .abs() or torch.view_as_real)")
    if not flatten and len(rec.shape) > 1 and not (pooled and len(rec.shape) == 2):
        return f"its output has shape {rec.shape} per stimulus and flatten=False; pass flatten=True"
    return None


def build_plan(
    model: Any, stim: Stimuli, *, model_name: str, layers: Any, memory_limit: int, batch_size: int, device: Any,
    flatten: bool, reduction: dict[str, Any] | None, dtype: Any, unit_chunk: int, store: StudyStore | None,
    deduplicate: bool, overwrite: bool, pooling: str | None, preprocessing: str = "", identity: Identity | None = None,
    pooling_explicit: bool = False, read: dict[str, Any] | None = None,
) -> ExtractionPlan:
    """Probe the model and plan every layer (see :func:`neuroxr.extract.plan_extraction`).

    ``pooling_explicit``: the caller asked for ``pooling`` (not ``"auto"``); it is refused when no
    planned layer has an output it pools (``(batch, tokens, dim)``), never ignored.

    A layer already complete in ``store`` is planned as ``"complete"`` (skipped) only when it
    matches this extraction (:func:`check_compatible`, with ``identity``); with ``overwrite`` it is
    planned again. ``read``: the stored layers this extraction already read (:func:`stored_index`,
    e.g. for the stimulus order), not read again.
    """
    store_dtype = storage_dtype(dtype)  # before probing the model: a bad dtype is a one-line error
    candidates, mode = select_modules(model, layers)
    if outside := held_outside(model):  # a plain list of modules: not in eval mode, not moved, not in the identity
        listed = ", ".join(f"{k!r} ({v})" for k, v in list(outside.items())[:3])
        count = sum(int(v.split()[-1]) if v.startswith("a ") and v != "a module" else 1 for v in outside.values())
        warn(f"{count} module(s) are held outside the model's module tree, in plain containers: {listed}"
             f"{' ...' if len(outside) > 3 else ''}; they are not put in eval mode, moved to the device or listed for "
             f"layers=, and their weights are no part of the model's identity (a re-run after changing them would reuse "
             f"the stored layers): hold them in nn.ModuleList or nn.ModuleDict.")
    if plain := plain_tensors(model):  # counted by their class only in the identity, and not moved by model.to
        listed = ", ".join(f"{k!r} ({v})" for k, v in list(plain.items())[:3])
        warn(f"{len(plain)} tensor(s) are held as plain attributes, not buffers: {listed}{' ...' if len(plain) > 3 else ''}; "
             f"they are not moved to the device, and their values are no part of the model's identity (a re-run after "
             f"changing them would reuse the stored layers): register each with self.register_buffer(name, tensor, "
             f"persistent=False).")
    info, n_leaf_calls, in_bytes = probe(model, stim, candidates, device, input_dtype(model), model_name=model_name)
    named = dict(model.named_modules())
    skipped: dict[str, str] = {}
    aliases: dict[str, str] = {}
    kept: list[str] = []
    for name in candidates:
        rec = info[name]
        why = _why_not(rec, flatten, pooling is not None)
        if why is not None:
            if mode == "list":
                raise ExtractionError(f"cannot extract module {name or '<model>'!r}: {why}.")
            skipped[name] = why
            continue
        if deduplicate and mode == "default" and rec.alias_of is not None:
            aliases[name] = rec.alias_of
            skipped[name] = (f"returns the same tensor object as {rec.alias_of!r} (in-place op or pass-through); "
                             f"pass layers=[{name!r}] to store its own output")
            continue
        kept.append(name)
    if aliases:
        warn(f"left out {len(aliases)} module(s) that return an earlier module's tensor (in-place or pass-through): "
             f"{sorted(aliases)[:5]}; list them in layers=[...] to store their own outputs.")
    others = {name: why for name, why in skipped.items() if name not in aliases}
    if others and mode != "list":  # left out for what they return or how often they run: said, as the aliases
        listed = "; ".join(f"{name or '<model>'!r}: {why}" for name, why in list(others.items())[:3])
        warn(f"left out {len(others)} module(s) that cannot be stored as one layer: {listed}"
             f"{' ...' if len(others) > 3 else ''} (plan.skipped lists them all).")
    if not kept:
        raise ExtractionError(f"no layer of the model can be extracted; reasons: {skipped}.")
    kept.sort(key=lambda n: info[n].rank)

    every = model_layer_names(model)  # decided over the whole model: a module's name never depends on the selection
    names = {mod: _check_name(every[mod], "layer") for mod in kept}
    if store is not None:  # before any pass: the names must not collide with other sets (as write_features)
        check_new_feature_sets(store, model_name, names.values())

    n = stim.n
    avail = memory_limit - RESERVE_BYTES
    if avail <= 0:  # a value the command line cannot use: a usage error there
        raise ExtractionParameterError(
            f"memory_limit {fmt_bytes(memory_limit)} is below the {fmt_bytes(RESERVE_BYTES)} reserved for "
            f"Zarr's bookkeeping; raise it (a few MiB at least)."
        )
    plans: list[LayerPlan] = []
    for mod in kept:
        rec = info[mod]
        raw_dtype = np_dtype(rec.dtype)
        out_dtype = store_dtype or (raw_dtype if raw_dtype.kind == "f" else np.dtype(np.float32))
        pool = pooling if (pooling is not None and len(rec.shape) == 2) else None
        p = int(rec.shape[-1]) if pool else int(np.prod(rec.shape))
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
            depth_index=rec.rank, relative_depth=float(min(max(rel, 0.0), 1.0)), pooling=pool, reduction=red,
            half=str(rec.dtype) in ("float16", "bfloat16"),
        )
        lp.state_bytes = reducer_state_bytes(red["method"], p, q, out_dtype.itemsize) if red else 0
        lp.input_bytes = in_bytes
        lp.unit_chunk = _unit_chunk(n, q, out_dtype.itemsize, avail, unit_chunk)
        if 4 * n * out_dtype.itemsize > avail:
            raise ExtractionError(
                f"memory_limit {fmt_bytes(memory_limit)} cannot hold four columns of {n} stimuli "
                f"({fmt_bytes(4 * n * out_dtype.itemsize)}) besides the {fmt_bytes(RESERVE_BYTES)} reserve, "
                f"which rechunking to the store layout needs. Raise memory_limit."
            )
        plans.append(lp)

    if pooling is not None and pooling_explicit and not any(lp.pooling for lp in plans):
        shapes = ", ".join(f"{lp.name} {lp.output_shape}" for lp in plans[:5])
        raise ExtractionParameterError(f"pooling={pooling!r} (--pooling) pools outputs shaped (batch, tokens, dim), and no extracted "
                              f"layer has one (per-stimulus output shapes: {shapes}{', ...' if len(plans) > 5 else ''}); "
                              "drop pooling, or extract layers with token outputs (layers=, --layer).")
    for lp in plans:  # the PCA fit partition follows from the layer's own batch size, not from its pass
        if lp.reduction and lp.reduction["method"] == "pca":  # as counted for the partition (module docstring)
            b_fit = max(_own_batch_size(lp, avail, batch_size, n, partition=True), lp.reduction["n_components"])
            lp.fit_batches = len(fit_batches(lp.reduction["fit_stimuli"], b_fit))
    if store is not None and not overwrite:
        for lp in plans:
            path = f"features/{model_name}/{lp.name}"
            if path in (read or {}) or store.is_complete(path):  # a layer read is complete
                check_compatible(store, path, lp, stim.ids, identity, read=read)
                lp.status = "complete"

    groups = _group(plans, n, avail, batch_size, memory_limit, in_bytes)
    return ExtractionPlan(
        model_name=model_name, n_stimuli=n, stimulus_ids=stim.ids, memory_limit=memory_limit,
        batch_size=batch_size, layers=plans, groups=[[lp.name for lp in g] for g in groups],
        skipped=skipped, aliases=aliases, preprocessing=preprocessing,
    )


def _own_batch_size(lp: LayerPlan, avail: int, batch_size: int, n: int, partition: bool = False) -> int:
    """Stimuli per batch for ``lp`` alone: ``batch_size`` capped by the budget and ``n`` (0: not one fits;
    ``partition``: as counted for the PCA fit partition, :meth:`LayerPlan.in_flight`)."""
    b = (avail - lp.state_bytes) // lp.in_flight(1, partition) if avail > lp.state_bytes else 0
    return int(min(batch_size, b, n))


def _group(plans: list[LayerPlan], n: int, avail: int, batch_size: int, memory_limit: int, in_bytes: int) -> list[list[LayerPlan]]:
    """Batch sizes, and the layers of each pass, that fit ``avail`` bytes."""
    todo = [lp for lp in plans if lp.status == "todo"]
    for lp in todo:
        per = lp.in_flight(1)
        b = _own_batch_size(lp, avail, batch_size, n)
        if b < 1:
            need = per + lp.state_bytes + RESERVE_BYTES
            raise ExtractionError(
                f"layer {lp.name!r} ({lp.module_type}, {lp.n_raw_units} units per stimulus) needs "
                f"{fmt_bytes(need)} for a single stimulus"
                + (f" including {fmt_bytes(lp.state_bytes)} of {lp.reduction['method']} parameters" if lp.reduction else "")
                + f", more than memory_limit {fmt_bytes(memory_limit)}. Raise memory_limit"
                + (", lower n_components" if lp.reduction else ", use a reduction")
                + " or leave this layer out (layers=...)."
            )
        lp.batch_size = b
        if lp.reduction and lp.reduction["method"] == "pca":
            k = lp.reduction["n_components"]
            rows = -(-lp.reduction["fit_stimuli"] // lp.fit_batches)  # the largest part of array_split
            need = (lp.state_bytes + pca_fit_transient(lp.n_raw_units, k, rows, reduced_dtype(lp.raw_dtype, lp.dtype).itemsize)
                    + rows * in_bytes)
            if need > avail:
                raise ExtractionError(
                    f"fitting PCA with n_components={k} on layer {lp.name!r} ({lp.n_raw_units} units) needs about "
                    f"{fmt_bytes(need)}, more than memory_limit {fmt_bytes(memory_limit)}. Lower n_components, "
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
    return groups
