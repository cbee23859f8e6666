"""Export a working-space segmentation of a prepared case: NIfTI, DICOM-SEG and the JSON sidecar together.

The label map is first mapped back onto the native T1ce grid (``PreparedCase.to_native``); every export is
made from that one array, so the NIfTI, the SEG and the volumes in the sidecar agree voxel for voxel.

NIfTI input and DICOM-SEG: a SEG must reference DICOM images. When the T1ce came as NIfTI, RevSeg writes
the T1ce as a new DICOM MR series (``CASE_t1ce_dicom/``, DERIVED, pseudonymous patient, new study) and the
SEG references it; load both into the viewer together (see docs/input-and-export.md).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import CancelCheck, ExportError, ProgressCallback, check_cancel, report
from engine.export.atomic import check_writable
from engine.export.dicom_mr import DicomIdentity, MRSeriesSpec, write_mr_series
from engine.export.dicom_seg import AlgorithmInfo, write_dicom_seg
from engine.export.nifti import CONVENTIONS, convert_labels, write_label_nifti
from engine.export.sidecar import build_sidecar, write_sidecar
from engine.geometry import resample_labels
from engine.io.dicom_scan import scan_dicom_folder
from engine.io.dicom_volume import read_dicom_series
from engine.io.nifti_input import read_nifti_volume
from engine.prepared import PreparedCase

log = logging.getLogger(__name__)

FORMATS = ("nifti", "dicom-seg", "json")


@dataclass(frozen=True)
class ExportSettings:
    """How to export.

    Attributes:
        formats: any of "nifti", "dicom-seg", "json".
        convention: "brats2020" (ET = 4) or "brats2023" (ET = 3) for the NIfTI file.
        method: inverse mapping onto the native grid, "labelwise_linear" or "nearest".
        edited: a person edited the automatic result (SEG segments become SEMIAUTOMATIC).
        creator: ContentCreatorName of the SEG (``Family^Given``).
        algorithm: model identification (name, version, weights SHA-256).
        stem: file name of the exports without suffix ("" for ``CASE_seg``), e.g. ``P123_20210304_seg``.
    """

    formats: tuple[str, ...] = FORMATS
    convention: str = "brats2020"
    method: str = "labelwise_linear"
    edited: bool = False
    creator: str = "RevSeg^Automatic"
    algorithm: AlgorithmInfo = field(default_factory=AlgorithmInfo)
    stem: str = ""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        files: kind -> path ("nifti", "dicom-seg", "t1ce-dicom" (a folder), "json").
        label_native: the label map on the native T1ce grid (BraTS 2020 labels).
    """

    files: dict[str, Path]
    label_native: np.ndarray = field(repr=False)


def export_paths(prepared: PreparedCase, out_dir: Path, settings: ExportSettings) -> dict[str, Path]:
    """The files an export will write, by kind."""
    stem = settings.stem or f"{prepared.case_id}_seg"
    paths = {"nifti": out_dir / f"{stem}.nii.gz", "dicom-seg": out_dir / f"{stem}.dcm", "json": out_dir / f"{stem}.json"}
    paths = {kind: path for kind, path in paths.items() if kind in settings.formats}
    if "dicom-seg" in settings.formats and prepared.reference_kind == "nifti":
        paths["t1ce-dicom"] = out_dir / f"{prepared.case_id}_t1ce_dicom"
    return paths


def _validate(settings: ExportSettings) -> None:
    unknown = set(settings.formats) - set(FORMATS)
    if unknown or not settings.formats:
        raise ExportError(f"unknown export format {sorted(unknown)[0] if unknown else '(none)'}; use {', '.join(FORMATS)}")
    if settings.convention not in CONVENTIONS:
        raise ExportError(f"unknown label convention {settings.convention!r}; use one of {', '.join(CONVENTIONS)}")


def _seg_sources(prepared: PreparedCase, label: np.ndarray, twin_folder: Path | None, force: bool,
                 progress: ProgressCallback | None, cancel: CancelCheck | None) -> tuple[tuple, np.ndarray]:
    """The T1ce DICOM headers to reference and the label map on their grid (writing the NIfTI's twin if needed)."""
    if prepared.reference_kind == "dicom":
        return prepared.reference_headers, label
    t1ce = read_nifti_volume(prepared.reference_path, "t1ce")
    identity = DicomIdentity(patient_name=f"Anonymous^{prepared.case_id}", patient_id=prepared.case_id)
    spec = MRSeriesSpec(f"{prepared.case_id} T1ce (from NIfTI)", series_number=900, derived=True)
    write_mr_series(t1ce.data, t1ce.grid.affine, twin_folder, spec, identity, force=force, progress=progress,  # type: ignore[arg-type]
                    cancel=cancel)
    twin = read_dicom_series(scan_dicom_folder(twin_folder)[0], "t1ce")  # type: ignore[arg-type]
    # The twin's slice order follows its slice normal, which may run against the NIfTI's axis 2: map exactly.
    return twin.dicom_headers, resample_labels(label, t1ce.grid, twin.grid, "nearest")


