"""RevSeg's persistent per-user settings store, shared by every part of the GUI."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QByteArray, QSettings


def app_settings() -> QSettings:
    """RevSeg's persistent settings (per user)."""
    return QSettings("RevSeg", "RevSeg")


# --- interaction settings (mouse preset, paint limit) --------------------------------------------------------
#: preset key -> the name shown in Settings; "slicer" is the default.
INTERACTION_PRESETS = {"slicer": "3D Slicer", "itksnap": "ITK-SNAP"}
DEFAULT_INTERACTION_PRESET = "slicer"
_PRESET_KEY, _FOREGROUND_KEY = "interaction/mouse_preset", "interaction/paint_foreground_only"


@dataclass(frozen=True)
class InteractionSettings:
    """How the mouse works in the slice views, and where the brush may paint.

    Attributes:
        preset: a key of ``INTERACTION_PRESETS`` ("slicer": left drag sets window/level; "itksnap": left drag
            moves the crosshair). Both: wheel = slice, right drag = zoom, middle drag = pan.
        paint_foreground_only: the brush paints only inside the head (the image's foreground).
    """

    preset: str = DEFAULT_INTERACTION_PRESET
    paint_foreground_only: bool = True

    def __post_init__(self) -> None:
        if self.preset not in INTERACTION_PRESETS:
            raise ValueError(f"unknown mouse preset {self.preset!r}; choose one of {', '.join(INTERACTION_PRESETS)}")


def load_interaction_settings(store: QSettings) -> InteractionSettings:
    """Read the interaction settings (an unknown preset falls back to the default)."""
    preset = str(store.value(_PRESET_KEY, DEFAULT_INTERACTION_PRESET) or DEFAULT_INTERACTION_PRESET)
    foreground = store.value(_FOREGROUND_KEY, True)
    if isinstance(foreground, str):  # INI files store booleans as text
        foreground = foreground.strip().lower() not in ("false", "0", "no", "off")
    return InteractionSettings(preset if preset in INTERACTION_PRESETS else DEFAULT_INTERACTION_PRESET,
                               bool(foreground))


def save_interaction_settings(store: QSettings, settings: InteractionSettings) -> None:
    store.setValue(_PRESET_KEY, settings.preset)
    store.setValue(_FOREGROUND_KEY, settings.paint_foreground_only)
    store.sync()


# --- main window geometry and dock layout ---------------------------------------------------------------------
_GEOMETRY_KEY, _STATE_KEY = "window/geometry", "window/state"


def load_window_layout(store: QSettings) -> tuple[QByteArray | None, QByteArray | None]:
    """The saved (geometry, dock/toolbar state) of the main window; None where nothing was saved."""
    geometry, state = store.value(_GEOMETRY_KEY), store.value(_STATE_KEY)
    return (geometry if isinstance(geometry, QByteArray) and not geometry.isEmpty() else None,
            state if isinstance(state, QByteArray) and not state.isEmpty() else None)


def save_window_layout(store: QSettings, geometry: QByteArray, state: QByteArray) -> None:
    store.setValue(_GEOMETRY_KEY, geometry)
    store.setValue(_STATE_KEY, state)
    store.sync()


# --- measurements ---------------------------------------------------------------------------------------------
#: the minimum lesion volume (mL) of the lesion table; smaller components are listed as small foci
MIN_LESION_ML_KEY = "measurements/min_lesion_ml"


def min_lesion_ml(store: QSettings, default: float) -> float:
    """The stored minimum lesion volume in mL (``default`` when unset or unreadable)."""
    try:
        value = float(store.value(MIN_LESION_ML_KEY, default))
    except (TypeError, ValueError):
        return default
    return value if value >= 0 else default
