"""Edit controller and panel: tools through the slice-view tool protocol, undo / redo, threshold, interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from gui.editing import edit_panel
from gui.editing.edit_controller import EditController
from tests.gui.edit_helpers import BareWindow, make_model

pytestmark = pytest.mark.gui


def _stroke(tool, points, plane_axis=2):
    tool.press(points[0], plane_axis, None)
    for point in points[1:]:
        tool.drag(point, plane_axis)
    tool.release()


def test_paint_then_undo_redo_restores_the_exact_voxels(qtbot, tmp_path):
    model = make_model(tmp_path)
    controller = EditController(model)
    events = []
    model.label_changed.connect(lambda: events.append(model.label_source))
    before = model.label.copy()
    controller.update_settings(radius_mm=2.0, value=1)
    _stroke(controller.set_tool("brush"), [(5, 5, 3), (9, 7, 3), (14, 9, 3)])
    painted = model.label.copy()
    assert not np.array_equal(painted, before) and model.label_source == "edited" and events
    assert np.all(painted[..., 3][painted[..., 3] != before[..., 3]] == 1)
    assert np.array_equal(painted[..., :3], before[..., :3])  # a 2D disc stays in its slice
    _stroke(controller.set_tool("eraser"), [(15, 18, 10)])
    erased = model.label.copy()
    assert controller.undo() and np.array_equal(model.label, painted)
    assert controller.undo() and np.array_equal(model.label, before)
    assert model.label_source == "ai"  # back to the AI result
    assert not controller.undo()
    assert controller.redo() and np.array_equal(model.label, painted)
    assert controller.redo() and np.array_equal(model.label, erased)
    assert not controller.can_redo


def test_threshold_brush_leaves_out_of_range_voxels_untouched(qtbot, tmp_path):
    model = make_model(tmp_path)
    controller = EditController(model)
    volume = model.active_volume
    before = model.label.copy()
    low, high = 200.0, 215.0
    controller.update_settings(radius_mm=6.0, value=4, sphere=True, intensity_range=(high, low))  # order fixed
    assert controller.settings.intensity_range == (low, high)
    _stroke(controller.set_tool("threshold"), [(20, 10, 5), (24, 14, 6)])
    changed = model.label != before
    outside = (volume < low) | (volume > high)
    assert changed.any() and np.all(model.label[changed] == 4)
    assert np.array_equal(model.label[outside], before[outside])
    assert len({int(z) for z in np.nonzero(changed)[2]}) > 1  # sphere: several slices


def test_interpolate_fills_between_two_painted_slices(qtbot, tmp_path):
    model = make_model(tmp_path, with_label=False)
    controller = EditController(model)
    controller.update_settings(radius_mm=4.0, value=2)
    brush = controller.set_tool("brush")
    _stroke(brush, [(20, 18, 2)])  # paints on a case without a label map: an empty one is created
    _stroke(brush, [(20, 18, 9)])
    assert model.label is not None and [bool(model.label[..., z].any()) for z in range(3, 9)] == [False] * 6
    changed = controller.interpolate()
    assert changed > 0
    for z in range(3, 9):
        assert np.array_equal(model.label[..., z], model.label[..., 2])  # same disc at both ends
    assert not model.label[..., 10:].any()
    controller.undo()
    assert not model.label[..., 3:9].any()


def test_component_tool_and_reset_to_ai(qtbot, tmp_path):
    model = make_model(tmp_path)
    controller = EditController(model)
    ai = model.label.copy()
    model.label[30:33, 2:5, 15:17] = 2  # a second lesion as if the AI had found it
    controller.session.ai_label[30:33, 2:5, 15:17] = 2
    ai = model.label.copy()
    controller.set_tool("component").press((31, 3, 15), 2, None)
    assert not model.label[30:33, 2:5, 15:17].any() and model.label_source == "edited"
    assert np.array_equal(model.label[:25], ai[:25])
    assert controller.reset_to_ai() == 18
    assert np.array_equal(model.label, ai) and model.label_source == "ai"


def test_a_new_segmentation_starts_a_new_session(qtbot, tmp_path):
    model = make_model(tmp_path)
    controller = EditController(model)
    _stroke(controller.set_tool("brush"), [(5, 5, 5)])
    assert controller.can_undo
    model.set_segmentation(np.zeros(model.shape, np.uint8), source="ai")
    assert not controller.can_undo and controller.session.label is model.label


def test_panel_shortcuts_and_tool_handover(qtbot, tmp_path):
    model = make_model(tmp_path)
    window = BareWindow(model)
    qtbot.addWidget(window)
    controller = edit_panel.install(window)
    window.show()
    qtbot.waitExposed(window)
    # Xvfb has no window manager, so the window never becomes active and key presses reach no shortcut:
    # the test finds each action by its shortcut and triggers it.
    actions = {a.shortcut().toString(): a for a in window.actions() if not a.shortcut().isEmpty()}
    assert {"B", "E", "T", "X", "V", "[", "]", "I", "Ctrl+Z", "Ctrl+Shift+Z"} <= set(actions)
    actions["B"].trigger()
    assert controller.tool_name == "brush" and window.tools_given[-1] is controller.tools["brush"]
    radius = controller.settings.radius_mm
    actions["]"].trigger()
    assert controller.settings.radius_mm == radius + 1 and controller.panel.size_spin.value() == radius + 1
    before = model.label.copy()
    _stroke(controller.tool, [(4, 4, 4)])
    assert controller.panel.undo_button.isEnabled()
    actions["Ctrl+Z"].trigger()
    assert np.array_equal(model.label, before) and not controller.panel.undo_button.isEnabled()
    controller.panel.label_combo.setCurrentIndex(controller.panel.label_combo.findData(2))
    assert controller.settings.value == 2
    actions["V"].trigger()
    assert window.tools_given[-1] is None


def test_install_on_the_main_window_routes_the_tool_to_the_slice_views(qtbot, synthetic_case):
    from tests.gui.qt_helpers import open_window

    window = open_window(qtbot, synthetic_case)
    controller = edit_panel.install(window)
    titles = [a.text() for a in window.menus["Tools"].actions()]
    assert "&Edit Segmentation" in titles
    controller.set_tool("eraser")
    assert all(view.tool is controller.tools["eraser"] for view in window.slice_views)
    controller.set_tool("navigate")
    assert all(view.tool is None for view in window.slice_views)


def test_a_label_map_in_fortran_order_is_made_contiguous_for_editing(qtbot, tmp_path):
    import dataclasses

    from gui.viewer.viewer_model import ViewerModel
    from tests.gui.edit_helpers import make_case

    case = make_case(tmp_path)
    case = dataclasses.replace(case, label=np.asfortranarray(case.label))  # as a NIfTI file may give it
    model = ViewerModel()
    model.set_case(case)
    assert not model.label.flags.c_contiguous
    controller = EditController(model)
    assert model.label.flags.c_contiguous and controller.session.label is model.label
    assert model.label_source == "file" and np.array_equal(model.label, case.label)
