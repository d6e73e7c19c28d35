"""The staged writes of :class:`~neuroxr.store.StudyStore`: an entry written aside and swapped in
(:meth:`~neuroxr.store.StudyStore.begin_write`, ``commit_write``, ``abort_write``). On a local store
the entry is written into a private staging group and swapped in under its lock
(:mod:`neuroxr.store.atomic`); on an object store it is written in place after its old complete copy
is kept aside (a first write is journaled all the same), and a failed or killed rewrite puts that
copy back, a failed or killed first write's partial copy is removed (:mod:`neuroxr.store.previous`)."""

from __future__ import annotations

import threading
from typing import Any, NoReturn

import zarr

from ..errors import StoreError, WriteConflictError
from . import atomic, batch, previous
from ._zarr import COMPLETE_ATTR, TOKEN_ATTR, os_message, read_json, zarr_store

__all__ = ["GRAM_GROUP", "StagedWrites", "gram_group"]

#: the group of the cached Gram entries of every feature set
GRAM_GROUP = "cache/gram"


def gram_group(model: str, layer: str) -> str:
    """The group of the feature set ``model.layer``'s cached Gram entries, ``cache/gram/<model>/<layer>``
    (one per provenance key). The one spelling of that path (the entry layout, listings and the sweep
    use it, re-exported by :mod:`neuroxr.entries.layout`): the sweep makes it before its workers write
    below it, and the store deletes it when the layer is rewritten (its Grams keyed by the old token)."""
    return f"{GRAM_GROUP}/{model}/{layer}"


def _derived(path: str) -> str | None:
    """The group of entries computed from the set ``path`` that a rewrite of it leaves stale: a feature
    set's cached Grams (keyed by the layer's old token, never read again)."""
    parts = path.split("/")
    return gram_group(parts[1], parts[2]) if len(parts) == 3 and parts[0] == "features" else None


def _nested(a: str, b: str) -> bool:
    """Whether the groups ``a`` and ``b`` are one, or one lies below the other."""
    return a == b or b.startswith(a + "/") or a.startswith(b + "/")



