"""Figures of neuroxr's labeled results.

Every function takes labeled arrays directly (the score Datasets of :mod:`neuroxr.predictivity`,
the RDMs and distance matrices of :mod:`neuroxr.geometry`, the tables of a sweep turned into
arrays) and returns a :class:`matplotlib.figure.Figure`. Figures are built with
``matplotlib.figure.Figure`` (not ``pyplot``), so nothing is registered with a GUI backend: the
caller saves or displays them (a notebook displays a returned Figure; ``fig.savefig(path)``
writes a file).

Conventions
-----------
- A *score* argument is a score ``Dataset`` (the variable ``variable``, ``"ev"`` by default, is
  used), a ``DataArray``, or a plain 1-D array. A ``rep`` dim is averaged away first (NaN-mean:
  the score ``reverse_pred`` reports is the mean over reps), and NaN targets are dropped.
- Where a function accepts a mapping ``label -> scores``, each entry is one model / layer /
  pair, and the labels name it in the figure.
- Functions that draw one panel accept ``ax=`` to draw into an existing Axes; the returned
  Figure is then that Axes' figure.


Modules
-------
scores    :func:`forward_vs_reverse`, :func:`layer_profile`, :func:`reliability_histogram`
geometry  :func:`rdm_heatmap`, :func:`distance_matrix`, :func:`embed`, :func:`embedding`
summary   :func:`best_layer_intervals`, :func:`metric_profile` (the report's headline and metric figures)
time      :func:`score_vs_time`, :func:`temporal_generalization_heatmap`, :func:`temporal_generalization_figures`
inference :func:`layer_profile_ci`, :func:`forward_vs_reverse_ci` (bootstrap intervals, significance marks)
"""

from ._common import TARGET_DIMS
from .geometry import distance_matrix, embed, embedding, rdm_heatmap
from .inference import forward_vs_reverse_ci, layer_profile_ci
from .scores import forward_vs_reverse, layer_profile, reliability_histogram
from .summary import best_layer_intervals, metric_profile
from .time import score_vs_time, temporal_generalization_figures, temporal_generalization_heatmap

__all__ = [
    "TARGET_DIMS",
    "layer_profile_ci",
    "forward_vs_reverse_ci",
    "forward_vs_reverse",
    "layer_profile",
    "rdm_heatmap",
    "distance_matrix",
    "embed",
    "embedding",
    "reliability_histogram",
    "best_layer_intervals",
    "metric_profile",
    "score_vs_time",
    "temporal_generalization_figures",
    "temporal_generalization_heatmap",
]
