"""Who and which study a case is: patient name, ID, birth date, study date and accession number.

From the DICOM header of the case's first series when it came as DICOM; for NIfTI data from a JSON sidecar
beside the files (``patient.json``, or any ``*.json`` holding DICOM-style keys such as ``PatientID``, as
dcm2niix writes), else the case folder's name stands in for the patient ID. Free of Qt: the GUI shows it in
the title, the study dialog and the report, and builds default export names from it (``export_stem``).
"""

from __future__ import annotations

import json
import logging
import re
import string
from dataclasses import dataclass
from pathlib import Path

import pydicom

log = logging.getLogger(__name__)

DEFAULT_EXPORT_PATTERN = "{PatientID}_{StudyDate}_seg"
_KEYS = {"name": "PatientName", "patient_id": "PatientID", "birth_date": "PatientBirthDate",
         "study_date": "StudyDate", "accession": "AccessionNumber"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PatientInfo:
    """A study's identity ("" for what is unknown).

    Attributes:
        name: patient name as written ("Family^Given" in DICOM; shown as "Family, Given").
        patient_id: patient ID (the case folder's name for NIfTI data without a sidecar).
        birth_date: YYYYMMDD.
        study_date: YYYYMMDD.
        accession: accession number.
        source: where it came from: "dicom", "sidecar" or "folder".
    """

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    study_date: str = ""
    accession: str = ""
    source: str = "folder"

    @property
    def display_name(self) -> str:
        return ", ".join(part for part in self.name.split("^") if part).strip()

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs of what is known, for the study dialog and the report."""
        values = [("Patient", self.display_name), ("Patient ID", self.patient_id),
                  ("Birth date", _pretty_date(self.birth_date)), ("Study date", _pretty_date(self.study_date)),
                  ("Accession", self.accession)]
        return [(label, value) for label, value in values if value]

    def title(self) -> str:
        """One line for a window title: "Family, Given (ID) 2021-03-04"."""
        who = self.display_name
        ident = f"({self.patient_id})" if who and self.patient_id else self.patient_id
        return " ".join(part for part in (who, ident, _pretty_date(self.study_date)) if part)


def _pretty_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if re.fullmatch(r"\d{8}", value or "") else value


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith((".nii", ".nii.gz"))


def read_patient_info(source_file: str | Path, folder: str | Path | None = None) -> PatientInfo:
    """The identity of the study ``source_file`` (a DICOM file or a NIfTI file of the case) belongs to.

    Args:
        source_file: the first file of the reference series, or a NIfTI file of the case.
        folder: the case folder (its name is the patient ID of last resort); default the file's folder.
    """
    source_file = Path(source_file)
    folder = Path(folder) if folder is not None else source_file.parent
    if source_file.is_file() and not _is_nifti(source_file):
        try:
            header = pydicom.dcmread(source_file, stop_before_pixels=True)
            values = {attr: str(getattr(header, key, "") or "").strip() for attr, key in _KEYS.items()}
            return PatientInfo(**values, source="dicom")
        except (OSError, pydicom.errors.InvalidDicomError) as error:
            log.info("no DICOM identity in %s: %s", source_file, error)
    sidecar = _sidecar_values(source_file.parent if source_file.is_file() else folder)
    if sidecar:
        return PatientInfo(**{attr: sidecar.get(key, "") for attr, key in _KEYS.items()}, source="sidecar")
    return PatientInfo(patient_id=folder.name, source="folder")


def _sidecar_values(folder: Path) -> dict[str, str]:
    """DICOM-style identity keys from ``patient.json`` or the first JSON file of ``folder`` holding any."""
    candidates = [folder / "patient.json", *sorted(folder.glob("*.json"))] if folder.is_dir() else []
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and any(key in data for key in _KEYS.values()):
            return {key: str(data.get(key, "") or "") for key in _KEYS.values()}
    return {}


def export_stem(info: PatientInfo, case_id: str, pattern: str = DEFAULT_EXPORT_PATTERN) -> str:
    """The default export file name (without suffix) from ``pattern``, e.g. "P123_20210304_seg".

    Placeholders: ``{PatientID}``, ``{PatientName}``, ``{StudyDate}``, ``{AccessionNumber}``, ``{CaseID}``.
    Empty fields drop out with the separator before them; unsafe characters become "-".

    Raises:
        ValueError: the pattern names an unknown placeholder.
    """
    values = {"PatientID": info.patient_id or case_id, "PatientName": info.name.replace("^", "-"),
              "StudyDate": info.study_date, "AccessionNumber": info.accession, "CaseID": case_id}
    names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    unknown = names - set(values)
    if unknown:
        raise ValueError(f"unknown field {{{sorted(unknown)[0]}}} in the export name pattern; use "
                         + ", ".join(f"{{{key}}}" for key in values))
    text = pattern.format(**values)
    text = re.sub(r"[_\-. ]{2,}", lambda m: m.group(0)[-1], text).strip("_-. ")
    return _UNSAFE.sub("-", text) or f"{case_id}_seg"


__all__ = ["DEFAULT_EXPORT_PATTERN", "PatientInfo", "export_stem", "read_patient_info"]
