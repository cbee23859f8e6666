"""Headless editing of a label map: brush / eraser, threshold paint, component removal, slice interpolation,
undo / redo that stores only the changed voxels, and reset to the AI result.

Everything here works on numpy arrays in place and knows nothing of Qt; ``gui.editing.edit_controller`` binds it to the viewer.
"""

from __future__ import annotations

from engine.editing.foreground import foreground_mask, foreground_threshold, inside_foreground
from engine.editing.history import EditHistory, Stroke
from engine.editing.interpolate import interpolate_slices
from engine.editing.ops import component_indices, footprint_indices, within_intensity
from engine.editing.session import EditSession

__all__ = ["EditHistory", "EditSession", "Stroke", "component_indices", "footprint_indices", "foreground_mask",
           "foreground_threshold", "inside_foreground", "interpolate_slices", "within_intensity"]
