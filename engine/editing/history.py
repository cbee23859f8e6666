"""Undo / redo of label edits that stores only what changed: flat voxel indices, old and new values per stroke.

A stroke is everything between a press and a release (many brush dabs); its voxels are merged when it ends, so
a voxel painted twice in one stroke is stored once, with the value it had before the stroke and after it.
Memory per changed voxel: 4 bytes of index (int32 is enough for 2**31 voxels) + 1 old + 1 new byte.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MAX_STROKES = 100
_MAX_INT32_VOXELS = 2**31 - 1


@dataclass(frozen=True)
class Stroke:
    """The voxels one stroke changed.

    Attributes:
        indices: flat (C-order) voxel indices, int32, sorted and unique.
        old: label values before the stroke.
        new: label values after the stroke.
        name: what made it ("brush", "eraser", "interpolate", ...), for menus and logs.
    """

    indices: np.ndarray
    old: np.ndarray
    new: np.ndarray
    name: str = "edit"

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.old.nbytes + self.new.nbytes)

    def __len__(self) -> int:
        return int(self.indices.size)


class EditHistory:
    """Applies changes to one label map in place and keeps the strokes for undo / redo.

    Args:
        label: the label map that is edited in place (C-contiguous uint8).
        max_strokes: strokes kept for undo (the oldest are dropped beyond it); at least 50.
    """

    def __init__(self, label: np.ndarray, max_strokes: int = DEFAULT_MAX_STROKES) -> None:
        if max_strokes < 50:
            raise ValueError(f"keep at least 50 strokes for undo, got max_strokes={max_strokes}")
        if not label.flags.c_contiguous or label.size > _MAX_INT32_VOXELS:
            raise ValueError("the label map must be C-contiguous with fewer than 2**31 voxels")
        self.label = label
        self._flat = label.reshape(-1)  # a view: writes go to ``label``
        self._undo: deque[Stroke] = deque(maxlen=max_strokes)
        self._redo: list[Stroke] = []
        self._pending: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._pending_name = "edit"

    # --- strokes ------------------------------------------------------------------------------------------
    @property
    def in_stroke(self) -> bool:
        return self._pending is not None

    def begin_stroke(self, name: str = "edit") -> None:
        """Start collecting changes into one undo step (a stroke still open is ended first)."""
        if self._pending is not None:
            self.end_stroke()
        self._pending, self._pending_name = [], name

    def apply(self, indices: np.ndarray, values: np.ndarray | int) -> int:
        """Write ``values`` at flat ``indices`` and remember the old values; returns the number of voxels changed.

        Outside a stroke the change is its own undo step.

        Args:
            indices: flat voxel indices (any integer dtype; duplicates allowed).
            values: one label value or one per index.
        """
        single = self._pending is None
        if single:
            self.begin_stroke()
        indices = np.asarray(indices, dtype=np.int64).ravel()
        values = np.broadcast_to(np.asarray(values, dtype=self.label.dtype), indices.shape)
        changed = self._flat[indices] != values
        indices, values = indices[changed], values[changed]
        if indices.size:
            self._pending.append((indices.astype(np.int32), self._flat[indices].copy()))  # type: ignore[union-attr]
            self._flat[indices] = values
        if single:
            self.end_stroke()
        return int(indices.size)

    def end_stroke(self) -> Stroke | None:
        """Close the stroke: merge its changes into one undo step; returns it (None when nothing changed)."""
        pending, self._pending = self._pending, None
        if not pending:
            return None
        indices = np.concatenate([chunk[0] for chunk in pending])
        old = np.concatenate([chunk[1] for chunk in pending])
        # np.unique's first occurrence is the earliest write: the value before the stroke.
        unique, first = np.unique(indices, return_index=True)
        old = old[first]
        new = self._flat[unique].copy()
        really = old != new  # painted and erased again within the stroke: no change
        stroke = Stroke(unique[really], old[really], new[really], self._pending_name)
        if not len(stroke):
            return None
        self._undo.append(stroke)
        self._redo.clear()
        log.debug("stroke %s: %d voxels, history %d bytes", stroke.name, len(stroke), self.nbytes)
        return stroke

    # --- undo / redo --------------------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> Stroke | None:
        """Put back the values before the last stroke; returns it (None when there is nothing to undo)."""
        if self._pending is not None:
            self.end_stroke()
        if not self._undo:
            return None
        stroke = self._undo.pop()
        self._flat[stroke.indices] = stroke.old
        self._redo.append(stroke)
        return stroke

    def redo(self) -> Stroke | None:
        """Apply the last undone stroke again; returns it (None when there is nothing to redo)."""
        if not self._redo:
            return None
        stroke = self._redo.pop()
        self._flat[stroke.indices] = stroke.new
        self._undo.append(stroke)
        return stroke

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._pending = None

    @property
    def undo_count(self) -> int:
        return len(self._undo)

    @property
    def redo_count(self) -> int:
        return len(self._redo)

    @property
    def nbytes(self) -> int:
        """Bytes held by the undo and redo steps and the open stroke (the arrays; Python overhead aside)."""
        pending = sum(i.nbytes + o.nbytes for i, o in self._pending or ())
        return sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo) + pending

    # --- saving and restoring the steps (crash recovery) ------------------------------------------------
    def steps(self) -> tuple[list[Stroke], list[Stroke]]:
        """The undo steps (oldest first) and the redo steps (next to redo last), for saving them."""
        return list(self._undo), list(self._redo)

    def restore_steps(self, undo: list[Stroke], redo: list[Stroke]) -> None:
        """Take over saved undo / redo steps of the label map as it is now (see ``steps``).

        Raises:
            ValueError: a step's voxel indices fall outside the label map.
        """
        for stroke in (*undo, *redo):
            if stroke.indices.size and (int(stroke.indices.min()) < 0 or int(stroke.indices.max()) >= self.label.size):
                raise ValueError("a saved undo step does not fit this label map; it belongs to another case")
        self._undo = deque(undo, maxlen=self._undo.maxlen)
        self._redo = list(redo)
        self._pending = None
