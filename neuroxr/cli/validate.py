"""``neuroxr validate STORE``: check a store against the schemas (exit status 1 on violations)."""

from __future__ import annotations

import click

from ._common import Output, main, open_store_or_fail, output_options, report_validation

__all__ = ["validate"]


@main.command()
@click.argument("store")
@click.option("--values", is_flag=True, help="Also check values (no inf in neural sets, finite features); reads all data.")
@output_options
def validate(store: str, values: bool, as_json: bool, quiet: bool) -> None:
    """Check the study store STORE against neuroxr's schemas.

    Reports unfinished writes, bad names, unknown groups and entries that break their layout;
    exits with status 1 when anything is wrong.
    """
    from ..schemas import _store_entries, validate_store

    out = Output(as_json, quiet)
    st = open_store_or_fail(store)
    problems = validate_store(st, values=values)
    n = len(_store_entries(st))
    out.json({"url": st.url, "valid": not problems, "entries": n, "problems": problems})
    report_validation(st.url, problems, n, out)
    if problems:
        raise SystemExit(1)
