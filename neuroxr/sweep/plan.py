"""Planning a sweep: the :class:`Entry` records, and the selection of models, layers, neural sets and regions.

Every entry is one request to the entry engine (:func:`neuroxr.entries.compute`): a kind (a
direction or a metric) and its source and target sets, named as

================  ==========================  ==========================
direction         source                      target
================  ==========================  ==========================
forward           ``<model>.<layer>``         ``<neural>[.<region>]``
reverse           ``<neural>[.<region>]``     ``<model>.<layer>``
inter_animal      ``<neural A>[.<region>]``   ``<neural B>[.<region>]``
model_to_model    ``<model A>.<layer>``       ``<model B>.<layer>``
a pair metric     ``<model>.<layer>``         ``<neural>[.<region>]``
dimensionality    ``<model>.<layer>`` or      (none)
                  ``<neural>[.<region>]``
================  ==========================  ==========================

A region subset (the neuroids whose ``region`` coord equals the region) is its own entry,
``<neural>.<region>``; the region ``"all"`` is the whole set. The engine stores it under
``scores/<direction>/<source>__<target>/<key>`` or ``metrics/<metric>/<source>[__<target>]/<key>``,
where ``<key>`` is the hash of its provenance (parameters and input set versions). Inter-animal entries pair different
neural sets within one region; model-to-model entries pair every layer of one model with every
layer of every other model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SweepConfigError, no_effect
from ..layouts import METRICS
from ..predictivity import DIRECTIONS
from ..sets import SetRef, regions_by_set
from ..store import DATA_VAR, NAME_PATTERN, StudyStore
from .config import SWEEP_METRICS, as_list, metric_kind
from .names import ALL_REGIONS, layer_name, layer_ref, subset_name, subset_ref

__all__ = ["ALL_REGIONS", "Entry", "plan_sweep", "entry_cost", "entry_set_paths", "set_sizes", "longest_first"]

@dataclass(frozen=True)
class Entry:
    """One entry of a sweep: an entry kind (a direction or a metric) and its source and target sets.

    Attributes
    ----------
    direction : str
        A direction, or a metric entry group (``crsa``, ``ersa``, ``ereg``, ``shape``, ``cka``,
        ``dimensionality``); ``target`` is ``""`` for ``dimensionality``.
    source, target : str
        Store names (see the module docstring).
    model, layer : str or None
        The feature set (forward, reverse) or the source layer (model_to_model).
    neural : str or None, optional
        The neural set scored against the model (forward, reverse) or the target animal (inter_animal).
    region : str, default "all"
        Region subset, or ``"all"`` for the whole set.
    source_neural : str or None, optional
        The predictor animal (inter_animal).
    target_model, target_layer : str or None
        The target layer (model_to_model).
    """

    direction: str
    source: str
    target: str
    model: str | None = None
    layer: str | None = None
    neural: str | None = None
    region: str = ALL_REGIONS
    source_neural: str | None = None
    target_model: str | None = None
    target_layer: str | None = None

    @property
    def is_metric(self) -> bool:
        """Whether the entry is a metric entry (``metrics/<metric>/...``) rather than a score entry."""
        return self.direction in METRICS

    @property
    def key(self) -> str:
        """``"<direction>/<source>__<target>"`` (``"dimensionality/<source>"``): the entry's name in
        a sweep's results (its store path also carries the provenance key)."""
        if self.is_metric and not self.target:
            return f"{self.direction}/{self.source}"
        return f"{self.direction}/{self.source}__{self.target}"

    def _ref(self, model: str | None, layer: str | None, neural: str | None) -> SetRef:
        return layer_ref(model, layer) if model is not None else subset_ref(neural, self.region)

    @property
    def source_ref(self) -> SetRef:
        """The source set (:mod:`neuroxr.sets` reference)."""
        if self.direction == "reverse":
            return self._ref(None, None, self.neural)
        if self.direction == "inter_animal":
            return self._ref(None, None, self.source_neural)
        return self._ref(self.model, self.layer, self.neural)

    @property
    def target_ref(self) -> SetRef | None:
        """The target set, or ``None`` for ``dimensionality``."""
        if self.direction == "dimensionality":
            return None
        if self.direction == "reverse":
            return self._ref(self.model, self.layer, None)
        if self.direction == "model_to_model":
            return self._ref(self.target_model, self.target_layer, None)
        return self._ref(None, None, self.neural)

    def labels(self) -> dict[str, Any]:
        """The entry's labels as a dict (attrs of the written entry, columns of the tables)."""
        return {
            "direction": self.direction, "source": self.source, "target": self.target,
            "model": self.model, "layer": self.layer, "neural": self.neural, "region": self.region,
            "source_neural": self.source_neural, "target_model": self.target_model,
            "target_layer": self.target_layer,
        }



