"""A prepared case: the four contrasts in working space, the brain mask, and everything needed to go back.

``prepare_case`` (engine/prepare.py) builds it and writes it to a folder; ``load_prepared`` reads that folder
again, so segmentation and export can run in a later process. The folder is also a BraTS-format case
(``CASE_t1.nii.gz`` ... plus ``CASE_brainmask.nii.gz``), loadable with ``engine.case.load_case_folder``.

Folder layout::

    prepared.json              provenance and geometry (inputs, working space, transforms, skull strip, norms)
    CASE_t1.nii.gz ...         normalised float32 volumes on the working grid (RAS, 1 mm)
    CASE_brainmask.nii.gz      uint8 brain mask on the working grid
    transforms/M_to_t1ce.tfm   rigid transforms (ITK format, readable by Slicer / SimpleITK), when registered
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from engine.case import Case, CaseError, Volume
from engine.geometry import Grid
from engine.io.guess import ROLES
from engine.preprocess.working_space import WorkingSpace

log = logging.getLogger(__name__)

MANIFEST = "prepared.json"
MANIFEST_FORMAT = 1


def volume_name(case_id: str, role: str) -> str:
    """File name of a working-space volume (BraTS 2020 style, so the folder loads as a case)."""
    return f"{case_id}_{role}.nii.gz"


def brain_mask_name(case_id: str) -> str:
    return f"{case_id}_brainmask.nii.gz"


@dataclass(frozen=True, eq=False)
class PreparedCase:
    """The result of ``prepare_case``.

    Attributes:
        case_id: name shared by the output files.
        out_dir: folder it was written to.
        space: native T1ce grid and working grid.
        volumes: role -> normalised float32 volume on the working grid.
        brain_mask: boolean mask on the working grid.
        manifest: the provenance written to prepared.json (inputs, transforms, skull strip, normalisation).
        reference_headers: the T1ce's DICOM headers in native slice order (empty for NIfTI input).
    """

    case_id: str
    out_dir: Path
    space: WorkingSpace
    volumes: Mapping[str, np.ndarray]
    brain_mask: np.ndarray
    manifest: Mapping[str, object]
    reference_headers: tuple = field(default=(), repr=False)

    @property
    def reference_kind(self) -> str:
        """'dicom' or 'nifti': how the T1ce was given."""
        return str(self.manifest["inputs"]["t1ce"]["kind"])  # type: ignore[index]

    @property
    def reference_path(self) -> Path:
        """The T1ce NIfTI file, or the folder of its DICOM series."""
        return Path(self.manifest["inputs"]["t1ce"]["paths"][0])  # type: ignore[index]

    def to_native(self, label: np.ndarray, method: str = "labelwise_linear") -> np.ndarray:
        """Map a working-space label map onto the native T1ce grid (see ``WorkingSpace.label_to_native``).

        Args:
            label: integer label map on the working grid.
            method: "labelwise_linear" or "nearest".
        """
        return self.space.label_to_native(label, method)

    def as_case(self) -> Case:
        """The working-space volumes as an ``engine.case.Case`` (RAS, 1 mm) for display and inference."""
        affine = self.space.grid.affine
        volumes = {r: Volume(r, self.volumes[r], affine.copy(), self.out_dir / volume_name(self.case_id, r)) for r in ROLES}
        return Case(self.case_id, self.out_dir, volumes, None, affine.copy(), ("R", "A", "S"))


def prepared_from_case(case: Case) -> PreparedCase:
    """Wrap a case loaded with ``engine.case.load_case_folder`` (co-registered NIfTI files) for export.

    Its volumes are in closest-canonical RAS order; the native T1ce grid is the stored one, so the mapping back
    is an exact reorientation. Volumes are not normalised and no skull strip or registration is recorded.

    Args:
        case: a loaded case with a T1ce.
    """
    orientation = nib.orientations.io_orientation(case.native_affine)
    native_shape = tuple(int(case.shape[int(axis)]) for axis, _ in orientation)
    space = WorkingSpace(Grid(native_shape, case.native_affine.copy()), Grid(case.shape, case.affine.copy()))  # type: ignore[arg-type]
    reference = case.volumes["t1ce"].source if "t1ce" in case.volumes else case.reference.source
    inputs = {role: {"kind": "nifti", "paths": [str(v.source)], "description": v.source.name} for role, v in case.volumes.items()}
    inputs.setdefault("t1ce", {"kind": "nifti", "paths": [str(reference)], "description": Path(reference).name})
    inputs["t1ce"] |= {"native_grid": space.native.to_dict(), "axcodes": "".join(case.native_axcodes)}
    manifest = {"format": MANIFEST_FORMAT, "case_id": case.case_id, "inputs": inputs, "geometry": space.to_dict(),
                "registration": {}, "skull_strip": {"method": "not run (case loaded as is)"}, "normalisation": {}}
    volumes = {role: volume.data for role, volume in case.volumes.items()}
    mask = np.zeros(case.shape, bool)
    for data in volumes.values():
        mask |= data != 0
    return PreparedCase(case.case_id, case.folder, space, volumes, mask, manifest)


def write_manifest(path: Path, manifest: Mapping[str, object]) -> None:
    """Write the provenance as indented JSON (keys in insertion order).

    Args:
        path: target file (the caller makes the write atomic).
        manifest: JSON-serialisable mapping.
    """
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_plain_name(value: object, what: str) -> str:
    """``value`` when it is a plain file-name part (letters, digits, ``_.-``; no separator, no leading dot).

    Args:
        value: the name read from prepared.json.
        what: what it names, for the message.

    Raises:
        CaseError: a name that could point outside the folder (``../x``, ``/etc``, hidden or empty names).
    """
    if not isinstance(value, str) or not _PLAIN_NAME.fullmatch(value):
        raise CaseError(f"{MANIFEST} names {what} {value!r}, which is not a plain name; prepare the case again")
    return value


def _safe_slice_file(value: object) -> Path:
    """A recorded T1ce slice file: an absolute path without ``..`` parts."""
    path = Path(str(value))
    if not isinstance(value, str) or not path.is_absolute() or ".." in path.parts:
        raise CaseError(f"{MANIFEST} names the T1ce slice file {value!r}, which is not an absolute path to a "
                        "file; prepare the case again")
    return path


def read_reference_headers(manifest: Mapping[str, object]) -> tuple:
    """Re-read the T1ce's DICOM headers (no pixels) in native slice order, as recorded by ``prepare_case``."""
    t1ce = manifest["inputs"]["t1ce"]  # type: ignore[index]
    if t1ce["kind"] != "dicom":
        return ()
    files = [_safe_slice_file(p) for p in t1ce["slice_files"]]
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise CaseError(f"the T1ce DICOM file {missing[0]} is gone; prepare the case again from its DICOM folder")
    return tuple(pydicom.dcmread(p, stop_before_pixels=True) for p in files)


