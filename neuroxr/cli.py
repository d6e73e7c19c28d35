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
        ``{"url", "neural": [...], "features": [...], "scores": [...], "metrics": [...], "incomplete": [...]}``;
        each listed entry holds its names, ``sizes`` (dim -> length) and ``dtype``; a metric entry
        its ``metric``, ``source``, ``target`` (None for dimensionality), ``value`` (the test value
        when the entry has a train/test split) and ``train_value``.
    """
    out: dict[str, Any] = {"url": store.url, "neural": [], "features": [], "scores": [], "metrics": [], "incomplete": []}
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
    for metric, source, target in store.metric_entries():
        try:
            ds = store.read_metric(metric, source, target)
            split = "split" in ds["score"].dims
            value = float(ds["score"].sel(split="test")) if split else float(ds["score"])
            train = float(ds["score"].sel(split="train")) if split and "train" in ds["split"] else None
            error = None
        except Exception as exc:
            value, train, error = None, None, f"{type(exc).__name__}: {exc}"
        entry = {"metric": metric, "source": source, "target": target, "value": value, "train_value": train}
        if error:
            entry["error"] = error
        out["metrics"].append(entry)
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
    metrics = summary.get("metrics", [])
    echo(f"\nMetrics ({len(metrics)})")
    if metrics:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        rows = [[e["metric"], e["source"], e["target"] or "-", fmt(e["value"]), fmt(e["train_value"])] for e in metrics]
        echo(_table(rows, ["metric", "source", "target", "value", "train value"]))
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

    Lists neural sets, models and layers with their shapes, score entries, metric entries (RSA,
    shape, CKA, dimensionality), and entries whose write never finished.
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


_DIRECTION_COMMANDS = ("forward", "reverse", "inter-animal", "model-to-model")
_METRIC_COMMANDS = ("rsa", "shape", "cka", "dimensionality")


class _ScoreGroup(click.Group):
    """``neuroxr score KIND ...``: the subcommands in the order they were added; ``_`` may stand for
    ``-``; an unknown KIND is refused with the accepted ones listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or super().get_command(ctx, cmd_name.replace("_", "-"))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name is not None and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise click.UsageError(
                f"unknown score kind {name!r}: choose a direction ({', '.join(_DIRECTION_COMMANDS)}) "
                f"or a metric ({', '.join(_METRIC_COMMANDS)}).",
                ctx,
            )
        return super().resolve_command(ctx, args)


@main.group(cls=_ScoreGroup)
def score() -> None:
    """Score a direction or a geometry metric between sets of a study store and write the entry.

    Directions (scores/<direction>/<source>__<target>): forward, reverse, inter-animal,
    model-to-model. Metrics (metrics/<metric>/...): rsa (crsa, ersa, ereg), shape, cka,
    dimensionality. Sets are named NAME (neural set), NAME.REGION (region subset of a neural set,
    metrics only) or MODEL.LAYER (feature set).
    """


def _direction_command(direction: str) -> click.Command:
    kinds = {"forward": ("MODEL.LAYER", "NAME"), "reverse": ("NAME", "MODEL.LAYER"),
             "inter-animal": ("NAME", "NAME"), "model-to-model": ("MODEL.LAYER", "MODEL.LAYER")}[direction]

    @click.argument("store")
    @click.argument("source")
    @click.argument("target")
    @_score_options
    def run(store: str, source: str, target: str, reps: int, seed: int, regressor: str, alpha: float,
            n_folds: int, max_n: int | None, split: str, no_ceiling: bool, backend: str | None, overwrite: bool) -> None:
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

    run.__doc__ = (
        f"Score the {direction} direction from SOURCE ({kinds[0]}) to TARGET ({kinds[1]}) in STORE and write "
        f"scores/{direction.replace('-', '_')}/SOURCE__TARGET (a complete entry is read back unless --overwrite)."
    )
    return click.command(name=direction)(run)


for _direction in _DIRECTION_COMMANDS:
    score.add_command(_direction_command(_direction))


