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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import xarray as xr

from .. import predictivity as _d
from ..errors import LayoutError, no_effect, shown
from ..kernels.regressors import fits_jointly
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
            raise LayoutError(f"{what} {self.name!r} takes no options {bad}; it accepts {sorted(self.defaults)}.")
        out = dict(self.defaults)
        for k, v in params.items():
            out[k] = _spelled_once(v, self.defaults[k], k in _FLOAT_PARAMS)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out if self.check is None else self.check(out)


#: parameters whose default is None but whose values are floats (``min_reliability=0`` is ``0.0``)
_FLOAT_PARAMS = ("min_reliability",)


def _spelled_once(v: Any, default: Any, floating: bool = False) -> Any:
    """One spelling per parameter value, so equal requests get one key: NumPy scalars and arrays
    as Python values and lists, an int as a float where the parameter is a float (``alpha=1`` is
    ``alpha=1.0``), 0 and 1 as booleans where it is a flag (``debiased=0`` is ``False``), and
    the numbers of a list as floats (``alphas``)."""
    import numpy as np

    if isinstance(v, np.ndarray) and v.ndim == 1:
        v = v.tolist()
    elif isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, int) and not isinstance(v, bool):
        if isinstance(default, float) or floating:
            return float(v)
        if isinstance(default, bool) and v in (0, 1):
            return bool(v)
    if isinstance(v, (tuple, list)):
        items = [x.item() if isinstance(x, np.generic) else x for x in v]
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
        raise LayoutError(f"unknown entry kind {shown(kind)}; choose one of {tuple(KINDS)}.")
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

#: kind -> revision, for the kinds whose numbers a fix changed (absent: 0). Shape entries split by
#: position in the stored order, crsa_permutation permuted a model RDM whose columns were not in
#: canonical order, RSA inference returned NaN for an RDM with NaN pairs (now left out and counted),
#: brainscore took its ceiling from neuroids by position when one was dropped, and cka_bootstrap
#: kept the common stimuli of two sets instead of refusing. Revision 2 of forward: time-resolved
#: responses whose bins miss trials of different stimuli were scored on the stimuli all bins shared
#: (the bins' missing patterns were grouped together; also, a streamed Gram of lazy float32
#: features is now float64); the neural directions' inference: per-bin
#: resamples were labeled with the first bin's stimuli; shape (2) and its inference: the whitening
#: floors covariance eigenvalues at netrep's absolute 1e-7, not relative to the largest; shape (3):
#: the held-out distance pairs only the directions the training data determine (a partial isometry,
#: the null space whitened by alpha alone), so it no longer follows the rounding of a null space
#: (at least as many units as training stimuli; the training distance is unchanged). brainscore
#: (2): its PLS fitted the neuroids in the input's order, now in canonical id order, (3) and the units
#: too (the components past the features' rank fitted order-dependent rounding); ereg (1): the
#: random projection drew over the units in the stored order, now in canonical id order. gram (1):
#: it records whether the features are integers (and their largest magnitude), which exact
#: Euclidean RDMs need; one stored before reads as not integral; (2) it holds the row pass where
#: the stimuli have large offsets (kernels.gram_rows), without which correlation and cosine RDMs
#: from it lose digits; one stored before has none. cka_bootstrap (2): its interval is centred on the
#: estimate by default (method="centred"; resampled biased CKA runs above it), with score_bias.
REVISIONS = {"gram": 2, "forward": 2, "shape": 2, "crsa_bootstrap": 1, "crsa_permutation": 1, "ersa_bootstrap": 1,
             "ersa_permutation": 1, "brainscore": 3, "ereg": 1, "cka_bootstrap": 2, "cka_permutation": 1, "shape_bootstrap": 1,
             "shape_permutation": 1, "forward_bootstrap": 1, "reverse_bootstrap": 1, "inter_animal_bootstrap": 1,
             "forward_permutation": 1, "reverse_permutation": 1, "inter_animal_permutation": 1}
#: The kinds fitting ridge through the shared kernels (the directions, their inference, eRSA, eReg):
#: a kernel of numerical rank below the training size (more predictors than training stimuli, but
#: low rank) once amplified its null space's rounding by 1 / alpha; it now runs on its low-rank
#: factor (docs/kernels.md, "Ridge precision"), so each is one revision up; temporal generalisation's
#: fits take scikit-learn's SVD solution then.
RIDGE_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "ersa", "ersa_bootstrap", "ersa_permutation", "ereg",
               *TIME_KINDS)
