"""Recognising out-of-memory errors of the accelerators, for code that falls back or reports instead of failing."""

from __future__ import annotations

import torch


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA / MPS out-of-memory errors, including cuDNN's failed workspace allocations."""
    oom_type = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    if isinstance(error, (oom_type, torch.cuda.OutOfMemoryError)):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("out of memory" in text.lower() or "CUDNN_STATUS_ALLOC_FAILED" in text)
