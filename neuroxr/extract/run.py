"""``extract_features`` and ``plan_extraction``: the extraction pipeline end to end.

stimuli -> preprocessing (the model's own by default) -> probe (shapes, execution order,
aliases) -> plan (passes within ``memory_limit``) -> one pass over the stimuli per group, each
layer streamed to ``features/<model>/<layer>`` from inside its forward hook -> completion
markers last.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExtractionError, StoreError, WriteConflictError, no_effect, shown
from ..store import StudyStore, _check_name
from ..store._zarr import local_root
from ..store.foreign import store_there
from ..store.set_writers import check_feature_fits
from ._common import eval_mode, stored_index, torch_module
from .identity import Identity, check_one_network, check_stored_names, warn_mixed
from .models import check_device, input_dtype, run_pass
from .plan import ExtractionPlan, build_plan, check_compatible, parse_memory
from .pooling import POOLING_REVISION, resolve_pooling
from .preprocess import (
    DEFAULT_IMAGE_SIZE,
    FED_AS_IS,
    Preprocessing,
    identity_tag,
    image_size_given,
    resolve_preprocessing,
    transform_used,
    warn_default_for_hf,
)
from .reduce import PCA, SRP, fit_index, reduction_spec
from .stimuli import Stimuli, as_stimuli
from .write import LayerWriter, activations, check_finite


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


def _pooling_asked(pooling: Any) -> bool:
    """Whether the caller asked for a pooling (not ``"auto"`` or none): refused where no layer has tokens."""
    return pooling not in (None, "none", "auto")


def _check_options(model: Any, unit_chunk: Any, staging_dir: Any = None, **flags: Any) -> None:
    """One-line errors for a model that is no torch module, a ``unit_chunk`` that is no positive int, a
    ``staging_dir`` that is no folder, and flags that are not bools: a string such as ``"no"`` is truthy,
    so ``overwrite="no"`` would have overwritten."""
    torch = torch_module()
    if not isinstance(model, torch.nn.Module):
        raise ExtractionError(f"model must be a torch.nn.Module; got {type(model).__name__}. Wrap a function in a "
                              f"Module whose forward calls it.")
    compiled = [name for name, m in model.named_modules() if type(m).__name__ == "OptimizedModule" and hasattr(m, "_orig_mod")]
    if compiled:  # dynamo traced the capture hooks (zarr writes): its own multi-line AssertionError
        where = "model" if compiled[0] == "" else f"model: module {compiled[0]!r}"
        fix = "model._orig_mod" if compiled[0] == "" else f"its ._orig_mod in place of {compiled[0]!r}"
        raise ExtractionError(f"{where} is compiled by torch.compile, which traces the hooks that capture the layers; "
                              f"pass the module as it was before compiling ({fix}: the same weights and layers).")
    empty = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if empty:  # built on the meta device (init_empty_weights, device="meta"): torch's NotImplementedError named nothing
        raise ExtractionError(f"model: {len(empty)} parameters or buffers are on the meta device, with no values, e.g. "
                              f"{empty[:3]}; load its weights first (model.load_state_dict(state, assign=True), or "
                              f"neuroxr.extract.models.load_weights(model, path); --weights FILE on the command line).")
    if not isinstance(unit_chunk, (int, np.integer)) or isinstance(unit_chunk, bool) or unit_chunk < 1:
        raise ExtractionError(f"unit_chunk must be a positive int (units per stored chunk); got {shown(unit_chunk)}.")
    if staging_dir is not None and not os.path.isdir(staging_dir):
        raise ExtractionError(f"staging_dir {os.fspath(staging_dir)!r} is not an existing folder; create it, or leave "
                              f"staging_dir out (the system temp folder).")
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ExtractionError(f"{name} must be True or False; got {shown(value)}.")


def _prepare(model: Any, stimuli: Any, stimulus_ids: Any, transform: Any, image_size: Any, reduction: Any,
             memory_limit: Any, batch_size: Any, pooling: Any, device: Any,
             texts: bool | None) -> tuple[Preprocessing, Stimuli, Any, int, str | None]:
    torch_module()
    check_device(device)
    prep = resolve_preprocessing(model, transform, image_size)
    stim = as_stimuli(stimuli, stimulus_ids, prep, texts)
    warn_default_for_hf(model, prep, stim.kind)
    if stim.kind in FED_AS_IS and not prep.explicit and image_size_given(image_size):
        where = "on an array of stimuli" if stim.kind == "array" else "on a Dataset of tensors"
        raise no_effect([f"image_size={image_size!r}"], where, "fed to the model as is",
                        "pass transform= to transform each stimulus", error=ExtractionError)
    spec = reduction_spec(reduction, stim.n)
    limit = parse_memory(memory_limit)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ExtractionError(f"batch_size must be a positive int; got {shown(batch_size)}.")
    return prep, stim, spec, limit, resolve_pooling(pooling, stim)


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
    transform: Any = None,
    image_size: int | tuple[int, int] | None = DEFAULT_IMAGE_SIZE,
    pooling: str | None = "auto",
    reduction: Mapping[str, Any] | None = None,
    dtype: Any = None,
    unit_chunk: int = 4096,
    deduplicate: bool = True,
    overwrite: bool = False,
    texts: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ExtractionPlan:
    """Dry run: every layer's output shape and bytes, and the passes that fit ``memory_limit``.

    Runs the probe's two small batches (2, then 3 stimuli) through the model; writes nothing (a
    store that does not exist yet is not created, local or remote: ``storage_options`` as in
    :func:`extract_features`). The parameters are those of :func:`extract_features`.

    Returns
    -------
    ExtractionPlan
        Per layer: ``output_shape`` (one stimulus, before flattening), ``nbytes``
        (``n_stimuli * n_units * itemsize``, what the store will hold uncompressed), batch size
        and pass; ``print(plan)`` shows the table.
    """
    torch = torch_module()
    model_name = _check_name(model_name, "model")
    _check_options(model, unit_chunk, flatten=flatten, deduplicate=deduplicate, overwrite=overwrite)
    if store is None and storage_options:
        raise ExtractionError("storage_options: they open the store, and no store is given; pass store= (a URL), "
                              "or drop storage_options.")
    prep, stim, spec, limit, pool = _prepare(model, stimuli, stimulus_ids, transform, image_size, reduction,
                                             memory_limit, batch_size, pooling, device, texts)
    st = _existing(store, storage_options) if store is not None else None
    read: dict[str, Any] = {}  # the stored layers read: each once
    stim = _in_stored_order(st, model_name, stim, read)
    with eval_mode(model):
        model.to(device)
        with torch.no_grad():
            return build_plan(
                model, stim, model_name=model_name, layers=layers, memory_limit=limit, batch_size=int(batch_size),
                device=device, flatten=flatten, reduction=spec, dtype=dtype, unit_chunk=int(unit_chunk),
                store=st, deduplicate=deduplicate, overwrite=overwrite, pooling=pool, preprocessing=_shown_preprocessing(prep, stim.kind),
                pooling_explicit=_pooling_asked(pooling), read=read,
                identity=Identity(model, stim, int(batch_size), identity_tag(prep, stim.kind)),
            )


def _existing(store: StudyStore | str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> StudyStore | None:
    """The study store at ``store`` (a URL opened with ``storage_options``), or ``None`` where there is
    none yet: it is created only when an extraction writes (:func:`_open`), so a dry run, or a call
    refused by its checks, leaves nothing, local or remote."""
    if isinstance(store, StudyStore):
        if storage_options:
            raise ExtractionError("storage_options opens a store given by its URL; the StudyStore passed as store "
                                  "carries its own: pass its URL, or drop storage_options.")
        return store
    if not isinstance(store, (str, os.PathLike)):  # os.fspath raised a bare TypeError
        raise ExtractionError(f"store must be a StudyStore, a local path or a URL (s3://...); got {shown(store)}"
                              + (" (plan_extraction plans without a store)." if store is None else "."))
    url = os.fspath(store)
    local = local_root(url)
    if local is not None and storage_options:
        raise ExtractionError(f"storage_options: fsspec options apply to remote stores (s3://, gs://, ...), not to the "
                              f"local store {url!r}; drop them.")
    # none yet: made at the first write; a folder of other files or another program's Zarr group is refused now
    return StudyStore(url, storage_options=storage_options) if store_there(url, storage_options) else None


def _in_stored_order(store: StudyStore | None, model_name: str, stim: Stimuli, read: dict[str, Any] | None = None) -> Stimuli:
    """``stim`` in the stimulus order of the model's layers already in ``store``: the first complete layer
    of ``features/<model_name>`` (in depth order) that holds exactly these stimulus ids sets the order,
    paired by id (a re-run given the same stimuli in another order skips and writes layers as a run in
    that order does). Stimuli that no stored layer holds all of, alone, keep their order. A layer is
    read through :meth:`~neuroxr.StudyStore.read_set_index`: a damaged one sets no order (where it is
    asked for again, :func:`~neuroxr.extract._compat.check_compatible` refuses it, in the store's words). ``read``:
    as in :func:`~neuroxr.extract._common.stored_index`, gets the layers read, so the plan's check reads none again."""
    if store is None:
        return stim
    where = {sid: i for i, sid in enumerate(stim.ids.tolist())}
    for layer in store.layers(model_name):
        try:
            stored = stored_index(store, f"features/{model_name}/{layer}", read).stimulus_id.tolist()
        except StoreError:  # damaged, or rewritten meanwhile: its ids are no record
            continue
        if len(stored) != stim.n or any(str(sid) not in where for sid in stored):
            continue
        order = np.array([where[str(sid)] for sid in stored], dtype=np.int64)
        return stim if np.array_equal(order, np.arange(stim.n)) else stim.reordered(order)
    return stim


def _open(store: StudyStore | str | os.PathLike, existing: StudyStore | None,
          storage_options: Mapping[str, Any] | None = None) -> StudyStore:
    """The store to write to: ``existing``, else a new one at ``store`` (opened with ``storage_options``)."""
    return existing if existing is not None else StudyStore(store, storage_options=storage_options)


def _shown_preprocessing(prep: Preprocessing, kind: str) -> str:
    """What the plan prints as the preprocessing of stimuli of ``kind`` (none for an array fed as is)."""
    return prep.description if transform_used(prep, kind) else f"none ({FED_AS_IS[kind]} fed as is)"


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
    transform: Any = None,
    image_size: int | tuple[int, int] | None = DEFAULT_IMAGE_SIZE,
    pooling: str | None = "auto",
    reduction: Mapping[str, Any] | None = None,
    dtype: Any = None,
    unit_chunk: int = 4096,
    deduplicate: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    dry_run: bool = False,
    on_layer_complete: Callable[[str], None] | None = None,
    staging_dir: str | os.PathLike | None = None,
    texts: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ExtractionResult | ExtractionPlan:
    """Extract a torch model's layer activations into ``features/<model_name>/<layer>``.

    Each layer is written chunk by chunk as batches of stimuli come through (a layer is never
    held whole in memory), then rechunked to the store layout (whole stimulus axis, units
    chunked) and marked complete last. Re-running after an interruption skips complete layers
    and rewrites the others from scratch. A complete layer is skipped only when it was extracted
    from the same model (parameters, buffers, modules), preprocessing and stimulus contents: each
    layer records their digests in its attrs ``extraction_identity``
    (:mod:`neuroxr.extract.identity`), and a difference is an error, never a skip. Stimuli given in
    another order than the model's layers already in the store are taken in the stored order, each
    with its own id (paired by id, never by position; ``plan.stimulus_ids`` shows the order used).

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode for the extraction (each module's training flag is restored afterwards) and moved
        to ``device`` (in place). Hugging Face models get dict batches as keyword arguments.
    stimuli : folder, list of image paths, list of texts, array or tensor (N, ...), or torch Dataset
        A folder of images (files directly inside it, sorted by name; ``stimulus_id`` is the file
        name without extension); a list of image files; a list of strings, which are texts as
        ``texts`` says; an in-memory array (fed as is unless ``transform`` is given); or a
        map-style Dataset whose items are tensors, PIL images, or tuples/lists whose first element
        is one (a list of numbers is one stimulus itself; PIL images are transformed; tensors are fed as is unless ``transform`` is given;
        the first item's kind decides, and an item of the other kind is refused). A Hugging Face
        tokenizer or processor as ``transform`` is refused for an array or tensors. Floating and
        ``uint8`` inputs are cast to the dtype of the model's floating parameters; token ids never are.
    store : StudyStore or str
        The study store (or its URL); a path or URL that holds no store yet is created when the
        extraction starts writing, after every check (never by a dry run or a call refused by its
        checks; a pass that fails before its first layer is written leaves it valid and empty).
    model_name : str
        The ``<model>`` part of the entry path.
    layers : list of str, callable or None, default None
        Module names (as in ``model.named_modules()``; the store-safe names are accepted too), a
        filter ``f(name, module) -> bool``, or ``None`` for every leaf module. A named module is
        always stored with its own output (an in-place ReLU's output is the ReLU's, never the
        conv's before it), or the call fails naming why it cannot be. Only the default selection
        leaves out modules returning the very tensor object an earlier module returned (in-place
        activations, ``Identity``, ``Dropout`` in eval; see ``plan.aliases``, with a
        ``NeuroxrWarning``); it and a filter leave out, with a ``NeuroxrWarning``, modules that cannot
        be stored (called more than once per forward pass, non-tensor or complex outputs).
    memory_limit : int or str, default "1GiB"
        Budget in bytes for what the extraction holds; see :mod:`neuroxr.extract.plan`. Layers are
        grouped into passes over the stimuli, and batch sizes lowered, to fit it.
    batch_size : int, default 32
        Largest number of stimuli per forward pass.
    device : str or torch.device, default "cpu"
        Checked first: a device torch does not know or that this machine lacks (``"cuda"``
        without a GPU) is a one-line error.
    flatten : bool, default True
        Flatten each output to ``(stimulus, unit)``; ``(C, H, W)`` outputs get ``channel``, ``y``,
        ``x`` coords on ``unit``, ``(tokens, dim)`` outputs ``token`` and ``channel``. With
        ``False`` only outputs that already are ``(batch, units)`` (or pooled tokens) are stored.
    stimulus_ids : sequence of str, optional
        Overrides the ids (default: file stems, a Dataset's ``stimulus_ids`` attribute, or
        ``"stimulus0", ...``).
    transform : optional, default None
        The preprocessing: a callable (PIL image or array item -> tensor), a torchvision weights
        enum member (``weights.transforms()`` is used), a timm data config dict, or a Hugging Face
        tokenizer / image processor / processor. ``None``: the model's own (a ``tokenizer``,
        ``processor`` or ``image_processor`` attribute, timm's ``pretrained_cfg``), else
        :func:`default_image_transform` (resize, centre crop, ImageNet normalisation) for
        images. What was used is recorded in each layer's attrs ``transform`` and
        ``transform_source``.
    image_size : int, (height, width) or None, default 224
        Output size of the default image transform; given with a transform, a model that carries
        its own preprocessing, an array of stimuli or a Dataset of tensors (where it would have no
        effect), it is refused.
    pooling : {"auto", "mean", "cls", "last", None}, default "auto"
        Pooling over tokens of outputs shaped ``(batch, tokens, dim)``: ``"mean"`` over the
        non-padding tokens (the attention mask), ``"cls"`` the first token, ``"last"`` the last
        non-padding token. ``"auto"``: ``"mean"`` for texts, none for other stimuli. ``"mean"``,
        ``"cls"`` or ``"last"`` when no extracted layer has such an output is refused.
    reduction : dict, optional
        ``{"method": "srp" | "pca", "n_components": k, "fit_stimuli": m, "seed": s}``: reduce each
        layer with more than ``k`` units to ``k`` at write time. ``srp``: sparse random projection
        (``sklearn.random_projection.SparseRandomProjection``, seeded by ``s``); ``pca``:
        ``sklearn.decomposition.IncrementalPCA`` fitted on ``m`` stimuli drawn with
        ``default_rng(s)`` from the stimuli sorted by id (all stimuli by default) in a preliminary
        pass, so the order the stimuli are given in changes no stimulus's features. Recorded in the entry
        attrs ``reduction`` (with the fit stimulus ids and, for PCA, the explained variance ratio).
    dtype : numpy dtype, optional
        Stored dtype (default: the output dtype; float32 for reduced layers). A reduced layer stored as
        float64 is fitted and projected in float64 (the outputs widened first).
    unit_chunk : int, default 4096
        Largest number of units per stored chunk (lowered to fit the memory budget), for the layers
        this call writes: a complete layer it skips keeps its chunks (a layout, no number changes;
        ``overwrite=True`` writes it again).
    deduplicate : bool, default True
        Leave aliased modules out of the default selection (see ``layers``).
    overwrite : bool, default False
        Recompute layers that are already complete. Without it, a complete layer that differs from
        this extraction (shape, ids, reduction, pooling, or the model, preprocessing or stimuli it
        came from), or that records no ``extraction_identity`` (an older store), raises an
        :class:`ExtractionError` naming it.
    progress : bool, default True
        Report progress over batches on stderr: a tqdm bar on a terminal, plain lines
        (``<model>: 3/10 batches``, no carriage returns) when stderr is not a terminal.
    dry_run : bool, default False
        Only plan: return the :class:`ExtractionPlan` and write nothing.
    on_layer_complete : callable, optional
        Called with the layer name after each layer is marked complete.
    staging_dir : str, optional
        Local folder for the raw staging files of one pass (default: the system temp folder). It
        needs the uncompressed size of the pass's layers (``plan.layers[i].nbytes``) when there
        is more than one batch; the files are removed as each layer is rechunked into the store.
    texts : bool or None, default None
        Whether a list of strings ``stimuli`` holds texts. ``True``: texts, tokenized by the
        tokenizer or processor (``transform=`` or the model's own; refused without one).
        ``False``: image file paths. ``None``: texts when there is a tokenizer, image files
        otherwise; strings that all name existing files are refused when there is a tokenizer
        (say which with ``texts=``).
    storage_options : mapping, optional
        fsspec options of a remote ``store`` given by its URL (``s3://...``), e.g. ``endpoint_url``;
        refused for a local store or a :class:`StudyStore` (which carries its own). The store is
        opened with them, and created only when the extraction starts writing, as a local one.

    Returns
    -------
    ExtractionResult
        (an :class:`ExtractionPlan` when ``dry_run``). Read a layer back with
        ``store.read_features(model_name, layer)``: a DataArray ``(stimulus, unit)`` with attrs
        ``module_name``, ``module_type``, ``output_shape``, ``depth_index``, ``relative_depth``,
        ``pooling``, ``transform``, ``extraction_identity``.

    Raises
    ------
    ExtractionError
        Unknown layers, an unknown or unavailable device, a budget too small for one stimulus of
        some layer, stimuli of different shapes, unreadable image files, non-finite activations,
        or a complete stored layer that does not match.
    StoreError
        A layer name that collides with another set of the store (as
        :meth:`~neuroxr.StudyStore.write_features`).

    Examples
    --------
    >>> plan = extract_features(net, "images/", store, model_name="net", dry_run=True)  # doctest: +SKIP
    >>> print(plan)                                                                      # doctest: +SKIP
    >>> extract_features(net, "images/", store, model_name="net", memory_limit="4GiB")   # doctest: +SKIP
    """
    model_name = _check_name(model_name, "model")
    _check_options(model, unit_chunk, None if dry_run is True else staging_dir, flatten=flatten, deduplicate=deduplicate,
                   overwrite=overwrite, progress=progress, dry_run=dry_run)
    if on_layer_complete is not None and not callable(on_layer_complete):  # found after the first layer's commit
        raise ExtractionError(f"on_layer_complete must be a function f(layer_name) or None; got {shown(on_layer_complete)}.")
    prep, stim, spec, limit, pool = _prepare(model, stimuli, stimulus_ids, transform, image_size, reduction,
                                             memory_limit, batch_size, pooling, device, texts)
    st = _existing(store, storage_options)
    if st is not None and not dry_run:
        st._require_write()
    read: dict[str, Any] = {}  # the stored layers read: each once
    stim = _in_stored_order(st, model_name, stim, read)
    with eval_mode(model):
        model.to(device)
        identity = Identity(model, stim, int(batch_size), identity_tag(prep, stim.kind))
        plan = build_plan(
            model, stim, model_name=model_name, layers=layers, memory_limit=limit, batch_size=int(batch_size),
            device=device, flatten=flatten, reduction=spec, dtype=dtype, unit_chunk=int(unit_chunk),
            store=st, deduplicate=deduplicate, overwrite=overwrite, pooling=pool, preprocessing=_shown_preprocessing(prep, stim.kind),
            pooling_explicit=_pooling_asked(pooling), identity=identity, read=read,
        )
        for lp in plan.layers:  # a name too long for the store's file names: refused before any pass (a dry run's too)
            check_feature_fits(os.fspath(getattr(store, "url", store)), model_name, lp.name)
        if st is not None and not overwrite:  # new layers of another network under this name: refused
            check_one_network(st, model_name, {lp.name for lp in plan.layers}, identity, read)
        if st is not None:  # a module stored under an older name: never stored twice
            check_stored_names(st, model_name, plan.layers, read)
        if dry_run:
            return plan
        target = _open(store, st, storage_options)
        out = _execute(model, stim, target, plan, prep, identity, device=device, progress=progress,
                       on_layer_complete=on_layer_complete, flatten=flatten, staging_dir=staging_dir, overwrite=overwrite)
        if overwrite and out.written:  # a partial overwrite from another network leaves a mixed model: said
            warn_mixed(target, model_name)
        return out


def _fit_pca(model: Any, stim: Stimuli, plan: ExtractionPlan, group: list, device: Any, in_dtype: Any,
             desc: str, progress: bool) -> dict[str, PCA]:
    """Fit one IncrementalPCA per PCA-reduced layer of ``group``: one preliminary pass per fit partition.

    Each layer's fit stimuli are fed to ``partial_fit`` in ``lp.fit_batches`` consecutive parts
    (planned from the layer's own batch size, recorded in its attrs ``reduction``).
    """
    pca_layers = [lp for lp in group if lp.reduction and lp.reduction["method"] == "pca"]
    pcas: dict[str, PCA] = {}
    for count in sorted({lp.fit_batches for lp in pca_layers}):
        fitted = [lp for lp in pca_layers if lp.fit_batches == count]
        spec = fitted[0].reduction
        index = fit_index(spec, plan.stimulus_ids)  # in stimulus id order
        parts = np.array_split(index, count)
        for lp in fitted:
            pcas[lp.name] = PCA(spec["n_components"], lp.dtype)

        def fitter(lp: Any) -> Callable:
            def fn(start: int, output: Any, ids: np.ndarray, mask: Any) -> None:
                x = activations(lp, output, mask, len(ids))
                check_finite(lp, x, ids)
                pcas[lp.name].partial_fit(x)

            return fn

        run_pass(model, stim, parts, {lp.module_name: fitter(lp) for lp in fitted}, device, in_dtype, desc, progress,
                 model_name=plan.model_name)
    for p in pcas.values():
        p.finish()
    return pcas


def _execute(
    model: Any, stim: Stimuli, store: StudyStore, plan: ExtractionPlan, prep: Preprocessing, identity: Identity, *, device: Any,
    progress: bool, on_layer_complete: Callable[[str], None] | None, flatten: bool, staging_dir: Any, overwrite: bool,
) -> ExtractionResult:
    from .. import __version__

    in_dtype = input_dtype(model)
    by_name = {lp.name: lp for lp in plan.layers}
    # what each commit may replace: an overwrite, the copy complete now (by its token); else none
    planned = {lp.name: _stored_copy(store, f"features/{plan.model_name}/{lp.name}") if overwrite else (False, None)
               for lp in plan.layers if lp.status != "complete"}
    written: list[str] = []
    taken: list[str] = []  # written meanwhile by another process, identical by identity: kept
    largest = 0
    n_passes = 0
    n_groups = len(plan.groups)
    with tempfile.TemporaryDirectory(prefix="neuroxr-extract-", dir=staging_dir) as staging:
        for gi, names in enumerate(plan.groups):
            group = [by_name[n] for n in names]
            b = group[0].batch_size
            reducers: dict[str, Any] = _fit_pca(model, stim, plan, group, device, in_dtype,
                                                f"{plan.model_name}: fit PCA (pass {gi + 1}/{n_groups})", progress)
            n_passes += len({by_name[n].fit_batches for n in reducers})
            for lp in group:  # SRP needs only the shape
                if lp.reduction and lp.reduction["method"] == "srp":
                    reducers[lp.name] = SRP(lp.n_raw_units, lp.n_units, lp.reduction["seed"], lp.dtype)
            writers: dict[str, LayerWriter] = {}
            try:
                for lp in group:
                    red_attr = None
                    if lp.reduction is not None:
                        red_attr = dict(lp.reduction, input_units=lp.n_raw_units, **reducers[lp.name].info)
                        if lp.reduction["method"] == "pca":  # fitted: on which stimuli, in how many batches
                            fit_ids = plan.stimulus_ids[fit_index(lp.reduction, plan.stimulus_ids)]
                            red_attr.update(fit_stimulus_ids=fit_ids.tolist(), fit_batches=lp.fit_batches)
                    attrs = {
                        "module_name": lp.module_name,
                        "module_type": lp.module_type,
                        "output_shape": list(lp.output_shape),
                        "depth_index": lp.depth_index,
                        "relative_depth": lp.relative_depth,
                        "flatten": bool(flatten),
                        "pooling": lp.pooling,
                        "pooling_revision": POOLING_REVISION if lp.pooling else None,
                        "source_dtype": lp.raw_dtype,
                        "stimuli": stim.kind,
                        "n_tokens": stim.n_tokens,
                        "transform": prep.description if transform_used(prep, stim.kind) else None,
                        "transform_source": prep.source if transform_used(prep, stim.kind) else f"none ({FED_AS_IS[stim.kind]} fed as is)",
                        "reduction": red_attr,
                        "extracted_by": f"neuroxr {__version__} extract_features",
                    }
                    complete, token = planned[lp.name]
                    writers[lp.name] = LayerWriter(store, plan.model_name, lp, plan, reducers.get(lp.name), attrs, staging,
                                                  absent=not complete, replaces=token)  # another writer's copy is kept
                callbacks = {lp.module_name: writers[lp.name].write for lp in group}
                parts = [np.arange(i, min(i + b, plan.n_stimuli)) for i in range(0, plan.n_stimuli, b)]
                loaded = identity.feeder()  # a Dataset's items are hashed as the pass loads them
                run_pass(model, stim, parts, callbacks, device, in_dtype, f"{plan.model_name}: pass {gi + 1}/{n_groups}",
                         progress, on_batch=None if loaded is None else loaded.update, model_name=plan.model_name)
                if loaded is not None:
                    identity.fed(loaded)
                n_passes += 1
                reducers.clear()
                for lp in group:  # no layer of the pass is committed unless all are whole
                    writers[lp.name].check_rows()
                for lp in group:
                    w = writers[lp.name]
                    largest = max(largest, w.largest)
                    try:
                        w.finish(identity.record())
                    except WriteConflictError:
                        if not _same_extraction(store, w.path, lp, plan, identity):
                            raise
                        del writers[lp.name]  # another process wrote this very extraction: its copy serves
                        taken.append(lp.name)
                        continue
                    del writers[lp.name]
                    written.append(lp.name)
                    if on_layer_complete is not None:
                        on_layer_complete(lp.name)
            except BaseException:  # a failure or an interruption: staged layers are dropped, old copies kept
                for w in writers.values():
                    w.discard()
                raise
    return ExtractionResult(
        plan=plan,
        written=written,
        skipped=[lp.name for lp in plan.layers if lp.status == "complete"] + taken,
        paths={lp.name: f"features/{plan.model_name}/{lp.name}" for lp in plan.layers},
        n_passes=n_passes,
        largest_buffer_bytes=largest,
    )


def _stored_copy(store: StudyStore, path: str) -> tuple[bool, str | None]:
    """Whether ``path`` is complete now and its token (an overwrite's commit is refused if another
    process replaced that copy meanwhile; a copy of neuroxr 0.1.0 records no token)."""
    complete = store.is_complete(path)
    return complete, store.token(path, fresh=True) if complete else None


def _same_extraction(store: StudyStore, path: str, lp: Any, plan: ExtractionPlan, identity: Identity) -> bool:
    """Whether the copy of ``path`` another process committed during this pass is this very extraction
    (:func:`~neuroxr.extract._compat.check_compatible`: the same shape, stimuli, module, reduction,
    pooling and the digests of the model, the preprocessing and the stimuli)."""
    try:
        check_compatible(store, path, lp, plan.stimulus_ids, identity)
    except (ExtractionError, StoreError):
        return False
    return True
