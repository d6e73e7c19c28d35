"""``python -m neuroxr.cli``: the same as the ``neuroxr`` command."""

from . import main

main()
