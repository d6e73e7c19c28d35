"""The one place a sweep builds set names and references, through :mod:`neuroxr.sets`.

A feature set is ``<model>.<layer>``; a neural set is ``<neural>``, or ``<neural>.<region>`` for the
neuroids of one region (the region ``"all"`` is the whole set).
"""

from __future__ import annotations

from ..sets import SetRef, feature_ref, neural_ref
from ..store._zarr import WHOLE_SET

#: The region label of a whole neural set (no region subset); no value of a ``region`` coord may be it.
ALL_REGIONS = WHOLE_SET


def layer_ref(model: str, layer: str) -> SetRef:
    """The reference of a layer's feature set."""
    return feature_ref(model, layer)


def subset_ref(neural: str, region: str) -> SetRef:
    """The reference of a neural set (``region == "all"``) or of its region subset."""
    return neural_ref(neural, None if region == ALL_REGIONS else region)


def layer_name(model: str, layer: str) -> str:
    """Store name of a layer's feature set: ``"<model>.<layer>"``."""
    return layer_ref(model, layer).name


def subset_name(neural: str, region: str) -> str:
    """Store name of a neural set or of its region subset: ``"<neural>"`` or ``"<neural>.<region>"``."""
    return subset_ref(neural, region).name
