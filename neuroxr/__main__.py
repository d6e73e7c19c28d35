"""``python -m neuroxr``: the same as the ``neuroxr`` command (and ``python -m neuroxr.cli``)."""

from .cli import main

main()
