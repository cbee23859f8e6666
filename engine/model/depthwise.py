"""Depthwise 3x3x3 convolution with a Triton kernel for CUDA inference.

The H100 profile of the default network (docs/benchmarks.md) puts PyTorch's native ``conv_depthwise3d`` kernel
at 35 % of an inference forward: cuDNN is not used for depthwise 3D convolutions in bf16, and the native
kernel is far from the memory bandwidth such a convolution needs. ``DepthwiseConv3d`` is an ``nn.Conv3d`` (same
parameters and state-dict keys) that runs a Triton kernel instead when all of these hold: CUDA tensors, inference
mode (``torch.inference_mode``, as the predictor runs; training and the reversible recompute keep PyTorch's
kernel, so the forward and its recompute stay bit-identical), a 3x3x3 kernel with stride 1, padding 1, one
channel per group, not inside ``torch.compile``, and Triton importable. Elsewhere it is ``nn.Conv3d``.

Inside ``torch.compile`` the kernel is the custom operator ``revseg::depthwise3x3x3`` (opaque to Inductor, which
would otherwise emit PyTorch's slow kernel), for layers whose ``triton_when_compiled`` is set: the predictor sets
it when it compiles a network for inference. Training never sets it, as the operator has no backward.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn

from engine.model.precision import LOW_PRECISION, cuda_autocast_dtype

log = logging.getLogger(__name__)


class DepthwiseConv3d(nn.Conv3d):
    """``nn.Conv3d(channels, channels, 3, padding=1, groups=channels)``, Triton-backed in CUDA inference.

    Args:
        channels: input and output channels (one filter each).
        bias: learnable bias.
    """

    #: switch for benchmarks and debugging (False: always PyTorch's kernel)
    use_triton: bool = True
    #: use the Triton operator inside torch.compile too (inference only: set by the predictor)
    triton_when_compiled: bool = False

    def __init__(self, channels: int, kernel_size: int = 3, bias: bool = False) -> None:
        super().__init__(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            if self.triton_when_compiled and DepthwiseConv3d.use_triton and self._triton_shape(x):
                return torch.ops.revseg.depthwise3x3x3(x, self.weight, self.bias)
            return super().forward(x)
        if self._triton_applies(x):
            return depthwise3x3x3(x, self.weight, self.bias)
        return super().forward(x)

    def _triton_shape(self, x: torch.Tensor) -> bool:
        """The compiled path's test: a CUDA bf16 / fp16 input the kernel fits (Triton's presence was checked when
        the flag was set, as tracing its import would break the graph)."""
        return x.dtype in LOW_PRECISION and self._kernel_fits(x)

    def _triton_applies(self, x: torch.Tensor) -> bool:
        # The compile check comes first, so torch.compile traces none of the rest (no guards, no recompiles).
        return (not torch.compiler.is_compiling() and DepthwiseConv3d.use_triton and self._kernel_fits(x)
                and torch.is_inference_mode_enabled() and _low_precision_output(x) and _triton_kernel() is not None)

    def _kernel_fits(self, x: torch.Tensor) -> bool:
        """A CUDA (N, C, D, H, W) input at most 256 wide, and this layer 3x3x3 with stride 1 and padding 1."""
        return (x.is_cuda and x.dim() == 5 and x.shape[-1] <= 256 and self.kernel_size == (3, 3, 3)
                and self.stride == (1, 1, 1) and self.padding == (1, 1, 1) and self.dilation == (1, 1, 1))


def triton_available() -> bool:
    """Whether the Triton kernel can run here (Triton importable)."""
    return _triton_kernel() is not None


def _low_precision_output(x: torch.Tensor) -> bool:
    """bf16 / fp16 output (under autocast or by input dtype): in fp32 PyTorch's kernel measured faster."""
    return (cuda_autocast_dtype() or x.dtype) in LOW_PRECISION


