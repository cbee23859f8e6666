"""C-FIND / QIDO-RS queries: one frozen description, turned into a DIMSE identifier or QIDO parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
_DATE = re.compile(r"^\d{8}$")

# Keys returned at each level (empty values ask the node to fill them in).
RETURN_KEYS = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "NumberOfPatientRelatedStudies"),
    "STUDY": ("PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription",
              "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "NumberOfSeriesRelatedInstances"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "InstanceNumber"),
}


@dataclass(frozen=True)
class FindQuery:
    """What to look for. Empty fields match anything; names accept ``*`` wildcards.

    Attributes:
        level: PATIENT, STUDY, SERIES or IMAGE.
        patient_name: PatientName, e.g. ``DOE*``.
        patient_id: PatientID.
        date_from: first StudyDate (YYYYMMDD) or "".
        date_to: last StudyDate (YYYYMMDD) or "".
        modality: e.g. MR (ModalitiesInStudy at study level, Modality at series level).
        accession: AccessionNumber.
        study_uid: StudyInstanceUID (required at SERIES and IMAGE level).
        series_uid: SeriesInstanceUID (required at IMAGE level).
    """

    level: str = "STUDY"
    patient_name: str = ""
    patient_id: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    accession: str = ""
    study_uid: str = ""
    series_uid: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"query level {self.level!r} is unknown; use one of {', '.join(LEVELS)}")
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value and not _DATE.match(value):
                raise ValueError(f"{name} {value!r} is not a date; write it as YYYYMMDD")
        if self.level in ("SERIES", "IMAGE") and not self.study_uid:
            raise ValueError(f"a {self.level.lower()}-level query needs the study UID; query studies first")
        if self.level == "IMAGE" and not self.series_uid:
            raise ValueError("an image-level query needs the series UID; query the study's series first")

    @property
    def date_range(self) -> str:
        """StudyDate matching: ``A-B``, ``A-``, ``-B`` or ""."""
        if not (self.date_from or self.date_to):
            return ""
        if self.date_from == self.date_to:
            return self.date_from
        return f"{self.date_from}-{self.date_to}"

    def matches(self) -> dict[str, str]:
        """Keyword -> value of the non-empty matching keys at this level."""
        values = {"PatientName": self.patient_name, "PatientID": self.patient_id}
        if self.level != "PATIENT":
            values |= {"StudyDate": self.date_range, "AccessionNumber": self.accession,
                       "StudyInstanceUID": self.study_uid}
            values["ModalitiesInStudy" if self.level == "STUDY" else "Modality"] = self.modality
        if self.level == "IMAGE":
            values["SeriesInstanceUID"] = self.series_uid
        if self.level == "SERIES":
            values["SeriesInstanceUID"] = self.series_uid
        return {k: v for k, v in values.items() if v}

    def dataset(self) -> Dataset:
        """The C-FIND identifier."""
        ds = Dataset()
        ds.QueryRetrieveLevel = self.level
        for keyword in RETURN_KEYS[self.level]:
            setattr(ds, keyword, "")
        for keyword, value in self.matches().items():
            setattr(ds, keyword, value)
        return ds


def series_query(study_uid: str) -> FindQuery:
    """The series of one study, with their instance counts."""
    return FindQuery("SERIES", study_uid=study_uid)
