"""Where entries live in a study store, and listing them.

Layout by stage (every entry is a Zarr group whose last path component is its provenance key)::

    scores/<direction>/<source>__<target>/<key>     the four directions
    metrics/<metric>/<source>__<target>/<key>       crsa, ersa, ereg, shape, cka
    metrics/dimensionality/<source>/<key>           one set
    inference/<kind>/<source>__<target>/<key>       bootstrap / permutation of a direction
    cache/gram/<model>/<layer>/<key>                the Gram of a feature set

Stores written by neuroxr 0.1.0 hold the entry group directly at the pair path
(``scores/<direction>/<source>__<target>``); such entries are listed as ``legacy`` and never
taken as a match for a request. Keyed entries computed later for the same pair live inside that
group and are listed too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd

from . import provenance as _p

__all__ = ["pair_path", "entry_path", "iter_entries", "list_entries", "LIST_COLUMNS"]

COMPLETE_ATTR = "neuroxr_complete"
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")
#: the fixed columns of :func:`list_entries` (parameter columns follow)
LIST_COLUMNS = ("kind", "source", "target", "path", "key", "complete", "legacy", "current")


def pair_path(stage: str, kind: str, source: Any, target: Any | None) -> str:
    """The group holding every entry of ``(kind, source, target)`` (one per provenance key)."""
    if stage == "cache":
        return f"cache/{kind}/{source.model}/{source.layer}"
    src = getattr(source, "name", source)
    if target is None:
        return f"{stage}/{kind}/{src}"
    return f"{stage}/{kind}/{src}__{getattr(target, 'name', target)}"


def entry_path(stage: str, kind: str, source: Any, target: Any | None, key: str) -> str:
    """The path of one entry: :func:`pair_path` + ``/<key>``."""
    return f"{pair_path(stage, kind, source, target)}/{key}"


def _is_entry(g: Any) -> bool:
    """A group is an entry (not a pair group) when it holds arrays or a completion marker."""
    return COMPLETE_ATTR in g.attrs or any(True for _ in g.arrays())


def _groups(g: Any) -> list[tuple[str, Any]]:
    return sorted(g.groups(), key=lambda t: t[0])


def _get(store: Any, path: str) -> Any:
    try:
        return store._root[path]
    except KeyError:
        return None


def iter_entries(store: Any) -> Iterator[dict[str, Any]]:
    """Every score, metric and Gram entry of a store, complete or not, as a dict with ``kind``,
    ``source``, ``target``, ``path``, ``key``, ``complete``, ``legacy`` and ``provenance``."""
    pairs: list[tuple[str, str, str | None, str, Any]] = []
    for stage in ("scores", "metrics", "inference"):
        top = _get(store, stage)
        if top is None:
            continue
        for kind, kg in _groups(top):
            for pair, pg in _groups(kg):
                if kind == "dimensionality" or "__" not in pair:
                    src, tgt = pair, None
                else:
                    src, _, tgt = pair.partition("__")
                pairs.append((kind, src, tgt, f"{stage}/{kind}/{pair}", pg))
    gram = _get(store, "cache/gram")
    if gram is not None:
        for model, mg in _groups(gram):
            for layer, lg in _groups(mg):
                pairs.append(("gram", f"{model}.{layer}", None, f"cache/gram/{model}/{layer}", lg))
    for kind, src, tgt, path, pg in pairs:
        legacy = _is_entry(pg)
        if legacy:
            yield {"kind": kind, "source": src, "target": tgt, "path": path, "key": None,
                   "complete": bool(pg.attrs.get(COMPLETE_ATTR, False)), "legacy": True, "provenance": None}
        for key, g in _groups(pg):
            if legacy and not _KEY_RE.match(key):  # a group inside a 0.1.0 entry, not a keyed entry
                continue
            prov = g.attrs.get(_p.PROVENANCE_ATTR)
            yield {"kind": kind, "source": src, "target": tgt, "path": f"{path}/{key}", "key": key,
                   "complete": bool(g.attrs.get(COMPLETE_ATTR, False)), "legacy": False,
                   "provenance": dict(prov) if prov else None}


def list_entries(store: Any) -> pd.DataFrame:
    """Every score, metric and Gram entry of a store, one row each.

    Parameters
    ----------
    store : StudyStore or str
        The store, or its path (opened read-only).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LIST_COLUMNS` (``current``: its input sets were not rewritten since, and
        it is neither legacy nor incomplete) then one column per parameter (``params.<name>``
        values, NaN where a kind lacks it).
    """
    from ..store import StudyStore

    if not isinstance(store, StudyStore):
        store = StudyStore(store, mode="r")
    rows = []
    tokens: dict[str, str | None] = {}
    for e in iter_entries(store):
        prov = e.pop("provenance") or {}
        current = bool(e["complete"] and not e["legacy"] and prov)
        for path, tok in prov.get("inputs", {}).items():
            if path not in tokens:
                tokens[path] = store.token(path)
            current = current and tok is not None and tokens[path] == tok
        e["current"] = current
        for k, v in prov.get("params", {}).items():
            e[k] = v if not isinstance(v, list) else tuple(v)
        rows.append(e)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(LIST_COLUMNS))
    params = [c for c in df.columns if c not in LIST_COLUMNS]
    for c in params:  # keep ints as ints and bools as bools (NaN where a kind lacks the parameter)
        df[c] = pd.Series([r.get(c, float("nan")) for r in rows], dtype=object)
    return df[list(LIST_COLUMNS) + params].reset_index(drop=True)
