"""``neuroxr demo [PATH]``: write the example study to PATH, score it, print the results first."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import uuid
from typing import Any

import click

from ._common import Output, main, not_empty, one_line, output_options, records, report_validation

__all__ = ["demo", "example_study", "DEMO_ATTR", "DEMO_METRICS", "DEMO_METRIC_OPTIONS"]

#: The root attribute that marks a store written by ``neuroxr demo``: ``{"seed", "n_stimuli"}`` of its
#: example study. Only such a store is reused or rewritten (``--force``) by the demo.
DEMO_ATTR = "neuroxr_demo"

#: The metrics of the demo and their (small, fast) options.
DEMO_METRICS = ("rsa", "shape", "cka", "dimensionality")
#: the fewest stimuli the example generator accepts: its neuroids (208) + latent dims (16) + 1
DEMO_MIN_STIMULI = 225

DEMO_METRIC_OPTIONS: dict[str, dict[str, Any]] = {"rsa": {"variant": "crsa"}, "shape": {"alpha": 1.0}}  # cRSA: --reps; both: --seed


@main.command()
@click.argument("path", default="neuroxr-demo.zarr", required=False, callback=not_empty)
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the example study and its scores (default: the existing study's, else 0).")
@click.option("--n-stimuli", type=click.IntRange(min=DEMO_MIN_STIMULI), default=None,
              help=f"Number of stimuli (default: the generator's 400; at least {DEMO_MIN_STIMULI}, its neuroids + latent dims + 1).")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True, help="Split-half repetitions per score (the directions' ceilings and cRSA's).")
@click.option("--force", is_flag=True,
              help="Rewrite the example study even if PATH already holds one (never another study store).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler, or 'serial' to run in this process (default: a local cluster).")
@click.option("--inventory", is_flag=True, help="Also print what the store holds (as neuroxr info does), after the results.")
@output_options
def demo(path: str, seed: int | None, n_stimuli: int | None, reps: int, force: bool, scheduler: str | None, inventory: bool,
         as_json: bool, quiet: bool) -> None:
    """Write the example study to PATH (default ./neuroxr-demo.zarr, or reuse it), score every
    direction and the geometry metrics (cRSA, shape, CKA, effective dimensionality) on a local Dask
    cluster, and print the results. A re-run resumes: complete entries are not recomputed. PATH
    must be new or hold an example study that the demo wrote."""
    from ..errors import SweepConfigError
    from ..schemas import validate_store
    from ..store import StudyStore
    from ..store._zarr import enclosing_zarr, local_root
    from ..sweep.cluster import check_client, connect
    from ..sweep.run import _is_serial
    from .info import print_summary, store_summary

    out = Output(as_json, quiet)
    if local_root(path) is None:  # a URL taken as a path would write a local folder 'gs:/...' and then read the URL
        raise click.BadParameter(f"{path!r} is a URL; the demo writes its example study to a local folder: give a "
                                 "path (and copy the folder to the object store to use it there).", param_hint="'PATH'")
    # a file:// URL: its folder; '~/demo.zarr' (quoted, or after '=') the home folder's, never a folder named '~'
    path = local_root(path) if path.startswith("file://") else os.path.expanduser(path)
    where = os.path.abspath(path)
    # every argument is checked before anything is written or replaced
    address = scheduler is not None and not _is_serial(scheduler)
    exists = os.path.exists(os.path.join(path, "zarr.json"))
    outer = enclosing_zarr(where)
    if outer is not None:  # never a study inside another store's groups
        raise click.ClickException(f"{path!r} lies inside the Zarr store {outer!r}; choose a PATH outside it.")
    if os.path.exists(path) and not exists:
        raise click.ClickException(f"{path!r} exists and is not a Zarr store; choose another PATH.")
    made = example_study(path) if exists else None
    if exists and made is None:  # never the demo's sweep in, nor --force on, a store the demo did not write
        raise click.ClickException(f"{path!r} is a study store that neuroxr demo did not write; the demo writes and "
                                   "scores only its own example study: choose another PATH (a new folder).")
    if made is not None and not force:
        if seed is not None and seed != made["seed"]:  # never a silently ignored option
            raise click.ClickException(f"the example study in {path!r} was generated with seed {made['seed']}, not --seed {seed}; "
                                       f"pass --force to rewrite it with seed {seed} (or drop --seed).")
        if n_stimuli is not None and n_stimuli != made["n_stimuli"]:
            raise click.ClickException(f"the example study in {path!r} has {made['n_stimuli']} stimuli, not --n-stimuli "
                                       f"{n_stimuli}; pass --force to rewrite it with {n_stimuli}.")
        seed = made["seed"]
    # a scheduler address is checked and connected to (within dask's connect timeout) before writing
    if address:
        try:
            check_client(scheduler)
        except SweepConfigError as exc:  # named as the flag (the check names the Python keyword)
            raise click.UsageError("--scheduler " + str(exc).removeprefix("scheduler ")) from None
    client, to_close = connect(scheduler, None, False, None) if address else (scheduler, [])
    try:
        if made is not None and not force:
            out.echo(f"Reusing the example study in {where} (pass --force to rewrite it).")
            if _read_mark(path) is None:  # an older demo's store: marked now (a read-only one is recognised again)
                with contextlib.suppress(OSError):
                    _mark(path, **made)
            store = StudyStore(path)
        else:
            out.echo(f"{'Rewriting' if exists else 'Writing'} the example study to {where} ...")
            seed = 0 if seed is None else seed
            store = _write_example(path, seed, n_stimuli)
        problems = validate_store(store)
        if problems:
            # the problems on stderr; the entry count is printed for a valid store only (no second walk of the store)
            report_validation(store.url, problems, 0, Output(quiet=True))
            raise click.ClickException(f"the example study in {where} breaks the schemas ({len(problems)} problem(s)); pass --force.")
        table, metric_table = _demo_scores(store, reps=reps, seed=seed, scheduler=client, progress=out.text)
    finally:
        for thing in to_close:
            thing.close()
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
    arg = shlex.quote(path)  # a PATH with spaces or quotes: the commands as they are typed in a shell
    click.echo(f"\nThe example study is in {where}: neuroxr info {arg} lists it, neuroxr report {arg} writes a report.")
    if inventory:
        click.echo("")
        print_summary(store_summary(store))


def example_study(path: str) -> dict[str, int] | None:
    """``{"seed", "n_stimuli"}`` of the example study that ``neuroxr demo`` wrote to the local store
    ``path``, or ``None`` when the store holds anything else (reads only).

    A store is the demo's when its root carries the mark :data:`DEMO_ATTR`, or (a store of an older
    demo, written before the mark) when its neural and feature sets are exactly those of the
    generator for the seed and stimulus count they record.
    """
    from ..store import StudyStore

    mark = _read_mark(path)
    if mark is not None:
        return mark
    try:
        return _generated(StudyStore(path, mode="r"))
    except Exception:  # anything unreadable or unexpected is not the example study
        return None


def _read_mark(path: str) -> dict[str, int] | None:
    """The demo's mark (:data:`DEMO_ATTR`) in the root metadata of the local store ``path``, if any."""
    try:
        with open(os.path.join(path, "zarr.json"), encoding="utf-8") as fh:
            mark = (json.load(fh).get("attributes") or {}).get(DEMO_ATTR)
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(mark, dict) and isinstance(mark.get("seed"), int) and isinstance(mark.get("n_stimuli"), int):
        return {"seed": mark["seed"], "n_stimuli": mark["n_stimuli"]}
    return None


