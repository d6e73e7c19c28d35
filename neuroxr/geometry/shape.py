"""Generalized shape metrics (Williams et al. 2021) with a scikit-learn estimator API, labeled.

:class:`LinearMetric` keeps netrep's constructor (``LinearMetric(alpha, center_columns, zero_pad,
score_method)``) and its fitted attributes. Names say what they return: :meth:`LinearMetric.distance`
and :meth:`LinearMetric.fit_distance` return the distance (lower = more similar, as netrep's
``score``/``fit_score``); :meth:`LinearMetric.score` follows scikit-learn (higher is better) and
returns the **negative** distance, so ``cross_validate`` and model selection work unchanged.
The numerics live in :mod:`neuroxr.kernels.shape`."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import align
from ..attrs import encode_attrs
from ..backend import asarray, get_namespace, resolve_backend, to_numpy
from ..errors import LayoutError, ParameterError, shown
from ..kernels import procrustes as _p
from ..kernels import shape as _s
from ..validation import check_alpha, check_bool, check_int
from ._common import (
    _canonical,
    _check_option,
    _drop_unusable,
    _ids,
    _named,
    _refuse_constant_networks,
    _train_test,
    check_split,
    held_out_networks,
    in_unit_order,
    input_labels,
    unit_ids,
)
from ._shape_inputs import (
    _as_network_list,
    _check_finite,
    _network_array,
    _shown,
    _trial_averaged,
    canonical_pair,
    check_shape_stimuli,
    on_fit_device,
    same_library,
    take_rows,
)
from .dimensionality import warn_constant

__all__ = ["LinearMetric", "pairwise_distances", "procrustes_average", "split_distance"]

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
        if len(X.shape) != 2 or len(Y.shape) != 2 or X.shape[0] != Y.shape[0]:
            raise LayoutError(
                f"LinearMetric needs two 2-D representations of the same stimuli (rows); got shapes {tuple(X.shape)} "
                f"and {tuple(Y.shape)}. Pass (stimulus, unit) arrays with one row per stimulus."
            )
        _check_finite(X, names[0])
        _check_finite(Y, names[1])
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
        with a warning for a constant input, as :meth:`distance`."""
        return self.fit(X, Y)._distance(X, Y, "LinearMetric", training=True)

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


def warn_undefined_shape(caller: str, undefined: bool, inputs: Any) -> None:
    """The one :class:`~neuroxr.errors.NeuroxrWarning` of ``caller`` for a NaN (``undefined``) shape
    distance (:func:`~neuroxr.geometry.dimensionality.warn_constant`, as CKA's), naming the inputs of
    ``inputs`` (``(name, constant)`` pairs) with no variance across the stimuli; none unless
    ``undefined`` and some input is constant."""
    inputs = list(inputs)
    if undefined and any(c for _, c in inputs):
        warn_constant(caller, inputs, "the shape distance")


