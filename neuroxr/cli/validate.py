"""``neuroxr validate STORE``: check a store against the schemas (exit status 1 on violations)."""

from __future__ import annotations

import click

from ..schemas import _store_entries, validate_store
from ._common import main, open_store_or_fail, report_validation

__all__ = ["validate"]


@main.command()
@click.argument("store")
@click.option("--values", is_flag=True, help="Also check values (no inf in neural sets, finite features); reads all data.")
def validate(store: str, values: bool) -> None:
    """Check the study store STORE against neuroxr's schemas.

    Reports unfinished writes, bad names, unknown groups and entries that break their layout;
    exits with status 1 when anything is wrong.
    """
    st = open_store_or_fail(store)
    problems = validate_store(st, values=values)
    report_validation(st.url, problems, len(_store_entries(st)))
    if problems:
        raise SystemExit(1)
