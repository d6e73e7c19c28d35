"""``neuroxr validate STORE``: check a store against the schemas (exit status 1 on violations)."""

from __future__ import annotations

import click

from ._common import Output, cli_advice, main, open_store_or_fail, output_options, report_validation, storage_options
from ._storage import read_only_error, store_writable

__all__ = ["validate"]


@main.command()
@click.argument("store")
@click.option("--values", is_flag=True, help="Also check values (no inf in neural sets, finite features); reads all data.")
@click.option("--rebuild-inventory", is_flag=True,
              help="Rebuild the store's inventory (what listings read) from a walk of its groups; needs write access.")
@storage_options
@output_options
def validate(store: str, values: bool, rebuild_inventory: bool, as_json: bool, quiet: bool) -> None:
    """Check the study store STORE against neuroxr's schemas.

    Reports unfinished writes, bad names, unknown groups and entries that break their layout;
    exits with status 1 when anything is wrong. Also compares the store's inventory (the document
    listings read instead of walking the store) with its groups and names where they disagree (a
    note, not an error: listings then walk the store), except a complete group missing from it, which
    listings do not see (an error); --rebuild-inventory rewrites it. A feature
    layer reduced by an earlier revision, which a re-run of extraction refuses, is a warning, not an
    error (its values are less precise than they would be now, and what was computed on them is right
    for them): it names the layer and how to recompute it (neuroxr extract --overwrite). So is a relative
    layer (neuroxr relative) whose source layer was rewritten or deleted after it was computed, and a
    model whose layers record different extractions (other weights, preprocessing or stimuli).
    """
    from ..errors import warn
    from ..schemas import _check_store, _store_entries
    from ..store.listing import MISSING

    out = Output(as_json, quiet)
    st = open_store_or_fail(store, mode="a" if rebuild_inventory else "r")
    if rebuild_inventory and not store_writable(store):  # before the walk, never a bare OS error from it
        raise read_only_error(store, "--rebuild-inventory", " (or leave out --rebuild-inventory: the check only reads)")
    walked: list[tuple[str, str, bool]] = []
    problems, earlier, stale, mixed = _check_store(st, values=values, walked=walked)
    earlier = [cli_advice(note) for note in earlier]  # how to recompute: neuroxr extract's flags
    mixed = [cli_advice(note) for note in mixed]
    if rebuild_inventory:
        rebuilt = st.rebuild_inventory()
        out.echo(f"{st.url}: inventory rebuilt ({rebuilt} groups of data).")
    # as listings see them now: a complete entry the rebuild restored counts (else the check's one walk)
    n = len(_store_entries(st)) if rebuild_inventory else len(walked)
    found = st.inventory_problems()
    # a complete group the inventory lacks is not seen by listings (set names, entries, sweeps): a problem;
    # the other disagreements make listings walk the store, so they are notes
    problems = problems + [f"{path}: {why}: listings and set names do not see it; run neuroxr validate --rebuild-inventory"
                           for path, why in found if why == MISSING]
    inventory = [f"{path}: {why}" for path, why in found if why != MISSING]
    problems = [cli_advice(p) for p in problems]  # the command line's advice, no Python class names (--json too)
    obj = {"url": st.url, "valid": not problems, "entries": n, "problems": problems}
    if earlier:
        obj["earlier_revision"] = earlier
    if stale:
        obj["stale_source"] = stale
    if mixed:
        obj["mixed_extractions"] = mixed
    out.json({**obj, "inventory": inventory} if inventory else obj)
    for note in earlier + stale + mixed:  # a warning line each (none with --quiet), as validate_store warns
        warn(note)
    for line in inventory[:10]:
        out.echo(f"note: inventory: {line}", err=True)
    if len(inventory) > 10:
        out.echo(f"note: inventory: ... and {len(inventory) - 10} more; run neuroxr validate --rebuild-inventory", err=True)
    report_validation(st.url, problems, n, out)
    if problems:
        raise SystemExit(1)
