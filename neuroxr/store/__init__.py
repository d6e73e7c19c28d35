"""The study store: Zarr groups, atomic replace, completion markers, version tokens, locks, integrity.

Modules: :mod:`.study` (:class:`StudyStore`, :func:`open_store`), :mod:`.reading` (its reading
half: documents, entries, sets, damage), :mod:`.set_writers` (its sets' writers), :mod:`.atomic` (write aside, then swap), :mod:`.previous`
(object stores: the previous copy kept through a rewrite), :mod:`.lock` (one lock file per entry),
:mod:`.integrity` (damage scan), :mod:`._zarr` (URLs, attribute names, key listing).
"""

from ..errors import StoreError
from ._zarr import (
    COMPLETE_ATTR,
    DATA_VAR,
    NAME_PATTERN,
    STORE_VERSION,
    STORE_VERSION_ATTR,
    TOKEN_ATTR,
    TOP_GROUPS,
    VARS_ATTR,
    _check_name,
    _check_region,
    _jsonable,
)
from .lock import LOCK_EXPIRY, LOCK_TIMEOUT, EntryLock
from .reading import Examined
from .study import StudyStore, open_store

__all__ = [
    "StudyStore",
    "open_store",
    "StoreError",
    "EntryLock",
    "Examined",
    "COMPLETE_ATTR",
    "TOKEN_ATTR",
    "VARS_ATTR",
    "DATA_VAR",
    "NAME_PATTERN",
    "TOP_GROUPS",
    "STORE_VERSION",
    "STORE_VERSION_ATTR",
    "LOCK_EXPIRY",
    "LOCK_TIMEOUT",
    "_check_name",
    "_check_region",
    "_jsonable",
]
