"""The cached Gram entry of a feature set (``cache/gram/<model>/<layer>/<key>``).

The Gram statistics (column-centred ``K = Fc Fc^T``, row sums ``a``, row norms ``v``, unit count,
mean and second moment; :func:`neuroxr.geometry.gram`) are all that forward predictivity with a
shared regressor, cRSA, CKA and the effective dimensionality need of a feature set. They are
computed once per feature-set version: the entry's provenance holds the feature set's version
token, so a rewritten layer never reuses a stale Gram.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from .. import geometry as _geo

__all__ = ["compute_gram"]


def compute_gram(src: Any, tgt: Any, params: Any, io: Any) -> xr.Dataset:
    """The Gram Dataset of the feature set ``src`` (read lazily, reduced over its unit chunks).

    The products run on ``io.backend`` (NumPy when ``None``) in float64.
    """
    feats = io.read(src, load=False)
    backend = io.backend if io.backend not in (None, "numpy") else None
    ds = _geo.gram(feats, backend=backend)
    ds.attrs.update({"model": str(src.model), "layer": str(src.layer)})
    return ds
