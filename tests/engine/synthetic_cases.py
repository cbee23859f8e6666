"""Synthetic inputs for the input / preprocessing / export tests: tiny volumes, known geometry.

Shapes are drawn in world (RAS, mm) coordinates and rasterised on any grid, so the same anatomy can be
stored RAS, LPS, oblique or anisotropic and compared after mapping between grids.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from scipy.spatial.transform import Rotation

from engine.export.dicom_mr import DicomIdentity, MRSeriesSpec, write_mr_series
from engine.geometry import Grid

CENTRE_MM = np.array([2.0, -3.0, 4.0])


def grid_from(shape: tuple[int, int, int], spacing: tuple[float, float, float], axes: np.ndarray,
              centre_mm: np.ndarray = CENTRE_MM) -> Grid:
    """A grid of ``shape`` with voxel ``spacing``, axis directions ``axes`` (3x3, columns), centred on ``centre_mm``."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(axes, dtype=float) * np.asarray(spacing, dtype=float)
    affine[:3, 3] = centre_mm - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
    return Grid(tuple(shape), affine)  # type: ignore[arg-type]


RAS_AXES = np.eye(3)
LPS_AXES = np.diag([-1.0, -1.0, 1.0])
OBLIQUE_AXES = Rotation.from_euler("xyz", [20, -10, 15], degrees=True).as_matrix() @ LPS_AXES


def world_points(grid: Grid) -> np.ndarray:
    """World (RAS) positions of every voxel centre, shape grid.shape + (3,)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij"), axis=-1).astype(float)
    return ijk @ grid.affine[:3, :3].T + grid.affine[:3, 3]


def tumour_labels(grid: Grid, centre_mm: np.ndarray = CENTRE_MM + [6, 2, -3]) -> np.ndarray:
    """BraTS labels drawn in world space: an oedema ellipsoid around an enhancing shell around a necrotic core."""
    offset = world_points(grid) - centre_mm
    oedema = ((offset / [16.0, 12.0, 14.0]) ** 2).sum(-1) <= 1
    radius = np.linalg.norm(offset - [1.0, 0.0, 0.0], axis=-1)
    label = np.zeros(grid.shape, np.uint8)
    label[oedema] = 2
    label[radius <= 9.0] = 4
    label[radius <= 5.0] = 1
    return label


def head(grid: Grid, contrast: str = "t1ce", centre_mm: np.ndarray = CENTRE_MM, scale: float = 1.0) -> np.ndarray:
    """A skull-stripped 'brain' (34 x 42 x 30 mm times ``scale``) with inner structure, so registration has edges;
    zero outside."""
    offset = (world_points(grid) - centre_mm) / scale
    brain = ((offset / [17.0, 21.0, 15.0]) ** 2).sum(-1) <= 1
    ventricles = ((offset / [3.5, 7.0, 4.0]) ** 2).sum(-1) <= 1
    lesion = (((offset - [7, 5, -4]) / [4.0, 3.5, 4.5]) ** 2).sum(-1) <= 1
    level = {"t1": (100, 30, 60), "t1ce": (110, 30, 220), "t2": (60, 200, 150), "flair": (80, 40, 180)}[contrast]
    gradient = 10 * np.cos(offset[..., 0] / 5.0) + 6 * np.sin(offset[..., 1] / 4.0)
    data = np.where(brain, level[0] + gradient, 0.0)
    data[ventricles] = level[1]
    data[lesion & brain] = level[2]
    return data.astype(np.float32)


def write_nifti(path: Path, data: np.ndarray, grid: Grid) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, grid.affine), path)
    return path


def write_nifti_case(folder: Path, grids: dict[str, Grid], names: dict[str, str] | None = None) -> Path:
    """One NIfTI file per modality, each on its own grid (same anatomy in world space)."""
    names = names or {m: f"Synth_{m}.nii.gz" for m in grids}
    for modality, grid in grids.items():
        write_nifti(folder / names[modality], head(grid, modality), grid)
    return folder


DICOM_SERIES = {
    "t1": ("AX T1 SE", {"RepetitionTime": "550", "EchoTime": "12"}),
    "t1ce": ("AX T1 POST GD", {"ContrastBolusAgent": "Gadobutrol", "RepetitionTime": "550", "EchoTime": "12"}),
    "t2": ("AX T2 TSE", {"RepetitionTime": "4000", "EchoTime": "100"}),
    "flair": ("AX FLAIR", {"RepetitionTime": "9000", "EchoTime": "120", "InversionTime": "2500"}),
}


def write_dicom_study(folder: Path, grid: Grid, series: dict[str, tuple[str, dict]] | None = None,
                      non_mr: bool = True) -> dict[str, Path]:
    """A DICOM study with one MR series per entry of ``series`` (default: the four contrasts), all on ``grid``,
    plus a non-MR series; file names are shuffled so slice order must come from the geometry."""
    identity = DicomIdentity(patient_name="Synthetic^Head", patient_id="SYN-1").resolved()
    folders = {}
    for number, (key, (description, tags)) in enumerate((DICOM_SERIES if series is None else series).items(), start=2):
        contrast = key if key in ("t1", "t1ce", "t2", "flair") else "t1"
        spec = MRSeriesSpec(description, number, derived=False, extra_tags=tags)
        files = write_mr_series(np.round(head(grid, contrast)), grid.affine, folder / f"series{number}", spec, identity)
        _shuffle_names(files)
        folders[key] = folder / f"series{number}"
    if non_mr:
        other = write_mr_series(head(grid), grid.affine, folder / "series1", MRSeriesSpec("CT HEAD", 1, False), identity)
        for path in other:
            ds = pydicom.dcmread(path)
            ds.Modality = "CT"
            ds.save_as(path)
        folders["ct"] = folder / "series1"
    return folders


def _shuffle_names(files: list[Path]) -> None:
    order = np.random.default_rng(len(files)).permutation(len(files))
    temporary = [files[0].with_name(f"tmp{i}") for i in range(len(files))]
    for path, temp in zip(files, temporary, strict=True):
        path.rename(temp)
    for index, temp in zip(order, temporary, strict=True):
        temp.rename(temp.with_name(f"IM{index:04d}"))
