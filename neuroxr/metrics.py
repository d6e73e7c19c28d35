"""Compatibility module: the metric entries now live in :mod:`neuroxr.entries`.

:func:`score_metric` here is the transitional writer of :mod:`neuroxr.sweep` until its tasks call
:func:`neuroxr.entries.compute`: it computes through the entry engine but writes the entry at the
0.1.0 path ``metrics/<metric>/<source>__<target>`` that the sweep reads back. Use
:func:`neuroxr.score` (or :func:`neuroxr.entries.score_metric`) everywhere else.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from .entries.metrics import METRIC_NAMES, RSA_VARIANTS, _check_options, metric_kind, metric_options, metric_value

__all__ = ["METRIC_NAMES", "RSA_VARIANTS", "score_metric", "metric_value", "metric_kind", "metric_options",
           "_check_options"]


def score_metric(store: Any, metric: str, source: str, target: str | None = None, *, overwrite: bool = False,
                 **params: Any) -> xr.Dataset:
    """The metric entry at its 0.1.0 path (for :mod:`neuroxr.sweep` only; see the module docstring)."""
    from .entries.engine import _IO, _label, _open, _prepare, _run

    class _SweepIO(_IO):
        # the sweep caches each layer's Gram at cache/gram/<model>/<layer> in a task of its own,
        # before the metric tasks that read it: read it there (no concurrent Gram writes)
        def gram(self, ref: Any) -> xr.Dataset:
            try:
                from .geometry import cached_gram
            except ImportError:  # geometry without a store cache: the engine's Gram entry
                return super().gram(ref)
            return cached_gram(self.store, ref.model, ref.layer)

    store = _open(store)
    kind = metric_kind(metric, params.pop("variant", None))
    req = _prepare(store, kind, source, target, params, None)
    tgt = None if req.target is None else req.target.name
    if not overwrite and store.has_metric(kind, req.source.name, tgt):
        return store.read_metric(kind, req.source.name, tgt)
    ds = _label(req, _run(req, _SweepIO(store, None), None, {}))
    store.write_metric(kind, req.source.name, tgt, ds)
    return ds
