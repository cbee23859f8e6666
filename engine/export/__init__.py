"""Exports of a segmentation on the native T1ce grid: NIfTI, DICOM-SEG and a JSON provenance sidecar."""

from __future__ import annotations

from engine.export.bundle import FORMATS, ExportResult, ExportSettings, export_paths, export_segmentation
from engine.export.dicom_mr import DicomIdentity, MRSeriesSpec, write_mr_series
from engine.export.dicom_seg import AlgorithmInfo, write_dicom_seg
from engine.export.nifti import write_label_nifti
from engine.export.sidecar import build_sidecar, region_volumes_ml, write_sidecar

__all__ = [
    "FORMATS", "AlgorithmInfo", "DicomIdentity", "ExportResult", "ExportSettings", "MRSeriesSpec", "build_sidecar",
    "export_paths", "export_segmentation", "region_volumes_ml", "write_dicom_seg", "write_label_nifti",
    "write_mr_series", "write_sidecar",
]
