"""Parameter and FLOP counts of a `UNetConfig`, computed on the meta device (no memory, no real compute)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from engine.model.config import UNetConfig
from engine.model.unet import build_network


@dataclass(frozen=True)
class ModelCost:
    """Size and forward cost of one network at one input size.

    Attributes:
        parameters: trainable parameter count.
        forward_flops: FLOPs of one forward pass (conv / matmul only; 1 multiply-add = 2 FLOPs).
        spatial: the input's spatial size the FLOPs are for.
        batch: batch size of that input.
    """

    parameters: int
    forward_flops: int
    spatial: tuple[int, int, int]
    batch: int

    @property
    def forward_gflops(self) -> float:
        return self.forward_flops / 1e9

    @property
    def forward_gmacs(self) -> float:
        return self.forward_flops / 2e9


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_cost(config: UNetConfig, spatial: tuple[int, int, int] = (128, 128, 128), batch: int = 1) -> ModelCost:
    """Parameters and forward FLOPs of `build_network(config)` for one (batch, in_channels, *spatial) input.

    FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (convolutions, transposed convolutions and
    matrix products, groups respected) on meta tensors, so even 256^3 inputs cost nothing to count. Norms,
    activations and element-wise ops are not counted (they are memory-bound and small in FLOPs).

    Args:
        config: the architecture.
        spatial: input size (D, H, W); padded internally like a real forward.
        batch: batch size.
    """
    if len(spatial) != 3 or any(int(s) < 1 for s in spatial):
        raise ValueError(f"spatial must be three positive sizes, got {spatial!r}")
    with torch.device("meta"):
        model = build_network(config).eval()
        x = torch.empty(batch, config.in_channels, *spatial)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return ModelCost(count_parameters(model), int(counter.get_total_flops()), tuple(int(s) for s in spatial), batch)
