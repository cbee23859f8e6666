"""Mouse and key input of a slice view (a mixin of ``gui.viewer.slice_view.SliceView``), including the editing hook.

Two mouse presets (``set_interaction_preset``, chosen in Settings) follow the habits of two common tools:

=====================  ==================================  ==================================
                       "slicer" (3D Slicer, the default)    "itksnap" (ITK-SNAP)
=====================  ==================================  ==================================
left drag              window (left-right), level (up-down) move the crosshair
left click             move the crosshair                   move the crosshair
Shift + left drag      move the crosshair                   window / level
right drag             zoom (up: in)                        zoom (up: in)
middle drag            pan                                  pan
wheel                  previous / next slice                previous / next slice
=====================  ==================================  ==================================

In both: Ctrl+wheel zooms, Up/Down and Page Up/Page Down scroll, R resets zoom and pan. With an editing tool
set (``set_tool``), the left button goes to the tool instead: ``press`` with the voxel under the mouse, ``drag``
while the button is held, ``release`` when it is let go; a tool with a ``brush_outline()`` gets its outline
drawn under the mouse.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

_ZOOM_STEP = 1.15
# Right-drag zoom: magnification doubles per this fraction of the view's height dragged upwards.
_ZOOM_DRAG_DOUBLING = 0.25
# A left press that moves less than this (pixels) before its release is a click (crosshair), not a W/L drag.
_CLICK_SLOP_PX = 3
INTERACTION_PRESETS = ("slicer", "itksnap")
#: What the mouse does in the slice views under each preset (for Help > Controls; the handlers below do it).
MOUSE_BINDINGS = {
    preset: (("Left drag", "window (left-right) and level (up-down)" if preset == "slicer" else "move the crosshair"),
             ("Left click", "move the crosshair"),
             ("Shift + left drag", "move the crosshair" if preset == "slicer" else "window (left-right) and level (up-down)"),
             ("Right drag", "zoom (up: in)"), ("Middle drag", "pan"), ("Wheel", "previous / next slice"),
             ("Ctrl + wheel", "zoom"), ("Up/Down, Page Up/Page Down", "previous / next slice (1 or 10)"),
             ("R", "reset zoom and pan of the view under the mouse"),
             ("Double-click", "maximise the view / back to 2 x 2"),
             ("Left drag with an editing tool", "paint, erase or remove with that tool"))
    for preset in INTERACTION_PRESETS
}
# Window/level drag: one screen height of movement changes the window (or level) by one default window.
_WINDOW_DRAG_GAIN = 1.0
INTERACTOR_EVENTS = (
    "LeftButtonPressEvent", "LeftButtonReleaseEvent", "RightButtonPressEvent", "RightButtonReleaseEvent",
    "MiddleButtonPressEvent", "MiddleButtonReleaseEvent", "MouseMoveEvent", "MouseWheelForwardEvent",
    "MouseWheelBackwardEvent", "KeyPressEvent", "ConfigureEvent", "LeaveEvent",
)


class EditTool(Protocol):
    """What a slice view calls while an editing tool (brush, eraser, ...) is active."""

    def press(self, voxel: tuple[int, int, int], plane_axis: int, modifiers: object) -> None: ...

    def drag(self, voxel: tuple[int, int, int], plane_axis: int) -> None: ...

    def release(self) -> None: ...


def left_drag_job(preset: str, shift: bool) -> str:
    """What a left drag without an editing tool does: "window" (window/level) or "cursor" (the crosshair)."""
    if preset not in INTERACTION_PRESETS:
        raise ValueError(f"unknown mouse preset {preset!r}; choose one of {', '.join(INTERACTION_PRESETS)}")
    window_first = preset == "slicer"
    return "window" if window_first != shift else "cursor"


class SliceInteraction:
    """Input handlers; expects the attributes and methods of ``SliceView``."""

    tool: EditTool | None = None
    interaction_preset: str = "slicer"
    _click_pending = False  # a left press (Slicer preset) that has not moved yet: a click if released so

    def set_tool(self, tool: EditTool | None) -> None:
        """Route left-button input to ``tool`` (None: back to the preset's left-button job)."""
        if self._drag == "tool" and self.tool is not None:
            self.tool.release()
            self._drag = None
        self.tool = tool
        self.update_brush_outline()

    def set_interaction_preset(self, preset: str) -> None:
        """Use the mouse mapping ``preset`` ("slicer" or "itksnap", see the module docstring)."""
        left_drag_job(preset, False)  # validates
        self.interaction_preset = preset

    def _on_vtk_event(self, _caller: object, event: str) -> None:
        if self.model.case is None or self._closed:
            return
        handler = getattr(self, f"_handle_{event}", None)
        if handler is not None:
            handler()

    def _handle_ConfigureEvent(self) -> None:  # noqa: N802 - named after the VTK event
        if self._auto_fit:
            self._fit_camera()

    def _handle_LeftButtonPressEvent(self) -> None:  # noqa: N802
        if self.tool is not None:
            self._drag = "tool"
            modifiers = QApplication.keyboardModifiers()
            self.tool.press(self._event_voxel(), self.plane.normal_axis, modifiers)
            return
        if left_drag_job(self.interaction_preset, bool(self.interactor.GetShiftKey())) == "window":
            self._start_window_drag()
            self._click_pending = self._drag == "window"
            return
        self._drag = "cursor"
        self._move_cursor_to_event()

    def _start_window_drag(self) -> None:
        window_level = self.model.window_levels.get(self.modality or "")
        x, y = self.interactor.GetEventPosition()
        if window_level is not None:
            self._drag = "window"
            self._drag_start = (x, y, window_level.window, window_level.level)

    def _handle_RightButtonPressEvent(self) -> None:  # noqa: N802
        x, y = self.interactor.GetEventPosition()
        self._drag = "zoom"
        self._drag_start = (x, y, self.renderer.GetActiveCamera().GetParallelScale(), 0.0)

    def _handle_MiddleButtonPressEvent(self) -> None:  # noqa: N802
        x, y = self.interactor.GetEventPosition()
        self._drag = "pan"
        self._drag_start = (x, y, 0.0, 0.0)

    def _handle_LeftButtonReleaseEvent(self) -> None:  # noqa: N802
        if self._drag == "tool" and self.tool is not None:
            self.tool.release()
        elif self._drag == "window" and self._click_pending:
            self._move_cursor_to_event()  # a click without a drag moves the crosshair in every preset
        self._drag = None
        self._click_pending = False

    def _handle_RightButtonReleaseEvent(self) -> None:  # noqa: N802
        if self._drag != "tool":
            self._drag = None

    _handle_MiddleButtonReleaseEvent = _handle_RightButtonReleaseEvent  # noqa: N815

    def _handle_MouseMoveEvent(self) -> None:  # noqa: N802
        if self._drag == "tool" and self.tool is not None:
            self.tool.drag(self._event_voxel(), self.plane.normal_axis)
        elif self._drag == "cursor":
            self._move_cursor_to_event()
        elif self._drag == "window":
            self._drag_window_level()
        elif self._drag == "zoom":
            self._drag_zoom()
        elif self._drag == "pan":
            self._drag_pan()
        voxel = self.voxel_under(*self.interactor.GetEventPosition())
        self.update_brush_outline(voxel)
        self.hovered.emit(voxel)

    def _handle_LeaveEvent(self) -> None:  # noqa: N802
        self.update_brush_outline(None)
        self.hovered.emit(None)

    def _handle_MouseWheelForwardEvent(self) -> None:  # noqa: N802
        self._wheel(+1)

    def _handle_MouseWheelBackwardEvent(self) -> None:  # noqa: N802
        self._wheel(-1)

    def _handle_KeyPressEvent(self) -> None:  # noqa: N802
        steps = {"Up": 1, "Down": -1, "Prior": 10, "Next": -10}.get(self.interactor.GetKeySym())
        if steps is not None:
            self.model.move_slice(self.plane.normal_axis, steps)
        elif self.interactor.GetKeySym() in ("r", "R"):
            self.reset_view()

    def _wheel(self, direction: int) -> None:
        if QApplication.keyboardModifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(_ZOOM_STEP if direction > 0 else 1 / _ZOOM_STEP)
        else:
            self.model.move_slice(self.plane.normal_axis, direction)

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in) about the view centre."""
        camera = self.renderer.GetActiveCamera()
        camera.SetParallelScale(camera.GetParallelScale() / factor)
        self._auto_fit = False
        self.render()

    def _event_voxel(self) -> tuple[int, int, int]:
        return self.display_to_voxel_at(*self.interactor.GetEventPosition())

    def _move_cursor_to_event(self) -> None:
        self.model.set_cursor(self._event_voxel())

    def _drag_window_level(self) -> None:
        x, y = self.interactor.GetEventPosition()
        x0, y0, window0, level0 = self._drag_start
        if self._click_pending:
            if max(abs(x - x0), abs(y - y0)) < _CLICK_SLOP_PX:
                return
            self._click_pending = False
        default = self.model.default_window_levels.get(self.modality or "")
        scale = (default.window if default else window0) * _WINDOW_DRAG_GAIN / max(self.render_window.GetSize()[1], 1)
        self.model.set_window_level(window0 + (x - x0) * scale, level0 + (y - y0) * scale, self.modality)

    def _drag_zoom(self) -> None:
        _, y = self.interactor.GetEventPosition()
        _, y0, scale0, _ = self._drag_start
        doubling_px = _ZOOM_DRAG_DOUBLING * max(self.render_window.GetSize()[1], 1)
        self.renderer.GetActiveCamera().SetParallelScale(scale0 / 2 ** ((y - y0) / doubling_px))  # up: zoom in
        self._auto_fit = False
        self.render()

    def _drag_pan(self) -> None:
        x, y = self.interactor.GetEventPosition()
        x0, y0, _, _ = self._drag_start
        camera = self.renderer.GetActiveCamera()
        mm_per_pixel = 2 * camera.GetParallelScale() / max(self.render_window.GetSize()[1], 1)
        dx, dy = -(x - x0) * mm_per_pixel, -(y - y0) * mm_per_pixel
        fx, fy, fz = camera.GetFocalPoint()
        px, py, pz = camera.GetPosition()
        camera.SetFocalPoint(fx + dx, fy + dy, fz)
        camera.SetPosition(px + dx, py + dy, pz)
        self._drag_start = (x, y, 0.0, 0.0)
        self._auto_fit = False
        self.render()