def _unreadable(store: StudyStore, paths: list[str]) -> str:
    """A note naming the sets of ``paths`` whose metadata document is not valid JSON (listings leave
    such damaged sets out): ``""`` when none is."""
    bad = [p for p in paths if store.unreadable(p)]
    return (f" ({', '.join(f'{p}/zarr.json' for p in bad)}: not valid JSON, a damaged set: delete it "
            f"(StudyStore.invalidate) or write it again)") if bad else ""


def _select(store: StudyStore, requested: Any, available: list[str], what: str) -> list[str]:
    """The requested names (default: all available), refused with the store's names when missing."""
    chosen = as_list(requested, "neural" if what == "neural sets" else what)
    if chosen is None:
        return list(available)
    missing = [x for x in chosen if x not in available]
    if missing:
        if what == "neural sets":
            note = _unreadable(store, [f"neural/{x}" for x in missing])
        else:  # a model none of whose layers can be read is no model a listing sees: its damaged layers
            note = _unreadable(store, [p for p, _ in store.damaged() if p.count("/") == 2
                                       and p.split("/")[0] == "features" and p.split("/")[1] in missing])
        raise SweepConfigError(f"store {store.url!r} holds no {what} {missing}{note}; it holds {available}"
                               f"{_dotted(store, missing, available, what)}.")
    return chosen


def _dotted(store: StudyStore, missing: list[str], available: list[str], what: str) -> str:
    """How to select what a missing name ``<set>.<part>`` means, a set name written as ``neuroxr score`` takes it
    (``animalA.IT``: a region of a neural set; ``net.conv3``: a layer of a model); ``""`` when none is such."""
    for x in missing:
        head, _, part = x.rpartition(".")
        if head not in available or not part:
            continue
        if what == "neural sets" and part in (_region_values(store, head) or []):
            return f" ({x!r} is region {part!r} of {head!r}: select it with neural [{head!r}] and regions [{part!r}])"
        if what == "models" and part in store.layers(head):
            return f" ({x!r} is layer {part!r} of {head!r}: select it with models [{head!r}] and layers [{part!r}])"
    return ""


def _region_values(store: StudyStore, name: str) -> list[str] | None:
    da = store.read_neural(name)
    if "region" not in da.coords:
        return None
    return [str(r) for r in pd.unique(np.asarray(da.coords["region"].values).astype(str))]


def _dims(store: StudyStore, path: str) -> tuple[str, ...]:
    """The dims of the set at ``path``, from its array metadata (no set opened); a set whose metadata
    names none (another layout) is opened to read them."""
    meta = store.array_meta(path)
    names = (meta or {}).get("dimension_names")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return tuple(names)
    return tuple(str(d) for d in store.read_dataset(path)[DATA_VAR].dims)


def _refuse_timed_metrics(store: StudyStore, metrics: list[str], neural_list: list[str]) -> None:
    """Metrics take responses of one time bin: with time-resolved neural sets (a ``time_bin`` dim)
    every metric entry would fail at run time, so the sweep is refused before it is planned."""
    if not metrics:
        return
    timed = [n for n in neural_list if "time_bin" in _dims(store, f"neural/{n}")]
    if timed:
        raise SweepConfigError(
            f"the metric{'s' if len(metrics) > 1 else ''} {', '.join(metrics)} take{'' if len(metrics) > 1 else 's'} "
            f"neural responses of one time bin, and the neural set{'s' if len(timed) > 1 else ''} {', '.join(map(repr, timed))} "
            f"{'are' if len(timed) > 1 else 'is'} time-resolved (a 'time_bin' dim); restrict 'neural:' to sets without "
            "time bins, or drop the metrics from 'directions' (the directions score every bin)."
        )


