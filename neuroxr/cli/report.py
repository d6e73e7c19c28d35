"""``neuroxr report STORE``: a Markdown/HTML report of every score entry, with figures."""

from __future__ import annotations

import os

import click

from ..directions import DIRECTIONS
from ..entries import list_entries
from ..report import FORMATS, write_report
from ..store import StoreError, StudyStore
from ._common import main

__all__ = ["report", "report_command"]


def _default_out(store: str) -> str:
    base = os.path.basename(store.rstrip("/")) or "study"
    if base.endswith(".zarr"):
        base = base[: -len(".zarr")]
    return f"{base}-report"


@click.command("report")
@click.argument("store")
@click.option("--out", "out_dir", default=None, help="Folder of the report (default: <store name>-report).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True, help="Markdown or HTML page.")
@click.option("--no-reliability", is_flag=True, help="Skip the split-half reliability of the neural sets (reads no neural data).")
def report(store: str, out_dir: str | None, fmt: str, no_reliability: bool) -> None:
    """Write a report of the study store STORE: a table of every score entry and its figures.

    The folder holds report.md or report.html, scores.csv and PNG figures (reliability per
    neural set, layer profiles, forward vs reverse).
    """
    try:
        st = StudyStore(store, mode="r")
    except StoreError as exc:
        raise click.ClickException(f"{exc} Check the path or URL.") from exc
    out_dir = out_dir or _default_out(store)
    try:
        path = write_report(st, out_dir, format=fmt, reliability=not no_reliability)
    except OSError as exc:
        raise click.ClickException(f"cannot write the report to {out_dir!r}: {exc}") from exc
    n = int((list_entries(st)["kind"].isin(DIRECTIONS) & list_entries(st)["complete"]).sum())
    click.echo(f"Wrote {path} ({n} score entr{'y' if n == 1 else 'ies'}).")


report_command = report
main.add_command(report, "report")
