"""Store entries: one engine computes and writes every score, metric and Gram entry.

=================  ==================================================================
module             what lives there
=================  ==================================================================
``engine``         :func:`compute`, :func:`lookup`, :func:`score`, :func:`score_metric`
``kinds``          the registry :data:`KINDS` (set kinds, parameters, streaming and Gram rules)
``provenance``     provenance dict and its key
``layout``         entry paths and :func:`list_entries`
``gram``           the cached Gram entry of a feature set
``metrics``        the geometry metric entries (names, options, computations)
``tables``         whole-store tables from entries: :func:`store_dimensionality`, :func:`store_cka`
=================  ==================================================================
"""

from .engine import EntryResult, compute, lookup, score, score_metric
from .kinds import DIRECTION_KINDS, KINDS, METRIC_KINDS, reads_gram, streams
from .layout import list_entries
from .metrics import METRIC_NAMES, RSA_VARIANTS, metric_kind, metric_options, metric_value
from .tables import store_cka, store_dimensionality

__all__ = [
    "EntryResult",
    "compute",
    "lookup",
    "score",
    "score_metric",
    "list_entries",
    "KINDS",
    "DIRECTION_KINDS",
    "METRIC_KINDS",
    "streams",
    "reads_gram",
    "METRIC_NAMES",
    "RSA_VARIANTS",
    "metric_kind",
    "metric_options",
    "metric_value",
    "store_cka",
    "store_dimensionality",
]