def plan_sweep(
    store: StudyStore,
    models: str | Sequence[str] | None = None,
    layers: str | Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    neural: str | Sequence[str] | None = None,
    directions: str | Sequence[str] = ("forward", "reverse"),
    regions: str | Sequence[str] | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Entry]:
    """The entries a sweep scores, checked against what the store holds.

    Parameters
    ----------
    store : StudyStore
    models : str or list of str, optional
        Models to score (default: every model of the store).
    layers : str, list of str or mapping model -> list of str, optional
        Layers (default: every layer of each model). A list selects those layers in every model
        that has them (each name must exist in at least one selected model); a mapping selects
        per model.
    neural : str or list of str, optional
        Neural sets (default: every neural set).
    directions : str or list of str, default ("forward", "reverse")
        Any of ``"forward"``, ``"reverse"``, ``"inter_animal"``, ``"model_to_model"`` and the
        metrics ``"rsa"`` (the variant ``metric_options["rsa"]["variant"]``, default ``"crsa"``),
        ``"crsa"``, ``"ersa"``, ``"ereg"``, ``"shape"``, ``"cka"`` (one entry per layer x neural
        set x region subset, ``<model>.<layer>`` -> ``<neural>[.<region>]``) and
        ``"dimensionality"`` (one entry per layer and one per neural set x region subset).
    regions : None, "each", or list of str, optional
        ``None``: whole neural sets only. ``"each"``: every region of each set's ``region``
        coord (one entry per region). A list: those regions (``"all"`` adds the whole set); a
        set that lacks a listed region is skipped for that region.
    metric_options : mapping, optional
        Per metric, the options of :func:`neuroxr.entries.score_metric` (only ``rsa``'s
        ``variant`` matters for planning).

    Returns
    -------
    list of Entry

    Raises
    ------
    SweepConfigError
        Unknown directions, models, layers, neural sets or regions (the message lists what exists);
        metrics with a time-resolved neural set (metrics take one time bin); ``metric_options`` for a
        metric the directions do not include.

    Notes
    -----
    One call of the store (:meth:`StudyStore.session`): the inventory is listed once and each document
    read once, afresh at the start (a cached store's earlier calls are not trusted).
    """
    with store.session():
        return _plan(store, models, layers, neural, directions, regions, metric_options)


