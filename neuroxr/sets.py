"""The one name resolver: set names of a study store <-> typed references.

A study store holds two kinds of *sets*, and every analysis reads sets by name:

=============  =============================  ===========================  =====================
kind           name                           store path                   what is read
=============  =============================  ===========================  =====================
``features``   ``<model>.<layer>``            ``features/<model>/<layer>``  stimulus x unit
``neural``     ``<name>``                     ``neural/<name>``             stimulus x neuroid x repeat
``neural``     ``<name>.<region>``            ``neural/<name>``             its neuroids whose ``region``
                                                                            coord equals ``<region>``
=============  =============================  ===========================  =====================

Model, layer and neural-set names may themselves hold dots, so a dotted name is resolved against
what the store holds: every way of cutting it is tried and exactly one must exist. Two sets whose
names coincide (``model "a"`` + ``layer "b.c"`` and ``model "a.b"`` + ``layer "c"`` are both
``a.b.c``) are refused when the second is written (:func:`check_new_set`), so resolving never meets
an ambiguity in a store written by this version; older stores get an error naming both sets.

Nothing else in neuroxr splits set names on dots.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .errors import LayoutError, ParameterError, StoreError, shown

__all__ = [
    "SET_KINDS",
    "SetRef",
    "feature_ref",
    "neural_ref",
    "model_layer",
    "set_label",
    "resolve",
    "read_set",
    "stored_sizes",
    "regions_by_set",
    "check_new_set",
    "check_new_feature_sets",
    "store_set_names",
]

#: The kinds of sets a store holds.
SET_KINDS = ("features", "neural")


@dataclass(frozen=True)
class SetRef:
    """A typed reference to a set of a study store.

    Parameters
    ----------
    kind : {"features", "neural"}
    model, layer : str, optional
        The feature set ``features/<model>/<layer>`` (``kind="features"``).
    neural : str, optional
        The neural set ``neural/<neural>`` (``kind="neural"``).
    region : str, optional
        A region subset of the neural set: its neuroids whose ``region`` coord equals it.
    """

    kind: str
    model: str | None = None
    layer: str | None = None
    neural: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "features":
            if not self.model or not self.layer or self.neural is not None or self.region is not None:
                raise LayoutError("a feature set reference needs model and layer (and no neural/region); use feature_ref(model, layer).")
        elif self.kind == "neural":
            if not self.neural or self.model is not None or self.layer is not None:
                raise LayoutError("a neural set reference needs neural (and no model/layer); use neural_ref(name, region).")
        else:
            raise LayoutError(f"unknown set kind {self.kind!r}; choose one of {SET_KINDS}.")

    @property
    def name(self) -> str:
        """The set's name: ``model.layer``, ``neural`` or ``neural.region``."""
        if self.kind == "features":
            return feature_set_name(self.model, self.layer)
        return self.neural if self.region is None else f"{self.neural}.{self.region}"

    @property
    def path(self) -> str:
        """The store path of the set (a region subset lives in its neural set)."""
        if self.kind == "features":
            return f"features/{self.model}/{self.layer}"
        return f"neural/{self.neural}"

    def labels(self, prefix: str) -> dict[str, str]:
        """Attrs naming this set: ``<prefix>_kind`` and ``<prefix>_<model|layer|neural|region>``."""
        out = {f"{prefix}_kind": self.kind}
        for key in ("model", "layer", "neural", "region"):
            value = getattr(self, key)
            if value is not None:
                out[f"{prefix}_{key}"] = value
        return out

    def __str__(self) -> str:
        return self.name


def feature_ref(model: str, layer: str) -> SetRef:
    """The reference of the feature set ``features/<model>/<layer>``.

    Parameters
    ----------
    model, layer : str
    """
    return SetRef("features", model=model, layer=layer)


def neural_ref(name: str, region: str | None = None) -> SetRef:
    """The reference of the neural set ``neural/<name>`` or of its ``region`` subset.

    Parameters
    ----------
    name : str
    region : str, optional
        ``None``: the whole set.
    """
    return SetRef("neural", neural=name, region=region)


def feature_set_name(model: Any, layer: Any) -> str:
    """The name of the feature set of ``model`` and ``layer``: ``model.layer``."""
    return f"{model}.{layer}"


