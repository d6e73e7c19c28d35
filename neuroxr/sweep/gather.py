"""Gathering a sweep's entries from the store: :class:`SweepResult`, :func:`gather`, :func:`gather_metrics`.

Each planned entry is read from the store entry whose provenance matches the sweep's parameters
(:func:`neuroxr.entries.lookup`); entries without one are left out: NaN in the Datasets, no row in
the tables. The tables carry, besides each entry's labels, its **parameter columns**
(:data:`PARAM_COLUMNS` for the directions, the metric's own options for the metrics), read from
the entry's provenance, so that a table row says how its number was computed.

Summaries over targets (median and mean EV per entry, ``n_targets``, the best layers) count only
the targets with ``included`` true (the predictivity result's variable set by ``min_reliability=``;
entries without it count every target). The per-target table keeps every target with its
``included`` flag. Time-resolved entries (a ``time_bin`` dim) give one table row per bin, with the
columns :data:`TIME_COLUMNS` (ms; NaN for static entries); they are left out of the Dataset.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import encode_attrs
from ..store import StudyStore
from ._util import (
    EXCLUDED_COUNTS,
    TIME_COLUMNS,
    as_counts,
    excluded_counts,
    included_summary,
    nanmean,
    nanmedian,
    nanstd,
    ordered,
    per_bin,
)
from .plan import Entry
from .tasks import entry_lookup, entry_params, read_or_damage

__all__ = ["METRIC_TABLE_COLUMNS", "PARAM_COLUMNS", "TIME_COLUMNS", "SweepResult", "gather", "gather_metrics", "check_inputs_current"]


@dataclass
class SweepResult:
    """What a sweep computed and gathered.

    Attributes
    ----------
    entries : list of Entry
        Every planned entry.
    computed : list of str
        Keys of the entries this run computed and wrote.
    skipped : list of str
        Keys of the entries whose provenance matched a complete stored entry (same parameters,
        same input set versions): read back, not computed.
    failed : dict[str, str]
        Keys of entries whose task failed (only with ``on_error="warn"``) and the error.
    seconds : float
        Wall-clock time of the task phase (the inference entries are computed after it).
    inference_computed : list of str
        Store paths of the inference entries (bootstrap, permutation; ``inference``) this run
        computed and wrote: new ones, and those whose stored entry no longer matches (an older
        revision, rewritten input sets) or was replaced (``overwrite``).
    inference_skipped : list of str
        Store paths of the inference entries read back: a complete stored entry matched.
    task_info : dict[str, dict]
        Per computed entry: ``seconds`` on the worker and the worker's ``peak_rss_mb``.
    dataset : xarray.Dataset
        See :func:`gather`.
    table : pandas.DataFrame
        One row per entry: its labels, ``key``, ``path`` (its store entry), ``n_targets``,
        ``n_excluded_stimuli`` (stimuli left out for want of a valid trial; see :func:`gather`),
        ``median_ev``, ``mean_ev`` (over included targets) and the parameter columns
        :data:`PARAM_COLUMNS` (``reps``, ``seed``, ``regressor``, ...).
    target_table : pandas.DataFrame
        One row per entry x target (labels, ``target_id``, ``ev`` = mean over reps, ``ev_sd``
        = SD over reps, ``r``, ``included``).
    best_layers : pandas.DataFrame
        See :func:`best_layers`.
    metrics : xarray.Dataset
        The metric entries (RSA, shape, CKA, dimensionality) over metric x model x layer x neural
        x region; see :func:`gather_metrics`. Empty when the sweep names no metric.
    metric_table : pandas.DataFrame
        One row per metric entry: its labels, ``value``, ``train_value``, ``ceiling``,
        ``n_excluded_stimuli`` / ``n_excluded_neuroids`` (dropped for missing trials) and one column
        per option of the metrics (``reps``, ``alpha``, ``debiased``, ...).
    inference_table : pandas.DataFrame
        One row per direction entry when the sweep asked for ``inference``: the median EV
        with its bootstrap interval and the permutation p-value (:mod:`neuroxr.sweep.inference`).
    """

    entries: list[Entry]
    computed: list[str]
    skipped: list[str]
    failed: dict[str, str]
    seconds: float
    task_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset: xr.Dataset = field(default_factory=xr.Dataset)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    target_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    best_layers: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: xr.Dataset = field(default_factory=xr.Dataset)
    metric_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    inference_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    inference_computed: list[str] = field(default_factory=list)
    inference_skipped: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        n_inf = len(self.inference_computed) + len(self.inference_skipped)
        inf = (f"; {n_inf} inference entries: {len(self.inference_computed)} computed, "
               f"{len(self.inference_skipped)} skipped" if n_inf else "")
        return (
            f"<SweepResult {len(self.entries)} entries: {len(self.computed)} computed, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed; {self.seconds:.1f} s{inf}>"
        )

    def summary(self) -> str:
        """One line: the entries computed and read back, then (when the sweep asked for
        ``inference``) the inference entries, counted by the same rule: computed by this run, or a
        matching complete entry read back from the store."""
        line = (f"{len(self.entries)} entries: {len(self.computed)} computed, {len(self.skipped)} already in the store"
                + (f", {len(self.failed)} failed" if self.failed else "") + f" ({self.seconds:.1f} s)")
        n_inf = len(self.inference_computed) + len(self.inference_skipped)
        if n_inf:
            line += (f"; {n_inf} inference entries: {len(self.inference_computed)} computed, "
                     f"{len(self.inference_skipped)} already in the store")
        return line + "."


#: Parameter columns of :attr:`SweepResult.table` (from each score entry's provenance; None where
#: a direction lacks one, e.g. model_to_model's ceiling arguments).
PARAM_COLUMNS = ["reps", "seed", "regressor", "alpha", "n_components", "alphas", "n_folds", "fold_seed", "max_n",
                 "noise_ceiling", "split", "min_reliability", "dtype"]


#: Columns of :attr:`SweepResult.metric_table` before the metrics' parameter columns.
METRIC_TABLE_COLUMNS = ["metric", "source", "target", "model", "layer", "neural", "region", "key", "path", "value",
                        "train_value", "ceiling", *EXCLUDED_COUNTS]


def _plain(v: Any) -> Any:
    """An attr value as a plain Python scalar or tuple (table cells, JSON)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_plain(x) for x in v)
    return v


