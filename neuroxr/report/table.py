"""The score table of a study store: one row per complete score entry, and layer stacking.

:func:`score_table` reads every complete score entry (forward, reverse, inter-animal,
model-to-model) with :func:`neuroxr.entries.list_entries` and summarises the rep-mean EV of the
*included* targets (``min_reliability``), as the sweep's tables do (:func:`ev_summary`);
:func:`stack_layers` turns per-layer score Datasets into one ``(layer, target)`` array for
:func:`neuroxr.plot.layer_profile`.

Which entries the headline and the figures use (column ``in_figures``): only current, readable
entries, and per comparison (the layers of one model and neural set, the sources of one
time-resolved target, the layers of one model for a metric) one parameter set, the one held by
the most entries (ties: the first by its parameter text). Other entries stay in the tables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import decode_attrs
from ..entries.kinds import DIRECTION_KINDS as DIRECTIONS
from ..entries.layout import LIST_COLUMNS, list_entries, read_entry
from ..errors import LayoutError, ParameterError, StoreError
from ..kernels.resample import nanmean_over
from ..sets import SetRef, resolve
from ..store import StudyStore
from ..store.study import as_store
from ..sweep._util import EXCLUDED_COUNTS, as_counts, excluded_counts, included_summary

__all__ = ["ReportEntry", "score_table", "metric_table", "provenance_table", "stack_layers", "open_store", "figure_entries",
           "ev_summary", "entry_parameters", "parameter_text", "selection_notes", "damage_by_path",
           "TABLE_COLUMNS", "METRIC_COLUMNS"]

#: columns of :func:`score_table`, in order
TABLE_COLUMNS = [
    "direction", "source", "target", "model", "layer", "neural", "region", "target_kind",
    "n_targets", "n_excluded", "n_all", "n_excluded_stimuli", "reps", "median_ev", "mean_ev", "q25_ev", "q75_ev", "regressor", "seed",
    "parameters", "current", "in_figures", "path", "error",
]


@dataclass
class ReportEntry:
    """One score entry of a store with its parsed names.

    Attributes
    ----------
    direction, source, target : str
        The entry ``scores/<direction>/<source>__<target>``.
    model, layer : str or None
        The feature side (forward: source; reverse: target; model-to-model: source).
    neural : str or None, optional
        The neural set (forward/reverse) or, for inter-animal, the target set.
    region : str, default "all"
        ``"all"`` unless the entry scores a region subset ``<neural>.<region>``.
    """

    direction: str
    source: str
    target: str
    model: str | None = None
    layer: str | None = None
    neural: str | None = None
    region: str = "all"


def _ref(store: StudyStore, name: str, kinds: tuple[str, ...],
         attrs: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None, side: str = "source") -> SetRef | None:
    """The set ``name`` of an entry's ``side`` (source / target); when it was deleted since, as the
    entry's ``attrs`` name it (:meth:`~neuroxr.sets.SetRef.labels`: ``<side>_kind``, ``<side>_model``,
    ...; a callable giving them is called only then), else None. A set whose metadata is damaged is
    listed as its entries name it: the listing's damaged entries name the set."""
    try:
        return resolve(store, name, kinds=kinds, strict=False, role=side)
    except (LayoutError, ParameterError, StoreError):  # ParameterError: a name that is no text (edited attrs)
        attrs = attrs() if callable(attrs) else attrs or {}
        kind = attrs.get(f"{side}_kind")
        if kind not in kinds:
            return None
        parts = {k: attrs.get(f"{side}_{k}") for k in ("model", "layer", "neural", "region")}
        try:
            return SetRef(kind=kind, **{k: v for k, v in parts.items() if isinstance(v, str) and v})
        except LayoutError:  # attrs that name no set (edited): no parts
            return None


_SIDES = {"forward": ("features", "neural"), "reverse": ("neural", "features"),
          "inter_animal": ("neural", "neural"), "model_to_model": ("features", "features")}


