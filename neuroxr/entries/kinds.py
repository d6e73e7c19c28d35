"""The one registry of entry kinds: for each kind its stage, the set kinds of its source and
target, its parameters with their defaults and validation, and its compute function.

A kind's *parameters* are those that change its numbers; they form the entry's provenance with
the version tokens of the sets it read (:mod:`neuroxr.entries.provenance`). Options that change
only how a result is computed or returned (``backend``, ``progress``, ``keep_predictions``) are
not parameters; ``dtype`` is, for the kinds that take it (float32 changes the numbers).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr

from .. import predictivity as _d
from ..errors import LayoutError, ParameterError, no_effect, shown
from . import metrics as _m

__all__ = ["Kind", "KINDS", "DIRECTION_KINDS", "METRIC_KINDS", "get_kind", "speaks_as", "streams", "reads_gram",
           "entry_revision"]

#: Options of the direction functions that are not parameters of an entry.
_RUN_OPTIONS = ("backend", "dtype", "keep_predictions", "progress", "gram")


@dataclass(frozen=True)
class Kind:
    """One kind of store entry.

    Attributes
    ----------
    name : str
        ``"forward"``, ..., ``"cka"``, ``"dimensionality"``, ``"gram"``.
    stage : {"scores", "metrics", "cache"}
        Top-level group of its entries.
    source_kinds, target_kinds : tuple of {"features", "neural"}
        Set kinds accepted as source / target (``target_kinds`` empty: no target).
    defaults : dict
        Parameter -> default.
    takes_dtype : bool
        Whether ``dtype`` is a parameter (directions).
    revision : int
        Raised when a fix changes the kind's numbers (:data:`REVISIONS`); it enters the provenance,
        so an entry computed before the fix is never read back as current.
    check : callable or None
        ``check(params) -> params``: the values checked (one-line error) and spelled once, before
        any data is read (the metrics: :func:`neuroxr.entries.metrics.check_params`; their inference:
        :func:`neuroxr.entries.metrics.check_inference_params`; the directions: their own checks,
        :func:`neuroxr.predictivity._prepare.check_params`; their inference: those and the
        procedure's, :func:`neuroxr.predictivity.inference.check_procedure_options`; temporal
        generalisation: :func:`neuroxr.predictivity.generalization.check_generalization_params`).
    """

    name: str
    stage: str
    source_kinds: tuple[str, ...]
    target_kinds: tuple[str, ...]
    defaults: Mapping[str, Any]
    takes_dtype: bool = False
    revision: int = 0
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def pairwise(self) -> bool:
        return bool(self.target_kinds)

    def fill(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` checked (one-line error naming an unknown parameter or, with :attr:`check`, a
        bad value) with defaults filled, each value in one spelling."""
        params = dict(params or {})
        bad = sorted(k for k in params if k not in self.defaults)
        if bad:
            what = "metric" if self.stage == "metrics" else "kind"
            raise ParameterError(f"{what} {self.name!r} takes no options {bad}; it accepts {sorted(self.defaults)}.")
        out = dict(self.defaults)
        for k, v in params.items():
            out[k] = _spelled_once(v, self.defaults[k], k in _FLOAT_PARAMS)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        out = out if self.check is None else self.check(out)  # refusals name the values as given
        if isinstance(out.get("alphas"), list):  # ridgecv's grid is a set: one order, once each (one key, one fit)
            out["alphas"] = sorted(set(out["alphas"]))
        return out


#: parameters whose default is None but whose values are floats (``min_reliability=0`` is ``0.0``)
_FLOAT_PARAMS = ("min_reliability",)


