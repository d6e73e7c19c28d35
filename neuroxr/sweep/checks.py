"""The checks of a sweep's plan: what :func:`~neuroxr.sweep.sweep` refuses before anything runs,
and :func:`~neuroxr.sweep.config.validate_config` (``load_config(path, store)``) refuses the same
way, so a configuration that loads is one the sweep accepts.

They plan the entries (:func:`~neuroxr.sweep.plan.plan_sweep`) and refuse, in one line, options
that no planned entry reads: score arguments when the sweep runs no direction (or none that takes
them), ``inference`` without an entry that has inference entries, ``temporal_generalization``
without a time-resolved neural set. Nothing is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import StoreError, SweepConfigError, examples, no_effect, warn
from ..store import StudyStore
from ..store._zarr import local_writable
from ._util import ordered
from .config import metric_params
from .inference import direction_inference_params, metric_inference_requests, takes_inference, unread_inference_keys
from .plan import DIRECTIONS, Entry, entry_set_paths, plan_sweep
from .tasks import _TG, _TG_DIRECTIONS, _tg_applies, entry_params

__all__ = ["check_plan", "check_writable", "without_disjoint"]


def check_plan(store: StudyStore, kw: Mapping[str, Any], metric_options: Mapping[str, Mapping[str, Any]] | None,
               inference: Mapping[str, Any] | None, models: Any = None, layers: Any = None, neural: Any = None,
               directions: Any = ("forward", "reverse"), regions: Any = None, selection_seed: Any = None,
               ) -> tuple[list[Entry], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Plan a sweep and refuse options that no planned entry reads.

    Parameters
    ----------
    store : StudyStore
    kw : mapping
        The checked score arguments (:func:`~neuroxr.sweep.config.check_score_kwargs`).
    metric_options : mapping or None
        The checked metric options (:func:`~neuroxr.sweep.config.check_metric_options`).
    inference : mapping or None
        The checked ``inference`` option (:func:`~neuroxr.sweep.config.check_inference`).
    models, layers, neural, directions, regions
        What to score (:func:`~neuroxr.sweep.plan.plan_sweep`); ``models`` and ``layers`` are refused
        when every planned direction compares neural sets only (inter_animal), ``neural`` and
        ``regions`` when every one compares layers only (model_to_model).
    selection_seed : int or None, optional
        The sweep's ``selection_seed`` as given (None: not given); refused without forward or reverse
        entries, whose best layers it draws the target halves of.

    Returns
    -------
    entries : list of Entry
    metric_opts : dict
        Metric entry group -> its options (as its entry key spells them), for the planned metrics.
    params : dict
        Entry key -> its engine parameters (:func:`~neuroxr.sweep.tasks.entry_params`).

    Raises
    ------
    SweepConfigError
        Names not in the store, or options no planned entry reads (one line naming them).
    """
    entries = plan_sweep(store, models, layers, neural, directions, regions, metric_options)
    _refuse_unread_selection(entries, models, layers, neural, regions, selection_seed)
    # every inference entry takes the sweep's seed (it draws their resamples): the metrics', and a model_to_model
    # entry's, whose score without max_n takes none
    resample_seed = {"seed"} if inference and any(takes_inference(e) for e in entries) else set()
    untaken = sorted(k for k in kw if k not in resample_seed)
    if untaken and not any(e.direction in DIRECTIONS for e in entries):  # score arguments nothing reads
        raise no_effect(untaken, f"when the sweep runs no direction (only {ordered(e.direction for e in entries)})",
                        instead="add a direction", error=SweepConfigError)
    metric_opts = {d: metric_params(d, metric_options) for d in ordered(e.direction for e in entries if e.is_metric)}
    if inference and not any(takes_inference(e) for e in entries):
        raise no_effect(["inference"], f"with the sweep's directions {ordered(e.direction for e in entries)}",
                        "bootstrap and permutation entries exist for the directions and crsa, ersa, cka, shape",
                        "add such a direction", error=SweepConfigError)
    if inference:
        _check_inference_entries(entries, kw, inference, metric_opts)
    params = {e.key: entry_params(e, kw, metric_opts) for e in entries}
    _refuse_untaken(store, kw, entries, params, resample_seed)
    return entries, metric_opts, params


