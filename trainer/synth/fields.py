"""Torch building blocks of the anatomy-based generator: smooth random fields, blur, morphology, resampling.

Everything works on 3D float tensors of shape (D, H, W) on any device, so the generator runs in CPU worker
processes (one torch thread each) or on a GPU alike. Random numbers come from a ``torch.Generator`` on the CPU
so a case is a pure function of its seed whatever the device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _as5d(volume: torch.Tensor) -> torch.Tensor:
    return volume.reshape(1, 1, *volume.shape[-3:])


def smooth_noise(shape: tuple[int, int, int], cells: int | tuple[int, int, int], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Zero-mean, unit-variance smooth random field: Gaussian noise on a coarse grid, upsampled (cubic-like).

    Args:
        shape: output (D, H, W).
        cells: coarse grid size per axis (more cells = finer structure).
        generator: CPU random generator.
        device: where the result lives.
    """
    cells = (cells,) * 3 if isinstance(cells, int) else cells
    coarse = torch.randn((1, 1, *[max(2, c) for c in cells]), generator=generator).to(device)
    field = F.interpolate(coarse, size=shape, mode="trilinear", align_corners=True)[0, 0]
    return (field - field.mean()) / field.std().clamp_min(1e-6)


def gaussian_kernel(sigma: float, device: torch.device | str) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (x / max(sigma, 1e-3)) ** 2)
    return kernel / kernel.sum()


def blur(volume: torch.Tensor, sigmas: tuple[float, float, float]) -> torch.Tensor:
    """Separable Gaussian blur with one sigma (voxels) per axis; sigma <= 0.1 leaves that axis alone."""
    out = _as5d(volume)
    for axis, sigma in enumerate(sigmas):
        if sigma <= 0.1:
            continue
        kernel = gaussian_kernel(sigma, volume.device)
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = kernel.numel()
        out = F.conv3d(F.pad(out, _pad_for(axis, kernel.numel() // 2), mode="replicate"), kernel.reshape(shape))
    return out.reshape(volume.shape)


def _pad_for(axis: int, amount: int) -> tuple[int, ...]:
    # F.pad lists the last axis first: (W_left, W_right, H_left, H_right, D_left, D_right).
    pads = [0] * 6
    pads[2 * (2 - axis)] = pads[2 * (2 - axis) + 1] = amount
    return tuple(pads)


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation by a cube of half-width ``radius`` (boolean in, boolean out)."""
    if radius <= 0:
        return mask
    pooled = _as5d(mask.to(torch.float32))
    for axis in range(3):  # a cube is three 1D maxima: 3k instead of k^3 comparisons per voxel
        kernel, padding = [1, 1, 1], [0, 0, 0]
        kernel[axis], padding[axis] = 2 * radius + 1, radius
        pooled = F.max_pool3d(pooled, tuple(kernel), stride=1, padding=tuple(padding))
    return pooled.reshape(mask.shape) > 0


def erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary erosion by a cube of half-width ``radius``."""
    return ~dilate(~mask, radius)


def dilate_faces(mask: torch.Tensor) -> torch.Tensor:
    """Binary dilation by the 6-neighbourhood: each voxel and its face neighbours."""
    volume = _as5d(mask.to(torch.float32))
    grown = volume
    for axis in range(3):
        kernel, padding = [1, 1, 1], [0, 0, 0]
        kernel[axis], padding[axis] = 3, 1
        grown = torch.maximum(grown, F.max_pool3d(volume, tuple(kernel), stride=1, padding=tuple(padding)))
    return grown.reshape(mask.shape) > 0


def geodesic_dilate(seed: torch.Tensor, allowed: torch.Tensor, steps: int) -> torch.Tensor:
    """Grow ``seed`` one voxel per step, only into ``allowed``: a distance along tissue. Stops early once nothing
    more can be reached.

    Steps alternate between the 6- and the 26-neighbourhood (the octagonal distance): 26-neighbourhood steps alone
    draw a cube in open tissue, and oedema came out as boxes with flat, axis-aligned faces.
    """
    grown = seed.clone()
    for step in range(steps):
        neighbours = dilate_faces(grown) if step % 2 == 0 else dilate(grown, 1)
        reached = (neighbours & allowed) | grown
        if torch.equal(reached, grown):
            break
        grown = reached
    return grown


def in_classes(volume: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """Boolean mask of the voxels of an integer volume whose value is one of ``classes``."""
    return torch.isin(volume, torch.tensor(classes, dtype=volume.dtype, device=volume.device))


def sample_labels(labels: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour lookup of an integer volume at voxel coordinates (..., 3) given in (D, H, W) order."""
    sizes = torch.tensor(labels.shape, dtype=coordinates.dtype, device=coordinates.device)
    normalised = coordinates / (sizes - 1) * 2 - 1  # align_corners=True convention
    grid = normalised.flip(-1).reshape(1, *coordinates.shape[:-1], 3)  # grid_sample wants (W, H, D) order
    sampled = F.grid_sample(_as5d(labels.float()), grid, mode="nearest", padding_mode="zeros", align_corners=True)
    return sampled.reshape(coordinates.shape[:-1]).round().to(labels.dtype)


def resample_linear(volume: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Trilinear resize of a (D, H, W) volume."""
    return F.interpolate(_as5d(volume), size=size, mode="trilinear", align_corners=True).reshape(size)