def pairwise_distances(
    train_data: Any,
    test_data: Any = None,
    alpha: float = 1.0,
    center_columns: bool = True,
    zero_pad: bool = True,
    score_method: str = "angular",
    client: Any = None,
    scheduler: str | None = None,
) -> xr.DataArray | xr.Dataset:
    """Shape distances between every pair of networks, in parallel.

    The per-network part of the fit (centring, partial whitening) runs once per network; each pair
    then needs one SVD. Tasks are ``dask.delayed`` calls computed on ``client`` (a
    ``distributed.Client``) when given, else with ``scheduler`` (default threads).

    Parameters
    ----------
    train_data : list or dict of arrays / feature DataArrays (stimulus, unit)
        One representation per network (DataArrays are paired by ``stimulus_id``; names from the
        dict keys, ``model``/``layer`` coords or the array name).
    test_data : same, optional
        Held-out stimuli of the same networks: the alignment fitted on ``train_data`` is scored here too.
        Paired with ``train_data`` by dict key (a list by position) and, labeled, by ``unit_id``.
    alpha, center_columns, zero_pad, score_method : default 1.0, True, True, "angular"
        As :class:`LinearMetric`.
    client : distributed.Client, optional
    scheduler : str, optional

    Returns
    -------
    xarray.DataArray (network, network_) of distances when ``test_data`` is None, else a Dataset
    with ``train`` and ``test`` distance matrices. Fewer than 3 training stimuli (2 with
    ``center_columns=False``) are refused, as by :meth:`LinearMetric.fit`; networks are read as
    by :class:`LinearMetric` (NumPy bool, integer and float32 as float64). A constant network's
    row and column are NaN, its diagonal too (with a warning naming it).
    """
    import dask

    metric = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    metric._validate("pairwise_distances")
    caller = "pairwise_distances"
    Xs, names, _ = _as_network_list(train_data, "train_data", caller)
    shown_tr = _shown(train_data, "train_data")
    if Xs:
        check_shape_stimuli(int(np.shape(Xs[0])[0]), bool(center_columns), "train_data", caller)
    Ts, shown_te = None, []
    if test_data is not None:
        test_data = held_out_networks(train_data, test_data, caller)
        Ts, _, _ = _as_network_list(test_data, "test_data", caller)
        shown_te = _shown(test_data, "test_data")
        if len(Ts) != len(Xs):
            raise LayoutError(f"{caller}: {len(Xs)} train and {len(Ts)} test networks; give the same networks in test_data.")
        for nt, nx_, T, X in zip(shown_te, shown_tr, Ts, Xs):
            if int(T.shape[1]) != int(X.shape[1]):
                raise LayoutError(f"{caller}: {nt} has {int(T.shape[1])} units (columns, dim 'unit'), {nx_} {int(X.shape[1])}; "
                                  "give each network's held-out stimuli on the units it is fitted on.")
    m = len(Xs)
    pf = dask.delayed(metric.partial_fit, pure=True)
    caches: dict[tuple[int, int | None], Any] = {}

    def cache(i: int, width: int | None) -> Any:  # one partial fit per network and padded width
        if (i, width) not in caches:
            caches[i, width] = pf(Xs[i], width)
        return caches[i, width]

    def pair(ci: Any, cj: Any, i: int, j: int) -> tuple[float, float, tuple[bool, ...]]:
        est = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
        est.finalize_fit(ci, cj)
        tr, const = est._scored(Xs[i], Xs[j], training=True)
        te, const_te = est._scored(Ts[i], Ts[j], False, caller, (shown_te[i], shown_te[j])) if Ts is not None else (math.nan, (False, False))
        return tr, te, (*const, *const_te)  # which inputs are constant, for the one warning (not in a task's thread)

    tasks = {}
    for i in range(m):
        for j in range(i + 1, m):
            width = metric.pad_width(Xs[i].shape[1], Xs[j].shape[1], caller)
            tasks[i, j] = dask.delayed(pair, pure=True)(cache(i, width), cache(j, width), i, j)
    if client is not None:
        results = client.gather(client.compute(list(tasks.values())))
    else:
        results = dask.compute(*tasks.values(), scheduler=scheduler or "threads")
    Dtr, Dte = np.zeros((m, m)), np.zeros((m, m))
    undefined: dict[str, bool] = {}  # the constant networks with NaN distances, for one warning
    for (i, j), (tr, te, c) in zip(tasks, results):
        Dtr[i, j] = Dtr[j, i] = tr
        Dte[i, j] = Dte[j, i] = te
        named = [(shown_tr[i], tr), (shown_tr[j], tr), *([(shown_te[i], te), (shown_te[j], te)] if Ts is not None else [])]
        undefined.update({nm: True for (nm, value), flag in zip(named, c) if flag and math.isnan(value)})
        for k, flag in zip((i, j), c[:2]):
            if flag:  # a constant network's distance to itself is undefined too, not 0
                Dtr[k, k] = np.nan
    if Ts is not None:
        for i in range(m):
            est = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method).fit(Xs[i], Xs[i])
            Dte[i, i], c = est._scored(Ts[i], Ts[i], False, caller, (shown_te[i], shown_te[i]))
            undefined.update({shown_te[i]: True} if c[0] and math.isnan(Dte[i, i]) else {})
    warn_undefined_shape(caller, bool(undefined), undefined.items())
    coords = {"network": names, "network_": names}
    attrs = {"alpha": float(alpha), "center_columns": int(center_columns), "zero_pad": int(zero_pad), "score_method": score_method}
    train = xr.DataArray(Dtr, dims=("network", "network_"), coords=coords, name="distance", attrs=attrs)
    if Ts is None:
        return train
    return xr.Dataset({"train": train, "test": (("network", "network_"), Dte)}, attrs=attrs)


