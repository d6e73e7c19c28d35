"""Array backends: NumPy (default), torch (CPU or CUDA) and CuPy, behind one array-API namespace.

Kernels are written once against the array API standard: they call ``xp = get_namespace(x)``
on their inputs (``array_api_compat`` gives NumPy, CuPy and torch the standard's names) and
never import a backend themselves. This package picks the backend for a call, moves arrays to
it and back, and imports torch/CuPy only when one is asked for.

It is also the only home of per-backend fast paths. The operations below (Gram, SPD solves,
ranks, inversion and tie counts, normalised RDMs, ...) dispatch on the type of their first
array: the backend's module (``_numpy``, ``_torch``, ``_cupy``) when it has a version, else the
generic array-API one in ``_array_api``. Kernels call these and never test an array's type.

Backends: ``"numpy"``, ``"torch"`` (CPU), ``"torch_cuda"``, ``"cupy"``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "BackendError",
    "get_backend",
    "set_backend",
    "use_backend",
    "resolve_backend",
    "check_backend_name",
    "get_namespace",
    "asarray",
    "to_numpy",
    "HostWrites",
    "resolve_dtype",
    "gram_matrix",
    "shifted_gram",
    "normalized_dissimilarity",
    "upper_tri",
    "spd_solve",
    "spd_solve_right",
    "spd_inverse",
    "psd_pinv_solve",
    "colsum_prod",
    "centred_gram",
    "centred_triangle",
    "sum_last",
    "matmul_into",
    "subtract_into",
    "axpy_into",
    "spd_shift",
    "argsort",
    "outer_update_into",
    "submatrix",
    "rank",
    "rank_dtype",
    "TIE_RTOL",
    "lane_tolerance",
    "may_chain",
    "split_long_groups",
    "tie_links",
    "tie_groups",
    "sorted_ranks",
    "tie_pairs",
    "count_inversions",
    "pearson_vectors",
    "pow2_scaled",
    "get_blas_threads",
    "set_blas_threads",
    "use_blas_threads",
    "blas_threads",
    "with_blas_threads",
    "idle_cores",
    "cpu_threads",
    "one_blas_thread",
    "thread_map",
    "in_background",
]

BACKENDS = ("numpy", "torch", "torch_cuda", "cupy")
_current = "numpy"


from ..errors import BackendError, where  # noqa: E402
from . import _threads  # noqa: E402
from ._array_api import TIE_RTOL, lane_tolerance, may_chain, rank_dtype, split_long_groups  # noqa: E402
from ._threads import (  # noqa: E402
    blas_threads,
    cpu_threads,
    get_blas_threads,
    idle_cores,
    in_background,
    one_blas_thread,
    set_blas_threads,
    thread_map,
    use_blas_threads,
)


def with_blas_threads(fn: Callable) -> Callable:
    """Decorator: run ``fn`` under the BLAS thread policy (:func:`blas_threads`, resolved at entry)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with blas_threads():
            return fn(*args, **kwargs)

    return wrapper


def get_backend() -> str:
    """The name of the global default backend."""
    return _current


def set_backend(name: str) -> str:
    """Set the global default backend (checked: it must be usable here). Returns the old one.

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`.
    """
    return _set(name, "set_backend")


