"""The usage error of an option given twice: click keeps the last one without a word."""

from __future__ import annotations

import click

__all__ = ["refuse_repeated"]


def refuse_repeated(cmd: click.Command, ctx: click.Context, args: list[str]) -> None:
    """A usage error for an option given twice, or both halves of a ``--x/--no-x`` flag: click keeps
    the last one without a word (``--reps 3 --reps 5`` scored reps=5). Options taken several times
    (``multiple``, e.g. ``-S``) are their own checks'."""
    tokens = args[: args.index("--")] if "--" in args else args
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.multiple or p.count:
            continue
        names = [*p.opts, *p.secondary_opts]
        hits = [t.partition("=")[0] for t in tokens
                if t in names or (t.startswith("--") and t.partition("=")[0] in names and "=" in t)]
        if len(set(hits)) > 1:  # both halves of a flag, or an option by two of its names
            raise click.UsageError(f"{' and '.join(dict.fromkeys(hits))} contradict or repeat each other (the last would "
                                   "win without a word): pass one of them.", ctx)
        if len(hits) > 1:
            raise click.UsageError(f"{hits[0]} is given {len(hits)} times (the last would win without a word): pass it once.", ctx)
