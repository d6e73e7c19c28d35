"""The whitening's SVD route (rank-deficient data: wide or square layers once centred) costs one SVD
of the reduced data: no eigendecomposition of ``X^T X`` that would only say the route is taken, and
no ``k x k`` basis of the null directions when ``X`` has more columns than rows."""

from __future__ import annotations

import numpy as np
import pytest

from neuroxr.backend import get_namespace
from neuroxr.kernels import shape as ks


def _spy(monkeypatch, X, name):
    linalg = get_namespace(X).linalg
    calls, real = [], getattr(linalg, name)

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(linalg, name, spy)
    return calls


@pytest.mark.parametrize("shape", [(12, 300), (40, 40), (30, 90)])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_centred_wide_or_square_fit_skips_eigendecomposition(monkeypatch, shape, alpha):
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape) + 100.0
    X[:, 0] *= 1e6  # one unit far larger than the others, as the SVD route is for
    mx = X.mean(axis=0)
    Q, Xr = ks.row_basis(ks.centre(X, mx))
    offset_sq = X.shape[0] * float(mx @ mx)
    # the route chosen from the eigenvalues of X^T X (before the structural shortcut), computed first
    Xw0, Z0, b0 = ks._whiten(Xr, alpha, None, X.shape[1], offset_sq)
    calls = _spy(monkeypatch, X, "eigh")
    fit = ks.fit_parts(X, alpha)
    assert calls == []  # centred rows, no more of them than columns: the SVD route, known without eigh
    np.testing.assert_array_equal(fit.Xw, Xw0)  # bit for bit
    np.testing.assert_array_equal(fit.whitening.Z, Z0)
    assert fit.whitening.beta == b0


def test_full_rank_tall_fit_keeps_eigendecomposition(monkeypatch):
    X = np.random.default_rng(4).standard_normal((60, 20))
    calls = _spy(monkeypatch, X, "eigh")
    ks.fit_parts(X, 0.5)
    assert len(calls) == 1  # well-resolved spectrum: the eigendecomposition route, as before


def _reference_whiten(X, alpha):
    """netrep's whitening Z = c (alpha I + (1 - alpha) (X^T X)^(+1/2), floored), from numpy's full SVD."""
    n, k = X.shape
    _, s, Vh = np.linalg.svd(X, full_matrices=True)
    lam = np.concatenate([s**2, np.zeros(k - s.size)])
    null = np.sqrt(lam) <= lam.max() ** 0.5 * max(n, k) * np.finfo(float).eps
    lam[null] = 0
    lam_c = np.maximum(lam, ks.NETREP_EIG_FLOOR)
    c = np.sqrt(lam_c.sum() / ((alpha * np.sqrt(lam_c) + 1 - alpha) ** 2).sum())
    d = c * np.where(null, alpha, alpha + (1 - alpha) / np.sqrt(lam_c))
    return (Vh.T * d) @ Vh


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_whiten_more_columns_than_rows_takes_thin_svd(monkeypatch, alpha):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((15, 120))
    X -= X.mean(axis=0)
    eighs, svds = _spy(monkeypatch, X, "eigh"), _spy(monkeypatch, X, "svd")
    Xw, Z = ks.whiten(X, alpha)
    assert eighs == [] and [c.get("full_matrices") for c in svds] == [False]  # no k x k basis
    Zr = _reference_whiten(X, alpha)
    np.testing.assert_allclose(Z, Zr, rtol=0, atol=1e-12 * np.abs(Zr).max())
    np.testing.assert_allclose(Xw, X @ Zr, rtol=0, atol=1e-12 * np.abs(X @ Zr).max())


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_tall_layer_with_dead_units_keeps_eigendecomposition(monkeypatch, alpha):
    # dead units (constant: exactly zero once centred) are null directions, whitened by c alpha; the
    # others' well-resolved spectrum takes the eigendecomposition, not an SVD of the whole layer
    rng = np.random.default_rng(6)
    X = rng.standard_normal((80, 24))
    X[:, [2, 9, 17]] = 0.0
    X[:, 5] = 0.5
    svds = _spy(monkeypatch, X, "svd")
    fit = ks.fit_parts(X, alpha)
    assert svds == [] and fit.whitening.basis is None
    Xc = X - X.mean(axis=0)
    Zr = _reference_whiten(Xc, alpha)
    np.testing.assert_allclose(fit.whitening.Z, Zr, rtol=0, atol=1e-12 * np.abs(Zr).max())
    np.testing.assert_allclose(fit.Xw, Xc @ Zr, rtol=0, atol=1e-12 * np.abs(Xc @ Zr).max())
    dead = [2, 5, 9, 17]
    assert np.all(fit.Xw[:, dead] == 0)
    np.testing.assert_array_equal(fit.whitening.Z[dead][:, dead], fit.whitening.beta * np.eye(4))


