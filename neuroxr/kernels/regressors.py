"""Out-of-fold predictions for every regressor, sharing work where the regressor allows it.

``ridge`` and ``linear`` go through the shared factorisations of :mod:`neuroxr.kernels.ridge`
(exact equivalents of scikit-learn's ``Ridge(alpha)`` / ``LinearRegression``). ``lasso``,
``elasticnet``, ``pls`` and ``ridgecv`` are scikit-learn estimators fitted fold by fold
(``Lasso(alpha)``, ``ElasticNet(alpha)``, ``PLSRegression(n_components=20)``, and
``RidgeCV(alphas, alpha_per_target=True)``: the penalty chosen per target by efficient
leave-one-out cross-validation inside each training fold). ``univariate`` predicts each target
from its single best predictor column, chosen on each training fold by the largest absolute
Pearson correlation, with an ordinary least-squares line (intercept and slope) on that column.

Any scikit-learn estimator or ``Pipeline`` (an object with ``fit`` and ``predict``) is accepted
too: it is cloned (``sklearn.base.clone``) and fitted once per fold on all the targets of a
block, so the out-of-fold predictions are those of
``sklearn.model_selection.cross_val_predict(estimator, X, Y, cv=folds)``.
:func:`regressor_identity` turns such an estimator into a canonical JSON-ready description
(class path and parameters, recursively) that labels and keys results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import asarray, get_namespace, resolve_backend, to_numpy
from ..errors import NeuroxrError, ParameterError, no_effect, shown, where
from . import ridge_designs as _designs
from .gram import GramStats
from .kernel_operator import FOLD_OPERATORS, oof_linear_operator_from_gram
from .ridge import (
    oof_linear_operator,
    oof_pearson_designs,
    oof_predict_designs,
    prepare_targets,
)
from .stats import constant_units

__all__ = [
    "REGRESSORS",
    "Regressor",
    "DEFAULT_RIDGECV_ALPHAS",
    "PENALTY_OPTIONS",
    "readers",
    "unread_error",
    "unread_given",
    "is_estimator",
    "pls_components",
    "fits_jointly",
    "shares_operator",
    "sklearn_named",
    "check_regressor",
    "check_options_used",
    "DEFAULT_ALPHA",
    "DEFAULT_N_COMPONENTS",
    "regressor_identity",
    "regressor_label",
    "univariate_oof",
    "centred_cast",
]

REGRESSORS = ("ridge", "linear", "lasso", "elasticnet", "pls", "ridgecv", "univariate")
DEFAULT_RIDGECV_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 9))
DEFAULT_ALPHA = 0.1
DEFAULT_N_COMPONENTS = 20
#: the options each regressor name reads (the others, and an estimator object, read none of them)
_READS = {"ridge": ("alpha",), "lasso": ("alpha",), "elasticnet": ("alpha",), "ridgecv": ("alphas",), "pls": ("n_components",)}
#: the penalty options, each with what it sets (a regressor reads some of them: ``_READS``)
PENALTY_OPTIONS = {"alpha": "the penalty of ridge, lasso and elasticnet", "alphas": "the penalty grid of ridgecv",
                   "n_components": "the number of pls components"}


#: The seed of the other global random state a drawing estimator is fitted from (:meth:`Regressor._depends_on_draws`).
_OTHER_STATE = 20250101


def _global_state() -> tuple[Any, ...]:
    """NumPy's global random state (what ``random_state=None`` draws from)."""
    return np.random.get_state()


