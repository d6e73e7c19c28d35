"""Geometry metrics of study-store sets, written as metric entries (RSA, shape, CKA, dimensionality).

Each function reads its sets from a study store, computes the metric with the functions of
:mod:`neuroxr.geometry` (the store's cached Gram of a feature set is reused wherever a geometry
function accepts a Gram), and writes the result as a *metric entry*:

=================  ======================================  =========================================
metric             entry                                   ``score``
=================  ======================================  =========================================
``crsa``           ``metrics/crsa/<source>__<target>``     RDM similarity (also ``ceiling``,
                                                           ``ceiled_score`` with a split-half ceiling)
``ersa``           ``metrics/ersa/<source>__<target>``     over ``split`` (train, test): RDM of the
                                                           encoding predictions vs the target RDM
``ereg``           ``metrics/ereg/<source>__<target>``     mean out-of-fold Pearson r (``r`` per neuroid)
``shape``          ``metrics/shape/<source>__<target>``    over ``split`` (train, test): LinearMetric
                                                           distance (lower = more similar)
``cka``            ``metrics/cka/<source>__<target>``      linear CKA (or its debiased form)
``dimensionality`` ``metrics/dimensionality/<source>``     effective dimensionality
=================  ======================================  =========================================

Sets are named as in :func:`neuroxr.directions.score`: a feature set ``<model>.<layer>``, a neural
set ``<name>``, or the region subset ``<name>.<region>`` of a neural set (its neuroids whose
``region`` coord equals ``<region>``, as sweeps name them). Sources of the pairwise metrics are
feature sets; targets are neural sets (trial-averaged with a NaN-mean over repeats) or feature
sets. ``dimensionality`` takes one set of either kind.

The *reported* value of an entry is :func:`metric_value`: ``score`` at ``split="test"`` when the
entry has a train/test split, else ``score``. Layer selection should use the ``train`` value.

Every entry records its parameters (``attrs["parameters"]``, plus each one as its own attr where
the geometry function records it), its seeds and the versions of the packages that computed it
(``attrs["versions"]``). An entry is written with :meth:`neuroxr.StudyStore.write_dataset` (data
first, completion marker last), so an interrupted write is never trusted; a complete entry is read
back instead of recomputed unless ``overwrite=True``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from . import geometry as _geo
from .layouts import METRICS, SINGLE_SET_METRICS, LayoutError, align
from .store import StudyStore

__all__ = [
    "METRIC_NAMES",
    "RSA_VARIANTS",
    "score_rsa",
    "score_shape",
    "score_cka",
    "score_dimensionality",
    "score_metric",
    "metric_value",
    "metric_kind",
    "metric_options",
]

#: The RSA variants (each its own metric entry group).
RSA_VARIANTS = ("crsa", "ersa", "ereg")
#: Names a caller may ask for: ``rsa`` (the variant given by ``variant``, default ``crsa``), the
#: RSA variants by name, ``shape``, ``cka``, ``dimensionality``.
METRIC_NAMES = ("rsa",) + METRICS
_RSA_FUNCTIONS: dict[str, Callable[..., xr.Dataset]] = {"crsa": _geo.crsa, "ersa": _geo.ersa, "ereg": _geo.ereg}
#: Packages whose versions every entry records.
_VERSION_PACKAGES = ("numpy", "scipy", "xarray", "zarr", "dask", "scikit-learn")


# ============================================================================ names
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
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRIC_NAMES} (rsa = crsa, ersa or ereg by variant).")
    if m == "rsa":
        v = "crsa" if variant is None else str(variant).lower()
        if v not in RSA_VARIANTS:
            raise ValueError(f"unknown RSA variant {variant!r}; choose one of {RSA_VARIANTS}.")
        return v
    if variant is not None and m != variant:
        raise ValueError(f"variant={variant!r} applies to metric 'rsa' only; got metric {metric!r}.")
    return m


def _signature_options(fn: Callable[..., Any], skip: tuple[str, ...]) -> dict[str, Any]:
    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if n not in skip and p.kind is p.POSITIONAL_OR_KEYWORD}


def metric_options(metric: str) -> dict[str, Any]:
    """The options a metric accepts and their defaults.

    Parameters
    ----------
    metric : str
        One of :data:`neuroxr.layouts.METRICS` (``crsa``, ``ersa``, ``ereg``, ``shape``, ``cka``,
        ``dimensionality``).

    Returns
    -------
    dict
        Option name -> default. ``crsa``'s ``ceiling=None`` means: a split-half ceiling when the
        target is a neural set with at least 2 repeats.
    """
    kind = metric_kind(metric)
    if kind in RSA_VARIANTS:
        out = _signature_options(_RSA_FUNCTIONS[kind], ("features", "neural", "backend"))
        if kind == "crsa":
            out["ceiling"] = None
        return out
    fn = {"shape": score_shape, "cka": score_cka, "dimensionality": score_dimensionality}[kind]
    return _signature_options(fn, ("store", "source", "target", "overwrite"))


def _check_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    accepted = metric_options(kind)
    bad = sorted(k for k in options if k not in accepted)
    if bad:
        raise ValueError(f"metric {kind!r} takes no options {bad}; it accepts {sorted(accepted)}.")
    return {**accepted, **options}


# ============================================================================ sets of a store
@dataclass(frozen=True)
class _Set:
    """A named set of a store: a feature set (model, layer) or a neural set (neural, region)."""

    name: str
    kind: str  # "features" or "neural"
    model: str | None = None
    layer: str | None = None
    neural: str | None = None
    region: str | None = None

    def labels(self, prefix: str) -> dict[str, str]:
        out = {f"{prefix}_kind": self.kind}
        for key in ("model", "layer", "neural", "region"):
            value = getattr(self, key)
            if value is not None:
                out[f"{prefix}_{key}"] = value
        return out


def _feature_matches(store: StudyStore, name: str) -> list[tuple[str, str]]:
    parts = name.split(".")
    out = []
    for cut in range(1, len(parts)):
        model, layer = ".".join(parts[:cut]), ".".join(parts[cut:])
        if model in store.models() and layer in store.layers(model):
            out.append((model, layer))
    return out


def _neural_matches(store: StudyStore, name: str) -> list[tuple[str, str | None]]:
    sets = store.neural_sets()
    out: list[tuple[str, str | None]] = [(name, None)] if name in sets else []
    parts = name.split(".")
    for cut in range(1, len(parts)):
        base, region = ".".join(parts[:cut]), ".".join(parts[cut:])
        if base in sets:
            da = store.read_neural(base)
            if "region" in da.coords and region in set(np.asarray(da.coords["region"].values).astype(str)):
                out.append((base, region))
    return out


def _available(store: StudyStore) -> str:
    feats = [f"{m}.{l}" for m in store.models() for l in store.layers(m)]
    return f"feature sets {feats} and neural sets {store.neural_sets()}"


def _resolve(store: StudyStore, name: str, role: str, kinds: tuple[str, ...] = ("features", "neural")) -> _Set:
    """The set ``name`` of the store (feature set, neural set or region subset of a neural set)."""
    if not isinstance(name, str) or not name:
        raise LayoutError(f"the {role} must name a set of the store; got {name!r}.")
    found: list[_Set] = []
    if "features" in kinds:
        found += [_Set(name, "features", model=m, layer=l) for m, l in _feature_matches(store, name)]
    if "neural" in kinds:
        found += [_Set(name, "neural", neural=n, region=r) for n, r in _neural_matches(store, name)]
    if not found:
        what = " or ".join({"features": "feature set '<model>.<layer>'", "neural": "neural set '<name>[.<region>]'"}[k] for k in kinds)
        raise LayoutError(f"store {store.url!r} holds no {what} named {name!r} (the {role}); it holds {_available(store)}.")
    if len(found) > 1:
        desc = ", ".join(f"{s.kind} {s.model or s.neural}/{s.layer or s.region or ''}".rstrip("/") for s in found)
        raise LayoutError(f"the {role} {name!r} is ambiguous in store {store.url!r}: it names {desc}; rename one of them.")
    return found[0]


def _read_neural(store: StudyStore, s: _Set) -> xr.DataArray:
    da = store.read_neural(s.neural)
    if s.region is not None:
        keep = np.asarray(da.coords["region"].values).astype(str) == s.region
        da = da.isel(neuroid=np.flatnonzero(keep))
    da = da.load()
    da.name = s.name
    return da


def _read_features(store: StudyStore, s: _Set) -> xr.DataArray:
    da = store.read_features(s.model, s.layer).load()
    da.name = s.name
    return da


def _averaged_as_features(neural: xr.DataArray) -> xr.DataArray:
    """Trial-averaged neural responses (NaN-mean over repeats, neuroids lacking a stimulus dropped,
    as :func:`neuroxr.geometry.rdm` averages them) in the feature layout ``stimulus x unit``."""
    m = _geo._neural_mean(neural, name=str(neural.name or "neural")).transpose("stimulus", "neuroid")
    extra = [c for c in m.coords if c not in ("stimulus_id", "neuroid_id") and m.coords[c].dims != ("stimulus",)]
    m = m.drop_vars(extra).rename({"neuroid": "unit", "neuroid_id": "unit_id"})
    m.name = neural.name
    return m


def _features_as_neural(features: xr.DataArray) -> xr.DataArray:
    """A feature set in the neural layout (``unit`` -> ``neuroid``, one repeat): a trial-averaged target."""
    extra = [c for c in features.coords if c not in ("stimulus_id", "unit_id") and features.coords[c].dims != ("stimulus",)]
    da = features.drop_vars(extra).rename({"unit": "neuroid", "unit_id": "neuroid_id"}).expand_dims("repeat", axis=-1)
    da.name = features.name
    return da


def _gram(store: StudyStore, s: _Set) -> xr.Dataset:
    """The store's cached Gram of a feature set (computed and cached when absent)."""
    return _geo.cached_gram(store, s.model, s.layer)


