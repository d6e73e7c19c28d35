"""The command line's JSON: strict JSON text (``--json``) of results and of tables, NaN as ``null``."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["records", "to_json"]


def _plain(v: Any) -> Any:
    if hasattr(v, "tolist") and getattr(v, "ndim", 0):  # an array (its item() is a scalar's only)
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _finite(v: Any) -> Any:
    """``v`` with every NaN or infinite float (nested in dicts, lists, tuples, NumPy values) as ``None``."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "item") or hasattr(v, "tolist"):
        return _finite(_plain(v))
    return v


def to_json(obj: Any) -> str:
    """``obj`` as strict JSON text: NaN and infinities become ``null``, NumPy values plain values.

    Parameters
    ----------
    obj : Any
        A JSON-like object (dicts, lists, numbers, strings, NumPy scalars or arrays).

    Returns
    -------
    str
        One line of valid JSON (``json.dumps`` with ``allow_nan=False`` as the guard).
    """
    return json.dumps(_finite(obj), default=lambda v: _finite(_plain(v)), allow_nan=False)


def records(df: Any) -> list[dict[str, Any]]:
    """A table (``pandas.DataFrame``) as JSON records, missing values (NaN, ``pd.NA``) as ``None`` and
    every number exact (pandas' ``to_json`` rounds to 10 digits: an ``alpha`` of 1e-11 read 0.0)."""
    import pandas as pd

    def cell(v: Any) -> Any:
        return None if v is None or v is pd.NA or v is pd.NaT else _finite(v)

    return [{str(k): cell(v) for k, v in row.items()} for row in df.astype(object).to_dict("records")]