def _param_column(name: str) -> str:
    """Column of a metric option in the metric table (``<name>_option`` where it would shadow a
    fixed column, e.g. cRSA's ``ceiling`` switch next to the ``ceiling`` value)."""
    return f"{name}_option" if name in METRIC_TABLE_COLUMNS else name


def _locate(store: StudyStore, entries: Sequence[Entry], paths: Mapping[str, str] | None,
            score_kwargs: Mapping[str, Any] | None, metric_options: Mapping[str, Mapping[str, Any]] | None,
            failed: Collection[str] = ()) -> list[str | None]:
    """The store path of each entry: ``paths[entry.key]``, else the entry matching the parameters;
    none for the entries that ``failed`` in this run (an older copy it was to replace is not theirs)."""
    out: list[str | None] = []
    for e in entries:
        path = (paths or {}).get(e.key)
        if path is None and e.key not in failed:
            path = entry_lookup(store, e, entry_params(e, score_kwargs or {}, metric_options or {}))
        out.append(path)
    return out


def _read_all(store: StudyStore, paths: Sequence[str | None],
              read: Mapping[str, xr.Dataset] | None = None) -> list[xr.Dataset | None]:
    def _read(path: str | None) -> xr.Dataset | None:
        if path is not None and read and path in read:  # read already (:func:`read_reused`)
            return read[path]
        return None if path is None or not store.is_complete(path) else store.read_dataset(path).load()

    with ThreadPoolExecutor(max_workers=8) as pool:  # reading many small entries is latency-bound
        return list(pool.map(_read, paths))


