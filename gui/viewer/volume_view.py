"""The 3D view: volume rendering of the active contrast with an orientation cube, drawn with VTK.

vtkSmartVolumeMapper does the rendering: GPU ray casting on a real GPU, CPU ray casting (its multi-threaded
fixed-point ray caster) when OpenGL supports no GPU ray casting or is a software rasteriser (Mesa llvmpipe,
as under Xvfb), where the CPU caster is 5-10x faster than GPU ray casting emulated in software.
``REVSEG_VOLUME_RENDERING=gpu`` or ``=cpu`` overrides the choice. Volumes above 3 million voxels are shown
at half resolution (every second voxel), which keeps rotation interactive without a GPU. The transfer function
follows the active contrast's window/level (re-rendered after a short pause, as dragging it re-renders
the 2D views many times per second).

The tumour labels are drawn as smooth coloured surfaces inside the volume (``gui.viewer.label_surfaces``), updated
a short while (``surface_timer``) after the label map or the overlay style last changed (an editor changes the
label map on every brush dab; the workstation shortens the wait to the next event-loop turn outside a brush
stroke). After an edit only the changed classes are recomputed, and the view is first rendered at interactive
quality (the volume ray caster samples more coarsely, ~4x faster on a CPU), then at full quality once edits
pause. While surfaces are shown the volume rendering is made fainter so that they show through.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPiecewiseFunction
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkColorTransferFunction,
    vtkRenderer,
    vtkTextActor,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from gui.viewer.label_surfaces import LabelSurfaces
from gui.viewer.viewer_model import DISPLAY_NAMES, ViewerModel, WindowLevel
from gui.viewer.vtk_widget import create_vtk_widget

log = logging.getLogger(__name__)

# Above this many voxels the volume is rendered from every second voxel along each axis.
_FULL_RESOLUTION_MAX_VOXELS = 3_000_000
_TRANSFER_FUNCTION_DELAY_MS = 200
_SURFACE_DELAY_MS = 300
# After an edit: render at this desired update rate (frames/s; the CPU ray caster coarsens its sampling to meet
# it), then at still quality once no edit came for _STILL_RENDER_DELAY_MS.
_EDIT_UPDATE_RATE = 10.0
_STILL_RENDER_DELAY_MS = 600
# Volume-rendering opacity while tumour surfaces are shown: the brain becomes a faint context.
_CONTEXT_OPACITY_SCALE = 0.08
# Camera direction from the volume centre: in front (anterior), a little to the patient's left and above.
_CAMERA_DIRECTION = np.array([-0.45, 1.0, 0.35])
_SOFTWARE_OPENGL = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe")
_RENDER_MODES = {0: "default", 1: "CPU ray cast", 2: "GPU ray cast", 3: "unsupported", 4: "OSPRay", 5: "ANARI"}


class VolumeView(QWidget):
    """Volume rendering of the model's active contrast; rotate with the left mouse button, zoom with the wheel.

    Signals:
        surfaces_updated(int generation): the tumour surfaces now show the label map as of ``label_generation``
            ``generation`` (counted up on every label or overlay change), and the view was rendered.
    """

    surfaces_updated = Signal(int)

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.vtk_widget = create_vtk_widget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.vtk_widget)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.interactor = self.render_window.GetInteractor()
        self.interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.renderer = vtkRenderer()
        self.renderer.GradientBackgroundOn()
        self.renderer.SetBackground(0.02, 0.02, 0.03)
        self.renderer.SetBackground2(0.16, 0.17, 0.21)
        self.render_window.AddRenderer(self.renderer)
        self._closed = False
        #: counts label-map and overlay changes; ``surfaces_updated`` says which one the surfaces show
        self.label_generation = 0
        self._image = vtkImageData()
        self.mapper = vtkSmartVolumeMapper()
        self.mapper.SetInputData(self._image)
        self.volume = vtkVolume()
        self.volume.SetMapper(self.mapper)
        self.volume.SetProperty(_volume_property())
        self.volume.VisibilityOff()
        self.renderer.AddVolume(self.volume)
        self.title = vtkTextActor()
        self.title.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.title.GetPositionCoordinate().SetValue(0.012, 0.985)
        self.title.GetTextProperty().SetFontSize(13)
        self.title.GetTextProperty().SetVerticalJustificationToTop()
        self.title.GetTextProperty().SetColor(0.85, 0.85, 0.85)
        self.title.SetInput("3D")
        self.renderer.AddViewProp(self.title)
        self.vtk_widget.Initialize()
        self.render_mode = _choose_render_mode(self.render_window, self.mapper)
        self._orientation_marker = _orientation_marker(self.interactor)
        self._transfer_timer = QTimer(self)
        self._transfer_timer.setSingleShot(True)
        self._transfer_timer.setInterval(_TRANSFER_FUNCTION_DELAY_MS)
        self._transfer_timer.timeout.connect(self._update_transfer_function)
        self._logged_mode = False
        self.surfaces = LabelSurfaces(self.renderer)
        #: waits after a label or overlay change before the surfaces follow (coalesces a drag's dabs)
        self.surface_timer = QTimer(self)
        self.surface_timer.setSingleShot(True)
        self.surface_timer.setInterval(_SURFACE_DELAY_MS)
        self.surface_timer.timeout.connect(self.update_surfaces)
        self._still_timer = QTimer(self)
        self._still_timer.setSingleShot(True)
        self._still_timer.setInterval(_STILL_RENDER_DELAY_MS)
        self._still_timer.timeout.connect(self.render)
        self._connect_model(True)
        if model.case is not None:
            self._on_case_changed()

    def _connect_model(self, connect: bool) -> None:
        pairs = (
            (self.model.case_changed, self._on_case_changed),
            (self.model.modality_changed, self._on_modality_changed),
            (self.model.window_level_changed, self._on_window_level_changed),
            (self.model.label_changed, self._schedule_surfaces),
            (self.model.overlay_changed, self._schedule_surfaces),
        )
        for event, callback in pairs:
            (event.connect if connect else event.disconnect)(callback)

    def _on_case_changed(self) -> None:
        self.label_generation += 1
        self.surfaces.clear()  # the previous case's surfaces and label copy go now, not at the next update
        self._update_volume()
        self.update_surfaces(render=False)
        self.reset_camera()

    def _schedule_surfaces(self) -> None:
        self.label_generation += 1
        if not self._closed:
            self.surface_timer.start()

    def update_surfaces(self, render: bool = True) -> None:
        """Bring the tumour surfaces in line with the model's label map and overlay style now."""
        self.surface_timer.stop()
        case = self.model.case
        if case is None or self._closed:
            return
        generation = self.label_generation
        self.surfaces.update(case.label, self.model.overlay_style, case.affine[:3, 3], case.spacing,
                             visible=self.model.overlay_visible)
        self._update_transfer_function(render=False)
        if render and self.surfaces.last_update[0] == "incremental":
            self._render_interactive()
        elif render:
            self.render()
        self.surfaces_updated.emit(generation)

    def _render_interactive(self) -> None:
        """Render at interactive quality now, at still quality when no further edit follows soon."""
        still = self.render_window.GetDesiredUpdateRate()
        self.render_window.SetDesiredUpdateRate(_EDIT_UPDATE_RATE)
        try:
            self.render()
        finally:
            self.render_window.SetDesiredUpdateRate(still)
        self._still_timer.start()

    def _on_modality_changed(self) -> None:
        self._update_volume()
        self.render()

    def _on_window_level_changed(self, modality: str) -> None:
        if modality == self.model.active_modality and not self._closed:
            self._transfer_timer.start()

    def _update_volume(self) -> None:
        """Load the active contrast into the mapper's image (subsampled when large)."""
        volume, case = self.model.active_volume, self.model.case
        if volume is None or case is None:
            return
        step = 1 if volume.size <= _FULL_RESOLUTION_MAX_VOXELS else 2
        sub = volume[::step, ::step, ::step]
        # VTK images are x-fastest: the transpose makes the C-order buffer run along numpy axis 0 first.
        scalars = numpy_to_vtk(np.ascontiguousarray(sub.transpose(2, 1, 0)).ravel(), deep=True)
        self._image.SetDimensions(*sub.shape)
        self._image.SetSpacing(*(s * step for s in case.spacing))
        self._image.SetOrigin(*case.affine[:3, 3])
        self._image.GetPointData().SetScalars(scalars)
        self._image.Modified()
        self.volume.VisibilityOn()
        self.title.SetInput(f"3D  {DISPLAY_NAMES.get(self.model.active_modality or '', '')}")
        self._update_transfer_function(render=False)

    def _update_transfer_function(self, render: bool = True) -> None:
        window_level = self.model.window_level
        if window_level is None or self._closed:
            return
        scale = _CONTEXT_OPACITY_SCALE if self.surfaces.actors else 1.0
        _set_transfer_functions(self.volume.GetProperty(), window_level, scale)
        if render:
            self.render()

    def reset_camera(self) -> None:
        """Look at the whole volume from the front-left, above, superior up."""
        if self.model.case is None:
            return
        center = np.array(self.volume.GetCenter())
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*center)
        camera.SetPosition(*(center + _CAMERA_DIRECTION / np.linalg.norm(_CAMERA_DIRECTION) * 500.0))
        camera.SetViewUp(0.0, 0.0, 1.0)
        self.renderer.ResetCamera()
        camera.Zoom(1.5)
        self.render()

    def render(self) -> None:
        if self._closed or not self.vtk_widget.isVisible():
            return
        self.render_window.Render()
        if not self._logged_mode and self.volume.GetVisibility():
            self._logged_mode = True
            mode = _RENDER_MODES.get(self.mapper.GetLastUsedRenderMode(), "unknown")
            log.info("volume rendering uses %s", mode)

    def shutdown(self) -> None:
        """Stop following the model and release the OpenGL context; the view is dead afterwards."""
        if self._closed:
            return
        self._closed = True
        self._transfer_timer.stop()
        self.surface_timer.stop()
        self._still_timer.stop()
        self.surfaces.clear()
        self._connect_model(False)
        self._orientation_marker.SetEnabled(False)
        self.vtk_widget.Finalize()


