"""Predictivity: the four directions (forward, reverse, inter-animal, model-to-model) and the
split-half reliability of neural data. Labeled in, labeled out; no store access.

=============  ==========================  =====================================================
direction      design -> targets           EV per target and rep
=============  ==========================  =====================================================
forward        F -> mean(R)                (r / sqrt(SB(rho_s(h1,h2)) * SB(r(P1,P2))))^2 * 100
reverse        mean(R) -> F                (r / sqrt(SB(r(P1,P2))))^2 * 100
inter_animal   mean(RA) -> mean(RB)        (r / sqrt(SB(rho_s(Bh1,Bh2)) * SB(r(P1,P2))))^2 * 100
model_to_model F_A -> F_B                  r^2 * 100
=============  ==========================  =====================================================

Definitions as in ``reverse_pred`` (Muzellec & Kar 2025). Stimuli are paired by ``stimulus_id``
and put in the canonical order (sorted ids, :func:`neuroxr.alignment.canonical_order`) before any
fold or split half is drawn, so the numbers do not depend on the inputs' stimulus order.
"""

from __future__ import annotations

from .brainscore import brainscore, brainscore_ceiling, brainscore_splits
from .forward import forward
from .generalization import temporal_generalization
from .model_to_model import model_to_model
from .reliability import split_half_reliability
from .reverse import inter_animal, reverse

__all__ = [
    "DIRECTIONS",
    "forward",
    "reverse",
    "inter_animal",
    "model_to_model",
    "split_half_reliability",
    "brainscore",
    "brainscore_ceiling",
    "brainscore_splits",
    "temporal_generalization",
]

DIRECTIONS = ("forward", "reverse", "inter_animal", "model_to_model")

from . import inference  # noqa: E402  (bootstrap, permutation_test, compare, best_layer)

__all__ += ["inference"]
