"""Post-processing: network outputs -> BraTS label map, small components, small-ET suppression, volumes.

Region head (sigmoid outputs ET, TC, WT, the "brats2020-regions" convention): the regions are nested by
construction (ET only inside TC, TC only inside WT), then WT -> oedema (2), TC -> necrosis (1), ET -> 4.
Softmax head: argmax over the classes 0, 1, 2, 4.

Then, in this order (``postprocess``), all with 26-connectivity:

1. Whole-tumour components (label > 0) smaller than ``min_component_ml`` are removed (set to background).
2. Each ET component smaller than ``min_et_component_ml`` takes the label around it (necrosis inside a core,
   oedema within oedema, background alone in the brain): isolated ET specks on vessels and sinuses are the
   clinical failure mode of enhancing-tumour segmentation.
3. Skull-strip remnants (when the brain mask is given): a whole-tumour component without any tumour core
   (no label 1 or 4) that lies on the edge of the brain mask (at least ``edge_oedema_fraction`` of its voxels
   within ``edge_oedema_mm`` of it) is removed. Oedema surrounds a tumour; "oedema" alone on the rim of a
   skull-stripped brain is extra-cerebral tissue that the skull strip left behind (fat, muscle, dura), the
   largest false-positive volume on the held-out synthetic cases (docs/benchmarks.md, "Edge oedema").
4. Small-ET suppression: when the whole ET volume is below ``min_et_ml``, it becomes necrosis, as nnU-Net
   does for BraTS (a few false-positive ET voxels cost a whole case in the BraTS ET score).

A component of exactly the minimum volume is kept. The defaults are the ``DEFAULT_*`` constants below; the two
minimum component volumes were chosen by measurement on the real cases (docs/benchmarks.md, "Post-processing
defaults"): 0.25 mL removes every false-positive speck those predictions had and changes no Dice; a metastasis
workflow that must keep foci under 0.25 mL (about 8 mm across) sets both to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from engine.geometry import grown_box
from engine.labels import EDEMA, ENHANCING, NECROSIS

SOFTMAX_LABELS = (0, NECROSIS, EDEMA, ENHANCING)
CONNECTIVITY = ndimage.generate_binary_structure(3, 3)  # 26-connectivity

# Defaults of PostprocessConfig, kept here so that they are changed in one place. min_et_ml follows nnU-Net's
# BraTS post-processing; the two minimum component volumes were measured on the real cases (docs/benchmarks.md).
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_ET_ML = 0.5
DEFAULT_MIN_COMPONENT_ML = 0.25
DEFAULT_MIN_ET_COMPONENT_ML = 0.25
DEFAULT_EDGE_OEDEMA_MM = 3.0
DEFAULT_EDGE_OEDEMA_FRACTION = 0.3
# Relative slack of the "smaller than the minimum" test: a component of exactly the minimum volume is kept even
# when voxels * voxel_ml rounds to just below it (11 voxels of 0.0009 mL: 0.009899999999999999 < 0.0099).
_VOLUME_RTOL = 1e-9


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing settings.

    Attributes:
        threshold: probability above which a voxel is in a region (sigmoid head only; a softmax head takes
            the argmax).
        min_et_ml: ET smaller than this (whole case, mL) becomes necrosis; 0 turns it off.
        min_component_ml: whole-tumour components smaller than this (mL) are removed; 0 turns it off.
        min_et_component_ml: ET components smaller than this (mL) take the label around them; 0 turns it off.
        edge_oedema_mm: a core-free whole-tumour component with at least ``edge_oedema_fraction`` of its voxels
            within this distance (mm) of the brain mask's edge is removed as a skull-strip remnant; 0 turns it off.
        edge_oedema_fraction: that fraction, in (0, 1].
    """

    threshold: float = DEFAULT_THRESHOLD
    min_et_ml: float = DEFAULT_MIN_ET_ML
    min_component_ml: float = DEFAULT_MIN_COMPONENT_ML
    min_et_component_ml: float = DEFAULT_MIN_ET_COMPONENT_ML
    edge_oedema_mm: float = DEFAULT_EDGE_OEDEMA_MM
    edge_oedema_fraction: float = DEFAULT_EDGE_OEDEMA_FRACTION

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        # the CLI option of each volume is named too: these reach the engine from `segment` unchanged
        for name, option in (("min_et_ml", None), ("min_component_ml", "--min-lesion-ml"),
                             ("min_et_component_ml", "--min-et-component-ml")):
            value = getattr(self, name)
            if not value >= 0:  # also refuses NaN
                where = f"{name} ({option})" if option else name
                raise ValueError(f"{where} must be >= 0 mL (0 turns it off), got {value}")
        if not self.edge_oedema_mm >= 0:
            raise ValueError(f"edge_oedema_mm (--edge-oedema-mm) must be >= 0 mm (0 turns it off), "
                             f"got {self.edge_oedema_mm}")
        if not 0.0 < self.edge_oedema_fraction <= 1.0:
            raise ValueError(f"edge_oedema_fraction must be in (0, 1], got {self.edge_oedema_fraction}")

    def record(self) -> dict[str, float]:
        """The settings as a JSON-ready mapping (for the sidecar)."""
        return {"threshold": self.threshold, "min_et_ml": self.min_et_ml, "min_component_ml": self.min_component_ml,
                "min_et_component_ml": self.min_et_component_ml, "edge_oedema_mm": self.edge_oedema_mm,
                "edge_oedema_fraction": self.edge_oedema_fraction}


