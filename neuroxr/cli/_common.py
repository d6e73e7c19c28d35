"""The ``neuroxr`` click group and what its commands share (opening stores, tables, errors)."""

from __future__ import annotations

from typing import Any

import click

from .. import __version__
from ..errors import NeuroxrError
from ..store import StoreError, StudyStore

__all__ = ["main", "open_store_or_fail", "table", "report_validation"]


class _Main(click.Group):
    """The top group: any neuroxr error becomes a one-line message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NeuroxrError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="neuroxr")
def main() -> None:
    """Compare artificial neural networks with brains on labeled arrays in Zarr study stores."""


def open_store_or_fail(url: str, mode: str = "r") -> StudyStore:
    """Open a store for a command; a missing store is a CLI error (never created by reading or scoring)."""
    try:
        return StudyStore(url, mode="r") if mode == "r" else _existing(url)
    except StoreError as exc:
        raise click.ClickException(f"{exc} Check the path or URL.") from exc


def _existing(url: str) -> StudyStore:
    StudyStore(url, mode="r")  # raises when there is no store there
    return StudyStore(url, mode="a")


def table(rows: list[list[Any]], header: list[str], indent: str = "  ") -> str:
    """Left-aligned plain-text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(indent + line for line in lines)


def report_validation(url: str, problems: list[str], n_entries: int) -> None:
    """Print the outcome of :func:`neuroxr.schemas.validate_store`."""
    if problems:
        click.echo(f"{url}: {len(problems)} problem(s) found:", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
    else:
        click.echo(f"{url}: valid study store ({n_entries} entries).")
