"""Statistical inference for RSA (CKA's in :mod:`neuroxr.geometry.cka_inference`, the shape metrics' in :mod:`neuroxr.geometry.shape_inference`): bootstrap over stimuli (and subjects) and permutation nulls.

RSA pattern bootstrap (rsatoolbox's ``bootstrap_sample_pattern`` / ``eval_bootstrap_pattern``):
a resample draws ``n`` stimuli with replacement and keeps every pair of *distinct* draws of the
RDM's upper triangle (pairs of a stimulus with its own copy are NaN and dropped). Pair ``(i, j)``
therefore enters with weight ``c_i c_j`` (``c`` the draw counts), and every weighted sum of an
RDM-shaped quantity ``V`` (symmetric, zero diagonal) is the quadratic form ``c^T V c / 2``: for
``B`` resamples one ``(B x n) @ (n x n)`` product per quantity instead of ``B`` RDM copies. The
Pearson (``"corr"``) and cosine comparisons, and rsatoolbox's noise ceiling
(``boot_noise_ceiling``: each subject against the pooled RDM of all subjects, upper bound, and of
the others, lower bound, pooled as ``pool_rdm`` does), follow exactly from the weighted second
moments of the RDMs (:mod:`neuroxr.geometry.rsa_resample`). ``"spearman"`` ranks every resample
anew, as the plain calls rank the resampled RDMs (rsatoolbox re-ranks each resample too): a
resample's score is :func:`~neuroxr.geometry.compare_rdms` of the resampled RDMs (the model and each
subject ranked on their complete pairs), its noise ceiling :func:`~neuroxr.geometry.rdm_noise_ceiling`'s
(the resampled RDMs ranked, pooled, the pools ranked again: one sort per pool and resample). NaN
pairs follow the plain calls: each subject is compared on the pairs complete in its RDM and the model's
(:func:`~neuroxr.geometry.compare_rdms`), the ceiling follows
:func:`~neuroxr.geometry.rdm_noise_ceiling`, so a NaN in one subject changes no other subject's
comparison.

Resamples are drawn on positions of the canonical stimulus order with
``numpy.random.default_rng([seed, 0])`` (subjects: ``[seed, 1]``), or given as ``indices``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError, ParameterError, no_effect, shown, warn
from ..kernels import resample as rs
from ..kernels.compare import _center_normalize
from ..kernels.rdm import RDM_METHODS
from ..kernels.rdm import check_option as _check_option
from ..validation import check_alpha, check_bool
from ._common import _canonical_any, _drop_unusable, _ids, _named, _one_bin, _plain, _without, input_labels, warn_flat_rdms
from ._rdm_values import _is_rsatoolbox
from .rdm import _align_rdm, _as_rdm_in, _check_stimuli, _labeled_ids, _nan_warning, _rdm, _rdm_named, _refuse_unpaired, as_rdm
from .rdm_stack import _stack_rdms, rsatoolbox_subjects, stack_labels
from .rsa import COMPARE_DEFAULT, draws_ceiling
from .rsa_resample import MIN_PAIRS, evaluate, prepare, vector

__all__ = ["rsa_bootstrap", "crsa_bootstrap", "ersa_bootstrap", "rsa_permutation", "cka_bootstrap", "shape_bootstrap",
           "RSA_BOOT_METHODS", "SHAPE_BOOT_METHODS", "SHAPE_BOOT_DEFAULT", "CKA_BOOT_METHODS", "CKA_BOOT_DEFAULT"]

RSA_BOOT_METHODS = ("corr", "cosine", "spearman")
_BATCH = 256


def _method(method: str, caller: str, param: str = "method") -> str:
    """``method`` (``param`` of ``caller``) by its rsatoolbox name, or a one-line ParameterError."""
    m = {"pearson": "corr", "correlation": "corr"}.get(method, method)
    if m not in RSA_BOOT_METHODS:
        raise ParameterError(f"{caller}: {param} must be one of {RSA_BOOT_METHODS}; got {shown(method)}.")
    return m


def _draws(indices: Any, n: int, n_boot: int | None, seed: int, seed_used: bool, caller: str) -> np.ndarray:
    """The stimulus draws: ``indices`` checked (an int array ``(B, n)`` of positions ``0 .. n-1``
    of the canonical order), or ``n_boot`` (default 1000) drawn with ``seed``. Given with
    ``indices``, ``n_boot`` must equal its rows and ``seed`` is refused unless something else draws
    with it (``seed_used``)."""
    if indices is None:
        return rs.bootstrap_indices(n, 1000 if n_boot is None else n_boot, seed, caller=caller)
    if seed_used:  # checked before any resample is evaluated (over="both" draws subjects with it afterwards)
        rs._seed(seed, caller)
    idx = np.asarray(indices)
    what = f"an int array (n_boot, {n}) of positions 0..{n - 1} of the canonical stimulus order (one row per resample)"
    if idx.ndim != 2 or idx.shape[0] < 1 or idx.shape[1] != n or idx.dtype.kind not in "iu":
        raise ParameterError(f"{caller}: indices must be {what}; got {idx.dtype} of shape {idx.shape}.")
    if (idx < 0).any() or (idx >= n).any():
        raise ParameterError(f"{caller}: indices must be {what}; got values {idx.min()}..{idx.max()}.")
    if n_boot is not None:  # a count, never a bool or a float that happens to equal the rows
        rs._positive(n_boot, "n_boot", "Pass the number of bootstrap resamples, e.g. n_boot=1000.", caller)
    if n_boot is not None and n_boot != idx.shape[0]:
        raise ParameterError(f"{caller}: n_boot={n_boot!r} but indices holds {idx.shape[0]} resamples; drop n_boot (indices set it).")
    if seed != 0 and not seed_used:
        raise no_effect([f"seed={seed!r}"], "with indices", "it draws the resamples that indices gives", caller=caller)
    return idx


def _subject_order(data_rdms: Any) -> np.ndarray | None:
    """Positions that sort the subjects by their labels, or None when they have none to sort by.

    Labels: the first-dim coord of a stacked DataArray, a dict's keys, or each DataArray's ``label`` attr (set by
    :func:`neuroxr.rdm` from the input's ``model.layer`` or name) or name, or an rsatoolbox ``RDMs``'s
    ``subject`` descriptor; all present and distinct.
    """
    if isinstance(data_rdms, xr.DataArray) and data_rdms.ndim == 3:
        labels = stack_labels(data_rdms)  # a stack's labels as text (a MultiIndex's values joined)
    elif isinstance(data_rdms, (list, tuple)):
        labels = [x.attrs.get("label", x.name) if isinstance(x, xr.DataArray) else None for x in data_rdms]
    elif isinstance(data_rdms, Mapping):  # its keys label the subjects (the stack's rdm coord)
        labels = list(data_rdms)
    elif _is_rsatoolbox(data_rdms):  # its distinct subject descriptor (rsatoolbox's index is positions)
        labels = rsatoolbox_subjects(data_rdms)
    else:
        return None
    if labels is None or any(lb is None for lb in labels) or len(set(map(str, labels))) < len(labels):
        return None
    return np.argsort(np.asarray(labels).astype(str), kind="stable")


def _model_and_data(model_rdm: Any, data_rdms: Any, caller: str) -> tuple[xr.DataArray, xr.DataArray]:
    """The model RDM and the stack of data RDMs as labeled arrays, before any reordering.

    An unlabeled RDM (NumPy, rsatoolbox ``RDMs`` without ``stimulus_id``) lists the stimuli in the
    order of the first labeled RDM **as given**, the model RDM first, then the data RDMs (as
    :func:`neuroxr.geometry.compare_rdms` pairs them); labeled RDMs are paired by their ids. All
    unlabeled: positions, the same for all. A pairing error starts with ``caller``.
    """
    ids, ref = _labeled_ids(("model_rdm", model_rdm), ("data_rdms", data_rdms))
    model = _as_rdm_in(model_rdm, "model_rdm", ids, ref, f"{caller}: {_rdm_named(model_rdm, 'model_rdm')}")
    stack = _stack_rdms(data_rdms, "data_rdms", ids=_ids(model), ref=ref or "model_rdm", caller=caller)
    # a stack along any first dim (e.g. ``subject``), as compare_rdms_many and rdm_noise_ceiling take it
    return model, stack if stack.dims[0] == "rdm" else stack.rename({stack.dims[0]: "rdm"})


def _warn_flat(caller: str, per_subject: np.ndarray, model: xr.DataArray, stack: xr.DataArray) -> None:
    """compare_rdms's one warning (:func:`~neuroxr.geometry._common.warn_flat_rdms`) for the subjects whose
    score on the full sample is NaN with 3 complete pairs left: the model's or their RDM has no variance
    (``model`` and ``stack`` in one stimulus order)."""
    per_subject = np.asarray(per_subject, dtype=np.float64).ravel()
    if not np.isnan(per_subject).any():  # every score defined: the RDMs are not read again
        return
    iu = np.triu_indices(model.shape[0], 1)
    va = np.asarray(model.values, dtype=np.float64)[iu][None]
    vb = np.asarray(stack.values, dtype=np.float64)[:, iu[0], iu[1]]
    labels = [str(lb) for lb in np.asarray(stack[stack.dims[0]].values).tolist()]
    if caller in ("rsa_bootstrap", "rsa_permutation"):  # named as their arguments
        model, labels = "model_rdm", [lb if lb.startswith("data_rdms") else f"data_rdms[{lb!r}]" for lb in labels]
    else:  # crsa_bootstrap's features and neural sets, ersa_bootstrap's predictions and responses
        model, labels = "the model RDM", [f"the RDM of {lb}" for lb in labels]
    warn_flat_rdms(caller, per_subject, va, vb, [model], labels)


def rsa_bootstrap(
    model_rdm: Any,
    data_rdms: Any,
    *,
    method: str = "corr",
    n_boot: int | None = None,
    seed: int = 0,
    level: float = 0.95,
    over: str = "stimuli",
    indices: np.ndarray | None = None,
    noise_ceiling: bool = True,
    nan_policy: str = "propagate",
) -> xr.Dataset:
    """Bootstrap of an RSA evaluation (mean over subjects of the model-vs-subject RDM comparison).

    Parameters
    ----------
    model_rdm : DataArray (stimulus, stimulus_) or square array
        The model RDM, e.g. :func:`neuroxr.rdm` of features.
    data_rdms : DataArray (stimulus, stimulus_), stack (rdm, stimulus, stimulus_), list or dict of RDMs or array
        One RDM per subject, paired with the model RDM by ``stimulus_id``. An unlabeled (NumPy)
        RDM lists the stimuli in the order of the first labeled RDM as given, the model RDM first
        (as :func:`neuroxr.geometry.compare_rdms`): data RDMs take a labeled model RDM's order; an
        unlabeled model RDM and unlabeled data RDMs that of the first labeled data RDM, wherever it
        sits in the list.
    method : {"corr", "cosine", "spearman"}, default "corr"
        RDM comparison (rsatoolbox's names; ``"pearson"`` = ``"corr"``).
    n_boot, seed, level
        Resamples (default 1000), their seed, the interval's level (percentile intervals).
    over : {"stimuli", "subjects", "both"}, default "stimuli"
        Resample stimuli (rsatoolbox's ``eval_bootstrap_pattern``), subjects (its
        ``eval_bootstrap_rdm``; the noise ceiling is then not resampled), or both (a resample's
        score: the count-weighted mean over the subjects it draws; an undefined subject it does not
        draw leaves it defined). Subjects are
        drawn in the order of their labels (a stacked DataArray's ``rdm`` coord, or each RDM's
        ``label`` attr, which :func:`neuroxr.rdm` takes from the data's name) when all are
        labeled and distinct; otherwise they are identified by their position in ``data_rdms``,
        and reordering the list changes the subject draws.
    indices : ndarray of int, shape (n_boot, n), optional
        Stimulus draws (positions 0..n-1 of the canonical order) to use instead of drawing them;
        they set ``n_boot`` (an ``n_boot`` that differs is refused, and so is ``seed`` unless
        ``over="both"`` draws the subjects with it). Refused with ``over="subjects"``.
    noise_ceiling : bool, default True
        Also bootstrap rsatoolbox's leave-one-subject-out noise ceiling (needs 2 subjects).
    nan_policy : {"propagate", "omit"}, default "propagate"
        A resample with an undefined (NaN) comparison, e.g. too few distinct stimuli drawn (fewer
        than 3 distinct complete pairs, :func:`~neuroxr.geometry.compare_rdms`'s rule, whatever
        the method): a NaN
        interval (as ``scipy.stats.bootstrap``), or one from the defined resamples
        (:data:`neuroxr.kernels.resample.NAN_POLICIES`); counted and warned about either way.

    Returns
    -------
    xarray.Dataset
        ``score`` (the evaluation), ``score_boot`` (boot), ``score_ci`` (bound); with the ceiling
        ``noise_lower``, ``noise_upper`` and their ``_boot``, ``_ci``; ``n_boot_undefined`` (the
        resamples whose score is undefined); ``boot_index`` when stimuli are resampled. Attr
        ``n_pairs_dropped``: the pairs left out, summed over the subjects' comparisons (each
        subject's comparison, on the full sample and on every resample, uses the pairs complete in
        its RDM and the model's, as :func:`~neuroxr.geometry.compare_rdms`, whose
        ``n_pairs_dropped`` these are; the ceiling uses each subject's own finite pairs, as
        :func:`~neuroxr.geometry.rdm_noise_ceiling`).
    """
    return _rsa_bootstrap(model_rdm, data_rdms, "rsa_bootstrap", "method", method=method, n_boot=n_boot, seed=seed, level=level,
                          over=over, indices=indices, noise_ceiling=noise_ceiling, nan_policy=nan_policy)


def _rsa_bootstrap(
    model_rdm: Any, data_rdms: Any, caller: str, param: str, *, method: str = "corr", n_boot: int | None = None,
    seed: int = 0, level: float = 0.95, over: str = "stimuli", indices: np.ndarray | None = None,
    noise_ceiling: bool = True, nan_policy: str = "propagate",
) -> xr.Dataset:
    """:func:`rsa_bootstrap`, its messages starting with ``caller``, the public function called
    (``param``: the argument that gives ``method``, ``compare_method`` in crsa's and ersa's)."""
    method = _method(method, caller, param)
    rs.check_nan_policy(nan_policy, caller)
    noise_ceiling = check_bool(noise_ceiling, "noise_ceiling", "Pass noise_ceiling=False to skip the ceiling.", caller=caller)
    if over not in ("stimuli", "subjects", "both"):
        raise ParameterError(f"{caller}: over must be one of ('stimuli', 'subjects', 'both'); got {shown(over)}.")
    rs._check_level(level, caller)
    if over == "subjects" and indices is not None:
        raise no_effect(["indices"], "with over='subjects'", "its rows are stimulus draws; subjects are drawn with seed",
                        "pass over='both' to resample the stimuli too", caller=caller)
    a_da, stack = _model_and_data(model_rdm, data_rdms, caller)
    a_da, stack = _canonical_any(a_da), _canonical_any(stack)
    order = _subject_order(data_rdms)
    if order is not None and not np.array_equal(order, np.arange(order.size)):  # draws over subjects by label
        stack = stack.isel({stack.dims[0]: order})
    a_da = _align_rdm(stack.isel(rdm=0), a_da, ("data_rdms", "model_rdm"), caller)
    _check_stimuli(a_da.sizes["stimulus"], caller, "the RDMs share")  # one pair: every resample's score NaN
    prep = prepare(a_da, stack, method, caller)
    S, n = prep.bs.shape[:2]
    ceiling = bool(noise_ceiling) and S >= 2
    centred = method != "cosine"
    full = evaluate(np.ones((1, n)), prep, centred, ceiling)
    _warn_flat(caller, full["score"], a_da, stack)  # a NaN score with its reason, as compare_rdms gives it
    if over == "subjects":
        if S < 2:
            if caller == "ersa_bootstrap":  # one neural set: nothing to pass per subject
                raise ParameterError(f"{caller}: over='subjects' needs several subjects, and ersa_bootstrap scores one "
                                     f"neural set; pass over='stimuli'.")
            many = "neural sets" if caller == "crsa_bootstrap" else "data RDMs"
            raise ParameterError(f"{caller}: over='subjects' needs at least 2 {many}; pass one per subject or over='stimuli'.")
        sc = rs.counts(rs.bootstrap_indices(S, 1000 if n_boot is None else n_boot, seed, stream=1, caller=caller), S)
        score_b = _drawn_mean(sc, full["score"])
        boot = {"score": score_b}
    else:
        idx = _draws(indices, n, n_boot, seed, over == "both", caller)
        parts: dict[str, list[np.ndarray]] = {}
        for lo in range(0, idx.shape[0], _BATCH):
            res = evaluate(rs.counts(idx[lo : lo + _BATCH], n), prep, centred, ceiling)
            for k, v in res.items():
                parts.setdefault(k, []).append(v)
        boot = {k: np.concatenate(v) for k, v in parts.items()}
        if over == "both":
            sc = rs.counts(rs.bootstrap_indices(S, idx.shape[0], seed, stream=1, caller=caller), S)
            boot["score"] = _drawn_mean(sc, boot["score"])
        else:
            boot["score"] = boot["score"].mean(axis=1)
    out: dict[str, Any] = {"score": ((), float(full["score"].mean()))}
    for k, v in boot.items():
        if k != "score":
            out[k] = ((), float(full[k][0]))
        out[f"{k}_boot"] = (("boot",), v)
        out[f"{k}_ci"] = (("bound",), rs.percentile_interval(v, level, nan_policy))
    _undefined(out, boot, caller, nan_policy)
    coords: dict[str, Any] = {"bound": ["low", "high"]}
    if over != "subjects":
        out["boot_index"] = (("boot", "stimulus"), idx)
        coords["stimulus_id"] = ("stimulus", stack.stimulus_id.values)
    if ceiling and over == "subjects":
        out["noise_lower"] = ((), float(full["noise_lower"][0]))
        out["noise_upper"] = ((), float(full["noise_upper"][0]))
    attrs = {"method": method, "n_boot": int(len(next(iter(boot.values())))), "seed": int(seed), "level": float(level),
             "over": over, "noise_ceiling": int(ceiling), "nan_policy": nan_policy, "n_subjects": int(S), "n_stimuli": int(n),
             "n_pairs_dropped": int(prep.dropped.sum())}
    return xr.Dataset(out, coords=coords, attrs=attrs)


def _drawn_mean(sc: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each resample's mean over the subjects it draws, ``sc`` (``B x S``) their draw counts, ``score``
    (``B x S`` or ``1 x S``) the subjects' scores: a subject it does not draw adds nothing (its score
    undefined, NaN, too: ``0 * NaN`` made the resample NaN)."""
    return np.where(sc > 0, sc * score, 0.0).sum(axis=1) / sc.shape[1]


def _undefined(out: dict[str, Any], boot: dict[str, np.ndarray], caller: str, nan_policy: str) -> None:
    """``n_boot_undefined`` of the first statistic of ``boot`` into ``out``, and the one warning
    (:func:`neuroxr.kernels.resample.warn_undefined`) naming every statistic with undefined resamples."""
    counts = {k: int(rs.undefined_resamples(v)) for k, v in boot.items()}
    first = next(iter(boot))
    out["n_boot_undefined"] = ((), counts[first])
    also = "; ".join(f"{c} of {boot[k].shape[0]} resamples have an undefined {k}" for k, c in counts.items() if c and k != first)
    rs.warn_undefined(caller, np.asarray(counts[first]), boot[first].shape[0], first, nan_policy, also)


def _check_kwargs(kwargs: dict[str, Any], caller: str, own: Sequence[str], taken: Sequence[str] = ("method",)) -> None:
    """One-line :class:`ParameterError` for an option of ``caller`` that neither it (``own``) nor
    :func:`rsa_bootstrap` (less ``taken``, which ``caller`` sets itself) accepts."""
    passed = [k for k, p in inspect.signature(rsa_bootstrap).parameters.items() if p.kind is p.KEYWORD_ONLY and k not in taken]
    bad = [k for k in kwargs if k not in passed]
    if bad:
        hint = " (compare_method is the RDM comparison)" if "method" in bad else ""
        raise ParameterError(f"{caller} takes no option{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
                             f"it accepts {', '.join([*own, *passed])}{hint}.")


def crsa_bootstrap(
    features: Any,
    neural: Any,
    *,
    rdm_method: str = "correlation",
    compare_method: str = COMPARE_DEFAULT,
    **kwargs: Any,
) -> xr.Dataset:
    """:func:`rsa_bootstrap` of classical RSA: the RDM of ``features`` against the RDM of each
    neural set in ``neural`` (one DataArray, or a list of them: one subject / animal each, labeled by its name for ``over``).

    ``kwargs`` are those of :func:`rsa_bootstrap` (``n_boot``, ``seed``, ``level``, ``over``, ...;
    not ``method``: ``compare_method`` is the comparison); any other is refused.
    Each set's RDM is the plain :func:`~neuroxr.geometry.crsa` call's: its neuroids those crsa's
    default scores (2 valid repeats on every kept stimulus where the set holds repeats,
    :func:`~neuroxr.geometry.rsa.draws_ceiling`), its stimuli those with a trial in one of them; a
    stimulus another set lacks is a missing pair there only (NaN rows), so ``score`` is the mean of the
    plain calls. ``n_excluded_stimuli`` / ``n_excluded_neuroids``: summed over the sets.
    """
    caller = "crsa_bootstrap"
    _check_kwargs(kwargs, caller, ("rdm_method", "compare_method"))
    _check_option(rdm_method, RDM_METHODS, "rdm_method", caller)
    sets = neural if isinstance(neural, (list, tuple)) else [neural]
    if not sets:
        raise LayoutError(f"{caller}: neural: no neural sets given; pass one neural DataArray or a list of them.")
    args = ["neural" if len(sets) == 1 else f"neural[{i}]" for i in range(len(sets))]
    fname, names = _named(features, "features"), [_named(x, a) for x, a in zip(sets, args)]
    _one_bin(features, fname, caller)
    for x, nm in zip(sets, names):
        _one_bin(x, nm, caller)
    # crsa's rule, set by set (each set's RDM is the plain crsa call's): a set's stimuli without a trial in
    # any of its neuroids leave that set's RDM only (NaN rows there: its pairs are missing, as the NaN rule
    # reads them), and its neuroids are those crsa scores (2 valid repeats where it draws a ceiling)
    counts, gone, kept = {"n_excluded_stimuli": 0, "n_excluded_neuroids": 0}, None, []
    for x, nm in zip(sets, names):
        (x,), c, dropped = _drop_unusable([(x, nm)], caller, 2 if draws_ceiling(x) else 1, paired=True, pair_with=(features,))
        counts = {k: counts[k] + c[k] for k in counts}
        gone = set(dropped.astype(str)) if gone is None else gone & set(dropped.astype(str))
        kept.append((x, dropped, set(dropped.astype(str))))
    model = _without(_rdm(features, rdm_method, None, f"{caller}: {fname}"), sorted(gone))  # no set has these
    rdms = []
    for (x, dropped, d), nm in zip(kept, names):  # unpaired sets refused before their RDMs (their means may hold NaN)
        own = _ids(_plain(x))
        lacks = set(_ids(model).astype(str)) - set(own.astype(str))
        _refuse_unpaired(_ids(model), _ids(model) if lacks and lacks <= d else own, (fname, nm), caller)  # as _nan_padded
        rdms.append((_without(_rdm(x, rdm_method, None, f"{caller}: {nm}"), dropped), d))
    # each paired with the features here, so that a pairing error names crsa_bootstrap's arguments
    data = [_align_rdm(model, _nan_padded(r, _ids(model), nm, d), (fname, nm), caller) for (r, d), nm in zip(rdms, names)]
    out = _rsa_bootstrap(model, data, caller, "compare_method", method=compare_method, **kwargs)
    out.attrs.update(rdm_method=rdm_method, compare_method=compare_method, **counts,
                     **input_labels(source=features, target=neural))
    return out


def _nan_padded(rdm: xr.DataArray, ids: np.ndarray, name: str, dropped: set[str]) -> Any:
    """``rdm`` over the stimuli ``ids``, NaN at the pairs of those it lacks (zero diagonal) where all
    of them are its ``dropped`` ones; else ``rdm`` itself (the caller's pairing refuses it)."""
    own = np.asarray(rdm["stimulus_id"].values).astype(str)
    lacks = set(np.asarray(ids).astype(str)) - set(own)
    if not lacks or not lacks <= dropped:
        return rdm
    pos = {s: i for i, s in enumerate(own)}
    at = np.array([pos.get(str(s), -1) for s in ids])
    V = np.asarray(rdm.values, dtype=float)[np.ix_(at.clip(0), at.clip(0))]
    V[at < 0, :] = V[:, at < 0] = np.nan
    np.fill_diagonal(V, 0.0)
    return as_rdm(V, name, np.asarray(ids))


def rsa_permutation(model_rdm: Any, data_rdms: Any, *, method: str = "corr", n_perm: int = 1000, seed: int = 0) -> xr.Dataset:
    """Permutation (Mantel) test of an RSA evaluation: the stimulus labels of the model RDM are
    permuted (rows and columns together, ``default_rng([seed, 2])`` on canonical positions).
    ``model_rdm`` and ``data_rdms`` are those of :func:`rsa_bootstrap` (paired the same way), and
    so is the NaN rule: each subject compared on the pairs complete in its RDM and the permuted
    model's (a NaN pair of the model moves with it); with fewer than 3 complete pairs (e.g. an
    all-NaN RDM: a correlation RDM of one unit) ``score`` and ``p`` are NaN, as
    :func:`~neuroxr.geometry.compare_rdms` gives; RDMs of
    fewer than 3 stimuli are refused as it refuses them (so are :func:`rsa_bootstrap`'s and
    :func:`crsa_bootstrap`'s).

    Returns
    -------
    xarray.Dataset
        ``score`` (mean over subjects), ``p`` (one-sided, ``(1 + #{null >= score}) / (1 + n_perm)``
        over the defined permutations) and ``score_null`` (perm); attrs ``n_pairs_dropped`` as
        :func:`rsa_bootstrap`'s and ``n_perm_undefined``: the permutations whose score is undefined
        (NaN pairs moved with the model leave a subject fewer than 3 complete pairs; one warning),
        left out of ``p``.
    """
    return _rsa_permutation(model_rdm, data_rdms, "rsa_permutation", "method", method, n_perm, seed)


def _rsa_permutation(model_rdm: Any, data_rdms: Any, caller: str, param: str, method: str, n_perm: int,
                     seed: int) -> xr.Dataset:
    """:func:`rsa_permutation`, its messages starting with ``caller`` (``param`` gives ``method``)."""
    method = _method(method, caller, param)
    a_da, stack = _model_and_data(model_rdm, data_rdms, caller)
    a_da = _canonical_any(a_da)
    stack = xr.concat([_align_rdm(a_da, stack.isel(rdm=i), ("model_rdm", "data_rdms"), caller) for i in range(stack.sizes["rdm"])],
                      "rdm")
    _check_stimuli(a_da.sizes["stimulus"], caller, "the RDMs share")
    n = a_da.shape[0]
    iu = np.triu_indices(n, 1)
    A = np.asarray(a_da.values, dtype=float)
    vb = np.asarray(stack.values, dtype=float)[:, iu[0], iu[1]]  # (S, pairs)
    finite_b = ~np.isnan(vb)

    def unit(V: np.ndarray, ranked: bool = False) -> np.ndarray:  # rows prepared (ranked), centred, unit norm
        V = V if ranked else np.stack([vector(v, method) for v in V])
        return _center_normalize(np, V, method != "cosine")  # a constant RDM (up to rounding): NaN, as compare_rdms gives

    dropped = (~(finite_b & ~np.isnan(A[iu]))).sum()
    if not dropped:  # no NaN: prepare once, permute the prepared model
        ub, a = unit(vb), np.zeros((n, n))
        a[iu] = vector(A[iu], method)
        a = a + a.T

        def score(M: np.ndarray, per_subject: bool = False) -> Any:
            r = ub @ unit(M[iu][None], ranked=True)[0]
            return r if per_subject else float(np.mean(r))
    else:  # rsa_bootstrap's NaN rule: each subject on the pairs complete in its RDM and the (permuted) model's
        a = A
        patterns, which = np.unique(finite_b, axis=0, return_inverse=True)  # subjects sharing their NaN pairs
        which = np.asarray(which).ravel()

        # a model without NaN pairs keeps each subject's pairs fixed: its prepared rows are formed once
        # (none for subjects with fewer than 3 finite pairs, e.g. an all-NaN RDM: their score is NaN)
        fixed = [unit(vb[which == g][:, f]) if not np.isnan(A[iu]).any() and f.sum() >= MIN_PAIRS else None
                 for g, f in enumerate(patterns)]

        def score(M: np.ndarray, per_subject: bool = False) -> Any:
            v, out = M[iu], np.empty(vb.shape[0])
            for g, finite in enumerate(patterns):
                keep, members = finite & ~np.isnan(v), which == g
                # compare_rdms's rule: fewer than 3 complete pairs is NaN (and so the mean and p)
                if keep.sum() < MIN_PAIRS:
                    out[members] = np.nan
                else:
                    ub = unit(vb[members][:, keep]) if fixed[g] is None else fixed[g]
                    out[members] = ub @ unit(v[keep][None])[0]
            return out if per_subject else float(np.mean(out))

        _nan_warning(caller, int(dropped), int(vb.size))
    per_subject = score(a, per_subject=True)
    obs = float(np.mean(per_subject))  # score(a), from its one evaluation
    _warn_flat(caller, per_subject, a_da, stack)  # a NaN score with its reason, as compare_rdms gives it
    null = np.array([score(a[np.ix_(p, p)]) for p in rs.permutation_indices(n, n_perm, seed, caller)])
    p = float(rs.permutation_pvalues(np.asarray([obs]), null[:, None])[0])
    undefined = int(rs.undefined_resamples(null)) if np.isfinite(obs) else 0
    if undefined:  # the NaN pairs moved with the model left a subject fewer than 3 complete pairs
        warn(f"{caller}: {undefined} of {int(n_perm)} permutations leave a subject fewer than {MIN_PAIRS} complete "
             f"pairs, so their score is undefined; "
             + (f"p is over the {int(n_perm) - undefined} defined ones" if undefined < int(n_perm) else "p is NaN (no defined one)")
             + " (n_perm_undefined).")
    return xr.Dataset({"score": ((), obs), "p": ((), p), "score_null": (("perm",), null)},
                      attrs={"method": method, "n_perm": int(n_perm), "seed": int(seed), "n_pairs_dropped": int(dropped),
                             "n_perm_undefined": undefined})


def ersa_bootstrap(
    features: Any,
    neural: Any,
    *,
    rdm_method: str = "correlation",
    compare_method: str = COMPARE_DEFAULT,
    alpha: float = 0.1,
    test_size: float = 0.5,
    split_seed: int = 0,
    n_perm: int = 0,
    **kwargs: Any,
) -> xr.Dataset:
    """Pattern bootstrap (and optionally a Mantel permutation test) of encoding RSA's test score.

    The encoding model is fitted once as :func:`neuroxr.geometry.ersa` fits it (train / test split
    of the canonical order with ``split_seed`` and ``test_size``; ridge ``alpha`` on the training
    stimuli); the RDM of its test predictions and the neural RDM of the test stimuli are then
    resampled together over test stimuli (:func:`rsa_bootstrap`, ``kwargs``: ``n_boot``, ``seed``,
    ``level``, ``indices``, ``over``, ``nan_policy``; any other is refused). With ``n_perm`` the
    result also holds ``p`` and ``score_null`` of :func:`rsa_permutation` on the same two RDMs.
    """
    return _ersa_bootstrap("ersa_bootstrap", features, neural, rdm_method=rdm_method, compare_method=compare_method,
                           alpha=alpha, test_size=test_size, split_seed=split_seed, n_perm=n_perm, **kwargs)


def _ersa_bootstrap(caller: str, features: Any, neural: Any, *, rdm_method: str, compare_method: str, alpha: float,
                    test_size: float, split_seed: int, n_perm: int, **kwargs: Any) -> xr.Dataset:
    """:func:`ersa_bootstrap`, its messages starting with ``caller`` (the function called, or the
    ``ersa_permutation`` entry that runs it)."""
    from ..backend import to_numpy
    from ..kernels import rdm as _kr
    from ..kernels.ridge import oof_predict
    from ._common import _train_test, check_split
    from .rsa import _paired_arrays, check_design

    _check_kwargs(kwargs, caller, ("rdm_method", "compare_method", "alpha", "test_size", "split_seed", "n_perm"),
                  ("method", "noise_ceiling"))
    check_alpha(alpha, caller=caller)
    check_split(test_size, split_seed, caller, "split_seed")
    _check_option(rdm_method, _kr.RDM_METHODS, "rdm_method", caller)
    seed = rs._seed(kwargs.get("seed", 0), caller)  # 1.7 drew as 1; also the permutations' seed
    n_perm = rs.check_n_perm(n_perm, caller)
    _one_bin(neural, _named(neural, "neural"), caller)
    (neural, features), counts, _ = _drop_unusable([(neural, _named(neural, "neural")), (features, _named(features, "features"))],
                                                   caller)
    X, Y, ids, _ = _paired_arrays(_plain(features), neural, caller)
    tr, te = _train_test(X.shape[0], test_size, split_seed, caller)
    check_design(X[tr], f"{caller}: {_named(features, 'features')} (training stimuli)")  # as ersa
    P_te = np.asarray(to_numpy(oof_predict(X, Y, [(tr, te), (te, tr)], alpha=alpha)))[te]
    te_ids = np.asarray(ids)[te]
    model = as_rdm(np.asarray(to_numpy(_kr.rdm(P_te, rdm_method))), "ersa predictions", te_ids)
    data = as_rdm(np.asarray(to_numpy(_kr.rdm(Y[te], rdm_method))), "neural", te_ids)
    if n_perm and kwargs.get("indices") is not None:  # the seed draws the permutations only
        kwargs = {k: v for k, v in kwargs.items() if k != "seed"}
    out = _rsa_bootstrap(model, data, caller, "compare_method", method=compare_method, noise_ceiling=False, **kwargs)
    if n_perm:
        perm = _rsa_permutation(model, data, caller, "compare_method", compare_method, n_perm, seed)
        out["p"] = perm["p"]
        out["score_null"] = perm["score_null"]
    out.attrs.update(seed=seed, rdm_method=rdm_method, compare_method=compare_method, alpha=float(alpha), test_size=float(test_size), split_seed=int(split_seed),
                     n_test=int(te.size), n_perm=int(n_perm), **counts, **input_labels(source=features, target=neural))
    return out


# the shape metrics' and CKA's inference, importable from here
from .cka_inference import CKA_BOOT_DEFAULT, CKA_BOOT_METHODS, cka_bootstrap  # noqa: E402
from .shape_inference import SHAPE_BOOT_DEFAULT, SHAPE_BOOT_METHODS, shape_bootstrap  # noqa: E402