def model_layer(obj: Any) -> tuple[Any, Any] | None:
    """The model and layer an array (or Dataset) of features says it holds (its scalar coords, else
    attrs, ``model`` and ``layer``), or None without both."""
    if not isinstance(obj, (xr.DataArray, xr.Dataset)):
        return None

    def scalar(key: str) -> Any:
        if key in obj.coords and obj.coords[key].ndim == 0:
            return obj.coords[key].item()
        return obj.attrs.get(key)

    model, layer = scalar("model"), scalar("layer")
    return None if model is None or layer is None else (model, layer)


def set_label(obj: Any, default: str) -> str:
    """The label a result records for an input (its attrs ``source`` / ``target``): the set name of
    a feature array's model and layer (:func:`model_layer`; ``model.layer``, as the store names the
    set and its entries record it), else the array's name, else ``default``. Every direction and
    geometry function labels its inputs here, so one array gets one label in every result."""
    ml = model_layer(obj)
    if ml is not None:
        return feature_set_name(*ml)
    return str(obj.name) if isinstance(obj, xr.DataArray) and obj.name else default


# ---------------------------------------------------------------------------- what a store holds
#: (store URL, neural set, version token) -> its regions; a rewrite changes the token
_REGION_CACHE: dict[tuple[str, str, str], list[str]] = {}
_REGION_CACHE_SIZE = 1024
_REGION_LOCK = threading.Lock()


def _regions(store: Any, neural: str) -> list[str]:
    """The distinct values of the ``region`` coord of a neural set (empty when it has none).

    Cached per version token of the set (sets without a token are read every time). Another
    process may rewrite or delete the set meanwhile (a write of another set checks every set's
    names): a rewritten set is read again, a deleted one has no regions, a damaged one raises."""
    path = f"neural/{neural}"
    for attempt in range(3):
        token = store.token(path) if hasattr(store, "token") else None
        key = (str(getattr(store, "url", "")), neural, token)
        kept = _REGION_CACHE.get(key) if token is not None else None  # one look: another thread may evict it
        if kept is not None:
            return list(kept)
        try:
            da = store.read_neural(neural)
            break
        except StoreError:
            if not hasattr(store, "token"):
                raise
            now = store.token(path, fresh=True)  # past a cached store's document
            if store.group_attrs(path) is None:
                return []  # deleted (or its rewrite not finished) meanwhile: no names to collide with
            if now == token or attempt == 2:
                raise  # damaged, not rewritten
    out = [] if "region" not in da.coords else sorted(set(np.asarray(da.coords["region"].values).astype(str).tolist()))
    if token is not None:
        with _REGION_LOCK:  # threads of one sweep evict and insert at once
            if len(_REGION_CACHE) >= _REGION_CACHE_SIZE:
                _REGION_CACHE.pop(next(iter(_REGION_CACHE)), None)
            _REGION_CACHE[key] = out
    return list(out)


def _require_store(store: Any, caller: str) -> None:
    """A one-line error when ``store`` is not a study store (an array passed in its place)."""
    if not (hasattr(store, "models") and hasattr(store, "neural_sets")):
        raise ParameterError(f"{caller}: store must be a StudyStore (neuroxr.open_store(path)); got {shown(store)}.")


def _feature_sets(store: Any) -> list[SetRef]:
    return [feature_ref(m, layer) for m in store.models() for layer in store.layers(m)]


def store_set_names(store: Any, regions: bool = False) -> dict[str, list[SetRef]]:
    """Every set name of a store -> the sets it names (more than one: an ambiguous name).

    Parameters
    ----------
    store : StudyStore
    regions : bool
        Also list the region subsets of the neural sets (reads their ``region`` coords).
    """
    out: dict[str, list[SetRef]] = {}
    refs = _feature_sets(store)
    for n in store.neural_sets():
        refs.append(neural_ref(n))
        if regions:
            refs += [neural_ref(n, r) for r in _regions(store, n)]
    for ref in refs:
        out.setdefault(ref.name, []).append(ref)
    return out


