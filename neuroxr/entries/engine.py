"""The entry engine: the one place that computes and writes store entries.

:func:`compute` turns a request (kind, source and target sets, parameters) into an entry:

1. the names are resolved to :class:`neuroxr.sets.SetRef` (:func:`neuroxr.sets.resolve`), with the
   set kinds the entry kind accepts (:mod:`neuroxr.entries.kinds`); a set an interrupted rewrite left
   incomplete is refused as such;
2. the parameters are checked and their defaults filled in, each in one spelling (one result, one
   key: :meth:`neuroxr.entries.kinds.Kind.fill`; a direction's ``noise_ceiling=True`` is ``None``
   where every neural input has repeats, cRSA's ``None`` the ceiling it resolves to); with the
   version tokens of the sets read they form the provenance and its key
   (:mod:`neuroxr.entries.provenance`), which places the entry at
   ``<stage>/<kind>/<source>__<target>/<key>`` (:mod:`neuroxr.entries.layout`);
3. a complete entry with the same provenance is read back if it is intact (a damaged one, with a
   lost variable or chunk or attrs edited since the write, is computed again in its place, with a
   warning; a Gram written before its attrs' digest was recorded, silently); otherwise the entry is
   computed and written beside any other entry of the pair (or, with ``require_existing=True``, the
   request is refused naming each parameter that differs from the existing entries).

It decides streaming (:func:`neuroxr.entries.kinds.streams`: forward with ridge or linear and no
``max_n`` reads the features only through the cached Gram), Gram reuse (the Gram is itself an
entry, keyed by the feature set's token), backend and dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import xarray as xr

from .. import geometry as _geo
from ..alignment import for_store_sets
from ..attrs import storable
from ..backend import check_backend_name, resolve_backend, resolve_dtype
from ..errors import LayoutError, ParameterError, StoreError, shown, warn
from ..layouts import validate_metric, validate_scores
from ..predictivity._prepare import check_dtype
from ..predictivity.generalization import validate_generalization
from ..sets import SetRef, read_set, resolve, stored_sizes
from ..store import Examined, StudyStore
from ..store._zarr import DIGEST_ATTR, TOKEN_ATTR, attrs_edited, writes_digests
from ..store.integrity import set_edited
from ..store.study import as_store
from ..validation import check_bool
from . import layout as _l
from . import metrics as _m
from . import provenance as _p
from .gram import compute_gram, streamed_features
from .kinds import (
    DIRECTION_FUNCTIONS,
    KINDS,
    TIME_KINDS,
    Kind,
    get_kind,
    lazy_features,
    speaks_as,
    streams,
)
from .revisions import entry_revision

__all__ = ["EntryResult", "compute", "lookup", "score", "score_metric"]

_VERSION_PACKAGES = ("numpy", "scipy", "xarray", "zarr", "dask", "scikit-learn")
#: options of a request that change how it runs or what it returns, not its numbers
RUN_OPTIONS = ("progress", "keep_predictions")


@dataclass(frozen=True)
class EntryResult:
    """What :func:`compute` returns.

    Attributes
    ----------
    path : str
        The entry's store path (``.../<key>``).
    dataset : xarray.Dataset
        The entry (in memory), its attrs storable (:func:`neuroxr.attrs.storable`: dicts such as
        ``parameters`` as JSON text, :func:`neuroxr.attrs.decode_attrs` gives them back).
    computed : bool
        ``True`` when computed now, ``False`` when a matching entry was read back.
    provenance : dict
        Kind, set names, filled parameters and input version tokens.
    """

    path: str
    dataset: xr.Dataset = field(repr=False)
    computed: bool
    provenance: dict[str, Any] = field(repr=False)


class _IO:
    """The sets of one request, read once; the Gram of a feature set through its entry."""

    def __init__(self, store: StudyStore, backend: str | None) -> None:
        self.store, self.backend = store, backend
        self._cache: dict[tuple[str, bool], xr.DataArray] = {}

    def read(self, ref: SetRef, load: bool = True) -> xr.DataArray:
        k = (ref.name + "|" + ref.kind, load)
        if k not in self._cache:
            self._cache[k] = read_set(self.store, ref, load=load)
        return self._cache[k]

    def gram(self, ref: SetRef) -> xr.Dataset:
        return compute(self.store, "gram", ref, backend=self.backend).dataset


@dataclass
class _Request:
    kind: Kind
    source: SetRef
    target: SetRef | None
    params: dict[str, Any]
    provenance: dict[str, Any]
    key: str
    path: str


def _prepare(store: StudyStore, kind: str, source: Any, target: Any, params: Mapping[str, Any] | None,
             dtype: Any) -> _Request:
    k = get_kind(kind)
    if params is not None and not isinstance(params, Mapping):  # dict() read a list of pairs, or failed raw
        example = ", ".join(f"{n!r}: {v!r}" for n, v in list(k.defaults.items())[:1])
        raise ParameterError(f"params must be a mapping of the parameters of kind {k.name!r} (a dict of name: value) or None; got "
                             f"{type(params).__name__} {shown(params)}. Pass e.g. params={{{example}}}.")
    src = resolve(store, source, kinds=k.source_kinds, role="source")
    tgt = None
    if k.pairwise:
        if target is None:
            raise LayoutError(f"{k.name!r} compares two sets; name the target set.")
        tgt = resolve(store, target, kinds=k.target_kinds, role="target")
    elif target is not None:
        raise LayoutError(f"{k.name!r} describes one set; got a target {getattr(target, 'name', target)!r} (pass target=None).")
    filled = k.fill(params)
    if k.takes_dtype:  # refused as the kind's function refuses it, also where only a lookup is asked
        filled["dtype"] = check_dtype(filled["regressor"], dtype, speaks_as(k.name)).name
    elif dtype is not None and resolve_dtype(dtype, speaks_as(k.name)).name != "float64":
        raise LayoutError(f"dtype={dtype!r}: {k.name!r} computes in float64 only; pass dtype=None.")
    refs = [src] if tgt is None else [src, tgt]
    if k.name == "crsa":
        filled = _m.resolve_ceiling(filled, tgt.kind, _repeats(store, tgt) if tgt.kind == "neural" else None, tgt.name)
    elif k.name == "brainscore":  # "auto" without object names is the entry of None
        filled = _m.resolve_strata(filled, store, refs)
    elif filled.get("noise_ceiling") is True and all(_repeats(store, r) >= 2 for r in refs if r.kind == "neural"):
        filled["noise_ceiling"] = None  # what the automatic ceiling draws there: one key for one computation
    pair = _l.pair_path(k.stage, k.name, src, tgt)  # refuses a region that cannot name an entry, before any I/O
    inputs = {r.path: _input_token(store, r.path) for r in refs}
    prov = _p.make(k.name, src.name, None if tgt is None else tgt.name, filled, inputs, entry_revision(k.name, filled),
                   _library_versions(k.name, filled))
    key = _p.key(prov)
    return _Request(k, src, tgt, filled, prov, key, f"{pair}/{key}")


def _input_token(store: StudyStore, path: str, fresh: bool = False) -> str | None:
    """The version token of an input set, ``None`` (never a match) when its attrs were edited after
    the write (:func:`~neuroxr.store.integrity.set_edited`): no entry (a cached Gram) computed from it
    is reused, and computing reads the set, which refuses it (one line naming it and the fix).
    ``fresh``: read past a cached store's documents (what another process may have rewritten since)."""
    attrs = store.group_attrs(path, fresh)  # one read, as store.token makes
    tok = None if attrs is None or set_edited(path, attrs) else attrs.get(TOKEN_ATTR)
    return str(tok) if tok else None


