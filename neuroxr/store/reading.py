"""Reading a study store: group documents, entries, sets, and the damage scan.

:class:`Reading` is the part of :class:`neuroxr.store.StudyStore` that reads: the metadata document
of a group (:meth:`~Reading.group_attrs`, :meth:`~Reading.token`), an entry as a lazy Dataset
(:meth:`~Reading.read_dataset`), the sets (:meth:`~Reading.read_neural`,
:meth:`~Reading.read_features`) and the integrity scan (:meth:`~Reading.damaged`). One reading of a
group (:meth:`~Reading.examine`: where it lies, its document and its damage) serves a lookup and the
read that follows it, so a found entry's document is read once and its keys listed at most once
(:class:`~neuroxr.store.examined.Examined`; on an object store, once more after a batch read of its
chunks, to confirm their version). On a local store
a read that meets an entry caught between the two renames of a swap waits for the swap (or finishes
a dead writer's swap, :mod:`neuroxr.store.atomic`) and reads again.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, NamedTuple

import dask.array  # here, not on first read: readers on several threads importing dask at once saw it half-initialised
import numpy as np
import xarray as xr
import zarr

from ..attrs import storable
from ..errors import StoreError, examples
from . import _zarr, atomic, batch, previous
from ._zarr import DATA_VAR, STORE_ATTRS, TOKEN_ATTR, GuardedArray, folder_id, read_json
from .examined import Examined
from .integrity import SET_ATTRS_PROBLEM, chunk_index, chunk_keys, group_damage, scan, set_edited, unreadable_doc
from .listing import Listing

__all__ = ["Examined", "NO_IDS", "Reading", "SetIndex"]

#: the problem of a complete set without a ``stimulus_id`` array (:meth:`Reading.read_set_index`)
NO_IDS = "it has no array 'stimulus_id'"


class SetIndex(NamedTuple):
    """A complete set's stimulus ids and description, read without its data (:meth:`Reading.read_set_index`).

    Attributes
    ----------
    stimulus_id : numpy.ndarray of str, shape (n_stimuli,)
        Its stimulus ids, in stored order.
    attrs : dict
        Its attrs, as :meth:`Reading.read_features` hands them out (store attributes left out).
    shape : tuple of int or None
        The shape of its data variable (``None``: a set without one, written by another tool).
    dtype : numpy.dtype or None
        The dtype of its data variable.
    """

    stimulus_id: np.ndarray
    attrs: dict[str, Any]
    shape: tuple[int, ...] | None
    dtype: np.dtype | None


class Reading(Listing):
    """Mixin of :class:`neuroxr.store.StudyStore`: documents, entries and sets read back, damage found."""

    # set by StudyStore.__init__; declared here for readers of this module
    url: str
    _local: str | None
    _data: batch.GroupCache
    _root: zarr.Group
    _checked: dict[tuple[str, str], tuple[list[str], dict[str, list[str]]]]  # damage per (path, token) (cache)

    # ------------------------------------------------------------------ primitives
    def _lookup(self, path: str) -> zarr.Group | None:
        try:
            node = self._root[path]
        except (KeyError, FileNotFoundError):
            return None
        return node if isinstance(node, zarr.Group) else None

    def _group(self, path: str) -> zarr.Group | None:
        return self._located(path, self._lookup)[1]

    def _located(self, path: str, read: Any) -> tuple[str, Any]:
        """``(where, read(where))``: ``where`` is ``path``, except for an entry of a local store caught
        between the two renames of a swap. Then a live writer's swap is waited for (at most
        :data:`~neuroxr.store._zarr.SWAP_WAIT` s), a dead writer's swap is finished (it needs write access to the folder,
        not ``mode="a"``), and where it cannot be finished the dead writer's complete new copy is
        read where it lies (``.neuroxr/staging/<id>``): no wait, and the entry is never left out."""
        value = read(path)
        if value is not None or self._local is None or not atomic.has_journal(self._local, path):
            return path, value
        deadline = time.monotonic() + _zarr.SWAP_WAIT
        while atomic.has_journal(self._local, path):
            atomic.recover(self._local, path)  # takes the lock only if its writer is gone; never raises
            value = read(path)
            if value is not None:
                return path, value
            staged = atomic.orphaned(self._local, path)
            if staged is not None:
                return staged, read(staged)
            if time.monotonic() > deadline:
                return path, value
            time.sleep(0.02)
        return path, read(path)

    # ------------------------------------------------------------------ group documents
    def _read_doc(self, path: str) -> dict[str, Any] | None:
        """The metadata document of the group ``path`` (one read; ``{}`` unreadable or not a group)."""
        if path in self._docs:
            return self._docs[path]
        epoch = self._epoch_of(path)
        try:
            doc = read_json(self._zstore, f"{path}/zarr.json" if path else "zarr.json")
        except OSError as exc:  # absent is None (Zarr): this is a failed read, not an absence
            raise self._unread_error(path, exc) from exc
        if doc is None:
            return None
        if doc.get("node_type") != "group":
            return {}
        self._keep_doc(path, doc, epoch)
        return doc

    def unreadable(self, path: str) -> bool:
        """Whether the metadata document of the group ``path`` is there but not valid JSON (damage:
        the group is never read, listings leave it out, :meth:`damaged` names it)."""
        try:
            raw = _zarr.read_key(self._zstore, f"{path}/zarr.json" if path else "zarr.json")
            return raw is not None and not isinstance(json.loads(raw), dict)
        except OSError:
            return False
        except ValueError:
            return True

    def _doc(self, path: str) -> dict[str, Any] | None:
        """:meth:`_read_doc`, waiting for (or finishing) a swap of ``path`` in progress on a local store."""
        return self._located(path, self._read_doc)[1]

    def examine(self, path: str, fetch: bool = False) -> Examined:
        """One reading of the group ``path``, to be passed on (:meth:`read_dataset` takes it).

        Parameters
        ----------
        path : str
            A set or an entry.
        fetch : bool, default False
            The group is to be read: on an object store, one written in one batch is read into
            memory when its damage is asked for, and its keys replace the listing.

        Returns
        -------
        Examined
            Where it lies and its metadata document (one read, cached with ``cache=True``); its
            damage on first use (one listing of its keys at most).
        """
        loc, doc = self._located(path, self._read_doc)
        return Examined(self, path, loc, doc, fetch)

    def array_meta(self, path: str, name: str = DATA_VAR) -> dict[str, Any] | None:
        """The metadata document of the array ``name`` of the group ``path`` (``shape``,
        ``dimension_names``, chunks ...), no data read: from the group's document when it was written
        in one batch, else one read of the array's document. ``None`` when absent or not an array."""
        found = self.examine(path)
        cons = (found.doc or {}).get("consolidated_metadata")
        meta = cons.get("metadata", {}).get(name) if isinstance(cons, dict) else None
        if meta is None and found.doc is not None:
            try:
                meta = read_json(self._zstore, f"{found.loc}/{name}/zarr.json")
            except OSError as exc:  # absent is None: a failed read is not an absent array
                raise self._unread_error(path, exc) from exc
        return meta if isinstance(meta, dict) and meta.get("node_type") == "array" else None

    def group_attrs(self, path: str, fresh: bool = False) -> dict[str, Any] | None:
        """The attributes of the complete group ``path`` (store attributes included); ``None`` when
        it is absent or incomplete. One read of its metadata document (cached with ``cache=True``;
        ``fresh``: read from the store even when a cached store holds it)."""
        if fresh:
            self._docs.pop(path, None)
        return self.examine(path).attrs

    def is_complete(self, path: str) -> bool:
        """Whether the entry at ``path`` exists and its write finished."""
        return self.group_attrs(path) is not None

    def token(self, path: str, fresh: bool = False) -> str | None:
        """The version token of the complete group ``path``: it changes on every rewrite.

        ``None`` when ``path`` is absent, incomplete, or was written before tokens existed (0.1.0).
        ``fresh``: read it from the store even when a cached store holds its document (what another
        process may have rewritten since).
        """
        attrs = self.group_attrs(path, fresh)
        tok = None if attrs is None else attrs.get(TOKEN_ATTR)
        return str(tok) if tok else None

    def _opened(self, found: Examined) -> tuple[xr.Dataset, dict[str, Any], Any] | None:
        """``(dataset, loaded coords, group in memory or None)`` of the reading ``found``; ``None``
        when the open failed because the group was replaced meanwhile (``found`` is then read again)."""
        path, loc, gen = found.path, found.loc, found.generation
        self._require_complete(found)
        where, mem = f"store {self.url!r}: entry {path!r}", None
        try:
            mem = found.batch()  # written in one batch on an object store: read in one batch
            problems, lost = found.damage
            if found.generation != gen:
                return None  # the batch or the damage check met a rewrite and read the group again
            if len(problems) > len(lost):  # a recorded variable is gone
                raise self._damage_error(path, problems[0])
            folder = self._folder(loc)
            before = None if folder is None else folder_id(folder)
            # (reading consolidated metadata warns of nothing: no warnings.catch_warnings here, which is not
            # thread-safe: readers on other threads would restore its filters over their caller's, losing warnings)
            if mem is not None:
                ds = xr.open_zarr(mem, consolidated=True, chunks=None)
            else:
                ds = xr.open_zarr(self._zstore, group=loc, consolidated=False, chunks=None)
            bad = [n for n in lost if n in ds.coords]
            if bad:  # coords are read now: a lost chunk of one leaves nothing to hand back
                raise self._damage_error(path, problems[list(lost).index(bad[0])])
            if mem is None and ds.attrs.get(TOKEN_ATTR) != (found.attrs or {}).get(TOKEN_ATTR) and found.replaced():
                return None  # opened another copy than the reading's document (one a cached store kept): read it again
            ds.attrs = {k: v for k, v in ds.attrs.items() if k not in STORE_ATTRS}
            # coords are small: load them, and give strings back their numpy str dtype
            coords = {}
            for name, c in ds.coords.items():
                values = c.values
                coords[name] = (c.dims, np.array(values.tolist(), dtype=str) if values.dtype.kind in "OT" else values, c.attrs)
        except (StoreError, ImportError, MemoryError):  # not the entry's damage: never "rewrite it"
            raise
        except Exception as exc:  # a damaged entry: name it in one line
            if mem is None and found.replaced():
                return None
            raise StoreError(f"{where} cannot be opened ({type(exc).__name__}: {exc}); rewrite it.") from exc
        # a swap met while opening (metadata and coords may be another copy's, or fill values): again
        if mem is None and folder is not None and (before is None or folder_id(folder) != before):
            found.replaced()
            return None
        if mem is None and folder is None and found.replaced():
            return None
        return ds, coords, mem

    def _settled(self, found: Examined, step: Any, verb: str) -> Any:
        """``step(found)`` until it is not ``None`` (``None``: a rewrite under the same key was met while
        reading, so the new copy is read), at most 3 times; then a one-line :class:`StoreError`."""
        for _ in range(3):
            got = step(found)
            if got is not None:
                return got
        raise self._rewritten_error(found.path, verb)

    def _rewritten_error(self, path: str, verb: str) -> StoreError:
        """The one-line error of a group replaced under every reading of it (``verb``: what the reader did)."""
        return StoreError(f"store {self.url!r}: {self._described(path)[0]} is being rewritten by another process "
                          f"(replaced while it was {verb}); read it again.")

    def _unread_error(self, path: str, exc: OSError) -> StoreError:
        """The one-line error of a group whose metadata document could not be read (a failed request,
        permissions): never taken for an absent group or for a rewrite."""
        return StoreError(f"store {self.url!r}: {self._described(path)[0]} could not be read "
                          f"({_zarr.os_message(exc)}); check the store's connection and permissions, then read it again.")

    def _require_complete(self, found: Examined) -> None:
        """Raise the one-line error of a reading ``found`` whose group is not complete: its document is
        not JSON (damage), its write did not finish, it was being rewritten, or it does not exist."""
        if found.attrs is not None:
            return
        if found.doc == {} and self.unreadable(found.loc):
            raise self._damage_error(found.path, unreadable_doc(f"{found.loc}/zarr.json"))
        why = "its write did not finish (a killed job?); rewrite it" if found.doc is not None else "it does not exist"
        if found.moved:
            why = "it was being rewritten by another process while it was read; read it again"
        elif self.interrupted_rewrites([found.path]):  # object stores: the previous copy is kept aside
            why = previous.INTERRUPTED
        raise StoreError(f"store {self.url!r}: entry {found.path!r} cannot be read: {why}.")

    def _folder(self, loc: str) -> str | None:
        """The folder of the group ``loc`` on a local store (``None`` on an object store)."""
        return None if self._local is None else os.path.join(self._local, *loc.split("/"))

    def read_dataset(self, path: str | Examined) -> xr.Dataset:
        """Open the complete entry ``path`` lazily (dask-backed).

        ``path`` may be a reading of it (:meth:`examine`): its document and damage are then not read
        again. A damaged entry raises :class:`StoreError` naming it and the fix: when it is opened if a
        recorded variable or a chunk of a coordinate is lost, when read if a lost chunk of a data
        variable is touched (Zarr would silently read NaN), and a chunk that cannot be decoded when read.
        An entry's attrs come storable (:func:`neuroxr.attrs.storable`; ``decode_attrs`` gives the dicts
        back); a set's (``neural/``, ``features/``) and the cache's as stored.
        """
        found = path if isinstance(path, Examined) else self.examine(path, fetch=True)
        ds, coords, mem = self._settled(found, self._opened, "opened")
        path, loc, attrs, lost = found.path, found.loc, found.attrs, found.damage[1]
        where = f"store {self.url!r}: entry {path!r}"
        ds = ds.assign_coords(coords)
        token = attrs.get(TOKEN_ATTR) or uuid.uuid4().hex
        fix = self._described(path)[1]
        for name, var in ds.data_vars.items():  # a lost chunk of a data variable raises when it is read
            chunks = var.encoding.get("chunks") or var.shape
            # read from the store (not from memory): every read checks the version token afterwards; an
            # entry's path is its provenance key (every complete copy holds the same numbers), so a read
            # that met a rewrite of it under the same key reads the new copy instead of raising
            same_key = path.split("/")[0] not in ("neural", "features")
            check: dict[str, Any] = {}
            if mem is None and same_key and self._local is not None:
                check = {"folder": self._folder(loc)}
            elif mem is None and attrs.get(TOKEN_ATTR):
                check = {"token": str(attrs[TOKEN_ATTR]), "zstore": self._zstore,
                         "locs": tuple(dict.fromkeys((loc, path))), "same_key": same_key}
            guarded = GuardedArray(var.variable, f"{where} variable {name!r}", lost=map(chunk_index, lost.get(name, ())),
                                   chunks=chunks, fix=f"{fix}.", **check)
            data = dask.array.from_array(
                guarded, chunks=tuple(chunks),
                name=f"neuroxr-{path}/{name}-{token}", asarray=False, fancy=False, meta=np.empty((0,) * var.ndim, var.dtype),
            )
            ds[name] = var.copy(data=data)
        return self._handed_out(path, ds)

    def read_layout(self, found: Examined) -> xr.Dataset:
        """What :meth:`read_dataset` gives for the reading ``found``, as far as a layout check sees it:
        the same open and refusals (unfinished, damaged, lost chunks of a coordinate, a rewrite met),
        coords and attrs as it hands them out, its data variables lazy and never read (their dims,
        dtypes and attrs only), without the guarded reading it builds per variable."""
        ds, coords, _ = self._settled(found, self._opened, "opened")
        ds = ds.assign_coords(coords)
        lazy = {name: dask.array.from_array(var.variable._data, chunks=var.shape, name=f"neuroxr-layout-{found.path}/{name}",
                                            asarray=False, fancy=False, meta=np.empty((0,) * var.ndim, var.dtype))
                for name, var in ds.data_vars.items()}
        return self._handed_out(found.path, ds.copy(data=lazy))  # the variables' data replaced at once

    @staticmethod
    def _handed_out(path: str, ds: xr.Dataset) -> xr.Dataset:
        """An entry (a result) is handed out storable; a set keeps its attrs as the store holds them."""
        return ds if path.split("/")[0] in ("neural", "features", "cache") else storable(ds)

    # ------------------------------------------------------------------ integrity
    def _damage(self, path: str, doc: dict[str, Any], keys: set[str] | None = None,
                checked: dict[str, dict[str, Any]] | None = None) -> tuple[list[str], dict[str, list[str]]]:
        """:func:`~neuroxr.store.integrity.group_damage` of the complete group ``path`` (remembered per
        version token with ``cache=True``; ``checked`` gets the array documents read, when they are)."""
        memo = (path, str(doc.get("attributes", {}).get(TOKEN_ATTR)))
        if self._cache and memo in self._checked:
            return self._checked[memo]
        found = group_damage(self._zstore, path, doc, keys, checked=checked)
        if self._cache:
            self._checked[memo] = found
        return found

    @staticmethod
    def _described(path: str) -> tuple[str, str]:
        """``(what the group is, how to fix it when damaged)``: sets are rewritten, entries computed again."""
        parts = path.split("/")
        if parts[0] == "neural" and len(parts) == 2:
            return f"the neural set {parts[1]!r} ({path})", "rewrite the set (StudyStore.write_neural)"
        if parts[0] == "features" and len(parts) == 3:
            return (f"the feature set '{parts[1]}.{parts[2]}' ({path})",
                    "re-extract the layer or rewrite it (neuroxr extract, StudyStore.write_features)")
        return f"entry {path!r}", "compute it again (a score or a sweep asking for it replaces a damaged entry) or rewrite it"

    def _damage_error(self, path: str, problem: str) -> StoreError:
        """The one-line error of a damaged group: what it is, the problem, how to fix it."""
        what, fix = self._described(path)
        err = StoreError(f"store {self.url!r}: {what} is damaged ({problem}); {fix}.")
        err.problem = problem
        return err

    def check_intact(self, path: str | Examined) -> None:
        """Raise when the complete group ``path`` has lost a recorded variable or chunks.

        One listing of its keys (none on a repeat with ``cache=True``, nor for a reading of it whose
        damage was found, e.g. by :meth:`read_dataset`). Absent and unfinished groups pass (readers
        refuse those).

        Parameters
        ----------
        path : str or Examined
            A set or an entry, e.g. ``"features/alexnet/conv3"``, or a reading of it
            (:meth:`examine`): the damage that reading found (or finds, once) is checked, so a
            check before or after :meth:`read_dataset` of the same reading reads nothing twice.

        Raises
        ------
        StoreError
            One line naming the group, the problem and the fix (rewrite a set, compute an entry again).
        """
        if isinstance(path, Examined):  # as damaged(path=...), from the damage this reading found
            if path.problem is not None:
                raise self._damage_error(path.path, path.problem)
            return
        problems = self.damaged(path=path)
        if problems:
            raise self._damage_error(path, problems[0][1])

    def damaged(self, values: bool = False, path: str | None = None) -> list[tuple[str, str]]:
        """Damage that a reader would not notice, as ``(path, problem)`` pairs (empty: no damage).

        Parameters
        ----------
        values : bool, default False
            Also read every stored chunk (finds chunks that cannot be decoded; reads all data).
        path : str, optional
            Check only the complete group ``path`` (an entry or a set): its recorded variables and
            their chunks, from one listing of its keys; absent or unfinished: no damage.

        Returns
        -------
        list of (str, str)
            ``path`` is the group holding the damaged array (an entry, or a group above it) and
            ``problem`` one line: a missing metadata document ``zarr.json`` of a group or array,
            chunks missing from the chunk grid of an array of a complete group (Zarr would read them
            as NaN fill; an unfinished group is listed as incomplete instead), chunks
            that cannot be read (``values=True``), a group marked complete whose arrays
            recorded at write time are not all present, or (local stores) an entry whose writer
            died between the two renames of its swap where the swap cannot be finished, or (object
            stores) an entry left incomplete by an interrupted rewrite while its previous copy is kept,
            or the keys of a first write not finished that left no group document.
        """
        if path is None:
            unfinished = self._unfinished_swaps()  # first: a swap finished now is scanned in place
            read: dict[str, Any] = {}
            counts = dict(self._doc_epochs)
            found = scan(self._zstore, values=values, docs=read)
            for p, doc in read.items():  # the documents it read serve the reads that follow (cache=True)
                self._keep_doc(p, doc, self._epoch_of(p, counts))
            named = {p for p, _ in unfinished}  # what a missing document of theirs means is said there
            return [(p, d) for p, d in found if not any(p == n or p.startswith(f"{n}/") for n in named)] + unfinished
        found = self.examine(path)
        if found.attrs is None:
            return []
        problems = group_damage(self._zstore, found.loc, found.doc, values=True)[0] if values else found.damage[0]  # type: ignore[arg-type]
        if values and set_edited(path, found.attrs):
            problems.insert(0, SET_ATTRS_PROBLEM)
        return [(path, p) for p in problems]

    def interrupted_rewrites(self, paths: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """``{path: attributes of its kept copy}`` of the entries (object stores) whose rewrite was
        interrupted and not rolled back yet: incomplete, their previous copy kept until the store is
        opened for writing once that writer is gone; ``{}`` on a local store (its swaps are atomic).
        ``paths``: only these entries (their journals read in one batch); ``None``: all (a listing)."""
        if self._local is not None or paths == []:
            return {}
        return previous.interrupted_attrs(self._zstore, paths)

    def _unfinished_swaps(self) -> list[tuple[str, str]]:
        """Swaps of dead writers that could not be finished here (a read-only folder), and (object
        stores) rewrites whose entry is incomplete while a previous copy is kept, as damage."""
        if self._local is None:
            return previous.interrupted(self._zstore)
        out = []
        for path in atomic.pending(self._local):
            staged = atomic.orphaned(self._local, path)
            if staged is not None and not atomic.recover(self._local, path):
                out.append((path, f"its writer died between the two renames of its swap and the swap could not be "
                                  f"finished (no write access?); readers use its new copy in {staged}; open the store "
                                  f"with write access (any neuroxr command that writes, or StudyStore(url)) to finish it"))
        return out

    # ------------------------------------------------------------------ neural sets
    def read_neural(self, name: str) -> xr.DataArray:
        """The neural set ``name`` as a lazy DataArray ``stimulus x neuroid x repeat [x time_bin]``.
        A name no set can have (``''``, ``'mA/'``, ``'./mA'``) or that the store lacks is refused in
        one line naming the neural sets it holds."""
        held = lambda: f"it holds the neural sets {examples(self.neural_sets(), 10)}"  # noqa: E731
        self._require_set_name("read_neural", "name", name, held)
        return self._read_named(f"neural/{name}", name, held)

    def read_features(self, model: str, layer: str) -> xr.DataArray:
        """The feature set ``(model, layer)`` as a lazy DataArray ``stimulus x unit``, named as the
        set (``model.layer``: ``da.to_zarr(path)`` / ``da.to_netcdf(path)`` store it at the root) and
        labeled ``model/layer`` in messages by its scalar coords ``model`` and ``layer``. A model or
        layer name no set can have, or a set the store lacks, is refused in one line naming the models
        (or the model's layers) it holds."""
        models = lambda: f"it holds the models {examples(self.models(), 10)}"  # noqa: E731
        self._require_set_name("read_features", "model", model, models)
        layers = lambda: (f"model {model!r} has the layers {examples(self.layers(model), 10)}" if model in self.models()  # noqa: E731
                          else models())
        self._require_set_name("read_features", "layer", layer, layers)
        da = self._read_named(f"features/{model}/{layer}", f"{model}.{layer}", layers)
        return da if {"model", "layer"} <= set(da.coords) else da.assign_coords(model=model, layer=layer)

    def read_set_index(self, path: str | Examined) -> SetIndex:
        """The stimulus ids, attrs and data shape and dtype of the complete set ``path``, its data unread.

        The checks of every read apply, and the set must be intact as :meth:`check_intact` has it: a
        set that is absent, unfinished, or damaged (its attrs or its arrays' metadata edited after the
        write, a recorded array gone, chunks lost, a metadata document that is not JSON) raises, so
        its ids are never fill values or another copy's. Requests: its document, one listing of its
        keys, its arrays' documents in one batch (none for a set written in one batch, whose document
        carries them), the chunks of its ``stimulus_id`` in one batch and its document again, past a
        cache (a rewrite since the reading, on an object store under the same keys, locally a swapped
        folder: another token means the ids may be another version's than the attrs, and the new copy
        is read); no chunk of its data.

        Parameters
        ----------
        path : str or Examined
            A set: ``"features/<model>/<layer>"`` or ``"neural/<name>"``, or a reading of it
            (:meth:`examine`): its document and damage are then not read again, and its ``loc`` is
            where the set was read (a reader of its data opens it there).

        Raises
        ------
        StoreError
            One line naming the set, what is wrong and the fix, as :meth:`read_dataset`; a set
            without a ``stimulus_id`` array, with the problem :data:`NO_IDS`.
        """
        return self._settled(path if isinstance(path, Examined) else self.examine(path), self._indexed, "read")

    def _indexed(self, found: Examined) -> SetIndex | None:
        """:meth:`read_set_index` of the reading ``found``; ``None`` when the group was replaced meanwhile."""
        self._require_complete(found)
        path, loc, gen = found.path, found.loc, found.generation
        problems = found.damage[0]
        if found.generation != gen:
            return None
        if problems:
            raise self._damage_error(path, problems[0])
        # the arrays' documents as readers take them (a local store's own, not the copies a group written in
        # one batch carries) and as the damage check read them: not read again
        cons = None if self._local is not None else (found.doc or {}).get("consolidated_metadata")
        metas = dict(cons.get("metadata", {})) if isinstance(cons, dict) else {}
        metas.update(found.arrays)
        names = ("stimulus_id", DATA_VAR)
        try:
            docs = batch.get_many(self._zstore, [f"{loc}/{n}/zarr.json" for n in names if n not in metas])
            metas.update({k.split("/")[-2]: json.loads(v) for k, v in docs.items() if v is not None})
            if "stimulus_id" not in metas:
                raise self._damage_error(path, NO_IDS)
            got = batch.get_many(self._zstore, [f"{loc}/stimulus_id/{c}" for c in chunk_keys(metas["stimulus_id"])])
            items = {k[len(f"{loc}/stimulus_id/"):]: v for k, v in got.items() if v is not None}  # decoded in memory
            ids = zarr.open_array(batch.memory_group({"zarr.json": json.dumps(metas["stimulus_id"]).encode(), **items}),
                                  mode="r")[...]
            data = None if DATA_VAR not in metas else zarr.open_array(  # its shape and dtype: no request
                batch.memory_group({"zarr.json": json.dumps(metas[DATA_VAR]).encode()}), mode="r")
        except StoreError:
            raise
        except Exception as exc:  # a chunk that cannot be decoded, or a document the damage check did not read
            if found.replaced():
                return None
            raise self._damage_error(path, f"its stimulus ids cannot be read ({type(exc).__name__}: {exc})") from exc
        # the document again (past a cache): a rewrite since the reading (an object store's keeps the keys, a
        # local swap the folder), even before the ids were read, means they may be another version's than the attrs
        if found.replaced():
            return None
        return SetIndex(
            stimulus_id=np.array(np.asarray(ids).tolist(), dtype=str),
            attrs={k: v for k, v in found.attrs.items() if k not in STORE_ATTRS},  # type: ignore[union-attr]
            shape=None if data is None else tuple(data.shape),
            dtype=None if data is None else np.dtype(data.dtype),
        )

    def _require_set_name(self, caller: str, arg: str, value: Any, held: Any) -> None:
        """Refuse ``value`` (the argument ``arg`` of ``caller``) unless it can name a set: read as a
        path, ``'mA/'`` or ``'./mA'`` would reach the set ``mA``'s group and call it damaged, ``''``
        the folder of every set and call it unfinished."""
        if not isinstance(value, str) or not _zarr._NAME_RE.match(value):
            shown = repr(value) if isinstance(value, str) else f"of type {type(value).__name__}"  # never an array's repr
            raise StoreError(f"{caller}: {arg} {shown} can name no set of store {self.url!r} (names have letters, "
                             f"digits, '.', '-' and single '_', no '/', no spaces); {held()}.")

    def _read_named(self, path: str, label: str, held: Any) -> xr.DataArray:
        """:meth:`_read_array` of a set named by a caller; one that does not exist is refused naming what
        the store holds (``held()``)."""
        try:
            return self._read_array(path, label)
        except StoreError as exc:
            if self.examine(path).doc is not None or self.unreadable(path):
                raise  # there, but unfinished, damaged or being rewritten: its own message
            raise StoreError(f"{str(exc).rstrip('.')}; {held()}.") from None

    def _read_array(self, path: str, label: str) -> xr.DataArray:
        ds = self.read_dataset(path)
        da = ds[DATA_VAR]
        da.attrs = dict(ds.attrs)
        return da.rename(label)

