"""Case input: NIfTI files, DICOM series and explicit per-modality paths (see docs/input-and-export.md)."""

from __future__ import annotations

from engine.io.dicom_scan import DicomSeries, scan_dicom_folder
from engine.io.dicom_volume import read_dicom_series
from engine.io.guess import ROLES, RoleGuess
from engine.io.inputs import Choice, InputPlan, load_inputs, plan_inputs
from engine.io.native import InputSource, NativeImage
from engine.io.nifti_input import find_nifti_inputs, read_nifti_volume

__all__ = [
    "ROLES", "Choice", "DicomSeries", "InputPlan", "InputSource", "NativeImage", "RoleGuess", "find_nifti_inputs",
    "load_inputs", "plan_inputs", "read_dicom_series", "read_nifti_volume", "scan_dicom_folder",
]
