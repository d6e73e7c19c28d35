"""Statistical inference for the shape metrics: a stimulus bootstrap of the fitted shape distance
(its interval centred on the estimate by default, docs/inference.md "Shape metrics") and a
permutation null; resamples drawn as :mod:`neuroxr.geometry.inference` draws them."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import LayoutError, warn
from ..kernels import resample as rs
from ._common import _named, _one_bin, input_labels
from .shape_metric import _whitened_whole

__all__ = ["shape_bootstrap", "check_shape_boot_method", "SHAPE_BOOT_METHODS", "SHAPE_BOOT_DEFAULT"]

#: intervals of :func:`shape_bootstrap` (``method``) and its default (docs/inference.md, "Shape metrics"):
#: those of every bootstrap with biased resamples (:data:`neuroxr.kernels.resample.BIAS_BOOT_METHODS`)
SHAPE_BOOT_METHODS = rs.BIAS_BOOT_METHODS
SHAPE_BOOT_DEFAULT = rs.BIAS_BOOT_DEFAULT
#: Angles (radians) closer than this are one value to the permutation p: ``acos(1 - d)`` of a rounding ``d``
#: of a few eps is about ``sqrt(2 d)``, 1.5e-8 to 2.1e-8 for identical shapes; 16 sqrt(eps) is 2.4e-7.
ANGLE_ROUNDING = 16 * float(np.sqrt(np.finfo(np.float64).eps))


def _shape_arrays(X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, int]]:
    """Two representations as float arrays in the canonical stimulus order (DataArrays paired by
    ``stimulus_id``; neural responses averaged over repeats), with their ids and the counts of the
    stimuli and neuroids left out (``n_excluded_*``, as :func:`~neuroxr.geometry.split_distance`
    counts them); the messages name them as :func:`shape_bootstrap`'s arguments."""
    from ..alignment import align, canonical_order
    from ..backend import to_numpy
    from ._common import _canonical, _drop_unusable, _ids
    from ._shape_inputs import _check_finite, _network_array, _rows, _trial_averaged, refuse_dataset

    names = _named(X, "X"), _named(Y, "Y")
    refuse_dataset(X, names[0], "shape_bootstrap")
    refuse_dataset(Y, names[1], "shape_bootstrap")
    (X, Y), counts, _ = _drop_unusable([(X, names[0]), (Y, names[1])], "shape_bootstrap")  # crsa's rule for missing trials
    X, Y = _trial_averaged(X), _trial_averaged(Y)
    if isinstance(X, xr.DataArray) and isinstance(Y, xr.DataArray):
        X = _canonical(X)
        X, Y = align(X, Y, names=names, caller="shape_bootstrap")
        ids = np.asarray(X["stimulus_id"].values).astype(str)
        X = X.transpose("stimulus", ...).values
        Y = Y.transpose("stimulus", ...).values
    elif isinstance(X, xr.DataArray) or isinstance(Y, xr.DataArray):  # paired as _as_network_list pairs them:
        # the unlabeled rows list the labeled input's stimuli as given; both then in its canonical order
        r = 0 if isinstance(X, xr.DataArray) else 1
        pair = [X, Y]
        other = pair[1 - r] if hasattr(pair[1 - r], "shape") or np.ndim(pair[1 - r]) == 0 else np.asarray(pair[1 - r])
        pair[1 - r] = _rows(other, canonical_order(_ids(pair[r])), names[1 - r], names[r], "shape_bootstrap")
        pair[r] = _canonical(pair[r])
        ids = np.asarray(_ids(pair[r])).astype(str)
        pair[r] = pair[r].transpose("stimulus", ...).values
        X, Y = pair
    else:
        ids = None
    # read as every shape function reads a network (text refused in one line), then NumPy float64
    X, Y = (np.asarray(to_numpy(_network_array(A, nm, "shape_bootstrap")), dtype=np.float64) for A, nm in ((X, names[0]), (Y, names[1])))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise LayoutError(f"shape_bootstrap: X and Y must be (stimulus, unit) representations of the same stimuli; "
                             f"got shapes {X.shape} and {Y.shape}.")
    for A, name in ((X, names[0]), (Y, names[1])):  # NaN and inf refused as every shape function refuses them
        _check_finite(A, name, "shape_bootstrap")
    return X, Y, ids, counts


def _weighted_rows(A: np.ndarray, w: np.ndarray, center: bool) -> np.ndarray:
    """Rows ``sqrt(w_i) (a_i - mean_w)`` of the stimuli drawn (``w > 0``): their (cross-)products
    equal those of the resampled, centred representation ``A[idx]``."""
    keep = w > 0
    Ak, wk = A[keep], w[keep]
    if center:
        Ak = Ak - (wk @ Ak) / wk.sum()
    return np.sqrt(wk)[:, None] * Ak


