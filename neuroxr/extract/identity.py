"""What a feature set was extracted from: content digests of the model, the preprocessing and the stimuli.

Every layer :func:`~neuroxr.extract.extract_features` writes records in its attrs ``extraction_identity``::

    {"version": 5, "hash": "sha256",
     "model": "<hex>",          # the module tree (names, classes, extra_repr), every parameter and
                                # buffer (name, dtype, shape, bytes), the code it runs: its classes,
                                # instance forwards and forward hooks (code.py), and the modules'
                                # plain attributes, the hooks' flags and the packages of the code
                                # (attrs.py), the values the code reads from its modules' globals
     "preprocessing": "<hex>",  # the model input the preprocessing makes of the first (up to 2) stimuli
                                # (and the revision of neuroxr's default transform where it is used)
     "stimuli": "<hex>",        # the stimuli's contents: image files' bytes, array values, texts;
                                # a torch Dataset's items as loaded
     "inputs": "<hex>"}         # the model input of every stimulus, in order (hashed as the pass
                                # loads it; a re-run that would skip a layer preprocesses every stimulus)

A re-run compares them with this extraction's before it skips a complete layer
(:func:`~neuroxr.extract._compat.check_compatible`): other weights under the same model name, another
transform, other ``forward`` code, another ``self.scale``, or other pixels under the same stimulus
ids are refused, never skipped. A layer recorded with an older version (:data:`UNCOVERED`: 1, whose
model digest did not cover the code; 2, whose did not cover the attributes, the hooks' flags and
the packages; 3, which hashed the model input of the first stimuli only, so a transform changed for
some stimuli went unseen; 4, whose model digest did not cover the values the code reads from its
modules' globals) is compared on what its version covers, and then refused all the same,
as the rest cannot be checked. Digests are SHA-256 over the raw bytes (``hashlib``), so they do not depend on
the device, the batch size or the process; tensors on a GPU are copied to the CPU one at a time to
be hashed. Each digest is computed once per call, when first needed; a Dataset's items are hashed
as the first pass loads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ExtractionError
from ..identity import _BLOCK, feed_values
from ._common import feed_text as _text
from ._common import stored_index, torch_module
from .attrs import feed_value, immutable, setup_digest
from .code import _Feeder, code_parts

IDENTITY_ATTR = "extraction_identity"
"""The attr of a written layer holding its identity."""

IDENTITY_VERSION = 5
"""5: the model digest covers the values the model's code reads from its modules' globals
(:func:`globals_digest`); 4: ``inputs``, the model input of every stimulus; 3: the model digest covers the model's state, code (:mod:`~neuroxr.extract.code`), plain attributes,
hooks' flags and packages (:mod:`~neuroxr.extract.attrs`); 2: its state and code; 1: its state only."""

UNCOVERED = {
    1: "the model's code (classes, forward, hooks)",
    2: "the model's plain attributes (a self.scale read by forward), its hooks' flags (with_kwargs, always_call) "
       "or the packages its code comes from",
    3: "the model input of every stimulus (it hashed the first stimuli's only: a transform changed for some stimuli "
       "went unseen)",
    4: "the values the model's code reads from its module's globals (a SCALE set from the environment when the "
       "file ran, or by a notebook after its import)",
}
"""What the model digest of each older identity version does not cover."""

KEYS = {
    "model": "the model differs (other weights, buffers, modules, code, attributes, global values, hook flags or "
             "packages under the same model name)",
    "preprocessing": "the preprocessing differs (it makes other model input of the first stimuli, or it is another "
                     "revision of the default transform)",
    "stimuli": "the stimuli's contents differ (same ids, other pixels, values or texts)",
    "inputs": "the preprocessing makes other model input of some stimuli (the first ones alone cannot tell)",
}
"""The digests of an identity and what a difference in each means."""

GIVEN = {"files": "image files", "text": "texts", "array": "an array", "loaded": "a Dataset"}
"""How the stimuli were given (the ``stimuli_given`` of an identity): what their digest hashes, the
files' bytes, the texts, the array's values or a Dataset's items as loaded."""



