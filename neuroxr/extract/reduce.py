"""Dimensionality reduction applied at write time: sparse random projection or incremental PCA.

A layer with more than ``n_components`` units can be reduced as its batches stream to the store:

- ``srp``: ``sklearn.random_projection.SparseRandomProjection`` (Achlioptas 2003; Li, Hastie &
  Church 2006), whose components depend only on the number of units and the seed, so it needs no
  fitting pass.
- ``pca``: ``sklearn.decomposition.IncrementalPCA`` (Ross et al. 2008) fitted in a preliminary
  pass on ``fit_stimuli`` stimuli drawn with ``numpy.random.default_rng(seed)``.

The fit stimuli are drawn from, and fed in, the order of their stimulus ids (:func:`fit_index`),
not the order the stimuli are given in: the same stimuli in another order get the same features.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..alignment import canonical_order
from ..errors import ExtractionParameterError, shown, warn

REDUCTION_KEYS = {"method", "n_components", "fit_stimuli", "seed"}

PCA_REVISION = 3
"""The revision of the PCA reduction, recorded in a PCA-reduced layer's attrs ``reduction``
(``revision``) and compared on a re-run (:func:`revision_problem`): 3 fits and projects a layer
stored as float64 in float64 (:func:`reduced_dtype`); 2 did so in the outputs' dtype (float32 for a
float32 model), so a float64 layer of float32 outputs held float32 values; other layers are the same
under 2 and 3, bit for bit. 2 draws the fit stimuli from, and feeds them in, the order of their ids
(:func:`fit_index`), fits float64 outputs in float64 and centres before projecting
(``(x - mean) @ W.T``); 1 (not recorded) drew them by position, so the same stimuli in another order
got other features, and projected ``x @ W.T - mean @ W.T`` with a float32 offset, which lost digits
to cancellation for outputs far from zero."""

SRP_REVISION = 2
"""The revision of the sparse random projection, recorded in an SRP-reduced layer's attrs
``reduction`` (``revision``): 2 projects a layer stored as float64 in float64, with scikit-learn's
components as drawn (float64); 1 (not recorded) projected with the components rounded to float32
and rounded the output to float32, so a float64 layer held float32 values. A layer stored as
float32 or float16 is the same under both, bit for bit (:func:`revision_problem`)."""


def reduction_spec(reduction: Mapping[str, Any] | None, n: int) -> dict[str, Any] | None:
    """The validated reduction dict (``None`` for no reduction) for ``n`` stimuli; a value it cannot use is an
    :class:`~neuroxr.errors.ExtractionParameterError` (a usage error naming its option on the command line)."""
    if reduction is None:
        return None
    if not isinstance(reduction, Mapping):
        raise ExtractionParameterError(
            "reduction must be a dict such as {'method': 'srp', 'n_components': 1000, 'fit_stimuli': 500, 'seed': 0}."
        )
    unknown = set(reduction) - REDUCTION_KEYS
    if unknown:
        raise ExtractionParameterError(f"reduction has unknown keys {sorted(unknown)}; allowed: {sorted(REDUCTION_KEYS)}.")
    method = str(reduction.get("method", "")).lower()
    if method not in ("srp", "pca"):
        raise ExtractionParameterError(f"reduction method must be 'srp' or 'pca'; got {shown(reduction.get('method'))}.")
    k = reduction.get("n_components")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ExtractionParameterError(f"reduction n_components must be a positive int; got {shown(k)}.")
    m = reduction.get("fit_stimuli", n)
    if method == "srp" and reduction.get("fit_stimuli") is not None:
        raise ExtractionParameterError("reduction fit_stimuli applies to method 'pca' only: a sparse random projection is drawn, "
                              "not fitted (its components depend on the units, n_components and seed alone); drop it.")
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 1:
        raise ExtractionParameterError(f"reduction fit_stimuli must be a positive int; got {shown(m)}.")
    if int(m) > n:  # a budget set for larger stimulus sets: every stimulus is fitted, and recorded so
        warn(f"reduction fit_stimuli={int(m)} is more than the {n} stimuli: the PCA is fitted on all {n} "
             f"(recorded as fit_stimuli={n}).")
    m = min(int(m), n)
    if method == "pca" and m < k:
        raise ExtractionParameterError(
            f"PCA with n_components={k} needs at least {k} fit stimuli; fit_stimuli is {m} "
            f"(there are {n} stimuli). Lower n_components or raise fit_stimuli."
        )
    seed = reduction.get("seed", 0)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ExtractionParameterError(f"reduction seed must be an int from 0 to 2**32 - 1; got {shown(seed)}.")
    if method == "pca" and m == n:  # every stimulus fitted: the seed draws nothing (recorded as None)
        if seed != 0:
            raise ExtractionParameterError(f"reduction seed={int(seed)} has no effect on a PCA fitted on every one of the "
                                           f"{n} stimuli (it draws the fit_stimuli subset); drop it or pass fit_stimuli "
                                           f"below {n}.")
        return {"method": method, "n_components": int(k), "fit_stimuli": m, "seed": None}
    return {"method": method, "n_components": int(k), "fit_stimuli": m if method == "pca" else None, "seed": int(seed)}


def compared_spec(spec: Mapping[str, Any] | None, n: int) -> dict[str, Any] | None:
    """The parts of a reduction spec that set the stored values of a layer of ``n`` stimuli: a sparse
    random projection's ``fit_stimuli`` (recorded by earlier neuroxr versions, never used) is left out,
    and so is the seed of a PCA fitted on every stimulus (earlier versions recorded it; it drew nothing)."""
    if not spec:
        return None
    keys = ("method", "n_components", "fit_stimuli", "seed")  # the spec's order (REDUCTION_KEYS is a set)
    inert = {"fit_stimuli"} if spec.get("method") == "srp" else {"seed"} if spec.get("fit_stimuli") == n else set()
    return {k: spec.get(k) for k in keys if k not in inert}


def reduced_dtype(outputs: Any, dtype: Any) -> np.dtype:
    """The dtype a reduction takes outputs of dtype ``outputs`` in, for a layer stored as ``dtype``.

    The one rule of both reductions: a layer stored as float64 is fitted and projected in float64,
    its outputs widened first (:data:`SRP_REVISION` 2, :data:`PCA_REVISION` 3); otherwise the
    outputs are taken as they come (each reduction then rounds as before).
    """
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(outputs)


def revision_problem(stored: Mapping[str, Any], dtype: str, source_dtype: Any) -> str | None:
    """Why a stored reduced layer (its ``reduction`` attr ``stored``, stored as ``dtype`` from outputs
    of ``source_dtype``, its attr) holds other values than this revision writes, ``None`` if it does not.

    SRP revision 1 differs for float64 layers; PCA revision 1 for every layer, revision 2 for float64
    layers of outputs other than float64 (``None``: not recorded), fitted and projected in their dtype.
    """
    revision = stored.get("revision", 1)
    wide = np.dtype(dtype) == np.float64
    if stored.get("method") == "srp":
        if revision == SRP_REVISION or not wide:
            return None
        return (f"its sparse random projection is of revision {revision}, this neuroxr's is {SRP_REVISION} (a layer "
                f"stored as float64 is projected in float64; revision 1 rounded it to float32)")
    if revision == 1:
        return (f"its PCA is of revision 1, this neuroxr's is {PCA_REVISION} (fit stimuli drawn in stimulus id "
                f"order, not by position; centred before projecting)")
    if revision == PCA_REVISION or not wide or source_dtype == "float64":
        return None
    return (f"its PCA is of revision {revision}, this neuroxr's is {PCA_REVISION} (a layer stored as float64 is "
            f"fitted and projected in float64; revision {revision} did so in its outputs' dtype, {source_dtype})")


def sklearn_version() -> str:
    """The version of scikit-learn that draws and fits the reductions, recorded in their ``reduction`` attr."""
    import sklearn

    return str(sklearn.__version__)


@functools.lru_cache(maxsize=2)
def _draw_srp(p: int, k: int, seed: int) -> tuple[Any, float, str]:
    """scikit-learn's ``SparseRandomProjection`` of ``p`` units to ``k``, drawn with ``seed``: its
    float64 components (CSR, read-only), density and :func:`_components_digest`. Kept for the last two
    draws: a re-run's check of a stored layer (:func:`implementation_problem`) and the run that
    follows (:class:`SRP`) draw once."""
    import scipy.sparse as sp
    from sklearn.random_projection import SparseRandomProjection

    est = SparseRandomProjection(n_components=k, random_state=seed, dense_output=False)
    est.fit(sp.csr_matrix((1, p)))  # SRP needs the number of units alone
    C = sp.csr_matrix(est.components_, dtype=np.float64)
    for part in (C.data, C.indices, C.indptr):
        part.flags.writeable = False
    return C, float(est.density_), _components_digest(C)


def _components_digest(C: Any) -> str:
    """SHA-256 of a sparse random projection's draw: its shape, non-zero positions and signs (every
    non-zero has one magnitude), the same for the float32 and float64 components."""
    import hashlib

    import scipy.sparse as sp

    C = sp.csr_matrix(C, copy=True)
    C.sort_indices()  # scikit-learn leaves a row's non-zeros in draw order, which differs between dtypes
    h = hashlib.sha256(repr(C.shape).encode())
    for part in (C.indptr.astype(np.int64), C.indices.astype(np.int64), (C.data > 0).astype(np.uint8)):
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()


def implementation_problem(stored: Mapping[str, Any], p: int) -> str | None:
    """Why a stored reduced layer (its ``reduction`` attr ``stored``, of ``p`` units before reduction)
    holds values that this scikit-learn would not reproduce, ``None`` if it would (or cannot tell).

    A sparse random projection is drawn anew and its components compared with the stored layer's
    (``components_sha256``): a release that draws otherwise differs, one that does not is accepted.
    A PCA is compared by scikit-learn's version (``IncrementalPCA``'s components, their signs among
    them, have changed between releases). Layers of earlier neuroxr versions record neither and are
    not compared.
    """
    recorded = stored.get("sklearn")
    if stored.get("method") == "srp" and stored.get("components_sha256"):
        if _draw_srp(p, int(stored["n_components"]), int(stored["seed"]))[2] != stored["components_sha256"]:
            return (f"its sparse random projection was drawn by scikit-learn {recorded}, whose components differ "
                    f"from those this scikit-learn ({sklearn_version()}) draws for the same units, n_components and seed")
    elif stored.get("method") == "pca" and recorded is not None and recorded != sklearn_version():
        return (f"its PCA was fitted by scikit-learn {recorded}, this is scikit-learn {sklearn_version()} "
                f"(IncrementalPCA's components may differ between releases)")
    return None


def stored_revision_problem(path: str, attrs: Mapping[str, Any], dtype: Any) -> str | None:
    """What ``neuroxr info`` and ``neuroxr validate`` say of the stored layer ``path``
    (``features/<model>/<layer>``, its attrs ``attrs`` and stored ``dtype``) that a re-run of extraction
    refuses for the revision of its reduction (:func:`revision_problem`, the one rule), with how to
    recompute it; ``None`` for a layer not reduced, or reduced as this revision reduces it."""
    stored = attrs.get("reduction")
    if not isinstance(stored, Mapping) or stored.get("method") not in ("srp", "pca"):  # not reduced by extraction
        return None
    problem = revision_problem(stored, str(np.dtype(dtype)), attrs.get("source_dtype"))
    if problem is None:
        return None
    parts = path.split("/")
    model, module = parts[1] if len(parts) == 3 else "...", attrs.get("module_name", parts[-1])
    return (f"{path}: {problem}; a re-run of extraction refuses it (entries computed on it are right for the values "
            f"it stores). Recompute it with extract_features(..., model_name={model!r}, layers=[{module!r}], "
            f"overwrite=True) (neuroxr extract ... --model-name {model} --layer {module} --overwrite)")


def fit_index(spec: Mapping[str, Any], ids: np.ndarray) -> np.ndarray:
    """Indices (into ``ids``) of the stimuli a reduction is fitted on, in the order of their ids.

    ``fit_stimuli`` of the stimuli in canonical order (:func:`~neuroxr.alignment.canonical_order`, sorted
    by id, as the directions order them) are drawn with ``default_rng(seed)`` (all of them
    when ``fit_stimuli >= n``), so which stimuli are drawn, and the order ``IncrementalPCA`` sees
    them in, depend on the ids, never on the order the stimuli are given in. For stimuli given
    in id order this is the draw of earlier versions (positions drawn, then sorted).
    """
    order = canonical_order(ids)
    m = spec["fit_stimuli"]
    if m >= len(ids):
        return order
    return order[np.sort(np.random.default_rng(spec["seed"]).choice(len(ids), size=m, replace=False))]


def fit_batches(m: int, b_fit: int) -> list[np.ndarray]:
    """Split ``arange(m)`` into consecutive parts of at least ``b_fit`` rows (one part if ``m < 2 b_fit``)."""
    parts = max(1, m // b_fit)
    return np.array_split(np.arange(m), parts)


class SRP:
    """A sparse random projection ``x -> x @ C.T`` (C: sparse ``k x p``).

    Computed in float64 (C as scikit-learn draws it) for a layer stored as float64 (``dtype``),
    otherwise with C rounded to float32 and a float32 output (:data:`SRP_REVISION`). The draw
    depends only on ``p``, ``k`` and ``seed``: the float32 C is the float64 one rounded.
    """

    def __init__(self, p: int, k: int, seed: int, dtype: Any = np.float32) -> None:
        import scipy.sparse as sp

        self.dtype = np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)
        C, density, digest = _draw_srp(p, k, seed)
        self.components = sp.csr_matrix(C, dtype=self.dtype, copy=True)  # float32: the float64 draw rounded
        self.info = {"revision": SRP_REVISION, "estimator": "sklearn.random_projection.SparseRandomProjection",
                     "density": density, "sklearn": sklearn_version(), "components_sha256": digest}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=reduced_dtype(x.dtype, self.dtype))  # widened where stored as float64
        return np.asarray((self.components @ x.T).T, dtype=self.dtype)

    @property
    def nbytes(self) -> int:
        c = self.components
        return int(c.data.nbytes + c.indices.nbytes + c.indptr.nbytes)


class PCA:
    """An incrementally fitted PCA ``x -> (x - mean) @ W.T``.

    Fitted and projected in float64 for float64 outputs or a layer stored as float64 (``dtype``;
    outputs widened first, :func:`reduced_dtype`), otherwise in float32 (:data:`PCA_REVISION`).
    """

    def __init__(self, k: int, dtype: Any = np.float32) -> None:
        from sklearn.decomposition import IncrementalPCA

        self.dtype = np.dtype(dtype)
        self._ipca: Any = IncrementalPCA(n_components=k)
        self.components: np.ndarray | None = None
        self.info: dict[str, Any] = {}

    def partial_fit(self, x: np.ndarray) -> None:
        # one copy (sklearn may centre in place): float64 (outputs or storage) or float32
        wide = reduced_dtype(x.dtype, self.dtype) == np.float64
        self._ipca.partial_fit(np.array(x, dtype=np.float64 if wide else np.float32))

    def finish(self) -> None:
        ipca = self._ipca
        dt = np.float64 if ipca.components_.dtype == np.float64 else np.float32  # the fit's dtype
        self.components = np.ascontiguousarray(ipca.components_, dtype=dt)
        self.mean = np.asarray(ipca.mean_, dtype=dt)
        self.info = {
            "revision": PCA_REVISION,
            "estimator": "sklearn.decomposition.IncrementalPCA",
            "sklearn": sklearn_version(),
            "explained_variance_ratio": ipca.explained_variance_ratio_.astype(float).tolist(),
        }
        self._ipca = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # centred first (one copy of the batch in the fit's dtype, widened by the subtraction where
        # stored as float64: in the plan's budget); x @ W.T - mean @ W.T cancels digits
        return np.subtract(x, self.mean, dtype=self.mean.dtype) @ self.components.T

    @property
    def nbytes(self) -> int:
        return 0 if self.components is None else int(self.components.nbytes + self.mean.nbytes)


def reducer_state_bytes(method: str, p: int, k: int, itemsize: int = 4) -> int:
    """Bytes of a fitted reducer's parameters for ``p`` input and ``k`` output units (``itemsize``:
    of the stored dtype, which sets the dtype of SRP's components)."""
    if method == "srp":
        nnz = k * math.sqrt(p) * 1.25  # density 1/sqrt(p), with a margin for the draw
        return int(nnz * (8 if itemsize == 8 else 4) + nnz * 4 + (k + 1) * 8)  # values, int32 indices, indptr
    return int(k * p * 8 + 2 * p * 8)  # IncrementalPCA holds float64 components, mean and variance


