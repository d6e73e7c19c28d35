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
    """A host NumPy copy (or view, on CPU) of a tensor."""
    return x.detach().cpu().numpy()


def spd_solve(A: torch.Tensor, B: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """``A^{-1} B`` for SPD ``A`` from one Cholesky factorisation (general solve if it fails)."""
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info != 0).any()):
        return torch.linalg.solve(A, B)
    return torch.cholesky_solve(B, L)


def spd_inverse(A: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """Inverse of SPD ``A`` from one Cholesky factorisation (general inverse if it fails)."""
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info != 0).any()):
        return torch.linalg.inv(A)
    return torch.cholesky_inverse(L)


def rank(x: torch.Tensor) -> torch.Tensor:
    """Average ranks along the last axis, all rows at once (batched ``searchsorted``); NaN-free ``x``."""
    if not x.is_floating_point():
        x = x.to(torch.float64)
    shape = x.shape
    rows = x.reshape(-1, shape[-1]).contiguous()
    s = torch.sort(rows, dim=-1).values
    lo = torch.searchsorted(s, rows, side="left")
    hi = torch.searchsorted(s, rows, side="right")
    return ((lo + hi + 1).to(x.dtype) / 2).reshape(shape)
