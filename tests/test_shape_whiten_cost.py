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