def _generated(store: Any) -> dict[str, int] | None:
    """``{"seed", "n_stimuli"}`` when the sets of ``store`` are exactly the example generator's
    (:func:`neuroxr.datasets.synthetic.make_study` with its defaults: same names, ids and values)."""
    from ..datasets.synthetic import make_study

    names = store.neural_sets()
    if not names:
        return None
    first = store.read_neural(names[0])
    if not isinstance(first.attrs.get("seed"), int):  # the generator records its seed on every set
        return None
    made = {"seed": int(first.attrs["seed"]), "n_stimuli": int(first.sizes["stimulus"])}
    study = make_study(**made)
    layers = {m: sorted(store.layers(m)) for m in store.models()}
    if sorted(names) != sorted(study.neural) or layers != {m: sorted(ls) for m, ls in study.features.items()}:
        return None
    pairs = [(store.read_neural(n), da) for n, da in study.neural.items()]
    pairs += [(store.read_features(m, layer), da) for m, ls in study.features.items() for layer, da in ls.items()]
    return made if all(_same_array(got, want) for got, want in pairs) else None


def _same_array(got: Any, want: Any) -> bool:
    """The same values and ids along every dim (NaN equal to NaN)."""
    import numpy as np

    want = want.transpose(*got.dims)
    ids = [c for c in ("stimulus_id", "neuroid_id", "unit_id") if c in want.coords]
    return got.shape == want.shape and all(np.array_equal(got[c].values, want[c].values) for c in ids) and \
        bool(np.array_equal(got.values, want.values, equal_nan=True))


