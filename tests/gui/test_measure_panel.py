"""Measurement panel: follows edits (debounced), copies a tab-separated table, shows the RANO slice."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from engine.measure import measure
from gui.editing import measure_panel
from gui.editing.edit_controller import EditController
from tests.gui.edit_helpers import SPACING, BareWindow, make_model

pytestmark = pytest.mark.gui


def _table(panel) -> dict[str, str]:
    return {panel.table.item(r, 0).text(): panel.table.item(r, 1).text() for r in range(panel.table.rowCount())}


def test_panel_shows_the_label_maps_measurements_and_follows_edits(qtbot, tmp_path):
    model = make_model(tmp_path)
    window = BareWindow(model)
    qtbot.addWidget(window)
    panel = measure_panel.install(window)
    voxel_ml = np.prod(SPACING) / 1000
    assert _table(panel)["ET volume (mL)"] == f"{np.count_nonzero(model.label == 4) * voxel_ml:.2f}"
    assert _table(panel)["Lesions (26-connected)"] == "1"
    controller = EditController(model)
    controller.update_settings(radius_mm=1.0, value=2)
    tool = controller.set_tool("brush")
    tool.press((35, 2, 2), 2, None)
    tool.release()
    assert panel.timer.isActive()  # debounced: not yet recomputed
    qtbot.waitUntil(lambda: _table(panel)["Lesions (26-connected)"] == "2", timeout=3000)
    assert _table(panel)["WT volume (mL)"] == f"{np.count_nonzero(model.label) * voxel_ml:.2f}"


def test_copy_as_table_and_rano_slice(qtbot, tmp_path):
    model = make_model(tmp_path)
    panel = measure_panel.MeasurePanel(model)
    qtbot.addWidget(panel)
    text = panel.copy_table()
    assert QApplication.clipboard().text() == text
    lines = [line.split("\t") for line in text.strip().splitlines()]
    assert lines[0] == ["Measurement", "Value"] and all(len(line) == 2 for line in lines)
    rano = measure(model.label, model.spacing).bidimensional
    assert dict(lines)["ET longest diameter (mm)"] == f"{rano.longest_mm:.1f}"
    assert f"axial slice {rano.slice_index}" in panel.rano_label.text()
    panel.show_rano_slice()
    (a, b) = rano.longest_ends
    assert model.cursor == tuple((p + q) // 2 for p, q in zip(a, b, strict=True))
    assert model.cursor[2] == rano.slice_index and model.label[model.cursor] in (1, 4)  # inside the ET ring


def test_no_segmentation_and_no_et(qtbot, tmp_path):
    model = make_model(tmp_path, with_label=False)
    panel = measure_panel.MeasurePanel(model)
    qtbot.addWidget(panel)
    assert panel.table.rowCount() == 0 and not panel.copy_button.isEnabled()
    label = np.zeros(model.shape, np.uint8)
    label[5:8, 5:8, 5:8] = 2
    model.set_segmentation(label)
    panel.refresh()
    assert "No enhancing tumour" in panel.rano_label.text() and not panel.show_button.isEnabled()


def test_rano_diameters_are_drawn_on_their_axial_slice(qtbot, synthetic_case):
    from tests.gui.qt_helpers import open_window, pixels

    window = open_window(qtbot, synthetic_case)
    model = window.model
    label = np.zeros(model.shape, np.uint8)
    centre = tuple(n // 2 for n in model.shape)
    x, y, z = np.ogrid[tuple(slice(0, n) for n in model.shape)]
    label[((x - centre[0]) / 8.0) ** 2 + ((y - centre[1]) / 5.0) ** 2 + ((z - centre[2]) / 3.0) ** 2 <= 1] = 4
    model.set_segmentation(label)
    panel = measure_panel.install(window)
    panel.refresh()
    rano = panel.measurements.bidimensional
    assert model.measurement_lines == [rano.longest_ends, rano.perpendicular_ends]
    model.set_cursor((centre[0], centre[1], rano.slice_index))
    view = window.axial_view
    assert view.measurement_lines.shown == 2
    image = pixels(view)
    cyan = (image[..., 2] > 200) & (image[..., 1] > 180) & (image[..., 0] < 140)
    assert cyan.sum() > 20, "the diameters are visible in the rendered axial view"
    model.set_cursor((centre[0], centre[1], rano.slice_index + 2))
    assert view.measurement_lines.shown == 0  # only on the slice where they were measured
