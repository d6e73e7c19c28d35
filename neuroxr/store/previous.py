"""Rewrites on object stores keep the previous copy until the new one is complete.

An object store (S3, GCS, any fsspec URL) has no atomic rename, so a rewrite cannot be written aside
and swapped in as on a local folder (:mod:`.atomic`); the entry is written in place. Before the old
complete copy of an entry is deleted, its keys are copied (server side where the file system can)
to ``.neuroxr/previous/<id>/`` and a journal ``.neuroxr/rewrites/<quoted path>.json`` records
``{"path", "previous": id, "token", "host", "pid", "time"}``, written after the copy is whole. Then:

- the new copy is complete (its group document, carrying the completion marker, is written last):
  the journal and then the kept copy are deleted (:func:`drop`);
- the write fails (an exception in this process): the partial new copy is deleted and the kept copy
  is copied back, group document last (:func:`restore`), and the write's error says the previous
  copy is kept. When even that fails (the store is unreachable), the journal is marked abandoned
  (:func:`abandon`) where it can be, so the next writable open puts the copy back at once;
- the writer is killed: the entry is incomplete, so nothing trusts it, and the journal names the
  kept copy. :func:`recover` (run when the store is opened for writing) puts it back, with a fresh
  token, once its writer is gone: the writer ran on this host and its process is dead (a live one
  is never rolled back, however long it writes), or it ran on another host and the journal is
  older than :data:`REWRITE_EXPIRY` (a day). An entry that is complete by then (the new write
  finished) keeps the new copy and the journal is dropped. A writer whose rewrite was rolled back
  all the same finds its journal gone when it commits, and fails instead of marking a mix complete.

Recovery is for one process at a time, as writing is (one writer per store): a sweep's own process
opens the store, and so recovers, before its workers do, and a worker skips the journals of its
live fellow writers.

An input that lazily reads the entry being rewritten (``(x - x.mean()) / x.std()`` of a set read
from the store) is loaded before the old copy is moved aside (:func:`load_self_reads`, at most
:data:`SELF_READ_BYTES`; more is refused); any other lazy read of a copy moved aside or rewritten
raises when it reads (:class:`neuroxr.store._zarr.GuardedArray` checks the version token).

A first write (no complete old copy) keeps nothing, but records a journal all the same before its
first upload (:func:`begin_first`), ``{"path", "previous": null, "write": id, "host", "pid",
"time"}``: a writer killed during its upload leaves the entry's keys without a completion marker
(often without a group document), which nothing trusts but which stayed until the entry was written
again (``validate`` named the group damaged meanwhile). :func:`recover` removes them under the same rule once that writer is gone (the journal first taken
over by the recovering process, so the writer's commit fails from that moment), then the journal;
an entry complete by then just loses its journal. The guard at the commit (:func:`may_commit`, for
a first write and a rewrite uploaded in one batch) refuses on evidence only: a writer whose partial
first copy was removed all the same, or whose entry was deleted, fails instead of marking a partial
copy complete (deleting what it uploaded, :func:`drop_leftovers`); a journal replaced by another
live writer of the path lets it finish (the last document wins). A first write costs three requests more (the journal written, read at the commit,
deleted), a rewrite in one batch one (the read). Read-only callers see a first write not finished
that left keys without a group document as damage naming it (:func:`interrupted`), a group with its
document as an incomplete entry; neither has a previous copy (:func:`interrupted_attrs`). ``id`` of a kept copy is
``<host>~<pid>~<time ns>~<uuid>``, so kept copies that no journal names (a writer killed while
copying) are removed by the same rule; that of a first write ``new~<uuid>`` (:func:`is_first`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from ..errors import StoreError
from ._zarr import COMPLETE_ATTR, HIDDEN, TOKEN_ATTR, new_token, read_json, writes_digests
from .batch import delete_keys, get_many, keys_below, put_many
from .lock import _owner_alive

if TYPE_CHECKING:
    import xarray as xr

#: why a group whose rewrite was interrupted cannot be read, and what to do (one wording for every reader)
INTERRUPTED = ("its rewrite was interrupted (its writer killed, or still writing) before the new copy was complete, and "
               "the previous copy is kept aside; open the store for writing (any neuroxr command that writes, or "
               "StudyStore(url)) to put it back once that writer is gone, or wait for the writer to finish")
#: seconds after which the rewrite of a writer on another host counts as abandoned (its process
#: cannot be checked from here): long, so a slow upload is never rolled back under its writer
REWRITE_EXPIRY = 24 * 3600.0
#: most bytes of a rewrite's input that lazily reads the entry rewritten, loaded before the old copy
#: is moved aside (:func:`load_self_reads`; more is refused)
SELF_READ_BYTES = 2**30

__all__ = ["INTERRUPTED", "REWRITE_EXPIRY", "SELF_READ_BYTES", "load_self_reads", "journal_names", "may_commit", "keep", "begin_first", "is_first", "drop", "drop_leftovers", "restore", "abandon", "forget", "recover", "settle", "delete_group", "finish_deletion", "interrupted", "interrupted_attrs", "kept_at"]

_HOST = socket.gethostname()
_JOURNALS = f"{HIDDEN}/rewrites"
_KEPT = f"{HIDDEN}/previous"
#: The kept copies (and deletions) of this process's rewrites still running. A journal naming this
#: process but none of these is of a rewrite interrupted here (a Ctrl-C during its deletion of the
#: old copy or during its rollback): its writer is gone, and the next writable open puts the copy
#: back at once instead of after the process ends (the entry had vanished for a notebook's session).
_RUNNING: set[str] = set()


def settle(bid: str | None) -> None:
    """This process's rewrite that kept ``bid`` (or its deletion) runs no more (finished, or rolling back)."""
    _RUNNING.discard(bid)  # type: ignore[arg-type]