for _name in RIDGE_KINDS:
    REVISIONS[_name] = REVISIONS.get(_name, 0) + 1
#: The kinds that decide "no variance across the stimuli": features or targets constant up to
#: rounding (a centred sum of squares at most 256 eps of the uncentred one, :mod:`neuroxr.kernels.stats`)
#: were scored as if they varied (CKA, effective dimensionality, a target's r, a shape distance:
#: numbers from rounding; forward scored an exactly constant target whose float mean is not exact
#: r = 1); now NaN with a warning (a constant design: the error; shape: as a zero representation), so each is one revision up.
CONSTANT_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "cka", "dimensionality", "cka_bootstrap", "cka_permutation",
                  "shape", "shape_bootstrap", "shape_permutation", *TIME_KINDS)
#: The kinds that rank their targets' split halves whatever their parameters (forward and
#: inter-animal's ceiling, resampled by their bootstrap): ranks now tie values equal up to rounding
#: (docs/kernels.md, "Ties up to rounding"), which changes the numbers of data whose ties rounding
#: broke (spike rates); which data those are the key cannot tell, so each is one revision up.
RANK_KINDS = ("forward", "inter_animal", "forward_bootstrap", "inter_animal_bootstrap")
#: The kinds whose numbers other fixes of the same stop changed for some inputs: permutation p-values
#: count null values equal to the observed one up to rounding as ties (a sparse target's p followed
#: the rounding); the metrics average float16 / float32 neural repeats in float64 (they were averaged
#: in the input's dtype); a target group with 2 stimuli is NaN (its out-of-fold r was always -1);
#: shape's held-out distance pairs only the directions the training data span (it followed the
#: rounding of their null space); shape_bootstrap's interval corrects the resampling bias.
OTHER_KINDS = (*(k for k in KINDS if k.endswith("_permutation")), *METRIC_KINDS, *METRIC_INFERENCE_KINDS,
               *DIRECTION_KINDS, *TIME_KINDS)