# ============================================================================ entries
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    out = {"neuroxr": __version__}
    for pkg in _VERSION_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - optional package
            pass
    return out


def _open(store: StudyStore | str) -> StudyStore:
    return store if isinstance(store, StudyStore) else StudyStore(store)


def _finish(store: StudyStore, kind: str, src: _Set, tgt: _Set | None, ds: xr.Dataset, params: Mapping[str, Any]) -> xr.Dataset:
    """Add the entry attrs (metric, names, parameters, versions) and write the entry."""
    attrs = dict(ds.attrs)
    attrs.pop("direction", None)  # the geometry functions name themselves here; entries use 'metric'
    attrs.update({"metric": kind, "source": src.name, **src.labels("source")})
    if tgt is not None:
        attrs.update({"target": tgt.name, **tgt.labels("target")})
    else:
        attrs.pop("target", None)
    attrs["parameters"] = {k: v for k, v in params.items()}
    attrs["versions"] = _versions()
    attrs["neuroxr_version"] = attrs["versions"]["neuroxr"]
    ds = ds.assign_attrs(attrs)
    ds.attrs = attrs
    store.write_metric(kind, src.name, None if tgt is None else tgt.name, ds)
    return ds


def _split_score(train: float, test: float) -> tuple[tuple[str], np.ndarray]:
    return ("split",), np.array([train, test], dtype=float)


