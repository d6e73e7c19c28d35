"""One reading of a group of a study store (:class:`Examined`): where it lies, its metadata document
and its damage, found on first use and kept, so that a lookup and the read that follows it read the
document once and list the group's keys at most once (:meth:`neuroxr.store.StudyStore.examine`).

On an object store a group written in one batch is read into memory in one batch
(:meth:`Examined.batch`), its document read again after the chunks to confirm their version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import batch
from ._zarr import COMPLETE_ATTR, TOKEN_ATTR, list_keys, read_json
from .integrity import SET_ATTRS_PROBLEM, set_edited

if TYPE_CHECKING:
    from .reading import Reading

__all__ = ["Examined"]


def _token_of(doc: dict[str, Any] | None) -> Any:
    return ((doc or {}).get("attributes") or {}).get(TOKEN_ATTR)


class Examined:
    """One reading of a group (:meth:`Reading.examine`): where it lies, its metadata document, and
    its damage, found on first use and then kept.

    Attributes
    ----------
    path : str
        The group asked for.
    loc : str
        Where it was read: ``path``, or the complete new copy of a dead writer's swap that cannot be
        finished (``.neuroxr/staging/<id>``).
    doc : dict or None
        Its metadata document (``None``: absent).
    arrays : dict
        The metadata documents of its arrays that its damage check read (by name; empty before,
        and when the damage was remembered from an earlier reading).
    """

    def __init__(self, store: Reading, path: str, loc: str, doc: dict[str, Any] | None, fetch: bool) -> None:
        self.path, self.loc, self.doc = path, loc, doc
        self._store, self._fetch = store, fetch
        self._mem: Any = None
        self._found: tuple[list[str], dict[str, list[str]]] | None = None
        self.arrays: dict[str, dict[str, Any]] = {}
        self.generation = 0  # times the group was read again after a rewrite met by this reading (:meth:`replaced`)
        self.moved = False  # whether the last :meth:`replaced` found the group replaced

    def replaced(self) -> bool:
        """Whether the group was replaced since this reading (another process rewrote it under the same
        key): its document now, read past a cache, names another version token or is absent (between
        the two renames of a local swap). Then the group is read again (waiting for a swap in progress,
        as :meth:`Reading.examine` does; on an object store the document just read is taken) and its
        damage found anew. One read of the document when it was not replaced."""
        st = self._store
        if self.doc is None:
            return False
        epoch = st._epoch_of(self.path)
        try:
            now = read_json(st._zstore, f"{self.loc}/zarr.json" if self.loc else "zarr.json")
        except OSError as exc:  # a failed request: not a rewrite (an absent document reads as None)
            raise st._unread_error(self.path, exc) from exc
        if now is not None and _token_of(now) == _token_of(self.doc):
            self.moved = False
            return False
        st._docs.pop(self.path, None)
        if st._local is None:  # no swap to wait for: the document just read is the group's now
            self.loc, self.doc = self.path, None if now is None else now if now.get("node_type") == "group" else {}
            st._keep_doc(self.path, self.doc, epoch)
        else:
            self.loc, self.doc = st._located(self.path, st._read_doc)
        self._mem, self._found, self.moved, self.arrays = None, None, True, {}
        self.generation += 1
        return True

    @property
    def attrs(self) -> dict[str, Any] | None:
        """The group's attributes (store attributes included) when it is complete, else ``None``."""
        attrs = (self.doc or {}).get("attributes", {})
        return dict(attrs) if attrs.get(COMPLETE_ATTR, False) else None

    def batch(self) -> Any:
        """On an object store, the group written in one batch, read into memory in one batch of
        requests (once; kept per version token with ``cache=True``); ``None`` otherwise, or when a
        rewrite was met: a rewrite keeps the keys (deletes the document first, writes it last under a
        fresh token), so the document is read again after the chunks, and another token means they may
        be another version's or of two; the group is then read again (:meth:`replaced`)."""
        if self._mem is None and self._store._local is None and self.attrs is not None and batch.is_consolidated(self.doc):
            key = (self.path, str(self.attrs.get(TOKEN_ATTR)))
            mem = self._store._data.get(key)
            if mem is None:
                items = batch.fetch(self._store._zstore, self.path, self.doc)  # type: ignore[arg-type]
                if self.replaced():  # a rewrite met between the document and the chunks
                    if self.generation > 3:
                        raise self._store._rewritten_error(self.path, "read")
                    return None
                mem = self._store._data.keep(key, items)
            self._mem = mem
            self._found = None  # the damage of what is read: from the keys the batch found (no request)
        return self._mem

    @property
    def damage(self) -> tuple[list[str], dict[str, list[str]]]:
        """``(problems, lost chunks per array)`` of the complete group (none for an absent or unfinished
        one; see :func:`~neuroxr.store.integrity.group_damage`): one listing of its keys, or none when
        the group is read from :meth:`batch`, whose keys tell what is stored."""
        if self._found is None:
            if self.attrs is None:
                self._found = ([], {})
            else:
                gen = self.generation
                mem = self.batch() if self._fetch else self._mem
                if self.generation != gen:  # the batch met a rewrite: the damage of the copy read now
                    return self.damage
                keys = None if mem is None else {f"{self.path}/{k}" for k in list_keys(mem)}
                try:
                    self._found = self._store._damage(self.loc, self.doc, keys, self.arrays)  # type: ignore[arg-type]
                except FileNotFoundError:  # its folder went while listed: a rewrite met (the copy read now), or one going on
                    if self.generation < 3 and self.replaced():
                        return self.damage
                    raise self._store._rewritten_error(self.path, "examined") from None
                if set_edited(self.path, self.attrs):  # first: a read of the set refuses it
                    self._found = ([SET_ATTRS_PROBLEM, *self._found[0]], self._found[1])
                if self._found[0] and mem is None and self.generation < 3 and self.replaced():  # met a rewrite: not damage
                    return self.damage
        return self._found

    @property
    def problem(self) -> str | None:
        """The first damage found (``None``: intact, or not complete)."""
        problems = self.damage[0]
        return problems[0] if problems else None
