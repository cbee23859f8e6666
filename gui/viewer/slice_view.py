"""One 2D slice view (axial, coronal or sagittal) of the viewer model, drawn with VTK.

The slice is cut out of the numpy volume (see ``gui.viewer.orientation``) and shown by a vtkImageActor whose
vtkImageProperty applies the window/level; the label and uncertainty overlays are RGBA image actors above
it (``gui.viewer.slice_overlay``). The view's world coordinates are display millimetres: column c, row r of the
display image sits at (c * spacing_h, r * spacing_v), so the physical aspect ratio is kept and clicks map
back to voxels exactly. Input handling (and the editing-tool hook) is in ``gui.viewer.slice_interaction``.

A view shows the model's active contrast, or a fixed one (``modality``; the modality grid's views). A view
that is not on screen does no work; it catches up when it is shown again.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

from gui.viewer.brush_outline import BrushOutline
from gui.viewer.measurement_lines import MeasurementLines
from gui.viewer.orientation import Plane, display_shape, display_slice, display_to_voxel, voxel_to_display
from gui.viewer.slice_interaction import INTERACTOR_EVENTS, SliceInteraction
from gui.viewer.slice_overlay import SliceOverlays
from gui.viewer.viewer_model import DISPLAY_NAMES, ViewerModel, WindowLevel
from gui.viewer.vtk_widget import anchored_text_actor, create_vtk_widget, set_image_pixels

log = logging.getLogger(__name__)

_CROSSHAIR_RGB = (1.0, 0.78, 0.1)
_LABEL_RGB = (0.55, 0.85, 1.0)
_INFO_RGB = (0.85, 0.85, 0.85)
_FIT_MARGIN = 1.04
# Depth along the camera axis: image at 0, overlays at 0.5-0.7, crosshair nearest to the camera.
_CROSSHAIR_Z, _CAMERA_Z = 1.0, 500.0


class SliceView(SliceInteraction, QWidget):
    """A 2D view of ``plane`` that follows ``model`` and edits its cursor and window/level.

    Signals:
        hovered(object): the voxel (i, j, k) under the mouse, or None when the mouse is off the image.
    """

    hovered = Signal(object)

    def __init__(self, model: ViewerModel, plane: Plane, parent: QWidget | None = None,
                 modality: str | None = None) -> None:
        """Args:
            model: the shared viewer model.
            plane: the slice orientation.
            parent: Qt parent.
            modality: show this contrast always (None: the model's active contrast).
        """
        super().__init__(parent)
        self.model = model
        self.plane = plane
        self.fixed_modality = modality
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
        self.tool = None
        self._closed = False
        self._stale = False  # the model changed while the view was hidden
        self._shown_key: tuple | None = None  # (modality, slice index, case) currently in the image actor
        self._auto_fit = True
        self._drag: str | None = None
        self._drag_start: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)
        self._build_scene()
        for event in INTERACTOR_EVENTS:
            self.interactor.AddObserver(event, self._on_vtk_event)
        self.vtk_widget.Initialize()
        self._connect_model(True)
        if model.case is not None:
            self._on_case_changed()

    @property
    def modality(self) -> str | None:
        """The contrast this view shows."""
        return self.fixed_modality or self.model.active_modality

    def set_plane(self, plane: Plane) -> None:
        """Show another orientation (the modality grid's cells switch planes); zoom and pan are reset."""
        if plane == self.plane:
            return
        self.plane = plane
        for actor, text in zip(self.edge_labels, plane.edge_labels, strict=True):
            actor.SetInput(text)
        self.overlays.clear()
        self._on_case_changed()

    @property
    def overlay_actor(self) -> vtkImageActor:
        return self.overlays.label_actor

    # --- scene ------------------------------------------------------------------------------------------
    def _build_scene(self) -> None:
        self._image = vtkImageData()
        self.image_actor = vtkImageActor()
        self.image_actor.GetMapper().SetInputData(self._image)
        self.image_actor.GetProperty().SetInterpolationTypeToLinear()
        self.image_actor.VisibilityOff()
        self.renderer.AddActor(self.image_actor)
        self.overlays = SliceOverlays(self.renderer)
        self.measurement_lines = MeasurementLines(self.renderer)
        self.brush_outline = BrushOutline(self.renderer)
        self._outline_voxel: tuple[int, int, int] | None = None
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
        self.renderer.AddActor(self.crosshair_actor)
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
            (self.model.label_changed, self._on_label_changed),
            (self.model.measurement_lines_changed, self._on_measurement_lines_changed),
        )
        for event, callback in pairs:
            (event.connect if connect else event.disconnect)(callback)

    def _on_case_changed(self) -> None:
        self._shown_key = None
        self._auto_fit = True
        self._outline_voxel = None  # a voxel of the old case; the next mouse move draws the outline again
        self.brush_outline.hide()
        self._update_all()
        self.reset_view()

    def _on_cursor_changed(self, _old: tuple[int, int, int] | None = None) -> None:
        self._update_all()

    def _on_modality_changed(self) -> None:
        if self.fixed_modality is None:
            self._update_all()

    def _on_window_level_changed(self, modality: str) -> None:
        if modality == self.modality and self._on_screen():
            self._apply_window_level()
            self.render()

    def _on_overlay_changed(self) -> None:
        self._on_label_changed()

    def _on_label_changed(self) -> None:
        """Repaint the overlays of the shown slice only (editors call this on every brush dab)."""
        if self.model.case is None or not self._on_screen():
            return
        started = time.perf_counter()
        if self.overlays.update(self.model, self.plane, self.slice_index, self.display_spacing):
            self.render(started)

    def _on_measurement_lines_changed(self) -> None:
        if self.model.case is not None and self._on_screen():
            self.measurement_lines.update(self.model, self.plane, self.slice_index, self.display_spacing)
            self.render()

    def _on_screen(self) -> bool:
        """True when the view is shown; otherwise remember to catch up when it is."""
        if self._closed:
            return False
        if not self.isVisible():
            self._stale = True
            return False
        return True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale and self.model.case is not None and not self._closed:
            self._stale = False
            self._update_all()

    def _update_all(self) -> None:
        """Bring slice, overlays, crosshair and texts in line with the model, then render."""
        if self.model.case is None or not self._on_screen():
            return
        started = time.perf_counter()
        self._update_slice()
        self._apply_window_level()
        self.overlays.update(self.model, self.plane, self.slice_index, self.display_spacing)
        self.measurement_lines.update(self.model, self.plane, self.slice_index, self.display_spacing)
        self._update_crosshair()
        self._update_info_text()
        self.render(started)

    def _update_slice(self) -> None:
        case = self.model.case
        volume = case.volumes.get(self.modality or "") if case is not None else None
        index = self.slice_index
        key = (self.modality, index, id(case))
        if volume is None or key == self._shown_key:
            return
        self._shown_key = key
        set_image_pixels(self._image, display_slice(volume.data, self.plane, index), self.display_spacing)
        self.image_actor.VisibilityOn()

    @property
    def window_level(self) -> WindowLevel | None:
        return self.model.window_levels.get(self.modality or "")

    def _apply_window_level(self) -> None:
        window_level = self.window_level
        if window_level is None:
            return
        prop = self.image_actor.GetProperty()
        prop.SetColorWindow(window_level.window)
        prop.SetColorLevel(window_level.level)
        self.window_text.SetInput(f"W {window_level.window:.0f}  L {window_level.level:.0f}")

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
        text = f"{self.plane.title}  {self.model.cursor[axis] + 1}/{self.model.shape[axis]}"
        if self.fixed_modality is not None:
            text = f"{DISPLAY_NAMES.get(self.fixed_modality, self.fixed_modality)}  {text}"
        self.info_text.SetInput(text)

    def update_brush_outline(self, voxel: object = "keep") -> None:
        """Draw the active tool's brush outline around ``voxel`` (the voxel under the mouse; None: the mouse left
        the image; "keep": the last one, after a tool or brush-size change)."""
        if voxel != "keep":
            self._outline_voxel = voxel  # type: ignore[assignment]
        outline = getattr(self.tool, "brush_outline", None)
        spec = outline() if outline is not None else None
        if self._outline_voxel is None or spec is None or self.model.case is None or self._closed:
            changed = self.brush_outline.hide()
        else:
            radius_mm, rgb = spec
            column, row = voxel_to_display(self._outline_voxel, self.model.shape, self.plane)
            sx, sy = self.display_spacing
            changed = self.brush_outline.show((column * sx, row * sy), max(radius_mm, min(sx, sy) / 2), rgb)
        if changed:
            self.render()

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

    def voxel_under(self, x: int, y: int) -> tuple[int, int, int] | None:
        """The voxel under VTK display pixel (x, y), or None when (x, y) is off the slice image."""
        column, row = self._display_to_image(x, y)
        columns, rows = display_shape(self.model.shape, self.plane)
        if not (0 <= column < columns and 0 <= row < rows):
            return None
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