def _existing(store: StudyStore, kind: str, source: str, target: str | None, overwrite: bool) -> xr.Dataset | None:
    if not overwrite and store.has_metric(kind, source, target):
        return store.read_metric(kind, source, target)
    return None


def score_rsa(
    store: StudyStore | str,
    source: str,
    target: str,
    variant: str = "crsa",
    *,
    overwrite: bool = False,
    **options: Any,
) -> xr.Dataset:
    """RSA between a feature set and a neural (or feature) set of a store; writes ``metrics/<variant>/...``.

    Parameters
    ----------
    store : StudyStore or str
        The study store (or its path/URL).
    source : str
        Feature set ``<model>.<layer>``.
    target : str
        Neural set ``<name>`` / region subset ``<name>.<region>`` (trial-averaged), or a feature set.
    variant : {"crsa", "ersa", "ereg"}
        ``crsa``: :func:`neuroxr.geometry.crsa` on the source's cached Gram (and the target's, for a
        feature set); ``ersa``: :func:`neuroxr.geometry.ersa`; ``ereg``: :func:`neuroxr.geometry.ereg`.
    overwrite : bool
        Recompute even when a complete entry exists (otherwise it is read back).
    **options
        The variant's options (see :func:`metric_options`): ``rdm_method``, ``compare_method``
        (crsa, ersa); ``ceiling`` (crsa; default: a split-half ceiling when the target is a neural
        set with >= 2 repeats), ``seed``, ``n_reps`` (crsa's ceiling halves; ersa's train/test
        split; ereg's projection); ``alpha``, ``n_folds``, ``fold_seed`` (ersa, ereg);
        ``test_size`` (ersa); ``n_components``, ``eps`` (ereg).

    Returns
    -------
    xarray.Dataset
        crsa: ``score`` (and ``ceiling``, ``ceiled_score``); ersa: ``score`` (split: train, test),
        ``train_score``, ``test_score``, ``stimulus_split`` (stimulus); ereg: ``score``, ``r``
        (neuroid). Attrs: every parameter, seeds, versions, names.
    """
    store = _open(store)
    kind = metric_kind("rsa", variant)
    params = _check_options(kind, options)
    src = _resolve(store, source, "source", ("features",))
    tgt = _resolve(store, target, "target")
    done = _existing(store, kind, src.name, tgt.name, overwrite)
    if done is not None:
        return done
    if kind == "crsa":
        b = _read_neural(store, tgt) if tgt.kind == "neural" else _gram(store, tgt)
        if params["ceiling"] is None:
            params["ceiling"] = bool(tgt.kind == "neural" and b.sizes["repeat"] >= 2)
        if params["ceiling"] and tgt.kind != "neural":
            raise LayoutError(f"crsa: a split-half ceiling needs a neural target with repeats; {tgt.name!r} is a feature set. Pass ceiling=False.")
        ds = _geo.crsa(_gram(store, src), b, **params)
    else:
        b = _read_neural(store, tgt) if tgt.kind == "neural" else _features_as_neural(_read_features(store, tgt))
        ds = _RSA_FUNCTIONS[kind](_read_features(store, src), b, **params)
        if kind == "ersa":
            ds = ds.rename({"split": "stimulus_split"})
            ds["score"] = _split_score(float(ds["train_score"]), float(ds["test_score"]))
            ds = ds.assign_coords(split=["train", "test"])
    return _finish(store, kind, src, tgt, ds, params)


