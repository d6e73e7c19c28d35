"""Inference entries of a sweep: ``inference: {bootstrap: N, permutations: N}`` in the config.

After the score entries, every direction entry gets a bootstrap entry (``N``
resamples of the stimuli) and / or a permutation-test entry (``N`` permutations) through the entry
engine (:func:`neuroxr.entries.compute`, kinds ``<direction>_bootstrap`` and
``<direction>_permutation``), with the sweep's score arguments that can change their numbers
(:func:`neuroxr.predictivity.inference.applicable_options`); every crsa / ersa / cka / shape
metric entry gets ``<metric>_bootstrap`` / ``<metric>_permutation`` entries with the metric's
options (shape's and cka's bootstraps also ``inference.shape_method`` / ``inference.cka_method``, their interval). They are computed in the sweep's process, one after another; matching entries are read
back, so a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..kernels.resample import undefined_resamples
from ._util import per_bin
from .config import INFERENCE_KEYS, check_inference  # check_inference: the option's one check (config.py), re-exported
from .plan import Entry
from .tasks import trial_averaged

__all__ = ["INFERENCE_KEYS", "check_inference", "direction_inference_params", "run_inference", "takes_inference",
           "inference_summary", "interval_method", "metric_bootstrap_summary", "resampled_over",
           "unread_inference_keys"]

#: score arguments an inference entry does not take
_NOT_TAKEN = ("max_n", "backend", "temporal_generalization")


def unread_inference_keys(inference: Mapping[str, Any], entries: Sequence[Entry]) -> list[str]:
    """The keys of ``inference`` (checked, :func:`~neuroxr.sweep.config.check_inference`) set away from their defaults
    that no planned entry reads, as ``"key=value"``: ``level`` without a bootstrap entry, ``method``
    and ``over`` without a direction's bootstrap entry (the metrics' bootstraps resample the
    stimuli), ``shape_method`` / ``cka_method`` without a shape / cka bootstrap entry."""
    boot = bool(inference["bootstrap"])
    readers = {"level": boot and any(takes_inference(e) for e in entries),
               "method": boot and any(not e.is_metric for e in entries)}
    readers["over"] = readers["method"]
    for metric in ("shape", "cka"):
        readers[f"{metric}_method"] = boot and any(e.is_metric and e.direction == metric for e in entries)
    return [f"{k}={inference[k]!r}" for k, read in readers.items() if not read and inference[k] != INFERENCE_KEYS[k]]


def direction_inference_params(kw: Mapping[str, Any], inference: Mapping[str, Any], procedure: str,
                               direction: str) -> dict[str, Any]:
    """The entry's parameters: the score arguments that can change its numbers (model_to_model has no
    ceiling arguments; a permutation test takes reps, split and noise_ceiling only with
    min_reliability) and the procedure's own."""
    from ..predictivity.inference import applicable_options

    p = applicable_options(direction, procedure, {k: v for k, v in kw.items() if k not in _NOT_TAKEN})
    if procedure == "bootstrap":
        p.update(n_boot=inference["bootstrap"], level=inference["level"], method=inference["method"], over=inference["over"])
    else:
        p.update(n_perm=inference["permutations"])
    return p


def run_inference(store: Any, entries: Sequence[Entry], kw: Mapping[str, Any], inference: Mapping[str, Any] | None,
                  metric_options: Mapping[str, Mapping[str, Any]] | None = None, overwrite: bool = False,
                  failed: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, bool]]:
    """Compute (or read back) the inference entries of the sweep's direction and metric entries.

    Metric entries of ``crsa``, ``ersa``, ``cka`` and ``shape`` get ``<metric>_bootstrap`` /
    ``<metric>_permutation`` entries with the metric's options (``metric_options``: metric ->
    its filled options, as the sweep scored it; default: the metric's defaults) and the sweep's
    ``seed``; their rows hold ``score`` with ``score_low`` / ``score_high`` and ``p``.
    ``overwrite=True`` (the sweep's) recomputes matching inference entries instead of reading them back.
    With ``failed`` (a dict), an entry whose inference fails is recorded there (``inference/<key>`` ->
    its error) and has no row, and the others are still computed; without it the error is raised.

    Returns
    -------
    table : pandas.DataFrame
        One row per direction entry: its labels, ``median_ev`` with ``median_ev_low`` /
        ``median_ev_high`` and ``n_boot_undefined`` (bootstrap) and ``median_r`` / ``median_p``
        (permutations), and the inference entries' store paths (:func:`inference_summary`); a
        metric entry's row: ``score``, ``score_low`` / ``score_high`` and ``n_boot_undefined``
        (:func:`metric_bootstrap_summary`), ``p``.
    computed : dict[str, bool]
        Store path of every inference entry -> whether this call computed it (``False``: a
        matching entry was read back), as :attr:`neuroxr.entries.EntryResult.computed` says.
    """
    if not inference:
        return pd.DataFrame(), {}
    rows: list[dict[str, Any]] = []
    computed: dict[str, bool] = {}
    for e in entries:
        try:
            if e.is_metric:
                if takes_inference(e):
                    rows.append(_metric_row(store, e, (metric_options or {}).get(e.direction, {}), kw, inference,
                                            overwrite, computed))
            else:
                rows.extend(_direction_rows(store, e, kw, inference, overwrite, computed))
        except Exception as exc:  # as a failed task: the others are still computed
            if failed is None:
                raise
            failed[f"inference/{e.key}"] = f"{type(exc).__name__}: {exc}"
    return pd.DataFrame(rows), computed