def _repeats(store: StudyStore, ref: SetRef) -> int:
    """The repeats of a neural set (its ``repeat`` dim; metadata only, nothing loaded)."""
    return stored_sizes(store, ref).get("repeat", 1)


def _library_versions(kind: str, params: Mapping[str, Any]) -> dict[str, str] | None:
    """The versions of the libraries whose code computes the entry: scikit-learn for a regressor
    named for one of its estimators (an estimator object carries its own, in its identity) and
    for Brain-Score's PLS. neuroxr's own kernels are covered by the kinds' revisions."""
    from ..kernels.regressors import sklearn_named

    if kind == "brainscore" or sklearn_named(params.get("regressor")):
        return {"scikit-learn": _version("scikit-learn")}
    return None


#: the installed version of a distribution, read once per process (the one function of listings too)
_version = _p.installed_version


def _matching(store: StudyStore, req: _Request, read: bool) -> Examined | None:
    """The complete entry with the request's provenance, as read once (:meth:`StudyStore.examine`:
    one read of its metadata document; its damage, on first use, from one listing of its keys or,
    with ``read`` on an object store, from the batch read that reads it), else ``None``."""
    if not _p.is_trusted(req.provenance):
        return None
    found = store.examine(req.path, fetch=read)
    attrs = found.attrs  # None: absent or incomplete
    if attrs is None or dict(attrs.get(_p.PROVENANCE_ATTR) or {}) != req.provenance:
        return None
    if req.kind.name == "gram" and DIGEST_ATTR not in attrs and not writes_digests(attrs):  # written before the digest
        return None  # (a cache: computed once more, with the digest)
    return found


