"""Whether a complete stored layer matches this extraction: what lets a re-run skip it, or refuses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ExtractionError, StoreError
from ..store import StudyStore
from ._common import stored_index
from .identity import IDENTITY_ATTR, Identity, uncovered
from .pooling import pooling_problem
from .reduce import compared_spec, implementation_problem, revision_problem

if TYPE_CHECKING:
    from .plan import LayerPlan


def check_compatible(store: StudyStore, path: str, lp: LayerPlan, ids: np.ndarray, identity: Identity | None = None,
                     read: dict[str, Any] | None = None) -> None:
    """A complete stored layer must match this extraction, or the caller must overwrite it.

    It is read through :meth:`~neuroxr.StudyStore.read_set_index` (:func:`stored_index`, with ``read``:
    once per extraction, whose stimulus order read the model's first layer), so a damaged layer (its attrs or
    its arrays' metadata edited after the write, lost chunks: its reduction, pooling and identity
    would then be no record of its data) is refused first, in the store's words. Then shape,
    stimulus ids, the module stored, dtype, reduction (for PCA also the
    partition of the fit stimuli into ``partial_fit`` batches), the revision of a reduction where it
    changed the stored values (:func:`~neuroxr.extract.reduce.revision_problem`) and pooling are
    compared, then (with ``identity``) the digests of the model, the preprocessing and the stimuli
    in the layer's attrs ``extraction_identity``: a layer that records none (an older neuroxr) is
    refused too, and so is one of an older identity version whose digests match on what that
    version covers (:func:`~neuroxr.extract.identity.uncovered`).

    Raises
    ------
    ExtractionError
        One line naming the layer, what differs, and the fix (``overwrite=True``, another ``model_name``).
    """
    try:
        stored = stored_index(store, path, read)
    except StoreError as exc:  # damaged (or rewritten meanwhile): it cannot be checked against this extraction
        what = f"store {store.url!r}: layer {path!r} is complete but damaged ({exc.problem})" if exc.problem else str(exc)
        raise ExtractionError(f"{what.rstrip('.')}, so it cannot be checked against this extraction. Pass overwrite=True "
                              "(neuroxr extract --overwrite) to recompute it, or extract under another model_name "
                              "(--model-name).") from exc
    attrs, shape, stored_ids = stored.attrs, stored.shape, stored.stimulus_id
    stored_red = attrs.get("reduction")
    problems = []
    if shape != (len(ids), lp.n_units):
        problems.append(f"it has shape {shape}, this extraction gives {(len(ids), lp.n_units)}")
    else:
        other = np.setdiff1d(stored_ids, ids)
        if other.size:
            problems.append(f"{other.size} of its stimulus ids are not among these stimuli, e.g. {other[:3].tolist()}")
        elif not np.array_equal(stored_ids, ids):  # the order of the model's first such layer is followed
            problems.append("it holds these stimuli in another order than the model's first layer that holds them, "
                            "which this extraction follows (the model's layers were written in different orders)")
    stored_spec, spec = compared_spec(stored_red, len(ids)), compared_spec(lp.reduction, len(ids))
    if stored_spec != spec:
        problems.append(f"its reduction {stored_spec} differs from {spec}")
    if attrs.get("module_name") != lp.module_name:
        problems.append(f"it holds the output of module {attrs.get('module_name')!r}, this extraction stores "
                        f"module {lp.module_name!r} under that name")
    if shape is not None and str(stored.dtype) != lp.dtype:
        problems.append(f"its dtype {str(stored.dtype)!r} differs from {lp.dtype!r}")
    if stored_spec == spec and lp.reduction:  # PCA's fit partition, the reduction's revision, scikit-learn's draw or fit
        if lp.reduction["method"] == "pca" and stored_red.get("fit_batches") != lp.fit_batches:
            problems.append(
                f"its PCA was fitted on the fit stimuli in {stored_red.get('fit_batches')} incremental batch(es), this "
                f"extraction fits in {lp.fit_batches} (incremental PCA depends on that partition, set by batch_size and "
                f"memory_limit; None: not recorded)"
            )
        problems += [p for p in (revision_problem(stored_red, lp.dtype, attrs.get("source_dtype")),
                                 implementation_problem(stored_red, lp.n_raw_units)) if p]
    if attrs.get("pooling") != lp.pooling:
        problems.append(f"its pooling {attrs.get('pooling')!r} differs from {lp.pooling!r}")
    elif lp.half and (problem := pooling_problem(attrs)):
        problems.append(problem)
    if not problems and identity is not None:
        recorded = attrs.get(IDENTITY_ATTR)
        differences = identity.differences(recorded)
        if differences is None or (not differences and uncovered(recorded)):
            what = ("records no identity of the model, preprocessing and stimuli it was extracted from (written by an "
                    "older neuroxr)" if differences is None else
                    f"records an identity of version {recorded['version']} (written by an older neuroxr), which does not "
                    f"cover {uncovered(recorded)}")
            raise ExtractionError(
                f"store {store.url!r}: layer {path!r} is complete but {what}, so it cannot be checked against this "
                f"extraction. Pass overwrite=True (neuroxr extract --overwrite) to recompute it, leave it out of "
                f"layers=[...] (--layer) to keep it as it is, or extract under another model_name (--model-name)."
            )
        problems += differences
    if problems:
        raise ExtractionError(
            f"store {store.url!r}: layer {path!r} is complete but " + "; ".join(problems) + ". Pass "
            "overwrite=True (neuroxr extract --overwrite) to replace it, or extract under another model_name "
            "(--model-name)."
        )
