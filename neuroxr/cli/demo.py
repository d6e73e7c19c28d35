"""``neuroxr demo [PATH]``: write the example study to PATH, score it, print the results first."""

from __future__ import annotations

import os
import shutil
from typing import Any

import click

from ._common import Output, main, output_options, records, report_validation

__all__ = ["demo", "DEMO_METRICS", "DEMO_METRIC_OPTIONS"]

#: The metrics of the demo and their (small, fast) options.
DEMO_METRICS = ("rsa", "shape", "cka", "dimensionality")
#: the fewest stimuli the example generator accepts: its neuroids (208) + latent dims (16) + 1
DEMO_MIN_STIMULI = 225

DEMO_METRIC_OPTIONS: dict[str, dict[str, Any]] = {"rsa": {"variant": "crsa", "reps": 3}, "shape": {"alpha": 1.0}}


@main.command()
@click.argument("path", default="neuroxr-demo.zarr", required=False)
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the example study and its scores (default: the existing study's, else 0).")
@click.option("--n-stimuli", type=click.IntRange(min=DEMO_MIN_STIMULI), default=None,
              help=f"Number of stimuli (default: the generator's 400; at least {DEMO_MIN_STIMULI}, its neuroids + latent dims + 1).")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True, help="Split-half repetitions per score.")
@click.option("--force", is_flag=True, help="Rewrite the example study even if PATH already holds one.")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler, or 'serial' to run in this process (default: a local cluster).")
@click.option("--inventory", is_flag=True, help="Also print what the store holds (as neuroxr info does), after the results.")
@output_options
def demo(path: str, seed: int | None, n_stimuli: int | None, reps: int, force: bool, scheduler: str | None, inventory: bool,
         as_json: bool, quiet: bool) -> None:
    """Write the example study to PATH (default ./neuroxr-demo.zarr, or reuse it), score every
    direction and the geometry metrics (cRSA, shape, CKA, effective dimensionality) on a local Dask
    cluster, and print the results. A re-run resumes: complete entries are not recomputed."""
    from ..schemas import _store_entries, validate_store
    from ..store import StudyStore
    from .info import print_summary, store_summary

    out = Output(as_json, quiet)
    where = os.path.abspath(path)
    exists = os.path.exists(os.path.join(path, "zarr.json"))
    if os.path.exists(path) and not exists:
        raise click.ClickException(f"{path!r} exists and is not a Zarr store; choose another PATH.")
    if exists and force:
        shutil.rmtree(path)
        exists = False
    if exists:
        store = StudyStore(path)
        out.echo(f"Reusing the example study in {where} (pass --force to rewrite it).")
        if not store.neural_sets() or not store.models():
            raise click.ClickException(f"{path!r} holds no complete example study; pass --force to rewrite it.")
        first = store.read_neural(store.neural_sets()[0])
        have = first.sizes["stimulus"]
        had_seed = first.attrs.get("seed")  # the generator records its seed on every set
        if seed is not None and had_seed is not None and int(had_seed) != seed:  # never a silently ignored option
            raise click.ClickException(f"the example study in {path!r} was generated with seed {int(had_seed)}, not --seed {seed}; "
                                       f"pass --force to rewrite it with seed {seed} (or drop --seed).")
        seed = int(had_seed) if seed is None and had_seed is not None else seed
        if n_stimuli is not None and n_stimuli != have:  # never a silently ignored option
            raise click.ClickException(f"the example study in {path!r} has {have} stimuli, not --n-stimuli {n_stimuli}; "
                                       f"pass --force to rewrite it with {n_stimuli}.")
    else:
        from ..datasets.synthetic import write_example_study

        out.echo(f"Writing the example study to {where} ...")
        seed = 0 if seed is None else seed
        kw: dict[str, Any] = {} if n_stimuli is None else {"n_stimuli": n_stimuli}
        try:
            store = write_example_study(path, seed=seed, **kw)
        except ValueError as exc:  # e.g. too few stimuli for the generator's defaults
            shutil.rmtree(path, ignore_errors=True)  # no half-written study left behind
            raise click.ClickException(f"cannot generate the example study: {' '.join(str(exc).split())}") from None
    seed = 0 if seed is None else seed
    problems = validate_store(store)
    if problems:
        report_validation(store.url, problems, len(_store_entries(store)), Output(quiet=True))
        raise click.ClickException(f"the example study in {where} breaks the schemas ({len(problems)} problem(s)); pass --force.")
    table, metric_table = _demo_scores(store, reps=reps, seed=seed, scheduler=scheduler, progress=out.text)
    if out.as_json:
        obj: dict[str, Any] = {"store": where, "scores": records(table), "metrics": records(metric_table)}
        if inventory:
            obj["inventory"] = store_summary(store)
        out.json(obj)
    if not out.text:
        return
    click.echo("")
    _print_demo_table(table, store)
    if len(metric_table):
        _print_demo_metrics(metric_table)
    click.echo(f"\nThe example study is in {where}: neuroxr info {path} lists it, neuroxr report {path} writes a report.")
    if inventory:
        click.echo("")
        print_summary(store_summary(store))