def _edited(found: Examined) -> str | None:
    """Why a matching entry is not handed back although intact: its attrs (a Gram's ``max_abs``,
    ``mu``, ``m2`` ... that later computations trust) were edited after the write."""
    if found.attrs is not None and not found.attrs.get(TOKEN_ATTR):  # every keyed entry was written with one
        return "its version token was removed after it was written"
    if found.attrs is not None and attrs_edited(found.attrs):
        if DIGEST_ATTR not in found.attrs:  # its token says its writer recorded one
            return "its attrs were edited after it was written: the digest its writer recorded then is gone"
        return "its attrs were edited after it was written: they no longer hash to the digest recorded then"
    return None


def lookup(store: StudyStore | str, kind: str, source: str | SetRef, target: str | SetRef | None = None, *,
           params: Mapping[str, Any] | None = None, dtype: Any = None, then_read: bool = False) -> str | None:
    """The path of the complete, undamaged entry whose provenance matches the request, else ``None``.

    Parameters are as in :func:`compute`. Legacy (0.1.0) entries, entries of sets without a
    version token and damaged entries (a lost variable or chunk file, edited array documents) never
    match. A lookup reads documents only: a chunk file that is present but does not decode is found
    when the entry is read (:func:`compute` then computes it again, with a warning;
    ``neuroxr validate --values`` reports it).

    ``then_read`` (default ``False``): the entry found is read next (a sweep's reused entry). On a cached
    object store a matching entry written in one batch is then read now, in one batch the store keeps for
    the read that follows (read again if it left the cache), its damage found from that batch's keys, no
    listing: as :func:`compute` reads a found entry. Elsewhere it changes nothing (a store that keeps
    nothing would read the entry twice).
    """
    if not isinstance(then_read, bool):
        raise ParameterError(f"lookup: then_read must be True or False; got {shown(then_read)}.")
    store = as_store(store, "a")  # entries written, never a store made
    with store.session():  # a cached store's outermost call reads the set tokens afresh
        req = _prepare(store, kind, source, target, params, dtype)
        found = _matching(store, req, read=then_read and store._cache)  # read: the damage from the batch read
        return req.path if found is not None and _edited(found) is None and found.problem is None else None


