"""The overlays of one slice view: the label map (fill or outline) and the uncertainty map, as VTK image actors.

Each overlay is an RGBA display image painted by ``gui.viewer.overlay_style`` from the slice under the cursor. An
actor is hidden on slices where nothing would be drawn (most slices hold no tumour), which is cheaper than
uploading and blending a transparent image.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer

from gui.viewer.orientation import Plane, display_slice
from gui.viewer.overlay_style import OverlayPainter, paint_uncertainty
from gui.viewer.viewer_model import ViewerModel
from gui.viewer.vtk_widget import set_image_pixels

# Depth along the camera axis (the image sits at 0, the crosshair at 1).
_LABEL_Z, _UNCERTAINTY_Z = 0.5, 0.7
_UNCERTAINTY_OPACITY = 0.85


class SliceOverlays:
    """Label and uncertainty actors of one slice view, kept in step with the model by ``update``."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.painter = OverlayPainter()
        self.label_actor, self._labels = _image_actor(_LABEL_Z)
        self.uncertainty_actor, self._uncertainty = _image_actor(_UNCERTAINTY_Z)
        renderer.AddActor(self.label_actor)
        renderer.AddActor(self.uncertainty_actor)
        self._has_labels = False
        self._has_uncertainty = False
        self._painted: tuple | None = None  # what the overlays show now: inputs and the label slice

    def update(self, model: ViewerModel, plane: Plane, index: int, spacing: tuple[float, float]) -> bool:
        """Repaint both overlays for slice ``index`` of ``plane`` and apply the model's style.

        Returns:
            False when nothing changed on screen (e.g. an edit elsewhere in the volume), so no render is needed.
        """
        if self.painter.style is not model.overlay_style:
            self.painter.set_style(model.overlay_style)
        label = model.label
        labels = display_slice(label, plane, index) if label is not None else None
        key = (id(label), id(model.uncertainty), model.overlay_style, model.overlay_visible, model.overlay_opacity,
               plane, index, spacing)
        if self._painted is not None and self._painted[0] == key and (
                labels is None or np.array_equal(self._painted[1], labels)):
            return False
        self._painted = (key, labels)
        rgba = None
        if labels is not None and model.overlay_visible:
            rgba = self.painter.paint(labels)
        self._has_labels = rgba is not None
        if rgba is not None:
            set_image_pixels(self._labels, rgba, spacing)
        uncertainty = model.uncertainty
        rgba = None
        if uncertainty is not None and model.overlay_style.uncertainty_visible:
            rgba = paint_uncertainty(display_slice(uncertainty, plane, index))
        self._has_uncertainty = rgba is not None
        if rgba is not None:
            set_image_pixels(self._uncertainty, rgba, spacing)
        self.apply_style(model)
        return True

    def apply_style(self, model: ViewerModel) -> None:
        """Visibility and opacity; outlines are drawn opaque so that thin lines stay readable."""
        self.label_actor.SetVisibility(model.overlay_visible and self._has_labels)
        opacity = 1.0 if model.overlay_style.outline else model.overlay_opacity
        self.label_actor.GetProperty().SetOpacity(opacity)
        self.uncertainty_actor.SetVisibility(model.overlay_style.uncertainty_visible and self._has_uncertainty)
        self.uncertainty_actor.GetProperty().SetOpacity(_UNCERTAINTY_OPACITY)

    def clear(self) -> None:
        self._painted = None
        self._has_labels = self._has_uncertainty = False
        self.label_actor.VisibilityOff()
        self.uncertainty_actor.VisibilityOff()


def _image_actor(z: float) -> tuple[vtkImageActor, vtkImageData]:
    image = vtkImageData()
    actor = vtkImageActor()
    actor.GetMapper().SetInputData(image)
    actor.GetProperty().SetInterpolationTypeToNearest()
    actor.SetPosition(0, 0, z)
    actor.VisibilityOff()
    return actor, image