def regions_by_set(store: Any, names: Sequence[str]) -> str:
    """The regions of each neural set of ``names``, for messages: ``animalA ['IT', 'V4'], animalB
    (no 'region' coord)``."""
    return ", ".join(f"{n} {_regions(store, n)}" if _regions(store, n) else f"{n} (no 'region' coord)" for n in names)


def _available(store: Any, kinds: tuple[str, ...]) -> str:
    parts = []
    if "features" in kinds:
        parts.append(f"feature sets {[r.name for r in _feature_sets(store)]}")
    if "neural" in kinds:
        sets = store.neural_sets()
        parts.append(f"neural sets {sets}" + (f" (regions, named '<name>.<region>': {regions_by_set(store, sets)})" if sets else ""))
    return " and ".join(parts)


def _describe(ref: SetRef) -> str:
    if ref.kind == "features":
        return f"feature set model {ref.model!r} layer {ref.layer!r}"
    return f"neural set {ref.neural!r}" + ("" if ref.region is None else f" region {ref.region!r}")


def _exists(store: Any, ref: SetRef) -> bool:
    if ref.kind == "features":
        return ref.model in store.models() and ref.layer in store.layers(ref.model)
    if ref.neural not in store.neural_sets():
        return False
    return ref.region is None or ref.region in _regions(store, ref.neural)


def _candidates(name: str | SetRef, kinds: tuple[str, ...]) -> list[str]:
    """The store paths a name could refer to (every cut of a dotted name), or a reference's path."""
    if isinstance(name, SetRef):
        return [name.path]
    parts = name.split(".")
    cands = []
    if "features" in kinds:
        cands += [f"features/{'.'.join(parts[:cut])}/{'.'.join(parts[cut:])}" for cut in range(1, len(parts))]
    if "neural" in kinds:
        cands += [f"neural/{'.'.join(parts[:cut])}" for cut in range(len(parts), 0, -1)]
    return cands


def _refuse_unlisted(store: Any, name: str | SetRef, kinds: tuple[str, ...], role: str) -> None:
    """A name no listed set matches: raise when it names a set whose metadata document is not valid
    JSON, or (object stores) one whose rewrite was interrupted, its previous copy kept aside
    (:meth:`~neuroxr.store.StudyStore.interrupted_rewrites`; one batch of journal reads): listings leave
    such a set out, and saying it does not exist would hide the damage or the way back."""
    cands = _candidates(name, kinds)
    asked = getattr(name, "name", name)
    unreadable = getattr(store, "unreadable", None)
    for path in cands if unreadable is not None else ():
        if unreadable(path):
            from .store.integrity import unreadable_doc

            what, fix = store._described(path)
            raise StoreError(f"store {store.url!r}: {what}, the {role} {asked!r}, is damaged "
                             f"({unreadable_doc(path + '/zarr.json')}); {fix}.")
    interrupted = getattr(store, "interrupted_rewrites", None)
    got = interrupted(cands) if interrupted is not None and cands else {}
    cut = [p for p in cands if p in got]
    if cut:
        kind, *names = cut[0].split("/")
        held = ".".join(names)
        which = f"the {role}" if asked == held else f"the {role} {asked!r}"  # a region names its neural set
        from .store.previous import INTERRUPTED

        raise StoreError(f"store {store.url!r}: the {kind.replace('features', 'feature')} set {held!r} ({which}) "
                         f"cannot be read: {INTERRUPTED}.")


