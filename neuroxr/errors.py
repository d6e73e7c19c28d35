"""Every exception and warning neuroxr raises: one base class, one subclass per concern.

Each class also derives from the built-in exception a caller would expect (``ValueError`` for bad
input, ``KeyError`` for a missing store entry, ``RuntimeError`` for an environment that cannot run
the request), so ``except ValueError`` keeps working while ``except NeuroxrError`` catches all.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "NeuroxrError",
    "LayoutError",
    "NothingToScore",
    "NoPredictor",
    "ParameterError",
    "StoreError",
    "BackendError",
    "SweepConfigError",
    "SweepError",
    "ExtractionError",
    "ExtractionParameterError",
    "DataNotFoundError",
    "NeuroxrWarning",
]

EXTRAS = {"torch": "torch", "cupy": "gpu", "dask_cuda": "gpu", "bokeh": "dashboard", "pynwb": "io", "h5py": "io",
          "rsatoolbox": "io", "PIL": "images", "nbformat": "notebooks", "nbclient": "notebooks"}
"""The extra of ``pyproject.toml`` that installs each optional top-level module."""
_DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml", "dask_cuda": "dask-cuda"}
"""The distribution installing a module, where its name differs (for the advice outside any extra)."""


class NeuroxrError(Exception):
    """Base class of every error neuroxr raises on purpose."""


class LayoutError(NeuroxrError, ValueError):
    """A labeled array does not follow neuroxr's layout (dims, ids, values) or two do not pair."""


class ParameterError(NeuroxrError, ValueError):
    """A parameter has a value the function cannot use (the message names it and the accepted values)."""


class StoreError(NeuroxrError, KeyError):
    """A study store lacks an entry, refuses a write, or holds a damaged entry.

    ``problem`` is the damage found, in the store's words, when the error is that of a damaged
    group (``None`` otherwise), for a caller that words its own refusal of it.
    """

    problem: str | None = None

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class NothingToScore(LayoutError):
    """No target of a neural input can be scored (every neuroid all NaN, or none with the repeats it
    needs at any stimulus), or missing values left too few stimuli for the folds. A time bin of a
    time-resolved input raising it is NaN (:func:`~neuroxr.predictivity.time.by_bins`)."""


class NoPredictor(LayoutError):
    """A design that cannot predict anything: every predictor neuroid all NaN (``no_data``), or
    every predictor column constant across the stimuli. A time bin of a time-resolved design
    raising it is named in the message, with the bins to keep (:func:`~neuroxr.predictivity.time.by_bins`)."""

    def __init__(self, msg: str, no_data: bool = False) -> None:
        super().__init__(msg)
        self.no_data = no_data


class WriteConflictError(StoreError):
    """A write dropped at its commit: another process completed or rewrote the entry meanwhile (its copy kept)."""


class BackendError(NeuroxrError, RuntimeError):
    """An array backend was asked for that is not installed or has no device here."""


class SweepConfigError(NeuroxrError, ValueError):
    """A sweep's arguments or config file are invalid."""


class SweepError(NeuroxrError, RuntimeError):
    """Entries of a sweep failed; the message names them and what to do."""


class ExtractionError(NeuroxrError, ValueError):
    """Feature extraction was asked for something it cannot do."""


class ExtractionParameterError(ExtractionError, ParameterError):
    """An extraction option that would have no effect on this model or these layers (a usage error on the
    command line, exit status 2, as every :class:`ParameterError`)."""


class DataNotFoundError(NeuroxrError, FileNotFoundError):
    """A dataset's files are not where they were looked for (the message says where to put them)."""


