"""Shared pieces of the segmentation GUI tests: isolated settings, a tiny checkpoint, a small case."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.recovery import RECOVERY_ENV
from gui.review.settings_dialog import SegmentationSettings, SettingsController
from gui.shell.main_window import MainWindow
from gui.shell.workstation import build_workstation
from tests.engine.inference.helpers import small_case, tiny_checkpoint

RUN_TIMEOUT_MS = 120_000


def isolated_store(folder: Path) -> QSettings:
    """Settings in an INI file of the test's own (never the user's settings)."""
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)


def shown_workstation(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MainWindow:  # noqa: ANN001
    """The full workstation, its settings and recovery files under ``tmp_path``, shown at 1100 x 800.

    Each test module's fixture adds its own teardown (and ``qtbot.addWidget`` where it wants qtbot to close it).
    """
    monkeypatch.setenv(RECOVERY_ENV, str(tmp_path / "recovery"))
    window = build_workstation(store=isolated_store(tmp_path))
    window.resize(1100, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def tiny_weights(folder: Path, demo: bool = True) -> Path:
    return tiny_checkpoint(folder / ("tiny-demo.safetensors" if demo else "tiny.safetensors"), demo=demo)


def case_folder(folder: Path) -> Path:
    """A 40 x 44 x 36 BraTS-named case (no label map)."""
    return small_case(folder / "P7")


def use_weights(settings: SettingsController, weights: Path) -> None:
    settings.apply(SegmentationSettings(weights, "cpu"))
