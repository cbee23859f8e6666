"""One synthetic BraTS-style case from a real head's label map (synthetic v2).

Steps: pick and deform a head (flip, affine, smooth elastic field), place the lesions and push the tissue
around them (mass effect), sample the tissue classes on the BraTS grid (240 x 240 x 155, 1 mm, RAS+), paint the
tumour compartments and the enhancing mimics, render the four contrasts with their artefacts, skull-strip
with an imperfect mask and z-score inside it exactly as `engine.prepare` does for real cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.labels import EDEMA, ENHANCING, NECROSIS
from engine.preprocess.normalize import zscore_in_mask
from trainer.augment import rotation_matrix
from trainer.synth import anatomy as A
from trainer.synth.fields import in_classes, sample_labels, smooth_noise
from trainer.synth.mimics import add_mimics, skull_strip_mask
from trainer.synth.render import CONTRASTS, RenderConfig, render_contrast
from trainer.synth.tumour import KINDS, Lesion, draw_lesions, mass_effect, paint_lesion

BRATS_SHAPE = (240, 240, 155)
# The generator's version, written into every case and cache entry. v2.1 (2026-11-30): oedema and lesion outlines
# no longer cut by axis-aligned boxes (v2 drew cube-shaped oedema); a cache never mixes versions. v2.2 (fifth session
# of 2026-11-30): oedema stays in the core's hemisphere, and oedema is brighter than white matter on T2 and FLAIR
# by at least `RenderConfig.oedema_contrast` (v2.1 drew oedema across the midline that no contrast showed). v2.3
# (2026-12-01): oedema and non-enhancing tumour are that much brighter than every normal parenchyma class (cortex
# and deep grey matter too), not only white matter; same seed, same geometry, only those intensities change.
GENERATOR = "synthetic-v2.3"
BOX_MARGIN = 10  # voxels kept around the brain: the skull strip's remnants reach at most 8 mm beyond it


@dataclass(frozen=True)
class SynthConfig:
    """How cases vary.

    Attributes:
        shape: output grid (1 mm voxels, RAS+).
        kind_weights: relative frequency of each tumour kind (`trainer.synth.tumour.KINDS` order).
        rotation_deg: largest rotation about each axis.
        scale_range: isotropic scaling of the head.
        elastic_mm: largest amplitude of the smooth elastic deformation.
        shift_mm: largest shift of the head on the grid.
        render: intensity and artefact ranges.
    """

    shape: tuple[int, int, int] = BRATS_SHAPE
    kind_weights: tuple[float, ...] = (0.35, 0.1, 0.15, 0.25, 0.15)
    rotation_deg: float = 12.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    elastic_mm: float = 4.0
    shift_mm: float = 6.0
    render: RenderConfig = field(default_factory=RenderConfig)


@dataclass(frozen=True)
class SynthCase:
    """A generated case, cropped to the brain's box on the BraTS grid (``metadata["box_start"]`` places it).

    Attributes:
        image: z-scored contrasts (4, X, Y, Z) float32, zero outside the mask.
        label: BraTS 2020 labels, uint8.
        mask: the (imperfect) skull-strip mask.
        metadata: generator, anatomy, seed, tumour kind, lesions, box.
    """

    image: np.ndarray
    label: np.ndarray
    mask: np.ndarray
    metadata: dict


class _Warp:
    """Output voxel -> head voxel: flip, rotation, scaling, shift and a smooth elastic field."""

    def __init__(self, anatomy: A.AnatomyMap, config: SynthConfig, generator: torch.Generator,
                 device: torch.device) -> None:
        brain = np.isin(anatomy.tissue, A.BRAIN_CLASSES)
        points = np.argwhere(brain)
        self.source_centre = torch.tensor((points.min(0) + points.max(0)) / 2.0, dtype=torch.float32)
        self.output_centre = (torch.tensor(config.shape, dtype=torch.float32) - 1) / 2
        angles = (torch.rand(3, generator=generator) * 2 - 1) * math.radians(config.rotation_deg)
        scale = config.scale_range[0] + (config.scale_range[1] - config.scale_range[0]) * torch.rand((), generator=generator)
        matrix = torch.from_numpy(rotation_matrix(angles.double().numpy())).float() / scale
        if torch.rand((), generator=generator) < 0.5:
            matrix[:, 0] = -matrix[:, 0]  # left-right mirror
        self.matrix = matrix.to(device)
        self.shift = ((torch.rand(3, generator=generator) * 2 - 1) * config.shift_mm).to(device)
        amplitude = float(torch.rand((), generator=generator)) * config.elastic_mm
        coarse = tuple(max(2, s // 24) for s in config.shape)
        self.elastic = torch.stack([smooth_noise(config.shape, coarse, generator, device) for _ in range(3)], -1)
        self.elastic *= amplitude
        self.device = device

    def __call__(self, points: torch.Tensor, elastic: torch.Tensor | None) -> torch.Tensor:
        centred = points - self.output_centre.to(self.device) - self.shift
        source = centred @ self.matrix.T + self.source_centre.to(self.device)
        return source if elastic is None else source + elastic


def _grid(shape: tuple[int, int, int], device: torch.device, step: int = 1) -> torch.Tensor:
    axes = [torch.arange(0, n, step, device=device, dtype=torch.float32) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def _lesion_candidates(anatomy_tissue: torch.Tensor, warp: _Warp, shape: tuple[int, int, int],
                       kind: str) -> torch.Tensor:
    """Output voxels (N, 3) where a lesion of ``kind`` may be centred: white matter, or for metastases the
    grey-white junction too (sampled on a coarse grid)."""
    step = 3
    points = _grid(shape, warp.device, step)
    tissue = sample_labels(anatomy_tissue, warp(points, None))
    allowed = (tissue == A.WM)
    if kind == "cystic_metastasis":
        allowed |= tissue == A.CORTEX
    candidates = points[allowed]
    if len(candidates) == 0:
        raise ValueError("no white matter on the output grid: the head map is empty or the warp misses it")
    return candidates


def _tissue_on_grid(anatomy: A.AnatomyMap, warp: _Warp, lesions: list[Lesion], shape: tuple[int, int, int],
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    points = _grid(shape, device)
    source = warp(points - mass_effect(points, lesions), warp.elastic)
    tissue = sample_labels(torch.from_numpy(anatomy.tissue).to(device), source)
    parts = sample_labels(torch.from_numpy(anatomy.parts).to(device), source)
    return tissue, parts


def _brain_box(tissue: torch.Tensor, margin: int = BOX_MARGIN) -> tuple[slice, ...]:
    """The brain's bounding box on the grid, with room for skull-strip remnants around it."""
    points = in_classes(tissue, (*A.BRAIN_CLASSES, *A.TUMOUR_CLASSES)).nonzero()
    if len(points) == 0:
        raise ValueError("the deformed head shows no brain on the output grid")
    low, high = points.min(0).values.tolist(), points.max(0).values.tolist()
    return tuple(slice(max(0, lo - margin), min(n, hi + margin + 1)) for lo, hi, n in zip(low, high, tissue.shape,
                                                                                         strict=True))


