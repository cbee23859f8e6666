"""Settings dialog: weights file, device and minimum lesion volume kept in QSettings; the demo and no-weights notices."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMainWindow

from engine.inference.postprocess import DEFAULT_MIN_COMPONENT_ML
from gui.review import settings_dialog
from gui.review.settings_dialog import (
    DEMO_STATUS,
    NO_WEIGHTS,
    SegmentationSettings,
    load_settings,
    read_weights_info,
    weights_status,
)
from tests.gui.segment_helpers import isolated_store, tiny_weights

pytestmark = pytest.mark.gui


def test_settings_round_trip_through_qsettings(tmp_path: Path) -> None:
    store = isolated_store(tmp_path)
    assert load_settings(store) == SegmentationSettings(None, "auto")
    settings_dialog.save_settings(store, SegmentationSettings(tmp_path / "w.safetensors", "cpu"))
    again = load_settings(isolated_store(tmp_path))
    assert again == SegmentationSettings(tmp_path / "w.safetensors", "cpu")
    store.setValue("segmentation/device", "tpu")
    assert load_settings(store).device == "auto"


def test_weights_info_reads_the_demo_flag(tmp_path: Path) -> None:
    assert read_weights_info(tiny_weights(tmp_path, demo=True)).demo
    assert not read_weights_info(tiny_weights(tmp_path, demo=False)).demo
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    assert "not a safetensors file" in read_weights_info(junk).problem
    assert "does not exist" in read_weights_info(tmp_path / "missing.safetensors").problem


def test_status_without_weights_says_where_to_choose_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gui.review.settings_dialog.BUNDLED_WEIGHTS", tmp_path / "missing.safetensors")
    text, usable = weights_status(SegmentationSettings(None, "auto"))
    assert text == NO_WEIGHTS and not usable and "Settings" in text


def test_controller_shows_demo_notice_and_dialog_applies(qtbot, tmp_path: Path) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    store = isolated_store(tmp_path)
    controller = settings_dialog.install(window, store)
    demo = tiny_weights(tmp_path, demo=True)
    dialog = controller.open_dialog()
    qtbot.addWidget(dialog)
    dialog.weights_edit.setText(str(demo))
    dialog.device_combo.setCurrentText("cpu")
    assert DEMO_STATUS in dialog.info_label.text()
    with qtbot.waitSignal(controller.changed, timeout=2000):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert controller.settings == SegmentationSettings(demo, "cpu")
    assert DEMO_STATUS in controller.status_text and "tiny-demo.safetensors" in controller.status_text
    assert load_settings(isolated_store(tmp_path)).weights == demo  # persisted
    plain = tiny_weights(tmp_path, demo=False)
    controller.apply(SegmentationSettings(plain, "cpu"))
    assert "not for clinical use" not in controller.status_text and "tiny.safetensors" in controller.status_text
    assert controller.action.toolTip() and controller.action.shortcut().toString()


def test_dialog_refuses_an_unusable_file(qtbot, tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"x" * 20)
    dialog = settings_dialog.SettingsDialog(SegmentationSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.weights_edit.setText(str(junk))
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.isVisible() and "unusable" in dialog.info_label.text()


def test_controllers_share_menus_of_the_main_window(qtbot, tmp_path: Path) -> None:
    from gui.review import export_controller, segment_controller
    from tests.gui.qt_helpers import open_window

    window = open_window(qtbot)
    settings = settings_dialog.install(window, isolated_store(tmp_path))
    segment_controller.install(window, settings)
    export_controller.install(window)
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles.count("Segmentation") == 1 and titles.count("Export") == 1
    assert titles.index("Export") < titles.index("Help") == len(titles) - 1
    segmentation = window.menuBar().actions()[titles.index("Segmentation")].menu()
    assert [a.text() for a in segmentation.actions()][:2] == ["&Segment", "&Cancel Segmentation"]
    assert all(a.toolTip() for a in segmentation.actions() if not a.isSeparator())


def test_min_lesion_volume_round_trips_and_falls_back_to_the_default(tmp_path: Path) -> None:
    store = isolated_store(tmp_path)
    assert load_settings(store).min_lesion_ml == DEFAULT_MIN_COMPONENT_ML
    settings_dialog.save_settings(store, SegmentationSettings(None, "cpu", 0.75))
    assert load_settings(isolated_store(tmp_path)).min_lesion_ml == 0.75  # the INI file stores it as text
    for junk in ("-1", "lots"):
        store.setValue("segmentation/min_lesion_ml", junk)
        assert load_settings(store).min_lesion_ml == DEFAULT_MIN_COMPONENT_ML


def test_dialog_min_lesion_volume_reaches_the_segmenter(qtbot, tmp_path: Path) -> None:
    from gui.review import segment_controller
    from tests.gui.qt_helpers import open_window

    window = open_window(qtbot)
    settings = settings_dialog.install(window, isolated_store(tmp_path))
    segmenting = segment_controller.install(window, settings)
    dialog = settings.open_dialog()
    qtbot.addWidget(dialog)
    assert dialog.min_lesion_spin.value() == DEFAULT_MIN_COMPONENT_ML and dialog.min_lesion_spin.minimum() == 0
    dialog.weights_edit.setText(str(tiny_weights(tmp_path, demo=False)))
    dialog.min_lesion_spin.setValue(0.4)
    with qtbot.waitSignal(settings.changed, timeout=2000):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert settings.settings.min_lesion_ml == 0.4
    first = segmenting._segmenter(settings.settings, None)
    assert first.postprocess.min_component_ml == 0.4
    settings.apply(SegmentationSettings(settings.settings.weights, settings.settings.device, 0.0))
    second = segmenting._segmenter(settings.settings, None)
    assert second.postprocess.min_component_ml == 0.0 and second.network is first.network  # no reload
