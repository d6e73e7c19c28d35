"""Whole-store tables of the feature sets, built from entries: the effective dimensionality of
every layer and the CKA matrix of every pair of layers (each value an entry of the engine, so a
re-run reads them back and a rewritten layer is recomputed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError
from ..geometry.dimensionality import _check_debiased
from ..sets import feature_ref
from ..store.study import as_store
from .engine import compute

__all__ = ["store_dimensionality", "store_cka"]


def _layers(store: Any, models: str | Sequence[str] | None, caller: str) -> list[tuple[str, str]]:
    """The (model, layer) pairs of ``models`` (one name or several; each once, in the order given), each
    model refused unless the store holds it: an unknown name (a typo, or a string read as its letters)
    would give a table without its layers, and no word."""
    held = list(store.models())
    if models is None:
        return [(m, layer) for m in held for layer in store.layers(m)]
    models = [models] if isinstance(models, str) else list(models)
    unknown = [m for m in models if not isinstance(m, str) or m not in held]
    if unknown:
        raise LayoutError(f"{caller}: models names {unknown}, which store {store.url!r} does not hold; its models are "
                          f"{held} (pass some of them, or models=None for all).")
    return [(m, layer) for m in dict.fromkeys(models) for layer in store.layers(m)]


def store_dimensionality(store: Any, models: Sequence[str] | None = None) -> xr.Dataset:
    """Effective dimensionality of every (model, layer) of a study store.

    Parameters
    ----------
    store : StudyStore or str
    models : str or sequence of str, optional
        Default: every model. A model the store lacks is refused (:class:`~neuroxr.errors.LayoutError`).

    Returns
    -------
    xarray.Dataset
        ``effective_dimensionality``, ``n_units``, ``n_stimuli`` over dim ``network``
        (``"<model>/<layer>"``, coords ``model``, ``layer``).
    """
    store = as_store(store, "a")  # scores written, never a store made
    pairs = _layers(store, models, "store_dimensionality")
    ds = [compute(store, "dimensionality", feature_ref(m, layer)).dataset for m, layer in pairs]
    return xr.Dataset(
        {"effective_dimensionality": ("network", np.asarray([float(d["score"]) for d in ds], dtype=float)),
         "n_units": ("network", np.asarray([int(d.attrs["n_units"]) for d in ds], dtype=int)),
         "n_stimuli": ("network", np.asarray([int(d.attrs["n_stimuli"]) for d in ds], dtype=int))},
        coords={"network": [f"{m}/{layer}" for m, layer in pairs], "model": ("network", [m for m, _ in pairs]),
                "layer": ("network", [layer for _, layer in pairs])},
        attrs={"definition": "(sum lambda)^2 / sum lambda^2 of the feature covariance eigenvalues"},
    )


def store_cka(store: Any, models: Sequence[str] | None = None, debiased: bool = False) -> xr.Dataset:
    """Linear CKA between every pair of (model, layer) of a study store (stimuli paired by id).

    Parameters
    ----------
    store : StudyStore or str
    models : str or sequence of str, optional
        Default: every model. A model the store lacks is refused (:class:`~neuroxr.errors.LayoutError`).
    debiased : bool, default False
        As :func:`neuroxr.geometry.cka` (a string such as ``"no"`` is refused before anything is computed).

    Returns
    -------
    xarray.Dataset
        ``cka`` (network, network_); the diagonal is each layer's CKA with itself (its own entry):
        1, or NaN where CKA is undefined (a constant layer). Coords ``model``/``layer`` and
        ``model_``/``layer_``; attrs ``debiased`` (0 / 1).
    """
    debiased = _check_debiased(debiased, "store_cka")
    store = as_store(store, "a")  # scores written, never a store made
    pairs = _layers(store, models, "store_cka")
    refs = [feature_ref(m, layer) for m, layer in pairs]
    C = np.empty((len(refs), len(refs)))
    for i in range(len(refs)):
        for j in range(i, len(refs)):
            res = compute(store, "cka", refs[i], refs[j], params={"debiased": debiased})
            C[i, j] = C[j, i] = float(res.dataset["score"])
    names = [f"{m}/{layer}" for m, layer in pairs]
    return xr.Dataset(
        {"cka": (("network", "network_"), C)},
        coords={"network": names, "network_": names,
                "model": ("network", [m for m, _ in pairs]), "layer": ("network", [layer for _, layer in pairs]),
                "model_": ("network_", [m for m, _ in pairs]), "layer_": ("network_", [layer for _, layer in pairs])},
        attrs={"debiased": int(debiased), "reference": "Kornblith et al. 2019"},
    )