def _parse(store: StudyStore, direction: str, source: str, target: str, attrs: dict[str, Any]) -> ReportEntry:
    e = ReportEntry(direction, source, target)
    kinds = _SIDES.get(direction, ("features", "neural"))
    refs = [_ref(store, source, (kinds[0],), attrs, "source"), _ref(store, target, (kinds[1],), attrs, "target")]
    if direction == "inter_animal":
        refs = [None, refs[1]]
    for ref in refs:
        if ref is None:
            continue
        if ref.kind == "features" and e.model is None:
            e.model, e.layer = ref.model, ref.layer
        elif ref.kind == "neural" and e.neural is None:
            e.neural, e.region = ref.neural, ref.region or "all"
    # entries written by a sweep name their parts in attrs: trust those
    for key in ("model", "layer", "neural", "region"):
        value = attrs.get(key)
        if isinstance(value, str) and value:
            setattr(e, key, value)
    return e


def ev_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The EV statistics of one score entry over its included targets, as the sweep's table.

    The per-target value is the rep-mean EV; only targets with ``included`` true (the
    ``min_reliability`` of the entry; every target when the entry has no ``included``) count, as
    in :func:`neuroxr.sweep.gather` and :func:`neuroxr.sweep.best_layers`. A time-resolved entry
    pools its (target, time bin) values, and every count (``n_targets``, ``n_excluded``,
    ``n_all``) is then of (target, time bin) pairs; its ``n_excluded_stimuli`` is the largest
    over the bins.

    Parameters
    ----------
    ds : xarray.Dataset
        A score entry: ``ev`` over a ``neuroid`` or ``unit`` dim (and ``rep``).

    Returns
    -------
    dict
        ``target_kind`` (the target dim), ``n_targets`` (included targets with a finite EV: the
        sweep's ``n_targets``), ``n_excluded`` (targets with ``included`` false), ``n_all`` (every
        target; time-resolved: (target, time bin) pairs, so ``n_targets + n_excluded <= n_all``),
        ``n_excluded_stimuli`` (the entry's count of stimuli without a valid trial in any target,
        left out of its score; None when the entry predates the count), ``reps``, ``median_ev`` and ``mean_ev`` (the sweep's ``median_ev``/``mean_ev``;
        NaN when no target counts), ``q25_ev``, ``q75_ev``, ``regressor``, ``seed``.

    Raises
    ------
    LayoutError
        When ``ds`` has no ``ev`` over a neuroid/unit dim.
    """
    tdim = next((d for d in ("neuroid", "unit") if d in ds.dims), None)
    if "ev" not in ds or tdim is None or tdim not in ds["ev"].dims:
        raise LayoutError(f"no 'ev' variable over a neuroid/unit dim (dims {dict(ds.sizes)})")
    per_target = _rep_mean(ds)
    included = ds["included"].astype(bool) if "included" in ds else xr.ones_like(per_target, dtype=bool)
    included, per_target = xr.broadcast(included, per_target)
    inc = np.asarray(included.transpose(*per_target.dims).values, dtype=bool)
    values = np.asarray(per_target.values, dtype=float)
    finite = values[inc & np.isfinite(values)]
    q25, q75 = np.percentile(finite, [25, 75]) if finite.size else (np.nan, np.nan)
    # the counts are of the pooled values: targets, or (target, time bin) pairs of a time-resolved entry
    n_excluded = int((~inc).sum())
    return {
        "target_kind": tdim, **included_summary(values, inc), "n_excluded": n_excluded, "n_all": int(values.size),
        **excluded_counts(ds.attrs, ["n_excluded_stimuli"]),
        "reps": int(ds.sizes.get("rep", 1)),
        "q25_ev": float(q25), "q75_ev": float(q75),
        "regressor": ds.attrs.get("regressor"), "seed": ds.attrs.get("seed"),
    }


def entry_parameters(kind: str, values: Mapping[str, Any], *, target_kind: str | None = None,
                     n_repeats: int | None = None) -> dict[str, Any]:
    """The parameters of an entry that differ from its kind's defaults, sorted by name.

    Parameters
    ----------
    kind : str
        The entry's kind (``forward``, ``cka``, ...).
    values : mapping
        Its parameters (the parameter columns of :func:`neuroxr.entries.list_entries`; NaN marks
        a parameter the kind lacks). ``dtype`` counts as a default when it is ``float64``.
    target_kind, n_repeats : optional
        The kind (``neural``/``features``) and the repeats of the entry's target set. With them,
        a cRSA entry's stored ``noise_ceiling`` counts as the default when it is what the
        automatic ceiling (``noise_ceiling=None``) gives for that target
        (:func:`neuroxr.entries.metrics.resolve_ceiling`); without them only ``None`` does.

    Returns
    -------
    dict
        ``name -> value`` (plain Python scalars) of the parameters that differ from the defaults.
    """
    from ..entries import KINDS
    from ..entries.metrics import resolve_ceiling

    defaults = dict(KINDS[kind].defaults, dtype="float64") if kind in KINDS else {}
    if kind == "crsa" and target_kind is not None:  # the entry stores the automatic ceiling resolved
        defaults = resolve_ceiling(defaults, target_kind, n_repeats)
    out = {}
    for name in sorted(values):
        v = values[name]
        if isinstance(v, float) and v != v:  # NaN: not a parameter of this kind
            continue
        d = defaults.get(name, object())
        if isinstance(d, (list, tuple)):
            d = tuple(d)
        if name in defaults and v == d:
            continue
        out[name] = v.item() if hasattr(v, "item") else v
    return out


def parameter_text(params: Mapping[str, Any]) -> str:
    """``"name=value, ..."`` of :func:`entry_parameters`, ``"defaults"`` when empty."""
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _target_shape(store: StudyStore | None, name: Any, cache: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """``target_kind``/``n_repeats`` of a target set for :func:`entry_parameters` (empty when
    the set cannot be found)."""
    if store is None or not isinstance(name, str):
        return {}
    if name not in cache:
        from ..sets import read_set

        ref = _ref(store, name, ("neural", "features"), side="target")
        try:
            repeats = read_set(store, ref, load=False).sizes.get("repeat") if ref and ref.kind == "neural" else None
            cache[name] = {} if ref is None else {"target_kind": ref.kind, "n_repeats": repeats}
        except Exception:  # an unreadable set: compare with the kind's defaults only
            cache[name] = {}
    return cache[name]


def listed_parameters(entries: pd.DataFrame, store: StudyStore | None = None) -> list[dict[str, Any]]:
    """:func:`entry_parameters` of each row of a :func:`neuroxr.entries.list_entries` table (cRSA:
    the automatic ceiling of the row's target, read from ``store``, counts as the default)."""
    names = [c for c in entries.columns if c not in LIST_COLUMNS]
    cache: dict[Any, dict[str, Any]] = {}
    return [entry_parameters(r["kind"], {c: r[c] for c in names},
                             **(_target_shape(store, r["target"], cache) if r["kind"] == "crsa" else {}))
            for r in entries.to_dict("records")]


def _list_parameters(entries: pd.DataFrame, store: StudyStore | None = None) -> list[str]:
    """The parameter text of each row of a :func:`neuroxr.entries.list_entries` table."""
    return [parameter_text(p) for p in listed_parameters(entries, store)]


def _choose(table: pd.DataFrame, group: Callable[[Any], tuple[Any, ...] | None], pair: Sequence[str]) -> list[bool]:
    """Which rows the headline and figures use (see the module docstring).

    ``group(row)`` names the comparison a row belongs to (None: no figure shows it); ``pair``
    the columns naming an entry's pair. Only current, readable rows are used (a table without
    ``current``/``error`` columns holds only such rows); per group the
    parameter text held by the most rows wins (ties: the first in sorted order), one row per pair.
    """
    groups: dict[Any, list[Any]] = {}
    for r in table.itertuples():
        key = group(r) if getattr(r, "current", True) and getattr(r, "error", "") == "" else None
        if key is not None:
            groups.setdefault(key, []).append(r)
    used: set[Any] = set()
    for rows in groups.values():
        counts = pd.Series([r.parameters for r in rows]).value_counts()
        chosen = min(counts.index, key=lambda p: (-counts[p], p))
        seen: set[tuple[Any, ...]] = set()
        for r in rows:
            key = tuple(getattr(r, c) for c in pair)
            if r.parameters == chosen and key not in seen:
                seen.add(key)
                used.add(r.Index)
    return [i in used for i in table.index]


def _score_group(r: Any, timed: set[tuple[str, str, str]]) -> tuple[str, ...] | None:
    """The comparison a score table row belongs to: the sources of a time-resolved target
    (score-vs-time figures), or the layers of one direction, model and neural set (headline,
    layer profiles, forward vs reverse); None for entries no figure draws."""
    if (r.direction, r.source, r.target) in timed:
        return ("time", r.direction, r.target)
    if r.direction in ("forward", "reverse") and isinstance(r.model, str) and isinstance(r.neural, str):
        return (r.direction, r.model, r.neural)
    return None


def _metric_group(r: Any) -> tuple[str, ...] | None:
    """The comparison of a metric table row: the layers of one model for one metric."""
    return (r.metric, r.model) if isinstance(r.model, str) else None


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _label(key: tuple[str, ...]) -> str:
    if key[0] == "time":
        return f"{key[1]} scores of {key[2]} over time"
    if key[0] in ("forward", "reverse"):
        return f"{key[0]} {key[1]} -> {key[2]}" if key[0] == "forward" else f"reverse {key[2]} -> {key[1]}"
    return f"{key[0]} of {key[1]}"


def selection_notes(table: pd.DataFrame, scores: Mapping[tuple[str, str, str], xr.Dataset],
                    metrics: pd.DataFrame) -> list[str]:
    """One line per comparison that leaves entries out of the headline and figures.

    Parameters
    ----------
    table, scores : as returned by :func:`score_table`
    metrics : pandas.DataFrame
        :func:`metric_table`.

    Returns
    -------
    list of str
        Per comparison with current entries of other parameters, stale, damaged or unreadable entries:
        the parameter set drawn and what was left out (the entries stay in the tables).
    """
    timed = {k for k, ds in scores.items() if "time_bin" in ds.dims}
    lines = []
    for tab, group in ((table, lambda r: _score_group(r, timed)), (metrics, _metric_group)):
        groups: dict[tuple[str, ...], list[Any]] = {}
        for r in tab.itertuples():
            key = group(r)
            if key is not None:
                groups.setdefault(key, []).append(r)
        for key, rows in groups.items():
            used = [r for r in rows if r.in_figures]
            other = [r for r in rows if not r.in_figures and r.current and r.error == ""]
            stale = [r for r in rows if not r.current]
            bad = [r for r in rows if r.current and r.error != ""]
            if not (other or stale or bad):
                continue
            text = (f"{_label(key)}: drawn with {used[0].parameters} ({_n(len(used), 'entry', 'entries')})" if used
                    else f"{_label(key)}: not drawn (no current readable entry)")
            if other:
                text += (f"; left out: {_n(len(other), 'current entry', 'current entries')} with other parameters "
                         f"({'; '.join(sorted({r.parameters for r in other}))})")
            if stale:
                text += f"; left out: {_n(len(stale), 'stale entry', 'stale entries')} (input sets rewritten since, or an older revision)"
                drawn = {(r.source, r.target) for r in used}
                missing = list(dict.fromkeys(f"{r.source} -> {r.target}" for r in stale if (r.source, r.target) not in drawn))
                if missing:
                    text += f"; not drawn, no current entry (compute again): {', '.join(missing)}"
            if bad:
                text += (f"; left out: {_n(len(bad), 'damaged or unreadable entry', 'damaged or unreadable entries')} "
                         f"(see error in the table; compute them again)")
            lines.append(text + ".")
    return lines


def figure_entries(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`score_table` or :func:`metric_table` that the headline and figures use
    (``in_figures``: current, readable, one parameter set per comparison)."""
    return table[table["in_figures"].astype(bool)]


def open_store(store: StudyStore | str | os.PathLike) -> StudyStore:
    """``store``, or the store at its path or URL opened read-only (:func:`~neuroxr.store.study.as_store`)."""
    return as_store(store, "r")


def damage_by_path(found: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``path -> problem`` (the first one per path) of :meth:`~neuroxr.store.StudyStore.damaged`."""
    out: dict[str, str] = {}
    for path, problem in found:
        out.setdefault(path, problem)
    return out


def _complete(store: StudyStore, kinds: Sequence[str]) -> pd.DataFrame:
    entries = list_entries(store)
    return entries[entries["kind"].isin(kinds) & entries["complete"]]


def score_table(store: StudyStore | str | os.PathLike, damage: Mapping[str, str] | None = None,
                ) -> tuple[pd.DataFrame, dict[tuple[str, str, str], xr.Dataset]]:
    """Summarise every complete score entry of a store.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The store (a path/URL is opened read-only).
    damage : mapping, optional
        ``path -> problem`` of a scan of the store (:meth:`~neuroxr.store.StudyStore.damaged`)
        already made; see :func:`~neuroxr.entries.layout.read_entry`.

    Returns
    -------
    table : pandas.DataFrame
        One row per entry, current entries first, with the columns :data:`TABLE_COLUMNS`: EV
        statistics of :func:`ev_summary` (over the included targets, as the sweep's table);
        ``parameters`` the entry's parameters that differ from the defaults
        (:func:`entry_parameters`); ``current`` false for a stale entry (its input sets were
        rewritten since, or an older revision); ``in_figures`` true for the entries the headline
        and figures use: current, readable, and per comparison (the layers of one direction,
        model and neural set; the sources of one time-resolved target) the entries of one
        parameter set, the one held by the most entries (ties: the first by its parameter text).
        An entry that cannot be read, or that the store names damaged (:func:`~neuroxr.entries.layout.read_entry`), keeps
        its row with the reason in ``error`` and its numbers empty.
    scores : dict
        ``(direction, source, target) -> Dataset``: per pair, the entry with ``in_figures``, else
        the first readable entry of the pair in the table's order.
    """
    table, scores, _ = _score_table(store, damage)
    return table, scores


def _score_table(store: StudyStore | str | os.PathLike, damage: Mapping[str, str] | None = None,
                 ) -> tuple[pd.DataFrame, dict[tuple[str, str, str], xr.Dataset], dict[str, xr.Dataset]]:
    """:func:`score_table`, and every entry it read (``path -> Dataset``, loaded: the rows without an
    ``error``), for a caller that needs more of them than ``scores`` holds without reading them again."""
    store = open_store(store)
    entries = _complete(store, DIRECTIONS).sort_values("current", ascending=False, kind="stable")
    rows, loaded, timed_paths = [], {}, set()
    for ent, params in zip(entries.itertuples(), _list_parameters(entries, store)):
        direction, source, target = ent.kind, ent.source, ent.target
        row: dict[str, Any] = {"direction": direction, "source": source, "target": target, "error": "",
                               "parameters": params, "current": bool(ent.current), "path": ent.path}
        try:
            ds = read_entry(store, ent.path, damage).load()
            row.update(ev_summary(ds))
            loaded[ent.path] = ds
            if "time_bin" in ds.dims:
                timed_paths.add(ent.path)
            attrs = dict(ds.attrs)
        except Exception as exc:  # one bad entry must not stop the report
            row["error"] = f"{type(exc).__name__}: {exc}"
            attrs = {}
        e = _parse(store, direction, source, target, attrs)
        row.update(model=e.model, layer=e.layer, neural=e.neural, region=e.region)
        rows.append(row)
    table = as_counts(pd.DataFrame(rows, columns=TABLE_COLUMNS), ["n_excluded_stimuli"])
    # a pair is time-resolved as its current entries are (a stale entry of an older, time-resolved
    # version of the set does not make a current static one time-resolved); without a current
    # readable entry, as any of its entries is (the one the scores fall back to)
    pairs = list(zip(table["direction"], table["source"], table["target"]))
    live = {k for k, c, e in zip(pairs, table["current"], table["error"]) if c and e == ""}
    timed = {k for k, c, p in zip(pairs, table["current"], table["path"]) if p in timed_paths and (c or k not in live)}
    table["in_figures"] = _choose(table, lambda r: _score_group(r, timed), ["direction", "source", "target"])
    scores: dict[tuple[str, str, str], xr.Dataset] = {}
    for r in table.sort_values(["in_figures", "current"], ascending=False, kind="stable").itertuples():
        if r.path in loaded:
            scores.setdefault((r.direction, r.source, r.target), loaded[r.path])
    return table, scores, loaded


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def _rep_mean(ds: xr.Dataset) -> xr.DataArray:
    # all-NaN reps give NaN, silently: no warning filter, which is process-wide (another thread's lost)
    return nanmean_over(ds["ev"], "rep") if "rep" in ds["ev"].dims else ds["ev"]


def stack_layers(scores: Sequence[xr.Dataset], layers: Sequence[str]) -> xr.DataArray:
    """Stack per-layer score Datasets into one ``(layer, <target>)`` DataArray of rep-mean EV.

    Forward scores (targets = the same neuroids in every layer) are paired by ``neuroid_id``
    and keep the neuroid coords (``region`` ...). Reverse scores (targets = each layer's own
    units) are stacked by position and padded with NaN to the largest layer.

    Parameters
    ----------
    scores : sequence of Dataset
        One score Dataset per layer, in the order of ``layers``.
    layers : sequence of str
        Layer names, in depth order.

    Returns
    -------
    xarray.DataArray, dims (layer, neuroid) or (layer, unit)
    """
    if len(scores) != len(layers) or not scores:
        raise LayoutError(f"stack_layers: give one score Dataset per layer; got {len(scores)} and {len(layers)} layers.")
    evs = [_rep_mean(ds) for ds in scores]
    tdim = evs[0].dims[0]
    if any(ev.dims != (tdim,) for ev in evs):
        raise LayoutError(f"stack_layers: every layer needs scores over the same target dim; got {[ev.dims for ev in evs]}.")
    if tdim == "neuroid" and all("neuroid_id" in ev.coords for ev in evs):
        ids = list(dict.fromkeys(i for ev in evs for i in np.asarray(ev.neuroid_id.values).astype(str)))
        values = np.full((len(evs), len(ids)), np.nan)
        pos = {i: k for k, i in enumerate(ids)}
        for j, ev in enumerate(evs):
            values[j, [pos[i] for i in np.asarray(ev.neuroid_id.values).astype(str)]] = ev.values
        coords: dict[str, Any] = {"neuroid_id": ("neuroid", ids)}
        ref = max(evs, key=lambda ev: ev.sizes["neuroid"])
        for name, c in ref.coords.items():
            if c.dims == ("neuroid",) and name != "neuroid_id":
                lookup = dict(zip(np.asarray(ref.neuroid_id.values).astype(str), np.asarray(c.values)))
                if all(i in lookup for i in ids):
                    coords[name] = ("neuroid", [lookup[i] for i in ids])
    else:
        width = max(ev.sizes[tdim] for ev in evs)
        values = np.full((len(evs), width), np.nan)
        for j, ev in enumerate(evs):
            values[j, : ev.sizes[tdim]] = ev.values
        coords = {}
    return xr.DataArray(values, dims=("layer", tdim), coords={"layer": list(layers), **coords}, name="ev",
                        attrs={"units": "percent"})


#: columns of :func:`metric_table`, in order
METRIC_COLUMNS = ["metric", "source", "target", "model", "layer", "value", "train_value", *EXCLUDED_COUNTS,
                  "lower_is_better", "parameters", "current", "in_figures", "path", "error"]


def metric_table(store: StudyStore | str | os.PathLike, damage: Mapping[str, str] | None = None,
                 ) -> tuple[pd.DataFrame, dict[str, xr.Dataset]]:
    """Every complete metric entry (cRSA, eRSA, eReg, shape, CKA, dimensionality) of a store.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
    damage : mapping, optional
        As in :func:`score_table`.

    Returns
    -------
    table : pandas.DataFrame
        One row per entry, current entries first, with the columns :data:`METRIC_COLUMNS`;
        ``value`` is the test split where the entry has a train/test split
        (:func:`neuroxr.entries.metric_value`), ``train_value`` the train split (else NaN);
        ``model``/``layer`` name the source when it is a feature set; ``n_excluded_stimuli`` /
        ``n_excluded_neuroids`` the entry's counts of what it dropped for missing trials (empty
        where it has none: written before the counts existed); ``parameters``,
        ``current`` and ``in_figures`` as in :func:`score_table` (a comparison: the layers of one
        model for one metric). An entry that cannot be read, or that the store names damaged,
        keeps its row with the reason in ``error`` and its numbers empty.
    datasets : dict
        ``path -> Dataset`` of the readable entries.
    """
    from ..entries import METRIC_KINDS, metric_value

    store = open_store(store)
    entries = _complete(store, METRIC_KINDS).sort_values("current", ascending=False, kind="stable")
    rows, out = [], {}
    for ent, params in zip(entries.itertuples(), _list_parameters(entries, store)):
        target = ent.target if isinstance(ent.target, str) else None
        row: dict[str, Any] = {"metric": ent.kind, "source": ent.source, "target": target, "current": bool(ent.current),
                               "parameters": params, "path": ent.path, "error": "", "value": np.nan,
                               "train_value": np.nan}
        ref = _ref(store, ent.source, ("features",), lambda p=ent.path: decode_attrs(store.examine(p).attrs or {}), "source")
        row["model"], row["layer"] = (ref.model, ref.layer) if ref is not None and ref.kind == "features" else (None, None)
        try:
            ds = read_entry(store, ent.path, damage).load()
            row["value"] = metric_value(ds)
            if "split" in ds["score"].dims and "train" in ds["split"]:
                row["train_value"] = metric_value(ds, "train")
            row["lower_is_better"] = bool(ds.attrs.get("lower_is_better", ent.kind == "shape"))
            row.update(excluded_counts(ds.attrs, EXCLUDED_COUNTS))
            out[ent.path] = ds
        except Exception as exc:  # one bad entry must not stop the report
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    table = as_counts(pd.DataFrame(rows, columns=METRIC_COLUMNS), EXCLUDED_COUNTS)
    table["in_figures"] = _choose(table, _metric_group, ["metric", "source", "target"])
    return table, out


def provenance_table(datasets: dict[str, xr.Dataset]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The parameters and package versions of entries, from their attrs.

    Parameters
    ----------
    datasets : dict
        ``path -> entry Dataset``.

    Returns
    -------
    parameters : pandas.DataFrame
        Columns ``path``, ``kind``, ``parameters`` (``key=value`` pairs of the entry's
        ``parameters`` attr) and ``versions`` (an id into ``versions``).
    versions : pandas.DataFrame
        One row per distinct set of package versions: ``versions`` (the id) and one column per
        package.
    """
    if not isinstance(datasets, Mapping):
        raise LayoutError(f"provenance_table: datasets must be a mapping path -> entry Dataset; got {type(datasets).__name__}.")
    rows, seen = [], {}
    for path, ds in datasets.items():
        attrs = decode_attrs(ds.attrs)
        prov = attrs.get("neuroxr_provenance") if isinstance(attrs.get("neuroxr_provenance"), dict) else {}
        params = attrs.get("parameters") if isinstance(attrs.get("parameters"), dict) else prov.get("params", {})
        versions = attrs.get("versions") if isinstance(attrs.get("versions"), dict) else {}
        key = tuple(sorted((str(k), str(v)) for k, v in versions.items()))
        vid = seen.setdefault(key, f"v{len(seen) + 1}")
        rows.append({"path": path, "kind": prov.get("kind", attrs.get("direction", attrs.get("metric", ""))),
                     "parameters": ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
                     "versions": vid})
    vrows = [{"versions": vid, **dict(key)} for key, vid in seen.items()]
    return pd.DataFrame(rows, columns=["path", "kind", "parameters", "versions"]), pd.DataFrame(vrows)
