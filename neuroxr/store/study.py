"""The study store: one Zarr store holds one study (pure storage, no entry layout logic).

Layout (see ``schemas/store.schema.json``)::

    neural/<name>                         stimulus x neuroid x repeat [x time_bin] (whole stimulus axis per chunk)
    features/<model>/<layer>              stimulus x unit (whole stimulus axis, units chunked)
    scores/, metrics/, cache/             entries computed from the sets (their layout and
                                          provenance keys: :mod:`neuroxr.entries.layout`)
    .neuroxr/                             staging groups, swap journals and locks (local stores),
                                          kept copies and rewrite journals (object stores), inventory

The store reads and writes groups by path; it knows the sets (:meth:`StudyStore.write_neural`,
:meth:`StudyStore.write_features`) but not what the entries mean: computing, finding and listing
them is :mod:`neuroxr.entries`.

Every entry is a Zarr group. An entry is *complete* only once the group attribute
``neuroxr_complete`` is true. On a local store a write goes to a private staging group that is
marked complete and then swapped in by two directory renames under the entry's lock
(:mod:`neuroxr.store.atomic`, :mod:`neuroxr.store.lock`): a kill or a full disk at any moment
leaves the old or the new complete entry. On fsspec URLs (no atomic rename) the entry is written
in place, data first and marker last, after its old complete copy is copied aside
(:mod:`neuroxr.store.previous`): a failed or killed rewrite gets it back. One writer per store is
the rule there.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import zarr

from ..errors import ParameterError, StoreError, shown
from . import atomic, batch, previous
from ._zarr import (
    STORE_VERSION,
    STORE_VERSION_ATTR,
    check_group_path,
    enclosing_zarr,
    local_root,
    os_message,
    read_json,
    unreachable_message,
    zarr_store,
)
from .dataset_writer import DatasetWriter
from .foreign import foreign, refusal
from .integrity import mark_group
from .lock import LOCK_EXPIRY, LOCK_TIMEOUT, EntryLock, NoLock
from .reading import Reading
from .set_writers import SetWriters
from .staged import StagedWrites

__all__ = ["StudyStore", "open_store"]

#: default bytes of small groups (each read or written in one batch on an object store) a cached store keeps
_DATA_CACHE_BYTES = 256 * 2**20
#: how a missing store is made, where opening one refuses to create it
_CREATE_HINT = "; make a new store there with StudyStore(path, create=True)"
#: a study store's root document, as a new store writes it (what to write back over a damaged one)
_ROOT_DOC = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {STORE_VERSION_ATTR: STORE_VERSION}})


class StudyStore(Reading, DatasetWriter, SetWriters, StagedWrites):
    """A study store on Zarr (local path or any fsspec URL that zarr accepts).

    Parameters
    ----------
    url : str or os.PathLike
        Where the store lives.
    mode : {"a", "r"}, default "a"
        ``"a"`` reads and writes; ``"r"`` only reads (every write raises :class:`StoreError`).
    storage_options : mapping, optional
        Passed to fsspec for remote URLs (``s3://``, ``gs://``, ``memory://`` ...).
    create : bool, default True
        With ``mode="a"``, create the store when ``url`` holds none. Readers pass ``create=False``
        (or ``mode="r"``, which never creates) so a mistyped path is an error, not a new empty store.
    cache : bool, default False
        Keep what this object reads for its whole life: the metadata documents of complete groups
        (set tokens, entry provenance), the inventory, and the small groups (at most 64 MiB each:
        sets, Grams, entries) read from or written to an object store, in memory under their
        version token. Its own writes update the cache; writes of *other* processes to groups it
        already read are not seen within one call: each outermost call (``compute``, ``lookup``,
        ``sweep``) starts from fresh documents (:meth:`session`). Sweeps run on a held twin
        (:meth:`cached`, :meth:`hold`): the sets do not change during a sweep. Without it, the documents
        and the inventory are kept for one outermost call only (:meth:`session`).
    cache_bytes : int, optional
        With ``cache``, the most bytes of small groups kept in memory (default 256 MiB); the least
        recently used go first. Refused without ``cache``; :meth:`cached` twins keep it.

    Examples
    --------
    >>> store = StudyStore("study.zarr")                        # doctest: +SKIP
    >>> store.write_neural("monkeyA", responses)                 # doctest: +SKIP
    >>> store.write_features("alexnet", "conv3", feats)          # doctest: +SKIP
    >>> store.inventory()                                        # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | os.PathLike,
        mode: str = "a",
        storage_options: Mapping[str, Any] | None = None,
        create: bool = True,
        cache: bool = False,
        cache_bytes: int | None = None,
    ) -> None:
        if mode not in ("a", "r"):
            raise ParameterError(f"mode must be 'a' or 'r'; got {shown(mode)}.")
        if not isinstance(url, (str, os.PathLike)):
            raise ParameterError(f"StudyStore: url must be the path or URL of a study store (str or os.PathLike); got {shown(url)}.")
        self.url = os.fspath(url)
        if not self.url.strip():  # abspath('') is the current folder, never meant as a store
            raise ParameterError(f"StudyStore: url must be the path or URL of a study store; got {self.url!r}, an empty path.")
        if "://" not in self.url:  # '~/study.zarr' is the home folder's store, never a folder named '~' here
            self.url = os.path.expanduser(self.url)
        self.mode = mode
        self.storage_options = dict(storage_options or {})
        if cache_bytes is not None and (not cache or isinstance(cache_bytes, bool) or not isinstance(cache_bytes, numbers.Integral)
                                        or cache_bytes < 0):
            raise ParameterError(f"StudyStore: cache_bytes bounds the cache of cache=True: pass a number of bytes (an int >= 0) "
                                 f"with cache=True, or leave it out; got {shown(cache_bytes)} with cache={shown(cache)}.")
        self._cache_bytes = None if cache_bytes is None else int(cache_bytes)
        self._setup(cache)
        self._local = local_root(self.url)
        if self._local is not None and os.path.islink(self._local) and not os.path.exists(self._local):  # never made there
            raise StoreError(f"no study store at {self.url!r}: it is a symbolic link to "
                             f"{os.path.join(os.path.dirname(self._local), os.readlink(self._local))!r}, which does not exist; "
                             "check the link, or give the path of the store's folder.")
        if self._local is not None and os.path.exists(self._local) and not os.path.isdir(self._local):
            raise StoreError(f"no study store at {self.url!r} (it is a file, not a store folder); pass the store's folder.")
        if self._local is not None and (mode == "r" or not create) and not os.path.isdir(self._local):
            raise StoreError(f"no study store at {self.url!r} (the folder does not exist); check the path{_CREATE_HINT}.")
        new = mode == "a" and create and self._local is not None and not os.path.isfile(os.path.join(self._local, "zarr.json"))
        outer = enclosing_zarr(self._local) if new else None
        if outer is not None:  # a new store never joins the groups of another Zarr hierarchy (checked before its folder is made)
            raise StoreError(f"cannot make a study store at {self.url!r}: it lies inside the Zarr store {outer!r}, "
                             "whose groups it would join; choose a path outside it.")
        try:
            self._zstore = zarr_store(self.url, mode == "r", storage_options)
        except ValueError as exc:  # fsspec's "Protocol not known: foo"
            if not str(exc).startswith("Protocol not known"):
                raise
            raise StoreError(f"cannot open the store {self.url!r}: fsspec knows no protocol {self.url.partition('://')[0]!r}; "
                             "give a path or a URL such as s3://bucket/study.zarr.") from None
        self._id = self._local if self._local is not None else self.url.rstrip("/")
        root_doc = self._root_doc()
        if root_doc == {}:  # there, but no JSON object: a damaged write, never an absent store (nor written over)
            raise StoreError(f"the study store {self.url!r} is damaged: its root zarr.json is not valid JSON; restore it "
                             f"from a copy, or write it back as {_ROOT_DOC}.")
        if root_doc is None and self._local is not None and any(
            os.path.isfile(os.path.join(self._local, k)) for k in (".zgroup", ".zarray")
        ):  # Zarr format 2, which neuroxr neither reads nor should write into
            raise StoreError(f"{self.url!r} holds Zarr format 2 data (.zgroup/.zarray), no neuroxr study store (Zarr format 3, "
                             "zarr.json); choose another path, or write its arrays into a new store.")
        if isinstance(root_doc, dict) and root_doc.get("node_type") == "array":  # never a store, nor made one
            raise StoreError(f"{self.url!r} is a Zarr array, no neuroxr study store (a Zarr group); check the path, or "
                             "choose another for a new store.")
        if root_doc is None and (mode == "r" or not create):  # a folder of other files: no advice to make a store there
            why = foreign(self.url, self._zstore, None)
            raise StoreError(refusal(why, mode) if why is not None else
                             f"no study store at {self.url!r} (no Zarr group there); check the path{_CREATE_HINT}.")
        attrs = (root_doc or {}).get("attributes", {}) if isinstance(root_doc, dict) else {}
        why = foreign(self.url, self._zstore, root_doc) if root_doc or mode == "a" else None
        if why is not None:  # a Zarr group neuroxr never wrote, or (a writer) a folder of other files: never made a store
            raise StoreError(refusal(why, mode))
        found = attrs.get(STORE_VERSION_ATTR, STORE_VERSION)
        if mode == "a" and found != STORE_VERSION:  # a writer never changes a layout it does not know
            newer = isinstance(found, int) and found > STORE_VERSION
            raise StoreError(f"{self.url!r} is a study store of layout version {found!r} ({STORE_VERSION_ATTR!r}); this "
                             f"neuroxr writes version {STORE_VERSION} only: "
                             + ("upgrade neuroxr to write to it" if newer else "check it with neuroxr validate")
                             + " (opening it read-only works).")
        try:
            if self._local is not None or root_doc is None or root_doc.get("node_type") != "group" or (
                mode == "a" and STORE_VERSION_ATTR not in attrs
            ):
                self._root_group = self._open_root()
        except OSError as exc:
            raise StoreError(f"cannot open the study store {self.url!r} for writing: {os_message(exc)}.") from exc
        except Exception as exc:  # zarr raises several kinds for a folder that is no Zarr group
            raise StoreError(f"no study store at {self.url!r} ({type(exc).__name__}: {exc}); check the path, or if it "
                             "is a study store, its root zarr.json is damaged: restore it from a copy.") from exc
        if self._local is not None:  # finish swaps interrupted by a killed writer (readers too, when they can)
            atomic.recover(self._local, cleanup=mode == "a")
        elif mode == "a":  # put back the previous copies of rewrites whose writers were killed
            try:
                for path, token in previous.recover(self._zstore).items():
                    self._record(path, "complete", token)
            except OSError:  # e.g. credentials that only read: the journals stay for a writer that can
                pass

    def _setup(self, cache: bool) -> None:
        """The caches and write records of a newly made object (``url``, ``mode`` and ``_cache_bytes`` set)."""
        self._cache = bool(cache)
        self._held, self._calls = False, 0  # see hold() and session()
        self._session_lock = threading.Lock()  # threads sharing this object: one count of calls
        self._docs: dict[str, dict[str, Any]] = {}  # path -> metadata document of a complete group (cache; or one call)
        self._doc_epochs: dict[str, int] = {}  # path -> changes this object made there (Listing._keep_doc)
        self._doc_lock = threading.Lock()  # the epoch and the documents change together
        self._known: set[str] = set()  # groups known to exist (object stores: require_group)
        self._index: dict[str, dict[str, Any]] | None = None  # merged inventory (cache; or one call)
        self._checked: dict[tuple[str, str], Any] = {}  # damage found per (path, token) (cache)
        # small groups in memory by (path, version token) (cache)
        self._data = batch.GroupCache((_DATA_CACHE_BYTES if self._cache_bytes is None else self._cache_bytes) if cache else 0)
        self._root_group: zarr.Group | None = None
        self._staged: dict[str, str] = {}  # staging URL -> staging id, between begin_write and commit_write
        # object stores: entry URL -> (path, id of its kept previous copy or of its first write), between begin_write and commit
        self._rewriting: dict[str, tuple[str, str]] = {}
        # (thread, entry path) -> its staged group, during commit_write: threads sharing this object and
        # writing one entry each mark their own copy
        self._committing: dict[tuple[int, str], zarr.Group] = {}

    def _open_root(self) -> zarr.Group:
        """The root group; with ``mode="a"`` made (and stamped with the store version) when absent.
        Another process creating the same store at the same moment is fine: zarr's "already exists"
        (or a root document still being written) is retried until the other's group is there."""
        attempt = 0
        while True:
            try:
                # a new root is written with its version at once: a second writer never sees a group neuroxr did not write
                root = zarr.open_group(self._zstore, mode="r" if self.mode == "r" else "a",
                                       attributes=None if self.mode == "r" else {STORE_VERSION_ATTR: STORE_VERSION})
                if self.mode == "a" and STORE_VERSION_ATTR not in root.attrs:
                    root.attrs[STORE_VERSION_ATTR] = STORE_VERSION
                return root
            except OSError:
                raise
            except Exception:  # zarr raises several kinds: "a group exists", a half-written document
                attempt += 1
                if self.mode == "r" or attempt >= 10:
                    raise
                time.sleep(0.01 * attempt)

    def _root_doc(self) -> dict[str, Any] | None:
        try:
            return read_json(self._zstore, "zarr.json")
        except (OSError, FileNotFoundError):
            return None
        except Exception as exc:  # an object store that cannot be reached (no connection, no credentials)
            if self._local is not None:
                raise
            raise StoreError(unreachable_message(self.url, self.storage_options, exc)) from exc

    @property
    def _root(self) -> zarr.Group:
        """The root Zarr group (opened on first use: listings and lookups mostly read documents)."""
        if self._root_group is None:
            self._root_group = zarr.open_group(self._zstore, mode="r" if self.mode == "r" else "a")
        return self._root_group

    def cached(self) -> StudyStore:
        """A new twin of this store with ``cache=True`` (same URL, mode, storage options and ``cache_bytes``)
        and an empty cache: never this object, whose cache may hold documents from earlier calls. Made from
        this open object: the store is not opened again (its root document read, interrupted writes recovered)."""
        twin = object.__new__(type(self))
        twin.url, twin.mode, twin.storage_options = self.url, self.mode, dict(self.storage_options)
        twin._cache_bytes = self._cache_bytes
        twin._setup(True)
        twin._local, twin._zstore, twin._id, twin._root_group = self._local, self._zstore, self._id, self._root_group
        return twin

    def hold(self) -> StudyStore:
        """Keep this cached store's documents for its whole life (no call starts it afresh, see
        :meth:`session`): for a twin private to one sweep, whose sets do not change. Returns ``self``."""
        self._held = True
        return self

    @contextlib.contextmanager
    def session(self, listing: bool = False) -> Iterator[StudyStore]:
        """One call on this store (:func:`~neuroxr.entries.compute`, :func:`~neuroxr.entries.lookup`,
        :func:`~neuroxr.sweep.sweep` enter it): the outermost call on a cached store that is not held
        (:meth:`hold`) first drops the documents, inventory and damage it kept, so that a match is
        never made on a version token older than the call; calls nested in it share what it reads.
        The small groups it keeps stay: they are kept by version token, which names one content.
        ``listing`` (:func:`~neuroxr.entries.list_entries`, ``iter_entries``): the inventory is read
        afresh and only the documents it no longer records complete under their token go
        (:meth:`_recheck_docs`). A store that is not cached keeps the merged inventory and the documents of
        complete groups for the outermost call only: read afresh at its start, dropped at its end (its own
        writes update them, as a cached store's). Any store forgets the parent groups it found
        (:meth:`_require_group_docs`).
        Thread-safe: threads sharing this object count their calls under one lock, so calls running in
        several threads at once share what they read and the last to end leaves none counted."""
        with self._session_lock:  # threads sharing this object: only the first call of none running clears
            if not self._held and not self._calls:
                self._known.clear()  # every store: a parent group another writer deleted since is made again
                if self._cache and listing:
                    self._recheck_docs()
                elif self._cache:
                    self._docs.clear()
                    self._checked.clear()
                    self._index = None
                else:  # a store that is not cached keeps them for one outermost call only
                    self._index = None
            self._calls += 1
        try:
            yield self
        finally:
            with self._session_lock:
                self._calls -= 1
                if not self._calls and not self._cache:  # the call ends: the next reads every document afresh
                    with self._doc_lock:
                        self._index = None
                        self._docs.clear()

    def __repr__(self) -> str:
        inv = self.inventory()
        return (
            f"<StudyStore {self.url!r}: {len(inv['neural'])} neural sets, "
            f"{sum(len(v) for v in inv['features'].values())} feature sets>"
        )

    def _forget(self, path: str) -> None:
        """Drop what the cache holds of ``path`` and below (after this object changed it); a document
        read before this (by another thread) is then not kept (:meth:`_keep_doc`)."""
        with self._doc_lock:
            self._doc_epochs[path] = self._doc_epochs.get(path, 0) + 1
            for p in [p for p in self._docs if p == path or p.startswith(path + "/")]:
                del self._docs[p]
        self._data.forget(path)
        # a snapshot (threads sharing this object add the groups of their writes meanwhile)
        for p in [p for p in list(self._known) if p == path or p.startswith(path + "/")]:
            self._known.discard(p)

    def mark_complete(self, path: str) -> None:
        """Mark the entry at ``path`` complete (call only after all its data are written).

        Records the group's arrays and the chunks absent at this moment (all fill value) for
        :meth:`damaged`, and a fresh version token (:meth:`token`). During :meth:`commit_write`
        of ``path`` it marks the staged copy, which is then swapped in.
        """
        self._require_write()
        staged = self._committing.get((threading.get_ident(), path))
        g = staged if staged is not None else self._group(path)
        if g is None:
            raise StoreError(f"store {self.url!r}: cannot mark {path!r} complete: it does not exist.")
        try:
            token = mark_group(g, g.store if staged is not None else self._zstore, "" if staged is not None else path)
            if staged is None:
                self._forget(path)
                self._record(path, "complete", token)
        except OSError as exc:
            raise StoreError(f"store {self.url!r}: cannot mark {path!r} complete: {os_message(exc)}.") from exc

    def lock(self, path: str, timeout: float = LOCK_TIMEOUT, expiry: float = LOCK_EXPIRY) -> EntryLock | NoLock:
        """The lock of entry ``path``, as a context manager (``with store.lock(path): ...``).

        Local stores: a lock file with owner (host, pid) and expiry, broken when expired or when
        its owner process is gone (see :mod:`neuroxr.store.lock`). fsspec URLs: no lock (one writer
        per store). Every write of this class takes it around its swap; hold it yourself around a
        whole computation to keep a second writer from doing the same work (the thread holding it
        takes it again at once, so its own write of ``path`` proceeds). ``timeout`` and
        ``expiry`` (seconds; default :data:`LOCK_TIMEOUT` = 120.0, :data:`LOCK_EXPIRY` = 600.0) as in :class:`EntryLock`.
        A store opened read-only refuses it (:class:`StoreError`): it writes nothing, a lock file neither.
        """
        self._require_write()  # a writer's lock: a read-only store writes no lock file
        if self._local is None:
            return NoLock()
        return EntryLock(self._local, path, timeout=timeout, expiry=expiry, reentrant=True)

    def invalidate(self, path: str) -> None:
        """Delete the entry ``path`` (atomically on local stores: renamed away, then deleted)."""
        self._require_write()
        check_group_path(self.url, path, "invalidate")  # '../x' is a folder beside the store, '' the store
        self._forget(path)
        try:
            if self._local is not None:
                with self.lock(path):
                    existed = atomic.remove_entry(self._local, path)
            else:
                previous.forget(self._zstore, path)  # deleted on purpose: a kept copy must not come back
                try:
                    existed = previous.delete_group(self._zstore, path)
                except BaseException:  # a Ctrl-C too: finished before this process writes there (_keep_previous)
                    self._unfinished_deletions.add((self.url, path))
                    raise
            if existed:
                self._record(path, "deleted")
        except OSError as exc:
            raise StoreError(f"store {self.url!r}: cannot delete {path!r}: {os_message(exc)}.") from exc

    def _require_write(self) -> None:
        if self.mode == "r":
            raise StoreError(f"store {self.url!r} is open read-only; open it with mode='a' to write.")

    def _require_parents(self, path: str) -> None:
        """Create the groups above ``path``; another writer creating them at the same time is fine."""
        parent = path.rpartition("/")[0]
        if parent:
            self.require_group(parent)

    def require_group(self, path: str) -> None:
        """Create the group ``path`` (and those above it) unless it exists; safe against concurrent writers."""
        self._require_write()
        if self._local is None:
            self._require_group_docs(path)
            return
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):  # from the top: a writer killed part way leaves no folder without its document
            self._require_one_group("/".join(parts[:i]))

    def _require_one_group(self, path: str) -> None:
        """Local stores: create the group ``path``, whose parent exists, unless it exists."""
        attempts = 20
        for attempt in range(attempts):
            try:
                self._root.require_group(path)
                return
            except (FileExistsError, FileNotFoundError):  # a folder on the way renamed away meanwhile (invalidate)
                if attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
                continue
            except OSError:
                raise
            except Exception:  # zarr's "already exists" while a concurrent writer is still writing it
                try:
                    if self._lookup(path) is not None:
                        return
                except Exception:  # its metadata document is half-written: look again
                    pass
                if attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))  # let the other writer finish its metadata document

    def _require_group_docs(self, path: str) -> None:
        """Object stores: look for the deepest existing group above-or-at ``path`` (one read per level),
        then write the missing group documents from the top, one at a time (identical documents, so concurrent
        writers agree). A group found is trusted for the rest of the call (:meth:`session`; a held store's life),
        never longer: another writer may delete it (a layer's rewrite drops ``cache/gram/<model>/<layer>``),
        and a write below a group whose document is gone lies where Zarr cannot see it."""
        parts = [p for p in path.split("/") if p]
        missing = []
        trusted = self._held or self._calls > 0
        for i in range(len(parts), 0, -1):
            p = "/".join(parts[:i])
            if (trusted and p in self._known) or self._read_doc(p) is not None:
                self._known.add(p)
                break
            missing.append(p)
        doc = json.dumps({"attributes": {}, "zarr_format": 3, "consolidated_metadata": None, "node_type": "group"}).encode()
        for p in reversed(missing):  # from the top, one at a time: a writer killed part way leaves no group unreachable
            batch.put_many(self._zstore, {f"{p}/zarr.json": doc})
            self._known.add(p)

