"""Merger: accumulate weighted tile predictions into one preallocated buffer.

Only the running sums live in memory (``channels x volume`` values plus one weight per voxel), never all the
tiles' predictions at once. Half-precision accumulation is allowed to save memory; if the sums overflow
(inf / NaN), the merger switches to float32 and the caller replays the tiles (``overflowed``).
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


class WeightedMerger:
    """Sum of ``weight * prediction`` and of ``weight`` per voxel; ``result()`` is their ratio.

    Args:
        channels: prediction channels.
        shape: spatial shape of the (padded) volume.
        device: where the buffers live.
        dtype: accumulation dtype (float32, or float16 / bfloat16 to save memory).
    """

    def __init__(self, channels: int, shape: tuple[int, int, int], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.channels, self.shape, self.device, self.dtype = channels, tuple(shape), torch.device(device), dtype
        self.values = torch.zeros((channels, *shape), device=self.device, dtype=dtype)
        self.weights = torch.zeros(tuple(shape), device=self.device, dtype=torch.float32)

    def add(self, prediction: torch.Tensor, slices: tuple[slice, slice, slice], weight: torch.Tensor) -> None:
        """Add one tile's prediction (C, d, h, w) at ``slices`` with the importance map ``weight`` (d, h, w)."""
        region = (slice(None), *slices)
        self.values[region] += (prediction.to(self.dtype) * weight.to(self.dtype))
        self.weights[slices] += weight.to(torch.float32)

    @property
    def overflowed(self) -> bool:
        """True when a half-precision sum became inf or NaN."""
        return self.dtype != torch.float32 and not bool(torch.isfinite(self.values).all())

    def result(self) -> torch.Tensor:
        """The weighted mean prediction (float32), shape (C, *shape).

        Raises:
            ValueError: some voxel received no tile (a bug in the tile plan).
        """
        if not bool((self.weights > 0).all()):
            raise ValueError("some voxels were not covered by any tile; the tile plan is wrong")
        return self.values.to(torch.float32) / self.weights
