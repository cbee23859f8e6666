"""A full-size (240 x 240 x 155) BraTS-like study on disk, shared by the study-dialog test and
scripts/measure_timings.py (which times opening it)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

FULL_SIZE = (240, 240, 155)
LABEL_BOX = (slice(100, 140), slice(100, 140), slice(60, 90))  # 40 x 40 x 30 voxels of label 2


def write_full_size_study(folder: Path, prefix: str = "BIG") -> Path:
    """Four contrasts and a label map, 240 x 240 x 155 float32 / uint8, named the BraTS 2020 way; returns ``folder``.

    A head-like ellipsoid with smooth texture and zeros around it, as skull-stripped BraTS volumes are; the label
    map holds one box of label 2 (``LABEL_BOX``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    i, j, k = np.ogrid[-1:1:240j, -1:1:240j, -1:1:155j]
    head = (i / 0.75) ** 2 + (j / 0.9) ** 2 + (k / 0.85) ** 2 < 1
    texture = (300 + 60 * np.sin(9 * i) * np.cos(7 * j) + 40 * k).astype(np.float32)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    for index, name in enumerate(("t1", "t1ce", "t2", "flair")):
        nib.save(nib.Nifti1Image(np.where(head, texture + 50 * index, 0).astype(np.float32), affine),
                 folder / f"{prefix}_{name}.nii.gz")
    label = np.zeros(FULL_SIZE, np.uint8)
    label[LABEL_BOX] = 2
    nib.save(nib.Nifti1Image(label, affine), folder / f"{prefix}_seg.nii.gz")
    return folder