def _given(ctx: click.Context, names: list[str]) -> dict[str, Any]:
    """The options given on the command line (the others keep the metric function's defaults)."""
    out = {}
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source not in (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP):
            out[name] = ctx.params[name]
    return out


def _metric_line(path: str, ds: Any, existed: bool) -> str:
    """``<path>: score ...`` for a metric entry."""
    score_ = ds["score"]
    if "split" in score_.dims:
        value = ", ".join(f"{sp} {float(score_.sel(split=sp)):.4f}" for sp in score_["split"].values.astype(str))
    else:
        value = f"{float(score_):.4f}"
    extra = []
    if "ceiling" in ds:
        extra.append(f"ceiling {float(ds['ceiling']):.4f}, ceiled {float(ds['ceiled_score']):.4f}")
    if "r" in ds and "neuroid" in ds["r"].dims:
        extra.append(f"mean r over {ds.sizes['neuroid']} neuroids")
    if ds.attrs.get("lower_is_better"):
        extra.append("distance: lower = more similar")
    note = f" ({'; '.join(extra)})" if extra else ""
    again = "  [already in the store; --overwrite recomputes]" if existed else ""
    return f"{path}: {ds.attrs.get('metric', '')} {value}{note}{again}"


def _run_metric(store: str, metric: str, source: str, target: str | None, overwrite: bool, params: dict[str, Any]) -> None:
    from .metrics import metric_kind, score_metric

    st = _open(store, mode="a")
    try:
        kind = metric_kind(metric, params.get("variant"))
        path = st.metric_path(kind, source, target)
        existed = not overwrite and st.has_metric(kind, source, target)
        ds = score_metric(st, metric, source, target, overwrite=overwrite, **params)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_metric_line(path, ds, existed))


_OVERWRITE = click.option("--overwrite", is_flag=True, help="Recompute even if a complete entry exists.")


@score.command(name="rsa")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--variant", type=click.Choice(["crsa", "ersa", "ereg"]), default="crsa", show_default=True,
              help="crsa: model RDM vs target RDM; ersa: RDM of cross-validated encoding predictions (train/test); ereg: encoding after a sparse random projection.")
@click.option("--rdm-method", type=click.Choice(["correlation", "cosine", "euclidean", "sqeuclidean"]), default=None, help="RDM of each set (crsa, ersa; default correlation).")
@click.option("--compare-method", type=click.Choice(["pearson", "spearman", "kendall", "cosine"]), default=None, help="RDM comparison (crsa, ersa; default spearman).")
@click.option("--ceiling/--no-ceiling", default=None, help="Split-half noise ceiling of the neural RDM (crsa; default: when the target has >= 2 repeats).")
@click.option("--n-reps", type=click.IntRange(min=1), default=None, help="Split halves of the ceiling (crsa; default 10).")
@click.option("--seed", type=int, default=None, help="Seed of the ceiling halves (crsa), the train/test split (ersa), the projection (ereg); default 0.")
@click.option("--alpha", type=click.FloatRange(min=0), default=None, help="Ridge penalty of the encoding model (ersa, ereg; default 0.1).")
@click.option("--n-folds", type=click.IntRange(min=2), default=None, help="Folds of the out-of-fold predictions (ersa, ereg; default 10).")
@click.option("--fold-seed", type=int, default=None, help="Seed of the folds (ersa, ereg; default 0).")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, help="Held-out fraction of the stimuli (ersa; default 0.5).")
@click.option("--n-components", default=None, help="Projection dimension, an integer or 'auto' (ereg; default auto).")
@click.option("--eps", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, help="Johnson-Lindenstrauss distortion for 'auto' (ereg; default 0.1).")
@_OVERWRITE
@click.pass_context
def score_rsa_command(ctx: click.Context, store: str, source: str, target: str, variant: str, overwrite: bool, **_: Any) -> None:
    """RSA between the feature set SOURCE (MODEL.LAYER) and TARGET (neural set NAME[.REGION] or
    MODEL.LAYER) in STORE; writes metrics/<variant>/SOURCE__TARGET.

    Options that do not apply to the chosen variant are refused.
    """
    params = _given(ctx, ["rdm_method", "compare_method", "ceiling", "n_reps", "seed", "alpha", "n_folds", "fold_seed",
                          "test_size", "n_components", "eps"])
    if "n_components" in params and params["n_components"] != "auto":
        try:
            params["n_components"] = int(params["n_components"])
        except ValueError:
            raise click.BadParameter(f"must be an integer or 'auto'; got {params['n_components']!r}.", param_hint="--n-components") from None
    _run_metric(store, "rsa", source, target, overwrite, {"variant": variant, **params})


