"""Measurement lines drawn in the slice views, e.g. the RANO diameters, with end-point handles to drag.

The lines live in the model (``ViewerModel.measurement_lines``, voxel end points); each slice view draws those
whose two ends lie on the slice it shows, in the one RANO colour shared with the report
(``engine.rano.RANO_LINE_RGB``). A line ends at the outer edges of its end voxels, as its length is measured
(``engine.rano``). In an axial view, each end point has a square handle: pressing the left button within
``HANDLE_PICK_PIXELS`` of one and dragging moves that end point voxel by voxel (the model's lines change, and
the measurement panel turns the moved line into a corrected RANO measurement). The handles take the mouse
before the view's own input (a higher-priority VTK observer that aborts the event), so dragging a handle
neither moves the crosshair nor paints.
"""

from __future__ import annotations

import math

from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from engine.rano import AXIAL_AXIS, RANO_HANDLE_RGB, RANO_LINE_RGB
from gui.viewer.orientation import Plane, display_shape, display_to_voxel, voxel_to_display
from gui.viewer.viewer_model import ViewerModel

_LINES_Z = 0.9  # above the overlays (0.5-0.7), below the crosshair (1)
_HANDLES_Z = 0.95
HANDLE_PICK_PIXELS = 8
_HANDLE_PIXELS = 9
_HANDLE_PRIORITY = 10.0  # VTK calls higher priorities first; the view's own observers have 0
Voxel = tuple[int, int, int]


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(c / 255.0 for c in colour)  # type: ignore[return-value]


