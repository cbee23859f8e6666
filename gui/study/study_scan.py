"""What a study holds, for the study dialog: each NIfTI file or DICOM series with a guessed contrast and a
thumbnail of its middle slice. Runs in a worker thread (no Qt here); pixel data is read for one slice only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.case import modality_of
from engine.content_check import slice_problem
from engine.errors import CancelCheck, CaseError, ProgressCallback, check_cancel, report
from engine.io.dicom_scan import DicomSeries, scan_dicom_folder
from engine.io.guess import ROLES, RoleGuess
from engine.io.nifti_input import is_nifti_name, role_of_file
from engine.patient import PatientInfo, read_patient_info

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 72
# A second candidate this close to the best one is also pre-assigned, so the dialog shows the ambiguity.
TIE_MARGIN = 0.05


@dataclass(frozen=True, eq=False)
class SeriesEntry:
    """One row of the study dialog.

    Attributes:
        description: file name or SeriesDescription.
        detail: kind and size, e.g. "NIfTI 240 x 240 x 155" or "#3 MR, 155 files".
        guess: the guessed contrast (role None: not one of the four, or unknown).
        override: what ``engine.io.plan_inputs`` accepts for it: the NIfTI file or the SeriesInstanceUID.
        thumbnail: uint8 middle slice (rows, columns), or None when unreadable.
        usable: an MR volume that can be assigned (False for label maps and non-MR series).
        first_file: a file of the series (DICOM), for its header.
    """

    description: str
    detail: str
    guess: RoleGuess
    override: str | Path
    thumbnail: np.ndarray | None = field(default=None, repr=False)
    usable: bool = True
    first_file: Path | None = None


@dataclass(frozen=True)
class StudyScan:
    """The entries of a study and how to load it.

    Attributes:
        kind: "nifti" or "dicom".
        input_path: the DICOM folder (series UIDs are resolved in it) or the NIfTI folder; None for loose files.
        entries: the rows, in display order.
        case_folder: a NIfTI folder whose files ``engine.case.load_case_folder`` reads as they are named.
        patient: the study's identity (DICOM header, else a sidecar or the folder name).
    """

    kind: str
    input_path: Path | None
    entries: list[SeriesEntry]
    case_folder: Path | None = None
    patient: PatientInfo | None = None

    def initial_roles(self) -> list[str | None]:
        """The pre-assigned role per entry: the best guess per role (and any near-tie, to show it)."""
        roles: list[str | None] = [None] * len(self.entries)
        for role in ROLES:
            ranked = sorted((i for i, e in enumerate(self.entries)
                             if e.usable and e.guess.role == role and e.guess.confidence > 0),
                            key=lambda i: -self.entries[i].guess.confidence)
            best = self.entries[ranked[0]].guess.confidence if ranked else 0.0
            for index in ranked:
                if self.entries[index].guess.confidence >= best - TIE_MARGIN:
                    roles[index] = role
        return roles


def to_uint8(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A small uint8 picture of a 2D slice: 1-99 percentile window, strided down to about ``size`` pixels."""
    image = np.asarray(image, dtype=np.float32)
    step = max(1, int(np.ceil(max(image.shape) / size)))
    image = image[::step, ::step]
    low, high = np.percentile(image, (1, 99)) if image.size else (0.0, 1.0)
    scaled = (image - low) / max(float(high - low), 1e-6)
    return np.ascontiguousarray((np.clip(scaled, 0, 1) * 255).astype(np.uint8))


