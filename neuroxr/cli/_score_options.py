"""Checks and parsing of ``neuroxr score``'s direction options (usage errors, before any data is read)."""

from __future__ import annotations

from typing import Any

import click


def check_regressor_options(options: dict[str, Any], default: str) -> None:
    """Refuse ``--alpha``, ``--alphas``, ``--n-components`` given to a regressor that does not read them
    (a usage error, as every other inert option of the command), by the library's rule and message
    (:func:`neuroxr.kernels.regressors.unread_options`, :func:`~neuroxr.kernels.regressors.unread_error`);
    ``default``: the regressor when ``--regressor`` is not given."""
    from ..kernels.regressors import unread_error, unread_given

    regressor = options["regressor"] or default
    unused, choices = unread_given(regressor, [k for k, v in options.items() if v is not None])
    if unused:
        flags = [f"--{k.replace('_', '-')}" for k in unused]
        raise click.UsageError(str(unread_error(unused, f"with --regressor {regressor}", f"pass --regressor {choices}",
                                                names=flags)))


def parse_alphas(ctx: click.Context, param: click.Parameter, value: str | None) -> list[float] | None:
    """``--alphas 0.1,1,10`` -> ``[0.1, 1.0, 10.0]`` (their values are checked by the direction)."""
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: write the penalties separated by commas, e.g. 0.1,1,10.") from None


def boot_options(given: dict[str, Any], n_boot: int) -> dict[str, Any]:
    """The ``--bootstrap`` entry's own options given (``--level``, ``--boot-method``, ``--boot-over``);
    given without ``--bootstrap`` they are refused (a usage error), never ignored."""
    given = {k: v for k, v in given.items() if v is not None}
    if given and not n_boot:
        flags = {"level": "--level", "method": "--boot-method", "over": "--boot-over"}
        names = " and ".join(flags[k] for k in given)
        raise click.UsageError(f"{names} set{'s' if len(given) == 1 else ''} the --bootstrap entry; add --bootstrap N or "
                               f"drop {names}.")
    return given