def _demo_scores(store: Any, reps: int, seed: int, scheduler: str | None, progress: bool) -> tuple[Any, Any]:
    """Every direction and the geometry metrics over the example study (one sweep), as two tables."""
    import contextlib
    import sys

    from ..sweep import sweep

    with contextlib.redirect_stdout(sys.stderr):  # progress lines go to stderr, results to stdout
        result = sweep(store, directions=("forward", "reverse", "inter_animal", "model_to_model") + DEMO_METRICS,
                       client=scheduler, reps=reps, seed=seed, progress=progress, metric_options=DEMO_METRIC_OPTIONS)
    cols = [c for c in ("direction", "source", "target", "n_targets", "median_ev") if c in result.table.columns]
    return result.table[cols], result.metric_table


def _print_demo_metrics(table: Any) -> None:
    """Geometry metrics of the demo: layer x neural set per pairwise metric, then dimensionality."""
    titles = {"crsa": "cRSA", "ersa": "eRSA (test)", "ereg": "eReg", "shape": "shape (test)", "cka": "CKA"}
    click.echo("\nGeometry metrics: cRSA = Spearman of correlation RDMs; shape = Procrustes distance on held-out\n"
               "stimuli (lower = more similar); CKA = linear CKA; dimensionality = effective dimensionality.")
    for metric in [m for m in dict.fromkeys(table["metric"]) if m != "dimensionality"]:
        sub = table[table["metric"] == metric]
        pivot = sub.pivot_table(index="source", columns="target", values="value", sort=False)
        pivot.index.name, pivot.columns.name = f"{titles.get(metric, metric)}: layer", None
        click.echo("\n" + pivot.to_string(float_format=lambda v: f"{v:.3f}"))
    sub = table[table["metric"] == "dimensionality"]
    if len(sub):
        click.echo("\neffective dimensionality: " + "; ".join(f"{r.source} {r.value:.1f}" for r in sub.itertuples()))


def _print_demo_table(table: Any, store: Any) -> None:
    """A short results table: forward/reverse per layer x neural set, inter-animal pairs, and
    model-to-model as the best layer pair per model pair (median EV over targets, percent)."""
    from ..sets import resolve

    fmt = lambda v: f"{v:.1f}"  # noqa: E731
    click.echo("Median EV over targets (percent):")
    for direction in ("forward", "reverse"):
        sub = table[table["direction"] == direction]
        if len(sub):
            layer_col, neural_col = ("source", "target") if direction == "forward" else ("target", "source")
            pivot = sub.pivot_table(index=layer_col, columns=neural_col, values="median_ev")
            pivot.index.name, pivot.columns.name = f"{direction}: layer", None
            click.echo("\n" + pivot.to_string(float_format=fmt))
    sub = table[table["direction"] == "inter_animal"]
    if len(sub):
        click.echo("\ninter-animal: " + "; ".join(f"{r.source} -> {r.target} {r.median_ev:.1f}" for r in sub.itertuples()))
    sub = table[table["direction"] == "model_to_model"]
    if len(sub):
        pairs = sub.assign(
            source_model=[resolve(store, n, kinds=("features",)).model for n in sub["source"]],
            target_model=[resolve(store, n, kinds=("features",)).model for n in sub["target"]],
        ).pivot_table(index="source_model", columns="target_model", values="median_ev", aggfunc="max")
        pairs.index.name, pairs.columns.name = "model-to-model (best layer pair): from", None
        click.echo("\n" + pairs.to_string(float_format=fmt))
