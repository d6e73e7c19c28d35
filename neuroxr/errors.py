"""Every exception and warning neuroxr raises: one base class, one subclass per concern.

Each class also derives from the built-in exception a caller would expect (``ValueError`` for bad
input, ``KeyError`` for a missing store entry, ``RuntimeError`` for an environment that cannot run
the request), so ``except ValueError`` keeps working while ``except NeuroxrError`` catches all.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "NeuroxrError",
    "LayoutError",
    "ParameterError",
    "StoreError",
    "BackendError",
    "SweepConfigError",
    "SweepError",
    "ExtractionError",
    "DataNotFoundError",
    "NeuroxrWarning",
]


class NeuroxrError(Exception):
    """Base class of every error neuroxr raises on purpose."""


class LayoutError(NeuroxrError, ValueError):
    """A labeled array does not follow neuroxr's layout (dims, ids, values) or two do not pair."""


class ParameterError(NeuroxrError, ValueError):
    """A parameter has a value the function cannot use (the message names it and the accepted values)."""


class StoreError(NeuroxrError, KeyError):
    """A study store lacks an entry, refuses a write, or holds a damaged entry."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class BackendError(NeuroxrError, RuntimeError):
    """An array backend was asked for that is not installed or has no device here."""


class SweepConfigError(NeuroxrError, ValueError):
    """A sweep's arguments or config file are invalid."""


class SweepError(NeuroxrError, RuntimeError):
    """Entries of a sweep failed; the message names them and what to do."""


class ExtractionError(NeuroxrError, ValueError):
    """Feature extraction was asked for something it cannot do."""


class DataNotFoundError(NeuroxrError, FileNotFoundError):
    """A dataset's files are not where they were looked for (the message says where to put them)."""


class NeuroxrWarning(UserWarning):
    """Warnings about the data (excluded stimuli, constant targets, low reliability, ...)."""



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
        f"{caller + ': ' if caller else ''}{names} {'has' if len(options) == 1 else 'have'} no effect {condition}"
        f"{f' ({why})' if why else ''}; drop {it}{' or ' + instead.format(it=it) if instead else ''}."
    )
