"""Measurement panel: lesion table (small foci apart, minimum volume setting, click to centre), follows edits
(debounced, incremental), copies a tab-separated table, shows the RANO slice, RANO handles, one slice numbering."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtWidgets import QApplication

from engine.measure import measure, measurement_rows
from gui.editing import measure_panel
from gui.editing.edit_controller import EditController
from gui.settings_store import MIN_LESION_ML_KEY
from tests.gui.edit_helpers import SPACING, BareWindow, make_model

pytestmark = pytest.mark.gui
LESIONS = "Lesions (>= 0.1 mL)"


def _store(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _table(panel) -> dict[str, str]:
    return {panel.table.item(r, 0).text(): panel.table.item(r, 1).text() for r in range(panel.table.rowCount())}


def _lesion_cells(panel) -> list[list[str]]:
    table = panel.lesion_table
    return [[table.item(r, c).text() if table.item(r, c) else "" for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def test_panel_shows_the_label_maps_measurements_and_follows_edits(qtbot, tmp_path):
    model = make_model(tmp_path)
    window = BareWindow(model)
    qtbot.addWidget(window)
    panel = measure_panel.install(window, _store(tmp_path))
    voxel_ml = np.prod(SPACING) / 1000
    assert _table(panel)["ET volume (mL)"] == f"{np.count_nonzero(model.label == 4) * voxel_ml:.2f}"
    assert _table(panel)[LESIONS] == "1" and _table(panel)["Small foci (< 0.1 mL)"] == "0 (0.00 mL)"
    controller = EditController(model)
    controller.update_settings(radius_mm=1.0, value=2)
    tool = controller.set_tool("brush")
    tool.press((35, 2, 2), 2, None)
    tool.release()
    assert panel.timer.isActive()  # debounced: not yet recomputed
    # a speck far from the lesion: a small focus, not a second lesion (it was counted as one before issue 17)
    qtbot.waitUntil(lambda: _table(panel)["Small foci (< 0.1 mL)"].startswith("1 "), timeout=3000)
    assert _table(panel)[LESIONS] == "1"
    assert panel.cache.last_changed_box is not None and panel.cache.last_changed_box[0].start >= 33  # incremental
    assert _table(panel)["WT volume (mL)"] == f"{np.count_nonzero(model.label) * voxel_ml:.2f}"
    cells = _lesion_cells(panel)
    assert len(cells) == 2 and cells[0][0] == "1" and cells[1][0].startswith("small foci (1)")
    assert panel.lesion_header.text().startswith("Lesions >= 0.1 mL (26-connected): 1; small foci (< 0.1 mL): 1")
    assert panel.lesion_table.horizontalHeaderItem(4).text() == "Total mL (>= 0.1)"


def test_minimum_lesion_volume_is_a_stored_setting(qtbot, tmp_path):
    model = make_model(tmp_path)
    model.label[35:37, 2:4, 2] = 2  # a 4-voxel speck (8 µL)
    store = _store(tmp_path)
    panel = measure_panel.MeasurePanel(model, store=store)
    qtbot.addWidget(panel)
    assert _table(panel)[LESIONS] == "1"
    panel.min_volume.setValue(0.0)
    assert _table(panel)["Lesions (>= 0 mL)"] == "2" and float(store.value(MIN_LESION_ML_KEY)) == 0.0
    assert panel.lesion_header.text().startswith("Lesions >= 0 mL")
    again = measure_panel.MeasurePanel(model, store=store)
    qtbot.addWidget(again)
    assert again.min_volume.value() == 0.0 and again.measurements.lesions == 2


def test_copy_as_table_and_rano_slice(qtbot, tmp_path):
    model = make_model(tmp_path)
    panel = measure_panel.MeasurePanel(model, store=_store(tmp_path))
    qtbot.addWidget(panel)
    text = panel.copy_table()
    assert QApplication.clipboard().text() == text
    summary, lesions = text.strip().split("\n\n")
    lines = [line.split("\t") for line in summary.splitlines()]
    assert lines[0] == ["Measurement", "Value"] and all(len(line) == 2 for line in lines)
    assert lesions.splitlines()[0].startswith("Lesion\tNCR mL\tED mL\tET mL\tTotal mL\tCentre slice")
    rano = measure(model.label, model.spacing).bidimensional
    assert dict(lines)["ET longest diameter (mm)"] == f"{rano.longest_mm:.1f}"
    assert dict(lines)["RANO axial slice"] == str(rano.slice_index + 1)  # counted from 1
    assert f"axial slice {rano.slice_index + 1}" in panel.rano_label.text()
    panel.show_rano_slice()
    (a, b) = rano.longest_ends
    assert model.cursor == tuple((p + q) // 2 for p, q in zip(a, b, strict=True))
    assert model.cursor[2] == rano.slice_index and model.label[model.cursor] in (1, 4)  # inside rim or cavity


def test_no_segmentation_and_no_et(qtbot, tmp_path):
    model = make_model(tmp_path, with_label=False)
    panel = measure_panel.MeasurePanel(model, store=_store(tmp_path))
    qtbot.addWidget(panel)
    assert panel.table.rowCount() == 0 and not panel.copy_button.isEnabled()
    label = np.zeros(model.shape, np.uint8)
    label[5:12, 5:12, 5:9] = 2  # 392 µL: a lesion without enhancement
    model.set_segmentation(label)
    panel.refresh()
    assert "No enhancing tumour" in panel.rano_label.text() and not panel.show_button.isEnabled()
    assert _lesion_cells(panel)[0][8] == "non-measurable"


def _two_lesion_label(shape) -> np.ndarray:
    label = np.zeros(shape, np.uint8)
    centre = tuple(n // 2 for n in shape)
    x, y, z = np.ogrid[tuple(slice(0, n) for n in shape)]
    label[((x - centre[0]) / 8.0) ** 2 + ((y - centre[1]) / 5.0) ** 2 + ((z - centre[2]) / 3.0) ** 2 <= 1] = 4
    label[2:8, 2:8, 2:6] = 2  # a second, smaller lesion (144 voxels: 0.35 mL at the synthetic case's spacing)
    return label


def test_rano_diameters_are_drawn_on_their_axial_slice(qtbot, synthetic_case, tmp_path):
    from tests.gui.qt_helpers import open_window, pixels

    window = open_window(qtbot, synthetic_case)
    model = window.model
    label = np.zeros(model.shape, np.uint8)
    centre = tuple(n // 2 for n in model.shape)
    x, y, z = np.ogrid[tuple(slice(0, n) for n in model.shape)]
    label[((x - centre[0]) / 8.0) ** 2 + ((y - centre[1]) / 5.0) ** 2 + ((z - centre[2]) / 3.0) ** 2 <= 1] = 4
    model.set_segmentation(label)
    panel = measure_panel.install(window, _store(tmp_path))
    panel.refresh()
    rano = panel.measurements.bidimensional
    assert model.measurement_lines == [rano.longest_ends, rano.perpendicular_ends]
    model.set_cursor((centre[0], centre[1], rano.slice_index))
    view = window.axial_view
    assert view.measurement_lines.shown == 2 and len(view.measurement_lines.handles) == 4
    image = pixels(view)
    cyan = (image[..., 2] > 200) & (image[..., 1] > 180) & (image[..., 0] < 140)
    assert cyan.sum() > 20, "the diameters are visible in the rendered axial view"
    model.set_cursor((centre[0], centre[1], rano.slice_index + 2))
    assert view.measurement_lines.shown == 0  # only on the slice where they were measured


def test_slice_numbers_agree_across_views_table_status_bar_and_report(qtbot, synthetic_case, tmp_path):
    """One numbering (from 1): the view's "Axial N/M", the table's centre slice, the status bar, the RANO text
    and the report text name the same slice for the same lesion."""
    from gui.review.report_render import ReportController
    from tests.gui.qt_helpers import open_window

    window = open_window(qtbot, synthetic_case)
    model = window.model
    model.set_segmentation(_two_lesion_label(model.shape))
    window.measure_panel = panel = measure_panel.install(window, _store(tmp_path))
    panel.refresh()
    table = panel.measurements.table
    report = ReportController(window).content()
    window.axial_view.zoom(3.0)  # zoomed in: a click also pans the view onto the lesion
    assert len(table.lesions) == 2
    for row, lesion in enumerate(table.lesions):
        rect = panel.lesion_table.visualItemRect(panel.lesion_table.item(row, 0))
        qtbot.mouseClick(panel.lesion_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert model.cursor == lesion.centre  # the click centres the views on the lesion
        x, y = window.axial_view.voxel_to_display_at(lesion.centre)
        width, height = window.axial_view.render_window.GetSize()
        assert abs(x - width / 2) <= 2 and abs(y - height / 2) <= 2
        number, total = lesion.centre[2] + 1, model.shape[2]
        assert window.axial_view.info_text.GetInput() == f"Axial  {number}/{total}"
        assert _lesion_cells(panel)[row][5] == str(number) == str(lesion.centre_slice)
        assert f"slice {number})" in report.lesion_rows[row][0]
        assert f"voxel ({lesion.centre[0] + 1}, {lesion.centre[1] + 1}, {number})" in window._cursor_label.text()
    panel.show_rano_slice()
    rano = panel.measurements.bidimensional
    shown = window.axial_view.info_text.GetInput()
    assert shown == f"Axial  {rano.slice_index + 1}/{model.shape[2]}"
    assert f"axial slice {rano.slice_index + 1}" in panel.rano_label.text()
    assert dict(report.rows)["RANO axial slice"] == str(rano.slice_index + 1)
    assert report.key_slices[0].title.endswith(f"axial {rano.slice_index + 1}/{model.shape[2]}")


def test_dragging_a_handle_corrects_the_rano_measurement_everywhere(qtbot, synthetic_case, tmp_path):
    from gui.review.report_render import ReportController
    from tests.gui.qt_helpers import open_window, qt_position, send_mouse

    window = open_window(qtbot, synthetic_case)
    model = window.model
    model.set_segmentation(_two_lesion_label(model.shape))
    window.measure_panel = panel = measure_panel.install(window, _store(tmp_path))
    panel.refresh()
    before = panel.measurements.bidimensional
    panel.show_rano_slice()
    view = window.axial_view
    start, end = before.perpendicular_ends
    target = (end[0], end[1] - 2, end[2])  # pull the perpendicular's end 2 voxels back
    cursor = model.cursor
    widget = view.vtk_widget
    send_mouse(widget, QEvent.Type.MouseButtonPress, qt_position(view, view.voxel_to_display_at(end)),
               Qt.MouseButton.LeftButton)
    assert view.measurement_lines.dragging is not None
    send_mouse(widget, QEvent.Type.MouseMove, qt_position(view, view.voxel_to_display_at(target)),
               Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, qt_position(view, view.voxel_to_display_at(target)),
               Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    assert model.cursor == cursor  # the handle took the mouse: the crosshair did not move
    after = panel.measurements.bidimensional
    assert after.corrected and after.perpendicular_ends == (start, target)
    assert after.perpendicular_mm < before.perpendicular_mm and after.longest_mm == before.longest_mm
    assert dict(measurement_rows(panel.measurements))["ET perpendicular diameter (mm)"] == f"{after.perpendicular_mm:.1f}"
    assert dict(ReportController(window).content().rows)["ET perpendicular diameter (mm)"] == \
        f"{after.perpendicular_mm:.1f}"
    record = panel.record()["lesions"][0]["rano"]
    assert record["corrected_by_user"] and record["perpendicular_mm"] == round(after.perpendicular_mm, 2)


def test_the_dock_shows_ten_rows_at_the_default_window_size(qtbot, tmp_path, monkeypatch):
    from engine.recovery import RECOVERY_ENV
    from gui.shell.app import DEFAULT_WINDOW_SIZE
    from gui.shell.workstation import build_workstation
    from tests.gui.edit_helpers import make_case
    from tests.gui.segment_helpers import isolated_store

    monkeypatch.setenv(RECOVERY_ENV, str(tmp_path / "recovery"))
    window = build_workstation(store=isolated_store(tmp_path))
    qtbot.addWidget(window)
    window.resize(*DEFAULT_WINDOW_SIZE)
    window.show()
    qtbot.waitExposed(window)
    case = make_case(tmp_path / "case")
    window.model.set_case(case)
    window.model.set_segmentation(case.label.copy())
    panel = window.measure_panel
    panel.refresh()
    QApplication.processEvents()
    table = panel.table
    assert table.rowCount() >= 10
    row_height = table.verticalHeader().defaultSectionSize()
    assert table.viewport().height() // row_height >= 10, (table.viewport().height(), row_height)
    assert panel.lesion_table.viewport().height() // row_height >= 3
    assert window.centralWidget().height() > 0.45 * DEFAULT_WINDOW_SIZE[1]  # the views keep about half the window


def test_the_exported_sidecar_carries_the_docks_measurements(qtbot, synthetic_case, tmp_path):
    """Export (NIfTI + sidecar, the DICOM-SEG's companion too) writes the lesion table and the corrected RANO."""
    import dataclasses
    import json

    from gui.review import export_controller
    from tests.gui.qt_helpers import open_window
    from tests.gui.segment_helpers import RUN_TIMEOUT_MS, isolated_store

    window = open_window(qtbot, synthetic_case)
    window.model.set_segmentation(_two_lesion_label(window.model.shape), source="file")
    window.measure_panel = panel = measure_panel.install(window, _store(tmp_path))
    exporter = export_controller.install(window, None, isolated_store(tmp_path))
    panel.refresh()
    lesion = panel.measurements.table.primary
    a, b = lesion.rano.longest_ends
    panel.cache.correct(lesion.key, "longest", (a, (b[0] - 1, b[1], b[2])))
    panel.measurements = dataclasses.replace(panel.measurements, table=panel.cache.table)
    with qtbot.waitSignal(exporter.finished, timeout=RUN_TIMEOUT_MS) as done:
        assert exporter.export("nifti", tmp_path / "out")
    sidecar = json.loads(done.args[0].files["json"].read_text())
    record = sidecar["measurements"]
    assert record == json.loads(json.dumps(panel.record()))
    assert record["lesion_count"] == 2 and record["small_foci"]["count"] == 0
    assert record["lesions"][0]["rano"]["corrected_by_user"]
    assert record["voxel_grid"].startswith("the viewer's grid")
    exporter.shutdown()
