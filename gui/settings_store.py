"""RevSeg's persistent per-user settings store, shared by every part of the GUI."""

from __future__ import annotations

from PySide6.QtCore import QSettings


def app_settings() -> QSettings:
    """RevSeg's persistent settings (per user)."""
    return QSettings("RevSeg", "RevSeg")


#: the minimum lesion volume (mL) of the lesion table; smaller components are listed as small foci
MIN_LESION_ML_KEY = "measurements/min_lesion_ml"


def min_lesion_ml(store: QSettings, default: float) -> float:
    """The stored minimum lesion volume in mL (``default`` when unset or unreadable)."""
    try:
        value = float(store.value(MIN_LESION_ML_KEY, default))
    except (TypeError, ValueError):
        return default
    return value if value >= 0 else default