def check_shape_boot_method(method: Any) -> str:
    """:func:`shape_bootstrap`'s interval ``method`` checked (one-line :class:`~neuroxr.errors.ParameterError`;
    ``"bca"`` refused with the reason), before any data is read."""
    return rs.check_bias_boot_method(method, "shape_bootstrap", "resampled fit distances are biased low, often all below "
                                     "the estimate, which makes BCa's bias correction infinite")


def shape_bootstrap(
    X: Any,
    Y: Any,
    *,
    alpha: float = 1.0,
    center_columns: bool = True,
    zero_pad: bool = True,
    score_method: str = "angular",
    n_boot: int | None = None,
    seed: int = 0,
    level: float = 0.95,
    method: str = SHAPE_BOOT_DEFAULT,
    indices: np.ndarray | None = None,
    n_perm: int = 0,
    nan_policy: str = "propagate",
) -> xr.Dataset:
    """Bootstrap over stimuli (and optionally a permutation null) of a shape distance.

    A resample's distance is ``LinearMetric(alpha, ...).fit_distance(X[idx], Y[idx])`` (netrep's
    ``fit_score`` on the resampled stimuli). It depends on the data only through the centred
    (cross-)covariances, which the distinct drawn stimuli weighted by their counts give exactly
    (``sqrt(c_i) (x_i - mean_c)``): each resample is one fit on about ``0.63 n`` rows. The
    permutation null permutes the stimulus rows of ``Y`` (``default_rng([seed, 2])``): whitening
    does not change, so each permutation is one cross-product and one SVD; the p-value is
    one-sided for a small distance, ``(1 + #{null <= distance}) / (1 + n_perm)``.

    Parameters
    ----------
    X, Y : DataArray (stimulus, unit) or (stimulus, neuroid, repeat), or arrays (n, p)
        The two representations; DataArrays are paired by ``stimulus_id`` and resampled in the
        canonical order (neural responses are averaged over repeats). An array beside a DataArray
        lists its stimuli in the DataArray's order as given, as :func:`~neuroxr.geometry.pairwise_distances`
        reads it, and is resampled with it in the canonical order. Fewer than 3 stimuli (2 with
        ``center_columns=False``) are refused, as by :meth:`LinearMetric.fit`.
    alpha, center_columns, zero_pad, score_method
        As :class:`neuroxr.geometry.LinearMetric`.
    n_boot, seed, level
        Resamples (default 1000), their seed (``default_rng([seed, 0])``), the interval's level.
    method : {"centred", "percentile", "basic"}, default "centred"
        Interval of ``distance_boot``. Resampled fit distances are biased low (fewer distinct
        stimuli fit better), often all below the estimate: ``"centred"`` shifts their percentile
        interval by the bias, ``distance + quantiles(boot - mean(boot))`` (the spread around the
        estimate); ``"percentile"`` their plain quantiles; ``"basic"`` ``2 distance - quantiles``
        (scipy's, for the population distance; above the estimate when the bias exceeds the
        spread). ``"bca"`` is refused (its bias correction is then infinite). See docs/inference.md.
    indices : ndarray of int, shape (n_boot, n), optional
        Stimulus draws (positions 0..n-1 of the canonical order) to use instead of drawing them;
        they set ``n_boot`` (an ``n_boot`` that differs is refused, and so is ``seed`` unless
        ``n_perm`` draws permutations with it).
    n_perm : int, default 0
        Permutations of the null (0: none).
    nan_policy : {"propagate", "omit"}, default "propagate"
        As :func:`neuroxr.geometry.rsa_bootstrap`: an undefined resample distance (fewer distinct
        stimuli drawn than the full sample needs: 3, 2 with ``center_columns=False``, whose
        distance is 0 whatever the data) makes the interval NaN, or is left out (``"omit"``);
        counted and warned about either way.

    Returns
    -------
    xarray.Dataset
        ``distance`` (the full-sample fit distance), ``distance_boot`` (boot), ``distance_ci``
        (bound; ``method``'s interval), ``distance_bias`` (``mean(distance_boot) - distance``,
        over the defined resamples), ``n_boot_undefined``, ``boot_index`` (boot, stimulus; coord
        ``stimulus_id`` when either input is labeled); with
        ``n_perm`` also ``p`` and ``distance_null`` (perm). Attrs ``n_stimuli`` and, as
        :func:`~neuroxr.geometry.split_distance` counts them, ``n_excluded_stimuli`` and
        ``n_excluded_neuroids``.
    """
    if n_boot is not None:  # (0 is the permutation entries' own: no resample)
        rs._positive(n_boot, "n_boot", "Pass the number of bootstrap resamples, e.g. n_boot=1000.", "shape_bootstrap")
    return _shape_resampled(X, Y, alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method,
                            n_boot=n_boot, seed=seed, level=level, method=method, indices=indices, n_perm=n_perm,
                            nan_policy=nan_policy)


