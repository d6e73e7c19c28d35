"""Provenance of an entry: what identifies its numbers, and the short key it is stored under.

The provenance of an entry is the canonical JSON of

- ``kind``, ``source``, ``target`` (set names);
- ``params``: every parameter of the kind with its defaults filled in (so ``reps=20`` given
  equals the default), :meth:`neuroxr.entries.kinds.Kind.fill`; an estimator object (e.g. a
  scikit-learn ``Pipeline`` as ``regressor``) is its canonical identity: class path,
  ``get_params(deep=True)`` described recursively and its classes' code (package versions, or a
  hash of local code; :func:`neuroxr.kernels.regressors.regressor_identity`, :mod:`neuroxr.identity`),
  so two equal pipelines key one entry and two that can compute different numbers two entries;
  a non-finite float is ``{"float": "nan"}``;
- ``inputs``: for every set the entry reads, its store path and version token
  (:meth:`neuroxr.StudyStore.token`, a fresh uuid per completed write; a region subset records
  its neural set's token; a feature set read through its Gram records the feature set's token);
- ``revision``: the kind's revision (:attr:`neuroxr.entries.kinds.Kind.revision`), present only
  once a fix has changed the kind's numbers, so entries of the other kinds keep their keys;
- ``packages``: the versions of other libraries whose code computes the entry (scikit-learn for a
  named lasso, elasticnet, pls or ridgecv fit and for Brain-Score's PLS), present only then.

Its key is the first 16 hex digits of the SHA-256 of that JSON; it is the last component of the
entry's path. An entry whose inputs have no token (sets written by neuroxr 0.1.0) is never taken
as a match, nor is one holding a parameter whose state :mod:`neuroxr.identity` cannot read: it is
recomputed (in place) every time it is asked for.
"""

from __future__ import annotations

import functools
import json
import math
import platform
from collections.abc import Mapping
from typing import Any

from ..store._zarr import short_hash

__all__ = ["PROVENANCE_ATTR", "KEY_ATTR", "FORMAT", "make", "inputs", "key", "keys_match", "differences", "is_trusted", "canonical",
           "relevant", "without"]

#: attr of an entry holding its provenance (a dict)
PROVENANCE_ATTR = "neuroxr_provenance"
#: attr of an entry holding its provenance key
KEY_ATTR = "provenance_key"
#: version of the provenance format
FORMAT = 1


