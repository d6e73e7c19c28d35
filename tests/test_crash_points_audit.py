"""A writer killed at every mutation of the store (audit): "a write never destroys the last good copy, and a
killed writer leaves nothing that a later run trusts wrongly".

Each operation runs in a forked child whose audit hook (``sys.addaudithook``) sees every mutation of the
store (files opened for writing, renames, links, deletions, folders made and removed; on S3 the requests
that write or delete keys) and kills it with ``os._exit`` (no cleanup) right before the ``k``-th, or right
after it (a file opened for writing left empty). The parent then checks the copy: (a) read-only, every
complete group reads back as before the operation or as after a clean run, and an entry listed ``current``
or found by ``lookup`` was computed from the sets now stored; (b) a writable open (recovery), then
``validate_store(values=True)``, finds nothing; (c) the operation run again leaves a clean run's numbers.
By default, the swaps of each operation; every mutation of every operation is marked slow.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import threading
import traceback
import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.entries import lookup
from neuroxr.entries.layout import iter_entries, list_entries
from neuroxr.errors import NeuroxrError
from neuroxr.store import StudyStore

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.skipif(
    not hasattr(os, "fork") or not os.path.isdir("/proc/self/fd"), reason="needs os.fork and /proc")]

IDS = [f"s{i:02d}" for i in range(30)]
CRASHED = 86  # the exit status of a child the hook killed
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_EVENTS = {"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.link", "os.symlink", "os.truncate"}


#: storage options of the s3:// stores (the moto server's), inherited by the forked children
_OPTIONS: dict = {}


def _open(url: str, mode: str = "a") -> StudyStore:
    return StudyStore(url, mode=mode, storage_options=_OPTIONS) if url.startswith("s3://") else StudyStore(url, mode=mode)


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if base.startswith("s3://") else os.path.join(base, name)


def _s3():
    import s3fs

    return s3fs.S3FileSystem(**{**_OPTIONS, "skip_instance_cache": True})


def _copy(src: str, dst: str) -> None:
    _s3().copy(src[5:], dst[5:], recursive=True) if src.startswith("s3://") else shutil.copytree(src, dst)


def _remove(url: str) -> None:
    if not url.startswith("s3://"):
        shutil.rmtree(url, ignore_errors=True)
    elif _s3().exists(url[5:]):
        _s3().rm(url[5:], recursive=True)


# ---------------------------------------------------------------- the kill switch
def _resolve(p, dir_fd=None) -> str | None:
    if p is None or isinstance(p, int):
        return None
    p = os.fsdecode(os.fspath(p))
    if dir_fd is not None and not os.path.isabs(p):
        p = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), p)
    return os.path.abspath(p)


def _mutation(event: str, args: tuple) -> tuple[str, list[str]] | None:
    """``(kind, paths)`` of a mutating audit event, else None."""
    if event not in _EVENTS:
        return None
    if event == "open":
        path, _mode, flags = args
        return ("write", [_resolve(path)]) if flags is not None and flags & _WRITE else None
    if event in ("os.rename", "os.link", "os.symlink"):
        return event[3:], [_resolve(args[0], args[2]), _resolve(args[1], args[3])]
    if event in ("os.remove", "os.rmdir"):
        return event[3:], [_resolve(args[0], args[1])]
    if event == "os.mkdir":
        return "mkdir", [_resolve(args[0], args[2])]
    return "truncate", [_resolve(args[0])]


def _perform(event: str, args: tuple) -> None:
    """Do what the audited call was about to do (the 'after' crash); a file opened for writing left empty."""
    try:
        if event == "open":
            os.close(os.open(args[0], args[2], 0o644))
        elif event in ("os.rename", "os.link"):
            getattr(os, event[3:])(args[0], args[1], src_dir_fd=args[2], dst_dir_fd=args[3])
        elif event == "os.remove":
            os.remove(args[0], dir_fd=args[1])
        elif event == "os.rmdir":
            os.rmdir(args[0], dir_fd=args[1])
        elif event == "os.mkdir":
            os.mkdir(args[0], args[1], dir_fd=args[2])
    except OSError:
        pass  # the call itself would have failed


def _install(root: str, k: int, after: bool, log_fd: int) -> list[int]:
    root = os.path.abspath(root)
    count, busy = [0], threading.local()

    def hook(event, args):
        if event not in _EVENTS or getattr(busy, "on", False):
            return
        busy.on = True
        try:
            m = _mutation(event, args)
            if m is None or not any(p and (p == root or p.startswith(root + os.sep)) for p in m[1]):
                return
            count[0] += 1
            rel = " -> ".join(os.path.relpath(p, root) for p in m[1] if p)
            if k < 0:  # trace every mutation
                os.write(log_fd, f"{m[0]} {rel}\n".encode())
            if count[0] == k:
                os.write(log_fd, f"{m[0]} {rel}\n".encode())
                if after:
                    _perform(event, args)
                os._exit(CRASHED)
        finally:
            busy.on = False

    sys.addaudithook(hook)
    return count


_S3_WRITES = {"PutObject", "DeleteObject", "DeleteObjects", "CopyObject", "CreateMultipartUpload", "UploadPart",
              "UploadPartCopy", "CompleteMultipartUpload"}


def _install_s3(url: str, k: int, after: bool, log_fd: int) -> list[int]:
    """The kill switch of an s3:// store: the requests writing or deleting keys under ``url`` (aiobotocore)."""
    from aiobotocore.client import AioBaseClient

    bucket, _, prefix = url[5:].rstrip("/").partition("/")
    count, original = [0], AioBaseClient._make_api_call

    async def call(self, operation, params):
        keys = ([o["Key"] for o in params.get("Delete", {}).get("Objects", [])] if operation == "DeleteObjects"
                else [params.get("Key", "")])
        if operation in _S3_WRITES and params.get("Bucket") == bucket and any(
                key == prefix or key.startswith(prefix + "/") for key in keys):
            count[0] += 1
            line = f"{operation} {','.join(key[len(prefix) + 1:] for key in keys)}\n".encode()
            if k < 0 or count[0] == k:
                os.write(log_fd, line)
            if count[0] == k:
                if after:
                    await original(self, operation, params)
                os._exit(CRASHED)
        return await original(self, operation, params)

    AioBaseClient._make_api_call = call
    return count


