"""Header-only checks of a case's inputs (NIfTI and DICOM) before any pixel data is read.

``check_plan`` reads each planned input's header, refuses what cannot be an MR contrast (complex, colour,
no pixel spacing, a compression no installed decoder reads) and applies the memory and geometry budget of
``engine.io.budget`` to the whole case.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import CaseError, DicomInputError
from engine.io.budget import InputEstimate, check_case_budget, check_dtype

if TYPE_CHECKING:
    from engine.io.dicom_scan import DicomSeries
    from engine.io.inputs import InputPlan

log = logging.getLogger(__name__)


def _nifti_header(path: Path):  # noqa: ANN202 - nibabel image, header only (no data read)
    import nibabel as nib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nib.load(str(path))
    except Exception as error:  # noqa: BLE001 - any header parse failure means the same to the user
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CaseError(f"{path.name} is not a readable NIfTI image ({reason})") from None


def nifti_estimate(path: Path) -> InputEstimate:
    """Shape, voxel size and stored type of a NIfTI file, read from its header alone.

    Args:
        path: the .nii / .nii.gz file.

    Raises:
        CaseError: unreadable header, not 3D, complex or colour voxels, truncated uncompressed file.
    """
    image = _nifti_header(path)
    shape = tuple(int(n) for n in image.header.get_data_shape())
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise CaseError(f"{path.name} has {len(shape)} dimensions {shape}; a 3D volume is needed")
    if min(shape) < 2:
        raise CaseError(f"{path.name} has shape {shape}: that is a 2D image; a 3D volume is needed")
    dtype = np.dtype(image.header.get_data_dtype())
    check_dtype(dtype, path.name)
    affine = np.asarray(image.affine, dtype=float)
    if not np.isfinite(affine).all():
        raise CaseError(f"{path.name} has a non-finite voxel-to-world matrix; its header geometry is broken")
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    return InputEstimate(path.name, shape, spacing, dtype.itemsize)  # type: ignore[arg-type]


def check_nifti_size(path: Path, estimate: InputEstimate) -> None:
    """An uncompressed .nii must hold the voxels its header declares (a .nii.gz is checked when read)."""
    if path.name.lower().endswith(".gz"):
        return
    offset = int(_nifti_header(path).dataobj.offset)
    data_bytes = estimate.voxels * estimate.stored_itemsize
    size = path.stat().st_size
    if size < offset + data_bytes:
        raise CaseError(f"{path.name} is truncated: its header declares {offset + data_bytes} bytes, the file holds "
                        f"{size}; re-export the image")


def _dicom_first_header(series: DicomSeries):  # noqa: ANN202 - pydicom Dataset
    import pydicom

    try:
        return pydicom.dcmread(series.files[0], stop_before_pixels=True)
    except Exception as error:  # noqa: BLE001 - any parse failure
        raise DicomInputError(f"{series.files[0].name} of series {series.label} cannot be read ({error})") from None


def check_decodable(header: object, path: Path, label: str) -> None:
    """Refuse a series whose transfer syntax no installed pixel-data decoder reads.

    Args:
        header: the series' first dataset (with file meta).
        path: its file, for the message.
        label: the series label.
    """
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    meta = getattr(header, "file_meta", None)
    syntax = UID(str(getattr(meta, "TransferSyntaxUID", "") or "1.2.840.10008.1.2"))
    try:
        available = get_decoder(syntax).is_available
    except (NotImplementedError, ValueError):
        available = False
    if not available:
        raise DicomInputError(
            f"{path.name} of series {label} uses transfer syntax {syntax.name} ({syntax}), which no installed "
            "decoder reads; install pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg and pylibjpeg-rle, or export "
            "the series uncompressed")


def _dicom_spacing(header: object, series: DicomSeries) -> tuple[float, float, float]:
    try:
        row, column = (float(v) for v in header.PixelSpacing)  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        raise DicomInputError(f"series {series.label} lacks a valid Pixel Spacing (0028,0030); its voxel size is "
                              "unknown: re-export the series with its geometry") from None
    through = header.get("SpacingBetweenSlices") or header.get("SliceThickness") or column  # type: ignore[attr-defined]
    try:
        through = abs(float(through))
    except (TypeError, ValueError):
        through = column
    return column, row, through


def dicom_estimate(series: DicomSeries) -> InputEstimate:
    """Shape, voxel size and stored type of a classic DICOM series, from its first header.

    Raises:
        DicomInputError: colour images, no pixel spacing, a compression no decoder reads, bad dimensions.
    """
    header = _dicom_first_header(series)
    samples = int(header.get("SamplesPerPixel", 1) or 1)
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise DicomInputError(f"series {series.label} is a colour image ({photometric}, {samples} samples per pixel); "
                              "give the grey-scale MR series")
    rows, columns = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
    frames = int(header.get("NumberOfFrames", 1) or 1)
    if rows < 2 or columns < 2:
        raise DicomInputError(f"series {series.label} declares {rows} x {columns} pixel images; a 2D image is needed "
                              "per slice")
    check_decodable(header, series.files[0], series.label)
    itemsize = max(1, int(header.get("BitsAllocated", 16) or 16) // 8)
    shape = (columns, rows, len(series.files) * frames)
    return InputEstimate(f"series {series.label}", shape, _dicom_spacing(header, series), itemsize)


def plan_estimates(plan: InputPlan) -> dict[str, InputEstimate]:
    """The header estimate of every planned input (role -> estimate)."""
    estimates = {}
    for role, choice in plan.choices.items():
        if choice.nifti is not None:
            path = Path(choice.nifti)
            if not path.is_file():
                raise CaseError(f"{path} does not exist; give the path of a .nii or .nii.gz file")
            estimates[role] = nifti_estimate(path)
        else:
            estimates[role] = dicom_estimate(choice.series)  # type: ignore[arg-type]
    return estimates


def check_plan(plan: InputPlan, memory_limit_gb: float | None = None) -> int:
    """Refuse a planned case that cannot be read within the memory and geometry budget; return its peak bytes.

    Args:
        plan: from ``plan_inputs`` (all four roles settled).
        memory_limit_gb: the limit (None: environment variable or default).
    """
    estimates = plan_estimates(plan)
    peak = check_case_budget(estimates, memory_limit_gb)
    for role, choice in plan.choices.items():
        if choice.nifti is not None:
            check_nifti_size(Path(choice.nifti), estimates[role])
    log.info("case budget: about %.2f GB peak", peak / 1024 ** 3)
    return peak