def read_reused(store: StudyStore, paths: Mapping[str, str]) -> tuple[dict[str, xr.Dataset], dict[str, str]]:
    """The entries a sweep reuses (entry key -> path), read once for its tables, and those whose chunks
    cannot be decoded (damage their metadata does not show: bytes changed since the write), entry key ->
    the damage, to be computed again (:func:`neuroxr.entries.compute` replaces such an entry)."""
    keys = list(paths)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = dict(zip(keys, pool.map(lambda key: read_or_damage(store, paths[key]), keys)))
    return ({paths[k]: v for k, v in got.items() if not isinstance(v, str)},
            {k: v for k, v in got.items() if isinstance(v, str)})


def check_inputs_current(store: StudyStore, paths: Sequence[str], error: Any) -> None:
    """Refuse a sweep's result when a set it read was rewritten while it ran: the entries looked up or
    computed before the rewrite are the old version's, those after it the new one's, and the tables
    (and the best layers) would compare the two. Each entry's input tokens (its provenance) are
    checked against the sets' tokens read afresh, past any cached document; ``error(message)``
    makes the exception raised. A re-run of the sweep computes the stale entries from the current sets."""
    from ..attrs import decode_attrs
    from ..entries.provenance import inputs

    tokens: dict[str, str | None] = {}
    stale: dict[str, list[str]] = {}
    for path in paths:
        for src, token in inputs(decode_attrs(store.group_attrs(path) or {})).items():
            if src not in tokens:
                tokens[src] = store.token(src, fresh=True)
            if tokens[src] != token:
                stale.setdefault(src, []).append(path)
    if stale:
        named = "; ".join(f"{src} ({len(ps)}, e.g. {ps[0]})" for src, ps in sorted(stale.items()))
        raise error(f"sweep: set{'s' if len(stale) > 1 else ''} rewritten while the sweep ran, so its entries would mix two "
                    f"versions; entries computed from the previous version: {named}. Run the sweep again: it computes "
                    f"them from the current sets.")


def _included(ds: xr.Dataset, tdim: str) -> np.ndarray:
    """The ``included`` flag per target (all True for entries written without it)."""
    if "included" in ds:
        return np.asarray(ds["included"].transpose(tdim).values, dtype=bool)
    return np.ones(ds.sizes[tdim], dtype=bool)


def _params(ds: xr.Dataset) -> dict[str, Any]:
    from ..attrs import decode_attrs
    from ..entries.provenance import PROVENANCE_ATTR

    attrs = decode_attrs(ds.attrs)
    return dict((attrs.get(PROVENANCE_ATTR) or {}).get("params") or attrs.get("parameters") or {})


