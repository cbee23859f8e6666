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
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkTextActor, vtkWindowToImageFilter  # noqa: E402

# anchor -> (x, y in normalised viewport coordinates, horizontal and vertical justification)
_ANCHORS = {
    "left": (0.012, 0.5, "Left", "Centered"), "right": (0.988, 0.5, "Right", "Centered"),
    "top": (0.5, 0.985, "Centered", "Top"), "bottom": (0.5, 0.015, "Centered", "Bottom"),
    "top-left": (0.012, 0.985, "Left", "Top"), "bottom-right": (0.988, 0.015, "Right", "Bottom"),
}


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


def anchored_text_actor(text: str, anchor: str, rgb: tuple[float, float, float], size: int,
                        bold: bool = False) -> vtkTextActor:
    """A text that stays at an edge or corner of its viewport (``anchor``: a key of ``_ANCHORS``)."""
    x, y, horizontal, vertical = _ANCHORS[anchor]
    actor = vtkTextActor()
    actor.SetInput(text)
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(x, y)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*rgb)
    prop.SetBold(bold)
    prop.SetShadow(True)
    getattr(prop, f"SetJustificationTo{horizontal}")()
    getattr(prop, f"SetVerticalJustificationTo{vertical}")()
    return actor


def set_image_pixels(image: vtkImageData, pixels: np.ndarray, spacing: tuple[float, float]) -> None:
    """Put a 2D display image (rows bottom->top, columns[, components]) into ``image`` with in-plane ``spacing``."""
    rows, columns = pixels.shape[:2]
    components = pixels.shape[2] if pixels.ndim == 3 else 1
    if image.GetDimensions() != (columns, rows, 1):
        image.SetDimensions(columns, rows, 1)
    image.SetSpacing(spacing[0], spacing[1], 1.0)
    image.SetOrigin(0.0, 0.0, 0.0)
    image.GetPointData().SetScalars(numpy_to_vtk(pixels.reshape(rows * columns, components), deep=True))
    image.Modified()
