"""Smooth 3D surfaces of the tumour regions for the 3D view.

Per shown class (a BraTS label, or a WT/TC/ET region in regions mode, see ``gui.viewer.overlay_style``): the class
mask is cropped to its bounding box, vtkDiscreteFlyingEdges3D extracts its boundary, vtkWindowedSincPolyData
Filter smooths the voxel staircase away (without shrinking the surface), and vtkPolyDataNormals gives smooth
shading. Surfaces nest like the BraTS regions, so that neighbouring labels do not share (z-fighting) faces:
the oedema colour wraps the whole tumour (WT), the necrosis colour the core (TC), the enhancing colour ET.
The outer shell is translucent so that the core and enhancing rim inside it stay visible.
"""

from __future__ import annotations

import logging

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from gui.viewer.overlay_style import REGION_ORDER, OverlayStyle, class_lut, color_lut

log = logging.getLogger(__name__)

_SMOOTHING_ITERATIONS = 15
_PASS_BAND = 0.05
# Opacity per displayed class: oedema (label 2) and the whole tumour (region WT) are translucent shells.
_SHELL_OPACITY = 0.35
_SHELL_CLASSES_LABELS = {2}
_SHELL_CLASSES_REGIONS = {REGION_ORDER.index("WT") + 1}
# Labels mode: each label's surface encloses the labels inside it (oedema -> WT, necrosis -> TC, ET -> ET).
LABEL_NESTS = {2: (1, 2, 4), 1: (1, 4), 4: (4,)}


def class_surface(mask: np.ndarray, origin: np.ndarray, spacing: tuple[float, float, float]) -> vtkActor | None:
    """A smoothed surface actor of a boolean voxel ``mask`` placed at ``origin`` + index * ``spacing``.

    Returns:
        None when the mask is empty.
    """
    indices = np.argwhere(mask)
    if indices.size == 0:
        return None
    low = np.maximum(indices.min(axis=0) - 1, 0)
    high = np.minimum(indices.max(axis=0) + 2, mask.shape)
    crop = np.zeros(tuple(high - low + 2), dtype=np.uint8)  # one empty voxel all round closes the surface
    crop[1:-1, 1:-1, 1:-1] = mask[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
    image = vtkImageData()
    image.SetDimensions(*crop.shape)
    image.SetSpacing(*spacing)
    image.SetOrigin(*(origin + (low - 1) * np.asarray(spacing)))
    # VTK images are x-fastest: the transpose makes the C-order buffer run along numpy axis 0 first.
    image.GetPointData().SetScalars(numpy_to_vtk(np.ascontiguousarray(crop.transpose(2, 1, 0)).ravel(), deep=True))
    contour = vtkDiscreteFlyingEdges3D()
    contour.SetInputData(image)
    contour.SetValue(0, 1)
    smoother = vtkWindowedSincPolyDataFilter()
    smoother.SetInputConnection(contour.GetOutputPort())
    smoother.SetNumberOfIterations(_SMOOTHING_ITERATIONS)
    smoother.SetPassBand(_PASS_BAND)
    smoother.NonManifoldSmoothingOn()
    smoother.NormalizeCoordinatesOn()
    smoother.BoundarySmoothingOff()
    smoother.FeatureEdgeSmoothingOff()
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(smoother.GetOutputPort())
    normals.ComputePointNormalsOn()
    normals.SplittingOff()
    normals.Update()
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(normals.GetOutput())
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    return actor


class LabelSurfaces:
    """The tumour surfaces in one renderer; ``update`` rebuilds them from a label map and a style."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.actors: dict[int, vtkActor] = {}  # displayed class -> surface

    def update(self, label: np.ndarray | None, style: OverlayStyle, origin: np.ndarray,
               spacing: tuple[float, float, float], visible: bool = True) -> None:
        """Rebuild the surfaces of every shown class of ``label`` (none when ``visible`` is False)."""
        self.clear()
        if label is None or not visible:
            return
        classes = class_lut(style)[label]
        colors = color_lut(style)
        shells = _SHELL_CLASSES_REGIONS if style.regions else _SHELL_CLASSES_LABELS
        present = np.flatnonzero(np.bincount(classes.ravel(), minlength=256))
        for value in present[present > 0]:
            mask = classes >= value if style.regions else np.isin(label, LABEL_NESTS.get(int(value), (value,)))
            actor = class_surface(mask, origin, spacing)
            if actor is None:
                continue
            prop = actor.GetProperty()
            prop.SetColor(*(colors[value, :3] / 255.0))
            prop.SetOpacity(_SHELL_OPACITY if int(value) in shells else 1.0)
            prop.SetSpecular(0.25)
            prop.SetSpecularPower(20)
            self.renderer.AddActor(actor)
            self.actors[int(value)] = actor
        log.debug("3D label surfaces: classes %s", sorted(self.actors))

    def clear(self) -> None:
        for actor in self.actors.values():
            self.renderer.RemoveActor(actor)
        self.actors = {}