def kept_at(bid: str) -> str:
    """The store-relative prefix of the kept copy ``bid``."""
    return f"{_KEPT}/{bid}"


def _journal(path: str) -> str:
    return f"{_JOURNALS}/{quote(path, safe='')}.json"


def _copy(zstore: Any, pairs: dict[str, str]) -> None:
    """Copy every ``source key -> destination key`` concurrently: server side when the file system
    has a copy (S3's CopyObject), else read and written through this process."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    fs, root = getattr(zstore, "fs", None), getattr(zstore, "path", "").rstrip("/")
    server_side = fs is not None and hasattr(fs, "_cp_file")

    async def one(src: str, dst: str) -> None:
        if server_side:
            await fs._cp_file(f"{root}/{src}", f"{root}/{dst}")
            return
        buf = await zstore.get(src, prototype=default_buffer_prototype())
        if buf is None:
            raise FileNotFoundError(src)
        await zstore.set(dst, buf)

    async def run() -> None:
        await asyncio.gather(*(one(s, d) for s, d in pairs.items()))

    if pairs:
        sync(run())


def keep(zstore: Any, path: str, keys: list[str], token: str | None) -> str:
    """Copy the complete group ``path`` (its ``keys``, from one listing) aside, then write its journal;
    returns the id of the kept copy. Nothing at ``path`` is touched."""
    bid = f"{quote(_HOST, safe='')}~{os.getpid()}~{time.time_ns()}~{uuid.uuid4().hex}"
    _RUNNING.add(bid)
    _copy(zstore, {k: f"{kept_at(bid)}/{k[len(path) + 1:]}" for k in keys})
    rec = {"path": path, "previous": bid, "token": token, "host": _HOST, "pid": os.getpid(), "time": time.time()}
    put_many(zstore, {_journal(path): json.dumps(rec).encode()})
    return bid


def begin_first(zstore: Any, path: str, clears: str | None = None) -> str:
    """A first write of ``path`` (no complete copy to keep): write its journal, naming no kept copy,
    before anything of it is uploaded; returns the write's id (:func:`is_first`). ``clears``: the id of
    the first write whose partial copy a recovery removes under this journal (:func:`_clear_first`)."""
    wid = f"new~{uuid.uuid4().hex}"
    _RUNNING.add(wid)
    rec = {"path": path, "previous": None, "write": wid, "host": _HOST, "pid": os.getpid(), "time": time.time()}
    if clears is not None:
        rec["clears"] = clears
    put_many(zstore, {_journal(path): json.dumps(rec).encode()})
    return wid


def is_first(bid: str) -> bool:
    """Whether ``bid`` is the id of a first write (:func:`begin_first`), not of a kept copy."""
    return bid.startswith("new~")


def drop(zstore: Any, path: str, bid: str) -> None:
    """The rewrite of ``path`` is complete (or superseded): delete its journal, then the kept copy (a
    first write has none)."""
    delete_keys(zstore, [_journal(path)])
    if not is_first(bid):
        forget_copy(zstore, bid)
    settle(bid)


def forget_copy(zstore: Any, bid: str) -> None:
    """Delete the kept copy ``bid``."""
    delete_keys(zstore, keys_below(zstore, kept_at(bid)))


def forget(zstore: Any, path: str) -> None:
    """Delete the journals of ``path`` and of the entries below it (the group is being deleted on
    purpose, e.g. ``cache/gram/<model>/<layer>``: a kept copy below it must not be put back); their
    kept copies become orphans, removed by a later :func:`recover`. One listing of the journals and
    one batch of deletions."""
    below = [k for k in keys_below(zstore, _JOURNALS)
             if unquote(k[len(_JOURNALS) + 1:]).removesuffix(".json").startswith(f"{path}/")]
    delete_keys(zstore, [_journal(path), *below])


def restore(zstore: Any, path: str, bid: str) -> str | None:
    """Put the kept copy ``bid`` back as ``path``, then :func:`drop` it; returns the restored copy's
    token, a fresh one (a lazy reader that read during the rewrite sees the token change).

    Nothing of the old copy is deleted before it is whole at ``path``: the entry's group document
    is deleted first (a new copy may be marked complete already, when what followed its marker
    failed: a copy half put back must not pass for it), the kept keys are copied over the entry's
    (data first), then the keys only the new copy had are deleted, and the group document,
    carrying the completion marker and the token, is written last. A kept copy that is
    already gone (another process restored it) raises ``FileNotFoundError`` with nothing touched;
    an interruption is safe to repeat."""
    prefix = kept_at(bid)
    kept = keys_below(zstore, prefix)
    doc_key = f"{prefix}/zarr.json"
    doc = read_json(zstore, doc_key) if doc_key in kept else None
    if not doc:
        raise FileNotFoundError(doc_key)
    current = keys_below(zstore, path)
    rel = {k[len(prefix) + 1 :] for k in kept}
    if f"{path}/zarr.json" in current:  # a new copy marked complete: unmarked first, so an interrupted restore
        delete_keys(zstore, [f"{path}/zarr.json"])  # leaves an incomplete entry (restored again), never a mix
    _copy(zstore, {k: f"{path}/{k[len(prefix) + 1:]}" for k in kept if k != doc_key})
    delete_keys(zstore, [k for k in current if k[len(path) + 1 :] not in rel])
    attrs = doc.setdefault("attributes", {})
    token = attrs[TOKEN_ATTR] = new_token(writes_digests(attrs))  # says what the kept copy's writer recorded
    put_many(zstore, {f"{path}/zarr.json": json.dumps(doc).encode()})
    drop(zstore, path, bid)
    return token


def abandon(zstore: Any, path: str) -> None:
    """Mark the journal of ``path`` abandoned: its writer gave up, so :func:`recover` need not wait."""
    rec = read_json(zstore, _journal(path))
    if rec:
        put_many(zstore, {_journal(path): json.dumps({**rec, "abandoned": True}).encode()})


def journal_names(zstore: Any, path: str, bid: str) -> bool:
    """Whether the journal of ``path`` still names the kept copy ``bid`` (a rewrite not rolled back),
    or the first write ``bid`` (its partial copy not removed)."""
    rec = read_json(zstore, _journal(path))
    return bool(rec) and (rec.get("write") if is_first(bid) else rec.get("previous")) == bid


def may_commit(zstore: Any, path: str, bid: str) -> bool:
    """Whether the write ``bid`` of ``path`` (a first write, or a rewrite uploaded in one batch), its keys
    all uploaded, may write its group document: its journal names it, or another write's journal has
    replaced it (two writers of one path: the last document wins, as before journals), or another writer
    completed the entry meanwhile; not when a recovery took it for gone (a journal clearing it), a
    deletion is journaled there, or the journal is gone and the entry incomplete (its partial copy
    removed, or the entry deleted meanwhile). A strict guard would leave this writer's keys, uploaded
    over another writer's complete copy, under that writer's document."""
    rec = read_json(zstore, _journal(path))
    if isinstance(rec, dict):
        if (rec.get("write") if is_first(bid) else rec.get("previous")) == bid:
            return True
        return rec.get("clears") != bid and not isinstance(rec.get("delete"), str)
    return _complete(zstore, path)


def drop_leftovers(zstore: Any, path: str) -> None:
    """A first write of ``path`` found at its commit that its journal no longer names it (a recovery
    removed its partial copy, or the entry was deleted): delete what it uploaded since, unless another
    write has begun there since (its journal) or the entry is complete."""
    if read_json(zstore, _journal(path)) is None and not _complete(zstore, path):
        delete_keys(zstore, keys_below(zstore, path), first=f"{path}/zarr.json")


def _record(raw: bytes | None) -> dict[str, Any] | None:
    """A journal document as a record of a rewrite (``previous``), a first write (``write``) or a deletion
    (``delete``); else ``None``."""
    try:
        rec = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    ok = isinstance(rec, dict) and any(isinstance(rec.get(k), str) for k in ("previous", "write", "delete"))
    return rec if ok else None


def _records(zstore: Any) -> dict[str, dict[str, Any]]:
    """``{path: journal record}`` of every rewrite, first write and deletion not finished: one listing
    and one concurrent batch of reads."""
    keys = [k for k in keys_below(zstore, _JOURNALS) if k.endswith(".json")]
    found = {unquote(k[len(_JOURNALS) + 1 : -len(".json")]): _record(raw) for k, raw in get_many(zstore, keys).items()}
    return {p: rec for p, rec in found.items() if rec is not None}


def _journals(zstore: Any, records: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``{path: journal record}`` of every rewrite not finished."""
    return {p: r for p, r in (_records(zstore) if records is None else records).items() if isinstance(r.get("previous"), str)}