def resolve(
    store: Any,
    name: str | SetRef,
    *,
    kinds: tuple[str, ...] = SET_KINDS,
    role: str = "source",
    strict: bool = True,
) -> SetRef:
    """The set a name refers to in a store.

    Parameters
    ----------
    store : StudyStore
    name : str or SetRef
        ``"<model>.<layer>"``, ``"<neural>"`` or ``"<neural>.<region>"`` (or a reference, checked).
    kinds : tuple of {"features", "neural"}, default ("features", "neural")
        The kinds of set accepted here.
    role : str, default "source"
        What the set is for (``"source"``, ``"target"``), used in messages.
    strict : bool, default True
        ``False`` reads ``"<neural>.<rest>"`` as a region subset of the neural set ``<neural>``
        even when no neuroid has that region (to label existing entries whose set changed).

    Returns
    -------
    SetRef

    Raises
    ------
    LayoutError
        No set of an accepted kind has that name, or (in stores written before names were
        checked) more than one has.
    """
    _require_store(store, "resolve")
    kinds = tuple(kinds)
    if isinstance(name, SetRef):
        if name.kind not in kinds or not _exists(store, name):
            what = "" if name.kind in kinds else f" (the {role} must be a {' or '.join(kinds)} set)"
            if name.kind in kinds:
                _refuse_unlisted(store, name, kinds, role)
            raise LayoutError(
                f"store {store.url!r} holds no {_describe(name)}{what} named {name.name!r} (the {role}); "
                f"it holds {_available(store, kinds)}."
            )
        return name
    if not isinstance(name, str) or not name:
        raise ParameterError(f"the {role} must name a set of the store; got {shown(name)}.")
    parts = name.split(".")
    found: list[SetRef] = []
    if "features" in kinds:
        models = store.models()
        for cut in range(1, len(parts)):
            model, layer = ".".join(parts[:cut]), ".".join(parts[cut:])
            if model in models and layer in store.layers(model):
                found.append(feature_ref(model, layer))
    if "neural" in kinds:
        sets = store.neural_sets()
        if name in sets:
            found.append(neural_ref(name))
        for cut in range(1, len(parts)):
            base, region = ".".join(parts[:cut]), ".".join(parts[cut:])
            if base in sets and (not strict or region in _regions(store, base)):
                found.append(neural_ref(base, region))
    if not found:
        _refuse_unlisted(store, name, kinds, role)
        what = " or ".join(
            {"features": "feature set '<model>.<layer>'", "neural": "neural set '<name>[.<region>]'"}[k] for k in kinds
        )
        raise LayoutError(f"store {store.url!r} holds no {what} named {name!r} (the {role}); it holds {_available(store, kinds)}.")
    if len(found) > 1:
        desc = "; ".join(_describe(r) for r in found)
        raise LayoutError(
            f"the {role} {name!r} is ambiguous in store {store.url!r}: it names {desc}; rename one of them "
            f"(rewrite it under another name and delete the old one)."
        )
    return found[0]


def read_set(store: Any, ref: SetRef, load: bool = True) -> xr.DataArray:
    """Read a set as a DataArray named ``ref.name``.

    Parameters
    ----------
    store : StudyStore
    ref : SetRef
    load : bool, default True
        Load into memory (``False``: the lazy, dask-backed array).

    Returns
    -------
    xarray.DataArray
        Features ``stimulus x unit`` or neural responses ``stimulus x neuroid x repeat`` (a region
        subset keeps the neuroids whose ``region`` coord equals the region).
    """
    _require_store(store, "read_set")
    if not isinstance(ref, SetRef):
        raise ParameterError(f"read_set: ref must be a SetRef (neuroxr.resolve(store, name)); got {shown(ref)}.")
    if ref.kind == "features":
        da = store.read_features(ref.model, ref.layer)
    else:
        da = store.read_neural(ref.neural)
        if ref.region is not None:
            if "region" not in da.coords:
                raise LayoutError(f"neural set {ref.neural!r} has no 'region' coord; it has no region {ref.region!r}.")
            keep = np.asarray(da.coords["region"].values).astype(str) == ref.region
            da = da.isel(neuroid=np.flatnonzero(keep))
    if load:
        da = da.load()
    da.name = ref.name
    return da


def stored_sizes(store: Any, ref: SetRef) -> dict[str, int]:
    """The dim sizes of the stored array of ``ref``'s set, from its metadata document (nothing opened;
    a region subset: the whole set's ``neuroid`` size). For what a plan needs before reading a set,
    e.g. its ``repeat`` or ``time_bin`` dims; where the document does not name its dims, the set is
    opened lazily."""
    path = f"neural/{ref.neural}" if ref.kind == "neural" else f"features/{ref.model}/{ref.layer}"
    meta = store.array_meta(path)
    names, shape = (meta or {}).get("dimension_names"), (meta or {}).get("shape")
    if not names or shape is None or None in names or len(names) != len(shape):
        return {str(k): int(v) for k, v in read_set(store, ref, load=False).sizes.items()}
    return {str(k): int(v) for k, v in zip(names, shape)}