def _refuse_unread_selection(entries: Sequence[Entry], models: Any, layers: Any, neural: Any, regions: Any,
                             selection_seed: Any) -> None:
    """Selection keys and ``selection_seed`` given for a plan no entry of which reads them, refused in one line."""
    dirs = ordered(e.direction for e in entries)
    for given, free, what in (({"models": models, "layers": layers}, "inter_animal", "neural sets with each other"),
                              ({"neural": neural, "regions": regions}, "model_to_model", "layers with each other")):
        named = [k for k, v in given.items() if v is not None]
        if named and entries and all(d == free for d in dirs):
            raise no_effect(named, f"with the sweep's directions {dirs}", f"{free} compares {what}",
                            "add a direction that reads {it}", error=SweepConfigError)
    if selection_seed is not None and not any(e.direction in ("forward", "reverse") for e in entries):
        raise no_effect(["selection_seed"], f"with the sweep's directions {dirs}", "it draws the target halves by which "
                        "best_layers picks a layer, from forward and reverse entries only", "add forward or reverse",
                        error=SweepConfigError)


def _check_inference_entries(entries: Sequence[Entry], kw: Mapping[str, Any], inference: Mapping[str, Any],
                             metric_opts: Mapping[str, Mapping[str, Any]]) -> None:
    """The ``inference`` keys no planned inference entry reads refused (one line,
    :func:`~neuroxr.sweep.inference.unread_inference_keys`), then the parameters of every planned
    inference entry checked by its kind's check, before any entry is computed."""
    from ..entries.kinds import get_kind

    unread = unread_inference_keys(inference, entries)
    if unread:
        dirs = ordered(e.direction for e in entries)
        which = ordered("shape" if u.startswith("shape_method=") else "cka" if u.startswith("cka_method=") else "direction"
                        for u in unread)  # which bootstrap entries would read them
        lacks = " or ".join(which)
        cond = ("without inference.bootstrap (permutation entries take none of them)" if not inference["bootstrap"]
                else f"with the sweep's directions {dirs}, which have no {lacks} bootstrap entry")
        raise no_effect(unread, cond, "level sets the bootstrap intervals, method and over the directions' only, "
                        "shape_method and cka_method the shape and cka metrics'; the other metrics' bootstraps resample "
                        "the stimuli with a percentile interval", error=SweepConfigError)
    for metric in ordered(e.direction for e in entries if e.is_metric and takes_inference(e)):
        for procedure, p in metric_inference_requests(metric, metric_opts.get(metric, {}), kw, inference):
            get_kind(f"{metric}_{procedure}").fill(p)
    for direction in ordered(e.direction for e in entries if not e.is_metric):
        for procedure, n in (("bootstrap", inference["bootstrap"]), ("permutation", inference["permutations"])):
            if n:
                get_kind(f"{direction}_{procedure}").fill({k: v for k, v in direction_inference_params(
                    kw, inference, procedure, direction).items() if k != "dtype"})


