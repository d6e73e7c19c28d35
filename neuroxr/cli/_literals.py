"""The Python literals of library messages that :func:`neuroxr.cli._common.flag_spelling` reads back as values
(``alphas=[1.0, nan]`` -> ``--alphas 1,nan``)."""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["LITERAL", "NUMBER", "literal"]

#: a number as Python prints one
NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
#: an item of a tuple / list of numbers: also the non-finite values Python prints as ``nan``, ``inf``, ``-inf``
_ITEM = rf"(?:{NUMBER}|-?inf|nan)"
#: a Python literal of a message: a string, True/False/None, a number, or a tuple / list of numbers (``(0.1, 1.0)``,
#: ``[1.0, nan]``)
LITERAL = (r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|True|False|None|" + NUMBER
           + rf"|\((?:{_ITEM}, )*{_ITEM},?\)|\[(?:{_ITEM}, )*{_ITEM}\])")
_NUMBERS = re.compile(rf"\((?:{_ITEM}, )*{_ITEM},?\)|\[(?:{_ITEM}, )*{_ITEM}\]")


def literal(text: str) -> Any:
    """The value of a :data:`LITERAL` (``ast.literal_eval``, which reads no ``nan`` or ``inf``: a tuple or list of
    numbers holding one is read item by item); raises ``ValueError`` or ``SyntaxError`` for anything else."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if not _NUMBERS.fullmatch(text):
            raise
    items = [float(t) for t in text[1:-1].split(",") if t.strip()]
    return tuple(items) if text[0] == "(" else items