def _mark(path: str, seed: int, n_stimuli: int) -> None:
    """Mark the store at ``path`` as the demo's example study (a root attribute, :data:`DEMO_ATTR`)."""
    import zarr

    zarr.open_group(path, mode="r+").attrs[DEMO_ATTR] = {"seed": int(seed), "n_stimuli": int(n_stimuli)}


def _write_example(path: str, seed: int, n_stimuli: int | None) -> Any:
    """Write the example study beside ``path``, mark it, then put it in place of ``path`` (two
    renames); the previous example study there is deleted only once the new one is complete. A
    failed generation leaves ``path`` as it was and nothing beside it."""
    from ..datasets import synthetic
    from ..store import StoreError, StudyStore

    where = os.path.abspath(path)
    parent, name = os.path.split(where)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        why = "is a file" if os.path.isfile(parent) else f"cannot be made ({exc.strerror or type(exc).__name__})"
        raise click.ClickException(f"cannot write the example study to {where!r}: its folder {parent!r} {why}; "
                                   "choose another PATH.") from None
    tag = uuid.uuid4().hex[:12]
    new, old = (os.path.join(parent, f".{name}.{what}-{tag}") for what in ("new", "old"))
    kw: dict[str, Any] = {} if n_stimuli is None else {"n_stimuli": n_stimuli}
    try:
        written = synthetic.write_example_study(new, seed=seed, **kw)
        first = written.read_neural(written.neural_sets()[0])
        _mark(new, seed, first.sizes["stimulus"])
        if os.path.exists(where):
            os.rename(where, old)
            try:
                os.rename(new, where)
            except OSError:
                os.rename(old, where)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(new, where)
    except ValueError as exc:  # e.g. too few stimuli for the generator's defaults
        raise click.ClickException(f"cannot generate the example study: {one_line(exc)}") from None
    except (OSError, StoreError) as exc:  # a folder that cannot be written: named as given, not the copy beside it
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        why = (cause.strerror or type(cause).__name__) if isinstance(cause, OSError) else one_line(exc)
        raise click.ClickException(f"cannot write the example study to {where!r} ({why}); choose a PATH in a folder "
                                   "you can write.") from None
    finally:
        shutil.rmtree(new, ignore_errors=True)  # no half-written study left behind
    return StudyStore(path)


def _demo_scores(store: Any, reps: int, seed: int, scheduler: Any, progress: bool) -> tuple[Any, Any]:
    """Every direction and the geometry metrics over the example study (one sweep), as two tables; ``reps`` and
    ``seed`` are those of every score that takes them (the directions', cRSA's ceiling, the shape metric's split)."""
    import contextlib
    import sys

    from ..sweep import sweep

    with contextlib.redirect_stdout(sys.stderr):  # progress lines go to stderr, results to stdout
        result = sweep(store, directions=("forward", "reverse", "inter_animal", "model_to_model") + DEMO_METRICS,
                       client=scheduler, reps=reps, seed=seed, progress=progress,
                       metric_options={"rsa": {**DEMO_METRIC_OPTIONS["rsa"], "reps": reps, "seed": seed},  # the ceiling's halves
                                       "shape": {**DEMO_METRIC_OPTIONS["shape"], "seed": seed}})  # its train/test split
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
        listed = store.cached().hold()  # each layer's model resolved once, from one reading of the store's listing
        model = {n: resolve(listed, n, kinds=("features",)).model for n in dict.fromkeys([*sub["source"], *sub["target"]])}
        pairs = sub.assign(
            source_model=[model[n] for n in sub["source"]],
            target_model=[model[n] for n in sub["target"]],
        ).pivot_table(index="source_model", columns="target_model", values="median_ev", aggfunc="max")
        pairs.index.name, pairs.columns.name = "model-to-model (best layer pair): from", None
        click.echo("\n" + pairs.to_string(float_format=fmt))
