"""The ``neuroxr`` click group and what its commands share (output modes, progress, stores, errors).

Heavy modules (xarray, pandas, the store, the entry engine) are imported inside the commands'
bodies, so ``neuroxr --help`` and ``neuroxr --version`` stay fast.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import click

__all__ = ["main", "open_store_or_fail", "table", "report_validation", "output_options", "Output", "progress_for",
           "one_line"]


def one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def _version() -> str:
    from .. import __version__

    return __version__


class _Main(click.Group):
    """The top group: any neuroxr error (or a bad file, value or key) becomes a one-line message
    on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import NeuroxrError

        try:
            with warnings.catch_warnings():  # warnings: one line on stderr (none with --quiet)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except click.UsageError as exc:  # one line, no usage block; exit status 2 as click's
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            raise _OneLineUsage(one_line(exc.format_message()) + hint) from None
        except click.ClickException as exc:
            exc.message = one_line(exc.message)
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (NeuroxrError, OSError, ValueError, KeyError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise click.ClickException(one_line(msg)) from None
        except Exception as exc:  # a bug: still one line, the traceback on request
            if os.environ.get("NEUROXR_DEBUG"):
                raise
            raise click.ClickException(f"internal error, {type(exc).__name__}: {one_line(exc)} "
                                       "(set NEUROXR_DEBUG=1 for the traceback and report it)") from None


class _OneLineUsage(click.ClickException):
    exit_code = 2


def _show_warning(message: Any, category: type, *_: Any, **__: Any) -> None:
    click.echo(f"Warning: {one_line(message)}", err=True)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"neuroxr, version {_version()}")
        ctx.exit()


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-V", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
def main() -> None:
    """Compare artificial neural networks with brains on labeled arrays in Zarr study stores."""


class Output:
    """Where a command's output goes: text (default), one JSON object (``--json``) or nothing (``--quiet``).

    Errors are never silenced: they go to stderr as one line with a non-zero exit.
    """

    def __init__(self, as_json: bool = False, quiet: bool = False) -> None:
        self.as_json, self.quiet = as_json, quiet
        if quiet:  # inside the group's catch_warnings: restored when the command ends
            warnings.simplefilter("ignore")

    @property
    def text(self) -> bool:
        """Whether text output is printed."""
        return not (self.as_json or self.quiet)

    def echo(self, message: str = "", err: bool = False) -> None:
        if self.text:
            click.echo(message, err=err)

    def json(self, obj: Any) -> None:
        if self.as_json:
            click.echo(json.dumps(obj, default=_plain))


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def output_options(fn: Callable) -> Callable:
    """Add ``--json`` and ``--quiet/-q`` (passed as ``as_json`` and ``quiet``) to a command."""
    fn = click.option("--quiet", "-q", is_flag=True, default=False, help="Print nothing but errors.")(fn)
    return click.option("--json", "as_json", is_flag=True, default=False, help="Print the result as one JSON object.")(fn)


def progress_for(out: Output, desc: str) -> bool | Callable[[Iterable[Any]], Iterable[Any]]:
    """The ``progress`` argument of a computation: a bar on a terminal, a plain line off one, none
    with ``--json`` or ``--quiet``."""
    if not out.text:
        return False
    if sys.stderr.isatty():
        return True

    def lines(items: Iterable[Any]) -> Iterable[Any]:
        items = list(items)
        n = len(items)
        step = max(1, n // 10)
        for i, item in enumerate(items, 1):
            yield item
            if i % step == 0 or i == n:
                click.echo(f"{desc}: {i}/{n}", err=True)

    return lines


def open_store_or_fail(url: str, mode: str = "r") -> Any:
    """Open a store for a command; a missing store is a CLI error (never created by reading or scoring)."""
    from ..store import StoreError, StudyStore

    try:
        store = StudyStore(url, mode="r")
        return store if mode == "r" else StudyStore(url, mode="a")
    except StoreError as exc:
        raise click.ClickException(one_line(exc.args[0] if exc.args else exc)) from None


def table(rows: list[list[Any]], header: list[str], indent: str = "  ") -> str:
    """Left-aligned plain-text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(indent + line for line in lines)


def report_validation(url: str, problems: list[str], n_entries: int, out: Output | None = None) -> None:
    """Print the outcome of :func:`neuroxr.schemas.validate_store` (problems on stderr)."""
    out = out or Output()
    if problems:
        if not out.as_json:  # quiet still shows the problems: they are the error
            click.echo(f"{url}: {len(problems)} problem(s) found:", err=True)
            for p in problems:
                click.echo(f"  - {p}", err=True)
    else:
        out.echo(f"{url}: valid study store ({n_entries} entries).")
