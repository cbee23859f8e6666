"""A slice change by the mouse wheel on a full-size (240 x 240 x 155) case. How fast it reaches the screen
(bound: median 30 ms for the axial view) is measured by scripts/measure_timings.py (docs/benchmarks.md), not
asserted here."""

from __future__ import annotations

import pytest

from engine.case import default_demo_case
from tests.gui.qt_helpers import open_window, wheel

pytestmark = pytest.mark.gui

SLICE_CHANGES = 30


def test_mouse_wheel_changes_the_axial_slice(qtbot) -> None:
    """One mouse-wheel step in the axial view: slice cut from numpy, uploaded to VTK and rendered."""
    window = open_window(qtbot, default_demo_case())
    axial = window.axial_view
    assert window.model.shape == (240, 240, 155)
    for step in range(SLICE_CHANGES):
        index = axial.slice_index
        wheel(axial.vtk_widget, 1 if step % 2 == 0 else -1)  # also updates the other two views' crosshairs
        assert axial.slice_index != index
