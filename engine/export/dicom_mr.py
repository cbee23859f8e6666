"""Write a volume as a classic DICOM MR Image series (one file per slice).

Used to give a NIfTI-sourced T1ce a DICOM twin that a DICOM-SEG can reference (see
docs/input-and-export.md), and by the tests to build synthetic DICOM studies. The geometry comes from the RAS
affine: array axis 0 runs along a row (first Image Orientation triplet), axis 1 down the columns, axis 2
across slices, Image Position (Patient) of slice k = origin + k * slice step (all converted to LPS).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from engine import __version__
from engine.errors import CancelCheck, ProgressCallback, check_cancel, report
from engine.export.atomic import atomic_folder
from engine.geometry import RAS_TO_LPS, check_affine

log = logging.getLogger(__name__)

_INT16_MAX = 32767


@dataclass(frozen=True)
class DicomIdentity:
    """Patient and study of a written series. Defaults are a pseudonym, never a real person.

    Attributes:
        patient_name: PatientName (DICOM person-name syntax, ``Family^Given``).
        patient_id: PatientID.
        study_uid: StudyInstanceUID; a new one when None.
        frame_of_reference_uid: FrameOfReferenceUID; a new one when None.
        study_date: StudyDate, YYYYMMDD; today when None.
        study_id: StudyID.
        accession_number: AccessionNumber (may be empty).
    """

    patient_name: str = "Anonymous^RevSeg"
    patient_id: str = "REVSEG-ANON"
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None
    study_date: str | None = None
    study_id: str = "1"
    accession_number: str = ""

    def resolved(self) -> DicomIdentity:
        """A copy with the missing UIDs and date filled in, so several series can share them."""
        return DicomIdentity(self.patient_name, self.patient_id, self.study_uid or generate_uid(),
                             self.frame_of_reference_uid or generate_uid(),
                             self.study_date or dt.date.today().strftime("%Y%m%d"), self.study_id, self.accession_number)


@dataclass(frozen=True)
class MRSeriesSpec:
    """What the written series says about itself.

    Attributes:
        description: SeriesDescription, e.g. "AX T1 POST GD".
        series_number: SeriesNumber.
        derived: ImageType DERIVED\\SECONDARY (a conversion) instead of ORIGINAL\\PRIMARY.
        extra_tags: further attributes by keyword (e.g. ContrastBolusAgent, RepetitionTime, EchoTime).
    """

    description: str
    series_number: int = 1
    derived: bool = True
    extra_tags: Mapping[str, object] = field(default_factory=dict)


def _scaled_pixels(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """int16 pixels with RescaleSlope / RescaleIntercept that restore ``data`` (exactly when it is integral)."""
    low, high = float(data.min()), float(data.max())
    if np.array_equal(data, np.round(data)) and -_INT16_MAX <= low and high <= _INT16_MAX:
        return data.astype(np.int16), 1.0, 0.0
    slope = max(abs(low), abs(high)) / _INT16_MAX or 1.0
    return np.round(data / slope).astype(np.int16), slope, 0.0


def _base_dataset(identity: DicomIdentity, spec: MRSeriesSpec, series_uid: str, when: dt.datetime) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = MRImageStorage
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = identity.patient_name, identity.patient_id, "", ""
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = identity.study_uid, identity.study_date, "000000"
    ds.ReferringPhysicianName, ds.StudyID, ds.AccessionNumber = "", identity.study_id, identity.accession_number
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "MR", series_uid, spec.series_number
    ds.SeriesDescription, ds.SeriesDate, ds.SeriesTime = spec.description, when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    ds.PatientPosition, ds.BodyPartExamined = "HFS", "BRAIN"  # the brain is unpaired: no Laterality
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = identity.frame_of_reference_uid, ""
    ds.Manufacturer = "RevSeg" if spec.derived else "Synthetic"
    ds.SoftwareVersions = __version__
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"] if spec.derived else ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "RM", "NONE", "", "3D"
    ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "", "", ""
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    if spec.derived:
        ds.DerivationDescription = "converted from NIfTI by RevSeg; geometry from the NIfTI affine"
    for keyword, value in spec.extra_tags.items():
        setattr(ds, keyword, value)
    return ds


def _slice_dataset(base: pydicom.Dataset, pixels: np.ndarray, position: np.ndarray, number: int,
                   slope: float, intercept: float) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.update(base)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [round(float(v), 6) for v in position]
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    if (slope, intercept) != (1.0, 0.0):  # the MR IOD has no Modality LUT; add it only when values need it
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = f"{slope:.10g}", f"{intercept:.10g}", "US"
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def write_mr_series(
    data: np.ndarray,
    affine: np.ndarray,
    folder: str | Path,
    spec: MRSeriesSpec,
    identity: DicomIdentity | None = None,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> list[Path]:
    """Write ``data`` (on the RAS ``affine``) as a DICOM MR series into ``folder``, atomically.

    Args:
        data: 3D array indexed (i, j, k) = (column, row, slice).
        affine: 4x4 RAS voxel-to-world matrix of ``data``; must have orthogonal axes.
        folder: output folder (created; refused when it exists unless ``force``).
        spec: description, number and extra tags of the series.
        identity: patient / study / frame of reference; a pseudonymous new study when None.
        force: replace an existing folder.
        progress: called as ``progress("write MR", slices_done, slices_total)``.
        cancel: polled between slices.

    Returns:
        The written files in slice order.
    """
    check_affine(affine, "the volume to write as DICOM")
    identity = (identity or DicomIdentity()).resolved()
    lps = RAS_TO_LPS @ np.asarray(affine, dtype=float)
    steps = np.linalg.norm(lps[:3, :3], axis=0)
    now = dt.datetime.now()
    base = _base_dataset(identity, spec, generate_uid(), now)
    base.ImageOrientationPatient = [round(float(v), 8) for v in np.r_[lps[:3, 0] / steps[0], lps[:3, 1] / steps[1]]]
    base.PixelSpacing = [round(float(steps[1]), 6), round(float(steps[0]), 6)]  # [between rows, between columns]
    base.SliceThickness = base.SpacingBetweenSlices = round(float(steps[2]), 6)
    pixels, slope, intercept = _scaled_pixels(np.asarray(data))
    paths = []
    with atomic_folder(folder, force) as temporary:
        for k in range(pixels.shape[2]):
            check_cancel(cancel, "DICOM MR writing")
            report(progress, "write MR", k, pixels.shape[2])
            ds = _slice_dataset(base, pixels[:, :, k].T, lps[:3, 3] + k * lps[:3, 2], k + 1, slope, intercept)
            ds.save_as(temporary / f"MR{k + 1:04d}.dcm", enforce_file_format=True)
            paths.append(Path(folder) / f"MR{k + 1:04d}.dcm")
    report(progress, "write MR", pixels.shape[2], pixels.shape[2])
    log.info("wrote DICOM MR series '%s' (%d slices) to %s", spec.description, len(paths), folder)
    return paths
