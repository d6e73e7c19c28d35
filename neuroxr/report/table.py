"""The score table of a study store: one row per complete score entry, and layer stacking.

:func:`score_table` reads every complete score entry (forward, reverse, inter-animal,
model-to-model) with :func:`neuroxr.entries.list_entries` and summarises the rep-mean EV of the
*included* targets (``min_reliability``), as the sweep's tables do (:func:`ev_summary`);
:func:`stack_layers` turns per-layer score Datasets into one ``(layer, target)`` array for
:func:`neuroxr.plot.layer_profile`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..entries.kinds import DIRECTION_KINDS as DIRECTIONS
from ..entries.layout import list_entries
from ..errors import LayoutError
from ..sets import SetRef, resolve
from ..store import StudyStore
from ..sweep._util import nanmean, nanmedian

__all__ = ["ReportEntry", "score_table", "metric_table", "provenance_table", "stack_layers", "open_store", "first_per_pair",
           "ev_summary", "TABLE_COLUMNS", "METRIC_COLUMNS"]

#: columns of :func:`score_table`, in order
TABLE_COLUMNS = [
    "direction", "source", "target", "model", "layer", "neural", "region", "target_kind",
    "n_targets", "n_excluded", "n_all", "reps", "median_ev", "mean_ev", "q25_ev", "q75_ev", "regressor", "seed",
    "current", "path", "error",
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
    neural : str or None
        The neural set (forward/reverse) or, for inter-animal, the target set.
    region : str
        ``"all"`` unless the entry scores a region subset ``<neural>.<region>``.
    """

    direction: str
    source: str
    target: str
    model: str | None = None
    layer: str | None = None
    neural: str | None = None
    region: str = "all"


def _ref(store: StudyStore, name: str, kinds: tuple[str, ...]) -> SetRef | None:
    try:
        return resolve(store, name, kinds=kinds, strict=False)
    except LayoutError:  # the set was deleted since: name parts come from the entry's attrs
        return None


_SIDES = {"forward": ("features", "neural"), "reverse": ("neural", "features"),
          "inter_animal": ("neural", "neural"), "model_to_model": ("features", "features")}


