"""torch fast paths (CPU or CUDA tensors): Cholesky solves and inverses, batched ranking.

Imported only for torch tensors or when a torch backend is asked for (so torch is already
imported then).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def asarray(x: Any, device: str, dtype: np.dtype) -> torch.Tensor:
    """``x`` as a tensor of ``dtype`` on ``device`` (``"cpu"`` or ``"cuda"``)."""
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=tdtype)
    if type(x).__module__.startswith("cupy"):
        x = x.get()
    return torch.as_tensor(np.ascontiguousarray(np.asarray(x), dtype=dtype), device=device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """A host NumPy copy (or view, on CPU) of a tensor; bfloat16 as float32 (NumPy has no bfloat16; exact)."""
    x = x.detach()
    if x.dtype == torch.bfloat16:
        x = x.to(torch.float32)
    return x.cpu().numpy()


def spd_solve(A: torch.Tensor, B: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """``A^{-1} B`` for SPD ``A`` from one Cholesky factorisation (general solve if it fails)."""
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info != 0).any()):
        return torch.linalg.solve(A, B)
    return torch.cholesky_solve(B, L)


def spd_solve_right(X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``X A^{-1}`` (batched) by an LU solve, as NumPy's path solves it, without the error check:
    ``torch.linalg.solve`` reads its status back to the host (a device synchronisation in each
    fold of each draw). The callers' ``A`` are nonsingular: Grams shifted by a resolved
    ``alpha > 0`` (:func:`~neuroxr.kernels.ridge_rank.check_resolved`), or the identity less a
    fold's block of a ridge hat matrix."""
    return torch.linalg.solve_ex(A, X, left=False, check_errors=False).result


def spd_inverse(A: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """Inverse of SPD ``A`` from one Cholesky factorisation (general inverse if it fails)."""
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info != 0).any()):
        return torch.linalg.inv(A)
    return torch.cholesky_inverse(L)


def sorted_ranks(links: torch.Tensor) -> torch.Tensor:
    """1-based average ranks, in sorted order, of sorted lanes with tie links ``links`` (..., n - 1):
    float64 (..., n), every lane at once (batched ``searchsorted`` of the group labels)."""
    from ._array_api import tie_groups

    g = tie_groups(links)
    rows = g.reshape(-1, g.shape[-1]).contiguous()
    lo = torch.searchsorted(rows, rows, side="left")
    hi = torch.searchsorted(rows, rows, side="right")
    return ((lo + hi + 1).to(torch.float64) / 2).reshape(g.shape)


def rank(x: torch.Tensor) -> torch.Tensor:
    """Average ranks along the last axis, all rows at once (one batched sort, ties by
    :func:`~neuroxr.backend._array_api.tie_links`, :func:`sorted_ranks`, one scatter back); NaN-free ``x``;
    in the dtype :func:`~neuroxr.backend._array_api.rank_dtype` names (float64 where float32 cannot hold them)."""
    from ._array_api import rank_dtype, tie_links

    if not x.is_floating_point():
        x = x.to(torch.float64)
    shape = x.shape
    dtype = rank_dtype(torch, x.dtype, int(shape[-1]))
    if shape[-1] == 0:
        return x.to(dtype, copy=True)
    rows = x.reshape(-1, shape[-1]).contiguous()
    s, order = torch.sort(rows, dim=-1)
    out = torch.empty(rows.shape, dtype=dtype, device=rows.device)
    return out.scatter_(-1, order, sorted_ranks(tie_links(s)).to(dtype)).reshape(shape)


def centred_triangle(X: torch.Tensor, block_bytes: int = 32 * 2**20) -> torch.Tensor:
    """``R^T`` of the QR factorisation ``Xc^T = Q R`` of the column-centred ``X`` (n, p), ``p > n``, as
    :func:`neuroxr.backend._array_api.centred_triangle`, without forming ``Q`` (``torch.linalg.qr``'s
    ``mode="r"``; the array API's QR computes ``Q`` too): blocks of columns one at a time."""
    n, p = X.shape
    block = max(4 * int(n), block_bytes // (X.element_size() * max(1, int(n))))
    R = None
    for lo in range(0, p, block):
        Xb = X[:, lo : lo + block]
        A = (Xb - Xb.mean(dim=0, keepdim=True)).T
        R = torch.linalg.qr(A if R is None else torch.cat([R, A], dim=0), mode="r").R
    return R.T.contiguous()