def projection_copy_bytes(method: str, outputs: Any, dtype: Any) -> int:
    """Bytes a unit of one stimulus of the copies a reducer's call holds at once, for outputs of dtype
    ``outputs`` and a layer stored as ``dtype``.

    PCA centres a copy in its fit's dtype (:func:`reduced_dtype`, float32 at least: float16 outputs
    are fitted and projected in float32). SRP holds the outputs widened to float64 (stored as float64),
    scipy's contiguous copy of their transpose for the sparse product, and (float16 outputs) that
    copy cast to the float32 of the components.
    """
    taken = reduced_dtype(outputs, dtype)
    if method == "pca":
        return max(4, taken.itemsize)
    widened = taken.itemsize if taken != np.dtype(outputs) else 0
    return widened + taken.itemsize + (4 if taken.itemsize < 4 else 0)


def pca_fit_transient(p: int, k: int, rows: int, itemsize: int = 4) -> int:
    """Bytes one ``IncrementalPCA.partial_fit`` call on ``rows`` rows holds besides the state
    (``itemsize``: of the outputs as fitted, 8 where widened for float64 storage)."""
    # a float32 copy (float64 for float64 outputs or storage), float64 column statistics, the stacked
    # (k + rows) x p matrix (float64) and its SVD (U, Vt and LAPACK's copy of the input).
    return int(rows * p * (max(4, itemsize) + 16) + 3 * (k + rows + 1) * p * 8)