class NeuroxrWarning(UserWarning):
    """Warnings about the data (excluded stimuli, constant targets, low reliability, ...)."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def external_stacklevel() -> int:
    """The ``stacklevel`` that attributes a warning, issued by the function calling this one, to the
    first frame outside neuroxr (the user's call), however deep inside the package it is raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def where(caller: str | None) -> str:
    """The start of a message of the public function ``caller`` (``"forward: "``; none without it):
    every one-line error and warning names the function called first."""
    return f"{caller}: " if caller else ""


_RECORDERS = threading.local()  # per thread: the lists of :func:`recording` blocks open in it


def warn(msg: str, category: type[Warning] = NeuroxrWarning) -> None:
    """Issue ``msg`` as a ``category`` warning attributed to the user's line: the first frame outside
    neuroxr (:func:`external_stacklevel`), however deep inside the package, or on which path, it
    is raised. Every warning neuroxr issues about the data goes through here."""
    import warnings

    opened, held = getattr(_RECORDERS, "open", []), getattr(_RECORDERS, "held", [])
    inner = held[-1][0] if held else 0  # recorders opened inside the innermost holding() block see it now
    for said in opened[inner:]:
        said.append((msg, category))
    if held:  # held for the block's owner, who issues it (once, grouped) with this function
        held[-1][1].append((msg, category))
        return
    warnings.warn(msg, category, stacklevel=external_stacklevel())


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[str, type[Warning]]]]:
    """The warnings :func:`warn` issues in this thread within the block, as ``(message, category)``,
    besides issuing them (other threads' are not seen): what a kept result issues again with
    :func:`warn` when it is handed out once more."""
    said: list[tuple[str, type[Warning]]] = []
    opened = _RECORDERS.__dict__.setdefault("open", [])
    opened.append(said)
    try:
        yield said
    finally:
        _drop(opened, said)


@contextlib.contextmanager
def holding() -> Iterator[list[tuple[str, type[Warning]]]]:
    """The warnings :func:`warn` would issue in this thread within the block, held instead as
    ``(message, category)`` for the block's owner to issue (once each, grouped). Other threads'
    warnings are neither seen nor held, unlike ``warnings.catch_warnings``, whose filters and
    recorder are the whole process's while it is open."""
    state = _RECORDERS.__dict__
    held: list[tuple[str, type[Warning]]] = []
    entry = (len(state.setdefault("open", [])), held)
    state.setdefault("held", []).append(entry)
    try:
        yield held
    finally:
        _drop(state["held"], entry)


def _drop(stack: list[Any], item: Any) -> None:
    """Remove ``item`` itself from ``stack`` (not the first item equal to it: two empty lists are equal)."""
    del stack[next(i for i in range(len(stack) - 1, -1, -1) if stack[i] is item)]


def install_advice(module: str) -> str:
    """How to install the module ``module`` (a dotted name: its top-level package counts): the neuroxr
    extra holding it, installed from the repository (the package is installed from there), else its
    distribution by name, e.g. ``"pip install '.[io]' from the neuroxr repository"``."""
    top = module.split(".")[0]
    if top in EXTRAS:
        return f"pip install '.[{EXTRAS[top]}]' from the neuroxr repository"
    return f"pip install {_DISTRIBUTIONS.get(top, top)}"


def shown(value: Any, limit: int = 120) -> str:
    """A value as a message shows it, on one line: ``repr(value)`` when that is one short line
    (names, numbers, short tuples), else what it is, e.g. ``a DataArray 'features' with dims
    ('stimulus', 'unit') and shape (10, 4)`` (an array passed where an option was expected) or
    the first line of its ``repr``, cut at ``limit`` characters."""
    text = repr(value)
    if "\n" not in text and len(text) <= limit:
        return text
    kind = "array" if isinstance(value, np.ndarray) else type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    name = getattr(value, "name", None)
    named = f" {name!r}" if isinstance(name, str) and len(name) <= 40 else ""
    dims, shape = getattr(value, "dims", None), getattr(value, "shape", None)
    if hasattr(value, "data_vars") and hasattr(value, "sizes"):  # an xarray Dataset
        return f"{article} {kind} of variables {examples(list(value.data_vars), 4)} and sizes {dict(value.sizes)}"
    if isinstance(dims, tuple) and isinstance(shape, tuple):
        return f"{article} {kind}{named} with dims {dims} and shape {shape}"
    if isinstance(shape, tuple):
        return f"{article} {kind}{named} of shape {shape}"
    first = text.splitlines()[0] if text else kind
    return first if len(first) <= limit else first[: limit - 3] + "..."


def code_name(name: str) -> str:
    """The argument part of an input's name in a message (``"neural (V4)"``, ``"rdm: obj (V4)"`` ->
    ``"neural"``, ``"obj"``), for code the message suggests."""
    return name.split(" (", 1)[0].rsplit(": ", 1)[-1]


