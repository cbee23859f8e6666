"""Post-processing step 3: core-free components on the brain mask's edge (skull-strip remnants) are removed."""

from __future__ import annotations

import numpy as np
import pytest

from engine.export.sidecar import postprocessing_record
from engine.inference.postprocess import (
    DEFAULT_EDGE_OEDEMA_FRACTION,
    DEFAULT_EDGE_OEDEMA_MM,
    PostprocessConfig,
    postprocess,
    remove_edge_oedema,
)

SHAPE = (40, 40, 40)
KEEP_SMALL = dict(min_component_ml=0.0, min_et_component_ml=0.0, min_et_ml=0.0)  # isolate the edge rule


def _brain() -> np.ndarray:
    """A ball of radius 17 voxels: the brain mask."""
    grid = np.indices(SHAPE) - 20
    return (grid**2).sum(0) <= 17**2


def _tumour_with_oedema(label: np.ndarray) -> None:
    label[14:26, 14:26, 14:26] = 2
    label[17:23, 17:23, 17:23] = 1
    label[19:21, 19:21, 19:21] = 4


def _rim_blob(label: np.ndarray, value: int = 2, half_width: int = 2) -> np.ndarray:
    """A patch 3 voxels thick on the ball's surface (x = 3..5, inside the mask only)."""
    patch = np.zeros(SHAPE, bool)
    patch[3:6, 20 - half_width:21 + half_width, 20 - half_width:21 + half_width] = True
    patch &= _brain()
    label[patch] = value
    return patch


def test_core_free_component_on_the_edge_is_removed_the_tumour_stays() -> None:
    label = np.zeros(SHAPE, np.uint8)
    _tumour_with_oedema(label)
    remnant = _rim_blob(label)
    result = postprocess(label, 0.001, PostprocessConfig(**KEEP_SMALL), _brain(), (1.0, 1.0, 1.0))
    assert result.edge_components_removed == 1
    assert not result.label[remnant].any()
    assert np.array_equal(result.label[~remnant], label[~remnant])  # nothing else changed
    assert result.lesions == 1


def test_the_same_blob_deep_inside_the_brain_stays() -> None:
    label = np.zeros(SHAPE, np.uint8)
    label[18:21, 8:13, 18:23] = 2  # core-free but 5+ mm from the edge
    result = postprocess(label, 0.001, PostprocessConfig(**KEEP_SMALL), _brain(), (1.0, 1.0, 1.0))
    assert result.edge_components_removed == 0 and np.array_equal(result.label, label)


def test_an_edge_component_with_a_core_stays() -> None:
    label = np.zeros(SHAPE, np.uint8)
    remnant = _rim_blob(label)
    label[4, 20, 20] = 1  # one necrosis voxel: a tumour reaching the surface, not a remnant
    result = postprocess(label, 0.001, PostprocessConfig(**KEEP_SMALL), _brain(), (1.0, 1.0, 1.0))
    assert result.edge_components_removed == 0 and result.label[remnant].all()


def test_fraction_on_the_edge_decides() -> None:
    """A core-free component that reaches the edge with a small part of itself and goes deep stays."""
    label = np.zeros(SHAPE, np.uint8)
    label[3:20, 19:22, 19:22] = 2  # from the surface to the centre: ~1/6 of it within 3 mm of the edge
    brain = _brain()
    label[~brain] = 0
    kept = remove_edge_oedema(label, brain, (1.0, 1.0, 1.0), 3.0, 0.3)
    assert kept[1] == 0
    removed = remove_edge_oedema(label, brain, (1.0, 1.0, 1.0), 3.0, 0.1)
    assert removed[1] == 1 and not removed[0].any()


def test_depth_is_measured_in_millimetres() -> None:
    label = np.zeros(SHAPE, np.uint8)
    _rim_blob(label)
    brain = _brain()
    # the blob lies 1-3 voxels deep: within 3 mm at 1 mm voxels, but 0.2-0.6 mm deep at 0.2 mm voxels
    assert remove_edge_oedema(label, brain, (1.0, 1.0, 1.0), 3.0, 0.9)[1] == 1
    assert remove_edge_oedema(label, brain, (0.2, 0.2, 0.2), 0.3, 0.9)[1] == 0  # only its outer layer is within 0.3 mm


def test_off_without_a_mask_or_at_zero_mm() -> None:
    label = np.zeros(SHAPE, np.uint8)
    _rim_blob(label)
    assert np.array_equal(postprocess(label, 0.001, PostprocessConfig(**KEEP_SMALL)).label, label)
    off = PostprocessConfig(edge_oedema_mm=0.0, **KEEP_SMALL)
    assert postprocess(label, 0.001, off, _brain()).edge_components_removed == 0


