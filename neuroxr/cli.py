"""The ``neuroxr`` command line.

``neuroxr`` is a click group; every command is a subcommand::

    neuroxr info STORE          what a study store holds
    neuroxr validate STORE      check a store against the schemas (exit status 1 on violations)
    neuroxr demo [PATH]         write the example study, validate it, show its inventory

New commands attach with ``@main.command()`` or ``@main.group()`` in this module (or in another
module that this one imports).
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import click

from . import __version__
from .store import StoreError, StudyStore

__all__ = ["main"]


def _open(url: str, mode: str = "r") -> StudyStore:
    """Open a store for a command, turning store errors into a readable CLI error."""
    try:
        return StudyStore(url, mode=mode)
    except StoreError as exc:
        raise click.ClickException(f"{exc} Check the path or URL.") from exc


def _table(rows: list[list[Any]], header: list[str], indent: str = "  ") -> str:
    """Left-aligned plain-text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(indent + line for line in lines)


def _shape(sizes: Any, dims: list[str]) -> list[Any]:
    return [sizes.get(d, "-") for d in dims]


def store_summary(store: StudyStore) -> dict[str, Any]:
    """A JSON-serialisable summary of a store: entries with their shapes, dtypes and chunks.

    Returns
    -------
    dict
        ``{"url", "neural": [...], "features": [...], "scores": [...], "incomplete": [...]}``;
        each listed entry holds its names, ``sizes`` (dim -> length) and ``dtype``.
    """
    out: dict[str, Any] = {"url": store.url, "neural": [], "features": [], "scores": [], "incomplete": []}
    # a summary must not stop at one bad entry: unreadable ones show their error instead
    for name in store.neural_sets():
        try:
            da = store.read_neural(name)
            extra = sorted(str(c) for c in da.coords if c not in ("stimulus_id", "neuroid_id"))
            entry = {"sizes": dict(da.sizes), "dtype": str(da.dtype), "coords": extra}
        except Exception as exc:
            entry = {"sizes": {}, "dtype": f"error: {type(exc).__name__}", "coords": []}
        out["neural"].append({"name": name, **entry})
    for model in store.models():
        for layer in store.layers(model):
            try:
                da = store.read_features(model, layer)
                chunk = da.chunks[1][0] if da.chunks is not None else da.sizes.get("unit", 0)
                entry = {"sizes": dict(da.sizes), "dtype": str(da.dtype), "unit_chunk": int(chunk)}
            except Exception as exc:
                entry = {"sizes": {}, "dtype": f"error: {type(exc).__name__}", "unit_chunk": "-"}
            out["features"].append({"model": model, "layer": layer, **entry})
    for direction, source, target in store.score_entries():
        try:
            ds = store.read_dataset(store.score_path(direction, source, target))
            sizes = {str(k): int(v) for k, v in ds.sizes.items()}
            mean_ev = float(ds["ev"].mean()) if "ev" in ds else None
        except Exception as exc:
            sizes, mean_ev = {"error": f"{type(exc).__name__}: {exc}"}, None
        out["scores"].append(
            {"direction": direction, "source": source, "target": target, "sizes": sizes, "mean_ev": mean_ev}
        )
    out["incomplete"] = store.incomplete_entries()
    return out


def _print_summary(summary: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"Study store {summary['url']}")
    echo(f"\nNeural sets ({len(summary['neural'])})")
    if summary["neural"]:
        rows = [[e["name"], *_shape(e["sizes"], ["stimulus", "neuroid", "repeat"]), e["dtype"], ", ".join(e["coords"])] for e in summary["neural"]]
        echo(_table(rows, ["name", "stimulus", "neuroid", "repeat", "dtype", "coords"]))
    models = sorted({e["model"] for e in summary["features"]})
    echo(f"\nFeatures ({len(models)} models, {len(summary['features'])} layers)")
    if summary["features"]:
        rows = [[e["model"], e["layer"], *_shape(e["sizes"], ["stimulus", "unit"]), e["dtype"], e["unit_chunk"]] for e in summary["features"]]
        echo(_table(rows, ["model", "layer", "stimulus", "unit", "dtype", "unit chunk"]))
    echo(f"\nScores ({len(summary['scores'])})")
    if summary["scores"]:
        rows = []
        for e in summary["scores"]:
            sizes = e["sizes"]
            target_dim = next((d for d in ("neuroid", "unit") if d in sizes), "-")
            mean = "-" if e["mean_ev"] is None else f"{e['mean_ev']:.2f}"
            rows.append([e["direction"], e["source"], e["target"], f"{target_dim}={sizes.get(target_dim, '-')}", sizes.get("rep", "-"), mean])
        echo(_table(rows, ["direction", "source", "target", "targets", "reps", "mean ev"]))
    echo(f"\nIncomplete entries ({len(summary['incomplete'])})")
    for path in summary["incomplete"]:
        echo(f"  {path}  (write did not finish; rewrite or delete it)")


