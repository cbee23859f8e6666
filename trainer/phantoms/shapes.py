"""Tumour geometry: smooth noise, the mass-effect displacement and the labelled foci.

Everything works on crops around each focus so a case costs a few hundred thousand voxels per focus, not
the whole 240 x 240 x 155 grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from trainer.phantoms.config import LABEL_ED, LABEL_ET, LABEL_NCR

#: Largest half-size of the crop that holds one focus (voxels); 150 mL needs a radius of ~33 mm.
MAX_FOCUS_HALF_SIZE = 64


@dataclass(frozen=True)
class FocusPlan:
    """What one tumour focus should look like before its shape is drawn.

    Args:
        centre: voxel coordinates on the BraTS grid.
        wt_ml: target whole-tumour volume of this focus.
        core_ml: target tumour-core volume (NCR + ET).
        necrosis_fraction: NCR share of the core; 0 for low-grade foci, whose core is all label 1.
        mass_effect: peak displacement of the surrounding anatomy as a fraction of the core radius.
    """

    centre: np.ndarray
    wt_ml: float
    core_ml: float
    necrosis_fraction: float
    mass_effect: float

    @property
    def low_grade(self) -> bool:
        return self.necrosis_fraction == 0.0

    @property
    def core_radius(self) -> float:
        """Radius (mm) of the sphere with the core's volume."""
        return sphere_radius(self.core_ml)

    @property
    def wt_radius(self) -> float:
        return sphere_radius(self.wt_ml)


def sphere_radius(volume_ml: float) -> float:
    """Radius in mm of a sphere of ``volume_ml`` millilitres."""
    return (3.0 * volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], correlation_mm: float) -> np.ndarray:
    """Zero-mean, unit-variance random field that varies over about ``correlation_mm``.

    White noise is drawn on a coarse grid (one sample per correlation length), smoothed slightly and
    upsampled linearly, which is far cheaper than filtering full-resolution noise with a wide kernel.

    Args:
        rng: random generator of the case.
        shape: output shape (voxels of 1 mm).
        correlation_mm: typical size of the blobs.
    """
    coarse_shape = tuple(max(2, math.ceil(n / correlation_mm) + 1) for n in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(coarse_shape, dtype=np.float32), 0.6, mode="wrap")
    for axis, n in enumerate(shape):  # separable linear upsampling, cheapest axis order is fine here
        field = resample_axis(field, axis, np.linspace(0.0, coarse_shape[axis] - 1.0, n))
    field -= field.mean()
    field /= max(float(field.std()), 1e-6)
    return field


