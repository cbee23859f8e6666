"""Content of the one-page report, free of Qt: identifiers, key slices, measurements, model and provenance.

``gui.review.report_render`` draws it to PNG / PDF. Key slices are axial (voxel axis 2) and stored the way the viewer
shows axial slices (radiological: the patient's right on the left of the page, anterior at the top), with the
pixel size in mm so the renderer keeps the aspect ratio, and the RANO diameters as line segments. The lesion
count and list come from the lesion table (``engine.lesions``); slice numbers in titles and rows count from 1,
as in the viewer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine import __version__
from engine.case import Case
from engine.measure import Measurements, lesion_rows, measure, measurement_rows, slice_number
from engine.notice import CLINICAL_NOTICE

DEMO_NOTICE = "NOT FOR CLINICAL USE (demo weights)"
RESEARCH_NOTICE = f"Research software - {CLINICAL_NOTICE}"
_WINDOW_PERCENTILES = (0.5, 99.5)
REPORT_LESION_ROWS = 6  # lesions listed by name on the page; the count covers all


@dataclass(frozen=True)
class ModelInfo:
    """The model that produced the AI result.

    Attributes:
        name: model name.
        weights_name: weights file name ("" when unknown).
        weights_sha256: SHA-256 of the weights ("" when unknown).
        demo: demo weights (the report then says NOT FOR CLINICAL USE in large letters).
    """

    name: str = "RevSeg"
    weights_name: str = ""
    weights_sha256: str = ""
    demo: bool = False


@dataclass(frozen=True)
class KeySlice:
    """One axial slice for the report, in display orientation (rows top to bottom, columns left to right).

    Attributes:
        title: caption.
        index: axial slice index (voxel axis 2, from 0; titles count from 1).
        image: grey values (float32, rows x columns).
        label: BraTS labels of the same pixels.
        window: (low, high) grey values mapped to black and white.
        pixel_mm: (row height, column width) in mm.
        lines: line segments ((row, column), (row, column)) to draw, e.g. the RANO diameters.
    """

    title: str
    index: int
    image: np.ndarray = field(repr=False)
    label: np.ndarray = field(repr=False)
    window: tuple[float, float]
    pixel_mm: tuple[float, float]
    lines: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """Everything the one-page report shows."""

    identifiers: dict[str, str]
    measurements: Measurements
    rows: list[tuple[str, str]]
    lesion_rows: list[tuple[str, str]]
    model: ModelInfo
    edited: bool
    key_slices: tuple[KeySlice, ...]
    notices: tuple[str, ...]
    created: str
    software: str = f"RevSeg {__version__}"


def _display(section: np.ndarray) -> np.ndarray:
    """An (x, y) axial section -> rows (anterior at the top) x columns (patient right on the left)."""
    return np.ascontiguousarray(section[::-1, ::-1].T)


def _to_display_point(voxel: tuple[int, int, int], shape: tuple[int, int, int]) -> tuple[float, float]:
    return float(shape[1] - 1 - voxel[1]), float(shape[0] - 1 - voxel[0])


def _window(image: np.ndarray) -> tuple[float, float]:
    values = image[image != 0]
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, _WINDOW_PERCENTILES))
    return low, max(high, low + 1e-6)


def key_slice(title: str, volume: np.ndarray, label: np.ndarray, index: int, spacing: tuple[float, float, float],
              diameters: tuple = ()) -> KeySlice:
    """An axial key slice with optional diameters given as voxel end-point pairs."""
    image = _display(volume[..., index]).astype(np.float32)
    lines = tuple((_to_display_point(a, label.shape), _to_display_point(b, label.shape)) for a, b in diameters)
    return KeySlice(title, int(index), image, _display(label[..., index]), _window(image),
                    (float(spacing[1]), float(spacing[0])), lines)


def _key_slices(case: Case, label: np.ndarray, modality: str, measurements: Measurements) -> tuple[KeySlice, ...]:
    volume = case.volumes[modality].data
    slices = []
    primary = measurements.table.primary
    rano = primary.rano if primary is not None else None
    total = case.shape[2]
    if rano is not None:
        slices.append(key_slice(f"RANO, lesion {primary.number}, axial {rano.slice_number}/{total}", volume, label,  # type: ignore[union-attr]
                                rano.slice_index, case.spacing, _same_slice_lines(measurements, rano.slice_index)))
    if measurements.max_tumour_slice is not None and (rano is None or measurements.max_tumour_slice != rano.slice_index):
        index = measurements.max_tumour_slice
        slices.append(key_slice(f"Largest tumour area, axial {slice_number(index)}/{total}", volume, label, index,
                                case.spacing, _same_slice_lines(measurements, index)))
    if not slices:
        slices.append(key_slice(f"Axial {slice_number(total // 2)}/{total} (no tumour)", volume, label, total // 2,
                                case.spacing))
    return tuple(slices)


def _same_slice_lines(measurements: Measurements, index: int) -> tuple:
    """Both RANO diameters of every lesion measured on axial slice ``index``, the shown-first lesion's first."""
    lines = []
    for lesion in sorted(measurements.table.lesions, key=lambda lesion: lesion is not measurements.table.primary):
        if lesion.rano is not None and lesion.rano.slice_index == index:
            lines += [lesion.rano.longest_ends, lesion.rano.perpendicular_ends]
    return tuple(lines)


