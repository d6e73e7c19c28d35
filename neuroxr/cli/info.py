"""``neuroxr info STORE``: what a study store holds, every entry with its parameters."""

from __future__ import annotations

import functools
from typing import Any

import click

from ._common import Output, cli_advice, main, open_store_or_fail, output_options, storage_options, table

__all__ = ["info", "store_summary"]


def _shape(sizes: Any, dims: list[str]) -> list[Any]:
    return [sizes.get(d, "-") for d in dims]


def _status(row: Any, store: Any = None, damaged: Any = ()) -> str:
    """An entry's status; ``damaged``: the store's damaged paths (an input among them: its set was
    edited or lost data after the entry was computed, not rewritten)."""
    if row.legacy:
        return "legacy (0.1.0)"
    if row.path in damaged:  # lost chunks or edited array documents: a listing reads neither
        return "damaged (see below)"
    from ..entries.provenance import inputs as inputs_of

    @functools.cache
    def inputs() -> dict:  # read once, where a status needs it
        return inputs_of(store.examine(row.path).attrs)

    # an input that lost chunks since: the listing (which reads no chunk) still calls the entry current
    if store is not None and damaged and any(path in damaged for path in inputs()):
        return "stale (input damaged)"
    if row.current:
        return "current"
    if store is not None and _moved(store, row):
        return "moved (its provenance names another pair)"
    if store is not None and _edited(store, row.path):
        return "edited (attrs changed after the write)"
    if store is not None:
        if any(store.examine(path).doc is None for path in inputs()):
            return "stale (input deleted)"
    from ..entries.layout import LIST_COLUMNS, _revision

    params = {k: v for k, v in row.items() if k not in LIST_COLUMNS and not (isinstance(v, float) and v != v)}
    older = row.revision != _revision(row.kind, params)  # the revision its parameters get now
    return "stale (older revision)" if older else "stale (input rewritten)"


def _moved(store: Any, row: Any) -> bool:
    """Whether the entry lies under another pair than its provenance names (its folder was moved or
    copied by hand): the kind, source and target it is listed under are not those of its numbers."""
    from ..entries import provenance as _p
    from ..entries.layout import misplaced

    target = None if row.target is None or row.target != row.target else row.target  # NaN: no target
    return misplaced((store.examine(row.path).attrs or {}).get(_p.PROVENANCE_ATTR), row.kind, row.source, target)


def _edited(store: Any, path: str) -> bool:
    """Whether the entry's attrs were edited after the write (its provenance does not hash to its key,
    its attrs or completion records to their digests, or its token is gone): one read of its document, for stale entries only."""
    from ..entries import provenance as _p
    from ..entries.layout import entry_edited

    attrs = store.examine(path).attrs or {}
    return entry_edited(attrs) or not _p.keys_match(attrs.get(_p.PROVENANCE_ATTR), path.rpartition("/")[2])


def _summary_value(ds: Any, key: str) -> float | list[float] | None:
    """An inference entry's summary: a number, or one per time bin (a time-resolved entry)."""
    if key not in ds:
        return None
    v = ds[key]
    return float(v) if v.ndim == 0 else [float(x) for x in v.values]


