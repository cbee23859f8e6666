"""BraTS segmentation metrics per region (ET, TC, WT): Dice and the 95th-percentile Hausdorff distance in mm.

The surface distances follow the BraTS evaluation (panoptica / MedPy): a region's border is the mask minus its
erosion by the 6-connected cross, each border voxel's distance to the other border comes from a Euclidean
distance transform sampled at the voxel spacing, and HD95 is the 95th percentile of both directions' distances
pooled together. Empty masks follow the BraTS conventions: both empty -> Dice 1 and HD95 0; only one empty ->
Dice 0 and HD95 = 373.13 mm (the diagonal of the 240 x 240 x 155 mm SRI-24 box, BraTS' maximum penalty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from engine.labels import REGIONS, to_brats2020

HD95_EMPTY_PENALTY_MM = 373.13
REGION_NAMES = tuple(REGIONS)


@dataclass(frozen=True)
class RegionScore:
    """Dice and HD95 (mm) of one region, with the voxel counts they came from."""

    dice: float
    hd95: float
    predicted_voxels: int
    reference_voxels: int


def dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty, the BraTS convention)."""
    prediction, reference = _boolean_pair(prediction, reference)
    total = int(prediction.sum()) + int(reference.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(prediction, reference).sum()) / total


def _boolean_pair(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, reference = np.asarray(prediction, dtype=bool), np.asarray(reference, dtype=bool)
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from reference shape {reference.shape}")
    return prediction, reference


def _border(mask: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask ^ ndimage.binary_erosion(mask, structure=structure, iterations=1)


def _directed_distances(source: np.ndarray, target: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Distance (mm) from every border voxel of ``source`` to the nearest border voxel of ``target``."""
    # Work inside the joint bounding box plus one voxel: the EDT of a BraTS volume is the slow part.
    box = _joint_box(source | target)
    target_border = _border(target[box])
    distance = ndimage.distance_transform_edt(~target_border, sampling=spacing)
    return distance[_border(source[box])]


def _joint_box(mask: np.ndarray) -> tuple[slice, ...]:
    coords = np.nonzero(mask)
    return tuple(slice(max(int(c.min()) - 1, 0), int(c.max()) + 2) for c in coords)


def hd95(prediction: np.ndarray, reference: np.ndarray, spacing: tuple[float, ...] | None = None) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (BraTS conventions for empty masks).

    Args:
        prediction: boolean mask.
        reference: boolean mask of the same shape.
        spacing: voxel size in mm per axis (default 1 mm isotropic).
    """
    prediction, reference = _boolean_pair(prediction, reference)
    spacing = _check_spacing(spacing, prediction.ndim)
    has_prediction, has_reference = bool(prediction.any()), bool(reference.any())
    if not has_prediction and not has_reference:
        return 0.0
    if not has_prediction or not has_reference:
        return HD95_EMPTY_PENALTY_MM
    # The same padding keeps objects touching the array edge closed, as in the full-array computation.
    forward = _directed_distances(prediction, reference, spacing)
    backward = _directed_distances(reference, prediction, spacing)
    return float(np.percentile(np.hstack((forward, backward)), 95))


def _check_spacing(spacing: tuple[float, ...] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim or any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must hold {ndim} positive voxel sizes in mm, got {spacing}")
    return spacing


def region_scores(
    prediction: np.ndarray, reference: np.ndarray, spacing: tuple[float, ...] | None = None
) -> dict[str, RegionScore]:
    """Dice and HD95 of ET, TC and WT between two BraTS label maps (2020 or 2023 convention each).

    Args:
        prediction: integer label map.
        reference: integer label map of the same shape.
        spacing: voxel size in mm per axis (default 1 mm isotropic).
    """
    prediction, reference = to_brats2020(prediction), to_brats2020(reference)
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from reference shape {reference.shape}")
    scores: dict[str, RegionScore] = {}
    for name, labels in REGIONS.items():
        predicted, expected = np.isin(prediction, labels), np.isin(reference, labels)
        scores[name] = RegionScore(dice(predicted, expected), hd95(predicted, expected, spacing),
                                   int(predicted.sum()), int(expected.sum()))
    return scores


def region_dice_from_masks(predicted: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> dict[str, float]:
    """Dice per region of already-built region masks (e.g. thresholded sigmoid outputs)."""
    return {name: dice(predicted[name], expected[name]) for name in REGION_NAMES}


def scores_as_dict(scores: dict[str, RegionScore]) -> dict[str, float]:
    """Flat JSON-friendly view: {"dice_ET": ..., "hd95_ET": ..., ...}."""
    flat: dict[str, float] = {}
    for name, score in scores.items():
        flat[f"dice_{name}"] = score.dice
        flat[f"hd95_{name}"] = score.hd95
    return flat
