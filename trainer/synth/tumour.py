"""Tumours drawn into a deformed head: kinds, placement, mass effect and BraTS-shaped compartments.

Kinds (the compartments real BraTS / metastasis cases show):

* ``glioblastoma``: a necrotic core inside an irregular ring of enhancement (parts of the ring sometimes
  non-enhancing), oedema that spreads along white matter.
* ``solid``: an enhancing mass with at most a small necrosis.
* ``low_grade``: a non-enhancing tumour (BraTS label 1) with little oedema, no enhancement.
* ``cystic_metastasis``: a fluid cyst with a thin enhancing rim and large finger-like vasogenic oedema; small
  solid metastases at the grey-white junction; one to four of them.
* ``multifocal``: two or three glioma foci.

A lesion is placed in output (BraTS-grid) voxel coordinates before the anatomy is sampled, so its mass effect
can push the surrounding tissue outward; its compartments are then painted into the tissue-class volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from trainer.synth import anatomy as A
from trainer.synth.fields import geodesic_dilate, in_classes, smooth_noise

KINDS = ("glioblastoma", "solid", "low_grade", "cystic_metastasis", "multifocal")


@dataclass(frozen=True)
class Lesion:
    """One lesion in output voxel coordinates.

    Attributes:
        kind: the lesion's kind (a metastasis or a multifocal focus keeps its family's kind).
        centre: (x, y, z) voxel.
        radius: mean radius of the tumour core in mm (voxels are 1 mm).
        axes: relative ellipsoid half-axes.
        inner: radius fraction of the necrosis / cyst (0: none).
        oedema_mm: how far oedema spreads along white matter.
        push: mass-effect displacement at the tumour border, mm.
        ring_gaps: share of the ring that does not enhance.
    """

    kind: str
    centre: tuple[float, float, float]
    radius: float
    axes: tuple[float, float, float]
    inner: float
    oedema_mm: float
    push: float
    ring_gaps: float


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def draw_lesions(kind: str, candidates: torch.Tensor, generator: torch.Generator) -> list[Lesion]:
    """The lesions of one case of ``kind``, centred on voxels drawn from ``candidates`` (N, 3)."""
    def pick() -> tuple[float, float, float]:
        index = int(torch.randint(len(candidates), (), generator=generator))
        return tuple(float(v) for v in candidates[index])

    def axes() -> tuple[float, float, float]:
        return tuple(_uniform(generator, 0.75, 1.3) for _ in range(3))

    u = lambda low, high: _uniform(generator, low, high)  # noqa: E731 - a short local alias reads best here
    if kind == "cystic_metastasis":
        count = 1 + int(torch.randint(4, (), generator=generator)) if u(0, 1) < 0.5 else 1
        lesions = []
        for i in range(count):
            radius = u(8, 22) if i == 0 else u(3, 10)
            cystic = i == 0 and u(0, 1) < 0.75
            lesions.append(Lesion(kind, pick(), radius, axes(), u(0.55, 0.85) if cystic else u(0.0, 0.4),
                                  u(10, 35) if i == 0 else u(3, 20), u(0.1, 0.4) * radius, u(0.0, 0.15)))
        return lesions
    if kind == "multifocal":
        first = pick()
        lesions = [Lesion("glioblastoma", first, u(8, 20), axes(), u(0.3, 0.7), u(5, 25), u(0.1, 0.4) * 12, 0.2)]
        for _ in range(1 + int(torch.randint(2, (), generator=generator))):
            lesions.append(Lesion("solid", pick(), u(4, 12), axes(), u(0.0, 0.4), u(3, 15), 0.0, 0.1))
        return lesions
    radius = u(10, 30)
    if kind == "glioblastoma":
        return [Lesion(kind, pick(), radius, axes(), u(0.35, 0.8), u(5, 30), u(0.15, 0.5) * radius, u(0.0, 0.4))]
    if kind == "solid":
        return [Lesion(kind, pick(), u(6, 20), axes(), u(0.0, 0.35), u(3, 25), u(0.1, 0.3) * radius, 0.0)]
    if kind == "low_grade":
        return [Lesion(kind, pick(), radius, axes(), 0.0, u(0, 6), u(0.0, 0.25) * radius, 0.0)]
    raise ValueError(f"unknown tumour kind {kind!r}; choose from {KINDS}")


def mass_effect(points: torch.Tensor, lesions: list[Lesion]) -> torch.Tensor:
    """Displacement (..., 3) to subtract from output points before sampling: tissue pushed away from lesions."""
    shift = torch.zeros_like(points)
    for lesion in lesions:
        if lesion.push <= 0:
            continue
        offset = points - torch.tensor(lesion.centre, dtype=points.dtype, device=points.device)
        distance = offset.norm(dim=-1, keepdim=True).clamp_min(1e-3)
        reach = 1.5 * lesion.radius
        strength = lesion.push * torch.clamp(distance / lesion.radius, max=1.0) * torch.exp(
            -((distance - lesion.radius).clamp_min(0) / reach) ** 2)
        shift += offset / distance * strength
    return shift


# Bounds of the smooth random factors below. They keep every painted voxel inside the lesion's box: a lesion cut
# by its box came out with flat, axis-aligned faces.
MAX_WOBBLE = 0.5
OEDEMA_REACH_FACTOR = (0.4, 1.8)


def _box(lesion: Lesion, shape: tuple[int, ...]) -> tuple[slice, ...]:
    outermost = (lesion.radius + OEDEMA_REACH_FACTOR[1] * lesion.oedema_mm) * (1 + MAX_WOBBLE) * max(lesion.axes)
    reach = outermost + 4  # the rim grows up to 3 voxels past the core
    return tuple(slice(max(0, int(c - reach)), min(n, int(c + reach) + 1)) for c, n in zip(lesion.centre, shape,
                                                                                          strict=True))


def _relative_radius(lesion: Lesion, box: tuple[slice, ...], generator: torch.Generator,
                     device: torch.device) -> torch.Tensor:
    """Distance from the centre in units of the (noisy, ellipsoidal) tumour radius, over the lesion's box."""
    axes = [torch.arange(s.start, s.stop, device=device, dtype=torch.float32) for s in box]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    scaled = (grid - torch.tensor(lesion.centre, device=device)) / torch.tensor(lesion.axes, device=device)
    shape = tuple(s.stop - s.start for s in box)
    wobble = (_uniform(generator, 0.08, 0.3) * smooth_noise(shape, 5, generator, device)).clamp(-MAX_WOBBLE, MAX_WOBBLE)
    return scaled.norm(dim=-1) / (lesion.radius * (1 + wobble))