@score.command(name="shape")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--alpha", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="1 = Procrustes, 0 = CCA-like.")
@click.option("--center-columns/--no-center-columns", default=True, show_default=True)
@click.option("--zero-pad/--no-zero-pad", default=True, show_default=True, help="Pad the narrower representation with zero columns.")
@click.option("--score-method", type=click.Choice(["angular", "euclidean"]), default="angular", show_default=True)
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True, help="Held-out fraction of the stimuli.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/test split (the split of ersa).")
@_OVERWRITE
def score_shape_command(store: str, source: str, target: str, alpha: float, center_columns: bool, zero_pad: bool,
                        score_method: str, test_size: float, seed: int, overwrite: bool) -> None:
    """Shape-metric distance (LinearMetric) between the feature set SOURCE and TARGET (neural set or
    feature set) in STORE, fitted on train stimuli and reported on train and test; writes
    metrics/shape/SOURCE__TARGET."""
    _run_metric(store, "shape", source, target, overwrite, dict(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad,
                                                                score_method=score_method, test_size=test_size, seed=seed))


@score.command(name="cka")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--debiased", is_flag=True, help="The debiased CKA estimator.")
@_OVERWRITE
def score_cka_command(store: str, source: str, target: str, debiased: bool, overwrite: bool) -> None:
    """Linear CKA between the feature set SOURCE and TARGET (neural set or feature set) in STORE;
    writes metrics/cka/SOURCE__TARGET."""
    _run_metric(store, "cka", source, target, overwrite, {"debiased": debiased})


@score.command(name="dimensionality")
@click.argument("store")
@click.argument("source")
@_OVERWRITE
def score_dimensionality_command(store: str, source: str, overwrite: bool) -> None:
    """Effective dimensionality of SOURCE (feature set MODEL.LAYER, or neural set NAME[.REGION],
    trial-averaged) in STORE; writes metrics/dimensionality/SOURCE."""
    _run_metric(store, "dimensionality", source, None, overwrite, {})


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


#: The metrics of the demo and their (small, fast) options.
DEMO_METRICS = ("rsa", "shape", "cka", "dimensionality")
DEMO_METRIC_OPTIONS: dict[str, dict[str, Any]] = {"rsa": {"variant": "crsa", "n_reps": 3}, "shape": {"alpha": 1.0}}


def _demo_scores(store: StudyStore, reps: int, seed: int, scheduler: str | None) -> None:
    """Every direction and the geometry metrics over the example study (one sweep on a local Dask
    cluster), then the tables."""
    try:
        from .sweep import sweep
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

        from .metrics import metric_kind, metric_value, score_metric

        table = pd.DataFrame(rows, columns=["direction", "source", "target", "median_ev"])
        mrows = []
        layers = [f"{m}.{l}" for m in models for l in store.layers(m)]
        for metric in DEMO_METRICS:
            opts = dict(DEMO_METRIC_OPTIONS.get(metric, {}))
            kind = metric_kind(metric, opts.get("variant"))
            pairs = [(s, None) for s in layers + neural] if kind == "dimensionality" else [(s, t) for s in layers for t in neural]
            for src, tgt in pairs:
                ds = score_metric(store, metric, src, tgt, **opts)
                mrows.append({"metric": kind, "source": src, "target": tgt, "value": metric_value(ds)})
        metric_table = pd.DataFrame(mrows)
    _print_demo_table(table)
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
