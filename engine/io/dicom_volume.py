"""Read one classic (single-frame per file) DICOM MR series into a volume with its RAS affine.

Slices are ordered by their Image Position (Patient) projected on the slice normal, never by file name or
InstanceNumber, so the geometry is right by construction. The array is indexed (column, row, slice): voxel
(i, j, k) lies at IPP_k + i * dc * row_direction + j * dr * column_direction, which is the affine built here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom

from engine.errors import CancelCheck, DicomInputError, ProgressCallback, check_cancel, report
from engine.geometry import RAS_TO_LPS, Grid
from engine.io.budget import check_geometry, check_mr_content
from engine.io.dicom_scan import DicomSeries
from engine.io.native import InputSource, NativeImage

log = logging.getLogger(__name__)

# Slice positions may jitter by float noise in the headers; 1 % of the spacing is far below what matters.
_SPACING_TOLERANCE = 0.01


def _read_all(series: DicomSeries, progress: ProgressCallback | None, cancel: CancelCheck | None) -> list:
    datasets = []
    for index, path in enumerate(series.files):
        if index % 16 == 0:
            check_cancel(cancel, "DICOM reading")
            report(progress, "read", index, len(series.files))
        try:
            datasets.append(pydicom.dcmread(path))
        except Exception as error:  # noqa: BLE001 - any decoder failure means the same thing to the user
            raise DicomInputError(f"{path.name} of series {series.label} cannot be read ({error})") from None
    report(progress, "read", len(series.files), len(series.files))
    return datasets


def _orientation(datasets: list, series: DicomSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row direction, column direction and slice normal (LPS unit vectors) shared by all slices."""
    try:
        orientations = np.array([[float(v) for v in ds.ImageOrientationPatient] for ds in datasets])
    except AttributeError:
        raise DicomInputError(f"series {series.label} lacks Image Orientation (Patient); cannot place it") from None
    if np.abs(orientations - orientations[0]).max() > 1e-4:
        raise DicomInputError(f"series {series.label} mixes slice orientations; it is not one volume")
    row, column = orientations[0, :3], orientations[0, 3:]
    return row, column, np.cross(row, column)


def _sorted_by_position(datasets: list, normal: np.ndarray, series: DicomSeries) -> tuple[list, float]:
    """Datasets ordered along the normal and the (uniform) spacing between them."""
    try:
        positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    except AttributeError:
        raise DicomInputError(f"series {series.label} lacks Image Position (Patient); cannot place it") from None
    distances = positions @ normal
    order = np.argsort(distances, kind="stable")
    steps = np.diff(distances[order])
    if len(datasets) < 2:
        raise DicomInputError(f"series {series.label} has a single slice; a 3D volume is needed")
    if (steps < 1e-3).any():
        raise DicomInputError(
            f"series {series.label} has {len(datasets)} images at {len(np.unique(distances.round(3)))} positions "
            "(several volumes or echoes in one series); split it or choose another series"
        )
    spacing = float(np.median(steps))
    if np.abs(steps - spacing).max() > _SPACING_TOLERANCE * spacing + 1e-3:
        raise DicomInputError(f"series {series.label} has uneven slice spacing ({steps.min():.2f}-{steps.max():.2f} mm); "
                              "it has gaps or missing slices")
    return [datasets[i] for i in order], spacing


def _decoded(ds: pydicom.Dataset, series: DicomSeries) -> np.ndarray:
    """One slice's pixels as float32; a decoder failure names the file and its transfer syntax."""
    try:
        pixels = ds.pixel_array
    except Exception as error:  # noqa: BLE001 - any decoder failure means the same thing to the user
        syntax = ds.file_meta.get("TransferSyntaxUID", "?") if hasattr(ds, "file_meta") else "?"
        name = getattr(syntax, "name", str(syntax))
        reason = " ".join(line.strip() for line in str(error).strip().splitlines())[:300] or type(error).__name__
        raise DicomInputError(f"{Path(ds.filename).name} of series {series.label} ({name}, {syntax}) cannot be "
                              f"decoded ({reason}); export the series uncompressed or install its decoder") from None
    if pixels.ndim != 2:
        raise DicomInputError(f"{Path(ds.filename).name} of series {series.label} holds {pixels.shape} pixel data; "
                              "one grey-scale 2D image per file is needed")
    return pixels.astype(np.float32)