def _plan(store: StudyStore, models: Any, layers: Any, neural: Any, directions: Any, regions: Any,
          metric_options: Mapping[str, Mapping[str, Any]] | None) -> list[Entry]:
    """:func:`plan_sweep` within its call of the store."""
    dirs = as_list(directions, "directions") or []
    dirs = [d.replace("-", "_") for d in dirs]
    unknown = [d for d in dirs if d not in DIRECTIONS + SWEEP_METRICS]
    if unknown or not dirs:
        raise SweepConfigError(f"unknown directions {unknown or dirs!r}; choose from {DIRECTIONS} or the metrics {SWEEP_METRICS}.")
    dirs = list(dict.fromkeys(metric_kind(d, metric_options) for d in dirs))
    unused = [k for k in (metric_options or {}) if (metric_kind(k, metric_options) if k == "rsa" else k) not in dirs]
    if unused:  # never options that silently do nothing
        raise no_effect([f"metric_options[{k!r}]" for k in unused], f"outside the sweep's directions {dirs}",
                        instead=f"add the metric{'s' if len(unused) > 1 else ''} to directions", error=SweepConfigError)
    model_list = _select(store, models, store.models(), "models")
    dropped: list[str] = []  # what the selection leaves out, and why (one warning, or the empty-plan error)
    layer_map: dict[str, list[str]] = {}
    if isinstance(layers, Mapping):
        extra = [m for m in layers if m not in model_list]
        if extra:
            raise SweepConfigError(f"layers names models {extra} that are not in the sweep's models {model_list}.")
        for m in model_list:
            have = store.layers(m)
            want = as_list(layers.get(m), f"layers[{m!r}]")
            want = have if want is None else want
            bad = [l for l in want if l not in have]
            if bad:
                note = _unreadable(store, [f"features/{m}/{l}" for l in bad])
                raise SweepConfigError(f"model {m!r} has no layers {bad}{note}; its layers are {have}.")
            if not want:
                dropped.append(f"model {m!r}: layers[{m!r}] is empty")
            layer_map[m] = [l for l in have if l in want]  # in depth order, however the config lists them
    else:
        want = as_list(layers, "layers")
        for m in model_list:
            have = store.layers(m)
            layer_map[m] = have if want is None else [l for l in have if l in want]
        if want is not None:
            found = {l for ls in layer_map.values() for l in ls}
            bad = [l for l in want if l not in found]
            if bad:
                note = _unreadable(store, [f"features/{m}/{l}" for m in model_list for l in bad])
                dotted = [(l, *l.rpartition(".")[::2]) for l in bad]
                hint = next((f" ({l!r} is layer {p!r} of {m!r}: select it with models [{m!r}] and layers [{p!r}])"
                             for l, m, p in dotted if m in model_list and p in store.layers(m)), "")
                raise SweepConfigError(
                    f"no selected model has layers {bad}{note}; layers per model: "
                    f"{ {m: store.layers(m) for m in model_list} }{hint}."
                )
            dropped += [f"model {m!r}: has none of the layers {want} (its layers: {store.layers(m)})"
                        for m in model_list if not layer_map[m]]
    neural_list = _select(store, neural, store.neural_sets(), "neural sets")
    _refuse_timed_metrics(store, [d for d in dirs if d in METRICS], neural_list)
    # region subsets per neural set
    subsets: dict[str, list[str]] = {}
    if regions is None:
        subsets = {n: [ALL_REGIONS] for n in neural_list}
    else:
        each = regions == "each"
        wanted = None if each else as_list(regions, "regions")
        name_re = re.compile(NAME_PATTERN)
        found_any: set[str] = set()
        for n in neural_list:
            have = _region_values(store, n)
            if have is None and (each or any(r != ALL_REGIONS for r in wanted)):
                raise SweepConfigError(
                    f"neural set {n!r} has no 'region' coord on 'neuroid', so it cannot be split by region; "
                    f"drop it from 'neural' or use regions=None."
                )
            if each and have is not None and ALL_REGIONS in have:  # written before such regions were refused
                raise SweepConfigError(
                    f"neural set {n!r} has neuroids of region {ALL_REGIONS!r}, the region name of the whole set, so "
                    f"they would be scored as all of {n!r}; rename that region in its 'region' coord and write the set "
                    f"again, or drop {n!r} from 'neural' or list the regions to score."
                )
            regs = list(have) if each else [r for r in wanted if r == ALL_REGIONS or r in have]
            lacks = [] if each else [r for r in wanted if r not in regs]
            if lacks:
                dropped.append(f"neural set {n!r}: has no region{'s' if len(lacks) > 1 else ''} {lacks} (its regions: {have})")
            found_any.update(regs)
            for r in regs:
                if r != ALL_REGIONS and not name_re.match(r):
                    raise SweepConfigError(
                        f"region {r!r} of neural set {n!r} cannot name a store entry (use letters, digits, "
                        f"'.', '-', single '_'); rename the region values."
                    )
                if r != ALL_REGIONS and subset_name(n, r) in store.neural_sets():
                    raise SweepConfigError(
                        f"region subset {n!r} x {r!r} would be named {subset_name(n, r)!r}, which is already "
                        f"a neural set of the store; rename that neural set."
                    )
            subsets[n] = regs
        if not each:
            absent = [r for r in wanted if r not in found_any]
            if absent:
                raise SweepConfigError(
                    f"no selected neural set has regions {absent}; choose from their regions: "
                    f"{regions_by_set(store, neural_list)} (and {ALL_REGIONS!r} for whole sets)."
                )
    pairs = [(m, l) for m in model_list for l in layer_map[m]]
    if any(d in dirs for d in ("forward", "reverse", "model_to_model") + METRICS) and not pairs:
        if not store.models():  # nothing to select from: no selection would help
            raise SweepConfigError(f"store {store.url!r} holds no feature sets; write layers first (write_features, "
                                   "neuroxr extract) or sweep the directions without layers (inter_animal).")
        raise SweepConfigError("the sweep selects no layers; check 'models' and 'layers'.")
    out: list[Entry] = []
    for d in dirs:
        n_before = len(out)
        if d in ("forward", "reverse"):
            for m, l in pairs:
                for n in neural_list:
                    for r in subsets[n]:
                        feat, neu = layer_name(m, l), subset_name(n, r)
                        src, tgt = (feat, neu) if d == "forward" else (neu, feat)
                        out.append(Entry(d, src, tgt, model=m, layer=l, neural=n, region=r))
        elif d == "dimensionality":
            for m, l in pairs:
                out.append(Entry(d, layer_name(m, l), "", model=m, layer=l))
            for n in neural_list:
                for r in subsets[n]:
                    out.append(Entry(d, subset_name(n, r), "", neural=n, region=r))
        elif d in METRICS:
            for m, l in pairs:
                for n in neural_list:
                    for r in subsets[n]:
                        out.append(Entry(d, layer_name(m, l), subset_name(n, r), model=m, layer=l, neural=n, region=r))
        elif d == "inter_animal":
            for a in neural_list:
                for b in neural_list:
                    if a == b:
                        continue
                    for r in subsets[b]:
                        if r in subsets[a]:
                            out.append(Entry(d, subset_name(a, r), subset_name(b, r), neural=b, region=r, source_neural=a))
        else:
            for ma, la in pairs:
                for mb, lb in pairs:
                    if ma != mb:
                        out.append(Entry(d, layer_name(ma, la), layer_name(mb, lb), model=ma, layer=la,
                                         target_model=mb, target_layer=lb))
        dropped += _direction_drops(d, out[n_before:], neural_list, subsets, [m for m in model_list if layer_map[m]])
    if not out:
        raise SweepConfigError(f"the sweep has no entries: {'; '.join(dropped)}.")
    if dropped:
        from ..errors import warn

        warn(f"the sweep leaves out what it cannot pair or select: {'; '.join(dropped)}; "
             f"change the selection to score them, or drop them from it.")
    return out


