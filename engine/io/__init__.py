"""Case input: NIfTI files, DICOM series and explicit per-modality paths (see docs/input-and-export.md).

The submodules load on first use (PEP 562): code that needs only the role names or NIfTI reading (the case
loader, the trainer) does not pay for pydicom and SimpleITK, and runs where they are not installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DicomSeries": "dicom_scan", "scan_dicom_folder": "dicom_scan",
    "read_dicom_series": "dicom_volume",
    "ROLES": "guess", "RoleGuess": "guess",
    "Choice": "inputs", "InputPlan": "inputs", "load_inputs": "inputs", "plan_inputs": "inputs",
    "InputSource": "native", "NativeImage": "native",
    "find_nifti_inputs": "nifti_input", "read_nifti_volume": "nifti_input",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.io' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.io.{_EXPORTS[name]}"), name)