def score_shape(
    store: StudyStore | str,
    source: str,
    target: str,
    alpha: float = 1.0,
    center_columns: bool = True,
    zero_pad: bool = True,
    score_method: str = "angular",
    test_size: float = 0.5,
    seed: int = 0,
    *,
    overwrite: bool = False,
) -> xr.Dataset:
    """Shape-metric distance (:class:`neuroxr.geometry.LinearMetric`) of two sets; writes ``metrics/shape/...``.

    The stimuli (paired by ``stimulus_id``, in the target's order) are split into train and test
    sets as :func:`neuroxr.geometry.ersa` splits them (``numpy.random.default_rng(seed)``
    permutation, ``test_size`` of them held out), so eRSA and shape entries of one pair share the
    split. The alignment is fitted on the train stimuli; the distance is reported on both.

    Parameters
    ----------
    store : StudyStore or str
    source : str
        Feature set ``<model>.<layer>``.
    target : str
        Neural set / region subset (trial-averaged, ``stimulus x neuroid``) or feature set.
    alpha : float in [0, 1]
        1 = Procrustes, 0 = CCA-like (see :class:`~neuroxr.geometry.LinearMetric`).
    center_columns, zero_pad : bool
    score_method : {"angular", "euclidean"}
    test_size : float in (0, 1)
    seed : int
        Seed of the train/test split.
    overwrite : bool

    Returns
    -------
    xarray.Dataset
        ``score`` (split: train, test), distances (lower = more similar); ``stimulus_split``
        (stimulus); attrs with every parameter, ``n_train``, ``n_test``.
    """
    store = _open(store)
    params = {"alpha": alpha, "center_columns": center_columns, "zero_pad": zero_pad, "score_method": score_method,
              "test_size": test_size, "seed": seed}
    src = _resolve(store, source, "source", ("features",))
    tgt = _resolve(store, target, "target")
    done = _existing(store, "shape", src.name, tgt.name, overwrite)
    if done is not None:
        return done
    Y = _averaged_as_features(_read_neural(store, tgt)) if tgt.kind == "neural" else _read_features(store, tgt)
    Y, X = align(Y, _read_features(store, src), names=(tgt.name, src.name))
    tr, te = _geo._train_test(X.sizes["stimulus"], test_size, seed)
    metric = _geo.LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    metric.fit(X.isel(stimulus=tr), Y.isel(stimulus=tr))
    train = metric.score(X.isel(stimulus=tr), Y.isel(stimulus=tr))
    test = metric.score(X.isel(stimulus=te), Y.isel(stimulus=te))
    split = np.full(X.sizes["stimulus"], "train", dtype=object)
    split[te] = "test"
    ds = xr.Dataset(
        {"score": _split_score(train, test), "stimulus_split": (("stimulus",), split.astype(str))},
        coords={"split": ["train", "test"], "stimulus_id": ("stimulus", np.asarray(X["stimulus_id"].values).astype(str))},
        attrs={**{k: (int(v) if isinstance(v, bool) else v) for k, v in params.items()},
               "n_train": int(tr.size), "n_test": int(te.size), "lower_is_better": 1,
               "reference": "Williams et al. 2021"},
    )
    return _finish(store, "shape", src, tgt, ds, params)