def _direction_rows(store: Any, e: Entry, kw: Mapping[str, Any], inference: Mapping[str, Any], overwrite: bool,
                    computed: dict[str, bool]) -> list[dict[str, Any]]:
    """The inference entries of one direction entry and their summary rows (one per time bin)."""
    from ..entries import compute

    rows = []
    found = {}
    # trial-averaged: min_reliability and split judge or draw no ceiling (refused from a direct request); metadata read once
    averaged = trial_averaged(store, (e.source_ref, e.target_ref))
    for procedure, n in (("bootstrap", inference["bootstrap"]), ("permutation", inference["permutations"])):
        if not n:
            continue
        p = direction_inference_params(kw, inference, procedure, e.direction)
        dtype = p.pop("dtype", None)
        if averaged and p.get("noise_ceiling") is None:  # split halves draw nothing either, as the score's task keys it
            p.pop("min_reliability", None)
            p.pop("split", None)
        res = compute(store, f"{e.direction}_{procedure}", e.source_ref, e.target_ref, params=p, dtype=dtype,
                      backend=kw.get("backend"), overwrite=overwrite)
        found[procedure] = res
        computed[res.path] = res.computed
    # a time-resolved entry (a time_bin dim) gives one row per bin, as the score tables do
    split = {procedure: per_bin(res.dataset) for procedure, res in found.items()}
    for t in range(len(next(iter(split.values()))) if split else 1):
        row = {**e.labels(), **(next(iter(split.values()))[t][0] if split else {}), "key": e.key}
        for procedure, bins in split.items():
            row.update(inference_summary(bins[t][1], procedure), **{f"{procedure}_path": found[procedure].path},
                       **procedure_parameters(found[procedure].dataset.attrs, procedure, f"{e.direction}_{procedure}"))
        rows.append(row)
    return rows


def inference_summary(ds: Any, procedure: str) -> dict[str, float]:
    """The summary of one bootstrap or permutation entry of a direction (one time bin): ``median_ev``
    with ``median_ev_low`` / ``median_ev_high``, ``n_boot_undefined`` (the resamples whose median
    EV is undefined: every target's EV NaN on it; with the default ``nan_policy`` one makes the
    interval NaN, and the ceiling's interval too, whose undefined resamples are among them) and,
    with a ceiling, ``ceiling`` with its interval (bootstrap); ``median_r`` and ``median_p``
    (permutations). The sweep's and the report's tables."""
    if procedure == "bootstrap":
        lo, hi = (float(v) for v in ds["median_ev_ci"].values)
        out = dict(median_ev=float(ds["median_ev"]), median_ev_low=lo, median_ev_high=hi,
                   n_boot_undefined=int(undefined_resamples(np.asarray(ds["median_ev_boot"].values))))
        if "median_ceiling_ci" in ds:  # the noise ceiling's interval (bands in the plots)
            clo, chi = (float(v) for v in ds["median_ceiling_ci"].values)
            out.update(ceiling=float(ds["median_ceiling"]), ceiling_low=clo, ceiling_high=chi)
        return out
    return dict(median_r=float(ds["median_r"]), median_p=float(ds["median_p"]))


def metric_bootstrap_summary(ds: Any) -> dict[str, float]:
    """The interval of a metric's bootstrap entry: ``score_low`` / ``score_high`` and
    ``n_boot_undefined`` (the entry's count of resamples whose score is undefined; with the default
    ``nan_policy`` one makes the interval NaN). The sweep's and the report's tables."""
    lo, hi = (float(v) for v in ds["score_ci"].values)
    return dict(score_low=lo, score_high=hi, n_boot_undefined=int(ds["n_boot_undefined"]))


_METRICS_WITH_INFERENCE = ("crsa", "ersa", "cka", "shape")


