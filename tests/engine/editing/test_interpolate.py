"""Shape-based interpolation between two edited slices."""

from __future__ import annotations

import numpy as np
import pytest

from engine.editing import EditSession, interpolate_slices

SHAPE = (40, 40, 20)
SPACING = (1.0, 1.0, 2.5)


def _disc(radius: float, centre=(20, 20)) -> np.ndarray:
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= radius**2


def test_same_shape_at_both_ends_is_copied_into_every_slice_between():
    label = np.zeros(SHAPE, np.uint8)
    label[..., 4][_disc(6)] = 2
    label[..., 4][_disc(3)] = 4
    label[..., 12] = label[..., 4]
    session = EditSession(label, SPACING)
    changed = session.interpolate(axis=2, first=4, last=12)
    assert changed == 7 * np.count_nonzero(label[..., 4])
    for index in range(5, 12):
        assert np.array_equal(label[..., index], label[..., 4])
    assert not label[..., :4].any() and not label[..., 13:].any()


def test_growing_disc_fills_between_with_growing_areas():
    label = np.zeros(SHAPE, np.uint8)
    label[..., 2][_disc(4)] = 1
    label[..., 10][_disc(12, centre=(22, 20))] = 1
    before = label.copy()
    session = EditSession(label, SPACING)
    session.interpolate(axis=2, first=10, last=2)  # order does not matter
    areas = [int(np.count_nonzero(label[..., index] == 1)) for index in range(2, 11)]
    assert all(a < b for a, b in zip(areas, areas[1:], strict=False)), areas
    middle = label[..., 6] == 1
    assert np.count_nonzero(middle & ~_disc(8.5, centre=(21, 20))) == 0  # about radius 8 half way
    assert np.count_nonzero(_disc(7.5, centre=(21, 20)) & ~middle) == 0
    session.undo()
    assert np.array_equal(label, before)


def test_label_in_one_end_only_shrinks_and_other_labels_stay():
    label = np.zeros(SHAPE, np.uint8)
    label[..., 0][_disc(8)] = 2
    label[30:35, 30:35, 1:4] = 1  # a label not in the end slices: untouched by interpolating label 2
    indices, values = interpolate_slices(label, 2, 0, 4, SPACING, labels=(2,))
    result = label.copy()
    result.flat[indices] = values
    areas = [int(np.count_nonzero(result[..., index] == 2)) for index in range(0, 4)]
    assert areas[0] > areas[1] > 0  # shrinks towards the empty end and is gone about half way
    assert areas[1] >= areas[2] >= areas[3] == 0
    assert np.array_equal(result == 1, label == 1)


def test_adjacent_slices_have_nothing_between_and_bad_axis_is_refused():
    label = np.zeros(SHAPE, np.uint8)
    label[..., 3][_disc(4)] = 4
    assert interpolate_slices(label, 2, 3, 4, SPACING)[0].size == 0
    with pytest.raises(ValueError, match="axis"):
        interpolate_slices(label, 3, 0, 4, SPACING)
    with pytest.raises(ValueError, match="outside"):
        interpolate_slices(label, 2, 0, 40, SPACING)