def _nifti_thumbnail(path: Path) -> tuple[np.ndarray | None, str]:
    """Middle slice along the stored third axis (decompresses up to it only), shown with anterior up."""
    try:
        image = nib.load(str(path))
        shape = image.shape[:3]
        middle = np.asanyarray(image.dataobj[:, :, shape[2] // 2]).squeeze()
        return to_uint8(np.rot90(middle)), f"NIfTI {shape[0]} x {shape[1]} x {shape[2]}"
    except Exception as error:  # noqa: BLE001 - a broken file still gets a row (loading reports why)
        log.warning("no thumbnail for %s: %s", path, error)
        return None, "NIfTI (unreadable)"


def _dicom_thumbnail(series: DicomSeries) -> np.ndarray | None:
    import pydicom

    try:
        dataset = pydicom.dcmread(series.files[len(series.files) // 2])
        pixels = dataset.pixel_array
        return to_uint8(pixels[len(pixels) // 2] if pixels.ndim == 3 else pixels)
    except Exception as error:  # noqa: BLE001 - a thumbnail is a nicety
        log.warning("no thumbnail for series %s: %s", series.label, error)
        return None


def _nifti_entries(files: Sequence[Path], progress: ProgressCallback | None,
                   cancel: CancelCheck | None) -> list[SeriesEntry]:
    check_cancel(cancel, "study scan")
    report(progress, "thumbnails", 0, len(files))
    # gzip inflation releases the GIL: reading the files side by side roughly halves the wait
    with ThreadPoolExecutor(max_workers=4) as pool:
        thumbnails = list(pool.map(_nifti_thumbnail, files))
    report(progress, "thumbnails", len(files), len(files))
    entries = []
    for path, (thumbnail, detail) in zip(files, thumbnails, strict=True):
        guess = role_of_file(path)
        if guess.reason == "label map":
            entries.append(SeriesEntry(path.name, detail, guess, path, thumbnail, False))
            continue
        n_slices = int(detail.split(" x ")[-1]) if thumbnail is not None else 0
        entries.append(SeriesEntry(path.name, detail, with_content(guess, thumbnail, n_slices), path, thumbnail,
                                   thumbnail is not None))
    return entries


def with_content(guess: RoleGuess, thumbnail: np.ndarray | None, n_slices: int) -> RoleGuess:
    """The name-based guess, its confidence set to 0 when the content read says it is no MRI volume."""
    problem = slice_problem(thumbnail, n_slices)
    if not problem:
        return RoleGuess(guess.role, guess.confidence, f"{guess.reason}; content looks like an MRI volume")
    return RoleGuess(guess.role, 0.0, f"{guess.reason}; but {problem}")


def _dicom_entries(folder: Path, progress: ProgressCallback | None, cancel: CancelCheck | None) -> list[SeriesEntry]:
    series = scan_dicom_folder(folder, progress, cancel)
    if not series:
        raise CaseError(f"{folder} holds no NIfTI file and no DICOM series; open a folder with the study's images")
    entries: list[SeriesEntry] = []
    for index, item in enumerate(series):
        check_cancel(cancel, "study scan")
        report(progress, "thumbnails", index, len(series))
        number = f"#{item.series_number} " if item.series_number is not None else ""
        usable = item.modality == "MR" and not item.multiframe
        thumbnail = _dicom_thumbnail(item) if usable else None
        guess = with_content(item.guess, thumbnail, len(item.files)) if usable else item.guess
        entries.append(SeriesEntry(item.description, f"{number}{item.modality}, {len(item.files)} files", guess,
                                   item.series_uid, thumbnail, usable, Path(item.files[0]) if item.files else None))
    return entries


def scan_study(paths: Sequence[str | Path], progress: ProgressCallback | None = None,
               cancel: CancelCheck | None = None) -> StudyScan:
    """List what a study holds: a folder (NIfTI files or DICOM series, scanned recursively) or NIfTI files.

    Args:
        paths: one folder, or NIfTI files (DICOM files stand for the folder they are in).
        progress: ``progress(stage, done, total)``; cancel: polled between files.

    Raises:
        CaseError with a one-line message when nothing usable is there.
    """
    paths = [Path(p) for p in paths]
    if not paths or not all(p.exists() for p in paths):
        raise CaseError(f"{next((p for p in paths if not p.exists()), 'nothing')} does not exist; choose a study again")
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_nifti_name(p))
        if files:
            roles = {role_of_file(p).role for p in files}
            complete = set(ROLES) <= roles and all(modality_of(p) is not None for p in files)
            return StudyScan("nifti", folder, _nifti_entries(files, progress, cancel), folder if complete else None,
                             read_patient_info(files[0], folder))
        return _with_patient(StudyScan("dicom", folder, _dicom_entries(folder, progress, cancel)))
    nifti = [p for p in paths if p.is_file() and is_nifti_name(p)]
    if len(nifti) == len(paths):
        return StudyScan("nifti", None, _nifti_entries(sorted(nifti), progress, cancel),
                         patient=read_patient_info(sorted(nifti)[0]))
    folder = paths[0] if paths[0].is_dir() else paths[0].parent
    return _with_patient(StudyScan("dicom", folder, _dicom_entries(folder, progress, cancel)))


def _with_patient(scan: StudyScan) -> StudyScan:
    """The DICOM study's identity from the header of a file of its first usable series."""
    first = next((entry.first_file for entry in scan.entries if entry.usable and entry.first_file), None)
    return scan if first is None else dataclasses.replace(scan, patient=read_patient_info(first, scan.input_path))
