"""One 2D slice view (axial, coronal or sagittal) of the viewer model, drawn with VTK.

The slice is cut out of the numpy volume (see ``gui.orientation``) and shown by a vtkImageActor whose
vtkImageProperty applies the window/level; the label map is shown by a second actor as an RGBA image. The
view's world coordinates are display millimetres: column c, row r of the display image sits at
(c * spacing_h, r * spacing_v), so the physical aspect ratio is kept and clicks map back to voxels exactly.

Mouse: left click/drag moves the crosshair (linked to the other views), wheel scrolls slices, right drag
changes window (horizontal) and level (vertical), middle drag pans, Ctrl+wheel zooms. Keys: Up/Down and
Page Up/Page Down scroll slices, R resets zoom and pan.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

from gui.orientation import Plane, display_shape, display_slice, display_to_voxel, voxel_to_display
from gui.viewer_model import ViewerModel, label_colors_rgba
from gui.vtk_widget import anchored_text_actor, create_vtk_widget, set_image_pixels

log = logging.getLogger(__name__)

_CROSSHAIR_RGB = (1.0, 0.78, 0.1)
_LABEL_RGB = (0.55, 0.85, 1.0)
_INFO_RGB = (0.85, 0.85, 0.85)
_FIT_MARGIN = 1.04
_ZOOM_STEP = 1.15
# Window/level drag: one screen height of movement changes the window (or level) by one default window.
_WINDOW_DRAG_GAIN = 1.0
# Depth order along the camera axis: image, then label overlay, then crosshair nearest to the camera.
_OVERLAY_Z, _CROSSHAIR_Z, _CAMERA_Z = 0.5, 1.0, 500.0
_INTERACTOR_EVENTS = (
    "LeftButtonPressEvent", "LeftButtonReleaseEvent", "RightButtonPressEvent", "RightButtonReleaseEvent",
    "MiddleButtonPressEvent", "MiddleButtonReleaseEvent", "MouseMoveEvent", "MouseWheelForwardEvent",
    "MouseWheelBackwardEvent", "KeyPressEvent", "ConfigureEvent",
)


class SliceView(QWidget):
    """A 2D view of ``plane`` that follows ``model`` and edits its cursor and window/level."""

    def __init__(self, model: ViewerModel, plane: Plane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.plane = plane
        self.vtk_widget = create_vtk_widget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.vtk_widget)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.interactor = self.render_window.GetInteractor()
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.render_window.AddRenderer(self.renderer)
        self.last_render_seconds = 0.0
        self._closed = False
        self._shown_key: tuple | None = None  # (modality, slice index) currently in the image actor
        self._auto_fit = True
        self._drag: str | None = None
        self._drag_start: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)
        self._label_lut = label_colors_rgba()
        self._overlay_has_pixels = False
        self._build_scene()
        for event in _INTERACTOR_EVENTS:
            self.interactor.AddObserver(event, self._on_vtk_event)
        self.vtk_widget.Initialize()
        self._connect_model(True)
        if model.case is not None:
            self._on_case_changed()

    # --- scene ------------------------------------------------------------------------------------------
    def _build_scene(self) -> None:
        self._image = vtkImageData()
        self.image_actor = vtkImageActor()
        self.image_actor.GetMapper().SetInputData(self._image)
        self.image_actor.GetProperty().SetInterpolationTypeToLinear()
        self.image_actor.VisibilityOff()
        self._labels = vtkImageData()
        self.overlay_actor = vtkImageActor()
        self.overlay_actor.GetMapper().SetInputData(self._labels)
        self.overlay_actor.GetProperty().SetInterpolationTypeToNearest()
        self.overlay_actor.SetPosition(0, 0, _OVERLAY_Z)
        self.overlay_actor.VisibilityOff()
        self._crosshair_points = vtkPoints()
        self._crosshair_points.SetNumberOfPoints(4)
        lines = vtkCellArray()
        lines.InsertNextCell(2, (0, 1))
        lines.InsertNextCell(2, (2, 3))
        crosshair = vtkPolyData()
        crosshair.SetPoints(self._crosshair_points)
        crosshair.SetLines(lines)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(crosshair)
        self.crosshair_actor = vtkActor()
        self.crosshair_actor.SetMapper(mapper)
        self.crosshair_actor.GetProperty().SetColor(*_CROSSHAIR_RGB)
        self.crosshair_actor.GetProperty().SetOpacity(0.7)
        self.crosshair_actor.VisibilityOff()
        self._crosshair = crosshair
        for actor in (self.image_actor, self.overlay_actor, self.crosshair_actor):
            self.renderer.AddActor(actor)
        self.edge_labels = [self._text_actor(text, anchor) for text, anchor in zip(
            self.plane.edge_labels, ("left", "right", "top", "bottom"), strict=True)]
        self.info_text = self._text_actor(self.plane.title, "top-left", _INFO_RGB, 13)
        self.window_text = self._text_actor("", "bottom-right", _INFO_RGB, 12)
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()

    def _text_actor(self, text: str, anchor: str, rgb: tuple = _LABEL_RGB, size: int = 17) -> vtkTextActor:
        actor = anchored_text_actor(text, anchor, rgb, size, bold=anchor in ("left", "right", "top", "bottom"))
        self.renderer.AddViewProp(actor)
        return actor

    # --- model events -----------------------------------------------------------------------------------
    def _connect_model(self, connect: bool) -> None:
        pairs = (
            (self.model.case_changed, self._on_case_changed),
            (self.model.cursor_changed, self._on_cursor_changed),
            (self.model.modality_changed, self._on_modality_changed),
            (self.model.window_level_changed, self._on_window_level_changed),
            (self.model.overlay_changed, self._on_overlay_changed),
        )
        for event, callback in pairs:
            (event.connect if connect else event.disconnect)(callback)

    def _on_case_changed(self) -> None:
        self._shown_key = None
        self._auto_fit = True
        self._update_all()
        self.reset_view()

    def _on_cursor_changed(self, _old: tuple[int, int, int] | None = None) -> None:
        self._update_all()

    def _on_modality_changed(self) -> None:
        self._update_all()

    def _on_window_level_changed(self, modality: str) -> None:
        if modality == self.model.active_modality:
            self._apply_window_level()
            self.render()

    def _on_overlay_changed(self) -> None:
        self._apply_overlay_style()
        self.render()

    def _update_all(self) -> None:
        """Bring slice, overlay, crosshair and texts in line with the model, then render."""
        if self.model.case is None:
            return
        started = time.perf_counter()
        self._update_slice()
        self._apply_window_level()
        self._apply_overlay_style()
        self._update_crosshair()
        self._update_info_text()
        self.render(started)

    def _update_slice(self) -> None:
        volume = self.model.active_volume
        index = self.model.cursor[self.plane.normal_axis]
        key = (self.model.active_modality, index, id(self.model.case))
        if volume is None or key == self._shown_key:
            return
        self._shown_key = key
        spacing = self.display_spacing
        set_image_pixels(self._image, display_slice(volume, self.plane, index), spacing)
        self.image_actor.VisibilityOn()
        label = self.model.label
        labels = display_slice(label, self.plane, index) if label is not None else None
        # Most slices hold no tumour: hide the overlay there instead of uploading a transparent image.
        self._overlay_has_pixels = labels is not None and bool(labels.any())
        if self._overlay_has_pixels:
            set_image_pixels(self._labels, self._label_lut[labels], spacing)

    def _apply_window_level(self) -> None:
        window_level = self.model.window_level
        if window_level is None:
            return
        prop = self.image_actor.GetProperty()
        prop.SetColorWindow(window_level.window)
        prop.SetColorLevel(window_level.level)
        self.window_text.SetInput(f"W {window_level.window:.0f}  L {window_level.level:.0f}")

    def _apply_overlay_style(self) -> None:
        visible = self.model.overlay_visible and self._overlay_has_pixels
        self.overlay_actor.SetVisibility(visible)
        self.overlay_actor.GetProperty().SetOpacity(self.model.overlay_opacity)

    def _update_crosshair(self) -> None:
        shape = self.model.shape
        column, row = voxel_to_display(self.model.cursor, shape, self.plane)
        columns, rows = display_shape(shape, self.plane)
        sx, sy = self.display_spacing
        x, y = column * sx, row * sy
        x0, x1, y0, y1 = -0.5 * sx, (columns - 0.5) * sx, -0.5 * sy, (rows - 0.5) * sy
        for point_id, point in enumerate(((x0, y, _CROSSHAIR_Z), (x1, y, _CROSSHAIR_Z),
                                          (x, y0, _CROSSHAIR_Z), (x, y1, _CROSSHAIR_Z))):
            self._crosshair_points.SetPoint(point_id, point)
        self._crosshair_points.Modified()
        self._crosshair.Modified()
        self.crosshair_actor.VisibilityOn()

    def _update_info_text(self) -> None:
        axis = self.plane.normal_axis
        self.info_text.SetInput(f"{self.plane.title}  {self.model.cursor[axis] + 1}/{self.model.shape[axis]}")

    # --- geometry ---------------------------------------------------------------------------------------
    @property
    def display_spacing(self) -> tuple[float, float]:
        spacing = self.model.spacing
        return spacing[self.plane.horizontal_axis], spacing[self.plane.vertical_axis]

    @property
    def slice_index(self) -> int:
        """Index of the slice this view shows (along ``plane.normal_axis``)."""
        return self.model.cursor[self.plane.normal_axis]

    def reset_view(self) -> None:
        """Fit the whole slice into the view, centred (undoes zoom and pan)."""
        self._auto_fit = True
        self._fit_camera()
        self.render()

    def _fit_camera(self) -> None:
        if self.model.case is None:
            return
        columns, rows = display_shape(self.model.shape, self.plane)
        sx, sy = self.display_spacing
        width, height = columns * sx, rows * sy
        center_x, center_y = (columns - 1) * sx / 2, (rows - 1) * sy / 2
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(center_x, center_y, 0.0)
        camera.SetPosition(center_x, center_y, _CAMERA_Z)
        camera.SetViewUp(0.0, 1.0, 0.0)
        view_width, view_height = self.render_window.GetSize()
        aspect = view_width / max(view_height, 1) if view_width > 0 else 1.0
        camera.SetParallelScale(max(height / 2, width / (2 * aspect)) * _FIT_MARGIN)
        camera.SetClippingRange(1.0, 2 * _CAMERA_Z)

    def display_to_voxel_at(self, x: int, y: int) -> tuple[int, int, int]:
        """The voxel under VTK display pixel (x, y) (origin bottom-left) in this view's slice, clamped."""
        column, row = self._display_to_image(x, y)
        return display_to_voxel(column, row, self.slice_index, self.model.shape, self.plane)

    def voxel_to_display_at(self, voxel: tuple[int, int, int]) -> tuple[int, int]:
        """VTK display pixel (origin bottom-left) where ``voxel``'s in-plane position is drawn."""
        column, row = voxel_to_display(voxel, self.model.shape, self.plane)
        sx, sy = self.display_spacing
        self.renderer.SetWorldPoint(column * sx, row * sy, 0.0, 1.0)
        self.renderer.WorldToDisplay()
        x, y, _ = self.renderer.GetDisplayPoint()
        return int(round(x)), int(round(y))

    def _display_to_image(self, x: int, y: int) -> tuple[int, int]:
        """Display pixel -> (column, row) of the display image, unclamped."""
        self.renderer.SetDisplayPoint(float(x), float(y), 0.0)
        self.renderer.DisplayToWorld()
        wx, wy, _, w = self.renderer.GetWorldPoint()
        wx, wy = (wx / w, wy / w) if w else (wx, wy)
        sx, sy = self.display_spacing
        return int(round(wx / sx)), int(round(wy / sy))

    # --- interaction ------------------------------------------------------------------------------------
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
        self._drag = "cursor"
        self._move_cursor_to_event()

    def _handle_RightButtonPressEvent(self) -> None:  # noqa: N802
        window_level = self.model.window_level
        x, y = self.interactor.GetEventPosition()
        if window_level is not None:
            self._drag = "window"
            self._drag_start = (x, y, window_level.window, window_level.level)

    def _handle_MiddleButtonPressEvent(self) -> None:  # noqa: N802
        x, y = self.interactor.GetEventPosition()
        self._drag = "pan"
        self._drag_start = (x, y, 0.0, 0.0)

    def _handle_LeftButtonReleaseEvent(self) -> None:  # noqa: N802
        self._drag = None

    _handle_RightButtonReleaseEvent = _handle_LeftButtonReleaseEvent  # noqa: N815
    _handle_MiddleButtonReleaseEvent = _handle_LeftButtonReleaseEvent  # noqa: N815

    def _handle_MouseMoveEvent(self) -> None:  # noqa: N802
        if self._drag == "cursor":
            self._move_cursor_to_event()
        elif self._drag == "window":
            self._drag_window_level()
        elif self._drag == "pan":
            self._drag_pan()

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

    def _move_cursor_to_event(self) -> None:
        x, y = self.interactor.GetEventPosition()
        self.model.set_cursor(self.display_to_voxel_at(x, y))

    def _drag_window_level(self) -> None:
        x, y = self.interactor.GetEventPosition()
        x0, y0, window0, level0 = self._drag_start
        default = self.model.default_window_levels.get(self.model.active_modality or "")
        scale = (default.window if default else window0) * _WINDOW_DRAG_GAIN / max(self.render_window.GetSize()[1], 1)
        self.model.set_window_level(window0 + (x - x0) * scale, level0 + (y - y0) * scale)

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

    # --- rendering and teardown -------------------------------------------------------------------------
    def render(self, started: float | None = None) -> None:
        """Render now (synchronously) if the view is on screen; remember how long the update took."""
        if self._closed or not self.vtk_widget.isVisible():
            return
        started = time.perf_counter() if started is None else started
        self.render_window.Render()
        self.last_render_seconds = time.perf_counter() - started

    def shutdown(self) -> None:
        """Stop following the model and release the OpenGL context; the view is dead afterwards."""
        if self._closed:
            return
        self._closed = True
        self._connect_model(False)
        self.vtk_widget.Finalize()

