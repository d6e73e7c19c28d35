"""Array backends: NumPy (default), torch (CPU or CUDA) and CuPy, behind one array-API namespace.

Kernels are written once against the array API standard: they call ``xp = get_namespace(x)``
on their inputs (``array_api_compat`` gives NumPy, CuPy and torch the standard's names) and
never import a backend themselves. This module picks the backend for a call, moves arrays to
it and back, and imports torch/CuPy only when one is asked for.

Backends: ``"numpy"``, ``"torch"`` (CPU), ``"torch_cuda"``, ``"cupy"``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "BackendError",
    "get_backend",
    "set_backend",
    "use_backend",
    "resolve_backend",
    "get_namespace",
    "asarray",
    "to_numpy",
    "resolve_dtype",
]

BACKENDS = ("numpy", "torch", "torch_cuda", "cupy")
_current = "numpy"


from .errors import BackendError  # noqa: E402


def get_backend() -> str:
    """The name of the global default backend."""
    return _current


def set_backend(name: str) -> str:
    """Set the global default backend (checked: it must be usable here). Returns the old one."""
    global _current
    old = _current
    _current = resolve_backend(name)
    return old


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Context manager that sets the default backend for a block."""
    old = set_backend(name)
    try:
        yield _current
    finally:
        set_backend(old)


def resolve_backend(name: str | None) -> str:
    """Check a backend name (``None`` means the global default) and that it can run here."""
    if name is None:
        return _current
    if name not in BACKENDS:
        raise BackendError(f"backend={name!r} is not known; choose one of {BACKENDS}.")
    if name in ("torch", "torch_cuda"):
        try:
            torch = importlib.import_module("torch")
        except ImportError as exc:
            raise BackendError(
                f"backend={name!r} needs torch, which is not installed: pip install 'neuroxr[torch]'."
            ) from exc
        if name == "torch_cuda" and not torch.cuda.is_available():
            raise BackendError("backend='torch_cuda' needs a CUDA GPU, and torch sees none here; use 'torch' or 'numpy'.")
    if name == "cupy":
        try:
            cupy = importlib.import_module("cupy")
        except ImportError as exc:
            raise BackendError("backend='cupy' needs CuPy: pip install 'neuroxr[gpu]' on a machine with a CUDA GPU.") from exc
        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing
            raise BackendError(f"backend='cupy' needs a CUDA GPU; CuPy found none ({exc}).") from exc
        if n == 0:
            raise BackendError("backend='cupy' needs a CUDA GPU; CuPy found none.")
    return name