class MeasurementLines:
    """The measurement-line and handle actors of one slice view, and the handle dragging."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self._points, self._lines, self._poly = vtkPoints(), vtkCellArray(), vtkPolyData()
        self.actor = self._actor(self._poly, self._points, self._lines, RANO_LINE_RGB)
        self.actor.GetProperty().SetLineWidth(2.5)
        self._handle_points, self._vertices, self._handle_poly = vtkPoints(), vtkCellArray(), vtkPolyData()
        self.handle_actor = self._actor(self._handle_poly, self._handle_points, self._vertices, RANO_HANDLE_RGB,
                                        lines=False)
        self.handle_actor.GetProperty().SetPointSize(_HANDLE_PIXELS)
        self.shown = 0  # lines drawn on the current slice
        #: (line index, end index 0/1, display-world x, y) of each handle shown
        self.handles: list[tuple[int, int, float, float]] = []
        self.dragging: tuple[int, int] | None = None
        self._state: tuple[ViewerModel, Plane, int, tuple[float, float]] | None = None
        self._observed = None

    def _actor(self, poly: vtkPolyData, points: vtkPoints, cells: vtkCellArray, colour: tuple[int, int, int],
               lines: bool = True) -> vtkActor:
        poly.SetPoints(points)
        (poly.SetLines if lines else poly.SetVerts)(cells)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*_rgb(colour))
        actor.VisibilityOff()
        self.renderer.AddActor(actor)
        return actor

    def update(self, model: ViewerModel, plane: Plane, index: int, spacing: tuple[float, float]) -> None:
        """Draw the model's lines that lie in slice ``index`` of ``plane`` (handles in axial views)."""
        self._state = (model, plane, index, spacing)
        self._observe()
        axis = plane.normal_axis
        for container in (self._points, self._lines, self._handle_points, self._vertices):
            container.Reset()
        self.handles = []
        for number, (start, end) in enumerate(model.measurement_lines):
            if start[axis] != index or end[axis] != index:
                continue
            ends = [self._display_point(voxel, model, plane, spacing) for voxel in (start, end)]
            a, b = _to_voxel_edges(ends[0], ends[1], spacing)
            ids = [self._points.InsertNextPoint(x, y, _LINES_Z) for x, y in (a, b)]
            self._lines.InsertNextCell(2, ids)
            if axis == AXIAL_AXIS:
                for end_index, (x, y) in enumerate(ends):
                    self._vertices.InsertNextCell(1, (self._handle_points.InsertNextPoint(x, y, _HANDLES_Z),))
                    self.handles.append((number, end_index, x, y))
        self.shown = self._lines.GetNumberOfCells()
        for poly, parts in ((self._poly, (self._points, self._lines)),
                            (self._handle_poly, (self._handle_points, self._vertices))):
            for part in parts:
                part.Modified()
            poly.Modified()
        self.actor.SetVisibility(self.shown > 0)
        self.handle_actor.SetVisibility(bool(self.handles))

    @staticmethod
    def _display_point(voxel: Voxel, model: ViewerModel, plane: Plane, spacing: tuple[float, float]) -> tuple[float, float]:
        column, row = voxel_to_display(tuple(int(v) for v in voxel), model.shape, plane)
        return column * spacing[0], row * spacing[1]

    # --- dragging -------------------------------------------------------------------------------------------
    def _observe(self) -> None:
        window = self.renderer.GetRenderWindow()
        interactor = window.GetInteractor() if window is not None else None
        if interactor is None or self._observed is interactor:
            return
        self._observed = interactor
        self._tags = {event: interactor.AddObserver(event, self._on_event, _HANDLE_PRIORITY)
                      for event in ("LeftButtonPressEvent", "MouseMoveEvent", "LeftButtonReleaseEvent")}

    def _on_event(self, interactor: object, event: str) -> None:
        x, y = interactor.GetEventPosition()  # type: ignore[attr-defined]
        if event == "LeftButtonPressEvent":
            self.dragging = self.handle_at(x, y)
            handled = self.dragging is not None
        elif event == "MouseMoveEvent":
            handled = self.dragging is not None
            if handled:
                self.drag_to(x, y)
        else:
            handled, self.dragging = self.dragging is not None, None
        if handled:  # the view's own input (crosshair, tools) must not see this event
            interactor.GetCommand(self._tags[event]).SetAbortFlag(1)  # type: ignore[attr-defined]

    def handle_at(self, x: int, y: int) -> tuple[int, int] | None:
        """(line index, end index) of the handle within ``HANDLE_PICK_PIXELS`` of display pixel (x, y), if any."""
        best, best_distance = None, float(HANDLE_PICK_PIXELS)
        for number, end_index, wx, wy in self.handles:
            self.renderer.SetWorldPoint(wx, wy, 0.0, 1.0)
            self.renderer.WorldToDisplay()
            hx, hy, _ = self.renderer.GetDisplayPoint()
            distance = math.hypot(hx - x, hy - y)
            if distance <= best_distance:
                best, best_distance = (number, end_index), distance
        return best

    def drag_to(self, x: int, y: int) -> None:
        """Move the dragged end point to the voxel under display pixel (x, y) on this slice (clamped)."""
        if self.dragging is None or self._state is None:
            return
        model, plane, index, spacing = self._state
        self.renderer.SetDisplayPoint(float(x), float(y), 0.0)
        self.renderer.DisplayToWorld()
        wx, wy, _, w = self.renderer.GetWorldPoint()
        wx, wy = (wx / w, wy / w) if w else (wx, wy)
        columns, rows = display_shape(model.shape, plane)
        column = min(max(int(round(wx / spacing[0])), 0), columns - 1)
        row = min(max(int(round(wy / spacing[1])), 0), rows - 1)
        voxel = display_to_voxel(column, row, index, model.shape, plane)
        number, end_index = self.dragging
        lines = list(model.measurement_lines)
        if number >= len(lines):  # the lines were replaced meanwhile (e.g. measured again): stop dragging
            self.dragging = None
            return
        ends = list(lines[number])
        ends[end_index] = voxel
        lines[number] = (ends[0], ends[1])
        model.set_measurement_lines(lines)


def _to_voxel_edges(a: tuple[float, float], b: tuple[float, float],
                    spacing: tuple[float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The segment a-b (voxel centres) lengthened by half a voxel at each end, as its length is measured."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    if length == 0:
        return a, b
    ux, uy = dx / length, dy / length
    half = 0.5 / math.hypot(ux / spacing[0], uy / spacing[1])
    return (a[0] - ux * half, a[1] - uy * half), (b[0] + ux * half, b[1] + uy * half)