#: The kinds fitting ridge on in-memory features through the shared kernels: where the rank bound
#: fires, features of *nearly* low rank (small genuine axes below the Gram's resolution) lost those
#: axes, and a float32 Gram of most features lost far more; the primal forms now run on the features'
#: principal axes (docs/kernels.md, "Ridge precision"; temporal generalisation's fits were already scikit-learn's SVD solution).
PRINCIPAL_AXES_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "ersa", "ersa_bootstrap", "ersa_permutation", "ereg")
#: The bootstrap kinds, whose interval of a statistic with an undefined (NaN) resample is now NaN, as
#: scipy.stats.bootstrap's (those resamples were left out; n_boot_undefined counts them), and whose
#: resampled r over 2 distinct stimuli of a target is undefined (it was +-1); crsa, whose ceiled_score
#: is NaN for a ceiling <= 0 (it divided by it); temporal generalisation, which counts the group limit
#: of its targets' missing-stimulus patterns per (train bin, test bin) pair (the diagonal is the direction's r).
UNDEFINED_RESAMPLE_KINDS = (*(k for k in KINDS if k.endswith("_bootstrap")), "crsa", *TIME_KINDS)
#: Temporal generalisation, whose targets with fewer usable stimuli than folds now count among their
#: (train bin, test bin) pair's missing-stimulus patterns and shared stimuli, as the direction counts
#: them on a bin (left out, they could turn the group limit's fallback on or off: the diagonal was off
#: the direction's r).
TG_FEW_TARGET_KINDS = (*TIME_KINDS,)
#: crsa and Brain-Score, whose split-half ceilings now halve each (stimulus, neuroid)'s valid repeats
#: (split="valid"; the halves of slots left neuroids out per rep, or made the ceiling NaN, with
#: unequal repeat counts) and whose score uses the ceiling's neuroids (2 valid repeats on every
#: stimulus): a neuroid with one trial on a stimulus was in the score but not in its ceiling.
#: crsa's bootstrap and permutation entries score the same neuroids as crsa's default. Equal on
#: complete data.
GEOMETRY_MISSING_KINDS = ("crsa", "brainscore", "crsa_bootstrap", "crsa_permutation")
#: The RSA inference kinds, whose comparisons with fewer than 3 complete RDM pairs (an all-NaN RDM: the
#: correlation RDM of one unit or neuroid, or of a constant layer) are now NaN as compare_rdms's: the
#: permutation entries held score 0.0 and p 1.0 (Pearson and cosine; Spearman crashed), the bootstraps'
#: score and resamples of 1 or 2 complete pairs +-1.
ALL_NAN_RDM_KINDS = ("crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation")
#: Brain-Score, which now refuses splits holding out fewer than 3 stimuli (11 to 20 stimuli at
#: train_size=0.9: every held-out r was +-1; 10 or fewer: NaN) and scores a neuroid whose trial means
#: are constant across stimuli NaN in its consistency (its halves gave r = -1: -inf, or about 1e16).
BRAINSCORE_FEW_KINDS = ("brainscore",)
#: The ridge metrics, which now refuse features without variance across the stimuli (a dead layer;
#: eRSA's also on its training stimuli) as the directions refuse such a design: eReg's r was an
#: artefact of intercept-only predictions (near -0.6), eRSA's train_score finite; same stop.
CONSTANT_DESIGN_METRIC_KINDS = ("ereg", "ersa", "ersa_bootstrap", "ersa_permutation")
#: This stop's kinds whose stored numbers can change. Features, a design or trial means are constant
#: when every unit is, each decided on its own squares (one large constant unit, e.g. at 1e8 or a
#: float32 Gram's "massive activation", once made a whole layer constant: CKA, dimensionality and
#: shape NaN), and the Gram records its varying units (gram); features or trial means constant up
#: to rounding give exactly constant RDMs (RSA scores NaN; they were finite, from rounding noise);
#: temporal_generalization refuses a source constant at a bin (it scored an intercept's r);
#: Brain-Score's ceiling refuses fewer than 3 stimuli with 2 valid repeats (it read 1.0). The
#: directions and their inference only refuse designs they refused before, or fewer: their stored
#: numbers stand.
STOP_18_KINDS = ("gram", *TIME_KINDS, *METRIC_KINDS, *METRIC_INFERENCE_KINDS)
#: This stop's kinds whose stored numbers change: the RSA bootstraps with a Spearman comparison
#: (crsa's and ersa's default compare_method) now rank each resample's RDMs anew, as compare_rdms
#: ranks the resampled RDMs (their score_boot and score_ci were the Pearson correlation of the
#: full-sample ranks on the resampled pairs); the point scores stand. The permutation kinds stand: a
#: permutation of the stimuli permutes the ranks exactly (and ersa_permutation keeps no resample).
STOP_19_KINDS = ("crsa_bootstrap", "ersa_bootstrap")
#: The kinds that take ``dtype`` (the directions and their inference), whose float32 entries alone
#: change at this stop: the shared kernels centre each column (design or target) in float64 before
#: the float32 cast (:func:`neuroxr.kernels.regressors.centred_cast`), so a column far from zero keeps
#: its variation's digits (features at 1e5 with unit spread: r off by up to 3.5e-3 before, 3e-7
#: now); every float32 entry's numbers move by float32's rounding. Their float64 entries stand, so
#: these kinds are raised by :func:`entry_revision` for ``dtype='float32'`` alone, not in a stop.
FLOAT32_CENTRED_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS)
#: The directions' bootstrap kinds, whose entries over targets (``over`` "targets" or "both") only
#: change at this stop: the targets are drawn among those scored, where a target never scored
#: (all-NaN, constant, too few stimuli: NaN in every variable) was drawn too, so each resample that
#: drew it took the median of fewer targets (``median_ev_boot`` / ``_ci``, ``median_ceiling_boot`` /
#: ``_ci``). Their entries over stimuli stand, so these kinds are raised by :func:`entry_revision` for
#: ``over`` other than "stimuli" alone, not in a stop.
TARGET_DRAW_KINDS = tuple(k for k in DIRECTION_INFERENCE_KINDS if k.endswith("_bootstrap"))
#: The CKA inference kinds, whose numbers change at this stop: the biased bootstrap's resamples are
#: computed in closed form from the draw counts (not from the gathered Grams: the same values up to
#: rounding); a resample whose drawn stimuli are equal up to rounding is constant (NaN and counted,
#: biased and debiased; it scored the rounding); the permutation nulls (biased and debiased) centre
#: the Grams once and permute the centred Gram (each permuted Gram was centred anew: rounding).
CKA_CLOSED_FORM_KINDS = ("cka_bootstrap", "cka_permutation")
#: The CKA kinds whose debiased entries (``debiased`` true) alone change at this stop: Song et al.'s
#: unbiased HSIC of the estimate and of the permutation null is computed with the bootstrap
#: resamples' formula at unit counts (one formula; sums over the Grams without their diagonal built a
#: block of columns at a time, 3 Grams of memory instead of 6): the same estimator, other rounding.
#: Their biased entries stand, so these kinds are raised by :func:`entry_revision` for
#: ``debiased`` alone, not in a stop.
DEBIASED_HSIC_KINDS = ("cka", "cka_bootstrap", "cka_permutation")
#: The RSA kinds whose entries with a correlation or cosine RDM (``rdm_method``) alone change at this
#: stop: an RDM whose values are all equal up to rounding on the measure's own scale (``1 - r`` errs
#: by about ``1e-16`` absolute) is now made constant (:func:`neuroxr.kernels.rdm.tie_bounded`), so
#: the RDM of affine copies of one pattern (rounding up to ``1e-15`` around 0, which a comparison
#: correlated: any score) is flat and its comparisons NaN. Their Euclidean entries stand, so these kinds are raised by :func:`entry_revision` for those
#: ``rdm_method`` alone, not in a stop.
BOUNDED_TIE_KINDS = ("crsa", "ersa", "crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation")
#: The RSA bootstraps whose entries comparing by Pearson (``compare_method`` "pearson") alone change at
#: this stop: a resample's RDM without variance is judged by :func:`~neuroxr.geometry.compare_rdms`'s
#: rule on the values it draws (:func:`neuroxr.kernels.compare.flat_ends`; an RDM whose relative spread
#: lay between about ``6e-14`` and ``2.4e-7`` was scored by compare_rdms and NaN in every resample),
#: the moments are taken of values shifted by their mean (fewer digits lost; scores move by rounding)
#: and a noise bound of a subject without variance is NaN, as rdm_noise_ceiling's. Their Spearman and
#: cosine entries stand, so these kinds are raised by :func:`entry_revision` for Pearson alone.
#: ersa_permutation takes its observed score from the same full-sample evaluation (its p with it).
FLAT_RESAMPLE_KINDS = ("crsa_bootstrap", "ersa_bootstrap", "ersa_permutation")
#: The direction bootstraps whose target's split halves are ranked (forward, inter-animal): each
#: stimulus resample (and BCa's jackknife) now ranks the halves anew among its drawn complete pairs,
#: a stimulus drawn c times as c tied copies, as the direction ranks the resample's rows (their
#: ceiling_boot / _ci, ev_boot / _ci and the medians' resamples and intervals were the Pearson
#: correlation of the full-sample ranks on the resampled pairs). Their point scores stand, as do
#: reverse_bootstrap and model_to_model_bootstrap (no ranked halves) and the permutation kinds.
RERANKED_HALVES_KINDS = ("forward_bootstrap", "inter_animal_bootstrap")
#: forward and inter-animal, which judge a target constant on the stimuli it is scored on: with a ceiling
#: (split="valid"), a trial mean from 1 valid repeat at a stimulus the target is not scored on made a target
#: constant up to rounding on its scored stimuli count as varying (its r and ev NaN, but its prediction_shc a
#: correlation of rounding, and no warning). Their inference judged it so already.
SCORED_CONSTANT_KINDS = ("forward", "inter_animal")
#: The kinds that take ``regressor`` (the directions and their inference), whose entries with
#: ``regressor="univariate"`` alone change at this stop: a predictor column constant up to rounding on
#: a training fold (:func:`neuroxr.kernels.stats.constant_units`) could be chosen as a target's best
#: column (its |r| was rounding noise; its huge slope predicted scaled rounding); it is never chosen
#: now. Their other entries stand, so these kinds are raised by :func:`entry_revision` for
#: univariate alone, not in a stop.
UNIVARIATE_CONSTANT_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS)
#: Temporal generalisation, whose targets with a bin where the neuroid's trial means are constant
#: across its stimuli up to rounding (the directions' rule, :func:`~neuroxr.predictivity._prepare.warn_constant_targets`)
#: are now NaN, with a warning: where out-of-fold ridge spread that rounding (a relative spread near
#: 1e-7, many features) their r was a number (the diagonal was not the direction's NaN).
TG_CONSTANT_TARGET_KINDS = (*TIME_KINDS,)
#: CKA of a cut Gram is judged constant on the stimuli kept (it scored rounding, e.g. -0.07; now NaN), its Grams are
#: not centred twice (rounding); shape's permutation p counts null angles within acos's rounding (~2e-7) as ties;
#: brainscore stratifies by numeric labels in their order (as text, '10' came before '2': not Brain-Score's splits).
METRIC_FIX_KINDS = ("cka", "cka_bootstrap", "cka_permutation", "shape_bootstrap", "shape_permutation", "brainscore")
#: The kinds each stop's fixes changed, one set per stop, oldest first.
STOPS = ({*CONSTANT_KINDS, *RANK_KINDS, *OTHER_KINDS, *PRINCIPAL_AXES_KINDS}, {*UNDEFINED_RESAMPLE_KINDS},
         {*TG_FEW_TARGET_KINDS, *GEOMETRY_MISSING_KINDS},
         {*ALL_NAN_RDM_KINDS, *BRAINSCORE_FEW_KINDS, *CONSTANT_DESIGN_METRIC_KINDS}, {*STOP_18_KINDS}, {*STOP_19_KINDS},
         {*CKA_CLOSED_FORM_KINDS, *RERANKED_HALVES_KINDS}, {*SCORED_CONSTANT_KINDS, *TG_CONSTANT_TARGET_KINDS, *METRIC_FIX_KINDS})


