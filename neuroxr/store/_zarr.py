"""Zarr and URL helpers of the study store: attribute names, name checks, key listing.

Nothing here knows the layout of entries; it only knows Zarr v3 stores (local folders and fsspec
URLs), the JSON attributes neuroxr writes, and how to list and read raw keys.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import StoreError

#: group attribute that marks a finished write (written last)
COMPLETE_ATTR = "neuroxr_complete"
#: version token of a completed group (a fresh uuid4 per completed write, :func:`new_token`)
TOKEN_ATTR = "neuroxr_token"
#: end of the version token of a group whose writer records the digests (:data:`DIGEST_ATTR`,
#: :data:`MARKS_ATTR`, :data:`ARRAYS_ATTR`): such a group lacking one was edited, never written by an
#: older neuroxr
DIGESTS_MARK = "-d"
#: arrays of a completed group, recorded when it is marked complete (the integrity scan checks them)
VARS_ATTR = "neuroxr_vars"
#: chunks that were legitimately absent (all fill value) when the group was marked complete
ABSENT_ATTR = "neuroxr_absent_chunks"
#: digest of the other attrs of a completed group (:func:`attrs_digest`, written with the completion
#: marker): an attr edited after the write (a Gram's ``max_abs``) no longer matches it
DIGEST_ATTR = "neuroxr_attrs_digest"
#: digest of the completion records (:func:`marks_digest`), written in the same update as the
#: completion flag: an array list or absent-chunk list edited after the write no longer matches it
MARKS_ATTR = "neuroxr_marks_digest"
#: digest of the metadata documents of a completed group's arrays (:func:`arrays_digest`, written with
#: the completion marker): their data type, fill value, codecs, shape, chunks and attrs (xarray decodes
#: ``scale_factor``, ``add_offset``, ``_FillValue``) say how chunks read as values, so one edited after
#: the write would change the values read
ARRAYS_ATTR = "neuroxr_arrays_digest"
#: attrs the store owns: never copied from a dataset being written, never returned by a read
STORE_ATTRS = (COMPLETE_ATTR, TOKEN_ATTR, VARS_ATTR, ABSENT_ATTR, DIGEST_ATTR, MARKS_ATTR, ARRAYS_ATTR)
#: the attrs :func:`marks_digest` covers (the attrs digest too: deleting it is an edit; and
#: :data:`ARRAYS_ATTR` where recorded); not the token, which a restore of a kept previous copy renews
#: (``previous.restore``)
MARKED_ATTRS = (VARS_ATTR, ABSENT_ATTR, DIGEST_ATTR)
STORE_VERSION_ATTR = "neuroxr_store_version"
STORE_VERSION = 1
DATA_VAR = "data"
#: hidden folder of a local store: staging groups, swap journals, locks (never part of the hierarchy)
HIDDEN = ".neuroxr"
#: seconds a reader waits for a rewrite in progress (another writer's) before giving up on a group
SWAP_WAIT = 10.0
#: A name of a neural set, model, layer, direction, score source or target: starts with a letter or
#: digit, then letters, digits, '.', '-' and single '_' (no '__', which separates source and
#: target, and no trailing '_'). The same pattern is in ``schemas/store.schema.json``.
NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]|_(?=[A-Za-z0-9.\-]))*$"
_NAME_RE = re.compile(NAME_PATTERN)
#: the region name of a whole neural set (sweeps, reports: ``neuroxr.sweep.ALL_REGIONS``), which no
#: value of a set's ``region`` coord may be
WHOLE_SET = "all"
#: top-level groups of a study store
TOP_GROUPS = ("neural", "features", "scores", "metrics", "cache", "inference")

# zarr warns about every folder without zarr.json when it lists a group; ours is hidden on purpose
warnings.filterwarnings("ignore", message=rf"Object at {re.escape(HIDDEN)} is not recognized", module="zarr")
# entries written in one batch carry their arrays' metadata in their group document (zarr's
# consolidated metadata, which zarr flags as outside the v3 specification)
warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")


def is_set(path: str) -> bool:
    """Whether ``path`` is where a set lies: ``neural/<name>`` or ``features/<model>/<layer>``."""
    parts = path.split("/")
    return (parts[0], len(parts)) in (("neural", 2), ("features", 3))


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str):  # never the repr of an array given in its place (many lines)
        raise StoreError(f"invalid {what} name: expected a str; got {type(value).__name__}. Pass the {what} name as text, "
                         "e.g. 'conv3_1' or 'layer4.0' (check the order of the arguments).")
    if not _NAME_RE.match(value):
        raise StoreError(
            f"invalid {what} name {value!r}: use letters, digits, '.', '-' and single '_' "
            f"(start with a letter or digit; no '/', no '__', no trailing '_'), e.g. 'conv3_1' or 'layer4.0'."
        )
    return value


#: the most bytes of one file name on most file systems (ext4, XFS, Btrfs, APFS; NTFS counts UTF-16 units)
NAME_MAX = 255
#: what the longest file name a local store makes of a group's path adds to the path quoted ('/' as '%2F'): the
#: removal marker of its lock, ``<quoted path>.lock.ino-<inode>-<mtime ns>.<n>.rm`` (:mod:`neuroxr.store.lock`);
#: its swap journal and their temporary copies are shorter
PATH_NAME_EXTRA = len(".lock.ino-") + 20 + len("-") + 19 + len(".99.rm")


def path_excess(path: str) -> int:
    """How many bytes the longest file name a store makes of the group ``path`` (its lock's removal marker) is
    over :data:`NAME_MAX`; 0 where it fits. Every store keeps the limit of a local one: a store copies between a
    folder and an object store, and an entry key is the same in both."""
    from urllib.parse import quote

    return max(0, len(quote(path, safe="").encode()) + PATH_NAME_EXTRA - NAME_MAX)


def long_name(name: str) -> str:
    """A name of a message, cut to its first 24 characters (with its length) when it is longer than 40."""
    return repr(name) if len(name) <= 40 else f"{name[:24]!r}... ({len(name)} characters)"


#: the names of Zarr's metadata documents (format 3's, and format 2's), never a group's
_ZARR_DOCS = ("zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata")


def check_group_path(url: str, path: Any, caller: str) -> str:
    """``path``, refused in one line unless it names a group inside the store: its parts joined by single
    '/', none of them '', '.' or '..', and not the store's hidden folder. A local store joins the parts
    to its folder, so ``'../x'`` would be a folder beside the store (``invalidate`` deleted it) and
    ``''`` the store itself. Nor a Zarr metadata document (``'zarr.json'``: the root's was deleted or
    replaced, and the store gone), a hidden name, or a path inside a set (``'neural/<name>/data'``, its
    array: the set damaged)."""
    parts = path.split("/") if isinstance(path, str) else [""]
    if any(p in ("", ".", "..") for p in parts) or parts[0] == HIDDEN:
        raise StoreError(f"store {url!r}: {caller}: path {path!r} names no group of the store; give the group's "
                         f"parts joined by single '/' (e.g. 'neural/<name>', 'features/<model>/<layer>'), without "
                         f"'.' or '..' parts or a leading or trailing '/'.")
    why, fix = None, "give the path of a group (e.g. 'neural/<name>', 'features/<model>/<layer>')"
    doc = next((p for p in parts if p in _ZARR_DOCS), None)
    hidden = next((p for p in parts if p.startswith(".")), None)
    within = next((n for n in (2, 3) if parts[0] == ("neural", "features")[n - 2] and len(parts) > n), None)
    if doc is not None:  # the root's: the store is gone; a group's: Zarr no longer lists it
        why = f"{doc!r} is a Zarr metadata document"
    elif hidden is not None:  # Zarr format 2's documents, the store's own folder
        why = f"{hidden!r} is a hidden name"
    elif within is not None:  # its array, a chunk folder: part of the set deleted or replaced (a damaged set)
        why, fix = f"it lies inside the set {'/'.join(parts[:within])!r}", f"give the set's own path {'/'.join(parts[:within])!r}"
    if why is not None:
        raise StoreError(f"store {url!r}: {caller}: path {path!r} names no group of the store: {why}; {fix}.")
    return path


#: per top-level group, how deep its groups hold several sets or entries (a model's layers, a kind's pairs, a model's Grams)
_GROUPS_DEPTH = {"features": 2, "scores": 2, "metrics": 2, "inference": 2, "cache": 3}
_ENTRY_EXAMPLE = {"neural": "neural/<name>", "features": "features/<model>/<layer>", "cache": "cache/gram/<model>/<layer>/<key>"}


def check_entry_path(url: str, path: Any, caller: str) -> str:
    """:func:`check_group_path`, and not a group that holds sets or entries (a top-level group, a model's
    ``features/<model>``, a kind's ``scores/<kind>``, ``cache/gram/<model>``): written as one entry, it replaced
    every set or entry below it without a word. :meth:`~neuroxr.store.StudyStore.invalidate` deletes such a group."""
    parts = check_group_path(url, path, caller).split("/")
    if len(parts) == 1 or len(parts) <= _GROUPS_DEPTH.get(parts[0], 0):
        what = "sets" if parts[0] in ("neural", "features") else "entries"
        example = _ENTRY_EXAMPLE.get(parts[0], f"{parts[0]}/<kind>/<source>__<target>/<key>")
        raise StoreError(f"store {url!r}: {caller}: path {path!r} names no entry of the store: it holds the {parts[0]} "
                         f"group's {what}, which the write would replace; give the path of one (e.g. {example!r}), or "
                         "delete the group with invalidate.")
    return path


def _check_region(value: Any, neural: str) -> str:
    """A region value of the neural set ``neural``, refused unless it is a valid name: a region names
    the set ``<neural>.<region>`` and so entry paths (a '/' would split them, a '__' would read as
    the source/target separator), and never :data:`WHOLE_SET`, the whole set's region name."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise StoreError(
            f"invalid region {value!r} of neural set {neural!r}: a region names the set '{neural}.<region>' and "
            f"its entries, so use letters, digits, '.', '-' and single '_' (start with a letter or digit; no '/', "
            f"no '__', no trailing '_'), e.g. 'V1-V2'; rename it in the 'region' coord and write the set again."
        )
    if value == WHOLE_SET:
        raise StoreError(
            f"region {value!r} of neural set {neural!r}: {WHOLE_SET!r} is the region name of the whole set (a sweep's "
            f"regions, a report's rows), so the neuroids of this region would be read as all of {neural!r}'s; rename it in "
            f"the 'region' coord (e.g. '{value}-areas') and write the set again."
        )
    return value


def _jsonable(value: Any) -> Any:
    """Turn attrs into what Zarr's JSON attributes accept (numpy scalars, tuples, None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def unstorable(value: Any, where: str) -> str | None:
    """Where in the attr ``value`` (named ``where``) lies a value that JSON attributes hold only as its
    text (a function, an arbitrary object, a set, a date), with its type: ``"attrs['x'][0] (of type set)"``;
    ``None`` where every value is a string, number, bool, None, list, tuple, array or mapping of them."""
    if isinstance(value, Mapping):
        return next((w for k, v in value.items() if (w := unstorable(v, f"{where}[{k!r}]"))), None)
    if isinstance(value, (list, tuple)) or isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return next((w for i, v in enumerate(value) if (w := unstorable(v, f"{where}[{i}]"))), None)
    if value is None or isinstance(value, (str, int, float, bool, np.bool_, np.number, np.str_)) or (
            isinstance(value, np.ndarray) and value.dtype.kind in "biufU"):
        return None
    return f"{where} (of type {type(value).__name__})"


def short_hash(body: Any, default: Any = None) -> str:
    """The first 16 hex digits of the SHA-256 of the canonical JSON of ``body`` (sorted keys, no
    spaces, non-finite floats as ``NaN``/``Infinity``): the one formula of provenance keys
    (:func:`neuroxr.entries.provenance.key`) and of the store's digests. ``default``: as in
    :func:`json.dumps` (``None``: a value JSON cannot hold raises ``TypeError``)."""
    import hashlib

    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True, default=default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_token(digests: bool = True) -> str:
    """A fresh version token (a uuid4), ending in :data:`DIGESTS_MARK` when the group it marks
    records the digests (every group this neuroxr completes; a restored copy of a group written
    by an older neuroxr keeps saying it does not)."""
    return uuid.uuid4().hex + (DIGESTS_MARK if digests else "")


def writes_digests(attrs: Mapping[str, Any]) -> bool:
    """Whether a group's own version token says its writer recorded the digests (:func:`new_token`)."""
    return str(attrs.get(TOKEN_ATTR) or "").endswith(DIGESTS_MARK)


def attrs_digest(attrs: Mapping[str, Any]) -> str:
    """The short hash (16 hex digits) of the canonical JSON of a group's attrs, those the store owns
    (:data:`STORE_ATTRS`) left out. Written attrs and attrs read back hash alike (JSON round trip)."""
    return short_hash({k: v for k, v in attrs.items() if k not in STORE_ATTRS}, default=str)


def marks_digest(attrs: Mapping[str, Any]) -> str:
    """The short hash of a group's completion records (:data:`MARKED_ATTRS`: its arrays, the chunks
    absent at completion, its attrs digest; one missing hashes as ``None``; and its arrays' digest
    where recorded, so groups completed before it hash as they did)."""
    body = {k: attrs.get(k) for k in MARKED_ATTRS}
    if ARRAYS_ATTR in attrs:
        body[ARRAYS_ATTR] = attrs[ARRAYS_ATTR]
    return short_hash(body, default=str)


def arrays_digest(metas: Mapping[str, Mapping[str, Any]]) -> str:
    """The short hash of the metadata documents of a group's arrays, ``{name: document as stored}``,
    whole (every key: data type, fill value, codecs, shape, chunk grid, dimension names, attrs).
    Nothing rewrites an array's document once its group is complete, and the copy a batch write
    consolidates into the group document (:func:`neuroxr.store.batch.stage`) equals it key for key,
    so the stored document, read back from either place, hashes as it did when the group was marked."""
    return short_hash({str(n): dict(m) for n, m in metas.items()}, default=str)


def arrays_edited(attrs: Mapping[str, Any], metas: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the metadata documents of a complete group's arrays (``metas``: as readers read them)
    were edited after the write: they do not hash to :data:`ARRAYS_ATTR`, or that digest is gone
    while the group's token says its writer recorded it. A group completed before (no digest, a token
    without the mark) cannot tell: ``False``."""
    digest = attrs.get(ARRAYS_ATTR)
    if digest is None:
        return writes_digests(attrs)
    return digest != arrays_digest(metas)


def marks_edited(attrs: Mapping[str, Any]) -> bool:
    """Whether a complete group's completion records (its arrays ``neuroxr_vars``, absent chunks
    ``neuroxr_absent_chunks``) were edited after the write: they do not hash to :data:`MARKS_ATTR`,
    or that digest is gone while the group's token says its writer recorded it (:func:`writes_digests`).
    A group completed by an older neuroxr (no such digest, a token without the mark) cannot tell: ``False``."""
    digest = attrs.get(MARKS_ATTR)
    if digest is None:
        return writes_digests(attrs)
    return digest != marks_digest(attrs)


def attrs_edited(attrs: Mapping[str, Any]) -> bool:
    """Whether a group's attrs were edited after the write: they do not hash to the digest recorded
    then (:data:`DIGEST_ATTR`), or that digest is gone while the group's token says its writer
    recorded it (:func:`writes_digests`). A group written without one by an older neuroxr cannot
    tell: ``False``."""
    digest = attrs.get(DIGEST_ATTR)
    if digest is None:
        return writes_digests(attrs)
    return digest != attrs_digest(attrs)


def chunk_codecs() -> tuple[Any, ...]:
    """The compressors of every array the store writes: zstd with its content checksum (xxhash64), so
    a chunk whose bytes changed on disk (bit rot, a partial overwrite) fails to decode instead of
    reading as other numbers. Arrays written before carry no checksum."""
    from zarr.codecs import ZstdCodec

    return (ZstdCodec(level=0, checksum=True),)


def checksummed(encoding: Mapping[str, Mapping[str, Any]] | None, names: Any) -> dict[str, dict[str, Any]]:
    """``encoding`` with :func:`chunk_codecs` for every variable of ``names`` that names no compressor."""
    out = {str(k): dict(v) for k, v in (encoding or {}).items()}
    for name in names:
        enc = out.setdefault(str(name), {})
        if "compressors" not in enc and "compressor" not in enc:
            enc["compressors"] = chunk_codecs()
    return out


def local_root(url: str) -> str | None:
    """The folder of a local store (plain path or ``file://`` URL, ``~`` expanded as a shell does); ``None``
    for other fsspec URLs."""
    if url.startswith("file://"):
        return os.path.abspath(os.path.expanduser(url[len("file://") :]))
    if "://" not in url:
        return os.path.abspath(os.path.expanduser(url))
    return None


def local_writable(url: str) -> bool:
    """Whether this user can write entries to the local store at ``url`` (its folders where every write
    stages, locks and records its data); ``True`` for a remote store (its writes say why they fail)."""
    root = local_root(url)
    if root is None:
        return True
    for sub in ("staging", "locks", "inventory"):
        path = os.path.join(root, HIDDEN, sub)
        while not os.path.exists(path) and os.path.dirname(path) != path:  # made in the nearest existing folder
            path = os.path.dirname(path)
        if not os.access(path, os.W_OK):
            return False
    return True


def _one_request_store() -> type:
    """``FsspecStore`` whose whole-object reads are one request: s3fs answers a plain read with a
    size request (HEAD) and then the read (GET); a read from offset 0 is a single ranged GET."""
    from zarr.abc.store import OffsetByteRequest
    from zarr.storage import FsspecStore

    class OneRequestStore(FsspecStore):
        async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
            return await super().get(key, prototype, OffsetByteRequest(0) if byte_range is None else byte_range)

    return OneRequestStore


_STORE_CLASS: list[type] = []


def zarr_store(url: str, read_only: bool, storage_options: Mapping[str, Any] | None) -> Any:
    """A Zarr store for a local path, a ``file://`` URL or any other fsspec URL."""
    from zarr.storage import LocalStore

    root = local_root(url)
    if root is not None:
        return LocalStore(root, read_only=read_only)
    if not _STORE_CLASS:
        _STORE_CLASS.append(_one_request_store())
    return _STORE_CLASS[0].from_url(url, storage_options=dict(storage_options or {}), read_only=read_only)


def list_keys(zstore: Any, prefix: str = "") -> list[str]:
    """Every key below ``prefix`` (``""``: the whole store), the hidden folder excluded (unless
    ``prefix`` lies in it)."""
    from zarr.core.sync import sync

    async def collect() -> list[str]:
        return [k async for k in (zstore.list_prefix(prefix) if prefix else zstore.list())]

    hidden = prefix.startswith(HIDDEN + "/")
    return sorted(k for k in sync(collect()) if hidden or not k.startswith(HIDDEN + "/"))


def read_key(zstore: Any, key: str) -> bytes | None:
    """The bytes stored under ``key``, or ``None`` when it is absent."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    buf = sync(zstore.get(key, prototype=default_buffer_prototype()))
    return None if buf is None else buf.to_bytes()


def read_json(zstore: Any, key: str) -> dict[str, Any] | None:
    """The JSON document under ``key``: ``None`` when absent, ``{}`` when it is not a JSON object."""
    return parse_json(read_key(zstore, key))


def parse_json(raw: bytes | None) -> dict[str, Any] | None:
    """A document's bytes as :func:`read_json` reads them: ``None`` when absent (``raw`` is None),
    ``{}`` when they are not a JSON object."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def os_message(exc: BaseException) -> str:
    """A short reason for an OS-level failure (full disk, permissions ...)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno == errno.ENOSPC:
            return "no space left on device; free space and run again"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "permission denied (the store is read-only for this user); open it with mode='r' or fix its permissions"
        return f"{os.strerror(exc.errno).lower()} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def unreachable_message(url: str, storage_options: Mapping[str, Any] | None, exc: BaseException) -> str:
    """One line for an object store that cannot be reached: no connection to the endpoint, no
    credentials, ... (a ``botocore`` / ``aiohttp`` / ``google`` exception)."""
    so = dict(storage_options or {})
    endpoint = so.get("endpoint_url") or (so.get("client_kwargs") or {}).get("endpoint_url")
    at = f" at the endpoint {endpoint}" if endpoint else ""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    return (f"cannot reach the object store of {url!r}{at} ({reason}); check the endpoint URL (storage option "
            "endpoint_url, -S endpoint_url=... on the command line), that the service is running and reachable, "
            "and the credentials (key/secret, anon=true, a storage profile or the provider's environment).")


def folder_id(folder: str) -> tuple[int, int] | None:
    """Which folder lies at ``folder`` now, ``(inode, ctime)``; ``None`` when none does. A swap
    renames another folder into place, so a read that began and ended with one identity read one copy."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_ino, st.st_ctime_ns


class GuardedArray:
    """Array-like view of one stored variable whose read failures name the entry (for dask).

    ``lost``: block indices of chunks missing from the store (Zarr would read them as the fill
    value), of chunk shape ``chunks``; a read that touches one raises :class:`StoreError` ending in
    ``fix``. ``token``: the version token of the group when it was opened; with ``zstore`` and
    ``locs`` (where its metadata document lies: the first of them that exists), every read then
    reads the document again *after* the chunks and raises when the token changed or the group is
    gone: the chunks may be another version's (read under this one's coords) or, for a copy deleted
    by a rewrite on an object store, fill values. ``same_key``: the group is an entry, whose path is
    its provenance key, so another complete copy of it holds the same numbers: a read that met a
    rewrite is read again from the new copy (waiting up to :data:`SWAP_WAIT` s while the group is
    absent: between the two renames of a local swap, or during an object store's rewrite) and
    confirmed by its token, instead of raising; a rewrite still unfinished then raises, asking to read
    again. ``folder`` (an entry of a local store, in place of ``token``): the same, with the identity
    of the entry's folder (:func:`folder_id`, taken before and after the read) in place of a read of
    its document. Picklable (no store object held).
    """

    def __init__(self, var: xr.Variable, where: str, lost: Any = (), chunks: Any = None, fix: str = "",
                 token: str | None = None, zstore: Any = None, locs: tuple[str, ...] = (),
                 same_key: bool = False, folder: str | None = None) -> None:
        self.var, self.where, self.same_key, self.folder = var, where, same_key, folder
        self.shape, self.dtype, self.ndim = var.shape, var.dtype, var.ndim
        self.lost, self.chunks, self.fix = set(lost), tuple(chunks or var.shape), fix
        self.token, self.zstore, self.locs = token, zstore, tuple(locs)

    def _token_now(self) -> str | None:
        """The version token of the complete group now (``None``: absent or incomplete)."""
        doc = None
        for loc in self.locs:
            doc = read_json(self.zstore, f"{loc}/zarr.json")
            if doc is not None:
                break
        attrs = (doc or {}).get("attributes", {})
        return str(attrs[TOKEN_ATTR]) if attrs.get(COMPLETE_ATTR) and attrs.get(TOKEN_ATTR) else None

    def _lost_in(self, key: Any) -> tuple[int, ...] | None:
        """The first lost block that ``key`` (slices or integers per dimension) reads, else ``None``."""
        key = key if isinstance(key, tuple) else (key,)
        spans = []
        for d, (n, c) in enumerate(zip(self.shape, self.chunks)):
            k = key[d] if d < len(key) else slice(None)
            c = max(int(c), 1)
            if isinstance(k, slice) and (k.step is None or k.step > 0):
                start, stop, _ = k.indices(n)
                if stop <= start:
                    return None
                spans.append((start // c, (stop - 1) // c))
            elif isinstance(k, (int, np.integer)):
                spans.append(((int(k) % n) // c, (int(k) % n) // c))
            else:  # anything else: every block of this dimension
                spans.append((0, max(n - 1, 0) // c))
        return next((b for b in sorted(self.lost) if all(lo <= i <= hi for i, (lo, hi) in zip(b, spans))), None)

    def __getitem__(self, key: Any) -> np.ndarray:
        if self.lost and (block := self._lost_in(key)) is not None:
            raise StoreError(
                f"{self.where} cannot be read: its chunk {'/'.join(map(str, block)) or '(0-d)'} is missing from the "
                f"store (lost data, it would read as NaN); {self.fix}"
            )
        if self.folder is not None:
            return self._read_in_place(key)
        values = self._read(key)
        if self.token is None or not self.locs:
            return values
        token, deadline = self.token, time.monotonic() + SWAP_WAIT
        for _ in range(100):  # bounded: a group rewritten over and over under the reader gives up below
            try:
                now = self._token_now()  # after the chunks: they belong to this version if it still stands
            except OSError as exc:
                raise StoreError(f"{self.where} cannot be read ({os_message(exc)}).") from exc
            if now == token:
                return values
            if not self.same_key:
                how = "deleted or being rewritten" if now is None else "rewritten"
                raise StoreError(f"{self.where} was {how} since it was read lazily: its values may be another "
                                 f"version's, under this version's coords; read it again.")
            if now is None:  # absent: the chunks may be fill values; wait for the new copy
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
                continue
            token, values = now, self._read(key)  # another complete copy of the same key: read it there
        raise StoreError(f"{self.where} is being rewritten by another process (it was absent or replaced while "
                         f"read lazily, for more than {SWAP_WAIT:g} s); read it again.")

    def _read_in_place(self, key: Any) -> np.ndarray:
        """Read ``key`` from the local folder of an entry while no swap moves it (every chunk then comes
        from one complete copy, the old or the new: same key, same numbers); wait while it is absent."""
        deadline = time.monotonic() + SWAP_WAIT
        for _ in range(1000):
            before = folder_id(self.folder)  # type: ignore[arg-type]
            if before is not None:
                values = self._read(key)
                if folder_id(self.folder) == before:  # type: ignore[arg-type]
                    return values
            elif time.monotonic() > deadline:
                break
            else:  # between the two renames of a swap: the chunks would read as fill values
                time.sleep(0.02)
        raise StoreError(f"{self.where} is being rewritten by another process (its folder was absent or replaced "
                         f"while read lazily, for more than {SWAP_WAIT:g} s); read it again.")

    def _read(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self.var[key].values)
        except OSError as exc:  # the file system or the connection: no damage known
            raise StoreError(f"{self.where} could not be read ({os_message(exc)}); check the store's connection and "
                             f"permissions, then read it again.") from exc
        except Exception as exc:  # the codec (a chunk's bytes changed since the write): one line naming the entry
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            err = StoreError(f"{self.where} cannot be read ({reason}); the entry is damaged: check it with "
                             f"`neuroxr validate --values` and rewrite it.")
            err.problem = f"a chunk of it cannot be decoded ({reason})"  # damage: a caller may compute it again
            raise err from exc


def enclosing_zarr(path: str) -> str | None:
    """The outermost folder above the local path ``path`` that holds a Zarr group or array (a
    ``zarr.json``, or version 2's ``.zgroup`` / ``.zarray``), if any."""
    found = None
    for parent in Path(path).resolve().parents:
        if any((parent / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray")):
            found = str(parent)
    return found
