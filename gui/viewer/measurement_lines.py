"""Measurement lines drawn in the slice views: e.g. the RANO diameters of the enhancing tumour.

The lines live in the model (``ViewerModel.measurement_lines``, voxel end points); each slice view draws those
whose two ends lie on the slice it shows, all in one VTK line actor of one bright colour.
"""

from __future__ import annotations

from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from gui.viewer.orientation import Plane, voxel_to_display
from gui.viewer.viewer_model import ViewerModel

_LINES_Z = 0.9  # above the overlays (0.5-0.7), below the crosshair (1)
_LINES_RGB = (0.2, 0.9, 1.0)


class MeasurementLines:
    """The measurement-line actor of one slice view."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._points = vtkPoints()
        self._lines = vtkCellArray()
        self._poly = vtkPolyData()
        self._poly.SetPoints(self._points)
        self._poly.SetLines(self._lines)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._poly)
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetColor(*_LINES_RGB)
        self.actor.GetProperty().SetLineWidth(2.5)
        self.actor.VisibilityOff()
        renderer.AddActor(self.actor)
        self.shown = 0  # lines drawn on the current slice

    def update(self, model: ViewerModel, plane: Plane, index: int, spacing: tuple[float, float]) -> None:
        """Draw the model's lines that lie in slice ``index`` of ``plane``."""
        axis = plane.normal_axis
        self._points.Reset()
        self._lines.Reset()
        shape, (sx, sy) = model.shape, spacing
        for start, end in model.measurement_lines:
            if start[axis] != index or end[axis] != index:
                continue
            ids = []
            for voxel in (start, end):
                column, row = voxel_to_display(tuple(int(v) for v in voxel), shape, plane)
                ids.append(self._points.InsertNextPoint(column * sx, row * sy, _LINES_Z))
            self._lines.InsertNextCell(2, ids)
        self.shown = self._lines.GetNumberOfCells()
        self._points.Modified()
        self._lines.Modified()
        self._poly.Modified()
        self.actor.SetVisibility(self.shown > 0)