def gather(store: StudyStore, entries: Sequence[Entry], *, paths: Mapping[str, str] | None = None,
           score_kwargs: Mapping[str, Any] | None = None, read: Mapping[str, xr.Dataset] | None = None,
           failed: Collection[str] = ()) -> tuple[xr.Dataset, pd.DataFrame, pd.DataFrame]:
    """Read the entries' scores from the store into one Dataset and two tidy tables.

    Parameters
    ----------
    store : StudyStore
    entries : sequence of Entry
        Direction entries.
    paths : mapping, optional
        Entry key -> store path (what a sweep run found or wrote); other entries are looked up.
    score_kwargs : mapping, optional
        The sweep's score arguments (default: the directions' defaults): an entry is read from the
        store entry with these parameters (:func:`neuroxr.entries.lookup`), or left out (NaN).
    failed : collection of str, default ()
        Keys of the entries that failed in the sweep run: left out (NaN), never read from an older
        copy that ``overwrite`` was to replace.

    Returns
    -------
    dataset : xarray.Dataset
        Dims ``direction`` (forward/reverse), ``model``, ``layer`` (union of every model's layers;
        coord ``layer_depth(model, layer)`` gives each model's depth order, NaN where the model
        lacks the layer), ``neural``, ``region`` (``"all"`` = whole set) and ``rep``:

        - ``ev`` (direction, model, layer, neural, region): median over included targets of the rep-mean EV;
        - ``ev_mean``, ``n_targets``: mean over targets, number of targets;
        - ``ev_rep`` (..., rep): median over targets per rep (the spread over reps);
        - ``forward_ev`` (model, layer, neural, region, neuroid): rep-mean EV per neuroid
          (``neuroid`` = union of the neural sets' ``neuroid_id``, also coord ``neuroid_id`` as in
          the scores, ``unit_id`` likewise; NaN outside a set or region);
        - ``reverse_ev`` (model, layer, neural, region, unit): rep-mean EV per unit (``unit`` =
          union of the layers' ``unit_id``);
        - ``inter_animal_ev`` (source_neural, neural, region) and
          ``inter_animal_ev_neuroid`` (source_neural, neural, region, neuroid);
        - ``model_to_model_ev`` (model, layer, target_model, target_layer): median over target units.

        Variables of directions that the sweep did not score are absent.
        Attrs: ``store`` and the parameters every entry read shares (``reps``, ``seed``, ...; ``seed`` and
        ``split`` only where every entry's attrs have them;
        :func:`neuroxr.attrs.decode_attrs` decodes those held as JSON).
    table : pandas.DataFrame
        One row per entry: labels, ``key``, ``path``, ``n_targets``, ``n_excluded_stimuli``,
        ``median_ev``, ``mean_ev`` (over the included targets) and the parameters
        :data:`PARAM_COLUMNS` from the entry's provenance (None where an entry lacks one; ``seed`` and ``split``
        only where the entry's attrs have them, ``seed`` an ``Int64`` column).
        ``n_excluded_stimuli`` is the entry's attr (the stimuli on which no target has the valid
        trials its score needs; a time-resolved entry's row: that bin's count), an ``Int64`` column
        empty for entries written before the count existed.
    target_table : pandas.DataFrame
        One row per entry x target.
    """
    rows, trows = [], []
    loaded: list[tuple[Entry, xr.Dataset]] = []
    located = _locate(store, entries, paths, score_kwargs, None, failed)
    timed, provs = False, []
    for e, path, ds_all in zip(entries, located, _read_all(store, located, read)):  # read: the reused entries, read once
        if ds_all is None:
            continue
        prov = _params(ds_all)  # decoded once per entry: its rows and the shared attrs
        for k in ("seed", "split"):  # what drew nothing (no ceiling, no max_n) the score's attrs leave out, as the report
            if k not in ds_all.attrs:
                prov.pop(k, None)
        provs.append(prov)
        if "time_bin" not in ds_all.dims:
            loaded.append((e, ds_all))
        timed = timed or "time_bin" in ds_all.dims
        for t, (when, ds) in enumerate(per_bin(ds_all)):
            _rows(e, path, ds, prov, when, rows, trows, t if when else None)
    cols = list(Entry("x", "x", "x").labels()) + (list(TIME_COLUMNS) if timed else [])
    table = pd.DataFrame(rows, columns=cols + ["key", "path", "n_targets", "n_excluded_stimuli", "median_ev", "mean_ev",
                                               *PARAM_COLUMNS])
    table = as_counts(table, ["n_excluded_stimuli", "seed"])  # a seed that drew nothing: an empty cell
    target_table = (pd.concat(trows, ignore_index=True) if trows else pd.DataFrame(columns=cols + ["target_kind", "target_id", "ev", "ev_sd", "r", "included"]))
    return _with_shared_params(_dataset(store, entries, loaded), provs), table, target_table


