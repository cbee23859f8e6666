"""Post-processing: network outputs -> BraTS label map, small-ET suppression, tiny components, volumes.

Region head (sigmoid outputs ET, TC, WT, the "brats2020-regions" convention): the regions are nested by
construction (ET only inside TC, TC only inside WT), then WT -> oedema (2), TC -> necrosis (1), ET -> 4.
Softmax head: argmax over the classes 0, 1, 2, 4.

Small-ET suppression: when the whole ET volume is below a threshold, it becomes necrosis, as nnU-Net does
for BraTS (a few false-positive ET voxels cost a whole case in the BraTS ET score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from engine.labels import EDEMA, ENHANCING, NECROSIS

SOFTMAX_LABELS = (0, NECROSIS, EDEMA, ENHANCING)
CONNECTIVITY = ndimage.generate_binary_structure(3, 3)  # 26-connectivity


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing settings.

    Attributes:
        threshold: probability above which a voxel is in a region (sigmoid head).
        min_et_ml: ET smaller than this (whole case, mL) becomes necrosis; 0 turns it off.
        min_component_ml: tumour components (of WT) smaller than this are removed; 0 turns it off.
    """

    threshold: float = 0.5
    min_et_ml: float = 0.5
    min_component_ml: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.min_et_ml < 0 or self.min_component_ml < 0:
            raise ValueError("min_et_ml and min_component_ml must be >= 0 mL")


@dataclass(frozen=True)
class Segmentation:
    """A post-processed label map with its measurements.

    Attributes:
        label: uint8 BraTS 2020 label map.
        volumes_ml: NCR, ED, ET, TC, WT in mL.
        lesions: number of connected components of WT.
        et_suppressed: the ET was below ``min_et_ml`` and became necrosis.
        removed_components: number of tiny components removed.
    """

    label: np.ndarray
    volumes_ml: dict[str, float]
    lesions: int
    et_suppressed: bool
    removed_components: int


def labels_from_regions(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """BraTS labels from region probabilities (ET, TC, WT) of shape (3, D, H, W), nested WT >= TC >= ET."""
    if probabilities.ndim != 4 or probabilities.shape[0] != 3:
        raise ValueError(f"expected region probabilities of shape (3, D, H, W), got {probabilities.shape}")
    et, tc, wt = (probabilities[i] > threshold for i in range(3))
    wt = wt | tc | et  # nesting: a voxel in an inner region is in the outer ones
    tc = (tc | et) & wt
    label = np.zeros(wt.shape, np.uint8)
    label[wt] = EDEMA
    label[tc] = NECROSIS
    label[et & tc] = ENHANCING
    return label


def labels_from_softmax(probabilities: np.ndarray) -> np.ndarray:
    """BraTS labels from class probabilities or logits (4, D, H, W) in the order 0, 1, 2, 4."""
    if probabilities.ndim != 4 or probabilities.shape[0] != len(SOFTMAX_LABELS):
        raise ValueError(f"expected class scores of shape (4, D, H, W), got {probabilities.shape}")
    return np.asarray(SOFTMAX_LABELS, np.uint8)[np.argmax(probabilities, axis=0)]


def suppress_small_et(label: np.ndarray, min_et_ml: float, voxel_ml: float) -> tuple[np.ndarray, bool]:
    """Turn all ET into necrosis when the ET volume is below ``min_et_ml``; returns (label, suppressed)."""
    et = label == ENHANCING
    count = int(et.sum())
    if count == 0 or count * voxel_ml >= min_et_ml:
        return label, False
    label = label.copy()
    label[et] = NECROSIS
    return label, True


def remove_small_components(label: np.ndarray, min_ml: float, voxel_ml: float) -> tuple[np.ndarray, int]:
    """Remove tumour components (26-connected WT) smaller than ``min_ml``; returns (label, removed count)."""
    components, count = ndimage.label(label > 0, structure=CONNECTIVITY)
    if count == 0 or min_ml <= 0:
        return label, 0
    sizes = np.bincount(components.ravel())[1:]
    small = np.flatnonzero(sizes * voxel_ml < min_ml) + 1
    if small.size == 0:
        return label, 0
    label = label.copy()
    label[np.isin(components, small)] = 0
    return label, int(small.size)


def count_lesions(label: np.ndarray) -> int:
    """Connected components (26-connectivity) of the whole tumour."""
    return int(ndimage.label(label > 0, structure=CONNECTIVITY)[1])


def label_volumes_ml(label: np.ndarray, voxel_ml: float) -> dict[str, float]:
    """NCR, ED, ET, TC and WT volumes in mL of a BraTS 2020 label map."""
    counts = {"NCR": int((label == NECROSIS).sum()), "ED": int((label == EDEMA).sum()),
              "ET": int((label == ENHANCING).sum())}
    counts["TC"] = counts["NCR"] + counts["ET"]
    counts["WT"] = counts["TC"] + counts["ED"]
    return {name: round(count * voxel_ml, 3) for name, count in counts.items()}


def postprocess(label: np.ndarray, voxel_ml: float, config: PostprocessConfig = PostprocessConfig()) -> Segmentation:
    """Small-ET suppression, tiny-component removal, volumes and lesion count of a label map.

    Args:
        label: BraTS 2020 label map.
        voxel_ml: volume of one voxel in mL.
        config: thresholds.
    """
    label, removed = remove_small_components(label, config.min_component_ml, voxel_ml)
    label, suppressed = suppress_small_et(label, config.min_et_ml, voxel_ml)
    return Segmentation(label, label_volumes_ml(label, voxel_ml), count_lesions(label), suppressed, removed)