def _refuse(store: StudyStore, req: _Request) -> StoreError:
    """The refusal of ``require_existing=True``: each complete entry of the pair and how it differs. The
    advice to ask with an entry's parameters only where that reaches it (it differs in parameters
    only); an entry of an older revision (or other inputs or packages) no request reaches."""
    pair = _l.pair_path(req.kind.stage, req.kind.name, req.source, req.target)
    what = f"{req.kind.name} {req.source.name}" + ("" if req.target is None else f" -> {req.target.name}")
    lines, reachable = [], False
    for e in _l.iter_entries(store):
        if e["path"].rpartition("/")[0] != pair and e["path"] != pair:
            continue
        if e["legacy"] or not e["provenance"]:
            lines.append(f"{e['path']} was written by neuroxr 0.1.0 (no provenance)")
        elif e["complete"]:
            found = dict(e["provenance"])
            # what the entry's own parameters get now: equal, a request with them reaches it (a revision
            # or packages that differ from the asked ones follow from the parameters)
            now = _p.make(req.kind.name, found.get("source"), found.get("target"), found.get("params", {}), found.get("inputs", {}),
                          entry_revision(req.kind.name, found.get("params", {})),
                          _library_versions(req.kind.name, found.get("params", {})))
            reachable |= _p.without(found, "params") == _p.without({**now, "inputs": req.provenance["inputs"]}, "params")
            asked, had = _p.relevant(req.kind.name, req.provenance, found)
            lines.append(f"{e['path']} differs in " + "; ".join(_p.differences(asked, had, now.get("revision", 0),
                                                                                 now.get("packages", {}))))
    if not lines:
        return StoreError(f"store {store.url!r} holds no entry {what}; compute it (require_existing=False).")
    advice = ("Ask with the existing parameters, or compute a new entry (require_existing=False)." if reachable else
              f"No parameters reach {'it' if len(lines) == 1 else 'them'}: compute the entry anew (require_existing=False; "
              f"on the command line, leave out --require-existing).")
    return StoreError(f"store {store.url!r}: no entry {what} matches the request: " + " | ".join(lines) + ". " + advice)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError

    from .. import __version__

    out = {"neuroxr": __version__}
    for pkg in _VERSION_PACKAGES:
        try:
            out[pkg] = _version(pkg)
        except PackageNotFoundError:  # pragma: no cover - optional package
            pass
    return out


def _run_direction(req: _Request, io: _IO, backend: str | None, options: Mapping[str, Any]) -> xr.Dataset:
    k, p = req.kind, req.params
    kw = {**{n: p[n] for n in k.defaults}, "dtype": p["dtype"], "backend": backend, **options}
    if "alphas" in kw:
        kw["alphas"] = tuple(kw["alphas"])
    fn = DIRECTION_FUNCTIONS[k.name]
    if streams(k.name, p):
        gram = _geo.gram_stats(io.gram(req.source))
        feats = streamed_features(io.store, req.source)  # values unread: no unit coords needed
        feats = io.read(req.source, load=False) if feats is None else feats
        return fn(feats, io.read(req.target), gram=gram, **kw)
    lazy = lazy_features(k.name, p)
    a = io.read(req.source, load=not (lazy and req.source.kind == "features"))
    b = io.read(req.target, load=not (lazy and req.target.kind == "features"))
    return fn(a, b, **kw)


def _run_inference(req: _Request, io: _IO, backend: str | None) -> xr.Dataset:
    """A bootstrap or permutation entry (:mod:`neuroxr.predictivity.inference`)."""
    from ..predictivity import inference as _inf
    from .kinds import INFERENCE_KINDS

    if req.kind.name in _m.METRIC_INFERENCE_KINDS:  # crsa / ersa / cka / shape intervals and nulls
        return _m.compute_inference(req.kind.name, io.read(req.source), io.read(req.target), req.params)
    direction, procedure = INFERENCE_KINDS[req.kind.name]
    kw = {**req.params, "backend": backend}
    if "alphas" in kw:
        kw["alphas"] = tuple(kw["alphas"])
    fn = _inf.bootstrap if procedure == "bootstrap" else _inf.permutation_test
    return fn(direction, io.read(req.source), io.read(req.target), **kw)