def delete_group(zstore: Any, path: str) -> bool:
    """Delete the group ``path`` and everything below it, its document first; returns whether anything
    was there. Journaled: a writer killed or interrupted part-way (the group's document gone, entries
    below it still whole: damage no command would mend) leaves a record that :func:`recover` finishes
    once that writer is gone and :func:`interrupted` names."""
    keys = keys_below(zstore, path)
    if not keys:
        return False
    did = f"delete~{uuid.uuid4().hex}"
    _RUNNING.add(did)
    try:
        rec = {"path": path, "delete": did, "host": _HOST, "pid": os.getpid(), "time": time.time()}
        put_many(zstore, {_journal(path): json.dumps(rec).encode()})
        _delete_journaled(zstore, path, keys)
    finally:
        settle(did)
    return True


def finish_deletion(zstore: Any, path: str) -> None:
    """Finish the journaled deletion of ``path`` when its writer is gone (this process: a deletion
    interrupted here, which runs no more). Before anything is written at, above or below ``path``:
    left for a later writable open, the deletion would take that write with it."""
    _finish_if_gone(zstore, path, read_json(zstore, _journal(path)) or {}, time.time(), REWRITE_EXPIRY)


def _finish_if_gone(zstore: Any, path: str, rec: dict[str, Any], now: float, expiry: float) -> None:
    """Finish the deletion journaled in ``rec`` (a journal record of ``path``) when its writer is gone."""
    if isinstance(rec.get("delete"), str) and _writer_gone(rec.get("host"), rec.get("pid"), float(rec.get("time", 0)),
                                                           now, expiry, rec["delete"]):
        _delete_journaled(zstore, path, keys_below(zstore, path))


