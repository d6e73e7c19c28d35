"""Token pooling of outputs shaped ``(batch, tokens, dim)``: which pooling a request means
(:func:`resolve_pooling`), the pooling itself (:func:`pool_tokens`: mask-aware for texts) and its
revision (:data:`POOLING_REVISION`, compared when a stored layer is reused: :func:`pooling_problem`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ExtractionError, shown
from ._common import torch_module
from .stimuli import Stimuli

POOLING = ("mean", "cls", "last")
"""Token pooling options for outputs shaped ``(batch, tokens, dim)``."""

POOLING_REVISION = 2
"""The revision of :func:`pool_tokens`, recorded in a pooled layer's attrs ``pooling_revision``: 2 sums
the masked mean of float16 and bfloat16 outputs in float32; 1 (not recorded) summed them in their own
dtype (a sum past 65504 overflowed float16, and bfloat16 kept 8 bits of it). Other outputs and the
other poolings are the same under both, bit for bit (:func:`pooling_problem`)."""


def pooling_problem(attrs: Mapping[str, Any]) -> str | None:
    """Why a stored layer of half-precision outputs (its ``attrs``) holds other values than this
    neuroxr's pooling writes, or ``None``: a masked mean (texts) pooled by revision 1."""
    revision = attrs.get("pooling_revision", 1)
    if attrs.get("pooling") == "mean" and attrs.get("stimuli") == "text" and revision != POOLING_REVISION:
        return (f"its mean pooling is of revision {revision}, this neuroxr's is {POOLING_REVISION} (the tokens of "
                f"half-precision outputs are summed in float32; revision 1 summed them in their own dtype)")
    return None


def pool_tokens(t: Any, how: str, mask: Any = None) -> Any:
    """Pool ``t`` ``(batch, tokens, dim)`` over tokens by ``how`` -> ``(batch, dim)``.

    ``"mean"``: mean over the tokens where ``mask`` is 1 (all tokens without a mask), summed in
    float32 for half-precision outputs (:data:`POOLING_REVISION`) and returned in their dtype;
    ``"cls"``: the first token; ``"last"``: the last token where ``mask`` is 1.

    Raises
    ------
    ValueError
        ``mask`` does not have one entry per token of ``t`` (a layer that adds or drops tokens): its
        texts' tokens could not be told from padding. The caller names the layer.
    """
    torch = torch_module()
    if mask is not None and how != "cls" and (mask.ndim != 2 or tuple(mask.shape) != tuple(t.shape[:2])):
        raise ValueError(f"its outputs have {t.shape[1]} tokens per stimulus, the texts' attention mask "
                         f"{mask.shape[-1]}, so its {how!r} pooling cannot tell the texts' tokens from padding")
    if how == "cls":
        return t[:, 0]
    if how == "last":
        if mask is None:
            return t[:, -1]
        last = (mask.to(torch.long).cumsum(1).argmax(1)).to(t.device)
        return t[torch.arange(t.shape[0], device=t.device), last]
    if mask is None:
        return t.mean(dim=1)
    wide = t.to(torch.float32) if t.dtype in (torch.float16, torch.bfloat16) else t  # no overflow past 65504
    m = mask.to(device=t.device, dtype=wide.dtype).unsqueeze(-1)
    return ((wide * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)).to(t.dtype)


def resolve_pooling(pooling: str | None, stim: Stimuli) -> str | None:
    """The token pooling to apply: ``"auto"`` is ``"mean"`` for texts and none for other stimuli."""
    if pooling in (None, "none"):
        return None
    if pooling == "auto":
        return "mean" if stim.kind == "text" else None
    if pooling not in POOLING:
        raise ExtractionError(f"pooling must be 'auto', None, 'mean', 'cls' or 'last'; got {shown(pooling)}.")
    return pooling