def _choose_render_mode(render_window: object, mapper: vtkSmartVolumeMapper) -> str:
    """Ask for CPU ray casting on software OpenGL (or when the user says so), else let VTK pick the GPU."""
    requested = os.environ.get("REVSEG_VOLUME_RENDERING", "").strip().lower()
    if requested not in ("", "gpu", "cpu"):
        log.warning("REVSEG_VOLUME_RENDERING=%s is not gpu or cpu; ignored", requested)
        requested = ""
    if not requested:
        capabilities = render_window.ReportCapabilities() or ""
        renderer = next((line for line in capabilities.splitlines() if "renderer string" in line), "")
        requested = "cpu" if any(name in renderer.lower() for name in _SOFTWARE_OPENGL) else "gpu"
        log.debug("OpenGL %s -> %s volume rendering", renderer.strip(), requested)
    if requested == "cpu":
        mapper.SetRequestedRenderModeToRayCast()
    else:
        mapper.SetRequestedRenderModeToDefault()  # GPU when supported, CPU ray casting otherwise
    return requested


def _volume_property() -> vtkVolumeProperty:
    prop = vtkVolumeProperty()
    prop.SetInterpolationTypeToLinear()
    prop.ShadeOn()
    prop.SetAmbient(0.35)
    prop.SetDiffuse(0.75)
    prop.SetSpecular(0.15)
    prop.SetScalarOpacity(vtkPiecewiseFunction())
    prop.SetColor(vtkColorTransferFunction())
    return prop


