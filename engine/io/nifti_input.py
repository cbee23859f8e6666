"""NIfTI input: read one file with its checks, and find the four contrasts among a folder's files.

File roles come from the BraTS name tokens first (``engine.case.modality_of``: ``_t1ce``, ``-t2f`` ...),
then from keywords anywhere in the name (``AX_T1_POST_GD.nii.gz``, ``flair_3d.nii``) with a lower
confidence.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.errors import AmbiguousInputError, CaseError
from engine.geometry import Grid, check_affine
from engine.io.budget import check_input_memory, check_mr_content
from engine.io.file_roles import SEGMENTATION, modality_of
from engine.io.guess import ROLES, RoleGuess, guess_from_text
from engine.io.headers import check_nifti_size, nifti_estimate
from engine.io.native import InputSource, NativeImage

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def is_nifti_name(path: Path) -> bool:
    """True when the file name ends in .nii or .nii.gz."""
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def nifti_stem(path: Path) -> str:
    """The file name without its .nii / .nii.gz suffix."""
    name = path.name
    return next((name[: -len(s)] for s in NIFTI_SUFFIXES if name.lower().endswith(s)), name)


def read_nifti_image(path: Path) -> nib.Nifti1Image:
    """Read a NIfTI file fully into memory as a 3D image (a trailing axis of length 1 is dropped).

    Args:
        path: the .nii or .nii.gz file.

    Raises:
        CaseError: unreadable or truncated file, not 3D, or a 2D image stored as 3D.
    """
    estimate = nifti_estimate(path)  # header first: refuse what would not fit in memory before reading
    check_input_memory(estimate)
    check_nifti_size(path, estimate)
    try:
        image = nib.load(str(path))
        image = nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine, image.header)
    except (OSError, EOFError, zlib.error, nib.filebasedimages.ImageFileError, ValueError, MemoryError) as error:
        raise CaseError(f"{path.name} is not a readable NIfTI image ({error})") from None
    if image.ndim == 4 and image.shape[3] == 1:
        image = image.slicer[..., 0]
    if image.ndim != 3:
        raise CaseError(f"{path.name} has {image.ndim} dimensions {image.shape}; a 3D volume is needed")
    if min(image.shape) < 2:
        raise CaseError(f"{path.name} has shape {image.shape}: that is a 2D image; a 3D volume is needed")
    return image


def finite_float32(data: np.ndarray, name: str) -> np.ndarray:
    """``data`` as contiguous float32, refusing NaN or infinite voxels.

    Args:
        data: image voxels.
        name: file or series name, for the message.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        data = np.ascontiguousarray(data, dtype=np.float32)
    if not np.isfinite(data).all():
        count = int(data.size - np.count_nonzero(np.isfinite(data)))
        raise CaseError(f"{name} has {count} NaN or infinite voxels; fix or re-export the image")
    return data


def read_nifti_volume(path: str | Path, modality: str, guess: RoleGuess | None = None) -> NativeImage:
    """Read a NIfTI file as one modality in its stored voxel order.

    Args:
        path: the file.
        modality: the role it plays.
        guess: why the file was taken for ``modality`` (None: named explicitly by the user).
    """
    path = Path(path)
    if not path.is_file():
        raise CaseError(f"{path} does not exist; give the path of a .nii or .nii.gz file")
    image = read_nifti_image(path)
    check_affine(image.affine, path.name)
    with np.errstate(over="ignore", invalid="ignore"):
        data = finite_float32(image.get_fdata(dtype=np.float32), path.name)
    check_mr_content(data, path.name, modality)
    guess = guess or RoleGuess(modality, 1.0, "chosen by the user")
    source = InputSource("nifti", (path,), path.name, None, guess.confidence, guess.reason)
    return NativeImage(modality, data, Grid(tuple(int(n) for n in data.shape), image.affine.copy()), source)  # type: ignore[arg-type]


def role_of_file(path: Path) -> RoleGuess:
    """The contrast a NIfTI file's name says (a BraTS token, else the words of its name); None role for a label map."""
    role = modality_of(path)
    if role == SEGMENTATION:
        return RoleGuess(None, 1.0, "label map")
    if role is not None:
        return RoleGuess(role, 1.0, f"file name token of {path.name}")
    return guess_from_text(nifti_stem(path))


def find_nifti_inputs(folder: Path, roles: tuple[str, ...] = ROLES) -> dict[str, tuple[Path, RoleGuess]]:
    """Assign the NIfTI files of ``folder`` (not recursive) to the four contrasts.

    Args:
        folder: folder holding NIfTI files.
        roles: the roles to look for (those the user did not name explicitly).

    Returns:
        role -> (file, guess) for every role found; roles without a file are absent.

    Raises:
        AmbiguousInputError: when two files are equally good candidates for one role.
    """
    candidates: dict[str, list[tuple[Path, RoleGuess]]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_nifti_name(p)):
        guess = role_of_file(path)
        if guess.role in roles:
            candidates.setdefault(guess.role, []).append((path, guess))
    chosen = {}
    for role, options in candidates.items():
        options.sort(key=lambda option: -option[1].confidence)
        if len(options) > 1 and options[0][1].confidence == options[1][1].confidence:
            names = " and ".join(p.name for p, _ in options[:2])
            raise AmbiguousInputError(
                f"two files in {folder} could be {role}: {names}; keep one or name it with --{role} FILE"
            )
        chosen[role] = options[0]
    log.info("NIfTI files in %s: %s", folder, {r: p.name for r, (p, _) in chosen.items()})
    return chosen