def make(kind: str, source: str, target: str | None, params: Mapping[str, Any],
         inputs: Mapping[str, str | None], revision: int = 0,
         packages: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The provenance dict of an entry (JSON-ready); ``packages``: the versions of the libraries
    whose code computes it beside neuroxr's (e.g. scikit-learn for a named lasso or PLS fit)."""
    prov = {
        "format": FORMAT,
        "kind": kind,
        "source": source,
        "target": target,
        "params": _finite({k: _canon(v) for k, v in sorted(params.items())}),
        "inputs": {k: inputs[k] for k in sorted(inputs)},
    }
    if revision:
        prov["revision"] = int(revision)
    if packages:
        prov["packages"] = {k: str(packages[k]) for k in sorted(packages)}
    return prov


def inputs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The input sets an entry read, ``{set path: its version token}``, from the entry's (decoded) attrs;
    ``{}`` where they hold no provenance or a malformed one (an entry of 0.1.0, attrs edited by hand)."""
    prov = (attrs or {}).get(PROVENANCE_ATTR)
    found = prov.get("inputs") if isinstance(prov, Mapping) else None
    return dict(found) if isinstance(found, Mapping) else {}


def _canon(v: Any) -> Any:
    """``v`` as canonical JSON-ready data (estimators by class path and parameters, never by address)."""
    if hasattr(v, "get_params") and not isinstance(v, type):
        from ..kernels.regressors import regressor_identity

        return regressor_identity(v)
    if isinstance(v, Mapping) and all(isinstance(k, str) for k in v):
        return {str(k): _canon(x) for k, x in v.items()}
    if isinstance(v, Mapping):  # other keys by their value (1 and "1" are other keys), as identity records them
        items = [[_canon(k), _canon(x)] for k, x in v.items()]
        return {"dict": sorted(items, key=lambda kx: json.dumps(kx[0], sort_keys=True, default=repr))}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        try:
            return v.item()
        except (TypeError, ValueError):
            pass
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    from ..identity import identity

    return identity(v)  # functions by path and content, other objects by class and state


def _finite(v: Any) -> Any:
    """Non-finite floats as ``{"float": "nan" | "inf" | "-inf"}``: a NaN parameter (e.g. an imputer's
    ``missing_values``) equals itself after the JSON round trip, so its entry can be found again."""
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def canonical(value: Any) -> Any:
    """A parameter value as it enters the provenance (JSON-ready; estimators by identity)."""
    return _finite(_canon(value))


def key(prov: Mapping[str, Any]) -> str:
    """The short hash (16 hex digits) of the canonical JSON of a provenance
    (:func:`~neuroxr.store._zarr.short_hash`, strict: a provenance holds JSON values only)."""
    return short_hash(prov)


def keys_match(prov: Mapping[str, Any] | None, entry_key: str | None) -> bool:
    """Whether a stored provenance hashes to the key its entry lies under. Not: its attrs were edited
    after the write, so the parameters or input tokens it shows are not those of its numbers (no
    request reaches it; listings call it stale, ``neuroxr validate`` names it)."""
    return bool(prov) and entry_key is not None and key(prov) == entry_key


def is_trusted(prov: Mapping[str, Any]) -> bool:
    """Whether a provenance may be matched: every input has a version token (0.1.0 sets have none)
    and every parameter is identified (:func:`neuroxr.identity.identified`: a value whose state
    :mod:`neuroxr.identity` cannot read is ``{"unidentified": <type>}``, whatever that state). An
    untrusted provenance is never a match: its entry is computed every time it is asked for."""
    from ..identity import identified

    return all(tok is not None for tok in prov.get("inputs", {}).values()) and identified(prov.get("params", {}))


def differences(wanted: Mapping[str, Any], found: Mapping[str, Any], revision_now: int | None = None,
                packages_now: Mapping[str, str] | None = None) -> list[str]:
    """Human-readable differences between two provenances: each differing parameter
    (``reps: 5 (existing) != 7 (asked)``), each input set rewritten since, and another revision (an
    entry of an earlier release of neuroxr, computed before a fix that changed its kind's numbers).

    ``revision_now``: the revision the existing entry's own parameters get now; when it is the
    entry's, a revision that differs from the asked one follows from the parameters (listed), not
    from another release, and is not named; ``packages_now`` likewise: the packages the entry's own
    parameters get now (a scikit-learn fit's), equal to the entry's, are not named."""
    old, new = found.get("revision", 0), wanted.get("revision", 0)
    out = [] if old == new or old == revision_now else [  # the one wording of a revision difference (the store's refusals show it)
        f"revision: {old} (existing) != {new} (asked): computed by "
        + ("an earlier release of neuroxr, before" if old < new else "a later release of neuroxr, after")
        + " a fix that changed this kind's numbers, so it must be recomputed"]
    from ..identity import identified

    unread = sorted(k for k, v in wanted.get("params", {}).items() if not identified(v))
    if unread:  # equal or not, such a request is never matched: say why
        out.append(f"{', '.join(unread)}: holds a value whose state cannot be read (an entry keyed by it is "
                   "never reused; pass plain values, arrays or estimators)")
    follows = packages_now is not None and dict(packages_now) == found.get("packages", {})  # from the parameters
    if wanted.get("packages", {}) != found.get("packages", {}) and not follows:
        out.append(f"packages: {found.get('packages', {})} (existing) != {wanted.get('packages', {})} (asked)")
    wp, fp = wanted.get("params", {}), found.get("params", {})
    for k in sorted(set(wp) | set(fp)):
        if wp.get(k, "<absent>") != fp.get(k, "<absent>"):
            out.append(f"{k}: {fp.get(k, '<absent>')!r} (existing) != {wp.get(k, '<absent>')!r} (asked)")
    wi, fi = wanted.get("inputs", {}), found.get("inputs", {})
    for k in sorted(set(wi) | set(fi)):
        if wi.get(k) is None or wi.get(k) != fi.get(k):
            out.append(f"input {k}: rewritten since the entry was computed (or of unknown version)")
    return out


def versions_installed(prov: Mapping[str, Any]) -> bool:
    """Whether every library version ``prov`` records is the installed one: its ``packages`` (a named
    scikit-learn fit's, Brain-Score's PLS) and those in its parameters' identities (an estimator's
    class, a function or module of an installed distribution, :mod:`neuroxr.identity`). An entry
    computed under another version no request reaches (``compute`` recomputes it), so a listing
    must not call it current."""
    recorded = [f"{k}=={v}" for k, v in prov.get("packages", {}).items()]
    stack = [prov.get("params", {})]
    while stack:
        v = stack.pop()
        if isinstance(v, Mapping):
            if {"class", "callable", "module"} & set(v):  # an identity record: its packages
                for key in ("package", "packages"):
                    got = v.get(key)
                    recorded += [got] if isinstance(got, str) else [x for x in (got or []) if isinstance(x, str)]
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return all(installed_version(name) == version for item in recorded for name, _, version in
               (part.partition("==") for part in item.split()))


@functools.cache
def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (``python``: the interpreter's; ``None``: absent),
    read once per process: the code a process runs is the one it imported."""
    if name == "python":
        return platform.python_version()
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _inert(kind: str, params: Mapping[str, Any]) -> set[str]:
    """The parameters of ``params`` that take no part in its numbers (each at its default there, as the
    checks refuse it otherwise): the penalty options the regressor does not read (``n_components``
    of a ridge fit), ``dtype`` beside ridge and linear, and without a noise ceiling (``False``) the
    options that draw and judge its halves (``split``, ``min_reliability``; brainscore's ``ceiling_mode``)."""
    from ..kernels.regressors import unread_options

    out = set()
    if "regressor" in params:
        out |= set(unread_options(params["regressor"]))
        out |= set() if params["regressor"] in ("ridge", "linear") else {"dtype"}
    if params.get("noise_ceiling") is False:
        out |= {"split", "min_reliability"}
    if kind == "brainscore" and params.get("ceiling") is False:
        out.add("ceiling_mode")
    return out & set(params)


def relevant(kind: str, asked: Mapping[str, Any], found: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two provenances without the parameters inert on either side (:func:`_inert`; e.g. PLS's
    ``n_components`` against a ridge request): their differences name what takes part in both
    computations. Where only inert parameters differ, all of them are kept (nothing else to name)."""
    wp, fp = dict(asked.get("params", {})), dict(found.get("params", {}))
    skip = _inert(kind, wp) | _inert(kind, fp)
    keep = {k: v for k, v in wp.items() if k not in skip}, {k: v for k, v in fp.items() if k not in skip}
    if keep[0] == keep[1] and wp != fp:
        return dict(asked), dict(found)
    return {**asked, "params": keep[0]}, {**found, "params": keep[1]}


def without(provenance: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``provenance`` without its item ``key``."""
    return {k: v for k, v in provenance.items() if k != key}