def _run(req: _Request, io: _IO, backend: str | None, options: Mapping[str, Any]) -> xr.Dataset:
    name = req.kind.name
    if name in TIME_KINDS:  # temporal generalisation (issue 20): the kind's function on the two sets
        if options:
            raise ParameterError(f"{name!r} takes no options {sorted(options)}.")
        return TIME_KINDS[name](io.read(req.source), io.read(req.target), **req.params)
    if req.kind.stage == "scores":
        return _run_direction(req, io, backend, options)
    if req.kind.stage == "inference":
        if options:
            raise ParameterError(f"{name!r} takes no options {sorted(options)}.")
        return _run_inference(req, io, backend)
    if options:
        raise ParameterError(f"{name!r} takes no options {sorted(options)}.")
    if name == "gram":
        return compute_gram(req.source, None, req.params, io)
    if name in _m.RSA_VARIANTS:
        return _m.compute_rsa(name, req.source, req.target, req.params, io)
    fn = {"shape": _m.compute_shape, "cka": _m.compute_cka, "dimensionality": _m.compute_dimensionality,
          "brainscore": _m.compute_brainscore}[name]
    return fn(req.source, req.target, req.params, io)


def _label(req: _Request, ds: xr.Dataset) -> xr.Dataset:
    """Entry attrs: names, set labels, parameters, versions, provenance."""
    attrs = dict(ds.attrs)
    if req.kind.stage == "metrics":
        attrs.pop("direction", None)  # the geometry functions name themselves here; entries use 'metric'
    if req.kind.stage == "inference":
        attrs["inference"] = req.kind.name
    attrs.update({"source": req.source.name, **req.source.labels("source")})
    if req.target is not None:
        attrs.update({"target": req.target.name, **req.target.labels("target")})
    else:
        attrs.pop("target", None)
    if req.kind.stage == "metrics":
        attrs["metric"] = req.kind.name
    attrs["parameters"] = req.provenance["params"]  # canonical JSON (an estimator as its identity)
    attrs["versions"] = _versions()
    attrs["neuroxr_version"] = attrs["versions"]["neuroxr"]
    attrs[_p.PROVENANCE_ATTR] = req.provenance
    attrs[_p.KEY_ATTR] = req.key
    ds = ds.copy()
    ds.attrs = attrs
    return ds


def compute(
    store: StudyStore | str,
    kind: str,
    source: str | SetRef,
    target: str | SetRef | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    require_existing: bool = False,
    backend: str | None = None,
    dtype: Any = None,
    options: Mapping[str, Any] | None = None,
) -> EntryResult:
    """Compute (or find) one store entry.

    Parameters
    ----------
    store : StudyStore or str
        The study store (a path must exist: no empty store is created).
    kind : str
        One of :data:`neuroxr.entries.KINDS` (``"rsa"`` means ``"crsa"``).
    source, target : str or SetRef (``target`` optional)
        Set names (:mod:`neuroxr.sets`); ``target`` is ``None`` for ``dimensionality`` and ``gram``.
    params : mapping, optional
        The kind's parameters (defaults filled in; see ``KINDS[kind].defaults``).
    overwrite : bool, default False
        Recompute even when a matching entry exists (it is replaced).
    require_existing : bool, default False
        Return only a matching existing entry; otherwise raise :class:`StoreError` naming each
        parameter (or input set) in which the existing entries differ.
    backend : str, optional
        Array backend of the kernels (not part of the provenance).
    dtype : {"float64", "float32"}, optional
        Precision of the directions (part of their provenance; default float64).
    options : mapping, optional
        Run options of the directions that do not change the numbers: ``progress``,
        ``keep_predictions`` (predictions are returned, never stored; forces a computation).

    Returns
    -------
    EntryResult
    """
    store = as_store(store, "a")  # entries written, never a store made
    with store.session():  # a cached store's outermost call reads the set tokens afresh (never a stale match)
        res = _compute(store, kind, source, target, params, overwrite, require_existing, backend, dtype, options)
    # handed out storable (attrs netCDF takes; neuroxr.attrs.decode_attrs gives the dicts back)
    return replace(res, dataset=storable(res.dataset))


