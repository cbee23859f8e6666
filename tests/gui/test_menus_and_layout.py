"""Menus, shortcuts, Help > Controls, the Settings dialog's size and the saved window layout (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from gui.review import settings_dialog
from gui.review.settings_dialog import SegmentationSettings
from gui.settings_store import (
    InteractionSettings,
    load_interaction_settings,
    load_window_layout,
    save_window_layout,
)
from gui.shell.main_window import MainWindow
from gui.shell.window_layout import LAYOUT_VERSION
from tests.gui.qt_helpers import load, open_window
from tests.gui.segment_helpers import isolated_store

pytestmark = pytest.mark.gui


def _plain(text: str) -> str:
    return text.replace("&", "")


def _keys(action: QAction) -> list[str]:
    return [key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts() if not key.isEmpty()]


def test_file_menu_is_open_save_report_then_quit_and_the_toolbar_names_the_ctrl_o_action(workstation) -> None:
    window = workstation
    actions = window.menus["File"].actions()
    texts = [_plain(a.text()) for a in actions if not a.isSeparator()]
    assert texts[-1] == "Quit" and actions[-2].isSeparator()
    assert texts.index("Save Segmentation") < texts.index("Save Report...") < texts.index("Quit")
    last_open = max(i for i, text in enumerate(texts) if text.startswith("Open"))
    assert last_open < texts.index("Save Segmentation")
    ctrl_o = [a for a in window.findChildren(QAction) if QKeySequence("Ctrl+O") in a.shortcuts()]
    assert len(ctrl_o) == 1
    toolbar_opens = [a for a in window.toolbar.actions() if _plain(a.text()).startswith("Open")]
    assert toolbar_opens == ctrl_o and _plain(ctrl_o[0].text()) == "Open Study..."
    assert "Open Case..." not in texts  # one name for one job


def test_every_shortcut_is_unique_and_undo_redo_follow_the_platforms(workstation) -> None:
    window = workstation
    owners: dict[str, list[str]] = {}
    for action in window.findChildren(QAction):
        for key in action.shortcuts():
            if not key.isEmpty():
                owners.setdefault(key.toString(), []).append(_plain(action.text()))
    assert not {key: names for key, names in owners.items() if len(names) > 1}
    assert owners["Ctrl+Z"] == ["Undo edit"]
    assert owners["Ctrl+Y"] == owners["Ctrl+Shift+Z"] == ["Redo edit"]
    assert "Ctrl+W" not in owners  # no longer "reset window/level"; deliberately unassigned
    assert owners["W"] == ["Reset Window/Level"]


def test_help_controls_lists_every_action_with_its_shortcuts(workstation) -> None:
    window = workstation
    dialog = window.show_controls()
    text = dialog.browser.toPlainText()
    with_keys = [a for a in window.findChildren(QAction) if _keys(a)]
    assert len(with_keys) > 30
    for action in with_keys:
        assert _plain(action.text()) in text, action.text()
        for key in _keys(action):
            assert key in text, f"{action.text()}: {key}"
    assert "Save Report..." in text and "Segment" in text and "Brush tool" in text
    assert "3D Slicer" in text and "window (left-right)" in text
    # Generated when opened: a later preset (or action) shows up without touching any help text.
    window.set_interaction_preset("itksnap")
    extra = QAction("Zz test action", window)
    extra.setShortcut(QKeySequence("Ctrl+Alt+F12"))
    window.addAction(extra)
    text = window.show_controls().browser.toPlainText()
    assert "ITK-SNAP" in text and "Zz test action" in text
    assert QKeySequence("Ctrl+Alt+F12").toString(QKeySequence.SequenceFormat.NativeText) in text
    dialog.close()


def test_view_menu_label_checks_show_the_real_state_at_start(qtbot, synthetic_case: Path) -> None:
    window = open_window(qtbot)
    style = window.model.overlay_style
    assert all(action.isChecked() == style.label_visible(value) for value, action in window.label_actions.items())
    assert all(action.isChecked() for action in window.label_actions.values())  # every label shown at start
    assert window.overlay_action.isChecked() == window.model.overlay_visible
    load(qtbot, window, synthetic_case)
    assert all(action.isChecked() for action in window.label_actions.values())
    window.label_actions[2].trigger()  # hide ED
    assert not window.model.overlay_style.label_visible(2) and not window.label_actions[2].isChecked()


def test_window_geometry_and_docks_are_restored_at_start(qtbot, tmp_path: Path) -> None:
    store = isolated_store(tmp_path)
    assert load_window_layout(store) == (None, None)
    first = MainWindow(layout_store=store)
    qtbot.addWidget(first)
    first.resize(870, 640)
    first.show()
    qtbot.waitExposed(first)
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.review_panel)
    first.close()
    geometry, state = load_window_layout(isolated_store(tmp_path))
    assert geometry is not None and state is not None
    second = MainWindow(layout_store=isolated_store(tmp_path))
    qtbot.addWidget(second)
    assert second.dockWidgetArea(second.review_panel) == Qt.DockWidgetArea.RightDockWidgetArea  # not yet shown
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (870, 640)
    assert second.dockWidgetArea(second.review_panel) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert isinstance(second.review_panel, QDockWidget)


def test_a_layout_saved_by_another_layout_version_is_ignored(qtbot, tmp_path: Path) -> None:
    old = MainWindow(layout_store=isolated_store(tmp_path))
    qtbot.addWidget(old)
    old.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, old.review_panel)
    save_window_layout(isolated_store(tmp_path), old.saveGeometry(), old.saveState())  # version 0: what earlier RevSeg saved
    window = MainWindow(layout_store=isolated_store(tmp_path))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.dockWidgetArea(window.review_panel) == Qt.DockWidgetArea.RightDockWidgetArea  # the default
    assert LAYOUT_VERSION > 0


def test_settings_dialog_fits_a_long_path_and_its_whole_error_text(qtbot, tmp_path: Path) -> None:
    deep = tmp_path / "research-share" / "glioma-weights"
    deep.mkdir(parents=True)
    junk = deep / "revseg-brats-fold0.safetensors"  # a path of about 120 characters
    junk.write_bytes(b"x" * 20)
    dialog = settings_dialog.SettingsDialog(SegmentationSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.weights_edit.setText(str(junk))
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.isVisible() and "unusable" in dialog.info_label.text()
    edit, label = dialog.weights_edit, dialog.info_label
    assert edit.width() >= edit.fontMetrics().horizontalAdvance(str(junk))  # the whole path is visible
    assert label.width() >= label.minimumSizeHint().width()
    assert label.height() >= label.heightForWidth(label.width())  # no line of the error is clipped
    assert label.width() >= label.sizeHint().width()  # the hinted width fits (its height is for that width)
    assert dialog.rect().contains(label.geometry())
    absurd = tmp_path.joinpath(*[f"folder-{n}-of-a-long-hospital-share" for n in range(8)], "w.safetensors")
    dialog.weights_edit.setText(str(absurd))  # wider than the screen allows: the end shows, the tooltip has it all
    assert edit.toolTip() == str(absurd) and edit.cursorPosition() == len(str(absurd))
    assert dialog.width() <= dialog.screen().availableGeometry().width()


def test_interaction_settings_persist_and_reach_the_views_and_the_brush(workstation, tmp_path: Path) -> None:
    window = workstation
    controller = window.segment_settings
    assert controller.interaction == InteractionSettings("slicer", True)
    assert window.edit_controller.settings.foreground_only
    dialog = controller.open_dialog()
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("itksnap"))
    dialog.foreground_check.setChecked(False)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert all(view.interaction_preset == "itksnap" for view in window.editable_views)
    assert not window.edit_controller.settings.foreground_only
    stored = load_interaction_settings(isolated_store(tmp_path))
    assert stored == InteractionSettings("itksnap", False)
    assert controller.settings == SegmentationSettings()  # the segmentation settings were left alone


def test_interaction_settings_fall_back_on_junk(tmp_path: Path) -> None:
    store = QSettings(str(tmp_path / "junk.ini"), QSettings.Format.IniFormat)
    store.setValue("interaction/mouse_preset", "osirix")
    store.setValue("interaction/paint_foreground_only", "false")
    assert load_interaction_settings(store) == InteractionSettings("slicer", False)
    with pytest.raises(ValueError, match="mouse preset"):
        InteractionSettings("osirix")