def _shape_resampled(X: Any, Y: Any, *, alpha: float, center_columns: bool, zero_pad: bool, score_method: str,
                     n_boot: int | None, seed: int, level: float, method: str, indices: np.ndarray | None, n_perm: int,
                     nan_policy: str) -> xr.Dataset:
    """:func:`shape_bootstrap`; ``n_boot=0`` (a permutation entry): ``distance`` and the permutation
    null alone, no resample and so no warning about resamples (a constant input is warned about
    by the fit distance)."""
    from ..kernels import shape as _ks
    from ..kernels.gram_measures import resampled_constant_rows
    from .shape import LinearMetric, check_shape_stimuli

    rs._check_level(level, "shape_bootstrap")
    rs.check_nan_policy(nan_policy, "shape_bootstrap")
    n_perm = rs.check_n_perm(n_perm, "shape_bootstrap")
    check_shape_boot_method(method)
    metric = LinearMetric(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method)
    from .inference import _draws, _undefined  # (that module re-exports this one's names)

    metric._validate("shape_bootstrap")
    _one_bin(X, _named(X, "X"), "shape_bootstrap")
    _one_bin(Y, _named(Y, "Y"), "shape_bootstrap")
    labels = input_labels(source=X, target=Y)
    X0, Y0 = X, Y
    X, Y, ids, counts = _shape_arrays(X, Y)
    check_shape_stimuli(X.shape[0], bool(center_columns), f"{_named(X0, 'X')} and {_named(Y0, 'Y')}", "shape_bootstrap")
    X, Y = (np.zeros_like(A) if center_columns and not _ks.centre(A, A.mean(axis=0)).any() else A for A in (X, Y))  # as LinearMetric
    n = X.shape[0]
    width = metric.pad_width(X.shape[1], Y.shape[1], "shape_bootstrap")
    a = float(alpha)
    idx = _draws(indices, n, n_boot, seed, bool(n_perm), "shape_bootstrap") if n_boot != 0 else np.empty((0, n), dtype=np.int64)

    units = (X.shape[1], Y.shape[1])
    (_, Xq), (_, Yq) = _ks.row_basis(X), _ks.row_basis(Y)  # wide: every resample's rows in n coordinates

    def fit_distance(Xr: np.ndarray, Yr: np.ndarray) -> float:  # rows already centred (or not centred at all)
        # centred (weighted) rows are dependent: said, so a deficient resample takes the SVD route alone
        mx, Xw, Zx = _ks.partial_fit(Xr, a, False, n_columns=width, n_units=units[0], centred_rows=center_columns)
        my, Yw, Zy = _ks.partial_fit(Yr, a, False, n_columns=width, n_units=units[1], centred_rows=center_columns)
        Wx, Wy = _ks.fit_alignment(Xw, Zx, Yw, Zy, zero_pad=zero_pad, n_units=units)
        return _ks.shape_score(Xr @ Wx, Yr @ Wy, score_method)

    # the full sample's rule (check_shape_stimuli): fewer than 3 distinct stimuli (2 uncentred) leave no shape
    # to compare (2 centred stimuli lie on a line: distance 0 whatever the data): undefined, counted
    boot = np.full(idx.shape[0], np.nan)
    drawn = rs.counts(idx, n)  # (n_boot, n): each stimulus's count in each resample
    # a representation constant on the drawn stimuli up to rounding is scored as a zero one, as the full sample's
    # (cka_bootstrap's rule on the resample's squares): its centred rows were rounding, scored as a shape
    flat = [resampled_constant_rows(A - A.mean(axis=0), drawn) if center_columns else np.zeros(idx.shape[0], dtype=bool)
            for A in (Xq, Yq)]  # from the rows: no n x n Gram
    for b in np.flatnonzero(rs.distinct_draws(idx) >= (3 if center_columns else 2)):
        w = drawn[b]
        Xr, Yr = _weighted_rows(Xq, w, center_columns), _weighted_rows(Yq, w, center_columns)
        boot[b] = fit_distance(np.zeros_like(Xr) if flat[0][b] else Xr, np.zeros_like(Yr) if flat[1][b] else Yr)
    d0 = float(metric.fit(X, Y)._distance(X, Y, "shape_bootstrap", training=True, names=(_named(X0, "X"), _named(Y0, "Y"))))
    out: dict[str, Any] = {"distance": ((), d0)}
    if n_boot != 0:
        ci = rs.bias_interval(method, np.asarray(d0), boot, level, nan_policy)
        out.update({"distance_boot": (("boot",), boot), "distance_ci": (("bound",), ci),
                    "distance_bias": ((), float(rs.bootstrap_bias(np.asarray(d0), boot))),
                    "boot_index": (("boot", "stimulus"), idx)})
        _undefined(out, {"distance": boot}, "shape_bootstrap", nan_policy)
    if n_perm:
        null = _shape_null(X, Y, metric, width, rs.permutation_indices(n, n_perm, seed, "shape_bootstrap"))
        out["distance_null"] = (("perm",), null)
        # a smaller distance is more extreme: the one permutation p-value rule on the negated distances
        # an angle is acos's rounding away from its value near 0 (about sqrt(eps)): null angles that close are ties
        tol = ANGLE_ROUNDING if score_method == "angular" else 0.0
        out["p"] = ((), float(rs.permutation_pvalues(np.asarray([-d0]), -null[:, None], atol=tol)[0]))
        if n_perm > 1 and np.all(np.abs(null - d0) <= tol + 1e-9 * abs(d0)):  # (NaN: a constant input, warned about)
            _warn_constant_null(d0, metric, (X, Y), (_named(X0, "X"), _named(Y0, "Y")))
    coords: dict[str, Any] = {"bound": ["low", "high"]}
    if ids is not None:
        coords["stimulus_id"] = ("stimulus", ids)
    attrs = {"alpha": a, "center_columns": int(center_columns), "zero_pad": int(zero_pad), "score_method": score_method,
             "n_boot": int(idx.shape[0]), "seed": int(seed), "level": float(level), "method": method, "n_perm": int(n_perm),
             "nan_policy": nan_policy, "n_stimuli": int(n), **counts, "lower_is_better": 1, "reference": "Williams et al. 2021",
             **labels}
    return xr.Dataset(out, coords=coords, attrs=attrs)