@functools.cache
def _triton_kernel():  # noqa: ANN202 - a triton.JITFunction, or None without Triton
    try:
        import triton
        import triton.language as tl
    except ImportError:
        log.info("Triton is not installed: depthwise convolutions use PyTorch's kernel")
        return None

    @triton.jit
    def kernel(x_ptr, w_ptr, b_ptr, out_ptr, C, D, H, W,
               BLOCK_D: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
        # One program: BLOCK_D consecutive output planes of one (n, c), a BLOCK_H x BLOCK_W patch of each. Input
        # planes are streamed once: each one's 9 in-plane shifts feed the three output planes it touches
        # (rolling accumulators), so an input element is loaded 9 times rather than 27.
        nc = tl.program_id(0).to(tl.int64)
        c = nc % C
        d0 = tl.program_id(1) * BLOCK_D
        rows = tl.program_id(2) * BLOCK_H + tl.arange(0, BLOCK_H)
        cols = tl.arange(0, BLOCK_W)  # the whole width in one block
        in_plane = (rows < H)[:, None] & (cols < W)[None, :]
        bias = tl.load(b_ptr + c).to(tl.float32)
        below = tl.zeros((BLOCK_H, BLOCK_W), dtype=tl.float32)  # output plane p - 1
        here = tl.zeros((BLOCK_H, BLOCK_W), dtype=tl.float32)   # output plane p
        above = tl.zeros((BLOCK_H, BLOCK_W), dtype=tl.float32)  # output plane p + 1
        for i in tl.static_range(BLOCK_D + 2):
            p = d0 - 1 + i
            depth_ok = (p >= 0) & (p < D)
            base = x_ptr + (nc * D + p) * H * W
            for kh in tl.static_range(3):
                r = rows + kh - 1
                row_ok = (r >= 0) & (r < H)
                for kw in tl.static_range(3):
                    q = cols + kw - 1
                    mask = depth_ok & row_ok[:, None] & ((q >= 0) & (q < W))[None, :]
                    values = tl.load(base + r[:, None] * W + q[None, :], mask=mask, other=0.0).to(tl.float32)
                    tap = c * 27 + kh * 3 + kw
                    below += values * tl.load(w_ptr + tap + 18).to(tl.float32)  # kd = 2: p = (p - 1) + 1
                    here += values * tl.load(w_ptr + tap + 9).to(tl.float32)
                    above += values * tl.load(w_ptr + tap).to(tl.float32)       # kd = 0: p = (p + 1) - 1
            done = p - 1  # output plane p - 1 has now seen input planes p - 2, p - 1 and p
            if i >= 1:
                keep = in_plane & (done >= d0) & (done < D)
                out = out_ptr + (nc * D + done) * H * W + rows[:, None] * W + cols[None, :]
                tl.store(out, (below + bias).to(out_ptr.dtype.element_ty), mask=keep)
            below = here
            here = above
            above = tl.zeros((BLOCK_H, BLOCK_W), dtype=tl.float32)

    return kernel


def depthwise3x3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                   out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Depthwise 3x3x3 convolution (stride 1, zero padding 1) of an (N, C, D, H, W) CUDA tensor with Triton.

    The output dtype is ``out_dtype``, by default following autocast like ``F.conv3d`` (the autocast dtype when
    autocast is on, else x's); products are summed in float32.
    """
    kernel = _triton_kernel()
    if kernel is None:
        raise RuntimeError("depthwise3x3x3 needs Triton")
    n, c, d, h, w = x.shape
    if tuple(weight.shape) != (c, 1, 3, 3, 3):
        raise ValueError(f"expected a ({c}, 1, 3, 3, 3) depthwise weight, got {tuple(weight.shape)}")
    dtype = out_dtype or cuda_autocast_dtype() or x.dtype
    x = x.contiguous()
    out = torch.empty((n, c, d, h, w), device=x.device, dtype=dtype)
    block_w = max(16, 1 << (w - 1).bit_length())  # the whole width (tiles are <= 256 wide)
    block_h = max(1, 1024 // block_w)
    block_d = 8
    grid = (n * c, -(-d // block_d), -(-h // block_h))
    bias = bias if bias is not None else torch.zeros(c, device=x.device, dtype=torch.float32)
    with torch.cuda.device(x.device):  # Triton launches on the current device: make it x's (cuda:1 in batch mode)
        kernel[grid](x, weight.contiguous(), bias.contiguous(), out, c, d, h, w,
                     BLOCK_D=block_d, BLOCK_H=block_h, BLOCK_W=block_w)
    return out


@torch.library.custom_op("revseg::depthwise3x3x3", mutates_args=(),
                         schema="(Tensor x, Tensor weight, Tensor? bias) -> Tensor")
def _compiled_depthwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The Triton kernel as an operator torch.compile keeps as it is; the output has x's dtype."""
    return depthwise3x3x3(x, weight, bias, out_dtype=x.dtype)


@_compiled_depthwise.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.empty_like(x, memory_format=torch.contiguous_format)
