"""Representational geometry on labeled arrays: RDMs, RSA, CKA, dimensionality, shape metrics.

Inputs follow neuroxr's layouts (features ``stimulus x unit``, neural ``stimulus x neuroid x
repeat``, see :mod:`neuroxr.layouts`); two objects are always paired by ``stimulus_id``, and every
seeded draw is made over the canonical stimulus order (:func:`canonical_order`). The numerics
live in :mod:`neuroxr.kernels`; these modules add names, coordinates, alignment and parameters
in ``attrs``, and never touch a study store:

- :mod:`~neuroxr.geometry.gram`: labeled Gram statistics (:func:`gram`, :func:`gram_stats`);
- :mod:`~neuroxr.geometry.rdm`: RDMs, split-half RDMs, comparisons; :mod:`~neuroxr.geometry.rdm_stack`:
  stacks of RDMs; :mod:`~neuroxr.geometry.rdm_ceiling`: noise ceilings;
- :mod:`~neuroxr.geometry.rsa`: classical RSA, encoding RSA, encoding regression;
- :mod:`~neuroxr.geometry.cka`, :mod:`~neuroxr.geometry.dimensionality`;
- :mod:`~neuroxr.geometry.shape`: pairwise distances, Procrustes average;
  :mod:`~neuroxr.geometry.shape_metric`: :class:`LinearMetric`;
- :mod:`~neuroxr.geometry.cluster`: Procrustes k-means, hierarchical clusters and MDS of a cohort;
- :mod:`~neuroxr.geometry.relative`: relative representations (similarities to anchors).

RDMs are ``DataArray`` objects with dims ``(stimulus, stimulus_)``; the first dim carries
``stimulus_id``, the second ``stimulus_id_`` (the same ids).
"""

from __future__ import annotations

from ._common import RDM_DIMS, _neural_mean, _train_test, canonical_order, split_train_test
from .cka import cka
from .cluster import cluster_distances, embed_distances, kmeans_plusplus_init, procrustes_kmeans
from .dimensionality import effective_dimensionality
from .gram import gram, gram_stats
from .rdm import as_rdm, compare_rdms, rdm, split_half_rdms
from .rdm_ceiling import rdm_noise_ceiling, split_half_rdm_ceiling
from .rdm_stack import compare_rdms_many
from .relative import anchor_weights, relative_features
from .rsa import crsa, ereg, ersa
from .shape import LinearMetric, pairwise_distances, procrustes_average, split_distance

__all__ = [
    "RDM_DIMS",
    "canonical_order",
    "split_train_test",
    "gram",
    "gram_stats",
    "rdm",
    "as_rdm",
    "split_half_rdms",
    "compare_rdms",
    "compare_rdms_many",
    "rdm_noise_ceiling",
    "split_half_rdm_ceiling",
    "crsa",
    "ersa",
    "ereg",
    "cka",
    "effective_dimensionality",
    "LinearMetric",
    "pairwise_distances",
    "split_distance",
    "procrustes_average",
    "procrustes_kmeans",
    "kmeans_plusplus_init",
    "cluster_distances",
    "embed_distances",
    "relative_features",
    "anchor_weights",
]

# private helpers other modules still import from neuroxr.geometry
_PRIVATE = (_neural_mean, _train_test)
