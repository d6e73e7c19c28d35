"""Shape-metric kernels vs netrep's LinearMetric (fit and score on the same data)."""
# netrep is installed from its source tree; CI has none: its tests start with importorskip

from __future__ import annotations

import numpy as np
import pytest

from neuroxr.kernels.gram import gram
from neuroxr.kernels.procrustes import procrustes_average
from neuroxr.kernels.shape import (
    centre,
    fit_alignment,
    fit_parts,
    partial_fit,
    row_basis,
    shape_distance_from_gram,
    shape_score,
    whiten,
)


def _pair(n, px, py, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, px)) * rng.uniform(0.2, 3.0, px)
    Y = rng.standard_normal((n, py))
    Y[:, : min(px, py)] += 0.7 * X[:, : min(px, py)]
    return X, Y


def _kernel_score(X, Y, alpha, score_method):
    p = max(X.shape[1], Y.shape[1])
    mx, Xw, Zx = partial_fit(X, alpha, n_columns=p)
    my, Yw, Zy = partial_fit(Y, alpha, n_columns=p)
    Wx, Wy = fit_alignment(Xw, Zx, Yw, Zy)
    return shape_score((X - mx) @ Wx, (Y - my) @ Wy, score_method)


@pytest.mark.parametrize("score_method", ["euclidean", "angular"])
@pytest.mark.parametrize("alpha", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("shapes", [(30, 5, 5), (30, 4, 7), (12, 9, 15), (10, 30, 24)])
def test_shape_score_equals_netrep(score_method, alpha, shapes):
    LinearMetric = pytest.importorskip("netrep.metrics").LinearMetric  # noqa: N806
    n, px, py = shapes
    X, Y = _pair(n, px, py, seed=px + py)
    ref = LinearMetric(alpha=alpha, score_method=score_method).fit_score(X, Y)
    zero = alpha == 0 and score_method == "angular" and max(px, py) >= n  # distance 0: acos's rounding, ~1e-8
    assert _kernel_score(X, Y, alpha, score_method) == pytest.approx(ref, rel=1e-7, abs=1e-7 if zero else 1e-9)
    sx, sy = gram(X), gram(Y)
    got = shape_distance_from_gram(sx.K, sy.K, alpha, score_method, n_units=(sx.n_units, sy.n_units))
    assert got == pytest.approx(ref, rel=1e-7, abs=1e-7 if zero else 1e-9)


def test_whiten_keeps_the_total_variance():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 6)) * np.arange(1, 7)
    X -= X.mean(0)
    for alpha in (0.0, 0.5):
        Xw, Z = whiten(X, alpha)
        assert np.linalg.norm(Xw) == pytest.approx(np.linalg.norm(X), rel=1e-6)
        np.testing.assert_allclose(Xw, X @ Z)
    Xw, _ = whiten(X, 0.0)
    s = np.linalg.svd(Xw, compute_uv=False)
    np.testing.assert_allclose(s, s[0])  # fully whitened: all directions equal


def test_gram_path_without_widths_equals_own_width_estimator():
    X, Y = _pair(25, 6, 4, seed=2)
    for alpha in (0.0, 0.3):
        mx, Xw, Zx = partial_fit(X, alpha)
        my, Yw, Zy = partial_fit(Y, alpha)
        Wx, Wy = fit_alignment(Xw, Zx, Yw, Zy)
        ref = shape_score((X - mx) @ Wx, (Y - my) @ Wy, "euclidean")
        assert shape_distance_from_gram(gram(X).K, gram(Y).K, alpha, "euclidean") == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("scale", [1e-5, 1e-6, 1e-8])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_small_scales_equal_netrep(scale, alpha):
    """Covariance eigenvalues below netrep's absolute floor 1e-7: the whitening, the feature route,
    the Gram route and LinearMetric all equal netrep (its whiten and LinearMetric)."""
    netrep = pytest.importorskip("netrep.metrics")
    from netrep.utils import whiten as netrep_whiten

    from neuroxr.geometry import LinearMetric

    X, Y = _pair(60, 8, 5, seed=4)
    X = (X - X.mean(0)) * scale
    Xw, Z = whiten(X, alpha)
    ref_w, ref_z = netrep_whiten(X, alpha)
    np.testing.assert_allclose(Z, ref_z, rtol=1e-9, atol=1e-12 * np.abs(ref_z).max())
    np.testing.assert_allclose(Xw, ref_w, rtol=1e-9, atol=1e-12 * np.abs(ref_w).max())
    for score_method in ("angular", "euclidean"):
        ref = netrep.LinearMetric(alpha=alpha, score_method=score_method).fit_score(X, Y)
        assert _kernel_score(X, Y, alpha, score_method) == pytest.approx(ref, rel=1e-7, abs=1e-12)
        assert LinearMetric(alpha=alpha, score_method=score_method).fit_distance(X, Y) == pytest.approx(ref, rel=1e-7,
                                                                                                        abs=1e-12)
        sx, sy = gram(X), gram(Y)
        got = shape_distance_from_gram(sx.K, sy.K, alpha, score_method, n_units=(sx.n_units, sy.n_units))
        assert got == pytest.approx(ref, rel=1e-7, abs=1e-12)


