"""MBConv3D and its parts: norm / activation factories, squeeze-and-excitation, stochastic depth.

The MBConv block (MobileNetV2 / EfficientNet inverted bottleneck, in 3D) is the F and G function of the
reversible couplings: 1x1x1 expansion -> norm -> act -> depthwise kxkxk -> norm -> act -> SE -> (dropout) ->
1x1x1 linear projection -> norm -> (stochastic depth).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.model.depthwise import DepthwiseConv3d
from engine.model.eager import eager_only
from engine.model.fused_norm import fused_applies, group_norm_silu
from engine.model.norm import GroupNorm3d, autocast_active
from engine.model.precision import LOW_PRECISION

__all__ = ["LOW_PRECISION", "DropPath", "EagerDropout", "GroupNorm3d", "MBConv3d", "SqueezeExcite3d",
           "autocast_active", "make_activation", "make_norm"]

def make_norm(kind: str, channels: int, groups: int) -> nn.Module:
    """Normalisation layer by name.

    Args:
        kind: "group", "instance" (= group norm with one channel per group, affine), "batch" or "none".
        channels: channels to normalise.
        groups: wanted group count for "group"; the largest divisor of `channels` not above it is used.
    """
    if kind == "group":
        return GroupNorm3d(math.gcd(groups, channels), channels)
    if kind == "instance":
        return GroupNorm3d(channels, channels)
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use group, instance, batch or none")


def make_activation(kind: str) -> nn.Module:
    """Activation layer by name ("silu", "relu", "gelu", "leaky_relu", "mish")."""
    factories = {
        "silu": nn.SiLU,
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "leaky_relu": lambda: nn.LeakyReLU(0.01),
        "mish": nn.Mish,
    }
    if kind not in factories:
        raise ValueError(f"unknown activation {kind!r}; use one of {sorted(factories)}")
    return factories[kind]()


def norm_scale(norm: nn.Module) -> nn.Parameter | None:
    """The affine scale of a norm layer, or None when it has none."""
    weight = getattr(norm, "weight", None)
    return weight if isinstance(weight, nn.Parameter) else None


class SqueezeExcite3d(nn.Module):
    """Channel attention: global average pool -> 1x1x1 reduce -> act -> 1x1x1 expand -> sigmoid -> scale.

    Args:
        channels: channels of the tensor to re-weight.
        reduced: bottleneck channels.
        activation: activation name for the bottleneck.
    """

    def __init__(self, channels: int, reduced: int, activation: str) -> None:
        super().__init__()
        # Linear layers on the pooled (N, C) vector: same maths as 1x1x1 convs, far less launch overhead.
        self.reduce = nn.Linear(channels, reduced)
        self.act = make_activation(activation)
        self.expand = nn.Linear(reduced, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.sigmoid(self.expand(self.act(self.reduce(x.mean(dim=(2, 3, 4))))))
        if scale.dtype != x.dtype:
            scale = scale.to(x.dtype)
        return x * scale.view(*scale.shape, 1, 1, 1)


class EagerDropout(nn.Dropout):
    """Element-wise dropout that always runs eagerly, also inside a `torch.compile`d block.

    Compiled graphs draw random numbers differently in grad and no-grad mode, so the reversible backward's
    recompute (grad mode) would not reproduce the forward's (no-grad) mask. Eager dropout consumes the
    global generator identically in both, which the RNG replay restores exactly.
    """

    @eager_only
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)


class DropPath(nn.Module):
    """Stochastic depth: zero the whole branch for a random subset of samples (training only).

    Args:
        probability: chance of dropping the branch for each sample; survivors are scaled by 1 / (1 - p).
    """

    def __init__(self, probability: float) -> None:
        super().__init__()
        self.probability = float(probability)

    @eager_only  # eager, for the same reason as EagerDropout
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.probability == 0.0:
            return x
        keep = 1.0 - self.probability
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * (mask / keep)

    def extra_repr(self) -> str:
        return f"probability={self.probability}"


def norm_then_activation(norm: nn.Module, activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``activation(norm(x))``; a group norm and SiLU run as one Triton pass in CUDA inference (fused_norm)."""
    if fused_applies(x) and isinstance(norm, GroupNorm3d) and norm.affine and isinstance(activation, nn.SiLU):
        return group_norm_silu(x, norm.weight, norm.bias, norm.num_groups, norm.eps)
    return activation(norm(x))


class MBConv3d(nn.Module):
    """3D inverted bottleneck (MBConv) with squeeze-and-excitation; input and output shapes are equal.

    Args:
        channels: input = output channels.
        expansion: hidden channels = channels * expansion (1 skips the expansion conv).
        kernel_size: odd depthwise kernel size.
        norm: norm name (see `make_norm`); "none" gives the convs a bias instead.
        norm_groups: group count for group norm.
        activation: activation name (see `make_activation`).
        se_ratio: SE bottleneck = max(1, int(channels * se_ratio)); 0 disables SE.
        dropout: dropout probability before the projection.
        drop_path: stochastic-depth probability of the whole block output.
        zero_init: initialise the output to zero (last norm scale, or projection weight without norm).
    """

    def __init__(
        self,
        channels: int,
        *,
        expansion: int = 4,
        kernel_size: int = 3,
        norm: str = "group",
        norm_groups: int = 8,
        activation: str = "silu",
        se_ratio: float = 0.25,
        dropout: float = 0.0,
        drop_path: float = 0.0,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        hidden = channels * expansion
        bias = norm == "none"
        self.expand = nn.Identity() if expansion == 1 else nn.Conv3d(channels, hidden, 1, bias=bias)
        self.norm1 = nn.Identity() if expansion == 1 else make_norm(norm, hidden, norm_groups)
        self.act1 = nn.Identity() if expansion == 1 else make_activation(activation)
        self.depthwise = DepthwiseConv3d(hidden, kernel_size, bias=bias)
        self.norm2 = make_norm(norm, hidden, norm_groups)
        self.act2 = make_activation(activation)
        se_channels = max(1, int(channels * se_ratio))
        self.se = SqueezeExcite3d(hidden, se_channels, activation) if se_ratio > 0 else nn.Identity()
        self.dropout = EagerDropout(dropout) if dropout > 0 else nn.Identity()
        self.project = nn.Conv3d(hidden, channels, 1, bias=bias)
        self.norm3 = make_norm(norm, channels, norm_groups)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if zero_init:
            self._zero_output()

    def _zero_output(self) -> None:
        scale = norm_scale(self.norm3)
        with torch.no_grad():
            if scale is not None:
                scale.zero_()
            else:
                self.project.weight.zero_()
                if self.project.bias is not None:
                    self.project.bias.zero_()

    @property
    def has_randomness(self) -> bool:
        """True when the forward pass draws random numbers in training mode (dropout / drop path)."""
        return not isinstance(self.dropout, nn.Identity) or not isinstance(self.drop_path, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = norm_then_activation(self.norm1, self.act1, self.expand(x))
        x = norm_then_activation(self.norm2, self.act2, self.depthwise(x))
        x = self.dropout(self.se(x))
        return self.drop_path(self.norm3(self.project(x)))