def _direction_drops(direction: str, planned: Sequence[Entry], neural_list: Sequence[str],
                     subsets: Mapping[str, Sequence[str]], models: Sequence[str]) -> list[str]:
    """Why ``direction`` plans nothing (``planned`` is empty), or, for inter_animal, which selected
    regions no two neural sets share: the lines of :func:`plan_sweep`'s warning."""
    if direction == "inter_animal":
        if len(neural_list) < 2:
            return [f"inter_animal: needs at least two neural sets; {len(neural_list)} given {list(neural_list)}"]
        paired = {e.region for e in planned}
        holders: dict[str, list[str]] = {}
        for n in neural_list:
            for r in subsets[n]:
                holders.setdefault(r, []).append(n)
        return [f"inter_animal: region {r!r} is held by {'only ' + repr(h[0]) if h else 'no neural set'}, no pair"
                for r, h in holders.items() if r not in paired]
    if planned:
        return []
    if direction == "model_to_model":
        return [f"model_to_model: needs at least two models with selected layers; {len(models)} given {list(models)}"]
    if not neural_list and direction != "dimensionality":
        return [f"{direction}: no neural sets selected"]
    return [f"{direction}: no neural set holds a selected region"]


# ---------------------------------------------------------------------------- scheduling
#: reps of a direction when the sweep does not set them (the directions' defaults)
_DEFAULT_REPS = 20


