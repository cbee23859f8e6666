"""NIfTI export of a label map on the native T1ce grid, with the T1ce's own affine."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.errors import ExportError
from engine.export.atomic import write_with
from engine.geometry import Grid
from engine.labels import to_brats2020, to_brats2023
from engine.notice import NIFTI_DESCRIPTION

log = logging.getLogger(__name__)

CONVENTIONS = ("brats2020", "brats2023")


def convert_labels(label: np.ndarray, convention: str) -> np.ndarray:
    """A uint8 copy of ``label`` in the requested BraTS convention.

    Args:
        label: label map in either convention (0/1/2/4 or 0/1/2/3).
        convention: "brats2020" (ET = 4, the default) or "brats2023" (ET = 3).

    Raises:
        ExportError: unknown convention or values that are not BraTS labels.
    """
    if convention not in CONVENTIONS:
        raise ExportError(f"unknown label convention {convention!r}; use one of {', '.join(CONVENTIONS)}")
    try:
        return to_brats2023(label) if convention == "brats2023" else to_brats2020(label)
    except ValueError as error:
        raise ExportError(f"cannot export the label map: {error}") from None


def write_label_nifti(
    label: np.ndarray, grid: Grid, path: str | Path, *, convention: str = "brats2020", force: bool = False
) -> Path:
    """Write ``label`` (on ``grid``, the native T1ce grid) as a NIfTI label map, atomically.

    Args:
        label: integer label map indexed like the native T1ce's stored array.
        grid: the native T1ce grid; its affine becomes the file's sform and qform (scanner coordinates).
        path: output file (.nii.gz or .nii).
        convention: "brats2020" or "brats2023".
        force: replace an existing file.

    Raises:
        ExportError: shape mismatch or bad labels; OutputExistsError when the file exists without ``force``.
    """
    if label.shape != grid.shape:
        raise ExportError(f"label map shape {label.shape} is not the T1ce grid's {grid.shape}")
    data = convert_labels(label, convention)
    image = nib.Nifti1Image(data, grid.affine)
    image.set_sform(grid.affine, code=1)
    image.set_qform(grid.affine, code=1)
    image.header.set_intent("label", name="BraTS" + convention[-4:])
    image.header["descrip"] = NIFTI_DESCRIPTION.encode("ascii")
    written = write_with(path, lambda temporary: nib.save(image, str(temporary)), force)
    log.info("wrote NIfTI label map %s (%s)", written, convention)
    return written
