"""Which code a module is: the distribution that installed it (name and version) or its files' digests.

One resolution shared by the extraction identity (:mod:`neuroxr.extract.attrs`, the packages of a
model's code) and the identity of parameter values (:mod:`neuroxr.identity`, the code of an
estimator's class and of the functions a function calls). A module is named by its
distribution's name and version (``importlib.metadata``) when its file is one that distribution
installed (its RECORD) and not as an editable install; otherwise (a local package, an editable
install, a checkout on ``sys.path``) by the SHA-256 of its file's bytes, or as having no file
(``exec``, a notebook). The scan of the installed distributions is done once per ``sys.path``; a
file or an install changed after its import counts as it is now, not as it was imported.
Imports no torch.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as metadata
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["Packages", "file_digest", "top"]


def top(module: Any) -> str:
    """The top-level package of a module name (``""`` for none)."""
    return (module or "").split(".")[0]


def _editable(dist: Any) -> bool:
    try:
        url = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return bool(isinstance(url, dict) and (url.get("dir_info") or {}).get("editable"))


def file_digest(file: str) -> str | None:
    """SHA-256 of a file's bytes; ``None`` when it cannot be read (``"<string>"``, a notebook cell)."""
    h = hashlib.sha256()
    try:
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:  # "<string>", a notebook cell, a file removed since
        return None
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    """The distributions installing each top-level package on ``path`` (``sys.path``; a scan of every
    installed distribution, done once per path: a package installed since counts by its files)."""
    return metadata.packages_distributions()


class Packages:
    """Names the code of modules: by distribution or by the digests of files (see the module docstring)."""

    def __init__(self) -> None:
        self._tops = _distributions(tuple(sys.path))
        self._dists: dict[str, tuple[str, frozenset[str] | None, Path] | None] = {}

    def _dist(self, name: str) -> tuple[str, frozenset[str] | None, Path] | None:
        """``"name==version"``, the files the distribution ``name`` installed (its RECORD; ``None``
        without one) and its root; ``None`` for an editable install or one removed since the scan."""
        if name not in self._dists:
            try:
                dist = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                dist = None
            if dist is None or _editable(dist):
                self._dists[name] = None
            else:
                files = dist.files
                self._dists[name] = (f"{dist.metadata['Name']}=={dist.version}",
                                     None if files is None else frozenset(p.as_posix() for p in files),
                                     Path(dist.locate_file("")).resolve())
        return self._dists[name]

    def _installs(self, name: str, file: str) -> bool:
        """Whether the distribution ``name`` installed ``file`` (see :meth:`_dist`)."""
        dist = self._dist(name)
        if dist is None:
            return False
        try:
            rel = Path(file).resolve().relative_to(dist[2]).as_posix()
        except (ValueError, OSError):
            return False
        return dist[1] is None or rel in dist[1]

    @staticmethod
    def files(module: str, files: set[str] = frozenset()) -> set[str]:
        """The files of ``module``: its ``__file__`` when imported, else ``files`` (those its functions
        were compiled from; a wrapper's code, contextlib's, may carry the module's name)."""
        loaded = getattr(sys.modules.get(module), "__file__", None)
        return {loaded} if loaded else set(files)

    def installed(self, module: str, files: set[str] = frozenset()) -> list[str]:
        """``"name==version"`` of each distribution that installed every file of ``module``
        (:meth:`files`), sorted; empty for a local module, an editable install or no file."""
        files = self.files(module, files)
        dists = [d for d in sorted(set(self._tops.get(top(module), ()))) if files and all(self._installs(d, f) for f in files)]
        return [self._dist(d)[0] for d in dists]

    def describe(self, module: str, files: set[str] = frozenset()) -> str:
        """The code of ``module``: its distributions (:meth:`installed`), else the sorted digests of
        its files, else ``"no file"``."""
        dists = self.installed(module, files)
        if dists:
            return " ".join(dists)
        digests = sorted({d for d in map(file_digest, self.files(module, files)) if d is not None})
        return " ".join(digests) if digests else "no file"