def examples(values: Sequence[Any], k: int = 5) -> str:
    """A short printable list of the first ``k`` values (``[a, b, ... (3 more)]``) for messages."""
    values = [v.item() if isinstance(v, np.generic) else v for v in list(values)]
    listed = ", ".join(repr(v) for v in values[:k])
    return f"[{listed}{f', ... ({len(values) - k} more)' if len(values) > k else ''}]"


def missing_ids_error(what: str, at: Sequence[Any], fix: str, where: str = "positions",
                error: type[NeuroxrError] | None = None) -> NeuroxrError:
    """The one refusal of missing ids (None, NaN), never turned into the string ``"nan"`` (a
    :class:`LayoutError` unless ``error`` names another class):
    ``"<what> has <n> missing ids (None/NaN), at <where> [<first ones>]; <fix>"``.

    Parameters
    ----------
    what : str
        The input and the coord/column holding the ids, e.g. ``"neural: stimulus_id"``.
    at : sequence
        The positions (or labels) of every missing id; the first few are shown.
    fix : str
        What to do, e.g. ``"give every stimulus an id."``.
    where : str, optional
        What ``at`` holds (``"positions"``, ``"trials"``, ``"rows"``...).
    error : subclass of NeuroxrError, optional
        The class raised by the caller's module; default :class:`LayoutError`.
    """
    return (error or LayoutError)(f"{what} has {len(at)} missing ids (None/NaN), at {where} {examples(at)}; {fix}")


def no_effect(options: Sequence[str], condition: str, why: str = "", instead: str = "", caller: str = "",
              error: type[NeuroxrError] | None = None) -> NeuroxrError:
    """The one refusal of options that would be silently ignored (a :class:`ParameterError` unless
    ``error`` names another class):
    ``"[caller: ]<a>, <b> and <c> have no effect <condition> (<why>); drop them[ or <instead>]."``

    Parameters
    ----------
    options : sequence of str
        The inert options as the user wrote them (``"alpha"``, ``"seed=3"``); at least one.
    condition : str
        Why they change nothing, e.g. ``"with regressor='linear'"`` or ``"without a noise ceiling"``.
    why : str, optional
        What the options do, in parentheses.
    instead : str, optional
        The other fix, after "drop ... or"; ``{it}`` is replaced by "it" or "them".
    caller : str, optional
        Prefix naming the function, e.g. ``"brainscore"``.
    error : subclass of NeuroxrError, optional
        The class raised by the caller's module (e.g. :class:`SweepConfigError`); default
        :class:`ParameterError`.
    """
    it = "it" if len(options) == 1 else "them"
    names = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} and {options[-1]}"
    return (error or ParameterError)(
        f"{where(caller)}{names} {'has' if len(options) == 1 else 'have'} no effect {condition}"
        f"{f' ({why})' if why else ''}; drop {it}{' or ' + instead.format(it=it) if instead else ''}."
    )


def too_few_stimuli(caller: str, name: str, n: int, what: str, trivial: str = "", need: int = 3,
                    fix: str = "pass a representation of at least {need} stimuli.",
                    on: str = "on dim 'stimulus'") -> LayoutError:
    """The one refusal of too few stimuli for a measure that is trivial or undefined below ``need``:
    ``"<caller>: <name>: <n> stimuli <on>; <what> needs at least <need>[ (with <n>, <trivial>)];
    <fix>"`` (``{need}`` in ``fix`` is replaced by ``need``; ``on``: where the stimuli lie, ``"on
    dim 'stimulus'"`` of labeled data, e.g. ``"as the Grams' rows and columns"``).

    Parameters
    ----------
    caller : str
        The public function called (``"effective_dimensionality"``).
    name : str
        The input(s) as the message names them (``"obj (net/l1)"``, ``"X and Y share"``).
    n : int
        Their stimuli.
    what : str
        The measure (``"the participation ratio"``).
    trivial : str, optional
        What every result would be with ``n`` stimuli (``"it is always 1"``).
    """
    return LayoutError(f"{where(caller)}{name}: {n} stimul{'us' if n == 1 else 'i'} {on}; {what} needs at least "
                       f"{need}{f' (with {n}, {trivial})' if trivial else ''}; {fix.format(need=need)}")

