"""Reading the published files of the real datasets: a file that is present but cannot be read (truncated,
corrupt, another format) is a one-line :class:`~neuroxr.errors.LayoutError` naming the function, the file
and its folder, and what to do, never the reading library's own error."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DataNotFoundError, LayoutError, NeuroxrError, ParameterError, shown

__all__ = ["read_file", "data_folder"]

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


def data_folder(root: Any, caller: str, example: str) -> Path:
    """``root`` (a str or path-like, ``~`` expanded) as the folder holding a dataset's files.

    Raises
    ------
    ParameterError
        ``root`` is no path (``Path()``'s bare TypeError named no argument).
    DataNotFoundError
        Nothing is there, or a file is (not the folder holding it).
    """
    if not isinstance(root, (str, os.PathLike)):
        raise ParameterError(f"{caller}: root must be the data folder (a str or path); got {shown(root)}. Pass e.g. {example!r}.")
    p = Path(root).expanduser()
    if not p.is_dir():
        raise DataNotFoundError(
            f"{caller}: data folder {str(p)!r} {'is a file, not a folder' if p.exists() else 'does not exist'}. Pass the "
            f"folder that holds the files, e.g. {example!r}."
        )
    return p