def case_identifiers(case: Case, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Identifiers from the input: case id, folder, input files, plus e.g. DICOM patient / study fields."""
    identifiers = {"Case": case.case_id, "Folder": str(case.folder)}
    identifiers |= {f"{modality.upper()} file": volume.source.name for modality, volume in case.volumes.items()}
    identifiers |= {str(k): str(v) for k, v in (extra or {}).items()}
    return identifiers


def build_report(case: Case, label: np.ndarray, *, model: ModelInfo = ModelInfo(), edited: bool = False,
                 modality: str | None = None, extra_identifiers: Mapping[str, str] | None = None,
                 measurements: Measurements | None = None, min_volume_ml: float | None = None) -> ReportContent:
    """The report's content for ``label`` on ``case``.

    Args:
        case: the case (its contrasts give the key slices' grey values).
        label: BraTS 2020 label map on the case's grid.
        model: model name, weights name and hash, demo flag.
        edited: the label map was edited after the AI result.
        modality: contrast of the key slices (default T1ce, else the case's reference).
        extra_identifiers: more identifiers from the input (patient ID, study date, accession, ...).
        measurements: the measurements to report (e.g. the viewer's, with RANO corrections made by hand);
            default: measured now on ``label``.
        min_volume_ml: minimum lesion volume when measuring now (default 0.1 mL).
    """
    if tuple(label.shape) != tuple(case.shape):
        raise ValueError(f"label map shape {tuple(label.shape)} differs from the case's {case.shape}")
    modality = modality or ("t1ce" if "t1ce" in case.volumes else case.reference.modality)
    if modality not in case.volumes:
        raise ValueError(f"the case has no {modality!r} volume (it has {', '.join(case.volumes)})")
    if measurements is None:
        extra = {} if min_volume_ml is None else {"min_volume_ml": min_volume_ml}
        measurements = measure(label, case.spacing, affine=case.affine, image=case.reference.data, **extra)
    notices = (DEMO_NOTICE,) if model.demo else ()
    return ReportContent(
        identifiers=case_identifiers(case, extra_identifiers), measurements=measurements,
        rows=measurement_rows(measurements), lesion_rows=lesion_rows(measurements.table, REPORT_LESION_ROWS),
        model=model, edited=edited,
        key_slices=_key_slices(case, label, modality, measurements), notices=(*notices, RESEARCH_NOTICE),
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def provenance_rows(content: ReportContent) -> list[tuple[str, str]]:
    """Model and edit status rows for the report."""
    model = content.model
    return [("Model", model.name), ("Weights", model.weights_name or "unknown"),
            ("Weights SHA-256", model.weights_sha256 or "unknown"),
            ("Demo weights", "yes" if model.demo else "no"),
            ("Segmentation", "edited (SEMIAUTOMATIC)" if content.edited else "AI result (AUTOMATIC)"),
            ("Software", content.software), ("Created", content.created)]