def open_store(
    url: str | os.PathLike, mode: str = "a", storage_options: Mapping[str, Any] | None = None, create: bool = True
) -> StudyStore:
    """Open the study store at ``url``; with ``mode="a"`` and ``create=True`` (the defaults) make it if absent.

    ``mode="r"`` never creates; readers that may write (scoring) pass ``create=False`` so a mistyped
    path raises :class:`StoreError` instead of making an empty store. See :class:`StudyStore`.

    Parameters
    ----------
    url : str or os.PathLike
    mode, storage_options, create : default "a", None, True
        As in :class:`StudyStore`.
    """
    return StudyStore(url, mode=mode, storage_options=storage_options, create=create)


def as_store(
    store: StudyStore | str | os.PathLike, mode: str = "r", *, create: bool = False,
    storage_options: Mapping[str, Any] | None = None, cache: bool = False,
) -> StudyStore:
    """The study store of a function that takes a store or its path/URL: the package's one opener.

    A path or URL is opened as :class:`StudyStore` with these arguments; with ``create=False`` (the default)
    a missing store, local or remote, is refused in one line naming the path and how to make one, never
    made (only a writer that makes a store, :func:`neuroxr.datasets.synthetic.write_example_study`, passes
    ``create=True``). A :class:`StudyStore` given is returned as is; with ``cache=True`` its
    :meth:`~StudyStore.cached` twin (a new object, its cache empty: never the caller's cache of earlier calls).

    Parameters
    ----------
    store : StudyStore, str or os.PathLike
    mode : {"r", "a"}, default "r"
        ``"r"`` for functions that only read (nothing is written: no lock, no inventory), ``"a"`` to write entries.
    create, storage_options, cache : default False, None, False
        As in :class:`StudyStore`; ``storage_options`` with a :class:`StudyStore` given is refused (it carries its own).
    """
    if isinstance(store, StudyStore):
        if storage_options:
            raise ParameterError("storage_options opens a store given by its path or URL; the StudyStore passed as store "
                                 "carries its own: pass its path or URL, or drop storage_options.")
        return store.cached() if cache else store
    return StudyStore(store, mode=mode, storage_options=storage_options, create=create, cache=cache)
