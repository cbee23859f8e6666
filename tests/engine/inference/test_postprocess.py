"""Post-processing: nesting of regions, small-ET suppression, tiny components, volumes and lesion counts."""

from __future__ import annotations

import numpy as np
import pytest

from engine.inference.postprocess import (
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
    result = postprocess(label, voxel_ml=0.001, config=PostprocessConfig(min_et_ml=0.01))
    assert result.et_suppressed and not (result.label == 4).any()
    assert ((result.label == 1) == ((label == 1) | (label == 4))).all()
    kept = postprocess(label, voxel_ml=0.001, config=PostprocessConfig(min_et_ml=0.008))
    assert not kept.et_suppressed and (kept.label == 4).sum() == 8


def test_tiny_components_are_removed_and_lesions_counted() -> None:
    label = _blobs()
    assert count_lesions(label) == 2
    result = postprocess(label, voxel_ml=0.001, config=PostprocessConfig(min_et_ml=0, min_component_ml=0.005))
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