def _delete_journaled(zstore: Any, path: str, keys: list[str]) -> None:
    """Delete the group ``path``'s ``keys``, its document first, then its deletion's journal."""
    delete_keys(zstore, keys, first=f"{path}/zarr.json")
    delete_keys(zstore, [_journal(path)])


def _writer_gone(host: str, pid: Any, started: float, now: float, expiry: float, bid: str) -> bool:
    """A writer on this host is gone when its process is (never while it runs, however long), or,
    this process, when its rewrite keeping ``bid`` runs no more (:data:`_RUNNING`); one on another
    host when its journal is older than ``expiry``."""
    if host == _HOST and pid == os.getpid():
        return bid not in _RUNNING
    if host == _HOST:
        return not _owner_alive({"host": host, "pid": pid})
    return now - started > expiry


def _complete(zstore: Any, path: str) -> bool:
    doc = read_json(zstore, f"{path}/zarr.json")
    return bool(doc and doc.get("attributes", {}).get(COMPLETE_ATTR, False))


def _clear_first(zstore: Any, path: str, rec: dict[str, Any]) -> None:
    """The first write journaled in ``rec`` has no writer any more: a complete entry loses the journal;
    the keys of an incomplete one are deleted (its document first), then the journal. The journal is
    first taken over by this process (its writer's commit fails from then on; this process killed
    part-way, the next recovery finishes once it is gone)."""
    if _complete(zstore, path):
        delete_keys(zstore, [_journal(path)])
        return
    if read_json(zstore, _journal(path)) != rec:  # finished or taken over by another process meanwhile
        return
    wid = begin_first(zstore, path, clears=rec["write"])
    try:
        delete_keys(zstore, keys_below(zstore, path), first=f"{path}/zarr.json")
        delete_keys(zstore, [_journal(path)])
    finally:
        settle(wid)


