"""Group norm fused with its SiLU for CUDA inference, in two Triton kernels.

Why: under CUDA graphs the network's forward is bound by memory traffic, and the norm + activation pairs of
every MBConv block were the largest share after the depthwise convolution (H100 / H200 profile, docs/benchmarks.md:
the statistics read the tensor twice, ``addcmul`` reads and writes it, SiLU reads and writes it again, and below
2^19 elements a row PyTorch's own kernel gives each (sample, group) row one thread block). Here one grid-parallel
kernel reads the tensor once for partial sums and sums of squares per (sample, group), and one writes
``silu(x * scale + shift)`` (or the plain affine norm) in a single pass: three passes instead of six.

Used when all of these hold (``fused_applies``): CUDA, a contiguous bf16 / fp16 tensor, ``torch.inference_mode``
(training and the reversible recompute keep the ATen path, so forward and recompute stay bit-identical), not
inside ``torch.compile`` (Inductor fuses these itself), Triton importable and ``enabled`` not switched off.
Statistics are float32, as in ``engine.model.norm``.
"""

from __future__ import annotations

import functools
import logging

import torch

from engine.model.precision import LOW_PRECISION

log = logging.getLogger(__name__)

STATS_BLOCK = 4096
APPLY_BLOCK = 2048


class Switch:
    """Benchmarks and debugging turn the fused path off with ``Switch.enabled = False``."""

    enabled: bool = True


def fused_applies(x: torch.Tensor) -> bool:
    # The compile check comes first, so torch.compile traces none of the rest.
    return (not torch.compiler.is_compiling() and Switch.enabled and x.is_cuda and x.dtype in LOW_PRECISION
            and torch.is_inference_mode_enabled() and x.is_contiguous() and x.dim() >= 3
            and _kernels() is not None)


@functools.cache
def _kernels():  # noqa: ANN202 - (stats kernel, apply kernel), or None without Triton
    try:
        import triton
        import triton.language as tl
    except ImportError:
        log.info("Triton is not installed: group norms use PyTorch's kernels")
        return None

    @triton.jit
    def stats(x_ptr, sum_ptr, square_ptr, row_length, chunks, BLOCK: tl.constexpr):
        # One program: one BLOCK-long chunk of one (sample, group) row; partial sums are written, not atomically
        # added, so the result does not depend on the order programs run in.
        row = tl.program_id(0).to(tl.int64)
        chunk = tl.program_id(1)
        offsets = chunk * BLOCK + tl.arange(0, BLOCK)
        values = tl.load(x_ptr + row * row_length + offsets, mask=offsets < row_length, other=0.0).to(tl.float32)
        tl.store(sum_ptr + row * chunks + chunk, tl.sum(values, axis=0))
        tl.store(square_ptr + row * chunks + chunk, tl.sum(values * values, axis=0))

    @triton.jit
    def apply(x_ptr, scale_ptr, shift_ptr, out_ptr, spatial, SILU: tl.constexpr, BLOCK: tl.constexpr):
        # One program: BLOCK voxels of one (sample, channel) plane; scale and shift are that channel's.
        plane = tl.program_id(0).to(tl.int64)
        offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < spatial
        values = tl.load(x_ptr + plane * spatial + offsets, mask=mask, other=0.0).to(tl.float32)
        y = values * tl.load(scale_ptr + plane) + tl.load(shift_ptr + plane)
        if SILU:
            y = y * tl.sigmoid(y)
        tl.store(out_ptr + plane * spatial + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)

    return stats, apply


def affine_from_moments(mean: torch.Tensor, mean_square: torch.Tensor, weight: torch.Tensor | None,
                        bias: torch.Tensor | None, groups: int, channels: int,
                        eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A group norm as ``x * scale + shift`` per (sample, channel), from each (sample, group) row's moments.

    Args:
        mean, mean_square: (N * groups,) row means of x and of x^2, in the dtype the statistics are kept in.
        weight, bias: (C,) affine parameters, or None for none.

    Returns:
        scale and shift of shape (N, C) and the rows' reciprocal standard deviation (N * groups,).
    """
    n, dtype = mean.numel() // groups, mean.dtype
    rstd = torch.rsqrt((mean_square - mean.square()).clamp_min(0) + eps)
    per_group = rstd.view(n, groups, 1)
    scale = (per_group * weight.to(dtype).view(1, groups, -1) if weight is not None
             else per_group.expand(n, groups, channels // groups)).reshape(n, channels)
    centred = (mean.view(n, groups, 1) * scale.view(n, groups, -1)).view(n, channels)
    shift = bias.to(dtype).view(1, channels) - centred if bias is not None else -centred
    return scale, shift, rstd


def group_norm_silu(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, groups: int,
                    eps: float, silu: bool = True) -> torch.Tensor:
    """``silu(group_norm(x))`` (or the group norm alone) of a contiguous (N, C, ...) CUDA tensor, in x's dtype.

    Args:
        weight, bias: (C,) affine parameters, or None for none.
        groups: number of groups (divides C).
        eps: added to the variance.
        silu: apply SiLU after the norm.
    """
    kernels = _kernels()
    if kernels is None:
        raise RuntimeError("group_norm_silu needs Triton")
    stats_kernel, apply_kernel = kernels
    n, c = x.shape[:2]
    if c % groups:
        raise ValueError(f"{c} channels do not split into {groups} groups")
    spatial = x.numel() // (n * c)
    row_length = (c // groups) * spatial
    chunks = -(-row_length // STATS_BLOCK)
    partial_sum = torch.empty((n * groups, chunks), device=x.device, dtype=torch.float32)
    partial_square = torch.empty_like(partial_sum)
    with torch.cuda.device(x.device):  # Triton launches on the current device: make it x's
        stats_kernel[(n * groups, chunks)](x, partial_sum, partial_square, row_length, chunks, BLOCK=STATS_BLOCK,
                                           num_warps=8)
    mean, mean_square = partial_sum.sum(dim=1) / row_length, partial_square.sum(dim=1) / row_length
    scale, shift, _ = affine_from_moments(mean, mean_square, weight, bias, groups, c, eps)
    out = torch.empty_like(x)
    with torch.cuda.device(x.device):
        apply_kernel[(n * c, -(-spatial // APPLY_BLOCK))](x, scale.contiguous(), shift.contiguous(), out, spatial,
                                                         SILU=silu, BLOCK=APPLY_BLOCK, num_warps=4)
    return out
