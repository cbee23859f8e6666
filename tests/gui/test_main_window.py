"""The viewer window on tiny synthetic cases: orientation, linked crosshair, scrolling, window/level, contrast
switch, overlay, opening cases (menu, drag and drop, bad folders) and teardown. Assertions are made on the
pixels VTK rendered, read back from the render windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from gui.viewer.viewer_model import WindowLevel
from tests.gui.conftest import MARKER, MARKER_VALUE, write_synthetic_case
from tests.gui.qt_helpers import (
    click,
    drag,
    grey_pixels,
    load,
    open_window,
    pixels,
    qt_position,
    send_drag_enter,
    send_drop,
    url_mime,
    wheel,
)

pytestmark = pytest.mark.gui


def marker_centroid(view) -> tuple[float, float]:
    """Centre (x, y) of the pure-white pixels, relative to the view size (0..1, y down)."""
    image = pixels(view)
    white = grey_pixels(image, minimum=250)
    assert white.sum() > 20, f"{view.plane.name}: marker not visible"
    rows, columns = np.nonzero(white)
    return columns.mean() / image.shape[1], rows.mean() / image.shape[0]


@pytest.mark.parametrize("stored", ["LPS", "RAS"])
def test_right_anterior_superior_marker_shows_top_left_in_every_plane(qtbot, tmp_path: Path, stored: str) -> None:
    """Radiological display: R on the left in axial/coronal, A up in axial, A left in sagittal, S up."""
    window = open_window(qtbot, write_synthetic_case(tmp_path / "case", stored=stored))
    model = window.model
    model.set_cursor(tuple((s.start + s.stop) // 2 for s in MARKER))
    model.set_window_level(window=100.0, level=MARKER_VALUE - 50.0)  # only the marker is white
    for view in window.slice_views:
        x, y = marker_centroid(view)
        assert x < 0.5 and y < 0.5, f"{view.plane.name}: marker at ({x:.2f}, {y:.2f}), expected top-left"


def test_orientation_labels_sit_at_the_edges(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    for view in window.slice_views:
        texts = [actor.GetInput() for actor in view.edge_labels]
        assert texts == list(view.plane.edge_labels)
        positions = [tuple(actor.GetPositionCoordinate().GetValue()[:2]) for actor in view.edge_labels]
        assert positions[0][0] < 0.05 and positions[1][0] > 0.95  # left, right
        assert positions[2][1] > 0.95 and positions[3][1] < 0.05  # top, bottom
    # The label glyphs are really drawn: the left edge of the axial view has coloured (text) pixels.
    image = pixels(window.axial_view)
    middle = image[image.shape[0] // 3: 2 * image.shape[0] // 3, :25].astype(int)
    assert (middle[..., 2] - middle[..., 0] > 40).sum() > 10


def test_click_in_axial_moves_coronal_and_sagittal_slices(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    model, axial = window.model, window.axial_view
    before_coronal, before_sagittal = pixels(window.coronal_view), pixels(window.sagittal_view)
    start = model.cursor
    target = (start[0] + 9, start[1] - 7, start[2])
    display_xy = axial.voxel_to_display_at(target)
    assert axial.display_to_voxel_at(*display_xy) == target
    click(axial.vtk_widget, qt_position(axial, display_xy))
    assert model.cursor == target
    assert window.coronal_view.slice_index == target[1]
    assert window.sagittal_view.slice_index == target[0]
    assert axial.slice_index == start[2]
    assert not np.array_equal(pixels(window.coronal_view), before_coronal)
    assert not np.array_equal(pixels(window.sagittal_view), before_sagittal)


def test_dragging_in_coronal_moves_the_axial_slice(qtbot, synthetic_case: Path) -> None:
    """Left drag moves the crosshair in the ITK-SNAP preset (issue 17: in the default 3D Slicer preset it sets
    window/level; tests/gui/test_interaction_presets.py covers both)."""
    window = open_window(qtbot, synthetic_case)
    window.set_interaction_preset("itksnap")
    model, coronal = window.model, window.coronal_view
    start = model.cursor
    begin = qt_position(coronal, coronal.voxel_to_display_at(start))
    end = qt_position(coronal, coronal.voxel_to_display_at((start[0], start[1], start[2] + 6)))
    drag(coronal.vtk_widget, begin, end, Qt.MouseButton.LeftButton)
    assert model.cursor[2] == start[2] + 6
    assert window.axial_view.slice_index == start[2] + 6


def test_mouse_wheel_scrolls_the_axial_slice(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    axial = window.axial_view
    start, before = axial.slice_index, pixels(axial)
    wheel(axial.vtk_widget, +3)
    assert axial.slice_index == start + 3
    assert not np.array_equal(pixels(axial), before)
    wheel(axial.vtk_widget, -5)
    assert axial.slice_index == start - 2
    assert window.model.cursor[:2] == tuple(n // 2 for n in window.model.shape[:2])


def test_arrow_keys_scroll_and_r_resets_zoom(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    sagittal = window.sagittal_view
    start = sagittal.slice_index
    QTest.keyClick(sagittal.vtk_widget, Qt.Key.Key_Up)
    QTest.keyClick(sagittal.vtk_widget, Qt.Key.Key_Up)
    QTest.keyClick(sagittal.vtk_widget, Qt.Key.Key_Down)
    assert sagittal.slice_index == start + 1
    QTest.keyClick(sagittal.vtk_widget, Qt.Key.Key_PageDown)
    assert sagittal.slice_index == start + 1 - 10
    camera = sagittal.renderer.GetActiveCamera()
    fitted = camera.GetParallelScale()
    sagittal.zoom(2.0)
    assert camera.GetParallelScale() == pytest.approx(fitted / 2)
    QTest.keyClick(sagittal.vtk_widget, Qt.Key.Key_R)
    assert camera.GetParallelScale() == pytest.approx(fitted)


def test_left_drag_changes_window_and_level(qtbot, synthetic_case: Path) -> None:
    """Issue 17 moved window/level from the right button (now zoom) to the left one (3D Slicer preset)."""
    window = open_window(qtbot, synthetic_case)
    model, axial = window.model, window.axial_view
    before_pixels = pixels(axial)
    before: WindowLevel = model.window_level
    centre = QPoint(axial.vtk_widget.width() // 2, axial.vtk_widget.height() // 2)
    drag(axial.vtk_widget, centre, centre + QPoint(80, -40), Qt.MouseButton.LeftButton)
    after = model.window_level
    assert after.window > before.window  # dragged right: wider window
    assert after.level > before.level  # dragged up (Qt y decreases): higher level
    assert model.cursor == tuple(n // 2 for n in model.shape)  # W/L drag leaves the crosshair alone
    assert not np.array_equal(pixels(axial), before_pixels)
    assert axial.image_actor.GetProperty().GetColorWindow() == pytest.approx(after.window)


def test_modality_switch_changes_rendered_pixels(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    assert [window.modality_combo.itemText(i) for i in range(window.modality_combo.count())] == \
        ["T1", "T1ce", "T2", "FLAIR"]
    assert window.modality_combo.currentText() == "T1ce"
    before = [pixels(view) for view in window.slice_views]
    window.modality_combo.setCurrentIndex(window.modality_combo.findText("FLAIR"))
    assert window.model.active_modality == "flair"
    for view, old in zip(window.slice_views, before, strict=True):
        assert not np.array_equal(pixels(view), old), view.plane.name
    window.set_modality("t1")
    assert window.modality_combo.currentText() == "T1"


def test_label_overlay_is_drawn_in_brats_colours_and_can_be_hidden(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    model = window.model
    # Put the cursor in the tumour's core (left hemisphere), where all three labels are in the axial slice.
    label = model.label
    core = np.argwhere(label == 1).mean(axis=0).round().astype(int)
    model.set_cursor(tuple(core))
    model.set_overlay(opacity=1.0)
    image = pixels(window.axial_view).astype(int)
    red = (image[..., 0] > 180) & (image[..., 1] < 90) & (image[..., 2] < 90)
    green = (image[..., 1] > 160) & (image[..., 0] < 110) & (image[..., 2] < 130)
    yellow = (image[..., 0] > 200) & (image[..., 1] > 180) & (image[..., 2] < 90)
    assert red.sum() > 20 and green.sum() > 20 and yellow.sum() > 20
    # The tumour is in the patient's left hemisphere: the right half of the radiological axial view.
    assert np.nonzero(green)[1].mean() > image.shape[1] / 2
    window.overlay_check.setChecked(False)
    assert model.overlay_visible is False
    hidden = pixels(window.axial_view).astype(int)
    assert ((hidden[..., 1] > 160) & (hidden[..., 0] < 110) & (hidden[..., 2] < 130)).sum() == 0


def test_status_bar_reports_cursor_voxel_and_value(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    window.model.set_cursor((5, 6, 7))
    text = window._cursor_label.text()
    assert "voxel (6, 7, 8)" in text  # counted from 1, as the views' slice numbers
    assert f"T1ce {window.model.value_at_cursor():.1f}" in text


def test_opening_a_bad_folder_shows_the_error_and_keeps_the_case(qtbot, monkeypatch, synthetic_case: Path,
                                                                  tmp_path: Path) -> None:
    messages: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: messages.append((title, text)))
    window = open_window(qtbot, synthetic_case)
    case = window.model.case
    bad = tmp_path / "not-a-case"
    bad.mkdir()
    (bad / "notes.txt").write_text("no images here")
    with qtbot.waitSignal(window.load_failed, timeout=10_000):
        window.open_case(bad)
    assert len(messages) == 1
    title, text = messages[0]
    assert "no MRI volumes found" in text and "Traceback" not in text
    assert window.model.case is case
    broken = tmp_path / "broken"
    write_synthetic_case(broken)
    next(broken.glob("*_t2.nii.gz")).write_bytes(b"not a nifti file")
    with qtbot.waitSignal(window.load_failed, timeout=10_000):
        window.open_case(broken)
    assert "not a readable NIfTI image" in messages[-1][1]
    assert window.model.case is case


def test_dropping_a_folder_opens_it(qtbot, synthetic_case: Path, tmp_path: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    other = write_synthetic_case(tmp_path / "other", naming="2023", case_id="BraTS-GLI-99999-000")
    mime = url_mime(other)
    assert send_drag_enter(window, mime).isAccepted()
    with qtbot.waitSignal(window.case_loaded, timeout=30_000) as blocker:
        send_drop(window, mime)
    assert blocker.args == ["BraTS-GLI-99999-000"]
    assert window.model.case.folder == other
    assert set(np.unique(window.model.label)) == {0, 1, 2, 4}  # 2023 labels arrive converted (3 -> 4)
    assert "BraTS-GLI-99999-000" in window.windowTitle()


def test_dragging_text_is_refused(qtbot) -> None:
    window = open_window(qtbot)
    mime = QMimeData()
    mime.setText("hello")
    assert not send_drag_enter(window, mime).isAccepted()


def test_file_open_case_uses_the_chosen_folder(qtbot, monkeypatch, synthetic_case: Path) -> None:
    from gui.shell import main_window

    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory", lambda *a, **k: str(synthetic_case))
    window = open_window(qtbot)
    with qtbot.waitSignal(window.case_loaded, timeout=30_000):
        window.open_action.trigger()
    assert window.model.case.folder == synthetic_case


def test_3d_view_renders_the_volume(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot)
    empty = pixels(window.volume_view)
    load(qtbot, window, synthetic_case)
    rendered = pixels(window.volume_view)
    assert window.volume_view.volume.GetVisibility()
    centre = rendered[rendered.shape[0] // 4: 3 * rendered.shape[0] // 4, rendered.shape[1] // 4: 3 *
                      rendered.shape[1] // 4].astype(int)
    empty_centre = empty[empty.shape[0] // 4: 3 * empty.shape[0] // 4, empty.shape[1] // 4: 3 *
                         empty.shape[1] // 4].astype(int)
    assert np.abs(centre - empty_centre).max(axis=2).mean() > 10  # the volume covers much of the centre


def test_closing_finalises_every_render_window(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    views = (*window.slice_views, window.volume_view)
    finalised: list[object] = []
    for view in views:
        original = view.vtk_widget.Finalize
        view.vtk_widget.Finalize = lambda original=original, view=view: (finalised.append(view), original())[1]
    window.close()
    assert finalised == list(views)
    assert all(view._closed for view in views)
    # After closing, model changes no longer reach the (dead) views.
    assert len(window.model.cursor_changed) == 1  # only the window's own status-bar callback is left
    window.model.move_slice(2, 1)