def _set_transfer_functions(prop: vtkVolumeProperty, window_level: WindowLevel, opacity_scale: float = 1.0) -> None:
    """Tissue brighter than the lower ~15 % of the window becomes visible, bright tissue nearly opaque.

    Args:
        prop: the volume's property.
        window_level: the shown contrast's window.
        opacity_scale: factor on every opacity (< 1 makes the volume a faint context).
    """
    low, width = window_level.low, window_level.window
    opacity = prop.GetScalarOpacity()
    opacity.RemoveAllPoints()
    opacity.AddPoint(low + 0.12 * width, 0.0)
    opacity.AddPoint(low + 0.35 * width, 0.06 * opacity_scale)
    opacity.AddPoint(low + width, 0.45 * opacity_scale)
    color = prop.GetRGBTransferFunction()
    color.RemoveAllPoints()
    color.AddRGBPoint(low, 0.0, 0.0, 0.0)
    color.AddRGBPoint(low + 0.35 * width, 0.62, 0.52, 0.46)
    color.AddRGBPoint(low + width, 1.0, 0.97, 0.92)


def _orientation_marker(interactor: object) -> vtkOrientationMarkerWidget:
    """A small labelled cube (R/L, A/P, S/I) in the corner that turns with the camera."""
    cube = vtkAnnotatedCubeActor()
    for face, text in (("XPlus", "R"), ("XMinus", "L"), ("YPlus", "A"), ("YMinus", "P"), ("ZPlus", "S"),
                       ("ZMinus", "I")):
        getattr(cube, f"Set{face}FaceText")(text)
    cube.SetFaceTextScale(0.65)
    cube.GetCubeProperty().SetColor(0.25, 0.3, 0.38)
    cube.GetTextEdgesProperty().SetColor(0.8, 0.8, 0.8)
    for getter in ("GetXPlusFaceProperty", "GetXMinusFaceProperty"):
        getattr(cube, getter)().SetColor(1.0, 0.55, 0.55)
    for getter in ("GetYPlusFaceProperty", "GetYMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.55, 1.0, 0.55)
    for getter in ("GetZPlusFaceProperty", "GetZMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.6, 0.75, 1.0)
    widget = vtkOrientationMarkerWidget()
    widget.SetOrientationMarker(cube)
    widget.SetInteractor(interactor)
    widget.SetViewport(0.0, 0.0, 0.2, 0.2)
    widget.SetEnabled(True)
    widget.InteractiveOff()
    return widget