def recover(zstore: Any, expiry: float = REWRITE_EXPIRY, now: float | None = None) -> dict[str, str | None]:
    """Finish the rewrites whose writers are gone: an incomplete entry gets its kept copy back, a
    complete one (the new write finished) keeps the new copy; kept copies no journal names are
    removed once their writers are gone. The partial copy of a first write whose writer is gone is
    removed (:func:`_clear_first`). Returns ``{path: token}`` of the restored entries."""
    now = time.time() if now is None else now
    restored: dict[str, str | None] = {}
    records = _records(zstore)
    for path, rec in records.items():  # deletions of writers gone: finished
        _finish_if_gone(zstore, path, rec, now, expiry)
    for path, rec in records.items():  # first writes of writers gone: their partial copies removed
        if isinstance(rec.get("write"), str) and not isinstance(rec.get("previous"), str) and (
                rec.get("abandoned") or _writer_gone(rec.get("host"), rec.get("pid"), float(rec.get("time", 0)), now,
                                                     expiry, rec["write"])):
            _clear_first(zstore, path, rec)
    journals = _journals(zstore, records)
    named = {rec["previous"] for rec in journals.values()}
    for path, rec in journals.items():
        if not rec.get("abandoned") and not _writer_gone(rec.get("host"), rec.get("pid"), float(rec.get("time", 0)), now,
                                                         expiry, rec["previous"]):
            continue
        if _complete(zstore, path):
            drop(zstore, path, rec["previous"])
        elif read_json(zstore, _journal(path)) == rec:  # not finished by another process meanwhile
            try:
                restored[path] = restore(zstore, path, rec["previous"])
            except FileNotFoundError:  # another process restored it first: nothing was touched
                continue
    orphans = {k[len(_KEPT) + 1 :].split("/", 1)[0] for k in keys_below(zstore, _KEPT)} - named
    for bid in orphans:
        parts = bid.split("~")
        if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit() and _writer_gone(
            unquote(parts[0]), int(parts[1]), int(parts[2]) / 1e9, now, expiry, bid
        ):
            forget_copy(zstore, bid)
    return restored


