"""Shared pieces of the segmentation GUI tests: isolated settings, a tiny checkpoint, a small case."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from gui.review.settings_dialog import SegmentationSettings, SettingsController
from tests.engine.inference.helpers import small_case, tiny_checkpoint

RUN_TIMEOUT_MS = 120_000


def isolated_store(folder: Path) -> QSettings:
    """Settings in an INI file of the test's own (never the user's settings)."""
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)


def tiny_weights(folder: Path, demo: bool = True) -> Path:
    return tiny_checkpoint(folder / ("tiny-demo.safetensors" if demo else "tiny.safetensors"), demo=demo)


def case_folder(folder: Path) -> Path:
    """A 40 x 44 x 36 BraTS-named case (no label map)."""
    return small_case(folder / "P7")


def use_weights(settings: SettingsController, weights: Path) -> None:
    settings.apply(SegmentationSettings(weights, "cpu"))
