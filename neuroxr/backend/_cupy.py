"""CuPy specifics: moving arrays to and from the GPU. Imported only for CuPy arrays or when the
``"cupy"`` backend is asked for; every operation uses the generic array-API version."""

from __future__ import annotations

from typing import Any

import cupy
import numpy as np


def asarray(x: Any, device: str, dtype: np.dtype) -> Any:
    """``x`` as a CuPy array of ``dtype`` on the current GPU."""
    if type(x).__module__.startswith("torch"):
        from ._torch import to_numpy as torch_to_numpy  # torch is imported: x is a tensor

        x = torch_to_numpy(x)
    return cupy.asarray(x, dtype=dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy copy of a CuPy array."""
    return x.get()
