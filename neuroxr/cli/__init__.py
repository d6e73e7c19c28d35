"""The ``neuroxr`` command line: one click group, one module per command group.

========================  ==========================================================
module                    commands
========================  ==========================================================
``_common``               the ``main`` group (errors -> message and exit status 1; Ctrl-C -> 130)
``_advice``               the library's Python advice in errors as what a command-line user does
``_callers``              who raised a message: its first word's library function, the inference functions (one registry)
``_json``                 strict JSON of results and tables (``--json``), NaN as null
``_literals``             the Python literals of messages read back as values (``alphas=[1.0, nan]`` -> ``--alphas 1,nan``)
``_keys``                 ``neuroxr sweep``'s messages in its config file's spelling (nested keys by their path)
``_storage``              ``--storage-option`` / ``--storage-profile`` of the commands that open a store
``info``                  ``neuroxr info STORE``
``validate``              ``neuroxr validate STORE``
``score``                 ``neuroxr score KIND STORE SOURCE [TARGET]``
``demo``                  ``neuroxr demo [PATH]``
``report``                ``neuroxr report STORE``
``relative``              ``neuroxr relative STORE MODEL.LAYER --anchors ID_FILE``
``sweep``                 ``neuroxr sweep``
``extract``               ``neuroxr extract`` (torch imported only when run)
========================  ==========================================================
"""

from __future__ import annotations

from .._signals import install_early

install_early()  # installed by neuroxr/__init__.py first; again here for a program that imported neuroxr before it

from . import demo, info, relative, report, score, validate  # noqa: E402, F401  (each registers its commands)
from ._common import main  # noqa: E402
from .info import store_summary  # noqa: E402

__all__ = ["main", "store_summary"]


def _wire_commands() -> None:
    """The sweep and extract commands (their heavy imports happen only when they run)."""
    from .extract import extract_command
    from .sweep import sweep_command

    main.add_command(sweep_command, "sweep")
    main.add_command(extract_command, "extract")


_wire_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