def takes_inference(entry: Entry) -> bool:
    """Whether ``entry`` has inference entries (a direction, or a crsa / ersa / cka / shape metric)."""
    return not entry.is_metric or entry.direction in _METRICS_WITH_INFERENCE


def metric_inference_requests(metric: str, options: Mapping[str, Any], kw: Mapping[str, Any],
                              inference: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ``(procedure, parameters)`` of a metric entry's inference entries: its ``options``, the
    sweep's ``seed`` and the ``inference`` settings (what :func:`run_inference` computes and the
    sweep's checks check before any entry is computed)."""
    from ..entries.metrics import inference_params_of

    out = []
    for procedure, n in (("bootstrap", inference["bootstrap"]), ("permutation", inference["permutations"])):
        if n:
            # shape's and cka's interval method: the kind's "method" (other metric bootstraps take none)
            method = {"method": inference[f"{metric}_method"]} if f"{metric}_method" in inference else {}
            extra = {"n_boot": n, "level": inference["level"], **method} if procedure == "bootstrap" else {"n_perm": n}
            out.append((procedure, inference_params_of(metric, options, procedure, seed=kw.get("seed", 0), **extra)))
    return out


def _metric_row(store: Any, e: Entry, options: Mapping[str, Any], kw: Mapping[str, Any], inference: Mapping[str, Any],
                overwrite: bool = False, computed: dict[str, bool] | None = None) -> dict[str, Any]:
    """The inference entries of one metric entry and their summary row (``computed``: each entry's
    path -> whether it was computed now, filled in)."""
    from ..entries import compute

    row = {**e.labels(), "key": e.key}
    for procedure, p in metric_inference_requests(e.direction, options, kw, inference):
        res = compute(store, f"{e.direction}_{procedure}", e.source_ref, e.target_ref, params=p, overwrite=overwrite)
        if computed is not None:
            computed[res.path] = res.computed
        ds = res.dataset
        row["score"] = float(ds["score"])
        if procedure == "bootstrap":
            row.update(metric_bootstrap_summary(ds), bootstrap_path=res.path)
        else:
            row.update(p=float(ds["p"]), permutation_path=res.path)
        row.update(procedure_parameters(ds.attrs, procedure, f"{e.direction}_{procedure}"))
    return row


#: The parameters of a procedure that an inference table row shows, as its entry records them.
PROCEDURE_COLUMNS = {"bootstrap": ("n_boot", "level", "method", "over"), "permutation": ("n_perm",)}


def interval_method(kind: str, method: Any = None) -> str:
    """The interval of a bootstrap entry of ``kind``: its ``method`` where the kind takes one (a direction's
    bootstrap, ``shape_bootstrap``, ``cka_bootstrap``), else the percentile interval (``crsa_bootstrap``,
    ``ersa_bootstrap``, whose ``method`` attr is the RDM comparison, not the interval). The sweep's and the
    report's inference tables."""
    from ..entries import KINDS

    return str(method) if "method" in KINDS[kind].defaults else "percentile"


def resampled_over(kind: str, over: Any = None) -> Any:
    """What a bootstrap entry of ``kind`` resampled: its ``over`` where the kind takes one (a direction's
    bootstrap), else the stimuli (every metric bootstrap resamples them; cRSA's and eRSA's entries record it,
    CKA's and shape's do not). The sweep's inference table."""
    from ..entries import KINDS

    return over if "over" in KINDS[kind].defaults else "stimuli"


def procedure_parameters(attrs: Mapping[str, Any], procedure: str, kind: str | None = None) -> dict[str, Any]:
    """The resampling parameters of an inference entry (its attrs): ``n_boot``, ``level``, ``method``,
    ``over`` (bootstrap) or ``n_perm`` (permutations), and the seed of its draws as ``<procedure>_seed``;
    an exported interval says its level, what it resampled and how often (two sweeps of other levels
    were told apart by the hashed path alone). With the entry's ``kind``, ``method`` is its interval
    (:func:`interval_method`): a cRSA or eRSA bootstrap's ``method`` attr is its RDM comparison; and ``over``
    what it resampled (:func:`resampled_over`), which CKA's and shape's entries do not record."""
    out = {k: attrs[k] for k in PROCEDURE_COLUMNS[procedure] if k in attrs}
    if procedure == "bootstrap" and kind is not None:
        out["method"] = interval_method(kind, attrs.get("method"))
        over = resampled_over(kind, attrs.get("over"))
        if over is not None:
            out["over"] = over
    if "seed" in attrs:
        out[f"{procedure}_seed"] = attrs["seed"]
    return out
