"""The brush outline of a slice view: a circle of the brush radius (mm) around the voxel under the mouse.

The views' world coordinates are display millimetres, so a circle of ``radius_mm`` drawn in world space has the
brush's true size at any zoom. It is centred on the voxel the brush would paint around (the voxel under the
mouse), and drawn in the colour of the label the brush paints (white for the eraser).
"""

from __future__ import annotations

import math

from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

_OUTLINE_Z = 0.95  # above the overlays and measurement lines, just below the crosshair (1.0)
_SEGMENTS = 72


class BrushOutline:
    """One circle actor in a slice view's renderer."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._points = vtkPoints()
        self._points.SetNumberOfPoints(_SEGMENTS)
        loop = vtkCellArray()
        loop.InsertNextCell(_SEGMENTS + 1, [*range(_SEGMENTS), 0])
        self._poly = vtkPolyData()
        self._poly.SetPoints(self._points)
        self._poly.SetLines(loop)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._poly)
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetLineWidth(2.0)
        self.actor.PickableOff()
        self.actor.VisibilityOff()
        renderer.AddActor(self.actor)
        #: (centre x, centre y, radius) in display mm and the colour of what is drawn; None while hidden
        self.shown: tuple[float, float, float, tuple[float, float, float]] | None = None

    def show(self, centre: tuple[float, float], radius_mm: float, rgb: tuple[float, float, float]) -> bool:
        """Draw the circle; returns whether anything changed (the caller renders then)."""
        wanted = (float(centre[0]), float(centre[1]), float(radius_mm), tuple(rgb))
        if wanted == self.shown:
            return False
        x, y, radius, _ = wanted
        for index in range(_SEGMENTS):
            angle = 2 * math.pi * index / _SEGMENTS
            self._points.SetPoint(index, x + radius * math.cos(angle), y + radius * math.sin(angle), _OUTLINE_Z)
        self._points.Modified()
        self._poly.Modified()
        self.actor.GetProperty().SetColor(*rgb)
        self.actor.VisibilityOn()
        self.shown = wanted  # type: ignore[assignment]
        return True

    def hide(self) -> bool:
        """Hide the circle; returns whether it was shown."""
        if self.shown is None:
            return False
        self.actor.VisibilityOff()
        self.shown = None
        return True

    def radius_pixels(self, renderer: vtkRenderer) -> float | None:
        """The drawn radius in display pixels (for tests and screenshots); None while hidden."""
        if self.shown is None:
            return None
        x, y, radius, _ = self.shown
        ends = []
        for point in ((x, y), (x + radius, y)):
            renderer.SetWorldPoint(point[0], point[1], _OUTLINE_Z, 1.0)
            renderer.WorldToDisplay()
            ends.append(renderer.GetDisplayPoint()[:2])
        return math.dist(*ends)
