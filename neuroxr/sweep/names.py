"""The one place a sweep builds set names (to be replaced by :mod:`neuroxr.sets` refs).

A feature set is ``<model>.<layer>``; a neural set is ``<neural>``, or ``<neural>.<region>`` for the
neuroids of one region (the region ``"all"`` is the whole set).
"""

from __future__ import annotations

#: The region label of a whole neural set (no region subset).
ALL_REGIONS = "all"


def layer_name(model: str, layer: str) -> str:
    """Store name of a layer's feature set: ``"<model>.<layer>"``."""
    return f"{model}.{layer}"


def subset_name(neural: str, region: str) -> str:
    """Store name of a neural set or of its region subset: ``"<neural>"`` or ``"<neural>.<region>"``."""
    return neural if region == ALL_REGIONS else f"{neural}.{region}"
