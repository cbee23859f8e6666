"""VTK inside Qt: the render-window widget every view uses, and reading back what VTK rendered.

Importing this module pins VTK's Qt binding to PySide6 and loads the OpenGL rendering back ends (VTK's
factory classes stay abstract until those modules are imported).
"""

from __future__ import annotations

import numpy as np
import vtkmodules.qt

vtkmodules.qt.PyQtImpl = "PySide6"

# The imports below register the OpenGL implementations and text rendering with VTK's object factories.
import vtkmodules.vtkInteractionStyle  # noqa: E402,F401
import vtkmodules.vtkRenderingFreeType  # noqa: E402,F401
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402,F401
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: E402,F401
from PySide6.QtWidgets import QWidget  # noqa: E402
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402
from vtkmodules.util.numpy_support import vtk_to_numpy  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkWindowToImageFilter  # noqa: E402


def create_vtk_widget(parent: QWidget | None = None) -> QVTKRenderWindowInteractor:
    """A Qt widget hosting one VTK render window; its interactor gets no default interaction style."""
    widget = QVTKRenderWindowInteractor(parent)
    # No multisample anti-aliasing: slices are images and crosshairs are axis-aligned lines, so it would only
    # cost time (it more than doubles the render time of a slice view under Mesa's software OpenGL).
    widget.GetRenderWindow().SetMultiSamples(0)
    # Views install their own observers; a default style would add rotate/zoom and 'e' (exit) keys.
    widget.GetRenderWindow().GetInteractor().SetInteractorStyle(None)
    return widget


def render_window_pixels(render_window: vtkRenderWindow) -> np.ndarray:
    """What ``render_window`` shows, rendered afresh, as an (height, width, 3) uint8 array, row 0 at the top."""
    grabber = vtkWindowToImageFilter()
    grabber.SetInput(render_window)
    grabber.SetInputBufferTypeToRGB()
    grabber.ReadFrontBufferOff()
    grabber.ShouldRerenderOn()
    grabber.Update()
    image = grabber.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])
