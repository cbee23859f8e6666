from __future__ import annotations

import numpy as np
import pytest

from engine.labels import distinct_values, region_masks, to_brats2020, to_brats2023


def test_2023_enhancing_label_becomes_4_and_back() -> None:
    label_2023 = np.array([0, 1, 2, 3, 3], dtype=np.int16)
    label_2020 = to_brats2020(label_2023)
    assert label_2020.dtype == np.uint8
    assert label_2020.tolist() == [0, 1, 2, 4, 4]
    assert to_brats2023(label_2020).tolist() == [0, 1, 2, 3, 3]


@pytest.mark.parametrize("bad", [[0, 5], [0, 3, 4], [-1, 0]])
def test_unknown_or_mixed_labels_are_refused(bad: list[int]) -> None:
    with pytest.raises(ValueError, match="label map"):
        to_brats2020(np.array(bad))


def test_regions_are_nested() -> None:
    masks = region_masks(np.array([0, 1, 2, 4]))
    assert masks["ET"].tolist() == [False, False, False, True]
    assert masks["TC"].tolist() == [False, True, False, True]
    assert masks["WT"].tolist() == [False, True, True, True]


@pytest.mark.parametrize("array", [
    np.array([], np.uint8), np.array([True, False, True]), np.zeros((3, 3), bool),
    np.array([[0, 4, 2], [1, 0, 4]], np.uint8), np.array([0, 2, 3], np.int16), np.array([4, 4], np.uint16),
    np.array([-1, 0, 4], np.int32), np.array([0, 70_000], np.int64), np.array([0.0, 1.0, 4.0], np.float32),
    np.arange(24, dtype=np.int64).reshape(4, 6)[:, ::2] % 5,
], ids=lambda a: f"{a.dtype}-{a.shape}")
def test_distinct_values_match_numpy_unique(array: np.ndarray) -> None:
    found = distinct_values(array)
    expected = np.unique(array).tolist()
    assert found == expected and [type(v) for v in found] == [type(v) for v in expected]