def _child(op, path: str, k: int = 0, after: bool = False) -> tuple[int, str]:
    """Run ``op(path)`` in a forked child, killed at the ``k``-th mutation of ``path`` (0: never; -1: each
    mutation written on a line of what it says, ``"<kind> <path>[ -> <path>]"``, then the count).
    Returns ``(exit status, the mutation killed at, or the count of mutations, or the error)``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(r)
        status = 1
        try:
            import dask
            import zarr

            dask.config.set(scheduler="synchronous")
            zarr.config.set({"threading.max_workers": 1})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                count = (_install_s3 if path.startswith("s3://") else _install)(path, k, after, w)
                op(path)
            os.write(w, f"{count[0]}\n".encode())
            status = 0
        except BaseException:
            os.write(w, ("ERROR " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
        os._exit(status)
    os.close(w)
    with os.fdopen(r) as f:
        said = f.read().strip()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), said


# ---------------------------------------------------------------- the study and the operations
PARAMS = {"reps": 2}


def _sets(seed: int):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(len(IDS), 3))
    neu = nx.neural((latent @ rng.normal(size=(3, 5)))[:, :, None] + rng.normal(size=(len(IDS), 5, 3)), IDS,
                    [f"n{j}" for j in range(5)])
    l1 = nx.features(latent @ rng.normal(size=(3, 12)) + 0.5 * rng.normal(size=(len(IDS), 12)), IDS)
    l2 = nx.features(latent @ rng.normal(size=(3, 6)) + 0.5 * rng.normal(size=(len(IDS), 6)), IDS)
    return neu, l1, l2


def _study(path, scored: bool) -> str:
    """Neural set ``mA`` (30 stimuli, 5 neuroids, 3 repeats), layers ``net.l1`` (12 units in chunks of 4)
    and ``net.l2`` (6 units); with ``scored``, l1's forward entry on mA (so its Gram too)."""
    neu, l1, l2 = _sets(0)
    st = _open(path)
    st.write_neural("mA", neu)
    st.write_features("net", "l1", l1, unit_chunk=4)
    st.write_features("net", "l2", l2, unit_chunk=4)
    if scored:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nx.score(st, "forward", "net.l1", "mA", **PARAMS)
    return str(path)


def _score(path):
    return nx.score(_open(path), "forward", "net.l1", "mA", **PARAMS).load()


