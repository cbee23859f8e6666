"""Native-like studies made from a co-registered, skull-stripped case, for time-to-result benchmarks and tests.

A scanner's raw study differs from a BraTS case in three ways that cost time in ``prepare_case``: each
contrast has its own grid (thick slices, its own orientation), so registration runs; and the head still has
its skull, so a skull strip runs. ``native_like_study`` makes such a study from a BraTS-space case: it can put
a *simulated* skull back around the real brain (no real unstripped head is available to this project), then
resamples each contrast onto its own rotated 0.9 x 0.9 x 5 mm grid.

The simulated head (``simulated_head``) wraps the brain in a CSF layer, a dark skull and a bright scalp, with
Rician-like background noise, at intensities typical of each contrast (CSF bright on T2 only; scalp fat bright
on T1 and FLAIR, less on T2). It is a stand-in for a real head, good enough to make the skull-strip detection
and deepbet do their real work, not a model of any scanner.

Needs nibabel, SciPy and SimpleITK (through ``engine.geometry``), unlike the torch-only modules beside it.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from engine.case import find_case_files
from engine.geometry import Grid, resample
from engine.preprocess.skullstrip import nonzero_brain_mask

NATIVE_SPACING_MM = (0.9, 0.9, 5.0)
# Each contrast's own tilt (x, y, z Euler angles in degrees), so that no two share a grid and all three register.
ROTATIONS_DEG = {"t1ce": (6, -4, 3), "t1": (2, 3, -2), "t2": (-3, 1, 4), "flair": (4, 4, 0)}
SUFFIX = {"t1ce": "t1c", "t1": "t1", "t2": "t2", "flair": "fla"}
# Layers outside the brain, as (outer distance from the brain in mm, intensity as a fraction of the brain's
# 99th percentile) per contrast: CSF (2 mm), skull (5 mm), scalp (5 mm).
HEAD_LAYERS = {
    "t1": ((2.0, 0.1), (7.0, 0.05), (12.0, 0.9)),
    "t1ce": ((2.0, 0.1), (7.0, 0.05), (12.0, 0.9)),
    "t2": ((2.0, 0.9), (7.0, 0.05), (12.0, 0.6)),
    "flair": ((2.0, 0.1), (7.0, 0.05), (12.0, 0.7)),
}
NOISE_FRACTION = 0.02


def simulated_head(image: np.ndarray, brain: np.ndarray, contrast: str = "t1", seed: int = 0,
                   distance_mm: np.ndarray | None = None, noise_fraction: float = NOISE_FRACTION) -> np.ndarray:
    """``image`` (a stripped brain on a 1 mm grid) wrapped in CSF, skull and scalp, plus background noise.

    Args:
        image: one contrast of a skull-stripped case.
        brain: its brain mask (same shape).
        contrast: "t1", "t1ce", "t2" or "flair": picks the layers' intensities (``HEAD_LAYERS``).
        seed: seed of the noise.
        distance_mm: the distance of every voxel from the brain (``ndimage.distance_transform_edt(~brain)``);
            pass it when wrapping several contrasts of one brain, to compute it once.
        noise_fraction: standard deviation of the background noise as a fraction of the brain's 99th
            percentile (0: none).

    Raises:
        ValueError: an unknown contrast, or an empty brain mask.
    """
    if contrast not in HEAD_LAYERS:
        raise ValueError(f"contrast must be one of {sorted(HEAD_LAYERS)}, got {contrast!r}")
    if not brain.any():
        raise ValueError("the brain mask is empty: give the nonzero region of a skull-stripped case")
    distance = ndimage.distance_transform_edt(~brain) if distance_mm is None else distance_mm
    bright = _brightness(image, brain)
    out = image.astype(np.float32, copy=True)
    inner = 0.0
    for outer, fraction in HEAD_LAYERS[contrast]:
        out[(distance > inner) & (distance <= outer)] = fraction * bright
        inner = outer
    return _add_noise(out, noise_fraction * bright, seed)


def _brightness(image: np.ndarray, brain: np.ndarray) -> float:
    """The brain's 99th percentile: the scale of the head's layers and of the noise."""
    return float(np.percentile(image[brain], 99))


def _add_noise(data: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Rician-like (folded normal) noise, as in the air of a magnitude image."""
    return (data + np.abs(np.random.default_rng(seed).normal(0, sigma, data.shape))).astype(np.float32)


def _native_grid(grid: Grid, angles_deg: tuple[float, float, float]) -> Grid:
    """A grid over the same field of view as ``grid``, rotated by ``angles_deg``, at ``NATIVE_SPACING_MM``."""
    centre = (grid.affine @ np.r_[(np.array(grid.shape) - 1) / 2, 1])[:3]
    extent = np.array(grid.shape) * np.abs(np.diag(grid.affine)[:3])
    shape = tuple(int(np.ceil(e / s)) for e, s in zip(extent, NATIVE_SPACING_MM, strict=True))
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix() @ np.diag(NATIVE_SPACING_MM)
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
    return Grid(shape, affine)


def native_like_study(source: Path, folder: Path, skull: bool = False, seed: int = 0) -> Path:
    """Write each contrast of ``source`` onto its own rotated 0.9 x 0.9 x 5 mm grid (a NIfTI folder).

    Args:
        source: a co-registered, skull-stripped four-contrast case folder (BraTS space).
        folder: where to write ``native_t1c / t1 / t2 / fla.nii.gz`` (created).
        skull: put a simulated skull and scalp back around the brain first (``simulated_head``), so that
            ``prepare_case`` detects an unstripped head and strips it.
        seed: seed of the simulated head's noise (each contrast adds its index to it).

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = find_case_files(source)
    images = {role: nib.load(files[role]) for role in ROTATIONS_DEG}
    volumes = {role: np.asarray(image.dataobj, dtype=np.float32) for role, image in images.items()}
    noise_sigma = {}
    if skull:  # the noise is added on the native grid, so that it also fills the corners outside the source's box
        brain = nonzero_brain_mask(list(volumes.values()))
        distance = ndimage.distance_transform_edt(~brain)
        noise_sigma = {role: NOISE_FRACTION * _brightness(data, brain) for role, data in volumes.items()}
        volumes = {role: simulated_head(data, brain, role, distance_mm=distance, noise_fraction=0.0)
                   for role, data in volumes.items()}
    for index, (role, angles) in enumerate(ROTATIONS_DEG.items()):
        grid = Grid(images[role].shape, images[role].affine)
        native = _native_grid(grid, angles)
        data = resample(volumes[role], grid, native)
        if skull:
            data = _add_noise(data, noise_sigma[role], seed + index)
        nib.save(nib.Nifti1Image(data.astype(np.float32), native.affine), folder / f"native_{SUFFIX[role]}.nii.gz")
    return folder
