"""Listing a study store: the inventory (one read) with the hierarchy walk as its fallback.

:class:`Listing` is the part of :class:`neuroxr.store.StudyStore` that answers "what does the store
hold": the complete sets (:meth:`~Listing.neural_sets`, :meth:`~Listing.models`,
:meth:`~Listing.layers`, :meth:`~Listing.inventory`), the complete groups of data under a prefix
(:meth:`~Listing.listing`) and every group of data, complete or not (:meth:`~Listing.entries`, a
walk). Listings read the inventory (:mod:`neuroxr.store.inventory`) and confirm every path it names
against the group's own metadata document (one concurrent batch); when the inventory is missing or
disagrees they walk the hierarchy, and a writable store rebuilds the inventory.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from ..errors import StoreError
from . import atomic, batch
from . import inventory as _inv
from ._zarr import COMPLETE_ATTR, TOKEN_ATTR, os_message

__all__ = ["Listing", "MISSING"]

#: the inventory disagreement listings cannot see: a complete group the inventory lacks (an error for validate)
MISSING = "complete group missing from the inventory"


class Listing:
    """Mixin of :class:`neuroxr.store.StudyStore`: listings from the inventory, with the walk as fallback."""

    # set by StudyStore.__init__; declared here for readers of this module
    _zstore: Any
    _docs: dict[str, dict[str, Any]]
    _doc_epochs: dict[str, int]
    _doc_lock: Any
    _index: dict[str, dict[str, Any]] | None
    _cache: bool
    _calls: int
    _id: str
    mode: str
    url: str

    # ------------------------------------------------------------------ inventory
    def _record(self, path: str, state: str, token: str | None = None) -> None:
        """Record a write of ``path`` in this process's inventory shard (and in the cached inventory).

        A ``complete`` record that cannot be written is left out: the group's own completion marker,
        written before it, says the same, and readers confirm every path against its group (the
        ``pending`` record stays a hint to check). A write is never undone for its record."""
        try:
            _inv.record(self._zstore, self._id, path, state, token)
        except OSError:
            if state != "complete":
                raise
        with self._doc_lock:  # threads sharing this object record their writes and drop the inventory meanwhile
            index = self._index
            if index is not None:
                if state == "deleted":
                    for p in [p for p in index if p == path or p.startswith(path + "/")]:
                        del index[p]
                else:
                    index[path] = {"state": state, "token": token, "t": time.time_ns()}

    def _inventory(self) -> dict[str, dict[str, Any]] | None:
        """The merged inventory ``{path: record}``; ``None`` when there is none (read-only) or it is unreadable.
        A copy of the cached one: other threads' records change that one while a listing goes through it."""
        with self._doc_lock:
            if self._index is not None:
                return dict(self._index)
        try:
            docs = _inv.read(self._zstore)
            if docs is None and self.mode == "a":
                self.rebuild_inventory()
                docs = _inv.read(self._zstore)
            if docs is None:
                return None
            if self.mode == "a" and _inv.crowded(docs):
                _inv.compact(self._zstore, docs)
        except OSError:
            return None
        index = _inv.merge(docs.values())
        with self._doc_lock:
            if self._cache or self._calls:  # kept: a cached store's, or any store's for the call that reads it
                self._index = dict(index)
        return index

    def _recheck_docs(self) -> None:
        """A listing's call on a cached store (:meth:`~neuroxr.store.StudyStore.session`): read the
        inventory afresh and drop the kept documents of the groups it no longer records complete under
        the kept copy's token (rewritten, deleted or being written by another writer since); the others
        stay, so a report's listings read no document twice. Without a usable inventory all go."""
        self._index = None
        index = self._inventory() or {}
        with self._doc_lock:
            for path, doc in list(self._docs.items()):
                rec, token = index.get(path), (doc.get("attributes") or {}).get(TOKEN_ATTR)
                if not token or rec is None or rec["state"] != "complete" or rec.get("deleted") or rec["token"] != token:
                    del self._docs[path]

    def _disagrees(self) -> None:
        """The inventory lists a group that is not complete: stop using it (and rebuild it when writable)."""
        self._index = None
        if self.mode == "a":
            try:
                self.rebuild_inventory()
            except OSError:
                pass

    def _group_attrs_batch(self, paths: list[str], unreadable: set[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """The attributes of each group of ``paths``, complete or not (``None``: absent or not a
        group); the documents not cached are read in one concurrent batch. The paths whose document
        is there but not valid JSON (damage, :meth:`damaged` names it) are added to ``unreadable``."""
        todo = [p for p in paths if p not in self._docs]
        epochs = {p: self._epoch_of(p) for p in todo}
        try:
            got = batch.get_many(self._zstore, [f"{p}/zarr.json" for p in todo])
        except OSError:
            got = {}
        out: dict[str, dict[str, Any] | None] = {}
        for p in paths:
            doc: Any = self._docs.get(p)  # one look: another thread may drop it (a fresh token, its write)
            if doc is None:
                raw = got.get(f"{p}/zarr.json")
                try:
                    doc = json.loads(raw) if raw is not None else self._doc(p)  # a swap in progress: wait for it
                except ValueError:
                    doc = None
                    if unreadable is not None:
                        unreadable.add(p)
            is_group = isinstance(doc, dict) and doc.get("node_type") == "group"
            out[p] = dict(doc.get("attributes", {})) if is_group else None
            self._keep_doc(p, doc, epochs.get(p))
        return out

    def _epoch_of(self, path: str, counts: dict[str, int] | None = None) -> int:
        """The changes this object made to ``path`` or a group above it (``counts``: a copy of
        :attr:`_doc_epochs` taken earlier): a change there may have replaced the group's document."""
        counts = self._doc_epochs if counts is None else counts
        parts = path.split("/") if path else []
        return counts.get("", 0) + sum(counts.get("/".join(parts[:i]), 0) for i in range(1, len(parts) + 1))

    def _keep_doc(self, path: str, doc: Any, epoch: int | None = None) -> None:
        """Keep ``doc``, the metadata document of ``path`` as just read, in the document cache (``cache=True``,
        or during an outermost call of any store, :meth:`~neuroxr.store.StudyStore.session`):
        the one rule of every read that fills it. Only a complete group's document is kept (one still being
        written changes), and nothing below ``.neuroxr/`` (staging groups, kept copies). Kept until the next
        outermost call (:meth:`~neuroxr.store.StudyStore.session`) or a write of ``path`` by this object; its
        version token names the copy it describes, which the readers' other caches and checks are keyed by.
        ``epoch``: :meth:`_epoch_of` ``path`` before the read; a change this object made there since
        (another thread's write) leaves the document out, as it may be the copy from before that write."""
        if (isinstance(doc, dict) and doc.get("node_type") == "group" and path.split("/")[0] != ".neuroxr"
                and (doc.get("attributes") or {}).get(COMPLETE_ATTR, False)):
            with self._doc_lock:  # a store that is not cached keeps it for the call (session) running, if one is
                if (self._cache or self._calls) and (epoch is None or epoch == self._epoch_of(path)):
                    self._docs[path] = doc

    def _confirmed(self, paths: list[str], unreadable: set[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """The attributes of each complete group of ``paths`` (``None``: absent or incomplete); the
        documents not cached are read in one concurrent batch (``unreadable``: as in :meth:`_group_attrs_batch`)."""
        return {p: a if a is not None and a.get(COMPLETE_ATTR, False) else None
                for p, a in self._group_attrs_batch(paths, unreadable).items()}

    def _listed(self, prefix: str, depth: int = 0) -> dict[str, dict[str, Any]] | None:
        """Complete groups under ``prefix`` (exactly ``depth`` levels below it; 0: any) per the
        inventory, each confirmed by its own metadata document (read in one batch):
        ``{path: attrs}``; ``None`` when the inventory cannot be used (then walk)."""
        index = self._inventory()
        if index is None:
            return None
        want = prefix.count("/") + depth if prefix else depth - 1
        cands = [p for p in sorted(index) if (not prefix or p == prefix or p.startswith(prefix + "/"))
                 and (depth == 0 or p.count("/") == want)]
        out, unreadable = {}, set()
        for p, attrs in self._confirmed(cands, unreadable).items():
            if attrs is not None:
                out[p] = attrs
            elif p in unreadable:  # damaged: never listed, and the inventory stays in use for the rest
                continue
            elif index[p]["state"] == "complete" and not index[p].get("deleted"):
                self._disagrees()
                return None
        return out

    def listing(self, prefix: str = "", attrs: bool = False) -> list[str] | dict[str, dict[str, Any]]:
        """The complete groups of data under ``prefix`` (``""``: all), from the inventory (one
        listing and one concurrent batch of document reads on an object store); walks the hierarchy
        when the inventory is missing or disagrees.

        Parameters
        ----------
        prefix : str, default ""
            A group path, e.g. ``"scores"`` or ``"scores/forward"``.
        attrs : bool, default False
            Return ``{path: attributes}`` (provenance included) instead of the sorted paths.
        """
        listed = self._listed(prefix)
        if listed is None:
            paths = [p for _, p, complete in self.entries()
                     if complete and (not prefix or p == prefix or p.startswith(prefix + "/"))]
            listed = {p: a for p, a in self._confirmed(paths).items() if a is not None} if attrs else dict.fromkeys(paths)
        return {p: listed[p] for p in sorted(listed)} if attrs else sorted(listed)

    def inventoried(self, prefixes: Sequence[str] = ("",), absent: list[str] | None = None
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None:
        """The groups of data under ``prefixes`` per the inventory, complete or not, each confirmed
        by its own metadata document (one listing of the inventory and one concurrent batch of
        document reads on an object store).

        Parameters
        ----------
        prefixes : sequence of str, default ("",)
            Group paths (``""``: the whole store), e.g. ``("scores", "cache/gram")``.
        absent : list, optional
            Filled with the paths recorded ``pending`` whose group is not there (a write that never
            created it, or a rewrite on an object store killed after it deleted the old copy).

        Returns
        -------
        (complete, incomplete) or None
            ``complete``: ``{path: attributes}`` of the complete groups (what :meth:`listing`
            returns with ``attrs=True``). ``incomplete``: ``{path: attributes}`` of the groups the
            inventory records as ``pending`` (a write not finished: running, or its writer was
            killed) that exist without their completion marker, like the walk finds them (a
            pending record whose group was never created is not listed). ``None`` when the
            inventory cannot be used (missing, unreadable, or a path recorded complete is not):
            walk the hierarchy instead. Groups written by a version without an inventory after
            the inventory was built are not seen (:meth:`inventory_problems` names them).
        """
        index = self._inventory()
        if index is None:
            return None
        cands = [p for p in sorted(index)
                 if any(not x or p == x or p.startswith(x + "/") for x in prefixes)]
        complete: dict[str, dict[str, Any]] = {}
        incomplete: dict[str, dict[str, Any]] = {}
        unreadable: set[str] = set()
        for p, attrs in self._group_attrs_batch(cands, unreadable).items():
            if attrs is not None and attrs.get(COMPLETE_ATTR, False):
                complete[p] = attrs
            elif p in unreadable:  # damaged: never listed, and the inventory stays in use for the rest
                continue
            elif index[p]["state"] == "complete" and not index[p].get("deleted"):
                self._disagrees()
                return None
            elif attrs is not None and (COMPLETE_ATTR in attrs or self._holds_arrays(p)):
                incomplete[p] = attrs
            elif attrs is None and absent is not None and index[p]["state"] == "pending":
                absent.append(p)
        return complete, incomplete

    def _holds_arrays(self, path: str) -> bool:
        """Whether the group ``path`` holds arrays (a listing; asked only of unfinished writes)."""
        return any(d is not None and d.get("node_type") == "array" for _, d in self._child_docs(path))

    def rebuild_inventory(self) -> int:
        """Rebuild the inventory from a walk of the hierarchy (``neuroxr validate`` runs it); returns
        the number of groups of data recorded."""
        self._require_write()
        seen = _inv.read_shards(self._zstore)[0]  # read before the walk: records made since stay in force
        groups = {path: (complete, tok) for path, complete, tok in self._walk()}
        _inv.rebuild(self._zstore, groups, seen)
        self._index = None
        return len(groups)

    def inventory_problems(self) -> list[tuple[str, str]]:
        """Where the inventory disagrees with the groups, as ``(path, problem)``; empty when it agrees."""
        try:
            docs, unreadable = _inv.read_shards(self._zstore)
        except OSError as exc:
            return [("/", f"the inventory cannot be read ({os_message(exc)}); run `neuroxr validate --rebuild-inventory`")]
        groups = list(self._walk())
        if not docs and not unreadable and not groups:  # a new store: nothing written, nothing to record
            return []
        if unreadable or not docs:
            return [("/", "no inventory (or an unreadable one): listings walk the store; run `neuroxr validate --rebuild-inventory`")]
        walked = {path: tok for path, complete, tok in groups if complete}
        out = self._disagreements(_inv.merge(docs.values()), walked)
        if not out:
            return out
        # a writer at work between the read and the walk (a group swapped in before its record, rewritten or
        # deleted meanwhile) is no disagreement: each path is checked again against a fresh read of both
        try:
            again, unreadable = _inv.read_shards(self._zstore)
        except OSError:
            return out
        if unreadable or not again:
            return out
        now = {p: self.group_attrs(p, True) for p, _ in out}  # type: ignore[attr-defined]  # complete: attrs
        tokens = {p: str(a[TOKEN_ATTR]) if a.get(TOKEN_ATTR) else None for p, a in now.items() if a is not None}
        fresh = self._disagreements(_inv.merge(again.values()), tokens, list(now))
        return [(p, why) for p, why in out if (p, why) in fresh]

    def _disagreements(self, index: dict[str, dict[str, Any]], walked: dict[str, Any],
                       paths: list[str] | None = None) -> list[tuple[str, str]]:
        """The paths (default: every one the inventory ``index`` or the walk names) where they disagree: a
        complete group (``walked``: path -> token) unrecorded or recorded under another token, or a group
        recorded complete that is not there."""
        out = []
        for p in sorted(set(index) | set(walked)) if paths is None else paths:
            rec = index.get(p)
            if p in walked and rec is None:
                out.append((p, MISSING))
            elif p in walked and rec["state"] == "complete" and rec["token"] != walked[p]:
                out.append((p, "inventory records another version token"))
            elif (p not in walked and rec is not None and rec["state"] == "complete" and not rec.get("deleted")
                  and not self.unreadable(p)):  # type: ignore[attr-defined]  # damage: the scan names it
                out.append((p, "inventory lists a group that is absent or incomplete"))
        return out


    # ------------------------------------------------------------------ listing
    def _child_docs(self, path: str) -> list[tuple[str, dict[str, Any] | None]]:
        """The nodes directly below the group ``path`` (``""``: the root) as ``(name, document)``,
        sorted by name; the document is ``None`` when it is not valid JSON (a damaged write: the scan
        reports it, listings skip it; Zarr's own listing would fail on it). One listing of the folder
        and one concurrent batch of document reads; hidden names (``.neuroxr``) left out."""
        from zarr.core.sync import sync

        prefix = f"{path}/" if path else ""
        fs = getattr(self._zstore, "fs", None)
        if fs is not None:  # an object store: fsspec's listing cache may predate another writer's groups
            fs.invalidate_cache(f"{self._zstore.path}/{path}".rstrip("/"))

        async def names() -> list[str]:
            return [n async for n in self._zstore.list_dir(prefix)]

        try:
            kids = sorted({n.strip("/") for n in sync(names())} - {"zarr.json", ""})
            got = batch.get_many(self._zstore, [f"{prefix}{n}/zarr.json" for n in kids if not n.startswith(".")])
        except FileNotFoundError:  # no such folder: nothing below it
            return []
        except OSError as exc:  # a failed listing is not an empty one
            raise StoreError(f"store {self.url!r}: the group {path or '/'!r} could not be listed ({os_message(exc)}); "
                             "check the store's connection and permissions, then run again.") from exc
        out: list[tuple[str, dict[str, Any] | None]] = []
        for key, raw in got.items():
            if raw is None:
                continue  # a folder without a document is no node (the scan reports one that lost it)
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            out.append((key[len(prefix):].rpartition("/")[0], doc if isinstance(doc, dict) or doc is None else None))
        return out

    def _children(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        """The child groups of the group ``path`` as ``(name, attributes)``, sorted by name; a child
        whose metadata document is not valid JSON is left out (never trusted, never hiding the rest)."""
        return [(n, dict(d.get("attributes") or {})) for n, d in self._child_docs(path)
                if d is not None and d.get("node_type") == "group"]

    def neural_sets(self) -> list[str]:
        """Names of the complete neural sets."""
        listed = self._listed("neural", 1)
        if listed is not None:
            return [p.split("/")[1] for p in sorted(listed)]
        return [n for n, a in self._children("neural") if a.get(COMPLETE_ATTR, False)]

    def models(self) -> list[str]:
        """Models with at least one complete layer."""
        listed = self._listed("features", 2)
        if listed is not None:
            return sorted({p.split("/")[1] for p in listed})
        return [m for m in self._all_models() if self.layers(m)]

    def _all_models(self) -> list[str]:
        # a model group whose document is not JSON still holds its layers: they are listed
        return [n for n, d in self._child_docs("features") if d is None or d.get("node_type") == "group"]

    def layers(self, model: str) -> list[str]:
        """Complete layers of ``model`` in depth order (an extraction's ``depth_index`` attr), else by
        name with numbers read as numbers (``layer2`` before ``layer10``)."""
        listed = self._listed(f"features/{model}", 1)
        if listed is not None:
            out = [(attrs.get("depth_index", 0), p.rpartition("/")[2]) for p, attrs in listed.items()]
        else:
            out = [(a.get("depth_index", 0), n) for n, a in self._children(f"features/{model}")
                   if a.get(COMPLETE_ATTR, False)]
        return _in_depth_order(out)

    def _walk(self) -> list[tuple[str, bool, str | None]]:
        """Every group of data found by walking the hierarchy: ``(path, complete, token)``."""
        out = self._walk_groups()
        local = getattr(self, "_local", None)
        seen = {p for p, _, _ in out}
        for path in atomic.pending(local) if local else []:  # a dead writer's swap not finished: its new copy
            if path not in seen and atomic.orphaned(local, path) is not None:
                attrs = (self._doc(path) or {}).get("attributes", {})  # type: ignore[attr-defined]
                tok = attrs.get(TOKEN_ATTR) if attrs.get(COMPLETE_ATTR) else None
                out.append((path, bool(attrs.get(COMPLETE_ATTR)), str(tok) if tok else None))
        return out

    def _walk_groups(self) -> list[tuple[str, bool, str | None]]:
        """Groups of data from the root down (a listing and a batch of document reads per group).
        A node whose document is not valid JSON is never listed, but the groups below it are."""
        out: list[tuple[str, bool, str | None]] = []
        stack: list[tuple[str, dict[str, Any] | None]] = [
            (n, d) for n, d in reversed(self._child_docs("")) if d is None or d.get("node_type") == "group"]
        while stack:
            path, doc = stack.pop()
            attrs = (doc or {}).get("attributes") or {}
            kids = [] if COMPLETE_ATTR in attrs else self._child_docs(path)
            if doc is not None and (COMPLETE_ATTR in attrs or any(d is not None and d.get("node_type") == "array"
                                                                  for _, d in kids)):
                complete = bool(attrs.get(COMPLETE_ATTR, False))
                tok = attrs.get(TOKEN_ATTR) if complete else None
                out.append((path, complete, str(tok) if tok else None))
                continue
            stack.extend((f"{path}/{n}", d) for n, d in reversed(kids) if d is None or d.get("node_type") == "group")
        return out

    def entries(self) -> list[tuple[str, str, bool]]:
        """Every stored group of data, complete or not, as ``(top, path, complete)`` (walks the hierarchy).

        A group of data is a group that holds arrays or a completion marker; ``top`` is the first
        component of its path (``"neural"``, ``"features"``, ``"scores"``, ``"metrics"``,
        ``"cache"``, ...). This is storage only: what the groups under ``scores/`` and
        ``metrics/`` mean is :func:`neuroxr.entries.list_entries`'s business. :meth:`listing`
        lists the complete ones from the inventory instead (one read on an object store).
        """
        return [(path.partition("/")[0], path, complete) for path, complete, _ in self._walk()]

    def incomplete_entries(self) -> list[str]:
        """Paths of groups whose write never finished (what a killed job leaves behind)."""
        return [path for _, path, complete in self.entries() if not complete]

    def inventory(self) -> dict[str, Any]:
        """The sets the store holds: ``{"neural": [names], "features": {model: [layers]}}``
        (complete sets only; the entries computed from them: :func:`neuroxr.entries.list_entries`)."""
        listed = self._listed("")  # one read of the inventory for both kinds of sets
        if listed is None:
            return {"neural": self.neural_sets(), "features": {m: self.layers(m) for m in self.models()}}
        neural = sorted(p.split("/")[1] for p in listed if p.startswith("neural/") and p.count("/") == 1)
        layers: dict[str, list[tuple[Any, str]]] = {}
        for p, attrs in listed.items():
            if p.startswith("features/") and p.count("/") == 2:
                layers.setdefault(p.split("/")[1], []).append((attrs.get("depth_index", 0), p.split("/")[2]))
        return {"neural": neural, "features": {m: _in_depth_order(layers[m]) for m in sorted(layers)}}


def _in_depth_order(layers: list[tuple[Any, str]]) -> list[str]:
    """The names of ``(depth_index, name)`` pairs by depth, then by name with its runs of digits read as
    numbers (``conv2`` before ``conv10``, as a model's layers are numbered), then by name."""
    def key(item: tuple[Any, str]) -> tuple[Any, list[Any], str]:
        parts = re.split(r"(\d+)", item[1])  # text at even positions, digits at odd: like compares with like
        return item[0], [int(p) if i % 2 else p for i, p in enumerate(parts)], item[1]

    return [n for _, n in sorted(layers, key=key)]