def check_split_distance_params(test_size: Any, seed: Any, alpha: Any, center_columns: Any, zero_pad: Any,
                                score_method: Any) -> dict[str, Any]:
    """:func:`split_distance`'s parameters checked before any data is read (one-line
    :class:`~neuroxr.errors.ParameterError`: the split's and :class:`LinearMetric`'s own checks);
    returned spelled once (``alpha`` and ``test_size`` floats, the flags bools)."""
    return {**check_split(test_size, seed, "split_distance"),
            **LinearMetric(alpha, center_columns, zero_pad, score_method)._validate("split_distance")}


def split_distance(
    X: xr.DataArray,
    Y: xr.DataArray,
    test_size: float = 0.5,
    seed: int = 0,
    alpha: float = 1.0,
    center_columns: bool = True,
    zero_pad: bool = True,
    score_method: str = "angular",
    backend: str | None = "numpy",
) -> xr.Dataset:
    """Shape distance fitted on training stimuli and evaluated on training and held-out stimuli.

    ``X`` and ``Y`` are paired by ``stimulus_id`` and put into canonical order; the split is
    :func:`neuroxr.geometry.split_train_test` (``seed``, ``test_size``), so it depends on the
    stimulus ids only, never on their storage order.

    Parameters
    ----------
    X, Y : DataArray (stimulus, unit) or neural DataArray (stimulus, neuroid, repeat)
        Two representations; neural responses are averaged over repeats (NaN-mean, neuroids
        lacking a stimulus dropped with a warning), as the store's ``shape`` entries average them.
        Bool and integer features are read as float64, as by :class:`LinearMetric`.
    test_size : float in (0, 1), default 0.5
    seed : int, default 0
    alpha, center_columns, zero_pad, score_method : default 1.0, True, True, "angular"
        As :class:`LinearMetric`.
    backend : str, default "numpy"
        Array backend of the fit and the distances (float64; ``None``: the global one); NumPy's numbers to rounding.

    Returns
    -------
    xarray.Dataset
        ``distance`` (split: train, test; lower = more similar), ``stimulus_split`` (stimulus,
        canonical order with ``stimulus_id``); attrs with every parameter, ``n_train``, ``n_test``.
    """
    for arr, nm in ((X, "X"), (Y, "Y")):
        if not isinstance(arr, xr.DataArray) or "stimulus" not in arr.dims:
            raise LayoutError(f"split_distance: {nm} must be a labeled DataArray (stimulus, unit); use LinearMetric for plain arrays.")
    check_split_distance_params(test_size, seed, alpha, center_columns, zero_pad, score_method)
    resolve_backend(backend, "split_distance")
    names = _named(X, "X"), _named(Y, "Y")
    (X, Y), counts, _ = _drop_unusable([(X, names[0]), (Y, names[1])], "split_distance")  # crsa's rule for missing trials
    X, Y = (_trial_averaged(A).transpose("stimulus", ...) for A in (X, Y))  # stimuli as rows, whatever the dims' order
    X, Y = align(_canonical(X), Y, names=names, caller="split_distance")
    X, Y = X.compute(), Y.compute()  # read once (the fit and the distances read them again), checked as split_distance's
    X, Y = (A.copy(data=_network_array(A, nm, "split_distance")) for A, nm in ((X, names[0]), (Y, names[1])))
    for A, name in ((X, names[0]), (Y, names[1])):  # (read as LinearMetric reads them: float64)
        _check_finite(A.values, name, "split_distance")
    ids = _ids(X)
    tr, te = _train_test(ids, test_size, seed, "split_distance")
    metric = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    metric.pad_width(X.shape[1], Y.shape[1], "split_distance")  # unequal widths without zero_pad: refused as split_distance's
    device = resolve_backend(backend) != "numpy"  # paired and checked above: plain arrays there, their rows taken
    Xa, Ya = (asarray(A.values, backend) for A in (X, Y)) if device else (X, Y)
    rows = take_rows if device else (lambda A, s: A.isel(stimulus=s))
    metric.fit(rows(Xa, tr), rows(Ya, tr))
    (d_tr, c_tr), (d_te, c_te) = (metric._scored(rows(Xa, s), rows(Ya, s), s is tr, "split_distance", names) for s in (tr, te))
    warn_undefined_shape("split_distance", math.isnan(d_tr) or math.isnan(d_te), zip(names, (c_tr[0] or c_te[0], c_tr[1] or c_te[1])))
    split = np.full(ids.size, "train", dtype=object)
    split[te] = "test"
    return xr.Dataset(
        {"distance": (("split",), np.array([d_tr, d_te])), "stimulus_split": (("stimulus",), split.astype(str))},
        coords={"split": ["train", "test"], "stimulus_id": ("stimulus", ids)},
        attrs={"alpha": float(alpha), "center_columns": int(center_columns), "zero_pad": int(zero_pad),
               "score_method": score_method, "test_size": test_size, "seed": seed, "n_train": int(tr.size),
               "n_test": int(te.size), **counts, "lower_is_better": 1, "reference": "Williams et al. 2021",
               **input_labels(source=X, target=Y)},
    )


