"""What else enhances on a real T1ce, and BraTS-style skull stripping with its flaws.

Enhancing structures that are not tumour, drawn from the label map or from simple geometry around it:

* cortical vessels: thin tubes in the sulcal CSF and on the brain surface, where two independent smooth
  random fields both cross zero (the intersection of two random surfaces is a random curve);
* the falx (a sheet where the two hemispheres meet) and the tentorium (where cerebrum meets cerebellum),
  the convexity dura (a shell around the CSF), and the venous sinuses along their outer edges (superior
  sagittal sinus on top of the falx, transverse sinuses on the tentorium's rim);
* the choroid plexus: blobs inside the lateral ventricles.

The skull-strip mask is the brain with a random share of sulcal CSF, then sometimes generous (remnants of
dura, sinus, bone or soft tissue along the edge) and sometimes too tight (edges cut off).
"""

from __future__ import annotations

import torch

from trainer.synth import anatomy as A
from trainer.synth.fields import dilate, erode, in_classes, smooth_noise


def _u(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


PARENCHYMA = (A.WM, A.CORTEX, A.CEREBELLAR_GM, A.DEEP_GM, A.PALLIDUM, *A.TUMOUR_CLASSES)


def add_mimics(tissue: torch.Tensor, parts: torch.Tensor, generator: torch.Generator) -> None:
    """Paint vessels, dura, falx, tentorium, sinuses and choroid plexus into ``tissue`` (in place)."""
    parenchyma = in_classes(tissue, PARENCHYMA)
    outside_brain = ~parenchyma & ~in_classes(tissue, (A.VENTRICLE,))
    hull = parenchyma | in_classes(tissue, (A.VENTRICLE, A.SULCAL_CSF))
    shell = dilate(hull, 2) & ~hull
    _dural_sheets(tissue, parts, outside_brain, shell, generator)
    if _u(generator) < 0.8:
        tissue[shell & ~in_classes(tissue, (A.SINUS, A.BACKGROUND))] = A.DURA
    _cortical_vessels(tissue, parenchyma, generator)
    _choroid_plexus(tissue, generator)


def _dural_sheets(tissue: torch.Tensor, parts: torch.Tensor, outside_brain: torch.Tensor, shell: torch.Tensor,
                  generator: torch.Generator) -> None:
    left = (parts & A.PART_LEFT) > 0
    right = (parts & A.PART_RIGHT) > 0
    cerebellum = (parts & A.PART_CEREBELLUM) > 0
    reach = 2 + int(2 * _u(generator))
    falx = dilate(left, reach) & dilate(right, reach) & outside_brain
    tentorium = dilate(cerebellum, reach) & dilate(left | right, reach) & outside_brain
    sheets = falx | tentorium
    tissue[sheets] = A.DURA
    near_skull = dilate(shell, 3)
    sinus = dilate((falx | tentorium) & near_skull, 1 + int(2 * _u(generator))) & outside_brain & (
        dilate(shell, 2) | sheets)
    tissue[sinus] = A.SINUS


def _cortical_vessels(tissue: torch.Tensor, parenchyma: torch.Tensor, generator: torch.Generator) -> None:
    shape = tuple(tissue.shape)
    cells = (shape[0] // 8, shape[1] // 8, shape[2] // 8)
    first = smooth_noise(shape, cells, generator, tissue.device)
    second = smooth_noise(shape, cells, generator, tissue.device)
    width = 0.06 + 0.08 * _u(generator)
    tubes = (first.abs() < width) & (second.abs() < width)
    where = in_classes(tissue, (A.SULCAL_CSF,)) | (dilate(parenchyma, 1) & ~parenchyma & ~in_classes(tissue, (A.BACKGROUND,)))
    tissue[tubes & where] = A.VESSEL


def _choroid_plexus(tissue: torch.Tensor, generator: torch.Generator) -> None:
    ventricle = tissue == A.VENTRICLE
    if not ventricle.any():
        return
    blobs = smooth_noise(tuple(tissue.shape), (24, 24, 16), generator, tissue.device)
    threshold = torch.quantile(blobs[ventricle].float(), 0.75 + 0.2 * _u(generator))
    tissue[ventricle & (blobs > threshold)] = A.CHOROID


def skull_strip_mask(tissue: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A BraTS-like brain mask: brain, some CSF, and random remnants or cuts along its edge."""
    brain = in_classes(tissue, (*PARENCHYMA, A.VENTRICLE, A.CHOROID))
    csf_reach = int(4 * _u(generator))
    mask = brain | (dilate(brain, csf_reach) & in_classes(tissue, (A.SULCAL_CSF, A.VESSEL, A.DURA, A.SINUS)))
    mask = erode(dilate(mask, 2), 2) & (tissue != A.BACKGROUND) | brain  # close small gaps, never lose brain
    shape = tuple(tissue.shape)
    if _u(generator) < 0.5:  # remnants: patches of whatever lies just outside
        patches = smooth_noise(shape, (10, 10, 7), generator, tissue.device) > 1.0 - 0.5 * _u(generator)
        mask |= dilate(mask, 2 + int(4 * _u(generator))) & patches & (tissue != A.BACKGROUND)
    if _u(generator) < 0.35:  # cuts: the stripping took some of the brain's edge away
        edge = mask & ~erode(mask, 2 + int(4 * _u(generator)))
        cut = smooth_noise(shape, (8, 8, 6), generator, tissue.device) > 1.2 + 0.6 * _u(generator)
        mask &= ~(edge & cut & ~in_classes(tissue, A.TUMOUR_CLASSES))
    return mask