def _spelled_once(v: Any, default: Any, floating: bool = False) -> Any:
    """One spelling per parameter value, so equal requests get one key: NumPy scalars and arrays
    as Python values and lists, an int as a float where the parameter is a float (``alpha=1`` is
    ``alpha=1.0``), 0 and 1 as booleans where it is a flag (``debiased=0`` is ``False``), and
    the numbers of a list (NumPy scalars and 0-d arrays among them) as floats (``alphas``); a range
    as its list, a set as its sorted list (``alphas={1, 10}`` is ``[1.0, 10.0]``)."""
    import numpy as np

    if isinstance(v, np.ndarray) and v.ndim == 1:
        v = v.tolist()
    elif isinstance(v, range):
        v = list(v)
    elif isinstance(v, (set, frozenset)):
        try:
            v = sorted(v)
        except TypeError:  # items of no common order: left as given, the parameter's own check names them
            pass
    elif isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, int) and not isinstance(v, bool):
        if isinstance(default, float) or floating:
            return float(v)
        if isinstance(default, bool) and v in (0, 1):
            return bool(v)
    if isinstance(v, (tuple, list)):
        # NumPy scalars and 0-d arrays as Python numbers (a 0-d array is unhashable: the grid's set() failed raw)
        items = [x.item() if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0) else x for x in v]
        return [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in items]
    return v


def _direction_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if p.kind is p.KEYWORD_ONLY and n not in _RUN_OPTIONS}


_DIRECTION_SETS = {
    "forward": (("features",), ("neural",)),
    "reverse": (("neural",), ("features",)),
    "inter_animal": (("neural",), ("neural",)),
    "model_to_model": (("features",), ("features",)),
}
#: direction -> its function in :mod:`neuroxr.predictivity`
DIRECTION_FUNCTIONS: dict[str, Callable[..., xr.Dataset]] = {
    "forward": _d.forward, "reverse": _d.reverse, "inter_animal": _d.inter_animal, "model_to_model": _d.model_to_model,
}
DIRECTION_KINDS = tuple(_DIRECTION_SETS)
METRIC_KINDS = ("crsa", "ersa", "ereg", "shape", "cka", "dimensionality", "brainscore")