def _set(name: str, caller: str) -> str:
    """:func:`set_backend`, its refusal starting with ``caller``."""
    global _current
    old = _current
    _current = resolve_backend(name, caller)
    return old


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Context manager that sets the default backend for a block.

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`; the previous default is restored on exit.
    """
    old = _set(name, "use_backend")
    try:
        yield _current
    finally:
        _set(old, "use_backend")


def check_backend_name(name: Any, caller: str = "") -> None:
    """Refuse a backend that is not ``None`` nor one of :data:`BACKENDS` (whether it can run here is
    :func:`resolve_backend`'s), in a message starting with ``caller``."""
    if name is not None and (not isinstance(name, str) or name not in BACKENDS):
        raise BackendError(f"{where(caller)}backend={name!r} is not known; choose one of {BACKENDS}.")


def resolve_backend(name: str | None, caller: str = "") -> str:
    """Check a backend name (``None`` means the global default) and that it can run here; an unknown
    name is refused in a message starting with ``caller``, the public function called."""
    check_backend_name(name, caller)
    if name is None:
        return _current
    if name in ("torch", "torch_cuda"):
        try:
            torch = importlib.import_module("torch")
        except (ImportError, OSError) as exc:  # OSError: installed, a shared library it loads missing
            if not _missing(exc, "torch"):
                raise BackendError(f"{where(caller)}backend={name!r} needs torch, which is installed but failed to load "
                                   f"({_failure(exc)}): reinstall it, pip install '.[torch]' from the neuroxr repository.") from exc
            raise BackendError(
                f"{where(caller)}backend={name!r} needs torch, which is not installed: pip install '.[torch]' from the neuroxr repository."
            ) from exc
        _threads.adopt_torch()  # loaded inside a direction's thread limit: torch follows it too
        if name == "torch_cuda" and not torch.cuda.is_available():
            if getattr(torch.version, "cuda", None) is None:  # a CPU-only build never sees a GPU
                raise BackendError(
                    f"{where(caller)}backend='torch_cuda' needs a CUDA GPU and a CUDA build of torch, and torch "
                    f"{torch.__version__} is a CPU-only build: pip install '.[torch]' from the neuroxr repository with "
                    "a CUDA wheel of torch (pytorch.org) on a machine with a CUDA GPU, or use 'torch' or 'numpy'."
                )
            raise BackendError(f"{where(caller)}backend='torch_cuda' needs a CUDA GPU, and torch sees none here; use 'torch' or 'numpy'.")
    if name == "cupy":
        try:
            cupy = importlib.import_module("cupy")
        except (ImportError, OSError) as exc:
            if not _missing(exc, "cupy"):
                raise BackendError(f"{where(caller)}backend='cupy' needs CuPy, which is installed but failed to load ({_failure(exc)}): "
                                   "reinstall it for this machine's CUDA, pip install '.[gpu]' from the neuroxr repository.") from exc
            raise BackendError(f"{where(caller)}backend='cupy' needs CuPy: pip install '.[gpu]' from the neuroxr repository on a machine with a CUDA GPU.") from exc
        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing
            raise BackendError(f"{where(caller)}backend='cupy' needs a CUDA GPU; CuPy found none ({_failure(exc)}).") from exc
        if n == 0:
            raise BackendError(f"{where(caller)}backend='cupy' needs a CUDA GPU; CuPy found none.")
    return name


def _missing(exc: BaseException, module: str) -> bool:
    """Whether an import of ``module`` failed because it is not installed (not: installed, failing to load)."""
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == module


def _failure(exc: BaseException, limit: int = 160) -> str:
    """A failed import as a short reason on one line: its type and the start of its first line."""
    text = " ".join(str(exc).strip().split("\n", 1)[0].split())
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def get_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (NumPy, CuPy or torch through ``array_api_compat``)."""
    from array_api_compat import array_namespace

    return array_namespace(*arrays)


def resolve_dtype(dtype: Any, caller: str = "") -> np.dtype:
    """``"float32"``/``"float64"`` (or numpy dtypes) as a numpy dtype; other dtypes are refused (the
    message starting with ``caller``, the public function called)."""
    try:
        dt = np.dtype(dtype if dtype is not None else np.float64)
    except TypeError:
        raise BackendError(f"{where(caller)}dtype={dtype!r} is not a dtype; use 'float32' or 'float64'.") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise BackendError(f"{where(caller)}dtype={dtype!r} is not supported; use 'float32' or 'float64'.")
    return dt


def _array_module(x: Any) -> str:
    mod = type(x).__module__
    if mod == "numpy":
        return "numpy"
    if mod.startswith("torch"):
        return "torch"
    if mod.startswith("cupy"):
        return "cupy"
    return "other"


_IMPLS: dict[tuple[str, str], Callable[..., Any]] = {}


def _impl(name: str, x: Any) -> Callable[..., Any]:
    """The fast path of operation ``name`` for arrays like ``x``, else the generic one (looked up once)."""
    kind = _array_module(x)
    f = _IMPLS.get((name, kind))
    if f is None:
        if kind != "other":
            f = getattr(importlib.import_module(f"{__name__}._{kind}"), name, None)
        if f is None:
            from . import _array_api

            f = getattr(_array_api, name)
        _IMPLS[name, kind] = f
    return f


def asarray(x: Any, backend: str | None = None, dtype: Any = np.float64) -> Any:
    """Move ``x`` to ``backend`` (default: the global one) as a ``dtype`` array."""
    name = resolve_backend(backend, "asarray")
    dt = resolve_dtype(dtype, "asarray")
    if name == "numpy":
        return np.asarray(to_numpy(x), dtype=dt)
    if name in ("torch", "torch_cuda"):
        from . import _torch

        return _torch.asarray(x, "cuda" if name == "torch_cuda" else "cpu", dt)
    from . import _cupy

    return _cupy.asarray(x, "cuda", dt)


def to_numpy(x: Any) -> np.ndarray:
    """Bring an array of any backend back to host NumPy."""
    if isinstance(x, np.ndarray):
        return x
    kind = _array_module(x)
    if kind in ("torch", "cupy"):
        return importlib.import_module(f"{__name__}._{kind}").to_numpy(x)
    return np.asarray(x)


class HostWrites:
    """Writes of backend vectors into host arrays, deferred so that device vectors come back in one
    transfer (:meth:`flush`) rather than one per write (a loop's device-to-host round trips).

    ``put(dest, index, vec, then)`` does ``dest[index] = then(vec)`` with ``vec`` as host float64
    (``then``: default none): at once for a NumPy ``vec``; a device ``vec`` is kept (its array, not
    a copy) until :meth:`flush`, which stacks the kept vectors of one shape on their device and
    brings them back together. Not thread-safe for device vectors (NumPy ones are written at once)."""

    def __init__(self) -> None:
        self._kept: list[tuple[np.ndarray, Any, Any, Callable | None]] = []

    def put(self, dest: np.ndarray, index: Any, vec: Any, then: Callable | None = None) -> None:
        if isinstance(vec, np.ndarray):
            vec = vec.astype(np.float64, copy=False)
            dest[index] = vec if then is None else then(vec)
        else:
            self._kept.append((dest, index, vec, then))

    def flush(self) -> None:
        """Every kept write done, with one transfer per vector shape."""
        kept, self._kept = self._kept, []
        by_shape: dict[tuple[int, ...], list[tuple[np.ndarray, Any, Any, Callable | None]]] = {}
        for item in kept:
            by_shape.setdefault(tuple(item[2].shape), []).append(item)
        for items in by_shape.values():
            vecs = [v for _, _, v, _ in items]
            host = to_numpy(get_namespace(*vecs).stack(vecs)).astype(np.float64, copy=False)
            for (dest, index, _, then), row in zip(items, host):
                dest[index] = row if then is None else then(row)


# ---------------------------------------------------------------------------- dispatched operations


def gram_matrix(X: Any) -> Any:
    """``X X^T``, shape (n, n), exactly symmetric (NumPy: BLAS ``syrk`` mirrored in place)."""
    return _impl("gram_matrix", X)(X)


def shifted_gram(K: Any, u: Any, a: Any = None, p: float = 1.0, c: Any = None) -> Any:
    """``(u_i + u_j) + K_ij - a_i a_j / p + c_i c_j`` (exactly symmetric for symmetric ``K``; ``a``,
    ``c`` optional), shape (n, n)."""
    return _impl("shifted_gram", K)(K, u, a, p, c)


def normalized_dissimilarity(K: Any, u: Any, a: Any, p: float, rel_tol: float, overwrite: bool = False,
                             c: Any = None) -> Any:
    """``1 - clip(G_ij / sqrt(G_ii G_jj), -1, 1)`` with ``G = shifted_gram(K, u, a, p, c)``.

    Rows with ``G_ii`` zero up to ``rel_tol`` times the size of its cancelling terms are NaN; the
    diagonal is 0. NumPy: one blocked pass, written over ``K`` when ``overwrite``.
    """
    return _impl("normalized_dissimilarity", K)(K, u, a, p, rel_tol, overwrite, c)


def upper_tri(D: Any) -> Any:
    """Upper triangle (``i < j``, row-major) of (n, n) or (m, n, n) arrays."""
    return _impl("upper_tri", D)(D)


def spd_solve(A: Any, B: Any, overwrite: bool = False) -> Any:
    """Solve ``A X = B`` for symmetric positive-definite ``A`` (batched over leading dims).

    One Cholesky factorisation per matrix: LAPACK ``potrf``/``potrs`` through SciPy on NumPy,
    ``cholesky`` + ``cholesky_solve`` on torch, the generic solver elsewhere. ``overwrite=True``
    lets NumPy factorise in ``A``'s memory (then ``A`` must be positive definite:
    ``numpy.linalg.LinAlgError`` otherwise, ``A`` spoilt).
    """
    return _impl("spd_solve", A)(A, B, overwrite)


def centred_gram(X: Any) -> Any:
    """``Xc Xc^T`` (n, n) of the column-centred ``X`` (n, p), a block of columns at a time (NumPy:
    ``syrk`` into one triangle, mirrored once)."""
    return _impl("centred_gram", X)(X)


def centred_triangle(X: Any) -> Any:
    """``R^T`` (n, n) of the QR factorisation ``Xc^T = Q R`` of the column-centred ``X`` (n, p),
    ``p > n``: ``Xc`` rotated within the units onto ``n`` columns (``R^T R = Xc Xc^T`` without
    forming it; Householder, backward stable), a block of columns at a time."""
    return _impl("centred_triangle", X)(X)


def submatrix(K: Any, rows: Any, cols: Any) -> Any:
    """``K[rows][:, cols]`` for index arrays ``rows``, ``cols`` (NumPy: one copy of the result only)."""
    return _impl("submatrix", K)(K, rows, cols)


def spd_solve_right(X: Any, A: Any) -> Any:
    """``X A^{-1}`` for symmetric positive-definite ``A`` (batched; NumPy: explicit small inverse)."""
    return _impl("spd_solve_right", A)(X, A)


def spd_inverse(A: Any, overwrite: bool = False) -> Any:
    """Inverse of a symmetric positive-definite matrix ``A`` (2-D) from one Cholesky factorisation.

    NumPy: LAPACK ``potrf`` + ``potri`` (only the upper triangle is read; ``overwrite=True`` works
    in ``A``'s memory and raises ``numpy.linalg.LinAlgError`` when ``A`` is not positive definite);
    torch: ``cholesky`` + ``cholesky_inverse``; elsewhere the generic inverse.
    """
    return _impl("spd_inverse", A)(A, overwrite)


def psd_pinv_solve(A: Any, B: Any, rcond: float | None = None, scale: Any = 0.0) -> Any:
    """Minimum-norm solution of ``A X = B`` for symmetric positive semi-definite ``A`` (eigh); eigenvalues
    below ``rcond`` times the largest, or ``scale`` where larger (the size of what ``A`` was computed from), are zero."""
    return _impl("psd_pinv_solve", A)(A, B, rcond, scale)


def sum_last(x: Any) -> Any:
    """Sums over the last axis (NumPy: a short axis, e.g. the repeats, slice by slice)."""
    return _impl("sum_last", x)(x)


def colsum_prod(a: Any, b: Any) -> Any:
    """Sums over axis -2 of ``a * b`` (NumPy: einsum, no product materialised)."""
    return _impl("colsum_prod", a)(a, b)


def matmul_into(a: Any, b: Any, out: Any) -> Any:
    """``out[...] = a @ b`` (NumPy: no temporary)."""
    return _impl("matmul_into", out)(a, b, out)


def subtract_into(a: Any, b: Any, out: Any) -> Any:
    """``out[...] = a - b`` (NumPy: no temporary; ``out`` may be ``a`` or ``b``). Returns ``out``."""
    return _impl("subtract_into", out)(a, b, out)


def outer_update_into(A: Any, w: float, u: Any, v: Any) -> Any:
    """``A[...] = A + w u v^T`` for 2-D ``A`` (NumPy: in place, no ``A``-sized temporary). Returns ``A``."""
    return _impl("outer_update_into", A)(A, w, u, v)


def axpy_into(a: Any, w: float, b: Any, out: Any) -> Any:
    """``out[...] = a + w b`` (NumPy: no temporary). Returns ``out``."""
    return _impl("axpy_into", out)(a, w, b, out)


def spd_shift(M: Any, v: float) -> Any:
    """``M + v I`` for a symmetric ``M`` (batched) as an SPD system matrix: NumPy in place (LAPACK
    reads one triangle), elsewhere a symmetrised copy. Use the returned array."""
    return _impl("spd_shift", M)(M, v)


def argsort(x: Any) -> Any:
    """Indices sorting the last axis (not necessarily stable; NumPy: the SIMD quicksort)."""
    return _impl("argsort", x)(x)


def rank(x: Any) -> Any:
    """Average ranks (1-based; ties share their mean rank) along the last axis, as
    ``scipy.stats.rankdata(x, axis=-1)`` with values equal up to rounding tied (:func:`tie_links`).
    ``x`` must hold no NaN."""
    return _impl("rank", x)(x)


def tie_links(s: Any) -> Any:
    """Whether each value of sorted lanes ``s`` (..., n) ties with the one before it, bool (..., n - 1):
    their difference is at most :data:`TIE_RTOL` times the lane's largest magnitude, a chain of such
    links reaching further split so that each group spans that much at most (:func:`split_long_groups`;
    the one tie rule)."""
    return _impl("tie_links", s)(s)


def tie_groups(links: Any) -> Any:
    """0-based tie-group labels (int64, (..., n)) of sorted lanes from their :func:`tie_links` (..., n - 1)."""
    return _impl("tie_groups", links)(links)


def sorted_ranks(links: Any) -> Any:
    """1-based average ranks in sorted order (float64, (..., n)) of sorted lanes from their
    :func:`tie_links` (..., n - 1): with the sort's order, the ranks without a second sort."""
    return _impl("sorted_ranks", links)(links)


def tie_pairs(s: Any) -> int:
    """Number of tied pairs ``sum_g c_g (c_g - 1) / 2`` in a sorted vector ``s`` of exact labels
    (floating values: their :func:`tie_groups`)."""
    return _impl("tie_pairs", s)(s)


def count_inversions(perm: Any) -> int:
    """Number of pairs ``i < j`` with ``perm[i] > perm[j]`` of a permutation of ``0..P-1`` (``O(P log P)``)."""
    return _impl("count_inversions", perm)(perm)


def pearson_vectors(a: Any, b: Any, center: bool = True) -> float:
    """Pearson correlation (``center``) or cosine of two vectors in [-1, 1]; NaN when a norm is 0."""
    return _impl("pearson_vectors", a)(a, b, center)


def pow2_scaled(x: Any) -> Any:
    """``x`` rescaled per lane (last axis) by a power of two so that its largest finite magnitude is
    about 1: squares and products of RDM values then stay within floating range at any scale, and a
    scale-free measure (Pearson, cosine, ranks) is unchanged (NumPy: exact, no rounding)."""
    return _impl("pow2_scaled", x)(x)