def procrustes_average(data: Any, center_columns: bool = True, max_iter: int = 100, tol: float = 1e-10) -> xr.DataArray:
    """Generalized Procrustes average of several representations (see :func:`neuroxr.kernels.procrustes.procrustes_average`).

    Parameters
    ----------
    data : list or dict of arrays / feature DataArrays (stimulus, unit)
    center_columns : bool, default True
    max_iter : int, default 100
    tol : float, default 1e-10

    Returns
    -------
    xarray.DataArray, dims (stimulus, unit)
        ``stimulus_id`` from the inputs when they are labeled (canonical order). The average is defined up to an
        orthogonal transform of its columns; this one is in the basis of the first network (``data[0]``,
        zero-padded to the widest): the iteration starts from it, so permuting (or rotating) its units permutes
        (rotates) the columns. Networks that share a shape give the same average up to a rotation in any order;
        for unrelated networks the iteration can stop at a local optimum that depends on which comes first. The
        columns are therefore labelled ``unit_id`` ``dim0, dim1, ...``, not by any network's units: compare
        averages by their geometry (:func:`neuroxr.geometry.rdm`, :func:`neuroxr.geometry.cka`, a shape metric),
        not column by column.

    Raises
    ------
    LayoutError
        When a network has no variance across the stimuli (constant up to rounding, as the shape
        metrics decide it; with ``center_columns=False``: all zero): its shape is undefined and it
        would enter the average as zero.
    """
    center_columns = check_bool(center_columns, "center_columns", "Pass center_columns=False to average uncentred networks.",
                                caller="procrustes_average")
    max_iter = check_int(max_iter, "max_iter", 1, "The iterations of the average, e.g. max_iter=100.", caller="procrustes_average")
    tol = check_alpha(tol, "tol", caller="procrustes_average")  # a finite number >= 0
    Xs, names, ids = _as_network_list(data, "data", "procrustes_average")
    _refuse_constant_networks(data, Xs, center_columns, "procrustes_average", "data")
    M = to_numpy(_p.procrustes_average(Xs, center_columns=center_columns, max_iter=max_iter, tol=tol))
    n, p = M.shape
    ids = ids if ids is not None else np.array([f"stimulus{i}" for i in range(n)])
    return xr.DataArray(
        M,
        dims=("stimulus", "unit"),
        coords={"stimulus_id": ("stimulus", ids), "unit_id": ("unit", np.array([f"dim{i}" for i in range(p)]))},
        name="procrustes_average",
        attrs=encode_attrs({"networks": list(names), "center_columns": int(center_columns), "max_iter": int(max_iter),
                            "tol": float(tol)}),
    )
