"""After a brush stroke the 3D surfaces and the measurements follow at the next event-loop turn; during the
stroke they wait for a pause (gui.shell.label_updates). How long that takes on a full-size case is measured by
scripts/measure_stroke_update.py (docs/benchmarks.md), not asserted here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt

from gui.shell.label_updates import IDLE_DELAY_MS, STROKE_PAUSE_MS
from tests.gui.qt_helpers import load, qt_position, send_mouse

pytestmark = pytest.mark.gui


def test_a_stroke_updates_surfaces_and_measurements_when_the_button_is_released(qtbot, workstation,
                                                                               synthetic_case: Path) -> None:
    window = workstation
    load(qtbot, window, synthetic_case)
    view, axial, panel = window.volume_view, window.axial_view, window.measure_panel
    timers = (view.surface_timer, panel.timer)
    qtbot.waitUntil(lambda: not any(t.isActive() for t in timers), timeout=5000)
    assert all(t.interval() == IDLE_DELAY_MS for t in timers)
    refreshed: list[object] = []
    panel.timer.timeout.connect(lambda: refreshed.append(panel.measurements))
    window.edit_controller.update_settings(radius_mm=2.0, value=4)
    window.edit_controller.set_tool("brush")
    centre = np.array(window.model.cursor)
    start, end = tuple(centre - (4, 0, 0)), tuple(centre + (4, 0, 0))
    before = int(np.count_nonzero(window.model.label == 4))
    widget, left = axial.vtk_widget, Qt.MouseButton.LeftButton
    updates: list[int] = []
    view.surfaces_updated.connect(updates.append)

    send_mouse(widget, QEvent.Type.MouseButtonPress, qt_position(axial, axial.voxel_to_display_at(start)), left)
    assert window.label_updates.in_stroke and all(t.interval() == STROKE_PAUSE_MS for t in timers)
    send_mouse(widget, QEvent.Type.MouseMove, qt_position(axial, axial.voxel_to_display_at(end)),
               Qt.MouseButton.NoButton, left)
    assert all(t.isActive() for t in timers)  # the updates wait for a pause in the stroke or its end
    assert updates == [] and refreshed == []
    send_mouse(widget, QEvent.Type.MouseButtonRelease, qt_position(axial, axial.voxel_to_display_at(end)), left,
               Qt.MouseButton.NoButton)
    assert not window.label_updates.in_stroke and all(t.interval() == IDLE_DELAY_MS for t in timers)
    qtbot.waitUntil(lambda: bool(updates) and bool(refreshed), timeout=5000)
    assert updates[-1] == view.label_generation  # the surfaces show the label map as it is after the stroke
    assert view.surfaces.last_update[0] == "incremental" and 4 in view.surfaces.last_update[1]
    after = int(np.count_nonzero(window.model.label == 4))
    assert after > before
    assert panel.measurements is not None  # measured from the painted map
