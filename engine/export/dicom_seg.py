"""DICOM Segmentation (SEG) export with highdicom, referencing the T1ce series it was drawn on.

One binary segment per tumour label, coded as in the BraTS literature and DICOM CID 7151:
necrosis SCT 6574001, oedema SCT 79654002, enhancing tumour NCIt C113842, all in the category
"Morphologically abnormal structure" (SCT 49755003). Display colours are the RevSeg label colours converted
from RGB to CIELab. Algorithm identification names RevSeg, its version and the SHA-256 of the weights.
Frames are kept for every source slice, including empty ones (``omit_empty_frames=False``), so that viewers
which place frames by slice index (OHIF) put them right.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from engine import __version__
from engine.errors import CancelCheck, ExportError, ProgressCallback, check_cancel, report
from engine.export.atomic import write_with
from engine.labels import EDEMA, ENHANCING, LABEL_INFO, NECROSIS, to_brats2020
from engine.notice import CLINICAL_NOTICE, SEG_CONTENT_DESCRIPTION, SEG_SERIES_DESCRIPTION

log = logging.getLogger(__name__)

CATEGORY = Code("49755003", "SCT", "Morphologically abnormal structure")
SEGMENT_CODES: dict[int, Code] = {
    NECROSIS: Code("6574001", "SCT", "Necrosis"),
    EDEMA: Code("79654002", "SCT", "Edema"),
    ENHANCING: Code("C113842", "NCIt", "Enhancing Lesion"),
}
SEGMENT_LABELS = {NECROSIS: "Necrosis", EDEMA: "Edema", ENHANCING: "Enhancing tumor"}


@dataclass(frozen=True)
class AlgorithmInfo:
    """Identification of the algorithm that produced a segmentation.

    Attributes:
        name: algorithm name.
        version: software version.
        weights_sha256: SHA-256 of the model weights file ("" when unknown).
        weights_name: file name of the weights ("" when unknown).
    """

    name: str = "RevSeg"
    version: str = __version__
    weights_sha256: str = ""
    weights_name: str = ""

    def parameters(self) -> dict[str, str]:
        values = {"weights_sha256": self.weights_sha256, "weights_file": self.weights_name, "notice": CLINICAL_NOTICE}
        return {k: v for k, v in values.items() if v}


def _segment_descriptions(algorithm: AlgorithmInfo, edited: bool) -> list[hd.seg.SegmentDescription]:
    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm.name, family=codes.DCM.ArtificialIntelligence, version=algorithm.version,
        parameters=algorithm.parameters() or None,
    )
    kind = hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC if edited else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    return [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=SEGMENT_LABELS[value], segmented_property_category=CATEGORY,
            segmented_property_type=SEGMENT_CODES[value], algorithm_type=kind,
            algorithm_identification=identification, tracking_uid=hd.UID(), tracking_id=SEGMENT_LABELS[value],
            display_color=hd.color.CIELabColor.from_rgb(*LABEL_INFO[value].rgb),
        )
        for number, value in enumerate((NECROSIS, EDEMA, ENHANCING), start=1)
    ]


def segment_frames(label: np.ndarray) -> np.ndarray:
    """Segment-number frames (slices, rows, columns) from a (column, row, slice) label map in BraTS labels.

    Args:
        label: label map on the source series' grid (axis 2 in source slice order).
    """
    label = to_brats2020(label)
    numbers = np.zeros(label.shape, np.uint8)
    for number, value in enumerate((NECROSIS, EDEMA, ENHANCING), start=1):
        numbers[label == value] = number
    return np.ascontiguousarray(numbers.transpose(2, 1, 0))


def _check_source(label: np.ndarray, sources: Sequence) -> None:
    if not sources:
        raise ExportError("a DICOM-SEG needs the source T1ce DICOM series; none was given")
    rows, columns = int(sources[0].Rows), int(sources[0].Columns)
    if label.shape != (columns, rows, len(sources)):
        raise ExportError(f"label map shape {label.shape} does not match the T1ce series "
                          f"({columns} columns x {rows} rows x {len(sources)} slices)")


def write_dicom_seg(
    label: np.ndarray,
    sources: Sequence,
    path: str | Path,
    *,
    algorithm: AlgorithmInfo = AlgorithmInfo(),
    edited: bool = False,
    creator: str = "RevSeg^Automatic",
    series_description: str = SEG_SERIES_DESCRIPTION,
    series_number: int = 901,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Path:
    """Write ``label`` as a binary DICOM-SEG referencing ``sources``, atomically.

    Args:
        label: BraTS label map on the T1ce series' grid, indexed (column, row, slice in ``sources`` order).
        sources: the T1ce series' datasets (headers suffice) in slice order, as read by ``read_dicom_series``.
        path: output .dcm file.
        algorithm: name, version and weights hash recorded in every segment.
        edited: a person changed the automatic result: segments become SEMIAUTOMATIC.
        creator: ContentCreatorName (DICOM person name, ``Family^Given``).
        series_description: SeriesDescription of the SEG series.
        series_number: SeriesNumber of the SEG series.
        force: replace an existing file.
        progress: called as ``progress("DICOM-SEG", done, 2)``.
        cancel: polled before the encoding and before writing.
    """
    _check_source(label, sources)
    check_cancel(cancel, "DICOM-SEG export")
    report(progress, "DICOM-SEG", 0, 2)
    try:
        seg = hd.seg.Segmentation(
            source_images=list(sources), pixel_array=segment_frames(label),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=_segment_descriptions(algorithm, edited),
            series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="RevSeg", manufacturer_model_name=algorithm.name, software_versions=algorithm.version,
            device_serial_number="0", content_creator_name=creator, content_label="TUMOR",
            content_description=SEG_CONTENT_DESCRIPTION, series_description=series_description,
            omit_empty_frames=False,
        )
    except (ValueError, TypeError, AttributeError) as error:
        raise ExportError(f"the DICOM-SEG cannot be built from the T1ce series ({error})") from None
    check_cancel(cancel, "DICOM-SEG export")
    report(progress, "DICOM-SEG", 1, 2)
    written = write_with(path, lambda temporary: seg.save_as(temporary), force)
    report(progress, "DICOM-SEG", 2, 2)
    log.info("wrote DICOM-SEG %s (%d frames, %s)", written, len(sources), "SEMIAUTOMATIC" if edited else "AUTOMATIC")
    return written
