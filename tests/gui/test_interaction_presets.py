"""Mouse presets of the slice views (issue 17): 3D Slicer (default) and ITK-SNAP, with simulated Qt mouse events.

Both: wheel = slice, right drag = zoom, middle drag = pan. Left drag: window/level (Slicer) or the crosshair
(ITK-SNAP); Shift swaps the left button's two jobs; a left click moves the crosshair in both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from gui.viewer.slice_interaction import left_drag_job
from tests.gui.qt_helpers import click, drag, open_window, qt_position, wheel

pytestmark = pytest.mark.gui


def _centre(view) -> QPoint:
    return QPoint(view.vtk_widget.width() // 2, view.vtk_widget.height() // 2)


def _shift_drag(widget: QWidget, start: QPoint, end: QPoint, steps: int = 5) -> None:
    """A left drag with Shift held (the modifiers travel in the events, as from a real mouse)."""
    shift, left = Qt.KeyboardModifier.ShiftModifier, Qt.MouseButton.LeftButton
    points = [start + (end - start) * (step / steps) for step in range(steps + 1)]
    kinds = [QEvent.Type.MouseButtonPress] + [QEvent.Type.MouseMove] * steps
    for kind, point in zip(kinds, points, strict=True):
        button = left if kind == QEvent.Type.MouseButtonPress else Qt.MouseButton.NoButton
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(point), QPointF(widget.mapToGlobal(point)),
                                                   button, left, shift))
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseButtonRelease, QPointF(end),
                                               QPointF(widget.mapToGlobal(end)), left, Qt.MouseButton.NoButton, shift))


def _camera(view) -> tuple[float, tuple[float, float, float]]:
    camera = view.renderer.GetActiveCamera()
    return camera.GetParallelScale(), tuple(camera.GetFocalPoint())


@pytest.mark.parametrize("preset", ["slicer", "itksnap"])
def test_wheel_right_and_middle_buttons_are_the_same_in_both_presets(qtbot, synthetic_case: Path,
                                                                     preset: str) -> None:
    window = open_window(qtbot, synthetic_case)
    window.set_interaction_preset(preset)
    model, axial = window.model, window.axial_view
    assert all(view.interaction_preset == preset for view in window.editable_views)
    cursor, window_level = model.cursor, model.window_level
    # wheel: slice
    start = axial.slice_index
    wheel(axial.vtk_widget, +2)
    assert axial.slice_index == start + 2
    # right drag up: zoom in (smaller parallel scale = larger magnification), focal point unchanged
    scale, focal = _camera(axial)
    centre = _centre(axial)
    drag(axial.vtk_widget, centre, centre + QPoint(0, -60), Qt.MouseButton.RightButton)
    zoomed, focal_after = _camera(axial)
    assert zoomed < scale * 0.8 and focal_after == pytest.approx(focal)
    drag(axial.vtk_widget, centre, centre + QPoint(0, 120), Qt.MouseButton.RightButton)  # down: zoom out
    assert _camera(axial)[0] > zoomed * 1.5
    # middle drag: pan (the camera moves, the zoom stays)
    scale, focal = _camera(axial)
    drag(axial.vtk_widget, centre, centre + QPoint(70, 30), Qt.MouseButton.MiddleButton)
    scale_after, focal_after = _camera(axial)
    assert scale_after == pytest.approx(scale)
    assert focal_after[0] < focal[0] - 1.0 and focal_after[1] > focal[1] + 0.5  # image follows the mouse
    # none of them touched the crosshair's in-plane position or the window/level
    assert model.cursor[:2] == cursor[:2] and model.window_level == window_level


def test_slicer_preset_left_drag_sets_window_level_and_a_click_moves_the_crosshair(qtbot,
                                                                                   synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    assert window.axial_view.interaction_preset == "slicer"  # the default
    model, axial = window.model, window.axial_view
    cursor, before = model.cursor, model.window_level
    centre = _centre(axial)
    drag(axial.vtk_widget, centre, centre + QPoint(60, -40), Qt.MouseButton.LeftButton)
    after = model.window_level
    assert after.window > before.window and after.level > before.level
    assert model.cursor == cursor
    target = (cursor[0] + 6, cursor[1] - 5, cursor[2])
    click(axial.vtk_widget, qt_position(axial, axial.voxel_to_display_at(target)))
    assert model.cursor == target and model.window_level == after  # a click is no window/level drag
    moved = (target[0] - 8, target[1] + 4, target[2])
    _shift_drag(axial.vtk_widget, qt_position(axial, axial.voxel_to_display_at(target)),
                qt_position(axial, axial.voxel_to_display_at(moved)))
    assert model.cursor == moved and model.window_level == after  # Shift: the crosshair


def test_itksnap_preset_left_drag_moves_the_crosshair_and_shift_sets_window_level(qtbot,
                                                                                  synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    window.set_interaction_preset("itksnap")
    model, axial = window.model, window.axial_view
    cursor, before = model.cursor, model.window_level
    target = (cursor[0] - 7, cursor[1] + 6, cursor[2])
    drag(axial.vtk_widget, qt_position(axial, axial.voxel_to_display_at(cursor)),
         qt_position(axial, axial.voxel_to_display_at(target)), Qt.MouseButton.LeftButton)
    assert model.cursor == target and model.window_level == before
    centre = _centre(axial)
    _shift_drag(axial.vtk_widget, centre, centre + QPoint(-50, 40))
    after = model.window_level
    assert after.window < before.window and after.level < before.level
    assert model.cursor == target


def test_an_editing_tool_still_gets_the_left_button_in_both_presets(qtbot, synthetic_case: Path) -> None:
    from tests.gui.test_layouts import RecordingTool

    window = open_window(qtbot, synthetic_case)
    axial = window.axial_view
    tool = RecordingTool()
    window.set_edit_tool(tool)
    for preset in ("slicer", "itksnap"):
        window.set_interaction_preset(preset)
        tool.calls.clear()
        before = window.model.window_level
        centre = _centre(axial)
        drag(axial.vtk_widget, centre, centre + QPoint(30, 0), Qt.MouseButton.LeftButton)
        assert tool.calls[0][0] == "press" and tool.calls[-1] == ("release",)
        assert window.model.window_level == before


def test_unknown_preset_is_refused() -> None:
    assert left_drag_job("slicer", shift=False) == "window" and left_drag_job("itksnap", shift=False) == "cursor"
    assert left_drag_job("slicer", shift=True) == "cursor" and left_drag_job("itksnap", shift=True) == "window"
    with pytest.raises(ValueError, match="slicer"):
        left_drag_job("osirix", shift=False)