def score_cka(
    store: StudyStore | str,
    source: str,
    target: str,
    debiased: bool = False,
    *,
    overwrite: bool = False,
) -> xr.Dataset:
    """Linear CKA (:func:`neuroxr.geometry.cka`) of two sets; writes ``metrics/cka/...``.

    Feature sets enter through their cached Grams; a neural target as its trial-averaged responses.

    Parameters
    ----------
    store : StudyStore or str
    source : str
        Feature set ``<model>.<layer>``.
    target : str
        Neural set / region subset, or feature set.
    debiased : bool
        The debiased estimator (Kornblith et al. 2019).
    overwrite : bool

    Returns
    -------
    xarray.Dataset
        ``score`` (scalar CKA); attrs ``debiased``, ``n_stimuli`` and the entry attrs.
    """
    store = _open(store)
    params = {"debiased": debiased}
    src = _resolve(store, source, "source", ("features",))
    tgt = _resolve(store, target, "target")
    done = _existing(store, "cka", src.name, tgt.name, overwrite)
    if done is not None:
        return done
    a = _gram(store, src)
    b = _averaged_as_features(_read_neural(store, tgt)) if tgt.kind == "neural" else _gram(store, tgt)
    value = _geo.cka(a, b, debiased=debiased)
    ds = xr.Dataset({"score": ((), float(value))},
                    attrs={"debiased": int(debiased), "n_stimuli": int(a.sizes["stimulus"]), "reference": "Kornblith et al. 2019"})
    return _finish(store, "cka", src, tgt, ds, params)


