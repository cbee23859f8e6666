"""An input volume as it was stored: its voxels, its grid and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.geometry import Grid


@dataclass(frozen=True)
class InputSource:
    """Where a modality's volume was read from and why it was taken for that modality.

    Attributes:
        kind: "nifti" or "dicom".
        paths: the NIfTI file, or the DICOM files of the series in slice order (array axis 2).
        description: file name or SeriesDescription.
        series_uid: SeriesInstanceUID for DICOM, else None.
        confidence: how sure the modality assignment is (1.0 when named by the user or a BraTS file name).
        reason: the evidence for the assignment.
    """

    kind: str
    paths: tuple[Path, ...]
    description: str
    series_uid: str | None = None
    confidence: float = 1.0
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "paths": [str(p) for p in self.paths] if self.kind == "nifti" else [str(self.paths[0].parent)],
            "n_files": len(self.paths),
            "description": self.description,
            "series_uid": self.series_uid,
            "confidence": round(self.confidence, 3),
            "reason": self.reason,
        }


@dataclass(frozen=True, eq=False)
class NativeImage:
    """One modality in its stored voxel order.

    Attributes:
        modality: one of t1, t1ce, t2, flair.
        data: float32 array on ``grid`` (for DICOM: axis 0 = column, 1 = row, 2 = slice in ``source.paths`` order).
        grid: shape and RAS affine.
        source: provenance.
        dicom_headers: for DICOM input, the pixel-less datasets in slice order (needed to reference the series
            from a DICOM-SEG); empty for NIfTI.
    """

    modality: str
    data: np.ndarray
    grid: Grid
    source: InputSource
    dicom_headers: tuple = field(default=(), repr=False)
