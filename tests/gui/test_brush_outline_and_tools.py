"""The brush outline under the mouse, the visibly marked active tool, and painting kept inside the head (issue 17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.labels import LABEL_INFO
from gui.editing import edit_panel
from tests.gui.qt_helpers import open_window, pixels, qt_position

pytestmark = pytest.mark.gui


def _hover(view, voxel: tuple[int, int, int]) -> None:
    """Move the mouse (no button held) over ``voxel`` of ``view``."""
    point = qt_position(view, view.voxel_to_display_at(voxel))
    QApplication.sendEvent(view.vtk_widget, QMouseEvent(
        QEvent.Type.MouseMove, QPointF(point), QPointF(view.vtk_widget.mapToGlobal(point)),
        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def _world_centre(view, voxel: tuple[int, int, int]) -> tuple[float, float]:
    """Where ``voxel``'s centre sits in the view's world (display mm) coordinates, within half a screen pixel."""
    view.renderer.SetDisplayPoint(*view.voxel_to_display_at(voxel), 0.0)
    view.renderer.DisplayToWorld()
    x, y, _, w = view.renderer.GetWorldPoint()
    return x / w, y / w


def _half_pixel_mm(view) -> float:
    return 0.5 / _pixels_per_mm(view) + 1e-6


def _pixels_per_mm(view) -> float:
    return view.render_window.GetSize()[1] / (2 * view.renderer.GetActiveCamera().GetParallelScale())


@pytest.fixture
def editing_window(qtbot, synthetic_case: Path):
    window = open_window(qtbot, synthetic_case)
    controller = edit_panel.install(window)
    controller.dock.show()
    return window, controller


def test_brush_outline_is_drawn_at_the_brush_size_and_follows_the_mouse(editing_window) -> None:
    window, controller = editing_window
    axial, coronal = window.axial_view, window.coronal_view
    controller.update_settings(radius_mm=4.0, value=4)
    centre = window.model.cursor
    _hover(axial, centre)
    assert axial.brush_outline.shown is None  # navigate: no outline
    controller.set_tool("brush")
    _hover(axial, centre)
    outline = axial.brush_outline
    assert outline.actor.GetVisibility() and outline.shown is not None
    x, y, radius, rgb = outline.shown
    assert (x, y) == pytest.approx(_world_centre(axial, centre), abs=_half_pixel_mm(axial)) and radius == 4.0
    assert rgb == pytest.approx(tuple(c / 255 for c in LABEL_INFO[4].rgb))
    assert outline.radius_pixels(axial.renderer) == pytest.approx(4.0 * _pixels_per_mm(axial), rel=0.02)
    # The circle is really drawn: ET-coloured pixels on it, at the brush radius right of the centre.
    image = pixels(axial).astype(int)
    cx, cy = axial.voxel_to_display_at(centre)
    ring_x, row = round(cx + outline.radius_pixels(axial.renderer)), image.shape[0] - 1 - cy
    ring = image[row - 2: row + 3, ring_x - 2: ring_x + 3].reshape(-1, 3)
    assert any(abs(r - 255) < 60 and abs(g - 255) < 60 and b < 120 for r, g, b in ring), ring  # yellow ET
    # It follows the mouse, grows with ], shows in the view under the mouse only, and goes with the tool.
    moved = (centre[0] + 6, centre[1] - 4, centre[2])
    _hover(axial, moved)
    assert outline.shown[:2] == pytest.approx(_world_centre(axial, moved), abs=_half_pixel_mm(axial))
    assert outline.shown[0] - x == pytest.approx(-6 * window.model.spacing[0])  # radiological: R is left
    controller.change_size(2)
    assert outline.shown[2] == 6.0  # without moving the mouse
    QApplication.sendEvent(axial.vtk_widget, QEvent(QEvent.Type.Leave))
    assert outline.shown is None
    _hover(coronal, centre)
    assert coronal.brush_outline.shown is not None and coronal.brush_outline.shown[2] == 6.0
    controller.set_tool("eraser")
    assert coronal.brush_outline.shown[3] == (1.0, 1.0, 1.0)  # the eraser's outline is white
    controller.set_tool("navigate")
    assert coronal.brush_outline.shown is None and not coronal.brush_outline.actor.GetVisibility()


def test_active_tool_is_visibly_marked(editing_window, qtbot) -> None:
    window, controller = editing_window
    panel = controller.panel
    controller.set_tool("brush")
    qtbot.waitUntil(lambda: panel.tool_buttons["brush"].isChecked())

    def mean_colour(name: str) -> np.ndarray:
        image = panel.tool_buttons[name].grab().toImage()  # a plain Qt widget, no VTK: grab() is right here
        width, height = image.width(), image.height()
        samples = [image.pixelColor(x, y) for x in range(4, width - 4, 3) for y in range(4, height - 4, 3)]
        return np.array([(c.red(), c.green(), c.blue()) for c in samples]).mean(axis=0)

    checked, unchecked = mean_colour("brush"), mean_colour("eraser")
    assert np.abs(checked - unchecked).sum() > 60, (checked, unchecked)  # filled with the highlight colour
    assert panel.tool_buttons["brush"].font().bold() or "bold" in panel.tool_buttons["brush"].styleSheet()
    tool_actions = {a.text(): a for a in controller.actions if a.isCheckable()}
    assert tool_actions["Brush tool"].isChecked() and not tool_actions["Eraser tool"].isChecked()
    controller.set_tool("eraser")
    assert tool_actions["Eraser tool"].isChecked() and not tool_actions["Brush tool"].isChecked()
    assert panel.tool_buttons["eraser"].isChecked() and not panel.tool_buttons["brush"].isChecked()


def test_brush_paints_inside_the_head_only_unless_unchecked(editing_window, qtbot) -> None:
    window, controller = editing_window
    model = window.model
    head = controller.foreground  # computed in a worker thread since the case opened
    assert head is not None and head.shape == model.shape and 0.2 < head.mean() < 0.8
    z = model.shape[2] // 2
    edge = next((i, j, z) for i in range(model.shape[0]) for j in (model.shape[1] // 2,) if head[i, j, z])
    controller.update_settings(radius_mm=8.0, value=2)
    before = model.label.copy()
    brush = controller.set_tool("brush")
    brush.press(edge, 2, None)
    brush.release()
    assert controller.session.foreground is head
    changed = model.label != before
    assert changed.any() and head[changed].all()  # painted, and only inside the head
    controller.panel.foreground_check.setChecked(False)
    assert not controller.settings.foreground_only
    brush.press(edge, 2, None)
    brush.release()
    assert ((model.label == 2) & ~head).any()  # the limit is off: the air gets paint too
