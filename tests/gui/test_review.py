"""Reviewing a segmentation, judged on the pixels VTK rendered: label colours, hiding a label, outlines that
leave the anatomy visible, regions, live updates on label changes, the uncertainty overlay and its slice
stepping, window presets, the status bar under the mouse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt

from engine.labels import LABEL_INFO
from gui.viewer.overlay_style import DEFAULT_REGION_COLORS
from gui.viewer.viewer_model import window_presets
from tests.gui.qt_helpers import open_window, pixels, qt_position, send_mouse

pytestmark = pytest.mark.gui


def colour_mask(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 30) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(rgb)) <= tolerance).all(axis=2)


def label_pixels(view, value: int) -> int:
    return int(colour_mask(pixels(view), LABEL_INFO[value].rgb).sum())


def window_at_tumour_core(qtbot, folder: Path):
    window = open_window(qtbot, folder)
    core = np.argwhere(window.model.label == 1).mean(axis=0).round().astype(int)
    window.model.set_cursor(tuple(core))
    window.model.set_overlay(opacity=1.0)
    return window


def test_hiding_a_label_removes_its_colour_from_the_render(qtbot, synthetic_case: Path) -> None:
    window = window_at_tumour_core(qtbot, synthetic_case)
    axial = window.axial_view
    assert label_pixels(axial, 2) > 20 and label_pixels(axial, 1) > 20 and label_pixels(axial, 4) > 20
    window.review_panel.label_checks[2].setChecked(False)  # the panel's oedema box
    assert 2 in window.model.overlay_style.hidden_labels
    assert label_pixels(axial, 2) == 0
    assert label_pixels(axial, 1) > 20 and label_pixels(axial, 4) > 20  # the others stay
    window.label_actions[2].trigger()  # View > Show ED (Alt+2) brings it back
    assert label_pixels(axial, 2) > 20
    assert window.review_panel.label_checks[2].isChecked()


def test_outline_mode_leaves_the_anatomy_inside_visible(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    axial, model = window.axial_view, window.model
    block = np.zeros(model.shape, np.uint8)
    block[10:34, 8:32, 10:20] = 2  # a large oedema block: 24 x 24 voxels in the axial slice
    model.set_segmentation(block)
    model.set_overlay(opacity=1.0)
    model.set_overlay(visible=False)
    anatomy = pixels(axial)
    model.set_overlay(visible=True)
    filled = pixels(axial)
    window.outline_action.trigger()  # O
    assert model.overlay_style.outline
    outlined = pixels(axial)
    differs_filled = np.abs(filled.astype(int) - anatomy).max(axis=2) > 10
    differs_outline = np.abs(outlined.astype(int) - anatomy).max(axis=2) > 10
    # Filled labels cover the tumour; outlines cover a small part of that and keep the rest as the anatomy.
    assert differs_filled.sum() > 200
    assert 0 < differs_outline.sum() < 0.3 * differs_filled.sum()
    interior = differs_filled & ~differs_outline
    assert interior.sum() > 0.7 * differs_filled.sum()
    assert np.array_equal(outlined[interior], anatomy[interior])
    assert colour_mask(outlined, LABEL_INFO[2].rgb).sum() > 10  # the oedema's outline is drawn in its colour


def test_regions_mode_draws_the_whole_tumour_in_one_colour(qtbot, synthetic_case: Path) -> None:
    window = window_at_tumour_core(qtbot, synthetic_case)
    enhancing = colour_mask(pixels(window.axial_view), LABEL_INFO[4].rgb)
    assert enhancing.sum() > 20
    window.review_panel.region_checks["WT"].setChecked(True)
    image = pixels(window.axial_view)
    wt = colour_mask(image, DEFAULT_REGION_COLORS["WT"])
    assert wt.sum() > 100
    assert wt[enhancing].mean() > 0.9  # ET is inside WT and WT alone is shown
    window.review_panel.region_checks["ET"].setChecked(True)
    assert colour_mask(pixels(window.axial_view), DEFAULT_REGION_COLORS["ET"]).sum() > 20


def test_segmentation_and_in_place_edits_re_render_without_a_slice_change(qtbot, synthetic_case: Path) -> None:
    window = window_at_tumour_core(qtbot, synthetic_case)
    model = window.model
    original = model.label.copy()
    model.set_segmentation(np.zeros_like(original), source="ai")
    for view in window.slice_views:
        assert label_pixels(view, 2) == 0, view.plane.name
    model.label[original == 2] = 2  # an editor paints in place ...
    model.notify_label_edited()  # ... and says so
    assert model.label_source == "edited"
    for view in window.slice_views:
        assert label_pixels(view, 2) > 20, view.plane.name


def with_uncertainty(window) -> np.ndarray:
    """Give the case a segmentation whose uncertainty lies in two axial slabs: slices 5 and 20."""
    uncertainty = np.zeros(window.model.shape, np.float32)
    uncertainty[10:30, 10:30, 5] = 0.9
    uncertainty[12:20, 15:25, 20] = 0.8
    window.model.set_segmentation(window.model.label.copy(), uncertainty)
    return uncertainty


def test_uncertainty_overlay_renders_and_next_slice_steps_through(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    model, axial = window.model, window.axial_view
    assert not window.uncertainty_action.isEnabled()
    with_uncertainty(window)
    assert window.uncertainty_action.isEnabled()
    model.set_cursor((20, 20, 5))
    magenta = (255, 40, 255)
    assert colour_mask(pixels(axial), magenta, 60).sum() == 0  # off by default
    window.uncertainty_action.trigger()  # Ctrl+U
    assert colour_mask(pixels(axial), magenta, 60).sum() > 100
    model.set_cursor((20, 20, 16))
    window.next_uncertain_action.trigger()  # N
    assert model.cursor[2] == 20
    assert model.cursor[:2] == (16, 20)  # the centre of the uncertain voxels
    assert colour_mask(pixels(axial), magenta, 60).sum() > 20
    window.review_panel.next_button.click()
    assert model.cursor[2] == 5  # wrapped around
    assert "uncertainty 0.90" in window._cursor_label.text()


def test_window_presets_follow_the_shown_contrast(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    model = window.model
    before = pixels(window.axial_view)
    window.preset_actions[1].trigger()  # F6: narrow
    expected = window_presets("t1ce", model.default_window_levels["t1ce"])["Narrow"]
    assert model.window_levels["t1ce"] == expected
    assert not np.array_equal(pixels(window.axial_view), before)
    window.set_modality("flair")
    assert window.preset_actions[3].text() == "FLAIR: Oedema"
    window.preset_actions[3].trigger()
    assert model.window_levels["flair"] == window_presets("flair", model.default_window_levels["flair"])["Oedema"]
    assert model.window_levels["t1ce"] == expected  # per contrast


def test_status_bar_follows_the_mouse(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot, synthetic_case)
    axial, model = window.axial_view, window.model
    target = (10, 12, model.cursor[2])
    position = qt_position(axial, axial.voxel_to_display_at(target))
    send_mouse(axial.vtk_widget, QEvent.Type.MouseMove, position, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    text = window._cursor_label.text()
    world = model.case.affine @ np.array([*target, 1.0])
    assert text.startswith("mouse") and f"voxel (11, 13, {model.cursor[2] + 1})" in text  # counted from 1
    assert f"RAS ({world[0]:.1f}, {world[1]:.1f}, {world[2]:.1f})" in text
    assert f"T1ce {model.case.volumes['t1ce'].data[target]:.1f}" in text
    assert model.cursor != target  # hovering does not move the crosshair


def test_menus_and_shortcuts_with_tips(qtbot) -> None:
    window = open_window(qtbot)
    assert set(window.menus) == {"File", "View", "Segmentation", "Tools", "Help"}
    for action in (window.outline_action, window.uncertainty_action, window.grid_action, *window.preset_actions):
        assert action.statusTip() and action.shortcut().toString()
    shortcuts = [a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()]
    assert len(shortcuts) == len(set(shortcuts)), "a shortcut is used twice"
