"""Real anatomy for the phantoms: the MNI152 template maps shipped with nilearn, placed on the BraTS grid.

nilearn ships the 1 mm MNI152 (ICBM 2009) T1 template, grey-matter and white-matter probability maps and a
brain mask inside the package, so loading them needs no network. They are loaded once per process
(``functools.lru_cache``); every case then resamples them straight from MNI space through one composed
transform (fixed placement on the grid, per-case jitter, mass effect), so each voxel is interpolated once.
"""

from __future__ import annotations

import functools
import itertools
import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from trainer.phantoms.config import BRATS_SHAPE

logger = logging.getLogger(__name__)

#: Where the centre of the brain's bounding box lands on the BraTS grid (voxel indices). Taken from real
#: BraTS cases (TCGA-DU-7294: brain bounding box i 54-182, j 51-212, k 9-139).
GRID_BRAIN_CENTRE: np.ndarray = np.array([118.0, 131.5, 74.0])

#: Tumour centres are drawn from white matter at least this far (MNI mm) from the brain surface ...
MIN_CENTRE_DEPTH_MM = 12.0
#: ... and above this MNI height, which keeps them supratentorial like most adult gliomas.
MIN_CENTRE_Z_MM = -15.0


@dataclass(frozen=True)
class MniAnatomy:
    """MNI152 maps cropped to the brain, as float32 in [0, 1].

    Args:
        gm: grey-matter probability.
        wm: white-matter probability.
        brain: brain mask (0/1).
        voxel_to_mm: affine from (cropped) voxel indices to MNI world mm (RAS).
        brain_centre_mm: centre of the brain's bounding box in MNI mm.
        candidates: (N, 3) voxel indices of possible tumour centres (deep, supratentorial white matter).
        candidate_depth_mm: (N,) distance of each candidate to the brain surface in mm.
    """

    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    voxel_to_mm: np.ndarray
    brain_centre_mm: np.ndarray
    candidates: np.ndarray
    candidate_depth_mm: np.ndarray


def _load_nilearn_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (gm, wm, brain mask, affine) of the 1 mm MNI152 maps bundled with nilearn."""
    try:
        from nilearn import datasets
    except ImportError as error:  # nilearn is in the 'train' and 'test' extras
        raise RuntimeError(
            "The phantom generator needs nilearn (pip install 'revseg[train]') for the MNI152 anatomy"
        ) from error
    gm_img = datasets.load_mni152_gm_template(resolution=1)
    wm_img = datasets.load_mni152_wm_template(resolution=1)
    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    arrays = [np.asarray(img.get_fdata(dtype=np.float32)) for img in (gm_img, wm_img, mask_img)]
    return arrays[0], arrays[1], arrays[2], np.asarray(mask_img.affine, dtype=np.float64)


def _tumour_centre_candidates(
    wm: np.ndarray, brain: np.ndarray, voxel_to_mm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Deep supratentorial white-matter voxels (every second voxel per axis, enough to choose from)."""
    depth = ndimage.distance_transform_edt(brain > 0.5).astype(np.float32)
    z_mm = voxel_to_mm[2, 2] * np.arange(brain.shape[2]) + voxel_to_mm[2, 3]
    eligible = (wm > 0.5) & (depth >= MIN_CENTRE_DEPTH_MM) & (z_mm >= MIN_CENTRE_Z_MM)[None, None, :]
    sparse = np.zeros_like(eligible)
    sparse[::2, ::2, ::2] = True
    candidates = np.argwhere(eligible & sparse)
    return candidates.astype(np.float64), depth[tuple(candidates.T)]


@functools.lru_cache(maxsize=1)
def load_mni_anatomy() -> MniAnatomy:
    """Load (once per process) and crop the MNI152 maps; CSF is later derived as brain - GM - WM."""
    gm, wm, brain, affine = _load_nilearn_maps()
    inside = np.argwhere(brain > 0.5)
    low = np.maximum(inside.min(axis=0) - 2, 0)
    high = np.minimum(inside.max(axis=0) + 3, brain.shape)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    shift = np.eye(4)
    shift[:3, 3] = low
    voxel_to_mm = affine @ shift
    gm, wm, brain = (np.ascontiguousarray(a[crop]) for a in (gm, wm, brain))
    gm *= brain  # the skull strip removes grey-matter probability outside the mask
    wm *= brain
    box = np.argwhere(brain > 0.5)
    centre_vox = (box.min(axis=0) + box.max(axis=0)) / 2.0
    centre_mm = voxel_to_mm[:3, :3] @ centre_vox + voxel_to_mm[:3, 3]
    candidates, depth = _tumour_centre_candidates(wm, brain, voxel_to_mm)
    logger.debug("MNI152 anatomy loaded: crop %s, %d tumour-centre candidates", gm.shape, len(candidates))
    return MniAnatomy(gm, wm, brain, voxel_to_mm, centre_mm, candidates, depth)