def _check_direction(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """A direction's parameters checked before any set is read, by the direction's own checks
    (:func:`neuroxr.predictivity._prepare.check_params`; ``dtype`` and ``backend`` are checked when
    it runs), and model_to_model's ``reps`` (:func:`_check_model_to_model`)."""
    from ..predictivity._prepare import check_params

    if name == "model_to_model":  # the messages start with the direction, as its own call's do
        check_params(**params, split="valid", noise_ceiling=False, ceiling_option=False, backend=None, dtype=None, caller=name)
        return _check_model_to_model(params)
    check_params(**params, backend=None, dtype=None, caller=name)
    return params


def _check_model_to_model(params: dict[str, Any]) -> dict[str, Any]:
    """model_to_model's ``reps`` other than 1 without ``max_n`` refused (one-line ParameterError), as
    ``neuroxr score model-to-model`` and its inference refuse it: every rep is then the same fit, so
    its entry would differ from the one-rep entry by a key and copies only, never in a number."""
    if params.get("max_n") is None and params.get("reps") != 1:
        raise no_effect([f"reps={params['reps']!r}"], "for model_to_model without max_n",
                        "without max_n every rep is the same fit", "add max_n", caller="model_to_model")
    return params


KINDS: dict[str, Kind] = {}
for _name, (_s, _t) in _DIRECTION_SETS.items():
    KINDS[_name] = Kind(_name, "scores", _s, _t, _direction_defaults(DIRECTION_FUNCTIONS[_name]), takes_dtype=True,
                        check=functools.partial(_check_direction, _name))
for _name in METRIC_KINDS:
    if _name == "dimensionality":
        KINDS[_name] = Kind(_name, "metrics", ("features", "neural"), (), {})
    elif _name == "brainscore":  # Brain-Score's protocol: a feature set on neural responses
        KINDS[_name] = Kind(_name, "metrics", ("features",), ("neural",), _m.metric_options(_name),
                            check=functools.partial(_m.check_params, _name))
    else:
        KINDS[_name] = Kind(_name, "metrics", ("features",), ("features", "neural"), _m.metric_options(_name),
                            check=functools.partial(_m.check_params, _name))
KINDS["gram"] = Kind("gram", "cache", ("features",), (), {})


def get_kind(kind: str) -> Kind:
    """The registered kind ``kind`` (``-`` may stand for ``_``; ``rsa`` means ``crsa``)."""
    name = str(kind).lower().replace("-", "_")
    if name == "rsa":
        name = "crsa"
    if name not in KINDS:
        raise ParameterError(f"unknown entry kind {shown(kind)}; choose one of {tuple(KINDS)}.")
    return KINDS[name]


def streams(kind: str, params: Mapping[str, Any]) -> bool:
    """The streaming rule, written once: forward with a shared regressor (ridge or linear) and no
    ``max_n`` unit subsets reads the features only through the layer's cached Gram."""
    return kind == "forward" and params.get("regressor", "ridge") in ("ridge", "linear") and params.get("max_n") is None


#: metrics that read a feature set only through its cached Gram
GRAM_METRICS = ("crsa", "cka", "dimensionality")


def reads_gram(kind: str, params: Mapping[str, Any], source_kind: str = "features") -> bool:
    """Whether an entry of ``kind`` reads its source feature set through the set's Gram entry
    (:func:`streams`, or cRSA / CKA / dimensionality of a feature set): a sweep computes that
    Gram once, as its own task, before the entries that read it."""
    if source_kind != "features":
        return False
    return streams(kind, params) or get_kind(kind).name in GRAM_METRICS


def lazy_features(kind: str, params: Mapping[str, Any]) -> bool:
    """Whether the feature set may stay lazy (dask-backed): reverse with ridge/linear reduces
    the features chunk by chunk."""
    return kind == "reverse" and params.get("regressor", "ridge") in ("ridge", "linear")


# --- inference kinds (issue 16): bootstrap intervals and permutation tests of a direction
#: inference kind -> (direction, procedure); entries at ``inference/<kind>/<source>__<target>/<key>``
INFERENCE_KINDS = {f"{d}_{p}": (d, p) for p in ("bootstrap", "permutation") for d in DIRECTION_KINDS}
#: the directions' inference kinds only (INFERENCE_KINDS gains the metrics' below)
DIRECTION_INFERENCE_KINDS = dict(INFERENCE_KINDS)
_INFERENCE_OPTIONS = {
    "bootstrap": {"n_boot": 1000, "level": 0.95, "method": "percentile", "over": "stimuli"},
    "permutation": {"n_perm": 1000},
}


#: procedure -> the public function that computes a direction's inference entry of it
#: (:mod:`neuroxr.predictivity.inference`), which its messages name
_PROCEDURE_FUNCTIONS = {"bootstrap": "bootstrap", "permutation": "permutation_test"}


def speaks_as(kind: str) -> str:
    """What an entry of ``kind`` names its messages after: the public function that computes it, as a
    direct call of that function does (``forward``; ``forward_bootstrap`` -> ``bootstrap``,
    ``forward_permutation`` -> ``permutation_test``; ``temporal_generalization``; ``crsa_permutation``
    -> ``rsa_permutation``, ``cka_permutation`` -> ``cka_bootstrap``:
    :data:`neuroxr.entries.metrics.METRIC_INFERENCE_FUNCTIONS`). A metric's own entries:
    :func:`neuroxr.entries.metrics.check_params`."""
    if kind in DIRECTION_INFERENCE_KINDS:
        return _PROCEDURE_FUNCTIONS[DIRECTION_INFERENCE_KINDS[kind][1]]
    return _m.METRIC_INFERENCE_FUNCTIONS.get(kind, kind)


def _check_direction_inference(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """A direction's bootstrap or permutation entry checked before any set is read: options that
    cannot change its numbers (:func:`neuroxr.predictivity.inference.check_options`), the
    direction's parameters as its inference checks them (``seed`` is never inert: it draws the
    resamples; ``dtype`` and ``backend`` are checked when it runs), and the procedure's own
    (:func:`neuroxr.predictivity.inference.check_procedure_options`). One line starting with the
    function that computes it (:func:`speaks_as`: ``bootstrap: ...``, ``permutation_test: ...``), as its
    direct call's."""
    from ..predictivity._prepare import check_params
    from ..predictivity.inference import check_options, check_procedure_options

    direction, procedure = DIRECTION_INFERENCE_KINDS[name]
    caller = speaks_as(name)
    check_options(direction, procedure, params, caller=caller)
    own = _INFERENCE_OPTIONS[procedure]
    check_params(**{"split": "valid", **{k: v for k, v in params.items() if k not in own}}, max_n=None, backend=None,
                 dtype=None, seed_drawn=True, caller=caller)
    check_procedure_options(procedure, **{k: params[k] for k in own}, caller=caller)
    return params


for _name, (_dir, _proc) in INFERENCE_KINDS.items():
    _s, _t = _DIRECTION_SETS[_dir]
    _defaults = {k: v for k, v in _direction_defaults(DIRECTION_FUNCTIONS[_dir]).items()
                 if k != "max_n"}
    KINDS[_name] = Kind(_name, "inference", _s, _t, {**_defaults, **_INFERENCE_OPTIONS[_proc]}, takes_dtype=True,
                        check=functools.partial(_check_direction_inference, _name))


def inference_kind(direction: str, procedure: str) -> str:
    """The entry kind of ``procedure`` (``"bootstrap"`` or ``"permutation"``) of ``direction``."""
    name = f"{direction}_{procedure}"
    if name not in INFERENCE_KINDS:
        raise LayoutError(f"no {procedure} entries for direction {direction!r}; choose one of {tuple(INFERENCE_KINDS)}.")
    return name


# --- time-resolved kinds (issue 20): temporal generalisation, a fit at bin t1 tested at bin t2
#: kind -> its function; entries at ``scores/<kind>/<source>__<target>/<key>``, a Dataset ``r`` over
#: ``(neuroid, time_bin_train, time_bin_test)``. The source is a feature set (model -> brain) or a
#: time-resolved neural set (inter-animal); the target a time-resolved neural set.
TIME_KINDS: dict[str, Callable[..., xr.Dataset]] = {"temporal_generalization": _d.temporal_generalization}


def _check_time_kind(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Temporal generalisation's parameters checked before any set is read, by its own check
    (:func:`neuroxr.predictivity.generalization.check_generalization_params`), in one line starting with the
    function (:func:`speaks_as`), as its direct call's."""
    from ..predictivity.generalization import check_generalization_params

    check_generalization_params(**params, caller=speaks_as(name))
    return params


for _name, _fn in TIME_KINDS.items():
    KINDS[_name] = Kind(_name, "scores", ("features", "neural"), ("neural",), _direction_defaults(_fn),
                        check=functools.partial(_check_time_kind, _name))

# --- inference kinds of the metrics (issue 16): crsa / ersa / cka / shape bootstrap and permutation
#: metric inference kind -> (metric, procedure); also in INFERENCE_KINDS (the engine runs them as inference)
METRIC_INFERENCE_KINDS = dict(_m.METRIC_INFERENCE_KINDS)
for _name, (_metric, _proc) in METRIC_INFERENCE_KINDS.items():
    INFERENCE_KINDS[_name] = (_metric, _proc)
    KINDS[_name] = Kind(_name, "inference", ("features",), ("features", "neural"), _m.metric_inference_options(_name),
                        check=functools.partial(_m.check_inference_params, _name))


# The revision history (which fix changed which kinds' numbers) reads the kinds above and sets their
# ``revision``: :mod:`neuroxr.entries.revisions`.
from .revisions import entry_revision  # noqa: E402
