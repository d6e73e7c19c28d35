"""``neuroxr demo [PATH]``: write the example study, validate it, score it, print the tables."""

from __future__ import annotations

import os
import shutil
from typing import Any

import click

from ..schemas import _store_entries, validate_store
from ..sets import feature_ref, resolve
from ..store import StudyStore
from ._common import main, report_validation
from .info import print_summary, store_summary

__all__ = ["demo"]


def _tiny_study(path: str, seed: int, n_stimuli: int) -> StudyStore:
    """A small random study (used when the synthetic generator is not available)."""
    import numpy as np

    from ..layouts import features, neural

    rng = np.random.default_rng(seed)
    stim = [f"stim{i:03d}" for i in range(n_stimuli)]
    store = StudyStore(path)
    for animal, k in (("monkeyA", 12), ("monkeyB", 10)):
        resp = rng.normal(size=(n_stimuli, k, 4))
        ids = [f"{animal}_n{j}" for j in range(k)]
        store.write_neural(animal, neural(resp, stim, ids, animal=animal, region="IT"))
    for depth, (layer, p) in enumerate((("conv1", 32), ("conv2", 24), ("fc", 16))):
        da = features(rng.normal(size=(n_stimuli, p)), stim, model="toynet", layer=layer, attrs={"depth_index": depth})
        store.write_features("toynet", layer, da)
    return store



@main.command()
@click.argument("path", default="neuroxr-demo.zarr", required=False)
@click.option("--seed", default=0, show_default=True, help="Seed of the example study.")
@click.option("--n-stimuli", type=click.IntRange(min=10), default=None, help="Number of stimuli (default: the generator's).")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True, help="Split-half repetitions per score.")
@click.option("--force", is_flag=True, help="Rewrite the example study even if PATH already holds one.")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler, or 'serial' to run in this process (default: a local cluster).")
def demo(path: str, seed: int, n_stimuli: int | None, reps: int, force: bool, scheduler: str | None) -> None:
    """Write the example study to PATH (or reuse it), score every direction and the geometry
    metrics (cRSA, shape, CKA, effective dimensionality) on a local Dask cluster, and print the
    results tables. A re-run resumes: complete entries are not recomputed."""
    exists = os.path.exists(os.path.join(path, "zarr.json"))
    if os.path.exists(path) and not exists:
        raise click.ClickException(f"{path!r} exists and is not a Zarr store; choose another PATH.")
    if exists and force:
        shutil.rmtree(path)
        exists = False
    if exists:
        store = StudyStore(path)
        click.echo(f"Reusing the example study in {path} (pass --force to rewrite it).")
        if not store.neural_sets() or not store.models():
            raise click.ClickException(f"{path!r} holds no complete example study; pass --force to rewrite it.")
    else:
        try:
            from ..datasets.synthetic import write_example_study
        except ImportError:
            write_example_study = None
        click.echo(f"Writing the example study to {path} ...")
        if write_example_study is not None:
            kw: dict[str, Any] = {} if n_stimuli is None else {"n_stimuli": n_stimuli}
            try:
                store = write_example_study(path, seed=seed, **kw)
            except ValueError as exc:  # e.g. too few stimuli for the generator's defaults
                raise click.ClickException(f"cannot generate the example study: {exc}") from exc
        else:
            store = _tiny_study(path, seed, n_stimuli or 60)
    problems = validate_store(store)
    report_validation(store.url, problems, len(_store_entries(store)))
    if problems:
        raise SystemExit(1)
    click.echo("")
    print_summary(store_summary(store))
    click.echo("")
    _demo_scores(store, reps=reps, seed=seed, scheduler=scheduler)


#: The metrics of the demo and their (small, fast) options.
DEMO_METRICS = ("rsa", "shape", "cka", "dimensionality")
DEMO_METRIC_OPTIONS: dict[str, dict[str, Any]] = {"rsa": {"variant": "crsa", "n_reps": 3}, "shape": {"alpha": 1.0}}


def _demo_scores(store: StudyStore, reps: int, seed: int, scheduler: str | None) -> None:
    """Every direction and the geometry metrics over the example study (one sweep on a local Dask
    cluster), then the tables."""
    try:
        from ..sweep import sweep
    except ImportError:
        sweep = None
    neural = store.neural_sets()
    models = store.models()
    metric_table = None
    if sweep is not None:
        result = sweep(store, directions=("forward", "reverse", "inter_animal", "model_to_model") + DEMO_METRICS,
                       client=scheduler, reps=reps, seed=seed, progress=True, metric_options=DEMO_METRIC_OPTIONS)
        cols = [c for c in ("direction", "source", "target", "n_targets", "median_ev") if c in result.table.columns]
        table = result.table[cols]
        metric_table = result.metric_table
    else:  # serial fallback
        from ..entries import score as run_score

        rows = []
        jobs = [("forward", feature_ref(m, l).name, nname) for m in models for l in store.layers(m) for nname in neural]
        jobs += [("reverse", nname, feature_ref(m, l).name) for m in models for l in store.layers(m) for nname in neural]
        jobs += [("inter_animal", a, b) for a in neural for b in neural if a != b]
        last = {m: store.layers(m)[-1] for m in models}
        jobs += [("model_to_model", feature_ref(a, last[a]).name, feature_ref(b, last[b]).name) for a in models for b in models if a != b]
        for direction, src, tgt in jobs:
            kw: dict[str, Any] = {"reps": reps if direction != "model_to_model" else 1, "seed": seed}
            ds = run_score(store, direction, src, tgt, **kw)
            rows.append([direction, src, tgt, float(ds["ev"].mean("rep").median())])
        import pandas as pd

        from ..entries import metric_kind, metric_value, score_metric

        table = pd.DataFrame(rows, columns=["direction", "source", "target", "median_ev"])
        mrows = []
        layers = [feature_ref(m, l).name for m in models for l in store.layers(m)]
        for metric in DEMO_METRICS:
            opts = dict(DEMO_METRIC_OPTIONS.get(metric, {}))
            kind = metric_kind(metric, opts.get("variant"))
            pairs = [(s, None) for s in layers + neural] if kind == "dimensionality" else [(s, t) for s in layers for t in neural]
            for src, tgt in pairs:
                ds = score_metric(store, metric, src, tgt, **opts)
                mrows.append({"metric": kind, "source": src, "target": tgt, "value": metric_value(ds)})
        metric_table = pd.DataFrame(mrows)
    _print_demo_table(table, store)
    if metric_table is not None and len(metric_table):
        _print_demo_metrics(metric_table)


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


def _print_demo_table(table: Any, store: StudyStore) -> None:
    """A short results table: forward/reverse per layer x neural set, inter-animal pairs, and
    model-to-model as the best layer pair per model pair (median EV over targets, percent)."""
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