@dataclass(frozen=True)
class Segmentation:
    """A post-processed label map with its measurements.

    Attributes:
        label: uint8 BraTS 2020 label map.
        volumes_ml: NCR, ED, ET, TC, WT in mL.
        lesions: number of connected components of WT.
        et_suppressed: the ET was below ``min_et_ml`` and became necrosis.
        removed_components: number of whole-tumour components below ``min_component_ml`` removed.
        et_components_relabelled: number of ET components below ``min_et_component_ml`` given the label around them.
        edge_components_removed: number of core-free components on the brain mask's edge removed (remnants).
    """

    label: np.ndarray
    volumes_ml: dict[str, float]
    lesions: int
    et_suppressed: bool
    removed_components: int
    et_components_relabelled: int = 0
    edge_components_removed: int = 0


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


def small_components(mask: np.ndarray, min_ml: float, voxel_ml: float) -> tuple[np.ndarray, int]:
    """The 26-connected components of ``mask`` smaller than ``min_ml``.

    Args:
        mask: boolean volume.
        min_ml: minimum component volume in mL; a component of exactly this volume is kept; 0 selects none.
        voxel_ml: volume of one voxel in mL.

    Returns:
        (boolean mask of the small components' voxels, how many components that is).
    """
    if min_ml <= 0 or not mask.any():
        return np.zeros(mask.shape, bool), 0  # off, or nothing to label: skip the labelling pass
    components, count = ndimage.label(mask, structure=CONNECTIVITY)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    small = sizes * voxel_ml < min_ml * (1 - _VOLUME_RTOL)
    small[0] = False  # background
    return small[components], int(small.sum())


def remove_small_components(label: np.ndarray, min_ml: float, voxel_ml: float) -> tuple[np.ndarray, int]:
    """Remove tumour components (26-connected WT) smaller than ``min_ml``; returns (label, removed count)."""
    small, count = small_components(label > 0, min_ml, voxel_ml)
    if count == 0:
        return label, 0
    label = label.copy()
    label[small] = 0
    return label, count


def relabel_small_et_components(label: np.ndarray, min_ml: float, voxel_ml: float) -> tuple[np.ndarray, int]:
    """Give each ET component (26-connected) smaller than ``min_ml`` the label that surrounds it; returns
    (label, relabelled count).

    A small enhancing focus is most often a vessel, a sinus or the dura (issue 14: ET specks on the transverse
    sinus of a real metastasis case). It takes the most common label of the voxels touching it: inside a necrotic
    core it stays core (necrosis), within oedema it becomes oedema, alone in normal brain it becomes background.
    """
    small, count = small_components(label == ENHANCING, min_ml, voxel_ml)
    if count == 0:
        return label, 0
    label = label.copy()
    components, _ = ndimage.label(small, structure=CONNECTIVITY)
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        grown = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in box)
        component = components[grown] == index
        shell = ndimage.binary_dilation(component, CONNECTIVITY) & ~component
        around = label[grown][shell & (label[grown] != ENHANCING)]
        label[grown][component] = np.bincount(around, minlength=ENHANCING + 1).argmax() if around.size else 0
    return label, count


def remove_edge_oedema(label: np.ndarray, brain_mask: np.ndarray, spacing: tuple[float, float, float],
                       max_depth_mm: float, min_fraction: float) -> tuple[np.ndarray, int]:
    """Remove core-free whole-tumour components lying on the brain mask's edge (skull-strip remnants).

    Args:
        label: BraTS 2020 label map.
        brain_mask: the brain mask the labels were confined to, same shape.
        spacing: voxel size in mm (the depth is measured in mm).
        max_depth_mm: a voxel at most this far inside the mask is on its edge; 0 turns the rule off.
        min_fraction: a component is removed when at least this fraction of its voxels is on the edge.

    Returns:
        (label, removed count).
    """
    if brain_mask.shape != label.shape:
        raise ValueError(f"brain mask shape {brain_mask.shape} differs from the label map's {label.shape}")
    if max_depth_mm <= 0 or not label.any():
        return label, 0
    components, count = ndimage.label(label > 0, structure=CONNECTIVITY)
    has_core = np.zeros(count + 1, bool)
    has_core[np.unique(components[(label == NECROSIS) | (label == ENHANCING)])] = True
    candidates = np.flatnonzero(~has_core[1:]) + 1
    if candidates.size == 0:
        return label, 0  # every component has a core: skip the distance transform
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    on_edge = _edge_voxels_per_component(components, candidates, brain_mask, spacing, max_depth_mm, count)
    removed = [c for c in candidates if on_edge[c] >= min_fraction * sizes[c]]
    if not removed:
        return label, 0
    label = label.copy()
    label[np.isin(components, removed)] = 0
    return label, len(removed)


