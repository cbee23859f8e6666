"""EditSession: brush and eraser, threshold paint, component removal, reset to AI."""

from __future__ import annotations

import numpy as np
import pytest

from engine.editing import EditSession
from engine.editing.session import Brush

SHAPE = (24, 24, 12)
SPACING = (1.0, 1.0, 2.0)


def _ai_label() -> np.ndarray:
    label = np.zeros(SHAPE, np.uint8)
    label[4:10, 4:10, 3:7] = 2
    label[6:8, 6:8, 4:6] = 4
    label[16:19, 16:19, 8:10] = 1  # a second, false-positive lesion
    return label


def test_brush_paints_a_disc_in_the_slice_and_the_eraser_clears_it():
    label = np.zeros(SHAPE, np.uint8)
    session = EditSession(label, SPACING)
    session.dab((12, 12, 6), Brush(radius_mm=3.0, value=4, plane_axis=2))
    x, y = np.meshgrid(np.arange(24), np.arange(24), indexing="ij")
    disc = (x - 12) ** 2 + (y - 12) ** 2 <= 9
    assert np.array_equal(label[..., 6] == 4, disc)
    assert np.count_nonzero(label) == np.count_nonzero(disc)
    session.dab((12, 12, 6), Brush(radius_mm=1.0, value=0, plane_axis=2))
    assert np.count_nonzero(label) == np.count_nonzero(disc) - 5


def test_threshold_paint_leaves_out_of_range_voxels_untouched():
    rng = np.random.default_rng(3)
    volume = rng.uniform(0, 200, SHAPE).astype(np.float32)
    label = _ai_label()
    before = label.copy()
    session = EditSession(label, SPACING)
    brush = Brush(radius_mm=4.0, value=1, plane_axis=None, intensity_range=(50.0, 120.0))
    session.begin_stroke()
    session.line((6, 6, 4), (14, 12, 6), brush, volume)
    session.end_stroke()
    out_of_range = (volume < 50) | (volume > 120)
    assert np.array_equal(label[out_of_range], before[out_of_range])
    painted = label != before
    assert painted.any() and np.all(label[painted] == 1)
    assert np.all((volume[painted] >= 50) & (volume[painted] <= 120))
    with pytest.raises(ValueError, match="contrast"):
        session.dab((6, 6, 4), brush)


def test_remove_component_by_click_and_reset_to_ai():
    ai = _ai_label()
    label = ai.copy()
    session = EditSession(label, SPACING, ai_label=ai)
    assert not session.is_edited
    removed = session.remove_component((17, 17, 8))
    assert removed == 3 * 3 * 2 and not (label[16:19, 16:19, 8:10]).any()
    assert np.array_equal(label[:12], ai[:12])
    session.dab((5, 5, 3), Brush(radius_mm=2.0, value=1))
    assert session.is_edited
    changed = session.reset_to_ai()
    assert changed > 0 and np.array_equal(label, ai) and not session.is_edited
    session.undo()  # reset is undoable
    assert session.is_edited and not label[16:19, 16:19, 8:10].any()
