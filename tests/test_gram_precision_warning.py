"""Ridge from a Gram alone says where it cannot resolve its fit (docs/kernels.md, "Ridge precision").

A Gram resolves its eigenvalues to about ``eps max(eigenvalue)`` only: the forward direction on lazy
features (a stored layer's route: streamed Gram, ``GramStats``, ``oof_operator_from_gram``) with one
unit ``1e6`` times the others erred silently by 1e-2 in the predictions and ``1e8`` lost every other
unit. It now issues one NeuroxrWarning naming the route, the estimated error and the remedy; the
same features in memory do not warn (their SVD resolves the fit); well-conditioned, exactly
low-rank and power-law features do not warn.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest

import neuroxr as nx
from neuroxr.errors import NeuroxrWarning
from neuroxr.kernels import ridge, ridge_rank
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.gram import gram_dask
from neuroxr.kernels.kernel_operator import oof_linear_operator_from_gram

_FLAG = "ridge from a Gram alone"


def _flags(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [w for w in caught if issubclass(w.category, NeuroxrWarning) and _FLAG in str(w.message)]


def _one_big_unit(scale, n=40, p=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 0] *= scale
    ids = [f"s{i:03d}" for i in range(n)]
    R = (X[:, 1:4] @ rng.normal(size=(3, 5)))[:, :, None] + rng.normal(size=(n, 5, 4))
    return X, nx.features(X, ids), nx.neural(R, ids)


def _streamed(X, chunk=7):
    return gram_dask(da.from_array(X, chunks=(X.shape[0], chunk)), scheduler="sync")


@pytest.mark.parametrize("scale", [1e6, 1e8])
def test_forward_on_lazy_features_with_a_huge_unit_warns_once(scale):
    X, feats, neu = _one_big_unit(scale)
    lazy = feats.copy(data=da.from_array(X, chunks=(X.shape[0], 7)))
    got, flagged = _flags(lambda: nx.forward(lazy, neu, alpha=1e-3, reps=3, seed=1))
    ref, in_memory = _flags(lambda: nx.forward(feats, neu, alpha=1e-3, reps=3, seed=1))
    assert got.attrs["streamed"] and not ref.attrs["streamed"]
    assert np.abs(got.r.values - ref.r.values).max() > 1e-5  # the loss is real (1e3 times the precision) ...
    assert len(flagged) == 1 and not in_memory  # ... said once per call, and only from the Gram
    message = str(flagged[0].message)
    assert message.startswith("forward: ridge from a Gram alone") and "\n" not in message
    assert "may err by about" in message and "features.load()" in message
    assert flagged[0].filename == __file__  # the user's line


@pytest.mark.parametrize("scale", [1e6, 1e8])
def test_the_kernels_warn_dense_and_fold_by_fold(scale, monkeypatch):
    X, _, _ = _one_big_unit(scale)
    folds = kfold_indices(X.shape[0], 5, 0)
    assert len(_flags(lambda: ridge.oof_operator_from_gram(_streamed(X), folds, 1e-3))[1]) == 1
    monkeypatch.setattr(ridge, "DENSE_OPERATOR_BYTES", 1)
    assert len(_flags(lambda: oof_linear_operator_from_gram(_streamed(X), folds, 1e-3))[1]) == 1
    Xw = np.hstack([X, np.random.default_rng(1).normal(size=(X.shape[0], 30))])  # more units than stimuli: the dual form
    assert len(_flags(lambda: ridge.oof_operator_from_gram(_streamed(Xw), folds, 1e-3))[1]) == 1
    assert not _flags(lambda: ridge.oof_operator(X, folds, 1e-3))[1]  # in memory: resolved


def test_reverse_with_a_huge_neuroid_is_resolved_without_a_warning():
    """The reverse direction with more neuroids than training stimuli builds its designs' operators
    from the repeats' kernels (slot kernels) only below the rank bound; with one neuroid 1e6 times
    the others the designs are fitted themselves (as on torch): no Gram-alone warning."""
    rng = np.random.default_rng(2)
    ids = [f"s{i:02d}" for i in range(40)]
    R = rng.normal(size=(40, 60, 2))
    R[:, 0, :] *= 1e6
    F = nx.features(rng.normal(size=(40, 3)), ids)
    _, flagged = _flags(lambda: nx.reverse(nx.neural(R, ids), F, alpha=1e-3, reps=3))
    assert not flagged


def _well_conditioned(scale, p, n=50, seed=3):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 4))
    return scale * (Z @ rng.normal(size=(4, p)) + 0.5 * rng.normal(size=(n, p)))


def _exactly_low_rank(scale, n=120, p=150, rank=18):
    rng = np.random.default_rng(0)
    return scale * (rng.normal(size=(n, rank)) @ rng.normal(size=(rank, p)))


def _power_law(scale, n=120, p=150, latent=64):
    rng = np.random.default_rng(1)  # tests/test_kernels_ridge_rank.py's and the benchmarks' family
    Z = rng.normal(size=(n, latent)) * np.arange(1, latent + 1) ** -0.5
    return scale * (Z @ rng.normal(size=(latent, p)) + 0.05 * rng.normal(size=(n, p)) * np.arange(1, p + 1) ** -0.5)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e2, 1e4])
@pytest.mark.parametrize(("family", "p"), [("well", 12), ("well", 90), ("low", 150), ("low", 60), ("power", 150),
                                           ("power", 60)])
@pytest.mark.parametrize("alpha", [1e-3, 0.1])
def test_resolved_fits_do_not_warn(family, p, scale, alpha):
    """Well-conditioned, exactly low-rank (rank 18 over 120 stimuli: a gap between the genuine
    eigenvalues and the rounding) and power-law features fit within the precision: no warning."""
    X = {"well": _well_conditioned, "low": _exactly_low_rank, "power": _power_law}[family](scale, p=p)
    folds = kfold_indices(X.shape[0], 10, 0)
    assert not _flags(lambda: ridge.oof_operator_from_gram(_streamed(X, 16), folds, alpha))[1]


def test_dead_units_and_an_offset_do_not_warn():
    """Constant (dead) units make a layer of fewer units than stimuli exactly low-rank: no warning."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 30)) + 1e3
    X[:, :10] = 3.7
    folds = kfold_indices(40, 5, 0)
    assert not _flags(lambda: ridge.oof_operator_from_gram(_streamed(X), folds, 1e-3))[1]


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")  # flagged: the cases measured
def test_the_estimate_follows_the_error():
    """gram_error's estimate against the Gram route's measured error (in-memory operator as the
    reference): within 30x either way where it flags, and the lost axes' case near 1."""
    folds = kfold_indices(40, 5, 0)
    n_tr = min(40 - len(te) for _, te in folds)
    Y = np.random.default_rng(5).normal(size=(40, 3))
    for scale in (1e5, 1e6, 1e8):
        X, _, _ = _one_big_unit(scale)
        Y1 = Y + X[:, 1:4]
        err = np.abs(ridge.oof_operator_from_gram(_streamed(X), folds, 1e-3) @ Y1 - ridge.oof_operator(X, folds, 1e-3) @ Y1).max()
        err /= np.abs(ridge.oof_operator(X, folds, 1e-3) @ Y1).max()
        K = ridge_rank._centred(np.asarray(_streamed(X).K))
        lam = np.linalg.eigvalsh(K)
        kept = int(ridge_rank.low_rank_factor(np.asarray(_streamed(X).K), 30).shape[1])
        est, _ = ridge_rank.gram_error(lam, kept, n_tr, 1e-3)
        assert est / 30 < err < 30 * est, (scale, est, err)
