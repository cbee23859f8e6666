"""Smooth 3D surfaces of the tumour regions for the 3D view, updated incrementally after edits.

Per shown class (a BraTS label, or a WT/TC/ET region in regions mode, see ``gui.viewer.overlay_style``): the class
mask is kept on a padded crop around its bounding box, vtkDiscreteFlyingEdges3D extracts its boundary,
vtkWindowedSincPolyDataFilter smooths the voxel staircase away (without shrinking the surface), and
vtkPolyDataNormals gives smooth shading. Surfaces nest like the BraTS regions, so that neighbouring labels do not
share (z-fighting) faces: the oedema colour wraps the whole tumour (WT), the necrosis colour the core (TC), the
enhancing colour ET. The outer shell is translucent so that the core and enhancing rim inside it stay visible.

Edits: ``LabelSurfaces`` keeps a copy of the label map its surfaces show. When the same label map was edited in
place, the changed voxels' bounding box is found by comparing with that copy; only the classes whose voxels
changed there are recomputed, and only their crops' voxels inside the box are rewritten (the crop grows when an
edit reaches its border). The full-volume work is one comparison; the VTK work covers the changed classes' crops
only. A new label map, style or visibility rebuilds everything.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

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
# Voxels of room left around a class's bounding box in its crop, so that most edits need no new crop.
_CROP_MARGIN = 6

Box = tuple[np.ndarray, np.ndarray]  # (low, high) voxel indices, high exclusive


def class_surface(mask: np.ndarray, origin: np.ndarray, spacing: tuple[float, float, float]) -> vtkActor | None:
    """A smoothed surface actor of a boolean voxel ``mask`` placed at ``origin`` + index * ``spacing``.

    Returns:
        None when the mask is empty.
    """
    box = mask_box(mask)
    if box is None:
        return None
    pipeline = ClassPipeline(np.arange(256) == 1, origin, spacing)
    pipeline.rebuild(mask.view(np.uint8), box)
    return pipeline.new_actor()


def mask_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the true voxels of ``mask`` (None when there are none); faster than ``np.argwhere``."""
    low, high = [], []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        if hits.size == 0:
            return None
        low.append(hits[0])
        high.append(hits[-1] + 1)
    return np.array(low), np.array(high)


def changed_box(label: np.ndarray, previous: np.ndarray) -> Box | None:
    """Bounding box of the voxels where ``label`` differs from ``previous`` (None when equal)."""
    return mask_box(label != previous)


class ClassPipeline:
    """One class's mask on a padded crop (shared with a vtkImageData) and the VTK filters on it.

    Args:
        member: bool[256], which label values belong to the class's surface.
        origin: world position of voxel (0, 0, 0).
        spacing: voxel size.
    """

    def __init__(self, member: np.ndarray, origin: np.ndarray, spacing: tuple[float, float, float]) -> None:
        self.member = member
        self.origin, self.spacing = np.asarray(origin, float), np.asarray(spacing, float)
        self.low = self.high = np.zeros(3, int)  # crop box in volume indices (may reach one voxel outside)
        self.crop = np.zeros((0, 0, 0), np.uint8)  # (z, y, x): the buffer VTK reads, x fastest
        self.image = vtkImageData()
        self.contour = vtkDiscreteFlyingEdges3D()
        self.contour.SetInputData(self.image)
        self.contour.SetValue(0, 1)
        smoother = vtkWindowedSincPolyDataFilter()
        smoother.SetInputConnection(self.contour.GetOutputPort())
        smoother.SetNumberOfIterations(_SMOOTHING_ITERATIONS)
        smoother.SetPassBand(_PASS_BAND)
        smoother.NonManifoldSmoothingOn()
        smoother.NormalizeCoordinatesOn()
        smoother.BoundarySmoothingOff()
        smoother.FeatureEdgeSmoothingOff()
        self.normals = vtkPolyDataNormals()
        self.normals.SetInputConnection(smoother.GetOutputPort())
        self.normals.ComputePointNormalsOn()
        self.normals.SplittingOff()

    @property
    def volume_view(self) -> np.ndarray:
        """The crop as (x, y, z) voxels, a writable view of the buffer VTK reads."""
        return self.crop.transpose(2, 1, 0)

    def rebuild(self, label: np.ndarray, box: Box) -> None:
        """A new crop around ``box`` (the class's voxels, high exclusive) filled from ``label``."""
        shape = np.array(label.shape)
        low = np.maximum(box[0] - 1 - _CROP_MARGIN, -1)
        high = np.minimum(box[1] + 1 + _CROP_MARGIN, shape + 1)  # one empty voxel all round closes the surface
        self.low, self.high = low, high
        size = high - low
        self.crop = np.zeros(tuple(size[::-1]), np.uint8)
        self.write(label, (np.maximum(low, 0), np.minimum(high, shape)))
        self.image = vtkImageData()
        self.image.SetDimensions(*size)
        self.image.SetSpacing(*self.spacing)
        self.image.SetOrigin(*(self.origin + low * self.spacing))
        self.image.GetPointData().SetScalars(numpy_to_vtk(self.crop.reshape(-1), deep=False))
        self.contour.SetInputData(self.image)

    def covers(self, box: Box) -> bool:
        """Whether ``box`` lies inside the crop with one empty voxel to spare on every side."""
        return bool(np.all(box[0] - 1 >= self.low) and np.all(box[1] + 1 <= self.high))

    def write(self, label: np.ndarray, box: Box) -> None:
        """Copy the class mask of ``label`` inside ``box`` (within the crop and the volume) into the crop."""
        low, high = box
        inside = self.volume_view[tuple(slice(a, b) for a, b in zip(low - self.low, high - self.low, strict=True))]
        inside[...] = self.member[label[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]]
        self.image.Modified()

    def new_actor(self) -> vtkActor:
        """Run the filters on the crop as it is now; an actor showing the result."""
        self.normals.Update()
        surface = self.normals.GetOutput().NewInstance()
        surface.ShallowCopy(self.normals.GetOutput())  # the actor keeps this result; the filters may run again
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(surface)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        return actor