def _with_shared_params(ds: xr.Dataset, params: Sequence[Mapping[str, Any]]) -> xr.Dataset:
    """``ds`` with the parameters that every entry read shares as attrs (``params``: each entry's,
    :func:`_params`; the tables give each entry's own), storable (:func:`neuroxr.attrs.encode_attrs`)."""
    shared = {k: v for k, v in (params[0] if params else {}).items() if all(k in p and p[k] == v for p in params[1:])}
    ds.attrs = encode_attrs({**shared, **ds.attrs})
    return ds


def _rows(e: Entry, path: str | None, ds: xr.Dataset, prov: Mapping[str, Any], when: dict[str, float], rows: list,
          trows: list, time_bin: int | None = None) -> None:
    """The table row and the per-target rows of one (static, or bin ``time_bin`` of a time-resolved) entry
    (``prov``: the entry's parameters, :func:`_params`)."""
    tdim = "neuroid" if "neuroid" in ds.dims else "unit"
    ev = np.asarray(ds["ev"].transpose(tdim, "rep").values, dtype=float)
    ev_t = nanmean(ev, axis=1)
    inc = _included(ds, tdim)
    r_t = nanmean(np.asarray(ds["r"].transpose(tdim, "rep").values, dtype=float), axis=1) if "r" in ds else np.full(len(ev_t), np.nan)
    labels = {**e.labels(), **when}
    params = {k: _plain(prov.get(k)) for k in PARAM_COLUMNS}  # seed, split: only where the score drew with them (gather)
    params["reps"] = int(ev.shape[1]) if params["reps"] is None else params["reps"]
    rows.append({**labels, "key": e.key, "path": path, **included_summary(ev_t, inc),
                 **excluded_counts(ds.attrs, ["n_excluded_stimuli"], time_bin), **params})
    ids = np.asarray(ds[f"{tdim}_id"].values).astype(str)
    trows.append(pd.DataFrame({**{k: [v] * len(ids) for k, v in labels.items()}, "target_kind": tdim,
                               "target_id": ids, "ev": ev_t, "ev_sd": nanstd(ev, axis=1), "r": r_t,
                               "included": inc}))


