"""The viewer's state, free of Qt and VTK: the case, the cursor, the active contrast and its display settings.

Views subscribe to the model's events and redraw themselves; user input goes back through the model's
setters, so every view stays in step (the napari / 3D Slicer split between a scene model and its views).
Events are plain callback lists; callbacks run synchronously on the thread that changed the model (the GUI
thread in the application).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from engine.case import MODALITIES, Case
from engine.labels import LABEL_INFO
from gui.viewer.overlay_style import OverlayStyle

log = logging.getLogger(__name__)

DISPLAY_NAMES = {"t1": "T1", "t1ce": "T1ce", "t2": "T2", "flair": "FLAIR"}
# Percentiles of the non-zero (brain) voxels that bound the default window: robust to a few hot voxels.
_WINDOW_PERCENTILES = (0.5, 99.5)
_MIN_WINDOW = 1e-6
# Window/level presets, relative to a contrast's default window: (name, window factor, level shift in windows).
# The contrast-specific one highlights what that contrast is read for (enhancing rim, oedema, fluid).
_COMMON_PRESETS = (("Default", 1.0, 0.0), ("Narrow", 0.6, 0.0), ("Wide", 1.6, 0.0))
_MODALITY_PRESETS = {
    "t1": ("Grey/white", 0.45, 0.05), "t1ce": ("Enhancement", 0.55, 0.2),
    "t2": ("Fluid", 0.7, 0.2), "flair": ("Oedema", 0.55, 0.15),
}


class Event:
    """A list of callbacks called with the event's arguments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., None]] = []

    def connect(self, callback: Callable[..., None]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: object) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


@dataclass(frozen=True)
class WindowLevel:
    """Grey-value mapping: intensities in [level - window/2, level + window/2] span black to white."""

    window: float
    level: float

    @property
    def low(self) -> float:
        return self.level - self.window / 2

    @property
    def high(self) -> float:
        return self.level + self.window / 2


def default_window_level(data: np.ndarray) -> WindowLevel:
    """A window spanning the 0.5-99.5 percentiles of the non-zero voxels (all voxels if none is non-zero).

    Args:
        data: one contrast; a strided subsample is used so this stays fast on full-size volumes.
    """
    step = max(1, round((data.size / 2_000_000) ** (1 / 3)))
    sample = data[::step, ::step, ::step]
    values = sample[sample != 0]
    if values.size == 0:
        values = sample.ravel()
    low, high = (float(v) for v in np.percentile(values, _WINDOW_PERCENTILES))
    if high - low < _MIN_WINDOW:
        low, high = low - 0.5, high + 0.5
    return WindowLevel(window=high - low, level=(high + low) / 2)


def default_window_levels(case: Case) -> dict[str, WindowLevel]:
    """The default window of every contrast of ``case``."""
    return {modality: default_window_level(volume.data) for modality, volume in case.volumes.items()}


def label_colors_rgba(opacity: int = 255) -> np.ndarray:
    """A 256 x 4 uint8 lookup table: BraTS 2020 label value -> RGBA (background fully transparent)."""
    table = np.zeros((256, 4), dtype=np.uint8)
    for value, info in LABEL_INFO.items():
        table[value] = (*info.rgb, opacity)
    return table


def window_presets(modality: str, default: WindowLevel) -> dict[str, WindowLevel]:
    """Named windows of ``modality`` derived from its ``default`` window (same order for every contrast)."""
    presets = list(_COMMON_PRESETS)
    if modality in _MODALITY_PRESETS:
        presets.append(_MODALITY_PRESETS[modality])
    return {name: WindowLevel(default.window * factor, default.level + shift * default.window)
            for name, factor, shift in presets}