def test_a_blob_far_from_any_edge_stays_when_the_mask_fills_its_neighbourhood() -> None:
    brain = np.ones((60, 60, 60), bool)
    label = np.zeros(brain.shape, np.uint8)
    label[27:33, 27:33, 27:33] = 2  # core-free, 27 mm from the volume's border
    kept, removed = remove_edge_oedema(label, brain, (1.0, 1.0, 1.0), 3.0, 0.3)
    assert removed == 0 and np.array_equal(kept, label)


def test_a_mask_touching_the_volume_border_has_an_edge_there() -> None:
    brain = np.ones(SHAPE, bool)
    label = np.zeros(SHAPE, np.uint8)
    label[0:2, 10:15, 10:15] = 2
    assert remove_edge_oedema(label, brain, (1.0, 1.0, 1.0), 3.0, 0.3)[1] == 1


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"edge_oedema_mm \(--edge-oedema-mm\) must be >= 0 mm"):
        PostprocessConfig(edge_oedema_mm=-1.0)
    with pytest.raises(ValueError, match=r"edge_oedema_fraction must be in \(0, 1\]"):
        PostprocessConfig(edge_oedema_fraction=0.0)
    with pytest.raises(ValueError, match="brain mask shape"):
        remove_edge_oedema(np.zeros(SHAPE, np.uint8), np.ones((2, 2, 2), bool), (1.0, 1.0, 1.0), 3.0, 0.3)


def test_defaults_and_sidecar_record() -> None:
    config = PostprocessConfig()
    assert (config.edge_oedema_mm, config.edge_oedema_fraction) == (DEFAULT_EDGE_OEDEMA_MM, DEFAULT_EDGE_OEDEMA_FRACTION)
    label = np.zeros(SHAPE, np.uint8)
    _tumour_with_oedema(label)
    _rim_blob(label, half_width=8)  # about 0.5 mL: above the default minimum lesion volume
    record = postprocessing_record(config, postprocess(label, 0.001, config, _brain()))
    assert record["edge_components_removed"] == 1
    assert (record["edge_oedema_mm"], record["edge_oedema_fraction"]) == (config.edge_oedema_mm,
                                                                          config.edge_oedema_fraction)


def test_the_terminal_summary_says_what_the_edge_rule_removed() -> None:
    from pathlib import Path

    from engine.segment import SegmentResult

    volumes = {"ET": 1.0, "TC": 2.0, "WT": 3.0, "ED": 1.0, "NCR": 1.0}
    result = SegmentResult("case", {"nifti": Path("seg.nii.gz")}, "cpu", 128, 1, {"total": 1.0}, volumes, 1, False,
                           edge_components_removed=2)
    lesions = next(line for line in result.summary().splitlines() if line.startswith("lesions:"))
    assert lesions == "lesions: 1; 2 core-free component(s) on the brain's edge removed"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.5, 0.5, 2.5)])
def test_post_processing_on_the_labels_box_is_the_whole_volumes(seed: int, spacing: tuple[float, float, float]) -> None:
    """postprocess works on the labels' bounding box (grown by the edge rule's reach): the same label map and
    figures as every step run on the whole volume, with specks, ET islands and remnants near the mask's edge."""
    from engine.inference.postprocess import _postprocess_box

    rng = np.random.default_rng(seed)
    brain = _brain()
    label = np.zeros(SHAPE, np.uint8)
    for _ in range(6):  # blobs of oedema, some with a core or an ET speck, anywhere in the brain (edges included)
        centre = rng.integers(6, 34, 3)
        radius = rng.integers(1, 5)
        ball = ((np.indices(SHAPE) - centre[:, None, None, None]) ** 2).sum(axis=0) <= radius**2
        label[ball] = 2
        if rng.random() < 0.5:
            label[tuple(centre)] = rng.choice([1, 4])
    label[~brain] = 0
    voxel_ml = float(np.prod(spacing)) / 1000.0
    config = PostprocessConfig(min_component_ml=8 * voxel_ml, min_et_component_ml=2 * voxel_ml, min_et_ml=0.0)
    whole = _postprocess_box(label, voxel_ml, config, brain, spacing)
    boxed = postprocess(label, voxel_ml, config, brain, spacing)
    assert np.array_equal(boxed.label, whole.label) and boxed.label.shape == SHAPE
    assert (boxed.volumes_ml, boxed.lesions, boxed.removed_components, boxed.et_components_relabelled,
            boxed.edge_components_removed) == (whole.volumes_ml, whole.lesions, whole.removed_components,
                                               whole.et_components_relabelled, whole.edge_components_removed)
