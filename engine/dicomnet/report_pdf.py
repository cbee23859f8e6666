"""Wrap a PDF report as a DICOM Encapsulated PDF in the study it reports on, so a PACS keeps it with the images.

The patient and study attributes are copied from a reference instance of that study (the DICOM-SEG or a
source image); the report gets its own series (Modality DOC). The report shows identifiers, so
BurnedInAnnotation is YES.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid

from engine import __version__
from engine.export.atomic import write_with

_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
           "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription")


def encapsulate_pdf(pdf: str | Path, reference: str | Path | Dataset, out: str | Path, *,
                    title: str = "RevSeg tumour report", series_number: int = 902, force: bool = False) -> Path:
    """Write ``pdf`` as an Encapsulated PDF instance in the study of ``reference``, atomically.

    Args:
        pdf: the report PDF.
        reference: an instance (file or dataset) of the study the report belongs to.
        out: the .dcm file to write.
        title: DocumentTitle.
        series_number: SeriesNumber of the report's series.
        force: replace an existing file.
    """
    data = Path(pdf).read_bytes()
    if not data.startswith(b"%PDF"):
        raise ValueError(f"{Path(pdf).name} is not a PDF file (no %PDF header); export the report as PDF")
    source = reference if isinstance(reference, Dataset) else pydicom.dcmread(reference, stop_before_pixels=True)
    ds = Dataset()
    for keyword in _COPIED:
        setattr(ds, keyword, source.get(keyword, ""))
    now = dt.datetime.now()
    ds.SOPClassUID, ds.SOPInstanceUID = EncapsulatedPDFStorage, generate_uid()
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = "DOC", generate_uid(), series_number, 1
    ds.SeriesDescription = ds.DocumentTitle = title
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.ConversionType, ds.BurnedInAnnotation = "WSD", "YES"
    ds.Manufacturer, ds.SoftwareVersions = "RevSeg", __version__
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = data + (b"\0" if len(data) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(data)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return write_with(out, lambda temporary: ds.save_as(temporary, enforce_file_format=True), force)
