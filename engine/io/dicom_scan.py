"""Find the DICOM series in a folder tree and guess which MRI contrast each one holds.

Only headers are read (no pixel data), so scanning is quick. Files that are not DICOM are skipped, so a
folder with a DICOMDIR, text notes or thumbnails still scans.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from engine.errors import CancelCheck, ProgressCallback, check_cancel, report
from engine.io.guess import RoleGuess, combine, guess_from_parameters, guess_from_text

log = logging.getLogger(__name__)

_SCAN_TAGS = [
    "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "Modality", "SeriesDescription",
    "ProtocolName", "SequenceName", "SeriesNumber", "ContrastBolusAgent", "RepetitionTime", "EchoTime",
    "InversionTime", "SOPClassUID", "NumberOfFrames",
]
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class DicomSeries:
    """One DICOM series found in a folder.

    Attributes:
        series_uid: SeriesInstanceUID.
        modality: the DICOM Modality (MR, CT, SEG, ...).
        description: SeriesDescription (or ProtocolName when empty).
        series_number: SeriesNumber, or None.
        files: its files, sorted by name (slice order is settled when the volume is read).
        guess: the guessed contrast (role None for non-MR series).
        multiframe: True for enhanced multi-frame objects (one file, many frames).
    """

    series_uid: str
    modality: str
    description: str
    series_number: int | None
    files: tuple[Path, ...]
    guess: RoleGuess
    multiframe: bool = False

    @property
    def label(self) -> str:
        """A short name for messages: series number and description."""
        number = f"#{self.series_number} " if self.series_number is not None else ""
        return f"{number}'{self.description}' ({self.modality}, {len(self.files)} files)"


def _read_header(path: Path) -> pydicom.Dataset | None:
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_SCAN_TAGS)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError):
        return None
    if "SeriesInstanceUID" not in header or getattr(header, "SOPClassUID", "") == _DICOMDIR_CLASS:
        return None
    return header


def _float_tag(header: pydicom.Dataset, name: str) -> float | None:
    value = header.get(name)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def guess_series_role(header: pydicom.Dataset) -> RoleGuess:
    """Guess a series' contrast from one of its headers.

    Args:
        header: any dataset of the series (all share the series-level tags used here).
    """
    if header.get("Modality", "") != "MR":
        return RoleGuess(None, 1.0, f"modality {header.get('Modality', '?')} is not MR")
    words = (str(header.get(t, "") or "").strip() for t in ("SeriesDescription", "ProtocolName", "SequenceName"))
    text = " ".join(w for w in words if w)
    agent_tag = header.get("ContrastBolusAgent")
    agent = None if agent_tag is None else bool(str(agent_tag).strip())
    timing = guess_from_parameters(
        _float_tag(header, "RepetitionTime"), _float_tag(header, "EchoTime"), _float_tag(header, "InversionTime"), agent
    )
    return combine(guess_from_text(text, agent), timing)


def _candidate_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def scan_dicom_folder(
    folder: str | Path, progress: ProgressCallback | None = None, cancel: CancelCheck | None = None
) -> list[DicomSeries]:
    """All DICOM series under ``folder`` (recursively), grouped by SeriesInstanceUID.

    Args:
        folder: folder to scan.
        progress: called as ``progress("scan", files_done, files_total)``.
        cancel: polled every 64 files.

    Returns:
        Series sorted by series number then description; empty when the folder holds no DICOM file.
    """
    folder = Path(folder)
    files = _candidate_files(folder)
    groups: dict[str, list[tuple[Path, pydicom.Dataset]]] = {}
    for index, path in enumerate(files):
        if index % 64 == 0:
            check_cancel(cancel, "DICOM scan")
            report(progress, "scan", index, len(files))
        header = _read_header(path)
        if header is not None:
            groups.setdefault(str(header.SeriesInstanceUID), []).append((path, header))
    report(progress, "scan", len(files), len(files))
    series = [_make_series(uid, members) for uid, members in groups.items()]
    series.sort(key=lambda s: (s.series_number if s.series_number is not None else 1 << 30, s.description))
    log.info("scanned %s: %d files, %d DICOM series", folder, len(files), len(series))
    return series


def _make_series(uid: str, members: list[tuple[Path, pydicom.Dataset]]) -> DicomSeries:
    header = members[0][1]
    number = header.get("SeriesNumber")
    description = str(header.get("SeriesDescription", "") or header.get("ProtocolName", "") or "").strip()
    return DicomSeries(
        series_uid=uid,
        modality=str(header.get("Modality", "")),
        description=description or "(no description)",
        series_number=int(number) if number not in (None, "") else None,
        files=tuple(p for p, _ in members),
        guess=guess_series_role(header),
        multiframe=int(header.get("NumberOfFrames", 1) or 1) > 1,
    )
