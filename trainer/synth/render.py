"""Intensities from tissue classes: contrast-specific priors randomised widely, then the scanner's artefacts.

Per case and contrast every tissue class draws a mean around its prior (log-normal spread) and a noise level;
tumours get an extra smooth texture. Then partial volume (blur), an optional thick-slice acquisition resampled
to 1 mm, a smooth multiplicative bias field, Rician-like noise and a gamma change, as SynthSeg-style domain
randomisation does, but keeping each contrast recognisable (BraTS models rely on T1 vs T1ce vs T2 vs FLAIR).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer.synth import anatomy as A
from trainer.synth.fields import blur, in_classes, resample_linear, smooth_noise

CONTRASTS = ("t1", "t1ce", "t2", "flair")

# Prior means per class, relative to white matter on T1: (T1, T1ce, T2, FLAIR). Extra-cerebral classes
# are drawn uniformly instead (their priors are None): they only appear as skull-strip remnants.
PRIORS: dict[int, tuple[float, float, float, float] | None] = {
    A.BACKGROUND: (0.0, 0.0, 0.0, 0.0),
    A.WM: (1.00, 1.00, 0.55, 0.75),
    A.CORTEX: (0.70, 0.72, 0.80, 0.95),
    A.CEREBELLAR_GM: (0.72, 0.75, 0.78, 0.90),
    A.DEEP_GM: (0.80, 0.82, 0.68, 0.85),
    A.PALLIDUM: (0.90, 0.90, 0.55, 0.75),
    A.VENTRICLE: (0.30, 0.30, 1.70, 0.25),
    A.SULCAL_CSF: (0.32, 0.34, 1.60, 0.30),
    A.VESSEL: (0.50, 1.60, 0.35, 0.40),
    A.EYE: (0.30, 0.32, 1.70, 0.30),
    A.SOFT_TISSUE: None, A.MUSCLE: None, A.FAT: None, A.BONE: None, A.OTHER: None,
    A.DURA: (0.60, 1.30, 0.45, 0.75),
    A.SINUS: (0.45, 1.70, 0.35, 0.45),
    A.CHOROID: (0.75, 1.50, 0.90, 0.80),
    A.NECROSIS: (0.35, 0.38, 1.50, 0.70),
    A.NON_ENHANCING: (0.65, 0.68, 1.25, 1.25),
    A.OEDEMA: (0.70, 0.72, 1.25, 1.30),
    A.ENHANCING: (0.75, 1.55, 1.00, 1.10),
}
ENHANCING_CLASSES = (A.VESSEL, A.DURA, A.SINUS, A.CHOROID, A.ENHANCING)
NORMAL_PARENCHYMA = (A.WM, A.CORTEX, A.CEREBELLAR_GM, A.DEEP_GM, A.PALLIDUM)


@dataclass(frozen=True)
class RenderConfig:
    """Randomisation ranges of the rendering.

    Attributes:
        mean_spread: log-normal spread of each brain class's mean around its prior.
        tumour_spread: the same for tumour compartments and enhancing mimics (wider: real tumours vary more).
        p_thick_slices: probability per contrast of a thick-slice acquisition.
        slice_mm: range of the slice thickness of such an acquisition.
        max_bias: largest standard deviation of the log bias field.
        max_noise: largest noise standard deviation, relative to white matter.
        oedema_contrast: oedema and non-enhancing tumour are at least this much brighter than the brightest
            normal parenchyma (white matter, cortex, cerebellar and deep grey matter, pallidum) on T2 and FLAIR
            (relative): BraTS annotators draw the whole tumour from the FLAIR / T2 hyperintensity, so a label
            that no contrast shows would teach the network to guess.
    """

    mean_spread: float = 0.12
    tumour_spread: float = 0.2
    p_thick_slices: float = 0.35
    slice_mm: tuple[float, float] = (3.0, 6.0)
    max_bias: float = 0.3
    max_noise: float = 0.06
    oedema_contrast: float = 0.2


def _u(generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def class_means(contrast: int, generator: torch.Generator, config: RenderConfig) -> torch.Tensor:
    """One mean per tissue class for ``contrast`` (index into CONTRASTS)."""
    means = torch.zeros(A.N_CLASSES)
    for tissue_class, prior in PRIORS.items():
        if prior is None:
            means[tissue_class] = _u(generator, 0.1, 1.5)
            continue
        spread = config.tumour_spread if tissue_class in (*A.TUMOUR_CLASSES, *ENHANCING_CLASSES) else config.mean_spread
        means[tissue_class] = prior[contrast] * float(torch.exp(spread * torch.randn((), generator=generator)))
    if CONTRASTS[contrast] in ("t2", "flair"):
        # v2.3: the floor is the brightest normal parenchyma, not white matter alone. With white matter as the
        # floor, 12 % of FLAIR draws made oedema darker than cortex or deep grey matter (v2.2 held-out case 0019:
        # oedema barely brighter than brain on FLAIR, a third of it missed; 0017: deep grey matter as bright as
        # the low-grade tumour, and labelled tumour).
        floor = means[list(NORMAL_PARENCHYMA)].max() * (1 + config.oedema_contrast)
        for hyperintense in (A.OEDEMA, A.NON_ENHANCING):
            means[hyperintense] = torch.maximum(means[hyperintense], floor)
    return means


def render_contrast(tissue: torch.Tensor, contrast: int, generator: torch.Generator,
                    config: RenderConfig) -> torch.Tensor:
    """One contrast's image from the tissue classes, artefacts included (before skull stripping)."""
    means = class_means(contrast, generator, config).to(tissue.device)
    noise_level = torch.rand(A.N_CLASSES, generator=generator).to(tissue.device) * 0.08 + 0.02
    index = tissue.long()
    shape = tuple(tissue.shape)
    image = means[index] * (1 + noise_level[index] * torch.randn(shape, generator=generator).to(tissue.device))
    tumour = in_classes(tissue, A.TUMOUR_CLASSES)
    if tumour.any():
        texture = 1 + _u(generator, 0.0, 0.2) * smooth_noise(shape, (30, 30, 20), generator, tissue.device)
        image = torch.where(tumour, image * texture, image)
    image = blur(image, (_u(generator, 0.3, 1.0),) * 3)
    if _u(generator) < config.p_thick_slices:
        image = thick_slices(image, generator, config)
    return _scanner(image, generator, config)