def _resample_reference(X, Y, idx, alpha, center):
    """Each resample's distance as shape_bootstrap computed it before its rows were said to be centred: the
    same weighted rows and kernel calls, the whitening choosing its route from the eigenvalues of X^T X."""
    from neuroxr.geometry.shape_inference import _weighted_rows

    width, units = max(X.shape[1], Y.shape[1]), (X.shape[1], Y.shape[1])
    (_, Xq), (_, Yq) = ks.row_basis(X), ks.row_basis(Y)
    out = []
    for i in idx:
        w = np.bincount(i, minlength=X.shape[0]).astype(float)
        Xr, Yr = _weighted_rows(Xq, w, center), _weighted_rows(Yq, w, center)
        _, Xw, Zx = ks.partial_fit(Xr, alpha, False, n_columns=width, n_units=units[0])
        _, Yw, Zy = ks.partial_fit(Yr, alpha, False, n_columns=width, n_units=units[1])
        Wx, Wy = ks.fit_alignment(Xw, Zx, Yw, Zy, n_units=units)
        out.append(ks.shape_score(Xr @ Wx, Yr @ Wy, "angular"))
    return np.array(out)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("px, py, tall", [(60, 45, 0), (30, 30, 0), (30, 4, 1), (8, 4, 2)])
def test_shape_bootstrap_resample_takes_one_factorisation(monkeypatch, alpha, px, py, tall):
    # a resample's rows are centred (weighted by the draw counts: linearly dependent); where they are no more
    # than their columns the whitening takes the SVD route without first trying the eigendecomposition
    from neuroxr.geometry import LinearMetric
    from neuroxr.geometry.inference import shape_bootstrap

    rng = np.random.default_rng(8)
    n = 30
    Z = rng.standard_normal((n, 3))
    X = Z @ rng.standard_normal((3, px)) + 0.5 * rng.standard_normal((n, px)) + 5.0
    Y = Z @ rng.standard_normal((3, py)) + 0.5 * rng.standard_normal((n, py))
    if tall < 2:  # a unit far larger than the others, as the SVD route is for (a tall X would try eigh first)
        X[:, 1] *= 1e6
    eighs, svds = _spy(monkeypatch, X, "eigh"), _spy(monkeypatch, X, "svd")
    counts = []
    for n_boot in (4, 10):
        del eighs[:], svds[:]
        res = shape_bootstrap(X, Y, alpha=alpha, n_boot=n_boot, seed=2)
        counts.append((len(eighs), len(svds)))
    assert int(res["n_boot_undefined"]) == 0
    per_eigh, per_svd = ((b - a) / 6 for a, b in zip(*counts))
    # one factorisation per representation (tall ones whose spectrum is resolved: eigh) and the alignment's SVD
    assert (per_eigh, per_svd) == (tall, 3 - tall)
    monkeypatch.undo()
    idx = res["boot_index"].values
    ref = _resample_reference(X, Y, idx, alpha, True)
    np.testing.assert_array_equal(res["distance_boot"].values, ref)  # the same route: bit for bit
    # and the plain fit on the resampled stimuli (cosines: an angle near 0 is acos's rounding, ~1e-8; the
    # 1e6 unit's rounding, ~1e-11, differs between the weighted rows and the repeated ones)
    plain = [LinearMetric(alpha=alpha).fit_distance(X[i], Y[i]) for i in idx]
    np.testing.assert_allclose(np.cos(res["distance_boot"].values), np.cos(plain), rtol=0, atol=1e-9)