def get_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (NumPy, CuPy or torch through ``array_api_compat``)."""
    from array_api_compat import array_namespace

    return array_namespace(*arrays)


def resolve_dtype(dtype: Any) -> np.dtype:
    """``"float32"``/``"float64"`` (or numpy dtypes) as a numpy dtype; other dtypes are refused."""
    dt = np.dtype(dtype if dtype is not None else np.float64)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise BackendError(f"dtype={dtype!r} is not supported; use 'float32' or 'float64'.")
    return dt


def asarray(x: Any, backend: str | None = None, dtype: Any = np.float64) -> Any:
    """Move ``x`` to ``backend`` (default: the global one) as a ``dtype`` array."""
    name = resolve_backend(backend)
    dt = resolve_dtype(dtype)
    if name == "numpy":
        return np.asarray(to_numpy(x), dtype=dt)
    if name in ("torch", "torch_cuda"):
        import torch

        device = "cuda" if name == "torch_cuda" else "cpu"
        tdtype = torch.float32 if dt == np.float32 else torch.float64
        if isinstance(x, torch.Tensor):
            return x.to(device=device, dtype=tdtype)
        return torch.as_tensor(np.ascontiguousarray(to_numpy(x), dtype=dt), device=device)
    import cupy

    return cupy.asarray(to_numpy(x) if not _is_cupy(x) else x, dtype=dt)


def _is_cupy(x: Any) -> bool:
    return type(x).__module__.startswith("cupy")


def to_numpy(x: Any) -> np.ndarray:
    """Bring an array of any backend back to host NumPy."""
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("torch"):
        return x.detach().cpu().numpy()
    if mod.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def spd_solve(A: Any, B: Any) -> Any:
    """Solve ``A X = B`` for symmetric positive-definite ``A`` (batched over leading dims).

    One Cholesky factorisation per matrix: LAPACK ``posv`` through SciPy on NumPy,
    ``cholesky`` + ``cholesky_solve`` on torch, and the generic solver on CuPy.
    """
    mod = type(A).__module__
    if mod.startswith("torch"):
        import torch

        L, info = torch.linalg.cholesky_ex(A)
        if bool((info != 0).any()):
            return torch.linalg.solve(A, B)
        return torch.cholesky_solve(B, L)
    if isinstance(A, np.ndarray):
        import scipy.linalg

        if A.ndim == 2:
            # cho_factor/cho_solve (LAPACK potrf/potrs): scipy.linalg.solve(assume_a="pos") adds a
            # condition-number estimate that costs several times the factorisation
            try:
                return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, check_finite=False), B, check_finite=False)
            except np.linalg.LinAlgError:
                return np.linalg.solve(A, B)
        return np.linalg.solve(A, B)  # batched LAPACK gesv over the leading dims
    xp = get_namespace(A, B)
    return xp.linalg.solve(A, B)


def spd_inverse(A: Any, overwrite: bool = False) -> Any:
    """Inverse of a symmetric positive-definite matrix ``A`` (2-D) from one Cholesky factorisation.

    LAPACK ``potrf`` + ``potri`` through SciPy on NumPy (half the work of a general inverse;
    only the upper triangle of ``A`` is read; ``overwrite=True`` lets it work in ``A``'s memory),
    ``cholesky`` + ``cholesky_inverse`` on torch, the generic inverse elsewhere. Falls back to a
    general inverse when ``A`` is not numerically positive definite.
    """
    mod = type(A).__module__
    if mod.startswith("torch"):
        import torch

        L, info = torch.linalg.cholesky_ex(A)
        if bool((info != 0).any()):
            return torch.linalg.inv(A)
        return torch.cholesky_inverse(L)
    if isinstance(A, np.ndarray):
        from scipy.linalg import lapack

        potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (A,))
        # LAPACK works on the Fortran-ordered transpose of a C-ordered A: its "lower" triangle
        # is A's upper one; the result is symmetric, so reading it back transposed is the same
        At = A.T
        c, info = potrf(At, lower=True, clean=False, overwrite_a=overwrite and At.flags.f_contiguous)
        if info == 0:
            inv, info = potri(c, lower=True, overwrite_c=True)
        if info != 0:
            if overwrite and At.flags.f_contiguous:  # A's values are gone: let the caller fall back
                raise np.linalg.LinAlgError("spd_inverse: the matrix is not positive definite.")
            return np.linalg.inv(np.triu(A) + np.triu(A, 1).T)
        out = inv.T  # C-ordered; its upper triangle holds the inverse
        _mirror_upper(out)
        return out
    xp = get_namespace(A)
    return xp.linalg.inv(A)


def _mirror_upper(M: np.ndarray, block: int = 256) -> None:
    """Copy the upper triangle of square ``M`` onto its lower one, in place, a block at a time."""
    n = M.shape[0]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        M[lo:hi, :lo] = M[:lo, lo:hi].T
        D = M[lo:hi, lo:hi]
        low = np.tril_indices(hi - lo, -1)
        D[low] = D.T[low]


def psd_pinv_solve(A: Any, B: Any, rcond: float | None = None) -> Any:
    """Minimum-norm solution of ``A X = B`` for symmetric positive semi-definite ``A``.

    Eigenvalues below ``rcond * max(eigenvalue)`` (default: machine epsilon times the size)
    count as zero, as a least-squares solver treats singular values.
    """
    xp = get_namespace(A, B)
    w, V = xp.linalg.eigh(A)
    if rcond is None:
        rcond = float(np.finfo(np.float64 if w.dtype == xp.float64 else np.float32).eps) * A.shape[-1]
    cutoff = rcond * xp.max(w, axis=-1, keepdims=True)
    inv = xp.where(w > cutoff, 1.0 / xp.where(w > cutoff, w, xp.ones_like(w)), xp.zeros_like(w))
    VtB = xp.matmul(xp.matrix_transpose(V) if hasattr(xp, "matrix_transpose") else xp.swapaxes(V, -1, -2), B)
    return xp.matmul(V, inv[..., :, None] * VtB)
