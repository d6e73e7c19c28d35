"""Compatibility module: the directions now live in :mod:`neuroxr.predictivity`.

Re-exports the public names of :mod:`neuroxr.predictivity` and the store-level :func:`score`
(from :mod:`neuroxr.entries` when that package exists).
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from .errors import LayoutError
from .predictivity import DIRECTIONS, forward, inter_animal, model_to_model, reverse, split_half_reliability

__all__ = [
    "DIRECTIONS",
    "forward",
    "reverse",
    "inter_animal",
    "model_to_model",
    "split_half_reliability",
    "score",
]



# ---------------------------------------------------------------------------- store-level scoring
def score(
    store: Any,
    direction: str,
    source: str,
    target: str,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Score one direction between two entries of a study store and write the result.

    Parameters
    ----------
    store : StudyStore or str
        The study store (or its path/URL).
    direction : {"forward", "reverse", "inter_animal", "model_to_model"}
    source, target : str
        Entry names: a neural set ``"<name>"`` or a feature set ``"<model>.<layer>"``
        (forward: features -> neural; reverse: neural -> features; inter_animal: neural -> neural;
        model_to_model: features -> features).
    overwrite : bool
        Recompute even when a complete entry exists (otherwise it is read back).
    **kwargs
        Passed to the direction function (reps, seed, regressor, ...).

    Returns
    -------
    xarray.Dataset
        The scores, as written to ``scores/<direction>/<source>__<target>``.
    """
    try:  # the entries engine, once it exists, owns store-level scoring
        from .entries import score as _entries_score
    except ImportError:
        _entries_score = None
    if _entries_score is not None:
        return _entries_score(store, direction, source, target, overwrite=overwrite, **kwargs)
    from .store import StudyStore

    if not isinstance(store, StudyStore):
        store = StudyStore(store)
    direction = direction.replace("-", "_")
    if direction not in DIRECTIONS:
        raise LayoutError(f"The 'direction' parameter must be one of {DIRECTIONS}. Got {direction!r} instead.")
    if not overwrite and store.has_scores(direction, source, target):
        return store.read_scores(direction, source, target)
    kinds = {"forward": ("features", "neural"), "reverse": ("neural", "features"),
             "inter_animal": ("neural", "neural"), "model_to_model": ("features", "features")}[direction]
    fn = {"forward": forward, "reverse": reverse, "inter_animal": inter_animal, "model_to_model": model_to_model}[direction]
    shared = kwargs.get("regressor", "ridge") in ("ridge", "linear") and kwargs.get("max_n") is None
    if direction == "forward" and shared:
        # the layer's Gram, cached in the store, is all the forward direction needs of the features
        from .geometry import cached_gram, gram_stats

        feats = _read_entry(store, "features", source, load=False)
        gram = gram_stats(cached_gram(store, *_feature_key(store, source)).load())
        ds = forward(feats, _read_entry(store, "neural", target), gram=gram, **kwargs)
    else:
        a, b = (_read_entry(store, kind, name) for kind, name in zip(kinds, (source, target)))
        ds = fn(a, b, **kwargs)
    ds.attrs.update(source=source, target=target)
    store.write_scores(direction, source, target, ds.drop_vars("prediction", errors="ignore").drop_vars("stimulus_id", errors="ignore"))
    return ds


def _feature_key(store: Any, name: str) -> tuple[str, str]:
    """``"<model>.<layer>"`` -> (model, layer) as held by the store (names may hold dots)."""
    parts = name.split(".")
    for cut in range(1, len(parts)):
        model, layer = ".".join(parts[:cut]), ".".join(parts[cut:])
        if model in store.models() and layer in store.layers(model):
            return model, layer
    if len(parts) < 2:
        raise LayoutError(f"feature set {name!r} must be named '<model>.<layer>'.")
    raise LayoutError(
        f"store {store.url!r} holds no feature set {name!r}; models and layers: "
        f"{ {m: store.layers(m) for m in store.models()} }."
    )


def _read_entry(store: Any, kind: str, name: str, load: bool = True) -> xr.DataArray:
    if kind == "neural":
        if name not in store.neural_sets():
            raise LayoutError(f"store {store.url!r} holds no neural set {name!r}; it holds {store.neural_sets()}.")
        da = store.read_neural(name)
    else:
        da = store.read_features(*_feature_key(store, name))
    da = da.load() if load else da
    da.name = name
    return da