def _pixel_spacing(ds: pydicom.Dataset, series: DicomSeries) -> tuple[float, float]:
    """(row spacing, column spacing) in mm, refusing a missing or unreadable Pixel Spacing."""
    try:
        row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    except (AttributeError, TypeError, ValueError):
        raise DicomInputError(f"series {series.label} lacks a valid Pixel Spacing (0028,0030); its voxel size is "
                              "unknown: re-export the series with its geometry") from None
    return row_spacing, column_spacing


def _pixel_stack(datasets: list, series: DicomSeries) -> np.ndarray:
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in datasets}
    if len(shapes) != 1:
        raise DicomInputError(f"series {series.label} mixes image sizes {sorted(shapes)}")
    slices = []
    for ds in datasets:
        pixels = _decoded(ds, series)
        try:
            slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
        except (TypeError, ValueError):
            raise DicomInputError(f"series {series.label} has an unreadable Rescale Slope / Intercept") from None
        with np.errstate(over="ignore", invalid="ignore"):
            slices.append((pixels * slope + intercept).T)  # (rows, columns) -> (column i, row j)
    volume = np.stack(slices, axis=2)
    if not np.isfinite(volume).all():
        raise DicomInputError(f"series {series.label} has NaN or infinite pixel values")
    return np.ascontiguousarray(volume)


def read_dicom_series(
    series: DicomSeries,
    modality: str,
    source: InputSource | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> NativeImage:
    """Read a classic MR series as a volume on its own grid.

    Args:
        series: from ``scan_dicom_folder``.
        modality: the role it plays (t1, t1ce, t2, flair).
        source: provenance to record; built from the series when None.
        progress: called as ``progress("read", files_done, files_total)``.
        cancel: polled while reading.

    Raises:
        DicomInputError: non-MR, multi-frame, single-slice, multi-volume or broken-geometry series.
    """
    if series.modality != "MR":
        raise DicomInputError(f"series {series.label} is {series.modality}, not MR")
    if series.multiframe:
        raise DicomInputError(f"series {series.label} is an enhanced multi-frame object; export it as classic "
                              "single-frame DICOM (e.g. with dcm2niix to NIfTI) first")
    datasets = _read_all(series, progress, cancel)
    row, column, normal = _orientation(datasets, series)
    datasets, slice_spacing = _sorted_by_position(datasets, normal, series)
    row_spacing, column_spacing = _pixel_spacing(datasets[0], series)
    shape = (int(datasets[0].Columns), int(datasets[0].Rows), len(datasets))
    check_geometry(f"series {series.label}", shape, (column_spacing, row_spacing, slice_spacing))
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = row * column_spacing, column * row_spacing, normal * slice_spacing
    lps[:3, 3] = [float(v) for v in datasets[0].ImagePositionPatient]
    data = _pixel_stack(datasets, series)
    check_mr_content(data, f"series {series.label}", modality)
    paths = tuple(Path(ds.filename) for ds in datasets)
    for ds in datasets:
        del ds.PixelData  # keep only headers: they are what a DICOM-SEG references
    source = source or InputSource("dicom", paths, series.description, series.series_uid, series.guess.confidence,
                                   series.guess.reason)
    source = InputSource(source.kind, paths, source.description, series.series_uid, source.confidence, source.reason)
    grid = Grid(tuple(int(n) for n in data.shape), RAS_TO_LPS @ lps)  # type: ignore[arg-type]
    log.info("read DICOM %s as %s: shape %s, spacing %s", series.label, modality, grid.shape,
             tuple(round(s, 3) for s in grid.spacing))
    return NativeImage(modality, data, grid, source, tuple(datasets))