def _refuse_untaken(store: StudyStore, kw: Mapping[str, Any], entries: Sequence[Entry],
                    params: Mapping[str, Mapping[str, Any]], also_taken: set[str] = frozenset()) -> None:
    """One-line refusal of score arguments that no planned direction entry takes (its parameters,
    :func:`entry_params`, leave them out or replace them: ``model_to_model`` takes no ceiling arguments,
    and ``reps``/``seed`` only with ``max_n``) and that are not in ``also_taken`` (``seed`` where the
    metrics' inference entries take it), and of ``temporal_generalization`` when no planned
    forward or inter_animal entry has time-resolved neural sets."""
    from ..entries.kinds import KINDS

    scored = [e for e in entries if not e.is_metric]
    dirs = ordered(e.direction for e in scored)
    taken = {k for e in scored for k, v in params[e.key].items() if k in kw and _same(v, kw[k])} | set(also_taken)
    defaults = KINDS["forward"].defaults  # a sweep's score arguments default as the directions' (a config may write them out)
    unused = [k for k in kw if k not in taken and k not in ("backend", _TG) and not (k in defaults and _same(kw[k], defaults[k]))]
    if unused:
        why = ("model_to_model takes no ceiling arguments, and one rep with the default seed unless max_n is given"
               if "model_to_model" in dirs else "")
        raise no_effect(unused, f"with the sweep's directions {dirs}", why, "add a direction that takes {it}",
                        error=SweepConfigError)
    if kw.get(_TG) and not any(_tg_applies(store, e, params[e.key]) for e in scored):
        cond = (f"with the sweep's directions {dirs}" if not set(dirs) & set(_TG_DIRECTIONS) else
                f"without a time-resolved neural set (a 'time_bin' dim) in the sweep's {' or '.join(_TG_DIRECTIONS)} entries")
        raise no_effect([f"{_TG}=True"], cond, f"it fits across the time bins of {' and '.join(_TG_DIRECTIONS)} entries "
                        "whose neural sets are time-resolved", "select such a direction and neural set",
                        error=SweepConfigError)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # values whose comparison is not one bool
        return False


def check_writable(store: StudyStore, todo: int, total: int) -> None:
    """A store the sweep cannot write its ``todo`` entries (of ``total``) to refused in one line starting with
    ``sweep:``: opened read-only, or a local store this user cannot write (a sweep of stored entries only reads)."""
    if store.mode == "r":
        how, fix = "is open read-only", "open it with mode='a' to compute and write them"
    elif not local_writable(store.url):
        how, fix = "is read-only for this user", "fix its permissions to compute and write them"
    else:
        return
    raise StoreError(f"sweep: store {store.url!r} {how}, and {todo} of the sweep's {total} entries are not in it; "
                     f"{fix}.")


def without_disjoint(store: StudyStore, entries: list[Entry], todo: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """``entries`` and ``todo`` (those to compute) without the entries of ``todo`` whose two sets share no
    stimulus (recordings of other images, e.g. two sessions: no pairing by ``stimulus_id`` can score them),
    said in one warning (no function named: the command shows it as it is); none left is refused in one line
    starting with ``sweep:``. A set whose ids cannot be read is left to its entry, which says why."""
    ids: dict[str, frozenset[str] | None] = {}

    def stimuli(path: str) -> frozenset[str] | None:
        if path not in ids:
            try:
                ids[path] = frozenset(store.read_set_index(path).stimulus_id.tolist())
            except StoreError:
                ids[path] = None
        return ids[path]

    disjoint = []
    for e in todo:
        sets = entry_set_paths(e)
        found = [stimuli(p) for p in sets] if len(sets) == 2 else None  # two sets paired by stimulus_id
        if found is not None and None not in found and not found[0] & found[1]:
            disjoint.append(e.key)
    if not disjoint:
        return entries, todo
    said = f"{len(disjoint)} entr{'y' if len(disjoint) == 1 else 'ies'} whose sets share no stimulus {examples(disjoint)}"
    left = set(disjoint)
    kept = [e for e in entries if e.key not in left]
    if not kept:
        raise SweepConfigError(f"sweep: the sweep has no entries: {said}; select sets recorded on the same stimuli.")
    warn(f"the sweep leaves out {said}: no stimulus_id is in both sets (other images, e.g. another session); select "
         f"sets recorded on the same stimuli to score them, or leave those sets out of the sweep.")
    return kept, [e for e in todo if e.key not in left]
