"""Importance weights of a tile: a Gaussian centred on the tile (sigma = tile / 8, as nnU-Net and MONAI).

Predictions near a tile's border see less context, so they count less where tiles overlap. The map is scaled
to a maximum of 1 and clamped to a small positive minimum so that every voxel of a tile has a weight > 0.
"""

from __future__ import annotations

from functools import lru_cache

import torch

SIGMA_SCALE = 0.125
MIN_WEIGHT = 1e-3


@lru_cache(maxsize=16)
def gaussian_importance_map(tile: tuple[int, int, int], device: str = "cpu",
                            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The (D, H, W) Gaussian weight map of a tile, cached per tile size, device and dtype.

    Args:
        tile: tile size along each axis.
        device: device of the returned tensor (as a string, so it is hashable for the cache).
        dtype: dtype of the returned tensor.
    """
    axes = []
    for size in tile:
        centre, sigma = (size - 1) / 2.0, max(size * SIGMA_SCALE, 1e-6)
        coords = torch.arange(size, dtype=torch.float64)
        axes.append(torch.exp(-0.5 * ((coords - centre) / sigma) ** 2))
    weights = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    weights = (weights / weights.max()).clamp_min(MIN_WEIGHT)
    return weights.to(device=device, dtype=dtype).contiguous()