def _dataset(store: StudyStore, entries: Sequence[Entry], loaded: list[tuple[Entry, xr.Dataset]]) -> xr.Dataset:
    fr = [e for e in entries if e.direction in ("forward", "reverse")]
    models = ordered([e.model for e in entries if e.model] + [e.target_model for e in entries if e.target_model])
    layers = ordered([e.layer for e in entries if e.layer] + [e.target_layer for e in entries if e.target_layer])
    neural = ordered([e.neural for e in entries if e.neural])
    regions = ordered([e.region for e in entries if e.direction != "model_to_model"])
    dirs = ordered([e.direction for e in fr])
    ds = xr.Dataset(coords={"model": models, "layer": layers, "neural": neural, "region": regions, "direction": dirs})
    if models and layers:
        depth = np.full((len(models), len(layers)), np.nan)
        for i, m in enumerate(models):
            if m in store.models():
                for j, l in enumerate(store.layers(m)):
                    if l in layers:
                        depth[i, layers.index(l)] = j
        ds = ds.assign_coords(layer_depth=(("model", "layer"), depth))
    by_dir: dict[str, list[tuple[Entry, xr.Dataset]]] = {}
    for e, s in loaded:
        by_dir.setdefault(e.direction, []).append((e, s))
    if dirs:
        reps = max([s.sizes["rep"] for e, s in loaded if e.direction in dirs] or [0])
        shape = (len(dirs), len(models), len(layers), len(neural), len(regions))
        ev, ev_mean, n_t = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, dtype=int)
        ev_rep = np.full(shape + (reps,), np.nan)
        for d in dirs:
            for e, s in by_dir.get(d, []):
                tdim = "neuroid" if d == "forward" else "unit"
                v = np.asarray(s["ev"].transpose(tdim, "rep").values, dtype=float)
                idx = (dirs.index(d), models.index(e.model), layers.index(e.layer), neural.index(e.neural), regions.index(e.region))
                inc = _included(s, tdim)
                vt = nanmean(v, axis=1)[inc]
                ev[idx], ev_mean[idx], n_t[idx] = nanmedian(vt), nanmean(vt), int(np.isfinite(vt).sum())
                ev_rep[idx][: v.shape[1]] = nanmedian(v[inc], axis=0)
        dims = ("direction", "model", "layer", "neural", "region")
        ds["ev"] = (dims, ev, {"units": "percent", "long_name": "median over targets of the rep-mean EV"})
        ds["ev_mean"] = (dims, ev_mean, {"units": "percent", "long_name": "mean over targets of the rep-mean EV"})
        ds["n_targets"] = (dims, n_t)
        ds["ev_rep"] = (dims + ("rep",), ev_rep, {"units": "percent", "long_name": "median over targets per rep"})
        ds = ds.assign_coords(rep=np.arange(reps))
        for d, tdim in (("forward", "neuroid"), ("reverse", "unit")):
            items = by_dir.get(d, [])
            if d not in dirs:
                continue
            ids = ordered(i for _, s in items for i in np.asarray(s[f"{tdim}_id"].values).astype(str))
            pos = {i: k for k, i in enumerate(ids)}
            arr = np.full((len(models), len(layers), len(neural), len(regions), len(ids)), np.nan)
            for e, s in items:
                vt = nanmean(np.asarray(s["ev"].transpose(tdim, "rep").values, dtype=float), axis=1)
                cols = [pos[i] for i in np.asarray(s[f"{tdim}_id"].values).astype(str)]
                arr[models.index(e.model), layers.index(e.layer), neural.index(e.neural), regions.index(e.region), cols] = vt
            ds[f"{d}_ev"] = (("model", "layer", "neural", "region", tdim), arr, {"units": "percent", "long_name": f"{d} rep-mean EV per {tdim}"})
            ds = ds.assign_coords({tdim: ids})
    items = by_dir.get("inter_animal", [])
    if any(e.direction == "inter_animal" for e in entries):
        srcs = ordered(e.source_neural for e in entries if e.direction == "inter_animal")
        ds = ds.assign_coords(source_neural=srcs)
        ids = ordered(i for _, s in items for i in np.asarray(s["neuroid_id"].values).astype(str))
        if "neuroid" in ds.coords:
            ids = ordered(list(ds["neuroid"].values.astype(str)) + ids)
        pos = {i: k for k, i in enumerate(ids)}
        summ = np.full((len(srcs), len(neural), len(regions)), np.nan)
        per = np.full((len(srcs), len(neural), len(regions), len(ids)), np.nan)
        for e, s in items:
            vt = nanmean(np.asarray(s["ev"].transpose("neuroid", "rep").values, dtype=float), axis=1)
            i = (srcs.index(e.source_neural), neural.index(e.neural), regions.index(e.region))
            summ[i] = nanmedian(vt[_included(s, "neuroid")])
            per[i + ([pos[x] for x in np.asarray(s["neuroid_id"].values).astype(str)],)] = vt
        if "neuroid" in ds.coords and len(ids) > ds.sizes["neuroid"]:
            ds = ds.reindex(neuroid=ids)
        ds = ds.assign_coords(neuroid=ids) if "neuroid" not in ds.coords else ds
        ds["inter_animal_ev"] = (("source_neural", "neural", "region"), summ, {"units": "percent"})
        ds["inter_animal_ev_neuroid"] = (("source_neural", "neural", "region", "neuroid"), per, {"units": "percent"})
    if any(e.direction == "model_to_model" for e in entries):
        tm = ordered(e.target_model for e in entries if e.direction == "model_to_model")
        tl = ordered(e.target_layer for e in entries if e.direction == "model_to_model")
        ds = ds.assign_coords(target_model=tm, target_layer=tl)
        arr = np.full((len(models), len(layers), len(tm), len(tl)), np.nan)
        for e, s in by_dir.get("model_to_model", []):
            vt = nanmean(np.asarray(s["ev"].transpose("unit", "rep").values, dtype=float), axis=1)
            vt = vt[_included(s, "unit")]
            arr[models.index(e.model), layers.index(e.layer), tm.index(e.target_model), tl.index(e.target_layer)] = nanmedian(vt)
        ds["model_to_model_ev"] = (("model", "layer", "target_model", "target_layer"), arr, {"units": "percent"})
    for tdim in ("neuroid", "unit"):  # the targets' ids under the name the scores give them too
        if tdim in ds.coords:
            ds = ds.assign_coords({f"{tdim}_id": (tdim, ds[tdim].values)})
    ds.attrs["store"] = store.url
    return ds


