"""Open an existing segmentation onto the open case: a NIfTI label map (BraTS 2020 or 2023 labels) or a
DICOM-SEG (RevSeg's own, or one made with dcmqi / 3D Slicer), resampled onto the case's grid by scanner
coordinates, with a check that the two overlap. Free of Qt; the GUI and ``main.py gui --seg`` call
``load_segmentation``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from engine.case import Case
from engine.geometry import Grid, resample_labels
from engine.labels import EDEMA, ENHANCING, NECROSIS, to_brats2020

log = logging.getLogger(__name__)

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
MIN_OVERLAP = 0.5  # below this share of the labelled volume inside the case, it belongs to another study
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Words of a segment's label or property type -> BraTS label (first match wins: "non-enhancing" before "enhanc")
_SEGMENT_WORDS = (("non-enhancing", NECROSIS), ("nonenhancing", NECROSIS), ("necro", NECROSIS), ("ncr", NECROSIS),
                  ("core", NECROSIS), ("edema", EDEMA), ("oedema", EDEMA), ("ed", EDEMA), ("enhanc", ENHANCING),
                  ("et", ENHANCING))
_BY_NUMBER = {1: NECROSIS, 2: EDEMA, 3: ENHANCING}


@dataclass(frozen=True)
class ImportedSegmentation:
    """A segmentation file on the open case's grid.

    Attributes:
        label: BraTS 2020 label map (0/1/2/4) of the case's shape.
        path: the file it came from.
        kind: "nifti" or "dicom-seg".
        convention: "brats2020" or "brats2023" for NIfTI; how segments were matched for a DICOM-SEG.
        overlap: share of the file's labelled volume that lies inside the case (1.0: all of it).
    """

    label: np.ndarray
    path: Path
    kind: str
    convention: str
    overlap: float

    def summary(self) -> str:
        volume = int(np.count_nonzero(self.label))
        return f"{self.path.name} ({self.convention}, {volume} labelled voxels, {self.overlap:.0%} inside the case)"


def is_dicom_seg(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM Segmentation object (by its SOP class, not its name)."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (OSError, pydicom.errors.InvalidDicomError):
        return False
    return str(getattr(header, "SOPClassUID", "")) == SEG_SOP_CLASS


def load_segmentation(path: str | Path, case: Case) -> ImportedSegmentation:
    """Read a NIfTI label map or a DICOM-SEG and put it on ``case``'s grid.

    Args:
        path: a .nii / .nii.gz label map or a DICOM-SEG file.
        case: the open case (its grid: ``case.shape`` and ``case.affine``).

    Raises:
        ValueError: unreadable file, labels that are not BraTS labels, unknown segments, or a segmentation that
            does not overlap the case (a message that says what to do).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist; choose a NIfTI label map or a DICOM-SEG file")
    if path.name.lower().endswith((".nii", ".nii.gz")):
        label, grid, kind, convention = *_read_nifti(path), "nifti", ""
        convention = "BraTS 2023 labels" if 3 in np.unique(label) else "BraTS 2020 labels"
        label = to_brats2020(label)
    elif is_dicom_seg(path):
        label, grid, convention = _read_dicom_seg(path)
        kind = "dicom-seg"
    else:
        raise ValueError(f"{path.name} is neither a NIfTI label map (.nii, .nii.gz) nor a DICOM-SEG file")
    return _onto_case(label, grid, case, path, kind, convention)


def _read_nifti(path: Path) -> tuple[np.ndarray, Grid]:
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"cannot read {path.name} as NIfTI: {error}") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path.name} has {data.ndim} dimensions; a label map has 3")
    if not np.all(np.equal(np.mod(data, 1), 0)):
        raise ValueError(f"{path.name} holds fractional values: an image, not a label map")
    return data.astype(np.int32), Grid(tuple(int(n) for n in data.shape), image.affine.copy())  # type: ignore[arg-type]


def _segment_label(segment: pydicom.Dataset) -> int | None:
    words = str(getattr(segment, "SegmentLabel", "")).lower()
    for code in getattr(segment, "SegmentedPropertyTypeCodeSequence", []):
        words += " " + str(getattr(code, "CodeMeaning", "")).lower()
    tokens = words.replace("_", " ").split()
    for word, value in _SEGMENT_WORDS:
        if (len(word) <= 3 and word in tokens) or (len(word) > 3 and word in words):
            return value
    return None


def _read_dicom_seg(path: Path) -> tuple[np.ndarray, Grid, str]:
    import highdicom as hd  # imported here: it takes a while and only this reader needs it

    try:
        seg = hd.seg.segread(path)
        volume = seg.get_volume(combine_segments=True, relabel=False)
    except (OSError, ValueError, AttributeError, RuntimeError) as error:
        raise ValueError(f"cannot read the DICOM-SEG {path.name}: {error}") from None
    if volume is None:
        raise ValueError(f"the DICOM-SEG {path.name} has no regular 3D geometry; export it as NIfTI instead")
    mapping, guessed = {}, []
    for segment in seg.SegmentSequence:
        number = int(segment.SegmentNumber)
        value = _segment_label(segment)
        if value is None:
            value = _BY_NUMBER.get(number)
            guessed.append(f"{getattr(segment, 'SegmentLabel', number)} -> {value}")
        if value is None:
            raise ValueError(f"segment {number} ({getattr(segment, 'SegmentLabel', '')}) of {path.name} is not a "
                             "tumour region RevSeg knows (necrosis, edema, enhancing tumour)")
        mapping[number] = value
    numbers = np.asarray(volume.array)
    label = np.zeros(numbers.shape, np.uint8)
    for number, value in mapping.items():
        label[numbers == number] = value
    affine = _LPS_TO_RAS @ np.asarray(volume.affine, float)  # highdicom volumes are in LPS patient coordinates
    convention = "segments by name" if not guessed else f"segments by number ({', '.join(guessed)})"
    return label, Grid(tuple(int(n) for n in label.shape), affine), convention  # type: ignore[arg-type]


def _onto_case(label: np.ndarray, grid: Grid, case: Case, path: Path, kind: str,
               convention: str) -> ImportedSegmentation:
    labelled_mm3 = float(np.count_nonzero(label)) * abs(float(np.linalg.det(grid.affine[:3, :3])))
    if labelled_mm3 == 0:
        raise ValueError(f"{path.name} contains no tumour labels")
    target = Grid(case.shape, case.affine)
    on_case = resample_labels(label.astype(np.uint8), grid, target, method="nearest")
    inside_mm3 = float(np.count_nonzero(on_case)) * abs(float(np.linalg.det(target.affine[:3, :3])))
    overlap = min(inside_mm3 / labelled_mm3, 1.0)
    if overlap < MIN_OVERLAP:
        raise ValueError(f"{path.name} does not overlap the open case ({overlap:.0%} of its labels lie inside it); "
                         "it belongs to another study or another frame of reference")
    log.info("loaded %s onto %s: %s, %.0f%% inside", path.name, case.case_id, convention, overlap * 100)
    return ImportedSegmentation(np.ascontiguousarray(on_case, np.uint8), path, kind, convention, overlap)
