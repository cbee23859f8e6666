"""The low-precision dtypes, the CUDA autocast dtype in force and dtype-keeping residual arithmetic: one definition
for the layers, the kernels and the reversible couplings (eager and compiled)."""

from __future__ import annotations

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


def cuda_autocast_dtype() -> torch.dtype | None:
    """The dtype CUDA autocast casts to in this thread; None when autocast is off."""
    return torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None


def add_keeping_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b kept in a's dtype, so the residual stream's dtype never changes along a reversible sequence."""
    out = torch.add(a, b)
    return out if out.dtype == a.dtype else out.to(a.dtype)


def sub_keeping_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a - b kept in a's dtype (the inverse of `add_keeping_dtype`)."""
    out = torch.sub(a, b)
    return out if out.dtype == a.dtype else out.to(a.dtype)
