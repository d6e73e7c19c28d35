"""A report of a whole study store: a summary table of every score entry and its figures.

:func:`write_report` reads every complete score entry of a store and writes, into one folder,

- ``scores.csv``: one row per entry (direction, source, target, model, layer, neural set,
  region, target kind, number of targets, reps, median / mean / quartiles of the rep-mean EV,
  regressor, seed);
- ``reliability_<neural>.png``: split-half reliability per neuroid of every neural set
  (:func:`neuroxr.plot.reliability_histogram`);
- ``layers_<direction>_<model>__<neural>.png``: a layer profile for every (direction, model,
  neural set) scored on two or more layers of the model (:func:`neuroxr.plot.layer_profile`;
  forward profiles have one line per region);
- ``forward_vs_reverse.png``: when a (model layer, neural set) pair is scored in both the forward
  and the reverse direction (:func:`neuroxr.plot.forward_vs_reverse`);
- ``report.md`` or ``report.html``: the table and the figures.

The command ``neuroxr report STORE [--out DIR] [--format md|html]`` (:mod:`neuroxr.cli.report`)
writes the same report.
"""

from __future__ import annotations

import html
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .directions import DIRECTIONS
from .entries.layout import list_entries
from .errors import LayoutError
from .sets import SetRef, resolve
from .store import StudyStore

__all__ = ["ReportEntry", "score_table", "write_report", "stack_layers", "TABLE_COLUMNS", "FORMATS"]