def grid_to_mni_mm(brain_scale: float, anatomy: MniAnatomy) -> np.ndarray:
    """Affine from reference BraTS-grid voxels to MNI mm: flips i (to L) and j (to P), shrinks by brain_scale.

    Args:
        brain_scale: grid mm per MNI mm (MNI152 is larger than the SRI24 brains of BraTS).
        anatomy: the loaded MNI maps (for the brain centre).
    """
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag([-1.0, -1.0, 1.0]) / brain_scale
    matrix[:3, 3] = anatomy.brain_centre_mm - matrix[:3, :3] @ GRID_BRAIN_CENTRE
    return matrix


def jitter_matrix(
    rng: np.random.Generator, scale_range: tuple[float, float], rotation_deg: float, shift_mm: float
) -> np.ndarray:
    """Random small affine (grid voxels -> reference grid voxels) about the brain centre.

    Args:
        rng: random generator of the case.
        scale_range: range of the isotropic scale of the brain (values > 1 give a larger brain).
        rotation_deg: largest rotation about each axis.
        shift_mm: largest shift along each axis.
    """
    scale = rng.uniform(*scale_range)
    angles = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, size=3))
    shift = rng.uniform(-shift_mm, shift_mm, size=3)
    rotation = np.eye(3)
    for axis, angle in enumerate(angles):
        a, b = [ax for ax in range(3) if ax != axis]
        plane = np.eye(3)
        plane[a, a] = plane[b, b] = np.cos(angle)
        plane[a, b], plane[b, a] = -np.sin(angle), np.sin(angle)
        rotation = rotation @ plane
    linear = rotation / scale  # output -> reference: a larger brain samples a smaller reference region
    matrix = np.eye(4)
    matrix[:3, :3] = linear
    matrix[:3, 3] = GRID_BRAIN_CENTRE - linear @ (GRID_BRAIN_CENTRE + shift)
    return matrix


def brain_bounding_box(grid_to_mni_voxel: np.ndarray, anatomy: MniAnatomy, margin: int) -> tuple[slice, ...]:
    """Grid region that holds the (transformed) brain plus ``margin`` voxels, clipped to the grid."""
    box = np.argwhere(anatomy.brain > 0.5)
    extremes = list(zip(box.min(axis=0), box.max(axis=0), strict=True))
    corners = np.array([[*corner, 1.0] for corner in itertools.product(*extremes)], dtype=np.float64)
    grid = (np.linalg.inv(grid_to_mni_voxel) @ corners.T)[:3]
    low = np.clip(np.floor(grid.min(axis=1)) - margin, 0, None).astype(int)
    high = np.minimum(np.ceil(grid.max(axis=1)) + margin + 1, BRATS_SHAPE).astype(int)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def sample_tissue(anatomy: MniAnatomy, mni_voxel_coords: np.ndarray) -> dict[str, np.ndarray]:
    """Interpolate the maps at MNI voxel coordinates; return normalised tissue probabilities and the brain.

    Args:
        anatomy: the loaded MNI maps.
        mni_voxel_coords: (3, *shape) float32 coordinates into the cropped MNI arrays.

    Returns:
        ``gm``, ``wm``, ``csf`` probabilities summing to 1 inside the brain (0 outside) and ``brain`` (bool).
    """
    mask = ndimage.map_coordinates(anatomy.brain, mni_voxel_coords, order=1, cval=0.0, prefilter=False)
    brain = mask >= 0.5
    # GM and WM are zero outside the mask's support, so interpolate them only where the mask is non-zero.
    support = mask > 0.0
    inside = mni_voxel_coords[:, support]
    gm, wm = np.zeros_like(mask), np.zeros_like(mask)
    gm[support] = ndimage.map_coordinates(anatomy.gm, inside, order=1, prefilter=False)
    wm[support] = ndimage.map_coordinates(anatomy.wm, inside, order=1, prefilter=False)
    # CSF is what the brain mask holds beyond GM and WM; maps may overlap slightly, so renormalise.
    csf = np.clip(mask - gm - wm, 0.0, None)
    total = gm + wm + csf
    empty = brain & (total <= 1e-3)  # brain voxels the maps leave empty count as CSF
    np.maximum(total, 1e-3, out=total)
    out = {}
    for name, prob in (("gm", gm), ("wm", wm), ("csf", csf)):
        prob /= total
        prob[~brain] = 0.0
        out[name] = prob
    out["csf"][empty] = 1.0
    out["brain"] = brain
    return out
