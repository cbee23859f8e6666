"""Where to point the views after a segmentation appears: the centre of the largest lesion."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def largest_lesion_centre(label: np.ndarray) -> tuple[int, int, int] | None:
    """The voxel of the largest connected tumour component nearest its centroid, or None for an empty map.

    The centroid of a crescent-shaped lesion can lie outside it; the nearest voxel of the component does not,
    so every slice view through the returned voxel shows the label.

    Args:
        label: label map (any non-zero value is tumour).
    """
    components, count = ndimage.label(label > 0)
    if count == 0:
        return None
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    voxels = np.argwhere(components == int(np.argmax(sizes)))
    centroid = voxels.mean(axis=0)
    nearest = voxels[int(np.argmin(((voxels - centroid) ** 2).sum(axis=1)))]
    return int(nearest[0]), int(nearest[1]), int(nearest[2])