def entry_set_paths(e: Entry) -> tuple[str, ...]:
    """The store paths of the sets ``e`` reads (a region subset: its neural set): its layer, its target layer,
    its predictor animal and its neural set, those it names, in that order."""
    paths = [f"features/{e.model}/{e.layer}" if e.model is not None else None,
             f"features/{e.target_model}/{e.target_layer}" if e.target_model is not None else None,
             f"neural/{e.source_neural}" if e.source_neural is not None else None,
             f"neural/{e.neural}" if e.neural is not None else None]
    return tuple(p for p in paths if p is not None)


def set_sizes(store: StudyStore, entries: Sequence[Entry]) -> dict[str, tuple[int, ...]]:
    """The shape of every set the entries read, ``{path: shape}`` (``(stimulus, unit)`` or
    ``(stimulus, neuroid, repeat[, time_bin])``), from the array metadata only (no data read);
    a set whose shape cannot be read is left out (its entries then cost 0 in :func:`entry_cost`)."""
    paths = {path for e in entries for path in entry_set_paths(e)}
    out = {}
    for path in sorted(paths):
        try:
            out[path] = tuple(int(x) for x in store.array_meta(path)["shape"])  # type: ignore[index]
        except Exception:  # another layout: unknown cost, the plan order is kept for it
            continue
    return out


def entry_cost(entry: Entry, params: Mapping[str, Any], sizes: Mapping[str, tuple[int, ...]]) -> float:
    """A flop estimate of one entry, to submit the longest first.

    A direction fits a ridge per rep on ``n`` stimuli from ``p`` predictors to ``q`` targets
    (Gram ``n^2 p``, its factorisation ``n^3``, the targets ``n^2 q``) and, with a neural
    target, split-half ceilings over its repeats (``n q r``): ``reps * (n^2 (p + q) + n^3 + n q r)``
    (time bins multiply the neural sizes). A metric compares two sets once: ``n^2 (p + q)``.
    Region subsets count as the whole set. Unknown sizes count 0.
    """
    def feat(model: str | None, layer: str | None) -> tuple[int, int, int]:
        shape = sizes.get(f"features/{model}/{layer}") if model is not None else None
        return (shape[0], shape[1], 1) if shape else (0, 0, 1)

    def neu(name: str | None) -> tuple[int, int, int]:
        shape = sizes.get(f"neural/{name}") if name is not None else None
        if not shape:
            return 0, 0, 1
        bins = int(np.prod(shape[3:])) if len(shape) > 3 else 1
        return shape[0], shape[1] * bins, shape[2] if len(shape) > 2 else 1

    sets = {"forward": (feat(entry.model, entry.layer), neu(entry.neural)),
            "reverse": (neu(entry.neural), feat(entry.model, entry.layer)),
            "inter_animal": (neu(entry.source_neural), neu(entry.neural)),
            "model_to_model": (feat(entry.model, entry.layer), feat(entry.target_model, entry.target_layer))}
    if entry.direction not in sets:  # a metric (or dimensionality: one set)
        a = feat(entry.model, entry.layer) if entry.model is not None else neu(entry.neural)
        b = neu(entry.neural) if entry.model is not None and entry.neural is not None else (0, 0, 1)
        n = max(a[0], b[0])
        return float(n) ** 2 * (a[1] + b[1])
    (n1, p, _), (n2, q, r) = sets[entry.direction]
    n = float(max(n1, n2))
    reps = params.get("reps") or (1 if entry.direction == "model_to_model" else _DEFAULT_REPS)
    ceiling = n * q * r if entry.direction != "model_to_model" else 0.0
    return float(reps) * (n * n * (p + q) + n**3 + ceiling)


def longest_first(entries: Sequence[Entry], params: Mapping[str, Mapping[str, Any]],
                  sizes: Mapping[str, tuple[int, ...]]) -> list[Entry]:
    """``entries`` by decreasing :func:`entry_cost` (ties in plan order): submitted in this order,
    the longest tasks start first and workers finish together (longest-processing-time-first)."""
    order = {e.key: i for i, e in enumerate(entries)}
    return sorted(entries, key=lambda e: (-entry_cost(e, params.get(e.key, {}), sizes), order[e.key]))
