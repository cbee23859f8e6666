"""A small made-up head (concentric tissues, two hemispheres, a cerebellum) for fast synthetic v2 tests."""

from __future__ import annotations

import numpy as np

from trainer.synth import anatomy as A


def tiny_head(shape: tuple[int, int, int] = (84, 92, 76)) -> A.AnatomyMap:
    """Skin, bone, CSF, cortex, white matter, ventricles and a cerebellum, 1 mm voxels, RAS+."""
    grid = np.stack(np.meshgrid(*[np.arange(n) - n / 2 for n in shape], indexing="ij"), -1)
    radius = np.linalg.norm(grid / np.array([1.0, 1.15, 0.95]), axis=-1)
    tissue = np.zeros(shape, np.uint8)
    for edge, tissue_class in ((40, A.SOFT_TISSUE), (37, A.BONE), (34, A.SULCAL_CSF), (32, A.CORTEX), (28, A.WM)):
        tissue[radius < edge] = tissue_class
    ventricles = np.linalg.norm((grid - [0, 4, 4]) / np.array([8.0, 14.0, 5.0]), axis=-1) < 1
    tissue[ventricles] = A.VENTRICLE
    cerebellum = (grid[..., 2] < -14) & (grid[..., 1] < -8) & (radius < 32)
    tissue[cerebellum & (radius >= 26)] = A.CEREBELLAR_GM
    tissue[cerebellum & (radius < 26)] = A.WM
    tissue[(np.abs(grid[..., 0]) < 1.0) & (tissue != A.BACKGROUND) & (radius < 34) & ~cerebellum] = A.SULCAL_CSF
    parts = np.zeros(shape, np.uint8)
    brain = np.isin(tissue, A.BRAIN_CLASSES)
    parts[brain & (grid[..., 0] < 0) & ~cerebellum] = A.PART_LEFT
    parts[brain & (grid[..., 0] > 0) & ~cerebellum] = A.PART_RIGHT
    parts[brain & cerebellum] = A.PART_CEREBELLUM
    return A.AnatomyMap("tiny-head", tissue, parts)
