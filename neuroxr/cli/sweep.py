"""The ``neuroxr sweep`` click command (registered by the CLI group)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click

from .._files import write_whole
from ._common import (
    KeysCommand,
    Output,
    flag_spelling,
    not_empty,
    one_line,
    open_store_or_fail,
    records,
    storage_options,
    storage_options_for,
    to_json,
)
from ._storage import local_path, read_only_error, store_writable

__all__ = ["sweep_command", "DASHBOARD_ADVICE"]

#: printed when a local cluster is started without bokeh (the Dask dashboard needs it)
DASHBOARD_ADVICE = 'The Dask dashboard needs bokeh: pip install ".[dashboard]" (or pip install "bokeh>=3").'


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _fmt(v: Any) -> Any:
    import numpy as np

    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else v


def _bin_bound(v: Any) -> str:
    """A time bin's bound (ms) in the entry table; ``-`` on a static entry's row."""
    return "-" if v is None or v != v else f"{v:g}"


def _dropped(table: Any, names: list[str]) -> list[str]:
    """The count columns of ``names`` that ``table`` holds with some count above 0 (shown only then:
    dropped stimuli / neuroids, undefined resamples)."""
    return [c for c in names if c in table and bool((table[c].fillna(0) > 0).any())]


def _print_text(result: Any) -> None:
    click.echo(result.summary())
    dropped = _dropped(result.table, ["n_excluded_stimuli"])
    counts = _dropped(result.metric_table, ["n_excluded_stimuli", "n_excluded_neuroids"])
    # a time-resolved entry has one row per bin: its bin's bounds tell the rows apart
    when = [c for c in ("time_bin_start", "time_bin_end") if c in result.table and result.table[c].notna().any()]
    cols = ["direction", "source", "target", *when, "n_targets", *dropped, "median_ev", "reps", "regressor"]
    if len(result.table):
        shown = result.table[cols].copy()
        for c in when:
            shown[c] = shown[c].map(_bin_bound)
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if len(result.metric_table):
        mt = result.metric_table[["metric", "source", "target", "value", "train_value", *counts]].copy()
        for c in ("target", "value", "train_value"):
            mt[c] = mt[c].map(_fmt)
        click.echo("\nMetrics (value: the test split where there is one):")
        click.echo(mt.to_string(index=False))
    if dropped or counts:
        click.echo("(n_excluded_stimuli / n_excluded_neuroids: left out for missing trials, as the entries count them)")
    if len(result.inference_table):
        it = result.inference_table
        cols = [c for c in ("direction", "metric", "source", "target", "time_bin_start", "time_bin_end", "median_ev",
                            "median_ev_low", "median_ev_high", "median_p", "score", "score_low", "score_high", "p")
                if c in it and it[c].notna().any()]
        undefined = _dropped(it, ["n_boot_undefined"])  # what makes an interval NaN
        cols += undefined
        click.echo("\nInference (bootstrap interval over stimuli; one-sided permutation p"
                   + ("; n_boot_undefined: resamples with an undefined statistic, which make the interval NaN" if undefined
                      else "") + "):")
        click.echo(it[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(result.best_layers):
        click.echo("\nBest layers (chosen on half of the targets, scored on the other half):")
        click.echo(result.best_layers.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def worker_warning(message: Any, *_: Any, **__: Any) -> None:
    """``warnings.showwarning`` of a worker of the command's embedded cluster (:func:`_quiet_workers`): one
    ``Warning: ...`` line on stderr, spelled as the command spells its own."""
    print(f"Warning: {flag_spelling(one_line(message), sweep_command)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _quiet_workers(quiet: bool) -> Any:
    """Workers of the embedded cluster started inside show warnings as the command does: with ``quiet``
    none (``PYTHONWARNINGS``, read when their interpreter starts), else each as one ``Warning: ...`` line
    spelled as the command spells it (:func:`worker_warning`, named in
    :data:`~neuroxr.sweep.cluster.WORKER_WARNINGS_ENV`, read by their preload); the variables are restored after."""
    from ..sweep.cluster import WORKER_WARNINGS_ENV

    name, value = ("PYTHONWARNINGS", "ignore") if quiet else (WORKER_WARNINGS_ENV, f"{__name__}:worker_warning")
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _refuse_unused(client: str | None, n_workers: int | None, gram_spread: bool | None, config: str | None = None,
                   given: Any = ("client", "n_workers", "gram_spread", "memory_limit"), memory_limit: Any = None) -> None:
    """Refuse options that the chosen scheduler would not use (the sweep's one check,
    :func:`neuroxr.sweep.run.check_cluster_options`), each named where it was given: a flag
    (a usage error) or a key of the config file (an error starting with the file's path).

    Parameters
    ----------
    client : str or None
        The scheduler: ``None`` (a local cluster), ``"serial"``/``"synchronous"`` or an address.
    n_workers : int or None
        ``--workers`` (or ``n_workers``): sizes the local cluster only.
    gram_spread : bool or None
        ``--gram-spread/--no-gram-spread`` (or ``gram_spread``): spreads a Gram across the workers of a cluster only.
    config : str, optional
        The config file the others come from.
    given : container of str
        Which of ``client``, ``n_workers``, ``gram_spread`` and ``memory_limit`` were given as flags (the
        others: config keys).
    memory_limit : str, number or None
        ``--memory-limit`` (or ``memory_limit``): sizes the local cluster's workers only.
    """
    from ..errors import SweepConfigError
    from ..sweep.run import check_cluster_options

    flags = {"client": "--scheduler", "local": "leave out --scheduler", "n_workers": "--workers",
             "gram_spread": "--gram-spread" if gram_spread else "--no-gram-spread", "memory_limit": "--memory-limit"}
    keys = {"client": "scheduler", "local": "leave out scheduler", "n_workers": "n_workers", "gram_spread": "gram_spread",
            "memory_limit": "memory_limit"}
    spelling = {k: flags[k] if (k if k != "local" else "client") in given else keys[k] for k in flags}
    values = {"client": client, "n_workers": n_workers, "gram_spread": gram_spread, "memory_limit": memory_limit}
    try:
        check_cluster_options(client, {k: v for k, v in values.items() if k != "client"}, spelling=spelling)
    except SweepConfigError as exc:
        if config and any(v is not None and k not in given for k, v in values.items()):  # some from the file
            raise click.ClickException(f"{config}: {one_line(exc)}") from None
        raise click.UsageError(str(exc)) from None


def _flags_given(message: str, **given: Any) -> str:
    """``message`` with the sweep's keys given as flags (``given``: those not ``None``) spelled as
    those flags (``backend='cupy'`` -> ``--backend cupy``); the keys of the config file stay keys.
    The command line's advice replaces the library's either way (:func:`~neuroxr.cli._common.flag_spelling`)."""
    from ._common import flag_spelling

    names = {k for k, v in given.items() if v is not None}
    flags = click.Command("sweep", params=[p for p in sweep_command.params if p.name in names])
    return flag_spelling(message, flags)


def _table_files(table_path: str) -> list[str]:
    """The CSV files of ``--table FILE``: the entry table, then the metric, inference and best-layer
    tables (``<root>.metrics<ext>``, ``<root>.inference<ext>``, ``<root>.best_layers<ext>``, written
    when they have rows, else an earlier run's file of that name removed)."""
    root, ext = os.path.splitext(table_path)
    return [table_path] + [f"{root}.{name}{ext or '.csv'}" for name in ("metrics", "inference", "best_layers")]


def _write_csv(table: Any, path: str) -> None:
    """Write ``table`` as CSV to ``path`` whole or not at all (:func:`~neuroxr._files.write_whole`: a sweep
    killed or interrupted while writing it left a truncated table that read as a complete one)."""
    write_whole(path, lambda f: table.to_csv(f, index=False))


def _check_table(table_path: str, store: str | None = None) -> None:
    """A usage error naming ``--table`` unless its files can be written, outside the (local) study
    ``store``: checked before the sweep runs (a file that did not exist is created and removed again)."""
    from pathlib import Path

    from ..store._zarr import local_root

    folder = os.path.dirname(os.path.abspath(table_path))
    root = None if store is None else local_root(store)
    if root is not None and Path(root).resolve() in (Path(folder).resolve(), *Path(folder).resolve().parents):
        raise click.BadParameter(f"{table_path!r} lies inside the study store {store!r}; choose a FILE outside it.",
                                 param_hint="'--table'")
    if not os.path.isdir(folder):
        why = "is a file, not a folder; choose" if os.path.exists(folder) else "does not exist; create it or choose"
        raise click.BadParameter(f"the folder {folder!r} of {table_path!r} {why} another FILE.", param_hint="'--table'")
    for path in _table_files(table_path):
        existed = os.path.exists(path)
        try:
            with open(path, "a", encoding="utf-8"):
                pass
            if not existed:
                os.remove(path)
        except OSError as exc:
            raise click.BadParameter(f"cannot write {path!r} ({exc.strerror or type(exc).__name__}); choose another FILE.",
                                     param_hint="'--table'") from None


#: ``--blas-threads none``: the sweep's ``blas_threads=None`` (threads left alone); a flag value, not given as None
_LEAVE_ALONE = "none"


def _blas_threads(ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    """``--blas-threads N`` -> ``N`` (an integer >= 1), ``--blas-threads none`` -> ``"none"`` (the sweep's ``None``)."""
    if value is None or value.strip().lower() == _LEAVE_ALONE:
        return None if value is None else _LEAVE_ALONE
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"must be an integer >= 1, or none to leave the threads alone; got {value!r}.")
    return n


@click.command(name="sweep", cls=KeysCommand, keys_from="neuroxr.sweep.config:SWEEP_KEYS")
@click.argument("store")
@click.argument("config", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--scheduler", default=None,
              help="Address of an existing Dask scheduler (tcp://host:8786), or 'serial' (default: a local cluster sized to this machine).")
@click.option("--workers", "n_workers", type=click.IntRange(min=1), default=None, help="Workers of the local cluster (default: one per core).")
@click.option("--memory-limit", default=None, callback=not_empty,
              help="Memory limit per worker of the local cluster, e.g. 2GiB (default: dask's 'auto', the machine's "
                   "memory shared by the workers); overrides the config's memory_limit.")
@click.option("--backend", type=click.Choice(["numpy", "torch", "torch_cuda", "cupy"]), default=None,
              help="Array backend of the scores; overrides the config's backend.")
@click.option("--overwrite", is_flag=True, default=False, help="Recompute entries that are already in the store.")
@click.option("--gram-spread/--no-gram-spread", "gram_spread", default=None,
              help="Reduce each layer's Gram across all workers (or never); default: automatic (layers larger than a "
                   "quarter of a worker's memory), or the config's gram_spread.")
@click.option("--on-error", type=click.Choice(["raise", "warn"]), default=None,
              help="raise (default): after every task has finished, stop with the failed entries named (exit status 1); "
                   "warn: name them in warnings and print the result (they have no row in the tables). Overrides the config's "
                   "on_error.")
@click.option("--blas-threads", default=None, callback=_blas_threads, metavar="N|none",
              help="BLAS/OpenMP threads inside each task (default 1, so that workers do not oversubscribe the cores); "
                   "none leaves them alone. Overrides the config's blas_threads.")
@click.option("--no-progress", is_flag=True, default=False, help="Do not show progress.")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="Print the result (counts, entry table, metric table, best layers) as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="Print nothing but errors.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, callback=local_path,
              help="Also write the per-entry table as CSV to this file (the metric, inference and best-layer tables "
                   "beside it, as FILE.metrics.csv, FILE.inference.csv and FILE.best_layers.csv, when they have rows).")
@storage_options
def sweep_command(store: str, config: str | None, scheduler: str | None, n_workers: int | None, backend: str | None,
                  overwrite: bool, no_progress: bool, as_json: bool, quiet: bool, table_path: str | None,
                  gram_spread: bool | None = None, memory_limit: str | None = None, on_error: str | None = None,
                  blas_threads: int | str | None = None) -> None:
    """Score every selected model x layer x neural set x region x direction of STORE on Dask.

    CONFIG is a YAML file with the sweep's arguments (models, layers, neural, directions,
    regions, reps, seed, regressor, metric_options, on_error, blas_threads, ...); directions may include the metrics
    rsa, crsa, ersa, ereg, shape, cka and dimensionality. Finished entries are written as they
    complete; re-running resumes where a killed sweep (or a lost scheduler) stopped. Progress is a
    bar on a terminal and a plain line otherwise.
    """
    from ..errors import NeuroxrError, ParameterError, SweepConfigError
    from ..sweep.cluster import check_client
    from ..sweep.config import load_config, validate_config
    from ..sweep.run import _PREFIX, SchedulerLostError, sweep

    Output(as_json, quiet)  # --quiet: no warnings on stderr (errors still go there)
    if table_path is not None:  # before the sweep runs, not after
        _check_table(table_path, store)
    so = storage_options_for(store)
    if not store_writable(store):  # refused before the work: never every entry computed and each lost at its write
        raise read_only_error(store, "neuroxr sweep (it writes every entry it computes)")
    st = open_store_or_fail(store, mode="a")  # a missing store is an error, never a new empty one
    try:
        cfg = load_config(config, st) if config else validate_config({}, st)
        for key, value in (("scheduler", scheduler), ("n_workers", n_workers), ("backend", backend),
                           ("gram_spread", gram_spread), ("memory_limit", memory_limit), ("on_error", on_error),
                           ("blas_threads", blas_threads)):
            if value is not None:
                cfg[key] = None if key == "blas_threads" and value == _LEAVE_ALONE else value
        if overwrite:
            cfg["overwrite"] = True
        client = cfg.pop("scheduler", None)
        given = [k for k, v in (("client", scheduler), ("n_workers", n_workers), ("gram_spread", gram_spread),
                                ("memory_limit", memory_limit)) if v is not None]
        _refuse_unused(client, cfg.get("n_workers"), cfg.get("gram_spread"), config, given, cfg.get("memory_limit"))
        if scheduler is not None:  # an address given as the flag: checked here, a usage error (exit 2) as the demo's
            try:
                check_client(scheduler)
            except SweepConfigError as exc:
                raise click.UsageError("--scheduler " + str(exc).removeprefix("scheduler ")) from None
        if so is not None:  # the workers open the store with the same options
            cfg["storage_options"] = {**so, **(cfg.get("storage_options") or {})}
    except NeuroxrError as exc:  # load_config's errors start with the file's path
        raise click.ClickException(one_line(exc)) from None
    try:
        with contextlib.redirect_stdout(sys.stderr), _quiet_workers(quiet):  # progress on stderr, results on stdout
            result = sweep(st, client=client, progress=not (no_progress or quiet or as_json), **cfg)
    except NeuroxrError as exc:  # found while running: named after the config file too, as its load-time errors
        # the command's message never names the Python function (sweep()'s own checks start with it: _PREFIX)
        message = one_line(exc).removeprefix(_PREFIX)
        spelled = _flags_given(message, backend=backend, on_error=on_error, blas_threads=blas_threads)
        plain = _flags_given(message)  # the same message without a flag in it
        if scheduler is not None and spelled.startswith(("scheduler ", "cannot connect to the Dask scheduler")):
            spelled = "--" + spelled if spelled.startswith("scheduler ") else f"--scheduler: {spelled}"
        # a lost scheduler, or a value given as a flag: not the file's
        where = f"{config}: " if config and not isinstance(exc, SchedulerLostError) and spelled == plain else ""
        if isinstance(exc, ParameterError) and not where:  # a value given on the command line: a usage error (exit 2)
            raise click.UsageError(spelled) from None
        raise click.ClickException(f"{where}{spelled}") from None
    if client is None and not (quiet or as_json) and not _has_bokeh():  # the local cluster ran without its dashboard
        click.echo(DASHBOARD_ADVICE, err=True)
    if result.failed and not (quiet or as_json):  # on_error: warn (raise stopped above); --json lists them in "failed"
        for key, why in result.failed.items():
            click.echo(f"Warning: sweep entry {key} failed ({flag_spelling(one_line(why), sweep_command)}); it has no row in the "
                       "tables, and a re-run computes it.", err=True)  # the sets as named, keys as the file writes them
    # the tables first: a closed standard output (`| head`) must not cost them
    written, stale = [], []
    if table_path is not None:
        tables = list(zip(_table_files(table_path), (result.table, result.metric_table, result.inference_table,
                                                     result.best_layers)))
        written = [(path, tab) for i, (path, tab) in enumerate(tables) if i == 0 or len(tab)]  # the entry table always
        # a companion table this run has no rows for: an earlier run's file of that name would pass for this run's
        stale = [path for i, (path, tab) in enumerate(tables) if i > 0 and not len(tab) and os.path.isfile(path)]
        for path, tab in written:
            try:
                _write_csv(tab, path)
            except OSError as exc:
                raise click.ClickException(f"--table: cannot write {path!r} ({exc.strerror or exc}); the entries are in "
                                           "the store: run the sweep again with another FILE.") from None
        for path in stale:
            try:
                os.remove(path)
            except OSError as exc:
                raise click.ClickException(f"--table: cannot remove {path!r}, an earlier run's table this run has no rows "
                                           f"for ({exc.strerror or exc}); remove it yourself.") from None
    if as_json:
        click.echo(to_json({
            "entries": len(result.entries), "computed": result.computed, "skipped": result.skipped, "failed": result.failed,
            "inference_computed": result.inference_computed, "inference_skipped": result.inference_skipped,
            "seconds": result.seconds, "table": records(result.table), "metric_table": records(result.metric_table),
            "best_layers": records(result.best_layers), "inference_table": records(result.inference_table),
        }))
    elif not quiet:
        _print_text(result)
    if not (quiet or as_json):
        for path, _ in written:
            click.echo(f"Wrote {path}")
        for path in stale:
            click.echo(f"Removed {path} (an earlier run's; this run has no such rows)")
