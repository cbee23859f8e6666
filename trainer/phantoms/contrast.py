"""MR contrasts from tissue maps and labels, with per-case domain randomisation.

Each contrast is a mix of tissue intensities weighted by the (partial-volume) tissue probabilities, with
the tumour classes blended in through slightly softened label masks. Then the acquisition is simulated:
thick slices or blur, a smooth multiplicative bias field, Rician noise, skull strip and a random scanner
scale. Intensity ranges are drawn per case but never overlap where the tissue order matters, so every case
keeps the textbook order (T1: WM > GM > CSF; T2: CSF > GM > WM; FLAIR: GM > WM > CSF, oedema bright).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from trainer.phantoms.config import LABEL_ED, LABEL_ET, LABEL_NCR, PhantomConfig
from trainer.phantoms.shapes import resample_axis, smooth_noise

#: Intensity ranges relative to the contrast's reference tissue (WM for T1/T1ce/FLAIR, CSF for T2).
#: "ncr" is necrosis in high-grade cases; "net" the non-enhancing core (label 1) of low-grade cases.
INTENSITY_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "t1": {
        "wm": (1.0, 1.0),
        "gm": (0.62, 0.78),
        "csf": (0.18, 0.35),
        "ncr": (0.2, 0.4),
        "net": (0.45, 0.65),
        "et": (0.55, 0.75),
        "ed": (0.62, 0.8),
    },
    "t2": {
        "wm": (0.32, 0.45),
        "gm": (0.5, 0.65),
        "csf": (1.0, 1.0),
        "ncr": (0.8, 1.0),
        "net": (0.75, 0.95),
        "et": (0.55, 0.75),
        "ed": (0.65, 0.85),
    },
    "flair": {
        "wm": (0.42, 0.5),
        "gm": (0.58, 0.7),
        "csf": (0.1, 0.25),
        "ncr": (0.4, 0.7),
        "net": (0.75, 1.0),
        "et": (0.7, 0.9),
        "ed": (0.85, 1.1),
    },
}
#: T1ce: enhancing tumour and vessels (relative to WM); the rest follows T1 with a small perturbation.
T1CE_ENHANCING_RANGE, T1CE_VESSEL_RANGE = (1.35, 1.9), (1.3, 1.8)


def draw_intensities(rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Per-case intensity table: contrast -> class (wm, gm, csf, ncr, net, et, ed, vessel) -> value."""
    table = {
        name: {cls: float(rng.uniform(*span)) for cls, span in ranges.items()}
        for name, ranges in INTENSITY_RANGES.items()
    }
    t1ce = {cls: value * float(rng.uniform(0.95, 1.05)) for cls, value in table["t1"].items()}
    t1ce["wm"] = 1.0
    t1ce["gm"] = min(t1ce["gm"], 0.8)  # keep WM > GM after the perturbation
    t1ce["et"] = float(rng.uniform(*T1CE_ENHANCING_RANGE))
    t1ce["vessel"] = float(rng.uniform(*T1CE_VESSEL_RANGE))
    table["t1ce"] = t1ce
    return table


def vessel_mask(rng: np.random.Generator, csf: np.ndarray) -> np.ndarray:
    """Thin tubes along the sulci: where two smooth random fields are both near zero inside CSF."""
    first = smooth_noise(rng, csf.shape, 8.0)
    second = smooth_noise(rng, csf.shape, 8.0)
    tubes = (np.abs(first) < 0.1) & (np.abs(second) < 0.1)
    return tubes & (csf > 0.3)


