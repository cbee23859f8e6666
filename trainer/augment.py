"""Patch augmentation on the CPU (numpy / scipy), run inside DataLoader workers.

Every function takes a ``numpy.random.Generator`` so a patch's augmentation is a pure function of its seed
(exact resume). Images are float32 (C, D, H, W); labels uint8 (D, H, W) with BraTS 2020 values. Spatial
transforms move image and label together (label by nearest neighbour, so labels stay valid); intensity
transforms touch the image only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the augmentations (see `trainer.config.TrainConfig`)."""

    p_rotate_scale: float = 0.2
    rotation_deg: float = 30.0
    scale_range: tuple[float, float] = (0.85, 1.25)
    p_intensity: float = 0.15
    p_gamma: float = 0.3
    p_noise: float = 0.1
    p_blur: float = 0.1
    p_lowres: float = 0.1
    p_bias: float = 0.0

    def scaled(self, factor: float) -> AugmentConfig:
        """The same ranges with every probability multiplied by ``factor`` (capped at 1)."""
        probabilities = {name: min(1.0, getattr(self, name) * factor) for name in
                         ("p_rotate_scale", "p_intensity", "p_gamma", "p_noise", "p_blur", "p_lowres", "p_bias")}
        return dataclasses.replace(self, **probabilities)


def flip(image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mirror each spatial axis with probability 1/2."""
    for axis in range(3):
        if rng.random() < 0.5:
            image, label = np.flip(image, axis + 1), np.flip(label, axis)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """Rotation about the three axes in turn (radians), as a 3x3 matrix."""
    matrix = np.eye(3)
    for axis, angle in enumerate(angles):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        rotation = np.eye(3)
        rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
        matrix = rotation @ matrix
    return matrix


def rotate_scale(image: np.ndarray, label: np.ndarray, rng: np.random.Generator, max_deg: float,
                 scale_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Rotate about the patch centre (each axis up to ``max_deg``) and zoom by a factor in ``scale_range``."""
    angles = np.deg2rad(rng.uniform(-max_deg, max_deg, size=3))
    scale = rng.uniform(*scale_range)
    matrix = rotation_matrix(angles) / scale  # output voxel -> input voxel
    centre = (np.array(label.shape) - 1) / 2.0
    offset = centre - matrix @ centre
    channels = [ndimage.affine_transform(c, matrix, offset, order=1, mode="constant", cval=0.0) for c in image]
    new_label = ndimage.affine_transform(label, matrix, offset, order=0, mode="constant", cval=0)
    return np.stack(channels).astype(np.float32), new_label.astype(np.uint8)


def intensity_scale_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-channel multiplicative (0.9-1.1) and additive (+-0.1) change."""
    scale = rng.uniform(0.9, 1.1, size=(image.shape[0], 1, 1, 1))
    shift = rng.uniform(-0.1, 0.1, size=(image.shape[0], 1, 1, 1))
    return (image * scale + shift).astype(np.float32)


def gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma in [0.7, 1.5] on each channel rescaled to [0, 1], then mapped back to its range."""
    out = np.empty_like(image)
    for c, channel in enumerate(image):
        low, high = float(channel.min()), float(channel.max())
        span = max(high - low, 1e-6)
        out[c] = ((channel - low) / span) ** rng.uniform(0.7, 1.5) * span + low
    return out


def noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise with a standard deviation up to 0.1 (images are z-scored)."""
    return (image + rng.normal(0.0, rng.uniform(0.0, 0.1), size=image.shape)).astype(np.float32)


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with sigma 0.5-1 voxel per channel."""
    return np.stack([ndimage.gaussian_filter(c, rng.uniform(0.5, 1.0)) for c in image]).astype(np.float32)


def low_resolution(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Simulate a coarser acquisition: downsample by 1-2x (nearest) and upsample back (linear)."""
    factor = rng.uniform(1.0, 2.0)
    out = np.empty_like(image)
    for c, channel in enumerate(image):
        small = ndimage.zoom(channel, 1.0 / factor, order=0)
        back = ndimage.zoom(small, np.array(channel.shape) / np.array(small.shape), order=1)
        out[c] = back[tuple(slice(0, s) for s in channel.shape)]
    return out


def bias_field(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth multiplicative field per channel (exp of a coarse random grid, std up to 0.3), as MRI coils give."""
    out = np.empty_like(image)
    for c, channel in enumerate(image):
        coarse = rng.normal(0.0, rng.uniform(0.05, 0.3), size=(4, 4, 4))
        field = ndimage.zoom(coarse, np.array(channel.shape) / 4.0, order=1)[tuple(slice(0, s) for s in channel.shape)]
        out[c] = channel * np.exp(field)
    return out


def augment(image: np.ndarray, label: np.ndarray, rng: np.random.Generator,
            config: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, np.ndarray]:  # noqa: B008 (frozen)
    """All augmentations in nnU-Net's order: spatial first, then intensity, flips last.

    Args:
        image: float32 (C, D, H, W).
        label: uint8 (D, H, W).
        rng: the patch's generator.
        config: probabilities and ranges.
    """
    if image.ndim != 4 or image.shape[1:] != label.shape:
        raise ValueError(f"image (C, D, H, W) and label (D, H, W) must match, got {image.shape} and {label.shape}")
    if rng.random() < config.p_rotate_scale:
        image, label = rotate_scale(image, label, rng, config.rotation_deg, config.scale_range)
    steps = ((config.p_noise, noise), (config.p_blur, blur), (config.p_intensity, intensity_scale_shift),
             (config.p_lowres, low_resolution), (config.p_gamma, gamma), (config.p_bias, bias_field))
    for probability, transform in steps:
        if rng.random() < probability:
            image = transform(image, rng)
    return flip(image.astype(np.float32), label, rng)