def _report_validation(url: str, problems: list[str], n_entries: int) -> None:
    if problems:
        click.echo(f"{url}: {len(problems)} problem(s) found:", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
    else:
        click.echo(f"{url}: valid study store ({n_entries} entries).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="neuroxr")
def main() -> None:
    """Compare artificial neural networks with brains on labeled arrays in Zarr study stores."""


@main.command()
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(store: str, as_json: bool) -> None:
    """Show what the study store STORE (path or URL) holds.

    Lists neural sets, models and layers with their shapes, score entries, and entries whose
    write never finished.
    """
    summary = store_summary(_open(store))
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary)


@main.command()
@click.argument("store")
@click.option("--values", is_flag=True, help="Also check values (no inf in neural sets, finite features); reads all data.")
def validate(store: str, values: bool) -> None:
    """Check the study store STORE against neuroxr's schemas.

    Reports unfinished writes, bad names, unknown groups and entries that break their layout;
    exits with status 1 when anything is wrong.
    """
    from .schemas import validate_store

    st = _open(store)
    problems = validate_store(st, values=values)
    _report_validation(st.url, problems, len(st.entries()))
    if problems:
        raise SystemExit(1)


def _tiny_study(path: str, seed: int, n_stimuli: int) -> StudyStore:
    """A small random study (used when the synthetic generator is not available)."""
    import numpy as np

    from .layouts import features, neural

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


_SCORE_OPTIONS = [
    click.option("--reps", type=click.IntRange(min=1), default=20, show_default=True, help="Repetitions of the random split halves."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split-half generator."),
    click.option("--regressor", type=click.Choice(["ridge", "linear", "lasso", "elasticnet", "pls", "ridgecv"]), default="ridge", show_default=True),
    click.option("--alpha", type=float, default=0.1, show_default=True, help="Penalty of ridge/lasso/elasticnet."),
    click.option("--n-folds", type=click.IntRange(min=2), default=10, show_default=True),
    click.option("--max-n", type=click.IntRange(min=1), default=None, help="Fresh random subset of predictors every rep."),
    click.option("--split", type=click.Choice(["valid", "slots"]), default="valid", show_default=True, help="Split-half mode."),
    click.option("--no-ceiling", is_flag=True, help="Report r^2*100 without the split-half noise ceiling."),
    click.option("--backend", type=click.Choice(["numpy", "torch", "torch_cuda", "cupy"]), default=None, help="Array backend of the ridge kernels."),
    click.option("--overwrite", is_flag=True, help="Recompute even if a complete entry exists."),
]


def _score_options(fn):
    for opt in reversed(_SCORE_OPTIONS):
        fn = opt(fn)
    return fn


@main.command()
@click.argument("direction", type=click.Choice(["forward", "reverse", "inter-animal", "model-to-model"]))
@click.argument("store")
@click.argument("source")
@click.argument("target")
@_score_options
def score(direction: str, store: str, source: str, target: str, reps: int, seed: int, regressor: str, alpha: float,
          n_folds: int, max_n: int | None, split: str, no_ceiling: bool, backend: str | None, overwrite: bool) -> None:
    """Score DIRECTION from SOURCE to TARGET in STORE and write the score entry.

    SOURCE and TARGET name store entries: a neural set as NAME, a feature set as MODEL.LAYER
    (forward: MODEL.LAYER -> NAME; reverse: NAME -> MODEL.LAYER; inter-animal: NAME -> NAME;
    model-to-model: MODEL.LAYER -> MODEL.LAYER).
    """
    from .directions import score as run_score

    st = _open(store, mode="a")
    kw: dict[str, Any] = dict(reps=reps, seed=seed, regressor=regressor, alpha=alpha, n_folds=n_folds, max_n=max_n, backend=backend, progress=True)
    if direction != "model-to-model":
        kw.update(split=split, noise_ceiling=not no_ceiling)
    try:
        ds = run_score(st, direction, source, target, overwrite=overwrite, **kw)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc
    ev = ds["ev"].mean("rep")
    path = st.score_path(direction.replace("-", "_"), source, target)
    click.echo(f"{path}: {ev.sizes[ev.dims[0]]} targets, median EV {float(ev.median()):.2f}% "
               f"(IQR {float(ev.quantile(0.25)):.2f}-{float(ev.quantile(0.75)):.2f})")


@main.command()
@click.argument("path", default="neuroxr-demo.zarr", required=False)
@click.option("--seed", default=0, show_default=True, help="Seed of the example study.")
@click.option("--n-stimuli", type=click.IntRange(min=10), default=None, help="Number of stimuli (default: the generator's).")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True, help="Split-half repetitions per score.")
@click.option("--force", is_flag=True, help="Rewrite the example study even if PATH already holds one.")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler, or 'serial' to run in this process (default: a local cluster).")
def demo(path: str, seed: int, n_stimuli: int | None, reps: int, force: bool, scheduler: str | None) -> None:
    """Write the example study to PATH (or reuse it), score every direction on a local Dask
    cluster, and print a results table. A re-run resumes: complete entries are not recomputed."""
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
            from .datasets.synthetic import write_example_study
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
    from .schemas import validate_store

    problems = validate_store(store)
    _report_validation(store.url, problems, len(store.entries()))
    if problems:
        raise SystemExit(1)
    click.echo("")
    _print_summary(store_summary(store))
    click.echo("")
    _demo_scores(store, reps=reps, seed=seed, scheduler=scheduler)


def _demo_scores(store: StudyStore, reps: int, seed: int, scheduler: str | None) -> None:
    """Every direction over the example study (a sweep on a local Dask cluster), then a table."""
    try:
        from .sweep import sweep
    except ImportError:
        sweep = None
    neural = store.neural_sets()
    models = store.models()
    if sweep is not None:
        result = sweep(store, directions=("forward", "reverse", "inter_animal", "model_to_model"),
                       client=scheduler, reps=reps, seed=seed, progress=True)
        cols = [c for c in ("direction", "source", "target", "n_targets", "median_ev") if c in result.table.columns]
        table = result.table[cols]
    else:  # serial fallback
        from .directions import score as run_score

        rows = []
        jobs = [("forward", f"{m}.{l}", nname) for m in models for l in store.layers(m) for nname in neural]
        jobs += [("reverse", nname, f"{m}.{l}") for m in models for l in store.layers(m) for nname in neural]
        jobs += [("inter_animal", a, b) for a in neural for b in neural if a != b]
        last = {m: store.layers(m)[-1] for m in models}
        jobs += [("model_to_model", f"{a}.{last[a]}", f"{b}.{last[b]}") for a in models for b in models if a != b]
        for direction, src, tgt in jobs:
            kw: dict[str, Any] = {"reps": reps if direction != "model_to_model" else 1, "seed": seed}
            ds = run_score(store, direction, src, tgt, **kw)
            rows.append([direction, src, tgt, float(ds["ev"].mean("rep").median())])
        import pandas as pd

        table = pd.DataFrame(rows, columns=["direction", "source", "target", "median_ev"])
    _print_demo_table(table)


def _print_demo_table(table: Any) -> None:
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
            source_model=sub["source"].str.split(".").str[0], target_model=sub["target"].str.split(".").str[0]
        ).pivot_table(index="source_model", columns="target_model", values="median_ev", aggfunc="max")
        pairs.index.name, pairs.columns.name = "model-to-model (best layer pair): from", None
        click.echo("\n" + pairs.to_string(float_format=fmt))


def _wire_commands() -> None:
    """Commands defined next to what they run: sweep, report, extract (torch imported only when run)."""
    from .extract import extract_command
    from .report import report_command
    from .sweep import sweep_command

    main.add_command(sweep_command, "sweep")
    main.add_command(report_command, "report")
    main.add_command(extract_command, "extract")


_wire_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