def _parse(store: StudyStore, direction: str, source: str, target: str, attrs: dict[str, Any]) -> ReportEntry:
    e = ReportEntry(direction, source, target)
    kinds = _SIDES.get(direction, ("features", "neural"))
    refs = [_ref(store, source, (kinds[0],)), _ref(store, target, (kinds[1],))]
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
    pools its (target, time bin) values.

    Parameters
    ----------
    ds : xarray.Dataset
        A score entry: ``ev`` over a ``neuroid`` or ``unit`` dim (and ``rep``).

    Returns
    -------
    dict
        ``target_kind`` (the target dim), ``n_targets`` (included targets with a finite EV: the
        sweep's ``n_targets``), ``n_excluded`` (targets with ``included`` false), ``n_all`` (every
        target), ``reps``, ``median_ev`` and ``mean_ev`` (the sweep's ``median_ev``/``mean_ev``;
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
    values = np.asarray(per_target.values, dtype=float)[inc]
    finite = values[np.isfinite(values)]
    q25, q75 = np.percentile(finite, [25, 75]) if finite.size else (np.nan, np.nan)
    n_excluded = int((~np.asarray(ds["included"].values, dtype=bool)).sum()) if "included" in ds else 0
    return {
        "target_kind": tdim, "n_targets": int(finite.size), "n_excluded": n_excluded, "n_all": int(ds.sizes[tdim]),
        "reps": int(ds.sizes.get("rep", 1)), "median_ev": float(nanmedian(values)), "mean_ev": float(nanmean(values)),
        "q25_ev": float(q25), "q75_ev": float(q75),
        "regressor": ds.attrs.get("regressor"), "seed": ds.attrs.get("seed"),
    }


def open_store(store: StudyStore | str | os.PathLike) -> StudyStore:
    return store if isinstance(store, StudyStore) else StudyStore(store, mode="r")


def _complete(store: StudyStore, kinds: Sequence[str]) -> pd.DataFrame:
    entries = list_entries(store)
    return entries[entries["kind"].isin(kinds) & entries["complete"]]


def first_per_pair(table: pd.DataFrame) -> pd.DataFrame:
    """The first row per (kind, source, target) of :func:`score_table` or :func:`metric_table`:
    the entry that figures show (the current one when a pair has several)."""
    kind = "direction" if "direction" in table.columns else "metric"
    return table.drop_duplicates([kind, "source", "target"], keep="first")


def score_table(store: StudyStore | str | os.PathLike) -> tuple[pd.DataFrame, dict[tuple[str, str, str], xr.Dataset]]:
    """Summarise every complete score entry of a store.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The store (a path/URL is opened read-only).

    Returns
    -------
    table : pandas.DataFrame
        One row per entry with the columns :data:`TABLE_COLUMNS`; EV statistics of
        :func:`ev_summary` (over the included targets' rep-mean EV, percent, as the sweep's table). An entry that cannot be read keeps its row with the
        reason in ``error``.
    scores : dict
        ``(direction, source, target) -> Dataset`` of the readable entries.
    """
    store = open_store(store)
    entries = _complete(store, DIRECTIONS)
    # per pair, the current entry first: it is the one figures show
    entries = entries.sort_values("current", ascending=False, kind="stable")
    rows, scores = [], {}
    for ent in entries.itertuples():
        direction, source, target = ent.kind, ent.source, ent.target
        row: dict[str, Any] = {"direction": direction, "source": source, "target": target, "error": "",
                               "current": bool(ent.current), "path": ent.path}
        try:
            ds = store.read_dataset(ent.path).load()
            row.update(ev_summary(ds))
            scores.setdefault((direction, source, target), ds)
            attrs = dict(ds.attrs)
        except Exception as exc:  # one bad entry must not stop the report
            row["error"] = f"{type(exc).__name__}: {exc}"
            attrs = {}
        e = _parse(store, direction, source, target, attrs)
        row.update(model=e.model, layer=e.layer, neural=e.neural, region=e.region)
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table, scores


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def _rep_mean(ds: xr.Dataset) -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ds["ev"].mean("rep", skipna=True) if "rep" in ds["ev"].dims else ds["ev"]


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
METRIC_COLUMNS = ["metric", "source", "target", "model", "layer", "value", "train_value", "lower_is_better",
                  "current", "path", "error"]


def metric_table(store: StudyStore | str | os.PathLike) -> tuple[pd.DataFrame, dict[str, xr.Dataset]]:
    """Every complete metric entry (cRSA, eRSA, eReg, shape, CKA, dimensionality) of a store.

    Returns
    -------
    table : pandas.DataFrame
        One row per entry with the columns :data:`METRIC_COLUMNS`; ``value`` is the test split
        where the entry has a train/test split (:func:`neuroxr.entries.metric_value`),
        ``train_value`` the train split (else NaN); ``model``/``layer`` name the source when it
        is a feature set.
    datasets : dict
        ``path -> Dataset`` of the readable entries.
    """
    from ..entries import METRIC_KINDS, metric_value

    store = open_store(store)
    entries = _complete(store, METRIC_KINDS).sort_values("current", ascending=False, kind="stable")
    rows, out = [], {}
    for ent in entries.itertuples():
        target = ent.target if isinstance(ent.target, str) else None
        row: dict[str, Any] = {"metric": ent.kind, "source": ent.source, "target": target, "current": bool(ent.current),
                               "path": ent.path, "error": "", "value": np.nan, "train_value": np.nan}
        ref = _ref(store, ent.source, ("features",))
        row["model"], row["layer"] = (ref.model, ref.layer) if ref is not None and ref.kind == "features" else (None, None)
        try:
            ds = store.read_dataset(ent.path).load()
            row["value"] = metric_value(ds)
            if "split" in ds["score"].dims and "train" in ds["split"]:
                row["train_value"] = metric_value(ds, "train")
            row["lower_is_better"] = bool(ds.attrs.get("lower_is_better", ent.kind == "shape"))
            out[ent.path] = ds
        except Exception as exc:  # one bad entry must not stop the report
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), out


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
    rows, seen = [], {}
    for path, ds in datasets.items():
        attrs = ds.attrs
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
