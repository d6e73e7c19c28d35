"""The shape metrics' estimator: :class:`LinearMetric`, the generalized shape metric (Williams et
al. 2021) between two representations with a scikit-learn estimator API, labeled, and the one
warning of a NaN shape distance (:func:`warn_undefined_shape`). The functions over labeled or many
networks built on it (:func:`~neuroxr.geometry.shape.pairwise_distances`,
:func:`~neuroxr.geometry.shape.split_distance`, :func:`~neuroxr.geometry.shape.procrustes_average`)
are in :mod:`neuroxr.geometry.shape`, which re-exports these names; the numerics live in
:mod:`neuroxr.kernels.shape`."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import align
from ..backend import get_namespace, to_numpy
from ..errors import LayoutError, ParameterError, shown, warn
from ..kernels import shape as _s
from ..validation import check_bool
from ._common import _check_option, _named, in_unit_order, unit_ids
from ._shape_inputs import _check_finite, _network_array, canonical_pair, check_shape_stimuli, on_fit_device, same_library
from .dimensionality import warn_constant

__all__ = ["LinearMetric", "warn_undefined_shape"]


#: At ``alpha = 0``, rows whose part outside the training span exceeds this fraction of their norm are refused.
OUTSIDE_SPAN_RTOL = 1e-6


class _EstimatorAPI:
    """scikit-learn's estimator protocol (``get_params``, ``set_params``, tags) without importing
    scikit-learn until it asks for the tags, so ``import neuroxr.geometry`` stays light;
    ``sklearn.base.clone``, ``cross_validate`` and grid searches work as with ``BaseEstimator``."""

    @classmethod
    def _param_names(cls) -> list[str]:
        return [n for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (no nested estimators)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> _EstimatorAPI:
        """Set constructor parameters; an unknown name is a :class:`~neuroxr.errors.ParameterError`."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ParameterError(f"Invalid parameter {name!r} for estimator {type(self).__name__}; valid parameters: {valid}.")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self) -> Any:
        from sklearn.base import BaseEstimator

        return BaseEstimator.__sklearn_tags__(self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class LinearMetric(_EstimatorAPI):
    """Generalized shape metric between two representations (Williams et al. 2021), scikit-learn style.

    ``alpha = 1``: Procrustes (invariant to rotations/reflections); ``alpha = 0``: CCA-like
    (invariant to invertible linear maps); in between, partial whitening. The whitening is
    netrep's, eigenvalues of ``X^T X`` floored at the absolute ``1e-7``
    (:func:`neuroxr.kernels.shape.whiten`): every ``alpha`` equals netrep at every scale. Only
    ``alpha = 1`` and ``alpha = 0`` (above that floor) are scale invariant: for ``0 < alpha < 1``
    the distance changes with the data's units at any scale; normalise the representations
    first (e.g. to unit total variance) to compare them. ``fit(X, Y)`` learns
    the alignment on paired rows, ``distance(X, Y)`` returns the distance (lower = more similar)
    of paired rows under that alignment, ``score(X, Y)`` its negative (higher = better).

    Parameters
    ----------
    alpha : float in [0, 1], default 1.0
    center_columns : bool, default True
        Subtract the (training) column means.
    zero_pad : bool, default True
        Pad the narrower representation with zero columns (else widths must match).
    score_method : {"angular", "euclidean"}, default "angular"
        ``"angular"``: ``arccos`` of the normalised aligned inner product, in ``[0, pi/2]``;
        ``"euclidean"``: the aligned Euclidean distance as netrep defines it (see
        :func:`neuroxr.kernels.shape.euclidean_distance`).

    Attributes
    ----------
    mx_, my_ : array, shapes (p_x,), (p_y,)
        Training column means.
    Wx_, Wy_ : array, shapes (p_x, p), (p_y, p)
        Alignment maps: ``tX = (X - mx_) Wx_``; ``p = max(p_x, p_y)`` unless the training data have a
        null space (:func:`neuroxr.kernels.shape.fit_alignment`), then ``p_x + p_y - r``. For wide
        training data (more units than training stimuli) they are built on first access (``p x p``
        memory); the fit and :meth:`transform` use their factored form (see Notes).
    span_x_, span_y_ : array (p_x, r_x), (p_y, r_y), or None
        ``alpha = 0`` only: orthonormal bases of the span of the (whitened) training rows where they
        do not span every unit (else None); data scored with components outside them are refused.
    n_train_ : int
        Training stimuli.

    Notes
    -----
    Held-out stimuli (:meth:`distance` on data other than the training data): where the training
    data have a null space (as many units as training stimuli or more, typical of DNN layers), the
    optimal rotation is arbitrary on it. The alignment pairs only the directions the training data
    determine (a partial isometry): held-out components in the null spaces add nothing to the
    aligned inner product (its mean over every optimal rotation) and count in the norms, and the
    whitening (``alpha < 1``) scales the null space by ``alpha`` alone. The held-out distance is
    then invariant to the order and scale rounding of the units; netrep's held-out numbers differ
    from these only there. With ``alpha = 0`` the whitening of the null space is undefined
    (every invertible map of it is allowed): such held-out stimuli are refused with a
    :class:`~neuroxr.errors.ParameterError`. Training distances are netrep's in every case.

    Wide data: with more units than training stimuli the fit works in an orthonormal basis of the
    training rows' span (:func:`neuroxr.kernels.shape.fit_parts`): ``O(n^2 p)`` time and
    ``O(n p)`` memory instead of ``O(p^3)`` and ``O(p^2)``, the same distances to rounding.

    Cross-validation: pass the two representations as ``X`` and ``y``, row-paired (same stimuli
    in the same order), e.g. ``sklearn.model_selection.cross_validate(LinearMetric(), X, Y, cv=5)``;
    the folds split the stimuli and each ``test_score`` is the held-out **negative** distance.
    Arrays of any array-API namespace (NumPy, torch, CuPy) work; labeled DataArrays are paired by
    ``stimulus_id`` (two labeled ones fitted and scored in canonical stimulus order), and those scored after a fit on labeled ones by ``unit_id`` with the fitted units. NumPy input (bool, integer and float32 too) is read as float64, other
    namespaces keep their floating dtype (bool and integer as float64), as by every shape
    function. Data with NaN is refused with a :class:`~neuroxr.errors.LayoutError`.
    """

    def __init__(self, alpha: float = 1.0, center_columns: bool = True, zero_pad: bool = True, score_method: str = "angular") -> None:
        self.alpha = alpha
        self.center_columns = center_columns
        self.zero_pad = zero_pad
        self.score_method = score_method

    def _validate(self, caller: str = "LinearMetric") -> dict[str, Any]:
        """The parameters checked (one-line :class:`~neuroxr.errors.ParameterError` starting with
        ``caller``, the public function called) and returned spelled once: ``alpha`` a float, the
        flags bools (a string such as ``"false"`` is refused)."""
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not 0.0 <= float(alpha) <= 1.0:
            raise ParameterError(f"{caller}: alpha must be a float in [0, 1]; got {shown(alpha)}.")
        flags = {k: bool(check_bool(getattr(self, k), k, f"Pass {k}=True or {k}=False (a LinearMetric option).", caller=caller))
                 for k in ("center_columns", "zero_pad")}
        _check_option(self.score_method, _s.SCORE_METHODS, "score_method", caller)
        return {"alpha": float(alpha), **flags, "score_method": self.score_method}

    @staticmethod
    def _names(X: Any, Y: Any) -> tuple[str, str]:
        return _named(X, "X"), _named(Y, "Y")

    @staticmethod
    def _arrays(X: Any, Y: Any) -> tuple[Any, Any]:
        names = LinearMetric._names(X, Y)
        if isinstance(X, xr.DataArray) and isinstance(Y, xr.DataArray):
            X, Y = align(X, Y, names=names, caller="LinearMetric")
        X, Y = _network_array(X, names[0], "LinearMetric"), _network_array(Y, names[1], "LinearMetric")
        X, Y = same_library([X, Y], list(names), "LinearMetric")
        _check_finite(X, names[0])  # (each named: neural responses with repeats told to average them, as elsewhere)
        _check_finite(Y, names[1])
        if X.shape[0] != Y.shape[0]:
            raise LayoutError(f"LinearMetric: {names[0]} has {int(X.shape[0])} stimuli (rows) and {names[1]} {int(Y.shape[0])}; "
                              "pass representations of the same stimuli, one row per stimulus (labeled DataArrays are "
                              "paired by stimulus_id).")
        return X, Y

    def partial_fit(self, X: Any, n_columns: int | None = None) -> _s.PartialFit:
        """Per-representation part of the fit of ``X`` (n, p), reusable across pairs: ``(mean, Xw, whitening)``
        (:func:`neuroxr.kernels.shape.fit_parts`; reduced to the training rows' span when wide).

        ``n_columns``: the width both representations are zero-padded to (``max(p_x, p_y)``, see
        :meth:`pad_width`); ``None`` for equal widths."""
        self._validate()
        return _s.fit_parts(X, float(self.alpha), self.center_columns, n_columns=n_columns)

    def pad_width(self, p_x: int, p_y: int, caller: str = "LinearMetric") -> int | None:
        """Width the partial fits of a ``p_x``- and a ``p_y``-column pair use (``None``: their own);
        unequal widths without ``zero_pad`` are a one-line :class:`~neuroxr.errors.LayoutError`
        starting with ``caller``."""
        if int(p_x) != int(p_y) and not self.zero_pad:
            raise LayoutError(f"{caller}: the representations have {int(p_x)} and {int(p_y)} columns (dim 'unit'); set "
                              "zero_pad=True to pad the narrower one with zero columns, or reduce both to the same width first.")
        return max(int(p_x), int(p_y)) if self.zero_pad and int(p_x) != int(p_y) else None

    def finalize_fit(self, cache_X: _s.PartialFit, cache_Y: _s.PartialFit) -> LinearMetric:
        """Finish the fit from the :meth:`partial_fit` results ``cache_X`` and ``cache_Y``."""
        self.mx_, Xw, wx = cache_X
        self.my_, Yw, wy = cache_Y
        xp = get_namespace(Xw, Yw)
        units = (int(self.mx_.shape[0]), int(self.my_.shape[0]))
        U, Vh, r = _s.pairing(Xw, Yw, units, zero_pad=self.zero_pad)
        V = _s._t(xp, Vh)
        self._maps = (wx, xp.matmul(wx.Z, U), wy, xp.matmul(wy.Z, V), r)
        self._wide = wx.basis is not None or wy.basis is not None
        self._train = (xp.matmul(Xw, U), xp.matmul(Yw, V)) if self._wide else None
        self._constant = (not bool(xp.any(Xw != 0)), not bool(xp.any(Yw != 0)))  # (centred) zero: no shape
        self._W = None  # (Wx_, Wy_), built on first use
        self.span_x_ = self.span_y_ = None
        self.unit_ids_ = (None, None)  # set by fit for labeled networks
        self.n_train_ = int(Xw.shape[0])
        if float(self.alpha) == 0.0:  # full whitening: undefined outside the training span
            spans = []
            for Aw, w, p in ((Xw, wx, units[0]), (Yw, wy, units[1])):
                Q = _s.row_span(Aw, n_units=p)
                spans.append(None if int(Q.shape[1]) >= p else Q if w.basis is None else xp.matmul(w.basis, Q))
            self.span_x_, self.span_y_ = spans
        return self

    def _fitted_map(self, name: str) -> Any:
        """The alignment map ``name`` (``"Wx_"`` or ``"Wy_"``), both built on first use: the paired
        maps; a wide fit's with an explicit basis of the directions outside the training span
        (whitened by ``beta``, unpaired), ``p x p`` memory."""
        if "_maps" not in vars(self):
            raise AttributeError(name)
        if self._W is None:
            (wx, Ax, wy, Ay, r), xp = self._maps, get_namespace(self._maps[1])
            own = []
            for w, A in ((wx, Ax), (wy, Ay)):
                if w.basis is None:
                    own.append(A)
                    continue
                Qf, _ = xp.linalg.qr(w.basis, mode="complete")
                own.append(xp.concat([xp.matmul(w.basis, A), w.beta * Qf[:, int(w.basis.shape[1]):]], axis=1))
            self._W = _s._maps(own[0], own[1], r)
        return self._W[("Wx_", "Wy_").index(name)]

    @property
    def Wx_(self) -> Any:  # noqa: N802 (netrep's attribute name)
        """Alignment map of ``X`` (see the class's attributes); built on first use."""
        return self._fitted_map("Wx_")

    @property
    def Wy_(self) -> Any:  # noqa: N802
        """Alignment map of ``Y`` (see the class's attributes); built on first use."""
        return self._fitted_map("Wy_")

    def _check_span(self, X: Any, span: Any, name: str, caller: str = "LinearMetric") -> None:
        """At ``alpha = 0``: refuse rows (centred) outside the training span ``span`` (``caller``: the function called)."""
        if span is None:
            return
        xp = get_namespace(X)
        norm = float(xp.sqrt(xp.sum(X * X)))
        R = X - xp.matmul(xp.matmul(X, span), _s._t(xp, span))
        if float(xp.sqrt(xp.sum(R * R))) > OUTSIDE_SPAN_RTOL * norm:
            p, r = int(span.shape[0]), int(span.shape[1])
            raise ParameterError(
                f"{caller}: alpha=0 (full whitening) is undefined for these stimuli: {name} has {p} units, its "
                f"{self.n_train_} training stimuli span {r} directions and the stimuli scored lie partly outside them, "
                f"where there is no variance to whiten; reduce the units below the training stimuli (e.g. PCA to at most "
                f"{r} components) or use alpha > 0."
            )

    def fit(self, X: Any, Y: Any) -> LinearMetric:
        """Learn the alignment of ``X`` (n, p_x) and ``Y`` (n, p_y); returns ``self``. Fewer than 3
        stimuli (2 with ``center_columns=False``) are refused: every angular distance of 2 centred
        stimuli is 0."""
        names, ids = self._names(X, Y), (unit_ids(X), unit_ids(Y))
        X, Y = self._arrays(*canonical_pair(X, Y))
        check_shape_stimuli(int(X.shape[0]), self._validate()["center_columns"], f"{names[0]} and {names[1]}", "LinearMetric")
        width = self.pad_width(X.shape[1], Y.shape[1])
        self.finalize_fit(self.partial_fit(X, width), self.partial_fit(Y, width)).unit_ids_ = ids  # later inputs paired by id
        return self

    def transform(self, X: Any, Y: Any) -> tuple[Any, Any]:
        """Aligned ``(tX, tY)`` of ``X`` (n, p_x) and ``Y`` (n, p_y), each ``(n, p_x + p_y - r)`` (the
        fitted maps' width, see ``Wx_``); for a wide fit ``(n, k_x + k_y - r + w)``: the training
        span's ``k`` coordinates and one column per wide representation for the rows' parts outside
        it (the same norms and pairing)."""
        return self._aligned(X, Y)[:2]

    def _aligned(self, X: Any, Y: Any, caller: str = "LinearMetric", names: Any = None) -> tuple[Any, Any, tuple[bool, bool]]:
        """:meth:`transform`'s ``(tX, tY)``, whether each input is constant (centred to zero); ``caller``'s messages."""
        if "_maps" not in vars(self):
            from sklearn.exceptions import NotFittedError  # scikit-learn's convention; imported only here
            raise NotFittedError("This LinearMetric instance is not fitted yet; call fit(X, Y) (or fit_distance) first.")
        names = names or self._names(X, Y)
        X, Y = (in_unit_order(A, i, nm, caller) for A, i, nm in zip((X, Y), getattr(self, "unit_ids_", (None, None)), names))
        X, Y = same_library(on_fit_device(self._arrays(X, Y), self.mx_), list(names), caller, self.mx_.dtype)  # fit's dtype
        for A, m, nm in ((X, self.mx_, names[0]), (Y, self.my_, names[1])):
            if int(A.shape[1]) != int(m.shape[0]):
                raise LayoutError(f"{caller}: {nm} has {int(A.shape[1])} units (columns, dim 'unit') but was fitted with "
                                  f"{int(m.shape[0])}; pass the units the metric was fitted on, or fit it again.")
        Xc, Yc = _s.centre(X, self.mx_), _s.centre(Y, self.my_)  # (constant up to rounding: zero)
        self._check_span(Xc, getattr(self, "span_x_", None), names[0], caller)
        self._check_span(Yc, getattr(self, "span_y_", None), names[1], caller)
        xp = get_namespace(Xc, Yc)
        const = (not bool(xp.any(Xc != 0)), not bool(xp.any(Yc != 0)))
        if not self._wide:
            return Xc @ self.Wx_, Yc @ self.Wy_, const
        wx, Ax, wy, Ay, r = self._maps
        (Px, ex), (Py, ey) = _s.project(Xc, wx, Ax), _s.project(Yc, wy, Ay)
        return (*_s.aligned(Px, Py, r, ex, ey), const)

    def distance(self, X: Any, Y: Any) -> float:
        """Distance (``score_method``; lower = more similar) between ``X`` and ``Y`` under the fitted
        alignment. NaN (angular) when ``X`` or ``Y`` is constant (no variance across the stimuli up
        to rounding), with a :class:`~neuroxr.errors.NeuroxrWarning` naming it."""
        return self._distance(X, Y, "LinearMetric")

    def fit_distance(self, X: Any, Y: Any) -> float:
        """Fit on ``(X, Y)`` and return the distance of the same data (netrep's ``fit_score``); NaN
        with a warning for a constant input, as :meth:`distance`; with ``alpha = 0``, a warning naming an
        input that spans every direction of its stimuli (:func:`_whitened_whole`)."""
        self.fit(X, Y)
        if float(self.alpha) == 0.0:
            _warn_whitened_whole([nm for nm, A in zip(self._names(X, Y), (X, Y)) if _whitened_whole(self, A)],
                                 int(np.shape(X)[0]), "LinearMetric")
        return self._distance(X, Y, "LinearMetric", training=True)

    def _scored(self, X: Any, Y: Any, training: bool = False, caller: str = "LinearMetric", names: Any = None) -> tuple[float, Any]:
        """:meth:`distance` and whether each input is constant; ``training``: of the data the fit was
        made on, for a wide fit (``alpha > 0``) from the whitened training coordinates it kept,
        without projecting ``X``, ``Y`` again (``alpha = 0``: the span check runs on them)."""
        if training and self._wide and float(self.alpha) != 0.0:
            return _s.shape_score(*_s.aligned(*self._train, self._maps[4]), self.score_method), self._constant
        tX, tY, const = self._aligned(*canonical_pair(X, Y), caller, names)
        return _s.shape_score(tX, tY, self.score_method), const

    def _distance(self, X: Any, Y: Any, caller: str, training: bool = False, names: tuple[str, str] | None = None) -> float:
        """:meth:`_scored`'s distance, with the one warning of ``caller`` naming the constant inputs
        (``names``; default their own) when it is NaN."""
        value, const = self._scored(X, Y, training)
        warn_undefined_shape(caller, math.isnan(value), zip(names or self._names(X, Y), const))
        return value

    def score(self, X: Any, Y: Any) -> float:
        """Negative distance ``-distance(X, Y)``: higher is better, as scikit-learn's ``score``.

        Used by ``cross_validate`` / ``GridSearchCV``; call :meth:`distance` for the distance itself.
        """
        return -self.distance(X, Y)


def _whitened_whole(metric: Any, X: Any) -> bool:
    """Whether ``metric``'s whitening (``alpha = 0``) maps the network ``X`` (n, p) onto every (centred) direction of
    its ``n`` stimuli with one scale: its whitened rows' Gram is then the centring projection (or the identity),
    whatever ``X``; every singular value of the whitened network equal, ``n - 1`` of them centred (``n`` uncentred)."""
    if isinstance(X, xr.DataArray):  # labeled: its stimuli as rows (their order changes no singular value)
        X = X.transpose("stimulus", ...).values if "stimulus" in X.dims else X.values
    elif hasattr(X, "to_numpy"):  # a pandas DataFrame
        X = X.to_numpy()
    n = int(np.shape(X)[0])
    need = n - 1 if metric.center_columns else n
    if int(np.shape(X)[1]) < need:
        return False
    sv = np.linalg.svd(np.asarray(to_numpy(metric.partial_fit(X)[1]), dtype=np.float64), compute_uv=False)
    return bool(sv.size >= need and sv[0] > 0 and sv[need - 1] >= (1 - 1e-6) * sv[0])


def _warn_whitened_whole(wide: list[str], n: int, caller: str) -> None:
    """The warning of ``caller`` naming the networks ``wide`` that ``alpha = 0`` whitens to every direction of their
    ``n`` training stimuli (:func:`_whitened_whole`): a training distance to one depends on the other network alone."""
    if wide:
        warn(f"{caller}: with alpha=0 (full whitening) {', '.join(wide[:5])}{' ...' if len(wide) > 5 else ''} "
             f"span{'s' if len(wide) == 1 else ''} every direction of the {n} training stimuli: a training distance to "
             f"{'it' if len(wide) == 1 else 'such a network'} depends on the other network alone (0 between two of them). "
             "Use alpha > 0, or reduce the units below the number of stimuli first (e.g. PCA).")


def warn_undefined_shape(caller: str, undefined: bool, inputs: Any) -> None:
    """The one :class:`~neuroxr.errors.NeuroxrWarning` of ``caller`` for a NaN (``undefined``) shape
    distance (:func:`~neuroxr.geometry.dimensionality.warn_constant`, as CKA's), naming the inputs of
    ``inputs`` (``(name, constant)`` pairs) with no variance across the stimuli; none unless
    ``undefined`` and some input is constant."""
    inputs = list(inputs)
    if undefined and any(c for _, c in inputs):
        warn_constant(caller, inputs, "the shape distance")