@dataclass
class _Shown:
    """What the surfaces show: the label map (weakly), a copy of it, and how it is drawn."""

    label: weakref.ref
    copy: np.ndarray
    key: tuple


class LabelSurfaces:
    """The tumour surfaces in one renderer; ``update`` brings them in line with a label map and a style."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.actors: dict[int, vtkActor] = {}  # displayed class -> surface
        self.pipelines: dict[int, ClassPipeline] = {}
        self.counts: dict[int, int] = {}  # displayed class -> voxels of that class (it is shown while > 0)
        self._shown: _Shown | None = None
        #: what the last ``update`` did: "none", "full" or "incremental", and the classes it rebuilt
        self.last_update: tuple[str, tuple[int, ...]] = ("none", ())

    def update(self, label: np.ndarray | None, style: OverlayStyle, origin: np.ndarray,
               spacing: tuple[float, float, float], visible: bool = True) -> None:
        """Show the surfaces of every shown class of ``label`` (none when ``visible`` is False).

        When ``label`` is the array shown last time, edited in place, only what the edit changed is recomputed.
        """
        if label is None or not visible:
            self.clear()
            return
        key = (style, tuple(np.asarray(origin, float)), tuple(map(float, spacing)), label.shape)
        shown = self._shown
        if shown is not None and shown.label() is label and shown.key == key:
            self._update_changed(label, style)
            return
        self.clear()
        self._shown = _Shown(weakref.ref(label), label.copy(), key)
        classes = class_lut(style)[label]
        counts = np.bincount(classes.ravel(), minlength=256)
        present = np.flatnonzero(counts)
        for value in present[present > 0]:
            member = _member_lut(style, int(value))
            box = mask_box(member[label])
            if box is None:
                continue
            pipeline = ClassPipeline(member, origin, spacing)
            pipeline.rebuild(label, box)
            self.pipelines[int(value)], self.counts[int(value)] = pipeline, int(counts[value])
            self._show(int(value), style)
        self.last_update = ("full", tuple(sorted(self.actors)))
        log.debug("3D label surfaces: classes %s", sorted(self.actors))

    def _update_changed(self, label: np.ndarray, style: OverlayStyle) -> None:
        """Recompute the classes whose voxels changed since the last update, inside the changed box only."""
        shown = self._shown
        box = changed_box(label, shown.copy)  # type: ignore[union-attr]
        if box is None:
            self.last_update = ("incremental", ())
            return
        where = tuple(slice(a, b) for a, b in zip(*box, strict=True))
        old, new = shown.copy[where], label[where]  # type: ignore[union-attr]
        lut = class_lut(style)
        old_classes, new_classes = lut[old], lut[new]
        rebuilt = []
        for value in sorted(set(np.unique(old_classes)) | set(np.unique(new_classes)) | set(self.pipelines)):
            value = int(value)
            if value == 0:
                continue
            member = _member_lut(style, value)
            if np.array_equal(member[old], member[new]) and value in self.pipelines:
                count_change = int(np.count_nonzero(new_classes == value)) - int(np.count_nonzero(old_classes == value))
                self.counts[value] += count_change
                if (self.counts[value] > 0) != (value in self.actors):
                    self._toggle(value, style)
                continue
            self._recompute(value, member, label, box, old_classes, new_classes, style)
            rebuilt.append(value)
        shown.copy[where] = new  # type: ignore[union-attr]
        self.last_update = ("incremental", tuple(rebuilt))
        log.debug("3D label surfaces: recomputed %s in box %s-%s", rebuilt, box[0], box[1])

    def _recompute(self, value: int, member: np.ndarray, label: np.ndarray, box: Box, old_classes: np.ndarray,
                   new_classes: np.ndarray, style: OverlayStyle) -> None:
        count = self.counts.get(value, 0) + int(np.count_nonzero(new_classes == value)) - int(
            np.count_nonzero(old_classes == value))
        self.counts[value] = count
        pipeline = self.pipelines.get(value)
        new_members = mask_box(member[label[tuple(slice(a, b) for a, b in zip(*box, strict=True))]])
        needed = None if new_members is None else (new_members[0] + box[0], new_members[1] + box[0])
        if pipeline is None or (needed is not None and not pipeline.covers(needed)):
            whole = mask_box(member[label])
            if whole is None:
                self._drop(value)
                return
            pipeline = pipeline or ClassPipeline(member, self._origin(), self._spacing())
            pipeline.rebuild(label, whole)
            self.pipelines[value] = pipeline
        else:
            clipped = (np.maximum(box[0], pipeline.low), np.minimum(box[1], pipeline.high))
            pipeline.write(label, clipped)
        self._remove_actor(value)
        if count > 0:
            self._show(value, style)

    def _show(self, value: int, style: OverlayStyle) -> None:
        actor = self.pipelines[value].new_actor()
        if actor.GetMapper().GetInput().GetNumberOfPoints() == 0:
            return
        prop = actor.GetProperty()
        prop.SetColor(*(color_lut(style)[value, :3] / 255.0))
        shells = _SHELL_CLASSES_REGIONS if style.regions else _SHELL_CLASSES_LABELS
        prop.SetOpacity(_SHELL_OPACITY if value in shells else 1.0)
        prop.SetSpecular(0.25)
        prop.SetSpecularPower(20)
        self.renderer.AddActor(actor)
        self.actors[value] = actor

    def _toggle(self, value: int, style: OverlayStyle) -> None:
        if value in self.actors:
            self._remove_actor(value)
        else:
            self._show(value, style)

    def _remove_actor(self, value: int) -> None:
        actor = self.actors.pop(value, None)
        if actor is not None:
            self.renderer.RemoveActor(actor)

    def _drop(self, value: int) -> None:
        self._remove_actor(value)
        self.pipelines.pop(value, None)
        self.counts.pop(value, None)

    def _origin(self) -> np.ndarray:
        return np.array(self._shown.key[1]) if self._shown is not None else np.zeros(3)

    def _spacing(self) -> tuple[float, float, float]:
        return self._shown.key[2] if self._shown is not None else (1.0, 1.0, 1.0)

    def clear(self) -> None:
        """Remove every surface and forget the label map (its copy is freed)."""
        for actor in self.actors.values():
            self.renderer.RemoveActor(actor)
        self.actors, self.pipelines, self.counts, self._shown = {}, {}, {}, None
        self.last_update = ("none", ())


def _member_lut(style: OverlayStyle, value: int) -> np.ndarray:
    """bool[256]: label values inside displayed class ``value``'s surface."""
    if style.regions:
        return class_lut(style) >= value
    member = np.zeros(256, bool)
    member[list(LABEL_NESTS.get(value, (value,)))] = True
    return member
