"""Splitter: where the tiles of a sliding window go.

Tiles start every ``step = tile * (1 - overlap)`` voxels along each axis; the last tile of an axis is moved
back to end flush with the border, so every voxel is covered and no tile reads outside the volume. A volume
smaller than the tile along an axis is padded (at the end) to the tile size first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

Shape3 = tuple[int, int, int]


@dataclass(frozen=True)
class TilePlan:
    """Tile origins over a (possibly padded) volume.

    Attributes:
        shape: the volume's spatial shape.
        padded_shape: ``shape`` padded at the end to at least the tile size along each axis.
        tile: tile size (voxels) along each axis.
        origins: the corner of each tile in padded coordinates, in raster order.
    """

    shape: Shape3
    padded_shape: Shape3
    tile: Shape3
    origins: tuple[Shape3, ...]

    @property
    def padding(self) -> Shape3:
        return tuple(p - s for p, s in zip(self.padded_shape, self.shape, strict=True))  # type: ignore[return-value]

    def slices(self, origin: Shape3) -> tuple[slice, slice, slice]:
        """The spatial slices of the tile starting at ``origin``."""
        return tuple(slice(o, o + t) for o, t in zip(origin, self.tile, strict=True))  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.origins)


def axis_starts(size: int, tile: int, overlap: float) -> list[int]:
    """Tile starts along one axis of ``size`` (>= tile) voxels: a regular step, the last one flush with the end.

    Args:
        size: axis length (already padded to at least ``tile``).
        tile: tile length.
        overlap: fraction of a tile shared with its neighbour, in [0, 1).
    """
    if size <= tile:
        return [0]
    step = max(1, int(tile * (1.0 - overlap)))
    count = math.ceil((size - tile) / step) + 1
    starts = [min(i * step, size - tile) for i in range(count)]
    return sorted(set(starts))


def _as_shape(value: int | tuple[int, ...], name: str) -> Shape3:
    values = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(values) != 3 or any(int(v) < 1 for v in values):
        raise ValueError(f"{name} must be a positive integer or three of them, got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def plan_tiles(shape: tuple[int, ...], tile: int | tuple[int, ...], overlap: float = 0.5) -> TilePlan:
    """Plan the tiles covering a volume.

    Args:
        shape: spatial shape (D, H, W).
        tile: tile size, one integer or three.
        overlap: fraction of a tile shared with its neighbour, in [0, 1) (0.5 as nnU-Net and MONAI's default).

    Raises:
        ValueError: for a bad shape, tile or overlap.
    """
    shape3, tile3 = _as_shape(shape, "shape"), _as_shape(tile, "tile")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    padded = tuple(max(s, t) for s, t in zip(shape3, tile3, strict=True))
    starts = [axis_starts(s, t, overlap) for s, t in zip(padded, tile3, strict=True)]
    return TilePlan(shape3, padded, tile3, tuple(product(*starts)))  # type: ignore[arg-type]
