"""Editing the shown label map: brush, eraser, threshold brush and component remover bound to a ViewerModel.

The tools implement the slice views' tool protocol (``press(voxel, plane_axis, modifiers)``, ``drag(voxel,
plane_axis)``, ``release()``); the work is done by ``engine.editing.EditSession`` on ``model.label`` in place,
and after every change the controller calls ``model.notify_label_edited()`` so views and measurements follow.
A press..release is one undo step. ``gui.editing.edit_panel`` holds the dock widget and the shortcuts.

Painting keeps to the head: when a case opens, its foreground (``engine.editing.foreground_mask`` of the
reference contrast, 0.2-0.6 s on a 240 x 240 x 155 case) is computed once in a worker thread; the first brush
press hands it to the session (waiting for the rest of that computation only when the press comes within that
fraction of a second after the case opened, so the limit always holds). ``EditSettings.foreground_only``
(Settings, and the edit panel's checkbox) turns the limit off.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.editing import EditSession, foreground_mask
from engine.editing.session import Brush
from engine.labels import ENHANCING, LABEL_INFO
from gui.viewer.viewer_model import ViewerModel

log = logging.getLogger(__name__)

Voxel = tuple[int, int, int]
MIN_RADIUS_MM, MAX_RADIUS_MM = 0.0, 50.0
TOOL_NAMES = ("navigate", "brush", "eraser", "threshold", "component")


@dataclass(frozen=True)
class EditSettings:
    """What the edit panel sets.

    Attributes:
        radius_mm: brush radius in mm.
        value: active label (1 NCR, 2 ED, 4 ET).
        sphere: 3D sphere instead of a 2D disc in the clicked view's plane.
        intensity_range: (low, high) of the shown contrast for the threshold brush.
        foreground_only: paint only inside the head (the image's foreground).
    """

    radius_mm: float = 3.0
    value: int = ENHANCING
    sphere: bool = False
    intensity_range: tuple[float, float] = (0.0, 1.0)
    foreground_only: bool = True


class BrushTool:
    """Paint (or erase) while the left button is down; the whole drag is one undo step."""

    def __init__(self, controller: EditController, erase: bool = False, threshold: bool = False) -> None:
        self.controller, self.erase, self.threshold = controller, erase, threshold
        self._last: Voxel | None = None
        self._plane_axis = 2

    def press(self, voxel: Voxel, plane_axis: int, modifiers: object = None) -> None:
        session = self.controller.ensure_session()
        if session is None:
            return
        self.controller.attach_foreground(session)
        self._plane_axis = plane_axis
        session.begin_stroke("eraser" if self.erase else "brush")
        self._last = tuple(int(v) for v in voxel)  # type: ignore[assignment]
        self._paint(lambda brush, volume: session.dab(self._last, brush, volume))  # type: ignore[arg-type]
        self.controller.edited_slices.append((plane_axis, int(voxel[plane_axis])))

    def drag(self, voxel: Voxel, plane_axis: int) -> None:
        session = self.controller.session
        if self._last is None or session is None:
            return
        voxel = tuple(int(v) for v in voxel)  # type: ignore[assignment]
        start, self._last = self._last, voxel
        self._paint(lambda brush, volume: session.line(start, voxel, brush, volume))

    def release(self) -> None:
        if self._last is None or self.controller.session is None:
            return
        self._last = None
        self.controller.finish_stroke()

    def brush_outline(self) -> tuple[float, tuple[float, float, float]]:
        """(radius in mm, colour) of the outline the slice views draw under the mouse: the painted label's
        colour, white for the eraser."""
        settings = self.controller.settings
        info = LABEL_INFO.get(settings.value)
        rgb = (1.0, 1.0, 1.0) if self.erase or info is None else tuple(c / 255 for c in info.rgb)
        return settings.radius_mm, rgb  # type: ignore[return-value]

    def _paint(self, paint: object) -> None:
        brush = self.controller.brush(self._plane_axis, erase=self.erase, threshold=self.threshold)
        volume = self.controller.model.active_volume if self.threshold else None
        if paint(brush, volume):  # type: ignore[operator]
            self.controller.model.notify_label_edited()


class ComponentTool:
    """Click a lesion to remove its connected component (26-connected whole tumour); one undo step."""

    def __init__(self, controller: EditController) -> None:
        self.controller = controller

    def press(self, voxel: Voxel, plane_axis: int, modifiers: object = None) -> None:
        session = self.controller.ensure_session()
        if session is not None and session.remove_component(voxel):
            self.controller.after_single_edit()

    def drag(self, voxel: Voxel, plane_axis: int) -> None:
        """Nothing: a component is removed by the click alone."""

    def release(self) -> None:
        """Nothing to finish."""


class EditController(QObject):
    """Editing state of the viewer: the session on the shown label map, the tools and their settings.

    Signals:
        state_changed: the tool, settings or undo / redo availability changed.
        tool_changed [tool]: another tool was chosen (None: navigate); hand it to the slice views.
    """

    state_changed = Signal()
    tool_changed = Signal(object)

    def __init__(self, model: ViewerModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = EditSettings()
        self.session: EditSession | None = None
        self.reference_source = "file"
        self.edited_slices: list[tuple[int, int]] = []  # (plane axis, slice) of each stroke, for interpolation
        self.tools = {"navigate": None, "brush": BrushTool(self), "eraser": BrushTool(self, erase=True),
                      "threshold": BrushTool(self, threshold=True), "component": ComponentTool(self)}
        self.tool_name = "navigate"
        self._foreground_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="head-mask")
        self._foreground: Future | None = None  # the shown case's head mask, computing or computed
        model.case_changed.connect(self._start_foreground)  # before _on_label_replaced: no stale mask
        self._start_foreground()
        model.case_changed.connect(self._on_label_replaced)
        model.label_changed.connect(self._on_label_replaced)
        self._on_label_replaced()

    # --- session --------------------------------------------------------------------------------------
    def _on_label_replaced(self) -> None:
        """A new case or segmentation (not an edit of ours): start a fresh session on it."""
        label = self.model.label
        if label is not None and not label.flags.c_contiguous:  # e.g. a label map straight from a NIfTI file
            self.model.set_segmentation(np.ascontiguousarray(label), self.model.uncertainty, self.model.label_source)
            return  # set_segmentation's label_changed brought us back here with the contiguous copy
        if label is None and self.session is not None:
            self.session = None
        elif label is not None and (self.session is None or self.session.label is not label):
            self.reference_source = self.model.label_source if self.model.label_source != "edited" else "ai"
            self.session = EditSession(label, self.model.spacing)
            log.debug("editing session on %s label map", self.reference_source)
        else:
            return  # our own edit of the same array
        self.edited_slices.clear()
        self.state_changed.emit()

    def _start_foreground(self) -> None:
        """A new case: drop the old head mask and compute this case's in the worker thread."""
        if self._foreground is not None:
            self._foreground.cancel()  # not started yet: never runs (a running one finishes and is dropped)
        case = self.model.case
        self._foreground = None if case is None else self._foreground_worker.submit(foreground_mask,
                                                                                    case.reference.data)

    @property
    def foreground(self) -> np.ndarray | None:
        """The shown case's head mask (waits for its computation if it is still running); None without a case
        or when it could not be computed (then painting is not limited, and the log says why)."""
        future = self._foreground
        if future is None or future.cancelled():
            return None
        try:
            mask = future.result()
        except Exception as error:  # noqa: BLE001 - a missing limit must not stop editing
            log.warning("no head mask for this case, painting is not limited: %s", error)
            self._foreground = None
            return None
        return mask if mask.shape == self.model.shape else None

    def attach_foreground(self, session: EditSession) -> None:
        """Hand the head mask to ``session`` before its first brush stroke (when the limit is on)."""
        if session.foreground is None and self.settings.foreground_only:
            session.set_foreground(self.foreground)

    def shutdown(self) -> None:
        """Stop the worker thread (the window is closing)."""
        self._foreground_worker.shutdown(wait=True, cancel_futures=True)

    def ensure_session(self) -> EditSession | None:
        """The session, starting one on an empty label map when the case has none yet."""
        if self.session is None and self.model.case is not None:
            self.model.set_segmentation(np.zeros(self.model.shape, np.uint8), source="file")
        return self.session

    def brush(self, plane_axis: int, erase: bool = False, threshold: bool = False) -> Brush:
        settings = self.settings
        return Brush(radius_mm=settings.radius_mm, value=0 if erase else settings.value,
                     plane_axis=None if settings.sphere else plane_axis,
                     intensity_range=settings.intensity_range if threshold else None,
                     foreground_only=settings.foreground_only)

    def finish_stroke(self) -> None:
        if self.session is not None and self.session.end_stroke() is not None:
            self.model.notify_label_edited()
        self.state_changed.emit()

    def after_single_edit(self) -> None:
        self.model.notify_label_edited()
        self._restore_source_if_unedited()
        self.state_changed.emit()

    def _restore_source_if_unedited(self) -> None:
        """Undo or reset back to the reference: the label counts as the AI (or loaded) result again."""
        if self.session is not None and not self.session.is_edited and self.model.label_source == "edited":
            self.model.label_source = self.reference_source

    # --- tools and settings ---------------------------------------------------------------------------
    @property
    def tool(self) -> BrushTool | ComponentTool | None:
        return self.tools[self.tool_name]

    def set_tool(self, name: str) -> BrushTool | ComponentTool | None:
        """Choose a tool by name (``TOOL_NAMES``); "navigate" is none (clicks move the crosshair)."""
        if name not in self.tools:
            raise ValueError(f"unknown tool {name!r}; tools: {', '.join(TOOL_NAMES)}")
        if name != self.tool_name:
            self.tool_name = name
            self.state_changed.emit()
            self.tool_changed.emit(self.tool)
        return self.tool

    def update_settings(self, **changes: object) -> None:
        """Change brush settings (radius clamped to 0..50 mm; label one of 1, 2, 4)."""
        settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        if settings.value not in (1, 2, 4):
            raise ValueError(f"active label must be 1 (NCR), 2 (ED) or 4 (ET), got {settings.value}")
        low, high = settings.intensity_range
        settings = replace(settings, radius_mm=min(max(float(settings.radius_mm), MIN_RADIUS_MM), MAX_RADIUS_MM),
                           intensity_range=(min(low, high), max(low, high)))
        if settings != self.settings:
            self.settings = settings
            self.state_changed.emit()

    def change_size(self, steps: int) -> None:
        """[ and ]: radius down / up by 1 mm per step."""
        self.update_settings(radius_mm=self.settings.radius_mm + steps)

    # --- undo, redo, reset, interpolate ---------------------------------------------------------------
    def restore_steps(self, undo: list, redo: list) -> None:
        """Take over recovered undo / redo steps (``engine.editing.history.Stroke``) for the shown label map.

        Raises:
            ValueError: the steps do not fit the label map.
        """
        session = self.ensure_session()
        if session is None:
            raise ValueError("open a case before restoring its undo history")
        session.history.restore_steps(undo, redo)
        self.state_changed.emit()

    def undo(self) -> bool:
        if self.session is None or self.session.undo() is None:
            return False
        self.after_single_edit()
        return True

    def redo(self) -> bool:
        if self.session is None or self.session.redo() is None:
            return False
        self.after_single_edit()
        return True

    def reset_to_ai(self) -> int:
        """Back to the AI (or loaded) label map as one undoable step; returns the voxels changed."""
        changed = self.session.reset_to_ai() if self.session is not None else 0
        if changed:
            self.after_single_edit()
        return changed

    def interpolate(self, axis: int | None = None, first: int | None = None, last: int | None = None) -> int:
        """Fill the slices between two edited slices (default: the last two distinct slices edited in one plane).

        Returns:
            The voxels changed (0 when there are no two slices to interpolate between).
        """
        if axis is None or first is None or last is None:
            found = self._last_two_slices()
            if found is None:
                return 0
            axis, first, last = found
        changed = self.session.interpolate(axis, first, last) if self.session is not None else 0
        if changed:
            self.after_single_edit()
        return changed

    def _last_two_slices(self) -> tuple[int, int, int] | None:
        if not self.edited_slices:
            return None
        axis, last = self.edited_slices[-1]
        for other_axis, other in reversed(self.edited_slices[:-1]):
            if other_axis == axis and other != last:
                return axis, other, last
        return None

    @property
    def can_undo(self) -> bool:
        return self.session is not None and self.session.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.session is not None and self.session.history.can_redo
