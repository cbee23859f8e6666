"""RevSeg's persistent per-user settings store, shared by every part of the GUI."""

from __future__ import annotations

from PySide6.QtCore import QSettings


def app_settings() -> QSettings:
    """RevSeg's persistent settings (per user)."""
    return QSettings("RevSeg", "RevSeg")