def gather_metrics(store: StudyStore, entries: Sequence[Entry], *, paths: Mapping[str, str] | None = None,
                   metric_options: Mapping[str, Mapping[str, Any]] | None = None,
                   read: Mapping[str, xr.Dataset] | None = None, failed: Collection[str] = ()) -> tuple[xr.Dataset, pd.DataFrame]:
    """Read a sweep's metric entries from the store into one Dataset and a table.

    Entries without a stored entry matching their options are left out (NaN in the Dataset, no row in the table).

    Parameters
    ----------
    store : StudyStore
    entries : sequence of Entry
        Metric entries (``Entry.is_metric``).
    paths : mapping, optional
        Entry key -> store path (what a sweep run found or wrote); other entries are looked up.
    metric_options : mapping, optional
        The options of the metrics, as :func:`~neuroxr.sweep.sweep` takes them (``{"rsa": {"variant": "ersa",
        "alpha": 1.0}}``: ``rsa``'s options apply to its variant) or per metric entry group (default: the
        metric's defaults); checked, and read per entry group by :func:`neuroxr.sweep.config.metric_params`.
    failed : collection of str, default ()
        As in :func:`gather`.

    Returns
    -------
    dataset : xarray.Dataset
        Coords ``metric`` (the pairwise metric groups of the sweep), ``model``, ``layer``, ``neural``,
        ``region`` (and ``layer_depth(model, layer)``):

        - ``value`` (metric, model, layer, neural, region): the reported value
          (:func:`neuroxr.entries.metric_value`: the ``test`` split of eRSA and shape, else ``score``);
        - ``train_value`` (same dims): the ``train`` split (NaN for metrics without one); choose
          layers on this one, never on ``value``;
        - ``ceiling`` (same dims): cRSA's split-half ceiling of the neural RDM (when computed);
        - ``dimensionality`` (model, layer) and ``neural_dimensionality`` (neural, region): effective
          dimensionality of each layer and of each neural set / region subset.

        Variables of metrics that the sweep did not compute are absent.
    table : pandas.DataFrame
        One row per complete entry: columns :data:`METRIC_TABLE_COLUMNS` (``n_excluded_stimuli``,
        ``n_excluded_neuroids``: the entry's attrs, what it dropped for missing trials; ``Int64``,
        empty where an entry lacks them: written before the counts existed, or a feature set's
        dimensionality), then one column per
        option of the metrics (the ``params`` of each entry's provenance; None where a metric lacks it,
        an integer option as ``Int64``; an option named like a fixed column gets the suffix ``_option``).
    """
    from ..entries import metric_value

    if metric_options:  # the sweep's form too: rsa's options are its variant's (never the default entry instead)
        from .config import check_metric_options, metric_params

        given = check_metric_options(metric_options)
        metric_options = {d: metric_params(d, given) for d in ordered(e.direction for e in entries)}
    located = _locate(store, entries, paths, None, metric_options, failed)
    rows, provs = [], []
    for e, path, ds in zip(entries, located, _read_all(store, located, read)):  # read: the reused entries, read once
        if ds is None:
            continue
        prov = _params(ds)  # decoded once per entry: its row and the shared attrs
        provs.append(prov)
        split = "split" in ds["score"].dims
        rows.append({"metric": e.direction, "source": e.source, "target": e.target or None, "model": e.model,
                     "layer": e.layer, "neural": e.neural, "region": e.region, "key": e.key, "path": path,
                     "value": metric_value(ds), "train_value": metric_value(ds, "train") if split else np.nan,
                     "ceiling": float(ds["ceiling"]) if "ceiling" in ds else np.nan,
                     **excluded_counts(ds.attrs, EXCLUDED_COUNTS),
                     **{_param_column(k): _plain(v) for k, v in prov.items()}})
    params = ordered(k for r in rows for k in r if k not in METRIC_TABLE_COLUMNS)
    # an integer option (n_folds, seed) stays an integer where other metrics lack it: Int64, not 10.0
    ints = [p for p in params if any(r.get(p) is not None for r in rows) and all(
        isinstance(r[p], (int, np.integer)) and not isinstance(r[p], bool) for r in rows if r.get(p) is not None)]
    table = as_counts(pd.DataFrame(rows, columns=METRIC_TABLE_COLUMNS + params), (*EXCLUDED_COUNTS, *ints))
    pair = [e for e in entries if e.direction != "dimensionality"]
    layer_e = [e for e in entries if e.model is not None]
    models, layers = ordered(e.model for e in layer_e), ordered(e.layer for e in layer_e)
    neural = ordered(e.neural for e in entries if e.neural)
    regions = ordered(e.region for e in entries if e.neural)
    kinds = ordered(e.direction for e in pair)
    ds = xr.Dataset(coords={"metric": kinds, "model": models, "layer": layers, "neural": neural, "region": regions})
    if models and layers:
        depth = np.full((len(models), len(layers)), np.nan)
        for i, m in enumerate(models):
            for j, l in enumerate(store.layers(m)):
                if l in layers:
                    depth[i, layers.index(l)] = j
        ds = ds.assign_coords(layer_depth=(("model", "layer"), depth))
    t = table.set_index("key") if len(table) else table
    if kinds:
        shape = (len(kinds), len(models), len(layers), len(neural), len(regions))
        arrays = {k: np.full(shape, np.nan) for k in ("value", "train_value", "ceiling")}
        for e in pair:
            if e.key not in t.index:
                continue
            idx = (kinds.index(e.direction), models.index(e.model), layers.index(e.layer), neural.index(e.neural),
                   regions.index(e.region))
            for k in arrays:
                arrays[k][idx] = t.at[e.key, k]
        dims = ("metric", "model", "layer", "neural", "region")
        ds["value"] = (dims, arrays["value"], {"long_name": "reported value (test split where there is one)"})
        ds["train_value"] = (dims, arrays["train_value"], {"long_name": "train-split value (for layer selection)"})
        if np.isfinite(arrays["ceiling"]).any():
            ds["ceiling"] = (dims, arrays["ceiling"], {"long_name": "split-half ceiling of the neural RDM (crsa)"})
    dim_e = [e for e in entries if e.direction == "dimensionality"]
    if any(e.model is not None for e in dim_e):
        arr = np.full((len(models), len(layers)), np.nan)
        for e in dim_e:
            if e.model is not None and e.key in t.index:
                arr[models.index(e.model), layers.index(e.layer)] = t.at[e.key, "value"]
        ds["dimensionality"] = (("model", "layer"), arr, {"long_name": "effective dimensionality of the layer"})
    if any(e.neural is not None for e in dim_e):
        arr = np.full((len(neural), len(regions)), np.nan)
        for e in dim_e:
            if e.neural is not None and e.key in t.index:
                arr[neural.index(e.neural), regions.index(e.region)] = t.at[e.key, "value"]
        ds["neural_dimensionality"] = (("neural", "region"), arr,
                                       {"long_name": "effective dimensionality of the trial-averaged responses"})
    ds.attrs["store"] = store.url
    return _with_shared_params(ds, provs), table