def paint_lesion(tissue: torch.Tensor, lesion: Lesion, generator: torch.Generator,
                 parts: torch.Tensor | None = None) -> None:
    """Paint one lesion's compartments into ``tissue`` (in place): core classes, then oedema around them.

    Args:
        tissue: tissue classes on the output grid.
        lesion: the lesion.
        generator: random numbers.
        parts: the hemisphere / cerebellum flags on the same grid (`anatomy.PART_*`); when given, the oedema
            stays on the core's side: vasogenic oedema spreads along the white matter of its own hemisphere and
            rarely crosses the corpus callosum, which the white matter connected to the core would.
    """
    box = _box(lesion, tuple(tissue.shape))
    region = tissue[box]
    shape = tuple(region.shape)
    brain = in_classes(region, (*A.BRAIN_CLASSES, *A.TUMOUR_CLASSES, A.CHOROID))
    r = _relative_radius(lesion, box, generator, tissue.device)
    core = (r < 1.0) & (brain | (r < 0.7))
    inner = r < lesion.inner * (1 + 0.15 * smooth_noise(shape, 4, generator, tissue.device))
    enhancing, non_enhancing = _core_parts(lesion, core, inner, shape, generator, tissue.device)
    oedema = _oedema(lesion, region, core, r, generator, None if parts is None else parts[box])
    region[oedema & ~core] = A.OEDEMA
    region[core & inner] = A.NECROSIS
    region[non_enhancing] = A.NON_ENHANCING
    region[enhancing] = A.ENHANCING


def _core_parts(lesion: Lesion, core: torch.Tensor, inner: torch.Tensor, shape: tuple[int, ...],
                generator: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(enhancing, non-enhancing) voxels of the core outside the necrosis / cyst."""
    solid = core & ~inner
    if lesion.kind == "low_grade":
        return torch.zeros_like(core), solid
    gaps = torch.zeros_like(core)
    if lesion.ring_gaps > 0:
        noise = smooth_noise(shape, 4, generator, device)
        gaps = solid & (noise > torch.quantile(noise[solid].float(), 1 - lesion.ring_gaps)) if solid.any() else gaps
    return solid & ~gaps, gaps


def _core_side(parts: torch.Tensor, core: torch.Tensor) -> torch.Tensor:
    """Voxels on the core's side: the hemisphere (or cerebellum) flag most of the core lies in; all voxels when
    the core lies in no flagged part (brain stem)."""
    flags = parts[core & (parts > 0)]
    if flags.numel() == 0:
        return torch.ones_like(core)
    return parts == torch.mode(flags).values


def _oedema(lesion: Lesion, region: torch.Tensor, core: torch.Tensor, r: torch.Tensor,
            generator: torch.Generator, parts: torch.Tensor | None = None) -> torch.Tensor:
    """Oedema: grown from the core along white matter (and a thin rim into grey matter), noisy extent, on the
    core's side when ``parts`` (hemisphere flags) are given."""
    if lesion.oedema_mm <= 0:
        return torch.zeros_like(core)
    white = (region == A.WM) | (region == A.PALLIDUM) | (region == A.OEDEMA)
    grey_rim = (region == A.CORTEX) | (region == A.DEEP_GM) | (region == A.CEREBELLAR_GM)
    if parts is not None:
        side = _core_side(parts, core)
        white, grey_rim = white & side, grey_rim & side
    # The noisy ellipsoid (r < reach) is the oedema's outline; inside it the oedema fills the white matter
    # connected to the core. A path-length limit alone would give its outline the shape of the growth steps
    # (a cube for 26-neighbourhood steps), so the limit only bounds the work: the outline stops the growth first.
    spread = (1 + 0.4 * smooth_noise(tuple(r.shape), 6, generator, r.device)).clamp(*OEDEMA_REACH_FACTOR)
    outline = r < 1 + lesion.oedema_mm / lesion.radius * spread
    most_steps = math.ceil(OEDEMA_REACH_FACTOR[1] * lesion.oedema_mm * (1 + MAX_WOBBLE) * max(lesion.axes)) + 2
    along_white = geodesic_dilate(core, (white | core) & outline, most_steps)
    rim = geodesic_dilate(core, grey_rim | white | core, min(3, max(1, int(lesion.oedema_mm))))
    return along_white | rim
