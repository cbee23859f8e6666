"""Which voxels an edit touches: brush footprints (disc or sphere in mm), intensity limits, connected components.

Every function returns flat (C-order) voxel indices; ``EditHistory.apply`` writes the new label there.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

Voxel = tuple[int, int, int]
CONNECTIVITY = {6: ndimage.generate_binary_structure(3, 1), 26: ndimage.generate_binary_structure(3, 3)}


def _check_voxel(voxel: Voxel, shape: tuple[int, ...]) -> tuple[int, int, int]:
    voxel = tuple(int(v) for v in voxel)  # type: ignore[assignment]
    if len(voxel) != 3 or any(not 0 <= v < n for v, n in zip(voxel, shape, strict=True)):
        raise ValueError(f"voxel {voxel} is outside the volume of shape {tuple(shape)}")
    return voxel  # type: ignore[return-value]


def footprint_indices(shape: tuple[int, int, int], centre: Voxel, radius_mm: float,
                      spacing: tuple[float, float, float], plane_axis: int | None = None) -> np.ndarray:
    """Flat indices of the voxels whose centres lie within ``radius_mm`` of ``centre`` (clipped to the volume).

    Args:
        shape: volume shape.
        centre: voxel at the brush centre.
        radius_mm: brush radius in mm; the centre voxel is always included.
        spacing: voxel size in mm per axis, so the brush is round in mm on anisotropic grids.
        plane_axis: None for a 3D sphere; else the axis the slice plane cuts across (a disc in that slice).
    """
    centre = _check_voxel(centre, shape)
    if radius_mm < 0 or not np.isfinite(radius_mm):
        raise ValueError(f"brush radius must be a finite number of mm >= 0, got {radius_mm}")
    if plane_axis not in (None, 0, 1, 2):
        raise ValueError(f"plane_axis must be None (sphere) or 0, 1, 2, got {plane_axis}")
    reach = [0 if axis == plane_axis else int(radius_mm // spacing[axis]) for axis in range(3)]
    ranges = [np.arange(max(c - r, 0), min(c + r, n - 1) + 1) for c, r, n in zip(centre, reach, shape, strict=True)]
    grids = np.meshgrid(*ranges, indexing="ij")
    distance_sq = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    inside = distance_sq <= radius_mm**2 + 1e-9
    return np.ravel_multi_index(tuple(g[inside] for g in grids), shape)


def within_intensity(indices: np.ndarray, volume: np.ndarray, low: float, high: float) -> np.ndarray:
    """The indices whose intensity in ``volume`` lies in [low, high] (threshold paint).

    Args:
        indices: flat voxel indices.
        volume: the contrast that limits the paint, same shape as the label map.
        low: lowest intensity painted.
        high: highest intensity painted.
    """
    if not low <= high:
        raise ValueError(f"intensity range needs low <= high, got [{low}, {high}]")
    values = volume.reshape(-1)[indices]
    return indices[(values >= low) & (values <= high)]


def component_indices(label: np.ndarray, voxel: Voxel, connectivity: int = 26, same_label: bool = False) -> np.ndarray:
    """Flat indices of the connected tumour component that holds ``voxel`` (empty when it is background).

    Args:
        label: label map.
        voxel: the clicked voxel.
        connectivity: 26 (faces, edges and corners, as the lesion count) or 6 (faces only).
        same_label: only voxels of the clicked label; else the whole tumour (any label > 0) around it.
    """
    voxel = _check_voxel(voxel, label.shape)
    if connectivity not in CONNECTIVITY:
        raise ValueError(f"connectivity must be 6 or 26, got {connectivity}")
    value = int(label[voxel])
    if value == 0:
        return np.empty(0, np.int64)
    mask = label == value if same_label else label > 0
    components, _ = ndimage.label(mask, structure=CONNECTIVITY[connectivity])
    number = components[voxel]
    box = ndimage.find_objects(components, max_label=number)[number - 1]  # search only its bounding box
    coords = np.nonzero(components[box] == number)
    return np.ravel_multi_index(tuple(c + s.start for c, s in zip(coords, box, strict=True)), label.shape)