def _compute(store: StudyStore, kind: str, source: str | SetRef, target: str | SetRef | None,
             params: Mapping[str, Any] | None, overwrite: bool, require_existing: bool, backend: str | None,
             dtype: Any, options: Mapping[str, Any] | None) -> EntryResult:
    """:func:`compute` within one session of ``store``."""
    overwrite = check_bool(overwrite, "overwrite", "Pass overwrite=True to compute the entry again.", caller="compute")
    require_existing = check_bool(require_existing, "require_existing",
                                  "Pass require_existing=True to read a matching entry only.", caller="compute")
    if overwrite and require_existing:  # the refusal would name the matching entry as differing in nothing
        raise ParameterError("compute: overwrite=True computes the entry again, which require_existing=True forbids; "
                             "drop one of them.")
    if options is not None and not isinstance(options, Mapping):
        raise ParameterError(f"compute: options must be a mapping of run options {RUN_OPTIONS} (a dict of name: value) "
                             f"or None; got {type(options).__name__} {shown(options)}. Pass e.g. options={{'progress': True}}.")
    options = dict(options or {})
    # a misspelled backend is refused whether or not the entry is found (it would pass until one is computed);
    # one that cannot run here (no CuPy) is refused only when the entry must be computed
    check_backend_name(backend, speaks_as(kind) if isinstance(kind, str) else "compute")
    bad = sorted(set(options) - set(RUN_OPTIONS))
    if bad:
        raise LayoutError(f"unknown run options {bad}; choose from {RUN_OPTIONS}.")
    req = _prepare(store, kind, source, target, params, dtype)
    fresh = bool(options.get("keep_predictions"))
    if fresh and require_existing:
        raise ParameterError("keep_predictions=True computes the entry again (predictions are never stored), which "
                             "require_existing=True forbids; drop one of them.")
    if not overwrite and not fresh:
        found = _matching(store, req, read=True)
        damage = None if found is None else (_edited(found) or found.problem)
        if found is not None and damage is None:  # read from the same reading: no second look
            try:
                return EntryResult(req.path, store.read_dataset(found).load(), False, req.provenance)
            except StoreError as exc:  # a chunk that cannot be decoded: damage no metadata shows
                if exc.problem is None:
                    raise
                damage = exc.problem
        if found is not None and require_existing:
            raise StoreError(f"store {store.url!r}: entry {req.path!r} matches the request but is damaged ({damage}); "
                             f"compute it again (require_existing=False) to replace it.")
        if found is not None:  # never handed back: computed again, and the new copy replaces it
            warn(f"store {store.url!r}: entry {req.path!r} is damaged ({damage}); computing it again.")
    if require_existing:
        raise _refuse(store, req)
    if store.mode == "r" and req.kind.name != "gram":  # refused before the work, not when the entry is written
        raise StoreError(f"store {store.url!r} is open read-only and holds no entry {req.path!r} that matches the "
                         "request; open it with mode='a' to compute and write it.")
    # refused whether or not a cached Gram spares the backend's one use in this entry (cka, dimensionality)
    resolve_backend(backend, speaks_as(kind) if isinstance(kind, str) else "compute")
    failure: Exception | None = None
    try:
        ds = _label(req, _run(req, _IO(store, backend), backend, options))
    except Exception as exc:  # a read that met another process's rewrite fails as it may (a chunk of another shape)
        failure = exc
    _check_inputs_unchanged(store, req)  # such a rewrite is named first: it is the cause
    if failure is not None:
        raise for_store_sets(failure)  # the sets are named: selecting stimuli of an array is no advice here
    stored = ds.drop_vars(["prediction", "stimulus_id"], errors="ignore") if req.kind.stage == "scores" else ds
    if req.kind.name in TIME_KINDS:
        validate_generalization(stored, name=f"scores entry {req.path}")
    elif req.kind.stage == "scores":
        validate_scores(stored, name=f"scores entry {req.path}")
    elif req.kind.stage == "metrics":
        validate_metric(stored, name=f"metric entry {req.path}")
    if store.mode == "r" and req.kind.name == "gram":
        return EntryResult(req.path, ds, True, req.provenance)  # a read-only store still scores
    store.write_dataset(req.path, stored)
    return EntryResult(req.path, ds, True, req.provenance)


