"""Mouse and key input of a slice view (a mixin of ``gui.viewer.slice_view.SliceView``), including the editing hook.

Without a tool: left click/drag moves the crosshair, wheel scrolls slices, right drag sets window (horizontal)
and level (vertical), middle drag pans, Ctrl+wheel zooms, Up/Down and Page Up/Page Down scroll, R resets
zoom and pan. With an editing tool set (``set_tool``), the left button goes to the tool instead: ``press``
with the voxel under the mouse, ``drag`` while the button is held, ``release`` when it is let go.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

_ZOOM_STEP = 1.15
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


class SliceInteraction:
    """Input handlers; expects the attributes and methods of ``SliceView``."""

    tool: EditTool | None = None

    def set_tool(self, tool: EditTool | None) -> None:
        """Route left-button input to ``tool`` (None: back to moving the crosshair)."""
        if self._drag == "tool" and self.tool is not None:
            self.tool.release()
            self._drag = None
        self.tool = tool

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
        self._drag = "cursor"
        self._move_cursor_to_event()

    def _handle_RightButtonPressEvent(self) -> None:  # noqa: N802
        window_level = self.model.window_levels.get(self.modality or "")
        x, y = self.interactor.GetEventPosition()
        if window_level is not None:
            self._drag = "window"
            self._drag_start = (x, y, window_level.window, window_level.level)

    def _handle_MiddleButtonPressEvent(self) -> None:  # noqa: N802
        x, y = self.interactor.GetEventPosition()
        self._drag = "pan"
        self._drag_start = (x, y, 0.0, 0.0)

    def _handle_LeftButtonReleaseEvent(self) -> None:  # noqa: N802
        if self._drag == "tool" and self.tool is not None:
            self.tool.release()
        self._drag = None

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
        elif self._drag == "pan":
            self._drag_pan()
        self.hovered.emit(self.voxel_under(*self.interactor.GetEventPosition()))

    def _handle_LeaveEvent(self) -> None:  # noqa: N802
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
        default = self.model.default_window_levels.get(self.modality or "")
        scale = (default.window if default else window0) * _WINDOW_DRAG_GAIN / max(self.render_window.GetSize()[1], 1)
        self.model.set_window_level(window0 + (x - x0) * scale, level0 + (y - y0) * scale, self.modality)

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