def _overwrite(path):
    from neuroxr.entries import compute

    return compute(_open(path), "forward", "net.l1", "mA", params=PARAMS, overwrite=True).dataset.load()


def _rewrite_layer(path):
    _open(path).write_features("net", "l1", _sets(1)[1], unit_chunk=4)


def _rewrite_neural(path):
    _open(path).write_neural("mA", _sets(1)[0])


def _delete_entry(path):
    st = _open(path)
    st.invalidate(lookup(st, "forward", "net.l1", "mA", params=PARAMS) or "scores/forward/none")


def _sweep(path):
    nx.sweep(path, directions=("forward",), client="serial", progress=False, reps=2,
             storage_options=_OPTIONS if path.startswith("s3://") else None)


#: name -> (operation, starting store scored?)
OPS = {
    "entry_write": (_score, False),
    "entry_overwrite": (_overwrite, True),
    "layer_rewrite": (_rewrite_layer, True),
    "neural_rewrite": (_rewrite_neural, True),
    "entry_delete": (_delete_entry, True),
    "sweep": (_sweep, False),
}


# ---------------------------------------------------------------- the checks
def _values(st: StudyStore, path: str) -> dict[str, np.ndarray]:
    ds = st.read_dataset(path).load()
    return {name: np.asarray(var.values) for name, var in ds.variables.items()}


def _same(a: dict, b: dict | None) -> bool:
    if b is None or a.keys() != b.keys():
        return False
    for name, x in a.items():
        y = b[name]
        if x.shape != y.shape:
            return False
        if x.dtype.kind in "fc" and y.dtype.kind in "fc":
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def _complete(st: StudyStore) -> dict[str, dict]:
    return {p: _values(st, p) for _top, p, done in st.entries() if done}


def _probe(path: str) -> dict | None:
    """The values of l1's forward entry on mA that a read-only lookup finds, or None."""
    st = _open(path, "r")
    found = lookup(st, "forward", "net.l1", "mA", params=PARAMS)
    return None if found is None else _values(st, found)


def _violations(path: str, before: dict, clean: dict, probes: dict) -> list[str]:
    """What (a) finds wrong at ``path`` read-only: ``before`` / ``clean`` the complete groups of the start and of
    a clean run, ``probes`` l1's forward values per version of the inputs (``(l1, mA) -> values``)."""
    bad = []
    ro = _open(path, "r")
    groups = _complete(ro)
    for p, vals in groups.items():
        if not (_same(vals, before.get(p)) or _same(vals, clean.get(p))):
            bad.append(f"complete group {p} holds neither the old nor the new values")
    for row in _entries(ro):
        if row["complete"] and row["current"]:
            for inp, token in row["inputs"].items():
                if ro.token(inp) != token:
                    bad.append(f"{row['path']} listed current but {inp} holds another token")
    try:
        found = lookup(ro, "forward", "net.l1", "mA", params=PARAMS)
    except NeuroxrError:  # a refusal is no wrong answer: an object store's set whose rewrite was cut is absent
        found = None
    if found is not None:
        version = tuple("old" if _same(groups.get(s), before.get(s)) else "new"
                        for s in ("features/net/l1", "neural/mA"))
        if not _same(_values(ro, found), probes.get(version)):
            bad.append(f"lookup found {found} whose values are not those computed on the stored sets {version}")
    return bad


def _entries(st: StudyStore) -> list[dict]:
    listed = list_entries(st).set_index("path")["current"].to_dict()
    return [{"path": e["path"], "complete": e["complete"], "current": bool(listed.get(e["path"], False)),
             "inputs": (e.get("provenance") or {}).get("inputs", {})} for e in iter_entries(st)]


# ---------------------------------------------------------------- the audit
def _version(groups: dict, before: dict) -> tuple[str, str]:
    return tuple("old" if _same(groups.get(s), before.get(s)) else "new" for s in ("features/net/l1", "neural/mA"))