def _warn_constant_null(d0: float, metric: Any, inputs: tuple[np.ndarray, np.ndarray], names: tuple[str, str]) -> None:
    """The warning for a permutation null of one value, the distance itself (``p = 1`` whatever the data), naming
    each input that ``alpha = 0`` whitens to every direction of its stimuli whatever their order
    (:func:`~neuroxr.geometry.shape_metric._whitened_whole`, the rule ``fit_distance`` warns by): the distance then
    depends on the other's span alone."""
    n = int(inputs[0].shape[0])
    wide = [f"{nm} ({Z.shape[1]} units)" for nm, Z in zip(names, inputs) if float(metric.alpha) == 0.0 and _whitened_whole(metric, Z)]
    why = (f" With alpha=0 (full whitening) {' and '.join(wide)} span{'s' if len(wide) == 1 else ''} every direction of the "
           f"{n} stimuli, which no permutation changes: use alpha > 0, or reduce the units below the number of stimuli "
           "first (e.g. PCA).") if wide else ""
    warn(f"shape_bootstrap: every permutation of the null gives the distance itself ({d0:.6g}), so p = 1 whatever the "
         f"data: the test cannot reject.{why}")


def _shape_null(X: np.ndarray, Y: np.ndarray, metric: Any, width: int | None, perms: np.ndarray) -> np.ndarray:
    """Fit distances of ``(X, Y[perm])`` for every permutation: the whitened ``Xw``, ``Yw`` are fixed,
    the aligned inner product is the nuclear norm of ``Xw^T Yw[perm]`` (zero padding adds zero singular values)."""
    from ..kernels.shape import unit_scaled

    mx, Xw, _ = metric.partial_fit(X, width)
    my, Yw, _ = metric.partial_fit(Y, width)
    if metric.score_method == "angular":  # an angle is scale-free: near 1e+-150 tx * ty over- or underflowed
        Xw, Yw = unit_scaled(np, Xw), unit_scaled(np, Yw)
    tx, ty = float(np.sum(Xw * Xw)), float(np.sum(Yw * Yw))
    step = max(1, int(64 * 2**20 // (8 * Xw.shape[1] * Yw.shape[1] + 8 * Y.shape[0] * Yw.shape[1])))
    nuc = np.empty(perms.shape[0])
    for lo in range(0, perms.shape[0], step):
        sel = perms[lo : lo + step]
        M = np.einsum("ip,biq->bpq", Xw, Yw[sel])  # (B, p_x, p_y)
        nuc[lo : lo + len(sel)] = np.linalg.svd(M, compute_uv=False).sum(axis=1)
    if metric.score_method == "angular":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.arccos(np.clip(nuc / np.sqrt(tx * ty), -1.0, 1.0))
    return np.sqrt(np.maximum(tx + ty - 2 * nuc, 0.0))