def test_whiten_keeps_the_total_variance_below_the_floor():
    """Every eigenvalue below the floor: the floored whitening is a scalar on X, the variance is kept."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 6)) * np.arange(1, 7) * 1e-6
    X -= X.mean(0)
    assert np.linalg.eigvalsh(X.T @ X).max() < 1e-7
    for alpha in (0.0, 0.5):
        Xw, _ = whiten(X, alpha)
        assert np.linalg.norm(Xw) == pytest.approx(np.linalg.norm(X), rel=1e-10)



@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_whiten_scales_the_null_space_by_alpha_alone(scale):
    """More units than stimuli: on the data's span the whitening is netrep's; the directions without
    variance are whitened by ``c alpha`` alone (isotropic), whatever their rounding (at scale 1e3 it
    exceeds netrep's 1e-7 floor, and netrep whitens by it)."""
    netrep_whiten = pytest.importorskip("netrep.utils").whiten
    rng = np.random.default_rng(6)
    X = rng.standard_normal((12, 30)) * scale
    X -= X.mean(0)
    _, _, Vt = np.linalg.svd(X)
    span, null = Vt[:11].T, Vt[11:].T  # centred: rank 11
    lam = np.linalg.eigvalsh(X.T @ X)
    lam_c = np.maximum(np.where(np.arange(30) < 19, 0.0, lam), 1e-7)
    for alpha in (0.0, 0.5):
        Xw, Z = whiten(X, alpha)
        ref_w, ref_z = netrep_whiten(X, alpha)
        # the data themselves: netrep's (which whitens its null space's rounding by up to 1 / sqrt(1e-7))
        np.testing.assert_allclose(Xw, ref_w, rtol=1e-5, atol=1e-8 * np.abs(ref_w).max())
        on_span = span.T @ ref_z @ span
        np.testing.assert_allclose(span.T @ Z @ span, on_span, rtol=1e-8, atol=1e-8 * np.abs(on_span).max())
        c = np.sqrt(lam_c.sum() / np.sum((alpha * np.sqrt(lam_c) + 1 - alpha) ** 2))
        np.testing.assert_allclose(null.T @ Z @ null, alpha * c * np.eye(19), atol=1e-10 * np.abs(Z).max())


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("n_columns", [None, 50])
def test_wide_fit_parts_factor_the_full_whitening(alpha, n_columns):
    """40 units, 12 stimuli: the whitening in the rows' basis, ``Q Z Q^T + beta (I - Q Q^T)``, is
    the full ``40 x 40`` one (whose null space is whitened by ``c alpha``), and ``partial_fit``'s
    thin ``Z`` maps the centred data to its ``Xw``, which has the full one's Gram."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((12, 40)) * rng.uniform(0.2, 3.0, 40)
    mx, Xw, w = fit_parts(X, alpha, n_columns=n_columns)
    Q = w.basis
    assert Q.shape == (40, 12) and Xw.shape == (12, 12)
    full_w, full_z = whiten(centre(X, X.mean(0)), alpha, n_columns)
    factored = Q @ w.Z @ Q.T + w.beta * (np.eye(40) - Q @ Q.T)
    np.testing.assert_allclose(factored, full_z, rtol=1e-9, atol=1e-10 * np.abs(full_z).max())
    np.testing.assert_allclose(Xw @ Xw.T, full_w @ full_w.T, rtol=1e-9, atol=1e-10 * np.abs(full_w).max() ** 2)
    _, Xw2, Z = partial_fit(X, alpha, n_columns=n_columns)
    assert Z.shape == (40, 12)
    np.testing.assert_allclose((X - mx) @ Z, Xw2, atol=1e-10 * np.abs(Xw2).max())


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_fit_in_a_basis_of_all_rows_with_n_units_is_the_fit(alpha):
    """Rows given as coordinates in a basis of all the stimuli's rows (``row_basis`` of the full data,
    as a bootstrap may reduce once), with ``n_units``: the fit distance of any subset of them is the
    fit distance of the ``p``-wide rows."""
    X, Y = _pair(16, 60, 45, seed=8)
    (_, Xq), (_, Yq) = row_basis(X), row_basis(Y)
    rows = np.arange(0, 16, 2)
    for score_method in ("angular", "euclidean"):
        ref = _kernel_score(X[rows], Y[rows], alpha, score_method)
        mx, Xw, Zx = partial_fit(Xq[rows], alpha, n_columns=60, n_units=60)
        my, Yw, Zy = partial_fit(Yq[rows], alpha, n_columns=60, n_units=45)
        Wx, Wy = fit_alignment(Xw, Zx, Yw, Zy, n_units=(60, 45))
        got = shape_score((Xq[rows] - mx) @ Wx, (Yq[rows] - my) @ Wy, score_method)
        assert got == pytest.approx(ref, rel=1e-10)


def test_centre_zeroes_a_representation_only_when_every_column_is_constant():
    """One large constant column (1e8) does not make a varying representation constant: each column
    is decided on its own squares; constant columns up to rounding alone give zeros."""
    from conftest import near_constant

    rng = np.random.default_rng(7)
    X = rng.standard_normal((20, 5))
    X[:, 0] = 1e8
    Xc = centre(X, X.mean(0))
    np.testing.assert_allclose(Xc[:, 1:], X[:, 1:] - X[:, 1:].mean(0), rtol=1e-12)
    C = np.tile(near_constant(20)[:, None], 3) * np.array([1.0, 2.0, 1e8])
    assert not np.any(centre(C, C.mean(0)))


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_procrustes_average_in_small_or_large_units(scale):
    """The average is equivariant to a common scale, but inputs near 1e-160 gave an average 5e-5
    off (the products underflowed: the change read as 0 after one round) and near 1e160 a
    LinAlgError traceback (SVD of overflowed products)."""
    import warnings

    rng = np.random.default_rng(0)
    L = rng.normal(size=(12, 3))
    Xs = [L @ rng.normal(size=(3, 4)) + 0.3 * rng.normal(size=(12, 4)) for _ in range(3)]
    base = procrustes_average(Xs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = procrustes_average([X * scale for X in Xs]) / scale
    np.testing.assert_allclose(got, base, rtol=1e-12, atol=1e-12 * np.abs(base).max())


def test_shape_errors_have_the_types_of_what_is_wrong():
    """A bad alpha or score_method of shape_distance_from_gram is a ParameterError (it was a LayoutError), and
    shape_bootstrap's inputs of other shapes a LayoutError (it was a ParameterError)."""
    from neuroxr.errors import LayoutError, ParameterError
    from neuroxr.geometry.inference import shape_bootstrap

    K = np.eye(5)
    for kw in ({"alpha": -1.0}, {"score_method": "cosine"}):
        with pytest.raises(ParameterError, match=r"^shape_distance_from_gram: (alpha|score_method) must"):
            shape_distance_from_gram(K, K, **kw)
    with pytest.raises(LayoutError, match=r"^shape_bootstrap: X and Y must be \(stimulus, unit\) representations"):
        shape_bootstrap(np.ones((5, 3)), np.ones((4, 3)))
