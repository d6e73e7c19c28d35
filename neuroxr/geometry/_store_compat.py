"""TRANSITIONAL: the store-level Gram cache and loops that used to live in ``neuroxr.geometry``.

The geometry compute modules never touch a study store; these three functions move to
``neuroxr.entries`` (store-level Gram caching and loops). They stay reachable as
``neuroxr.geometry.cached_gram`` / ``store_cka`` / ``store_dimensionality`` (not in ``__all__``)
only so that modules not yet repointed keep importing; delete this file and the lazy lookup in
``neuroxr/geometry/__init__.py`` once ``neuroxr.entries`` provides them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..kernels import gram as _g
from .gram import gram
from .rdm import _align_rdm

GRAM_PATH = "cache/gram/{model}/{layer}"


def cached_gram(store: Any, model: str, layer: str, recompute: bool = False, **kwargs: Any) -> xr.Dataset:
    """The Gram of ``(model, layer)`` from the store's cache ``cache/gram/<model>/<layer>``, computed if absent."""
    path = GRAM_PATH.format(model=model, layer=layer)
    if not recompute and store.is_complete(path):
        return store.read_dataset(path).load()
    ds = gram(store.read_features(model, layer), **kwargs)
    ds.attrs.update({"model": str(model), "layer": str(layer)})
    if store.mode != "r":
        store.write_dataset(path, ds)
    return ds


def _store_layers(store: Any, models: Sequence[str] | None) -> list[tuple[str, str]]:
    models = list(store.models()) if models is None else list(models)
    return [(m, layer) for m in models for layer in store.layers(m)]


def store_dimensionality(store: Any, models: Sequence[str] | None = None, **gram_kwargs: Any) -> xr.Dataset:
    """Effective dimensionality of every (model, layer) of a study store, from the cached Grams."""
    pairs = _store_layers(store, models)
    ed, nu, ns = [], [], []
    for m, layer in pairs:
        g = cached_gram(store, m, layer, **gram_kwargs)
        ed.append(_g.effective_dimensionality(np.asarray(g["K"].values)))
        nu.append(int(g.attrs["n_units"]))
        ns.append(int(g.sizes["stimulus"]))
    coords = {"network": [f"{m}/{layer}" for m, layer in pairs], "model": ("network", [m for m, _ in pairs]),
              "layer": ("network", [layer for _, layer in pairs])}
    return xr.Dataset(
        {"effective_dimensionality": ("network", np.asarray(ed, dtype=float)), "n_units": ("network", np.asarray(nu)),
         "n_stimuli": ("network", np.asarray(ns))},
        coords=coords,
        attrs={"definition": "(sum lambda)^2 / sum lambda^2 of the feature covariance eigenvalues"},
    )


def store_cka(store: Any, models: Sequence[str] | None = None, debiased: bool = False, **gram_kwargs: Any) -> xr.Dataset:
    """Linear CKA between every pair of (model, layer) in a study store, from the cached Grams."""
    pairs = _store_layers(store, models)
    grams = [cached_gram(store, m, layer, **gram_kwargs) for m, layer in pairs]
    ref = grams[0]["K"] if grams else None
    Ks = [np.asarray(ref.values) if i == 0 else np.asarray(_align_rdm(ref, g["K"], ("first layer", "layer")).values)
          for i, g in enumerate(grams)]
    m = len(Ks)
    C = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            C[i, j] = C[j, i] = _g.linear_cka(Ks[i], Ks[j], debiased=debiased)
    names = [f"{a}/{b}" for a, b in pairs]
    return xr.Dataset(
        {"cka": (("network", "network_"), C)},
        coords={
            "network": names, "network_": names,
            "model": ("network", [a for a, _ in pairs]), "layer": ("network", [b for _, b in pairs]),
            "model_": ("network_", [a for a, _ in pairs]), "layer_": ("network_", [b for _, b in pairs]),
        },
        attrs={"debiased": int(debiased), "reference": "Kornblith et al. 2019"},
    )