class Audit:
    """One operation's starting store, clean run, counted mutations and reference values."""

    def __init__(self, name: str, tmp) -> None:
        self.name, self.tmp = name, str(tmp)  # a local folder, or an s3:// prefix
        self.op, scored = OPS[name]
        self.start = _study(_join(self.tmp, "start.zarr"), scored)
        clean = _join(self.tmp, "clean.zarr")
        _copy(self.start, clean)
        code, said = _child(self.op, clean, -1)
        assert code == 0, said
        self.mutations = said.splitlines()[:-1]  # "<kind> <path>[ -> <path>]", the k-th at [k - 1]
        assert len(self.mutations) == int(said.splitlines()[-1])
        self.before = _complete(_open(self.start, "r"))
        self.after = _complete(_open(clean, "r"))
        self.probes = {}  # l1's forward values on each version of the inputs
        for src, tag in ((self.start, "p0"), (clean, "p1")):
            dst = _join(self.tmp, f"{tag}.zarr")
            _copy(src, dst)
            code, said = _child(_score, dst)
            assert code == 0, said
            self.probes[_version(_complete(_open(dst, "r")), self.before)] = _probe(dst)
        self.expected = _probe(clean)

    def points(self, swaps: bool = True) -> list[int]:
        """The ``k`` of the swaps (renames, links) of a path outside ``.neuroxr`` or of a swap journal, and
        of the last mutation (the inventory's record); every ``k`` without ``swaps``."""
        ks = []
        for k, m in enumerate(self.mutations, 1):
            kind, paths = m.split(" ", 1)
            if not swaps or k == len(self.mutations) or kind in ("rename", "link") and any(
                    not p.startswith(".neuroxr/") or p.startswith(".neuroxr/swaps/") for p in paths.split(" -> ")):
                ks.append(k)
        return ks

    def crash(self, k: int, late: bool = False) -> list[str]:
        """Kill the operation before (after, ``late``) its ``k``-th mutation; what (a), (b), (c) find wrong."""
        where = f"{self.name} k={k}/{len(self.mutations)} {'after' if late else 'before'}"
        crashed = _join(self.tmp, f"k{k}{'a' if late else 'b'}.zarr")
        _copy(self.start, crashed)
        try:
            return [f"{where} [{self.mutations[k - 1]}] {f}" for f in self._check(crashed, k, late)]
        finally:
            _remove(crashed)

    def _check(self, crashed: str, k: int, late: bool) -> list[str]:
        bad = []
        code, said = _child(self.op, crashed, k, late)
        if code != CRASHED:
            bad.append(f"the child was not killed (exit {code}: {said})")
        try:
            bad += [f"(a) {b}" for b in _violations(crashed, self.before, self.after, self.probes)]
        except Exception as exc:  # noqa: BLE001 - every refusal is reported with its point
            bad.append(f"(a) raised {type(exc).__name__}: {exc}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _open(crashed)  # recovery
                bad += [f"(b) {v}" for v in nx.validate_store(_open(crashed, "r"), values=True)]
        except Exception as exc:  # noqa: BLE001
            bad.append(f"(b) raised {type(exc).__name__}: {exc}")
        code, said = _child(self.op, crashed)
        if code != 0:
            return [*bad, f"(c) the re-run failed: {said}"]
        try:
            groups = _complete(_open(crashed, "r"))
            if groups.keys() != self.after.keys():
                bad.append(f"(c) groups {sorted(set(groups) ^ set(self.after))} differ from a clean run's")
            bad += [f"(c) {p} differs from a clean run's" for p in groups.keys() & self.after.keys()
                    if not _same(groups[p], self.after[p])]
            found = _probe(crashed)
            if not (_same(found, self.expected) or found is self.expected is None):
                bad.append("(c) the entry found differs from a clean run's")
        except Exception as exc:  # noqa: BLE001
            bad.append(f"(c) raised {type(exc).__name__}: {exc}")
        return bad


# ---------------------------------------------------------------- the tests
@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    made: dict[str, Audit] = {}  # audits(name): the operation's Audit, made once per module

    return lambda name: made[name] if name in made else made.setdefault(name, Audit(name, tmp_path_factory.mktemp(name)))


@pytest.mark.parametrize("name", [n for n in OPS if n != "sweep"])
def test_the_operations_mutate_the_store_and_a_clean_run_is_counted(audits, name):
    """The kill switch sees the swaps of staged copies into place; a run without a kill counts the same."""
    a = audits(name)
    assert a.points(), a.mutations
    if name != "entry_delete":
        assert any(m.startswith("rename .neuroxr/staging/") for m in a.mutations), a.mutations
    _copy(a.start, _join(a.tmp, "count.zarr"))
    code, said = _child(a.op, _join(a.tmp, "count.zarr"))
    assert (code, int(said)) == (0, len(a.mutations))


def test_a_kill_is_a_kill(audits):
    """Killed at the swap of the entry's staged copy: the kill's status, the staged copy left (no cleanup)."""
    a = audits("entry_write")
    k = next(k for k, m in enumerate(a.mutations, 1) if m.startswith("rename .neuroxr/staging/")
             and m.split(" -> ")[1].startswith("scores/"))
    shutil.copytree(a.start, crashed := os.path.join(a.tmp, "kill.zarr"))
    code, said = _child(a.op, crashed, k)
    shape = functools.partial(re.sub, r"~\d+~|[0-9a-f]{12,}", "*")  # without the pid and uuids in the names
    assert code == CRASHED and shape(said) == shape(a.mutations[k - 1])
    assert os.listdir(os.path.join(crashed, ".neuroxr", "staging"))


def _bare_parents(a: Audit) -> list[bool]:
    """``bare[k]``: after the first ``k`` mutations, a folder outside ``.neuroxr`` lacks its group document while
    a file other than Zarr's temporary ``zarr.<uuid>.partial`` (never read) lies in or below it: a parent's
    document written after its child's, from a replay of the trace."""
    dirs, docs, files = {"."}, set(), set()
    for here, sub, names in os.walk(a.start):
        rel = os.path.relpath(here, a.start)
        dirs.update(os.path.normpath(os.path.join(rel, s)) for s in sub)
        docs.update([rel] if "zarr.json" in names else [])
    bare = [False]
    for m in a.mutations:
        kind, paths = m.split(" ", 1)
        src, _, dst = paths.partition(" -> ")
        if kind == "mkdir" and os.path.dirname(src) in dirs | {""}:
            dirs.add(src)
        elif kind == "write" and not re.fullmatch(r"zarr\.[0-9a-f]{32}\.partial", os.path.basename(src)):
            files.add(src)
        elif kind == "remove" or (kind == "rename" and src in files):
            files.discard(src)
        if kind in ("rename", "link") and os.path.basename(dst) == "zarr.json":
            docs.add(os.path.dirname(dst) or ".")
        elif kind == "rename" and src in dirs and not dst.startswith(".neuroxr"):  # a staged copy swapped in
            dirs.add(dst)
            docs.add(dst)
        below = docs | {os.path.dirname(f) for f in files}
        bare.append(any(d not in docs and not d.startswith(".neuroxr") and any(o == d or o.startswith(d + "/") for o in below)
                        for d in dirs if d != "."))
    return bare


@pytest.mark.parametrize("name", [n for n in OPS if n != "sweep"])
def test_a_writer_killed_at_each_rename_of_an_operation_leaves_a_store_nothing_trusts_wrongly(audits, name):
    """Killed before each swap of the operation (:meth:`Audit.points`): (a), (b) and (c) hold."""
    a = audits(name)
    points = a.points()
    assert points
    failures = [f for k in points for f in a.crash(k)]
    assert not failures, "\n".join(failures)


def test_a_writer_killed_between_a_new_group_document_and_its_parents_leaves_no_bare_folder(audits):
    """Killed before ``scores/zarr.json`` of a store's first entry is written (before: Zarr wrote the documents
    below it first, so ``scores`` held one and none of its own: (b) ``scores`` "missing metadata document", (c)
    the re-run's entry unlisted)."""
    a = audits("entry_write")
    assert not any(_bare_parents(a))  # groups are made from the top: no point of the trace has a bare folder
    k = next(k for k, m in enumerate(a.mutations, 1) if m.startswith("write scores/zarr."))
    failures = a.crash(k)
    assert not failures, "\n".join(failures)


#: crash points per pass (before, after) of the slow audits, spread over the trace (a local store's; an
#: object store's half as many: each point costs about 4 s on the moto server); NEUROXR_CRASH_POINTS=N for
#: more, =all for every mutation (an hour and more). 24 per pass passed on every operation.
_PER_PASS = os.environ.get("NEUROXR_CRASH_POINTS", "8")


def _spread(n: int, late: bool, share: float = 1.0) -> range:
    """The mutations of a trace of ``n`` a slow audit kills at: every one, or ``share`` of :data:`_PER_PASS`
    evenly spread (the pass after each mutation offset by half a step from the pass before)."""
    if _PER_PASS == "all":
        return range(1, n + 1)
    step = max(1, -(-n // max(1, round(int(_PER_PASS) * share))))
    return range(1 + (step // 2 if late else 0), n + 1, step)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(OPS))
def test_a_writer_killed_at_every_mutation_of_an_operation_leaves_a_store_nothing_trusts_wrongly(audits, name):
    """Mutations spread over every operation (:func:`_spread`), before and after each."""
    a = audits(name)
    failures = [f for late in (False, True) for k in _spread(len(a.mutations), late)
                for f in a.crash(k, late)]
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- object stores (the moto S3 server)
@pytest.fixture(scope="module")
def s3_audits(s3_server):
    import uuid  # s3_audits(name): the operation's Audit on a fresh prefix of the moto server's bucket

    _OPTIONS.update(s3_server[0], skip_instance_cache=True)  # see the test below: a fresh listing each open
    base = f"s3://bucket/crash-{uuid.uuid4().hex[:8]}"
    made: dict[str, Audit] = {}

    def get(name: str) -> Audit:
        if name not in made:
            made[name] = Audit(name, f"{base}/{name}")
        return made[name]

    yield get
    _OPTIONS.clear()


def test_an_object_store_opened_again_lists_the_groups_another_process_wrote_since(s3_server, monkeypatch):
    """Another process writes an entry after this one listed the store: a store opened afterwards walks it
    (before: the walk read the cached s3fs instance's listings and missed it; ``list_entries`` saw it)."""
    import uuid

    options = s3_server[0]  # as a user opens it: fsspec's cached instance
    monkeypatch.setattr(sys.modules[__name__], "_OPTIONS", dict(options))
    url = _study(f"s3://bucket/listed-{uuid.uuid4().hex[:8]}.zarr", False)
    before = {p for _t, p, _c in StudyStore(url, mode="r", storage_options=options).entries()}
    code, said = _child(_score, url)
    assert code == 0, said
    listed = {e["path"] for e in _entries(StudyStore(url, mode="r", storage_options=options)) if e["complete"]}
    assert len(listed) == 2  # the entry and its Gram, from the inventory
    walked = {p for _t, p, done in StudyStore(url, mode="r", storage_options=options).entries() if done}
    assert walked == before | listed


@pytest.mark.slow
@pytest.mark.parametrize("name", ["entry_write", "layer_rewrite"])
def test_an_object_store_writer_killed_at_its_requests_leaves_a_store_nothing_trusts_wrongly(s3_audits, name):
    """Requests that write or delete a key (a rewrite's copy of the previous version kept aside, its journal,
    the batches, the documents, the inventory), spread by :func:`_spread`, before and after each."""
    a = s3_audits(name)
    failures = [f for late in (False, True) for k in _spread(len(a.mutations), late, 0.5)
                for f in a.crash(k, late)]
    assert not failures, "\n".join(failures)


def test_an_object_store_entry_first_written_by_a_killed_writer_is_cleared_by_a_writable_open(s3_server, monkeypatch):
    """Killed after the upload of an entry's first chunk (no previous copy): a writable open removes its keys
    (before: no journal named them, and validate named the group "missing metadata document" until the entry
    was computed again)."""
    import uuid

    monkeypatch.setattr(sys.modules[__name__], "_OPTIONS", {**s3_server[0], "skip_instance_cache": True})
    start = _study(f"s3://bucket/first-{uuid.uuid4().hex[:8]}.zarr", False)
    crashed = f"{start[:-5]}-k.zarr"
    _copy(start, crashed)
    mutations = _child(_score, start, -1)[1].splitlines()
    k = next(k for k, m in enumerate(mutations, 1) if re.match(r"PutObject scores/.*/c/", m))
    assert _child(_score, crashed, k, after=True)[0] == CRASHED
    _open(crashed)
    assert nx.validate_store(_open(crashed, "r"), values=True) == []


def test_a_writer_killed_before_a_new_group_document_is_in_place_leaves_no_damage(audits):
    """Killed just before a new group's ``zarr.json`` is renamed into place (its temporary file written)."""
    a = audits("entry_write")
    k = next(k for k, m in enumerate(a.mutations, 1) if re.match(r"rename ([^.]\S*)/zarr\.\w+\.partial -> \1/zarr.json$", m))
    assert not a.crash(k)
