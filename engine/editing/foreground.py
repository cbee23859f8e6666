"""The image's foreground (the head), which limits where the brush may paint.

A label painted in the air around the head is always a mistake (a drag that overran the skull, a click beside
the image), so brush strokes keep to the foreground unless the user turns that off. The foreground is computed
once per case from the reference contrast: voxels above a low threshold (a small fraction of the bright end of
the intensities, so noise in the air of a non-skull-stripped scan stays out and the zero background of a
skull-stripped BraTS case certainly does), with the holes inside filled per slice (dark ventricles, necrosis and
resection cavities belong to the head). Headless: numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: The threshold as a fraction of the 99th percentile of the non-zero intensities.
DEFAULT_FOREGROUND_FRACTION = 0.02
_SAMPLE_STEP = 4  # percentile from every 4th voxel along each axis: 1/64 of the voxels, same result within noise


def foreground_threshold(volume: np.ndarray, fraction: float = DEFAULT_FOREGROUND_FRACTION) -> float:
    """The intensity above which a voxel is foreground.

    Args:
        volume: one contrast (3D).
        fraction: of the 99th percentile of the non-zero voxels; in [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"foreground fraction must be in [0, 1), got {fraction}")
    sample = volume[::_SAMPLE_STEP, ::_SAMPLE_STEP, ::_SAMPLE_STEP]
    sample = sample[np.isfinite(sample)]
    tissue = sample[sample != 0]
    if tissue.size == 0:
        return 0.0
    # The dark end: 0 for MRI magnitudes (a few negative resampling overshoots do not count), or the 1st
    # percentile of every voxel when that is negative (z-scored intensities put the air there).
    dark = min(float(np.percentile(sample, 1.0)), 0.0)
    bright = float(np.percentile(tissue, 99.0))
    return dark + fraction * max(bright - dark, 0.0)


def foreground_mask(volume: np.ndarray, fraction: float = DEFAULT_FOREGROUND_FRACTION) -> np.ndarray:
    """Boolean mask of the head: above ``foreground_threshold`` with the holes of every axial slice filled.

    Args:
        volume: the reference contrast (3D, axis 2 = axial slices).
        fraction: threshold fraction (see ``foreground_threshold``).

    Returns:
        A C-contiguous bool array of ``volume.shape``.
    """
    if volume.ndim != 3:
        raise ValueError(f"the foreground needs a 3D volume, got shape {volume.shape}")
    mask = np.asarray(volume > foreground_threshold(volume, fraction))
    for index in range(mask.shape[2]):  # per slice: a hole open to the top or bottom of the head is still filled
        if mask[..., index].any():
            mask[..., index] = ndimage.binary_fill_holes(mask[..., index])
    return np.ascontiguousarray(mask)


def inside_foreground(indices: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """The flat voxel ``indices`` that lie in ``foreground`` (a bool mask of the label map's shape)."""
    return indices[foreground.reshape(-1)[indices]]
