"""Is this a brain MRI? Checks of what a case's files hold, not of their names.

Each contrast is checked for what would make a tumour segmentation meaningless: a non-MR DICOM series
(Modality, SOP class), intensities in CT Hounsfield units, a binary mask or a constant volume instead of an
image, too few slices, and a foreground that is not head-shaped. ``blocking`` findings make Segment refuse
(the user may still proceed explicitly, e.g. for a contrast the check does not know); the others are warnings.
Free of Qt; the GUI runs ``check_case`` in a worker after a case opens and asks before segmenting; ``prepare_case``
(the command line, batch runs) runs ``blocking_findings`` and refuses unless told to proceed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from scipy import ndimage

from engine.case import Case

log = logging.getLogger(__name__)

MR_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4"}
_SAMPLE_STEP = 2  # every 2nd voxel per axis: 1/8 of the data is plenty for histograms and a shape
_MIN_SLICES = 8


@dataclass(frozen=True)
class ContentFinding:
    """One thing the check found.

    Attributes:
        modality: the contrast it concerns ("t1", "t1ce", "t2", "flair").
        kind: "not-mr", "ct-like", "binary", "constant", "too-thin", "not-head-shaped".
        message: what it means, in the user's words.
        blocking: segmentation would be meaningless (Segment refuses unless the user proceeds anyway).
    """

    modality: str
    kind: str
    message: str
    blocking: bool


def _dicom_findings(modality: str, source: Path) -> list[ContentFinding]:
    if source.name.lower().endswith((".nii", ".nii.gz")) or not source.is_file():
        return []
    try:
        header = pydicom.dcmread(source, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError):
        return []
    return header_findings(modality, header)


def header_findings(modality: str, header: pydicom.Dataset) -> list[ContentFinding]:
    """Findings from one DICOM header of a contrast's series: a modality other than MR, a non-MR SOP class."""
    found = []
    kind = str(getattr(header, "Modality", "") or "")
    sop = str(getattr(header, "SOPClassUID", "") or "")
    if kind and kind != "MR":
        found.append(ContentFinding(modality, "not-mr", f"the series is a {kind} series (DICOM Modality), not MRI",
                                    True))
    elif sop and sop not in MR_SOP_CLASSES:
        found.append(ContentFinding(modality, "not-mr", f"the series is not stored as MR images (SOP class {sop})",
                                    True))
    return found


def check_volume(modality: str, data: np.ndarray, *, shape: bool = True) -> list[ContentFinding]:
    """Findings for one contrast's voxel data (any intensity scale).

    Args:
        modality: the contrast's role, named in the messages.
        data: the 3D volume.
        shape: also check that the foreground is head-shaped (a warning, never blocking; the slowest check).
    """
    name = modality.upper()
    if data.ndim != 3 or min(data.shape) < _MIN_SLICES:
        return [ContentFinding(modality, "too-thin", f"{name} has {min(data.shape)} slices in one direction: "
                               "a photo or a single slice, not a 3D MRI volume", True)]
    sample = np.asarray(data[::_SAMPLE_STEP, ::_SAMPLE_STEP, ::_SAMPLE_STEP], np.float32)
    values = _few_values(sample, 3)
    if values is not None and len(values) <= 1:
        return [ContentFinding(modality, "constant", f"{name} has the same value everywhere: no image", True)]
    if values is not None:
        return [ContentFinding(modality, "binary", f"{name} holds only the values "
                               f"{', '.join(f'{v:g}' for v in values)}: a mask or label map, not an MRI", True)]
    if _looks_like_ct(sample):
        return [ContentFinding(modality, "ct-like", f"{name} has intensities in CT Hounsfield units (air near -1000, "
                               "bone near +1000): this looks like a CT, not an MRI", True)]
    problem = _head_shape_problem(sample) if shape else ""
    return [ContentFinding(modality, "not-head-shaped", f"{name}: {problem}", False)] if problem else []


def blocking_findings(modality: str, data: np.ndarray, header: pydicom.Dataset | None = None) -> list[ContentFinding]:
    """The findings that make a segmentation of this contrast meaningless (about 25 ms for a BraTS volume)."""
    found = [f for f in header_findings(modality, header) if f.blocking] if header is not None else []
    return found or [f for f in check_volume(modality, data, shape=False) if f.blocking]


def _few_values(sample: np.ndarray, limit: int) -> list[float] | None:
    """The distinct values of ``sample``, sorted, when there are at most ``limit``; else None. A few passes
    over the data where ``np.unique`` sorts all of it (70 ms for a BraTS volume's sample)."""
    found: list[float] = []
    rest = sample.ravel()
    while rest.size and len(found) <= limit:
        value = rest[0]
        found.append(float(value))
        rest = rest[rest != value]
    return sorted(found) if rest.size == 0 and len(found) <= limit else None


def _looks_like_ct(sample: np.ndarray) -> bool:
    """Air at about -1000 HU covering a good part of the field of view, as in every head CT."""
    air = np.mean((sample > -1100) & (sample < -900))
    return air > 0.05 and float(np.percentile(sample, 1)) < -500


def _head_shape_problem(sample: np.ndarray) -> str:
    """"" for a head-like foreground (one compact blob filling part of the field of view), else why not."""
    positive = sample[sample > 0]
    if positive.size == 0:
        return "no positive intensities (MRI magnitudes are never negative)"
    threshold = 0.1 * float(np.percentile(positive, 99))
    foreground = ndimage.binary_opening(sample > threshold, iterations=1)
    fraction = float(foreground.mean())
    if fraction < 0.02 or fraction > 0.95:
        return f"the foreground fills {fraction:.0%} of the field of view, not a head"
    components, count = ndimage.label(foreground)
    sizes = np.bincount(components.ravel())[1:]
    if count and sizes.max() < 0.5 * sizes.sum():
        return "the foreground is scattered in many pieces, not one head"
    return ""


def check_case(case: Case) -> list[ContentFinding]:
    """Every finding for every contrast of ``case`` (an empty list: it looks like a brain MRI)."""
    findings = []
    for modality, volume in case.volumes.items():
        findings += _dicom_findings(modality, Path(volume.source))
        if not any(f.blocking for f in findings if f.modality == modality):
            findings += check_volume(modality, volume.data)
    for finding in findings:
        log.warning("%s %s: %s", case.case_id, finding.kind, finding.message)
    return findings


def content_confidence(data: np.ndarray) -> float:
    """How much a volume's content looks like an MRI of a head: 1.0 fine, 0.5 odd shape, 0.0 not an MRI."""
    findings = check_volume("volume", data)
    if any(f.blocking for f in findings):
        return 0.0
    return 0.5 if findings else 1.0


def slice_problem(middle_slice: np.ndarray | None, n_slices: int) -> str:
    """Why one slice and the slice count of a file say it is no MRI volume ("" when nothing is wrong).

    For the study dialog, which reads one slice per file: an unreadable file, a 2D picture, a constant or a
    binary slice.

    Args:
        middle_slice: the file's middle slice (any dtype), or None when it could not be read.
        n_slices: slices along the third axis (files of a DICOM series).
    """
    if middle_slice is None:
        return "the image data cannot be read"
    if n_slices < _MIN_SLICES:
        return f"{n_slices} slice{'s' if n_slices != 1 else ''}: a picture, not a 3D volume"
    values = np.unique(np.asarray(middle_slice))
    if values.size <= 1:
        return "the middle slice is constant: no image"
    if values.size <= 3:
        return "the middle slice holds only a few values: a mask, not an MRI"
    return ""