def raised_per_stop(revisions: Mapping[str, int], stops: Sequence[Iterable[str]]) -> dict[str, int]:
    """``revisions`` with each kind one up per stop that changed it: once per stop however many of
    its fixes did, and again at every later stop (entries written by an earlier stop's code are then
    stale)."""
    out = dict(revisions)
    for stop in stops:
        for name in set(stop):
            out[name] = out.get(name, 0) + 1
    return out


#: The revisions before the per-stop raises.
REVISIONS_BEFORE_STOPS = dict(REVISIONS)
REVISIONS = raised_per_stop(REVISIONS_BEFORE_STOPS, STOPS)
for _name, _rev in REVISIONS.items():
    KINDS[_name] = replace(KINDS[_name], revision=_rev)


def entry_revision(kind: str, params: Mapping[str, Any]) -> int:
    """The revision an entry of ``kind`` with ``params`` gets now: the kind's, raised by one for each
    fix that changed only some of its entries' numbers, so a later raise of the kind's revision
    raises these too:

    - a direction's entry with a fit that depends on the order of its columns: a joint fit (PLS,
      an estimator; given as the object or as its identity) of the targets, or lasso / elasticnet
      (coordinate descent) of the predictors, once in the input's unit/neuroid order and now in
      canonical id order (a forward joint fit also mixed the time bins before forward's revision 1);
    - a direction's entry with ``max_n``: its subsets were drawn over the predictors' positions,
      now over their canonical id order;
    - a direction's bootstrap or permutation entry with such a fit, by the first rule (its joint
      fits' permutation nulls also fitted a batch of permuted copies together);
    - an RSA entry (cRSA, eRSA and their inference) with a Euclidean or squared Euclidean RDM: on
      integer features the distances are now exact, so tied pairs share their rank;
    - an RSA entry with a correlation or cosine RDM: where the stimuli have large offsets (row
      means large against their variation across units) the RDMs lost digits; they now take the
      row pass (:mod:`neuroxr.kernels.gram_rows`).
    - an RSA entry comparing RDMs by ranks (``compare_method`` Spearman or Kendall), and a forward or
      inter-animal permutation entry with ``min_reliability`` (its targets judged by their split-half
      Spearman): ranks now tie values equal up to rounding (the kinds that always rank:
      :data:`RANK_KINDS`);
    - an RSA entry comparing RDMs by Pearson (``compare_method`` "pearson"): an RDM whose
      dissimilarities are equal up to rounding (equal values averaged, the Euclidean RDM of stimuli
      equally far apart) had a Pearson correlation of its rounding (about
      ``1e-16``, or anything); it is now NaN, as scipy's ``pearsonr`` and the Spearman comparison
      (whose ranks tie it) give (:mod:`neuroxr.kernels.compare`, "Constant RDMs");
    - an RSA entry with a Euclidean RDM: distances small against the largest carried the rounding of
      the largest squared norms through their square root, so equal ones ranked apart; their squared
      distances equal up to rounding are now made equal (:func:`neuroxr.kernels.rdm.tie_squares`;
      Pearson and cosine comparisons move by rounding only, the ranks by the ties);
    - a forward entry that streams (:func:`streams`) with ``dtype`` float32: its out-of-fold
      operator was built from the float64 Gram cast to float32 (which lost the small eigenvalues:
      power-law layers erred by up to ``0.6``), now in float64 (docs/kernels.md, "Ridge precision");
    - a direction's entry (and its inference) with ``dtype`` float32: the correlations' denominator
      ``sqrt(var_a var_b)`` underflowed where the product of two float32 variances fell below the
      dtype's range (values near 1e-12: r off by 0.05, or infinite); it is now
      :func:`neuroxr.kernels.stats.root_product`;
    - a direction's entry (and its inference) with ``dtype`` float32 (:data:`FLOAT32_CENTRED_KINDS`):
      its columns were cast to float32 before they were centred (a column far from zero lost its
      variation's digits); they are now centred in float64 first;
    - a direction's bootstrap entry over targets (:data:`TARGET_DRAW_KINDS`, ``over`` "targets" or
      "both"): a target never scored was drawn among the targets; now only the scored ones are;
    - an RSA entry with a correlation or cosine RDM (:data:`BOUNDED_TIE_KINDS`): an RDM whose values
      are all equal up to rounding on the measure's own scale is made constant (the RDM of affine
      copies of one pattern read rounding around 0, which a comparison correlated; its comparisons
      are NaN now);
    - an RSA bootstrap entry (and ersa_permutation, whose observed score is the bootstrap's full-sample
      evaluation) comparing by Pearson (:data:`FLAT_RESAMPLE_KINDS`): its resamples judge
      an RDM without variance by compare_rdms's rule on the values drawn (a relative spread between
      about ``6e-14`` and ``2.4e-7`` was NaN in every resample, scored in compare_rdms), from moments of
      shifted values;
    - a debiased CKA entry (:data:`DEBIASED_HSIC_KINDS`): the unbiased HSIC in the resamples' formula
      at unit counts (other rounding);
    - a direction's entry (and its inference) with ``regressor="univariate"``
      (:data:`UNIVARIATE_CONSTANT_KINDS`): a predictor column constant up to rounding on a training
      fold could be a target's best column; it is never chosen now.
    """
    k = get_kind(kind)
    rev = k.revision
    reg = params.get("regressor")
    if k.name in DIRECTION_KINDS or k.name in DIRECTION_INFERENCE_KINDS:
        if isinstance(reg, Mapping) or fits_jointly(reg) or reg in ("lasso", "elasticnet"):
            rev += 1
        if params.get("max_n") is not None:
            rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") in ("euclidean", "sqeuclidean"):
        rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") in ("correlation", "cosine"):
        rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") == "euclidean":
        rev += 1
    if "compare_method" in k.defaults and params.get("compare_method") in ("spearman", "kendall"):
        rev += 1
    if "compare_method" in k.defaults and params.get("compare_method") == "pearson":
        rev += 1
    if k.name in ("forward_permutation", "inter_animal_permutation") and params.get("min_reliability") is not None:
        rev += 1
    if streams(k.name, params) and params.get("dtype") == "float32":
        rev += 1
    if (k.name in DIRECTION_KINDS or k.name in DIRECTION_INFERENCE_KINDS) and params.get("dtype") == "float32":
        rev += 1
    if k.name in FLOAT32_CENTRED_KINDS and params.get("dtype") == "float32":
        rev += 1
    if k.name in TARGET_DRAW_KINDS and params.get("over", "stimuli") != "stimuli":
        rev += 1
    if k.name in BOUNDED_TIE_KINDS and params.get("rdm_method") in ("correlation", "cosine"):
        rev += 1
    if k.name in FLAT_RESAMPLE_KINDS and params.get("compare_method") == "pearson":
        rev += 1
    if k.name in DEBIASED_HSIC_KINDS and params.get("debiased"):
        rev += 1
    if k.name in UNIVARIATE_CONSTANT_KINDS and params.get("regressor") == "univariate":
        rev += 1
    return rev
