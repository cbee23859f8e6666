"""The head foreground that limits the brush: threshold, filled holes, and a brush stroke kept inside it."""

from __future__ import annotations

import numpy as np
import pytest

from engine.editing import EditSession, foreground_mask, foreground_threshold
from engine.editing.session import Brush

SHAPE = (40, 40, 10)
SPACING = (1.0, 1.0, 2.0)


def _head() -> tuple[np.ndarray, np.ndarray]:
    """A skull-stripped-like head (disc of radius 12 around (20, 20), zero outside) with a dark, zero-valued
    "ventricle" inside it, and a few negative resampling overshoots in the air. Returns (volume, disc)."""
    x, y = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    disc = (x - 20) ** 2 + (y - 20) ** 2 <= 12**2
    volume = np.where(disc, 300.0 + x, 0.0)[..., None].repeat(SHAPE[2], axis=2).astype(np.float32)
    volume[18:22, 18:22, :] = 0.0  # ventricle: dark, but part of the head
    volume[1, 1, :] = -40.0  # overshoot in the air
    return volume, disc


def test_foreground_is_the_head_with_its_holes_filled():
    volume, disc = _head()
    mask = foreground_mask(volume)
    assert mask.dtype == bool and mask.shape == SHAPE and mask.flags.c_contiguous
    for index in range(SHAPE[2]):
        assert np.array_equal(mask[..., index], disc)  # ventricle inside, air (and the overshoot) outside
    threshold = foreground_threshold(volume)
    assert 0.0 < threshold < float(volume[disc[..., None].repeat(SHAPE[2], 2) & (volume > 0)].min())


def test_foreground_rejects_bad_input():
    with pytest.raises(ValueError, match="3D"):
        foreground_mask(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="fraction"):
        foreground_threshold(np.ones((4, 4, 4)), fraction=1.5)
    session = EditSession(np.zeros(SHAPE, np.uint8), SPACING)
    with pytest.raises(ValueError, match="bool mask"):
        session.set_foreground(np.ones((3, 3, 3), bool))


def test_brush_paints_only_inside_the_foreground_unless_turned_off():
    volume, disc = _head()
    label = np.zeros(SHAPE, np.uint8)
    session = EditSession(label, SPACING, foreground=foreground_mask(volume))
    edge = (20, 33, 5)  # one voxel outside the rim of the disc: an 8 mm brush reaches far into the air
    brush = Brush(radius_mm=8.0, value=2, plane_axis=2)
    unlimited = np.zeros(SHAPE, np.uint8)
    EditSession(unlimited, SPACING).dab(edge, brush)
    painted = session.dab(edge, brush)
    assert painted > 0 and painted == np.count_nonzero(label)
    assert np.all(disc[label[..., 5] == 2])  # nothing painted outside the head
    assert np.array_equal(label[..., 5] == 2, (unlimited[..., 5] == 2) & disc)  # all of the head under the brush
    assert np.count_nonzero(unlimited) > painted
    free = session.dab(edge, Brush(radius_mm=8.0, value=2, plane_axis=2, foreground_only=False))
    assert np.array_equal(label, unlimited) and free == np.count_nonzero(unlimited) - painted
    session.dab(edge, Brush(radius_mm=8.0, value=0, plane_axis=2))  # the eraser is never limited
    assert not label.any()


def test_an_image_without_background_is_all_head_and_a_z_scored_one_keeps_its_air_out():
    x, y, z = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij")
    everywhere = 100.0 + x + y + z  # no background at all (a crop inside the head)
    assert foreground_mask(everywhere).all()
    volume, disc = _head()
    z_scored = np.where(disc[..., None], (volume - 320.0) / 10.0, -3.0).astype(np.float32)  # air at -3
    z_scored[18:22, 18:22, :] = -2.5  # the ventricle: dark, but brighter than the air
    mask = foreground_mask(z_scored)
    assert np.array_equal(mask[..., 0], disc)