def export_segmentation(
    prepared: PreparedCase,
    label_working: np.ndarray,
    out_dir: str | Path,
    settings: ExportSettings = ExportSettings(),
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    ai_label_working: np.ndarray | None = None,
    measurements: dict[str, object] | None = None,
) -> ExportResult:
    """Map a working-space label map back to the native T1ce grid and write the requested exports.

    Args:
        prepared: the prepared case the label map was computed on.
        label_working: BraTS label map (0/1/2/4 or 0/1/2/3) on ``prepared.space.grid``.
        out_dir: output folder (created).
        settings: formats, label convention, inverse mapping, edited flag, creator, model identification.
        force: replace existing files; without it, no file is written when any target exists.
        progress: ``progress(stage, done, total)`` per export step.
        cancel: polled between steps.
        ai_label_working: the automatic result ``label_working`` was edited from (same grid), or None. When
            given, the sidecar records AI vs edited volumes and their Dice, and a label map that differs from
            it is exported as edited (SEMIAUTOMATIC) even if ``settings.edited`` is False.
        measurements: the sidecar's "measurements" record (e.g. the viewer's, with RANO corrections); default:
            measured on the exported label map.

    Raises:
        ExportError / OutputExistsError (ValueErrors) for bad labels or occupied targets.
    """
    _validate(settings)
    out_dir = Path(out_dir)
    paths = export_paths(prepared, out_dir, settings)
    for path in paths.values():
        check_writable(path, force)
    label = _to_native(prepared, label_working, settings)
    ai_native = None
    if ai_label_working is not None:
        ai_native = _to_native(prepared, ai_label_working, settings)
        if not np.array_equal(convert_labels(ai_label_working, "brats2020"), convert_labels(label_working, "brats2020")):
            settings = dataclasses.replace(settings, edited=True)
    files: dict[str, Path] = {}
    try:
        _write_all(prepared, label, paths, settings, files, force, progress, cancel, ai_native, measurements)
    except BaseException:
        _remove(files)  # no partial export: what this call wrote goes again
        raise
    report(progress, "export", len(paths), len(paths))
    log.info("exported %s: %s", prepared.case_id, {k: str(v) for k, v in files.items()})
    return ExportResult(files, label)


def _to_native(prepared: PreparedCase, label_working: np.ndarray, settings: ExportSettings) -> np.ndarray:
    return convert_labels(prepared.to_native(convert_labels(label_working, "brats2020"), settings.method), "brats2020")


def _write_all(prepared: PreparedCase, label: np.ndarray, paths: dict[str, Path], settings: ExportSettings,
               files: dict[str, Path], force: bool, progress: ProgressCallback | None, cancel: CancelCheck | None,
               ai_native: np.ndarray | None = None, measurements: dict[str, object] | None = None) -> None:
    """Write each requested export, recording each finished one in ``files``."""
    steps = len(paths)
    if "nifti" in paths:
        report(progress, "export", len(files), steps)
        files["nifti"] = write_label_nifti(label, prepared.space.native, paths["nifti"],
                                           convention=settings.convention, force=force)
    if "dicom-seg" in paths:
        check_cancel(cancel, "export")
        report(progress, "export", len(files), steps)
        if "t1ce-dicom" in paths:
            files["t1ce-dicom"] = paths["t1ce-dicom"]  # recorded first: removed again if the SEG fails
        sources, seg_label = _seg_sources(prepared, label, paths.get("t1ce-dicom"), force, progress, cancel)
        files["dicom-seg"] = write_dicom_seg(seg_label, sources, paths["dicom-seg"], algorithm=settings.algorithm,
                                             edited=settings.edited, creator=settings.creator, force=force,
                                             cancel=cancel)
    if "json" in paths:
        check_cancel(cancel, "export")
        sidecar = build_sidecar(prepared.manifest, label, prepared.space.native, algorithm=settings.algorithm,
                                settings=_settings_record(settings, prepared),
                                outputs={k: str(v) for k, v in files.items()}, ai_label_native=ai_native,
                                measurements=measurements)
        files["json"] = write_sidecar(paths["json"], sidecar, force)


def _remove(files: dict[str, Path]) -> None:
    for path in files.values():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _settings_record(settings: ExportSettings, prepared: PreparedCase) -> dict[str, object]:
    return {
        "label_convention": settings.convention,
        "inverse_mapping": settings.method if not prepared.space.exact else "exact voxel permutation",
        "edited": settings.edited,
        "segment_algorithm_type": "SEMIAUTOMATIC" if settings.edited else "AUTOMATIC",
        "creator": settings.creator,
        "formats": list(settings.formats),
    }
