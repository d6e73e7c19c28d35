"""Compatibility module: the metric entries now live in :mod:`neuroxr.entries`."""

from .entries.engine import score_metric
from .entries.metrics import METRIC_NAMES, RSA_VARIANTS, _check_options, metric_kind, metric_options, metric_value

__all__ = ["METRIC_NAMES", "RSA_VARIANTS", "score_metric", "metric_value", "metric_kind", "metric_options",
           "_check_options"]
