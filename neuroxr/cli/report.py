"""``neuroxr report STORE``: a self-contained HTML (or Markdown) report of the store, with figures."""

from __future__ import annotations

import os

import click

from ._common import Output, SpelledCommand, main, open_store_or_fail, output_options, running, storage_options
from ._storage import local_path

__all__ = ["report", "report_command"]

#: defaults of the options that are ``write_report``'s keywords of the same names (a test compares them;
#: ``reliability_reps``: not given, write_report's RELIABILITY_REPS with the reliability, refused without it)
DEFAULTS = {"reliability_reps": None, "seed": 0, "n_boot": 1000, "dpi": 100}


def _default_out(store: str) -> str:
    from ..store._zarr import local_root

    local = local_root(store)  # a local store by its folder's name ('d.zarr/.', '..': not '.' or '..')
    base = os.path.basename(local if local is not None else store.rstrip("/"))
    base = base if base not in ("", ".", "..") else "study"
    if base.endswith(".zarr"):
        base = base[: -len(".zarr")]
    return f"{base}-report"


@click.command("report", cls=SpelledCommand)
@click.argument("store")
@click.option("--out", "out_dir", default=None, callback=local_path, help="Folder of the report (default: <store name>-report).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True,
              help="html: one self-contained page (figures embedded); md: Markdown with figure files.")
@click.option("--figures", type=click.Choice(["png", "pdf"]), default=None, help="Also write every figure as a file in this format.")
@click.option("--no-reliability", is_flag=True, help="Skip the split-half reliability of the neural sets (reads no neural data).")
@click.option("--reliability-reps", type=click.IntRange(min=1), default=DEFAULTS["reliability_reps"],
              help="Random splits of the split-half reliability of the neural sets (default 10).")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS["seed"], show_default=True,
              help="Seed of the target halves, the bootstrap and the reliability splits.")
@click.option("--n-boot", type=click.IntRange(min=1), default=DEFAULTS["n_boot"], show_default=True,
              help="Bootstrap resamples of the headline interval.")
@click.option("--dpi", type=click.IntRange(min=1), default=DEFAULTS["dpi"], show_default=True,
              help="Resolution of the PNG figures (embedded or written).")
@storage_options
@output_options
def report(store: str, out_dir: str | None, fmt: str, figures: str | None, no_reliability: bool, seed: int,
           as_json: bool, quiet: bool, reliability_reps: int | None = DEFAULTS["reliability_reps"], n_boot: int = DEFAULTS["n_boot"],
           dpi: int = DEFAULTS["dpi"]) -> None:
    """Write a report of the study store STORE for a lab meeting.

    It opens with the best layer per model and region (chosen on half of the targets, reported on
    the other half, with a bootstrap interval and the noise ceiling), then layer profiles, forward
    vs reverse, the metric entries and the parameters and package versions of every entry. The
    folder also holds scores.csv, metrics.csv and headline.csv.
    """
    from ..report import write_report

    out = Output(as_json, quiet)
    if no_reliability and reliability_reps is not None:
        raise click.UsageError("--reliability-reps sets the reliability's splits and has no effect with --no-reliability; "
                               "drop one of them.")
    st = open_store_or_fail(store)
    out_dir = out_dir or _default_out(store)
    try:
        with running("--n-boot"):  # the headline's bootstrap: its messages name the option, not the Python function
            path = write_report(st, out_dir, format=fmt, figures=figures, reliability=not no_reliability, seed=seed,
                                reliability_reps=reliability_reps, n_boot=n_boot, dpi=dpi)
    except OSError as exc:
        raise click.ClickException(f"cannot write the report to {out_dir!r}: {exc}") from None
    import pandas as pd

    n = len(pd.read_csv(os.path.join(out_dir, "scores.csv")))
    m = len(pd.read_csv(os.path.join(out_dir, "metrics.csv")))
    out.json({"report": str(path), "folder": str(out_dir), "score_entries": n, "metric_entries": m})
    out.echo(f"Wrote {path} ({n} score entr{'y' if n == 1 else 'ies'}, {m} metric entr{'y' if m == 1 else 'ies'}).")


report_command = report
main.add_command(report, "report")
