"""Post-processing: nesting of regions, small components, small-ET relabelling and suppression, volumes, lesions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.export.sidecar import postprocessing_record
from engine.inference.postprocess import (
    DEFAULT_MIN_COMPONENT_ML,
    DEFAULT_MIN_ET_COMPONENT_ML,
    DEFAULT_MIN_ET_ML,
    PostprocessConfig,
    count_lesions,
    label_volumes_ml,
    labels_from_regions,
    labels_from_softmax,
    postprocess,
)


def test_regions_are_nested_into_brats_labels() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.random((3, 12, 10, 8))
    label = labels_from_regions(probabilities)
    et, tc, wt = probabilities > 0.5
    assert set(np.unique(label)) <= {0, 1, 2, 4}
    assert ((label == 4) == et).all()  # ET wins and pulls TC and WT with it
    assert ((label > 0) == (wt | tc | et)).all()
    assert ((label == 1) == (tc & ~et)).all()
    assert ((label == 2) == (wt & ~tc & ~et)).all()


def test_softmax_head_argmax_maps_to_0_1_2_4() -> None:
    scores = np.zeros((4, 2, 2, 1))
    scores[3, 0, 0], scores[1, 0, 1], scores[2, 1, 0], scores[0, 1, 1] = 1, 1, 1, 1
    assert labels_from_softmax(scores)[..., 0].tolist() == [[4, 1], [2, 0]]


def _blobs() -> np.ndarray:
    label = np.zeros((30, 30, 30), np.uint8)
    label[2:12, 2:12, 2:12] = 2
    label[4:10, 4:10, 4:10] = 1
    label[6:8, 6:8, 6:8] = 4  # 8 voxels of ET
    label[20:22, 20:22, 20:21] = 2  # a 4-voxel speck
    return label


def test_small_et_becomes_necrosis() -> None:
    label = _blobs()
    result = postprocess(label, voxel_ml=0.001, config=PostprocessConfig(min_et_ml=0.01, min_et_component_ml=0.0))
    assert result.et_suppressed and not (result.label == 4).any()
    assert ((result.label == 1) == ((label == 1) | (label == 4))).all()
    kept = postprocess(label, voxel_ml=0.001, config=PostprocessConfig(min_et_ml=0.008, min_et_component_ml=0.0))
    assert not kept.et_suppressed and (kept.label == 4).sum() == 8


def test_tiny_components_are_removed_and_lesions_counted() -> None:
    label = _blobs()
    assert count_lesions(label) == 2
    result = postprocess(label, voxel_ml=0.001, config=PostprocessConfig(min_et_ml=0, min_component_ml=0.005,
                                                                              min_et_component_ml=0.0))
    assert result.removed_components == 1 and result.lesions == 1
    assert not result.label[18:24, 18:24, 18:24].any() and (result.label[:13] == label[:13]).all()


@pytest.mark.parametrize("voxel_ml", [0.001, 0.0024])
def test_volumes_match_voxel_counts(voxel_ml: float) -> None:
    label = _blobs()
    volumes = label_volumes_ml(label, voxel_ml)
    counts = {"NCR": (label == 1).sum(), "ED": (label == 2).sum(), "ET": (label == 4).sum()}
    for name, count in counts.items():
        assert volumes[name] == pytest.approx(count * voxel_ml, abs=1e-3)
    assert volumes["TC"] == pytest.approx((counts["NCR"] + counts["ET"]) * voxel_ml, abs=1e-3)
    assert volumes["WT"] == pytest.approx(np.count_nonzero(label) * voxel_ml, abs=1e-3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        labels_from_regions(np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError):
        PostprocessConfig(threshold=1.5)


# --- minimum component volumes: hand-made arrays with known component sizes ------------------------------------
def _lesion(label: np.ndarray, corner: tuple[int, int, int], voxels: int, value: int = 2) -> None:
    """Draw a component of exactly ``voxels`` voxels (a run along axis 2, wrapping onto the next rows)."""
    x, y, z = corner
    for i in range(voxels):
        label[x, y + i // 4, z + i % 4] = value


def _lesions(sizes: list[int]) -> np.ndarray:
    """Oedema components of the given voxel counts, far enough apart not to touch (26-connectivity)."""
    label = np.zeros((8, 8, 6 * len(sizes) + 2), np.uint8)
    for index, size in enumerate(sizes):
        _lesion(label, (2, 1, 1 + 6 * index), size)
    return label


WT_ONLY = {"min_et_ml": 0.0, "min_et_component_ml": 0.0}


@pytest.mark.parametrize(("voxel_ml", "minimum_voxels"), [(0.001, 8), (0.0009, 11), (0.0027, 5)])
def test_wt_component_of_exactly_the_minimum_is_kept_one_voxel_less_is_removed(voxel_ml: float,
                                                                               minimum_voxels: int) -> None:
    # 11 x 0.0009 mL = 0.009899999999999999 < 0.0099 in floating point: still "exactly the minimum"
    label = _lesions([minimum_voxels - 1, minimum_voxels, minimum_voxels + 1])
    config = PostprocessConfig(min_component_ml=float(f"{minimum_voxels * voxel_ml:.6f}"), **WT_ONLY)
    result = postprocess(label, voxel_ml, config)
    expected = label.copy()
    expected[:, :, :7] = 0  # the first lesion, and only it
    assert result.removed_components == 1 and result.lesions == 2
    assert np.array_equal(result.label, expected)


def test_small_wt_component_goes_entirely_whatever_its_labels() -> None:
    label = _lesions([6, 20])
    label[2, 1, 1:3] = 4  # the small lesion has ET and necrosis: all of it goes, nothing is relabelled first
    label[2, 1, 3] = 1
    result = postprocess(label, 0.001, PostprocessConfig(min_component_ml=0.007, min_et_component_ml=0.005,
                                                         min_et_ml=0.0))
    assert result.removed_components == 1 and result.et_components_relabelled == 0
    assert not result.label[:, :, :7].any() and np.array_equal(result.label[:, :, 7:], label[:, :, 7:])


def _core_with_et(speck_voxels: int) -> np.ndarray:
    """One lesion: oedema around necrosis holding a 27-voxel ET block and an ET speck of ``speck_voxels``."""
    label = np.zeros((20, 20, 20), np.uint8)
    label[2:18, 2:18, 2:18] = 2
    label[4:16, 4:16, 4:16] = 1
    label[5:8, 5:8, 5:8] = 4
    _lesion(label, (12, 12, 10), speck_voxels, value=4)  # far from the block: its own ET component
    return label


def test_small_et_component_inside_a_core_becomes_necrosis_and_nothing_else_changes() -> None:
    label = _core_with_et(speck_voxels=4)
    config = PostprocessConfig(min_et_ml=0.0, min_component_ml=0.0, min_et_component_ml=0.005)
    result = postprocess(label, 0.001, config)
    expected = label.copy()
    expected[12, 12, 10:14] = 1
    assert result.et_components_relabelled == 1 and result.removed_components == 0 and not result.et_suppressed
    assert np.array_equal(result.label, expected)
    assert result.volumes_ml["TC"] == label_volumes_ml(label, 0.001)["TC"]  # the core keeps its volume
    kept = postprocess(_core_with_et(speck_voxels=5), 0.001, config)  # exactly the minimum: kept
    assert kept.et_components_relabelled == 0 and (kept.label == 4).sum() == 27 + 5


def test_small_et_component_takes_the_label_around_it() -> None:
    # a speck within oedema (a vessel in the oedema) becomes oedema; one alone in the brain becomes background
    label = np.zeros((20, 20, 20), np.uint8)
    label[2:18, 2:18, 2:18] = 2
    label[4:9, 4:9, 4:9] = 1
    label[5:8, 5:8, 5:8] = 4  # the real enhancing core: 27 voxels
    label[13, 13, 13:15] = 4  # 2-voxel speck in oedema
    config = PostprocessConfig(min_et_ml=0.0, min_component_ml=0.0, min_et_component_ml=0.005)
    in_oedema = postprocess(label, 0.001, config)
    expected = label.copy()
    expected[13, 13, 13:15] = 2
    assert in_oedema.et_components_relabelled == 1 and np.array_equal(in_oedema.label, expected)
    alone = np.zeros((20, 20, 20), np.uint8)
    alone[5:8, 5:8, 5:8] = 4
    alone[15, 15, 15] = 4  # a speck in normal brain, far from the tumour
    result = postprocess(alone, 0.001, config)
    assert result.et_components_relabelled == 1 and result.label[15, 15, 15] == 0 and (result.label == 4).sum() == 27


def test_pieces_left_by_a_relabelled_et_bridge_are_removed_too() -> None:
    label = np.zeros((30, 30, 30), np.uint8)
    label[5:12, 5:12, 5:12] = 2  # a 343-voxel lesion
    label[8, 8, 12:15] = 4  # an ET line sticking out of it (in normal brain: becomes background) ...
    label[8, 8, 15:17] = 2  # ... that held a 2-voxel piece of oedema to the lesion
    config = PostprocessConfig(min_et_ml=0.0, min_component_ml=0.1, min_et_component_ml=0.005)
    result = postprocess(label, 0.001, config)
    assert result.et_components_relabelled == 1 and result.removed_components == 1 and result.lesions == 1
    assert not result.label[8, 8, 12:].any() and (result.label[5:12, 5:12, 5:12] == 2).all()


def test_et_components_are_26_connected() -> None:
    label = _core_with_et(speck_voxels=1)
    label[13, 13, 11] = 4  # touches the speck at a corner only: one 2-voxel component
    config = PostprocessConfig(min_et_ml=0.0, min_component_ml=0.0, min_et_component_ml=0.002)
    assert postprocess(label, 0.001, config).et_components_relabelled == 0
    relabelled = postprocess(label, 0.001, dataclasses.replace(config, min_et_component_ml=0.003))
    assert relabelled.et_components_relabelled == 1 and (relabelled.label == 4).sum() == 27


def test_whole_case_et_suppression_still_applies_after_relabelling() -> None:
    config = PostprocessConfig(min_et_ml=0.03, min_component_ml=0.0, min_et_component_ml=0.005)
    result = postprocess(_core_with_et(speck_voxels=4), 0.001, config)  # 27 voxels of ET left: below 0.03 mL
    assert result.et_components_relabelled == 1 and result.et_suppressed and not (result.label == 4).any()


def test_zero_minimums_change_nothing() -> None:
    label = _core_with_et(speck_voxels=1)
    label[0, 0, 0] = 2  # a one-voxel lesion
    result = postprocess(label, 0.001, PostprocessConfig(min_et_ml=0.0, min_component_ml=0.0, min_et_component_ml=0.0))
    assert np.array_equal(result.label, label) and result.removed_components == result.et_components_relabelled == 0


def test_defaults_are_the_module_constants() -> None:
    config = PostprocessConfig()
    assert (config.min_et_ml, config.min_component_ml, config.min_et_component_ml) == (
        DEFAULT_MIN_ET_ML, DEFAULT_MIN_COMPONENT_ML, DEFAULT_MIN_ET_COMPONENT_ML)


@pytest.mark.parametrize(("field", "message"), [
    ("min_component_ml", r"min_component_ml \(--min-lesion-ml\) must be >= 0 mL"),
    ("min_et_component_ml", r"min_et_component_ml \(--min-et-component-ml\) must be >= 0 mL"),
    ("min_et_ml", r"min_et_ml must be >= 0 mL"),
])
@pytest.mark.parametrize("value", [-0.1, float("nan")])
def test_negative_minimum_volumes_are_refused(field: str, message: str, value: float) -> None:
    with pytest.raises(ValueError, match=message):
        PostprocessConfig(**{field: value})


def test_sidecar_record_names_settings_and_changes() -> None:
    config = PostprocessConfig(threshold=0.4, min_et_ml=0.0, min_component_ml=0.0, min_et_component_ml=0.005)
    result = postprocess(_core_with_et(speck_voxels=4), 0.001, config)
    assert postprocessing_record(config, result) == {
        "threshold": 0.4, "min_et_ml": 0.0, "min_component_ml": 0.0, "min_et_component_ml": 0.005,
        "edge_oedema_mm": 3.0, "edge_oedema_fraction": 0.3,
        "removed_components": 0, "et_components_relabelled": 1, "et_suppressed": False, "edge_components_removed": 0}