FORMATS = ("md", "html")
#: columns of :func:`score_table`, in order
TABLE_COLUMNS = [
    "direction", "source", "target", "model", "layer", "neural", "region", "target_kind",
    "n_targets", "n_finite", "reps", "median_ev", "mean_ev", "q25_ev", "q75_ev", "regressor", "seed",
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


def _summary(ds: xr.Dataset) -> dict[str, Any]:
    tdim = next((d for d in ("neuroid", "unit") if d in ds.dims), None)
    if "ev" not in ds or tdim is None:
        raise ValueError(f"no 'ev' variable over a neuroid/unit dim (dims {dict(ds.sizes)})")
    ev = ds["ev"]
    reps = int(ds.sizes.get("rep", 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_target = np.asarray((ev.mean("rep", skipna=True) if "rep" in ev.dims else ev).values, dtype=float)
        finite = per_target[np.isfinite(per_target)]
        q25, med, q75 = np.percentile(finite, [25, 50, 75]) if finite.size else (np.nan,) * 3
    return {
        "target_kind": tdim, "n_targets": int(ds.sizes[tdim]), "n_finite": int(finite.size), "reps": reps,
        "median_ev": float(med), "mean_ev": float(finite.mean()) if finite.size else np.nan,
        "q25_ev": float(q25), "q75_ev": float(q75),
        "regressor": ds.attrs.get("regressor"), "seed": ds.attrs.get("seed"),
    }


def _open_store(store: StudyStore | str | os.PathLike) -> StudyStore:
    return store if isinstance(store, StudyStore) else StudyStore(store, mode="r")


def score_table(store: StudyStore | str | os.PathLike) -> tuple[pd.DataFrame, dict[tuple[str, str, str], xr.Dataset]]:
    """Summarise every complete score entry of a store.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The store (a path/URL is opened read-only).

    Returns
    -------
    table : pandas.DataFrame
        One row per entry with the columns :data:`TABLE_COLUMNS`; EV statistics are over the
        targets' rep-mean EV (percent). An entry that cannot be read keeps its row with the
        reason in ``error``.
    scores : dict
        ``(direction, source, target) -> Dataset`` of the readable entries.
    """
    store = _open_store(store)
    entries = list_entries(store)
    entries = entries[entries["kind"].isin(DIRECTIONS) & entries["complete"]]
    # per pair, the current entry first: it is the one figures show
    entries = entries.sort_values("current", ascending=False, kind="stable")
    rows, scores = [], {}
    for ent in entries.itertuples():
        direction, source, target = ent.kind, ent.source, ent.target
        row: dict[str, Any] = {"direction": direction, "source": source, "target": target, "error": "",
                               "current": bool(ent.current), "path": ent.path}
        try:
            ds = store.read_dataset(ent.path).load()
            row.update(_summary(ds))
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


# ============================================================================ figures
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
        raise ValueError(f"stack_layers: give one score Dataset per layer; got {len(scores)} and {len(layers)} layers.")
    evs = [_rep_mean(ds) for ds in scores]
    tdim = evs[0].dims[0]
    if any(ev.dims != (tdim,) for ev in evs):
        raise ValueError(f"stack_layers: every layer needs scores over the same target dim; got {[ev.dims for ev in evs]}.")
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


def _save(fig: Any, path: Path, dpi: int) -> str:
    fig.savefig(path, dpi=dpi)
    return path.name


def _reliability_figures(store: StudyStore, out: Path, reps: int, seed: int, dpi: int) -> tuple[list[tuple[str, str]], list[str]]:
    from .directions import split_half_reliability
    from .plot import reliability_histogram

    figures, notes = [], []
    for name in store.neural_sets():
        try:
            neural = store.read_neural(name)
            if neural.sizes["repeat"] < 2:
                notes.append(f"{name}: trial-averaged (one repeat), no split-half reliability.")
                continue
            neural = neural.load()
            # coords that share a name with the reliability outputs would collide with them
            neural = neural.drop_vars([c for c in ("reliability", "r_half") if c in neural.coords])
            rel = split_half_reliability(neural, reps=reps, seed=seed)
            fig = reliability_histogram(rel, title=f"{name}: split-half reliability ({reps} splits)")
            figures.append((f"Reliability of {name}", _save(fig, out / f"reliability_{_safe(name)}.png", dpi)))
        except Exception as exc:
            notes.append(f"{name}: no reliability figure ({type(exc).__name__}: {exc}).")
    return figures, notes


def _layer_figures(table: pd.DataFrame, scores: dict, store: StudyStore, out: Path, dpi: int) -> list[tuple[str, str]]:
    from .plot import layer_profile

    figures = []
    ok = table[(table["error"] == "") & table["direction"].isin(["forward", "reverse"]) & table["model"].notna()]
    for (direction, model, neural), g in ok.groupby(["direction", "model", "neural"], sort=False):
        order = store.layers(model) if model in store.models() else []
        panels = {}
        for region, gr in g.groupby("region", sort=False):
            gr = gr.drop_duplicates("layer")
            if len(gr) < 2:
                continue
            gr = gr.assign(_depth=[order.index(l) if l in order else len(order) for l in gr["layer"]])
            gr = gr.sort_values(["_depth", "layer"], kind="stable")
            dss = [scores[(r.direction, r.source, r.target)] for r in gr.itertuples()]
            panels[region] = stack_layers(dss, list(gr["layer"]))
        if not panels:
            continue
        title = f"{direction}: {model} {'->' if direction == 'forward' else '<-'} {neural}"
        data = panels["all"] if list(panels) == ["all"] else {("whole set" if r == "all" else r): da for r, da in panels.items()}
        fig = layer_profile(data, title=title)
        if not isinstance(data, dict):
            fig.axes[0].set_title(title)
        name = f"layers_{direction}_{_safe(model)}__{_safe(neural)}.png"
        figures.append((f"Layer profile, {direction}, {model} and {neural}", _save(fig, out / name, dpi)))
    return figures


def _forward_reverse_figure(table: pd.DataFrame, scores: dict, out: Path, dpi: int) -> list[tuple[str, str]]:
    from .plot import forward_vs_reverse

    ok = table[table["error"] == ""]
    fwd = {(r.model, r.layer, r.neural, r.region): (r.direction, r.source, r.target) for r in ok[ok["direction"] == "forward"].itertuples()}
    rev = {(r.model, r.layer, r.neural, r.region): (r.direction, r.source, r.target) for r in ok[ok["direction"] == "reverse"].itertuples()}
    both = [k for k in fwd if k in rev]
    if not both:
        return []
    label = lambda k: f"{k[0]}/{k[1]}:{k[2]}" + ("" if k[3] == "all" else f".{k[3]}")  # noqa: E731
    fig = forward_vs_reverse({label(k): scores[fwd[k]] for k in both}, {label(k): scores[rev[k]] for k in both},
                             figsize=(11, 4.6))
    return [(f"Forward vs reverse ({len(both)} pairs)", _save(fig, out / "forward_vs_reverse.png", dpi))]


# ============================================================================ writing
def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


_DISPLAY = ["direction", "source", "target", "region", "target_kind", "n_targets", "reps", "median_ev", "mean_ev", "q25_ev", "q75_ev", "error"]


def _inventory_lines(store: StudyStore) -> list[str]:
    inv = store.inventory()
    lines = [f"- neural sets: {', '.join(inv['neural']) or 'none'}"]
    for m, layers in inv["features"].items():
        lines.append(f"- model {m}: {', '.join(layers)}")
    if not inv["features"]:
        lines.append("- models: none")
    t = list_entries(store)
    counts = t[t["kind"].isin(DIRECTIONS) & t["complete"]]["kind"].value_counts()
    n_scores = int(counts.sum())
    lines.append(f"- score entries: {n_scores}" + (f" ({', '.join(f'{d}: {n}' for d, n in counts.items())})" if n_scores else ""))
    return lines


def write_report(
    store: StudyStore | str | os.PathLike,
    out_dir: str | os.PathLike,
    format: str = "md",
    *,
    reliability: bool = True,
    reliability_reps: int = 10,
    seed: int = 0,
    dpi: int = 100,
) -> Path:
    """Write a report of a whole study store: summary table, figures and a Markdown/HTML page.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The study store (a path/URL is opened read-only). Only complete score entries are read.
    out_dir : str or os.PathLike
        Folder of the report; created if needed. Existing files of the same names are replaced.
    format : {"md", "html"}
        ``report.md`` (Markdown, figures as linked PNGs) or ``report.html``.
    reliability : bool
        Compute and plot the split-half reliability of every neural set (reads its data).
    reliability_reps : int
        Random splits for the reliability.
    seed : int
        Seed of the reliability splits.
    dpi : int
        Resolution of the PNG figures.

    Returns
    -------
    pathlib.Path
        The report file (``out_dir/report.md`` or ``out_dir/report.html``). ``scores.csv`` and the
        PNG figures lie next to it.
    """
    if format not in FORMATS:
        raise ValueError(f"The 'format' parameter must be one of {FORMATS}. Got {format!r} instead.")
    store = _open_store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table, scores = score_table(store)
    table.to_csv(out / "scores.csv", index=False)
    figures: list[tuple[str, str]] = []
    notes: list[str] = []
    if reliability:
        f, notes = _reliability_figures(store, out, reliability_reps, seed, dpi)
        figures += f
    figures += _layer_figures(table, scores, store, out, dpi)
    figures += _forward_reverse_figure(table, scores, out, dpi)
    failed = table[table["error"] != ""]
    display = table[_DISPLAY] if len(failed) else table[[c for c in _DISPLAY if c != "error"]]
    title = f"neuroxr report: {store.url}"
    definitions = (
        "EV: noise-corrected explained variance in percent per target (neuroid or model unit), averaged over reps; "
        "statistics are over targets. n_targets counts all targets, reps the random split halves."
    )
    if format == "md":
        parts = [f"# {title}", "", "## Store", *_inventory_lines(store), "", "## Scores", "", definitions, ""]
        parts.append(_markdown_table(display) if len(display) else "No complete score entry.")
        parts += ["", "Full table: [scores.csv](scores.csv)", ""]
        if figures:
            parts.append("## Figures")
            for caption, fname in figures:
                parts += ["", f"### {caption}", "", f"![{caption}]({fname})"]
        if notes:
            parts += ["", "## Notes", *[f"- {n}" for n in notes]]
        path = out / "report.md"
        path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    else:
        esc = html.escape
        body = [f"<h1>{esc(title)}</h1>", "<h2>Store</h2>", "<ul>"]
        body += [f"<li>{esc(line[2:])}</li>" for line in _inventory_lines(store)]
        body += ["</ul>", "<h2>Scores</h2>", f"<p>{esc(definitions)}</p>"]
        body.append(display.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.2f}", border=0) if len(display) else "<p>No complete score entry.</p>")
        body.append('<p>Full table: <a href="scores.csv">scores.csv</a></p>')
        if figures:
            body.append("<h2>Figures</h2>")
            for caption, fname in figures:
                body += [f"<h3>{esc(caption)}</h3>", f'<img src="{esc(fname)}" alt="{esc(caption)}">']
        if notes:
            body += ["<h2>Notes</h2>", "<ul>", *[f"<li>{esc(n)}</li>" for n in notes], "</ul>"]
        page = (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "table{border-collapse:collapse;font-size:small}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
            "img{max-width:100%}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )
        path = out / "report.html"
        path.write_text(page, encoding="utf-8")
    return path