# ---------------------------------------------------------------------------- refusing ambiguous names
def check_new_set(
    store: Any,
    kind: str,
    *,
    model: str | None = None,
    layer: str | None = None,
    name: str | None = None,
    regions: Any = None,
) -> SetRef:
    """Refuse to write a set whose name would coincide with another set's name.

    Call before writing ``features/<model>/<layer>`` (``kind="features"``) or ``neural/<name>``
    (``kind="neural"``, with the values of its ``region`` coord as ``regions``). Rewriting the same
    set is allowed.

    Returns
    -------
    SetRef
        The reference of the set to be written.

    Raises
    ------
    StoreError
        Naming the existing set that the new one collides with and how to rename.
    """
    new = feature_ref(model, layer) if kind == "features" else neural_ref(name) if kind == "neural" else None
    if new is None:
        raise LayoutError(f"kind must be one of {SET_KINDS}; got {shown(kind)}.")
    new_names = {new.name: new}
    if kind == "neural" and regions is not None:
        for r in sorted(set(np.asarray(regions).astype(str).ravel().tolist())):
            new_names[f"{name}.{r}"] = neural_ref(name, r)
    _refuse_collisions(store, new_names)
    return new


def check_new_feature_sets(store: Any, model: str, layers: Any) -> list[SetRef]:
    """:func:`check_new_set` for several layers of one model, reading the store's set names once.

    Parameters
    ----------
    store : StudyStore
    model : str
    layers : iterable of str
        The layers to be written as ``features/<model>/<layer>``.

    Returns
    -------
    list of SetRef
        The references of the sets to be written, in the order of ``layers``.

    Raises
    ------
    StoreError
        Naming the first existing set that a new one collides with and how to rename.
    """
    refs = [feature_ref(model, layer) for layer in layers]
    _refuse_collisions(store, {ref.name: ref for ref in refs})
    return refs


def _refuse_collisions(store: Any, new_names: dict[str, SetRef]) -> None:
    existing = store_set_names(store, regions=True)
    _refuse_case_collisions(store, [r for r in new_names.values() if r.region is None],
                            [r for refs in existing.values() for r in refs if r.region is None])
    for label, ref in new_names.items():
        for other in existing.get(label, []):
            same_set = other.path == ref.path
            if same_set:
                continue
            raise StoreError(
                f"store {store.url!r}: cannot write {_describe(ref)}: its name {label!r} is already the name of "
                f"the {_describe(other)}; sets must have distinct names. Rename the new set "
                f"(e.g. a model, layer or neural name without dots) or delete the existing one."
            )


def _refuse_case_collisions(store: Any, new: list[SetRef], existing: list[SetRef]) -> None:
    """Refuse a set whose folder (or its model's folder) differs in case only from an existing set's or another
    new one's: on a case-insensitive file system (macOS's and Windows' defaults, and a store copied there) the
    two are one folder, so the new set would be written into the other's (``features/netA``, ``features/neta``)."""
    seen: dict[str, tuple[str, SetRef]] = {}
    for ref in existing:
        for folder in _folders(ref.path):
            seen.setdefault(folder.casefold(), (folder, ref))
    there = {f for ref in existing for f in _folders(ref.path)}  # rewriting a set (a store written before): its own folder
    for ref in new:
        for depth, folder in enumerate(_folders(ref.path), 2):
            hit = seen.setdefault(folder.casefold(), (folder, ref))
            if hit[0] != folder and folder not in there:
                what = "neural" if ref.kind == "neural" else "model" if depth == 2 else "layer"
                raise StoreError(
                    f"store {store.url!r}: cannot write {_describe(ref)}: its folder {folder!r} differs only in case from "
                    f"{hit[0]!r} of the {_describe(hit[1])}, and a case-insensitive file system (macOS, Windows) holds the "
                    f"two as one folder. Rename the new set (another {what} name than {folder.rpartition('/')[2]!r})."
                )


def _folders(path: str) -> list[str]:
    """The folders of a set's path below the stage: ``features/m``, ``features/m/l``; ``neural/n``."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(2, len(parts) + 1)]
