"""Brush footprints, intensity limits and connected components against direct numpy constructions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.editing import component_indices, footprint_indices, within_intensity

SHAPE = (20, 18, 12)
SPACING = (1.0, 0.5, 2.0)


def _reference_ball(centre, radius_mm, plane_axis=None):
    grids = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    distance_sq = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, SPACING, strict=True))
    inside = distance_sq <= radius_mm**2
    if plane_axis is not None:
        inside &= grids[plane_axis] == centre[plane_axis]
    return inside


@pytest.mark.parametrize("plane_axis", [None, 0, 1, 2])
def test_footprint_is_the_ball_in_mm(plane_axis):
    centre = (10, 9, 6)
    indices = footprint_indices(SHAPE, centre, 4.0, SPACING, plane_axis)
    mask = np.zeros(SHAPE, bool)
    mask.flat[indices] = True
    expected = _reference_ball(centre, 4.0, plane_axis)
    assert np.array_equal(mask, expected)
    # anisotropic: 4 mm reach 4 voxels along x, 8 along y, 2 along z
    if plane_axis is None:
        extent = [int(np.ptp(np.nonzero(mask)[a])) for a in range(3)]
        assert extent == [8, 16, 4]


def test_footprint_is_clipped_at_the_border_and_keeps_the_centre():
    at_corner = footprint_indices(SHAPE, (0, 0, 0), 3.0, SPACING)
    assert np.all(at_corner >= 0) and np.all(at_corner < np.prod(SHAPE))
    assert np.array_equal(np.sort(at_corner), np.flatnonzero(_reference_ball((0, 0, 0), 3.0)))
    assert footprint_indices(SHAPE, (5, 5, 5), 0.0, SPACING).tolist() == [np.ravel_multi_index((5, 5, 5), SHAPE)]


def test_footprint_refuses_bad_input():
    with pytest.raises(ValueError, match="outside"):
        footprint_indices(SHAPE, (20, 0, 0), 1.0, SPACING)
    with pytest.raises(ValueError, match="radius"):
        footprint_indices(SHAPE, (1, 1, 1), -1.0, SPACING)


def test_within_intensity_keeps_only_the_range():
    volume = np.random.default_rng(0).uniform(0, 100, SHAPE).astype(np.float32)
    indices = np.arange(volume.size)
    kept = within_intensity(indices, volume, 30.0, 60.0)
    assert np.array_equal(kept, np.flatnonzero((volume >= 30) & (volume <= 60)))
    with pytest.raises(ValueError, match="low <= high"):
        within_intensity(indices, volume, 5.0, 1.0)


def test_component_indices_follow_connectivity():
    label = np.zeros(SHAPE, np.uint8)
    label[2:5, 2:5, 2:5] = 2
    label[3, 3, 3] = 4
    label[5, 5, 5] = 1  # touches the block by a corner only
    label[12:15, 10:12, 6:8] = 4  # separate lesion
    block = component_indices(label, (2, 2, 2), connectivity=6)
    assert np.array_equal(np.sort(block), np.flatnonzero(ndimage.label(label > 0)[0] == 1))
    with_corner = component_indices(label, (2, 2, 2), connectivity=26)
    assert with_corner.size == 27 + 1
    assert component_indices(label, (3, 3, 3), same_label=True).tolist() == [np.ravel_multi_index((3, 3, 3), SHAPE)]
    assert component_indices(label, (0, 0, 0)).size == 0
