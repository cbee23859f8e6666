"""Small generated MR studies for the network tests."""

from __future__ import annotations

from pathlib import Path

import pydicom

from tests.engine.synthetic_cases import LPS_AXES, write_dicom_study
from tests.engine.synthetic_cases import grid_from as _grid

TINY_GRID = _grid((12, 10, 5), (2, 2, 3), LPS_AXES)


def tiny_study(folder: Path, patient_id: str, contrasts: tuple[str, ...] = ("t1ce", "flair")) -> tuple[str, list[Path]]:
    """A study of a few tiny MR series for ``patient_id``; returns its StudyInstanceUID and files."""
    from tests.engine.synthetic_cases import DICOM_SERIES

    write_dicom_study(folder, TINY_GRID, {c: DICOM_SERIES[c] for c in contrasts}, non_mr=False)
    return retag(folder, patient_id)


def retag(folder: Path, patient_id: str) -> tuple[str, list[Path]]:
    """Give every file of the study in ``folder`` ``patient_id``; returns the study UID and the files."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    study_uid = ""
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.PatientName = patient_id, f"Test^{patient_id}"
        ds.save_as(path)
        study_uid = str(ds.StudyInstanceUID)
    return study_uid, files
