"""The low-precision dtypes and the CUDA autocast dtype in force: one definition for the layers and kernels."""

from __future__ import annotations

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


def cuda_autocast_dtype() -> torch.dtype | None:
    """The dtype CUDA autocast casts to in this thread; None when autocast is off."""
    return torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None
