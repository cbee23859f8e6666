"""An editing session on one label map: the edits of the issue as calls, each an undoable stroke or part of one.

``EditSession`` owns an ``EditHistory`` on the label map and remembers the AI result for "reset to AI" and for
the edited-vs-AI comparison the export records. Brush dabs between ``begin_stroke`` and ``end_stroke`` form one
undo step (a press..release in the viewer); single-shot edits (component removal, interpolation, reset) are
their own step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.editing.foreground import inside_foreground
from engine.editing.history import DEFAULT_MAX_STROKES, EditHistory, Stroke
from engine.editing.interpolate import interpolate_slices
from engine.editing.ops import Voxel, component_indices, footprint_indices, within_intensity


@dataclass(frozen=True)
class Brush:
    """Brush settings.

    Attributes:
        radius_mm: radius in mm (0: one voxel).
        value: label painted (0 erases).
        plane_axis: None for a 3D sphere, else the slice's normal axis for a 2D disc.
        intensity_range: (low, high) of ``volume``: only voxels in it are painted; None paints all.
        foreground_only: paint only inside the session's foreground (the head) when it has one; erasing
            (value 0) is never limited.
    """

    radius_mm: float = 3.0
    value: int = 1
    plane_axis: int | None = 2
    intensity_range: tuple[float, float] | None = None
    foreground_only: bool = True


class EditSession:
    """Edits of one label map in place, with undo / redo and reset to the AI result.

    Args:
        label: the label map to edit (uint8, C-contiguous; changed in place).
        spacing: voxel size in mm per axis.
        ai_label: the automatic result "reset to AI" returns to (default: a copy of ``label`` as given).
        max_strokes: undo depth (>= 50).
        foreground: bool mask of the head (``engine.editing.foreground.foreground_mask``) that limits painting;
            None paints anywhere. ``set_foreground`` sets it later (it is computed in the background).
    """

    def __init__(self, label: np.ndarray, spacing: tuple[float, float, float], ai_label: np.ndarray | None = None,
                 max_strokes: int = DEFAULT_MAX_STROKES, foreground: np.ndarray | None = None) -> None:
        if ai_label is not None and ai_label.shape != label.shape:
            raise ValueError(f"AI label map shape {ai_label.shape} differs from the edited one {label.shape}")
        self.label = label
        self.spacing = tuple(float(s) for s in spacing)
        self.ai_label = np.array(label if ai_label is None else ai_label, dtype=label.dtype, copy=True)
        self.history = EditHistory(label, max_strokes)
        self.foreground: np.ndarray | None = None
        self.set_foreground(foreground)

    def set_foreground(self, foreground: np.ndarray | None) -> None:
        """Limit painting to ``foreground`` (bool, the label map's shape); None lifts the limit."""
        if foreground is not None and (foreground.shape != self.label.shape or foreground.dtype != bool):
            raise ValueError(f"the foreground must be a bool mask of shape {self.label.shape}, "
                             f"got {foreground.dtype} {foreground.shape}")
        self.foreground = foreground

    # --- brush ------------------------------------------------------------------------------------------
    def begin_stroke(self, name: str = "brush") -> None:
        self.history.begin_stroke(name)

    def end_stroke(self) -> Stroke | None:
        return self.history.end_stroke()

    def dab(self, centre: Voxel, brush: Brush, volume: np.ndarray | None = None) -> int:
        """Paint (or erase, value 0) one brush footprint at ``centre``; returns the voxels changed.

        Args:
            centre: voxel under the pointer.
            brush: size, label, 2D/3D, optional intensity range and the foreground limit.
            volume: the contrast the intensity range applies to (needed when the brush has one).
        """
        indices = footprint_indices(self.label.shape, centre, brush.radius_mm, self.spacing, brush.plane_axis)
        if brush.intensity_range is not None:
            if volume is None or volume.shape != self.label.shape:
                raise ValueError("threshold paint needs the contrast volume on the label map's grid")
            indices = within_intensity(indices, volume, *brush.intensity_range)
        if brush.foreground_only and brush.value != 0 and self.foreground is not None:
            indices = inside_foreground(indices, self.foreground)
        return self.history.apply(indices, brush.value)

    def line(self, start: Voxel, end: Voxel, brush: Brush, volume: np.ndarray | None = None) -> int:
        """Dabs along the segment from ``start`` to ``end`` (a fast drag leaves no gaps); returns voxels changed."""
        steps = int(np.abs(np.subtract(end, start)).max())
        points = {tuple(np.rint(np.add(start, np.subtract(end, start) * t)).astype(int))
                  for t in np.linspace(0.0, 1.0, steps + 1)[1:]} if steps else {tuple(end)}
        return sum(self.dab(point, brush, volume) for point in sorted(points))  # type: ignore[arg-type]

    # --- single-step edits ------------------------------------------------------------------------------
    def remove_component(self, voxel: Voxel, connectivity: int = 26, same_label: bool = False) -> int:
        """Erase the connected tumour component at ``voxel`` (one undo step); returns the voxels removed."""
        return self._single("remove component", component_indices(self.label, voxel, connectivity, same_label), 0)

    def interpolate(self, axis: int, first: int, last: int, labels: tuple[int, ...] | None = None) -> int:
        """Fill the slices between ``first`` and ``last`` along ``axis`` (one undo step); returns voxels changed."""
        indices, values = interpolate_slices(self.label, axis, first, last, self.spacing, labels)
        return self._single("interpolate", indices, values)

    def reset_to_ai(self) -> int:
        """Back to the AI result (one undo step, so it can be undone); returns the voxels changed."""
        differs = np.flatnonzero(self.label.reshape(-1) != self.ai_label.reshape(-1))
        return self._single("reset to AI", differs, self.ai_label.reshape(-1)[differs])

    def _single(self, name: str, indices: np.ndarray, values: np.ndarray | int) -> int:
        if self.history.in_stroke:
            self.history.end_stroke()
        self.history.begin_stroke(name)
        changed = self.history.apply(indices, values)
        self.history.end_stroke()
        return changed

    # --- undo / state -----------------------------------------------------------------------------------
    def undo(self) -> Stroke | None:
        return self.history.undo()

    def redo(self) -> Stroke | None:
        return self.history.redo()

    @property
    def is_edited(self) -> bool:
        """The label map differs from the AI result."""
        return not np.array_equal(self.label, self.ai_label)