def _same_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two :func:`_global_state` are the same state (nothing was drawn between them)."""
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b))


def is_estimator(obj: Any) -> bool:
    """Whether ``obj`` is an estimator object (has ``fit`` and ``predict``), not a regressor name."""
    return not isinstance(obj, str) and callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None))


def pls_components(regressor: Any, n_components: int) -> int | None:
    """The components a PLS choice fits (``"pls"`` with ``n_components``, or a PLS estimator of
    scikit-learn's ``cross_decomposition``: its own), ``None`` for any other regressor."""
    if isinstance(regressor, str):
        return int(n_components) if regressor == "pls" else None
    if not is_estimator(regressor):
        return None
    from sklearn.cross_decomposition import CCA, PLSCanonical, PLSRegression

    return int(regressor.n_components) if isinstance(regressor, (PLSRegression, PLSCanonical, CCA)) else None


def fits_jointly(regressor: Any) -> bool:
    """Whether ``regressor`` fits its targets jointly (``pls``, or any estimator object), so a
    target's predictions depend on the other targets (and, for PLS, on which comes first); ridge,
    linear, lasso, elasticnet, ridgecv (one penalty per target) and univariate fit each target on
    its own. The directions give such a fit its targets in canonical id order."""
    return is_estimator(regressor) or (isinstance(regressor, str) and regressor == "pls")


def sklearn_named(regressor: Any) -> bool:
    """Whether ``regressor`` names a fit computed by a scikit-learn estimator (lasso, elasticnet,
    pls, ridgecv): its numbers follow scikit-learn's version."""
    return isinstance(regressor, str) and regressor in ("lasso", "elasticnet", "pls", "ridgecv")


def shares_operator(regressor: Any) -> bool:
    """Whether ``regressor`` runs through the shared factorisations (``ridge``, ``linear``): one
    operator serves every target, and a fit reads its predictors in any order alike."""
    return isinstance(regressor, str) and regressor in ("ridge", "linear")


def check_regressor(regressor: Any, caller: str = "") -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` (starting with ``caller``) unless ``regressor``
    is a name of :data:`REGRESSORS` or an estimator instance with ``fit`` and ``predict`` that
    scikit-learn does not mark as a classifier or a clusterer (an estimator class is refused: pass an instance)."""
    if isinstance(regressor, type):
        raise ParameterError(f"{where(caller)}regressor must be an estimator instance, not the class "
                             f"{regressor.__name__}; pass an instance, e.g. {regressor.__name__}().")
    if is_estimator(regressor):
        kind = _estimator_type(regressor)
        if kind in ("classifier", "clusterer"):
            raise ParameterError(f"{where(caller)}regressor must be a regressor; {type(regressor).__name__} is a "
                                 f"scikit-learn {kind}, whose predictions are labels. Pass a regressor, e.g. Ridge().")
        return
    if isinstance(regressor, str) and regressor in REGRESSORS:
        return
    raise ParameterError(
        f"{where(caller)}regressor must be one of {REGRESSORS} or a scikit-learn estimator (an object with fit and "
        f"predict, e.g. make_pipeline(PCA(5), LinearRegression())); got {shown(regressor)}."
    )


def _estimator_type(est: Any) -> str | None:
    """scikit-learn's estimator type of ``est`` (``"regressor"``, ``"classifier"``, ``"clusterer"``...)
    from its tags (a ``Pipeline``: its last step's), or the older ``_estimator_type``; None when unknown."""
    if hasattr(est, "__sklearn_tags__"):
        try:
            from sklearn.utils import get_tags

            return get_tags(est).estimator_type
        except Exception:  # noqa: BLE001 - a hand-written estimator with broken tags: judged by fit/predict alone
            pass
    kind = getattr(est, "_estimator_type", None)
    return kind if isinstance(kind, str) else None


def check_options_used(
    regressor: Any, alpha: Any = DEFAULT_ALPHA, alphas: Any = DEFAULT_RIDGECV_ALPHAS, n_components: Any = DEFAULT_N_COMPONENTS,
    caller: str = "",
) -> None:
    """One-line :class:`~neuroxr.errors.ParameterError` (starting with ``caller``) for ``alpha``,
    ``alphas`` or ``n_components`` set away from its default while ``regressor`` does not read it
    (e.g. ``alpha`` with ``ridgecv``, which picks its own penalty): such an option would be silently ignored."""
    try:
        grid_changed = not np.array_equal(np.asarray(list(alphas), dtype=float), np.asarray(DEFAULT_RIDGECV_ALPHAS))
    except (TypeError, ValueError):
        grid_changed = True
    changed = {"alpha": isinstance(alpha, bool) or alpha != DEFAULT_ALPHA, "alphas": grid_changed,
               "n_components": isinstance(n_components, bool) or n_components != DEFAULT_N_COMPONENTS}
    reads = () if is_estimator(regressor) else _READS.get(regressor, ())
    unused = [k for k, c in changed.items() if c and k not in reads]
    if unused:
        raise unread_error(unused, with_regressor(regressor), "choose a regressor that reads {it}", caller)


def unread_error(unused: Sequence[str], condition: str, instead: str, caller: str = "",
                 names: Sequence[str] | None = None) -> NeuroxrError:
    """The refusal of penalty options (``unused``, keys of :data:`PENALTY_OPTIONS`) that a regressor
    does not read (:func:`neuroxr.errors.no_effect`), each said with what it sets; ``names``: how the
    caller spells them (e.g. the command line's flags; default the keys)."""
    names = list(unused) if names is None else list(names)
    return no_effect(names, condition, "; ".join(f"{n} is {PENALTY_OPTIONS[k]}" for n, k in zip(names, unused)),
                     instead, caller)


def unread_options(regressor: Any) -> tuple[str, ...]:
    """The penalty options (``alpha``, ``alphas``, ``n_components``) that ``regressor`` (a name, or
    an estimator object or its identity) does not read: :func:`check_options_used` refuses them set."""
    reads = _READS.get(regressor, ()) if isinstance(regressor, str) else ()
    return tuple(k for k in PENALTY_OPTIONS if k not in reads)


def readers(options: Sequence[str]) -> list[str]:
    """The regressor names that read any of the penalty ``options``, in :data:`REGRESSORS` order."""
    return [name for name in REGRESSORS if set(_READS.get(name, ())) & set(options)]


def unread_given(regressor: Any, given: Iterable[str]) -> tuple[list[str], str]:
    """The penalty options among ``given`` (written by the user: flags, a config's keys) that
    ``regressor`` does not read, and the regressors that would read them, spelled ``"a, b or c"``
    (:func:`unread_options`, :func:`readers`)."""
    given = set(given)
    unused = [k for k in unread_options(regressor) if k in given]
    names = readers(unused)
    return unused, (", ".join(names[:-1]) + " or " if len(names) > 1 else "") + (names[-1] if names else "")


def with_regressor(regressor: Any) -> str:
    """``"with regressor='<name>'"`` (or ``"with an estimator object as regressor"``): the condition
    of a refusal of options the regressor does not read (:func:`neuroxr.errors.no_effect`)."""
    return "with an estimator object as regressor" if is_estimator(regressor) else f"with regressor={regressor!r}"


def regressor_identity(regressor: Any) -> Any:
    """Canonical JSON-ready identity of a regressor: its name, or for an estimator
    ``{"class": "<module>.<QualName>", "packages": [...], "params": {...}}`` from
    ``get_params(deep=True)`` and its class's code (the ``name==version`` of the distributions
    its classes come from; a ``"code"`` hash for a local class), with nested estimators, functions
    (by path and content), arrays and numpy scalars described recursively
    (:func:`neuroxr.identity.identity`)."""
    from ..identity import identity

    return identity(regressor)


def regressor_label(regressor: Any) -> str:
    """The regressor as a string for result attrs: its name, or the canonical JSON of
    :func:`regressor_identity` (sorted keys, no spaces)."""
    if isinstance(regressor, str):
        return regressor
    import json

    return json.dumps(regressor_identity(regressor), sort_keys=True, separators=(",", ":"))


def centred_cast(A: Any, dtype: Any) -> tuple[Any, np.ndarray | None]:
    """``A`` (a NumPy array with the stimuli on axis -2: ``(n, m)`` or a stack ``(..., n, m)``) as
    ``dtype`` for the shared kernels, and the column means taken away (None: none). Where ``dtype``
    is narrower than float64, each column is centred in float64 first (its mean over the stimuli
    subtracted; a column holding NaN is left as given) and then cast, so a column far from zero
    keeps the digits of its variation that a cast of its values would round away (docs/kernels.md,
    "float32 far from zero"). Every fit of the shared kernels has an intercept: a design's column
    shift changes no prediction, a target's shifts its predictions by the same constant.
    float64, or an array of another library: ``(A, None)``, as given."""
    if np.dtype(dtype) == np.float64 or not isinstance(A, np.ndarray) or A.ndim < 2:
        return A, None
    with np.errstate(invalid="ignore", over="ignore"):
        mean = A.mean(axis=-2, keepdims=True, dtype=np.float64)
    mean[~np.isfinite(mean)] = 0.0  # NaN (missing) or overflowing columns: as given
    out = np.empty(A.shape, dtype=dtype)
    np.subtract(A, mean, out=out, casting="unsafe")  # in float64, each buffer rounded once into out
    return out, mean


def univariate_oof(X: np.ndarray, Y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
                   batch_bytes: int = 256 * 2**20) -> np.ndarray:
    """Out-of-fold predictions of each target from its single best predictor column.

    On each training fold, every target picks the column of ``X`` with the largest absolute
    Pearson correlation with it (ties: the first column) and is fitted by ordinary least squares on
    that column (intercept and slope); the line predicts the held-out stimuli. A column constant up
    to rounding on the training fold (:func:`~neuroxr.kernels.stats.constant_units`) has no
    correlation and is never chosen; where every column is, the prediction is the training mean.

    Parameters
    ----------
    X : ndarray, shape (n_stimuli, n_predictors)
    Y : ndarray, shape (n_stimuli, n_targets)
    folds : sequence of (train, test) index arrays
    batch_bytes : int, default 256 MiB
        Bound on the (n_predictors x n_targets) correlation block held at once.

    Returns
    -------
    ndarray, shape (n_stimuli, n_targets)
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, m = Y.shape
    P = np.full((n, m), np.nan)
    step = max(1, int(batch_bytes // (8 * max(1, X.shape[1]) * 2)))
    for train, test in folds:
        Xc = X[train] - X[train].mean(axis=0)
        x_mean = X[train].mean(axis=0)
        x_ss = np.einsum("ij,ij->j", Xc, Xc)
        varies = ~constant_units(Xc, X[train])  # constant up to rounding: no correlation, slope 0
        for lo in range(0, m, step):
            cols = slice(lo, min(m, lo + step))
            y_mean = Y[train, cols].mean(axis=0)
            Yc = Y[train, cols] - y_mean
            y_ss = np.einsum("ij,ij->j", Yc, Yc)
            C = Xc.T @ Yc  # (p, m_b) cross-products
            with np.errstate(invalid="ignore", divide="ignore"):
                R = np.abs(C) / np.sqrt(x_ss[:, None] * y_ss[None, :])
            best = np.argmax(np.where(np.isfinite(R) & varies[:, None], R, -1.0), axis=0)
            j = np.arange(best.size)
            ok = varies[best] & (x_ss[best] > 0)
            slope = np.where(ok, C[best, j] / np.where(ok, x_ss[best], 1.0), 0.0)
            P[np.asarray(test)[:, None], np.arange(cols.start, cols.stop)[None, :]] = (
                y_mean + slope * (X[np.asarray(test)][:, best] - x_mean[best])
            )
    return P


@dataclass
class Regressor:
    """A regressor choice plus the folds: produces out-of-fold predictions.

    Parameters
    ----------
    name : {"ridge", "linear", "lasso", "elasticnet", "pls", "ridgecv", "univariate"} or estimator
        A regressor name, or any scikit-learn estimator / ``Pipeline`` (cloned per fold).
    folds : sequence of (train, test) index arrays
    alpha : float
        Penalty of ridge / lasso / elasticnet (``reverse_pred``: 0.1).
    n_components : int
        PLS components (``reverse_pred``: 20).
    alphas : sequence of float
        Grid of ``ridgecv``.
    backend, dtype
        Where the shared-factorisation kernels run (``ridge``/``linear``).
    """

    name: Any
    folds: Sequence[tuple[np.ndarray, np.ndarray]]
    alpha: float = DEFAULT_ALPHA
    n_components: int = DEFAULT_N_COMPONENTS
    alphas: Sequence[float] = DEFAULT_RIDGECV_ALPHAS
    backend: str | None = None
    dtype: Any = np.float64
    design_batch_bytes: int = 256 * 2**20
    caller: str = ""  # the public function called (its kernels' messages start with it; "": the kernel's own)
    _fold_alpha: float = field(init=False, default=0.1)
    _prepared: Any = field(init=False, default=None, repr=False)
    _reference: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        check_regressor(self.name)
        self._fold_alpha = 0.0 if self.name == "linear" else float(self.alpha)

    @property
    def shared(self) -> bool:
        """Whether this regressor runs through the shared factorisations."""
        return shares_operator(self.name)

    # -------------------------------------------------------------- one design, many targets
    def operator(self, X: np.ndarray, n_targets: int | None = None) -> Any:
        """The out-of-fold operator of design ``X`` on the backend (ridge/linear only), in the form
        the shape's cost model picks for ``n_targets`` target columns: a dense ``n x n`` array or a
        :class:`~neuroxr.kernels.ridge.FoldOperator` / ``KernelFoldOperator`` (see :func:`~neuroxr.kernels.ridge.operator_form`)."""
        return oof_linear_operator(self.cast(X), self.folds, self._fold_alpha, n_targets, caller=self.caller)

    def operator_from_gram(self, K: Any, n_features: int | None = None) -> Any:  # K: array or GramStats
        """The out-of-fold operator from a Gram matrix ``Fc Fc^T`` (ridge/linear only).

        ``n_features`` (e.g. ``GramStats.n_units``) lets a rank-deficient Gram (fewer features than
        stimuli) be factorised at its rank, for scikit-learn's precision (see
        :func:`~neuroxr.kernels.ridge.oof_operator_from_gram`). The operator is built in float64
        whatever :attr:`dtype` (a Gram has no principal axes to fall back on: float32 loses the
        small eigenvalues a fit relies on; ``n x n``, whatever the number of features), then a
        dense one is cast to :attr:`dtype` for its applications; a fold-by-fold one applies in
        float64."""
        if isinstance(K, GramStats):
            n_features = K.n_units if n_features is None else n_features
            K = K.K
        S = oof_linear_operator_from_gram(asarray(K, self.backend, np.float64), self.folds, self._fold_alpha, n_features=n_features,
                                          caller=self.caller)
        return S if isinstance(S, FOLD_OPERATORS) else asarray(S, self.backend, self.dtype)

    def predict_blocks(self, X: np.ndarray | None, blocks: Sequence[np.ndarray], S: Any = None) -> list[np.ndarray]:
        """Out-of-fold predictions of each target block from one design.

        Parameters
        ----------
        X : ndarray, shape (n_stimuli, n_predictors)
        blocks : sequence of ndarray, each (n_stimuli, n_targets_b)
            Target blocks; for ``pls`` each block is one joint fit (as ``reverse_pred`` fits it).
        S : array, optional
            A precomputed :meth:`operator` of ``X``.

        Returns
        -------
        list of ndarray, each (n_stimuli, n_targets_b)
        """
        if self.shared:
            sizes = [b.shape[1] for b in blocks]
            S = self.operator(X, sum(sizes)) if S is None else S
            Y, shift = self.cast_targets(np.concatenate(blocks, axis=1))
            P = to_numpy(S @ Y if isinstance(S, FOLD_OPERATORS) else get_namespace(S).matmul(S, Y)).astype(np.float64, copy=False)
            return np.split(P if shift is None else P + shift, np.cumsum(sizes)[:-1], axis=1)
        return [self._sklearn_oof(X, Y) for Y in blocks]

    # -------------------------------------------------------------- many designs, one target
    def predict_designs(self, designs: Sequence[np.ndarray], Y: np.ndarray) -> list[np.ndarray]:
        """Out-of-fold predictions of ``Y`` from each design (stacked where the regressor allows)."""
        if not self.shared:
            return [self._sklearn_oof(D, Y) for D in designs]
        n, m = Y.shape
        k = designs[0].shape[1] if designs else 1
        n_folds = len(self.folds)
        # per design: its predictions (n x m), the per-fold cross-products (folds x k x m), a few copies
        per_design = max(1, 8 * (2 * n * m + (n_folds + 2) * k * m))
        batch = max(1, int(self.design_batch_bytes // per_design))
        Yb, shift = self._prepare(Y)
        out: list[np.ndarray] = []
        for start in range(0, len(designs), batch):
            D = self.cast(np.stack(designs[start : start + batch]))
            P = to_numpy(oof_predict_designs(D, Yb, self.folds, self._fold_alpha, caller=self.caller)).astype(np.float64, copy=False)
            out.extend((P[i] if shift is None else P[i] + shift) for i in range(P.shape[0]))
        return out

    def pearson_designs(
        self,
        designs: Sequence[np.ndarray],
        Y: np.ndarray,
        pairs: Sequence[tuple[int, int]] = (),
        with_target: Sequence[int] = (),
        complement: tuple[np.ndarray, Any, float, float] | None = None,
        host: bool = True,
    ) -> tuple[Any, Any]:
        """Correlations of out-of-fold predictions without keeping them (ridge/linear only).

        Parameters
        ----------
        designs : sequence of ndarray, each (n_stimuli, n_predictors)
        Y : ndarray, shape (n_stimuli, n_targets)
        pairs : sequence of (int, int)
            Designs whose predictions are correlated with each other.
        with_target : sequence of int
            Designs whose predictions are correlated with ``Y``.
        complement : (R, cols, w_ref, w_last), optional
            One more design ``w_ref * R[:, cols] + w_last * designs[-1]`` whose cross-products
            come from ``R``'s (cached) instead of a product over the stimuli (see
            :func:`neuroxr.kernels.ridge.oof_pearson_designs`).

        host : bool, default True
            Return host NumPy float64 arrays; False: the backend's arrays, left on the device (a
            caller collecting many calls brings them back at once).

        Returns
        -------
        r_target : array, shape (len(with_target), n_targets)
        r_pairs : array, shape (len(pairs), n_targets)
        """
        Yb, _ = self._prepare(Y)  # correlations: a target's shift changes none
        stacked = designs[0][None] if len(designs) == 1 else np.stack(designs)
        # a device backend: the designs' float32 checks read sums taken here, not on the device
        sumsq = _designs.design_sumsq(stacked, complement) if resolve_backend(self.backend) != "numpy" else None
        D = self.cast(stacked)
        if complement is not None:
            R = complement[0]
            if self._reference is None or self._reference[0] is not R:
                self._reference = (R, self.cast(R))  # one backend copy, so its cache holds
            complement = (self._reference[1], *complement[1:])
        r_t, r_p = oof_pearson_designs(
            D, Yb, self.folds, self._fold_alpha, pairs=pairs, with_target=with_target, complement=complement,
            caller=self.caller, sumsq=sumsq,
        )
        if not host:
            return r_t, r_p
        return to_numpy(r_t).astype(np.float64, copy=False), to_numpy(r_p).astype(np.float64, copy=False)

    # -------------------------------------------------------------- the arrays on the backend
    def cast(self, A: Any) -> Any:
        """A design (or a stack of designs) on the backend in :attr:`dtype`; in float32 its columns
        centred in float64 first (:func:`centred_cast`: no prediction changes but by rounding)."""
        return self.cast_targets(A)[0]

    def cast_targets(self, Y: Any) -> tuple[Any, np.ndarray | None]:
        """Targets on the backend in :attr:`dtype` and the column means taken away (None: none), to
        add back to their predictions (:func:`centred_cast`)."""
        Yc, shift = centred_cast(Y, self.dtype)
        return asarray(Yc, self.backend, self.dtype), shift

    def _prepare(self, Y: np.ndarray) -> tuple[Any, np.ndarray | None]:
        """The designs kernels' prepared targets of ``Y`` and their shift (cached for the same ``Y``)."""
        if self._prepared is None or self._prepared[0] is not Y:
            Yd, shift = self.cast_targets(Y)
            self._prepared = (Y, prepare_targets(Yd, self.folds), shift)
        return self._prepared[1], self._prepared[2]

    # -------------------------------------------------------------- scikit-learn estimators
    def estimator(self) -> Any:
        """A fresh scikit-learn estimator for this choice (a clone of a given estimator)."""
        from sklearn import linear_model
        from sklearn.base import clone
        from sklearn.cross_decomposition import PLSRegression

        if is_estimator(self.name):
            return clone(self.name)
        if self.name == "ridge":
            return linear_model.Ridge(alpha=self.alpha)
        if self.name == "linear":
            return linear_model.LinearRegression()
        if self.name == "lasso":
            return linear_model.Lasso(alpha=self.alpha)
        if self.name == "elasticnet":
            return linear_model.ElasticNet(alpha=self.alpha)
        if self.name == "pls":
            return PLSRegression(n_components=self.n_components)
        return linear_model.RidgeCV(alphas=np.asarray(self.alphas, dtype=float), alpha_per_target=True)

    def _sklearn_oof(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        if isinstance(self.name, str) and self.name == "univariate":
            return univariate_oof(X, Y, self.folds, self.design_batch_bytes)
        self._check_pls_components(X, Y)
        finite = np.isfinite(Y).all(axis=0)
        if not finite.all():  # a target with a NaN (an empty split half under split='slots') is predicted NaN,
            P = np.full(Y.shape, np.nan)  # as S @ Y predicts it; a joint fit fits the other targets
            if finite.any():
                P[:, finite] = self._sklearn_oof(X, Y[:, finite])
            return P
        from sklearn.cross_decomposition import CCA, PLSCanonical, PLSRegression

        pls = (isinstance(self.name, str) and self.name == "pls") or isinstance(self.name, (PLSRegression, PLSCanonical, CCA))
        P = np.full(Y.shape, np.nan)
        checked = not is_estimator(self.name)  # whether a fit's draws from NumPy's global state are known harmless
        for train, test in self.folds:
            est = self.estimator()
            x, y = X[train], Y[train]
            if pls and constant_units(x - x.mean(axis=0), x).all():
                # a fold whose predictors are all constant (a unit varying only at held-out stimuli): the training
                # mean, as every least-squares fit predicts it (PLS's weights would be 0 / 0)
                P[test] = y.mean(axis=0)
                continue
            before = _global_state()
            est.fit(x, y)
            P[test] = np.asarray(est.predict(X[test])).reshape(len(test), -1)
            if not checked and not _same_state(before, _global_state()):
                checked = True  # it drew: does the fit depend on the draw? (Lasso draws a seed it does not use)
                if self._depends_on_draws(x, y, X[test], P[test]):
                    raise ParameterError(
                        f"{where(self.caller)}regressor={type(self.name).__name__}(...) draws from NumPy's global random "
                        "state (a random_state=None inside it): each fit gives other numbers, so its result could be "
                        "neither reproduced nor identified. Give it a fixed random_state (e.g. random_state=0)."
                    )
        return P

    def _check_pls_components(self, X: np.ndarray, Y: np.ndarray) -> None:
        """A one-line :class:`ParameterError` for PLS components (``pls``, or a PLS estimator of
        scikit-learn's ``cross_decomposition``) past what a training fold can hold: at most its predictor
        columns and its stimuli (and, for ``PLSCanonical``/``CCA``, the targets), scikit-learn's bound,
        which otherwise failed inside the fit with its own traceback."""
        from sklearn.cross_decomposition import CCA, PLSCanonical

        m = pls_components(self.name, self.n_components)
        if m is None:
            return
        named = isinstance(self.name, str)
        arg = f"n_components={m}" if named else f"regressor={type(self.name).__name__}(n_components={m})"
        head = f"{where(self.caller)}{'regressor=' + repr('pls') + ': ' if named else ''}{arg} but the"
        if m > X.shape[1]:
            raise ParameterError(
                f"{head} predictors have {X.shape[1]} columns (units of the features, or neuroids of the neural source); "
                f"pass n_components <= {X.shape[1]}."
            )
        train = min(len(tr) for tr, _ in self.folds)
        if m > train:
            raise ParameterError(
                f"{head} smallest training fold holds {train} stimuli (dim 'stimulus', {X.shape[0]} stimuli in "
                f"{len(self.folds)} folds); pass n_components <= {train}, or give more stimuli or folds."
            )
        if isinstance(self.name, (PLSCanonical, CCA)) and m > Y.shape[1]:
            raise ParameterError(
                f"{head} targets have {Y.shape[1]} columns; pass n_components <= {Y.shape[1]}."
            )

    def _depends_on_draws(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, p: np.ndarray) -> bool:
        """Whether the estimator, fitted on ``x, y`` from another global random state, predicts other
        values than ``p`` at ``x_test``; the global state is left as the first fit left it."""
        after = np.random.get_state()
        try:
            np.random.set_state(np.random.RandomState(_OTHER_STATE).get_state())
            q = np.asarray(self.estimator().fit(x, y).predict(x_test)).reshape(p.shape)
        finally:
            np.random.set_state(after)
        return not np.array_equal(p, q, equal_nan=True)