class StagedWrites:
    """Mixin of :class:`~neuroxr.store.StudyStore`, which provides the cache, the inventory records and the locks."""

    _local: str | None
    _zstore: Any
    _docs: dict[str, Any]
    _staged: dict[str, str]
    _rewriting: dict[str, tuple[str, str]]
    _committing: dict[tuple[int, str], zarr.Group]
    url: str
    _require_write: Any
    _record: Any
    _kept: Any
    _forget: Any
    _require_parents: Any
    listing: Any
    mark_complete: Any
    is_complete: Any
    token: Any
    lock: Any
    invalidate: Any

    #: ``(url, path)`` of object-store deletions interrupted in this process (:meth:`_keep_previous`)
    _unfinished_deletions: set[tuple[str, str]] = set()

    def begin_write(self, path: str) -> str:
        """Start writing the entry ``path`` aside; returns the URL of a fresh, empty staging group.

        Write the entry into that URL as the *root* group of a Zarr store (e.g.
        ``ds.to_zarr(url, mode="w")`` or ``zarr.open_group(url, mode="w")``), then call
        :meth:`commit_write` (or :meth:`abort_write`). Readers keep seeing the old entry until
        the commit. On fsspec URLs the old complete entry is copied aside and deleted now, and the URL
        is the entry itself; :meth:`abort_write` puts the old copy back (:mod:`neuroxr.store.previous`).
        """
        self._require_write()
        try:
            self._record(path, "pending")
        except OSError as exc:
            raise StoreError(f"store {self.url!r}: cannot write {path!r}: {os_message(exc)}{self._kept(path)}.") from exc
        if self._local is None:
            self._forget(path)
            url = self.url.rstrip("/") + "/" + path
            self._rewriting[url] = (path, self._keep_previous(path))
        else:
            try:
                sid = atomic.new_staging(self._local)
            except OSError as exc:
                raise StoreError(f"store {self.url!r}: cannot write {path!r}: {os_message(exc)}.") from exc
            url = atomic.staging_dir(self._local, sid)
            self._staged[url] = sid
        return url

    def commit_write(self, path: str, staging: str, absent: bool = False, replaces: str | None = None) -> None:
        """Mark the staged group ``staging`` (from :meth:`begin_write`) complete and swap it in as ``path``.

        ``absent``: the write is of an entry that was not complete when it began (no overwrite asked
        for); if another process completed ``path`` meanwhile, the staged copy is dropped and a
        :class:`~neuroxr.errors.WriteConflictError` says so. ``replaces``: the write is an overwrite of
        the complete copy with this token (:meth:`token`, read when the write was planned); if another
        process rewrote ``path`` meanwhile (another token), the same. Both are checked under the
        entry's lock, on local stores only (an object store's rewrite is in place)."""
        self._require_write()

        def check_unchanged() -> None:
            self._docs.pop(path, None)  # read afresh: another process may have written it
            complete = (absent or replaces is not None) and self.is_complete(path)
            if absent and complete:
                raise WriteConflictError(f"store {self.url!r}: {path!r} was written by another process while this write ran; "
                                         f"its copy is kept and this one dropped (ask for an overwrite to replace it).")
            if replaces is not None and complete and self.token(path) != replaces:
                raise WriteConflictError(f"store {self.url!r}: {path!r} was rewritten by another process while this overwrite "
                                         f"ran; its copy is kept and this one dropped (run the overwrite again to replace it).")
        if self._local is None:
            if staging not in self._rewriting:
                raise StoreError(f"commit_write({path!r}): {staging!r} is not a write begun on this store; call begin_write first.")
            try:
                bid = self._rewriting[staging][1]
                named = (previous.may_commit if previous.is_first(bid) else previous.journal_names)(self._zstore, path, bid)
            except OSError as exc:
                self._abort(staging, exc)
            if not named:  # a recovery took this writer for gone, or the entry was deleted: nothing is marked complete
                self._taken_over(staging)
            try:
                self.mark_complete(path)
            except BaseException as exc:
                self._abort(staging, exc)
            self._finish_rewrite(staging)
            return
        sid = self._staged.pop(staging, None)
        if sid is None:
            raise StoreError(f"commit_write({path!r}): {staging!r} is not a staging group of this store; call begin_write first.")
        try:
            key = (threading.get_ident(), path)
            self._committing[key] = staged = zarr.open_group(zarr_store(staging, False, None), mode="r+")
            try:
                self.mark_complete(path)  # marks the staged copy (this thread's)
            finally:
                del self._committing[key]
            self._require_parents(path)
            with self.lock(path):
                check_unchanged()
                atomic.swap_in(self._local, path, sid)
            self._forget(path)
            self._record(path, "complete", staged.attrs.get(TOKEN_ATTR))
        except OSError as exc:
            atomic.discard(self._local, sid)
            raise StoreError(f"store {self.url!r}: cannot write {path!r}: {os_message(exc)}{self._kept(path)}.") from exc
        except BaseException:
            if not atomic.journal_refers(self._local, path, sid):  # the swap did not begin: drop the copy
                atomic.discard(self._local, sid)
            raise
        self._drop_derived(path)

    def abort_write(self, staging: str) -> None:
        """Drop the staged group ``staging`` that will not be committed (the entry keeps its previous copy; on fsspec
        URLs the partial new copy is deleted and the previous one put back)."""
        sid = self._staged.pop(staging, None)
        if sid is not None and self._local is not None:
            atomic.discard(self._local, sid)
        if staging in self._rewriting:
            self._undo_rewrite(*self._rewriting.pop(staging))

    def _keep_previous(self, path: str) -> str:
        """Object stores: copy the complete entry ``path`` aside (with a journal), then delete it;
        the id of the kept copy, or where there was no complete copy to keep, of the first write
        (journaled before anything is uploaded: :func:`previous.begin_first`; the keys of an
        incomplete copy left there are deleted). A deletion this process began at, above or below
        ``path`` and was interrupted is finished first."""
        try:
            for url, gone in [d for d in list(StagedWrites._unfinished_deletions) if d[0] == self.url and _nested(d[1], path)]:
                previous.finish_deletion(self._zstore, gone)
                StagedWrites._unfinished_deletions.discard((url, gone))
            keys = batch.keys_below(self._zstore, path)  # the listing the deletion needs anyway
            doc = read_json(self._zstore, f"{path}/zarr.json") if f"{path}/zarr.json" in keys else None
            attrs = (doc or {}).get("attributes", {})
            bid = (previous.keep(self._zstore, path, keys, attrs.get(TOKEN_ATTR)) if attrs.get(COMPLETE_ATTR)
                   else previous.begin_first(self._zstore, path))
        except OSError as exc:  # nothing was deleted
            raise StoreError(f"store {self.url!r}: cannot write {path!r}: {os_message(exc)}{self._kept(path)}.") from exc
        try:
            batch.delete_keys(self._zstore, keys, first=f"{path}/zarr.json")
        except BaseException as exc:  # a Ctrl-C too: the old copy goes back now, not after this process ends
            self._undone(path, bid, exc)
        return bid

    def _undo_rewrite(self, path: str, bid: str) -> str:
        """Object stores: a rewrite of ``path`` failed: delete its partial copy and put the kept
        previous copy ``bid`` back (a first write's: delete its partial copy, then its journal).
        Returns how the entry was left, for the error message. Interrupted itself (a second Ctrl-C),
        the next writable open, in this process too, puts the copy back (removes the partial one)."""
        previous.settle(bid)
        self._forget(path)
        first = previous.is_first(bid)
        try:
            if first:
                batch.delete_prefix(self._zstore, path)
                previous.drop(self._zstore, path, bid)
                return "nothing was written; write it again"
            self._record(path, "complete", previous.restore(self._zstore, path, bid))
            return "the previous copy is kept"
        except OSError:
            when = "when the store is next opened for writing"
            try:
                previous.abandon(self._zstore, path)
            except OSError:
                when = "by the first writable open of the store after this process ends"
            if first:
                return f"the entry is incomplete; its partial copy is removed {when}, or write it again"
            return f"the previous copy is kept in {previous.kept_at(bid)} and is put back {when}"

    def _taken_over(self, url: str) -> NoReturn:
        """Object stores: the write at ``url`` may not mark its copy complete (:func:`previous.may_commit`,
        :func:`previous.journal_names`: a recovery took its writer for gone, putting the previous copy
        back or removing the partial first copy; or the entry was deleted): drop the write and raise,
        marking nothing complete. What it uploaded is deleted where the entry is not complete and no
        other write has begun there since."""
        path, bid = self._rewriting.pop(url)
        previous.settle(bid)
        self._forget(path)
        try:
            previous.drop_leftovers(self._zstore, path)
        except OSError:
            pass
        what = "its previous copy was put back" if not previous.is_first(bid) else "its partial copy was removed"
        raise StoreError(f"store {self.url!r}: cannot write {path!r}: another process deleted the entry, or {what} "
                         f"(taking the writer for gone), while this write ran; write it again.")

    def _abort(self, url: str, exc: BaseException) -> None:
        """Undo the rewrite at ``url`` and raise: a one-line :class:`StoreError` for a storage failure."""
        self._undone(*self._rewriting.pop(url), exc)

    def _undone(self, path: str, bid: str | None, exc: BaseException) -> NoReturn:
        """Undo the rewrite of ``path`` (kept copy ``bid``) that ``exc`` stopped, and raise: a one-line
        :class:`StoreError` for a storage failure, else ``exc`` itself."""
        how = self._undo_rewrite(path, bid)
        if isinstance(exc, OSError):
            raise StoreError(f"store {self.url!r}: cannot write {path!r}: {os_message(exc)}; {how}.") from exc
        raise exc

    def _finish_rewrite(self, url: str) -> None:
        """Object stores: the new copy at ``url`` is complete: drop the kept previous copy (and
        :meth:`_drop_derived`)."""
        path, bid = self._rewriting.pop(url)
        try:
            previous.drop(self._zstore, path, bid)
        except OSError:  # left for the next writable open, which sees the entry complete and drops it
            pass
        self._drop_derived(path)

    def _drop_derived(self, path: str) -> None:
        """A new complete copy of ``path`` is in place (the last step of every write: :meth:`commit_write`, an
        object store's batch write): delete the entries computed from the old copy that nothing reads again, a
        layer's cached Grams (``cache/gram/<model>/<layer>``), whichever writer rewrote the layer."""
        derived = _derived(path)
        if derived is not None:
            self.invalidate(derived)

    def _derived_elsewhere(self, path: str, token: str | None) -> bool:
        """Whether the entries derived from the set ``path`` that its rewrite drops (a layer's cached Grams,
        :meth:`_drop_derived`) include one computed from another copy than the one of version ``token``: a
        rewrite killed after its swap, before that drop. A write that would change nothing writes the set
        again all the same, which drops them, as the write that left them would have. One listing."""
        from ..entries.provenance import inputs  # the entries' provenance names the copy each read

        derived = _derived(path)
        return derived is not None and any(inputs(attrs).get(path) != token
                                           for attrs in self.listing(derived, attrs=True).values())
