"""Region-based loss (nnU-Net's BraTS trainer): soft Dice + BCE on the sigmoid regions ET, TC, WT.

With deep supervision the network returns a list (full resolution first, then halves); targets are
downsampled by nearest neighbour and the terms are weighted 1, d, d^2, ... (normalised to sum 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine.labels import REGIONS

REGION_ORDER = ("ET", "TC", "WT")  # the sigmoid head's channel order (engine "brats2020-regions")


def region_targets(label: torch.Tensor) -> torch.Tensor:
    """(N, 3, D, H, W) float targets ET, TC, WT from an (N, D, H, W) BraTS 2020 label map."""
    label = label.long()
    channels = [torch.zeros_like(label, dtype=torch.bool) for _ in REGION_ORDER]
    for c, region in enumerate(REGION_ORDER):
        for value in REGIONS[region]:
            channels[c] |= label == value
    return torch.stack(channels, dim=1).float()


def soft_dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1e-5,
                   sum_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """1 - mean over regions of the batch soft Dice (sums over batch and space, as nnU-Net's batch Dice).

    ``sum_reduce`` sums the per-region sums over processes (an autograd-aware all-reduce under DDP), so the
    Dice is that of the global batch and N processes follow one process with the N-fold batch.
    """
    probabilities = torch.sigmoid(logits.float())
    dims = (0, *range(2, logits.dim()))
    sums = torch.stack([(probabilities * targets).sum(dims), probabilities.sum(dims) + targets.sum(dims)])
    if sum_reduce is not None:
        sums = sum_reduce(sums)
    intersection, denominator = sums[0], sums[1]
    dice = (2 * intersection + smooth) / (denominator + smooth)
    return 1.0 - dice.mean()


class RegionLoss(nn.Module):
    """Dice + BCE on the regions, optionally over deep-supervision outputs.

    Args:
        dice_weight, bce_weight: weights of the two terms.
        deep_supervision_decay: relative weight of each further (lower resolution) output.
        sum_reduce: sums the Dice's sums over processes (see ``soft_dice_loss``); None in one process.
    """

    def __init__(self, dice_weight: float = 1.0, bce_weight: float = 1.0, deep_supervision_decay: float = 0.5,
                 sum_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        if dice_weight < 0 or bce_weight < 0 or dice_weight + bce_weight == 0:
            raise ValueError("dice_weight and bce_weight must be >= 0 and not both 0")
        self.dice_weight, self.bce_weight, self.decay = dice_weight, bce_weight, deep_supervision_decay
        self.sum_reduce = sum_reduce

    def single(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits.float(), targets)
        return self.dice_weight * soft_dice_loss(logits, targets, sum_reduce=self.sum_reduce) + self.bce_weight * bce

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor], label: torch.Tensor) -> torch.Tensor:
        targets = region_targets(label)
        if isinstance(outputs, torch.Tensor):
            return self.single(outputs, targets)
        weights = [self.decay**i for i in range(len(outputs))]
        total = torch.zeros((), device=targets.device)
        for weight, logits in zip(weights, outputs, strict=True):
            scaled = targets if logits.shape[2:] == targets.shape[2:] else F.interpolate(
                targets, size=logits.shape[2:], mode="nearest")
            total = total + weight * self.single(logits, scaled)
        return total / sum(weights)
