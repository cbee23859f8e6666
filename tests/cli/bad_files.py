"""Writers of malformed and hostile input files for the bad-input corpus (generated at test time, all small).

NIfTI headers are written byte by byte, so a header can declare a volume far larger than the file (a
32767^3 NIfTI-1 or a 100000^3 NIfTI-2 is a few hundred bytes). DICOM mutations rewrite every file of one series
of a small synthetic study.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import UID, JPEGBaseline8Bit

from tests.engine.synthetic_cases import head, write_nifti_case
from tests.engine.test_prepare import BRATS_LIKE, ROLES


def nifti_case(folder: Path, case_id: str = "P7") -> Path:
    """A valid 40x44x36 BraTS-like NIfTI case (the corpus mutates one file of a copy of it)."""
    return write_nifti_case(folder, {m: BRATS_LIKE for m in ROLES}, {m: f"{case_id}_{m}.nii.gz" for m in ROLES})


def role_file(case: Path, role: str, case_id: str = "P7") -> Path:
    return case / f"{case_id}_{role}.nii.gz"


def write_raw_nifti(path: Path, shape: tuple[int, ...], dtype: object = np.int16, zooms: tuple[float, ...] = (1, 1, 1),
                    *, nifti2: bool = False, data: bytes = b"", affine: np.ndarray | None = None) -> Path:
    """A NIfTI file whose header declares ``shape``/``dtype``/``zooms`` followed by ``data`` (maybe far too short)."""
    header = (nib.Nifti2Header if nifti2 else nib.Nifti1Header)()
    header.set_data_dtype(dtype)
    header.set_data_shape(shape)
    header.set_zooms(tuple(zooms)[: len(shape)] + (1.0,) * (len(shape) - len(zooms)))
    matrix = np.diag([*zooms[:3], 1.0]) if affine is None else affine
    header.set_sform(matrix, code=1)
    header.set_qform(None, code=0)
    block = header.binaryblock
    header["vox_offset"] = len(block) + 4
    payload = header.binaryblock + b"\0" * 4 + data
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=1)
    path.write_bytes(payload)
    return path


def write_volume(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """A NIfTI with real voxels (any dtype nibabel stores) on the small case's grid unless ``affine`` is given."""
    image = nib.Nifti1Image(data, BRATS_LIKE.affine if affine is None else affine)
    nib.save(image, str(path))
    return path


def brain(role: str = "t1ce") -> np.ndarray:
    return head(BRATS_LIKE, role)


def truncate(path: Path, keep: float = 0.5) -> Path:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    return path


# --------------------------------------------------------------------------------------------------- DICOM

def copy_study(study: Path, folder: Path) -> Path:
    shutil.copytree(study, folder)
    return folder


def mutate_series(series: Path, change: Callable[[pydicom.Dataset, int], None]) -> Path:
    """Apply ``change(dataset, index)`` to every file of a series and save it back."""
    for index, path in enumerate(sorted(series.iterdir())):
        ds = pydicom.dcmread(path)
        change(ds, index)
        ds.save_as(path, enforce_file_format=False)
    return series


def drop(tag: str) -> Callable[[pydicom.Dataset, int], None]:
    def change(ds: pydicom.Dataset, _: int) -> None:
        delattr(ds, tag)
    return change


def set_tag(tag: str, value: object) -> Callable[[pydicom.Dataset, int], None]:
    def change(ds: pydicom.Dataset, _: int) -> None:
        setattr(ds, tag, value)
    return change


def to_rgb(ds: pydicom.Dataset, _: int) -> None:
    """Turn a slice into an 8-bit RGB image of the same picture."""
    grey = np.clip(ds.pixel_array, 0, 255).astype(np.uint8)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.repeat(grey[..., None], 3, axis=-1).tobytes()


def to_binary(ds: pydicom.Dataset, _: int) -> None:
    """A mask: 1 inside the head, 0 outside."""
    ds.PixelData = (ds.pixel_array > 0).astype(ds.pixel_array.dtype).tobytes()


def transfer_syntax(uid: str) -> Callable[[pydicom.Dataset, int], None]:
    """Claim a transfer syntax without changing the data (for syntaxes no decoder reads)."""
    def change(ds: pydicom.Dataset, _: int) -> None:
        raw = ds.PixelData
        ds.file_meta.TransferSyntaxUID = UID(uid)
        ds.PixelData = encapsulate([raw])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    return change


def corrupt_jpeg(ds: pydicom.Dataset, _: int) -> None:
    """JPEG baseline transfer syntax whose fragment is not a JPEG stream."""
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def shift_positions(step_mm: float) -> Callable[[pydicom.Dataset, int], None]:
    """Spread the slices ``step_mm`` apart along the normal (slice order follows the original positions)."""
    def change(ds: pydicom.Dataset, _: int) -> None:
        row, column = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
        normal = np.cross(row, column)
        position = np.array(ds.ImagePositionPatient, float)
        ds.ImagePositionPatient = [float(v) for v in position + normal * (position @ normal) * (step_mm - 1)]
    return change


def by_position(series: Path) -> list[Path]:
    """The files of a series in slice order (position along the normal)."""
    def distance(path: Path) -> float:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        row, column = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
        return float(np.array(ds.ImagePositionPatient, float) @ np.cross(row, column))
    return sorted(series.iterdir(), key=distance)


def remove_middle_slice(series: Path) -> Path:
    files = by_position(series)
    files[len(files) // 2].unlink()
    return series


def keep_one_slice(series: Path) -> Path:
    for path in by_position(series)[1:]:
        path.unlink()
    return series


def duplicate_slices(series: Path) -> Path:
    """Every position twice (two echoes in one series)."""
    for path in sorted(series.iterdir()):
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(path.with_name(path.name + "b"), enforce_file_format=False)
    return series


def shrink_one_slice(series: Path) -> Path:
    """One file with a smaller image than the others."""
    path = sorted(series.iterdir())[0]
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.pixel_array[:-4, :-4].copy().tobytes()
    ds.Rows, ds.Columns = ds.Rows - 4, ds.Columns - 4
    ds.save_as(path, enforce_file_format=False)
    return series


def huge_rows(ds: pydicom.Dataset, _: int) -> None:
    ds.Rows, ds.Columns = 65535, 65535
