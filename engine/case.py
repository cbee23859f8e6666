"""Loading a case: the four MRI contrasts (and an optional label map) of one patient study.

This module handles a folder of NIfTI files that already share one voxel grid, as BraTS data do. Files are
recognised by the modality token at the end of their names: BraTS 2020/2021 (``_t1 _t1ce _t2 _flair``),
BraTS 2023 (``-t1n -t1c -t2w -t2f``), TCGA-style (``_t1c _fla``) and plain (``t1 t1c t2 flair``).
Every volume is reoriented to the closest canonical RAS+ voxel order, so that voxel axis 0 runs towards
the patient's right, axis 1 anterior and axis 2 superior, whatever orientation the files were stored in;
the stored affine is kept in ``Case.native_affine`` so results can be mapped back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.errors import CaseError
from engine.io.file_roles import NIFTI_SUFFIXES, SEGMENTATION, modality_of
from engine.io.guess import ROLES
from engine.io.nifti_input import finite_float32, read_nifti_image
from engine.labels import to_brats2020

log = logging.getLogger(__name__)

MODALITIES = ROLES  # the four contrasts, in display order
_NIFTI_SUFFIXES = NIFTI_SUFFIXES
# Affines of the contrasts may differ by float noise from the writing software; 1e-3 mm is far below a voxel.
_AFFINE_TOLERANCE_MM = 1e-3

__all__ = ["MODALITIES", "Case", "CaseError", "Volume", "default_demo_case", "find_case_files", "load_case_folder",
           "modality_of"]


@dataclass(frozen=True)
class Volume:
    """One MRI contrast in canonical RAS+ voxel order.

    Attributes:
        modality: one of ``MODALITIES``.
        data: float32 array of shape (X, Y, Z); axis 0 runs towards patient right, 1 anterior, 2 superior.
        affine: 4x4 voxel-to-world (RAS, mm) matrix of ``data``.
        source: file the volume was read from.
    """

    modality: str
    data: np.ndarray
    affine: np.ndarray
    source: Path


@dataclass(frozen=True)
class Case:
    """The contrasts of one study on one voxel grid, plus its label map when the folder has one."""

    case_id: str
    folder: Path
    volumes: Mapping[str, Volume]
    label: np.ndarray | None
    native_affine: np.ndarray
    native_axcodes: tuple[str, str, str] = field(default=("R", "A", "S"))

    @property
    def reference(self) -> Volume:
        """The volume that defines the grid: T1ce when present, else the first one loaded."""
        return self.volumes.get("t1ce") or next(iter(self.volumes.values()))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.reference.data.shape)  # type: ignore[return-value]

    @property
    def affine(self) -> np.ndarray:
        return self.reference.affine

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


def find_case_files(folder: str | Path) -> dict[str, Path]:
    """Map each role found in ``folder`` (modalities and ``"seg"``) to its NIfTI file.

    Raises:
        CaseError: if the folder does not exist, has no NIfTI file, or two files claim one role.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CaseError(f"{folder} is not a folder; open a folder holding the case's NIfTI files")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        role = modality_of(path) if path.is_file() else None
        if role is None:
            continue
        if role in found:
            raise CaseError(
                f"two files in {folder} look like {role}: {found[role].name} and {path.name}; keep one of them"
            )
        found[role] = path
    if not any(role in found for role in MODALITIES):
        raise CaseError(
            f"no MRI volumes found in {folder}: expected NIfTI files named like CASE_t1.nii.gz, CASE_t1ce.nii.gz, "
            "CASE_t2.nii.gz, CASE_flair.nii.gz (BraTS 2020) or CASE-t1n/-t1c/-t2w/-t2f.nii.gz (BraTS 2023)"
        )
    return found