def resample_axis(volume: np.ndarray, axis: int, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``volume`` at fractional ``positions`` (voxel units) along ``axis``."""
    low = np.clip(np.floor(positions).astype(int), 0, volume.shape[axis] - 1)
    high = np.minimum(low + 1, volume.shape[axis] - 1)
    weight_shape = [1] * volume.ndim
    weight_shape[axis] = -1
    weight = (positions - low).astype(np.float32).reshape(weight_shape)
    result = np.take(volume, low, axis=axis)
    result *= 1.0 - weight
    result += np.take(volume, high, axis=axis) * weight
    return result


def crop_around(centre: np.ndarray, half_size: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Box of +-half_size voxels around ``centre``, clipped to an array of ``shape``."""
    low = np.clip(np.floor(centre).astype(int) - half_size, 0, shape)
    high = np.clip(np.floor(centre).astype(int) + half_size + 1, 0, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def _offsets(crop: tuple[slice, ...], centre: np.ndarray) -> list[np.ndarray]:
    """Broadcastable per-axis offsets (mm) of the crop's voxels from ``centre``."""
    grids = np.ogrid[tuple(slice(s.start, s.stop) for s in crop)]
    return [(g - c).astype(np.float32) for g, c in zip(grids, centre, strict=True)]


def apply_mass_effect(coords: np.ndarray, plan: FocusPlan) -> None:
    """Push anatomy radially away from the focus centre by editing the backward sampling coordinates.

    Anatomy that sat at radius ``r - A g(r)`` appears at radius ``r``: g = 1 up to 0.6 core radii and then
    decays like a Gaussian of width one core radius, so the map is smooth, monotone in r and fold-free.
    Applying several foci one after the other composes their inverse maps exactly.

    Args:
        coords: (3, *shape) float32 grid coordinates to sample the undisplaced anatomy at; edited in place.
        plan: the focus (centre in the same coordinates as the array indices of ``coords``).
    """
    radius = plan.core_radius
    amplitude, inner, width = plan.mass_effect * radius, 0.6 * radius, radius
    if amplitude <= 0.0:
        return
    crop = (slice(None),) + crop_around(plan.centre, math.ceil(inner + 2.5 * width), coords.shape[1:])
    rel = coords[crop] - plan.centre.astype(np.float32)[:, None, None, None]
    r = np.sqrt((rel**2).sum(axis=0))
    falloff = np.exp(-((np.clip(r - inner, 0.0, None) / width) ** 2))
    ratio = np.clip(r - amplitude * falloff, 0.0, None) / np.maximum(r, 1e-3)
    coords[crop] = plan.centre.astype(np.float32)[:, None, None, None] + rel * ratio


def _smallest(values: np.ndarray, eligible: np.ndarray, count: int) -> np.ndarray:
    """Mask of the ``count`` eligible voxels with the smallest values (ties may add a few)."""
    pool = values[eligible]
    if count <= 0 or pool.size == 0:
        return np.zeros_like(eligible)
    count = min(count, pool.size)
    threshold = np.partition(pool, count - 1)[count - 1]
    return eligible & (values <= threshold)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labelled, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labelled.ravel())[1:]
    return labelled == (int(np.argmax(sizes)) + 1)


def _touching(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Connected components of ``mask`` that contain at least one ``seed`` voxel."""
    labelled, _ = ndimage.label(mask)
    keep = np.unique(labelled[seed & mask])
    return np.isin(labelled, keep[keep > 0])


def draw_focus(
    rng: np.random.Generator, plan: FocusPlan, brain: np.ndarray, wm: np.ndarray, csf: np.ndarray
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Draw one focus: irregular core (NCR inside an ET rim, or all NCR when low grade) plus oedema.

    The core is the level set of ``r / R + noise`` that holds the target volume; necrosis is the part of the
    core with the smallest (slightly re-noised) level; oedema takes the voxels with the smallest level
    distance divided by a white-matter weight, so it reaches further along white matter than into cortex
    and never into CSF.

    Args:
        rng: random generator of the case.
        plan: the focus.
        brain, wm, csf: brain mask and tissue probabilities on the grid (after mass effect).

    Returns:
        The crop (slices of the grid) and its uint8 label volume (0, 1, 2, 4).
    """
    half = min(MAX_FOCUS_HALF_SIZE, math.ceil(1.6 * plan.wt_radius + 10))
    crop = crop_around(plan.centre, half, brain.shape)
    brain_c, shape = brain[crop], brain[crop].shape
    di, dj, dk = _offsets(crop, plan.centre)
    r = np.sqrt(di**2 + dj**2 + dk**2)
    radius = plan.core_radius
    level = r / radius + 0.35 * smooth_noise(rng, shape, max(4.0, 0.7 * radius))
    core = _largest_component(_smallest(level, brain_c, round(plan.core_ml * 1000)))
    label = np.zeros(shape, dtype=np.uint8)
    label[core] = LABEL_NCR
    if not plan.low_grade:
        necrosis_level = level + 0.12 * smooth_noise(rng, shape, max(3.0, 0.4 * radius))
        interior = ndimage.binary_erosion(core, iterations=2)
        necrosis = _smallest(necrosis_level, interior, round(plan.necrosis_fraction * core.sum()))
        label[core & ~necrosis] = LABEL_ET
    core_edge = float(level[core].max()) if core.any() else 1.0
    wm_weight = 0.15 + 0.85 * ndimage.gaussian_filter(wm[crop], 1.5)
    spread = np.clip(level - core_edge, 0.0, None) / wm_weight + 0.2 * smooth_noise(rng, shape, 6.0)
    eligible = brain_c & (csf[crop] < 0.5) & ~core
    oedema = _smallest(spread, eligible, round(plan.wt_ml * 1000) - int(core.sum()))
    oedema = _touching(oedema | core, core) & ~core
    label[oedema] = LABEL_ED
    return crop, label


def merge_focus(label: np.ndarray, crop: tuple[slice, ...], focus_label: np.ndarray) -> None:
    """Write one focus into the case label: core labels win over oedema of another focus."""
    target = label[crop]
    core = (focus_label == LABEL_NCR) | (focus_label == LABEL_ET)
    target[core] = focus_label[core]
    target[(focus_label == LABEL_ED) & (target == 0)] = LABEL_ED