def tensor_bytes(t: Any) -> np.ndarray:
    """The bytes of a torch tensor's values (row-major, on the CPU) as a flat ``uint8`` array."""
    torch = torch_module()
    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_quantized:
        t = t.dequantize()
    t = t.resolve_conj().resolve_neg().to("cpu").contiguous().reshape(-1)
    return t.view(torch.uint8).numpy()


def _update_array(h: Any, data: Any) -> None:
    """Feed a numpy array or a torch tensor (dtype, shape, then its values in blocks of rows) to ``h``."""
    torch = torch_module()
    _text(h, f"{str(data.dtype).replace('torch.', '')} {tuple(data.shape)}")  # a tensor and its numpy twin alike
    if len(data.shape) == 0:
        data = data.reshape(1)
    if not isinstance(data, torch.Tensor) and not data.dtype.hasobject:
        feed_values(h, data)
        return
    itemsize = data.element_size() if isinstance(data, torch.Tensor) else data.dtype.itemsize
    row = max(1, int(np.prod(data.shape[1:])) * itemsize)
    step = max(1, _BLOCK // row)
    for i in range(0, int(data.shape[0]), step):
        block = data[i : i + step]
        if isinstance(block, torch.Tensor):
            h.update(tensor_bytes(block))
        else:  # an object array
            _text(h, repr(block.tolist()))


def state_digest(model: Any) -> str:
    """SHA-256 of a torch module's state: its module tree (names, classes, ``extra_repr``) and every
    parameter and buffer (name, dtype, shape, values); the model digest of identity version 1."""
    h = hashlib.sha256()
    for name, m in model.named_modules():
        try:
            extra = m.extra_repr()
        except Exception:  # a module whose extra_repr fails: its class and tensors still count
            extra = "?"
        _text(h, f"module {name} {type(m).__module__}.{type(m).__qualname__}({extra})")
    for kind, items in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in items:
            _text(h, f"{kind} {name} {t.dtype} {tuple(t.shape)}")
            h.update(tensor_bytes(t))
    return h.hexdigest()


class ModelDigests:
    """The parts of a torch module's digest, each computed when first needed, and the model digest
    of each identity version made of them (:meth:`model`)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._parts: dict[str, str] = {}
        self._modules: dict[str, set[str]] = {}
        self._globals: dict[str, Any] = {}
        self._rebound: set[str] = set()

    def __getitem__(self, part: str) -> str:
        """``"state"`` (:func:`state_digest`), ``"code"`` (:func:`~neuroxr.extract.code.code_digest`),
        ``"setup"`` (:func:`~neuroxr.extract.attrs.setup_digest`) or ``"globals"`` (:func:`globals_digest`)."""
        if part not in self._parts:
            if part == "state":
                self._parts[part] = state_digest(self._model)
            elif part in ("code", "setup", "globals"):
                if "code" not in self._parts:  # the code digest notes the modules and globals its code reads
                    self._parts["code"], self._modules, self._globals, self._rebound = code_parts(self._model)
                if part != "code" and "setup" not in self._parts:  # and so do the attributes' functions
                    self._parts["setup"] = setup_digest(self._model, self._modules, self._globals, self._rebound)
                if part == "globals":  # but those some covered function assigns: state, not a setting
                    self._parts[part] = globals_digest({k: v for k, v in self._globals.items() if k not in self._rebound})
            else:
                raise KeyError(part)
        return self._parts[part]

    def model(self, version: int = IDENTITY_VERSION) -> str:
        """The model digest of identity ``version`` (1 to 5)."""
        if version == 1:
            return self["state"]
        h = hashlib.sha256()
        _text(h, f"state {self['state']}")
        _text(h, f"code {self['code']}")
        if version >= 3:
            _text(h, f"setup {self['setup']}")
        if version >= 5:
            _text(h, f"globals {self['globals']}")
        return h.hexdigest()


def globals_digest(values: Mapping[str, Any]) -> str:
    """SHA-256 of the values the model's code reads from its modules' globals (``"module.name"``:
    value, :func:`~neuroxr.extract.code.code_parts`), by name: an immutable value (``None``, bools,
    numbers, strings, bytes, numpy scalars, enum members, torch dtypes and devices, tuples and
    frozensets of those: :func:`~neuroxr.extract.attrs.immutable`) by its contents, a numpy array or
    a torch tensor by its dtype, shape and values, any other (a list, a dict, an object: often a
    cache or a log the code fills) by its class."""
    torch = torch_module()
    f = _Feeder()
    for name in sorted(values):
        v = values[name]
        f.text(f"global {name}")
        if isinstance(v, torch.Tensor) or (isinstance(v, np.ndarray) and not v.dtype.hasobject):
            _update_array(f.h, v)
        else:
            feed_value(f, v, immutable)
    return f.h.hexdigest()


def model_digest(model: Any, version: int = IDENTITY_VERSION) -> str:
    """SHA-256 of a torch module as identity ``version`` records it: its state
    (:func:`state_digest`), from version 2 the code it runs (:func:`~neuroxr.extract.code.code_digest`),
    from version 3 its plain attributes, hooks' flags and packages (:mod:`~neuroxr.extract.attrs`)."""
    return ModelDigests(model).model(version)


class BatchDigest:
    """A digest of batches of model input (tensors, or dicts of tensors), fed in stimulus order.

    The same stimuli give the same digest whatever the batch size: each input key is hashed on
    its own, rows after rows.
    """

    def __init__(self) -> None:
        self._parts: dict[str, Any] = {}
        self.rows = 0

    def update(self, batch: Any) -> None:
        """Feed the next batch."""
        torch = torch_module()
        items = sorted(batch.items()) if isinstance(batch, Mapping) else [("", batch)]
        n = None
        for key, value in items:
            h = self._parts.get(key)
            if h is None:
                h = self._parts[key] = hashlib.sha256()
                if isinstance(value, torch.Tensor):
                    _text(h, f"{value.dtype} {tuple(value.shape[1:])}")
            if isinstance(value, torch.Tensor):
                h.update(tensor_bytes(value))
                n = int(value.shape[0]) if n is None and value.ndim else n
            else:
                _text(h, repr(value))
        self.rows += n or 0

    def hexdigest(self) -> str:
        """The digest of everything fed so far."""
        h = hashlib.sha256()
        _text(h, f"rows {self.rows}")
        for key in sorted(self._parts):
            _text(h, key)
            h.update(self._parts[key].digest())
        return h.hexdigest()


def _given(stim: Any) -> str:
    """How the stimuli were given, as their digest hashes them (a key of :data:`GIVEN`)."""
    if stim.source is None:  # a Dataset (or stimuli given without their source)
        return "loaded"
    return "files" if stim.kind == "folder" else stim.kind


def _stimuli_digest(stim: Any, loaded: BatchDigest | None, batch_size: int) -> str:
    """SHA-256 of the stimuli's contents (see the module docstring)."""
    h = hashlib.sha256()
    kind = _given(stim)
    _text(h, f"{kind} {stim.n}")
    if kind == "files":
        for path in stim.source:
            try:
                one = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        one.update(block)
                _text(h, one.hexdigest())
            except OSError as exc:
                raise ExtractionError(
                    f"image file {str(path)!r} cannot be read ({exc.strerror or exc}); replace or remove it."
                ) from None
    elif kind == "text":
        for text in stim.source:
            _text(h, text)
    elif kind == "array":
        _update_array(h, stim.source)
    else:  # a Dataset: its items as loaded (and preprocessed)
        _text(h, (loaded or _every_input(stim, batch_size)).hexdigest())
    return h.hexdigest()


def _every_input(stim: Any, batch_size: int) -> BatchDigest:
    """The model input of every stimulus, loaded ``batch_size`` at a time outside a pass, digested."""
    loaded = BatchDigest()
    for i in range(0, stim.n, batch_size):
        loaded.update(stim.load(np.arange(i, min(i + batch_size, stim.n))))
    return loaded


class Identity:
    """The identity of one extraction (model, preprocessing, stimuli), each digest computed when first needed.

    Parameters
    ----------
    model : torch.nn.Module
    stim : Stimuli
    batch_size : int
        Stimuli loaded at a time when a Dataset's items have to be hashed outside a pass.
    preprocessing_tag : str, optional
        A text the preprocessing digest adds to the model input it hashes: the revision of neuroxr's
        own default transform (:func:`~neuroxr.extract.preprocess.identity_tag`), so that a layer that
        an earlier revision made, which the first stimuli cannot always tell apart, is not skipped.
    """

    def __init__(self, model: Any, stim: Any, batch_size: int, preprocessing_tag: str | None = None) -> None:
        self._model = ModelDigests(model)
        self._stim = stim
        self._batch_size = int(batch_size)
        self._tag = preprocessing_tag
        self._digests: dict[str, str] = {}
        self._loaded: BatchDigest | None = None  # every stimulus's model input, when loaded outside a pass

    def __getitem__(self, key: str) -> str:
        if key not in self._digests:
            if key == "model":
                self._digests[key] = self._model.model()
            elif key == "preprocessing":
                first = BatchDigest()
                first.update(self._stim.load(np.arange(min(2, self._stim.n))))
                digest = first.hexdigest()
                if self._tag is not None:  # without a tag: the digest of identity versions 1-3, unchanged
                    h = hashlib.sha256()
                    _text(h, self._tag)
                    _text(h, digest)
                    digest = h.hexdigest()
                self._digests[key] = digest
            elif key == "stimuli":  # a Dataset's: its items as loaded, the same load as "inputs"
                self._digests[key] = _stimuli_digest(self._stim, self._every_input() if self._stim.source is None else None,
                                                     self._batch_size)
            elif key == "inputs":  # outside a pass: every stimulus preprocessed (no model)
                self._digests[key] = self._every_input().hexdigest()
            else:
                raise KeyError(key)
        return self._digests[key]

    def _every_input(self) -> BatchDigest:
        if self._loaded is None:
            self._loaded = _every_input(self._stim, self._batch_size)
        return self._loaded

    def feeder(self) -> BatchDigest | None:
        """A digest for a full pass to feed with its loaded batches, when a digest made of them (the
        model input of every stimulus; a Dataset's stimuli) is not known yet; ``None`` otherwise."""
        if "inputs" in self._digests and ("stimuli" in self._digests or self._stim.source is not None):
            return None
        return BatchDigest()

    def fed(self, loaded: BatchDigest) -> None:
        """Take the digests made of a :meth:`feeder` fed with every stimulus, in order."""
        if loaded.rows == self._stim.n:
            self._digests.setdefault("inputs", loaded.hexdigest())
            if self._stim.source is None and "stimuli" not in self._digests:
                self._digests["stimuli"] = _stimuli_digest(self._stim, loaded, self._batch_size)

    def record(self) -> dict[str, Any]:
        """The ``extraction_identity`` attr of a layer written by this extraction."""
        return {"version": IDENTITY_VERSION, "hash": "sha256", **{key: self[key] for key in KEYS},
                "stimuli_given": _given(self._stim)}

    def differences(self, stored: Any) -> list[str] | None:
        """What differs between a stored ``extraction_identity`` and this extraction (empty: the
        same); ``None`` when ``stored`` is missing or of a version this neuroxr does not know.

        An identity of an older version (:data:`UNCOVERED`) is compared on what it covers: its model
        digest with this model's digest of that version (:meth:`ModelDigests.model`), the
        preprocessing and the stimuli; then an empty list does not make the layer the same
        (:func:`uncovered`). The preprocessing digest is made of the first stimuli's model input,
        so it differs whenever they do: with other stimuli, only the stimuli are named."""
        if not isinstance(stored, Mapping) or stored.get("hash") != "sha256":
            return None
        version = _version(stored)
        if version is None:
            return None
        differ = [key for key in KEYS if (key in stored or version == IDENTITY_VERSION)  # an older one: what it has
                  and stored.get(key) != (self._model.model(version) if key == "model" else self[key])]
        said = [KEYS[key] for key in _said(differ)]
        was, now = stored.get("stimuli_given"), _given(self._stim)
        if "stimuli" in differ and was in GIVEN and was != now:  # the same contents given another way hash otherwise
            said[said.index(KEYS["stimuli"])] = (
                f"its stimuli were given as {GIVEN[was]} and are now given as {GIVEN[now]}, whose contents are hashed "
                f"otherwise, so they cannot be checked to be the same: give them as {GIVEN[was]} again")
        return said


def _said(differ: list[str]) -> list[str]:
    """The differing digests (:data:`KEYS`) worth naming: other stimuli make other input, so with them
    only the stimuli; other preprocessing makes other input too, so with it not the inputs."""
    if "stimuli" in differ:
        return [key for key in differ if key not in ("preprocessing", "inputs")]
    return [key for key in differ if key != "inputs" or "preprocessing" not in differ]


def uncovered(stored: Any) -> str | None:
    """What of the model a stored ``extraction_identity`` of an older version does not cover
    (:data:`UNCOVERED`), ``None`` for the current version. A layer whose identity does not cover
    everything is never skipped: what it was extracted with cannot be checked."""
    if isinstance(stored, Mapping) and stored.get("version") == IDENTITY_VERSION:
        return None
    return UNCOVERED.get(_version(stored)) if isinstance(stored, Mapping) else None  # type: ignore[arg-type]


def _version(stored: Mapping[str, Any]) -> int | None:
    """The version of a stored identity when this neuroxr knows it (:data:`IDENTITY_VERSION` or a key of
    :data:`UNCOVERED`), else ``None``: one written otherwise (a list, a text, ``true``) is of no known version."""
    version = stored.get("version")
    return version if type(version) is int and (version == IDENTITY_VERSION or version in UNCOVERED) else None


def mixed_extraction_problem(model: str, identities: Mapping[str, Any]) -> str | None:
    """One line when the layers of ``model`` (``{layer: its stored extraction_identity}``) record
    different extractions: digests of one version that differ between layers (two overwrites at
    once, an interrupted overwrite, layers added later from other weights or stimuli); ``None`` when
    they agree. Layers without an identity, or of another version than the others', are not compared."""
    by_version: dict[Any, dict[str, Mapping[str, Any]]] = {}
    for layer, stored in identities.items():
        if isinstance(stored, Mapping) and stored.get("hash") == "sha256":
            by_version.setdefault(repr(stored.get("version")), {})[layer] = stored  # any JSON value, never a crash
    for layers in by_version.values():
        differ = _said([key for key in KEYS if len({str(s.get(key)) for s in layers.values()}) > 1])
        if differ:
            key = differ[0]
            groups: dict[str, list[str]] = {}
            for layer, s in layers.items():
                groups.setdefault(str(s.get(key)), []).append(layer)
            shown = "; ".join(f"layers {', '.join(sorted(g))}" for g in sorted(groups.values(), key=lambda g: sorted(g)))
            return (f"features/{model}: its layers record different extractions: {' and '.join(KEYS[k] for k in differ)} "
                    f"between {shown}; a sweep, best_layers or a layer profile would compare them as one network's layers. "
                    f"Extract the model again whole with overwrite=True (neuroxr extract --overwrite), or each extraction "
                    f"under its own model_name (--model-name).")
    return None


def check_one_network(store: Any, model_name: str, planned: Any, identity: Identity, read: dict[str, Any] | None = None) -> None:
    """Refuse to add layers to ``model_name`` when its stored layers are of another network: the first
    complete, intact stored layer not in ``planned`` (layer names) that records an identity of a
    known version and differs from this extraction in the model or the preprocessing (one line:
    extract under another model_name, or the model again whole). A layer of an older version
    (:data:`UNCOVERED`) is compared on what it covers (:meth:`Identity.differences`: this model's
    digest of that version), so a difference found is one, as a re-run's check has it. Layers of other
    stimuli are allowed (validate notes them: :func:`layer_identities`); a damaged layer, or one
    without an identity of a known version, is not compared."""
    from ..errors import StoreError

    for layer in store.layers(model_name):
        if layer in planned:
            continue
        path = f"features/{model_name}/{layer}"
        try:
            recorded = stored_index(store, path, read).attrs.get(IDENTITY_ATTR)
        except StoreError:
            continue
        if not isinstance(recorded, Mapping) or recorded.get("hash") != "sha256" or _version(recorded) is None:
            continue
        differ = [d for d in identity.differences(recorded) or () if d in (KEYS["model"], KEYS["preprocessing"])]
        if differ:
            raise ExtractionError(
                f"store {store.url!r}: model {model_name!r} holds layers of another extraction (layer {path!r}: "
                f"{'; '.join(differ)}); this one's layers would mix two under one model name. Extract under another "
                f"model_name (--model-name), or extract the model again whole (every layer) with overwrite=True "
                f"(neuroxr extract --overwrite)."
            )
        return


def check_stored_names(store: Any, model_name: str, planned: Any, read: dict[str, Any] | None = None) -> None:
    """Refuse to store a module under its layer name while a stored layer of ``model_name`` not rewritten
    here holds that module under another name (written by an earlier neuroxr, which named layers per
    run from the selection: module ``_fc`` as ``fc`` when extracted alone): the store would hold the
    module twice and its old name would go on naming it, never the module of that name. ``planned``:
    the plan's :class:`~neuroxr.extract.plan.LayerPlan` objects."""
    from ..errors import StoreError

    by_module = {lp.module_name: lp.name for lp in planned}
    names = set(by_module.values())
    for layer in store.layers(model_name):
        if layer in names:  # rewritten by this extraction (overwrite), or refused by its own check
            continue
        try:
            module = stored_index(store, f"features/{model_name}/{layer}", read).attrs.get("module_name")
        except StoreError:
            continue
        now = by_module.get(module)
        if now is not None and now != layer:
            raise ExtractionError(
                f"store {store.url!r}: layer 'features/{model_name}/{layer}' holds module {module!r}, which this "
                f"extraction stores as layer {now!r} (an earlier neuroxr named layers by the selection); the store would "
                f"hold it twice, and {layer!r} would go on naming it. Extract the model again whole (every layer) with "
                f"overwrite=True (neuroxr extract --overwrite), or delete layer {layer!r} first."
            )


def layer_identities(store: Any, model: str, attrs: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str | None]:
    """The recorded extraction identities of the layers of ``model`` and the one line saying that they
    record different extractions (:func:`mixed_extraction_problem`; ``None``: they agree): what
    :func:`~neuroxr.schemas.validate_store`, ``neuroxr info`` and an extraction's overwrite
    (:func:`warn_mixed`) each say of a model, gathered in one place.

    A layer is compared when it is complete and intact, as :meth:`~neuroxr.StudyStore.read_set_index`
    (which a re-run's check reads, :func:`check_one_network`) has it: an unfinished layer is not
    one of the model's (no sweep reads it), and a damaged one (lost arrays or chunks, attrs edited
    after the write) holds an identity that cannot be trusted and numbers no sweep can read; both are
    named as such (validate_store, neuroxr info). A layer without an identity (written by
    :meth:`~neuroxr.StudyStore.write_features`: a relative layer, one from an older neuroxr) is not compared.

    Parameters
    ----------
    store : StudyStore
    model : str
    attrs : dict, optional
        ``{layer: its attrs}`` of the layers as the caller read them, ``None`` for a layer that is not
        complete and intact: those layers only, nothing read. ``None``: the complete layers of
        ``model`` (:meth:`~neuroxr.StudyStore.layers`), each from its metadata document and one
        listing of its keys (:meth:`~neuroxr.StudyStore.examine`), no array read.

    Returns
    -------
    (dict, str or None)
        ``{layer: its recorded identity}`` (``None`` for a layer not compared or without one) and the problem.
    """
    from ..errors import StoreError

    if attrs is None:
        attrs = {}
        for layer in store.layers(model):
            try:
                found = store.examine(f"features/{model}/{layer}")
                attrs[layer] = found.attrs if found.attrs is not None and found.problem is None else None
            except StoreError:
                attrs[layer] = None
    identities = {layer: (a.get(IDENTITY_ATTR) if isinstance(a, Mapping) else None) for layer, a in attrs.items()}
    return identities, mixed_extraction_problem(model, identities)


def warn_mixed(store: Any, model_name: str) -> None:
    """One :class:`~neuroxr.errors.NeuroxrWarning` when the layers of ``model_name`` in ``store`` record
    different extractions (:func:`layer_identities`): what an overwrite of some layers from another
    network or preprocessing leaves. A layer that is not complete and intact is not compared."""
    from ..errors import warn

    if (note := layer_identities(store, model_name)[1]) is not None:
        warn(note)