def load_prepared(out_dir: str | Path) -> PreparedCase:
    """Read a folder written by ``prepare_case``.

    Args:
        out_dir: the folder.

    Raises:
        CaseError: when the folder holds no prepared case or a file is missing.
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise CaseError(f"{out_dir} holds no prepared case ({MANIFEST} missing); run `revseg prepare` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise CaseError(f"{manifest_path} has format {manifest.get('format')}; prepare the case again")
    case_id = check_plain_name(manifest.get("case_id"), "the case id")
    space = WorkingSpace.from_dict(manifest["geometry"])
    volumes = {r: _read_working(out_dir / volume_name(case_id, r), space) for r in ROLES}
    mask = _read_working(out_dir / brain_mask_name(case_id), space) > 0
    return PreparedCase(case_id, out_dir, space, volumes, mask, manifest, read_reference_headers(manifest))


def _read_working(path: Path, space: WorkingSpace) -> np.ndarray:
    if not path.is_file():
        raise CaseError(f"{path.name} is missing from {path.parent}; prepare the case again")
    image = nib.load(str(path))
    if image.shape != space.grid.shape or not np.allclose(image.affine, space.grid.affine, atol=1e-3):
        raise CaseError(f"{path.name} is not on the working grid recorded in {MANIFEST}; prepare the case again")
    return np.asarray(image.get_fdata(dtype=np.float32))