def load_case_folder(folder: str | Path, *, require_all: bool = True) -> Case:
    """Load a case folder whose contrasts share one voxel grid.

    Args:
        folder: folder with one NIfTI file per contrast (and optionally a label map), see module doc.
        require_all: refuse a case that lacks one of T1, T1ce, T2 or FLAIR (the model needs all four).

    Raises:
        CaseError: on a missing modality, an unreadable, non-3D or non-finite image, or grids that differ.
    """
    folder = Path(folder)
    files = find_case_files(folder)
    missing = [m for m in MODALITIES if m not in files]
    if require_all and missing:
        raise CaseError(f"{folder.name}: missing modality {', '.join(missing)} (no file named like *_{missing[0]}.nii.gz)")
    roles = [m for m in MODALITIES if m in files] + ([SEGMENTATION] if SEGMENTATION in files else [])
    # gzip inflation releases the GIL, so decoding the files side by side roughly halves load time.
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = dict(zip(roles, pool.map(lambda r: _read_canonical(files[r]), roles), strict=True))
    reference_role = "t1ce" if "t1ce" in images else roles[0]
    reference_image, native_affine = images[reference_role]
    for role, (image, _) in images.items():
        _check_same_grid(image, reference_image, files[role], files[reference_role])
    volumes = {
        role: Volume(role, _finite_float32(image, files[role]), image.affine.copy(), files[role])
        for role, (image, _) in images.items()
        if role != SEGMENTATION
    }
    label = _label_array(images[SEGMENTATION][0], files[SEGMENTATION]) if SEGMENTATION in images else None
    case = Case(
        case_id=_case_id(folder, files),
        folder=folder,
        volumes=volumes,
        label=label,
        native_affine=native_affine,
        native_axcodes=tuple(nib.aff2axcodes(native_affine)),  # type: ignore[arg-type]
    )
    log.info("loaded case %s: %s, shape %s, stored %s", case.case_id, list(volumes), case.shape, case.native_axcodes)
    return case


def default_demo_case() -> Path:
    """The bundled demo case folder (a synthetic phantom, not a patient)."""
    demo_root = Path(__file__).resolve().parent.parent / "resources" / "demo"
    candidates = sorted(p for p in demo_root.iterdir() if p.is_dir()) if demo_root.is_dir() else []
    if not candidates:
        raise CaseError(f"no demo case in {demo_root}; regenerate it with `python main.py phantoms`")
    return candidates[0]


def _read_canonical(path: Path) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Read a NIfTI file fully and reorient it to closest-canonical RAS+; also return its stored affine."""
    image = read_nifti_image(path)
    return nib.as_closest_canonical(image), image.affine.copy()


def _check_same_grid(image: nib.Nifti1Image, reference: nib.Nifti1Image, path: Path, reference_path: Path) -> None:
    if image.shape != reference.shape or not np.allclose(image.affine, reference.affine, atol=_AFFINE_TOLERANCE_MM):
        raise CaseError(
            f"{path.name} is not on the grid of {reference_path.name} (shape {image.shape} vs {reference.shape}); "
            "co-register the volumes first"
        )


def _finite_float32(image: nib.Nifti1Image, path: Path) -> np.ndarray:
    return finite_float32(image.get_fdata(dtype=np.float32), path.name)


def _label_array(image: nib.Nifti1Image, path: Path) -> np.ndarray:
    data = np.asanyarray(image.dataobj)
    if not np.allclose(data, np.round(data)):
        raise CaseError(f"{path.name} holds non-integer values; a label map must hold the labels 0, 1, 2, 4")
    try:
        return np.ascontiguousarray(to_brats2020(np.round(data).astype(np.int16)))
    except ValueError as error:
        raise CaseError(f"{path.name}: {error}") from None


def _case_id(folder: Path, files: dict[str, Path]) -> str:
    """The name the files share before their modality token, else the folder name."""
    stems = []
    for path in files.values():
        name = path.name
        for suffix in _NIFTI_SUFFIXES:
            name = name.removesuffix(suffix)
        parts = re.split(r"[_\-.]", name)
        stems.append(name[: max(len(name) - len(parts[-1]) - 1, 0)])
    common = stems[0] if len(set(stems)) == 1 else ""
    return common or folder.name
