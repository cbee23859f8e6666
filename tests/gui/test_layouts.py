"""Layouts and hooks of the main window, judged on rendered pixels where it matters: the modality grid (four
contrasts in step), double-click maximise, the editing-tool hook, and the 3D tumour surfaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt

from engine.labels import LABEL_INFO
from gui.viewer.label_surfaces import LABEL_NESTS
from tests.gui.qt_helpers import click, drag, open_window, pixels, qt_position, send_mouse, wheel
from tests.gui.test_review import colour_mask

pytestmark = pytest.mark.gui


def test_modality_grid_shows_four_contrasts_in_step(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    model = window.model
    core = tuple(np.argwhere(model.label == 1).mean(axis=0).round().astype(int))
    model.set_cursor(core)
    model.set_overlay(opacity=1.0)
    window.grid_action.trigger()  # Ctrl+G
    assert window.stack.currentWidget() is window.modality_grid
    views = window.modality_grid.views
    assert list(views) == ["t1", "t1ce", "t2", "flair"] and all(v.isVisible() for v in views.values())
    images = {modality: pixels(view) for modality, view in views.items()}
    # Four different contrasts ...
    for first, second in (("t1", "t1ce"), ("t1ce", "t2"), ("t2", "flair")):
        assert not np.array_equal(images[first], images[second])
    # ... each with the same overlay at the same place.
    masks = [colour_mask(image, LABEL_INFO[1].rgb) for image in images.values()]
    assert masks[0].sum() > 20
    for mask in masks[1:]:  # cells may differ in size by a pixel
        assert abs(mask.sum() - masks[0].sum()) < 0.1 * masks[0].sum()
        assert np.allclose(np.argwhere(mask).mean(axis=0), np.argwhere(masks[0]).mean(axis=0), atol=3)
    assert [views[m].info_text.GetInput().split()[0] for m in views] == ["T1", "T1ce", "T2", "FLAIR"]
    # Scrolling one cell moves all four.
    wheel(views["t2"].vtk_widget, 2)
    assert model.cursor[2] == core[2] + 2
    assert {view.slice_index for view in views.values()} == {core[2] + 2}
    crosshairs = {view.voxel_to_display_at(model.cursor) for view in views.values()}
    assert len(crosshairs) == 1  # the crosshair sits at the same place in every cell
    window.grid_action.trigger()
    assert window.stack.currentIndex() == 0 and window.axial_view.slice_index == core[2] + 2
    window.grid_plane_actions["coronal"].trigger()  # View > Grid Plane > Coronal
    assert window.stack.currentWidget() is window.modality_grid
    assert {view.plane.name for view in views.values()} == {"coronal"}
    assert {view.slice_index for view in views.values()} == {model.cursor[1]}
    coronal_images = [pixels(view) for view in views.values()]
    assert [e.GetInput() for e in views["flair"].edge_labels] == ["R", "L", "S", "I"]
    assert views["t1ce"].info_text.GetInput().startswith(f"T1ce  Coronal  {model.cursor[1] + 1}/")
    assert not any(np.array_equal(new, old) for new, old in zip(coronal_images, images.values(), strict=True))


def test_double_click_maximises_a_view_and_restores_the_layout(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    coronal = window.coronal_view
    small = coronal.render_window.GetSize()
    centre = coronal.vtk_widget.rect().center()
    send_mouse(coronal.vtk_widget, QEvent.Type.MouseButtonDblClick, centre, Qt.MouseButton.LeftButton)
    assert window.maximized_view is coronal
    assert not window.axial_view.isVisible() and not window.volume_view.isVisible()
    qtbot.waitUntil(lambda: coronal.render_window.GetSize()[0] > 1.5 * small[0], timeout=5000)
    window.model.move_slice(2, 3)  # the hidden axial view did no work; it catches up when shown again
    expected = window.model.cursor[2]
    window.toggle_maximized(coronal)
    assert window.maximized_view is None and window.axial_view.isVisible()
    assert window.axial_view.slice_index == expected
    assert window.axial_view.info_text.GetInput().startswith(f"Axial  {expected + 1}/")
    send_mouse(window.volume_view.vtk_widget, QEvent.Type.MouseButtonDblClick, centre, Qt.MouseButton.LeftButton)
    assert window.maximized_view is window.volume_view and not coronal.isVisible()
    send_mouse(window.volume_view.vtk_widget, QEvent.Type.MouseButtonDblClick, centre, Qt.MouseButton.LeftButton)
    assert window.maximized_view is None and coronal.isVisible()


class RecordingTool:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def press(self, voxel, plane_axis, modifiers) -> None:
        self.calls.append(("press", voxel, plane_axis))

    def drag(self, voxel, plane_axis) -> None:
        self.calls.append(("drag", voxel, plane_axis))

    def release(self) -> None:
        self.calls.append(("release",))


def test_edit_tool_receives_left_button_input_instead_of_the_crosshair(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    model, axial = window.model, window.axial_view
    tool = RecordingTool()
    window.set_edit_tool(tool)
    assert all(view.tool is tool for view in window.editable_views)
    start = model.cursor
    a, b = (start[0] + 5, start[1] - 4, start[2]), (start[0] - 6, start[1] + 3, start[2])
    drag(axial.vtk_widget, qt_position(axial, axial.voxel_to_display_at(a)),
         qt_position(axial, axial.voxel_to_display_at(b)), Qt.MouseButton.LeftButton, steps=4)
    assert model.cursor == start  # the crosshair stayed
    assert tool.calls[0] == ("press", a, 2)
    assert tool.calls[-1] == ("release",)
    drags = [call for call in tool.calls if call[0] == "drag"]
    assert len(drags) >= 4 and drags[-1] == ("drag", b, 2)
    assert all(voxel[2] == start[2] for _, voxel, _ in drags)
    sagittal = window.sagittal_view
    tool.calls.clear()
    click(sagittal.vtk_widget, qt_position(sagittal, sagittal.voxel_to_display_at(a)))
    assert tool.calls == [("press", (start[0], a[1], a[2]), 0), ("release",)]
    window.set_edit_tool(None)
    click(axial.vtk_widget, qt_position(axial, axial.voxel_to_display_at(a)))
    assert model.cursor == a and len(tool.calls) == 2


def test_3d_view_draws_tumour_surfaces_that_follow_the_labels(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    volume_view, model = window.volume_view, window.model
    assert set(volume_view.surfaces.actors) == {1, 2, 4}
    for value, actor in volume_view.surfaces.actors.items():
        colour = np.array(actor.GetProperty().GetColor()) * 255
        assert np.allclose(colour, LABEL_INFO[value].rgb, atol=1)
        # The surface lies where the label (with the labels it encloses) is: world = origin + index * spacing.
        indices = np.argwhere(np.isin(model.label, LABEL_NESTS[value]))
        centre = model.case.affine[:3, 3] + indices.mean(axis=0) * np.array(model.spacing)
        assert np.allclose(actor.GetCenter(), centre, atol=3 * max(model.spacing))
    with_surfaces = pixels(volume_view)
    model.set_overlay(visible=False)
    qtbot.waitUntil(lambda: not volume_view.surfaces.actors, timeout=5000)
    without = pixels(volume_view)
    changed = np.abs(with_surfaces.astype(int) - without).max(axis=2) > 40
    assert changed.sum() > 100  # the surfaces were visible in the render
    model.set_overlay(visible=True)
    model.label[model.label == 2] = 0
    model.notify_label_edited()
    qtbot.waitUntil(lambda: set(volume_view.surfaces.actors) == {1, 4}, timeout=5000)
