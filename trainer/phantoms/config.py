"""Configuration, constants and the in-memory result type of the phantom generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Grid of the BraTS 2017-2021 releases (SRI24 space): 240 x 240 x 155 voxels of 1 mm.
BRATS_SHAPE: tuple[int, int, int] = (240, 240, 155)

#: Affine of the real BraTS files (nibabel axis codes L, P, S): i runs to the left, j to the back, k up.
BRATS_AFFINE: np.ndarray = np.array(
    [[-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 239.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

#: Contrast keys, in BraTS 2020 file-suffix spelling.
CONTRASTS: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")

#: BraTS 2017-2021 label values.
LABEL_NCR, LABEL_ED, LABEL_ET = 1, 2, 4

#: Hard limits on the whole-tumour volume of any phantom (mL); the issue requires 5-150 mL.
WT_HARD_LIMITS_ML: tuple[float, float] = (5.0, 150.0)


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    """Raise ValueError unless ``value`` is an ordered pair inside [low, high]."""
    if len(value) != 2 or not (low <= value[0] <= value[1] <= high):
        raise ValueError(
            f"PhantomConfig.{name} must be a pair (min, max) with {low} <= min <= max <= {high}, got {value!r}"
        )


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"PhantomConfig.{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class PhantomConfig:
    """Knobs of the phantom generator; the defaults give the BraTS-like mix described in docs/phantoms.md.

    Args:
        wt_volume_ml: range of the whole-tumour (WT) target volume, drawn log-uniformly (mL).
        core_fraction: range of the tumour-core share of WT (TC / WT).
        necrosis_fraction: range of the necrotic share of the core in high-grade foci (NCR / TC).
        p_low_grade: probability that a case is low grade (no enhancing tumour, label 4 absent).
        p_multifocal: probability that a case has 2 or more separate tumour foci.
        max_foci: largest number of foci of a multifocal case.
        mass_effect: range of the peak displacement of surrounding anatomy, as a fraction of the core radius.
        brain_scale: size of the MNI152 brain in the BraTS grid (MNI152 is larger than SRI24 brains).
        scale_jitter: range of the random isotropic scale applied on top of ``brain_scale``.
        rotation_jitter_deg: largest random rotation about each axis (degrees).
        translation_jitter_mm: largest random shift along each axis (mm).
        noise_std: range of the Rician noise level relative to the white-matter signal.
        bias_strength: range of the peak-to-centre amplitude of the multiplicative bias field.
        p_thick_slices: probability, per contrast, of simulating a thick-slice (low-resolution) acquisition.
        slice_thickness_mm: range of the simulated slice thickness.
        blur_sigma_mm: range of the isotropic Gaussian blur applied when no thick slices are simulated.
        output_scale: range of the file intensity that white matter (CSF for T2) is mapped to.
    """

    wt_volume_ml: tuple[float, float] = (15.0, 140.0)
    core_fraction: tuple[float, float] = (0.15, 0.55)
    necrosis_fraction: tuple[float, float] = (0.2, 0.6)
    p_low_grade: float = 0.25
    p_multifocal: float = 0.2
    max_foci: int = 3
    mass_effect: tuple[float, float] = (0.1, 0.35)
    brain_scale: float = 0.88
    scale_jitter: tuple[float, float] = (0.95, 1.05)
    rotation_jitter_deg: float = 4.0
    translation_jitter_mm: float = 4.0
    noise_std: tuple[float, float] = (0.01, 0.05)
    bias_strength: tuple[float, float] = (0.0, 0.2)
    p_thick_slices: float = 0.5
    slice_thickness_mm: tuple[float, float] = (2.0, 5.0)
    blur_sigma_mm: tuple[float, float] = (0.0, 0.7)
    output_scale: tuple[float, float] = (300.0, 1500.0)

    def __post_init__(self) -> None:
        _check_range("wt_volume_ml", self.wt_volume_ml, *WT_HARD_LIMITS_ML)
        _check_range("core_fraction", self.core_fraction, 0.05, 1.0)
        _check_range("necrosis_fraction", self.necrosis_fraction, 0.05, 0.9)
        _check_probability("p_low_grade", self.p_low_grade)
        _check_probability("p_multifocal", self.p_multifocal)
        _check_probability("p_thick_slices", self.p_thick_slices)
        if not isinstance(self.max_foci, int) or not 2 <= self.max_foci <= 5:
            raise ValueError(f"PhantomConfig.max_foci must be an int in [2, 5], got {self.max_foci!r}")
        _check_range("mass_effect", self.mass_effect, 0.0, 0.4)
        if not 0.7 <= self.brain_scale <= 1.1:
            raise ValueError(f"PhantomConfig.brain_scale must lie in [0.7, 1.1], got {self.brain_scale!r}")
        _check_range("scale_jitter", self.scale_jitter, 0.8, 1.2)
        if not 0.0 <= self.rotation_jitter_deg <= 15.0:
            raise ValueError(
                f"PhantomConfig.rotation_jitter_deg must lie in [0, 15], got {self.rotation_jitter_deg!r}"
            )
        if not 0.0 <= self.translation_jitter_mm <= 15.0:
            raise ValueError(
                f"PhantomConfig.translation_jitter_mm must lie in [0, 15], got {self.translation_jitter_mm!r}"
            )
        _check_range("noise_std", self.noise_std, 0.0, 0.2)
        _check_range("bias_strength", self.bias_strength, 0.0, 0.3)
        _check_range("slice_thickness_mm", self.slice_thickness_mm, 1.0, 8.0)
        _check_range("blur_sigma_mm", self.blur_sigma_mm, 0.0, 2.0)
        _check_range("output_scale", self.output_scale, 10.0, 20000.0)


@dataclass(frozen=True)
class Phantom:
    """One synthetic case held in memory, already on the BraTS grid.

    Args:
        images: contrast name (``t1``, ``t1ce``, ``t2``, ``flair``) -> float32 volume of BRATS_SHAPE holding
            whole numbers in [0, 32767], so writing them as int16 is lossless.
        label: uint8 volume with BraTS labels 0/1/2/4.
        affine: 4x4 voxel-to-world matrix (BRATS_AFFINE).
        tissue: healthy-tissue masks ``wm``, ``gm``, ``csf`` (voxels where that tissue dominates, outside the
            tumour) and ``brain`` (the skull-stripped brain), all bool volumes of BRATS_SHAPE.
        metadata: JSON-serialisable facts about the case (seed, grade, foci, label volumes in mL, ...).
    """

    images: dict[str, np.ndarray]
    label: np.ndarray
    affine: np.ndarray
    tissue: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
