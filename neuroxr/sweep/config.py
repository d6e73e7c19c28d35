"""Sweep configuration: the accepted keys, their JSON schema, and the checks of a config file.

The structure of a configuration (types, ranges, choices) is one JSON schema
(:data:`CONFIG_SCHEMA`, checked with ``jsonschema``); what the schema cannot say (directions and
metric names, metric options, dtypes, and names that must exist in a store) is checked here in
Python. Every failure is one :class:`~neuroxr.errors.SweepConfigError` line naming the key, what it
must be, and the value given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from ..backend import BACKENDS
from ..entries.metrics import METRIC_NAMES, RSA_VARIANTS
from ..errors import NeuroxrError, ParameterError, SweepConfigError, holding, shown
from ..kernels.regressors import REGRESSORS
from ..kernels.resample import BIAS_BOOT_DEFAULT, BIAS_BOOT_METHODS
from ..layouts import METRICS
from ..predictivity import DIRECTIONS
from ..predictivity.inference import BOOT_METHODS, BOOT_OVER
from .config_yaml import _yaml_loader

__all__ = [
    "CONFIG_SCHEMA", "INFERENCE_KEYS", "SCORE_KEYS", "SWEEP_KEYS", "SWEEP_METRICS", "check_inference", "check_metric_options",
    "check_score_kwargs", "load_config", "metric_kind", "metric_params", "nested_keys", "validate_config",
]

#: Parameters passed on to the direction functions (see :func:`neuroxr.predictivity.forward`).
SCORE_KEYS = (
    "reps", "seed", "regressor", "alpha", "n_components", "alphas", "n_folds", "fold_seed",
    "max_n", "noise_ceiling", "split", "min_reliability", "backend", "dtype",
    "temporal_generalization",  # not passed to the directions: a temporal-generalisation entry per entry (tasks.py)
)
#: Keys of a sweep configuration (YAML file or keyword arguments of :func:`neuroxr.sweep.sweep`).
SWEEP_KEYS = (
    "models", "layers", "neural", "directions", "regions", "overwrite", "n_workers", "scheduler",
    "selection_seed", "metric_options", "inference", "gram_spread", "memory_limit", "on_error", "blas_threads",
) + SCORE_KEYS
#: Metrics a sweep's ``directions`` may name besides the four directions (``rsa`` is the variant
#: ``metric_options["rsa"]["variant"]``, default ``crsa``).
SWEEP_METRICS = METRIC_NAMES

_NAME = {"type": "string"}
_NAMES = {"type": "array", "items": _NAME}
_NULL = {"type": "null"}


def _int(lo: int | None = None) -> dict[str, Any]:
    return {"type": "integer"} if lo is None else {"type": "integer", "minimum": lo}


#: JSON schema of a sweep's ``inference`` mapping: each key's rule and default (``method`` and ``over``
#: are the directions' bootstrap entries', ``shape_method`` the shape metric's, ``shape_bootstrap``'s
#: ``method``, ``cka_method`` CKA's, ``cka_bootstrap``'s); checked, with what the schema cannot say, by :func:`check_inference` alone
_INFERENCE_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
    "bootstrap": {**_int(0), "default": 0}, "permutations": {**_int(0), "default": 0},
    "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.95},
    "method": {"enum": list(BOOT_METHODS), "default": BOOT_METHODS[0]},
    "over": {"enum": list(BOOT_OVER), "default": BOOT_OVER[0]},
    "shape_method": {"enum": list(BIAS_BOOT_METHODS), "default": BIAS_BOOT_DEFAULT},
    "cka_method": {"enum": list(BIAS_BOOT_METHODS), "default": BIAS_BOOT_DEFAULT}}}
#: keys of a sweep's ``inference`` mapping and their defaults
INFERENCE_KEYS: dict[str, Any] = {k: v["default"] for k, v in _INFERENCE_SCHEMA["properties"].items()}


#: JSON schema of a sweep configuration (one YAML document). Unknown keys are refused first, with the
#: list of accepted ones; integers may be NumPy integers, arrays may be tuples when passed from Python.
CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "neuroxr sweep configuration",
    "type": "object",
    "properties": {
        "models": {"anyOf": [_NULL, _NAME, _NAMES]},
        "layers": {"anyOf": [_NULL, _NAME, _NAMES, {"type": "object", "additionalProperties": {"anyOf": [_NAME, _NAMES]}}]},
        "neural": {"anyOf": [_NULL, _NAME, _NAMES]},
        "directions": {"anyOf": [_NAME, {**_NAMES, "minItems": 1}]},
        "regions": {"anyOf": [_NULL, _NAME, _NAMES]},
        "overwrite": {"type": "boolean"},
        "n_workers": {"anyOf": [_NULL, _int(1)]},
        "scheduler": {"anyOf": [_NULL, _NAME]},
        "selection_seed": _int(0),
        "metric_options": {"anyOf": [_NULL, {"type": "object", "additionalProperties": {"anyOf": [_NULL, {"type": "object"}]}}]},
        "inference": {"anyOf": [_NULL, _INFERENCE_SCHEMA]},
        "gram_spread": {"anyOf": [_NULL, {"type": "boolean"}]},
        "memory_limit": {"anyOf": [_NULL, _NAME, {"type": "number", "exclusiveMinimum": 0}]},  # read by dask (run.py)
        "on_error": {"enum": ["raise", "warn"]},
        "blas_threads": {"anyOf": [_NULL, _int(1)]},
        "reps": _int(1),
        "seed": _int(0),
        "regressor": {"enum": list(REGRESSORS)},
        "alpha": {"type": "number", "minimum": 0},
        "n_components": _int(1),
        "alphas": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "uniqueItems": True},
        "n_folds": _int(2),
        "fold_seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
        "max_n": {"anyOf": [_NULL, _int(1)]},
        "noise_ceiling": {"anyOf": [_NULL, {"type": "boolean"}]},
        "min_reliability": {"anyOf": [_NULL, {"type": "number", "minimum": 0, "maximum": 1}]},
        "split": {"enum": ["valid", "slots"]},
        "backend": {"anyOf": [_NULL, {"enum": list(BACKENDS)}]},
        "dtype": {},  # checked by neuroxr.backend.resolve_dtype (it also takes NumPy dtypes)
        "temporal_generalization": {"type": "boolean"},
    },
}

#: What each key must be, for the one-line messages.
_CONFIG_TYPES: dict[str, str] = {
    "models": "a name or a list of names",
    "layers": "a name, a list of names, or a mapping model -> list of layer names",
    "neural": "a name or a list of names",
    "directions": f"a direction or a list of directions out of {DIRECTIONS} and the metrics {SWEEP_METRICS}",
    "regions": "null, 'each', a region or a list of regions ('all' = the whole set)",
    "overwrite": "true or false",
    "n_workers": "a positive integer",
    "scheduler": "a scheduler address such as 'tcp://host:8786', or 'serial'",
    "selection_seed": "an integer >= 0",
    "metric_options": "a mapping metric -> options, e.g. {rsa: {variant: ersa}, shape: {alpha: 0.5}}",
    "inference": "a mapping such as {bootstrap: 1000, permutations: 1000} (also level, method: percentile|bca, over: "
                 "stimuli|targets|both, shape_method, cka_method: centred|percentile|basic)",
    "gram_spread": "true, false or null (automatic: reduce a layer's Gram across the workers when it is larger than a "
                   "quarter of a worker's memory)",
    "memory_limit": "a memory size per worker of the embedded local cluster such as '2GiB', a number of bytes, or 'auto'",
    "on_error": "'raise' (stop with the failed entries named) or 'warn' (return them in the result's failed)",
    "blas_threads": "an integer >= 1 (BLAS/OpenMP threads inside each task) or null (left alone)",
    "reps": "an integer >= 1",
    "seed": "an integer >= 0",
    "regressor": f"one of {REGRESSORS}",
    "alpha": "a finite number >= 0",
    "n_components": "an integer >= 1",
    "alphas": "a list of finite positive numbers, each once (the penalties of ridgecv)",
    "n_folds": "an integer >= 2",
    "fold_seed": "an integer in [0, 2**32 - 1]",
    "max_n": "a positive integer or null",
    "noise_ceiling": "true, false or null (automatic: the ceiling where the target has repeats)",
    "min_reliability": "a number in [0, 1] (the split-half reliability below which a target is not counted) or null",
    "split": "one of ('valid', 'slots')",
    "backend": f"one of {BACKENDS}",
    "dtype": "'float32' or 'float64'",
    "temporal_generalization": "true or false (true: a temporal-generalisation entry for every forward and inter_animal "
                               "entry whose neural sets are time-resolved)",
}


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
        "number": lambda _, v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool),
        "array": lambda _, v: isinstance(v, (list, tuple)),
        "object": lambda _, v: isinstance(v, Mapping),
    })
    return jsonschema.validators.extend(base, type_checker=checker)(CONFIG_SCHEMA)


def nested_keys() -> dict[str, tuple[str, ...]]:
    """The settings of the configuration's nested mappings (the object values of :data:`CONFIG_SCHEMA`)
    by their section's dotted path: ``metric_options.<metric>`` -> the metric's options (``rsa``: its
    ``variant`` and its variants' options), ``inference`` -> :data:`INFERENCE_KEYS`. A setting is named
    ``<section>.<key>`` (``metric_options.cka.debiased``) where a message speaks in the file's spelling."""
    from ..entries.kinds import get_kind

    out = {f"metric_options.{m}": tuple(get_kind(m).defaults) for m in METRICS}
    out["metric_options.rsa"] = ("variant", *dict.fromkeys(k for v in RSA_VARIANTS for k in get_kind(v).defaults))
    out["inference"] = tuple(INFERENCE_KEYS)
    return out


#: What each key of ``inference`` must be, for the one-line messages.
_INFERENCE_TYPES: dict[str, str] = {
    "bootstrap": "an integer >= 0 (0: none)", "permutations": "an integer >= 0 (0: none)",
    "level": "a number in (0, 1)", "method": f"one of {list(BOOT_METHODS)}", "over": f"one of {list(BOOT_OVER)}",
    "shape_method": f"one of {list(BIAS_BOOT_METHODS)} (the shape metric's bootstrap interval)",
    "cka_method": f"one of {list(BIAS_BOOT_METHODS)} (the cka metric's bootstrap interval)",
}


def check_inference(inference: Mapping[str, Any] | None, kw: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The ``inference`` option (of :func:`~neuroxr.sweep.sweep` or a config file) with its defaults
    filled, or ``None`` (``None`` or an empty mapping): the one check of its keys, in one line naming
    the key, before any entry is computed (``kw``: the sweep's score arguments).

    Raises
    ------
    SweepConfigError
        ``max_n`` with inference, not a mapping, an unknown key (listed with the accepted ones), a key
        breaking :data:`CONFIG_SCHEMA` (a NaN ``level`` too), or neither ``bootstrap`` nor
        ``permutations`` above 0.
    """
    if inference is None or isinstance(inference, Mapping) and not inference:
        return None
    if kw is not None and kw.get("max_n") is not None:
        raise SweepConfigError("inference needs max_n=None (the operator must stay fixed); drop max_n or inference.")
    if not isinstance(inference, Mapping):
        raise SweepConfigError(f"inference must be {_CONFIG_TYPES['inference']}; got {shown(inference)}.")
    unknown = sorted(str(k) for k in inference if k not in INFERENCE_KEYS)
    if unknown:
        raise SweepConfigError(f"inference takes no keys {unknown}; accepted keys: {list(INFERENCE_KEYS)}.")
    errors = sorted(_validator().evolve(schema=_INFERENCE_SCHEMA).iter_errors(dict(inference)),
                    key=lambda e: list(e.absolute_path))
    bad = str(errors[0].absolute_path[0]) if errors else "level" if _non_finite(inference.get("level")) else None
    if bad is not None:
        raise SweepConfigError(f"inference.{bad} must be {_INFERENCE_TYPES[bad]}; got {shown(inference[bad])}.")
    out = {**INFERENCE_KEYS, **inference}
    if not out["bootstrap"] and not out["permutations"]:
        raise SweepConfigError("inference asks for no entries (bootstrap and permutations are both 0); give "
                               "inference.bootstrap or inference.permutations > 0, or drop inference.")
    return out


def _check_schema(config: Mapping[str, Any]) -> None:
    """The first key of ``config`` that breaks :data:`CONFIG_SCHEMA`, as one line."""
    # ``inference`` is checked by check_inference alone (its keys, in one line naming the key)
    errors = sorted(_validator().iter_errors({k: v for k, v in config.items() if k != "inference"}),
                    key=lambda e: list(e.absolute_path))
    if errors:
        key = str(errors[0].absolute_path[0]) if errors[0].absolute_path else None
        if key in _CONFIG_TYPES:
            raise SweepConfigError(f"{key} must be {_CONFIG_TYPES[key]}; got {shown(config[key])}.")
        raise SweepConfigError(f"invalid sweep configuration: {errors[0].message}.")
    _check_finite(config)


def _non_finite(value: Any) -> bool:
    """Whether ``value`` is a NaN or infinite number, or a list holding one."""
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return isinstance(value, (float, np.floating)) and not np.isfinite(value)


def _check_finite(config: Mapping[str, Any]) -> None:
    """NaN and infinities (``.nan``, ``.inf`` in YAML), which the JSON schema cannot refuse, as one line naming the key."""
    for key, value in config.items():
        if _non_finite(value):
            raise SweepConfigError(f"{key} must be {_CONFIG_TYPES.get(key, 'finite')}; got {shown(value)}.")


def as_list(value: Any, what: str) -> list[str] | None:
    """``None``, one name, or a list of names -> list of names (or None), a repeated name kept once
    (first place): a sweep never plans one entry twice."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        out = list(value)
        bad = [v for v in out if not isinstance(v, str)]
        if bad:
            raise SweepConfigError(f"{what} must be names (strings); got {shown(bad[:3])}.")
        return list(dict.fromkeys(out))
    raise SweepConfigError(f"{what} must be a name or a list of names; got {type(value).__name__} {value!r}.")


# ---------------------------------------------------------------------------- metrics
def metric_kind(name: str, metric_options: Mapping[str, Mapping[str, Any]] | None) -> str:
    """A direction as is; a metric name as its entry group (``rsa`` -> its configured variant)."""
    if name in DIRECTIONS:
        return name
    variant = None
    if name == "rsa" and metric_options and isinstance(metric_options.get("rsa"), Mapping):
        variant = metric_options["rsa"].get("variant")
    from ..entries.metrics import metric_kind as _kind

    try:
        return _kind(name, variant)
    except ValueError as exc:
        raise SweepConfigError(f"metric_options: {exc}") from None


def _same(kind: str, key: str, a: Any, b: Any) -> bool:
    """Whether two values of option ``key`` of metric entry group ``kind`` are one value as the metric
    spells them (``1`` and ``1.0``, ``"corr"`` and ``"pearson"``); a value the metric refuses is its own."""
    from ..entries.kinds import get_kind

    def spelled(v: Any) -> Any:
        try:
            return get_kind(kind).fill({key: v})[key]
        except (ValueError, KeyError):
            return v

    try:
        return bool(spelled(a) == spelled(b))
    except (TypeError, ValueError):  # arrays and the like compare element-wise
        return a is b


def metric_params(kind: str, metric_options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The options of metric entry group ``kind``: for the RSA variant that ``rsa`` stands for,
    ``metric_options["rsa"]`` (less ``variant``) updated with ``metric_options[kind]``; for any other,
    ``metric_options[kind]``. Checked by the metric's own checks (names, types and values, as
    :func:`neuroxr.compute` checks them: :meth:`neuroxr.entries.kinds.Kind.fill`) and returned
    spelled as the entry key holds them."""
    from ..entries.kinds import get_kind

    opts = dict(metric_options or {})
    params: dict[str, Any] = {}
    given = [kind] if opts.get(kind) else []
    if kind in RSA_VARIANTS and kind == metric_kind("rsa", opts):
        params.update({k: v for k, v in dict(opts.get("rsa") or {}).items() if k != "variant"})
        given = ["rsa"] * bool(params) + given
        own = dict(opts.get(kind) or {})
        clash = [k for k in params if k in own and not _same(kind, k, params[k], own[k])]
        if clash:  # one would be dropped without a word
            k = clash[0]
            raise SweepConfigError(f"metric_options.rsa.{k} ({shown(params[k])}) and metric_options.{kind}.{k} "
                                   f"({shown(own[k])}) set the same option of the {kind} entries; keep one of them.")
    params.update(dict(opts.get(kind) or {}))
    try:
        filled = get_kind(kind).fill(params)
    except ValueError as exc:
        if len(given) == 2:  # rsa's options and the variant's: the key whose options alone fail, where one does
            given = [g for g in given if _fails(kind, {k: v for k, v in dict(opts[g]).items() if k != "variant"})][:1] or given
        raise SweepConfigError(f"metric_options.{'/'.join(given) or kind}: {exc}") from None
    return {k: filled[k] for k in params}


def _fails(kind: str, params: Mapping[str, Any]) -> bool:
    """Whether metric entry group ``kind`` refuses ``params``."""
    from ..entries.kinds import get_kind

    try:
        get_kind(kind).fill(params)
    except ValueError:
        return True
    return False


def check_metric_options(metric_options: Any) -> dict[str, dict[str, Any]]:
    """``metric_options`` checked (known metrics; the options' names, types and values, see
    :func:`metric_params`) and returned as plain dicts, each value spelled as the entry key holds it."""
    if metric_options is None:
        return {}
    if not isinstance(metric_options, Mapping) or not all(isinstance(v, Mapping) or v is None for v in metric_options.values()):
        raise SweepConfigError(f"metric_options must be {_CONFIG_TYPES['metric_options']}; got {shown(metric_options)}.")
    bad = [k for k in metric_options if k not in SWEEP_METRICS]
    if bad:
        raise SweepConfigError(f"metric_options names unknown metrics {bad}; choose from {SWEEP_METRICS}.")
    out = {str(k): dict(v or {}) for k, v in metric_options.items()}
    metric_kind("rsa", out)  # checks the variant
    for kind in METRICS:
        metric_params(kind, out)
    for key, opts in out.items():  # each key's options as its metric spells them (rsa's: its variant's)
        kind = metric_kind(key, out)
        spelled = metric_params(kind, {kind: {k: v for k, v in opts.items() if k != "variant"}})
        out[key] = {k: v if k == "variant" else spelled[k] for k, v in opts.items()}
    return out


# ---------------------------------------------------------------------------- score arguments
def check_score_kwargs(kw: Mapping[str, Any], inference: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The score arguments of a sweep (keys of :data:`SCORE_KEYS`) checked and normalised
    (``alphas`` to floats, ``dtype`` to its name). With ``inference`` (the sweep's, as given) the
    ``seed`` is not refused as inert without a ceiling: it draws the inference entries' resamples."""
    from ..backend import resolve_dtype

    bad = [k for k in kw if k not in SCORE_KEYS]
    if bad:  # a mistyped keyword of the sweep's own (model= for models=) lands here too: name both lists
        import difflib

        own = [k for k in ("client" if k == "scheduler" else k for k in SWEEP_KEYS) if k not in SCORE_KEYS]
        own += ["progress", "storage_options"]
        close = [f"{m[0]!r} for {k!r}" for k in sorted(map(str, bad))
                 if (m := difflib.get_close_matches(k, own + list(SCORE_KEYS), n=1))]
        raise SweepConfigError(f"unknown sweep arguments {sorted(map(str, bad))}; accepted score arguments: {list(SCORE_KEYS)}, "
                               f"and the sweep's own keywords: {own}" + (f"; did you mean {', '.join(close)}?" if close else "."))
    _check_schema(kw)
    out = dict(kw)
    _check_penalties(out)
    if out.get("temporal_generalization") and out.get("regressor", "ridge") != "ridge":
        raise SweepConfigError(f"temporal_generalization fits a ridge; it needs regressor 'ridge', got {shown(out['regressor'])} "
                               f"(drop temporal_generalization or the regressor).")
    if "alphas" in out:
        out["alphas"] = [float(a) for a in out["alphas"]]
    if "dtype" in out:
        try:
            out["dtype"] = str(resolve_dtype(out["dtype"]))
        except Exception as exc:
            raise SweepConfigError(f"dtype must be {_CONFIG_TYPES['dtype']}; got {shown(out['dtype'])}.") from exc
        if out.get("temporal_generalization") and out["dtype"] != "float64":  # as a direct request refuses it
            raise SweepConfigError(f"temporal_generalization computes in float64 only; it needs dtype 'float64', got "
                                   f"{out['dtype']!r} (drop temporal_generalization or the dtype).")
    from ..entries.kinds import get_kind
    from ..predictivity._prepare import check_params

    # the directions' own checks, before any work: a bad value, or an option that would change no entry's
    # numbers (alpha with linear, seed without a ceiling ...). The backend is checked where it runs (a worker).
    args = {**get_kind("forward").defaults, "dtype": None}
    args.update({k: v for k, v in out.items() if k not in ("backend", "temporal_generalization")})
    drawn = check_inference(inference, out) is not None  # the seed draws the inference entries' resamples
    try:
        check_params(**args, backend=None, seed_drawn=drawn)
    except ParameterError as exc:
        raise SweepConfigError(str(exc)) from None
    return out


def _check_penalties(out: dict[str, Any]) -> None:
    """Refuse ``alpha``, ``alphas``, ``n_components`` written for a regressor that does not read them,
    whatever their value, as the command line refuses the flags (the directions' check can only see a
    value other than the default: ``regressor: linear`` with ``alpha: 0.1`` was accepted)."""
    from ..kernels.regressors import unread_error, unread_given, with_regressor

    regressor = out.get("regressor", "ridge")
    unused, choices = unread_given(regressor, out)
    if unused:
        raise SweepConfigError(str(unread_error(unused, with_regressor(regressor), f"set regressor to {choices}")))


def _normal_directions(dirs: Any) -> list[str]:
    dirs = [dirs] if isinstance(dirs, str) else list(dirs)
    bad = [d for d in dirs if d.replace("-", "_") not in DIRECTIONS + SWEEP_METRICS]
    if bad:
        raise SweepConfigError(f"unknown directions {bad}; choose from {DIRECTIONS} or the metrics {SWEEP_METRICS}.")
    return [d.replace("-", "_") for d in dirs]


def validate_config(config: Mapping[str, Any] | None, store: Any = None) -> dict[str, Any]:
    """Check a sweep configuration (the keys of :data:`SWEEP_KEYS`) and return it normalised.

    Parameters
    ----------
    config : mapping or None
        As read from a YAML file: ``models``, ``layers``, ``neural``, ``directions``,
        ``regions``, ``overwrite``, ``n_workers``, ``memory_limit``, ``scheduler``, ``selection_seed``,
        ``on_error``, ``blas_threads``, ``metric_options``, ``inference`` and the score arguments of :data:`SCORE_KEYS`. ``None`` is ``{}``.
    store : StudyStore or path, optional
        Also check that the models, layers, neural sets and regions exist in it (a path is opened
        read-only), and that every
        option is read by some planned entry: the checks :func:`~neuroxr.sweep.sweep` runs before
        anything (:func:`neuroxr.sweep.checks.check_plan`), so a configuration accepted here is one
        the sweep accepts; in one call of the store (:meth:`~neuroxr.store.StudyStore.session`: the
        inventory listed once, each document read once, afresh). Without it, the checks that need no
        store (values, ``inference``, the cluster options with ``scheduler``).

    Returns
    -------
    dict
        The configuration with ``directions`` as a list (``-`` read as ``_``), ``alphas`` as floats,
        ``dtype`` as its name and ``metric_options`` as plain dicts.

    Raises
    ------
    SweepConfigError
        Unknown keys (listed with the accepted ones), values of the wrong type, names not in the
        store, or options that nothing would read.
    """
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise SweepConfigError(f"a sweep configuration must be a mapping of keys to values; got {type(config).__name__}.")
    unknown = [k for k in config if k not in SWEEP_KEYS]
    if unknown:
        raise SweepConfigError(f"unknown configuration keys {sorted(map(str, unknown))}; accepted keys: {list(SWEEP_KEYS)}.")
    _check_schema(config)
    out = dict(config)
    if "directions" in out:
        out["directions"] = _normal_directions(out["directions"])
    kw = check_score_kwargs({k: v for k, v in out.items() if k in SCORE_KEYS}, out.get("inference"))
    out.update(kw)
    if "metric_options" in out:
        out["metric_options"] = check_metric_options(out["metric_options"])
    from .run import check_cluster_options

    inference = check_inference(out.get("inference"), kw)
    check_cluster_options(out.get("scheduler"), out, spelling={"client": "scheduler", "local": "leave out scheduler"})
    if store is not None:  # the sweep's own checks of its plan (the one place, neuroxr.sweep.checks)
        from ..store.study import as_store
        from .checks import check_plan

        store = as_store(store, "r")  # a path or URL: a check writes nothing

        # what the plan leaves out is said once, by the sweep that plans it (this thread's alone); one call of the
        # store: the inventory listed once and each document read once, afresh
        with holding(), store.session():
            check_plan(store, kw, out.get("metric_options"), inference, out.get("models"), out.get("layers"),
                       out.get("neural"), out.get("directions", ("forward", "reverse")), out.get("regions"),
                       out.get("selection_seed"))
    return out


# ---------------------------------------------------------------------------- config files
def load_config(path: str | os.PathLike, store: Any = None) -> dict[str, Any]:
    """Read a sweep configuration from a YAML file and validate it (see :func:`validate_config`).

    Example file::

        models: [netA, netB]
        layers: {netA: [layer2, layer3], netB: [conv3, fc]}
        neural: [animalA, animalB]
        directions: [forward, reverse, inter_animal, rsa, cka, dimensionality]
        regions: each
        reps: 20
        seed: 0
        regressor: ridge
        metric_options:
          rsa: {variant: ersa, alpha: 1.0}
          cka: {debiased: true}

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file.
    store : StudyStore, optional
        As in :func:`validate_config`.

    Raises
    ------
    SweepConfigError
        The file cannot be read, is not UTF-8 YAML, holds no keys (empty, or comments only: a sweep
        of everything with the defaults is asked for by leaving the file out), or fails :func:`validate_config` (the message starts
        with the file's path; a check of the plan that an entry kind makes keeps its own class, e.g.
        ``ParameterError``, with the path too).
    """
    import yaml

    if not isinstance(path, (str, os.PathLike)):
        raise SweepConfigError(f"load_config: path must be the YAML file's path (a str or os.PathLike); got {shown(path)}. "
                               f"Pass a validated dict to validate_config instead.")
    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.load(fh, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except SweepConfigError as exc:  # a key given twice, an int with a leading zero
        raise SweepConfigError(f"{os.fspath(path)}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SweepConfigError(f"the sweep configuration {os.fspath(path)!r} is not UTF-8 text ({exc.reason} at byte "
                               f"{exc.start}); save it as UTF-8 YAML.") from None
    except OSError as exc:
        raise SweepConfigError(f"cannot read the sweep configuration {os.fspath(path)!r}: {exc}.") from exc
    except yaml.YAMLError as exc:
        raise SweepConfigError(f"{os.fspath(path)!r} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if config is None:  # an empty file (or only comments): a truncated or unsaved config, never "all defaults"
        raise SweepConfigError(f"the sweep configuration {os.fspath(path)!r} holds no keys; write the sweep's keys in "
                               f"it, or leave the configuration out to sweep everything with the defaults.")
    try:
        return validate_config(config, store)
    except NeuroxrError as exc:  # also the plan's checks by an entry kind's own (a ParameterError): keep the class
        raise type(exc)(f"{os.fspath(path)}: {exc}") from None