def interrupted(zstore: Any) -> list[tuple[str, str]]:
    """Rewrites whose entry is not complete, deletions not finished and first writes not finished that
    left keys without a group document (a first write's group with its document is an incomplete
    entry, listed as such), as ``(path, problem)`` for the integrity report."""
    out = []
    for path, rec in _records(zstore).items():
        if isinstance(rec.get("delete"), str):
            out.append((path, "its deletion was interrupted; it is finished when the store is opened for writing once "
                              "that writer is gone (its process, on its host; from another host a day after it began)"))
        elif not isinstance(rec.get("previous"), str):
            if read_json(zstore, f"{path}/zarr.json") is None and keys_below(zstore, path):
                out.append((path, "its first write did not finish (its writer was killed, or still runs); nothing "
                                  "trusts the keys it uploaded, which are removed when the store is opened for writing "
                                  "once that writer is gone (its process, on its host; from another host a day after "
                                  "it began)"))
        elif not _complete(zstore, path):
            out.append((path, f"a rewrite of it was interrupted; its previous complete copy is kept in "
                              f"{kept_at(rec['previous'])} and is put back when the store is opened for writing "
                              f"once that writer is gone (its process, on its host; from another host a day after "
                              f"it began)"))
    return out


def interrupted_attrs(zstore: Any, paths: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{path: attributes of the kept copy}`` (``{}`` when its document cannot be read) of the
    rewrites whose entry is not complete: what each entry was before (a first write not finished had
    no previous copy: not listed). ``paths``: the entries to look at (one batch of journal reads),
    ``None``: every journal (a listing)."""
    if paths is None:
        journals = _journals(zstore)
    else:
        raws = get_many(zstore, [_journal(p) for p in paths]).values()
        journals = _journals(zstore, {p: rec for p, raw in zip(paths, raws) if (rec := _record(raw)) is not None})
    out = {}
    for path, rec in journals.items():
        if not _complete(zstore, path):
            doc = read_json(zstore, f"{kept_at(rec['previous'])}/zarr.json")
            out[path] = dict((doc or {}).get("attributes") or {})
    return out


def _reads_group(data: Any, path: str) -> bool:
    """Whether the dask array ``data`` reads the group ``path`` of a store (its graph holds a layer of
    :meth:`neuroxr.store.StudyStore.read_dataset`, named ``neuroxr-<path>/<variable>-<token>``)."""
    if not hasattr(data, "__dask_graph__"):
        return False
    graph = data.__dask_graph__()
    names = graph.layers if hasattr(graph, "layers") else {k[0] if isinstance(k, tuple) else k for k in graph}
    return any(str(n).startswith(f"neuroxr-{path}/") for n in names)


def load_self_reads(url: str, path: str, ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its variables that lazily read the group ``path`` itself loaded (at most
    :data:`SELF_READ_BYTES` in all; more is refused with a one-line :class:`StoreError`): a rewrite
    in place moves the old copy aside before it writes, and the lazy read would find it gone."""
    lazy = [n for n, v in ds.variables.items() if _reads_group(v.data, path)]
    nbytes = sum(ds[n].nbytes for n in lazy)
    if nbytes > SELF_READ_BYTES:
        raise StoreError(
            f"store {url!r}: cannot write {path!r} from a lazy read of itself ({nbytes / 2**20:.0f} MiB, more than "
            f"SELF_READ_BYTES = {SELF_READ_BYTES // 2**20} MiB to load first): on an object store its old copy is "
            f"moved aside before the new one is written; write the result under another name first, or load it "
            f"(.load()); nothing was written.")
    for name in lazy:
        ds[name] = ds[name].load()
    return ds