def _edge_voxels_per_component(components: np.ndarray, candidates: np.ndarray, brain_mask: np.ndarray,
                               spacing: tuple[float, float, float], max_depth_mm: float, count: int) -> np.ndarray:
    """Per component label, how many of its voxels lie within ``max_depth_mm`` of the brain mask's edge (the
    volume's border counts as edge). The distance transform runs on the candidates' bounding box grown by more
    than that depth only: any background within ``max_depth_mm`` of a candidate voxel lies inside it, and the
    transform of a whole BraTS volume takes over a second on the post-processing path."""
    boxes = [b for b in ndimage.find_objects(np.where(np.isin(components, candidates), components, 0)) if b]
    low = [min(b[axis].start for b in boxes) for axis in range(3)]
    high = [max(b[axis].stop for b in boxes) for axis in range(3)]
    margin = [int(np.ceil(max_depth_mm / step)) + 1 for step in spacing]
    # Padded with `margin` background voxels on every side: the crop below never leaves the array, and outside the
    # volume is background (a mask reaching the border has an edge there).
    padded = np.pad(brain_mask.astype(bool), [(m, m) for m in margin])
    crop = tuple(slice(lo, hi + 2 * m) for lo, hi, m in zip(low, high, margin, strict=True))
    if padded[crop].all():
        return np.zeros(count + 1, np.int64)  # no edge near any candidate (and no background to measure from)
    depth = ndimage.distance_transform_edt(padded[crop], sampling=spacing)
    inner = tuple(slice(m, m + hi - lo) for lo, hi, m in zip(low, high, margin, strict=True))
    box = tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))
    return np.bincount(components[box][depth[inner] <= max_depth_mm], minlength=count + 1)


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


def postprocess(label: np.ndarray, voxel_ml: float, config: PostprocessConfig = PostprocessConfig(),
                brain_mask: np.ndarray | None = None, spacing: tuple[float, float, float] | None = None) -> Segmentation:
    """Small-component removal, small-ET relabelling, edge-remnant removal and small-ET suppression, volumes and
    lesion count of a label map.

    Args:
        label: BraTS 2020 label map.
        voxel_ml: volume of one voxel in mL.
        config: thresholds.
        brain_mask: the brain mask the labels were confined to; without it the edge rule (step 3) is skipped.
        spacing: voxel size in mm, for the edge rule (default: isotropic, from ``voxel_ml``).
    """
    if brain_mask is not None and brain_mask.shape != label.shape:
        raise ValueError(f"brain mask shape {brain_mask.shape} differs from the label map's {label.shape}")
    side = (voxel_ml * 1000.0) ** (1 / 3)
    spacing = spacing or (side, side, side)
    box = _labels_box(label, [int(np.ceil(max(config.edge_oedema_mm, 0.0) / step)) + 2 for step in spacing])
    result = _postprocess_box(label[box], voxel_ml, config, None if brain_mask is None else brain_mask[box], spacing)
    if result.label.shape != label.shape:
        whole = np.zeros(label.shape, result.label.dtype)
        whole[box] = result.label
        result = replace(result, label=whole)
    return result


def _labels_box(label: np.ndarray, margin: list[int]) -> tuple[slice, ...]:
    """The bounding box of the labelled voxels grown by ``margin`` voxels per axis (within the array; all of it
    when nothing is labelled).

    Why: every step works on the tumour's components and their surroundings only: the shell of an ET speck
    (1 voxel) and, for the edge rule, the brain mask up to ``edge_oedema_mm`` from a candidate (its own crop grows
    by ceil(depth / spacing) + 1 voxels, inside this box). So the box gives the whole volume's result, and a
    BraTS volume's post-processing drops from about 0.5 s to a fraction of it.
    """
    return grown_box(label, margin) or tuple(slice(0, n) for n in label.shape)


def _postprocess_box(label: np.ndarray, voxel_ml: float, config: PostprocessConfig, brain_mask: np.ndarray | None,
                     spacing: tuple[float, float, float]) -> Segmentation:
    """``postprocess`` on the labels' box."""
    label, removed = remove_small_components(label, config.min_component_ml, voxel_ml)
    # ET components are judged after the whole-tumour pass: a removed lesion's ET must not be counted twice
    label, relabelled = relabel_small_et_components(label, config.min_et_component_ml, voxel_ml)
    if relabelled:  # a speck that bridged two parts of a lesion and became background can leave small pieces
        label, removed_after = remove_small_components(label, config.min_component_ml, voxel_ml)
        removed += removed_after
    edge_removed = 0
    if brain_mask is not None:
        label, edge_removed = remove_edge_oedema(label, brain_mask, spacing, config.edge_oedema_mm,
                                                 config.edge_oedema_fraction)
    label, suppressed = suppress_small_et(label, config.min_et_ml, voxel_ml)
    return Segmentation(label, label_volumes_ml(label, voxel_ml), count_lesions(label), suppressed, removed,
                        relabelled, edge_removed)
