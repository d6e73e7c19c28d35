"""Write a report: one self-contained HTML page (figures embedded) or a Markdown page.

The page opens with the headline (best layer per model and region on held-out targets, a 95 %
bootstrap interval over targets, the noise ceiling), then the layer profiles, forward vs reverse,
the metric entries (cRSA, eRSA, CKA, shape, dimensionality), the score table, the reliability of
the neural sets and the parameters and package versions of every entry. Pages are rendered by
jinja2 from the templates shipped in ``neuroxr/report/templates``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import write_whole
from ..errors import ParameterError, no_effect, shown
from ..store import StudyStore
from ..store.study import as_store
from ..sweep._util import as_counts
from ..validation import check_bool, check_int
from . import figures as F
from .headline import coarse_note, headline, left_out, lost_entries, target_table
from .table import _score_table, damage_by_path, metric_table, provenance_table, selection_notes

__all__ = ["write_report", "FORMATS", "FIGURE_FORMATS"]

FORMATS = ("html", "md")
FIGURE_FORMATS = ("png", "pdf")
TEMPLATES = Path(__file__).parent / "templates"
#: the reliability's random splits when ``reliability_reps`` is not given
RELIABILITY_REPS = 10

_SCORE_DISPLAY = ["direction", "source", "target", "region", "target_kind", "n_targets", "n_excluded",
                  "n_excluded_stimuli", "reps", "median_ev", "mean_ev", "q25_ev", "q75_ev", "parameters", "status",
                  "in_figures", "error"]
_METRIC_DISPLAY = ["metric", "source", "target", "value", "train_value", "n_excluded_stimuli", "n_excluded_neuroids",
                   "parameters", "status", "in_figures", "error"]
#: the parameters table: stale and current entries of one comparison may share parameters and versions
_PARAMETER_DISPLAY = ["path", "kind", "status", "parameters", "versions"]
DEFINITIONS = (
    "EV: noise-corrected explained variance in percent per target (neuroid or model unit), averaged over reps; an "
    "entry without a noise ceiling (a trial-averaged target, noise_ceiling=False; the headline's ceiling empty) holds "
    "r² × 100, not corrected, which its figures' axes say; "
    "statistics are over the included targets (those an entry's min_reliability keeps), as in a sweep's table. "
    "n_targets counts the included targets with a finite EV, n_excluded those below min_reliability (a time-resolved "
    "entry counts (target, time bin) pairs). n_excluded_stimuli: the stimuli on which no target has the valid trials "
    "its score needs, left out of the entry's score (the largest over the bins of a time-resolved entry; empty for an entry written "
    "before the count existed). reps the random split halves. parameters: those differing from the defaults. status: stale when an input set was rewritten since "
    "the entry was computed (or it is of an older revision). in_figures: the entry the headline and figures use. "
    "error: an entry that cannot be read or that the store names damaged (even in an array the table does not "
    "read), its numbers left empty and drawn in no figure; compute it again."
)
SELECTION_NOTE = (
    "The headline and the figures use only current entries and, per comparison (the layers of one direction, model "
    "and neural set; the sources of one time-resolved target; the layers of one model for a metric), one parameter "
    "set: the one most of its entries were computed with (ties: the first by its parameter text), named in the "
    "headline's parameters column and the captions. Stale entries and entries of other parameters are listed in the "
    "tables (in_figures empty) but never drawn."
)
HEADLINE_NOTE = (
    "Per direction, model, neural set and region, the layer with the highest median EV over a seeded half of the "
    "targets (the selection half) is chosen and reported on the other half (test_ev, median over the test targets), "
    "as neuroxr.sweep.best_layers does; only included targets (min_reliability) count, n_selection and n_test are "
    "their numbers. [ci_low, ci_high]: 95 % percentile bootstrap over the test targets ({n_boot} resamples) of that "
    "median; it shows how much the number depends on the targets recorded and is not a test between layers or "
    "models. ceiling: median split-half noise ceiling (r², the denominator of the EV) of the test targets."
)

HEADLINE_ERROR_NOTE = (
    "error: the damaged or unreadable entries of the row's comparison, which took no part in it (its best layer "
    "could be one of them); the row's numbers are those of the entries compared."
)

METRIC_NOTE = (
    "value: the test split where the metric has a train/test split; shape is a distance (lower = more similar). "
    "n_excluded_stimuli, n_excluded_neuroids: what the entry dropped for missing trials, the stimuli no neuroid has "
    "a valid trial on (2 valid repeats where the metric splits the repeats), then the neuroids lacking one on some "
    "remaining stimulus (empty for an entry written before the counts existed, or without a neural input). "
    "error: as in the score table."
)


def _fmt(v: Any, p_value: bool = False, count: bool = False) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):  # pd.NA: an empty Int64 cell
        return ""
    if count and isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))  # a count in a column with empty cells is a float: 30, not 30.00
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}" if p_value else f"{v:.2f}"  # a p-value of 0.0476 is not "0.05"
    return str(v)


def _is_p(column: str) -> bool:
    return column == "p" or column.endswith("_p") or column.startswith("p_")


def _is_count(column: str) -> bool:
    """The integer columns of the report's tables: the counts (``n_targets``, ``n_boot``, ``n_perm``, ...,
    ``reps``) and ``seed``; integers on the page and in every CSV, even in a column with empty cells."""
    return column.startswith("n_") or column in ("reps", "seed")


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    """``table`` as CSV at ``path``, its integer columns (:func:`_is_count`) as integers (``5``, not ``5.0``) and
    an empty cell where a row lacks the count (:func:`~neuroxr.sweep._util.as_counts`, as the sweep's tables)."""
    counted = as_counts(table, [c for c in table.columns if _is_count(str(c))])
    write_whole(path, lambda f: counted.to_csv(f, index=False))


def _rows(df: pd.DataFrame) -> dict[str, Any]:
    ps = [_is_p(str(c)) for c in df.columns]
    counts = [_is_count(str(c)) for c in df.columns]
    return {"columns": list(df.columns),
            "rows": [[_fmt(v, p, n) for v, p, n in zip(row, ps, counts)] for row in df.itertuples(index=False)]}


def _display(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The page's view of a score, metric or parameters table: ``status`` (current/stale) from
    ``current``, ``in_figures`` (yes/empty) where the table has it; ``error`` only when some entry
    has one."""
    t = table.assign(status=np.where(table["current"].astype(bool), "current", "stale"))
    if "in_figures" in t:
        t = t.assign(in_figures=np.where(t["in_figures"].astype(bool), "yes", ""))
    return t[[c for c in columns if c != "error" or (t["error"] != "").any()]]


def _no_headline(table: pd.DataFrame, static: pd.DataFrame, lost: pd.DataFrame) -> str:
    """Why the headline has no row: no forward or reverse score entry, or (said with their counts) none
    that a best layer is chosen among (a current, readable entry of one time point): the page never says
    the store holds no such entry while its score table lists them."""
    pairs = table[table["direction"].isin(["forward", "reverse"])]
    if not len(pairs) and not len(lost):
        return "No forward or reverse score entry: no best layer."
    kept = pairs.index.isin(static.index)
    counts = [(int((~kept).sum()), "time-resolved (drawn in the scores over time)"),
              (int((kept & ~pairs["current"].astype(bool)).sum()), "stale"),
              (int((kept & pairs["current"].astype(bool) & (pairs["error"] != "")).sum()) + len(lost),
               "damaged or unreadable (named in the notes and the score table)")]
    said = "; ".join(f"{n} {what}" for n, what in counts if n) or "none names its model and neural set"
    n = len(pairs) + len(lost)
    return (f"No best layer: it is chosen among current, readable forward and reverse entries of one time point, and "
            f"of the store's {n} forward and reverse score entr{'y' if n == 1 else 'ies'} none is one: {said}.")


def _inventory(store: StudyStore, table: pd.DataFrame, metrics: pd.DataFrame) -> list[str]:
    lines = [f"neural sets: {', '.join(store.neural_sets()) or 'none'}"]
    models = store.models()
    lines += [f"model {m}: {', '.join(store.layers(m))}" for m in models] or ["models: none"]
    counts = table["direction"].value_counts()
    lines.append(f"score entries: {len(table)}" + (f" ({', '.join(f'{d}: {n}' for d, n in counts.items())})" if len(table) else ""))
    mcounts = metrics["metric"].value_counts()
    lines.append(f"metric entries: {len(metrics)}" + (f" ({', '.join(f'{d}: {n}' for d, n in mcounts.items())})" if len(metrics) else ""))
    # entries whose write did not finish are in no table or figure: said, as neuroxr info says it
    from ..entries import list_entries

    entries = list_entries(store)
    unfinished = list(entries.loc[~entries["complete"].astype(bool), "path"]) if len(entries) else []
    if unfinished:
        lines.append(f"incomplete entries (write did not finish; in no table or figure; rewrite or delete them): "
                     f"{len(unfinished)} ({', '.join(unfinished)})")
    return lines


def _stale_sources(store: StudyStore) -> list[str]:
    """One note per relative layer whose source layer was rewritten or deleted after it was computed
    (:func:`~neuroxr.geometry.relative.stale_source_problem`, as ``neuroxr info`` and ``validate`` say
    it): its entries are right for its values and stay drawn, but it no longer is its source's
    relative representation, which its name says."""
    from ..geometry.relative import stale_source_problem

    notes = []
    for model in store.models():
        for layer in store.layers(model):
            path = f"features/{model}/{layer}"
            try:
                note = stale_source_problem(store, path, store.group_attrs(path) or {})
            except Exception:  # an unreadable layer: the damage notes name it
                continue
            if note:
                notes.append(f"{note} Its entries are drawn as computed on its values.")
    return notes


def _damage(store: StudyStore) -> tuple[list[tuple[str, str]], list[str]]:
    """The store's damage (:meth:`~neuroxr.store.StudyStore.damaged`, as ``neuroxr info`` lists it; one
    scan, whose entries the tables and figures also mark) and one note per damage: an entry whose
    document is lost or garbled is in no table, so without this line the headline would compare the
    other layers without saying so."""
    try:
        found = store.damaged()
    except Exception as exc:  # the check itself failed: say so, never claim an undamaged store
        return [], [f"the store's damage check failed ({type(exc).__name__}: {exc}); run neuroxr info on it."]
    return found, [f"damaged, in no table or figure unless listed there with an error: {path}: {problem}."
                   for path, problem in found]


def _env() -> Any:
    import jinja2

    # the HTML template is report.html.j2: select_autoescape reads the name's last extensions
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def _md_text(v: Any) -> str:
    """Text from the store (a path, an id, an error) in Markdown, which renders HTML tags and
    entities: ``&`` and ``<`` as entities (no tag can open), on one line."""
    return str(v).replace("&", "&amp;").replace("<", "&lt;").replace("\n", " ")


def _md_cell(v: Any) -> str:
    return _md_text(v).replace("|", "\\|")


def _out_folder(out_dir: str | os.PathLike, store: StudyStore) -> Path:
    """``out_dir`` as a path; refused when it is a file, or lies inside the (local) study store,
    whose folder holds nothing but the store (its listings and checks would meet the report's files)."""
    from ..store._zarr import local_root

    if not isinstance(out_dir, (str, os.PathLike)):
        raise ParameterError(f"write_report: out_dir must be a folder path (str or os.PathLike); got {shown(out_dir)}.")
    out, root = Path(out_dir), local_root(store.url)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"write_report: out_dir {os.fspath(out_dir)!r} is a file; pass a folder (made if absent).")
    if root is not None and Path(root).resolve() in (out.resolve(), *out.resolve().parents):
        raise ParameterError(f"write_report: out_dir {os.fspath(out_dir)!r} lies inside the study store {store.url!r}; "
                             "choose a folder outside it.")
    return out


def write_report(
    store: StudyStore | str | os.PathLike,
    out_dir: str | os.PathLike,
    format: str = "html",
    *,
    figures: str | None = None,
    reliability: bool = True,
    reliability_reps: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    dpi: int = 100,
) -> Path:
    """Write a report of a whole study store.

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
        The study store (a path/URL is opened read-only). Only complete entries are read.
    out_dir : str or os.PathLike
        Folder of the report; created if needed. Files of the same names are replaced, and the files an
        earlier report wrote there that this one does not (a table without rows now, a figure no
        longer drawn, the other page format; listed in ``.neuroxr-report-files.json``) are removed, so
        the folder holds one report. Other files in it are left alone.
    format : {"html", "md"}, default "html"
        ``report.html``: one self-contained page, figures embedded as base64 PNG;
        ``report.md``: Markdown linking figure files (PNG unless ``figures="pdf"``).
    figures : {"png", "pdf"} or None, default None
        Also write every figure to ``out_dir`` in this format (Markdown always writes them,
        PNG by default).
    reliability : bool, default True
        Compute and plot the split-half reliability of every neural set (reads its data).
    reliability_reps : int, optional
        Random splits for the reliability (default :data:`RELIABILITY_REPS`, 10); refused with
        ``reliability=False``, where it would change nothing.
    seed : int, default 0
        Seed of the reliability splits, of the selection/test halves and of the bootstrap.
    n_boot : int, default 1000
        Bootstrap resamples of the headline interval.
    dpi : int, default 100
        Resolution of the PNG figures.

    Returns
    -------
    pathlib.Path
        The page (``out_dir/report.html`` or ``out_dir/report.md``). ``scores.csv``,
        ``metrics.csv``, ``headline.csv`` (and ``inference.csv`` / ``metric_inference.csv`` with
        inference entries) lie next to it, their counts as integers (empty cells where a row lacks one).
    """
    if format not in FORMATS:
        raise ParameterError(f"write_report: format must be one of {FORMATS}; got {shown(format)}.")
    if figures is not None and figures not in FIGURE_FORMATS:
        raise ParameterError(f"write_report: figures must be one of {FIGURE_FORMATS} or None; got {shown(figures)}.")
    # the one check of these values (neuroxr report passes its flags as they are), before anything is read or written
    reliability = check_bool(reliability, "reliability", "Pass reliability=False to skip the neural sets' reliability.",
                             caller="write_report")
    if reliability_reps is None:
        reliability_reps = RELIABILITY_REPS
    elif not reliability:  # an option the user set never silently does nothing
        raise no_effect([f"reliability_reps={reliability_reps!r}"], "with reliability=False", "the reliability's "
                        "random splits", "pass reliability=True", caller="write_report")
    reliability_reps = check_int(reliability_reps, "reliability_reps", 1, "The reliability's random splits, e.g. "
                                 "reliability_reps=10.", caller="write_report")
    seed = check_int(seed, "seed", 0, "Pass e.g. seed=0.", caller="write_report")
    n_boot = check_int(n_boot, "n_boot", 1, "The headline interval's bootstrap resamples, e.g. n_boot=1000.", caller="write_report")
    dpi = check_int(dpi, "dpi", 1, "The figures' resolution, e.g. dpi=100.", caller="write_report")
    # one read of each document, listing and damage check for the report's life (it writes nothing): a path is
    # opened once, cached; a store given is twinned (a new object, never its cache of earlier calls)
    store = as_store(store, "r", cache=True)
    out = _out_folder(out_dir, store)
    out.mkdir(parents=True, exist_ok=True)
    # one scan of the store: the notes list its damage, and every entry it names is marked where it is shown
    found, damage_notes = _damage(store)
    damage = damage_by_path(found)
    table, scores, loaded = _score_table(store, damage)
    # time-resolved entries (a time_bin dim) get score-vs-time figures; the layer figures and the
    # headline use the static entries
    timed = {k for k, ds in scores.items() if "time_bin" in ds.dims}
    static = table.loc[pd.Series([(r.direction, r.source, r.target) not in timed for r in table.itertuples()],
                                 index=table.index, dtype=bool)]
    metrics, metric_ds = metric_table(store, damage)
    # the headline's rows name the damaged entries of their comparisons, those no table lists too
    lost = lost_entries(store, damage, {*table["path"], *metrics["path"]})
    best = left_out(headline(target_table(static, scores), seed=seed, n_boot=n_boot),
                    pd.concat([static, lost], ignore_index=True) if len(lost) else static)
    _write_csv(table, out / "scores.csv")
    _write_csv(metrics, out / "metrics.csv")
    _write_csv(best, out / "headline.csv")
    readable = {path: loaded[path] for path in table.loc[table["error"] == "", "path"]}  # as read for the table
    params, versions = provenance_table({**readable, **metric_ds})
    current = {**dict(zip(table["path"], table["current"])), **dict(zip(metrics["path"], metrics["current"]))}
    params = params.assign(current=[bool(current[p]) for p in params["path"]])  # every path is a row of the two

    from .inference import INFERENCE_DISPLAY, INFERENCE_NOTE, _with_errors, inference_figures, inference_table

    inference = inference_table(store, damage)
    written = ["scores.csv", "metrics.csv", "headline.csv"]
    if len(inference):
        _write_csv(inference, out / "inference.csv")
        written.append("inference.csv")
    from ..plot.time import temporal_generalization_figures
    from .inference import METRIC_INFERENCE_NOTE, metric_inference_table

    metric_inference = metric_inference_table(store, damage)
    if len(metric_inference):
        _write_csv(metric_inference, out / "metric_inference.csv")
        written.append("metric_inference.csv")
    sections: dict[str, F.Figures] = {
        "inference": inference_figures(inference, store),
        "headline": F.headline_figures(best, coarse_note(best)),
        "layers": F.layer_figures(static, scores, store),
        "forward_reverse": F.forward_reverse_figures(static, scores),
        "time": F.time_figures(table, scores) + temporal_generalization_figures(store, damage=damage),
        "metrics": F.metric_figures(metrics, store),
    }
    notes: list[str] = []
    if reliability:
        sections["reliability"], notes = F.reliability_figures(store, reliability_reps, seed, damage)
    else:
        sections["reliability"] = []
    file_format = figures or ("png" if format == "md" else None)
    rendered: dict[str, list[dict[str, str]]] = {}
    for key, figs in sections.items():
        rendered[key] = []
        for caption, stem, fig in figs:
            item = {"caption": caption, "file": "", "src": ""}
            if file_format:
                item["file"] = F.save(fig, out, stem, file_format, dpi)
                written.append(item["file"])
            if format == "html":
                item["src"] = F.encode(fig, dpi)
            rendered[key].append(item)

    display, mdisplay = _display(table, _SCORE_DISPLAY), _display(metrics, _METRIC_DISPLAY)
    context = {
        "title": f"neuroxr report: {store.url}",
        "inventory": _inventory(store, table, metrics),
        "headline": _rows(best),
        "no_headline": _no_headline(table, static, lost),
        "headline_note": " ".join(filter(None, [HEADLINE_NOTE.format(n_boot=n_boot), coarse_note(best),
                                                 HEADLINE_ERROR_NOTE if "error" in best else ""])),
        "selection_note": SELECTION_NOTE,
        "selection": selection_notes(table, scores, metrics) + _stale_sources(store) + damage_notes,
        "definitions": DEFINITIONS,
        "scores": _rows(display),
        "metrics": _rows(mdisplay),
        "metric_note": METRIC_NOTE,
        "parameters": _rows(_display(params, _PARAMETER_DISPLAY)),
        "versions": _rows(versions),
        "figures": rendered,
        "notes": notes,
        "inference": _rows(inference[[c for c in _with_errors(inference, INFERENCE_DISPLAY)  # bins: with a binned row
                                      if not c.startswith("time_bin") or inference[c].notna().any()]]),
        "inference_note": INFERENCE_NOTE,
        "metric_inference": _rows(metric_inference),
        "metric_inference_note": METRIC_INFERENCE_NOTE,
        "tables": [n for n in written if n.endswith(".csv")],  # the inference tables where written
    }
    env = _env()
    env.filters["md"] = _md_cell
    env.filters["mdtext"] = _md_text
    path = out / f"report.{format}"
    page = env.get_template(f"report.{format}.j2").render(**context)
    write_whole(path, lambda f: f.write(page))
    _drop_earlier_files(out, [*written, path.name])
    return path


#: The file in a report's folder naming the files the report wrote (for the next report into the folder).
MANIFEST = ".neuroxr-report-files.json"
#: Tables a report writes only when it has rows: an earlier one's stays no longer (reports before the manifest).
OPTIONAL_TABLES = ("inference.csv", "metric_inference.csv")


def _drop_earlier_files(out: Path, written: list[str]) -> None:
    """Remove the files an earlier report wrote into ``out`` that this one did not (a table without rows
    now, a figure no longer drawn, the other page format), as its :data:`MANIFEST` names them, and
    the :data:`OPTIONAL_TABLES`; then record ``written``. Nothing else in the folder is touched."""
    try:
        earlier = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = []
    names = [n for n in earlier if isinstance(n, str)] if isinstance(earlier, list) else []
    for name in {*names, *OPTIONAL_TABLES} - set(written):
        if name and os.path.basename(name) == name and (out / name).is_file():  # a plain name in this folder only
            (out / name).unlink()
    write_whole(out / MANIFEST, lambda f: f.write(json.dumps(sorted(set(written)))))