def brats_label(tissue: torch.Tensor) -> torch.Tensor:
    """BraTS 2020 labels of the tumour classes (necrosis and non-enhancing tumour are both label 1)."""
    label = torch.zeros_like(tissue, dtype=torch.uint8)
    label[(tissue == A.NECROSIS) | (tissue == A.NON_ENHANCING)] = NECROSIS
    label[tissue == A.OEDEMA] = EDEMA
    label[tissue == A.ENHANCING] = ENHANCING
    return label


def generate_case(anatomy: A.AnatomyMap, seed: int, config: SynthConfig = SynthConfig(),  # noqa: B008 - frozen
                  device: str | torch.device = "cpu") -> SynthCase:
    """Generate one case from ``anatomy``; the same (anatomy, seed, config) gives the same case on the CPU.

    Args:
        anatomy: the head.
        seed: the case's seed.
        config: variation ranges.
        device: where to compute (a GPU is faster; the CPU is reproducible bit for bit).
    """
    device = torch.device(device)
    generator = torch.Generator().manual_seed(int(seed) % 2**63)
    kind = KINDS[int(torch.multinomial(torch.tensor(config.kind_weights), 1, generator=generator))]
    warp = _Warp(anatomy, config, generator, device)
    candidates = _lesion_candidates(torch.from_numpy(anatomy.tissue).to(device), warp, config.shape, kind)
    lesions = draw_lesions(kind, candidates, generator)
    tissue, parts = _tissue_on_grid(anatomy, warp, lesions, config.shape, device)
    for lesion in lesions:
        paint_lesion(tissue, lesion, generator, parts)
    box = _brain_box(tissue)  # what follows works on the brain's box only: half the voxels, same result
    tissue, parts = tissue[box].contiguous(), parts[box].contiguous()
    add_mimics(tissue, parts, generator)
    mask = skull_strip_mask(tissue, generator)
    label = brats_label(tissue) * mask
    images = [render_contrast(tissue, c, generator, config.render).cpu().numpy() for c in range(len(CONTRASTS))]
    mask_np = mask.cpu().numpy()
    image = np.stack([zscore_in_mask(data, mask_np, name)[0] for data, name in zip(images, CONTRASTS, strict=True)])
    metadata = {"generator": GENERATOR, "anatomy": anatomy.name, "seed": int(seed), "kind": kind,
                "box_start": [s.start for s in box], "grid_shape": list(config.shape),
                "lesions": [lesion.__dict__ for lesion in lesions]}
    return SynthCase(image, label.cpu().numpy(), mask_np, metadata)