def thick_slices(image: torch.Tensor, generator: torch.Generator, config: RenderConfig) -> torch.Tensor:
    """A thick-slice acquisition along one axis (mostly axial), resampled back to 1 mm."""
    axis = 2 if _u(generator) < 0.7 else int(torch.randint(2, (), generator=generator))
    thickness = _u(generator, *config.slice_mm)
    sigmas = [0.0, 0.0, 0.0]
    sigmas[axis] = thickness / 2.355
    smoothed = blur(image, tuple(sigmas))
    size = list(image.shape)
    size[axis] = max(2, round(image.shape[axis] / thickness))
    return resample_linear(resample_linear(smoothed, tuple(size)), tuple(image.shape))


def _scanner(image: torch.Tensor, generator: torch.Generator, config: RenderConfig) -> torch.Tensor:
    shape = tuple(image.shape)
    bias = torch.exp(_u(generator, 0.0, config.max_bias) * smooth_noise(shape, 3, generator, image.device))
    image = image * bias
    sigma = _u(generator, 0.005, config.max_noise)
    real = image + sigma * torch.randn(shape, generator=generator).to(image.device)
    imaginary = sigma * torch.randn(shape, generator=generator).to(image.device)
    image = torch.sqrt(real**2 + imaginary**2)  # magnitude images have Rician noise
    gamma = float(torch.exp(0.15 * torch.randn((), generator=generator)))
    peak = image.max().clamp_min(1e-6)
    return (image / peak) ** gamma * peak