def score_dimensionality(store: StudyStore | str, source: str, *, overwrite: bool = False) -> xr.Dataset:
    """Effective dimensionality (:func:`neuroxr.geometry.effective_dimensionality`) of one set.

    Writes ``metrics/dimensionality/<source>``. A feature set enters through its cached Gram; a
    neural set (or region subset) as its trial-averaged responses ``stimulus x neuroid``.

    Parameters
    ----------
    store : StudyStore or str
    source : str
        Feature set ``<model>.<layer>``, neural set ``<name>`` or region subset ``<name>.<region>``.
    overwrite : bool

    Returns
    -------
    xarray.Dataset
        ``score`` (scalar); attrs ``n_units`` (units or neuroids), ``n_stimuli``, ``definition``.
    """
    store = _open(store)
    src = _resolve(store, source, "source")
    done = _existing(store, "dimensionality", src.name, None, overwrite)
    if done is not None:
        return done
    if src.kind == "features":
        obj: xr.DataArray | xr.Dataset = _gram(store, src)
        n_units, n_stim = int(obj.attrs["n_units"]), int(obj.sizes["stimulus"])
    else:
        obj = _averaged_as_features(_read_neural(store, src))
        n_units, n_stim = int(obj.sizes["unit"]), int(obj.sizes["stimulus"])
    value = _geo.effective_dimensionality(obj)
    ds = xr.Dataset({"score": ((), float(value))},
                    attrs={"n_units": n_units, "n_stimuli": n_stim,
                           "definition": "(sum lambda)^2 / sum lambda^2 of the covariance eigenvalues"})
    return _finish(store, "dimensionality", src, None, ds, {})


def score_metric(
    store: StudyStore | str,
    metric: str,
    source: str,
    target: str | None = None,
    *,
    overwrite: bool = False,
    **params: Any,
) -> xr.Dataset:
    """Compute one metric entry of a store (dispatch to :func:`score_rsa`, :func:`score_shape`,
    :func:`score_cka`, :func:`score_dimensionality`).

    Parameters
    ----------
    store : StudyStore or str
    metric : {"rsa", "crsa", "ersa", "ereg", "shape", "cka", "dimensionality"}
        ``rsa`` takes ``variant=`` (default ``"crsa"``); ``crsa``/``ersa``/``ereg`` name the variant.
    source, target : str
        Set names (``target`` only for the pairwise metrics, never for ``dimensionality``).
    overwrite : bool
    **params
        The metric's options (see :func:`metric_options`).

    Returns
    -------
    xarray.Dataset
        The entry as written to ``metrics/<metric>/...``.

    Examples
    --------
    >>> score_metric(store, "rsa", "netA.layer3", "animalA", variant="ersa", alpha=1.0)  # doctest: +SKIP
    >>> metric_value(score_metric(store, "dimensionality", "netA.layer3"))                 # doctest: +SKIP
    """
    variant = params.pop("variant", None)
    kind = metric_kind(metric, variant)
    if kind in SINGLE_SET_METRICS:
        if target is not None:
            raise ValueError(f"metric {kind!r} describes one set; got a target {target!r}.")
        _check_options(kind, params)
        return score_dimensionality(store, source, overwrite=overwrite, **params)
    if target is None:
        raise ValueError(f"metric {kind!r} compares two sets; name the target set.")
    if kind in RSA_VARIANTS:
        return score_rsa(store, source, target, kind, overwrite=overwrite, **params)
    _check_options(kind, params)
    fn = score_shape if kind == "shape" else score_cka
    return fn(store, source, target, overwrite=overwrite, **params)


def metric_value(ds: xr.Dataset, split: str = "test") -> float:
    """The reported value of a metric entry: ``score`` at ``split`` when it has a split, else ``score``.

    Parameters
    ----------
    ds : xarray.Dataset
        A metric entry (see :func:`neuroxr.layouts.validate_metric`).
    split : str
        Which split to report (``"train"`` for layer selection, ``"test"`` to report).
    """
    score = ds["score"]
    if "split" in score.dims:
        return float(score.sel(split=split))
    return float(score)
