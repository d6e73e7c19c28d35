"""Linear centred kernel alignment (CKA, Kornblith et al. 2019) of two labeled representations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from ..backend import to_numpy
from ..errors import too_few_stimuli, warn
from ..kernels import gram as _g
from ._common import (
    RDM_DIMS,
    _canonical_any,
    _columns_as_rows,
    _drop_unusable,
    _is_neural,
    _named,
    _one_bin,
    _plain,
    _scalar_da,
    input_labels,
)
from .dimensionality import _check_debiased, centred_over_kept, warn_constant
from .gram import _stats_and_ids
from .rdm import _align_rdm

__all__ = ["cka"]


def _centred_gram(obj: Any, name: str, caller: str, backend: str | None = None) -> tuple[np.ndarray, np.ndarray, _g.GramStats]:
    """Column-centred Gram ``(n, n)``, stimulus ids and the Gram statistics (for
    :func:`~neuroxr.kernels.gram.constant_features`) of features, neural data (as
    :func:`~neuroxr.geometry._common._drop_unusable` returned them) or a Gram Dataset; ``caller``
    (the public function called) prefixes the messages."""
    shown = _named(obj, name)
    _one_bin(obj, shown, caller)
    if isinstance(obj, xr.Dataset):  # a Gram's two axes paired first, the message naming the argument
        obj = _columns_as_rows(obj, f"{caller}: {shown}")
    obj = _canonical_any(obj)
    stats, ids, kind = _stats_and_ids(obj, backend, f"{caller}: {shown}", row_pass=False)
    stats = centred_over_kept(obj, stats, kind)  # a cut Gram judged constant on the stimuli kept
    return np.asarray(to_numpy(stats.K)), ids, stats


def _without_centred(K: np.ndarray, ids: np.ndarray, stats: _g.GramStats, dropped: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """A centred Gram (of a Gram Dataset) without the stimuli ``dropped`` from the other input,
    centred again over the stimuli kept (``H K[S, S] H``, the Gram of the column-centred subset),
    and whether the features are constant on the stimuli kept (up to rounding,
    :func:`~neuroxr.kernels.gram.constant_features` of those rows: features that vary only at a
    dropped stimulus are constant)."""
    keep = ~np.isin(ids, dropped)
    if keep.all():
        return K, ids, _g.constant_features(stats)
    rows = np.flatnonzero(keep)
    return np.asarray(to_numpy(_g.double_center(K[np.ix_(keep, keep)]))), ids[keep], _g.constant_features(stats, rows=rows)


def cka(a: xr.DataArray | xr.Dataset, b: xr.DataArray | xr.Dataset, debiased: bool = False) -> xr.DataArray:
    """Linear CKA between two labeled representations, paired by ``stimulus_id``.

    ``CKA = ||Ka Kb||_HSIC / sqrt(||Ka Ka|| ||Kb Kb||)`` of the column-centred Grams (Kornblith et
    al. 2019); ``debiased=True`` uses the unbiased HSIC estimator (Song et al. 2012).

    Parameters
    ----------
    a, b : features DataArray (stimulus, unit), neural DataArray (stimulus, neuroid, repeat) or Gram Dataset
        Neural data is trial-averaged for you (NaN-mean over repeats), with a
        :class:`~neuroxr.errors.NeuroxrWarning` saying so; stimuli without a trial in any neuroid
        are dropped from both inputs, then neuroids lacking a trial for some stimulus (one warning).
    debiased : bool, default False
        A bool (a string such as ``"no"`` is refused).

    Returns
    -------
    xarray.DataArray, 0-d float64, named ``cka``
        In ``[0, 1]`` (debiased: may fall slightly below 0); 1 = the same geometry up to rotation
        and isotropic scaling. NaN (undefined) when ``a`` or ``b`` is constant (no variance across
        the stimuli up to rounding, as in :func:`~neuroxr.geometry.effective_dimensionality`), with
        a :class:`~neuroxr.errors.NeuroxrWarning` naming it. Fewer than 3 shared stimuli (4 when
        debiased) are refused: with 2, every CKA is 1. ``float(res)`` is the number; attrs
        ``debiased`` (0 / 1), ``n_stimuli``, ``n_excluded_stimuli``, ``n_excluded_neuroids`` and
        ``source`` / ``target`` (the labels of ``a`` / ``b``, :func:`neuroxr.sets.set_label`: ``model.layer``, else their names).
    """
    debiased = _check_debiased(debiased, "cka")
    labels = input_labels(source=a, target=b)
    Ka, Kb, _, const, counts = _paired_grams(a, b, "cka", 3 + int(debiased))
    value = float(_g.linear_cka(Ka, Kb, debiased=debiased, centred=True))
    if math.isnan(value) and not any(const):
        warn_constant("cka", [(_named(a, "a"), False), (_named(b, "b"), False)], "CKA")
    return _scalar_da(value, "cka", {"debiased": int(debiased), "n_stimuli": int(Ka.shape[0]), **counts, **labels})


def _paired_grams(a: Any, b: Any, caller: str,
                  need: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[bool, bool], dict[str, int]]:
    """The centred Grams of ``a`` and ``b`` paired by ``stimulus_id`` (canonical order), the ids,
    whether each is constant and the counts of the stimuli and neuroids left out (``n_excluded_*``); a ``LayoutError`` when the two do not hold the same stimuli
    or share fewer than ``need`` (3; 4 for the debiased estimator). The Gram
    of an input constant up to rounding is zero, as an exactly constant one's (every CKA of it NaN),
    with the warning (:func:`~neuroxr.geometry.dimensionality.warn_constant`) naming it."""
    na, nb = _named(a, "a"), _named(b, "b")
    (a, b), counts, dropped = _drop_unusable([(a, na), (b, nb)], caller)
    Ka, ia, ca = _without_centred(*_centred_gram(a, "a", caller), dropped)
    Kb, ib, cb = _without_centred(*_centred_gram(b, "b", caller), dropped)
    if not np.array_equal(ia, ib):  # pair first: unpaired inputs get the one refusal, no warning
        ref = xr.DataArray(Ka, dims=RDM_DIMS, coords={"stimulus_id": ("stimulus", ia), "stimulus_id_": ("stimulus_", ia)})
        other = xr.DataArray(Kb, dims=RDM_DIMS, coords={"stimulus_id": ("stimulus", ib), "stimulus_id_": ("stimulus_", ib)})
        Kb = np.asarray(_align_rdm(ref, other, (na, nb), caller).values)
    for obj, arg in ((a, "a"), (b, "b")):
        if _is_neural(obj) and _plain(obj).sizes["repeat"] > 1:  # one repeat (trial-averaged): nothing averaged
            warn(f"{caller}: {_named(obj, arg)} is neural data (stimulus, neuroid, repeat); its repeats are averaged (NaN-mean) first.")
    if ca or cb:
        warn_constant(caller, [(na, ca), (nb, cb)], "CKA")
        Ka, Kb = (np.zeros_like(K) if c else K for K, c in ((Ka, ca), (Kb, cb)))
    if Ka.shape[0] < need:
        raise too_few_stimuli(caller, f"{na} and {nb}", Ka.shape[0], "the debiased estimator" if need > 3 else "CKA",
                              "every CKA is 1" if Ka.shape[0] == 2 and need == 3 else "", need,
                              "pass representations of at least {need} stimuli.")
    return Ka, Kb, ia, (ca, cb), counts
