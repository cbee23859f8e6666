"""Score one prediction against its reference: Dice / HD95 per region, volumes, false-positive components.

Both label maps are read in either BraTS convention (the convention of each file is decided from its values:
a 3 means 2023, a 4 means 2020) and reoriented to the closest canonical voxel order, so files that store the
same grid in different axis orders still compare; grids that differ in shape or position are refused, never
resampled (resampling a label map would change what is scored). Spacing and voxel volume come from the
reference's header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from engine.labels import ENHANCING, ENHANCING_2023, REGIONS, region_masks, to_brats2020
from engine.metrics import RegionScore, region_scores

# Headers written by different software disagree by float noise; 1e-3 mm is far below a voxel (as engine.case).
AFFINE_TOLERANCE_MM = 1e-3
CONNECTIVITY = ndimage.generate_binary_structure(3, 3)  # 26-connectivity, as the post-processing counts lesions


@dataclass(frozen=True)
class LabelImage:
    """A label map in the 2020 convention, in closest-canonical voxel order.

    Attributes:
        path: the file it was read from.
        label: uint8 array, labels 0/1/2/4.
        affine: voxel -> world (mm) of ``label``.
        convention: "brats2023" (the file used 3 for ET), "brats2020" (4) or "no ET" (neither).
    """

    path: Path
    label: np.ndarray
    affine: np.ndarray
    convention: str

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def voxel_ml(self) -> float:
        return abs(float(np.linalg.det(self.affine[:3, :3]))) / 1000.0


@dataclass(frozen=True)
class FalsePositives:
    """Connected components (26-connected) of the prediction that share no voxel with the reference WT.

    Attributes:
        wt_count, wt_ml: components of our WT outside the reference WT, and their total volume.
        et_count, et_ml: components of our ET outside the reference WT, and their total volume.
        largest_et_ml: the largest of those ET components (0 when there is none).
    """

    wt_count: int
    wt_ml: float
    et_count: int
    et_ml: float
    largest_et_ml: float


@dataclass(frozen=True)
class CaseScores:
    """Everything measured on one prediction / reference pair.

    Attributes:
        regions: region -> Dice and HD95 (engine.metrics, equal to brats-evaluation).
        reference_has: region -> whether the reference contains that region (else its scores are n/a).
        volumes_ml: region -> {"ours": mL, "reference": mL}.
        false_positives: components outside the reference WT.
        spacing_mm: voxel size used for HD95 (the reference's).
    """

    regions: dict[str, RegionScore]
    reference_has: dict[str, bool]
    volumes_ml: dict[str, dict[str, float]]
    false_positives: FalsePositives
    spacing_mm: tuple[float, float, float]


def canonical_grid(shape: tuple[int, ...], affine: np.ndarray) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """(shape, affine, orientation) of a grid in closest-canonical voxel order, from the header alone."""
    orientation = nib.orientations.io_orientation(affine)
    canonical = affine @ nib.orientations.inv_ornt_aff(orientation, shape)
    order = orientation[:, 0].astype(int)
    permuted = [0] * len(order)
    for axis, target in enumerate(order):
        permuted[target] = int(shape[axis])
    return tuple(permuted), canonical, orientation


def _grid_of(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    image = _load(path)
    shape, affine, _ = canonical_grid(tuple(int(n) for n in image.shape[:3]), image.affine)
    return shape, affine


def _load(path: Path) -> nib.Nifti1Image:
    try:
        image = nib.load(str(path))
    except Exception as error:  # noqa: BLE001 - nibabel raises many types for a bad file
        raise ValueError(f"{path} is not a readable NIfTI label map ({error})") from None
    if len(image.shape) != 3 and not (len(image.shape) == 4 and image.shape[3] == 1):
        raise ValueError(f"{path} has shape {image.shape}; a label map must be a 3D volume")
    return image


def check_same_grid(prediction: Path, reference: Path) -> None:
    """Refuse a prediction that is not on the reference's grid (headers only, so it is cheap to run first).

    Raises:
        ValueError: the shapes or affines differ (after reorientation to canonical voxel order).
    """
    pred_shape, pred_affine = _grid_of(prediction)
    ref_shape, ref_affine = _grid_of(reference)
    if pred_shape != ref_shape:
        raise ValueError(f"{prediction.name} has shape {pred_shape} but the reference {reference} has {ref_shape}; "
                         "the prediction must be on the reference's grid (segment the case's own T1ce)")
    gap = float(np.abs(pred_affine - ref_affine).max())
    if gap > AFFINE_TOLERANCE_MM:
        raise ValueError(f"{prediction.name} and the reference {reference} have the same shape but affines that "
                         f"differ by up to {gap:.3g} mm; the prediction must be on the reference's grid")


def read_label_map(path: Path) -> LabelImage:
    """Read a label map (2020 or 2023 convention, integer or float storage) into canonical voxel order.

    Raises:
        ValueError: unreadable file, non-integer values, or values that are not BraTS labels.
    """
    image = _load(path)
    data = np.asanyarray(image.dataobj).reshape(image.shape[:3])
    if data.dtype.kind == "f":
        if not np.array_equal(data, np.round(data)):
            raise ValueError(f"{path} holds non-integer values; a label map holds the labels 0, 1, 2 and 4 (or 3)")
        data = np.round(data)
    present = np.bincount(np.clip(data, 0, 255).astype(np.uint8).ravel(), minlength=5)
    convention = "brats2023" if present[ENHANCING_2023] else "brats2020" if present[ENHANCING] else "no ET"
    try:
        label = to_brats2020(data.astype(np.int32))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    shape, affine, orientation = canonical_grid(label.shape, image.affine)
    label = np.ascontiguousarray(nib.orientations.apply_orientation(label, orientation))
    return LabelImage(Path(path), label, affine, convention)


def false_positive_components(prediction: np.ndarray, reference: np.ndarray, voxel_ml: float) -> FalsePositives:
    """Components of our WT and our ET that share no voxel with the reference WT.

    Args:
        prediction: 2020-convention label map (ours).
        reference: 2020-convention label map of the same shape.
        voxel_ml: volume of one voxel in mL.
    """
    reference_wt = reference > 0
    wt_sizes = _sizes_outside(prediction > 0, reference_wt)
    et_sizes = _sizes_outside(prediction == ENHANCING, reference_wt)
    return FalsePositives(int(wt_sizes.size), float(wt_sizes.sum() * voxel_ml), int(et_sizes.size),
                          float(et_sizes.sum() * voxel_ml), float(et_sizes.max() * voxel_ml) if et_sizes.size else 0.0)


def _sizes_outside(mask: np.ndarray, reference_wt: np.ndarray) -> np.ndarray:
    """Voxel counts of the components of ``mask`` that do not overlap ``reference_wt``."""
    components, count = ndimage.label(mask, structure=CONNECTIVITY)
    if count == 0:
        return np.zeros(0, np.int64)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    overlapping = np.zeros(count + 1, bool)
    overlapping[np.unique(components[reference_wt])] = True
    overlapping[0] = True  # the background is not a component
    return sizes[~overlapping]


def score_pair(prediction: LabelImage, reference: LabelImage) -> CaseScores:
    """Dice / HD95 per region, volumes and false-positive components of one pair on the reference's grid.

    Raises:
        ValueError: the two label maps are not on one grid.
    """
    if prediction.label.shape != reference.label.shape or not np.allclose(
            prediction.affine, reference.affine, atol=AFFINE_TOLERANCE_MM):
        raise ValueError(f"{prediction.path.name} is not on the grid of the reference {reference.path} "
                         f"(shape {prediction.label.shape} vs {reference.label.shape})")
    spacing = reference.spacing
    regions = region_scores(prediction.label, reference.label, spacing)
    ours, theirs = region_masks(prediction.label), region_masks(reference.label)
    volumes = {name: {"ours": float(ours[name].sum() * reference.voxel_ml),
                      "reference": float(theirs[name].sum() * reference.voxel_ml)} for name in REGIONS}
    has = {name: bool(theirs[name].any()) for name in REGIONS}
    fp = false_positive_components(prediction.label, reference.label, reference.voxel_ml)
    return CaseScores(regions, has, volumes, fp, spacing)