def clean_image(
    values: dict[str, float],
    tissue: dict[str, np.ndarray],
    soft_labels: dict[str, np.ndarray],
    tumour_box: tuple[slice, ...],
    texture: np.ndarray,
    low_grade: bool,
) -> np.ndarray:
    """Noise-free contrast: tissue mix, then tumour classes blended in inside ``tumour_box``.

    Args:
        values: this contrast's class intensities.
        tissue: ``gm``, ``wm``, ``csf`` probabilities (cropped to the brain box).
        soft_labels: ``ncr``, ``et``, ``ed`` soft masks (cropped to ``tumour_box``).
        tumour_box: slices of the tissue arrays that hold the tumour.
        texture: smooth unit-variance field that adds mild within-tissue heterogeneity.
        low_grade: whether label 1 is a non-enhancing core (``net``) rather than necrosis (``ncr``).
    """
    image = tissue["gm"] * values["gm"] + tissue["wm"] * values["wm"] + tissue["csf"] * values["csf"]
    image *= 1.0 + 0.03 * texture
    region = image[tumour_box]
    core_value = values["net"] if low_grade else values["ncr"]
    weights = soft_labels["ncr"] + soft_labels["et"] + soft_labels["ed"]
    tumour = (
        soft_labels["ncr"] * core_value + soft_labels["et"] * values["et"] + soft_labels["ed"] * values["ed"]
    )
    tumour *= 1.0 + 0.08 * texture[tumour_box]
    region *= 1.0 - weights
    region += tumour
    return image


def soften_labels(label: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class masks blurred by a fraction of a voxel, so class borders show partial volume."""
    classes = {"ncr": LABEL_NCR, "et": LABEL_ET, "ed": LABEL_ED}
    soft = {
        name: ndimage.gaussian_filter((label == value).astype(np.float32), 0.6)
        for name, value in classes.items()
    }
    total = np.maximum(soft["ncr"] + soft["et"] + soft["ed"], 1.0)  # never more than 100 % tumour
    return {name: mask / total for name, mask in soft.items()}


def simulate_resolution(rng: np.random.Generator, image: np.ndarray, config: PhantomConfig) -> np.ndarray:
    """Thick-slice acquisition (slab profile + sampling + linear re-interpolation) or a mild isotropic blur."""
    if rng.uniform() < config.p_thick_slices:
        axis = int(rng.choice([0, 1, 2], p=[0.15, 0.15, 0.7]))  # mostly axial slices, as in most protocols
        thickness = rng.uniform(*config.slice_thickness_mm)
        image = ndimage.gaussian_filter1d(image, thickness / 2.355, axis=axis)
        slices = np.arange(rng.uniform(0, thickness), image.shape[axis] - 1, thickness)
        thick = resample_axis(image, axis, slices)
        back = np.clip(
            np.interp(np.arange(image.shape[axis]), slices, np.arange(len(slices))), 0, len(slices) - 1
        )
        return resample_axis(thick, axis, back)
    sigma = rng.uniform(*config.blur_sigma_mm)
    return ndimage.gaussian_filter(image, sigma) if sigma > 0.05 else image


def bias_field(rng: np.random.Generator, shape: tuple[int, ...], strength: float) -> np.ndarray:
    """Smooth separable multiplicative field exp(p(x) + q(y) + s(z)) with cubic p, q, s and peak |log| <= strength."""
    field = np.zeros(shape, dtype=np.float32)
    for axis, n in enumerate(shape):
        x = np.linspace(-1.0, 1.0, n)
        profile = np.polynomial.polynomial.polyval(x, rng.uniform(-1.0, 1.0, size=4) * [0, 1, 0.6, 0.4])
        view = [1] * len(shape)
        view[axis] = n
        field = field + profile.astype(np.float32).reshape(view)
    peak = max(float(np.abs(field).max()), 1e-6)
    return np.exp(field * (strength / peak))


def acquire(
    rng: np.random.Generator, image: np.ndarray, brain: np.ndarray, config: PhantomConfig
) -> np.ndarray:
    """Resolution, bias, Rician noise, skull strip and scanner scale; returns whole numbers >= 0 (float32).

    Args:
        rng: random generator of the case.
        image: clean contrast (reference tissue = 1).
        brain: brain mask of the same shape; everything outside is set to 0 like in BraTS.
        config: the generator configuration (ranges of the randomisation).
    """
    image = simulate_resolution(rng, image, config)
    image *= bias_field(rng, image.shape, rng.uniform(*config.bias_strength))
    sigma = rng.uniform(*config.noise_std)
    scale = rng.uniform(*config.output_scale)
    signal = image[brain]  # noise only where the skull strip keeps voxels: a third of the box
    real = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    signal = np.sqrt(real * real + imaginary * imaginary) * scale
    acquired = np.zeros(image.shape, dtype=np.float32)
    acquired[brain] = np.clip(np.rint(signal), 0, np.iinfo(np.int16).max)
    return acquired
