"""Who raised a library message: the function (or entry kind) its first word names (``split_distance: ...``),
and the inference functions, which compute the entries a command's option asks for (``bootstrap: ...``,
``--bootstrap``); used by :func:`neuroxr.cli._common.flag_spelling` and :mod:`neuroxr.cli._keys`."""

from __future__ import annotations

import re

__all__ = ["inference_functions"]

#: a message's first word, the library function (or entry kind) that raised it: ``split_distance: ...``
_CALLER = re.compile(r"^([a-z]+(?:_[a-z0-9]+)+): ")
#: a message's first word, with or without an underscore (``bootstrap: ...``)
_FIRST_WORD = re.compile(r"^([a-z][a-z0-9]*(?:_[a-z0-9]+)*): ")


def inference_functions() -> dict[str, tuple[str, ...]]:
    """The public functions that compute the store's inference entries (the directions' and the metrics',
    the names their messages start with: :func:`neuroxr.entries.kinds.speaks_as` of every kind of
    :data:`neuroxr.entries.kinds.INFERENCE_KINDS`), each with the procedures of its entries.

    Returns
    -------
    dict
        Function name -> its procedures, ``"bootstrap"`` and / or ``"permutation"`` (``bootstrap`` ->
        ``("bootstrap",)``, ``cka_bootstrap`` -> ``("bootstrap", "permutation")``: it computes both).
    """
    from ..entries.kinds import INFERENCE_KINDS, speaks_as

    out: dict[str, list[str]] = {}
    for kind, (_, procedure) in INFERENCE_KINDS.items():
        procedures = out.setdefault(speaks_as(kind), [])
        if procedure not in procedures:
            procedures.append(procedure)
    return {name: tuple(procedures) for name, procedures in out.items()}


def _inference_caller(message: str) -> tuple[str, str] | None:
    """The inference function a message starts with (:func:`inference_functions`: ``bootstrap: ...``) and
    the option that asks for its entries (``--bootstrap``; ``--permutations`` for a function that computes
    permutations only), or ``None``."""
    m = _FIRST_WORD.match(message)  # the entry kinds are imported for a message that starts with a name only
    procedures = inference_functions().get(m.group(1)) if m else None
    if procedures is None:
        return None
    return m.group(0), "--bootstrap" if "bootstrap" in procedures else "--permutations"


def _library_name(word: str) -> bool:
    """Whether ``word`` names a public function of neuroxr, neuroxr.geometry or neuroxr.report
    (``write_report``), or an entry kind."""
    import neuroxr
    from neuroxr import geometry
    from neuroxr.entries.kinds import KINDS

    if word in KINDS or callable(getattr(neuroxr, word, None)) or callable(getattr(geometry, word, None)):
        return True
    from neuroxr import report  # imported only for a message that starts with a name of its own

    return word in report.__all__ and callable(getattr(report, word, None))
