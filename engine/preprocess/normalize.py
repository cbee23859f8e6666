"""Per-modality intensity normalisation inside the brain (z-score over brain voxels, as nnU-Net does for MRI).

MRI intensities have no physical unit and differ by scanner and protocol; the mean and standard deviation of
each contrast over the brain put them on a common scale. Voxels outside the brain are set to 0, which after
normalisation is the brain's mean, the convention of BraTS-trained models.
"""

from __future__ import annotations

import logging

import numpy as np

from engine.errors import CaseError

log = logging.getLogger(__name__)


def zscore_in_mask(data: np.ndarray, mask: np.ndarray, name: str = "volume") -> tuple[np.ndarray, float, float]:
    """Z-score ``data`` over ``mask``; voxels outside the mask become 0.

    Args:
        data: one contrast.
        mask: boolean brain mask on the same grid.
        name: modality name, for messages.

    Returns:
        (normalised float32 array, mean, standard deviation) - the statistics go into the provenance.

    Raises:
        CaseError: when the mask is empty or the contrast is constant inside it.
    """
    if data.shape != mask.shape:
        raise ValueError(f"{name}: data {data.shape} and mask {mask.shape} differ in shape")
    values = data[mask].astype(np.float64)
    if values.size < 2:
        raise CaseError(f"{name}: the brain mask is empty after preprocessing; the volumes do not show a brain")
    mean, std = float(values.mean()), float(values.std())
    if std <= 1e-6 * max(1.0, abs(mean)):
        raise CaseError(f"{name} is constant inside the brain ({mean:.3g}); it holds no image")
    out = np.zeros(data.shape, np.float32)
    out[mask] = ((data[mask] - mean) / std).astype(np.float32)
    log.debug("%s: brain mean %.4g, std %.4g", name, mean, std)
    return out, mean, std