class ViewerModel:
    """What the viewer shows. Change it only through its methods, which emit the matching event.

    Events (callback arguments in brackets):
        case_changed [] - a new case; cursor, modality and windows were reset with it.
        cursor_changed [old_voxel] - the crosshair moved.
        modality_changed [] - another contrast is shown.
        window_level_changed [modality] - the grey-value window of ``modality`` changed.
        overlay_changed [] - label overlay shown/hidden, its opacity or its style (``overlay_style``) changed.
        label_changed [] - the label map (or its uncertainty map) was replaced or edited in place.
        measurement_lines_changed [] - the measurement lines (e.g. RANO diameters) changed.

    The label map shown is ``case.label`` (uint8, BraTS labels 0/1/2/4, on the case's grid); a segmentation
    replaces it through ``set_segmentation`` and editors that change it in place call ``notify_label_edited``.
    """

    def __init__(self) -> None:
        self.case: Case | None = None
        self.cursor: tuple[int, int, int] = (0, 0, 0)
        self.active_modality: str | None = None
        self.window_levels: dict[str, WindowLevel] = {}
        self.default_window_levels: dict[str, WindowLevel] = {}
        self.overlay_visible = True
        self.overlay_opacity = 0.45
        self.overlay_style = OverlayStyle()
        self.case_changed = Event("case_changed")
        self.cursor_changed = Event("cursor_changed")
        self.modality_changed = Event("modality_changed")
        self.window_level_changed = Event("window_level_changed")
        self.overlay_changed = Event("overlay_changed")
        self.label_changed = Event("label_changed")
        self.measurement_lines_changed = Event("measurement_lines_changed")
        #: line segments (start voxel, end voxel) drawn in the slice views that contain both ends
        self.measurement_lines: list[tuple[tuple[int, int, int], tuple[int, int, int]]] = []
        #: voxel-wise uncertainty (entropy of the model's outputs, float32 in [0, 1]) of the shown label map
        self.uncertainty: np.ndarray | None = None
        #: where the shown label map came from: "file" (loaded with the case), "ai" or "edited"
        self.label_source: str = "file"

    # --- case -------------------------------------------------------------------------------------------
    def set_case(self, case: Case, window_levels: Mapping[str, WindowLevel] | None = None) -> None:
        """Show ``case``: cursor at the centre, same contrast as before if the case has it, default windows.

        Args:
            case: the loaded case.
            window_levels: default windows per contrast if already computed (e.g. in a loader thread).
        """
        if not case.volumes:
            raise ValueError(f"case {case.case_id} has no image volume to show")
        defaults = dict(window_levels) if window_levels is not None else default_window_levels(case)
        missing = [m for m in case.volumes if m not in defaults]
        if missing:
            raise ValueError(f"no window/level given for {', '.join(missing)}")
        self.case = case
        self.default_window_levels = defaults
        self.window_levels = dict(defaults)
        if self.active_modality not in case.volumes:
            self.active_modality = "t1ce" if "t1ce" in case.volumes else next(iter(case.volumes))
        self.cursor = tuple(n // 2 for n in case.shape)  # type: ignore[assignment]
        self.uncertainty = None
        self.label_source = "file"
        self.measurement_lines = []
        log.debug("viewer shows %s, cursor %s, %s", case.case_id, self.cursor, self.active_modality)
        self.case_changed.emit()

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.case.shape if self.case is not None else (0, 0, 0)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.case.spacing if self.case is not None else (1.0, 1.0, 1.0)

    @property
    def modalities(self) -> list[str]:
        """Contrasts of the current case, in display order."""
        return [m for m in MODALITIES if self.case is not None and m in self.case.volumes]

    @property
    def active_volume(self) -> np.ndarray | None:
        if self.case is None or self.active_modality is None:
            return None
        return self.case.volumes[self.active_modality].data

    @property
    def label(self) -> np.ndarray | None:
        return self.case.label if self.case is not None else None

    def set_segmentation(self, label: np.ndarray | None, uncertainty: np.ndarray | None = None,
                         source: str = "ai") -> None:
        """Show ``label`` (BraTS labels on the case's grid) and its optional uncertainty map.

        Args:
            label: uint8 label map of the case's shape, or None to remove the segmentation.
            uncertainty: float map of the same shape (entropy in [0, 1]) or None.
            source: "ai", "edited" or "file"; exports mark edited maps SEMIAUTOMATIC.
        """
        if self.case is None:
            raise ValueError("open a case before showing a segmentation")
        for name, array in (("label map", label), ("uncertainty map", uncertainty)):
            if array is not None and tuple(array.shape) != tuple(self.case.shape):
                raise ValueError(f"the {name} has shape {tuple(array.shape)}, the case {tuple(self.case.shape)}")
        label = None if label is None else np.ascontiguousarray(label, dtype=np.uint8)
        self.case = dataclasses.replace(self.case, label=label)  # Case is frozen; its arrays are not
        self.uncertainty = None if uncertainty is None else np.asarray(uncertainty, dtype=np.float32)
        self.label_source = source
        self.label_changed.emit()

    def set_measurement_lines(self, lines: list[tuple[tuple[int, int, int], tuple[int, int, int]]]) -> None:
        """Show ``lines`` (pairs of voxels) in the slice views; an empty list removes them.

        No event when the lines are unchanged: the measurement panel sets them after every edit, and an edit
        away from the enhancing tumour must not re-render every view.
        """
        lines = [(tuple(map(int, a)), tuple(map(int, b))) for a, b in lines]
        if lines != self.measurement_lines:
            self.measurement_lines = lines
            self.measurement_lines_changed.emit()

    def notify_label_edited(self) -> None:
        """Tell the views that ``case.label`` was changed in place (by an editor); marks it edited."""
        self.label_source = "edited"
        self.label_changed.emit()

    # --- cursor -----------------------------------------------------------------------------------------
    def set_cursor(self, voxel: tuple[int, int, int] | np.ndarray) -> None:
        """Move the crosshair to ``voxel`` (clamped into the volume); no event if it does not move."""
        if self.case is None:
            return
        clamped = tuple(min(max(int(round(float(v))), 0), n - 1) for n, v in zip(self.shape, voxel, strict=True))
        if clamped == self.cursor:
            return
        old, self.cursor = self.cursor, clamped  # type: ignore[assignment]
        self.cursor_changed.emit(old)

    def move_slice(self, axis: int, steps: int) -> None:
        """Move the cursor ``steps`` voxels along voxel ``axis`` (0 right, 1 anterior, 2 superior)."""
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
        voxel = list(self.cursor)
        voxel[axis] += int(steps)
        self.set_cursor(tuple(voxel))  # type: ignore[arg-type]

    @property
    def cursor_world(self) -> np.ndarray:
        """Cursor position in world (RAS, mm) coordinates."""
        if self.case is None:
            return np.zeros(3)
        return (self.case.affine @ np.array([*self.cursor, 1.0]))[:3]

    def set_cursor_world(self, position: tuple[float, float, float] | np.ndarray) -> None:
        """Move the crosshair to the voxel nearest to world (RAS, mm) ``position``."""
        if self.case is None:
            return
        voxel = np.linalg.solve(self.case.affine, np.array([*position, 1.0]))[:3]
        self.set_cursor(voxel)

    def value_at_cursor(self, modality: str | None = None) -> float | None:
        """Intensity of ``modality`` (default: the active one) under the cursor."""
        if self.case is None:
            return None
        volume = self.case.volumes.get(modality or self.active_modality or "")
        return None if volume is None else float(volume.data[self.cursor])

    def label_at_cursor(self) -> int | None:
        label = self.label
        return None if label is None else int(label[self.cursor])

    # --- display settings -------------------------------------------------------------------------------
    def set_active_modality(self, modality: str) -> None:
        if self.case is None or modality not in self.case.volumes:
            raise ValueError(f"modality {modality!r} is not in the current case (it has {self.modalities})")
        if modality != self.active_modality:
            self.active_modality = modality
            self.modality_changed.emit()

    @property
    def window_level(self) -> WindowLevel | None:
        """Window of the active contrast."""
        return self.window_levels.get(self.active_modality or "")

    def set_window_level(self, window: float, level: float, modality: str | None = None) -> None:
        """Set the grey-value window of ``modality`` (default: the active one); window is kept positive."""
        modality = modality or self.active_modality
        if modality not in self.window_levels:
            raise ValueError(f"no contrast {modality!r} loaded (loaded: {self.modalities})")
        value = WindowLevel(window=max(float(window), _MIN_WINDOW), level=float(level))
        if value != self.window_levels[modality]:
            self.window_levels[modality] = value
            self.window_level_changed.emit(modality)

    def reset_window_level(self, modality: str | None = None) -> None:
        """Back to the default window of ``modality`` (default: the active one)."""
        modality = modality or self.active_modality
        if modality in self.default_window_levels:
            default = self.default_window_levels[modality]
            self.set_window_level(default.window, default.level, modality)

    def set_overlay(self, visible: bool | None = None, opacity: float | None = None) -> None:
        """Show/hide the label overlay or set its opacity (0..1)."""
        changed = False
        if visible is not None and bool(visible) != self.overlay_visible:
            self.overlay_visible, changed = bool(visible), True
        if opacity is not None:
            opacity = min(max(float(opacity), 0.0), 1.0)
            if opacity != self.overlay_opacity:
                self.overlay_opacity, changed = opacity, True
        if changed:
            self.overlay_changed.emit()

    def set_overlay_style(self, style: OverlayStyle | None = None, **changes: object) -> None:
        """Replace the overlay style, or change some of its fields (see ``OverlayStyle``)."""
        new = (style or self.overlay_style).replace(**changes) if changes else (style or self.overlay_style)
        if new != self.overlay_style:
            self.overlay_style = new
            self.overlay_changed.emit()

    def apply_window_preset(self, name: str, modality: str | None = None) -> None:
        """Set the window of ``modality`` (default: the active one) to its preset ``name``."""
        modality = modality or self.active_modality
        default = self.default_window_levels.get(modality or "")
        if default is None:
            raise ValueError(f"no contrast {modality!r} loaded (loaded: {self.modalities})")
        presets = window_presets(modality, default)  # type: ignore[arg-type]
        if name not in presets:
            raise ValueError(f"no window preset {name!r} for {modality}; presets: {', '.join(presets)}")
        self.set_window_level(presets[name].window, presets[name].level, modality)
