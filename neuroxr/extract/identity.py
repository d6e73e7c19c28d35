"""What a feature set was extracted from: content digests of the model, the preprocessing and the stimuli.

Every layer :func:`~neuroxr.extract.extract_features` writes records in its attrs ``extraction_identity``::

    {"version": 2, "hash": "sha256",
     "model": "<hex>",          # the module tree (names, classes, extra_repr), every parameter and
                                # buffer (name, dtype, shape, bytes), and the code it runs: its
                                # classes, instance forwards and forward hooks (code.py)
     "preprocessing": "<hex>",  # the model input the preprocessing makes of the first (up to 2) stimuli
     "stimuli": "<hex>"}        # the stimuli's contents: image files' bytes, array values, texts;
                                # a torch Dataset's items as loaded

A re-run compares them with this extraction's before it skips a complete layer
(:func:`~neuroxr.extract.plan.check_compatible`): other weights under the same model name, another
transform, other ``forward`` code, or other pixels under the same stimulus ids are refused, never
skipped. A layer recorded with version 1 (whose model digest did not cover the code) is compared on
what it covers, and then refused all the same, as its code cannot be checked. Digests are
SHA-256 over the raw bytes (``hashlib``), so they do not depend on the device, the batch size or
the process; tensors on a GPU are copied to the CPU one at a time to be hashed. Each digest is
computed once per call, when first needed; a Dataset's items are hashed as the first pass loads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ExtractionError
from ..identity import _BLOCK, feed_values
from ._common import feed_text as _text
from ._common import torch_module
from .code import code_digest

IDENTITY_ATTR = "extraction_identity"
"""The attr of a written layer holding its identity."""

IDENTITY_VERSION = 2
"""2: the model digest covers the model's code (:mod:`~neuroxr.extract.code`); 1: its state only."""

KEYS = {
    "model": "the model differs (other weights, buffers, modules or code under the same model name)",
    "preprocessing": "the preprocessing differs (it makes other model input of the first stimuli)",
    "stimuli": "the stimuli's contents differ (same ids, other pixels, values or texts)",
}
"""The digests of an identity and what a difference in each means."""



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


def _combine(state: str, code: str) -> str:
    h = hashlib.sha256()
    _text(h, f"state {state}")
    _text(h, f"code {code}")
    return h.hexdigest()


def model_digest(model: Any) -> str:
    """SHA-256 of a torch module: its state (:func:`state_digest`) and the code it runs
    (:func:`~neuroxr.extract.code.code_digest`)."""
    return _combine(state_digest(model), code_digest(model))


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


def _stimuli_digest(stim: Any, loaded: BatchDigest | None, batch_size: int) -> str:
    """SHA-256 of the stimuli's contents (see the module docstring)."""
    h = hashlib.sha256()
    kind = "files" if stim.kind == "folder" else stim.kind
    if stim.source is None:  # a Dataset (or stimuli given without their source)
        kind = "loaded"
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
        if loaded is None:
            loaded = BatchDigest()
            for i in range(0, stim.n, batch_size):
                loaded.update(stim.load(np.arange(i, min(i + batch_size, stim.n))))
        _text(h, loaded.hexdigest())
    return h.hexdigest()


class Identity:
    """The identity of one extraction (model, preprocessing, stimuli), each digest computed when first needed.

    Parameters
    ----------
    model : torch.nn.Module
    stim : Stimuli
    batch_size : int
        Stimuli loaded at a time when a Dataset's items have to be hashed outside a pass.
    """

    def __init__(self, model: Any, stim: Any, batch_size: int) -> None:
        self._model = model
        self._stim = stim
        self._batch_size = int(batch_size)
        self._digests: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        if key not in self._digests:
            if key == "model":
                self._digests[key] = _combine(self["state"], code_digest(self._model))
            elif key == "state":  # the model digest of identity version 1
                self._digests[key] = state_digest(self._model)
            elif key == "preprocessing":
                first = BatchDigest()
                first.update(self._stim.load(np.arange(min(2, self._stim.n))))
                self._digests[key] = first.hexdigest()
            elif key == "stimuli":
                self._digests[key] = _stimuli_digest(self._stim, None, self._batch_size)
            else:
                raise KeyError(key)
        return self._digests[key]

    def feeder(self) -> BatchDigest | None:
        """A digest for a full pass to feed with its loaded batches, when the stimuli's digest is
        made of them (a Dataset) and not known yet; ``None`` otherwise."""
        if "stimuli" in self._digests or self._stim.source is not None:
            return None
        return BatchDigest()

    def fed(self, loaded: BatchDigest) -> None:
        """Take the stimuli's digest from a :meth:`feeder` fed with every stimulus, in order."""
        if loaded.rows == self._stim.n:
            self._digests["stimuli"] = _stimuli_digest(self._stim, loaded, self._batch_size)

    def record(self) -> dict[str, Any]:
        """The ``extraction_identity`` attr of a layer written by this extraction."""
        return {"version": IDENTITY_VERSION, "hash": "sha256", **{key: self[key] for key in KEYS}}

    def differences(self, stored: Any) -> list[str] | None:
        """What differs between a stored ``extraction_identity`` and this extraction (empty: the
        same); ``None`` when ``stored`` is missing or of a version this neuroxr does not know.

        An identity of version 1 (before the model digest covered the code) is compared on what it
        covers: its model digest with this model's state (:func:`state_digest`), the preprocessing
        and the stimuli; then an empty list does not make the layer the same
        (:func:`covers_code`). The preprocessing digest is made of the first stimuli's model input,
        so it differs whenever they do: with other stimuli, only the stimuli are named."""
        if not isinstance(stored, Mapping) or stored.get("hash") != "sha256":
            return None
        version = stored.get("version")
        if version == IDENTITY_VERSION:
            differ = [key for key in KEYS if stored.get(key) != self[key]]
        elif version == 1:
            differ = [key for key in KEYS if stored.get(key) != self["state" if key == "model" else key]]
        else:
            return None
        if "stimuli" in differ and "preprocessing" in differ:  # other stimuli make other input: say only that
            differ.remove("preprocessing")
        return [KEYS[key] for key in differ]


def covers_code(stored: Any) -> bool:
    """Whether a stored ``extraction_identity`` covers the model's code (version 2 on); a layer whose
    identity does not is never skipped: the code it was extracted with cannot be checked."""
    return isinstance(stored, Mapping) and stored.get("version") == IDENTITY_VERSION