def _check_inputs_unchanged(store: StudyStore, req: _Request) -> None:
    """Refuse a result whose input sets were rewritten while it was computed (read afresh, past any
    cache): lazy reads may have mixed the two versions, or read a swap's missing chunks as fill
    values, so the numbers are neither the old inputs' nor the new ones'. Nothing is stored."""
    for path, token in req.provenance["inputs"].items():
        if _input_token(store, path, fresh=True) != token:  # as the request read it (None: attrs edited, refused by the read)
            raise StoreError(
                f"store {store.url!r}: set {path!r} was rewritten while entry {req.path!r} was computed from it; "
                f"the result may mix two versions and was not stored. Compute it again."
            )


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    options = {k: kwargs.pop(k) for k in RUN_OPTIONS if k in kwargs}
    return kwargs, options


def score(
    store: StudyStore | str,
    kind: str,
    source: str | SetRef,
    target: str | SetRef | None = None,
    *,
    overwrite: bool = False,
    require_existing: bool = False,
    backend: str | None = None,
    dtype: Any = None,
    **params: Any,
) -> xr.Dataset:
    """Score one entry of a study store (any kind) and return it; see :func:`compute`.

    Parameters
    ----------
    store : StudyStore or str
    kind : str
        ``"forward"``, ``"reverse"``, ``"inter_animal"``, ``"model_to_model"``, ``"crsa"``
        (``"rsa"`` with ``variant=``), ``"ersa"``, ``"ereg"``, ``"shape"``, ``"cka"``,
        ``"dimensionality"``.
    source, target : str or SetRef (``target`` optional)
        Sets: ``"<model>.<layer>"``, ``"<neural>"`` or ``"<neural>.<region>"``. Forward:
        features -> neural; reverse: neural -> features; inter_animal: neural -> neural;
        model_to_model: features -> features; metrics: features -> either.
    overwrite, require_existing, backend, dtype : default False, False, None, None
        As in :func:`compute`.
    **params
        The kind's parameters (``reps``, ``seed``, ``regressor``, ``alpha``, ... ; metrics as in
        :func:`neuroxr.entries.metric_options`), plus ``progress`` / ``keep_predictions``.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> nx.score(store, "forward", "net.conv3", "monkeyA.IT", reps=20)      # doctest: +SKIP
    >>> nx.score(store, "cka", "net.conv3", "monkeyA", debiased=True)       # doctest: +SKIP
    """
    params, options = _split(dict(params))
    variant = params.pop("variant", None)
    if not isinstance(kind, str):
        raise LayoutError(f"score: kind must be the name of an entry kind, one of {tuple(KINDS)}; got {shown(kind)}.")
    name = kind.lower().replace("-", "_")
    if variant is not None and name not in _m.METRIC_NAMES:  # metric_kind would call the kind an unknown metric
        raise ParameterError(f"score: variant={shown(variant)} applies to kind 'rsa' only; got kind {shown(kind)}. Drop it.")
    if name == "rsa" or variant is not None:
        name = _m.metric_kind(name, variant)
    return compute(store, name, source, target, params=params, overwrite=overwrite, require_existing=require_existing,
                   backend=backend, dtype=dtype, options=options).dataset


def score_metric(
    store: StudyStore | str,
    metric: str,
    source: str | SetRef,
    target: str | SetRef | None = None,
    *,
    overwrite: bool = False,
    **params: Any,
) -> xr.Dataset:
    """One metric entry (``rsa`` with ``variant=``, ``crsa``, ``ersa``, ``ereg``, ``shape``, ``cka``,
    ``dimensionality``); :func:`score` restricted to the metrics, with ``metric`` in place of its
    ``kind`` and the same other parameters.

    Examples
    --------
    >>> score_metric(store, "rsa", "netA.layer3", "animalA", variant="ersa", alpha=1.0)  # doctest: +SKIP
    """
    variant = params.pop("variant", None)
    kind = _m.metric_kind(metric, variant)
    return score(store, kind, source, target, overwrite=overwrite, **params)
