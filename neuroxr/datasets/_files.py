"""Reading the published files of the real datasets: a file that is present but cannot be read (truncated,
corrupt, another format) is a one-line :class:`~neuroxr.errors.LayoutError` naming the function, the file
and its folder, and what to do, never the reading library's own error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import LayoutError, NeuroxrError

__all__ = ["read_file"]

T = TypeVar("T")


def read_file(read: Callable[[Path], T], path: Path, caller: str, what: str) -> T:
    """``read(path)``; its failure (``numpy.load`` of a damaged ``.npy`` asks to allow pickles,
    ``zipfile`` says "File is not a zip file", ``loadmat`` "Mat file appears to be truncated") as one
    line: ``"<caller>: <file> in '<folder>' cannot be read as <what> (<reason>); ..."``."""
    try:
        return read(path)
    except NeuroxrError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader's failure on a damaged file
        # the reader's first sentence only: numpy's next one invites allow_pickle=True on a damaged file
        reason = " ".join(f"{type(exc).__name__}: {str(exc).split('. ')[0]}".split())[:200].rstrip(".")
        raise LayoutError(f"{caller}: {path.name} in {str(path.parent)!r} cannot be read as {what} ({reason}); the file is "
                          "damaged or not the published one: restore it (the folder's SOURCE.md names its origin).") from None