def _fmt_summary(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return ", ".join(f"{x:.4g}" for x in v) + " (per time bin)"
    return f"{v:.4g}"


def _value(compute: Any, ds: Any, error: str | None, missing: Any = None, *args: Any) -> tuple[Any, str | None]:
    """``(compute(ds, *args), None)``, or ``(missing, error)`` when the entry could not be opened
    or a read fails (the reads are lazy: a lost chunk shows up here)."""
    if error is not None:
        return missing, error
    try:
        return compute(ds, *args), None
    except Exception as exc:  # one bad entry must not stop the summary
        return missing, f"{type(exc).__name__}: {exc}"


def _mean_ev(ds: Any) -> float | None:
    """The mean over the included targets of the rep-mean EV (the report's and the sweep's
    ``mean_ev``); None for an entry without ``ev`` or without an included target."""
    from ..report.table import ev_summary

    if "ev" not in ds or not any(d in ds["ev"].dims for d in ("neuroid", "unit")):
        return None
    mean = ev_summary(ds)["mean_ev"]
    return None if mean != mean else mean


def _metric_values(ds: Any) -> tuple[float, float | None]:
    """A metric entry's value (the test split where it has one) and its train value."""
    from ..entries.metrics import metric_value

    train = "split" in ds["score"].dims and "train" in ds["split"]
    return metric_value(ds), (metric_value(ds, "train") if train else None)


def store_summary(store: Any) -> dict[str, Any]:
    """A JSON-serialisable summary of a store: sets with their shapes, dtypes and chunks; entries
    with their parameters and status.

    Returns
    -------
    dict
        ``{"url", "neural": [...], "features": [...], "scores": [...], "metrics": [...], "inference": [...], "incomplete": [...],
        "earlier_revision": [...], "stale_source": [...], "mixed_extractions": [...], "damaged": [...]}``;
        each set holds its names, ``sizes`` (dim -> length) and ``dtype``; each score or metric
        entry its ``path``, ``status`` (``current``, ``stale (input rewritten)``, ``stale (input damaged)``, ``damaged (see below)``, ``stale (older revision)``, ``edited (attrs changed after the write)``, ``legacy (0.1.0)``)
        and ``parameters`` (those differing from the defaults); a score entry its ``mean_ev`` (the
        mean over its included targets of the rep-mean EV, as a sweep's table; None when no target
        is included), a metric entry its ``value`` (the test value when it has a train/test split)
        and ``train_value``, an inference entry (``kind``) its summary under ``median_ev``, ``median_p``, ``p`` or
        ``score`` (every key present, empty lists where the store has none). An entry that cannot be read keeps its row with None values and its
        ``error`` (one with lost chunks is also listed under ``damaged``). ``earlier_revision`` lists the
        feature layers reduced by an earlier revision that a re-run of extraction refuses
        (:func:`~neuroxr.extract.reduce.stored_revision_problem`), each as ``{"path", "problem"}``;
        ``stale_source`` likewise the relative layers whose source layer was rewritten or deleted after
        they were computed (:func:`~neuroxr.geometry.relative.stale_source_problem`);
        ``mixed_extractions`` the models whose complete, intact layers record different extractions
        (:func:`~neuroxr.extract.identity.layer_identities`).
    """
    from ..entries import list_entries
    from ..entries.kinds import DIRECTION_KINDS, INFERENCE_KINDS, TIME_KINDS
    from ..extract.identity import layer_identities
    from ..extract.reduce import stored_revision_problem
    from ..geometry.relative import stale_source_problem
    from ..report.table import listed_parameters  # the parameters as the report shows them

    out: dict[str, Any] = {"url": store.url, "neural": [], "features": [], "scores": [], "metrics": [], "inference": [], "incomplete": [],
                           "earlier_revision": [], "stale_source": [], "mixed_extractions": []}
    # damaged entries (lost metadata or chunks, edited attrs) need recomputation like unfinished ones
    out["damaged"] = [{"path": path, "problem": problem} for path, problem in store.damaged()]
    damaged = {d["path"] for d in out["damaged"]}

    def failed(path: str, exc: Exception) -> str:  # a damaged set is listed below with its problem
        return "damaged (see below)" if path in damaged else f"error: {type(exc).__name__}"

    # a summary must not stop at one bad entry: unreadable ones show their error instead
    for name in store.neural_sets():
        try:
            da = store.read_neural(name)
            extra = sorted(str(c) for c in da.coords if c not in ("stimulus_id", "neuroid_id"))
            entry = {"sizes": dict(da.sizes), "dtype": str(da.dtype), "coords": extra}
        except Exception as exc:
            entry = {"sizes": {}, "dtype": failed(f"neural/{name}", exc), "coords": []}
        out["neural"].append({"name": name, **entry})
    for model in store.models():
        read: dict[str, Any] = {}  # each layer's attrs, None where it is not intact: its identity is not compared
        for layer in store.layers(model):
            read[layer] = None
            try:
                da = store.read_features(model, layer)
                read[layer] = None if f"features/{model}/{layer}" in damaged else da.attrs
                chunk = da.chunks[1][0] if da.chunks is not None else da.sizes.get("unit", 0)
                entry = {"sizes": dict(da.sizes), "dtype": str(da.dtype), "unit_chunk": int(chunk)}
                path = f"features/{model}/{layer}"
                if (problem := stored_revision_problem(path, da.attrs, da.dtype)) is not None:
                    out["earlier_revision"].append({"path": path, "problem": cli_advice(problem)})  # neuroxr extract's
                if (problem := stale_source_problem(store, path, da.attrs)) is not None:
                    out["stale_source"].append({"path": path, "problem": problem})
            except Exception as exc:
                entry = {"sizes": {}, "dtype": failed(f"features/{model}/{layer}", exc), "unit_chunk": "-"}
            out["features"].append({"model": model, "layer": layer, **entry})
        if (problem := layer_identities(store, model, read)[1]) is not None:
            out["mixed_extractions"].append({"model": model, "problem": cli_advice(problem)})
    entries = list_entries(store)
    shown = entries[entries["complete"] & (entries["kind"] != "gram")]
    for (_, row), parameters in zip(shown.iterrows(), listed_parameters(shown, store)):
        base = {"path": row["path"], "source": row["source"], "status": _status(row, store, damaged), "parameters": parameters}
        target = row["target"] if isinstance(row["target"], str) else None
        try:
            ds = store.read_dataset(row["path"])
            error = None
        except Exception as exc:
            ds, error = None, f"{type(exc).__name__}: {exc}"
        if row["kind"] in DIRECTION_KINDS or row["kind"] in TIME_KINDS:  # directions, temporal generalisation
            sizes = {"error": error} if ds is None else {str(k): int(v) for k, v in ds.sizes.items()}
            mean_ev, error = _value(_mean_ev, ds, error)
            entry = {"direction": row["kind"], **base, "target": target, "sizes": sizes, "mean_ev": mean_ev}
            out["scores"].append({**entry, "error": error} if error else entry)
            continue
        if row["kind"] in INFERENCE_KINDS:  # bootstrap / permutation entries: their summary value
            # directions: median EV / median p; metrics (crsa, ersa, cka, shape): p of a null, else the score
            key = next((k for k in ("median_ev", "median_p", "p", "score") if ds is not None and k in ds), "median_p")
            value, error = _value(_summary_value, ds, error, None, key)
            entry = {"kind": row["kind"], **base, "target": target, key: value}
            out["inference"].append({**entry, "error": error} if error else entry)
            continue
        (value, train), error = _value(_metric_values, ds, error, (None, None))
        entry = {"metric": row["kind"], **base, "target": target, "value": value, "train_value": train}
        if error:
            entry["error"] = error
        out["metrics"].append(entry)
    # every unfinished group, as StudyStore.incomplete_entries() walks them: the inventory lacks one made by
    # hand or left by a writer killed before it recorded it
    out["incomplete"] = store.incomplete_entries()
    return out


def _fmt_params(p: dict[str, Any]) -> str:
    from ..report.table import parameter_text

    return parameter_text(p)


def print_summary(summary: dict[str, Any]) -> None:
    """Print :func:`store_summary` as tables."""
    echo = click.echo
    echo(f"Study store {summary['url']}")
    echo(f"\nNeural sets ({len(summary['neural'])})")
    if summary["neural"]:  # time bins where a set is time-resolved (its bins' coords alone did not say how many)
        dims = ["stimulus", "neuroid", "repeat"] + ["time_bin"] * any("time_bin" in e["sizes"] for e in summary["neural"])
        rows = [[e["name"], *_shape(e["sizes"], dims), e["dtype"], ", ".join(e["coords"])] for e in summary["neural"]]
        echo(table(rows, ["name", *dims, "dtype", "coords"]))
    models = sorted({e["model"] for e in summary["features"]})
    n_layers = len(summary["features"])
    echo(f"\nFeatures ({len(models)} model{'' if len(models) == 1 else 's'}, {n_layers} layer{'' if n_layers == 1 else 's'})")
    if summary["features"]:
        rows = [[e["model"], e["layer"], *_shape(e["sizes"], ["stimulus", "unit"]), e["dtype"], e["unit_chunk"]] for e in summary["features"]]
        echo(table(rows, ["model", "layer", "stimulus", "unit", "dtype", "unit chunk"]))
    echo(f"\nScores ({len(summary['scores'])})")
    if summary["scores"]:
        rows = []
        for e in summary["scores"]:
            sizes = e["sizes"]
            target_dim = next((d for d in ("neuroid", "unit") if d in sizes), "-")
            mean = "-" if e["mean_ev"] is None else f"{e['mean_ev']:.2f}"
            status = f"{e['status']}, unreadable" if e.get("error") else e["status"]
            rows.append([e["direction"], e["source"], e["target"], f"{target_dim}={sizes.get(target_dim, '-')}",
                         sizes.get("rep", "-"), mean, status, _fmt_params(e["parameters"])])
        echo(table(rows, ["direction", "source", "target", "targets", "reps", "mean ev", "status", "parameters"]))
    metrics = summary.get("metrics", [])
    echo(f"\nMetrics ({len(metrics)})")
    if metrics:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        rows = [[e["metric"], e["source"], e["target"] or "-", fmt(e["value"]), fmt(e["train_value"]), e["status"],
                 _fmt_params(e["parameters"])] for e in metrics]
        echo(table(rows, ["metric", "source", "target", "value", "train value", "status", "parameters"]))
    inference = summary.get("inference", [])
    if inference:
        echo(f"\nInference ({len(inference)})")
        keys = ("median_ev", "median_p", "p", "score")
        fmt = _fmt_summary
        rows = [[e["kind"], e["source"], e["target"], *next((k.replace("_", " "), fmt(e[k])) for k in keys if k in e),
                 e["status"], _fmt_params(e["parameters"])] for e in inference]
        echo(table(rows, ["kind", "source", "target", "summary", "value", "status", "parameters"]))
    echo(f"\nIncomplete entries ({len(summary['incomplete'])})")
    for path in summary["incomplete"]:
        echo(f"  {path}  (write did not finish; rewrite or delete it)")
    earlier = summary.get("earlier_revision", [])
    if earlier:
        echo(f"\nLayers reduced by an earlier revision ({len(earlier)})")
        for d in earlier:
            echo(f"  {d['problem']}")
    stale = summary.get("stale_source", [])
    if stale:
        echo(f"\nRelative layers whose source layer changed since ({len(stale)})")
        for d in stale:
            echo(f"  {d['problem']}")
    mixed = summary.get("mixed_extractions", [])
    if mixed:
        echo(f"\nModels whose layers record different extractions ({len(mixed)})")
        for d in mixed:
            echo(f"  {d['problem']}")
    damaged = summary.get("damaged", [])
    if damaged:
        echo(f"\nDamaged entries ({len(damaged)}): a score or sweep asking for one computes it again; rewrite a damaged set")
        for d in damaged:
            echo(f"  {d['path']}  ({d['problem']})")


@main.command()
@click.argument("store")
@storage_options
@output_options
def info(store: str, as_json: bool, quiet: bool) -> None:
    """Show what the study store STORE (path or URL) holds.

    Lists neural sets, models and layers with their shapes, score and metric entries (several
    per pair when computed with other parameters, each with its parameters and whether its input
    sets were rewritten since), and entries whose write never finished.
    """
    out = Output(as_json, quiet)
    summary = store_summary(open_store_or_fail(store))
    out.json(summary)
    if out.text:
        print_summary(summary)
