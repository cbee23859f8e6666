"""Group normalisation tuned for training memory and speed of large 3D volumes at batch size 1.

* Under autocast the input dtype (bf16 / fp16) is kept: autocast would run group_norm in float32, saving a
  float32 copy of the input and handing a float32 tensor to the activation, which saves that too (twice the
  activation memory). The kernels accumulate statistics in float32 for low-precision inputs anyway.
* On CUDA, large groups use `_RowwiseGroupNorm`: PyTorch's group-norm forward reduces each (sample, group) row
  with a single thread block, so at batch 1 with 8 groups only 8 of 132 SMs work on a 128^3 volume. Here
  the statistics come from ordinary (grid-parallel) float32 reductions and the normalisation is one fused
  multiply-add; backward reuses ATen's group-norm backward, so memory use is unchanged (input + statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.model.fused_norm import affine_from_moments, fused_applies, group_norm_silu
from engine.model.precision import LOW_PRECISION

# Rows (elements per sample and group) at least this long take the grid-parallel path on CUDA.
FAST_ROW_ELEMENTS = 1 << 19


def autocast_active(device_type: str) -> bool:
    """Whether autocast is on for `device_type` in this thread (works on torch >= 2.3)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no argument and only answers for CUDA
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled()
        return device_type == "cuda" and torch.is_autocast_enabled()
    except RuntimeError:  # a device type autocast does not know (e.g. "meta")
        return False


class _RowwiseGroupNorm(torch.autograd.Function):
    """Affine group norm with grid-parallel float32 statistics; output in the input's dtype."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
        # No autocast guard needed (it costs host time): sum and vector_norm get an explicit dtype, which
        # autocast leaves alone, and the other ops are not on its lists or act on float32 already.
        n, c = x.shape[:2]
        stats = torch.float32 if x.dtype in LOW_PRECISION else x.dtype
        rows = x.reshape(n * groups, -1)
        count = rows.shape[1]
        mean = rows.sum(dim=1, dtype=stats) / count
        mean_square = torch.linalg.vector_norm(rows, 2, dim=1, dtype=stats).square() / count
        scale, shift, rstd = affine_from_moments(mean, mean_square, weight, bias, groups, c, eps)
        shape = (n, c) + (1,) * (x.dim() - 2)
        y = torch.addcmul(shift.to(x.dtype).view(shape), x, scale.to(x.dtype).view(shape))
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.groups = groups
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, mean, rstd = ctx.saved_tensors
        n, c = x.shape[:2]
        groups = ctx.groups
        # ATen's kernel reads statistics and weight in the input's dtype (as its own forward stores them).
        dx, dweight, dbias = torch.ops.aten.native_group_norm_backward(
            dy.contiguous(), x, mean.view(n, groups).to(x.dtype), rstd.view(n, groups).to(x.dtype),
            weight.to(x.dtype), n, c, x.numel() // (n * c), groups, list(ctx.needs_input_grad[:3]),
        )
        return dx, _as(dweight, weight), _as(dbias, weight), None, None


def _as(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if grad is None else grad.to(like.dtype)


def rowwise_group_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
    """Group norm through `_RowwiseGroupNorm` (any device; used on CUDA for large rows).

    Args:
        x: (N, C, ...) contiguous input.
        weight, bias: (C,) affine parameters.
        groups: number of groups (divides C).
        eps: added to the variance.
    """
    return _RowwiseGroupNorm.apply(x.contiguous(), weight, bias, groups, eps)


class GroupNorm3d(nn.GroupNorm):
    """`nn.GroupNorm` that keeps a low-precision input's dtype under autocast and is fast on big volumes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fused_applies(x) and self.affine:  # CUDA inference: Triton, statistics and affine in three passes
            return group_norm_silu(x, self.weight, self.bias, self.num_groups, self.eps, silu=False)
        n, c = x.shape[:2]
        if (
            x.device.type == "cuda"
            and self.affine
            and x.is_contiguous()
            and x.numel() // (n * self.num_groups) >= FAST_ROW_ELEMENTS
        ):
            return _RowwiseGroupNorm.apply(x, self.weight, self.bias, self.num_groups, self.eps)
        if x.dtype in LOW_PRECISION and autocast_active(x.device.type):
            # native_group_norm is not on autocast's float32 list (group_norm is): it runs in the input dtype.
            weight = self.weight.to(x.dtype) if self.weight is not None else None
            bias = self.bias.to(x.dtype) if self.bias is not None else None
            return torch.ops.aten.native_group_norm(
                x.contiguous(), weight, bias, n, c, x.numel() // (n * c), self.num_groups, self.eps
            )[0]
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
