"""Geometry metric entries: names, options, and how each metric is computed from store sets.

=================  ==============================================  =========================================
metric             entry group                                     ``score``
=================  ==============================================  =========================================
``crsa``           ``metrics/crsa/<source>__<target>/<key>``       RDM similarity (also ``ceiling``,
                                                                   ``ceiled_score`` with a split-half ceiling)
``ersa``           ``metrics/ersa/<source>__<target>/<key>``       over ``split`` (train, test): RDM of the
                                                                   encoding predictions vs the target RDM
``ereg``           ``metrics/ereg/<source>__<target>/<key>``       mean out-of-fold Pearson r (``r`` per neuroid)
``shape``          ``metrics/shape/<source>__<target>/<key>``      over ``split`` (train, test): LinearMetric
                                                                   distance (lower = more similar)
``cka``            ``metrics/cka/<source>__<target>/<key>``        linear CKA (or its debiased form)
``dimensionality`` ``metrics/dimensionality/<source>/<key>``       effective dimensionality
``brainscore``     ``metrics/brainscore/<source>__<target>/<key>`` Brain-Score's ceiled PLS score (``raw``,
                                                                   ``ceiling``; neural targets only)
=================  ==============================================  =========================================

Sources of the pairwise metrics are feature sets; targets are neural sets or region subsets
(trial-averaged with a NaN-mean over repeats) or feature sets. ``dimensionality`` takes one set of
either kind. Feature sets enter cRSA, CKA and dimensionality through their cached Gram entry.

The *reported* value of an entry is :func:`metric_value`: ``score`` at ``split="test"`` when the
entry has a train/test split, else ``score``. Layer selection should use the ``train`` value.

The functions ``compute_<metric>`` here never touch the store: they receive the sets (and a
callable that returns a feature set's cached Gram) from :mod:`neuroxr.entries.engine`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from .. import geometry as _geo
from ..errors import LayoutError, ParameterError, shown, where
from ..geometry._common import _Checked, _drop_unusable, _named, _plain, _without
from ..geometry.inference import CKA_BOOT_DEFAULT, SHAPE_BOOT_DEFAULT
from ..geometry.rdm import _rdm
from ..geometry.rsa import COMPARE_DEFAULT, _ereg, draws_ceiling
from ..layouts import METRICS, SINGLE_SET_METRICS

__all__ = [
    "METRIC_NAMES",
    "RSA_VARIANTS",
    "metric_kind",
    "metric_options",
    "check_params",
    "metric_value",
    "METRIC_INFERENCE_KINDS",
    "metric_inference_options",
    "check_inference_params",
    "compute_inference",
]

#: The RSA variants (each its own metric entry group).
RSA_VARIANTS = ("crsa", "ersa", "ereg")
#: Names a caller may ask for: ``rsa`` (the variant given by ``variant``, default ``crsa``), the
#: RSA variants by name, ``shape``, ``cka``, ``dimensionality``.
METRIC_NAMES = ("rsa",) + METRICS
_RSA_FUNCTIONS: dict[str, Callable[..., xr.Dataset]] = {"crsa": _geo.crsa, "ersa": _geo.ersa, "ereg": _geo.ereg}
_SHAPE_DEFAULTS = {"alpha": 1.0, "center_columns": True, "zero_pad": True, "score_method": "angular",
                   "test_size": 0.5, "seed": 0}
_CKA_DEFAULTS = {"debiased": False}


def metric_kind(metric: str, variant: str | None = None) -> str:
    """The metric entry group a request is written to.

    Parameters
    ----------
    metric : str
        One of :data:`METRIC_NAMES` (``-`` may stand for ``_``; case is ignored).
    variant : {"crsa", "ersa", "ereg"}, optional
        The RSA variant when ``metric == "rsa"`` (default ``"crsa"``).

    Returns
    -------
    str
        One of :data:`neuroxr.layouts.METRICS`.
    """
    m = str(metric).lower().replace("-", "_")
    if m not in METRIC_NAMES:
        raise ParameterError(f"unknown metric {shown(metric)}; choose one of {METRIC_NAMES} (rsa = crsa, ersa or ereg by variant).")
    if m == "rsa":
        v = "crsa" if variant is None else str(variant).lower()
        if v not in RSA_VARIANTS:
            raise LayoutError(f"unknown RSA variant {shown(variant)}; choose one of {RSA_VARIANTS}.")
        return v
    if variant is not None and m != variant:
        raise ParameterError(f"variant={shown(variant)} applies to metric 'rsa' only; got metric {shown(metric)}.")
    return m


def metric_options(metric: str) -> dict[str, Any]:
    """The options a metric accepts and their defaults.

    Parameters
    ----------
    metric : str
        One of :data:`neuroxr.layouts.METRICS` (or ``rsa``).

    Returns
    -------
    dict
        Option name -> default. ``crsa``'s ``noise_ceiling=None`` means: a split-half ceiling when the
        target is a neural set with at least 2 repeats.
    """
    kind = metric_kind(metric)
    if kind in RSA_VARIANTS:
        fn = _RSA_FUNCTIONS[kind]
        out = {n: p.default for n, p in inspect.signature(fn).parameters.items()
               if n not in ("features", "neural", "backend") and p.kind is p.POSITIONAL_OR_KEYWORD}
        if kind == "crsa":
            out["noise_ceiling"] = None
        return out
    if kind == "brainscore":
        return _brainscore_defaults()
    return dict({"shape": _SHAPE_DEFAULTS, "cka": _CKA_DEFAULTS, "dimensionality": {}}[kind])


def _brainscore_defaults() -> dict[str, Any]:
    """The parameters of :func:`neuroxr.predictivity.brainscore` after ``features`` and ``neural``."""
    from ..predictivity import brainscore

    return {n: p.default for n, p in inspect.signature(brainscore).parameters.items() if n not in ("features", "neural")}


def _param_checks() -> dict[str, Callable[..., dict[str, Any]]]:
    """metric -> the parameter check its function runs before reading any data (keyword arguments:
    the metric's options; returns them spelled once)."""
    from ..geometry.dimensionality import _check_debiased
    from ..geometry.rsa import check_crsa_params, check_ereg_params, check_ersa_params
    from ..geometry.shape import check_split_distance_params
    from ..predictivity.brainscore import check_brainscore_params

    return {"crsa": check_crsa_params, "ersa": check_ersa_params, "ereg": check_ereg_params,
            "shape": check_split_distance_params, "cka": lambda debiased: {"debiased": _check_debiased(debiased, "cka")},
            "brainscore": check_brainscore_params}


#: The function a metric's parameter check speaks as, where its name is not the metric's (its
#: messages start with it; an entry's message names the metric instead).
_CHECK_SPEAKS_AS = {"shape": "split_distance"}


def check_params(kind: str, params: Mapping[str, Any], caller: str | None = None) -> dict[str, Any]:
    """A metric entry's parameters checked by the metric function's own checks, before any data is read.

    Every caller (:func:`neuroxr.compute`, ``neuroxr score``, a sweep's ``metric_options``) goes
    through here (:meth:`neuroxr.entries.kinds.Kind.fill`), so they refuse the same values with the
    same message, and the entry key holds each value in one spelling: a flag as a bool (a string
    such as ``"no"`` is refused, never read as true), a comparison by its canonical name.

    Parameters
    ----------
    kind : str
        One of :data:`neuroxr.layouts.METRICS`.
    params : mapping
        Every option of the metric (defaults filled in).
    caller : str, optional
        What the message names (default ``metric '<kind>'``; an inference kind names itself).

    Returns
    -------
    dict
        ``params`` spelled once.

    Raises
    ------
    ParameterError, LayoutError
        One line ``metric '<kind>': <the function's message naming the option>``.
    """
    check = _param_checks().get(kind)
    if check is None:
        return dict(params)
    try:
        checked = check(**params)
    except (ParameterError, LayoutError) as exc:
        msg = str(exc).removeprefix(f"{_CHECK_SPEAKS_AS.get(kind, kind)}: ")
        raise type(exc)(f"{caller or f'metric {kind!r}'}: {msg}") from None
    return {**params, **checked}


def metric_value(ds: xr.Dataset, split: str = "test") -> float:
    """The reported value of a metric entry: ``score`` at ``split`` when it has a split, else ``score``.

    Parameters
    ----------
    ds : xarray.Dataset
        A metric entry (see :func:`neuroxr.layouts.validate_metric`).
    split : {"test", "train"}, default "test"
        Which split to report (``"train"`` for layer selection, ``"test"`` to report).
    """
    if not isinstance(ds, xr.Dataset) or "score" not in ds.data_vars:
        raise LayoutError(f"metric_value: ds must be a metric entry (a Dataset with a 'score' variable, e.g. from "
                          f"neuroxr.score_metric); got {shown(ds)}.")
    score = ds["score"]
    if "split" in score.dims:
        return float(score.sel(split=split))
    return float(score)


# ============================================================================ inputs
def averaged_as_features(neural: xr.DataArray, arg: str = "neural", caller: str | None = None) -> xr.DataArray:
    """Trial-averaged neural responses (NaN-mean over repeats, as :func:`neuroxr.geometry.rdm`
    averages them) in the feature layout ``stimulus x unit``; the warnings name them as the
    argument ``arg`` of the function the entry computes, with their label (``"obj (V4)"``), after
    that function's name ``caller`` where given (``"effective_dimensionality: obj (V4)"``)."""
    return _averaged_as_features(neural, arg, caller)


def _averaged_as_features(neural: xr.DataArray | _Checked, arg: str, caller: str | None = None) -> xr.DataArray:
    """:func:`averaged_as_features`, also of responses a metric checked in this call (a
    :class:`~neuroxr.geometry._common._Checked`: not checked again)."""
    name = where(caller) + _named(neural, arg)
    m = _geo._neural_mean(neural, name=name).transpose("stimulus", "neuroid")
    extra = [c for c in m.coords if c not in ("stimulus_id", "neuroid_id") and m.coords[c].dims != ("stimulus",)]
    m = m.drop_vars(extra).rename({"neuroid": "unit", "neuroid_id": "unit_id"})
    m.name = _plain(neural).name
    return m


def features_as_neural(features: xr.DataArray) -> xr.DataArray:
    """A feature set in the neural layout (``unit`` -> ``neuroid``, one repeat): a trial-averaged target."""
    extra = [c for c in features.coords if c not in ("stimulus_id", "unit_id") and features.coords[c].dims != ("stimulus",)]
    da = features.drop_vars(extra).rename({"unit": "neuroid", "unit_id": "neuroid_id"}).expand_dims("repeat", axis=-1)
    da.name = features.name
    return da


def resolve_ceiling(params: Mapping[str, Any], target_kind: str, n_repeats: int | None, target: str = "") -> dict[str, Any]:
    """cRSA's ``noise_ceiling=None`` made explicit: a ceiling when the target is neural with >= 2 repeats.

    Without one, a ``seed`` or ``reps`` other than its default is refused (one-line
    :class:`~neuroxr.errors.ParameterError`), as :func:`neuroxr.geometry.crsa` refuses it: they
    draw the ceiling's split halves, so they would change no number. A sweep sharing one crsa
    option set across targets with and without a ceiling leaves them out for the latter itself
    (:mod:`neuroxr.sweep.tasks`).
    """
    from ..geometry.rsa import _refuse_inert_ceiling

    out = dict(params)
    if out.get("noise_ceiling") is None:
        out["noise_ceiling"] = draws_ceiling(n_repeats=n_repeats if target_kind == "neural" else None)
        if not out["noise_ceiling"]:
            what = "a feature set" if target_kind != "neural" else f"neural data with {n_repeats or 1} repeat"
            try:
                _refuse_inert_ceiling(out.get("seed", 0), out.get("reps", 10),
                                      f"without a noise ceiling: the target {repr(target) + ' ' if target else ''}is {what}, "
                                      "and the automatic ceiling is drawn only for a neural target with at least 2 repeats", "")
            except ParameterError as exc:
                raise ParameterError(f"metric 'crsa': {str(exc).removeprefix('crsa: ')}") from None
    return out


def resolve_strata(params: Mapping[str, Any], store: Any, refs: Any) -> dict[str, Any]:
    """Brain-Score's ``stratify_by="auto"`` made explicit where it stratifies by nothing: ``None`` when no set of
    ``refs`` has an ``object_name`` coord on ``stimulus`` (:func:`neuroxr.predictivity.brainscore` splits so
    then), so that it and ``stratify_by=None`` are one key for one computation; where one has it, ``"auto"``
    stays (its key unchanged)."""
    out = dict(params)
    if out.get("stratify_by") == "auto" and not any(_stimulus_coord(store, ref, "object_name") for ref in refs):
        out["stratify_by"] = None
    return out


def _stimulus_coord(store: Any, ref: Any, name: str) -> bool:
    """Whether the stored set of ``ref`` has the coord ``name`` on the ``stimulus`` dim alone (from its metadata
    document; where that names no dims, the set is opened lazily)."""
    meta = store.array_meta(ref.path, name)
    if meta is None:
        return False
    dims = meta.get("dimension_names")
    if dims and None not in dims:
        return list(dims) == ["stimulus"]
    from ..sets import read_set

    da = read_set(store, ref, load=False)
    return name in da.coords and da.coords[name].dims == ("stimulus",)


def _split_score(train: float, test: float) -> tuple[tuple[str], np.ndarray]:
    return ("split",), np.array([train, test], dtype=float)


# ============================================================================ computations
def compute_rsa(kind: str, src: Any, tgt: Any, params: Mapping[str, Any], io: Any) -> xr.Dataset:
    """crsa / ersa / ereg of a feature set against a neural or feature set.

    ``io`` gives ``io.read(ref)`` (loaded DataArray), ``io.gram(ref)`` (the cached Gram Dataset)
    and ``io.backend``.
    """
    params = dict(params)
    if kind == "crsa":
        if params["noise_ceiling"] and tgt.kind != "neural":
            raise LayoutError(f"crsa: a split-half ceiling needs a neural target with repeats; {tgt.name!r} is a feature set. Pass noise_ceiling=False.")
        b = io.read(tgt) if tgt.kind == "neural" else io.gram(tgt)
        return _geo.crsa(io.gram(src), b, backend=io.backend, **params)
    b = io.read(tgt) if tgt.kind == "neural" else features_as_neural(io.read(tgt))
    a = io.read(src)
    if kind == "ereg":  # a seed or eps that draws nothing (no projection) runs as the default; the key keeps it
        return _ereg(a, b, **params, refuse_inert=False, backend=io.backend)
    ds = _RSA_FUNCTIONS[kind](a, b, **params, backend=io.backend)
    if kind == "ersa":
        ds = ds.rename({"split": "stimulus_split"})
        ds["score"] = _split_score(float(ds["train_score"]), float(ds["test_score"]))
        ds = ds.assign_coords(split=["train", "test"])
    return ds


def compute_shape(src: Any, tgt: Any, params: Mapping[str, Any], io: Any) -> xr.Dataset:
    """Shape-metric distance, fitted on a train split (:func:`neuroxr.geometry.split_distance`).

    The stimuli, paired by ``stimulus_id``, are split in canonical order as
    :func:`neuroxr.geometry.ersa` splits them (``seed``, ``test_size``), so eRSA and shape
    entries of one pair share the split whatever the stored stimulus order.
    """
    p = dict(params)
    ds = _geo.split_distance(io.read(src), io.read(tgt), **p, backend=io.backend)  # averages neural targets as averaged_as_features
    return ds.rename({"distance": "score"})


def compute_cka(src: Any, tgt: Any, params: Mapping[str, Any], io: Any) -> xr.Dataset:
    """Linear CKA (:func:`neuroxr.geometry.cka`): feature sets through their cached Grams."""
    debiased = bool(params["debiased"])
    if tgt.kind == "neural":
        a, b, counts = _cka_inputs(lambda: io.gram(src), lambda: io.read(src), io.read(tgt), "cka",
                                   io.read(src, load=False))
    else:
        a, b, counts = io.gram(src), io.gram(tgt), {}
    value = _geo.cka(a, b, debiased=debiased)
    return xr.Dataset({"score": ((), float(value))},
                      attrs={"debiased": int(debiased), "n_stimuli": int(b.sizes["stimulus"]), **counts,
                             "reference": "Kornblith et al. 2019"})


def _cka_inputs(gram: Callable[[], Any], features: Callable[[], Any], neural: xr.DataArray,
                caller: str, source: xr.DataArray) -> tuple[Any, xr.DataArray, dict[str, int]]:
    """A CKA entry's source (``gram()``, or ``features()`` without the dropped stimuli) and
    trial-averaged neural target, without the stimuli that have no trial in any neuroid (crsa's
    rule, dropped from both), and the counts of what was dropped. ``source``: the feature set as
    read (lazily: its stimulus ids), so that a target whose stimuli do not pair with it gets the
    pairing refusal alone, no missing-trial warning first."""
    (neural,), counts, dropped = _drop_unusable([(neural, _named(neural, "b"))], caller, paired=True,  # cka's argument
                                                pair_with=[source])
    return (_without(features(), dropped) if dropped.size else gram()), _averaged_as_features(neural, "b"), counts


def compute_dimensionality(src: Any, tgt: Any, params: Mapping[str, Any], io: Any) -> xr.Dataset:
    """Effective dimensionality ``(sum l)^2 / sum l^2`` of one set (a feature set from its Gram)."""
    if src.kind == "features":
        obj: xr.DataArray | xr.Dataset = io.gram(src)
        n_units, n_stim = int(obj.attrs["n_units"]), int(obj.sizes["stimulus"])
    else:
        obj = averaged_as_features(io.read(src), "obj", "effective_dimensionality")  # the function the entry computes
        n_units, n_stim = int(obj.sizes["unit"]), int(obj.sizes["stimulus"])
    counts = {k: int(obj.attrs[k]) for k in ("n_excluded_stimuli", "n_excluded_neuroids") if k in obj.attrs}
    value = _geo.effective_dimensionality(obj)
    return xr.Dataset({"score": ((), float(value))},
                      attrs={"n_units": n_units, "n_stimuli": n_stim, **counts,
                             "definition": "(sum lambda)^2 / sum lambda^2 of the covariance eigenvalues"})


def compute_brainscore(src: Any, tgt: Any, params: Mapping[str, Any], io: Any) -> xr.Dataset:
    """Brain-Score's protocol (:func:`neuroxr.predictivity.brainscore`) of a feature set on a neural
    set or region subset: ``score`` is the ceiled score, ``raw`` and ``ceiling`` its parts."""
    from ..predictivity import brainscore

    if tgt.kind != "neural":
        raise LayoutError(f"brainscore: target {tgt.name!r} is a feature set; name a neural set or region subset.")
    return brainscore(io.read(src), io.read(tgt), **params)


def is_single_set(kind: str) -> bool:
    """Whether a metric describes one set (no target)."""
    return kind in SINGLE_SET_METRICS


# ============================================================================ inference of the metrics
#: metric inference kind -> (metric, procedure); entries at ``inference/<kind>/<source>__<target>/<key>``
METRIC_INFERENCE_KINDS = {f"{m}_{p}": (m, p) for m in ("crsa", "ersa", "cka", "shape") for p in ("bootstrap", "permutation")}
#: metric inference kind -> the public function that computes it (:mod:`neuroxr.geometry.inference`),
#: which its messages name as a direct call's do (:func:`neuroxr.entries.kinds.speaks_as`): a
#: permutation is ``rsa_permutation`` (cRSA's) or the bootstrap function's ``n_perm``
METRIC_INFERENCE_FUNCTIONS = {**{k: f"{m}_bootstrap" for k, (m, _) in METRIC_INFERENCE_KINDS.items()},
                              "crsa_permutation": "rsa_permutation"}
_METRIC_INFERENCE_BASE: dict[str, dict[str, Any]] = {
    "crsa": {"rdm_method": "correlation", "compare_method": COMPARE_DEFAULT},
    "ersa": {"rdm_method": "correlation", "compare_method": COMPARE_DEFAULT, "alpha": 0.1, "test_size": 0.5, "split_seed": 0},
    "cka": {"debiased": False},
    "shape": {"alpha": 1.0, "center_columns": True, "zero_pad": True, "score_method": "angular"},
}
_PROCEDURE_OPTIONS = {"bootstrap": {"n_boot": 1000, "seed": 0, "level": 0.95}, "permutation": {"n_perm": 1000, "seed": 0}}
#: options of one metric's procedure only: the shape and CKA bootstraps' interval (``method``)
_KIND_OPTIONS: dict[str, dict[str, Any]] = {"shape_bootstrap": {"method": SHAPE_BOOT_DEFAULT},
                                            "cka_bootstrap": {"method": CKA_BOOT_DEFAULT}}


def metric_inference_options(kind: str) -> dict[str, Any]:
    """Parameters and defaults of a metric inference kind (e.g. ``"crsa_bootstrap"``): the metric's
    own options (``ersa``'s train / test split seed is ``split_seed``), then ``n_boot``, ``seed``,
    ``level`` (bootstrap; shape and cka also ``method``, its interval) or ``n_perm``, ``seed`` (permutation)."""
    metric, procedure = METRIC_INFERENCE_KINDS[kind]
    return {**_METRIC_INFERENCE_BASE[metric], **_PROCEDURE_OPTIONS[procedure], **_KIND_OPTIONS.get(kind, {})}


def _inference_compares() -> tuple[str, ...]:
    """The comparisons the RSA resampling offers (:data:`neuroxr.geometry.inference.RSA_BOOT_METHODS`)
    by their canonical names."""
    from ..geometry.inference import RSA_BOOT_METHODS
    from ..kernels.compare import _normalize_compare_method

    return tuple(_normalize_compare_method(m, "rsa_bootstrap") for m in RSA_BOOT_METHODS)


def check_inference_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A metric inference entry's parameters checked before any data is read, each in one spelling.

    The one check of every caller (:meth:`neuroxr.entries.kinds.Kind.fill`: a direct
    :func:`neuroxr.compute`, ``neuroxr score``, a sweep): the metric's own options by the metric's
    checks (:func:`check_params`; ``compare_method`` by its canonical name, so ``"corr"`` and
    ``"pearson"`` key one entry, and only the comparisons the resampling offers:
    Pearson, Spearman, cosine), then ``n_boot`` / ``n_perm`` (ints >= 1), ``seed`` (int >= 0),
    ``level`` (in (0, 1)) and shape's and cka's interval ``method``.

    Parameters
    ----------
    kind : str
        One of :data:`METRIC_INFERENCE_KINDS`.
    params : mapping
        Every parameter of the kind (defaults filled in, :func:`metric_inference_options`).

    Returns
    -------
    dict
        ``params`` spelled once.

    Raises
    ------
    ParameterError, LayoutError
        One line ``<function>: <message naming the option>``, the function that computes the
        kind (:data:`METRIC_INFERENCE_FUNCTIONS`).
    """
    from ..geometry.cka_inference import check_cka_boot_method
    from ..geometry.shape_inference import check_shape_boot_method
    from ..kernels.compare import _normalize_compare_method
    from ..kernels.resample import _check_level
    from ..validation import check_int

    metric, _ = METRIC_INFERENCE_KINDS[kind]
    caller = METRIC_INFERENCE_FUNCTIONS[kind]
    p = dict(params)
    own = {k: p[k] for k in _METRIC_INFERENCE_BASE[metric]}
    try:
        if "compare_method" in own:  # the metrics' one alias table; only what the resampling offers
            try:
                own["compare_method"] = _normalize_compare_method(own["compare_method"], caller, "compare_method")
            except ParameterError:
                own["compare_method"] = None
            if own["compare_method"] not in _inference_compares():
                raise ParameterError(f"compare_method={p['compare_method']!r} is not offered by the resampled RSA; "
                                     f"choose one of {_inference_compares()} ('corr' is Pearson).")
        if metric == "ersa":  # the metric's split seed (named as the kind names it; ``seed`` draws the resamples)
            own["seed"] = check_int(own.pop("split_seed"), "split_seed", 0, "The train / test split is "
                                    "numpy.random.default_rng(split_seed).permutation; pass e.g. split_seed=0.")
        for name, low, hint in (("n_boot", 1, "Pass the number of bootstrap resamples, e.g. n_boot=1000."),
                                ("n_perm", 1, "Pass the number of permutations, e.g. n_perm=1000."),
                                ("seed", 0, "It seeds numpy.random.default_rng([seed, stream]); pass e.g. seed=0.")):
            if name in p:
                p[name] = check_int(p[name], name, low, hint)
        if "level" in p:
            p["level"] = _check_level(p["level"])
        if "method" in p:
            p["method"] = {"shape": check_shape_boot_method, "cka": check_cka_boot_method}[metric](p["method"])
    except ParameterError as exc:
        raise ParameterError(f"{caller}: {str(exc).removeprefix(f'{caller}: ')}") from None
    checked = check_params(metric, {**metric_options(metric), **own}, caller=caller)  # the metric's own checks
    if metric == "ersa":
        checked["split_seed"] = checked.pop("seed")
    p.update({k: checked[k] for k in _METRIC_INFERENCE_BASE[metric]})
    return p


def inference_params_of(metric: str, options: Mapping[str, Any], procedure: str, **extra: Any) -> dict[str, Any]:
    """The parameters of ``<metric>_<procedure>`` that match a metric entry's ``options`` (those the
    inference kind takes; ``ersa``'s ``seed`` is its ``split_seed``) plus ``extra``."""
    accepted = metric_inference_options(f"{metric}_{procedure}")
    opts = dict(options)
    if metric == "ersa" and "seed" in opts:
        opts["split_seed"] = opts.pop("seed")
    out = {k: v for k, v in opts.items() if k in accepted and k not in _PROCEDURE_OPTIONS[procedure]}
    out.update({k: v for k, v in extra.items() if k in accepted})
    return out


def compute_inference(kind: str, source: xr.DataArray, target: xr.DataArray, params: Mapping[str, Any]) -> xr.Dataset:
    """A metric inference entry from the loaded source and target sets.

    Every result names the metric's value ``score`` (a shape distance: lower is better, attr
    ``lower_is_better``). Bootstrap (over stimuli, percentile interval; shape and cka: ``method``'s,
    by default centred on the estimate, and ``score_bias``): ``score_boot`` (boot), ``score_ci``
    (bound), ``boot_index``. Permutation: ``p`` (one-sided) and ``score_null`` (perm).

    =====================  ==========================================================================
    ``crsa_*``             :func:`neuroxr.geometry.inference.crsa_bootstrap` / ``rsa_permutation``
                           (Mantel: the source RDM's stimulus labels permuted)
    ``ersa_*``             :func:`neuroxr.geometry.inference.ersa_bootstrap` (test stimuli)
    ``cka_*``              :func:`neuroxr.geometry.inference.cka_bootstrap` (the target's labels permuted;
                           ``debiased``: the debiased estimator, resampled over distinct stimuli)
    ``shape_*``            :func:`neuroxr.geometry.inference.shape_bootstrap` (fit distance on all stimuli)
    =====================  ==========================================================================
    """
    from ..geometry import inference as gi
    from ..geometry.cka_inference import _cka_resampled
    from ..geometry.shape_inference import _shape_resampled

    metric, procedure = METRIC_INFERENCE_KINDS[kind]
    caller = METRIC_INFERENCE_FUNCTIONS[kind]  # what its messages name
    p = {**metric_inference_options(kind), **params}
    p.pop("backend", None)
    boot = procedure == "bootstrap"
    rest = {k: v for k, v in p.items() if k not in ("n_boot", "n_perm", "seed", "level")}
    if metric == "ersa" and "unit" in target.dims:
        target = features_as_neural(target)
    if metric == "crsa":
        if boot:
            ds = gi.crsa_bootstrap(source, target, n_boot=p["n_boot"], seed=p["seed"], level=p["level"], noise_ceiling=False, **rest)
        else:
            (target,), counts, dropped = _drop_unusable([(target, _named(target, "neural"))], caller,
                                                     2 if draws_ceiling(target) else 1,
                                                     paired=True)  # crsa's rule (its default's neuroids)
            model = _rdm(source, rest["rdm_method"], None, _named(source, "features"))
            ds = gi._rsa_permutation(_without(model, dropped), _rdm(target, rest["rdm_method"], None, _named(target, "neural")),
                                     caller, "compare_method", rest["compare_method"], p["n_perm"], p["seed"])
            ds.attrs.update(rdm_method=rest["rdm_method"], **counts)
    elif metric == "ersa":
        if boot:
            ds = gi.ersa_bootstrap(source, target, n_boot=p["n_boot"], seed=p["seed"], level=p["level"], **rest)
        else:
            ds = gi._ersa_bootstrap(caller, source, target, n_boot=1, seed=p["seed"], n_perm=p["n_perm"], **rest)
            ds = ds[["score", "p", "score_null"]]
    elif metric == "cka":
        a, b, counts = source, target, {}
        if "neuroid" in target.dims:
            a, b, counts = _cka_inputs(lambda: source, lambda: source, target, "cka_bootstrap", source)
        # a permutation entry draws no resample (n_boot=0): no bootstrap words in its warnings
        ds = _cka_resampled(a, b, n_boot=p["n_boot"] if boot else 0, seed=p["seed"], level=p.get("level", 0.95),
                            method=rest.pop("method", CKA_BOOT_DEFAULT), nan_policy="propagate",
                            n_perm=0 if boot else p["n_perm"], **rest)
        ds.attrs.update(counts)  # the stimuli and neuroids _cka_inputs left out, as the cka entry counts them
        ds = ds.rename({v: v.replace("cka", "score") for v in ds.data_vars if v.startswith("cka")})
        if not boot:
            ds = ds[["score", "p", "score_null"]]
    else:  # shape_bootstrap averages a neural target as averaged_as_features
        ds = _shape_resampled(source, target, n_boot=p["n_boot"] if boot else 0, seed=p["seed"], level=p.get("level", 0.95),
                              method=rest.pop("method", SHAPE_BOOT_DEFAULT), indices=None, nan_policy="propagate",
                              n_perm=0 if boot else p["n_perm"], **rest)
        ds = ds.rename({v: v.replace("distance", "score") for v in ds.data_vars if v.startswith("distance")})
        if not boot:
            ds = ds[["score", "p", "score_null"]]
    if not boot:
        ds = ds.drop_vars([c for c in ds.coords if c not in ("perm",)])
    attrs = {k: (int(v) if isinstance(v, bool) else v) for k, v in p.items() if not (boot and k == "n_perm")}
    ds.attrs = {**ds.attrs, **attrs, "metric": metric, "procedure": procedure}
    return ds
